/* authz: identity canonicalisation and the owner-or-grant rule. */
#include "shard/authz.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/sub_msg.h"
#include "shard/grant_table.h"

static const char *strip_scheme(const char *s)
{
	static const char *const schemes[] = { "sip:", "sips:", "xmpp:" };

	for (unsigned i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0)
			return s + strlen(schemes[i]);
	return s;
}

int authz_identity(const struct pnad_conf *c, const char *subscriber, char *out, size_t cap,
		   const char **why)
{
	const char *s = strip_scheme(subscriber);
	size_t n = strcspn(s, ";?/> \t"); /* params, headers, resource */
	char user[SUB_SUBSCRIBER_MAX + 1], dom[SUB_SUBSCRIBER_MAX + 1];
	const char *at;
	size_t ulen;
	int len;

	if (*s == '<')
		return authz_identity(c, s + 1, out, cap, why);
	at = memchr(s, '@', n);
	if (!at || at == s || at + 1 == s + n || n > SUB_SUBSCRIBER_MAX) {
		*why = "identity is not user@domain";
		return -EINVAL;
	}
	ulen = (size_t)(at - s);
	memcpy(user, s, ulen);
	user[ulen] = '\0';
	memcpy(dom, at + 1, n - ulen - 1);
	dom[n - ulen - 1] = '\0';
	for (char *p = dom; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	for (uint32_t i = 0; i < c->ndomain_maps; i++) {
		if (strcmp(dom, c->domain_maps[i].from) == 0) {
			snprintf(dom, sizeof(dom), "%s", c->domain_maps[i].to);
			break;
		}
	}
	len = snprintf(out, cap, "%s@%s", user, dom);
	if (len < 0 || (size_t)len >= cap) {
		*why = "identity too long";
		return -EINVAL;
	}
	return len;
}

int authz_check(const struct pnad_conf *c, const void *grants, const char *subscriber,
		const char *account, const char *path, char *why, size_t whylen)
{
	char id[SUB_SUBSCRIBER_MAX + 2];
	const char *bad;

	if (authz_identity(c, subscriber, id, sizeof(id), &bad) < 0) {
		snprintf(why, whylen, "subscriber '%.100s': %s", subscriber, bad);
		return -EINVAL;
	}
	if (strcmp(id, account) == 0)
		return 0;
	if (grant_table_allows(grants, id, account, path, GRANT_RIGHT_SUBSCRIBE))
		return 0;
	snprintf(why, whylen, "%.100s is not the owner of %.100s and holds no grant for '%.100s'",
		 id, account, path[0] ? path : "(account)");
	return -EACCES;
}
