/* pnad_conf: pnad's key table and the checks that span keys. */
#include "pnad/pnad_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "egress/sip/sip_tls.h"

#include "lib/conf.h"
#include "lib/log.h"

#define F(field) offsetof(struct pnad_conf, field)
#define STR(field) sizeof(((struct pnad_conf *)0)->field)

static int check_level(void *obj, const char *v, const char **why)
{
	enum log_level l;

	(void)obj;
	if (log_level_parse(v, &l) < 0) {
		*why = "expected error, warn, info or debug";
		return -EINVAL;
	}
	return 0;
}

static int check_hostport(void *obj, const char *v, const char **why)
{
	const char *colon = strrchr(v, ':');
	char *end;
	long port;

	(void)obj;
	if (!colon || colon == v) {
		*why = "expected host:port";
		return -EINVAL;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535) {
		*why = "port must be 1..65535";
		return -EINVAL;
	}
	return 0;
}

/* host:port, or "none": subscriptions live in shared memory only (benches,
 * and deployments that accept losing them with the host). */
static int check_redis(void *obj, const char *v, const char **why)
{
	return strcmp(v, "none") == 0 ? 0 : check_hostport(obj, v, why);
}

/* Keys are <prefix>:{<account>}:...: a brace would break the hash tag. */
static int check_prefix(void *obj, const char *v, const char **why)
{
	(void)obj;
	if (strpbrk(v, "{} \t")) {
		*why = "must not contain braces or spaces";
		return -EINVAL;
	}
	return 0;
}

static int check_optional_hostport(void *obj, const char *v, const char **why)
{
	return strcmp(v, "none") == 0 ? 0 : check_hostport(obj, v, why);
}

static int parse_sip_tls_trusted(void *obj, const char *v, const char **why)
{
	struct pnad_conf *c = obj;
	uint8_t fp[32];

	if (c->nsip_tls_trusted == sizeof(c->sip_tls_trusted) / sizeof(c->sip_tls_trusted[0])) {
		*why = "too many sip_tls_trusted lines";
		return -EINVAL;
	}
	if (strlen(v) >= sizeof(c->sip_tls_trusted[0]) || sip_tls_fingerprint_parse(v, fp) < 0) {
		*why = "sip_tls_trusted: expected a SHA-256 fingerprint (AB:CD:... or 64 hex "
		       "digits)";
		return -EINVAL;
	}
	strcpy(c->sip_tls_trusted[c->nsip_tls_trusted++], v);
	return 0;
}

static int parse_sip_trusted(void *obj, const char *v, const char **why)
{
	struct pnad_conf *c = obj;

	if (c->nsip_trusted == sizeof(c->sip_trusted) / sizeof(c->sip_trusted[0])) {
		*why = "too many sip_trusted lines";
		return -EINVAL;
	}
	if (strlen(v) >= sizeof(c->sip_trusted[0]) || strpbrk(v, " \t")) {
		*why = "expected one IP address";
		return -EINVAL;
	}
	strcpy(c->sip_trusted[c->nsip_trusted++], v);
	return 0;
}

static int check_yesnoauto(void *obj, const char *v, const char **why)
{
	(void)obj;
	if (strcmp(v, "yes") && strcmp(v, "no") && strcmp(v, "auto")) {
		*why = "expected yes, no or auto";
		return -EINVAL;
	}
	return 0;
}

