/* sub_msg: the messages that cross process boundaries for subscriptions:
 * requests from a client role (admin API, SIP worker, XMPP worker) to the
 * shard that owns the account, the shard's replies, grants, the jobs a shard
 * hands an egress worker, and the records a shard queues for Redis. All are
 * plain fixed-width structs copied through lib/ring rings (control plane:
 * a few KB each is fine; the per-event job is 16 bytes). */
#ifndef PNA_SUB_MSG_H
#define PNA_SUB_MSG_H

#include <stdint.h>

#include "lib/names.h"
#include "shard/sub_table.h"

/* Who talks to a shard: one request ring and one reply ring per role. */
enum sub_role { SUB_ROLE_ADMIN = 0, SUB_ROLE_SIP = 1, SUB_ROLE_XMPP = 2, SUB_NROLES };

/* A grant (draft section 3.4): `grantee` may subscribe to `account`'s
 * mailboxes at or under `path` ("" = the whole account). grantee is an
 * identity ("sip:bob@example.net", "bob@example.net") or a whole domain
 * ("@example.net"). */
#define GRANT_RIGHT_SUBSCRIBE 1u /* the only right so far */

struct grant {
	char account[NAMES_ACCOUNT_MAX + 1];
	char path[NAMES_KEY_MAX + 1];
	char grantee[SUB_SUBSCRIBER_MAX + 1];
	uint32_t rights;
};

enum sub_op {
	SUB_OP_ADD = 1,		/* spec (id 0): authorize, then add */
	SUB_OP_REFRESH,		/* spec.id, spec.expires, spec.heartbeat */
	SUB_OP_REMOVE,		/* spec.id */
	SUB_OP_GET,		/* spec.id */
	SUB_OP_LIST_SUBSCRIBER, /* spec.subscriber */
	SUB_OP_LIST_MAILBOX,	/* spec.account, spec.path ("" and depth SUBTREE: all) */
	SUB_OP_GRANT_ADD,	/* grant */
	SUB_OP_GRANT_REMOVE,	/* grant (account, path, grantee) */
	SUB_OP_GRANT_LIST,	/* grant.account */
};

struct sub_req {
	uint64_t req_id; /* chosen by the client, echoed in replies */
	uint32_t op;	 /* enum sub_op */
	uint32_t now;	 /* unix seconds at the client */
	struct sub_spec spec;
	struct grant grant;
};

enum {
	SUB_REP_MORE = 1u, /* more replies follow for this req_id */
};

/* One reply; a list is several replies with SUB_REP_MORE on all but the
 * last, which carries no item (count says how many went before). */
struct sub_rep {
	uint64_t req_id;
	int32_t status; /* 0, or -EACCES (not authorized), -ENOENT,
				  * -ENOSPC (table full), -EAGAIN (Redis queue
				  * full), -EINVAL */
	uint32_t flags; /* SUB_REP_* */
	uint32_t count;
	char reason[160];     /* for a human, on failure */
	struct sub_spec spec; /* ADD, GET, list items */
	struct grant grant;   /* GRANT_LIST items */
};

/* Shard -> egress worker: subscription `index` of shard `shard` has a note
 * pending (sub_table_note_take), or SUB_JOB_ENDED: it ended (expired,
 * removed, its mailbox deleted or renamed) and only `id` is left, or
 * SUB_JOB_SIEVE: a targeted notification (a Sieve notify action, draft
 * section 6) with no subscription, carried whole in struct sub_job_sieve. */
enum { SUB_JOB_NOTE = 1, SUB_JOB_ENDED = 2, SUB_JOB_SIEVE = 3 };

struct sub_job {
	uint64_t id;
	uint32_t index;
	uint16_t shard;
	uint8_t kind; /* SUB_JOB_* */
	uint8_t pad;
};

#define SUB_SIEVE_TEXT_MAX 1023

/* SUB_JOB_SIEVE: job.id and job.index are 0. target is the recipient URI as
 * the mail store gave it ("sip:bob@example.net", "xmpp:bob@example.net");
 * the shard routes it to the SIP ring for sip:/sips:/tel: and to the XMPP
 * ring otherwise. */
struct sub_job_sieve {
	struct sub_job job;
	char account[NAMES_ACCOUNT_MAX + 1]; /* the mailbox owner */
	char path[NAMES_KEY_MAX + 1];
	char target[SUB_SUBSCRIBER_MAX + 1];
	char text[SUB_SIEVE_TEXT_MAX + 1];
};

/* Shard -> its Redis writer (the outbox in the subscription segment, so a
 * shard crash loses no change). */
enum {
	PERSIST_SUB_PUT = 1,   /* spec: add or replace */
	PERSIST_SUB_DEL = 2,   /* spec.id, spec.account */
	PERSIST_GRANT_PUT = 3, /* grant */
	PERSIST_GRANT_DEL = 4, /* grant */
};

struct persist_rec {
	uint32_t op; /* PERSIST_* */
	uint32_t pad;
	struct sub_spec spec;
	struct grant grant;
};

#endif
