/* sub_pool: the string intern pool of a subscription table (sub_table.c):
 * an arena of 8-byte-aligned blocks with reference counts, free lists per
 * size with boundary tags (freed neighbours merge, so a fragmented pool is
 * still reusable by any size) and a hash set that finds a string already
 * stored. Strings are named by a 32-bit ref (block offset / 8; 0 is the empty
 * string). Region-resident, offsets only. The shard process writes, through
 * the undo log; readers in other processes copy a string by ref and must
 * validate the copy against the seqlock of whatever held the ref. */
#ifndef PNA_SUB_POOL_H
#define PNA_SUB_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shard/sub_undo.h"

#define SUB_POOL_STR_MAX 2047 /* bytes of one string */

struct sub_pool;

/* Bytes of a pool with `string_bytes` of arena (its hash set included). */
size_t sub_pool_footprint(uint64_t string_bytes);
/* Format a pool at `at` (footprint bytes, stale bytes allowed). */
void sub_pool_format(void *at, uint64_t string_bytes);

/* Writer: a ref to a copy of s[0..len) with one more reference: the string
 * already stored, or a new one. 0 (*created says which), or -ENOSPC: the
 * arena or the hash set is full. `reserve` lets the call use the last 1/32
 * of the pool, which adds may not take (kept for notes). */
int sub_pool_intern(struct sub_pool *p, struct sub_log *l, const void *s, size_t len, bool reserve,
		    uint32_t *ref, bool *created);
/* Writer: drop one reference (ref 0: nothing); the last frees the block. */
void sub_pool_release(struct sub_pool *p, struct sub_log *l, uint32_t ref);
uint32_t sub_pool_refs(const struct sub_pool *p, uint32_t ref);
/* Writer: the bytes of ref (not NUL-terminated) and their length. */
const char *sub_pool_str(const struct sub_pool *p, uint32_t ref, size_t *len);

/* Reader: copy ref into buf (cap bytes, NUL-terminated). Its length, or -1
 * when the ref or the length read is out of bounds (a racing change: the
 * caller retries after its seqlock says so). */
int sub_pool_copy(const struct sub_pool *p, uint32_t ref, char *buf, size_t cap);

struct sub_pool_stats {
	uint64_t arena_bytes, used_bytes, free_bytes; /* used: live blocks */
	uint64_t top;				      /* arena high-water mark */
	uint32_t strings, set_slots;
	uint64_t footprint;
};
void sub_pool_stats(const struct sub_pool *p, struct sub_pool_stats *out);

/* Tests and debugging (writer quiescent): verify blocks, free lists, the
 * set and, when expect is not NULL, every block's reference count against
 * expect[ref] (arena_bytes / 8 entries). 0, or -EUCLEAN with a reason. */
int sub_pool_check(const struct sub_pool *p, const uint32_t *expect, char *why, size_t len);

#endif
