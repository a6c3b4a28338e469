/* bench_load: stream encoding (protobuf-c through proto_frame_encode) and the
 * epoll sender thread of pna-bench. */
#include "bench/bench_load.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/arena.h"
#include "proto/proto_frame.h"

#define LOAD_DOMAINS 100
#define LOAD_ACCOUNT_MAX 48
#define LOAD_WRITE_CHUNK (1u << 20) /* bytes per write() */
#define LOAD_IN_BYTES (16u << 10)   /* acks and errors are small */
#define LOAD_MAX_FRAME (1u << 20)   /* pnad's default max_frame */

static uint64_t rng_next(uint64_t *x)
{
	/* xorshift64*: a fixed, fast sequence; quality is not the point. */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static void grow(struct bench_stream *st, size_t *cap, size_t need)
{
	if (st->len + need <= *cap)
		return;
	while (st->len + need > *cap)
		*cap = *cap ? *cap * 2 : 1u << 16;
	st->buf = realloc(st->buf, *cap);
	if (!st->buf)
		abort();
}

static void encode_hello(const struct bench_workload *w, uint32_t idx, struct bench_stream *st)
{
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Hello h = PNA__HELLO__INIT;
	int rc;

	snprintf(st->store_id, sizeof(st->store_id), "b%u", idx);
	h.version = PNA_PROTO_VERSION;
	h.store_id = st->store_id;
	h.credential = (char *)w->credential;
	f.msg_case = PNA__FRAME__MSG_HELLO;
	f.hello = &h;
	rc = proto_frame_encode(&f, st->hello, sizeof(st->hello));
	st->hello_len = rc > 0 ? (size_t)rc : 0;
}

/* Names of the accounts of stream idx, nacct of them, LOAD_ACCOUNT_MAX bytes
 * apart (caller frees). */
static char *account_names(const struct bench_workload *w, uint32_t idx, uint32_t nacct)
{
	char *names = calloc(nacct, LOAD_ACCOUNT_MAX);

	if (!names)
		abort();
	for (uint32_t j = 0; j < nacct; j++) {
		uint32_t k = idx + w->conns * j;

		snprintf(names + (size_t)j * LOAD_ACCOUNT_MAX, LOAD_ACCOUNT_MAX,
			 "user%u@example%u.com", k, k % LOAD_DOMAINS);
	}
	return names;
}

/* per_frame MessageNew events on INBOX and the array of pointers to them,
 * as a Batch holds them (caller frees both). */
static Pna__Event **new_events(uint32_t per_frame)
{
	Pna__Event *ev = calloc(per_frame, sizeof(*ev));
	Pna__Event **evp = calloc(per_frame, sizeof(*evp));

	if (!ev || !evp)
		abort();
	for (uint32_t i = 0; i < per_frame; i++) {
		pna__event__init(&ev[i]);
		ev[i].type = PNA__EVENT_TYPE__MESSAGE_NEW;
		ev[i].mailbox = "INBOX";
		ev[i].has_uid = 1;
		evp[i] = &ev[i];
	}
	return evp;
}

/* Stream `idx` of `w` with sequence numbers from first_seq; replaces what st
 * held. See struct bench_workload for what it contains. */
static int encode_stream(const struct bench_workload *w, uint32_t idx, uint64_t first_seq,
			 struct bench_stream *st)
{
	uint64_t n = w->events / w->conns + (idx < w->events % w->conns);
	uint32_t nacct = (w->accounts - idx + w->conns - 1) / w->conns;
	uint64_t rng = 0x9E3779B97F4A7C15ULL * (idx + 1), done = 0;
	/* An upper bound of a Batch frame's bytes: no need to size each one. */
	size_t frame_max = (size_t)w->per_frame * (LOAD_ACCOUNT_MAX + 32) + 64, cap = 0;
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Batch b = PNA__BATCH__INIT;
	char *names;
	uint32_t *uid = calloc(nacct, sizeof(*uid));

	free(st->buf);
	free(st->acct);
	free(st->frame_end);
	memset(st, 0, sizeof(*st));
	encode_hello(w, idx, st);
	st->acct = malloc((n ? n : 1) * sizeof(*st->acct));
	st->frame_end = malloc((n / w->per_frame + 1) * sizeof(*st->frame_end));
	if (!st->hello_len || !uid || !st->acct || !st->frame_end)
		abort();
	names = account_names(w, idx, nacct);
	b.events = new_events(w->per_frame);
	f.msg_case = PNA__FRAME__MSG_BATCH;
	f.batch = &b;
	while (done < n) {
		size_t k = n - done < w->per_frame ? (size_t)(n - done) : w->per_frame;
		int rc;

		for (size_t i = 0; i < k; i++) {
			uint32_t j = (uint32_t)(rng_next(&rng) % nacct);

			b.events[i]->account = names + (size_t)j * LOAD_ACCOUNT_MAX;
			b.events[i]->uid = ++uid[j];
			st->acct[done + i] = j;
		}
		b.first_seq = first_seq + done;
		b.n_events = k;
		grow(st, &cap, frame_max);
		rc = proto_frame_encode(&f, st->buf + st->len, cap - st->len);
		if (rc < 0)
			break;
		st->len += (size_t)rc;
		st->frame_end[st->frames++] = st->len;
		done += k;
	}
	free(names);
	free(uid);
	free(b.events[0]);
	free(b.events);
	st->first_seq = first_seq;
	st->events = done;
	return done == n ? 0 : -EINVAL;
}

int bench_streams_encode(const struct bench_workload *w, uint64_t first_seq,
			 struct bench_streams *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (w->conns == 0 || w->per_frame == 0 || w->accounts < w->conns || w->events < w->conns ||
	    first_seq == 0)
		return -EINVAL;
	out->w = *w;
	out->n = w->conns;
	out->s = calloc(w->conns, sizeof(*out->s));
	if (!out->s)
		abort();
	for (uint32_t i = 0; i < w->conns && rc == 0; i++) {
		rc = encode_stream(w, i, first_seq, &out->s[i]);
		out->events += out->s[i].events;
		out->frames += out->s[i].frames;
		out->bytes += out->s[i].len;
	}
	if (rc < 0)
		bench_streams_free(out);
	return rc;
}

void bench_streams_free(struct bench_streams *ss)
{
	for (uint32_t i = 0; ss->s && i < ss->n; i++) {
		free(ss->s[i].buf);
		free(ss->s[i].acct);
		free(ss->s[i].frame_end);
	}
	free(ss->s);
	memset(ss, 0, sizeof(*ss));
}

struct conn {
	int fd;
	struct bench_stream *st;
	size_t off;	   /* bytes of st->buf written */
	uint64_t due;	   /* paced: frames written or due so far */
	uint64_t last_seq; /* of the stream's last event */
	uint64_t acked;	   /* highest cumulative ack read */
	bool written, complete;
	size_t in_len;
	uint8_t in[LOAD_IN_BYTES];
};

struct bench_sender {
	struct bench_streams *ss;
	enum bench_send_mode mode;
	struct conn *c; /* ss->n entries */
	uint32_t nwritten, ncomplete;
	int epfd;
	double rate;			  /* paced: events per second over all streams, or 0 */
	double t0;			  /* paced: when frame 0 was due */
	uint64_t (*gate_done)(void *arg); /* gated: events seen through, or NULL */
	void *gate_arg;
	uint64_t gate_window;
	uint64_t gate_due;   /* gated: events in the frames let through */
	int gate_efd;	     /* gated: bench_sender_kick wakes the thread, or -1 */
	int gate_waiting;    /* atomic: the gate is shut and the thread sleeps */
	struct arena *arena; /* Ack and Error frames decode into it */
	pthread_t thread;
	bool started;
	int stop;	    /* atomic: set by bench_sender_close */
	pthread_mutex_t mu; /* guards st */
	struct bench_send_status st;
};

__attribute__((format(printf, 3, 4))) static int fail(struct bench_sender *s, int err,
						      const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->mu);
	if (!s->st.error) {
		s->st.error = err;
		va_start(ap, fmt);
		vsnprintf(s->st.reason, sizeof(s->st.reason), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->mu);
	return err;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *error_name(int code)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&pna__error_code__descriptor, code);

	return v ? v->name : "unknown error";
}

