/* pna_bench: `pna-bench COMMAND [options]`, pnad's benchmarks. Each command
 * lives in its own module (bench_<command>.c) and is listed in the table
 * below; `make bench` runs `run` and then the component benchmarks. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_ingest.h"
#include "bench/bench_persist.h"
#include "bench/bench_plan.h"
#include "bench/bench_run.h"
#include "bench/bench_sip.h"
#include "bench/bench_stall.h"
#include "bench/bench_subs.h"
#include "bench/bench_sweep.h"
#include "bench/bench_xmpp.h"

struct command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "run", bench_run_main,
	  "end to end: events in, NOTIFYs out, latency, CPU and memory, books, baseline relay" },
	{ "sweep", bench_sweep_main,
	  "run over growing N, linear fits and plots (gnuplot) of throughput, latency, memory" },
	{ "plan", bench_plan_main,
	  "size a deployment (cores, hosts, memory) from a run's measured costs" },
	{ "ingest", bench_ingest_main,
	  "events/s through the router into the shards, against a same-run baseline" },
	{ "subs", bench_subs_main,
	  "subscription table: bytes per subscription, add rate, match cost" },
	{ "persist", bench_persist_main, "Redis write-through and reload rates (shard_persist)" },
	{ "sip", bench_sip_main,
	  "NOTIFYs/s over UDP to a counting sink, against a same-run baseline" },
	{ "xmpp", bench_xmpp_main,
	  "stanzas/s through the component link to a counting sink, against a same-run baseline" },
	{ "stalls", bench_stall_main,
	  "how long this host holds a busy CPU off its thread: the floor under a latency" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: pna-bench COMMAND [options]   (pna-bench COMMAND --help)\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	/* A peer that closes while we write must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "pna-bench: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
