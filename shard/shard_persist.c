/* shard_persist: the shard process's Redis writer thread (drains the outbox
 * into Redis, pipelined, releasing records only once acknowledged) and its
 * cold-start reload (SCAN every master, HGETALL the shard's accounts). Both
 * talk to Redis through lib/redis_link. */
#include "shard_persist.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/hash.h"
#include "lib/log.h"
#include "lib/redis_link.h"
#include "pnad/pnad_rt.h"
#include "shard/sub_json.h"

#define BATCH_RECORDS 512 /* outbox records per pipeline round trip */
#define TIMEOUT_MS 1000	  /* connect and socket timeout */
#define IDLE_MS 1000	  /* idle: PING the masters this often */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define STOP_FLUSH_MS 1000
#define SCAN_COUNT "1000"

#define KEY_MAX (SHARD_PERSIST_PREFIX_MAX + NAMES_ACCOUNT_MAX + 16)
#define FIELD_MAX (NAMES_KEY_MAX + SUB_SUBSCRIBER_MAX + 2)

static const char SUBS_SUFFIX[] = "}:subs";
static const char GRANTS_SUFFIX[] = "}:grants";

enum key_kind { KEY_SUBS, KEY_GRANTS };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int check_conf(const struct persist_conf *conf, char *err, size_t errlen)
{
	size_t plen = conf->prefix ? strlen(conf->prefix) : 0;

	if (!conf->redis || !conf->redis[0]) {
		log_buf(err, errlen, "redis address is empty");
		return -EINVAL;
	}
	/* A brace in the prefix would become the key's hash tag. */
	if (plen == 0 || plen > SHARD_PERSIST_PREFIX_MAX || strpbrk(conf->prefix, "{}")) {
		log_buf(err, errlen, "redis key prefix must be 1..%d bytes without '{' or '}'",
			SHARD_PERSIST_PREFIX_MAX);
		return -EINVAL;
	}
	if (conf->nshards == 0 || conf->shard >= conf->nshards) {
		log_buf(err, errlen, "shard %u of %u", conf->shard, conf->nshards);
		return -EINVAL;
	}
	return 0;
}

/* Keys and values (the schema is in shard_persist.h). */

static size_t make_key(char *out, const char *prefix, const char *account, enum key_kind kind)
{
	int n = snprintf(out, KEY_MAX, "%s:{%s%s", prefix, account,
			 kind == KEY_SUBS ? SUBS_SUFFIX : GRANTS_SUFFIX);

	return (size_t)n;
}

static size_t id_field(char *out, uint64_t id)
{
	return (size_t)snprintf(out, FIELD_MAX, "%" PRIu64, id);
}

static size_t grant_field(char *out, const struct grant *g)
{
	return (size_t)snprintf(out, FIELD_MAX, "%s\n%s", g->path, g->grantee);
}

/* A string of a record in shared memory: NUL-terminated within its array
 * (and, for an account, not empty). */
static bool str_ok(const char *a, size_t cap, bool nonempty)
{
	size_t n = strnlen(a, cap);

	return n < cap && (n > 0 || !nonempty);
}

#define STR_OK(a, nonempty) str_ok((a), sizeof(a), (nonempty))

static bool rec_valid(const struct persist_rec *r)
{
	const struct sub_spec *s = &r->spec;
	const struct grant *g = &r->grant;

	switch (r->op) {
	case PERSIST_SUB_PUT:
		return STR_OK(s->account, true) && STR_OK(s->path, false) &&
		       STR_OK(s->subscriber, false) && STR_OK(s->target, false);
	case PERSIST_SUB_DEL:
		return STR_OK(s->account, true);
	case PERSIST_GRANT_PUT:
	case PERSIST_GRANT_DEL:
		return STR_OK(g->account, true) && STR_OK(g->path, false) &&
		       STR_OK(g->grantee, false);
	default:
		return false;
	}
}

/* The writer thread. */

