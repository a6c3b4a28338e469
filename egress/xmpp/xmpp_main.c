/* xmpp_main: the XMPP egress worker process. One XEP-0114 component
 * connection to xmpp_server (epoll, non-blocking; reconnects with jittered
 * backoff; XEP-0199 pings through the server detect a dead link), client
 * requests to the shards over the XMPP role's rings, and notifications from
 * the shards' XMPP job rings out as pubsub events and Sieve messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "egress/xmpp/xmpp_seg.h"
#include "egress/xmpp/xmpp_stanza.h"
#include "egress/xmpp/xmpp_stream.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "pnad/pnad_rt.h"
#include "shard/authz.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"
#include "shard/sub_chan.h"
#include "shard/sub_seg.h"
#include "shard/sub_table.h"

#define OUT_CAP (1u << 20)     /* output buffer */
#define OUT_LOW (OUT_CAP / 2)  /* take jobs / read only below this */
#define MAX_STANZA (64u << 10) /* bytes of one incoming stanza */
#define NPEND 256	       /* shard requests in flight */
#define PEND_TIMEOUT_MS 10000
#define OPEN_TIMEOUT_MS 10000 /* connect + stream header + handshake */
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000
#define NENDED 4096 /* subscriptions remembered for their end notice */

enum conn_state { C_IDLE, C_CONNECTING, C_OPENING, C_READY };

/* What the notice of an ended subscription needs, since SUB_JOB_ENDED
 * carries only the id: learned from our subscribe replies and from every
 * note delivered. Direct-mapped by (shard, id); a collision forgets the
 * older subscription (counted, its end then goes unannounced). */
struct ended_slot {
	uint64_t id; /* 0: empty */
	uint32_t shard;
	char jid[SUB_SUBSCRIBER_MAX + 1];
	char node[NAMES_KEY_MAX + 32];
};

struct pend_slot {
	uint32_t gen;
	bool used;
	uint64_t since_ms;
	struct xmpp_pend p;
	size_t dlen; /* a STATE notification held until the IQ result is out */
	char defer[4096];
};

