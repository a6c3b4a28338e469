/* ingest_conn: session state machine, frame reassembly and routing of the
 * router process, with no I/O (see ingest_conn.h). Frames that arrive whole
 * in a receive buffer are decoded in place; a frame split across buffers is
 * copied into the slot's reassembly buffer. A connection that finds a ring
 * full keeps its receive buffers, remembers the next event of the frame and
 * waits on that shard's list; nothing is dropped. */
#include "ingest/ingest_conn.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "proto/proto_frame.h"

#define RBUF_SMALL 4096u
#define RBUF_KEEP (64u << 10) /* a larger reassembly buffer is freed on close */
#define ARENA_MIN (64u << 10)

/* Single writer: a relaxed store is enough for readers of the segment. */
#define CTR_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

static inline uint8_t *buf_at(const struct ingest_table *t, uint32_t bid)
{
	return t->pool.base + (size_t)bid * t->pool.size;
}

static inline bool live(const struct ingest_conn *c)
{
	return c->state == INGEST_HELLO || c->state == INGEST_SESSION;
}

int ingest_table_create(const struct ingest_params *p, struct ingest_table **out)
{
	struct ingest_table *t;
	size_t arena;

	if (!p->conf || !p->seg || !p->rings || !p->nshards || !p->nconns || !p->pool.count ||
	    !p->pool.size || !p->pool.release || p->conf->max_frame <= 0 ||
	    p->nconns >= INGEST_NONE)
		return -EINVAL;
	t = xcalloc(1, sizeof(*t));
	t->conf = p->conf;
	t->seg = p->seg;
	t->nshards = p->nshards;
	t->rings = xcalloc(p->nshards, sizeof(*t->rings));
	memcpy(t->rings, p->rings, p->nshards * sizeof(*t->rings));
	t->lim.nshards = p->nshards;
	t->lim.max_record = UINT32_MAX;
	for (uint32_t i = 0; i < p->nshards; i++) {
		uint32_t m = ring_max_record(p->rings[i]);

		if (m < t->lim.max_record)
			t->lim.max_record = m;
	}
	t->max_frame = (size_t)p->conf->max_frame;
	/* protobuf-c structs are several times their wire size; the arena's
	 * hard limit (16 x initial) bounds what one frame may decode to. */
	arena = t->max_frame * 2 > ARENA_MIN ? t->max_frame * 2 : ARENA_MIN;
	t->arena = arena_create(arena);
	t->pool = p->pool;
	t->bnext = xcalloc(p->pool.count, sizeof(*t->bnext));
	t->blen = xcalloc(p->pool.count, sizeof(*t->blen));
	t->nconns = p->nconns;
	t->conns = xcalloc(p->nconns, sizeof(*t->conns));
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct ingest_conn *c = &t->conns[i];

		c->slot = i;
		c->store = -1;
		c->fd = -1;
		c->q_head = c->q_tail = INGEST_NONE;
		c->wait_prev = c->wait_next = INGEST_NONE;
	}
	t->dirty = xcalloc(p->nconns, sizeof(*t->dirty));
	t->scratch = xcalloc(p->nconns, sizeof(*t->scratch));
	t->store_conn = xcalloc(PNAD_MAX_STORES, sizeof(*t->store_conn));
	for (uint32_t i = 0; i < PNAD_MAX_STORES; i++)
		t->store_conn[i] = -1;
	t->store_key = xcalloc(PNAD_MAX_STORES, sizeof(*t->store_key));
	for (uint32_t i = 0; i < p->conf->nstores && i < PNAD_MAX_STORES; i++)
		t->store_key[i] = hash64(p->conf->stores[i].id, strlen(p->conf->stores[i].id));
	t->wait_head = xcalloc(p->nshards, sizeof(*t->wait_head));
	t->wait_tail = xcalloc(p->nshards, sizeof(*t->wait_tail));
	t->wait_len = xcalloc(p->nshards, sizeof(*t->wait_len));
	for (uint32_t i = 0; i < p->nshards; i++)
		t->wait_head[i] = t->wait_tail[i] = INGEST_NONE;
	t->want_space = xcalloc(p->nshards, 1);
	t->published = xcalloc(p->nshards, 1);
	*out = t;
	return 0;
}

