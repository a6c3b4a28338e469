/* bench_sweep: `pna-bench sweep`, `run` over growing N (subscriptions,
 * accounts, events or the open-loop rate), then a least-squares line through
 * each cost (CPU seconds, shared memory, RSS) against N and plots (PNG and
 * SVG with gnuplot) of throughput, latency, memory and CPU against N with
 * that line: where the cost stays O(N) the points sit on it, where it bends
 * they leave it (the table prints each point against the line). */
#include "bench/bench_sweep.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/bench_plot.h"
#include "bench/bench_run.h"

#define MAX_POINTS 16

enum over { OVER_SUBS, OVER_ACCOUNTS, OVER_EVENTS, OVER_RATE };
static const char *const over_names[] = { "subs", "accounts", "events", "rate" };

struct sweep {
	enum over over;
	uint32_t n;
	double x[MAX_POINTS];
	const char *out;
	struct bench_run_result *r; /* n of them */
};

/* y = a + b x by least squares, and R^2. */
struct fit {
	double a, b, r2;
};

static struct fit line(const double *x, const double *y, uint32_t n)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0, ss = 0, sr = 0, my;
	struct fit f = { 0 };

	for (uint32_t i = 0; i < n; i++)
		sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
	if (n < 2 || n * sxx - sx * sx == 0)
		return f;
	f.b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	f.a = (sy - f.b * sx) / n;
	my = sy / n;
	for (uint32_t i = 0; i < n; i++) {
		double e = y[i] - (f.a + f.b * x[i]);

		sr += e * e;
		ss += (y[i] - my) * (y[i] - my);
	}
	f.r2 = ss > 0 ? 1 - sr / ss : 1;
	return f;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pna-bench sweep --over subs|accounts|events|rate --values N,N,... "
		   "[--out DIR] [run options]\n"
		   "  runs `pna-bench run` once per value (see pna-bench run --help), writes\n"
		   "  DIR/sweep.json, DIR/sweep.dat and "
		   "DIR/{throughput,latency,memory,cpu}.{png,svg}\n"
		   "  (DIR: ./sweep). Default: --over subs --values 5k,10k,20k,40k with -e 300k\n");
}

static int parse_values(const char *s, struct sweep *w)
{
	char buf[512], *save = NULL, *tok;
	uint64_t v;

	snprintf(buf, sizeof(buf), "%s", s);
	w->n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (w->n == MAX_POINTS ||
		    bench_opt_num("sweep", "values", tok, 1, 1000000000, &v) < 0)
			return -EINVAL;
		w->x[w->n++] = (double)v;
	}
	return w->n >= 2 ? 0 : -EINVAL;
}

/* Take sweep's own options out of argv; the rest are run's. */
static int split_args(int argc, char **argv, struct sweep *w, int *rargc, char **rargv)
{
	*rargc = 0;
	rargv[(*rargc)++] = "run";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "--over") || !strcmp(a, "--values") || !strcmp(a, "--out")) &&
		    i + 1 == argc) {
			fprintf(stderr, "pna-bench sweep: %s needs a value\n", a);
			return -EINVAL;
		}
		if (!strcmp(a, "--over")) {
			uint32_t k;

			for (k = 0; k < 4 && strcmp(argv[i + 1], over_names[k]); k++)
				;
			if (k == 4) {
				fprintf(stderr,
					"pna-bench sweep: --over %s: subs, accounts, events "
					"or rate\n",
					argv[i + 1]);
				return -EINVAL;
			}
			w->over = (enum over)k;
			i++;
		} else if (!strcmp(a, "--values")) {
			if (parse_values(argv[++i], w) < 0) {
				fprintf(stderr, "pna-bench sweep: --values: 2 to %d numbers\n",
					MAX_POINTS);
				return -EINVAL;
			}
		} else if (!strcmp(a, "--out")) {
			w->out = argv[++i];
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else {
			rargv[(*rargc)++] = argv[i];
		}
	}
	rargv[*rargc] = NULL;
	return 0;
}

static void set_x(struct bench_run_opts *o, enum over over, double x)
{
	switch (over) {
	case OVER_SUBS:
		o->subs = (uint32_t)x;
		break;
	case OVER_ACCOUNTS:
		o->accounts = (uint32_t)x;
		if (o->subs < o->accounts)
			o->subs = o->accounts;
		if (o->xmpp_subs > o->accounts)
			o->xmpp_subs = o->accounts / 10;
		break;
	case OVER_EVENTS:
		o->events = (uint64_t)x;
		break;
	case OVER_RATE:
		o->rate = x;
		if (o->latency_at == 0)
			o->latency_at = 1;
		break;
	}
}

/* The phase a point stands for: over the open-loop rate, the latency
 * phase (at that rate); otherwise the max phase. */
