/* micro_lib: pna-micro cases for lib/hash (the account -> shard placement
 * the router computes per event) and lib/names (the canonical spellings it
 * copies every name through). */
#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "lib/hash.h"
#include "lib/names.h"
}

#include "bench/micro/micro_cycles.h"

#define NSHARDS 8 /* shard processes hash_jump spreads accounts over */

/* 1024 accounts of mixed shapes and lengths, as a mail store sends them. */
static const std::vector<std::string> &accounts()
{
	static std::vector<std::string> v;

	if (v.empty()) {
		static const char *const fmt[] = { "user%07u@example.com",
						   "firstname.lastname%u@Mail.Example.ORG",
						   "%u@tenant%u.hosting.example.net", "a%u@x.io" };
		char buf[96];

		for (unsigned i = 0; i < 1024; i++) {
			snprintf(buf, sizeof(buf), fmt[i % 4], i * 7919u, i % 97);
			v.emplace_back(buf);
		}
	}
	return v;
}

static void hash64_account(benchmark::State &st)
{
	const std::vector<std::string> &a = accounts();
	size_t i = 0;
	micro_cycles cyc(st);

	for (auto _ : st) {
		const std::string &s = a[i++ & 1023];
		benchmark::DoNotOptimize(hash64(s.data(), s.size()));
	}
	cyc.done();
}
BENCHMARK(hash64_account);

/* What the router does per event: hash64 then jump to a shard. */
static void hash64_jump_account(benchmark::State &st)
{
	const std::vector<std::string> &a = accounts();
	size_t i = 0;
	micro_cycles cyc(st);

	for (auto _ : st) {
		const std::string &s = a[i++ & 1023];
		benchmark::DoNotOptimize(hash_jump(hash64(s.data(), s.size()), NSHARDS));
	}
	cyc.done();
}
BENCHMARK(hash64_jump_account);

/* names_account lower-cases the domain: the inputs have mixed case. */
static void names_account_canon(benchmark::State &st)
{
	const std::vector<std::string> &a = accounts();
	char out[NAMES_ACCOUNT_MAX + 1];
	const char *why = nullptr;
	size_t i = 0;
	micro_cycles cyc(st);

	for (auto _ : st) {
		const std::string &s = a[i++ & 1023];
		benchmark::DoNotOptimize(names_account(s.data(), s.size(), out, sizeof(out), &why));
		benchmark::ClobberMemory();
	}
	cyc.done();
}
BENCHMARK(names_account_canon);

static void names_path_canon(benchmark::State &st)
{
	static const char *const paths[] = { "INBOX",
					     "inbox",
					     "INBOX/Lists/pnad-dev",
					     "Inbox/Receipts/2026",
					     "Sent",
					     "Archive/2025/Q4",
					     "Trash",
					     "Junk" };
	size_t len[8];
	char out[NAMES_KEY_MAX + 1];
	const char *why = nullptr;
	size_t i = 0;

	for (int k = 0; k < 8; k++)
		len[k] = strlen(paths[k]);
	micro_cycles cyc(st);
	for (auto _ : st) {
		size_t k = i++ & 7;
		benchmark::DoNotOptimize(names_path(paths[k], len[k], out, sizeof(out), &why));
		benchmark::ClobberMemory();
	}
	cyc.done();
}
BENCHMARK(names_path_canon);
