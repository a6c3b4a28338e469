/* bench_run: the phases of `pna-bench run` (see bench_run.h). The summary,
 * JSON and option parsing live in bench_run_report.c and bench_run_cli.c. */
#include "bench/bench_run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_load.h"
#include "bench/bench_sink.h"
#include "bench/bench_sipsink.h"
#include "bench/bench_xsink.h"

#define CREDENTIAL "secret"
/* SUBSCRIBEs unanswered while preloading: the shard's request ring (1 MiB
 * by default) holds about 500 of ~2 KB, and past it the SIP worker answers
 * 503 (the sink then sends them again after a second's silence). */
#define SUB_WINDOW 256
#define IDLE_END 1.0 /* seconds without progress once the events are acked */
#define RELAY_WINDOW 4096
#define XMPP_COMPONENT "pna.example.com"
#define XMPP_SECRET "bench-secret"
#define XMPP_WINDOW 128

/* What the phases share: the workload, its fan-out and its schedule. */
struct run_ctx {
	const struct bench_run_opts *o;
	struct bench_streams ss;
	uint32_t *fan;		   /* per account: subscribers */
	uint32_t *sub_account;	   /* per subscription: its account */
	uint32_t *first_sub;	   /* per account: its first subscription (the rest follow) */
	uint64_t matches_expected; /* SIP and XMPP */
	uint64_t sip_expected;	   /* of them, SIP: what the relay sends */
	/* Per stream i, per account index j of that stream: the indices of
	 * its events in the stream, in order (CSR: off[i][j]..off[i][j+1]). */
	uint32_t **off, **idx;
	struct bench_sender *snd; /* the paced sender, for due times */
	struct bench_sipsink *sink;
	struct bench_xsink *xs; /* with xmpp_subs */
	/* Relay baseline: NOTIFYs captured in the max phase. */
	char (*cap)[BENCH_SIPSINK_DGRAM];
	uint16_t cap_len[BENCH_SIPSINK_CAPTURE];
	uint32_t ncap;
	/* Gated max phase: events whose matches have an outcome at the sinks,
	 * estimated from the outcomes and the mean fan-out (atomic: read by
	 * the sender's thread). */
	uint64_t gate_done;
	uint64_t gate_base; /* bench_pnad_folded at the phase's start */
};

void bench_run_defaults(struct bench_run_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->accounts = 10000;
	o->subs = 20000;
	o->conns = 4;
	o->per_frame = 16;
	o->shards = 1;
	o->events = 1000000;
	o->fanout = BENCH_FANOUT_UNIFORM;
	o->latency_at = 0.5;
	o->latency_secs = 5;
	o->latency_warmup = 0.5;
	o->stall_probe = 1;
	o->duration = 20;
	o->in_flight = 1024;
	o->rounds = 3;
	o->baseline = true;
	o->xmpp_subs = o->accounts / 10;
}

/* Subscribers per account: S spread evenly, or in proportion to 1/(rank+1)
 * (Zipf, s = 1: a few accounts watched by many devices and aggregators). */
static void build_fan(struct run_ctx *x)
{
	const struct bench_run_opts *o = x->o;
	uint32_t given = 0, s = 0;
	double h = 0;

	x->fan = calloc(o->accounts, sizeof(*x->fan));
	x->sub_account = malloc((o->subs ? o->subs : 1) * sizeof(*x->sub_account));
	x->first_sub = calloc(o->accounts, sizeof(*x->first_sub));
	if (!x->fan || !x->sub_account || !x->first_sub)
		abort();
	if (o->fanout == BENCH_FANOUT_ZIPF)
		for (uint32_t k = 0; k < o->accounts; k++)
			h += 1.0 / (k + 1);
	for (uint32_t k = 0; k < o->accounts; k++) {
		x->fan[k] = o->fanout == BENCH_FANOUT_ZIPF
				    ? (uint32_t)floor(o->subs / h / (k + 1))
				    : o->subs / o->accounts + (k < o->subs % o->accounts);
		given += x->fan[k];
	}
	for (uint32_t k = 0; given < o->subs; k = (k + 1) % o->accounts, given++)
		x->fan[k]++; /* Zipf's rounding remainder, to the top accounts */
	for (uint32_t k = 0; k < o->accounts; k++) {
		x->first_sub[k] = s;
		for (uint32_t i = 0; i < x->fan[k]; i++)
			x->sub_account[s++] = k;
	}
}

