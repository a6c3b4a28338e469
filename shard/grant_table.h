/* grant_table: the grants of a shard's accounts (draft section 3.4), in the
 * shard's subscription segment, so they survive a shard restart. Only the
 * shard process reads and writes it (others ask the shard). A grant lets a
 * grantee (identity or "@domain") subscribe to an account's mailboxes at or
 * under a path. Open addressing on the account's hash, so one account's
 * grants lie on one probe run. */
#ifndef PNA_GRANT_TABLE_H
#define PNA_GRANT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/sub_msg.h"

size_t grant_table_footprint(uint32_t cap);
void grant_table_format(void *region, size_t bytes, uint32_t cap);

/* Writer: add or replace (same account, path, grantee). 0 or -ENOSPC. */
int grant_table_put(void *region, const struct grant *g);
/* Writer: remove. 0 or -ENOENT. */
int grant_table_del(void *region, const struct grant *g);

/* Reader: is `identity` (canonical, see authz) granted `rights` on
 * (account, path)? A grant on path P covers P and everything under it; a
 * grantee "@d" covers every identity in domain d. */
int grant_table_allows(const void *region, const char *identity, const char *account,
		       const char *path, uint32_t rights);

/* Reader: every grant of `account`; fn returning non-zero stops the walk. */
int grant_table_list(const void *region, const char *account,
		     int (*fn)(const struct grant *g, void *arg), void *arg);
uint32_t grant_table_count(const void *region);

#endif
