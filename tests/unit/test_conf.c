/* test_conf: pnad's configuration is validated whole, with file:line errors,
 * and names canonicalise as the contracts say. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
	snprintf(path, sizeof(path), "/tmp/test_conf.%d", (int)getpid());
	test_conf();
	test_names();
	unlink(path);
	return check_summary();
}
