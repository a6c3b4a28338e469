/* test_xmpp_stanza: the XMPP worker's pure layers: the expat stream parser
 * (header, stanzas, keep-alives, split input, restricted XML, limits), the
 * handshake digest, node names, and the stanza handling (pubsub subscribe,
 * unsubscribe, subscriptions, options, disco, ping, bounces) with a fake
 * environment, plus notification and Sieve rendering. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "egress/xmpp/xmpp_stanza.h"
#include "egress/xmpp/xmpp_stream.h"

#define COMP "pna.example.com"

/* ---- a stream that keeps the last stanza's reply ---- */

static struct xmpp_env env;
static char outbuf[65536], hdr_id[64];
static struct xmpp_out out;
static struct xmpp_result res;
static unsigned nstanzas;
static struct sub_spec fake_subs[4];
static unsigned nfake;

static uint32_t f_shard_of(void *arg, const char *account)
{
	(void)arg;
	return account[0] == 'a' ? 0 : 1;
}

static bool f_owner(void *arg, const char *bare, const char *account)
{
	(void)arg;
	return strcmp(bare, account) == 0;
}

static int f_subs(void *arg, const char *subscriber, const char *account,
		  int (*fn)(const struct sub_spec *s, uint32_t shard, void *a), void *a)
{
	(void)arg;
	for (unsigned i = 0; i < nfake; i++)
		if (strcmp(fake_subs[i].subscriber, subscriber) == 0 &&
		    (!account || strcmp(fake_subs[i].account, account) == 0) &&
		    fn(&fake_subs[i], 1, a))
			return 1;
	return 0;
}

static int f_mailboxes(void *arg, const char *account, int (*fn)(const char *path, void *a),
		       void *a)
{
	(void)arg;
	(void)account;
	if (fn("INBOX", a) || fn("Work/2026", a))
		return 1;
	return 0;
}

static void on_header(void *arg, const char *id)
{
	(void)arg;
	snprintf(hdr_id, sizeof(hdr_id), "%s", id);
}

static void on_stanza(void *arg, const struct xmpp_el *st)
{
	(void)arg;
	nstanzas++;
	out.len = 0;
	outbuf[0] = '\0';
	xmpp_stanza_handle(&env, st, &out, &res);
}

static struct xmpp_stream *new_stream(void)
{
	struct xmpp_stream_cb cb = { on_header, on_stanza, NULL };
	struct xmpp_stream *s = NULL;
	const char *cond, *why;
	static const char head[] = "<?xml version='1.0'?><stream:stream xmlns='jabber:component:"
				   "accept' xmlns:stream='http://etherx.jabber.org/streams' "
				   "id='3BF96D32' from='" COMP "'>";

	CHECK_EQ(xmpp_stream_open(4096, &cb, &s), 0);
	CHECK_EQ(xmpp_stream_feed(s, head, strlen(head), &cond, &why), 0);
	return s;
}

/* Feed one stanza to a fresh stream; the reply is in outbuf. */
static int run(const char *stanza)
{
	struct xmpp_stream *s = new_stream();
	const char *cond, *why;
	int rc;

	nstanzas = 0;
	memset(&res, 0, sizeof(res));
	rc = xmpp_stream_feed(s, stanza, strlen(stanza), &cond, &why);
	xmpp_stream_close(s);
	return rc;
}

static bool has(const char *needle)
{
	if (strstr(outbuf, needle))
		return true;
	fprintf(stderr, "  missing %s in: %s\n", needle, outbuf);
	return false;
}

#define IQ(type, body) \
	"<iq type='" type "' from='alice@example.com/phone' to='" COMP "' id='q1'>" body "</iq>"
#define PS(body) "<pubsub xmlns='http://jabber.org/protocol/pubsub'>" body "</pubsub>"

