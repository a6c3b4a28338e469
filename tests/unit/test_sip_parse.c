/* test_sip_parse: the SIP parser (compact forms, folding, framing, the
 * malformed cases the worker answers with 400), the response shortcut, the
 * builders and the digest computations (RFC 2617 / RFC 7616 vectors). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "egress/sip/sip_auth.h"
#include "egress/sip/sip_build.h"
#include "egress/sip/sip_conn.h"
#include "egress/sip/sip_parse.h"
#include "tests/unit/check.h"

static struct sip_msg m;

#define SUB_HEAD                                                          \
	"SUBSCRIBE sip:alice@example.com;mailbox=Work%2F2026 SIP/2.0\r\n" \
	"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"        \
	"f: \"A, B\" <sip:alice@example.com>;tag=77\r\n"                  \
	"t: <sip:alice@example.com>\r\n"                                  \
	"i: call-1@h\r\n"                                                 \
	"CSeq: 4 SUBSCRIBE\r\n"                                           \
	"m: <sip:alice@10.0.0.1:5062>\r\n"                                \
	"o: message-summary;id=3\r\n"                                     \
	"Expires:\r\n 600\r\n"

static void test_compact_and_folding(void)
{
	const char *why = NULL;
	const char msg[] = SUB_HEAD "l: 0\r\n\r\n";
	struct sip_span v, uri, par, tag, evp, id;
	struct sip_uri u;

	CHECK_EQ(sip_parse(&m, msg, strlen(msg), false, &why), (int)strlen(msg));
	CHECK(m.request && sip_span_eq(sip_msg_span(&m, m.method), "SUBSCRIBE"));
	CHECK_EQ(m.cseq, 4);
	CHECK(sip_span_eq(sip_hdr_get(&m, SIP_H_CALL_ID), "call-1@h"));
	CHECK_EQ(sip_span_num(sip_hdr_get(&m, SIP_H_EXPIRES)), 600);
	CHECK(sip_addr_parse(sip_hdr_get(&m, SIP_H_FROM), &uri, &par) == 0);
	CHECK(sip_param_get(par, "tag", &tag) == 0 && sip_span_eq(tag, "77"));
	CHECK(sip_span_eq(sip_event_pkg(sip_hdr_get(&m, SIP_H_EVENT), &evp), "message-summary"));
	CHECK(sip_param_get(evp, "id", &id) == 0 && sip_span_eq(id, "3"));
	CHECK(sip_uri_parse(sip_msg_span(&m, m.uri), &u) == 0);
	CHECK(sip_span_eq(u.user, "alice") && sip_span_eq(u.host, "example.com"));
	CHECK(sip_param_get(u.params, "mailbox", &v) == 0 && sip_span_eq(v, "Work%2F2026"));
}

static void test_framing(void)
{
	const char *why = NULL;
	const char two[] = SUB_HEAD "l: 3\r\n\r\nabc" SUB_HEAD "l: 0\r\n\r\n";
	size_t first = strlen(SUB_HEAD "l: 3\r\n\r\nabc");

	CHECK_EQ(sip_parse(&m, two, first - 1, true, &why), -EAGAIN);
	CHECK_EQ(sip_parse(&m, two, 20, true, &why), -EAGAIN);
	CHECK_EQ(sip_parse(&m, two, strlen(two), true, &why), (int)first);
	CHECK_EQ(m.body.len, 3);
	CHECK_EQ(sip_parse(&m, two + first, strlen(two) - first, true, &why),
		 (int)(strlen(two) - first));
}

static void bad(const char *msg, const char *reason)
{
	const char *why = NULL;

	CHECK_EQ(sip_parse(&m, msg, strlen(msg), false, &why), -EBADMSG);
	CHECK(why && strcmp(why, reason) == 0);
}

static void test_malformed(void)
{
	static char big[SIP_MAX_HEAD + 100];

	bad("HELLO\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", "bad start line");
	bad("SUBSCRIBE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1"
	    "\r\nt: <sip:a@b>\r\nCSeq: 1 SUBSCRIBE\r\n\r\n",
	    "missing Call-ID");
	bad(SUB_HEAD "l: 10\r\n\r\nabc", "Content-Length past the end of the datagram");
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, SUB_HEAD "X-Big: ", strlen(SUB_HEAD "X-Big: "));
	bad(big, "header section too large");
	CHECK(m.first[SIP_H_VIA] >= 0 && m.first[SIP_H_CALL_ID] >= 0);
	/* the 400 needs the headers of a request with a bad start line */
	bad("SUBSCRIBE  SIP/2.0\r\n"
	    "v: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
	    "bad Request-URI");
	CHECK(m.first[SIP_H_VIA] >= 0);
	/* a NUL is no token character (strchr finds the set's terminator) */
	{
		static const char nul[] = SUB_HEAD "\r\n";
		char copy[sizeof(nul)];
		const char *why = NULL;

		memcpy(copy, nul, sizeof(nul));
		copy[3] = 0; /* "SUB\0CRIBE" */
		CHECK_EQ(sip_parse(&m, copy, sizeof(nul) - 1, false, &why), -EBADMSG);
		CHECK(why && strcmp(why, "bad method") == 0);
		CHECK_EQ(sip_parse(&m, nul, sizeof(nul) - 1, false, &why), (int)sizeof(nul) - 1);
	}
}

