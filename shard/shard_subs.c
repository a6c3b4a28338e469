/* shard_subs: requests, matching, notes, timers and write-through of one
 * shard's subscriptions. Runs in the shard process, between event batches. */
#include "shard/shard_subs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/names.h"
#include "pna.pb-c.h"
#include "shard/authz.h"
#include "shard/grant_table.h"
#include "shard/shard_persist.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"
#include "shard/sub_seg.h"
#include "shard/sub_table.h"

#define REQ_BATCH 64 /* requests served per poll */
#define WAKE_EARLY 8 /* SIP jobs queued between checks for a sleeping worker */
#define RELOAD_TIMEOUT_MS 60000

/* A subscription whose note waits for room in its job ring. */
struct backlog_item {
	uint64_t id;
	uint32_t index;
	uint8_t transport;
};

struct ending {
	uint64_t id;
	uint32_t due; /* unix seconds */
};

struct shard_subs {
	struct pnad_rt *rt;
	uint32_t index;
	struct shm_seg *seg;
	struct sub_seg *h;
	struct sub_table *t;
	void *grants;
	void *state; /* mailbox state, for the counts a note carries */
	struct shard_persist *persist;
	struct persist_conf pconf;
	uint32_t last_tick;
	unsigned outbox_queued; /* records since the last kick */
	unsigned wake_roles;	/* bit per role: replies or jobs were queued */
	unsigned sip_queued;	/* SIP jobs queued this pass */
	struct backlog_item *backlog;
	uint32_t nbacklog, backlog_cap;
	struct ending *ending; /* subscriptions whose mailbox went away */
	uint32_t nending, ending_cap;
	struct sub_rep rep; /* scratch: too big for the stack */
	struct persist_rec prec;
};

