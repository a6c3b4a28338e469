/* slots: O(1) slot numbers, last given back first out, in-use list dense. */
#include "lib/slots.h"

#include <errno.h>
#include <stdlib.h>

int slots_init(struct slots *s, uint32_t cap)
{
	*s = (struct slots){ .cap = cap, .nfree = cap };
	s->free = calloc(cap, sizeof(*s->free));
	s->live = calloc(cap, sizeof(*s->live));
	s->at = calloc(cap, sizeof(*s->at));
	if (!s->free || !s->live || !s->at) {
		slots_fini(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cap; i++)
		s->free[i] = cap - 1 - i;
	return 0;
}

void slots_fini(struct slots *s)
{
	free(s->free);
	free(s->live);
	free(s->at);
	*s = (struct slots){ 0 };
}

uint32_t slots_take(struct slots *s)
{
	uint32_t slot;

	if (s->nfree == 0)
		return SLOTS_NONE;
	slot = s->free[--s->nfree];
	s->at[slot] = s->nlive;
	s->live[s->nlive++] = slot;
	return slot;
}

void slots_put(struct slots *s, uint32_t slot)
{
	uint32_t k = s->at[slot], last = s->live[--s->nlive];

	s->live[k] = last;
	s->at[last] = k;
	s->free[s->nfree++] = slot;
}