static void test_build(void)
{
	const char *why;
	const char msg[] = SUB_HEAD "l: 0\r\n\r\n";
	char out[2048];
	struct sip_wbuf w;

	CHECK(sip_parse(&m, msg, strlen(msg), false, &why) > 0);
	sip_wbuf_init(&w, out, sizeof(out));
	CHECK(sip_build_response(&w, &m, 200, "OK",
				 &(struct sip_resp_opts){ .to_tag = "x1",
							  .received = "10.9.9.9",
							  .rport = 4000 }) > 0);
	out[w.len] = 0;
	CHECK(strstr(out, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=4000;"
			  "received=10.9.9.9\r\n"));
	CHECK(strstr(out, "To: <sip:alice@example.com>;tag=x1\r\n"));
	CHECK(strstr(out, "Content-Length: 0\r\n\r\n"));
	sip_wbuf_init(&w, out, sizeof(out));
	CHECK(sip_body_mwi(&w, "sip:alice@example.com", 10, 3) > 0);
	out[w.len] = 0;
	CHECK(strcmp(out, "Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\n"
			  "Text-Message: 3/7\r\n") == 0);
	sip_wbuf_init(&w, out, 10);
	CHECK_EQ(sip_body_mwi(&w, "sip:alice@example.com", 1, 0), -ENOSPC);
}

static int reply(const char *msg, int *status, char *branch, size_t cap)
{
	struct sip_span br;
	int rc = sip_parse_reply(msg, strlen(msg), status, &br);

	if (rc == 0)
		snprintf(branch, cap, "%.*s", (int)br.n, br.p);
	return rc;
}

#define REPLY_TAIL "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nl: 0\r\n\r\n"

/* The 200s to NOTIFYs: status and top Via branch, or -EAGAIN for what only
 * the full parser handles. */
static void test_reply(void)
{
	char br[64];
	int status = 0;

	CHECK_EQ(reply("SIP/2.0 200 OK\r\nCall-ID: x\r\n"
		       "Via: SIP/2.0/UDP h:5060;branch=z9hG4bKpna1f.3;rport=5060\r\n" REPLY_TAIL,
		       &status, br, sizeof(br)),
		 0);
	CHECK_EQ(status, 200);
	CHECK(strcmp(br, "z9hG4bKpna1f.3") == 0);
	/* compact name, space before the colon, several values: the first */
	CHECK_EQ(
		reply("SIP/2.0 481 Gone\r\nv : SIP/2.0/UDP h;rport;BRANCH=z9hG4bKa, "
		      "SIP/2.0/UDP p;branch=z9hG4bKb\r\nVia: SIP/2.0/UDP q;branch=c\r\n" REPLY_TAIL,
		      &status, br, sizeof(br)),
		0);
	CHECK_EQ(status, 481);
	CHECK(strcmp(br, "z9hG4bKa") == 0);
	CHECK_EQ(reply("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=x\r\n" REPLY_TAIL, &status,
		       br, sizeof(br)),
		 -EAGAIN);
	CHECK_EQ(reply("NOTIFY sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=x\r\n" REPLY_TAIL,
		       &status, br, sizeof(br)),
		 -EAGAIN);
	CHECK_EQ(reply("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;rport\r\n" REPLY_TAIL, &status, br,
		       sizeof(br)),
		 -EAGAIN);
	CHECK_EQ(reply("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;\r\n branch=x\r\n" REPLY_TAIL, &status,
		       br, sizeof(br)),
		 -EAGAIN);
	CHECK_EQ(reply("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=x", &status, br, sizeof(br)),
		 -EAGAIN);
	CHECK_EQ(reply("SIP/2.0 2x0 OK\r\nVia: SIP/2.0/UDP h;branch=x\r\n" REPLY_TAIL, &status, br,
		       sizeof(br)),
		 -EAGAIN);
}

