/* test_shard_state: mailbox counts per RFC 5423 event, absolute counts,
 * subtree renames, deletes, idempotent replay, crash recovery through the
 * redo slot, a full table, account-exact listing and seqlocked reads racing
 * the writer. Regions are malloc'd, not shared memory. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/evrec.h"
#include "lib/hash.h"
#include "pna.pb-c.h"
#include "shard/shard_state.h"

#define T(x) PNA__EVENT_TYPE__##x
#define ACCT "bob@x.com"
#define MAXMB 64

struct ev {
	unsigned type;
	const char *acct;
	const char *path;
	const char *old;
	const char *uidset;
	const char *flags;
	uint8_t has; /* EVREC_HAS_* */
	uint32_t uid, uidvalidity, uidnext, messages, unseen;
	uint64_t modseq;
};

static _Alignas(8) unsigned char evbuf[4096];
static uint64_t next_pos_g = 64; /* not 0: a real ring has some history */

static const struct evrec *mk(const struct ev *s)
{
	struct evrec *e = (struct evrec *)evbuf;
	const char *str[EVREC_NSTR] = { s->acct ? s->acct : ACCT, s->path, s->old, s->uidset,
					s->flags };

	memset(evbuf, 0, sizeof(evbuf));
	for (int i = 0; i < EVREC_NSTR; i++)
		e->len[i] = (uint16_t)(str[i] ? strlen(str[i]) : 0);
	for (int i = 0; i < EVREC_NSTR; i++)
		if (str[i])
			memcpy(evrec_str_mut(e, (enum evrec_str)i), str[i], e->len[i] + 1);
	e->type = (uint8_t)s->type;
	e->flags = s->has;
	e->uid = s->uid;
	e->uidvalidity = s->uidvalidity;
	e->uidnext = s->uidnext;
	e->messages = s->messages;
	e->unseen = s->unseen;
	e->modseq = s->modseq;
	return e;
}

/* Padded size the ring would give the record. */
static uint64_t span(const struct evrec *e)
{
	return (8 + evrec_size(e->len) + 7) & ~(uint64_t)7;
}

/* Apply at the next ring position; *pos_out gets it when not NULL. */
static int app_at(void *st, const struct ev *s, uint64_t *pos_out)
{
	const struct evrec *e = mk(s);
	uint64_t pos = next_pos_g;

	next_pos_g += span(e);
	if (pos_out)
		*pos_out = pos;
	return shard_state_apply(st, e, pos, next_pos_g);
}

static int app(void *st, const struct ev *s)
{
	return app_at(st, s, NULL);
}

static void *region_new(uint32_t cap)
{
	size_t n = shard_state_footprint(cap);
	void *p = malloc(n);

	CHECK(p != NULL);
	memset(p, 0xa5, n); /* format must not trust the bytes it is given */
	shard_state_format(p, n, cap);
	return p;
}

static struct shard_mailbox mbox;

/* Fetch (ACCT, path) into mbox; 0 or -errno. */
static int get(const void *st, const char *path)
{
	memset(&mbox, 0, sizeof(mbox));
	return shard_state_get(st, ACCT, path, &mbox);
}

static void create(void *st, const char *path)
{
	CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_CREATE), .path = path }), 1);
}

static void group(const char *name, unsigned failed_before)
{
	printf("%s %s\n", check_failed == failed_before ? "ok  " : "FAIL", name);
}

