/* bench_persist: write-through and reload rates of shard/shard_persist
 * against one redis-server (started here on a free loopback port unless
 * --redis names one). Runs in the pna-bench process: the writer thread is
 * the shard's, the producer is this thread, the reload is synchronous. */
#include "bench/bench_persist.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/ring.h"
#include "shard/shard_persist.h"

#define OUTBOX (64u << 20)

struct opts {
	unsigned subs, per_account;
	const char *redis;
	const char *json;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pna-bench persist [options]\n"
		   "  -n, --subs N          subscriptions to write and reload (1000000)\n"
		   "  -a, --per-account N   subscriptions per account (4)\n"
		   "  -r, --redis HOST:PORT an empty Redis to use instead of starting one\n"
		   "                        (keys \"pnabench:{...}\", deleted at the end)\n"
		   "  -j, --json FILE       write the figures as JSON to FILE\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "subs", required_argument, NULL, 'n' },
		{ "per-account", required_argument, NULL, 'a' },
		{ "redis", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ 1000000, 4, NULL, NULL };
	while ((c = getopt_long(argc, argv, "n:a:r:j:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->subs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			o->per_account = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o->redis = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->subs || !o->per_account || o->per_account > 15) {
		fprintf(stderr, "pna-bench persist: -n must be > 0 and -a in 1..15\n");
		return -1;
	}
	return 0;
}

/* A SIP subscription as a CNA would make it: about 330 bytes of JSON. */
static void make_rec(struct persist_rec *r, unsigned i, unsigned per, bool put)
{
	unsigned acc = i / per;
	struct sub_spec *s = &r->spec;

	r->op = put ? PERSIST_SUB_PUT : PERSIST_SUB_DEL;
	s->id = (uint64_t)acc * 16 + i % per + 1;
	snprintf(s->account, sizeof(s->account), "user%u@example%u.com", acc, acc % 97);
	if (!put)
		return;
	s->transport = SUB_SIP;
	s->depth = i % 2;
	s->events = 0;
	s->expires = 1700000000u + i;
	s->heartbeat = 3600;
	snprintf(s->path, sizeof(s->path), i % per ? "INBOX/folder%u" : "INBOX", i % per);
	snprintf(s->subscriber, sizeof(s->subscriber), "sip:%s", s->account);
	snprintf(s->target, sizeof(s->target),
		 "a84b4c76e66710@pc33.example%u.com\n1928301774\n%u\n"
		 "sip:user%u@192.0.2.%u:5060;transport=tcp\n"
		 "<sip:cna1.example.net;lr>,<sip:cna2.example.net;lr>",
		 acc % 97, i, acc, i % 250);
}

static struct sub_counters counters;

/* Push n records through the writer; the seconds until Redis acknowledged
 * the last, or a negative value. */
static double write_through(const struct persist_conf *pc, struct ring *r, const struct opts *o,
			    bool put)
{
	struct shard_persist *p;
	struct persist_rec rec;
	uint64_t base;
	double t0, deadline;

	if (shard_persist_start(pc, r, &counters, &p) < 0)
		return -1;
	base = counters.persist_written;
	t0 = bench_now();
	for (unsigned i = 0; i < o->subs; i++) {
		void *slot;

		memset(&rec, 0, sizeof(rec));
		make_rec(&rec, i, o->per_account, put);
		/* Full: a shard would refuse; the bench waits without
		 * taking a core from the writer or Redis. */
		while (!(slot = ring_reserve(r, sizeof(rec)))) {
			shard_persist_kick(p);
			bench_sleep(0.0005);
		}
		memcpy(slot, &rec, sizeof(rec));
		ring_commit(r, sizeof(rec));
		if (i % 64 == 0)
			shard_persist_kick(p);
	}
	shard_persist_kick(p);
	deadline = bench_now() + 120;
	while (__atomic_load_n(&counters.persist_written, __ATOMIC_RELAXED) - base < o->subs &&
	       bench_now() < deadline)
		bench_sleep(0.001);
	t0 = bench_now() - t0;
	shard_persist_stop(p);
	return counters.persist_written - base == o->subs ? t0 : -1;
}

struct tally {
	uint64_t subs, bytes;
};

static int on_sub(const struct sub_spec *s, void *arg)
{
	struct tally *t = arg;

	t->subs++;
	t->bytes += strlen(s->target);
	return 0;
}

/* Reload shard 0 of nshards; its rate in subscriptions/s, or -1. */
static double reload(struct persist_conf pc, uint32_t nshards, uint64_t *subs)
{
	struct tally t = { 0, 0 };
	char err[256];
	double t0 = bench_now();
	int rc;

	pc.shard = 0;
	pc.nshards = nshards;
	rc = shard_persist_reload(&pc, on_sub, NULL, &t, 5000, err, sizeof(err));
	t0 = bench_now() - t0;
	if (rc < 0) {
		bench_progress("reload: %s", err);
		return -1;
	}
	*subs = t.subs;
	return (double)t.subs / t0;
}

static int start_redis(char *dir, uint16_t *port, pid_t *pid)
{
	char portstr[16], log[300];
	int rc, wst;

	if (!mkdtemp(dir))
		return -errno;
	rc = bench_free_port(port);
	if (rc < 0)
		return rc;
	snprintf(portstr, sizeof(portstr), "%u", *port);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	char *argv[] = {
		"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", portstr, "--save", "",
		"--appendonly",		 "no",	   "--dir",	dir,	  NULL
	};
	rc = bench_spawn(argv, log, pid);
	if (rc < 0)
		return rc;
	return bench_wait_port(*port, *pid, 10, &wst);
}

static void report(const struct opts *o, double w, double d, const double *rl, const uint64_t *rn)
{
	static const uint32_t shards[] = { 1, 2, 4 };
	char a[32], b[32];
	struct bench_json *j;

	printf("write-through  %u PUT records: %.2f s, %s records/s\n", o->subs, w,
	       bench_si(a, sizeof(a), o->subs / w));
	for (int k = 0; k < 3; k++)
		printf("reload         shard 0 of %u: %" PRIu64 " subs, %s subs/s\n", shards[k],
		       rn[k], bench_si(b, sizeof(b), rl[k]));
	printf("write-through  %u DEL records: %.2f s, %s records/s\n", o->subs, d,
	       bench_si(a, sizeof(a), o->subs / d));
	if (!o->json || bench_json_open(o->json, &j) < 0)
		return;
	bench_json_obj(j, NULL);
	bench_json_int(j, "subs", o->subs);
	bench_json_int(j, "per_account", o->per_account);
	bench_json_num(j, "write_put_per_s", o->subs / w);
	bench_json_num(j, "write_del_per_s", o->subs / d);
	bench_json_num(j, "reload_1_shard_subs_per_s", rl[0]);
	bench_json_num(j, "reload_2_shards_subs_per_s", rl[1]);
	bench_json_num(j, "reload_4_shards_subs_per_s", rl[2]);
	bench_json_end(j);
	bench_json_close(j);
}

int bench_persist_main(int argc, char **argv)
{
	char dir[] = "/tmp/pna-bench-persist.XXXXXX", addr[64], rm[128];
	struct persist_conf pc = { addr, 0, "pnabench", 0, 1 };
	struct ring *r = NULL;
	double w, d, rl[3];
	uint64_t rn[3];
	struct opts o;
	uint16_t port;
	pid_t pid = 0;
	int rc, wst;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? 2 : 0;
	signal(SIGPIPE, SIG_IGN);
	if (o.redis) {
		snprintf(addr, sizeof(addr), "%s", o.redis);
	} else {
		rc = start_redis(dir, &port, &pid);
		if (rc < 0) {
			bench_progress("redis-server: %s", strerror(-rc));
			goto out;
		}
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	}
	r = aligned_alloc(64, ring_footprint(OUTBOX));
	memset(r, 0, ring_footprint(OUTBOX));
	ring_init(r, OUTBOX);
	bench_progress("writing %u subscriptions (%u per account) to %s", o.subs, o.per_account,
		       addr);
	rc = -EIO;
	w = write_through(&pc, r, &o, true);
	if (w < 0)
		goto out;
	for (int k = 0; k < 3; k++) {
		rl[k] = reload(pc, 1u << k, &rn[k]);
		if (rl[k] < 0)
			goto out;
	}
	d = write_through(&pc, r, &o, false);
	if (d < 0)
		goto out;
	report(&o, w, d, rl, rn);
	rc = 0;
out:
	free(r);
	if (pid > 0) {
		bench_stop(pid, SIGTERM, 10, &wst);
		snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
		(void)!system(rm);
	}
	return rc < 0 ? 1 : 0;
}
