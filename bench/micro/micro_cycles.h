/* micro_cycles: the "cycles/op" counter of pna-micro. Google Benchmark
 * measures time; this adds cycles from the core's cycle counter
 * (perf_event_open, PERF_COUNT_HW_CPU_CYCLES, user space only, counting
 * only while the thread runs) when the kernel exposes one, else from the
 * TSC: rdtsc ticks over the loop scaled by the thread's CPU time over the
 * wall time, so that time spent descheduled on a busy machine is left out.
 * TSC ticks are reference cycles at the TSC's fixed rate, not core cycles
 * (a Firecracker VM has no PMU). */
#ifndef PNA_MICRO_CYCLES_H
#define PNA_MICRO_CYCLES_H

#include <benchmark/benchmark.h>
#include <cstdint>

/* Pick the source (once, before any benchmark runs); its description for
 * the report's context, e.g. "rdtsc x thread CPU time / wall time (...;
 * perf_event_open: No such file or directory)". */
const char *micro_cycles_init();

/* Cycles over a benchmark's timed loop: construct right before
 * `for (auto _ : st)`, call done() right after it. done() sets
 * st.counters["cycles/op"] and, when items_per_op > 1 (events in a
 * frame), "cycles/event" and "event" (time per event). */
class micro_cycles
{
      public:
	explicit micro_cycles(benchmark::State &st);
	void done(int64_t items_per_op = 1);

      private:
	benchmark::State &st_;
	double cpu0_, wall0_;
	uint64_t c0_;
};

#endif