struct xmpp {
	struct pnad_rt *rt;
	const struct pnad_conf *conf;
	struct sub_table **tables; /* read handles, one per shard (NULL if absent) */
	struct xmpp_env env;
	struct xmpp_stream *stream;
	struct xmpp_out ob;
	size_t ooff; /* bytes of ob already written */
	int ep, fd;
	uint32_t armed; /* the events fd is registered for: epoll_ctl only on a change */
	bool took_last; /* the last pass took jobs: they are coming in a stream */
	enum conn_state state;
	uint64_t state_ms, retry_ms, last_rx_ms, ping_ms;
	unsigned attempts;
	uint64_t seq;
	struct pend_slot pend[NPEND];
	struct ended_slot *ended; /* NENDED */
	struct shm_seg seg_map;	  /* our counters (xmpp_seg) */
	struct xmpp_counters *c;
	struct xmpp_result res;
	bool want_close;
	char host[64], port[16];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- env callbacks ---- */

static uint32_t env_shard_of(void *arg, const char *account)
{
	struct xmpp *x = arg;

	return sub_chan_shard_of(x->rt, account);
}

static bool env_owner(void *arg, const char *bare, const char *account)
{
	struct xmpp *x = arg;
	char id[SUB_SUBSCRIBER_MAX + 1];
	const char *why;

	return authz_identity(x->conf, bare, id, sizeof(id), &why) >= 0 && strcmp(id, account) == 0;
}

struct subs_walk {
	const char *account;
	uint32_t shard;
	int (*fn)(const struct sub_spec *s, uint32_t shard, void *a);
	void *a;
};

static int subs_one(const struct sub_spec *s, void *arg)
{
	struct subs_walk *w = arg;

	if (s->transport != SUB_XMPP || (w->account && strcmp(s->account, w->account) != 0))
		return 0;
	return w->fn(s, w->shard, w->a);
}

static int env_subs(void *arg, const char *subscriber, const char *account,
		    int (*fn)(const struct sub_spec *s, uint32_t shard, void *a), void *a)
{
	struct xmpp *x = arg;
	struct subs_walk w = { account, 0, fn, a };
	uint32_t first = 0, end = x->rt->nshards;
	int rc = 0;

	if (account) {
		first = sub_chan_shard_of(x->rt, account);
		end = first + 1;
	}
	for (w.shard = first; w.shard < end && !rc; w.shard++)
		if (x->tables[w.shard])
			rc = sub_table_list_subscriber(x->tables[w.shard], subscriber, subs_one,
						       &w);
	return rc;
}

struct mb_walk {
	int (*fn)(const char *path, void *a);
	void *a;
};

static int mb_one(const struct shard_mailbox *mb, void *arg)
{
	struct mb_walk *w = arg;

	return w->fn(mb->path, w->a);
}

static int env_mailboxes(void *arg, const char *account, int (*fn)(const char *path, void *a),
			 void *a)
{
	struct xmpp *x = arg;
	struct mb_walk w = { fn, a };
	uint32_t i = sub_chan_shard_of(x->rt, account);

	return shard_state_foreach(shard_seg_state(&x->rt->shards[i].seg), account, mb_one, &w);
}

/* ---- output ---- */

static void out_raw(struct xmpp *x, const char *s)
{
	xmpp_out_printf(&x->ob, "%s", s);
	if (x->ob.overflow) {
		x->ob.overflow = false;
		x->c->out_full++;
	}
}

static int flush(struct xmpp *x)
{
	while (x->ooff < x->ob.len) {
		ssize_t n = send(x->fd, x->ob.buf + x->ooff, x->ob.len - x->ooff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -errno;
		x->ooff += (size_t)n;
		x->c->bytes_out += (uint64_t)n;
	}
	if (x->ooff == x->ob.len) {
		x->ooff = x->ob.len = 0;
	} else if (x->ooff > OUT_CAP / 4) {
		memmove(x->ob.buf, x->ob.buf + x->ooff, x->ob.len - x->ooff);
		x->ob.len -= x->ooff;
		x->ooff = 0;
	}
	return 0;
}

/* ---- connection ---- */

static void log_counters(const struct xmpp *x)
{
	log_info("xmpp counters: connects=%llu disconnects=%llu malformed=%llu stanzas_in=%llu "
		 "requests=%llu notes=%llu sieve=%llu bounces=%llu ended=%llu "
		 "ended_unknown=%llu dropped=%llu out_full=%llu",
		 (unsigned long long)x->c->connects, (unsigned long long)x->c->disconnects,
		 (unsigned long long)x->c->malformed, (unsigned long long)x->c->stanzas_in,
		 (unsigned long long)x->c->requests, (unsigned long long)x->c->notes,
		 (unsigned long long)x->c->sieve, (unsigned long long)x->c->bounces,
		 (unsigned long long)x->c->ended, (unsigned long long)x->c->ended_unknown,
		 (unsigned long long)x->c->jobs_dropped, (unsigned long long)x->c->out_full);
}

static void schedule_retry(struct xmpp *x, uint64_t now)
{
	uint64_t base = BACKOFF_MIN_MS << (x->attempts < 8 ? x->attempts : 8);

	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	/* Jitter: many workers cut off together do not come back together. */
	x->retry_ms = now + base / 2 + (uint64_t)random() % (base / 2 + 1);
	x->attempts++;
}

static void disconnect(struct xmpp *x, const char *why)
{
	uint64_t now = now_ms();

	if (x->fd >= 0) {
		log_warn("xmpp link to %s:%s down: %s", x->host, x->port, why);
		epoll_ctl(x->ep, EPOLL_CTL_DEL, x->fd, NULL);
		close(x->fd);
		x->fd = -1;
		x->c->disconnects++;
		log_counters(x);
	}
	x->c->link_up = 0;
	x->state = C_IDLE;
	x->ob.len = x->ooff = 0;
	x->want_close = false;
	for (unsigned i = 0; i < NPEND; i++)
		if (x->pend[i].used) {
			x->pend[i].used = false;
			x->pend[i].gen++;
		}
	if (xmpp_stream_reset(x->stream) < 0)
		abort();
	schedule_retry(x, now);
}

static void start_connect(struct xmpp *x)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = 1 };
	int rc, one = 1;