static void count(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* --- outbox --- */

/* Room for `n` more records in the Redis outbox? */
static bool outbox_room(struct shard_subs *s, unsigned n)
{
	struct ring *r = sub_seg_outbox(s->seg);
	uint64_t need = (uint64_t)n * (sizeof(struct persist_rec) + 16);

	return r->size - ring_used(r) >= need + r->size / 64;
}

/* Queue a change for Redis. The caller checked outbox_room when refusing
 * was possible; a change that cannot be refused (expiry) is dropped when the
 * outbox is full, and the reload skips expired subscriptions anyway. */
static void outbox_put(struct shard_subs *s, uint32_t op, const struct sub_spec *spec,
		       const struct grant *g)
{
	struct ring *r = sub_seg_outbox(s->seg);
	struct persist_rec *p;

	if (!s->persist)
		return; /* redis = none */
	p = ring_reserve(r, sizeof(*p));
	if (!p) {
		log_warn("Redis outbox full: a change (op %u) is not persisted", op);
		return;
	}
	memset(p, 0, sizeof(*p));
	p->op = op;
	if (spec)
		p->spec = *spec;
	if (g)
		p->grant = *g;
	ring_commit(r, sizeof(*p));
	s->outbox_queued++;
}

/* --- notes and jobs --- */

/* Wake `role` if it sleeps on its reply or job ring (both flags are
 * cleared, so that one sleep costs one eventfd write). */
static void wake_role(struct shard_subs *s, int role)
{
	struct ring *rep = sub_seg_rep(s->seg, (enum sub_role)role);
	bool wake = ring_consumer_waiting(rep);

	if (role == SUB_ROLE_SIP)
		wake |= ring_consumer_waiting(sub_seg_jobs(s->seg, SUB_SIP));
	if (role == SUB_ROLE_XMPP)
		wake |= ring_consumer_waiting(sub_seg_jobs(s->seg, SUB_XMPP));
	if (wake)
		pnad_wake(s->rt->role_efd[role]);
}

/* A job was queued for `role`. Every WAKE_EARLY SIP jobs of a pass, a SIP
 * worker that sleeps is woken at once, so that it sends the first NOTIFYs
 * (on the other core) while this pass applies the rest of its batch (up to
 * 256 events), not after all of it: at 3-5 us a NOTIFY it is the slowest
 * stage, and it cannot catch up with the shard and sleep in between. The
 * XMPP worker (a tenth of the jobs, and quicker) is woken once, at the end
 * of the pass (wake_all): woken early it went back to sleep after a few
 * stanzas and was woken again, which cost it half as much CPU again. */
static void job_queued(struct shard_subs *s, int role)
{
	s->wake_roles |= 1u << role;
	if (role == SUB_ROLE_SIP && ++s->sip_queued % WAKE_EARLY == 0)
		wake_role(s, role);
}

static bool job_push(struct shard_subs *s, uint8_t transport, uint32_t index, uint64_t id,
		     uint8_t kind)
{
	struct ring *r = sub_seg_jobs(s->seg, transport);
	struct sub_job *j = ring_reserve(r, sizeof(*j));

	if (!j)
		return false;
	j->id = id;
	j->index = index;
	j->shard = (uint16_t)s->index;
	j->kind = kind;
	j->pad = 0;
	ring_commit(r, sizeof(*j));
	job_queued(s, transport == SUB_XMPP ? SUB_ROLE_XMPP : SUB_ROLE_SIP);
	return true;
}

/* Tell the egress about a pending note, or remember to when its ring has
 * room again (each subscription is in the backlog at most once, since a
 * note already pending only coalesces). */
static void job_note(struct shard_subs *s, uint8_t transport, uint32_t index, uint64_t id)
{
	if (s->nbacklog == 0 && job_push(s, transport, index, id, SUB_JOB_NOTE)) {
		count(&s->h->c.notes, 1);
		return;
	}
	count(&s->h->c.job_ring_full, 1);
	if (s->nbacklog == s->backlog_cap)
		return; /* cannot happen: at most one entry per subscription */
	s->backlog[s->nbacklog++] = (struct backlog_item){ id, index, transport };
}

static unsigned backlog_flush(struct shard_subs *s)
{
	uint32_t i = 0;

	while (i < s->nbacklog) {
		struct backlog_item *b = &s->backlog[i];

		if (!job_push(s, b->transport, b->index, b->id, SUB_JOB_NOTE))
			break;
		count(&s->h->c.notes, 1);
		i++;
	}
	if (i) {
		memmove(s->backlog, s->backlog + i, (s->nbacklog - i) * sizeof(*s->backlog));
		s->nbacklog -= i;
	}
	return i;
}

/* A Sieve notify action (draft section 6): no subscription, the whole
 * message goes to the egress of the target's scheme. */
static void sieve_push(struct shard_subs *s, const struct evrec *e)
{
	const char *target = evrec_str(e, EVREC_TARGET);
	bool sip = strncasecmp(target, "sip:", 4) == 0 || strncasecmp(target, "sips:", 5) == 0 ||
		   strncasecmp(target, "tel:", 4) == 0;
	uint8_t transport = sip ? SUB_SIP : SUB_XMPP;
	struct ring *r = sub_seg_jobs(s->seg, transport);
	struct sub_job_sieve *j = ring_reserve(r, sizeof(*j));

	if (!j) {
		count(&s->h->c.job_ring_full, 1);
		return;
	}
	memset(j, 0, sizeof(*j));
	j->job.kind = SUB_JOB_SIEVE;
	j->job.shard = (uint16_t)s->index;
	snprintf(j->account, sizeof(j->account), "%s", evrec_str(e, EVREC_ACCOUNT));
	snprintf(j->path, sizeof(j->path), "%s", evrec_str(e, EVREC_PATH));
	snprintf(j->target, sizeof(j->target), "%s", target);
	snprintf(j->text, sizeof(j->text), "%s", evrec_str(e, EVREC_TEXT));
	ring_commit(r, sizeof(*j));
	count(&s->h->c.sieve, 1);
	job_queued(s, sip ? SUB_ROLE_SIP : SUB_ROLE_XMPP);
}

/* The note for an event (or heartbeat, or initial state) on (account, path)
 * of alen and plen bytes, canonical. The shard is the state's writer: it
 * reads the counts without the readers' sequence lock. */
static void note_fill(struct shard_subs *s, struct sub_note *n, uint8_t kind, uint8_t type,
		      const char *account, size_t alen, const char *path, size_t plen, uint32_t uid)
{
	struct shard_counts c = { 0 };

	if (plen >= sizeof(n->path))
		plen = sizeof(n->path) - 1;
	shard_state_counts(s->state, account, alen, path, plen, &c);
	*n = (struct sub_note){ .kind = kind,
				.type = type,
				.uid = uid,
				.uidvalidity = c.uidvalidity,
				.uidnext = c.uidnext,
				.messages = c.messages,
				.unseen = c.unseen };
	memcpy(n->path, path, plen);
	n->path[plen] = '\0';
}

/* note_fill for a subscription's own mailbox (INBOX for an account-wide
 * one). */
static void note_fill_spec(struct shard_subs *s, struct sub_note *n, uint8_t kind,
			   const struct sub_spec *sp)
{
	const char *path = sp->path[0] ? sp->path : "INBOX";

	note_fill(s, n, kind, 0, sp->account, strlen(sp->account), path, strlen(path), 0);
}

static void note_deliver(struct shard_subs *s, uint32_t index, uint64_t id,
			 const struct sub_note *n)
{
	int transport;

	if (sub_table_note_put(s->t, index, n)) {
		transport = sub_table_transport(s->t, index, id);
		if (transport > 0)
			job_note(s, (uint8_t)transport, index, id);
		/* Something is on its way: the heartbeat clock restarts. */
		sub_table_sent(s->t, index, s->last_tick);
	} else {
		count(&s->h->c.coalesced, 1);
	}
}

struct match_ctx {
	struct shard_subs *s;
	const struct evrec *e;
	bool filled; /* the note is built at the first match: most events have none */
	struct sub_note note;
};

static void on_match(uint32_t index, uint64_t id, void *arg)
{
	struct match_ctx *m = arg;
	const struct evrec *e = m->e;

	if (!m->filled) {
		note_fill(m->s, &m->note, SUB_NOTE_EVENT, e->type, evrec_str(e, EVREC_ACCOUNT),
			  e->len[EVREC_ACCOUNT], evrec_str(e, EVREC_PATH), e->len[EVREC_PATH],
			  (e->flags & EVREC_HAS_UID) ? e->uid : 0);
		m->filled = true;
	}
	note_deliver(m->s, index, id, &m->note);
}

/* --- mailbox deleted or renamed: its subscriptions end --- */

/* Seconds a subscription outlives its mailbox: time for the egress to take
 * the note of the delete or rename itself before the end is announced. */
#define END_GRACE 2

struct end_ctx {
	struct shard_subs *s;
	const char *path; /* the mailbox that went away */
	size_t plen;
	bool subtree; /* also what is under it (a rename moves children) */
};

static int end_collect(const struct sub_spec *sp, void *arg)
{
	struct end_ctx *x = arg;
	struct shard_subs *s = x->s;
	bool hit = strcmp(sp->path, x->path) == 0 ||
		   (x->subtree && strncmp(sp->path, x->path, x->plen) == 0 &&
		    sp->path[x->plen] == '/');

	if (hit && s->nending < s->ending_cap)
		s->ending[s->nending++] = (struct ending){ sp->id, s->last_tick + END_GRACE };
	return 0;
}

/* A deleted mailbox, or the old name of a renamed one and everything under
 * it, no longer exists: its subscriptions end (SIP: terminated with reason
 * noresource; XMPP: the node is gone), END_GRACE seconds after, so that
 * they get the event itself first. Subscribers re-subscribe to the new name
 * (docs/architecture.md). */
static void end_mailbox_subs(struct shard_subs *s, const char *acct, const char *path, bool subtree)
{
	struct end_ctx x = { .s = s, .path = path, .plen = strlen(path), .subtree = subtree };

	sub_table_list_mailbox(s->t, acct, NULL, end_collect, &x);
}

/* End the subscriptions whose grace ran out (the list is in due order). */
static unsigned end_due(struct shard_subs *s, uint32_t now)
{
	struct sub_spec sp;
	uint32_t i = 0;

	for (; i < s->nending && s->ending[i].due <= now; i++) {
		if (!outbox_room(s, 1))
			break; /* Redis is behind: try again at the next tick */
		if (sub_table_get(s->t, s->ending[i].id, &sp) < 0)
			continue; /* removed meanwhile */
		sub_table_remove(s->t, sp.id);
		outbox_put(s, PERSIST_SUB_DEL, &sp, NULL);
		job_push(s, sp.transport, 0, sp.id, SUB_JOB_ENDED);
		count(&s->h->c.ended, 1);
	}
	if (i) {
		memmove(s->ending, s->ending + i, (s->nending - i) * sizeof(*s->ending));
		s->nending -= i;
	}
	return i;
}

void shard_subs_prefetch(struct shard_subs *s, const struct evrec *e, unsigned stage)
{
	sub_table_prefetch(s->t, evrec_str(e, EVREC_ACCOUNT), e->len[EVREC_ACCOUNT],
			   evrec_str(e, EVREC_PATH), e->len[EVREC_PATH], stage);
}

void shard_subs_event(struct shard_subs *s, const struct evrec *e)
{
	struct match_ctx m = { .s = s, .e = e };
	const char *acct = evrec_str(e, EVREC_ACCOUNT), *path = evrec_str(e, EVREC_PATH);
	unsigned n;

	if (e->type == PNA__EVENT_TYPE__SIEVE_NOTIFY) {
		sieve_push(s, e);
		return;
	}
	n = sub_table_match(s->t, acct, e->len[EVREC_ACCOUNT], path, e->len[EVREC_PATH], e->type,
			    on_match, &m);
	/* Those watching the old name learn of the rename before their
	 * subscription ends with it. */
	if (e->type == PNA__EVENT_TYPE__MAILBOX_RENAME)
		n += sub_table_match(s->t, acct, e->len[EVREC_ACCOUNT],
				     evrec_str(e, EVREC_OLD_PATH), e->len[EVREC_OLD_PATH], e->type,
				     on_match, &m);
	if (n)
		count(&s->h->c.matches, n);
	if (e->type == PNA__EVENT_TYPE__MAILBOX_DELETE)
		end_mailbox_subs(s, acct, path, false);
	else if (e->type == PNA__EVENT_TYPE__MAILBOX_RENAME)
		end_mailbox_subs(s, acct, evrec_str(e, EVREC_OLD_PATH), true);
}

/* --- timers --- */

static void on_expired(const struct sub_spec *spec, void *arg)
{
	struct shard_subs *s = arg;

	count(&s->h->c.expired, 1);
	outbox_put(s, PERSIST_SUB_DEL, spec, NULL);
	job_push(s, spec->transport, 0, spec->id, SUB_JOB_ENDED);
}

static void on_heartbeat(uint64_t id, uint32_t index, void *arg)
{
	struct shard_subs *s = arg;
	struct sub_spec spec;
	struct sub_note n;

	if (sub_table_get(s->t, id, &spec) < 0)
		return;
	count(&s->h->c.heartbeats, 1);
	note_fill_spec(s, &n, SUB_NOTE_HEARTBEAT, &spec);
	note_deliver(s, index, id, &n);
}

/* --- requests --- */

static void reply(struct shard_subs *s, enum sub_role role, const struct sub_rep *r)
{
	struct ring *ring = sub_seg_rep(s->seg, role);
	void *p = ring_reserve(ring, sizeof(*r));

	/* The caller checked for room before serving the request. */
	if (!p) {
		log_error("reply ring of role %d full: reply to %llu dropped", role,
			  (unsigned long long)r->req_id);
		return;
	}
	memcpy(p, r, sizeof(*r));
	ring_commit(ring, sizeof(*r));
	s->wake_roles |= 1u << role;
}

static void fail(struct sub_rep *r, int status, const char *fmt, const char *arg)
{
	r->status = status;
	snprintf(r->reason, sizeof(r->reason), fmt, arg);
}

/* Canonical account and path of a request's spec, in place. */
static int canon(struct sub_spec *sp, struct sub_rep *r)
{
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];
	const char *why;

	if (names_account(sp->account, strlen(sp->account), acct, sizeof(acct), &why) < 0) {
		fail(r, -EINVAL, "account: %s", why);
		return -EINVAL;
	}
	path[0] = '\0';
	if (sp->path[0] && names_path(sp->path, strlen(sp->path), path, sizeof(path), &why) < 0) {
		fail(r, -EINVAL, "mailbox: %s", why);
		return -EINVAL;
	}
	strcpy(sp->account, acct);
	strcpy(sp->path, path);
	return 0;
}

