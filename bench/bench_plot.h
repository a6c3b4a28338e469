/* bench_plot: charts through gnuplot (Debian's gnuplot-nox: png and svg
 * terminals). The caller writes the data file and the plot commands; this
 * writes PREFIX.gp, runs gnuplot on it once for PREFIX.png and once for
 * PREFIX.svg, and keeps gnuplot's messages (fit reports) in PREFIX.log. */
#ifndef PNA_BENCH_PLOT_H
#define PNA_BENCH_PLOT_H

/* `body` refers to the data file as DATA. 0, or -errno (-ENOENT: no
 * gnuplot; -EPROTO: gnuplot failed, see PREFIX.log). */
int bench_plot(const char *prefix, const char *body, const char *data);

#endif
