/* pna-feed: streams JSON notification lines (connectors/pna_json.h) from a
 * file or stdin to pnad through pna_client, reconnecting and resuming when
 * the connection drops. A tool for tests, benches and stores that log events. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/pna_client.h"
#include "connectors/pna_json.h"
#include "lib/arena.h"

#define FEED_MAX_FRAME (1u << 20) /* pnad's default; its Welcome may lower it */
#define FEED_START_MS 10000	  /* the server may still be starting */
#define FEED_RECONNECT_MS 30000
#define FEED_BACKOFF_MIN_MS 100
#define FEED_BACKOFF_MAX_MS 2000
#define FEED_DRAIN_MS 60000
#define FEED_ARENA (256 * 1024) /* grows to 16x for a large line */

enum { EXIT_SERVER = 2 };

struct feed {
	struct pna_client *c;
	const char *host;
	uint16_t port;
	bool quiet;
	uint64_t drop_after;
	uint64_t events, bad, reconnects;
	int64_t start_ms, progress_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pna-feed [-H host] [-p port] -s store_id [-k credential]\n"
		   "                [-b events_per_frame] [-w max_unacked] [--drop-after N]\n"
		   "                [--quiet] [FILE|-]\n");
}

static bool parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Connect, retrying with backoff (100 ms doubling to 2 s) for budget_ms.
 * 0, -EPROTO (the server refused: no point retrying) or the last error. */
static int feed_connect(struct feed *f, int64_t budget_ms, bool wait_first)
{
	int64_t deadline = now_ms() + budget_ms, delay = FEED_BACKOFF_MIN_MS;
	int rc;

	for (;;) {
		if (wait_first) {
			int64_t left = deadline - now_ms();

			sleep_ms(delay < left ? delay : (left > 0 ? left : 0));
			delay = delay * 2 < FEED_BACKOFF_MAX_MS ? delay * 2 : FEED_BACKOFF_MAX_MS;
		}
		wait_first = true;
		rc = pna_client_connect(f->c);
		if (rc == 0 || rc == -EPROTO || now_ms() >= deadline)
			return rc;
	}
}

static int feed_reconnect(struct feed *f, bool wait_first)
{
	int rc = feed_connect(f, FEED_RECONNECT_MS, wait_first);

	if (rc == 0)
		f->reconnects++;
	else if (rc != -EPROTO)
		fprintf(stderr, "pna-feed: reconnect to %s:%u: %s\n", f->host, f->port,
			strerror(-rc));
	return rc;
}

/* Events the server has of those we read: all but the unacked tail. */
static uint64_t feed_acked(const struct feed *f)
{
	uint64_t next = pna_client_next_seq(f->c), acked = pna_client_acked(f->c);
	uint64_t unacked = next > acked + 1 ? next - acked - 1 : 0;

	return f->events > unacked ? f->events - unacked : 0;
}

static void feed_progress(struct feed *f)
{
	int64_t now = now_ms();

	if (f->quiet || now - f->progress_ms < 1000)
		return;
	f->progress_ms = now;
	fprintf(stderr,
		"pna-feed: events=%" PRIu64 " acked=%" PRIu64 " bad_lines=%" PRIu64
		" reconnects=%" PRIu64 "\n",
		f->events, feed_acked(f), f->bad, f->reconnects);
}

/* Hand one event to the client, reconnecting as often as the connection
 * drops. 0, 1 when the event is too large (a bad line), or an error. */
static int feed_add(struct feed *f, const Pna__Event *ev)
{
	int rc;

	while ((rc = pna_client_add(f->c, ev)) < 0) {
		if (rc == -EMSGSIZE)
			return 1;
		if (rc == -EPROTO || (rc = feed_reconnect(f, true)) < 0)
			return rc;
	}
	f->events++;
	if (f->events == f->drop_after) {
		/* The resume test: drop the session under the server's feet. */
		pna_client_disconnect(f->c);
		return feed_reconnect(f, false);
	}
	return 0;
}

/* Read and send every line of `in`. 0 or a fatal error. */
static int feed_lines(struct feed *f, FILE *in, struct arena *a)
{
	char *line = NULL;
	size_t cap = 0;
	uint64_t lineno = 0;
	ssize_t len;
	int rc = 0;

	while ((len = getline(&line, &cap, in)) >= 0) {
		Pna__Event ev;
		const char *why;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		arena_reset(a);
		rc = pna_json_event(line, (size_t)len, a, &ev, &why);
		if (rc == 0) {
			if ((rc = feed_add(f, &ev)) < 0)
				break;
			why = "event larger than max_frame";
		}
		if (rc != 0) {
			fprintf(stderr, "pna-feed: line %" PRIu64 ": %s\n", lineno, why);
			f->bad++;
			rc = 0;
		}
		if (lineno % 64 == 0)
			(void)pna_client_poll(f->c, 0); /* errors show on the next add */
		feed_progress(f);
	}
	if (rc == 0 && ferror(in)) {
		fprintf(stderr, "pna-feed: read: %s\n", strerror(errno));
		rc = -EIO;
	}
	free(line);
	return rc;
}

