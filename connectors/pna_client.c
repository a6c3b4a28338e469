/* pna_client: the store side of the ingest session (pna_client.h). Events
 * are packed once into a FIFO byte store and kept until acked; batch frames
 * are written by hand around those bytes, so sending and resending allocate
 * nothing. Runs inside pna-feed, pna-bench and the Dovecot connector. */
#include "pna_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "proto/proto_frame.h"

#define CLIENT_RBUF (64 * 1024) /* server frames are small: welcome, ack, error */
#define CLIENT_IO_MS 30000	/* a write or an ack wait this stalled gives up */
#define CLIENT_CONNECT_MS 5000
#define CLIENT_WELCOME_MS 10000
#define CLIENT_EVENT_BYTES 256 /* packed-store bytes per max_unacked event */
#define CLIENT_STORE_MAX (256u << 20)
#define CLIENT_UNACKED_MAX (1u << 24)
#define CLIENT_FRAME_MAX (64u << 20)

/* Wire tags (field << 3 | wire type) of the frames we write by hand. */
#define TAG_FRAME_BATCH 0x1a /* Frame.batch = 3, length-delimited */
#define TAG_BATCH_FIRST 0x08 /* Batch.first_seq = 1, varint */
#define TAG_BATCH_EVENT 0x12 /* Batch.events = 2, length-delimited */

struct ent {
	size_t off; /* packed event bytes at data[off], len bytes */
	size_t len;
};

struct pna_client {
	char *host, *store_id, *credential;
	uint16_t port;
	uint32_t batch_events;
	size_t opt_max_frame;
	size_t max_frame; /* this connection's: min(opts, Welcome.max_frame) */

	int fd;
	int err; /* why fd is -1; returned until the next connect */
	bool welcomed;

	/* Unacked events: ent[(tail + i) % cap] has seq base + i, i < count.
	 * Those below next_send went out on this connection. */
	struct ent *ent;
	uint32_t cap, tail, count;
	uint64_t base, next_send;
	uint8_t *data; /* FIFO of packed events, oldest at ent[tail].off */
	size_t dcap, dhead;

	uint8_t *sbuf;
	size_t scap;
	uint8_t *rbuf;
	size_t rlen;
	struct arena *arena; /* decodes one server frame at a time */

