/* sub_table: the subscription table's writer side (the shard process):
 * format, attach, recovery, add / refresh / remove, stats. Every change runs
 * between subt_op_begin and subt_op_commit, so the undo log (sub_undo.c)
 * makes it all-or-nothing across a SIGKILL. Matching and notes are in
 * sub_match.c, timers in sub_wheel.c, readers and the egress side in
 * sub_read.c, the string pool in sub_pool.c. */
#include "shard/sub_table.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "shard/sub_table_int.h"

static uint64_t align64(uint64_t n)
{
	return (n + 63) & ~(uint64_t)63;
}

static uint32_t at_least(uint32_t n, uint32_t min)
{
	return n < min ? min : n;
}

static void layout(struct hdr *h, uint32_t cap, uint64_t string_bytes)
{
	uint64_t off = align64(sizeof(*h));

	memset(h, 0, sizeof(*h));
	h->cap = cap;
	h->nb_mb = at_least(cap, 16);
	h->nb_acct = at_least(cap / 4, 16);
	h->nb_sub = at_least(cap / 4, 16);
	h->string_bytes = string_bytes;
	h->undo_off = off;
	off = align64(off + sizeof(struct sub_undo));
	h->recs_off = off;
	off = align64(off + (uint64_t)cap * sizeof(struct rec));
	h->notes_off = off;
	off = align64(off + (uint64_t)cap * sizeof(struct note));
	h->mb_off = off;
	off = align64(off + (uint64_t)h->nb_mb * 4);
	h->filt_off = off;
	off = align64(off + ((uint64_t)h->nb_mb + 3) / 4 * 4);
	h->acct_off = off;
	off = align64(off + (uint64_t)h->nb_acct * 4);
	h->sub_off = off;
	off = align64(off + (uint64_t)h->nb_sub * 4);
	h->wheel_off = off;
	off = align64(off + WHEEL_SLOTS * 4);
	h->pool_off = off;
	h->bytes = off + sub_pool_footprint(string_bytes);
}

size_t sub_table_footprint(uint32_t cap, uint64_t string_bytes)
{
	struct hdr h;

	layout(&h, cap, string_bytes);
	return h.bytes;
}

void sub_table_format(void *region, size_t bytes, uint32_t cap, uint64_t string_bytes)
{
	struct hdr h;

	assert(cap >= 1 && cap <= SUBT_CAP_MAX);
	layout(&h, cap, string_bytes);
	assert(bytes >= h.bytes);
	memset(region, 0, h.pool_off);
	sub_pool_format((char *)region + h.pool_off, string_bytes);
	h.magic = 0;
	h.version = SUBT_VERSION;
	memcpy(region, &h, sizeof(h));
	__atomic_store_n(&((struct hdr *)region)->magic, SUBT_MAGIC, __ATOMIC_RELEASE);
}

static bool layout_valid(const struct hdr *h)
{
	struct hdr want;

	if (h->magic != SUBT_MAGIC || h->version != SUBT_VERSION || h->cap < 1 ||
	    h->cap > SUBT_CAP_MAX)
		return false;
	layout(&want, h->cap, h->string_bytes);
	return want.bytes == h->bytes && want.pool_off == h->pool_off &&
	       want.wheel_off == h->wheel_off;
}

struct sub_table *sub_table_attach(void *region)
{
	struct hdr *h = region;
	struct sub_table *t;
	char *b = region;

	if (!region || !layout_valid(h))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->base = b;
	t->h = h;
	t->recs = (struct rec *)(b + h->recs_off);
	t->notes = (struct note *)(b + h->notes_off);
	t->mb = (uint32_t *)(b + h->mb_off);
	t->filt = (uint32_t *)(b + h->filt_off);
	t->acct = (uint32_t *)(b + h->acct_off);
	t->sub = (uint32_t *)(b + h->sub_off);
	t->wheel = (uint32_t *)(b + h->wheel_off);
	t->pool = (struct sub_pool *)(b + h->pool_off);
	sub_log_init(&t->log, (struct sub_undo *)(b + h->undo_off), b);
	return t;
}

