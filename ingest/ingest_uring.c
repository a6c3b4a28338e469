/* ingest_uring: ring setup, the provided-buffer ring and the listener of the
 * router process. */
#include "ingest/ingest_uring.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int ingest_uring_init(struct io_uring *ring, unsigned sq, unsigned cq)
{
	/* DEFER_TASKRUN (6.1) runs completions only when we wait, in our own
	 * context; COOP_TASKRUN (5.19) avoids IPIs; plain setup otherwise. */
	static const unsigned modes[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	int rc = -EINVAL;

	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = modes[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = cq;
		rc = io_uring_queue_init_params(sq, ring, &p);
		if (rc != -EINVAL)
			return rc;
	}
	return rc;
}

static void *map_anon(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int ingest_uring_bufs_init(struct io_uring *ring, struct ingest_uring_bufs *b, uint32_t count,
			   uint32_t size, uint16_t bgid)
{
	struct io_uring_buf_reg reg;
	int rc;

	memset(b, 0, sizeof(*b));
	if (count == 0 || count > 32768 || size == 0)
		return -EINVAL;
	b->entries = 1;
	while (b->entries < count)
		b->entries <<= 1;
	b->count = count;
	b->size = size;
	b->bgid = bgid;
	b->br_bytes = (size_t)b->entries * sizeof(struct io_uring_buf);
	b->br = map_anon(b->br_bytes);
	b->mem_bytes = (size_t)count * size;
	b->mem = map_anon(b->mem_bytes);
	if (!b->br || !b->mem) {
		rc = -ENOMEM;
		goto err_unmap;
	}
	io_uring_buf_ring_init(b->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	reg.ring_entries = b->entries;
	reg.bgid = bgid;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc < 0)
		goto err_unmap;
	for (uint32_t i = 0; i < count; i++)
		ingest_uring_buf_put(b, i);
	ingest_uring_bufs_publish(b);
	return 0;

err_unmap:
	if (b->br)
		munmap(b->br, b->br_bytes);
	if (b->mem)
		munmap(b->mem, b->mem_bytes);
	memset(b, 0, sizeof(*b));
	return rc;
}

void ingest_uring_bufs_free(struct io_uring *ring, struct ingest_uring_bufs *b)
{
	if (!b->br)
		return;
	if (ring)
		io_uring_unregister_buf_ring(ring, b->bgid);
	munmap(b->br, b->br_bytes);
	munmap(b->mem, b->mem_bytes);
	memset(b, 0, sizeof(*b));
}

void ingest_uring_buf_put(struct ingest_uring_bufs *b, uint32_t bid)
{
	io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * b->size, b->size, (unsigned short)bid,
			      io_uring_buf_ring_mask(b->entries), (int)b->pending);
	b->pending++;
	b->avail++;
}

void ingest_uring_bufs_publish(struct ingest_uring_bufs *b)
{
	if (!b->pending)
		return;
	io_uring_buf_ring_advance(b->br, (int)b->pending);
	b->pending = 0;
}

struct io_uring_sqe *ingest_uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

int ingest_uring_listen(const char *host, uint16_t port, int backlog, int *fd, const char **why)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8];
	int s = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (host && (!host[0] || strcmp(host, "*") == 0))
		host = NULL;
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		*why = "cannot resolve the listen address";
		return rc == EAI_SYSTEM ? -errno : -EINVAL;
	}
	s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		*why = "socket";
		goto err;
	}
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		*why = "setsockopt";
		goto err;
	}
	if (bind(s, res->ai_addr, res->ai_addrlen) < 0) {
		*why = "bind";
		goto err;
	}
	if (listen(s, backlog) < 0) {
		*why = "listen";
		goto err;
	}
	freeaddrinfo(res);
	*fd = s;
	return 0;

err:
	rc = -errno;
	if (s >= 0)
		close(s);
	freeaddrinfo(res);
	return rc;
}