static void test_counts(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);
	uint64_t pos;

	create(st, "INBOX");
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_STR(mbox.account, ACCT);
	CHECK_STR(mbox.path, "INBOX");
	CHECK_EQ(mbox.messages, 0);
	CHECK_EQ(mbox.events, 1);
	app(st, &(struct ev){
			.type = T(MESSAGE_NEW), .path = "INBOX", .has = EVREC_HAS_UID, .uid = 41 });
	app(st, &(struct ev){
			.type = T(MESSAGE_APPEND), .path = "INBOX", .flags = "\\Flagged \\seen" });
	CHECK_EQ(app_at(st,
			&(struct ev){ .type = T(MESSAGE_NEW),
				      .path = "INBOX",
				      .flags = "\\Seenx",
				      .has = EVREC_HAS_UID,
				      .uid = 7 },
			&pos),
		 1);
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 3);
	CHECK_EQ(mbox.unseen, 2);
	CHECK_EQ(mbox.uidnext, 42); /* max(uid + 1), a lower uid keeps it */
	CHECK_EQ(mbox.events, 4);
	CHECK_EQ(mbox.last_pos, pos);
	CHECK_EQ(mbox.last_type, T(MESSAGE_NEW));

	app(st, &(struct ev){ .type = T(MESSAGE_READ), .path = "INBOX", .uidset = "1" });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.unseen, 1);
	app(st,
	    &(struct ev){
		    .type = T(FLAGS_CLEAR), .path = "INBOX", .uidset = "1:5", .flags = "\\Seen" });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.unseen, 3); /* capped at messages */
	app(st, &(struct ev){ .type = T(FLAGS_SET),
			      .path = "INBOX",
			      .uidset = "2",
			      .flags = "\\Answered \\Seen" });
	app(st,
	    &(struct ev){
		    .type = T(FLAGS_SET), .path = "INBOX", .uidset = "3", .flags = "\\Flagged" });
	app(st, &(struct ev){ .type = T(MESSAGE_TRASH), .path = "INBOX", .uidset = "3" });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.unseen, 2);
	CHECK_EQ(mbox.messages, 3);
	CHECK_EQ(mbox.events, 9);
	CHECK_EQ(mbox.last_type, T(MESSAGE_TRASH));

	app(st, &(struct ev){ .type = T(MESSAGE_EXPUNGE), .path = "INBOX", .uidset = "1:2" });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 1);
	CHECK_EQ(mbox.unseen, 1);
	/* '*' is uidnext - 1 = 41: "40:*" is two UIDs */
	app(st, &(struct ev){ .type = T(MESSAGE_EXPIRE), .path = "INBOX", .uidset = "40:*" });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 0);
	CHECK_EQ(mbox.unseen, 0);
	app(st, &(struct ev){ .type = T(MESSAGE_READ), .path = "INBOX", .uidset = "1:9" });
	app(st, &(struct ev){ .type = T(MESSAGE_EXPUNGE), .path = "INBOX", .uidset = "bad" });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 0); /* floors at 0 */
	CHECK_EQ(mbox.unseen, 0);

	/* a message event creates a mailbox it does not know */
	CHECK_EQ(get(st, "Sent"), -ENOENT);
	app(st, &(struct ev){ .type = T(MESSAGE_APPEND), .path = "Sent", .flags = "\\Seen" });
	CHECK_EQ(get(st, "Sent"), 0);
	CHECK_EQ(mbox.messages, 1);
	CHECK_EQ(mbox.unseen, 0);
	CHECK_EQ(shard_state_count(st), 2);
	/* the same name under another account is another mailbox */
	CHECK_EQ(shard_state_get(st, "bob@y.com", "INBOX", &mbox), -ENOENT);
	free(st);
	group("counts follow events", before);
}

static void test_stateless(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);
	static const unsigned types[] = { T(LOGIN),
					  T(LOGOUT),
					  T(QUOTA_EXCEED),
					  T(QUOTA_WITHIN),
					  T(QUOTA_CHANGE),
					  T(MAILBOX_SUBSCRIBE),
					  T(MAILBOX_UNSUBSCRIBE),
					  T(SIEVE_NOTIFY),
					  0,
					  200 };
	uint64_t applied;

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct ev s = { .type = types[i], .path = "INBOX" };

		CHECK(shard_state_stateless(mk(&s)));
		CHECK_EQ(app(st, &s), 1);
	}
	CHECK(shard_state_stateless(mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "" })));
	CHECK(!shard_state_stateless(mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "INBOX" })));
	CHECK(shard_state_stateless(mk(&(struct ev){ .type = T(MAILBOX_RENAME), .path = "A" })));
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = "" }), 1);
	CHECK_EQ(shard_state_count(st), 0);
	CHECK_EQ(shard_state_applied_pos(st), next_pos_g);

	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .acct = "", .path = "INBOX" }),
		 -EINVAL);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .acct = "a/b", .path = "INBOX" }),
		 -EINVAL);
	char longp[300];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = longp }), -EINVAL);
	applied = shard_state_applied_pos(st);
	CHECK_EQ(applied, next_pos_g); /* refused events advance too */
	CHECK_EQ(shard_state_count(st), 0);
	free(st);
	group("events without mailbox state", before);
}

