/* bench_sipsink: the SIP UDP sink of pna-bench. One UDP socket on loopback
 * that subscribes (SUBSCRIBE message-summary with P-Asserted-Identity, one
 * dialog per subscription, Call-ID "bs-<sub>"), then counts the NOTIFYs it
 * receives and answers each with 200 OK (one sendmmsg per 64 at most), so
 * the notifier has no reason to retransmit. It checks CSeq per dialog
 * (a CSeq seen before is a retransmission, counted apart; a new one below
 * the highest seen is counted as out of order) and, with a `due` callback,
 * records the latency from the event a NOTIFY's counts reflect to its
 * arrival (the kernel's receive stamp). The socket takes UDP_GRO: the
 * NOTIFYs of one GSO send arrive in one read and are cut apart here, as a
 * NIC with segmentation offload would leave them to the wire, instead of
 * by the kernel in pnad's send (on loopback). It can capture NOTIFYs for
 * a baseline to replay. Runs in the pna-bench process, single-threaded. */
#ifndef PNA_BENCH_SIPSINK_H
#define PNA_BENCH_SIPSINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench/bench_lat.h"

struct udp_batch;

#define BENCH_SIPSINK_BATCH 64
#define BENCH_SIPSINK_DGRAM 4096
/* One read with UDP_GRO: a GSO send's datagrams, together (< 64 KiB). */
#define BENCH_SIPSINK_READ 65536
#define BENCH_SIPSINK_CAPTURE 1024

/* When the event that brought account `k` to `messages` messages was due
 * (bench_now() seconds), or a negative value when unknown. */
typedef double (*bench_sipsink_due_fn)(void *arg, uint32_t k, uint32_t messages);

struct bench_sipsink {
	int fd;
	uint16_t port;
	uint32_t nsubs;
	uint32_t *sub_account; /* per subscription: its account number (owned) */
	uint32_t *last_cseq;   /* per subscription: the highest CSeq seen (owned) */
	uint64_t *seen;	       /* per subscription: bit d = CSeq last - d seen (owned) */
	uint8_t *subscribed;   /* per subscription (owned) */
	/* Counted since the last bench_sipsink_reset: */
	uint64_t notifies;	   /* NOTIFY datagrams received */
	uint64_t repeats;	   /* of them, retransmissions (CSeq seen already) */
	uint64_t out_of_order;	   /* CSeq below one seen: never expected */
	uint64_t unknown;	   /* Call-ID not one of ours, or too long to be a NOTIFY */
	uint64_t answered;	   /* 200s sent */
	double t_first, t_last;	   /* of NOTIFYs */
	uint64_t subs_ok;	   /* 200s to our SUBSCRIBEs (not reset) */
	uint64_t dialogs_notified; /* subscriptions with a NOTIFY seen (not reset) */
	bench_sipsink_due_fn due;
	void *due_arg;
	struct bench_lat lat; /* with `due` */
	/* NOTIFYs whose event was due before warm_until (bench_now seconds)
	 * count in warm, not in lat. */
	double warm_until;
	struct bench_lat warm;
	/* With `due`: a line per NOTIFY measured, "due arrival latency
	 * subscription", seconds since trace_t0 (not owned; NULL: none). */
	FILE *trace;
	double trace_t0;
	bool capture;
	struct udp_batch *
		ans; /* 200s queued, sent when 64 are and after the reads; GSO groups after bench_sipsink_answer_gso (owned) */
	uint32_t ncap;
	uint16_t cap_len[BENCH_SIPSINK_CAPTURE];
	char (*cap)[BENCH_SIPSINK_DGRAM];
	struct mmsghdr rm[BENCH_SIPSINK_BATCH];
	struct iovec riov[BENCH_SIPSINK_BATCH];
	struct sockaddr_storage raddr[BENCH_SIPSINK_BATCH];
	char rctl[BENCH_SIPSINK_BATCH][64]; /* control data: arrival stamp, GRO segment size */
	char (*rbuf)[BENCH_SIPSINK_READ];   /* BENCH_SIPSINK_BATCH reads (owned) */
	char sbuf[BENCH_SIPSINK_BATCH][2048];
};

/* A sink for `nsubs` subscriptions, subscription i on account
 * sub_account[i] (copied; "user<k>@example<k % 100>.com"). NULL when the
 * socket cannot be made. */
struct bench_sipsink *bench_sipsink_new(uint32_t nsubs, const uint32_t *sub_account);
/* From now on answer through udp_batch in GSO groups rather than one 200
 * per datagram (as SIP peers answer): a cheaper sink, for measuring what
 * the sink's own cost does to the figures. */
void bench_sipsink_answer_gso(struct bench_sipsink *s);
void bench_sipsink_free(struct bench_sipsink *s);
/* Zero the per-phase counts and the latencies. */
void bench_sipsink_reset(struct bench_sipsink *s);
/* Take what has arrived (waiting up to timeout_ms for the first datagram),
 * answer the NOTIFYs. How many reads (each one datagram, or with UDP_GRO
 * several of one GSO send); 0: nothing came. */
int bench_sipsink_poll(struct bench_sipsink *s, int timeout_ms);
/* Subscribe every subscription at 127.0.0.1:sip_port, at most `window`
 * SUBSCRIBEs unanswered, and take the initial NOTIFY of every one. 0, or -ETIMEDOUT
 * when nothing progressed for 5 s (some are missing), or -errno. */
int bench_sipsink_subscribe(struct bench_sipsink *s, uint16_t sip_port, uint32_t window);
/* A UDP socket bound to 127.0.0.1 with 4 MiB buffers: the fd, port in *port,
 * or -errno. */
int bench_udp_socket(uint16_t *port);

#endif
