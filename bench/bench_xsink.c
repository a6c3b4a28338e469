/* bench_xsink: the counting XEP-0114 server of pna-bench (see the header):
 * listener, per-connection handshake, the <message> scan, IQ answers and
 * injected subscribes, and the blocking client a baseline writer uses. */
#include "bench/bench_xsink.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "egress/xmpp/xmpp_stream.h"

#define IN_CAP (256u << 10)
#define OUT_CAP (256u << 10)
#define TAG_MAX 4096 /* an IQ start tag longer than this is skipped, not parsed */
#define SOCK_BUF (4 << 20)

enum link_state { L_FREE, L_HEADER, L_HANDSHAKE, L_READY };

struct xlink {
	enum link_state st;
	int fd;
	char id[32]; /* our stream id */
	char *in, *out;
	size_t ilen, olen, ooff;
};

struct bench_xsink {
	struct bench_xsink_opts o;
	int lfd;
	uint16_t port;
	uint32_t next_id;
	struct xlink l[BENCH_XSINK_MAX_LINKS];
	struct bench_xsink_stats st;
	uint8_t *answered; /* per account: a result or error came */
	bool capturing;
	char *cap;	       /* opts.capture bytes */
	size_t cap_len;	       /* bytes copied */
	size_t cap_cut;	       /* end of the last whole stanza in cap */
	uint64_t cap_msgs;     /* <message> starts copied */
	uint64_t cap_msgs_cut; /* ... before cap_cut */
	bool cap_started;      /* a <message> start has been copied */
};

/* --- links --- */

static void link_close(struct bench_xsink *s, struct xlink *l)
{
	if (l->st == L_READY)
		s->st.links--;
	close(l->fd);
	l->fd = -1;
	l->st = L_FREE;
	l->ilen = l->olen = l->ooff = 0;
}

/* Queue bytes on l. 0 or -ENOBUFS. */
static int link_queue(struct xlink *l, const char *b, size_t n)
{
	if (l->ooff && l->olen + n > OUT_CAP) {
		memmove(l->out, l->out + l->ooff, l->olen - l->ooff);
		l->olen -= l->ooff;
		l->ooff = 0;
	}
	if (l->olen + n > OUT_CAP)
		return -ENOBUFS;
	memcpy(l->out + l->olen, b, n);
	l->olen += n;
	return 0;
}

static int link_flush(struct xlink *l)
{
	while (l->ooff < l->olen) {
		ssize_t n = send(l->fd, l->out + l->ooff, l->olen - l->ooff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -EPIPE;
		l->ooff += (size_t)n;
	}
	l->olen = l->ooff = 0;
	return 0;
}

static void on_accept(struct bench_xsink *s)
{
	int one = 1, buf = SOCK_BUF, fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct xlink *l = NULL;

	if (fd < 0)
		return;
	s->st.accepted++;
	for (int i = 0; i < BENCH_XSINK_MAX_LINKS && !l; i++)
		if (s->l[i].st == L_FREE)
			l = &s->l[i];
	if (!l) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	l->fd = fd;
	l->st = L_HEADER;
	snprintf(l->id, sizeof(l->id), "bx%u", ++s->next_id);
}

/* --- the handshake (RFC 6120 4.2 stream header, XEP-0114 section 3) --- */

static void refuse(struct bench_xsink *s, struct xlink *l, const char *cond)
{
	char m[256];
	int n = snprintf(m, sizeof(m),
			 "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
			 "</stream:error></stream:stream>",
			 cond);

	link_queue(l, m, (size_t)n);
	link_flush(l);
	s->st.bad_handshakes++;
	link_close(s, l);
}

/* The value of attribute `name` in the start tag [tag, end), either quote,
 * into out. 0 or -ENOENT. */
static int tag_attr(const char *tag, const char *end, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *p = tag + 1; p + nl + 2 < end; p++) {
		const char *q;

		if (p[-1] != ' ' || memcmp(p, name, nl) || p[nl] != '=' ||
		    (p[nl + 1] != '\'' && p[nl + 1] != '"'))
			continue;
		q = memchr(p + nl + 2, p[nl + 1], (size_t)(end - p - nl - 2));
		if (!q || (size_t)(q - p - nl - 2) >= cap)
			return -ENOENT;
		memcpy(out, p + nl + 2, (size_t)(q - p - nl - 2));
		out[q - p - nl - 2] = '\0';
		return 0;
	}
	return -ENOENT;
}

/* Bytes of l->in used by the header or handshake, 0 for "need more", -1
 * when the link was refused. */
