/* pna_json: JSON notification lines into pna.Event (format in pna_json.h).
 * Runs in pna-feed; json-c parses, every field lands through one table. */
#include "pna_json.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lib/arena.h"
#include "lib/pct.h"
#include "lib/evrec.h"
#include "lib/names.h"
#include "lib/uidset.h"

#define JSON_DEPTH 16 /* notifications are flat; midset & co. nest once */

enum kind {
	K_EVENT,
	K_STR,
	K_BYTES,
	K_U32,
	K_PORT,
	K_U64,
	K_BOOL,
	K_FLAGS, /* a string, or an array of strings joined with ' ' */
	K_TAGS,	 /* a string, or an array of strings joined with ',' */
};

struct field {
	const char *name;
	uint8_t kind;
	uint16_t off; /* of the value in Pna__Event */
	uint16_t has; /* of its has_ flag; 0 (the base) when it has none */
};

#define OFF(f) ((uint16_t)offsetof(Pna__Event, f))
#define F_STR(n, f)                 \
	{                           \
		n, K_STR, OFF(f), 0 \
	}
#define F_OPT(n, k, f)                     \
	{                                  \
		n, k, OFF(f), OFF(has_##f) \
	}

static const struct field fields[] = {
	{ "event", K_EVENT, 0, 0 },
	F_STR("account", account),
	F_STR("mailbox", mailbox),
	F_STR("folder", mailbox),
	F_STR("oldMailbox", old_mailbox),
	F_STR("uri", uri),
	F_STR("mailboxID", mailbox_id),
	F_STR("oldMailboxID", old_mailbox_id),
	F_STR("uidset", uidset),
	F_OPT("uidnext", K_U32, uidnext),
	F_OPT("messages", K_U32, messages),
	F_OPT("unseen", K_U32, unseen),
	F_OPT("vnd.cmu.unseenMessages", K_U32, unseen),
	F_OPT("uidvalidity", K_U32, uidvalidity),
	F_OPT("imap-uidvalidity", K_U32, uidvalidity),
	F_OPT("uid", K_U32, uid),
	F_OPT("imap-uid", K_U32, uid),
	F_OPT("modseq", K_U64, modseq),
	{ "flagNames", K_FLAGS, OFF(flag_names), 0 },
	F_OPT("messageSize", K_U64, message_size),
	F_OPT("maxMessages", K_U32, max_messages),
	F_OPT("diskQuota", K_U64, disk_quota),
	F_OPT("diskUsed", K_U64, disk_used),
	F_STR("user", user),
	F_STR("admin", admin),
	F_STR("clientIP", client_ip),
	F_OPT("clientPort", K_PORT, client_port),
	F_STR("serverDomain", server_domain),
	F_OPT("serverPort", K_PORT, server_port),
	F_STR("serverFQDN", server_fqdn),
	F_STR("service", service),
	F_STR("timestamp", timestamp),
	F_OPT("pid", K_U32, pid),
	F_STR("process", process),
	{ "tags", K_TAGS, OFF(tags), 0 },
	F_STR("bodyStructure", body_structure),
	F_OPT("envelope", K_BYTES, envelope),
	F_OPT("messageContent", K_BYTES, message_content),
	F_OPT("spam", K_BOOL, spam),
	F_STR("target", target),
	F_STR("text", text),
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* What an IMAP URL (RFC 5092) names; NULL / false for what it leaves out. */
struct imap_url {
	char *user;
	char *mailbox;
	uint32_t uidvalidity, uid;
	bool has_uidvalidity, has_uid;
};

static int fail(const char **why, int err, const char *reason)
{
	*why = reason;
	return err;
}

static const struct field *field_find(const char *name)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_alloc(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* Decimal digits only, at most `max`. */
static bool parse_digits(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* A non-negative integer up to `max`: JSON integer, integral number (exact
 * up to 2^53) or a string of digits. json-c clamps integers beyond 64 bits to
 * UINT64_MAX, which every caller's max is below. */
static bool get_uint(struct json_object *v, uint64_t max, uint64_t *out)
{
	double d;

	switch (json_object_get_type(v)) {
	case json_type_int:
		if (json_object_get_int64(v) < 0)
			return false;
		*out = json_object_get_uint64(v);
		return *out <= max;
	case json_type_double:
		d = json_object_get_double(v);
		if (!(d >= 0 && d <= 9007199254740992.0) || (double)(uint64_t)d != d)
			return false;
		*out = (uint64_t)d;
		return *out <= max;
	case json_type_string:
		return parse_digits(json_object_get_string(v),
				    (size_t)json_object_get_string_len(v), max, out);
	default:
		return false;
	}
}

static bool get_bool(struct json_object *v, bool *out)
{
	const char *s;

	switch (json_object_get_type(v)) {
	case json_type_boolean:
		*out = json_object_get_boolean(v);
		return true;
	case json_type_int:
		*out = json_object_get_int64(v) == 1;
		return json_object_get_int64(v) == 0 || *out;
	case json_type_string:
		s = json_object_get_string(v);
		*out = strcmp(s, "true") == 0;
		return *out || strcmp(s, "false") == 0;
	default:
		return false;
	}
}

/* A JSON string into the arena, refused when it holds a NUL (C strings). */
static int get_str(struct json_object *v, struct arena *a, char **out, const char **why)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return fail(why, -EBADMSG, "a string field has a non-string value");
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (memchr(s, '\0', len))
		return fail(why, -EBADMSG, "a string field has a NUL character");
	*out = arena_strndup(a, s, len);
	return *out ? 0 : fail(why, -ENOMEM, "event too large for the arena");
}

/* flagNames and tags: a string, or an array of strings joined with `sep`. */
static int get_list(struct json_object *v, char sep, struct arena *a, char **out, const char **why)
{
	size_t n, len = 0, i;
	char *p;

	if (!json_object_is_type(v, json_type_array))
		return get_str(v, a, out, why);
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string))
			return fail(why, -EBADMSG, "a list has a non-string element");
		len += (size_t)json_object_get_string_len(e) + 1;
	}
	p = *out = arena_alloc(a, len + 1);
	if (!p)
		return fail(why, -ENOMEM, "event too large for the arena");
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		size_t el = (size_t)json_object_get_string_len(e);

		if (memchr(json_object_get_string(e), '\0', el))
			return fail(why, -EBADMSG, "a string field has a NUL character");
		if (i)
			*p++ = sep;
		memcpy(p, json_object_get_string(e), el);
		p += el;
	}
	*p = '\0';
	return 0;
}