static void test_stream(void)
{
	struct xmpp_stream *s = new_stream();
	const char *cond = NULL, *why = NULL;
	const char *ping = IQ("get", "<ping xmlns='urn:xmpp:ping'/>");
	char hex[41];

	CHECK_STR(hdr_id, "3BF96D32");
	nstanzas = 0;
	/* split anywhere, with whitespace keep-alives between stanzas */
	for (size_t i = 0; ping[i]; i++)
		CHECK_EQ(xmpp_stream_feed(s, ping + i, 1, &cond, &why), 0);
	CHECK_EQ(xmpp_stream_feed(s, " \n ", 3, &cond, &why), 0);
	CHECK_EQ(xmpp_stream_feed(s, "<handshake/>", 12, &cond, &why), 0);
	CHECK_EQ(nstanzas, 2);
	CHECK_EQ(xmpp_stream_feed(s, "</stream:stream>", 16, &cond, &why), -EPIPE);
	xmpp_stream_close(s);

	CHECK_EQ(run("<message><body>x</bod></message>"), -EBADMSG);
	CHECK_EQ(run("<!-- c --><iq/>"), -EBADMSG);
	CHECK_EQ(run("<?pi x?>"), -EBADMSG);
	CHECK_EQ(run("<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>"
		     "<a><a><a>"),
		 -EBADMSG);
	{
		static char big[20000];

		memset(big, 'x', sizeof(big) - 1);
		memcpy(big, "<message>", 9);
		CHECK_EQ(run(big), -EBADMSG);
	}
	/* A stream whose root is not stream:stream */
	{
		struct xmpp_stream_cb cb = { on_header, on_stanza, NULL };

		CHECK_EQ(xmpp_stream_open(4096, &cb, &s), 0);
		CHECK_EQ(xmpp_stream_feed(s, "<foo/>", 6, &cond, &why), -EBADMSG);
		CHECK_STR(cond, "invalid-namespace");
		CHECK_EQ(xmpp_stream_reset(s), 0);
		CHECK_EQ(xmpp_stream_feed(s, "<!DOCTYPE x []>", 15, &cond, &why), -EBADMSG);
		CHECK_STR(cond, "restricted-xml");
		xmpp_stream_close(s);
	}
	/* XEP-0114 section 3's example */
	xmpp_stream_handshake("3BF96D32", "s3cr3t", hex);
	CHECK_STR(hex, "ba33290100f616a33656a931798d6c9011cfa840");
}

static void test_nodes(void)
{
	char a[NAMES_ACCOUNT_MAX + 1], p[NAMES_KEY_MAX + 1], n[300];
	const char *why;

	CHECK_EQ(xmpp_node_parse("Alice@Example.COM/mail_events/inbox/x", a, sizeof(a), p,
				 sizeof(p), &why),
		 0);
	CHECK_STR(a, "Alice@example.com");
	CHECK_STR(p, "INBOX/x");
	CHECK_EQ(xmpp_node_parse("a@b.c/mail_events", a, sizeof(a), p, sizeof(p), &why), 0);
	CHECK_STR(p, "");
	CHECK_EQ(xmpp_node_parse("a@b.c/mail_eventsX", a, sizeof(a), p, sizeof(p), &why), -EINVAL);
	CHECK_EQ(xmpp_node_parse("a@b.c", a, sizeof(a), p, sizeof(p), &why), -EINVAL);
	CHECK_EQ(xmpp_node_parse("nodomain/mail_events", a, sizeof(a), p, sizeof(p), &why),
		 -EINVAL);
	CHECK_EQ(xmpp_node_parse("a@b.c/mail_events//x", a, sizeof(a), p, sizeof(p), &why),
		 -EINVAL);
	CHECK_EQ(xmpp_node_format("a@b.c", "INBOX", n, sizeof(n)), 23);
	CHECK_STR(n, "a@b.c/mail_events/INBOX");
}

