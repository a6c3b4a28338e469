/* router_route: validation, canonicalisation and evrec encoding of the
 * events of an ingest Batch. Pure functions over decoded protobuf-c messages
 * and a ring; the router process calls them from ingest_conn.c, the unit
 * test and the ingest fuzzer call them directly. */
#ifndef PNA_ROUTER_ROUTE_H
#define PNA_ROUTER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/evrec.h"
#include "lib/ring.h"
#include "pna.pb-c.h"

/* What the rings accept: the number of shards the accounts hash into and the
 * largest record ring_reserve takes (the minimum over the shard rings). */
struct router_route_limits {
	uint32_t nshards;    /* >= 1 */
	uint32_t max_record; /* bytes of the largest evrec */
};

/* Room for any reason the functions below write. */
#define ROUTER_REASON_MAX 200

/* Validate `ev`, event `idx` of its batch with sequence number `seq`: type
 * known, account valid, mailbox / old_mailbox / target present where the type
 * needs them and valid, uidset parseable, every string within the evrec and
 * names limits. 0 with the account's shard in *shard, or -EINVAL with a
 * reason like "event 3 (seq 1042): MessageNew without a mailbox" in why
 * (whylen bytes, NUL-terminated). */
int router_route_check(const Pna__Event *ev, size_t idx, uint64_t seq,
		       const struct router_route_limits *lim, uint16_t *shard, char *why,
		       size_t whylen);

/* Validate every event of `b` (event i has seq first_seq + i). 0 with
 * shards[i] set for each event (caller owns shards, n_events entries), or the
 * first failure as router_route_check reports it. Rejects a batch whose
 * sequence numbers start at 0 or overflow. */
int router_route_batch(const Pna__Batch *b, const struct router_route_limits *lim, uint16_t *shards,
		       char *why, size_t whylen);

/* Bytes of the evrec of a checked event. */
uint32_t router_route_size(const Pna__Event *ev);

/* Fill `rec` (router_route_size bytes, caller owns) from a checked event:
 * names canonicalised while copied, counts and flags, the store's config
 * index and key (hash64 of its id, for the shard's duplicate check) and seq.
 * The message body and unnamed parameters are never copied. */
void router_route_encode(const Pna__Event *ev, uint64_t seq, uint16_t store, uint64_t store_key,
			 struct evrec *rec);

/* Reserve, encode and commit a checked event into ring `r` (the caller is
 * its only producer). 0, or -ENOBUFS when the ring has no room now, with the
 * record's size in *need for ring_producer_wait. */
int router_route_put(struct ring *r, const Pna__Event *ev, uint64_t seq, uint16_t store,
		     uint64_t store_key, uint32_t *need);

#endif
