/* bench_run_cli: options and main of `pna-bench run`. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_run.h"

#define TARGET_NOTIFIES 250000.0 /* issue #6, SIP UDP end to end, 2 cores */
#define TARGET_RATIO 0.65
#define TARGET_P99 0.001

static void usage(FILE *f)
{
	struct bench_run_opts d;

	bench_run_defaults(&d);
	fprintf(f,
		"usage: pna-bench run [options]\n"
		"  -a, --accounts N      accounts (%u)\n"
		"  -s, --subs N          SIP message-summary subscriptions (%u)\n"
		"  -f, --fanout KIND     uniform or zipf: subscribers per account (uniform)\n"
		"  -x, --xmpp N          XMPP pubsub subscriptions, accounts 0..N-1, 0: none\n"
		"                        (a tenth of the accounts)\n"
		"  -e, --events N        MessageNew events (%llu)\n"
		"  -c, --conns N         mail-store connections (%u)\n"
		"  -b, --batch N         events per frame (%u)\n"
		"  -S, --shards N        pnad shards (%u)\n"
		"  -r, --rate N          events/s of the latency phase (default: half the max)\n"
		"  -l, --latency-at F    latency phase at F x the maximum load, 0: none (%.2f)\n"
		"  -L, --latency-secs S  length of the latency phase, seconds (%.0f)\n"
		"      --latency-warmup S\n"
		"                        latency phase: stream S seconds first, their\n"
		"                        latencies reported apart (a fresh pnad's cold\n"
		"                        start), not in the percentiles (%.1f)\n"
		"      --stall-probe S   before the latency phase, spin S seconds on every\n"
		"                        CPU and report how long the host held them off\n"
		"                        (pna-bench stalls), 0: not (%.1f)\n"
		"  -d, --duration SEC    cap on each phase (%.0f)\n"
		"  -W, --in-flight N     max phase: at most N events written whose\n"
		"                        notifications have not all come (nor been\n"
		"                        folded into others); 0: as fast as pnad acks (%u)\n"
		"  -R, --rounds N        max phase: rounds after a warm-up run, the events\n"
		"                        split over them, each followed by the baseline;\n"
		"                        the median round reports (%u, at most %d)\n"
		"      --no-baseline     skip the relay baseline\n"
		"  -j, --json FILE       write every figure as JSON\n"
		"  -T, --latency-trace FILE\n"
		"                        latency phase: a line per NOTIFY, \"due arrival\n"
		"                        latency subscription\", seconds from the phase's\n"
		"                        start: when the tail comes (docs/capacity.md)\n"
		"  -p, --pnad PATH       pnad binary (next to pna-bench)\n"
		"      --check           exit 1 when a target is missed (>= %.0fk NOTIFYs/s,\n"
		"                        >= %.2f of the baseline, p99 <= %.0f ms); books that do\n"
		"                        not balance always exit 1\n"
		"      --keep            keep the temporary directory (configs, logs)\n",
		d.accounts, d.subs, (unsigned long long)d.events, d.conns, d.per_frame, d.shards,
		d.latency_at, d.latency_secs, d.latency_warmup, d.stall_probe, d.duration,
		d.in_flight, d.rounds, BENCH_ROUNDS_MAX, TARGET_NOTIFIES / 1e3, TARGET_RATIO,
		TARGET_P99 * 1e3);
}

struct cli {
	struct bench_run_opts o;
	char pnad[4096], dir[4096];
};