static void test_subscribe(void)
{
	CHECK_EQ(run(IQ("set", PS("<subscribe node='alice@example.com/mail_events/INBOX' "
				  "jid='alice@example.com'/>"))),
		 0);
	CHECK_EQ(res.kind, XMPP_RES_REQUEST);
	CHECK_EQ(res.req.op, SUB_OP_ADD);
	CHECK_EQ(res.shard, 0);
	CHECK_STR(res.req.spec.account, "alice@example.com");
	CHECK_STR(res.req.spec.path, "INBOX");
	CHECK_STR(res.req.spec.subscriber, "alice@example.com");
	CHECK_STR(res.req.spec.target, "alice@example.com");
	CHECK_EQ(res.req.spec.depth, SUB_EXACT);
	CHECK_EQ(res.req.spec.events, 0);
	CHECK_STR(res.pend.to, "alice@example.com/phone");

	/* account node: subtree by default; options narrow it */
	run(IQ("set", PS("<subscribe node='alice@example.com/mail_events' jid='alice@example.com'/>"
			 "<options><x xmlns='jabber:x:data' type='submit'>"
			 "<field var='pnad#event_types'><value>MessageNew</value>"
			 "<value>messageexpunge</value></field>"
			 "<field var='pnad#heartbeat'><value>60</value></field></x></options>")));
	CHECK_EQ(res.kind, XMPP_RES_REQUEST);
	CHECK_EQ(res.req.spec.depth, SUB_SUBTREE);
	CHECK_EQ(res.req.spec.heartbeat, 60);
	CHECK_EQ(res.req.spec.events, (1u << 1) | (1u << 4));
	run(IQ("set",
	       PS("<subscribe node='alice@example.com/mail_events' jid='alice@example.com'/>"
		  "<options><x xmlns='jabber:x:data' type='submit'><field "
		  "var='pubsub#subscription_depth'><value>1</value></field></x></options>")));
	CHECK_EQ(res.req.spec.depth, SUB_EXACT);

	/* errors */
	run(IQ("set",
	       PS("<subscribe node='alice@example.com/mail_events' jid='eve@example.com'/>")));
	CHECK_EQ(res.kind, XMPP_RES_REPLY);
	CHECK(has("<bad-request ") && has("<invalid-jid "));
	run(IQ("set", PS("<subscribe node='whatever' jid='alice@example.com'/>")));
	CHECK(has("type='error'") && has("<item-not-found "));
	run(IQ("set", PS("<subscribe jid='alice@example.com'/>")));
	CHECK(has("<nodeid-required "));
	run(IQ("set", PS("<subscribe node='alice@example.com/mail_events'/>")));
	CHECK(has("<jid-required "));
	run(IQ("set", PS("<subscribe node='alice@example.com/mail_events' jid='alice@example.com'/>"
			 "<options><x xmlns='jabber:x:data' type='submit'><field "
			 "var='pnad#event_types'><value>Bogus</value></field></x></options>")));
	CHECK(has("<invalid-options "));
	run(IQ("set", PS("<publish node='x'/>")));
	CHECK(has("<feature-not-implemented "));
}

static void test_shard_replies(void)
{
	struct xmpp_pend p = { .op = XMPP_PEND_SUBSCRIBE };
	static struct sub_rep r;

	snprintf(p.id, sizeof(p.id), "q<1>");
	snprintf(p.from, sizeof(p.from), COMP);
	snprintf(p.to, sizeof(p.to), "bob@example.com/x");
	out.len = 0;
	r.status = -EACCES;
	snprintf(r.reason, sizeof(r.reason), "bob & co may not");
	xmpp_stanza_reply(&env, &p, &r, 1, &out);
	CHECK(has("id='q&lt;1&gt;'") && has("<error type='auth'><not-authorized ") &&
	      has("bob &amp; co may not"));
	out.len = 0;
	r.status = 0;
	r.spec.id = 42;
	snprintf(r.spec.account, sizeof(r.spec.account), "carol@example.com");
	snprintf(r.spec.path, sizeof(r.spec.path), "INBOX");
	snprintf(r.spec.target, sizeof(r.spec.target), "bob@example.com");
	xmpp_stanza_reply(&env, &p, &r, 1, &out);
	CHECK(has("type='result'") && has("subid='1-42'") &&
	      has("node='carol@example.com/mail_events/INBOX'") &&
	      has("subscription='subscribed'"));
	p.op = XMPP_PEND_UNSUBSCRIBE;
	out.len = 0;
	r.status = -ENOENT;
	xmpp_stanza_reply(&env, &p, &r, 1, &out);
	CHECK(has("<not-subscribed "));
}