static void initial_note(struct shard_subs *s, const struct sub_spec *sp)
{
	struct sub_note n;
	uint32_t index;

	/* The record index is the id's low 32 bits (sub_table.h). */
	index = (uint32_t)sp->id;
	note_fill_spec(s, &n, SUB_NOTE_STATE, sp);
	note_deliver(s, index, sp->id, &n);
}

static void op_add(struct shard_subs *s, struct sub_req *q, struct sub_rep *r)
{
	struct sub_spec *sp = &q->spec;
	const char *why = NULL;
	int rc;

	if (canon(sp, r) < 0)
		return;
	if (sp->transport != SUB_SIP && sp->transport != SUB_XMPP) {
		fail(r, -EINVAL, "%s", "transport must be sip or xmpp");
		return;
	}
	rc = authz_check(s->rt->conf, s->grants, sp->subscriber, sp->account, sp->path, r->reason,
			 sizeof(r->reason));
	if (rc < 0) {
		r->status = rc;
		count(&s->h->c.denied, 1);
		log_info("subscription refused: %s", r->reason);
		return;
	}
	if (!outbox_room(s, 1)) {
		count(&s->h->c.refused_full, 1);
		fail(r, -EAGAIN, "%s",
		     "Redis is unreachable and the queue of unsaved changes is full; "
		     "retry later");
		return;
	}
	sp->id = 0;
	if (!sp->target[0])
		snprintf(sp->target, sizeof(sp->target), "%s", sp->subscriber);
	rc = sub_table_add(s->t, sp, q->now, &why);
	if (rc < 0) {
		if (rc == -ENOSPC)
			count(&s->h->c.refused_full, 1);
		fail(r, rc, "%s", why ? why : "refused");
		return;
	}
	outbox_put(s, PERSIST_SUB_PUT, sp, NULL);
	r->spec = *sp;
	initial_note(s, sp);
}

