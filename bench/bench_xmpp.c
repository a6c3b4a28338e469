/* bench_xmpp: options, the pnad and baseline runs of `pna-bench xmpp` and
 * the report. Runs in the pna-bench process (the sink in its main thread,
 * bench_load's sender in a thread); the baseline writer is a forked child. */
#include "bench/bench_xmpp.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_load.h"
#include "bench/bench_pnad.h"
#include "bench/bench_util.h"
#include "bench/bench_xsink.h"
#include "egress/xmpp/xmpp_seg.h"
#include "lib/shm.h"

#define CREDENTIAL "secret"
#define COMPONENT "pna.bench.example"
#define SECRET "bench-secret"
#define WINDOW 128	    /* subscribes unanswered (the worker holds 256) */
#define CAPTURE (32u << 20) /* stanza bytes kept for the baseline */
#define IDLE_END 0.5	    /* seconds without a stanza once the events are acked */

struct xmpp_opts {
	struct bench_flood_opts f;
	char pnad_buf[4096];
};

/* --- options --- */

void bench_xmpp_usage(FILE *f)
{
	fprintf(f, "usage: pna-bench xmpp [options]\n"
		   "  -a, --accounts N    subscriptions, one account each (10000)\n"
		   "  -e, --events N      MessageNew events streamed (1M)\n"
		   "  -b, --batch N       events per ingest frame (64)\n"
		   "  -d, --duration SEC  cap on the event phase (15)\n"
		   "  -p, --pnad PATH     pnad binary (next to pna-bench)\n"
		   "      --keep          keep the temporary directory (config, log)\n");
}

