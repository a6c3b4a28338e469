/* sip_auth: digest challenge and verification (RFC 3261 22.4, RFC 8760,
 * RFC 7616 computations) for the SIP worker, with a pluggable credential
 * lookup. */
#include "egress/sip/sip_auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int no_credentials(void *arg, const char *user, const char *realm, const char *alg,
			  char *ha1, size_t cap)
{
	(void)arg;
	(void)user;
	(void)realm;
	(void)alg;
	(void)ha1;
	(void)cap;
	return -ENOENT;
}

static sip_auth_lookup_fn lookup = no_credentials;
static void *lookup_arg;

void sip_auth_set_lookup(sip_auth_lookup_fn fn, void *arg)
{
	lookup = fn ? fn : no_credentials;
	lookup_arg = arg;
}

/* hex(H(a:b:c...)) of the NULL-terminated parts joined by ':'. */
static int hash_hex(const EVP_MD *md, char *out, const char *const *parts)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;

	if (!ctx)
		return -ENOMEM;
	EVP_DigestInit_ex(ctx, md, NULL);
	for (unsigned i = 0; parts[i]; i++) {
		if (i)
			EVP_DigestUpdate(ctx, ":", 1);
		EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
	}
	EVP_DigestFinal_ex(ctx, d, &dl);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < dl; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	out[2 * dl] = 0;
	return 0;
}

static const EVP_MD *md_of(const char *alg)
{
	if (!alg || !alg[0] || strcasecmp(alg, "MD5") == 0)
		return EVP_md5();
	if (strcasecmp(alg, "SHA-256") == 0)
		return EVP_sha256();
	return NULL;
}

int sip_digest_ha1(const char *alg, const char *user, const char *realm, const char *pw, char *out)
{
	const EVP_MD *md = md_of(alg);

	if (!md)
		return -EINVAL;
	return hash_hex(md, out, (const char *const[]){ user, realm, pw, NULL });
}

/* RFC 7616 section 3.4.1 from a stored H(A1). */
static int response_of(const EVP_MD *md, const char *ha1, const char *method, const char *uri,
		       const char *nonce, const char *nc, const char *cnonce, const char *qop,
		       char *out)
{
	char ha2[2 * EVP_MAX_MD_SIZE + 1];

	if (hash_hex(md, ha2, (const char *const[]){ method, uri, NULL }) < 0)
		return -ENOMEM;
	if (qop && qop[0])
		return hash_hex(md, out,
				(const char *const[]){ ha1, nonce, nc, cnonce, qop, ha2, NULL });
	return hash_hex(md, out, (const char *const[]){ ha1, nonce, ha2, NULL });
}

int sip_digest_response(const char *alg, const char *user, const char *realm, const char *pw,
			const char *method, const char *uri, const char *nonce, const char *nc,
			const char *cnonce, const char *qop, char *out)
{
	char ha1[2 * EVP_MAX_MD_SIZE + 1];
	const EVP_MD *md = md_of(alg);

	if (!md)
		return -EINVAL;
	if (hash_hex(md, ha1, (const char *const[]){ user, realm, pw, NULL }) < 0)
		return -ENOMEM;
	return response_of(md, ha1, method, uri, nonce, nc, cnonce, qop, out);
}

void sip_auth_challenge(char *out, size_t cap, const char *realm, const char *nonce, bool stale)
{
	const char *st = stale ? ", stale=true" : "";

	snprintf(out, cap,
		 "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=SHA-256, "
		 "qop=\"auth\"%s\r\n"
		 "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, "
		 "qop=\"auth\"%s\r\n",
		 realm, nonce, st, realm, nonce, st);
}

/* Copy the value of auth-param `name` (quoted or not) into out. */
static int auth_param(struct sip_span v, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i + nl < v.n; i++) {
		size_t j, o = 0;
		bool q;

		if (strncasecmp(v.p + i, name, nl) != 0 ||
		    (i && v.p[i - 1] != ' ' && v.p[i - 1] != ',' && v.p[i - 1] != '\t'))
			continue;
		j = i + nl;
		while (j < v.n && v.p[j] == ' ')
			j++;
		if (j >= v.n || v.p[j] != '=')
			continue;
		j++;
		while (j < v.n && v.p[j] == ' ')
			j++;
		q = j < v.n && v.p[j] == '"';
		j += q;
		for (; j < v.n && (q ? v.p[j] != '"' : (v.p[j] != ',' && v.p[j] != ' ')); j++) {
			if (o + 1 >= cap)
				return -EINVAL;
			out[o++] = v.p[j];
		}
		out[o] = 0;
		return 0;
	}
	return -ENOENT;
}

/* Compare two hex strings in the same time wherever they differ. */
static bool hex_equal(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned diff = n != strlen(b);

	for (size_t i = 0; i < n && b[i]; i++)
		diff |= (unsigned)((a[i] | 0x20) ^ (b[i] | 0x20));
	return diff == 0;
}

/* The same SIP URI: byte for byte, or equal in scheme, user, port and
 * parameters with the host in any case (the parts of RFC 3261 19.1.4 a
 * client copying its Request-URI may change). */
