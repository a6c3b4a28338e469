/* sub_table_int: the layout of a subscription table region and the helpers
 * its source files share (sub_table.c: changes; sub_match.c: matching and
 * notes; sub_wheel.c: timers; sub_read.c: readers and the egress side;
 * sub_check.c: the consistency check). Private to those files. */
#ifndef PNA_SUB_TABLE_INT_H
#define PNA_SUB_TABLE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/hash.h"
#include "shard/sub_pool.h"
#include "shard/sub_table.h"
#include "shard/sub_undo.h"

#define SUBT_MAGIC 0x53554254u /* "SUBT" */
#define SUBT_VERSION 1u
#define SUBT_CAP_MAX 0x7ffffff0u

/* Level 0: 1 s slots for the next 8192 s; level 1: 4096 s blocks for about
 * 48 days, later times wait in the last block and are re-slotted there. A
 * block's entries move down to level 0 a few thousand per tick during the
 * block before it (level 0 spans two blocks), the rest at its start. */
#define WHEEL0 8192u
#define BLOCK_BITS 12
#define WHEEL1 1024u
#define WHEEL_PRECASCADE 2048	       /* level-1 entries moved down per tick */
#define WHEEL_REBASE_GAP (1u << 20)    /* a tick this late re-slots everything */
#define WHEEL_REBASE (WHEEL0 + WHEEL1) /* entries being re-slotted after a long gap */
#define WHEEL_SLOTS (WHEEL_REBASE + 1)
#define TW_HEAD 0x80000000u /* tw_prev of a list's first record: HEAD | slot */

#define LOCAL_INLINE 12 /* bytes of an account's local part kept in the record */

/* rec.td */
#define TD_TRANSPORT 0x03
#define TD_SUBTREE 0x04
/* rec.flags */
#define FL_LOCAL_REF 0x01 /* local[] holds a pool ref, the part is longer */
#define FL_SUB_ACCT 0x02  /* subscriber is the account */
#define FL_SUB_SIP 0x04	  /* subscriber is "sip:" + account */
#define FL_TGT_SUB 0x08	  /* target is the subscriber */
#define FL_IDENTITY (FL_SUB_ACCT | FL_SUB_SIP | FL_TGT_SUB)
#define FL_Q_SHIFT 4  /* bits 4-5: key hash & 3, its bucket's filter quarter */
#define FL_QLAST 0x40 /* no later record on the mailbox chain has its quarter */

/* A mailbox chain is sorted by quarter, so a lookup reads the records of
 * lower quarters and its own, never those after its quarter's run.
 *
 * Per mailbox bucket, one filter byte: bit q (0-3) "a subscription whose
 * key hash has quarter q is on this chain", bit 4 + q "... a subtree one".
 * Matching looks at a chain only when its bit is set, so a mailbox nobody
 * watches (and an ancestor with no subtree subscription) costs a look at a
 * byte array small enough to stay in cache, not a walk. */
static inline unsigned key_q(uint64_t key_hash)
{
	return (unsigned)(key_hash & 3);
}

/* One subscription. Links are index + 1 (0: none). Everything after seq is
 * copied by readers under the seqlock; the writer changes a record only
 * between sub_log_open and the commit. What matching reads comes first. */
struct rec {
	uint32_t seq;
	uint8_t used;
	uint8_t td;	/* transport | TD_SUBTREE */
	uint8_t flags;	/* FL_*, and the key's filter quarter */
	uint8_t jitter; /* seconds expiry comes before `expires` */
	uint32_t gen;	/* the id's high half */
	uint32_t events;
	uint32_t mb_next;	  /* chain of its (account, path) bucket */
	uint32_t domain, path;	  /* pool refs */
	char local[LOCAL_INLINE]; /* NUL-padded, or a ref (FL_LOCAL_REF) */
	uint32_t expires;
	uint32_t heartbeat;
	uint32_t last_sent;	     /* heartbeat clock: next beat at last_sent + heartbeat */
	uint32_t due;		     /* the time of its wheel slot */
	uint32_t acct_next;	     /* chain of its account bucket */
	uint32_t sub_next, sub_prev; /* chain of its subscriber bucket */
	uint32_t tw_next, tw_prev;   /* wheel slot list, or the free list */
	uint32_t subscriber, target; /* pool refs */
};

