/* test_sub_table: the subscription table: matching (exact, subtree,
 * ancestors, account root, event filters, no match across accounts or
 * sibling paths), re-subscribe, refresh, remove, stale ids, a full table
 * and a full string pool, string reuse after removes, expiry jitter and
 * heartbeats on the wheel, note coalescing, lists, crash safety (a writer
 * killed at every write point of each kind of change, then recovered and
 * checked), and readers in a second thread racing the writer. Regions are
 * malloc'd, not shared memory. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pna.pb-c.h"
#include "shard/sub_table.h"

#define T(x) PNA__EVENT_TYPE__##x
#define T0 1700000000u
#define ROUTE "<sip:cna1.example.net;lr>"

struct tab {
	void *region;
	size_t bytes;
	struct sub_table *t;
};

static struct tab tab_new(uint32_t cap, uint64_t string_bytes)
{
	struct tab x;

	x.bytes = sub_table_footprint(cap, string_bytes);
	x.region = malloc(x.bytes);
	CHECK(x.region != NULL);
	memset(x.region, 0xa5, x.bytes); /* format must not trust the bytes */
	sub_table_format(x.region, x.bytes, cap, string_bytes);
	x.t = sub_table_attach(x.region);
	CHECK(x.t != NULL);
	return x;
}

static void tab_free(struct tab *x)
{
	sub_table_close(x->t);
	free(x->region);
}

static void check_table(struct sub_table *t)
{
	char why[256] = "";
	int rc = sub_table_check(t, why, sizeof(why));

	if (rc)
		fprintf(stderr, "sub_table_check: %s\n", why);
	CHECK_EQ(rc, 0);
}

static struct sub_spec spec(unsigned transport, unsigned depth, const char *account,
			    const char *path, const char *subscriber, const char *target)
{
	struct sub_spec s;

	memset(&s, 0, sizeof(s));
	s.transport = (uint8_t)transport;
	s.depth = (uint8_t)depth;
	s.expires = T0 + 3600;
	snprintf(s.account, sizeof(s.account), "%s", account);
	snprintf(s.path, sizeof(s.path), "%s", path);
	snprintf(s.subscriber, sizeof(s.subscriber), "%s", subscriber);
	snprintf(s.target, sizeof(s.target), "%s", target);
	return s;
}

static struct sub_spec xmpp(const char *account, const char *path, unsigned depth)
{
	return spec(SUB_XMPP, depth, account, path, account, account);
}

static struct sub_spec sip(const char *account, const char *path, const char *callid)
{
	char target[SUB_TARGET_MAX + 1], sub[SUB_SUBSCRIBER_MAX + 1];

	snprintf(target, sizeof(target), "%s\nlt%.8s\nrt%.8s\nsip:%s:5060\n" ROUTE, callid, callid,
		 callid, "alice@10.0.0.1");
	snprintf(sub, sizeof(sub), "sip:%s", account);
	return spec(SUB_SIP, SUB_EXACT, account, path, sub, target);
}

static uint64_t add_at(struct sub_table *t, struct sub_spec s, uint32_t now)
{
	const char *why = NULL;
	int rc = sub_table_add(t, &s, now, &why);

	if (rc)
		fprintf(stderr, "add %s/%s: %d %s\n", s.account, s.path, rc, why ? why : "");
	CHECK_EQ(rc, 0);
	return s.id;
}

static uint64_t add(struct sub_table *t, struct sub_spec s)
{
	return add_at(t, s, T0);
}

static uint32_t count_of(struct sub_table *t)
{
	struct sub_table_stats st;

	sub_table_stats(t, &st);
	return st.count;
}

static uint64_t strings_used(struct sub_table *t)
{
	struct sub_table_stats st;

	sub_table_stats(t, &st);
	return st.string_bytes_used;
}

static void group(const char *name, unsigned failed_before)
{
	printf("%s %s\n", check_failed == failed_before ? "ok  " : "FAIL", name);
}

/* ---- matching ---- */

struct got {
	uint64_t ids[256];
	unsigned n;
};

static void on_match(uint32_t index, uint64_t id, void *arg)
{
	struct got *g = arg;

	CHECK_EQ((uint32_t)id, index);
	if (g->n < 256)
		g->ids[g->n++] = id;
}

static unsigned match(struct sub_table *t, const char *acct, const char *path, unsigned type,
		      struct got *g)
{
	unsigned n;

	g->n = 0;
	n = sub_table_match(t, acct, strlen(acct), path, strlen(path), type, on_match, g);
	CHECK_EQ(n, g->n);
	return n;
}

static bool has(const struct got *g, uint64_t id)
{
	for (unsigned i = 0; i < g->n; i++)
		if (g->ids[i] == id)
			return true;
	return false;
}

