/* bench_sip: options, the pnad and baseline runs of `pna-bench sip`, the
 * UDP sink both are measured with, and the report. Runs in the pna-bench
 * process; the baseline sender is a forked child. */
#include "bench/bench_sip.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_load.h"
#include "bench/bench_pnad.h"
#include "bench/bench_util.h"
#include "egress/sip/sip_dlg.h"
#include "lib/shm.h"
#include "shard/sub_seg.h"

#define CREDENTIAL "secret"
#define TARGET_RATIO 0.6 /* issue #4 */
#define BATCH 64	 /* datagrams per recvmmsg / sendmmsg */
#define DGRAM_MAX 4096
#define REPLY_MAX 2048
#define NCAPTURE 1024 /* NOTIFYs kept for the baseline */
#define SOCK_BUF (4 << 20)
#define IDLE_END 0.5 /* seconds without a NOTIFY once the events are acked */

struct sip_opts {
	uint32_t accounts, per_frame, window;
	uint64_t events;
	double duration; /* cap on the event phase, seconds */
	const char *pnad;
	bool check, keep;
	char pnad_buf[4096];
};

/* The counting sink: one UDP socket; NOTIFYs are counted and answered 200
 * in batches, 200s to our SUBSCRIBEs mark the account subscribed. */
struct sink {
	int fd;
	uint16_t port;
	uint64_t notifies, subscribed;
	double t_first, t_last; /* of NOTIFYs */
	uint8_t *subs;		/* one byte per account */
	uint32_t naccounts;
	bool capture;
	uint32_t ncap;
	uint16_t cap_len[NCAPTURE];
	char (*cap)[DGRAM_MAX];
	struct mmsghdr rm[BATCH], sm[BATCH];
	struct iovec riov[BATCH], siov[BATCH];
	struct sockaddr_in raddr[BATCH];
	char rbuf[BATCH][DGRAM_MAX];
	char sbuf[BATCH][REPLY_MAX];
};

/* --- options --- */

void bench_sip_usage(FILE *f)
{
	fprintf(f,
		"usage: pna-bench sip [options]\n"
		"  -a, --accounts N    subscriptions, one account each (10000)\n"
		"  -e, --events N      MessageNew events streamed (1M)\n"
		"  -b, --batch N       events per ingest frame (64)\n"
		"  -w, --window N      baseline NOTIFYs in flight, unanswered (256)\n"
		"  -d, --duration SEC  cap on the event phase (15)\n"
		"  -p, --pnad PATH     pnad binary (next to pna-bench)\n"
		"      --check         exit 1 when the ratio is below %.1f\n"
		"      --keep          keep the temporary directory (config, log)\n",
		TARGET_RATIO);
}

