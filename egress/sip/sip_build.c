/* sip_build: responses, NOTIFY/MESSAGE requests and package bodies written
 * into caller buffers (RFC 3261 sections 8.1.1 and 8.2.6, RFC 6665, RFC
 * 3842); no allocation. Run by the SIP egress worker. */
#include "egress/sip/sip_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void sip_w_u64(struct sip_wbuf *w, uint64_t v)
{
	size_t n = 1;
	char *p;

	for (uint64_t t = v; t >= 10; t /= 10)
		n++;
	if (w->over || w->cap - w->len < n) {
		w->over = true;
		return;
	}
	p = w->p + w->len + n; /* the digits, written in place from the last */
	w->len += n;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
}

void sip_w_fmt(struct sip_wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->p + w->len, w->cap - w->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->cap - w->len) {
		w->over = true;
		return;
	}
	w->len += (size_t)n;
}

static void put_hdr(struct sip_wbuf *w, const char *name, struct sip_span v)
{
	sip_w_str(w, name);
	sip_w_str(w, ": ");
	sip_w_span(w, v);
	sip_w_str(w, "\r\n");
}

/* The top Via with received= and rport=<port> (RFC 3581 section 4). */
static void put_top_via(struct sip_wbuf *w, struct sip_span v, const struct sip_resp_opts *o)
{
	struct sip_span rest = v, top = sip_list_next(&rest), params;
	const char *semi = top.n ? memchr(top.p, ';', top.n) : NULL;
	const char *p, *end;

	sip_w_str(w, "Via: ");
	if (!semi || !o || !o->received) {
		sip_w_span(w, top);
		goto rest;
	}
	sip_w_put(w, top.p, (size_t)(semi - top.p));
	params = (struct sip_span){ semi, top.n - (size_t)(semi - top.p) };
	p = params.p;
	end = params.p + params.n;
	while (p < end) {
		const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
		struct sip_span item = { p + 1, (size_t)((next ? next : end) - p - 1) };

		if (item.n >= 5 && strncasecmp(item.p, "rport", 5) == 0 &&
		    (item.n == 5 || item.p[5] == '=')) {
			sip_w_fmt(w, ";rport=%u", o->rport);
		} else if (!(item.n >= 8 && strncasecmp(item.p, "received", 8) == 0)) {
			sip_w_str(w, ";");
			sip_w_span(w, item);
		}
		p = next ? next : end;
	}
	sip_w_str(w, ";received=");
	sip_w_str(w, o->received);
rest:
	if (rest.n) {
		sip_w_str(w, ", ");
		sip_w_span(w, rest);
	}
	sip_w_str(w, "\r\n");
}

static void put_to(struct sip_wbuf *w, struct sip_span to, const char *tag)
{
	struct sip_span uri, params, old;

	sip_w_str(w, "To: ");
	sip_w_span(w, to);
	if (tag && tag[0] && sip_addr_parse(to, &uri, &params) == 0 &&
	    sip_param_get(params, "tag", &old) < 0) {
		sip_w_str(w, ";tag=");
		sip_w_str(w, tag);
	}
	sip_w_str(w, "\r\n");
}

int sip_build_response(struct sip_wbuf *w, const struct sip_msg *req, int status,
		       const char *reason, const struct sip_resp_opts *o)
{
	bool top = true;

	sip_w_fmt(w, "SIP/2.0 %d %s\r\n", status, reason);
	for (unsigned i = 0; i < req->nhdr; i++) {
		const struct sip_hdr *h = &req->hdr[i];
		struct sip_span v = sip_msg_span(req, h->value);

		switch (h->id) {
		case SIP_H_VIA:
			if (top)
				put_top_via(w, v, o);
			else
				put_hdr(w, "Via", v);
			top = false;
			break;
		case SIP_H_RECORD_ROUTE:
			if (o && o->record_route)
				put_hdr(w, "Record-Route", v);
			break;
		case SIP_H_FROM:
			put_hdr(w, "From", v);
			break;
		case SIP_H_TO:
			put_to(w, v, o ? o->to_tag : NULL);
			break;
		case SIP_H_CALL_ID:
			put_hdr(w, "Call-ID", v);
			break;
		case SIP_H_CSEQ:
			put_hdr(w, "CSeq", v);
			break;
		default:
			break;
		}
	}
	if (o && o->contact)
		sip_w_fmt(w, "Contact: %s\r\n", o->contact);
	if (o && o->extra)
		sip_w_str(w, o->extra);
	sip_w_str(w, "Server: pnad\r\n");
	if (o && o->ctype && o->body_len)
		sip_w_fmt(w, "Content-Type: %s\r\n", o->ctype);
	sip_w_fmt(w, "Content-Length: %zu\r\n\r\n", o && o->body ? o->body_len : 0);
	if (o && o->body)
		sip_w_put(w, o->body, o->body_len);
	return w->over ? -ENOSPC : (int)w->len;
}

/* A string literal, its length known at compile time. */
#define W_LIT(w, lit) sip_w_put((w), (lit), sizeof(lit) - 1)

