/* sip_build: SIP responses and requests (NOTIFY, MESSAGE) and the bodies of
 * the packages the SIP egress worker serves, written into a caller's buffer
 * with no allocation. Pure; run by the SIP egress worker. */
#ifndef PNA_SIP_BUILD_H
#define PNA_SIP_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "egress/sip/sip_parse.h"

/* An output buffer owned by the caller; `over` is set (and len stops
 * growing) once something did not fit. */
struct sip_wbuf {
	char *p;
	size_t cap, len;
	bool over;
};

static inline void sip_wbuf_init(struct sip_wbuf *w, char *p, size_t cap)
{
	w->p = p;
	w->cap = cap;
	w->len = 0;
	w->over = false;
}

/* Inline: a NOTIFY is some fifty appends, most of literals whose length
 * and copy the compiler then resolves at build time. */
static inline void sip_w_put(struct sip_wbuf *w, const void *s, size_t n)
{
	if (w->over || w->cap - w->len < n) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static inline void sip_w_str(struct sip_wbuf *w, const char *s)
{
	sip_w_put(w, s, strlen(s));
}

static inline void sip_w_span(struct sip_wbuf *w, struct sip_span s)
{
	if (s.n)
		sip_w_put(w, s.p, s.n);
}

/* A C string as a span; NULL is empty. */
static inline struct sip_span sip_span_str(const char *s)
{
	struct sip_span sp;

	sp.p = s;
	sp.n = s ? strlen(s) : 0;
	return sp;
}

void sip_w_u64(struct sip_wbuf *w, uint64_t v);
void sip_w_fmt(struct sip_wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What a response adds to the request's Via/From/To/Call-ID/CSeq. */
struct sip_resp_opts {
	const char *to_tag;   /* added to To when it has none; NULL: none */
	const char *received; /* source IP for the top Via's received= */
	uint16_t rport;	      /* source port for rport= (RFC 3581) */
	const char *contact;  /* "<sip:...>" or NULL */
	bool record_route;    /* copy Record-Route (2xx creating a dialog) */
	const char *extra;    /* preformatted "Name: value\r\n" lines, or NULL */
	const char *ctype;    /* body type, or NULL */
	const char *body;
	size_t body_len;
};

/* A response to req (which may be a partly parsed, malformed request: the
 * headers it has are copied). Returns the length, or -ENOSPC. */
int sip_build_response(struct sip_wbuf *w, const struct sip_msg *req, int status,
		       const char *reason, const struct sip_resp_opts *o);

/* An outgoing request. The dialog's parts are spans (valid during the
 * call): a NOTIFY takes them straight from the dialog's blob
 * (sip_blob_parse), without copies or strlen; the other strings are
 * NUL-terminated. Empty or NULL optional parts are left out (to_tag,
 * route, contact, event, sub_state, extra). */
struct sip_req_out {
	const char *method;
	struct sip_span ruri;
	const char *transport; /* "UDP", "TCP", "TLS" */
	const char *via_host;
	uint16_t via_port;
	const char *branch; /* without the z9hG4bK cookie, which is added */
	struct sip_span from_uri, from_tag, to_uri, to_tag; /* to_tag may be empty */
	struct sip_span call_id;
	uint32_t cseq;
	struct sip_span route; /* route set, comma-separated <uri> list; may be empty */
	const char *contact;
	const char *event, *sub_state;
	const char *extra;
	const char *ctype;
	const char *body;
	size_t body_len;
};

int sip_build_request(struct sip_wbuf *w, const struct sip_req_out *r);

/* RFC 3842 application/simple-message-summary for mail: Messages-Waiting
 * (yes when unseen > 0), Message-Account, and "Text-Message: new/old" with
 * new = unseen, old = messages - unseen. */
int sip_body_mwi(struct sip_wbuf *w, const char *account_uri, uint32_t messages, uint32_t unseen);

/* The mail-event package body (application/x-pnad-mail-event+json), one
 * JSON object; see egress/sip/README.md. */
struct sip_mail_event {
	const char *kind;  /* "state", "event", "heartbeat", "terminated" */
	const char *event; /* RFC 5423 name, or NULL */
	const char *account, *mailbox;
	uint32_t uid, uidvalidity, uidnext, messages, unseen, coalesced;
};
int sip_body_mail_event(struct sip_wbuf *w, const struct sip_mail_event *e);

#endif
