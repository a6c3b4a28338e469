/* redis_link: hiredis blocking contexts, one per cluster node, a slot map
 * from CLUSTER SLOTS, and pipelined batches that follow -MOVED and -ASK.
 * Runs in whichever thread owns the link (the shard's Redis writer thread,
 * or the shard process during its reload). */
#include "redis_link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NO_NODE UINT16_MAX
#define ROUTE_NODE 0x80000000u /* cmd.route: a node number, not a slot */
#define HOST_MAX 255

struct node {
	char host[HOST_MAX + 1];
	char addr[HOST_MAX + 8]; /* "host:port", for messages */
	int port;
	redisContext *ctx; /* NULL while not connected */
	bool master;	   /* serves slots (standalone: the server) */
	unsigned sent;	   /* commands in flight this round */
	long long id;	   /* CLIENT ID of ctx, 0 when unknown */
	char laddr[72];	   /* our end of ctx as Redis names it */
	/* A dropped connection whose commands Redis may still run (see fence). */
	long long stale_id;
	char stale_laddr[72];
};

struct redis_link {
	struct node *nodes; /* [0]: the configured address */
	unsigned nnodes, cap;
	int want_cluster;
	bool cluster, connected, stale;
	struct timeval tv;
	struct redis_link_stats st;
	uint16_t slot[REDIS_LINK_SLOTS]; /* node serving each slot, or NO_NODE */
};

struct cmd {
	size_t off, len; /* the RESP text in batch.buf */
	uint32_t route;	 /* a slot, or ROUTE_NODE | node */
	uint16_t node;	 /* where it went this round */
	uint16_t ask;	 /* NO_NODE, or where an -ASK sent it next */
	bool asked;	 /* went with ASKING this round */
	redisReply *reply;
};

struct redis_link_batch {
	char *buf;
	size_t len, cap;
	struct cmd *cmds;
	unsigned n, ncap;
};

/* clang-format off */
static const uint16_t crc16tab[256] = {
	0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
	0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
	0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
	0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
	0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
	0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
	0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
	0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
	0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
	0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
	0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
	0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
	0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
	0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
	0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
	0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
	0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
	0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
	0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
	0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
	0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
	0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
	0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
	0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
	0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
	0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
	0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
	0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
	0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
	0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
	0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
	0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};
/* clang-format on */

uint16_t redis_link_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)((crc << 8) ^ crc16tab[((crc >> 8) ^ p[i]) & 0xff]);
	return crc;
}

