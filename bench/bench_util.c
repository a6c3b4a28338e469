/* bench_util: clocks, sockets, child processes, machine facts and the JSON
 * writer of pna-bench. */
#include "bench/bench_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define JSON_DEPTH 16

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_sleep(double seconds)
{
	struct timespec ts = { .tv_sec = (time_t)seconds,
			       .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void bench_progress(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pna-bench: %s\n", line);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

size_t bench_median_index(const double *v, size_t n)
{
	size_t below, equal;

	for (size_t i = 0; i < n; i++) {
		below = equal = 0;
		for (size_t j = 0; j < n; j++) {
			below += v[j] < v[i];
			equal += v[j] == v[i] && j < i;
		}
		/* sorted stably, v[i] sits at below + equal */
		if (below + equal == (n - 1) / 2)
			return i;
	}
	return 0;
}

const char *bench_si(char *buf, size_t len, double v)
{
	if (fabs(v) >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (fabs(v) >= 1e3)
		snprintf(buf, len, "%.0fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

int bench_self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	return 0;
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

int bench_tcp_listen(uint16_t *port, int backlog)
{
	struct sockaddr_in a = loopback(0);
	socklen_t alen = sizeof(a);
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		goto err_close;
	*port = ntohs(a.sin_port);
	return fd;

err_close:
	err = -errno;
	close(fd);
	return err;
}

int bench_free_port(uint16_t *port)
{
	int fd = bench_tcp_listen(port, 1);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int bench_tcp_connect(uint16_t port)
{
	struct sockaddr_in a = loopback(port);
	int fd, err, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* As the connectors do: a frame goes out when written, not after the
	 * previous one's ACK (Nagle), which would add to every latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int bench_spawn(char *const argv[], const char *log_path, pid_t *pid)
{
	int log_fd, null_fd;
	pid_t p;

	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return -errno;
	fflush(NULL);
	p = fork();
	if (p < 0) {
		close(log_fd);
		return -errno;
	}
	if (p == 0) {
		null_fd = open("/dev/null", O_RDONLY);
		if (null_fd >= 0)
			dup2(null_fd, 0);
		dup2(log_fd, 1);
		dup2(log_fd, 2);
		execvp(argv[0], argv); /* a bare name is looked up in PATH */
		dprintf(2, "pna-bench: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(log_fd);
	*pid = p;
	return 0;
}

int bench_wait_port(uint16_t port, pid_t pid, double timeout, int *wstatus)
{
	double end = bench_now() + timeout;

	for (;;) {
		int fd = bench_tcp_connect(port);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(pid, wstatus, WNOHANG) == pid)
			return -ECHILD;
		if (bench_now() > end)
			return -ETIMEDOUT;
		bench_sleep(0.02);
	}
}

int bench_stop(pid_t pid, int sig, double timeout, int *wstatus)
{
	double end = bench_now() + timeout;
	pid_t r;

	if (kill(pid, sig) < 0 && errno != ESRCH)
		return -errno;
	while ((r = waitpid(pid, wstatus, WNOHANG)) == 0 && bench_now() < end)
		bench_sleep(0.01);
	if (r == pid)
		return 0;
	if (r < 0)
		return -errno;
	bench_progress("pid %d did not stop within %.0f s; killing it", (int)pid, timeout);
	kill(pid, SIGKILL);
	return waitpid(pid, wstatus, 0) == pid ? 0 : -errno;
}

const char *bench_wstatus(char *buf, size_t len, int wstatus)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(wstatus),
			 strsignal(WTERMSIG(wstatus)));
	else
		snprintf(buf, len, "wait status 0x%x", wstatus);
	return buf;
}

/* The parent pid of `pid` from /proc/<pid>/stat, or -1. */
static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: the state follows the last ')'. */
	rp = strrchr(buf, ')');
	if (!rp || strlen(rp) < 5)
		return -1;
	return (pid_t)strtol(rp + 4, NULL, 10);
}

int bench_proc_each(void (*fn)(pid_t pid, void *arg), void *arg)
{
	DIR *dir = opendir("/proc");
	struct dirent *d;

	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		pid_t pid = (pid_t)atoi(d->d_name);

		if (pid > 0)
			fn(pid, arg);
	}
	closedir(dir);
	return 0;
}

struct proc_parents {
	pid_t pid[4096], parent[4096];
	size_t n;
};

static void note_parent(pid_t pid, void *arg)
{
	struct proc_parents *pp = arg;

	if (pp->n < sizeof(pp->pid) / sizeof(pp->pid[0])) {
		pp->pid[pp->n] = pid;
		pp->parent[pp->n++] = ppid_of(pid);
	}
}

size_t bench_proc_tree(pid_t pid, pid_t *out, size_t cap)
{
	struct proc_parents pp;
	size_t nout = 0;

	if (cap == 0)
		return 0;
	pp.n = 0;
	out[nout++] = pid;
	bench_proc_each(note_parent, &pp);
	/* Breadth first: out[] grows while it is scanned. */
	for (size_t k = 0; k < nout; k++)
		for (size_t i = 0; i < pp.n && nout < cap; i++)
			if (pp.parent[i] == out[k])
				out[nout++] = pp.pid[i];
	return nout;
}

double bench_cpu_seconds(pid_t pid)
{
	struct timespec ts;
	clockid_t clk;

	if (clock_getcpuclockid(pid, &clk) != 0 || clock_gettime(clk, &ts) < 0)
		return -1;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_proc_switches(pid_t pid, uint64_t *voluntary, uint64_t *involuntary)
{
	char path[64], line[128];
	unsigned long long n;
	FILE *f;

	*voluntary = *involuntary = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1)
			*voluntary = n;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &n) == 1)
			*involuntary = n;
	}
	fclose(f);
	return 0;
}

double bench_thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_self_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_machine_busy_seconds(void)
{
	unsigned long long v[5] = { 0 };
	long hz = sysconf(_SC_CLK_TCK), cpus = sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f = fopen("/proc/stat", "re");
	struct timespec up;
	int n;

	if (!f)
		return -1;
	/* cpu user nice system idle iowait ...: the busy fields are sampled
	 * at the tick, which under many short bursts lands in idle more often
	 * than the CPUs are idle (a phase read 0.82 cores busy where pnad and
	 * the bench alone used 0.87); idle and iowait are timed at each idle
	 * entry and exit. So busy is the CPUs' time less the idle time. */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]);
	fclose(f);
	if (n < 5 || hz <= 0 || cpus <= 0 || clock_gettime(CLOCK_BOOTTIME, &up) < 0)
		return -1;
	return (double)cpus * ((double)up.tv_sec + (double)up.tv_nsec * 1e-9) -
	       (double)(v[3] + v[4]) / (double)hz;
}

