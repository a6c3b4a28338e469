/* sip_parse: a pure SIP message parser (RFC 3261 section 7 and 25): bytes
 * in, a struct of offsets into those bytes out; no I/O, no allocation. Used
 * by the SIP egress worker and its fuzzer. */
#ifndef PNA_SIP_PARSE_H
#define PNA_SIP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIP_MAX_HEADERS 64 /* header fields (after unfolding) */
#define SIP_MAX_HEAD 8192  /* bytes of start line + headers + blank line */
#define SIP_MAX_MSG 65535  /* bytes of a whole message */

/* A piece of the parsed buffer: off and len are relative to msg->buf. */
struct sip_str {
	uint32_t off, len;
};

/* A borrowed view of bytes (helpers work on these). */
struct sip_span {
	const char *p;
	size_t n;
};

enum sip_hdr_id {
	SIP_H_OTHER = 0,
	SIP_H_VIA,
	SIP_H_FROM,
	SIP_H_TO,
	SIP_H_CALL_ID,
	SIP_H_CSEQ,
	SIP_H_CONTACT,
	SIP_H_CONTENT_LENGTH,
	SIP_H_CONTENT_TYPE,
	SIP_H_EVENT,
	SIP_H_EXPIRES,
	SIP_H_MAX_FORWARDS,
	SIP_H_RECORD_ROUTE,
	SIP_H_ROUTE,
	SIP_H_ALLOW_EVENTS,
	SIP_H_SUPPORTED,
	SIP_H_ACCEPT,
	SIP_H_PAI, /* P-Asserted-Identity */
	SIP_H_AUTHORIZATION,
	SIP_H_SUBSCRIPTION_STATE,
	SIP_H_CONTENT_ENCODING,
	SIP_H_SUBJECT,
	SIP_H_COUNT
};

struct sip_hdr {
	uint8_t id; /* enum sip_hdr_id */
	struct sip_str name;
	struct sip_str value; /* trimmed; may contain folded CRLF + WSP */
};

struct sip_msg {
	const char *buf; /* the parsed bytes: borrowed, must outlive the msg */
	bool request;
	bool start_ok;	       /* the start line parsed */
	struct sip_str method; /* requests */
	struct sip_str uri;
	int status; /* responses: 100..699 */
	struct sip_str reason;
	uint16_t nhdr;
	struct sip_hdr hdr[SIP_MAX_HEADERS];
	int16_t first[SIP_H_COUNT]; /* index in hdr of the first of each id, or -1 */
	uint32_t cseq;		    /* from CSeq, 0 if absent */
	struct sip_str cseq_method;
	int64_t content_length; /* -1 if absent */
	struct sip_str body;
	size_t len; /* bytes of the whole message */
};

/* Parse one message from buf[0..len). stream: the bytes come from TCP/TLS,
 * so the message ends where Content-Length says (mandatory there) and an
 * incomplete one is -EAGAIN; otherwise buf is one datagram (Content-Length
 * optional, the body is the rest). Returns the bytes consumed, -EAGAIN, or
 * -EBADMSG with *why a static reason. On -EBADMSG, m holds whatever parsed
 * (headers included when the head was complete) so the caller can answer
 * 400 when m->first[SIP_H_VIA] >= 0. */
int sip_parse(struct sip_msg *m, const char *buf, size_t len, bool stream, const char **why);

/* A response datagram, the common case of the SIP worker's input: its
 * status and the branch of its top Via, found without a full parse (the
 * worker matches a response to its transaction by that branch alone,
 * RFC 3261 17.1.3). 0, or -EAGAIN when the message needs sip_parse: not a
 * response, a provisional one, or anything unusual before the Via
 * (folding, no Via, no branch). The branch points into buf. */
int sip_parse_reply(const char *buf, size_t len, int *status, struct sip_span *branch);

/* The first header of `id` as a span, or {NULL, 0}. */
struct sip_span sip_hdr_get(const struct sip_msg *m, enum sip_hdr_id id);
/* Span of a parsed piece. */
static inline struct sip_span sip_msg_span(const struct sip_msg *m, struct sip_str s)
{
	return (struct sip_span){ m->buf + s.off, s.len };
}
/* true when the method (or CSeq method of a response) is `name`. */
bool sip_span_eq(struct sip_span s, const char *name);
bool sip_span_eq_nocase(struct sip_span s, const char *name);

/* name-addr or addr-spec ("Bob" <sip:bob@x>;tag=1 / sip:bob@x;tag=1): the
 * URI and the header parameters after it. 0 or -EBADMSG. */
int sip_addr_parse(struct sip_span v, struct sip_span *uri, struct sip_span *params);
/* Parameter `name` in ";a=b;c" (leading ';' optional): 0 and *val (empty for
 * a flag), or -ENOENT. */
int sip_param_get(struct sip_span params, const char *name, struct sip_span *val);

/* A sip:/sips: URI: user, host, port (0 if absent) and its ;params (without
 * headers after '?'). 0 or -EBADMSG. */
struct sip_uri {
	bool sips;
	struct sip_span user, host, params;
	uint16_t port;
};
int sip_uri_parse(struct sip_span s, struct sip_uri *u);

/* The first element of a comma-separated header value (Via, Contact,
 * Record-Route may hold several) and the rest after the comma. Commas
 * inside <> and quotes do not split. */
struct sip_span sip_list_next(struct sip_span *rest);

/* Non-negative decimal in s (whitespace trimmed), or -1. */
int64_t sip_span_num(struct sip_span s);

/* The event package name of an Event value ("message-summary;id=2" ->
 * "message-summary") and its params. */
struct sip_span sip_event_pkg(struct sip_span v, struct sip_span *params);

#endif