static void op_refresh(struct shard_subs *s, struct sub_req *q, struct sub_rep *r)
{
	if (!outbox_room(s, 1)) {
		fail(r, -EAGAIN, "%s", "the queue of unsaved changes is full; retry later");
		return;
	}
	if (sub_table_refresh(s->t, q->spec.id, q->spec.expires, q->now) < 0 ||
	    sub_table_get(s->t, q->spec.id, &r->spec) < 0) {
		fail(r, -ENOENT, "%s", "no such subscription");
		return;
	}
	outbox_put(s, PERSIST_SUB_PUT, &r->spec, NULL);
}

static void op_remove(struct shard_subs *s, struct sub_req *q, struct sub_rep *r)
{
	if (sub_table_get(s->t, q->spec.id, &r->spec) < 0) {
		fail(r, -ENOENT, "%s", "no such subscription");
		return;
	}
	if (!outbox_room(s, 1)) {
		fail(r, -EAGAIN, "%s", "the queue of unsaved changes is full; retry later");
		return;
	}
	sub_table_remove(s->t, q->spec.id);
	outbox_put(s, PERSIST_SUB_DEL, &r->spec, NULL);
	job_push(s, r->spec.transport, 0, r->spec.id, SUB_JOB_ENDED);
}

struct list_ctx {
	struct shard_subs *s;
	enum sub_role role;
	struct sub_rep *r;
};

