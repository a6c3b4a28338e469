/* sub_read: the subscription table's read side, for any process that maps
 * the segment (egress workers, the admin process) and for the shard itself.
 * A record is copied under its sequence lock and its strings are copied by
 * ref, then the sequence is checked again: a string freed and reused
 * meanwhile fails that check, and the copy is retried. A list walk follows
 * chains while no change is in flight and is retried if one ran. Nothing
 * here writes to the region except sub_table_note_take's compare-and-swap. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "shard/sub_table_int.h"

#define READ_TRIES (1u << 16)
#define WALK_TRIES 4096u

/* Records are copied as 32-bit words with relaxed atomics: a racing read
 * sees stale words, never torn ones. */
typedef uint32_t __attribute__((may_alias)) word;
#define REC_WORDS (sizeof(struct rec) / sizeof(word))

static void backoff(unsigned tries)
{
	if (tries % 16 == 15)
		sched_yield();
}

/* A consistent copy of record i and its sequence: 0, or -EAGAIN when it
 * stays mid-change (its writer died and was not restarted yet). */
static int rec_copy(const struct sub_table *t, uint32_t i, struct rec *out, uint32_t *seq)
{
	const word *s = (const word *)&t->recs[i];
	word *d = (word *)out;

	for (unsigned tries = 0; tries < READ_TRIES; tries++) {
		uint32_t q = __atomic_load_n(&s[0], __ATOMIC_ACQUIRE);

		if (q & 1) {
			backoff(tries);
			continue;
		}
		for (size_t k = 1; k < REC_WORDS; k++)
			d[k] = __atomic_load_n(&s[k], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s[0], __ATOMIC_RELAXED) == q) {
			d[0] = q;
			*seq = q;
			return 0;
		}
	}
	return -EAGAIN;
}

static bool rec_unchanged(const struct sub_table *t, uint32_t i, uint32_t seq)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&t->recs[i].seq, __ATOMIC_RELAXED) == seq;
}

static int copy_account(const struct sub_table *t, const struct rec *r, char *buf, size_t cap)
{
	uint32_t ref;
	int ll, dl;

	if (r->flags & FL_LOCAL_REF) {
		memcpy(&ref, r->local, sizeof(ref));
		ll = sub_pool_copy(t->pool, ref, buf, cap);
		if (ll < 0)
			return -1;
	} else {
		ll = (int)strnlen(r->local, LOCAL_INLINE);
		memcpy(buf, r->local, (size_t)ll);
	}
	if ((size_t)ll + 2 > cap)
		return -1;
	buf[ll] = '@';
	dl = sub_pool_copy(t->pool, r->domain, buf + ll + 1, cap - (size_t)ll - 1);
	return dl < 0 ? -1 : ll + 1 + dl;
}

static int copy_subscriber(const struct sub_table *t, const struct rec *r, char *buf, size_t cap)
{
	int n;

	if (r->flags & FL_SUB_ACCT)
		return copy_account(t, r, buf, cap);
	if (r->flags & FL_SUB_SIP) {
		memcpy(buf, "sip:", 4);
		n = copy_account(t, r, buf + 4, cap - 4);
		return n < 0 ? -1 : n + 4;
	}
	return sub_pool_copy(t->pool, r->subscriber, buf, cap);
}

/* The target blob (see enc_target in sub_table.c) back to text. */
static int copy_target(const struct sub_table *t, uint32_t ref, char *out, size_t cap)
{
	char blob[5 + SUB_TARGET_MAX + 1];
	int n = sub_pool_copy(t->pool, ref, blob, sizeof(blob)), tail;
	uint32_t tref;

	if (n < 1)
		return -1;
	if (blob[0] == 0) {
		if ((size_t)n > cap)
			return -1;
		memcpy(out, blob + 1, (size_t)n); /* with its NUL */
		return n - 1;
	}
	if (n < 5 || (size_t)n - 5 >= cap)
		return -1;
	memcpy(&tref, blob + 1, 4);
	memcpy(out, blob + 5, (size_t)n - 5);
	tail = sub_pool_copy(t->pool, tref, out + n - 5, cap - ((size_t)n - 5));
	return tail < 0 ? -1 : n - 5 + tail;
}