struct shard_persist {
	char *redis, *prefix;
	struct ring *outbox;
	struct sub_counters *c;
	struct redis_link *link;
	struct redis_link_batch *batch;
	int efd;
	pthread_t th;
	int stop;	  /* atomic: shard_persist_stop was called */
	uint64_t stop_at; /* now_ms() deadline of the final flush */
	unsigned backoff_ms;
	bool down; /* a failure was logged, no success since */
	char err[256];
	char key[KEY_MAX], field[FIELD_MAX], json[SUB_JSON_MAX];
};

static bool stopping(struct shard_persist *p)
{
	return __atomic_load_n(&p->stop, __ATOMIC_ACQUIRE);
}

static void efd_drain(struct shard_persist *p)
{
	uint64_t v;

	(void)!read(p->efd, &v, sizeof(v));
}

/* Sleep up to ms, cut short by stop (and by its flush deadline). */
static void nap(struct shard_persist *p, unsigned ms)
{
	uint64_t until = now_ms() + ms, now;
	struct pollfd pfd = { .fd = p->efd, .events = POLLIN };

	while ((now = now_ms()) < until) {
		if (stopping(p) && now >= p->stop_at)
			return;
		poll(&pfd, 1, (int)(until - now));
		efd_drain(p);
	}
}

static void add_record(struct shard_persist *p, const struct persist_rec *r)
{
	const char *argv[4] = { NULL, p->key, p->field, p->json };
	size_t len[4];
	int argc = 3;

	if (r->op == PERSIST_SUB_PUT || r->op == PERSIST_SUB_DEL) {
		len[1] = make_key(p->key, p->prefix, r->spec.account, KEY_SUBS);
		len[2] = id_field(p->field, r->spec.id);
	} else {
		len[1] = make_key(p->key, p->prefix, r->grant.account, KEY_GRANTS);
		len[2] = grant_field(p->field, &r->grant);
	}
	if (r->op == PERSIST_SUB_PUT || r->op == PERSIST_GRANT_PUT) {
		argv[0] = "HSET";
		len[3] = r->op == PERSIST_SUB_PUT ? sub_json_put_sub(p->json, &r->spec)
						  : sub_json_put_grant(p->json, &r->grant);
		argc = 4;
	} else {
		argv[0] = "HDEL";
	}
	len[0] = 4;
	redis_link_batch_add(p->batch, argc, argv, len, 1);
}

static int check_replies(struct shard_persist *p)
{
	unsigned n = redis_link_batch_count(p->batch);

	for (unsigned i = 0; i < n; i++) {
		const redisReply *r = redis_link_batch_reply(p->batch, i);

		if (!r || r->type == REDIS_REPLY_ERROR) {
			log_buf(p->err, sizeof(p->err), "redis: %s", r ? r->str : "no reply");
			return -EPROTO;
		}
	}
	return 0;
}

/* One pipeline of up to BATCH_RECORDS outbox records. The records written
 * (released), 0 when the outbox is empty, or -errno (nothing released). */
static int drain(struct shard_persist *p)
{
	const struct persist_rec *r;
	uint64_t pos, next;
	uint32_t len;
	unsigned n = 0, valid = 0;
	int rc;

	if (!ring_peek(p->outbox, &len, &pos))
		return 0;
	redis_link_batch_reset(p->batch);
	while (n < BATCH_RECORDS && (r = ring_peek_from(p->outbox, pos, &len, &next))) {
		if (len == sizeof(*r) && rec_valid(r)) {
			add_record(p, r);
			valid++;
		} else {
			log_error("redis outbox: dropping a malformed record (op %u, %u bytes)",
				  len >= sizeof(uint32_t) ? r->op : 0, len);
		}
		pos = next;
		n++;
	}
	if (valid) {
		rc = redis_link_exec(p->link, p->batch, p->err, sizeof(p->err));
		if (rc == 0)
			rc = check_replies(p);
		if (rc < 0)
			return rc;
	}
	ring_release_to(p->outbox, pos);
	__atomic_store_n(&p->c->persist_written, p->c->persist_written + valid, __ATOMIC_RELAXED);
	return (int)n;
}

