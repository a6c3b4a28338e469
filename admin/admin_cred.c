/* admin_cred: the admin process's SIP credential store: the segment (written
 * only by the admin loop) and a thread that owns the Redis connection,
 * writes each change through and reloads the hash at start. */
#include "admin/admin_cred.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/redis_link.h"
#include "pnad/pnad_rt.h"

#define TIMEOUT_MS 1000
#define RETRY_MS 1000

struct job {
	int op;
	struct sip_cred cred;
	struct admin_http_ref ref;
};

struct admin_cred {
	bool unlink_seg; /* unlink_on_exit: the segment goes with us */
	struct shm_seg seg;
	int wake_fd;
	bool redis; /* a thread and Redis behind it */
	char key[96];
	struct redis_link *link;
	struct redis_link_batch *batch;
	pthread_t thread;
	bool started;
	/* under mu: */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, loaded;
	uint32_t pending; /* submitted, not yet polled */
	uint32_t njobs, jhead;
	struct job jobs[ADMIN_CRED_QUEUE];
	uint32_t ndone, dhead;
	struct admin_cred_done done[ADMIN_CRED_QUEUE];
	struct sip_cred *reload; /* a finished reload for the loop to apply */
	uint32_t nreload;
	bool reload_ready;
};

static void wake(struct admin_cred *ac)
{
	if (ac->wake_fd >= 0)
		pnad_wake(ac->wake_fd);
}

/* Called with mu held. */
static void push_done(struct admin_cred *ac, const struct job *j, int err, const char *reason)
{
	struct admin_cred_done *d = &ac->done[(ac->dhead + ac->ndone++) % ADMIN_CRED_QUEUE];

	d->op = j->op;
	d->err = err;
	d->cred = j->cred;
	d->ref = j->ref;
	snprintf(d->reason, sizeof(d->reason), "%s", reason ? reason : "");
}

/* Called with mu held: Redis is down, every queued change fails. */
static void fail_jobs(struct admin_cred *ac, const char *why)
{
	char reason[160];

	snprintf(reason, sizeof(reason), "Redis unavailable: %s", why);
	while (ac->njobs) {
		push_done(ac, &ac->jobs[ac->jhead], -EAGAIN, reason);
		ac->jhead = (ac->jhead + 1) % ADMIN_CRED_QUEUE;
		ac->njobs--;
	}
	wake(ac);
}

static char *value_of(const struct sip_cred *c)
{
	struct json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "user", json_object_new_string(c->user));
	json_object_object_add(o, "realm", json_object_new_string(c->realm));
	json_object_object_add(o, "ha1_md5", json_object_new_string(c->ha1_md5));
	json_object_object_add(o, "ha1_sha256", json_object_new_string(c->ha1_sha256));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (!s)
		abort();
	return s;
}

static int cred_of(const char *text, size_t len, struct sip_cred *c)
{
	struct json_object *o = json_tokener_parse(text), *v;
	static const struct {
		const char *k;
		size_t off, cap;
	} f[] = {
		{ "user", offsetof(struct sip_cred, user), SIP_CRED_USER_MAX },
		{ "realm", offsetof(struct sip_cred, realm), SIP_CRED_REALM_MAX },
		{ "ha1_md5", offsetof(struct sip_cred, ha1_md5), 33 },
		{ "ha1_sha256", offsetof(struct sip_cred, ha1_sha256), 65 },
	};
	const char *why;
	int rc = 0;

	(void)len;
	memset(c, 0, sizeof(*c));
	if (!o || !json_object_is_type(o, json_type_object))
		rc = -EINVAL;
	for (size_t i = 0; rc == 0 && i < sizeof(f) / sizeof(f[0]); i++) {
		const char *s;

		if (!json_object_object_get_ex(o, f[i].k, &v))
			continue;
		s = json_object_get_string(v);
		if (strlen(s) >= f[i].cap)
			rc = -EINVAL;
		else
			memcpy((char *)c + f[i].off, s, strlen(s) + 1);
	}
	json_object_put(o);
	return rc ? rc : sip_cred_validate(c, &why);
}

