/* bench_procs: which other processes ran over a window, and how much.
 * A snapshot of every process's CPU clock at the window's start, then the
 * busiest since. Counted are the processes alive at the end: one that
 * exits inside the window takes its CPU time with it, one born inside
 * counts whole, and a pid reused inside is compared with its predecessor
 * (a negative difference is dropped). Enough to name what shared the
 * machine with a benchmark (a monitor, an agent, a build), not to bill it
 * exactly. */
#ifndef PNA_BENCH_PROCS_H
#define PNA_BENCH_PROCS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench/bench_util.h"

#define BENCH_PROCS_BUSIEST 3 /* the busiest named */

struct bench_proc_busy {
	char comm[16];
	double cpu; /* seconds run in the window; 0 ends a list */
};

struct bench_proc_cpu {
	pid_t pid;
	double cpu;
};

/* Zero-initialised before the first read; owns p (bench_procs_free). */
struct bench_procs {
	struct bench_proc_cpu *p; /* by pid */
	size_t n, cap;
};

/* Every process but this one with its CPU seconds so far (replacing what
 * ps held). 0, or -errno when /proc cannot be read (ps then empty). */
int bench_procs_read(struct bench_procs *ps);
/* Into o, the BENCH_PROCS_BUSIEST processes that ran the most since
 * `before`, busiest first, leaving out this one and the nskip pids in
 * skip; with `sum`, also the CPU seconds of those whose name starts with
 * sum->prefix (skipped or not: the DAMON monitors, "kdamond"). 0, or
 * -errno (o empty, sum->cpu 0). */
struct bench_procs_sum {
	const char *prefix;
	double cpu;
};

int bench_procs_busiest(const struct bench_procs *before, const pid_t *skip, size_t nskip,
			struct bench_proc_busy *o, struct bench_procs_sum *sum);
void bench_procs_free(struct bench_procs *ps);

/* The list o after `lead` (nothing when empty): "name 1.2 ms, ...", each
 * cpu x scale with `decimals` and `unit`. */
void bench_procs_print(FILE *f, const char *lead, const struct bench_proc_busy *o, double scale,
		       int decimals, const char *unit);
/* The list o as array `key` of {"comm", <figure>: cpu x scale}. */
void bench_procs_json(struct bench_json *j, const char *key, const struct bench_proc_busy *o,
		      const char *figure, double scale);

#endif
