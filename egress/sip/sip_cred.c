/* sip_cred: the digest credential table in shared memory (open addressing,
 * linear probing, tombstones), written by the admin process and read by the
 * SIP worker under per-record sequence locks. */
#include "egress/sip/sip_cred.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "egress/sip/sip_auth.h"
#include "lib/hash.h"

enum { C_EMPTY = 0, C_USED, C_TOMB };

struct crec {
	uint32_t seq; /* odd while the writer changes the record */
	uint32_t state;
	struct sip_cred c;
};

struct cseg {
	struct shm_hdr shm;
	uint32_t slots; /* a power of two */
	uint32_t limit; /* 3/4 of slots: probes stay short */
	uint32_t count; /* C_USED records */
	uint32_t pad;
	struct crec recs[];
};

static bool name_ok(const char *s, size_t cap)
{
	size_t n = strlen(s);

	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == ':' || s[i] == '@' || s[i] == '"' ||
		    s[i] == '\\' || s[i] == 0x7f)
			return false;
	return true;
}

static int names_check(const char *user, const char *realm, const char **why)
{
	if (!name_ok(user, SIP_CRED_USER_MAX)) {
		*why = "user: 1 to 63 bytes, no spaces, ':', '@', '\"' or '\\\\'";
		return -EINVAL;
	}
	if (!name_ok(realm, SIP_CRED_REALM_MAX)) {
		*why = "realm: 1 to 127 bytes, no spaces, ':', '@', '\"' or '\\\\'";
		return -EINVAL;
	}
	return 0;
}

int sip_cred_from_password(const char *user, const char *realm, const char *pw,
			   struct sip_cred *out, const char **why)
{
	struct sip_cred c = { 0 };

	if (names_check(user, realm, why) < 0)
		return -EINVAL;
	if (!pw[0]) {
		*why = "password: empty";
		return -EINVAL;
	}
	/* user and realm may point into out */
	snprintf(c.user, sizeof(c.user), "%s", user);
	snprintf(c.realm, sizeof(c.realm), "%s", realm);
	*out = c;
	if (sip_digest_ha1("MD5", user, realm, pw, out->ha1_md5) < 0 ||
	    sip_digest_ha1("SHA-256", user, realm, pw, out->ha1_sha256) < 0) {
		*why = "hashing failed";
		return -EINVAL;
	}
	return 0;
}

static bool hex_ok(char *s, size_t want)
{
	size_t n = strlen(s);

	if (n == 0)
		return true;
	if (n != want)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'F')
			s[i] = (char)(s[i] + 32);
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

int sip_cred_validate(struct sip_cred *c, const char **why)
{
	if (names_check(c->user, c->realm, why) < 0)
		return -EINVAL;
	if (!hex_ok(c->ha1_md5, 32)) {
		*why = "ha1_md5: 32 hex digits";
		return -EINVAL;
	}
	if (!hex_ok(c->ha1_sha256, 64)) {
		*why = "ha1_sha256: 64 hex digits";
		return -EINVAL;
	}
	if (!c->ha1_md5[0] && !c->ha1_sha256[0]) {
		*why = "give password, or ha1_sha256 and/or ha1_md5";
		return -EINVAL;
	}
	return 0;
}

/* ---- the table ---- */

static uint32_t home(const struct cseg *g, const char *user, const char *realm)
{
	uint64_t h = hash64(user, strlen(user)) * 31 ^ hash64(realm, strlen(realm));

	return (uint32_t)h & (g->slots - 1);
}

static bool same(const struct sip_cred *c, const char *user, const char *realm)
{
	return strcmp(c->user, user) == 0 && strcasecmp(c->realm, realm) == 0;
}

int sip_cred_open(const char *name, uint32_t cap, struct shm_seg *out)
{
	uint32_t slots = 16;
	int rc;

	while (slots < (uint64_t)cap * 4 / 3 + 1)
		slots <<= 1;
	rc = shm_seg_open(name, SIP_CRED_KIND,
			  sizeof(struct cseg) + (size_t)slots * sizeof(struct crec), out);
	if (rc < 0)
		return rc;
	if (out->created) {
		struct cseg *g = out->base;

		g->slots = slots;
		g->limit = slots / 4 * 3;
		shm_seg_ready(out);
	}
	return 0;
}

/* Slot of user@realm, or -1 with *free the first reusable slot (-1: none). */
static int64_t find(const struct cseg *g, const char *user, const char *realm, int64_t *free)
{
	uint32_t mask = g->slots - 1, i = home(g, user, realm);

	*free = -1;
	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		const struct crec *r = &g->recs[i];

		if (r->state == C_EMPTY) {
			if (*free < 0)
				*free = i;
			return -1;
		}
		if (r->state == C_TOMB) {
			if (*free < 0)
				*free = i;
			continue;
		}
		if (same(&r->c, user, realm))
			return i;
	}
	return -1;
}

