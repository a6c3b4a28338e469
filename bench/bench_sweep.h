/* bench_sweep: `pna-bench sweep` (see bench_sweep.c). */
#ifndef PNA_BENCH_SWEEP_H
#define PNA_BENCH_SWEEP_H

int bench_sweep_main(int argc, char **argv);

#endif
