/* admin_client: blocking HTTP/2 (h2c) client of the admin API for pnactl. */
#include "admin/admin_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct call {
	int32_t id;
	bool done;
	struct admin_client_resp *resp;
	size_t cap;
	const char *body;
	size_t body_len, body_off;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int admin_client_encode(const char *s, const char *keep, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(out);

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || strchr("-._~", c) || strchr(keep, c);

		if (o + (plain ? 1 : 3) >= cap)
			return -ENAMETOOLONG;
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* Connect to host:port within the deadline. fd or -errno. */
static int dial(const char *hostport, int64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	const char *colon = strrchr(hostport, ':');
	char host[256];
	size_t n = colon ? (size_t)(colon - hostport) : 0;
	int fd = -EINVAL, rc;

	if (!colon || n >= sizeof(host) || n == 0) {
		snprintf(err, errlen, "%s: expected host:port", hostport);
		return -EINVAL;
	}
	memcpy(host, hostport + (hostport[0] == '['), n - (hostport[0] == '[') * 2);
	host[n - (hostport[0] == '[') * 2] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd p = { .events = POLLOUT };
		socklen_t sl = sizeof(rc);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		p.fd = fd;
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		if (rc == EINPROGRESS)
			rc = poll(&p, 1, (int)(deadline - now_ms())) == 1 &&
					     getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &sl) == 0
				     ? rc
				     : ETIMEDOUT;
		if (rc == 0)
			break;
		close(fd);
		fd = -rc;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot reach pnad at %s: %s", hostport, strerror(-fd));
	return fd;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *arg)
{
	struct call *c = arg;

	(void)ng;
	(void)flags;
	(void)valuelen; /* nghttp2 NUL-terminates values */
	if (f->hd.stream_id == c->id && namelen == 7 && memcmp(name, ":status", 7) == 0)
		c->resp->status = atoi((const char *)value);
	return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *arg)
{
	struct call *c = arg;
	struct admin_client_resp *r = c->resp;

	(void)ng;
	(void)flags;
	if (id != c->id)
		return 0;
	if (r->len + len + 1 > c->cap) {
		while (r->len + len + 1 > c->cap)
			c->cap = c->cap ? c->cap * 2 : 65536;
		r->body = realloc(r->body, c->cap);
		if (!r->body)
			abort();
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return 0;
}

static int on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct call *c = arg;

	(void)ng;
	(void)code;
	if (id == c->id)
		c->done = true;
	return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *arg)
{
	struct call *c = src->ptr;
	size_t n = c->body_len - c->body_off;

	(void)ng;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, c->body + c->body_off, n);
	c->body_off += n;
	if (c->body_off == c->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static nghttp2_session *client_session(struct call *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *ng;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	if (nghttp2_session_client_new(&ng, cb, c) != 0)
		abort();
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, NULL, 0);
	return ng;
}

/* Send all of buf (the socket is non-blocking). 0, or -1 with errno. */
static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EAGAIN) {
			if (poll(&p, 1, (int)(deadline - now_ms())) <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Exchange frames until the stream closed. 0 or -errno. */
static int pump(int fd, nghttp2_session *ng, struct call *c, int64_t deadline)
{
	uint8_t buf[16384];

	while (!c->done) {
		const uint8_t *out;
		ssize_t n;
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* mem_send hands out one piece at a time: send them all. */
		while ((n = nghttp2_session_mem_send(ng, &out)) > 0) {
			if (send_all(fd, out, (size_t)n, deadline) < 0)
				return -errno;
		}
		if (n < 0)
			return -EPROTO;
		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0 && nghttp2_session_mem_recv(ng, buf, (size_t)n) < 0)
			return -EPROTO;
	}
	return 0;
}

int admin_client_request(const char *hostport, const char *token, const char *method,
			 const char *path, const char *body, int timeout_ms,
			 struct admin_client_resp *out, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct call c = { .resp = out, .body = body, .body_len = body ? strlen(body) : 0 };
	char authz[300];
	nghttp2_nv nv[6];
	size_t n = 0;
	nghttp2_data_provider prd = { .source.ptr = &c, .read_callback = read_body };
	nghttp2_session *ng;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = dial(hostport, deadline, err, errlen);
	if (fd < 0)
		return fd;
	ng = client_session(&c);
	snprintf(authz, sizeof(authz), "Bearer %s", token ? token : "");
#define NV(k, v) \
	(nghttp2_nv){ (uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE }
	nv[n++] = NV(":method", method);
	nv[n++] = NV(":scheme", "http");
	nv[n++] = NV(":authority", hostport);
	nv[n++] = NV(":path", path);
	if (token && token[0])
		nv[n++] = NV("authorization", authz);
	if (body)
		nv[n++] = NV("content-type", "application/json");
#undef NV
	c.id = nghttp2_submit_request(ng, NULL, nv, n, body ? &prd : NULL, NULL);
	rc = c.id < 0 ? -EPROTO : pump(fd, ng, &c, deadline);
	if (rc == 0 && !out->status)
		rc = -EPROTO;
	if (rc < 0) {
		snprintf(err, errlen, "pnad at %s: %s", hostport,
			 rc == -EPROTO ? "HTTP/2 protocol error (is it the admin API?)"
				       : strerror(-rc));
		free(out->body);
		out->body = NULL;
	} else if (!out->body) {
		out->body = calloc(1, 1);
		if (!out->body)
			abort();
	}
	nghttp2_session_del(ng);
	close(fd);
	return rc;
}
