/* test_persist: the shard's Redis durability against real redis-servers it
 * starts on free loopback ports (a standalone server and a 3-master
 * cluster): the outbox is written through exactly, across cluster nodes,
 * following -ASK and -MOVED while a slot migrates; records wait in the
 * outbox while Redis is down and drain once it is back (also into a new
 * writer, as after a shard restart); reload returns exactly one shard's
 * accounts (disjoint shards covering everything), waits for a Redis that is
 * late and gives up on one that never comes. CRC16 slots match CLUSTER
 * KEYSLOT. Servers are children killed by pid at exit (and by the kernel
 * should this test die: PR_SET_PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lib/hash.h"
#include "lib/redis_link.h"
#include "lib/ring.h"
#include "shard/shard_persist.h"
#include "shard/sub_json.h"

#define PREFIX "pt"
#define NACC 1200 /* accounts in the model */
#define NSUB 4	  /* subscriptions per account */
#define NGRANT 2  /* grants per account */
#define OUTBOX (4u << 20)

/* Servers. */

struct server {
	pid_t pid;
	int port;
	char dir[256];
};

static char tmpdir[] = "/tmp/test_persist.XXXXXX";
static struct server standalone, cnode[3];
static struct server *all_servers[] = { &standalone, &cnode[0], &cnode[1], &cnode[2] };

