/* test_conf: pnad's configuration is validated whole, with file:line errors,
 * and names canonicalise as the contracts say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check.h"
#include "lib/names.h"
#include "pnad/pnad_conf.h"

static char path[64];

static int load(const char *text, struct pnad_conf *c, char *err, size_t n)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	return pnad_conf_load(path, c, err, n);
}

static void expect_error(const char *text, const char *where)
{
	static struct pnad_conf c;
	char err[512] = "";
	char want[128];

	snprintf(want, sizeof(want), "%s%s", path, where);
	CHECK(load(text, &c, err, sizeof(err)) < 0);
	if (strncmp(err, want, strlen(want)) != 0)
		fprintf(stderr, "got '%s', want prefix '%s'\n", err, want);
	CHECK(strncmp(err, want, strlen(want)) == 0);
}

static void test_conf(void)
{
	static struct pnad_conf c;
	char err[512];

	CHECK_EQ(load("# comment\nshards = 3\nring_bytes = 1M\nadmin_token = t\n"
		      "identity_domain = SIP.Example.com example.com\n"
		      "store = s1 secret one\nstore = s2 x\n",
		      &c, err, sizeof(err)),
		 0);
	CHECK_EQ(c.shards, 3);
	CHECK_EQ(c.ring_bytes, 1 << 20);
	CHECK_EQ(c.max_frame, 1 << 20);
	CHECK_EQ(c.nstores, 2);
	CHECK_STR(c.stores[0].credential, "secret one");
	CHECK_EQ(pnad_conf_store(&c, "s2", 2), 1);
	CHECK_EQ(pnad_conf_store(&c, "s3", 2), -1);
	CHECK_EQ(c.ndomain_maps, 1);
	CHECK_STR(c.domain_maps[0].from, "sip.example.com");
	CHECK_STR(c.admin_tls_cert, "");

	expect_error("store = a b\nshards = lots\n", ":2: shards: not an integer");
	expect_error("store = a b\nring_bytes = 100000\n", ":2: ring_bytes: must be a power");
	expect_error("store = a b\nmax_frame = 1\n", ":2: max_frame: out of range");
	expect_error("store = a b\nbogus = 1\n", ":2: unknown key 'bogus'");
	expect_error("store = a b\nstore = a c\n", ":2: store: store id given twice");
	expect_error("store = a\n", ":1: store: expected");
	expect_error("admin_token = t\nshards = 2\n", ": no 'store' line");
	expect_error("store = a b\nshards = 2\n", ": missing 'admin_token'");
	expect_error("admin_token = t\nstore = a b\nadmin_tls_cert = c.pem\n",
		     ": admin_tls_cert and admin_tls_key go together");
	expect_error("admin_token = t\nstore = a b\nadmin_tls_cert = /nonexistent.pem\n"
		     "admin_tls_key = /nonexistent.key\n",
		     ": admin_tls_cert '/nonexistent.pem'");
	expect_error("admin_token = t\nstore = a b\nidentity_domain = a\n",
		     ":3: identity_domain: expected");
	expect_error("store = a b\nlisten = localhost\n", ":2: listen: expected host:port");
	expect_error("store = a b\nshards 2\n", ":2: expected 'key = value'");
}

static void test_names(void)
{
	char out[NAMES_KEY_MAX + 1];
	const char *why = NULL;

	CHECK_EQ(names_account("Bob@Example.COM", 15, out, sizeof(out), &why), 15);
	CHECK_STR(out, "Bob@example.com");
	CHECK(names_account("bob", 3, out, sizeof(out), &why) < 0);
	CHECK(names_account("a/b@x", 5, out, sizeof(out), &why) < 0);
	CHECK(names_account("", 0, out, sizeof(out), &why) < 0);
	CHECK_EQ(names_path("inbox", 5, out, sizeof(out), &why), 5);
	CHECK_STR(out, "INBOX");
	CHECK_EQ(names_path("Inbox/Sub", 9, out, sizeof(out), &why), 9);
	CHECK_STR(out, "INBOX/Sub");
	CHECK_EQ(names_path("Inboxes", 7, out, sizeof(out), &why), 7);
	CHECK_STR(out, "Inboxes");
	CHECK(names_path("a//b", 4, out, sizeof(out), &why) < 0);
	CHECK(names_path("/a", 2, out, sizeof(out), &why) < 0);
	CHECK(names_path("a/", 2, out, sizeof(out), &why) < 0);
}

/* The byte-at-a-time definitions the word-at-a-time code must agree with:
 * the result, the reason and the output, copied or in place. */
