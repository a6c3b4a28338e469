/* hash: 64-bit multiply-mix hash over 8-byte words (wyhash-style folding,
 * murmur3 finaliser) and jump consistent hashing. */
#include "hash.h"

#include <string.h>

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

uint64_t hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = mix(h ^ w, 0xa0761d6478bd642fULL);
		p += 8;
		len -= 8;
	}
	w = 0;
	memcpy(&w, p, len);
	h = mix(h ^ w, 0xe7037ed1a0b428dbULL);
	return fmix64(h);
}

uint32_t hash_jump(uint64_t key, uint32_t buckets)
{
	int64_t b = -1, j = 0;

	while (j < (int64_t)buckets) {
		b = j;
		key = key * 2862933555777941757ULL + 1;
		j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
	}
	return (uint32_t)b;
}