static long on_opening(struct bench_xsink *s, struct xlink *l)
{
	char *b = l->in, *e = b + l->ilen, to[160], m[512], hex[41];
	char *p, *gt;

	*e = '\0';
	if (l->st == L_HEADER) {
		if (!(p = strstr(b, "<stream:stream")) || !(gt = strchr(p, '>')))
			return l->ilen > 4096 ? (refuse(s, l, "bad-format"), -1) : 0;
		if (tag_attr(p, gt, "to", to, sizeof(to)) < 0 || strcmp(to, s->o.component)) {
			refuse(s, l, "host-unknown");
			return -1;
		}
		snprintf(m, sizeof(m),
			 "<?xml version='1.0'?><stream:stream xmlns='" XMPP_NS_CLIENT
			 "' xmlns:stream='" XMPP_NS_STREAMS "' id='%s' from='%s'>",
			 l->id, s->o.component);
		link_queue(l, m, strlen(m));
		l->st = L_HANDSHAKE;
		return gt + 1 - b;
	}
	if (!(p = strstr(b, "<handshake>")) || !(gt = strstr(p, "</handshake>")))
		return l->ilen > 4096 ? (refuse(s, l, "bad-format"), -1) : 0;
	xmpp_stream_handshake(l->id, s->o.secret, hex);
	if (gt - p - 11 != 40 || memcmp(p + 11, hex, 40)) {
		refuse(s, l, "not-authorized");
		return -1;
	}
	link_queue(l, "<handshake/>", 12);
	l->st = L_READY;
	s->st.links++;
	return gt + 12 - b;
}

/* --- the scan --- */

/* An IQ start tag [tag, end) from the component: a result or error to one
 * of our subscribes, or a get/set (its pings) answered with an empty
 * result. */
static void on_iq(struct bench_xsink *s, struct xlink *l, const char *tag, const char *end)
{
	char type[16], id[128], from[256], to[256], m[768];
	unsigned long k;
	int n;

	if (tag_attr(tag, end, "type", type, sizeof(type)) < 0 ||
	    tag_attr(tag, end, "id", id, sizeof(id)) < 0)
		return;
	if (!strcmp(type, "result") || !strcmp(type, "error")) {
		if (strncmp(id, "bx-", 3) || (k = strtoul(id + 3, NULL, 10)) >= s->o.accounts ||
		    s->answered[k])
			return;
		s->answered[k] = 1;
		if (type[0] == 'r')
			s->st.subscribed++;
		else
			s->st.refused++;
		return;
	}
	if (tag_attr(tag, end, "from", from, sizeof(from)) < 0 ||
	    tag_attr(tag, end, "to", to, sizeof(to)) < 0)
		return;
	n = snprintf(m, sizeof(m), "<iq type='result' id='%s' from='%s' to='%s'/>", id, to, from);
	if (n > 0 && (size_t)n < sizeof(m) && link_queue(l, m, (size_t)n) == 0)
		s->st.iq_answered++;
}

static void capture(struct bench_xsink *s, const char *b, size_t n)
{
	size_t room = s->o.capture - s->cap_len;

	if (!s->capturing || !s->cap_started)
		return;
	memcpy(s->cap + s->cap_len, b, n < room ? n : room);
	s->cap_len += n < room ? n : room;
	if (n >= room)
		s->capturing = false;
}

/* A <message> starts at the capture's end: what was copied before it is
 * whole stanzas. */
static void capture_mark(struct bench_xsink *s)
{
	if (s->cap_started) {
		s->cap_cut = s->cap_len;
		s->cap_msgs_cut = s->cap_msgs;
	}
	s->cap_started = true;
	s->cap_msgs++;
}

/* Scan l->in on an attached link; bytes consumed (the rest may be the
 * start of a tag cut by the read). */
static size_t scan(struct bench_xsink *s, struct xlink *l, uint64_t *msgs)
{
	const char *b = l->in;
	size_t len = l->ilen, p = 0, start = 0;

	while (p < len) {
		const char *q = memchr(b + p, '<', len - p);
		size_t i, rem;

		if (!q) {
			p = len;
			break;
		}
		i = (size_t)(q - b);
		rem = len - i;
		if (rem < 16) {
			p = i;
			break;
		}
		if (b[i + 1] == 'm' && !memcmp(b + i, "<message", 8) &&
		    (b[i + 8] == ' ' || b[i + 8] == '>')) {
			if (s->capturing) {
				capture(s, b + start, i - start);
				start = i;
				if (s->capturing)
					capture_mark(s);
			}
			(*msgs)++;
			p = i + 8;
		} else if (b[i + 1] == 'i' && !memcmp(b + i, "<iq", 3) &&
			   (b[i + 3] == ' ' || b[i + 3] == '>')) {
			const char *gt = memchr(b + i, '>', rem < TAG_MAX ? rem : TAG_MAX);

			if (!gt && rem < TAG_MAX) {
				p = i;
				break;
			}
			if (gt)
				on_iq(s, l, b + i, gt);
			p = gt ? (size_t)(gt - b) + 1 : i + 3;
		} else {
			p = i + 1;
		}
	}
	capture(s, b + start, p - start);
	return p;
}

