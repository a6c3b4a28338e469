/* bench_xmpp: `pna-bench xmpp`, notification stanzas/s from pnad's XMPP
 * worker through its XEP-0114 component link to a counting sink
 * (bench_xsink) in the pna-bench process, against a same-run baseline: a
 * forked writer that attaches to the same sink as a component and writes the
 * same stanza bytes (captured from the pnad run). */
#ifndef PNA_BENCH_XMPP_H
#define PNA_BENCH_XMPP_H

#include <stdio.h>

/* argv[0] is "xmpp". Returns the process exit status: 0 measured, 2 usage,
 * 3 failure. */
int bench_xmpp_main(int argc, char **argv);
void bench_xmpp_usage(FILE *f);

#endif