static int list_one(const struct sub_spec *sp, void *arg)
{
	struct list_ctx *l = arg;
	struct ring *ring = sub_seg_rep(l->s->seg, l->role);

	/* Keep room for the final reply. */
	if (ring->size - ring_used(ring) < 3 * (sizeof(*l->r) + 16)) {
		l->r->status = -E2BIG;
		snprintf(l->r->reason, sizeof(l->r->reason), "list cut at %u entries", l->r->count);
		return 1;
	}
	l->r->flags = SUB_REP_MORE;
	l->r->spec = *sp;
	reply(l->s, l->role, l->r);
	l->r->count++;
	return 0;
}

static int list_grant(const struct grant *g, void *arg)
{
	struct list_ctx *l = arg;
	struct ring *ring = sub_seg_rep(l->s->seg, l->role);

	if (ring->size - ring_used(ring) < 3 * (sizeof(*l->r) + 16))
		return 1;
	l->r->flags = SUB_REP_MORE;
	l->r->grant = *g;
	reply(l->s, l->role, l->r);
	l->r->count++;
	return 0;
}

/* Grantee in canonical form: an identity, or "@domain" lower-cased. */
static int canon_grant(struct shard_subs *s, struct grant *g, struct sub_rep *r)
{
	struct sub_spec sp;
	char id[SUB_SUBSCRIBER_MAX + 1];
	const char *why;
	int len;

	memset(&sp, 0, sizeof(sp));
	snprintf(sp.account, sizeof(sp.account), "%s", g->account);
	snprintf(sp.path, sizeof(sp.path), "%s", g->path);
	if (canon(&sp, r) < 0)
		return -EINVAL;
	strcpy(g->account, sp.account);
	strcpy(g->path, sp.path);
	if (g->grantee[0] == '@') {
		/* A domain: canonicalise it as the domain of a stand-in user. */
		char probe[SUB_SUBSCRIBER_MAX + 2] = "x";

		memcpy(probe + 1, g->grantee, strlen(g->grantee) + 1);
		if ((len = authz_identity(s->rt->conf, probe, id, sizeof(id), &why)) < 0) {
			fail(r, -EINVAL, "grantee: %s", why);
			return -EINVAL;
		}
		memcpy(g->grantee, id + 1, (size_t)len);
	} else if ((len = authz_identity(s->rt->conf, g->grantee, id, sizeof(id), &why)) < 0) {
		fail(r, -EINVAL, "grantee: %s", why);
		return -EINVAL;
	} else {
		memcpy(g->grantee, id, (size_t)len + 1);
	}
	if (!g->rights)
		g->rights = GRANT_RIGHT_SUBSCRIBE;
	return 0;
}