static void test_match(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(64, 1 << 16);
	struct sub_table *t = x.t;
	struct got g;
	struct sub_spec s;
	uint64_t inbox, sub_a, root, exact_ab, inboxes, bob, bob_au, filt, rootx, longl, l12;

	inbox = add(t, xmpp("alice@x.com", "INBOX", SUB_EXACT));
	sub_a = add(t, spec(SUB_SIP, SUB_SUBTREE, "alice@x.com", "INBOX/a", "sip:alice@x.com",
			    "c\nl\nr\nsip:alice@h\n" ROUTE));
	root = add(t, xmpp("alice@x.com", "", SUB_SUBTREE));
	exact_ab = add(t, spec(SUB_XMPP, SUB_EXACT, "alice@x.com", "INBOX/a/b", "carol@y.org",
			       "carol@y.org/phone"));
	inboxes = add(t, spec(SUB_XMPP, SUB_EXACT, "alice@x.com", "INBOXES", "alice@x.com",
			      "alice@x.com/desk"));
	bob = add(t, xmpp("bob@x.com", "INBOX", SUB_EXACT));
	bob_au = add(t, xmpp("bob@x.com.au", "INBOX", SUB_SUBTREE));
	CHECK_EQ(count_of(t), 7);

	CHECK_EQ(match(t, "alice@x.com", "INBOX", T(MESSAGE_NEW), &g), 2);
	CHECK(has(&g, inbox) && has(&g, root));
	CHECK_EQ(match(t, "alice@x.com", "INBOX/a/b", T(MESSAGE_NEW), &g), 3);
	CHECK(has(&g, sub_a) && has(&g, root) && has(&g, exact_ab));
	CHECK_EQ(match(t, "alice@x.com", "INBOX/a", T(MESSAGE_NEW), &g), 2);
	CHECK(has(&g, sub_a) && has(&g, root));
	CHECK_EQ(match(t, "alice@x.com", "INBOX/a/b/c", T(FLAGS_SET), &g), 2);
	CHECK(has(&g, sub_a) && has(&g, root));
	/* Siblings: "INBOX/a" covers neither "INBOX/ab" nor "INBOXES". */
	CHECK_EQ(match(t, "alice@x.com", "INBOX/ab", T(MESSAGE_NEW), &g), 1);
	CHECK(has(&g, root));
	CHECK_EQ(match(t, "alice@x.com", "INBOXES", T(MESSAGE_NEW), &g), 2);
	CHECK(has(&g, inboxes) && has(&g, root));
	CHECK_EQ(match(t, "alice@x.com", "", T(LOGIN), &g), 1); /* the account root */
	CHECK(has(&g, root));
	/* Accounts: bob@x.com is not bob@x.com.au, nor a prefix of it. */
	CHECK_EQ(match(t, "bob@x.com", "INBOX", T(MESSAGE_NEW), &g), 1);
	CHECK(has(&g, bob));
	CHECK_EQ(match(t, "bob@x.com.au", "INBOX/x", T(MESSAGE_NEW), &g), 1);
	CHECK(has(&g, bob_au));
	CHECK_EQ(match(t, "bob@x.co", "INBOX", T(MESSAGE_NEW), &g), 0);
	CHECK_EQ(match(t, "bobb@x.com", "INBOX", T(MESSAGE_NEW), &g), 0);
	CHECK_EQ(match(t, "ob@x.com", "INBOX", T(MESSAGE_NEW), &g), 0);
	CHECK_EQ(match(t, "carol@y.org", "INBOX/a/b", T(MESSAGE_NEW), &g), 0);
	CHECK_EQ(match(t, "nodomain", "INBOX", T(MESSAGE_NEW), &g), 0);
	CHECK_EQ(match(t, "bob@x.com", "Inbox", T(MESSAGE_NEW), &g), 0); /* canonical already */

	/* Event filters: 0 is every type; a set matches only its types. */
	s = xmpp("dave@x.com", "INBOX", SUB_EXACT);
	s.events = 1u << T(MESSAGE_NEW) | 1u << T(MESSAGE_EXPUNGE);
	filt = add(t, s);
	rootx = add(t, xmpp("dave@x.com", "", SUB_SUBTREE));
	CHECK_EQ(match(t, "dave@x.com", "INBOX", T(MESSAGE_NEW), &g), 2);
	CHECK_EQ(match(t, "dave@x.com", "INBOX", T(MESSAGE_EXPUNGE), &g), 2);
	CHECK_EQ(match(t, "dave@x.com", "INBOX", T(FLAGS_SET), &g), 1);
	CHECK(has(&g, rootx) && !has(&g, filt));
	CHECK_EQ(match(t, "dave@x.com", "INBOX", 40, &g), 1); /* unknown type: "all" only */

	/* Local parts: longer than what a record keeps inline, exactly that
	 * long, and one a prefix of another. */
	longl = add(t, xmpp("averylonglocalpart.name@x.com", "INBOX", SUB_EXACT));
	l12 = add(t, xmpp("abcdefghijkl@x.com", "INBOX", SUB_EXACT));
	add(t, xmpp("abcdefghijk@x.com", "INBOX", SUB_EXACT));
	CHECK_EQ(match(t, "averylonglocalpart.name@x.com", "INBOX", 1, &g), 1);
	CHECK(has(&g, longl));
	CHECK_EQ(match(t, "averylonglocalpart.nam@x.com", "INBOX", 1, &g), 0);
	CHECK_EQ(match(t, "abcdefghijkl@x.com", "INBOX", 1, &g), 1);
	CHECK(has(&g, l12));
	CHECK_EQ(match(t, "abcdefghijklm@x.com", "INBOX", 1, &g), 0);

	/* A subtree subscription on a deep path: only its subtree. */
	add(t, xmpp("erin@x.com", "Lists/pnad/dev", SUB_SUBTREE));
	CHECK_EQ(match(t, "erin@x.com", "Lists/pnad/dev/2026", 1, &g), 1);
	CHECK_EQ(match(t, "erin@x.com", "Lists/pnad", 1, &g), 0);
	CHECK_EQ(match(t, "erin@x.com", "Lists/pnad/devel", 1, &g), 0);
	check_table(t);
	tab_free(&x);
	group("match: exact, subtree, ancestors, root, filters, accounts, siblings", before);
}

/* ---- re-subscribe, refresh, remove, stale ids, full ---- */

