/* admin_api: the pure half of the admin HTTP API (run by the admin process):
 * routing, the bearer check, the API's subscription id, the JSON forms of
 * subscriptions and grants and the HTTP status of a shard's answer. No I/O and
 * no shared memory, so all of it is unit-tested (tests/unit/test_admin_api.c).
 *
 * The API's subscription id is "<shard>-<id>" (both decimal): the shard that
 * owns the subscription's account and the id its table gave it. A table id
 * alone says nothing about the shard, so the API id carries it and GET or
 * DELETE by id goes straight to that shard. */
#ifndef PNA_ADMIN_API_H
#define PNA_ADMIN_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sub_msg.h"

struct json_object;

enum admin_route_kind {
	ADMIN_R_HEALTHZ = 1,  /* GET /healthz (no token) */
	ADMIN_R_METRICS,      /* GET /metrics */
	ADMIN_R_SUB_CREATE,   /* POST /v1/subscriptions */
	ADMIN_R_SUB_LIST,     /* GET /v1/subscriptions?subscriber= | mailbox= | account= */
	ADMIN_R_SUB_GET,      /* GET /v1/subscriptions/<id> */
	ADMIN_R_SUB_DELETE,   /* DELETE /v1/subscriptions/<id> */
	ADMIN_R_GRANT_ADD,    /* POST /v1/grants */
	ADMIN_R_GRANT_DELETE, /* DELETE /v1/grants?account=&path=&grantee= */
	ADMIN_R_GRANT_LIST,   /* GET /v1/grants?account= */
	ADMIN_R_MAILBOX,      /* GET /v1/mailboxes/<account>/<path> */
	ADMIN_R_ACCOUNT,      /* GET /v1/accounts/<account> */
	ADMIN_R_SHARDS,	      /* GET /v1/shards[?account=] */
	ADMIN_R_STATS,	      /* GET /v1/stats */
	ADMIN_R_CRED_PUT,     /* PUT /v1/sip/credentials/<user>@<realm> */
	ADMIN_R_CRED_DELETE,  /* DELETE /v1/sip/credentials/<user>@<realm> */
	ADMIN_R_CRED_LIST,    /* GET /v1/sip/credentials */
};

#define ADMIN_ARG_MAX 512 /* decoded path remainder */

struct admin_route {
	enum admin_route_kind kind;
	char arg[ADMIN_ARG_MAX]; /* percent-decoded rest of the path ("" if none) */
	const char *query;	 /* points into the caller's path: after '?', or "" */
};

/* Match `method` and `path` (":path", query included). Returns 0, or the HTTP
 * status to answer (404 no such resource, 405 method not allowed, 400 bad
 * percent-encoding) with *why set to a static reason. */
int admin_api_route(const char *method, const char *path, struct admin_route *r, const char **why);

/* Value of `key` in a query string ("a=1&b=x%40y"), percent- and '+'-decoded
 * into out (cap bytes, NUL-terminated). Its length, -ENOENT when absent,
 * -EINVAL for a bad escape or an encoded NUL, -ENAMETOOLONG. */
int admin_api_query(const char *query, const char *key, char *out, size_t cap);

/* Does the Authorization header value `authz` (NULL when absent) carry
 * "Bearer <token>"? The scheme is case-insensitive (RFC 7235 section 2.1);
 * the token compare takes the same time wherever it differs. An empty
 * configured token never matches. */
bool admin_api_bearer_ok(const char *authz, const char *token);

/* The API id "<shard>-<id>". Format returns snprintf's length. Parse returns
 * 0, or -EINVAL (not two decimals, id 0) or -ERANGE (shard >= nshards). */
int admin_api_id_format(char *buf, size_t cap, uint32_t shard, uint64_t id);
int admin_api_id_parse(const char *s, uint32_t nshards, uint32_t *shard, uint64_t *id);

/* Bounds of the "expires" and "heartbeat" fields, in seconds. */
#define ADMIN_EXPIRES_DEFAULT 3600
#define ADMIN_EXPIRES_MAX (30 * 86400)
#define ADMIN_HEARTBEAT_MIN 5
#define ADMIN_HEARTBEAT_MAX 86400

/* A POST /v1/subscriptions body into a spec for SUB_OP_ADD (id 0, expires
 * absolute from `now`, names canonical). 0, or -EINVAL with a reason naming
 * the field in err ("mailbox: account is not user@domain"). */
int admin_api_sub_parse(const char *body, size_t len, uint32_t now, struct sub_spec *out, char *err,
			size_t errlen);

/* A subscription of `shard` as the API shows it (caller owns the object).
 * "expires" is the seconds left at `now`, "expires_at" the unix time;
 * "events" lists the type names (every type when the filter is 0). */
struct json_object *admin_api_sub_json(const struct sub_spec *s, uint32_t shard, uint32_t now);

/* A POST /v1/grants body. 0 or -EINVAL with the field named in err. */
int admin_api_grant_parse(const char *body, size_t len, struct grant *out, char *err,
			  size_t errlen);
/* account=, path= (optional) and grantee= of a query (DELETE /v1/grants).
 * 0 or -EINVAL with the field named in err. */
int admin_api_grant_query(const char *query, struct grant *out, char *err, size_t errlen);
struct json_object *admin_api_grant_json(const struct grant *g);

/* An account (and optional "/path") from a URL argument into canonical
 * names; a path is refused when !allow_path. 0 or -EINVAL with err. */
int admin_api_mailbox_parse(const char *arg, char *acct, char *path, bool allow_path, char *err,
			    size_t errlen);

struct sip_cred;
/* A SIP credential from its URL argument ("user@realm", split at the last
 * '@') and, for a put, a body {"password": P} (both hashes are computed
 * and P is forgotten) or {"ha1_sha256": H, "ha1_md5": H} (either or both;
 * an algorithm without its hash is refused for that user). body NULL: the
 * names only (a delete). 0 or -EINVAL with the field named in err. */
int admin_api_cred_parse(const char *arg, const char *body, size_t len, struct sip_cred *out,
			 char *err, size_t errlen);
/* {"user", "realm", "algorithms": ["SHA-256", "MD5"]}: never the hashes. */
struct json_object *admin_api_cred_json(const struct sip_cred *c);

/* HTTP status for a shard's reply status (0, -EACCES, -ENOENT, -ENOSPC,
 * -EAGAIN, -EINVAL, -ETIMEDOUT, anything else). */
int admin_api_status_of(int err);

/* {"error": reason} as a malloc'd JSON text (caller frees); *len its length. */
char *admin_api_error_body(const char *reason, size_t *len);
/* Serialise `o` (consumed) into a malloc'd text with a final newline. */
char *admin_api_json_body(struct json_object *o, size_t *len);

#endif
