/* bench_util: helpers shared by pna-bench's subcommands, run in the pna-bench
 * process: clocks and medians, loopback sockets, child processes (start, wait
 * for a port, CPU time, stop), facts about the machine, and a small JSON
 * writer for --json reports. */
#ifndef PNA_BENCH_UTIL_H
#define PNA_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);
/* CLOCK_REALTIME in seconds (the clock of socket receive stamps). */
double bench_realtime(void);
void bench_sleep(double seconds);

/* One "pna-bench: ..." progress line on stderr. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Median of v[0..n) (sorts v in place); 0 when n is 0. */
double bench_median(double *v, size_t n);
/* The index of the median of v[0..n) (the lower middle one of an even
 * count), v left as it is; 0 for n == 0. For picking the median run of
 * rounds whose other figures go with it. */
size_t bench_median_index(const double *v, size_t n);

/* Rounds of a measurement (pna-bench sip, run's max phase): at most. */
#define BENCH_ROUNDS_MAX 20

/* "1.71M", "250k", "980": a rate or a count with an SI suffix, into buf. */
const char *bench_si(char *buf, size_t len, double v);

/* An option's number: decimal with an optional k or M suffix, within
 * [min, max]. 0, or -EINVAL after "pna-bench <cmd>: --<name> <s>: expected
 * min..max" on stderr. */
int bench_opt_num(const char *cmd, const char *name, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out);
/* An option's real number (seconds, a fraction) within [0, max]. 0, or
 * -EINVAL after "pna-bench <cmd>: --<name> <s>: expected 0..max". */
int bench_opt_real(const char *cmd, const char *name, const char *s, double max, double *out);

/* The options `pna-bench sip` and `pna-bench xmpp` share: accounts (-a,
 * one subscription each), events (-e), events per frame (-b), a cap on the
 * event phase (-d), the pnad binary (-p), --check, --keep. */
struct bench_flood_opts {
	uint32_t accounts, per_frame;
	uint64_t events;
	double duration; /* seconds */
	const char *pnad;
	bool check, keep;
};

/* 10,000 accounts, 1M events, 64 per frame, 15 s. */
void bench_flood_defaults(struct bench_flood_opts *o);
/* Take getopt's option c (argument arg) when it is one of the above: 1;
 * 0 when it is not; -EINVAL after a message on stderr. */
int bench_flood_opt(const char *cmd, int c, const char *arg, struct bench_flood_opts *o);

/* Directory holding the running pna-bench binary. 0 or -errno. */
int bench_self_dir(char *buf, size_t len);

/* A TCP socket listening on 127.0.0.1 at a port the kernel picks (*port).
 * The fd (caller owns) or -errno. */
int bench_tcp_listen(uint16_t *port, int backlog);
/* A port that was free a moment ago (for a child's config). 0 or -errno. */
int bench_free_port(uint16_t *port);
/* A blocking TCP connection to 127.0.0.1:port. The fd (caller owns) or -errno. */
int bench_tcp_connect(uint16_t port);

/* Start `argv[0]` as a child with stdout and stderr appended to log_path
 * (stdin from /dev/null). 0 and *pid, or -errno. */
int bench_spawn(char *const argv[], const char *log_path, pid_t *pid);
/* Wait until 127.0.0.1:port accepts a connection. 0; -ECHILD when `pid`
 * exited first (its wait status in *wstatus, the child is reaped);
 * -ETIMEDOUT after `timeout` seconds. */
int bench_wait_port(uint16_t port, pid_t pid, double timeout, int *wstatus);
/* Send `sig` to `pid`, wait for it up to `timeout` seconds, then SIGKILL it
 * and wait. 0 with its wait status in *wstatus, or -errno. */
int bench_stop(pid_t pid, int sig, double timeout, int *wstatus);
/* Describe a wait status ("exit status 2", "signal 11") into buf. */
const char *bench_wstatus(char *buf, size_t len, int wstatus);

/* Call fn(pid, arg) for every process listed in /proc (it may be gone by
 * the call). 0, or -errno when /proc cannot be read. */
int bench_proc_each(void (*fn)(pid_t pid, void *arg), void *arg);
/* `pid` and its descendants (one /proc scan), at most cap of them. How
 * many were written to out. */
size_t bench_proc_tree(pid_t pid, pid_t *out, size_t cap);
/* CPU seconds used so far by process `pid` (all its threads, live and
 * exited), nanosecond resolution; negative when it is gone. */
double bench_cpu_seconds(pid_t pid);
/* Context switches so far of the main thread of process `pid` (its event
 * loop in pnad; /proc/<pid>/status): voluntary (it slept: each is a
 * wake-up to come) and involuntary (it was preempted). 0, or -errno when
 * it is gone. */
int bench_proc_switches(pid_t pid, uint64_t *voluntary, uint64_t *involuntary);
/* CPU seconds used so far by the calling thread; by this whole process. */
double bench_thread_cpu_seconds(void);
double bench_self_cpu_seconds(void);
/* Busy CPU seconds of the whole machine since boot, over every CPU: the
 * CPUs' time less their idle time (/proc/stat, 1/USER_HZ resolution);
 * negative when unreadable. Only a difference means anything: the busy
 * time of a window minus what the bench and pnad used is other load. */
double bench_machine_busy_seconds(void);
/* The name of process `pid` (/proc/<pid>/comm, no newline) into buf, ""
 * when gone. */
void bench_proc_comm(pid_t pid, char *buf, size_t len);

/* Copy the last `tail` bytes of file `path` to stderr, each line prefixed
 * with `prefix`. */
void bench_dump_file(const char *path, const char *prefix, size_t tail);

/* A fresh directory under $TMPDIR or /tmp ("pna-bench.XXXXXX") into buf.
 * 0 or -errno. */
int bench_tmpdir(char *buf, size_t len);
/* Remove the files directly in `dir`, then `dir` itself. */
void bench_tmpdir_remove(const char *dir);

struct bench_machine {
	long nproc;
	char kernel[160]; /* uname -sr */
	char cpu[128];	  /* /proc/cpuinfo model name */
	char host[72];
	char date[32]; /* UTC, ISO 8601 */
	uint64_t mem_bytes;
	/* DAMON monitors running (kdamond.N threads, however started): each
	 * sample stalls a vCPU for milliseconds, which a latency tail on such
	 * a machine includes (docs/capacity.md). */
	uint32_t damon_on;
};

void bench_machine_get(struct bench_machine *m);

/* A streaming JSON writer: values are written as they come, so the caller
 * nests begin/end calls the way the document nests. `key` is the member name
 * inside an object and NULL inside an array or at the top. Errors are
 * remembered and reported by bench_json_close. */
struct bench_json;

/* 0 and *out (caller owns; finish with bench_json_close), or -errno. */
int bench_json_open(const char *path, struct bench_json **out);
/* Finish the document and close the file. 0 or -errno (write error). */
int bench_json_close(struct bench_json *j);
void bench_json_obj(struct bench_json *j, const char *key);
void bench_json_arr(struct bench_json *j, const char *key);
void bench_json_end(struct bench_json *j); /* closes the innermost obj/arr */
void bench_json_str(struct bench_json *j, const char *key, const char *v);
void bench_json_num(struct bench_json *j, const char *key, double v);
void bench_json_int(struct bench_json *j, const char *key, int64_t v);
void bench_json_bool(struct bench_json *j, const char *key, bool v);

#endif
