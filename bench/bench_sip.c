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
#include "bench/bench_sipsink.h"
#include "bench/bench_util.h"
#include "egress/sip/sip_dlg.h"
#include "lib/shm.h"

#define CREDENTIAL "secret"
#define TARGET_RATIO 0.6 /* issue #4 */
#define BATCH BENCH_SIPSINK_BATCH
#define IDLE_END 0.5 /* seconds without a NOTIFY once the events are acked */

struct sip_opts {
	uint32_t accounts, per_frame, window;
	uint64_t events;
	double duration; /* cap on the event phase, seconds */
	const char *pnad;
	bool check, keep;
	char pnad_buf[4096];
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
			if (bench_opt_num("sip", "accounts", optarg, 1, 1u << 20, &v) < 0)
				return -EINVAL;
			o->accounts = (uint32_t)v;
			break;
		case 'e':
			if (bench_opt_num("sip", "events", optarg, 1, 100000000, &v) < 0)
				return -EINVAL;
			o->events = v;
			break;
		case 'b':
			if (bench_opt_num("sip", "batch", optarg, 1, 4096, &v) < 0)
				return -EINVAL;
			o->per_frame = (uint32_t)v;
			break;
		case 'w':
			if (bench_opt_num("sip", "window", optarg, 1, 65536, &v) < 0)
				return -EINVAL;
			o->window = (uint32_t)v;
			break;
		case 'd':
			if (bench_opt_num("sip", "duration", optarg, 1, 600, &v) < 0)
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

/* --- pnad --- */

struct sip_pnad {
	struct bench_pnad b;
	pid_t worker; /* the SIP worker (0: not found) */
	uint16_t sip_port;
	char seg[64];
	struct shm_seg sip; /* base NULL when not attached */
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
	shm_seg_close(&p->sip);
	bench_pnad_stop(&p->b);
	shm_seg_unlink(p->seg);
}

/* bench_pnad's pnad with a SIP worker on a port of its own. */
static int pnad_start(const struct sip_opts *o, const char *dir, struct sip_pnad *p)
{
	uint32_t subs = o->accounts * 2 < 1024 ? 1024 : o->accounts * 2;
	char extra[256];
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
	if (rc < 0) {
		p->sip.base = NULL;
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

/* --- the runs --- */

/* One subscription per account: subscription k on account k. */
static struct bench_sipsink *sink_identity(uint32_t n)
{
	uint32_t *acct = malloc(n * sizeof(*acct));
	struct bench_sipsink *s;

	if (!acct)
		abort();
	for (uint32_t k = 0; k < n; k++)
		acct[k] = k;
	s = bench_sipsink_new(n, acct);
	free(acct);
	return s;
}

struct sip_run {
	uint64_t events, acked, notifies;
	double secs, rate, worker_cpu, sender_cpu;
	struct sip_counters c0, c1;
};

static int run_pnad(const struct sip_opts *o, const char *dir, struct bench_sipsink *s,
		    struct sip_run *r)
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
	char err[256];
	double t0, cpu0, sub0 = bench_now();
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = bench_streams_encode(&w, 1, &ss)) < 0)
		return rc;
	if ((rc = pnad_start(o, dir, &p)) < 0)
		goto out_free;
	rc = bench_sipsink_subscribe(s, p.sip_port, 512);
	bench_progress("sip: %llu of %u subscribed, %llu initial NOTIFYs, in %.2f s",
		       (unsigned long long)s->subs_ok, o->accounts, (unsigned long long)s->notifies,
		       bench_now() - sub0);
	if (rc < 0 && s->subs_ok == 0) {
		fprintf(stderr, "pna-bench: sip: no subscription made; pnad log %s:\n", p.b.log);
		bench_dump_file(p.b.log, "  pnad| ", 6000);
		goto out_stop;
	}
	rc = bench_sender_open(&ss, p.b.port, BENCH_SEND_ACKED, 30, &snd, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: sip: %s\n", err);
		goto out_stop;
	}
	bench_sipsink_reset(s);
	s->capture = true;
	r->c0 = sip_counters(&p);
	cpu0 = bench_cpu_seconds(p.worker);
	t0 = bench_now();
	if ((rc = bench_sender_start(snd)) < 0)
		goto out_close;
	for (;;) {
		double now = bench_now();

		bench_sipsink_poll(s, 5);
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
	r->c1 = sip_counters(&p);
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
static void base_sender(const struct bench_sipsink *s, uint64_t want, uint32_t window, int report)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(s->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char rbuf[BATCH][512];
	struct mmsghdr sm[BATCH], rm[BATCH];
	struct iovec siov[BATCH], riov[BATCH];
	uint64_t sent = 0, answered = 0;
	uint16_t port;
	int fd = bench_udp_socket(&port);
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

static int run_base(const struct sip_opts *o, struct bench_sipsink *s, uint64_t want,
		    struct sip_run *r)
{
	int pfd[2], wstatus;
	pid_t pid;
	double t0, deadline;

	memset(r, 0, sizeof(*r));
	if (!s->ncap || pipe2(pfd, O_CLOEXEC) < 0)
		return -EINVAL;
	bench_sipsink_reset(s);
	t0 = bench_now();
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
		bench_sipsink_poll(s, 5);
	if (s->notifies < want)
		bench_progress("sip: baseline got %llu of %llu datagrams (dropped)",
			       (unsigned long long)s->notifies, (unsigned long long)want);
	if (read(pfd[0], &r->sender_cpu, sizeof(r->sender_cpu)) != sizeof(r->sender_cpu))
		r->sender_cpu = -1;
	close(pfd[0]);
	bench_stop(pid, SIGTERM, 2, &wstatus);
	r->notifies = s->notifies;
	r->secs = s->t_last - t0;
	r->rate = r->secs > 0 ? (double)r->notifies / r->secs : 0;
	return 0;
}

static void report(const struct sip_opts *o, const struct sip_run *pn, const struct sip_run *b)
{
	char a[16], c[16], e[16], n[16];
	double ratio = b->rate > 0 ? pn->rate / b->rate : 0;

	printf("sip notify  pnad %s/s  baseline %s/s  ratio %.2f  (target >= %.1f)\n",
	       bench_si(a, sizeof(a), pn->rate), bench_si(c, sizeof(c), b->rate), ratio,
	       TARGET_RATIO);
	printf("  events in %s (acked %llu), NOTIFYs out %s in %.2f s, coalesced %lld; "
	       "pnad counters: sent %llu, 200 %llu, retransmits %llu, failures %llu\n",
	       bench_si(e, sizeof(e), (double)pn->events), (unsigned long long)pn->acked,
	       bench_si(n, sizeof(n), (double)pn->notifies), pn->secs,
	       (long long)pn->acked - (long long)pn->notifies,
	       (unsigned long long)(pn->c1.notifies_sent - pn->c0.notifies_sent),
	       (unsigned long long)(pn->c1.notify_ok - pn->c0.notify_ok),
	       (unsigned long long)(pn->c1.notify_retransmits - pn->c0.notify_retransmits),
	       (unsigned long long)(pn->c1.notify_failures - pn->c0.notify_failures));
	printf("  cpu: SIP worker %.2f s (%.0f%% of a core), ingest sender %.2f s; "
	       "baseline sender %.2f s over %.2f s, %u in flight\n",
	       pn->worker_cpu, pn->secs > 0 ? 100 * pn->worker_cpu / pn->secs : 0, pn->sender_cpu,
	       b->sender_cpu, b->secs, o->window);
	(void)o;
}

int bench_sip_main(int argc, char **argv)
{
	struct sip_opts o;
	struct sip_run pn, base;
	struct bench_sipsink *s = NULL;
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
	if (!(s = sink_identity(o.accounts))) {
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
	bench_sipsink_free(s);
	if (o.keep || status == 3)
		bench_progress("config and log kept in %s", tmp);
	else
		bench_tmpdir_remove(tmp);
	return status;
}
