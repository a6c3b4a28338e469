/* bench_sip: `pna-bench sip`, NOTIFYs/s from pnad's SIP worker over UDP to a
 * counting sink in the pna-bench process, against a same-run baseline: a
 * forked minimal sender that sendmmsg's the same NOTIFY datagrams (captured
 * from the pnad run) to the same sink, which answers both with 200 OK. */
#ifndef PNA_BENCH_SIP_H
#define PNA_BENCH_SIP_H

#include <stdio.h>

/* argv[0] is "sip". Returns the process exit status: 0 measured (and, with
 * --check, the target met), 1 the target missed, 2 usage, 3 failure. */
int bench_sip_main(int argc, char **argv);
void bench_sip_usage(FILE *f);

#endif
