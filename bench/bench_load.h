/* bench_load: the mail-store side of pna-bench. It pre-encodes ingest
 * streams (a Hello, then Batch frames of MessageNew events over a set of
 * accounts) and sends them over one connection per stream, from one epoll
 * thread, as fast as the sockets take them, reading pnad's cumulative acks.
 * Runs in the pna-bench process. */
#ifndef PNA_BENCH_LOAD_H
#define PNA_BENCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Stream i belongs to store "b<i>" and carries the accounts k with
 * k % conns == i, named "user<k>@example<k % 100>.com", mailbox "INBOX".
 * Each event picks one of them pseudo-randomly (fixed seed) and gives it
 * the next uid of that account, so a stream is the same bytes every time. */
struct bench_workload {
	uint32_t conns;		/* connections, one stream each */
	uint64_t events;	/* total, split as evenly as possible */
	uint32_t per_frame;	/* events per Batch frame (1 = unbatched) */
	uint32_t accounts;	/* >= conns */
	const char *credential; /* of every store; not copied */
};

struct bench_stream {
	char store_id[16];
	uint8_t hello[128]; /* the Hello frame */
	size_t hello_len;
	uint8_t *buf; /* the Batch frames (owned) */
	size_t len;
	uint64_t first_seq; /* sequence number of the first event */
	uint64_t events;
	uint64_t frames;   /* Batch frames in buf */
	uint32_t *acct;	   /* per event: the account's index j in this stream
			  * (account k = stream + conns * j); owned */
	size_t *frame_end; /* per frame: its end offset in buf; owned */
};

struct bench_streams {
	struct bench_stream *s; /* n entries (owned) */
	uint32_t n;
	uint64_t events, frames, bytes; /* totals over the streams, Hellos excluded */
	struct bench_workload w;	/* what they were encoded from */
};

/* Encode the streams of `w`, sequence numbers starting at first_seq on every
 * stream. 0 (free with bench_streams_free) or -EINVAL for a workload that
 * cannot be encoded. Allocation failure aborts. */
int bench_streams_encode(const struct bench_workload *w, uint64_t first_seq,
			 struct bench_streams *out);
void bench_streams_free(struct bench_streams *ss);

enum bench_send_mode {
	BENCH_SEND_ACKED, /* Hello, wait for Welcome, send, wait for the last ack */
	BENCH_SEND_BLIND, /* Hello, send; the peer never answers (the baseline) */
};

/* What the sender did so far. Times are bench_now() values, 0 until reached. */
struct bench_send_status {
	bool done;	  /* everything written (and acked, ACKED mode) */
	int error;	  /* -errno; the sender stopped */
	char reason[256]; /* set with error */
	uint64_t acked;	  /* events acked over all connections */
	double t_written; /* last byte handed to the kernel */
	double t_acked;	  /* last ack read */
	double t_start;	  /* the sending thread started (paced: time 0) */
	double cpu;	  /* CPU seconds of the sender thread, once done */
};

struct bench_sender;

/* Connect one socket per stream to 127.0.0.1:port and send its Hello; in
 * ACKED mode read each Welcome and re-encode a stream whose resume point is
 * not its first_seq. Nothing else is sent until bench_sender_start. 0 and
 * *out (caller owns; finish with bench_sender_close), or -errno with a reason
 * in err. `ss` must outlive the sender. */
int bench_sender_open(struct bench_streams *ss, uint16_t port, enum bench_send_mode mode,
		      double timeout, struct bench_sender **out, char *err, size_t errlen);
/* Pace the sender (call before bench_sender_start): open loop, frame f of
 * stream i is written at t_start + (f + i / conns) * per_frame / (rate /
 * conns) (the streams staggered evenly), however late earlier frames were
 * taken; 0 (the default) sends as fast as the sockets take the bytes. */
void bench_sender_pace(struct bench_sender *s, double events_per_s);
/* Gate the sender (call before bench_sender_start, instead of pacing):
 * closed loop, a frame is written only while the events of the frames
 * written, less done(arg), stay within `window`. done() runs on the
 * sender's thread and counts the events whose outcome the caller has seen
 * (a notification received, or folded into another); it is read again on
 * every ack, on bench_sender_kick, and every BENCH_GATE_POLL seconds while
 * the gate is shut. 0 or -errno. */
#define BENCH_GATE_POLL 0.01
int bench_sender_gate(struct bench_sender *s, uint64_t (*done)(void *arg), void *arg,
		      uint64_t window);
/* done() may have grown: wake a gated sender that sleeps on a shut gate
 * once an eighth of the window is free (one atomic load when it does not
 * sleep). Callable from any thread; calls done() there. */
void bench_sender_kick(struct bench_sender *s);
/* When event `event_index` of paced stream `stream` was due: its frame's
 * time. */
double bench_sender_due(const struct bench_sender *s, uint32_t stream, uint64_t event_index);
/* Start the sending thread. 0 or -errno. */
int bench_sender_start(struct bench_sender *s);
/* A snapshot of the sender's progress; callable from any thread. */
void bench_sender_status(struct bench_sender *s, struct bench_send_status *st);
/* Stop the thread if it still runs, close the sockets, free `s`, and give
 * the final status in *st (may be NULL). Accepts NULL. */
void bench_sender_close(struct bench_sender *s, struct bench_send_status *st);

#endif
