/* test_udp_batch: what peers receive from a udp_batch over loopback: every
 * datagram intact and once, to its own peer, equal-length ones grouped
 * when the kernel has UDP GSO, barriers keeping their place, and the
 * same datagrams when GSO is off or refused. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lib/udp_batch.h"

#define MAXD 128

struct peer {
	int fd;
	struct sockaddr_in addr;
};

static void peer_open(struct peer *p)
{
	socklen_t len = sizeof(p->addr);
	int rcvbuf = 1 << 20;

	p->fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&p->addr, 0, sizeof(p->addr));
	p->addr.sin_family = AF_INET;
	p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&p->addr, sizeof(p->addr)) < 0 ||
	    getsockname(p->fd, (struct sockaddr *)&p->addr, &len) < 0)
		abort();
}

/* Datagram `id` of length len: "<id>:" then filler. */
static size_t make(char *buf, unsigned id, size_t len)
{
	int n = snprintf(buf, len, "%u:", id);

	memset(buf + n, 'a' + (char)(id % 26), len - (size_t)n);
	return len;
}

/* Read what p has (waiting up to 1 s for the first) into ids[], checking
 * each datagram is what make() wrote. The number read. */
static unsigned drain(const struct peer *p, unsigned *ids, unsigned max)
{
	char buf[4096], want[4096];
	unsigned n = 0;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	while (n < max && poll(&pfd, 1, n ? 100 : 1000) > 0) {
		ssize_t r = recv(p->fd, buf, sizeof(buf), 0);
		unsigned id;

		if (r <= 0 || sscanf(buf, "%u:", &id) != 1)
			break;
		CHECK(make(want, id, (size_t)r) == (size_t)r && !memcmp(buf, want, (size_t)r));
		ids[n++] = id;
	}
	return n;
}

static void add(struct udp_batch *b, char (*bufs)[4096], unsigned id, size_t len,
		const struct peer *to, bool barrier)
{
	udp_batch_add(b, bufs[id], make(bufs[id], id, len), (const struct sockaddr *)&to->addr,
		      sizeof(to->addr), barrier);
}

/* 64 datagrams of three lengths, alternating over two peers: each peer gets
 * its 32, intact, once; grouped when the kernel can. */
static void two_peers(int fd, bool gso)
{
	static char bufs[MAXD][4096];
	struct udp_batch b;
	struct peer p[2];
	unsigned ids[MAXD], seen[UDP_BATCH_MAX] = { 0 };

	peer_open(&p[0]);
	peer_open(&p[1]);
	udp_batch_init(&b, fd);
	if (!gso)
		b.gso = false;
	for (unsigned i = 0; i < UDP_BATCH_MAX; i++)
		add(&b, bufs, i, 550 + i % 3, &p[i % 2], false);
	CHECK(udp_batch_full(&b));
	udp_batch_flush(&b);
	CHECK_EQ(b.n, 0);
	CHECK_EQ(b.datagrams, UDP_BATCH_MAX);
	CHECK_EQ(b.dropped, 0);
	for (int k = 0; k < 2; k++) {
		unsigned n = drain(&p[k], ids, MAXD);

		CHECK_EQ(n, UDP_BATCH_MAX / 2);
		for (unsigned j = 0; j < n; j++) {
			CHECK(ids[j] < UDP_BATCH_MAX && ids[j] % 2 == (unsigned)k);
			if (ids[j] < UDP_BATCH_MAX)
				seen[ids[j]]++;
		}
	}
	for (unsigned i = 0; i < UDP_BATCH_MAX; i++)
		CHECK_EQ(seen[i], 1);
	if (gso && b.gso) {
		/* 6 groups of 10 or 11 (peer x length): 6 sends, not 64 */
		CHECK_EQ(b.grouped, UDP_BATCH_MAX);
		CHECK_EQ(b.sends, 6);
	} else {
		CHECK_EQ(b.grouped, 0);
		CHECK_EQ(b.sends, UDP_BATCH_MAX);
	}
	printf("two peers, gso %s: %llu datagrams in %llu sends\n", b.gso ? "on" : "off",
	       (unsigned long long)b.datagrams, (unsigned long long)b.sends);
	close(p[0].fd);
	close(p[1].fd);
}

/* Three datagrams, a barrier (a response), three more of the first
 * length, and one longer than a GSO segment may be: the barrier arrives
 * after the first three and before the last, the long one intact. */
