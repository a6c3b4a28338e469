/* pnad_sup: segments, fork, restart and shutdown of pnad's processes. */
#include "pnad/pnad_sup.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "pnad/pnad_rt.h"
#include "router/router_seg.h"
#include "shard/shard_seg.h"
#include "shard/sub_seg.h"

#define EX_IOURING 78	/* the router's status when io_uring is unavailable */
#define RESTART_BURST 5 /* restarts within RESTART_WINDOW before slowing down */
#define RESTART_WINDOW 10

/* A child process: shard `shard` (>= 0), or the router or the admin API. */
#define CHILD_ROUTER (-1)
#define CHILD_ADMIN (-2)
#define CHILD_SIP (-3)
#define CHILD_XMPP (-4)

struct child {
	pid_t pid;
	int shard;
	time_t window_start;
	unsigned restarts_in_window;
};

struct sup {
	struct pnad_rt rt;
	struct child *children; /* [0] router, [1 + i] shard i */
	uint32_t nchildren;
	int sfd;
	int status;
};

static void seg_name(char *buf, size_t len, const char *prefix, const char *role, int i)
{
	if (i < 0)
		snprintf(buf, len, "/%s.%s", prefix, role);
	else
		snprintf(buf, len, "/%s.%s.%d", prefix, role, i);
}

/* Fail early, in the supervisor, with a message that says what to do. */
static int probe_io_uring(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(2, &ring, 0);

	if (rc == 0) {
		io_uring_queue_exit(&ring);
		return 0;
	}
	log_error("io_uring is unavailable (%s): pnad needs it for ingest. "
		  "Enable it with `sysctl kernel.io_uring_disabled=0`, or run the "
		  "container with a seccomp profile that allows io_uring_setup, "
		  "io_uring_enter and io_uring_register",
		  strerror(-rc));
	return rc;
}

static int open_segments(struct sup *s)
{
	const struct pnad_conf *c = s->rt.conf;
	const struct sub_seg_params sp = {
		.subs = (uint32_t)c->subscriptions,
		.string_bytes = (uint64_t)c->sub_string_bytes,
		.grants = (uint32_t)c->grants,
		.ctl_ring_bytes = (uint64_t)c->ctl_ring_bytes,
		.job_ring_bytes = (uint64_t)c->job_ring_bytes,
		.outbox_bytes = (uint64_t)c->outbox_bytes,
	};
	char name[64];
	int rc;

	for (int r = 0; r < SUB_NROLES; r++) {
		s->rt.role_efd[r] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->rt.role_efd[r] < 0)
			return -errno;
	}
	s->rt.shards = calloc(s->rt.nshards, sizeof(*s->rt.shards));
	if (!s->rt.shards)
		abort();
	for (uint32_t i = 0; i < s->rt.nshards; i++) {
		struct pnad_shard_rt *sh = &s->rt.shards[i];

		seg_name(name, sizeof(name), c->name, "shard", (int)i);
		rc = shard_seg_open(name, i, s->rt.nshards, (uint64_t)c->ring_bytes,
				    (uint32_t)c->mailboxes, &sh->seg);
		if (rc < 0) {
			log_error("shared memory %s: %s", name, strerror(-rc));
			return rc;
		}
		log_info("shard %u segment %s: %s (%zu MiB)", i, name,
			 sh->seg.created ? "created" : "re-attached", sh->seg.size >> 20);
		seg_name(name, sizeof(name), c->name, "subs", (int)i);
		rc = sub_seg_open(name, i, s->rt.nshards, &sp, &sh->subs);
		if (rc < 0) {
			log_error("shared memory %s: %s", name, strerror(-rc));
			return rc;
		}
		log_info("shard %u subscriptions %s: %s (%zu MiB)", i, name,
			 sh->subs.created ? "created" : "re-attached", sh->subs.size >> 20);
		sh->data_efd = eventfd(0, EFD_CLOEXEC);
		sh->space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (sh->data_efd < 0 || sh->space_efd < 0)
			return -errno;
	}
	seg_name(name, sizeof(name), c->name, "router", -1);
	rc = router_seg_open(name, c, &s->rt.router_seg);
	if (rc < 0)
		log_error("shared memory %s: %s", name, strerror(-rc));
	return rc;
}

