/* admin_api: routing, bearer check, API ids and the JSON forms of
 * subscriptions and grants, for the admin process. Pure functions. */
#include "admin/admin_api.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "egress/sip/sip_cred.h"
#include "lib/evrec.h"
#include "lib/names.h"
#include "lib/pct.h"

#define NEVENT_TYPES 32 /* bits of sub_spec.events */

int admin_api_query(const char *query, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
			return pct_decode_form(p + klen + 1, n - klen - 1, out, cap);
		if (n == klen && strncmp(p, key, klen) == 0)
			return pct_decode_form("", 0, out, cap);
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

struct route_row {
	const char *prefix; /* exact path, or a prefix when it ends in '/' */
	const char *method;
	enum admin_route_kind kind;
};

static const struct route_row routes[] = {
	{ "/healthz", "GET", ADMIN_R_HEALTHZ },
	{ "/metrics", "GET", ADMIN_R_METRICS },
	{ "/v1/subscriptions", "POST", ADMIN_R_SUB_CREATE },
	{ "/v1/subscriptions", "GET", ADMIN_R_SUB_LIST },
	{ "/v1/subscriptions/", "GET", ADMIN_R_SUB_GET },
	{ "/v1/subscriptions/", "DELETE", ADMIN_R_SUB_DELETE },
	{ "/v1/grants", "POST", ADMIN_R_GRANT_ADD },
	{ "/v1/grants", "DELETE", ADMIN_R_GRANT_DELETE },
	{ "/v1/grants", "GET", ADMIN_R_GRANT_LIST },
	{ "/v1/mailboxes/", "GET", ADMIN_R_MAILBOX },
	{ "/v1/accounts/", "GET", ADMIN_R_ACCOUNT },
	{ "/v1/shards", "GET", ADMIN_R_SHARDS },
	{ "/v1/stats", "GET", ADMIN_R_STATS },
	{ "/v1/sip/credentials/", "PUT", ADMIN_R_CRED_PUT },
	{ "/v1/sip/credentials/", "DELETE", ADMIN_R_CRED_DELETE },
	{ "/v1/sip/credentials", "GET", ADMIN_R_CRED_LIST },
};

int admin_api_route(const char *method, const char *path, struct admin_route *r, const char **why)
{
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	bool path_known = false;

	memset(r, 0, sizeof(*r));
	r->query = q ? q + 1 : "";
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route_row *row = &routes[i];
		size_t n = strlen(row->prefix);
		bool prefix = row->prefix[n - 1] == '/';

		if (prefix ? (plen <= n || strncmp(path, row->prefix, n) != 0)
			   : (plen != n || strncmp(path, row->prefix, n) != 0))
			continue;
		path_known = true;
		if (strcmp(method, row->method) != 0)
			continue;
		r->kind = row->kind;
		if (prefix && pct_decode(path + n, plen - n, r->arg, sizeof(r->arg)) < 0) {
			*why = "bad percent-encoding in the path";
			return 400;
		}
		return 0;
	}
	*why = path_known ? "method not allowed on this resource" : "no such resource";
	return path_known ? 405 : 404;
}

bool admin_api_bearer_ok(const char *authz, const char *token)
{
	size_t tlen = strlen(token), glen;
	unsigned diff;

	if (!authz || !tlen || strncasecmp(authz, "Bearer ", 7) != 0)
		return false;
	authz += 7;
	while (*authz == ' ')
		authz++;
	glen = strlen(authz);
	while (glen && (authz[glen - 1] == ' ' || authz[glen - 1] == '\t'))
		glen--;
	/* Same work whatever the first differing byte is. */
	diff = glen != tlen;
	for (size_t i = 0; i < glen; i++)
		diff |= (unsigned char)authz[i] ^ (unsigned char)token[i % tlen];
	return diff == 0;
}

int admin_api_id_format(char *buf, size_t cap, uint32_t shard, uint64_t id)
{
	return snprintf(buf, cap, "%" PRIu32 "-%" PRIu64, shard, id);
}

