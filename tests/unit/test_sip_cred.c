/* test_sip_cred: the SIP digest credential table (put, replace, delete,
 * walk, full), H(A1) from a password, and sip_auth_check against the table
 * through the reader's lookup: SHA-256 and MD5, wrong answers, unknown
 * users, stale and unknown nonces, replayed nonce counts, answers without
 * qop, the digest uri against the Request-URI, malformed counts, an
 * algorithm without a hash. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "egress/sip/sip_auth.h"
#include "egress/sip/sip_cred.h"
#include "egress/sip/sip_tls.h"

static char seg_name[64];

static void test_from_password(void)
{
	struct sip_cred c;
	const char *why = NULL;

	/* RFC 2617 3.5's H(A1) (realm without '@': ours are SIP domains) */
	CHECK_EQ(sip_cred_from_password("Mufasa", "testrealm.host.com", "Circle Of Life", &c, &why),
		 0);
	CHECK(strlen(c.ha1_md5) == 32 && strlen(c.ha1_sha256) == 64);
	CHECK_EQ(sip_cred_from_password("a:b", "example.com", "p", &c, &why), -EINVAL);
	CHECK(strncmp(why, "user:", 5) == 0);
	CHECK_EQ(sip_cred_from_password("a", "ex ample.com", "p", &c, &why), -EINVAL);
	CHECK(strncmp(why, "realm:", 6) == 0);
	CHECK_EQ(sip_cred_from_password("a", "example.com", "", &c, &why), -EINVAL);

	memset(&c, 0, sizeof(c));
	strcpy(c.user, "bob");
	strcpy(c.realm, "example.com");
	CHECK_EQ(sip_cred_validate(&c, &why), -EINVAL); /* no hash at all */
	strcpy(c.ha1_md5, "0123456789ABCDEF0123456789abcdef");
	CHECK_EQ(sip_cred_validate(&c, &why), 0);
	CHECK(strcmp(c.ha1_md5, "0123456789abcdef0123456789abcdef") == 0);
	strcpy(c.ha1_sha256, "xyz");
	CHECK_EQ(sip_cred_validate(&c, &why), -EINVAL);
}

static void test_table(void)
{
	struct shm_seg s;
	struct sip_cred c, got;
	const char *why;
	uint32_t pos = 0, n = 0;
	char user[16];

	CHECK_EQ(sip_cred_open(seg_name, 16, &s), 0);
	CHECK_EQ(sip_cred_from_password("alice", "example.com", "pw1", &c, &why), 0);
	CHECK_EQ(sip_cred_put(&s, &c), 0);
	CHECK_EQ(sip_cred_get(s.base, "alice", "EXAMPLE.com", &got), 0); /* realm: any case */
	CHECK(strcmp(got.ha1_md5, c.ha1_md5) == 0);
	CHECK_EQ(sip_cred_get(s.base, "Alice", "example.com", &got), -ENOENT);
	/* replace */
	CHECK_EQ(sip_cred_from_password("alice", "example.com", "pw2", &c, &why), 0);
	CHECK_EQ(sip_cred_put(&s, &c), 0);
	CHECK_EQ(sip_cred_count(s.base), 1);
	CHECK_EQ(sip_cred_get(s.base, "alice", "example.com", &got), 0);
	CHECK(strcmp(got.ha1_sha256, c.ha1_sha256) == 0);
	/* fill: 3/4 of 32 slots */
	for (int i = 0; i < 40; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		CHECK_EQ(sip_cred_from_password(user, "example.com", "p", &c, &why), 0);
		if (sip_cred_put(&s, &c) < 0)
			break;
	}
	CHECK_EQ(sip_cred_count(s.base), 24);
	CHECK(!sip_cred_fits(&s, "new", "example.com"));
	CHECK(sip_cred_fits(&s, "alice", "example.com"));
	CHECK_EQ(sip_cred_put(&s, &c), -ENOSPC);
	while (sip_cred_next(s.base, &pos, &got))
		n++;
	CHECK_EQ(n, 24);
	CHECK_EQ(sip_cred_del(&s, "u0", "example.com"), 0);
	CHECK_EQ(sip_cred_del(&s, "u0", "example.com"), -ENOENT);
	CHECK_EQ(sip_cred_get(s.base, "u0", "example.com", &got), -ENOENT);
	CHECK(sip_cred_fits(&s, "new", "example.com"));
	/* entries past the tombstone are still found */
	CHECK_EQ(sip_cred_get(s.base, "alice", "example.com", &got), 0);
	sip_cred_clear(&s);
	CHECK_EQ(sip_cred_count(s.base), 0);
	CHECK_EQ(sip_cred_get(s.base, "alice", "example.com", &got), -ENOENT);
	shm_seg_close(&s);
}