/* HGETALL the hash into a fresh array for the loop. 0 or -errno. */
static int reload(struct admin_cred *ac, char *err, size_t errlen)
{
	const char *argv[] = { "HGETALL", ac->key };
	size_t argvlen[] = { 7, strlen(ac->key) };
	const redisReply *r;
	struct sip_cred *list;
	uint32_t n = 0;
	int rc;

	redis_link_batch_reset(ac->batch);
	redis_link_batch_add(ac->batch, 2, argv, argvlen, 1);
	if ((rc = redis_link_exec(ac->link, ac->batch, err, errlen)) < 0)
		return rc;
	r = redis_link_batch_reply(ac->batch, 0);
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		log_buf(err, errlen, "HGETALL %s: %s", ac->key,
			r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		return -EIO;
	}
	list = calloc(r->elements / 2 + 1, sizeof(*list));
	if (!list)
		abort();
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *v = r->element[i + 1];

		if (v->type == REDIS_REPLY_STRING && cred_of(v->str, v->len, &list[n]) == 0)
			n++;
		else
			log_warn("%s: skipping field %s: not a credential", ac->key,
				 r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str
									   : "?");
	}
	pthread_mutex_lock(&ac->mu);
	free(ac->reload);
	ac->reload = list;
	ac->nreload = n;
	ac->reload_ready = true;
	ac->loaded = true;
	pthread_mutex_unlock(&ac->mu);
	wake(ac);
	log_info("%u SIP credentials loaded from Redis", n);
	return 0;
}

/* Write one change through. 0, or -errno with a reason. */
static int write_through(struct admin_cred *ac, const struct job *j, char *err, size_t errlen)
{
	char field[SIP_CRED_USER_MAX + SIP_CRED_REALM_MAX + 1], *value = NULL;
	const char *argv[4];
	size_t argvlen[4];
	const redisReply *r;
	int rc;

	snprintf(field, sizeof(field), "%s@%s", j->cred.user, j->cred.realm);
	argv[0] = j->op == ADMIN_CRED_PUT ? "HSET" : "HDEL";
	argv[1] = ac->key;
	argv[2] = field;
	for (int i = 0; i < 3; i++)
		argvlen[i] = strlen(argv[i]);
	if (j->op == ADMIN_CRED_PUT) {
		value = value_of(&j->cred);
		argv[3] = value;
		argvlen[3] = strlen(value);
	}
	redis_link_batch_reset(ac->batch);
	redis_link_batch_add(ac->batch, j->op == ADMIN_CRED_PUT ? 4 : 3, argv, argvlen, 1);
	rc = redis_link_exec(ac->link, ac->batch, err, errlen);
	free(value);
	if (rc < 0)
		return rc;
	r = redis_link_batch_reply(ac->batch, 0);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		log_buf(err, errlen, "Redis refused: %s", r ? r->str : "no reply");
		return -EPROTO;
	}
	return 0;
}

static void timed_wait(struct admin_cred *ac, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&ac->cv, &ac->mu, &ts);
}

static void *thread_main(void *arg)
{
	struct admin_cred *ac = arg;
	char err[256];

	pthread_mutex_lock(&ac->mu);
	while (!ac->stop) {
		struct job j;
		int rc = 0;

		if (!redis_link_connected(ac->link) || !ac->loaded) {
			pthread_mutex_unlock(&ac->mu);
			if (!redis_link_connected(ac->link))
				rc = redis_link_connect(ac->link, err, sizeof(err));
			if (rc == 0)
				rc = reload(ac, err, sizeof(err));
			pthread_mutex_lock(&ac->mu);
			if (rc < 0) {
				redis_link_disconnect(ac->link);
				fail_jobs(ac, err);
				timed_wait(ac, RETRY_MS);
			}
			continue;
		}
		if (!ac->njobs) {
			pthread_cond_wait(&ac->cv, &ac->mu);
			continue;
		}
		j = ac->jobs[ac->jhead];
		pthread_mutex_unlock(&ac->mu);
		rc = write_through(ac, &j, err, sizeof(err));
		pthread_mutex_lock(&ac->mu);
		ac->jhead = (ac->jhead + 1) % ADMIN_CRED_QUEUE;
		ac->njobs--;
		/* a refusal is final (500); anything else is Redis being away (503) */
		push_done(ac, &j, rc == 0 ? 0 : rc == -EPROTO ? -EIO : -EAGAIN, rc ? err : NULL);
		if (rc < 0 && rc != -EPROTO) {
			redis_link_disconnect(ac->link);
			fail_jobs(ac, err);
		}
		wake(ac);
	}
	pthread_mutex_unlock(&ac->mu);
	return NULL;
}

