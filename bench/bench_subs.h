/* bench_subs: `pna-bench subs`, the subscription table (shard/sub_table.h)
 * measured in the pna-bench process: bytes per subscription (XMPP and SIP
 * kinds, 1M subscriptions over 1M accounts by default), add rate, and the
 * cost of matching an event on mailboxes with 0 to 3 subscribers. Regions
 * are malloc'd; no pnad is started. */
#ifndef PNA_BENCH_SUBS_H
#define PNA_BENCH_SUBS_H

#include <stdio.h>

/* argv[0] is "subs". Returns the process exit status: 0 measured (and,
 * with --check, every target met), 1 a target missed, 2 usage, 3 failure. */
int bench_subs_main(int argc, char **argv);
void bench_subs_usage(FILE *f);

#endif
