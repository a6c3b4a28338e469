/* bench_stall: spinners that time how long the host keeps them off their
 * CPUs. See bench_stall.h. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_stall.h"

struct spinner {
	pthread_t t;
	const int *go; /* 0: wait, 1: spin, -1: return (a sibling did not start) */
	double secs;
	struct bench_stall_cpu r;
};

/* Seconds this thread has waited on a run queue (the second field of
 * /proc/thread-self/schedstat, in ns); -1 when the kernel does not say. */
static double run_delay(void)
{
	unsigned long long run, wait;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	int n = f ? fscanf(f, "%llu %llu", &run, &wait) : 0;

	if (f)
		fclose(f);
	return n == 2 ? (double)wait / 1e9 : -1;
}

static void gap(struct bench_stall_cpu *r, double g)
{
	if (g <= BENCH_STALL_MIN_S)
		return;
	r->stalls++;
	r->long_stalls += g > BENCH_STALL_LONG_S;
	r->lost += g;
	r->longest = g > r->longest ? g : r->longest;
}

static void *spin(void *arg)
{
	struct spinner *s = arg;
	double d0, d1, t0, prev, t;
	int go;

	/* all start together: the stalls of one CPU depend on the others' load */
	while ((go = __atomic_load_n(s->go, __ATOMIC_ACQUIRE)) == 0)
		sched_yield(); /* the main thread may need this CPU to start the rest */
	if (go < 0)
		return NULL;
	d0 = run_delay();
	t0 = prev = t = bench_now();
	while (t - t0 < s->secs) {
		t = bench_now();
		gap(&s->r, t - prev);
		prev = t;
	}
	d1 = run_delay();
	s->r.secs = t - t0;
	s->r.run_delay = d0 >= 0 && d1 >= 0 ? d1 - d0 : -1;
	return NULL;
}

/* The first BENCH_STALL_CPUS of the CPUs this process may run on into
 * cpus, and how many it may run on in all (*all): how many went into
 * cpus, or -errno. */
