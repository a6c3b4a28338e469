/* test_sip_parse: the SIP parser (compact forms, folding, framing, the
 * malformed cases the worker answers with 400), the builders and the
 * digest computations (RFC 2617 / RFC 7616 vectors). */
#include <errno.h>
#include <string.h>

#include "egress/sip/sip_auth.h"
#include "egress/sip/sip_build.h"
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

int main(void)
{
	test_compact_and_folding();
	test_framing();
	test_malformed();
	test_build();
	test_digest();
	return check_summary();
}