/* One frame from pnad. 0, or the failure (recorded). */
static int on_frame(struct bench_sender *s, struct conn *c, const uint8_t *p, size_t plen)
{
	Pna__Frame *f = proto_frame_decode(p, plen, s->arena);

	if (!f)
		return fail(s, -EBADMSG, "store %s: pnad sent a frame that does not decode",
			    c->st->store_id);
	switch (f->msg_case) {
	case PNA__FRAME__MSG_ACK:
		if (f->ack->seq > c->acked)
			c->acked = f->ack->seq;
		if (c->acked >= c->last_seq && !c->complete) {
			c->complete = true;
			s->ncomplete++;
		}
		return 0;
	case PNA__FRAME__MSG_ERROR:
		return fail(s, -EPROTO, "store %s: pnad sent %s: %s", c->st->store_id,
			    error_name(f->error->code),
			    f->error->reason ? f->error->reason : "(no reason)");
	default:
		return fail(s, -EPROTO, "store %s: pnad sent an unexpected frame (case %d)",
			    c->st->store_id, (int)f->msg_case);
	}
}

/* Split and handle the frames in c->in; keep a partial one. */
static int parse_in(struct bench_sender *s, struct conn *c)
{
	size_t used = 0;
	int rc = 0;

	while (used < c->in_len) {
		const uint8_t *p;
		const char *why;
		size_t plen;
		int n = proto_frame_split(c->in + used, c->in_len - used, LOAD_MAX_FRAME, &p, &plen,
					  &why);

		if (n == -EAGAIN)
			break;
		if (n < 0)
			return fail(s, n, "store %s: bad frame from pnad: %s", c->st->store_id,
				    why);
		rc = on_frame(s, c, p, plen);
		if (rc < 0)
			break;
		used += (size_t)n;
	}
	arena_reset(s->arena);
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	if (rc == 0 && c->in_len == sizeof(c->in))
		return fail(s, -EMSGSIZE, "store %s: a frame from pnad is over %u bytes",
			    c->st->store_id, LOAD_IN_BYTES);
	return rc;
}