static void test_lifecycle(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(4, 1 << 16);
	struct sub_table *t = x.t;
	struct sub_spec s = sip("alice@x.com", "INBOX", "call-1"), got;
	const char *why = NULL;
	uint64_t id, id2, id3, old;
	struct got g;

	id = add(t, s);
	CHECK(id != 0);
	CHECK_EQ(sub_table_get(t, id, &got), 0);
	CHECK_STR(got.account, "alice@x.com");
	CHECK_STR(got.path, "INBOX");
	CHECK_STR(got.subscriber, "sip:alice@x.com");
	CHECK_STR(got.target, s.target);
	CHECK_EQ(sub_table_transport(t, (uint32_t)id, id), SUB_SIP);
	CHECK_EQ(sub_table_transport(t, (uint32_t)id, id + (1ull << 32)), -ENOENT);
	CHECK_EQ(got.transport, SUB_SIP);
	CHECK_EQ(got.expires, T0 + 3600);
	/* A re-subscribe (same transport, subscriber, account, path, target)
	 * replaces and keeps the id. */
	s.id = 0;
	s.expires = T0 + 7200;
	s.events = 1u << T(MESSAGE_NEW);
	s.depth = SUB_SUBTREE;
	CHECK_EQ(add(t, s), id);
	CHECK_EQ(count_of(t), 1);
	CHECK_EQ(sub_table_get(t, id, &got), 0);
	CHECK_EQ(got.expires, T0 + 7200);
	CHECK_EQ(got.events, 1u << T(MESSAGE_NEW));
	CHECK_EQ(got.depth, SUB_SUBTREE);
	CHECK_EQ(match(t, "alice@x.com", "INBOX/sub", T(MESSAGE_NEW), &g), 1);
	s.depth = SUB_EXACT;
	CHECK_EQ(add(t, s), id);
	CHECK_EQ(match(t, "alice@x.com", "INBOX/sub", T(MESSAGE_NEW), &g), 0);
	/* Another dialog, or another transport, is another subscription. */
	id2 = add(t, sip("alice@x.com", "INBOX", "call-2"));
	id3 = add(t, xmpp("alice@x.com", "INBOX", SUB_EXACT));
	CHECK(id2 != id && id3 != id && id3 != id2);
	CHECK_EQ(count_of(t), 3);
	check_table(t);

	CHECK_EQ(sub_table_refresh(t, id, T0 + 9000, T0 + 10), 0);
	CHECK_EQ(sub_table_get(t, id, &got), 0);
	CHECK_EQ(got.expires, T0 + 9000);
	CHECK_EQ(sub_table_remove(t, id), 0);
	CHECK_EQ(sub_table_remove(t, id), -ENOENT);
	CHECK_EQ(sub_table_get(t, id, &got), -ENOENT);
	CHECK_EQ(sub_table_refresh(t, id, T0 + 9000, T0), -ENOENT);
	CHECK_EQ(sub_table_get(t, 0, &got), -ENOENT);
	CHECK_EQ(sub_table_get(t, (uint64_t)1 << 32 | 99, &got), -ENOENT);

	/* Full: 4 records. */
	add(t, xmpp("b@x.com", "INBOX", SUB_EXACT));
	id = add(t, xmpp("c@x.com", "INBOX", SUB_EXACT));
	s = xmpp("d@x.com", "INBOX", SUB_EXACT);
	CHECK_EQ(sub_table_add(t, &s, T0, &why), -ENOSPC);
	CHECK_STR(why, "subscription table full");
	CHECK_EQ(count_of(t), 4);
	check_table(t);
	/* The only free record comes back with a new generation: the old id
	 * reaches nothing. */
	old = id;
	CHECK_EQ(sub_table_remove(t, old), 0);
	id = add(t, s);
	CHECK_EQ((uint32_t)id, (uint32_t)old);
	CHECK(id != old);
	CHECK_EQ(sub_table_get(t, old, &got), -ENOENT);
	CHECK_EQ(sub_table_remove(t, old), -ENOENT);
	CHECK_EQ(sub_table_refresh(t, old, T0 + 1, T0), -ENOENT);
	CHECK_EQ(sub_table_get(t, id, &got), 0);
	CHECK_STR(got.account, "d@x.com");

	/* Refusals. */
	s = xmpp("nodomain", "INBOX", SUB_EXACT);
	CHECK_EQ(sub_table_add(t, &s, T0, &why), -EINVAL);
	s = xmpp("a@x.com", "INBOX", SUB_EXACT);
	s.transport = 9;
	CHECK_EQ(sub_table_add(t, &s, T0, &why), -EINVAL);
	CHECK_STR(why, "transport must be sip or xmpp");
	s = xmpp("a@x.com", "/INBOX", SUB_EXACT);
	CHECK_EQ(sub_table_add(t, &s, T0, &why), -EINVAL);
	check_table(t);
	tab_free(&x);
	group("re-subscribe, refresh, remove, stale ids, table full", before);
}

/* A reload from Redis keeps ids when it can. */
static void test_reload_ids(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(8, 1 << 16), y = tab_new(8, 1 << 16);
	struct sub_spec s = xmpp("a@x.com", "INBOX", SUB_EXACT), got;
	uint64_t ids[3];

	ids[0] = add(x.t, s);
	ids[1] = add(x.t, xmpp("b@x.com", "INBOX", SUB_EXACT));
	CHECK_EQ(sub_table_remove(x.t, ids[1]), 0);
	ids[1] = add(x.t, xmpp("b@x.com", "INBOX", SUB_EXACT));
	ids[2] = add(x.t, xmpp("c@x.com", "INBOX", SUB_EXACT));
	for (int i = 2; i >= 0; i--) {
		CHECK_EQ(sub_table_get(x.t, ids[i], &got), 0);
		CHECK_EQ(add(y.t, got), ids[i]);
	}
	/* Taken or older: a new id. */
	s = xmpp("d@x.com", "INBOX", SUB_EXACT);
	s.id = ids[2];
	CHECK(add(y.t, s) != ids[2]);
	check_table(y.t);
	tab_free(&x);
	tab_free(&y);
	group("reload keeps ids", before);
}

/* ---- the string pool ---- */

static void test_pool(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(4096, 64 << 10);
	struct sub_table *t = x.t;
	struct sub_spec s;
	const char *why = NULL;
	uint64_t ids[4096], base = strings_used(t);
	unsigned n = 0, n2 = 0;
	char sub[64];
	int rc;

	/* Shared strings are stored once. */
	add(t, sip("u1@example.com", "INBOX", "c1"));
	add(t, sip("u2@example.com", "INBOX", "c2"));
	add(t, sip("u3@example.com", "INBOX", "c3"));
	for (uint64_t i = 1; i <= 3; i++)
		CHECK_EQ(sub_table_remove(t, (uint64_t)1 << 32 | (i - 1)), 0);
	CHECK_EQ(strings_used(t), base);

	/* Fill the pool with distinct 40-byte subscribers until it refuses. */
	for (;;) {
		snprintf(sub, sizeof(sub), "xmpp-subscriber-number-%016u@c.org", n);
		s = spec(SUB_XMPP, SUB_EXACT, "owner@example.com", "INBOX", sub, sub);
		rc = sub_table_add(t, &s, T0, &why);
		if (rc)
			break;
		ids[n++] = s.id;
	}
	CHECK_EQ(rc, -ENOSPC);
	CHECK_STR(why, "string pool full");
	CHECK(n > 1000);
	check_table(t);
	/* Free every other one: holes of one size. Then everything: the
	 * holes merge, and strings of another size fit as many bytes. */
	for (unsigned i = 0; i < n; i += 2)
		CHECK_EQ(sub_table_remove(t, ids[i]), 0);
	check_table(t);
	for (unsigned i = 1; i < n; i += 2)
		CHECK_EQ(sub_table_remove(t, ids[i]), 0);
	CHECK_EQ(strings_used(t), base);
	check_table(t);
	for (;;) {
		snprintf(sub, sizeof(sub), "s%u@c.org", n2);
		s = spec(SUB_XMPP, SUB_EXACT, "owner@example.com", "INBOX", sub, sub);
		if (sub_table_add(t, &s, T0, &why))
			break;
		n2++;
	}
	CHECK(n2 > n); /* shorter strings: more of them */
	CHECK_STR(why, "string pool full");
	check_table(t);
	tab_free(&x);
	group("string pool: sharing, full, reuse after removes", before);
}

