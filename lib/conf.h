/* conf: a table-driven reader for pnad's one configuration file. Each module
 * declares its keys in a table (name, type, default, bounds, where to store);
 * the whole file is validated before anything starts, and every error reads
 * "file:line: reason". Format: `key = value` lines, '#' comments. */
#ifndef PNA_CONF_H
#define PNA_CONF_H

#include <stddef.h>
#include <stdint.h>

enum conf_type {
	CONF_INT,  /* int64_t at off, within [min, max] */
	CONF_STR,  /* char[len] at off (len = max), non-empty */
	CONF_BOOL, /* int at off: yes/no/true/false/1/0 */
	CONF_LIST, /* repeatable: fn(obj, value, &why) parses one occurrence */
};

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;	  /* offset of the field in the config object */
	int64_t min, max; /* CONF_INT bounds; CONF_STR: max = buffer size */
	const char *def;  /* default as text, or NULL (required unless LIST) */
	/* LIST: parses one occurrence. Other types: optional extra check run
	 * after the value is stored. 0 or -EINVAL with *why. */
	int (*fn)(void *obj, const char *value, const char **why);
	const char *help;
	unsigned flags; /* CONF_POW2 */
};

#define CONF_POW2 1u /* CONF_INT: must be a power of two */

/* Apply the defaults of `keys` (n entries) to `obj`. 0, or -EINVAL if a
 * default is itself invalid (a programming error, reported to err). */
int conf_defaults(const struct conf_key *keys, size_t n, void *obj, char *err, size_t errlen);

/* Read `path` into `obj` (defaults applied first). On error returns -EINVAL
 * (or -errno for I/O) with "file:line: reason" in err. A required key that is
 * missing is reported as "file: missing 'key'". */
int conf_load(const char *path, const struct conf_key *keys, size_t n, void *obj, char *err,
	      size_t errlen);

#endif
