/* admin_main: the admin process (forked by the supervisor): serves the
 * HTTP/2 admin API and /metrics. Read-only views come straight from the
 * segments; subscription and grant requests go to the owning shard over the
 * admin role's rings and are answered when the shard's last reply arrives
 * (504 after ADMIN_TIMEOUT_MS). */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin_api.h"
#include "admin/admin_cred.h"
#include "admin/admin_http.h"
#include "admin/admin_metrics.h"
#include "admin/admin_view.h"
#include "egress/sip/sip_dlg.h"
#include "egress/xmpp/xmpp_seg.h"
#include "lib/log.h"
#include "pnad/pnad_rt.h"
#include "shard/sub_chan.h"
#include "shard/sub_seg.h"
#include "shard/sub_table.h"

#define ADMIN_MAX_CONNS 256
#define ADMIN_INFLIGHT 4096 /* shard requests waiting at once */
#define ADMIN_TIMEOUT_MS 5000

/* A request sent to one shard or, for a list by subscriber, to every shard.
 * Its req_id is {generation: 32, index: 32}, so a late reply to a slot that
 * timed out and was reused is recognised and dropped. */
struct inflight {
	bool used;
	uint32_t gen;
	uint32_t op;	   /* enum sub_op */
	uint32_t waiting;  /* shards whose last reply has not come */
	int err;	   /* first failure (-errno), 0 */
	char reason[160];  /* its reason */
	uint64_t deadline; /* monotonic ms */
	struct admin_http_ref ref;
	struct json_object *items; /* list answers */
	struct grant grant;	   /* GRANT_ADD: echoed in the answer */
	char id[48];		   /* GET/REMOVE: the API id, for a 404 */
};

struct admin {
	struct pnad_rt *rt;
	struct admin_http *http;
	struct admin_self_stats st;
	struct inflight *inf;
	uint32_t *free_inf, nfree;
	struct admin_subs_view *subs;
	struct sub_table **tables;
	struct shm_seg sip;	 /* the SIP worker's segment, read-only (base NULL: none) */
	struct shm_seg xmpp;	 /* the XMPP worker's, likewise */
	struct admin_cred *cred; /* SIP digest credentials (NULL: no SIP worker) */
	bool chan;		 /* subscription segments and role eventfd present */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void answer_json(struct admin *a, struct admin_http_ref ref, int status,
			struct json_object *o)
{
	size_t len;
	char *body = admin_api_json_body(o, &len);

	admin_http_respond(a->http, ref, status, "application/json", body, len);
}

static void answer_error(struct admin *a, struct admin_http_ref ref, int status, const char *reason)
{
	size_t len;
	char *body = admin_api_error_body(reason, &len);

	admin_http_respond(a->http, ref, status, "application/json", body, len);
}

/* Read what the views need from the subscription segments. */
static void refresh_subs(struct admin *a)
{
	for (uint32_t i = 0; i < a->rt->nshards; i++) {
		const struct shm_seg *seg = &a->rt->shards[i].subs;
		const struct sub_seg *h = seg->base;
		struct admin_subs_view *v = &a->subs[i];

		memset(v, 0, sizeof(*v));
		if (!h || h->shm.magic != SHM_MAGIC || h->shm.kind != SUB_SEG_KIND ||
		    !__atomic_load_n(&h->shm.ready, __ATOMIC_ACQUIRE))
			continue;
		v->seg = h;
		if (!a->tables[i])
			a->tables[i] = sub_table_attach(sub_seg_table(seg));
		if (a->tables[i])
			sub_table_stats(a->tables[i], &v->table);
	}
}

/* The SIP worker's counters: its segment appears once it has started. */
static const struct sip_counters *sip_view(struct admin *a)
{
	char name[64];

	if (!a->sip.base && pnad_conf_sip_on(a->rt->conf)) {
		snprintf(name, sizeof(name), "/%s.sip", a->rt->conf->name);
		if (shm_seg_attach_ro(name, SIP_SEG_KIND, &a->sip) < 0)
			a->sip.base = NULL;
	}
	return a->sip.base ? &((const struct sip_seg *)a->sip.base)->c : NULL;
}

/* The XMPP worker's counters, likewise. */
static const struct xmpp_counters *xmpp_view(struct admin *a)
{
	char name[64];

	if (!a->xmpp.base && pnad_conf_xmpp_on(a->rt->conf)) {
		snprintf(name, sizeof(name), "/%s.xmpp", a->rt->conf->name);
		if (shm_seg_attach_ro(name, XMPP_SEG_KIND, &a->xmpp) < 0)
			a->xmpp.base = NULL;
	}
	return a->xmpp.base ? &((const struct xmpp_seg *)a->xmpp.base)->c : NULL;
}

static struct admin_views views(struct admin *a)
{
	refresh_subs(a);
	return (struct admin_views){ .rt = a->rt,
				     .subs = a->subs,
				     .sip = sip_view(a),
				     .xmpp = xmpp_view(a),
				     .sip_cred = a->cred ? admin_cred_seg(a->cred)->base : NULL };
}

/* ---- shard requests ---- */

static struct inflight *inflight_get(struct admin *a)
{
	struct inflight *f;