static void op_grant(struct shard_subs *s, struct sub_req *q, struct sub_rep *r)
{
	int rc;

	if (canon_grant(s, &q->grant, r) < 0)
		return;
	if (!outbox_room(s, 1)) {
		fail(r, -EAGAIN, "%s", "the queue of unsaved changes is full; retry later");
		return;
	}
	if (q->op == SUB_OP_GRANT_ADD) {
		rc = grant_table_put(s->grants, &q->grant);
		if (rc < 0) {
			fail(r, rc, "%s", "grant table full");
			return;
		}
		outbox_put(s, PERSIST_GRANT_PUT, NULL, &q->grant);
	} else {
		if (grant_table_del(s->grants, &q->grant) < 0) {
			fail(r, -ENOENT, "%s", "no such grant");
			return;
		}
		outbox_put(s, PERSIST_GRANT_DEL, NULL, &q->grant);
	}
	r->grant = q->grant;
}

static void serve(struct shard_subs *s, enum sub_role role, struct sub_req *q)
{
	struct sub_rep *r = &s->rep;
	struct list_ctx l = { s, role, r };

	memset(r, 0, sizeof(*r));
	r->req_id = q->req_id;
	count(&s->h->c.requests, 1);
	switch (q->op) {
	case SUB_OP_ADD:
		op_add(s, q, r);
		break;
	case SUB_OP_REFRESH:
		op_refresh(s, q, r);
		break;
	case SUB_OP_REMOVE:
		op_remove(s, q, r);
		break;
	case SUB_OP_GET:
		if (sub_table_get(s->t, q->spec.id, &r->spec) < 0)
			fail(r, -ENOENT, "%s", "no such subscription");
		break;
	case SUB_OP_LIST_SUBSCRIBER:
		sub_table_list_subscriber(s->t, q->spec.subscriber, list_one, &l);
		break;
	case SUB_OP_LIST_MAILBOX:
		if (canon(&q->spec, r) == 0)
			sub_table_list_mailbox(s->t, q->spec.account,
					       q->spec.depth == SUB_SUBTREE && !q->spec.path[0]
						       ? NULL
						       : q->spec.path,
					       list_one, &l);
		break;
	case SUB_OP_GRANT_ADD:
	case SUB_OP_GRANT_REMOVE:
		op_grant(s, q, r);
		break;
	case SUB_OP_GRANT_LIST:
		grant_table_list(s->grants, q->grant.account, list_grant, &l);
		break;
	default:
		fail(r, -EINVAL, "%s", "unknown request");
	}
	r->flags = 0;
	memset(&r->grant, 0, q->op == SUB_OP_GRANT_LIST ? sizeof(r->grant) : 0);
	reply(s, role, r);
}

