/* pct: percent-decoding. */
#include "lib/pct.h"

#include <errno.h>
#include <stdbool.h>

int pct_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int decode(const char *s, size_t len, bool plus_space, char *out, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i], hi, lo;

		if (c == '%') {
			if (len - i < 3 || (hi = pct_hexval(s[i + 1])) < 0 ||
			    (lo = pct_hexval(s[i + 2])) < 0 || (hi | lo) == 0)
				return -EINVAL;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (n + 1 >= cap)
			return -ENAMETOOLONG;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (int)n;
}

int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
	return decode(s, len, false, out, cap);
}

int pct_decode_form(const char *s, size_t len, char *out, size_t cap)
{
	return decode(s, len, true, out, cap);
}