/* The schedule index (see struct run_ctx) and the matches to expect. */
static void build_index(struct run_ctx *x)
{
	uint32_t n = x->ss.n;

	x->off = calloc(n, sizeof(*x->off));
	x->idx = calloc(n, sizeof(*x->idx));
	if (!x->off || !x->idx)
		abort();
	for (uint32_t i = 0; i < n; i++) {
		const struct bench_stream *st = &x->ss.s[i];
		uint32_t nacct = (x->o->accounts - i + n - 1) / n, *fill;

		x->off[i] = calloc(nacct + 1, sizeof(uint32_t));
		x->idx[i] = malloc((st->events ? st->events : 1) * sizeof(uint32_t));
		fill = calloc(nacct + 1, sizeof(uint32_t));
		if (!x->off[i] || !x->idx[i] || !fill)
			abort();
		for (uint64_t e = 0; e < st->events; e++) {
			x->off[i][st->acct[e] + 1]++;
			x->sip_expected += x->fan[i + n * st->acct[e]];
			x->matches_expected += x->fan[i + n * st->acct[e]];
			x->matches_expected += i + n * st->acct[e] < x->o->xmpp_subs;
		}
		for (uint32_t j = 0; j < nacct; j++)
			x->off[i][j + 1] += x->off[i][j];
		for (uint64_t e = 0; e < st->events; e++) {
			uint32_t j = st->acct[e];

			x->idx[i][x->off[i][j] + fill[j]++] = (uint32_t)e;
		}
		free(fill);
	}
}

/* The streams of one phase and their index (replacing earlier ones). */
static int ctx_load(struct run_ctx *x, uint64_t events)
{
	struct bench_workload w = { .conns = x->o->conns,
				    .events = events,
				    .per_frame = x->o->per_frame,
				    .accounts = x->o->accounts,
				    .credential = CREDENTIAL };

	for (uint32_t i = 0; x->off && i < x->ss.n; i++) {
		free(x->off[i]);
		free(x->idx[i]);
	}
	free(x->off);
	free(x->idx);
	x->off = x->idx = NULL;
	x->matches_expected = x->sip_expected = 0;
	bench_streams_free(&x->ss);
	if (bench_streams_encode(&w, 1, &x->ss) < 0) {
		fprintf(stderr, "pna-bench run: this workload cannot be encoded\n");
		return -EINVAL;
	}
	build_index(x);
	return 0;
}

static void ctx_free(struct run_ctx *x)
{
	for (uint32_t i = 0; x->off && i < x->ss.n; i++) {
		free(x->off[i]);
		free(x->idx[i]);
	}
	free(x->off);
	free(x->idx);
	free(x->fan);
	free(x->sub_account);
	free(x->first_sub);
	free(x->cap);
	bench_streams_free(&x->ss);
}

/* bench_sipsink_due_fn: account k reached `messages` with its messages-th
 * event (uids start at 1 and every event is a MessageNew). */
static double event_due(void *arg, uint32_t k, uint32_t messages)
{
	struct run_ctx *x = arg;
	uint32_t n = x->ss.n, i = k % n, j = k / n;

	if (!x->snd || messages == 0 || messages > x->off[i][j + 1] - x->off[i][j])
		return -1;
	return bench_sender_due(x->snd, i, x->idx[i][x->off[i][j] + messages - 1]);
}

static int pnad_start(struct run_ctx *x, const char *label, struct bench_pnad *p, uint16_t *sip)
{
	const struct bench_run_opts *o = x->o;
	uint64_t subs = (uint64_t)o->subs * 2 / o->shards + 1024;
	char extra[512];
	struct bench_pnad_opts po = { .path = o->pnad,
				      .dir = o->dir,
				      .label = label,
				      .shards = o->shards,
				      .stores = o->conns,
				      .credential = CREDENTIAL,
				      .ring_bytes = "16M",
				      .mailboxes = (uint64_t)o->accounts * 5 / 4 / o->shards + 1024,
				      .extra = extra };
	int n, rc = bench_free_port(sip);

	if (rc < 0)
		return rc;
	n = snprintf(extra, sizeof(extra),
		     "subscriptions = %llu\nsip_listen = 127.0.0.1:%u\nsip_domain = example.com\n"
		     "sip_trusted = 127.0.0.1\n",
		     (unsigned long long)subs, *sip);

	if (x->xs)
		snprintf(extra + n, sizeof(extra) - (size_t)n,
			 "xmpp_server = 127.0.0.1:%u\nxmpp_component = %s\nxmpp_secret = %s\n",
			 bench_xsink_port(x->xs), XMPP_COMPONENT, XMPP_SECRET);
	return bench_pnad_start(&po, p);
}

