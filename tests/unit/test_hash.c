/* test_hash: balance of accounts over shards and the share of accounts that
 * move when a shard is added (issue #2's acceptance figures). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/hash.h"

#define ACCOUNTS 1000000u

static uint32_t shard_of(uint32_t i, uint32_t n)
{
	char acct[64];
	int len = snprintf(acct, sizeof(acct), "user%u@domain%u.example", i, i % 997);

	return hash_jump(hash64(acct, (size_t)len), n);
}

static void balance(uint32_t n)
{
	uint32_t *count = calloc(n, sizeof(*count));
	uint32_t max = 0;
	double mean = (double)ACCOUNTS / n;

	for (uint32_t i = 0; i < ACCOUNTS; i++)
		count[shard_of(i, n)]++;
	for (uint32_t s = 0; s < n; s++)
		max = count[s] > max ? count[s] : max;
	printf("shards=%u max/mean=%.4f\n", n, max / mean);
	CHECK(max / mean <= 1.03);
	free(count);
}

static void remap(uint32_t n)
{
	uint32_t moved = 0, wrong_target = 0;
	double expect = 1.0 / (n + 1), share;

	for (uint32_t i = 0; i < ACCOUNTS; i++) {
		uint32_t a = shard_of(i, n), b = shard_of(i, n + 1);

		if (a != b) {
			moved++;
			wrong_target += b != n; /* jump hash moves keys only to the new shard */
		}
	}
	share = (double)moved / ACCOUNTS;
	printf("shards=%u->%u moved=%.4f expected=%.4f\n", n, n + 1, share, expect);
	CHECK(share > expect * 0.9 && share < expect * 1.1);
	CHECK_EQ(wrong_target, 0);
}

/* hash64 as first written (a memcpy of the tail): the values must never
 * change, since they place every account on its shard. */
static uint64_t ref_hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
	__uint128_t r;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		r = (__uint128_t)(h ^ w) * 0xa0761d6478bd642fULL;
		h = (uint64_t)r ^ (uint64_t)(r >> 64);
	}
	w = 0;
	memcpy(&w, p, len);
	r = (__uint128_t)(h ^ w) * 0xe7037ed1a0b428dbULL;
	h = (uint64_t)r ^ (uint64_t)(r >> 64);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static void stable(void)
{
	unsigned char buf[80];
	unsigned bad = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len++)
			bad += hash64(buf + off, len) != ref_hash64(buf + off, len);
	CHECK_EQ(bad, 0);
	/* A value fixed once: accounts must not move between versions. */
	CHECK(hash64("alice@example.com", 17) == 0xc829c8a377af606eULL);
	CHECK(hash64("INBOX", 5) == 0x2d5ac7b30649cae0ULL);
}

int main(void)
{
	stable();
	uint32_t sizes[] = { 2, 3, 4, 8, 16 };

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		balance(sizes[i]);
		remap(sizes[i]);
	}
	/* Stable: the placement is part of the on-disk contract. */
	CHECK_EQ(hash64("alice@example.com", 17), hash64("alice@example.com", 17));
	CHECK(hash64("a", 1) != hash64("b", 1));
	CHECK_EQ(hash_jump(12345, 1), 0);
	return check_summary();
}
