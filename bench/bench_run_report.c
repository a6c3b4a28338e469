/* bench_run_report: the summary and the JSON of `pna-bench run`, and the
 * JSON read back for `pna-bench plan`. */
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "bench/bench_run.h"

static double per_k(double cpu, uint64_t n)
{
	return n ? cpu * 1000.0 / (double)n : 0;
}

/* Frames of the phase: its events in frames of per_frame (the last of a
 * connection's may be short; 0 when nothing was applied). */
static double frames_of(const struct bench_phase *p, uint32_t events_per_frame)
{
	return events_per_frame ? (double)p->b.events_applied / events_per_frame : 0;
}

static double per_frame(uint64_t n, double frames)
{
	return frames > 0 ? (double)n / frames : 0;
}

/* How often the event path's roles slept (each a wake-up) and were
 * preempted per frame: in the paced regime a stage sleeps between frames,
 * and on a VM each wake-up costs more CPU than the frame's work. */
static void print_switches(FILE *f, const struct bench_phase *p, uint32_t n)
{
	const uint64_t *s = p->cpu.sleeps, *q = p->cpu.preempted;
	double fr = frames_of(p, n);

	if (fr <= 0)
		return;
	fprintf(f,
		"  sleeps per frame of %u events: router %.2f, shards %.2f, SIP worker %.2f, XMPP "
		"worker %.2f (preempted: %.2f, %.2f, %.2f, %.2f)\n",
		n, per_frame(s[BENCH_PNAD_ROLE_ROUTER], fr),
		per_frame(s[BENCH_PNAD_ROLE_SHARDS], fr), per_frame(s[BENCH_PNAD_ROLE_SIP], fr),
		per_frame(s[BENCH_PNAD_ROLE_XMPP], fr), per_frame(q[BENCH_PNAD_ROLE_ROUTER], fr),
		per_frame(q[BENCH_PNAD_ROLE_SHARDS], fr), per_frame(q[BENCH_PNAD_ROLE_SIP], fr),
		per_frame(q[BENCH_PNAD_ROLE_XMPP], fr));
}

static void print_books(FILE *f, const struct bench_books *b)
{
	fprintf(f,
		"  books: events sent %llu = acked %llu = applied %llu; matches %llu "
		"(expected %llu) = NOTIFYs received %llu - repeats %llu + XMPP stanzas %llu + "
		"coalesced %llu + folded at take %llu + folded in the SIP worker %llu; unaccounted "
		"%lld: %s\n",
		(unsigned long long)b->events_sent, (unsigned long long)b->events_acked,
		(unsigned long long)b->events_applied, (unsigned long long)b->matches,
		(unsigned long long)b->matches_expected, (unsigned long long)b->received,
		(unsigned long long)b->repeats, (unsigned long long)b->xmpp_received,
		(unsigned long long)b->coalesced, (unsigned long long)b->folded_at_take,
		(unsigned long long)b->folded_in_worker, (long long)b->unaccounted,
		b->balanced ? "balanced" : "NOT BALANCED");
	fprintf(f,
		"  pnad: %llu notes to the egress workers = %llu NOTIFYs sent + %llu XMPP stanzas "
		"+ %llu found already taken + %llu folded in the SIP worker + %lld not sent; %llu "
		"NOTIFY retransmissions, %llu failures\n",
		(unsigned long long)b->notes, (unsigned long long)b->notifies_sent,
		(unsigned long long)b->xmpp_received, (unsigned long long)b->folded_at_take,
		(unsigned long long)b->folded_in_worker,
		(long long)b->notes - (long long)(b->notifies_sent + b->xmpp_received +
						  b->folded_at_take + b->folded_in_worker),
		(unsigned long long)b->retransmits, (unsigned long long)b->notify_failures);
	if (b->out_of_order || b->unknown)
		fprintf(f,
			"  sink: %llu new NOTIFYs below a CSeq already seen (a UA answers 500, RFC "
			"3261 12.2.2), %llu of unknown dialogs\n",
			(unsigned long long)b->out_of_order, (unsigned long long)b->unknown);
}

/* Cores busy while a phase streamed: pnad's, the load generator's (the
 * bench: sender and sinks), everything else's (the DAMON monitors' among
 * them). What a latency tail queues behind. */
