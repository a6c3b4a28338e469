/* test_pna_client: the client library against a small fake pnad in a thread
 * on a loopback port chosen at run time: batching within max_frame, acks,
 * resume after a drop on either side, flow control, refusal on Hello. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/pna_client.h"
#include "lib/arena.h"
#include "proto/proto_frame.h"
#include "tests/unit/check.h"

/* The fake server: takes seqs in order, acks after each batch. */
struct fake {
	int lfd;
	uint16_t port;
	pthread_t th;
	uint64_t have; /* highest seq taken; the Welcome asks for have + 1 */
	uint32_t max_frame;
	uint64_t drop_at; /* close, losing the batch, once have reaches it (once) */
	int refuse;	  /* answer Hello with this error code */
	uint64_t dups, gaps, bad_uid, big_frames, conns, batches;
};

static int send_frame(int fd, const Pna__Frame *f)
{
	uint8_t buf[512];
	int n = proto_frame_encode(f, buf, sizeof(buf));

	return n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static int on_hello(struct fake *s, int fd, const Pna__Frame *f)
{
	Pna__Frame out = PNA__FRAME__INIT;
	Pna__Welcome w = PNA__WELCOME__INIT;
	Pna__Error e = PNA__ERROR__INIT;

	if (f->msg_case != PNA__FRAME__MSG_HELLO || f->hello->version != PNA_PROTO_VERSION ||
	    strcmp(f->hello->store_id, "s1") != 0)
		return -1;
	if (s->refuse) {
		e.code = (Pna__ErrorCode)s->refuse;
		e.reason = "unknown store s1";
		out.msg_case = PNA__FRAME__MSG_ERROR;
		out.error = &e;
		send_frame(fd, &out);
		return -1;
	}
	w.resume_seq = s->have + 1;
	w.has_max_frame = 1;
	w.max_frame = s->max_frame;
	out.msg_case = PNA__FRAME__MSG_WELCOME;
	out.welcome = &w;
	return send_frame(fd, &out);
}

static int on_batch(struct fake *s, int fd, const Pna__Frame *f, size_t plen)
{
	uint8_t buf[32];
	uint64_t before = s->have;
	int n;

	if (f->msg_case != PNA__FRAME__MSG_BATCH)
		return -1;
	s->batches++;
	if (plen > s->max_frame)
		s->big_frames++;
	if (f->batch->first_seq > s->have + 1)
		s->gaps++;
	for (size_t i = 0; i < f->batch->n_events; i++) {
		uint64_t seq = f->batch->first_seq + i;

		if (seq <= s->have) {
			s->dups++;
			continue;
		}
		s->have = seq;
		if (f->batch->events[i]->uid != (uint32_t)seq)
			s->bad_uid++;
	}
	if (s->drop_at && s->have >= s->drop_at) {
		/* a crash before this batch was kept: the Welcome on the next
		 * connection asks for it again, so the client must resend it
		 * (not only what happened to be in flight behind it) */
		s->have = before;
		s->drop_at = 0;
		return -1;
	}
	n = proto_frame_ack(buf, sizeof(buf), s->have);
	return n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

static void serve(struct fake *s, int fd, struct arena *a)
{
	static uint8_t buf[1 << 17];
	size_t len = 0;
	bool hello = false;
	ssize_t n;

	while ((n = recv(fd, buf + len, sizeof(buf) - len, 0)) > 0) {
		size_t off = 0;

		len += (size_t)n;
		for (;;) {
			const uint8_t *p;
			size_t plen;
			const char *why;
			Pna__Frame *f;
			int m = proto_frame_split(buf + off, len - off, sizeof(buf), &p, &plen,
						  &why);

			if (m == -EAGAIN)
				break;
			if (m < 0 || !(f = proto_frame_decode(p, plen, a)))
				return;
			off += (size_t)m;
			m = hello ? on_batch(s, fd, f, plen) : on_hello(s, fd, f);
			hello = true;
			arena_reset(a);
			if (m < 0)
				return;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
}

static void *fake_main(void *arg)
{
	struct fake *s = arg;
	struct arena *a = arena_create(1 << 16);
	int fd;

	while ((fd = accept(s->lfd, NULL, NULL)) >= 0) {
		s->conns++;
		serve(s, fd, a);
		close(fd);
	}
	arena_destroy(a);
	return NULL;
}

static void fake_start(struct fake *s)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!s->max_frame)
		s->max_frame = 1 << 16;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s->lfd >= 0);
	CHECK(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(listen(s->lfd, 8) == 0);
	CHECK(getsockname(s->lfd, (struct sockaddr *)&sin, &sl) == 0);
	s->port = ntohs(sin.sin_port);
	CHECK(pthread_create(&s->th, NULL, fake_main, s) == 0);
}

static void fake_stop(struct fake *s)
{
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
}

static struct pna_client *client(const struct fake *s, uint32_t batch, uint32_t window,
				 size_t max_frame)
{
	struct pna_client_opts o = {
		.host = "127.0.0.1",
		.port = s->port,
		.store_id = "s1",
		.credential = "k",
		.batch_events = batch,
		.max_unacked = window,
		.max_frame = max_frame,
	};
	struct pna_client *c = NULL;

	CHECK_EQ(pna_client_open(&o, &c), 0);
	return c;
}

static void event(Pna__Event *ev, uint64_t seq)
{
	pna__event__init(ev);
	ev->type = PNA__EVENT_TYPE__MESSAGE_NEW;
	ev->account = "alice@example.com";
	ev->mailbox = "INBOX";
	ev->has_uid = 1;
	ev->uid = (uint32_t)seq;
}

/* Add events with uid = seq until next_seq reaches `end`, reconnecting on
 * -EPIPE as pna-feed does. Returns the reconnects. */
static int add_until(struct pna_client *c, uint64_t end)
{
	int reconnects = 0, rc;
	Pna__Event ev;

	while (pna_client_next_seq(c) < end) {
		event(&ev, pna_client_next_seq(c));
		rc = pna_client_add(c, &ev);
		if (rc == 0)
			continue;
		CHECK_EQ(rc, -EPIPE);
		if (rc != -EPIPE || reconnects++ > 10)
			break;
		CHECK_EQ(pna_client_connect(c), 0);
	}
	return reconnects;
}

static void drain(struct pna_client *c)
{
	int rc;

	while ((rc = pna_client_drain(c, 5000)) == -EPIPE)
		CHECK_EQ(pna_client_connect(c), 0);
	CHECK_EQ(rc, 0);
}

static void test_basic(void)
{
	struct fake s = { .max_frame = 1000 };
	struct pna_client *c;

	fake_start(&s);
	c = client(&s, 64, 4096, 1 << 20);
	CHECK_EQ(pna_client_next_seq(c), 0);
	CHECK_EQ(pna_client_connect(c), 0);
	CHECK_EQ(pna_client_next_seq(c), 1);
	CHECK_EQ(add_until(c, 5001), 0);
	drain(c);
	CHECK_EQ(pna_client_acked(c), 5000);
	CHECK_EQ(pna_client_sent(c), 5000);
	CHECK_EQ(pna_client_error_code(c), 0);
	CHECK_STR(pna_client_error(c), "");
	pna_client_close(c);
	fake_stop(&s);
	CHECK_EQ(s.have, 5000);
	CHECK_EQ(s.dups + s.gaps + s.bad_uid + s.big_frames, 0);
	/* ~40 bytes an event: the Welcome's 1000 bytes, not 64 events, bound
	 * a batch. */
	CHECK(s.batches > 5000 / 64 + 20);
}

static void test_server_drops(void)
{
	struct fake s = { .drop_at = 1000 };
	struct pna_client *c;

	fake_start(&s);
	c = client(&s, 16, 256, 1 << 20);
	CHECK_EQ(pna_client_connect(c), 0);
	CHECK_EQ(add_until(c, 3001), 1);
	drain(c);
	CHECK_EQ(pna_client_acked(c), 3000);
	CHECK(pna_client_sent(c) > 3000);
	pna_client_close(c);
	fake_stop(&s);
	CHECK_EQ(s.have, 3000);
	CHECK_EQ(s.conns, 2);
	CHECK_EQ(s.gaps + s.bad_uid, 0);
}

static void test_client_drops(void)
{
	struct fake s = { .have = 41 };
	struct pna_client *c;

	fake_start(&s);
	c = client(&s, 7, 100, 1 << 20);
	CHECK_EQ(pna_client_connect(c), 0);
	CHECK_EQ(pna_client_next_seq(c), 42); /* numbering goes on from the server's */
	CHECK_EQ(add_until(c, 542), 0);
	pna_client_disconnect(c);
	CHECK_EQ(pna_client_flush(c), -EPIPE);
	CHECK_EQ(pna_client_connect(c), 0);
	CHECK_EQ(add_until(c, 1042), 0);
	drain(c);
	CHECK_EQ(pna_client_acked(c), 1041);
	pna_client_close(c);
	fake_stop(&s);
	CHECK_EQ(s.have, 1041);
	CHECK_EQ(s.conns, 2);
	CHECK_EQ(s.gaps + s.bad_uid, 0);
}

static void test_refused(void)
{
	struct fake s = { .refuse = PNA__ERROR_CODE__ERR_UNKNOWN_STORE };
	struct pna_client *c;
	Pna__Event ev;

	fake_start(&s);
	c = client(&s, 1, 1, 1 << 20);
	CHECK_EQ(pna_client_connect(c), -EPROTO);
	CHECK_EQ(pna_client_error_code(c), PNA__ERROR_CODE__ERR_UNKNOWN_STORE);
	CHECK_STR(pna_client_error(c), "unknown store s1");
	event(&ev, 1);
	CHECK_EQ(pna_client_add(c, &ev), -EPROTO);
	pna_client_close(c);
	fake_stop(&s);
}

static void test_too_large(void)
{
	struct fake s = { 0 };
	struct pna_client *c;
	static char text[300];
	Pna__Event ev;

	fake_start(&s);
	c = client(&s, 8, 16, 256);
	CHECK_EQ(pna_client_connect(c), 0);
	memset(text, 'x', sizeof(text) - 1);
	event(&ev, 1);
	ev.text = text;
	CHECK_EQ(pna_client_add(c, &ev), -EMSGSIZE);
	CHECK_EQ(pna_client_next_seq(c), 1);
	CHECK_EQ(add_until(c, 101), 0);
	drain(c);
	pna_client_close(c);
	fake_stop(&s);
	CHECK_EQ(s.have, 100);
	CHECK_EQ(s.bad_uid, 0);
}

int main(void)
{
	test_basic();
	test_server_drops();
	test_client_drops();
	test_refused();
	test_too_large();
	return check_summary();
}