static void server_stop(struct server *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static void cleanup(void)
{
	char cmd[512];

	for (size_t i = 0; i < sizeof(all_servers) / sizeof(all_servers[0]); i++)
		server_stop(all_servers[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	(void)!system(cmd);
}

static bool port_free(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* A port the kernel just picked, whose cluster bus port (+10000) is free. */
static int pick_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = 0;
		bind(fd, (struct sockaddr *)&a, sizeof(a));
		getsockname(fd, (struct sockaddr *)&a, &len);
		close(fd);
		int p = ntohs(a.sin_port);
		if (p < 55000 && port_free(p + 10000))
			return p;
	}
}

static redisContext *rconnect(int port)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

static redisReply *rcmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	return r;
}

/* One command on a fresh connection; true when it got a non-error reply
 * containing `want` (a status or bulk string), or any when want is NULL. */
static bool rcheck(int port, const char *want, const char *fmt, ...)
{
	redisContext *c = rconnect(port);
	redisReply *r = NULL;
	va_list ap;
	bool ok = false;

	if (!c)
		return false;
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r && r->type != REDIS_REPLY_ERROR)
		ok = !want || (r->str && strstr(r->str, want));
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Start redis-server in the foreground as our child (port kept when set). */
static int server_start(struct server *s, bool cluster, const char *name)
{
	char port[16], pidfile[300], logfile[300], nodes[300];
	pid_t parent = getpid();

	if (!s->port)
		s->port = pick_port();
	snprintf(s->dir, sizeof(s->dir), "%s/%s", tmpdir, name);
	mkdir(s->dir, 0700);
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", s->dir);
	snprintf(logfile, sizeof(logfile), "%s/log", s->dir);
	snprintf(nodes, sizeof(nodes), "%s/nodes.conf", s->dir);
	char *argv[] = { "redis-server",
			 "--bind",
			 "127.0.0.1",
			 "--port",
			 port,
			 "--save",
			 "",
			 "--appendonly",
			 "no",
			 "--dir",
			 s->dir,
			 "--daemonize",
			 "no",
			 "--pidfile",
			 pidfile,
			 "--logfile",
			 logfile,
			 cluster ? "--cluster-enabled" : NULL,
			 "yes",
			 "--cluster-config-file",
			 nodes,
			 "--cluster-node-timeout",
			 "5000",
			 NULL };
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (rcheck(s->port, "PONG", "PING"))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return -ECHILD;
		}
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

static int run(char *const argv[], const char *log)
{
	int st, fd;
	pid_t pid = fork();

	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cluster_start(void)
{
	char a[3][32], log[300];
	int rc;

	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "c%d", i);
		rc = server_start(&cnode[i], true, name);
		if (rc < 0)
			return rc;
		snprintf(a[i], sizeof(a[i]), "127.0.0.1:%d", cnode[i].port);
	}
	char *argv[] = { "redis-cli",	       "--cluster", "create",	     a[0], a[1], a[2],
			 "--cluster-replicas", "0",	    "--cluster-yes", NULL };
	snprintf(log, sizeof(log), "%s/cluster-create.log", tmpdir);
	if (run(argv, log) != 0)
		return -EIO;
	for (int t = 0; t < 1000; t++) {
		int ok = 0;

		for (int i = 0; i < 3; i++)
			ok += rcheck(cnode[i].port, "cluster_state:ok", "CLUSTER INFO");
		if (ok == 3)
			return 0;
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

static bool wait_for(bool (*cond)(void *), void *arg, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 5) {
		if (cond(arg))
			return true;
		sleep_ms(5);
	}
	return cond(arg);
}

/* The model: what Redis must hold. */

struct acc {
	char name[NAMES_ACCOUNT_MAX + 1];
	bool sub_on[NSUB], grant_on[NGRANT];
	struct sub_spec spec[NSUB];
	struct grant g[NGRANT];
};

static struct acc *model;
static unsigned version;

static void acc_name(unsigned i, char *out)
{
	/* Some names carry braces, quotes, backslashes and UTF-8. */
	if (i % 97 == 5)
		sprintf(out, "we{i}rd\"%u\\@example.com", i);
	else if (i % 97 == 6)
		sprintf(out, "\xc3\xa9l\xc3\xa8ve%u}@example.com", i);
	else
		sprintf(out, "user%u@example.com", i);
}

static void model_init(void)
{
	model = calloc(NACC, sizeof(*model));
	for (unsigned i = 0; i < NACC; i++)
		acc_name(i, model[i].name);
}

static uint64_t sub_id(unsigned i, unsigned j)
{
	return (uint64_t)i * 16 + j + 1;
}

static void make_spec(unsigned i, unsigned j, struct sub_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->id = sub_id(i, j);
	s->transport = j % 2 ? SUB_XMPP : SUB_SIP;
	s->depth = j % 2;
	s->events = j * 5;
	s->expires = 1700000000u + ++version;
	s->heartbeat = j * 60;
	strcpy(s->account, model[i].name);
	sprintf(s->path, j ? "INBOX/f%u" : "", j);
	sprintf(s->subscriber, "sip:sub%u@example.net", j);
	sprintf(s->target, "call-%u-%u@h\nlt\nrt\nsip:x@192.0.2.1\n<sip:p;lr> \"q\\\"", i, j);
}

static void make_grant(unsigned i, unsigned j, struct grant *g)
{
	memset(g, 0, sizeof(*g));
	strcpy(g->account, model[i].name);
	sprintf(g->path, j ? "INBOX/shared%u" : "", j);
	sprintf(g->grantee, "@p%u-%u.example.net", i, j);
	g->rights = GRANT_RIGHT_SUBSCRIBE;
}

static void push(struct ring *r, struct shard_persist *p, const struct persist_rec *rec)
{
	void *slot;

	while (!(slot = ring_reserve(r, sizeof(*rec)))) {
		shard_persist_kick(p);
		sleep_ms(1);
	}
	memcpy(slot, rec, sizeof(*rec));
	ring_commit(r, sizeof(*rec));
	shard_persist_kick(p);
}

static void op_sub(struct ring *r, struct shard_persist *p, unsigned i, unsigned j, bool put)
{
	struct persist_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.op = put ? PERSIST_SUB_PUT : PERSIST_SUB_DEL;
	if (put) {
		make_spec(i, j, &model[i].spec[j]);
		rec.spec = model[i].spec[j];
	} else {
		rec.spec.id = sub_id(i, j);
		strcpy(rec.spec.account, model[i].name);
	}
	model[i].sub_on[j] = put;
	push(r, p, &rec);
}

static void op_grant(struct ring *r, struct shard_persist *p, unsigned i, unsigned j, bool put)
{
	struct persist_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.op = put ? PERSIST_GRANT_PUT : PERSIST_GRANT_DEL;
	make_grant(i, j, &model[i].g[j]);
	rec.grant = model[i].g[j];
	model[i].grant_on[j] = put;
	push(r, p, &rec);
}

/* Accounts [from, to): add 4 subscriptions, remove one, replace one; add
 * two grants, remove one. 9 records each. */
static void churn(struct ring *r, struct shard_persist *p, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		for (unsigned j = 0; j < NSUB; j++)
			op_sub(r, p, i, j, true);
		op_sub(r, p, i, 1, false);
		op_sub(r, p, i, 2, true);
		op_grant(r, p, i, 0, true);
		op_grant(r, p, i, 1, true);
		op_grant(r, p, i, 0, false);
	}
}