/* A plain decimal (no sign, no spaces) of [s, end). */
static int parse_dec(const char *s, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end || end - s > 20)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int admin_api_id_parse(const char *s, uint32_t nshards, uint32_t *shard, uint64_t *id)
{
	const char *dash = strchr(s, '-');
	uint64_t sh, v;

	if (!dash || parse_dec(s, dash, UINT32_MAX, &sh) < 0 ||
	    parse_dec(dash + 1, dash + 1 + strlen(dash + 1), UINT64_MAX, &v) < 0 || v == 0)
		return -EINVAL;
	if (sh >= nshards)
		return -ERANGE;
	*shard = (uint32_t)sh;
	*id = v;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int admin_api_mailbox_parse(const char *arg, char *acct, char *path, bool allow_path, char *err,
			    size_t errlen)
{
	const char *p, *why;
	size_t alen = names_split_key(arg, &p);

	if (names_account(arg, alen, acct, NAMES_ACCOUNT_MAX + 1, &why) < 0)
		return fail(err, errlen, "%s", why);
	path[0] = '\0';
	if (*p && !allow_path)
		return fail(err, errlen, "expected an account, not a mailbox");
	if (*p && names_path(p, strlen(p), path, NAMES_KEY_MAX + 1, &why) < 0)
		return fail(err, errlen, "%s", why);
	if (strlen(acct) + 1 + strlen(path) > NAMES_KEY_MAX)
		return fail(err, errlen, "account/mailbox is too long");
	return 0;
}

/* The body as a JSON object, or NULL with err set. */
static struct json_object *parse_object(const char *body, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		abort();
	o = len ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
	if (!o || tok->char_offset != (int)len) {
		if (!len || o)
			fail(err, errlen, "body: %s",
			     o ? "trailing data after the JSON object"
			       : "empty, expected a JSON object");
		else
			fail(err, errlen, "body: invalid JSON (%s)",
			     json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		o = NULL;
	} else if (!json_object_is_type(o, json_type_object)) {
		fail(err, errlen, "body: expected a JSON object");
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Refuse any member not in `known` (a typo must not pass silently). */
static int only_known(struct json_object *o, const char *const *known, char *err, size_t errlen)
{
	json_object_object_foreach(o, k, v)
	{
		size_t i;

		(void)v;
		for (i = 0; known[i] && strcmp(known[i], k) != 0; i++)
			;
		if (!known[i])
			return fail(err, errlen, "%s: unknown field", k);
	}
	return 0;
}

/* String member `k` into out (cap bytes): 1 when set, 0 when absent (out
 * untouched), -EINVAL when not a string, too long, empty or with control
 * characters. */
static int get_str(struct json_object *o, const char *k, char *out, size_t cap, char *err,
		   size_t errlen)
{
	struct json_object *v;
	const char *s;
	size_t n;

	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(err, errlen, "%s: expected a string", k);
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n >= cap)
		return fail(err, errlen, "%s: longer than %zu bytes", k, cap - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return fail(err, errlen, "%s: has a control character", k);
	memcpy(out, s, n + 1);
	return 1;
}

/* Integer member `k` within [lo, hi]: 1 set, 0 absent, -EINVAL. */
static int get_int(struct json_object *o, const char *k, int64_t lo, int64_t hi, int64_t *out,
		   char *err, size_t errlen)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(err, errlen, "%s: expected an integer", k);
	n = json_object_get_int64(v);
	if (n < lo || n > hi)
		return fail(err, errlen, "%s: must be %lld..%lld", k, (long long)lo, (long long)hi);
	*out = n;
	return 1;
}

static int parse_events(struct json_object *o, uint32_t *mask, char *err, size_t errlen)
{
	struct json_object *v;
	size_t n;

	*mask = 0;
	if (!json_object_object_get_ex(o, "events", &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(err, errlen, "events: expected an array of event type names");
	n = json_object_array_length(v);
	if (n == 0)
		return fail(err, errlen, "events: empty (omit it for every type)");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		int t = json_object_is_type(e, json_type_string)
				? evrec_type_parse(json_object_get_string(e))
				: -1;

		if (t <= 0 || t >= NEVENT_TYPES)
			return fail(err, errlen, "events: unknown event type %s",
				    json_object_to_json_string(e));
		*mask |= 1u << t;
	}
	return 0;
}

static int parse_enum(struct json_object *o, const char *k, const char *a, const char *b, int dflt,
		      int *out, char *err, size_t errlen)
{
	char s[64];
	int rc = get_str(o, k, s, sizeof(s), err, errlen);

	if (rc < 0)
		return rc;
	if (rc == 0 && dflt >= 0) {
		*out = dflt;
		return 0;
	}
	if (rc == 0)
		return fail(err, errlen, "%s: required (\"%s\" or \"%s\")", k, a, b);
	if (strcmp(s, a) != 0 && strcmp(s, b) != 0)
		return fail(err, errlen, "%s: expected \"%s\" or \"%s\"", k, a, b);
	*out = strcmp(s, a) == 0 ? 0 : 1;
	return 0;
}

static int sub_fields(struct json_object *o, uint32_t now, struct sub_spec *s, char *err,
		      size_t errlen)
{
	static const char *const known[] = { "transport", "subscriber", "mailbox",
					     "depth",	  "events",	"expires",
					     "heartbeat", "target",	NULL };
	char key[NAMES_KEY_MAX + 1];
	int64_t expires = ADMIN_EXPIRES_DEFAULT, hb = 0;
	int transport, depth, rc;

	if (only_known(o, known, err, errlen) < 0 ||
	    parse_enum(o, "transport", "sip", "xmpp", -1, &transport, err, errlen) < 0)
		return -EINVAL;
	rc = get_str(o, "subscriber", s->subscriber, sizeof(s->subscriber), err, errlen);
	if (rc <= 0 || !s->subscriber[0])
		return rc < 0 ? rc : fail(err, errlen, "subscriber: required");
	rc = get_str(o, "mailbox", key, sizeof(key), err, errlen);
	if (rc <= 0)
		return rc < 0 ? rc : fail(err, errlen, "mailbox: required (account[/path])");
	if (admin_api_mailbox_parse(key, s->account, s->path, true, key, sizeof(key)) < 0)
		return fail(err, errlen, "mailbox: %s", key);
	if (parse_enum(o, "depth", "exact", "subtree", 0, &depth, err, errlen) < 0 ||
	    parse_events(o, &s->events, err, errlen) < 0 ||
	    get_int(o, "expires", 1, ADMIN_EXPIRES_MAX, &expires, err, errlen) < 0 ||
	    get_int(o, "heartbeat", 0, ADMIN_HEARTBEAT_MAX, &hb, err, errlen) < 0)
		return -EINVAL;
	if (hb && hb < ADMIN_HEARTBEAT_MIN)
		return fail(err, errlen, "heartbeat: 0 (none) or %d..%d", ADMIN_HEARTBEAT_MIN,
			    ADMIN_HEARTBEAT_MAX);
	rc = get_str(o, "target", s->target, sizeof(s->target), err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0 || !s->target[0])
		strcpy(s->target, s->subscriber);
	s->transport = transport ? SUB_XMPP : SUB_SIP;
	s->depth = depth ? SUB_SUBTREE : SUB_EXACT;
	s->expires = now + (uint32_t)expires;
	s->heartbeat = (uint32_t)hb;
	return 0;
}

int admin_api_sub_parse(const char *body, size_t len, uint32_t now, struct sub_spec *out, char *err,
			size_t errlen)
{
	struct json_object *o = parse_object(body, len, err, errlen);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!o)
		return -EINVAL;
	rc = sub_fields(o, now, out, err, errlen);
	json_object_put(o);
	return rc;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

struct json_object *admin_api_sub_json(const struct sub_spec *s, uint32_t shard, uint32_t now)
{
	struct json_object *o = json_object_new_object(), *ev = json_object_new_array();
	char buf[NAMES_ACCOUNT_MAX + NAMES_KEY_MAX + 3];

	admin_api_id_format(buf, sizeof(buf), shard, s->id);
	add_str(o, "id", buf);
	add_str(o, "transport", s->transport == SUB_XMPP ? "xmpp" : "sip");
	add_str(o, "subscriber", s->subscriber);
	snprintf(buf, sizeof(buf), "%s%s%s", s->account, s->path[0] ? "/" : "", s->path);
	add_str(o, "mailbox", buf);
	add_str(o, "account", s->account);
	add_str(o, "path", s->path);
	add_str(o, "depth", s->depth == SUB_SUBTREE ? "subtree" : "exact");
	for (unsigned t = 1; t < NEVENT_TYPES; t++) {
		bool known = strcmp(evrec_type_name(t), "Unknown") != 0;

		if (known && (!s->events || (s->events >> t) & 1u))
			json_object_array_add(ev, json_object_new_string(evrec_type_name(t)));
	}
	json_object_object_add(o, "events", ev);
	add_u64(o, "expires", s->expires > now ? s->expires - now : 0);
	add_u64(o, "expires_at", s->expires);
	add_u64(o, "heartbeat", s->heartbeat);
	add_str(o, "target", s->target);
	add_u64(o, "shard", shard);
	return o;
}

static int parse_rights(struct json_object *o, uint32_t *rights, char *err, size_t errlen)
{
	struct json_object *v;
	size_t n;

	*rights = GRANT_RIGHT_SUBSCRIBE;
	if (!json_object_object_get_ex(o, "rights", &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array) || !(n = json_object_array_length(v)))
		return fail(err, errlen,
			    "rights: expected a non-empty array, e.g. [\"subscribe\"]");
	*rights = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string) ||
		    strcmp(json_object_get_string(e), "subscribe") != 0)
			return fail(err, errlen, "rights: unknown right %s (known: \"subscribe\")",
				    json_object_to_json_string(e));
		*rights |= GRANT_RIGHT_SUBSCRIBE;
	}
	return 0;
}

/* Canonical account, path and a grantee (identity or "@domain") of a grant. */
static int grant_names(const char *acct, const char *path, struct grant *g, char *err,
		       size_t errlen)
{
	const char *why;

	if (names_account(acct, strlen(acct), g->account, sizeof(g->account), &why) < 0)
		return fail(err, errlen, "account: %s", why);
	g->path[0] = '\0';
	if (path[0] && names_path(path, strlen(path), g->path, sizeof(g->path), &why) < 0)
		return fail(err, errlen, "path: %s", why);
	if (strlen(g->account) + 1 + strlen(g->path) > NAMES_KEY_MAX)
		return fail(err, errlen, "path: account/path is too long");
	if (!g->grantee[0])
		return fail(err, errlen, "grantee: required (an identity or \"@domain\")");
	for (const char *p = g->grantee; *p; p++)
		if (*p == ' ')
			return fail(err, errlen, "grantee: has a space");
	if (g->grantee[0] == '@' && !g->grantee[1])
		return fail(err, errlen, "grantee: \"@\" without a domain");
	return 0;
}

int admin_api_grant_parse(const char *body, size_t len, struct grant *out, char *err, size_t errlen)
{
	static const char *const known[] = { "account", "path", "grantee", "rights", NULL };
	struct json_object *o = parse_object(body, len, err, errlen);
	char acct[NAMES_ACCOUNT_MAX + 1] = "", path[NAMES_KEY_MAX + 1] = "";
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!o)
		return -EINVAL;
	if (only_known(o, known, err, errlen) < 0 ||
	    get_str(o, "account", acct, sizeof(acct), err, errlen) < 0 ||
	    get_str(o, "path", path, sizeof(path), err, errlen) < 0 ||
	    get_str(o, "grantee", out->grantee, sizeof(out->grantee), err, errlen) < 0 ||
	    parse_rights(o, &out->rights, err, errlen) < 0)
		goto out;
	rc = grant_names(acct, path, out, err, errlen);
out:
	json_object_put(o);
	return rc;
}

