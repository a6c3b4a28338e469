/* fuzz_ingest: arbitrary bytes through the router's connection code
 * (ingest/ingest_conn.c) as the io_uring loop drives it: the stream is cut
 * into receive buffers at fuzzer-chosen points (frame reassembly), spread
 * over two connections (hello, takeover), decoded, validated and routed into
 * two small rings that fill up (pause, held buffers, resume). After every
 * step the invariants are checked: no buffer lost or released twice, every
 * record well-formed, per-store sequence numbers strictly increasing in each
 * ring, acks never ahead of what the rings hold, every byte queued for the
 * peer a valid frame.
 *
 * Input: data[0] = n, data[1..n] chunk descriptors (bits 0-5: length - 1,
 * bit 6: second connection, bit 7: let the shards consume), then the stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_conn.h"
#include "lib/arena.h"
#include "lib/evrec.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "proto/proto_frame.h"

#define NBUF 8
#define BUFSZ 64
#define RING_BYTES 4096
#define NSHARDS 2
#define NCONN 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pnad_conf conf;
static struct router_seg seg;
static _Alignas(64) unsigned char ring_mem[NSHARDS][sizeof(struct ring) + RING_BYTES];
static uint8_t pool_mem[NBUF * BUFSZ];
static uint32_t free_bids[NBUF], nfree;
static uint8_t held[NBUF];
static uint64_t seen_seq[NSHARDS][PNAD_MAX_STORES]; /* per ring: order kept */
static struct arena *out_arena;

