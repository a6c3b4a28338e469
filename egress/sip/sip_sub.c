/* sip_sub: SUBSCRIBE handling in the SIP worker (RFC 6665 section 4.2,
 * RFC 3842, the mail-event package): event package, expiry bounds,
 * identity (RFC 3325 from trusted CNAs, else digest), mailbox from the
 * Request-URI, the request to the owning shard, and the answer when the
 * shard replies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "egress/sip/sip_auth.h"
#include "egress/sip/sip_worker.h"
#include "lib/evrec.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/pct.h"
#include "lib/names.h"
#include "shard/sub_chan.h"

#define DEFAULT_EXPIRES 3600 /* RFC 3842 section 4 */
#define ALLOW_EVENTS "Allow-Events: message-summary, mail-event\r\n"

/* The server transaction of a request: its top Via (branch and sent-by),
 * Call-ID and CSeq. Never 0. */
static uint64_t trans_key(const struct sip_msg *m)
{
	struct sip_span via = sip_hdr_get(m, SIP_H_VIA), call = sip_hdr_get(m, SIP_H_CALL_ID);
	struct sip_span cseq = sip_hdr_get(m, SIP_H_CSEQ);
	uint64_t h;

	via = sip_list_next(&via);
	/* an absent header (a malformed request's 400) is an empty span */
	h = via.n ? hash64(via.p, via.n) : 0;
	h = h * 0x9e3779b97f4a7c15ull ^ (call.n ? hash64(call.p, call.n) : 0);
	h = h * 0x9e3779b97f4a7c15ull ^ (cseq.n ? hash64(cseq.p, cseq.n) : 0);
	return h ? h : 1;
}

static void done_keep(struct sip_worker *w, const struct sip_msg *req, const char *resp, size_t len)
{
	uint64_t key = trans_key(req);
	struct sip_done *d = &w->done[key % SIP_DONE_CAP];

	if (len > sizeof(d->resp))
		return;
	d->key = key;
	d->until_ms = w->now_ms + 64 * SIP_T1_MS;
	d->len = (uint16_t)len;
	memcpy(d->resp, resp, len);
}

/* A retransmitted SUBSCRIBE whose transaction already has its final
 * response: send that again (RFC 3261 17.2.2). */
static bool done_resend(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from)
{
	uint64_t key;
	struct sip_done *d;

	if (from->tp != SIP_TP_UDP)
		return false; /* reliable transports do not retransmit */
	key = trans_key(m);
	d = &w->done[key % SIP_DONE_CAP];
	if (d->key != key || d->until_ms < w->now_ms)
		return false;
	sip_net_send(w->net, from, d->resp, d->len, true);
	SIP_COUNT(w->seg, retransmissions_absorbed, 1);
	return true;
}

void sip_respond(struct sip_worker *w, const struct sip_msg *req, const struct sip_peer *from,
		 int status, const char *reason, const struct sip_resp_opts *o)
{
	char buf[4096], ip[64];
	struct sip_wbuf b;
	struct sip_resp_opts opts = { 0 };
	uint16_t port;

	if (o)
		opts = *o;
	sip_addr_str(&from->addr, ip, sizeof(ip), &port);
	opts.received = ip;
	opts.rport = port;
	sip_wbuf_init(&b, buf, sizeof(buf));
	if (sip_build_response(&b, req, status, reason, &opts) < 0) {
		SIP_COUNT(w->seg, busy, 1);
		return;
	}
	/* RFC 3261 18.2.2 / RFC 3581: UDP answers go to the source address */
	sip_net_send(w->net, from, buf, b.len, true);
	if (status >= 200 && from->tp == SIP_TP_UDP &&
	    sip_span_eq(sip_msg_span(req, req->method), "SUBSCRIBE"))
		done_keep(w, req, buf, b.len);
	if (status >= 100 && status < 700)
		SIP_COUNT(w->seg, responses_out[status / 100], 1);
}