static void test_absolute(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);

	app(st, &(struct ev){ .type = T(MESSAGE_NEW),
			      .path = "INBOX",
			      .has = EVREC_HAS_MESSAGES | EVREC_HAS_UNSEEN | EVREC_HAS_UIDVALIDITY |
				     EVREC_HAS_UIDNEXT,
			      .messages = 299,
			      .unseen = 12,
			      .uidvalidity = 777,
			      .uidnext = 500,
			      .modseq = 90 });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 299);
	CHECK_EQ(mbox.unseen, 12);
	CHECK_EQ(mbox.uidvalidity, 777);
	CHECK_EQ(mbox.uidnext, 500);
	CHECK_EQ(mbox.modseq, 90);
	app(st, &(struct ev){ .type = T(MESSAGE_READ),
			      .path = "INBOX",
			      .uidset = "1:5",
			      .has = EVREC_HAS_UNSEEN,
			      .unseen = 10,
			      .modseq = 50 });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.unseen, 10); /* not 12 - 5 */
	CHECK_EQ(mbox.modseq, 90); /* modseq only grows */
	app(st, &(struct ev){ .type = T(MESSAGE_EXPUNGE),
			      .path = "INBOX",
			      .uidset = "1",
			      .has = EVREC_HAS_MESSAGES,
			      .messages = 5 });
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 5);
	CHECK_EQ(mbox.unseen, 5);
	app(st, &(struct ev){ .type = T(MAILBOX_CREATE),
			      .path = "Drafts",
			      .has = EVREC_HAS_MESSAGES,
			      .messages = 3 });
	CHECK_EQ(get(st, "Drafts"), 0);
	CHECK_EQ(mbox.messages, 3);
	CHECK_EQ(mbox.unseen, 0);
	free(st);
	group("absolute counts override", before);
}

static int cmp_mb(const void *a, const void *b)
{
	return strcmp(((const struct shard_mailbox *)a)->path,
		      ((const struct shard_mailbox *)b)->path);
}

struct dump {
	struct shard_mailbox mb[MAXMB];
	unsigned n;
};

static int dump_one(const struct shard_mailbox *mb, void *arg)
{
	struct dump *d = arg;

	if (d->n < MAXMB)
		d->mb[d->n++] = *mb;
	return 0;
}

/* The account's mailboxes, sorted by path. */
static void dump(const void *st, const char *acct, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	CHECK_EQ(shard_state_foreach(st, acct, dump_one, d), 0);
	qsort(d->mb, d->n, sizeof(d->mb[0]), cmp_mb);
}

static int same_mb(const struct shard_mailbox *a, const struct shard_mailbox *b)
{
	return strcmp(a->account, b->account) == 0 && strcmp(a->path, b->path) == 0 &&
	       a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->messages == b->messages && a->unseen == b->unseen && a->modseq == b->modseq &&
	       a->events == b->events && a->last_pos == b->last_pos && a->last_type == b->last_type;
}

static int same_dump(const struct dump *a, const struct dump *b)
{
	if (a->n != b->n)
		return 0;
	for (unsigned i = 0; i < a->n; i++)
		if (!same_mb(&a->mb[i], &b->mb[i]))
			return 0;
	return 1;
}

/* "path=messages,..." of the account, for readable checks. */
static const char *paths(const void *st)
{
	static char out[2048];
	struct dump d;
	size_t n = 0;

	dump(st, ACCT, &d);
	out[0] = '\0';
	for (unsigned i = 0; i < d.n; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s=%u", i ? "," : "",
				      d.mb[i].path, d.mb[i].messages);
	return out;
}

static void new_msgs(void *st, const char *path, uint32_t n)
{
	app(st, &(struct ev){ .type = T(MAILBOX_CREATE),
			      .path = path,
			      .has = EVREC_HAS_MESSAGES,
			      .messages = n });
}

static int rename_mb(void *st, const char *from, const char *to)
{
	return app(st, &(struct ev){ .type = T(MAILBOX_RENAME), .old = from, .path = to });
}