	rc = getaddrinfo(x->host, x->port, &hints, &ai);
	if (rc != 0) {
		log_warn("xmpp_server %s:%s: %s", x->host, x->port, gai_strerror(rc));
		schedule_retry(x, now_ms());
		return;
	}
	x->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		freeaddrinfo(ai);
		schedule_retry(x, now_ms());
		return;
	}
	setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(x->fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	x->state = C_CONNECTING;
	x->state_ms = now_ms();
	x->armed = ev.events;
	epoll_ctl(x->ep, EPOLL_CTL_ADD, x->fd, &ev);
	if (rc < 0 && errno != EINPROGRESS)
		disconnect(x, strerror(errno));
}

static void open_stream(struct xmpp *x)
{
	out_raw(x, "<?xml version='1.0'?><stream:stream xmlns='" XMPP_NS_CLIENT
		   "' xmlns:stream='" XMPP_NS_STREAMS "' to='");
	xmpp_out_esc(&x->ob, x->conf->xmpp_component);
	out_raw(x, "'>");
	x->state = C_OPENING;
}

static void on_header(void *arg, const char *id)
{
	struct xmpp *x = arg;
	char hex[41];

	if (x->state != C_OPENING)
		return;
	xmpp_stream_handshake(id, x->conf->xmpp_secret, hex);
	out_raw(x, "<handshake>");
	out_raw(x, hex);
	out_raw(x, "</handshake>");
}

/* ---- ended subscriptions ---- */

static struct ended_slot *ended_slot(struct xmpp *x, uint32_t shard, uint64_t id)
{
	uint64_t key[2] = { id, shard };

	return &x->ended[hash64(key, sizeof(key)) % NENDED];
}

static void ended_remember(struct xmpp *x, uint32_t shard, const struct sub_spec *s)
{
	struct ended_slot *e = ended_slot(x, shard, s->id);

	if (!s->id || s->transport != SUB_XMPP || (e->id == s->id && e->shard == shard))
		return;
	if (e->id)
		x->c->ended_evicted++;
	e->id = 0;
	if (strlen(s->target) >= sizeof(e->jid) ||
	    xmpp_node_format(s->account, s->path, e->node, sizeof(e->node)) < 0)
		return;
	memcpy(e->jid, s->target, strlen(s->target) + 1);
	e->shard = shard;
	e->id = s->id;
}

static void ended_forget(struct xmpp *x, uint32_t shard, uint64_t id)
{
	struct ended_slot *e = ended_slot(x, shard, id);

	if (e->id == id && e->shard == shard)
		e->id = 0;
}

/* XEP-0060 8.8.4: tell the subscriber its subscription is gone (the
 * mailbox was deleted or renamed, it expired, or an admin removed it). */
static void ended_notify(struct xmpp *x, uint32_t shard, uint64_t id)
{
	struct ended_slot *e = ended_slot(x, shard, id);

	x->c->ended++;
	if (e->id != id || e->shard != shard) {
		x->c->ended_unknown++;
		return;
	}
	if (xmpp_ended_render(&x->env, e->jid, e->node, shard, id, ++x->seq, &x->ob) < 0)
		x->c->out_full++;
	e->id = 0;
}

/* ---- requests ---- */

static struct pend_slot *pend_get(struct xmpp *x, uint64_t req_id)
{
	uint32_t slot = (uint32_t)req_id;
	struct pend_slot *p;

	if (slot >= NPEND)
		return NULL;
	p = &x->pend[slot];
	return p->used && p->gen == (uint32_t)(req_id >> 32) ? p : NULL;
}

static void send_request(struct xmpp *x, struct xmpp_result *r)
{
	struct pend_slot *p = NULL;
	struct sub_rep fake;
	unsigned i;

	for (i = 0; i < NPEND && !p; i++)
		if (!x->pend[i].used)
			p = &x->pend[i];
	memset(&fake, 0, sizeof(fake));
	fake.status = -EAGAIN;
	snprintf(fake.reason, sizeof(fake.reason), "too many requests in flight; retry");
	if (!p) {
		xmpp_stanza_reply(&x->env, &r->pend, &fake, 0, &x->ob);
		x->c->subscribes_refused += r->pend.op == XMPP_PEND_SUBSCRIBE;
		return;
	}
	p->gen++;
	r->req.req_id = (uint64_t)p->gen << 32 | (uint64_t)(p - x->pend);
	if (r->shard >= x->rt->nshards ||
	    sub_chan_send(x->rt, SUB_ROLE_XMPP, r->shard, &r->req) < 0) {
		snprintf(fake.reason, sizeof(fake.reason), "the shard's queue is full; retry");
		xmpp_stanza_reply(&x->env, &r->pend, &fake, 0, &x->ob);
		x->c->subscribes_refused += r->pend.op == XMPP_PEND_SUBSCRIBE;
		return;
	}
	/* Asked for by the subscriber: no notice when the job says it ended. */
	if (r->pend.op == XMPP_PEND_UNSUBSCRIBE)
		ended_forget(x, r->shard, r->req.spec.id);
	p->used = true;
	p->p = r->pend;
	p->dlen = 0;
	p->since_ms = now_ms();
	x->c->requests++;
}