struct phase_cores {
	double busy, pnad, load, other, kdamond;
};

static bool phase_cores(const struct bench_phase *p, struct phase_cores *c)
{
	if (p->wall <= 0 || p->busy < 0)
		return false;
	c->busy = p->busy / p->wall;
	c->pnad = p->cpu.total / p->wall;
	c->load = p->bench_cpu / p->wall;
	c->other = c->busy - c->pnad - c->load;
	c->other = c->other > 0 ? c->other : 0;
	c->kdamond = p->kdamond / p->wall;
	return true;
}

static void print_machine(FILE *f, const struct bench_run_result *r, const struct bench_phase *p)
{
	struct phase_cores c;

	if (!phase_cores(p, &c))
		return;
	fprintf(f,
		"  machine: %.2f of %ld cores busy: pnad %.2f, load generator %.2f, other %.2f "
		"(DAMON monitors %.3f)",
		c.busy, r->m.nproc, c.pnad, c.load, c.other, c.kdamond);
	bench_procs_print(f, "; busiest others: ", p->others, 1 / p->wall, 3, "");
	fputc('\n', f);
}

static void print_phase(FILE *f, const char *name, const struct bench_phase *p,
			const struct bench_run_result *r)
{
	char a[16], b[16], c[16];
	uint64_t ev = p->b.events_applied, nt = p->b.received - p->b.repeats;

	if (!p->ran)
		return;
	fprintf(f, "%s: %s events/s in, %s NOTIFYs/s out", name,
		bench_si(a, sizeof(a), p->events_per_s), bench_si(b, sizeof(b), p->notifies_per_s));
	if (p->b.xmpp_received)
		fprintf(f, " + %s XMPP stanzas/s", bench_si(c, sizeof(c), p->stanzas_per_s));
	fprintf(f, " over %.2f s", p->secs);
	if (p->target_rate > 0)
		fprintf(f, " (open loop at %s events/s)", bench_si(c, sizeof(c), p->target_rate));
	else if (r->o.in_flight)
		fprintf(f, " (closed loop, at most %u events in flight)", r->o.in_flight);
	fprintf(f, "\n");
	if (p->lat_samples)
		fprintf(f,
			"  latency event -> NOTIFY: p50 %.3f ms, p99 %.3f ms, p999 %.3f ms, "
			"max %.3f ms (%llu NOTIFYs)\n",
			p->p50 * 1e3, p->p99 * 1e3, p->p999 * 1e3, p->lat_max * 1e3,
			(unsigned long long)p->lat_samples);
	if (p->warm_samples)
		fprintf(f,
			"  before them, %.1f s of warm-up on the fresh pnad: "
			"p99 %.3f ms, max %.3f ms (%llu NOTIFYs)\n",
			p->warmup, p->warm_p99 * 1e3, p->warm_max * 1e3,
			(unsigned long long)p->warm_samples);
	fprintf(f,
		"  CPU s per 1000 events: router %.4f, shards %.4f, SIP worker %.4f (%.4f per "
		"1000 NOTIFYs), XMPP worker %.4f, supervisor+admin %.4f; load generator %.2f s "
		"(sender %.2f s)\n",
		per_k(p->cpu.router, ev), per_k(p->cpu.shards, ev), per_k(p->cpu.sip, ev),
		per_k(p->cpu.sip, nt), per_k(p->cpu.xmpp, ev),
		per_k(p->cpu.other + p->cpu.admin, ev), p->bench_cpu, p->sender_cpu);
	print_switches(f, p, r->o.per_frame);
	print_machine(f, r, p);
	fprintf(f,
		"  memory: shared %s B (%.0f B per subscription), RSS %s B (%.0f B per "
		"subscription)\n",
		bench_si(a, sizeof(a), (double)p->shm_bytes),
		r->subs_made ? (double)p->shm_bytes / r->subs_made : 0,
		bench_si(b, sizeof(b), (double)p->rss_bytes),
		r->subs_made ? (double)p->rss_bytes / r->subs_made : 0);
	print_books(f, &p->b);
}

