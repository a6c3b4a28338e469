/* shard_state: the mailbox-state table in a shard's segment: open addressing
 * with linear probing over fixed-size records, a 4-byte hash tag per slot
 * beside them that the writer probes (16 slots per cache line), a seqlock
 * per record for readers in other processes, and a redo slot that makes
 * every record write survive a SIGKILL. Written by the shard process
 * (shard_main.c) only. */
#include "shard/shard_state.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <strings.h>

#include "lib/hash.h"
#include "lib/uidset.h"
#include "pna.pb-c.h"

#define STATE_MAGIC 0x53544132u /* "STA2": tags beside the records */
#define MIN_SLOTS 16u
#define MAX_SLOTS (1u << 30)
#define READ_TRIES (1u << 16)

enum { REC_EMPTY = 0, REC_USED, REC_TOMB };

/* One mailbox. Everything after `seq` is copied under the seqlock. */
struct rec {
	uint32_t seq;  /* odd while the writer copies */
	uint8_t state; /* REC_* */
	uint8_t last_type;
	uint16_t key_len;
	uint64_t hash; /* hash64(key) */
	uint64_t modseq;
	uint64_t events;
	uint64_t last_pos;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
	char key[NAMES_KEY_MAX + 1]; /* "account/path"; account has no '/' */
};

_Static_assert(sizeof(struct rec) == 312, "mailbox record grew");
_Static_assert(sizeof(struct rec) % 4 == 0, "records are copied in words");
_Static_assert(offsetof(struct rec, state) == 4, "state is word 1");
_Static_assert(offsetof(struct rec, key) % 4 == 0, "the head is whole words");

/* The tag of slot i in the writer's index: TAG_EMPTY, TAG_TOMB, or for a
 * record in use the high half of its hash with bit 1 set (never 0 or 1).
 * It mirrors recs[i].state and .hash: put() writes it after the record,
 * recovery after the redo, so a probe reads tags and touches a record only
 * when its tag matches. Readers in other processes ignore the tags. */
enum { TAG_EMPTY = 0, TAG_TOMB = 1 };

static inline uint32_t tag_of_hash(uint64_t h)
{
	return (uint32_t)(h >> 32) | 2u;
}

/* The write in flight. pos != 0 from the commit point on: a restarted writer
 * copies the first `words` words of image into recs[index] again. */
struct redo {
	uint64_t pos;	    /* event position + 1; 0 = empty */
	uint64_t next_pos;  /* applied_pos after this write; 0 mid-event */
	uint64_t store_key; /* with next_pos: the store sequence to note */
	uint64_t store_seq;
	uint32_t index;
	uint32_t count; /* the table's count after this write */
	uint32_t words; /* REC_HEAD_WORDS (key unchanged) or REC_WORDS */
	uint32_t pad;
	struct rec image;
};

/* Per mail store, the highest sequence number applied here: a store resending
 * after a router crash (its ack lost) is recognised even though the ring
 * position differs. Open addressing on hash64(store id). */
#define STORE_SLOTS 512u

struct store_seq {
	uint64_t key; /* 0 = empty */
	uint64_t seq;
};

struct region {
	uint32_t magic;
	uint32_t slots; /* a power of two */
	uint32_t limit; /* 7/8 of slots: most mailboxes in use */
	uint32_t count; /* records in use */
	uint64_t applied_pos;
	struct store_seq stores[STORE_SLOTS];
	struct redo redo;
	struct rec recs[]; /* slots of them, then uint32_t tags[slots] */
};

/* The seqlock copies records as 32-bit words with relaxed atomics, so a
 * racing reader sees stale words, never torn ones; may_alias lets those words
 * overlay the record's fields. */
typedef uint32_t __attribute__((may_alias)) rec_word;
#define REC_WORDS (sizeof(struct rec) / sizeof(rec_word))
/* The words before the key: all an update of a known mailbox changes. */
#define REC_HEAD_WORDS (offsetof(struct rec, key) / sizeof(rec_word))

static inline uint32_t *tags_of(const struct region *g)
{
	return (uint32_t *)(uintptr_t)&g->recs[g->slots];
}

