/* admin_http: the admin process's HTTP/2 server (nghttp2 over an epoll loop):
 * h2c with prior knowledge on plain TCP, or h2 over TLS (ALPN "h2") when a
 * certificate and key are configured. Connections live in preallocated slots;
 * every socket is non-blocking and a connection whose peer stops reading
 * stops being read, so a slow client holds only its own slot. Requests are
 * handed over whole (headers and body); the answer may be given at once or
 * later, through a reference that goes stale, harmlessly, when the stream or
 * its connection ends first. */
#ifndef PNA_ADMIN_HTTP_H
#define PNA_ADMIN_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin_metrics.h"

#define ADMIN_HTTP_BODY_MAX (64u << 10) /* request bodies above: 413 */
#define ADMIN_HTTP_PATH_MAX 2048	/* :path above: 414 */

struct admin_http;

struct admin_http_conf {
	const char *listen;   /* host:port ("[::1]:7680" for IPv6) */
	const char *tls_cert; /* PEM paths; both empty: plain h2c */
	const char *tls_key;
	uint32_t max_conns;
	struct admin_self_stats *stats; /* conns_* and responses updated here */
};

/* One stream, for an answer given later: {slot, generation, stream}. */
struct admin_http_ref {
	uint32_t slot, gen;
	int32_t stream_id;
};

/* A whole request; the strings live until the hook returns. */
struct admin_http_req {
	struct admin_http_ref ref;
	const char *method;
	const char *path;	   /* ":path", query included */
	const char *authorization; /* NULL when absent */
	const char *body;
	size_t body_len;
};

struct admin_http_hooks {
	void (*request)(void *arg, const struct admin_http_req *req);
	void (*wake)(void *arg); /* wake_fd became readable */
	void (*tick)(void *arg); /* after every loop pass (at least every 200 ms) */
	void *arg;
	int wake_fd; /* -1: none */
};

/* Bind and listen, load the TLS certificate and key when given. 0 and *out,
 * or -errno with a reason in err. */
int admin_http_open(const struct admin_http_conf *c, struct admin_http **out, char *err,
		    size_t errlen);

/* Serve until *stop is set (a signal interrupts the wait). 0 or -errno. */
int admin_http_run(struct admin_http *h, const struct admin_http_hooks *hooks,
		   volatile sig_atomic_t *stop);

/* Answer the stream `ref` with `status`, a content type and `body` (malloc'd,
 * owned by the server from now on, even when the reference is stale; NULL
 * for no body). A 401 also carries WWW-Authenticate: Bearer. 0, or -ENOENT
 * when the stream is gone or already answered. */
int admin_http_respond(struct admin_http *h, struct admin_http_ref ref, int status,
		       const char *ctype, char *body, size_t len);

/* Close every connection and the listener, and free h (accepts NULL). */
void admin_http_close(struct admin_http *h);

#endif