static void make_key(char *out, unsigned i, bool subs)
{
	sprintf(out, "%s:{%s}:%s", PREFIX, model[i].name, subs ? "subs" : "grants");
}

/* The node (index into ports) holding key's slot: the one EXISTS answers. */
static redisContext *owner(redisContext **c, unsigned n, const char *key)
{
	for (unsigned k = 0; k < n; k++) {
		redisReply *r = rcmd(c[k], "EXISTS %s", key);
		bool mine = r && r->type == REDIS_REPLY_INTEGER;

		if (r)
			freeReplyObject(r);
		if (mine)
			return c[k];
	}
	return NULL;
}

/* One account's two hashes hold exactly the model. Returns mismatches. */
static unsigned verify_acc(redisContext **c, unsigned n, unsigned i, unsigned *nodes_used)
{
	unsigned bad = 0;
	char key[300];

	for (int subs = 1; subs >= 0; subs--) {
		redisContext *o;
		redisReply *r;
		unsigned want = 0;

		make_key(key, i, subs);
		o = owner(c, n, key);
		if (!o)
			return 1;
		for (unsigned k = 0; k < n; k++)
			if (c[k] == o)
				*nodes_used |= 1u << k;
		for (unsigned j = 0; j < (subs ? NSUB : NGRANT); j++)
			want += subs ? model[i].sub_on[j] : model[i].grant_on[j];
		r = rcmd(o, "HGETALL %s", key);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * want) {
			if (r)
				freeReplyObject(r);
			return 1;
		}
		for (size_t e = 0; e + 1 < r->elements; e += 2) {
			const redisReply *v = r->element[e + 1];
			struct sub_spec s;
			struct grant g;
			const char *why;

			if (subs) {
				uint64_t id = strtoull(r->element[e]->str, NULL, 10);
				unsigned j = (unsigned)((id - 1) % 16);

				bad += sub_json_get_sub(v->str, v->len, &s, &why) != 0 ||
				       (id - 1) / 16 != i || j >= NSUB || !model[i].sub_on[j] ||
				       memcmp(&s, &model[i].spec[j], sizeof(s)) != 0;
			} else {
				unsigned gi, j;

				bad += sub_json_get_grant(v->str, v->len, &g, &why) != 0 ||
				       sscanf(g.grantee, "@p%u-%u.", &gi, &j) != 2 || gi != i ||
				       j >= NGRANT || !model[i].grant_on[j] ||
				       memcmp(&g, &model[i].g[j], sizeof(g));
			}
		}
		freeReplyObject(r);
	}
	return bad;
}

/* Redis (the standalone server, or the cluster) holds exactly the model for
 * accounts [0, nacc): every hash right and no other key. */