/* Everything pnad counts that the books need, at one moment. */
struct snap {
	struct bench_shard_sum shard;
	struct sub_counters subs;
	struct sip_counters sip;
	struct xmpp_counters xmpp;
};

static void snap(struct bench_pnad *p, struct snap *s)
{
	bench_pnad_taken(p, &s->shard);
	bench_pnad_subs(p, &s->subs);
	bench_pnad_sip(p, &s->sip);
	bench_pnad_xmpp(p, &s->xmpp);
}

static uint64_t gate_done(void *arg)
{
	const struct run_ctx *x = arg;

	return __atomic_load_n(&x->gate_done, __ATOMIC_RELAXED);
}

/* Outcomes since the phase began: notifications received, matches folded
 * (bench_pnad_folded); as events, at the mean fan-out. */
static void gate_update(struct run_ctx *x, struct bench_pnad *p, uint64_t received)
{
	uint64_t out;

	if (!x->matches_expected)
		return;
	out = received + bench_pnad_folded(p) - x->gate_base;
	__atomic_store_n(
		&x->gate_done,
		(uint64_t)((double)out * (double)x->ss.events / (double)x->matches_expected),
		__ATOMIC_RELAXED);
	bench_sender_kick(x->snd);
}

static uint64_t xmpp_messages(const struct run_ctx *x)
{
	struct bench_xsink_stats st = { 0 };

	if (x->xs)
		bench_xsink_stats(x->xs, &st);
	return st.messages;
}

static void books(const struct run_ctx *x, const struct snap *a, const struct snap *b,
		  const struct bench_send_status *st, struct bench_books *k)
{
	const struct bench_sipsink *s = x->sink;

	k->events_sent = x->ss.events;
	k->events_acked = st->acked;
	k->events_applied = b->shard.applied - a->shard.applied;
	k->matches_expected = x->matches_expected;
	k->matches = b->subs.matches - a->subs.matches;
	k->notes = b->subs.notes - a->subs.notes;
	k->coalesced = b->subs.coalesced - a->subs.coalesced;
	k->notifies_sent = b->sip.notifies_sent - a->sip.notifies_sent;
	k->retransmits = b->sip.notify_retransmits - a->sip.notify_retransmits;
	k->notify_failures = b->sip.notify_failures - a->sip.notify_failures;
	k->received = s->notifies;
	k->repeats = s->repeats;
	k->out_of_order = s->out_of_order;
	k->unknown = s->unknown;
	k->xmpp_received = xmpp_messages(x);
	k->folded_at_take =
		b->sip.jobs_empty - a->sip.jobs_empty + b->xmpp.jobs_dropped - a->xmpp.jobs_dropped;
	k->folded_in_worker = b->sip.notify_folded - a->sip.notify_folded;
	k->unaccounted = (int64_t)k->matches - (int64_t)(k->received - k->repeats) -
			 (int64_t)k->xmpp_received - (int64_t)k->coalesced -
			 (int64_t)k->folded_at_take - (int64_t)k->folded_in_worker;
	k->balanced = k->events_acked == k->events_sent && k->events_applied == k->events_sent &&
		      k->matches == k->matches_expected && k->unaccounted == 0 && k->unknown == 0;
}

static void progress(const struct run_ctx *x, const char *phase, double t0, uint64_t acked,
		     double *last)
{
	double now = bench_now(), el = now - t0;
	uint64_t got = x->sink->notifies - x->sink->repeats + xmpp_messages(x);
	double left = acked ? el * (double)(x->ss.events - acked) / (double)acked : 0;

	if (!x->o->progress || now - *last < 0.25)
		return;
	*last = now;
	fprintf(stderr,
		"\r\033[K[%s] %5.1f s  events %llu/%llu (%.0fk/s)  notifications %llu (%.0fk/s)  "
		"~%.0f s left",
		phase, el, (unsigned long long)acked, (unsigned long long)x->ss.events,
		el > 0 ? (double)acked / el / 1e3 : 0, (unsigned long long)got,
		el > 0 ? (double)got / el / 1e3 : 0, left);
}

