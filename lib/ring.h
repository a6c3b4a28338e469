/* ring: a single-producer single-consumer ring of variable-length records in
 * shared memory. Positions are monotonic 64-bit byte counters, so a record's
 * position names it uniquely for the ring's lifetime (the shard uses it to
 * make replays idempotent). One process produces, one consumes; no locks.
 *
 * Wake-ups are the caller's: the consumer sets the waiting flag, rechecks the
 * ring and then sleeps on its eventfd; the producer calls ring_consumer_waiting
 * after publishing and writes the eventfd when it returns true. The same pair
 * exists for a producer waiting for space. */
#ifndef PNA_RING_H
#define PNA_RING_H

#include <stdalign.h> /* alignas: also valid C++ (a C++ benchmark includes this) */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_ALIGN 8u

struct ring {
	alignas(64) uint64_t head; /* written by the producer only */
	uint64_t head_cached_tail; /* producer's private copy of tail */
	uint32_t producer_waiting; /* set by producer, cleared by consumer */
	alignas(64) uint64_t tail; /* written by the consumer only */
	uint32_t consumer_waiting; /* set by consumer, cleared by producer */
	alignas(64) uint64_t size; /* bytes of data[], a power of two */
	alignas(64) unsigned char data[];
};

/* Bytes a ring with `data_bytes` of data (a power of two >= 4096) occupies. */
size_t ring_footprint(size_t data_bytes);
/* Initialise `r` (zeroed memory of ring_footprint bytes) for `data_bytes`. */
void ring_init(struct ring *r, size_t data_bytes);
/* Largest record ring_reserve accepts. */
uint32_t ring_max_record(const struct ring *r);

/* Producer: room for a `len`-byte record, or NULL when full or when len is
 * above ring_max_record. Nothing is visible until ring_commit. */
void *ring_reserve(struct ring *r, uint32_t len);
/* Producer: make the record last reserved (of `len` bytes) visible. */
void ring_commit(struct ring *r, uint32_t len);

/* Consumer: the oldest record, its length in *len and its position in *pos,
 * or NULL when empty. Stays valid until ring_release. */
const void *ring_peek(struct ring *r, uint32_t *len, uint64_t *pos);
/* Consumer: free the record ring_peek returned. */
void ring_release(struct ring *r);
/* Consumer: the position just past the record ring_peek returned (its
 * position plus its padded size), before ring_release. */
uint64_t ring_next_pos(const struct ring *r);

/* Consumer, pipelining: look at records beyond the oldest without releasing
 * them. `pos` is a position ring_peek gave (*pos) or a previous call gave
 * (*next); pad records there are stepped over. Returns the record (valid
 * until it is released), its length in *len and the position just past it in
 * *next, or NULL when pos is the head (nothing more published). */
const void *ring_peek_from(struct ring *r, uint64_t pos, uint32_t *len, uint64_t *next);
/* Consumer: release every record before `pos` (a *next of ring_peek_from,
 * or ring_next_pos), all at once. */
void ring_release_to(struct ring *r, uint64_t pos);

/* Map every page of the ring into the calling process now
 * (MADV_POPULATE_WRITE), so that the event path never takes the page fault of
 * a first touch: 12-14 us each on a VM with shadow paging, one per 4 KiB of
 * records until a fresh ring has wrapped once (every process maps the segment
 * on its own, so each one that uses the ring calls this). The pages become
 * resident memory at once, as they would after the first wrap. 0, or -errno
 * (-EINVAL from a kernel before 5.14: nothing done, the faults come later). */
int ring_prefault(struct ring *r);

/* Bytes in use, for metrics. Approximate when called by a third party. */
uint64_t ring_used(const struct ring *r);

/* Flag protocol (see above). `*_wait` return true when the caller must sleep:
 * the flag was set and the ring is still empty (full). */
bool ring_consumer_wait(struct ring *r);
bool ring_producer_wait(struct ring *r, uint32_t len);
/* Called after publishing (releasing): true if the other side sleeps and
 * needs an eventfd write; the flag is cleared. */
bool ring_consumer_waiting(struct ring *r);
bool ring_producer_waiting(struct ring *r);

#endif