void ingest_table_destroy(struct ingest_table *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nconns; i++)
		free(t->conns[i].rbuf);
	arena_destroy(t->arena);
	free(t->rings);
	free(t->bnext);
	free(t->blen);
	free(t->conns);
	free(t->dirty);
	free(t->scratch);
	free(t->store_conn);
	free(t->store_key);
	free(t->wait_head);
	free(t->wait_tail);
	free(t->wait_len);
	free(t->want_space);
	free(t->published);
	free(t);
}

void ingest_conn_dirty(struct ingest_table *t, struct ingest_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	t->dirty[t->ndirty++] = c->slot;
}

struct ingest_conn *ingest_table_pop_dirty(struct ingest_table *t)
{
	struct ingest_conn *c;

	if (!t->ndirty)
		return NULL;
	c = &t->conns[t->dirty[--t->ndirty]];
	c->dirty = 0;
	return c;
}

/* --- held receive buffers --- */

static void q_push(struct ingest_table *t, struct ingest_conn *c, uint32_t bid, uint32_t len)
{
	t->blen[bid] = len;
	t->bnext[bid] = INGEST_NONE;
	if (c->q_tail == INGEST_NONE) {
		c->q_head = bid;
		c->q_off = 0;
	} else {
		t->bnext[c->q_tail] = bid;
	}
	c->q_tail = bid;
}

static void q_pop(struct ingest_table *t, struct ingest_conn *c)
{
	uint32_t bid = c->q_head;

	c->q_head = t->bnext[bid];
	if (c->q_head == INGEST_NONE)
		c->q_tail = INGEST_NONE;
	c->q_off = 0;
	t->pool.release(t->pool.arg, bid);
}

/* --- wait lists --- */

static void wait_unlink(struct ingest_table *t, struct ingest_conn *c)
{
	uint32_t s = c->wait_shard;

	if (!c->waiting)
		return;
	if (c->wait_prev != INGEST_NONE)
		t->conns[c->wait_prev].wait_next = c->wait_next;
	else
		t->wait_head[s] = c->wait_next;
	if (c->wait_next != INGEST_NONE)
		t->conns[c->wait_next].wait_prev = c->wait_prev;
	else
		t->wait_tail[s] = c->wait_prev;
	c->wait_prev = c->wait_next = INGEST_NONE;
	c->waiting = 0;
	if (t->wait_head[s] == INGEST_NONE)
		t->want_space[s] = 0;
}

static void pause_on(struct ingest_table *t, struct ingest_conn *c, uint32_t shard, uint32_t need,
		     uint32_t idx)
{
	c->paused = 1;
	c->in_frame = 1;
	c->route_idx = idx;
	c->wait_shard = shard;
	c->waiting = 1;
	c->wait_next = INGEST_NONE;
	c->wait_prev = t->wait_tail[shard];
	if (c->wait_prev != INGEST_NONE) {
		t->conns[c->wait_prev].wait_next = c->slot;
		if (need < t->wait_len[shard])
			t->wait_len[shard] = need;
	} else {
		t->wait_head[shard] = c->slot;
		t->wait_len[shard] = need;
	}
	t->wait_tail[shard] = c->slot;
	t->want_space[shard] = 1;
	CTR_ADD(t->seg->c.backpressure, 1);
	ingest_conn_dirty(t, c);
}

/* --- leaving a session --- */

static void drop_store(struct ingest_table *t, struct ingest_conn *c)
{
	if (c->store >= 0 && t->store_conn[c->store] == (int32_t)c->slot) {
		t->store_conn[c->store] = -1;
		__atomic_store_n(&t->seg->stores[c->store].connected, 0, __ATOMIC_RELAXED);
	}
	c->store = -1;
}

static void stop_input(struct ingest_table *t, struct ingest_conn *c)
{
	wait_unlink(t, c);
	c->paused = 0;
	c->in_frame = 0;
	c->route_idx = 0;
	while (c->q_head != INGEST_NONE)
		q_pop(t, c);
	c->rlen = 0;
	drop_store(t, c);
}

static void out_compact(struct ingest_conn *c)
{
	/* Nothing can be in flight when everything queued was sent. */
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

bool ingest_conn_ack(struct ingest_table *t, struct ingest_conn *c)
{
	uint64_t last;
	int rc;

	if (c->state != INGEST_SESSION)
		return false;
	last = t->seg->stores[c->store].last_seq;
	if (last == c->ack_sent && !c->ack_force)
		return false;
	out_compact(c);
	rc = proto_frame_ack(c->out + c->out_len, INGEST_OUT_CAP - c->out_len, last);
	if (rc < 0)
		return false;
	c->out_len += (uint32_t)rc;
	c->ack_sent = last;
	c->ack_force = 0;
	CTR_ADD(t->seg->c.acks, 1);
	return true;
}

static const char *error_name(Pna__ErrorCode code)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&pna__error_code__descriptor, (int)code);

	return v ? v->name : "ERR_?";
}

