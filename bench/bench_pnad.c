/* bench_pnad: config, start, counters, CPU by role and stop of the pnad
 * that pna-bench measures. */
#include "bench/bench_pnad.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"

#define LOG_TAIL 6000
#define START_TIMEOUT 10 /* seconds for pnad to listen, and to stop */

static void seg_name(char *buf, size_t len, const char *name, int shard)
{
	if (shard < 0)
		snprintf(buf, len, "/%s.router", name);
	else
		snprintf(buf, len, "/%s.shard.%d", name, shard);
}

/* Segments left by a pnad that did not stop cleanly would make the next one
 * resume instead of starting fresh. */
static void unlink_segments(const struct bench_pnad *p)
{
	char seg[64];

	for (int i = -1; i < (int)p->nshards; i++) {
		seg_name(seg, sizeof(seg), p->name, i);
		shm_seg_unlink(seg);
	}
}

static int write_conf(const struct bench_pnad_opts *o, const struct bench_pnad *p)
{
	FILE *f = fopen(p->conf, "we");

	if (!f)
		return -errno;
	fprintf(f,
		"# written by pna-bench\n"
		"name = %s\nlisten = 127.0.0.1:%u\nredis = none\nshards = %u\n"
		"ring_bytes = %s\nmailboxes = %llu\nunlink_on_exit = yes\n"
		"admin_listen = 127.0.0.1:%u\nadmin_token = bench\n",
		p->name, p->port, p->nshards, o->ring_bytes, (unsigned long long)o->mailboxes,
		p->admin_port);
	for (uint32_t i = 0; i < o->stores; i++)
		fprintf(f, "store = b%u %s\n", i, o->credential);
	if (o->extra)
		fputs(o->extra, f);
	return fclose(f) == 0 ? 0 : -errno;
}

void bench_pnad_failed(const struct bench_pnad *p, const char *what)
{
	fprintf(stderr, "pna-bench: pnad %s; its log (%s):\n", what, p->log);
	bench_dump_file(p->log, "  pnad| ", LOG_TAIL);
}

/* Attach every shard segment and the router's, read-only. */
static int attach(struct bench_pnad *p)
{
	char seg[64];
	int rc;

	for (uint32_t i = 0; i < p->nshards; i++) {
		seg_name(seg, sizeof(seg), p->name, (int)i);
		rc = shm_seg_attach_ro(seg, SHARD_SEG_KIND, &p->shard[i]);
		if (rc < 0) {
			fprintf(stderr, "pna-bench: shard segment %s: %s\n", seg, strerror(-rc));
			return rc;
		}
	}
	for (uint32_t i = 0; i < p->nshards; i++) {
		snprintf(seg, sizeof(seg), "/%s.subs.%u", p->name, i);
		if (shm_seg_attach_ro(seg, SUB_SEG_KIND, &p->subs[i]) < 0)
			p->subs[i].base = NULL;
	}
	seg_name(seg, sizeof(seg), p->name, -1);
	if (shm_seg_attach_ro(seg, ROUTER_SEG_KIND, &p->router) < 0)
		p->router.base = NULL; /* only the router's pid and counters are lost */
	return 0;
}

static void detach(struct bench_pnad *p)
{
	for (uint32_t i = 0; i < p->nshards; i++) {
		shm_seg_close(&p->shard[i]);
		if (p->subs[i].base)
			shm_seg_close(&p->subs[i]);
	}
	shm_seg_close(&p->router);
	if (p->sip.base)
		shm_seg_close(&p->sip);
	if (p->xmpp.base)
		shm_seg_close(&p->xmpp);
}

int bench_pnad_start(const struct bench_pnad_opts *o, struct bench_pnad *p)
{
	char *argv[] = { (char *)o->path, "-c", p->conf, NULL };
	char ws[48], why[96];
	int rc, wstatus = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "bench%d", (int)getpid());
	snprintf(p->conf, sizeof(p->conf), "%s/pnad-%s.conf", o->dir, o->label);
	snprintf(p->log, sizeof(p->log), "%s/pnad-%s.log", o->dir, o->label);
	p->nshards = o->shards;
	unlink_segments(p);
	rc = bench_free_port(&p->port);
	if (rc == 0)
		rc = bench_free_port(&p->admin_port);
	if (rc == 0)
		rc = write_conf(o, p);
	if (rc == 0)
		rc = bench_spawn(argv, p->log, &p->pid);
	if (rc < 0) {
		fprintf(stderr, "pna-bench: starting %s: %s\n", o->path, strerror(-rc));
		return rc;
	}
	rc = bench_wait_port(p->port, p->pid, START_TIMEOUT, &wstatus);
	if (rc == -ECHILD) {
		snprintf(why, sizeof(why), "exited at start (%s)",
			 bench_wstatus(ws, sizeof(ws), wstatus));
		bench_pnad_failed(p, why);
		p->pid = 0;
		unlink_segments(p);
		return rc;
	}
	if (rc == 0)
		rc = attach(p);
	if (rc < 0) {
		bench_pnad_failed(p, rc == -ETIMEDOUT ? "did not listen within 10 s"
						      : "has no usable segments");
		detach(p);
		bench_stop(p->pid, SIGTERM, START_TIMEOUT, &wstatus);
		unlink_segments(p);
		p->pid = 0;
	}
	return rc;
}