static int num(const char *name, const char *s, uint64_t min, uint64_t max, uint32_t *out)
{
	uint64_t v;

	if (bench_opt_num("run", name, s, min, max, &v) < 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int bench_run_parse(int argc, char **argv, struct bench_run_opts *o)
{
	static const struct option lo[] = {
		{ "accounts", 1, 0, 'a' },	 { "subs", 1, 0, 's' },
		{ "fanout", 1, 0, 'f' },	 { "xmpp", 1, 0, 'x' },
		{ "events", 1, 0, 'e' },	 { "conns", 1, 0, 'c' },
		{ "batch", 1, 0, 'b' },		 { "shards", 1, 0, 'S' },
		{ "rate", 1, 0, 'r' },		 { "latency-at", 1, 0, 'l' },
		{ "latency-secs", 1, 0, 'L' },	 { "in-flight", 1, 0, 'W' },
		{ "rounds", 1, 0, 'R' },	 { "duration", 1, 0, 'd' },
		{ "json", 1, 0, 'j' },		 { "latency-trace", 1, 0, 'T' },
		{ "pnad", 1, 0, 'p' },		 { "check", 0, 0, 'C' },
		{ "latency-warmup", 1, 0, 'w' }, { "stall-probe", 1, 0, 'P' },
		{ "keep", 0, 0, 'K' },		 { "no-baseline", 0, 0, 'B' },
		{ "help", 0, 0, 'h' },		 { 0, 0, 0, 0 },
	};
	bool xmpp_set = false;
	uint64_t v;
	int ch, rc = 0;

	optind = 1;
	while (rc == 0 && (ch = getopt_long(argc, argv, "a:s:f:x:e:c:b:S:r:l:L:d:W:R:j:T:p:hw:", lo,
					    NULL)) != -1) {
		switch (ch) {
		case 'a':
			rc = num("accounts", optarg, 1, 1u << 24, &o->accounts);
			break;
		case 's':
			rc = num("subs", optarg, 1, 1u << 24, &o->subs);
			break;
		case 'f':
			if (!strcmp(optarg, "uniform") || !strcmp(optarg, "zipf"))
				o->fanout =
					optarg[0] == 'z' ? BENCH_FANOUT_ZIPF : BENCH_FANOUT_UNIFORM;
			else
				fprintf(stderr, "pna-bench run: --fanout %s: uniform or zipf\n",
					optarg),
					rc = -EINVAL;
			break;
		case 'x':
			rc = num("xmpp", optarg, 0, 1u << 24, &o->xmpp_subs);
			xmpp_set = true;
			break;
		case 'e':
			rc = bench_opt_num("run", "events", optarg, 1, 1000000000, &v);
			o->events = v;
			break;
		case 'c':
			rc = num("conns", optarg, 1, 256, &o->conns);
			break;
		case 'b':
			rc = num("batch", optarg, 1, 4096, &o->per_frame);
			break;
		case 'S':
			rc = num("shards", optarg, 1, BENCH_PNAD_MAX_SHARDS, &o->shards);
			break;
		case 'r':
			rc = bench_opt_num("run", "rate", optarg, 1, 100000000, &v);
			o->rate = (double)v;
			break;
		case 'l':
			rc = bench_opt_real("run", "latency-at", optarg, 1, &o->latency_at);
			break;
		case 'W':
			rc = num("in-flight", optarg, 0, 1u << 24, &o->in_flight);
			break;
		case 'R':
			rc = num("rounds", optarg, 1, BENCH_ROUNDS_MAX, &o->rounds);
			break;
		case 'L':
			rc = bench_opt_real("run", "latency-secs", optarg, 3600, &o->latency_secs);
			break;
		case 'w':
			rc = bench_opt_real("run", "latency-warmup", optarg, 3600,
					    &o->latency_warmup);
			break;
		case 'P':
			rc = bench_opt_real("run", "stall-probe", optarg, 3600, &o->stall_probe);
			break;
		case 'd':
			rc = bench_opt_real("run", "duration", optarg, 3600, &o->duration);
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'T':
			o->trace = optarg;
			break;
		case 'p':
			o->pnad = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'K':
			o->keep = true;
			break;
		case 'B':
			o->baseline = false;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (rc == 0 && optind != argc) {
		usage(stderr);
		rc = -EINVAL;
	}
	if (!xmpp_set)
		o->xmpp_subs = o->accounts / 10;
	if (rc == 0 && o->xmpp_subs > o->accounts) {
		fprintf(stderr, "pna-bench run: --xmpp: at most one per account (%u)\n",
			o->accounts);
		rc = -EINVAL;
	}
	if (rc == 0 && (o->accounts < o->conns || o->events < o->conns)) {
		fprintf(stderr,
			"pna-bench run: need at least one account and event per connection\n");
		rc = -EINVAL;
	}
	return rc;
}

/* pnad next to pna-bench, a temporary directory, a terminal for progress. */
int bench_run_setup(struct bench_run_opts *o, char *pnad, size_t plen, char *dir, size_t dlen)
{
	int rc;

	if (!o->pnad) {
		if ((rc = bench_self_dir(dir, dlen)) < 0)
			return rc;
		snprintf(pnad, plen, "%s/pnad", dir);
		o->pnad = pnad;
	}
	if ((rc = bench_tmpdir(dir, dlen)) < 0) {
		fprintf(stderr, "pna-bench: temporary directory: %s\n", strerror(-rc));
		return rc;
	}
	o->dir = dir;
	o->progress = isatty(STDERR_FILENO);
	return 0;
}

static int write_json(const char *path, const struct bench_run_result *r)
{
	struct bench_json *j;
	int rc = bench_json_open(path, &j);

	if (rc < 0)
		return rc;
	bench_run_json(j, NULL, r);
	return bench_json_close(j);
}

int bench_run_main(int argc, char **argv)
{
	struct cli *c = calloc(1, sizeof(*c));
	struct bench_run_result *r = calloc(1, sizeof(*r));
	int status = 3, rc;

	if (!c || !r)
		abort();
	bench_run_defaults(&c->o);
	if (bench_run_parse(argc, argv, &c->o) < 0) {
		status = 2;
		goto out_free;
	}
	if (bench_run_setup(&c->o, c->pnad, sizeof(c->pnad), c->dir, sizeof(c->dir)) < 0)
		goto out_free;
	rc = bench_run_exec(&c->o, r);
	if (rc == 0 || r->max.ran)
		bench_run_print(stdout, r);
	if (rc == 0 && c->o.json && (rc = write_json(c->o.json, r)) < 0)
		fprintf(stderr, "pna-bench run: %s: %s\n", c->o.json, strerror(-rc));
	if (rc == 0) {
		bool books = bench_run_balanced(r);
		bool targets = r->max.notifies_per_s >= TARGET_NOTIFIES &&
			       r->ratio >= TARGET_RATIO &&
			       (!r->lat.ran || r->lat.p99 <= TARGET_P99);

		status = !books || (c->o.check && !targets) ? 1 : 0;
	}
	if (c->o.keep || status == 3)
		bench_progress("configs and logs kept in %s", c->dir);
	else
		bench_tmpdir_remove(c->dir);
out_free:
	free(c);
	free(r);
	return status;
}
