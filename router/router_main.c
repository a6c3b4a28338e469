/* router_main: the router process. One io_uring accepts mail-store
 * connections (multishot accept) and receives into provided buffers
 * (multishot recv); ingest_conn turns the bytes into routed events and says
 * what to do next, which this loop carries out after each pass: acks and
 * errors sent, recv cancelled and re-armed around backpressure, waits on the
 * shards' space eventfds, wake-ups of sleeping shards, lingering closes. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "ingest/ingest_conn.h"
#include "ingest/ingest_uring.h"
#include "lib/log.h"
#include "pnad/pnad_rt.h"
#include "proto/proto_frame.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"

#define REFUSE_SLOTS 16	  /* slots that only say "too many connections" */
#define LINGER_SEC 2	  /* read and discard after an error before closing */
#define RESUME_FRACTION 8 /* resume when this part of a full ring is free */
#define SQ_ENTRIES 1024
#define CQ_ENTRIES 16384
#define BGID 1

struct router {
	struct pnad_rt *rt;
	struct router_seg *seg;
	struct io_uring ring;
	struct ingest_uring_bufs bufs;
	struct ingest_table *t;
	int lfd;
	uint32_t max_sessions;
	uint32_t *free_slots, nfree;
	uint8_t *space_armed; /* per shard: a poll on space_efd is in flight */
	uint32_t nstarved;    /* connections whose recv wants buffers */
	uint8_t accept_active, accept_retry, lingering;
	int64_t now, last_tick; /* CLOCK_MONOTONIC seconds */
};

static int64_t mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void buf_release(void *arg, uint32_t bid)
{
	ingest_uring_buf_put(arg, bid);
}

static struct io_uring_sqe *sqe_get(struct router *r)
{
	struct io_uring_sqe *sqe = ingest_uring_sqe(&r->ring);

	if (!sqe) {
		log_error("io_uring: no submission queue entry available");
		abort();
	}
	return sqe;
}

/* --- operations --- */

static void arm_accept(struct router *r)
{
	struct io_uring_sqe *sqe = sqe_get(r);

	io_uring_prep_multishot_accept(sqe, r->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_ACCEPT, 0, 0));
	r->accept_active = 1;
}

static void arm_recv(struct router *r, struct ingest_conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(r);

	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_RECV, c->slot, c->gen));
	c->recv_active = 1;
}

static void cancel(struct router *r, struct ingest_conn *c, enum ingest_op op)
{
	struct io_uring_sqe *sqe = sqe_get(r);
	enum ingest_op mine = op == INGEST_OP_RECV ? INGEST_OP_CANCEL_RECV : INGEST_OP_CANCEL_SEND;

	io_uring_prep_cancel64(sqe, ingest_ud(op, c->slot, c->gen), 0);
	io_uring_sqe_set_data64(sqe, ingest_ud(mine, c->slot, c->gen));
	if (op == INGEST_OP_RECV)
		c->recv_cancel = 1;
	else
		c->send_cancel = 1;
}

static void send_out(struct router *r, struct ingest_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->send_active || !ingest_conn_out_pending(c))
		return;
	sqe = sqe_get(r);
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_SEND, c->slot, c->gen));
	c->send_active = 1;
	c->send_end = c->out_len;
}

static void arm_space(struct router *r, uint32_t shard)
{
	struct io_uring_sqe *sqe = sqe_get(r);

	io_uring_prep_poll_add(sqe, r->rt->shards[shard].space_efd, POLLIN);
	io_uring_sqe_set_data64(sqe, ingest_ud(INGEST_OP_SPACE, shard, 0));
	r->space_armed[shard] = 1;
}

/* --- accept --- */

/* No slot at all: say why without one, best effort, and close. */
static void refuse_now(struct router *r, int fd)
{
	uint8_t buf[256];
	char reason[96];
	int n;

	snprintf(reason, sizeof(reason), "too many connections (limit %u)", r->max_sessions);
	n = proto_frame_error(buf, sizeof(buf), PNA__ERROR_CODE__ERR_TOO_MANY_CONNECTIONS, reason);
	if (n > 0)
		(void)!send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	__atomic_store_n(&r->seg->c.refused, r->seg->c.refused + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&r->seg->c.errors[PNA__ERROR_CODE__ERR_TOO_MANY_CONNECTIONS],
			 r->seg->c.errors[PNA__ERROR_CODE__ERR_TOO_MANY_CONNECTIONS] + 1,
			 __ATOMIC_RELAXED);
}

