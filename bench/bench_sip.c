/* bench_sip: options, the pnad and baseline runs of `pna-bench sip`, the
 * UDP sink both are measured with, and the report. Runs in the pna-bench
 * process; the baseline sender is a forked child. */
#include "bench/bench_sip.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_load.h"
#include "bench/bench_pnad.h"
#include "bench/bench_sipsink.h"
#include "bench/bench_util.h"
#include "lib/udp_batch.h"

#define CREDENTIAL "secret"
#define TARGET_RATIO 0.6 /* issue #4 */
#define BATCH BENCH_SIPSINK_BATCH
#define IDLE_END 0.5 /* seconds without a NOTIFY once the events are acked */

struct sip_opts {
	struct bench_flood_opts f;
	uint32_t window;    /* the baseline's NOTIFYs unanswered */
	uint32_t in_flight; /* pnad run: events without an outcome at the sink, 0: flood */
	uint32_t rounds;    /* pnad run + baselines, events split over them */
	bool sink_gso;	    /* the sink answers in GSO groups */
	char pnad_buf[4096];
};

/* --- options --- */

void bench_sip_usage(FILE *f)
{
	fprintf(f,
		"usage: pna-bench sip [options]\n"
		"  -a, --accounts N    subscriptions, one account each (10000)\n"
		"  -e, --events N      MessageNew events streamed, over all rounds (1M)\n"
		"  -r, --rounds N      rounds of the pnad run and the baselines right after\n"
		"                      it, after one warm-up run of as many events; the\n"
		"                      report takes the median round (3, at most %d)\n"
		"  -b, --batch N       events per ingest frame (64)\n"
		"  -w, --window N      baseline NOTIFYs in flight, unanswered (256)\n"
		"  -W, --in-flight N   pnad run: events written whose NOTIFY has not\n"
		"                      arrived (nor been folded into another), 0: as\n"
		"                      fast as pnad acks them (1024)\n"
		"  -d, --duration SEC  cap on the event phase (15)\n"
		"  -p, --pnad PATH     pnad binary (next to pna-bench)\n"
		"      --check         exit 1 when the ratio is below %.1f\n"
		"      --sink-gso      the sink answers in GSO groups, not one 200 per\n"
		"                      datagram as SIP peers do (a cheaper sink)\n"
		"      --keep          keep the temporary directory (config, log)\n",
		BENCH_ROUNDS_MAX, TARGET_RATIO);
}

