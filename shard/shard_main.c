/* shard_main: the shard process. It drains the router's ring of routed
 * events into the mailbox-state table of its segment, counting what it did,
 * and sleeps on its eventfd when the ring is empty. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/evrec.h"
#include "lib/log.h"
#include "lib/ring.h"
#include "pnad/pnad_rt.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"
#include "shard/shard_subs.h"
#include "shard/sub_seg.h"

#define BATCH 256
#define PREFETCH_FAR 16 /* events ahead: the mailbox's index entries */
#define PREFETCH_NEAR 8 /* events ahead: its record, its first subscription */

struct shard {
	struct shard_seg *seg;
	struct ring *ring;
	void *state;
	int data_efd;
	int space_efd;
	struct shard_subs *subs;
	sigset_t run_mask; /* the mask before the loop blocked the stop signals */
};

static void count(uint64_t *c)
{
	/* One writer: a plain load and store, no locked add. */
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Block SIGTERM and SIGINT for the event loop; *old gets the mask that
 * sleep_on_data's ppoll restores while it sleeps. */
static void block_stop_signals(sigset_t *old)
{
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, old);
}

/* Map the event path's rings into this process before the first event:
 * its ring from the router and the job rings of the egress transports in
 * use. The control rings and the outbox (64 MiB by default, subscription
 * changes only) fault in as they are used. */
static void prefault(struct shard *sh, const struct pnad_conf *c, const struct shm_seg *subs)
{
	if (pnad_ring_prefault(sh->ring, "the event ring") < 0)
		return;
	if (pnad_conf_sip_on(c) &&
	    pnad_ring_prefault(sub_seg_jobs(subs, SUB_SIP), "the SIP job ring") < 0)
		return;
	if (pnad_conf_xmpp_on(c))
		pnad_ring_prefault(sub_seg_jobs(subs, SUB_XMPP), "the XMPP job ring");
}

/* Is the record at e (len bytes) a whole evrec? */
static bool whole(const struct evrec *e, uint32_t len)
{
	return len >= sizeof(*e) && evrec_size(e->len) <= len;
}

static void apply_one(struct shard *sh, const struct evrec *e, uint32_t len, uint64_t hash,
		      uint64_t pos, uint64_t next)
{
	struct shard_counters *c = &sh->seg->c;
	int rc;

	/* The router writes whole records; a short one means a corrupted
	 * segment, not bad input. */
	if (!whole(e, len)) {
		log_error("ring record at %llu: %u bytes, not an event", (unsigned long long)pos,
			  len);
		return;
	}
	rc = shard_state_apply_hashed(sh->state, e, hash, pos, next);
	if (rc == 0)
		count(&c->events_replayed);
	else if (rc == -ENOSPC)
		count(&c->table_full);
	else if (rc < 0)
		count(&c->events_no_state); /* -EINVAL: no usable account */
	else {
		/* Events without mailbox state (Login, Quota*, SieveNotify)
		 * still reach subscribers: account subtree subscriptions, and
		 * the Sieve path to the egress. */
		count(shard_state_stateless(e) ? &c->events_no_state : &c->events_applied);
		shard_subs_event(sh->subs, e);
	}
}

/* Apply up to BATCH records; how many. The batch is looked at first so that
 * the mailbox-state and subscription lookups of later events are prefetched
 * while earlier ones are applied (shard_state_prefetch, sub_table_prefetch:
 * a random mailbox costs two cache misses in each, which overlap this way). The records are released together at the end; a
 * crash in between replays them, and applied positions make that a no-op. */
static unsigned drain(struct shard *sh)
{
	const struct evrec *recs[BATCH];
	uint32_t lens[BATCH];
	uint64_t pos[BATCH + 1], hash[BATCH];
	unsigned n = 0;
	const void *rec = ring_peek(sh->ring, &lens[0], &pos[0]);

	if (!rec)
		return 0;
	recs[n++] = rec;
	pos[1] = ring_next_pos(sh->ring);
	while (n < BATCH && (rec = ring_peek_from(sh->ring, pos[n], &lens[n], &pos[n + 1]))) {
		recs[n] = rec;
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		hash[i] = whole(recs[i], lens[i]) ? shard_state_hash(recs[i]) : 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned far = i + PREFETCH_FAR, near = i + PREFETCH_NEAR;

		if (far < n && whole(recs[far], lens[far])) {
			shard_state_prefetch(sh->state, hash[far], 0);
			shard_subs_prefetch(sh->subs, recs[far], 0);
		}
		if (near < n && whole(recs[near], lens[near])) {
			shard_state_prefetch(sh->state, hash[near], 1);
			shard_subs_prefetch(sh->subs, recs[near], 1);
		}
		apply_one(sh, recs[i], lens[i], hash[i], pos[i], pos[i + 1]);
	}
	ring_release_to(sh->ring, pos[n]);
	if (ring_producer_waiting(sh->ring))
		pnad_wake(sh->space_efd);
	return n;
}

/* Sleep until the router writes data_efd or a stop signal arrives. The stop
 * signals stay blocked while the loop runs (shard_main; the Redis writer
 * thread blocks them too) and only ppoll unblocks them, atomically: a
 * SIGTERM cannot slip in between the pnad_stopping check and the sleep,
 * and a sleep costs two system calls. */
static void sleep_on_data(struct shard *sh)
{
	struct pollfd pfd = { .fd = sh->data_efd, .events = POLLIN };
	/* Wake at least once a second: expiry and heartbeats run on time. */
	struct timespec tick = { .tv_sec = 1 };
	uint64_t v;

	if (!pnad_stopping && ppoll(&pfd, 1, &tick, &sh->run_mask) > 0 &&
	    read(sh->data_efd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		log_error("eventfd read: %s", strerror(errno));
}

int shard_main(struct pnad_rt *rt, uint32_t index)
{
	struct pnad_shard_rt *srt = &rt->shards[index];
	struct shard sh = {
		.seg = shard_seg_of(&srt->seg),
		.ring = shard_seg_ring(&srt->seg),
		.state = shard_seg_state(&srt->seg),
		.data_efd = srt->data_efd,
		.space_efd = srt->space_efd,
	};
	enum log_level level = LOG_INFO;

	if (log_level_parse(rt->conf->log_level, &level) < 0)
		level = LOG_INFO;
	log_init("shard", (int)index, level);
	pnad_child_signals();
	__atomic_store_n(&sh.seg->pid, (int32_t)getpid(), __ATOMIC_RELAXED);
	count(&sh.seg->c.restarts);
	shard_state_recover(sh.state);
	if (shard_subs_open(rt, index, &sh.subs) < 0)
		return 1; /* logged; the supervisor restarts us */
	prefault(&sh, rt->conf, &srt->subs);
	log_info("attached: %u mailboxes, applied up to %llu", shard_state_count(sh.state),
		 (unsigned long long)shard_state_applied_pos(sh.state));

	block_stop_signals(&sh.run_mask);
	while (!pnad_stopping) {
		unsigned n = drain(&sh);

		n += shard_subs_poll(sh.subs, (uint32_t)time(NULL));
		if (n)
			continue;
		if (ring_producer_waiting(sh.ring))
			pnad_wake(sh.space_efd);
		if (ring_consumer_wait(sh.ring) && shard_subs_idle(sh.subs))
			sleep_on_data(&sh);
	}
	shard_subs_close(sh.subs);
	log_info("stopping");
	return 0;
}
