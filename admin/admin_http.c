/* admin_http: HTTP/2 server of the admin process: epoll, non-blocking
 * sockets, optional TLS, one nghttp2 server session per connection. */
#include "admin/admin_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define EV_LISTEN UINT64_MAX
#define EV_WAKE (UINT64_MAX - 1)
#define MAX_STREAMS 256		 /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define READ_BUDGET (256u << 10) /* bytes read from one connection per pass */
#define IDLE_MS 120000		 /* a connection with no stream, idle */
#define STALL_MS 30000		 /* no progress on a handshake or a blocked write */
#define AUTHZ_MAX 1024

struct stream {
	struct stream *prev, *next; /* the connection's streams */
	int32_t id;
	bool dispatched, answered, bad;
	int bad_status; /* 413, 414, 431 when `bad` */
	char method[16];
	char path[ADMIN_HTTP_PATH_MAX + 1];
	char *authz; /* malloc'd, NULL when absent */
	char *body;  /* malloc'd request body */
	size_t body_len, body_cap;
	char *resp; /* malloc'd response body */
	size_t resp_len, resp_off;
};

struct conn {
	int fd;
	uint32_t gen;
	bool used, closing, tls_done;
	uint8_t armed;	  /* EPOLLIN / EPOLLOUT bits registered */
	uint8_t ssl_want; /* SSL_ERROR_WANT_READ/WRITE of the last call, or 0 */
	SSL *ssl;
	nghttp2_session *ng;
	const uint8_t *pend; /* mem_send output not yet written */
	size_t pendlen;
	uint64_t last_ms;
	struct stream *streams;
	struct admin_http *h;
};

struct admin_http {
	int lfd, epfd;
	SSL_CTX *tls;
	struct conn *conns;
	uint32_t nconns;
	struct admin_self_stats *st;
	struct admin_self_stats dummy;
	const struct admin_http_hooks *hooks;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- listener and TLS ---- */

static int listen_on(const char *hostport, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	const char *colon = strrchr(hostport, ':');
	char host[64];
	size_t n = colon ? (size_t)(colon - hostport) : 0;
	int fd, rc, one = 1;

	if (!colon || n >= sizeof(host)) {
		snprintf(err, errlen, "admin_listen %s: expected host:port", hostport);
		return -EINVAL;
	}
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "admin_listen %s: %s", hostport, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		snprintf(err, errlen, "admin_listen %s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = rc;
	}
	freeaddrinfo(res);
	return fd;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	static const unsigned char h2[] = "\x02h2";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h2, sizeof(h2) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		abort();
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* RFC 9113 section 9.2: no compression, no renegotiation. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "admin TLS %s / %s: %s", cert, key,
			 ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	return ctx;
}

/* ---- streams ---- */

static void stream_free(struct conn *c, struct stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->authz);
	free(s->body);
	free(s->resp);
	free(s);
}

static void dispatch(struct conn *c, struct stream *s)
{
	struct admin_http *h = c->h;
	struct admin_http_req req = {
		.ref = { (uint32_t)(c - h->conns), c->gen, s->id },
		.method = s->method,
		.path = s->path,
		.authorization = s->authz,
		.body = s->body ? s->body : "",
		.body_len = s->body_len,
	};
	s->dispatched = true;
	h->st->requests++;
	if (s->bad) {
		size_t len;
		char msg[64];
		char *b;

		snprintf(msg, sizeof(msg), "{\"error\":\"%s\"}\n",
			 s->bad_status == 413	? "request body too large"
			 : s->bad_status == 414 ? "request path too long"
						: "authorization header too large or repeated");
		len = strlen(msg);
		b = strdup(msg);
		admin_http_respond(h, req.ref, s->bad_status, "application/json", b, len);
		return;
	}
	h->hooks->request(h->hooks->arg, &req);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct conn *c = arg;
	struct stream *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->id = f->hd.stream_id;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	return 0;
}

