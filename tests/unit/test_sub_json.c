/* test_sub_json: subscriptions and grants survive the JSON round trip with
 * every byte that can reach them (quotes, backslashes, newlines, control
 * characters, non-ASCII, braces); json-c reads what the writer writes to the
 * same values; values from another writer (members reordered, optional ones
 * absent, unknown ones of any shape, \u escapes) are read as json-c reads
 * them; malformed values are refused with a reason. */
#include <errno.h>
#include <stdlib.h>
#include <json-c/json.h>
#include <string.h>

#include "check.h"
#include "shard/sub_json.h"

static void fill_spec(struct sub_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->id = 18446744073709551615ull;
	s->transport = SUB_SIP;
	s->depth = SUB_SUBTREE;
	s->events = 0xffffffffu;
	s->expires = 1700000000u;
	s->heartbeat = 3600;
	strcpy(s->account, "we{ird}\"q\\@example.com");
	strcpy(s->path, "INBOX/\xc3\xa9t\xc3\xa9/x\x7f");
	strcpy(s->subscriber, "sip:bob@example.net");
	strcpy(s->target, "call-1@host\nltag\nrtag\nsip:bob@192.0.2.1:5060\n<sip:p1;lr>,<sip:p2;lr>"
			  "\t\x01\x1f/\b\f\r");
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "(absent)";
}

static uint64_t jnum(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 12345;
}

/* json-c reads our output to the same values. */
static void check_json_c(const char *buf, size_t n, const struct sub_spec *s)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, buf, (int)n);

	CHECK(o != NULL && json_tokener_get_parse_end(tok) == n);
	if (o) {
		CHECK_EQ(jnum(o, "id"), s->id);
		CHECK_EQ(jnum(o, "transport"), s->transport);
		CHECK_EQ(jnum(o, "depth"), s->depth);
		CHECK_EQ(jnum(o, "events"), s->events);
		CHECK_EQ(jnum(o, "expires"), s->expires);
		CHECK_EQ(jnum(o, "heartbeat"), s->heartbeat);
		CHECK_STR(jstr(o, "account"), s->account);
		CHECK_STR(jstr(o, "path"), s->path);
		CHECK_STR(jstr(o, "subscriber"), s->subscriber);
		CHECK_STR(jstr(o, "target"), s->target);
	}
	json_object_put(o);
	json_tokener_free(tok);
}

static void test_sub_round_trip(void)
{
	char buf[SUB_JSON_MAX];
	struct sub_spec in, out;
	const char *why = NULL;
	size_t n;

	fill_spec(&in);
	n = sub_json_put_sub(buf, &in);
	CHECK(n > 0 && n < sizeof(buf));
	CHECK_EQ(sub_json_get_sub(buf, n, &out, &why), 0);
	CHECK(memcmp(&in, &out, sizeof(in)) == 0);
	check_json_c(buf, n, &in);
	/* Exactly what the header promises for a plain spec. */
	memset(&in, 0, sizeof(in));
	in.id = 42;
	in.transport = SUB_XMPP;
	strcpy(in.account, "a@x.org");
	strcpy(in.subscriber, "b@y.org");
	n = sub_json_put_sub(buf, &in);
	buf[n] = '\0';
	CHECK_STR(buf, "{\"id\":42,\"transport\":2,\"depth\":0,\"events\":0,\"expires\":0,"
		       "\"heartbeat\":0,\"account\":\"a@x.org\",\"path\":\"\","
		       "\"subscriber\":\"b@y.org\",\"target\":\"\"}");
	/* The worst case fits SUB_JSON_MAX: every byte a control character. */
	memset(&in, 0, sizeof(in));
	memset(in.account, 1, sizeof(in.account) - 1);
	memset(in.path, 1, sizeof(in.path) - 1);
	memset(in.subscriber, 1, sizeof(in.subscriber) - 1);
	memset(in.target, 1, sizeof(in.target) - 1);
	in.transport = SUB_SIP;
	in.depth = 1;
	in.id = 1;
	n = sub_json_put_sub(buf, &in);
	CHECK(n <= sizeof(buf));
	CHECK_EQ(sub_json_get_sub(buf, n, &out, &why), 0);
	CHECK(memcmp(&in, &out, sizeof(in)) == 0);
	check_json_c(buf, n, &in);
}

static void test_grant_round_trip(void)
{
	char buf[SUB_JSON_MAX];
	struct grant in, out;
	const char *why = NULL;
	size_t n;

	memset(&in, 0, sizeof(in));
	strcpy(in.account, "alice@example.com");
	strcpy(in.path, "");
	strcpy(in.grantee, "@\"partner\".net");
	in.rights = GRANT_RIGHT_SUBSCRIBE;
	n = sub_json_put_grant(buf, &in);
	CHECK_EQ(sub_json_get_grant(buf, n, &out, &why), 0);
	CHECK(memcmp(&in, &out, sizeof(in)) == 0);
}

static int get_sub(const char *s, struct sub_spec *out, const char **why)
{
	return sub_json_get_sub(s, strlen(s), out, why);
}

