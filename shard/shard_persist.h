/* shard_persist: the durable copy of a shard's subscriptions and grants in
 * Redis (one server, or a Redis Cluster: MOVED and ASK followed, slots from
 * CLUSTER SLOTS). A thread of the shard process owns the Redis connections
 * and drains the shard's outbox (a ring in the subscription segment, so a
 * shard crash loses no change): every record is written through, pipelined,
 * and released from the outbox only once Redis acknowledged it. While Redis
 * is down the outbox fills; the shard refuses new subscriptions when it is
 * full. Keys carry the account as a hash tag, so one account lives in one
 * cluster slot (docs/operations.md, "Redis keys"). */
#ifndef PNA_SHARD_PERSIST_H
#define PNA_SHARD_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ring.h"
#include "lib/sub_msg.h"
#include "shard/sub_seg.h"

struct persist_conf {
	const char *redis;      /* host:port: the server, or any cluster node */
	int cluster;            /* 1 cluster, 0 standalone, -1 detect */
	const char *prefix;     /* key prefix, e.g. "pna" */
	uint32_t shard, nshards;
};

struct shard_persist;

/* Start the writer thread on `outbox` (the shard produces into it and calls
 * shard_persist_kick after). Counters go to c (persist_*, redis_up). Never
 * fails for Redis being down: it keeps retrying with backoff. 0 or -errno. */
int shard_persist_start(const struct persist_conf *conf, struct ring *outbox,
			struct sub_counters *c, struct shard_persist **out);
/* The shard queued records: wake the thread (cheap; an eventfd write). */
void shard_persist_kick(struct shard_persist *p);
/* Stop the thread (after trying to flush for up to 1 s) and free. */
void shard_persist_stop(struct shard_persist *p);

/* Cold start: load every subscription and grant whose account hashes
 * (hash_jump(hash64(account), nshards)) to conf->shard, calling sub/grant for
 * each. Synchronous, its own connection(s); blocks until Redis answers
 * (retrying while it is down, up to timeout_ms). 0, or -errno with a reason
 * in err. */
int shard_persist_reload(const struct persist_conf *conf,
			 int (*sub)(const struct sub_spec *s, void *arg),
			 int (*grant)(const struct grant *g, void *arg), void *arg,
			 int timeout_ms, char *err, size_t errlen);

#endif