static int opt_num(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'k')
		v *= 1000, end++;
	else if (*end == 'M')
		v *= 1000000, end++;
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "pna-bench sip: --%s %s: expected %llu..%llu\n", name, s,
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct sip_opts *o)
{
	static const struct option lo[] = {
		{ "accounts", 1, 0, 'a' }, { "events", 1, 0, 'e' },
		{ "batch", 1, 0, 'b' },	   { "window", 1, 0, 'w' },
		{ "duration", 1, 0, 'd' }, { "pnad", 1, 0, 'p' },
		{ "check", 0, 0, 'C' },	   { "keep", 0, 0, 'K' },
		{ "help", 0, 0, 'h' },	   { 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->accounts = 10000;
	o->events = 1000000;
	o->per_frame = 64;
	o->window = 256;
	o->duration = 15;
	while ((c = getopt_long(argc, argv, "a:e:b:w:d:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (opt_num("accounts", optarg, 1, 1u << 20, &v) < 0)
				return -EINVAL;
			o->accounts = (uint32_t)v;
			break;
		case 'e':
			if (opt_num("events", optarg, 1, 100000000, &v) < 0)
				return -EINVAL;
			o->events = v;
			break;
		case 'b':
			if (opt_num("batch", optarg, 1, 4096, &v) < 0)
				return -EINVAL;
			o->per_frame = (uint32_t)v;
			break;
		case 'w':
			if (opt_num("window", optarg, 1, 65536, &v) < 0)
				return -EINVAL;
			o->window = (uint32_t)v;
			break;
		case 'd':
			if (opt_num("duration", optarg, 1, 600, &v) < 0)
				return -EINVAL;
			o->duration = (double)v;
			break;
		case 'p':
			o->pnad = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'K':
			o->keep = true;
			break;
		case 'h':
			bench_sip_usage(stdout);
			exit(0);
		default:
			bench_sip_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		bench_sip_usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* --- the sink --- */

static int udp_socket(uint16_t *port)
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

static struct sink *sink_new(uint32_t naccounts)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->subs = calloc(naccounts ? naccounts : 1, 1);
	s->cap = calloc(NCAPTURE, DGRAM_MAX);
	if (!s->subs || !s->cap)
		abort();
	s->naccounts = naccounts;
	for (int i = 0; i < BATCH; i++) {
		s->riov[i] = (struct iovec){ s->rbuf[i], DGRAM_MAX - 1 };
		s->rm[i].msg_hdr.msg_iov = &s->riov[i];
		s->rm[i].msg_hdr.msg_iovlen = 1;
		s->sm[i].msg_hdr.msg_iov = &s->siov[i];
		s->sm[i].msg_hdr.msg_iovlen = 1;
	}
	s->fd = udp_socket(&s->port);
	if (s->fd < 0) {
		free(s->subs);
		free(s->cap);
		free(s);
		return NULL;
	}
	return s;
}

static void sink_free(struct sink *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s->subs);
	free(s->cap);
	free(s);
}

static bool hdr_is(const char *line, size_t len, const char *name, const char *compact)
{
	size_t n = strlen(name);

	if ((line[0] | 0x20) != (name[0] | 0x20) && (line[0] | 0x20) != (compact[0] | 0x20))
		return false; /* most lines: no second look */
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

/* A 200 to one of our SUBSCRIBEs: Call-ID "bs-<account>". */
static void on_response(struct sink *s, const char *m)
{
	const char *c = strstr(m, "\nCall-ID: bs-");
	unsigned long k;

	if (strncmp(m, "SIP/2.0 200", 11) || !c || !strstr(m, " SUBSCRIBE\r\n"))
		return;
	k = strtoul(c + 13, NULL, 10);
	if (k < s->naccounts && !s->subs[k]) {
		s->subs[k] = 1;
		s->subscribed++;
	}
}

/* Read one batch without waiting: how many datagrams (0: none). */
static int sink_read(struct sink *s)
{
	int n;

	for (int i = 0; i < BATCH; i++) {
		s->rm[i].msg_hdr.msg_name = &s->raddr[i];
		s->rm[i].msg_hdr.msg_namelen = sizeof(s->raddr[i]);
	}
	n = recvmmsg(s->fd, s->rm, BATCH, MSG_DONTWAIT, NULL);
	return n > 0 ? n : 0;
}

/* Count and answer the n datagrams read: one sendmmsg for the 200s. */
static void sink_answer(struct sink *s, int n)
{
	double now = bench_now();
	int nq = 0;

	for (int i = 0; i < n; i++) {
		char *m = s->rbuf[i];
		size_t len = s->rm[i].msg_len, r;

		m[len] = 0;
		if (strncmp(m, "NOTIFY ", 7)) {
			on_response(s, m);
			continue;
		}
		s->notifies++;
		s->t_last = now;
		if (!s->t_first)
			s->t_first = now;
		if (s->capture && s->ncap < NCAPTURE) {
			memcpy(s->cap[s->ncap], m, len);
			s->cap_len[s->ncap++] = (uint16_t)len;
		}
		r = build_ok(m, len, s->sbuf[nq], REPLY_MAX);
		if (!r)
			continue;
		s->siov[nq] = (struct iovec){ s->sbuf[nq], r };
		s->sm[nq].msg_hdr.msg_name = &s->raddr[i];
		s->sm[nq].msg_hdr.msg_namelen = s->rm[i].msg_hdr.msg_namelen;
		nq++;
	}
	for (int off = 0; off < nq;) {
		int w = sendmmsg(s->fd, s->sm + off, (unsigned)(nq - off), 0);

		if (w <= 0)
			break; /* a lost 200 costs the peer a retransmission, counted */
		off += w;
	}
}

/* Take what has arrived (waiting up to timeout_ms for the first), answer
 * the NOTIFYs. How many datagrams were read. The socket is read before
 * polling it: under load there is nearly always something, and the poll
 * would be one more system call per batch. */
static int sink_poll(struct sink *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	int total = 0, n = sink_read(s);

	if (!n) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
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

/* --- pnad --- */

struct sip_pnad {
	struct bench_pnad b;
	pid_t worker; /* the SIP worker (0: not found) */
	uint16_t sip_port;
	char seg[64];
	struct shm_seg sip;  /* base NULL when not attached */
	struct shm_seg subs; /* shard 0's subscription segment, likewise */
};

/* The process of `tree` holding a socket with inode `ino`. */
static pid_t socket_owner(const pid_t *tree, size_t n, unsigned long ino)
{
	char path[320], link[64], want[40];

	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	for (size_t i = 0; i < n; i++) {
		DIR *d;
		struct dirent *e;
		bool found = false;

		snprintf(path, sizeof(path), "/proc/%d/fd", (int)tree[i]);
		if (!(d = opendir(path)))
			continue;
		while (!found && (e = readdir(d))) {
			ssize_t l;

			snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)tree[i], e->d_name);
			l = readlink(path, link, sizeof(link) - 1);
			found = l > 0 && (link[l] = 0, !strcmp(link, want));
		}
		closedir(d);
		if (found)
			return tree[i];
	}
	return 0;
}

/* The SIP worker: the process holding the UDP socket bound to sip_port. */
static pid_t find_worker(const struct sip_pnad *p)
{
	FILE *f = fopen("/proc/net/udp", "re");
	char line[512];
	unsigned long ino = 0;
	pid_t tree[64];

	if (!f)
		return 0;
	while (!ino && fgets(line, sizeof(line), f)) {
		unsigned int port;
		unsigned long i;

		if (sscanf(line, " %*d: %*x:%x %*x:%*x %*x %*x:%*x %*x:%*x %*x %*d %*d %lu", &port,
			   &i) == 2 &&
		    port == p->sip_port)
			ino = i;
	}
	fclose(f);
	return ino ? socket_owner(tree, bench_proc_tree(p->b.pid, tree, 64), ino) : 0;
}

static void pnad_stop(struct sip_pnad *p)
{
	shm_seg_close(&p->subs);
	shm_seg_close(&p->sip);
	bench_pnad_stop(&p->b);
	shm_seg_unlink(p->seg);
}

/* bench_pnad's pnad with a SIP worker on a port of its own. */
static int pnad_start(const struct sip_opts *o, const char *dir, struct sip_pnad *p)
{
	uint32_t subs = o->accounts * 2 < 1024 ? 1024 : o->accounts * 2;
	char extra[256], name[96];
	struct bench_pnad_opts po = { .path = o->pnad,
				      .dir = dir,
				      .label = "sip",
				      .shards = 1,
				      .stores = 1,
				      .credential = CREDENTIAL,
				      .ring_bytes = "16M",
				      .mailboxes = subs,
				      .extra = extra };
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = bench_free_port(&p->sip_port)) < 0)
		return rc;
	snprintf(extra, sizeof(extra),
		 "subscriptions = %u\nsip_listen = 127.0.0.1:%u\nsip_domain = example.com\n"
		 "sip_trusted = 127.0.0.1\n",
		 subs, p->sip_port);
	if ((rc = bench_pnad_start(&po, &p->b)) < 0)
		return rc;
	snprintf(p->seg, sizeof(p->seg), "/%s.sip", p->b.name);
	for (double t0 = bench_now(); !p->worker && bench_now() - t0 < 10; bench_sleep(0.02))
		p->worker = find_worker(p);
	rc = p->worker ? shm_seg_attach_ro(p->seg, SIP_SEG_KIND, &p->sip) : -ETIMEDOUT;
	snprintf(name, sizeof(name), "/%s.subs.0", p->b.name);
	if (rc == 0 && shm_seg_attach_ro(name, SUB_SEG_KIND, &p->subs) < 0)
		p->subs.base = NULL; /* the shard's counters are not reported */
	if (rc < 0) {
		p->sip.base = NULL;
		p->subs.base = NULL;
		bench_pnad_failed(&p->b, "has no SIP worker");
		pnad_stop(p);
	}
	return rc;
}

static struct sip_counters sip_counters(const struct sip_pnad *p)
{
	struct sip_counters c = { 0 };
	const struct sip_seg *s = p->sip.base;

	if (s)
		memcpy(&c, (const void *)&s->c, sizeof(c));
	return c;
}

static struct sub_counters sub_counters(const struct sip_pnad *p)
{
	struct sub_counters c = { 0 };

	if (p->subs.base)
		memcpy(&c, (const void *)&sub_seg_of(&p->subs)->c, sizeof(c));
	return c;
}

/* --- the runs --- */

static size_t subscribe_msg(char *buf, size_t cap, uint32_t k, uint16_t sink_port)
{
	char acct[64];

	snprintf(acct, sizeof(acct), "user%u@example%u.com", k, k % 100);
	return (size_t)snprintf(
		buf, cap,
		"SUBSCRIBE sip:%s SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-bs-%u;rport\r\n"
		"From: <sip:%s>;tag=bs%u\r\nTo: <sip:%s>\r\nCall-ID: bs-%u\r\n"
		"CSeq: 1 SUBSCRIBE\r\nContact: <sip:user%u@127.0.0.1:%u;transport=udp>\r\n"
		"Max-Forwards: 70\r\nP-Asserted-Identity: <sip:%s>\r\n"
		"Event: message-summary\r\nAccept: application/simple-message-summary\r\n"
		"Expires: 3600\r\nContent-Length: 0\r\n\r\n",
		acct, sink_port, k, acct, k, acct, k, k, sink_port, acct);
}

/* Subscribe every account, at most `window` SUBSCRIBEs unanswered, and take
 * the initial NOTIFYs. 0 or -ETIMEDOUT (some are missing). */
static int subscribe_all(struct sink *s, const struct sip_pnad *p, uint32_t n, uint32_t window)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(p->sip_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char buf[BATCH][1024];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	uint32_t sent = 0;
	double last = bench_now();

	memset(mm, 0, sizeof(mm));
	while (s->subscribed < n || s->notifies < s->subscribed) {
		int q = 0;

		while (sent < n && q < BATCH && sent - s->subscribed < window) {
			iov[q] = (struct iovec){ buf[q],
						 subscribe_msg(buf[q], 1024, sent, s->port) };
			mm[q].msg_hdr = (struct msghdr){ .msg_name = &to,
							 .msg_namelen = sizeof(to),
							 .msg_iov = &iov[q],
							 .msg_iovlen = 1 };
			q++, sent++;
		}
		if (q && sendmmsg(s->fd, mm, (unsigned)q, 0) < 0)
			return -errno;
		if (sink_poll(s, 10) > 0)
			last = bench_now();
		else if (bench_now() - last > 5)
			return -ETIMEDOUT;
	}
	return 0;
}

struct sip_run {
	uint64_t events, acked, notifies;
	double secs, rate, sender_cpu;
	double t_events;   /* first event sent to the last ack */
	double worker_cpu; /* the SIP worker */
	double sink_cpu;   /* the sink (this thread) */
	double other_load; /* cores busy outside pnad and pna-bench; -1: unknown */
	struct bench_pnad_cpu cpu;
	struct sip_counters c0, c1;
	struct sub_counters s0, s1; /* the shard's */
};

struct sip_window {
	double t, busy, self, sink;
};

static void window_begin(struct sip_window *w)
{
	w->busy = bench_machine_busy_seconds();
	w->self = bench_self_cpu_seconds();
	w->sink = bench_thread_cpu_seconds();
	w->t = bench_now();
}

/* The sink's CPU and the load of everything else over the window (busy
 * time not used by pna-bench or by pnad's processes, `pnad` seconds). */
static void window_end(const struct sip_window *w, double pnad, struct sip_run *r)
{
	double secs = bench_now() - w->t, busy = bench_machine_busy_seconds() - w->busy;

	r->sink_cpu = bench_thread_cpu_seconds() - w->sink;
	r->other_load = -1;
	if (w->busy >= 0 && secs >= 0.2) {
		r->other_load = (busy - pnad - (bench_self_cpu_seconds() - w->self)) / secs;
		if (r->other_load < 0)
			r->other_load = 0;
	}
}

static int run_pnad(const struct sip_opts *o, const char *dir, struct sink *s, struct sip_run *r)
{
	struct bench_workload w = { .conns = 1,
				    .events = o->events,
				    .per_frame = o->per_frame,
				    .accounts = o->accounts,
				    .credential = CREDENTIAL };
	struct bench_streams ss;
	struct bench_sender *snd = NULL;
	struct bench_send_status st;
	struct sip_pnad p;
	struct sip_window win;
	char err[256];
	double t0, cpu0, sub0 = bench_now();
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = bench_streams_encode(&w, 1, &ss)) < 0)
		return rc;
	if ((rc = pnad_start(o, dir, &p)) < 0)
		goto out_free;
	rc = subscribe_all(s, &p, o->accounts, 512);
	bench_progress("sip: %llu of %u subscribed, %llu initial NOTIFYs, in %.2f s",
		       (unsigned long long)s->subscribed, o->accounts,
		       (unsigned long long)s->notifies, bench_now() - sub0);
	if (rc < 0 && s->subscribed == 0) {
		fprintf(stderr, "pna-bench: sip: no subscription made; pnad log %s:\n", p.b.log);
		bench_dump_file(p.b.log, "  pnad| ", 6000);
		goto out_stop;
	}
	rc = bench_sender_open(&ss, p.b.port, BENCH_SEND_ACKED, 30, &snd, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: sip: %s\n", err);
		goto out_stop;
	}
	s->notifies = 0;
	s->t_first = s->t_last = 0;
	s->capture = true;
	r->c0 = sip_counters(&p);
	r->s0 = sub_counters(&p);
	bench_pnad_cpu_begin(&p.b);
	cpu0 = bench_cpu_seconds(p.worker);
	window_begin(&win);
	t0 = win.t;
	if ((rc = bench_sender_start(snd)) < 0)
		goto out_close;
	for (;;) {
		double now = bench_now();

		sink_poll(s, 5);
		bench_sender_status(snd, &st);
		if (st.error) {
			fprintf(stderr, "pna-bench: sip: %s\n", st.reason);
			rc = st.error;
			break;
		}
		if (st.done && now - st.t_acked > IDLE_END && now - s->t_last > IDLE_END)
			break;
		if (now - t0 > o->duration) {
			bench_progress("sip: stopped at the %.0f s cap", o->duration);
			break;
		}
	}
	r->worker_cpu = bench_cpu_seconds(p.worker) - cpu0;
	bench_pnad_cpu_end(&p.b, &r->cpu);
	window_end(&win, r->cpu.total, r);
	r->t_events = st.t_acked > t0 ? st.t_acked - t0 : 0;
	r->c1 = sip_counters(&p);
	r->s1 = sub_counters(&p);
	r->acked = st.acked;
	r->events = ss.events;
	r->notifies = s->notifies;
	r->secs = s->t_last > t0 ? s->t_last - t0 : 0;
	r->rate = r->secs > 0 ? (double)r->notifies / r->secs : 0;
	s->capture = false;
out_close:
	bench_sender_close(snd, &st);
	r->sender_cpu = st.cpu;
out_stop:
	pnad_stop(&p);
out_free:
	bench_streams_free(&ss);
	return rc;
}