static void test_rename(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);

	new_msgs(st, "INBOX", 1);
	new_msgs(st, "INBOX/sub", 2);
	new_msgs(st, "Work", 3);
	new_msgs(st, "Work/2026", 4);
	new_msgs(st, "Work/2026/Q1", 5);
	new_msgs(st, "Workshop", 6);
	new_msgs(st, "Archive", 7);
	CHECK_EQ(rename_mb(st, "Work", "Archive/Work"), 1);
	CHECK_STR(paths(st), "Archive=7,Archive/Work=3,Archive/Work/2026=4,"
			     "Archive/Work/2026/Q1=5,INBOX=1,INBOX/sub=2,Workshop=6");
	CHECK_EQ(shard_state_count(st), 7);
	CHECK_EQ(get(st, "Archive/Work/2026"), 0);
	CHECK_EQ(mbox.events, 2);
	CHECK_EQ(mbox.last_type, T(MAILBOX_RENAME));

	/* RFC 3501 6.3.5: INBOX's messages move, INBOX stays (empty) with its
	 * children. */
	CHECK_EQ(rename_mb(st, "INBOX", "Old"), 1);
	CHECK_STR(paths(st), "Archive=7,Archive/Work=3,Archive/Work/2026=4,"
			     "Archive/Work/2026/Q1=5,INBOX=0,INBOX/sub=2,Old=1,Workshop=6");
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.unseen, 0);
	/* onto an existing name: the renamed one wins */
	CHECK_EQ(rename_mb(st, "Old", "Workshop"), 1);
	CHECK_STR(paths(st), "Archive=7,Archive/Work=3,Archive/Work/2026=4,"
			     "Archive/Work/2026/Q1=5,INBOX=0,INBOX/sub=2,Workshop=1");
	CHECK_EQ(shard_state_count(st), 7);
	/* A child of INBOX moves like any mailbox; delete the empty INBOX. */
	CHECK_EQ(rename_mb(st, "INBOX/sub", "Workshop/sub"), 1);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_DELETE), .path = "INBOX" }), 1);
	CHECK_STR(paths(st), "Archive=7,Archive/Work=3,Archive/Work/2026=4,"
			     "Archive/Work/2026/Q1=5,Workshop=1,Workshop/sub=2");
	CHECK_EQ(shard_state_count(st), 6);
	/* into its own subtree, or onto itself: refused by IMAP, ignored */
	CHECK_EQ(rename_mb(st, "Archive", "Archive/Sub"), 1);
	CHECK_EQ(rename_mb(st, "Archive", "Archive"), 1);
	CHECK_STR(paths(st), "Archive=7,Archive/Work=3,Archive/Work/2026=4,"
			     "Archive/Work/2026/Q1=5,Workshop=1,Workshop/sub=2");
	/* up the tree, where the new names sit under the old prefix's parent */
	CHECK_EQ(rename_mb(st, "Archive/Work", "Work"), 1);
	CHECK_STR(paths(st), "Archive=7,Work=3,Work/2026=4,Work/2026/Q1=5,"
			     "Workshop=1,Workshop/sub=2");
	/* onto its own parent: "A/B/B/xN" becomes "A/B/xN", which is under
	 * the old prefix again and must not move a second time */
	for (int i = 0; i < 20; i++) {
		char p[32];

		snprintf(p, sizeof(p), "A/B/B/x%d", i);
		new_msgs(st, p, 100 + (uint32_t)i);
	}
	new_msgs(st, "A/B", 8);
	CHECK_EQ(rename_mb(st, "A/B", "A"), 1);
	CHECK_EQ(get(st, "A"), 0);
	CHECK_EQ(mbox.messages, 8);
	for (int i = 0; i < 20; i++) {
		char p[32];

		snprintf(p, sizeof(p), "A/B/x%d", i);
		CHECK_EQ(get(st, p), 0);
		CHECK_EQ(mbox.messages, 100 + i);
	}
	CHECK_EQ(get(st, "A/x0"), -ENOENT);
	CHECK_EQ(shard_state_count(st), 6 + 21);
	/* an unknown old name with no children: the new one exists now */
	CHECK_EQ(rename_mb(st, "Nowhere", "Here"), 1);
	CHECK_EQ(get(st, "Here"), 0);
	CHECK_EQ(mbox.messages, 0);
	CHECK_EQ(shard_state_count(st), 6 + 21 + 1);
	free(st);
	group("rename moves the subtree", before);
}

static void test_delete(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);

	new_msgs(st, "Work", 1);
	new_msgs(st, "Work/2026", 2);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_DELETE), .path = "Work" }), 1);
	CHECK_STR(paths(st), "Work/2026=2");
	CHECK_EQ(get(st, "Work"), -ENOENT);
	CHECK_EQ(shard_state_count(st), 1);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_DELETE), .path = "Work" }), 1);
	CHECK_EQ(shard_state_count(st), 1);
	/* recreated, it starts over */
	new_msgs(st, "Work", 9);
	CHECK_EQ(get(st, "Work"), 0);
	CHECK_EQ(mbox.messages, 9);
	CHECK_EQ(mbox.events, 1);
	/* many deletes and creates: tombstones are reused or swept */
	for (int i = 0; i < 2000; i++) {
		char p[32];

		snprintf(p, sizeof(p), "tmp%d", i);
		create(st, p);
		CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_DELETE), .path = p }), 1);
	}
	CHECK_EQ(shard_state_count(st), 2);
	CHECK_STR(paths(st), "Work=9,Work/2026=2");
	free(st);
	group("delete keeps children", before);
}

