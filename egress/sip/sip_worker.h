/* sip_worker: the state of the SIP egress worker process shared by its
 * files (sip_main.c: loop, jobs, NOTIFY; sip_sub.c: SUBSCRIBE handling).
 * Internal to egress/sip. */
#ifndef PNA_SIP_WORKER_H
#define PNA_SIP_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "egress/sip/sip_build.h"
#include "egress/sip/sip_conn.h"
#include "egress/sip/sip_cred.h"
#include "egress/sip/sip_dlg.h"
#include "egress/sip/sip_nonce.h"
#include "egress/sip/sip_parse.h"
#include "egress/sip/sip_trans.h"
#include "lib/slots.h"
#include "lib/sub_msg.h"
#include "pnad/pnad_rt.h"
#include "shard/sub_table.h"

#define SIP_PEND_CAP 2048
#define SIP_PEND_BUF (SIP_MAX_HEAD + 2048)
#define SIP_EARLY_CAP 1024
#define SIP_RETRY_CAP 1024
#define SIP_RM_WAIT_CAP 4096 /* removals waiting for room in a shard's ring */
#define SIP_CONTACT_MAX 160
#define SIP_RETRY_MAX 6	 /* attempts after the first: 1+2+4+8+16+32 s */
#define SIP_DONE_CAP 512 /* final responses kept for retransmissions */
#define SIP_DONE_BYTES 1024

enum {
	SIP_OUT_INFLIGHT = 1, /* a NOTIFY on this slot awaits its final response */
	SIP_OUT_DIRTY = 2,    /* newer state to send once it has one */
};

enum { PEND_ADD = 1, PEND_REFRESH, PEND_REMOVE };

/* A SUBSCRIBE waiting for its shard's reply: the request is kept whole and
 * parsed again to answer it. */
struct sip_pend {
	bool used;
	uint8_t op; /* PEND_* */
	bool fetch; /* out-of-dialog Expires: 0 */
	uint32_t gen;
	uint16_t shard;
	uint64_t id;
	uint32_t granted; /* seconds */
	struct sip_peer from;
	uint32_t len;
	char req[SIP_PEND_BUF];
};

/* A STATE note that came before the shard's reply to the add (the shard
 * queues the job first): sent after the 200. */
struct sip_early {
	uint16_t shard;
	uint64_t id;
	uint32_t since;
	struct sub_note note;
};

/* A NOTIFY answered 408 or 5xx: the subscription lives on (RFC 6665
 * 4.2.2 ends it only on the listed failures), and the current state is
 * sent again, as a new transaction, at due_ms. */
struct sip_retry {
	bool used;
	uint8_t tries;
	uint16_t shard;
	uint64_t id;
	int64_t due_ms;
};

/* A removal whose shard's request ring was full: sent again each tick. */
struct sip_rm_wait {
	uint16_t shard;
	uint64_t id;
};

/* A final response to a SUBSCRIBE over UDP, kept for Timer J (RFC 3261
 * 17.2.2: 64*T1) so a retransmission of the request gets it again instead
 * of being handled twice. Direct-mapped by key: a collision only forgets. */
struct sip_done {
	uint64_t key; /* hash of the top Via, Call-ID and CSeq; 0: free */
	int64_t until_ms;
	uint16_t len;
	char resp[SIP_DONE_BYTES];
};