	if (!a->nfree)
		return NULL;
	f = &a->inf[a->free_inf[--a->nfree]];
	f->used = true;
	f->gen++;
	f->err = 0;
	f->reason[0] = '\0';
	f->id[0] = '\0';
	f->waiting = 0;
	f->items = NULL;
	f->deadline = mono_ms() + ADMIN_TIMEOUT_MS;
	a->st.inflight++;
	return f;
}

static void inflight_put(struct admin *a, struct inflight *f)
{
	json_object_put(f->items);
	f->items = NULL;
	f->used = false;
	a->free_inf[a->nfree++] = (uint32_t)(f - a->inf);
	a->st.inflight--;
}

static uint64_t req_id_of(const struct admin *a, const struct inflight *f)
{
	return (uint64_t)f->gen << 32 | (uint64_t)(f - a->inf);
}

static bool is_list(uint32_t op)
{
	return op == SUB_OP_LIST_SUBSCRIBER || op == SUB_OP_LIST_MAILBOX || op == SUB_OP_GRANT_LIST;
}

/* Send req (req_id and now filled here) to shard `shard`, or to every shard
 * when shard is UINT32_MAX. The answer goes to `ref` later. */
static void shard_call(struct admin *a, struct admin_http_ref ref, struct sub_req *req,
		       uint32_t shard, const char *id)
{
	uint32_t lo = shard == UINT32_MAX ? 0 : shard;
	uint32_t hi = shard == UINT32_MAX ? a->rt->nshards : shard + 1;
	struct inflight *f;

	if (!a->chan) {
		answer_error(a, ref, 503, "subscriptions are not available in this process");
		return;
	}
	f = inflight_get(a);
	if (!f) {
		answer_error(a, ref, 503, "too many shard requests in flight; retry");
		return;
	}
	f->ref = ref;
	f->op = req->op;
	f->grant = req->grant;
	snprintf(f->id, sizeof(f->id), "%s", id ? id : "");
	if (is_list(req->op))
		f->items = json_object_new_array();
	req->req_id = req_id_of(a, f);
	req->now = (uint32_t)time(NULL);
	for (uint32_t i = lo; i < hi; i++) {
		if (sub_chan_send(a->rt, SUB_ROLE_ADMIN, i, req) == 0) {
			f->waiting++;
		} else if (!f->err) {
			f->err = -EAGAIN;
			snprintf(f->reason, sizeof(f->reason),
				 "shard %u request queue is full; retry", i);
		}
	}
	if (!f->waiting) {
		answer_error(a, ref, 503, f->reason);
		inflight_put(a, f);
	}
}

static void finish(struct admin *a, struct inflight *f, const struct sub_rep *last, uint32_t shard)
{
	char why[200];
	struct json_object *o;
	const char *key;

	if (f->err) {
		if (f->reason[0])
			snprintf(why, sizeof(why), "%s", f->reason);
		else if (f->err == -ENOENT && f->id[0])
			snprintf(why, sizeof(why), "no subscription %s", f->id);
		else
			snprintf(why, sizeof(why), "%s", strerror(-f->err));
		answer_error(a, f->ref, admin_api_status_of(f->err), why);
		return;
	}
	switch (f->op) {
	case SUB_OP_ADD:
	case SUB_OP_GET:
		answer_json(a, f->ref, f->op == SUB_OP_ADD ? 201 : 200,
			    admin_api_sub_json(&last->spec, shard, (uint32_t)time(NULL)));
		return;
	case SUB_OP_GRANT_ADD:
		answer_json(a, f->ref, 201, admin_api_grant_json(&f->grant));
		return;
	case SUB_OP_REMOVE:
	case SUB_OP_GRANT_REMOVE:
		admin_http_respond(a->http, f->ref, 204, NULL, NULL, 0);
		return;
	}
	key = f->op == SUB_OP_GRANT_LIST ? "grants" : "subscriptions";
	o = json_object_new_object();
	json_object_object_add(o, key, f->items);
	f->items = NULL;
	answer_json(a, f->ref, 200, o);
}

static void on_reply(struct admin *a, const struct sub_rep *r, uint32_t shard)
{
	uint32_t idx = (uint32_t)r->req_id, gen = (uint32_t)(r->req_id >> 32);
	struct inflight *f = idx < ADMIN_INFLIGHT ? &a->inf[idx] : NULL;

	if (!f || !f->used || f->gen != gen)
		return; /* it timed out: already answered */
	if (r->status && !f->err) {
		f->err = r->status;
		snprintf(f->reason, sizeof(f->reason), "%s", r->reason);
	}
	if (r->flags & SUB_REP_MORE) {
		if (!f->err && f->items)
			json_object_array_add(f->items,
					      f->op == SUB_OP_GRANT_LIST
						      ? admin_api_grant_json(&r->grant)
						      : admin_api_sub_json(&r->spec, shard,
									   (uint32_t)time(NULL)));
		return;
	}
	if (--f->waiting)
		return;
	finish(a, f, r, shard);
	inflight_put(a, f);
}

static void drain_replies(struct admin *a)
{
	static struct sub_rep rep;
	uint32_t shard;

	if (!a->chan)
		return;
	do {
		while (sub_chan_recv(a->rt, SUB_ROLE_ADMIN, &rep, &shard))
			on_reply(a, &rep, shard);
	} while (!sub_chan_wait(a->rt, SUB_ROLE_ADMIN));
}

static void on_wake(void *arg)
{
	struct admin *a = arg;
	uint64_t v;

	(void)!read(a->rt->role_efd[SUB_ROLE_ADMIN], &v, sizeof(v));
	drain_replies(a);
}

static void cred_done(void *arg, const struct admin_cred_done *d)
{
	struct admin *a = arg;

	if (d->err)
		answer_error(a, d->ref, admin_api_status_of(d->err), d->reason);
	else if (d->op == ADMIN_CRED_PUT)
		answer_json(a, d->ref, 201, admin_api_cred_json(&d->cred));
	else
		admin_http_respond(a->http, d->ref, 204, NULL, NULL, 0);
}

static void on_tick(void *arg)
{
	struct admin *a = arg;
	uint64_t now = mono_ms();

	drain_replies(a);
	if (a->cred)
		admin_cred_poll(a->cred, cred_done, a);
	for (uint32_t i = 0; i < ADMIN_INFLIGHT; i++) {
		struct inflight *f = &a->inf[i];
		char why[96];

		if (!f->used || now < f->deadline)
			continue;
		snprintf(why, sizeof(why), "%s did not answer within %d s",
			 f->waiting > 1 ? "shards" : "the shard", ADMIN_TIMEOUT_MS / 1000);
		answer_error(a, f->ref, 504, why);
		a->st.timeouts++;
		inflight_put(a, f);
	}
}

/* ---- handlers ---- */

static void h_sub_create(struct admin *a, const struct admin_http_req *hr)
{
	struct sub_req req = { .op = SUB_OP_ADD };
	char err[200];

	if (admin_api_sub_parse(hr->body, hr->body_len, (uint32_t)time(NULL), &req.spec, err,
				sizeof(err)) < 0) {
		answer_error(a, hr->ref, 400, err);
		return;
	}
	shard_call(a, hr->ref, &req, sub_chan_shard_of(a->rt, req.spec.account), NULL);
}

static void h_sub_list(struct admin *a, const struct admin_http_req *hr, const char *q)
{
	struct sub_req req = { .op = SUB_OP_LIST_SUBSCRIBER };
	char arg[NAMES_KEY_MAX + NAMES_ACCOUNT_MAX + 2], err[200];
	bool acct;

	if (admin_api_query(q, "subscriber", req.spec.subscriber, sizeof(req.spec.subscriber)) >
	    0) {
		shard_call(a, hr->ref, &req, UINT32_MAX, NULL);
		return;
	}
	acct = admin_api_query(q, "mailbox", arg, sizeof(arg)) <= 0;
	if (acct && admin_api_query(q, "account", arg, sizeof(arg)) <= 0) {
		answer_error(a, hr->ref, 400, "give subscriber=, mailbox= or account=");
		return;
	}
	if (admin_api_mailbox_parse(arg, req.spec.account, req.spec.path, !acct, err, sizeof(err)) <
	    0) {
		answer_error(a, hr->ref, 400, err);
		return;
	}
	/* account=: every subscription of the account (root, subtree). */
	req.op = SUB_OP_LIST_MAILBOX;
	req.spec.depth = acct ? SUB_SUBTREE : SUB_EXACT;
	shard_call(a, hr->ref, &req, sub_chan_shard_of(a->rt, req.spec.account), NULL);
}

static void h_sub_id(struct admin *a, const struct admin_http_req *hr, const char *id, uint32_t op)
{
	struct sub_req req = { .op = op };
	uint32_t shard;
	char why[96];
	int rc = admin_api_id_parse(id, a->rt->nshards, &shard, &req.spec.id);

	if (rc < 0) {
		snprintf(why, sizeof(why), "%s%.40s",
			 rc == -ERANGE ? "no subscription " : "id: expected <shard>-<id>, got ",
			 id);
		answer_error(a, hr->ref, rc == -ERANGE ? 404 : 400, why);
		return;
	}
	shard_call(a, hr->ref, &req, shard, id);
}

static void h_grant(struct admin *a, const struct admin_http_req *hr, enum admin_route_kind k,
		    const char *q)
{
	struct sub_req req = { 0 };
	char err[200];
	int rc;

	if (k == ADMIN_R_GRANT_ADD) {
		req.op = SUB_OP_GRANT_ADD;
		rc = admin_api_grant_parse(hr->body, hr->body_len, &req.grant, err, sizeof(err));
	} else if (k == ADMIN_R_GRANT_DELETE) {
		req.op = SUB_OP_GRANT_REMOVE;
		rc = admin_api_grant_query(q, &req.grant, err, sizeof(err));
	} else {
		char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1];

		req.op = SUB_OP_GRANT_LIST;
		rc = admin_api_query(q, "account", acct, sizeof(acct)) > 0
			     ? admin_api_mailbox_parse(acct, req.grant.account, path, false, err,
						       sizeof(err))
			     : (snprintf(err, sizeof(err), "account: required query parameter"),
				-EINVAL);
	}
	if (rc < 0) {
		answer_error(a, hr->ref, 400, err);
		return;
	}
	shard_call(a, hr->ref, &req, sub_chan_shard_of(a->rt, req.grant.account), NULL);
}