	uint64_t sent;
	int err_code;
	char err_reason[256];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Frame payload bytes around a Batch body of `body` bytes. */
static size_t frame_payload(size_t body)
{
	return 1 + varint_len(body) + body;
}

/* Batch body bytes for one event of `len` packed bytes, worst-case seq. */
static size_t single_body(size_t len)
{
	return 1 + PROTO_VARINT_MAX + 1 + varint_len(len) + len;
}

static struct ent *ent_at(struct pna_client *c, uint64_t seq)
{
	return &c->ent[(c->tail + (seq - c->base)) % c->cap];
}

int pna_client_open(const struct pna_client_opts *o, struct pna_client **out)
{
	struct pna_client *c;
	size_t dcap;

	if (!o->host || !o->store_id || o->batch_events == 0 || o->max_unacked == 0 ||
	    o->max_unacked > CLIENT_UNACKED_MAX || o->max_frame < 64 ||
	    o->max_frame > CLIENT_FRAME_MAX)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	dcap = (size_t)o->max_unacked * CLIENT_EVENT_BYTES;
	if (dcap > CLIENT_STORE_MAX)
		dcap = CLIENT_STORE_MAX;
	if (dcap < 2 * o->max_frame)
		dcap = 2 * o->max_frame;
	c->fd = -1;
	c->err = -ENOTCONN;
	c->port = o->port;
	c->batch_events = o->batch_events;
	c->opt_max_frame = c->max_frame = o->max_frame;
	c->cap = o->max_unacked;
	c->dcap = dcap;
	c->scap = o->max_frame + PROTO_VARINT_MAX;
	c->host = strdup(o->host);
	c->store_id = strdup(o->store_id);
	c->credential = o->credential ? strdup(o->credential) : NULL;
	c->ent = calloc(c->cap, sizeof(*c->ent));
	c->data = malloc(c->dcap);
	c->sbuf = malloc(c->scap);
	c->rbuf = malloc(CLIENT_RBUF);
	c->arena = arena_create(CLIENT_RBUF);
	if (!c->host || !c->store_id || (o->credential && !c->credential) || !c->ent || !c->data ||
	    !c->sbuf || !c->rbuf) {
		pna_client_close(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void pna_client_close(struct pna_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	arena_destroy(c->arena);
	free(c->rbuf);
	free(c->sbuf);
	free(c->data);
	free(c->ent);
	free(c->credential);
	free(c->store_id);
	free(c->host);
	free(c);
}

static void drop(struct pna_client *c, int err)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->err = err;
	c->rlen = 0;
	c->welcomed = false;
}

void pna_client_disconnect(struct pna_client *c)
{
	drop(c, -EPIPE);
}

/* Forget the n oldest unacked events. */
static void window_drop(struct pna_client *c, uint64_t n)
{
	if (n > c->count)
		n = c->count;
	c->tail = (uint32_t)((c->tail + n) % c->cap);
	c->count -= (uint32_t)n;
	c->base += n;
	if (c->next_send < c->base)
		c->next_send = c->base;
	if (c->count == 0)
		c->dhead = 0;
}

/* Where `len` packed bytes fit in the FIFO, or -1 until acks free room.
 * Used space is [tail_off, dhead) or, wrapped, [tail_off, end) + [0, dhead);
 * a packed event is never empty, so dhead == tail_off means full. */
static long store_reserve(struct pna_client *c, size_t len)
{
	size_t toff;

	if (c->count == 0)
		return len <= c->dcap ? 0 : -1;
	toff = c->ent[c->tail].off;
	if (c->dhead > toff) {
		if (c->dcap - c->dhead >= len)
			return (long)c->dhead;
		return len <= toff ? 0 : -1;
	}
	return toff - c->dhead >= len ? (long)c->dhead : -1;
}

/* Welcome: the server has every seq below resume_seq. Drop those, number
 * what is left (and what comes next) from resume_seq, resend it all. */
static void on_welcome(struct pna_client *c, const Pna__Welcome *w)
{
	uint64_t r = w->resume_seq;

	if (r > c->base)
		window_drop(c, r - c->base);
	c->base = c->next_send = r;
	c->max_frame = c->opt_max_frame;
	if (w->has_max_frame && w->max_frame >= 64 && w->max_frame < c->max_frame)
		c->max_frame = w->max_frame;
	c->welcomed = true;
}

static void on_ack(struct pna_client *c, uint64_t seq)
{
	/* Cumulative; an ack beyond what was sent acks only what was sent. */
	if (seq >= c->next_send)
		seq = c->next_send - 1;
	if (c->next_send > 0 && seq >= c->base)
		window_drop(c, seq - c->base + 1);
}

static int on_frame(struct pna_client *c, const Pna__Frame *f)
{
	switch (f->msg_case) {
	case PNA__FRAME__MSG_WELCOME:
		if (c->welcomed)
			break;
		on_welcome(c, f->welcome);
		return 0;
	case PNA__FRAME__MSG_ACK:
		if (!c->welcomed)
			break;
		on_ack(c, f->ack->seq);
		return 0;
	case PNA__FRAME__MSG_ERROR:
		c->err_code = (int)f->error->code;
		snprintf(c->err_reason, sizeof(c->err_reason), "%s",
			 f->error->reason ? f->error->reason : "");
		drop(c, -EPROTO);
		return -EPROTO;
	default:
		break;
	}
	drop(c, -EBADMSG);
	return -EBADMSG;
}

/* Handle every complete frame in rbuf. */
static int parse_input(struct pna_client *c)
{
	size_t off = 0;
	int rc = 0;

	while (c->fd >= 0) {
		const uint8_t *payload;
		const char *why;
		Pna__Frame *f;
		size_t plen;
		int n = proto_frame_split(c->rbuf + off, c->rlen - off,
					  CLIENT_RBUF - PROTO_VARINT_MAX, &payload, &plen, &why);

		if (n == -EAGAIN)
			break;
		f = n < 0 ? NULL : proto_frame_decode(payload, plen, c->arena);
		rc = f ? on_frame(c, f) : -EBADMSG;
		arena_reset(c->arena);
		if (rc < 0) {
			if (c->fd >= 0)
				drop(c, rc);
			return rc;
		}
		off += (size_t)n;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	return 0;
}

/* Read what the socket has without blocking and act on it. 0, or -EPIPE
 * (closed; an Error frame before the close wins: -EPROTO), -EBADMSG. */
static int read_input(struct pna_client *c)
{
	while (c->fd >= 0) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, CLIENT_RBUF - c->rlen, 0);
		int rc;

		if (n > 0) {
			c->rlen += (size_t)n;
			if ((rc = parse_input(c)) < 0)
				return rc;
			if (c->rlen == CLIENT_RBUF) {
				drop(c, -EBADMSG);
				return -EBADMSG;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		drop(c, n == 0 || errno == ECONNRESET ? -EPIPE : -errno);
		return c->err;
	}
	return c->err;
}

/* Wait up to timeout_ms for input and read it. 0 (also on timeout) or as
 * read_input. */
static int wait_input(struct pna_client *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);

	if (n < 0 && errno != EINTR) {
		drop(c, -errno);
		return c->err;
	}
	return n > 0 ? read_input(c) : 0;
}

/* The connection broke while writing: a server that refused something has
 * sent an Error frame before closing, and that is the better answer. */
static int write_failed(struct pna_client *c, int err)
{
	if (err == -EPIPE || err == -ECONNRESET) {
		err = -EPIPE;
		if (read_input(c) == -EPROTO)
			return -EPROTO;
	}
	if (c->fd >= 0)
		drop(c, err);
	return c->err;
}

/* Write all of buf, reading acks while the socket is full, so that neither
 * side can block the other. */
static int send_all(struct pna_client *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLOUT };
		int rc;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return write_failed(c, -errno);
		rc = poll(&p, 1, CLIENT_IO_MS);
		if (rc == 0)
			return write_failed(c, -ETIMEDOUT);
		if (rc < 0 && errno != EINTR)
			return write_failed(c, -errno);
		if (rc > 0 && (p.revents & ~POLLOUT) && (rc = read_input(c)) < 0)
			return rc;
	}
	return 0;
}

/* Write one Batch frame with as many unsent events as batch_events and
 * max_frame allow (at least one) into sbuf. Bytes, and *nev. */
static size_t build_batch(struct pna_client *c, uint32_t *nev)
{
	uint64_t first = c->next_send, avail = c->base + c->count - first;
	size_t body = 1 + varint_len(first);
	uint8_t *p = c->sbuf;
	uint32_t n = 0;

	while (n < avail && n < c->batch_events) {
		const struct ent *e = ent_at(c, first + n);
		size_t add = 1 + varint_len(e->len) + e->len;

		if (n > 0 && frame_payload(body + add) > c->max_frame)
			break;
		body += add;
		n++;
	}
	p += proto_varint_put(p, frame_payload(body));
	*p++ = TAG_FRAME_BATCH;
	p += proto_varint_put(p, body);
	*p++ = TAG_BATCH_FIRST;
	p += proto_varint_put(p, first);
	for (uint32_t i = 0; i < n; i++) {
		const struct ent *e = ent_at(c, first + i);

		*p++ = TAG_BATCH_EVENT;
		p += proto_varint_put(p, e->len);
		memcpy(p, c->data + e->off, e->len);
		p += e->len;
	}
	*nev = n;
	return (size_t)(p - c->sbuf);
}

/* Send unsent events in batches: full batches only, or all when `all`. */
static int send_pending(struct pna_client *c, bool all)
{
	while (c->fd >= 0) {
		uint64_t unsent = c->base + c->count - c->next_send;
		uint32_t n;
		size_t len;
		int rc;

		if (unsent == 0 || (!all && unsent < c->batch_events))
			return 0;
		len = build_batch(c, &n);
		if ((rc = send_all(c, c->sbuf, len)) < 0)
			return rc;
		c->next_send += n;
		c->sent += n;
	}
	return c->err;
}

static int tcp_connect(const char *host, uint16_t port, int *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[8];
	int rc = -EHOSTUNREACH, one = 1;

	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0)
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && poll(&p, 1, CLIENT_CONNECT_MS) == 1 &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)) {
			*out = fd;
			freeaddrinfo(res);
			return 0;
		}
		rc = soerr ? -soerr : (errno == EINPROGRESS ? -ETIMEDOUT : -errno);
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

