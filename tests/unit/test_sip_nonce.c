/* test_sip_nonce: the SIP worker's nonce table: issue and find, rising
 * counts accepted and repeated or lower ones refused as replays, answers
 * without qop once only, expiry, forgetting the oldest when full (and
 * saying whether it was still live), malformed and made-up nonces. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "egress/sip/sip_nonce.h"

static struct sip_nonce_table t;

static void test_counts(void)
{
	char a[SIP_NONCE_LEN + 1], b[SIP_NONCE_LEN + 1];
	uint32_t now = 1760000000, sa, sb;

	sip_nonce_init(&t);
	CHECK_EQ(sip_nonce_issue(&t, now, a), 0);
	CHECK_EQ(sip_nonce_issue(&t, now, b), 0);
	CHECK_EQ(strlen(a), SIP_NONCE_LEN);
	CHECK(strcmp(a, b) != 0); /* one nonce per challenge, even in one second */
	CHECK_EQ(sip_nonce_find(&t, a, now, &sa), 0);
	CHECK_EQ(sip_nonce_find(&t, b, now + SIP_NONCE_LIFETIME, &sb), 0);
	CHECK(sa != sb);

	CHECK_EQ(sip_nonce_use(&t, sa, 1), 0);
	CHECK_EQ(sip_nonce_use(&t, sa, 1), -EALREADY);
	CHECK_EQ(sip_nonce_use(&t, sa, 2), 0);
	CHECK_EQ(sip_nonce_use(&t, sa, 7), 0);
	CHECK_EQ(sip_nonce_use(&t, sa, 5), -EALREADY); /* out of order: refused too */
	CHECK_EQ(sip_nonce_use(&t, sa, SIP_NONCE_NO_QOP), -EALREADY);
	CHECK_EQ(sip_nonce_use(&t, sa, UINT32_MAX), 0);
	CHECK_EQ(sip_nonce_use(&t, sa, UINT32_MAX), -EALREADY);

	/* without qop: the first use only, and nothing after it */
	CHECK_EQ(sip_nonce_use(&t, sb, SIP_NONCE_NO_QOP), 0);
	CHECK_EQ(sip_nonce_use(&t, sb, SIP_NONCE_NO_QOP), -EALREADY);
	CHECK_EQ(sip_nonce_use(&t, sb, 1), -EALREADY);
	CHECK_EQ(sip_nonce_use(&t, sb, UINT32_MAX), -EALREADY);

	/* a use of one nonce says nothing about another */
	CHECK_EQ(sip_nonce_issue(&t, now, a), 0);
	CHECK_EQ(sip_nonce_find(&t, a, now, &sa), 0);
	CHECK_EQ(sip_nonce_use(&t, sa, 1), 0);
}

static void test_expiry_and_garbage(void)
{
	char a[SIP_NONCE_LEN + 1], x[SIP_NONCE_LEN + 2];
	uint32_t now = 1760000000, s;

	sip_nonce_init(&t);
	sip_nonce_issue(&t, now, a);
	CHECK_EQ(sip_nonce_find(&t, a, now + SIP_NONCE_LIFETIME + 1, &s), -ESTALE);
	CHECK_EQ(sip_nonce_find(&t, a, now - 1, &s), -ESTALE); /* clock went back */

	/* any case of the hex digits is the same nonce */
	snprintf(x, sizeof(x), "%s", a);
	for (char *p = x; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), 0);
	/* another tag, time or sequence, a digit short or long, not hex */
	snprintf(x, sizeof(x), "%s", a);
	x[SIP_NONCE_LEN - 1] = x[SIP_NONCE_LEN - 1] == '0' ? '1' : '0';
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), -ENOENT);
	snprintf(x, sizeof(x), "%s", a);
	x[7] = x[7] == '0' ? '1' : '0';
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), -ENOENT);
	snprintf(x, sizeof(x), "%s", a);
	x[15] = x[15] == '0' ? '1' : '0';
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), -ENOENT);
	snprintf(x, sizeof(x), "%s0", a);
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), -ENOENT);
	snprintf(x, sizeof(x), "%.31s", a);
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), -ENOENT);
	snprintf(x, sizeof(x), "%s", a);
	x[20] = 'g';
	CHECK_EQ(sip_nonce_find(&t, x, now, &s), -ENOENT);
	CHECK_EQ(sip_nonce_find(&t, "", now, &s), -ENOENT);
	/* an empty slot never matches, even a nonce of zeros */
	CHECK_EQ(sip_nonce_find(&t, "00000000000000010000000000000000", now, &s), -ENOENT);
}

static void test_full(void)
{
	char first[SIP_NONCE_LEN + 1], n[SIP_NONCE_LEN + 1];
	uint32_t now = 1760000000, s, evicted = 0;

	sip_nonce_init(&t);
	sip_nonce_issue(&t, now, first);
	for (int i = 1; i < SIP_NONCE_CAP; i++)
		evicted += (uint32_t)sip_nonce_issue(&t, now, n);
	CHECK_EQ(evicted, 0);
	CHECK_EQ(sip_nonce_find(&t, first, now, &s), 0);
	/* one more within the lifetime takes the oldest's place, and says so */
	CHECK_EQ(sip_nonce_issue(&t, now + 1, n), 1);
	CHECK_EQ(sip_nonce_find(&t, first, now + 1, &s), -ENOENT);
	CHECK_EQ(sip_nonce_find(&t, n, now + 1, &s), 0);
	/* replacing an expired one is not an eviction */
	CHECK_EQ(sip_nonce_issue(&t, now + SIP_NONCE_LIFETIME + 1, n), 0);
	/* a new nonce in a used slot starts with no count */
	CHECK_EQ(sip_nonce_find(&t, n, now + SIP_NONCE_LIFETIME + 1, &s), 0);
	CHECK_EQ(sip_nonce_use(&t, s, 1), 0);
}

int main(void)
{
	test_counts();
	test_expiry_and_garbage();
	test_full();
	return check_summary();
}
