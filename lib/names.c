/* names: account and mailbox-path normalisation. */
#include "names.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

/* Names are scanned eight bytes at a time (SWAR): each helper sets 0x80 in
 * exactly the bytes it selects, with no carry between bytes, because the
 * sums only ever see the low seven bits of a byte. */
#define ONES 0x0101010101010101ULL
#define HIGH (ONES * 0x80)
#define LOW7 (ONES * 0x7f)

static inline uint64_t zero_bytes(uint64_t v)
{
	return ~(((v & LOW7) + LOW7) | v | LOW7);
}

/* Bytes below n (1 <= n <= 0x80). */
static inline uint64_t below(uint64_t v, unsigned n)
{
	return ~(((v & LOW7) + ONES * (0x80 - n)) | v) & HIGH;
}

/* Bytes equal to c. */
static inline uint64_t equal(uint64_t v, unsigned char c)
{
	return zero_bytes(v ^ (ONES * c));
}

/* The 8 bytes of a name of len bytes from i; past the end, 'a' (harmless
 * to every test below). One load, or a few bytes for the tail: no memcpy
 * call of a variable size. */
static inline uint64_t word_at(const char *in, size_t len, size_t i)
{
	size_t n = len - i;
	uint64_t v = 0;

	if (n >= 8) {
		memcpy(&v, in + i, 8);
		return v;
	}
	for (size_t k = n; k-- > 0;)
		v = v << 8 | (unsigned char)in[i + k];
	return v | (ONES * 'a') << (8 * n);
}

/* Store the first min(len - i, 8) bytes of v at out + i. */
static inline void word_put(char *out, size_t len, size_t i, uint64_t v)
{
	size_t n = len - i;

	if (n >= 8) {
		memcpy(out + i, &v, 8);
		return;
	}
	for (size_t k = 0; k < n; k++, v >>= 8)
		out[i + k] = (char)(unsigned char)v;
}

/* Account bytes that are never allowed: space, control, '/', DEL. */
static inline uint64_t account_bad(uint64_t v)
{
	return below(v, 0x21) | equal(v, '/') | equal(v, 0x7f);
}

int names_account(const char *in, size_t len, char *out, size_t cap, const char **why)
{
	uint64_t bad = 0, v, m;
	size_t at = 0, i;

	if (len == 0)
		return fail(why, "account is empty");
	if (len >= cap || len > NAMES_ACCOUNT_MAX)
		return fail(why, "account is too long");
	for (i = 0; i < len; i += 8) {
		v = word_at(in, len, i);
		bad |= account_bad(v);
		m = equal(v, '@');
		/* One past the last '@' (little-endian: byte k is bits 8k..). */
		if (m)
			at = i + (size_t)(63 - __builtin_clzll(m)) / 8 + 1;
	}
	if (bad)
		return fail(why, "account has a space, control or '/' character");
	if (at <= 1 || at == len)
		return fail(why, "account is not user@domain");
	if (out != in)
		memcpy(out, in, at);
	for (i = at; i < len; i += 8) {
		v = word_at(in, len, i);
		/* 'A'..'Z' get 0x20: below 'Z' + 1 and not below 'A'. */
		v |= ((below(v, 'Z' + 1) & ~below(v, 'A')) >> 2);
		word_put(out, len, i, v);
	}
	out[len] = '\0';
	return (int)len;
}

/* ASCII case-insensitive "INBOX" at p (5 bytes): c & 0xdf maps exactly the
 * two cases of a letter to its upper case. */
static int is_inbox(const char *p)
{
	return (p[0] & 0xdf) == 'I' && (p[1] & 0xdf) == 'N' && (p[2] & 0xdf) == 'B' &&
	       (p[3] & 0xdf) == 'O' && (p[4] & 0xdf) == 'X';
}

/* The first fault of a path that has one, in order. */
static int path_fault(const char *in, size_t len, const char **why)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < ' ' || c == 0x7f)
			return fail(why, "mailbox has a control character");
		if (c == '/' && i + 1 < len && in[i + 1] == '/')
			return fail(why, "mailbox has an empty component");
	}
	return fail(why, "mailbox is not valid");
}

int names_path(const char *in, size_t len, char *out, size_t cap, const char **why)
{
	uint64_t bad = 0, v, slash, prev = 0;

	if (len == 0)
		return fail(why, "mailbox is empty");
	if (len >= cap || len > NAMES_KEY_MAX)
		return fail(why, "mailbox is too long");
	if (in[0] == '/' || in[len - 1] == '/')
		return fail(why, "mailbox starts or ends with '/'");
	for (size_t i = 0; i < len; i += 8) {
		v = word_at(in, len, i);
		slash = equal(v, '/');
		/* "//": a '/' after a '/', also across words. */
		bad |= below(v, ' ') | equal(v, 0x7f) | (slash & ((slash << 8) | prev));
		prev = slash >> 56;
	}
	if (bad)
		return path_fault(in, len, why);
	if (out != in)
		memcpy(out, in, len);
	out[len] = '\0';
	/* RFC 3501 section 5.1: INBOX is case-insensitive, other names are not. */
	if (len >= 5 && (len == 5 || in[5] == '/') && is_inbox(in))
		memcpy(out, "INBOX", 5);
	return (int)len;
}

size_t names_split_key(const char *key, const char **path)
{
	const char *slash = strchr(key, '/');

	if (!slash) {
		*path = key + strlen(key);
		return strlen(key);
	}
	*path = slash + 1;
	return (size_t)(slash - key);
}
