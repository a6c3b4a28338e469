/* sip_auth: digest authentication of subscribers that are not trusted CNAs
 * (RFC 3261 section 22.4 with RFC 8760: SHA-256 and MD5, qop=auth). The
 * credential store is pluggable and holds H(A1) per algorithm, never a
 * password: the SIP worker plugs in the credential table the admin API
 * writes (sip_cred.h); without a lookup nobody is found, so every
 * untrusted subscriber is challenged (401) and then refused (403). */
#ifndef PNA_SIP_AUTH_H
#define PNA_SIP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "egress/sip/sip_parse.h"

/* Looks up the lower-case hex H(A1) of user@realm for algorithm "MD5" or
 * "SHA-256" into ha1 (cap bytes): 0, or -ENOENT (unknown user, or no hash
 * for that algorithm). */
typedef int (*sip_auth_lookup_fn)(void *arg, const char *user, const char *realm, const char *alg,
				  char *ha1, size_t cap);
void sip_auth_set_lookup(sip_auth_lookup_fn fn, void *arg);

/* H(A1) = H(user:realm:password), lower-case hex (out >= 65 bytes), for
 * "MD5" or "SHA-256". 0 or -EINVAL. */
int sip_digest_ha1(const char *alg, const char *user, const char *realm, const char *pw, char *out);

/* The digest response (lower-case hex, NUL-terminated, out >= 65 bytes) for
 * algorithm "MD5" or "SHA-256"; qop "auth" or "" (RFC 2069 form). 0 or
 * -EINVAL. */
int sip_digest_response(const char *alg, const char *user, const char *realm, const char *pw,
			const char *method, const char *uri, const char *nonce, const char *nc,
			const char *cnonce, const char *qop, char *out);

/* WWW-Authenticate header lines (SHA-256 first, then MD5) with a nonce
 * bound to now and secret. */
void sip_auth_challenge(char *out, size_t cap, const char *realm, uint64_t secret, uint32_t now);

/* Check an Authorization header value for `method`: 0 and the identity
 * ("sip:user@realm") in id; -ENOENT when there is none or its nonce is
 * stale (challenge again); -EACCES when it is wrong or the user unknown
 * (with a static reason in *why). */
int sip_auth_check(const char *realm, struct sip_span method, struct sip_span authz,
		   uint64_t secret, uint32_t now, char *id, size_t cap, const char **why);

#endif
