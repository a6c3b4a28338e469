/* admin_view: mailbox, account, shard-map and stats views of the admin API,
 * read from the segments by the admin process. */
#include "admin/admin_view.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "lib/evrec.h"
#include "lib/hash.h"
#include "lib/ring.h"
#include "pna.pb-c.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_i64(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static const void *state_of(const struct pnad_rt *rt, uint32_t i)
{
	return shard_seg_state(&rt->shards[i].seg);
}

uint32_t admin_view_owner(const struct pnad_rt *rt, const char *account)
{
	return hash_jump(hash64(account, strlen(account)), rt->nshards);
}

int admin_view_mailbox(const struct admin_views *v, const char *acct, const char *path,
		       struct json_object **out)
{
	const struct pnad_rt *rt = v->rt;
	struct shard_mailbox mb, found = { .uidvalidity = 0 };
	struct json_object *o, *on = json_object_new_array();
	char key[NAMES_ACCOUNT_MAX + NAMES_KEY_MAX + 2];

	/* Look on every shard, not only the owner: see the header. */
	for (uint32_t i = 0; i < rt->nshards; i++) {
		if (shard_state_get(state_of(rt, i), acct, path, &mb) == 0) {
			json_object_array_add(on, json_object_new_uint64(i));
			found = mb;
		}
	}
	if (!json_object_array_length(on)) {
		json_object_put(on);
		return -ENOENT;
	}
	o = json_object_new_object();
	snprintf(key, sizeof(key), "%s/%s", acct, path);
	add_str(o, "mailbox", key);
	add_str(o, "account", acct);
	add_str(o, "path", path);
	add_u64(o, "owner_shard", admin_view_owner(rt, acct));
	json_object_object_add(o, "shards", on);
	add_u64(o, "uidvalidity", found.uidvalidity);
	add_u64(o, "uidnext", found.uidnext);
	add_u64(o, "messages", found.messages);
	add_u64(o, "unseen", found.unseen);
	add_u64(o, "modseq", found.modseq);
	add_u64(o, "events", found.events);
	add_str(o, "last_event", evrec_type_name(found.last_type));
	*out = o;
	return 0;
}

struct acct_walk {
	struct json_object *list;
	uint32_t shard;
};

static int walk_one(const struct shard_mailbox *mb, void *arg)
{
	struct acct_walk *w = arg;
	struct json_object *o = json_object_new_object();

	add_str(o, "path", mb->path);
	add_u64(o, "shard", w->shard);
	add_u64(o, "messages", mb->messages);
	add_u64(o, "unseen", mb->unseen);
	add_u64(o, "uidnext", mb->uidnext);
	add_u64(o, "uidvalidity", mb->uidvalidity);
	add_u64(o, "events", mb->events);
	json_object_array_add(w->list, o);
	return 0;
}

struct json_object *admin_view_account(const struct admin_views *v, const char *acct)
{
	struct json_object *o = json_object_new_object();
	struct acct_walk w = { .list = json_object_new_array() };

	add_str(o, "account", acct);
	add_u64(o, "owner_shard", admin_view_owner(v->rt, acct));
	for (w.shard = 0; w.shard < v->rt->nshards; w.shard++)
		shard_state_foreach(state_of(v->rt, w.shard), acct, walk_one, &w);
	json_object_object_add(o, "mailboxes", w.list);
	return o;
}

static const struct admin_subs_view *subs_of(const struct admin_views *v, uint32_t i)
{
	return v->subs && v->subs[i].seg ? &v->subs[i] : NULL;
}

/* The subscription side of shard i, for the shard map and the stats; the
 * names are struct sub_counters' (integration tests sum "shard.N.<name>"). */
static void add_subs(struct json_object *n, const struct admin_subs_view *s)
{
	const struct sub_counters *c = &s->seg->c;

	add_u64(n, "subscriptions", s->table.count);
	add_u64(n, "subscription_capacity", s->table.capacity);
	add_u64(n, "matches", rd(&c->matches));
	add_u64(n, "notes", rd(&c->notes));
	add_u64(n, "coalesced", rd(&c->coalesced));
	add_u64(n, "job_ring_full", rd(&c->job_ring_full));
	add_u64(n, "heartbeats", rd(&c->heartbeats));
	add_u64(n, "expired", rd(&c->expired));
	add_u64(n, "ended", rd(&c->ended));
	add_u64(n, "sieve", rd(&c->sieve));
	add_u64(n, "requests", rd(&c->requests));
	add_u64(n, "denied", rd(&c->denied));
	add_u64(n, "refused_full", rd(&c->refused_full));
	add_u64(n, "reloads", rd(&c->reloads));
	add_u64(n, "reloaded_subs", rd(&c->reloaded_subs));
	add_u64(n, "reloaded_grants", rd(&c->reloaded_grants));
	add_u64(n, "persist_written", rd(&c->persist_written));
	add_u64(n, "persist_errors", rd(&c->persist_errors));
	add_u64(n, "redis_up", __atomic_load_n(&c->redis_up, __ATOMIC_RELAXED));
	add_u64(n, "loaded", __atomic_load_n(&c->loaded, __ATOMIC_RELAXED));
	add_u64(n, "string_bytes", s->table.string_bytes_used);
	add_u64(n, "string_bytes_capacity", s->table.string_bytes_cap);
}