static void set_bad(struct stream *s, int status)
{
	if (!s->bad) {
		s->bad = true;
		s->bad_status = status;
	}
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *arg)
{
	struct stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);

	(void)flags;
	(void)arg;
	if (!s || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		if (valuelen < sizeof(s->method))
			memcpy(s->method, value, valuelen);
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		if (valuelen > ADMIN_HTTP_PATH_MAX)
			set_bad(s, 414);
		else
			memcpy(s->path, value, valuelen);
	} else if (namelen == 13 && memcmp(name, "authorization", 13) == 0) {
		if (valuelen > AUTHZ_MAX || s->authz) {
			set_bad(s, 431);
			return 0;
		}
		s->authz = strndup((const char *)value, valuelen);
		if (!s->authz)
			abort();
	}
	return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *arg)
{
	struct stream *s = nghttp2_session_get_stream_user_data(ng, id);

	(void)flags;
	(void)arg;
	if (!s || s->bad)
		return 0;
	if (s->body_len + len > ADMIN_HTTP_BODY_MAX) {
		set_bad(s, 413);
		return 0;
	}
	if (s->body_len + len + 1 > s->body_cap) {
		s->body_cap = s->body_cap ? s->body_cap * 2 : 4096;
		while (s->body_cap < s->body_len + len + 1)
			s->body_cap *= 2;
		s->body = realloc(s->body, s->body_cap);
		if (!s->body)
			abort();
	}
	memcpy(s->body + s->body_len, data, len);
	s->body_len += len;
	s->body[s->body_len] = '\0';
	return 0;
}

static int on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct stream *s;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
	if (s && !s->dispatched)
		dispatch(arg, s);
	return 0;
}

