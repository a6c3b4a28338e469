/* bench_sipsink: SUBSCRIBEs out, NOTIFYs in, 200s back. */
#include "bench/bench_sipsink.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/udp_batch.h"

#define BATCH BENCH_SIPSINK_BATCH
/* sbuf holds the 200s a udp_batch has queued */
_Static_assert(BENCH_SIPSINK_BATCH == UDP_BATCH_MAX, "one 200 buffer per queued datagram");
#define SOCK_BUF (4 << 20)
#define REPLY_MAX 2048

int bench_udp_socket(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int buf = SOCK_BUF, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

struct bench_sipsink *bench_sipsink_new(uint32_t nsubs, const uint32_t *sub_account)
{
	struct bench_sipsink *s = calloc(1, sizeof(*s));
	size_t n = nsubs ? nsubs : 1;
	int one = 1;

	if (!s)
		abort();
	s->nsubs = nsubs;
	s->sub_account = calloc(n, sizeof(*s->sub_account));
	s->last_cseq = calloc(n, sizeof(*s->last_cseq));
	s->seen = calloc(n, sizeof(*s->seen));
	s->subscribed = calloc(n, 1);
	s->cap = calloc(BENCH_SIPSINK_CAPTURE, BENCH_SIPSINK_DGRAM);
	s->rbuf = malloc(BATCH * sizeof(*s->rbuf));
	if (!s->sub_account || !s->last_cseq || !s->seen || !s->subscribed || !s->cap || !s->rbuf)
		abort();
	if (nsubs)
		memcpy(s->sub_account, sub_account, nsubs * sizeof(*sub_account));
	for (int i = 0; i < BATCH; i++) {
		s->riov[i] = (struct iovec){ s->rbuf[i], BENCH_SIPSINK_READ - 1 };
		s->rm[i].msg_hdr.msg_iov = &s->riov[i];
		s->rm[i].msg_hdr.msg_iovlen = 1;
	}
	s->fd = bench_udp_socket(&s->port);
	if (s->fd < 0) {
		s->fd = -1;
		bench_sipsink_free(s);
		return NULL;
	}
	/* The kernel stamps each NOTIFY as it reaches the socket: the latency
	 * ends there, not when this thread (sharing the CPUs with pnad) gets
	 * to read it. */
	setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	/* The sink stands for thousands of subscribers: a GSO send of NOTIFYs
	 * reaches it whole, to be cut here, not in the kernel (in pnad's send). */
	setsockopt(s->fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	if (!(s->ans = malloc(sizeof(*s->ans))))
		abort();
	udp_batch_init(s->ans, s->fd);
	s->ans->gso = false; /* one 200 per datagram, as SIP peers answer */
	return s;
}

void bench_sipsink_answer_gso(struct bench_sipsink *s)
{
	udp_batch_init(s->ans, s->fd); /* GSO as the kernel allows */
}

void bench_sipsink_free(struct bench_sipsink *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->sub_account);
	free(s->last_cseq);
	free(s->seen);
	free(s->subscribed);
	free(s->cap);
	free(s->rbuf);
	free(s->ans);
	free(s);
}

void bench_sipsink_reset(struct bench_sipsink *s)
{
	s->notifies = s->repeats = s->out_of_order = s->unknown = s->answered = 0;
	s->t_first = s->t_last = 0;
	bench_lat_reset(&s->lat);
	bench_lat_reset(&s->warm);
	s->warm_until = 0;
}

static bool hdr_is(const char *line, size_t len, const char *name, const char *compact)
{
	size_t n;

	if ((line[0] | 0x20) != (name[0] | 0x20) && (line[0] | 0x20) != (compact[0] | 0x20))
		return false; /* most lines: no second look */
	n = strlen(name);
	if (len > n && !strncasecmp(line, name, n) && (line[n] == ':' || line[n] == ' '))
		return true;
	n = strlen(compact);
	return len > n && !strncasecmp(line, compact, n) && (line[n] == ':' || line[n] == ' ');
}

/* A 200 OK to the request in m (its Via, From, To, Call-ID and CSeq
 * copied, RFC 3261 8.2.6.2) into out; its length, 0 when it does not fit. */
static size_t build_ok(const char *m, size_t len, char *out, size_t cap)
{
	const char *p = m, *end = m + len;
	size_t o = 0;

	o += (size_t)snprintf(out, cap, "SIP/2.0 200 OK\r\n");
	p = memchr(p, '\n', (size_t)(end - p));
	while (p && ++p < end && *p != '\r' && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);

		if (hdr_is(p, l, "Via", "v") || hdr_is(p, l, "From", "f") ||
		    hdr_is(p, l, "To", "t") || hdr_is(p, l, "Call-ID", "i") ||
		    hdr_is(p, l, "CSeq", "CSeq")) {
			if (o + l + 1 >= cap)
				return 0;
			memcpy(out + o, p, l);
			o += l;
		}
		p = nl;
	}
	if (o + 24 >= cap)
		return 0;
	memcpy(out + o, "Content-Length: 0\r\n\r\n", 21);
	return o + 21;
}

