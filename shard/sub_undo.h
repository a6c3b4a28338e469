/* sub_undo: the undo log that makes each change of the subscription table
 * (sub_table.c, sub_pool.c) all-or-nothing across a SIGKILL of the shard
 * process, its only writer. A change logs the old value of every word it
 * overwrites, and an image of every seqlocked record it opens, before
 * writing; one store (active = 0) commits it. A restarted writer rolls back
 * a change that did not commit. The log lives in the region; struct sub_log
 * is the writer's process-local handle on it. */
#ifndef PNA_SUB_UNDO_H
#define PNA_SUB_UNDO_H

#include <stdint.h>

/* Bounds of one change (an add interns at most 6 strings; a remove frees
 * them, each perhaps shifting a run of the pool's hash set, and unlinks the
 * record from 4 lists). Exceeding them is a bug. */
#define SUB_UNDO_WORDS 8192
#define SUB_UNDO_BLOCKS 16
#define SUB_UNDO_BLOCK_MAX 96

struct sub_undo_word {
	uint64_t off; /* from the region's base */
	uint32_t old;
	uint32_t pad;
};

/* A seqlocked block (a record): its first word is the sequence number,
 * odd from open to commit. */
struct sub_undo_block {
	uint64_t off;
	uint32_t len; /* bytes, a multiple of 4 */
	uint32_t pad;
	uint32_t img[SUB_UNDO_BLOCK_MAX / 4];
};

struct sub_undo {
	uint32_t active; /* 1 from begin to the commit point */
	uint32_t nwords;
	uint32_t nblocks;
	uint32_t pad;
	struct sub_undo_word w[SUB_UNDO_WORDS];
	struct sub_undo_block b[SUB_UNDO_BLOCKS];
};

struct sub_log {
	struct sub_undo *u;
	char *base;
	/* Tests: call die(arg) at the crash_at-th write point (0 = never). */
	unsigned points;
	unsigned crash_at;
	void (*die)(void *arg);
	void *die_arg;
};

void sub_log_init(struct sub_log *l, struct sub_undo *u, void *base);
void sub_log_begin(struct sub_log *l);
/* Store v at p (a word of the region), logging the old value first. */
void sub_log_w32(struct sub_log *l, uint32_t *p, uint32_t v);
void sub_log_w64(struct sub_log *l, uint64_t *p, uint64_t v);
/* Log the word at p, which unlogged writes are about to overwrite. */
void sub_log_keep(struct sub_log *l, uint32_t *p);
/* Open the seqlocked block at p (len bytes): its image is logged and its
 * sequence made odd, so the change may write it freely until commit. A block
 * opened twice in one change is logged once. */
void sub_log_open(struct sub_log *l, void *p, uint32_t len);
/* The commit point: open blocks get an even sequence, then active = 0. */
void sub_log_commit(struct sub_log *l);
/* Roll the change back now (a refusal half-way, e.g. the pool is full). */
void sub_log_abort(struct sub_log *l);
/* A restarted writer: roll back a change that did not commit. */
void sub_log_recover(struct sub_undo *u, void *base);
/* A point where a test may kill the writer. */
void sub_log_point(struct sub_log *l);

#endif