/* ---- the wheel ---- */

struct timers {
	uint32_t now;
	uint64_t ids[2048];
	uint32_t at[2048]; /* expiry or beat time per id slot */
	uint32_t expires[2048];
	unsigned nexp, nbeat;
	uint32_t beats[2048][4];
	unsigned nb[2048];
};

static struct timers tm;

static void on_expired(const struct sub_spec *s, void *arg)
{
	struct timers *k = arg;
	uint32_t i = (uint32_t)s->id;

	CHECK(k->ids[i] == s->id);
	CHECK_EQ(k->at[i], 0);
	k->at[i] = k->now;
	k->expires[i] = s->expires;
	k->nexp++;
}

static void on_beat(uint64_t id, uint32_t index, void *arg)
{
	struct timers *k = arg;

	CHECK_EQ((uint32_t)id, index);
	if (k->nb[index] < 4)
		k->beats[index][k->nb[index]++] = k->now;
	k->nbeat++;
}

static void tick_to(struct sub_table *t, uint32_t from, uint32_t to)
{
	for (tm.now = from; tm.now <= to; tm.now++)
		sub_table_tick(t, tm.now, on_expired, on_beat, &tm);
}

static void test_expiry(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(2048, 1 << 20);
	struct sub_table *t = x.t;
	unsigned per_sec[64] = { 0 }, seconds = 0, most = 0;
	char a[64];

	memset(&tm, 0, sizeof(tm));
	sub_table_tick(t, T0, on_expired, on_beat, &tm);
	/* 1000 made in one second, all to expire 600 s later. */
	for (unsigned i = 0; i < 1000; i++) {
		struct sub_spec s;
		uint64_t id;

		snprintf(a, sizeof(a), "user%u@example.com", i);
		s = xmpp(a, "INBOX", SUB_EXACT);
		s.expires = T0 + 600;
		id = add_at(t, s, T0);
		tm.ids[(uint32_t)id] = id;
	}
	/* One expiring soon: little jitter. */
	{
		struct sub_spec s = xmpp("short@example.com", "INBOX", SUB_EXACT);
		uint64_t id;

		s.expires = T0 + 20;
		id = add_at(t, s, T0);
		tm.ids[(uint32_t)id] = id;
	}
	check_table(t);
	tick_to(t, T0 + 1, T0 + 700);
	CHECK_EQ(tm.nexp, 1001);
	CHECK_EQ(count_of(t), 0);
	for (unsigned i = 0; i < 1001; i++) {
		uint32_t at = tm.at[i], exp = tm.expires[i];
		uint32_t bound = exp - T0 >= 300 ? 30 : (exp - T0) / 10;

		/* Never late; early by at most min(10% of its life, 30 s). */
		CHECK(at != 0 && at <= exp && at + bound >= exp);
		if (exp == T0 + 600 && per_sec[T0 + 600 - at]++ == 0)
			seconds++;
	}
	for (unsigned i = 0; i < 64; i++)
		most = per_sec[i] > most ? per_sec[i] : most;
	CHECK(seconds >= 25);
	CHECK(most < 100);
	check_table(t);
	tab_free(&x);
	group("expiry jitter: spread, never late, bounded early", before);
}

static void test_heartbeat(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(2048, 1 << 20);
	struct sub_table *t = x.t;
	unsigned first[61] = { 0 }, distinct = 0;
	uint64_t id0 = 0;
	char a[64];

	memset(&tm, 0, sizeof(tm));
	for (unsigned i = 0; i < 1000; i++) {
		struct sub_spec s;
		uint64_t id;

		snprintf(a, sizeof(a), "hb%u@example.com", i);
		s = xmpp(a, "INBOX", SUB_EXACT);
		s.expires = T0 + 100000;
		s.heartbeat = 60;
		id = add_at(t, s, T0);
		tm.ids[(uint32_t)id] = id;
		id0 = i == 0 ? id : id0;
	}
	tick_to(t, T0 + 1, T0 + 150);
	/* Subscription 0: the egress sent something at +100, so the beat
	 * after is 60 s after that. */
	for (unsigned i = 0; i < 1000; i++) {
		uint32_t b0 = tm.beats[i][0];

		CHECK(tm.nb[i] >= 2);
		CHECK(b0 > T0 && b0 <= T0 + 60);
		CHECK_EQ(tm.beats[i][1], b0 + 60);
		if (first[b0 - T0]++ == 0)
			distinct++;
	}
	CHECK(distinct >= 40); /* the first beats spread over the interval */
	sub_table_sent(t, (uint32_t)id0, T0 + 150);
	tm.nb[(uint32_t)id0] = 0;
	tick_to(t, T0 + 151, T0 + 260);
	CHECK_EQ(tm.beats[(uint32_t)id0][0], T0 + 210);
	check_table(t);
	tab_free(&x);
	group("heartbeats: first beat spread, interval, pushed back by sent", before);
}

/* Long lives go through level 1 and its cascade; a very long gap re-slots
 * everything. */