/* The latencies the sink measured, into ph; `warmup`: the seconds of them
 * counted apart. */
static void phase_latency(struct bench_phase *ph, const struct bench_sipsink *s, double warmup)
{
	ph->lat_samples = s->lat.n;
	ph->p50 = bench_lat_quantile(&s->lat, 0.5);
	ph->p99 = bench_lat_quantile(&s->lat, 0.99);
	ph->p999 = bench_lat_quantile(&s->lat, 0.999);
	ph->lat_max = s->lat.max;
	ph->warmup = warmup;
	ph->warm_samples = s->warm.n;
	ph->warm_p99 = bench_lat_quantile(&s->warm, 0.99);
	ph->warm_max = s->warm.max;
}

/* How long a phase may stream: an open-loop one lasts events / rate
 * whatever the cap says. */
static double phase_cap(const struct run_ctx *x, double rate)
{
	double open = rate > 0 ? (double)x->ss.events / rate + 5 : 0;

	return open > x->o->duration ? open : x->o->duration;
}

/* Stream the events into a subscribed pnad and count until every match is
 * a NOTIFY at the sink or coalesced, or nothing moves for IDLE_END. */
static int stream(struct run_ctx *x, struct bench_pnad *p, const char *phase, double rate,
		  struct bench_phase *ph)
{
	struct bench_send_status st = { 0 };
	struct snap a, b;
	char err[256];
	double t0, last_move, shown = 0, cpu0 = bench_self_cpu_seconds();
	double busy0 = bench_machine_busy_seconds();
	double cap = phase_cap(x, rate);
	struct bench_procs procs0 = { 0 };
	bool others;
	uint64_t seen = 0;
	int rc;

