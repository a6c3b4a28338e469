/* ingest_conn: the mail-store side of the router process without its I/O: the
 * connection table, each connection's session state machine (Hello, Welcome,
 * Batches, Errors), frame reassembly across receive buffers, routing into the
 * shard rings and the backpressure bookkeeping. The io_uring loop
 * (router/router_main.c) feeds it receive buffers and carries out what it
 * asks for (sends, recv cancel and re-arm, space waits, closes);
 * tests/fuzz/fuzz_ingest.c drives the same code with arbitrary bytes. */
#ifndef PNA_INGEST_CONN_H
#define PNA_INGEST_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ring.h"
#include "pna.pb-c.h"
#include "pnad/pnad_conf.h"
#include "router/router_route.h"
#include "router/router_seg.h"

#define INGEST_NONE UINT32_MAX
#define INGEST_OUT_CAP 512    /* welcome/ack/error bytes queued per connection */
#define INGEST_REASON_MAX 200 /* longest reason put into an Error frame */

enum ingest_state {
	INGEST_FREE = 0,
	INGEST_HELLO,	/* accepted, waiting for Hello */
	INGEST_SESSION, /* Hello accepted: batches */
	INGEST_CLOSING, /* an Error frame is queued: send it, then linger */
	INGEST_LINGER,	/* (loop) error sent, write side shut: discard until EOF */
	INGEST_DEAD,	/* (loop) close once no operation is in flight */
};

/* One connection slot. The table owns the slots; the loop embeds its I/O
 * state in the second half. A slot is reused with a new generation. */
struct ingest_conn {
	/* Protocol state, written by ingest_conn.c. */
	uint8_t state;	   /* enum ingest_state */
	uint8_t paused;	   /* waiting for room in ring wait_shard */
	uint8_t eof;	   /* the peer shut its write side */
	uint8_t in_frame;  /* the frame at the input's head is partly routed */
	uint8_t dirty;	   /* on the table's dirty list */
	uint8_t ack_force; /* a batch completed without moving last_seq */
	uint8_t waiting;   /* on the wait list of wait_shard */
	uint8_t session;   /* counts against max_connections */
	int32_t store;	   /* config index after Hello, else -1 */
	uint32_t slot;
	uint32_t route_idx; /* next event of the paused frame */
	uint32_t wait_shard, wait_prev, wait_next;
	uint32_t q_head, q_tail, q_off; /* held receive buffers, offset into head */
	uint8_t *rbuf;			/* reassembly buffer, slot-owned, kept across reuse */
	uint32_t rlen, rcap;
	uint64_t ack_sent; /* seq of the last Ack (or Welcome) queued */
	uint32_t out_off, out_len;

	/* I/O state, written by the loop only. */
	int fd;
	uint32_t gen;
	uint8_t recv_active; /* a multishot recv is armed */
	uint8_t send_active; /* a send of out[out_off..send_end) is in flight */
	uint8_t recv_cancel; /* a cancel of the recv is in flight */
	uint8_t send_cancel; /* a cancel of the send is in flight */
	uint8_t starved;     /* recv ended with -ENOBUFS: re-arm when buffers return */
	uint32_t send_end;
	int64_t linger_until; /* CLOCK_MONOTONIC seconds */

	uint8_t out[INGEST_OUT_CAP];
};

/* The provided receive buffers: `count` buffers of `size` bytes at `base`
 * (owned by the loop). A buffer handed to ingest_conn_input is the table's
 * until it calls release(arg, bid). */
struct ingest_pool {
	uint8_t *base;
	uint32_t size;
	uint32_t count;
	void (*release)(void *arg, uint32_t bid);
	void *arg;
};

struct ingest_params {
	const struct pnad_conf *conf; /* stores, max_frame; must outlive the table */
	struct router_seg *seg;	      /* counters and per-store progress */
	struct ring **rings;	      /* nshards rings; copied array */
	uint32_t nshards;
	uint32_t nconns; /* slots: max_connections + refusal slots */
	struct ingest_pool pool;
};