static void test_existing_subs(void)
{
	struct sub_spec *s = &fake_subs[0];

	memset(fake_subs, 0, sizeof(fake_subs));
	s->id = 77;
	s->transport = SUB_XMPP;
	snprintf(s->account, sizeof(s->account), "alice@example.com");
	snprintf(s->path, sizeof(s->path), "INBOX");
	snprintf(s->subscriber, sizeof(s->subscriber), "alice@example.com");
	snprintf(s->target, sizeof(s->target), "alice@example.com");
	nfake = 1;

	run(IQ("get", PS("<subscriptions/>")));
	CHECK(has("<subscription node='alice@example.com/mail_events/INBOX' "
		  "jid='alice@example.com' subid='1-77' subscription='subscribed'/>"));
	run(IQ("get", PS("<subscriptions node='alice@example.com/mail_events/Other'/>")));
	CHECK(!strstr(outbuf, "<subscription ") && has("type='result'"));
	run(IQ("set", PS("<unsubscribe node='alice@example.com/mail_events/INBOX' "
			 "jid='alice@example.com'/>")));
	CHECK_EQ(res.kind, XMPP_RES_REQUEST);
	CHECK_EQ(res.req.op, SUB_OP_REMOVE);
	CHECK_EQ(res.req.spec.id, 77);
	CHECK_EQ(res.shard, 1);
	run(IQ("set", PS("<unsubscribe node='alice@example.com/mail_events/INBOX' "
			 "jid='alice@example.com' subid='1-78'/>")));
	CHECK(has("<invalid-subid "));
	run(IQ("set", PS("<unsubscribe node='alice@example.com/mail_events/Sent' "
			 "jid='alice@example.com'/>")));
	CHECK(has("<not-subscribed "));
	run(IQ("get", PS("<options node='alice@example.com/mail_events/INBOX' "
			 "jid='alice@example.com'/>")));
	CHECK(has("var='pnad#event_types'") && has("<value>MessageNew</value>") &&
	      has("subid='1-77'"));
	run(IQ("set", PS("<options node='alice@example.com/mail_events/INBOX' "
			 "jid='alice@example.com' subid='1-77'><x xmlns='jabber:x:data' "
			 "type='submit'><field var='pubsub#subscription_depth'><value>all</value>"
			 "</field></x></options>")));
	CHECK_EQ(res.kind, XMPP_RES_REQUEST);
	CHECK_EQ(res.req.op, SUB_OP_ADD);
	CHECK_EQ(res.req.spec.depth, SUB_SUBTREE);
	CHECK_STR(res.req.spec.target, "alice@example.com");
	/* two subscriptions on one node: subid required */
	fake_subs[1] = fake_subs[0];
	fake_subs[1].id = 99;
	nfake = 2;
	run(IQ("set", PS("<unsubscribe node='alice@example.com/mail_events/INBOX' "
			 "jid='alice@example.com'/>")));
	CHECK(has("<subid-required "));
	nfake = 0;
}

static void test_disco_ping(void)
{
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"));
	CHECK(has("<identity category='pubsub' type='service'") &&
	      has("var='http://jabber.org/protocol/disco#info'") &&
	      has("var='http://jabber.org/protocol/pubsub'"));
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#info' "
		      "node='alice@example.com/mail_events'/>"));
	CHECK(has("type='collection'") && has("node='alice@example.com/mail_events'"));
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#info' "
		      "node='alice@example.com/mail_events/INBOX'/>"));
	CHECK(has("type='leaf'"));
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#info' node='zz'/>"));
	CHECK(has("<item-not-found "));
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#items' "
		      "node='alice@example.com/mail_events'/>"));
	CHECK(has("node='alice@example.com/mail_events/INBOX'") &&
	      has("node='alice@example.com/mail_events/Work/2026'"));
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#items' "
		      "node='bob@example.com/mail_events'/>"));
	CHECK(has("<not-authorized "));
	run(IQ("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"));
	CHECK(has("node='alice@example.com/mail_events'"));
	run(IQ("get", "<ping xmlns='urn:xmpp:ping'/>"));
	CHECK(has("<iq type='result' from='" COMP "' to='alice@example.com/phone' id='q1'/>"));
	run(IQ("get", "<unknown xmlns='urn:x'/>"));
	CHECK(has("<service-unavailable "));
	run(IQ("get", "<a xmlns='urn:x'/><b xmlns='urn:x'/>"));
	CHECK(has("<bad-request "));
	run("<iq type='result' from='" COMP "' to='" COMP "' id='ping-4'/>");
	CHECK_EQ(res.kind, XMPP_RES_PONG);
	run("<iq type='get' to='" COMP "' id='x'><ping xmlns='urn:xmpp:ping'/></iq>");
	CHECK_EQ(res.kind, XMPP_RES_NONE);
	run("<presence from='a@b.c' to='" COMP "'/>");
	CHECK_EQ(res.kind, XMPP_RES_NONE);
}