static void test_long_timers(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(256, 1 << 16);
	struct sub_table *t = x.t;
	uint32_t exps[4] = { T0 + 50000, T0 + 9000, T0 + 5000000, T0 + 3000000 };
	char a[32];

	memset(&tm, 0, sizeof(tm));
	for (unsigned i = 0; i < 4; i++) {
		struct sub_spec s;
		uint64_t id;

		snprintf(a, sizeof(a), "l%u@x.com", i);
		s = xmpp(a, "INBOX", SUB_EXACT);
		s.expires = exps[i];
		id = add_at(t, s, T0);
		tm.ids[(uint32_t)id] = id;
	}
	/* Big steps (the tick walks every second inside), one-second steps
	 * around each expiry to see when it happens. */
	for (tm.now = T0; tm.now < T0 + 8900; tm.now += 997)
		sub_table_tick(t, tm.now, on_expired, on_beat, &tm);
	tick_to(t, T0 + 8900, T0 + 9100);
	for (tm.now = T0 + 9100; tm.now < T0 + 49900; tm.now += 997)
		sub_table_tick(t, tm.now, on_expired, on_beat, &tm);
	check_table(t);
	tick_to(t, T0 + 49900, T0 + 50000);
	CHECK_EQ(tm.nexp, 2);
	CHECK(tm.at[0] <= exps[0] && tm.at[0] + 30 >= exps[0]);
	CHECK(tm.at[1] <= exps[1] && tm.at[1] + 30 >= exps[1]);
	/* 2.9M seconds later in one tick: re-slotted, nothing early. */
	tm.now = T0 + 2950000;
	sub_table_tick(t, tm.now, on_expired, on_beat, &tm);
	CHECK_EQ(tm.nexp, 2);
	check_table(t);
	tick_to(t, T0 + 2999960, T0 + 3000000);
	CHECK_EQ(tm.nexp, 3);
	CHECK(tm.at[3] <= exps[3] && tm.at[3] + 30 >= exps[3]);
	for (tm.now = T0 + 3000000; tm.now < T0 + 4999000; tm.now += 9973)
		sub_table_tick(t, tm.now, on_expired, on_beat, &tm);
	tick_to(t, T0 + 4999000, T0 + 5000000);
	CHECK_EQ(tm.nexp, 4);
	CHECK(tm.at[2] <= exps[2] && tm.at[2] + 30 >= exps[2]);
	check_table(t);
	tab_free(&x);
	group("long expiries: level 1, overflow, long gaps", before);
}

/* ---- notes and coalescing ---- */

static struct sub_note note(uint8_t kind, const char *path, uint32_t v)
{
	struct sub_note n;

	memset(&n, 0, sizeof(n));
	n.kind = kind;
	n.type = T(MESSAGE_NEW);
	snprintf(n.path, sizeof(n.path), "%s", path);
	n.uid = v;
	n.uidvalidity = 7;
	n.uidnext = v + 1;
	n.messages = v;
	n.unseen = v / 2;
	return n;
}

static void test_notes(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(16, 1 << 16);
	struct sub_table *t = x.t;
	uint64_t id = add(t, xmpp("alice@x.com", "INBOX", SUB_EXACT));
	uint64_t root = add(t, xmpp("alice@x.com", "", SUB_SUBTREE)), base;
	uint32_t i = (uint32_t)id, r = (uint32_t)root;
	struct sub_note n1 = note(SUB_NOTE_EVENT, "INBOX", 299),
			n2 = note(SUB_NOTE_EVENT, "INBOX", 300);
	struct sub_note got;
	struct sub_spec s;

	CHECK_EQ(sub_table_note_take(t, i, id, &got, NULL), -EAGAIN);
	CHECK(sub_table_note_put(t, i, &n1));  /* tell the egress */
	CHECK(!sub_table_note_put(t, i, &n2)); /* folded */
	CHECK_EQ(sub_table_note_take(t, i, id, &got, &s), 0);
	CHECK_EQ(got.messages, 300);
	CHECK_EQ(got.uid, 300);
	CHECK_EQ(got.uidnext, 301);
	CHECK_EQ(got.unseen, 150);
	CHECK_EQ(got.uidvalidity, 7);
	CHECK_EQ(got.coalesced, 1);
	CHECK_EQ(got.kind, SUB_NOTE_EVENT);
	CHECK_EQ(got.type, T(MESSAGE_NEW));
	CHECK_STR(got.path, "INBOX");
	CHECK_STR(s.account, "alice@x.com");
	CHECK_EQ(sub_table_note_take(t, i, id, &got, NULL), -EAGAIN);
	/* After a take, the next put tells the egress again. */
	for (int k = 0; k < 5; k++)
		CHECK_EQ(sub_table_note_put(t, i, &n1), k == 0);
	CHECK_EQ(sub_table_note_take(t, i, id, &got, NULL), 0);
	CHECK_EQ(got.coalesced, 4);
	/* Wrong id, wrong index. */
	CHECK(sub_table_note_put(t, i, &n1));
	CHECK_EQ(sub_table_note_take(t, i, id + ((uint64_t)1 << 32), &got, NULL), -ENOENT);
	CHECK_EQ(sub_table_note_take(t, r, id, &got, NULL), -ENOENT);
	CHECK_EQ(sub_table_note_take(t, 99, id, &got, NULL), -ENOENT);
	/* A subtree subscription's note carries the mailbox of the event. */
	base = strings_used(t);
	CHECK(sub_table_note_put(t, r, &(struct sub_note){ .kind = 1, .path = "INBOX/deep/x" }));
	CHECK(strings_used(t) > base);
	CHECK_EQ(sub_table_note_take(t, r, root, &got, NULL), 0);
	CHECK_STR(got.path, "INBOX/deep/x");
	CHECK(sub_table_note_put(t, r, &(struct sub_note){ .kind = 1, .path = "" }));
	CHECK_EQ(strings_used(t), base);
	CHECK_EQ(sub_table_note_take(t, r, root, &got, NULL), 0);
	CHECK_STR(got.path, "");
	CHECK(sub_table_note_put(t, r, &(struct sub_note){ .kind = 1, .path = "Sent" }));
	/* A removed subscription's note is gone, with its string. */
	check_table(t);
	CHECK_EQ(sub_table_remove(t, root), 0);
	CHECK_EQ(strings_used(t), base);
	CHECK_EQ(sub_table_note_take(t, r, root, &got, NULL), -ENOENT);
	/* Pending notes are listed (the re-announce after a restart). */
	CHECK_EQ(sub_table_pending(t, on_match, &(struct got){ .n = 0 }), 1);
	check_table(t);
	tab_free(&x);
	group("notes: coalescing, take, stale ids, subtree paths, pending", before);
}