static void h_cred(struct admin *a, const struct admin_http_req *hr, enum admin_route_kind k,
		   const char *arg)
{
	struct sip_cred c;
	char err[256];
	uint32_t pos = 0;
	struct json_object *o, *list;

	if (!a->cred) {
		answer_error(a, hr->ref, 404, "no SIP worker (sip_listen = none)");
		return;
	}
	if (k == ADMIN_R_CRED_LIST) {
		list = json_object_new_array();
		while (sip_cred_next(admin_cred_seg(a->cred)->base, &pos, &c))
			json_object_array_add(list, admin_api_cred_json(&c));
		o = json_object_new_object();
		json_object_object_add(o, "credentials", list);
		answer_json(a, hr->ref, 200, o);
		return;
	}
	if (admin_api_cred_parse(arg, k == ADMIN_R_CRED_PUT ? hr->body : NULL, hr->body_len, &c,
				 err, sizeof(err)) < 0) {
		answer_error(a, hr->ref, 400, err);
		return;
	}
	if (k == ADMIN_R_CRED_DELETE && sip_cred_get(admin_cred_seg(a->cred)->base, c.user, c.realm,
						     &(struct sip_cred){ 0 }) < 0) {
		snprintf(err, sizeof(err), "no SIP credential %s@%s", c.user, c.realm);
		answer_error(a, hr->ref, 404, err);
		return;
	}
	if (k == ADMIN_R_CRED_PUT && !sip_cred_fits(admin_cred_seg(a->cred), c.user, c.realm)) {
		answer_error(a, hr->ref, 507, "the SIP credential table is full (sip_credentials)");
		return;
	}
	if (admin_cred_submit(a->cred, k == ADMIN_R_CRED_PUT ? ADMIN_CRED_PUT : ADMIN_CRED_DEL, &c,
			      hr->ref) < 0)
		answer_error(a, hr->ref, 503, "too many credential changes in flight; retry");
	explicit_bzero(&c, sizeof(c));
}

