/* sip_auth: digest authentication of subscribers that are not trusted CNAs
 * (RFC 3261 section 22.4 with RFC 8760: SHA-256 and MD5, qop=auth), with
 * the nonces and their counts in a sip_nonce table (replays). The
 * credential store is pluggable and holds H(A1) per algorithm, never a
 * password: the SIP worker plugs in the credential table the admin API
 * writes (sip_cred.h); without a lookup nobody is found, so every
 * untrusted subscriber is challenged (401) and then refused (403). */
#ifndef PNA_SIP_AUTH_H
#define PNA_SIP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "egress/sip/sip_nonce.h"
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

/* WWW-Authenticate header lines (SHA-256 first, then MD5) offering nonce
 * (from sip_nonce_issue); stale adds stale=true (RFC 7616 3.3: the answer
 * was right but its nonce was not, so the client retries without asking
 * its user again). */
void sip_auth_challenge(char *out, size_t cap, const char *realm, const char *nonce, bool stale);

/* Check the Authorization header value of a request (method, Request-URI
 * ruri) and, when it is right, record its nonce count in nonces. 0 and the
 * identity ("sip:user@realm") in id; otherwise a static reason in *why and
 *   -ENOENT    none, or another realm's: challenge;
 *   -ESTALE    right, but its nonce expired or is not (or no longer) in
 *              nonces: challenge with stale=true;
 *   -EALREADY  right, but its nonce count is not above the highest seen
 *              for the nonce, or the nonce was used without qop: a replay
 *              (RFC 7616 3.4), challenge with stale=true;
 *   -EINVAL    its uri is not the Request-URI (RFC 7616 3.4.6): 400;
 *   -EBADMSG   username, realm, nonce, uri or response missing; qop other
 *              than auth, or qop=auth without a cnonce or an nc of 8 hex
 *              digits: 400;
 *   -EACCES    wrong, unknown user, no credential for the algorithm: 403. */
int sip_auth_check(struct sip_nonce_table *nonces, const char *realm, struct sip_span method,
		   struct sip_span ruri, struct sip_span authz, uint32_t now, char *id, size_t cap,
		   const char **why);

#endif