	rc = bench_sender_open(&x->ss, p->port, BENCH_SEND_ACKED, 30, &x->snd, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench run: %s\n", err);
		return rc;
	}
	others = bench_procs_read(&procs0) == 0;
	bench_sender_pace(x->snd, rate);
	x->gate_done = 0;
	if (rate <= 0 && x->o->in_flight &&
	    (rc = bench_sender_gate(x->snd, gate_done, x, x->o->in_flight)) < 0)
		goto out;
	bench_sipsink_reset(x->sink);
	if (x->xs)
		bench_xsink_reset(x->xs);
	x->sink->due = rate > 0 ? event_due : NULL;
	x->sink->due_arg = x;
	if (rate > 0 && x->o->trace && !(x->sink->trace = fopen(x->o->trace, "we"))) {
		rc = -errno;
		fprintf(stderr, "pna-bench run: %s: %s\n", x->o->trace, strerror(errno));
		goto out;
	}
	snap(p, &a);
	x->gate_base = bench_pnad_folded(p);
	bench_pnad_cpu_begin(p);
	t0 = last_move = bench_now();
	x->sink->trace_t0 = t0;
	x->sink->warm_until = rate > 0 ? t0 + x->o->latency_warmup : 0;
	if ((rc = bench_sender_start(x->snd)) < 0)
		goto out;
	for (;;) {
		double now = bench_now();
		uint64_t unique;

		/* Both sinks without waiting; then wait on the SIP one, whose
		 * latency is measured. */
		if (bench_sipsink_poll(x->sink, 0) + (x->xs ? bench_xsink_poll(x->xs, 0) : 0) <= 0)
			bench_sipsink_poll(x->sink, 1);
		bench_sender_status(x->snd, &st);
		if (st.error) {
			fprintf(stderr, "\npna-bench run: %s\n", st.reason);
			rc = st.error;
			break;
		}
		bench_pnad_subs(p, &b.subs);
		unique = x->sink->notifies - x->sink->repeats + xmpp_messages(x);
		if (rate <= 0 && x->o->in_flight)
			gate_update(x, p, unique);
		if (st.acked + unique != seen)
			seen = st.acked + unique, last_move = now;
		progress(x, phase, t0, st.acked, &shown);
		if (st.done &&
		    unique + b.subs.coalesced - a.subs.coalesced >= x->matches_expected &&
		    b.subs.matches - a.subs.matches >= x->matches_expected)
			break;
		if (st.done && now - last_move > IDLE_END)
			break;
		if (now - t0 > cap) {
			fprintf(stderr, "\npna-bench run: %s: stopped at the %.0f s cap\n", phase,
				cap);
			break;
		}
		if ((rc = bench_pnad_check_alive(p)) < 0)
			break;
	}
	if (x->o->progress)
		fprintf(stderr, "\r\033[K");
	bench_pnad_cpu_end(p, &ph->cpu);
	snap(p, &b);
	bench_pnad_memory(p, &ph->shm_bytes, &ph->rss_bytes);
	books(x, &a, &b, &st, &ph->b);
	ph->ran = rc == 0;
	ph->target_rate = rate;
	ph->secs = (x->sink->t_last > t0 ? x->sink->t_last : bench_now()) - t0;
	ph->events_per_s = ph->secs > 0 ? (double)st.acked / ph->secs : 0;
	ph->notifies_per_s = ph->secs > 0 ? (double)(ph->b.received - ph->b.repeats) / ph->secs : 0;
	ph->stanzas_per_s = ph->secs > 0 ? (double)ph->b.xmpp_received / ph->secs : 0;
	phase_latency(ph, x->sink, rate > 0 ? x->o->latency_warmup : 0);
	ph->bench_cpu = bench_self_cpu_seconds() - cpu0;
	ph->wall = bench_now() - t0;
	ph->busy = busy0 >= 0 ? bench_machine_busy_seconds() - busy0 : -1;
	/* pnad's own processes are its figures, not other load; the DAMON
	 * monitors are counted apart too */
	if (others) {
		struct bench_procs_sum kd = { .prefix = "kdamond" };

		bench_procs_busiest(&procs0, p->procs, p->nprocs, ph->others, &kd);
		ph->kdamond = kd.cpu;
	}
out:
	bench_procs_free(&procs0);
	if (x->sink->trace && fclose(x->sink->trace) != 0 && rc == 0)
		rc = -errno;
	x->sink->trace = NULL;
	bench_sender_close(x->snd, &st);
	ph->sender_cpu = st.cpu;
	x->snd = NULL;
	return rc;
}

/* The XMPP subscriptions, through the component link, and the state item
 * each one gets (not part of the phase). 0 or -errno. */
static int xmpp_subscribe(struct run_ctx *x, const char *phase)
{
	struct bench_xsink_stats st;
	uint32_t n = x->o->xmpp_subs;
	double t0 = bench_now();
	int rc = bench_xsink_wait_links(x->xs, 1, 10);

	if (rc == 0)
		rc = bench_xsink_subscribe_all(x->xs, n, XMPP_WINDOW, 5);
	do {
		bench_xsink_poll(x->xs, 5);
		bench_xsink_stats(x->xs, &st);
	} while (rc == 0 && st.messages < st.subscribed && bench_now() - t0 < 10);
	bench_progress("run: %s: %llu of %u XMPP subscriptions (%llu refused), %llu state items, "
		       "in %.2f s",
		       phase, (unsigned long long)st.subscribed, n, (unsigned long long)st.refused,
		       (unsigned long long)st.messages, bench_now() - t0);
	return rc < 0 ? rc : st.subscribed == n ? 0 : -EIO;
}

/* One phase: a fresh pnad, the subscriptions, the events. */
static int max_rounds(struct run_ctx *x, struct bench_pnad *p, struct bench_run_result *r);

/* A phase on a fresh pnad: the max phase's rounds (rate 0) or the open-loop
 * latency phase at `rate`. */
