/* shard_seg: creating and attaching a shard's segment. */
#include "shard/shard_seg.h"

#include <errno.h>
#include <stdio.h>

#include "shard/shard_state.h"

#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((uint64_t)(a)-1))

static uint64_t ring_off(void)
{
	return ALIGN_UP(sizeof(struct shard_seg), 4096);
}

static uint64_t state_off(uint64_t ring_bytes)
{
	return ALIGN_UP(ring_off() + ring_footprint(ring_bytes), 4096);
}

size_t shard_seg_size(uint64_t ring_bytes, uint32_t cap)
{
	return (size_t)ALIGN_UP(state_off(ring_bytes) + shard_state_footprint(cap), 4096);
}

int shard_seg_open(const char *name, uint32_t index, uint32_t nshards, uint64_t ring_bytes,
		   uint32_t cap, struct shm_seg *out)
{
	size_t size = shard_seg_size(ring_bytes, cap);
	struct shard_seg *h;
	int rc;

	rc = shm_seg_open(name, SHARD_SEG_KIND, size, out);
	if (rc < 0)
		return rc;
	h = shard_seg_of(out);
	if (!out->created && (h->index != index || h->nshards != nshards)) {
		/* The shard count changed: this segment's accounts now hash
		 * elsewhere, so its state is not ours to keep. */
		h->shm.ready = 0;
		shm_seg_close(out);
		shm_seg_unlink(name);
		return shard_seg_open(name, index, nshards, ring_bytes, cap, out);
	}
	if (out->created) {
		h->index = index;
		h->nshards = nshards;
		h->ring_off = ring_off();
		h->ring_bytes = ring_bytes;
		h->state_off = state_off(ring_bytes);
		h->state_bytes = shard_state_footprint(cap);
		h->mailbox_cap = cap;
		ring_init(shard_seg_ring(out), ring_bytes);
		shard_state_format(shard_seg_state(out), h->state_bytes, cap);
		shm_seg_ready(out);
	}
	return 0;
}
