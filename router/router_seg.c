/* router_seg: creating or re-attaching the router's segment and lining its
 * per-store progress up with the configured stores. Called by the supervisor
 * before it forks the router. */
#include "router/router_seg.h"

#include <stdlib.h>
#include <string.h>

/* Put the stores of `seg` in config order: a store keeps its progress when
 * its id is found in the old table, otherwise it starts at seq 0. */
static void match_stores(struct router_seg *seg, const struct pnad_conf *conf)
{
	struct router_store *old;
	uint32_t nold = seg->nstores;

	if (nold > PNAD_MAX_STORES)
		nold = 0;
	old = malloc(sizeof(seg->stores));
	if (!old)
		abort();
	memcpy(old, seg->stores, sizeof(seg->stores));
	memset(seg->stores, 0, sizeof(seg->stores));
	for (uint32_t i = 0; i < conf->nstores && i < PNAD_MAX_STORES; i++) {
		struct router_store *st = &seg->stores[i];

		for (uint32_t j = 0; j < nold; j++) {
			if (strncmp(old[j].id, conf->stores[i].id, sizeof(st->id)) == 0) {
				*st = old[j];
				break;
			}
		}
		memcpy(st->id, conf->stores[i].id, sizeof(st->id));
		st->id[sizeof(st->id) - 1] = '\0';
		st->connected = 0;
	}
	seg->nstores = conf->nstores;
	free(old);
}

int router_seg_open(const char *name, const struct pnad_conf *conf, struct shm_seg *out)
{
	struct router_seg *seg;
	int rc;

	rc = shm_seg_open(name, ROUTER_SEG_KIND, sizeof(struct router_seg), out);
	if (rc < 0)
		return rc;
	seg = router_seg_of(out);
	if (out->created) {
		seg->nstores = 0;
		seg->pid = 0;
		memset(&seg->c, 0, sizeof(seg->c));
	}
	match_stores(seg, conf);
	seg->c.open = 0;
	if (out->created)
		shm_seg_ready(out);
	return 0;
}