/* The baseline sender (a forked child): `want` captured NOTIFYs, cycled,
 * with sendmmsg to the sink, at most `window` of them unanswered. */
static void base_sender(const struct sink *s, uint64_t want, uint32_t window, int report)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(s->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char rbuf[BATCH][512];
	struct mmsghdr sm[BATCH], rm[BATCH];
	struct iovec siov[BATCH], riov[BATCH];
	uint64_t sent = 0, answered = 0;
	uint16_t port;
	int fd = udp_socket(&port);
	double cpu;

	if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		_exit(1);
	memset(sm, 0, sizeof(sm));
	memset(rm, 0, sizeof(rm));
	for (int i = 0; i < BATCH; i++) {
		riov[i] = (struct iovec){ rbuf[i], sizeof(rbuf[i]) };
		rm[i].msg_hdr.msg_iov = &riov[i];
		rm[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < want) {
		int q = 0, n;

		while (sent < want && q < BATCH && sent - answered < window) {
			uint32_t c = (uint32_t)(sent % s->ncap);

			siov[q] = (struct iovec){ s->cap[c], s->cap_len[c] };
			sm[q].msg_hdr.msg_iov = &siov[q];
			sm[q].msg_hdr.msg_iovlen = 1;
			q++, sent++;
		}
		for (int off = 0; off < q;) {
			n = sendmmsg(fd, sm + off, (unsigned)(q - off), 0);
			if (n <= 0)
				_exit(1);
			off += n;
		}
		n = recvmmsg(fd, rm, BATCH, sent - answered < window ? MSG_DONTWAIT : 0, NULL);
		if (n > 0)
			answered += (uint64_t)n;
	}
	cpu = bench_thread_cpu_seconds();
	(void)!write(report, &cpu, sizeof(cpu));
	_exit(0);
}

static int run_base(const struct sip_opts *o, struct sink *s, uint64_t want, struct sip_run *r)
{
	struct sip_window win;
	int pfd[2], wstatus;
	pid_t pid;
	double t0, deadline;

	memset(r, 0, sizeof(*r));
	if (!s->ncap || pipe2(pfd, O_CLOEXEC) < 0)
		return -EINVAL;
	s->notifies = 0;
	s->t_first = s->t_last = 0;
	window_begin(&win);
	t0 = win.t;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pfd[0]);
		base_sender(s, want, o->window, pfd[1]);
	}
	close(pfd[1]);
	deadline = t0 + o->duration + 5;
	while (s->notifies < want && bench_now() < deadline)
		sink_poll(s, 5);
	if (s->notifies < want)
		bench_progress("sip: baseline got %llu of %llu datagrams (dropped)",
			       (unsigned long long)s->notifies, (unsigned long long)want);
	if (read(pfd[0], &r->sender_cpu, sizeof(r->sender_cpu)) != sizeof(r->sender_cpu))
		r->sender_cpu = -1;
	close(pfd[0]);
	window_end(&win, r->sender_cpu > 0 ? r->sender_cpu : 0, r);
	bench_stop(pid, SIGTERM, 2, &wstatus);
	r->notifies = s->notifies;
	r->secs = s->t_last - t0;
	r->rate = r->secs > 0 ? (double)r->notifies / r->secs : 0;
	return 0;
}