/* The writer's change of one record, bracketed by its sequence. */
static void rec_write(struct crec *r, uint32_t state, const struct sip_cred *c)
{
	__atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (c)
		r->c = *c;
	else
		memset(&r->c, 0, sizeof(r->c));
	__atomic_store_n(&r->state, state, __ATOMIC_RELAXED);
	__atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
}

int sip_cred_put(struct shm_seg *s, const struct sip_cred *c)
{
	struct cseg *g = s->base;
	int64_t free, i = find(g, c->user, c->realm, &free);

	if (i >= 0) {
		rec_write(&g->recs[i], C_USED, c);
		return 0;
	}
	if (free < 0 || g->count >= g->limit)
		return -ENOSPC;
	rec_write(&g->recs[free], C_USED, c);
	g->count++;
	return 0;
}

int sip_cred_del(struct shm_seg *s, const char *user, const char *realm)
{
	struct cseg *g = s->base;
	int64_t free, i = find(g, user, realm, &free);

	if (i < 0)
		return -ENOENT;
	rec_write(&g->recs[i], C_TOMB, NULL);
	g->count--;
	return 0;
}

void sip_cred_clear(struct shm_seg *s)
{
	struct cseg *g = s->base;

	for (uint32_t i = 0; i < g->slots; i++)
		if (g->recs[i].state != C_EMPTY)
			rec_write(&g->recs[i], C_EMPTY, NULL);
	g->count = 0;
}

bool sip_cred_fits(const struct shm_seg *s, const char *user, const char *realm)
{
	const struct cseg *g = s->base;
	int64_t free;

	return find(g, user, realm, &free) >= 0 || (free >= 0 && g->count < g->limit);
}

/* ---- readers ---- */

/* A consistent copy of record i: its state, or -EAGAIN after many retries
 * (a writer that died mid-record leaves its sequence odd). */
static int rec_read(const struct crec *r, struct sip_cred *out)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE), state;

		if (s1 & 1)
			continue;
		state = __atomic_load_n(&r->state, __ATOMIC_RELAXED);
		if (out && state == C_USED)
			memcpy(out, &r->c, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) == s1)
			return (int)state;
	}
	return -EAGAIN;
}

int sip_cred_get(const void *base, const char *user, const char *realm, struct sip_cred *out)
{
	const struct cseg *g = base;
	uint32_t mask = g->slots - 1, i = home(g, user, realm);

	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		int st = rec_read(&g->recs[i], out);

		if (st == C_EMPTY)
			return -ENOENT;
		if (st == C_USED && same(out, user, realm))
			return 0;
	}
	return -ENOENT;
}

bool sip_cred_next(const void *base, uint32_t *pos, struct sip_cred *out)
{
	const struct cseg *g = base;

	for (; *pos < g->slots; (*pos)++)
		if (rec_read(&g->recs[*pos], out) == C_USED) {
			(*pos)++;
			return true;
		}
	return false;
}

uint32_t sip_cred_count(const void *base)
{
	return __atomic_load_n(&((const struct cseg *)base)->count, __ATOMIC_RELAXED);
}

void sip_cred_reader_init(struct sip_cred_reader *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
}

void sip_cred_reader_close(struct sip_cred_reader *r)
{
	if (r->seg.base)
		shm_seg_close(&r->seg);
	r->seg.base = NULL;
}

int sip_cred_lookup(void *arg, const char *user, const char *realm, const char *alg, char *ha1,
		    size_t cap)
{
	struct sip_cred_reader *r = arg;
	struct sip_cred c;
	const char *h;

	time_t now = time(NULL);

	/* a miss attaches again (at most once a second): the segment may have
	 * been made after the worker started, or removed and made anew */
	for (int pass = 0;; pass++) {
		if (r->seg.base && sip_cred_get(r->seg.base, user, realm, &c) == 0)
			break;
		if (pass || now == r->attached)
			return -ENOENT;
		sip_cred_reader_close(r);
		r->attached = now;
		if (shm_seg_attach_ro(r->name, SIP_CRED_KIND, &r->seg) < 0) {
			r->seg.base = NULL;
			return -ENOENT;
		}
	}
	h = strcasecmp(alg, "SHA-256") == 0 ? c.ha1_sha256 : c.ha1_md5;
	if (!h[0] || strlen(h) >= cap)
		return -ENOENT;
	memcpy(ha1, h, strlen(h) + 1);
	return 0;
}
