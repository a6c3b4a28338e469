/* sub_pool: the subscription table's string intern pool (see sub_pool.h).
 * Written by the shard process; every store that matters to a rollback goes
 * through the undo log, string bytes in a fresh block do not.
 *
 * A block is a header of two words, then the string or, when free, links:
 *   word 0: reference count (allocated) or next free block (free)
 *   word 1: size in 8-byte units (19 bits), FREE, PFREE (the block before
 *           is free), string length (11 bits)
 *   word 2: previous free block (free)        last word: size (free)
 * Free blocks sit on a list per exact size below 2 KiB and per power of two
 * above; a freed block merges with free neighbours and with the unused top,
 * so the block before the top is never free. */
#include "shard/sub_pool.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/hash.h"

#define UNIT 8u
#define MIN_UNITS 2u
#define MAX_UNITS ((1u << 19) - 1)
#define H_SIZE 0x7ffffu
#define H_FREE (1u << 19)
#define H_PFREE (1u << 20)
#define H_LEN_SHIFT 21
#define NEXACT 256u
#define NLISTS (NEXACT + 11u)
#define NMAP ((NLISTS + 31) / 32)
#define FIT_SEARCH 64 /* first-fit steps in a power-of-two list */

struct sub_pool {
	uint64_t arena_bytes;
	uint64_t top;		     /* bytes of arena below the unused top */
	uint64_t used;		     /* bytes of allocated blocks */
	uint64_t reserve;	     /* bytes only `reserve` interns may use */
	uint64_t set_off, arena_off; /* from this header */
	uint32_t slots, count;	     /* the hash set of refs */
	uint32_t map[NMAP];	     /* lists that are not empty */
	uint32_t heads[NLISTS];
};

static uint64_t align64(uint64_t n)
{
	return (n + 63) & ~(uint64_t)63;
}

static uint32_t slots_for(uint64_t string_bytes)
{
	/* Filled to 3/4 (so that a deletion shifts few entries, each one
	 * logged), the set holds strings of 32 bytes on average (header
	 * included) until the arena is full; shorter ones fill it first. */
	uint64_t n = string_bytes / 24;

	if (n < 64)
		n = 64;
	if (n > UINT32_MAX / 2)
		n = UINT32_MAX / 2;
	return (uint32_t)n;
}

static uint64_t arena_for(uint64_t string_bytes)
{
	uint64_t n = (string_bytes + UNIT - 1) & ~(uint64_t)(UNIT - 1);

	if (n < 4096)
		n = 4096;
	assert(n / UNIT <= UINT32_MAX);
	return n;
}

size_t sub_pool_footprint(uint64_t string_bytes)
{
	return align64(sizeof(struct sub_pool)) + align64((uint64_t)slots_for(string_bytes) * 4) +
	       arena_for(string_bytes);
}

void sub_pool_format(void *at, uint64_t string_bytes)
{
	struct sub_pool *p = at;

	memset(p, 0, align64(sizeof(*p)));
	p->arena_bytes = arena_for(string_bytes);
	p->slots = slots_for(string_bytes);
	p->set_off = align64(sizeof(*p));
	p->arena_off = p->set_off + align64((uint64_t)p->slots * 4);
	p->top = UNIT; /* ref 0 is the empty string */
	p->reserve = p->arena_bytes / 32;
	memset((char *)p + p->set_off, 0, (size_t)p->slots * 4);
}

static uint32_t *set_of(const struct sub_pool *p)
{
	return (uint32_t *)((char *)p + p->set_off);
}

static uint32_t *blk(const struct sub_pool *p, uint32_t ref)
{
	return (uint32_t *)((char *)p + p->arena_off + (uint64_t)ref * UNIT);
}

static uint32_t blk_size(const struct sub_pool *p, uint32_t ref)
{
	return blk(p, ref)[1] & H_SIZE;
}

/* The footer of the block that ends where `ref` starts. */
static uint32_t size_before(const struct sub_pool *p, uint32_t ref)
{
	return blk(p, ref)[-1];
}

static uint32_t home(const struct sub_pool *p, uint64_t h)
{
	return (uint32_t)(((h >> 32) * p->slots) >> 32);
}

static uint32_t next_slot(const struct sub_pool *p, uint32_t i)
{
	return i + 1 == p->slots ? 0 : i + 1;
}

const char *sub_pool_str(const struct sub_pool *p, uint32_t ref, size_t *len)
{
	if (!ref) {
		*len = 0;
		return "";
	}
	*len = blk(p, ref)[1] >> H_LEN_SHIFT;
	return (const char *)&blk(p, ref)[2];
}

uint32_t sub_pool_refs(const struct sub_pool *p, uint32_t ref)
{
	return ref ? blk(p, ref)[0] : 0;
}

