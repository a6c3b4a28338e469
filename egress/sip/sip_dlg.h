/* sip_dlg: the SIP worker's own shared-memory segment (/<name>.sip): its
 * counters and, per subscription (shard, id), the dialog facts that must
 * survive a restart of the worker: the NOTIFY CSeq (RFC 6665: strictly
 * increasing per dialog), the last counts sent, and a copy of the dialog
 * blob so a terminated NOTIFY can go out after the shard dropped the
 * subscription. One writer: the SIP worker; the admin process may read
 * the counters. */
#ifndef PNA_SIP_DLG_H
#define PNA_SIP_DLG_H

#include <stdbool.h>
#include <stdint.h>

#include "egress/sip/sip_parse.h"
#include "lib/shm.h"

#define SIP_SEG_KIND 0x53495034u /* "SIP4" */

/* Relaxed counters, one writer (the SIP worker). */
struct sip_counters {
	uint64_t requests;	     /* requests received (parsed) */
	uint64_t responses_in;	     /* responses received */
	uint64_t responses_out[7];   /* responses sent, by class [1]..[6] */
	uint64_t notifies_sent;	     /* NOTIFY transactions started */
	uint64_t notify_retransmits; /* Timer E resends */
	uint64_t notify_ok;	     /* 2xx to a NOTIFY */
	uint64_t notify_failures;    /* final non-2xx or timeout */
	uint64_t notify_timeouts;    /* Timer F fired */
	uint64_t removed_by_failure; /* subscriptions removed after a 481 & co or Timer F */
	uint64_t malformed;	     /* messages refused as malformed (400 or dropped) */
	uint64_t auth_challenges;    /* 401 sent */
	uint64_t forbidden;	     /* 403 sent */
	uint64_t messages_sent;	     /* MESSAGE (Sieve) requests sent */
	uint64_t message_failures;   /* MESSAGE that failed or could not be routed */
	uint64_t tcp_accepted, tcp_refused, tcp_open;
	uint64_t busy;			   /* requests refused: a preallocated table was full */
	uint64_t dialogs;		   /* dialog records in use (gauge) */
	uint64_t notify_retries;	   /* NOTIFYs sent again after a 408 or 5xx */
	uint64_t auth_ok;		   /* digest responses accepted */
	uint64_t auth_failures;		   /* digest responses refused (403) */
	uint64_t tls_accepted;		   /* TLS handshakes completed */
	uint64_t tls_handshake_failures;   /* failed or timed-out TLS handshakes */
	uint64_t tls_trusted;		   /* TLS clients with a trusted certificate */
	uint64_t dialogs_swept;		   /* dialogs dropped: their subscription was gone */
	uint64_t retransmissions_absorbed; /* SUBSCRIBEs answered from the transaction */
	uint64_t jobs_empty;		   /* note jobs with nothing to take: delivered with an
				 * earlier NOTIFY (sub_table_note_put's race) or gone */
	uint64_t notify_folded;		   /* notes folded into the NOTIFY that follows the one
				 * in flight on their dialog */
	uint64_t auth_stale;		   /* right digest answers to an expired or unknown nonce */
	uint64_t auth_replays;		   /* right digest answers whose nonce count was used */
	uint64_t auth_uri_mismatch;	   /* digest answers for another URI (400) */
	uint64_t auth_nonces_evicted;	   /* nonces forgotten within their lifetime (table full) */
	uint64_t udp_dropped;		   /* datagrams the kernel refused to send */
	uint64_t udp_grouped;		   /* datagrams sent in a GSO group of two or more */
	uint64_t udp_coalesced_reads;	   /* UDP reads that held several datagrams (GRO) */
	uint64_t lazy_waits;		   /* sleeps on the jobs alone (lazy_answers) */
	uint64_t spare[16];		   /* zero: room for counters without a new layout */
};

#define SIP_DLG_TARGET 464

struct sip_dlg {
	uint64_t id; /* subscription id; 0: free */
	uint16_t shard;
	uint16_t flags; /* SIP_DLG_* */
	uint32_t cseq;	/* last NOTIFY CSeq sent */
	uint32_t messages, unseen, uidnext, uidvalidity;
	uint32_t expires;	     /* absolute unix time granted */
	uint32_t next_free;	     /* free: the next free record + 1, 0: none */
	char target[SIP_DLG_TARGET]; /* the dialog blob, "" if it did not fit */
};

