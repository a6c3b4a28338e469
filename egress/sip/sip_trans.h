/* sip_trans: the SIP worker's client transactions (RFC 3261 section 17.1.2,
 * non-INVITE): preallocated slots holding the request bytes, Timer E
 * retransmission over UDP (T1 doubling to T2), Timer F (64*T1) timeout,
 * matching of responses by the branch we chose. Run by the SIP worker. */
#ifndef PNA_SIP_TRANS_H
#define PNA_SIP_TRANS_H

#include <stdbool.h>
#include <stdint.h>

#include "egress/sip/sip_conn.h"

#define SIP_T1_MS 500
#define SIP_T2_MS 4000
#define SIP_TF_MS (64 * SIP_T1_MS)
#define SIP_TRANS_BUF 2048

enum { SIP_TR_NOTIFY = 1, SIP_TR_MESSAGE = 2 };

struct sip_tr {
	bool used, final_notify, provisional;
	bool fresh;   /* UDP, not answered nor retransmitted yet (sip_trans_fresh) */
	uint8_t kind; /* SIP_TR_* */
	uint32_t gen;
	uint16_t shard;
	uint64_t id;  /* subscription */
	uint32_t dlg; /* NOTIFY: its dialog's slot in the worker's segment */
	struct sip_peer to;
	int64_t next_ms, end_ms; /* Timer E (UDP), Timer F */
	uint32_t interval_ms;
	uint32_t len;
	char buf[SIP_TRANS_BUF];
};

struct sip_trans;

struct sip_trans *sip_trans_new(uint32_t cap); /* aborts on OOM */
void sip_trans_free(struct sip_trans *t);
/* A free slot (its branch written to branch[32]), or NULL when all are busy. */
struct sip_tr *sip_trans_alloc(struct sip_trans *t, char *branch, size_t blen);
/* Arm the timers of a slot whose buf/len/to are set, at now_ms. */
void sip_trans_start(struct sip_trans *t, struct sip_tr *tr, int64_t now_ms);
/* The slot a response's branch names (without the z9hG4bK cookie), or NULL. */
struct sip_tr *sip_trans_match(struct sip_trans *t, struct sip_span branch);
/* The slot is free and the next sip_trans_alloc hands it out again (the
 * last freed first): nothing may keep pointing into its buf (sip_net_send
 * copies what it queues). */
void sip_trans_done(struct sip_trans *t, struct sip_tr *tr);
/* A provisional response: the peer has the request (it leaves the send
 * window, sip_trans_fresh). */
void sip_trans_heard(struct sip_trans *t, struct sip_tr *tr);
/* Retransmit what is due (resend(arg, tr)) and report Timer F expiries
 * (timeout(arg, tr), after which the slot is freed). */
void sip_trans_tick(struct sip_trans *t, int64_t now_ms, void (*resend)(void *, struct sip_tr *),
		    void (*timeout)(void *, struct sip_tr *), void *arg);
uint32_t sip_trans_active(const struct sip_trans *t);
/* UDP transactions sent within T1 and not answered yet: what the peers'
 * receive queues hold from us (the worker's send window). */
uint32_t sip_trans_fresh(const struct sip_trans *t);

#endif