static int parse_opts(int argc, char **argv, struct sip_opts *o)
{
	static const struct option lo[] = {
		{ "accounts", 1, 0, 'a' },
		{ "events", 1, 0, 'e' },
		{ "batch", 1, 0, 'b' },
		{ "window", 1, 0, 'w' },
		{ "in-flight", 1, 0, 'W' },
		{ "rounds", 1, 0, 'r' },
		{ "sink-gso", 0, 0, 'G' },
		{ "duration", 1, 0, 'd' },
		{ "pnad", 1, 0, 'p' },
		{ "check", 0, 0, 'C' },
		{ "keep", 0, 0, 'K' },
		{ "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	int c, rc;

	memset(o, 0, sizeof(*o));
	bench_flood_defaults(&o->f);
	o->window = 256;
	o->in_flight = 1024;
	o->rounds = 3;
	while ((c = getopt_long(argc, argv, "a:e:b:w:W:r:d:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'G':
			o->sink_gso = true;
			break;
		case 'r':
			if (bench_opt_num("sip", "rounds", optarg, 1, BENCH_ROUNDS_MAX, &v) < 0)
				return -EINVAL;
			o->rounds = (uint32_t)v;
			break;
		case 'W':
			if (bench_opt_num("sip", "in-flight", optarg, 0, 1u << 24, &v) < 0)
				return -EINVAL;
			o->in_flight = (uint32_t)v;
			break;
		case 'w':
			if (bench_opt_num("sip", "window", optarg, 1, 65536, &v) < 0)
				return -EINVAL;
			o->window = (uint32_t)v;
			break;
		case 'h':
			bench_sip_usage(stdout);
			exit(0);
		default:
			rc = bench_flood_opt("sip", c, optarg, &o->f);
			if (rc > 0)
				break;
			if (rc == 0)
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

/* bench_pnad's pnad with a SIP worker on a port of its own. */
static int pnad_start(const struct sip_opts *o, const char *dir, struct bench_pnad *p,
		      uint16_t *sip_port)
{
	uint32_t subs = o->f.accounts * 2 < 1024 ? 1024 : o->f.accounts * 2;
	char extra[256];
	struct bench_pnad_opts po = { .path = o->f.pnad,
				      .dir = dir,
				      .label = "sip",
				      .shards = 1,
				      .stores = 1,
				      .credential = CREDENTIAL,
				      .ring_bytes = "16M",
				      .mailboxes = subs,
				      .extra = extra };
	int rc;

	if ((rc = bench_free_port(sip_port)) < 0)
		return rc;
	snprintf(extra, sizeof(extra),
		 "subscriptions = %u\nsip_listen = 127.0.0.1:%u\nsip_domain = example.com\n"
		 "sip_trusted = 127.0.0.1\n",
		 subs, *sip_port);
	return bench_pnad_start(&po, p);
}

static struct sip_counters sip_counters(struct bench_pnad *p)
{
	struct sip_counters c;

	bench_pnad_sip(p, &c);
	return c;
}

static struct sub_counters sub_counters(const struct bench_pnad *p)
{
	struct sub_counters c;

	bench_pnad_subs(p, &c);
	return c;
}

/* --- the runs --- */

/* The pnad run's gate: events whose outcome the sink has seen, a NOTIFY
 * received or the event folded into another note (by the shard, at the
 * worker's take, or into the NOTIFY after the one in flight). Runs on the
 * sender's thread. */
struct sip_gate {
	const struct bench_sipsink *sink;
	struct bench_pnad *p;
	uint64_t base; /* folded before the run */
};

static uint64_t gate_done(void *arg)
{
	struct sip_gate *g = arg;

	return __atomic_load_n(&g->sink->notifies, __ATOMIC_RELAXED) + bench_pnad_folded(g->p) -
	       g->base;
}

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

/* pnad for the rounds: the events' streams, the process, the sink
 * subscribed. */
struct sip_pnad {
	struct bench_streams ss;
	struct bench_pnad p;
	struct bench_sipsink *s;
};

static void pnad_teardown(struct sip_pnad *x)
{
	bench_pnad_stop(&x->p);
	bench_streams_free(&x->ss);
}

static int pnad_setup(const struct sip_opts *o, const char *dir, struct bench_sipsink *s,
		      struct sip_pnad *x)
{
	uint64_t per_round = o->f.events / o->rounds;
	struct bench_workload w = { .conns = 1,
				    .events = per_round ? per_round : 1,
				    .per_frame = o->f.per_frame,
				    .accounts = o->f.accounts,
				    .credential = CREDENTIAL };
	uint16_t sip_port;
	double sub0 = bench_now();
	int rc;

	x->s = s;
	if ((rc = bench_streams_encode(&w, 1, &x->ss)) < 0)
		return rc;
	if ((rc = pnad_start(o, dir, &x->p, &sip_port)) < 0) {
		bench_streams_free(&x->ss);
		return rc;
	}
	rc = bench_sipsink_subscribe(s, sip_port, 512);
	bench_progress("sip: %llu of %u subscribed, %llu initial NOTIFYs, in %.2f s",
		       (unsigned long long)s->subs_ok, o->f.accounts,
		       (unsigned long long)s->notifies, bench_now() - sub0);
	if (rc < 0 && s->subs_ok == 0) {
		fprintf(stderr, "pna-bench: sip: no subscription made; pnad log %s:\n", x->p.log);
		bench_dump_file(x->p.log, "  pnad| ", 6000);
		pnad_teardown(x);
		return rc;
	}
	return 0;
}

/* One round: the streams' next events (the sender resumes where pnad's
 * ack left off), as fast as the gate lets them in. */
static int pnad_round(const struct sip_opts *o, struct sip_pnad *x, struct sip_run *r)
{
	struct bench_sipsink *s = x->s;
	struct bench_sender *snd = NULL;
	struct bench_send_status st;
	struct sip_window win;
	struct sip_gate gate = { .sink = s, .p = &x->p };
	char err[256];
	double t0;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = bench_sender_open(&x->ss, x->p.port, BENCH_SEND_ACKED, 30, &snd, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: sip: %s\n", err);
		return rc;
	}
	bench_sipsink_reset(s);
	s->capture = true;
	r->c0 = sip_counters(&x->p);
	r->s0 = sub_counters(&x->p);
	gate.base = bench_pnad_folded(&x->p);
	if (o->in_flight && (rc = bench_sender_gate(snd, gate_done, &gate, o->in_flight)) < 0)
		goto out_close;
	bench_pnad_cpu_begin(&x->p);
	window_begin(&win);
	t0 = win.t;
	if ((rc = bench_sender_start(snd)) < 0)
		goto out_close;
	for (;;) {
		double now = bench_now();

		if (bench_sipsink_poll(s, 5) > 0)
			bench_sender_kick(snd);
		bench_sender_status(snd, &st);
		if (st.error) {
			fprintf(stderr, "pna-bench: sip: %s\n", st.reason);
			rc = st.error;
			break;
		}
		if (st.done && now - st.t_acked > IDLE_END && now - s->t_last > IDLE_END)
			break;
		if (now - t0 > o->f.duration) {
			bench_progress("sip: stopped at the %.0f s cap", o->f.duration);
			break;
		}
	}
	bench_pnad_cpu_end(&x->p, &r->cpu);
	r->worker_cpu = r->cpu.sip;
	window_end(&win, r->cpu.total, r);
	r->t_events = st.t_acked > t0 ? st.t_acked - t0 : 0;
	r->c1 = sip_counters(&x->p);
	r->s1 = sub_counters(&x->p);
	r->acked = st.acked;
	r->events = x->ss.events;
	r->notifies = s->notifies;
	r->secs = s->t_last > t0 ? s->t_last - t0 : 0;
	r->rate = r->secs > 0 ? (double)r->notifies / r->secs : 0;
	s->capture = false;
out_close:
	bench_sender_close(snd, &st);
	r->sender_cpu = st.cpu;
	return rc;
}

/* The baseline sender (a forked child): `want` captured NOTIFYs, cycled,
 * to the sink through udp_batch (GSO groups in one sendmmsg, as the SIP
 * worker sends, or with !gso one datagram per send), at most `window` of
 * them unanswered. */
static void base_sender(const struct bench_sipsink *s, uint16_t sink_port, uint64_t want,
			uint32_t window, bool gso, int report)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(sink_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char rbuf[BATCH][512];
	static struct udp_batch out;
	struct mmsghdr rm[BATCH];
	struct iovec riov[BATCH];
	uint64_t sent = 0, answered = 0;
	uint16_t port;
	int fd = bench_udp_socket(&port);
	double cpu;

	if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		_exit(1);
	udp_batch_init(&out, fd);
	out.gso = out.gso && gso;
	memset(rm, 0, sizeof(rm));
	for (int i = 0; i < BATCH; i++) {
		riov[i] = (struct iovec){ rbuf[i], sizeof(rbuf[i]) };
		rm[i].msg_hdr.msg_iov = &riov[i];
		rm[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < want) {
		int n;

		while (sent < want && !udp_batch_full(&out) && sent - answered < window) {
			uint32_t c = (uint32_t)(sent % s->ncap);

			udp_batch_add(&out, s->cap[c], s->cap_len[c], NULL, 0, false);
			sent++;
		}
		if (udp_batch_flush(&out) < 0)
			_exit(1);
		n = recvmmsg(fd, rm, BATCH, sent - answered < window ? MSG_DONTWAIT : 0, NULL);
		if (n > 0)
			answered += (uint64_t)n;
	}
	cpu = bench_thread_cpu_seconds();
	(void)!write(report, &cpu, sizeof(cpu));
	_exit(0);
}

/* The baseline: the NOTIFYs captured by `cap`'s sink, sent to a sink of
 * its own (pnad idles meanwhile, but a late retransmission of its must not
 * count here), answered as `cap` answers. */
static int run_base(const struct sip_opts *o, const struct bench_sipsink *cap, uint64_t want,
		    bool gso, struct sip_run *r)
{
	struct bench_sipsink *s;
	struct sip_window win;
	int pfd[2], wstatus;
	pid_t pid;
	double t0, deadline;

	memset(r, 0, sizeof(*r));
	if (!cap->ncap || !(s = bench_sipsink_new(0, NULL)))
		return -EINVAL;
	if (o->sink_gso)
		bench_sipsink_answer_gso(s);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		bench_sipsink_free(s);
		return -errno;
	}
	window_begin(&win);
	t0 = win.t;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		bench_sipsink_free(s);
		return -errno;
	}
	if (pid == 0) {
		close(pfd[0]);
		base_sender(cap, s->port, want, o->window, gso, pfd[1]);
	}
	close(pfd[1]);
	deadline = t0 + o->f.duration + 5;
	while (s->notifies < want && bench_now() < deadline)
		bench_sipsink_poll(s, 5);
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
	bench_sipsink_free(s);
	return 0;
}

/* CPU microseconds per NOTIFY of `cpu` seconds. */
static double per_notify(double cpu, uint64_t notifies)
{
	return notifies ? 1e6 * cpu / (double)notifies : 0;
}

/* A round: pnad's events and, right after them on the same machine, the
 * baseline both ways: [0] GSO groups, [1] one datagram per send. The
 * faster is the round's baseline. The machine's speed drifts between
 * seconds (a VM's neighbours), so a round's ratio compares runs that were
 * close in time, and the report takes the median round. */
struct sip_round {
	struct sip_run pn, base[2];
};

static const struct sip_run *round_base(const struct sip_round *r)
{
	return &r->base[r->base[1].rate > r->base[0].rate];
}

static double round_ratio(const struct sip_round *r)
{
	double b = round_base(r)->rate;

	return b > 0 ? r->pn.rate / b : 0;
}

/* The round whose ratio is the median. */
static unsigned median_round(const struct sip_round *r, unsigned n)
{
	double ratio[BENCH_ROUNDS_MAX];

	for (unsigned i = 0; i < n; i++)
		ratio[i] = round_ratio(&r[i]);
	return (unsigned)bench_median_index(ratio, n);
}

static void report_run(const struct sip_opts *o, const struct sip_round *rd)
{
	const struct sip_run *pn = &rd->pn;
	char e[16], n[16], c[16];
	double other = pn->cpu.other; /* the supervisor */

	printf("  events in %s (acked %llu in %.2f s), NOTIFYs out %s in %.2f s, coalesced %lld; "
	       "pnad counters: sent %llu (%llu in GSO groups), 200 %llu, retransmits %llu, "
	       "failures %llu, busy %llu\n",
	       bench_si(e, sizeof(e), (double)pn->events), (unsigned long long)pn->acked,
	       pn->t_events, bench_si(n, sizeof(n), (double)pn->notifies), pn->secs,
	       (long long)pn->acked - (long long)pn->notifies,
	       (unsigned long long)(pn->c1.notifies_sent - pn->c0.notifies_sent),
	       (unsigned long long)(pn->c1.udp_grouped - pn->c0.udp_grouped),
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
	for (int k = 0; k < 2; k++) {
		const struct sip_run *b = &rd->base[k];

		printf("  baseline, %s: %s/s; sender %.2f s (%.2f us per NOTIFY), sink %.2f s "
		       "(%.2f), over %.2f s, %u in flight; other load %.2f cores\n",
		       k ? "one datagram per send" : "GSO groups", bench_si(c, sizeof(c), b->rate),
		       b->sender_cpu, per_notify(b->sender_cpu, b->notifies), b->sink_cpu,
		       per_notify(b->sink_cpu, b->notifies), b->secs, o->window, b->other_load);
	}
}

/* A warm-up run, not counted: pnad's first pass over its rings and
 * buffers takes page faults (a few thousand in the router and shard),
 * costly on a VM, that no later round pays. Then the rounds into r. How
 * many rounds were done. */
static bool pnad_round_ok(const struct sip_opts *o, struct sip_pnad *x, struct sip_run *r)
{
	if (pnad_round(o, x, r) == 0 && r->notifies > 0)
		return true;
	fprintf(stderr, "pna-bench: sip: the pnad run gave no NOTIFYs\n");
	return false;
}

static unsigned run_rounds(const struct sip_opts *o, struct sip_pnad *x, struct sip_round *r)
{
	struct sip_run warm;
	unsigned n;

	bench_progress("sip: warm-up round");
	if (!pnad_round_ok(o, x, &warm))
		return 0;
	for (n = 0; n < o->rounds; n++) {
		struct sip_round *rd = &r[n];

		bench_progress("sip: round %u of %u", n + 1, o->rounds);
		if (!pnad_round_ok(o, x, &rd->pn))
			break;
		if (run_base(o, x->s, rd->pn.notifies, true, &rd->base[0]) < 0 ||
		    run_base(o, x->s, rd->pn.notifies, false, &rd->base[1]) < 0)
			break;
	}
	return n;
}

/* The median round's figures, every round's rates, the median round's
 * detail. Its ratio, the figure the target is about. */
static double report(const struct sip_opts *o, const struct sip_round *r, unsigned n)
{
	const struct sip_round *m = &r[median_round(r, n)];
	char a[16], c[16];

	printf("sip notify  pnad %s/s  baseline %s/s  ratio %.2f  (target >= %.1f; median of %u "
	       "round%s)\n",
	       bench_si(a, sizeof(a), m->pn.rate), bench_si(c, sizeof(c), round_base(m)->rate),
	       round_ratio(m), TARGET_RATIO, n, n == 1 ? "" : "s");
	printf("  rounds (pnad / baseline):");
	for (unsigned i = 0; i < n; i++)
		printf("%s %s/%s %.2f", i ? "," : "", bench_si(a, sizeof(a), r[i].pn.rate),
		       bench_si(c, sizeof(c), round_base(&r[i])->rate), round_ratio(&r[i]));
	printf("\n");
	report_run(o, m);
	return round_ratio(m);
}

int bench_sip_main(int argc, char **argv)
{
	struct sip_opts o;
	static struct sip_round r[BENCH_ROUNDS_MAX];
	struct sip_pnad x;
	struct bench_sipsink *s = NULL;
	unsigned n = 0;
	char tmp[4000], dir[4000];
	int rc, status = 3;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (!o.f.pnad) {
		if (bench_self_dir(dir, sizeof(dir)) < 0)
			return 3;
		snprintf(o.pnad_buf, sizeof(o.pnad_buf), "%s/pnad", dir);
		o.f.pnad = o.pnad_buf;
	}
	if ((rc = bench_tmpdir(tmp, sizeof(tmp))) < 0) {
		fprintf(stderr, "pna-bench: temporary directory: %s\n", strerror(-rc));
		return 3;
	}
	printf("pna-bench sip: %u subscriptions (message-summary, UDP), %llu MessageNew events "
	       "in %u rounds after a warm-up of as many\n",
	       o.f.accounts, (unsigned long long)o.f.events, o.rounds);
	fflush(stdout);
	if (!(s = sink_identity(o.f.accounts))) {
		fprintf(stderr, "pna-bench: sip: sink socket failed\n");
		goto out;
	}
	if (o.sink_gso)
		bench_sipsink_answer_gso(s);
	if (pnad_setup(&o, tmp, s, &x) < 0)
		goto out;
	n = run_rounds(&o, &x, r);
	pnad_teardown(&x);
	if (n < o.rounds)
		goto out;
	status = report(&o, r, n) < TARGET_RATIO && o.f.check ? 1 : 0;
out:
	bench_sipsink_free(s);
	if (o.f.keep || status == 3)
		bench_progress("config and log kept in %s", tmp);
	else
		bench_tmpdir_remove(tmp);
	return status;
}
