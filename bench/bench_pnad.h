/* bench_pnad: a pnad started by pna-bench. It writes a config into a
 * temporary directory, starts build/pnad as a child, waits until it listens,
 * reads the shards' and the router's counters straight from their segments
 * (read-only), measures the CPU time of pnad's processes by role, and stops
 * it with SIGTERM. Runs in the pna-bench process. */
#ifndef PNA_BENCH_PNAD_H
#define PNA_BENCH_PNAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "egress/sip/sip_dlg.h"
#include "egress/xmpp/xmpp_seg.h"
#include "lib/shm.h"
#include "shard/sub_seg.h"

#define BENCH_PNAD_MAX_SHARDS 64
#define BENCH_PNAD_MAX_PROCS 64

struct bench_pnad_opts {
	const char *path;	/* the pnad binary */
	const char *dir;	/* config, log and control socket go here */
	const char *label;	/* names the files: pnad-<label>.conf/.log */
	uint32_t shards;	/* 1..BENCH_PNAD_MAX_SHARDS */
	uint32_t stores;	/* stores "b0".."b<stores-1>" */
	const char *credential; /* of every store */
	const char *ring_bytes; /* config value, "16M" */
	uint64_t mailboxes;	/* per shard */
	const char *extra;	/* more config lines (keys not set above), or NULL */
};

/* A running pnad. Filled by bench_pnad_start; the caller owns the struct
 * (embed it) and ends it with bench_pnad_stop. */
struct bench_pnad {
	pid_t pid;     /* the supervisor; 0 once reaped */
	uint16_t port; /* ingest */
	uint16_t admin_port;
	char name[32]; /* segment prefix: bench<pid of pna-bench> */
	char conf[4200], log[4200];
	uint32_t nshards;
	struct shm_seg shard[BENCH_PNAD_MAX_SHARDS];
	struct shm_seg router;			    /* base NULL when not attached */
	struct shm_seg subs[BENCH_PNAD_MAX_SHARDS]; /* base NULL when not attached */
	struct shm_seg sip;			    /* attached on first use */
	struct shm_seg xmpp;			    /* likewise */
	pid_t procs[BENCH_PNAD_MAX_PROCS];	    /* see bench_pnad_cpu_begin */
	double cpu0[BENCH_PNAD_MAX_PROCS];
	uint64_t sleeps0[BENCH_PNAD_MAX_PROCS], preempted0[BENCH_PNAD_MAX_PROCS];
	size_t nprocs;
};

/* The shards' counters, summed. */
struct bench_shard_sum {
	uint64_t applied, replayed, no_state, table_full;
};

/* The roles of pnad's processes, as bench_pnad_cpu_end tells them apart. */
enum bench_pnad_role {
	BENCH_PNAD_ROLE_ROUTER,
	BENCH_PNAD_ROLE_SHARDS,
	BENCH_PNAD_ROLE_SIP,
	BENCH_PNAD_ROLE_XMPP,
	BENCH_PNAD_ROLE_ADMIN,
	BENCH_PNAD_ROLE_OTHER, /* the supervisor */
	BENCH_PNAD_ROLES
};

/* What pnad's processes used between cpu_begin and cpu_end: CPU seconds by
 * role, and how often each role slept (voluntary context switches: a
 * wake-up each, the paced regime's cost on a VM) and was preempted
 * (involuntary ones). */
struct bench_pnad_cpu {
	double total, router, shards, sip, xmpp, admin;
	double other; /* the supervisor */
	uint64_t sleeps[BENCH_PNAD_ROLES], preempted[BENCH_PNAD_ROLES];
};

/* Write the config (segments from an earlier pnad of this name removed
 * first), start pnad, wait up to 10 s for its port and attach its segments.
 * 0, or -errno after printing why and pnad's log (nothing left running). */
int bench_pnad_start(const struct bench_pnad_opts *o, struct bench_pnad *p);
/* Print "pnad <what>" and the tail of pnad's log on stderr. */
void bench_pnad_failed(const struct bench_pnad *p, const char *what);
/* 0 while pnad runs; -ECHILD (reported, reaped) once it has exited. */
int bench_pnad_check_alive(struct bench_pnad *p);
/* Events the shards have taken off their rings, however they counted them;
 * the counters in *sum (may be NULL). */
uint64_t bench_pnad_taken(const struct bench_pnad *p, struct bench_shard_sum *sum);
/* The router's counters (all 0 when its segment is not attached). */
struct bench_router_sum {
	uint64_t frames, acks, backpressure; /* backpressure: pauses on a full ring */
};

void bench_pnad_router(const struct bench_pnad *p, struct bench_router_sum *sum);
/* The shards' subscription counters, summed (zero when unattached). */
void bench_pnad_subs(const struct bench_pnad *p, struct sub_counters *sum);
/* The SIP worker's counters (zero without a SIP worker). */
void bench_pnad_sip(struct bench_pnad *p, struct sip_counters *c);
/* The XMPP worker's counters (zero without an XMPP worker). */
void bench_pnad_xmpp(struct bench_pnad *p, struct xmpp_counters *c);
/* Matches that will not be a notification of their own, so far: folded
 * into a pending note by the shard, found taken by a worker, or folded into
 * the NOTIFY after the one in flight. */
uint64_t bench_pnad_folded(struct bench_pnad *p);
/* Memory pnad holds: shared memory pages in use (its /dev/shm segments'
 * allocated blocks) and the resident set of its processes (VmRSS, shared
 * pages counted in each process that touched them, as ps shows). */
void bench_pnad_memory(const struct bench_pnad *p, uint64_t *shm_bytes, uint64_t *rss_bytes);
/* Note pnad's processes (the supervisor and its descendants) and their CPU
 * time; bench_pnad_cpu_end gives what each role used since. */
void bench_pnad_cpu_begin(struct bench_pnad *p);
void bench_pnad_cpu_end(const struct bench_pnad *p, struct bench_pnad_cpu *c);
/* Detach, SIGTERM and wait (SIGKILL after 10 s), remove the segments; a
 * non-zero exit is reported with the log. */
void bench_pnad_stop(struct bench_pnad *p);

#endif
