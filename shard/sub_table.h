/* sub_table: the subscription table in a shard's subscription segment
 * (/<name>.subs.<i>). Fixed-width records addressed by index, offsets never
 * pointers, a header with magic, version and generation; strings that many
 * subscriptions share (account domains, paths like "INBOX", a CNA's route set,
 * a subscriber's address) are interned with reference counts. The shard
 * process is the only writer; egress workers and the admin process read
 * records through a per-record sequence lock. Expiry and heartbeats run on a
 * timer wheel with jitter, so a million subscriptions made in one second do
 * not expire, or beat, in one second. */
#ifndef PNA_SUB_TABLE_H
#define PNA_SUB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/names.h"

#define SUB_KIND 0x53554231u /* "SUB1": the segment's shm kind */

enum sub_transport {
	SUB_SIP = 1,
	SUB_XMPP = 2,
};

enum sub_depth {
	SUB_EXACT = 0,	 /* the mailbox only */
	SUB_SUBTREE = 1, /* the mailbox and every mailbox under it */
};

#define SUB_SUBSCRIBER_MAX 255 /* bytes of the subscriber identity */
#define SUB_TARGET_MAX 1023    /* bytes of the egress address blob */

/* A subscription as callers give and get it. Strings are NUL-terminated and
 * canonical (account and path through lib/names; path "" is the account's
 * root, which with SUB_SUBTREE means every mailbox of the account). */
struct sub_spec {
	uint64_t id;	    /* 0 on add: the table assigns it */
	uint8_t transport;  /* enum sub_transport */
	uint8_t depth;	    /* enum sub_depth */
	uint32_t events;    /* bit (1u << Pna__EventType) per type; 0 = all */
	uint32_t expires;   /* absolute unix seconds */
	uint32_t heartbeat; /* seconds between state re-sends; 0 = none */
	char account[NAMES_ACCOUNT_MAX + 1];
	char path[NAMES_KEY_MAX + 1];
	/* Who subscribed, as authorized ("sip:bob@example.com", a bare JID). */
	char subscriber[SUB_SUBSCRIBER_MAX + 1];
	/* Where notifications go, opaque to the shard: for XMPP the JID to send
	 * to; for SIP the dialog ("<call-id>\n<local-tag>\n<remote-tag>\n
	 * <remote target>\n<route set>"). Interned by lines, so a CNA's route
	 * set is stored once. */
	char target[SUB_TARGET_MAX + 1];
};

/* The latest state a notification must carry: written by the shard at each
 * match (coalescing: a newer match overwrites one not yet taken by the
 * egress), read by the egress worker. */
struct sub_note {
	uint8_t kind;		      /* SUB_NOTE_* */
	uint8_t type;		      /* Pna__EventType of the last event */
	char path[NAMES_KEY_MAX + 1]; /* the mailbox it happened in */
	uint32_t uid;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
	uint32_t coalesced; /* matches folded into this one */
};

enum {
	SUB_NOTE_EVENT = 1,	/* an event matched */
	SUB_NOTE_HEARTBEAT = 2, /* nothing was sent for heartbeat seconds */
	SUB_NOTE_STATE = 3,	/* initial state after a new subscription */
};

/* A subscription's id: its record index in the low 32 bits and the record's
 * generation (never 0) in the high 32, so a stale id from a client never
 * reaches a newer subscription in the same record. */
struct sub_table;

/* Bytes of a segment region for `cap` subscriptions (strings included:
 * budget `string_bytes` for the intern pool). */
size_t sub_table_footprint(uint32_t cap, uint64_t string_bytes);
/* Format a region (stale bytes allowed) of `bytes` for cap subscriptions. */
void sub_table_format(void *region, size_t bytes, uint32_t cap, uint64_t string_bytes);
/* Bind a handle to a formatted region (writer or reader). The handle is
 * malloc'd (control plane); free with sub_table_close. NULL if the region is
 * not a valid table. Writes nothing: a reader may map the segment
 * read-only, except the egress (sub_table_note_take writes a flag). */
struct sub_table *sub_table_attach(void *region);
void sub_table_close(struct sub_table *t); /* accepts NULL */

/* Writer: roll back a change interrupted by a crash, so the table is as
 * before it (call once at attach, before anything else; then
 * sub_table_pending to re-announce notes). */
void sub_table_recover(struct sub_table *t);

/* Writer: add s (id 0) or replace the subscription with the same transport,
 * subscriber, account, path and target (a re-subscribe keeps its id).
 * Sets s->id. 0, -ENOSPC (table or string pool full: *why says which),
 * -EINVAL (*why). `now` is unix seconds, for the timer wheel. An id in s
 * (a reload from Redis) is kept when its record is free and was never given
 * a later generation; otherwise a new one is assigned. An expiry at or
 * before now expires at the next tick. */
int sub_table_add(struct sub_table *t, struct sub_spec *s, uint32_t now, const char **why);
/* Writer: new expiry. 0 or -ENOENT. (A new heartbeat or event filter is a
 * re-subscribe: sub_table_add with the same identity keeps the id.) */
int sub_table_refresh(struct sub_table *t, uint64_t id, uint32_t expires, uint32_t now);
/* Writer: remove. 0 or -ENOENT. */
int sub_table_remove(struct sub_table *t, uint64_t id);

/* Writer: subscriptions that expired by `now`: each is removed and reported
 * to fn (for the Redis delete and the egress's terminated notice). Also
 * reports due heartbeats to hb (a report counts as sent: the next beat is
 * `heartbeat` seconds later unless sub_table_sent pushes it back). Call
 * about once a second; cost is proportional to what is due. The callbacks
 * may call any sub_table function. */