static int run_phase(struct run_ctx *x, const char *phase, double rate, struct bench_run_result *r)
{
	uint32_t *made = &r->subs_made;
	struct bench_pnad p;
	uint16_t sip_port;
	double t0 = bench_now();
	int rc;

	if (x->o->xmpp_subs) {
		struct bench_xsink_opts xo = { .component = XMPP_COMPONENT,
					       .secret = XMPP_SECRET,
					       .accounts = x->o->xmpp_subs };

		if ((rc = bench_xsink_open(&xo, &x->xs)) < 0)
			return rc;
	}
	if ((rc = pnad_start(x, phase, &p, &sip_port)) < 0) {
		bench_xsink_close(x->xs);
		x->xs = NULL;
		return rc;
	}
	x->sink = bench_sipsink_new(x->o->subs, x->sub_account);
	if (!x->sink) {
		rc = -EMFILE;
		goto out;
	}
	rc = bench_sipsink_subscribe(x->sink, sip_port, SUB_WINDOW);
	*made = (uint32_t)x->sink->subs_ok;
	bench_progress("run: %s: %u of %u subscribed in %.2f s", phase, *made, x->o->subs,
		       bench_now() - t0);
	if (rc == 0 && x->xs)
		rc = xmpp_subscribe(x, phase);
	if (rc < 0) {
		bench_pnad_failed(&p, "did not take every subscription");
		goto out;
	}
	rc = rate > 0 ? stream(x, &p, phase, rate, &r->lat) : max_rounds(x, &p, r);
out:
	bench_sipsink_free(x->sink);
	x->sink = NULL;
	bench_pnad_stop(&p);
	bench_xsink_close(x->xs);
	x->xs = NULL;
	return rc;
}

struct relay_run {
	uint64_t datagrams;
	double secs, rate, cpu;
};

/* The relay baseline: the same frames, blind, to bench_sink's relay, whose
 * datagrams (captured NOTIFYs) reach a fresh sink, in GSO groups or not.
 * With `lat`, paced at `rate` instead, the relay writing each NOTIFY for
 * its event, timed by the sink into lat (the latency baseline). */
static int run_relay(struct run_ctx *x, bool gso, double rate, struct bench_phase *lat,
		     struct relay_run *r)
{
	/* timing NOTIFYs, the sink maps their subscriptions to accounts */
	struct bench_sipsink *s =
		bench_sipsink_new(lat ? x->o->subs : 0, lat ? x->sub_account : NULL);
	struct bench_relay relay = { .fan = x->fan,
				     .naccounts = x->o->accounts,
				     .first_sub = lat ? x->first_sub : NULL,
				     .dgram = (const char *)x->cap,
				     .dgram_len = x->cap_len,
				     .ndgram = x->ncap,
				     .dgram_stride = BENCH_SIPSINK_DGRAM,
				     .window = RELAY_WINDOW,
				     .gso = gso };
	struct bench_sink_opts so = { .conns = x->ss.n,
				      .frames = x->ss.frames + x->ss.n,
				      .max_frame = 1u << 20,
				      .read_bytes = 256u << 10,
				      .decode = true,
				      .relay = &relay };
	struct bench_sink *k = NULL;
	struct bench_sender *snd = NULL;
	struct bench_sink_result res;
	char err[256];
	double t0, last = 0, cap = phase_cap(x, lat ? rate : 0);
	int rc;

	if (!s || (!lat && !x->ncap)) {
		bench_sipsink_free(s);
		return -EINVAL;
	}
	if (lat) {
		s->due = event_due; /* the paced sender's schedule, as for pnad */
		s->due_arg = x;
	}
	relay.udp_port = s->port;
	if ((rc = bench_sink_start(&so, &k)) < 0)
		goto out;
	rc = bench_sender_open(&x->ss, bench_sink_port(k), BENCH_SEND_BLIND, 30, &snd, err,
			       sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pna-bench run: baseline: %s\n", err);
		goto out;
	}
	if (lat) {
		bench_sender_pace(snd, rate);
		x->snd = snd;
	}
	t0 = bench_now();
	s->warm_until = lat ? t0 + x->o->latency_warmup : 0;
	if ((rc = bench_sender_start(snd)) < 0)
		goto out;
	while (s->notifies < x->sip_expected && bench_now() - t0 < cap) {
		if (bench_sipsink_poll(s, 5) > 0)
			last = bench_now();
		else if (last && bench_now() - last > IDLE_END)
			break;
	}
	r->datagrams = s->notifies;
	r->secs = (s->t_last > t0 ? s->t_last : bench_now()) - t0;
	r->rate = r->secs > 0 ? (double)s->notifies / r->secs : 0;
	r->cpu = bench_cpu_seconds(bench_sink_pid(k));
	if (lat) {
		lat->ran = s->notifies >= x->sip_expected && s->repeats == 0 && s->unknown == 0;
		lat->target_rate = rate;
		lat->secs = r->secs;
		lat->notifies_per_s = r->rate;
		phase_latency(lat, s, x->o->latency_warmup);
	}
	if (bench_sink_wait(k, 2, &res) == 0 && res.error)
		fprintf(stderr, "pna-bench run: baseline relay: %s\n", res.reason);
out:
	x->snd = NULL;
	bench_sender_close(snd, NULL);
	bench_sink_stop(k);
	bench_sipsink_free(s);
	return rc;
}