/* Read what l has; bytes read or -1 when it closed. */
static long link_read(struct bench_xsink *s, struct xlink *l)
{
	long total = 0;

	for (;;) {
		ssize_t n = recv(l->fd, l->in + l->ilen, IN_CAP - 1 - l->ilen, MSG_DONTWAIT);
		uint64_t msgs = 0;
		long used;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return total;
		if (n <= 0) {
			link_close(s, l);
			return total ? total : -1;
		}
		total += n;
		if (l->st == L_READY)
			s->st.bytes += (uint64_t)n;
		l->ilen += (size_t)n;
		while (l->st != L_READY && l->ilen) {
			if ((used = on_opening(s, l)) <= 0)
				return used < 0 ? -1 : total;
			memmove(l->in, l->in + used, l->ilen - (size_t)used);
			l->ilen -= (size_t)used;
			s->st.bytes += l->st == L_READY ? l->ilen : 0;
		}
		used = (long)scan(s, l, &msgs);
		memmove(l->in, l->in + used, l->ilen - (size_t)used);
		l->ilen -= (size_t)used;
		if (msgs) {
			s->st.t_last = bench_now();
			if (!s->st.messages)
				s->st.t_first = s->st.t_last;
			s->st.messages += msgs;
		}
	}
}

long bench_xsink_poll(struct bench_xsink *s, int timeout_ms)
{
	struct pollfd pfd[BENCH_XSINK_MAX_LINKS + 1];
	struct xlink *who[BENCH_XSINK_MAX_LINKS + 1];
	long total = 0;
	int n = 1, r;

	pfd[0] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (int i = 0; i < BENCH_XSINK_MAX_LINKS; i++) {
		struct xlink *l = &s->l[i];

		if (l->st == L_FREE)
			continue;
		if (l->ooff < l->olen && link_flush(l) < 0) {
			link_close(s, l);
			continue;
		}
		who[n] = l;
		pfd[n++] = (struct pollfd){ .fd = l->fd,
					    .events = POLLIN | (l->ooff < l->olen ? POLLOUT : 0) };
	}
	r = poll(pfd, (nfds_t)n, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[0].revents & POLLIN)
		on_accept(s);
	for (int i = 1; i < n; i++) {
		long got;

		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = link_read(s, who[i]);
		if (got > 0)
			total += got;
		if (who[i]->st != L_FREE && link_flush(who[i]) < 0)
			link_close(s, who[i]);
	}
	return total;
}

int bench_xsink_wait_links(struct bench_xsink *s, uint32_t n, double timeout)
{
	double end = bench_now() + timeout;

	while (s->st.links < n) {
		if (bench_now() > end)
			return -ETIMEDOUT;
		if (bench_xsink_poll(s, 20) < 0)
			return -EIO;
	}
	return 0;
}

/* --- injection --- */

int bench_xsink_inject(struct bench_xsink *s, const char *xml, size_t len)
{
	for (int i = 0; i < BENCH_XSINK_MAX_LINKS; i++)
		if (s->l[i].st == L_READY)
			return link_queue(&s->l[i], xml, len);
	return -ENOTCONN;
}

int bench_xsink_subscribe(struct bench_xsink *s, uint32_t k)
{
	char m[1024], acct[64];
	int n;

	if (k >= s->o.accounts)
		return -EINVAL;
	snprintf(acct, sizeof(acct), "user%u@example%u.com", k, k % 100);
	n = snprintf(m, sizeof(m),
		     "<iq type='set' id='bx-%u' from='%s/b' to='%s'><pubsub xmlns='"
		     "http://jabber.org/protocol/pubsub'><subscribe node='%s/mail_events/INBOX' "
		     "jid='%s'/></pubsub></iq>",
		     k, acct, s->o.component, acct, acct);
	return bench_xsink_inject(s, m, (size_t)n);
}

int bench_xsink_subscribe_all(struct bench_xsink *s, uint32_t n, uint32_t window, double idle)
{
	uint64_t base = s->st.subscribed + s->st.refused;
	uint32_t sent = 0;
	double last = bench_now();

	if (n > s->o.accounts)
		return -EINVAL;
	memset(s->answered, 0, s->o.accounts);
	while (s->st.subscribed + s->st.refused - base < n) {
		uint64_t done = s->st.subscribed + s->st.refused - base;
		int rc = 0;

		while (sent < n && sent - done < window &&
		       (rc = bench_xsink_subscribe(s, sent)) == 0)
			sent++;
		if (rc == -ENOTCONN)
			return rc;
		if (bench_xsink_poll(s, 10) > 0)
			last = bench_now();
		else if (bench_now() - last > idle)
			return -ETIMEDOUT;
	}
	return 0;
}

/* --- counters and capture --- */