static void h_mailbox(struct admin *a, const struct admin_http_req *hr, const char *arg,
		      bool account)
{
	char acct[NAMES_ACCOUNT_MAX + 1], path[NAMES_KEY_MAX + 1], err[400];
	struct admin_views v = views(a);
	struct json_object *o;

	if (admin_api_mailbox_parse(arg, acct, path, !account, err, sizeof(err)) < 0) {
		answer_error(a, hr->ref, 400, err);
		return;
	}
	if (!account && !path[0]) {
		answer_error(a, hr->ref, 400, "expected account/mailbox");
		return;
	}
	if (account) {
		answer_json(a, hr->ref, 200, admin_view_account(&v, acct));
		return;
	}
	if (admin_view_mailbox(&v, acct, path, &o) < 0) {
		snprintf(err, sizeof(err), "no mailbox %s/%s", acct, path);
		answer_error(a, hr->ref, 404, err);
		return;
	}
	answer_json(a, hr->ref, 200, o);
}

static void h_shards(struct admin *a, const struct admin_http_req *hr, const char *q)
{
	char arg[NAMES_ACCOUNT_MAX + 1], acct[NAMES_ACCOUNT_MAX + 1], path[8], err[200];
	struct admin_views v;
	struct json_object *o;

	if (admin_api_query(q, "account", arg, sizeof(arg)) == -ENOENT) {
		v = views(a);
		answer_json(a, hr->ref, 200, admin_view_shards(&v));
		return;
	}
	if (admin_api_mailbox_parse(arg, acct, path, false, err, sizeof(err)) < 0) {
		answer_error(a, hr->ref, 400, err);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "account", json_object_new_string(acct));
	json_object_object_add(o, "owner_shard",
			       json_object_new_uint64(admin_view_owner(a->rt, acct)));
	answer_json(a, hr->ref, 200, o);
}

