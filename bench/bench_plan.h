/* bench_plan: `pna-bench plan`, sizing a deployment from measured figures
 * (see bench_plan.c). The computation is pure, so a test can check it. */
#ifndef PNA_BENCH_PLAN_H
#define PNA_BENCH_PLAN_H

#include <stdbool.h>

/* What the provider must carry. */
struct bench_plan_need {
	double mailboxes, msgs_per_day, events_per_msg, peak, subs_per_mailbox;
	double cores_per_host, mem_per_host; /* bytes */
	double utilisation;		     /* share of a core planned busy */
	double redis_bytes_per_sub;
};

/* CPU seconds per event (router, shards) and per NOTIFY (SIP worker). */
struct bench_plan_costs {
	double router, shard, sip;
};

/* What one event and one NOTIFY cost, from a run report: per role the
 * costlier of the max phase and the paced latency phase (when it ran). */
struct bench_plan_measured {
	struct bench_plan_costs max, paced;
	bool paced_ran;
	double router_s_per_event, shard_s_per_event, sip_s_per_notify; /* CPU s */
	double shm_per_sub;						/* bytes */
	bool shm_from_fit; /* shm_per_sub is a sweep's slope */
	long cpus;
};

struct bench_plan_result {
	double ev_avg, ev_peak, notif_peak, subs; /* per second; count */
	double router_cores, shard_cores, sip_cores, cores;
	double mem_bytes, redis_bytes;
	double hosts_cpu, hosts_mem, hosts_roles, hosts;
};

void bench_plan_compute(const struct bench_plan_measured *m, const struct bench_plan_need *n,
			struct bench_plan_result *r);
int bench_plan_main(int argc, char **argv);

#endif
