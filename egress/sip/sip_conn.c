/* sip_conn: UDP and TCP transports of the SIP worker on one epoll: batched
 * datagram receive and send (recvmmsg/sendmmsg), TCP connections in
 * preallocated slots framed by sip_parse, reused per peer address (RFC
 * 3261 section 18). Run by the SIP egress worker. */
#include "egress/sip/sip_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "egress/sip/sip_parse.h"
#include "egress/sip/sip_tls.h"
#include "lib/udp_batch.h"

#define TAG_UDP 1ull
#define TAG_LISTEN 2ull
#define TAG_CONN 3ull
#define TAG_TLS_LISTEN 4ull
#define TAG(kind, gen, slot) (((kind) << 56) | ((uint64_t)((gen)&0xffffff) << 32) | (slot))

#define RX_CAP (SIP_MAX_MSG + 1024)
#define TX_CAP (256 * 1024)
#define UDP_DGRAM 4096
#define RECV_BATCH 64 /* 200s to a batch of NOTIFYs come together */

struct conn {
	int fd;
	uint32_t gen;
	bool used, closing, connecting, want_out;
	bool handshaking, trusted; /* TLS: handshake not done; trusted certificate */
	struct ssl_st *ssl;	   /* TLS session, NULL for TCP */
	int64_t hs_deadline;	   /* monotonic ms: the handshake must be done */
	struct sockaddr_storage addr;
	socklen_t alen;
	char *rx, *tx;
	size_t rxlen, txlen;
};

struct sip_net {
	int epfd, udp, lfd, tls_lfd;
	struct sip_seg *seg;
	char host[64];
	uint16_t port, tls_port;
	struct sip_tls *tls;
	uint32_t nconns, nused; /* slots, slots in use */
	struct conn *conns;
	/* outgoing datagrams of this pass, copied: callers build on the stack */
	struct udp_batch out;
	struct sockaddr_storage out_addr[UDP_BATCH_MAX];
	char out_buf[UDP_BATCH_MAX][UDP_DGRAM];
	/* incoming */
	bool gro; /* UDP_GRO on: a read may hold several datagrams of one peer */
	struct mmsghdr in[RECV_BATCH];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} in_ctl[RECV_BATCH];
	struct iovec in_iov[RECV_BATCH];
	struct sockaddr_storage in_addr[RECV_BATCH];
	char *in_buf; /* RECV_BATCH x (SIP_MAX_MSG + 1) */
};

/* Dotted-quad IPv4 as glibc's inet_pton(AF_INET) takes it: four decimal
 * parts of at most 255, no leading zero. Inline, without its strlen: every
 * NOTIFY resolves its peer from the dialog's route or target. */
static bool ip4_parse(const char *s, struct in_addr *out)
{
	uint32_t a = 0;

	for (int part = 0; part < 4; part++) {
		uint32_t v = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (uint32_t)(*s++ - '0');
			digits++;
		}
		if (!digits || digits > 3 || v > 255 || (digits > 1 && s[-digits] == '0') ||
		    *s != (part < 3 ? '.' : '\0'))
			return false;
		s++;
		a = a << 8 | v;
	}
	out->s_addr = htonl(a);
	return true;
}

int sip_addr_make(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (ip4_parse(ip, &a4->sin_addr)) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

void sip_addr_str(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint16_t *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a6->sin6_addr, ip, (socklen_t)iplen);
		*port = ntohs(a6->sin6_port);
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a4->sin_addr, ip, (socklen_t)iplen);
		*port = ntohs(a4->sin_port);
	}
}

