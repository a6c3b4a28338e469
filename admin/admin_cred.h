/* admin_cred: SIP digest credentials in the admin process. The admin loop
 * is the one writer of the credential segment (egress/sip/sip_cred.h) the
 * SIP worker reads; Redis holds the durable copy, talked to by a thread of
 * the admin process that owns the connection:
 *
 *   <prefix>:sipcred   hash, one field per credential:
 *       field  "<user>@<realm>"
 *       value  {"user":"alice","realm":"example.com",
 *               "ha1_md5":"<32 hex>","ha1_sha256":"<64 hex>"}
 *
 * A change goes to Redis first and reaches the segment (and the caller's
 * answer) only once Redis acknowledged it, so whatever the SIP worker
 * accepts is durable; at start the thread reloads the hash and the segment
 * is rebuilt from it (Redis is the authority). With redis = none the
 * segment alone holds them (it survives restarts of pnad's processes, not
 * of the host). */
#ifndef PNA_ADMIN_CRED_H
#define PNA_ADMIN_CRED_H

#include "admin/admin_http.h"
#include "egress/sip/sip_cred.h"
#include "pnad/pnad_conf.h"

#define ADMIN_CRED_QUEUE 64 /* changes in flight; past that: -EAGAIN (503) */

enum admin_cred_op { ADMIN_CRED_PUT = 1, ADMIN_CRED_DEL };

/* A change, finished: err 0 (applied to the segment), -EAGAIN (Redis
 * unavailable), -ENOSPC (table full), -EIO (Redis refused), reason set. */
struct admin_cred_done {
	int op, err;
	char reason[160];
	struct sip_cred cred;
	struct admin_http_ref ref;
};

struct admin_cred;

/* Open (or re-attach) /<name>.sipcred for `cap` credentials and, when Redis
 * is configured, start the thread (which reloads first). wake_fd (an
 * eventfd, or -1) is written when a change finished. 0 and *out, or -errno
 * with a reason in err. */
int admin_cred_open(const struct pnad_conf *c, uint32_t cap, int wake_fd, struct admin_cred **out,
		    char *err, size_t errlen);
/* Stop the thread and unmap; the segment stays unless unlink_on_exit.
 * Accepts NULL. */
void admin_cred_close(struct admin_cred *ac);

/* Queue a put or delete of c (for a delete only user and realm count);
 * the answer goes to ref through admin_cred_poll. 0, or -EAGAIN when
 * ADMIN_CRED_QUEUE changes are in flight. */
int admin_cred_submit(struct admin_cred *ac, int op, const struct sip_cred *c,
		      struct admin_http_ref ref);
/* Apply a finished reload and finished changes to the segment, in the order
 * Redis saw them, and hand each change to done. Call from the admin loop. */
void admin_cred_poll(struct admin_cred *ac,
		     void (*done)(void *arg, const struct admin_cred_done *d), void *arg);

/* The segment, for reads (sip_cred_get, sip_cred_next). */
const struct shm_seg *admin_cred_seg(const struct admin_cred *ac);

#endif