static int send_hello(struct pna_client *c)
{
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Hello h = PNA__HELLO__INIT;
	int n;

	h.version = PNA_PROTO_VERSION;
	h.store_id = c->store_id;
	h.credential = c->credential;
	f.msg_case = PNA__FRAME__MSG_HELLO;
	f.hello = &h;
	n = proto_frame_encode(&f, c->sbuf, c->scap);
	if (n < 0) {
		drop(c, -EMSGSIZE);
		return -EMSGSIZE;
	}
	return send_all(c, c->sbuf, (size_t)n);
}

int pna_client_connect(struct pna_client *c)
{
	int64_t deadline = now_ms() + CLIENT_WELCOME_MS;
	int rc;

	drop(c, -ENOTCONN);
	if ((rc = tcp_connect(c->host, c->port, &c->fd)) < 0) {
		c->fd = -1;
		c->err = rc;
		return rc;
	}
	c->err = 0;
	if ((rc = send_hello(c)) < 0)
		return rc;
	while (!c->welcomed) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			drop(c, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
		if ((rc = wait_input(c, (int)left)) < 0)
			return rc;
	}
	return send_pending(c, true);
}

int pna_client_add(struct pna_client *c, const Pna__Event *ev)
{
	size_t len = pna__event__get_packed_size(ev);
	long off;
	int rc;

	if (frame_payload(single_body(len)) > c->opt_max_frame)
		return -EMSGSIZE;
	if (c->fd < 0)
		return c->err;
	while (c->count == c->cap || (off = store_reserve(c, len)) < 0) {
		uint64_t base = c->base;
		int64_t deadline = now_ms() + CLIENT_IO_MS;

		if ((rc = send_pending(c, true)) < 0)
			return rc;
		while (c->base == base) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				drop(c, -ETIMEDOUT);
				return -ETIMEDOUT;
			}
			if ((rc = wait_input(c, (int)left)) < 0)
				return rc;
		}
	}
	pna__event__pack(ev, c->data + off);
	c->dhead = (size_t)off + len;
	c->ent[(c->tail + c->count) % c->cap] = (struct ent){ (size_t)off, len };
	c->count++;
	/* The event is queued whatever happens now: a failed send leaves
	 * the connection closed and the next call reports it. */
	(void)send_pending(c, false);
	return 0;
}

