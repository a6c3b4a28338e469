/* hash: the 64-bit string hash and the jump consistent hash that route an
 * account to its logical shard. Pure functions, used by every role that must
 * agree on placement (router, pnactl, bench, tests). */
#ifndef PNA_HASH_H
#define PNA_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A fast, well-mixed 64-bit hash of `len` bytes (stable across versions:
 * changing it moves every account). */
uint64_t hash64(const void *data, size_t len);

/* Lamping and Veach's jump consistent hash: a bucket in [0, buckets). Growing
 * buckets from n to n+1 moves about 1/(n+1) of the keys, all to the new one. */
uint32_t hash_jump(uint64_t key, uint32_t buckets);

#endif