static uint64_t str_hash(const struct sub_pool *p, uint32_t ref)
{
	size_t len;
	const char *s = sub_pool_str(p, ref, &len);

	return hash64(s, len);
}

static unsigned list_of(uint32_t units)
{
	if (units < NEXACT)
		return units;
	return NEXACT + (unsigned)(31 - __builtin_clz(units)) - 8;
}

static void map_set(struct sub_pool *p, struct sub_log *l, unsigned list, bool on)
{
	uint32_t bit = 1u << (list % 32), w = p->map[list / 32];

	sub_log_w32(l, &p->map[list / 32], on ? w | bit : w & ~bit);
}

static void list_add(struct sub_pool *p, struct sub_log *l, uint32_t ref, uint32_t units)
{
	unsigned list = list_of(units);
	uint32_t head = p->heads[list], *w = blk(p, ref);

	sub_log_w32(l, &w[0], head);
	sub_log_w32(l, &w[2], 0);
	if (head)
		sub_log_w32(l, &blk(p, head)[2], ref);
	sub_log_w32(l, &p->heads[list], ref);
	map_set(p, l, list, true);
}

static void list_del(struct sub_pool *p, struct sub_log *l, uint32_t ref, uint32_t units)
{
	unsigned list = list_of(units);
	uint32_t *w = blk(p, ref), next = w[0], prev = w[2];

	if (prev)
		sub_log_w32(l, &blk(p, prev)[0], next);
	else
		sub_log_w32(l, &p->heads[list], next);
	if (next)
		sub_log_w32(l, &blk(p, next)[2], prev);
	if (!p->heads[list])
		map_set(p, l, list, false);
}

/* A free block of at least `units`, other than from the exact list. */
static uint32_t find_fit(const struct sub_pool *p, uint32_t units)
{
	unsigned list = list_of(units) + 1;
	uint32_t ref = 0;

	if (units >= NEXACT) {
		ref = p->heads[list - 1];
		for (unsigned n = 0; ref && n < FIT_SEARCH; n++, ref = blk(p, ref)[0])
			if (blk_size(p, ref) >= units)
				return ref;
	}
	for (unsigned k = list / 32; k < NMAP && list < NLISTS; k++) {
		uint32_t bits = p->map[k];

		if (k == list / 32)
			bits &= ~0u << (list % 32);
		if (bits)
			return p->heads[k * 32 + (unsigned)__builtin_ctz(bits)];
	}
	return 0;
}

/* Allocate the free block `ref` (off its list) for `need` units, splitting
 * off the rest when it can stand as a block. */
static uint32_t take(struct sub_pool *p, struct sub_log *l, uint32_t ref, uint32_t need)
{
	uint32_t *w = blk(p, ref), s = w[1] & H_SIZE, pf = w[1] & H_PFREE;

	sub_log_keep(l, &w[2]); /* the string will overwrite the link */
	if (s - need >= MIN_UNITS) {
		uint32_t r = ref + need, *rw = blk(p, r);

		sub_log_w32(l, &rw[1], (s - need) | H_FREE);
		sub_log_w32(l, &rw[(s - need) * 2 - 1], s - need);
		list_add(p, l, r, s - need);
		s = need;
	} else {
		uint32_t n = ref + s;

		sub_log_keep(l, &w[s * 2 - 1]);
		if ((uint64_t)n * UNIT < p->top)
			sub_log_w32(l, &blk(p, n)[1], blk(p, n)[1] & ~H_PFREE);
	}
	sub_log_w32(l, &w[1], s | pf);
	sub_log_w64(l, &p->used, p->used + (uint64_t)s * UNIT);
	return ref;
}

static uint32_t alloc(struct sub_pool *p, struct sub_log *l, uint32_t units, bool reserve)
{
	uint64_t bytes = (uint64_t)units * UNIT;
	uint64_t limit = p->arena_bytes - (reserve ? 0 : p->reserve);
	uint32_t ref;

	if (p->used + bytes > limit)
		return 0;
	if (units < NEXACT && p->heads[units]) {
		ref = p->heads[units];
		list_del(p, l, ref, units);
		return take(p, l, ref, units);
	}
	if (p->top + bytes <= p->arena_bytes) {
		/* The block before the top is never free: PFREE is 0. */
		ref = (uint32_t)(p->top / UNIT);
		sub_log_w32(l, &blk(p, ref)[1], units);
		sub_log_w64(l, &p->top, p->top + bytes);
		sub_log_w64(l, &p->used, p->used + bytes);
		return ref;
	}
	ref = find_fit(p, units);
	if (!ref)
		return 0;
	list_del(p, l, ref, blk_size(p, ref));
	return take(p, l, ref, units);
}

