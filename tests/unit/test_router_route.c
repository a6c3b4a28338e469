/* test_router_route: event validation reasons, canonical names and the evrec
 * round trip through a real ring (router/router_route). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/evrec.h"
#include "lib/hash.h"
#include "lib/ring.h"
#include "router/router_route.h"
#include "tests/unit/check.h"

static const struct router_route_limits lim = { .nshards = 4, .max_record = 4096 };

static Pna__Event ev_new(Pna__EventType type, char *account, char *mailbox)
{
	Pna__Event e = PNA__EVENT__INIT;

	e.type = type;
	e.account = account;
	e.mailbox = mailbox;
	return e;
}

/* Writable copies of the names (the check canonicalises them in place),
 * freed at the end. */
static char *dups[256];
static unsigned ndups;

static char *dup(const char *s)
{
	if (!s)
		return NULL;
	if (ndups == sizeof(dups) / sizeof(dups[0]))
		abort();
	return dups[ndups++] = strdup(s);
}

/* The reason of a failing check on a copy of e, or "ok". */
static const char *reason(const Pna__Event *e, size_t idx, uint64_t seq)
{
	static char why[ROUTER_REASON_MAX];
	struct router_route_ev ck;
	Pna__Event c = *e;

	c.account = dup(e->account);
	c.mailbox = dup(e->mailbox);
	c.old_mailbox = dup(e->old_mailbox);
	if (router_route_check(&c, idx, seq, &lim, &ck, why, sizeof(why)) == 0)
		return "ok";
	return why;
}

/* The size of e's evrec, as the check sets it. */
static uint32_t size_of(const Pna__Event *e)
{
	static char why[ROUTER_REASON_MAX];
	struct router_route_limits big = { .nshards = 4, .max_record = UINT32_MAX };
	struct router_route_ev ck = { 0 };
	Pna__Event c = *e;

	c.account = dup(e->account);
	c.mailbox = dup(e->mailbox);
	c.old_mailbox = dup(e->old_mailbox);
	CHECK_EQ(router_route_check(&c, 0, 1, &big, &ck, why, sizeof(why)), 0);
	return ck.size;
}