/* The latency baseline against pnad's latency phase. */
static void print_base_lat(FILE *f, const struct bench_run_result *r)
{
	const struct bench_phase *p = &r->base_lat;
	char a[16];

	if (!p->ran)
		return;
	fprintf(f,
		"latency baseline: the relay at %s events/s, each NOTIFY written for its event "
		"(%.2f CPU s): p50 %.3f ms, p99 %.3f ms, p999 %.3f ms, max %.3f ms (%llu "
		"NOTIFYs, after %.1f s of warm-up)",
		bench_si(a, sizeof(a), p->target_rate), r->base_lat_cpu, p->p50 * 1e3, p->p99 * 1e3,
		p->p999 * 1e3, p->lat_max * 1e3, (unsigned long long)p->lat_samples, p->warmup);
	if (r->lat.lat_samples && p->p99 > 0)
		fprintf(f, "; pnad's p99 / the relay's %.1f", r->lat.p99 / p->p99);
	fprintf(f, "\n");
}

void bench_run_print(FILE *f, const struct bench_run_result *r)
{
	const struct bench_run_opts *o = &r->o;
	char a[16], b[16], g[16], one[16];

	fprintf(f,
		"pna-bench run: %u accounts, %u SIP subscriptions (%s fan-out, at most %llu on one "
		"account), %u XMPP, %llu MessageNew events over %u connections, %u per frame, %u "
		"shard%s; "
		"%ld CPUs (%s)\n",
		o->accounts, r->subs_made, o->fanout == BENCH_FANOUT_ZIPF ? "Zipf" : "uniform",
		(unsigned long long)r->fan_max, o->xmpp_subs, (unsigned long long)o->events,
		o->conns, o->per_frame, o->shards, o->shards == 1 ? "" : "s", r->m.nproc, r->m.cpu);
	print_phase(f, "max", &r->max, r);
	fprintf(f, "  max phase: the median of %u rounds after a warm-up (NOTIFYs/s / baseline):",
		r->rounds);
	for (uint32_t k = 0; k < r->rounds; k++)
		fprintf(f, "%s %s/%s", k ? "," : "",
			bench_si(a, sizeof(a), r->round[k].notifies_per_s),
			bench_si(b, sizeof(b), r->round_base[k]));
	fprintf(f, "%s\n",
		bench_run_balanced(r)
			? ""
			: "; BOOKS NOT BALANCED (a round, the warm-up or the latency phase)");
	print_phase(f, "latency", &r->lat, r);
	if (r->lat.ran && r->m.damon_on)
		fprintf(f,
			"  note: %u DAMON monitor%s on here (kdamond): each sample holds a vCPU "
			"for milliseconds, which this p99 includes (docs/capacity.md)\n",
			r->m.damon_on, r->m.damon_on == 1 ? " is" : "s are");
	if (r->lat.ran && r->stalls.secs > 0)
		bench_stall_print(f, "  just before, this host's ", &r->stalls);
	if (r->base_ran)
		fprintf(f,
			"baseline relay: %s NOTIFYs/s (%llu datagrams in %.2f s, %.2f CPU s, "
			"in the runs just before and after the median round, %s: "
			"after the warm-up GSO groups %s/s, one datagram per send %s/s); "
			"pnad / baseline %.2f\n",
			bench_si(a, sizeof(a), r->base_rate), (unsigned long long)r->base_datagrams,
			r->base_secs, r->base_cpu,
			r->base_gso ? "GSO groups" : "one datagram per send",
			bench_si(g, sizeof(g), r->base_rate_gso),
			bench_si(one, sizeof(one), r->base_rate_single), r->ratio);
	print_base_lat(f, r);
	(void)b;
}