static void h_metrics(struct admin *a, const struct admin_http_req *hr)
{
	struct admin_views v = views(a);
	struct admin_buf b = { 0 };

	admin_metrics_render(&v, &a->st, &b);
	admin_http_respond(a->http, hr->ref, 200, "text/plain; version=0.0.4; charset=utf-8", b.p,
			   b.len);
}

static void on_request(void *arg, const struct admin_http_req *hr)
{
	struct admin *a = arg;
	struct admin_route r;
	struct admin_views v;
	const char *why;
	int status = admin_api_route(hr->method, hr->path, &r, &why);

	if (status) {
		answer_error(a, hr->ref, status, why);
		return;
	}
	if (r.kind != ADMIN_R_HEALTHZ &&
	    !admin_api_bearer_ok(hr->authorization, a->rt->conf->admin_token)) {
		answer_error(a, hr->ref, 401,
			     hr->authorization ? "wrong bearer token" : "missing bearer token");
		return;
	}
	switch (r.kind) {
	case ADMIN_R_HEALTHZ:
		admin_http_respond(a->http, hr->ref, 200, "text/plain", strdup("ok\n"), 3);
		break;
	case ADMIN_R_METRICS:
		h_metrics(a, hr);
		break;
	case ADMIN_R_SUB_CREATE:
		h_sub_create(a, hr);
		break;
	case ADMIN_R_SUB_LIST:
		h_sub_list(a, hr, r.query);
		break;
	case ADMIN_R_SUB_GET:
	case ADMIN_R_SUB_DELETE:
		h_sub_id(a, hr, r.arg, r.kind == ADMIN_R_SUB_GET ? SUB_OP_GET : SUB_OP_REMOVE);
		break;
	case ADMIN_R_GRANT_ADD:
	case ADMIN_R_GRANT_DELETE:
	case ADMIN_R_GRANT_LIST:
		h_grant(a, hr, r.kind, r.query);
		break;
	case ADMIN_R_MAILBOX:
	case ADMIN_R_ACCOUNT:
		h_mailbox(a, hr, r.arg, r.kind == ADMIN_R_ACCOUNT);
		break;
	case ADMIN_R_SHARDS:
		h_shards(a, hr, r.query);
		break;
	case ADMIN_R_STATS:
		v = views(a);
		answer_json(a, hr->ref, 200, admin_view_stats(&v));
		break;
	case ADMIN_R_CRED_PUT:
	case ADMIN_R_CRED_DELETE:
	case ADMIN_R_CRED_LIST:
		h_cred(a, hr, r.kind, r.arg);
		break;
	}
}