static uint32_t tag_of(const struct rec *r)
{
	if (r->state == REC_USED)
		return tag_of_hash(r->hash);
	return r->state == REC_TOMB ? TAG_TOMB : TAG_EMPTY;
}

/* The writer's context for one event. */
struct wr {
	struct region *g;
	const struct evrec *e;
	uint64_t hash; /* of e's EVREC_PATH key (shard_state_hash) */
	uint64_t pos;
	uint64_t next_pos;
	unsigned nput;	    /* record writes so far */
	unsigned crash_nth; /* tests: die during this write (0 = never) */
	unsigned crash_stage;
};

enum { CRASH_COMMITTED = 0, CRASH_COPYING, CRASH_COPIED };

static uint32_t slots_for(uint32_t cap)
{
	uint64_t need = ((uint64_t)cap * 8 + 6) / 7;
	uint32_t n = MIN_SLOTS;

	while (n < need && n < MAX_SLOTS)
		n <<= 1;
	return n;
}

/* The slot of store `key`, claimed if new; NULL when the table is full. */
static struct store_seq *store_slot(struct region *g, uint64_t key)
{
	for (uint32_t n = 0, i = (uint32_t)key; n < STORE_SLOTS; n++, i++) {
		struct store_seq *s = &g->stores[i % STORE_SLOTS];

		if (s->key == key)
			return s;
		if (s->key == 0) {
			__atomic_store_n(&s->key, key, __ATOMIC_RELAXED);
			return s;
		}
	}
	return NULL;
}

/* Writer: remember that the store's event `seq` is applied. */
static void store_note(struct region *g, uint64_t key, uint64_t seq)
{
	struct store_seq *s = key ? store_slot(g, key) : NULL;

	if (s && seq > s->seq)
		__atomic_store_n(&s->seq, seq, __ATOMIC_RELEASE);
}

uint64_t shard_state_store_seq(const void *region, uint64_t key)
{
	const struct region *g = region;

	for (uint32_t n = 0, i = (uint32_t)key; key && n < STORE_SLOTS; n++, i++) {
		const struct store_seq *s = &g->stores[i % STORE_SLOTS];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_RELAXED);

		if (k == key)
			return __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (k == 0)
			break;
	}
	return 0;
}

size_t shard_state_footprint(uint32_t cap)
{
	return sizeof(struct region) + (size_t)slots_for(cap) * (sizeof(struct rec) + 4);
}

void shard_state_format(void *region, size_t bytes, uint32_t cap)
{
	struct region *g = region;

	assert(bytes >= shard_state_footprint(cap));
	memset(region, 0, bytes);
	g->slots = slots_for(cap);
	g->limit = g->slots / 8 * 7;
	g->magic = STATE_MAGIC;
}

/* Copy the first `words` words of `img` into `r` under its seqlock (the
 * rest of r stays); `die` stops half-way, as a writer killed there would
 * (tests). */
static void rec_write(struct rec *r, const struct rec *img, size_t words, bool die)
{
	rec_word *d = (rec_word *)r;
	const rec_word *s = (const rec_word *)img;
	/* (seq + 1) | 1 is odd even when a killed writer left seq odd. */
	uint32_t seq = (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) + 1) | 1;

	__atomic_store_n(&r->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t i = 1; i < (die ? words / 2 : words); i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
	if (die)
		return;
	__atomic_store_n(&r->seq, seq + 1, __ATOMIC_RELEASE);
}

/* Reader: a consistent copy of `r`, or -EAGAIN if it stays mid-write. */
static int rec_read(const struct rec *r, struct rec *out)
{
	const rec_word *s = (const rec_word *)r;
	rec_word *d = (rec_word *)out;
	uint32_t seq;

	for (unsigned tries = 0; tries < READ_TRIES; tries++) {
		seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
		if (seq & 1) {
			if (tries % 16 == 15)
				sched_yield();
			continue;
		}
		for (size_t i = 1; i < REC_WORDS; i++)
			d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) == seq) {
			out->seq = seq;
			out->key[NAMES_KEY_MAX] = '\0';
			if (out->key_len > NAMES_KEY_MAX)
				out->key_len = NAMES_KEY_MAX;
			return 0;
		}
	}
	return -EAGAIN;
}