static int set_event(struct json_object *v, Pna__Event *out, const char **why)
{
	const char *s;
	int t;

	if (!json_object_is_type(v, json_type_string))
		return fail(why, -EBADMSG, "\"event\" is not a string");
	s = json_object_get_string(v);
	/* Cyrus's copy and move are appends to the destination mailbox
	 * (PROTOCOLS.md 2.3); oldMailboxID names the source. */
	if (strcasecmp(s, "vnd.cmu.MessageCopy") == 0 || strcasecmp(s, "vnd.cmu.MessageMove") == 0)
		t = PNA__EVENT_TYPE__MESSAGE_APPEND;
	else
		t = evrec_type_parse(s);
	if (t <= 0 || strlen(s) != (size_t)json_object_get_string_len(v))
		return fail(why, -EINVAL, "unknown event name");
	out->type = (Pna__EventType)t;
	return 0;
}

static int set_field(const struct field *f, struct json_object *v, struct arena *a, Pna__Event *out,
		     const char **why)
{
	char *base = (char *)out;
	uint64_t u;
	bool b;

	if (f->has)
		*(protobuf_c_boolean *)(base + f->has) = 1;
	switch (f->kind) {
	case K_EVENT:
		return set_event(v, out, why);
	case K_STR:
		return get_str(v, a, (char **)(base + f->off), why);
	case K_FLAGS:
	case K_TAGS:
		return get_list(v, f->kind == K_FLAGS ? ' ' : ',', a, (char **)(base + f->off),
				why);
	case K_BYTES: {
		ProtobufCBinaryData *bd = (ProtobufCBinaryData *)(base + f->off);

		if (!json_object_is_type(v, json_type_string))
			return fail(why, -EBADMSG, "a string field has a non-string value");
		bd->len = (size_t)json_object_get_string_len(v);
		bd->data = (uint8_t *)arena_strndup(a, json_object_get_string(v), bd->len);
		return bd->data ? 0 : fail(why, -ENOMEM, "event too large for the arena");
	}
	case K_BOOL:
		if (!get_bool(v, &b))
			return fail(why, -EBADMSG, "a boolean field has a non-boolean value");
		*(protobuf_c_boolean *)(base + f->off) = b;
		return 0;
	case K_U64:
		if (!get_uint(v, INT64_MAX, &u))
			return fail(why, -EBADMSG, "a 64-bit field is not an integer in 0..2^63-1");
		*(uint64_t *)(base + f->off) = u;
		return 0;
	default:
		if (!get_uint(v, f->kind == K_PORT ? 65535 : UINT32_MAX, &u))
			return fail(why, -EBADMSG,
				    f->kind == K_PORT
					    ? "a port is not an integer in 0..65535"
					    : "a 32-bit field is not an integer in 0..2^32-1");
		*(uint32_t *)(base + f->off) = (uint32_t)u;
		return 0;
	}
}