/* ---- lists ---- */

static int count_cb(const struct sub_spec *s, void *arg)
{
	(void)s;
	++*(unsigned *)arg;
	return 0;
}

static int stop_cb(const struct sub_spec *s, void *arg)
{
	(void)s;
	(void)arg;
	return 7;
}

static unsigned n_subscriber(struct sub_table *t, const char *who)
{
	unsigned n = 0;

	CHECK_EQ(sub_table_list_subscriber(t, who, count_cb, &n), 0);
	return n;
}

static unsigned n_mailbox(struct sub_table *t, const char *acct, const char *path)
{
	unsigned n = 0;

	CHECK_EQ(sub_table_list_mailbox(t, acct, path, count_cb, &n), 0);
	return n;
}

static void test_lists(void)
{
	unsigned before = check_failed;
	struct tab x = tab_new(2048, 1 << 20);
	struct sub_table *t = x.t;
	unsigned n = 0;
	char a[64];

	add(t, xmpp("alice@x.com", "INBOX", SUB_EXACT));
	add(t, sip("alice@x.com", "INBOX", "c1"));
	add(t, xmpp("alice@x.com", "Sent", SUB_EXACT));
	add(t, spec(SUB_XMPP, SUB_EXACT, "alice@x.com", "INBOX", "carol@y.org", "carol@y.org"));
	add(t, xmpp("bob@x.com", "INBOX", SUB_EXACT));
	CHECK_EQ(n_subscriber(t, "alice@x.com"), 2);
	CHECK_EQ(n_subscriber(t, "sip:alice@x.com"), 1);
	CHECK_EQ(n_subscriber(t, "carol@y.org"), 1);
	CHECK_EQ(n_subscriber(t, "nobody@y.org"), 0);
	CHECK_EQ(n_mailbox(t, "alice@x.com", "INBOX"), 3);
	CHECK_EQ(n_mailbox(t, "alice@x.com", "Sent"), 1);
	CHECK_EQ(n_mailbox(t, "alice@x.com", NULL), 4);
	CHECK_EQ(n_mailbox(t, "alice@x.co", NULL), 0);
	CHECK_EQ(sub_table_foreach(t, count_cb, &n), 0);
	CHECK_EQ(n, 5);
	CHECK_EQ(sub_table_foreach(t, stop_cb, NULL), 7);
	CHECK_EQ(sub_table_list_subscriber(t, "alice@x.com", stop_cb, NULL), 7);
	/* One subscriber on many mailboxes (a CNA, say). */
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(a, sizeof(a), "user%u@x.com", i);
		add(t, spec(SUB_SIP, SUB_EXACT, a, "INBOX", "sip:cna@provider.net",
			    "c\nl\nr\nsip:h\nroute"));
	}
	CHECK_EQ(n_subscriber(t, "sip:cna@provider.net"), 1000);
	check_table(t);
	tab_free(&x);
	group("lists: subscriber, mailbox, account, foreach", before);
}

/* ---- crash safety ---- */

static jmp_buf crash_jb;

static void die(void *arg)
{
	(void)arg;
	longjmp(crash_jb, 1);
}

struct dump {
	char *s;
	size_t n, cap;
};

static void dump_put(struct dump *d, const char *line)
{
	size_t n = strlen(line);

	if (d->n + n + 1 > d->cap) {
		d->cap = (d->cap + n + 1) * 2;
		d->s = realloc(d->s, d->cap);
		CHECK(d->s != NULL);
	}
	memcpy(d->s + d->n, line, n + 1);
	d->n += n;
}

static int dump_cb(const struct sub_spec *s, void *arg)
{
	char line[2048];

	snprintf(line, sizeof(line), "%016llx %u %u %x %u %u %s|%s|%s|%s\n",
		 (unsigned long long)s->id, s->transport, s->depth, s->events, s->expires,
		 s->heartbeat, s->account, s->path, s->subscriber, s->target);
	dump_put(arg, line);
	return 0;
}

static void dump_pending(uint32_t index, uint64_t id, void *arg)
{
	char line[64];

	snprintf(line, sizeof(line), "pending %u %016llx\n", index, (unsigned long long)id);
	dump_put(arg, line);
}

/* The table as text: specs in record order, pending notes, string bytes. */
static char *dump(struct sub_table *t)
{
	struct dump d = { NULL, 0, 0 };
	char line[64];

	sub_table_foreach(t, dump_cb, &d);
	sub_table_pending(t, dump_pending, &d);
	snprintf(line, sizeof(line), "count %u strings %llu", count_of(t),
		 (unsigned long long)strings_used(t));
	dump_put(&d, line);
	return d.s;
}

static void *region_copy(const struct tab *x)
{
	void *p = malloc(x->bytes);

	memcpy(p, x->region, x->bytes);
	return p;
}

static struct sub_table *crash_t;
static void *crash_region;
static int crash_done;

/* Run op on copies of base, killing the writer at its 1st, 2nd, ... write
 * point until op completes. After each kill: recover, check, and find the
 * table as before op or as after it (atomic), or, for `rerun` ops made of
 * several changes, as after once op runs again. */
static void crash_case(const char *name, const struct tab *base, void (*op)(struct sub_table *t),
		       bool rerun, void (*verify)(struct sub_table *t))
{
	unsigned before = check_failed, nth;
	struct sub_table *t;
	char *want_before, *want_after, *d;
	void *r = region_copy(base);

	t = sub_table_attach(r);
	want_before = dump(t);
	op(t);
	check_table(t);
	want_after = dump(t);
	sub_table_close(t);
	free(r);
	for (nth = 1;; nth++) {
		crash_region = region_copy(base);
		crash_t = sub_table_attach(crash_region);
		sub_table_test_crash(crash_t, nth, die, NULL);
		crash_done = 0;
		if (setjmp(crash_jb) == 0) {
			op(crash_t);
			crash_done = 1;
		}
		sub_table_close(crash_t);
		t = sub_table_attach(crash_region);
		sub_table_recover(t);
		check_table(t);
		if (rerun && !crash_done)
			op(t);
		d = dump(t);
		if (crash_done || rerun)
			CHECK_STR(d, want_after);
		else if (strcmp(d, want_before) != 0 && strcmp(d, want_after) != 0)
			CHECK_STR(d, want_before);
		if (verify) /* after the dump: it may change the table */
			verify(t);
		free(d);
		sub_table_close(t);
		free(crash_region);
		if (crash_done || check_failed > before + 3)
			break;
	}
	CHECK(nth > 5);
	free(want_before);
	free(want_after);
	printf("%s crash: %s (%u write points)\n", check_failed == before ? "ok  " : "FAIL", name,
	       nth - 1);
}