/* The relay both ways, once: the faster way is the baseline's from then on. */
struct relay_best {
	struct relay_run best;
	bool gso_wins;
	double gso, single; /* rates */
};

static int relay_pick(struct run_ctx *x, struct relay_best *b)
{
	struct relay_run one;
	int rc;

	memset(b, 0, sizeof(*b));
	if ((rc = run_relay(x, true, 0, NULL, &b->best)) < 0 ||
	    (rc = run_relay(x, false, 0, NULL, &one)) < 0)
		return rc;
	b->gso = b->best.rate;
	b->single = one.rate;
	b->gso_wins = b->best.rate >= one.rate;
	if (!b->gso_wins)
		b->best = one;
	return 0;
}

/* Two relay runs as one: their datagrams over their time. */
static struct relay_run relay_join(const struct relay_run *a, const struct relay_run *b)
{
	struct relay_run j = { .datagrams = a->datagrams + b->datagrams,
			       .secs = a->secs + b->secs,
			       .cpu = a->cpu + b->cpu };

	j.rate = j.secs > 0 ? (double)j.datagrams / j.secs : 0;
	return j;
}

/* The relay baseline replays NOTIFYs captured from the first stream. */
static void keep_captures(struct run_ctx *x)
{
	if (!x->sink->capture)
		return;
	x->sink->capture = false;
	x->ncap = x->sink->ncap;
	memcpy(x->cap, x->sink->cap, sizeof(*x->cap) * x->ncap);
	memcpy(x->cap_len, x->sink->cap_len, sizeof(x->cap_len));
}

/* The max phase: a warm-up run, not counted (pnad's first pass over its
 * rings and buffers takes page faults, costly on a VM, that no later run
 * pays), the relay both ways (the faster way is the baseline's), then
 * rounds, each followed by the relay that way while pnad idles. The
 * machine's speed drifts between seconds, so a round's baseline is the
 * relay run just before it joined with the one just after (a linear drift
 * cancels), and the median round (by ratio, by rate without a baseline) is
 * r->max. */
static int max_rounds(struct run_ctx *x, struct bench_pnad *p, struct bench_run_result *r)
{
	static struct relay_run base[BENCH_ROUNDS_MAX];
	double key[BENCH_ROUNDS_MAX];
	struct relay_best pick = { 0 };
	struct relay_run before, after;
	int rc;

	x->sink->capture = x->ncap == 0;
	if ((rc = stream(x, p, "warm-up", 0, &r->warm)) < 0)
		return rc;
	keep_captures(x);
	if (x->o->baseline && relay_pick(x, &pick) < 0)
		bench_progress("run: the relay baseline failed; no ratio");
	before = pick.best;
	for (r->rounds = 0; r->rounds < x->o->rounds; r->rounds++) {
		uint32_t k = r->rounds;
		char name[32];

		snprintf(name, sizeof(name), "max %u/%u", k + 1, x->o->rounds);
		if ((rc = stream(x, p, name, 0, &r->round[k])) < 0)
			return rc;
		memset(&after, 0, sizeof(after));
		if (before.rate > 0 && run_relay(x, pick.gso_wins, 0, NULL, &after) < 0)
			bench_progress("run: the relay baseline failed; no ratio");
		base[k] = after.rate > 0 ? relay_join(&before, &after) : (struct relay_run){ 0 };
		before = after;
		r->round_base[k] = base[k].rate;
		key[k] = !x->o->baseline    ? r->round[k].notifies_per_s
			 : base[k].rate > 0 ? r->round[k].notifies_per_s / base[k].rate
					    : 0;
	}
	r->median = (uint32_t)bench_median_index(key, r->rounds);
	r->max = r->round[r->median];
	r->base_ran = base[r->median].rate > 0;
	r->base_datagrams = base[r->median].datagrams;
	r->base_secs = base[r->median].secs;
	r->base_rate = base[r->median].rate;
	r->base_cpu = base[r->median].cpu;
	r->base_gso = pick.gso_wins;
	r->base_rate_gso = pick.gso;
	r->base_rate_single = pick.single;
	return 0;
}