static void test_bounce(void)
{
	run("<message type='error' from='a@b.c' to='" COMP "' id='n-1-4294967297-9'>"
	    "<error type='cancel'><service-unavailable "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
	CHECK_EQ(res.kind, XMPP_RES_BOUNCE);
	CHECK_EQ(res.shard, 1);
	CHECK_EQ(res.req.op, SUB_OP_REMOVE);
	CHECK_EQ(res.req.spec.id, 4294967297ull);
	run("<message type='error' from='a@b.c' to='" COMP "' id='n-1-5-9'>"
	    "<error type='wait'><resource-constraint "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
	CHECK_EQ(res.kind, XMPP_RES_NONE);
	run("<message type='error' from='a@b.c' to='" COMP "' id='n-x-5-9'>"
	    "<error type='cancel'/></message>");
	CHECK_EQ(res.kind, XMPP_RES_NONE);
}

static void test_render(void)
{
	struct sub_spec s = { .id = 5, .transport = SUB_XMPP, .depth = SUB_SUBTREE };
	struct sub_note n = { .kind = SUB_NOTE_EVENT,
			      .type = 1,
			      .uid = 7,
			      .uidvalidity = 42,
			      .messages = 7,
			      .unseen = 3 };
	char small[64];
	struct xmpp_out o = { small, sizeof(small), 0, false };

	snprintf(s.account, sizeof(s.account), "alice@example.com");
	snprintf(s.target, sizeof(s.target), "alice@example.com");
	snprintf(n.path, sizeof(n.path), "Work/2026");
	out.len = 0;
	CHECK_EQ(xmpp_note_render(&env, &s, 1, &n, 3, &out), 0);
	CHECK(has("<message type='headline' from='" COMP
		  "' to='alice@example.com' id='n-1-5-3'>") &&
	      has("<items node='alice@example.com/mail_events/Work/2026'><item id='uid-42-7'>") &&
	      has("<mail-event xmlns='urn:pnad:mail-event:0' kind='event' type='MessageNew'") &&
	      has("mailbox='Work/2026' uid='7' uidvalidity='42'") &&
	      has("messages='7' unseen='3'") &&
	      has("<header name='Collection'>alice@example.com/mail_events</header>") &&
	      has("<header name='SubID'>1-5</header>"));
	CHECK_EQ(xmpp_note_render(&env, &s, 1, &n, 3, &o), -ENOBUFS);
	CHECK_EQ(o.len, 0);
	out.len = 0;
	CHECK_EQ(xmpp_sieve_render(&env, "xmpp:bob@example.net?message;body=x", "Hi <you> & co", 4,
				   &out),
		 0);
	CHECK(has("to='bob@example.net'") && has("<body>Hi &lt;you&gt; &amp; co</body>"));
	CHECK_EQ(xmpp_sieve_render(&env, "xmpp:", "x", 4, &out), -EINVAL);
	out.len = 0;
	CHECK_EQ(xmpp_ping_render(&env, 9, &out), 0);
	CHECK(has("id='ping-9'") && has("<ping xmlns='urn:xmpp:ping'/>"));
	out.len = 0;
	CHECK_EQ(xmpp_ended_render(&env, "a&b@example.com", "a&b@example.com/mail_events/Old", 1, 5,
				   10, &out),
		 0);
	CHECK(has("<message from='" COMP "' to='a&amp;b@example.com' id='e-10'>") &&
	      has("<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscription "
		  "node='a&amp;b@example.com/mail_events/Old' jid='a&amp;b@example.com' "
		  "subid='1-5' subscription='none'/></pubsub></message>"));
	o.len = 0;
	CHECK_EQ(xmpp_ended_render(&env, "a@b.c", "a@b.c/mail_events", 1, 5, 10, &o), -ENOBUFS);
	CHECK_EQ(o.len, 0);
}

int main(void)
{
	env = (struct xmpp_env){ .component = COMP,
				 .now = 1000,
				 .shard_of = f_shard_of,
				 .owner = f_owner,
				 .subs = f_subs,
				 .mailboxes = f_mailboxes };
	out = (struct xmpp_out){ outbuf, sizeof(outbuf), 0, false };
	test_stream();
	test_nodes();
	test_subscribe();
	test_shard_replies();
	test_existing_subs();
	test_disco_ping();
	test_bounce();
	test_render();
	return check_summary();
}
