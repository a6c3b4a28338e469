/* pna_client: the mail-store side of the ingest protocol, a small blocking
 * client library: connect and hello, queue events with sequence numbers,
 * send them in batches, read cumulative acks, and after a reconnect resend
 * exactly what the server has not taken (its Welcome says where to resume).
 * Used by pna-feed, pna-bench and the Dovecot connector. Not thread-safe. */
#ifndef PNA_CLIENT_H
#define PNA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "pna.pb-c.h"

struct pna_client;

struct pna_client_opts {
	const char *host; /* numeric IPv4/IPv6 or name; copied */
	uint16_t port;
	const char *store_id;	/* copied */
	const char *credential; /* copied; may be NULL */
	uint32_t batch_events;	/* events per Batch frame (1 = unbatched) */
	uint32_t max_unacked;	/* events kept for resending; add blocks past it */
	size_t max_frame;	/* largest frame to build (server's limit) */
};

/* Allocate a client (not connected). 0 and *out (caller owns; free with
 * pna_client_close), or -errno. */
int pna_client_open(const struct pna_client_opts *o, struct pna_client **out);
void pna_client_close(struct pna_client *c); /* accepts NULL */

/* Connect, send Hello, wait for Welcome. Unacked events below the resume
 * point are dropped (the server has them), the rest are sent again; a client
 * with nothing unacked continues numbering at the resume point. 0, -errno
 * for socket errors, or -EPROTO when the server answered with an Error frame
 * (see pna_client_error). */
int pna_client_connect(struct pna_client *c);

/* Queue one event (packed now, so `ev` may be reused). It goes out when the
 * batch is full or on pna_client_flush. Blocks reading acks while
 * max_unacked events are outstanding. 0, or -errno / -EPROTO as above
 * (-EPIPE when the connection dropped: reconnect and go on), -EMSGSIZE when
 * the event alone would not fit in max_frame. On any error the event was
 * not queued (add it again); a send that fails after queueing it shows up
 * as the next call's error. */
int pna_client_add(struct pna_client *c, const Pna__Event *ev);

/* Send the partly filled batch, if any. 0 or -errno. */
int pna_client_flush(struct pna_client *c);

/* Read acks (and errors) for up to timeout_ms (0: only what is there).
 * 0, -EPIPE when the server closed, -EPROTO on an Error frame. */
int pna_client_poll(struct pna_client *c, int timeout_ms);

/* Flush, then poll until every event is acked or timeout_ms passes. 0,
 * -ETIMEDOUT, or as pna_client_poll. */
int pna_client_drain(struct pna_client *c, int timeout_ms);

/* Drop the connection without a goodbye (tests, and after an error). */
void pna_client_disconnect(struct pna_client *c);

/* Sequence numbers: the next to assign, the highest acked (0 if none). */
uint64_t pna_client_next_seq(const struct pna_client *c);
uint64_t pna_client_acked(const struct pna_client *c);
/* Events sent on the wire so far, resends included. */
uint64_t pna_client_sent(const struct pna_client *c);
/* The last Error frame's code and reason ("" when none). */
int pna_client_error_code(const struct pna_client *c);
const char *pna_client_error(const struct pna_client *c);

#endif