int subt_decode(const struct sub_table *t, const struct rec *r, uint32_t index,
		struct sub_spec *out)
{
	out->id = rec_id(r, index);
	out->transport = r->td & TD_TRANSPORT;
	out->depth = (r->td & TD_SUBTREE) ? SUB_SUBTREE : SUB_EXACT;
	out->events = r->events;
	out->expires = r->expires;
	out->heartbeat = r->heartbeat;
	if (copy_account(t, r, out->account, sizeof(out->account)) < 0 ||
	    sub_pool_copy(t->pool, r->path, out->path, sizeof(out->path)) < 0 ||
	    copy_subscriber(t, r, out->subscriber, sizeof(out->subscriber)) < 0)
		return -EAGAIN;
	if (r->flags & FL_TGT_SUB)
		memcpy(out->target, out->subscriber, strlen(out->subscriber) + 1);
	else if (!r->target)
		out->target[0] = '\0';
	else if (copy_target(t, r->target, out->target, sizeof(out->target)) < 0)
		return -EAGAIN;
	return 0;
}

/* The spec of record i if it is in use (and of generation gen, if not 0). */
static int snapshot(const struct sub_table *t, uint32_t i, uint32_t gen, struct sub_spec *out)
{
	struct rec c;
	uint32_t seq;

	for (unsigned tries = 0; tries < READ_TRIES; tries++) {
		int rc = rec_copy(t, i, &c, &seq);

		if (rc < 0)
			return rc;
		if (!c.used || (gen && c.gen != gen))
			return -ENOENT;
		rc = subt_decode(t, &c, i, out);
		if (rec_unchanged(t, i, seq) && rc == 0)
			return 0;
		backoff(tries);
	}
	return -EAGAIN;
}

int sub_table_get(struct sub_table *t, uint64_t id, struct sub_spec *out)
{
	uint32_t i = (uint32_t)id;

	if (i >= t->h->cap || !(id >> 32))
		return -ENOENT;
	return snapshot(t, i, (uint32_t)(id >> 32), out);
}

/* ---- list walks ---- */

struct hits {
	uint64_t *ids;
	size_t n, cap;
	uint64_t stack[64];
};

static void hits_add(struct hits *h, uint64_t id)
{
	if (h->n == h->cap) {
		uint64_t *p = h->ids == h->stack ? malloc(h->cap * 2 * sizeof(*p))
						 : realloc(h->ids, h->cap * 2 * sizeof(*p));

		if (!p)
			abort();
		if (h->ids == h->stack)
			memcpy(p, h->stack, sizeof(h->stack));
		h->ids = p;
		h->cap *= 2;
	}
	h->ids[h->n++] = id;
}

struct want {
	const char *account, *path, *subscriber; /* NULL: any */
	size_t alen, plen, slen;
};

static bool wanted(const struct sub_table *t, const struct rec *c, const struct want *w)
{
	char buf[SUB_SUBSCRIBER_MAX + 1];
	int n;

	if (w->subscriber) {
		n = copy_subscriber(t, c, buf, sizeof(buf));
		if (n < 0 || (size_t)n != w->slen || memcmp(buf, w->subscriber, w->slen) != 0)
			return false;
	}
	if (w->account) {
		n = copy_account(t, c, buf, sizeof(buf));
		if (n < 0 || (size_t)n != w->alen || memcmp(buf, w->account, w->alen) != 0)
			return false;
	}
	if (w->path) {
		n = sub_pool_copy(t->pool, c->path, buf, sizeof(buf));
		if (n < 0 || (size_t)n != w->plen || memcmp(buf, w->path, w->plen) != 0)
			return false;
	}
	return true;
}