_Static_assert(sizeof(struct rec) == 84, "subscription record grew");
_Static_assert(sizeof(struct rec) <= SUB_UNDO_BLOCK_MAX, "record fits an undo block");

static inline unsigned rec_q(const struct rec *r)
{
	return (r->flags >> FL_Q_SHIFT) & 3;
}

/* The pending note of a record, beside it in a parallel array. `pend` has
 * two writers: the shard sets NOTE_P (with NOTE_W while it writes), the
 * egress clears NOTE_P with a compare-and-swap when it takes the note. Its
 * high 30 bits are the record's generation, so a stale id never takes a
 * newer subscription's note. Unchanged pend around a copy = consistent. */
#define NOTE_P 1u
#define NOTE_W 2u
#define NOTE_TAG(gen) (((gen)&0x3fffffffu) << 2)

struct note {
	uint32_t pend;
	uint32_t meta; /* kind | type << 8 | coalesced << 16 */
	uint32_t path; /* pool ref; 0: the subscription's own path */
	uint32_t uid, uidvalidity, uidnext, messages, unseen;
};

_Static_assert(sizeof(struct note) == 32, "note grew");

struct hdr {
	uint32_t magic, version;
	uint64_t generation; /* bumped by each writer attach (recover) */
	uint64_t bytes;
	uint32_t cap, nb_mb, nb_acct, nb_sub;
	uint64_t undo_off, recs_off, notes_off, mb_off, filt_off, acct_off, sub_off, wheel_off,
		pool_off;
	uint64_t string_bytes;
	/* Writer state, changed through the undo log. */
	uint32_t count;
	uint32_t hwm;	    /* slots from here up were never handed out */
	uint32_t top_index; /* above every slot ever used */
	uint32_t free_head, free_tail;
	/* Not logged: single stores, either value is consistent. */
	uint32_t wheel_time; /* last second the wheel processed (0: not started) */
	uint32_t ver;	     /* odd while a change is in flight (list walks) */
	uint32_t note_busy;  /* index + 1 of the note note_put is writing */
	uint64_t adds, removes, expired, refreshes, note_folds, note_path_lost;
};

struct sub_table {
	char *base;
	struct hdr *h;
	struct rec *recs;
	struct note *notes;
	uint32_t *mb, *filt, *acct, *sub, *wheel; /* filt: bytes, in words */
	struct sub_pool *pool;
	struct sub_log log;
};

static inline uint64_t rec_id(const struct rec *r, uint32_t index)
{
	return (uint64_t)r->gen << 32 | index;
}

static inline uint32_t hbucket(uint64_t h, uint32_t n)
{
	return (uint32_t)(((h >> 32) * n) >> 32);
}

static inline uint32_t expire_at(const struct rec *r)
{
	return r->expires - r->jitter;
}

/* Signed distance a - b between two unix times. */
static inline int32_t tdiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* Mailbox keys: (account, path) hashed with the account's hash as seed,
 * path prefixes in one pass (an ancestor is a prefix ending before '/'). */
struct pathhash {
	uint64_t st;
	uint32_t done;
};

static inline uint64_t ph_mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline void ph_init(struct pathhash *ph, uint64_t account_hash)
{
	ph->st = account_hash ^ 0x9e3779b97f4a7c15ULL;
	ph->done = 0;
}

