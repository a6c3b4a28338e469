/* pnad_conf: pnad's configuration, read once by the supervisor and inherited
 * by every child across fork. The key table (pnad_conf.c) is the reference of
 * every key, its default and bounds; docs/operations.md lists them. */
#ifndef PNA_PNAD_CONF_H
#define PNA_PNAD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PNAD_MAX_STORES 256
#define PNAD_MAX_SHARDS 256
#define PNAD_STORE_ID_MAX 64

struct pnad_store {
	char id[PNAD_STORE_ID_MAX];
	char credential[128];
};

struct pnad_conf {
	char name[32];	 /* prefix of shm segment names: /<name>.shard.N */
	char listen[64]; /* ingest address, host:port */
	char log_level[16];
	char redis[64];		 /* host:port, used by the subscriptions */
	int64_t shards;		 /* shard processes; 0 = one per core */
	int64_t max_frame;	 /* bytes of one ingest frame */
	int64_t max_connections; /* concurrent ingest connections */
	int64_t ring_bytes;	 /* data bytes of each router->shard ring */
	int64_t mailboxes;	 /* mailbox-state capacity of each shard */
	int64_t recv_buffers;	 /* provided receive buffers (io_uring) */
	int64_t recv_buffer_size;
	int unlink_on_exit; /* remove segments on a clean stop */
	int sched_batch;    /* the event path's processes run as SCHED_BATCH */
	/* Subscriptions (issue #3). */
	int64_t subscriptions;	  /* subscription capacity of each shard */
	int64_t sub_string_bytes; /* intern pool of each shard */
	int64_t grants;		  /* grant capacity of each shard */
	int64_t ctl_ring_bytes;	  /* each request / reply ring */
	int64_t job_ring_bytes;	  /* each egress job ring */
	int64_t outbox_bytes;	  /* each shard's Redis outbox */
	char redis_cluster[8];	  /* yes, no or auto */
	char redis_prefix[32];	  /* key prefix in Redis */
	/* Identity rules for authorization: a subscriber identity in domain
	 * `from` is taken as being in account domain `to`
	 * ("identity_domain = sip.example.com example.com"). */
	uint32_t ndomain_maps;
	struct {
		char from[64], to[64];
	} domain_maps[32];
	/* Admin API. */
	char admin_listen[64];	  /* host:port of the HTTP/2 API */
	char admin_token[128];	  /* bearer token */
	char admin_tls_cert[256]; /* PEM; with admin_tls_key: h2 over TLS */
	char admin_tls_key[256];
	/* SIP egress worker (issue #4); sip_listen "none" disables it. */
	char sip_listen[64];	 /* UDP and TCP, host:port */
	char sip_tls_listen[64]; /* host:port or none */
	char sip_tls_cert[256], sip_tls_key[256];
	char sip_domain[128]; /* our host part in Contact and From */
	int64_t sip_min_expires, sip_max_expires;
	int sip_digest;		       /* digest auth for untrusted subscribers */
	int64_t sip_credentials;       /* capacity of the digest credential table */
	uint32_t nsip_trusted;	       /* CNAs whose P-Asserted-Identity is taken */
	char sip_trusted[32][64];      /* source IPs */
	uint32_t nsip_tls_trusted;     /* CNAs trusted by TLS client certificate */
	char sip_tls_trusted[32][100]; /* SHA-256 fingerprints */
	/* XMPP egress worker (issue #5); xmpp_server "none" disables it. */
	char xmpp_server[64];	  /* the XMPP server's component port */
	char xmpp_component[128]; /* our component domain (pna.example.com) */
	char xmpp_secret[128];
	int64_t xmpp_connections;
	int64_t xmpp_ping_idle;	   /* seconds without input before a ping */
	int64_t xmpp_ping_timeout; /* seconds a ping may go unanswered */
	int64_t xmpp_coalesce_us;  /* gathering interval while notes keep coming */
	uint32_t nstores;
	struct pnad_store stores[PNAD_MAX_STORES];
};

/* Load and validate `path`. 0, or -errno with "file:line: reason" in err. */
int pnad_conf_load(const char *path, struct pnad_conf *c, char *err, size_t errlen);

/* Index of store `id` (len bytes) or -1. */
int pnad_conf_store(const struct pnad_conf *c, const char *id, size_t len);

/* Whether the SIP egress worker runs (sip_listen is not "none"); the XMPP
 * one (xmpp_server is not "none"). */
bool pnad_conf_sip_on(const struct pnad_conf *c);
bool pnad_conf_xmpp_on(const struct pnad_conf *c);

/* Split c->listen into host and port. 0 or -EINVAL. */
int pnad_conf_listen_addr(const struct pnad_conf *c, char *host, size_t hostlen, uint16_t *port);

#endif