/* Idle: is every master still there? */
static int ping(struct shard_persist *p)
{
	static const char *const argv[] = { "PING" };
	static const size_t len[] = { 4 };
	unsigned idx[64], n = redis_link_masters(p->link, idx, 64);
	int rc;

	redis_link_batch_reset(p->batch);
	for (unsigned i = 0; i < n && i < 64; i++)
		redis_link_batch_add_node(p->batch, idx[i], 1, argv, len);
	rc = redis_link_exec(p->link, p->batch, p->err, sizeof(p->err));
	return rc < 0 ? rc : check_replies(p);
}

/* Sleep until kicked (or IDLE_MS), following the ring's flag protocol. */
static int idle(struct shard_persist *p)
{
	struct pollfd pfd = { .fd = p->efd, .events = POLLIN };
	int n;

	if (!ring_consumer_wait(p->outbox))
		return 0;
	n = poll(&pfd, 1, IDLE_MS);
	efd_drain(p);
	return n == 0 && !stopping(p) ? ping(p) : 0;
}

static void went_up(struct shard_persist *p)
{
	p->backoff_ms = BACKOFF_MIN_MS;
	__atomic_store_n(&p->c->redis_up, 1, __ATOMIC_RELAXED);
	if (p->down)
		log_info("redis %s: connected again", p->redis);
	p->down = false;
}

static void went_down(struct shard_persist *p)
{
	__atomic_store_n(&p->c->persist_errors, p->c->persist_errors + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&p->c->redis_up, 0, __ATOMIC_RELAXED);
	if (!p->down)
		log_warn("%s; outbox kept, retrying", p->err);
	p->down = true;
	/* Reconnecting also reloads the cluster's slot map. */
	redis_link_disconnect(p->link);
}

static int step(struct shard_persist *p)
{
	int rc;

	if (!redis_link_connected(p->link)) {
		rc = redis_link_connect(p->link, p->err, sizeof(p->err));
		if (rc < 0)
			return rc;
	}
	rc = drain(p);
	if (rc == 0 && !stopping(p))
		rc = idle(p);
	if (rc >= 0)
		went_up(p);
	return rc;
}

static bool finished(struct shard_persist *p)
{
	return stopping(p) && (ring_used(p->outbox) == 0 || now_ms() >= p->stop_at);
}

