/* sip_main: the SIP egress worker process: one epoll loop over the SIP
 * transports and the shards' reply and job rings; sends NOTIFYs (RFC 6665)
 * for subscription notes, MESSAGEs (RFC 3428) for Sieve notify actions,
 * and acts on NOTIFY outcomes. Forked by the supervisor when sip_listen is
 * set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "egress/sip/sip_auth.h"
#include "egress/sip/sip_tls.h"
#include "egress/sip/sip_worker.h"
#include "lib/evrec.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "shard/sub_chan.h"
#include "shard/sub_seg.h"

#define TAG_EFD (9ull << 56)
#define MAX_CONNS 1024
#define TRANS_CAP 16384
#define MESSAGE_MAX 1300 /* RFC 3428 section 8 */
/* Send window: UDP requests sent within T1 and not answered, at most. More
 * only fills the peers' receive queues until they drop (then Timer E
 * resends); the notes not taken meanwhile keep coalescing at the shard. */
#define SIP_WINDOW 2048
#define TRANS_ROOM 1024 /* slots kept for requests that are not jobs */
#define LAZY_MS 2	/* longest a datagram waits while NOTIFYs are out (lazy_answers) */

/* RFC 6665 4.1.2.2 and RFC 5057: these end the subscription */
static bool notify_fatal(int status)
{
	return status == 404 || status == 405 || status == 410 || status == 416 ||
	       (status >= 480 && status <= 485) || status == 489 || status == 501 || status == 604;
}

static void clock_update(struct sip_worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	w->now = (uint32_t)time(NULL);
}

/* Written for every NOTIFY: by hand, not snprintf. */
void sip_local_tag(char *out, size_t cap, struct sip_span prefix, uint16_t shard, uint64_t id)
{
	char tmp[32];
	int n = 0;
	size_t o;

	if (prefix.n + 1 + 6 + 1 + 16 >= cap) {
		snprintf(out, cap, "%.*s-s%u-%llx", (int)prefix.n, prefix.p, shard,
			 (unsigned long long)id);
		return;
	}
	memcpy(out, prefix.p, prefix.n);
	o = prefix.n;
	out[o++] = '-';
	out[o++] = 's';
	do {
		tmp[n++] = (char)('0' + shard % 10);
		shard /= 10;
	} while (shard);
	while (n)
		out[o++] = tmp[--n];
	out[o++] = '-';
	do {
		tmp[n++] = "0123456789abcdef"[id & 15];
		id >>= 4;
	} while (id);
	while (n)
		out[o++] = tmp[--n];
	out[o] = 0;
}

/* "<prefix><n>" into out[cap] (n in decimal). */
static void str_num(char *out, size_t cap, const char *prefix, uint32_t n)
{
	struct sip_wbuf b;

	sip_wbuf_init(&b, out, cap - 1);
	sip_w_str(&b, prefix);
	sip_w_u64(&b, n);
	out[b.over ? 0 : b.len] = 0;
}

struct sub_table *sip_table(struct sip_worker *w, uint32_t shard)
{
	if (shard >= w->rt->nshards)
		return NULL;
	if (!w->tables[shard])
		w->tables[shard] = sub_table_attach(sub_seg_table(&w->rt->shards[shard].subs));
	return w->tables[shard];
}

int sip_chan_send_retry(struct sip_worker *w, uint32_t shard, const struct sub_req *q)
{
	struct sub_rep rep;
	uint32_t from;

	if (sub_chan_send(w->rt, SUB_ROLE_SIP, shard, q) == 0)
		return 0;
	for (int i = 0; !w->replying && i < 64 && sub_chan_recv(w->rt, SUB_ROLE_SIP, &rep, &from);
	     i++) {
		sip_sub_reply(w, &rep, from);
		if (sub_chan_send(w->rt, SUB_ROLE_SIP, shard, q) == 0)
			return 0;
	}
	return -EAGAIN;
}

static int remove_send(struct sip_worker *w, uint16_t shard, uint64_t id)
{
	struct sub_req q;

	memset(&q, 0, sizeof(q));
	q.req_id = 0; /* no pending slot: the reply is dropped */
	q.op = SUB_OP_REMOVE;
	q.now = w->now;
	q.spec.id = id;
	return sip_chan_send_retry(w, shard, &q);
}

void sip_remove_sub(struct sip_worker *w, uint16_t shard, uint64_t id)
{
	if (w->nrm_wait == 0 && remove_send(w, shard, id) == 0)
		return;
	if (w->nrm_wait == SIP_RM_WAIT_CAP) {
		/* the shard's expiry ends it in the end */
		log_warn("could not queue the removal of subscription %u-%llu", shard,
			 (unsigned long long)id);
		return;
	}
	w->rm_wait[w->nrm_wait++] = (struct sip_rm_wait){ shard, id };
}

/* The removals that waited, in order, while their shards take them. */
static void rm_wait_tick(struct sip_worker *w)
{
	uint32_t i = 0;

	while (i < w->nrm_wait && remove_send(w, w->rm_wait[i].shard, w->rm_wait[i].id) == 0)
		i++;
	memmove(w->rm_wait, w->rm_wait + i, (w->nrm_wait - i) * sizeof(*w->rm_wait));
	w->nrm_wait -= i;
}

/* Where NOTIFYs of a dialog go: the TCP connection (or address) the
 * SUBSCRIBE came from; over UDP the first route or the remote target when
 * numeric, else the source address. */
