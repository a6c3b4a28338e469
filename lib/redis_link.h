/* redis_link: a small synchronous Redis client for a thread that owns its
 * connections: one server, or a Redis Cluster (slot map from CLUSTER SLOTS,
 * one connection per master, one pipeline per node, -MOVED and -ASK
 * followed). Built on hiredis's blocking API, since Debian's hiredis 0.14
 * knows no cluster. Used by the shard's Redis writer thread and by its
 * cold-start reload (shard/shard_persist.c). Not thread-safe: one link, one
 * thread. */
#ifndef PNA_REDIS_LINK_H
#define PNA_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_LINK_SLOTS 16384u
/* Redirect rounds one redis_link_exec follows before giving up (-EAGAIN). */
#define REDIS_LINK_MAX_REDIRECTS 8

/* CRC16-XMODEM (polynomial 0x1021, initial 0), the one Redis Cluster uses. */
uint16_t redis_link_crc16(const void *buf, size_t len);
/* The cluster slot of a key: the CRC16 of its hash tag (the bytes between
 * the first '{' and the next '}', when there are any) or else of the whole
 * key, mod 16384. Same as CLUSTER KEYSLOT. */
unsigned redis_link_slot(const void *key, size_t len);

struct redis_link_conf {
	const char *addr; /* host:port of the server, or of any cluster node */
	int cluster;	  /* 1 cluster, 0 standalone, -1 detect (INFO cluster) */
	int timeout_ms;	  /* connect and socket timeout: a dead peer is
			     * noticed after about this long */
};

struct redis_link;

/* A link (not connected yet). Copies conf. 0 and *out (caller owns; free
 * with redis_link_free), or -EINVAL when addr is not host:port. */
int redis_link_new(const struct redis_link_conf *conf, struct redis_link **out);
void redis_link_free(struct redis_link *l); /* accepts NULL */

/* (Re)connect: drop every connection, reach the configured node (else any
 * cluster node learnt before), detect cluster mode when asked, load the slot
 * map and connect every master. 0, or -errno (-ECONNREFUSED, -ETIMEDOUT,
 * -EIO, -EPROTO) with a reason in err.
 * Each new connection to a node first kills (CLIENT KILL ID .. ADDR ..) the
 * link's previous connection to it, should Redis still hold commands from
 * it, so that nothing sent before a timeout runs after what is sent next. */
int redis_link_connect(struct redis_link *l, char *err, size_t errlen);
/* Drop every connection (redis_link_exec then says -ENOTCONN). */
void redis_link_disconnect(struct redis_link *l);
bool redis_link_connected(const struct redis_link *l);
bool redis_link_is_cluster(const struct redis_link *l);

/* The masters, as node numbers (stable for the link's lifetime: a node
 * learnt once keeps its number), at most cap of them into idx. Returns how
 * many there are. Standalone: one, the server. */
unsigned redis_link_masters(const struct redis_link *l, unsigned *idx, unsigned cap);
/* "host:port" of node n (owned by the link). */
const char *redis_link_node_addr(const struct redis_link *l, unsigned n);

/* A pipeline of commands, formatted once into one buffer, with the reply of
 * each after redis_link_exec. Control-plane memory: grows as needed, aborts
 * on OOM, reused after redis_link_batch_reset. */
struct redis_link_batch;
struct redisReply;

struct redis_link_batch *redis_link_batch_new(void);
void redis_link_batch_free(struct redis_link_batch *b); /* accepts NULL */
/* Forget the commands and free their replies; keeps the memory. */
void redis_link_batch_reset(struct redis_link_batch *b);
/* Append a command that goes to the node serving the slot of argv[key]. */
void redis_link_batch_add(struct redis_link_batch *b, int argc, const char *const *argv,
			  const size_t *argvlen, int key);
/* Append a command for node `node` (SCAN, INFO, PING: per-node commands). */
void redis_link_batch_add_node(struct redis_link_batch *b, unsigned node, int argc,
			       const char *const *argv, const size_t *argvlen);
unsigned redis_link_batch_count(const struct redis_link_batch *b);
/* The reply of command i after redis_link_exec returned 0 (owned by the
 * batch until reset). An error reply other than a redirect is left for the
 * caller to judge (REDIS_REPLY_ERROR). */
const struct redisReply *redis_link_batch_reply(const struct redis_link_batch *b, unsigned i);

/* Send every command of b, pipelined per node (all nodes written before any
 * is read), and collect the replies. A -MOVED updates the slot map (and the
 * whole map is reloaded before the next batch); an -ASK sends ASKING and the
 * command to the named node, once. Commands must be idempotent: after a
 * redirect the batch runs again from the first redirected command, so a
 * later command on a key never lands before an earlier one.
 * 0; -ENOTCONN (not connected); -EIO (a connection failed or timed out: the
 * link is now disconnected); -EAGAIN (a slot no master serves, or more than
 * REDIS_LINK_MAX_REDIRECTS redirect rounds). A reason goes to err. */
int redis_link_exec(struct redis_link *l, struct redis_link_batch *b, char *err, size_t errlen);

struct redis_link_stats {
	uint64_t connects;     /* successful redis_link_connect calls */
	uint64_t moved, ask;   /* redirects followed */
	uint64_t slot_loads;   /* CLUSTER SLOTS fetched */
	uint64_t fenced;       /* old connections killed before a new one wrote */
	uint64_t fence_errors; /* CLIENT KILL refused (ACL): not fenced */
};
void redis_link_stats(const struct redis_link *l, struct redis_link_stats *out);

#endif