static void json_books(struct bench_json *j, const struct bench_books *b)
{
	bench_json_obj(j, "books");
	bench_json_int(j, "events_sent", (int64_t)b->events_sent);
	bench_json_int(j, "events_acked", (int64_t)b->events_acked);
	bench_json_int(j, "events_applied", (int64_t)b->events_applied);
	bench_json_int(j, "matches_expected", (int64_t)b->matches_expected);
	bench_json_int(j, "matches", (int64_t)b->matches);
	bench_json_int(j, "notes", (int64_t)b->notes);
	bench_json_int(j, "coalesced", (int64_t)b->coalesced);
	bench_json_int(j, "notifies_sent", (int64_t)b->notifies_sent);
	bench_json_int(j, "retransmits", (int64_t)b->retransmits);
	bench_json_int(j, "notify_failures", (int64_t)b->notify_failures);
	bench_json_int(j, "received", (int64_t)b->received);
	bench_json_int(j, "repeats", (int64_t)b->repeats);
	bench_json_int(j, "out_of_order", (int64_t)b->out_of_order);
	bench_json_int(j, "unknown", (int64_t)b->unknown);
	bench_json_int(j, "xmpp_received", (int64_t)b->xmpp_received);
	bench_json_int(j, "folded_at_take", (int64_t)b->folded_at_take);
	bench_json_int(j, "folded_in_worker", (int64_t)b->folded_in_worker);
	bench_json_int(j, "unaccounted", b->unaccounted);
	bench_json_bool(j, "balanced", b->balanced);
	bench_json_end(j);
}

/* A phase's latencies: the measured ones and the warm-up's apart. */
static void json_latency(struct bench_json *j, const struct bench_phase *p)
{
	bench_json_obj(j, "latency_s");
	bench_json_int(j, "samples", (int64_t)p->lat_samples);
	bench_json_num(j, "p50", p->p50);
	bench_json_num(j, "p99", p->p99);
	bench_json_num(j, "p999", p->p999);
	bench_json_num(j, "max", p->lat_max);
	bench_json_end(j);
	bench_json_obj(j, "warmup_latency_s");
	bench_json_num(j, "seconds", p->warmup);
	bench_json_int(j, "samples", (int64_t)p->warm_samples);
	bench_json_num(j, "p99", p->warm_p99);
	bench_json_num(j, "max", p->warm_max);
	bench_json_end(j);
}

static void json_roles(struct bench_json *j, const char *key, const uint64_t *n, double frames)
{
	bench_json_obj(j, key);
	bench_json_num(j, "router", per_frame(n[BENCH_PNAD_ROLE_ROUTER], frames));
	bench_json_num(j, "shards", per_frame(n[BENCH_PNAD_ROLE_SHARDS], frames));
	bench_json_num(j, "sip", per_frame(n[BENCH_PNAD_ROLE_SIP], frames));
	bench_json_num(j, "xmpp", per_frame(n[BENCH_PNAD_ROLE_XMPP], frames));
	bench_json_end(j);
}

static void json_phase(struct bench_json *j, const char *key, const struct bench_phase *p,
		       const struct bench_run_result *r)
{
	uint32_t subs = r->subs_made;
	double frames = frames_of(p, r->o.per_frame);
	uint64_t ev = p->b.events_applied, nt = p->b.received - p->b.repeats;

	bench_json_obj(j, key);
	bench_json_bool(j, "ran", p->ran);
	bench_json_num(j, "target_events_per_s", p->target_rate);
	bench_json_num(j, "seconds", p->secs);
	bench_json_num(j, "events_per_s", p->events_per_s);
	bench_json_num(j, "notifies_per_s", p->notifies_per_s);
	bench_json_num(j, "stanzas_per_s", p->stanzas_per_s);
	json_latency(j, p);
	bench_json_obj(j, "cpu_s");
	bench_json_num(j, "router", p->cpu.router);
	bench_json_num(j, "shards", p->cpu.shards);
	bench_json_num(j, "sip", p->cpu.sip);
	bench_json_num(j, "xmpp", p->cpu.xmpp);
	bench_json_num(j, "admin", p->cpu.admin);
	bench_json_num(j, "supervisor", p->cpu.other);
	bench_json_num(j, "load_generator", p->bench_cpu);
	bench_json_num(j, "sender", p->sender_cpu);
	bench_json_end(j);
	{
		struct phase_cores c;

		if (phase_cores(p, &c)) {
			bench_json_obj(j, "cores_busy");
			bench_json_num(j, "seconds", p->wall);
			bench_json_num(j, "all", c.busy);
			bench_json_num(j, "pnad", c.pnad);
			bench_json_num(j, "load_generator", c.load);
			bench_json_num(j, "other", c.other);
			bench_json_num(j, "damon_monitors", c.kdamond);
			bench_procs_json(j, "busiest_others", p->others, "cores", 1 / p->wall);
			bench_json_end(j);
		}
	}
	bench_json_obj(j, "cpu_s_per_1000");
	bench_json_num(j, "router_per_event", per_k(p->cpu.router, ev));
	bench_json_num(j, "shards_per_event", per_k(p->cpu.shards, ev));
	bench_json_num(j, "sip_per_event", per_k(p->cpu.sip, ev));
	bench_json_num(j, "sip_per_notify", per_k(p->cpu.sip, nt));
	bench_json_num(j, "xmpp_per_stanza", per_k(p->cpu.xmpp, p->b.xmpp_received));
	bench_json_end(j);
	bench_json_obj(j, "per_frame");
	bench_json_num(j, "frames", frames);
	json_roles(j, "sleeps", p->cpu.sleeps, frames);
	json_roles(j, "preempted", p->cpu.preempted, frames);
	bench_json_end(j);
	bench_json_obj(j, "memory");
	bench_json_int(j, "shm_bytes", (int64_t)p->shm_bytes);
	bench_json_int(j, "rss_bytes", (int64_t)p->rss_bytes);
	bench_json_num(j, "shm_per_sub", subs ? (double)p->shm_bytes / subs : 0);
	bench_json_num(j, "rss_per_sub", subs ? (double)p->rss_bytes / subs : 0);
	bench_json_end(j);
	json_books(j, &p->b);
	bench_json_end(j);
}

