/* sip_dlg: the SIP worker's segment: counters, the dialog records and
 * their open-addressing index keyed by (shard, subscription id). Written
 * only by the SIP worker. */
#include "egress/sip/sip_dlg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define IDX_EMPTY 0u
#define IDX_TOMB UINT32_MAX

static uint64_t *index_of(const struct sip_seg *s)
{
	return (uint64_t *)(uintptr_t)&s->d[s->cap];
}

int sip_dlg_open(const char *name, uint32_t cap, struct shm_seg *out)
{
	uint32_t icap = 1024;
	size_t size;
	int rc;

	if (cap < 64)
		cap = 64;
	if (cap > (1u << 23))
		cap = 1u << 23;
	while (icap < 2 * cap)
		icap <<= 1;
	size = sizeof(struct sip_seg) + (size_t)cap * sizeof(struct sip_dlg) +
	       (size_t)icap * sizeof(uint64_t);
	rc = shm_seg_open(name, SIP_SEG_KIND, size, out);
	if (rc < 0)
		return rc;
	if (out->created) {
		struct sip_seg *s = out->base;

		s->cap = cap;
		s->icap = icap;
		shm_seg_ready(out);
	}
	return 0;
}

static uint64_t hash_of(uint16_t shard, uint64_t id)
{
	uint64_t h = (id ^ ((uint64_t)shard << 48)) * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 29);
}

/* An index entry: the record + 1 (or IDX_EMPTY, IDX_TOMB) and the hash's
 * top half as a tag. */
static uint64_t entry(uint32_t rec1, uint64_t h)
{
	return (h & 0xffffffff00000000ull) | rec1;
}

void sip_dlg_prefetch(const struct sip_seg *s, uint16_t shard, uint64_t id)
{
	__builtin_prefetch(&index_of(s)[hash_of(shard, id) & (s->icap - 1)]);
}

void sip_dlg_prefetch_rec(const struct sip_seg *s, uint16_t shard, uint64_t id)
{
	uint64_t h = hash_of(shard, id), e = index_of(s)[h & (s->icap - 1)];
	uint32_t rec1 = (uint32_t)e;

	if (rec1 != IDX_EMPTY && rec1 != IDX_TOMB && (e >> 32) == (h >> 32)) {
		const char *d = (const char *)&s->d[rec1 - 1];

		/* The whole record: the NOTIFY reads the blob to its end (a
		 * few hundred bytes, its length unknown until it is read);
		 * with only its first 192 bytes fetched, sip_blob_parse's
		 * line scan took the misses, 8 % of the worker's time. */
		for (size_t off = 0; off < sizeof(*s->d); off += 64)
			__builtin_prefetch(d + off);
		__builtin_prefetch(d + sizeof(*s->d) - 1);
	}
}

/* The index position of (shard, id), or of the first tombstone or empty
 * entry on its probe sequence when absent (*found false). */
static uint32_t probe(const struct sip_seg *s, uint16_t shard, uint64_t id, bool *found)
{
	const uint64_t *ix = index_of(s);
	uint64_t h = hash_of(shard, id);
	uint32_t mask = s->icap - 1, i = (uint32_t)h & mask, spot = UINT32_MAX;

	*found = false;
	for (uint32_t n = 0; n < s->icap; n++, i = (i + 1) & mask) {
		uint32_t rec1 = (uint32_t)ix[i];
		const struct sip_dlg *d;

		if (rec1 == IDX_EMPTY)
			return spot != UINT32_MAX ? spot : i;
		if (rec1 == IDX_TOMB) {
			if (spot == UINT32_MAX)
				spot = i;
			continue;
		}
		if ((ix[i] >> 32) != (h >> 32))
			continue;
		d = &s->d[rec1 - 1];
		if (d->id == id && d->shard == shard) {
			*found = true;
			return i;
		}
	}
	return spot;
}

struct sip_dlg *sip_dlg_find(struct sip_seg *s, uint16_t shard, uint64_t id)
{
	bool found;
	uint32_t i = probe(s, shard, id, &found);

	return found ? &s->d[(uint32_t)index_of(s)[i] - 1] : NULL;
}

/* A free record, or NULL when all cap are in use. */
static struct sip_dlg *rec_alloc(struct sip_seg *s)
{
	struct sip_dlg *d;

	if (s->free_head) {
		d = &s->d[s->free_head - 1];
		s->free_head = d->next_free;
		return d;
	}
	return s->nrec < s->cap ? &s->d[s->nrec++] : NULL;
}

struct sip_dlg *sip_dlg_get(struct sip_seg *s, uint16_t shard, uint64_t id, uint32_t cseq_base)
{
	uint64_t *ix = index_of(s);
	bool found;
	uint32_t i = probe(s, shard, id, &found);
	struct sip_dlg *d;

	if (found)
		return &s->d[(uint32_t)ix[i] - 1];
	/* keep a quarter of the index free so probes stay short */
	if (i == UINT32_MAX || ((uint32_t)ix[i] == IDX_EMPTY && s->iused >= s->icap - s->icap / 4))
		return NULL;
	if (!(d = rec_alloc(s)))
		return NULL;
	if ((uint32_t)ix[i] == IDX_EMPTY)
		s->iused++;
	memset(d, 0, sizeof(*d));
	d->shard = shard;
	d->cseq = cseq_base;
	d->id = id;
	d->flags = SIP_DLG_USED;
	ix[i] = entry(sip_dlg_slot(s, d) + 1, hash_of(shard, id));
	SIP_COUNT(s, dialogs, 1);
	return d;
}

void sip_dlg_del(struct sip_seg *s, struct sip_dlg *d)
{
	bool found;
	uint32_t i = probe(s, d->shard, d->id, &found);

	if (found)
		index_of(s)[i] = IDX_TOMB;
	d->flags = 0;
	d->id = 0;
	d->next_free = s->free_head;
	s->free_head = sip_dlg_slot(s, d) + 1;
	SIP_COUNT(s, dialogs, (uint64_t)-1);
}

uint32_t sip_dlg_sweep(struct sip_seg *s, uint32_t *cursor, uint32_t n,
		       bool (*alive)(void *arg, uint16_t shard, uint64_t id), void *arg)
{
	uint32_t gone = 0;

	for (uint32_t k = 0; k < n && k < s->cap; k++) {
		struct sip_dlg *d = &s->d[*cursor % s->cap];

		*cursor = (*cursor + 1) % s->cap;
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
	b->where = line(&p);
	if (!b->call_id.n || !b->ltag.n || !b->rtarget.n || !b->ruri.n || !b->luri.n)
		return -EINVAL;
	return 0;
}