static void test_replay(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);
	const struct evrec *e;
	uint64_t pos = next_pos_g, next;

	e = mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "INBOX" });
	next = pos + span(e);
	CHECK_EQ(shard_state_apply(st, e, pos, next), 1);
	CHECK_EQ(shard_state_apply(st, e, pos, next), 0);
	CHECK_EQ(shard_state_applied_pos(st), next);
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 1);
	CHECK_EQ(mbox.events, 1);
	CHECK_EQ(shard_state_apply(st, e, next, next + span(e)), 1);
	CHECK_EQ(shard_state_apply(st, e, pos, next), 0); /* older still skipped */
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 2);
	next_pos_g = next + span(e);
	free(st);
	group("replay is idempotent", before);
}

/* A store resending events after a router crash: same store sequence, new
 * ring positions. Only the first copy counts; other stores are independent. */
static void test_store_seq(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);
	struct evrec *e;
	uint64_t pos;

	for (uint64_t seq = 1; seq <= 5; seq++) {
		e = (struct evrec *)mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "INBOX" });
		e->store_key = 0xabc;
		e->store_seq = seq;
		pos = next_pos_g;
		next_pos_g += span(e);
		CHECK_EQ(shard_state_apply(st, e, pos, next_pos_g), 1);
	}
	for (uint64_t seq = 4; seq <= 6; seq++) {
		e = (struct evrec *)mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "INBOX" });
		e->store_key = 0xabc;
		e->store_seq = seq;
		pos = next_pos_g;
		next_pos_g += span(e);
		CHECK_EQ(shard_state_apply(st, e, pos, next_pos_g), seq == 6 ? 1 : 0);
	}
	e = (struct evrec *)mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "INBOX" });
	e->store_key = 0xdef;
	e->store_seq = 2;
	pos = next_pos_g;
	next_pos_g += span(e);
	CHECK_EQ(shard_state_apply(st, e, pos, next_pos_g), 1);
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 7);
	CHECK_EQ(shard_state_store_seq(st, 0xabc), 6);
	CHECK_EQ(shard_state_store_seq(st, 0xdef), 2);
	CHECK_EQ(shard_state_store_seq(st, 0x123), 0);
	free(st);
	group("store sequence numbers drop resent events", before);
}

/* Region `st` after `setup` then event `s` at the next position, with the
 * writer killed at write `nth`, `stage`; recovered, then the event replayed
 * (as the ring would, its tail not yet released). Returns apply_crash's rc. */
static int crash_run(void *st, void (*setup)(void *), const struct ev *s, unsigned nth,
		     unsigned stage, struct dump *out)
{
	const struct evrec *e;
	uint64_t pos, next;
	int rc;

	next_pos_g = 64; /* a fresh region: same positions in every run */
	setup(st);
	e = mk(s);
	pos = next_pos_g;
	next = pos + span(e);
	rc = shard_state_apply_crash(st, e, pos, next, nth, stage);
	if (rc == -ECANCELED) {
		shard_state_recover(st);
		CHECK(shard_state_applied_pos(st) <= next);
		shard_state_apply(st, e, pos, next);
		shard_state_recover(st); /* a second recovery changes nothing */
	}
	CHECK_EQ(shard_state_applied_pos(st), next);
	CHECK_EQ(shard_state_apply(st, e, pos, next), 0);
	CHECK_EQ(shard_state_verify(st), 0);
	dump(st, ACCT, out);
	next_pos_g = next;
	return rc;
}

static void setup_counts(void *st)
{
	new_msgs(st, "INBOX", 10);
	new_msgs(st, "Work", 1);
}

static void setup_tree(void *st)
{
	setup_counts(st);
	new_msgs(st, "Work/a", 2);
	new_msgs(st, "Work/a/b", 3);
	new_msgs(st, "Work/c", 4);
	new_msgs(st, "Archive/Work/c", 40);
	new_msgs(st, "Workshop", 5);
}

