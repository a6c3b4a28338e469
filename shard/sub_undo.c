/* sub_undo: the subscription table's undo log (see sub_undo.h). Run by the
 * shard process, the table's only writer. A killed process loses no store it
 * executed, so the compiler barriers below (log entry, then count, then the
 * write) are what crash safety needs; the fences are for the readers. */
#include "shard/sub_undo.h"

#include <assert.h>
#include <string.h>

#define BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

void sub_log_init(struct sub_log *l, struct sub_undo *u, void *base)
{
	memset(l, 0, sizeof(*l));
	l->u = u;
	l->base = base;
}

void sub_log_point(struct sub_log *l)
{
	if (l->crash_at && ++l->points == l->crash_at)
		l->die(l->die_arg);
}

void sub_log_begin(struct sub_log *l)
{
	struct sub_undo *u = l->u;

	assert(!u->active);
	u->nwords = 0;
	u->nblocks = 0;
	BARRIER();
	__atomic_store_n(&u->active, 1, __ATOMIC_RELAXED);
	BARRIER();
}

void sub_log_keep(struct sub_log *l, uint32_t *p)
{
	struct sub_undo *u = l->u;
	struct sub_undo_word *e;

	assert(u->active && u->nwords < SUB_UNDO_WORDS);
	sub_log_point(l);
	e = &u->w[u->nwords];
	e->off = (uint64_t)((char *)p - l->base);
	e->old = *p;
	BARRIER();
	__atomic_store_n(&u->nwords, u->nwords + 1, __ATOMIC_RELAXED);
	BARRIER();
}

void sub_log_w32(struct sub_log *l, uint32_t *p, uint32_t v)
{
	if (*p == v)
		return;
	sub_log_keep(l, p);
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

void sub_log_w64(struct sub_log *l, uint64_t *p, uint64_t v)
{
	uint32_t w[2];

	memcpy(w, &v, sizeof(w));
	sub_log_w32(l, (uint32_t *)p, w[0]);
	sub_log_w32(l, (uint32_t *)p + 1, w[1]);
}

void sub_log_open(struct sub_log *l, void *p, uint32_t len)
{
	struct sub_undo *u = l->u;
	uint64_t off = (uint64_t)((char *)p - l->base);
	struct sub_undo_block *b;
	uint32_t *seq = p;

	assert(u->active && len <= SUB_UNDO_BLOCK_MAX && len % 4 == 0);
	for (uint32_t i = 0; i < u->nblocks; i++)
		if (u->b[i].off == off)
			return;
	assert(u->nblocks < SUB_UNDO_BLOCKS);
	sub_log_point(l);
	b = &u->b[u->nblocks];
	b->off = off;
	b->len = len;
	memcpy(b->img, p, len);
	BARRIER();
	__atomic_store_n(&u->nblocks, u->nblocks + 1, __ATOMIC_RELAXED);
	BARRIER();
	/* (seq + 1) | 1 is odd even if a dead writer left it odd. */
	__atomic_store_n(seq, (*seq + 1) | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Give each open block a new even sequence. */
static void close_blocks(struct sub_log *l)
{
	struct sub_undo *u = l->u;

	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (uint32_t i = 0; i < u->nblocks; i++) {
		uint32_t *seq = (uint32_t *)(l->base + u->b[i].off);

		sub_log_point(l);
		__atomic_store_n(seq, (*seq | 1) + 1, __ATOMIC_RELEASE);
	}
}

void sub_log_commit(struct sub_log *l)
{
	close_blocks(l);
	sub_log_point(l);
	BARRIER();
	__atomic_store_n(&l->u->active, 0, __ATOMIC_RELEASE);
	BARRIER();
}

/* Words newest first, then blocks: a block is never also logged by word,
 * and its image is the value before the change. */
static void rollback(struct sub_undo *u, char *base)
{
	for (uint32_t i = u->nwords; i-- > 0;)
		__atomic_store_n((uint32_t *)(base + u->w[i].off), u->w[i].old, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < u->nblocks; i++) {
		struct sub_undo_block *b = &u->b[i];
		uint32_t *d = (uint32_t *)(base + b->off);
		/* A sequence no reader has seen: one that copied during the
		 * change cannot validate against the restored words. */
		uint32_t seq = __atomic_load_n(d, __ATOMIC_RELAXED) | 1;

		__atomic_store_n(d, seq, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		for (uint32_t k = 1; k < b->len / 4; k++)
			__atomic_store_n(&d[k], b->img[k], __ATOMIC_RELAXED);
		__atomic_store_n(d, seq + 1, __ATOMIC_RELEASE);
	}
	BARRIER();
	__atomic_store_n(&u->active, 0, __ATOMIC_RELEASE);
	BARRIER();
}

void sub_log_abort(struct sub_log *l)
{
	rollback(l->u, l->base);
}

void sub_log_recover(struct sub_undo *u, void *base)
{
	if (__atomic_load_n(&u->active, __ATOMIC_ACQUIRE))
		rollback(u, base);
}
