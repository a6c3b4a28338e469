/* micro_shard: pna-micro cases for shard/shard_state, the mailbox-state
 * table a shard applies every event to: MessageNew events on INBOX of 10,000
 * random accounts (as `pna-bench ingest` and `sip` send them) in a table
 * sized as pnad sizes it (accounts + 25 %), applied one at a time, and as
 * shard_main's drain applies a batch (each key hashed once, its tag line and
 * record prefetched 16 and 8 events ahead). Per event, cache misses
 * included: the table (5 MB) is larger than L2. */
#include <benchmark/benchmark.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
#include "lib/evrec.h"
#include "pna.pb-c.h"
#include "shard/shard_state.h"
}

#include "bench/micro/micro_cycles.h"

#define ACCOUNTS 10000u
#define NEVENTS 8192u /* events built once, applied in turn */
#define BATCH 256u    /* shard_main's drain batch */
#define FAR 16u
#define NEAR 8u

struct fixture {
	void *region;
	std::vector<uint64_t> buf; /* the evrecs, 8-byte aligned */
	std::vector<const struct evrec *> ev;
	std::vector<uint64_t> span; /* ring bytes of each */
	uint64_t pos = 64;
};

static const struct evrec *build(std::vector<uint64_t> &buf, size_t at, uint32_t k, uint32_t uid)
{
	struct evrec *e = (struct evrec *)&buf[at];
	char acct[48];
	int alen = snprintf(acct, sizeof(acct), "user%u@example%u.com", k, k % 100);

	memset(e, 0, sizeof(*e));
	e->type = PNA__EVENT_TYPE__MESSAGE_NEW;
	e->flags = EVREC_HAS_UID;
	e->uid = uid;
	e->len[EVREC_ACCOUNT] = (uint16_t)alen;
	e->len[EVREC_PATH] = 5;
	memcpy(evrec_str_mut(e, EVREC_ACCOUNT), acct, (size_t)alen + 1);
	memcpy(evrec_str_mut(e, EVREC_PATH), "INBOX", 6);
	return e;
}

/* The table with every account's INBOX in it, and the events. */
static fixture &fix()
{
	static fixture *f;
	uint64_t rng = 7;

	if (f)
		return *f;
	f = new fixture();
	size_t bytes = shard_state_footprint(ACCOUNTS + ACCOUNTS / 4);
	f->region = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
	shard_state_format(f->region, bytes, ACCOUNTS + ACCOUNTS / 4);
	f->buf.resize((size_t)NEVENTS * 16);
	for (uint32_t i = 0; i < NEVENTS; i++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		const struct evrec *e =
			build(f->buf, (size_t)i * 16, (uint32_t)(rng >> 33) % ACCOUNTS, i + 1);
		f->ev.push_back(e);
		f->span.push_back((8 + evrec_size(e->len) + 7) & ~(uint64_t)7);
	}
	std::vector<uint64_t> one(16);
	for (uint32_t k = 0; k < ACCOUNTS; k++) {
		const struct evrec *e = build(one, 0, k, 1);
		shard_state_apply(f->region, e, f->pos, f->pos + 64);
		f->pos += 64;
	}
	if (shard_state_count(f->region) != ACCOUNTS)
		abort();
	return *f;
}

/* shard_state_apply per event: hash, probe, update, no prefetch. */
static void state_apply(benchmark::State &st)
{
	fixture &f = fix();
	uint32_t i = 0;
	micro_cycles cyc(st);

	for (auto _ : st) {
		for (uint32_t n = 0; n < BATCH; n++, i = (i + 1) % NEVENTS) {
			shard_state_apply(f.region, f.ev[i], f.pos, f.pos + f.span[i]);
			f.pos += f.span[i];
		}
	}
	cyc.done(BATCH);
}
BENCHMARK(state_apply);

/* A drain batch: shard_state_hash once per event, shard_state_prefetch
 * stage 0 and 1 ahead, shard_state_apply_hashed. */
static void state_apply_batch(benchmark::State &st)
{
	fixture &f = fix();
	uint64_t hash[BATCH];
	uint32_t i = 0;
	micro_cycles cyc(st);

	for (auto _ : st) {
		for (uint32_t n = 0; n < BATCH; n++)
			hash[n] = shard_state_hash(f.ev[(i + n) % NEVENTS]);
		for (uint32_t n = 0; n < BATCH; n++) {
			uint32_t k = (i + n) % NEVENTS;

			if (n + FAR < BATCH)
				shard_state_prefetch(f.region, hash[n + FAR], 0);
			if (n + NEAR < BATCH)
				shard_state_prefetch(f.region, hash[n + NEAR], 1);
			shard_state_apply_hashed(f.region, f.ev[k], hash[n], f.pos,
						 f.pos + f.span[k]);
			f.pos += f.span[k];
		}
		i = (i + BATCH) % NEVENTS;
	}
	cyc.done(BATCH);
}
BENCHMARK(state_apply_batch);

/* The counts a note carries, read by the shard after an apply. */
static void state_counts(benchmark::State &st)
{
	fixture &f = fix();
	struct shard_counts c;
	uint32_t i = 0;
	micro_cycles cyc(st);

	for (auto _ : st) {
		for (uint32_t n = 0; n < BATCH; n++, i = (i + 1) % NEVENTS) {
			const struct evrec *e = f.ev[i];

			benchmark::DoNotOptimize(shard_state_counts(
				f.region, evrec_str(e, EVREC_ACCOUNT), e->len[EVREC_ACCOUNT],
				evrec_str(e, EVREC_PATH), e->len[EVREC_PATH], &c));
		}
	}
	cyc.done(BATCH);
}
BENCHMARK(state_counts);
