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

/* The reason of a failing check, or "ok". */
static const char *reason(const Pna__Event *e, size_t idx, uint64_t seq)
{
	static char why[ROUTER_REASON_MAX];
	uint16_t shard;

	if (router_route_check(e, idx, seq, &lim, &shard, why, sizeof(why)) == 0)
		return "ok";
	return why;
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
		 router_route_size(&e));
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
	Pna__Event e0 = ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, "a@x.org", "INBOX");
	Pna__Event e1 = ev_new(PNA__EVENT_TYPE__LOGIN, "b@x.org", NULL);
	Pna__Event e2 = ev_new(PNA__EVENT_TYPE__MESSAGE_READ, "c@x.org", NULL);
	Pna__Event *evs[] = { &e0, &e1, &e2 };
	Pna__Batch b = PNA__BATCH__INIT;
	char why[ROUTER_REASON_MAX];
	uint16_t shards[3];

	b.first_seq = 10;
	b.events = evs;
	b.n_events = 3;
	CHECK_EQ(router_route_batch(&b, &lim, shards, why, sizeof(why)), -EINVAL);
	CHECK_STR(why, "event 2 (seq 12): MessageRead without a mailbox");
	e2.mailbox = "Archive";
	CHECK_EQ(router_route_batch(&b, &lim, shards, why, sizeof(why)), 0);
	CHECK_EQ(shards[0], hash_jump(hash64("a@x.org", 7), 4));
	CHECK_EQ(shards[2], hash_jump(hash64("c@x.org", 7), 4));
	b.first_seq = 0;
	CHECK_EQ(router_route_batch(&b, &lim, shards, why, sizeof(why)), -EINVAL);
	CHECK_STR(why, "batch first_seq is 0 (sequence numbers start at 1)");
	b.first_seq = UINT64_MAX - 1;
	CHECK_EQ(router_route_batch(&b, &lim, shards, why, sizeof(why)), -EINVAL);
	b.n_events = 0;
	CHECK_EQ(router_route_batch(&b, &lim, shards, why, sizeof(why)), 0);
}

static void test_shard_is_canonical(void)
{
	Pna__Event a = ev_new(PNA__EVENT_TYPE__LOGIN, "Bob@Example.COM", NULL);
	Pna__Event b = ev_new(PNA__EVENT_TYPE__LOGIN, "Bob@example.com", NULL);
	char why[ROUTER_REASON_MAX];
	struct router_route_limits l = { .nshards = 64, .max_record = 4096 };
	uint16_t sa, sb;

	CHECK_EQ(router_route_check(&a, 0, 1, &l, &sa, why, sizeof(why)), 0);
	CHECK_EQ(router_route_check(&b, 0, 1, &l, &sb, why, sizeof(why)), 0);
	CHECK_EQ(sa, sb);
	CHECK_EQ(sa, hash_jump(hash64("Bob@example.com", 15), 64));
}

static void test_round_trip(void)
{
	size_t bytes = 4096;
	struct ring *r = aligned_alloc(64, ring_footprint(bytes));
	Pna__Event e = ev_new(PNA__EVENT_TYPE__MESSAGE_NEW, "Alice@Example.COM", "inbox/Work");
	const struct evrec *rec;
	uint32_t need = 0, len, n = 0;
	uint64_t pos;
	char body[] = "never forwarded";

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
	CHECK_EQ(router_route_put(r, &e, 77, 3, 0xabcdef, &need), 0);
	rec = ring_peek(r, &len, &pos);
	CHECK(rec != NULL);
	if (!rec)
		goto out;
	CHECK_EQ(len, router_route_size(&e));
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
	while (router_route_put(r, &e, 78 + n, 3, 0xabcdef, &need) == 0)
		n++;
	CHECK(n > 0);
	CHECK_EQ(need, router_route_size(&e));
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
	Pna__Event e = ev_new(PNA__EVENT_TYPE__MAILBOX_RENAME, "u@D.example", "Inbox/New");
	struct evrec *rec = (struct evrec *)mem;

	e.old_mailbox = "INBOX/Old";
	CHECK(router_route_size(&e) <= sizeof(mem));
	router_route_encode(&e, 5, 1, 42, rec);
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
	test_round_trip();
	test_rename_encoding();
	return check_summary();
}
