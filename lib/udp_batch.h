/* udp_batch: the UDP datagrams one pass of a sender produces, sent with as
 * few system calls as the kernel allows. At flush, datagrams of the same
 * length to the same peer become one UDP GSO send (UDP_SEGMENT, Linux
 * 4.18+: one pass down the IP stack, cut into datagrams at the device or
 * at the receiving socket), and all those sends go in one sendmmsg. "The
 * same peer" is the same address bytes and length. The peers see the same
 * datagrams; only their order across groups changes, so a datagram whose
 * order matters (a SIP response before the NOTIFY that follows it, which
 * may go to another address of the same UA; a dialog's final NOTIFY after
 * the one before it) is added as a barrier: it goes after everything
 * queued before it, and everything queued after it goes after it.
 *
 * Used by the SIP egress worker and by the bench's baseline senders, so
 * the baseline sends the same way pnad does. Single-threaded; the batch
 * references the caller's bytes and addresses until udp_batch_flush
 * returns. */
#ifndef PNA_UDP_BATCH_H
#define PNA_UDP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDP_BATCH_MAX 64 /* datagrams queued between flushes */
/* Longest datagram sent in a group: a GSO segment must fit the path MTU,
 * and 1232 bytes fit any IPv6 path (1280 - 48); longer ones go alone. */
#define UDP_BATCH_GSO_LEN 1232
#define UDP_BATCH_SEGS 64 /* segments per GSO send: UDP_MAX_SEGMENTS of older kernels */

struct udp_batch {
	int fd;
	bool gso; /* UDP_SEGMENT works on fd; a caller may clear it: one send per datagram */
	unsigned n;
	struct iovec iov[UDP_BATCH_MAX];
	const struct sockaddr *addr[UDP_BATCH_MAX]; /* NULL: the connected peer */
	socklen_t alen[UDP_BATCH_MAX];
	bool barrier[UDP_BATCH_MAX];
	int err; /* -errno of the last datagram the kernel refused, 0: none yet */
	/* Counted since udp_batch_init: */
	uint64_t datagrams; /* handed to the kernel */
	uint64_t sends;	    /* messages given to sendmmsg (a group is one) */
	uint64_t grouped;   /* datagrams that went in a group of two or more */
	uint64_t dropped;   /* datagrams the kernel refused (UDP is lossy) */
	/* flush scratch */
	uint8_t group[UDP_BATCH_MAX];
	struct iovec giov[UDP_BATCH_MAX];
	struct mmsghdr m[UDP_BATCH_MAX];
	union {
		struct cmsghdr align;
		char buf[32];
	} ctl[UDP_BATCH_MAX];
};

/* Start an empty batch on UDP socket fd (not owned), and find out whether
 * the kernel takes UDP_SEGMENT on it. */
void udp_batch_init(struct udp_batch *b, int fd);

static inline bool udp_batch_full(const struct udp_batch *b)
{
	return b->n == UDP_BATCH_MAX;
}

/* Datagrams queued since the last flush. */
static inline unsigned udp_batch_count(const struct udp_batch *b)
{
	return b->n;
}

/* Queue len bytes at buf for addr (NULL for a connected socket); the
 * batch must not be full. With `barrier`, the datagram goes after every
 * datagram queued before it, and before every one queued after it. */
void udp_batch_add(struct udp_batch *b, const void *buf, size_t len, const struct sockaddr *addr,
		   socklen_t alen, bool barrier);

/* Send what is queued and empty the batch. Datagrams the kernel refuses
 * are dropped and counted (a refused group, e.g. for a full socket
 * buffer, as a whole). A group the kernel will not segment (a device
 * without checksum offload, an IPsec route, a path MTU below the length)
 * is sent again one datagram at a time; GSO stays off for the socket once
 * the kernel refuses it outright. 0, or the -errno of the last datagram
 * refused in this flush. */
int udp_batch_flush(struct udp_batch *b);

#endif
