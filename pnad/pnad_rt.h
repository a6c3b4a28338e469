/* pnad_rt: what the supervisor sets up before forking and every child
 * inherits: the config, the mapped segments and the eventfds. Owned by the
 * supervisor; children use it read-only (they write into the segments). */
#ifndef PNA_PNAD_RT_H
#define PNA_PNAD_RT_H

#include <signal.h>
#include <stdint.h>

#include "lib/shm.h"
#include "lib/sub_msg.h"
#include "pnad/pnad_conf.h"

struct pnad_shard_rt {
	struct shm_seg seg;  /* shard_seg layout (shard/shard_seg.h) */
	struct shm_seg subs; /* sub_seg layout (shard/sub_seg.h) */
	int data_efd;	     /* anyone -> shard: records in one of its rings
			      * (router events, client requests) */
	int space_efd;	     /* shard -> router: space freed in the ring */
};

struct pnad_rt {
	const struct pnad_conf *conf;
	uint32_t nshards;
	struct pnad_shard_rt *shards; /* nshards entries */
	struct shm_seg router_seg;    /* router_seg layout */
	/* shard -> client role: replies or jobs in one of its rings (one fd per
	 * role, shared by every shard: the client scans all shards' rings). */
	int role_efd[SUB_NROLES];
};

/* Set by the SIGTERM/SIGINT handler every process installs. */
extern volatile sig_atomic_t pnad_stopping;

/* Install the stop handler (no SA_RESTART, so blocking calls return EINTR)
 * and ask the kernel for SIGTERM when the supervisor dies. */
void pnad_child_signals(void);

struct ring;
/* Map ring r (`what`, for the log) into this process now (ring_prefault),
 * so that no event waits on the page fault of a first touch. A failure is
 * logged as an error: /dev/shm cannot hold the segments. 0 or -errno. */
int pnad_ring_prefault(struct ring *r, const char *what);
/* Wake whoever sleeps on eventfd fd (data_efd, role_efd, space_efd, a
 * thread's): add 1 to its counter. A write fails only on a counter at its
 * limit (EAGAIN, the wake is there) or a bad fd (a bug): the first other
 * failure is logged, once, not at every event. */
void pnad_wake(int fd);

/* Entry points of the child processes; return the exit status. */
int router_main(struct pnad_rt *rt);
int shard_main(struct pnad_rt *rt, uint32_t index);
int admin_main(struct pnad_rt *rt);
int sip_main(struct pnad_rt *rt);  /* egress/sip (forked when sip_listen is set) */
int xmpp_main(struct pnad_rt *rt); /* egress/xmpp (forked when xmpp_server is set) */

#endif