static void on_ready_stanza(struct xmpp *x, const struct xmpp_el *st)
{
	struct xmpp_result *r = &x->res;

	x->c->stanzas_in++;
	x->env.now = (uint32_t)time(NULL);
	xmpp_stanza_handle(&x->env, st, &x->ob, r);
	switch (r->kind) {
	case XMPP_RES_REQUEST:
		send_request(x, r);
		break;
	case XMPP_RES_BOUNCE:
		x->c->bounces++;
		r->req.now = x->env.now;
		ended_forget(x, r->shard, r->req.spec.id);
		if (r->shard < x->rt->nshards)
			sub_chan_send(x->rt, SUB_ROLE_XMPP, r->shard, &r->req);
		break;
	case XMPP_RES_PONG:
		x->c->pongs++;
		break;
	case XMPP_RES_NONE:
		x->c->ignored++;
		if (r->why)
			log_debug("xmpp stanza <%s> ignored: %s", st->name, r->why);
		break;
	default:
		break;
	}
}

static void on_stanza(void *arg, const struct xmpp_el *st)
{
	struct xmpp *x = arg;

	if (x->want_close)
		return;
	if (strcmp(st->ns, XMPP_NS_STREAMS) == 0 && strcmp(st->name, "error") == 0) {
		const struct xmpp_el *c = st->child;

		x->c->stream_errors++;
		log_warn("xmpp stream error from the server: %s", c ? c->name : "?");
		x->want_close = true;
		return;
	}
	if (x->state == C_OPENING) {
		if (strcmp(st->name, "handshake") == 0) {
			x->state = C_READY;
			x->attempts = 0;
			x->c->connects++;
			x->c->link_up = 1;
			log_info("xmpp component %s attached to %s:%s", x->conf->xmpp_component,
				 x->host, x->port);
		} else {
			x->want_close = true;
		}
		return;
	}
	on_ready_stanza(x, st);
}

/* ---- shard replies and jobs ---- */

static void drain_replies(struct xmpp *x)
{
	static struct sub_rep rep;
	uint32_t shard;

	while (sub_chan_recv(x->rt, SUB_ROLE_XMPP, &rep, &shard)) {
		struct pend_slot *p = pend_get(x, rep.req_id);

		if (!p)
			continue;
		x->c->replies++;
		if (p->p.op == XMPP_PEND_SUBSCRIBE && rep.status == 0)
			x->c->subscribes_ok++;
		else if (p->p.op == XMPP_PEND_SUBSCRIBE)
			x->c->subscribes_refused++;
		xmpp_stanza_reply(&x->env, &p->p, &rep, shard, &x->ob);
		if (p->p.op != XMPP_PEND_UNSUBSCRIBE && rep.status == 0)
			ended_remember(x, shard, &rep.spec);
		if (p->dlen && rep.status == 0) {
			xmpp_out_printf(&x->ob, "%.*s", (int)p->dlen, p->defer);
			x->ob.overflow = false;
		}
		p->used = false;
	}
}

/* A STATE note right after a subscribe goes out after the IQ result
 * (XEP-0060 6.5.7: the last item follows the result). */
static bool defer_state(struct xmpp *x, const struct sub_spec *s, uint32_t shard,
			const struct sub_note *n)
{
	char node[NAMES_KEY_MAX + 32];
	struct xmpp_out o;

	if (xmpp_node_format(s->account, s->path, node, sizeof(node)) < 0)
		return false;
	for (unsigned i = 0; i < NPEND; i++) {
		struct pend_slot *p = &x->pend[i];

		if (!p->used || p->dlen || strcmp(p->p.node, node) != 0 ||
		    strcmp(p->p.jid, s->target) != 0)
			continue;
		o = (struct xmpp_out){ p->defer, sizeof(p->defer), 0, false };
		if (xmpp_note_render(&x->env, s, shard, n, ++x->seq, &o) < 0)
			return false;
		p->dlen = o.len;
		return true;
	}
	return false;
}