static struct sip_nonce_table nonces;

/* The Authorization value answering the challenge in chal for alg, with
 * nonce count nc ("" for an RFC 2069 answer without qop) and digest uri. */
static void answer_uri(const char *chal, const char *alg, const char *user, const char *pw,
		       const char *nc, const char *uri, char *out, size_t cap)
{
	char nonce[64], resp[130];
	const char *p = strstr(chal, "nonce=\"") + 7;

	snprintf(nonce, sizeof(nonce), "%.*s", (int)(strchr(p, '"') - p), p);
	CHECK_EQ(sip_digest_response(alg, user, "example.com", pw, "SUBSCRIBE", uri, nonce, nc,
				     "abc", nc[0] ? "auth" : "", resp),
		 0);
	if (nc[0])
		snprintf(out, cap,
			 "Digest username=\"%s\", realm=\"example.com\", nonce=\"%s\", "
			 "uri=\"%s\", response=\"%s\", algorithm=%s, qop=auth, "
			 "nc=%s, cnonce=\"abc\"",
			 user, nonce, uri, resp, alg, nc);
	else
		snprintf(out, cap,
			 "Digest username=\"%s\", realm=\"example.com\", nonce=\"%s\", "
			 "uri=\"%s\", response=\"%s\", algorithm=%s",
			 user, nonce, uri, resp, alg);
}

static void answer(const char *chal, const char *alg, const char *user, const char *pw,
		   const char *nc, char *out, size_t cap)
{
	answer_uri(chal, alg, user, pw, nc, "sip:alice@example.com", out, cap);
}

static int check_uri(const char *authz, const char *ruri, uint32_t now, char *id, const char **why)
{
	return sip_auth_check(&nonces, "example.com", (struct sip_span){ "SUBSCRIBE", 9 },
			      (struct sip_span){ ruri, strlen(ruri) },
			      (struct sip_span){ authz, strlen(authz) }, now, id, 128, why);
}

static int check(const char *authz, uint32_t now, char *id, const char **why)
{
	return check_uri(authz, "sip:alice@example.com", now, id, why);
}

/* A fresh challenge into chal (stale or not). */
static void challenge(char *chal, size_t cap, uint32_t now, bool stale)
{
	char nonce[SIP_NONCE_LEN + 1];

	sip_nonce_issue(&nonces, now, nonce);
	sip_auth_challenge(chal, cap, "example.com", nonce, stale);
}

