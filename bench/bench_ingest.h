/* bench_ingest: `pna-bench ingest`, events/s from mail-store connections
 * through pnad's router into its shards, batched (64 events per frame) and
 * unbatched (1 per frame), each set against a baseline measured in the same
 * run: a reader that only splits the same frames off the same connections
 * (bench_sink). Starts pnad itself; see docs/capacity.md. */
#ifndef PNA_BENCH_INGEST_H
#define PNA_BENCH_INGEST_H

#include <stdio.h>

/* argv[0] is "ingest". Returns the process exit status: 0 measured (and,
 * with --check, every target met), 1 a target missed, 2 usage, 3 failure. */
int bench_ingest_main(int argc, char **argv);
void bench_ingest_usage(FILE *f);

#endif