static void respond_warn(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
			 int status, const char *reason, const char *why)
{
	char extra[512];
	struct sip_resp_opts o = { .extra = extra };

	snprintf(extra, sizeof(extra), "Warning: 399 %s \"%s\"\r\n", w->conf->sip_domain, why);
	for (char *p = extra + 13; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	memcpy(extra + strlen(extra) - 2, "\r\n", 2);
	sip_respond(w, m, from, status, reason, &o);
}

static bool trusted(const struct sip_worker *w, const struct sip_peer *from)
{
	char ip[64];
	uint16_t port;

	if (from->cert_trusted)
		return true;
	sip_addr_str(&from->addr, ip, sizeof(ip), &port);
	for (uint32_t i = 0; i < w->conf->nsip_trusted; i++)
		if (strcmp(w->conf->sip_trusted[i], ip) == 0)
			return true;
	return false;
}

/* "sip:user@host" with the host lower-cased, from a URI span. */
static int identity_of(struct sip_span uri_s, char *out, size_t cap)
{
	struct sip_uri u;
	int n;

	if (sip_uri_parse(uri_s, &u) < 0 || u.user.n == 0)
		return -EINVAL;
	n = snprintf(out, cap, "sip:%.*s@%.*s", (int)u.user.n, u.user.p, (int)u.host.n, u.host.p);
	if (n < 0 || (size_t)n >= cap)
		return -EINVAL;
	for (char *p = strchr(out, '@'); p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return 0;
}

/* The account of the Request-URI: user@host, the host mapped through
 * identity_domain (sip.example.com -> example.com). */
static int account_of(const struct sip_worker *w, const struct sip_uri *u, char *out, size_t cap,
		      const char **why)
{
	char host[128], raw[NAMES_ACCOUNT_MAX + 1];
	int n;

	if (u->user.n == 0 || u->host.n >= sizeof(host)) {
		*why = "Request-URI has no user part";
		return -EINVAL;
	}
	memcpy(host, u->host.p, u->host.n);
	host[u->host.n] = 0;
	for (uint32_t i = 0; i < w->conf->ndomain_maps; i++)
		if (strcasecmp(host, w->conf->domain_maps[i].from) == 0)
			snprintf(host, sizeof(host), "%s", w->conf->domain_maps[i].to);
	n = snprintf(raw, sizeof(raw), "%.*s@%s", (int)u->user.n, u->user.p, host);
	if (n < 0 || (size_t)n >= sizeof(raw)) {
		*why = "account too long";
		return -EINVAL;
	}
	return names_account(raw, (size_t)n, out, cap, why) < 0 ? -EINVAL : 0;
}

/* The mail-event SUBSCRIBE body: "mailbox: X", "depth: exact|subtree",
 * "events: MessageNew MessageRead ..." lines (any order, all optional). */
static int mail_event_filter(struct sip_span body, struct sub_spec *sp, const char **why)
{
	const char *p = body.p, *end = body.p + body.n;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
		struct sip_span k, v;
		char tmp[NAMES_KEY_MAX + 1];

		if (!nl)
			nl = end;
		colon = memchr(p, ':', (size_t)(nl - p));
		if (!colon) {
			p = nl + 1;
			continue;
		}
		k = (struct sip_span){ p, (size_t)(colon - p) };
		v = (struct sip_span){ colon + 1, (size_t)(nl - colon - 1) };
		while (v.n && (v.p[0] == ' ' || v.p[0] == '\t')) {
			v.p++;
			v.n--;
		}
		while (v.n && (v.p[v.n - 1] == '\r' || v.p[v.n - 1] == ' '))
			v.n--;
		if (v.n >= sizeof(tmp)) {
			*why = "mail-event body: value too long";
			return -EINVAL;
		}
		memcpy(tmp, v.p, v.n);
		tmp[v.n] = 0;
		if (sip_span_eq_nocase(k, "mailbox")) {
			if (v.n == 0)
				sp->path[0] = 0;
			else if (names_path(tmp, v.n, sp->path, sizeof(sp->path), why) < 0)
				return -EINVAL;
		} else if (sip_span_eq_nocase(k, "depth")) {
			if (strcasecmp(tmp, "subtree") == 0)
				sp->depth = SUB_SUBTREE;
			else if (strcasecmp(tmp, "exact") == 0)
				sp->depth = SUB_EXACT;
			else {
				*why = "mail-event body: depth is exact or subtree";
				return -EINVAL;
			}
		} else if (sip_span_eq_nocase(k, "events")) {
			char *save = NULL;

			for (char *t = strtok_r(tmp, " ,\t", &save); t;
			     t = strtok_r(NULL, " ,\t", &save)) {
				int ty = evrec_type_parse(t);

				if (ty <= 0) {
					*why = "mail-event body: unknown event type";
					return -EINVAL;
				}
				sp->events |= 1u << ty;
			}
		}
		p = nl + 1;
	}
	return 0;
}

/* The dialog blob (sip_dlg.h) of a new subscription. */
static int make_blob(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
		     bool mail_event, const struct sub_spec *sp, char *out, size_t cap)
{
	struct sip_span from_v = sip_hdr_get(m, SIP_H_FROM), to_v = sip_hdr_get(m, SIP_H_TO);
	struct sip_span furi, fpar, turi, tpar, rtag, curi, cpar, evp, id = { "", 0 };
	struct sip_span call = sip_hdr_get(m, SIP_H_CALL_ID), contact;
	struct sip_wbuf b;
	char ip[64];
	uint16_t port;
	uint64_t h = w->secret;

	contact = sip_hdr_get(m, SIP_H_CONTACT);
	if (sip_addr_parse(from_v, &furi, &fpar) < 0 || sip_param_get(fpar, "tag", &rtag) < 0 ||
	    sip_addr_parse(to_v, &turi, &tpar) < 0 || !contact.n ||
	    sip_addr_parse(sip_list_next(&contact), &curi, &cpar) < 0)
		return -EINVAL;
	sip_event_pkg(sip_hdr_get(m, SIP_H_EVENT), &evp);
	sip_param_get(evp, "id", &id);
	/* the local tag is a hash of the dialog's identifying parts, so a
	 * retransmitted SUBSCRIBE maps to the same subscription */
	for (size_t i = 0; i < call.n; i++)
		h = (h ^ (uint8_t)call.p[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < rtag.n; i++)
		h = (h ^ (uint8_t)rtag.p[i]) * 0x100000001b3ull;
	sip_addr_str(&from->addr, ip, sizeof(ip), &port);
	sip_wbuf_init(&b, out, cap);
	sip_w_fmt(&b, "v1 %s %s %s %u\n", mail_event ? "me" : "ms", sip_tp_lower(from->tp), ip,
		  port);
	sip_w_span(&b, call);
	sip_w_fmt(&b, "\n%016llx\n", (unsigned long long)h);
	sip_w_span(&b, rtag);
	sip_w_str(&b, "\n");
	sip_w_span(&b, curi);
	sip_w_str(&b, "\n");
	sip_w_span(&b, furi);
	sip_w_str(&b, "\n");
	sip_w_span(&b, turi);
	sip_w_str(&b, "\n");
	/* route set: the Record-Route values in order (RFC 3261 12.1.1) */
	for (unsigned i = 0, k = 0; i < m->nhdr; i++)
		if (m->hdr[i].id == SIP_H_RECORD_ROUTE) {
			if (k++)
				sip_w_str(&b, ", ");
			sip_w_span(&b, sip_msg_span(m, m->hdr[i].value));
		}
	sip_w_str(&b, "\n");
	sip_w_span(&b, id);
	sip_w_fmt(&b, "\n%s/%s", sp->account, sp->path);
	if (b.over || memchr(out, 0, b.len))
		return -ENOSPC;
	out[b.len] = 0;
	for (size_t i = 0; i < b.len; i++)
		if (out[i] == '\r')
			return -EINVAL;
	return 0;
}

static struct sip_pend *pend_alloc(struct sip_worker *w, uint32_t *slot)
{
	uint32_t i = slots_take(&w->pend_ids);

	if (i == SLOTS_NONE)
		return NULL;
	w->pend[i].used = true;
	/* never 0: req_id 0 (slot 0, generation 0) is a remove's "no reply" */
	if (++w->pend[i].gen == 0)
		w->pend[i].gen = 1;
	*slot = i;
	return &w->pend[i];
}

static void pend_free(struct sip_worker *w, struct sip_pend *p)
{
	p->used = false;
	slots_put(&w->pend_ids, (uint32_t)(p - w->pend));
}

static void pend_send(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
		      struct sip_pend *p, uint32_t slot, struct sub_req *q)
{
	q->req_id = ((uint64_t)p->gen << 32) | slot;
	q->now = w->now;
	p->from = *from;
	p->len = (uint32_t)m->len;
	memcpy(p->req, m->buf, m->len);
	if (sip_chan_send_retry(w, p->shard, q) < 0) {
		pend_free(w, p);
		SIP_COUNT(w->seg, busy, 1);
		sip_respond(w, m, from, 503, "Service Unavailable",
			    &(struct sip_resp_opts){ .extra = "Retry-After: 5\r\n" });
	}
}

/* A 401 with a fresh nonce; stale=true when the answer was right but its
 * nonce was not (expired, forgotten, or its count replayed). */
static void challenge(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
		      bool stale)
{
	char extra[768], nonce[SIP_NONCE_LEN + 1];

	if (sip_nonce_issue(&w->nonces, w->now, nonce))
		SIP_COUNT(w->seg, auth_nonces_evicted, 1);
	sip_auth_challenge(extra, sizeof(extra), w->conf->sip_domain, nonce, stale);
	sip_respond(w, m, from, 401, "Unauthorized", &(struct sip_resp_opts){ .extra = extra });
	SIP_COUNT(w->seg, auth_challenges, 1);
}

/* Identity of the subscriber: P-Asserted-Identity from a trusted CNA, or
 * digest. 0 and out, or a response was sent (-EACCES). */
static int identify(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
		    char *out, size_t cap)
{
	struct sip_span pai = sip_hdr_get(m, SIP_H_PAI), uri, par;
	const char *why;
	int rc;

	if (trusted(w, from) && pai.n) {
		if (sip_addr_parse(sip_list_next(&pai), &uri, &par) == 0 &&
		    identity_of(uri, out, cap) == 0)
			return 0;
		respond_warn(w, m, from, 403, "Forbidden", "bad P-Asserted-Identity");
		SIP_COUNT(w->seg, forbidden, 1);
		return -EACCES;
	}
	if (!w->conf->sip_digest) {
		respond_warn(w, m, from, 403, "Forbidden", "untrusted source and digest is off");
		SIP_COUNT(w->seg, forbidden, 1);
		return -EACCES;
	}
	rc = sip_auth_check(&w->nonces, w->conf->sip_domain, sip_msg_span(m, m->method),
			    sip_msg_span(m, m->uri), sip_hdr_get(m, SIP_H_AUTHORIZATION), w->now,
			    out, cap, &why);
	switch (rc) {
	case 0:
		SIP_COUNT(w->seg, auth_ok, 1);
		return 0;
	case -ENOENT:
		challenge(w, m, from, false);
		break;
	case -ESTALE:
		SIP_COUNT(w->seg, auth_stale, 1);
		challenge(w, m, from, true);
		break;
	case -EALREADY:
		/* RFC 7616 5.4: a used-up nonce gets a stale challenge; the
		 * replayer cannot answer the new nonce, a client that sent its
		 * requests out of order retries without asking its user */
		SIP_COUNT(w->seg, auth_replays, 1);
		challenge(w, m, from, true);
		break;
	case -EINVAL:
		SIP_COUNT(w->seg, auth_uri_mismatch, 1);
		respond_warn(w, m, from, 400, "Authorization uri Does Not Match Request-URI", why);
		break;
	case -EBADMSG:
		SIP_COUNT(w->seg, malformed, 1);
		respond_warn(w, m, from, 400, "Bad Request", why);
		break;
	default:
		respond_warn(w, m, from, 403, "Forbidden", why);
		SIP_COUNT(w->seg, auth_failures, 1);
		SIP_COUNT(w->seg, forbidden, 1);
	}
	return -EACCES;
}

/* In-dialog SUBSCRIBE: refresh or unsubscribe (RFC 6665 4.1.2.2/4.1.2.3). */
static void in_dialog(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
		      struct sip_span ttag, int64_t exp)
{
	char tmp[64], tag[64];
	unsigned shard;
	unsigned long long id;
	struct sub_spec sp;
	struct sip_blob b;
	struct sip_span furi, fpar, rtag;
	struct sip_pend *p;
	uint32_t slot;
	struct sub_req q;

	if (ttag.n >= sizeof(tmp))
		goto unknown;
	memcpy(tmp, ttag.p, ttag.n);
	tmp[ttag.n] = 0;
	{
		const char *dash = strchr(tmp, '-');

		if (!dash || sscanf(dash, "-s%u-%llx", &shard, &id) != 2 || shard >= w->rt->nshards)
			goto unknown;
	}
	if (!sip_table(w, shard) || sub_table_get(sip_table(w, shard), id, &sp) < 0 ||
	    sp.transport != SUB_SIP || sip_blob_parse(sp.target, &b) < 0)
		goto unknown;
	sip_local_tag(tag, sizeof(tag), b.ltag, (uint16_t)shard, id);
	if (sip_addr_parse(sip_hdr_get(m, SIP_H_FROM), &furi, &fpar) < 0 ||
	    sip_param_get(fpar, "tag", &rtag) < 0 || rtag.n != b.rtag.n ||
	    memcmp(rtag.p, b.rtag.p, rtag.n) != 0 || strcmp(tag, tmp) != 0 ||
	    b.call_id.n != sip_hdr_get(m, SIP_H_CALL_ID).n ||
	    memcmp(b.call_id.p, sip_hdr_get(m, SIP_H_CALL_ID).p, b.call_id.n) != 0)
		goto unknown;
	/* Call-ID and tags are seen by every hop: from an untrusted source a
	 * refresh or unsubscribe proves its identity as the SUBSCRIBE did
	 * (digest, RFC 3261 22.1), and it must be the subscriber's */
	if (!trusted(w, from)) {
		char who[sizeof(sp.subscriber)];

		if (identify(w, m, from, who, sizeof(who)) < 0)
			return; /* answered: 401, 403 or 400 */
		if (strcmp(who, sp.subscriber) != 0) {
			respond_warn(w, m, from, 403, "Forbidden", "not the subscriber");
			SIP_COUNT(w->seg, forbidden, 1);
			return;
		}
	}
	if (!(p = pend_alloc(w, &slot))) {
		SIP_COUNT(w->seg, busy, 1);
		sip_respond(w, m, from, 503, "Service Unavailable",
			    &(struct sip_resp_opts){ .extra = "Retry-After: 5\r\n" });
		return;
	}
	memset(&q, 0, sizeof(q));
	p->shard = (uint16_t)shard;
	p->id = id;
	p->fetch = false;
	p->granted = (uint32_t)exp;
	p->op = exp == 0 ? PEND_REMOVE : PEND_REFRESH;
	q.op = exp == 0 ? SUB_OP_REMOVE : SUB_OP_REFRESH;
	q.spec.id = id;
	q.spec.expires = w->now + (uint32_t)exp;
	pend_send(w, m, from, p, slot, &q);
	return;
unknown:
	sip_respond(w, m, from, 481, "Subscription Does Not Exist", NULL);
}

static void new_sub(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from,
		    bool mail_event, int64_t exp)
{
	struct sip_uri u;
	struct sip_span mb;
	struct sub_req q;
	struct sip_pend *p;
	uint32_t slot;
	const char *why = "bad Request-URI";
	char path[NAMES_KEY_MAX + 1];

	memset(&q, 0, sizeof(q));
	if (identify(w, m, from, q.spec.subscriber, sizeof(q.spec.subscriber)) < 0)
		return;
	if (sip_uri_parse(sip_msg_span(m, m->uri), &u) < 0 ||
	    account_of(w, &u, q.spec.account, sizeof(q.spec.account), &why) < 0) {
		respond_warn(w, m, from, 404, "Not Found", why);
		return;
	}
	snprintf(q.spec.path, sizeof(q.spec.path), "INBOX");
	if (sip_param_get(u.params, "mailbox", &mb) == 0) {
		int n = pct_decode(mb.p, mb.n, path, sizeof(path));

		if (n < 0 ||
		    names_path(path, (size_t)n, q.spec.path, sizeof(q.spec.path), &why) < 0) {
			respond_warn(w, m, from, 404, "Not Found", "bad mailbox parameter");
			return;
		}
	}
	if (mail_event && mail_event_filter(sip_msg_span(m, m->body), &q.spec, &why) < 0) {
		respond_warn(w, m, from, 400, "Bad Request", why);
		return;
	}
	q.op = SUB_OP_ADD;
	q.spec.transport = SUB_SIP;
	/* a fetch (Expires: 0) lives until its one NOTIFY went out */
	q.spec.expires = w->now + (uint32_t)(exp ? exp : 60);
	if (make_blob(w, m, from, mail_event, &q.spec, q.spec.target, sizeof(q.spec.target)) < 0) {
		respond_warn(w, m, from, 400, "Bad Request",
			     "From tag, To or Contact missing, or dialog too large");
		return;
	}
	if (!(p = pend_alloc(w, &slot))) {
		SIP_COUNT(w->seg, busy, 1);
		sip_respond(w, m, from, 503, "Service Unavailable",
			    &(struct sip_resp_opts){ .extra = "Retry-After: 5\r\n" });
		return;
	}
	p->op = PEND_ADD;
	p->fetch = exp == 0;
	p->granted = (uint32_t)exp;
	p->shard = (uint16_t)sub_chan_shard_of(w->rt, q.spec.account);
	p->id = 0;
	pend_send(w, m, from, p, slot, &q);
}

/* A retransmission of a SUBSCRIBE still waiting for its shard (the same
 * bytes, so the same top Via branch and CSeq): absorbed, the answer to the
 * first covers it (RFC 3261 17.2.2). Only the pending requests are looked
 * at, length first. */
static bool pending_dup(struct sip_worker *w, const struct sip_msg *m)
{
	for (uint32_t k = 0; k < slots_nlive(&w->pend_ids); k++) {
		const struct sip_pend *p = &w->pend[slots_live(&w->pend_ids, k)];

		if (p->used && p->len == m->len && memcmp(p->req, m->buf, m->len) == 0)
			return true;
	}
	return false;
}

void sip_sub_request(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from)
{
	struct sip_span ev = sip_hdr_get(m, SIP_H_EVENT), pkg, ex, turi, tpar, ttag;
	bool mail_event;
	int64_t exp = DEFAULT_EXPIRES;
	char extra[64];

	if (done_resend(w, m, from) || pending_dup(w, m))
		return;
	pkg = sip_event_pkg(ev, NULL);
	if (sip_span_eq(pkg, "message-summary")) {
		mail_event = false;
	} else if (sip_span_eq(pkg, "mail-event")) {
		mail_event = true;
	} else {
		sip_respond(w, m, from, 489, "Bad Event",
			    &(struct sip_resp_opts){ .extra = ALLOW_EVENTS });
		return;
	}
	ex = sip_hdr_get(m, SIP_H_EXPIRES);
	if (ex.n && (exp = sip_span_num(ex)) < 0) {
		respond_warn(w, m, from, 400, "Bad Request", "bad Expires");
		return;
	}
	if (exp > 0 && exp < w->conf->sip_min_expires) {
		snprintf(extra, sizeof(extra), "Min-Expires: %lld\r\n",
			 (long long)w->conf->sip_min_expires);
		sip_respond(w, m, from, 423, "Interval Too Brief",
			    &(struct sip_resp_opts){ .extra = extra });
		return;
	}
	if (exp > w->conf->sip_max_expires)
		exp = w->conf->sip_max_expires;
	if (sip_addr_parse(sip_hdr_get(m, SIP_H_TO), &turi, &tpar) == 0 &&
	    sip_param_get(tpar, "tag", &ttag) == 0 && ttag.n) {
		in_dialog(w, m, from, ttag, exp);
		return;
	}
	new_sub(w, m, from, mail_event, exp);
}

static void answer_add(struct sip_worker *w, struct sip_pend *p, const struct sip_msg *m,
		       const struct sub_rep *rep)
{
	char tag[64], extra[64], contact[160];
	struct sip_blob b;
	struct sip_dlg *d;
	struct sip_resp_opts o = {
		.to_tag = tag, .contact = contact, .record_route = true, .extra = extra
	};

	if (sip_blob_parse(rep->spec.target, &b) < 0)
		return;
	d = sip_dlg_get(w->seg, p->shard, rep->spec.id, sip_dlg_cseq_base(w->now));
	if (!d) {
		SIP_COUNT(w->seg, busy, 1);
		/* answered first, then the removal (which may wait in rm_wait
		 * while the shard's ring is full) */
		sip_respond(w, m, &p->from, 503, "Service Unavailable", NULL);
		sip_remove_sub(w, p->shard, rep->spec.id);
		return;
	}
	if (strlen(rep->spec.target) < sizeof(d->target))
		memcpy(d->target, rep->spec.target, strlen(rep->spec.target) + 1);
	d->expires = rep->spec.expires;
	d->flags |= SIP_DLG_REPLIED;
	d->flags &= (uint16_t)~SIP_DLG_TERMINATED;
	if (p->fetch)
		d->flags |= SIP_DLG_FETCH;
	sip_local_tag(tag, sizeof(tag), b.ltag, p->shard, rep->spec.id);
	sip_net_contact(w->net, p->from.tp, contact, sizeof(contact));
	snprintf(extra, sizeof(extra), "Expires: %u\r\n", p->granted);
	sip_respond(w, m, &p->from, 200, "OK", &o);
	sip_early_flush(w, p->shard, rep->spec.id);
}

bool sip_sub_removing(const struct sip_worker *w, uint16_t shard, uint64_t id)
{
	for (uint32_t k = 0; k < slots_nlive(&w->pend_ids); k++) {
		const struct sip_pend *p = &w->pend[slots_live(&w->pend_ids, k)];

		if (p->used && p->op == PEND_REMOVE && p->shard == shard && p->id == id)
			return true;
	}
	return false;
}

static void answer_dialog(struct sip_worker *w, struct sip_pend *p, const struct sip_msg *m,
			  const struct sub_rep *rep)
{
	struct sip_dlg *d = sip_dlg_find(w->seg, p->shard, p->id);
	char extra[64], contact[160], state[64];
	struct sip_resp_opts o = { .contact = contact, .extra = extra };

	sip_net_contact(w->net, p->from.tp, contact, sizeof(contact));
	snprintf(extra, sizeof(extra), "Expires: %u\r\n", p->op == PEND_REMOVE ? 0 : p->granted);
	sip_respond(w, m, &p->from, 200, "OK", &o);
	if (!d || !d->target[0])
		return;
	/* RFC 6665 4.2.1.2: a NOTIFY right after every 2xx */
	if (p->op == PEND_REMOVE) {
		sip_notify_send(w, p->shard, p->id, d->target, d, NULL,
				"terminated;reason=timeout");
		/* the dialog is over; the shard's ENDED job may come before
		 * or after this reply (two rings), so it ends here */
		sip_dlg_del(w->seg, d);
	} else {
		/* the shard's expiry, which NOTIFYs report (sip_main.c) */
		d->expires = rep->spec.expires ? rep->spec.expires : w->now + p->granted;
		snprintf(state, sizeof(state), "active;expires=%u", p->granted);
		sip_notify_send(w, p->shard, p->id, d->target, d, NULL, state);
	}
}

void sip_sub_reply(struct sip_worker *w, const struct sub_rep *rep, uint32_t shard)
{
	uint32_t slot = (uint32_t)rep->req_id, gen = (uint32_t)(rep->req_id >> 32);
	struct sip_pend *p;
	static struct sip_msg msg;
	struct sip_msg *m = &msg;
	const char *why;

	(void)shard;
	if (slot >= SIP_PEND_CAP || !w->pend[slot].used || w->pend[slot].gen != gen)
		return; /* a fire-and-forget remove */
	p = &w->pend[slot];
	/* no longer pending for the scans, but its bytes are read below: the
	 * slot is given back at the end, or the next SUBSCRIBE would take it */
	p->used = false;
	w->replying = true; /* msg is static: no nested reply may parse into it */
	if (sip_parse(m, p->req, p->len, p->from.tp != SIP_TP_UDP, &why) < 0)
		goto out;
	if (rep->status == 0) {
		if (p->op == PEND_ADD)
			answer_add(w, p, m, rep);
		else
			answer_dialog(w, p, m, rep);
	} else if (rep->status == -EACCES) {
		SIP_COUNT(w->seg, forbidden, 1);
		respond_warn(w, m, &p->from, 403, "Forbidden", rep->reason);
	} else if (rep->status == -ENOENT && p->op != PEND_ADD) {
		struct sip_dlg *d = sip_dlg_find(w->seg, p->shard, p->id);

		/* it ended meanwhile; on_ended left the dialog to this reply */
		if (d && p->op == PEND_REMOVE)
			sip_dlg_del(w->seg, d);
		sip_respond(w, m, &p->from, 481, "Subscription Does Not Exist", NULL);
	} else if (rep->status == -EINVAL) {
		respond_warn(w, m, &p->from, 400, "Bad Request", rep->reason);
	} else {
		sip_respond(w, m, &p->from, 503, "Service Unavailable",
			    &(struct sip_resp_opts){ .extra = "Retry-After: 5\r\n" });
	}
out:
	w->replying = false;
	slots_put(&w->pend_ids, slot);
}

static bool sub_alive(void *arg, uint16_t shard, uint64_t id)
{
	struct sip_worker *w = arg;
	static struct sub_spec sp;
	struct sub_table *t = sip_table(w, shard);

	/* no table to ask, or a record mid-change: keep the dialog */
	return !t || sub_table_get(t, id, &sp) != -ENOENT;
}

void sip_sub_sweep(struct sip_worker *w)
{
	/* the whole table about once a minute at one call per 50 ms */
	sip_dlg_sweep(w->seg, &w->sweep_pos, w->seg->cap / 1200 + 1, sub_alive, w);
}
