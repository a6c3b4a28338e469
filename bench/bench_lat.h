/* bench_lat: a latency histogram for pna-bench. Log-linear buckets (64 per
 * power of two: under 1.6 % error) over nanoseconds, fixed size, no
 * allocation per sample, so recording costs a few instructions in the sink's
 * hot loop. */
#ifndef PNA_BENCH_LAT_H
#define PNA_BENCH_LAT_H

#include <stdint.h>

#define BENCH_LAT_SUB 64
#define BENCH_LAT_BUCKETS (40 * BENCH_LAT_SUB) /* up to 2^40 ns, 18 minutes */

struct bench_lat {
	uint64_t n, over; /* samples; those past the last bucket */
	double sum, max;  /* seconds */
	uint64_t b[BENCH_LAT_BUCKETS];
};

void bench_lat_reset(struct bench_lat *h);
/* Record one latency in seconds (negative values count as 0). */
void bench_lat_add(struct bench_lat *h, double seconds);
/* The q-quantile (0 < q <= 1) in seconds: the upper edge of its bucket; 0
 * without samples. */
double bench_lat_quantile(const struct bench_lat *h, double q);

#endif
