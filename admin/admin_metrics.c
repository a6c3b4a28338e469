/* admin_metrics: the Prometheus exposition of pnad's counters, sizes and
 * capacities, rendered by the admin process from the shared segments. */
#include "admin/admin_metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egress/sip/sip_cred.h"
#include "egress/sip/sip_dlg.h"
#include "egress/xmpp/xmpp_seg.h"
#include "lib/ring.h"
#include "pna.pb-c.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"
#include "shard/shard_state.h"

void admin_buf_printf(struct admin_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (b->p && b->len + (size_t)n < b->cap)
			break;
		b->cap = b->cap ? b->cap * 2 : 16384;
		if (b->cap < b->len + (size_t)n + 1)
			b->cap = b->len + (size_t)n + 1;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	b->len += (size_t)n;
}

void admin_prom_family(struct admin_buf *b, const char *name, const char *type, const char *help)
{
	admin_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void admin_prom_sample(struct admin_buf *b, const char *name, const char *labels, uint64_t v)
{
	if (labels && labels[0])
		admin_buf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		admin_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void admin_prom_escape(const char *v, char *out, size_t cap)
{
	size_t o = 0;

	for (; *v; v++) {
		bool esc = *v == '\\' || *v == '"' || *v == '\n';

		if (o + (esc ? 2 : 1) >= cap)
			break;
		if (esc) {
			out[o++] = '\\';
			out[o++] = *v == '\n' ? 'n' : *v;
		} else {
			out[o++] = *v;
		}
	}
	out[o] = '\0';
}

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t rd32(const void *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

/* One family with a single unlabelled sample. */
static void one(struct admin_buf *b, const char *name, const char *type, const char *help,
		uint64_t v)
{
	admin_prom_family(b, name, type, help);
	admin_prom_sample(b, name, "", v);
}

#define RC(f) offsetof(struct router_counters, f)

static const struct {
	const char *name, *type, *help;
	size_t off;
} router_rows[] = {
	{ "pnad_router_connections_accepted_total", "counter", "Ingest connections accepted.",
	  RC(accepted) },
	{ "pnad_router_connections_refused_total", "counter",
	  "Ingest connections refused at max_connections.", RC(refused) },
	{ "pnad_router_connections_open", "gauge", "Ingest connections open.", RC(open) },
	{ "pnad_router_frames_total", "counter", "Ingest frames decoded.", RC(frames) },
	{ "pnad_router_events_total", "counter", "Events pushed into shard rings.", RC(events) },
	{ "pnad_router_received_bytes_total", "counter", "Ingest bytes received.", RC(bytes) },
	{ "pnad_router_acks_total", "counter", "Ack frames sent.", RC(acks) },
	{ "pnad_router_backpressure_total", "counter",
	  "Times a connection paused on a full shard ring.", RC(backpressure) },
};

static void render_router(const struct admin_views *v, struct admin_buf *b)
{
	const struct router_seg *r = router_seg_of(&v->rt->router_seg);
	const char *n = "pnad_router_error_frames_total";

	one(b, "pnad_router_up", "gauge", "1 while a router process runs.",
	    __atomic_load_n(&r->pid, __ATOMIC_RELAXED) > 0);
	for (size_t i = 0; i < sizeof(router_rows) / sizeof(router_rows[0]); i++)
		one(b, router_rows[i].name, router_rows[i].type, router_rows[i].help,
		    rd((const uint64_t *)((const char *)&r->c + router_rows[i].off)));
	admin_prom_family(b, n, "counter", "Error frames sent to mail stores, by code.");
	for (unsigned e = 1; e < ROUTER_NERR; e++) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(&pna__error_code__descriptor, (int)e);
		char l[96];

		if (!ev)
			continue;
		snprintf(l, sizeof(l), "code=\"%s\"", ev->name);
		admin_prom_sample(b, n, l, rd(&r->c.errors[e]));
	}
	one(b, "pnad_router_connections_max", "gauge", "Configured max_connections.",
	    (uint64_t)v->rt->conf->max_connections);
	one(b, "pnad_router_frame_max_bytes", "gauge", "Configured max_frame.",
	    (uint64_t)v->rt->conf->max_frame);
}

#define RS(f) offsetof(struct router_store, f)

static const struct {
	const char *name, *type, *help;
	size_t off;
	bool u32;
} store_rows[] = {
	{ "pnad_store_last_seq", "gauge", "Highest sequence number handed to a shard.",
	  RS(last_seq), false },
	{ "pnad_store_events_total", "counter", "Events accepted from the store.", RS(events),
	  false },
	{ "pnad_store_duplicates_total", "counter", "Events at or below last_seq, dropped.",
	  RS(duplicates), false },
	{ "pnad_store_gaps_total", "counter", "Batches starting past last_seq + 1.", RS(gaps),
	  false },
	{ "pnad_store_connected", "gauge", "1 while the store has a session.", RS(connected),
	  true },
};

static void render_stores(const struct admin_views *v, struct admin_buf *b)
{
	const struct router_seg *r = router_seg_of(&v->rt->router_seg);
	uint32_t n = r->nstores < PNAD_MAX_STORES ? r->nstores : PNAD_MAX_STORES;

	for (size_t k = 0; k < sizeof(store_rows) / sizeof(store_rows[0]); k++) {
		admin_prom_family(b, store_rows[k].name, store_rows[k].type, store_rows[k].help);
		for (uint32_t i = 0; i < n; i++) {
			const char *f = (const char *)&r->stores[i] + store_rows[k].off;
			char id[2 * PNAD_STORE_ID_MAX], l[sizeof(id) + 16];

			admin_prom_escape(r->stores[i].id, id, sizeof(id));
			snprintf(l, sizeof(l), "store=\"%s\"", id);
			admin_prom_sample(b, store_rows[k].name, l,
					  store_rows[k].u32 ? rd32(f) : rd((const uint64_t *)f));
		}
	}
}

/* Values per shard: a counter of struct shard_counters or sub_counters (by
 * offset), or a computed size. */
enum src { SHARD_C, SUB_C, SUB_C32, CALC };

enum calc {
	C_UP,
	C_MAILBOXES,
	C_MAILBOX_CAP,
	C_RING_USED,
	C_RING_CAP,
	C_SUBS,
	C_SUBS_CAP,
	C_STR,
	C_STR_CAP,
	C_OUTBOX_USED,
	C_OUTBOX_CAP,
};

struct shard_row {
	const char *name, *type, *help;
	enum src src;
	size_t off; /* offset, or enum calc */
};

#define SC(f) SHARD_C, offsetof(struct shard_counters, f)
#define BC(f) SUB_C, offsetof(struct sub_counters, f)
#define BC32(f) SUB_C32, offsetof(struct sub_counters, f)

static const struct shard_row shard_rows[] = {
	{ "pnad_shard_up", "gauge", "1 while the shard process runs.", CALC, C_UP },
	{ "pnad_shard_events_applied_total", "counter",
	  "Events that changed or confirmed mailbox state.", SC(events_applied) },
	{ "pnad_shard_events_replayed_total", "counter",
	  "Events skipped after a restart: already applied.", SC(events_replayed) },
	{ "pnad_shard_events_no_state_total", "counter",
	  "Events with no mailbox state (Login, Quota...).", SC(events_no_state) },
	{ "pnad_shard_mailbox_table_full_total", "counter",
	  "Mailbox creations refused: table full.", SC(table_full) },
	{ "pnad_shard_restarts_total", "counter", "Attaches of a shard process.", SC(restarts) },
	{ "pnad_shard_mailboxes", "gauge", "Mailboxes in the state table.", CALC, C_MAILBOXES },
	{ "pnad_shard_mailbox_capacity", "gauge", "Mailboxes the state table holds.", CALC,
	  C_MAILBOX_CAP },
	{ "pnad_shard_ring_used_bytes", "gauge", "Bytes waiting in the router->shard ring.", CALC,
	  C_RING_USED },
	{ "pnad_shard_ring_capacity_bytes", "gauge", "Bytes of the router->shard ring.", CALC,
	  C_RING_CAP },
};

static const struct shard_row sub_rows[] = {
	{ "pnad_subscriptions", "gauge", "Subscriptions in the table.", CALC, C_SUBS },
	{ "pnad_subscription_capacity", "gauge", "Subscriptions the table holds.", CALC,
	  C_SUBS_CAP },
	{ "pnad_sub_string_bytes", "gauge", "Bytes in use in the interned-string pool.", CALC,
	  C_STR },
	{ "pnad_sub_string_capacity_bytes", "gauge", "Bytes of the interned-string pool.", CALC,
	  C_STR_CAP },
	{ "pnad_sub_outbox_used_bytes", "gauge", "Bytes of changes waiting for Redis.", CALC,
	  C_OUTBOX_USED },
	{ "pnad_sub_outbox_capacity_bytes", "gauge", "Bytes of the Redis outbox.", CALC,
	  C_OUTBOX_CAP },
	{ "pnad_sub_matches_total", "counter", "Event x subscription matches.", BC(matches) },
	{ "pnad_sub_notes_total", "counter", "Notification jobs handed to egress workers.",
	  BC(notes) },
	{ "pnad_sub_coalesced_total", "counter", "Matches folded into a pending notification.",
	  BC(coalesced) },
	{ "pnad_sub_job_ring_full_total", "counter",
	  "Notifications left pending: the job ring was full.", BC(job_ring_full) },
	{ "pnad_sub_heartbeats_total", "counter", "Heartbeats due.", BC(heartbeats) },
	{ "pnad_sub_expired_total", "counter", "Subscriptions expired.", BC(expired) },
	{ "pnad_sub_ended_total", "counter",
	  "Subscriptions ended: their mailbox was deleted or renamed.", BC(ended) },
	{ "pnad_sub_sieve_total", "counter", "Targeted (Sieve) notifications handed on.",
	  BC(sieve) },
	{ "pnad_sub_requests_total", "counter", "Client requests served by the shard.",
	  BC(requests) },
	{ "pnad_sub_denied_total", "counter", "Subscriptions refused by authorization.",
	  BC(denied) },
	{ "pnad_sub_refused_full_total", "counter",
	  "Subscriptions refused: table, strings or outbox full.", BC(refused_full) },
	{ "pnad_sub_reloads_total", "counter", "Cold starts that loaded Redis.", BC(reloads) },
	{ "pnad_sub_reloaded_subscriptions_total", "counter",
	  "Subscriptions loaded from Redis at cold starts.", BC(reloaded_subs) },
	{ "pnad_sub_reloaded_grants_total", "counter", "Grants loaded from Redis at cold starts.",
	  BC(reloaded_grants) },
	{ "pnad_sub_persist_written_total", "counter", "Outbox records Redis acknowledged.",
	  BC(persist_written) },
	{ "pnad_sub_persist_errors_total", "counter", "Redis failures (each retried).",
	  BC(persist_errors) },
	{ "pnad_sub_redis_up", "gauge", "1 while the shard's Redis writer is connected.",
	  BC32(redis_up) },
	{ "pnad_sub_loaded", "gauge", "1 once the subscription table is complete.", BC32(loaded) },
};

static uint64_t calc(const struct admin_views *v, uint32_t i, enum calc c)
{
	const struct shm_seg *seg = &v->rt->shards[i].seg;
	const struct admin_subs_view *s = v->subs ? &v->subs[i] : NULL;

	switch (c) {
	case C_UP:
		return __atomic_load_n(&shard_seg_of(seg)->pid, __ATOMIC_RELAXED) > 0;
	case C_MAILBOXES:
		return shard_state_count(shard_seg_state(seg));
	case C_MAILBOX_CAP:
		return shard_state_capacity(shard_seg_state(seg));
	case C_RING_USED:
		return ring_used(shard_seg_ring(seg));
	case C_RING_CAP:
		return shard_seg_of(seg)->ring_bytes;
	case C_SUBS:
		return s->table.count;
	case C_SUBS_CAP:
		return s->table.capacity;
	case C_STR:
		return s->table.string_bytes_used;
	case C_STR_CAP:
		return s->table.string_bytes_cap;
	case C_OUTBOX_USED:
		return ring_used(sub_seg_outbox(&v->rt->shards[i].subs));
	case C_OUTBOX_CAP:
		return s->seg->outbox_bytes;
	}
	return 0;
}

static uint64_t value(const struct admin_views *v, uint32_t i, const struct shard_row *row)
{
	switch (row->src) {
	case SHARD_C:
		return rd((const uint64_t *)((const char *)&shard_seg_of(&v->rt->shards[i].seg)->c +
					     row->off));
	case SUB_C:
		return rd((const uint64_t *)((const char *)&v->subs[i].seg->c + row->off));
	case SUB_C32:
		return rd32((const char *)&v->subs[i].seg->c + row->off);
	case CALC:
		break;
	}
	return calc(v, i, (enum calc)row->off);
}

/* One family per row, one sample per shard (subscription rows only for
 * shards whose subscription segment is mapped). */
static void render_rows(const struct admin_views *v, const struct shard_row *rows, size_t n,
			bool subs, struct admin_buf *b)
{
	for (size_t k = 0; k < n; k++) {
		admin_prom_family(b, rows[k].name, rows[k].type, rows[k].help);
		for (uint32_t i = 0; i < v->rt->nshards; i++) {
			char l[32];

			if (subs && !(v->subs && v->subs[i].seg))
				continue;
			snprintf(l, sizeof(l), "shard=\"%u\"", i);
			admin_prom_sample(b, rows[k].name, l, value(v, i, &rows[k]));
		}
	}
}

static void render_job_rings(const struct admin_views *v, struct admin_buf *b)
{
	static const char *const tn[] = { "sip", "xmpp" };
	static const char *const used = "pnad_sub_job_ring_used_bytes";
	static const char *const cap = "pnad_sub_job_ring_capacity_bytes";

	admin_prom_family(b, used, "gauge", "Bytes of jobs waiting for an egress transport.");
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			admin_prom_family(b, cap, "gauge", "Bytes of each egress job ring.");
		for (uint32_t i = 0; i < v->rt->nshards; i++) {
			const struct admin_subs_view *s = v->subs ? &v->subs[i] : NULL;

			for (unsigned t = 0; s && s->seg && t < 2; t++) {
				char l[48];

				snprintf(l, sizeof(l), "shard=\"%u\",transport=\"%s\"", i, tn[t]);
				admin_prom_sample(
					b, pass ? cap : used, l,
					pass ? s->seg->job_ring_bytes
					     : ring_used(sub_seg_jobs(&v->rt->shards[i].subs,
								      t ? SUB_XMPP : SUB_SIP)));
			}
		}
	}
}

static void render_self(const struct admin_self_stats *s, struct admin_buf *b)
{
	const char *n = "pnad_admin_responses_total";

	one(b, "pnad_admin_connections_accepted_total", "counter",
	    "Admin API connections accepted.", s->conns_accepted);
	one(b, "pnad_admin_connections_refused_total", "counter",
	    "Admin API connections refused: no free slot.", s->conns_refused);
	one(b, "pnad_admin_connections_open", "gauge", "Admin API connections open.",
	    s->conns_open);
	one(b, "pnad_admin_requests_total", "counter", "Admin API requests received.", s->requests);
	admin_prom_family(b, n, "counter", "Admin API responses, by status class.");
	for (unsigned c = 1; c < 6; c++) {
		char l[16];

		snprintf(l, sizeof(l), "code=\"%uxx\"", c);
		admin_prom_sample(b, n, l, s->responses[c]);
	}
	one(b, "pnad_admin_shard_timeouts_total", "counter",
	    "Shard requests that got no answer in time (504).", s->timeouts);
	one(b, "pnad_admin_inflight", "gauge", "Shard requests waiting for their answer.",
	    s->inflight);
	one(b, "pnad_admin_inflight_capacity", "gauge", "Shard requests that may wait at once.",
	    s->inflight_cap);
}

#define SIPC(f) offsetof(struct sip_counters, f)

static const struct {
	const char *name, *type, *help;
	size_t off;
} sip_rows[] = {
	{ "pnad_sip_requests_total", "counter", "SIP requests received.", SIPC(requests) },
	{ "pnad_sip_responses_received_total", "counter", "SIP responses received.",
	  SIPC(responses_in) },
	{ "pnad_sip_notifies_total", "counter", "NOTIFY transactions started.",
	  SIPC(notifies_sent) },
	{ "pnad_sip_notify_retransmits_total", "counter", "NOTIFYs resent by Timer E.",
	  SIPC(notify_retransmits) },
	{ "pnad_sip_notify_ok_total", "counter", "NOTIFYs answered 2xx.", SIPC(notify_ok) },
	{ "pnad_sip_notify_failures_total", "counter", "NOTIFYs that failed or timed out.",
	  SIPC(notify_failures) },
	{ "pnad_sip_notify_retries_total", "counter", "NOTIFYs sent again after 408 or 5xx.",
	  SIPC(notify_retries) },
	{ "pnad_sip_removed_total", "counter",
	  "Subscriptions removed after a 481 (and the like) or Timer F.",
	  SIPC(removed_by_failure) },
	{ "pnad_sip_malformed_total", "counter", "SIP messages refused as malformed.",
	  SIPC(malformed) },
	{ "pnad_sip_auth_challenges_total", "counter", "401 challenges sent.",
	  SIPC(auth_challenges) },
	{ "pnad_sip_forbidden_total", "counter", "403 sent.", SIPC(forbidden) },
	{ "pnad_sip_messages_total", "counter", "MESSAGE requests sent (Sieve).",
	  SIPC(messages_sent) },
	{ "pnad_sip_busy_total", "counter", "Requests refused: a preallocated table was full.",
	  SIPC(busy) },
	{ "pnad_sip_auth_ok_total", "counter", "Digest responses accepted.", SIPC(auth_ok) },
	{ "pnad_sip_auth_failures_total", "counter",
	  "Digest responses refused (wrong, unknown user, bad algorithm).", SIPC(auth_failures) },
	{ "pnad_sip_tls_accepted_total", "counter", "TLS handshakes completed.",
	  SIPC(tls_accepted) },
	{ "pnad_sip_tls_handshake_failures_total", "counter",
	  "TLS handshakes that failed or timed out.", SIPC(tls_handshake_failures) },
	{ "pnad_sip_tls_trusted_total", "counter",
	  "TLS clients whose certificate is in sip_tls_trusted.", SIPC(tls_trusted) },
	{ "pnad_sip_tcp_open", "gauge", "SIP TCP and TLS connections open.", SIPC(tcp_open) },
	{ "pnad_sip_dialogs", "gauge", "SIP dialogs in use.", SIPC(dialogs) },
	{ "pnad_sip_retransmissions_absorbed_total", "counter",
	  "SUBSCRIBE retransmissions answered with their transaction's response.",
	  SIPC(retransmissions_absorbed) },
	{ "pnad_sip_dialogs_swept_total", "counter",
	  "SIP dialogs dropped by the sweep: their subscription was gone.", SIPC(dialogs_swept) },
	{ "pnad_sip_jobs_empty_total", "counter",
	  "Note jobs with nothing left to take (delivered with an earlier NOTIFY, or gone).",
	  SIPC(jobs_empty) },
	{ "pnad_sip_notify_folded_total", "counter",
	  "Notes folded into the NOTIFY that follows the one in flight on their dialog.",
	  SIPC(notify_folded) },
	{ "pnad_sip_auth_stale_total", "counter",
	  "Right digest answers to an expired or unknown nonce (401 stale=true).",
	  SIPC(auth_stale) },
	{ "pnad_sip_auth_replays_total", "counter",
	  "Right digest answers whose nonce count was already used (401 stale=true).",
	  SIPC(auth_replays) },
	{ "pnad_sip_auth_uri_mismatch_total", "counter",
	  "Digest answers whose uri is not the Request-URI (400).", SIPC(auth_uri_mismatch) },
	{ "pnad_sip_auth_nonces_evicted_total", "counter",
	  "Digest nonces forgotten within their lifetime: the nonce table was full.",
	  SIPC(auth_nonces_evicted) },
	{ "pnad_sip_udp_dropped_total", "counter",
	  "UDP datagrams the kernel refused to send (socket buffer full, no route).",
	  SIPC(udp_dropped) },
	{ "pnad_sip_udp_grouped_total", "counter",
	  "UDP datagrams sent in a GSO group (one send for equal-length datagrams to a peer).",
	  SIPC(udp_grouped) },
	{ "pnad_sip_udp_coalesced_reads_total", "counter",
	  "UDP reads that held several datagrams of one peer, coalesced by the kernel (GRO).",
	  SIPC(udp_coalesced_reads) },
	{ "pnad_sip_lazy_waits_total", "counter",
	  "Sleeps on the jobs alone while NOTIFYs were out: their answers waited for the next jobs "
	  "or 2 ms.",
	  SIPC(lazy_waits) },
};

/* The SIP worker: one process, so no labels. */
static void render_sip(const struct sip_counters *c, struct admin_buf *b)
{
	for (size_t i = 0; i < sizeof(sip_rows) / sizeof(sip_rows[0]); i++)
		one(b, sip_rows[i].name, sip_rows[i].type, sip_rows[i].help,
		    rd((const uint64_t *)((const char *)c + sip_rows[i].off)));
}

#define XC(f) offsetof(struct xmpp_counters, f)

static const struct {
	const char *name, *type, *help;
	size_t off;
} xmpp_rows[] = {
	{ "pnad_xmpp_link_up", "gauge", "1 while the XEP-0114 component link is attached.",
	  XC(link_up) },
	{ "pnad_xmpp_connects_total", "counter", "Component links that completed the handshake.",
	  XC(connects) },
	{ "pnad_xmpp_disconnects_total", "counter",
	  "Component links lost or closed (each followed by a reconnect).", XC(disconnects) },
	{ "pnad_xmpp_malformed_total", "counter", "Streams closed for malformed or restricted XML.",
	  XC(malformed) },
	{ "pnad_xmpp_stream_errors_total", "counter", "Stream errors received from the server.",
	  XC(stream_errors) },
	{ "pnad_xmpp_stanzas_received_total", "counter", "Stanzas received on the link.",
	  XC(stanzas_in) },
	{ "pnad_xmpp_stanzas_ignored_total", "counter", "Received stanzas needing no action.",
	  XC(ignored) },
	{ "pnad_xmpp_requests_total", "counter",
	  "Subscribe, unsubscribe and options requests sent to the shards.", XC(requests) },
	{ "pnad_xmpp_subscribes_ok_total", "counter", "Subscribe requests accepted.",
	  XC(subscribes_ok) },
	{ "pnad_xmpp_subscribes_refused_total", "counter",
	  "Subscribe requests refused (by the shard, or queues full).", XC(subscribes_refused) },
	{ "pnad_xmpp_notifications_total", "counter", "Pubsub notifications sent.", XC(notes) },
	{ "pnad_xmpp_states_total", "counter",
	  "Current-state items sent after a subscribe's result.", XC(states) },
	{ "pnad_xmpp_sieve_messages_total", "counter", "Sieve messages sent.", XC(sieve) },
	{ "pnad_xmpp_sieve_bad_total", "counter", "Sieve notifications without a usable JID.",
	  XC(sieve_bad) },
	{ "pnad_xmpp_ended_total", "counter", "Subscription-ended jobs (8.8.4 notices).",
	  XC(ended) },
	{ "pnad_xmpp_ended_unknown_total", "counter",
	  "Ended subscriptions the worker did not remember (no notice).", XC(ended_unknown) },
	{ "pnad_xmpp_jobs_dropped_total", "counter", "Note jobs whose note was gone.",
	  XC(jobs_dropped) },
	{ "pnad_xmpp_bounces_total", "counter", "Notification bounces received.", XC(bounces) },
	{ "pnad_xmpp_pings_total", "counter", "Liveness pings sent (XEP-0199).", XC(pings) },
	{ "pnad_xmpp_pongs_total", "counter", "Answers to liveness pings.", XC(pongs) },
	{ "pnad_xmpp_ping_timeouts_total", "counter", "Links declared dead for an unanswered ping.",
	  XC(ping_timeouts) },
	{ "pnad_xmpp_request_timeouts_total", "counter",
	  "Shard requests that got no answer in time.", XC(pend_timeouts) },
	{ "pnad_xmpp_output_full_total", "counter", "Stanzas not sent: the output buffer was full.",
	  XC(out_full) },
	{ "pnad_xmpp_sent_bytes_total", "counter", "Bytes written to the component link.",
	  XC(bytes_out) },
	{ "pnad_xmpp_coalesced_waits_total", "counter",
	  "Passes after which the worker looked again in xmpp_coalesce_us instead of being woken.",
	  XC(coalesced_waits) },
	{ "pnad_xmpp_queued_bytes", "gauge", "Bytes waiting in the output buffer.",
	  XC(queued_bytes) },
};

/* The XMPP worker: one process, so no labels. */
static void render_xmpp(const struct xmpp_counters *c, struct admin_buf *b)
{
	for (size_t i = 0; i < sizeof(xmpp_rows) / sizeof(xmpp_rows[0]); i++)
		one(b, xmpp_rows[i].name, xmpp_rows[i].type, xmpp_rows[i].help,
		    rd((const uint64_t *)((const char *)c + xmpp_rows[i].off)));
}

static bool any_subs(const struct admin_views *v)
{
	for (uint32_t i = 0; v->subs && i < v->rt->nshards; i++)
		if (v->subs[i].seg)
			return true;
	return false;
}

void admin_metrics_render(const struct admin_views *v, const struct admin_self_stats *self,
			  struct admin_buf *b)
{
	one(b, "pnad_shards", "gauge", "Logical shards on this host.", v->rt->nshards);
	render_router(v, b);
	render_stores(v, b);
	render_rows(v, shard_rows, sizeof(shard_rows) / sizeof(shard_rows[0]), false, b);
	if (any_subs(v)) {
		render_rows(v, sub_rows, sizeof(sub_rows) / sizeof(sub_rows[0]), true, b);
		render_job_rings(v, b);
	}
	if (v->sip)
		render_sip(v->sip, b);
	if (v->sip_cred)
		one(b, "pnad_sip_credentials", "gauge", "SIP digest credentials stored.",
		    sip_cred_count(v->sip_cred));
	if (v->xmpp)
		render_xmpp(v->xmpp, b);
	if (self)
		render_self(self, b);
}
