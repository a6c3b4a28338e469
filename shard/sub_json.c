/* sub_json: JSON values of subscriptions and grants in Redis: an escaping
 * writer (the shard's Redis thread, per record) and a reader for flat
 * objects of strings and unsigned integers (the shard's reload). The reader
 * is hand-written because it is the reload's hot path: json-c took 3.0 us
 * per subscription (a locale switch and an allocation per value), this one
 * takes about 0.3 us; tests/fuzz/fuzz_sub_json.c checks it against json-c. */
#include "sub_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static char *put_lit(char *o, const char *s)
{
	size_t n = strlen(s);

	memcpy(o, s, n);
	return o + n;
}

static char *put_u64(char *o, uint64_t v)
{
	char tmp[24];
	int k = sizeof(tmp);

	do {
		tmp[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(o, tmp + k, sizeof(tmp) - (size_t)k);
	return o + sizeof(tmp) - k;
}

/* A JSON string (RFC 8259 section 7): quotes, backslashes and control
 * characters escaped; other bytes as they are. */
static char *put_str(char *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	*o++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			o = put_lit(o, "\\n");
		} else if (c < 0x20) {
			o = put_lit(o, "\\u00");
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	return o;
}

/* The compact JSON of a subscription (every field of struct sub_spec). */
size_t sub_json_put_sub(char *out, const struct sub_spec *s)
{
	char *o = out;

	o = put_u64(put_lit(o, "{\"id\":"), s->id);
	o = put_u64(put_lit(o, ",\"transport\":"), s->transport);
	o = put_u64(put_lit(o, ",\"depth\":"), s->depth);
	o = put_u64(put_lit(o, ",\"events\":"), s->events);
	o = put_u64(put_lit(o, ",\"expires\":"), s->expires);
	o = put_u64(put_lit(o, ",\"heartbeat\":"), s->heartbeat);
	o = put_str(put_lit(o, ",\"account\":"), s->account);
	o = put_str(put_lit(o, ",\"path\":"), s->path);
	o = put_str(put_lit(o, ",\"subscriber\":"), s->subscriber);
	o = put_str(put_lit(o, ",\"target\":"), s->target);
	*o++ = '}';
	return (size_t)(o - out);
}

size_t sub_json_put_grant(char *out, const struct grant *g)
{
	char *o = out;

	o = put_str(put_lit(o, "{\"account\":"), g->account);
	o = put_str(put_lit(o, ",\"path\":"), g->path);
	o = put_str(put_lit(o, ",\"grantee\":"), g->grantee);
	o = put_u64(put_lit(o, ",\"rights\":"), g->rights);
	*o++ = '}';
	return (size_t)(o - out);
}

/* The reader: RFC 8259 JSON, one object whose members we want are strings
 * or unsigned integers; other members are skipped whatever they hold. */

#define SKIP_DEPTH 16

struct cur {
	const char *p, *end;
};

struct member {
	const char *name;
	char *str; /* a string member: into str (cap bytes) */
	size_t cap;
	uint64_t *num; /* or a number member, at most max */
	uint64_t max;
	bool seen;
};

static void ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool eat(struct cur *c, char ch)
{
	ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool literal(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return false;
	c->p += n;
	return true;
}

static int hex4(struct cur *c)
{
	int v = 0;

	if (c->end - c->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char h = *c->p++;

		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= h - '0';
		else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
			v |= (h | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return v;
}

static void put(char *out, size_t cap, size_t *n, unsigned char ch)
{
	if (out && *n + 1 < cap)
		out[*n] = (char)ch;
	(*n)++;
}

/* \uXXXX (after the 'u'), a surrogate pair as one code point, as UTF-8.
 * U+0000 and lone surrogates are refused (a C string cannot hold the one,
 * UTF-8 cannot the other). */
static bool uescape(struct cur *c, char *out, size_t cap, size_t *n)
{
	int cp = hex4(c), lo;

	if (cp <= 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return false;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (!literal(c, "\\u") || (lo = hex4(c)) < 0xdc00 || lo > 0xdfff)
			return false;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp < 0x80) {
		put(out, cap, n, (unsigned char)cp);
	} else if (cp < 0x800) {
		put(out, cap, n, (unsigned char)(0xc0 | cp >> 6));
		put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		put(out, cap, n, (unsigned char)(0xe0 | cp >> 12));
		put(out, cap, n, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		put(out, cap, n, (unsigned char)(0xf0 | cp >> 18));
		put(out, cap, n, (unsigned char)(0x80 | ((cp >> 12) & 0x3f)));
		put(out, cap, n, (unsigned char)(0x80 | ((cp >> 6) & 0x3f)));
		put(out, cap, n, (unsigned char)(0x80 | (cp & 0x3f)));
	}
	return true;
}

/* A string at c->p, decoded into out (cap bytes, NUL-terminated, cut short
 * when longer: *len is the whole decoded length; out may be NULL). */
static bool string(struct cur *c, char *out, size_t cap, size_t *len)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	const char *e;
	size_t n = 0;

	if (c->p >= c->end || *c->p != '"')
		return false;
	for (c->p++;;) {
		unsigned char ch;

		if (c->p >= c->end)
			return false;
		ch = (unsigned char)*c->p++;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return false;
		if (ch != '\\') {
			put(out, cap, &n, ch);
			continue;
		}
		if (c->p >= c->end)
			return false;
		ch = (unsigned char)*c->p++;
		if (ch == 'u') {
			if (!uescape(c, out, cap, &n))
				return false;
			continue;
		}
		e = ch ? strchr(esc_in, ch) : NULL;
		if (!e)
			return false;
		put(out, cap, &n, (unsigned char)esc_out[e - esc_in]);
	}
	if (out && cap)
		out[n < cap ? n : cap - 1] = '\0';
	*len = n;
	return true;
}

/* An unsigned integer: digits, no sign, fraction or exponent. */
static bool unsigned_num(struct cur *c, uint64_t *v)
{
	const char *start = c->p;
	uint64_t x = 0;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
		c->p++;
	}
	if (c->p == start || (c->p - start > 1 && *start == '0'))
		return false;
	if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
		return false;
	*v = x;
	return true;
}

static bool digits(struct cur *c)
{
	const char *start = c->p;

	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > start;
}

/* Any JSON number (a member we do not use). */
static bool any_num(struct cur *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!digits(c))
		return false;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!digits(c))
			return false;
	}
	return true;
}

/* Any JSON value, skipped. */
static bool skip(struct cur *c, int depth)
{
	size_t len;

	ws(c);
	if (c->p >= c->end || depth > SKIP_DEPTH)
		return false;
	switch (*c->p) {
	case '"':
		return string(c, NULL, 0, &len);
	case '{':
		c->p++;
		if (eat(c, '}'))
			return true;
		do {
			ws(c);
			if (!string(c, NULL, 0, &len) || !eat(c, ':') || !skip(c, depth + 1))
				return false;
		} while (eat(c, ','));
		return eat(c, '}');
	case '[':
		c->p++;
		if (eat(c, ']'))
			return true;
		do {
			if (!skip(c, depth + 1))
				return false;
		} while (eat(c, ','));
		return eat(c, ']');
	case 't':
		return literal(c, "true");
	case 'f':
		return literal(c, "false");
	case 'n':
		return literal(c, "null");
	default:
		return any_num(c);
	}
}

static struct member *find(struct member *m, unsigned nm, const char *key, size_t klen)
{
	for (unsigned i = 0; i < nm; i++)
		if (strlen(m[i].name) == klen && !memcmp(m[i].name, key, klen))
			return &m[i];
	return NULL;
}

/* One member's value into m. */
static int value(struct cur *c, struct member *m, const char **why)
{
	size_t len;
	uint64_t v;

	if (m->str) {
		/* A duplicate member: no bytes of the first behind the NUL. */
		if (m->seen)
			memset(m->str, 0, m->cap);
		if (!string(c, m->str, m->cap, &len)) {
			*why = "malformed JSON string";
			return -EBADMSG;
		}
		if (len >= m->cap || strlen(m->str) != len) {
			*why = "string member is too long";
			return -EBADMSG;
		}
	} else {
		if (!unsigned_num(c, &v) || v > m->max) {
			*why = "number member is not an integer in range";
			return -EBADMSG;
		}
		*m->num = v;
	}
	m->seen = true;
	return 0;
}

/* Parse the object in[0..len) into the members m (the last of duplicate
 * members wins, as with json-c). */
static int object(const char *in, size_t len, struct member *m, unsigned nm, const char **why)
{
	struct cur c = { in, in + len };
	struct member *x;
	char key[24];
	size_t klen;

	*why = "value is not one JSON object";
	if (!eat(&c, '{'))
		return -EBADMSG;
	if (!eat(&c, '}')) {
		do {
			ws(&c);
			if (!string(&c, key, sizeof(key), &klen) || !eat(&c, ':'))
				return -EBADMSG;
			ws(&c);
			x = klen < sizeof(key) ? find(m, nm, key, klen) : NULL;
			if (x && value(&c, x, why) < 0)
				return -EBADMSG;
			if (!x && !skip(&c, 0))
				return -EBADMSG;
		} while (eat(&c, ','));
		if (!eat(&c, '}'))
			return -EBADMSG;
	}
	ws(&c);
	return c.p == c.end ? 0 : -EBADMSG;
}

int sub_json_get_sub(const char *in, size_t len, struct sub_spec *out, const char **why)
{
	uint64_t id = 0, tr = 0, depth = 0, ev = 0, exp = 0, hb = 0;
	struct member m[] = {
		{ "id", NULL, 0, &id, UINT64_MAX, false },
		{ "transport", NULL, 0, &tr, SUB_XMPP, false },
		{ "depth", NULL, 0, &depth, SUB_SUBTREE, false },
		{ "events", NULL, 0, &ev, UINT32_MAX, false },
		{ "expires", NULL, 0, &exp, UINT32_MAX, false },
		{ "heartbeat", NULL, 0, &hb, UINT32_MAX, false },
		{ "account", out->account, sizeof(out->account), NULL, 0, false },
		{ "path", out->path, sizeof(out->path), NULL, 0, false },
		{ "subscriber", out->subscriber, sizeof(out->subscriber), NULL, 0, false },
		{ "target", out->target, sizeof(out->target), NULL, 0, false },
	};

	memset(out, 0, sizeof(*out));
	if (object(in, len, m, sizeof(m) / sizeof(m[0]), why) < 0)
		return -EBADMSG;
	if (!m[0].seen || !m[1].seen || !m[6].seen || !m[7].seen || !m[8].seen) {
		*why = "subscription lacks id, transport, account, path or subscriber";
		return -EBADMSG;
	}
	if (id == 0 || tr < SUB_SIP) {
		*why = "subscription has id 0 or an unknown transport";
		return -EBADMSG;
	}
	out->id = id;
	out->transport = (uint8_t)tr;
	out->depth = (uint8_t)depth;
	out->events = (uint32_t)ev;
	out->expires = (uint32_t)exp;
	out->heartbeat = (uint32_t)hb;
	return 0;
}

int sub_json_get_grant(const char *in, size_t len, struct grant *out, const char **why)
{
	uint64_t rights = GRANT_RIGHT_SUBSCRIBE;
	struct member m[] = {
		{ "account", out->account, sizeof(out->account), NULL, 0, false },
		{ "path", out->path, sizeof(out->path), NULL, 0, false },
		{ "grantee", out->grantee, sizeof(out->grantee), NULL, 0, false },
		{ "rights", NULL, 0, &rights, UINT32_MAX, false },
	};

	memset(out, 0, sizeof(*out));
	if (object(in, len, m, sizeof(m) / sizeof(m[0]), why) < 0)
		return -EBADMSG;
	if (!m[0].seen || !m[1].seen || !m[2].seen || !out->grantee[0]) {
		*why = "grant lacks account, path or grantee";
		return -EBADMSG;
	}
	out->rights = (uint32_t)rights;
	return 0;
}