/* Every event kind, killed at every record write and stage, recovers to the
 * state of an uninterrupted apply, counted once. */
static void test_redo(void)
{
	unsigned before = check_failed;
	static const struct {
		void (*setup)(void *);
		struct ev ev;
	} cases[] = {
		{ setup_counts, { .type = T(MESSAGE_NEW), .path = "INBOX" } },
		{ setup_counts, { .type = T(MESSAGE_NEW), .path = "Spam" } },
		{ setup_counts, { .type = T(MAILBOX_DELETE), .path = "Work" } },
		{ setup_tree,
		  { .type = T(MAILBOX_RENAME), .old = "Work", .path = "Archive/Work" } },
		{ setup_tree, { .type = T(MAILBOX_DELETE), .path = "Work" } },
	};
	struct dump want, got;
	unsigned writes_max = 0;

	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		void *ref = region_new(64);

		CHECK_EQ(crash_run(ref, cases[c].setup, &cases[c].ev, 0, 0, &want), 1);
		for (unsigned stage = 0; stage < 3; stage++) {
			for (unsigned nth = 1;; nth++) {
				void *st = region_new(64);
				int rc = crash_run(st, cases[c].setup, &cases[c].ev, nth, stage,
						   &got);

				CHECK(same_dump(&want, &got));
				CHECK_EQ(shard_state_count(st), shard_state_count(ref));
				free(st);
				if (rc != -ECANCELED)
					break;
				writes_max = nth > writes_max ? nth : writes_max;
			}
		}
		free(ref);
	}
	CHECK(writes_max >= 8); /* the rename did go through several writes */
	group("redo slot and re-execution recover a killed writer", before);
}

/* Killed half-way through a copy, the record stays odd: readers time out
 * instead of reading it, and recovery repairs it. */
static void test_torn_read(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);
	const struct evrec *e;
	uint64_t pos;

	new_msgs(st, "INBOX", 10);
	e = mk(&(struct ev){ .type = T(MESSAGE_NEW), .path = "INBOX" });
	pos = next_pos_g;
	next_pos_g += span(e);
	CHECK_EQ(shard_state_apply_crash(st, e, pos, next_pos_g, 1, 1), -ECANCELED);
	CHECK_EQ(get(st, "INBOX"), -EAGAIN);
	shard_state_recover(st);
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 11);
	CHECK_EQ(shard_state_applied_pos(st), next_pos_g);
	CHECK_EQ(shard_state_apply(st, e, pos, next_pos_g), 0);
	CHECK_EQ(get(st, "INBOX"), 0);
	CHECK_EQ(mbox.messages, 11);
	free(st);
	group("torn record is never read", before);
}

static void test_full(void)
{
	unsigned before = check_failed;
	void *st = region_new(16);
	uint32_t cap = shard_state_capacity(st);
	uint64_t applied;
	int rc = 1;
	char p[32];
	unsigned n;

	CHECK(cap >= 16);
	CHECK(shard_state_footprint(16) >= shard_state_footprint(1));
	for (n = 0; n < 1000 && rc == 1; n++) {
		snprintf(p, sizeof(p), "box%u", n);
		rc = app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = p });
	}
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(n - 1, cap);
	CHECK_EQ(shard_state_count(st), cap);
	applied = shard_state_applied_pos(st);
	CHECK_EQ(applied, next_pos_g); /* dropped, still past it */
	CHECK_EQ(get(st, p), -ENOENT);
	/* existing mailboxes still take events */
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = "box0" }), 1);
	CHECK_EQ(get(st, "box0"), 0);
	CHECK_EQ(mbox.messages, 2);
	/* renames still move (net zero slots) */
	CHECK_EQ(rename_mb(st, "box1", "moved"), 1);
	CHECK_EQ(get(st, "moved"), 0);
	/* a delete frees a slot for one more */
	CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_DELETE), .path = "box2" }), 1);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = "new1" }), 1);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = "new2" }), -ENOSPC);
	CHECK_EQ(shard_state_count(st), cap);
	CHECK_EQ(shard_state_verify(st), 0);
	free(st);
	group("full table refuses new mailboxes", before);
}

static int count_cb(const struct shard_mailbox *mb, void *arg)
{
	(void)mb;
	++*(int *)arg;
	return 0;
}

static int stop_cb(const struct shard_mailbox *mb, void *arg)
{
	(void)mb;
	++*(int *)arg;
	return 42;
}

