/* bench_persist: `pna-bench persist`: the shard's Redis durability against a
 * redis-server it starts on a free loopback port (or one given): the
 * write-through rate of the writer thread (outbox records acknowledged per
 * second) and the cold-start reload rate (subscriptions per second). */
#ifndef PNA_BENCH_PERSIST_H
#define PNA_BENCH_PERSIST_H

int bench_persist_main(int argc, char **argv);

#endif
