/* xmpp_stanza: the XMPP worker's pure stanza layer: a small DOM that the
 * stream parser (xmpp_stream) fills, the handling of what clients send to the
 * component (XEP-0060 subscribe/unsubscribe/subscriptions/options, XEP-0030
 * disco#info/#items, XEP-0199 ping, notification bounces) turned into
 * replies or shard requests, and the rendering of notifications. No I/O:
 * lookups go through struct xmpp_env callbacks, so the fuzzer and the unit
 * test drive the same code as the worker (xmpp_main).
 *
 * Addressing (draft section 5.1): the service is the component domain; an
 * account's node is "<account>/mail_events", a mailbox's
 * "<account>/mail_events/<path>" ('/' separated, canonical through
 * lib/names). Subscription ids (subid) are "<shard>-<id>" like the admin API.
 * Payload: <mail-event xmlns='urn:pnad:mail-event:0'> (docs/xmpp.md). */
#ifndef PNA_XMPP_STANZA_H
#define PNA_XMPP_STANZA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sub_msg.h"

#define XMPP_NS_CLIENT "jabber:component:accept"
#define XMPP_NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define XMPP_NS_MAIL "urn:pnad:mail-event:0"
#define XMPP_OPT_EVENTS "pnad#event_types"
#define XMPP_OPT_HEARTBEAT "pnad#heartbeat"
#define XMPP_OPT_DEPTH "pubsub#subscription_depth"
#define XMPP_NODE_SUFFIX "mail_events"
#define XMPP_SUB_LIFETIME \
	(30u * 86400u) /* a subscription lasts 30 days
					  * from its last (re)subscribe */

/* A bump pool that a stanza's DOM lives in; reset per stanza. The caller
 * owns buf. */
struct xmpp_pool {
	char *buf;
	size_t cap, used;
};

/* One element. Strings live in the pool. attrs is name, value pairs ending
 * with NULL; a namespaced attribute's name is "<ns>|<local>". */
struct xmpp_el {
	const char *ns;	  /* namespace URI, "" for none */
	const char *name; /* local name */
	const char **attrs;
	struct xmpp_el *parent, *child, *last, *next;
	char *text; /* character data of this element (not children), "" */
	size_t text_len;
};

/* Pool memory, NULL when full (the stanza is then too large). */
void *xmpp_pool_alloc(struct xmpp_pool *p, size_t n);
/* An element under parent (NULL: a root) from an expat-style name ("ns|local"
 * or "local") and attribute list (NULL-terminated pairs). NULL when the pool
 * is full. */
struct xmpp_el *xmpp_el_new(struct xmpp_pool *p, struct xmpp_el *parent, const char *qname,
			    const char **attrs);
/* Append character data. 0 or -ENOMEM (pool full). */
int xmpp_el_text(struct xmpp_pool *p, struct xmpp_el *e, const char *s, size_t n);
const char *xmpp_el_attr(const struct xmpp_el *e, const char *name); /* NULL if absent */
/* First child with namespace ns (NULL: any) and local name (NULL: any). */
struct xmpp_el *xmpp_el_child(const struct xmpp_el *e, const char *ns, const char *name);

/* Output: rendered XML appended to a caller-owned buffer; `overflow` is set
 * (and len left unchanged) when something did not fit. */
struct xmpp_out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

/* What the handler needs from the world. Every callback is required. */
struct xmpp_env {
	const char *component; /* our domain */
	uint32_t now;	       /* unix seconds */
	void *arg;
	uint32_t (*shard_of)(void *arg, const char *account);
	/* May `bare` (a bare JID) see account's mailbox names (disco)? */
	bool (*owner)(void *arg, const char *bare, const char *account);
	/* Call fn for each XMPP subscription of `subscriber` (on `account`
	 * only, unless NULL) until fn returns non-zero. */
	int (*subs)(void *arg, const char *subscriber, const char *account,
		    int (*fn)(const struct sub_spec *s, uint32_t shard, void *a), void *a);
	/* Call fn for each mailbox path of account. */
	int (*mailboxes)(void *arg, const char *account, int (*fn)(const char *path, void *a),
			 void *a);
};

