/* names: account and mailbox-path normalisation. */
#include "names.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

int names_account(const char *in, size_t len, char *out, size_t cap, const char **why)
{
	const char *at = NULL;
	size_t i;

	if (len == 0)
		return fail(why, "account is empty");
	if (len >= cap || len > NAMES_ACCOUNT_MAX)
		return fail(why, "account is too long");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c == '/' || c == 0x7f)
			return fail(why, "account has a space, control or '/' character");
		if (c == '@')
			at = in + i;
	}
	if (!at || at == in || at == in + len - 1)
		return fail(why, "account is not user@domain");
	for (i = 0; i < len; i++) {
		char c = in[i];

		out[i] = (in + i > at && c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[len] = '\0';
	return (int)len;
}

int names_path(const char *in, size_t len, char *out, size_t cap, const char **why)
{
	size_t i;

	if (len == 0)
		return fail(why, "mailbox is empty");
	if (len >= cap || len > NAMES_KEY_MAX)
		return fail(why, "mailbox is too long");
	if (in[0] == '/' || in[len - 1] == '/')
		return fail(why, "mailbox starts or ends with '/'");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < ' ' || c == 0x7f)
			return fail(why, "mailbox has a control character");
		if (c == '/' && in[i + 1] == '/')
			return fail(why, "mailbox has an empty component");
	}
	memcpy(out, in, len);
	out[len] = '\0';
	/* RFC 3501 section 5.1: INBOX is case-insensitive, other names are not. */
	if (len >= 5 && strncasecmp(out, "INBOX", 5) == 0 && (len == 5 || out[5] == '/'))
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
