/* sip_dlg: the SIP worker's segment: counters and the open-addressing
 * table of dialog CSeqs keyed by (shard, subscription id). Written only by
 * the SIP worker. */
#include "egress/sip/sip_dlg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/hash.h"

int sip_dlg_open(const char *name, uint32_t cap, struct shm_seg *out)
{
	uint32_t c = 1024;
	size_t size;
	int rc;

	while (c < cap && c < (1u << 24))
		c <<= 1;
	size = sizeof(struct sip_seg) + (size_t)c * sizeof(struct sip_dlg);
	rc = shm_seg_open(name, SIP_SEG_KIND, size, out);
	if (rc < 0)
		return rc;
	if (out->created) {
		struct sip_seg *s = out->base;

		s->cap = c;
		shm_seg_ready(out);
	}
	return 0;
}

static uint32_t slot_of(const struct sip_seg *s, uint16_t shard, uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)shard << 47) ^
			  ((id * 0x9e3779b97f4a7c15ull) >> 29)) &
	       (s->cap - 1);
}

void sip_dlg_prefetch(const struct sip_seg *s, uint16_t shard, uint64_t id)
{
	const char *d = (const char *)&s->d[slot_of(s, shard, id)];

	/* the key and counts, and the start of the blob */
	__builtin_prefetch(d);
	__builtin_prefetch(d + 64);
}

struct sip_dlg *sip_dlg_find(struct sip_seg *s, uint16_t shard, uint64_t id)
{
	uint32_t i = slot_of(s, shard, id);

	for (uint32_t n = 0; n < s->cap; n++, i = (i + 1) & (s->cap - 1)) {
		struct sip_dlg *d = &s->d[i];

		if (!(d->flags & (SIP_DLG_USED | SIP_DLG_TOMB)))
			return NULL;
		if ((d->flags & SIP_DLG_USED) && d->id == id && d->shard == shard)
			return d;
	}
	return NULL;
}

struct sip_dlg *sip_dlg_get(struct sip_seg *s, uint16_t shard, uint64_t id, uint32_t cseq_base)
{
	struct sip_dlg *d = sip_dlg_find(s, shard, id), *tomb = NULL;
	uint32_t i = slot_of(s, shard, id);

	if (d)
		return d;
	for (uint32_t n = 0; n < s->cap; n++, i = (i + 1) & (s->cap - 1)) {
		struct sip_dlg *e = &s->d[i];

		if (e->flags & SIP_DLG_TOMB) {
			tomb = e;
			break;
		}
		if (!(e->flags & SIP_DLG_USED)) {
			/* keep a quarter free so probes stay short */
			if (s->used >= s->cap - s->cap / 4)
				return NULL;
			s->used++;
			tomb = e;
			break;
		}
	}
	if (!tomb)
		return NULL;
	memset(tomb, 0, sizeof(*tomb));
	tomb->shard = shard;
	tomb->cseq = cseq_base;
	tomb->id = id;
	tomb->flags = SIP_DLG_USED;
	SIP_COUNT(s, dialogs, 1);
	return tomb;
}

void sip_dlg_del(struct sip_seg *s, struct sip_dlg *d)
{
	d->flags = SIP_DLG_TOMB;
	d->id = 0;
	SIP_COUNT(s, dialogs, (uint64_t)-1);
}

uint32_t sip_dlg_sweep(struct sip_seg *s, uint32_t *cursor, uint32_t n,
		       bool (*alive)(void *arg, uint16_t shard, uint64_t id), void *arg)
{
	uint32_t gone = 0;

	for (uint32_t k = 0; k < n && k < s->cap; k++) {
		struct sip_dlg *d = &s->d[*cursor & (s->cap - 1)];

		*cursor = (*cursor + 1) & (s->cap - 1);
		if (!(d->flags & SIP_DLG_USED))
			continue;
		if (alive(arg, d->shard, d->id)) {
			d->flags &= (uint16_t)~SIP_DLG_ORPHAN;
		} else if (!(d->flags & SIP_DLG_ORPHAN)) {
			d->flags |= SIP_DLG_ORPHAN; /* its ENDED job may still be coming */
		} else {
			sip_dlg_del(s, d);
			SIP_COUNT(s, dialogs_swept, 1);
			gone++;
		}
	}
	return gone;
}

uint32_t sip_dlg_cseq_base(uint32_t now)
{
	const uint32_t epoch = 1735689600u; /* 2025-01-01 */

	return now > epoch ? (now - epoch) * 8u + 1 : 1;
}

static struct sip_span line(const char **p)
{
	const char *s = *p, *nl = strchr(s, '\n');
	size_t n = nl ? (size_t)(nl - s) : strlen(s);

	*p = nl ? nl + 1 : s + n;
	return (struct sip_span){ s, n };
}

/* The next space-separated word of the first line into out[cap]. */
static int word(const char **p, const char *end, char *out, size_t cap)
{
	const char *s = *p;
	size_t n;

	while (s < end && *s == ' ')
		s++;
	for (n = 0; s + n < end && s[n] != ' '; n++)
		;
	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = 0;
	*p = s + n;
	return 0;
}

/* Read for every NOTIFY: parsed by hand ("v1 <pkg> <tp> <ip> <port>"). */
int sip_blob_parse(const char *s, struct sip_blob *b)
{
	const char *p = s, *q, *end;
	struct sip_span first = line(&p);
	char v[4], port[8];
	unsigned long n = 0;

	memset(b, 0, sizeof(*b));
	q = first.p;
	end = first.p + first.n;
	if (word(&q, end, v, sizeof(v)) < 0 || strcmp(v, "v1") != 0 ||
	    word(&q, end, b->pkg, sizeof(b->pkg)) < 0 || word(&q, end, b->tp, sizeof(b->tp)) < 0 ||
	    word(&q, end, b->ip, sizeof(b->ip)) < 0 || word(&q, end, port, sizeof(port)) < 0)
		return -EINVAL;
	for (const char *d = port; *d; d++) {
		if (*d < '0' || *d > '9')
			return -EINVAL;
		n = n * 10 + (unsigned long)(*d - '0');
	}
	if (n > 65535)
		return -EINVAL;
	b->port = (uint16_t)n;
	b->call_id = line(&p);
	b->ltag = line(&p);
	b->rtag = line(&p);
	b->rtarget = line(&p);
	b->ruri = line(&p);
	b->luri = line(&p);
	b->route = line(&p);
	b->event_id = line(&p);
	if (!b->call_id.n || !b->ltag.n || !b->rtarget.n || !b->ruri.n || !b->luri.n)
		return -EINVAL;
	return 0;
}