static unsigned serve_role(struct shard_subs *s, enum sub_role role)
{
	struct ring *req = sub_seg_req(s->seg, role), *rep = sub_seg_rep(s->seg, role);
	unsigned n = 0;

	while (n < REQ_BATCH) {
		uint32_t len;
		uint64_t pos;
		const void *p;
		static struct sub_req q;

		/* A reply needs room; lists stop early and say so. */
		if (rep->size - ring_used(rep) < 4 * (sizeof(struct sub_rep) + 16))
			break;
		p = ring_peek(req, &len, &pos);
		if (!p)
			break;
		memcpy(&q, p, len < sizeof(q) ? len : sizeof(q));
		ring_release(req);
		serve(s, role, &q);
		n++;
	}
	return n;
}

/* --- the loop's entry points --- */

static void wake_all(struct shard_subs *s)
{
	for (int role = 0; role < SUB_NROLES; role++)
		if (s->wake_roles & (1u << role))
			wake_role(s, role);
	s->wake_roles = 0;
	s->sip_queued = 0;
	if (s->outbox_queued && s->persist) {
		shard_persist_kick(s->persist);
		s->outbox_queued = 0;
	}
}

unsigned shard_subs_poll(struct shard_subs *s, uint32_t now)
{
	unsigned n = 0;

	for (int role = 0; role < SUB_NROLES; role++)
		n += serve_role(s, (enum sub_role)role);
	if (s->nbacklog)
		n += backlog_flush(s);
	if (now != s->last_tick) {
		s->last_tick = now;
		n += end_due(s, now);
		sub_table_tick(s->t, now, on_expired, on_heartbeat, s);
	}
	wake_all(s);
	return n;
}

bool shard_subs_idle(struct shard_subs *s)
{
	bool idle = true;

	wake_all(s);
	for (int role = 0; role < SUB_NROLES; role++)
		idle &= ring_consumer_wait(sub_seg_req(s->seg, (enum sub_role)role));
	return idle && s->nbacklog == 0;
}

/* --- open, reload, close --- */

static void repost_pending(uint32_t index, uint64_t id, void *arg)
{
	struct shard_subs *s = arg;
	int transport = sub_table_transport(s->t, index, id);

	if (transport > 0)
		job_note(s, (uint8_t)transport, index, id);
}

static int reload_sub(const struct sub_spec *sp, void *arg)
{
	struct shard_subs *s = arg;
	struct sub_spec copy = *sp;
	const char *why = NULL;
	uint32_t now = (uint32_t)time(NULL);

	if (copy.expires <= now)
		return 0; /* expired while pnad was down */
	if (sub_table_add(s->t, &copy, now, &why) < 0) {
		log_warn("reload: subscription %llu of %s not restored: %s",
			 (unsigned long long)sp->id, sp->account, why ? why : "?");
		return 0;
	}
	count(&s->h->c.reloaded_subs, 1);
	return 0;
}