/* "Name: value\r\n" for a NUL-terminated value. */
static void put_line(struct sip_wbuf *w, const char *name, const char *v)
{
	sip_w_str(w, name);
	sip_w_str(w, v);
	W_LIT(w, "\r\n");
}

static void put_span_line(struct sip_wbuf *w, const char *name, struct sip_span v)
{
	sip_w_str(w, name);
	sip_w_span(w, v);
	W_LIT(w, "\r\n");
}

/* Requests go out for every notification: built with copies only, no
 * formatting (a NOTIFY costs well under a microsecond to write). */
int sip_build_request(struct sip_wbuf *w, const struct sip_req_out *r)
{
	sip_w_str(w, r->method);
	W_LIT(w, " ");
	sip_w_span(w, r->ruri);
	W_LIT(w, " SIP/2.0\r\nVia: SIP/2.0/");
	sip_w_str(w, r->transport);
	W_LIT(w, " ");
	sip_w_str(w, r->via_host);
	W_LIT(w, ":");
	sip_w_u64(w, r->via_port);
	W_LIT(w, ";branch=z9hG4bK");
	sip_w_str(w, r->branch);
	W_LIT(w, ";rport\r\nMax-Forwards: 70\r\n");
	if (r->route.n)
		put_span_line(w, "Route: ", r->route);
	W_LIT(w, "From: <");
	sip_w_span(w, r->from_uri);
	W_LIT(w, ">;tag=");
	sip_w_span(w, r->from_tag);
	W_LIT(w, "\r\nTo: <");
	sip_w_span(w, r->to_uri);
	if (r->to_tag.n) {
		W_LIT(w, ">;tag=");
		sip_w_span(w, r->to_tag);
		W_LIT(w, "\r\n");
	} else {
		W_LIT(w, ">\r\n");
	}
	put_span_line(w, "Call-ID: ", r->call_id);
	W_LIT(w, "CSeq: ");
	sip_w_u64(w, r->cseq);
	W_LIT(w, " ");
	sip_w_str(w, r->method);
	W_LIT(w, "\r\n");
	if (r->contact && r->contact[0])
		put_line(w, "Contact: ", r->contact);
	if (r->event && r->event[0])
		put_line(w, "Event: ", r->event);
	if (r->sub_state && r->sub_state[0])
		put_line(w, "Subscription-State: ", r->sub_state);
	if (r->extra && r->extra[0])
		sip_w_str(w, r->extra);
	if (r->ctype && r->body_len)
		put_line(w, "Content-Type: ", r->ctype);
	W_LIT(w, "Content-Length: ");
	sip_w_u64(w, r->body ? r->body_len : 0);
	W_LIT(w, "\r\n\r\n");
	if (r->body)
		sip_w_put(w, r->body, r->body_len);
	return w->over ? -ENOSPC : (int)w->len;
}

int sip_body_mwi(struct sip_wbuf *w, const char *account_uri, uint32_t messages, uint32_t unseen)
{
	uint32_t old = messages > unseen ? messages - unseen : 0;

	if (unseen)
		W_LIT(w, "Messages-Waiting: yes\r\n");
	else
		W_LIT(w, "Messages-Waiting: no\r\n");
	put_line(w, "Message-Account: ", account_uri);
	W_LIT(w, "Text-Message: ");
	sip_w_u64(w, unseen);
	W_LIT(w, "/");
	sip_w_u64(w, old);
	W_LIT(w, "\r\n");
	return w->over ? -ENOSPC : (int)w->len;
}

/* JSON string contents: our strings are canonical names, but mailbox names
 * may hold quotes or control bytes. */
static void put_json_str(struct sip_wbuf *w, const char *s)
{
	sip_w_str(w, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			sip_w_fmt(w, "\\%c", c);
		else if (c < 0x20)
			sip_w_fmt(w, "\\u%04x", c);
		else
			sip_w_put(w, s, 1);
	}
	sip_w_str(w, "\"");
}

int sip_body_mail_event(struct sip_wbuf *w, const struct sip_mail_event *e)
{
	sip_w_str(w, "{\"kind\":");
	put_json_str(w, e->kind);
	if (e->event) {
		sip_w_str(w, ",\"event\":");
		put_json_str(w, e->event);
	}
	sip_w_str(w, ",\"account\":");
	put_json_str(w, e->account);
	sip_w_str(w, ",\"mailbox\":");
	put_json_str(w, e->mailbox);
	if (e->uid) {
		sip_w_str(w, ",\"uid\":");
		sip_w_u64(w, e->uid);
	}
	sip_w_str(w, ",\"uidvalidity\":");
	sip_w_u64(w, e->uidvalidity);
	sip_w_str(w, ",\"uidnext\":");
	sip_w_u64(w, e->uidnext);
	sip_w_str(w, ",\"messages\":");
	sip_w_u64(w, e->messages);
	sip_w_str(w, ",\"unseen\":");
	sip_w_u64(w, e->unseen);
	if (e->coalesced) {
		sip_w_str(w, ",\"coalesced\":");
		sip_w_u64(w, e->coalesced);
	}
	sip_w_str(w, "}\r\n");
	return w->over ? -ENOSPC : (int)w->len;
}
