/* grant_table: grants in a fixed array; every grant of an account lies on the
 * probe run from the account's home slot to the next empty slot (deletes
 * leave tombstones), so authorization looks at one short run. */
#include "shard/grant_table.h"

#include <errno.h>
#include <string.h>

#include "lib/hash.h"

#define GRANT_MAGIC 0x47524e31u /* "GRN1" */

enum { G_EMPTY = 0, G_USED, G_TOMB };

struct grec {
	uint32_t state;
	struct grant g;
};

struct gregion {
	uint32_t magic;
	uint32_t slots; /* a power of two */
	uint32_t limit; /* 3/4 of slots */
	uint32_t count;
	struct grec recs[];
};

static uint32_t slots_for(uint32_t cap)
{
	uint32_t n = 16;

	while (n < (uint64_t)cap * 4 / 3 + 1)
		n <<= 1;
	return n;
}

size_t grant_table_footprint(uint32_t cap)
{
	return sizeof(struct gregion) + (size_t)slots_for(cap) * sizeof(struct grec);
}

void grant_table_format(void *region, size_t bytes, uint32_t cap)
{
	struct gregion *g = region;

	memset(region, 0, bytes);
	g->slots = slots_for(cap);
	g->limit = g->slots / 4 * 3;
	g->magic = GRANT_MAGIC;
}

static uint32_t home(const struct gregion *g, const char *account)
{
	return (uint32_t)hash64(account, strlen(account)) & (g->slots - 1);
}

static int same(const struct grant *a, const struct grant *b)
{
	return strcmp(a->account, b->account) == 0 && strcmp(a->path, b->path) == 0 &&
	       strcmp(a->grantee, b->grantee) == 0;
}

/* Slot of the grant equal to g, or -1 with *free the first reusable slot. */
static int64_t find(const struct gregion *g, const struct grant *k, int64_t *free)
{
	uint32_t mask = g->slots - 1, i = home(g, k->account);

	*free = -1;
	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		const struct grec *r = &g->recs[i];

		if (r->state == G_EMPTY) {
			if (*free < 0)
				*free = i;
			return -1;
		}
		if (r->state == G_TOMB) {
			if (*free < 0)
				*free = i;
			continue;
		}
		if (same(&r->g, k))
			return i;
	}
	return -1;
}

int grant_table_put(void *region, const struct grant *k)
{
	struct gregion *g = region;
	int64_t free, i = find(g, k, &free);

	if (i >= 0) {
		g->recs[i].g.rights = k->rights;
		return 0;
	}
	if (free < 0 || g->count >= g->limit)
		return -ENOSPC;
	g->recs[free].g = *k;
	g->recs[free].state = G_USED;
	g->count++;
	return 0;
}

int grant_table_del(void *region, const struct grant *k)
{
	struct gregion *g = region;
	int64_t free, i = find(g, k, &free);

	if (i < 0)
		return -ENOENT;
	memset(&g->recs[i].g, 0, sizeof(g->recs[i].g));
	g->recs[i].state = G_TOMB;
	g->count--;
	return 0;
}

/* Does path P lie at or under grant path G ("" covers everything)? */
static int covers(const char *gpath, const char *path)
{
	size_t n = strlen(gpath);

	return n == 0 || (strncmp(gpath, path, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

/* Is identity (user@domain) the grantee: equal, or in domain "@d"? */
static int grantee_matches(const char *grantee, const char *identity)
{
	const char *at;

	if (grantee[0] != '@')
		return strcmp(grantee, identity) == 0;
	at = strrchr(identity, '@');
	return at && strcmp(at, grantee) == 0;
}

int grant_table_allows(const void *region, const char *identity, const char *account,
		       const char *path, uint32_t rights)
{
	const struct gregion *g = region;
	uint32_t mask = g->slots - 1, i = home(g, account);

	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		const struct grec *r = &g->recs[i];

		if (r->state == G_EMPTY)
			break;
		if (r->state == G_USED && (r->g.rights & rights) == rights &&
		    strcmp(r->g.account, account) == 0 && covers(r->g.path, path) &&
		    grantee_matches(r->g.grantee, identity))
			return 1;
	}
	return 0;
}

int grant_table_list(const void *region, const char *account,
		     int (*fn)(const struct grant *g, void *arg), void *arg)
{
	const struct gregion *g = region;
	uint32_t mask = g->slots - 1, i = home(g, account);
	int rc;

	for (uint32_t n = 0; n < g->slots; n++, i = (i + 1) & mask) {
		const struct grec *r = &g->recs[i];

		if (r->state == G_EMPTY)
			break;
		if (r->state == G_USED && strcmp(r->g.account, account) == 0) {
			rc = fn(&r->g, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

uint32_t grant_table_count(const void *region)
{
	return ((const struct gregion *)region)->count;
}