/* Collect the ids on the chain at *head (next links at byte `off` of a
 * record) that w wants, during a stretch with no change in flight. */
static int walk_chain(const struct sub_table *t, const uint32_t *head, size_t off,
		      const struct want *w, struct hits *out)
{
	const uint32_t *ver = &t->h->ver;

	for (unsigned tries = 0; tries < WALK_TRIES; tries++, backoff(tries)) {
		uint32_t v = __atomic_load_n(ver, __ATOMIC_ACQUIRE), seq, steps = 0;
		uint32_t i = __atomic_load_n(head, __ATOMIC_RELAXED);
		struct rec c;

		if (v & 1)
			continue;
		out->n = 0;
		while (i) {
			if (i > t->h->cap || ++steps > t->h->cap ||
			    rec_copy(t, i - 1, &c, &seq) < 0)
				break;
			if (c.used && wanted(t, &c, w))
				hits_add(out, rec_id(&c, i - 1));
			i = *(uint32_t *)((char *)&c + off);
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!i && __atomic_load_n(ver, __ATOMIC_RELAXED) == v)
			return 0;
	}
	return -EAGAIN;
}

/* Call fn for each collected id still alive, then free the list. */
static int report(struct sub_table *t, struct hits *h, int rc,
		  int (*fn)(const struct sub_spec *s, void *arg), void *arg)
{
	struct sub_spec spec;

	for (size_t k = 0; rc == 0 && k < h->n; k++)
		if (sub_table_get(t, h->ids[k], &spec) == 0)
			rc = fn(&spec, arg);
	if (h->ids != h->stack)
		free(h->ids);
	return rc;
}

static void hits_init(struct hits *h)
{
	h->ids = h->stack;
	h->n = 0;
	h->cap = sizeof(h->stack) / sizeof(h->stack[0]);
}

int sub_table_list_subscriber(struct sub_table *t, const char *subscriber,
			      int (*fn)(const struct sub_spec *s, void *arg), void *arg)
{
	struct want w = { .subscriber = subscriber, .slen = strlen(subscriber) };
	uint32_t b = hbucket(hash64(subscriber, w.slen), t->h->nb_sub);
	struct hits h;
	int rc;

	hits_init(&h);
	rc = walk_chain(t, &t->sub[b], offsetof(struct rec, sub_next), &w, &h);
	return report(t, &h, rc, fn, arg);
}

int sub_table_list_mailbox(struct sub_table *t, const char *account, const char *path,
			   int (*fn)(const struct sub_spec *s, void *arg), void *arg)
{
	struct want w = { .account = account, .alen = strlen(account), .path = path };
	uint64_t ah = hash64(account, w.alen);
	struct pathhash ph;
	struct hits h;
	int rc;

	hits_init(&h);
	if (path) {
		w.plen = strlen(path);
		ph_init(&ph, ah);
		rc = walk_chain(t, &t->mb[hbucket(ph_at(&ph, path, (uint32_t)w.plen), t->h->nb_mb)],
				offsetof(struct rec, mb_next), &w, &h);
	} else {
		rc = walk_chain(t, &t->acct[hbucket(ah, t->h->nb_acct)],
				offsetof(struct rec, acct_next), &w, &h);
	}
	return report(t, &h, rc, fn, arg);
}