static void conn_new(struct router *r, int fd)
{
	bool refuse = r->t->nsessions >= r->max_sessions;
	struct ingest_conn *c;
	int one = 1;

	if (!r->nfree) {
		refuse_now(r, fd);
		return;
	}
	c = &r->t->conns[r->free_slots[--r->nfree]];
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->gen = (c->gen + 1) & INGEST_GEN_MASK;
	c->recv_active = c->send_active = 0;
	c->recv_cancel = c->send_cancel = c->starved = 0;
	c->send_end = 0;
	c->linger_until = 0;
	ingest_conn_open(r->t, c, refuse);
	/* A refused connection reads too: it lingers after its error. */
	arm_recv(r, c);
	ingest_conn_dirty(r->t, c);
}

static void on_accept(struct router *r, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		r->accept_active = 0;
	if (cqe->res >= 0) {
		conn_new(r, cqe->res);
		return;
	}
	switch (cqe->res) {
	case -EMFILE:
	case -ENFILE:
	case -ENOMEM:
	case -ENOBUFS:
		/* Retried on the next tick, not in a tight loop. */
		if (!r->accept_retry)
			log_warn("accept: %s (retrying every second)", strerror(-cqe->res));
		r->accept_retry = 1;
		break;
	case -ECANCELED:
	case -EINTR:
	case -ECONNABORTED:
		break;
	default:
		log_warn("accept: %s", strerror(-cqe->res));
		break;
	}
}

/* --- completions --- */

static struct ingest_conn *conn_of(struct router *r, uint64_t ud)
{
	uint32_t slot = ingest_ud_slot(ud);
	struct ingest_conn *c;

	if (slot >= r->t->nconns)
		return NULL;
	c = &r->t->conns[slot];
	if (c->state == INGEST_FREE || c->gen != ingest_ud_gen(ud))
		return NULL;
	return c;
}

static void on_recv(struct router *r, const struct io_uring_cqe *cqe)
{
	struct ingest_conn *c = conn_of(r, cqe->user_data);
	int64_t bid = -1;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		r->bufs.avail--;
	}
	if (!c) {
		if (bid >= 0)
			ingest_uring_buf_put(&r->bufs, (uint32_t)bid);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_active = 0;
		ingest_conn_dirty(r->t, c);
	}
	if (cqe->res > 0 && bid >= 0) {
		ingest_conn_input(r->t, c, (uint32_t)bid, (uint32_t)cqe->res);
		return;
	}
	if (bid >= 0)
		ingest_uring_buf_put(&r->bufs, (uint32_t)bid);
	if (cqe->res == 0) {
		ingest_conn_eof(r->t, c);
	} else if (cqe->res == -ENOBUFS) {
		if (!c->starved)
			r->nstarved++;
		c->starved = 1;
	} else if (cqe->res != -ECANCELED) {
		log_debug("slot %u: recv: %s", c->slot, strerror(-cqe->res));
		ingest_conn_kill(r->t, c);
	}
}

static void on_send(struct router *r, const struct io_uring_cqe *cqe)
{
	struct ingest_conn *c = conn_of(r, cqe->user_data);

	if (!c)
		return;
	c->send_active = 0;
	ingest_conn_dirty(r->t, c);
	if (cqe->res <= 0) {
		if (cqe->res != -ECANCELED)
			log_debug("slot %u: send: %s", c->slot,
				  cqe->res ? strerror(-cqe->res) : "0 bytes");
		ingest_conn_kill(r->t, c);
		return;
	}
	/* A short send leaves the rest queued; the flush sends it. */
	c->out_off += (uint32_t)cqe->res;
}

static void on_space(struct router *r, uint32_t shard)
{
	uint64_t v;

	if (shard >= r->rt->nshards)
		return;
	r->space_armed[shard] = 0;
	/* Reset the counter; the descriptor is non-blocking. Whether there is
	 * enough room to resume is space_waits' decision, after the pass. */
	(void)!read(r->rt->shards[shard].space_efd, &v, sizeof(v));
}

static void on_cqe(struct router *r, const struct io_uring_cqe *cqe)
{
	struct ingest_conn *c;

	switch (ingest_ud_op(cqe->user_data)) {
	case INGEST_OP_ACCEPT:
		on_accept(r, cqe);
		break;
	case INGEST_OP_RECV:
		on_recv(r, cqe);
		break;
	case INGEST_OP_SEND:
		on_send(r, cqe);
		break;
	case INGEST_OP_CANCEL_RECV:
	case INGEST_OP_CANCEL_SEND:
		c = conn_of(r, cqe->user_data);
		if (!c)
			break;
		if (ingest_ud_op(cqe->user_data) == INGEST_OP_CANCEL_RECV)
			c->recv_cancel = 0;
		else
			c->send_cancel = 0;
		ingest_conn_dirty(r->t, c);
		break;
	case INGEST_OP_SPACE:
		on_space(r, ingest_ud_slot(cqe->user_data));
		break;
	default:
		log_warn("completion with unknown user_data %#llx",
			 (unsigned long long)cqe->user_data);
		break;
	}
}