static void test_auth_check(void)
{
	struct sip_cred_reader r;
	struct shm_seg s;
	struct sip_cred c;
	char chal[512], authz[600], id[128];
	const char *why;
	uint32_t now = 1760000000;

	CHECK_EQ(sip_cred_open(seg_name, 16, &s), 0);
	sip_cred_reader_init(&r, seg_name);
	sip_auth_set_lookup(sip_cred_lookup, &r);
	CHECK_EQ(sip_cred_from_password("alice", "example.com", "s3cret", &c, &why), 0);
	CHECK_EQ(sip_cred_put(&s, &c), 0);
	challenge(chal, sizeof(chal), now, false);
	CHECK(strstr(chal, "algorithm=SHA-256") < strstr(chal, "algorithm=MD5"));
	CHECK(strstr(chal, "stale") == NULL);

	answer(chal, "SHA-256", "alice", "s3cret", "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), 0);
	CHECK(strcmp(id, "sip:alice@example.com") == 0);
	/* the same answer again: a replay; so is a lower count, whatever the
	 * algorithm; a higher count is a new request */
	CHECK_EQ(check(authz, now + 1, id, &why), -EALREADY);
	CHECK(strstr(why, "replay") != NULL);
	answer(chal, "MD5", "alice", "s3cret", "00000003", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), 0);
	answer(chal, "MD5", "alice", "s3cret", "00000002", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), -EALREADY);
	answer(chal, "SHA-256", "alice", "s3cret", "0000000A", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 2, id, &why), 0);
	/* without qop after counted uses: refused */
	answer(chal, "SHA-256", "alice", "s3cret", "", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 2, id, &why), -EALREADY);

	/* a wrong answer or an unknown user never learns about the nonce */
	answer(chal, "SHA-256", "alice", "wrong", "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), -EACCES);
	CHECK(strcmp(why, "wrong digest response") == 0);
	answer(chal, "SHA-256", "bob", "s3cret", "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), -EACCES);
	CHECK(strstr(why, "unknown user") != NULL);
	answer(chal, "SHA-256", "alice", "wrong", "00000020", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 301, id, &why), -EACCES);
	/* a right answer to an expired nonce: stale */
	answer(chal, "SHA-256", "alice", "s3cret", "00000020", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 301, id, &why), -ESTALE);
	CHECK(strcmp(why, "nonce expired") == 0);
	CHECK_EQ(check("Basic YWxpY2U6cw==", now, id, &why), -ENOENT);
	/* a required directive missing: 400 (RFC 2617 3.2.2) */
	CHECK_EQ(check("Digest username=\"alice\", realm=\"example.com\", uri=\"sip:x\"", now, id,
		       &why),
		 -EBADMSG);
	CHECK(strstr(why, "lacks") != NULL);

	/* a nonce this table never issued (another worker's, or made up) */
	answer(" nonce=\"0123456789abcdef0123456789abcdef\"", "SHA-256", "alice", "s3cret",
	       "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -ESTALE);
	CHECK(strcmp(why, "nonce not known") == 0);

	/* without qop (RFC 2069): once */
	challenge(chal, sizeof(chal), now, true);
	CHECK(strstr(chal, "qop=\"auth\", stale=true\r\n") != NULL);
	answer(chal, "MD5", "alice", "s3cret", "", authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), 0);
	CHECK_EQ(check(authz, now, id, &why), -EALREADY);
	answer(chal, "MD5", "alice", "s3cret", "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -EALREADY);

	/* the digest uri must be the Request-URI (host in any case) */
	challenge(chal, sizeof(chal), now, false);
	answer_uri(chal, "SHA-256", "alice", "s3cret", "00000001", "sip:alice@EXAMPLE.com", authz,
		   sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), 0);
	answer_uri(chal, "SHA-256", "alice", "s3cret", "00000002", "sip:bob@example.com", authz,
		   sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -EINVAL);
	CHECK(strstr(why, "Request-URI") != NULL);
	CHECK_EQ(check_uri(authz, "sip:bob@example.com", now, id, &why), 0);
	answer_uri(chal, "SHA-256", "alice", "s3cret", "00000003", "sip:alice@example.com;x=1",
		   authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -EINVAL);
	/* malformed counts: 400 */
	answer(chal, "SHA-256", "alice", "s3cret", "00000000", authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -EBADMSG);
	answer(chal, "SHA-256", "alice", "s3cret", "0000004", authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -EBADMSG);
	answer(chal, "SHA-256", "alice", "s3cret", "0000004g", authz, sizeof(authz));
	CHECK_EQ(check(authz, now, id, &why), -EBADMSG);
	CHECK(strstr(why, "8 hex digits") != NULL);

	/* a credential given only as an MD5 H(A1): SHA-256 answers fail */
	challenge(chal, sizeof(chal), now, false);
	c.ha1_sha256[0] = '\0';
	CHECK_EQ(sip_cred_put(&s, &c), 0);
	answer(chal, "SHA-256", "alice", "s3cret", "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), -EACCES);
	answer(chal, "MD5", "alice", "s3cret", "00000001", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), 0);

	/* deleted: refused */
	CHECK_EQ(sip_cred_del(&s, "alice", "example.com"), 0);
	answer(chal, "MD5", "alice", "s3cret", "00000002", authz, sizeof(authz));
	CHECK_EQ(check(authz, now + 1, id, &why), -EACCES);
	sip_auth_set_lookup(NULL, NULL);
	sip_cred_reader_close(&r);
	shm_seg_close(&s);
}

static void test_fingerprint(void)
{
	uint8_t fp[32];
	const char *colon = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
			    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

	CHECK_EQ(sip_tls_fingerprint_parse(colon, fp), 0);
	CHECK(fp[0] == 0xab && fp[31] == 0x89);
	CHECK_EQ(sip_tls_fingerprint_parse("abcdef0123456789abcdef0123456789"
					   "abcdef0123456789abcdef0123456789",
					   fp),
		 0);
	CHECK_EQ(sip_tls_fingerprint_parse("abcd", fp), -EINVAL);
	CHECK_EQ(sip_tls_fingerprint_parse("zz", fp), -EINVAL);
}

int main(void)
{
	snprintf(seg_name, sizeof(seg_name), "/pnatest.sipcred.%d", (int)getpid());
	test_from_password();
	test_table();
	shm_seg_unlink(seg_name);
	test_auth_check();
	shm_seg_unlink(seg_name);
	test_fingerprint();
	return check_summary();
}
