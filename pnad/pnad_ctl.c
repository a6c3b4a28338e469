/* pnad_ctl: control-socket server run by the supervisor; it answers from the
 * shard and router segments through their seqlocked read paths, so a query
 * never stops the event path. */
#include "pnad/pnad_ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/evrec.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/names.h"
#include "pna.pb-c.h"
#include "lib/ring.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"

#define CTL_REPLY_MAX (4u << 20)

struct out {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len + 1 >= o->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap - 1;
}

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static const void *state_of(const struct pnad_rt *rt, uint32_t i)
{
	return shard_seg_state(&rt->shards[i].seg);
}

static void put_mailbox(struct out *o, const struct shard_mailbox *mb)
{
	put(o,
	    "uidvalidity %u\nuidnext %u\nmessages %u\nunseen %u\n"
	    "modseq %llu\nevents %llu\nlast_event %s\n",
	    mb->uidvalidity, mb->uidnext, mb->messages, mb->unseen, (unsigned long long)mb->modseq,
	    (unsigned long long)mb->events, evrec_type_name(mb->last_type));
}

/* Canonical account and path of "user@domain/path"; path may be empty. */
static int parse_key(const char *arg, char *acct, char *path, const char **why)
{
	const char *p;
	size_t alen = names_split_key(arg, &p);

	if (names_account(arg, alen, acct, NAMES_ACCOUNT_MAX + 1, why) < 0)
		return -EINVAL;
	path[0] = '\0';
	if (*p && names_path(p, strlen(p), path, NAMES_KEY_MAX + 1, why) < 0)
		return -EINVAL;
	return 0;
}

static uint32_t owner(const struct pnad_rt *rt, const char *acct)
{
	return hash_jump(hash64(acct, strlen(acct)), rt->nshards);
}

static void cmd_mailbox(const struct pnad_rt *rt, const char *arg, struct out *o)
{
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];
	struct shard_mailbox mb, found;
	const char *why;
	int nfound = 0;

	if (parse_key(arg, acct, path, &why) < 0 || !path[0]) {
		put(o, "error %s\n", path[0] || why ? why : "expected account/mailbox");
		return;
	}
	/* Look everywhere, not only at the owner: a mailbox on the wrong shard
	 * is a routing bug that pnactl must show. */
	put(o, "ok\nmailbox %s/%s\nowner_shard %u\n", acct, path, owner(rt, acct));
	for (uint32_t i = 0; i < rt->nshards; i++) {
		if (shard_state_get(state_of(rt, i), acct, path, &mb) == 0) {
			put(o, "shard %u\n", i);
			found = mb;
			nfound++;
		}
	}
	if (!nfound) {
		o->len = 0;
		put(o, "error no mailbox %s/%s\n", acct, path);
		return;
	}
	put_mailbox(o, &found);
}

struct acct_walk {
	struct out *o;
	uint32_t shard, n;
};

static int walk_one(const struct shard_mailbox *mb, void *arg)
{
	struct acct_walk *w = arg;

	put(w->o,
	    "mailbox %s shard=%u messages=%u unseen=%u uidnext=%u "
	    "uidvalidity=%u events=%llu\n",
	    mb->path, w->shard, mb->messages, mb->unseen, mb->uidnext, mb->uidvalidity,
	    (unsigned long long)mb->events);
	w->n++;
	return 0;
}

static void cmd_account(const struct pnad_rt *rt, const char *arg, struct out *o)
{
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];
	struct acct_walk w = { .o = o };
	const char *why = NULL;

	if (parse_key(arg, acct, path, &why) < 0 || path[0]) {
		put(o, "error %s\n", why ? why : "expected an account, not a mailbox");
		return;
	}
	put(o, "ok\naccount %s\nowner_shard %u\n", acct, owner(rt, acct));
	for (w.shard = 0; w.shard < rt->nshards; w.shard++)
		shard_state_foreach(state_of(rt, w.shard), acct, walk_one, &w);
	put(o, "mailboxes %u\n", w.n);
}

