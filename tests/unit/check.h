/* check: the few macros unit tests share. Each test binary ends with
 * check_summary(), which prints "N passed, M failed" and gives the exit
 * status. A failed check prints its file, line and expression. */
#ifndef PNA_TEST_CHECK_H
#define PNA_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>

static unsigned check_passed, check_failed;

#define CHECK(expr)                                                                              \
	do {                                                                                     \
		if (expr) {                                                                      \
			check_passed++;                                                          \
		} else {                                                                         \
			check_failed++;                                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
		}                                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                                                      \
	do {                                                                                \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);             \
		if (check_a_ == check_b_) {                                                 \
			check_passed++;                                                     \
		} else {                                                                    \
			check_failed++;                                                     \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, \
				__LINE__, #a, #b, check_a_, check_b_);                      \
		}                                                                           \
	} while (0)

#define CHECK_STR(a, b)                                                                     \
	do {                                                                                \
		const char *check_a_ = (a), *check_b_ = (b);                                \
		if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {              \
			check_passed++;                                                     \
		} else {                                                                    \
			check_failed++;                                                     \
			fprintf(stderr, "%s:%d: %s == %s failed: '%s' != '%s'\n", __FILE__, \
				__LINE__, #a, #b, check_a_ ? check_a_ : "(null)",           \
				check_b_ ? check_b_ : "(null)");                            \
		}                                                                           \
	} while (0)

static inline int check_summary(void)
{
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