void bench_run_json(struct bench_json *j, const char *key, const struct bench_run_result *r)
{
	const struct bench_run_opts *o = &r->o;

	bench_json_obj(j, key);
	bench_json_obj(j, "machine");
	bench_json_int(j, "cpus", r->m.nproc);
	bench_json_str(j, "cpu", r->m.cpu);
	bench_json_str(j, "kernel", r->m.kernel);
	bench_json_str(j, "date", r->m.date);
	bench_json_int(j, "damon_monitors_on", r->m.damon_on);
	if (r->stalls.secs > 0) /* probed: zeros would read as a perfect host */
		bench_stall_json(j, "stalls", &r->stalls);
	bench_json_end(j);
	bench_json_obj(j, "workload");
	bench_json_int(j, "accounts", o->accounts);
	bench_json_int(j, "subscriptions", o->subs);
	bench_json_int(j, "subscriptions_made", r->subs_made);
	bench_json_int(j, "xmpp_subscriptions", o->xmpp_subs);
	bench_json_str(j, "fanout", o->fanout == BENCH_FANOUT_ZIPF ? "zipf" : "uniform");
	bench_json_int(j, "fanout_max", (int64_t)r->fan_max);
	bench_json_int(j, "events", (int64_t)o->events);
	bench_json_int(j, "connections", o->conns);
	bench_json_int(j, "events_per_frame", o->per_frame);
	bench_json_int(j, "shards", o->shards);
	bench_json_int(j, "max_in_flight", o->in_flight);
	bench_json_end(j);
	json_phase(j, "max", &r->max, r);
	bench_json_arr(j, "max_rounds");
	for (uint32_t k = 0; k < r->rounds; k++) {
		bench_json_obj(j, NULL);
		bench_json_num(j, "notifies_per_s", r->round[k].notifies_per_s);
		bench_json_num(j, "baseline_notifies_per_s", r->round_base[k]);
		bench_json_bool(j, "balanced", r->round[k].b.balanced);
		bench_json_end(j);
	}
	bench_json_end(j);
	bench_json_int(j, "max_median_round", r->median);
	bench_json_bool(j, "balanced", bench_run_balanced(r));
	json_phase(j, "latency", &r->lat, r);
	bench_json_obj(j, "baseline");
	bench_json_bool(j, "ran", r->base_ran);
	bench_json_int(j, "datagrams", (int64_t)r->base_datagrams);
	bench_json_num(j, "seconds", r->base_secs);
	bench_json_num(j, "notifies_per_s", r->base_rate);
	bench_json_num(j, "cpu_s", r->base_cpu);
	bench_json_str(j, "way", r->base_gso ? "gso" : "single");
	bench_json_num(j, "gso_notifies_per_s", r->base_rate_gso);
	bench_json_num(j, "single_notifies_per_s", r->base_rate_single);
	bench_json_end(j);
	bench_json_obj(j, "latency_baseline");
	bench_json_bool(j, "ran", r->base_lat.ran);
	bench_json_num(j, "target_events_per_s", r->base_lat.target_rate);
	bench_json_num(j, "seconds", r->base_lat.secs);
	bench_json_num(j, "notifies_per_s", r->base_lat.notifies_per_s);
	bench_json_num(j, "cpu_s", r->base_lat_cpu);
	json_latency(j, &r->base_lat);
	bench_json_end(j);
	bench_json_num(j, "ratio", r->ratio);
	bench_json_end(j);
}