void ingest_conn_fail(struct ingest_table *t, struct ingest_conn *c, Pna__ErrorCode code,
		      const char *fmt, ...)
{
	char reason[INGEST_REASON_MAX + 1];
	va_list ap;
	int rc;

	if (!live(c))
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_info("slot %u%s%s%s: %s: %s", c->slot, c->store >= 0 ? " (store '" : "",
		 c->store >= 0 ? t->conf->stores[c->store].id : "", c->store >= 0 ? "')" : "",
		 error_name(code), reason);
	/* Tell the store what did make it before saying why we stop. */
	ingest_conn_ack(t, c);
	stop_input(t, c);
	out_compact(c);
	rc = proto_frame_error(c->out + c->out_len, INGEST_OUT_CAP - c->out_len, code, reason);
	if (rc > 0)
		c->out_len += (uint32_t)rc;
	if ((unsigned)code < ROUTER_NERR)
		CTR_ADD(t->seg->c.errors[code], 1);
	c->state = INGEST_CLOSING;
	ingest_conn_dirty(t, c);
}

void ingest_conn_kill(struct ingest_table *t, struct ingest_conn *c)
{
	if (c->state == INGEST_FREE)
		return;
	stop_input(t, c);
	c->state = INGEST_DEAD;
	ingest_conn_dirty(t, c);
}

void ingest_conn_release(struct ingest_table *t, struct ingest_conn *c)
{
	stop_input(t, c);
	if (c->session) {
		t->nsessions--;
		__atomic_store_n(&t->seg->c.open, t->nsessions, __ATOMIC_RELAXED);
	}
	c->session = 0;
	c->state = INGEST_FREE;
	c->out_off = c->out_len = 0;
	if (c->rcap > RBUF_KEEP) {
		free(c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
}

void ingest_conn_open(struct ingest_table *t, struct ingest_conn *c, bool refuse)
{
	c->state = INGEST_HELLO;
	c->paused = c->eof = c->in_frame = c->ack_force = c->waiting = 0;
	c->store = -1;
	c->route_idx = 0;
	c->q_head = c->q_tail = INGEST_NONE;
	c->q_off = 0;
	c->wait_prev = c->wait_next = INGEST_NONE;
	c->rlen = 0;
	c->ack_sent = 0;
	c->out_off = c->out_len = 0;
	c->session = !refuse;
	if (refuse) {
		CTR_ADD(t->seg->c.refused, 1);
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_TOO_MANY_CONNECTIONS,
				 "too many connections (limit %" PRId64 ")",
				 t->conf->max_connections);
		return;
	}
	t->nsessions++;
	CTR_ADD(t->seg->c.accepted, 1);
	__atomic_store_n(&t->seg->c.open, t->nsessions, __ATOMIC_RELAXED);
}

/* --- Hello --- */

static int store_find(const struct pnad_conf *conf, const char *id)
{
	for (uint32_t i = 0; i < conf->nstores; i++)
		if (strncmp(conf->stores[i].id, id, PNAD_STORE_ID_MAX) == 0)
			return (int)i;
	return -1;
}

/* Compare without an early exit, so the time taken does not say how much of
 * a guess was right. */
static bool cred_equal(const char *want, size_t cap, const char *got)
{
	size_t wl = strnlen(want, cap), gl = got ? strlen(got) : 0;
	unsigned char d = 0;

	for (size_t i = 0; i < cap; i++) {
		unsigned char a = i < wl ? (unsigned char)want[i] : 0;
		unsigned char b = i < gl ? (unsigned char)got[i] : 0;

		d |= a ^ b;
	}
	return d == 0 && wl == gl;
}

/* A store id fit for a reason: at most 64 bytes, non-printables as '?'. */
static const char *printable(char *dst, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap; i++)
		dst[i] = (s[i] >= ' ' && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
	return dst;
}

static void welcome(struct ingest_table *t, struct ingest_conn *c, uint64_t last)
{
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Welcome w = PNA__WELCOME__INIT;
	int rc;

	w.resume_seq = last + 1;
	w.has_max_frame = 1;
	w.max_frame = (uint32_t)t->max_frame;
	f.msg_case = PNA__FRAME__MSG_WELCOME;
	f.welcome = &w;
	out_compact(c);
	rc = proto_frame_encode(&f, c->out + c->out_len, INGEST_OUT_CAP - c->out_len);
	if (rc > 0)
		c->out_len += (uint32_t)rc;
	c->ack_sent = last;
}

static void hello(struct ingest_table *t, struct ingest_conn *c, const Pna__Hello *h)
{
	char id[PNAD_STORE_ID_MAX + 1];
	int32_t old;
	int idx;

	if (h->version != PNA_PROTO_VERSION) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_BAD_VERSION,
				 "protocol version %" PRIu32 " is not supported "
				 "(this server speaks %d)",
				 h->version, PNA_PROTO_VERSION);
		return;
	}
	idx = store_find(t->conf, h->store_id);
	if (idx < 0) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_UNKNOWN_STORE, "unknown store '%s'",
				 printable(id, sizeof(id), h->store_id));
		return;
	}
	if (!cred_equal(t->conf->stores[idx].credential, sizeof(t->conf->stores[idx].credential),
			h->credential)) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_BAD_CREDENTIAL,
				 "bad credential for store '%s'",
				 printable(id, sizeof(id), h->store_id));
		return;
	}
	old = t->store_conn[idx];
	if (old >= 0)
		ingest_conn_fail(t, &t->conns[old], PNA__ERROR_CODE__ERR_SUPERSEDED,
				 "superseded by a new connection for store '%s'",
				 t->conf->stores[idx].id);
	t->store_conn[idx] = (int32_t)c->slot;
	c->store = idx;
	c->state = INGEST_SESSION;
	__atomic_store_n(&t->seg->stores[idx].connected, 1, __ATOMIC_RELAXED);
	welcome(t, c, t->seg->stores[idx].last_seq);
	log_info("slot %u: store '%s' connected, resuming at seq %" PRIu64, c->slot,
		 t->conf->stores[idx].id, t->seg->stores[idx].last_seq + 1);
	ingest_conn_dirty(t, c);
}

