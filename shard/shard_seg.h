/* shard_seg: the layout of one shard's shared-memory segment
 * (/<name>.shard.<i>): header, the router->shard event ring, then the
 * mailbox-state table. The supervisor creates it; the router produces into
 * the ring; the shard process consumes the ring and is the only writer of the
 * state and of the counters below; the supervisor's control server reads. */
#ifndef PNA_SHARD_SEG_H
#define PNA_SHARD_SEG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ring.h"
#include "lib/shm.h"

#define SHARD_SEG_KIND 0x53484432u /* "SHD2": state table with hash tags */

/* Counters written by the shard process only (relaxed atomics). */
struct shard_counters {
	uint64_t events_applied;  /* events that changed or confirmed state */
	uint64_t events_replayed; /* skipped after a restart: already applied */
	uint64_t events_no_state; /* events with no mailbox state (Login, ...) */
	uint64_t table_full;	  /* mailbox creations refused: table full */
	uint64_t restarts;	  /* attaches of a shard process */
};

struct shard_seg {
	struct shm_hdr shm;
	uint32_t index; /* logical shard number */
	uint32_t nshards;
	uint64_t ring_off;   /* from the segment base */
	uint64_t ring_bytes; /* data bytes of the ring */
	uint64_t state_off;
	uint64_t state_bytes;
	uint32_t mailbox_cap;
	int32_t pid; /* current shard process, for pnactl */
	struct shard_counters c;
};

/* Bytes of a segment with a ring of ring_bytes and room for cap mailboxes. */
size_t shard_seg_size(uint64_t ring_bytes, uint32_t cap);

/* Open (attach or create) segment `name` for shard `index` of `nshards`.
 * A created segment gets an empty ring and state table. 0 or -errno. */
int shard_seg_open(const char *name, uint32_t index, uint32_t nshards, uint64_t ring_bytes,
		   uint32_t cap, struct shm_seg *out);

static inline struct shard_seg *shard_seg_of(const struct shm_seg *s)
{
	return (struct shard_seg *)s->base;
}

static inline struct ring *shard_seg_ring(const struct shm_seg *s)
{
	return (struct ring *)((char *)s->base + shard_seg_of(s)->ring_off);
}

static inline void *shard_seg_state(const struct shm_seg *s)
{
	return (char *)s->base + shard_seg_of(s)->state_off;
}

#endif
