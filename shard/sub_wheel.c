/* sub_wheel: the subscription table's timers, run by the shard process. A
 * record sits in one wheel slot, at due = min(jittered expiry, next
 * heartbeat); sub_table_tick walks the seconds that passed and handles what
 * is in their slots, so its cost is what came due (plus moving later
 * entries down a level, each once). A heartbeat pushed back by
 * sub_table_sent is noticed when the slot of the old one comes: the record
 * is then re-slotted, not beaten. Every move is its own undo-logged change. */
#include <string.h>

#include "shard/sub_table_int.h"

uint32_t subt_wheel_next_due(const struct rec *r)
{
	uint32_t exp = expire_at(r), hb;

	if (!r->heartbeat)
		return exp;
	hb = r->last_sent + r->heartbeat;
	return tdiff(hb, exp) < 0 ? hb : exp;
}

void subt_wheel_start(struct sub_table *t, uint32_t now)
{
	if (!t->h->wheel_time)
		__atomic_store_n(&t->h->wheel_time, now > 1 ? now - 1 : 1, __ATOMIC_RELAXED);
}

/* Level 0 holds due in (wt, wt + WHEEL0], one second per slot; level 1 a
 * block per slot. */
static uint32_t slot_of(uint32_t wt, uint32_t due)
{
	uint32_t block = due >> BLOCK_BITS, cur = wt >> BLOCK_BITS;

	if (due - wt <= WHEEL0)
		return due & (WHEEL0 - 1);
	if (block - cur >= WHEEL1)
		block = cur + WHEEL1 - 1;
	return WHEEL0 + (block & (WHEEL1 - 1));
}

static void slot_push(struct sub_table *t, uint32_t index, uint32_t s)
{
	struct rec *r = &t->recs[index];
	uint32_t head = t->wheel[s];

	r->tw_prev = TW_HEAD | s;
	r->tw_next = head;
	if (head) {
		subt_open(t, &t->recs[head - 1]);
		t->recs[head - 1].tw_prev = index + 1;
	}
	sub_log_w32(&t->log, &t->wheel[s], index + 1);
}

void subt_wheel_insert(struct sub_table *t, uint32_t index, uint32_t due)
{
	uint32_t wt = t->h->wheel_time;

	if (tdiff(due, wt) <= 0)
		due = wt + 1;
	t->recs[index].due = due;
	slot_push(t, index, slot_of(wt, due));
}

void subt_wheel_unlink(struct sub_table *t, uint32_t index)
{
	struct rec *r = &t->recs[index];
	uint32_t prev = r->tw_prev, next = r->tw_next;

	if (prev & TW_HEAD) {
		sub_log_w32(&t->log, &t->wheel[prev & ~TW_HEAD], next);
	} else {
		subt_open(t, &t->recs[prev - 1]);
		t->recs[prev - 1].tw_next = next;
	}
	if (next) {
		subt_open(t, &t->recs[next - 1]);
		t->recs[next - 1].tw_prev = prev;
	}
	r->tw_prev = r->tw_next = 0;
}

/* Move the first record of slot s to where its due now belongs (or to
 * another slot, `to`, when not WHEEL_SLOTS). */
static void move_head(struct sub_table *t, uint32_t s, uint32_t to)
{
	uint32_t i = t->wheel[s] - 1;

	subt_op_begin(t);
	subt_open(t, &t->recs[i]);
	subt_wheel_unlink(t, i);
	if (to < WHEEL_SLOTS)
		slot_push(t, i, to);
	else
		subt_wheel_insert(t, i, t->recs[i].due);
	subt_op_commit(t);
}

struct tick {
	uint32_t now;
	void (*expired)(const struct sub_spec *s, void *arg);
	void (*heartbeat)(uint64_t id, uint32_t index, void *arg);
	void *arg;
};

/* Record i came due: expire it, beat it, or re-slot it (a heartbeat that
 * sub_table_sent pushed back). */
static void fire(struct sub_table *t, uint32_t i, const struct tick *k)
{
	struct rec *r = &t->recs[i];
	uint64_t id = rec_id(r, i);
	struct sub_spec spec;
	bool beat;

	if (tdiff(expire_at(r), k->now) <= 0) {
		subt_decode(t, r, i, &spec);
		subt_op_begin(t);
		subt_remove(t, i);
		subt_op_commit(t);
		count_up(&t->h->expired);
		if (k->expired)
			k->expired(&spec, k->arg);
		return;
	}
	beat = r->heartbeat && tdiff(r->last_sent + r->heartbeat, k->now) <= 0;
	subt_op_begin(t);
	subt_open(t, r);
	if (beat)
		r->last_sent = k->now;
	subt_wheel_unlink(t, i);
	subt_wheel_insert(t, i, subt_wheel_next_due(r));
	subt_op_commit(t);
	if (beat && k->heartbeat)
		k->heartbeat(id, i, k->arg);
}

/* After a very long gap (a table left unattached for weeks, a clock jump),
 * walking every second would take long: every record goes to a holding
 * slot, then back relative to now. A crash half-way leaves some in the
 * holding slot; the next tick finishes. */
static void rebase(struct sub_table *t, uint32_t now)
{
	for (uint32_t s = 0; s < WHEEL_REBASE; s++)
		while (t->wheel[s])
			move_head(t, s, WHEEL_REBASE);
	__atomic_store_n(&t->h->wheel_time, now - 1, __ATOMIC_RELAXED);
}

void sub_table_tick(struct sub_table *t, uint32_t now,
		    void (*expired)(const struct sub_spec *s, void *arg),
		    void (*heartbeat)(uint64_t id, uint32_t index, void *arg), void *arg)
{
	struct tick k = { now, expired, heartbeat, arg };
	struct hdr *h = t->h;
	uint32_t next;

	if (!h->wheel_time) {
		subt_wheel_start(t, now);
		return;
	}
	if (tdiff(now, h->wheel_time) > (int32_t)WHEEL_REBASE_GAP)
		rebase(t, now);
	while (t->wheel[WHEEL_REBASE])
		move_head(t, WHEEL_REBASE, WHEEL_SLOTS);
	while (tdiff(now, h->wheel_time) > 0) {
		uint32_t sec = h->wheel_time + 1, s = sec & (WHEEL0 - 1);

		/* A block starts: what of it is still on level 1 comes down
		 * (wheel_time = sec - 1, so all of it lands on level 0). */
		if ((sec & ((1u << BLOCK_BITS) - 1)) == 0) {
			uint32_t s1 = WHEEL0 + ((sec >> BLOCK_BITS) & (WHEEL1 - 1));

			while (t->wheel[s1])
				move_head(t, s1, WHEEL_SLOTS);
		}
		while (t->wheel[s])
			fire(t, t->wheel[s] - 1, &k);
		__atomic_store_n(&h->wheel_time, sec, __ATOMIC_RELAXED);
	}
	/* The next block comes down ahead of time, a bounded number per
	 * tick, so a million subscriptions made in one second do not all
	 * move in one tick. Overflow entries there go back up. */
	next = WHEEL0 + (((h->wheel_time >> BLOCK_BITS) + 1) & (WHEEL1 - 1));
	for (unsigned n = 0; n < WHEEL_PRECASCADE && t->wheel[next]; n++)
		move_head(t, next, WHEEL_SLOTS);
}
