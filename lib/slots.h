/* slots: a table's slot numbers 0..cap-1 handed out and taken back in O(1).
 * The slot given back last is handed out first, so the slots in use stay
 * few, at the bottom of the table and hot in the cache (a round-robin walk
 * writes each entry into the coldest slot of the whole table), and only
 * the slots ever in use at once are paged in. The slots in use are also
 * listed densely, so a scan costs what is in use, not the capacity.
 * Single-threaded: the table's owner serializes. */
#ifndef PNA_SLOTS_H
#define PNA_SLOTS_H

#include <stdint.h>

#define SLOTS_NONE UINT32_MAX

struct slots {
	uint32_t cap, nfree, nlive;
	uint32_t *free; /* free[0..nfree): the top is handed out first (owned) */
	uint32_t *live; /* live[0..nlive): the slots in use, in no order (owned) */
	uint32_t *at;	/* at[slot]: where a slot in use is in live (owned) */
};

/* All cap slots free, slot 0 handed out first. 0 or -ENOMEM. */
int slots_init(struct slots *s, uint32_t cap);
void slots_fini(struct slots *s);
/* A free slot, now in use, or SLOTS_NONE when all are in use. */
uint32_t slots_take(struct slots *s);
/* Give back a slot in use. It moves the last of live into its place: a
 * scan that gives slots back walks live from the end (slots_live). */
void slots_put(struct slots *s, uint32_t slot);

static inline uint32_t slots_nlive(const struct slots *s)
{
	return s->nlive;
}

/* The k-th slot in use, k < slots_nlive. */
static inline uint32_t slots_live(const struct slots *s, uint32_t k)
{
	return s->live[k];
}

#endif
