/* bench_ingest: options, the pnad and baseline runs of `pna-bench ingest`,
 * and its report (table on stdout, progress on stderr, --json document). */
#include "bench/bench_ingest.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_load.h"
#include "bench/bench_pnad.h"
#include "bench/bench_sink.h"
#include "bench/bench_util.h"
#include "pnad/pnad_conf.h"

#define MAX_REPEAT 32
#define CREDENTIAL "secret"
#define RING_BYTES "16M"     /* default --ring-bytes */
#define MAX_FRAME (1u << 20) /* pnad's default max_frame */

enum { MODE_BATCHED, MODE_UNBATCHED, NMODES };

static const char *const mode_names[NMODES] = { "batched", "unbatched" };
/* Targets on 2 cores (docs/capacity.md). */
static const double target_rate[NMODES] = { 1.5e6, 250e3 };
#define TARGET_RATIO 0.5
#define MIN_LOAD_WINDOW 0.25 /* seconds */
#define OTHER_LOAD_WARN 0.25 /* CPUs */

struct ingest_opts {
	uint32_t conns, accounts, shards, repeat, per_frame;
	uint64_t events[NMODES];
	bool mode_on[NMODES];
	const char *pnad, *json, *ring_bytes;
	double timeout;	     /* seconds without progress before giving up */
	uint64_t read_bytes; /* baseline read() size */
	bool check, keep;
	char pnad_buf[4096];
};

/* Figures of one timed run. CPU seconds are those used inside the window. */
struct run {
	double secs, rate;
	struct bench_pnad_cpu cpu; /* baseline: total (the reader) only */
	double sender_cpu;
	double bench_cpu;		/* pna-bench itself: sender and poller */
	double other_load;		/* CPUs busy with other work in the window */
	double ack_secs;		/* pnad: start to last ack */
	struct bench_shard_sum shards;	/* pnad: the shards' counters at the end */
	struct bench_router_sum router; /* pnad: the router's counters in the window */
};

struct mode_res {
	int mode;
	uint32_t per_frame;
	struct bench_streams ss;
	uint32_t n; /* runs done of each kind */
	struct run pnad[MAX_REPEAT], base[MAX_REPEAT];
	struct run dec[MAX_REPEAT]; /* the decoding reader, for reference */
};

/* --- options --- */

void bench_ingest_usage(FILE *f)
{
	fprintf(f, "usage: pna-bench ingest [options]\n"
		   "  -c, --connections N       mail-store connections (4)\n"
		   "  -e, --events N            events of the batched mode (2M)\n"
		   "  -u, --unbatched-events N  events of the unbatched mode (500k)\n"
		   "  -b, --batch N             events per frame of the batched mode (64)\n"
		   "  -a, --accounts N          accounts the events spread over (10000)\n"
		   "  -s, --shards N            pnad shard processes (1)\n"
		   "  -r, --repeat N            runs of each (pnad, baseline) pair; median (3)\n"
		   "  -m, --mode MODE           batched, unbatched or both (both)\n"
		   "  -p, --pnad PATH           pnad binary (next to pna-bench)\n"
		   "  -j, --json FILE           write every figure as JSON to FILE\n"
		   "  -t, --timeout SEC         give up after SEC without progress (60)\n"
		   "      --ring-bytes N        pnad's ring_bytes, per shard (16M)\n"
		   "      --read-bytes N        baseline read() size (256K)\n"
		   "      --check               exit 1 when a target is missed\n"
		   "      --keep                keep the temporary directory (configs, logs)\n"
		   "Counts take k/M/G suffixes (x1000; x1024 for the byte sizes).\n");
}