/* The latency phase's rate: latency_at of the maximum load, which is the
 * event rate whose every match pnad can deliver. The max phase's event rate
 * is not it: as fast as events come, most matches fold into pending notes
 * (pnad sheds work by coalescing), so its notifications per second over
 * the matches per event is the rate pnad carries without falling behind. */
static double latency_rate(const struct run_ctx *x, const struct bench_run_result *r)
{
	double per_event = (double)x->matches_expected / (double)x->ss.events;
	double carried = (r->max.notifies_per_s + r->max.stanzas_per_s) / per_event;

	return x->o->latency_at * (carried < r->max.events_per_s ? carried : r->max.events_per_s);
}

/* The relay at the latency phase's rate over its events (GSO groups, as
 * pnad sends): what latency this machine allows a one-process relay. A
 * failure costs the figure, not the run. */
static void latency_baseline(struct run_ctx *x, double rate, struct bench_run_result *r)
{
	struct relay_run one = { 0 };

	bench_progress("run: latency baseline: the relay at %.0f events/s", rate);
	if (run_relay(x, true, rate, &r->base_lat, &one) < 0 || !r->base_lat.ran)
		bench_progress("run: the relay's latency baseline failed; none");
	r->base_lat_cpu = one.cpu;
}

bool bench_run_balanced(const struct bench_run_result *r)
{
	bool ok = r->warm.b.balanced && (!r->lat.ran || r->lat.b.balanced);

	for (uint32_t k = 0; k < r->rounds; k++)
		ok = ok && r->round[k].b.balanced;
	return ok;
}

/* What the host does to a busy CPU, measured while no pnad runs; a
 * failed probe is said and leaves stalls.secs 0. */
static void probe_stalls(double secs, struct bench_run_result *r)
{
	int rc;

	bench_progress("run: probing the CPUs' stalls for %.1f s", secs);
	if ((rc = bench_stall_probe(secs, 0, &r->stalls)) < 0) {
		fprintf(stderr, "pna-bench run: stall probe: %s\n", strerror(-rc));
		r->stalls.secs = 0;
	}
}

int bench_run_exec(const struct bench_run_opts *o, struct bench_run_result *r)
{
	struct run_ctx x = { .o = o };
	int rc;

	memset(r, 0, sizeof(*r));
	r->o = *o;
	bench_machine_get(&r->m);
	x.cap = calloc(BENCH_SIPSINK_CAPTURE, sizeof(*x.cap));
	if (!x.cap)
		abort();
	build_fan(&x);
	for (uint32_t k = 0; k < o->accounts; k++)
		r->fan_max = x.fan[k] > r->fan_max ? x.fan[k] : r->fan_max;
	/* The max phase's rounds split the events; its warm-up streams as many
	 * as a round. */
	if ((rc = ctx_load(&x, o->events / o->rounds > o->conns ? o->events / o->rounds
								: o->conns)) < 0)
		goto out;
	rc = run_phase(&x, "max", 0, r);
	r->ratio = r->base_rate > 0 ? r->max.notifies_per_s / r->base_rate : 0;
	if (rc == 0 && o->latency_at > 0) {
		double rate = o->rate > 0 ? o->rate : latency_rate(&x, r);
		/* Open loop, a phase lasts events / rate: the warm-up, then
		 * latency_secs measured. */
		uint64_t n = (uint64_t)(rate * (o->latency_warmup + o->latency_secs));

		n = n < o->conns ? o->conns : n;
		rc = ctx_load(&x, n < o->events ? n : o->events);
		if (rc == 0 && o->stall_probe > 0)
			probe_stalls(o->stall_probe, r);
		if (rc == 0)
			rc = run_phase(&x, "latency", rate, r);
		if (rc == 0 && o->baseline)
			latency_baseline(&x, rate, r);
	}
out:
	ctx_free(&x);
	return rc;
}
