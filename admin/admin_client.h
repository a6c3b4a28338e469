/* admin_client: a small blocking HTTP/2 client of the admin API (h2c with
 * prior knowledge over TCP), used by pnactl: one request on a fresh
 * connection, the whole answer in memory. */
#ifndef PNA_ADMIN_CLIENT_H
#define PNA_ADMIN_CLIENT_H

#include <stddef.h>

struct admin_client_resp {
	int status;
	char *body; /* malloc'd, NUL-terminated; the caller frees */
	size_t len;
};

/* `method` `path` on the API at `hostport` ("127.0.0.1:7680", "[::1]:7680"),
 * with "Authorization: Bearer token" unless token is NULL or empty, and
 * `body` (JSON, may be NULL). 0 and *out once a response arrived (any
 * status), or -errno (unreachable, protocol error, -ETIMEDOUT after
 * timeout_ms) with a reason in err. */
int admin_client_request(const char *hostport, const char *token, const char *method,
			 const char *path, const char *body, int timeout_ms,
			 struct admin_client_resp *out, char *err, size_t errlen);

/* Append `s` percent-encoded to out (cap bytes, NUL-terminated): every byte
 * but the unreserved ones (RFC 3986 section 2.3) and those in `keep`.
 * Returns the length, or -ENAMETOOLONG. */
int admin_client_encode(const char *s, const char *keep, char *out, size_t cap);

#endif