/* --- Batch --- */

/* Route the events of a batch from c->route_idx on. False when the
 * connection paused on a full ring or failed. */
static bool batch(struct ingest_table *t, struct ingest_conn *c, Pna__Batch *b)
{
	struct router_store *st = &t->seg->stores[c->store];
	uint64_t seq, last = st->last_seq;
	uint32_t need, routed = 0, dups = 0;
	size_t n = b->n_events, i;
	struct router_route_ev *ck;
	uint16_t shard;

	ck = arena_alloc(t->arena, n * sizeof(*ck) + 1);
	if (!ck) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_DECODE,
				 "batch of %zu events is too large to decode", n);
		return false;
	}
	/* On resume the frame is decoded and checked again: same bytes, same
	 * verdict, and nothing was kept across the pause. */
	if (router_route_batch(b, &t->lim, ck, t->why, sizeof(t->why)) < 0) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_BAD_EVENT, "%s", t->why);
		return false;
	}
	if (!c->in_frame && n && b->first_seq > last + 1)
		CTR_ADD(st->gaps, 1);
	for (i = c->route_idx; i < n; i++) {
		seq = b->first_seq + i;
		if (seq <= last) {
			dups++;
			continue;
		}
		shard = ck[i].shard;
		if (router_route_put(t->rings[shard], b->events[i], &ck[i], seq, (uint16_t)c->store,
				     t->store_key[c->store], &need) < 0) {
			pause_on(t, c, shard, need, (uint32_t)i);
			break;
		}
		last = seq;
		routed++;
		t->published[shard] = 1;
		/* Per event: a router killed here resends at most this one. */
		__atomic_store_n(&st->last_seq, seq, __ATOMIC_RELAXED);
	}
	CTR_ADD(st->events, routed);
	CTR_ADD(st->duplicates, dups);
	CTR_ADD(t->seg->c.events, routed);
	if (c->paused)
		return false;
	c->in_frame = 0;
	c->route_idx = 0;
	if (!routed)
		c->ack_force = 1;
	ingest_conn_dirty(t, c);
	return true;
}

/* --- frames --- */