static void do_job(struct xmpp *x, const struct sub_job_sieve *j)
{
	static struct sub_spec spec;
	struct sub_note n;
	struct sub_table *t;

	if (j->job.kind == SUB_JOB_SIEVE) {
		if (xmpp_sieve_render(&x->env, j->target, j->text, ++x->seq, &x->ob) == 0)
			x->c->sieve++;
		else
			x->c->sieve_bad++;
		return;
	}
	if (j->job.kind == SUB_JOB_ENDED) {
		ended_notify(x, j->job.shard, j->job.id);
		return;
	}
	t = j->job.shard < x->rt->nshards ? x->tables[j->job.shard] : NULL;
	if (!t || sub_table_note_take(t, j->job.index, j->job.id, &n, &spec) < 0) {
		x->c->jobs_dropped++;
		return;
	}
	ended_remember(x, j->job.shard, &spec);
	if (n.kind == SUB_NOTE_STATE && defer_state(x, &spec, j->job.shard, &n)) {
		x->c->states++;
		return;
	}
	if (xmpp_note_render(&x->env, &spec, j->job.shard, &n, ++x->seq, &x->ob) < 0)
		x->c->out_full++;
	else
		x->c->notes++;
}

/* The jobs the shards have queued, while the output buffer has room; how
 * many were taken, and in *full whether the buffer stopped it (jobs left). */
static unsigned drain_jobs(struct xmpp *x, bool *full)
{
	static struct sub_job_sieve job;
	unsigned n = 0;

	x->env.now = (uint32_t)time(NULL);
	while (!(*full = x->ob.len >= OUT_LOW) && sub_chan_job(x->rt, SUB_XMPP, &job)) {
		do_job(x, &job);
		n++;
	}
	return n;
}

/* ---- timers ---- */

static void tick(struct xmpp *x, uint64_t now)
{
	if (x->state == C_IDLE && now >= x->retry_ms) {
		start_connect(x);
		return;
	}
	if ((x->state == C_CONNECTING || x->state == C_OPENING) &&
	    now - x->state_ms > OPEN_TIMEOUT_MS) {
		disconnect(x, "no handshake in time");
		return;
	}
	if (x->state != C_READY)
		return;
	if (x->ping_ms && now - x->ping_ms > (uint64_t)x->conf->xmpp_ping_timeout * 1000) {
		x->c->ping_timeouts++;
		disconnect(x, "no answer to a ping");
		return;
	}
	if (!x->ping_ms && now - x->last_rx_ms > (uint64_t)x->conf->xmpp_ping_idle * 1000) {
		if (xmpp_ping_render(&x->env, ++x->seq, &x->ob) == 0) {
			x->ping_ms = now;
			x->c->pings++;
		}
	}
	for (unsigned i = 0; i < NPEND; i++) {
		struct pend_slot *p = &x->pend[i];
		struct sub_rep fake = { .status = -ETIMEDOUT };

		if (!p->used || now - p->since_ms < PEND_TIMEOUT_MS)
			continue;
		snprintf(fake.reason, sizeof(fake.reason), "the shard did not answer in time");
		xmpp_stanza_reply(&x->env, &p->p, &fake, 0, &x->ob);
		p->used = false;
		x->c->pend_timeouts++;
	}
}

/* ---- loop ---- */

static void on_readable(struct xmpp *x)
{
	static char buf[65536];
	const char *cond = NULL, *why = NULL;

	while (x->fd >= 0 && x->ob.len < OUT_LOW) {
		ssize_t n = recv(x->fd, buf, sizeof(buf), 0);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			disconnect(x, n == 0 ? "closed by the server" : strerror(errno));
			return;
		}
		x->last_rx_ms = now_ms();
		x->ping_ms = 0;
		rc = xmpp_stream_feed(x->stream, buf, (size_t)n, &cond, &why);
		if (rc == -EBADMSG) {
			x->c->malformed++;
			/* RFC 6120 4.9: say why, then close. */
			xmpp_out_printf(&x->ob,
					"<stream:error><%s xmlns='urn:ietf:params:xml:ns:"
					"xmpp-streams'/></stream:error></stream:stream>",
					cond);
			flush(x);
			disconnect(x, why);
			return;
		}
		if (rc == -EPIPE || x->want_close) {
			out_raw(x, "</stream:stream>");
			flush(x);
			disconnect(x,
				   rc == -EPIPE ? "stream closed by the server" : "stream error");
			return;
		}
	}
}