static void *writer_main(void *arg)
{
	struct shard_persist *p = arg;
	sigset_t set;

	/* hiredis writes with write(2): a closed socket must give EPIPE. The
	 * stop signals are the shard's main thread's (its ppoll takes them);
	 * this thread stops on p->stop. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (!finished(p)) {
		if (step(p) < 0) {
			went_down(p);
			nap(p, p->backoff_ms);
			p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
									   : p->backoff_ms * 2;
		}
	}
	if (ring_used(p->outbox))
		log_warn("redis writer stopped with %" PRIu64 " outbox bytes not written",
			 ring_used(p->outbox));
	redis_link_disconnect(p->link);
	return NULL;
}

static void persist_free(struct shard_persist *p)
{
	if (p->efd >= 0)
		close(p->efd);
	redis_link_batch_free(p->batch);
	redis_link_free(p->link);
	free(p->redis);
	free(p->prefix);
	free(p);
}

int shard_persist_start(const struct persist_conf *conf, struct ring *outbox,
			struct sub_counters *c, struct shard_persist **out)
{
	struct redis_link_conf lc = { conf->redis, conf->cluster, TIMEOUT_MS };
	struct shard_persist *p;
	char err[160];
	int rc = check_conf(conf, err, sizeof(err));

	if (rc < 0 || !outbox || !c) {
		log_error("redis writer: %s", rc < 0 ? err : "no outbox");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->efd = -1;
	p->redis = strdup(conf->redis);
	p->prefix = strdup(conf->prefix);
	if (!p->redis || !p->prefix)
		abort();
	p->outbox = outbox;
	p->c = c;
	p->backoff_ms = BACKOFF_MIN_MS;
	rc = redis_link_new(&lc, &p->link);
	if (rc < 0) {
		log_error("redis writer: bad address '%s' (host:port)", conf->redis);
		goto err_free;
	}
	p->batch = redis_link_batch_new();
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		rc = -errno;
		goto err_free;
	}
	__atomic_store_n(&c->redis_up, 0, __ATOMIC_RELAXED);
	rc = -pthread_create(&p->th, NULL, writer_main, p);
	if (rc < 0)
		goto err_free;
	pthread_setname_np(p->th, "pna-redis");
	*out = p;
	return 0;
err_free:
	persist_free(p);
	return rc;
}

void shard_persist_kick(struct shard_persist *p)
{
	if (ring_consumer_waiting(p->outbox))
		pnad_wake(p->efd);
}

void shard_persist_stop(struct shard_persist *p)
{
	if (!p)
		return;
	p->stop_at = now_ms() + STOP_FLUSH_MS;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pnad_wake(p->efd);
	pthread_join(p->th, NULL);
	__atomic_store_n(&p->c->redis_up, 0, __ATOMIC_RELAXED);
	persist_free(p);
}

/* Reload. */

/* A set of 128-bit key fingerprints: SCAN may return a key twice (Redis
 * "SCAN guarantees"), and each key must be reported once. */
struct fp {
	uint64_t a, b; /* a != 0: a used slot */
};

struct seen {
	struct fp *t;
	size_t cap, n; /* cap: a power of two, or 0 */
};

static void seen_put(struct seen *s, struct fp f)
{
	size_t i = f.a & (s->cap - 1);

	while (s->t[i].a)
		i = (i + 1) & (s->cap - 1);
	s->t[i] = f;
	s->n++;
}

/* True when key was not in the set (it is now). */
static bool seen_add(struct seen *s, const char *key, size_t len)
{
	struct fp f = { hash64(key, len) | 1, hash64(key + 1, len - 1) };
	struct seen g;

	for (size_t i = s->cap ? f.a & (s->cap - 1) : 0; s->cap && s->t[i].a;
	     i = (i + 1) & (s->cap - 1))
		if (s->t[i].a == f.a && s->t[i].b == f.b)
			return false;
	if ((s->n + 1) * 2 > s->cap) {
		g.cap = s->cap ? s->cap * 2 : 4096;
		g.n = 0;
		g.t = calloc(g.cap, sizeof(*g.t));
		if (!g.t)
			abort();
		for (size_t i = 0; i < s->cap; i++)
			if (s->t[i].a)
				seen_put(&g, s->t[i]);
		free(s->t);
		*s = g;
	}
	seen_put(s, f);
	return true;
}

/* One master's SCAN. */
struct scan {
	unsigned node;
	bool done;
	char cursor[24];
};

struct reload {
	const struct persist_conf *conf;
	int (*sub)(const struct sub_spec *s, void *arg);
	int (*grant)(const struct grant *g, void *arg);
	void *arg;
	struct redis_link *link;
	struct redis_link_batch *b;
	struct scan *scans;
	unsigned nscans;
	/* Keys of this shard found by SCAN, to HGETALL next round: NUL-separated. */
	char *keys;
	size_t klen, kcap;
	unsigned nkeys;
	struct seen seen;
	size_t plen;
	char pattern[2 * SHARD_PERSIST_PREFIX_MAX + 8];
	struct sub_spec spec;
	struct grant g;
	int stopped; /* a callback's non-zero return */
	uint64_t subs, grants, bad;
	char *err;
	size_t errlen;
};

/* "<prefix>:{<account>}:subs" or ":grants": the kind and the account. */
static bool parse_key(const struct reload *r, const char *key, size_t len, enum key_kind *kind,
		      const char **acc, size_t *alen)
{
	size_t sl;

	if (len < r->plen + 2 || memcmp(key, r->conf->prefix, r->plen) || key[r->plen] != ':' ||
	    key[r->plen + 1] != '{')
		return false;
	sl = sizeof(SUBS_SUFFIX) - 1;
	*kind = KEY_SUBS;
	if (len < sl || memcmp(key + len - sl, SUBS_SUFFIX, sl)) {
		sl = sizeof(GRANTS_SUFFIX) - 1;
		*kind = KEY_GRANTS;
		if (len < sl || memcmp(key + len - sl, GRANTS_SUFFIX, sl))
			return false;
	}
	if (len <= r->plen + 2 + sl)
		return false;
	*acc = key + r->plen + 2;
	*alen = len - r->plen - 2 - sl;
	return *alen <= NAMES_ACCOUNT_MAX;
}

/* The pattern "<prefix>:{*}:*", glob characters of the prefix escaped. One
 * SCAN for both kinds: SCAN walks every key whatever MATCH says. */
static void make_pattern(struct reload *r)
{
	char *o = r->pattern;

	for (const char *c = r->conf->prefix; *c; c++) {
		if (strchr("*?[]\\", *c))
			*o++ = '\\';
		*o++ = *c;
	}
	strcpy(o, ":{*}:*");
}

static void keep_key(struct reload *r, const char *key, size_t len)
{
	if (r->klen + len + 1 > r->kcap) {
		r->kcap = r->kcap ? r->kcap * 2 : 65536;
		while (r->klen + len + 1 > r->kcap)
			r->kcap *= 2;
		r->keys = realloc(r->keys, r->kcap);
		if (!r->keys)
			abort();
	}
	memcpy(r->keys + r->klen, key, len);
	r->keys[r->klen + len] = '\0';
	r->klen += len + 1;
	r->nkeys++;
}

static bool mine(const struct reload *r, const char *key, size_t len)
{
	enum key_kind kind;
	const char *acc;
	size_t alen;

	if (!parse_key(r, key, len, &kind, &acc, &alen))
		return false;
	if (kind == KEY_SUBS ? !r->sub : !r->grant)
		return false;
	return hash_jump(hash64(acc, alen), r->conf->nshards) == r->conf->shard;
}

/* One hash field: parse, check it against its key and field, report it.
 * 0 (reported, or skipped as malformed), or the callback's non-zero. */
static int load_field(struct reload *r, enum key_kind kind, const char *acc, size_t alen,
		      const redisReply *f, const redisReply *v)
{
	char want[FIELD_MAX];
	const char *why = "field does not match its value";
	int rc;

	if (kind == KEY_SUBS) {
		rc = sub_json_get_sub(v->str, v->len, &r->spec, &why);
		if (rc == 0 &&
		    (strlen(r->spec.account) != alen || memcmp(r->spec.account, acc, alen) ||
		     id_field(want, r->spec.id) != f->len || memcmp(want, f->str, f->len)))
			rc = -EBADMSG;
	} else {
		rc = sub_json_get_grant(v->str, v->len, &r->g, &why);
		if (rc == 0 && (strlen(r->g.account) != alen || memcmp(r->g.account, acc, alen) ||
				grant_field(want, &r->g) != f->len || memcmp(want, f->str, f->len)))
			rc = -EBADMSG;
	}
	if (rc < 0) {
		if (r->bad++ < 10)
			log_warn("redis reload: skipping an entry of %.*s (%s): %.*s", (int)alen,
				 acc, why, (int)(v->len > 200 ? 200 : v->len), v->str);
		return 0;
	}
	if (kind == KEY_SUBS) {
		r->subs++;
		rc = r->sub(&r->spec, r->arg);
	} else {
		r->grants++;
		rc = r->grant(&r->g, r->arg);
	}
	if (rc)
		log_buf(r->err, r->errlen, "reload stopped by the %s callback on %.*s (%d)",
			kind == KEY_SUBS ? "subscription" : "grant", (int)alen, acc, rc);
	return rc;
}

static int load_hash(struct reload *r, const char *key, const redisReply *rep)
{
	enum key_kind kind;
	const char *acc;
	size_t alen;
	int rc;

	if (rep->type == REDIS_REPLY_ERROR) {
		if (r->bad++ < 10)
			log_warn("redis reload: skipping %s: %s", key, rep->str);
		return 0;
	}
	parse_key(r, key, strlen(key), &kind, &acc, &alen);
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		rc = load_field(r, kind, acc, alen, rep->element[i], rep->element[i + 1]);
		if (rc)
			return rc;
	}
	return 0;
}