/* A count with an optional k/M/G suffix (times `unit`, its powers). */
static int parse_count(const char *s, uint64_t unit, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		mul = unit;
		end++;
		break;
	case 'm':
	case 'M':
		mul = unit * unit;
		end++;
		break;
	case 'g':
	case 'G':
		mul = unit * unit * unit;
		end++;
		break;
	default:
		break;
	}
	if (*end || v > max / mul || v * mul < min || v * mul > max)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int opt_u32(const char *name, const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (parse_count(s, 1000, min, max, &v) < 0) {
		fprintf(stderr, "pna-bench ingest: --%s %s: expected %u..%u\n", name, s, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int opt_mode(struct ingest_opts *o, const char *s)
{
	o->mode_on[MODE_BATCHED] = !strcmp(s, "batched") || !strcmp(s, "both");
	o->mode_on[MODE_UNBATCHED] = !strcmp(s, "unbatched") || !strcmp(s, "both");
	if (o->mode_on[MODE_BATCHED] || o->mode_on[MODE_UNBATCHED])
		return 0;
	fprintf(stderr, "pna-bench ingest: --mode %s: expected batched, unbatched or both\n", s);
	return -EINVAL;
}

static int opt_one(struct ingest_opts *o, int c, const char *arg)
{
	uint32_t secs;
	uint64_t v;

	switch (c) {
	case 'c':
		return opt_u32("connections", arg, 1, PNAD_MAX_STORES, &o->conns);
	case 'e':
	case 'u':
		if (parse_count(arg, 1000, 1, UINT32_MAX, &o->events[c == 'u']) == 0)
			return 0;
		fprintf(stderr, "pna-bench ingest: bad event count %s\n", arg);
		return -EINVAL;
	case 'b':
		return opt_u32("batch", arg, 1, 4096, &o->per_frame);
	case 'a':
		return opt_u32("accounts", arg, 1, 1u << 24, &o->accounts);
	case 's':
		return opt_u32("shards", arg, 1, BENCH_PNAD_MAX_SHARDS, &o->shards);
	case 'r':
		return opt_u32("repeat", arg, 1, MAX_REPEAT, &o->repeat);
	case 'm':
		return opt_mode(o, arg);
	case 'p':
		o->pnad = arg;
		return 0;
	case 'j':
		o->json = arg;
		return 0;
	case 't':
		if (opt_u32("timeout", arg, 1, 3600, &secs) < 0)
			return -EINVAL;
		o->timeout = secs;
		return 0;
	case 'R':
		if (parse_count(arg, 1024, 4096, 64u << 20, &o->read_bytes) == 0)
			return 0;
		fprintf(stderr, "pna-bench ingest: --read-bytes %s: expected 4K..64M\n", arg);
		return -EINVAL;
	case 'B':
		if (parse_count(arg, 1024, 64u << 10, 1u << 30, &v) == 0 && !(v & (v - 1))) {
			o->ring_bytes = arg;
			return 0;
		}
		fprintf(stderr, "pna-bench ingest: --ring-bytes %s: a power of two, 64K..1G\n",
			arg);
		return -EINVAL;
	case 'C':
		o->check = true;
		return 0;
	case 'K':
		o->keep = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_opts(int argc, char **argv, struct ingest_opts *o)
{
	static const struct option longs[] = {
		{ "connections", required_argument, NULL, 'c' },
		{ "events", required_argument, NULL, 'e' },
		{ "unbatched-events", required_argument, NULL, 'u' },
		{ "batch", required_argument, NULL, 'b' },
		{ "accounts", required_argument, NULL, 'a' },
		{ "shards", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "mode", required_argument, NULL, 'm' },
		{ "pnad", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "read-bytes", required_argument, NULL, 'R' },
		{ "ring-bytes", required_argument, NULL, 'B' },
		{ "check", no_argument, NULL, 'C' },
		{ "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	*o = (struct ingest_opts){ .conns = 4,
				   .accounts = 10000,
				   .shards = 1,
				   .repeat = 3,
				   .per_frame = 64,
				   .events = { 2000000, 500000 },
				   .mode_on = { true, true },
				   .timeout = 60,
				   .read_bytes = 256u << 10,
				   .ring_bytes = RING_BYTES };
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:e:u:b:a:s:r:m:p:j:t:h", longs, NULL)) != -1) {
		if (c == 'h') {
			bench_ingest_usage(stdout);
			exit(0);
		}
		if (opt_one(o, c, optarg) < 0) {
			bench_ingest_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc || o->accounts < o->conns) {
		fprintf(stderr, "pna-bench ingest: %s\n",
			optind < argc ? "unexpected argument"
				      : "need at least one account per connection");
		return -EINVAL;
	}
	for (int m = 0; m < NMODES; m++) {
		if (o->mode_on[m] && o->events[m] < o->conns) {
			fprintf(stderr, "pna-bench ingest: fewer %s events than connections\n",
				mode_names[m]);
			return -EINVAL;
		}
	}
	return 0;
}

static int find_pnad(struct ingest_opts *o)
{
	char dir[4000];

	if (!o->pnad) {
		if (bench_self_dir(dir, sizeof(dir)) < 0)
			snprintf(dir, sizeof(dir), "build");
		snprintf(o->pnad_buf, sizeof(o->pnad_buf), "%s/pnad", dir);
		o->pnad = o->pnad_buf;
	}
	if (access(o->pnad, X_OK) == 0)
		return 0;
	fprintf(stderr,
		"pna-bench ingest: no pnad at %s (%s): build it with `make` or give --pnad PATH\n",
		o->pnad, strerror(errno));
	return -ENOENT;
}

/* --- pnad runs --- */

/* How long to sleep between polls: a fraction of the time the rest should
 * take at the rate so far, so the end is seen within ~0.2 ms while a long
 * run wakes the poller (which takes CPU from pnad) only ~100 times a second. */
static double poll_sleep(uint64_t done, uint64_t events, double elapsed)
{
	double rate = elapsed > 0.01 && done ? (double)done / elapsed : 1e5;
	double left = (double)(events > done ? events - done : 0) / rate / 4;

	return left < 0.0002 ? 0.0002 : left > 0.01 ? 0.01 : left;
}

/* A line on stderr, once a second, while a run goes on. */
static void progress(const char *label, uint64_t taken, uint64_t events, double secs)
{
	char a[16], b[16], c[16];

	bench_progress("%s: %s of %s events applied, %s ev/s", label,
		       bench_si(a, sizeof(a), (double)taken),
		       bench_si(b, sizeof(b), (double)events),
		       bench_si(c, sizeof(c), (double)taken / secs));
}

/* Poll the shard counters until every event is applied and acked. 0 with
 * the end time in *t1, or -errno (reported). */
static int wait_applied(struct bench_pnad *p, struct bench_sender *snd, uint64_t events, double t0,
			double stall, const char *label, double *t1)
{
	double last_change = t0, next_print = t0 + 1, next_alive = t0 + 0.1;
	struct bench_send_status st;
	struct bench_shard_sum sum;
	uint64_t last = 0;

	for (;;) {
		uint64_t taken = bench_pnad_taken(p, &sum);
		double now = bench_now();

		bench_sender_status(snd, &st);
		if (st.error) {
			fprintf(stderr, "pna-bench: %s: %s\n", label, st.reason);
			return st.error;
		}
		if (taken >= events && st.done) {
			*t1 = now;
			return 0;
		}
		if (taken + st.acked != last) {
			last = taken + st.acked;
			last_change = now;
		} else if (now - last_change > stall) {
			fprintf(stderr,
				"pna-bench: %s: no progress for %.0f s: %llu of %llu events "
				"acked, %llu taken by the shards (%llu refused: table full)\n",
				label, stall, (unsigned long long)st.acked,
				(unsigned long long)events, (unsigned long long)taken,
				(unsigned long long)sum.table_full);
			return -ETIMEDOUT;
		}
		if (now >= next_alive) {
			next_alive = now + 0.1;
			if (bench_pnad_check_alive(p) < 0)
				return -ECHILD;
		}
		if (now >= next_print) {
			next_print = now + 1;
			progress(label, taken, events, now - t0);
		}
		bench_sleep(poll_sleep(taken, events, now - t0));
	}
}

/* Machine-wide busy time at the start of a window, and the bench's own. */
struct window {
	double t, busy, self;
};

static void window_begin(struct window *w)
{
	w->busy = bench_machine_busy_seconds();
	w->self = bench_self_cpu_seconds();
	w->t = bench_now();
}

/* Close the window: the bench's CPU, and the load of everything else (the
 * busy time not used by the bench or by the measured processes). /proc/stat
 * counts in ticks (10 ms), so a window under MIN_LOAD_WINDOW gets -1. */
static void window_end(const struct window *w, double t1, struct run *r)
{
	double busy = bench_machine_busy_seconds() - w->busy;

	r->secs = t1 - w->t;
	r->bench_cpu = bench_self_cpu_seconds() - w->self;
	r->other_load = -1;
	if (w->busy >= 0 && r->secs >= MIN_LOAD_WINDOW) {
		r->other_load = (busy - r->cpu.total - r->bench_cpu) / r->secs;
		if (r->other_load < 0)
			r->other_load = 0;
	}
}

static void check_counts(const char *label, const struct run *r, uint64_t events)
{
	const struct bench_shard_sum *c = &r->shards;

	if (c->applied == events && !c->replayed && !c->no_state && !c->table_full)
		return;
	fprintf(stderr,
		"pna-bench: warning: %s: %llu events sent, the shards counted %llu applied, "
		"%llu replayed (dropped as duplicates), %llu without state, %llu refused "
		"(table full)\n",
		label, (unsigned long long)events, (unsigned long long)c->applied,
		(unsigned long long)c->replayed, (unsigned long long)c->no_state,
		(unsigned long long)c->table_full);
}

static int run_pnad(const struct ingest_opts *o, struct mode_res *m, const char *tmp,
		    const char *label, struct run *r)
{
	struct bench_sender *snd = NULL;
	struct bench_router_sum r0;
	struct bench_send_status st;
	struct bench_pnad p;
	struct window w;
	double t1 = 0;
	struct bench_pnad_opts po = { .path = o->pnad,
				      .dir = tmp,
				      .label = label,
				      .shards = o->shards,
				      .stores = o->conns,
				      .credential = CREDENTIAL,
				      .ring_bytes = o->ring_bytes,
				      .mailboxes = (uint64_t)o->accounts + o->accounts / 4 + 64 };
	char err[300];
	int rc;

	rc = bench_pnad_start(&po, &p);
	if (rc < 0)
		return rc;
	rc = bench_sender_open(&m->ss, p.port, BENCH_SEND_ACKED, o->timeout, &snd, err,
			       sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: %s: %s\n", label, err);
		bench_pnad_failed(&p, "refused the benchmark's connections");
		goto out_stop;
	}
	memset(r, 0, sizeof(*r));
	bench_pnad_cpu_begin(&p);
	bench_pnad_router(&p, &r0);
	window_begin(&w);
	rc = bench_sender_start(snd);
	if (rc == 0)
		rc = wait_applied(&p, snd, m->ss.events, w.t, o->timeout, label, &t1);
	if (rc == 0) {
		bench_pnad_cpu_end(&p, &r->cpu);
		window_end(&w, t1, r);
		bench_pnad_taken(&p, &r->shards);
		bench_pnad_router(&p, &r->router);
		r->router.frames -= r0.frames;
		r->router.acks -= r0.acks;
		r->router.backpressure -= r0.backpressure;
	}
	bench_sender_close(snd, &st);
	if (rc < 0)
		goto out_stop;
	r->rate = (double)m->ss.events / r->secs;
	r->ack_secs = st.t_acked - w.t;
	r->sender_cpu = st.cpu;
	check_counts(label, r, m->ss.events);
out_stop:
	bench_pnad_stop(&p);
	return rc;
}

/* --- baseline --- */

/* The baseline reader (decode: the decoding reader) on the same streams. */
static int run_base(const struct ingest_opts *o, struct mode_res *m, const char *label, bool decode,
		    struct run *r)
{
	struct bench_sink_opts so = { .conns = o->conns,
				      .frames = m->ss.frames + o->conns,
				      .max_frame = MAX_FRAME,
				      .read_bytes = o->read_bytes,
				      .decode = decode };
	const char *what = decode ? "decoding reader" : "baseline";
	struct bench_sender *snd = NULL;
	struct bench_sink_result res = { 0 };
	struct bench_send_status st;
	struct bench_sink *sink;
	struct window w;
	double t1, cpu0;
	char err[300];
	int rc;

	rc = bench_sink_start(&so, &sink);
	if (rc < 0) {
		fprintf(stderr, "pna-bench: %s: %s: %s\n", label, what, strerror(-rc));
		return rc;
	}
	rc = bench_sender_open(&m->ss, bench_sink_port(sink), BENCH_SEND_BLIND, o->timeout, &snd,
			       err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: %s: %s\n", label, err);
		goto out_stop;
	}
	memset(r, 0, sizeof(*r));
	cpu0 = bench_cpu_seconds(bench_sink_pid(sink));
	window_begin(&w);
	rc = bench_sender_start(snd);
	if (rc == 0)
		rc = bench_sink_wait(sink, o->timeout, &res);
	t1 = bench_now();
	r->cpu.total = bench_cpu_seconds(bench_sink_pid(sink)) - cpu0;
	window_end(&w, t1, r);
	bench_sender_close(snd, &st);
	if (rc == 0 && res.error)
		rc = res.error;
	if (rc < 0) {
		fprintf(stderr, "pna-bench: %s: %s failed: %s\n", label, what,
			rc == res.error ? res.reason : strerror(-rc));
		goto out_stop;
	}
	if (decode && res.events != m->ss.events)
		fprintf(stderr, "pna-bench: warning: %s: decoded %llu events of %llu\n", label,
			(unsigned long long)res.events, (unsigned long long)m->ss.events);
	if (st.error)
		fprintf(stderr, "pna-bench: warning: %s: %s\n", label, st.reason);
	r->rate = (double)m->ss.events / r->secs;
	r->sender_cpu = st.cpu;
out_stop:
	bench_sink_stop(sink);
	return rc;
}

/* --- report --- */

/* Medians over the runs of one mode. Per-M figures are CPU seconds per
 * million events. */
struct summary {
	double rate, secs, ack_secs, cpu_m, router_m, shards_m, other_m, sender_m;
	double base_rate, base_secs, base_cpu_m, base_sender_m;
	double dec_rate, dec_cpu_m, dec_ratio;
	double ratio, backpressure, acks, other_load;
	bool met_rate, met_ratio;
};

static double med_field(const struct run *runs, uint32_t n, size_t off, double scale)
{
	double v[MAX_REPEAT];

	for (uint32_t i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&runs[i] + off) * scale;
	return bench_median(v, n);
}

#define MED(runs, n, field, scale) med_field(runs, n, offsetof(struct run, field), scale)

/* Median other load over the windows long enough to measure it; -1 if none. */
static double other_load(const struct mode_res *m)
{
	double v[2 * MAX_REPEAT];
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->n; i++) {
		if (m->pnad[i].other_load >= 0)
			v[n++] = m->pnad[i].other_load;
		if (m->base[i].other_load >= 0)
			v[n++] = m->base[i].other_load;
	}
	return n ? bench_median(v, n) : -1;
}

static void summarize(const struct mode_res *m, struct summary *s)
{
	double per_m = 1e6 / (double)m->ss.events, bp[MAX_REPEAT];

	s->rate = MED(m->pnad, m->n, rate, 1);
	s->secs = MED(m->pnad, m->n, secs, 1);
	s->ack_secs = MED(m->pnad, m->n, ack_secs, 1);
	s->cpu_m = MED(m->pnad, m->n, cpu.total, per_m);
	s->router_m = MED(m->pnad, m->n, cpu.router, per_m);
	s->shards_m = MED(m->pnad, m->n, cpu.shards, per_m);
	s->other_m = MED(m->pnad, m->n, cpu.other, per_m);
	s->sender_m = MED(m->pnad, m->n, sender_cpu, per_m);
	s->base_rate = MED(m->base, m->n, rate, 1);
	s->base_secs = MED(m->base, m->n, secs, 1);
	s->base_cpu_m = MED(m->base, m->n, cpu.total, per_m);
	s->base_sender_m = MED(m->base, m->n, sender_cpu, per_m);
	for (uint32_t i = 0; i < m->n; i++)
		bp[i] = (double)m->pnad[i].router.backpressure;
	s->backpressure = bench_median(bp, m->n);
	for (uint32_t i = 0; i < m->n; i++)
		bp[i] = (double)m->pnad[i].router.acks;
	s->acks = bench_median(bp, m->n);
	s->other_load = other_load(m);
	s->dec_rate = MED(m->dec, m->n, rate, 1);
	s->dec_cpu_m = MED(m->dec, m->n, cpu.total, per_m);
	s->ratio = s->base_rate > 0 ? s->rate / s->base_rate : 0;
	s->dec_ratio = s->dec_rate > 0 ? s->rate / s->dec_rate : 0;
	s->met_rate = s->rate >= target_rate[m->mode];
	s->met_ratio = s->ratio >= TARGET_RATIO;
}

static void print_runs(const char *what, const struct run *runs, uint32_t n)
{
	char a[16];

	printf(" %s", what);
	for (uint32_t i = 0; i < n; i++)
		printf(" %s", bench_si(a, sizeof(a), runs[i].rate));
}

static void print_mode(const struct mode_res *m, const struct summary *s)
{
	char a[16], b[16], c[16], head[40];

	snprintf(head, sizeof(head), "ingest %-9s (%u/frame)", mode_names[m->mode], m->per_frame);
	printf("%-28s pnad %s ev/s  baseline %s ev/s  ratio %.2f  pnad cpu %.2f s/M ev\n", head,
	       bench_si(a, sizeof(a), s->rate), bench_si(b, sizeof(b), s->base_rate), s->ratio,
	       s->cpu_m);
	printf("  pnad: %.3f s (last ack at %.3f s), cpu s/M ev: router %.2f, shards %.2f, "
	       "other %.2f; sender %.2f; acks %.0f, ring-full pauses %.0f\n",
	       s->secs, s->ack_secs, s->router_m, s->shards_m, s->other_m, s->sender_m, s->acks,
	       s->backpressure);
	printf("  baseline: %.3f s, cpu s/M ev: reader %.2f; sender %.2f\n", s->base_secs,
	       s->base_cpu_m, s->base_sender_m);
	printf("  reference, a reader that also decodes (protobuf-c): %s ev/s, cpu %.2f s/M ev; "
	       "pnad at %.2f of it\n",
	       bench_si(a, sizeof(a), s->dec_rate), s->dec_cpu_m, s->dec_ratio);
	if (s->other_load > OTHER_LOAD_WARN)
		printf("  warning: other work (other processes, kernel threads) kept %.2f CPUs "
		       "busy during the runs (median): figures are pessimistic\n",
		       s->other_load);
	printf("  runs (ev/s):");
	print_runs("pnad", m->pnad, m->n);
	print_runs("| baseline", m->base, m->n);
	print_runs("| decoding", m->dec, m->n);
	printf("\n  targets: >= %s ev/s %s; ratio >= %.2f %s (%s events, %s frames, %s bytes)\n",
	       bench_si(a, sizeof(a), target_rate[m->mode]), s->met_rate ? "met" : "MISSED",
	       TARGET_RATIO, s->met_ratio ? "met" : "MISSED",
	       bench_si(b, sizeof(b), (double)m->ss.events),
	       bench_si(c, sizeof(c), (double)m->ss.frames),
	       bench_si(head, sizeof(head), (double)m->ss.bytes));
	/* The baseline copies bytes and decodes nothing: a reader that only
	 * decodes the frames is already far below the ratio (issue #2 was
	 * resolved on the rates, with the ratio shown out of reach; docs/
	 * capacity.md, Ingest). */
	if (!s->met_ratio && s->base_rate > 0 && s->dec_rate > 0)
		printf("  (the ratio is to a reader that only copies bytes; one that only decodes "
		       "reaches %.2f of it, pnad %.2f of that one)\n",
		       s->dec_rate / s->base_rate, s->dec_ratio);
}

static void json_run(struct bench_json *j, const struct run *r, bool pnad)
{
	bench_json_obj(j, NULL);
	bench_json_num(j, "seconds", r->secs);
	bench_json_num(j, "events_per_s", r->rate);
	bench_json_num(j, "cpu_s", r->cpu.total);
	if (pnad) {
		bench_json_num(j, "router_cpu_s", r->cpu.router);
		bench_json_num(j, "shards_cpu_s", r->cpu.shards);
		bench_json_num(j, "other_cpu_s", r->cpu.other);
		bench_json_num(j, "ack_seconds", r->ack_secs);
		bench_json_int(j, "events_applied", (int64_t)r->shards.applied);
		bench_json_int(j, "events_replayed", (int64_t)r->shards.replayed);
		bench_json_int(j, "events_no_state", (int64_t)r->shards.no_state);
		bench_json_int(j, "table_full", (int64_t)r->shards.table_full);
		bench_json_int(j, "router_frames", (int64_t)r->router.frames);
		bench_json_int(j, "router_acks", (int64_t)r->router.acks);
		bench_json_int(j, "ring_full_pauses", (int64_t)r->router.backpressure);
	}
	bench_json_num(j, "sender_cpu_s", r->sender_cpu);
	bench_json_num(j, "bench_cpu_s", r->bench_cpu);
	bench_json_num(j, "other_load_cpus", r->other_load >= 0 ? r->other_load : NAN);
	bench_json_end(j);
}

static void json_mode(struct bench_json *j, const struct mode_res *m, const struct summary *s)
{
	bench_json_obj(j, NULL);
	bench_json_str(j, "mode", mode_names[m->mode]);
	bench_json_int(j, "events_per_frame", m->per_frame);
	bench_json_int(j, "events", (int64_t)m->ss.events);
	bench_json_int(j, "frames", (int64_t)m->ss.frames);
	bench_json_int(j, "bytes", (int64_t)m->ss.bytes);
	bench_json_obj(j, "pnad");
	bench_json_num(j, "events_per_s", s->rate);
	bench_json_num(j, "seconds", s->secs);
	bench_json_num(j, "ack_seconds", s->ack_secs);
	bench_json_num(j, "cpu_s_per_m_events", s->cpu_m);
	bench_json_num(j, "router_cpu_s_per_m_events", s->router_m);
	bench_json_num(j, "shards_cpu_s_per_m_events", s->shards_m);
	bench_json_num(j, "other_cpu_s_per_m_events", s->other_m);
	bench_json_num(j, "sender_cpu_s_per_m_events", s->sender_m);
	bench_json_num(j, "router_acks", s->acks);
	bench_json_num(j, "ring_full_pauses", s->backpressure);
	bench_json_num(j, "other_load_cpus", s->other_load >= 0 ? s->other_load : NAN);
	bench_json_arr(j, "runs");
	for (uint32_t i = 0; i < m->n; i++)
		json_run(j, &m->pnad[i], true);
	bench_json_end(j);
	bench_json_end(j);
	bench_json_obj(j, "baseline");
	bench_json_num(j, "events_per_s", s->base_rate);
	bench_json_num(j, "seconds", s->base_secs);
	bench_json_num(j, "cpu_s_per_m_events", s->base_cpu_m);
	bench_json_num(j, "sender_cpu_s_per_m_events", s->base_sender_m);
	bench_json_arr(j, "runs");
	for (uint32_t i = 0; i < m->n; i++)
		json_run(j, &m->base[i], false);
	bench_json_end(j);
	bench_json_end(j);
	bench_json_obj(j, "decoding_reader");
	bench_json_num(j, "events_per_s", s->dec_rate);
	bench_json_num(j, "cpu_s_per_m_events", s->dec_cpu_m);
	bench_json_num(j, "pnad_ratio", s->dec_ratio);
	bench_json_arr(j, "runs");
	for (uint32_t i = 0; i < m->n; i++)
		json_run(j, &m->dec[i], false);
	bench_json_end(j);
	bench_json_end(j);
	bench_json_num(j, "ratio", s->ratio);
	bench_json_num(j, "target_events_per_s", target_rate[m->mode]);
	bench_json_num(j, "target_ratio", TARGET_RATIO);
	bench_json_bool(j, "met_events_per_s", s->met_rate);
	bench_json_bool(j, "met_ratio", s->met_ratio);
	bench_json_end(j);
}

static void json_head(struct bench_json *j, const struct ingest_opts *o,
		      const struct bench_machine *mach)
{
	bench_json_str(j, "benchmark", "ingest");
	bench_json_str(j, "date", mach->date);
	bench_json_obj(j, "machine");
	bench_json_int(j, "nproc", mach->nproc);
	bench_json_str(j, "kernel", mach->kernel);
	bench_json_str(j, "cpu", mach->cpu);
	bench_json_str(j, "host", mach->host);
	bench_json_int(j, "mem_bytes", (int64_t)mach->mem_bytes);
	bench_json_end(j);
	bench_json_obj(j, "config");
	bench_json_int(j, "connections", o->conns);
	bench_json_int(j, "accounts", o->accounts);
	bench_json_int(j, "shards", o->shards);
	bench_json_int(j, "repeat", o->repeat);
	bench_json_int(j, "batched_events", (int64_t)o->events[MODE_BATCHED]);
	bench_json_int(j, "batched_events_per_frame", o->per_frame);
	bench_json_int(j, "unbatched_events", (int64_t)o->events[MODE_UNBATCHED]);
	bench_json_str(j, "ring_bytes", o->ring_bytes);
	bench_json_int(j, "baseline_read_bytes", (int64_t)o->read_bytes);
	bench_json_str(j, "pnad", o->pnad);
	bench_json_end(j);
}

static int write_json(const struct ingest_opts *o, const struct bench_machine *mach,
		      struct mode_res *const *res, const struct summary *sum, int nres)
{
	struct bench_json *j;
	int rc = bench_json_open(o->json, &j);

	if (rc < 0) {
		fprintf(stderr, "pna-bench: %s: %s\n", o->json, strerror(-rc));
		return rc;
	}
	bench_json_obj(j, NULL);
	json_head(j, o, mach);
	bench_json_arr(j, "modes");
	for (int i = 0; i < nres; i++)
		json_mode(j, res[i], &sum[i]);
	bench_json_end(j);
	bench_json_end(j);
	rc = bench_json_close(j);
	if (rc < 0)
		fprintf(stderr, "pna-bench: writing %s: %s\n", o->json, strerror(-rc));
	return rc;
}

/* --- main --- */

static void done(const char *label, const char *what, const struct run *r)
{
	char a[16];

	bench_progress("%s: %s %s ev/s (%.3f s, cpu %.2f s)", label, what,
		       bench_si(a, sizeof(a), r->rate), r->secs, r->cpu.total);
}

/* Round m->n: pnad, then the baseline, then the decoding reader. */
static int run_round(const struct ingest_opts *o, struct mode_res *m, const char *tmp)
{
	char label[48];
	int rc;

	snprintf(label, sizeof(label), "%s-%u", mode_names[m->mode], m->n + 1);
	rc = run_pnad(o, m, tmp, label, &m->pnad[m->n]);
	if (rc < 0)
		return rc;
	done(label, "pnad", &m->pnad[m->n]);
	rc = run_base(o, m, label, false, &m->base[m->n]);
	if (rc < 0)
		return rc;
	done(label, "baseline", &m->base[m->n]);
	rc = run_base(o, m, label, true, &m->dec[m->n]);
	if (rc == 0)
		done(label, "decoding reader", &m->dec[m->n]);
	return rc;
}

static int run_mode(const struct ingest_opts *o, int mode, const char *tmp, struct mode_res *m)
{
	struct bench_workload w = { .conns = o->conns,
				    .events = o->events[mode],
				    .per_frame = mode == MODE_BATCHED ? o->per_frame : 1,
				    .accounts = o->accounts,
				    .credential = CREDENTIAL };
	char label[48], a[16], b[16];
	double t = bench_now();
	int rc;

	m->mode = mode;
	m->per_frame = w.per_frame;
	rc = bench_streams_encode(&w, 1, &m->ss);
	if (rc < 0) {
		fprintf(stderr, "pna-bench: cannot encode the %s workload\n", mode_names[mode]);
		return rc;
	}
	bench_progress("%s: encoded %s events in %s frames (%s bytes) in %.2f s", mode_names[mode],
		       bench_si(a, sizeof(a), (double)m->ss.events),
		       bench_si(b, sizeof(b), (double)m->ss.frames),
		       bench_si(label, sizeof(label), (double)m->ss.bytes), bench_now() - t);
	for (m->n = 0; m->n < o->repeat && rc == 0; m->n++)
		rc = run_round(o, m, tmp);
	return rc;
}

int bench_ingest_main(int argc, char **argv)
{
	static struct mode_res modes[NMODES];
	struct mode_res *done[NMODES];
	struct summary sum[NMODES];
	struct bench_machine mach;
	struct ingest_opts o;
	char tmp[4000];
	int ndone = 0, status = 0, rc;
	bool missed = false;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (find_pnad(&o) < 0)
		return 3;
	signal(SIGPIPE, SIG_IGN);
	bench_machine_get(&mach);
	rc = bench_tmpdir(tmp, sizeof(tmp));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: temporary directory: %s\n", strerror(-rc));
		return 3;
	}
	printf("pna-bench ingest: %u connections, %u accounts, %u shard%s, median of %u; "
	       "%ld cpus (%s), %s, %s\n",
	       o.conns, o.accounts, o.shards, o.shards == 1 ? "" : "s", o.repeat, mach.nproc,
	       mach.cpu, mach.kernel, mach.date);
	fflush(stdout);
	for (int mode = 0; mode < NMODES && status == 0; mode++) {
		if (!o.mode_on[mode])
			continue;
		if (run_mode(&o, mode, tmp, &modes[mode]) < 0) {
			status = 3;
			break;
		}
		summarize(&modes[mode], &sum[ndone]);
		done[ndone] = &modes[mode];
		print_mode(done[ndone], &sum[ndone]);
		fflush(stdout);
		missed |= !sum[ndone].met_rate || !sum[ndone].met_ratio;
		ndone++;
	}
	if (status == 0 && missed && o.check)
		status = 1;
	if (o.json && ndone && write_json(&o, &mach, done, sum, ndone) < 0 && status == 0)
		status = 3;
	for (int mode = 0; mode < NMODES; mode++)
		bench_streams_free(&modes[mode].ss);
	if (o.keep || status == 3)
		bench_progress("configs and logs kept in %s", tmp);
	else
		bench_tmpdir_remove(tmp);
	return status;
}
