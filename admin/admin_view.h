/* admin_view: the read-only views of the admin API (a mailbox, an account,
 * the shard map, the stats) as JSON, built in the admin process from the
 * shard, subscription and router segments through their seqlocked read
 * paths, so a query never stops the event path. */
#ifndef PNA_ADMIN_VIEW_H
#define PNA_ADMIN_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "pnad/pnad_rt.h"
#include "shard/sub_seg.h"
#include "shard/sub_table.h"

struct json_object;

/* What the admin process read from one shard's subscription segment just
 * before rendering (admin_main fills it; the views never touch the tables, so
 * they link and test without the shard side). */
struct admin_subs_view {
	const struct sub_seg *seg;    /* NULL: no valid segment mapped */
	struct sub_table_stats table; /* zero when the table is not attached */
};

struct sip_counters;
struct xmpp_counters;

struct admin_views {
	const struct pnad_rt *rt;
	const struct admin_subs_view *subs; /* rt->nshards entries, or NULL */
	const struct sip_counters *sip;	    /* the SIP worker's, or NULL */
	const struct xmpp_counters *xmpp;   /* the XMPP worker's, or NULL */
	const void *sip_cred;		    /* the SIP credential segment, or NULL */
};

/* The shard the hash assigns to `account` (canonical). */
uint32_t admin_view_owner(const struct pnad_rt *rt, const char *account);

/* A mailbox's state, its owner shard and the shard(s) it was found on (a
 * mailbox on a shard other than its owner is a routing bug the view must
 * show). 0 and *out (caller owns), or -ENOENT. */
int admin_view_mailbox(const struct admin_views *v, const char *acct, const char *path,
		       struct json_object **out);

/* Every mailbox of `acct`, on every shard. Caller owns the result. */
struct json_object *admin_view_account(const struct admin_views *v, const char *acct);

/* The shard map: index, pid, mailboxes, subscriptions, ring use. */
struct json_object *admin_view_shards(const struct admin_views *v);

/* Everything `pnactl stats` prints, nested so that joining keys with '.'
 * gives its historical names ("router.errors.ERR_X", "shard.0.ring_used"). */
struct json_object *admin_view_stats(const struct admin_views *v);

#endif
