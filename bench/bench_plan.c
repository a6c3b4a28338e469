/* bench_plan: `pna-bench plan`, a deployment sized from measured figures.
 * The rates to carry come from the provider's numbers (draft section 2.1:
 * events grow as O(N) with incoming mail); the cost of each rate comes from
 * a `pna-bench run --json` report measured on the provider's hardware: CPU
 * seconds per event for the router and the shards, per NOTIFY for the SIP
 * worker, shared memory per subscription. Output: a table, and a chart
 * (PNG and SVG through gnuplot) of the cores per role. */
#include "bench/bench_plan.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_plot.h"
#include "bench/bench_run.h"

/* Bytes of one mailbox's state in a shard (the record and its index slot,
 * shard/shard_state.c's layout; `pna-bench subs` prints the table sizes). */
#define MAILBOX_STATE_BYTES 330.0

struct plan_in {
	struct bench_plan_need n;
	const char *measured, *chart;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pna-bench plan --mailboxes N --measured run.json [options]\n"
		   "  --mailboxes N          mailboxes served (k, M suffixes)\n"
		   "  --msgs-per-day N       messages delivered per mailbox per day (80)\n"
		   "  --events-per-msg N     store events per message: new, read, expunge... (4)\n"
		   "  --peak-factor N        peak hour rate / daily mean (4)\n"
		   "  --subs-per-mailbox N   subscriptions per mailbox (1.5)\n"
		   "  --measured FILE        `pna-bench run --json` (or sweep) report\n"
		   "  --cores-per-host N     (16)    --mem-per-host BYTES (64G)\n"
		   "  --utilisation F        busiest share of a core to plan for (0.6)\n"
		   "  --redis-bytes-per-sub N  Redis memory per subscription (400)\n"
		   "  --chart PREFIX         write PREFIX.png and PREFIX.svg (gnuplot)\n");
}