static bool uri_same(struct sip_span ruri, const char *uri)
{
	struct sip_span a = { uri, strlen(uri) };
	struct sip_uri x, y;

	if (a.n == ruri.n && memcmp(a.p, ruri.p, a.n) == 0)
		return true;
	if (sip_uri_parse(a, &x) < 0 || sip_uri_parse(ruri, &y) < 0)
		return false;
	return x.sips == y.sips && x.port == y.port && x.user.n == y.user.n &&
	       memcmp(x.user.p, y.user.p, x.user.n) == 0 && x.host.n == y.host.n &&
	       strncasecmp(x.host.p, y.host.p, x.host.n) == 0 && x.params.n == y.params.n &&
	       strncasecmp(x.params.p, y.params.p, x.params.n) == 0;
}

/* The nonce count of an answer: SIP_NONCE_NO_QOP without qop, else nc as
 * RFC 3261 25.1's 8LHEX (not 0), with a cnonce. -EBADMSG with *why. */
static int64_t nonce_count(const char *qop, const char *nc, const char *cnonce, const char **why)
{
	uint32_t v = 0;

	if (!qop[0])
		return SIP_NONCE_NO_QOP;
	if (strcmp(qop, "auth") != 0) {
		*why = "qop is not auth";
		return -EBADMSG;
	}
	if (strlen(nc) != 8 || !cnonce[0])
		goto bad;
	for (unsigned i = 0; i < 8; i++) {
		char c = (char)(nc[i] | 0x20);

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else
			goto bad;
	}
	if (v)
		return v;
bad:
	*why = "qop=auth needs a cnonce and nc of 8 hex digits, not 0";
	return -EBADMSG;
}

int sip_auth_check(struct sip_nonce_table *nonces, const char *realm, struct sip_span method,
		   struct sip_span ruri, struct sip_span authz, uint32_t now, char *id, size_t cap,
		   const char **why)
{
	char user[128], r[128], nonce[64], uri[256], resp[130], alg[16] = "MD5", qop[16] = "";
	char nc[16] = "", cnonce[128] = "", want[130], meth[32];
	char ha1[2 * EVP_MAX_MD_SIZE + 1];
	const EVP_MD *md;
	int64_t count;
	uint32_t slot = 0;
	int known;

	*why = "authentication failed";
	if (authz.n < 7 || strncasecmp(authz.p, "Digest ", 7) != 0)
		return -ENOENT;
	if (auth_param(authz, "username", user, sizeof(user)) < 0 ||
	    auth_param(authz, "realm", r, sizeof(r)) < 0 ||
	    auth_param(authz, "nonce", nonce, sizeof(nonce)) < 0 ||
	    auth_param(authz, "uri", uri, sizeof(uri)) < 0 ||
	    auth_param(authz, "response", resp, sizeof(resp)) < 0) {
		*why = "Authorization lacks username, realm, nonce, uri or response";
		return -EBADMSG; /* RFC 2617 3.2.2: missing directives are a 400 */
	}
	auth_param(authz, "algorithm", alg, sizeof(alg));
	auth_param(authz, "qop", qop, sizeof(qop));
	auth_param(authz, "nc", nc, sizeof(nc));
	auth_param(authz, "cnonce", cnonce, sizeof(cnonce));
	if (!(md = md_of(alg))) {
		*why = "digest algorithm is neither SHA-256 nor MD5";
		return -EACCES;
	}
	if (strcmp(r, realm) != 0)
		return -ENOENT; /* another realm's answer: our challenge */
	/* RFC 7616 3.4.6, RFC 3261 22.4: the answer is for this request */
	if (!uri_same(ruri, uri)) {
		*why = "Authorization uri is not the Request-URI";
		return -EINVAL;
	}
	if ((count = nonce_count(qop, nc, cnonce, why)) < 0)
		return -EBADMSG;
	if (method.n >= sizeof(meth))
		return -EACCES;
	known = sip_nonce_find(nonces, nonce, now, &slot);
	if (lookup(lookup_arg, user, realm, alg[0] ? alg : "MD5", ha1, sizeof(ha1)) < 0) {
		*why = "unknown user or no credential for this algorithm";
		return -EACCES;
	}
	memcpy(meth, method.p, method.n);
	meth[method.n] = 0;
	if (response_of(md, ha1, meth, uri, nonce, nc, cnonce, qop, want) < 0 ||
	    !hex_equal(want, resp)) {
		*why = "wrong digest response";
		return -EACCES;
	}
	/* only a right answer learns that its nonce is stale (RFC 7616 3.3) */
	if (known < 0) {
		*why = known == -ESTALE ? "nonce expired" : "nonce not known";
		return -ESTALE;
	}
	if (snprintf(id, cap, "sip:%s@%s", user, realm) >= (int)cap)
		return -EACCES;
	if (sip_nonce_use(nonces, slot, (uint32_t)count) < 0) {
		*why = "nonce count already used (replay)";
		return -EALREADY;
	}
	return 0;
}