int admin_api_grant_query(const char *query, struct grant *out, char *err, size_t errlen)
{
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if (admin_api_query(query, "account", acct, sizeof(acct)) <= 0)
		return fail(err, errlen, "account: required query parameter");
	rc = admin_api_query(query, "path", path, sizeof(path));
	if (rc == -ENOENT)
		path[0] = '\0';
	else if (rc < 0)
		return fail(err, errlen, "path: bad or too long");
	if (admin_api_query(query, "grantee", out->grantee, sizeof(out->grantee)) < 0)
		return fail(err, errlen, "grantee: required query parameter");
	out->rights = GRANT_RIGHT_SUBSCRIBE;
	return grant_names(acct, path, out, err, errlen);
}

struct json_object *admin_api_grant_json(const struct grant *g)
{
	struct json_object *o = json_object_new_object(), *r = json_object_new_array();

	add_str(o, "account", g->account);
	add_str(o, "path", g->path);
	add_str(o, "grantee", g->grantee);
	if (g->rights & GRANT_RIGHT_SUBSCRIBE)
		json_object_array_add(r, json_object_new_string("subscribe"));
	json_object_object_add(o, "rights", r);
	return o;
}

int admin_api_status_of(int err)
{
	switch (err) {
	case 0:
		return 200;
	case -EACCES:
		return 403;
	case -ENOENT:
		return 404;
	case -EINVAL:
		return 400;
	case -ENOSPC:
		return 507;
	case -EAGAIN:
		return 503;
	case -ETIMEDOUT:
		return 504;
	default:
		return 500;
	}
}