/* The key hash of (account, path[0..end)); calls must not go backwards. */
static inline uint64_t ph_at(struct pathhash *ph, const char *path, uint32_t end)
{
	uint64_t w, tail = 0;

	while (ph->done + 8 <= end) {
		__builtin_memcpy(&w, path + ph->done, 8);
		ph->st = ph_mix(ph->st ^ w, 0xa0761d6478bd642fULL);
		ph->done += 8;
	}
	for (uint32_t i = ph->done; i < end; i++)
		tail |= (uint64_t)(unsigned char)path[i] << (8 * (i - ph->done));
	return ph_mix(ph->st ^ tail ^ ((uint64_t)end << 56), 0xe7037ed1a0b428dbULL);
}

/* Counters with one writer. */
static inline void count_up(uint64_t *c)
{
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

/* The filter byte of mailbox bucket b. */
static inline unsigned filt_get(const struct sub_table *t, uint32_t b)
{
	return (t->filt[b / 4] >> (b % 4 * 8)) & 0xff;
}

/* An account split at its last '@' (names_account: user@domain). */
struct acct {
	const char *s, *local, *domain;
	size_t len, llen, dlen;
	uint64_t hash;
};

static inline bool acct_split(const char *s, size_t len, struct acct *a)
{
	const char *at = memrchr(s, '@', len);

	if (!at)
		return false;
	a->s = s;
	a->len = len;
	a->local = s;
	a->llen = (size_t)(at - s);
	a->domain = at + 1;
	a->dlen = len - a->llen - 1;
	a->hash = hash64(s, len);
	return true;
}

static inline uint32_t local_ref(const struct rec *r)
{
	uint32_t ref;

	memcpy(&ref, r->local, sizeof(ref));
	return ref;
}

/* Writer: is r on (account, path[0..plen))? */
static inline bool key_eq(const struct sub_table *t, const struct rec *r, const struct acct *a,
			  const char *path, size_t plen)
{
	const char *s;
	size_t n;

	if (r->flags & FL_LOCAL_REF) {
		s = sub_pool_str(t->pool, local_ref(r), &n);
		if (n != a->llen || memcmp(s, a->local, n) != 0)
			return false;
	} else if (a->llen > LOCAL_INLINE || memcmp(r->local, a->local, a->llen) != 0 ||
		   (a->llen < LOCAL_INLINE && r->local[a->llen] != '\0')) {
		return false;
	}
	s = sub_pool_str(t->pool, r->domain, &n);
	if (n != a->dlen || memcmp(s, a->domain, n) != 0)
		return false;
	s = sub_pool_str(t->pool, r->path, &n);
	return n == plen && memcmp(s, path, plen) == 0;
}

/* sub_table.c */
void subt_op_begin(struct sub_table *t);
void subt_op_commit(struct sub_table *t);
void subt_open(struct sub_table *t, struct rec *r);
uint64_t subt_mid(uint64_t a, uint64_t b); /* jitter: a hash of two values */
/* Writer: the account, subscriber of a record, into buf (NUL-terminated);
 * their length. */
size_t subt_account(const struct sub_table *t, const struct rec *r, char *buf);
size_t subt_subscriber(const struct sub_table *t, const struct rec *r, char *buf);
void subt_remove(struct sub_table *t, uint32_t index);

/* The buckets of a record's (account, path), account and subscriber. */
struct buckets {
	uint32_t mb, acct, sub;
	unsigned q; /* key_q of the mailbox key */
};

void subt_buckets(const struct sub_table *t, const struct rec *r, struct buckets *b);

/* sub_wheel.c: the record is open. */
uint32_t subt_wheel_next_due(const struct rec *r);
void subt_wheel_insert(struct sub_table *t, uint32_t index, uint32_t due);
void subt_wheel_unlink(struct sub_table *t, uint32_t index);
/* Start the wheel at `now` if it has not started (the first add). */
void subt_wheel_start(struct sub_table *t, uint32_t now);

/* sub_read.c */
int subt_decode(const struct sub_table *t, const struct rec *r, uint32_t index,
		struct sub_spec *out);

#endif
