/* shard_subs: the subscription side of a shard process: it serves the
 * client roles' requests (authorize, add, refresh, remove, list; grants),
 * matches every applied event against the subscription table and hands
 * notes to the egress workers' job rings (coalescing per subscription when
 * they are behind), drives expiry and heartbeats once a second, and writes
 * every change through to Redis via the outbox and the Redis thread. A shard
 * whose subscription segment is new reloads its accounts from Redis first. */
#ifndef PNA_SHARD_SUBS_H
#define PNA_SHARD_SUBS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/evrec.h"
#include "pnad/pnad_rt.h"

struct shard_subs;

/* Attach to shard `index`'s subscription segment, reload from Redis if it is
 * new (blocking: events wait in the ring meanwhile), start the Redis thread.
 * 0 and *out, or -errno (logged). */
int shard_subs_open(struct pnad_rt *rt, uint32_t index, struct shard_subs **out);
void shard_subs_close(struct shard_subs *s); /* accepts NULL */

/* An event was applied to mailbox state: match and notify. */
void shard_subs_event(struct shard_subs *s, const struct evrec *e);

/* Start loading what shard_subs_event(e) will read (stage 0, then 1 some
 * events later; see sub_table_prefetch). */
void shard_subs_prefetch(struct shard_subs *s, const struct evrec *e, unsigned stage);

/* Serve pending requests, flush notes that waited for job-ring space, run
 * the once-a-second timers. Returns how much work it did (0: idle). */
unsigned shard_subs_poll(struct shard_subs *s, uint32_t now);

/* Set the waiting flags on the request rings: true if they are all empty
 * (the shard may sleep; a client's request writes data_efd). */
bool shard_subs_idle(struct shard_subs *s);

#endif