char *admin_api_json_body(struct json_object *o, size_t *len)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *out = malloc(n + 2);

	if (!out)
		abort();
	memcpy(out, s, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	*len = n + 1;
	json_object_put(o);
	return out;
}

char *admin_api_error_body(const char *reason, size_t *len)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "error", reason);
	return admin_api_json_body(o, len);
}

static int cred_body(struct json_object *o, struct sip_cred *out, char *err, size_t errlen)
{
	char pw[256];
	const char *why;
	int has_pw;

	static const char *const known[] = { "password", "ha1_md5", "ha1_sha256", NULL };

	if (only_known(o, known, err, errlen) < 0)
		return -EINVAL;
	if ((has_pw = get_str(o, "password", pw, sizeof(pw), err, errlen)) < 0)
		return -EINVAL;
	if (has_pw) {
		if (json_object_object_length(o) != 1)
			return fail(err, errlen, "password: give it alone, or the hashes alone");
		if (sip_cred_from_password(out->user, out->realm, pw, out, &why) < 0)
			return fail(err, errlen, "%s", why);
		explicit_bzero(pw, sizeof(pw));
		return 0;
	}
	if (get_str(o, "ha1_md5", out->ha1_md5, sizeof(out->ha1_md5), err, errlen) < 0 ||
	    get_str(o, "ha1_sha256", out->ha1_sha256, sizeof(out->ha1_sha256), err, errlen) < 0)
		return -EINVAL;
	if (sip_cred_validate(out, &why) < 0)
		return fail(err, errlen, "%s", why);
	return 0;
}

