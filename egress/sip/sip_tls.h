/* sip_tls: SIP over TLS (RFC 3261 section 26.3.1, RFC 5630) for the SIP
 * worker: the server context (sip_tls_cert, sip_tls_key; TLS 1.2 and up),
 * a client certificate asked for but optional, and the non-blocking
 * handshake and record I/O the connection code (sip_conn.c) drives from the
 * worker's epoll loop. A client whose certificate's SHA-256 fingerprint is
 * listed in sip_tls_trusted is a trusted CNA (its P-Asserted-Identity is
 * believed), whatever its address. Run by the SIP egress worker. */
#ifndef PNA_SIP_TLS_H
#define PNA_SIP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pnad/pnad_conf.h"

#define SIP_TLS_HANDSHAKE_MS 10000 /* a handshake not done by then is dropped */

struct sip_tls;
struct ssl_st;
struct sip_net;

/* The context for conf (certificate, key, trusted fingerprints). 0 and
 * *out (caller owns: sip_tls_free), or -errno with a reason in err. */
int sip_tls_new(const struct pnad_conf *conf, struct sip_tls **out, char *err, size_t errlen);
void sip_tls_free(struct sip_tls *t); /* accepts NULL */

/* Open the TLS listener of conf->sip_tls_listen on n (nothing when it is
 * "none"). 0, or -errno with a reason in err. */
int sip_tls_start(struct sip_net *n, const struct pnad_conf *conf, char *err, size_t errlen);

/* A server-side session on fd (accepted, non-blocking), or NULL. */
struct ssl_st *sip_tls_session(struct sip_tls *t, int fd);
void sip_tls_session_free(struct ssl_st *s); /* sends close_notify if it can */

/* One handshake step: 1 done, 0 call again when the socket is readable
 * (*want_write: or writable), -EPROTO failed (garbage, bad version). */
int sip_tls_handshake(struct ssl_st *s, bool *want_write);
/* Is the peer's certificate one of the trusted fingerprints? */
bool sip_tls_peer_trusted(const struct sip_tls *t, struct ssl_st *s);

/* Like read(2)/write(2): bytes, 0 on close_notify or EOF (read), or -1
 * with errno EAGAIN (try again on the next event) or EPROTO. */
ssize_t sip_tls_read(struct ssl_st *s, void *buf, size_t len);
ssize_t sip_tls_write(struct ssl_st *s, const void *buf, size_t len);

/* A fingerprint as written in sip_tls_trusted ("AB:CD:..." as
 * `openssl x509 -fingerprint -sha256` prints it, or 64 hex digits) into
 * out[32]. 0 or -EINVAL. */
int sip_tls_fingerprint_parse(const char *s, uint8_t out[32]);

#endif