static bool is_hash_reply(const redisReply *rep)
{
	if (rep->type == REDIS_REPLY_ERROR)
		return !strncmp(rep->str, "WRONGTYPE", 9); /* not ours: skipped */
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2)
		return false;
	for (size_t i = 0; i < rep->elements; i++)
		if (rep->element[i]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

static bool is_scan_reply(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	       rep->element[0]->type == REDIS_REPLY_STRING &&
	       rep->element[0]->len < sizeof(((struct scan *)0)->cursor) &&
	       rep->element[1]->type == REDIS_REPLY_ARRAY;
}

static void scan_next(struct reload *r, struct scan *s, const redisReply *rep)
{
	const redisReply *keys = rep->element[1];

	memcpy(s->cursor, rep->element[0]->str, rep->element[0]->len + 1);
	s->done = !strcmp(s->cursor, "0");
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];

		if (k->type == REDIS_REPLY_STRING && mine(r, k->str, k->len) &&
		    seen_add(&r->seen, k->str, k->len))
			keep_key(r, k->str, k->len);
	}
}

/* Queue HGETALL for the kept keys and the next SCAN of each master. */
static void queue_round(struct reload *r)
{
	const char *argv[6] = { "SCAN", NULL, "MATCH", r->pattern, "COUNT", SCAN_COUNT };
	size_t len[6] = { 4, 0, 5, strlen(r->pattern), 5, sizeof(SCAN_COUNT) - 1 };
	const char *hargv[2] = { "HGETALL", NULL };
	size_t hlen[2] = { 7, 0 };

	redis_link_batch_reset(r->b);
	for (size_t off = 0; off < r->klen; off += hlen[1] + 1) {
		hargv[1] = r->keys + off;
		hlen[1] = strlen(hargv[1]);
		redis_link_batch_add(r->b, 2, hargv, hlen, 1);
	}
	for (unsigned i = 0; i < r->nscans; i++) {
		if (r->scans[i].done)
			continue;
		argv[1] = r->scans[i].cursor;
		len[1] = strlen(argv[1]);
		redis_link_batch_add_node(r->b, r->scans[i].node, 6, argv, len);
	}
}

