/* sip_trans: non-INVITE client transactions of the SIP worker (RFC 3261
 * section 17.1.2): slots, Timers E and F, response matching by branch. */
#include "egress/sip/sip_trans.h"

#include <stdlib.h>
#include <string.h>

#include "lib/slots.h"

/* Slots are handed out last-freed first (lib/slots): a request is written
 * into a slot still in the cache, and the timer scan walks the slots in
 * use only. */
struct sip_trans {
	struct slots ids;
	uint32_t fresh;	  /* slots with fresh set */
	int64_t next_due; /* earliest timer, or INT64_MAX */
	struct sip_tr *s;
};

struct sip_trans *sip_trans_new(uint32_t cap)
{
	struct sip_trans *t = calloc(1, sizeof(*t));

	if (!t || !(t->s = calloc(cap, sizeof(*t->s))) || slots_init(&t->ids, cap) < 0)
		abort();
	t->next_due = INT64_MAX;
	return t;
}

void sip_trans_free(struct sip_trans *t)
{
	if (!t)
		return;
	slots_fini(&t->ids);
	free(t->s);
	free(t);
}

/* Lower-case hex of v at out (no leading zeros); the end. */
static char *hex(char *out, uint32_t v)
{
	char tmp[8];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		*out++ = tmp[--n];
	return out;
}

/* Hex digits of s[0..n) into *v: the bytes read, 0 when none (or too many). */
static size_t unhex(const char *s, size_t n, uint32_t *v)
{
	size_t i = 0;

	*v = 0;
	for (; i < n && i < 8; i++) {
		char c = s[i];
		uint32_t d = c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
			     : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10)
						    : 16;

		if (d == 16)
			break;
		*v = *v << 4 | d;
	}
	return i < n && i == 8 ? 0 : i;
}

struct sip_tr *sip_trans_alloc(struct sip_trans *t, char *branch, size_t blen)
{
	uint32_t i = slots_take(&t->ids);
	struct sip_tr *tr;

	if (i == SLOTS_NONE)
		return NULL;
	tr = &t->s[i];
	tr->used = true;
	tr->gen++;
	tr->final_notify = tr->provisional = tr->fresh = false;
	/* "pna<slot>.<gen>" in hex: at most 3 + 8 + 1 + 8 bytes */
	if (blen >= 21) {
		char *e;

		memcpy(branch, "pna", 3);
		e = hex(branch + 3, i);
		*e++ = '.';
		*hex(e, tr->gen) = 0;
	} else if (blen) {
		branch[0] = 0;
	}
	return tr;
}

void sip_trans_start(struct sip_trans *t, struct sip_tr *tr, int64_t now_ms)
{
	tr->interval_ms = SIP_T1_MS;
	tr->next_ms = tr->to.tp == SIP_TP_UDP ? now_ms + SIP_T1_MS : INT64_MAX;
	tr->end_ms = now_ms + SIP_TF_MS;
	tr->fresh = tr->to.tp == SIP_TP_UDP;
	t->fresh += tr->fresh;
	if (tr->next_ms < t->next_due)
		t->next_due = tr->next_ms;
	if (tr->end_ms < t->next_due)
		t->next_due = tr->end_ms;
}

struct sip_tr *sip_trans_match(struct sip_trans *t, struct sip_span b)
{
	uint32_t slot, gen;
	const char *p = b.p + 10, *end = b.p + b.n;
	size_t k;

	/* "z9hG4bKpna<slot>.<gen>", as sip_trans_alloc wrote it */
	if (b.n < 7 + 4 || memcmp(b.p, "z9hG4bKpna", 10) != 0)
		return NULL;
	if (!(k = unhex(p, (size_t)(end - p), &slot)) || (p += k) >= end || *p++ != '.' ||
	    !(k = unhex(p, (size_t)(end - p), &gen)) || p + k != end || slot >= t->ids.cap)
		return NULL;
	if (!t->s[slot].used || t->s[slot].gen != gen)
		return NULL;
	return &t->s[slot];
}

/* An answer or a retransmission: the request left the peer's queue, or
 * was lost. */
static void unfresh(struct sip_trans *t, struct sip_tr *tr)
{
	if (tr->fresh) {
		tr->fresh = false;
		t->fresh--;
	}
}

void sip_trans_heard(struct sip_trans *t, struct sip_tr *tr)
{
	unfresh(t, tr);
}

void sip_trans_done(struct sip_trans *t, struct sip_tr *tr)
{
	unfresh(t, tr);
	if (tr->used) {
		tr->used = false;
		slots_put(&t->ids, (uint32_t)(tr - t->s));
	}
}

/* A scan touches the slots in use, from the last (a slot done moves the
 * last into its place: slots_put): it runs only once the earliest timer
 * seen by the last scan (or started since) is due, about every T1 under
 * load rather than at every tick. */
void sip_trans_tick(struct sip_trans *t, int64_t now_ms, void (*resend)(void *, struct sip_tr *),
		    void (*timeout)(void *, struct sip_tr *), void *arg)
{
	int64_t next = INT64_MAX;

	if (slots_nlive(&t->ids) == 0 || now_ms < t->next_due)
		return;
	t->next_due = INT64_MAX; /* a callback starting a transaction lowers it */
	for (uint32_t k = slots_nlive(&t->ids); k-- > 0;) {
		struct sip_tr *tr = &t->s[slots_live(&t->ids, k)];

		if (now_ms >= tr->end_ms) {
			timeout(arg, tr);
			sip_trans_done(t, tr);
			continue;
		}
		if (now_ms >= tr->next_ms) {
			unfresh(t, tr);
			resend(arg, tr);
			/* after a provisional response: every T2 (section 17.1.2.2) */
			if (!tr->provisional) {
				tr->interval_ms *= 2;
				if (tr->interval_ms > SIP_T2_MS)
					tr->interval_ms = SIP_T2_MS;
			}
			tr->next_ms = now_ms + tr->interval_ms;
		}
		if (tr->used && tr->next_ms < next)
			next = tr->next_ms;
		if (tr->used && tr->end_ms < next)
			next = tr->end_ms;
	}
	if (next < t->next_due)
		t->next_due = next;
}

uint32_t sip_trans_active(const struct sip_trans *t)
{
	return slots_nlive(&t->ids);
}

uint32_t sip_trans_fresh(const struct sip_trans *t)
{
	return t->fresh;
}
