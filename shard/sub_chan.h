/* sub_chan: the client side of the request/reply rings between a client role
 * (admin API, SIP worker, XMPP worker) and the shards, for processes that
 * hold a struct pnad_rt. One process per role, so every ring keeps a single
 * producer and a single consumer. Evented callers poll rt->role_efd[role]
 * (readable: read it, then drain every shard's replies). */
#ifndef PNA_SUB_CHAN_H
#define PNA_SUB_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/sub_msg.h"
#include "pnad/pnad_rt.h"

/* The shard that owns `account` (canonical). */
uint32_t sub_chan_shard_of(const struct pnad_rt *rt, const char *account);

/* Queue `req` for `shard` and wake it. 0, or -EAGAIN when its request ring
 * is full (retry after draining replies). */
int sub_chan_send(const struct pnad_rt *rt, enum sub_role role, uint32_t shard,
		  const struct sub_req *req);

/* Copy the next reply from any shard into *out (shard in *shard). true if
 * one was taken. */
bool sub_chan_recv(const struct pnad_rt *rt, enum sub_role role, struct sub_rep *out,
		   uint32_t *shard);

/* Prepare to sleep on role_efd: sets the waiting flags on every reply (and,
 * for egress roles, job) ring and returns true if all are still empty. */
bool sub_chan_wait(const struct pnad_rt *rt, enum sub_role role);

/* Egress roles: the next job from any shard's job ring of `transport`,
 * copied into *out (out->job.kind tells which; the rest is filled only for
 * SUB_JOB_SIEVE). */
bool sub_chan_job(const struct pnad_rt *rt, unsigned transport, struct sub_job_sieve *out);

/* Egress roles (SIP, XMPP): map their job rings of every shard into this
 * process now (pnad_ring_prefault, which logs a failure). */
void sub_chan_prefault(const struct pnad_rt *rt, enum sub_role role);

/* Blocking helper for tools and tests: send req to the owner shard and call
 * fn for each reply until the last; waits at most timeout_ms. Returns the
 * last reply's status, or -ETIMEDOUT. Must not be mixed with an evented
 * loop of the same role in the same process. */
int sub_chan_call(const struct pnad_rt *rt, enum sub_role role, uint32_t shard,
		  const struct sub_req *req, void (*fn)(const struct sub_rep *r, void *arg),
		  void *arg, int timeout_ms);

#endif
