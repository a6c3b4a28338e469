/* bench_lat: log-linear latency buckets. */
#include "bench/bench_lat.h"

#include <string.h>

void bench_lat_reset(struct bench_lat *h)
{
	memset(h, 0, sizeof(*h));
}

/* Bucket of v ns: below 64 ns one per ns; above, 64 per power of two. */
static uint32_t bucket(uint64_t v)
{
	int e;

	if (v < BENCH_LAT_SUB)
		return (uint32_t)v;
	e = 63 - __builtin_clzll(v); /* >= 6 */
	return (uint32_t)((e - 5) * BENCH_LAT_SUB) +
	       (uint32_t)((v >> (e - 6)) & (BENCH_LAT_SUB - 1));
}

/* The largest value in bucket i, ns. */
static double upper(uint32_t i)
{
	uint32_t e = i / BENCH_LAT_SUB, m = i % BENCH_LAT_SUB;

	if (e == 0)
		return m;
	e += 5;
	return (double)(((uint64_t)(BENCH_LAT_SUB + m + 1) << (e - 6)) - 1);
}

void bench_lat_add(struct bench_lat *h, double seconds)
{
	uint64_t ns = seconds > 0 ? (uint64_t)(seconds * 1e9) : 0;
	uint32_t i = bucket(ns);

	h->n++;
	h->sum += seconds > 0 ? seconds : 0;
	if (seconds > h->max)
		h->max = seconds;
	if (i < BENCH_LAT_BUCKETS)
		h->b[i]++;
	else
		h->over++;
}

double bench_lat_quantile(const struct bench_lat *h, double q)
{
	uint64_t want, seen = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)(q * (double)h->n + 0.999999);
	if (want == 0)
		want = 1;
	for (uint32_t i = 0; i < BENCH_LAT_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return upper(i) / 1e9 < h->max ? upper(i) / 1e9 : h->max;
	}
	return h->max;
}