int admin_api_cred_parse(const char *arg, const char *body, size_t len, struct sip_cred *out,
			 char *err, size_t errlen)
{
	const char *at = strrchr(arg, '@'), *why;
	struct json_object *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!at || at == arg || (size_t)(at - arg) >= sizeof(out->user) ||
	    strlen(at + 1) >= sizeof(out->realm))
		return fail(err, errlen, "credential: expected <user>@<realm>");
	memcpy(out->user, arg, (size_t)(at - arg));
	snprintf(out->realm, sizeof(out->realm), "%s", at + 1);
	if (!body) {
		/* a delete: the names must be possible ones */
		snprintf(out->ha1_md5, sizeof(out->ha1_md5), "%032d", 0);
		rc = sip_cred_validate(out, &why);
		out->ha1_md5[0] = '\0';
		return rc < 0 ? fail(err, errlen, "%s", why) : 0;
	}
	if (!(o = parse_object(body, len, err, errlen)))
		return -EINVAL;
	rc = cred_body(o, out, err, errlen);
	json_object_put(o);
	return rc;
}

struct json_object *admin_api_cred_json(const struct sip_cred *c)
{
	struct json_object *o = json_object_new_object(), *algs = json_object_new_array();

	json_object_object_add(o, "user", json_object_new_string(c->user));
	json_object_object_add(o, "realm", json_object_new_string(c->realm));
	if (c->ha1_sha256[0])
		json_object_array_add(algs, json_object_new_string("SHA-256"));
	if (c->ha1_md5[0])
		json_object_array_add(algs, json_object_new_string("MD5"));
	json_object_object_add(o, "algorithms", algs);
	return o;
}