unsigned redis_link_slot(const void *key, size_t len)
{
	const char *k = key;
	const char *open = memchr(k, '{', len), *close;

	/* Redis Cluster spec, "Hash tags": an empty tag ("{}") hashes the key. */
	if (open) {
		close = memchr(open + 1, '}', len - (size_t)(open + 1 - k));
		if (close && close > open + 1)
			return redis_link_crc16(open + 1, (size_t)(close - open - 1)) &
			       (REDIS_LINK_SLOTS - 1);
	}
	return redis_link_crc16(k, len) & (REDIS_LINK_SLOTS - 1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		abort();
	return p;
}

/* "host:port" or "[v6]:port" into host (HOST_MAX) and *port. */
static int split_addr(const char *addr, size_t alen, char *host, int *port)
{
	const char *colon = NULL;
	size_t hlen;
	long p = 0;

	for (size_t i = 0; i < alen; i++)
		if (addr[i] == ':')
			colon = addr + i;
	if (!colon || colon == addr || colon + 1 == addr + alen || addr + alen - colon > 6)
		return -EINVAL;
	for (const char *c = colon + 1; c < addr + alen; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		p = p * 10 + (*c - '0');
	}
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[' && hlen >= 2 && colon[-1] == ']') {
		addr++;
		hlen -= 2;
	}
	if (p < 1 || p > 65535 || hlen == 0 || hlen > HOST_MAX)
		return -EINVAL;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

/* The number of node host:port, added if new. */
static unsigned node_get(struct redis_link *l, const char *host, int port)
{
	struct node *n;

	for (unsigned i = 0; i < l->nnodes; i++)
		if (l->nodes[i].port == port && strcmp(l->nodes[i].host, host) == 0)
			return i;
	if (l->nnodes == NO_NODE - 1)
		abort(); /* 65534 distinct nodes: not a Redis Cluster */
	if (l->nnodes == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->nodes = xrealloc(l->nodes, l->cap * sizeof(*l->nodes));
	}
	n = &l->nodes[l->nnodes];
	memset(n, 0, sizeof(*n));
	snprintf(n->host, sizeof(n->host), "%s", host);
	snprintf(n->addr, sizeof(n->addr), "%s:%d", host, port);
	n->port = port;
	return l->nnodes++;
}

int redis_link_new(const struct redis_link_conf *conf, struct redis_link **out)
{
	struct redis_link *l;
	char host[HOST_MAX + 1];
	int port, ms = conf->timeout_ms > 0 ? conf->timeout_ms : 1000;

	if (!conf->addr || split_addr(conf->addr, strlen(conf->addr), host, &port) < 0)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->want_cluster = conf->cluster;
	l->tv.tv_sec = ms / 1000;
	l->tv.tv_usec = (ms % 1000) * 1000;
	node_get(l, host, port);
	*out = l;
	return 0;
}

static void node_drop(struct node *n)
{
	if (!n->ctx)
		return;
	if (n->id) {
		n->stale_id = n->id;
		memcpy(n->stale_laddr, n->laddr, sizeof(n->laddr));
	}
	n->id = 0;
	redisFree(n->ctx);
	n->ctx = NULL;
	n->sent = 0;
}

void redis_link_disconnect(struct redis_link *l)
{
	for (unsigned i = 0; i < l->nnodes; i++)
		node_drop(&l->nodes[i]);
	l->connected = false;
}

void redis_link_free(struct redis_link *l)
{
	if (!l)
		return;
	redis_link_disconnect(l);
	free(l->nodes);
	free(l);
}

bool redis_link_connected(const struct redis_link *l)
{
	return l->connected;
}

bool redis_link_is_cluster(const struct redis_link *l)
{
	return l->cluster;
}

unsigned redis_link_masters(const struct redis_link *l, unsigned *idx, unsigned cap)
{
	unsigned n = 0;

	for (unsigned i = 0; i < l->nnodes; i++) {
		if (!l->nodes[i].master)
			continue;
		if (n < cap)
			idx[n] = i;
		n++;
	}
	return n;
}

const char *redis_link_node_addr(const struct redis_link *l, unsigned n)
{
	return n < l->nnodes ? l->nodes[n].addr : "?";
}

void redis_link_stats(const struct redis_link *l, struct redis_link_stats *out)
{
	*out = l->st;
}

/* hiredis keeps no errno; its message does say what happened. */
static int ctx_errno(const redisContext *c)
{
	if (strstr(c->errstr, "refused"))
		return -ECONNREFUSED;
	if (strstr(c->errstr, "timed out") || strstr(c->errstr, "temporarily unavailable"))
		return -ETIMEDOUT;
	return -EIO;
}

/* Our end of ctx as Redis's CLIENT LIST spells it ("ip:port", "[ip6]:port"). */
static void local_addr(struct node *n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];

	n->laddr[0] = '\0';
	if (getsockname(n->ctx->fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(n->laddr, sizeof(n->laddr), "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(n->laddr, sizeof(n->laddr), "[%s]:%u", ip, ntohs(a->sin6_port));
	}
}

/* A connection dropped on a timeout may still have commands in Redis's
 * socket buffer (a hung or stopped server, a partition), which Redis would
 * run after the ones the next connection sends: out of order. So before a
 * new connection carries anything, the last one is killed: CLIENT KILL by ID
 * and address, so that after a restart (IDs start over) no one else's
 * connection matches. Best effort: a server that refuses CLIENT KILL (ACL)
 * is not fenced (counted in fence_errors). Then learn this one's ID. */
static int fence(struct redis_link *l, struct node *n)
{
	bool kill = n->stale_id && n->stale_laddr[0];
	redisReply *r;

	if (kill)
		redisAppendCommand(n->ctx, "CLIENT KILL ID %lld ADDR %s SKIPME yes", n->stale_id,
				   n->stale_laddr);
	redisAppendCommand(n->ctx, "CLIENT ID");
	if (kill) {
		if (redisGetReply(n->ctx, (void **)&r) != REDIS_OK)
			return -1;
		if (r->type == REDIS_REPLY_INTEGER)
			l->st.fenced += (uint64_t)r->integer;
		else
			l->st.fence_errors++;
		freeReplyObject(r);
		n->stale_id = 0;
	}
	if (redisGetReply(n->ctx, (void **)&r) != REDIS_OK)
		return -1;
	n->id = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	local_addr(n);
	return 0;
}

static int node_connect(struct redis_link *l, unsigned i, char *err, size_t errlen)
{
	struct node *n = &l->nodes[i];
	int rc;

	if (n->ctx)
		return 0;
	n->ctx = redisConnectWithTimeout(n->host, n->port, l->tv);
	if (!n->ctx)
		abort();
	if (n->ctx->err || redisSetTimeout(n->ctx, l->tv) != REDIS_OK || fence(l, n) < 0) {
		rc = ctx_errno(n->ctx);
		log_buf(err, errlen, "redis %s: %s", n->addr, n->ctx->errstr);
		redisFree(n->ctx);
		n->ctx = NULL;
		return rc;
	}
	redisEnableKeepAlive(n->ctx);
	return 0;
}

/* One command on node i, outside any batch (connect-time queries). The reply
 * (caller frees), or NULL with *rc and err set. */
static redisReply *node_query(struct redis_link *l, unsigned i, const char *cmd, int *rc, char *err,
			      size_t errlen)
{
	struct node *n = &l->nodes[i];
	redisReply *r = redisCommand(n->ctx, cmd);

	if (!r) {
		*rc = ctx_errno(n->ctx);
		log_buf(err, errlen, "redis %s: %s: %s", n->addr, cmd, n->ctx->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		*rc = -EPROTO;
		log_buf(err, errlen, "redis %s: %s: %s", n->addr, cmd, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static bool int_in(const redisReply *r, long long lo, long long hi)
{
	return r->type == REDIS_REPLY_INTEGER && r->integer >= lo && r->integer <= hi;
}

/* One CLUSTER SLOTS entry: [start, end, [host, port, id, ...], replicas...]. */
static int slots_entry(struct redis_link *l, unsigned via, const redisReply *e)
{
	const redisReply *m;
	const char *host;
	unsigned n;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
		return -EPROTO;
	m = e->element[2];
	if (!int_in(e->element[0], 0, REDIS_LINK_SLOTS - 1) ||
	    !int_in(e->element[1], e->element[0]->integer, REDIS_LINK_SLOTS - 1) ||
	    m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
	    m->element[0]->type != REDIS_REPLY_STRING || !int_in(m->element[1], 1, 65535) ||
	    m->element[0]->len > HOST_MAX)
		return -EPROTO;
	host = m->element[0]->str;
	/* An unknown endpoint ("" or "?") means the node we asked (Redis 7
	 * cluster-preferred-endpoint-type). */
	if (!host[0] || !strcmp(host, "?"))
		host = l->nodes[via].host;
	n = node_get(l, host, (int)m->element[1]->integer);
	l->nodes[n].master = true;
	for (long long s = e->element[0]->integer; s <= e->element[1]->integer; s++)
		l->slot[s] = (uint16_t)n;
	return 0;
}

static int load_slots(struct redis_link *l, unsigned via, char *err, size_t errlen)
{
	int rc = 0;
	redisReply *r = node_query(l, via, "CLUSTER SLOTS", &rc, err, errlen);

	if (!r)
		return rc;
	for (unsigned s = 0; s < REDIS_LINK_SLOTS; s++)
		l->slot[s] = NO_NODE;
	for (unsigned i = 0; i < l->nnodes; i++)
		l->nodes[i].master = false;
	if (r->type != REDIS_REPLY_ARRAY)
		rc = -EPROTO;
	for (size_t i = 0; rc == 0 && i < r->elements; i++)
		rc = slots_entry(l, via, r->element[i]);
	freeReplyObject(r);
	if (rc < 0) {
		log_buf(err, errlen, "redis %s: malformed CLUSTER SLOTS reply", l->nodes[via].addr);
		return rc;
	}
	/* A node that serves nothing any more (a demoted master) is dropped. */
	for (unsigned i = 0; i < l->nnodes; i++)
		if (!l->nodes[i].master)
			node_drop(&l->nodes[i]);
	for (unsigned i = 0; rc == 0 && i < l->nnodes; i++)
		if (l->nodes[i].master)
			rc = node_connect(l, i, err, errlen);
	l->stale = false;
	l->st.slot_loads++;
	return rc;
}

static int try_node(struct redis_link *l, unsigned i, char *err, size_t errlen)
{
	redisReply *r;
	int rc = node_connect(l, i, err, errlen);

	if (rc < 0)
		return rc;
	l->cluster = l->want_cluster > 0;
	if (l->want_cluster < 0) {
		r = node_query(l, i, "INFO cluster", &rc, err, errlen);
		if (!r)
			return rc;
		l->cluster = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_enabled:1");
		freeReplyObject(r);
	}
	if (l->cluster)
		return load_slots(l, i, err, errlen);
	for (unsigned n = 0; n < l->nnodes; n++)
		l->nodes[n].master = n == i;
	for (unsigned s = 0; s < REDIS_LINK_SLOTS; s++)
		l->slot[s] = (uint16_t)i;
	return 0;
}

int redis_link_connect(struct redis_link *l, char *err, size_t errlen)
{
	int rc = -EIO;

	redis_link_disconnect(l);
	/* The configured node first, then any node the slot map named. */
	for (unsigned i = 0; i < l->nnodes; i++) {
		rc = try_node(l, i, err, errlen);
		if (rc == 0) {
			l->connected = true;
			l->st.connects++;
			return 0;
		}
		redis_link_disconnect(l);
	}
	return rc;
}

/* Batches. */

static void buf_need(struct redis_link_batch *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	while (b->len + more > b->cap)
		b->cap = b->cap ? b->cap * 2 : 4096;
	b->buf = xrealloc(b->buf, b->cap);
}

/* "<c><n>\r\n", c being '*' or '$'. */
static void put_count(struct redis_link_batch *b, char c, size_t n)
{
	char tmp[24];
	int k = sizeof(tmp);

	tmp[--k] = '\n';
	tmp[--k] = '\r';
	do {
		tmp[--k] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	tmp[--k] = c;
	memcpy(b->buf + b->len, tmp + k, sizeof(tmp) - (size_t)k);
	b->len += sizeof(tmp) - (size_t)k;
}

static void add_cmd(struct redis_link_batch *b, uint32_t route, int argc, const char *const *argv,
		    const size_t *argvlen)
{
	struct cmd *c;
	size_t off = b->len, need = 24;

	for (int i = 0; i < argc; i++)
		need += argvlen[i] + 26;
	buf_need(b, need);
	put_count(b, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		put_count(b, '$', argvlen[i]);
		memcpy(b->buf + b->len, argv[i], argvlen[i]);
		b->len += argvlen[i];
		b->buf[b->len++] = '\r';
		b->buf[b->len++] = '\n';
	}
	if (b->n == b->ncap) {
		b->ncap = b->ncap ? b->ncap * 2 : 256;
		b->cmds = xrealloc(b->cmds, b->ncap * sizeof(*b->cmds));
	}
	c = &b->cmds[b->n++];
	memset(c, 0, sizeof(*c));
	c->off = off;
	c->len = b->len - off;
	c->route = route;
	c->ask = NO_NODE;
}

struct redis_link_batch *redis_link_batch_new(void)
{
	struct redis_link_batch *b = calloc(1, sizeof(*b));

	if (!b)
		abort();
	return b;
}

void redis_link_batch_reset(struct redis_link_batch *b)
{
	for (unsigned i = 0; i < b->n; i++)
		if (b->cmds[i].reply)
			freeReplyObject(b->cmds[i].reply);
	b->n = 0;
	b->len = 0;
}

void redis_link_batch_free(struct redis_link_batch *b)
{
	if (!b)
		return;
	redis_link_batch_reset(b);
	free(b->buf);
	free(b->cmds);
	free(b);
}

void redis_link_batch_add(struct redis_link_batch *b, int argc, const char *const *argv,
			  const size_t *argvlen, int key)
{
	add_cmd(b, redis_link_slot(argv[key], argvlen[key]), argc, argv, argvlen);
}

void redis_link_batch_add_node(struct redis_link_batch *b, unsigned node, int argc,
			       const char *const *argv, const size_t *argvlen)
{
	add_cmd(b, ROUTE_NODE | node, argc, argv, argvlen);
}

unsigned redis_link_batch_count(const struct redis_link_batch *b)
{
	return b->n;
}

const struct redisReply *redis_link_batch_reply(const struct redis_link_batch *b, unsigned i)
{
	return i < b->n ? b->cmds[i].reply : NULL;
}

/* Exec. */

/* The node cmd c goes to this round, or NO_NODE. */
static unsigned route(struct redis_link *l, struct cmd *c)
{
	unsigned n;

	if (c->ask != NO_NODE) {
		n = c->ask;
		c->ask = NO_NODE;
		c->asked = true;
		return n;
	}
	c->asked = false;
	if (c->route & ROUTE_NODE) {
		n = c->route & ~ROUTE_NODE;
		return n < l->nnodes ? n : NO_NODE;
	}
	return l->slot[c->route];
}

/* Append commands [start, n) to their nodes' output buffers, then write every
 * node's buffer, so all nodes work on their part at once. */
static int send_round(struct redis_link *l, struct redis_link_batch *b, unsigned start, char *err,
		      size_t errlen)
{
	int rc, done;

	for (unsigned i = start; i < b->n; i++) {
		struct cmd *c = &b->cmds[i];
		unsigned n = route(l, c);

		if (n == NO_NODE) {
			l->stale = true;
			log_buf(err, errlen, "redis: no node serves slot %u",
				c->route & ~ROUTE_NODE);
			return -EAGAIN;
		}
		rc = node_connect(l, n, err, errlen);
		if (rc < 0)
			return -EIO;
		c->node = (uint16_t)n;
	}
	for (unsigned i = start; i < b->n; i++) {
		struct cmd *c = &b->cmds[i];
		struct node *nd = &l->nodes[c->node];

		if (c->asked)
			redisAppendCommand(nd->ctx, "ASKING");
		redisAppendFormattedCommand(nd->ctx, b->buf + c->off, c->len);
		nd->sent++;
	}
	for (unsigned n = 0; n < l->nnodes; n++) {
		struct node *nd = &l->nodes[n];

		for (done = !nd->sent; !done;) {
			if (redisBufferWrite(nd->ctx, &done) != REDIS_OK) {
				log_buf(err, errlen, "redis %s: %s", nd->addr, nd->ctx->errstr);
				return -EIO;
			}
		}
	}
	return 0;
}

/* -MOVED and -ASK ("MOVED 3999 127.0.0.1:6381"): the node to go to, or
 * NO_NODE when r is no redirect. */
static unsigned redirect(struct redis_link *l, struct cmd *c, const redisReply *r)
{
	char addr[HOST_MAX + 8], host[HOST_MAX + 1];
	unsigned slot, n;
	int port;
	bool moved;

	if (r->type != REDIS_REPLY_ERROR)
		return NO_NODE;
	moved = !strncmp(r->str, "MOVED ", 6);
	if (!moved && strncmp(r->str, "ASK ", 4))
		return NO_NODE;
	if (sscanf(r->str + (moved ? 6 : 4), "%u %262s", &slot, addr) != 2 ||
	    slot >= REDIS_LINK_SLOTS)
		return NO_NODE;
	if (addr[0] == ':') {
		/* Endpoint unknown to the cluster: the node that answered. */
		snprintf(host, sizeof(host), "%s", l->nodes[c->node].host);
		port = atoi(addr + 1);
		if (port < 1 || port > 65535)
			return NO_NODE;
	} else if (split_addr(addr, strlen(addr), host, &port) < 0) {
		return NO_NODE;
	}
	n = node_get(l, host, port);
	if (moved) {
		l->slot[slot] = (uint16_t)n;
		l->nodes[n].master = true;
		l->stale = true;
		l->st.moved++;
	} else {
		c->ask = (uint16_t)n;
		l->st.ask++;
	}
	return n;
}

/* Read node n's replies, in command order. Lowers *redir to the first
 * redirected command. */
static int read_node(struct redis_link *l, unsigned n, struct redis_link_batch *b, unsigned start,
		     unsigned *redir, char *err, size_t errlen)
{
	struct node *nd = &l->nodes[n];
	redisReply *r;

	for (unsigned i = start; i < b->n && nd->sent; i++) {
		struct cmd *c = &b->cmds[i];

		if (c->node != n)
			continue;
		if (c->asked) {
			if (redisGetReply(nd->ctx, (void **)&r) != REDIS_OK)
				goto err_io;
			freeReplyObject(r);
		}
		if (redisGetReply(nd->ctx, (void **)&r) != REDIS_OK)
			goto err_io;
		nd->sent--;
		if (redirect(l, c, r) != NO_NODE) {
			freeReplyObject(r);
			if (i < *redir)
				*redir = i;
			continue;
		}
		if (c->reply)
			freeReplyObject(c->reply);
		c->reply = r;
	}
	return 0;
err_io:
	log_buf(err, errlen, "redis %s: %s", nd->addr, nd->ctx->errstr);
	return -EIO;
}

static int refresh(struct redis_link *l, char *err, size_t errlen)
{
	for (unsigned i = 0; i < l->nnodes; i++)
		if (l->nodes[i].master && l->nodes[i].ctx)
			return load_slots(l, i, err, errlen);
	return redis_link_connect(l, err, errlen);
}

static int exec_rounds(struct redis_link *l, struct redis_link_batch *b, char *err, size_t errlen)
{
	unsigned start = 0, redir;
	int rc;

	for (int round = 0; start < b->n; round++) {
		if (round > REDIS_LINK_MAX_REDIRECTS) {
			log_buf(err, errlen, "redis: still redirected after %d rounds", round - 1);
			return -EAGAIN;
		}
		rc = send_round(l, b, start, err, errlen);
		if (rc < 0)
			return rc;
		redir = b->n;
		for (unsigned n = 0; n < l->nnodes; n++) {
			rc = read_node(l, n, b, start, &redir, err, errlen);
			if (rc < 0)
				return rc;
		}
		start = redir;
	}
	return 0;
}

int redis_link_exec(struct redis_link *l, struct redis_link_batch *b, char *err, size_t errlen)
{
	int rc;

	if (!l->connected) {
		log_buf(err, errlen, "redis: not connected");
		return -ENOTCONN;
	}
	if (l->cluster && l->stale) {
		rc = refresh(l, err, errlen);
		if (rc < 0)
			goto err_drop;
	}
	rc = exec_rounds(l, b, err, errlen);
	if (rc == -EIO)
		goto err_drop;
	return rc;
err_drop:
	/* Replies may be left unread on some connection: start afresh. */
	redis_link_disconnect(l);
	return -EIO;
}