static int on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct stream *s = nghttp2_session_get_stream_user_data(ng, id);

	(void)code;
	if (s) {
		nghttp2_session_set_stream_user_data(ng, id, NULL);
		stream_free(arg, s);
	}
	return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *arg)
{
	struct stream *s = src->ptr;
	size_t n = s->resp_len - s->resp_off;

	(void)ng;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, s->resp + s->resp_off, n);
	s->resp_off += n;
	if (s->resp_off == s->resp_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

int admin_http_respond(struct admin_http *h, struct admin_http_ref ref, int status,
		       const char *ctype, char *body, size_t len)
{
	struct conn *c = ref.slot < h->nconns ? &h->conns[ref.slot] : NULL;
	struct stream *s = NULL;
	char st[8], cl[24];
	nghttp2_nv nv[4];
	size_t n = 0;
	nghttp2_data_provider prd = { .read_callback = read_body };

	if (c && c->used && !c->closing && c->gen == ref.gen)
		s = nghttp2_session_get_stream_user_data(c->ng, ref.stream_id);
	if (!s || s->answered) {
		free(body);
		return -ENOENT;
	}
	snprintf(st, sizeof(st), "%d", status);
	snprintf(cl, sizeof(cl), "%zu", body ? len : 0);
#define NV(k, v) \
	(nghttp2_nv){ (uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE }
	nv[n++] = NV(":status", st);
	nv[n++] = NV("content-length", cl);
	if (ctype && body)
		nv[n++] = NV("content-type", ctype);
	if (status == 401)
		nv[n++] = NV("www-authenticate", "Bearer realm=\"pnad\"");
#undef NV
	s->answered = true;
	s->resp = body;
	s->resp_len = body ? len : 0;
	prd.source.ptr = s;
	if (nghttp2_submit_response(c->ng, s->id, nv, n, s->resp_len ? &prd : NULL) != 0)
		return -EPROTO;
	h->st->responses[status / 100 < 6 ? status / 100 : 5]++;
	return 0;
}

/* ---- connections ---- */

/* Register the events the connection waits for. A client with answers it
 * has not read is not read from (bounded memory per slow client), unless TLS
 * needs to read before it can write. */
static void arm(struct conn *c)
{
	bool in = !c->pendlen || c->ssl_want == SSL_ERROR_WANT_READ;
	bool out = (c->pendlen && c->ssl_want != SSL_ERROR_WANT_READ) ||
		   c->ssl_want == SSL_ERROR_WANT_WRITE;
	uint8_t want = (uint8_t)((in ? 1 : 0) | (out ? 2 : 0));
	struct epoll_event ev = { .data.u64 = (uint64_t)(c - c->h->conns) };

	if (want == c->armed)
		return;
	c->armed = want;
	ev.events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0);
	epoll_ctl(c->h->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* -EAGAIN for an SSL call that must be retried, remembering which way. */
static ssize_t ssl_result(struct conn *c, int r, ssize_t other)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want = (uint8_t)e;
		return -EAGAIN;
	}
	ERR_clear_error();
	return e == SSL_ERROR_ZERO_RETURN ? 0 : other;
}

static ssize_t xread(struct conn *c, void *buf, size_t len)
{
	ssize_t r;

	if (!c->ssl) {
		r = read(c->fd, buf, len);
		return r < 0 ? -errno : r;
	}
	c->ssl_want = 0;
	r = SSL_read(c->ssl, buf, (int)len);
	return r > 0 ? r : ssl_result(c, (int)r, -EPROTO);
}

static ssize_t xwrite(struct conn *c, const void *buf, size_t len)
{
	ssize_t w;

	if (!c->ssl) {
		w = send(c->fd, buf, len, MSG_NOSIGNAL);
		return w < 0 ? -errno : w;
	}
	c->ssl_want = 0;
	w = SSL_write(c->ssl, buf, (int)len);
	return w > 0 ? w : ssl_result(c, (int)w, -EPIPE);
}

/* Write what nghttp2 has to send until the socket is full. */
static void conn_flush(struct conn *c)
{
	while (!c->closing) {
		ssize_t w;

		if (!c->pendlen) {
			ssize_t n = nghttp2_session_mem_send(c->ng, &c->pend);

			if (n < 0) {
				c->closing = true;
				return;
			}
			if (n == 0)
				break;
			c->pendlen = (size_t)n;
		}
		w = xwrite(c, c->pend, c->pendlen);
		if (w == -EAGAIN || w == -EINTR || w == 0)
			break;
		if (w < 0) {
			c->closing = true;
			return;
		}
		c->pend += w;
		c->pendlen -= (size_t)w;
		c->last_ms = now_ms();
	}
	if (!c->pendlen && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
		c->closing = true;
}

static bool tls_handshake(struct conn *c)
{
	const unsigned char *proto;
	unsigned plen;
	int r;

	c->ssl_want = 0;
	r = SSL_do_handshake(c->ssl);
	if (r != 1) {
		if (ssl_result(c, r, -EPROTO) != -EAGAIN) {
			log_debug("admin TLS handshake failed");
			c->closing = true;
		}
		return false;
	}
	SSL_get0_alpn_selected(c->ssl, &proto, &plen);
	if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
		c->closing = true;
		return false;
	}
	c->tls_done = true;
	c->last_ms = now_ms();
	return true;
}

static void conn_readable(struct conn *c)
{
	uint8_t buf[16384];
	size_t total = 0;

	if (c->ssl && !c->tls_done && !tls_handshake(c))
		return;
	while (total < READ_BUDGET && !c->closing && !c->pendlen) {
		ssize_t r = xread(c, buf, sizeof(buf));

		if (r == -EAGAIN || r == -EINTR)
			break;
		if (r <= 0 || nghttp2_session_mem_recv(c->ng, buf, (size_t)r) < 0) {
			c->closing = true;
			return;
		}
		total += (size_t)r;
		c->last_ms = now_ms();
		/* Answers to these requests go out before more is read. */
		conn_flush(c);
	}
}

static const nghttp2_session_callbacks *callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (!cb) {
		if (nghttp2_session_callbacks_new(&cb) != 0)
			abort();
		nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
		nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
		nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
		nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	}
	return cb;
}

static int conn_start(struct admin_http *h, struct conn *c, int fd)
{
	nghttp2_settings_entry set[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
	};
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(c - h->conns) };
	uint32_t gen = c->gen + 1;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->gen = gen;
	c->h = h;
	c->used = true;
	c->armed = 1;
	c->last_ms = now_ms();
	if (nghttp2_session_server_new(&c->ng, callbacks(), c) != 0)
		abort();
	nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, set, sizeof(set) / sizeof(set[0]));
	if (h->tls) {
		c->ssl = SSL_new(h->tls);
		if (!c->ssl)
			abort();
		SSL_set_fd(c->ssl, fd);
		SSL_set_accept_state(c->ssl);
	}
	return epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void conn_reap(struct conn *c)
{
	while (c->streams)
		stream_free(c, c->streams);
	nghttp2_session_del(c->ng);
	c->ng = NULL;
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	epoll_ctl(c->h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->used = false;
	c->closing = false;
	c->h->st->conns_open--;
}

static void on_accept(struct admin_http *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		uint32_t i;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("admin accept: %s", strerror(errno));
			return;
		}
		for (i = 0; i < h->nconns && h->conns[i].used; i++)
			;
		if (i == h->nconns) {
			h->st->conns_refused++;
			close(fd);
			continue;
		}
		h->st->conns_accepted++;
		h->st->conns_open++;
		if (conn_start(h, &h->conns[i], fd) < 0) {
			h->conns[i].closing = true;
			continue;
		}
	}
}