static int parse_opts(int argc, char **argv, struct xmpp_opts *o)
{
	static const struct option lo[] = {
		{ "accounts", 1, 0, 'a' }, { "events", 1, 0, 'e' }, { "batch", 1, 0, 'b' },
		{ "duration", 1, 0, 'd' }, { "pnad", 1, 0, 'p' },   { "keep", 0, 0, 'K' },
		{ "help", 0, 0, 'h' },	   { 0, 0, 0, 0 },
	};
	int c, rc;

	memset(o, 0, sizeof(*o));
	bench_flood_defaults(&o->f);
	while ((c = getopt_long(argc, argv, "a:e:b:d:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			bench_xmpp_usage(stdout);
			exit(0);
		default:
			rc = bench_flood_opt("xmpp", c, optarg, &o->f);
			if (rc > 0)
				break;
			if (rc == 0)
				bench_xmpp_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		bench_xmpp_usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* --- pnad --- */

struct xmpp_pnad {
	struct bench_pnad b;
	pid_t worker;
	char seg[64];
	struct shm_seg xmpp; /* base NULL when not attached */
};

static void pnad_stop(struct xmpp_pnad *p)
{
	shm_seg_close(&p->xmpp);
	bench_pnad_stop(&p->b);
	shm_seg_unlink(p->seg);
}

/* bench_pnad's pnad with its XMPP worker attached to the sink. */
static int pnad_start(const struct xmpp_opts *o, const char *dir, struct bench_xsink *s,
		      struct xmpp_pnad *p)
{
	uint32_t subs = o->f.accounts * 2 < 1024 ? 1024 : o->f.accounts * 2;
	char extra[256];
	struct bench_pnad_opts po = { .path = o->f.pnad,
				      .dir = dir,
				      .label = "xmpp",
				      .shards = 1,
				      .stores = 1,
				      .credential = CREDENTIAL,
				      .ring_bytes = "16M",
				      .mailboxes = subs,
				      .extra = extra };
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(extra, sizeof(extra),
		 "subscriptions = %u\nxmpp_server = 127.0.0.1:%u\nxmpp_component = %s\n"
		 "xmpp_secret = %s\n",
		 subs, bench_xsink_port(s), COMPONENT, SECRET);
	if ((rc = bench_pnad_start(&po, &p->b)) < 0)
		return rc;
	snprintf(p->seg, sizeof(p->seg), "/%s.xmpp", p->b.name);
	rc = bench_xsink_wait_links(s, 1, 10);
	if (rc == 0)
		rc = shm_seg_attach_ro(p->seg, XMPP_SEG_KIND, &p->xmpp);
	if (rc < 0) {
		p->xmpp.base = NULL;
		bench_pnad_failed(&p->b, "did not attach its XMPP component to the sink");
		pnad_stop(p);
		return rc;
	}
	p->worker = (pid_t)__atomic_load_n(&((const struct xmpp_seg *)p->xmpp.base)->pid,
					   __ATOMIC_RELAXED);
	return 0;
}

static struct xmpp_counters xmpp_counters(const struct xmpp_pnad *p)
{
	struct xmpp_counters c = { 0 };
	const struct xmpp_seg *s = p->xmpp.base;

	if (s)
		memcpy(&c, (const void *)&s->c, sizeof(c));
	return c;
}

/* --- the runs --- */

struct xmpp_run {
	uint64_t events, acked, stanzas, bytes, subscribed, refused;
	double secs, rate, worker_cpu, sender_cpu, sink_cpu, shards_cpu, router_cpu;
	struct xmpp_counters c0, c1;
};

/* Stream the events and count stanzas until they stop coming. */
static int stream_events(const struct xmpp_opts *o, struct bench_xsink *s, struct xmpp_pnad *p,
			 struct bench_streams *ss, struct xmpp_run *r)
{
	struct bench_sender *snd = NULL;
	struct bench_send_status st;
	struct bench_xsink_stats xs;
	struct bench_pnad_cpu pc;
	char err[256];
	double t0, cpu0, sink0;
	int rc;

	rc = bench_sender_open(ss, p->b.port, BENCH_SEND_ACKED, 30, &snd, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench: xmpp: %s\n", err);
		return rc;
	}
	bench_xsink_reset(s);
	bench_xsink_capture(s, true);
	r->c0 = xmpp_counters(p);
	bench_pnad_cpu_begin(&p->b);
	cpu0 = bench_cpu_seconds(p->worker);
	sink0 = bench_thread_cpu_seconds();
	t0 = bench_now();
	if ((rc = bench_sender_start(snd)) < 0)
		goto out_close;
	for (;;) {
		double now = bench_now();

		bench_xsink_poll(s, 5);
		bench_xsink_stats(s, &xs);
		bench_sender_status(snd, &st);
		if (st.error) {
			fprintf(stderr, "pna-bench: xmpp: %s\n", st.reason);
			rc = st.error;
			break;
		}
		if (st.done && now - st.t_acked > IDLE_END && now - xs.t_last > IDLE_END)
			break;
		if (now - t0 > o->f.duration) {
			bench_progress("xmpp: stopped at the %.0f s cap", o->f.duration);
			break;
		}
	}
	r->sink_cpu = bench_thread_cpu_seconds() - sink0;
	r->worker_cpu = bench_cpu_seconds(p->worker) - cpu0;
	bench_pnad_cpu_end(&p->b, &pc);
	r->shards_cpu = pc.shards;
	r->router_cpu = pc.router;
	r->c1 = xmpp_counters(p);
	r->acked = st.acked;
	r->events = ss->events;
	r->stanzas = xs.messages;
	r->bytes = xs.bytes;
	r->secs = xs.t_last > t0 ? xs.t_last - t0 : 0;
	r->rate = r->secs > 0 ? (double)r->stanzas / r->secs : 0;
	bench_xsink_capture(s, false);
out_close:
	bench_sender_close(snd, &st);
	r->sender_cpu = st.cpu;
	return rc;
}

static int run_pnad(const struct xmpp_opts *o, const char *dir, struct bench_xsink *s,
		    struct xmpp_run *r)
{
	struct bench_workload w = { .conns = 1,
				    .events = o->f.events,
				    .per_frame = o->f.per_frame,
				    .accounts = o->f.accounts,
				    .credential = CREDENTIAL };
	struct bench_streams ss;
	struct bench_xsink_stats xs;
	struct xmpp_pnad p;
	double sub0;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = bench_streams_encode(&w, 1, &ss)) < 0)
		return rc;
	if ((rc = pnad_start(o, dir, s, &p)) < 0)
		goto out_free;
	sub0 = bench_now();
	rc = bench_xsink_subscribe_all(s, o->f.accounts, WINDOW, 5);
	bench_xsink_stats(s, &xs);
	r->subscribed = xs.subscribed;
	r->refused = xs.refused;
	bench_progress("xmpp: %llu of %u subscribed (%llu refused), %llu state items, in %.2f s",
		       (unsigned long long)xs.subscribed, o->f.accounts,
		       (unsigned long long)xs.refused, (unsigned long long)xs.messages,
		       bench_now() - sub0);
	if (xs.subscribed == 0) {
		fprintf(stderr, "pna-bench: xmpp: no subscription made (%s); pnad log %s:\n",
			strerror(-rc), p.b.log);
		bench_dump_file(p.b.log, "  pnad| ", 6000);
		rc = rc < 0 ? rc : -EIO;
		goto out_stop;
	}
	/* The state items that follow the subscribes are not part of the run. */
	for (double t = bench_now(); bench_now() - t < IDLE_END;)
		bench_xsink_poll(s, 10);
	rc = stream_events(o, s, &p, &ss, r);
out_stop:
	pnad_stop(&p);
out_free:
	bench_streams_free(&ss);
	return rc;
}

/* The baseline writer (a forked child): attach as the component, then
 * write the captured stanzas, cycled, until `want` of them are out. */
static void base_writer(uint16_t port, const char *cap, size_t len, uint64_t per_copy,
			uint64_t want, int report)
{
	int fd = bench_xsink_attach(port, COMPONENT, SECRET, 10);
	uint64_t sent = 0;
	double cpu;

	if (fd < 0)
		_exit(1);
	while (sent < want) {
		for (size_t off = 0; off < len;) {
			ssize_t n = send(fd, cap + off, len - off, MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		sent += per_copy;
	}
	cpu = bench_thread_cpu_seconds();
	(void)!write(report, &cpu, sizeof(cpu));
	close(fd);
	_exit(0);
}

static int run_base(const struct xmpp_opts *o, struct bench_xsink *s, uint64_t want,
		    struct xmpp_run *r)
{
	struct bench_xsink_stats xs;
	uint64_t per_copy, total;
	const char *cap;
	size_t len;
	int pfd[2], wstatus;
	pid_t pid;
	double t0, deadline, sink0;

	memset(r, 0, sizeof(*r));
	cap = bench_xsink_captured(s, &len, &per_copy);
	if (!cap || pipe2(pfd, O_CLOEXEC) < 0)
		return -EINVAL;
	total = (want + per_copy - 1) / per_copy * per_copy;
	bench_xsink_reset(s);
	sink0 = bench_thread_cpu_seconds();
	t0 = bench_now();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pfd[0]);
		base_writer(bench_xsink_port(s), cap, len, per_copy, want, pfd[1]);
	}
	close(pfd[1]);
	deadline = t0 + o->f.duration + 10;
	do {
		bench_xsink_poll(s, 5);
		bench_xsink_stats(s, &xs);
	} while (xs.messages < total && bench_now() < deadline);
	r->sink_cpu = bench_thread_cpu_seconds() - sink0;
	if (xs.messages < total)
		bench_progress("xmpp: baseline: %llu of %llu stanzas arrived",
			       (unsigned long long)xs.messages, (unsigned long long)total);
	if (read(pfd[0], &r->sender_cpu, sizeof(r->sender_cpu)) != sizeof(r->sender_cpu))
		r->sender_cpu = -1;
	close(pfd[0]);
	bench_stop(pid, SIGTERM, 2, &wstatus);
	r->stanzas = xs.messages;
	r->bytes = xs.bytes;
	r->secs = xs.t_last - t0;
	r->rate = r->secs > 0 ? (double)r->stanzas / r->secs : 0;
	return 0;
}

#define D(f) ((unsigned long long)(pn->c1.f - pn->c0.f))

static void report(const struct xmpp_run *pn, const struct xmpp_run *b)
{
	char a[16], c[16], e[16], n[16];
	double ratio = b->rate > 0 ? pn->rate / b->rate : 0;

	printf("xmpp stanzas  pnad %s/s  baseline %s/s  ratio %.2f\n",
	       bench_si(a, sizeof(a), pn->rate), bench_si(c, sizeof(c), b->rate), ratio);
	printf("  events in %s (acked %llu), stanzas out %s in %.2f s (%.0f B each), "
	       "coalesced %lld; subscribed %llu, refused %llu\n",
	       bench_si(e, sizeof(e), (double)pn->events), (unsigned long long)pn->acked,
	       bench_si(n, sizeof(n), (double)pn->stanzas), pn->secs,
	       pn->stanzas ? (double)pn->bytes / (double)pn->stanzas : 0,
	       (long long)pn->acked - (long long)pn->stanzas, (unsigned long long)pn->subscribed,
	       (unsigned long long)pn->refused);
	printf("  pnad counters: notifications %llu, bytes %llu, output full %llu, "
	       "jobs dropped %llu, disconnects %llu\n",
	       D(notes), D(bytes_out), D(out_full), D(jobs_dropped), D(disconnects));
	printf("  cpu: XMPP worker %.2f s (%.0f%% of a core, %.2f us/stanza), shard %.2f s, "
	       "router %.2f s, ingest sender %.2f s, sink %.2f s (%.0f%%)\n",
	       pn->worker_cpu, pn->secs > 0 ? 100 * pn->worker_cpu / pn->secs : 0,
	       pn->stanzas ? 1e6 * pn->worker_cpu / (double)pn->stanzas : 0, pn->shards_cpu,
	       pn->router_cpu, pn->sender_cpu, pn->sink_cpu,
	       pn->secs > 0 ? 100 * pn->sink_cpu / pn->secs : 0);
	printf("  baseline: %s stanzas in %.2f s, writer %.2f s (%.2f us/stanza), "
	       "sink %.2f s (%.0f%%)\n",
	       bench_si(n, sizeof(n), (double)b->stanzas), b->secs, b->sender_cpu,
	       b->stanzas ? 1e6 * b->sender_cpu / (double)b->stanzas : 0, b->sink_cpu,
	       b->secs > 0 ? 100 * b->sink_cpu / b->secs : 0);
}

int bench_xmpp_main(int argc, char **argv)
{
	struct xmpp_opts o;
	struct xmpp_run pn, base;
	struct bench_xsink *s = NULL;
	struct bench_xsink_opts so = { .component = COMPONENT,
				       .secret = SECRET,
				       .capture = CAPTURE };
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
	printf("pna-bench xmpp: %u subscriptions (XEP-0060, one component link), "
	       "%llu MessageNew events\n",
	       o.f.accounts, (unsigned long long)o.f.events);
	fflush(stdout);
	so.accounts = o.f.accounts;
	if ((rc = bench_xsink_open(&so, &s)) < 0) {
		fprintf(stderr, "pna-bench: xmpp: sink: %s\n", strerror(-rc));
		goto out;
	}
	if (run_pnad(&o, tmp, s, &pn) < 0 || pn.stanzas == 0) {
		fprintf(stderr, "pna-bench: xmpp: the pnad run gave no stanzas\n");
		goto out;
	}
	if (run_base(&o, s, pn.stanzas, &base) < 0) {
		fprintf(stderr, "pna-bench: xmpp: no baseline (nothing captured)\n");
		goto out;
	}
	report(&pn, &base);
	status = 0;
out:
	bench_xsink_close(s);
	if (o.f.keep || status == 3)
		bench_progress("config and log kept in %s", tmp);
	else
		bench_tmpdir_remove(tmp);
	return status;
}
