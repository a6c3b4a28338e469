/* bench_subs: `pna-bench subs` (see bench_subs.h). Loads tables of XMPP and
 * SIP subscriptions and reports their bytes per subscription and add rate,
 * then matches events on a mixed table: random mailboxes (cache misses
 * included) and one hot mailbox, with 0, 1, 2, 3 subscribers, a root
 * subtree subscription two levels up, and match + note_put. */
#include "bench/bench_subs.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "bench/bench_subtab.h"
#include "bench/bench_util.h"
#include "pna.pb-c.h"
#include "shard/sub_table.h"

/* Targets (issue #3): bytes per subscription, ns per matched event. */
#define TARGET_XMPP_BYTES 128.0
#define TARGET_SIP_BYTES 256.0
#define TARGET_MATCH_NS 500.0
#define NAMES (1u << 18) /* accounts an event loop cycles through */
#define NOW BENCH_SUBTAB_NOW

struct subs_opts {
	uint32_t subs;
	uint64_t events;
	const char *json;
	bool check;
};

void bench_subs_usage(FILE *f)
{
	fprintf(f,
		"usage: pna-bench subs [options]\n"
		"  -n, --subs N       subscriptions per table (default 1000000)\n"
		"  -e, --events N     events per match case (default 2000000)\n"
		"  -j, --json FILE    write every figure as JSON to FILE\n"
		"  -c, --check        exit 1 when a target is missed (XMPP <= %.0f B,\n"
		"                     SIP <= %.0f B per subscription, match < %.0f ns)\n"
		"  -h, --help\n",
		TARGET_XMPP_BYTES, TARGET_SIP_BYTES, TARGET_MATCH_NS);
}