/* CPU microseconds per NOTIFY of `cpu` seconds. */
static double per_notify(double cpu, uint64_t notifies)
{
	return notifies ? 1e6 * cpu / (double)notifies : 0;
}

static void report(const struct sip_opts *o, const struct sip_run *pn, const struct sip_run *b)
{
	char a[16], c[16], e[16], n[16];
	double ratio = b->rate > 0 ? pn->rate / b->rate : 0;
	double other = pn->cpu.other - pn->worker_cpu; /* the supervisor */

	printf("sip notify  pnad %s/s  baseline %s/s  ratio %.2f  (target >= %.1f)\n",
	       bench_si(a, sizeof(a), pn->rate), bench_si(c, sizeof(c), b->rate), ratio,
	       TARGET_RATIO);
	printf("  events in %s (acked %llu in %.2f s), NOTIFYs out %s in %.2f s, coalesced %lld; "
	       "pnad counters: sent %llu, 200 %llu, retransmits %llu, failures %llu, busy %llu\n",
	       bench_si(e, sizeof(e), (double)pn->events), (unsigned long long)pn->acked,
	       pn->t_events, bench_si(n, sizeof(n), (double)pn->notifies), pn->secs,
	       (long long)pn->acked - (long long)pn->notifies,
	       (unsigned long long)(pn->c1.notifies_sent - pn->c0.notifies_sent),
	       (unsigned long long)(pn->c1.notify_ok - pn->c0.notify_ok),
	       (unsigned long long)(pn->c1.notify_retransmits - pn->c0.notify_retransmits),
	       (unsigned long long)(pn->c1.notify_failures - pn->c0.notify_failures),
	       (unsigned long long)(pn->c1.busy - pn->c0.busy));
	printf("  shard: matches %llu, notes to the worker %llu, folded into a pending note %llu, "
	       "job ring full %llu\n",
	       (unsigned long long)(pn->s1.matches - pn->s0.matches),
	       (unsigned long long)(pn->s1.notes - pn->s0.notes),
	       (unsigned long long)(pn->s1.coalesced - pn->s0.coalesced),
	       (unsigned long long)(pn->s1.job_ring_full - pn->s0.job_ring_full));
	printf("  cpu s (us per NOTIFY): SIP worker %.2f (%.2f, %.0f%% of a core), shard %.2f "
	       "(%.2f), router %.2f (%.2f), supervisor %.2f, sink %.2f (%.2f), ingest sender "
	       "%.2f; other load %.2f cores\n",
	       pn->worker_cpu, per_notify(pn->worker_cpu, pn->notifies),
	       pn->secs > 0 ? 100 * pn->worker_cpu / pn->secs : 0, pn->cpu.shards,
	       per_notify(pn->cpu.shards, pn->notifies), pn->cpu.router,
	       per_notify(pn->cpu.router, pn->notifies), other, pn->sink_cpu,
	       per_notify(pn->sink_cpu, pn->notifies), pn->sender_cpu, pn->other_load);
	printf("  baseline: sender %.2f s (%.2f us per NOTIFY), sink %.2f s (%.2f), over %.2f s, "
	       "%u in flight; other load %.2f cores\n",
	       b->sender_cpu, per_notify(b->sender_cpu, b->notifies), b->sink_cpu,
	       per_notify(b->sink_cpu, b->notifies), b->secs, o->window, b->other_load);
}