static void blk_free(struct sub_pool *p, struct sub_log *l, uint32_t ref)
{
	uint32_t *w = blk(p, ref), s = w[1] & H_SIZE, pf = w[1] & H_PFREE, b = ref, n;

	sub_log_w64(l, &p->used, p->used - (uint64_t)s * UNIT);
	n = b + s;
	if ((uint64_t)n * UNIT < p->top && (blk(p, n)[1] & H_FREE) &&
	    s + blk_size(p, n) <= MAX_UNITS) {
		uint32_t ns = blk_size(p, n);

		list_del(p, l, n, ns);
		s += ns;
	}
	if (pf && size_before(p, b) + s <= MAX_UNITS) {
		uint32_t ps = size_before(p, b), pb = b - ps;

		list_del(p, l, pb, ps);
		pf = blk(p, pb)[1] & H_PFREE;
		b = pb;
		s += ps;
	}
	if ((uint64_t)(b + s) * UNIT == p->top) {
		sub_log_w64(l, &p->top, (uint64_t)b * UNIT);
		while (pf) { /* a neighbour too big to merge */
			uint32_t ps = size_before(p, b), pb = b - ps;

			pf = blk(p, pb)[1] & H_PFREE;
			list_del(p, l, pb, ps);
			sub_log_w64(l, &p->top, (uint64_t)pb * UNIT);
			b = pb;
		}
		return;
	}
	w = blk(p, b);
	sub_log_w32(l, &w[1], s | H_FREE | pf);
	sub_log_w32(l, &w[s * 2 - 1], s);
	list_add(p, l, b, s);
	n = b + s;
	sub_log_w32(l, &blk(p, n)[1], blk(p, n)[1] | H_PFREE);
}

int sub_pool_intern(struct sub_pool *p, struct sub_log *l, const void *s, size_t len, bool reserve,
		    uint32_t *ref, bool *created)
{
	uint32_t *set = set_of(p), i, units, r, *w, limit;
	uint64_t h;

	*created = false;
	*ref = 0;
	if (len == 0)
		return 0;
	assert(len <= SUB_POOL_STR_MAX);
	h = hash64(s, len);
	for (i = home(p, h); set[i]; i = next_slot(p, i)) {
		size_t elen;
		const char *e = sub_pool_str(p, set[i], &elen);

		if (elen == len && memcmp(e, s, len) == 0) {
			w = blk(p, set[i]);
			assert(w[0] < UINT32_MAX);
			sub_log_w32(l, &w[0], w[0] + 1);
			*ref = set[i];
			return 0;
		}
	}
	limit = reserve ? p->slots / 16 * 13 : p->slots / 4 * 3;
	if (p->count + 1 > limit)
		return -ENOSPC;
	units = (uint32_t)((UNIT + len + UNIT - 1) / UNIT);
	r = alloc(p, l, units < MIN_UNITS ? MIN_UNITS : units, reserve);
	if (!r)
		return -ENOSPC;
	w = blk(p, r);
	sub_log_w32(l, &w[0], 1);
	sub_log_w32(l, &w[1], (w[1] & (H_SIZE | H_PFREE)) | (uint32_t)len << H_LEN_SHIFT);
	memcpy(&w[2], s, len);
	sub_log_w32(l, &set[i], r);
	sub_log_w32(l, &p->count, p->count + 1);
	*ref = r;
	*created = true;
	return 0;
}

/* Remove ref from the set: backward-shift deletion, no tombstones. */
static void set_del(struct sub_pool *p, struct sub_log *l, uint32_t ref)
{
	uint32_t *set = set_of(p), i = home(p, str_hash(p, ref)), j;

	for (uint32_t n = 0; set[i] != ref; n++, i = next_slot(p, i))
		assert(n < p->slots);
	for (j = next_slot(p, i); set[j]; j = next_slot(p, j)) {
		uint32_t k = home(p, str_hash(p, set[j]));
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);

		if (stays)
			continue;
		sub_log_w32(l, &set[i], set[j]);
		i = j;
	}
	sub_log_w32(l, &set[i], 0);
	sub_log_w32(l, &p->count, p->count - 1);
}

void sub_pool_release(struct sub_pool *p, struct sub_log *l, uint32_t ref)
{
	uint32_t *w;

	if (!ref)
		return;
	w = blk(p, ref);
	assert(w[0] > 0 && !(w[1] & H_FREE));
	if (w[0] > 1) {
		sub_log_w32(l, &w[0], w[0] - 1);
		return;
	}
	set_del(p, l, ref);
	blk_free(p, l, ref);
}