int pna_client_flush(struct pna_client *c)
{
	if (c->fd < 0)
		return c->err;
	return send_pending(c, true);
}

int pna_client_poll(struct pna_client *c, int timeout_ms)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int rc;

	if (c->fd < 0)
		return c->err;
	if ((rc = read_input(c)) < 0)
		return rc;
	while (c->next_send > c->base) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			break;
		if ((rc = wait_input(c, (int)left)) < 0)
			return rc;
	}
	return 0;
}

int pna_client_drain(struct pna_client *c, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int rc;

	if ((rc = pna_client_flush(c)) < 0)
		return rc;
	while (c->count > 0) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		if ((rc = pna_client_poll(c, (int)left)) < 0)
			return rc;
	}
	return 0;
}

uint64_t pna_client_next_seq(const struct pna_client *c)
{
	return c->base + c->count;
}

uint64_t pna_client_acked(const struct pna_client *c)
{
	/* The server holds every seq below base (its resume point or acks). */
	return c->base ? c->base - 1 : 0;
}

uint64_t pna_client_sent(const struct pna_client *c)
{
	return c->sent;
}

int pna_client_error_code(const struct pna_client *c)
{
	return c->err_code;
}

const char *pna_client_error(const struct pna_client *c)
{
	return c->err_reason;
}