int bench_sip_main(int argc, char **argv)
{
	struct sip_opts o;
	struct sip_run pn, base;
	struct sink *s = NULL;
	char tmp[4000], dir[4000];
	int rc, status = 3;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (!o.pnad) {
		if (bench_self_dir(dir, sizeof(dir)) < 0)
			return 3;
		snprintf(o.pnad_buf, sizeof(o.pnad_buf), "%s/pnad", dir);
		o.pnad = o.pnad_buf;
	}
	if ((rc = bench_tmpdir(tmp, sizeof(tmp))) < 0) {
		fprintf(stderr, "pna-bench: temporary directory: %s\n", strerror(-rc));
		return 3;
	}
	printf("pna-bench sip: %u subscriptions (message-summary, UDP), %llu MessageNew events\n",
	       o.accounts, (unsigned long long)o.events);
	fflush(stdout);
	if (!(s = sink_new(o.accounts))) {
		fprintf(stderr, "pna-bench: sip: sink socket failed\n");
		goto out;
	}
	if (run_pnad(&o, tmp, s, &pn) < 0 || pn.notifies == 0) {
		fprintf(stderr, "pna-bench: sip: the pnad run gave no NOTIFYs\n");
		goto out;
	}
	if (run_base(&o, s, pn.notifies, &base) < 0)
		goto out;
	report(&o, &pn, &base);
	status = o.check && pn.rate < TARGET_RATIO * base.rate ? 1 : 0;
out:
	sink_free(s);
	if (o.keep || status == 3)
		bench_progress("config and log kept in %s", tmp);
	else
		bench_tmpdir_remove(tmp);
	return status;
}