static int on_readable(struct bench_sender *s, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return fail(s, -errno, "store %s: read: %s", c->st->store_id,
				    strerror(errno));
		if (n == 0)
			return fail(s, -EPIPE,
				    "store %s: pnad closed the connection (acked %llu of %llu)",
				    c->st->store_id, (unsigned long long)c->acked,
				    (unsigned long long)c->last_seq);
		c->in_len += (size_t)n;
		rc = parse_in(s, c);
		if (rc < 0)
			return rc;
	}
}

/* Paced or gated: frames are written from a tick up to c->due, not from
 * EPOLLOUT (always ready on a socket with room). */
static bool metered(const struct bench_sender *s)
{
	return s->rate > 0 || s->gate_done;
}

static int on_writable(struct bench_sender *s, struct conn *c, uint32_t idx)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = idx };

	size_t limit = c->st->len;

	if (metered(s)) {
		if (!c->due)
			return 0;
		limit = c->st->frame_end[c->due - 1];
	}
	while (c->off < limit) {
		size_t left = limit - c->off;
		ssize_t n = write(c->fd, c->st->buf + c->off,
				  left < LOAD_WRITE_CHUNK ? left : LOAD_WRITE_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return fail(s, -errno, "store %s: write: %s", c->st->store_id,
				    strerror(errno));
		c->off += (size_t)n;
	}
	if (c->off < c->st->len)
		return 0; /* metered: the next frame is not due yet */
	c->written = true;
	if (++s->nwritten == s->ss->n) {
		pthread_mutex_lock(&s->mu);
		s->st.t_written = bench_now();
		pthread_mutex_unlock(&s->mu);
	}
	/* paced: the stream's last acks come after its last frame; wait for them */
	if (s->rate > 0 && s->mode == BENCH_SEND_ACKED)
		return epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
	if (metered(s))
		return 0; /* registered for input only (see pace_start) */
	if (s->mode == BENCH_SEND_BLIND)
		return epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0 ? -errno : 0;
	return epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

static bool finished(const struct bench_sender *s)
{
	return s->mode == BENCH_SEND_BLIND ? s->nwritten == s->ss->n : s->ncomplete == s->ss->n;
}

static void publish(struct bench_sender *s)
{
	uint64_t acked = 0;

	for (uint32_t i = 0; i < s->ss->n; i++) {
		const struct conn *c = &s->c[i];

		if (c->acked >= c->st->first_seq)
			acked += c->acked - c->st->first_seq + 1;
	}
	pthread_mutex_lock(&s->mu);
	s->st.acked = acked;
	if (finished(s) && !s->st.done) {
		s->st.done = true;
		if (s->mode == BENCH_SEND_ACKED)
			s->st.t_acked = bench_now();
		s->st.cpu = bench_thread_cpu_seconds();
	}
	pthread_mutex_unlock(&s->mu);
}

/* Metered streams: gated, keep only the acks in the epoll set; paced, not
 * even those until the stream is written (pace_tick reads them as it goes,
 * on_writable registers the stream for its last ones). */
static int pace_start(struct bench_sender *s)
{
	for (uint32_t i = 0; i < s->ss->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		int op =
			s->mode == BENCH_SEND_ACKED && s->rate <= 0 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;

		if (epoll_ctl(s->epfd, op, s->c[i].fd, &ev) < 0)
			return fail(s, -errno, "epoll_ctl: %s", strerror(errno));
	}
	s->t0 = bench_now();
	return 0;
}

/* Paced: when frame f of stream i is due. The streams are staggered by
 * 1/conns of a frame interval, so that the frames come evenly spaced, as
 * from stores that do not beat in step; in step, every frame time would
 * bring conns frames at once, a burst of conns x per_frame events that
 * the next one waits behind. */
static double frame_due(const struct bench_sender *s, uint32_t i, uint64_t f)
{
	double interval = s->ss->w.per_frame / (s->rate / s->ss->n);

	return s->t0 + ((double)f + (double)i / s->ss->n) * interval;
}

/* Paced: write what is due on every stream; the time until the next frame
 * is due, in seconds (at most 0.1; 0.1 ms while a socket is full). */
static double pace_tick(struct bench_sender *s, int *rc)
{
	double per_frame = s->ss->w.per_frame, rs = s->rate / s->ss->n, now = bench_now();
	double next = 0.1;
	bool behind = false;

	for (uint32_t i = 0; i < s->ss->n && *rc == 0; i++) {
		struct conn *c = &s->c[i];
		double frames = (now - s->t0) * rs / per_frame - (double)i / s->ss->n;
		uint64_t due = frames >= 0 ? (uint64_t)frames + 1 : 0;

		if (c->written)
			continue;
		due = due < c->st->frames ? due : c->st->frames;
		/* Acks are read as the next frame goes, not on wake-ups of
		 * their own (one per frame, as dear as the frame's own on a
		 * VM): the sender's CPU is the machine's, shared with pnad. */
		if (due > c->due && s->mode == BENCH_SEND_ACKED && (*rc = on_readable(s, c)) < 0)
			break;
		c->due = due;
		*rc = on_writable(s, c, i);
		behind |= c->due && c->off < c->st->frame_end[c->due - 1];
		if (c->due < c->st->frames) {
			double t = frame_due(s, i, c->due) - now;

			next = t < next ? t : next;
		}
	}
	/* Behind (a full socket): look again soon, without spinning. A frame
	 * due sooner is waited for exactly (a floor here made it late). */
	if (behind && next > 1e-4)
		next = 1e-4;
	return next > 0 ? next : 0;
}

/* Events in frame f of c's stream: per_frame, fewer in the last one. */
static uint64_t frame_events(const struct bench_sender *s, const struct conn *c, uint64_t f)
{
	uint64_t per = s->ss->w.per_frame;

	return f + 1 < c->st->frames ? per : c->st->events - per * f;
}

/* Gated: let frames through, one per stream in turn, while the events in
 * them stay within the window past done(); write what is let through. The
 * time until the gate is looked at again, in seconds. */
static double gate_tick(struct bench_sender *s, int *rc)
{
	uint64_t allowed = s->gate_done(s->gate_arg) + s->gate_window;
	bool more = true, open = false;

	while (more) {
		more = false;
		for (uint32_t i = 0; i < s->ss->n; i++) {
			struct conn *c = &s->c[i];
			uint64_t ev;

			if (c->due >= c->st->frames)
				continue;
			open = true;
			ev = frame_events(s, c, c->due);
			if (s->gate_due + ev > allowed)
				continue;
			__atomic_store_n(&s->gate_due, s->gate_due + ev, __ATOMIC_RELAXED);
			c->due++;
			more = true;
		}
	}
	for (uint32_t i = 0; i < s->ss->n && *rc == 0; i++)
		if (!s->c[i].written)
			*rc = on_writable(s, &s->c[i], i);
	if (!open)
		return 0.1;
	/* Shut: sleep until a kick, announced before the last look at done()
	 * so that a kick in between is not lost. */
	__atomic_store_n(&s->gate_waiting, 1, __ATOMIC_SEQ_CST);
	if (s->gate_done(s->gate_arg) + s->gate_window > allowed) {
		__atomic_store_n(&s->gate_waiting, 0, __ATOMIC_RELAXED);
		return 0;
	}
	return BENCH_GATE_POLL;
}

void bench_sender_pace(struct bench_sender *s, double events_per_s)
{
	s->rate = events_per_s > 0 ? events_per_s : 0;
}

int bench_sender_gate(struct bench_sender *s, uint64_t (*done)(void *arg), void *arg,
		      uint64_t window)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };

	s->gate_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->gate_efd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->gate_efd, &ev) < 0)
		return -errno;
	s->gate_done = done;
	s->gate_arg = arg;
	s->gate_window = window;
	return 0;
}

