/* router_seg: the router's shared-memory segment (/<name>.router): per mail
 * store, the highest sequence number handed to the shards (so a restarted
 * router, or a whole pnad restarted on the same segments, tells a store where
 * to resume), and the ingest counters exported by pnactl stats. Written only
 * by the router process. */
#ifndef PNA_ROUTER_SEG_H
#define PNA_ROUTER_SEG_H

#include <stdint.h>

#include "lib/shm.h"
#include "pnad/pnad_conf.h"

#define ROUTER_SEG_KIND 0x52545231u /* "RTR1" */

struct router_store {
	char id[PNAD_STORE_ID_MAX]; /* matched on attach; a renamed store restarts at 0 */
	uint64_t last_seq;	    /* highest seq in a shard ring */
	uint64_t events;	    /* events accepted */
	uint64_t duplicates;	    /* events at or below last_seq, dropped */
	uint64_t gaps;		    /* batches starting past last_seq + 1 */
	uint32_t connected;	    /* 1 while a session is up */
	uint32_t pad;
};

/* Indexed by Pna__ErrorCode: error frames sent, per reason. */
#define ROUTER_NERR 16

struct router_counters {
	uint64_t accepted;     /* connections accepted */
	uint64_t refused;      /* connections refused (limit) */
	uint64_t open;	       /* connections open now */
	uint64_t frames;       /* frames decoded */
	uint64_t events;       /* events pushed into shard rings */
	uint64_t bytes;	       /* bytes received */
	uint64_t acks;	       /* ack frames sent */
	uint64_t backpressure; /* times a connection paused on a full ring */
	uint64_t errors[ROUTER_NERR];
};

struct router_seg {
	struct shm_hdr shm;
	uint32_t nstores;
	int32_t pid;
	struct router_counters c;
	struct router_store stores[PNAD_MAX_STORES];
};

/* Open (attach or create) the router segment and match its stores to the
 * config's by id (a store whose id changed starts again at seq 0). */
int router_seg_open(const char *name, const struct pnad_conf *conf, struct shm_seg *out);

static inline struct router_seg *router_seg_of(const struct shm_seg *s)
{
	return (struct router_seg *)s->base;
}

#endif