void bench_dump_file(const char *path, const char *prefix, size_t tail)
{
	char *buf, *line, *save;
	struct stat st;
	ssize_t n;
	off_t off;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s(cannot read %s: %s)\n", prefix, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	off = st.st_size > (off_t)tail ? st.st_size - (off_t)tail : 0;
	buf = calloc(1, tail + 1);
	if (!buf)
		abort();
	n = pread(fd, buf, tail, off);
	close(fd);
	if (n <= 0)
		fprintf(stderr, "%s(%s is empty)\n", prefix, path);
	for (line = n > 0 ? strtok_r(buf, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "%s%s\n", prefix, line);
	free(buf);
}

int bench_tmpdir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, len, "%s/pna-bench.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(buf) ? 0 : -errno;
}

void bench_tmpdir_remove(const char *dir)
{
	char path[4096];
	struct dirent *d;
	DIR *dh = opendir(dir);

	if (!dh)
		return;
	while ((d = readdir(dh))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path);
	}
	closedir(dh);
	rmdir(dir);
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512], *colon;

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) != 0 || !(colon = strchr(line, ':')))
			continue;
		colon += strspn(colon + 1, " \t") + 1;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

void bench_proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = 0;
	if ((f = fopen(path, "re"))) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

static void count_kdamond(pid_t pid, void *arg)
{
	char comm[16];

	bench_proc_comm(pid, comm, sizeof(comm));
	*(uint32_t *)arg += strncmp(comm, "kdamond", 7) == 0;
}

/* The DAMON monitors running: their kdamond.N threads, whichever
 * interface started them (the sysfs admin one lists only its own, not
 * DAMON_RECLAIM's or DAMON_STAT's). */
static uint32_t damon_running(void)
{
	uint32_t on = 0;

	bench_proc_each(count_kdamond, &on);
	return on;
}