static int reload_grant(const struct grant *g, void *arg)
{
	struct shard_subs *s = arg;

	if (grant_table_put(s->grants, g) == 0)
		count(&s->h->c.reloaded_grants, 1);
	return 0;
}

static int reload(struct shard_subs *s)
{
	struct sub_seg_params p = {
		.subs = (uint32_t)s->rt->conf->subscriptions,
		.string_bytes = (uint64_t)s->rt->conf->sub_string_bytes,
		.grants = (uint32_t)s->rt->conf->grants,
	};
	char err[256];
	int rc;

	/* A reload interrupted by a crash starts over from empty tables. */
	sub_table_format(sub_seg_table(s->seg), s->h->table_bytes, p.subs, p.string_bytes);
	grant_table_format(sub_seg_grants(s->seg), s->h->grants_bytes, p.grants);
	s->t = sub_table_attach(sub_seg_table(s->seg));
	if (!s->t)
		return -EPROTO;
	rc = shard_persist_reload(&s->pconf, reload_sub, reload_grant, s, RELOAD_TIMEOUT_MS, err,
				  sizeof(err));
	if (rc < 0) {
		log_error("reload from Redis %s failed: %s", s->pconf.redis, err);
		return rc;
	}
	count(&s->h->c.reloads, 1);
	__atomic_store_n(&s->h->c.loaded, 1, __ATOMIC_RELEASE);
	log_info("reloaded %llu subscriptions and %llu grants from Redis",
		 (unsigned long long)s->h->c.reloaded_subs,
		 (unsigned long long)s->h->c.reloaded_grants);
	return 0;
}

int shard_subs_open(struct pnad_rt *rt, uint32_t index, struct shard_subs **out)
{
	const struct pnad_conf *c = rt->conf;
	struct shard_subs *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		abort();
	s->rt = rt;
	s->index = index;
	s->seg = &rt->shards[index].subs;
	s->h = sub_seg_of(s->seg);
	s->grants = sub_seg_grants(s->seg);
	s->state = shard_seg_state(&rt->shards[index].seg);
	s->pconf = (struct persist_conf){
		.redis = c->redis,
		.cluster = strcmp(c->redis_cluster, "yes") == 0	 ? 1
			   : strcmp(c->redis_cluster, "no") == 0 ? 0
								 : -1,
		.prefix = c->redis_prefix,
		.shard = index,
		.nshards = rt->nshards,
	};
	s->backlog_cap = (uint32_t)c->subscriptions + 16;
	s->backlog = calloc(s->backlog_cap, sizeof(*s->backlog));
	s->ending_cap = s->backlog_cap;
	s->ending = calloc(s->ending_cap, sizeof(*s->ending));
	if (!s->backlog || !s->ending)
		abort();
	if (strcmp(c->redis, "none") == 0) {
		/* No durable copy: what the segment holds is all there is. */
		__atomic_store_n(&s->h->c.loaded, 1, __ATOMIC_RELEASE);
	}
	if (!__atomic_load_n(&s->h->c.loaded, __ATOMIC_ACQUIRE)) {
		rc = reload(s);
		if (rc < 0)
			goto err;
	} else {
		s->t = sub_table_attach(sub_seg_table(s->seg));
		if (!s->t) {
			rc = -EPROTO;
			goto err;
		}
		sub_table_recover(s->t);
		/* Jobs queued before a crash may be lost: announce every note
		 * still pending again (a spare job is harmless). */
		sub_table_pending(s->t, repost_pending, s);
	}
	if (strcmp(c->redis, "none") != 0) {
		rc = shard_persist_start(&s->pconf, sub_seg_outbox(s->seg), &s->h->c, &s->persist);
		if (rc < 0)
			goto err;
	}
	s->last_tick = (uint32_t)time(NULL);
	*out = s;
	return 0;
err:
	shard_subs_close(s);
	return rc;
}

void shard_subs_close(struct shard_subs *s)
{
	if (!s)
		return;
	if (s->persist)
		shard_persist_stop(s->persist);
	sub_table_close(s->t);
	free(s->backlog);
	free(s->ending);
	free(s);
}