static void test_reasons(void)
{
	char want[ROUTER_REASON_MAX];
	Pna__Event e;
	char *big;

	e = ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, "alice@example.com", "INBOX");
	CHECK_STR(reason(&e, 0, 1), "ok");
	e = ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, "alice@example.com", NULL);
	CHECK_STR(reason(&e, 3, 1042), "event 3 (seq 1042): MessageNew without a mailbox");
	e = ev_new(PNA__EVENT_TYPE__FLAGS_SET, "alice@example.com", "");
	CHECK_STR(reason(&e, 0, 7), "event 0 (seq 7): FlagsSet without a mailbox");
	e = ev_new(PNA__EVENT_TYPE__LOGIN, NULL, NULL);
	CHECK_STR(reason(&e, 1, 2), "event 1 (seq 2): Login without an account");
	e = ev_new(PNA__EVENT_TYPE__LOGIN, "alice@example.com", NULL);
	CHECK_STR(reason(&e, 0, 1), "ok");
	e = ev_new(PNA__EVENT_TYPE__LOGIN, "alice", NULL);
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): account is not user@domain");
	e = ev_new(PNA__EVENT_TYPE__LOGIN, "al ice@example.com", NULL);
	CHECK(strstr(reason(&e, 0, 1), "space, control") != NULL);
	e = ev_new((Pna__EventType)99, "alice@example.com", "INBOX");
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): unknown event type 99");
	e = ev_new(PNA__EVENT_TYPE__EVENT_UNKNOWN, "alice@example.com", "INBOX");
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): unknown event type 0");
	e = ev_new(PNA__EVENT_TYPE__MAILBOX_RENAME, "alice@example.com", "New");
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): MailboxRename without an old_mailbox");
	e.old_mailbox = "Old//x";
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): old_mailbox: mailbox has an empty component");
	e.old_mailbox = "Old";
	CHECK_STR(reason(&e, 0, 1), "ok");
	e = ev_new(PNA__EVENT_TYPE__SIEVE_NOTIFY, "alice@example.com", NULL);
	CHECK_STR(reason(&e, 4, 9), "event 4 (seq 9): SieveNotify without a target");
	e.target = "sip:alice@example.com";
	CHECK_STR(reason(&e, 0, 1), "ok");
	e = ev_new(PNA__EVENT_TYPE__MESSAGE_EXPUNGE, "alice@example.com", "INBOX");
	e.uidset = "1:3,x";
	CHECK(strncmp(reason(&e, 2, 5), "event 2 (seq 5): uidset '1:3,x': ", 33) == 0);
	e.uidset = "1:3,7,10:*";
	CHECK_STR(reason(&e, 0, 1), "ok");
	e = ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, "alice@example.com", "/INBOX");
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): mailbox starts or ends with '/'");

	/* Limits: u16 string lengths, the ring's record size, the key size. */
	big = malloc(70001);
	memset(big, 'x', 70000);
	big[70000] = '\0';
	e = ev_new(PNA__EVENT_TYPE__FLAGS_SET, "alice@example.com", "INBOX");
	e.flag_names = big;
	CHECK_STR(reason(&e, 0, 1),
		  "event 0 (seq 1): flag_names is 70000 bytes, above the limit of 65535");
	big[5000] = '\0';
	snprintf(want, sizeof(want),
		 "event 0 (seq 1): event needs %u bytes, above the shard ring's "
		 "record limit of 4096",
		 size_of(&e));
	CHECK_STR(reason(&e, 0, 1), want);
	big[250] = '\0';
	e.flag_names = NULL;
	e.mailbox = big;
	CHECK_STR(reason(&e, 0, 1),
		  "event 0 (seq 1): account/mailbox key is longer than 255 bytes");
	memset(big, 'x', 300);
	big[300] = '\0';
	CHECK_STR(reason(&e, 0, 1), "event 0 (seq 1): mailbox is too long");
	free(big);
}

static void test_batch(void)
{
	Pna__Event e0 = ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, dup("a@X.org"), dup("inbox"));
	Pna__Event e1 = ev_new(PNA__EVENT_TYPE__LOGIN, dup("b@x.org"), NULL);
	Pna__Event e2 = ev_new(PNA__EVENT_TYPE__MESSAGE_READ, dup("c@x.org"), NULL);
	Pna__Event *evs[] = { &e0, &e1, &e2 };
	Pna__Batch b = PNA__BATCH__INIT;
	char why[ROUTER_REASON_MAX];
	struct router_route_ev ck[3];

	b.first_seq = 10;
	b.events = evs;
	b.n_events = 3;
	CHECK_EQ(router_route_batch(&b, &lim, ck, why, sizeof(why)), -EINVAL);
	CHECK_STR(why, "event 2 (seq 12): MessageRead without a mailbox");
	e2.mailbox = dup("Archive");
	CHECK_EQ(router_route_batch(&b, &lim, ck, why, sizeof(why)), 0);
	CHECK_EQ(ck[0].shard, hash_jump(hash64("a@x.org", 7), 4));
	CHECK_EQ(ck[2].shard, hash_jump(hash64("c@x.org", 7), 4));
	/* Canonical in place, lengths and sizes kept for the put. */
	CHECK_STR(e0.account, "a@x.org");
	CHECK_STR(e0.mailbox, "INBOX");
	CHECK_EQ(ck[0].len[EVREC_ACCOUNT], 7);
	CHECK_EQ(ck[0].len[EVREC_PATH], 5);
	CHECK_EQ(ck[1].len[EVREC_PATH], 0);
	CHECK_EQ(ck[0].size, sizeof(struct evrec) + 8 + 6 + 5);
	b.first_seq = 0;
	CHECK_EQ(router_route_batch(&b, &lim, ck, why, sizeof(why)), -EINVAL);
	CHECK_STR(why, "batch first_seq is 0 (sequence numbers start at 1)");
	b.first_seq = UINT64_MAX - 1;
	CHECK_EQ(router_route_batch(&b, &lim, ck, why, sizeof(why)), -EINVAL);
	b.n_events = 0;
	CHECK_EQ(router_route_batch(&b, &lim, ck, why, sizeof(why)), 0);
}