void sub_table_tick(struct sub_table *t, uint32_t now,
		    void (*expired)(const struct sub_spec *s, void *arg),
		    void (*heartbeat)(uint64_t id, uint32_t index, void *arg), void *arg);

/* Writer: call fn for each subscription an event of `type` on (account, path)
 * matches: exact subscriptions on path, subtree ones on path and on every
 * ancestor up to the account root; filtered by type. fn gets the record
 * index (stable while the subscription lives) and its id; it may put notes
 * but must not add or remove subscriptions. Allocates nothing. Returns the
 * number of matches. */
unsigned sub_table_match(struct sub_table *t, const char *account, size_t alen, const char *path,
			 size_t plen, unsigned type,
			 void (*fn)(uint32_t index, uint64_t id, void *arg), void *arg);

/* Writer, optional: start loading what sub_table_match on (account, path)
 * will read, so that a batch of events overlaps its memory latency. Stage
 * 0 loads the mailbox's index entry, stage 1 (once that is in cache) the
 * first record and note it points to: call stage 0 for event i + 16 and
 * stage 1 for event i + 8 before matching event i. */
void sub_table_prefetch(struct sub_table *t, const char *account, size_t alen, const char *path,
			size_t plen, unsigned stage);

/* Writer: store `n` as the pending note of record `index` (coalescing with a
 * note the egress has not taken: n->coalesced counts the folds). Returns
 * true when the egress must be told (no note was pending), false when it
 * was folded into a pending one.
 *
 * The pending flag has two writers: note_put sets it, note_take clears it
 * (compare-and-swap) before copying, so a put racing a take either folds
 * into the note being taken (false: the taker gets it) or starts a new one
 * (true: one more job; if the taker got that note already, the job's take
 * finds nothing: -EAGAIN). A note is never lost and never stuck pending
 * without a job, provided the writer re-announces after a crash
 * (sub_table_pending). */
bool sub_table_note_put(struct sub_table *t, uint32_t index, const struct sub_note *n);
/* Egress: take the pending note of `index` if the subscription is still `id`.
 * 0, -ENOENT (gone or replaced), -EAGAIN (nothing pending, or the shard died
 * while writing it: recovery re-announces it). Also reads the spec when `s`
 * is not NULL. */
int sub_table_note_take(struct sub_table *t, uint32_t index, uint64_t id, struct sub_note *n,
			struct sub_spec *s);
/* Egress, the per-NOTIFY form: as sub_table_note_take without the spec,
 * reading nothing but the note. When the note is on the subscription's own
 * mailbox (the usual case) *own is true and n->path is "": the caller knows
 * that path (the SIP worker keeps it in its dialog record). */
int sub_table_note_take_own(struct sub_table *t, uint32_t index, uint64_t id, struct sub_note *n,
			    bool *own);
/* Egress: start loading the note of `index` (a batch of jobs overlaps its
 * cache misses). */
void sub_table_note_prefetch(const struct sub_table *t, uint32_t index);
/* Writer: the egress sent something to `index` at `now` (heartbeat clock). */
void sub_table_sent(struct sub_table *t, uint32_t index, uint32_t now);
/* Writer: call fn for every subscription with a note pending; their count.
 * After sub_table_recover the jobs queued before the crash may be lost (or
 * never queued): queue one for each of these; a spare job is harmless.
 * Scans the table (about 10 ms per million subscriptions). */
unsigned sub_table_pending(struct sub_table *t, void (*fn)(uint32_t index, uint64_t id, void *arg),
			   void *arg);

/* Writer: the transport (enum sub_transport) of subscription id at record
 * `index`, without copying its strings (the per-match path), or -ENOENT. */
int sub_table_transport(const struct sub_table *t, uint32_t index, uint64_t id);

/* Reader: the spec of id. 0 or -ENOENT (or -EAGAIN: the record stays
 * mid-change, its writer died and was not restarted yet; also below). */
int sub_table_get(struct sub_table *t, uint64_t id, struct sub_spec *out);
/* Reader: every subscription of `subscriber` (any transport), or on
 * (account, path) exactly (path NULL: every path of the account). fn may
 * stop the walk by returning non-zero, which is returned. Cost: the
 * subscriptions of that subscriber or account (indexes), not the table. */
int sub_table_list_subscriber(struct sub_table *t, const char *subscriber,
			      int (*fn)(const struct sub_spec *s, void *arg), void *arg);
int sub_table_list_mailbox(struct sub_table *t, const char *account, const char *path,
			   int (*fn)(const struct sub_spec *s, void *arg), void *arg);
/* Reader: every subscription (reload checks, dumps). */
int sub_table_foreach(struct sub_table *t, int (*fn)(const struct sub_spec *s, void *arg),
		      void *arg);

struct sub_table_stats {
	uint32_t count, capacity;
	uint64_t string_bytes_used, string_bytes_cap;
	uint64_t bytes_total; /* record + index + wheel + strings in use */
	uint64_t adds, removes, expired, refreshes;
};
void sub_table_stats(struct sub_table *t, struct sub_table_stats *out);

/* Tests and debugging, writer quiescent: verify every invariant (indexes,
 * wheel, free list, reference counts, string pool). O(capacity + pool).
 * 0, or -EUCLEAN with a reason in why. */
int sub_table_check(struct sub_table *t, char *why, size_t len);
/* Tests only: the writer "dies" by calling die(arg), which must not return
 * (longjmp, _exit), at its nth shared-memory write point from now (0: never).
 * Then attach a new handle and sub_table_recover, as after a real kill. */
void sub_table_test_crash(struct sub_table *t, unsigned nth, void (*die)(void *arg), void *arg);

#endif