static int dialog_peer(const struct sip_blob *b, struct sip_peer *to)
{
	struct sip_span first = b->route, uri, par;
	struct sip_uri u;
	char host[64];

	memset(to, 0, sizeof(*to));
	to->conn = UINT32_MAX;
	if (strcmp(b->tp, "tcp") == 0 || strcmp(b->tp, "tls") == 0) {
		to->tp = b->tp[1] == 'l' ? SIP_TP_TLS : SIP_TP_TCP;
		return sip_addr_make(b->ip, b->port, &to->addr, &to->alen);
	}
	to->tp = SIP_TP_UDP;
	if (first.n) {
		first = sip_list_next(&first);
		if (sip_addr_parse(first, &uri, &par) < 0)
			uri = first;
	} else {
		uri = b->rtarget;
	}
	if (sip_uri_parse(uri, &u) == 0 && u.host.n < sizeof(host)) {
		memcpy(host, u.host.p, u.host.n);
		host[u.host.n] = 0;
		if (sip_addr_make(host, u.port ? u.port : 5060, &to->addr, &to->alen) == 0)
			return 0;
	}
	return sip_addr_make(b->ip, b->port, &to->addr, &to->alen);
}

static int notify_body(const struct sip_blob *b, struct sip_dlg *d, const struct sub_note *n,
		       const char *state, char *body, size_t cap, const char **ctype)
{
	struct sip_wbuf bw;
	const char *key = b->event_id.p + b->event_id.n + 1; /* the last line */
	char account[NAMES_ACCOUNT_MAX + 1], uri[NAMES_ACCOUNT_MAX + 8];
	const char *slash = strchr(key, '/');
	size_t alen = slash ? (size_t)(slash - key) : strlen(key);

	if (alen >= sizeof(account))
		return -EINVAL;
	memcpy(account, key, alen);
	account[alen] = 0;
	sip_wbuf_init(&bw, body, cap);
	if (strcmp(b->pkg, "ms") == 0) {
		memcpy(uri, "sip:", 4);
		memcpy(uri + 4, account, alen + 1);
		*ctype = "application/simple-message-summary";
		return sip_body_mwi(&bw, uri, d->messages, d->unseen);
	}
	*ctype = "application/x-pnad-mail-event+json";
	{
		struct sip_mail_event e = {
			.kind = strncmp(state, "terminated", 10) == 0 ? "terminated"
				: !n				      ? "state"
				: n->kind == SUB_NOTE_EVENT	      ? "event"
				: n->kind == SUB_NOTE_HEARTBEAT	      ? "heartbeat"
								      : "state",
			.event = n && n->kind == SUB_NOTE_EVENT ? evrec_type_name(n->type) : NULL,
			.account = account,
			.mailbox = n ? n->path : (slash ? slash + 1 : ""),
			.uid = n ? n->uid : 0,
			.uidvalidity = d->uidvalidity,
			.uidnext = d->uidnext,
			.messages = d->messages,
			.unseen = d->unseen,
			.coalesced = n ? n->coalesced : 0,
		};
		return sip_body_mail_event(&bw, &e);
	}
}

/* Our Contact for requests over transport tp: the same for every request,
 * so written once per transport. */
static const char *contact_of(struct sip_worker *w, uint8_t tp)
{
	char *c = w->contact[tp < SIP_TP_COUNT ? tp : SIP_TP_UDP];

	if (!c[0])
		sip_net_contact(w->net, tp, c, SIP_CONTACT_MAX);
	return c;
}

/* sip_notify_send with the dialog's blob parsed (the per-NOTIFY path
 * parses it once, for the mailbox and for the NOTIFY). */
static int notify_blob(struct sip_worker *w, uint16_t shard, uint64_t id, const struct sip_blob *b,
		       struct sip_dlg *d, const struct sub_note *n, const char *state)
{
	struct sip_tr *tr;
	char branch[32], ltag[64], event[96], body[1024];
	const char *ctype = NULL;
	struct sip_wbuf out;
	int blen;

	blen = notify_body(b, d, n, state, body, sizeof(body), &ctype);
	if (blen < 0)
		return blen;
	if (!(tr = sip_trans_alloc(w->trans, branch, sizeof(branch)))) {
		SIP_COUNT(w->seg, busy, 1);
		return -ENOBUFS;
	}
	if (dialog_peer(b, &tr->to) < 0) {
		sip_trans_done(w->trans, tr);
		return -EINVAL;
	}
	sip_local_tag(ltag, sizeof(ltag), b->ltag, shard, id);
	{
		struct sip_wbuf e;

		sip_wbuf_init(&e, event, sizeof(event) - 1);
		sip_w_str(&e, strcmp(b->pkg, "ms") == 0 ? "message-summary" : "mail-event");
		if (b->event_id.n) {
			sip_w_str(&e, ";id=");
			sip_w_span(&e, b->event_id);
		}
		event[e.over ? 0 : e.len] = 0;
	}