static int add_param(const char *key, struct json_object *v, struct arena *a, Pna__Event *out,
		     const char **why)
{
	Pna__Param *p = arena_alloc(a, sizeof(*p));
	const char *s;
	size_t len;

	if (!p)
		return fail(why, -ENOMEM, "event too large for the arena");
	pna__param__init(p);
	p->name = arena_strndup(a, key, strlen(key));
	if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
	} else {
		s = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &len);
	}
	p->value.data = (uint8_t *)arena_strndup(a, s, len);
	p->value.len = len;
	p->has_value = 1;
	if (!p->name || !p->value.data)
		return fail(why, -ENOMEM, "event too large for the arena");
	out->params[out->n_params++] = p;
	return 0;
}

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], n, min, cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, min = 0x80, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, min = 0x800, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, min = 0x10000, cp = c & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (unsigned k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Percent-decode s[0..len) into *out (arena); refused: a bad escape, a NUL
 * or bytes that are not UTF-8 (RFC 5092 section 3: UTF-8, escaped). */
static int url_decode(const char *s, size_t len, struct arena *a, char **out, const char **why)
{
	char *d = arena_alloc(a, len + 1);
	int n;

	if (!d)
		return fail(why, -ENOMEM, "event too large for the arena");
	n = pct_decode(s, len, d, len + 1);
	if (n < 0)
		return fail(why, -EBADMSG, "IMAP URL has a bad %-escape");
	if (!utf8_valid((const unsigned char *)d, (size_t)n))
		return fail(why, -EBADMSG, "IMAP URL is not UTF-8 once decoded");
	*out = d;
	return 0;
}

/* ";UIDVALIDITY=n" and "/;UID=m" after the mailbox; a later parameter
 * (SECTION, PARTIAL, URLAUTH) ends the scan, we need none of them. */
static int url_params(const char *q, const char *end, struct imap_url *u, const char **why)
{
	while (q < end) {
		const char *name, *eq, *val;
		uint64_t v;

		if (*q == '/' && ++q == end)
			break;
		if (*q != ';')
			return fail(why, -EBADMSG, "IMAP URL has junk after the mailbox");
		name = ++q;
		eq = memchr(name, '=', (size_t)(end - name));
		if (!eq)
			return fail(why, -EBADMSG, "IMAP URL parameter has no '='");
		val = eq + 1;
		q = val + strcspn(val, "/;");
		if (q > end)
			q = end;
		if ((size_t)(eq - name) == 11 && strncasecmp(name, "UIDVALIDITY", 11) == 0) {
			if (!parse_digits(val, (size_t)(q - val), UINT32_MAX, &v))
				return fail(why, -EBADMSG, "IMAP URL has a bad UIDVALIDITY");
			u->uidvalidity = (uint32_t)v;
			u->has_uidvalidity = true;
		} else if ((size_t)(eq - name) == 3 && strncasecmp(name, "UID", 3) == 0) {
			if (!parse_digits(val, (size_t)(q - val), UINT32_MAX, &v))
				return fail(why, -EBADMSG, "IMAP URL has a bad UID");
			u->uid = (uint32_t)v;
			u->has_uid = true;
		} else {
			break;
		}
	}
	return 0;
}

/* Parse an IMAP URL: 0 and *u, 1 when s is not one (left alone), or
 * -errno. RFC 5092 wants '@' in the user escaped; Cyrus does not escape it,
 * so the host starts after the last '@' (PROTOCOLS.md 1.5). */
static int url_parse(const char *s, struct arena *a, struct imap_url *u, const char **why)
{
	const char *p, *auth_end, *at, *path, *path_end, *mbox_end;
	int rc;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "imap://", 7) != 0)
		return 1;
	p = s + 7;
	auth_end = p + strcspn(p, "/?#");
	at = memrchr(p, '@', (size_t)(auth_end - p));
	if (at && at > p) {
		const char *semi = memchr(p, ';', (size_t)(at - p)); /* ;AUTH= */
		size_t ulen = (size_t)((semi ? semi : at) - p);

		if (ulen && (rc = url_decode(p, ulen, a, &u->user, why)) < 0)
			return rc;
	}
	if (*auth_end != '/')
		return 0;
	path = auth_end + 1;
	path_end = path + strcspn(path, "?#");
	mbox_end = memchr(path, ';', (size_t)(path_end - path));
	if (!mbox_end)
		mbox_end = path_end;
	if ((rc = url_params(mbox_end, path_end, u, why)) < 0)
		return rc;
	/* "INBOX/;UID=3" (no UIDVALIDITY): that '/' starts the UID part. */
	if (mbox_end > path && mbox_end[-1] == '/')
		mbox_end--;
	if (mbox_end > path &&
	    (rc = url_decode(path, (size_t)(mbox_end - path), a, &u->mailbox, why)) < 0)
		return rc;
	return 0;
}

/* Canonical account and paths in place (lib/names): the feeder refuses a
 * line the server would refuse with its whole batch (docs/protocol.md). */