static int ref_account(const char *in, size_t len, char *out, const char **why)
{
	const char *at = NULL;

	if (len == 0 || len > NAMES_ACCOUNT_MAX)
		return *why = len ? "account is too long" : "account is empty", -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c == '/' || c == 0x7f)
			return *why = "account has a space, control or '/' character", -1;
		if (c == '@')
			at = in + i;
	}
	if (!at || at == in || at == in + len - 1)
		return *why = "account is not user@domain", -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (in + i > at && in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] + 32) : in[i];
	out[len] = '\0';
	return (int)len;
}

static int ref_path(const char *in, size_t len, char *out, const char **why)
{
	if (len == 0 || len > NAMES_KEY_MAX)
		return *why = len ? "mailbox is too long" : "mailbox is empty", -1;
	if (in[0] == '/' || in[len - 1] == '/')
		return *why = "mailbox starts or ends with '/'", -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < ' ' || c == 0x7f)
			return *why = "mailbox has a control character", -1;
		if (c == '/' && in[i + 1] == '/')
			return *why = "mailbox has an empty component", -1;
	}
	memcpy(out, in, len + 1);
	if (len >= 5 && strncasecmp(out, "INBOX", 5) == 0 && (len == 5 || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return (int)len;
}

/* Random names over the bytes each rule looks at, every length up to past
 * the limits, both functions against the reference, out of place and in. */
static void test_names_words(void)
{
	static const char alpha[] = { 'a',	  'z', 'A',  'Z',  '@',	       '@',
				      '/',	  '/', ' ',  0x1f, 0x7f,       '!',
				      '`',	  '[', 0x40, 0x5b, (char)0x80, (char)0xc3,
				      (char)0xff, 'I', 'i',  'N',  'b',	       'O',
				      'x',	  '.', '0',  0x21, 0x01 };
	char in[300], out[300], ref[300], inplace[300];
	const char *w1, *w2;
	unsigned seed = 12345, bad = 0;

	for (unsigned round = 0; round < 200000; round++) {
		size_t len = (round * 7 + round / 13) % 270, sparse = round % 5;
		int a, b;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly plain letters, so that many names pass. */
			in[i] = (seed >> 16) % 8 < sparse ? alpha[(seed >> 8) % sizeof(alpha)]
							  : (char)('a' + (seed >> 20) % 26);
		}
		in[len] = '\0';
		if (round % 3 == 0 && len > 2)
			in[(seed >> 4) % (len - 1) + 1] = '@';
		if (round % 4 == 0 && len >= 5)
			memcpy(in, "iNbOx", 5);
		w1 = w2 = "";
		a = names_account(in, len, out, sizeof(out), &w1);
		b = ref_account(in, len, ref, &w2);
		bad += (a < 0) != (b < 0) || (a < 0 ? strcmp(w1, w2) != 0 : strcmp(out, ref) != 0);
		memcpy(inplace, in, len + 1);
		a = names_account(inplace, len, inplace, len + 1, &w1);
		bad += a >= 0 && strcmp(inplace, ref) != 0;
		w1 = w2 = "";
		a = names_path(in, len, out, sizeof(out), &w1);
		b = ref_path(in, len, ref, &w2);
		bad += (a < 0) != (b < 0) || (a < 0 ? strcmp(w1, w2) != 0 : strcmp(out, ref) != 0);
		memcpy(inplace, in, len + 1);
		a = names_path(inplace, len, inplace, len + 1, &w1);
		bad += a >= 0 && strcmp(inplace, ref) != 0;
		if (bad) {
			fprintf(stderr, "names differ from the reference on '%s'\n", in);
			break;
		}
	}
	CHECK_EQ(bad, 0);
	/* The last '@' splits; bytes above 0x7f are allowed and kept. */
	CHECK_EQ(names_account("A@B@C.D", 7, out, sizeof(out), &w1), 7);
	CHECK_STR(out, "A@B@c.d");
	CHECK_EQ(names_account("\xc3\x89@\xc3\x89X.org", 10, out, sizeof(out), &w1), 10);
	CHECK_STR(out, "\xc3\x89@\xc3\x89x.org");
	CHECK(names_path("a/b//", 5, out, sizeof(out), &w1) < 0);
	CHECK(names_path("abcdefg//h", 10, out, sizeof(out), &w1) < 0); /* across a word */
	CHECK_STR(w1, "mailbox has an empty component");
	CHECK(names_path("abcdefgh/\x7f", 10, out, sizeof(out), &w1) < 0);
	CHECK_STR(w1, "mailbox has a control character");
}

int main(void)
{
	snprintf(path, sizeof(path), "/tmp/test_conf.%d", (int)getpid());
	test_conf();
	test_names();
	test_names_words();
	unlink(path);
	return check_summary();
}
