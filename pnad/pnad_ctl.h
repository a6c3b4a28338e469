/* pnad_ctl: the local control socket the supervisor serves to pnactl. One
 * request line per connection ("mailbox a@b/INBOX", "account a@b", "stats",
 * "shards"); the reply is "ok" or "error <reason>" on the first line, then
 * `key value` lines, then the server closes. Reads the segments only. */
#ifndef PNA_PNAD_CTL_H
#define PNA_PNAD_CTL_H

#include <stddef.h>

#include "pnad/pnad_rt.h"

/* Bind and listen on conf->control (replacing a stale socket). Returns the
 * listening fd or -errno. */
int pnad_ctl_listen(const struct pnad_rt *rt);

/* Accept one client on `lfd`, read its request, answer and close. Blocks at
 * most ~1 s on a slow client. */
void pnad_ctl_serve(const struct pnad_rt *rt, int lfd);

/* Answer `req` into out (cap bytes, NUL-terminated, truncated if needed).
 * Returns the reply length. Exposed for tests. */
size_t pnad_ctl_answer(const struct pnad_rt *rt, const char *req, char *out, size_t cap);

#endif
