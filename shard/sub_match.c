/* sub_match: the subscription table's per-event path, run by the shard
 * process: matching an event against the mailbox index (exact and subtree
 * subscriptions, ancestors gated by the buckets' filter bytes), the
 * optional prefetch for batches, and the notes the shard leaves for the
 * egress (their two-writer flag is described in sub_table.h). */
#include <assert.h>
#include <string.h>

#include "lib/hash.h"
#include "shard/sub_table_int.h"

#define BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

struct match {
	struct sub_table *t;
	const struct acct *a;
	const char *path;
	uint32_t mask;
	void (*fn)(uint32_t index, uint64_t id, void *arg);
	void *arg;
};

/* Bucket b's chain: subscriptions on (account, path[0..plen)) whose key
 * hash has quarter q, subtree ones only unless `exact` too. */
static unsigned walk(const struct match *m, uint32_t b, unsigned q, size_t plen, bool exact)
{
	unsigned n = 0;

	for (uint32_t i = m->t->mb[b]; i;) {
		const struct rec *r = &m->t->recs[i - 1];
		uint32_t next = r->mb_next;
		unsigned rq = rec_q(r);
		bool last = r->flags & FL_QLAST;

		if (rq > q)
			break;
		if (rq == q && (exact || (r->td & TD_SUBTREE)) &&
		    (!r->events || (r->events & m->mask)) && key_eq(m->t, r, m->a, m->path, plen)) {
			m->fn(i - 1, rec_id(r, i - 1), m->arg);
			n++;
		}
		if (rq == q && last)
			break;
		i = next;
	}
	return n;
}

unsigned sub_table_match(struct sub_table *t, const char *account, size_t alen, const char *path,
			 size_t plen, unsigned type,
			 void (*fn)(uint32_t index, uint64_t id, void *arg), void *arg)
{
	struct acct a;
	struct match m = { t, &a, path, type < 32 ? 1u << type : 0, fn, arg };
	const char *p;
	struct pathhash ph;
	unsigned n = 0;
	uint64_t h;
	uint32_t b;

	if (!acct_split(account, alen, &a) || plen > NAMES_KEY_MAX)
		return 0;
	ph_init(&ph, a.hash);
	/* The account root and each ancestor: subtree subscriptions. */
	for (size_t e = 0, from = 0; plen;) {
		h = ph_at(&ph, path, (uint32_t)e);
		b = hbucket(h, t->h->nb_mb);
		if (filt_get(t, b) & 0x10u << key_q(h))
			n += walk(&m, b, key_q(h), e, false);
		p = memchr(path + from, '/', plen - from);
		if (!p)
			break;
		e = (size_t)(p - path);
		from = e + 1;
	}
	h = ph_at(&ph, path, (uint32_t)plen);
	b = hbucket(h, t->h->nb_mb);
	if (filt_get(t, b) & 1u << key_q(h))
		n += walk(&m, b, key_q(h), plen, true);
	return n;
}

void sub_table_prefetch(struct sub_table *t, const char *account, size_t alen, const char *path,
			size_t plen, unsigned stage)
{
	struct pathhash ph;
	const struct rec *r;
	uint32_t b, i;

	if (plen > NAMES_KEY_MAX)
		return;
	ph_init(&ph, hash64(account, alen));
	if (stage == 0) {
		/* The filter bytes of the root and each ancestor, then the path's
		 * own index entry. */
		for (const char *p = path, *end = path + plen; plen; p++) {
			b = hbucket(ph_at(&ph, path, (uint32_t)(p - path)), t->h->nb_mb);
			__builtin_prefetch(&t->filt[b / 4]);
			p = memchr(p, '/', (size_t)(end - p));
			if (!p)
				break;
		}
		b = hbucket(ph_at(&ph, path, (uint32_t)plen), t->h->nb_mb);
		__builtin_prefetch(&t->mb[b]);
		__builtin_prefetch(&t->filt[b / 4]);
		return;
	}
	b = hbucket(ph_at(&ph, path, (uint32_t)plen), t->h->nb_mb);
	i = __atomic_load_n(&t->mb[b], __ATOMIC_RELAXED);
	if (!i)
		return;
	r = &t->recs[i - 1];
	__builtin_prefetch(r);
	__builtin_prefetch((const char *)r + sizeof(*r) - 1);
	__builtin_prefetch(&t->notes[i - 1]);
}

/* ---- notes ---- */

bool sub_table_note_put(struct sub_table *t, uint32_t index, const struct sub_note *n)
{
	struct rec *r = &t->recs[index];
	struct note *nt = &t->notes[index];
	size_t plen = strnlen(n->path, sizeof(n->path)), len;
	const char *own = sub_pool_str(t->pool, r->path, &len);
	uint32_t tag = NOTE_TAG(r->gen), old, ref = 0, oldref = nt->path;
	uint64_t coal;
	bool folded, created;

	assert(index < t->h->cap && r->used);
	__atomic_store_n(&t->h->note_busy, index + 1, __ATOMIC_RELAXED);
	BARRIER();
	sub_log_point(&t->log);
	/* NOTE_W keeps the egress off until the fields are whole; the flag
	 * it swapped out says whether a job for this note is still queued. */
	old = __atomic_exchange_n(&nt->pend, tag | NOTE_P | NOTE_W, __ATOMIC_ACQ_REL);
	folded = (old & NOTE_P) && (old & ~(NOTE_P | NOTE_W)) == tag;
	coal = n->coalesced + (folded ? (uint64_t)(nt->meta >> 16) + 1 : 0);
	sub_log_begin(&t->log);
	if ((plen != len || memcmp(own, n->path, plen) != 0) &&
	    sub_pool_intern(t->pool, &t->log, n->path, plen, true, &ref, &created) < 0)
		count_up(&t->h->note_path_lost); /* the egress gets the subscription's */
	sub_log_w32(&t->log, &nt->meta,
		    n->kind | (uint32_t)n->type << 8 |
			    (uint32_t)(coal > 0xffff ? 0xffff : coal) << 16);
	sub_log_w32(&t->log, &nt->path, ref);
	sub_log_w32(&t->log, &nt->uid, n->uid);
	sub_log_w32(&t->log, &nt->uidvalidity, n->uidvalidity);
	sub_log_w32(&t->log, &nt->uidnext, n->uidnext);
	sub_log_w32(&t->log, &nt->messages, n->messages);
	sub_log_w32(&t->log, &nt->unseen, n->unseen);
	sub_pool_release(t->pool, &t->log, oldref);
	sub_log_commit(&t->log);
	__atomic_store_n(&nt->pend, tag | NOTE_P, __ATOMIC_RELEASE);
	sub_log_point(&t->log);
	__atomic_store_n(&t->h->note_busy, 0, __ATOMIC_RELAXED);
	if (folded)
		count_up(&t->h->note_folds);
	return !folded;
}

void sub_table_sent(struct sub_table *t, uint32_t index, uint32_t now)
{
	/* One word, not shown to readers: the wheel reads it lazily when the
	 * beat it had planned comes due. */
	if (index < t->h->cap && t->recs[index].used)
		__atomic_store_n(&t->recs[index].last_sent, now, __ATOMIC_RELAXED);
}

unsigned sub_table_pending(struct sub_table *t, void (*fn)(uint32_t index, uint64_t id, void *arg),
			   void *arg)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < t->h->top_index; i++) {
		const struct rec *r = &t->recs[i];

		if (r->used && (__atomic_load_n(&t->notes[i].pend, __ATOMIC_ACQUIRE) & NOTE_P)) {
			fn(i, rec_id(r, i), arg);
			n++;
		}
	}
	return n;
}