static int bind_sock(int type, const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		int sz = 4 << 20;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int ep_add(int epfd, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int sip_net_open(const char *host, uint16_t port, uint32_t max_conns, int epfd, struct sip_seg *seg,
		 struct sip_net **out, char *err, size_t errlen)
{
	struct sip_net *n = calloc(1, sizeof(*n));
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (!n)
		abort();
	n->epfd = epfd;
	n->seg = seg;
	n->udp = n->lfd = n->tls_lfd = -1;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->port = port;
	n->nconns = max_conns;
	n->conns = calloc(max_conns, sizeof(*n->conns));
	n->in_buf = malloc((size_t)RECV_BATCH * (SIP_MAX_MSG + 1));
	if (!n->conns || !n->in_buf)
		abort();
	for (uint32_t i = 0; i < max_conns; i++)
		n->conns[i].fd = -1;
	if (sip_addr_make(host, port, &ss, &len) < 0) {
		snprintf(err, errlen, "sip_listen: %s is not a numeric address", host);
		rc = -EINVAL;
		goto err_free;
	}
	if ((rc = bind_sock(SOCK_DGRAM, &ss, len)) < 0) {
		snprintf(err, errlen, "sip_listen: udp %s:%u: %s", host, port, strerror(-rc));
		goto err_free;
	}
	n->udp = rc;
	udp_batch_init(&n->out, n->udp);
	/* Bursts of 200s from one peer (a CNA answering a batch of NOTIFYs)
	 * come up as one read when the kernel coalesces them; the buffers
	 * below are 64 KiB, as large as such a read. */
	n->gro = setsockopt(n->udp, SOL_UDP, UDP_GRO, &(int){ 1 }, sizeof(int)) == 0;
	if ((rc = bind_sock(SOCK_STREAM, &ss, len)) < 0) {
		snprintf(err, errlen, "sip_listen: tcp %s:%u: %s", host, port, strerror(-rc));
		goto err_free;
	}
	n->lfd = rc;
	for (unsigned i = 0; i < RECV_BATCH; i++) {
		n->in_iov[i] =
			(struct iovec){ n->in_buf + (size_t)i * (SIP_MAX_MSG + 1), SIP_MAX_MSG };
		n->in[i].msg_hdr.msg_iov = &n->in_iov[i];
		n->in[i].msg_hdr.msg_iovlen = 1;
	}
	if ((rc = ep_add(epfd, n->udp, EPOLLIN, TAG(TAG_UDP, 0, 0))) < 0 ||
	    (rc = ep_add(epfd, n->lfd, EPOLLIN, TAG(TAG_LISTEN, 0, 0))) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
		goto err_free;
	}
	*out = n;
	return 0;
err_free:
	sip_net_close(n);
	return rc;
}

void sip_net_close(struct sip_net *n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i < n->nconns; i++) {
		sip_tls_session_free(n->conns[i].ssl);
		if (n->conns[i].fd >= 0)
			close(n->conns[i].fd);
		free(n->conns[i].rx);
		free(n->conns[i].tx);
	}
	if (n->udp >= 0)
		close(n->udp);
	if (n->lfd >= 0)
		close(n->lfd);
	if (n->tls_lfd >= 0)
		close(n->tls_lfd);
	sip_tls_free(n->tls);
	free(n->conns);
	free(n->in_buf);
	free(n);
}

const char *sip_net_host(const struct sip_net *n)
{
	return n->host;
}

uint16_t sip_net_port(const struct sip_net *n)
{
	return n->port;
}

uint16_t sip_net_port_of(const struct sip_net *n, uint8_t tp)
{
	return tp == SIP_TP_TLS ? n->tls_port : n->port;
}

const char *sip_tp_name(uint8_t tp)
{
	return tp == SIP_TP_TLS ? "TLS" : tp == SIP_TP_TCP ? "TCP" : "UDP";
}

const char *sip_tp_lower(uint8_t tp)
{
	return tp == SIP_TP_TLS ? "tls" : tp == SIP_TP_TCP ? "tcp" : "udp";
}

void sip_net_contact(const struct sip_net *n, uint8_t tp, char *out, size_t cap)
{
	snprintf(out, cap, "<sip:%s:%u%s%s>", n->host, sip_net_port_of(n, tp),
		 tp == SIP_TP_UDP ? "" : ";transport=", tp == SIP_TP_UDP ? "" : sip_tp_lower(tp));
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sip_net_open_tls(struct sip_net *n, const char *host, uint16_t port, struct sip_tls *tls,
		     char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	n->tls = tls;
	if (sip_addr_make(host, port, &ss, &len) < 0) {
		snprintf(err, errlen, "sip_tls_listen: %s is not a numeric address", host);
		return -EINVAL;
	}
	if ((rc = bind_sock(SOCK_STREAM, &ss, len)) < 0) {
		snprintf(err, errlen, "sip_tls_listen: tcp %s:%u: %s", host, port, strerror(-rc));
		return rc;
	}
	n->tls_lfd = rc;
	n->tls_port = port;
	if ((rc = ep_add(n->epfd, n->tls_lfd, EPOLLIN, TAG(TAG_TLS_LISTEN, 0, 0))) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static struct conn *conn_new(struct sip_net *n, int fd, const struct sockaddr_storage *a,
			     socklen_t alen, uint32_t *slot)
{
	for (uint32_t i = 0; i < n->nconns; i++) {
		struct conn *c = &n->conns[i];

		if (c->used || c->fd >= 0)
			continue;
		if (!c->rx) {
			c->rx = malloc(RX_CAP);
			c->tx = malloc(TX_CAP);
			if (!c->rx || !c->tx)
				abort();
		}
		c->used = true;
		n->nused++;
		c->closing = c->connecting = c->want_out = false;
		c->handshaking = c->trusted = false;
		c->ssl = NULL;
		c->fd = fd;
		c->gen++;
		c->addr = *a;
		c->alen = alen;
		c->rxlen = c->txlen = 0;
		*slot = i;
		SIP_COUNT(n->seg, tcp_open, 1);
		return c;
	}
	return NULL;
}

/* A TLS connection starts with its handshake, bounded in time so that a
 * peer that stalls or sends garbage only holds its own slot, briefly. */
static int tls_begin(struct sip_net *n, struct conn *c)
{
	c->ssl = sip_tls_session(n->tls, c->fd);
	if (!c->ssl)
		return -ENOMEM;
	c->handshaking = true;
	c->hs_deadline = mono_ms() + SIP_TLS_HANDSHAKE_MS;
	return 0;
}

static void on_accept(struct sip_net *n, bool tls)
{
	for (;;) {
		struct sockaddr_storage a;
		socklen_t alen = sizeof(a);
		int fd = accept4(tls ? n->tls_lfd : n->lfd, (struct sockaddr *)&a, &alen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;
		uint32_t slot;
		int one = 1;

		if (fd < 0)
			return;
		c = conn_new(n, fd, &a, alen, &slot);
		if (!c) {
			close(fd);
			SIP_COUNT(n->seg, tcp_refused, 1);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		SIP_COUNT(n->seg, tcp_accepted, 1);
		if (tls && tls_begin(n, c) < 0) {
			c->closing = true;
			continue;
		}
		ep_add(n->epfd, fd, EPOLLIN | EPOLLRDHUP, TAG(TAG_CONN, c->gen, slot));
	}
}

static void conn_frame(struct sip_net *n, struct conn *c, uint32_t slot, sip_net_msg_fn fn,
		       void *arg)
{
	struct sip_peer from = { .tp = c->ssl ? SIP_TP_TLS : SIP_TP_TCP,
				 .cert_trusted = c->trusted,
				 .conn = slot,
				 .gen = c->gen,
				 .addr = c->addr,
				 .alen = c->alen };
	size_t off = 0;

	(void)n;
	while (off < c->rxlen && !c->closing) {
		static struct sip_msg m;
		const char *why = NULL;
		int rc = sip_parse(&m, c->rx + off, c->rxlen - off, true, &why);

		if (rc == -EAGAIN) {
			if (c->rxlen - off >= RX_CAP - 1) {
				fn(arg, c->rx + off, c->rxlen - off, &from);
				c->closing = true;
			}
			break;
		}
		if (rc < 0) {
			/* framing is lost: the callback answers 400, then we close */
			fn(arg, c->rx + off, c->rxlen - off, &from);
			c->closing = true;
			break;
		}
		if (c->rx[off] != '\r' && c->rx[off] != '\n')
			fn(arg, c->rx + off, (size_t)rc, &from);
		off += (size_t)rc;
	}
	memmove(c->rx, c->rx + off, c->rxlen - off);
	c->rxlen -= off;
}

static void conn_read(struct sip_net *n, struct conn *c, uint32_t slot, sip_net_msg_fn fn,
		      void *arg)
{
	for (;;) {
		ssize_t r = c->ssl ? sip_tls_read(c->ssl, c->rx + c->rxlen, RX_CAP - c->rxlen)
				   : read(c->fd, c->rx + c->rxlen, RX_CAP - c->rxlen);

		if (r > 0) {
			c->rxlen += (size_t)r;
			conn_frame(n, c, slot, fn, arg);
			if (c->closing)
				return;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			c->closing = true;
		return;
	}
}

static void conn_write(struct sip_net *n, struct conn *c, uint32_t slot)
{
	size_t off = 0;
	bool want;

	if (c->connecting || c->handshaking)
		return;
	while (off < c->txlen) {
		ssize_t w = c->ssl ? sip_tls_write(c->ssl, c->tx + off, c->txlen - off)
				   : write(c->fd, c->tx + off, c->txlen - off);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			c->closing = true;
		break;
	}
	memmove(c->tx, c->tx + off, c->txlen - off);
	c->txlen -= off;
	want = c->txlen > 0;
	if (want != c->want_out && !c->closing) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0),
					  .data.u64 = TAG(TAG_CONN, c->gen, slot) };

		epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
}

/* The datagrams of one read: with UDP_GRO the kernel hands several of
 * one peer together and says their length (all but the last are as long). */
static void udp_each_datagram(struct sip_net *n, const struct msghdr *h, size_t len,
			      sip_net_msg_fn fn, void *arg, const struct sip_peer *from)
{
	const char *buf = h->msg_iov[0].iov_base;
	size_t seg = len;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		int v;

		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO)
			continue;
		memcpy(&v, CMSG_DATA(c), sizeof(v));
		if (v > 0)
			seg = (size_t)v;
	}
	if (seg < len)
		SIP_COUNT(n->seg, udp_coalesced_reads, 1);
	for (size_t off = 0; off < len; off += seg)
		fn(arg, buf + off, len - off < seg ? len - off : seg, from);
}

static void on_udp(struct sip_net *n, sip_net_msg_fn fn, void *arg)
{
	for (;;) {
		int got;

		for (unsigned i = 0; i < RECV_BATCH; i++) {
			n->in[i].msg_hdr.msg_name = &n->in_addr[i];
			n->in[i].msg_hdr.msg_namelen = sizeof(n->in_addr[i]);
			n->in[i].msg_hdr.msg_control = n->gro ? n->in_ctl[i].buf : NULL;
			n->in[i].msg_hdr.msg_controllen = n->gro ? sizeof(n->in_ctl[i].buf) : 0;
		}
		got = recvmmsg(n->udp, n->in, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		for (int i = 0; i < got; i++) {
			struct sip_peer from = { .tp = SIP_TP_UDP };

			from.addr = n->in_addr[i];
			from.alen = n->in[i].msg_hdr.msg_namelen;
			udp_each_datagram(n, &n->in[i].msg_hdr, n->in[i].msg_len, fn, arg, &from);
		}
		if (got < RECV_BATCH)
			return;
	}
}

/* Drive a TLS handshake: true once it is done (the connection then reads
 * what may already have come with it). */
static bool tls_step(struct sip_net *n, struct conn *c, uint32_t slot)
{
	bool want_write;
	int rc = sip_tls_handshake(c->ssl, &want_write);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want_write ? EPOLLOUT : 0),
				  .data.u64 = TAG(TAG_CONN, c->gen, slot) };

	if (rc < 0) {
		SIP_COUNT(n->seg, tls_handshake_failures, 1);
		c->closing = true;
		return false;
	}
	if (rc == 0) {
		if (want_write != c->want_out) {
			epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			c->want_out = want_write;
		}
		return false;
	}
	c->handshaking = false;
	c->trusted = sip_tls_peer_trusted(n->tls, c->ssl);
	SIP_COUNT(n->seg, tls_accepted, 1);
	if (c->trusted)
		SIP_COUNT(n->seg, tls_trusted, 1);
	if (c->want_out) {
		ev.events = EPOLLIN | EPOLLRDHUP;
		epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = false;
	}
	return true;
}

bool sip_net_event(struct sip_net *n, uint64_t data, uint32_t events, sip_net_msg_fn fn, void *arg)
{
	uint64_t kind = data >> 56;
	uint32_t slot = (uint32_t)data, gen = (uint32_t)(data >> 32) & 0xffffff;
	struct conn *c;

	if (kind == TAG_UDP) {
		on_udp(n, fn, arg);
		return true;
	}
	if (kind == TAG_LISTEN || kind == TAG_TLS_LISTEN) {
		on_accept(n, kind == TAG_TLS_LISTEN);
		return true;
	}
	if (kind != TAG_CONN)
		return false;
	if (slot >= n->nconns)
		return true;
	c = &n->conns[slot];
	if (!c->used || (c->gen & 0xffffff) != gen)
		return true;
	if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int e = 0;
		socklen_t el = sizeof(e);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
		c->connecting = false;
		if (e) {
			c->closing = true;
			return true;
		}
	}
	if (c->handshaking && !tls_step(n, c, slot))
		return true;
	if (events & EPOLLIN)
		conn_read(n, c, slot, fn, arg);
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		c->closing = true;
	if (!c->closing)
		conn_write(n, c, slot);
	return true;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	{
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
}

static struct conn *conn_for(struct sip_net *n, const struct sip_peer *to, uint32_t *slot)
{
	bool tls = to->tp == SIP_TP_TLS;
	struct conn *c;
	int fd, one = 1;

	if (to->conn < n->nconns) {
		c = &n->conns[to->conn];
		if (c->used && !c->closing && c->gen == to->gen) {
			*slot = to->conn;
			return c;
		}
	}
	for (uint32_t i = 0; i < n->nconns; i++) {
		c = &n->conns[i];
		if (c->used && !c->closing && !c->handshaking && !c->ssl == !tls &&
		    same_addr(&c->addr, &to->addr)) {
			*slot = i;
			return c;
		}
	}
	if (tls)
		return NULL; /* a TLS client's port is not a server: no dialling */
	fd = socket(to->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (const struct sockaddr *)&to->addr, to->alen) < 0 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	c = conn_new(n, fd, &to->addr, to->alen, slot);
	if (!c) {
		close(fd);
		SIP_COUNT(n->seg, tcp_refused, 1);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->connecting = true;
	c->want_out = true;
	ep_add(n->epfd, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, TAG(TAG_CONN, c->gen, *slot));
	return c;
}

int sip_net_send(struct sip_net *n, const struct sip_peer *to, const char *buf, size_t len,
		 bool ordered)
{
	if (to->tp != SIP_TP_UDP) {
		uint32_t slot;
		struct conn *c = conn_for(n, to, &slot);

		if (!c)
			return -ENOTCONN;
		if (TX_CAP - c->txlen < len) {
			c->closing = true; /* a peer that does not read */
			return -ENOBUFS;
		}
		memcpy(c->tx + c->txlen, buf, len);
		c->txlen += len;
		return 0;
	}
	if (len > UDP_DGRAM)
		return -EMSGSIZE;
	if (udp_batch_full(&n->out))
		sip_net_flush(n);
	{
		unsigned i = udp_batch_count(&n->out);

		memcpy(n->out_buf[i], buf, len);
		n->out_addr[i] = to->addr;
		udp_batch_add(&n->out, n->out_buf[i], len, (const struct sockaddr *)&n->out_addr[i],
			      to->alen, ordered);
	}
	return 0;
}

void sip_net_flush(struct sip_net *n)
{
	uint64_t dropped = n->out.dropped, grouped = n->out.grouped;

	udp_batch_flush(&n->out);
	SIP_COUNT(n->seg, udp_dropped, n->out.dropped - dropped);
	SIP_COUNT(n->seg, udp_grouped, n->out.grouped - grouped);
	for (uint32_t i = 0; n->nused && i < n->nconns; i++) {
		struct conn *c = &n->conns[i];

		if (c->used && c->txlen && !c->closing)
			conn_write(n, c, i);
	}
}

void sip_net_reap(struct sip_net *n)
{
	int64_t now = n->tls ? mono_ms() : 0;

	for (uint32_t i = 0; n->nused && i < n->nconns; i++) {
		struct conn *c = &n->conns[i];

		if (c->used && c->handshaking && now > c->hs_deadline && !c->closing) {
			SIP_COUNT(n->seg, tls_handshake_failures, 1);
			c->closing = true;
		}
		if (!c->used || !c->closing)
			continue;
		if (c->txlen && c->fd >= 0) {
			c->closing = false; /* last words (a 400) before closing */
			conn_write(n, c, i);
			c->closing = true;
		}
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		sip_tls_session_free(c->ssl);
		c->ssl = NULL;
		close(c->fd);
		c->fd = -1;
		c->used = false;
		n->nused--;
		SIP_COUNT(n->seg, tcp_open, (uint64_t)-1);
	}
}