/* One pipeline round. 1 when everything was read, 0 after progress, -errno
 * on a Redis failure (nothing reported this round, so it can be retried),
 * or r->stopped. */
static int round_trip(struct reload *r)
{
	unsigned n, i = 0;
	size_t off;
	int rc;

	queue_round(r);
	n = redis_link_batch_count(r->b);
	if (n == 0)
		return 1;
	rc = redis_link_exec(r->link, r->b, r->err, r->errlen);
	if (rc < 0)
		return rc;
	/* Check every reply before reporting any: a retried round reports
	 * nothing twice. */
	for (unsigned k = 0; k < n; k++) {
		const redisReply *rep = redis_link_batch_reply(r->b, k);

		if (k < r->nkeys ? !is_hash_reply(rep) : !is_scan_reply(rep)) {
			log_buf(r->err, r->errlen, "redis: unexpected reply to %s: %s",
				k < r->nkeys ? "HGETALL" : "SCAN",
				rep->type == REDIS_REPLY_ERROR ? rep->str : "(malformed)");
			return -EPROTO;
		}
	}
	for (off = 0; i < r->nkeys; i++, off += strlen(r->keys + off) + 1) {
		r->stopped = load_hash(r, r->keys + off, redis_link_batch_reply(r->b, i));
		if (r->stopped)
			return r->stopped;
	}
	r->klen = 0;
	r->nkeys = 0;
	for (unsigned k = 0; k < r->nscans; k++)
		if (!r->scans[k].done)
			scan_next(r, &r->scans[k], redis_link_batch_reply(r->b, i++));
	return 0;
}

