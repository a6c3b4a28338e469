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

/* What the check learned about an event, for router_route_put: its shard,
 * its string lengths and the size of its evrec. */
struct router_route_ev {
	uint32_t size;		  /* bytes of the evrec */
	uint16_t shard;		  /* the account's shard */
	uint16_t len[EVREC_NSTR]; /* string lengths, as in the evrec */
};

/* Validate `ev`, event `idx` of its batch with sequence number `seq`: type
 * known, account valid, mailbox / old_mailbox / target present where the type
 * needs them and valid, uidset parseable, every string within the evrec and
 * names limits. On success ev's account, mailbox and old_mailbox are
 * canonical in place (the decoded message is the caller's to change: each
 * name is validated and canonicalised once, then copied as is) and *out is
 * filled; 0. Or -EINVAL with a reason like "event 3 (seq 1042): MessageNew
 * without a mailbox" in why (whylen bytes, NUL-terminated), ev's names then
 * possibly half canonical. */
int router_route_check(Pna__Event *ev, size_t idx, uint64_t seq,
		       const struct router_route_limits *lim, struct router_route_ev *out,
		       char *why, size_t whylen);

/* Validate every event of `b` (event i has seq first_seq + i) as
 * router_route_check does, canonicalising its names in place. 0 with out[i]
 * set for each event (caller owns out, n_events entries), or the first
 * failure as router_route_check reports it. Rejects a batch whose sequence
 * numbers start at 0 or overflow. */
int router_route_batch(Pna__Batch *b, const struct router_route_limits *lim,
		       struct router_route_ev *out, char *why, size_t whylen);

/* Fill `rec` (ck->size bytes, caller owns) from event `ev` that
 * router_route_check passed, with ck what it set: strings copied as they
 * are (the names canonical), counts and flags, the store's config index and
 * key (hash64 of its id, for the shard's duplicate check) and seq. The
 * message body and unnamed parameters are never copied. */
void router_route_encode(const Pna__Event *ev, const struct router_route_ev *ck, uint64_t seq,
			 uint16_t store, uint64_t store_key, struct evrec *rec);

/* Reserve, encode and commit a checked event into ring `r` (the caller is
 * its only producer). 0, or -ENOBUFS when the ring has no room now, with the
 * record's size in *need for ring_producer_wait. */
int router_route_put(struct ring *r, const Pna__Event *ev, const struct router_route_ev *ck,
		     uint64_t seq, uint16_t store, uint64_t store_key, uint32_t *need);

#endif