static void barrier(int fd)
{
	static char bufs[MAXD][4096];
	struct udp_batch b;
	struct peer p;
	unsigned ids[MAXD], at_barrier = MAXD, n;

	peer_open(&p);
	udp_batch_init(&b, fd);
	for (unsigned i = 0; i < 3; i++)
		add(&b, bufs, i, 600, &p, false);
	add(&b, bufs, 3, 300, &p, true);
	for (unsigned i = 4; i < 7; i++)
		add(&b, bufs, i, 600, &p, false);
	add(&b, bufs, 7, UDP_BATCH_GSO_LEN + 100, &p, false);
	udp_batch_flush(&b);
	n = drain(&p, ids, MAXD);
	CHECK_EQ(n, 8);
	for (unsigned j = 0; j < n; j++)
		if (ids[j] == 3)
			at_barrier = j;
	CHECK_EQ(at_barrier, 3);
	for (unsigned j = 0; j < n; j++) {
		if (ids[j] < 3)
			CHECK(j < at_barrier);
		if (ids[j] >= 4 && ids[j] < 7)
			CHECK(j > at_barrier && j < MAXD);
	}
	if (b.gso)
		CHECK_EQ(b.grouped, 6);
	close(p.fd);
}

/* When the next datagram on p arrived (the kernel's receive stamp), ns;
 * its id in *id. -1 when none came within a second. */
static long long recv_stamp(const struct peer *p, unsigned *id)
{
	char buf[4096], ctl[64];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr h = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	ssize_t r;

	if (poll(&pfd, 1, 1000) <= 0 || (r = recvmsg(p->fd, &h, 0)) <= 0)
		return -1;
	buf[r] = 0;
	if (sscanf(buf, "%u:", id) != 1)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
		struct timespec ts;

		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			return ts.tv_sec * 1000000000LL + ts.tv_nsec;
		}
	}
	return -1;
}

/* A barrier to another address (a response to a UA's source address, its
 * NOTIFY to its Contact) still splits the batch: A's first datagram, then
 * B's barrier, then A's second, by the kernel's receive stamps. */
static void barrier_across_peers(int fd)
{
	static char bufs[MAXD][4096];
	struct udp_batch b;
	struct peer a, c;
	unsigned id[3];
	long long t[3];
	int one = 1;

	peer_open(&a);
	peer_open(&c);
	setsockopt(a.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	setsockopt(c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	udp_batch_init(&b, fd);
	add(&b, bufs, 0, 600, &a, false);
	add(&b, bufs, 1, 300, &c, true);
	add(&b, bufs, 2, 600, &a, false);
	CHECK_EQ(udp_batch_flush(&b), 0);
	CHECK_EQ(b.grouped, 0); /* 0 and 2 would have been one group */
	t[0] = recv_stamp(&a, &id[0]);
	t[1] = recv_stamp(&c, &id[1]);
	t[2] = recv_stamp(&a, &id[2]);
	CHECK(id[0] == 0 && id[1] == 1 && id[2] == 2);
	CHECK(t[0] > 0 && t[0] <= t[1] && t[1] <= t[2]);
	close(a.fd);
	close(c.fd);
}

/* A socket that sends without UDP checksums cannot use GSO (the kernel
 * says EINVAL): the group goes out one datagram at a time, nothing lost. */
static void refused(int fd)
{
	static char bufs[MAXD][4096];
	struct udp_batch b;
	struct peer p;
	unsigned ids[MAXD];
	int one = 1;

	peer_open(&p);
	udp_batch_init(&b, fd);
	if (!b.gso || setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)) < 0) {
		printf("refused: skipped (no GSO or no SO_NO_CHECK here)\n");
		close(p.fd);
		return;
	}
	for (unsigned i = 0; i < 10; i++)
		add(&b, bufs, i, 500, &p, false);
	CHECK_EQ(udp_batch_flush(&b), 0);
	CHECK_EQ(drain(&p, ids, MAXD), 10);
	CHECK_EQ(b.datagrams, 10);
	CHECK_EQ(b.dropped, 0);
	CHECK_EQ(b.grouped, 0);
	close(p.fd);
}

int main(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		abort();
	two_peers(fd, true);
	two_peers(fd, false);
	barrier(fd);
	barrier_across_peers(fd);
	refused(fd);
	close(fd);
	return check_summary();
}