	d->cseq++;
	sip_wbuf_init(&out, tr->buf, sizeof(tr->buf));
	if (sip_build_request(&out, &(struct sip_req_out){
					    .method = "NOTIFY",
					    .ruri = b->rtarget,
					    .transport = sip_tp_name(tr->to.tp),
					    .via_host = sip_net_host(w->net),
					    .via_port = sip_net_port_of(w->net, tr->to.tp),
					    .branch = branch,
					    .from_uri = b->luri,
					    .from_tag = sip_span_str(ltag),
					    .to_uri = b->ruri,
					    .to_tag = b->rtag,
					    .call_id = b->call_id,
					    .cseq = d->cseq,
					    .route = b->route,
					    .contact = contact_of(w, tr->to.tp),
					    .event = event,
					    .sub_state = state,
					    .ctype = ctype,
					    .body = body,
					    .body_len = (size_t)blen,
				    }) < 0) {
		sip_trans_done(w->trans, tr);
		return -ENOSPC;
	}
	tr->len = (uint32_t)out.len;
	tr->kind = SIP_TR_NOTIFY;
	tr->shard = shard;
	tr->id = id;
	tr->final_notify = strncmp(state, "terminated", 10) == 0;
	sip_trans_start(w->trans, tr, w->now_ms);
	SIP_COUNT(w->seg, notifies_sent, 1);
	tr->dlg = sip_dlg_slot(w->seg, d);
	w->out[tr->dlg] |= SIP_OUT_INFLIGHT;
	/* no connection (TCP refused, TLS client gone): Timer F decides, as
	 * for a lost datagram. A final NOTIFY does not wait for the one in
	 * flight, so it must not overtake it. */
	sip_net_send(w->net, &tr->to, tr->buf, tr->len, tr->final_notify);
	return 0;
}

int sip_notify_send(struct sip_worker *w, uint16_t shard, uint64_t id, const char *target,
		    struct sip_dlg *d, const struct sub_note *n, const char *state)
{
	struct sip_blob b;

	if (sip_blob_parse(target, &b) < 0)
		return -EINVAL;
	return notify_blob(w, shard, id, &b, d, n, state);
}

/* --- jobs from the shards --- */

/* The stashed STATE note of (shard, id), or NULL. */
static struct sip_early *early_find(struct sip_worker *w, uint16_t shard, uint64_t id)
{
	for (uint32_t k = 0; k < slots_nlive(&w->early_ids); k++) {
		struct sip_early *e = &w->early[slots_live(&w->early_ids, k)];

		if (e->shard == shard && e->id == id)
			return e;
	}
	return NULL;
}

/* A newer note replaces the one stashed for the same subscription. */
static void early_stash(struct sip_worker *w, uint16_t shard, uint64_t id, const struct sub_note *n)
{
	uint32_t slot;
	struct sip_early *e = early_find(w, shard, id);

	if (!e) {
		if ((slot = slots_take(&w->early_ids)) == SLOTS_NONE) {
			SIP_COUNT(w->seg, busy, 1);
			return;
		}
		e = &w->early[slot];
		e->shard = shard;
		e->id = id;
	}
	e->since = w->now;
	e->note = *n;
}

/* What deliver needs of a subscription: from its spec, or (the per-NOTIFY
 * path) from the dialog record, which holds the same blob and expiry. */
struct sub_view {
	const char *path; /* its mailbox; "" for the account */
	const char *target;
	uint32_t expires;
};

static struct sub_view view_of_spec(const struct sub_spec *sp)
{
	return (struct sub_view){ sp->path, sp->target, sp->expires };
}

/* A NOTIFY of this worker awaits its final response on d's slot. */
static bool in_flight(const struct sip_worker *w, const struct sip_dlg *d)
{
	return w->out[sip_dlg_slot(w->seg, d)] & SIP_OUT_INFLIGHT;
}

/* Newer state than the NOTIFY in flight on d: sent after it (notify_over). */
static void mark_dirty(struct sip_worker *w, const struct sip_dlg *d)
{
	uint8_t *o = &w->out[sip_dlg_slot(w->seg, d)];

	if (*o & SIP_OUT_DIRTY)
		SIP_COUNT(w->seg, notify_folded, 1);
	else
		w->ndirty++;
	*o |= SIP_OUT_DIRTY;
}

/* A NOTIFY for v's dialog: with its blob parsed already (b), or from v. */
static void notify_view(struct sip_worker *w, uint16_t shard, uint64_t id, struct sub_view v,
			const struct sip_blob *b, struct sip_dlg *d, const struct sub_note *n,
			const char *state)
{
	if (b)
		notify_blob(w, shard, id, b, d, n, state);
	else
		sip_notify_send(w, shard, id, v.target, d, n, state);
}

/* The note n for dialog d of subscription v; b: v's blob parsed, or NULL. */
static void deliver(struct sip_worker *w, uint16_t shard, uint64_t id, const struct sub_note *n,
		    struct sub_view v, struct sip_dlg *d, const struct sip_blob *b)
{
	char state[64];
	const char *path = v.path[0] ? v.path : "INBOX";

	if (d->flags & SIP_DLG_TERMINATED)
		return;
	/* counts of the subscribed mailbox; mail-event also reports others */
	if (strcmp(n->path, path) == 0 || !(d->flags & SIP_DLG_COUNTS)) {
		d->messages = n->messages;
		d->unseen = n->unseen;
		d->uidnext = n->uidnext;
		d->uidvalidity = n->uidvalidity;
		d->flags |= SIP_DLG_COUNTS;
	}
	if (!d->target[0] && strlen(v.target) < sizeof(d->target))
		memcpy(d->target, v.target, strlen(v.target) + 1);
	d->expires = v.expires;
	if (d->flags & SIP_DLG_FETCH) {
		notify_view(w, shard, id, v, b, d, n, "terminated;reason=timeout");
		d->flags |= SIP_DLG_TERMINATED;
		sip_remove_sub(w, shard, id);
		return;
	}
	if (v.expires <= w->now)
		return; /* the shard's expiry tick ends it */
	if (in_flight(w, d)) {
		/* One NOTIFY at a time per dialog: a second one could overtake
		 * the first's retransmission, which the subscriber must then
		 * refuse (RFC 3261 12.2.2). The counts above are kept; the
		 * NOTIFY after the final response carries them. */
		mark_dirty(w, d);
		return;
	}
	str_num(state, sizeof(state), "active;expires=", v.expires - w->now);
	notify_view(w, shard, id, v, b, d, n, state);
}

