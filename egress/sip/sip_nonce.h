/* sip_nonce: the digest nonces the SIP worker issued and, per nonce, the
 * highest nonce count (nc) a verified request used, so a captured
 * Authorization cannot be replayed (RFC 7616 3.4: "if the same nc value
 * is seen twice, then the request is a replay"; 5.4: limited-use nonces).
 * A fixed ring of SIP_NONCE_CAP entries in the worker's own memory (the
 * caller embeds the table; nothing is allocated): each challenge takes the
 * oldest entry, so a nonce is forgotten after SIP_NONCE_CAP newer ones
 * even if its lifetime is not over. One writer, the SIP worker. */
#ifndef PNA_SIP_NONCE_H
#define PNA_SIP_NONCE_H

#include <stdint.h>

#define SIP_NONCE_CAP 4096     /* a power of two */
#define SIP_NONCE_LIFETIME 300 /* seconds a nonce may be answered */
#define SIP_NONCE_LEN 32       /* hex digits: issue time, sequence, random tag */
#define SIP_NONCE_NO_QOP 0     /* the nc of an answer without qop (RFC 2069) */

struct sip_nonce_ent {
	uint64_t tag; /* random; part of the nonce */
	uint32_t seq; /* the nonce's sequence number (its slot: seq % cap) */
	uint32_t t;   /* unix time of issue; 0: never used */
	uint32_t nc;  /* highest nc accepted; UINT32_MAX once used without qop */
	uint32_t pad;
};

struct sip_nonce_table {
	uint32_t next; /* sequence number of the next nonce */
	uint32_t pad;
	struct sip_nonce_ent e[SIP_NONCE_CAP];
};

/* An empty table (zeroing it is the same). */
void sip_nonce_init(struct sip_nonce_table *t);

/* A fresh nonce, SIP_NONCE_LEN lower-case hex digits and a NUL, into out
 * (>= SIP_NONCE_LEN + 1 bytes), remembered in place of the oldest. Returns
 * 1 when that one was still within its lifetime (the table was full: it is
 * forgotten, and its answers get a stale challenge), else 0. */
int sip_nonce_issue(struct sip_nonce_table *t, uint32_t now, char *out);

/* The entry of nonce (a NUL-terminated string from the network) into
 * *slot: 0; -ENOENT when the table does not know it (never issued by this
 * worker, forgotten for newer ones, or malformed); -ESTALE when its
 * lifetime is over. Read-only. */
int sip_nonce_find(const struct sip_nonce_table *t, const char *nonce, uint32_t now,
		   uint32_t *slot);

/* Record a verified request's use of the nonce at slot (from
 * sip_nonce_find) with count nc, or SIP_NONCE_NO_QOP for an answer without
 * qop, which a nonce accepts once and only as its first use. 0, or
 * -EALREADY (a replay: nc is not above the highest seen, or the nonce was
 * used without qop) and the entry is left as it was. */
int sip_nonce_use(struct sip_nonce_table *t, uint32_t slot, uint32_t nc);

#endif
