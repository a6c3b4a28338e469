/* test_authz: identities canonicalise (schemes, parameters, resources,
 * domain case and identity_domain rules) and the owner-or-grant rule holds,
 * grants covering a path and what is under it, for an identity or a domain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "shard/authz.h"
#include "shard/grant_table.h"

static struct pnad_conf conf;

static const char *ident(const char *s)
{
	static char out[300];
	const char *why;

	return authz_identity(&conf, s, out, sizeof(out), &why) < 0 ? "(invalid)" : out;
}

static void test_identity(void)
{
	CHECK_STR(ident("alice@Example.COM"), "alice@example.com");
	CHECK_STR(ident("sip:alice@example.com;transport=tcp"), "alice@example.com");
	CHECK_STR(ident("<sips:alice@example.com>"), "alice@example.com");
	CHECK_STR(ident("xmpp:alice@example.com/phone"), "alice@example.com");
	CHECK_STR(ident("alice@example.com/phone"), "alice@example.com");
	CHECK_STR(ident("sip:alice@sip.example.com"), "alice@example.com");
	CHECK_STR(ident("alice"), "(invalid)");
	CHECK_STR(ident("sip:@example.com"), "(invalid)");
}

static struct grant mk(const char *acct, const char *path, const char *grantee)
{
	struct grant g;

	memset(&g, 0, sizeof(g));
	strcpy(g.account, acct);
	strcpy(g.path, path);
	strcpy(g.grantee, grantee);
	g.rights = GRANT_RIGHT_SUBSCRIBE;
	return g;
}

static void test_rule(void)
{
	size_t bytes = grant_table_footprint(64);
	void *gt = malloc(bytes);
	char why[256];
	struct grant g;

	grant_table_format(gt, bytes, 64);
	CHECK_EQ(authz_check(&conf, gt, "sip:alice@example.com", "alice@example.com", "INBOX", why,
			     sizeof(why)),
		 0);
	CHECK_EQ(authz_check(&conf, gt, "bob@example.net", "alice@example.com", "INBOX", why,
			     sizeof(why)),
		 -EACCES);
	CHECK(strstr(why, "bob@example.net") != NULL);
	g = mk("alice@example.com", "Work", "bob@example.net");
	CHECK_EQ(grant_table_put(gt, &g), 0);
	CHECK_EQ(authz_check(&conf, gt, "xmpp:bob@example.net/x", "alice@example.com", "Work/2026",
			     why, sizeof(why)),
		 0);
	CHECK_EQ(authz_check(&conf, gt, "bob@example.net", "alice@example.com", "Workshop", why,
			     sizeof(why)),
		 -EACCES);
	CHECK_EQ(authz_check(&conf, gt, "bob@example.net", "alice@example.com", "", why,
			     sizeof(why)),
		 -EACCES);
	g = mk("alice@example.com", "", "@agg.example.org");
	CHECK_EQ(grant_table_put(gt, &g), 0);
	CHECK_EQ(authz_check(&conf, gt, "sip:cna@agg.example.org", "alice@example.com", "Sent", why,
			     sizeof(why)),
		 0);
	CHECK_EQ(authz_check(&conf, gt, "cna@agg.example.org", "alicia@example.com", "Sent", why,
			     sizeof(why)),
		 -EACCES);
	CHECK_EQ(grant_table_count(gt), 2);
	CHECK_EQ(grant_table_del(gt, &g), 0);
	CHECK_EQ(grant_table_del(gt, &g), -ENOENT);
	CHECK_EQ(authz_check(&conf, gt, "cna@agg.example.org", "alice@example.com", "Sent", why,
			     sizeof(why)),
		 -EACCES);
	/* Fill it: the table refuses past its limit. */
	int rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++) {
		char id[64];

		snprintf(id, sizeof(id), "u%d@x.example", i);
		g = mk("alice@example.com", "", id);
		rc = grant_table_put(gt, &g);
	}
	CHECK_EQ(rc, -ENOSPC);
	free(gt);
}

int main(void)
{
	conf.ndomain_maps = 1;
	strcpy(conf.domain_maps[0].from, "sip.example.com");
	strcpy(conf.domain_maps[0].to, "example.com");
	test_identity();
	test_rule();
	return check_summary();
}