/* Reader: the state byte alone (a hint: rec_read decides). */
static uint8_t rec_state_peek(const struct rec *r)
{
	rec_word w = __atomic_load_n(&((const rec_word *)r)[1], __ATOMIC_RELAXED);
	uint8_t b[4];

	memcpy(b, &w, sizeof(b));
	return b[0];
}

/* Writer: publish img as recs[idx] through the redo slot, with the table's
 * count after it; `words` is REC_WORDS, or REC_HEAD_WORDS when the record's
 * key stays (img's key is then not read); `final` also advances applied_pos
 * (the event is done). 0, or -ECANCELED where a test asked the writer to
 * die. */
static int put(struct wr *w, uint32_t idx, const struct rec *img, size_t words, uint32_t count,
	       bool final)
{
	struct region *g = w->g;
	struct redo *rd = &g->redo;
	bool die = ++w->nput == w->crash_nth;

	rd->index = idx;
	rd->count = count;
	rd->words = (uint32_t)words;
	rd->next_pos = final ? w->next_pos : 0;
	rd->store_key = w->e->store_key;
	rd->store_seq = w->e->store_seq;
	memcpy(&rd->image, img, words * sizeof(rec_word));
	/* The commit point: from here a restarted writer finishes the write. */
	__atomic_store_n(&rd->pos, w->pos + 1, __ATOMIC_RELEASE);
	if (die && w->crash_stage == CRASH_COMMITTED)
		return -ECANCELED;
	rec_write(&g->recs[idx], img, words, die && w->crash_stage == CRASH_COPYING);
	if (die && w->crash_stage <= CRASH_COPIED)
		return -ECANCELED;
	tags_of(g)[idx] = tag_of(img);
	__atomic_store_n(&g->count, count, __ATOMIC_RELAXED);
	if (final) {
		store_note(g, rd->store_key, rd->store_seq);
		__atomic_store_n(&g->applied_pos, w->next_pos, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&rd->pos, 0, __ATOMIC_RELEASE);
	/* The next put may overwrite the image only once pos is 0. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return 0;
}

void shard_state_recover(void *region)
{
	struct region *g = region;
	struct redo *rd = &g->redo;
	uint64_t pos = __atomic_load_n(&rd->pos, __ATOMIC_ACQUIRE);

	assert(g->magic == STATE_MAGIC);
	if (pos == 0)
		return;
	/* pos <= applied_pos: the event finished, only the clear was lost. */
	if (pos > g->applied_pos) {
		assert(rd->index < g->slots && rd->words <= REC_WORDS);
		rec_write(&g->recs[rd->index], &rd->image, rd->words, false);
		tags_of(g)[rd->index] = tag_of(&rd->image);
		__atomic_store_n(&g->count, rd->count, __ATOMIC_RELAXED);
		if (rd->next_pos) {
			store_note(g, rd->store_key, rd->store_seq);
			__atomic_store_n(&g->applied_pos, rd->next_pos, __ATOMIC_RELEASE);
		}
	}
	__atomic_store_n(&rd->pos, 0, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

uint64_t shard_state_applied_pos(const void *region)
{
	return __atomic_load_n(&((const struct region *)region)->applied_pos, __ATOMIC_ACQUIRE);
}

uint32_t shard_state_count(const void *region)
{
	return __atomic_load_n(&((const struct region *)region)->count, __ATOMIC_RELAXED);
}

uint32_t shard_state_capacity(const void *region)
{
	return ((const struct region *)region)->limit;
}

/* "account/path" into key; its length or -EINVAL when too long. */
static int make_key(char *key, const char *acct, size_t alen, const char *path, size_t plen)
{
	if (alen + 1 + plen > NAMES_KEY_MAX)
		return -EINVAL;
	memcpy(key, acct, alen);
	key[alen] = '/';
	memcpy(key + alen + 1, path, plen);
	key[alen + 1 + plen] = '\0';
	return (int)(alen + 1 + plen);
}

static int event_key(const struct evrec *e, enum evrec_str which, char *key)
{
	return make_key(key, evrec_str(e, EVREC_ACCOUNT), e->len[EVREC_ACCOUNT],
			evrec_str(e, which), e->len[which]);
}

/* Is key[0..klen) `base` or under base/ ? */
static bool key_under(const char *key, size_t klen, const char *base, size_t blen, bool or_equal)
{
	if (klen < blen || memcmp(key, base, blen) != 0)
		return false;
	return klen == blen ? or_equal : key[blen] == '/';
}

/* Writer: slot holding key, or -1 with *ins the slot a new record would take
 * (the first tombstone on the way, else the empty slot; -1 if none). Reads
 * the tags, and a record only when its tag is the key's. */
static int64_t find(const struct region *g, const char *key, size_t klen, uint64_t h, int64_t *ins)
{
	const uint32_t *tags = tags_of(g);
	uint32_t mask = g->slots - 1, i = (uint32_t)h & mask, want = tag_of_hash(h);
	int64_t tomb = -1;

	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		const struct rec *r;

		if (tags[i] == TAG_EMPTY) {
			*ins = tomb >= 0 ? tomb : i;
			return -1;
		}
		if (tags[i] == TAG_TOMB) {
			if (tomb < 0)
				tomb = i;
			continue;
		}
		r = &g->recs[i];
		if (tags[i] == want && r->hash == h && r->key_len == klen &&
		    memcmp(r->key, key, klen) == 0)
			return i;
	}
	*ins = tomb;
	return -1;
}

/* A tombstone followed by an empty slot ends no probe sequence any more: it
 * can become empty, and so can the tombstones before it. Only the state word
 * and the tag change (a tombstone is otherwise zero), and needs no redo:
 * either value of either is correct, since no probe goes past the slot (a
 * writer killed between the two leaves a slot that is empty in one and a
 * tombstone in the other, which both probes handle). */
static void sweep(struct region *g, uint32_t i)
{
	uint32_t mask = g->slots - 1, *tags = tags_of(g);

	while (tags[i] == TAG_TOMB && tags[(i + 1) & mask] == TAG_EMPTY) {
		tags[i] = TAG_EMPTY;
		__atomic_store_n(&((rec_word *)&g->recs[i])[1], 0, __ATOMIC_RELAXED);
		i = (i - 1) & mask;
	}
}

static void rec_set_key(struct rec *r, const char *key, size_t klen, uint64_t h)
{
	memset(r->key, 0, sizeof(r->key));
	memcpy(r->key, key, klen);
	r->key_len = (uint16_t)klen;
	r->hash = h;
	r->state = REC_USED;
}

static void touch(struct rec *r, const struct wr *w)
{
	r->events++;
	r->last_pos = w->pos;
	r->last_type = w->e->type;
}

/* Writer: delete recs[i]. */
static int drop(struct wr *w, uint32_t i, bool final)
{
	struct rec tomb;
	int rc;

	memset(&tomb, 0, sizeof(tomb));
	tomb.state = REC_TOMB;
	rc = put(w, i, &tomb, REC_WORDS, w->g->count - 1, final);
	if (rc == 0)
		sweep(w->g, i);
	return rc;
}

/* Does the space-separated flag list name \Seen (flags are case-insensitive,
 * RFC 3501 section 2.3.2)? */
static bool flags_have_seen(const char *f, size_t len)
{
	size_t i = 0, start;

	while (i < len) {
		while (i < len && f[i] == ' ')
			i++;
		start = i;
		while (i < len && f[i] != ' ')
			i++;
		if (i - start == 5 && strncasecmp(f + start, "\\Seen", 5) == 0)
			return true;
	}
	return false;
}

static uint32_t sub_floor(uint32_t a, int64_t b)
{
	return b >= (int64_t)a ? 0 : a - (uint32_t)b;
}

/* Counts following the event itself (RFC 5423 section 4). */
static void count_event(struct rec *r, const struct evrec *e)
{
	const char *why;
	int64_t n = uidset_count(evrec_str(e, EVREC_UIDSET), e->len[EVREC_UIDSET],
				 r->uidnext ? r->uidnext - 1 : 0, &why);
	bool seen = flags_have_seen(evrec_str(e, EVREC_FLAGS), e->len[EVREC_FLAGS]);

	if (n < 0)
		n = 0; /* no or a malformed UID set: no count change */
	switch (e->type) {
	case PNA__EVENT_TYPE__MESSAGE_NEW:
	case PNA__EVENT_TYPE__MESSAGE_APPEND:
		if (r->messages < UINT32_MAX)
			r->messages++;
		if (!seen && r->unseen < UINT32_MAX)
			r->unseen++;
		if ((e->flags & EVREC_HAS_UID) && e->uid != UINT32_MAX && e->uid + 1 > r->uidnext)
			r->uidnext = e->uid + 1;
		break;
	case PNA__EVENT_TYPE__MESSAGE_EXPUNGE:
	case PNA__EVENT_TYPE__MESSAGE_EXPIRE:
		r->messages = sub_floor(r->messages, n);
		if (r->unseen > r->messages)
			r->unseen = r->messages;
		break;
	case PNA__EVENT_TYPE__MESSAGE_READ:
		r->unseen = sub_floor(r->unseen, n);
		break;
	case PNA__EVENT_TYPE__FLAGS_SET:
		if (seen)
			r->unseen = sub_floor(r->unseen, n);
		break;
	case PNA__EVENT_TYPE__FLAGS_CLEAR:
		if (seen)
			r->unseen = (uint64_t)r->unseen + (uint64_t)n > r->messages
					    ? r->messages
					    : r->unseen + (uint32_t)n;
		break;
	default:
		break;
	}
}

/* "Absolute counts from the event win" (DESIGN.md, draft section 3.6). */
static void override(struct rec *r, const struct evrec *e)
{
	if (e->flags & EVREC_HAS_UIDVALIDITY)
		r->uidvalidity = e->uidvalidity;
	if (e->flags & EVREC_HAS_UIDNEXT)
		r->uidnext = e->uidnext;
	if (e->flags & EVREC_HAS_MESSAGES) {
		r->messages = e->messages;
		if (!(e->flags & EVREC_HAS_UNSEEN) && r->unseen > r->messages)
			r->unseen = r->messages;
	}
	if (e->flags & EVREC_HAS_UNSEEN)
		r->unseen = e->unseen;
	if (e->modseq > r->modseq)
		r->modseq = e->modseq;
}

/* Writer: an event on the one mailbox at EVREC_PATH. Any event with mailbox
 * state creates a mailbox it does not know: the store says it exists. */
static int apply_one(struct wr *w)
{
	struct region *g = w->g;
	char key[NAMES_KEY_MAX + 1];
	int klen = event_key(w->e, EVREC_PATH, key);
	uint32_t count = g->count;
	size_t words = REC_WORDS;
	int64_t ins, i;
	uint64_t h;
	struct rec img;
	int rc;

	if (klen < 0)
		return klen;
	h = w->hash;
	i = find(g, key, (size_t)klen, h, &ins);
	if (w->e->type == PNA__EVENT_TYPE__MAILBOX_DELETE) {
		/* Children stay (RFC 5423 section 4.4). */
		rc = i < 0 ? 0 : drop(w, (uint32_t)i, true);
		return rc < 0 ? rc : 1;
	}
	if (i >= 0) {
		/* Known mailbox: only the head changes, the key stays. */
		memcpy(&img, &g->recs[i], REC_HEAD_WORDS * sizeof(rec_word));
		words = REC_HEAD_WORDS;
	} else {
		if (count >= g->limit || ins < 0)
			return -ENOSPC;
		memset(&img, 0, sizeof(img));
		rec_set_key(&img, key, (size_t)klen, h);
		i = ins;
		count++;
	}
	count_event(&img, w->e);
	override(&img, w->e);
	touch(&img, w);
	rc = put(w, (uint32_t)i, &img, words, count, true);
	return rc < 0 ? rc : 1;
}

/* Writer: move recs[from] to `key` (overwriting a record there), touched by
 * this event; `self` also takes the event's fields. */
static int move(struct wr *w, uint32_t from, const char *key, size_t klen, bool self)
{
	struct region *g = w->g;
	struct rec img = g->recs[from];
	uint64_t h = hash64(key, klen);
	uint32_t count = g->count;
	int64_t ins, to = find(g, key, klen, h, &ins);
	int rc;

	if (to < 0) {
		/* A move needs one slot for a moment: allow it past the 7/8
		 * limit, keeping one slot empty so probes end. */
		if (ins < 0 || count + 2 > g->slots)
			return -ENOSPC;
		to = ins;
		count++;
	}
	rec_set_key(&img, key, klen, h);
	if (self)
		override(&img, w->e);
	touch(&img, w);
	rc = put(w, (uint32_t)to, &img, REC_WORDS, count, false);
	if (rc < 0)
		return rc;
	return drop(w, from, false);
}

/* Writer: MailboxRename, old -> new with every mailbox under old/. Several
 * records change, so instead of one redo the whole event is safe to run
 * again: each record write goes through the redo slot, a moved record
 * carries last_pos == pos and is not moved twice, and applied_pos advances
 * only at the end. */
/* Writer: RFC 3501 section 6.3.5: renaming INBOX moves its messages to a
 * new mailbox and leaves INBOX there, empty; mailboxes under INBOX stay.
 * Safe to run again: a copy already made carries last_pos == pos. */
static int rename_inbox(struct wr *w, const char *oldk, int olen, const char *newk, int nlen)
{
	struct region *g = w->g;
	uint64_t h = hash64(newk, (size_t)nlen);
	int64_t ins, i = find(g, oldk, (size_t)olen, hash64(oldk, (size_t)olen), &ins);
	int64_t j = find(g, newk, (size_t)nlen, h, &ins);
	uint32_t count = g->count;
	struct rec img;
	int rc;

	if (i < 0)
		return apply_one(w); /* INBOX unknown here: only the new one exists */
	if (j < 0 || g->recs[j].last_pos != w->pos) {
		if (j < 0) {
			if (ins < 0 || count >= g->limit)
				return -ENOSPC;
			j = ins;
			count++;
		}
		img = g->recs[i];
		rec_set_key(&img, newk, (size_t)nlen, h);
		override(&img, w->e);
		touch(&img, w);
		rc = put(w, (uint32_t)j, &img, REC_WORDS, count, false);
		if (rc < 0)
			return rc;
	}
	img = g->recs[i];
	img.messages = 0;
	img.unseen = 0;
	touch(&img, w);
	rc = put(w, (uint32_t)i, &img, REC_HEAD_WORDS, g->count, true);
	return rc < 0 ? rc : 1;
}

static int apply_rename(struct wr *w)
{
	struct region *g = w->g;
	char oldk[NAMES_KEY_MAX + 1], newk[NAMES_KEY_MAX + 1], ck[NAMES_KEY_MAX + 1];
	int olen = event_key(w->e, EVREC_OLD_PATH, oldk);
	int nlen = event_key(w->e, EVREC_PATH, newk);
	int64_t ins, i;
	int rc;

	if (olen < 0 || nlen < 0)
		return -EINVAL;
	/* IMAP refuses a rename onto itself or into its own subtree. */
	if (key_under(newk, (size_t)nlen, oldk, (size_t)olen, true))
		return 1;
	if (strcmp(evrec_str(w->e, EVREC_OLD_PATH), "INBOX") == 0)
		return rename_inbox(w, oldk, olen, newk, nlen);
	for (uint32_t k = 0; k < g->slots; k++) {
		const struct rec *r = &g->recs[k];
		size_t tail;

		if (tags_of(g)[k] <= TAG_TOMB || r->last_pos == w->pos ||
		    !key_under(r->key, r->key_len, oldk, (size_t)olen, false))
			continue;
		tail = r->key_len - (size_t)olen;
		if ((size_t)nlen + tail > NAMES_KEY_MAX) {
			rc = drop(w, k, false); /* its new name cannot exist */
		} else {
			memcpy(ck, newk, (size_t)nlen);
			memcpy(ck + nlen, r->key + olen, tail);
			rc = move(w, k, ck, (size_t)nlen + tail, false);
		}
		if (rc < 0)
			return rc;
	}
	i = find(g, oldk, (size_t)olen, hash64(oldk, (size_t)olen), &ins);
	if (i >= 0) {
		rc = move(w, (uint32_t)i, newk, (size_t)nlen, true);
		return rc < 0 ? rc : 1;
	}
	i = find(g, newk, (size_t)nlen, hash64(newk, (size_t)nlen), &ins);
	if (i >= 0 && g->recs[i].last_pos == w->pos)
		return 1; /* moved before a restart */
	return apply_one(w);
}

bool shard_state_stateless(const struct evrec *e)
{
	switch (e->type) {
	case PNA__EVENT_TYPE__MAILBOX_RENAME:
		if (e->len[EVREC_OLD_PATH] == 0)
			return true;
		/* fallthrough */
	case PNA__EVENT_TYPE__MESSAGE_NEW:
	case PNA__EVENT_TYPE__MESSAGE_APPEND:
	case PNA__EVENT_TYPE__MESSAGE_EXPIRE:
	case PNA__EVENT_TYPE__MESSAGE_EXPUNGE:
	case PNA__EVENT_TYPE__MESSAGE_READ:
	case PNA__EVENT_TYPE__MESSAGE_TRASH:
	case PNA__EVENT_TYPE__FLAGS_SET:
	case PNA__EVENT_TYPE__FLAGS_CLEAR:
	case PNA__EVENT_TYPE__MAILBOX_CREATE:
	case PNA__EVENT_TYPE__MAILBOX_DELETE:
		return e->len[EVREC_PATH] == 0;
	default:
		return true;
	}
}

static int apply(struct wr *w)
{
	struct region *g = w->g;
	const struct evrec *e = w->e;
	size_t alen = e->len[EVREC_ACCOUNT];
	int rc;

	assert(g->magic == STATE_MAGIC && w->next_pos > w->pos);
	if (w->pos < g->applied_pos)
		return 0;
	if (e->store_key && e->store_seq &&
	    e->store_seq <= shard_state_store_seq(g, e->store_key)) {
		/* The store resent an event this shard has applied. */
		__atomic_store_n(&g->applied_pos, w->next_pos, __ATOMIC_RELEASE);
		return 0;
	}
	if (alen == 0 || alen > NAMES_ACCOUNT_MAX || memchr(evrec_str(e, EVREC_ACCOUNT), '/', alen))
		rc = -EINVAL;
	else if (shard_state_stateless(e))
		rc = 1;
	else if (e->type == PNA__EVENT_TYPE__MAILBOX_RENAME)
		rc = apply_rename(w);
	else
		rc = apply_one(w);
	if (rc == -ECANCELED)
		return rc;
	store_note(g, e->store_key, e->store_seq);
	__atomic_store_n(&g->applied_pos, w->next_pos, __ATOMIC_RELEASE);
	return rc;
}

uint64_t shard_state_hash(const struct evrec *e)
{
	char key[NAMES_KEY_MAX + 1];
	int klen = event_key(e, EVREC_PATH, key);

	return klen < 0 ? 0 : hash64(key, (size_t)klen);
}

int shard_state_apply(void *region, const struct evrec *e, uint64_t pos, uint64_t next_pos)
{
	return shard_state_apply_hashed(region, e, shard_state_hash(e), pos, next_pos);
}

int shard_state_apply_hashed(void *region, const struct evrec *e, uint64_t hash, uint64_t pos,
			     uint64_t next_pos)
{
	struct wr w = { .g = region, .e = e, .hash = hash, .pos = pos, .next_pos = next_pos };

	return apply(&w);
}

int shard_state_apply_crash(void *region, const struct evrec *e, uint64_t pos, uint64_t next_pos,
			    unsigned nth, unsigned stage)
{
	struct wr w = { .g = region,
			.e = e,
			.hash = shard_state_hash(e),
			.pos = pos,
			.next_pos = next_pos,
			.crash_nth = nth,
			.crash_stage = stage };

	return apply(&w);
}

int shard_state_counts(const void *region, const char *account, size_t alen, const char *path,
		       size_t plen, struct shard_counts *out)
{
	const struct region *g = region;
	char key[NAMES_KEY_MAX + 1];
	int klen = make_key(key, account, alen, path, plen);
	const struct rec *r;
	int64_t i, ins;

	if (klen < 0)
		return -ENOENT;
	i = find(g, key, (size_t)klen, hash64(key, (size_t)klen), &ins);
	if (i < 0)
		return -ENOENT;
	r = &g->recs[i];
	out->uidvalidity = r->uidvalidity;
	out->uidnext = r->uidnext;
	out->messages = r->messages;
	out->unseen = r->unseen;
	return 0;
}

void shard_state_prefetch(const void *region, uint64_t hash, unsigned stage)
{
	const struct region *g = region;
	const uint32_t *tags = tags_of(g);
	uint32_t mask = g->slots - 1, i = (uint32_t)hash & mask, want = tag_of_hash(hash);
	const char *r;

	if (stage == 0) {
		__builtin_prefetch(&tags[i]);
		return;
	}
	/* The record of the first matching tag: its head and the first 72
	 * key bytes find compares, [r, r + 128), three lines at most (a record
	 * is not line-aligned). */
	for (uint32_t n = 0; n < 8 && tags[i] != TAG_EMPTY; n++, i = (i + 1) & mask) {
		if (tags[i] != want)
			continue;
		r = (const char *)&g->recs[i];
		__builtin_prefetch(r);
		__builtin_prefetch(r + 64);
		__builtin_prefetch(r + 127);
		return;
	}
}

int shard_state_verify(const void *region)
{
	const struct region *g = region;
	const uint32_t *tags = tags_of(g);
	uint32_t used = 0;

	for (uint32_t i = 0; i < g->slots; i++) {
		if (tags[i] != tag_of(&g->recs[i]))
			return -EBADMSG;
		used += g->recs[i].state == REC_USED;
	}
	return used == g->count ? 0 : -EBADMSG;
}

static void to_mailbox(const struct rec *r, struct shard_mailbox *mb)
{
	const char *path;
	size_t alen = names_split_key(r->key, &path);

	if (alen > NAMES_ACCOUNT_MAX)
		alen = NAMES_ACCOUNT_MAX;
	memcpy(mb->account, r->key, alen);
	mb->account[alen] = '\0';
	memcpy(mb->path, path, strlen(path) + 1);
	mb->uidvalidity = r->uidvalidity;
	mb->uidnext = r->uidnext;
	mb->messages = r->messages;
	mb->unseen = r->unseen;
	mb->modseq = r->modseq;
	mb->events = r->events;
	mb->last_pos = r->last_pos;
	mb->last_type = r->last_type;
}

int shard_state_get(const void *region, const char *account, const char *path,
		    struct shard_mailbox *out)
{
	const struct region *g = region;
	char key[NAMES_KEY_MAX + 1];
	int klen = make_key(key, account, strlen(account), path, strlen(path));
	uint32_t mask = g->slots - 1, i;
	struct rec r;
	uint64_t h;

	if (klen < 0)
		return -ENOENT;
	h = hash64(key, (size_t)klen);
	i = (uint32_t)h & mask;
	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		if (rec_read(&g->recs[i], &r) < 0)
			return -EAGAIN;
		if (r.state == REC_EMPTY)
			break;
		if (r.state == REC_USED && r.hash == h && r.key_len == klen &&
		    memcmp(r.key, key, (size_t)klen) == 0) {
			to_mailbox(&r, out);
			return 0;
		}
	}
	return -ENOENT;
}

int shard_state_foreach(const void *region, const char *account,
			int (*fn)(const struct shard_mailbox *mb, void *arg), void *arg)
{
	const struct region *g = region;
	size_t alen = strlen(account);
	struct shard_mailbox mb;
	struct rec r;
	int rc;

	for (uint32_t i = 0; i < g->slots; i++) {
		if (rec_state_peek(&g->recs[i]) != REC_USED || rec_read(&g->recs[i], &r) < 0 ||
		    r.state != REC_USED || !key_under(r.key, r.key_len, account, alen, false))
			continue;
		to_mailbox(&r, &mb);
		rc = fn(&mb, arg);
		if (rc)
			return rc;
	}
	return 0;
}