static void test_shard_is_canonical(void)
{
	Pna__Event a = ev_new(PNA__EVENT_TYPE__LOGIN, dup("Bob@Example.COM"), NULL);
	Pna__Event b = ev_new(PNA__EVENT_TYPE__LOGIN, dup("Bob@example.com"), NULL);
	char why[ROUTER_REASON_MAX];
	struct router_route_limits l = { .nshards = 64, .max_record = 4096 };
	struct router_route_ev ca, cb;

	CHECK_EQ(router_route_check(&a, 0, 1, &l, &ca, why, sizeof(why)), 0);
	CHECK_EQ(router_route_check(&b, 0, 1, &l, &cb, why, sizeof(why)), 0);
	CHECK_EQ(ca.shard, cb.shard);
	CHECK_EQ(ca.shard, hash_jump(hash64("Bob@example.com", 15), 64));
	/* One shard: every account on shard 0, without hashing. */
	l.nshards = 1;
	CHECK_EQ(router_route_check(&a, 0, 1, &l, &ca, why, sizeof(why)), 0);
	CHECK_EQ(ca.shard, 0);
}

/* A failed check reports the same reason again on the same event: the
 * router checks a frame again when it resumes after a full ring. */
static void test_check_again(void)
{
	Pna__Event e =
		ev_new(PNA__EVENT_TYPE__MAILBOX_RENAME, dup("u@Example.ORG"), dup("inbox/A"));
	char why[ROUTER_REASON_MAX];
	struct router_route_ev ck;

	e.old_mailbox = dup("B//x");
	CHECK_EQ(router_route_check(&e, 0, 1, &lim, &ck, why, sizeof(why)), -EINVAL);
	CHECK_STR(why, "event 0 (seq 1): old_mailbox: mailbox has an empty component");
	CHECK_EQ(router_route_check(&e, 0, 1, &lim, &ck, why, sizeof(why)), -EINVAL);
	CHECK_STR(why, "event 0 (seq 1): old_mailbox: mailbox has an empty component");
	e.old_mailbox = dup("Inbox");
	CHECK_EQ(router_route_check(&e, 0, 1, &lim, &ck, why, sizeof(why)), 0);
	CHECK_EQ(router_route_check(&e, 0, 1, &lim, &ck, why, sizeof(why)), 0);
	CHECK_STR(e.account, "u@example.org");
	CHECK_STR(e.mailbox, "INBOX/A");
	CHECK_STR(e.old_mailbox, "INBOX");
}

