/* micro_ingest: pna-micro cases for the router's per-frame work: split and
 * decode a 64-event Batch frame (proto/proto_frame into an arena, as
 * ingest_conn does), and check, canonicalise and write its events into a
 * shard ring (router/router_route), and the check alone. Reported per frame
 * and per event. */
#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
#include "lib/arena.h"
#include "lib/hash.h"
#include "lib/ring.h"
#include "proto/proto_frame.h"
#include "router/router_route.h"
}

#include "bench/micro/micro_cycles.h"

#define EVENTS 64
#define MAX_FRAME (1u << 20)
#define RING_BYTES (1u << 20)

/* A Batch of 64 MessageNew events as an LMTP delivery reports them (RFC 5423
 * fields a push-notification plugin fills), over 64 accounts, encoded once. */
struct batch_fix {
	char account[EVENTS][40];
	Pna__Event ev[EVENTS];
	Pna__Event *evp[EVENTS];
	std::vector<uint8_t> frame;
};

static const batch_fix &batch()
{
	static batch_fix *b;

	if (b)
		return *b;
	b = new batch_fix();
	for (unsigned i = 0; i < EVENTS; i++) {
		Pna__Event *e = &b->ev[i];

		snprintf(b->account[i], sizeof(b->account[i]), "user%07u@Example%u.com",
			 i * 15485863u % 10000000u, i % 7);
		pna__event__init(e);
		e->type = PNA__EVENT_TYPE__MESSAGE_NEW;
		e->account = b->account[i];
		e->mailbox = (char *)"INBOX";
		e->has_uidvalidity = e->has_uid = e->has_uidnext = 1;
		e->uidvalidity = 1700000000u + i;
		e->uid = 4711 + i;
		e->uidnext = e->uid + 1;
		e->has_messages = e->has_unseen = e->has_modseq = e->has_message_size = 1;
		e->messages = 300 + i;
		e->unseen = 3 + i % 5;
		e->modseq = 98765 + i;
		e->message_size = 18000 + 37 * i;
		e->timestamp = (char *)"2026-11-29T10:31:07.120+00:00";
		e->service = (char *)"lmtp";
		e->server_fqdn = (char *)"mx1.example.com";
		b->evp[i] = e;
	}
	Pna__Batch bt = PNA__BATCH__INIT;
	Pna__Frame f = PNA__FRAME__INIT;
	bt.first_seq = 1000;
	bt.n_events = EVENTS;
	bt.events = b->evp;
	f.msg_case = PNA__FRAME__MSG_BATCH;
	f.batch = &bt;
	b->frame.resize(proto_frame_size(&f));
	if (proto_frame_encode(&f, b->frame.data(), b->frame.size()) < 0)
		abort();
	return *b;
}

/* proto_frame_split + arena_reset + proto_frame_decode of one frame. */
static void frame_split_decode(benchmark::State &st)
{
	const batch_fix &b = batch();
	struct arena *a = arena_create(64 * 1024);
	const uint8_t *payload;
	size_t plen;
	const char *why;

	st.counters["frame_bytes"] = (double)b.frame.size();
	micro_cycles cyc(st);
	for (auto _ : st) {
		proto_frame_split(b.frame.data(), b.frame.size(), MAX_FRAME, &payload, &plen, &why);
		arena_reset(a);
		Pna__Frame *f = proto_frame_decode(payload, plen, a);
		benchmark::DoNotOptimize(f);
		if (!f || f->batch->n_events != EVENTS) {
			st.SkipWithError("decode failed");
			break;
		}
	}
	cyc.done(EVENTS);
	arena_destroy(a);
}
BENCHMARK(frame_split_decode);

/* router_route_batch alone (check and canonicalise every event in place,
 * hash its account to a shard): the check's share of frame_route_ring.
 * From the second pass on the names are canonical already; the cost does
 * not depend on it (every name byte is read and written either way). */
static void frame_route_check(benchmark::State &st)
{
	const batch_fix &b = batch();
	struct arena *a = arena_create(64 * 1024);
	const uint8_t *payload;
	size_t plen;
	const char *why;
	char err[ROUTER_REASON_MAX];
	struct router_route_ev ck[EVENTS];
	struct router_route_limits lim = { 8, 1u << 16 };

	proto_frame_split(b.frame.data(), b.frame.size(), MAX_FRAME, &payload, &plen, &why);
	Pna__Batch *bt = proto_frame_decode(payload, plen, a)->batch;
	micro_cycles cyc(st);
	for (auto _ : st) {
		if (router_route_batch(bt, &lim, ck, err, sizeof(err)) < 0) {
			st.SkipWithError(err);
			break;
		}
		benchmark::ClobberMemory();
	}
	cyc.done(EVENTS);
	arena_destroy(a);
}
BENCHMARK(frame_route_check);

static void drain(struct ring *r)
{
	uint32_t len;
	uint64_t pos;

	while (ring_peek(r, &len, &pos))
		ring_release(r);
}

/* A decoded frame's router work: router_route_batch (check and canonicalise
 * every event, hash its account to a shard) then router_route_put of each
 * event (reserve, copy, commit) into one ring, which
 * the loop also drains (ring_peek + ring_release, a few ns per record) so
 * it never fills. */
static void frame_route_ring(benchmark::State &st)
{
	const batch_fix &b = batch();
	struct arena *a = arena_create(64 * 1024);
	const uint8_t *payload;
	size_t plen;
	const char *why;
	size_t rbytes = ring_footprint(RING_BYTES);
	struct ring *r = (struct ring *)aligned_alloc(64, rbytes);
	uint64_t store_key = hash64("store-1", 7);
	char err[ROUTER_REASON_MAX];
	struct router_route_ev ck[EVENTS];
	uint32_t need;

	memset(r, 0, rbytes);
	ring_init(r, RING_BYTES);
	proto_frame_split(b.frame.data(), b.frame.size(), MAX_FRAME, &payload, &plen, &why);
	Pna__Batch *bt = proto_frame_decode(payload, plen, a)->batch;
	struct router_route_limits lim = { 8, ring_max_record(r) };
	micro_cycles cyc(st);
	for (auto _ : st) {
		if (router_route_batch(bt, &lim, ck, err, sizeof(err)) < 0) {
			st.SkipWithError(err);
			break;
		}
		for (size_t i = 0; i < bt->n_events; i++)
			router_route_put(r, bt->events[i], &ck[i], bt->first_seq + i, 0, store_key,
					 &need);
		drain(r);
	}
	cyc.done(EVENTS);
	free(r);
	arena_destroy(a);
}
BENCHMARK(frame_route_ring);
