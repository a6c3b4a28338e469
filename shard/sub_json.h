/* sub_json: the JSON form of a subscription and of a grant, the values the
 * shard's Redis writer stores and its reload reads back (the key schema is
 * in shard/shard_persist.h). Pure: buffers in and out, no I/O. */
#ifndef PNA_SUB_JSON_H
#define PNA_SUB_JSON_H

#include <stddef.h>

#include "lib/sub_msg.h"
#include "shard/sub_table.h"

/* Bytes sub_json_put_sub and sub_json_put_grant write at most (every string
 * escaped at worst as \u00XX). */
#define SUB_JSON_MAX \
	(6 * (NAMES_ACCOUNT_MAX + NAMES_KEY_MAX + SUB_SUBSCRIBER_MAX + SUB_TARGET_MAX) + 256)

/* Compact JSON of every field of s, e.g.
 * {"id":7,"transport":1,"depth":1,"events":0,"expires":1700000000,
 *  "heartbeat":0,"account":"a@x.org","path":"INBOX","subscriber":"sip:b@y",
 *  "target":"..."}: into out (SUB_JSON_MAX bytes), not NUL-terminated.
 * Strings are escaped per RFC 8259 section 7; other bytes go as they are.
 * Returns the length. */
size_t sub_json_put_sub(char *out, const struct sub_spec *s);
/* {"account":"a@x.org","path":"INBOX","grantee":"@y.org","rights":1} */
size_t sub_json_put_grant(char *out, const struct grant *g);

/* Parse what sub_json_put_sub wrote, or another writer's JSON object with
 * those members: in any order, unknown ones skipped whatever they hold;
 * depth, events, expires, heartbeat and target may be absent (0 or "").
 * Numbers are plain unsigned integers in range, strings fit their arrays
 * and hold no U+0000. 0, or -EBADMSG with a static reason in *why (out is
 * then unspecified). */
int sub_json_get_sub(const char *in, size_t len, struct sub_spec *out, const char **why);
/* Parse a grant (rights may be absent: GRANT_RIGHT_SUBSCRIBE). */
int sub_json_get_grant(const char *in, size_t len, struct grant *out, const char **why);

#endif