void sub_table_close(struct sub_table *t)
{
	free(t);
}

void sub_table_recover(struct sub_table *t)
{
	struct hdr *h = t->h;
	uint32_t busy = h->note_busy;

	sub_log_recover(t->log.u, t->base);
	/* note_put died after taking the note's flag: its content is the old
	 * one (rolled back) or the new one (committed); either way it must
	 * reach the egress, so it is pending and sub_table_pending lists it. */
	if (busy && busy <= h->cap) {
		struct rec *r = &t->recs[busy - 1];

		__atomic_store_n(&t->notes[busy - 1].pend, r->used ? NOTE_TAG(r->gen) | NOTE_P : 0,
				 __ATOMIC_RELEASE);
	}
	__atomic_store_n(&h->note_busy, 0, __ATOMIC_RELAXED);
	if (h->ver & 1)
		__atomic_store_n(&h->ver, h->ver + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&h->generation, h->generation + 1, __ATOMIC_RELEASE);
}

void sub_table_test_crash(struct sub_table *t, unsigned nth, void (*die)(void *arg), void *arg)
{
	t->log.points = 0;
	t->log.crash_at = nth;
	t->log.die = die;
	t->log.die_arg = arg;
}

/* ---- changes ---- */

void subt_op_begin(struct sub_table *t)
{
	__atomic_store_n(&t->h->ver, t->h->ver + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	sub_log_begin(&t->log);
}

void subt_op_commit(struct sub_table *t)
{
	sub_log_commit(&t->log);
	__atomic_store_n(&t->h->ver, t->h->ver + 1, __ATOMIC_RELEASE);
}

static void op_abort(struct sub_table *t)
{
	sub_log_abort(&t->log);
	__atomic_store_n(&t->h->ver, t->h->ver + 1, __ATOMIC_RELEASE);
}

void subt_open(struct sub_table *t, struct rec *r)
{
	sub_log_open(&t->log, r, sizeof(*r));
}

uint64_t subt_mid(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

size_t subt_account(const struct sub_table *t, const struct rec *r, char *buf)
{
	size_t ll, dl;
	const char *l, *d = sub_pool_str(t->pool, r->domain, &dl);

	if (r->flags & FL_LOCAL_REF) {
		l = sub_pool_str(t->pool, local_ref(r), &ll);
	} else {
		l = r->local;
		ll = strnlen(r->local, LOCAL_INLINE);
	}
	memcpy(buf, l, ll);
	buf[ll] = '@';
	memcpy(buf + ll + 1, d, dl);
	buf[ll + 1 + dl] = '\0';
	return ll + 1 + dl;
}

size_t subt_subscriber(const struct sub_table *t, const struct rec *r, char *buf)
{
	const char *s;
	size_t n;

	if (r->flags & FL_SUB_ACCT)
		return subt_account(t, r, buf);
	if (r->flags & FL_SUB_SIP) {
		memcpy(buf, "sip:", 4);
		return 4 + subt_account(t, r, buf + 4);
	}
	s = sub_pool_str(t->pool, r->subscriber, &n);
	memcpy(buf, s, n);
	buf[n] = '\0';
	return n;
}

static uint64_t mb_hash(uint64_t account_hash, const char *path, size_t plen)
{
	struct pathhash ph;

	ph_init(&ph, account_hash);
	return ph_at(&ph, path, (uint32_t)plen);
}

void subt_buckets(const struct sub_table *t, const struct rec *r, struct buckets *b)
{
	char s[SUB_SUBSCRIBER_MAX + 1];
	size_t n = subt_account(t, r, s), plen;
	const char *path = sub_pool_str(t->pool, r->path, &plen);
	uint64_t ah = hash64(s, n);

	uint64_t kh = mb_hash(ah, path, plen);

	b->mb = hbucket(kh, t->h->nb_mb);
	b->q = key_q(kh);
	b->acct = hbucket(ah, t->h->nb_acct);
	n = subt_subscriber(t, r, s);
	b->sub = hbucket(hash64(s, n), t->h->nb_sub);
}

/* ---- the mailbox buckets' filter bytes (sub_table_int.h) ---- */

static void filt_put(struct sub_table *t, uint32_t b, unsigned v)
{
	uint32_t *w = &t->filt[b / 4], sh = b % 4 * 8;

	sub_log_w32(&t->log, w, (*w & ~(0xffu << sh)) | (uint32_t)v << sh);
}

static unsigned rec_filt(const struct rec *r)
{
	unsigned q = rec_q(r);

	return 1u << q | ((r->td & TD_SUBTREE) ? 0x10u << q : 0);
}

/* Link record i (open, its quarter set) into mailbox chain b at the end of
 * its quarter's run. */
static void mb_link(struct sub_table *t, uint32_t b, uint32_t i)
{
	struct rec *r = &t->recs[i], *prev = NULL;
	unsigned q = rec_q(r);

	for (uint32_t j = t->mb[b]; j && rec_q(&t->recs[j - 1]) <= q; j = t->recs[j - 1].mb_next)
		prev = &t->recs[j - 1];
	r->flags |= FL_QLAST;
	if (!prev) {
		r->mb_next = t->mb[b];
		sub_log_w32(&t->log, &t->mb[b], i + 1);
		return;
	}
	subt_open(t, prev);
	r->mb_next = prev->mb_next;
	prev->mb_next = i + 1;
	if (rec_q(prev) == q)
		prev->flags &= (uint8_t)~FL_QLAST;
}

static void filt_recompute(struct sub_table *t, uint32_t b)
{
	unsigned v = 0;

	for (uint32_t i = t->mb[b]; i; i = t->recs[i - 1].mb_next)
		v |= rec_filt(&t->recs[i - 1]);
	filt_put(t, b, v);
}

/* ---- the strings of a subscription ---- */

struct enc {
	uint8_t flags;
	char local[LOCAL_INLINE];
	uint32_t domain, path, subscriber, target;
};

static int intern(struct sub_table *t, const void *s, size_t len, uint32_t *ref)
{
	bool created;

	return sub_pool_intern(t->pool, &t->log, s, len, false, ref, &created);
}

/* target: a blob "\0" + target, or, from the fifth line on (a SIP route
 * set, shared by a CNA's dialogs), "\1" + ref of the rest + the first four
 * lines. The blob holds one reference on the rest. */
static int enc_target(struct sub_table *t, const char *tg, size_t tlen, uint32_t *ref)
{
	unsigned char blob[5 + SUB_TARGET_MAX + 1];
	size_t head = 0, blen;
	uint32_t tail = 0;
	unsigned lines = 0;
	bool created;
	int rc;

	for (size_t i = 0; i < tlen && !head; i++)
		if (tg[i] == '\n' && ++lines == 4)
			head = i + 1;
	blob[0] = head != 0;
	if (head) {
		rc = intern(t, tg + head, tlen - head, &tail);
		if (rc < 0)
			return rc;
		memcpy(blob + 1, &tail, 4);
		memcpy(blob + 5, tg, head);
		blen = 5 + head;
	} else {
		memcpy(blob + 1, tg, tlen);
		blen = 1 + tlen;
	}
	rc = sub_pool_intern(t->pool, &t->log, blob, blen, false, ref, &created);
	if (rc == 0 && !created)
		sub_pool_release(t->pool, &t->log, tail);
	return rc;
}

static void release_target(struct sub_table *t, uint32_t ref)
{
	size_t n;
	const char *b = sub_pool_str(t->pool, ref, &n);
	uint32_t tail = 0;

	if (ref && sub_pool_refs(t->pool, ref) == 1 && n >= 5 && b[0] == 1)
		memcpy(&tail, b + 1, 4);
	sub_pool_release(t->pool, &t->log, ref);
	sub_pool_release(t->pool, &t->log, tail);
}

static int encode(struct sub_table *t, const struct sub_spec *s, const struct acct *a, size_t plen,
		  struct enc *e)
{
	size_t slen = strlen(s->subscriber), tlen = strlen(s->target);
	uint32_t ref;

	memset(e, 0, sizeof(*e));
	if (a->llen > LOCAL_INLINE) {
		if (intern(t, a->local, a->llen, &ref) < 0)
			return -ENOSPC;
		memcpy(e->local, &ref, sizeof(ref));
		e->flags |= FL_LOCAL_REF;
	} else {
		memcpy(e->local, a->local, a->llen);
	}
	if (intern(t, a->domain, a->dlen, &e->domain) < 0 || intern(t, s->path, plen, &e->path) < 0)
		return -ENOSPC;
	if (slen == a->len && memcmp(s->subscriber, a->s, slen) == 0)
		e->flags |= FL_SUB_ACCT;
	else if (slen == a->len + 4 && memcmp(s->subscriber, "sip:", 4) == 0 &&
		 memcmp(s->subscriber + 4, a->s, a->len) == 0)
		e->flags |= FL_SUB_SIP;
	else if (intern(t, s->subscriber, slen, &e->subscriber) < 0)
		return -ENOSPC;
	if (tlen == slen && memcmp(s->target, s->subscriber, slen) == 0)
		e->flags |= FL_TGT_SUB;
	else if (tlen && enc_target(t, s->target, tlen, &e->target) < 0)
		return -ENOSPC;
	return 0;
}

static void release_strings(struct sub_table *t, uint8_t flags, const char *local, uint32_t domain,
			    uint32_t path, uint32_t subscriber, uint32_t target)
{
	uint32_t ref;

	if (flags & FL_LOCAL_REF) {
		memcpy(&ref, local, sizeof(ref));
		sub_pool_release(t->pool, &t->log, ref);
	}
	sub_pool_release(t->pool, &t->log, domain);
	sub_pool_release(t->pool, &t->log, path);
	sub_pool_release(t->pool, &t->log, subscriber);
	release_target(t, target);
}

static bool same_identity(const struct rec *r, const struct enc *e, unsigned transport)
{
	return (r->td & TD_TRANSPORT) == transport &&
	       (r->flags & (FL_IDENTITY | FL_LOCAL_REF)) == e->flags &&
	       r->subscriber == e->subscriber && r->target == e->target && r->domain == e->domain &&
	       r->path == e->path && memcmp(r->local, e->local, LOCAL_INLINE) == 0;
}

/* ---- record slots: never-used ones from hwm first, then the free list
 * (oldest first), so a slot and its generation come back late ---- */

static void free_push(struct sub_table *t, uint32_t i)
{
	struct hdr *h = t->h;
	struct rec *r = &t->recs[i];

	if (i >= h->hwm)
		return; /* taken by id above hwm: hwm hands it out again */
	r->tw_next = 0;
	r->tw_prev = h->free_tail;
	if (h->free_tail) {
		subt_open(t, &t->recs[h->free_tail - 1]);
		t->recs[h->free_tail - 1].tw_next = i + 1;
	} else {
		sub_log_w32(&t->log, &h->free_head, i + 1);
	}
	sub_log_w32(&t->log, &h->free_tail, i + 1);
}

static void free_unlink(struct sub_table *t, uint32_t i)
{
	struct hdr *h = t->h;
	struct rec *r = &t->recs[i];

	subt_open(t, r);
	if (r->tw_prev) {
		subt_open(t, &t->recs[r->tw_prev - 1]);
		t->recs[r->tw_prev - 1].tw_next = r->tw_next;
	} else {
		sub_log_w32(&t->log, &h->free_head, r->tw_next);
	}
	if (r->tw_next) {
		subt_open(t, &t->recs[r->tw_next - 1]);
		t->recs[r->tw_next - 1].tw_prev = r->tw_prev;
	} else {
		sub_log_w32(&t->log, &h->free_tail, r->tw_prev);
	}
	r->tw_next = r->tw_prev = 0;
}

/* A free slot: `want` (a reload's id) when its slot is free and its
 * generation newer, else the next one. Its index + 1 and generation. */
static uint32_t rec_alloc(struct sub_table *t, uint64_t want, uint32_t *gen)
{
	struct hdr *h = t->h;
	uint32_t i = (uint32_t)want, g = (uint32_t)(want >> 32);

	if (want && i < h->cap && g && !t->recs[i].used && g > t->recs[i].gen) {
		if (i < h->hwm)
			free_unlink(t, i);
	} else {
		while (h->hwm < h->cap && t->recs[h->hwm].used)
			sub_log_w32(&t->log, &h->hwm, h->hwm + 1);
		if (h->hwm < h->cap) {
			i = h->hwm;
			sub_log_w32(&t->log, &h->hwm, h->hwm + 1);
		} else if (h->free_head) {
			i = h->free_head - 1;
			free_unlink(t, i);
		} else {
			return 0;
		}
		g = t->recs[i].gen + 1 ? t->recs[i].gen + 1 : 1;
	}
	if (i + 1 > h->top_index)
		sub_log_w32(&t->log, &h->top_index, i + 1);
	*gen = g;
	return i + 1;
}

/* Expiry jitter: up to 10% of the remaining lifetime, at most 30 s, only
 * ever earlier; the first heartbeat anywhere in its interval. Per id, so a
 * burst of subscriptions made in one second spreads out. */
static void set_times(struct rec *r, uint32_t index, uint32_t expires, uint32_t now, bool new_hb)
{
	uint64_t id = rec_id(r, index);
	uint32_t span = 0;

	r->expires = expires;
	if (tdiff(expires, now) > 0) {
		span = (expires - now) / 10;
		span = span > 30 ? 30 : span;
	}
	r->jitter = (uint8_t)(span ? subt_mid(id, expires) % (span + 1) : 0);
	if (new_hb && r->heartbeat)
		r->last_sent =
			now + 1 + (uint32_t)(subt_mid(id, 0x4842) % r->heartbeat) - r->heartbeat;
}

static void fill(struct sub_table *t, uint32_t i, uint32_t gen, const struct sub_spec *s,
		 const struct enc *e, const struct buckets *b, uint32_t now)
{
	struct rec *r = &t->recs[i];
	struct note *nt = &t->notes[i];
	uint32_t head = t->sub[b->sub];

	subt_open(t, r);
	r->used = 1;
	r->td = (uint8_t)(s->transport | (s->depth == SUB_SUBTREE ? TD_SUBTREE : 0));
	r->flags = (uint8_t)(e->flags | b->q << FL_Q_SHIFT);
	r->gen = gen;
	r->events = s->events;
	r->heartbeat = s->heartbeat;
	memcpy(r->local, e->local, LOCAL_INLINE);
	r->domain = e->domain;
	r->path = e->path;
	r->subscriber = e->subscriber;
	r->target = e->target;
	set_times(r, i, s->expires, now, true);
	mb_link(t, b->mb, i);
	filt_put(t, b->mb, filt_get(t, b->mb) | rec_filt(r));
	r->acct_next = t->acct[b->acct];
	sub_log_w32(&t->log, &t->acct[b->acct], i + 1);
	r->sub_prev = 0;
	r->sub_next = head;
	if (head) {
		subt_open(t, &t->recs[head - 1]);
		t->recs[head - 1].sub_prev = i + 1;
	}
	sub_log_w32(&t->log, &t->sub[b->sub], i + 1);
	subt_wheel_insert(t, i, subt_wheel_next_due(r));
	sub_log_w32(&t->log, &nt->pend, NOTE_TAG(gen));
	sub_log_w32(&t->log, &nt->meta, 0);
	sub_log_w32(&t->log, &t->h->count, t->h->count + 1);
}

/* A re-subscribe: same identity, new depth, filter, expiry, heartbeat. */
static void replace(struct sub_table *t, uint32_t i, const struct sub_spec *s, uint32_t mb_b,
		    uint32_t now)
{
	struct rec *r = &t->recs[i];
	bool was_subtree = r->td & TD_SUBTREE, hb_new = r->heartbeat != s->heartbeat;

	subt_open(t, r);
	r->td = (uint8_t)(s->transport | (s->depth == SUB_SUBTREE ? TD_SUBTREE : 0));
	r->events = s->events;
	r->heartbeat = s->heartbeat;
	set_times(r, i, s->expires, now, hb_new);
	subt_wheel_unlink(t, i);
	subt_wheel_insert(t, i, subt_wheel_next_due(r));
	if (r->td & TD_SUBTREE)
		filt_put(t, mb_b, filt_get(t, mb_b) | rec_filt(r));
	else if (was_subtree)
		filt_recompute(t, mb_b);
}

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

static int validate(const struct sub_spec *s, struct acct *a, size_t *plen, const char **why)
{
	size_t alen = strnlen(s->account, sizeof(s->account));
	size_t slen = strnlen(s->subscriber, sizeof(s->subscriber));

	if (s->transport != SUB_SIP && s->transport != SUB_XMPP)
		return fail(why, "transport must be sip or xmpp");
	if (s->depth != SUB_EXACT && s->depth != SUB_SUBTREE)
		return fail(why, "depth must be exact or subtree");
	if (alen == sizeof(s->account) || !acct_split(s->account, alen, a) || !a->llen ||
	    !a->dlen || memchr(s->account, '/', alen))
		return fail(why, "account is not user@domain");
	*plen = strnlen(s->path, sizeof(s->path));
	if (*plen == sizeof(s->path))
		return fail(why, "mailbox is too long");
	if (*plen && (s->path[0] == '/' || s->path[*plen - 1] == '/'))
		return fail(why, "mailbox starts or ends with '/'");
	if (slen == 0 || slen == sizeof(s->subscriber))
		return fail(why, "subscriber is empty or too long");
	if (strnlen(s->target, sizeof(s->target)) == sizeof(s->target))
		return fail(why, "target is too long");
	return 0;
}

static uint32_t find_identity(const struct sub_table *t, uint32_t b, const struct enc *e,
			      unsigned transport)
{
	for (uint32_t i = t->mb[b]; i; i = t->recs[i - 1].mb_next)
		if (same_identity(&t->recs[i - 1], e, transport))
			return i;
	return 0;
}

int sub_table_add(struct sub_table *t, struct sub_spec *s, uint32_t now, const char **why)
{
	const char *reason;
	struct buckets b;
	struct acct a;
	struct enc e;
	uint32_t i, gen;
	uint64_t kh;
	size_t plen;
	int rc;

	why = why ? why : &reason;
	rc = validate(s, &a, &plen, why);
	if (rc < 0)
		return rc;
	kh = mb_hash(a.hash, s->path, plen);
	b.mb = hbucket(kh, t->h->nb_mb);
	b.q = key_q(kh);
	b.acct = hbucket(a.hash, t->h->nb_acct);
	b.sub = hbucket(hash64(s->subscriber, strlen(s->subscriber)), t->h->nb_sub);
	subt_op_begin(t);
	subt_wheel_start(t, now);
	if (encode(t, s, &a, plen, &e) < 0) {
		op_abort(t);
		*why = "string pool full";
		return -ENOSPC;
	}
	i = find_identity(t, b.mb, &e, s->transport);
	if (i) {
		replace(t, --i, s, b.mb, now);
		release_strings(t, e.flags, e.local, e.domain, e.path, e.subscriber, e.target);
	} else {
		i = rec_alloc(t, s->id, &gen);
		if (!i) {
			op_abort(t);
			*why = "subscription table full";
			return -ENOSPC;
		}
		fill(t, --i, gen, s, &e, &b, now);
	}
	subt_op_commit(t);
	count_up(&t->h->adds);
	s->id = rec_id(&t->recs[i], i);
	return 0;
}

static struct rec *live(struct sub_table *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;

	if (i >= t->h->cap || !t->recs[i].used || t->recs[i].gen != (uint32_t)(id >> 32))
		return NULL;
	return &t->recs[i];
}

int sub_table_refresh(struct sub_table *t, uint64_t id, uint32_t expires, uint32_t now)
{
	struct rec *r = live(t, id);

	if (!r)
		return -ENOENT;
	subt_op_begin(t);
	subt_wheel_start(t, now);
	subt_open(t, r);
	set_times(r, (uint32_t)id, expires, now, false);
	subt_wheel_unlink(t, (uint32_t)id);
	subt_wheel_insert(t, (uint32_t)id, subt_wheel_next_due(r));
	subt_op_commit(t);
	count_up(&t->h->refreshes);
	return 0;
}

static uint32_t *link_at(struct rec *r, size_t off)
{
	return (uint32_t *)((char *)r + off);
}

/* Unlink record i from the singly linked chain at *head whose next links
 * sit at byte `off` of a record. Its predecessor (opened), or NULL. */
static struct rec *chain_unlink(struct sub_table *t, uint32_t *head, uint32_t i, size_t off)
{
	uint32_t next = *link_at(&t->recs[i], off);

	if (*head == i + 1) {
		sub_log_w32(&t->log, head, next);
		return NULL;
	}
	for (uint32_t j = *head; j;) {
		struct rec *p = &t->recs[j - 1];

		if (*link_at(p, off) == i + 1) {
			subt_open(t, p);
			*link_at(p, off) = next;
			return p;
		}
		j = *link_at(p, off);
	}
	assert(!"record not on its chain");
	return NULL;
}

void subt_remove(struct sub_table *t, uint32_t i)
{
	struct rec *r = &t->recs[i];
	struct note *nt = &t->notes[i];
	struct rec *prev;
	struct buckets b;
	uint32_t gen;

	subt_buckets(t, r, &b);
	subt_open(t, r);
	prev = chain_unlink(t, &t->mb[b.mb], i, offsetof(struct rec, mb_next));
	if (prev && (r->flags & FL_QLAST) && rec_q(prev) == rec_q(r))
		prev->flags |= FL_QLAST;
	filt_recompute(t, b.mb);
	chain_unlink(t, &t->acct[b.acct], i, offsetof(struct rec, acct_next));
	if (r->sub_prev) {
		subt_open(t, &t->recs[r->sub_prev - 1]);
		t->recs[r->sub_prev - 1].sub_next = r->sub_next;
	} else {
		sub_log_w32(&t->log, &t->sub[b.sub], r->sub_next);
	}
	if (r->sub_next) {
		subt_open(t, &t->recs[r->sub_next - 1]);
		t->recs[r->sub_next - 1].sub_prev = r->sub_prev;
	}
	subt_wheel_unlink(t, i);
	sub_log_w32(&t->log, &nt->pend, 0);
	sub_pool_release(t->pool, &t->log, nt->path);
	sub_log_w32(&t->log, &nt->path, 0);
	release_strings(t, r->flags, r->local, r->domain, r->path, r->subscriber, r->target);
	gen = r->gen;
	memset((char *)r + 4, 0, sizeof(*r) - 4);
	r->gen = gen;
	free_push(t, i);
	sub_log_w32(&t->log, &t->h->count, t->h->count - 1);
}

int sub_table_remove(struct sub_table *t, uint64_t id)
{
	if (!live(t, id))
		return -ENOENT;
	subt_op_begin(t);
	subt_remove(t, (uint32_t)id);
	subt_op_commit(t);
	count_up(&t->h->removes);
	return 0;
}

void sub_table_stats(struct sub_table *t, struct sub_table_stats *out)
{
	const struct hdr *h = t->h;
	struct sub_pool_stats ps;
	uint32_t count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);

	sub_pool_stats(t->pool, &ps);
	memset(out, 0, sizeof(*out));
	out->count = count;
	out->capacity = h->cap;
	out->string_bytes_used = ps.used_bytes;
	out->string_bytes_cap = ps.arena_bytes;
	out->bytes_total =
		h->recs_off + (uint64_t)count * (sizeof(struct rec) + sizeof(struct note)) +
		(h->pool_off - h->mb_off) + (ps.footprint - ps.arena_bytes) + ps.used_bytes;
	out->adds = __atomic_load_n(&h->adds, __ATOMIC_RELAXED);
	out->removes = __atomic_load_n(&h->removes, __ATOMIC_RELAXED);
	out->expired = __atomic_load_n(&h->expired, __ATOMIC_RELAXED);
	out->refreshes = __atomic_load_n(&h->refreshes, __ATOMIC_RELAXED);
}