int sub_pool_copy(const struct sub_pool *p, uint32_t ref, char *buf, size_t cap)
{
	uint64_t off = (uint64_t)ref * UNIT, words;
	const uint64_t *src;
	uint32_t hdr, len;

	if (!ref) {
		buf[0] = '\0';
		return 0;
	}
	if (off + UNIT > p->arena_bytes)
		return -1;
	hdr = __atomic_load_n(&blk(p, ref)[1], __ATOMIC_RELAXED);
	len = hdr >> H_LEN_SHIFT;
	if ((size_t)len + 1 > cap || off + UNIT + len > p->arena_bytes)
		return -1;
	src = (const uint64_t *)&blk(p, ref)[2];
	words = (len + 7) / 8;
	for (uint64_t k = 0; k < words; k++) {
		uint64_t v = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
		size_t n = len - k * 8 < 8 ? len - k * 8 : 8;

		memcpy(buf + k * 8, &v, n);
	}
	buf[len] = '\0';
	return (int)len;
}

void sub_pool_stats(const struct sub_pool *p, struct sub_pool_stats *out)
{
	out->arena_bytes = p->arena_bytes;
	out->used_bytes = __atomic_load_n(&p->used, __ATOMIC_RELAXED);
	out->top = __atomic_load_n(&p->top, __ATOMIC_RELAXED);
	out->free_bytes = out->arena_bytes - out->used_bytes;
	out->strings = __atomic_load_n(&p->count, __ATOMIC_RELAXED);
	out->set_slots = p->slots;
	out->footprint = p->arena_off + p->arena_bytes;
}

static int bad(char *why, size_t len, const char *what, uint32_t ref)
{
	snprintf(why, len, "string pool: %s (ref %u)", what, ref);
	return -EUCLEAN;
}

static bool in_set(const struct sub_pool *p, uint32_t ref)
{
	const uint32_t *set = set_of(p);

	for (uint32_t i = home(p, str_hash(p, ref)), n = 0; set[i] && n < p->slots;
	     i = next_slot(p, i), n++)
		if (set[i] == ref)
			return true;
	return false;
}

static int check_lists(const struct sub_pool *p, uint64_t nfree, char *why, size_t len)
{
	uint64_t seen = 0;

	for (unsigned k = 0; k < NLISTS; k++) {
		uint32_t prev = 0;

		if (!!(p->map[k / 32] & (1u << (k % 32))) != !!p->heads[k])
			return bad(why, len, "list map", k);
		for (uint32_t r = p->heads[k]; r; prev = r, r = blk(p, r)[0]) {
			if (++seen > nfree || !(blk(p, r)[1] & H_FREE) ||
			    list_of(blk_size(p, r)) != k || blk(p, r)[2] != prev)
				return bad(why, len, "free list", r);
		}
	}
	return seen == nfree ? 0 : bad(why, len, "free blocks off their lists", 0);
}

int sub_pool_check(const struct sub_pool *p, const uint32_t *expect, char *why, size_t len)
{
	uint64_t used = 0, nfree = 0, live = 0, want = 0, refs = 0, nset = 0;
	bool prev_free = false;
	uint32_t s;

	for (uint32_t b = 1; (uint64_t)b * UNIT < p->top; b += s) {
		uint32_t hdr = blk(p, b)[1];

		s = hdr & H_SIZE;
		if (s < MIN_UNITS || (uint64_t)(b + s) * UNIT > p->top)
			return bad(why, len, "block size", b);
		if (!!(hdr & H_PFREE) != prev_free)
			return bad(why, len, "PFREE flag", b);
		prev_free = hdr & H_FREE;
		if (prev_free) {
			if (blk(p, b)[s * 2 - 1] != s)
				return bad(why, len, "footer", b);
			nfree++;
			continue;
		}
		if ((hdr >> H_LEN_SHIFT) + UNIT > (uint64_t)s * UNIT || blk(p, b)[0] == 0)
			return bad(why, len, "length or count", b);
		if (expect && expect[b] != blk(p, b)[0]) {
			snprintf(why, len, "string pool: ref %u has %u references, %u expected", b,
				 blk(p, b)[0], expect[b]);
			return -EUCLEAN;
		}
		if (!in_set(p, b))
			return bad(why, len, "string not in the set", b);
		refs += blk(p, b)[0];
		used += (uint64_t)s * UNIT;
		live++;
	}
	if (prev_free)
		return bad(why, len, "free block before the top", 0);
	if (used != p->used || live != p->count)
		return bad(why, len, "used bytes or count", (uint32_t)live);
	for (uint32_t i = 0; i < p->slots; i++)
		nset += set_of(p)[i] != 0;
	if (nset != live)
		return bad(why, len, "set entries", (uint32_t)nset);
	for (uint64_t r = 0; expect && r < p->arena_bytes / UNIT; r++)
		want += expect[r];
	if (expect && want != refs)
		return bad(why, len, "references to dead blocks", (uint32_t)(want - refs));
	return check_lists(p, nfree, why, len);
}
