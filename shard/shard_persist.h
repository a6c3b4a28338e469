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

/* Redis keys (one account's keys share the hash tag {<account>}, so they
 * live in one Redis Cluster slot):
 *
 *   <prefix>:{<account>}:subs     hash, one field per subscription:
 *       field  the subscription id in decimal ("42")
 *       value  compact JSON of every field of struct sub_spec:
 *              {"id":42,"transport":1,"depth":1,"events":0,
 *               "expires":1700000000,"heartbeat":0,"account":"a@x.org",
 *               "path":"INBOX","subscriber":"sip:b@y.org","target":"..."}
 *   <prefix>:{<account>}:grants   hash, one field per grant:
 *       field  "<path>\n<grantee>"
 *       value  {"account":"a@x.org","path":"INBOX","grantee":"@y.org","rights":1}
 *
 * transport: 1 SIP, 2 XMPP; depth: 0 exact, 1 subtree; events: bit
 * (1 << Pna__EventType) per type, 0 = all; expires: unix seconds; path ""
 * is the account root. Writes are HSET / HDEL of one field (idempotent, so
 * the outbox can be replayed after a crash); the last HDEL removes the key
 * (Redis does). Strings are JSON-escaped (RFC 8259 section 7), other bytes
 * are stored as they are. Keys need no TTL: expired subscriptions are
 * deleted by the shard (sub_table_tick), and a reload hands the shard
 * whatever is there, expired or not. The JSON codec is shard/sub_json.h. */

#define SHARD_PERSIST_PREFIX_MAX 64 /* bytes of persist_conf.prefix */

struct persist_conf {
	const char *redis;  /* host:port: the server, or any cluster node */
	int cluster;	    /* 1 cluster, 0 standalone, -1 detect */
	const char *prefix; /* key prefix, e.g. "pna": 1..64 bytes, no '{' '}' */
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
 * in err.
 * Each entry is reported once, even when SCAN returns its key twice. A NULL
 * sub or grant skips that kind. A callback's non-zero return stops the
 * reload, which returns it (-ECANCELED if it was positive). Entries that do
 * not parse are skipped and logged. timeout_ms bounds each wait for Redis
 * (no progress for that long: -ETIMEDOUT), not the whole reload. Keys moved
 * between cluster nodes while the reload runs may be missed. The calling
 * thread should ignore SIGPIPE (pnad does): hiredis writes with write(2). */
int shard_persist_reload(const struct persist_conf *conf,
			 int (*sub)(const struct sub_spec *s, void *arg),
			 int (*grant)(const struct grant *g, void *arg), void *arg, int timeout_ms,
			 char *err, size_t errlen);

#endif
