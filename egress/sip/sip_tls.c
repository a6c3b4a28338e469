/* sip_tls: the SIP worker's TLS server context, non-blocking handshake and
 * record I/O over OpenSSL, and the client-certificate trust check. */
#include "egress/sip/sip_tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress/sip/sip_conn.h"
#include "lib/pct.h"

struct sip_tls {
	SSL_CTX *ctx;
	uint32_t ntrusted;
	uint8_t trusted[32][32]; /* SHA-256 fingerprints of trusted CNAs */
};

int sip_tls_fingerprint_parse(const char *s, uint8_t out[32])
{
	unsigned n = 0;

	/* openssl prints "sha256 Fingerprint=AB:CD:..": take what follows '=' */
	if (strchr(s, '='))
		s = strchr(s, '=') + 1;
	while (*s) {
		int hi, lo;

		if (*s == ':') {
			s++;
			continue;
		}
		hi = pct_hexval(s[0]);
		lo = hi >= 0 ? pct_hexval(s[1]) : -1;
		if (hi < 0 || lo < 0 || n == 32)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return n == 32 ? 0 : -EINVAL;
}

/* Any certificate is taken at the handshake: a client without one, or
 * with one we do not know, is an ordinary (digest) subscriber; trust is
 * decided by fingerprint after the handshake. */
static int accept_any(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

int sip_tls_new(const struct pnad_conf *conf, struct sip_tls **out, char *err, size_t errlen)
{
	struct sip_tls *t = calloc(1, sizeof(*t));
	static const unsigned char sid[] = "pnad-sip";

	if (!t)
		abort();
	for (uint32_t i = 0; i < conf->nsip_tls_trusted; i++)
		if (sip_tls_fingerprint_parse(conf->sip_tls_trusted[i], t->trusted[t->ntrusted]) ==
		    0)
			t->ntrusted++;
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (!t->ctx)
		goto err_ssl;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* the connection code moves unsent bytes to the front of its buffer */
	SSL_CTX_set_mode(t->ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, accept_any);
	SSL_CTX_set_session_id_context(t->ctx, sid, sizeof(sid) - 1);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, conf->sip_tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->ctx, conf->sip_tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1)
		goto err_ssl;
	*out = t;
	return 0;
err_ssl:
	snprintf(err, errlen, "sip_tls_cert/sip_tls_key: %s",
		 ERR_reason_error_string(ERR_get_error()) ?: "OpenSSL error");
	sip_tls_free(t);
	return -EINVAL;
}

void sip_tls_free(struct sip_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int sip_tls_start(struct sip_net *n, const struct pnad_conf *conf, char *err, size_t errlen)
{
	const char *listen = conf->sip_tls_listen, *colon = strrchr(listen, ':');
	struct sip_tls *t;
	char host[64];
	int rc;

	if (strcmp(listen, "none") == 0)
		return 0;
	if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
		snprintf(err, errlen, "sip_tls_listen: %s is not host:port", listen);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if ((rc = sip_tls_new(conf, &t, err, errlen)) < 0)
		return rc;
	if ((rc = sip_net_open_tls(n, host, (uint16_t)atoi(colon + 1), t, err, errlen)) < 0)
		sip_tls_free(t);
	return rc;
}

SSL *sip_tls_session(struct sip_tls *t, int fd)
{
	SSL *s = SSL_new(t->ctx);

	if (!s)
		return NULL;
	if (SSL_set_fd(s, fd) != 1) {
		SSL_free(s);
		return NULL;
	}
	SSL_set_accept_state(s);
	return s;
}

void sip_tls_session_free(SSL *s)
{
	if (!s)
		return;
	if (SSL_is_init_finished(s))
		SSL_shutdown(s); /* close_notify, once; no wait for the peer's */
	SSL_free(s);
}

int sip_tls_handshake(SSL *s, bool *want_write)
{
	int r = SSL_do_handshake(s), e;

	*want_write = false;
	if (r == 1)
		return 1;
	e = SSL_get_error(s, r);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		*want_write = true;
		return 0;
	}
	return -EPROTO;
}

bool sip_tls_peer_trusted(const struct sip_tls *t, SSL *s)
{
	X509 *cert = SSL_get1_peer_certificate(s);
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned fl = 0;
	bool ok = false;

	if (!cert)
		return false;
	if (X509_digest(cert, EVP_sha256(), fp, &fl) == 1 && fl == 32)
		for (uint32_t i = 0; i < t->ntrusted && !ok; i++)
			ok = memcmp(fp, t->trusted[i], 32) == 0;
	X509_free(cert);
	return ok;
}

/* errno for a failed SSL_read/SSL_write; 0 when the peer closed. */
static ssize_t io_result(SSL *s, int r)
{
	int e = SSL_get_error(s, r);

	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = EPROTO;
	return -1;
}

ssize_t sip_tls_read(SSL *s, void *buf, size_t len)
{
	int r = SSL_read(s, buf, len > INT32_MAX ? INT32_MAX : (int)len);

	return r > 0 ? r : io_result(s, r);
}

ssize_t sip_tls_write(SSL *s, const void *buf, size_t len)
{
	int r = SSL_write(s, buf, len > INT32_MAX ? INT32_MAX : (int)len);

	if (r > 0)
		return r;
	r = (int)io_result(s, r);
	if (r == 0) {
		errno = EPIPE;
		return -1;
	}
	return r;
}
