/* sub_chan: client side of the shards' request/reply and job rings. */
#include "shard/sub_chan.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/hash.h"
#include "shard/sub_seg.h"

uint32_t sub_chan_shard_of(const struct pnad_rt *rt, const char *account)
{
	return hash_jump(hash64(account, strlen(account)), rt->nshards);
}

int sub_chan_send(const struct pnad_rt *rt, enum sub_role role, uint32_t shard,
		  const struct sub_req *req)
{
	struct ring *r = sub_seg_req(&rt->shards[shard].subs, role);
	void *p = ring_reserve(r, sizeof(*req));

	if (!p)
		return -EAGAIN;
	memcpy(p, req, sizeof(*req));
	ring_commit(r, sizeof(*req));
	if (ring_consumer_waiting(r))
		pnad_wake(rt->shards[shard].data_efd);
	return 0;
}

/* Take one record of `size` bytes from r into out. */
static bool take(struct ring *r, void *out, size_t size)
{
	uint32_t len;
	uint64_t pos;
	const void *p = ring_peek(r, &len, &pos);

	if (!p)
		return false;
	memcpy(out, p, len < size ? len : size);
	ring_release(r);
	return true;
}

bool sub_chan_recv(const struct pnad_rt *rt, enum sub_role role, struct sub_rep *out,
		   uint32_t *shard)
{
	for (uint32_t i = 0; i < rt->nshards; i++) {
		if (take(sub_seg_rep(&rt->shards[i].subs, role), out, sizeof(*out))) {
			if (shard)
				*shard = i;
			return true;
		}
	}
	return false;
}

bool sub_chan_job(const struct pnad_rt *rt, unsigned transport, struct sub_job_sieve *out)
{
	for (uint32_t i = 0; i < rt->nshards; i++)
		if (take(sub_seg_jobs(&rt->shards[i].subs, transport), out, sizeof(*out)))
			return true;
	return false;
}

bool sub_chan_wait(const struct pnad_rt *rt, enum sub_role role)
{
	bool idle = true;

	for (uint32_t i = 0; i < rt->nshards; i++) {
		const struct shm_seg *s = &rt->shards[i].subs;

		idle &= ring_consumer_wait(sub_seg_rep(s, role));
		if (role == SUB_ROLE_SIP)
			idle &= ring_consumer_wait(sub_seg_jobs(s, SUB_SIP));
		else if (role == SUB_ROLE_XMPP)
			idle &= ring_consumer_wait(sub_seg_jobs(s, SUB_XMPP));
	}
	return idle;
}

void sub_chan_prefault(const struct pnad_rt *rt, enum sub_role role)
{
	unsigned transport = role == SUB_ROLE_SIP ? SUB_SIP : SUB_XMPP;

	for (uint32_t i = 0; i < rt->nshards; i++) {
		struct ring *jobs = sub_seg_jobs(&rt->shards[i].subs, transport);

		if (pnad_ring_prefault(jobs, "a job ring") < 0)
			return; /* logged; one error is enough */
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sub_chan_call(const struct pnad_rt *rt, enum sub_role role, uint32_t shard,
		  const struct sub_req *req, void (*fn)(const struct sub_rep *r, void *arg),
		  void *arg, int timeout_ms)
{
	static struct sub_rep rep;
	int64_t end = now_ms() + timeout_ms;
	int rc;

	while ((rc = sub_chan_send(rt, role, shard, req)) == -EAGAIN) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
	for (;;) {
		struct pollfd p = { .fd = rt->role_efd[role], .events = POLLIN };
		uint64_t v;

		while (sub_chan_recv(rt, role, &rep, NULL)) {
			if (rep.req_id != req->req_id)
				continue; /* a late reply to an earlier, timed-out call */
			if (fn)
				fn(&rep, arg);
			if (!(rep.flags & SUB_REP_MORE))
				return rep.status;
		}
		if (now_ms() > end)
			return -ETIMEDOUT;
		if (sub_chan_wait(rt, role) && poll(&p, 1, 100) > 0)
			(void)!read(rt->role_efd[role], &v, sizeof(v));
	}
}
