/* test_admin_api: the pure half of the admin API (routing, query decoding,
 * the bearer check, the "<shard>-<id>" id, JSON <-> sub_spec and grants, the
 * status of a shard's answer) and the Prometheus exposition, checked line by
 * line with a strict grammar against real (freshly created) segments. */
#include <errno.h>
#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin_api.h"
#include "admin/admin_metrics.h"
#include "admin/admin_view.h"
#include "egress/sip/sip_cred.h"
#include "check.h"
#include "lib/evrec.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"

#define NOW 1000000u

static int route(const char *m, const char *p, struct admin_route *r)
{
	const char *why = NULL;
	int rc = admin_api_route(m, p, r, &why);

	if (rc)
		CHECK(why != NULL);
	return rc;
}

static void test_route(void)
{
	struct admin_route r;
	char v[64];

	CHECK_EQ(route("GET", "/healthz", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_HEALTHZ);
	CHECK_EQ(route("GET", "/metrics", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_METRICS);
	CHECK_EQ(route("POST", "/v1/subscriptions", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_SUB_CREATE);
	CHECK_EQ(route("GET", "/v1/subscriptions?subscriber=a%40b.c", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_SUB_LIST);
	CHECK_STR(r.query, "subscriber=a%40b.c");
	CHECK_EQ(route("GET", "/v1/subscriptions/1-42", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_SUB_GET);
	CHECK_STR(r.arg, "1-42");
	CHECK_EQ(route("DELETE", "/v1/subscriptions/0-7", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_SUB_DELETE);
	CHECK_EQ(route("POST", "/v1/grants", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_GRANT_ADD);
	CHECK_EQ(route("DELETE", "/v1/grants?account=a@b.c&grantee=x", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_GRANT_DELETE);
	CHECK_EQ(route("GET", "/v1/grants?account=a@b.c", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_GRANT_LIST);
	CHECK_EQ(route("GET", "/v1/mailboxes/a@b.c/INBOX/Sub%20Folder", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_MAILBOX);
	CHECK_STR(r.arg, "a@b.c/INBOX/Sub Folder");
	CHECK_EQ(route("GET", "/v1/accounts/a%40b.c", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_ACCOUNT);
	CHECK_STR(r.arg, "a@b.c");
	CHECK_EQ(route("GET", "/v1/shards", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_SHARDS);
	CHECK_EQ(route("GET", "/v1/stats", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_STATS);

	CHECK_EQ(route("PUT", "/v1/sip/credentials/bob%40example.com", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_CRED_PUT);
	CHECK_STR(r.arg, "bob@example.com");
	CHECK_EQ(route("DELETE", "/v1/sip/credentials/bob@example.com", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_CRED_DELETE);
	CHECK_EQ(route("GET", "/v1/sip/credentials", &r), 0);
	CHECK_EQ(r.kind, ADMIN_R_CRED_LIST);
	CHECK_EQ(route("POST", "/v1/sip/credentials/bob@example.com", &r), 405);

	CHECK_EQ(route("GET", "/v2/stats", &r), 404);
	CHECK_EQ(route("GET", "/v1/statsx", &r), 404);
	CHECK_EQ(route("GET", "/v1/accounts/", &r), 404); /* no account */
	CHECK_EQ(route("POST", "/v1/stats", &r), 405);
	CHECK_EQ(route("PUT", "/v1/subscriptions/1-2", &r), 405);
	CHECK_EQ(route("GET", "/v1/mailboxes/a@b.c/%zz", &r), 400);
	CHECK_EQ(route("GET", "/v1/mailboxes/a@b.c/%00", &r), 400);
	CHECK_EQ(route("GET", "/v1/mailboxes/a@b.c/%4", &r), 400);

	CHECK_EQ(admin_api_query("a=1&b=x%40y+z&c", "b", v, sizeof(v)), 5);
	CHECK_STR(v, "x@y z");
	CHECK_EQ(admin_api_query("a=1&b=2", "a", v, sizeof(v)), 1);
	CHECK_EQ(admin_api_query("a=1&ab=2", "b", v, sizeof(v)), -ENOENT);
	CHECK_EQ(admin_api_query("a=1&c", "c", v, sizeof(v)), 0);
	CHECK_EQ(admin_api_query("", "a", v, sizeof(v)), -ENOENT);
	CHECK_EQ(admin_api_query("a=%G1", "a", v, sizeof(v)), -EINVAL);
	CHECK_EQ(admin_api_query("a=123456", "a", v, 4), -ENAMETOOLONG);
}

static void test_bearer(void)
{
	CHECK(admin_api_bearer_ok("Bearer s3cret", "s3cret"));
	CHECK(admin_api_bearer_ok("bearer  s3cret ", "s3cret"));
	CHECK(!admin_api_bearer_ok("Bearer s3cre", "s3cret"));
	CHECK(!admin_api_bearer_ok("Bearer s3cretX", "s3cret"));
	CHECK(!admin_api_bearer_ok("Bearer S3cret", "s3cret"));
	CHECK(!admin_api_bearer_ok("Basic s3cret", "s3cret"));
	CHECK(!admin_api_bearer_ok("Bearer", "s3cret"));
	CHECK(!admin_api_bearer_ok("Bearer ", "s3cret"));
	CHECK(!admin_api_bearer_ok(NULL, "s3cret"));
	CHECK(!admin_api_bearer_ok("Bearer ", ""));
	CHECK(!admin_api_bearer_ok("Bearer x", ""));
}

static void test_id(void)
{
	char buf[48];
	uint32_t shard;
	uint64_t id;

	CHECK_EQ(admin_api_id_format(buf, sizeof(buf), 3, 18446744073709551615ull), 22);
	CHECK_STR(buf, "3-18446744073709551615");
	CHECK_EQ(admin_api_id_parse(buf, 4, &shard, &id), 0);
	CHECK_EQ(shard, 3);
	CHECK(id == 18446744073709551615ull);
	CHECK_EQ(admin_api_id_parse("0-1", 1, &shard, &id), 0);
	CHECK_EQ(admin_api_id_parse("3-1", 3, &shard, &id), -ERANGE);
	CHECK_EQ(admin_api_id_parse("0-0", 1, &shard, &id), -EINVAL);
	CHECK_EQ(admin_api_id_parse("0-", 1, &shard, &id), -EINVAL);
	CHECK_EQ(admin_api_id_parse("-1", 1, &shard, &id), -EINVAL);
	CHECK_EQ(admin_api_id_parse("42", 1, &shard, &id), -EINVAL);
	CHECK_EQ(admin_api_id_parse("0-1-2", 1, &shard, &id), -EINVAL);
	CHECK_EQ(admin_api_id_parse("0-+1", 1, &shard, &id), -EINVAL);
	CHECK_EQ(admin_api_id_parse("0-18446744073709551616", 1, &shard, &id), -EINVAL);
}

static int sub_parse(const char *body, struct sub_spec *s, char *err)
{
	return admin_api_sub_parse(body, strlen(body), NOW, s, err, 200);
}

/* err must name the field: it starts with `field`. */
#define CHECK_BAD(body, field)                                        \
	do {                                                          \
		CHECK_EQ(sub_parse(body, &s, err), -EINVAL);          \
		CHECK(strncmp(err, field, strlen(field)) == 0);       \
		if (strncmp(err, field, strlen(field)) != 0)          \
			fprintf(stderr, "  got error \"%s\"\n", err); \
	} while (0)

static void test_sub_parse(void)
{
	struct sub_spec s;
	char err[200];

	CHECK_EQ(sub_parse("{\"transport\":\"sip\",\"subscriber\":\"sip:al@Example.com\","
			   "\"mailbox\":\"al@Example.COM/inbox/Work\",\"depth\":\"subtree\","
			   "\"events\":[\"MessageNew\",\"messageread\"],\"expires\":60,"
			   "\"heartbeat\":30,\"target\":\"sip:al@10.0.0.1\"}",
			   &s, err),
		 0);
	CHECK_EQ(s.id, 0);
	CHECK_EQ(s.transport, SUB_SIP);
	CHECK_EQ(s.depth, SUB_SUBTREE);
	CHECK_STR(s.account, "al@example.com");
	CHECK_STR(s.path, "INBOX/Work");
	CHECK_STR(s.subscriber, "sip:al@Example.com");
	CHECK_STR(s.target, "sip:al@10.0.0.1");
	CHECK_EQ(s.events,
		 (1u << evrec_type_parse("MessageNew")) | (1u << evrec_type_parse("MessageRead")));
	CHECK_EQ(s.expires, NOW + 60);
	CHECK_EQ(s.heartbeat, 30);

	/* Defaults: exact, every event, 3600 s, no heartbeat, target = subscriber. */
	CHECK_EQ(sub_parse("{\"transport\":\"xmpp\",\"subscriber\":\"bob@x.org\","
			   "\"mailbox\":\"bob@x.org\"}",
			   &s, err),
		 0);
	CHECK_EQ(s.transport, SUB_XMPP);
	CHECK_EQ(s.depth, SUB_EXACT);
	CHECK_STR(s.path, "");
	CHECK_EQ(s.events, 0);
	CHECK_EQ(s.expires, NOW + ADMIN_EXPIRES_DEFAULT);
	CHECK_EQ(s.heartbeat, 0);
	CHECK_STR(s.target, "bob@x.org");

#define OK_START "{\"transport\":\"xmpp\",\"subscriber\":\"b@x.org\",\"mailbox\":\"b@x.org\""
	CHECK_BAD("", "body");
	CHECK_BAD("[1]", "body");
	CHECK_BAD("{\"transport\":", "body");
	CHECK_BAD(OK_START "} {}", "body");
	CHECK_BAD("{\"subscriber\":\"b@x.org\",\"mailbox\":\"b@x.org\"}", "transport");
	CHECK_BAD("{\"transport\":\"smtp\",\"subscriber\":\"b@x.org\",\"mailbox\":\"b@x.org\"}",
		  "transport");
	CHECK_BAD("{\"transport\":7,\"subscriber\":\"b@x.org\",\"mailbox\":\"b@x.org\"}",
		  "transport");
	CHECK_BAD("{\"transport\":\"sip\",\"mailbox\":\"b@x.org\"}", "subscriber");
	CHECK_BAD("{\"transport\":\"sip\",\"subscriber\":\"\",\"mailbox\":\"b@x.org\"}",
		  "subscriber");
	CHECK_BAD("{\"transport\":\"sip\",\"subscriber\":\"a\\nb\",\"mailbox\":\"b@x.org\"}",
		  "subscriber");
	CHECK_BAD("{\"transport\":\"sip\",\"subscriber\":\"b@x.org\"}", "mailbox");
	CHECK_BAD("{\"transport\":\"sip\",\"subscriber\":\"b@x.org\",\"mailbox\":\"nobody\"}",
		  "mailbox");
	CHECK_BAD("{\"transport\":\"sip\",\"subscriber\":\"b@x.org\",\"mailbox\":\"b@x.org//\"}",
		  "mailbox");
	CHECK_BAD(OK_START ",\"depth\":\"deep\"}", "depth");
	CHECK_BAD(OK_START ",\"events\":[\"MessageNew\",\"Nope\"]}", "events");
	CHECK_BAD(OK_START ",\"events\":[]}", "events");
	CHECK_BAD(OK_START ",\"events\":\"MessageNew\"}", "events");
	CHECK_BAD(OK_START ",\"expires\":0}", "expires");
	CHECK_BAD(OK_START ",\"expires\":\"60\"}", "expires");
	CHECK_BAD(OK_START ",\"expires\":1.5}", "expires");
	CHECK_BAD(OK_START ",\"expires\":99999999999}", "expires");
	CHECK_BAD(OK_START ",\"heartbeat\":2}", "heartbeat");
	CHECK_BAD(OK_START ",\"heartbeat\":-1}", "heartbeat");
	CHECK_BAD(OK_START ",\"expirez\":60}", "expirez");
	CHECK_EQ(sub_parse(OK_START ",\"heartbeat\":0,\"target\":null}", &s, err), 0);
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void test_sub_json(void)
{
	struct sub_spec s;
	struct json_object *o, *ev;
	char err[200];

	CHECK_EQ(sub_parse("{\"transport\":\"xmpp\",\"subscriber\":\"b@x.org\","
			   "\"mailbox\":\"b@x.org/INBOX\",\"events\":[\"FlagsSet\"],"
			   "\"expires\":100}",
			   &s, err),
		 0);
	s.id = 77;
	o = admin_api_sub_json(&s, 2, NOW + 40);
	CHECK_STR(jstr(o, "id"), "2-77");
	CHECK_STR(jstr(o, "transport"), "xmpp");
	CHECK_STR(jstr(o, "mailbox"), "b@x.org/INBOX");
	CHECK_STR(jstr(o, "account"), "b@x.org");
	CHECK_STR(jstr(o, "path"), "INBOX");
	CHECK_STR(jstr(o, "depth"), "exact");
	CHECK_STR(jstr(o, "expires"), "60");
	CHECK_STR(jstr(o, "target"), "b@x.org");
	CHECK(json_object_object_get_ex(o, "events", &ev));
	CHECK_EQ(json_object_array_length(ev), 1);
	CHECK_STR(json_object_get_string(json_object_array_get_idx(ev, 0)), "FlagsSet");
	json_object_put(o);

	/* Filter 0 lists every known type; the account root shows as the
	 * account alone. */
	s.events = 0;
	s.path[0] = '\0';
	o = admin_api_sub_json(&s, 0, NOW);
	CHECK_STR(jstr(o, "mailbox"), "b@x.org");
	CHECK(json_object_object_get_ex(o, "events", &ev));
	CHECK_EQ(json_object_array_length(ev), 19);
	json_object_put(o);
}

static void test_grants(void)
{
	struct grant g;
	struct json_object *o;
	char err[200];
	const char *ok = "{\"account\":\"al@EX.com\",\"path\":\"inbox\",\"grantee\":\"@ex.net\","
			 "\"rights\":[\"subscribe\"]}";

	CHECK_EQ(admin_api_grant_parse(ok, strlen(ok), &g, err, sizeof(err)), 0);
	CHECK_STR(g.account, "al@ex.com");
	CHECK_STR(g.path, "INBOX");
	CHECK_STR(g.grantee, "@ex.net");
	CHECK_EQ(g.rights, GRANT_RIGHT_SUBSCRIBE);
	o = admin_api_grant_json(&g);
	CHECK_STR(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		  "{\"account\":\"al@ex.com\",\"path\":\"INBOX\",\"grantee\":\"@ex.net\","
		  "\"rights\":[\"subscribe\"]}");
	json_object_put(o);

	ok = "{\"account\":\"al@ex.com\",\"grantee\":\"bob@ex.net\"}";
	CHECK_EQ(admin_api_grant_parse(ok, strlen(ok), &g, err, sizeof(err)), 0);
	CHECK_STR(g.path, "");
	CHECK_EQ(g.rights, GRANT_RIGHT_SUBSCRIBE);
	ok = "{\"account\":\"al@ex.com\",\"grantee\":\"bob@ex.net\",\"rights\":[\"admin\"]}";
	CHECK_EQ(admin_api_grant_parse(ok, strlen(ok), &g, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "rights", 6) == 0);
	ok = "{\"account\":\"al@ex.com\"}";
	CHECK_EQ(admin_api_grant_parse(ok, strlen(ok), &g, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "grantee", 7) == 0);
	ok = "{\"account\":\"alex.com\",\"grantee\":\"b\"}";
	CHECK_EQ(admin_api_grant_parse(ok, strlen(ok), &g, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "account", 7) == 0);
	ok = "{\"account\":\"al@ex.com\",\"grantee\":\"@\"}";
	CHECK_EQ(admin_api_grant_parse(ok, strlen(ok), &g, err, sizeof(err)), -EINVAL);

	CHECK_EQ(admin_api_grant_query("account=al%40ex.com&path=INBOX&grantee=bob%40ex.net", &g,
				       err, sizeof(err)),
		 0);
	CHECK_STR(g.account, "al@ex.com");
	CHECK_STR(g.path, "INBOX");
	CHECK_STR(g.grantee, "bob@ex.net");
	CHECK_EQ(admin_api_grant_query("account=al@ex.com&grantee=b", &g, err, sizeof(err)), 0);
	CHECK_STR(g.path, "");
	CHECK_EQ(admin_api_grant_query("grantee=b", &g, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "account", 7) == 0);
	CHECK_EQ(admin_api_grant_query("account=al@ex.com", &g, err, sizeof(err)), -EINVAL);
	CHECK(strncmp(err, "grantee", 7) == 0);
}

static void test_cred_parse(void)
{
	struct sip_cred c;
	struct json_object *o;
	char err[200];
	const char *pw = "{\"password\": \"s3cret\"}";
	const char *h = "{\"ha1_md5\": \"0123456789abcdef0123456789ABCDEF\"}";

	CHECK_EQ(admin_api_cred_parse("bob@example.com", pw, strlen(pw), &c, err, sizeof(err)), 0);
	CHECK_STR(c.user, "bob");
	CHECK_STR(c.realm, "example.com");
	CHECK(strlen(c.ha1_md5) == 32 && strlen(c.ha1_sha256) == 64);
	o = admin_api_cred_json(&c);
	CHECK_STR(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		  "{\"user\":\"bob\",\"realm\":\"example.com\",\"algorithms\":[\"SHA-256\","
		  "\"MD5\"]}");
	json_object_put(o);
	CHECK_EQ(admin_api_cred_parse("bob@example.com", h, strlen(h), &c, err, sizeof(err)), 0);
	CHECK_STR(c.ha1_md5, "0123456789abcdef0123456789abcdef");
	CHECK_STR(c.ha1_sha256, "");
	CHECK_EQ(admin_api_cred_parse("bob@example.com", NULL, 0, &c, err, sizeof(err)), 0);
	CHECK_EQ(admin_api_cred_parse("bob", pw, strlen(pw), &c, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "credential: expected <user>@<realm>");
	CHECK_EQ(admin_api_cred_parse("bob@example.com", "{\"password\": 1}", 15, &c, err,
				      sizeof(err)),
		 -EINVAL);
	CHECK_STR(err, "password: expected a string");
	CHECK_EQ(admin_api_cred_parse("bob@example.com", "{}", 2, &c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "give password") != NULL);
	CHECK_EQ(admin_api_cred_parse("b\"ob@example.com", pw, strlen(pw), &c, err, sizeof(err)),
		 -EINVAL);
	CHECK(strncmp(err, "user:", 5) == 0);
}

static void test_status(void)
{
	size_t len;
	char *b;

	CHECK_EQ(admin_api_status_of(0), 200);
	CHECK_EQ(admin_api_status_of(-EACCES), 403);
	CHECK_EQ(admin_api_status_of(-ENOENT), 404);
	CHECK_EQ(admin_api_status_of(-EINVAL), 400);
	CHECK_EQ(admin_api_status_of(-ENOSPC), 507);
	CHECK_EQ(admin_api_status_of(-EAGAIN), 503);
	CHECK_EQ(admin_api_status_of(-ETIMEDOUT), 504);
	CHECK_EQ(admin_api_status_of(-EIO), 500);
	b = admin_api_error_body("no \"such\" thing", &len);
	CHECK_STR(b, "{\"error\":\"no \\\"such\\\" thing\"}\n");
	CHECK_EQ(len, strlen(b));
	free(b);
}

/* Strict Prometheus text format 0.0.4 check: every line is HELP, TYPE or a
 * sample; a family's HELP and TYPE come once, before its samples; counters
 * end in _total; sample names belong to the current family. */
static int prom_check(const char *text, bool verbose)
{
	regex_t help, type, sample;
	char *copy = strdup(text), *save, *line;
	char family[128] = "", seen[64][128];
	int nseen = 0, bad = 0;

	regcomp(&help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]+$", REG_EXTENDED);
	regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$", REG_EXTENDED);
	regcomp(&sample,
		"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
		"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*)\\})? [0-9]+$",
		REG_EXTENDED);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[3];

		if (regexec(&help, line, 2, m, 0) == 0) {
			snprintf(family, sizeof(family), "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
				 line + m[1].rm_so);
			for (int i = 0; i < nseen; i++)
				bad += !strcmp(seen[i], family);
			if (nseen < 64)
				strcpy(seen[nseen++], family);
		} else if (regexec(&type, line, 3, m, 0) == 0) {
			bool counter = line[m[2].rm_so] == 'c';
			size_t n = (size_t)(m[1].rm_eo - m[1].rm_so);

			bad += strncmp(line + m[1].rm_so, family, n) != 0;
			bad += counter !=
			       (n > 6 && !strncmp(line + m[1].rm_so + n - 6, "_total", 6));
		} else if (regexec(&sample, line, 2, m, 0) == 0) {
			bad += (size_t)(m[1].rm_eo - m[1].rm_so) != strlen(family) ||
			       strncmp(line, family, strlen(family)) != 0;
		} else {
			bad++;
		}
		if (bad && verbose)
			fprintf(stderr, "  bad metrics line: %s\n", line);
		if (bad)
			break;
	}
	regfree(&help);
	regfree(&type);
	regfree(&sample);
	free(copy);
	return bad;
}

static void test_prom_format(void)
{
	struct admin_buf b = { 0 };
	char esc[64];

	admin_prom_escape("a\"b\\c\nd", esc, sizeof(esc));
	CHECK_STR(esc, "a\\\"b\\\\c\\nd");
	admin_prom_escape("abcdef", esc, 5);
	CHECK_STR(esc, "abcd");
	admin_prom_escape("ab\"c", esc, 4);
	CHECK_STR(esc, "ab");
	admin_prom_family(&b, "x_total", "counter", "An x.");
	admin_prom_sample(&b, "x_total", "shard=\"0\"", 5);
	admin_prom_sample(&b, "x_total", "", 18446744073709551615ull);
	CHECK_STR(b.p, "# HELP x_total An x.\n# TYPE x_total counter\nx_total{shard=\"0\"} 5\n"
		       "x_total 18446744073709551615\n");
	CHECK_EQ(prom_check(b.p, true), 0);
	CHECK(prom_check("# TYPE y_total gauge\n", false) != 0);
	CHECK(prom_check("# HELP y x\n# TYPE y counter\n", false) != 0);
	CHECK(prom_check("# HELP y x\n# TYPE y gauge\nz 1\n", false) != 0);
	CHECK(prom_check("# HELP y x\n# TYPE y gauge\ny{a=\"1\" 1\n", false) != 0);
	free(b.p);
	/* Large outputs grow the buffer. */
	b = (struct admin_buf){ 0 };
	for (int i = 0; i < 5000; i++)
		admin_buf_printf(&b, "%d\n", i);
	CHECK_EQ(b.len, strlen(b.p));
	CHECK(strstr(b.p, "\n4999\n") != NULL);
	free(b.p);
}

/* Real segments for 2 shards and the router, then the views and /metrics. */
static void test_segments(void)
{
	static struct pnad_conf conf;
	struct pnad_shard_rt shards[2];
	struct pnad_rt rt = { .conf = &conf, .nshards = 2, .shards = shards };
	struct admin_views v = { .rt = &rt };
	struct admin_self_stats self = { .conns_open = 1, .responses = { [2] = 3 } };
	struct admin_buf b = { 0 };
	struct json_object *o, *sh;
	char name[64];

	memset(shards, 0, sizeof(shards));
	conf.nstores = 1;
	strcpy(conf.stores[0].id, "st\"1");
	conf.max_connections = 10;
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "/pnatest%d.shard.%d", (int)getpid(), i);
		CHECK_EQ(shard_seg_open(name, (uint32_t)i, 2, 64 << 10, 64, &shards[i].seg), 0);
		shm_seg_unlink(name);
	}
	snprintf(name, sizeof(name), "/pnatest%d.router", (int)getpid());
	CHECK_EQ(router_seg_open(name, &conf, &rt.router_seg), 0);
	shm_seg_unlink(name);

	CHECK_EQ(admin_view_mailbox(&v, "a@b.c", "INBOX", &o), -ENOENT);
	o = admin_view_stats(&v);
	CHECK_STR(jstr(o, "shards"), "2");
	CHECK(json_object_object_get_ex(o, "shard", &sh));
	CHECK_EQ(json_object_array_length(sh), 2);
	CHECK_STR(jstr(json_object_array_get_idx(sh, 1), "ring_bytes"), "65536");
	json_object_put(o);
	o = admin_view_account(&v, "a@b.c");
	CHECK(json_object_object_get_ex(o, "mailboxes", &sh));
	CHECK_EQ(json_object_array_length(sh), 0);
	CHECK_EQ(strtol(jstr(o, "owner_shard"), NULL, 10), admin_view_owner(&rt, "a@b.c"));
	json_object_put(o);

	admin_metrics_render(&v, &self, &b);
	CHECK_EQ(prom_check(b.p, true), 0);
	CHECK(strstr(b.p, "\npnad_shard_ring_capacity_bytes{shard=\"1\"} 65536\n") != NULL);
	CHECK(strstr(b.p, "\npnad_store_connected{store=\"st\\\"1\"} 0\n") != NULL);
	CHECK(strstr(b.p, "\npnad_admin_responses_total{code=\"2xx\"} 3\n") != NULL);
	CHECK(strstr(b.p, "pnad_sub") == NULL); /* no subscription segments */
	free(b.p);
	for (int i = 0; i < 2; i++)
		shm_seg_close(&shards[i].seg);
	shm_seg_close(&rt.router_seg);
}

int main(void)
{
	test_route();
	test_bearer();
	test_id();
	test_sub_parse();
	test_sub_json();
	test_grants();
	test_cred_parse();
	test_status();
	test_prom_format();
	test_segments();
	return check_summary();
}