static uint64_t crash_id, crash_id2;

static void op_add(struct sub_table *t)
{
	add(t, sip("newcomer.with.long.name@example.com", "INBOX/Lists", "call-new"));
}

static void op_resubscribe(struct sub_table *t)
{
	struct sub_spec s = xmpp("a0@example.com", "INBOX", SUB_SUBTREE);

	s.expires = T0 + 99999;
	CHECK_EQ(add(t, s), crash_id);
}

static void op_remove(struct sub_table *t)
{
	CHECK_EQ(sub_table_remove(t, crash_id2), 0);
}

static void op_refresh(struct sub_table *t)
{
	CHECK_EQ(sub_table_refresh(t, crash_id, T0 + 7000, T0 + 5), 0);
}

static void op_note(struct sub_table *t)
{
	struct sub_note n = note(SUB_NOTE_EVENT, "INBOX/new/folder", 42);

	sub_table_note_put(t, (uint32_t)crash_id, &n);
}

static void op_add_id(struct sub_table *t)
{
	struct sub_spec s = xmpp("back@example.com", "INBOX", SUB_EXACT);

	s.id = (uint64_t)2 << 32 | 6; /* record 6 is free, generation 1 */
	CHECK_EQ(add(t, s), s.id);
}

static uint64_t crash_root;

static void op_remove_root(struct sub_table *t)
{
	CHECK_EQ(sub_table_remove(t, crash_root), 0);
}

/* After a crash in note_put the note is pending, old or new, and whole. */
static void verify_note(struct sub_table *t)
{
	struct sub_note n;

	CHECK_EQ(sub_table_note_take(t, (uint32_t)crash_id, crash_id, &n, NULL), 0);
	CHECK(n.uid == 1 || n.uid == 42);
	CHECK_EQ(n.uidnext, n.uid + 1);
	CHECK_STR(n.path, n.uid == 1 ? "INBOX/old" : "INBOX/new/folder");
}

static void op_tick(struct sub_table *t)
{
	sub_table_tick(t, T0 + 4000, NULL, NULL, NULL);
}

static void test_crash(void)
{
	struct tab x = tab_new(64, 16 << 10);
	struct sub_table *t = x.t;
	struct sub_note n = note(SUB_NOTE_EVENT, "INBOX/old", 1);
	char a[64];

	/* A used table: shared strings, holes in the pool, a pending note,
	 * timers at various times. */
	for (unsigned i = 0; i < 12; i++) {
		snprintf(a, sizeof(a), "a%u@example.com", i);
		add(t, i % 2 ? sip(a, "INBOX", a) : xmpp(a, "INBOX", SUB_EXACT));
	}
	for (unsigned i = 0; i < 12; i += 3) {
		snprintf(a, sizeof(a), "a%u@example.com", i);
		CHECK_EQ(sub_table_list_mailbox(t, a, NULL, count_cb, &(unsigned){ 0 }), 0);
	}
	CHECK_EQ(sub_table_remove(t, (uint64_t)1 << 32 | 3), 0);
	CHECK_EQ(sub_table_remove(t, (uint64_t)1 << 32 | 6), 0);
	crash_id = (uint64_t)1 << 32 | 0;
	crash_id2 = (uint64_t)1 << 32 | 5;
	{
		struct sub_spec s = xmpp("root@example.com", "", SUB_SUBTREE);

		s.expires = T0 + 3990;
		s.heartbeat = 600;
		crash_root = add(t, s);
	}
	CHECK(sub_table_note_put(t, (uint32_t)crash_id, &n));
	check_table(t);
	crash_case("add", &x, op_add, false, NULL);
	crash_case("add with a reload's id", &x, op_add_id, false, NULL);
	crash_case("re-subscribe", &x, op_resubscribe, false, NULL);
	crash_case("remove", &x, op_remove, false, NULL);
	crash_case("remove a subtree subscription", &x, op_remove_root, false, NULL);
	crash_case("refresh", &x, op_refresh, false, NULL);
	crash_case("note_put", &x, op_note, false, verify_note);
	crash_case("tick", &x, op_tick, true, NULL);
	tab_free(&x);
}

/* ---- readers racing the writer ---- */

#define RACE_K 64
#define RACE_Q 4096

static struct race {
	struct sub_table *t;
	uint64_t ids[RACE_K]; /* current id of subscription k (0: none) */
	uint64_t q[RACE_Q];   /* jobs: note ids */
	uint64_t qhead, qtail;
	uint32_t taken[RACE_K * 4]; /* per index: last uid taken */
	int stop;
	unsigned bad, reads, takes;
} rc;

static unsigned k_of(const char *s, char lead)
{
	return s[0] == lead ? (unsigned)strtoul(s + 1, NULL, 10) : 9999;
}

/* Every field of a spec names the same k. */
static bool consistent(const struct sub_spec *s)
{
	unsigned k = k_of(s->account, 'u');
	char want[SUB_TARGET_MAX + 1];

	if (k >= RACE_K || k_of(s->path, 'F') != k || k_of(s->subscriber, 's') != k)
		return false;
	snprintf(want, sizeof(want), "t%u\nl\nr\nsip:%u@h\nroute%u", k, k, k % 3);
	return strcmp(s->target, want) == 0;
}

static int race_cb(const struct sub_spec *s, void *arg)
{
	(void)arg;
	if (!consistent(s))
		__atomic_fetch_add(&rc.bad, 1, __ATOMIC_RELAXED);
	return 0;
}