void bench_sender_kick(struct bench_sender *s)
{
	uint64_t one = 1;

	/* Wake it for an eighth of the window at least, not for every event:
	 * a wake-up per frame costs more than the frame. */
	if (__atomic_load_n(&s->gate_waiting, __ATOMIC_SEQ_CST) &&
	    s->gate_done(s->gate_arg) + s->gate_window - s->gate_window / 8 >=
		    __atomic_load_n(&s->gate_due, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&s->gate_waiting, 0, __ATOMIC_SEQ_CST))
		(void)!write(s->gate_efd, &one, sizeof(one));
}

double bench_sender_due(const struct bench_sender *s, uint32_t stream, uint64_t event_index)
{
	return frame_due(s, stream, event_index / s->ss->w.per_frame);
}

static void *sender_thread(void *arg)
{
	struct bench_sender *s = arg;
	struct epoll_event evs[64];
	double wait = metered(s) ? 0 : 0.1; /* metered: the first frames are due at once */
	int rc = metered(s) ? pace_start(s) : 0;

	/* Paced: the default 50 us timer slack would make every frame late. */
	if (s->rate > 0)
		prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

	pthread_mutex_lock(&s->mu);
	s->st.t_start = s->rate > 0 ? s->t0 : bench_now();
	pthread_mutex_unlock(&s->mu);
	while (rc == 0 && !finished(s) && !__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		struct timespec ts = { .tv_sec = (time_t)wait,
				       .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9) };
		int n = epoll_pwait2(s->epfd, evs, 64, &ts, NULL);

		if (n < 0 && errno != EINTR)
			rc = fail(s, -errno, "epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n && rc == 0; i++) {
			uint32_t idx = evs[i].data.u32;
			struct conn *c = &s->c[idx];
			uint64_t v;

			if (idx == UINT32_MAX) {
				(void)!read(s->gate_efd, &v, sizeof(v));
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP) &&
			    s->mode == BENCH_SEND_ACKED)
				rc = on_readable(s, c);
			else if (evs[i].events & EPOLLERR)
				rc = fail(s, -ECONNRESET, "store %s: socket error",
					  c->st->store_id);
			if (rc == 0 && !c->written && evs[i].events & EPOLLOUT)
				rc = on_writable(s, c, idx);
		}
		if (rc == 0 && s->rate > 0)
			wait = pace_tick(s, &rc);
		else if (rc == 0 && s->gate_done)
			wait = gate_tick(s, &rc);
		publish(s);
	}
	return NULL;
}