/* Send the dialog's current state (no note: message-summary counts, a
 * mail-event `state`) in an active NOTIFY. The target and expiry come from
 * the dialog record, or from the subscription when the blob did not fit
 * there. 0, or -errno when there is nothing to send to (terminated, gone,
 * expired) or no transaction slot. */
static int send_state(struct sip_worker *w, uint16_t shard, uint64_t id, struct sip_dlg *d)
{
	static struct sub_spec sp;
	const char *target = d->target;
	uint32_t expires = d->expires;
	char state[64];

	if (d->flags & SIP_DLG_TERMINATED)
		return -ENOENT;
	if (in_flight(w, d)) {
		mark_dirty(w, d); /* goes after the one out (see deliver) */
		return 0;
	}
	if (!target[0]) {
		if (!sip_table(w, shard) || sub_table_get(sip_table(w, shard), id, &sp) < 0)
			return -ENOENT;
		target = sp.target;
		expires = sp.expires;
	}
	if (expires <= w->now)
		return -ENOENT;
	str_num(state, sizeof(state), "active;expires=", expires - w->now);
	return sip_notify_send(w, shard, id, target, d, NULL, state);
}

/* The NOTIFY in flight on the dialog of transaction tr is over: send what
 * came meanwhile (ok: it was answered 2xx; otherwise the failure path or
 * the retry decides). */
static void notify_over(struct sip_worker *w, const struct sip_tr *tr, bool ok)
{
	struct sip_dlg *d;
	bool dirty, same;

	if (tr->kind != SIP_TR_NOTIFY)
		return;
	dirty = w->out[tr->dlg] & SIP_OUT_DIRTY;
	w->out[tr->dlg] = 0;
	if (!dirty)
		return; /* the common case: the dialog record is not touched */
	w->ndirty--;
	/* The slot's dialog now: tr's, or one that took the slot after tr's
	 * ended (its NOTIFYs waited for tr: never two out on one slot). After
	 * a failure of tr's own its state goes with the retry, or nowhere. */
	d = &w->seg->d[tr->dlg];
	same = d->id == tr->id && d->shard == tr->shard;
	if (!(d->flags & SIP_DLG_USED) || (same && !ok) || send_state(w, d->shard, d->id, d) < 0)
		SIP_COUNT(w->seg, notify_folded, 1);
}

void sip_early_flush(struct sip_worker *w, uint16_t shard, uint64_t id)
{
	struct sip_early *e = early_find(w, shard, id);
	struct sub_note note;
	struct sub_spec sp;
	struct sip_dlg *d;

	if (!e)
		return;
	/* given back before deliver, which can come back here (a fetch's
	 * removal takes the shard's replies) */
	note = e->note;
	slots_put(&w->early_ids, (uint32_t)(e - w->early));
	if (sip_table(w, shard) && sub_table_get(sip_table(w, shard), id, &sp) == 0 &&
	    (d = sip_dlg_get(w->seg, shard, id, sip_dlg_cseq_base(w->now))))
		deliver(w, shard, id, &note, view_of_spec(&sp), d, NULL);
}

/* STATE notes waiting for a reply that will not come (a subscription the
 * worker did not answer, e.g. reloaded after a restart): send after 5 s.
 * From the end of the list: a flush moves the last entry into its place. */
static void early_expire(struct sip_worker *w)
{
	for (uint32_t k = slots_nlive(&w->early_ids); k-- > 0;) {
		struct sip_early *e;
		struct sip_dlg *d;

		if (k >= slots_nlive(&w->early_ids))
			continue; /* a flush gave back more than this one */
		e = &w->early[slots_live(&w->early_ids, k)];
		if (w->now - e->since < 5)
			continue;
		d = sip_dlg_get(w->seg, e->shard, e->id, sip_dlg_cseq_base(w->now));
		if (d)
			d->flags |= SIP_DLG_REPLIED;
		sip_early_flush(w, e->shard, e->id);
	}
}

/* The mailbox of a dialog blob: after the '/' of its last line, which
 * ends at the blob's NUL. */
static const char *blob_path(const struct sip_blob *b)
{
	const char *slash = memchr(b->where.p, '/', b->where.n);

	return slash ? slash + 1 : "";
}

/* The per-NOTIFY path: a dialog that was answered and holds its blob and
 * expiry needs only the note, not a copy of the subscription. -ENOENT when
 * the dialog cannot take it (on_note takes the full path). */
static int on_note_fast(struct sip_worker *w, const struct sub_job *j, struct sip_dlg *d)
{
	struct sub_note n;
	struct sub_view v;
	struct sip_blob b;
	bool own;
	int rc;

	if (!d || !(d->flags & SIP_DLG_REPLIED) || !d->target[0] || !d->expires ||
	    sip_blob_parse(d->target, &b) < 0)
		return -ENOENT;
	rc = sub_table_note_take_own(sip_table(w, j->shard), j->index, j->id, &n, &own);
	if (rc < 0) {
		SIP_COUNT(w->seg, jobs_empty, 1); /* spare job, or the subscription went away */
		return 0;
	}
	v = (struct sub_view){ blob_path(&b), d->target, d->expires };
	if (own) {
		size_t len = strlen(v.path);

		if (len < sizeof(n.path))
			memcpy(n.path, v.path, len + 1);
	}
	deliver(w, j->shard, j->id, &n, v, d, &b);
	return 0;
}

