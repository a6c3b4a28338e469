/* pnad_rt: signal handling, ring mapping and wake-ups every pnad process
 * shares. */
#include "pnad/pnad_rt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/ring.h"

volatile sig_atomic_t pnad_stopping;

static void on_stop(int sig)
{
	(void)sig;
	pnad_stopping = 1;
}

void pnad_child_signals(void)
{
	struct sigaction sa;
	sigset_t all;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking read or io_uring wait returns EINTR. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	/* The supervisor blocks these for its signalfd; children must not. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

void pnad_wake(int fd)
{
	static const uint64_t one = 1;
	static bool logged;

	/* the persist thread wakes too: the flag is taken atomically */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN &&
	    !__atomic_exchange_n(&logged, true, __ATOMIC_RELAXED)) {
		log_error("eventfd write (a wake-up): %s", strerror(errno));
	}
}

int pnad_ring_prefault(struct ring *r, const char *what)
{
	int rc = ring_prefault(r);

	if (rc < 0)
		log_error(
			"mapping %s (%s): /dev/shm or the memory limit is too small for "
			"pnad's segments (docs/operations.md); touching it later would be a SIGBUS",
			what, strerror(-rc));
	return rc;
}
