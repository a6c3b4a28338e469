/* micro_egress: pna-micro cases for the egress workers' per-notification
 * work: a SIP NOTIFY (egress/sip/sip_build: message-summary and mail-event
 * bodies, then the request), parsing a 200 OK to it and a SUBSCRIBE
 * (egress/sip/sip_parse), and an XMPP pubsub notification stanza
 * (egress/xmpp/xmpp_stanza). */
#include <benchmark/benchmark.h>
#include <cstring>

extern "C" {
#include "egress/sip/sip_build.h"
#include "egress/sip/sip_parse.h"
#include "egress/xmpp/xmpp_stanza.h"
#include "pna.pb-c.h"
}

#include "bench/micro/micro_cycles.h"

#define ACCOUNT "user0004711@example.com"
#define ACCOUNT_URI "sip:" ACCOUNT

/* The dialog of sip_notify_send for one subscription: fields as the SIP
 * worker fills them from the subscription's target blob. */
static struct sip_req_out notify_req(const char *event, const char *ctype)
{
	struct sip_req_out r;

	memset(&r, 0, sizeof(r));
	r.method = "NOTIFY";
	r.ruri = sip_span_str("sip:user0004711@10.0.0.1:5060");
	r.transport = "UDP";
	r.via_host = "192.0.2.10";
	r.via_port = 5060;
	r.branch = "3f9a01c2e4b5d6a7";
	r.from_uri = sip_span_str(ACCOUNT_URI);
	r.from_tag = sip_span_str("pn1-2-4294967377-9c1e");
	r.to_uri = sip_span_str(ACCOUNT_URI);
	r.to_tag = sip_span_str("8d1f0c2a7b");
	r.call_id = sip_span_str("3c7f9a2e-5b1d-4e8a-9c0f-1a2b3c4d5e6f");
	r.cseq = 7;
	r.route = sip_span_str("<sip:cna1.example.net;lr>");
	r.contact = "<sip:192.0.2.10:5060>";
	r.event = event;
	r.sub_state = "active;expires=3412";
	r.ctype = ctype;
	return r;
}

/* Body then request, into the buffers a transaction has. */
static void sip_notify_message_summary(benchmark::State &st)
{
	char body[1024], msg[4096];
	struct sip_req_out r = notify_req("message-summary", "application/simple-message-summary");
	struct sip_wbuf bw, w;
	micro_cycles cyc(st);

	for (auto _ : st) {
		sip_wbuf_init(&bw, body, sizeof(body));
		int blen = sip_body_mwi(&bw, ACCOUNT_URI, 305, 4);
		r.body = body;
		r.body_len = (size_t)blen;
		sip_wbuf_init(&w, msg, sizeof(msg));
		benchmark::DoNotOptimize(sip_build_request(&w, &r));
		benchmark::ClobberMemory();
	}
	cyc.done();
	st.counters["bytes"] = (double)w.len;
}
BENCHMARK(sip_notify_message_summary);

static void sip_notify_mail_event(benchmark::State &st)
{
	char body[1024], msg[4096];
	struct sip_req_out r = notify_req("mail-event", "application/x-pnad-mail-event+json");
	struct sip_mail_event e;
	struct sip_wbuf bw, w;

	memset(&e, 0, sizeof(e));
	e.kind = "event";
	e.event = "MessageNew";
	e.account = ACCOUNT;
	e.mailbox = "INBOX";
	e.uid = 4711;
	e.uidvalidity = 1700000000u;
	e.uidnext = 4712;
	e.messages = 305;
	e.unseen = 4;
	micro_cycles cyc(st);
	for (auto _ : st) {
		sip_wbuf_init(&bw, body, sizeof(body));
		int blen = sip_body_mail_event(&bw, &e);
		r.body = body;
		r.body_len = (size_t)blen;
		sip_wbuf_init(&w, msg, sizeof(msg));
		benchmark::DoNotOptimize(sip_build_request(&w, &r));
		benchmark::ClobberMemory();
	}
	cyc.done();
	st.counters["bytes"] = (double)w.len;
}
BENCHMARK(sip_notify_mail_event);