static void test_round_trip(void)
{
	size_t bytes = 4096;
	struct ring *r = aligned_alloc(64, ring_footprint(bytes));
	Pna__Event e =
		ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, dup("Alice@Example.COM"), dup("inbox/Work"));
	const struct evrec *rec;
	uint32_t need = 0, len, n = 0;
	uint64_t pos;
	char body[] = "never forwarded", why[ROUTER_REASON_MAX];
	struct router_route_ev ck;

	memset(r, 0, ring_footprint(bytes));
	ring_init(r, bytes);
	e.has_uidvalidity = 1;
	e.uidvalidity = 1700000000;
	e.has_uid = 1;
	e.uid = 42;
	e.has_messages = 1;
	e.messages = 300;
	e.has_unseen = 1;
	e.unseen = 299;
	e.has_modseq = 1;
	e.modseq = 1ULL << 40;
	e.has_spam = 1;
	e.spam = 1;
	e.flag_names = "\\Seen $Junk";
	e.has_message_content = 1;
	e.message_content.data = (uint8_t *)body;
	e.message_content.len = sizeof(body);
	CHECK_EQ(router_route_check(&e, 0, 77, &lim, &ck, why, sizeof(why)), 0);
	CHECK_EQ(router_route_put(r, &e, &ck, 77, 3, 0xabcdef, &need), 0);
	rec = ring_peek(r, &len, &pos);
	CHECK(rec != NULL);
	if (!rec)
		goto out;
	CHECK_EQ(len, ck.size);
	CHECK_EQ(len, evrec_size(rec->len));
	CHECK_EQ(rec->store_seq, 77);
	CHECK_EQ(rec->store_key, 0xabcdef);
	CHECK_EQ(rec->store, 3);
	CHECK_EQ(rec->type, PNA__EVENT_TYPE__MESSAGE_NEW);
	CHECK_EQ(rec->uidvalidity, 1700000000u);
	CHECK_EQ(rec->uid, 42);
	CHECK_EQ(rec->messages, 300);
	CHECK_EQ(rec->unseen, 299);
	CHECK_EQ(rec->uidnext, 0);
	CHECK(rec->modseq == 1ULL << 40);
	CHECK_EQ(rec->flags, EVREC_HAS_UIDVALIDITY | EVREC_HAS_UID | EVREC_HAS_MESSAGES |
				     EVREC_HAS_UNSEEN | EVREC_SPAM);
	CHECK_STR(evrec_str(rec, EVREC_ACCOUNT), "Alice@example.com");
	CHECK_STR(evrec_str(rec, EVREC_PATH), "INBOX/Work");
	CHECK_STR(evrec_str(rec, EVREC_OLD_PATH), "");
	CHECK_STR(evrec_str(rec, EVREC_FLAGS), "\\Seen $Junk");
	CHECK_STR(evrec_str(rec, EVREC_UIDSET), "");
	CHECK_STR(evrec_str(rec, EVREC_TEXT), "");
	CHECK(memmem(rec, len, body, sizeof(body) - 1) == NULL);
	ring_release(r);

	/* Fill the ring: the first refused record reports its size. */
	while (router_route_put(r, &e, &ck, 78 + n, 3, 0xabcdef, &need) == 0)
		n++;
	CHECK(n > 0);
	CHECK_EQ(need, ck.size);
	for (uint32_t i = 0; i < n; i++) {
		rec = ring_peek(r, &len, &pos);
		CHECK(rec && rec->store_seq == 78 + i);
		ring_release(r);
	}
	CHECK(ring_peek(r, &len, &pos) == NULL);
out:
	free(r);
}

static void test_rename_encoding(void)
{
	uint64_t mem[64];
	Pna__Event e =
		ev_new(PNA__EVENT_TYPE__MAILBOX_RENAME, dup("u@D.example"), dup("Inbox/New"));
	struct evrec *rec = (struct evrec *)mem;
	char why[ROUTER_REASON_MAX];
	struct router_route_ev ck;

	e.old_mailbox = dup("INBOX/Old");
	CHECK_EQ(router_route_check(&e, 0, 5, &lim, &ck, why, sizeof(why)), 0);
	CHECK(ck.size <= sizeof(mem));
	router_route_encode(&e, &ck, 5, 1, 42, rec);
	CHECK_STR(evrec_str(rec, EVREC_ACCOUNT), "u@d.example");
	CHECK_STR(evrec_str(rec, EVREC_PATH), "INBOX/New");
	CHECK_STR(evrec_str(rec, EVREC_OLD_PATH), "INBOX/Old");
	CHECK_EQ(rec->flags, 0);
	CHECK_EQ(rec->store_key, 42);
	CHECK_EQ(rec->store_seq, 5);
}

int main(void)
{
	test_reasons();
	test_batch();
	test_shard_is_canonical();
	test_check_again();
	test_round_trip();
	test_rename_encoding();
	while (ndups)
		free(dups[--ndups]);
	return check_summary();
}