static int allowed_cpus(int *cpus, uint32_t *all)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	*all = (uint32_t)CPU_COUNT(&set);
	for (int c = 0; c < CPU_SETSIZE && n < BENCH_STALL_CPUS; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static int start_spinner(struct spinner *s, int cpu)
{
	pthread_attr_t a;
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	s->r.cpu = cpu;
	if ((rc = pthread_attr_init(&a)) != 0)
		return -rc;
	rc = pthread_attr_setaffinity_np(&a, sizeof(set), &set);
	if (rc == 0)
		rc = pthread_create(&s->t, &a, spin, s);
	pthread_attr_destroy(&a);
	return -rc;
}

static void sum_up(struct bench_stall *out)
{
	struct bench_stall_cpu *a = &out->all;

	*a = (struct bench_stall_cpu){ .cpu = -1 };
	for (uint32_t i = 0; i < out->ncpu; i++) {
		const struct bench_stall_cpu *c = &out->cpu[i];

		a->secs += c->secs;
		a->stalls += c->stalls;
		a->long_stalls += c->long_stalls;
		a->lost += c->lost;
		a->longest = c->longest > a->longest ? c->longest : a->longest;
		/* the wait is counted from the first tick queued, so it may
		 * show a little above the gaps it made */
		if (a->run_delay >= 0)
			a->run_delay = c->run_delay < 0 ? -1
							: a->run_delay + (c->run_delay < c->lost
										  ? c->run_delay
										  : c->lost);
	}
}

/* Of the spinners' time, the share lost in stalls. */
static double lost_frac(const struct bench_stall_cpu *a)
{
	return a->secs > 0 ? a->lost / a->secs : 0;
}

/* Of the lost time, the share the guest kept them queued; < 0: unknown. */
static double queued_frac(const struct bench_stall_cpu *a)
{
	return a->run_delay < 0 ? -1 : a->lost > 0 ? a->run_delay / a->lost : 0;
}

int bench_stall_probe(double secs, uint32_t ncpu, struct bench_stall *out)
{
	struct spinner sp[BENCH_STALL_CPUS];
	int cpus[BENCH_STALL_CPUS];
	uint32_t all = 0;
	int n = allowed_cpus(cpus, &all), started = 0, go = 0, rc = 0;
	struct bench_procs before = { 0 };
	bool others;

	memset(out, 0, sizeof(*out));
	memset(sp, 0, sizeof(sp));
	out->secs = secs;
	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	n = ncpu && ncpu < (uint32_t)n ? (int)ncpu : n;
	for (; started < n; started++) {
		sp[started].go = &go;
		sp[started].secs = secs;
		if ((rc = start_spinner(&sp[started], cpus[started])) < 0)
			break;
	}
	others = started == n && bench_procs_read(&before) == 0;
	__atomic_store_n(&go, started < n ? -1 : 1, __ATOMIC_RELEASE);
	for (int i = 0; i < started; i++)
		pthread_join(sp[i].t, NULL);
	if (started < n)
		return rc;
	if (others)
		bench_procs_busiest(&before, NULL, 0, out->others, NULL);
	bench_procs_free(&before);
	out->ncpu = (uint32_t)n;
	out->ncpu_all = all;
	for (int i = 0; i < n; i++)
		out->cpu[i] = sp[i].r;
	sum_up(out);
	return 0;
}

void bench_stall_print(FILE *f, const char *indent, const struct bench_stall *s)
{
	fprintf(f,
		"%sstalls of busy CPUs (%.1f s, %u of %u spinning): %.2f %% of their time lost in "
		"%llu stalls > %.1f ms, %llu > %.0f ms, the longest %.2f ms",
		indent, s->secs, s->ncpu, s->ncpu_all, 100 * lost_frac(&s->all),
		(unsigned long long)s->all.stalls, BENCH_STALL_MIN_S * 1e3,
		(unsigned long long)s->all.long_stalls, BENCH_STALL_LONG_S * 1e3,
		s->all.longest * 1e3);
	if (queued_frac(&s->all) >= 0 && s->all.stalls)
		fprintf(f,
			"; %.0f %% of it queued behind other tasks, the rest interrupts or "
			"the hypervisor",
			100 * queued_frac(&s->all));
	bench_procs_print(f, "; meanwhile ran ", s->others, 1e3, 1, " ms");
	fputc('\n', f);
}

/* The figures a CPU and the sum share. */
static void json_counts(struct bench_json *j, const struct bench_stall_cpu *c)
{
	bench_json_int(j, "stalls", (int64_t)c->stalls);
	bench_json_int(j, "long_stalls", (int64_t)c->long_stalls);
	bench_json_num(j, "lost_s", c->lost);
	bench_json_num(j, "longest_s", c->longest);
	bench_json_num(j, "run_delay_s", c->run_delay);
}

void bench_stall_json(struct bench_json *j, const char *key, const struct bench_stall *s)
{
	bench_json_obj(j, key);
	bench_json_num(j, "seconds", s->secs);
	bench_json_int(j, "cpus_allowed", s->ncpu_all);
	json_counts(j, &s->all);
	bench_json_num(j, "lost_fraction", lost_frac(&s->all));
	bench_json_num(j, "queued_fraction", queued_frac(&s->all));
	bench_procs_json(j, "others", s->others, "cpu_s", 1);
	bench_json_arr(j, "cpus");
	for (uint32_t i = 0; i < s->ncpu; i++) {
		bench_json_obj(j, NULL);
		bench_json_int(j, "cpu", s->cpu[i].cpu);
		bench_json_num(j, "seconds", s->cpu[i].secs);
		json_counts(j, &s->cpu[i]);
		bench_json_end(j);
	}
	bench_json_end(j);
	bench_json_end(j);
}

/* --- pna-bench stalls --- */

static void usage(FILE *f)
{
	fprintf(f, "usage: pna-bench stalls [options]\n"
		   "  -t, --secs S          spin S seconds on every CPU at once (5)\n"
		   "  -n, --cpus N          only on the first N CPUs: the others stay free\n"
		   "                        for other tasks (0: every CPU)\n"
		   "  -j, --json FILE       write the figures as JSON\n"
		   "How long this host keeps a busy thread off its CPU: the floor under\n"
		   "any latency measured here (docs/capacity.md).\n");
}

static void print_cpus(const struct bench_stall *s)
{
	for (uint32_t i = 0; i < s->ncpu; i++) {
		const struct bench_stall_cpu *c = &s->cpu[i];

		printf("  cpu %d: %llu stalls (%llu > %.0f ms), %.1f ms lost, the longest "
		       "%.2f ms",
		       c->cpu, (unsigned long long)c->stalls, (unsigned long long)c->long_stalls,
		       BENCH_STALL_LONG_S * 1e3, c->lost * 1e3, c->longest * 1e3);
		if (c->run_delay >= 0)
			printf(", queued %.1f ms", c->run_delay * 1e3);
		putchar('\n');
	}
}

int bench_stall_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "secs", 1, 0, 't' }, { "cpus", 1, 0, 'n' }, { "json", 1, 0, 'j' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
	};
	struct bench_stall *s;
	struct bench_json *j;
	const char *json = NULL;
	double secs = 5;
	uint64_t ncpu = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "t:n:j:h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (bench_opt_real("stalls", "secs", optarg, 3600, &secs) < 0)
				return 2;
			break;
		case 'n':
			if (bench_opt_num("stalls", "cpus", optarg, 0, BENCH_STALL_CPUS, &ncpu) < 0)
				return 2;
			break;
		case 'j':
			json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || secs <= 0) {
		usage(stderr);
		return 2;
	}
	if (!(s = malloc(sizeof(*s))))
		abort();
	if ((rc = bench_stall_probe(secs, (uint32_t)ncpu, s)) < 0) {
		fprintf(stderr, "pna-bench stalls: %s\n", strerror(-rc));
		free(s);
		return 3;
	}
	bench_stall_print(stdout, "pna-bench stalls: ", s);
	print_cpus(s);
	rc = 0;
	if (json && (rc = bench_json_open(json, &j)) == 0) {
		bench_stall_json(j, NULL, s);
		rc = bench_json_close(j);
	}
	if (rc < 0)
		fprintf(stderr, "pna-bench stalls: %s: %s\n", json, strerror(-rc));
	free(s);
	return rc < 0 ? 3 : 0;
}
