/* bench_stall: how long this host keeps a busy thread off its CPU. One
 * spinner per CPU, pinned, reads CLOCK_MONOTONIC in a loop; a gap of more
 * than BENCH_STALL_MIN_S between two reads is a stall: time the thread
 * wanted the CPU and did not run. What fills a stall is told apart as far
 * as the guest can see: its own scheduler's run-queue wait
 * (/proc/thread-self/schedstat: another task on that CPU, a DAMON sample)
 * and the rest (interrupts, and on a virtual machine the hypervisor
 * holding the vCPU, which the guest counts as the thread's run time).
 *
 * A latency target has a floor here: a stage of the event path on a
 * stalled CPU holds every notification behind it for the stall, and once
 * pnad and its load need more than one CPU the other cannot absorb the
 * work (docs/capacity.md). `pna-bench stalls` probes on its own; `pna-bench
 * run` probes between its max and latency phases, while no pnad runs, and
 * prints the figure beside the latency. Runs in the pna-bench process,
 * while nothing else of it runs. */
#ifndef PNA_BENCH_STALL_H
#define PNA_BENCH_STALL_H

#include <stdint.h>
#include <stdio.h>

#include "bench/bench_procs.h"
#include "bench/bench_util.h"

#define BENCH_STALL_MIN_S 200e-6 /* shorter gaps are the loop's own noise */
#define BENCH_STALL_LONG_S 1e-3	 /* a stall this long misses a 1 ms target alone */
#define BENCH_STALL_CPUS 64	 /* CPUs probed at most (the first in the mask) */

struct bench_stall_cpu {
	int cpu;	 /* -1 in the sum over every CPU */
	double secs;	 /* the spinner's wall time (summed: all of theirs) */
	uint64_t stalls; /* gaps > BENCH_STALL_MIN_S */
	uint64_t long_stalls;
	double lost;	  /* seconds in those gaps */
	double longest;	  /* seconds */
	double run_delay; /* seconds the guest's scheduler kept it queued (summed: each
			   * CPU's at most its lost time); < 0: unknown */
};

struct bench_stall {
	double secs;	   /* asked; 0: not probed */
	uint32_t ncpu;	   /* spinning: the first ones allowed */
	uint32_t ncpu_all; /* allowed; those not spinning take other tasks */
	struct bench_stall_cpu cpu[BENCH_STALL_CPUS];
	struct bench_stall_cpu all; /* summed over them, the longest of theirs */
	/* What else ran meanwhile: the processes (kernel threads among them)
	 * that used the most CPU during the probe, busiest first; cpu 0 ends. */
	struct bench_proc_busy others[BENCH_PROCS_BUSIEST];
};

/* Spin `secs` seconds on the first `ncpu` CPUs this process may run on
 * (0: every one; at most BENCH_STALL_CPUS), all at once. With CPUs left
 * idle, other tasks go there: the stalls that remain are those no free
 * CPU absorbs. 0, or -errno (a thread not started). */
int bench_stall_probe(double secs, uint32_t ncpu, struct bench_stall *out);

/* One line: "stalls of busy CPUs: ..." after `indent`. */
void bench_stall_print(FILE *f, const char *indent, const struct bench_stall *s);
/* The result as member `key` of the current object. */
void bench_stall_json(struct bench_json *j, const char *key, const struct bench_stall *s);

/* `pna-bench stalls`. */
int bench_stall_main(int argc, char **argv);

#endif