/* A phone's answer to our NOTIFY. */
static const char ok_200[] =
	"SIP/2.0 200 OK\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK3f9a01c2e4b5d6a7;rport=5060;"
	"received=192.0.2.10\r\n"
	"From: <" ACCOUNT_URI ">;tag=pn1-2-4294967377-9c1e\r\n"
	"To: <" ACCOUNT_URI ">;tag=8d1f0c2a7b\r\n"
	"Call-ID: 3c7f9a2e-5b1d-4e8a-9c0f-1a2b3c4d5e6f\r\n"
	"CSeq: 7 NOTIFY\r\n"
	"User-Agent: Yealink SIP-T46U 108.86.0.20\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

/* A phone's re-SUBSCRIBE after a digest challenge, through its CNA. */
static const char subscribe[] =
	"SUBSCRIBE " ACCOUNT_URI " SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-524287-1---9f0e1d2c3b4a5968;rport\r\n"
	"Max-Forwards: 70\r\n"
	"Contact: <sip:user0004711@10.0.0.1:5060;transport=udp>\r\n"
	"To: <" ACCOUNT_URI ">\r\n"
	"From: <" ACCOUNT_URI ">;tag=5a6b7c8d\r\n"
	"Call-ID: 9b8a7c6d-5e4f-3a2b-1c0d-ef0123456789\r\n"
	"CSeq: 2 SUBSCRIBE\r\n"
	"Expires: 3600\r\n"
	"Accept: application/simple-message-summary\r\n"
	"Event: message-summary\r\n"
	"Allow-Events: presence, kpml, talk, message-summary\r\n"
	"Supported: replaces, outbound, gruu\r\n"
	"User-Agent: Yealink SIP-T46U 108.86.0.20\r\n"
	"Authorization: Digest username=\"user0004711\", realm=\"example.com\", "
	"nonce=\"6a1f0e2d3c4b5a69788796a5b4c3d2e1\", uri=\"" ACCOUNT_URI "\", "
	"response=\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\", algorithm=MD5, "
	"cnonce=\"a1b2c3d4\", qop=auth, nc=00000001\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

/* One datagram (stream false), as the UDP path parses it. */
static void parse_case(benchmark::State &st, const char *msg, size_t len)
{
	struct sip_msg m;
	const char *why = nullptr;
	micro_cycles cyc(st);

	for (auto _ : st) {
		int rc = sip_parse(&m, msg, len, false, &why);
		benchmark::DoNotOptimize(rc);
		if (rc < 0) {
			st.SkipWithError(why);
			break;
		}
	}
	cyc.done();
	st.counters["bytes"] = (double)len;
}

static void sip_parse_200_ok(benchmark::State &st)
{
	parse_case(st, ok_200, sizeof(ok_200) - 1);
}
BENCHMARK(sip_parse_200_ok);

static void sip_parse_subscribe(benchmark::State &st)
{
	parse_case(st, subscribe, sizeof(subscribe) - 1);
}
BENCHMARK(sip_parse_subscribe);

/* The MessageNew notification of an XMPP subscription on INBOX (what
 * xmpp_main sends per note). */
static void xmpp_notification(benchmark::State &st)
{
	struct sub_spec s;
	struct sub_note n;
	struct xmpp_env env;
	char buf[4096];
	struct xmpp_out o = { buf, sizeof(buf), 0, false };
	uint64_t seq = 0;

	memset(&env, 0, sizeof(env));
	env.component = "pnad.example.com";
	memset(&s, 0, sizeof(s));
	s.id = (3ull << 32) | 81234u;
	s.transport = SUB_XMPP;
	strcpy(s.account, ACCOUNT);
	strcpy(s.path, "INBOX");
	strcpy(s.subscriber, ACCOUNT);
	strcpy(s.target, "user0004711@example.com/phone-7f3a");
	memset(&n, 0, sizeof(n));
	n.kind = SUB_NOTE_EVENT;
	n.type = PNA__EVENT_TYPE__MESSAGE_NEW;
	strcpy(n.path, "INBOX");
	n.uid = 4711;
	n.uidvalidity = 1700000000u;
	n.uidnext = 4712;
	n.messages = 305;
	n.unseen = 4;
	micro_cycles cyc(st);
	for (auto _ : st) {
		o.len = 0;
		int rc = xmpp_note_render(&env, &s, 2, &n, ++seq, &o);
		benchmark::DoNotOptimize(rc);
		benchmark::ClobberMemory();
	}
	cyc.done();
	st.counters["bytes"] = (double)o.len;
}
BENCHMARK(xmpp_notification);