static void on_sock(struct xmpp *x, uint32_t events)
{
	if (x->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			disconnect(x, strerror(err));
			return;
		}
		x->last_rx_ms = now_ms();
		open_stream(x);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(x);
}

static int64_t wait_ns(struct xmpp *x, uint64_t now)
{
	if (x->state == C_IDLE)
		return x->retry_ms > now ? (int64_t)(x->retry_ms - now) * 1000000 : 0;
	return 1000000000;
}

static void rearm(struct xmpp *x)
{
	struct epoll_event ev = { .events = 0, .data.u32 = 1 };

	if (x->fd < 0)
		return;
	if (x->state == C_CONNECTING || x->ooff < x->ob.len)
		ev.events |= EPOLLOUT;
	if (x->state != C_CONNECTING && x->ob.len < OUT_LOW)
		ev.events |= EPOLLIN;
	/* A syscall (1-2 us on a VM) per pass saved: the set rarely changes. */
	if (ev.events == x->armed)
		return;
	x->armed = ev.events;
	epoll_ctl(x->ep, EPOLL_CTL_MOD, x->fd, &ev);
}

/* How long the pass may sleep once its output is written: until the next
 * timer, or no time if jobs are left or came after the last look. While
 * jobs keep coming (this pass and the one before took some), the worker
 * looks again in xmpp_coalesce_us without setting its waiting flags, so
 * the shards do not wake it: one wake-up per interval instead of one per
 * frame they matched (each costs the shard an eventfd write and both
 * sides a context switch, ~20 us of CPU on a VM), and one write of several
 * frames' stanzas to the server. A notification, or a shard's reply to a
 * subscribe, waits at most that long more. A lone job costs one wake-up as
 * before; a stream, one look more at its end. Otherwise the flags are set
 * (sub_chan_wait) and the worker sleeps until woken. */
static int64_t arm_sleep(struct xmpp *x, unsigned took, bool full, uint64_t now)
{
	int64_t ns = wait_ns(x, now);
	bool stream = took && x->took_last;

	x->took_last = took != 0;
	if (x->state != C_READY || x->ob.len >= OUT_LOW)
		return ns;
	if (full)
		return 0;
	if (stream && x->conf->xmpp_coalesce_us) {
		x->c->coalesced_waits++;
		return x->conf->xmpp_coalesce_us * 1000;
	}
	return sub_chan_wait(x->rt, SUB_ROLE_XMPP) ? ns : 0;
}

/* epoll_pwait2 (Linux 5.11) for a sub-millisecond sleep; before it,
 * epoll_wait rounded up to the next millisecond. */
static int wait_events(struct xmpp *x, struct epoll_event *evs, int max, int64_t ns)
{
	struct timespec ts = { ns / 1000000000, ns % 1000000000 };
	int n = epoll_pwait2(x->ep, evs, max, &ts, NULL);

	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(x->ep, evs, max, (int)((ns + 999999) / 1000000));
	return n;
}

static void pass(struct xmpp *x)
{
	struct epoll_event evs[4];
	uint64_t now = now_ms(), v;
	unsigned took = 0;
	bool full = false;
	int64_t ns;
	int n;

	if (x->state == C_READY) {
		drain_replies(x);
		took = drain_jobs(x, &full);
	}
	if (x->fd >= 0 && x->ob.len && flush(x) < 0)
		disconnect(x, "write failed");
	/* After the flush: a full buffer that the socket took at once must not
	 * leave pending jobs waiting for the next timer (found by pna-bench
	 * xmpp: the worker slept up to a second every 512 KiB). */
	ns = arm_sleep(x, took, full, now);
	x->c->queued_bytes = x->ob.len - x->ooff;
	rearm(x);
	n = wait_events(x, evs, 4, ns);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == 0) {
			if (read(x->rt->role_efd[SUB_ROLE_XMPP], &v, sizeof(v)) < 0)
				v = 0;
		} else if (x->fd >= 0) {
			on_sock(x, evs[i].events);
		}
	}
	tick(x, now_ms());
}