static const struct bench_phase *phase_of(const struct sweep *w, const struct bench_run_result *r)
{
	return w->over == OVER_RATE && r->lat.ran ? &r->lat : &r->max;
}

/* The costs that should grow linearly, per point. */
static double cost(const struct sweep *w, const struct bench_run_result *r, int which)
{
	const struct bench_phase *p = phase_of(w, r);

	switch (which) {
	case 0:
		return p->cpu.router + p->cpu.shards + p->cpu.sip;
	case 1:
		return (double)p->shm_bytes;
	default:
		return (double)p->rss_bytes;
	}
}

static const char *const cost_names[] = { "pnad_cpu_s", "shm_bytes", "rss_bytes" };

/* The latency baseline's p99 in ms into buf, or "NaN" when it did not run
 * (gnuplot leaves the point out; the table shows it as such). */
static const char *relay_p99_ms(const struct bench_run_result *r, char *buf, size_t len)
{
	if (r->base_lat.ran)
		snprintf(buf, len, "%.4f", r->base_lat.p99 * 1e3);
	else
		snprintf(buf, len, "NaN");
	return buf;
}

static int write_outputs(const struct sweep *w, struct fit *fits)
{
	char path[4200];
	struct bench_json *j;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/sweep.dat", w->out);
	if (!(f = fopen(path, "w")))
		return -errno;
	fprintf(f, "# N events/s notifies/s p50_ms p99_ms shm_MB rss_MB cpu_s base_notifies/s "
		   "base_p99_ms\n");
	for (uint32_t i = 0; i < w->n; i++) {
		const struct bench_run_result *r = &w->r[i];
		const struct bench_phase *l = r->lat.ran ? &r->lat : &r->max;

		char base_p99[32];

		fprintf(f, "%.0f %.0f %.0f %.4f %.4f %.3f %.3f %.4f %.0f %s\n", w->x[i],
			phase_of(w, r)->events_per_s, phase_of(w, r)->notifies_per_s, l->p50 * 1e3,
			l->p99 * 1e3, cost(w, r, 1) / 1e6, cost(w, r, 2) / 1e6, cost(w, r, 0),
			r->base_rate, relay_p99_ms(r, base_p99, sizeof(base_p99)));
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/sweep.json", w->out);
	if ((rc = bench_json_open(path, &j)) < 0)
		return rc;
	bench_json_obj(j, NULL);
	bench_json_str(j, "over", over_names[w->over]);
	bench_json_obj(j, "fit");
	for (int c = 0; c < 3; c++) {
		bench_json_obj(j, cost_names[c]);
		bench_json_num(j, "intercept", fits[c].a);
		bench_json_num(j, "per_unit", fits[c].b);
		bench_json_num(j, "r2", fits[c].r2);
		bench_json_end(j);
	}
	bench_json_end(j);
	bench_json_arr(j, "runs");
	for (uint32_t i = 0; i < w->n; i++)
		bench_run_json(j, NULL, &w->r[i]);
	bench_json_end(j);
	bench_json_end(j);
	return bench_json_close(j);
}

static int plots(const struct sweep *w, const struct fit *fits)
{
	static const struct {
		const char *name, *ylabel;
		const char *plot;
	} p[] = {
		{ "throughput", "per second",
		  "plot DATA using 1:2 with linespoints title 'events/s in', "
		  "DATA using 1:3 with linespoints title 'NOTIFYs/s out', "
		  "DATA using 1:9 with linespoints title 'baseline relay NOTIFYs/s'" },
		{ "latency", "ms, event to NOTIFY",
		  "plot DATA using 1:4 with linespoints title 'p50', "
		  "DATA using 1:5 with linespoints title 'p99', "
		  "DATA using 1:10 with linespoints title 'relay p99 (latency baseline)'" },
		{ "memory", "MB",
		  "plot DATA using 1:6 with points pt 7 title 'shared memory', "
		  "%g + %g * x with lines title 'linear fit, shared', "
		  "DATA using 1:7 with points pt 5 title 'RSS', "
		  "%g + %g * x with lines title 'linear fit, RSS'" },
		{ "cpu", "pnad CPU s per run",
		  "plot DATA using 1:8 with points pt 7 title 'router + shards + SIP worker', "
		  "%g + %g * x with lines title 'linear fit'" },
	};
	char prefix[4200], data[4200], body[2048], plot[1024];

	snprintf(data, sizeof(data), "%s/sweep.dat", w->out);
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		int rc;

		if (i == 2)
			snprintf(plot, sizeof(plot), p[i].plot, fits[1].a / 1e6, fits[1].b / 1e6,
				 fits[2].a / 1e6, fits[2].b / 1e6);
		else if (i == 3)
			snprintf(plot, sizeof(plot), p[i].plot, fits[0].a, fits[0].b);
		else
			snprintf(plot, sizeof(plot), "%s", p[i].plot);
		snprintf(body, sizeof(body),
			 "set title '%s against %s'\nset xlabel '%s'\n"
			 "set ylabel '%s'\nset yrange [0:*]\n%s",
			 p[i].name, over_names[w->over], over_names[w->over], p[i].ylabel, plot);
		snprintf(prefix, sizeof(prefix), "%s/%s", w->out, p[i].name);
		if ((rc = bench_plot(prefix, body, data)) < 0)
			return rc;
	}
	return 0;
}