void bench_machine_get(struct bench_machine *m)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	memset(m, 0, sizeof(*m));
	m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0) {
		snprintf(m->kernel, sizeof(m->kernel), "%s %s", u.sysname, u.release);
		snprintf(m->host, sizeof(m->host), "%s", u.nodename);
	}
	cpu_model(m->cpu, sizeof(m->cpu));
	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	m->mem_bytes = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
	m->damon_on = damon_running();
}

struct bench_json {
	FILE *f;
	int depth;
	bool first[JSON_DEPTH];	 /* nothing written yet at this level */
	char closer[JSON_DEPTH]; /* '}' or ']' for this level */
	int err;
};

int bench_json_open(const char *path, struct bench_json **out)
{
	struct bench_json *j = calloc(1, sizeof(*j));

	if (!j)
		abort();
	j->f = fopen(path, "we");
	if (!j->f) {
		int err = -errno;

		free(j);
		return err;
	}
	j->first[0] = true;
	*out = j;
	return 0;
}

int bench_json_close(struct bench_json *j)
{
	int err = j->err;

	fputc('\n', j->f);
	if (ferror(j->f) && !err)
		err = -EIO;
	if (fclose(j->f) != 0 && !err)
		err = -errno;
	free(j);
	return err;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Separator, indentation and member name before a value. */
static void member(struct bench_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->depth > 0)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key) {
		put_string(j->f, key);
		fputs(": ", j->f);
	}
}

static void open_level(struct bench_json *j, const char *key, char opener, char closer)
{
	member(j, key);
	fputc(opener, j->f);
	if (j->depth + 1 >= JSON_DEPTH) {
		j->err = -E2BIG;
		return;
	}
	j->first[++j->depth] = true;
	j->closer[j->depth] = closer;
}

void bench_json_obj(struct bench_json *j, const char *key)
{
	open_level(j, key, '{', '}');
}

void bench_json_arr(struct bench_json *j, const char *key)
{
	open_level(j, key, '[', ']');
}

void bench_json_end(struct bench_json *j)
{
	bool empty = j->first[j->depth];
	char closer = j->closer[j->depth];

	if (j->depth == 0) {
		j->err = -EINVAL;
		return;
	}
	j->depth--;
	if (!empty)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(closer, j->f);
}

void bench_json_str(struct bench_json *j, const char *key, const char *v)
{
	member(j, key);
	put_string(j->f, v);
}

void bench_json_num(struct bench_json *j, const char *key, double v)
{
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

void bench_json_int(struct bench_json *j, const char *key, int64_t v)
{
	member(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void bench_json_bool(struct bench_json *j, const char *key, bool v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

int bench_opt_num(const char *cmd, const char *name, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'k')
		v *= 1000, end++;
	else if (*end == 'M')
		v *= 1000000, end++;
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "pna-bench %s: --%s %s: expected %llu..%llu\n", cmd, name, s,
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int bench_opt_real(const char *cmd, const char *name, const char *s, double max, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0 && v <= max)) {
		fprintf(stderr, "pna-bench %s: --%s %s: expected 0..%g\n", cmd, name, s, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

void bench_flood_defaults(struct bench_flood_opts *o)
{
	*o = (struct bench_flood_opts){
		.accounts = 10000, .per_frame = 64, .events = 1000000, .duration = 15
	};
}

int bench_flood_opt(const char *cmd, int c, const char *arg, struct bench_flood_opts *o)
{
	uint64_t v = 0;
	int rc = 1;

	switch (c) {
	case 'a':
		rc = bench_opt_num(cmd, "accounts", arg, 1, 1u << 20, &v);
		o->accounts = (uint32_t)v;
		break;
	case 'e':
		rc = bench_opt_num(cmd, "events", arg, 1, 100000000, &v);
		o->events = v;
		break;
	case 'b':
		rc = bench_opt_num(cmd, "batch", arg, 1, 4096, &v);
		o->per_frame = (uint32_t)v;
		break;
	case 'd':
		rc = bench_opt_num(cmd, "duration", arg, 1, 600, &v);
		o->duration = (double)v;
		break;
	case 'p':
		o->pnad = arg;
		break;
	case 'C':
		o->check = true;
		break;
	case 'K':
		o->keep = true;
		break;
	default:
		return 0;
	}
	return rc < 0 ? rc : 1;
}