int admin_cred_open(const struct pnad_conf *c, uint32_t cap, int wake_fd, struct admin_cred **out,
		    char *err, size_t errlen)
{
	struct admin_cred *ac = calloc(1, sizeof(*ac));
	struct redis_link_conf lc;
	char name[64];
	int rc;

	if (!ac)
		abort();
	ac->wake_fd = wake_fd;
	ac->unlink_seg = c->unlink_on_exit;
	pthread_mutex_init(&ac->mu, NULL);
	pthread_cond_init(&ac->cv, NULL);
	snprintf(name, sizeof(name), "/%s.sipcred", c->name);
	if ((rc = sip_cred_open(name, cap, &ac->seg)) < 0) {
		log_buf(err, errlen, "%s: %s", name, strerror(-rc));
		goto err_free;
	}
	ac->loaded = true;
	if (strcmp(c->redis, "none") == 0) {
		*out = ac;
		return 0;
	}
	ac->redis = true;
	ac->loaded = false;
	snprintf(ac->key, sizeof(ac->key), "%s:sipcred", c->redis_prefix);
	lc = (struct redis_link_conf){ .addr = c->redis,
				       .cluster = strcmp(c->redis_cluster, "yes") == 0	? 1
						  : strcmp(c->redis_cluster, "no") == 0 ? 0
											: -1,
				       .timeout_ms = TIMEOUT_MS };
	if ((rc = redis_link_new(&lc, &ac->link)) < 0) {
		log_buf(err, errlen, "redis: bad address '%s'", c->redis);
		goto err_close;
	}
	ac->batch = redis_link_batch_new();
	if ((rc = -pthread_create(&ac->thread, NULL, thread_main, ac)) < 0) {
		log_buf(err, errlen, "credential thread: %s", strerror(-rc));
		goto err_close;
	}
	ac->started = true;
	*out = ac;
	return 0;
err_close:
	redis_link_batch_free(ac->batch);
	redis_link_free(ac->link);
	shm_seg_close(&ac->seg);
err_free:
	free(ac);
	return rc;
}

void admin_cred_close(struct admin_cred *ac)
{
	if (!ac)
		return;
	if (ac->started) {
		pthread_mutex_lock(&ac->mu);
		ac->stop = true;
		pthread_cond_signal(&ac->cv);
		pthread_mutex_unlock(&ac->mu);
		pthread_join(ac->thread, NULL);
	}
	redis_link_batch_free(ac->batch);
	redis_link_free(ac->link);
	free(ac->reload);
	if (ac->unlink_seg)
		shm_seg_unlink(ac->seg.name);
	shm_seg_close(&ac->seg);
	free(ac);
}

int admin_cred_submit(struct admin_cred *ac, int op, const struct sip_cred *c,
		      struct admin_http_ref ref)
{
	struct job j = { .op = op, .cred = *c, .ref = ref };

	pthread_mutex_lock(&ac->mu);
	if (ac->pending >= ADMIN_CRED_QUEUE) {
		pthread_mutex_unlock(&ac->mu);
		return -EAGAIN;
	}
	ac->pending++;
	if (!ac->redis) {
		push_done(ac, &j, 0, NULL);
	} else if (!ac->loaded) {
		push_done(ac, &j, -EAGAIN, "Redis unavailable: credentials not loaded yet");
	} else {
		ac->jobs[(ac->jhead + ac->njobs++) % ADMIN_CRED_QUEUE] = j;
		pthread_cond_signal(&ac->cv);
	}
	pthread_mutex_unlock(&ac->mu);
	return 0;
}

static void apply(struct admin_cred *ac, struct admin_cred_done *d)
{
	int rc;

	if (d->err)
		return;
	if (d->op == ADMIN_CRED_DEL) {
		sip_cred_del(&ac->seg, d->cred.user, d->cred.realm);
		return;
	}
	rc = sip_cred_put(&ac->seg, &d->cred);
	if (rc < 0) {
		d->err = rc;
		snprintf(d->reason, sizeof(d->reason),
			 "the SIP credential table is full (stored in Redis, not in use)");
	}
}

void admin_cred_poll(struct admin_cred *ac,
		     void (*done)(void *arg, const struct admin_cred_done *d), void *arg)
{
	struct admin_cred_done d[ADMIN_CRED_QUEUE];
	struct sip_cred *list = NULL;
	uint32_t n = 0, nlist = 0;
	bool rl;

	pthread_mutex_lock(&ac->mu);
	rl = ac->reload_ready;
	if (rl) {
		list = ac->reload;
		nlist = ac->nreload;
		ac->reload = NULL;
		ac->reload_ready = false;
	}
	while (ac->ndone) {
		d[n++] = ac->done[ac->dhead];
		ac->dhead = (ac->dhead + 1) % ADMIN_CRED_QUEUE;
		ac->ndone--;
	}
	ac->pending -= n;
	pthread_mutex_unlock(&ac->mu);
	if (rl) {
		sip_cred_clear(&ac->seg);
		for (uint32_t i = 0; i < nlist; i++)
			if (sip_cred_put(&ac->seg, &list[i]) < 0) {
				log_warn("SIP credential table full: %u of %u loaded", i, nlist);
				break;
			}
		free(list);
	}
	for (uint32_t i = 0; i < n; i++) {
		apply(ac, &d[i]);
		done(arg, &d[i]);
	}
}

const struct shm_seg *admin_cred_seg(const struct admin_cred *ac)
{
	return &ac->seg;
}