static void close_segments(struct sup *s, int unlink_them)
{
	char name[64];

	for (uint32_t i = 0; s->rt.shards && i < s->rt.nshards; i++) {
		struct pnad_shard_rt *sh = &s->rt.shards[i];

		shm_seg_close(&sh->seg);
		shm_seg_close(&sh->subs);
		if (sh->data_efd > 0)
			close(sh->data_efd);
		if (sh->space_efd > 0)
			close(sh->space_efd);
		if (unlink_them) {
			seg_name(name, sizeof(name), s->rt.conf->name, "shard", (int)i);
			shm_seg_unlink(name);
			seg_name(name, sizeof(name), s->rt.conf->name, "subs", (int)i);
			shm_seg_unlink(name);
		}
	}
	shm_seg_close(&s->rt.router_seg);
	if (unlink_them) {
		seg_name(name, sizeof(name), s->rt.conf->name, "router", -1);
		shm_seg_unlink(name);
	}
	free(s->rt.shards);
	s->rt.shards = NULL;
	for (int r = 0; r < SUB_NROLES; r++)
		if (s->rt.role_efd[r] > 0)
			close(s->rt.role_efd[r]);
}

static const char *const child_roles[] = { "shard", "router", "admin", "sip", "xmpp" };

/* "pnad-router", "pnad-shard3": what ps, top, pna-bench and the log call
 * the process. */
static const char *child_name(const struct child *ch, char *buf, size_t len)
{
	if (ch->shard >= 0)
		snprintf(buf, len, "pnad-shard%d", ch->shard);
	else
		snprintf(buf, len, "pnad-%s", child_roles[-ch->shard]);
	return buf;
}

/* They are forked, not exec'd: without a name of their own all would be
 * "pnad". */
static void name_child(const struct child *ch)
{
	char name[32]; /* the kernel keeps 15 characters */

	prctl(PR_SET_NAME, child_name(ch, name, sizeof(name)));
}

/* The event path (router, shards, egress workers) runs as SCHED_BATCH
 * unless sched_batch = no. Each stage wakes the next just before it sleeps
 * itself; woken as SCHED_OTHER onto the waker's CPU, the next stage would
 * preempt it there, and the waker would run again only to go to sleep: two
 * context switches more a frame, at several microseconds each on a VM. A
 * SCHED_BATCH task does not preempt on wake-up; it runs when the CPU's task
 * sleeps or its slice ends, or at once on an idle CPU, and gets the same
 * share of CPU. Admin stays SCHED_OTHER. (docs/architecture.md) */
static void set_policy(const struct sup *s, const struct child *ch)
{
	struct sched_param sp = { .sched_priority = 0 };
	char name[32];

	if (!s->rt.conf->sched_batch || ch->shard == CHILD_ADMIN)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		log_warn("%s: SCHED_BATCH: %s (sched_batch; the process keeps its policy)",
			 child_name(ch, name, sizeof(name)), strerror(errno));
}

static int spawn(struct sup *s, struct child *ch)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		int rc;

		close(s->sfd);
		name_child(ch);
		set_policy(s, ch);
		switch (ch->shard) {
		case CHILD_ROUTER:
			rc = router_main(&s->rt);
			break;
		case CHILD_ADMIN:
			rc = admin_main(&s->rt);
			break;
		case CHILD_SIP:
			rc = sip_main(&s->rt);
			break;
		case CHILD_XMPP:
			rc = xmpp_main(&s->rt);
			break;
		default:
			rc = shard_main(&s->rt, (uint32_t)ch->shard);
		}
		_exit(rc);
	}
	ch->pid = pid;
	return 0;
}

static struct child *child_of(struct sup *s, pid_t pid)
{
	for (uint32_t i = 0; i < s->nchildren; i++)
		if (s->children[i].pid == pid)
			return &s->children[i];
	return NULL;
}

/* A child died while pnad runs: restart it, slowing down when it keeps dying
 * so that a crash loop does not eat the machine. */
