/* conf: parse `key = value` files against key tables. */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int set_value(const struct conf_key *k, void *obj, const char *v, const char **why);

/* A typed key may carry fn as an extra check of the stored value. */
static int set_checked(const struct conf_key *k, void *obj, const char *v, const char **why)
{
	int rc = set_value(k, obj, v, why);

	if (rc == 0 && k->fn && k->type != CONF_LIST)
		rc = k->fn(obj, v, why);
	return rc;
}

static int set_value(const struct conf_key *k, void *obj, const char *v, const char **why)
{
	char *end;
	long long n;

	switch (k->type) {
	case CONF_INT:
		errno = 0;
		n = strtoll(v, &end, 0);
		if (errno || end == v) {
			*why = "not an integer";
			return -EINVAL;
		}
		/* Size suffixes: 64k, 16M, 1G. */
		if (*end == 'k' || *end == 'K')
			n *= 1024, end++;
		else if (*end == 'm' || *end == 'M')
			n *= 1024 * 1024, end++;
		else if (*end == 'g' || *end == 'G')
			n *= 1024LL * 1024 * 1024, end++;
		if (*end) {
			*why = "trailing characters after the number";
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			*why = "out of range";
			return -ERANGE;
		}
		if ((k->flags & CONF_POW2) && (n & (n - 1))) {
			*why = "must be a power of two";
			return -EINVAL;
		}
		*(int64_t *)((char *)obj + k->off) = n;
		return 0;
	case CONF_STR:
		if (!*v) {
			*why = "empty value";
			return -EINVAL;
		}
		if (strlen(v) >= (size_t)k->max) {
			*why = "value too long";
			return -EINVAL;
		}
		strcpy((char *)obj + k->off, v);
		return 0;
	case CONF_BOOL:
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
			*(int *)((char *)obj + k->off) = 1;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
			*(int *)((char *)obj + k->off) = 0;
		else {
			*why = "expected yes or no";
			return -EINVAL;
		}
		return 0;
	case CONF_LIST:
		return k->fn(obj, v, why);
	}
	return -EINVAL;
}

static const struct conf_key *find(const struct conf_key *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

int conf_defaults(const struct conf_key *keys, size_t n, void *obj, char *err, size_t errlen)
{
	const char *why = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!keys[i].def)
			continue;
		if (set_checked(&keys[i], obj, keys[i].def, &why) < 0) {
			snprintf(err, errlen, "default of '%s': %s", keys[i].name, why);
			return -EINVAL;
		}
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Parse one line; 0, or -EINVAL with *why. `seen` marks keys given. */
static int conf_line(char *line, const struct conf_key *keys, size_t n, void *obj,
		     unsigned char *seen, const char **why)
{
	char *hash = strchr(line, '#');
	char *eq, *key, *val;
	const struct conf_key *k;
	static char msg[160];

	if (hash)
		*hash = '\0';
	key = trim(line);
	if (!*key)
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		*why = "expected 'key = value'";
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(key);
	val = trim(eq + 1);
	k = find(keys, n, key);
	if (!k) {
		snprintf(msg, sizeof(msg), "unknown key '%.60s'", key);
		*why = msg;
		return -EINVAL;
	}
	if (seen[k - keys] && k->type != CONF_LIST) {
		snprintf(msg, sizeof(msg), "'%s' given twice", k->name);
		*why = msg;
		return -EINVAL;
	}
	seen[k - keys] = 1;
	if (set_checked(k, obj, val, why) < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", k->name, *why);
		*why = msg;
		return -EINVAL;
	}
	return 0;
}

int conf_load(const char *path, const struct conf_key *keys, size_t n, void *obj, char *err,
	      size_t errlen)
{
	unsigned char *seen = calloc(n ? n : 1, 1);
	char line[1024];
	const char *why = NULL;
	int lineno = 0, rc = 0;
	FILE *f;

	if (!seen)
		abort();
	rc = conf_defaults(keys, n, obj, err, errlen);
	if (rc < 0)
		goto out;
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			rc = -EINVAL;
			break;
		}
		if (conf_line(line, keys, n, obj, seen, &why) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -EINVAL;
			break;
		}
	}
	fclose(f);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!seen[i] && !keys[i].def && keys[i].type != CONF_LIST) {
			snprintf(err, errlen, "%s: missing '%s'", path, keys[i].name);
			rc = -EINVAL;
		}
	}
out:
	free(seen);
	return rc;
}