int bench_pnad_check_alive(struct bench_pnad *p)
{
	char ws[48], why[96];
	int wstatus;

	if (p->pid <= 0 || waitpid(p->pid, &wstatus, WNOHANG) != p->pid)
		return 0;
	p->pid = 0;
	snprintf(why, sizeof(why), "died during the run (%s)",
		 bench_wstatus(ws, sizeof(ws), wstatus));
	bench_pnad_failed(p, why);
	return -ECHILD;
}

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

uint64_t bench_pnad_taken(const struct bench_pnad *p, struct bench_shard_sum *sum)
{
	struct bench_shard_sum t = { 0 };

	for (uint32_t i = 0; i < p->nshards; i++) {
		const struct shard_counters *c = &shard_seg_of(&p->shard[i])->c;

		t.applied += rd(&c->events_applied);
		t.replayed += rd(&c->events_replayed);
		t.no_state += rd(&c->events_no_state);
		t.table_full += rd(&c->table_full);
	}
	if (sum)
		*sum = t;
	return t.applied + t.replayed + t.no_state + t.table_full;
}

void bench_pnad_router(const struct bench_pnad *p, struct bench_router_sum *sum)
{
	const struct router_counters *c;

	memset(sum, 0, sizeof(*sum));
	if (!p->router.base)
		return;
	c = &router_seg_of(&p->router)->c;
	sum->frames = rd(&c->frames);
	sum->acks = rd(&c->acks);
	sum->backpressure = rd(&c->backpressure);
}

void bench_pnad_subs(const struct bench_pnad *p, struct sub_counters *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (uint32_t i = 0; i < p->nshards; i++) {
		const struct sub_counters *c;

		if (!p->subs[i].base)
			continue;
		c = &((const struct sub_seg *)p->subs[i].base)->c;
		sum->matches += rd(&c->matches);
		sum->notes += rd(&c->notes);
		sum->coalesced += rd(&c->coalesced);
		sum->job_ring_full += rd(&c->job_ring_full);
		sum->denied += rd(&c->denied);
		sum->refused_full += rd(&c->refused_full);
	}
}

void bench_pnad_sip(struct bench_pnad *p, struct sip_counters *c)
{
	char seg[64];

	memset(c, 0, sizeof(*c));
	snprintf(seg, sizeof(seg), "/%s.sip", p->name);
	if (!p->sip.base && shm_seg_attach_ro(seg, SIP_SEG_KIND, &p->sip) < 0)
		p->sip.base = NULL;
	if (p->sip.base)
		memcpy(c, (const void *)&((const struct sip_seg *)p->sip.base)->c, sizeof(*c));
}

void bench_pnad_xmpp(struct bench_pnad *p, struct xmpp_counters *c)
{
	char seg[64];

	memset(c, 0, sizeof(*c));
	snprintf(seg, sizeof(seg), "/%s.xmpp", p->name);
	if (!p->xmpp.base && shm_seg_attach_ro(seg, XMPP_SEG_KIND, &p->xmpp) < 0)
		p->xmpp.base = NULL;
	if (p->xmpp.base)
		memcpy(c, (const void *)&((const struct xmpp_seg *)p->xmpp.base)->c, sizeof(*c));
}

uint64_t bench_pnad_folded(struct bench_pnad *p)
{
	struct sub_counters sc;
	struct sip_counters c;
	struct xmpp_counters x;

	bench_pnad_subs(p, &sc);
	bench_pnad_sip(p, &c);
	bench_pnad_xmpp(p, &x);
	return sc.coalesced + c.jobs_empty + c.notify_folded + x.jobs_dropped;
}