static void test_foreach(void)
{
	unsigned before = check_failed;
	void *st = region_new(64);
	static const char *const accts[] = { "bob@x.com", "bob@x.com.au", "bob@x.co", "bob@x.comm",
					     "ob@x.com" };
	int n;

	for (unsigned i = 0; i < sizeof(accts) / sizeof(accts[0]); i++) {
		app(st,
		    &(struct ev){ .type = T(MAILBOX_CREATE), .acct = accts[i], .path = "INBOX" });
		app(st,
		    &(struct ev){ .type = T(MAILBOX_CREATE), .acct = accts[i], .path = "Work/x" });
	}
	n = 0;
	CHECK_EQ(shard_state_foreach(st, "bob@x.com", count_cb, &n), 0);
	CHECK_EQ(n, 2);
	n = 0;
	CHECK_EQ(shard_state_foreach(st, "bob@x.co", count_cb, &n), 0);
	CHECK_EQ(n, 2);
	n = 0;
	CHECK_EQ(shard_state_foreach(st, "bob@x", count_cb, &n), 0);
	CHECK_EQ(n, 0);
	n = 0;
	CHECK_EQ(shard_state_foreach(st, "bob@x.com", stop_cb, &n), 42);
	CHECK_EQ(n, 1);
	CHECK_STR(paths(st), "INBOX=0,Work/x=0");
	CHECK_EQ(shard_state_count(st), 10);
	free(st);
	group("foreach matches the account exactly", before);
}

struct race {
	void *st;
	int stop;
	unsigned long reads, bad;
};

/* Every write keeps messages == unseen == uidnext: a torn copy breaks it. */
static void *reader(void *arg)
{
	struct race *r = arg;
	struct shard_mailbox mb;
	uint32_t last = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		if (shard_state_get(r->st, ACCT, "INBOX/busy", &mb) != 0)
			continue;
		r->reads++;
		if (mb.messages != mb.unseen || mb.messages != mb.uidnext || mb.messages < last ||
		    strcmp(mb.path, "INBOX/busy") != 0 || strcmp(mb.account, ACCT) != 0)
			r->bad++;
		last = mb.messages;
	}
	return NULL;
}

static void test_seqlock(void)
{
	unsigned before = check_failed;
	struct race r = { .st = region_new(64) };
	pthread_t t;

	new_msgs(r.st, "INBOX/busy", 0);
	CHECK_EQ(pthread_create(&t, NULL, reader, &r), 0);
	for (uint32_t k = 1; k <= 200000; k++)
		app(r.st,
		    &(struct ev){ .type = T(MAILBOX_CREATE),
				  .path = "INBOX/busy",
				  .has = EVREC_HAS_MESSAGES | EVREC_HAS_UNSEEN | EVREC_HAS_UIDNEXT,
				  .messages = k,
				  .unseen = k,
				  .uidnext = k });
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK(r.reads > 0);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(get(r.st, "INBOX/busy"), 0);
	CHECK_EQ(mbox.messages, 200000);
	free(r.st);
	group("seqlocked reads race the writer", before);
}

/* (ACCT, path) through both lookups: the readers' and the writer's. */
static int lookup(const void *st, const char *path, uint32_t *messages)
{
	struct shard_counts c;
	int rc = get(st, path),
	    rc2 = shard_state_counts(st, ACCT, strlen(ACCT), path, strlen(path), &c);

	CHECK_EQ(rc, rc2);
	if (rc == 0) {
		CHECK(c.messages == mbox.messages && c.unseen == mbox.unseen &&
		      c.uidnext == mbox.uidnext && c.uidvalidity == mbox.uidvalidity);
		*messages = mbox.messages;
	}
	return rc;
}

/* The writer's hash-tag index against a model, in a 16-slot table where
 * most probes collide: creates up to the limit, updates, deletes (their
 * tombstones and the sweep), every lookup and the index checked each step;
 * the prefetch runs on every event too. */