static int dbl(const char *name, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (*end == 'k')
		v *= 1e3, end++;
	else if (*end == 'M')
		v *= 1e6, end++;
	else if (*end == 'G')
		v *= 1e9, end++;
	if (end == s || *end || !(v > 0) || !isfinite(v)) {
		fprintf(stderr, "pna-bench plan: --%s %s: expected a positive number\n", name, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse(int argc, char **argv, struct plan_in *in)
{
	static const struct option lo[] = {
		{ "mailboxes", 1, 0, 0 },
		{ "msgs-per-day", 1, 0, 0 },
		{ "events-per-msg", 1, 0, 0 },
		{ "peak-factor", 1, 0, 0 },
		{ "subs-per-mailbox", 1, 0, 0 },
		{ "cores-per-host", 1, 0, 0 },
		{ "mem-per-host", 1, 0, 0 },
		{ "utilisation", 1, 0, 0 },
		{ "redis-bytes-per-sub", 1, 0, 0 },
		{ "measured", 1, 0, 0 },
		{ "chart", 1, 0, 0 },
		{ "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct bench_plan_need *n = &in->n;
	double *dst[] = { &n->mailboxes,    &n->msgs_per_day,	  &n->events_per_msg,
			  &n->peak,	    &n->subs_per_mailbox, &n->cores_per_host,
			  &n->mem_per_host, &n->utilisation,	  &n->redis_bytes_per_sub };
	int c, li, rc = 0;

	*in = (struct plan_in){ .n = { .msgs_per_day = 80,
				       .events_per_msg = 4,
				       .peak = 4,
				       .subs_per_mailbox = 1.5,
				       .cores_per_host = 16,
				       .mem_per_host = 64e9,
				       .utilisation = 0.6,
				       .redis_bytes_per_sub = 400 } };
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", lo, &li)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c != 0) {
			usage(stderr);
			return -EINVAL;
		}
		if (li < 9)
			rc = dbl(lo[li].name, optarg, dst[li]);
		else if (li == 9)
			in->measured = optarg;
		else
			in->chart = optarg;
	}
	if (rc == 0 && (!n->mailboxes || !in->measured || optind != argc)) {
		usage(stderr);
		rc = -EINVAL;
	}
	if (rc == 0 && n->utilisation > 1) {
		fprintf(stderr, "pna-bench plan: --utilisation is a share of a core (0..1]\n");
		rc = -EINVAL;
	}
	return rc;
}

void bench_plan_compute(const struct bench_plan_measured *m, const struct bench_plan_need *n,
			struct bench_plan_result *r)
{
	memset(r, 0, sizeof(*r));
	r->ev_avg = n->mailboxes * n->msgs_per_day * n->events_per_msg / 86400.0;
	r->ev_peak = r->ev_avg * n->peak;
	r->notif_peak = r->ev_peak * n->subs_per_mailbox;
	r->subs = n->mailboxes * n->subs_per_mailbox;
	r->router_cores = r->ev_peak * m->router_s_per_event / n->utilisation;
	r->shard_cores = r->ev_peak * m->shard_s_per_event / n->utilisation;
	r->sip_cores = r->notif_peak * m->sip_s_per_notify / n->utilisation;
	r->cores = r->router_cores + r->shard_cores + r->sip_cores;
	r->mem_bytes = r->subs * m->shm_per_sub + n->mailboxes * MAILBOX_STATE_BYTES;
	r->redis_bytes = r->subs * n->redis_bytes_per_sub;
	r->hosts_cpu = ceil(r->cores / n->cores_per_host);
	r->hosts_mem = ceil(r->mem_bytes / n->mem_per_host);
	/* One router and one SIP worker per host, each a single process: a
	 * role needing more than a core needs more hosts. */
	r->hosts_roles = ceil(r->router_cores > r->sip_cores ? r->router_cores : r->sip_cores);
	r->hosts = r->hosts_cpu > r->hosts_mem ? r->hosts_cpu : r->hosts_mem;
	r->hosts = r->hosts > r->hosts_roles ? r->hosts : r->hosts_roles;
	if (r->hosts < 1)
		r->hosts = 1;
}

/* CPU seconds per event (router, shards) and per NOTIFY (SIP worker) in
 * phase p. */
static void phase_costs(const struct bench_phase *p, struct bench_plan_costs *c)
{
	uint64_t nt = p->b.received - p->b.repeats;

	c->router = p->cpu.router / (double)p->b.events_applied;
	c->shard = p->cpu.shards / (double)p->b.events_applied;
	c->sip = nt ? p->cpu.sip / (double)nt : 0;
}

/* Per-unit costs out of a run report. */
static int measured(const char *path, struct bench_plan_measured *m)
{
	struct bench_run_result *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		abort();
	rc = bench_run_load(path, r);
	if (rc == 0) {
		phase_costs(&r->max, &m->max);
		m->paced_ran = r->lat.ran;
		if (m->paced_ran)
			phase_costs(&r->lat, &m->paced);
		/* A host sized for its peak runs below its maximum, as the
		 * paced latency phase does: there every stage sleeps and wakes
		 * for each frame, and on a VM that can double the CPU per
		 * event. Each role is sized on the costlier of the two. */
		m->router_s_per_event = fmax(m->max.router, m->paced.router);
		m->shard_s_per_event = fmax(m->max.shard, m->paced.shard);
		m->sip_s_per_notify = fmax(m->max.sip, m->paced.sip);
		/* A sweep's slope leaves the fixed costs (rings, outbox) out; a
		 * single run's total over its subscriptions includes them. */
		m->shm_per_sub = r->shm_per_sub_fit > 0 ? r->shm_per_sub_fit
							: (double)r->max.shm_bytes / r->subs_made;
		m->shm_from_fit = r->shm_per_sub_fit > 0;
		m->cpus = r->m.nproc;
	}
	free(r);
	return rc;
}

static void print(const struct plan_in *in, const struct bench_plan_measured *m,
		  const struct bench_plan_result *r)
{
	char a[16], b[16], c[16],
		paced[160] = "no paced phase in the report (a run with a latency phase has one)";

	if (m->paced_ran)
		snprintf(paced, sizeof(paced),
			 "paced latency phase: router %.2f, shards %.2f, SIP worker %.2f us; "
			 "each role sized on the costlier",
			 m->paced.router * 1e6, m->paced.shard * 1e6, m->paced.sip * 1e6);
	printf("pna-bench plan: %s mailboxes, %.0f messages/day each, %.1f events per message, "
	       "peak %.1fx, %.2f subscriptions per mailbox\n",
	       bench_si(a, sizeof(a), in->n.mailboxes), in->n.msgs_per_day, in->n.events_per_msg,
	       in->n.peak, in->n.subs_per_mailbox);
	printf("measured (%s, %ld CPUs): router %.2f us/event, shards %.2f us/event, "
	       "SIP worker %.2f us/NOTIFY, %.0f B shared memory per subscription (%s)\n",
	       in->measured, m->cpus, m->router_s_per_event * 1e6, m->shard_s_per_event * 1e6,
	       m->sip_s_per_notify * 1e6, m->shm_per_sub,
	       m->shm_from_fit
		       ? "the sweep's slope"
		       : "a run's total: fixed costs included, a sweep over subs gives the slope");
	printf("  max phase: router %.2f, shards %.2f, SIP worker %.2f us; %s\n",
	       m->max.router * 1e6, m->max.shard * 1e6, m->max.sip * 1e6, paced);
	printf("\n| quantity | value |\n| --- | --- |\n");
	printf("| events/s, daily mean | %s |\n", bench_si(a, sizeof(a), r->ev_avg));
	printf("| events/s, peak | %s |\n", bench_si(a, sizeof(a), r->ev_peak));
	printf("| NOTIFYs/s, peak (no coalescing) | %s |\n", bench_si(a, sizeof(a), r->notif_peak));
	printf("| subscriptions | %s |\n", bench_si(a, sizeof(a), r->subs));
	printf("| router cores (at %.0f %% busy) | %.2f |\n", in->n.utilisation * 100,
	       r->router_cores);
	printf("| shard cores | %.2f |\n", r->shard_cores);
	printf("| SIP worker cores | %.2f |\n", r->sip_cores);
	printf("| cores in all | %.2f |\n", r->cores);
	printf("| shared memory (subscriptions + mailbox state) | %sB |\n",
	       bench_si(b, sizeof(b), r->mem_bytes));
	printf("| Redis memory (at %.0f B per subscription) | %sB |\n", in->n.redis_bytes_per_sub,
	       bench_si(c, sizeof(c), r->redis_bytes));
	printf("| hosts of %.0f cores / %sB (by CPU, by memory, by one router and one SIP "
	       "worker per host) | **%.0f** (%.0f, %.0f, %.0f) |\n",
	       in->n.cores_per_host, bench_si(a, sizeof(a), in->n.mem_per_host), r->hosts,
	       r->hosts_cpu, r->hosts_mem, r->hosts_roles);
}

static int chart(const char *prefix, const struct bench_plan_result *r)
{
	char data[4200];
	FILE *f;

	snprintf(data, sizeof(data), "%s.dat", prefix);
	if (!(f = fopen(data, "w")))
		return -errno;
	fprintf(f, "router %.4f\nshards %.4f\nSIP %.4f\n", r->router_cores, r->shard_cores,
		r->sip_cores);
	fclose(f);
	return bench_plot(prefix,
			  "set title 'cores per role at peak'\nset style fill solid 0.6\n"
			  "set boxwidth 0.6\nset ylabel 'cores'\nset yrange [0:*]\n"
			  "plot DATA using 0:2:xtic(1) with boxes notitle",
			  data);
}

int bench_plan_main(int argc, char **argv)
{
	struct plan_in in;
	struct bench_plan_measured m = { 0 };
	struct bench_plan_result r;
	int rc;

	if (parse(argc, argv, &in) < 0)
		return 2;
	if (measured(in.measured, &m) < 0)
		return 2;
	bench_plan_compute(&m, &in.n, &r);
	print(&in, &m, &r);
	if (in.chart && (rc = chart(in.chart, &r)) < 0) {
		fprintf(stderr, "pna-bench plan: chart %s: %s\n", in.chart, strerror(-rc));
		return 3;
	}
	if (in.chart)
		printf("\nchart: %s.png, %s.svg\n", in.chart, in.chart);
	return 0;
}
