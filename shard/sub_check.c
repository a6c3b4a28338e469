/* sub_check: sub_table_check, a full consistency check of a subscription
 * table for tests (after every simulated crash) and debugging: every index
 * chain, the wheel, the free list, the reference count of every string. Run
 * with the writer quiescent; allocates its scratch space. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard/sub_table_int.h"

enum { ON_MB = 1, ON_ACCT = 2, ON_SUB = 4, ON_WHEEL = 8, ON_FREE = 16 };

struct chk {
	struct sub_table *t;
	uint8_t *on;	  /* per record: ON_* */
	uint32_t *expect; /* per pool ref: references expected */
	uint8_t *target;  /* per pool ref: used as a target blob */
	char *why;
	size_t len;
};

static int bad(struct chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct chk *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, c->len, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

static int mark(struct chk *c, uint32_t i, uint8_t on, const char *what)
{
	if (i >= c->t->h->cap || !c->t->recs[i].used)
		return bad(c, "%s: record %u is not in use", what, i);
	if (c->on[i] & on)
		return bad(c, "%s: record %u is on it twice", what, i);
	c->on[i] |= on;
	return 0;
}

/* A mailbox chain: its quarter, sorted by quarter, QLAST on each run's end. */
static int check_order(struct chk *c, const struct rec *r, uint32_t i, unsigned q)
{
	const struct rec *n = r->mb_next ? &c->t->recs[r->mb_next - 1] : NULL;
	bool last = !n || rec_q(n) != q;

	if (rec_q(r) != q)
		return bad(c, "mailbox index: record %u has quarter %u, not %u", i, rec_q(r), q);
	if (n && rec_q(n) < q)
		return bad(c, "mailbox index: chain not sorted at record %u", i);
	if (last != !!(r->flags & FL_QLAST))
		return bad(c, "mailbox index: QLAST of record %u", i);
	return 0;
}

/* Chains of one kind: every record on the bucket it hashes to. */
static int check_chains(struct chk *c, const uint32_t *heads, uint32_t n, size_t off, uint8_t on,
			const char *what)
{
	struct sub_table *t = c->t;
	struct buckets b;

	for (uint32_t k = 0; k < n; k++) {
		unsigned filt = 0;

		for (uint32_t i = heads[k]; i; i = *(uint32_t *)((char *)&t->recs[i - 1] + off)) {
			if (mark(c, i - 1, on, what) < 0)
				return -EUCLEAN;
			subt_buckets(t, &t->recs[i - 1], &b);
			if ((on == ON_MB ? b.mb : on == ON_ACCT ? b.acct : b.sub) != k)
				return bad(c, "%s: record %u in bucket %u", what, i - 1, k);
			if (on == ON_SUB && t->recs[i - 1].sub_next &&
			    t->recs[t->recs[i - 1].sub_next - 1].sub_prev != i)
				return bad(c, "%s: back link of record %u", what, i - 1);
			if (on == ON_MB && check_order(c, &t->recs[i - 1], i - 1, b.q) < 0)
				return -EUCLEAN;
			filt |= 1u << b.q | ((t->recs[i - 1].td & TD_SUBTREE) ? 0x10u << b.q : 0);
		}
		if (on == ON_MB && filt != ((t->filt[k / 4] >> (k % 4 * 8)) & 0xff))
			return bad(c, "filter byte of bucket %u", k);
	}
	return 0;
}

static bool slot_holds(const struct sub_table *t, uint32_t s, uint32_t due)
{
	uint32_t wt = t->h->wheel_time, block = due >> BLOCK_BITS, cur = wt >> BLOCK_BITS;

	if (s < WHEEL0)
		return (due & (WHEEL0 - 1)) == s && tdiff(due, wt) > 0 && due - wt <= WHEEL0;
	if (s == WHEEL_REBASE)
		return true;
	return tdiff(due, wt) > 0 &&
	       (block - cur >= WHEEL1 - 1 || (block & (WHEEL1 - 1)) == s - WHEEL0);
}

static int check_wheel(struct chk *c)
{
	struct sub_table *t = c->t;

	for (uint32_t s = 0; s < WHEEL_SLOTS; s++) {
		uint32_t prev = TW_HEAD | s;

		for (uint32_t i = t->wheel[s]; i; prev = i, i = t->recs[i - 1].tw_next) {
			const struct rec *r = &t->recs[i - 1];

			if (mark(c, i - 1, ON_WHEEL, "wheel") < 0)
				return -EUCLEAN;
			if (r->tw_prev != prev || !slot_holds(t, s, r->due))
				return bad(c, "wheel: record %u (due %u) in slot %u, at %u", i - 1,
					   r->due, s, t->h->wheel_time);
			if (tdiff(r->due, subt_wheel_next_due(r)) > 0 &&
			    tdiff(subt_wheel_next_due(r), t->h->wheel_time) > 0)
				return bad(c, "wheel: record %u due after its time", i - 1);
		}
	}
	return 0;
}

static int check_free(struct chk *c)
{
	struct sub_table *t = c->t;
	uint32_t prev = 0;

	for (uint32_t i = t->h->free_head; i; prev = i, i = t->recs[i - 1].tw_next) {
		const struct rec *r = &t->recs[i - 1];

		if (i > t->h->hwm || r->used || (c->on[i - 1] & ON_FREE) || r->tw_prev != prev)
			return bad(c, "free list: record %u", i - 1);
		c->on[i - 1] |= ON_FREE;
	}
	if (t->h->free_tail != prev)
		return bad(c, "free list tail %u, last %u", t->h->free_tail, prev);
	return 0;
}

static void expect_ref(struct chk *c, uint32_t ref)
{
	if (ref)
		c->expect[ref]++;
}

/* Per record: flags, note, strings; then each target blob's tail once. */
static int check_records(struct chk *c)
{
	struct sub_table *t = c->t;
	uint32_t used = 0, ref;

	for (uint32_t i = 0; i < t->h->cap; i++) {
		const struct rec *r = &t->recs[i];
		const struct note *n = &t->notes[i];

		if (r->seq & 1)
			return bad(c, "record %u left mid-change", i);
		if (!r->used) {
			if (n->pend || n->path)
				return bad(c, "free record %u has a note", i);
			if (i < t->h->hwm && !(c->on[i] & ON_FREE))
				return bad(c, "free record %u is not on the free list", i);
			continue;
		}
		used++;
		if (c->on[i] != (ON_MB | ON_ACCT | ON_SUB | ON_WHEEL) || i >= t->h->top_index ||
		    !r->gen ||
		    ((r->td & TD_TRANSPORT) != SUB_SIP && (r->td & TD_TRANSPORT) != SUB_XMPP))
			return bad(c, "record %u: lists %#x, gen %u, td %#x", i, c->on[i], r->gen,
				   r->td);
		if ((n->pend & ~NOTE_P) != NOTE_TAG(r->gen))
			return bad(c, "record %u: note flag %#x", i, n->pend);
		if (r->flags & FL_LOCAL_REF) {
			memcpy(&ref, r->local, sizeof(ref));
			expect_ref(c, ref);
		}
		expect_ref(c, r->domain);
		expect_ref(c, r->path);
		expect_ref(c, r->subscriber);
		expect_ref(c, r->target);
		expect_ref(c, n->path);
		if (r->target)
			c->target[r->target] = 1;
	}
	if (used != t->h->count)
		return bad(c, "count %u, %u records in use", t->h->count, used);
	return 0;
}

static void expect_tails(struct chk *c, uint64_t nrefs)
{
	for (uint64_t ref = 1; ref < nrefs; ref++) {
		size_t n;
		const char *b;
		uint32_t tail;

		if (!c->target[ref])
			continue;
		b = sub_pool_str(c->t->pool, (uint32_t)ref, &n);
		if (n >= 5 && b[0] == 1) {
			memcpy(&tail, b + 1, 4);
			expect_ref(c, tail);
		}
	}
}

int sub_table_check(struct sub_table *t, char *why, size_t len)
{
	struct hdr *h = t->h;
	struct sub_pool_stats ps;
	struct chk c = { .t = t, .why = why, .len = len };
	uint64_t nrefs;
	int rc = -EUCLEAN;

	sub_pool_stats(t->pool, &ps);
	nrefs = ps.arena_bytes / 8;
	c.on = calloc(h->cap, 1);
	c.expect = calloc(nrefs, sizeof(*c.expect));
	c.target = calloc(nrefs, 1);
	if (!c.on || !c.expect || !c.target)
		abort();
	if (t->log.u->active || (h->ver & 1) || h->note_busy)
		bad(&c, "a change is in flight");
	else if (check_chains(&c, t->mb, h->nb_mb, offsetof(struct rec, mb_next), ON_MB,
			      "mailbox index") == 0 &&
		 check_chains(&c, t->acct, h->nb_acct, offsetof(struct rec, acct_next), ON_ACCT,
			      "account index") == 0 &&
		 check_chains(&c, t->sub, h->nb_sub, offsetof(struct rec, sub_next), ON_SUB,
			      "subscriber index") == 0 &&
		 check_wheel(&c) == 0 && check_free(&c) == 0 && check_records(&c) == 0) {
		expect_tails(&c, nrefs);
		rc = sub_pool_check(t->pool, c.expect, why, len);
	}
	free(c.on);
	free(c.expect);
	free(c.target);
	return rc;
}