/* --- after each pass --- */

/* Room to wait for before resuming the connections paused on shard s: an
 * eighth of the ring, not just the record that did not fit, so that a shard
 * that frees a few records at a time does not make every connection pause,
 * cancel its recv and resume again for each of them. */
static uint32_t resume_bytes(const struct ingest_table *t, uint32_t s)
{
	uint64_t eighth = t->rings[s]->size / RESUME_FRACTION;

	return eighth > t->wait_len[s] ? (uint32_t)eighth : t->wait_len[s];
}

/* Paused connections: wait for room, or resume when there is some already. */
static void space_waits(struct router *r)
{
	struct ingest_table *t = r->t;
	bool again;

	do {
		again = false;
		for (uint32_t s = 0; s < t->nshards; s++) {
			if (!t->want_space[s] || r->space_armed[s])
				continue;
			if (ring_producer_wait(t->rings[s], resume_bytes(t, s))) {
				arm_space(r, s);
			} else {
				ingest_table_resume(t, s);
				again = true;
			}
		}
	} while (again);
}

/* An eventfd write for each ring with new records whose shard sleeps. Called
 * after each receive, not only after the pass, so that a sleeping shard
 * starts on the first connection's events (on the other core) while the
 * router decodes the rest; a shard that is awake costs one flag load. */
static void wake_shards(struct router *r)
{
	struct ingest_table *t = r->t;

	for (uint32_t s = 0; s < t->nshards; s++) {
		if (!t->published[s])
			continue;
		t->published[s] = 0;
		if (ring_consumer_waiting(t->rings[s]))
			pnad_wake(r->rt->shards[s].data_efd);
	}
}

static bool recv_wanted(const struct ingest_conn *c)
{
	return !c->recv_active && !c->recv_cancel && !c->eof && !c->starved;
}

static void flush_live(struct router *r, struct ingest_conn *c)
{
	if (c->paused) {
		/* Stop reading so that TCP pushes back on the store. */
		if (c->recv_active && !c->recv_cancel)
			cancel(r, c, INGEST_OP_RECV);
	} else if (recv_wanted(c)) {
		arm_recv(r, c);
	}
	if (!c->send_active)
		ingest_conn_ack(r->t, c);
	send_out(r, c);
}

static void flush_closing(struct router *r, struct ingest_conn *c)
{
	if (ingest_conn_out_pending(c)) {
		send_out(r, c);
		return;
	}
	if (c->send_active)
		return;
	if (c->eof) {
		ingest_conn_kill(r->t, c);
		return;
	}
	/* Closing with unread input would reset the connection and could
	 * destroy the error frame in flight: shut our side, read until the
	 * store closes or LINGER_SEC passes. */
	shutdown(c->fd, SHUT_WR);
	c->state = INGEST_LINGER;
	c->linger_until = r->now + LINGER_SEC;
	r->lingering = 1;
	if (recv_wanted(c))
		arm_recv(r, c);
}

/* Close and free a slot that went DEAD once nothing is in flight on it.
 * Runs after the completions of the pass, never from a handler. */
static void reap(struct router *r, struct ingest_conn *c)
{
	if (c->recv_active && !c->recv_cancel)
		cancel(r, c, INGEST_OP_RECV);
	if (c->send_active && !c->send_cancel)
		cancel(r, c, INGEST_OP_SEND);
	if (c->recv_active || c->send_active)
		return;
	close(c->fd);
	c->fd = -1;
	if (c->starved)
		r->nstarved--;
	c->starved = 0;
	ingest_conn_release(r->t, c);
	r->free_slots[r->nfree++] = c->slot;
}

static void flush_conn(struct router *r, struct ingest_conn *c)
{
	switch (c->state) {
	case INGEST_HELLO:
	case INGEST_SESSION:
		flush_live(r, c);
		break;
	case INGEST_CLOSING:
		flush_closing(r, c);
		break;
	case INGEST_LINGER:
		if (recv_wanted(c))
			arm_recv(r, c);
		break;
	case INGEST_DEAD:
		reap(r, c);
		break;
	default:
		break;
	}
}

