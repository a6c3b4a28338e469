/* ring: SPSC byte ring. Each record is a 4-byte length followed by the
 * payload, padded to 8 bytes; a record never wraps: when it does not fit
 * before the end of data[], a pad record (length with the top bit set) fills
 * the gap and the record starts at offset 0. */
#include "ring.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAD_FLAG 0x80000000u
#define HDR 8u /* length word padded so payloads stay 8-byte aligned */

static inline uint64_t load_acq(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint32_t rec_bytes(uint32_t len)
{
	return (HDR + len + RING_ALIGN - 1) & ~(RING_ALIGN - 1);
}

size_t ring_footprint(size_t data_bytes)
{
	return sizeof(struct ring) + data_bytes;
}

void ring_init(struct ring *r, size_t data_bytes)
{
	memset(r, 0, sizeof(*r));
	r->size = data_bytes;
}

int ring_prefault(struct ring *r)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)r & ~(page - 1);
	uintptr_t end = (uintptr_t)r->data + r->size;

	return madvise((void *)start, end - start, MADV_POPULATE_WRITE) < 0 ? -errno : 0;
}

uint32_t ring_max_record(const struct ring *r)
{
	return (uint32_t)(r->size / 4 - HDR);
}

/* Producer: bytes from head to the end of data[] and whether `need` fits
 * after a possible pad. Returns the bytes to skip (0 or the pad), or -1. */
static int64_t fit(struct ring *r, uint32_t need)
{
	uint64_t head = r->head;
	uint64_t off = head & (r->size - 1);
	uint64_t skip = (r->size - off < need) ? r->size - off : 0;

	if (head + skip + need - r->head_cached_tail > r->size) {
		r->head_cached_tail = load_acq(&r->tail);
		if (head + skip + need - r->head_cached_tail > r->size)
			return -1;
	}
	return (int64_t)skip;
}

void *ring_reserve(struct ring *r, uint32_t len)
{
	uint32_t need;
	int64_t skip;
	uint64_t off;

	if (len > ring_max_record(r))
		return NULL;
	need = rec_bytes(len);
	skip = fit(r, need);
	if (skip < 0)
		return NULL;
	if (skip) {
		off = r->head & (r->size - 1);
		*(uint32_t *)(r->data + off) = PAD_FLAG | (uint32_t)skip;
		store_rel(&r->head, r->head + (uint64_t)skip);
	}
	off = r->head & (r->size - 1);
	*(uint32_t *)(r->data + off) = len;
	return r->data + off + HDR;
}

void ring_commit(struct ring *r, uint32_t len)
{
	store_rel(&r->head, r->head + rec_bytes(len));
}

const void *ring_peek(struct ring *r, uint32_t *len, uint64_t *pos)
{
	uint64_t tail = r->tail;
	uint64_t head = load_acq(&r->head);
	uint32_t w;

	for (;;) {
		if (tail == head)
			return NULL;
		w = *(const uint32_t *)(r->data + (tail & (r->size - 1)));
		if (!(w & PAD_FLAG))
			break;
		tail += w & ~PAD_FLAG;
		store_rel(&r->tail, tail);
	}
	*len = w;
	*pos = tail;
	return r->data + (tail & (r->size - 1)) + HDR;
}

void ring_release(struct ring *r)
{
	uint64_t tail = r->tail;
	uint32_t w = *(const uint32_t *)(r->data + (tail & (r->size - 1)));

	store_rel(&r->tail, tail + rec_bytes(w));
}

uint64_t ring_next_pos(const struct ring *r)
{
	uint64_t tail = r->tail;
	uint32_t w = *(const uint32_t *)(r->data + (tail & (r->size - 1)));

	return tail + rec_bytes(w);
}

const void *ring_peek_from(struct ring *r, uint64_t pos, uint32_t *len, uint64_t *next)
{
	uint64_t head = load_acq(&r->head);
	uint32_t w;

	assert(pos >= r->tail && pos <= head);
	for (;;) {
		if (pos == head)
			return NULL;
		w = *(const uint32_t *)(r->data + (pos & (r->size - 1)));
		if (!(w & PAD_FLAG))
			break;
		pos += w & ~PAD_FLAG;
	}
	*len = w;
	*next = pos + rec_bytes(w);
	return r->data + (pos & (r->size - 1)) + HDR;
}

void ring_release_to(struct ring *r, uint64_t pos)
{
	assert(pos >= r->tail && pos <= load_acq(&r->head));
	store_rel(&r->tail, pos);
}

uint64_t ring_used(const struct ring *r)
{
	return load_acq(&r->head) - load_acq(&r->tail);
}

bool ring_consumer_wait(struct ring *r)
{
	__atomic_store_n(&r->consumer_waiting, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->head, __ATOMIC_SEQ_CST) != r->tail) {
		__atomic_store_n(&r->consumer_waiting, 0, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

bool ring_producer_wait(struct ring *r, uint32_t len)
{
	__atomic_store_n(&r->producer_waiting, 1, __ATOMIC_SEQ_CST);
	if (fit(r, rec_bytes(len)) >= 0) {
		__atomic_store_n(&r->producer_waiting, 0, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

bool ring_consumer_waiting(struct ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&r->consumer_waiting, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&r->consumer_waiting, 0, __ATOMIC_RELAXED);
	return true;
}

bool ring_producer_waiting(struct ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&r->producer_waiting, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&r->producer_waiting, 0, __ATOMIC_RELAXED);
	return true;
}
