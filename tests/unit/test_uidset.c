/* test_uidset: UID-set counting over valid sets, '*', and every malformed
 * shape the parser must refuse with a reason. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "lib/uidset.h"

static int64_t count(const char *s, uint32_t star)
{
	const char *why = NULL;

	return uidset_count(s, strlen(s), star, &why);
}

static void test_valid(void)
{
	unsigned before = check_failed;

	CHECK_EQ(count("1", 0), 1);
	CHECK_EQ(count("7", 0), 1);
	CHECK_EQ(count("1:3", 0), 3);
	CHECK_EQ(count("3:1", 0), 3);
	CHECK_EQ(count("5:5", 0), 1);
	CHECK_EQ(count("1:3,7,10:12", 0), 7);
	CHECK_EQ(count("4294967295", 0), 1);
	CHECK_EQ(count("1:4294967295", 0), UINT32_MAX);
	/* saturates rather than overflowing */
	CHECK_EQ(count("1:4294967295,1:4294967295", 0), UINT32_MAX);
	CHECK_EQ(count("007", 0), 1);
	/* not NUL-terminated: the length decides */
	CHECK_EQ(uidset_count("1:3,99", 3, 0, &(const char *){ NULL }), 3);
	printf("%s valid sets\n", check_failed == before ? "ok  " : "FAIL");
}

static void test_star(void)
{
	unsigned before = check_failed;

	CHECK_EQ(count("*", 0), 1);
	CHECK_EQ(count("*", 42), 1);
	CHECK_EQ(count("10:*", 0), 1);
	CHECK_EQ(count("10:*", 19), 10);
	CHECK_EQ(count("*:10", 19), 10);
	CHECK_EQ(count("30:*", 19), 12); /* a:b in either order */
	CHECK_EQ(count("1,*", 5), 2);
	printf("%s star\n", check_failed == before ? "ok  " : "FAIL");
}

static void check_bad(const char *s, const char *want_why)
{
	const char *why = NULL;
	int64_t n = uidset_count(s, strlen(s), 10, &why);

	CHECK_EQ(n, -EBADMSG);
	CHECK(why != NULL && strstr(why, want_why) != NULL);
}

static void test_malformed(void)
{
	unsigned before = check_failed;
	const char *why = NULL;

	check_bad("", "empty UID set");
	check_bad(",", "empty element");
	check_bad(",1", "empty element");
	check_bad("1,,2", "empty element");
	check_bad("1:", "empty element");
	check_bad(":1", "empty element");
	check_bad("1,", "trailing comma");
	check_bad("1:3,", "trailing comma");
	check_bad("a", "not a number");
	check_bad("1:x", "not a number");
	check_bad(" 1", "not a number");
	check_bad("1 ", "unexpected character");
	check_bad("1x", "unexpected character");
	check_bad("1:2:3", "unexpected character");
	check_bad("**", "unexpected character");
	check_bad("0", "UID 0");
	check_bad("1:0", "UID 0");
	check_bad("000", "UID 0");
	check_bad("4294967296", "above 2^32-1");
	check_bad("1:99999999999999999999", "above 2^32-1");
	check_bad("-1", "not a number");
	/* an embedded NUL is a character like any other */
	CHECK_EQ(uidset_count("1\0002", 3, 0, &why), -EBADMSG);
	printf("%s malformed sets\n", check_failed == before ? "ok  " : "FAIL");
}

int main(void)
{
	test_valid();
	test_star();
	test_malformed();
	return check_summary();
}