static void cmd_stats(const struct pnad_rt *rt, struct out *o)
{
	const struct router_seg *r = router_seg_of(&rt->router_seg);

	put(o, "ok\nshards %u\n", rt->nshards);
	put(o,
	    "router.pid %d\nrouter.accepted %llu\nrouter.refused %llu\n"
	    "router.open %llu\nrouter.frames %llu\nrouter.events %llu\n"
	    "router.bytes %llu\nrouter.acks %llu\nrouter.backpressure %llu\n",
	    r->pid, (unsigned long long)rd(&r->c.accepted), (unsigned long long)rd(&r->c.refused),
	    (unsigned long long)rd(&r->c.open), (unsigned long long)rd(&r->c.frames),
	    (unsigned long long)rd(&r->c.events), (unsigned long long)rd(&r->c.bytes),
	    (unsigned long long)rd(&r->c.acks), (unsigned long long)rd(&r->c.backpressure));
	for (unsigned e = 1; e < ROUTER_NERR; e++) {
		const ProtobufCEnumValue *v =
			protobuf_c_enum_descriptor_get_value(&pna__error_code__descriptor, (int)e);

		if (v)
			put(o, "router.errors.%s %llu\n", v->name,
			    (unsigned long long)rd(&r->c.errors[e]));
	}
	for (uint32_t i = 0; i < r->nstores; i++) {
		const struct router_store *s = &r->stores[i];

		put(o,
		    "store.%s.last_seq %llu\nstore.%s.events %llu\n"
		    "store.%s.duplicates %llu\nstore.%s.gaps %llu\n"
		    "store.%s.connected %u\n",
		    s->id, (unsigned long long)rd(&s->last_seq), s->id,
		    (unsigned long long)rd(&s->events), s->id,
		    (unsigned long long)rd(&s->duplicates), s->id, (unsigned long long)rd(&s->gaps),
		    s->id, s->connected);
	}
	for (uint32_t i = 0; i < rt->nshards; i++) {
		const struct shard_seg *h = shard_seg_of(&rt->shards[i].seg);
		const void *st = state_of(rt, i);

		put(o,
		    "shard.%u.pid %d\nshard.%u.events_applied %llu\n"
		    "shard.%u.events_replayed %llu\nshard.%u.events_no_state %llu\n"
		    "shard.%u.table_full %llu\nshard.%u.restarts %llu\n"
		    "shard.%u.mailboxes %u\nshard.%u.mailbox_capacity %u\n"
		    "shard.%u.ring_used %llu\nshard.%u.ring_bytes %llu\n",
		    i, h->pid, i, (unsigned long long)rd(&h->c.events_applied), i,
		    (unsigned long long)rd(&h->c.events_replayed), i,
		    (unsigned long long)rd(&h->c.events_no_state), i,
		    (unsigned long long)rd(&h->c.table_full), i,
		    (unsigned long long)rd(&h->c.restarts), i, shard_state_count(st), i,
		    shard_state_capacity(st), i,
		    (unsigned long long)ring_used(shard_seg_ring(&rt->shards[i].seg)), i,
		    (unsigned long long)h->ring_bytes);
	}
}

size_t pnad_ctl_answer(const struct pnad_rt *rt, const char *req, char *buf, size_t cap)
{
	struct out o = { .p = buf, .len = 0, .cap = cap };
	const char *arg = strchr(req, ' ');

	buf[0] = '\0';
	arg = arg ? arg + 1 : "";
	if (strncmp(req, "mailbox ", 8) == 0)
		cmd_mailbox(rt, arg, &o);
	else if (strncmp(req, "account ", 8) == 0)
		cmd_account(rt, arg, &o);
	else if (strcmp(req, "stats") == 0)
		cmd_stats(rt, &o);
	else if (strncmp(req, "shard-of ", 9) == 0)
		put(&o, "ok\nowner_shard %u\n", owner(rt, arg));
	else
		put(&o, "error unknown command (mailbox, account, stats, shard-of)\n");
	return o.len;
}

int pnad_ctl_listen(const struct pnad_rt *rt)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(rt->conf->control) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, rt->conf->control);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Read one line (up to cap-1 bytes) within ~1 s. */
static int read_request(int fd, char *req, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 1000) <= 0)
			return -ETIMEDOUT;
		r = read(fd, req + n, cap - 1 - n);
		if (r <= 0)
			return r == 0 ? -EPIPE : -errno;
		n += (size_t)r;
		req[n] = '\0';
		if (strchr(req, '\n')) {
			*strchr(req, '\n') = '\0';
			return 0;
		}
	}
	return -EMSGSIZE;
}

void pnad_ctl_serve(const struct pnad_rt *rt, int lfd)
{
	char req[512];
	char *reply;
	size_t len, off = 0;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	struct timeval tv = { .tv_sec = 2 };

	if (fd < 0)
		return;
	/* A pnactl that stops reading must not stall the supervisor. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (read_request(fd, req, sizeof(req)) < 0)
		goto out;
	reply = malloc(CTL_REPLY_MAX);
	if (!reply)
		abort();
	len = pnad_ctl_answer(rt, req, reply, CTL_REPLY_MAX);
	while (off < len) {
		ssize_t w = write(fd, reply + off, len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(reply);
out:
	close(fd);
}