static void flush_dirty(struct router *r)
{
	struct ingest_conn *c;

	while ((c = ingest_table_pop_dirty(r->t)))
		flush_conn(r, c);
}

/* Connections whose recv ran out of buffers read again once some are back. */
static void unstarve(struct router *r)
{
	struct ingest_table *t = r->t;

	if (!r->nstarved || !r->bufs.avail)
		return;
	for (uint32_t i = 0; i < t->nconns && r->nstarved; i++) {
		struct ingest_conn *c = &t->conns[i];

		if (!c->starved)
			continue;
		c->starved = 0;
		r->nstarved--;
		ingest_conn_dirty(t, c);
	}
}

/* Once a second at most: end lingering closes, retry a failed accept. */
static void tick(struct router *r)
{
	struct ingest_table *t = r->t;

	r->last_tick = r->now;
	r->accept_retry = 0;
	if (!r->lingering)
		return;
	r->lingering = 0;
	for (uint32_t i = 0; i < t->nconns; i++) {
		struct ingest_conn *c = &t->conns[i];

		if (c->state != INGEST_LINGER)
			continue;
		if (r->now >= c->linger_until)
			ingest_conn_kill(t, c);
		else
			r->lingering = 1;
	}
}

static void after_pass(struct router *r)
{
	r->now = mono_sec();
	if (r->now != r->last_tick)
		tick(r);
	space_waits(r);
	wake_shards(r);
	unstarve(r);
	flush_dirty(r);
	ingest_uring_bufs_publish(&r->bufs);
	if (!r->accept_active && !r->accept_retry)
		arm_accept(r);
}

static void drain_cqes(struct router *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		on_cqe(r, cqe);
		if (ingest_ud_op(cqe->user_data) == INGEST_OP_RECV)
			wake_shards(r);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
	ingest_uring_bufs_publish(&r->bufs);
}

/* --- setup and teardown --- */

static int setup_ring(struct router *r)
{
	const struct pnad_conf *conf = r->rt->conf;
	int rc;

	rc = ingest_uring_init(&r->ring, SQ_ENTRIES, CQ_ENTRIES);
	if (rc == -EPERM || rc == -ENOSYS || rc == -EACCES) {
		log_error("io_uring is unavailable (%s): the router needs it. "
			  "Enable it with `sysctl kernel.io_uring_disabled=0`, or "
			  "run the container with a seccomp profile that allows "
			  "io_uring_setup, io_uring_enter and io_uring_register",
			  strerror(-rc));
		return EX_CONFIG;
	}
	if (rc < 0) {
		log_error("io_uring_queue_init: %s", strerror(-rc));
		return 1;
	}
	rc = ingest_uring_bufs_init(&r->ring, &r->bufs, (uint32_t)conf->recv_buffers,
				    (uint32_t)conf->recv_buffer_size, BGID);
	if (rc < 0) {
		log_error("io_uring provided buffers (%lld x %lld bytes): %s",
			  (long long)conf->recv_buffers, (long long)conf->recv_buffer_size,
			  strerror(-rc));
		io_uring_queue_exit(&r->ring);
		return rc == -EINVAL || rc == -EPERM ? EX_CONFIG : 1;
	}
	return 0;
}

static int setup_table(struct router *r)
{
	const struct pnad_conf *conf = r->rt->conf;
	struct ingest_params p;
	struct ring **rings;
	uint32_t nslots = (uint32_t)conf->max_connections + REFUSE_SLOTS;
	int rc;

	rings = calloc(r->rt->nshards, sizeof(*rings));
	r->free_slots = calloc(nslots, sizeof(*r->free_slots));
	r->space_armed = calloc(r->rt->nshards, 1);
	if (!rings || !r->free_slots || !r->space_armed)
		abort();
	for (uint32_t s = 0; s < r->rt->nshards; s++) {
		rings[s] = shard_seg_ring(&r->rt->shards[s].seg);
		pnad_ring_prefault(rings[s], "a shard's event ring");
	}
	memset(&p, 0, sizeof(p));
	p.conf = conf;
	p.seg = r->seg;
	p.rings = rings;
	p.nshards = r->rt->nshards;
	p.nconns = nslots;
	p.pool.base = r->bufs.mem;
	p.pool.size = r->bufs.size;
	p.pool.count = r->bufs.count;
	p.pool.release = buf_release;
	p.pool.arg = &r->bufs;
	rc = ingest_table_create(&p, &r->t);
	free(rings);
	if (rc < 0)
		return rc;
	for (uint32_t i = nslots; i > 0; i--)
		r->free_slots[r->nfree++] = i - 1;
	r->max_sessions = (uint32_t)conf->max_connections;
	return 0;
}