/* --- reading a report back --- */

static double num(json_object *o, const char *path)
{
	char buf[128], *save = NULL, *tok;
	json_object *v = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(v, tok, &v))
			v = NULL;
	return v ? json_object_get_double(v) : -1;
}

/* A count: 0 when missing (num's -1 is no uint64_t). */
static uint64_t count(json_object *o, const char *path)
{
	double v = num(o, path);

	return v > 0 ? (uint64_t)v : 0;
}

/* The members of phase `key` that bench_plan needs; whether it ran to its
 * end (a phase stopped at the cap or failed reports "ran": false). */
static bool load_phase(json_object *top, const char *key, struct bench_phase *p)
{
	char path[64];
	json_object *o, *ran;

#define PHASE(member) (snprintf(path, sizeof(path), "%s.%s", key, member), path)
	p->events_per_s = num(top, PHASE("events_per_s"));
	p->notifies_per_s = num(top, PHASE("notifies_per_s"));
	p->b.events_applied = count(top, PHASE("books.events_applied"));
	p->b.received = count(top, PHASE("books.received"));
	p->b.repeats = count(top, PHASE("books.repeats"));
	p->cpu.router = num(top, PHASE("cpu_s.router"));
	p->cpu.shards = num(top, PHASE("cpu_s.shards"));
	p->cpu.sip = num(top, PHASE("cpu_s.sip"));
	p->shm_bytes = count(top, PHASE("memory.shm_bytes"));
	p->rss_bytes = count(top, PHASE("memory.rss_bytes"));
	p->p99 = num(top, PHASE("latency_s.p99"));
#undef PHASE
	p->ran = json_object_object_get_ex(top, key, &o) &&
		 json_object_object_get_ex(o, "ran", &ran) && json_object_get_boolean(ran) &&
		 p->events_per_s > 0 && p->b.events_applied && p->cpu.router >= 0 &&
		 p->cpu.shards >= 0 && p->cpu.sip >= 0;
	return p->ran;
}

int bench_run_load(const char *path, struct bench_run_result *r)
{
	json_object *root = json_object_from_file(path), *top;

	memset(r, 0, sizeof(*r));
	if (!root) {
		fprintf(stderr, "pna-bench: %s: not a JSON file (%s)\n", path,
			json_util_get_last_err());
		return -EINVAL;
	}
	/* A run's report, or a sweep's (its last run, and over subscriptions
	 * the marginal shared memory per subscription of its fit). */
	if (json_object_object_get_ex(root, "over", &top) &&
	    !strcmp(json_object_get_string(top), "subs"))
		r->shm_per_sub_fit = num(root, "fit.shm_bytes.per_unit");
	top = root;
	if (json_object_object_get_ex(root, "runs", &top) &&
	    json_object_is_type(top, json_type_array))
		top = json_object_array_get_idx(top, json_object_array_length(top) - 1);
	else if (!json_object_object_get_ex(root, "run", &top))
		top = root;
	r->subs_made = (uint32_t)count(top, "workload.subscriptions_made");
	r->o.accounts = (uint32_t)count(top, "workload.accounts");
	r->m.nproc = (long)num(top, "machine.cpus");
	load_phase(top, "latency", &r->lat);
	if (!load_phase(top, "max", &r->max) || !r->subs_made) {
		json_object_put(root);
		fprintf(stderr, "pna-bench: %s: not a pna-bench run report (max phase missing)\n",
			path);
		return -EINVAL;
	}
	json_object_put(root);
	return 0;
}