static void on_child_exit(struct sup *s, struct child *ch, int wstatus)
{
	time_t now = time(NULL);
	char what[32];

	ch->pid = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == EX_IOURING) {
		log_error("router cannot use io_uring; stopping");
		s->status = EX_IOURING;
		pnad_stopping = 1;
		return;
	}
	child_name(ch, what, sizeof(what));
	if (WIFSIGNALED(wstatus))
		log_warn("%s killed by signal %d; restarting", what, WTERMSIG(wstatus));
	else
		log_warn("%s exited with status %d; restarting", what, WEXITSTATUS(wstatus));
	if (now - ch->window_start > RESTART_WINDOW) {
		ch->window_start = now;
		ch->restarts_in_window = 0;
	}
	if (++ch->restarts_in_window > RESTART_BURST)
		sleep(1);
	spawn(s, ch);
}

static void reap(struct sup *s)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		struct child *ch = child_of(s, pid);

		if (ch && !pnad_stopping)
			on_child_exit(s, ch, wstatus);
		else if (ch)
			ch->pid = 0;
	}
}

static void on_signal(struct sup *s)
{
	struct signalfd_siginfo si;

	while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(s);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %u: stopping", si.ssi_signo);
			pnad_stopping = 1;
		}
	}
}

/* SIGTERM every child, wait up to 5 s, then SIGKILL what is left. */
static void stop_children(struct sup *s)
{
	struct timespec start, now;
	unsigned alive;

	for (uint32_t i = 0; i < s->nchildren; i++)
		if (s->children[i].pid > 0)
			kill(s->children[i].pid, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);
		struct child *ch = pid > 0 ? child_of(s, pid) : NULL;

		if (ch)
			ch->pid = 0;
		alive = 0;
		for (uint32_t i = 0; i < s->nchildren; i++)
			alive += s->children[i].pid > 0;
		if (!alive)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= 5)
			break;
		if (pid <= 0)
			usleep(10000);
	}
	for (uint32_t i = 0; i < s->nchildren; i++) {
		if (s->children[i].pid > 0) {
			log_warn("child %d did not stop; killing it", s->children[i].pid);
			kill(s->children[i].pid, SIGKILL);
			waitpid(s->children[i].pid, NULL, 0);
		}
	}
}

static void add_child(struct sup *s, int role)
{
	s->children[s->nchildren].shard = role;
	s->children[s->nchildren].window_start = time(NULL);
	s->nchildren++;
}

static int setup_signals(struct sup *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->sfd < 0 ? -errno : 0;
}

static void loop(struct sup *s)
{
	while (!pnad_stopping) {
		struct pollfd p[1] = { { .fd = s->sfd, .events = POLLIN } };

		if (poll(p, 1, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			on_signal(s);
	}
}

int pnad_sup_run(const struct pnad_conf *conf)
{
	struct sup s = { .rt.conf = conf, .sfd = -1 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	s.rt.nshards = conf->shards ? (uint32_t)conf->shards : (uint32_t)(ncpu > 0 ? ncpu : 1);
	if (probe_io_uring() < 0)
		return EX_IOURING;
	if (setup_signals(&s) < 0 || open_segments(&s) < 0) {
		s.status = 1;
		goto out_close;
	}
	/* The roles first, then the shards: spawned in reverse, so shards start
	 * before the router and the egress workers that feed on them. */
	s.children = calloc(4 + s.rt.nshards, sizeof(*s.children));
	if (!s.children)
		abort();
	add_child(&s, CHILD_ROUTER);
	add_child(&s, CHILD_ADMIN);
	if (pnad_conf_sip_on(conf))
		add_child(&s, CHILD_SIP);
	if (pnad_conf_xmpp_on(conf))
		add_child(&s, CHILD_XMPP);
	for (uint32_t i = 0; i < s.rt.nshards; i++)
		add_child(&s, (int)i);
	for (uint32_t i = s.nchildren; i-- > 0;) {
		rc = spawn(&s, &s.children[i]);
		if (rc < 0) {
			s.status = 1;
			goto out_stop;
		}
	}
	log_info("pnad running: %u shards, ingest on %s, admin API on %s", s.rt.nshards,
		 conf->listen, conf->admin_listen);
	loop(&s);
out_stop:
	stop_children(&s);
	free(s.children);
out_close:
	close_segments(&s, conf->unlink_on_exit);
	if (s.sfd >= 0)
		close(s.sfd);
	log_info("pnad stopped");
	return s.status;
}