#define ASSERT(x)                                                                                 \
	do {                                                                                      \
		if (!(x)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

static void release(void *arg, uint32_t bid)
{
	(void)arg;
	ASSERT(bid < NBUF && held[bid]);
	held[bid] = 0;
	free_bids[nfree++] = bid;
}

static void init_once(void)
{
	if (out_arena)
		return;
	log_max_level = LOG_ERROR;
	snprintf(conf.name, sizeof(conf.name), "fuzz");
	conf.max_frame = 2048;
	conf.max_connections = NCONN;
	conf.nstores = 2;
	snprintf(conf.stores[0].id, sizeof(conf.stores[0].id), "s1");
	snprintf(conf.stores[0].credential, sizeof(conf.stores[0].credential), "c1");
	snprintf(conf.stores[1].id, sizeof(conf.stores[1].id), "s2");
	out_arena = arena_create(4096);
}

/* What the shards do: take every record, check it. */
static void consume(struct ring *r, uint32_t shard)
{
	const struct evrec *e;
	uint32_t len;
	uint64_t pos;

	while ((e = ring_peek(r, &len, &pos))) {
		ASSERT(len >= sizeof(*e) && evrec_size(e->len) == len);
		ASSERT(e->store < conf.nstores);
		ASSERT(e->store_key ==
		       hash64(conf.stores[e->store].id, strlen(conf.stores[e->store].id)));
		ASSERT(e->type >= 1 && e->type <= PNA__EVENT_TYPE__SIEVE_NOTIFY);
		ASSERT(e->len[EVREC_ACCOUNT] > 0);
		ASSERT(strlen(evrec_str(e, EVREC_ACCOUNT)) == e->len[EVREC_ACCOUNT]);
		ASSERT(strchr(evrec_str(e, EVREC_ACCOUNT), '@'));
		ASSERT(e->store_seq > seen_seq[shard][e->store]);
		ASSERT(e->store_seq <= seg.stores[e->store].last_seq);
		seen_seq[shard][e->store] = e->store_seq;
		ring_release(r);
	}
}

/* Every byte queued for the peer must be whole, valid frames. */
static void check_out(struct ingest_conn *c)
{
	const uint8_t *p = c->out + c->out_off, *pl;
	size_t n = c->out_len - c->out_off, plen;
	const char *why;
	int used;

	while (n) {
		used = proto_frame_split(p, n, 4096, &pl, &plen, &why);
		ASSERT(used > 0);
		arena_reset(out_arena);
		ASSERT(proto_frame_decode(pl, plen, out_arena) != NULL);
		p += used;
		n -= (size_t)used;
	}
	c->out_off = c->out_len;
}

/* The loop's work after a pass, minus the I/O. */
static void flush(struct ingest_table *t)
{
	struct ingest_conn *c;

	while ((c = ingest_table_pop_dirty(t))) {
		if (c->state == INGEST_SESSION) {
			ingest_conn_ack(t, c);
			ASSERT(c->ack_sent <= seg.stores[c->store].last_seq);
		}
		check_out(c);
		if (c->state == INGEST_CLOSING || c->state == INGEST_LINGER)
			ingest_conn_kill(t, c);
		if (c->state == INGEST_DEAD)
			ingest_conn_release(t, c);
	}
}

/* Resume whoever waits on a ring with room; with `consume_now`, the shards
 * empty their rings first. */
static void space(struct ingest_table *t, int consume_now)
{
	int again = 1;

	while (again) {
		again = 0;
		for (uint32_t s = 0; s < NSHARDS; s++) {
			if (consume_now)
				consume(t->rings[s], s);
			if (t->want_space[s] && !ring_producer_wait(t->rings[s], t->wait_len[s])) {
				ingest_table_resume(t, s);
				again = 1;
			}
		}
	}
	flush(t);
}

static struct ingest_conn *conn_get(struct ingest_table *t, uint32_t i)
{
	struct ingest_conn *c = &t->conns[i];

	if (c->state == INGEST_FREE)
		ingest_conn_open(t, c, false);
	return c;
}

static void run(struct ingest_table *t, const uint8_t *desc, size_t ndesc, const uint8_t *p,
		size_t n)
{
	size_t k = 0;

	while (n) {
		uint8_t d = ndesc ? desc[k++ % ndesc] : 63;
		uint32_t len = (uint32_t)(d & 63) + 1, bid;
		struct ingest_conn *c = conn_get(t, (d >> 6) & 1);

		if (len > n)
			len = (uint32_t)n;
		/* Every buffer is held by a paused connection: the shards
		 * must make room before the kernel can receive again. */
		while (!nfree)
			space(t, 1);
		bid = free_bids[--nfree];
		ASSERT(!held[bid]);
		held[bid] = 1;
		memcpy(pool_mem + bid * BUFSZ, p, len);
		ingest_conn_input(t, c, bid, len);
		flush(t);
		space(t, d >> 7);
		p += len;
		n -= len;
	}
	for (uint32_t i = 0; i < NCONN; i++)
		if (t->conns[i].state != INGEST_FREE)
			ingest_conn_eof(t, &t->conns[i]);
	flush(t);
	for (int round = 0; round < 1000; round++) {
		space(t, 1);
		if (!t->want_space[0] && !t->want_space[1])
			break;
	}
	for (uint32_t i = 0; i < NCONN; i++) {
		ASSERT(!t->conns[i].paused);
		if (t->conns[i].state != INGEST_FREE)
			ingest_conn_kill(t, &t->conns[i]);
	}
	flush(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ring *rings[NSHARDS];
	struct ingest_params p;
	struct ingest_table *t;
	size_t ndesc;

	if (size < 1)
		return 0;
	init_once();
	ndesc = data[0] < size - 1 ? data[0] : size - 1;
	memset(&seg, 0, sizeof(seg));
	seg.nstores = conf.nstores;
	memset(seen_seq, 0, sizeof(seen_seq));
	for (int s = 0; s < NSHARDS; s++) {
		rings[s] = (struct ring *)ring_mem[s];
		memset(rings[s], 0, sizeof(ring_mem[s]));
		ring_init(rings[s], RING_BYTES);
	}
	nfree = 0;
	memset(held, 0, sizeof(held));
	for (uint32_t i = NBUF; i > 0; i--)
		free_bids[nfree++] = i - 1;
	memset(&p, 0, sizeof(p));
	p.conf = &conf;
	p.seg = &seg;
	p.rings = rings;
	p.nshards = NSHARDS;
	p.nconns = NCONN;
	p.pool.base = pool_mem;
	p.pool.size = BUFSZ;
	p.pool.count = NBUF;
	p.pool.release = release;
	ASSERT(ingest_table_create(&p, &t) == 0);
	run(t, data + 1, ndesc, data + 1 + ndesc, size - 1 - ndesc);
	ASSERT(nfree == NBUF);
	ASSERT(t->nsessions == 0);
	ASSERT(seg.c.open == 0);
	for (uint32_t i = 0; i < conf.nstores; i++)
		ASSERT(!seg.stores[i].connected);
	ingest_table_destroy(t);
	return 0;
}