static void on_note(struct sip_worker *w, const struct sub_job *j)
{
	static struct sub_spec sp;
	struct sub_note n;
	struct sip_dlg *d;

	if (!sip_table(w, j->shard))
		return;
	d = sip_dlg_find(w->seg, j->shard, j->id);
	if (on_note_fast(w, j, d) == 0)
		return;
	if (sub_table_note_take(sip_table(w, j->shard), j->index, j->id, &n, &sp) < 0) {
		SIP_COUNT(w->seg, jobs_empty, 1); /* spare job, or the subscription went away */
		return;
	}
	if (!d || !(d->flags & SIP_DLG_REPLIED)) {
		if (n.kind == SUB_NOTE_STATE) {
			early_stash(w, j->shard, j->id, &n);
			return;
		}
		d = sip_dlg_get(w->seg, j->shard, j->id, sip_dlg_cseq_base(w->now));
		if (!d)
			return;
		d->flags |= SIP_DLG_REPLIED;
	}
	deliver(w, j->shard, j->id, &n, view_of_spec(&sp), d, NULL);
}

static void on_ended(struct sip_worker *w, const struct sub_job *j)
{
	struct sip_dlg *d = sip_dlg_find(w->seg, j->shard, j->id);

	/* an unsubscribe's ENDED can overtake the shard's reply to it (they
	 * come on two rings): the reply sends the 200, then the terminated
	 * NOTIFY (RFC 6665 4.2.1.2), and ends the dialog */
	if (!d || sip_sub_removing(w, j->shard, j->id))
		return;
	if (!(d->flags & SIP_DLG_TERMINATED) && d->target[0])
		sip_notify_send(w, j->shard, j->id, d->target, d, NULL,
				d->expires <= w->now ? "terminated;reason=timeout"
						     : "terminated;reason=noresource");
	sip_dlg_del(w->seg, d);
}

/* A Sieve notify action: MESSAGE to the target, no dialog, no Contact. */
static void on_sieve(struct sip_worker *w, const struct sub_job_sieve *j)
{
	char uri[300], host[64], branch[32], tag[24], callid[256], from[200];
	struct sip_uri u;
	struct sip_tr *tr;
	struct sip_wbuf out;
	size_t tlen = strlen(j->text), n;
	const char *semi;

	/* RFC 6468: ;method=MESSAGE and other URI params are not part of the target */
	semi = strchr(j->target, ';');
	n = semi ? (size_t)(semi - j->target) : strlen(j->target);
	snprintf(uri, sizeof(uri), "%.*s", (int)n, j->target);
	if (sip_uri_parse((struct sip_span){ uri, strlen(uri) }, &u) < 0 ||
	    u.host.n >= sizeof(host))
		goto fail;
	memcpy(host, u.host.p, u.host.n);
	host[u.host.n] = 0;
	if (!(tr = sip_trans_alloc(w->trans, branch, sizeof(branch))))
		goto fail;
	memset(&tr->to, 0, sizeof(tr->to));
	tr->to.tp = SIP_TP_UDP;
	tr->to.conn = UINT32_MAX;
	if (sip_addr_make(host, u.port ? u.port : 5060, &tr->to.addr, &tr->to.alen) < 0) {
		sip_trans_done(w->trans, tr); /* no DNS in the loop: numeric hosts only */
		goto fail;
	}
	{
		/* hashed, not secret ^ time: a tag must not give the salt away */
		static uint64_t seq;
		uint64_t in[3] = { w->secret, (uint64_t)w->now_ms, ++seq };

		snprintf(tag, sizeof(tag), "%llx", (unsigned long long)hash64(in, sizeof(in)));
	}
	snprintf(callid, sizeof(callid), "m%s-%s@%s", branch, tag, w->conf->sip_domain);
	snprintf(from, sizeof(from), "sip:%s", j->account);
	for (;;) {
		sip_wbuf_init(&out, tr->buf,
			      sizeof(tr->buf) < MESSAGE_MAX ? sizeof(tr->buf) : MESSAGE_MAX);
		sip_build_request(&out, &(struct sip_req_out){
						.method = "MESSAGE",
						.ruri = sip_span_str(uri),
						.transport = "UDP",
						.via_host = sip_net_host(w->net),
						.via_port = sip_net_port(w->net),
						.branch = branch,
						.from_uri = sip_span_str(from),
						.from_tag = sip_span_str(tag),
						.to_uri = sip_span_str(uri),
						.call_id = sip_span_str(callid),
						.cseq = 1,
						.ctype = "text/plain;charset=UTF-8",
						.body = j->text,
						.body_len = tlen,
					});
		if (!out.over)
			break;
		if (tlen < 64) {
			sip_trans_done(w->trans, tr);
			goto fail;
		}
		tlen -= 64; /* shorten the text until the request fits 1300 bytes */
		while (tlen && ((unsigned char)j->text[tlen] & 0xc0) == 0x80)
			tlen--; /* never cut inside a UTF-8 sequence */
	}
	tr->len = (uint32_t)out.len;
	tr->kind = SIP_TR_MESSAGE;
	sip_trans_start(w->trans, tr, w->now_ms);
	sip_net_send(w->net, &tr->to, tr->buf, tr->len, false);
	SIP_COUNT(w->seg, messages_sent, 1);
	return;
fail:
	SIP_COUNT(w->seg, message_failures, 1);
}