/* Wait for every ack, reconnecting when the connection drops. */
static int feed_drain(struct feed *f)
{
	int64_t deadline = now_ms() + FEED_DRAIN_MS;
	int rc;

	for (;;) {
		int64_t left = deadline - now_ms();

		rc = pna_client_drain(f->c, left > 0 ? (int)left : 0);
		if (rc == 0 || rc == -EPROTO)
			return rc;
		if (now_ms() >= deadline) {
			fprintf(stderr, "pna-feed: drain: %s\n", strerror(-rc));
			return rc;
		}
		if ((rc = feed_reconnect(f, true)) < 0)
			return rc;
	}
}

static int feed_run(struct feed *f, FILE *in)
{
	struct arena *a = arena_create(FEED_ARENA);
	int rc = feed_connect(f, FEED_START_MS, false);

	if (rc < 0 && rc != -EPROTO)
		fprintf(stderr, "pna-feed: connect to %s:%u: %s\n", f->host, f->port,
			strerror(-rc));
	if (rc == 0)
		rc = feed_lines(f, in, a);
	if (rc == 0)
		rc = feed_drain(f);
	arena_destroy(a);
	return rc;
}

static void feed_report(struct feed *f)
{
	double secs = (double)(now_ms() - f->start_ms) / 1000.0;

	printf("sent=%" PRIu64 " acked=%" PRIu64 " events=%" PRIu64 " bad_lines=%" PRIu64
	       " reconnects=%" PRIu64 " rate=%.0f\n",
	       pna_client_sent(f->c), feed_acked(f), f->events, f->bad, f->reconnects,
	       secs > 0 ? (double)f->events / secs : 0.0);
	fflush(stdout);
}

static int parse_args(int argc, char **argv, struct feed *f, struct pna_client_opts *o,
		      const char **path)
{
	static const struct option longopts[] = {
		{ "drop-after", required_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, "H:p:s:k:b:w:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o->host = optarg;
			break;
		case 's':
			o->store_id = optarg;
			break;
		case 'k':
			o->credential = optarg;
			break;
		case 'q':
			f->quiet = true;
			break;
		case 'p':
			if (!parse_num(optarg, 1, 65535, &v))
				goto bad;
			o->port = (uint16_t)v;
			break;
		case 'b':
			if (!parse_num(optarg, 1, 1u << 20, &v))
				goto bad;
			o->batch_events = (uint32_t)v;
			break;
		case 'w':
			if (!parse_num(optarg, 1, 1u << 24, &v))
				goto bad;
			o->max_unacked = (uint32_t)v;
			break;
		case 'D':
			if (!parse_num(optarg, 1, UINT64_MAX, &f->drop_after))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad_usage;
		}
	}
	if (!o->store_id || argc - optind > 1)
		goto bad_usage;
	*path = optind < argc ? argv[optind] : "-";
	return 0;
bad:
	if (ch == 'D')
		fprintf(stderr, "pna-feed: bad value for --drop-after: %s\n", optarg);
	else
		fprintf(stderr, "pna-feed: bad value for -%c: %s\n", ch, optarg);
bad_usage:
	usage(stderr);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct pna_client_opts o = {
		.host = "127.0.0.1",
		.port = 7600,
		.batch_events = 64,
		.max_unacked = 65536,
		.max_frame = FEED_MAX_FRAME,
	};
	struct feed f = { 0 };
	const char *path;
	FILE *in;
	int rc;

	if (parse_args(argc, argv, &f, &o, &path) < 0)
		return 1;
	f.host = o.host;
	f.port = o.port;
	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!in) {
		fprintf(stderr, "pna-feed: %s: %s\n", path, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((rc = pna_client_open(&o, &f.c)) < 0) {
		fprintf(stderr, "pna-feed: %s\n", strerror(-rc));
		return 1;
	}
	f.start_ms = f.progress_ms = now_ms();
	rc = feed_run(&f, in);
	feed_report(&f);
	if (rc == -EPROTO)
		fprintf(stderr, "pna-feed: server error %d: %s\n", pna_client_error_code(f.c),
			pna_client_error(f.c));
	else if (rc == 0 && feed_acked(&f) != f.events)
		rc = -ETIMEDOUT;
	pna_client_close(f.c);
	if (in != stdin)
		fclose(in);
	return rc == 0 ? 0 : rc == -EPROTO ? EXIT_SERVER : 1;
}