void bench_pnad_memory(const struct bench_pnad *p, uint64_t *shm_bytes, uint64_t *rss_bytes)
{
	char prefix[40], path[320], line[256];
	pid_t tree[BENCH_PNAD_MAX_PROCS];
	size_t n = p->pid > 0 ? bench_proc_tree(p->pid, tree, BENCH_PNAD_MAX_PROCS) : 0;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	*shm_bytes = *rss_bytes = 0;
	snprintf(prefix, sizeof(prefix), "%s.", p->name);
	while (d && (e = readdir(d))) {
		struct stat st;

		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && stat(path, &st) == 0)
			*shm_bytes += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)tree[i]);
		if (!(f = fopen(path, "re")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long kb;

			if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
				*rss_bytes += (uint64_t)kb * 1024;
		}
		fclose(f);
	}
}

void bench_pnad_cpu_begin(struct bench_pnad *p)
{
	p->nprocs = bench_proc_tree(p->pid, p->procs, BENCH_PNAD_MAX_PROCS);
	for (size_t i = 0; i < p->nprocs; i++) {
		p->cpu0[i] = bench_cpu_seconds(p->procs[i]);
		bench_proc_switches(p->procs[i], &p->sleeps0[i], &p->preempted0[i]);
	}
}

static bool is_shard(const struct bench_pnad *p, pid_t pid)
{
	for (uint32_t s = 0; s < p->nshards; s++)
		if (__atomic_load_n(&shard_seg_of(&p->shard[s])->pid, __ATOMIC_RELAXED) == pid)
			return true;
	return false;
}

/* The role of a process: the router and the shards by the pids in their
 * segments, the others by the name pnad gives its children ("pnad-sip"). */
static enum bench_pnad_role role_of(const struct bench_pnad *p, pid_t pid, pid_t router)
{
	char name[32];

	if (pid == router)
		return BENCH_PNAD_ROLE_ROUTER;
	if (is_shard(p, pid))
		return BENCH_PNAD_ROLE_SHARDS;
	bench_proc_comm(pid, name, sizeof(name));
	if (!strncmp(name, "pnad-sip", 8))
		return BENCH_PNAD_ROLE_SIP;
	if (!strncmp(name, "pnad-xmpp", 9))
		return BENCH_PNAD_ROLE_XMPP;
	if (!strncmp(name, "pnad-admin", 10))
		return BENCH_PNAD_ROLE_ADMIN;
	return BENCH_PNAD_ROLE_OTHER;
}

static double *cpu_of(struct bench_pnad_cpu *c, enum bench_pnad_role role)
{
	switch (role) {
	case BENCH_PNAD_ROLE_ROUTER:
		return &c->router;
	case BENCH_PNAD_ROLE_SHARDS:
		return &c->shards;
	case BENCH_PNAD_ROLE_SIP:
		return &c->sip;
	case BENCH_PNAD_ROLE_XMPP:
		return &c->xmpp;
	case BENCH_PNAD_ROLE_ADMIN:
		return &c->admin;
	default:
		return &c->other;
	}
}

void bench_pnad_cpu_end(const struct bench_pnad *p, struct bench_pnad_cpu *c)
{
	pid_t router = p->router.base ? router_seg_of(&p->router)->pid : 0;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < p->nprocs; i++) {
		double d = bench_cpu_seconds(p->procs[i]) - p->cpu0[i];
		enum bench_pnad_role role;
		uint64_t sl, pr;

		if (p->cpu0[i] < 0 || d < 0)
			continue; /* gone (a restarted child): its time is lost */
		role = role_of(p, p->procs[i], router);
		*cpu_of(c, role) += d;
		c->total += d;
		if (bench_proc_switches(p->procs[i], &sl, &pr) == 0 && sl >= p->sleeps0[i] &&
		    pr >= p->preempted0[i]) {
			c->sleeps[role] += sl - p->sleeps0[i];
			c->preempted[role] += pr - p->preempted0[i];
		}
	}
}

void bench_pnad_stop(struct bench_pnad *p)
{
	char ws[48];
	int wstatus = 0;

	detach(p);
	if (p->pid > 0 && bench_stop(p->pid, SIGTERM, START_TIMEOUT, &wstatus) == 0 &&
	    !(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)) {
		fprintf(stderr, "pna-bench: warning: pnad stopped with %s; its log (%s):\n",
			bench_wstatus(ws, sizeof(ws), wstatus), p->log);
		bench_dump_file(p->log, "  pnad| ", LOG_TAIL);
	}
	p->pid = 0;
	unlink_segments(p);
}