#define JOB_BATCH 32 /* jobs taken before any is handled */
#define JOB_NEAR 6   /* jobs ahead whose dialog record is loaded */

/* Load what handling job j reads first: its note and its dialog's index
 * entry, which the shard and an earlier pass left in other caches (the
 * record follows, JOB_NEAR jobs ahead, once the entry is in). */
static void job_prefetch(struct sip_worker *w, const struct sub_job *j)
{
	struct sub_table *t = sip_table(w, j->shard);

	if (t)
		sub_table_note_prefetch(t, j->index);
	sip_dlg_prefetch(w->seg, j->shard, j->id);
}

static void job_run(struct sip_worker *w, const struct sub_job *j)
{
	if (j->kind == SUB_JOB_NOTE)
		on_note(w, j);
	else if (j->kind == SUB_JOB_ENDED)
		on_ended(w, j);
}

/* Room to take more jobs: the send window is open and the transaction
 * table has room (a taken note that finds no slot would be lost). */
static bool can_take(const struct sip_worker *w)
{
	return sip_trans_fresh(w->trans) < SIP_WINDOW &&
	       sip_trans_active(w->trans) + TRANS_ROOM < TRANS_CAP;
}

/* Replies first, then jobs in batches, so that the cache misses of a
 * batch overlap; each batch's datagrams go out in one sendmmsg.
 * true when jobs were left for want of room (answers will make it). */
static bool drain_shards(struct sip_worker *w)
{
	static struct sub_job_sieve job;
	struct sub_job batch[JOB_BATCH];
	struct sub_rep rep;
	uint32_t shard;
	unsigned budget = 4096;

	while (sub_chan_recv(w->rt, SUB_ROLE_SIP, &rep, &shard))
		sip_sub_reply(w, &rep, shard);
	while (budget) {
		unsigned n = 0;
		bool sieve = false;

		if (!can_take(w))
			return true;
		while (n < JOB_BATCH && budget && sub_chan_job(w->rt, SUB_SIP, &job)) {
			budget--;
			if (job.job.kind == SUB_JOB_SIEVE) {
				sieve = true;
				break;
			}
			batch[n] = job.job;
			job_prefetch(w, &batch[n++]);
		}
		for (unsigned i = 0; i < JOB_NEAR && i < n; i++)
			sip_dlg_prefetch_rec(w->seg, batch[i].shard, batch[i].id);
		for (unsigned i = 0; i < n; i++) {
			if (i + JOB_NEAR < n)
				sip_dlg_prefetch_rec(w->seg, batch[i + JOB_NEAR].shard,
						     batch[i + JOB_NEAR].id);
			job_run(w, &batch[i]);
		}
		/* Out now, not when 64 are queued: at ~3 us a NOTIFY the first
		 * of 64 would wait 0.2 ms for the last. */
		sip_net_flush(w->net);
		if (sieve)
			on_sieve(w, &job);
		else if (n < JOB_BATCH)
			break;
	}
	return false;
}

/* --- responses to our requests, and timers --- */

static void tr_failed(struct sip_worker *w, struct sip_tr *tr, bool remove)
{
	struct sip_dlg *d;

	if (tr->kind == SIP_TR_MESSAGE) {
		SIP_COUNT(w->seg, message_failures, 1);
		return;
	}
	SIP_COUNT(w->seg, notify_failures, 1);
	if (!remove || tr->final_notify)
		return;
	d = sip_dlg_find(w->seg, tr->shard, tr->id);
	if (d)
		d->flags |= SIP_DLG_TERMINATED;
	SIP_COUNT(w->seg, removed_by_failure, 1);
	sip_remove_sub(w, tr->shard, tr->id);
}

static struct sip_retry *retry_find(struct sip_worker *w, uint16_t shard, uint64_t id)
{
	for (uint32_t i = 0; w->nretry && i < SIP_RETRY_CAP; i++) {
		struct sip_retry *r = &w->retry[i];

		if (r->used && r->shard == shard && r->id == id)
			return r;
	}
	return NULL;
}

static void retry_free(struct sip_worker *w, struct sip_retry *r)
{
	r->used = false;
	w->nretry--;
}

/* RFC 6665 4.2.2: 408 and 5xx leave the subscription; send its state again
 * after 1, 2, 4 .. 32 s, then wait for the next event. */
static void retry_arm(struct sip_worker *w, uint16_t shard, uint64_t id)
{
	struct sip_retry *r = retry_find(w, shard, id);

	for (uint32_t i = 0; !r && i < SIP_RETRY_CAP; i++) {
		if (!w->retry[i].used) {
			r = &w->retry[i];
			*r = (struct sip_retry){ .used = true, .shard = shard, .id = id };
			w->nretry++;
		}
	}
	if (!r) {
		SIP_COUNT(w->seg, busy, 1);
		return;
	}
	if (r->tries >= SIP_RETRY_MAX) {
		retry_free(w, r);
		return;
	}
	r->due_ms = w->now_ms + (1000ll << r->tries);
	r->tries++;
}

/* Send the due retries; an entry stays (with its tries) until a 2xx. */
static void retry_tick(struct sip_worker *w)
{
	for (uint32_t i = 0; w->nretry && i < SIP_RETRY_CAP; i++) {
		struct sip_retry *r = &w->retry[i];
		struct sip_dlg *d;

		if (!r->used || r->due_ms == 0 || r->due_ms > w->now_ms)
			continue;
		r->due_ms = 0;
		d = sip_dlg_find(w->seg, r->shard, r->id);
		if (d && send_state(w, r->shard, r->id, d) == 0)
			SIP_COUNT(w->seg, notify_retries, 1);
		else
			retry_free(w, r);
	}
}

