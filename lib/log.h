/* log: levelled logging to stderr with process context. Every process calls
 * log_init once after fork; the level check happens before arguments are
 * evaluated, so a disabled debug line costs one compare. */
#ifndef PNA_LOG_H
#define PNA_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_max_level;

/* `role` names the process ("supervisor", "router", "shard"); `index` is its
 * shard or worker number, or -1. Both are copied. */
void log_init(const char *role, int index, enum log_level level);
/* Parse "error", "warn", "info" or "debug"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *out);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Format into a caller's error buffer (`buf` may be NULL or len 0: then
 * nothing), for functions that hand a reason back instead of logging it. */
void log_buf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define LOG(lvl, ...)                                  \
	do {                                           \
		if ((lvl) <= log_max_level)            \
			log_write((lvl), __VA_ARGS__); \
	} while (0)
#define log_error(...) LOG(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) LOG(LOG_WARN, __VA_ARGS__)
#define log_info(...) LOG(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG(LOG_DEBUG, __VA_ARGS__)

#endif