/* Read frames until one arrives: the Welcome (or an Error). */
static int read_welcome(struct bench_sender *s, struct conn *c, uint64_t *resume, char *err,
			size_t errlen)
{
	const uint8_t *p;
	const char *why;
	Pna__Frame *f;
	size_t plen;
	int n = -EAGAIN;

	while (n == -EAGAIN) {
		ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

		if (r <= 0) {
			snprintf(err, errlen, "store %s: no Welcome from pnad: %s", c->st->store_id,
				 r == 0 ? "connection closed" : strerror(errno));
			return r == 0 ? -EPIPE : -errno;
		}
		c->in_len += (size_t)r;
		n = proto_frame_split(c->in, c->in_len, LOAD_MAX_FRAME, &p, &plen, &why);
	}
	f = n > 0 ? proto_frame_decode(p, plen, s->arena) : NULL;
	if (f && f->msg_case == PNA__FRAME__MSG_WELCOME) {
		*resume = f->welcome->resume_seq ? f->welcome->resume_seq : 1;
		memmove(c->in, c->in + n, c->in_len - (size_t)n);
		c->in_len -= (size_t)n;
		arena_reset(s->arena);
		return 0;
	}
	if (f && f->msg_case == PNA__FRAME__MSG_ERROR)
		snprintf(err, errlen, "store %s: pnad answered the Hello with %s: %s",
			 c->st->store_id, error_name(f->error->code),
			 f->error->reason ? f->error->reason : "(no reason)");
	else
		snprintf(err, errlen, "store %s: pnad answered the Hello with %s", c->st->store_id,
			 n < 0 ? why : "a frame that is not a Welcome");
	arena_reset(s->arena);
	return -EPROTO;
}

