/* bench_run: `pna-bench run`, the end-to-end measurement. It starts pnad
 * with a SIP worker, preloads S message-summary subscriptions over U
 * accounts (uniform or Zipf fan-out) from a UDP sink and XMPP pubsub
 * subscriptions through a counting XEP-0114 server (bench_xsink), streams
 * MessageNew events over M mail-store connections, counts the NOTIFYs and
 * stanzas at the sinks and balances the books against pnad's counters. Phases:
 *   max      events as fast as pnad takes them: throughput, CPU per role;
 *            a warm-up run, then rounds, each followed by the baseline;
 *            the median round (by its ratio to its baseline) reports;
 *   latency  open loop at a fraction of the maximum load (the event rate
 *            whose every match the max phase's notification rate
 *            carries): event-to-NOTIFY latency measured from each event's
 *            scheduled time (no coordinated omission);
 *   baseline a relay that reads the same frames and sends one pre-built
 *            datagram per subscriber to the same sink (bench_sink's relay),
 *            run before and after each round (max_rounds); after the
 *            latency phase, paced at its rate over its events, writing
 *            each NOTIFY for its event so the sink times it (base_lat).
 * Every phase starts a fresh pnad (the baseline runs while the max
 * phase's pnad idles). bench_sweep and bench_plan use the
 * result structs below. Runs in the pna-bench process. */
#ifndef PNA_BENCH_RUN_H
#define PNA_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/bench_pnad.h"
#include "bench/bench_stall.h"
#include "bench/bench_util.h"

enum bench_fanout { BENCH_FANOUT_UNIFORM, BENCH_FANOUT_ZIPF };

struct bench_run_opts {
	uint32_t accounts, subs, conns, per_frame, shards;
	uint32_t xmpp_subs; /* XMPP subscriptions (accounts 0..n-1, INBOX), 0: none */
	uint64_t events;
	enum bench_fanout fanout;
	double rate;	       /* events/s of the latency phase; 0: latency_at x max */
	double latency_at;     /* fraction of the max rate; 0 skips the phase */
	double latency_secs;   /* the latency phase measures this long (fewer events) */
	double latency_warmup; /* seconds streamed before those, not in the percentiles */
	double stall_probe;    /* before the latency phase: bench_stall_probe seconds, 0: none */
	double duration;       /* cap on each phase's streaming, seconds */
	uint32_t in_flight;    /* max phase: events written without an outcome at
			      * the sinks (closed loop), 0: as fast as acked */
	uint32_t rounds;       /* max phase: rounds after a warm-up, events split over them */
	bool baseline;	       /* run the relay baseline */
	bool progress;	       /* a status line on a terminal */
	const char *pnad;      /* the pnad binary */
	const char *dir;       /* temporary directory (config, logs) */
	/* `pna-bench run` itself: */
	const char *json;  /* report file, or NULL */
	const char *trace; /* latency phase: a line per NOTIFY (bench_sipsink), or NULL */
	bool check, keep;  /* exit 1 on a missed target; keep the directory */
};

/* The books of one phase: every event and every notification accounted. */
struct bench_books {
	uint64_t events_sent, events_acked, events_applied;
	uint64_t matches_expected; /* from the bench's own fan-out table */
	uint64_t matches, notes, coalesced;
	uint64_t notifies_sent, retransmits, notify_failures;
	uint64_t received, repeats, out_of_order, unknown; /* at the SIP sink */
	uint64_t xmpp_received;				   /* at the XMPP sink */
	/* Notes an egress worker found already taken: their match went out
	 * with an earlier notification (sub_table_note_put's race). */
	uint64_t folded_at_take;
	/* Notes the SIP worker folded into the NOTIFY that follows the one in
	 * flight on their dialog (one NOTIFY at a time per dialog). */
	uint64_t folded_in_worker;
	/* matches - (received - repeats) - xmpp_received - coalesced
	 * - folded_at_take - folded_in_worker */
	int64_t unaccounted;
	bool balanced;
};