static const char *msg_name(Pna__Frame__MsgCase m)
{
	switch (m) {
	case PNA__FRAME__MSG_HELLO:
		return "Hello";
	case PNA__FRAME__MSG_WELCOME:
		return "Welcome";
	case PNA__FRAME__MSG_BATCH:
		return "Batch";
	case PNA__FRAME__MSG_ACK:
		return "Ack";
	case PNA__FRAME__MSG_ERROR:
		return "Error";
	default:
		return "unknown";
	}
}

/* Handle one whole frame. False when the connection paused or failed. */
static bool frame(struct ingest_table *t, struct ingest_conn *c, const uint8_t *payload,
		  size_t plen)
{
	Pna__Frame *f;

	arena_reset(t->arena);
	f = proto_frame_decode(payload, plen, t->arena);
	if (!f) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_DECODE,
				 "frame payload of %zu bytes is not a valid pna.Frame", plen);
		return false;
	}
	if (!c->in_frame)
		CTR_ADD(t->seg->c.frames, 1);
	switch (f->msg_case) {
	case PNA__FRAME__MSG_HELLO:
		if (c->state == INGEST_HELLO)
			hello(t, c, f->hello);
		else
			ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_UNEXPECTED,
					 "Hello after the session started");
		break;
	case PNA__FRAME__MSG_BATCH:
		if (c->state == INGEST_SESSION)
			return batch(t, c, f->batch);
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_NOT_HELLO,
				 "the first frame must be a Hello, not a Batch");
		break;
	case PNA__FRAME__MSG__NOT_SET:
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_UNEXPECTED, "frame has no message set");
		break;
	default:
		if (c->state == INGEST_HELLO)
			ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_NOT_HELLO,
					 "the first frame must be a Hello, not %s",
					 msg_name(f->msg_case));
		else
			ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_UNEXPECTED,
					 "unexpected %s frame from a mail store",
					 msg_name(f->msg_case));
		break;
	}
	return live(c);
}

/* Bytes of the frame at buf (header + payload): > 0, 0 while the length
 * varint is incomplete, or -EBADMSG / -EMSGSIZE as proto_frame_split says.
 * *plen gets the announced payload length once known. */
static int64_t frame_total(const uint8_t *buf, size_t len, size_t max_frame, uint64_t *plen)
{
	uint64_t v = 0;
	size_t i;

	*plen = 0;
	for (i = 0; i < len && i < PROTO_VARINT_MAX; i++) {
		v |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
		if (!(buf[i] & 0x80)) {
			*plen = v;
			return v > max_frame ? -EMSGSIZE : (int64_t)(i + 1 + v);
		}
	}
	return i == PROTO_VARINT_MAX ? -EBADMSG : 0;
}

static void header_error(struct ingest_table *t, struct ingest_conn *c, int64_t rc, uint64_t plen)
{
	if (rc == -EMSGSIZE)
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_FRAME_TOO_LARGE,
				 "frame of %" PRIu64 " bytes is larger than max_frame %zu", plen,
				 t->max_frame);
	else
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_BAD_VARINT,
				 "frame length varint is longer than 10 bytes");
}

/* Grow the reassembly buffer for `need` bytes (<= max_frame + 10): once to a
 * small size, once more to the largest frame, then reused. */
static void rbuf_reserve(struct ingest_table *t, struct ingest_conn *c, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (need <= c->rcap)
		return;
	cap = (c->rcap == 0 && need <= RBUF_SMALL) ? RBUF_SMALL : t->max_frame + PROTO_VARINT_MAX;
	p = realloc(c->rbuf, cap);
	if (!p)
		abort();
	c->rbuf = p;
	c->rcap = (uint32_t)cap;
}

/* Keep the n bytes of an incomplete frame that end the head buffer. */
static void stash(struct ingest_table *t, struct ingest_conn *c, const uint8_t *p, uint32_t n)
{
	uint64_t plen;
	int64_t total = frame_total(p, n, t->max_frame, &plen);

	rbuf_reserve(t, c, total > n ? (size_t)total : n);
	memcpy(c->rbuf, p, n);
	c->rlen = n;
}

/* Complete the frame started in rbuf from the held buffers. True when rbuf
 * holds exactly one whole frame; false when more input is needed or the
 * header is bad (the connection then failed). */