static void verify(const int *ports, unsigned n, unsigned nacc, unsigned min_nodes)
{
	redisContext *c[3];
	unsigned bad = 0, used = 0, keys = 0, nodes = 0;
	long long dbsize = 0;

	for (unsigned k = 0; k < n; k++) {
		c[k] = rconnect(ports[k]);
		CHECK(c[k] != NULL);
		if (!c[k])
			return;
	}
	for (unsigned i = 0; i < nacc; i++) {
		bad += verify_acc(c, n, i, &used);
		keys += model[i].sub_on[0] || model[i].sub_on[1] || model[i].sub_on[2] ||
			model[i].sub_on[3];
		keys += model[i].grant_on[0] || model[i].grant_on[1];
	}
	for (unsigned k = 0; k < n; k++) {
		redisReply *r = rcmd(c[k], "DBSIZE");

		if (r && r->type == REDIS_REPLY_INTEGER)
			dbsize += r->integer;
		if (r)
			freeReplyObject(r);
		nodes += (used >> k) & 1;
		redisFree(c[k]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(dbsize, keys);
	CHECK(nodes >= min_nodes);
}

/* The writer's counters, read as another process would. */
static struct sub_counters counters;

static bool outbox_empty(void *r)
{
	return ring_used(r) == 0;
}

static bool redis_down(void *arg)
{
	(void)arg;
	return __atomic_load_n(&counters.redis_up, __ATOMIC_RELAXED) == 0 &&
	       __atomic_load_n(&counters.persist_errors, __ATOMIC_RELAXED) > 0;
}

static struct ring *outbox_new(void)
{
	struct ring *r = aligned_alloc(64, ring_footprint(OUTBOX));

	memset(r, 0, ring_footprint(OUTBOX));
	ring_init(r, OUTBOX);
	return r;
}

static struct persist_conf conf_for(int port, int cluster, char *addr)
{
	struct persist_conf pc = { addr, cluster, PREFIX, 0, 1 };

	sprintf(addr, "127.0.0.1:%d", port);
	return pc;
}

/* CRC16 and slots: Redis's own test vector and CLUSTER KEYSLOT values. */
static void test_crc16(void)
{
	static const struct {
		const char *key;
		unsigned slot;
	} v[] = {
		{ "123456789", 12739 },
		{ "foo", 12182 },
		{ "bar", 5061 },
		{ "pna:{alice@example.com}:subs", 350 },
		{ "pna:{alice@example.com}:grants", 350 },
		{ "alice@example.com", 350 },
		{ "foo{}{bar}", 8363 },
		{ "foo{{bar}}zap", 4015 },
		{ "foo{bar}{zap}", 5061 },
		{ "{user1000}.following", 3443 },
		{ "", 0 },
		{ "a", 15495 },
		{ "x{}", 2608 },
		{ "{", 4092 },
	};

	CHECK_EQ(redis_link_crc16("123456789", 9), 0x31c3);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK_EQ(redis_link_slot(v[i].key, strlen(v[i].key)), v[i].slot);
}

/* Every key of the model: our slot is the cluster's. */
static void test_crc16_live(int port)
{
	redisContext *c = rconnect(port);
	unsigned bad = 0;
	char key[300];

	CHECK(c != NULL);
	for (unsigned i = 0; c && i < NACC; i++) {
		make_key(key, i, i % 2);
		redisReply *r = rcmd(c, "CLUSTER KEYSLOT %s", key);

		bad += !r || r->type != REDIS_REPLY_INTEGER ||
		       r->integer != (long long)redis_link_slot(key, strlen(key));
		if (r)
			freeReplyObject(r);
	}
	CHECK_EQ(bad, 0);
	if (c)
		redisFree(c);
}

static void test_bad_conf(void)
{
	struct persist_conf pc = { "127.0.0.1:1", 0, "p{x", 0, 1 };
	struct shard_persist *p = NULL;
	struct ring *r = outbox_new();
	char err[128];

	CHECK_EQ(shard_persist_start(&pc, r, &counters, &p), -EINVAL);
	pc.prefix = PREFIX;
	pc.redis = "nohostport";
	CHECK_EQ(shard_persist_start(&pc, r, &counters, &p), -EINVAL);
	pc.redis = "127.0.0.1:1";
	pc.shard = 2;
	pc.nshards = 2;
	CHECK_EQ(shard_persist_reload(&pc, NULL, NULL, NULL, 100, err, sizeof(err)), -EINVAL);
	free(r);
}

static void test_hang(struct ring *r, struct shard_persist *p)
{
	char addr[64];
	struct redis_link_conf lc = { addr, 0, 300 };
	struct redis_link *l = NULL;
	struct redis_link_batch *b = redis_link_batch_new();
	struct redis_link_stats st;
	const char *argv[] = { "PING" };
	size_t len[] = { 4 };

	sprintf(addr, "127.0.0.1:%d", standalone.port);
	CHECK_EQ(redis_link_new(&lc, &l), 0);
	CHECK_EQ(redis_link_connect(l, NULL, 0), 0);
	redis_link_batch_add_node(b, 0, 1, argv, len);
	kill(standalone.pid, SIGSTOP);
	CHECK_EQ(redis_link_exec(l, b, NULL, 0), -EIO);
	CHECK(!redis_link_connected(l));
	churn(r, p, 0, 50);
	CHECK(wait_for(redis_down, NULL, 5000));
	CHECK(ring_used(r) > 0);
	kill(standalone.pid, SIGCONT);
	CHECK(wait_for(outbox_empty, r, 10000));
	CHECK_EQ(counters.redis_up, 1);
	CHECK_EQ(redis_link_connect(l, NULL, 0), 0);
	CHECK_EQ(redis_link_exec(l, b, NULL, 0), 0);
	redis_link_stats(l, &st);
	CHECK_EQ(st.fence_errors, 0);
	CHECK_EQ(st.connects, 2);
	redis_link_batch_free(b);
	redis_link_free(l);
}

/* Standalone: write-through, outage, restart of the writer. */
static void test_standalone(void)
{
	struct ring *r = outbox_new();
	struct shard_persist *p = NULL;
	char addr[64];
	struct persist_conf pc = conf_for(standalone.port, -1, addr);
	uint64_t before;

	memset(&counters, 0, sizeof(counters));
	CHECK_EQ(shard_persist_start(&pc, r, &counters, &p), 0);
	churn(r, p, 0, 500);
	CHECK(wait_for(outbox_empty, r, 10000));
	CHECK_EQ(counters.persist_written, 500 * 9);
	CHECK_EQ(counters.redis_up, 1);
	CHECK_EQ(counters.persist_errors, 0);
	verify(&standalone.port, 1, 500, 1);

	/* Redis hangs (SIGSTOP) while accounts change again: the writer notices
	 * within about its 1 s timeout, and once Redis runs again its old
	 * connection is fenced and the new one catches up. */
	test_hang(r, p);
	verify(&standalone.port, 1, 500, 1);

	/* Redis dies (its data saved first, so a restart brings it back). */
	CHECK(rcheck(standalone.port, "OK", "SAVE"));
	server_stop(&standalone);
	churn(r, p, 500, 600);
	CHECK(wait_for(redis_down, NULL, 5000));
	sleep_ms(300);
	CHECK(ring_used(r) > 0);
	before = counters.persist_written;
	CHECK_EQ(server_start(&standalone, false, "s"), 0);
	CHECK(wait_for(outbox_empty, r, 10000));
	CHECK_EQ(counters.persist_written, before + 100 * 9);
	CHECK_EQ(counters.redis_up, 1);
	verify(&standalone.port, 1, 600, 1);

	/* Down again; the shard stops (as if killed): records stay in the
	 * outbox, and the next writer on it drains them. */
	CHECK(rcheck(standalone.port, "OK", "SAVE"));
	server_stop(&standalone);
	churn(r, p, 600, 700);
	shard_persist_stop(p);
	CHECK(ring_used(r) > 0);
	CHECK_EQ(server_start(&standalone, false, "s"), 0);
	CHECK_EQ(shard_persist_start(&pc, r, &counters, &p), 0);
	CHECK(wait_for(outbox_empty, r, 10000));
	verify(&standalone.port, 1, 700, 1);
	shard_persist_stop(p);
	free(r);
}

/* Reload. */

struct found {
	uint32_t shard;
	unsigned subs, grants, wrong, dups;
	uint8_t *seen_sub; /* per (account, j): shard + 1 */
	uint8_t *seen_grant;
	unsigned nacc;
	int stop_after; /* return -EINTR after this many subs (0: never) */
};

static int on_sub(const struct sub_spec *s, void *arg)
{
	struct found *f = arg;
	unsigned i = (unsigned)((s->id - 1) / 16), j = (unsigned)((s->id - 1) % 16);

	if (f->stop_after && (int)f->subs >= f->stop_after)
		return -EINTR;
	f->subs++;
	if (i >= f->nacc || j >= NSUB || !model[i].sub_on[j] ||
	    memcmp(s, &model[i].spec[j], sizeof(*s))) {
		f->wrong++;
		return 0;
	}
	if (f->seen_sub[i * NSUB + j])
		f->dups++;
	f->seen_sub[i * NSUB + j] = (uint8_t)(f->shard + 1);
	return 0;
}

static int on_grant(const struct grant *g, void *arg)
{
	struct found *f = arg;
	unsigned i, j;

	f->grants++;
	if (sscanf(g->grantee, "@p%u-%u.", &i, &j) != 2 || i >= f->nacc || j >= NGRANT ||
	    !model[i].grant_on[j] || memcmp(g, &model[i].g[j], sizeof(*g))) {
		f->wrong++;
		return 0;
	}
	if (f->seen_grant[i * NGRANT + j])
		f->dups++;
	f->seen_grant[i * NGRANT + j] = (uint8_t)(f->shard + 1);
	return 0;
}

/* Reload each shard of nshards from addr: each entry comes once, from the
 * shard its account hashes to, and together they are the model. */
static void check_reload(const char *addr, int cluster, uint32_t nshards, unsigned nacc)
{
	struct persist_conf pc = { addr, cluster, PREFIX, 0, nshards };
	uint8_t *ss = calloc(nacc * NSUB, 1), *sg = calloc(nacc * NGRANT, 1);
	unsigned wrong = 0, dups = 0, miss = 0, misplaced = 0;
	char err[256];

	for (uint32_t sh = 0; sh < nshards; sh++) {
		struct found f = { .shard = sh, .seen_sub = ss, .seen_grant = sg, .nacc = nacc };

		pc.shard = sh;
		CHECK_EQ(shard_persist_reload(&pc, on_sub, on_grant, &f, 5000, err, sizeof(err)),
			 0);
		wrong += f.wrong;
		dups += f.dups;
	}
	for (unsigned i = 0; i < nacc; i++) {
		uint32_t want =
			hash_jump(hash64(model[i].name, strlen(model[i].name)), nshards) + 1;

		for (unsigned j = 0; j < NSUB; j++) {
			miss += model[i].sub_on[j] != (ss[i * NSUB + j] != 0);
			misplaced += ss[i * NSUB + j] && ss[i * NSUB + j] != want;
		}
		for (unsigned j = 0; j < NGRANT; j++) {
			miss += model[i].grant_on[j] != (sg[i * NGRANT + j] != 0);
			misplaced += sg[i * NGRANT + j] && sg[i * NGRANT + j] != want;
		}
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(dups, 0);
	CHECK_EQ(miss, 0);
	CHECK_EQ(misplaced, 0);
	free(ss);
	free(sg);
}

struct late_reload {
	struct persist_conf pc;
	int rc;
	struct found f;
	char err[256];
};

static void *late_reload_main(void *arg)
{
	struct late_reload *l = arg;

	l->rc = shard_persist_reload(&l->pc, on_sub, NULL, &l->f, 5000, l->err, sizeof(l->err));
	return NULL;
}

static void test_reload_standalone(void)
{
	char addr[64], err[256];
	struct persist_conf pc = conf_for(standalone.port, 0, addr);
	struct late_reload l = { .pc = pc };
	struct found f = { .nacc = 700, .stop_after = 10 };
	pthread_t th;

	f.seen_sub = calloc(700 * NSUB, 1);
	f.seen_grant = calloc(700 * NGRANT, 1);
	check_reload(addr, 0, 1, 700);
	check_reload(addr, -1, 2, 700);
	check_reload(addr, 0, 3, 700);
	/* A callback stops it. */
	CHECK_EQ(shard_persist_reload(&pc, on_sub, on_grant, &f, 1000, err, sizeof(err)), -EINTR);
	CHECK(strstr(err, "callback") != NULL);
	/* Redis comes late: the reload waits for it. */
	CHECK(rcheck(standalone.port, "OK", "SAVE"));
	server_stop(&standalone);
	l.f.nacc = 700;
	l.f.seen_sub = f.seen_sub;
	l.f.seen_grant = f.seen_grant;
	memset(f.seen_sub, 0, 700 * NSUB);
	pthread_create(&th, NULL, late_reload_main, &l);
	sleep_ms(400);
	CHECK_EQ(server_start(&standalone, false, "s"), 0);
	pthread_join(th, NULL);
	CHECK_EQ(l.rc, 0);
	CHECK_EQ(l.f.wrong, 0);
	CHECK_EQ(l.f.subs, 700 * 3);
	CHECK_EQ(l.f.dups, 0);
	/* Redis never comes: a bounded wait and a reason. */
	sprintf(addr, "127.0.0.1:%d", pick_port());
	CHECK_EQ(shard_persist_reload(&pc, on_sub, on_grant, &f, 300, err, sizeof(err)),
		 -ETIMEDOUT);
	CHECK(strstr(err, "gave up") != NULL);
	free(f.seen_sub);
	free(f.seen_grant);
}

/* Cluster. */

static void node_id(int port, char *out)
{
	redisContext *c = rconnect(port);
	redisReply *r = c ? rcmd(c, "CLUSTER MYID") : NULL;

	out[0] = '\0';
	if (r && r->type == REDIS_REPLY_STRING)
		snprintf(out, 64, "%s", r->str);
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
}

static int port_of(redisContext **c, redisContext *o)
{
	for (int k = 0; k < 3; k++)
		if (c[k] == o)
			return cnode[k].port;
	return 0;
}

/* An account name (not in the model) whose keys hash to slot. */
static void name_in_slot(unsigned slot, char *out)
{
	for (unsigned i = 0;; i++) {
		sprintf(out, "mig%u@example.com", i);
		if (redis_link_slot(out, strlen(out)) == slot)
			return;
	}
}

static bool hash_has(int port, bool asking, const char *key, const char *field)
{
	redisContext *c = rconnect(port);
	redisReply *r;
	bool ok;

	if (!c)
		return false;
	if (asking)
		freeReplyObject(rcmd(c, "ASKING"));
	r = rcmd(c, "HEXISTS %s %s", key, field);
	ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok;
}

/* Slot `slot` moves from node x to node y while the writer and a link of our
 * own keep writing: first -ASK (slot migrating, key not on x yet), then
 * -MOVED (slot moved) with a stale slot map. */
static void test_cluster_migration(struct ring *r, struct shard_persist *p, const char *addr)
{
	redisContext *c[3];
	char idx[64], idy[64], key[300], bkey[300], field[32], b[NAMES_ACCOUNT_MAX + 1];
	struct redis_link_conf lc = { addr, 1, 1000 };
	struct redis_link *l = NULL;
	struct redis_link_batch *batch = redis_link_batch_new();
	struct redis_link_stats st;
	int x, y, z;
	unsigned slot;
	uint64_t errors = counters.persist_errors;

	for (int k = 0; k < 3; k++)
		c[k] = rconnect(cnode[k].port);
	make_key(key, 0, true);
	slot = redis_link_slot(key, strlen(key));
	x = port_of(c, owner(c, 3, key));
	y = x == cnode[0].port ? cnode[1].port : cnode[0].port;
	z = cnode[0].port + cnode[1].port + cnode[2].port - x - y;
	node_id(x, idx);
	node_id(y, idy);
	CHECK_EQ(redis_link_new(&lc, &l), 0);
	CHECK_EQ(redis_link_connect(l, NULL, 0), 0);
	CHECK(redis_link_is_cluster(l));

	CHECK(rcheck(y, "OK", "CLUSTER SETSLOT %u IMPORTING %s", slot, idx));
	CHECK(rcheck(x, "OK", "CLUSTER SETSLOT %u MIGRATING %s", slot, idy));
	/* A new account in the migrating slot: x says -ASK, it lands on y. */
	name_in_slot(slot, b);
	strcpy(model[300].name, b);
	op_sub(r, p, 300, 0, true);
	CHECK(wait_for(outbox_empty, r, 5000));
	sprintf(bkey, "%s:{%s}:subs", PREFIX, b);
	sprintf(field, "%llu", (unsigned long long)sub_id(300, 0));
	CHECK(hash_has(y, true, bkey, field));
	CHECK(!hash_has(x, false, bkey, field));
	{
		const char *argv[] = { "HSET", bkey, "probe", "1" };
		size_t len[] = { 4, strlen(bkey), 5, 1 };

		redis_link_batch_add(batch, 4, argv, len, 1);
		CHECK_EQ(redis_link_exec(l, batch, NULL, 0), 0);
		redis_link_stats(l, &st);
		CHECK(st.ask >= 1);
		redis_link_batch_reset(batch);
	}

	/* Move account 0's keys and the slot. */
	char gkey[300];
	make_key(gkey, 0, false);
	CHECK(rcheck(x, "OK", "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS %s %s", y, "", key, gkey));
	CHECK(rcheck(y, "OK", "CLUSTER SETSLOT %u NODE %s", slot, idy));
	CHECK(rcheck(x, "OK", "CLUSTER SETSLOT %u NODE %s", slot, idy));
	CHECK(rcheck(z, "OK", "CLUSTER SETSLOT %u NODE %s", slot, idy));
	/* The writer's map still says x: -MOVED to y. */
	op_sub(r, p, 0, 1, true);
	CHECK(wait_for(outbox_empty, r, 5000));
	sprintf(field, "%llu", (unsigned long long)sub_id(0, 1));
	CHECK(hash_has(y, false, key, field));
	CHECK_EQ(counters.persist_errors, errors);
	{
		const char *argv[] = { "HDEL", bkey, "probe" };
		size_t len[] = { 4, strlen(bkey), 5 };

		redis_link_batch_add(batch, 3, argv, len, 1);
		CHECK_EQ(redis_link_exec(l, batch, NULL, 0), 0);
		redis_link_stats(l, &st);
		CHECK(st.moved >= 1);
	}
	/* The stale map was reloaded before the next batch. */
	redis_link_batch_reset(batch);
	{
		const char *argv[] = { "HLEN", bkey };
		size_t len[] = { 4, strlen(bkey) };
		uint64_t moved = st.moved;

		redis_link_batch_add(batch, 2, argv, len, 1);
		CHECK_EQ(redis_link_exec(l, batch, NULL, 0), 0);
		redis_link_stats(l, &st);
		CHECK_EQ(st.moved, moved);
		CHECK(st.slot_loads >= 2);
	}
	redis_link_batch_free(batch);
	redis_link_free(l);
	for (int k = 0; k < 3; k++)
		redisFree(c[k]);
}

static void test_cluster(void)
{
	struct ring *r = outbox_new();
	struct shard_persist *p = NULL;
	char addr[64];
	struct persist_conf pc = conf_for(cnode[1].port, -1, addr);
	int ports[3] = { cnode[0].port, cnode[1].port, cnode[2].port };

	test_crc16_live(cnode[0].port);
	/* The model restarts: the cluster is empty. */
	memset(model, 0, NACC * sizeof(*model));
	for (unsigned i = 0; i < NACC; i++)
		acc_name(i, model[i].name);
	memset(&counters, 0, sizeof(counters));
	CHECK_EQ(shard_persist_start(&pc, r, &counters, &p), 0);
	churn(r, p, 0, 300);
	CHECK(wait_for(outbox_empty, r, 10000));
	CHECK_EQ(counters.persist_errors, 0);
	CHECK_EQ(counters.redis_up, 1);
	verify(ports, 3, 300, 3);
	test_cluster_migration(r, p, addr);
	shard_persist_stop(p);
	free(r);
	/* Account 300 is the one created in the migrating slot. */
	verify(ports, 3, 301, 3);
	check_reload(addr, -1, 1, 301);
	check_reload(addr, 1, 3, 301);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	atexit(cleanup);
	model_init();
	test_crc16();
	test_bad_conf();
	CHECK_EQ(server_start(&standalone, false, "s"), 0);
	if (standalone.pid > 0) {
		test_standalone();
		test_reload_standalone();
	}
	server_stop(&standalone);
	CHECK_EQ(cluster_start(), 0);
	if (cnode[2].pid > 0)
		test_cluster();
	free(model);
	return check_summary();
}
