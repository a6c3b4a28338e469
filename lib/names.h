/* names: the canonical forms of accounts and mailbox paths (DESIGN.md
 * "Contracts"). Every role normalises through here so that the router, the
 * shards, pnactl and the subscriptions agree on one spelling. */
#ifndef PNA_NAMES_H
#define PNA_NAMES_H

#include <stddef.h>

#define NAMES_ACCOUNT_MAX 128 /* bytes of user@domain */
#define NAMES_KEY_MAX 255     /* bytes of account '/' path */

/* Canonical account: user@domain (split at the last '@') with the domain
 * lower-cased; the user part is kept as given. Writes a NUL-terminated copy
 * to out (cap bytes; out may be in itself: in place) and returns its length,
 * or -EINVAL with *why set to a static reason (out untouched). */
int names_account(const char *in, size_t len, char *out, size_t cap, const char **why);

/* Canonical mailbox path: '/'-separated, no empty component, no leading or
 * trailing '/', "INBOX" (any case) as the first component spelled INBOX.
 * Returns the length written (NUL-terminated; out may be in itself), or
 * -EINVAL with *why (out untouched). */
int names_path(const char *in, size_t len, char *out, size_t cap, const char **why);

/* Split "alice@example.com/INBOX/x" at the first '/'. Returns the account
 * length; *path points past the '/', or to "" when there is none. */
size_t names_split_key(const char *key, const char **path);

#endif