static int setup_listener(struct router *r)
{
	const char *why = "";
	char host[64];
	uint16_t port;
	int rc;

	rc = pnad_conf_listen_addr(r->rt->conf, host, sizeof(host), &port);
	if (rc < 0) {
		log_error("listen = %s: not host:port", r->rt->conf->listen);
		return rc;
	}
	rc = ingest_uring_listen(host, port, SOMAXCONN, &r->lfd, &why);
	if (rc < 0)
		log_error("listen on %s: %s: %s", r->rt->conf->listen, why, strerror(-rc));
	return rc;
}

/* A store resumes past the highest seq any shard has applied, so that one
 * the router segment lost track of (segment recreated, or the router killed
 * between a commit and its last_seq store) is never applied twice. */
static void resume_points(struct router *r)
{
	const struct pnad_conf *conf = r->rt->conf;

	for (uint32_t i = 0; i < conf->nstores && i < PNAD_MAX_STORES; i++) {
		struct router_store *st = &r->seg->stores[i];
		uint64_t max = st->last_seq, v;

		for (uint32_t s = 0; s < r->rt->nshards; s++) {
			v = shard_state_store_seq(shard_seg_state(&r->rt->shards[s].seg),
						  r->t->store_key[i]);
			if (v > max)
				max = v;
		}
		if (max > st->last_seq) {
			log_info("store '%s': a shard applied up to seq %llu, past the router's "
				 "%llu: resuming there",
				 conf->stores[i].id, (unsigned long long)max,
				 (unsigned long long)st->last_seq);
			st->last_seq = max;
		}
		st->connected = 0;
	}
}

/* Stop: tell every live store why (best effort, no waiting) and close. */
static void close_all(struct router *r)
{
	struct ingest_table *t = r->t;

	for (uint32_t i = 0; i < t->nconns; i++) {
		struct ingest_conn *c = &t->conns[i];

		if (c->state == INGEST_FREE)
			continue;
		if (c->state == INGEST_HELLO || c->state == INGEST_SESSION)
			ingest_conn_fail(t, c, PNA__ERROR_CODE__ERR_SHUTDOWN,
					 "server shutting down");
		if (!c->send_active && ingest_conn_out_pending(c))
			(void)!send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
		shutdown(c->fd, SHUT_RDWR);
		close(c->fd);
		c->fd = -1;
		ingest_conn_release(t, c);
	}
}

int router_main(struct pnad_rt *rt)
{
	struct __kernel_timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
	enum log_level level = LOG_INFO;
	struct io_uring_cqe *cqe;
	struct router r;
	int rc, status = 0;

	pnad_child_signals();
	if (rt->conf->log_level[0])
		log_level_parse(rt->conf->log_level, &level);
	log_init("router", -1, level);
	memset(&r, 0, sizeof(r));
	r.rt = rt;
	r.lfd = -1;
	r.seg = router_seg_of(&rt->router_seg);
	rc = setup_ring(&r);
	if (rc)
		return rc;
	if (setup_table(&r) < 0 || setup_listener(&r) < 0) {
		status = 1;
		goto out;
	}
	r.seg->pid = (int32_t)getpid();
	resume_points(&r);
	log_info("listening on %s for %u stores, %u shards, up to %u connections", rt->conf->listen,
		 rt->conf->nstores, rt->nshards, r.max_sessions);
	r.now = r.last_tick = mono_sec();
	arm_accept(&r);
	while (!pnad_stopping) {
		/* The timeout bounds how late a stop signal that lands just
		 * before the wait is seen, and drives the 1 s tick. */
		rc = io_uring_submit_and_wait_timeout(&r.ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN && rc != -EBUSY) {
			log_error("io_uring wait: %s", strerror(-rc));
			status = 1;
			break;
		}
		drain_cqes(&r);
		after_pass(&r);
	}
	log_info("stopping: closing %u connections", r.t->nsessions);
	close_all(&r);
out:
	if (r.lfd >= 0)
		close(r.lfd);
	/* Exiting the ring ends every operation before the memory goes. */
	io_uring_queue_exit(&r.ring);
	ingest_uring_bufs_free(NULL, &r.bufs);
	ingest_table_destroy(r.t);
	free(r.free_slots);
	free(r.space_armed);
	return status;
}
