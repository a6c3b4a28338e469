/* bench_sink: the baseline reader child of pna-bench ingest and its control
 * from the parent (two pipes: the child reports on one and exits when the
 * parent closes the other). */
#include "bench/bench_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_sipsink.h"
#include "bench/bench_util.h"
#include "lib/udp_batch.h"
#include "lib/arena.h"
#include "proto/proto_frame.h"

#define SINK_LISTEN_ID UINT32_MAX
#define RELAY_NOTE_MAX 512

struct sink_conn {
	int fd;
	size_t len;   /* bytes held in buf (a partial frame) */
	uint8_t *buf; /* cap bytes */
};

/* The relay's UDP side: datagrams queued in a udp_batch (sent as the SIP
 * worker sends), answers read into one buffer and dropped. */
struct relay_out {
	int fd;
	uint32_t next; /* next datagram to cycle */
	uint64_t answered;
	uint32_t *msgs;		      /* with first_sub: per account, events so far */
	char (*note)[RELAY_NOTE_MAX]; /* with first_sub: the datagrams queued in b */
	struct udp_batch b;
	char ans[64][512];
	struct mmsghdr am[64];
	struct iovec aiov[64];
};

struct sink_child {
	const struct bench_sink_opts *o;
	struct relay_out *out; /* relay mode */
	int lfd, epfd;
	struct sink_conn *c;
	uint32_t nconns;
	size_t cap;
	struct arena *arena; /* decode mode */
	struct bench_sink_result r;
};

struct bench_sink {
	pid_t pid;
	uint16_t port;
	int report_fd; /* child -> parent */
	int stop_fd;   /* parent -> child; closed to stop it */
};

static int child_fail(struct sink_child *k, int err, const char *what)
{
	k->r.error = err;
	snprintf(k->r.reason, sizeof(k->r.reason), "%s: %s", what, strerror(-err));
	return err;
}