enum xmpp_pend_op { XMPP_PEND_SUBSCRIBE = 1, XMPP_PEND_UNSUBSCRIBE, XMPP_PEND_OPTIONS };

/* What to answer once the shard replies to a request. */
struct xmpp_pend {
	uint8_t op;			  /* enum xmpp_pend_op */
	char id[128];			  /* the IQ's id */
	char from[SUB_TARGET_MAX + 1];	  /* our address it was sent to */
	char to[SUB_TARGET_MAX + 1];	  /* the requester (full JID) */
	char node[NAMES_KEY_MAX + 32];	  /* the node it named */
	char jid[SUB_SUBSCRIBER_MAX + 1]; /* the subscription's jid */
};

enum xmpp_res_kind {
	XMPP_RES_NONE = 0, /* nothing to do */
	XMPP_RES_REPLY,	   /* send out */
	XMPP_RES_REQUEST,  /* send req to shard; answer with pend on its reply */
	XMPP_RES_BOUNCE,   /* a notification bounced for good: SUB_OP_REMOVE req */
	XMPP_RES_PONG,	   /* a result or error for one of our pings */
};

struct xmpp_result {
	enum xmpp_res_kind kind;
	uint32_t shard;
	struct sub_req req;
	struct xmpp_pend pend;
	const char *why; /* static: why a stanza was ignored, for counters */
};

/* Handle one stanza (a depth-1 element of the stream). Fills *res; a reply
 * goes to out. Never fails on input: bad input gets an XMPP error reply or
 * is ignored (res->why). */
void xmpp_stanza_handle(const struct xmpp_env *env, const struct xmpp_el *st, struct xmpp_out *out,
			struct xmpp_result *res);

/* The IQ answer to a request once the shard replied r (from shard). */
void xmpp_stanza_reply(const struct xmpp_env *env, const struct xmpp_pend *p,
		       const struct sub_rep *r, uint32_t shard, struct xmpp_out *out);

/* A pubsub notification for subscription s (of shard) with note n; `seq`
 * makes the message id unique ("n-<shard>-<subid>-<seq>", so a bounce names
 * its subscription). 0 or -ENOBUFS. */
int xmpp_note_render(const struct xmpp_env *env, const struct sub_spec *s, uint32_t shard,
		     const struct sub_note *n, uint64_t seq, struct xmpp_out *out);
/* A Sieve notify message (RFC 5437): text to target ("xmpp:" stripped). 0,
 * -EINVAL (no usable JID) or -ENOBUFS. */
int xmpp_sieve_render(const struct xmpp_env *env, const char *target, const char *text,
		      uint64_t seq, struct xmpp_out *out);
/* The notice that subscription (shard, id) of jid to node ended (XEP-0060
 * 8.8.4: a <subscription subscription='none'/> in a message). 0 or
 * -ENOBUFS. */
int xmpp_ended_render(const struct xmpp_env *env, const char *jid, const char *node, uint32_t shard,
		      uint64_t id, uint64_t seq, struct xmpp_out *out);
/* Our liveness ping to ourselves through the server (XEP-0199). */
int xmpp_ping_render(const struct xmpp_env *env, uint64_t seq, struct xmpp_out *out);

/* "<account>/mail_events[/<path>]" -> canonical account and path ("" for
 * the account node). 0 or -EINVAL with *why. */
int xmpp_node_parse(const char *node, char *account, size_t acap, char *path, size_t pcap,
		    const char **why);
/* The node of (account, path); returns its length, or -ENOBUFS. */
int xmpp_node_format(const char *account, const char *path, char *out, size_t cap);

/* Append XML-escaped s / formatted text to out. */
void xmpp_out_esc(struct xmpp_out *o, const char *s);
void xmpp_out_printf(struct xmpp_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