struct bench_phase {
	bool ran;
	double target_rate; /* events/s asked; 0 = as fast as taken */
	double secs;	    /* first event sent to last NOTIFY */
	double events_per_s, notifies_per_s, stanzas_per_s;
	uint64_t lat_samples;
	double p50, p99, p999, lat_max; /* seconds */
	double warmup;			/* seconds whose events' latencies are apart: */
	uint64_t warm_samples;		/* ... how many */
	double warm_p99, warm_max;	/* seconds */
	struct bench_pnad_cpu cpu;
	double sender_cpu; /* the sender thread */
	double bench_cpu;  /* all of pna-bench: the sender and the sinks */
	/* The machine while the phase streamed (wall seconds): busy CPU
	 * seconds (/proc/stat; negative: unknown) and those of the DAMON
	 * monitors; busy - pnad - bench_cpu is other load. */
	double wall, busy, kdamond;
	/* the busiest other processes meanwhile (not pnad's, not the bench) */
	struct bench_proc_busy others[BENCH_PROCS_BUSIEST];
	uint64_t shm_bytes, rss_bytes;
	struct bench_books b;
};

struct bench_run_result {
	struct bench_run_opts o;
	struct bench_machine m;
	uint32_t subs_made;
	uint64_t fan_max;	     /* subscribers of the most subscribed account */
	struct bench_phase max, lat; /* max: the median round */
	struct bench_phase warm;     /* the max phase's warm-up run */
	uint32_t rounds;	     /* of the max phase, done */
	uint32_t median;	     /* which one max is */
	struct bench_phase round[BENCH_ROUNDS_MAX];
	double round_base[BENCH_ROUNDS_MAX]; /* each round's baseline */
	/* The relay baseline of the median round: the relay runs just before
	 * and just after it, joined, run the way that was faster after the
	 * warm-up (GSO groups or one datagram per send, at those rates): the
	 * limit of this machine. */
	bool base_ran, base_gso;
	uint64_t base_datagrams;
	double base_secs, base_rate, base_cpu;
	double base_rate_gso, base_rate_single;
	double ratio; /* max.notifies_per_s / base_rate */
	/* The relay again, paced at the latency phase's rate over its events,
	 * writing each NOTIFY for its event so the sink times it as it times
	 * pnad's (GSO groups): the latency a one-process relay gets on this
	 * machine at that load. Its CPU seconds apart (cpu is pnad's). */
	struct bench_phase base_lat;
	double base_lat_cpu;
	double shm_per_sub_fit; /* read back from a sweep over subs: the fit's slope */
	/* The host's stalls of busy CPUs, probed just before the latency
	 * phase (stalls.secs 0: not probed): the floor under its tail. */
	struct bench_stall stalls;
};

/* Defaults of `pna-bench run` (the short run of `make bench`). */
void bench_run_defaults(struct bench_run_opts *o);
/* Run the phases. 0, or -errno when pnad could not be measured (reported). */
int bench_run_exec(const struct bench_run_opts *o, struct bench_run_result *r);
/* Every phase's books balance: the warm-up, each round, the latency phase. */
bool bench_run_balanced(const struct bench_run_result *r);
/* The readable summary. */
void bench_run_print(FILE *f, const struct bench_run_result *r);
/* The result as one JSON object (member `key`, or the top value). */
void bench_run_json(struct bench_json *j, const char *key, const struct bench_run_result *r);
/* A result read back from a --json file (the members bench_plan needs).
 * 0 or -errno / -EINVAL with a reason on stderr. */
int bench_run_load(const char *path, struct bench_run_result *r);

/* Parse run's options into o (which holds the defaults to start from).
 * 0, or -EINVAL after a message on stderr; --help prints and exits. */
int bench_run_parse(int argc, char **argv, struct bench_run_opts *o);
/* Fill o->pnad (the binary next to pna-bench, in pnad[plen]) when unset,
 * o->dir (a fresh temporary directory, in dir[dlen]) and o->progress (stderr
 * is a terminal). 0 or -errno (reported). */
int bench_run_setup(struct bench_run_opts *o, char *pnad, size_t plen, char *dir, size_t dlen);

int bench_run_main(int argc, char **argv);

#endif
