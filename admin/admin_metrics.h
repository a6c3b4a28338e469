/* admin_metrics: GET /metrics in the Prometheus text format 0.0.4, rendered
 * by the admin process from the segments. Series are per process (router,
 * shard, store, transport), never per subscription or mailbox, so the
 * output stays small whatever the load. */
#ifndef PNA_ADMIN_METRICS_H
#define PNA_ADMIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "admin/admin_view.h"

/* A growing text buffer (control plane: aborts on OOM). */
struct admin_buf {
	char *p; /* malloc'd, NUL-terminated; the caller frees */
	size_t len, cap;
};

void admin_buf_printf(struct admin_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What the admin process counts about itself (admin_http and admin_main
 * write it; /metrics reads it). */
struct admin_self_stats {
	uint64_t conns_accepted, conns_refused, conns_open;
	uint64_t requests;     /* streams that sent a whole request */
	uint64_t responses[6]; /* by status class: [2] is 2xx ... [5] 5xx */
	uint64_t timeouts;     /* shard requests answered 504 */
	uint64_t inflight, inflight_cap;
};

/* One "# HELP" and "# TYPE" pair; type is "counter" or "gauge". Counter
 * names end in _total. */
void admin_prom_family(struct admin_buf *b, const char *name, const char *type, const char *help);
/* One sample. `labels` is "" or the inside of the braces ("shard=\"0\""). */
void admin_prom_sample(struct admin_buf *b, const char *name, const char *labels, uint64_t v);
/* `v` as a label value (backslash, double quote and newline escaped) into
 * out (cap bytes, truncated). */
void admin_prom_escape(const char *v, char *out, size_t cap);

/* Every family, appended to b. `self` may be NULL. */
void admin_metrics_render(const struct admin_views *v, const struct admin_self_stats *self,
			  struct admin_buf *b);

#endif