/* The subscription a message's Call-ID ("bs-<sub>") names, or -1. */
static long call_sub(const struct bench_sipsink *s, const char *m)
{
	const char *c = strstr(m, "\nCall-ID: bs-");
	unsigned long k;

	if (!c)
		return -1;
	k = strtoul(c + 13, NULL, 10);
	return k < s->nsubs ? (long)k : -1;
}

/* A 200 to one of our SUBSCRIBEs. */
static void on_response(struct bench_sipsink *s, const char *m)
{
	long k = call_sub(s, m);

	if (strncmp(m, "SIP/2.0 200", 11) || k < 0 || !strstr(m, " SUBSCRIBE\r\n"))
		return;
	if (!s->subscribed[k]) {
		s->subscribed[k] = 1;
		s->subs_ok++;
	}
}

/* Note CSeq `c` of subscription k (a window of the last 64): false when it
 * was seen already (a retransmission). */
static bool check_cseq(struct bench_sipsink *s, uint32_t k, unsigned long c)
{
	uint32_t last = s->last_cseq[k];

	if (c > last) {
		s->dialogs_notified += last == 0;
		s->seen[k] = c - last >= 64 ? 1 : s->seen[k] << (c - last) | 1;
		s->last_cseq[k] = (uint32_t)c;
		return true;
	}
	if (last - c < 64 && s->seen[k] >> (last - c) & 1) {
		s->repeats++;
		return false;
	}
	if (last - c < 64)
		s->seen[k] |= 1ull << (last - c);
	s->out_of_order++;
	return true;
}

/* Count a NOTIFY: its dialog, its CSeq, and the latency of the count it
 * carries ("Text-Message: <unseen>/<seen>", RFC 3842). */
static void on_notify(struct bench_sipsink *s, const char *m, double now, double arrived)
{
	long k = call_sub(s, m);
	const char *c = strstr(m, "\nCSeq: "), *t;
	unsigned long cseq = c ? strtoul(c + 7, NULL, 10) : 0;

	/* read by a gated sender's thread (bench_sender_gate) */
	__atomic_store_n(&s->notifies, s->notifies + 1, __ATOMIC_RELAXED);
	s->t_last = now;
	if (!s->t_first)
		s->t_first = now;
	if (k < 0) {
		s->unknown++;
		return;
	}
	if (!check_cseq(s, (uint32_t)k, cseq))
		return;
	if (s->due && (t = strstr(m, "\nText-Message: "))) {
		char *sl;
		unsigned long unseen = strtoul(t + 15, &sl, 10), seen = 0;
		double due;

		if (*sl == '/')
			seen = strtoul(sl + 1, NULL, 10);
		due = s->due(s->due_arg, s->sub_account[k], (uint32_t)(unseen + seen));
		if (due < 0)
			return;
		bench_lat_add(due < s->warm_until ? &s->warm : &s->lat, arrived - due);
		if (s->trace)
			fprintf(s->trace, "%.6f %.6f %.6f %ld\n", due - s->trace_t0,
				arrived - s->trace_t0, arrived - due, k);
	}
}