void bench_xsink_stats(const struct bench_xsink *s, struct bench_xsink_stats *st)
{
	*st = s->st;
}

void bench_xsink_reset(struct bench_xsink *s)
{
	s->st.messages = s->st.bytes = 0;
	s->st.t_first = s->st.t_last = 0;
	s->cap_len = s->cap_cut = 0;
	s->cap_msgs = s->cap_msgs_cut = 0;
	s->cap_started = false;
}

void bench_xsink_capture(struct bench_xsink *s, bool on)
{
	if (!on) {
		s->capturing = false;
		return;
	}
	s->capturing = s->o.capture > 0;
	s->cap_len = s->cap_cut = 0;
	s->cap_msgs = s->cap_msgs_cut = 0;
	s->cap_started = false;
}

const char *bench_xsink_captured(const struct bench_xsink *s, size_t *len, uint64_t *messages)
{
	/* Up to the last <message> start: the stanza after it may be cut. */
	*len = s->cap_cut;
	*messages = s->cap_msgs_cut;
	return s->cap_cut && s->cap_msgs_cut ? s->cap : NULL;
}

/* --- open, close --- */

int bench_xsink_open(const struct bench_xsink_opts *o, struct bench_xsink **out)
{
	struct bench_xsink *s = calloc(1, sizeof(*s));
	int fd;

	if (!s)
		abort();
	s->o = *o;
	s->answered = calloc(o->accounts ? o->accounts : 1, 1);
	s->cap = o->capture ? malloc(o->capture) : NULL;
	if (!s->answered || (o->capture && !s->cap))
		abort();
	for (int i = 0; i < BENCH_XSINK_MAX_LINKS; i++) {
		s->l[i].fd = -1;
		s->l[i].in = malloc(IN_CAP);
		s->l[i].out = malloc(OUT_CAP);
		if (!s->l[i].in || !s->l[i].out)
			abort();
	}
	fd = bench_tcp_listen(&s->port, 16);
	if (fd < 0) {
		bench_xsink_close(s);
		return fd;
	}
	s->lfd = fd;
	*out = s;
	return 0;
}

uint16_t bench_xsink_port(const struct bench_xsink *s)
{
	return s->port;
}

void bench_xsink_close(struct bench_xsink *s)
{
	if (!s)
		return;
	for (int i = 0; i < BENCH_XSINK_MAX_LINKS; i++) {
		if (s->l[i].st != L_FREE)
			link_close(s, &s->l[i]);
		free(s->l[i].in);
		free(s->l[i].out);
	}
	if (s->lfd > 0)
		close(s->lfd);
	free(s->answered);
	free(s->cap);
	free(s);
}

/* --- the client side --- */

/* Read into buf until `want` appears at or after buf + from
 * (NUL-terminated). 0 or -errno. */
static int read_until(int fd, char *buf, size_t cap, size_t *len, size_t from, const char *want)
{
	while (!strstr(buf + from, want)) {
		ssize_t n;

		if (*len + 1 >= cap)
			return -EPROTO;
		n = recv(fd, buf + *len, cap - 1 - *len, 0);
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return 0;
}

int bench_xsink_attach(uint16_t port, const char *component, const char *secret, double timeout)
{
	struct timeval tv = { (time_t)timeout, (long)((timeout - (double)(time_t)timeout) * 1e6) };
	char buf[4096] = "", m[512], id[64], hex[41];
	size_t len = 0;
	const char *p, *gt;
	int fd = bench_tcp_connect(port), rc;

	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(m, sizeof(m),
		 "<?xml version='1.0'?><stream:stream xmlns='" XMPP_NS_CLIENT
		 "' xmlns:stream='" XMPP_NS_STREAMS "' to='%s'>",
		 component);
	if (send(fd, m, strlen(m), MSG_NOSIGNAL) < 0) {
		rc = -errno;
		goto err_close;
	}
	if ((rc = read_until(fd, buf, sizeof(buf), &len, 0, "<stream:stream")) < 0)
		goto err_close;
	p = strstr(buf, "<stream:stream");
	if ((rc = read_until(fd, buf, sizeof(buf), &len, (size_t)(p - buf), ">")) < 0)
		goto err_close;
	gt = strchr(p, '>');
	if (tag_attr(p, gt, "id", id, sizeof(id)) < 0) {
		rc = -EPROTO;
		goto err_close;
	}
	xmpp_stream_handshake(id, secret, hex);
	snprintf(m, sizeof(m), "<handshake>%s</handshake>", hex);
	if (send(fd, m, strlen(m), MSG_NOSIGNAL) < 0) {
		rc = -errno;
		goto err_close;
	}
	if ((rc = read_until(fd, buf, sizeof(buf), &len, 0, "<handshake/>")) < 0)
		goto err_close;
	return fd;
err_close:
	close(fd);
	return rc;
}