struct json_object *admin_view_shards(const struct admin_views *v)
{
	struct json_object *o = json_object_new_object(), *list = json_object_new_array();

	for (uint32_t i = 0; i < v->rt->nshards; i++) {
		const struct shm_seg *seg = &v->rt->shards[i].seg;
		const struct shard_seg *h = shard_seg_of(seg);
		struct json_object *s = json_object_new_object();

		add_u64(s, "index", i);
		add_i64(s, "pid", __atomic_load_n(&h->pid, __ATOMIC_RELAXED));
		add_u64(s, "mailboxes", shard_state_count(state_of(v->rt, i)));
		add_u64(s, "mailbox_capacity", shard_state_capacity(state_of(v->rt, i)));
		add_u64(s, "ring_used", ring_used(shard_seg_ring(seg)));
		add_u64(s, "ring_bytes", h->ring_bytes);
		add_u64(s, "restarts", rd(&h->c.restarts));
		if (subs_of(v, i))
			add_subs(s, subs_of(v, i));
		json_object_array_add(list, s);
	}
	add_u64(o, "count", v->rt->nshards);
	json_object_object_add(o, "shards", list);
	return o;
}

static struct json_object *router_stats(const struct router_seg *r)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();

	add_i64(o, "pid", __atomic_load_n(&r->pid, __ATOMIC_RELAXED));
	add_u64(o, "accepted", rd(&r->c.accepted));
	add_u64(o, "refused", rd(&r->c.refused));
	add_u64(o, "open", rd(&r->c.open));
	add_u64(o, "frames", rd(&r->c.frames));
	add_u64(o, "events", rd(&r->c.events));
	add_u64(o, "bytes", rd(&r->c.bytes));
	add_u64(o, "acks", rd(&r->c.acks));
	add_u64(o, "backpressure", rd(&r->c.backpressure));
	for (unsigned i = 1; i < ROUTER_NERR; i++) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(&pna__error_code__descriptor, (int)i);

		if (ev)
			add_u64(e, ev->name, rd(&r->c.errors[i]));
	}
	json_object_object_add(o, "errors", e);
	return o;
}

static struct json_object *store_stats(const struct router_seg *r)
{
	struct json_object *o = json_object_new_object();

	for (uint32_t i = 0; i < r->nstores && i < PNAD_MAX_STORES; i++) {
		const struct router_store *s = &r->stores[i];
		struct json_object *so = json_object_new_object();

		add_u64(so, "last_seq", rd(&s->last_seq));
		add_u64(so, "events", rd(&s->events));
		add_u64(so, "duplicates", rd(&s->duplicates));
		add_u64(so, "gaps", rd(&s->gaps));
		add_u64(so, "connected", __atomic_load_n(&s->connected, __ATOMIC_RELAXED));
		json_object_object_add(o, s->id, so);
	}
	return o;
}

static struct json_object *shard_stats(const struct admin_views *v, uint32_t i)
{
	const struct shm_seg *seg = &v->rt->shards[i].seg;
	const struct shard_seg *h = shard_seg_of(seg);
	struct json_object *o = json_object_new_object();

	add_i64(o, "pid", __atomic_load_n(&h->pid, __ATOMIC_RELAXED));
	add_u64(o, "events_applied", rd(&h->c.events_applied));
	add_u64(o, "events_replayed", rd(&h->c.events_replayed));
	add_u64(o, "events_no_state", rd(&h->c.events_no_state));
	add_u64(o, "table_full", rd(&h->c.table_full));
	add_u64(o, "restarts", rd(&h->c.restarts));
	add_u64(o, "mailboxes", shard_state_count(state_of(v->rt, i)));
	add_u64(o, "mailbox_capacity", shard_state_capacity(state_of(v->rt, i)));
	add_u64(o, "ring_used", ring_used(shard_seg_ring(seg)));
	add_u64(o, "ring_bytes", h->ring_bytes);
	if (subs_of(v, i))
		add_subs(o, subs_of(v, i));
	return o;
}

struct json_object *admin_view_stats(const struct admin_views *v)
{
	const struct router_seg *r = router_seg_of(&v->rt->router_seg);
	struct json_object *o = json_object_new_object(), *sh = json_object_new_array();

	add_u64(o, "shards", v->rt->nshards);
	json_object_object_add(o, "router", router_stats(r));
	json_object_object_add(o, "store", store_stats(r));
	for (uint32_t i = 0; i < v->rt->nshards; i++)
		json_object_array_add(sh, shard_stats(v, i));
	json_object_object_add(o, "shard", sh);
	return o;
}