/* After a (re)connect: one SCAN per master, kept when the masters are the
 * ones already being scanned, else started over (the seen set keeps
 * anything already reported from being reported again). */
static void scans_sync(struct reload *r)
{
	unsigned n = redis_link_masters(r->link, NULL, 0);
	unsigned *idx = calloc(n ? n : 1, sizeof(*idx));
	bool same = n == r->nscans;

	if (!idx)
		abort();
	redis_link_masters(r->link, idx, n);
	for (unsigned i = 0; same && i < n; i++)
		same = r->scans[i].node == idx[i];
	if (!same) {
		free(r->scans);
		r->scans = calloc(n ? n : 1, sizeof(*r->scans));
		if (!r->scans)
			abort();
		for (unsigned i = 0; i < n; i++) {
			r->scans[i].node = idx[i];
			strcpy(r->scans[i].cursor, "0");
		}
		r->nscans = n;
	}
	free(idx);
}

static int reload_run(struct reload *r, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	unsigned backoff = BACKOFF_MIN_MS;
	int rc;

	for (;;) {
		rc = 0;
		if (!redis_link_connected(r->link)) {
			rc = redis_link_connect(r->link, r->err, r->errlen);
			if (rc == 0)
				scans_sync(r);
		}
		if (rc == 0)
			rc = round_trip(r);
		if (rc == 1 || r->stopped)
			return r->stopped ? (r->stopped < 0 ? r->stopped : -ECANCELED) : 0;
		if (rc == 0) {
			deadline = now_ms() + (uint64_t)timeout_ms;
			backoff = BACKOFF_MIN_MS;
			continue;
		}
		redis_link_disconnect(r->link);
		if (now_ms() + backoff >= deadline) {
			size_t l = strlen(r->err);

			log_buf(r->err + l, r->errlen - l, " (gave up after %d ms)", timeout_ms);
			return -ETIMEDOUT;
		}
		usleep(backoff * 1000);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

int shard_persist_reload(const struct persist_conf *conf,
			 int (*sub)(const struct sub_spec *s, void *arg),
			 int (*grant)(const struct grant *g, void *arg), void *arg, int timeout_ms,
			 char *err, size_t errlen)
{
	struct redis_link_conf lc = { conf->redis, conf->cluster, TIMEOUT_MS };
	char scratch[256];
	struct reload *r;
	int rc;

	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	rc = check_conf(conf, err, errlen);
	if (rc < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->conf = conf;
	r->sub = sub;
	r->grant = grant;
	r->arg = arg;
	r->err = err;
	r->errlen = errlen;
	r->plen = strlen(conf->prefix);
	make_pattern(r);
	rc = redis_link_new(&lc, &r->link);
	if (rc < 0) {
		log_buf(err, errlen, "bad redis address '%s' (host:port)", conf->redis);
		goto out;
	}
	r->b = redis_link_batch_new();
	rc = reload_run(r, timeout_ms);
	if (r->bad)
		log_warn("redis reload: %" PRIu64 " malformed entries skipped", r->bad);
	if (rc == 0)
		log_info("redis reload: %" PRIu64 " subscriptions, %" PRIu64 " grants", r->subs,
			 r->grants);
out:
	redis_link_batch_free(r->b);
	redis_link_free(r->link);
	free(r->scans);
	free(r->keys);
	free(r->seen.t);
	free(r);
	return rc;
}
