/* uidset: counting the UIDs of an RFC 3501 sequence-set (nz-number, '*',
 * ranges a:b in either order, comma-separated). Pure; used by the shard
 * process to turn MessageExpunge/MessageRead UID sets into count changes. */
#include "uidset.h"

#include <errno.h>

#define STAR -1 /* a parsed '*' */

/* One seq-number at s[*i]: its value, or STAR. 0 or -EBADMSG with *why. */
static int parse_number(const char *s, size_t len, size_t *i, int64_t *out, const char **why)
{
	uint64_t v = 0;
	size_t p = *i;

	if (p == len || s[p] == ',' || s[p] == ':') {
		*why = "empty element in UID set";
		return -EBADMSG;
	}
	if (s[p] == '*') {
		*i = p + 1;
		*out = STAR;
		return 0;
	}
	if (s[p] < '0' || s[p] > '9') {
		*why = "UID set: not a number";
		return -EBADMSG;
	}
	/* Leading zeros are tolerated (RFC 3501 nz-number has none): the
	 * value, not the spelling, decides. */
	for (; p < len && s[p] >= '0' && s[p] <= '9'; p++) {
		v = v * 10 + (uint64_t)(s[p] - '0');
		if (v > UINT32_MAX) {
			*why = "UID above 2^32-1 in UID set";
			return -EBADMSG;
		}
	}
	if (v == 0) {
		*why = "UID 0 in UID set";
		return -EBADMSG;
	}
	*i = p;
	*out = (int64_t)v;
	return 0;
}

/* UIDs in a:b. '*' is `star`; with star 0 an element naming '*' counts 1. */
static uint64_t range_count(int64_t a, int64_t b, uint32_t star)
{
	if (a == STAR || b == STAR) {
		if (star == 0)
			return 1;
		if (a == STAR)
			a = star;
		if (b == STAR)
			b = star;
	}
	return (uint64_t)(a > b ? a - b : b - a) + 1;
}

int64_t uidset_count(const char *s, size_t len, uint32_t star, const char **why)
{
	uint64_t total = 0;
	size_t i = 0;
	int64_t a, b;

	if (len == 0) {
		*why = "empty UID set";
		return -EBADMSG;
	}
	for (;;) {
		if (parse_number(s, len, &i, &a, why) < 0)
			return -EBADMSG;
		b = a;
		if (i < len && s[i] == ':') {
			i++;
			if (parse_number(s, len, &i, &b, why) < 0)
				return -EBADMSG;
		}
		/* Overlapping elements count twice: stores send disjoint sets,
		 * and deduplicating would need memory. */
		total += range_count(a, b, star);
		if (total > UINT32_MAX)
			total = UINT32_MAX;
		if (i == len)
			return (int64_t)total;
		if (s[i] != ',') {
			*why = "UID set: unexpected character";
			return -EBADMSG;
		}
		if (++i == len) {
			*why = "trailing comma in UID set";
			return -EBADMSG;
		}
	}
}
