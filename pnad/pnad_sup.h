/* pnad_sup: the supervisor. It creates the segments and eventfds, forks the
 * router and the shards, restarts a child that dies (a shard re-attaches to
 * its segment and keeps its state), and on
 * SIGTERM/SIGINT stops every child and exits. */
#ifndef PNA_PNAD_SUP_H
#define PNA_PNAD_SUP_H

#include "pnad/pnad_conf.h"

/* Run pnad with `conf` until stopped. Returns the process exit status. */
int pnad_sup_run(const struct pnad_conf *conf);

#endif