/* A final or provisional response (status) to our transaction `br`. */
static void on_reply(struct sip_worker *w, int status, struct sip_span br)
{
	struct sip_tr *tr;

	SIP_COUNT(w->seg, responses_in, 1);
	if (!(tr = sip_trans_match(w->trans, br)))
		return;
	if (status < 200) {
		tr->provisional = true;
		sip_trans_heard(w->trans, tr);
		if (tr->to.tp == SIP_TP_UDP)
			tr->interval_ms = SIP_T2_MS;
		return;
	}
	if (status < 300) {
		struct sip_retry *r;

		if (tr->kind == SIP_TR_NOTIFY)
			SIP_COUNT(w->seg, notify_ok, 1);
		if (tr->kind == SIP_TR_NOTIFY && (r = retry_find(w, tr->shard, tr->id)))
			retry_free(w, r);
	} else {
		tr_failed(w, tr, notify_fatal(status));
		if (tr->kind == SIP_TR_NOTIFY && !tr->final_notify &&
		    (status == 408 || status >= 500))
			retry_arm(w, tr->shard, tr->id);
	}
	notify_over(w, tr, status < 300);
	sip_trans_done(w->trans, tr);
}

static void on_response(struct sip_worker *w, const struct sip_msg *m)
{
	struct sip_span via = sip_hdr_get(m, SIP_H_VIA), top, par, br = { "", 0 };

	top = sip_list_next(&via);
	sip_event_pkg(top, &par); /* splits "SIP/2.0/UDP h:p" from ";params" */
	sip_param_get(par, "branch", &br);
	on_reply(w, m->status, br);
}

static void on_resend(void *arg, struct sip_tr *tr)
{
	struct sip_worker *w = arg;

	SIP_COUNT(w->seg, notify_retransmits, 1);
	sip_net_send(w->net, &tr->to, tr->buf, tr->len, tr->final_notify);
}

static void on_timeout(void *arg, struct sip_tr *tr)
{
	struct sip_worker *w = arg;

	SIP_COUNT(w->seg, notify_timeouts, 1);
	/* RFC 6665 4.2.2: Timer F on a NOTIFY SHOULD remove the subscription */
	tr_failed(w, tr, true);
	notify_over(w, tr, false);
}

/* --- requests --- */

static void on_msg(void *arg, const char *buf, size_t len, const struct sip_peer *from)
{
	struct sip_worker *w = arg;
	static struct sip_msg m;
	const char *why = NULL;
	struct sip_span br;
	int rc, status;

	/* most of what comes in: the 200s to our NOTIFYs */
	if (sip_parse_reply(buf, len, &status, &br) == 0) {
		on_reply(w, status, br);
		return;
	}
	rc = sip_parse(&m, buf, len, from->tp != SIP_TP_UDP, &why);

	if (rc == -EAGAIN) {
		why = "truncated message";
		rc = -EBADMSG;
	}
	if (rc < 0) {
		char extra[256];

		SIP_COUNT(w->seg, malformed, 1);
		if (m.start_ok && !m.request)
			return; /* a broken response: nothing to answer */
		if (m.first[SIP_H_VIA] < 0)
			return;
		snprintf(extra, sizeof(extra), "Warning: 399 %s \"%s\"\r\n", w->conf->sip_domain,
			 why);
		sip_respond(w, &m, from, 400, why, &(struct sip_resp_opts){ .extra = extra });
		return;
	}
	if (!m.request) {
		on_response(w, &m);
		return;
	}
	SIP_COUNT(w->seg, requests, 1);
	if (sip_span_eq(sip_msg_span(&m, m.method), "SUBSCRIBE"))
		sip_sub_request(w, &m, from);
	else if (sip_span_eq(sip_msg_span(&m, m.method), "OPTIONS"))
		sip_respond(w, &m, from, 200, "OK",
			    &(struct sip_resp_opts){ .extra = "Allow: SUBSCRIBE, OPTIONS\r\n"
							      "Allow-Events: message-summary, "
							      "mail-event\r\n" });
	else if (!sip_span_eq(sip_msg_span(&m, m.method), "ACK"))
		sip_respond(w, &m, from, 405, "Method Not Allowed",
			    &(struct sip_resp_opts){ .extra = "Allow: SUBSCRIBE, OPTIONS\r\n" });
}

/* --- setup and loop --- */