static void on_event(struct admin_http *h, const struct epoll_event *ev)
{
	struct conn *c;

	if (ev->data.u64 == EV_LISTEN) {
		on_accept(h);
		return;
	}
	if (ev->data.u64 == EV_WAKE) {
		h->hooks->wake(h->hooks->arg);
		return;
	}
	c = &h->conns[ev->data.u64];
	if (!c->used || c->closing)
		return;
	/* Both directions are down: nothing more can be delivered. */
	if (ev->events & (EPOLLERR | EPOLLHUP)) {
		c->closing = true;
		return;
	}
	if (ev->events & EPOLLIN)
		conn_readable(c);
	if (!c->closing && (ev->events & EPOLLOUT) && c->ssl && !c->tls_done)
		tls_handshake(c);
}

/* Deferred work after a batch: flush answers given meanwhile (the server
 * preface of a new connection too), read what TLS holds decrypted, time out
 * idle or stalled connections, re-arm, free the closed ones. */
static void after_batch(struct admin_http *h)
{
	uint64_t now = now_ms();

	for (uint32_t i = 0; i < h->nconns; i++) {
		struct conn *c = &h->conns[i];
		bool handshaking = c->ssl && !c->tls_done;

		if (!c->used)
			continue;
		if (!c->closing && !handshaking)
			conn_flush(c);
		if (!c->closing && c->ssl && c->tls_done && !c->pendlen && SSL_pending(c->ssl))
			conn_readable(c);
		/* last_ms may be later than now: the flush above just wrote. */
		if (!c->closing && (handshaking || c->pendlen) && now > c->last_ms + STALL_MS)
			c->closing = true;
		if (!c->closing && !c->streams && now > c->last_ms + IDLE_MS)
			c->closing = true;
		if (c->closing)
			conn_reap(c);
		else
			arm(c);
	}
}

int admin_http_open(const struct admin_http_conf *c, struct admin_http **out, char *err,
		    size_t errlen)
{
	struct admin_http *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_LISTEN };
	int rc;

	if (!h)
		abort();
	h->lfd = h->epfd = -1;
	h->st = c->stats ? c->stats : &h->dummy;
	if (c->tls_cert[0] || c->tls_key[0]) {
		if (!c->tls_cert[0] || !c->tls_key[0]) {
			snprintf(err, errlen,
				 "admin TLS needs both admin_tls_cert and "
				 "admin_tls_key");
			rc = -EINVAL;
			goto err_free;
		}
		h->tls = tls_ctx(c->tls_cert, c->tls_key, err, errlen);
		if (!h->tls) {
			rc = -EINVAL;
			goto err_free;
		}
	}
	h->lfd = listen_on(c->listen, err, errlen);
	if (h->lfd < 0) {
		rc = h->lfd;
		goto err_free;
	}
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0 || epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lfd, &ev) < 0) {
		rc = -errno;
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		goto err_free;
	}
	h->nconns = c->max_conns ? c->max_conns : 1;
	h->conns = calloc(h->nconns, sizeof(*h->conns));
	if (!h->conns)
		abort();
	*out = h;
	return 0;
err_free:
	admin_http_close(h);
	return rc;
}

int admin_http_run(struct admin_http *h, const struct admin_http_hooks *hooks,
		   volatile sig_atomic_t *stop)
{
	struct epoll_event evs[64];

	h->hooks = hooks;
	if (hooks->wake_fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_WAKE };

		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, hooks->wake_fd, &ev) < 0)
			return -errno;
	}
	while (!*stop) {
		int n = epoll_wait(h->epfd, evs, 64, 200);

		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++)
			on_event(h, &evs[i]);
		if (hooks->tick)
			hooks->tick(hooks->arg);
		after_batch(h);
	}
	return 0;
}

void admin_http_close(struct admin_http *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; h->conns && i < h->nconns; i++)
		if (h->conns[i].used)
			conn_reap(&h->conns[i]);
	free(h->conns);
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->lfd >= 0)
		close(h->lfd);
	SSL_CTX_free(h->tls);
	free(h);
}