/* A NOTIFY as the SIP worker writes it (no printf: every piece by hand). */
static void test_build_request(void)
{
	char out[1024];
	struct sip_wbuf w;

	sip_wbuf_init(&w, out, sizeof(out));
	CHECK(sip_build_request(&w, &(struct sip_req_out){
					    .method = "NOTIFY",
					    .ruri = sip_span_str("sip:bob@10.0.0.2:5062"),
					    .transport = "UDP",
					    .via_host = "10.0.0.1",
					    .via_port = 5060,
					    .branch = "pna1f.3",
					    .from_uri = sip_span_str("sip:alice@example.com"),
					    .from_tag = sip_span_str("t1"),
					    .to_uri = sip_span_str("sip:bob@example.com"),
					    .to_tag = sip_span_str("t2"),
					    .call_id = sip_span_str("c1"),
					    .cseq = 482082651,
					    .contact = "<sip:10.0.0.1:5060>",
					    .event = "message-summary",
					    .sub_state = "active;expires=3599",
					    .ctype = "text/plain",
					    .body = "hi\r\n",
					    .body_len = 4,
				    }) > 0);
	out[w.len] = 0;
	CHECK(strcmp(out, "NOTIFY sip:bob@10.0.0.2:5062 SIP/2.0\r\n"
			  "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKpna1f.3;rport\r\n"
			  "Max-Forwards: 70\r\n"
			  "From: <sip:alice@example.com>;tag=t1\r\n"
			  "To: <sip:bob@example.com>;tag=t2\r\n"
			  "Call-ID: c1\r\n"
			  "CSeq: 482082651 NOTIFY\r\n"
			  "Contact: <sip:10.0.0.1:5060>\r\n"
			  "Event: message-summary\r\n"
			  "Subscription-State: active;expires=3599\r\n"
			  "Content-Type: text/plain\r\n"
			  "Content-Length: 4\r\n\r\nhi\r\n") == 0);
}

static void test_digest(void)
{
	char out[130];

	CHECK(sip_digest_response("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
				  "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
				  "00000001", "0a4f113b", "auth", out) == 0);
	CHECK(strcmp(out, "6629fae49393a05397450978507c4ef1") == 0);
	CHECK(sip_digest_response(
		      "SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life", "GET",
		      "/dir/index.html", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
		      "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth", out) == 0);
	CHECK(strcmp(out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1") == 0);
}

/* The peer address a NOTIFY goes to: dotted-quad IPv4 as inet_pton takes
 * it (the fast path), IPv6 through inet_pton, anything else refused. */
static void test_addr_make(void)
{
	static const char *bad[] = {
		"",	    "1.2.3",  "1.2.3.4.5", "256.1.1.1",	 "01.2.3.4",
		"1.2.3.4 ", "1..3.4", "a.b.c.d",   "1.2.3.1000", "example.com"
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	socklen_t len;
	char ip[64];
	uint16_t port;

	CHECK_EQ(sip_addr_make("192.0.2.255", 5062, &ss, &len), 0);
	CHECK(ss.ss_family == AF_INET && len == sizeof(*a4) && ntohs(a4->sin_port) == 5062);
	sip_addr_str(&ss, ip, sizeof(ip), &port);
	CHECK(strcmp(ip, "192.0.2.255") == 0 && port == 5062);
	CHECK_EQ(sip_addr_make("0.0.0.0", 1, &ss, &len), 0);
	CHECK_EQ(sip_addr_make("::1", 5060, &ss, &len), 0);
	CHECK(ss.ss_family == AF_INET6);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(sip_addr_make(bad[i], 5060, &ss, &len), -EINVAL);
}

int main(void)
{
	test_addr_make();
	test_compact_and_folding();
	test_framing();
	test_malformed();
	test_build();
	test_reply();
	test_build_request();
	test_digest();
	return check_summary();
}
