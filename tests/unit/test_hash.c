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

int main(void)
{
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