/* Read one batch without waiting: how many datagrams (0: none). */
static int sink_read(struct bench_sipsink *s)
{
	int n;

	for (int i = 0; i < BATCH; i++) {
		s->rm[i].msg_hdr.msg_name = &s->raddr[i];
		s->rm[i].msg_hdr.msg_namelen = sizeof(s->raddr[i]);
		s->rm[i].msg_hdr.msg_control = s->rctl[i];
		s->rm[i].msg_hdr.msg_controllen = sizeof(s->rctl[i]);
	}
	n = recvmmsg(s->fd, s->rm, BATCH, MSG_DONTWAIT, NULL);
	return n > 0 ? n : 0;
}

/* What the kernel said of read h: when its datagrams reached the socket
 * (the SO_TIMESTAMPNS stamp, CLOCK_REALTIME) on bench_now()'s clock, `now`
 * (the read) when it gave no stamp; and with UDP_GRO the length of each
 * datagram in it but the last (0: one datagram). */
static double read_meta(const struct msghdr *h, double now, double real_minus_mono, size_t *seg)
{
	double at = now;

	*seg = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		struct timespec ts;
		int gso;

		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
			memcpy(&gso, CMSG_DATA(c), sizeof(gso));
			*seg = gso > 0 ? (size_t)gso : 0;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			at = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - real_minus_mono;
		}
	}
	return at;
}

/* Send the 200s queued: a lost one costs the peer a retransmission,
 * counted. */
static void sink_flush(struct bench_sipsink *s)
{
	uint64_t before = s->ans->datagrams;

	udp_batch_flush(s->ans);
	s->answered += s->ans->datagrams - before;
}

/* Count one datagram m (len bytes, from `from`) and queue its 200; the
 * queue goes out when full. */
static void sink_one(struct bench_sipsink *s, char *m, size_t len, const struct msghdr *from,
		     double now, double arrived)
{
	char *out, next = m[len]; /* the next datagram's first byte, in a GRO read */
	size_t r;

	if (len >= BENCH_SIPSINK_DGRAM) {
		s->unknown++; /* not one of pnad's NOTIFYs, nor a reply to us */
		return;
	}
	if (udp_batch_full(s->ans))
		sink_flush(s);
	m[len] = 0;
	if (strncmp(m, "NOTIFY ", 7)) {
		on_response(s, m);
		goto restore;
	}
	on_notify(s, m, now, arrived);
	if (s->capture && s->ncap < BENCH_SIPSINK_CAPTURE) {
		memcpy(s->cap[s->ncap], m, len);
		s->cap_len[s->ncap++] = (uint16_t)len;
	}
	out = s->sbuf[udp_batch_count(s->ans)];
	if ((r = build_ok(m, len, out, REPLY_MAX)))
		udp_batch_add(s->ans, out, r, from->msg_name, from->msg_namelen, false);
restore:
	m[len] = next;
}

/* Count and answer the n reads made: one sendmmsg for the 200s of up to
 * 64 NOTIFYs. */
static void sink_answer(struct bench_sipsink *s, int n)
{
	double now = bench_now(), real_minus_mono = bench_realtime() - now;

	for (int i = 0; i < n; i++) {
		const struct msghdr *h = &s->rm[i].msg_hdr;
		size_t len = s->rm[i].msg_len, seg, at;
		double arrived = read_meta(h, now, real_minus_mono, &seg);

		if (!seg)
			seg = len;
		for (at = 0; at < len; at += seg)
			sink_one(s, s->rbuf[i] + at, len - at < seg ? len - at : seg, h, now,
				 arrived);
	}
	sink_flush(s);
}

