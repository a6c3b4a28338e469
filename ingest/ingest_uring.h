/* ingest_uring: the io_uring plumbing of the router process's loop: ring
 * setup with the cheapest task-work mode the kernel accepts, the
 * provided-buffer ring that multishot receives draw from, user_data encoding
 * and the listening socket. */
#ifndef PNA_INGEST_URING_H
#define PNA_INGEST_URING_H

#include <liburing.h>
#include <stdint.h>

/* What a completion is for. */
enum ingest_op {
	INGEST_OP_ACCEPT = 1,  /* multishot accept on the listener */
	INGEST_OP_RECV,	       /* multishot recv of slot */
	INGEST_OP_SEND,	       /* send of slot's out buffer */
	INGEST_OP_CANCEL_RECV, /* cancel of slot's recv */
	INGEST_OP_CANCEL_SEND, /* cancel of slot's send */
	INGEST_OP_SPACE,       /* poll of shard `slot`'s space eventfd */
};

/* user_data = {op: 8 bits, generation: 24 bits, slot: 32 bits}: a stale
 * completion of a reused slot is told apart by its generation, and no
 * pointer that could die in flight is ever handed to the kernel. */
#define INGEST_GEN_MASK 0xffffffu

static inline uint64_t ingest_ud(enum ingest_op op, uint32_t slot, uint32_t gen)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & INGEST_GEN_MASK) << 32 | slot;
}

static inline enum ingest_op ingest_ud_op(uint64_t ud)
{
	return (enum ingest_op)(ud >> 56);
}

static inline uint32_t ingest_ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & INGEST_GEN_MASK;
}

static inline uint32_t ingest_ud_slot(uint64_t ud)
{
	return (uint32_t)ud;
}

/* Provided receive buffers: `count` buffers of `size` bytes registered as
 * buffer group `bgid`. Owned by the loop. */
struct ingest_uring_bufs {
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *mem;
	size_t mem_bytes;
	uint32_t count, size, entries;
	uint16_t bgid;
	uint32_t avail;	  /* buffers the kernel can fill now */
	uint32_t pending; /* returned since the last publish */
};

/* Set up `ring` (sq entries, CQ of cq entries). 0 or -errno as
 * io_uring_queue_init_params reports it (-EPERM/-ENOSYS/-EACCES when
 * io_uring is disabled or filtered). */
int ingest_uring_init(struct io_uring *ring, unsigned sq, unsigned cq);

/* Allocate and register the buffer ring (liburing 2.3 has no
 * io_uring_setup_buf_ring: the memory is mapped here, page-aligned) and hand
 * every buffer to the kernel. count <= 32768. 0 or -errno. */
int ingest_uring_bufs_init(struct io_uring *ring, struct ingest_uring_bufs *b, uint32_t count,
			   uint32_t size, uint16_t bgid);
/* Unregister (ring may be NULL once the ring is gone) and unmap. */
void ingest_uring_bufs_free(struct io_uring *ring, struct ingest_uring_bufs *b);

/* Give buffer bid back to the kernel; visible after ingest_uring_bufs_publish. */
void ingest_uring_buf_put(struct ingest_uring_bufs *b, uint32_t bid);
/* Make the buffers put since the last call visible to the kernel. */
void ingest_uring_bufs_publish(struct ingest_uring_bufs *b);

/* A free SQE, submitting what is queued when the SQ is full. NULL only if
 * the kernel takes nothing (the caller treats it as a fatal error). */
struct io_uring_sqe *ingest_uring_sqe(struct io_uring *ring);

/* A TCP listening socket on host:port (host "" or "*" for any address) with
 * SO_REUSEADDR, SO_REUSEPORT and TCP_NODELAY. 0 and *fd, or -errno with a
 * static reason in *why. */
int ingest_uring_listen(const char *host, uint16_t port, int backlog, int *fd, const char **why);

#endif
