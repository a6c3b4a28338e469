/* fuzz_sub_json: libFuzzer target for the hand-written JSON reader of
 * shard/sub_json.c, checked against json-c: whatever it accepts, json-c
 * must read to the same values; anything it writes back it reads again to
 * the same struct. Any bytes in; no memory error, no disagreement out. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shard/sub_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_str(struct json_object *o, const char *k, const char *want)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v)) {
		if (want[0])
			abort(); /* absent is only ever read as "" */
		return;
	}
	if (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), want))
		abort();
}

static void same_num(struct json_object *o, const char *k, uint64_t want, uint64_t absent)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v)) {
		if (want != absent)
			abort();
		return;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_uint64(v) != want)
		abort();
}

static void check_sub(struct json_object *o, const struct sub_spec *s)
{
	static char buf[SUB_JSON_MAX];
	static struct sub_spec again;
	const char *why;
	size_t n;

	same_num(o, "id", s->id, 0);
	same_num(o, "transport", s->transport, 0);
	same_num(o, "depth", s->depth, 0);
	same_num(o, "events", s->events, 0);
	same_num(o, "expires", s->expires, 0);
	same_num(o, "heartbeat", s->heartbeat, 0);
	same_str(o, "account", s->account);
	same_str(o, "path", s->path);
	same_str(o, "subscriber", s->subscriber);
	same_str(o, "target", s->target);
	n = sub_json_put_sub(buf, s);
	if (n > sizeof(buf) || sub_json_get_sub(buf, n, &again, &why) ||
	    memcmp(&again, s, sizeof(again)))
		abort();
}

static void check_grant(struct json_object *o, const struct grant *g)
{
	same_str(o, "account", g->account);
	same_str(o, "path", g->path);
	same_str(o, "grantee", g->grantee);
	same_num(o, "rights", g->rights, GRANT_RIGHT_SUBSCRIBE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sub_spec s;
	static struct grant g;
	const char *why = NULL;
	struct json_tokener *tok;
	struct json_object *o;
	bool sub_ok, grant_ok;

	sub_ok = sub_json_get_sub((const char *)data, size, &s, &why) == 0;
	if (!sub_ok && !why)
		abort();
	why = NULL;
	grant_ok = sub_json_get_grant((const char *)data, size, &g, &why) == 0;
	if (!grant_ok && !why)
		abort();
	if ((!sub_ok && !grant_ok) || size > INT32_MAX)
		return 0;
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (!o || json_tokener_get_parse_end(tok) != size ||
	    !json_object_is_type(o, json_type_object))
		abort();
	if (sub_ok)
		check_sub(o, &s);
	if (grant_ok)
		check_grant(o, &g);
	json_object_put(o);
	json_tokener_free(tok);
	return 0;
}
