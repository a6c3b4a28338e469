/* bench_sink: the baseline of `pna-bench ingest`. A forked child process
 * accepts the connections on a loopback port and, from one epoll loop, reads
 * each socket into a buffer and splits frames off it with proto_frame_split:
 * no decoding, no routing, nothing answered. Its rate is the cost of just
 * reading the bytes pnad reads. It reports through a pipe once it has split
 * the number of frames it was told to expect. With `decode` set it also
 * decodes every frame (protobuf-c into an arena, as the router does): the
 * floor of any reader of this protocol. */
#ifndef PNA_BENCH_SINK_H
#define PNA_BENCH_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The relay baseline of `pna-bench run` (with decode): for every event of
 * account "user<k>@...", fan[k] pre-built datagrams (dgram, cycled) go to
 * 127.0.0.1:udp_port through udp_batch, at most `window` of them unanswered
 * (the receiver answers each): pnad's job without routing, state or
 * matching. With first_sub, the datagrams are written for the event
 * instead: one NOTIFY per subscription of the account (first_sub[k] and
 * the fan[k] - 1 after it, Call-ID "bs-<sub>") carrying the account's
 * message count (every event a new message), so that the SIP sink can
 * time each against its event: the latency baseline. */
struct bench_relay {
	uint16_t udp_port;
	const uint32_t *fan; /* naccounts entries */
	uint32_t naccounts;
	const uint32_t *first_sub; /* naccounts entries, or NULL: cycle dgram */
	const char *dgram;	   /* ndgram datagrams, dgram_stride bytes apart */
	const uint16_t *dgram_len;
	uint32_t ndgram, dgram_stride;
	uint32_t window;
	bool gso; /* datagrams in GSO groups (udp_batch), else one per send */
};

struct bench_sink_opts {
	uint32_t conns;			 /* connections to accept */
	uint64_t frames;		 /* frames to split before reporting (Hellos included) */
	size_t max_frame;		 /* as pnad's max_frame */
	size_t read_bytes;		 /* bytes asked of each read() */
	bool decode;			 /* also decode each frame */
	const struct bench_relay *relay; /* with decode: relay (or NULL) */
};

struct bench_sink_result {
	int error;	    /* 0, or -errno of the failure */
	uint64_t frames;    /* split */
	uint64_t bytes;	    /* read */
	uint64_t reads;	    /* read() calls that returned data */
	uint64_t events;    /* in the Batch frames decoded (decode only) */
	uint64_t datagrams; /* relayed */
	char reason[160];   /* with error */
};

struct bench_sink;

/* Fork the sink child; it listens before this returns. 0 and *out (caller
 * owns; finish with bench_sink_stop), or -errno. */
int bench_sink_start(const struct bench_sink_opts *o, struct bench_sink **out);
uint16_t bench_sink_port(const struct bench_sink *s);
pid_t bench_sink_pid(const struct bench_sink *s);
/* Wait up to `timeout` seconds for the child's report. 0 with *r filled
 * (r->error set when the child failed), -ETIMEDOUT, or -EPIPE when the child
 * died without reporting. */
int bench_sink_wait(struct bench_sink *s, double timeout, struct bench_sink_result *r);
/* Tell the child to exit, wait for it and free `s`. Accepts NULL. */
void bench_sink_stop(struct bench_sink *s);

#endif
