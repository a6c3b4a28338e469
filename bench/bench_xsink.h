/* bench_xsink: a counting XMPP server for benchmarks, run in the pna-bench
 * process (single-threaded, driven by bench_xsink_poll). It listens on a
 * loopback port and plays the server side of XEP-0114 for every connection
 * (stream header with an id, handshake checked against the secret, then
 * <handshake/>), and from then on only scans: it counts <message> stanzas
 * by their start tag (no XML parsing), answers the component's IQ get/set
 * with an empty result (its XEP-0199 pings), and reads the results of the
 * IQs it injected. It injects XEP-0060 subscribes from
 * user<k>@example<k % 100>.com (bench_load's accounts) so subscriptions are
 * made through pnad's real XMPP path. It can keep a copy of the whole
 * <message> stanzas it read, for a baseline writer to send the same bytes
 * (bench_xsink_attach gives that writer an authenticated connection).
 *
 * Typical use:
 *   bench_xsink_open(&o, &s);               port = bench_xsink_port(s)
 *   start pnad with xmpp_server = 127.0.0.1:<port>
 *   bench_xsink_wait_links(s, 1, 10)        the component attached
 *   bench_xsink_subscribe_all(s, n, 128, 5) n accounts subscribed (INBOX)
 *   bench_xsink_reset(s)                    drop the initial state items
 *   loop { bench_xsink_poll(s, 5); bench_xsink_stats(s, &st); }
 *   bench_xsink_close(s)
 */
#ifndef PNA_BENCH_XSINK_H
#define PNA_BENCH_XSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_XSINK_MAX_LINKS 8 /* connections served at once; more are closed */

struct bench_xsink_opts {
	const char *component; /* the domain the component must name; not copied */
	const char *secret;    /* XEP-0114 shared secret; not copied */
	uint32_t accounts;     /* accounts 0..accounts-1 that may be subscribed */
	size_t capture;	       /* bytes of <message> stanzas to keep (0: none) */
};

/* Counters since open or the last bench_xsink_reset (links: now). */
struct bench_xsink_stats {
	uint64_t messages;	 /* <message> start tags read on attached links */
	uint64_t bytes;		 /* bytes read on attached links after the handshake */
	double t_first, t_last;	 /* bench_now() of the reads with the first / last message */
	uint64_t subscribed;	 /* IQ results to our subscribes (distinct accounts) */
	uint64_t refused;	 /* IQ errors to our subscribes */
	uint64_t iq_answered;	 /* IQ get/set from a component, answered empty */
	uint64_t accepted;	 /* connections accepted */
	uint64_t bad_handshakes; /* closed: wrong component, secret or stream */
	uint32_t links;		 /* attached (handshake done) now */
};

struct bench_xsink;

/* Listen on 127.0.0.1 (a port the kernel picks). 0 and *out (caller owns;
 * bench_xsink_close), or -errno. Allocation failure aborts. */
int bench_xsink_open(const struct bench_xsink_opts *o, struct bench_xsink **out);
uint16_t bench_xsink_port(const struct bench_xsink *s);
/* Close every connection and the listener; free s. Accepts NULL. */
void bench_xsink_close(struct bench_xsink *s);

/* One pass: wait up to timeout_ms for something to do, then accept, read
 * everything readable (counting, answering) and write what is queued.
 * Bytes read, or -errno (poll failed). */
long bench_xsink_poll(struct bench_xsink *s, int timeout_ms);
/* Poll until `n` links are attached. 0 or -ETIMEDOUT after `timeout` s. */
int bench_xsink_wait_links(struct bench_xsink *s, uint32_t n, double timeout);

/* Queue stanza bytes to the component on the first attached link (the
 * caller formats them, to= the component). 0, -ENOTCONN (no link) or
 * -ENOBUFS (its output buffer is full: poll, then retry). */
int bench_xsink_inject(struct bench_xsink *s, const char *xml, size_t len);
/* Queue the subscribe of account k (< opts.accounts, else -EINVAL) to its
 * INBOX node (IQ id "bx-<k>"); its answer counts in subscribed/refused. */
int bench_xsink_subscribe(struct bench_xsink *s, uint32_t k);
/* Subscribe accounts 0..n-1, at most `window` unanswered, polling. 0 when
 * every one was answered (results in stats: subscribed, refused), or
 * -ETIMEDOUT after `idle` seconds without an answer. */
int bench_xsink_subscribe_all(struct bench_xsink *s, uint32_t n, uint32_t window, double idle);

void bench_xsink_stats(const struct bench_xsink *s, struct bench_xsink_stats *st);
/* Zero messages, bytes and times (not the subscribe or link counters) and
 * start the capture over. */
void bench_xsink_reset(struct bench_xsink *s);
/* on: start a new copy of the <message> stanzas read from now on (up to
 * opts.capture bytes); off: stop adding to it (it stays readable). */
void bench_xsink_capture(struct bench_xsink *s, bool on);
/* The captured bytes: whole stanzas only, *messages of them; valid until
 * the next reset or capture call. NULL when nothing was captured. */
const char *bench_xsink_captured(const struct bench_xsink *s, size_t *len, uint64_t *messages);

/* The client side, for a baseline writer (any process): a blocking
 * connection to 127.0.0.1:port that opened its stream as `component` and
 * completed the handshake. The fd (caller owns) or -errno. */
int bench_xsink_attach(uint16_t port, const char *component, const char *secret, double timeout);

#endif