static int xmpp_init(struct xmpp *x, struct pnad_rt *rt)
{
	struct xmpp_stream_cb cb = { on_header, on_stanza, x };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
	const char *colon = strrchr(rt->conf->xmpp_server, ':');
	char name[96];
	int rc;

	x->rt = rt;
	x->conf = rt->conf;
	x->fd = -1;
	x->ep = -1;
	snprintf(name, sizeof(name), "/%s.xmpp", rt->conf->name);
	if ((rc = xmpp_seg_open(name, &x->seg_map)) < 0) {
		log_error("%s: %s", name, strerror(-rc));
		return rc;
	}
	x->c = &((struct xmpp_seg *)x->seg_map.base)->c;
	x->c->link_up = 0;
	x->c->queued_bytes = 0;
	((struct xmpp_seg *)x->seg_map.base)->pid = (uint32_t)getpid();
	if (!colon || (size_t)(colon - rt->conf->xmpp_server) >= sizeof(x->host)) {
		log_error("xmpp_server %s: not host:port", rt->conf->xmpp_server);
		return -EINVAL;
	}
	snprintf(x->host, sizeof(x->host), "%.*s", (int)(colon - rt->conf->xmpp_server),
		 rt->conf->xmpp_server);
	snprintf(x->port, sizeof(x->port), "%s", colon + 1);
	x->env = (struct xmpp_env){ .component = rt->conf->xmpp_component,
				    .arg = x,
				    .shard_of = env_shard_of,
				    .owner = env_owner,
				    .subs = env_subs,
				    .mailboxes = env_mailboxes };
	x->ob.buf = malloc(OUT_CAP);
	x->ob.cap = OUT_CAP;
	x->tables = calloc(rt->nshards, sizeof(*x->tables));
	x->ended = calloc(NENDED, sizeof(*x->ended));
	if (!x->ob.buf || !x->tables || !x->ended ||
	    xmpp_stream_open(MAX_STANZA, &cb, &x->stream) < 0)
		abort();
	for (uint32_t i = 0; i < rt->nshards; i++)
		if (rt->shards[i].subs.base)
			x->tables[i] = sub_table_attach(sub_seg_table(&rt->shards[i].subs));
	x->ep = epoll_create1(EPOLL_CLOEXEC);
	if (x->ep < 0 || rt->role_efd[SUB_ROLE_XMPP] <= 0)
		return -EINVAL;
	epoll_ctl(x->ep, EPOLL_CTL_ADD, rt->role_efd[SUB_ROLE_XMPP], &ev);
	srandom((unsigned)getpid() ^ (unsigned)now_ms());
	return 0;
}

static void xmpp_fini(struct xmpp *x)
{
	if (!x->c)
		return;
	if (x->fd >= 0) {
		out_raw(x, "</stream:stream>");
		flush(x);
		close(x->fd);
	}
	x->c->link_up = 0;
	log_counters(x);
	for (uint32_t i = 0; x->tables && i < x->rt->nshards; i++)
		sub_table_close(x->tables[i]);
	free(x->tables);
	free(x->ended);
	free(x->ob.buf);
	xmpp_stream_close(x->stream);
	if (x->ep >= 0)
		close(x->ep);
	if (x->conf->unlink_on_exit)
		shm_seg_unlink(x->seg_map.name);
	shm_seg_close(&x->seg_map);
}

int xmpp_main(struct pnad_rt *rt)
{
	static struct xmpp x;
	enum log_level level = LOG_INFO;

	pnad_child_signals();
	log_level_parse(rt->conf->log_level, &level);
	log_init("xmpp", -1, level);
	sub_chan_prefault(rt, SUB_ROLE_XMPP);
	if (xmpp_init(&x, rt) < 0) {
		log_error("xmpp worker: cannot start");
		xmpp_fini(&x);
		return 1;
	}
	log_info("xmpp worker: component %s, server %s", rt->conf->xmpp_component,
		 rt->conf->xmpp_server);
	while (!pnad_stopping)
		pass(&x);
	xmpp_fini(&x);
	return 0;
}
