/* sip_nonce: the SIP worker's ring of issued digest nonces with the
 * highest nonce count seen per nonce (replay detection). */
#include "egress/sip/sip_nonce.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

_Static_assert((SIP_NONCE_CAP & (SIP_NONCE_CAP - 1)) == 0, "SIP_NONCE_CAP: a power of two");

void sip_nonce_init(struct sip_nonce_table *t)
{
	memset(t, 0, sizeof(*t));
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

int sip_nonce_issue(struct sip_nonce_table *t, uint32_t now, char *out)
{
	uint32_t seq = t->next++;
	struct sip_nonce_ent *e = &t->e[seq & (SIP_NONCE_CAP - 1)];
	int evicted = e->t && now - e->t <= SIP_NONCE_LIFETIME;
	uint64_t tag;

	/* unpredictable, so nobody can have a client answer a nonce before
	 * we issue it and then replay that answer to us */
	if (getrandom(&tag, sizeof(tag), GRND_NONBLOCK) != sizeof(tag))
		tag = mix(e->tag ^ ((uint64_t)now << 32 | seq));
	*e = (struct sip_nonce_ent){ .tag = tag, .seq = seq, .t = now ? now : 1 };
	snprintf(out, SIP_NONCE_LEN + 1, "%08x%08x%016llx", e->t, seq, (unsigned long long)tag);
	return evicted;
}

/* The value of n (<= 8) hex digits at s, or -1. */
static int64_t hex_field(const char *s, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v << 4 | (uint64_t)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return (int64_t)v;
}

int sip_nonce_find(const struct sip_nonce_table *t, const char *nonce, uint32_t now, uint32_t *slot)
{
	int64_t ts, seq, hi, lo;
	const struct sip_nonce_ent *e;

	if (strlen(nonce) != SIP_NONCE_LEN || (ts = hex_field(nonce, 8)) < 0 ||
	    (seq = hex_field(nonce + 8, 8)) < 0 || (hi = hex_field(nonce + 16, 8)) < 0 ||
	    (lo = hex_field(nonce + 24, 8)) < 0)
		return -ENOENT;
	e = &t->e[(uint32_t)seq & (SIP_NONCE_CAP - 1)];
	if (!e->t || e->t != (uint32_t)ts || e->seq != (uint32_t)seq ||
	    e->tag != ((uint64_t)hi << 32 | (uint64_t)lo))
		return -ENOENT;
	*slot = (uint32_t)seq & (SIP_NONCE_CAP - 1);
	return now - e->t > SIP_NONCE_LIFETIME ? -ESTALE : 0;
}

int sip_nonce_use(struct sip_nonce_table *t, uint32_t slot, uint32_t nc)
{
	struct sip_nonce_ent *e = &t->e[slot & (SIP_NONCE_CAP - 1)];

	if (nc == SIP_NONCE_NO_QOP) {
		if (e->nc)
			return -EALREADY;
		e->nc = UINT32_MAX;
		return 0;
	}
	if (nc <= e->nc)
		return -EALREADY;
	e->nc = nc;
	return 0;
}