struct sip_worker {
	struct pnad_rt *rt;
	const struct pnad_conf *conf;
	struct shm_seg seg_map;
	struct sip_seg *seg;
	struct sip_net *net;
	struct sip_trans *trans;
	struct sub_table **tables; /* per shard, for note_take and get */
	int epfd;
	int jobs_epfd;	 /* the role eventfd alone: the lazy wait (worker_loop) */
	uint32_t ndirty; /* slots with SIP_OUT_DIRTY: their NOTIFY waits for an answer */
	bool replying;	 /* in sip_sub_reply: sip_chan_send_retry handles no reply */
	uint32_t now;	 /* unix seconds */
	int64_t now_ms;	 /* monotonic */
	uint64_t secret; /* local tag and nonce salt */
	/* our Contact for requests per transport, written at first use */
	char contact[SIP_TP_COUNT][SIP_CONTACT_MAX]; /* by transport, see contact_of */
	/* Per dialog slot (seg->cap): SIP_OUT_* bits. In this process's
	 * memory, not the segment: a restarted worker has no transactions, so
	 * nothing of its predecessor's may count as in flight; and a 2xx
	 * clears its bit without touching the dialog record (a cache miss
	 * per NOTIFY when it did). */
	uint8_t *out;
	struct sip_pend *pend;
	struct slots pend_ids; /* pend's slots: last freed first, in-use list for the scans */
	struct sip_early early[SIP_EARLY_CAP];
	struct slots early_ids;	      /* early's entries in use */
	struct sip_cred_reader creds; /* digest credentials (admin-written) */
	uint32_t sweep_pos;	      /* next dialog slot sip_sub_sweep looks at */
	uint32_t nretry;	      /* used entries of retry */
	struct sip_retry retry[SIP_RETRY_CAP];
	uint32_t nrm_wait; /* used entries of rm_wait, oldest first */
	struct sip_rm_wait rm_wait[SIP_RM_WAIT_CAP];
	struct sip_done done[SIP_DONE_CAP];
	struct sip_nonce_table nonces; /* digest nonces issued (zeroed: empty) */
};

/* sip_sub.c */
void sip_sub_request(struct sip_worker *w, const struct sip_msg *m, const struct sip_peer *from);
void sip_sub_reply(struct sip_worker *w, const struct sub_rep *rep, uint32_t shard);
/* true while an unsubscribe (Expires: 0) of (shard, id) waits for its
 * shard's reply: that reply answers it and ends the dialog. */
bool sip_sub_removing(const struct sip_worker *w, uint16_t shard, uint64_t id);
/* Drop a slice of dialogs whose subscriptions are gone (call every tick). */
void sip_sub_sweep(struct sip_worker *w);
/* Send a response to req. */
void sip_respond(struct sip_worker *w, const struct sip_msg *req, const struct sip_peer *from,
		 int status, const char *reason, const struct sip_resp_opts *o);

/* sip_main.c */
/* Send a NOTIFY on the dialog (shard, id) whose blob is `target`, with the
 * counts in d (n: the note that updated them, for mail-event), and state
 * "active;expires=N" or "terminated;reason=R". 0 or -errno. */
int sip_notify_send(struct sip_worker *w, uint16_t shard, uint64_t id, const char *target,
		    struct sip_dlg *d, const struct sub_note *n, const char *state);
/* The full local tag of a dialog into out[64]. */
void sip_local_tag(char *out, size_t cap, struct sip_span prefix, uint16_t shard, uint64_t id);
/* Remove a subscription at its shard (no reply expected); while the
 * shard's ring is full the removal waits in rm_wait, sent again each tick. */
void sip_remove_sub(struct sip_worker *w, uint16_t shard, uint64_t id);
/* The read handle of a shard's subscription table (attached on first use:
 * the shard formats it after the worker started), or NULL. */
struct sub_table *sip_table(struct sip_worker *w, uint32_t shard);
/* sub_chan_send; while the ring is full, the replies waiting are handled
 * (the shard may be blocked writing one) and the send tried again after
 * each, a bounded number of times; not from within a reply's handling
 * (sip_sub_reply parses into one static message, and the loop that called
 * it goes on reading replies anyway). Never sleeps: -EAGAIN when the shard
 * does not make room, so one slow shard does not stop the worker. */
int sip_chan_send_retry(struct sip_worker *w, uint32_t shard, const struct sub_req *q);
/* Deliver a stashed early STATE note of (shard, id), if any. */
void sip_early_flush(struct sip_worker *w, uint16_t shard, uint64_t id);

#endif
