/* pct: percent-decoding. */
#include "lib/pct.h"

#include <errno.h>

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

int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i], hi, lo;

		if (c == '%') {
			if (len - i < 3 || (hi = pct_hexval(s[i + 1])) < 0 ||
			    (lo = pct_hexval(s[i + 2])) < 0 || (hi | lo) == 0)
				return -EINVAL;
			c = hi << 4 | lo;
			i += 2;
		}
		if (n + 1 >= cap)
			return -EINVAL;
		out[n++] = (char)c;
	}
	if (cap)
		out[n] = '\0';
	return cap ? (int)n : -EINVAL;
}
