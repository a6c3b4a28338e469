/* shard_state: per-mailbox state (existence, uidvalidity, uidnext, messages,
 * unseen) in a region of the shard's shared-memory segment. The shard process
 * is the only writer; any process that maps the segment may read, through a
 * per-record sequence lock, so a reader never sees a half-written record.
 *
 * Replays are idempotent: every event carries its ring position, the region
 * remembers the position after the last applied event, and a single-record
 * change goes through a redo slot, so a shard killed at any instruction and
 * restarted neither loses nor double-counts an event. */
#ifndef PNA_SHARD_STATE_H
#define PNA_SHARD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/evrec.h"
#include "lib/names.h"

/* A consistent copy of one mailbox's state. */
struct shard_mailbox {
	char account[NAMES_ACCOUNT_MAX + 1];
	char path[NAMES_KEY_MAX + 1];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
	uint64_t modseq;   /* highest seen */
	uint64_t events;   /* events applied to this mailbox */
	uint64_t last_pos; /* ring position of the last one */
	uint8_t last_type; /* its type (enum _Pna__EventType) */
};

/* The counts of a mailbox a notification carries. */
struct shard_counts {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
};

/* Bytes of a region holding `cap` mailboxes (the table has a power-of-two
 * number of slots, at least cap * 8/7, and refuses new mailboxes past 7/8 of
 * them, so at least `cap` mailboxes fit). */
size_t shard_state_footprint(uint32_t cap);

/* Format a region of `bytes` (>= shard_state_footprint(cap)) bytes, whatever
 * it held, for `cap` mailboxes. */
void shard_state_format(void *region, size_t bytes, uint32_t cap);

/* Writer: finish an apply interrupted by a crash (the redo slot). Call once
 * when a shard process attaches, before applying anything. */
void shard_state_recover(void *region);

/* Writer: the position after the last applied event; records at positions
 * below it have been applied already and must be skipped. */
uint64_t shard_state_applied_pos(const void *region);

/* Writer: apply event `e` found at ring position `pos` (its record spans
 * [pos, next_pos)). Returns 1 when applied, 0 when skipped because it was
 * applied before (pos < applied_pos), -ENOSPC when a needed mailbox could not
 * be created because the table is full (the event is then dropped and
 * counted by the caller), -EINVAL for an event with no account (or an
 * account/path key above NAMES_KEY_MAX). Either way the applied position
 * advances to next_pos. */
int shard_state_apply(void *region, const struct evrec *e, uint64_t pos, uint64_t next_pos);

/* The hash of the mailbox e is applied to (its account/path key), as
 * shard_state_prefetch and shard_state_apply_hashed take it; 0 when e has no
 * usable key. */
uint64_t shard_state_hash(const struct evrec *e);

/* Writer: shard_state_apply with e's key hashed already (hash =
 * shard_state_hash(e)), so that a batch hashes each event once. */
int shard_state_apply_hashed(void *region, const struct evrec *e, uint64_t hash, uint64_t pos,
			     uint64_t next_pos);

/* True for an event that carries no mailbox state (Login, Logout, Quota*,
 * MailboxSubscribe/UnSubscribe, SieveNotify, unknown types, an empty path):
 * shard_state_apply returns 1 for it and touches no record. */
bool shard_state_stateless(const struct evrec *e);

/* Tests only: shard_state_apply, but the writer "dies" during its nth record
 * write (1-based) at `stage`: 0 just after the commit point (redo slot
 * published, table untouched), 1 half-way through copying the record (its
 * seqlock left odd), 2 after the copy (applied position not advanced).
 * Returns -ECANCELED when it stopped there; shard_state_recover must then be
 * called, as after a real restart. */
int shard_state_apply_crash(void *region, const struct evrec *e, uint64_t pos, uint64_t next_pos,
			    unsigned nth, unsigned stage);

/* Tests only: 0 when every slot's hash tag agrees with its record and the
 * count with the records in use, else -EBADMSG. */
int shard_state_verify(const void *region);

/* Writer, optional: start loading what applying an event whose key hash is
 * `hash` (shard_state_hash) will read, so that a batch of events overlaps
 * its cache misses. Stage 0 loads the index line of its mailbox, stage 1
 * (once that is in cache: call stage 0 for event i + 16 and stage 1 for
 * event i + 8 before applying event i) its record. */
void shard_state_prefetch(const void *region, uint64_t hash, unsigned stage);

/* Writer (the shard process, as it matches events): the counts of
 * (account, path), names canonical, without the sequence lock or a copy:
 * a probe of the index. 0 or -ENOENT. */
int shard_state_counts(const void *region, const char *account, size_t alen, const char *path,
		       size_t plen, struct shard_counts *out);

/* Reader: copy the state of (account, path), names canonical. 0, -ENOENT, or
 * -EAGAIN when a record on the way stays mid-write (its writer died and has
 * not been restarted yet). */
int shard_state_get(const void *region, const char *account, const char *path,
		    struct shard_mailbox *out);

/* Reader: call fn for every mailbox of `account` (any order) until it returns
 * non-zero; returns that value, or 0. Scans the whole table (control plane);
 * skips a record left mid-write by a writer that died. */
int shard_state_foreach(const void *region, const char *account,
			int (*fn)(const struct shard_mailbox *mb, void *arg), void *arg);

/* Reader: the highest sequence number of store `key` (hash64 of its id)
 * applied on this shard, 0 if none. Apply skips (returns 0 for) an event of
 * that store at or below it, so a store resending after a lost ack is never
 * applied twice; the router resumes a store past the maximum over shards. */
uint64_t shard_state_store_seq(const void *region, uint64_t key);

/* Reader: mailboxes in use and how many fit (>= the cap it was formatted
 * for). */
uint32_t shard_state_count(const void *region);
uint32_t shard_state_capacity(const void *region);

#endif