static int parse(int argc, char **argv, struct subs_opts *o)
{
	static const struct option longs[] = {
		{ "subs", required_argument, NULL, 'n' },
		{ "events", required_argument, NULL, 'e' },
		{ "json", required_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct subs_opts){ .subs = 1000000, .events = 2000000 };
	while ((c = getopt_long(argc, argv, "n:e:j:ch", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->subs = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'e':
			o->events = strtoull(optarg, NULL, 10);
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'c':
			o->check = true;
			break;
		case 'h':
			bench_subs_usage(stdout);
			exit(0);
		default:
			bench_subs_usage(stderr);
			return -1;
		}
	}
	if (o->subs < 1000 || o->subs > 50000000 || o->events < 1000) {
		fprintf(stderr, "pna-bench subs: --subs in [1000, 50M], --events >= 1000\n");
		return -1;
	}
	return 0;
}

static uint64_t cycles(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#else
	return 0;
#endif
}

struct load_res {
	const char *name;
	uint32_t count;
	double bytes_per_sub;	/* region bytes / subscriptions (capacity = count,
			       * pool sized to fit) */
	double in_use_per_sub;	/* sub_table_stats bytes_total / count */
	double strings_per_sub; /* pool arena + its hash set, per subscription */
	double strings_used_per_sub;
	double add_rate, add_ns_net; /* adds/s (spec building included); ns per add without it */
};

static int add_all(struct bench_subtab *x, bool sip, uint32_t n)
{
	struct sub_spec s;
	uint64_t rng = 42;
	const char *why = NULL;

	memset(&s, 0, sizeof(s));
	for (uint32_t k = 0; k < n; k++) {
		sip ? bench_subtab_spec_sip(&s, k, &rng) : bench_subtab_spec_xmpp(&s, k);
		if (sub_table_add(x->t, &s, NOW, &why) < 0) {
			fprintf(stderr, "pna-bench subs: add %u: %s\n", k, why);
			return -1;
		}
	}
	return 0;
}

/* Load once into a roomy pool to learn the string bytes, then into a table
 * whose pool is that plus the 1/32 kept for notes and 1% (timed), and
 * subtract the cost of building the specs alone. */
static int load(bool sip, uint32_t n, struct load_res *r)
{
	uint64_t roomy = sip ? (uint64_t)n * 160 + (1u << 20) : (uint64_t)n * 8 + (1u << 20), fit;
	struct sub_table_stats st;
	struct sub_spec s;
	struct bench_subtab x;
	uint64_t rng = 42;
	double t0, t1, t2;

	if (bench_subtab_new(&x, n, roomy) < 0 || add_all(&x, sip, n) < 0)
		return -1;
	sub_table_stats(x.t, &st);
	bench_subtab_free(&x);
	fit = st.string_bytes_used + st.string_bytes_used / 31 + st.string_bytes_used / 100;
	if (bench_subtab_new(&x, n, fit) < 0)
		return -1;
	memset(&s, 0, sizeof(s));
	t0 = bench_now();
	for (uint32_t k = 0; k < n; k++)
		sip ? bench_subtab_spec_sip(&s, k, &rng) : bench_subtab_spec_xmpp(&s, k);
	t1 = bench_now();
	if (add_all(&x, sip, n) < 0)
		return -1;
	t2 = bench_now();
	sub_table_stats(x.t, &st);
	r->count = st.count;
	r->bytes_per_sub = (double)x.bytes / n;
	r->in_use_per_sub = (double)st.bytes_total / n;
	r->strings_per_sub = (double)(x.bytes - sub_table_footprint(n, 0)) / n;
	r->strings_used_per_sub = (double)st.string_bytes_used / n;
	r->add_rate = n / (t2 - t1);
	r->add_ns_net = ((t2 - t1) - (t1 - t0)) * 1e9 / n;
	bench_subtab_free(&x);
	return 0;
}

/* ---- matching ---- */

struct name {
	char s[31];
	uint8_t len;
};

struct match_case {
	const char *name;
	const char *path;
	int group;
	bool note;	/* note_put per match */
	unsigned ahead; /* sub_table_prefetch stage 1 this many events ahead, stage 0
			 * twice as many (0: none) */
	double ns_random, ns_hot, cycles_random, cycles_hot;
	double matches_per_event;
};

struct match_ctx {
	struct sub_table *t;
	struct sub_note note;
	bool put;
	uint64_t matches;
};

static void on_match(uint32_t index, uint64_t id, void *arg)
{
	struct match_ctx *m = arg;

	(void)id;
	m->matches++;
	if (m->put)
		sub_table_note_put(m->t, index, &m->note);
}

/* events events on the accounts of names[0..mask], in 3 rounds: the
 * median round's ns and cycles per event. */
static void run_case(struct sub_table *t, const struct name *names, uint32_t mask,
		     struct match_case *c, uint64_t events, double *ns, double *cyc)
{
	struct match_ctx m = { .t = t, .put = c->note };
	size_t plen = strlen(c->path);
	double rns[3], rcyc[3];

	m.note.kind = SUB_NOTE_EVENT;
	m.note.type = PNA__EVENT_TYPE__MESSAGE_NEW;
	memcpy(m.note.path, c->path, plen + 1);
	m.note.messages = 300;
	m.note.unseen = 299;
	for (int round = 0; round < 3; round++) {
		uint64_t n = events / 3, c0 = cycles(), c1;
		double t0 = bench_now(), t1;

		for (uint64_t i = 0; i < n; i++) {
			const struct name *a = &names[i & mask], *p = &names[(i + c->ahead) & mask];
			const struct name *p2 = &names[(i + 2 * c->ahead) & mask];

			if (c->ahead) {
				sub_table_prefetch(t, p2->s, p2->len, c->path, plen, 0);
				sub_table_prefetch(t, p->s, p->len, c->path, plen, 1);
			}
			sub_table_match(t, a->s, a->len, c->path, plen,
					PNA__EVENT_TYPE__MESSAGE_NEW, on_match, &m);
		}
		c1 = cycles();
		t1 = bench_now();
		rns[round] = (t1 - t0) * 1e9 / (double)n;
		rcyc[round] = (double)(c1 - c0) / (double)n;
	}
	*ns = bench_median(rns, 3);
	*cyc = bench_median(rcyc, 3);
	c->matches_per_event = (double)m.matches / (double)(events / 3 * 3);
}

static int run_matches(const struct subs_opts *o, struct match_case *cases, size_t ncases)
{
	struct name *names = malloc(NAMES * sizeof(*names));
	uint64_t rng = 99;
	struct bench_subtab x;

	bench_progress("loading the mixed table (%u subscriptions)", o->subs);
	if (!names || bench_subtab_load_mixed(&x, o->subs) < 0)
		return -1;
	for (size_t c = 0; c < ncases; c++) {
		struct match_case *mc = &cases[c];

		/* Random accounts of the group: each event misses the caches
		 * the way a shard's stream of accounts would. */
		for (uint32_t i = 0; i < NAMES; i++) {
			uint32_t k = x.first[mc->group] +
				     (uint32_t)(bench_subtab_rng(&rng) % x.count[mc->group]);

			names[i].len = (uint8_t)bench_subtab_account(names[i].s, k);
		}
		bench_progress("match: %s", mc->name);
		run_case(x.t, names, NAMES - 1, mc, o->events, &mc->ns_random, &mc->cycles_random);
		run_case(x.t, names, 0, mc, o->events, &mc->ns_hot, &mc->cycles_hot);
	}
	bench_subtab_free(&x);
	free(names);
	return 0;
}

/* ---- report ---- */

static void print_load(const struct load_res *r)
{
	char rate[32];

	printf("  %-26s %7.1f %10.1f %9.1f %9.1f %9s/s %7.0f ns\n", r->name, r->bytes_per_sub,
	       r->in_use_per_sub, r->strings_per_sub, r->strings_used_per_sub,
	       bench_si(rate, sizeof(rate), r->add_rate), r->add_ns_net);
}

static void json_report(const struct subs_opts *o, const struct load_res *l, size_t nl,
			const struct match_case *c, size_t nc)
{
	struct bench_json *j;

	if (!o->json || bench_json_open(o->json, &j) < 0)
		return;
	bench_json_obj(j, NULL);
	bench_json_int(j, "subs", o->subs);
	bench_json_int(j, "events", (int64_t)o->events);
	bench_json_arr(j, "load");
	for (size_t i = 0; i < nl; i++) {
		bench_json_obj(j, NULL);
		bench_json_str(j, "kind", l[i].name);
		bench_json_num(j, "bytes_per_sub", l[i].bytes_per_sub);
		bench_json_num(j, "in_use_per_sub", l[i].in_use_per_sub);
		bench_json_num(j, "string_pool_per_sub", l[i].strings_per_sub);
		bench_json_num(j, "strings_used_per_sub", l[i].strings_used_per_sub);
		bench_json_num(j, "adds_per_sec", l[i].add_rate);
		bench_json_num(j, "add_ns_net", l[i].add_ns_net);
		bench_json_end(j);
	}
	bench_json_end(j);
	bench_json_arr(j, "match");
	for (size_t i = 0; i < nc; i++) {
		bench_json_obj(j, NULL);
		bench_json_str(j, "case", c[i].name);
		bench_json_int(j, "prefetch_ahead", c[i].ahead);
		bench_json_num(j, "matches_per_event", c[i].matches_per_event);
		bench_json_num(j, "ns_random", c[i].ns_random);
		bench_json_num(j, "ns_hot", c[i].ns_hot);
		bench_json_num(j, "cycles_random", c[i].cycles_random);
		bench_json_num(j, "cycles_hot", c[i].cycles_hot);
		bench_json_end(j);
	}
	bench_json_end(j);
	bench_json_end(j);
	if (bench_json_close(j) < 0)
		fprintf(stderr, "pna-bench subs: writing %s failed\n", o->json);
}

int bench_subs_main(int argc, char **argv)
{
	struct load_res l[2] = { { .name = "xmpp (JID, INBOX)" },
				 { .name = "sip (dialog, route set)" } };
	struct match_case c[] = {
		{ .name = "0 subscribers", .path = "INBOX", .group = BENCH_G_NONE },
		{ .name = "1 subscriber", .path = "INBOX", .group = BENCH_G_ONE },
		{ .name = "2 subscribers", .path = "INBOX", .group = BENCH_G_TWO },
		{ .name = "3 subscribers", .path = "INBOX", .group = BENCH_G_THREE },
		{ .name = "1 root subtree, 3 levels down",
		  .path = "INBOX/Lists/pnad",
		  .group = BENCH_G_SUBTREE },
		{ .name = "1 subscriber + note_put",
		  .path = "INBOX",
		  .group = BENCH_G_ONE,
		  .note = true },
		{ .name = "0, prefetched", .path = "INBOX", .group = BENCH_G_NONE, .ahead = 8 },
		{ .name = "1, prefetched", .path = "INBOX", .group = BENCH_G_ONE, .ahead = 8 },
		{ .name = "3, prefetched", .path = "INBOX", .group = BENCH_G_THREE, .ahead = 8 },
		{ .name = "1 + note_put, prefetched",
		  .path = "INBOX",
		  .group = BENCH_G_ONE,
		  .note = true,
		  .ahead = 8 },
	};
	size_t nc = sizeof(c) / sizeof(c[0]);
	struct bench_machine m;
	struct subs_opts o;
	bool missed = false;

	if (parse(argc, argv, &o) < 0)
		return 2;
	bench_machine_get(&m);
	for (int k = 0; k < 2; k++) {
		bench_progress("loading %u %s subscriptions", o.subs, k ? "SIP" : "XMPP");
		if (load(k == 1, o.subs, &l[k]) < 0)
			return 3;
	}
	if (run_matches(&o, c, nc) < 0)
		return 3;
	printf("pna-bench subs: %u subscriptions per table, %llu events per match case\n"
	       "machine: %s, %ld CPUs, %s\n\n",
	       o.subs, (unsigned long long)o.events, m.cpu, m.nproc, m.kernel);
	printf("  %-26s %7s %10s %9s %9s %11s %10s\n", "bytes per subscription", "region", "in use",
	       "strings", "str used", "adds", "add (net)");
	for (int k = 0; k < 2; k++)
		print_load(&l[k]);
	printf("\n  %-30s %8s %17s %17s\n", "match, MessageNew on", "matches", "random: ns (cyc)",
	       "hot: ns (cyc)");
	for (size_t i = 0; i < nc; i++)
		printf("  %-30s %8.2f %9.1f (%5.0f) %9.1f (%5.0f)\n", c[i].name,
		       c[i].matches_per_event, c[i].ns_random, c[i].cycles_random, c[i].ns_hot,
		       c[i].cycles_hot);
	missed |= l[0].bytes_per_sub > TARGET_XMPP_BYTES || l[1].bytes_per_sub > TARGET_SIP_BYTES;
	for (size_t i = 1; i < 4; i++)
		missed |= c[i].ns_random > TARGET_MATCH_NS;
	json_report(&o, l, 2, c, nc);
	return o.check && missed ? 1 : 0;
}