static void race_take(uint64_t id)
{
	struct sub_note n;
	struct sub_spec s;
	uint32_t i = (uint32_t)id;
	int r = sub_table_note_take(rc.t, i, id, &n, &s);

	if (r == -ENOENT || r == -EAGAIN)
		return;
	rc.takes++;
	if (!consistent(&s) || n.uid != n.messages || n.uidnext != n.uid + 1 ||
	    k_of(n.path, 'F') != k_of(s.path, 'F'))
		__atomic_fetch_add(&rc.bad, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&rc.taken[i], n.uid, __ATOMIC_RELEASE);
}

static void *race_reader(void *arg)
{
	struct sub_spec s;
	char who[32];
	unsigned k = 0;

	(void)arg;
	while (!__atomic_load_n(&rc.stop, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&rc.qhead, __ATOMIC_ACQUIRE) != rc.qtail) {
		uint64_t id = __atomic_load_n(&rc.ids[k], __ATOMIC_RELAXED);

		while (__atomic_load_n(&rc.qhead, __ATOMIC_ACQUIRE) != rc.qtail) {
			race_take(rc.q[rc.qtail % RACE_Q]);
			__atomic_store_n(&rc.qtail, rc.qtail + 1, __ATOMIC_RELEASE);
		}
		if (id && sub_table_get(rc.t, id, &s) == 0 &&
		    (!consistent(&s) || k_of(s.account, 'u') != k))
			__atomic_fetch_add(&rc.bad, 1, __ATOMIC_RELAXED);
		snprintf(who, sizeof(who), "s%u@y.org", k);
		sub_table_list_subscriber(rc.t, who, race_cb, NULL);
		snprintf(who, sizeof(who), "u%u@x.com", k);
		sub_table_list_mailbox(rc.t, who, NULL, race_cb, NULL);
		if (k == 0)
			sub_table_foreach(rc.t, race_cb, NULL);
		rc.reads++;
		k = (k + 1) % RACE_K;
	}
	return NULL;
}

static void race_add(unsigned k, uint32_t now)
{
	char a[32], p[32], s[32], tg[128];
	struct sub_spec sp;

	snprintf(a, sizeof(a), "u%u@x.com", k);
	snprintf(p, sizeof(p), "F%u", k);
	snprintf(s, sizeof(s), "s%u@y.org", k);
	snprintf(tg, sizeof(tg), "t%u\nl\nr\nsip:%u@h\nroute%u", k, k, k % 3);
	sp = spec(SUB_SIP, SUB_SUBTREE, a, p, s, tg);
	sp.expires = now + 5 + k % 7;
	__atomic_store_n(&rc.ids[k], add_at(rc.t, sp, now), __ATOMIC_RELAXED);
}

static void race_job(uint64_t id)
{
	while (__atomic_load_n(&rc.qhead, __ATOMIC_RELAXED) -
		       __atomic_load_n(&rc.qtail, __ATOMIC_ACQUIRE) ==
	       RACE_Q)
		;
	rc.q[rc.qhead % RACE_Q] = id;
	__atomic_store_n(&rc.qhead, rc.qhead + 1, __ATOMIC_RELEASE);
}

static void test_race(void)
{
	unsigned before = check_failed, ops = 0;
	struct tab x = tab_new(RACE_K * 4, 1 << 16);
	uint32_t last[RACE_K * 4] = { 0 }, now = T0;
	uint64_t last_id[RACE_K * 4] = { 0 };
	char path[64];
	pthread_t th;
	uint32_t v = 1;

	memset(&rc, 0, sizeof(rc));
	rc.t = x.t;
	for (unsigned k = 0; k < RACE_K; k++)
		race_add(k, now);
	CHECK_EQ(pthread_create(&th, NULL, race_reader, NULL), 0);
	for (unsigned round = 0; round < 40000; round++) {
		unsigned k = round * 7 % RACE_K;
		uint64_t id = rc.ids[k];
		struct sub_note n;

		switch (round % 5) {
		case 0:
			sub_table_remove(rc.t, id);
			race_add(k, now);
			break;
		case 1:
			sub_table_tick(rc.t, ++now, NULL, NULL, NULL);
			for (unsigned j = 0; j < RACE_K; j++) {
				struct sub_spec s;

				if (sub_table_get(rc.t, rc.ids[j], &s) < 0)
					race_add(j, now);
			}
			break;
		default:
			snprintf(path, sizeof(path), "F%u/sub%u", k, v % 5);
			n = note(SUB_NOTE_EVENT, v % 2 ? path : path + 0, v);
			if (v % 3 == 0)
				snprintf(n.path, sizeof(n.path), "F%u", k);
			last[(uint32_t)id] = v;
			last_id[(uint32_t)id] = id;
			if (sub_table_note_put(rc.t, (uint32_t)id, &n))
				race_job(id);
			v++;
		}
		ops++;
		/* Now and then let the reader catch up, so takes interleave
		 * with puts even on a busy machine. */
		for (int w = 0; round % 32 == 0 && w < 200 &&
				__atomic_load_n(&rc.qtail, __ATOMIC_ACQUIRE) != rc.qhead;
		     w++)
			sched_yield();
	}
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_EQ(rc.bad, 0);
	CHECK(rc.reads > 10 && rc.takes > 100);
	/* Nothing lost: the last note put on each live subscription was taken. */
	for (unsigned k = 0; k < RACE_K; k++) {
		uint32_t i = (uint32_t)rc.ids[k];
		struct sub_spec s;

		if (last_id[i] == rc.ids[k] && sub_table_get(rc.t, rc.ids[k], &s) == 0 &&
		    sub_table_note_take(rc.t, i, rc.ids[k], &(struct sub_note){ 0 }, NULL) != 0)
			CHECK_EQ(rc.taken[i], last[i]);
	}
	check_table(rc.t);
	tab_free(&x);
	printf("%s readers racing the writer (%u writer ops, %u reader rounds, %u takes)\n",
	       check_failed == before ? "ok  " : "FAIL", ops, rc.reads, rc.takes);
}

int main(void)
{
	test_match();
	test_lifecycle();
	test_reload_ids();
	test_pool();
	test_expiry();
	test_heartbeat();
	test_long_timers();
	test_notes();
	test_lists();
	test_crash();
	test_race();
	return check_summary();
}