int sub_table_foreach(struct sub_table *t, int (*fn)(const struct sub_spec *s, void *arg),
		      void *arg)
{
	uint32_t top = __atomic_load_n(&t->h->top_index, __ATOMIC_ACQUIRE);
	struct sub_spec spec;
	int rc;

	for (uint32_t i = 0; i < top && i < t->h->cap; i++) {
		if (!__atomic_load_n(&t->recs[i].used, __ATOMIC_RELAXED) ||
		    snapshot(t, i, 0, &spec) < 0)
			continue;
		rc = fn(&spec, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the egress side of notes ---- */

/* The path of subscription (index, gen), which never changes while it
 * lives, into out (NAMES_KEY_MAX + 1 bytes). */
static int own_path(const struct sub_table *t, uint32_t index, uint32_t gen, char *out)
{
	struct sub_spec tmp;
	int rc = snapshot(t, index, gen, &tmp);

	if (rc == 0)
		memcpy(out, tmp.path, strlen(tmp.path) + 1);
	return rc;
}

/* Take the pending note of (index, id) into n; n->path is left empty when
 * the note is on the subscription's own mailbox (*own set). */
static int note_take(struct sub_table *t, uint32_t index, uint64_t id, struct sub_note *n,
		     bool *own)
{
	uint32_t tag = NOTE_TAG((uint32_t)(id >> 32)), w, c[8];
	struct note *nt = &t->notes[index];
	char path[NAMES_KEY_MAX + 1];
	const word *src = (const word *)nt;
	int plen = 0;

	for (unsigned tries = 0;; tries++, backoff(tries)) {
		if (tries == READ_TRIES)
			return -EAGAIN; /* the shard died writing it: recovery re-announces */
		w = __atomic_load_n(&nt->pend, __ATOMIC_ACQUIRE);
		if ((w & ~(NOTE_P | NOTE_W)) != tag)
			return -ENOENT;
		if (!(w & NOTE_P))
			return -EAGAIN;
		if ((w & NOTE_W) ||
		    !__atomic_compare_exchange_n(&nt->pend, &w, w & ~NOTE_P, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		for (int k = 1; k < 8; k++)
			c[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
		plen = c[2] ? sub_pool_copy(t->pool, c[2], path, sizeof(path)) : 0;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		/* Unchanged: no put began during the copy. Else the shard
		 * flagged a newer note: take that one. */
		if (__atomic_load_n(&nt->pend, __ATOMIC_RELAXED) == (w & ~NOTE_P) && plen >= 0)
			break;
	}
	n->kind = (uint8_t)c[1];
	n->type = (uint8_t)(c[1] >> 8);
	n->coalesced = c[1] >> 16;
	n->uid = c[3];
	n->uidvalidity = c[4];
	n->uidnext = c[5];
	n->messages = c[6];
	n->unseen = c[7];
	*own = !c[2];
	if (c[2])
		memcpy(n->path, path, (size_t)plen + 1);
	else
		n->path[0] = 0;
	return 0;
}

int sub_table_note_take(struct sub_table *t, uint32_t index, uint64_t id, struct sub_note *n,
			struct sub_spec *s)
{
	bool own;
	int rc;

	if (index != (uint32_t)id || index >= t->h->cap)
		return -ENOENT;
	if (s && (rc = snapshot(t, index, (uint32_t)(id >> 32), s)) < 0)
		return rc;
	if ((rc = note_take(t, index, id, n, &own)) < 0 || !own)
		return rc;
	if (s) {
		memcpy(n->path, s->path, strlen(s->path) + 1);
		return 0;
	}
	return own_path(t, index, (uint32_t)(id >> 32), n->path);
}

int sub_table_note_take_own(struct sub_table *t, uint32_t index, uint64_t id, struct sub_note *n,
			    bool *own)
{
	if (index != (uint32_t)id || index >= t->h->cap)
		return -ENOENT;
	return note_take(t, index, id, n, own);
}

void sub_table_note_prefetch(const struct sub_table *t, uint32_t index)
{
	if (index < t->h->cap)
		__builtin_prefetch(&t->notes[index]);
}

int sub_table_transport(const struct sub_table *t, uint32_t index, uint64_t id)
{
	const struct rec *r;

	if (index >= t->h->cap)
		return -ENOENT;
	r = &t->recs[index];
	if (!r->used || rec_id(r, index) != id)
		return -ENOENT;
	return r->td & TD_TRANSPORT;
}
