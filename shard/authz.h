/* authz: who may subscribe to what (draft section 3.4): the subscriber's
 * identity is the mailbox owner (after the configured identity rules), or a
 * grant allows it. Default deny. Pure functions, run by the owning shard. */
#ifndef PNA_AUTHZ_H
#define PNA_AUTHZ_H

#include <stddef.h>

#include "pnad/pnad_conf.h"

/* Canonical identity of a subscriber or grantee: scheme (sip:, sips:, xmpp:)
 * stripped, URI parameters, headers and an XMPP resource dropped, the domain
 * lower-cased and mapped through the identity_domain rules. A grantee
 * "@domain" stays a domain ("@" + mapped domain). Returns the length
 * written, or -EINVAL with *why. */
int authz_identity(const struct pnad_conf *c, const char *subscriber, char *out, size_t cap,
		   const char **why);

/* 0 when `subscriber` may subscribe to (account, path); -EACCES with a
 * reason for a human in why (whylen bytes); -EINVAL for an identity that
 * cannot be parsed. `grants` is the shard's grant table. */
int authz_check(const struct pnad_conf *c, const void *grants, const char *subscriber,
		const char *account, const char *path, char *why, size_t whylen);

#endif