static int on_accept(struct sink_child *k)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = accept4(k->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return errno == EAGAIN ? 0 : child_fail(k, -errno, "accept");
	if (k->nconns == k->o->conns) {
		close(fd);
		return child_fail(k, -EMFILE, "more connections than expected");
	}
	k->c[k->nconns].fd = fd;
	ev.data.u32 = k->nconns++;
	if (epoll_ctl(k->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return child_fail(k, -errno, "epoll_ctl");
	return 0;
}

/* Read the answers that have come; with `wait`, block for at least one. */
static void relay_answers(struct relay_out *o, bool wait)
{
	int n;

	for (int i = 0; i < 64; i++) {
		o->aiov[i] = (struct iovec){ o->ans[i], sizeof(o->ans[i]) };
		o->am[i].msg_hdr = (struct msghdr){ .msg_iov = &o->aiov[i], .msg_iovlen = 1 };
	}
	n = recvmmsg(o->fd, o->am, 64, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
	if (n > 0)
		o->answered += (uint64_t)n;
}

static int relay_flush(struct sink_child *k)
{
	struct relay_out *o = k->out;
	int rc = udp_batch_flush(&o->b);

	if (rc < 0)
		return child_fail(k, rc, "relay send");
	k->r.datagrams = o->b.datagrams;
	while (k->r.datagrams - o->answered >= k->o->relay->window)
		relay_answers(o, true);
	relay_answers(o, false);
	return 0;
}

/* The NOTIFY of subscription `sub` for its account's `msgs`-th message,
 * into buf; its length. Numbers are written at a fixed width, so that
 * every one has the same length and a batch goes as one GSO send, as
 * pnad's equal-length NOTIFYs do. */
static size_t relay_note(char *buf, uint32_t sub, uint32_t msgs)
{
	int n = snprintf(
		buf, RELAY_NOTE_MAX,
		"NOTIFY sip:s%010u@127.0.0.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-r%010u-%010u\r\n"
		"From: <sip:relay@127.0.0.1>;tag=r\r\nTo: <sip:s@127.0.0.1>;tag=bs%010u\r\n"
		"Call-ID: bs-%010u\r\nCSeq: %010u NOTIFY\r\n"
		"Event: message-summary\r\nSubscription-State: active\r\n"
		"Content-Type: application/simple-message-summary\r\n"
		"Content-Length: 51\r\n\r\n"
		"Messages-Waiting: yes\r\nText-Message: %010u/0\r\n",
		sub, sub, msgs, sub, sub, msgs + 1, msgs);

	return n > 0 && n < RELAY_NOTE_MAX ? (size_t)n : 0;
}

/* One event of `account`: its subscribers' datagrams, queued. */
static int relay_event(struct sink_child *k, const char *account)
{
	const struct bench_relay *r = k->o->relay;
	struct relay_out *o = k->out;
	unsigned long a = account && !strncmp(account, "user", 4) ? strtoul(account + 4, NULL, 10)
								  : ULONG_MAX;
	uint32_t fan = a < r->naccounts ? r->fan[a] : 0, msgs = fan && o->msgs ? ++o->msgs[a] : 0;

	for (uint32_t i = 0; i < fan; i++) {
		if (o->msgs) {
			char *note = o->note[udp_batch_count(&o->b)];
			size_t len = relay_note(note, r->first_sub[a] + i, msgs);

			if (len) /* always: the widths are fixed */
				udp_batch_add(&o->b, note, len, NULL, 0, false);
		} else {
			uint32_t d = o->next++ % r->ndgram;

			udp_batch_add(&o->b, r->dgram + (size_t)d * r->dgram_stride,
				      r->dgram_len[d], NULL, 0, false);
		}
		if (udp_batch_full(&o->b) && relay_flush(k) < 0)
			return -EIO;
	}
	return 0;
}

static int decode(struct sink_child *k, const uint8_t *p, size_t plen)
{
	Pna__Frame *f = proto_frame_decode(p, plen, k->arena);

	if (!f) {
		k->r.error = -EBADMSG;
		snprintf(k->r.reason, sizeof(k->r.reason), "a frame does not decode");
		return -EBADMSG;
	}
	if (f->msg_case == PNA__FRAME__MSG_BATCH) {
		k->r.events += f->batch->n_events;
		for (size_t i = 0; k->out && i < f->batch->n_events; i++)
			if (relay_event(k, f->batch->events[i]->account) < 0)
				return -EIO;
	}
	arena_reset(k->arena);
	return 0;
}

/* Split every whole frame in c->buf; keep the partial one at the front. */
static int split(struct sink_child *k, struct sink_conn *c)
{
	size_t used = 0;

	for (;;) {
		const uint8_t *p;
		const char *why;
		size_t plen;
		int n = proto_frame_split(c->buf + used, c->len - used, k->o->max_frame, &p, &plen,
					  &why);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			k->r.error = n;
			snprintf(k->r.reason, sizeof(k->r.reason), "frame: %s", why);
			return n;
		}
		used += (size_t)n;
		k->r.frames++;
		if (k->arena && decode(k, p, plen) < 0)
			return -EBADMSG;
	}
	if (used) {
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	return 0;
}

static int on_readable(struct sink_child *k, struct sink_conn *c)
{
	for (;;) {
		size_t room = k->cap - c->len;
		ssize_t n = read(c->fd, c->buf + c->len,
				 room < k->o->read_bytes ? room : k->o->read_bytes);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : child_fail(k, -errno, "read");
		if (n == 0) {
			epoll_ctl(k->epfd, EPOLL_CTL_DEL, c->fd, NULL);
			return 0;
		}
		k->r.bytes += (uint64_t)n;
		k->r.reads++;
		c->len += (size_t)n;
		rc = split(k, c);
		if (rc < 0)
			return rc;
		if (k->r.frames >= k->o->frames)
			return 0;
	}
}

static void child_loop(struct sink_child *k)
{
	struct epoll_event evs[64];
	int rc = 0;

	while (rc == 0 && k->r.frames < k->o->frames) {
		int n = epoll_wait(k->epfd, evs, 64, -1);

		if (n < 0 && errno != EINTR)
			rc = child_fail(k, -errno, "epoll_wait");
		for (int i = 0; i < n && rc == 0; i++) {
			if (evs[i].data.u32 == SINK_LISTEN_ID)
				rc = on_accept(k);
			else
				rc = on_readable(k, &k->c[evs[i].data.u32]);
		}
		if (rc == 0 && k->out && k->out->b.n)
			rc = relay_flush(k);
	}
}

static int child_setup(struct sink_child *k, int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = SINK_LISTEN_ID };

	k->lfd = lfd;
	k->cap = k->o->read_bytes > k->o->max_frame + PROTO_VARINT_MAX
			 ? k->o->read_bytes
			 : k->o->max_frame + PROTO_VARINT_MAX;
	k->c = calloc(k->o->conns, sizeof(*k->c));
	if (!k->c)
		abort();
	for (uint32_t i = 0; i < k->o->conns; i++) {
		k->c[i].buf = malloc(k->cap);
		if (!k->c[i].buf)
			abort();
	}
	if (k->o->decode)
		k->arena = arena_create(k->cap);
	if (k->o->decode && k->o->relay) {
		struct sockaddr_in to = { .sin_family = AF_INET,
					  .sin_port = htons(k->o->relay->udp_port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		uint16_t port;

		k->out = calloc(1, sizeof(*k->out));
		if (!k->out)
			abort();
		if (k->o->relay->first_sub) {
			k->out->msgs = calloc(k->o->relay->naccounts + 1, sizeof(*k->out->msgs));
			k->out->note = calloc(UDP_BATCH_MAX, sizeof(*k->out->note));
			if (!k->out->msgs || !k->out->note)
				abort();
		}
		k->out->fd = bench_udp_socket(&port);
		if (k->out->fd < 0)
			return child_fail(k, k->out->fd, "relay socket");
		if (connect(k->out->fd, (struct sockaddr *)&to, sizeof(to)) < 0)
			return child_fail(k, -errno, "relay connect");
		udp_batch_init(&k->out->b, k->out->fd);
		k->out->b.gso = k->out->b.gso && k->o->relay->gso;
	}
	k->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (k->epfd < 0 || fcntl(lfd, F_SETFL, O_NONBLOCK) < 0 ||
	    epoll_ctl(k->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		return child_fail(k, -errno, "epoll");
	return 0;
}

__attribute__((noreturn)) static void child_main(const struct bench_sink_opts *o, int lfd,
						 int report_fd, int stop_fd)
{
	struct sink_child k = { .o = o };
	char c;

	signal(SIGPIPE, SIG_IGN);
	if (child_setup(&k, lfd) == 0)
		child_loop(&k);
	if (write(report_fd, &k.r, sizeof(k.r)) != sizeof(k.r))
		_exit(1);
	/* Keep the sockets open until the parent has joined its sender. */
	while (read(stop_fd, &c, 1) < 0 && errno == EINTR)
		;
	_exit(k.r.error ? 1 : 0);
}

int bench_sink_start(const struct bench_sink_opts *o, struct bench_sink **out)
{
	struct bench_sink *s = calloc(1, sizeof(*s));
	int report[2], stop[2], lfd, err;

	if (!s)
		abort();
	lfd = bench_tcp_listen(&s->port, (int)o->conns + 16);
	if (lfd < 0) {
		free(s);
		return lfd;
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		err = -errno;
		goto err_close_listen;
	}
	if (pipe2(stop, O_CLOEXEC) < 0) {
		err = -errno;
		goto err_close_report;
	}
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		err = -errno;
		goto err_close_stop;
	}
	if (s->pid == 0) {
		close(report[0]);
		close(stop[1]);
		child_main(o, lfd, report[1], stop[0]);
	}
	close(lfd);
	close(report[1]);
	close(stop[0]);
	s->report_fd = report[0];
	s->stop_fd = stop[1];
	*out = s;
	return 0;

err_close_stop:
	close(stop[0]);
	close(stop[1]);
err_close_report:
	close(report[0]);
	close(report[1]);
err_close_listen:
	close(lfd);
	free(s);
	return err;
}

uint16_t bench_sink_port(const struct bench_sink *s)
{
	return s->port;
}

pid_t bench_sink_pid(const struct bench_sink *s)
{
	return s->pid;
}

int bench_sink_wait(struct bench_sink *s, double timeout, struct bench_sink_result *r)
{
	struct pollfd p = { .fd = s->report_fd, .events = POLLIN };
	size_t got = 0;
	int rc;

	while (got < sizeof(*r)) {
		ssize_t n;

		rc = poll(&p, 1, (int)(timeout * 1000));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return -ETIMEDOUT;
		n = read(s->report_fd, (char *)r + got, sizeof(*r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

void bench_sink_stop(struct bench_sink *s)
{
	int wstatus;

	if (!s)
		return;
	close(s->stop_fd);
	close(s->report_fd);
	if (bench_stop(s->pid, 0, 5, &wstatus) < 0)
		bench_progress("baseline child %d: could not be reaped", (int)s->pid);
	free(s);
}