/* The table and the routing context shared by its connections. Fields are
 * read by the loop; only ingest_conn.c writes them. */
struct ingest_table {
	const struct pnad_conf *conf;
	struct router_seg *seg;
	struct ring **rings;
	uint32_t nshards;
	struct router_route_limits lim;
	size_t max_frame;
	struct arena *arena;
	struct ingest_pool pool;
	uint32_t *bnext, *blen; /* per buffer: held-queue link, bytes */
	struct ingest_conn *conns;
	uint32_t nconns;
	uint32_t nsessions;
	uint32_t *dirty; /* slots whose I/O state must be reconciled */
	uint32_t ndirty;
	int32_t *store_conn;		 /* per store: its connection's slot or -1 */
	uint64_t *store_key;		 /* per store: hash64 of its id (evrec.store_key) */
	uint32_t *wait_head, *wait_tail; /* per shard: paused connections, FIFO */
	uint32_t *wait_len;		 /* per shard: smallest record waited for */
	uint8_t *want_space;		 /* per shard: someone waits, loop must arm */
	uint8_t *published;		 /* per shard: records committed this pass */
	uint32_t *scratch;		 /* nconns slots, for resuming */
	char why[INGEST_REASON_MAX + 1];
};

/* Allocate a table (control plane: aborts on OOM). 0 and *out (caller owns,
 * free with ingest_table_destroy), or -EINVAL for bad parameters. */
int ingest_table_create(const struct ingest_params *p, struct ingest_table **out);
void ingest_table_destroy(struct ingest_table *t); /* accepts NULL */

/* Resume, in pause order, the connections waiting for room in `shard`'s
 * ring. They are put on the dirty list (and back on the wait list if the
 * ring fills again). */
void ingest_table_resume(struct ingest_table *t, uint32_t shard);

/* Add c to the dirty list (idempotent): its I/O state must be reconciled
 * (output to send, recv to cancel or re-arm, close) after the pass. */
void ingest_conn_dirty(struct ingest_table *t, struct ingest_conn *c);

/* Take a connection off the dirty list (any order), or NULL when empty.
 * Handling it may put it back; each slot is on the list at most once. */
struct ingest_conn *ingest_table_pop_dirty(struct ingest_table *t);

/* Start a connection in slot `c` (state FREE). A session counts against
 * max_connections; with refuse set it is over the limit instead: an Error
 * ERR_TOO_MANY_CONNECTIONS is queued and the slot goes CLOSING. */
void ingest_conn_open(struct ingest_table *t, struct ingest_conn *c, bool refuse);

/* `len` bytes arrived in buffer `bid`; the table owns the buffer from now
 * on. Frames are processed unless the connection is paused or closing. */
void ingest_conn_input(struct ingest_table *t, struct ingest_conn *c, uint32_t bid, uint32_t len);

/* The peer shut its write side. After the input held for a pause has been
 * processed: a partial frame -> ERR_TRUNCATED, otherwise the slot goes DEAD. */
void ingest_conn_eof(struct ingest_table *t, struct ingest_conn *c);

/* Queue an Error frame (code, printf reason) and go CLOSING: the store is
 * released, held input dropped, the error counted. No-op unless the
 * connection is in HELLO or SESSION. */
void ingest_conn_fail(struct ingest_table *t, struct ingest_conn *c, Pna__ErrorCode code,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Go DEAD at once (transport error, linger over, stop): releases what
 * ingest_conn_fail releases. */
void ingest_conn_kill(struct ingest_table *t, struct ingest_conn *c);

/* The loop closed the socket and every operation finished: back to FREE. */
void ingest_conn_release(struct ingest_table *t, struct ingest_conn *c);

/* Queue Ack{store.last_seq} when it moved since the last one (or a batch of
 * duplicates asked for one). True when an ack was queued. */
bool ingest_conn_ack(struct ingest_table *t, struct ingest_conn *c);

/* True while queued output (out[out_off..out_len)) has not all been sent. */
static inline bool ingest_conn_out_pending(const struct ingest_conn *c)
{
	return c->out_off < c->out_len;
}

#endif