/* The socket is read before it is polled: under load there is nearly
 * always something, and the poll would be one more system call a batch. */
int bench_sipsink_poll(struct bench_sipsink *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	int total = 0, n = sink_read(s);

	if (!n) {
		if (!timeout_ms || poll(&pfd, 1, timeout_ms) <= 0)
			return 0;
		n = sink_read(s);
	}
	while (n > 0) {
		sink_answer(s, n);
		total += n;
		n = n == BATCH ? sink_read(s) : 0;
	}
	return total;
}

static size_t subscribe_msg(char *buf, size_t cap, uint32_t sub, uint32_t k, uint16_t sink_port)
{
	char acct[64];

	snprintf(acct, sizeof(acct), "user%u@example%u.com", k, k % 100);
	return (size_t)snprintf(
		buf, cap,
		"SUBSCRIBE sip:%s SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-bs-%u;rport\r\n"
		"From: <sip:%s>;tag=bs%u\r\nTo: <sip:%s>\r\nCall-ID: bs-%u\r\n"
		"CSeq: 1 SUBSCRIBE\r\nContact: <sip:s%u@127.0.0.1:%u;transport=udp>\r\n"
		"Max-Forwards: 70\r\nP-Asserted-Identity: <sip:%s>\r\n"
		"Event: message-summary\r\nAccept: application/simple-message-summary\r\n"
		"Expires: 3600\r\nContent-Length: 0\r\n\r\n",
		acct, sink_port, sub, acct, sub, acct, sub, sub, sink_port, acct);
}

/* Send the SUBSCRIBEs of subscriptions [from, to) that have no 200 yet, at
 * most `room` of them. How many were sent, or -errno. */
static int send_subscribes(struct bench_sipsink *s, const struct sockaddr_in *to, uint32_t from,
			   uint32_t end, uint32_t room, uint32_t *next)
{
	static char buf[BATCH][1024];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	uint32_t k = from;
	int q = 0;

	memset(mm, 0, sizeof(mm));
	for (; k < end && (uint32_t)q < room && q < BATCH; k++) {
		if (s->subscribed[k])
			continue;
		iov[q] = (struct iovec){ buf[q], subscribe_msg(buf[q], 1024, k, s->sub_account[k],
							       s->port) };
		mm[q].msg_hdr = (struct msghdr){ .msg_name = (void *)to,
						 .msg_namelen = sizeof(*to),
						 .msg_iov = &iov[q],
						 .msg_iovlen = 1 };
		q++;
	}
	*next = k;
	if (q && sendmmsg(s->fd, mm, (unsigned)q, 0) < 0)
		return -errno;
	return q;
}

int bench_sipsink_subscribe(struct bench_sipsink *s, uint16_t sip_port, uint32_t window)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(sip_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint32_t sent = 0, again = 0, tries = 0;
	double last = bench_now();
	int rc;

	while (s->subs_ok < s->nsubs || s->dialogs_notified < s->nsubs) {
		uint32_t out = sent - (uint32_t)s->subs_ok;

		if (sent < s->nsubs && out < window &&
		    (rc = send_subscribes(s, &to, sent, s->nsubs, window - out, &sent)) < 0)
			return rc;
		if (bench_sipsink_poll(s, 10) > 0) {
			last = bench_now();
			continue;
		}
		if (bench_now() - last < 1)
			continue;
		/* Nothing for a second: SUBSCRIBEs lost (the SIP worker may bind
		 * its port after the ingest one), so send the unanswered again,
		 * as a UAC's Timer E would; pnad absorbs duplicates. */
		if (++tries > 5)
			return -ETIMEDOUT;
		for (again = 0; again < sent;)
			if ((rc = send_subscribes(s, &to, again, sent, BATCH, &again)) < 0)
				return rc;
		last = bench_now();
	}
	return 0;
}