static int worker_init(struct sip_worker *w, struct pnad_rt *rt)
{
	char host[64], err[256], name[96];
	const char *colon;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_EFD };
	uint64_t dlgs;
	uint32_t cap;
	int rc;

	w->rt = rt;
	w->conf = rt->conf;
	colon = strrchr(w->conf->sip_listen, ':');
	if (!colon || (size_t)(colon - w->conf->sip_listen) >= sizeof(host)) {
		log_error("sip_listen: %s is not host:port", w->conf->sip_listen);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - w->conf->sip_listen),
		 w->conf->sip_listen);
	if (getrandom(&w->secret, sizeof(w->secret), 0) != sizeof(w->secret))
		w->secret = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	/* a dialog per subscription, and a quarter more for those that ended
	 * and wait for their ENDED job or the sweep */
	dlgs = (uint64_t)w->conf->subscriptions * rt->nshards;
	dlgs += dlgs / 4;
	cap = (uint32_t)(dlgs > (1u << 23) ? (1u << 23) : dlgs);
	snprintf(name, sizeof(name), "/%s.sipcred", w->conf->name);
	sip_cred_reader_init(&w->creds, name);
	sip_auth_set_lookup(sip_cred_lookup, &w->creds);
	snprintf(name, sizeof(name), "/%s.sip", w->conf->name);
	if ((rc = sip_dlg_open(name, cap, &w->seg_map)) < 0) {
		log_error("%s: %s", name, strerror(-rc));
		return rc;
	}
	w->seg = w->seg_map.base;
	w->out = calloc(w->seg->cap, 1);
	if (!w->out)
		return -ENOMEM;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	if ((rc = sip_net_open(host, (uint16_t)atoi(colon + 1), MAX_CONNS, w->epfd, w->seg, &w->net,
			       err, sizeof(err))) < 0) {
		log_error("%s", err);
		return rc;
	}
	if ((rc = sip_tls_start(w->net, w->conf, err, sizeof(err))) < 0) {
		log_error("%s", err);
		return rc;
	}
	w->jobs_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->jobs_epfd < 0)
		return -errno;
	if (rt->role_efd[SUB_ROLE_SIP] > 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, rt->role_efd[SUB_ROLE_SIP], &ev);
		epoll_ctl(w->jobs_epfd, EPOLL_CTL_ADD, rt->role_efd[SUB_ROLE_SIP], &ev);
	}
	w->trans = sip_trans_new(TRANS_CAP);
	w->pend = calloc(SIP_PEND_CAP, sizeof(*w->pend));
	w->tables = calloc(rt->nshards, sizeof(*w->tables));
	if (!w->pend || !w->tables || slots_init(&w->pend_ids, SIP_PEND_CAP) < 0 ||
	    slots_init(&w->early_ids, SIP_EARLY_CAP) < 0)
		abort();
	log_info("SIP worker listening on %s (udp, tcp)%s%s", w->conf->sip_listen,
		 strcmp(w->conf->sip_tls_listen, "none") ? " and tls on " : "",
		 strcmp(w->conf->sip_tls_listen, "none") ? w->conf->sip_tls_listen : "");
	return 0;
}

/* May the worker sleep without watching its sockets? While UDP NOTIFYs are
 * out, fresh (sent within T1, neither answered nor resent), and nothing
 * waits on their answers (no job held for the window, no dialog with newer
 * state for after its 2xx), their 200s can wait for the next jobs: paced
 * at 2,500 frames/s the 200s came back in two or three bursts a frame, each
 * a wake-up of its own (5,800-9,800 a second, 15-20 us each on a VM), while
 * the jobs woke the worker every frame anyway. A datagram or stream event
 * that comes meanwhile waits LAZY_MS at most. Fresh, not active: a request
 * to a dead peer stays active for Timer F (32 s), and would keep an idle
 * worker waking every LAZY_MS; after its first resend it is not fresh. */
static bool lazy_answers(const struct sip_worker *w, bool held)
{
	return !held && w->ndirty == 0 && sip_trans_fresh(w->trans) > 0;
}

static void worker_loop(struct sip_worker *w)
{
	struct epoll_event evs[64];
	int64_t last_tick = 0;
	bool full = false; /* the last wait filled evs: more may be ready */

	while (!pnad_stopping) {
		int n, timeout = 0;
		bool held;

		clock_update(w);
		held = drain_shards(w);
		if (w->now_ms - last_tick >= 50) {
			sip_trans_tick(w->trans, w->now_ms, on_resend, on_timeout, w);
			early_expire(w);
			retry_tick(w);
			rm_wait_tick(w);
			sip_sub_sweep(w);
			last_tick = w->now_ms;
		}
		sip_net_flush(w->net);
		sip_net_reap(w->net);
		/* jobs held for the window: answers (or the tick) reopen it */
		if (!full && (held || sub_chan_wait(w->rt, SUB_ROLE_SIP)))
			timeout = 50;
		if (timeout && lazy_answers(w, held)) {
			/* the answers (and any request) are read with the
			 * next jobs, or LAZY_MS from now, all at once */
			SIP_COUNT(w->seg, lazy_waits, 1);
			epoll_wait(w->jobs_epfd, evs, 1, LAZY_MS);
			timeout = 0;
		}
		n = epoll_wait(w->epfd, evs, 64, timeout);
		full = n == 64;
		clock_update(w);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == TAG_EFD) {
				uint64_t v;

				(void)!read(w->rt->role_efd[SUB_ROLE_SIP], &v, sizeof(v));
				continue;
			}
			sip_net_event(w->net, evs[i].data.u64, evs[i].events, on_msg, w);
		}
	}
}

int sip_main(struct pnad_rt *rt)
{
	static struct sip_worker w;
	enum log_level level = LOG_INFO;
	int rc;

	pnad_child_signals();
	log_level_parse(rt->conf->log_level, &level);
	log_init("sip", -1, level);
	sub_chan_prefault(rt, SUB_ROLE_SIP);
	if ((rc = worker_init(&w, rt)) < 0)
		return 1;
	worker_loop(&w);
	sip_net_flush(w.net);
	sip_net_close(w.net);
	sip_trans_free(w.trans);
	free(w.out);
	sip_cred_reader_close(&w.creds);
	for (uint32_t i = 0; i < rt->nshards; i++)
		sub_table_close(w.tables[i]);
	if (rt->conf->unlink_on_exit)
		shm_seg_unlink(w.seg_map.name);
	shm_seg_close(&w.seg_map);
	return 0;
}