enum {
	SIP_DLG_USED = 1,
	SIP_DLG_REPLIED = 4,	/* the 2xx went out: NOTIFYs may follow */
	SIP_DLG_TERMINATED = 8, /* the final NOTIFY went out */
	SIP_DLG_COUNTS = 16,	/* messages/unseen are known */
	SIP_DLG_FETCH = 32,	/* a fetch: terminated after its one NOTIFY */
	SIP_DLG_ORPHAN = 64,	/* the last sweep did not find its subscription */
};

/* The records are dense: a dialog takes the first free one and keeps it
 * while it lives, so its number is a stable handle (sip_dlg_slot) and the
 * records in use stay close together (fewer TLB and cache misses than
 * records spread over a hash table twice the size). An open-addressing
 * index of 8-byte entries (record + 1, hash tag) after the records finds
 * them; a probe reads a record only when the tag matches. */
struct sip_seg {
	struct shm_hdr shm;
	uint32_t cap;	    /* records */
	uint32_t icap;	    /* index entries: a power of two >= 2 cap */
	uint32_t iused;	    /* index entries in use or deleted (tombstones) */
	uint32_t nrec;	    /* records ever handed out: [0, nrec) */
	uint32_t free_head; /* first free record below nrec + 1, 0: none */
	uint32_t pad[3];
	struct sip_counters c;
	struct sip_dlg d[]; /* cap records, then the index (icap uint64_t) */
};

#define SIP_COUNT(seg, field, n) \
	__atomic_store_n(&(seg)->c.field, (seg)->c.field + (n), __ATOMIC_RELAXED)

/* Open or re-attach the segment for `cap` dialogs. 0 and *out (mapping
 * owned by the caller: shm_seg_close), or -errno. */
int sip_dlg_open(const char *name, uint32_t cap, struct shm_seg *out);

/* Find the dialog of (shard, id); NULL if unknown. */
struct sip_dlg *sip_dlg_find(struct sip_seg *s, uint16_t shard, uint64_t id);
/* Find or create it; a new one starts its CSeq at cseq_base. NULL when
 * the table is full. */
struct sip_dlg *sip_dlg_get(struct sip_seg *s, uint16_t shard, uint64_t id, uint32_t cseq_base);
void sip_dlg_del(struct sip_seg *s, struct sip_dlg *d);
/* A dialog's record number, in [0, cap): stable while it lives. */
static inline uint32_t sip_dlg_slot(const struct sip_seg *s, const struct sip_dlg *d)
{
	return (uint32_t)(d - s->d);
}
/* Start loading the index entry sip_dlg_find(s, shard, id) looks at first
 * (stage 1), then, once that is in cache, the record it names when its tag
 * matches (stage 2: the key, the counts and the start of the blob). */
void sip_dlg_prefetch(const struct sip_seg *s, uint16_t shard, uint64_t id);
void sip_dlg_prefetch_rec(const struct sip_seg *s, uint16_t shard, uint64_t id);

/* The CSeq base for a dialog the segment does not know (a cold start that
 * lost the segment): 8 per second since 2025-01-01, so it is above what any
 * earlier incarnation of the dialog sent unless it averaged more than 8
 * NOTIFYs a second, and stays below 2^31 until 2033. */
uint32_t sip_dlg_cseq_base(uint32_t now);

/* Sweep the next n records from *cursor (wrapping at cap): a dialog whose
 * subscription alive() says is gone on two sweeps in a row is deleted (the
 * shard's ENDED job normally does it; this catches the ones removed after a
 * NOTIFY failure, fetches, and ENDED jobs lost in a crash). alive() may
 * answer true when it cannot tell. Returns how many were deleted. */
uint32_t sip_dlg_sweep(struct sip_seg *s, uint32_t *cursor, uint32_t n,
		       bool (*alive)(void *arg, uint16_t shard, uint64_t id), void *arg);

/* The dialog blob kept as a subscription's target (sub_spec.target):
 * "v1 <pkg> <tp> <ip> <port>\n<call-id>\n<local tag>\n<remote tag>\n
 * <remote target>\n<remote uri>\n<local uri>\n<route set>\n<event id>\n
 * <account>/<mailbox>". pkg: "ms" (message-summary) or "me" (mail-event);
 * tp: udp, tcp or tls. Spans point into s; `where`, the last line, ends
 * at s's NUL. */
struct sip_blob {
	char pkg[3], tp[4];
	char ip[48];
	uint16_t port;
	struct sip_span call_id, ltag, rtag, rtarget, ruri, luri, route, event_id, where;
};
int sip_blob_parse(const char *s, struct sip_blob *b);

#endif