static bool fill(struct ingest_table *t, struct ingest_conn *c)
{
	uint32_t avail, want;
	uint64_t plen;
	int64_t total;

	for (;;) {
		total = frame_total(c->rbuf, c->rlen, t->max_frame, &plen);
		if (total < 0) {
			header_error(t, c, total, plen);
			return false;
		}
		if (total > 0 && c->rlen >= (uint64_t)total)
			return true;
		if (c->q_head == INGEST_NONE)
			return false;
		/* Never copy past the frame: the next one is parsed in place. */
		avail = t->blen[c->q_head] - c->q_off;
		want = total ? (uint32_t)((uint64_t)total - c->rlen) : 1;
		if (want > avail)
			want = avail;
		rbuf_reserve(t, c, total ? (size_t)total : (size_t)c->rlen + want);
		memcpy(c->rbuf + c->rlen, buf_at(t, c->q_head) + c->q_off, want);
		c->rlen += want;
		c->q_off += want;
		if (c->q_off == t->blen[c->q_head])
			q_pop(t, c);
	}
}

static void finish_eof(struct ingest_table *t, struct ingest_conn *c)
{
	if (c->rlen) {
		ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_TRUNCATED,
				 "connection closed inside a frame (%" PRIu32
				 " bytes of it received)",
				 c->rlen);
		return;
	}
	/* A clean end: send the last ack, then close (eof: no linger). */
	ingest_conn_ack(t, c);
	if (c->store >= 0)
		log_info("slot %u: store '%s' disconnected at seq %" PRIu64, c->slot,
			 t->conf->stores[c->store].id, t->seg->stores[c->store].last_seq);
	drop_store(t, c);
	c->state = INGEST_CLOSING;
	ingest_conn_dirty(t, c);
}

/* Process held input until it runs out, the connection pauses or fails. */
static void drain(struct ingest_table *t, struct ingest_conn *c)
{
	const uint8_t *p, *payload;
	const char *why;
	size_t plen;
	uint32_t n;
	int rc;

	while (live(c) && !c->paused) {
		if (c->rlen) {
			if (!fill(t, c))
				break;
			proto_frame_split(c->rbuf, c->rlen, t->max_frame, &payload, &plen, &why);
			if (!frame(t, c, payload, plen))
				break;
			c->rlen = 0;
			continue;
		}
		if (c->q_head == INGEST_NONE)
			break;
		n = t->blen[c->q_head] - c->q_off;
		if (n == 0) {
			q_pop(t, c);
			continue;
		}
		p = buf_at(t, c->q_head) + c->q_off;
		rc = proto_frame_split(p, n, t->max_frame, &payload, &plen, &why);
		if (rc > 0) {
			/* Paused: q_off stays on this frame to decode it again. */
			if (!frame(t, c, payload, plen))
				break;
			c->q_off += (uint32_t)rc;
		} else if (rc == -EAGAIN) {
			stash(t, c, p, n);
			q_pop(t, c);
		} else {
			uint64_t announced;
			int64_t e = frame_total(p, n, t->max_frame, &announced);

			header_error(t, c, e, announced);
			break;
		}
	}
	if (live(c) && !c->paused && c->eof)
		finish_eof(t, c);
}

void ingest_conn_input(struct ingest_table *t, struct ingest_conn *c, uint32_t bid, uint32_t len)
{
	CTR_ADD(t->seg->c.bytes, len);
	if (!live(c) || len == 0) {
		t->pool.release(t->pool.arg, bid);
		return;
	}
	q_push(t, c, bid, len);
	if (!c->paused)
		drain(t, c);
}

void ingest_conn_eof(struct ingest_table *t, struct ingest_conn *c)
{
	c->eof = 1;
	if (c->state == INGEST_LINGER) {
		c->state = INGEST_DEAD;
	} else if (live(c) && !c->paused) {
		finish_eof(t, c);
	}
	ingest_conn_dirty(t, c);
}

void ingest_table_resume(struct ingest_table *t, uint32_t shard)
{
	uint32_t n = 0, s, next;

	/* Detach the list first: a connection that fills the ring again goes
	 * back on a fresh list, behind the others. */
	for (s = t->wait_head[shard]; s != INGEST_NONE; s = next) {
		struct ingest_conn *c = &t->conns[s];

		next = c->wait_next;
		c->waiting = 0;
		c->wait_prev = c->wait_next = INGEST_NONE;
		t->scratch[n++] = s;
	}
	t->wait_head[shard] = t->wait_tail[shard] = INGEST_NONE;
	t->want_space[shard] = 0;
	t->wait_len[shard] = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct ingest_conn *c = &t->conns[t->scratch[i]];

		if (!c->paused)
			continue;
		c->paused = 0;
		drain(t, c);
		ingest_conn_dirty(t, c);
	}
}
