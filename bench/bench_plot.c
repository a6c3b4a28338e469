/* bench_plot: one gnuplot script, two terminals. */
#include "bench/bench_plot.h"

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>

#include "bench/bench_util.h"

int bench_plot(const char *prefix, const char *body, const char *data)
{
	char gp[4200], log[4200], *argv[] = { "gnuplot", gp, NULL };
	int wstatus, rc;
	pid_t pid;
	FILE *f;

	snprintf(gp, sizeof(gp), "%s.gp", prefix);
	snprintf(log, sizeof(log), "%s.log", prefix);
	if (!(f = fopen(gp, "w")))
		return -errno;
	fprintf(f,
		"DATA = '%s'\nset grid\nset key top left\n"
		"set terminal png size 960,600\nset output '%s.png'\n%s\n"
		"set terminal svg size 960,600 dynamic\nset output '%s.svg'\nreplot\n",
		data, prefix, body, prefix);
	if (fclose(f) != 0)
		return -errno;
	if ((rc = bench_spawn(argv, log, &pid)) < 0)
		return rc;
	if (waitpid(pid, &wstatus, 0) != pid)
		return -errno;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127)
		return -ENOENT;
	return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -EPROTO;
}
