/* bench_procs: the busiest other processes over a window. See
 * bench_procs.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_procs.h"
#include "bench/bench_util.h"

static int by_pid(const void *a, const void *b)
{
	pid_t x = ((const struct bench_proc_cpu *)a)->pid,
	      y = ((const struct bench_proc_cpu *)b)->pid;

	return (x > y) - (x < y);
}

static void note_cpu(pid_t pid, void *arg)
{
	struct bench_procs *ps = arg;
	double s;

	if (pid == getpid() || (s = bench_cpu_seconds(pid)) < 0)
		return; /* this one, or gone since the listing */
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 256;
		if (!(ps->p = realloc(ps->p, ps->cap * sizeof(*ps->p))))
			abort();
	}
	ps->p[ps->n++] = (struct bench_proc_cpu){ pid, s };
}

int bench_procs_read(struct bench_procs *ps)
{
	int rc;

	ps->n = 0;
	if ((rc = bench_proc_each(note_cpu, ps)) < 0)
		return rc;
	if (ps->n)
		qsort(ps->p, ps->n, sizeof(*ps->p), by_pid);
	return 0;
}

static const struct bench_proc_cpu *find(const struct bench_procs *ps, pid_t pid)
{
	size_t lo = 0, hi = ps->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ps->p[mid].pid == pid)
			return &ps->p[mid];
		if (ps->p[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool skipped(pid_t pid, const pid_t *skip, size_t nskip)
{
	for (size_t i = 0; i < nskip; i++)
		if (skip[i] == pid)
			return true;
	return false;
}

/* Keep o sorted busiest first, the busiest BENCH_PROCS_BUSIEST. */
static void add(struct bench_proc_busy *o, const char *comm, double cpu)
{
	int i = BENCH_PROCS_BUSIEST;

	while (i > 0 && o[i - 1].cpu < cpu)
		i--;
	if (i == BENCH_PROCS_BUSIEST)
		return;
	memmove(&o[i + 1], &o[i], (BENCH_PROCS_BUSIEST - 1 - (size_t)i) * sizeof(*o));
	o[i].cpu = cpu;
	snprintf(o[i].comm, sizeof(o[i].comm), "%s", comm);
}

int bench_procs_busiest(const struct bench_procs *before, const pid_t *skip, size_t nskip,
			struct bench_proc_busy *o, struct bench_procs_sum *sum)
{
	struct bench_procs now = { 0 };
	int rc;

	memset(o, 0, BENCH_PROCS_BUSIEST * sizeof(*o));
	if (sum)
		sum->cpu = 0;
	if ((rc = bench_procs_read(&now)) < 0)
		return rc;
	for (size_t i = 0; i < now.n; i++) {
		const struct bench_proc_cpu *b = find(before, now.p[i].pid);
		double cpu = now.p[i].cpu - (b ? b->cpu : 0);
		char comm[16];

		if (cpu <= 0)
			continue; /* most processes: no name read */
		bench_proc_comm(now.p[i].pid, comm, sizeof(comm));
		if (sum && strncmp(comm, sum->prefix, strlen(sum->prefix)) == 0)
			sum->cpu += cpu;
		if (!skipped(now.p[i].pid, skip, nskip))
			add(o, comm, cpu);
	}
	bench_procs_free(&now);
	return 0;
}

void bench_procs_free(struct bench_procs *ps)
{
	free(ps->p);
	*ps = (struct bench_procs){ 0 };
}

void bench_procs_print(FILE *f, const char *lead, const struct bench_proc_busy *o, double scale,
		       int decimals, const char *unit)
{
	for (int i = 0; i < BENCH_PROCS_BUSIEST && o[i].cpu > 0; i++)
		fprintf(f, "%s%s %.*f%s", i ? ", " : lead, o[i].comm, decimals, o[i].cpu * scale,
			unit);
}

void bench_procs_json(struct bench_json *j, const char *key, const struct bench_proc_busy *o,
		      const char *figure, double scale)
{
	bench_json_arr(j, key);
	for (int i = 0; i < BENCH_PROCS_BUSIEST && o[i].cpu > 0; i++) {
		bench_json_obj(j, NULL);
		bench_json_str(j, "comm", o[i].comm);
		bench_json_num(j, figure, o[i].cpu * scale);
		bench_json_end(j);
	}
	bench_json_end(j);
}