static void summary(const struct sweep *w, const struct fit *fits)
{
	printf("\npna-bench sweep over %s: %u runs\n", over_names[w->over], w->n);
	printf("| %s | events/s | NOTIFYs/s | baseline | p99 ms | relay p99 ms | pnad CPU s (fit) "
	       "| shared MB (fit) | RSS MB (fit) | books |\n"
	       "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
	       over_names[w->over]);
	for (uint32_t i = 0; i < w->n; i++) {
		const struct bench_run_result *r = &w->r[i];
		const struct bench_phase *l = r->lat.ran ? &r->lat : &r->max;
		double fx[3];
		char base_p99[32];

		for (int c = 0; c < 3; c++)
			fx[c] = fits[c].a + fits[c].b * w->x[i];
		printf("| %.0f | %.0f | %.0f | %.0f | %.3f | %s | %.3f (%.3f) | %.1f (%.1f) | "
		       "%.1f "
		       "(%.1f) | %s |\n",
		       w->x[i], phase_of(w, r)->events_per_s, phase_of(w, r)->notifies_per_s,
		       r->base_rate, l->p99 * 1e3, relay_p99_ms(r, base_p99, sizeof(base_p99)),
		       cost(w, r, 0), fx[0], cost(w, r, 1) / 1e6, fx[1] / 1e6, cost(w, r, 2) / 1e6,
		       fx[2] / 1e6, bench_run_balanced(r) ? "balanced" : "NOT BALANCED");
	}
	printf("linear fits: CPU %.3g s + %.3g s per %s (R2 %.3f); shared memory %.3g B + %.3g B "
	       "per %s (R2 %.3f); RSS %.3g B + %.3g B per %s (R2 %.3f)\n",
	       fits[0].a, fits[0].b, over_names[w->over], fits[0].r2, fits[1].a, fits[1].b,
	       over_names[w->over], fits[1].r2, fits[2].a, fits[2].b, over_names[w->over],
	       fits[2].r2);
	printf("plots: %s/{throughput,latency,memory,cpu}.{png,svg}; data %s/sweep.dat, "
	       "report %s/sweep.json\n",
	       w->out, w->out, w->out);
}

int bench_sweep_main(int argc, char **argv)
{
	struct sweep w = { .over = OVER_SUBS, .n = 4, .x = { 5000, 10000, 20000, 40000 } };
	char **rargv = calloc((size_t)argc + 4, sizeof(*rargv)), pnad[4096], dir[4096];
	struct bench_run_opts o;
	struct fit fits[3];
	double y[3][MAX_POINTS];
	int rargc, status = 3;

	if (!rargv)
		abort();
	w.out = "sweep";
	bench_run_defaults(&o);
	o.events = 300000;
	if (split_args(argc, argv, &w, &rargc, rargv) < 0 ||
	    bench_run_parse(rargc, rargv, &o) < 0) {
		free(rargv);
		return 2;
	}
	w.r = calloc(w.n, sizeof(*w.r));
	if (!w.r)
		abort();
	if (mkdir(w.out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "pna-bench sweep: %s: %s\n", w.out, strerror(errno));
		goto out;
	}
	if (bench_run_setup(&o, pnad, sizeof(pnad), dir, sizeof(dir)) < 0)
		goto out;
	for (uint32_t i = 0; i < w.n; i++) {
		struct bench_run_opts oi = o;

		set_x(&oi, w.over, w.x[i]);
		bench_progress("sweep: run %u of %u, %s = %.0f", i + 1, w.n, over_names[w.over],
			       w.x[i]);
		if (bench_run_exec(&oi, &w.r[i]) < 0) {
			bench_progress("sweep: the run at %.0f failed; logs kept in %s", w.x[i],
				       dir);
			goto out;
		}
		for (int c = 0; c < 3; c++)
			y[c][i] = cost(&w, &w.r[i], c);
	}
	bench_tmpdir_remove(dir);
	for (int c = 0; c < 3; c++)
		fits[c] = line(w.x, y[c], w.n);
	if (write_outputs(&w, fits) < 0 || plots(&w, fits) < 0) {
		fprintf(stderr,
			"pna-bench sweep: writing %s failed (gnuplot's messages in "
			"%s/*.log)\n",
			w.out, w.out);
		goto out;
	}
	summary(&w, fits);
	status = 0;
out:
	free(w.r);
	free(rargv);
	return status;
}
