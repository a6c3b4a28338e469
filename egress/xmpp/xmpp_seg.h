/* xmpp_seg: the XMPP worker's shared-memory segment (/<name>.xmpp): its pid
 * and counters. One writer, the XMPP worker; the admin process (/metrics)
 * and pna-bench map it read-only. A restarted worker re-attaches and keeps
 * counting from where its predecessor stopped. */
#ifndef PNA_XMPP_SEG_H
#define PNA_XMPP_SEG_H

#include <stdint.h>

#include "lib/shm.h"

#define XMPP_SEG_KIND 0x584d5031u /* "XMP1" */

/* Plain counters, one writer (the XMPP worker); readers load them relaxed. */
struct xmpp_counters {
	uint64_t connects;	     /* links that completed the handshake */
	uint64_t disconnects;	     /* links lost or closed (each is followed by a reconnect) */
	uint64_t malformed;	     /* streams closed for malformed or restricted XML */
	uint64_t stream_errors;	     /* <stream:error> received from the server */
	uint64_t stanzas_in;	     /* stanzas received once the link is up */
	uint64_t ignored;	     /* of which nothing was to be done */
	uint64_t requests;	     /* shard requests sent (subscribe, unsubscribe, options) */
	uint64_t replies;	     /* shard replies answered as IQ results or errors */
	uint64_t subscribes_ok;	     /* subscribe requests the shard accepted */
	uint64_t subscribes_refused; /* refused by the shard, or not sent (queues full) */
	uint64_t notes;		     /* pubsub notifications rendered (events, heartbeats) */
	uint64_t states;	     /* current-state items held until their IQ result */
	uint64_t sieve, sieve_bad;   /* Sieve messages sent / with no usable JID */
	uint64_t ended;		     /* subscription-ended jobs */
	uint64_t ended_unknown;	     /* ... whose subscription the worker did not remember */
	uint64_t ended_evicted;	     /* remembered subscriptions pushed out by a collision */
	uint64_t jobs_dropped;	     /* note jobs whose note was gone from the table */
	uint64_t bounces;	     /* notification bounces (error messages) */
	uint64_t pings;		     /* liveness pings sent (XEP-0199) */
	uint64_t pongs;		     /* answers to them */
	uint64_t ping_timeouts;	     /* links given up for an unanswered ping */
	uint64_t pend_timeouts;	     /* shard requests that got no answer in time */
	uint64_t out_full;	     /* stanzas not rendered: the output buffer was full */
	uint64_t bytes_out;	     /* bytes written to the link */
	uint64_t coalesced_waits;    /* passes followed by xmpp_coalesce_us, not a wake-up */
	uint64_t queued_bytes;	     /* gauge: bytes waiting in the output buffer */
	uint64_t link_up;	     /* gauge: 1 while the component is attached */
	uint64_t spare[16];	     /* zero: room for counters without a new layout */
};

struct xmpp_seg {
	struct shm_hdr shm;
	uint32_t pid; /* the worker (0 before it attached) */
	uint32_t pad;
	struct xmpp_counters c;
};

/* Open or re-attach segment `name`. 0 and *out (mapping owned by the caller:
 * shm_seg_close), or -errno. */
int xmpp_seg_open(const char *name, struct shm_seg *out);

#endif
