/* xmpp_stanza: the XMPP worker's pure stanza handling (see xmpp_stanza.h):
 * DOM, XEP-0060 / XEP-0030 / XEP-0199 requests in, replies, shard requests
 * and notifications out. No I/O; run by the XMPP worker and the fuzzer. */
#include "egress/xmpp/xmpp_stanza.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/evrec.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_PS_ERR "http://jabber.org/protocol/pubsub#errors"
#define NS_PS_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_XDATA "jabber:x:data"
#define FORM_SUB "http://jabber.org/protocol/pubsub#subscribe_options"
#define NEVENT_TYPES 20 /* Pna__EventType 0..19 */

/* ---- DOM ---- */

void *xmpp_pool_alloc(struct xmpp_pool *p, size_t n)
{
	size_t at = (p->used + 7) & ~(size_t)7;
	void *r;

	if (at > p->cap || n > p->cap - at)
		return NULL;
	r = p->buf + at;
	p->used = at + n;
	return r;
}

static char *pool_strndup(struct xmpp_pool *p, const char *s, size_t n)
{
	char *d = xmpp_pool_alloc(p, n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

struct xmpp_el *xmpp_el_new(struct xmpp_pool *p, struct xmpp_el *parent, const char *qname,
			    const char **attrs)
{
	struct xmpp_el *e = xmpp_pool_alloc(p, sizeof(*e));
	const char *bar = strrchr(qname, '|');
	size_t n = 0, i;

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->ns = bar ? pool_strndup(p, qname, (size_t)(bar - qname)) : "";
	e->name = pool_strndup(p, bar ? bar + 1 : qname, strlen(bar ? bar + 1 : qname));
	while (attrs && attrs[n])
		n++;
	e->attrs = xmpp_pool_alloc(p, (n + 1) * sizeof(char *));
	if (!e->ns || !e->name || !e->attrs)
		return NULL;
	for (i = 0; i < n; i++) {
		e->attrs[i] = pool_strndup(p, attrs[i], strlen(attrs[i]));
		if (!e->attrs[i])
			return NULL;
	}
	e->attrs[n] = NULL;
	e->text = (char *)"";
	e->parent = parent;
	if (parent) {
		if (parent->last)
			parent->last->next = e;
		else
			parent->child = e;
		parent->last = e;
	}
	return e;
}

int xmpp_el_text(struct xmpp_pool *p, struct xmpp_el *e, const char *s, size_t n)
{
	char *t;

	/* Whitespace between child elements is noise for every element we read. */
	if (e->child && e->text_len == 0)
		return 0;
	t = xmpp_pool_alloc(p, e->text_len + n + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, e->text, e->text_len);
	memcpy(t + e->text_len, s, n);
	e->text_len += n;
	t[e->text_len] = '\0';
	e->text = t;
	return 0;
}

const char *xmpp_el_attr(const struct xmpp_el *e, const char *name)
{
	for (const char **a = e->attrs; a && a[0] && a[1]; a += 2)
		if (strcmp(a[0], name) == 0)
			return a[1];
	return NULL;
}

struct xmpp_el *xmpp_el_child(const struct xmpp_el *e, const char *ns, const char *name)
{
	for (struct xmpp_el *c = e->child; c; c = c->next)
		if ((!ns || strcmp(c->ns, ns) == 0) && (!name || strcmp(c->name, name) == 0))
			return c;
	return NULL;
}

/* ---- output ---- */

void xmpp_out_printf(struct xmpp_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		if (o->len < o->cap)
			o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

/* Append n bytes (NUL-terminated, as vsnprintf leaves it). The note path
 * renders through these, not printf, which took half the worker's time. */
static void out_mem(struct xmpp_out *o, const char *s, size_t n)
{
	if (o->overflow)
		return;
	if (n >= o->cap - o->len) {
		o->overflow = true;
		if (o->len < o->cap)
			o->buf[o->len] = '\0';
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

#define OUT_LIT(o, lit) out_mem((o), (lit), sizeof(lit) - 1)

static void out_u64(struct xmpp_out *o, uint64_t v)
{
	char b[24];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out_mem(o, b + i, sizeof(b) - i);
}

/* Escaped, or dropped: XML 1.0 forbids most C0 controls even as references. */
static bool esc_special(unsigned char c)
{
	return c == '<' || c == '>' || c == '&' || c == '\'' || c == '"' ||
	       (c < 0x20 && c != '\t' && c != '\n' && c != '\r');
}

void xmpp_out_esc(struct xmpp_out *o, const char *s)
{
	while (*s && !o->overflow) {
		size_t run = 0;

		while (s[run] && !esc_special((unsigned char)s[run]))
			run++;
		out_mem(o, s, run);
		s += run;
		switch (*s) {
		case '\0':
			return;
		case '<':
			OUT_LIT(o, "&lt;");
			break;
		case '>':
			OUT_LIT(o, "&gt;");
			break;
		case '&':
			OUT_LIT(o, "&amp;");
			break;
		case '\'':
			OUT_LIT(o, "&apos;");
			break;
		case '"':
			OUT_LIT(o, "&quot;");
			break;
		default:
			break; /* a forbidden control character */
		}
		s++;
	}
}

/* Drop what was appended since `start` (a reply that did not fit). */
static void out_undo(struct xmpp_out *o, size_t start)
{
	o->len = start;
	o->overflow = false;
	if (o->len < o->cap)
		o->buf[o->len] = '\0';
}

/* out_printf with every %s escaped would be nicer; attributes go through
 * this pair instead: ` name='escaped'`. */
static void attr(struct xmpp_out *o, const char *name, const char *val)
{
	OUT_LIT(o, " ");
	out_mem(o, name, strlen(name));
	OUT_LIT(o, "='");
	xmpp_out_esc(o, val);
	OUT_LIT(o, "'");
}

/* ` name='v'` for a number. */
static void attr_u64(struct xmpp_out *o, const char *name, uint64_t v)
{
	OUT_LIT(o, " ");
	out_mem(o, name, strlen(name));
	OUT_LIT(o, "='");
	out_u64(o, v);
	OUT_LIT(o, "'");
}

/* ---- names ---- */

int xmpp_node_format(const char *account, const char *path, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/" XMPP_NODE_SUFFIX "%s%s", account, path[0] ? "/" : "",
			 path);

	return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
}

int xmpp_node_parse(const char *node, char *account, size_t acap, char *path, size_t pcap,
		    const char **why)
{
	const char *slash = strchr(node, '/'), *rest;
	size_t sl = strlen(XMPP_NODE_SUFFIX);

	*why = "node is not <account>/" XMPP_NODE_SUFFIX "[/<mailbox>]";
	if (!slash || strncmp(slash + 1, XMPP_NODE_SUFFIX, sl) != 0)
		return -EINVAL;
	rest = slash + 1 + sl;
	if (*rest && *rest != '/')
		return -EINVAL;
	if (names_account(node, (size_t)(slash - node), account, acap, why) < 0)
		return -EINVAL;
	path[0] = '\0';
	if (*rest == '/' && names_path(rest + 1, strlen(rest + 1), path, pcap, why) < 0)
		return -EINVAL;
	return 0;
}

/* Copy the bare part of a JID (resource dropped). */
static void bare_jid(const char *jid, char *out, size_t cap)
{
	size_t n = strcspn(jid, "/");

	if (n >= cap)
		n = cap - 1;
	memcpy(out, jid, n);
	out[n] = '\0';
}

static int parse_subid(const char *s, uint32_t *shard, uint64_t *id)
{
	char *end;
	unsigned long long a, b;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	a = strtoull(s, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9' || a > UINT32_MAX)
		return -EINVAL;
	b = strtoull(end + 1, &end, 10);
	if (*end)
		return -EINVAL;
	*shard = (uint32_t)a;
	*id = b;
	return 0;
}

/* ---- IQ replies ---- */

static void iq_head(struct xmpp_out *o, const char *type, const char *from, const char *to,
		    const char *id)
{
	xmpp_out_printf(o, "<iq type='%s'", type);
	attr(o, "from", from);
	attr(o, "to", to);
	attr(o, "id", id);
}

static void iq_error_raw(struct xmpp_out *o, const char *from, const char *to, const char *id,
			 const char *type, const char *cond, const char *pcond, const char *text)
{
	iq_head(o, "error", from, to, id);
	xmpp_out_printf(o, "><error type='%s'><%s xmlns='" NS_STANZAS "'/>", type, cond);
	if (pcond)
		xmpp_out_printf(o, "<%s xmlns='" NS_PS_ERR "'/>", pcond);
	if (text && text[0]) {
		xmpp_out_printf(o, "<text xmlns='" NS_STANZAS "'>");
		xmpp_out_esc(o, text);
		xmpp_out_printf(o, "</text>");
	}
	xmpp_out_printf(o, "</error></iq>");
}

struct iq {
	const char *from, *to, *id, *type;
	char bare[SUB_SUBSCRIBER_MAX + 1];
};

static void iq_error(struct xmpp_out *o, const struct iq *q, const char *type, const char *cond,
		     const char *pcond, const char *text)
{
	iq_error_raw(o, q->to, q->from, q->id, type, cond, pcond, text);
}

/* ---- disco ---- */

static void disco_info(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *qe,
		       struct xmpp_out *o)
{
	static const char *const features[] = {
		NS_DISCO_INFO,
		NS_DISCO_ITEMS,
		XMPP_NS_PUBSUB,
		XMPP_NS_PUBSUB "#subscribe",
		XMPP_NS_PUBSUB "#retrieve-subscriptions",
		XMPP_NS_PUBSUB "#subscription-options",
		XMPP_NS_PUBSUB "#collections",
		XMPP_NS_PUBSUB "#last-published",
		NS_PING,
		XMPP_NS_MAIL,
	};
	const char *node = xmpp_el_attr(qe, "node"), *why, *type = "service";
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];

	(void)env;
	if (node) {
		if (xmpp_node_parse(node, acct, sizeof(acct), path, sizeof(path), &why) < 0) {
			iq_error(o, q, "cancel", "item-not-found", NULL, why);
			return;
		}
		type = path[0] ? "leaf" : "collection";
	}
	iq_head(o, "result", q->to, q->from, q->id);
	xmpp_out_printf(o, "><query xmlns='" NS_DISCO_INFO "'");
	if (node)
		attr(o, "node", node);
	xmpp_out_printf(o, "><identity category='pubsub' type='%s' name='Mail notifications'/>",
			type);
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		xmpp_out_printf(o, "<feature var='%s'/>", features[i]);
	xmpp_out_printf(o, "</query></iq>");
}

struct items_ctx {
	const struct xmpp_env *env;
	struct xmpp_out *o;
	const char *account;
};

static int item_one(const char *path, void *arg)
{
	struct items_ctx *c = arg;
	char node[NAMES_KEY_MAX + 32];

	if (xmpp_node_format(c->account, path, node, sizeof(node)) < 0)
		return 0;
	xmpp_out_printf(c->o, "<item");
	attr(c->o, "jid", c->env->component);
	attr(c->o, "node", node);
	attr(c->o, "name", path);
	xmpp_out_printf(c->o, "/>");
	return c->o->overflow;
}

static void disco_items(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *qe,
			struct xmpp_out *o)
{
	const char *node = xmpp_el_attr(qe, "node"), *why;
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1], own[NAMES_KEY_MAX + 32];
	struct items_ctx c = { env, o, acct };

	if (node && xmpp_node_parse(node, acct, sizeof(acct), path, sizeof(path), &why) < 0) {
		iq_error(o, q, "cancel", "item-not-found", NULL, why);
		return;
	}
	/* Mailbox names are private: only their owner lists them. */
	if (node && !env->owner(env->arg, q->bare, acct)) {
		iq_error(o, q, "auth", "not-authorized", NULL,
			 "only the owner lists its mailboxes");
		return;
	}
	iq_head(o, "result", q->to, q->from, q->id);
	xmpp_out_printf(o, "><query xmlns='" NS_DISCO_ITEMS "'");
	if (node)
		attr(o, "node", node);
	xmpp_out_printf(o, ">");
	if (!node) {
		/* The service holds no node of its own: hint at the requester's. */
		if (names_account(q->bare, strlen(q->bare), acct, sizeof(acct), &why) >= 0 &&
		    xmpp_node_format(acct, "", own, sizeof(own)) >= 0) {
			xmpp_out_printf(o, "<item");
			attr(o, "jid", env->component);
			attr(o, "node", own);
			xmpp_out_printf(o, "/>");
		}
	} else if (!path[0]) {
		env->mailboxes(env->arg, acct, item_one, &c);
	}
	xmpp_out_printf(o, "</query></iq>");
}

/* ---- XEP-0060 ---- */

struct opts {
	int depth;	 /* -1 unset, SUB_EXACT, SUB_SUBTREE */
	long heartbeat;	 /* -1 unset */
	uint32_t events; /* 0 = all */
	bool events_set;
};

/* Read a submitted subscribe_options form. 0, or -EINVAL with *why. */
static int opts_parse(const struct xmpp_el *x, struct opts *op, const char **why)
{
	op->depth = -1;
	op->heartbeat = -1;
	op->events = 0;
	op->events_set = false;
	if (!x)
		return 0;
	for (const struct xmpp_el *f = x->child; f; f = f->next) {
		const char *var = xmpp_el_attr(f, "var");
		const struct xmpp_el *v = xmpp_el_child(f, NULL, "value");

		if (strcmp(f->name, "field") != 0 || !var)
			continue;
		if (strcmp(var, XMPP_OPT_DEPTH) == 0 && v) {
			if (strcmp(v->text, "1") == 0 || strcmp(v->text, "0") == 0)
				op->depth = SUB_EXACT;
			else if (strcmp(v->text, "all") == 0)
				op->depth = SUB_SUBTREE;
			else
				return *why = XMPP_OPT_DEPTH " is 1 or all", -EINVAL;
		} else if (strcmp(var, XMPP_OPT_HEARTBEAT) == 0 && v) {
			char *end;
			long h = strtol(v->text, &end, 10);

			if (*end || h < 0 || (h > 0 && h < 5) || h > 86400)
				return *why = XMPP_OPT_HEARTBEAT " is 0 or 5..86400", -EINVAL;
			op->heartbeat = h;
		} else if (strcmp(var, XMPP_OPT_EVENTS) == 0) {
			op->events_set = true;
			for (v = f->child; v; v = v->next) {
				int t;

				if (strcmp(v->name, "value") != 0)
					continue;
				t = evrec_type_parse(v->text);
				if (t <= 0 || t >= NEVENT_TYPES)
					return *why = XMPP_OPT_EVENTS ": unknown event type",
					       -EINVAL;
				op->events |= 1u << t;
			}
		}
	}
	return 0;
}

static const struct xmpp_el *form_of(const struct xmpp_el *options)
{
	return options ? xmpp_el_child(options, NS_XDATA, "x") : NULL;
}

static void pend_fill(struct xmpp_pend *p, int op, const struct iq *q, const char *node,
		      const char *jid)
{
	p->op = (uint8_t)op;
	snprintf(p->id, sizeof(p->id), "%s", q->id);
	snprintf(p->from, sizeof(p->from), "%s", q->to);
	snprintf(p->to, sizeof(p->to), "%s", q->from);
	snprintf(p->node, sizeof(p->node), "%s", node);
	snprintf(p->jid, sizeof(p->jid), "%s", jid);
}

/* The node and jid of a subscribe/unsubscribe/options element, checked:
 * 0, or an error reply already written. */
static int target_of(const struct iq *q, const struct xmpp_el *e, char *acct, char *path,
		     const char **jid, struct xmpp_out *o)
{
	const char *node = xmpp_el_attr(e, "node"), *why;
	char bare[SUB_SUBSCRIBER_MAX + 1];

	*jid = xmpp_el_attr(e, "jid");
	if (!node) {
		iq_error(o, q, "modify", "bad-request", "nodeid-required", NULL);
		return -EINVAL;
	}
	if (!*jid || !**jid || strlen(*jid) > SUB_SUBSCRIBER_MAX) {
		iq_error(o, q, "modify", "bad-request", "jid-required", NULL);
		return -EINVAL;
	}
	bare_jid(*jid, bare, sizeof(bare));
	/* XEP-0060 6.1.3.1: only the JID's owner subscribes it. */
	if (strcmp(bare, q->bare) != 0) {
		iq_error(o, q, "modify", "bad-request", "invalid-jid", NULL);
		return -EINVAL;
	}
	if (xmpp_node_parse(node, acct, NAMES_ACCOUNT_MAX + 1, path, NAMES_KEY_MAX + 1, &why) < 0) {
		iq_error(o, q, "cancel", "item-not-found", NULL, why);
		return -ENOENT;
	}
	return 0;
}

static void spec_apply(struct sub_spec *sp, const struct opts *op)
{
	if (op->depth >= 0)
		sp->depth = (uint8_t)op->depth;
	if (op->heartbeat >= 0)
		sp->heartbeat = (uint32_t)op->heartbeat;
	if (op->events_set)
		sp->events = op->events;
}

static void do_subscribe(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *ps,
			 const struct xmpp_el *se, struct xmpp_out *o, struct xmpp_result *res)
{
	struct sub_spec *sp = &res->req.spec;
	const char *jid, *why = NULL;
	struct opts op;

	memset(&res->req, 0, sizeof(res->req));
	if (target_of(q, se, sp->account, sp->path, &jid, o) < 0)
		return;
	if (opts_parse(form_of(xmpp_el_child(ps, XMPP_NS_PUBSUB, "options")), &op, &why) < 0) {
		iq_error(o, q, "modify", "bad-request", "invalid-options", why);
		return;
	}
	sp->transport = SUB_XMPP;
	/* An account node is a collection: subtree unless asked otherwise. */
	sp->depth = sp->path[0] ? SUB_EXACT : SUB_SUBTREE;
	sp->expires = env->now + XMPP_SUB_LIFETIME;
	snprintf(sp->subscriber, sizeof(sp->subscriber), "%s", q->bare);
	snprintf(sp->target, sizeof(sp->target), "%s", jid);
	spec_apply(sp, &op);
	res->req.op = SUB_OP_ADD;
	res->req.now = env->now;
	res->shard = env->shard_of(env->arg, sp->account);
	pend_fill(&res->pend, XMPP_PEND_SUBSCRIBE, q, xmpp_el_attr(se, "node"), jid);
	res->kind = XMPP_RES_REQUEST;
}

struct find_ctx {
	const char *account, *path, *jid;
	uint64_t want_id;
	uint32_t want_shard;
	bool by_id;
	unsigned n;
	struct sub_spec spec;
	uint32_t shard;
};

static int find_one(const struct sub_spec *s, uint32_t shard, void *arg)
{
	struct find_ctx *f = arg;

	if (f->by_id ? (s->id != f->want_id || shard != f->want_shard)
		     : (strcmp(s->path, f->path) != 0 || strcmp(s->target, f->jid) != 0))
		return 0;
	if (strcmp(s->account, f->account) != 0)
		return 0;
	if (f->n++ == 0) {
		f->spec = *s;
		f->shard = shard;
	}
	return 0;
}

/* The subscription an unsubscribe/options element names: 0, or an error
 * written. */
static int find_sub(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *e,
		    struct find_ctx *f, struct xmpp_out *o)
{
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];
	const char *jid, *subid = xmpp_el_attr(e, "subid");
	int rc = target_of(q, e, acct, path, &jid, o);

	if (rc < 0)
		return rc;
	memset(f, 0, sizeof(*f));
	f->account = acct;
	f->path = path;
	f->jid = jid;
	if (subid && parse_subid(subid, &f->want_shard, &f->want_id) < 0) {
		iq_error(o, q, "modify", "not-acceptable", "invalid-subid", NULL);
		return -EINVAL;
	}
	f->by_id = subid != NULL;
	env->subs(env->arg, q->bare, acct, find_one, f);
	f->account = f->path = f->jid = NULL;
	if (f->n == 0) {
		if (subid)
			iq_error(o, q, "modify", "not-acceptable", "invalid-subid", NULL);
		else
			iq_error(o, q, "cancel", "unexpected-request", "not-subscribed", NULL);
		return -ENOENT;
	}
	if (f->n > 1) {
		iq_error(o, q, "modify", "bad-request", "subid-required", NULL);
		return -EINVAL;
	}
	return 0;
}

static void do_unsubscribe(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *ue,
			   struct xmpp_out *o, struct xmpp_result *res)
{
	static struct find_ctx f;

	if (find_sub(env, q, ue, &f, o) < 0)
		return;
	memset(&res->req, 0, sizeof(res->req));
	res->req.op = SUB_OP_REMOVE;
	res->req.now = env->now;
	res->req.spec.id = f.spec.id;
	res->shard = f.shard;
	pend_fill(&res->pend, XMPP_PEND_UNSUBSCRIBE, q, xmpp_el_attr(ue, "node"),
		  xmpp_el_attr(ue, "jid"));
	res->kind = XMPP_RES_REQUEST;
}

static void options_form(struct xmpp_out *o, const struct sub_spec *s)
{
	xmpp_out_printf(o,
			"<x xmlns='" NS_XDATA "' type='form'>"
			"<field var='FORM_TYPE' type='hidden'><value>" FORM_SUB "</value></field>"
			"<field var='" XMPP_OPT_DEPTH "' type='list-single' label='Depth'>"
			"<option><value>1</value></option><option><value>all</value></option>"
			"<value>%s</value></field>"
			"<field var='" XMPP_OPT_EVENTS "' type='list-multi' label='Event types'>",
			s->depth == SUB_SUBTREE ? "all" : "1");
	for (unsigned t = 1; t < NEVENT_TYPES; t++)
		xmpp_out_printf(o, "<option><value>%s</value></option>", evrec_type_name(t));
	for (unsigned t = 1; t < NEVENT_TYPES; t++)
		if (!s->events || (s->events & (1u << t)))
			xmpp_out_printf(o, "<value>%s</value>", evrec_type_name(t));
	xmpp_out_printf(o,
			"</field><field var='" XMPP_OPT_HEARTBEAT "' type='text-single' "
			"label='Seconds between state re-sends (0: none)'><value>%u</value>"
			"</field></x>",
			s->heartbeat);
}

static void do_options(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *oe,
		       struct xmpp_out *o, struct xmpp_result *res)
{
	static struct find_ctx f;
	char subid[48];
	const char *why = NULL;
	struct opts op;

	if (find_sub(env, q, oe, &f, o) < 0)
		return;
	snprintf(subid, sizeof(subid), "%u-%llu", f.shard, (unsigned long long)f.spec.id);
	if (strcmp(q->type, "get") == 0) {
		iq_head(o, "result", q->to, q->from, q->id);
		xmpp_out_printf(o, "><pubsub xmlns='" XMPP_NS_PUBSUB "'><options");
		attr(o, "node", xmpp_el_attr(oe, "node"));
		attr(o, "jid", xmpp_el_attr(oe, "jid"));
		attr(o, "subid", subid);
		xmpp_out_printf(o, ">");
		options_form(o, &f.spec);
		xmpp_out_printf(o, "</options></pubsub></iq>");
		return;
	}
	if (!form_of(oe) || opts_parse(form_of(oe), &op, &why) < 0) {
		iq_error(o, q, "modify", "bad-request", "invalid-options", why);
		return;
	}
	memset(&res->req, 0, sizeof(res->req));
	res->req.spec = f.spec;
	res->req.spec.id = 0;
	res->req.spec.expires = env->now + XMPP_SUB_LIFETIME;
	spec_apply(&res->req.spec, &op);
	res->req.op = SUB_OP_ADD;
	res->req.now = env->now;
	res->shard = f.shard;
	pend_fill(&res->pend, XMPP_PEND_OPTIONS, q, xmpp_el_attr(oe, "node"),
		  xmpp_el_attr(oe, "jid"));
	res->kind = XMPP_RES_REQUEST;
}

static void sub_item(struct xmpp_out *o, const struct sub_spec *s, uint32_t shard,
		     const char *state)
{
	char node[NAMES_KEY_MAX + 32], subid[48];

	if (xmpp_node_format(s->account, s->path, node, sizeof(node)) < 0)
		return;
	snprintf(subid, sizeof(subid), "%u-%llu", shard, (unsigned long long)s->id);
	xmpp_out_printf(o, "<subscription");
	attr(o, "node", node);
	attr(o, "jid", s->target);
	attr(o, "subid", subid);
	xmpp_out_printf(o, " subscription='%s'/>", state);
}

struct list_ctx {
	struct xmpp_out *o;
	const char *path; /* only this node's, unless NULL */
};

static int list_one(const struct sub_spec *s, uint32_t shard, void *arg)
{
	struct list_ctx *l = arg;

	if (!l->path || strcmp(s->path, l->path) == 0)
		sub_item(l->o, s, shard, "subscribed");
	return l->o->overflow;
}

static void do_subscriptions(const struct xmpp_env *env, const struct iq *q,
			     const struct xmpp_el *le, struct xmpp_out *o)
{
	const char *node = xmpp_el_attr(le, "node"), *why;
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];
	struct list_ctx l = { o, NULL };

	if (node && xmpp_node_parse(node, acct, sizeof(acct), path, sizeof(path), &why) < 0) {
		iq_error(o, q, "cancel", "item-not-found", NULL, why);
		return;
	}
	if (node)
		l.path = path;
	iq_head(o, "result", q->to, q->from, q->id);
	xmpp_out_printf(o, "><pubsub xmlns='" XMPP_NS_PUBSUB "'><subscriptions");
	if (node)
		attr(o, "node", node);
	xmpp_out_printf(o, ">");
	env->subs(env->arg, q->bare, node ? acct : NULL, list_one, &l);
	xmpp_out_printf(o, "</subscriptions></pubsub></iq>");
}

static void pubsub(const struct xmpp_env *env, const struct iq *q, const struct xmpp_el *ps,
		   struct xmpp_out *o, struct xmpp_result *res)
{
	const struct xmpp_el *c;
	bool set = strcmp(q->type, "set") == 0;

	if (set && (c = xmpp_el_child(ps, XMPP_NS_PUBSUB, "subscribe")))
		do_subscribe(env, q, ps, c, o, res);
	else if (set && (c = xmpp_el_child(ps, XMPP_NS_PUBSUB, "unsubscribe")))
		do_unsubscribe(env, q, c, o, res);
	else if ((c = xmpp_el_child(ps, XMPP_NS_PUBSUB, "options")))
		do_options(env, q, c, o, res);
	else if (!set && (c = xmpp_el_child(ps, XMPP_NS_PUBSUB, "subscriptions")))
		do_subscriptions(env, q, c, o);
	else if (ps->child) {
		iq_error_raw(o, q->to, q->from, q->id, "cancel", "feature-not-implemented", NULL,
			     "only subscribe, unsubscribe, subscriptions and options");
		/* the unsupported element names the feature (XEP-0060 7.1.3) */
	} else {
		iq_error(o, q, "modify", "bad-request", NULL, NULL);
	}
}

static void handle_iq(const struct xmpp_env *env, const struct xmpp_el *st, struct xmpp_out *o,
		      struct xmpp_result *res)
{
	struct iq q;
	const struct xmpp_el *c = st->child;

	q.from = xmpp_el_attr(st, "from");
	q.to = xmpp_el_attr(st, "to");
	q.id = xmpp_el_attr(st, "id");
	q.type = xmpp_el_attr(st, "type");
	if (!q.from || !q.to || !q.type || !q.id) {
		res->why = "iq without from, to, id or type";
		return;
	}
	bare_jid(q.from, q.bare, sizeof(q.bare));
	if (strcmp(q.type, "result") == 0 || strcmp(q.type, "error") == 0) {
		if (strncmp(q.id, "ping-", 5) == 0)
			res->kind = XMPP_RES_PONG;
		else
			res->why = "unexpected iq result";
		return;
	}
	if (strcmp(q.type, "get") != 0 && strcmp(q.type, "set") != 0) {
		iq_error(o, &q, "modify", "bad-request", NULL, "bad iq type");
	} else if (!c || c->next) {
		/* RFC 6120 8.2.3: a get or set has exactly one child. */
		iq_error(o, &q, "modify", "bad-request", NULL, "an iq get/set has one child");
	} else if (strcmp(c->ns, NS_PING) == 0 && strcmp(c->name, "ping") == 0) {
		iq_head(o, "result", q.to, q.from, q.id);
		xmpp_out_printf(o, "/>");
	} else if (strcmp(c->ns, NS_DISCO_INFO) == 0 && strcmp(q.type, "get") == 0) {
		disco_info(env, &q, c, o);
	} else if (strcmp(c->ns, NS_DISCO_ITEMS) == 0 && strcmp(q.type, "get") == 0) {
		disco_items(env, &q, c, o);
	} else if (strcmp(c->ns, XMPP_NS_PUBSUB) == 0 && strcmp(c->name, "pubsub") == 0) {
		pubsub(env, &q, c, o, res);
	} else {
		iq_error(o, &q, "cancel", "service-unavailable", NULL, NULL);
	}
	if (res->kind == XMPP_RES_NONE && o->len)
		res->kind = XMPP_RES_REPLY;
}

/* An error bounce for one of our notifications (id "n-<shard>-<id>-<seq>").
 * XEP-0060 12.5 (delivery errors): cancel, or gone, ends the subscription;
 * auth/wait/modify are transient and only counted. */
static void handle_bounce(const struct xmpp_el *st, struct xmpp_result *res)
{
	const char *id = xmpp_el_attr(st, "id");
	const struct xmpp_el *err = xmpp_el_child(st, NULL, "error");
	const char *type = err ? xmpp_el_attr(err, "type") : NULL;
	char sub[48], *dash;
	uint32_t shard;
	uint64_t sid;

	res->why = "transient notification bounce";
	if (!id || strncmp(id, "n-", 2) != 0 || !type)
		return;
	snprintf(sub, sizeof(sub), "%s", id + 2);
	dash = strrchr(sub, '-');
	if (!dash)
		return;
	*dash = '\0';
	if (parse_subid(sub, &shard, &sid) < 0)
		return;
	if (strcmp(type, "cancel") != 0 && !xmpp_el_child(err, NS_STANZAS, "gone"))
		return;
	memset(&res->req, 0, sizeof(res->req));
	res->req.op = SUB_OP_REMOVE;
	res->req.spec.id = sid;
	res->shard = shard;
	res->kind = XMPP_RES_BOUNCE;
	res->why = NULL;
}

void xmpp_stanza_handle(const struct xmpp_env *env, const struct xmpp_el *st, struct xmpp_out *o,
			struct xmpp_result *res)
{
	size_t start = o->len;
	const char *type = xmpp_el_attr(st, "type");

	res->kind = XMPP_RES_NONE;
	res->why = NULL;
	if (strcmp(st->ns, XMPP_NS_CLIENT) != 0)
		res->why = "stanza in another namespace";
	else if (strcmp(st->name, "iq") == 0)
		handle_iq(env, st, o, res);
	else if (strcmp(st->name, "message") == 0 && type && strcmp(type, "error") == 0)
		handle_bounce(st, res);
	else
		res->why = "ignored message or presence";
	if (o->overflow) {
		out_undo(o, start);
		res->kind = XMPP_RES_NONE;
		res->why = "reply too large";
	}
}

/* ---- shard replies ---- */

void xmpp_stanza_reply(const struct xmpp_env *env, const struct xmpp_pend *p,
		       const struct sub_rep *r, uint32_t shard, struct xmpp_out *o)
{
	size_t start = o->len;

	(void)env;
	if (r->status == -EACCES) {
		iq_error_raw(o, p->from, p->to, p->id, "auth", "not-authorized", NULL, r->reason);
	} else if (r->status == -ENOENT) {
		if (p->op == XMPP_PEND_UNSUBSCRIBE)
			iq_error_raw(o, p->from, p->to, p->id, "cancel", "unexpected-request",
				     "not-subscribed", r->reason);
		else
			iq_error_raw(o, p->from, p->to, p->id, "cancel", "item-not-found", NULL,
				     r->reason);
	} else if (r->status == -EINVAL) {
		iq_error_raw(o, p->from, p->to, p->id, "modify", "bad-request", NULL, r->reason);
	} else if (r->status == -ENOSPC) {
		iq_error_raw(o, p->from, p->to, p->id, "wait", "policy-violation",
			     "too-many-subscriptions", r->reason);
	} else if (r->status < 0) {
		iq_error_raw(o, p->from, p->to, p->id, "wait", "resource-constraint", NULL,
			     r->reason);
	} else if (p->op == XMPP_PEND_SUBSCRIBE) {
		iq_head(o, "result", p->from, p->to, p->id);
		xmpp_out_printf(o, "><pubsub xmlns='" XMPP_NS_PUBSUB "'>");
		sub_item(o, &r->spec, shard, "subscribed");
		xmpp_out_printf(o, "</pubsub></iq>");
	} else {
		iq_head(o, "result", p->from, p->to, p->id);
		xmpp_out_printf(o, "/>");
	}
	if (o->overflow)
		out_undo(o, start);
}

/* ---- notifications ---- */

int xmpp_note_render(const struct xmpp_env *env, const struct sub_spec *s, uint32_t shard,
		     const struct sub_note *n, uint64_t seq, struct xmpp_out *o)
{
	static const char *const kinds[] = { "event", "event", "heartbeat", "state" };
	char node[NAMES_KEY_MAX + 32], leaf[NAMES_KEY_MAX + 32];
	size_t start = o->len;

	if (xmpp_node_format(s->account, s->path, node, sizeof(node)) < 0 ||
	    xmpp_node_format(s->account, n->path, leaf, sizeof(leaf)) < 0)
		return -ENOBUFS;
	OUT_LIT(o, "<message type='headline'");
	attr(o, "from", env->component);
	attr(o, "to", s->target);
	/* id n-<shard>-<subid>-<seq>: a bounce names its subscription. */
	OUT_LIT(o, " id='n-");
	out_u64(o, shard);
	OUT_LIT(o, "-");
	out_u64(o, s->id);
	OUT_LIT(o, "-");
	out_u64(o, seq);
	OUT_LIT(o, "'><event xmlns='" NS_PS_EVENT "'><items");
	attr(o, "node", leaf);
	if (n->uid) {
		OUT_LIT(o, "><item id='uid-");
		out_u64(o, n->uidvalidity);
		OUT_LIT(o, "-");
		out_u64(o, n->uid);
	} else {
		OUT_LIT(o, "><item id='current");
	}
	OUT_LIT(o, "'><mail-event xmlns='" XMPP_NS_MAIL "'");
	attr(o, "kind", kinds[n->kind < 4 ? n->kind : 0]);
	attr(o, "type", evrec_type_name(n->type));
	attr(o, "account", s->account);
	attr(o, "mailbox", n->path);
	attr_u64(o, "uid", n->uid);
	attr_u64(o, "uidvalidity", n->uidvalidity);
	attr_u64(o, "uidnext", n->uidnext);
	attr_u64(o, "messages", n->messages);
	attr_u64(o, "unseen", n->unseen);
	attr_u64(o, "coalesced", n->coalesced);
	OUT_LIT(o, "/></item></items></event><headers xmlns='http://jabber.org/protocol/shim'>");
	if (strcmp(node, leaf) != 0) {
		OUT_LIT(o, "<header name='Collection'>");
		xmpp_out_esc(o, node);
		OUT_LIT(o, "</header>");
	}
	OUT_LIT(o, "<header name='SubID'>");
	out_u64(o, shard);
	OUT_LIT(o, "-");
	out_u64(o, s->id);
	OUT_LIT(o, "</header></headers><no-store xmlns='urn:xmpp:hints'/></message>");
	if (o->overflow) {
		out_undo(o, start);
		return -ENOBUFS;
	}
	return 0;
}

int xmpp_sieve_render(const struct xmpp_env *env, const char *target, const char *text,
		      uint64_t seq, struct xmpp_out *o)
{
	size_t start = o->len;

	if (strncmp(target, "xmpp:", 5) == 0)
		target += 5;
	/* RFC 5122 allows "xmpp://auth/jid" and "?query": keep the JID. */
	if (strncmp(target, "//", 2) == 0 && strchr(target + 2, '/'))
		target = strchr(target + 2, '/') + 1;
	if (!*target || *target == '?' || *target == '@')
		return -EINVAL;
	xmpp_out_printf(o, "<message type='headline'");
	attr(o, "from", env->component);
	xmpp_out_printf(o, " to='");
	for (const char *t = target; *t && *t != '?' && !o->overflow; t++) {
		char one[2] = { *t, 0 };

		xmpp_out_esc(o, one);
	}
	xmpp_out_printf(o, "' id='s-%llu'><body>", (unsigned long long)seq);
	xmpp_out_esc(o, text[0] ? text : "You have new mail.");
	xmpp_out_printf(o, "</body><no-store xmlns='urn:xmpp:hints'/></message>");
	if (o->overflow) {
		out_undo(o, start);
		return -ENOBUFS;
	}
	return 0;
}

int xmpp_ended_render(const struct xmpp_env *env, const char *jid, const char *node, uint32_t shard,
		      uint64_t id, uint64_t seq, struct xmpp_out *o)
{
	size_t start = o->len;
	char subid[48];

	snprintf(subid, sizeof(subid), "%u-%llu", shard, (unsigned long long)id);
	/* "e-" ids: a bounce of this notice ends nothing (handle_bounce). */
	xmpp_out_printf(o, "<message");
	attr(o, "from", env->component);
	attr(o, "to", jid);
	xmpp_out_printf(o, " id='e-%llu'><pubsub xmlns='" XMPP_NS_PUBSUB "'><subscription",
			(unsigned long long)seq);
	attr(o, "node", node);
	attr(o, "jid", jid);
	attr(o, "subid", subid);
	xmpp_out_printf(o, " subscription='none'/></pubsub></message>");
	if (o->overflow) {
		out_undo(o, start);
		return -ENOBUFS;
	}
	return 0;
}

int xmpp_ping_render(const struct xmpp_env *env, uint64_t seq, struct xmpp_out *o)
{
	size_t start = o->len;

	xmpp_out_printf(o, "<iq type='get' id='ping-%llu'", (unsigned long long)seq);
	attr(o, "from", env->component);
	attr(o, "to", env->component);
	xmpp_out_printf(o, "><ping xmlns='" NS_PING "'/></iq>");
	if (o->overflow) {
		out_undo(o, start);
		return -ENOBUFS;
	}
	return 0;
}
