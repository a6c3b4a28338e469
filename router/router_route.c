/* router_route: checks an ingest event against the evrec and names limits and
 * writes it, canonicalised, into a shard ring. Runs in the router process. */
#include "router/router_route.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/names.h"
#include "lib/uidset.h"

/* An absent optional string and an empty one mean the same: not given. */
static inline size_t slen(const char *s)
{
	return s ? strlen(s) : 0;
}

static bool needs_mailbox(int type)
{
	return (type >= PNA__EVENT_TYPE__MESSAGE_NEW && type <= PNA__EVENT_TYPE__FLAGS_CLEAR) ||
	       (type >= PNA__EVENT_TYPE__MAILBOX_CREATE &&
		type <= PNA__EVENT_TYPE__MAILBOX_UNSUBSCRIBE);
}

__attribute__((format(printf, 5, 6))) static int bad(char *why, size_t whylen, size_t idx,
						     uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(why, whylen, "event %zu (seq %" PRIu64 "): ", idx, seq);
	if (n >= 0 && (size_t)n < whylen) {
		va_start(ap, fmt);
		vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *const str_field[EVREC_NSTR] = {
	"account", "mailbox", "old_mailbox", "uidset", "flag_names", "target", "text",
};

/* Mailbox `s` (len bytes, writable) of an account of alen bytes, made
 * canonical in place: a valid path whose account/path key fits
 * NAMES_KEY_MAX (the subscription key). NULL or a static reason. */
static const char *canon_path(char *s, size_t len, size_t alen)
{
	const char *r = NULL;

	if (names_path(s, len, s, len + 1, &r) < 0)
		return r;
	if (alen + 1 + len > NAMES_KEY_MAX)
		return "account/mailbox key is longer than 255 bytes";
	return NULL;
}

static void lens(const Pna__Event *ev, size_t len[EVREC_NSTR])
{
	len[EVREC_ACCOUNT] = slen(ev->account);
	len[EVREC_PATH] = slen(ev->mailbox);
	len[EVREC_OLD_PATH] = slen(ev->old_mailbox);
	len[EVREC_UIDSET] = slen(ev->uidset);
	len[EVREC_FLAGS] = slen(ev->flag_names);
	len[EVREC_TARGET] = slen(ev->target);
	len[EVREC_TEXT] = slen(ev->text);
}

int router_route_check(Pna__Event *ev, size_t idx, uint64_t seq,
		       const struct router_route_limits *lim, struct router_route_ev *out,
		       char *why, size_t whylen)
{
	size_t len[EVREC_NSTR], size = sizeof(struct evrec);
	int type = (int)ev->type;
	const char *name = evrec_type_name((unsigned)type), *r;

	if (type <= PNA__EVENT_TYPE__EVENT_UNKNOWN || type > PNA__EVENT_TYPE__SIEVE_NOTIFY)
		return bad(why, whylen, idx, seq, "unknown event type %d", type);
	lens(ev, len);
	if (!len[EVREC_ACCOUNT])
		return bad(why, whylen, idx, seq, "%s without an account", name);
	if (names_account(ev->account, len[EVREC_ACCOUNT], ev->account, len[EVREC_ACCOUNT] + 1,
			  &r) < 0)
		return bad(why, whylen, idx, seq, "%s", r);
	if (needs_mailbox(type) && !len[EVREC_PATH])
		return bad(why, whylen, idx, seq, "%s without a mailbox", name);
	if (len[EVREC_PATH] && (r = canon_path(ev->mailbox, len[EVREC_PATH], len[EVREC_ACCOUNT])))
		return bad(why, whylen, idx, seq, "%s", r);
	if (type == PNA__EVENT_TYPE__MAILBOX_RENAME && !len[EVREC_OLD_PATH])
		return bad(why, whylen, idx, seq, "%s without an old_mailbox", name);
	if (len[EVREC_OLD_PATH] &&
	    (r = canon_path(ev->old_mailbox, len[EVREC_OLD_PATH], len[EVREC_ACCOUNT])))
		return bad(why, whylen, idx, seq, "old_mailbox: %s", r);
	if (type == PNA__EVENT_TYPE__SIEVE_NOTIFY && !len[EVREC_TARGET])
		return bad(why, whylen, idx, seq, "%s without a target", name);
	for (int i = EVREC_UIDSET; i < EVREC_NSTR; i++)
		if (len[i] > UINT16_MAX)
			return bad(why, whylen, idx, seq, "%s is %zu bytes, above the limit of %u",
				   str_field[i], len[i], UINT16_MAX);
	if (len[EVREC_UIDSET] && uidset_count(ev->uidset, len[EVREC_UIDSET], 0, &r) < 0)
		return bad(why, whylen, idx, seq, "uidset '%.40s': %s", ev->uidset, r);
	for (int i = 0; i < EVREC_NSTR; i++) {
		out->len[i] = (uint16_t)len[i]; /* names are within their limits */
		size += len[i] + 1;
	}
	if (size > lim->max_record)
		return bad(why, whylen, idx, seq,
			   "event needs %zu bytes, above the shard ring's record limit of %" PRIu32,
			   size, lim->max_record);
	out->size = (uint32_t)size;
	/* hash_jump(k, 1) is 0 for every k. */
	out->shard = lim->nshards > 1 ? (uint16_t)hash_jump(hash64(ev->account, len[EVREC_ACCOUNT]),
							    lim->nshards)
				      : 0;
	return 0;
}

int router_route_batch(Pna__Batch *b, const struct router_route_limits *lim,
		       struct router_route_ev *out, char *why, size_t whylen)
{
	size_t n = b->n_events;
	int rc;

	if (n == 0)
		return 0;
	if (b->first_seq == 0) {
		snprintf(why, whylen, "batch first_seq is 0 (sequence numbers start at 1)");
		return -EINVAL;
	}
	if (b->first_seq > UINT64_MAX - (n - 1)) {
		snprintf(why, whylen, "batch first_seq %" PRIu64 " + %zu events overflows",
			 b->first_seq, n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		rc = router_route_check(b->events[i], i, b->first_seq + i, lim, &out[i], why,
					whylen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static char *put_str(char *p, const char *s, size_t len)
{
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p + len + 1;
}

void router_route_encode(const Pna__Event *ev, const struct router_route_ev *ck, uint64_t seq,
			 uint16_t store, uint64_t store_key, struct evrec *rec)
{
	const uint16_t *len = ck->len;
	char *p;
	uint8_t fl = 0;

	rec->store_key = store_key;
	rec->store_seq = seq;
	rec->modseq = ev->has_modseq ? ev->modseq : 0;
	rec->uidvalidity = ev->has_uidvalidity ? ev->uidvalidity : 0;
	rec->uid = ev->has_uid ? ev->uid : 0;
	rec->uidnext = ev->has_uidnext ? ev->uidnext : 0;
	rec->messages = ev->has_messages ? ev->messages : 0;
	rec->unseen = ev->has_unseen ? ev->unseen : 0;
	fl |= ev->has_uidvalidity ? EVREC_HAS_UIDVALIDITY : 0;
	fl |= ev->has_uidnext ? EVREC_HAS_UIDNEXT : 0;
	fl |= ev->has_messages ? EVREC_HAS_MESSAGES : 0;
	fl |= ev->has_unseen ? EVREC_HAS_UNSEEN : 0;
	fl |= ev->has_uid ? EVREC_HAS_UID : 0;
	fl |= (ev->has_spam && ev->spam) ? EVREC_SPAM : 0;
	rec->store = store;
	rec->type = (uint8_t)ev->type;
	rec->flags = fl;
	memcpy(rec->len, len, sizeof(rec->len));
	p = put_str(rec->str, ev->account, len[EVREC_ACCOUNT]);
	p = put_str(p, ev->mailbox, len[EVREC_PATH]);
	p = put_str(p, ev->old_mailbox, len[EVREC_OLD_PATH]);
	p = put_str(p, ev->uidset, len[EVREC_UIDSET]);
	p = put_str(p, ev->flag_names, len[EVREC_FLAGS]);
	p = put_str(p, ev->target, len[EVREC_TARGET]);
	put_str(p, ev->text, len[EVREC_TEXT]);
}

int router_route_put(struct ring *r, const Pna__Event *ev, const struct router_route_ev *ck,
		     uint64_t seq, uint16_t store, uint64_t store_key, uint32_t *need)
{
	void *rec = ring_reserve(r, ck->size);

	if (!rec) {
		*need = ck->size;
		return -ENOBUFS;
	}
	router_route_encode(ev, ck, seq, store, store_key, rec);
	ring_commit(r, ck->size);
	return 0;
}
