/* sip_cred: the SIP digest credential table, a shared-memory segment
 * (/<name>.sipcred) holding per user@realm the H(A1) of each algorithm
 * (RFC 8760: SHA-256 and MD5), never a password. One writer: the admin
 * process, which keeps Redis as the durable copy (admin/admin_cred.h); the
 * SIP worker reads it (records under a sequence lock) to check digest
 * responses. */
#ifndef PNA_SIP_CRED_H
#define PNA_SIP_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/shm.h"

#define SIP_CRED_KIND 0x53495043u /* "SIPC" */
#define SIP_CRED_USER_MAX 64	  /* bytes with the NUL */
#define SIP_CRED_REALM_MAX 128

struct sip_cred {
	char user[SIP_CRED_USER_MAX];
	char realm[SIP_CRED_REALM_MAX];
	char ha1_md5[33];    /* lower-case hex, "" when MD5 is not allowed */
	char ha1_sha256[65]; /* lower-case hex, "" when SHA-256 is not allowed */
	char pad[6];
};

/* A credential from a password: both hashes. 0, or -EINVAL with a static
 * reason in *why (user or realm empty, too long, or holding ':' '@' '"'
 * or control bytes). */
int sip_cred_from_password(const char *user, const char *realm, const char *pw,
			   struct sip_cred *out, const char **why);
/* Check the names and that the given hashes are hex of the right length
 * (lower-cased in place); at least one hash. 0 or -EINVAL with *why. */
int sip_cred_validate(struct sip_cred *c, const char **why);

/* Writer side (the admin process). Open or re-attach the segment for cap
 * credentials. 0 and *out (mapping owned by the caller: shm_seg_close), or
 * -errno. */
int sip_cred_open(const char *name, uint32_t cap, struct shm_seg *out);
/* Insert or replace. 0, or -ENOSPC when the table is full. */
int sip_cred_put(struct shm_seg *s, const struct sip_cred *c);
/* 0, or -ENOENT. */
int sip_cred_del(struct shm_seg *s, const char *user, const char *realm);
/* Remove every credential (before a reload from Redis). */
void sip_cred_clear(struct shm_seg *s);
/* Would a put of user@realm succeed (it exists, or there is room)? */
bool sip_cred_fits(const struct shm_seg *s, const char *user, const char *realm);

/* Reader side (any process; base is a mapping of the segment). 0 and *out,
 * or -ENOENT. */
int sip_cred_get(const void *base, const char *user, const char *realm, struct sip_cred *out);
/* Walk the table: the next credential at or after *pos into *out, *pos
 * moved past it. true while there is one. */
bool sip_cred_next(const void *base, uint32_t *pos, struct sip_cred *out);
uint32_t sip_cred_count(const void *base);

/* The SIP worker's handle: attaches the segment read-only on first use
 * (the admin process creates it) and again after a miss, at most once a
 * second, so a worker that starts first, or a segment made anew, is found. */
struct sip_cred_reader {
	char name[64];
	struct shm_seg seg; /* base NULL until attached */
	int64_t attached;   /* unix time of the last attach */
};
void sip_cred_reader_init(struct sip_cred_reader *r, const char *name);
void sip_cred_reader_close(struct sip_cred_reader *r);
/* A sip_auth_lookup_fn over the reader (arg). */
int sip_cred_lookup(void *arg, const char *user, const char *realm, const char *alg, char *ha1,
		    size_t cap);

#endif