static void test_other_writers(void)
{
	static const char gj[] = "{\"account\":\"a@b\",\"path\":\"\",\"grantee\":\"c@d\"}";
	struct sub_spec s;
	struct grant g;
	const char *why = NULL;

	CHECK_EQ(get_sub(" {\"subscriber\" : \"x@y\", \"path\":\"INBOX\",\"new\":[1,{\"a\":[]},"
			 "-2.5e+3,true,false,null,\"s\\\"\"],\"account\":\"a@b\",\r\n"
			 "\"transport\":2,\"id\":7,\"obj\":{}} \n",
			 &s, &why),
		 0);
	CHECK_EQ(s.id, 7);
	CHECK_EQ(s.depth, 0);
	CHECK_STR(s.target, "");
	CHECK_STR(s.path, "INBOX");
	CHECK_EQ(sub_json_get_grant(gj, sizeof(gj) - 1, &g, &why), 0);
	CHECK_EQ(g.rights, GRANT_RIGHT_SUBSCRIBE);
	/* \u escapes (a surrogate pair is one code point) and \/, as json-c. */
	CHECK_EQ(get_sub("{\"id\":1,\"transport\":1,\"account\":\"\\u00e9\\ud83d\\ude00@b\","
			 "\"path\":\"a\\/b\",\"subscriber\":\"s\",\"\\u0069d\":9}",
			 &s, &why),
		 0);
	CHECK_STR(s.account, "\xc3\xa9\xf0\x9f\x98\x80@b");
	CHECK_STR(s.path, "a/b");
	CHECK_EQ(s.id, 9); /* the last of duplicate members wins */
}

/* Every proper prefix of a valid value is refused, and read within bounds
 * (each is copied to a heap block of exactly its size for ASan). */
static void check_prefixes(void)
{
	char buf[SUB_JSON_MAX];
	struct sub_spec s;
	const char *why;
	unsigned bad = 0;
	size_t n;

	fill_spec(&s);
	n = sub_json_put_sub(buf, &s);
	for (size_t k = 0; k < n; k++) {
		char *p = malloc(k ? k : 1);

		memcpy(p, buf, k);
		bad += sub_json_get_sub(p, k, &s, &why) != -EBADMSG;
		free(p);
	}
	CHECK_EQ(bad, 0);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"42",
		"{\"id\":1,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s\"} "
		"x",
		"{\"id\":1,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s\","
		"}",
		"{\"id\":1 \"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s\"}",
		/* missing, wrong type, out of range */
		"{\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s\"}",
		"{\"id\":0,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s\"}",
		"{\"id\":-1,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":01,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1.0,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1e3,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":18446744073709551616,\"transport\":1,\"account\":\"a@b\",\"path\":\"\","
		"\"subscriber\":\"s\"}",
		"{\"id\":\"1\",\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":3,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s\"}",
		"{\"id\":1,\"transport\":1,\"depth\":2,\"account\":\"a@b\",\"path\":\"\","
		"\"subscriber\":\"s\"}",
		"{\"id\":1,\"transport\":1,\"expires\":4294967296,\"account\":\"a@b\",\"path\":"
		"\"\","
		"\"subscriber\":\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":7,\"path\":\"\",\"subscriber\":\"s\"}",
		/* strings: U+0000, lone surrogates, bad escapes, raw control bytes */
		"{\"id\":1,\"transport\":1,\"account\":\"a\\u0000b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":\"a\\ud800b\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":\"a\\udc00\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":\"a\\u12\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":\"a\\x\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":\"a\nb\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"id\":1,\"transport\":1,\"account\":\"a@b\",\"path\":\"\",\"subscriber\":\"s",
		/* unknown members must still be JSON */
		"{\"x\":[1,,2],\"id\":1,\"transport\":1,\"account\":\"a\",\"path\":\"\","
		"\"subscriber\":\"s\"}",
		"{\"x\":tru,\"id\":1,\"transport\":1,\"account\":\"a\",\"path\":\"\","
		"\"subscriber\":\"s\"}",
		"{\"x\":-,\"id\":1,\"transport\":1,\"account\":\"a\",\"path\":\"\",\"subscriber\":"
		"\"s\"}",
		"{\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]],\"id\":1,\"transport\":1,"
		"\"account\":\"a\",\"path\":\"\",\"subscriber\":\"s\"}",
	};
	char big[600];
	struct sub_spec s;
	struct grant g;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK_EQ(get_sub(bad[i], &s, &why), -EBADMSG);
		CHECK(why != NULL);
	}
	/* An account longer than the struct holds. */
	snprintf(big, sizeof(big),
		 "{\"id\":1,\"transport\":1,\"account\":\"%0200d@b\",\"path\":\"\","
		 "\"subscriber\":\"s\"}",
		 0);
	CHECK_EQ(get_sub(big, &s, &why), -EBADMSG);
	CHECK_EQ(sub_json_get_grant("{\"account\":\"a\",\"path\":\"\",\"grantee\":\"\"}", 38, &g,
				    &why),
		 -EBADMSG);
	check_prefixes();
}

int main(void)
{
	test_sub_round_trip();
	test_grant_round_trip();
	test_other_writers();
	test_malformed();
	return check_summary();
}