/* Connect stream idx, send its Hello, and in ACKED mode read the Welcome. */
static int open_conn(struct bench_sender *s, uint32_t idx, uint16_t port, double timeout, char *err,
		     size_t errlen)
{
	struct conn *c = &s->c[idx];
	struct timeval tv = { .tv_sec = (time_t)timeout };
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = idx };
	uint64_t resume = 1;
	int rc;

	c->st = &s->ss->s[idx];
	c->fd = bench_tcp_connect(port);
	if (c->fd < 0) {
		snprintf(err, errlen, "connect to 127.0.0.1:%u: %s", port, strerror(-c->fd));
		return c->fd;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = write_all(c->fd, c->st->hello, c->st->hello_len);
	if (rc < 0) {
		snprintf(err, errlen, "store %s: sending Hello: %s", c->st->store_id,
			 strerror(-rc));
		return rc;
	}
	if (s->mode == BENCH_SEND_ACKED) {
		ev.events |= EPOLLIN;
		rc = read_welcome(s, c, &resume, err, errlen);
		if (rc < 0)
			return rc;
		if (resume != c->st->first_seq) {
			/* a later round on the same pnad, or a pnad that kept
			 * its state: the same events, numbered from there */
			s->ss->bytes -= c->st->len;
			if (encode_stream(&s->ss->w, idx, resume, c->st) < 0)
				return -EINVAL;
			s->ss->bytes += c->st->len;
		}
	}
	c->last_seq = c->st->first_seq + c->st->events - 1;
	c->acked = c->st->first_seq - 1;
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		snprintf(err, errlen, "store %s: %s", c->st->store_id, strerror(errno));
		return -errno;
	}
	return 0;
}

int bench_sender_open(struct bench_streams *ss, uint16_t port, enum bench_send_mode mode,
		      double timeout, struct bench_sender **out, char *err, size_t errlen)
{
	struct bench_sender *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (!s)
		abort();
	s->ss = ss;
	s->mode = mode;
	s->c = calloc(ss->n, sizeof(*s->c));
	s->arena = arena_create(LOAD_IN_BYTES);
	if (!s->c)
		abort();
	pthread_mutex_init(&s->mu, NULL);
	for (uint32_t i = 0; i < ss->n; i++)
		s->c[i].fd = -1;
	s->gate_efd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
	}
	for (uint32_t i = 0; i < ss->n && rc == 0; i++)
		rc = open_conn(s, i, port, timeout, err, errlen);
	if (rc < 0) {
		bench_sender_close(s, NULL);
		return rc;
	}
	*out = s;
	return 0;
}

int bench_sender_start(struct bench_sender *s)
{
	int rc = pthread_create(&s->thread, NULL, sender_thread, s);

	s->started = rc == 0;
	return -rc;
}

void bench_sender_status(struct bench_sender *s, struct bench_send_status *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}

void bench_sender_close(struct bench_sender *s, struct bench_send_status *st)
{
	if (!s)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	if (s->started)
		pthread_join(s->thread, NULL);
	if (st)
		*st = s->st;
	for (uint32_t i = 0; i < s->ss->n; i++)
		if (s->c[i].fd >= 0)
			close(s->c[i].fd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->gate_efd >= 0)
		close(s->gate_efd);
	arena_destroy(s->arena);
	pthread_mutex_destroy(&s->mu);
	free(s->c);
	free(s);
}