static void test_index(void)
{
	unsigned before = check_failed, seed = 7, verified = 0;
	void *st = region_new(14);
	uint32_t limit = shard_state_capacity(st), model[40], used = 0, got;
	const struct evrec *e;
	char p[16];
	int rc;

	CHECK_EQ(limit, 14);
	for (unsigned k = 0; k < 40; k++)
		model[k] = UINT32_MAX; /* absent */
	for (unsigned round = 0; round < 20000; round++) {
		unsigned k = (seed = seed * 1103515245u + 12345u) >> 16 & 0x3fff;
		/* Phases that fill the table and that drain it. */
		bool del = k % 4 < (round / 2500 % 2 ? 3u : 1u);

		k %= 40;
		snprintf(p, sizeof(p), "p%u", k);
		e = mk(&(struct ev){ .type = del ? T(MAILBOX_DELETE) : T(MESSAGE_NEW), .path = p });
		shard_state_prefetch(st, shard_state_hash(e), 0);
		shard_state_prefetch(st, shard_state_hash(e), 1);
		rc = shard_state_apply_hashed(st, e, shard_state_hash(e), next_pos_g,
					      next_pos_g + span(e));
		next_pos_g += span(e);
		if (del) {
			CHECK_EQ(rc, 1);
			used -= model[k] != UINT32_MAX;
			model[k] = UINT32_MAX;
		} else if (model[k] == UINT32_MAX && used == limit) {
			CHECK_EQ(rc, -ENOSPC);
		} else {
			CHECK_EQ(rc, 1);
			used += model[k] == UINT32_MAX;
			model[k] = model[k] == UINT32_MAX ? 1 : model[k] + 1;
		}
		verified += shard_state_verify(st) == 0;
		CHECK_EQ(shard_state_count(st), used);
		for (unsigned j = round % 4; j < 40; j += 4) {
			snprintf(p, sizeof(p), "p%u", j);
			rc = lookup(st, p, &got);
			CHECK_EQ(rc, model[j] == UINT32_MAX ? -ENOENT : 0);
			CHECK(rc < 0 || got == model[j]);
		}
	}
	CHECK_EQ(verified, 20000);
	free(st);
	group("hash-tag index follows creates, deletes and a full table", before);
}

struct tagkey {
	uint64_t v; /* tag << 4 | home slot of 16 */
	uint64_t h;
	uint32_t n;
};

static int cmp_tagkey(const void *a, const void *b)
{
	const struct tagkey *x = a, *y = b;

	return x->v < y->v ? -1 : x->v > y->v;
}

/* Two mailboxes whose index tags and home slots agree (found by a birthday
 * search over the key hash, as shard_state.c forms tag and slot): each
 * lookup still finds its own record, before and after the other goes. */
static void test_tag_collision(void)
{
	enum { N = 1 << 20 };
	unsigned before = check_failed;
	struct tagkey *t = malloc(N * sizeof(*t));
	void *st = region_new(14);
	char key[64], a[16] = "", b[16] = "";
	uint32_t got;

	CHECK(t != NULL);
	if (!t)
		return;
	for (uint32_t n = 0; n < N; n++) {
		int len = snprintf(key, sizeof(key), ACCT "/c%u", n);

		t[n].h = hash64(key, (size_t)len);
		t[n].v = (uint64_t)((uint32_t)(t[n].h >> 32) | 2u) << 4 | (t[n].h & 15);
		t[n].n = n;
	}
	qsort(t, N, sizeof(*t), cmp_tagkey);
	for (uint32_t n = 1; n < N && !a[0]; n++)
		if (t[n].v == t[n - 1].v && t[n].h != t[n - 1].h) {
			snprintf(a, sizeof(a), "c%u", t[n - 1].n);
			snprintf(b, sizeof(b), "c%u", t[n].n);
		}
	free(t);
	CHECK(a[0] != '\0');
	new_msgs(st, a, 5);
	new_msgs(st, b, 7);
	CHECK_EQ(lookup(st, a, &got), 0);
	CHECK_EQ(got, 5);
	CHECK_EQ(lookup(st, b, &got), 0);
	CHECK_EQ(got, 7);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MESSAGE_NEW), .path = b }), 1);
	CHECK_EQ(app(st, &(struct ev){ .type = T(MAILBOX_DELETE), .path = a }), 1);
	CHECK_EQ(lookup(st, a, &got), -ENOENT);
	CHECK_EQ(lookup(st, b, &got), 0);
	CHECK_EQ(got, 8);
	CHECK_EQ(shard_state_verify(st), 0);
	free(st);
	group("colliding index tags compare the key", before);
}

int main(void)
{
	test_counts();
	test_stateless();
	test_absolute();
	test_rename();
	test_delete();
	test_replay();
	test_store_seq();
	test_redo();
	test_torn_read();
	test_full();
	test_foreach();
	test_seqlock();
	test_index();
	test_tag_collision();
	return check_summary();
}
