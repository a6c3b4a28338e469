/* uidset: IMAP UID sets as RFC 5423 carries them ("1:3,7,10:*"). A pure
 * parser over a buffer, fuzzed by tests/fuzz/fuzz_uidset.c. */
#ifndef PNA_UIDSET_H
#define PNA_UIDSET_H

#include <stddef.h>
#include <stdint.h>

/* Number of UIDs in the set (a:b counts |b-a|+1; '*' stands for `star`, the
 * mailbox's highest UID, or counts 1 when star is 0). Returns the count
 * (saturating at UINT32_MAX), or -EBADMSG with *why for a malformed set. */
int64_t uidset_count(const char *s, size_t len, uint32_t star, const char **why);

#endif
