/* sip_parse: SIP message parser (RFC 3261 sections 7, 20 and 25) and small
 * helpers over header values; pure, allocation-free, run by the SIP egress
 * worker and by tests/fuzz/fuzz_sip.c. */
#include "egress/sip/sip_parse.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct sip_span trim(struct sip_span s)
{
	while (s.n && is_ws(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n && is_ws(s.p[s.n - 1]))
		s.n--;
	return s;
}

bool sip_span_eq(struct sip_span s, const char *name)
{
	size_t n = strlen(name);

	return s.n == n && memcmp(s.p, name, n) == 0;
}

bool sip_span_eq_nocase(struct sip_span s, const char *name)
{
	size_t n = strlen(name);

	return s.n == n && strncasecmp(s.p, name, n) == 0;
}

int64_t sip_span_num(struct sip_span s)
{
	int64_t v = 0;

	s = trim(s);
	if (s.n == 0 || s.n > 10)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

/* RFC 3261 section 7.3.3 compact forms and the long names we use. */
#define HDR_NAME(name, compact, id)                 \
	{                                           \
		name, sizeof(name) - 1, compact, id \
	}
static const struct {
	const char *name;
	uint8_t len; /* strlen(name): the lookup runs for every header read */
	char compact;
	uint8_t id;
} hdr_names[] = {
	HDR_NAME("Via", 'v', SIP_H_VIA),
	HDR_NAME("From", 'f', SIP_H_FROM),
	HDR_NAME("To", 't', SIP_H_TO),
	HDR_NAME("Call-ID", 'i', SIP_H_CALL_ID),
	HDR_NAME("CSeq", 0, SIP_H_CSEQ),
	HDR_NAME("Contact", 'm', SIP_H_CONTACT),
	HDR_NAME("Content-Length", 'l', SIP_H_CONTENT_LENGTH),
	HDR_NAME("Content-Type", 'c', SIP_H_CONTENT_TYPE),
	HDR_NAME("Event", 'o', SIP_H_EVENT),
	HDR_NAME("Expires", 0, SIP_H_EXPIRES),
	HDR_NAME("Max-Forwards", 0, SIP_H_MAX_FORWARDS),
	HDR_NAME("Record-Route", 0, SIP_H_RECORD_ROUTE),
	HDR_NAME("Route", 0, SIP_H_ROUTE),
	HDR_NAME("Allow-Events", 'u', SIP_H_ALLOW_EVENTS),
	HDR_NAME("Supported", 'k', SIP_H_SUPPORTED),
	HDR_NAME("Accept", 0, SIP_H_ACCEPT),
	HDR_NAME("P-Asserted-Identity", 0, SIP_H_PAI),
	HDR_NAME("Authorization", 0, SIP_H_AUTHORIZATION),
	HDR_NAME("Subscription-State", 0, SIP_H_SUBSCRIPTION_STATE),
	HDR_NAME("Content-Encoding", 'e', SIP_H_CONTENT_ENCODING),
	HDR_NAME("Subject", 's', SIP_H_SUBJECT),
};

static uint8_t hdr_lookup(const char *p, size_t n)
{
	for (size_t i = 0; i < sizeof(hdr_names) / sizeof(hdr_names[0]); i++) {
		if (n == 1 && hdr_names[i].compact && (p[0] | 0x20) == hdr_names[i].compact)
			return hdr_names[i].id;
		if (n == hdr_names[i].len && (p[0] | 0x20) == (hdr_names[i].name[0] | 0x20) &&
		    strncasecmp(p, hdr_names[i].name, n) == 0)
			return hdr_names[i].id;
	}
	return SIP_H_OTHER;
}

struct sip_span sip_hdr_get(const struct sip_msg *m, enum sip_hdr_id id)
{
	if (m->first[id] < 0)
		return (struct sip_span){ NULL, 0 };
	return sip_msg_span(m, m->hdr[m->first[id]].value);
}

static bool is_token_char(char c)
{
	static const char punct[] = "-.!%*_+`'~"; /* RFC 3261 25.1 */

	/* memchr over the set's length: strchr would also find its NUL */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       memchr(punct, c, sizeof(punct) - 1) != NULL;
}

static struct sip_str str_of(const char *base, const char *p, size_t n)
{
	return (struct sip_str){ (uint32_t)(p - base), (uint32_t)n };
}

/* "METHOD SP URI SP SIP/2.0" or "SIP/2.0 SP code SP reason". */
static int parse_start(struct sip_msg *m, const char *p, size_t n, const char **why)
{
	const char *sp1 = memchr(p, ' ', n), *sp2;

	if (!sp1 || sp1 == p) {
		*why = "bad start line";
		return -EBADMSG;
	}
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (!sp2) {
		*why = "bad start line";
		return -EBADMSG;
	}
	if ((size_t)(sp1 - p) == 7 && memcmp(p, "SIP/2.0", 7) == 0) {
		const char *c = sp1 + 1;

		if (sp2 - c != 3 || c[0] < '1' || c[0] > '6' || c[1] < '0' || c[1] > '9' ||
		    c[2] < '0' || c[2] > '9') {
			*why = "bad status code";
			return -EBADMSG;
		}
		m->request = false;
		m->status = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
		m->reason = str_of(m->buf, sp2 + 1, n - (size_t)(sp2 + 1 - p));
		return 0;
	}
	for (const char *q = p; q < sp1; q++)
		if (!is_token_char(*q)) {
			*why = "bad method";
			return -EBADMSG;
		}
	if (n - (size_t)(sp2 + 1 - p) != 7 || memcmp(sp2 + 1, "SIP/2.0", 7) != 0) {
		*why = "bad SIP version";
		return -EBADMSG;
	}
	if (sp2 == sp1 + 1 || memchr(sp1 + 1, ' ', (size_t)(sp2 - sp1 - 1))) {
		*why = "bad Request-URI";
		return -EBADMSG;
	}
	m->request = true;
	m->method = str_of(m->buf, p, (size_t)(sp1 - p));
	m->uri = str_of(m->buf, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	return 0;
}

/* The end of the head ("\r\n\r\n", or "\n\n" from sloppy peers): offset of
 * the body, or 0 if not found within lim. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int add_header(struct sip_msg *m, const char *line, size_t n, const char **why)
{
	const char *colon = memchr(line, ':', n);
	struct sip_span name, value;
	struct sip_hdr *h;

	if (!colon) {
		*why = "header line without a colon";
		return -EBADMSG;
	}
	name = trim((struct sip_span){ line, (size_t)(colon - line) });
	if (name.n == 0) {
		*why = "empty header name";
		return -EBADMSG;
	}
	for (size_t i = 0; i < name.n; i++)
		if (!is_token_char(name.p[i])) {
			*why = "bad header name";
			return -EBADMSG;
		}
	if (m->nhdr == SIP_MAX_HEADERS) {
		*why = "too many header fields";
		return -EBADMSG;
	}
	value = trim((struct sip_span){ colon + 1, n - (size_t)(colon + 1 - line) });
	h = &m->hdr[m->nhdr];
	h->id = hdr_lookup(name.p, name.n);
	h->name = str_of(m->buf, name.p, name.n);
	h->value = str_of(m->buf, value.p, value.n);
	if (m->first[h->id] < 0)
		m->first[h->id] = (int16_t)m->nhdr;
	m->nhdr++;
	return 0;
}

/* Split the head into lines, unfolding continuation lines (RFC 3261
 * section 7.3.1) by extending the previous header's span. */
static int parse_lines(struct sip_msg *m, size_t body_off, const char **why)
{
	const char *buf = m->buf, *end = buf + body_off, *p = buf;
	const char *hstart = NULL;
	bool first = true;
	int rc = 0, start_rc = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p);

		if (n && p[n - 1] == '\r')
			n--;
		if (first) {
			start_rc = parse_start(m, p, n, why);
			m->start_ok = start_rc == 0;
			first = false;
		} else if (n == 0) {
			break;
		} else if ((p[0] == ' ' || p[0] == '\t') && hstart) {
			/* continuation: the pending header grows */
		} else {
			if (hstart && (rc = add_header(m, hstart, (size_t)(p - hstart), why)) < 0)
				return rc;
			if (p[0] == ' ' || p[0] == '\t') {
				*why = "continuation line before any header";
				return -EBADMSG;
			}
			hstart = p;
		}
		p = nl + 1;
	}
	if (hstart) {
		const char *he = p;

		/* p is past the blank line; the header ends at its own line end */
		while (he > hstart && (he[-1] == '\n' || he[-1] == '\r'))
			he--;
		if ((rc = add_header(m, hstart, (size_t)(he - hstart), why)) < 0)
			return rc;
	}
	return start_rc;
}

static int check_headers(struct sip_msg *m, const char **why)
{
	struct sip_span v;

	if (m->first[SIP_H_CALL_ID] < 0 || sip_hdr_get(m, SIP_H_CALL_ID).n == 0) {
		*why = "missing Call-ID";
		return -EBADMSG;
	}
	if (m->first[SIP_H_VIA] < 0) {
		*why = "missing Via";
		return -EBADMSG;
	}
	if (m->first[SIP_H_FROM] < 0 || m->first[SIP_H_TO] < 0) {
		*why = "missing From or To";
		return -EBADMSG;
	}
	v = sip_hdr_get(m, SIP_H_CSEQ);
	{
		const char *sp = v.n ? memchr(v.p, ' ', v.n) : NULL;
		int64_t num;

		if (!sp) {
			*why = "missing or bad CSeq";
			return -EBADMSG;
		}
		num = sip_span_num((struct sip_span){ v.p, (size_t)(sp - v.p) });
		if (num < 0 || num > 0x7fffffff) {
			*why = "bad CSeq number";
			return -EBADMSG;
		}
		m->cseq = (uint32_t)num;
		v = trim((struct sip_span){ sp + 1, v.n - (size_t)(sp + 1 - v.p) });
		m->cseq_method = str_of(m->buf, v.p, v.n);
	}
	if (m->request && m->start_ok &&
	    !(m->cseq_method.len == m->method.len &&
	      memcmp(m->buf + m->cseq_method.off, m->buf + m->method.off, m->method.len) == 0)) {
		*why = "CSeq method differs from the request method";
		return -EBADMSG;
	}
	return 0;
}

int sip_parse(struct sip_msg *m, const char *buf, size_t len, bool stream, const char **why)
{
	size_t body_off, avail;
	int rc;

	memset(m, 0, offsetof(struct sip_msg, hdr));
	memset(m->first, 0xff, sizeof(m->first));
	m->content_length = -1;
	m->buf = buf;
	/* RFC 5626 keep-alives (CRLF) between messages on a stream */
	if (stream) {
		size_t k = 0;

		while (k < len && (buf[k] == '\r' || buf[k] == '\n'))
			k++;
		if (k) {
			m->len = k;
			return (int)k; /* caller skips and calls again */
		}
	}
	body_off = head_end(buf, len < SIP_MAX_HEAD ? len : SIP_MAX_HEAD);
	if (body_off == 0) {
		if (len >= SIP_MAX_HEAD) {
			const char *nl = memrchr(buf, '\n', SIP_MAX_HEAD), *ignored;

			/* the complete lines within the limit still give the
			 * caller the Via, From, To, Call-ID and CSeq of its 400 */
			if (nl)
				(void)parse_lines(m, (size_t)(nl + 1 - buf), &ignored);
			*why = "header section too large";
			return -EBADMSG;
		}
		if (stream)
			return -EAGAIN;
		*why = "no blank line after the headers";
		return -EBADMSG;
	}
	rc = parse_lines(m, body_off, why);
	if (rc < 0)
		return rc;
	if ((rc = check_headers(m, why)) < 0)
		return rc;
	if (m->first[SIP_H_CONTENT_LENGTH] >= 0) {
		m->content_length = sip_span_num(sip_hdr_get(m, SIP_H_CONTENT_LENGTH));
		if (m->content_length < 0 || m->content_length > SIP_MAX_MSG) {
			*why = "bad Content-Length";
			return -EBADMSG;
		}
	} else if (stream) {
		*why = "missing Content-Length on a stream transport";
		return -EBADMSG;
	}
	avail = len - body_off;
	if (m->content_length < 0) {
		m->body = (struct sip_str){ (uint32_t)body_off, (uint32_t)avail };
	} else if ((size_t)m->content_length > avail) {
		if (stream)
			return -EAGAIN;
		*why = "Content-Length past the end of the datagram";
		return -EBADMSG;
	} else {
		m->body = (struct sip_str){ (uint32_t)body_off, (uint32_t)m->content_length };
	}
	m->len = body_off + m->body.len;
	if (m->len > SIP_MAX_MSG) {
		*why = "message too large";
		return -EBADMSG;
	}
	return (int)m->len;
}

/* --- value helpers --- */

struct sip_span sip_list_next(struct sip_span *rest)
{
	struct sip_span s = *rest;
	bool quote = false;
	int angle = 0;
	size_t i;

	for (i = 0; i < s.n; i++) {
		char c = s.p[i];

		if (quote) {
			if (c == '\\' && i + 1 < s.n)
				i++;
			else if (c == '"')
				quote = false;
		} else if (c == '"') {
			quote = true;
		} else if (c == '<') {
			angle++;
		} else if (c == '>' && angle) {
			angle--;
		} else if (c == ',' && !angle) {
			break;
		}
	}
	if (i < s.n) {
		rest->p = s.p + i + 1;
		rest->n = s.n - i - 1;
	} else {
		rest->p = s.p + s.n;
		rest->n = 0;
	}
	return trim((struct sip_span){ s.p, i });
}

int sip_addr_parse(struct sip_span v, struct sip_span *uri, struct sip_span *params)
{
	const char *lt, *gt, *semi;
	size_t i = 0;

	v = trim(v);
	if (v.n == 0)
		return -EBADMSG;
	/* skip a quoted display name, which may hold '<' */
	if (v.n && v.p[0] == '"') {
		for (i = 1; i < v.n && v.p[i] != '"'; i++)
			if (v.p[i] == '\\')
				i++;
		if (i >= v.n)
			return -EBADMSG;
		i++;
	}
	lt = memchr(v.p + i, '<', v.n - i);
	if (lt) {
		gt = memchr(lt, '>', v.n - (size_t)(lt - v.p));
		if (!gt)
			return -EBADMSG;
		*uri = trim((struct sip_span){ lt + 1, (size_t)(gt - lt - 1) });
		*params = (struct sip_span){ gt + 1, v.n - (size_t)(gt + 1 - v.p) };
	} else {
		/* addr-spec: its ;params are header params (RFC 3261 20.10) */
		semi = memchr(v.p, ';', v.n);
		*uri = trim((struct sip_span){ v.p, semi ? (size_t)(semi - v.p) : v.n });
		*params = semi ? (struct sip_span){ semi, v.n - (size_t)(semi - v.p) }
			       : (struct sip_span){ v.p + v.n, 0 };
	}
	*params = trim(*params);
	return uri->n ? 0 : -EBADMSG;
}

int sip_param_get(struct sip_span params, const char *name, struct sip_span *val)
{
	size_t nl = strlen(name);
	const char *p = params.p, *end = params.p + params.n;

	while (p < end) {
		const char *semi, *eq;
		struct sip_span item, key;

		while (p < end && (*p == ';' || is_ws(*p)))
			p++;
		semi = memchr(p, ';', (size_t)(end - p));
		if (!semi)
			semi = end;
		item = trim((struct sip_span){ p, (size_t)(semi - p) });
		eq = memchr(item.p, '=', item.n);
		key = trim((struct sip_span){ item.p, eq ? (size_t)(eq - item.p) : item.n });
		if (key.n == nl && strncasecmp(key.p, name, nl) == 0) {
			if (eq)
				*val = trim((struct sip_span){
					eq + 1, item.n - (size_t)(eq + 1 - item.p) });
			else
				*val = (struct sip_span){ item.p + item.n, 0 };
			return 0;
		}
		p = semi;
	}
	return -ENOENT;
}

int sip_uri_parse(struct sip_span s, struct sip_uri *u)
{
	const char *p, *end, *at, *hend, *q;

	memset(u, 0, sizeof(*u));
	s = trim(s);
	if (s.n > 4 && strncasecmp(s.p, "sip:", 4) == 0) {
		p = s.p + 4;
	} else if (s.n > 5 && strncasecmp(s.p, "sips:", 5) == 0) {
		p = s.p + 5;
		u->sips = true;
	} else {
		return -EBADMSG;
	}
	end = s.p + s.n;
	q = memchr(p, '?', (size_t)(end - p));
	if (q)
		end = q;
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		u->user = (struct sip_span){ p, (size_t)((colon ? colon : at) - p) };
		p = at + 1;
	}
	hend = p;
	if (hend < end && *hend == '[') {
		const char *rb = memchr(hend, ']', (size_t)(end - hend));

		if (!rb)
			return -EBADMSG;
		hend = rb + 1;
	}
	while (hend < end && *hend != ':' && *hend != ';')
		hend++;
	u->host = (struct sip_span){ p, (size_t)(hend - p) };
	if (u->host.n == 0)
		return -EBADMSG;
	if (hend < end && *hend == ':') {
		const char *ps = hend + 1, *pe = ps;
		int64_t port;

		while (pe < end && *pe != ';')
			pe++;
		port = sip_span_num((struct sip_span){ ps, (size_t)(pe - ps) });
		if (port <= 0 || port > 65535)
			return -EBADMSG;
		u->port = (uint16_t)port;
		hend = pe;
	}
	u->params = (struct sip_span){ hend, (size_t)(end - hend) };
	return 0;
}

