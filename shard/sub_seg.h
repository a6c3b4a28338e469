/* sub_seg: one shard's subscription segment (/<name>.subs.<i>): header and
 * counters, the request and reply rings of each client role, the job ring
 * of each egress transport, the Redis outbox ring, the subscription table and
 * the grant table. The supervisor creates it; the shard process writes the
 * tables, the counters, the reply and job rings and the outbox; each client
 * role writes its request ring; egress workers consume job rings; the
 * shard's Redis thread consumes the outbox. */
#ifndef PNA_SUB_SEG_H
#define PNA_SUB_SEG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ring.h"
#include "lib/shm.h"
#include "lib/sub_msg.h"

#define SUB_SEG_KIND 0x53554253u /* "SUBS" */

/* Counters (relaxed atomics), each with one writer: the shard process, or
 * its Redis thread for persist_*. */
struct sub_counters {
	uint64_t matches;	/* event x subscription matches */
	uint64_t notes;		/* jobs handed to egress workers */
	uint64_t coalesced;	/* matches folded into a pending note */
	uint64_t job_ring_full; /* notes left pending: the job ring was full */
	uint64_t heartbeats;
	uint64_t expired;
	uint64_t sieve;	       /* targeted (Sieve) notifications handed on */
	uint64_t ended;	       /* ended: their mailbox was deleted or renamed */
	uint64_t requests;     /* client requests served */
	uint64_t denied;       /* subscriptions refused by authorization */
	uint64_t refused_full; /* refused: table, strings or outbox full */
	uint64_t reloads;      /* cold starts that loaded Redis */
	uint64_t reloaded_subs;
	uint64_t reloaded_grants;
	uint64_t persist_written; /* outbox records Redis acknowledged */
	uint64_t persist_errors;  /* Redis failures (each retried) */
	uint32_t redis_up;	  /* 1 while the Redis thread is connected */
	uint32_t loaded;	  /* 1 once the table is complete (reload done) */
};

struct sub_seg {
	struct shm_hdr shm;
	uint32_t index, nshards;
	uint64_t req_off[SUB_NROLES], rep_off[SUB_NROLES];
	uint64_t job_off[2]; /* [0] SIP, [1] XMPP */
	uint64_t outbox_off;
	uint64_t table_off, table_bytes;
	uint64_t grants_off, grants_bytes;
	uint64_t ctl_ring_bytes, job_ring_bytes, outbox_bytes;
	struct sub_counters c;
};

struct sub_seg_params {
	uint32_t subs;		 /* subscription capacity */
	uint64_t string_bytes;	 /* intern pool */
	uint32_t grants;	 /* grant capacity */
	uint64_t ctl_ring_bytes; /* each request / reply ring */
	uint64_t job_ring_bytes; /* each egress job ring */
	uint64_t outbox_bytes;	 /* the Redis outbox */
};

size_t sub_seg_size(const struct sub_seg_params *p);
/* Attach or create; a created segment gets empty rings and tables. */
int sub_seg_open(const char *name, uint32_t index, uint32_t nshards, const struct sub_seg_params *p,
		 struct shm_seg *out);

static inline struct sub_seg *sub_seg_of(const struct shm_seg *s)
{
	return (struct sub_seg *)s->base;
}

static inline struct ring *sub_seg_ring_at(const struct shm_seg *s, uint64_t off)
{
	return (struct ring *)((char *)s->base + off);
}

static inline struct ring *sub_seg_req(const struct shm_seg *s, enum sub_role r)
{
	return sub_seg_ring_at(s, sub_seg_of(s)->req_off[r]);
}

static inline struct ring *sub_seg_rep(const struct shm_seg *s, enum sub_role r)
{
	return sub_seg_ring_at(s, sub_seg_of(s)->rep_off[r]);
}

/* Job ring of an egress transport (enum sub_transport). */
static inline struct ring *sub_seg_jobs(const struct shm_seg *s, unsigned transport)
{
	return sub_seg_ring_at(s, sub_seg_of(s)->job_off[transport == SUB_XMPP]);
}

static inline struct ring *sub_seg_outbox(const struct shm_seg *s)
{
	return sub_seg_ring_at(s, sub_seg_of(s)->outbox_off);
}

static inline void *sub_seg_table(const struct shm_seg *s)
{
	return (char *)s->base + sub_seg_of(s)->table_off;
}

static inline void *sub_seg_grants(const struct shm_seg *s)
{
	return (char *)s->base + sub_seg_of(s)->grants_off;
}

#endif