static int canon(char **s, bool path, struct arena *a, const char **why)
{
	size_t len = strlen(*s);
	size_t cap = path ? len + 1 : NAMES_ACCOUNT_MAX + 1;
	char *out = arena_alloc(a, cap);
	int rc;

	if (!out)
		return fail(why, -ENOMEM, "event too large for the arena");
	rc = path ? names_path(*s, len, out, cap, why) : names_account(*s, len, out, cap, why);
	if (rc < 0)
		return rc;
	*s = out;
	return 0;
}

static bool needs_mailbox(Pna__EventType t)
{
	return (t >= PNA__EVENT_TYPE__MESSAGE_NEW && t <= PNA__EVENT_TYPE__FLAGS_CLEAR) ||
	       (t >= PNA__EVENT_TYPE__MAILBOX_CREATE && t <= PNA__EVENT_TYPE__MAILBOX_UNSUBSCRIBE);
}

/* Fill what the direct fields left out from the URLs, then check and
 * canonicalise the names. */
static int finish(Pna__Event *out, struct arena *a, const char **why)
{
	struct imap_url u[3] = { 0 };
	const char *src[3] = { out->uri, out->mailbox_id, out->old_mailbox_id };
	int rc;

	for (int i = 0; i < 3; i++)
		if (src[i] && (rc = url_parse(src[i], a, &u[i], why)) < 0)
			return rc;
	for (int i = 0; i < 2; i++) {
		if (!out->account)
			out->account = u[i].user;
		if (!out->mailbox)
			out->mailbox = u[i].mailbox;
		if (!out->has_uidvalidity && u[i].has_uidvalidity)
			out->has_uidvalidity = 1, out->uidvalidity = u[i].uidvalidity;
		if (!out->has_uid && u[i].has_uid)
			out->has_uid = 1, out->uid = u[i].uid;
	}
	if (!out->old_mailbox)
		out->old_mailbox = u[2].mailbox;
	if (!out->account)
		out->account = out->user;
	if (!out->account)
		return fail(why, -EINVAL,
			    "no account (\"account\", a user in the URL or \"user\")");
	if ((rc = canon(&out->account, false, a, why)) < 0)
		return rc;
	if (out->mailbox && (rc = canon(&out->mailbox, true, a, why)) < 0)
		return rc;
	if (out->old_mailbox && (rc = canon(&out->old_mailbox, true, a, why)) < 0)
		return rc;
	if (!out->mailbox && needs_mailbox(out->type))
		return fail(why, -EINVAL, "this event needs a mailbox");
	if (!out->old_mailbox && out->type == PNA__EVENT_TYPE__MAILBOX_RENAME)
		return fail(why, -EINVAL, "MailboxRename needs the old mailbox");
	if (!out->target && out->type == PNA__EVENT_TYPE__SIEVE_NOTIFY)
		return fail(why, -EINVAL, "SieveNotify needs a target");
	if (out->uidset && uidset_count(out->uidset, strlen(out->uidset), 0, why) < 0)
		return -EBADMSG;
	return 0;
}

static int fill(struct json_object *obj, struct arena *a, Pna__Event *out, const char **why)
{
	int rc;

	out->params =
		arena_alloc(a, sizeof(*out->params) * ((size_t)json_object_object_length(obj) + 1));
	if (!out->params)
		return fail(why, -ENOMEM, "event too large for the arena");
	json_object_object_foreach(obj, key, val)
	{
		const struct field *f;

		if (json_object_is_type(val, json_type_null))
			continue;
		f = field_find(key);
		rc = f ? set_field(f, val, a, out, why) : add_param(key, val, a, out, why);
		if (rc < 0)
			return rc;
	}
	if (out->type == PNA__EVENT_TYPE__EVENT_UNKNOWN)
		return fail(why, -EINVAL, "no \"event\"");
	return finish(out, a, why);
}

int pna_json_event(const char *line, size_t len, struct arena *a, Pna__Event *out, const char **why)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;
	int rc;

	pna__event__init(out);
	if (len > INT_MAX)
		return fail(why, -EBADMSG, "line too long");
	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok)
		return fail(why, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!obj) {
		rc = fail(why, -EBADMSG,
			  json_tokener_get_error(tok) == json_tokener_continue ? "truncated JSON"
									       : "not valid JSON");
		goto out_free_tok;
	}
	while (end < len && strchr(" \t\r\n", line[end]) && line[end])
		end++;
	if (end < len)
		rc = fail(why, -EBADMSG, "junk after the JSON object");
	else if (!json_object_is_type(obj, json_type_object))
		rc = fail(why, -EBADMSG, "not a JSON object");
	else
		rc = fill(obj, a, out, why);
	json_object_put(obj);
out_free_tok:
	json_tokener_free(tok);
	return rc;
}