int sip_parse_reply(const char *buf, size_t len, int *status, struct sip_span *branch)
{
	const char *p, *end = buf + (len < SIP_MAX_HEAD ? len : SIP_MAX_HEAD);
	struct sip_span v, top, params;

	if (len < 14 || memcmp(buf, "SIP/2.0 ", 8) != 0 || buf[8] < '2' || buf[8] > '6' ||
	    buf[9] < '0' || buf[9] > '9' || buf[10] < '0' || buf[10] > '9' || buf[11] != ' ')
		return -EAGAIN;
	p = memchr(buf, '\n', (size_t)(end - buf));
	while (p && ++p < end && *p != '\r' && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
		size_t nlen;

		if (!nl || *p == ' ' || *p == '\t')
			return -EAGAIN; /* cut short, or folded: sip_parse */
		colon = memchr(p, ':', (size_t)(nl - p));
		if (!colon)
			return -EAGAIN;
		for (nlen = (size_t)(colon - p);
		     nlen && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t');)
			nlen--;
		if (!((nlen == 3 && strncasecmp(p, "Via", 3) == 0) ||
		      (nlen == 1 && (*p | 0x20) == 'v'))) {
			p = nl;
			continue;
		}
		if (nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t'))
			return -EAGAIN; /* the top Via goes on: sip_parse */
		v = (struct sip_span){ colon + 1, (size_t)(nl - colon - 1) };
		top = sip_list_next(&v);
		sip_event_pkg(top, &params); /* "SIP/2.0/UDP h:p" from ";params" */
		if (sip_param_get(params, "branch", branch) < 0 || !branch->n)
			return -EAGAIN;
		*status = (buf[8] - '0') * 100 + (buf[9] - '0') * 10 + (buf[10] - '0');
		return 0;
	}
	return -EAGAIN;
}

struct sip_span sip_event_pkg(struct sip_span v, struct sip_span *params)
{
	const char *semi;

	v = trim(v);
	if (v.n == 0) {
		if (params)
			*params = v;
		return v;
	}
	semi = memchr(v.p, ';', v.n);
	if (params)
		*params = semi ? (struct sip_span){ semi, v.n - (size_t)(semi - v.p) }
			       : (struct sip_span){ v.p + v.n, 0 };
	return trim((struct sip_span){ v.p, semi ? (size_t)(semi - v.p) : v.n });
}
