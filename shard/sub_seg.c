/* sub_seg: creating and attaching a shard's subscription segment. */
#include "shard/sub_seg.h"

#include <string.h>

#include "shard/grant_table.h"
#include "shard/sub_table.h"

#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((uint64_t)(a)-1))

/* Lay out the segment for p, filling the offsets of h; returns its size. */
static uint64_t layout(const struct sub_seg_params *p, struct sub_seg *h)
{
	uint64_t off = ALIGN_UP(sizeof(struct sub_seg), 4096);

	for (int r = 0; r < SUB_NROLES; r++) {
		h->req_off[r] = off;
		off = ALIGN_UP(off + ring_footprint(p->ctl_ring_bytes), 4096);
		h->rep_off[r] = off;
		off = ALIGN_UP(off + ring_footprint(p->ctl_ring_bytes), 4096);
	}
	for (int j = 0; j < 2; j++) {
		h->job_off[j] = off;
		off = ALIGN_UP(off + ring_footprint(p->job_ring_bytes), 4096);
	}
	h->outbox_off = off;
	off = ALIGN_UP(off + ring_footprint(p->outbox_bytes), 4096);
	h->table_off = off;
	h->table_bytes = sub_table_footprint(p->subs, p->string_bytes);
	off = ALIGN_UP(off + h->table_bytes, 4096);
	h->grants_off = off;
	h->grants_bytes = grant_table_footprint(p->grants);
	off = ALIGN_UP(off + h->grants_bytes, 4096);
	h->ctl_ring_bytes = p->ctl_ring_bytes;
	h->job_ring_bytes = p->job_ring_bytes;
	h->outbox_bytes = p->outbox_bytes;
	return off;
}

size_t sub_seg_size(const struct sub_seg_params *p)
{
	struct sub_seg h;

	return (size_t)layout(p, &h);
}

static void format(struct shm_seg *s, const struct sub_seg_params *p, uint32_t index,
		   uint32_t nshards)
{
	struct sub_seg *h = sub_seg_of(s);

	memset((char *)h + sizeof(h->shm), 0, sizeof(*h) - sizeof(h->shm));
	h->index = index;
	h->nshards = nshards;
	layout(p, h);
	for (int r = 0; r < SUB_NROLES; r++) {
		ring_init(sub_seg_req(s, (enum sub_role)r), p->ctl_ring_bytes);
		ring_init(sub_seg_rep(s, (enum sub_role)r), p->ctl_ring_bytes);
	}
	ring_init(sub_seg_jobs(s, SUB_SIP), p->job_ring_bytes);
	ring_init(sub_seg_jobs(s, SUB_XMPP), p->job_ring_bytes);
	ring_init(sub_seg_outbox(s), p->outbox_bytes);
	sub_table_format(sub_seg_table(s), h->table_bytes, p->subs, p->string_bytes);
	grant_table_format(sub_seg_grants(s), h->grants_bytes, p->grants);
}

int sub_seg_open(const char *name, uint32_t index, uint32_t nshards, const struct sub_seg_params *p,
		 struct shm_seg *out)
{
	struct sub_seg *h;
	int rc = shm_seg_open(name, SUB_SEG_KIND, sub_seg_size(p), out);

	if (rc < 0)
		return rc;
	h = sub_seg_of(out);
	if (!out->created && (h->index != index || h->nshards != nshards)) {
		/* Another shard count: these subscriptions' accounts hash
		 * elsewhere now. Start empty; the shard reloads from Redis. */
		out->created = 1;
	}
	if (out->created) {
		format(out, p, index, nshards);
		shm_seg_ready(out);
	} else {
		/* Requests and replies in flight belong to the processes that
		 * died with the previous pnad: start the control rings over.
		 * Job rings and the outbox are kept (the outbox holds changes
		 * Redis has not acknowledged). */
		for (int r = 0; r < SUB_NROLES; r++) {
			ring_init(sub_seg_req(out, (enum sub_role)r), p->ctl_ring_bytes);
			ring_init(sub_seg_rep(out, (enum sub_role)r), p->ctl_ring_bytes);
		}
	}
	return 0;
}
