/* micro_cycles: cycles per operation for pna-micro (see micro_cycles.h). */
#include "bench/micro/micro_cycles.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static int perf_fd = -1;
static char source[160];

/* A user-space cycle counter of this thread, or -errno. */
static int perf_open()
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_CPU_CYCLES;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	return fd < 0 ? -errno : fd;
}

const char *micro_cycles_init()
{
	int fd = perf_open();

	if (fd >= 0) {
		perf_fd = fd;
		snprintf(source, sizeof(source),
			 "perf_event_open PERF_COUNT_HW_CPU_CYCLES (core cycles, user space)");
	} else {
		snprintf(source, sizeof(source),
			 "rdtsc x thread CPU time / wall time (TSC reference cycles, not core "
			 "cycles; perf_event_open: %s)",
			 strerror(-fd));
	}
	return source;
}

static uint64_t cycles_now()
{
	uint64_t v = 0;

	if (perf_fd >= 0 && read(perf_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		return v;
#if defined(__x86_64__)
	return __rdtsc();
#else
	return 0; /* no TSC: cycles/op reads 0 */
#endif
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

micro_cycles::micro_cycles(benchmark::State &st)
    : st_(st), cpu0_(clock_s(CLOCK_THREAD_CPUTIME_ID)), wall0_(clock_s(CLOCK_MONOTONIC)),
      c0_(cycles_now())
{
}

void micro_cycles::done(int64_t items_per_op)
{
	double cyc = (double)(cycles_now() - c0_);
	double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0_;
	double wall = clock_s(CLOCK_MONOTONIC) - wall0_;

	if (perf_fd < 0 && wall > 0 && cpu < wall)
		cyc *= cpu / wall;
	double per_op = cyc / (double)st_.iterations();

	st_.counters["cycles/op"] = per_op;
	if (items_per_op > 1) {
		st_.counters["cycles/event"] = per_op / (double)items_per_op;
		st_.counters["event"] = benchmark::Counter(
			(double)items_per_op, benchmark::Counter::kIsIterationInvariantRate |
						      benchmark::Counter::kInvert);
		st_.SetItemsProcessed(st_.iterations() * items_per_op);
	}
}