static void admin_init(struct admin *a, struct pnad_rt *rt)
{
	memset(a, 0, sizeof(*a));
	a->rt = rt;
	a->inf = calloc(ADMIN_INFLIGHT, sizeof(*a->inf));
	a->free_inf = calloc(ADMIN_INFLIGHT, sizeof(*a->free_inf));
	a->subs = calloc(rt->nshards, sizeof(*a->subs));
	a->tables = calloc(rt->nshards, sizeof(*a->tables));
	if (!a->inf || !a->free_inf || !a->subs || !a->tables)
		abort();
	for (uint32_t i = ADMIN_INFLIGHT; i-- > 0;)
		a->free_inf[a->nfree++] = i;
	a->st.inflight_cap = ADMIN_INFLIGHT;
	a->chan = rt->role_efd[SUB_ROLE_ADMIN] > 0;
	for (uint32_t i = 0; i < rt->nshards; i++)
		a->chan = a->chan && rt->shards[i].subs.base;
}

static void admin_fini(struct admin *a)
{
	for (uint32_t i = 0; i < ADMIN_INFLIGHT; i++)
		if (a->inf[i].used)
			inflight_put(a, &a->inf[i]);
	for (uint32_t i = 0; i < a->rt->nshards; i++)
		sub_table_close(a->tables[i]);
	admin_http_close(a->http);
	admin_cred_close(a->cred);
	free(a->inf);
	free(a->free_inf);
	free(a->subs);
	free(a->tables);
	shm_seg_close(&a->sip);
	shm_seg_close(&a->xmpp);
}

int admin_main(struct pnad_rt *rt)
{
	const struct pnad_conf *c = rt->conf;
	struct admin_http_conf hc = { .listen = c->admin_listen,
				      .tls_cert = c->admin_tls_cert,
				      .tls_key = c->admin_tls_key,
				      .max_conns = ADMIN_MAX_CONNS };
	enum log_level level = LOG_INFO;
	static struct admin a;
	struct admin_http_hooks hooks = {
		.request = on_request, .wake = on_wake, .tick = on_tick, .arg = &a, .wake_fd = -1
	};
	char err[512];
	int rc;

	pnad_child_signals();
	log_level_parse(c->log_level, &level);
	log_init("admin", -1, level);
	admin_init(&a, rt);
	hc.stats = &a.st;
	rc = admin_http_open(&hc, &a.http, err, sizeof(err));
	if (rc < 0) {
		log_error("%s", err);
		admin_fini(&a);
		return 1;
	}
	if (a.chan)
		hooks.wake_fd = rt->role_efd[SUB_ROLE_ADMIN];
	else
		log_warn("no subscription segments: subscription requests answer 503");
	if (pnad_conf_sip_on(c) && admin_cred_open(c, (uint32_t)c->sip_credentials, hooks.wake_fd,
						   &a.cred, err, sizeof(err)) < 0) {
		log_error("%s", err);
		admin_fini(&a);
		return 1;
	}
	log_info("admin API on %s (%s)", c->admin_listen, c->admin_tls_cert[0] ? "h2" : "h2c");
	rc = admin_http_run(a.http, &hooks, &pnad_stopping);
	if (rc < 0)
		log_error("admin loop: %s", strerror(-rc));
	admin_fini(&a);
	return rc < 0 ? 1 : 0;
}
