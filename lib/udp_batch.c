/* udp_batch: grouping queued datagrams into UDP GSO sends (see udp_batch.h). */
#include "lib/udp_batch.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

/* Bytes of one GSO send: well under the 64 KiB an IP packet may carry. */
#define GROUP_BYTES 60000u

struct groups {
	unsigned n;
	unsigned first[UDP_BATCH_MAX]; /* the datagram that opened it (its peer) */
	unsigned count[UDP_BATCH_MAX];
	unsigned start[UDP_BATCH_MAX]; /* its first iovec in giov */
	bool open[UDP_BATCH_MAX];      /* later datagrams may join */
};

void udp_batch_init(struct udp_batch *b, int fd)
{
	int zero = 0;

	memset(b, 0, sizeof(*b));
	b->fd = fd;
	/* A kernel without UDP GSO refuses the option; one that has it takes
	 * 0 (no socket-wide segment size) and leaves the socket unchanged. */
	b->gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0;
}

void udp_batch_add(struct udp_batch *b, const void *buf, size_t len, const struct sockaddr *addr,
		   socklen_t alen, bool barrier)
{
	unsigned i = b->n++;

	assert(i < UDP_BATCH_MAX);
	b->iov[i] = (struct iovec){ (void *)buf, len };
	b->addr[i] = addr;
	b->alen[i] = addr ? alen : 0;
	b->barrier[i] = barrier;
}

static bool same_peer(const struct udp_batch *b, unsigned i, unsigned j)
{
	if (b->alen[i] != b->alen[j])
		return false;
	return b->addr[i] == b->addr[j] || !memcmp(b->addr[i], b->addr[j], b->alen[i]);
}

static bool groupable(const struct udp_batch *b, unsigned i)
{
	return b->gso && !b->barrier[i] && b->iov[i].iov_len <= UDP_BATCH_GSO_LEN;
}

/* The group datagram i joins: the newest open one of its peer and length
 * with room, else a new one. A barrier closes every group (whatever the
 * peer: a UA's response and its NOTIFY may go to two addresses) and stands
 * alone, so nothing crosses it. */
static unsigned group_of(const struct udp_batch *b, struct groups *g, unsigned i)
{
	size_t len = b->iov[i].iov_len;
	bool join = groupable(b, i);
	unsigned k = g->n;

	while (k-- > 0) {
		unsigned f = g->first[k];

		if (b->barrier[i]) {
			g->open[k] = false;
			continue;
		}
		if (!join || !g->open[k] || !same_peer(b, f, i))
			continue;
		if (b->iov[f].iov_len == len && g->count[k] < UDP_BATCH_SEGS &&
		    (g->count[k] + 1) * len <= GROUP_BYTES)
			return k;
	}
	k = g->n++;
	g->first[k] = i;
	g->count[k] = 0;
	g->open[k] = join;
	return k;
}

/* One message per group: the group's iovecs back to back, and for two or
 * more the segment size (every datagram in it has that length). */
static void build(struct udp_batch *b, struct groups *g)
{
	unsigned at[UDP_BATCH_MAX], next = 0;

	for (unsigned k = 0; k < g->n; k++) {
		g->start[k] = at[k] = next;
		next += g->count[k];
	}
	for (unsigned i = 0; i < b->n; i++)
		b->giov[at[b->group[i]]++] = b->iov[i];
	for (unsigned k = 0; k < g->n; k++) {
		unsigned f = g->first[k];
		struct msghdr *h = &b->m[k].msg_hdr;

		*h = (struct msghdr){ .msg_name = (void *)b->addr[f],
				      .msg_namelen = b->alen[f],
				      .msg_iov = &b->giov[g->start[k]],
				      .msg_iovlen = g->count[k] };
		if (g->count[k] > 1) {
			struct cmsghdr *c = &b->ctl[k].align;
			uint16_t seg = (uint16_t)b->iov[f].iov_len;

			h->msg_control = c;
			h->msg_controllen = CMSG_SPACE(sizeof(seg));
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
	}
}

/* Group k, which the kernel would not segment, one datagram at a time. */
static void send_singly(struct udp_batch *b, const struct groups *g, unsigned k)
{
	struct msghdr h = b->m[k].msg_hdr;

	h.msg_control = NULL;
	h.msg_controllen = 0;
	h.msg_iovlen = 1;
	for (unsigned j = 0; j < g->count[k]; j++) {
		ssize_t r;

		h.msg_iov = &b->giov[g->start[k] + j];
		while ((r = sendmsg(b->fd, &h, 0)) < 0 && errno == EINTR)
			;
		if (r < 0) {
			b->dropped++;
			b->err = -errno;
		} else {
			b->datagrams++;
		}
		b->sends++;
	}
}

/* errno of a GSO send the same datagrams sent one by one may survive. */
static bool gso_refusal(int err)
{
	return err == EIO || err == EINVAL || err == EMSGSIZE || err == EOPNOTSUPP ||
	       err == ENOPROTOOPT;
}

static void sent(struct udp_batch *b, const struct groups *g, unsigned from, unsigned n)
{
	for (unsigned k = from; k < from + n; k++) {
		b->datagrams += g->count[k];
		b->grouped += g->count[k] > 1 ? g->count[k] : 0;
	}
	b->sends += n;
}

int udp_batch_flush(struct udp_batch *b)
{
	struct groups g;

	b->err = 0;
	if (!b->n)
		return 0;
	g.n = 0;
	for (unsigned i = 0; i < b->n; i++) {
		unsigned k = group_of(b, &g, i);

		b->group[i] = (uint8_t)k;
		g.count[k]++;
	}
	build(b, &g);
	for (unsigned k = 0; k < g.n;) {
		int r = sendmmsg(b->fd, b->m + k, g.n - k, 0);

		if (r > 0) {
			sent(b, &g, k, (unsigned)r);
			k += (unsigned)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && g.count[k] > 1 && gso_refusal(errno)) {
			/* a device without checksum offload (or an IPsec route)
			 * refuses GSO for good */
			if (errno == EIO || errno == EOPNOTSUPP || errno == ENOPROTOOPT)
				b->gso = false;
			send_singly(b, &g, k);
		} else {
			b->dropped += g.count[k];
			b->err = r < 0 ? -errno : -EIO;
		}
		k++;
	}
	b->n = 0;
	return b->err;
}