/* identity_domain = <from> <to>, both lower-cased. */
static int parse_domain_map(void *obj, const char *v, const char **why)
{
	struct pnad_conf *c = obj;
	char from[64], to[64], extra;

	if (c->ndomain_maps == sizeof(c->domain_maps) / sizeof(c->domain_maps[0])) {
		*why = "too many identity_domain lines";
		return -EINVAL;
	}
	if (sscanf(v, "%63s %63s %c", from, to, &extra) != 2) {
		*why = "expected 'identity_domain = <subscriber domain> <account domain>'";
		return -EINVAL;
	}
	for (char *p = from; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (char *p = to; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	strcpy(c->domain_maps[c->ndomain_maps].from, from);
	strcpy(c->domain_maps[c->ndomain_maps].to, to);
	c->ndomain_maps++;
	return 0;
}

/* store = <id> <credential> */
static int parse_store(void *obj, const char *v, const char **why)
{
	struct pnad_conf *c = obj;
	struct pnad_store *s;
	const char *sp = strpbrk(v, " \t");
	size_t idlen = sp ? (size_t)(sp - v) : strlen(v);

	if (c->nstores == PNAD_MAX_STORES) {
		*why = "too many stores";
		return -EINVAL;
	}
	if (idlen == 0 || idlen >= PNAD_STORE_ID_MAX) {
		*why = "store id must be 1..63 bytes";
		return -EINVAL;
	}
	if (pnad_conf_store(c, v, idlen) >= 0) {
		*why = "store id given twice";
		return -EINVAL;
	}
	s = &c->stores[c->nstores];
	memcpy(s->id, v, idlen);
	s->id[idlen] = '\0';
	if (sp) {
		while (*sp == ' ' || *sp == '\t')
			sp++;
		if (strlen(sp) >= sizeof(s->credential)) {
			*why = "credential too long";
			return -EINVAL;
		}
		strcpy(s->credential, sp);
	}
	if (!s->credential[0]) {
		*why = "expected 'store = <id> <credential>'";
		return -EINVAL;
	}
	c->nstores++;
	return 0;
}

/* Designated initialisers keep each row readable: name, type, field,
 * bounds, default, extra check, help. */
#define STRKEY(n, fld, dflt, chk, text)                                                   \
	{                                                                                 \
		.name = n, .type = CONF_STR, .off = F(fld), .max = STR(fld), .def = dflt, \
		.fn = chk, .help = text                                                   \
	}
#define INTKEY(n, fld, lo, hi, dflt, fl, text)                                                 \
	{                                                                                      \
		.name = n, .type = CONF_INT, .off = F(fld), .min = lo, .max = hi, .def = dflt, \
		.flags = fl, .help = text                                                      \
	}

static const struct conf_key pnad_keys[] = {
	STRKEY("name", name, "pnad", NULL, "prefix of the shared-memory segment names"),
	STRKEY("listen", listen, "127.0.0.1:7600", check_hostport,
	       "ingest address (mail stores connect here)"),
	STRKEY("log_level", log_level, "info", check_level, "error, warn, info or debug"),
	STRKEY("redis", redis, "127.0.0.1:6379", check_redis,
	       "Redis holding the durable subscriptions (host:port, or none)"),
	INTKEY("shards", shards, 0, PNAD_MAX_SHARDS, "0", 0, "shard processes (0: one per core)"),
	INTKEY("max_frame", max_frame, 64, 64 << 20, "1M", 0, "largest ingest frame in bytes"),
	INTKEY("max_connections", max_connections, 1, 1 << 20, "4096", 0,
	       "concurrent ingest connections"),
	INTKEY("ring_bytes", ring_bytes, 64 << 10, 1LL << 30, "8M", CONF_POW2,
	       "bytes of each router->shard ring (power of two)"),
	INTKEY("mailboxes", mailboxes, 16, 1 << 26, "65536", 0,
	       "mailbox-state capacity of each shard"),
	INTKEY("recv_buffers", recv_buffers, 8, 32768, "256", CONF_POW2,
	       "io_uring provided receive buffers (power of two)"),
	INTKEY("recv_buffer_size", recv_buffer_size, 1024, 1 << 20, "64K", 0,
	       "bytes of each receive buffer"),
	INTKEY("subscriptions", subscriptions, 16, 1 << 26, "262144", 0,
	       "subscription capacity of each shard"),
	INTKEY("sub_string_bytes", sub_string_bytes, 4096, 1LL << 34, "32M", 0,
	       "intern pool (subscribers, paths, SIP routes) of each shard"),
	INTKEY("grants", grants, 16, 1 << 24, "16384", 0, "grant capacity of each shard"),
	INTKEY("ctl_ring_bytes", ctl_ring_bytes, 64 << 10, 1LL << 30, "1M", CONF_POW2,
	       "each subscription request or reply ring (power of two)"),
	INTKEY("job_ring_bytes", job_ring_bytes, 64 << 10, 1LL << 30, "4M", CONF_POW2,
	       "each shard-to-egress job ring (power of two)"),
	INTKEY("outbox_bytes", outbox_bytes, 1 << 20, 1LL << 34, "64M", CONF_POW2,
	       "each shard's queue of changes for Redis (power of two)"),
	STRKEY("redis_cluster", redis_cluster, "auto", check_yesnoauto,
	       "Redis Cluster: yes, no, or auto (ask the server)"),
	STRKEY("redis_prefix", redis_prefix, "pna", check_prefix, "prefix of pnad's Redis keys"),
	{ .name = "identity_domain",
	  .type = CONF_LIST,
	  .fn = parse_domain_map,
	  .help = "identity_domain = <subscriber domain> <account domain>" },
	STRKEY("admin_listen", admin_listen, "127.0.0.1:7680", check_hostport,
	       "HTTP/2 admin API address"),
	STRKEY("admin_token", admin_token, NULL, NULL, "bearer token of the admin API"),
	STRKEY("admin_tls_cert", admin_tls_cert, "-", NULL,
	       "PEM certificate: the API speaks h2 over TLS ('-': h2c)"),
	STRKEY("admin_tls_key", admin_tls_key, "-", NULL, "PEM private key of admin_tls_cert"),
	STRKEY("sip_listen", sip_listen, "none", check_optional_hostport,
	       "SIP over UDP and TCP, host:port (none: no SIP worker)"),
	STRKEY("sip_tls_listen", sip_tls_listen, "none", check_optional_hostport,
	       "SIP over TLS, host:port"),
	STRKEY("sip_tls_cert", sip_tls_cert, "-", NULL, "PEM certificate for SIP over TLS"),
	STRKEY("sip_tls_key", sip_tls_key, "-", NULL, "PEM key for SIP over TLS"),
	STRKEY("sip_domain", sip_domain, "pna.invalid", NULL, "host part of pnad's SIP URIs"),
	INTKEY("sip_min_expires", sip_min_expires, 1, 86400, "60", 0,
	       "shorter SUBSCRIBE Expires get 423 Interval Too Brief"),
	INTKEY("sip_max_expires", sip_max_expires, 60, 7 * 86400, "86400", 0,
	       "longer SUBSCRIBE Expires are shortened to this"),
	{ .name = "sip_digest",
	  .type = CONF_BOOL,
	  .off = F(sip_digest),
	  .def = "yes",
	  .help = "digest-authenticate subscribers that are not trusted CNAs (no: 403)" },
	INTKEY("sip_credentials", sip_credentials, 16, 1 << 22, "65536", 0,
	       "SIP digest credentials the admin API can hold"),
	{ .name = "sip_tls_trusted",
	  .type = CONF_LIST,
	  .fn = parse_sip_tls_trusted,
	  .help = "SHA-256 fingerprint of a CNA's TLS client certificate whose "
		  "P-Asserted-Identity is believed (repeatable)" },
	{ .name = "sip_trusted",
	  .type = CONF_LIST,
	  .fn = parse_sip_trusted,
	  .help = "a CNA's source IP whose P-Asserted-Identity is believed (repeatable)" },
	STRKEY("xmpp_server", xmpp_server, "none", check_optional_hostport,
	       "the XMPP server's component port, host:port (none: no XMPP worker)"),
	STRKEY("xmpp_component", xmpp_component, "pna.invalid", NULL,
	       "pnad's XEP-0114 component domain"),
	STRKEY("xmpp_secret", xmpp_secret, "-", NULL, "XEP-0114 shared secret"),
	INTKEY("xmpp_connections", xmpp_connections, 1, 1, "1", 0,
	       "component connections to the XMPP server (one: Prosody admits one per "
	       "component, and one link is not the limit, docs/capacity.md)"),
	INTKEY("xmpp_ping_idle", xmpp_ping_idle, 1, 3600, "30", 0,
	       "seconds without input from the XMPP server before a XEP-0199 ping"),
	INTKEY("xmpp_ping_timeout", xmpp_ping_timeout, 1, 600, "10", 0,
	       "seconds an unanswered ping waits before the link is declared dead"),
	INTKEY("xmpp_coalesce_us", xmpp_coalesce_us, 0, 100000, "1000", 0,
	       "microseconds the XMPP worker gathers notifications into one write "
	       "while they keep coming (0: one write per wake-up)"),
	{ .name = "sched_batch",
	  .type = CONF_BOOL,
	  .off = F(sched_batch),
	  .def = "yes",
	  .help = "the router, shards and egress workers run as SCHED_BATCH: a stage "
		  "woken by the one before it does not preempt it (docs/architecture.md)" },
	{ .name = "unlink_on_exit",
	  .type = CONF_BOOL,
	  .off = F(unlink_on_exit),
	  .def = "no",
	  .help = "remove the segments on a clean stop (state is then rebuilt)" },
	{ .name = "store",
	  .type = CONF_LIST,
	  .fn = parse_store,
	  .help = "a mail store allowed to connect: store = <id> <credential>" },
};

int pnad_conf_load(const char *path, struct pnad_conf *c, char *err, size_t errlen)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = conf_load(path, pnad_keys, sizeof(pnad_keys) / sizeof(pnad_keys[0]), c, err, errlen);
	if (rc < 0)
		return rc;
	/* "-" stands for "none": an empty default would read as missing. */
	if (strcmp(c->sip_tls_cert, "-") == 0)
		c->sip_tls_cert[0] = '\0';
	if (strcmp(c->sip_tls_key, "-") == 0)
		c->sip_tls_key[0] = '\0';
	if (strcmp(c->xmpp_secret, "-") == 0)
		c->xmpp_secret[0] = '\0';
	if (strcmp(c->admin_tls_cert, "-") == 0)
		c->admin_tls_cert[0] = '\0';
	if (strcmp(c->admin_tls_key, "-") == 0)
		c->admin_tls_key[0] = '\0';
	if (strcmp(c->sip_tls_listen, "none") != 0) {
		if (!c->sip_tls_cert[0] || !c->sip_tls_key[0]) {
			snprintf(err, errlen,
				 "%s: sip_tls_listen needs sip_tls_cert and sip_tls_key", path);
			return -EINVAL;
		}
		for (int i = 0; i < 2; i++) {
			const char *f = i ? c->sip_tls_key : c->sip_tls_cert;

			if (access(f, R_OK) < 0) {
				snprintf(err, errlen, "%s: %s '%s': %s", path,
					 i ? "sip_tls_key" : "sip_tls_cert", f, strerror(errno));
				return -errno;
			}
		}
	}
	if (!c->admin_tls_cert[0] != !c->admin_tls_key[0]) {
		snprintf(err, errlen, "%s: admin_tls_cert and admin_tls_key go together", path);
		return -EINVAL;
	}
	/* Checked here, not when the admin process starts: a bad path would
	 * otherwise be a restart loop instead of a refusal to start. */
	for (int i = 0; i < 2 && c->admin_tls_cert[0]; i++) {
		const char *f = i ? c->admin_tls_key : c->admin_tls_cert;

		if (access(f, R_OK) < 0) {
			snprintf(err, errlen, "%s: %s '%s': %s", path,
				 i ? "admin_tls_key" : "admin_tls_cert", f, strerror(errno));
			return -errno;
		}
	}
	if (c->nstores == 0) {
		snprintf(err, errlen, "%s: no 'store' line: no mail store could connect", path);
		return -EINVAL;
	}
	return 0;
}

int pnad_conf_store(const struct pnad_conf *c, const char *id, size_t len)
{
	for (uint32_t i = 0; i < c->nstores; i++)
		if (strlen(c->stores[i].id) == len && memcmp(c->stores[i].id, id, len) == 0)
			return (int)i;
	return -1;
}

bool pnad_conf_sip_on(const struct pnad_conf *c)
{
	return strcmp(c->sip_listen, "none") != 0;
}

bool pnad_conf_xmpp_on(const struct pnad_conf *c)
{
	return strcmp(c->xmpp_server, "none") != 0;
}

int pnad_conf_listen_addr(const struct pnad_conf *c, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(c->listen, ':');
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - c->listen);
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, c->listen, n);
	host[n] = '\0';
	/* [::1]:7600 */
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	*port = (uint16_t)atoi(colon + 1);
	return 0;
}
