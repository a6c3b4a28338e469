/* micro_subs: pna-micro cases for shard/sub_table matching: a MessageNew on
 * INBOX matched in the mixed 1M-subscription table of `pna-bench subs`
 * (bench/bench_subtab), on one hot mailbox (in cache) and on random ones
 * (cache misses included, as a shard's stream of accounts), with 0, 1 and
 * 3 subscribers. */
#include <benchmark/benchmark.h>
#include <cstdint>
#include <cstdio>
#include <vector>

extern "C" {
#include "bench/bench_subtab.h"
#include "pna.pb-c.h"
#include "shard/sub_table.h"
}

#include "bench/micro/micro_cycles.h"

#define SUBS 1000000u
#define NAMES (1u << 18) /* random accounts a case cycles through */

struct name {
	char s[31];
	uint8_t len;
};

/* The table, built once for every case (about a second). */
static struct sub_table *table(const struct bench_subtab **out)
{
	static struct bench_subtab *x;

	if (!x) {
		x = new bench_subtab();
		if (bench_subtab_load_mixed(x, SUBS) < 0) {
			fprintf(stderr, "pna-micro: building the subscription table failed\n");
			abort();
		}
	}
	*out = x;
	return x->t;
}

static void on_match(uint32_t index, uint64_t id, void *arg)
{
	(void)index;
	(void)id;
	++*(uint64_t *)arg;
}

/* Args: the group (BENCH_G_NONE/ONE/THREE: 0, 1, 3 subscribers) and 1 for
 * random accounts of the group, 0 for its first account every time. */
static void sub_match(benchmark::State &st)
{
	const struct bench_subtab *x;
	struct sub_table *t = table(&x);
	int g = (int)st.range(0);
	bool random = st.range(1) != 0;
	std::vector<name> names(random ? NAMES : 1);
	uint64_t rng = 99, matches = 0;
	uint32_t mask = (uint32_t)names.size() - 1;
	size_t i = 0;

	for (name &n : names) {
		uint32_t k = x->first[g] + (uint32_t)(bench_subtab_rng(&rng) % x->count[g]);

		n.len = (uint8_t)bench_subtab_account(n.s, k);
	}
	micro_cycles cyc(st);
	for (auto _ : st) {
		const name &n = names[i++ & mask];
		sub_table_match(t, n.s, n.len, "INBOX", 5, PNA__EVENT_TYPE__MESSAGE_NEW, on_match,
				&matches);
	}
	cyc.done();
	st.counters["matches/op"] = (double)matches / (double)st.iterations();
}
BENCHMARK(sub_match)
	->ArgNames({ "subs", "random" })
	->ArgsProduct({ { BENCH_G_NONE, BENCH_G_ONE, BENCH_G_THREE }, { 0, 1 } });
