/* log: levelled logging to stderr, one line per write(2) so lines from
 * several processes sharing the descriptor do not interleave. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_max_level = LOG_INFO;
static char log_role[32] = "pnad";
static int log_index = -1;

void log_init(const char *role, int index, enum log_level level)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
	log_index = index;
	log_max_level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	static const char lvl[] = "EWID";
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %c %s", tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, lvl[level], log_role);
	if (log_index >= 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "[%d]", log_index);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "[%d]: ", (int)getpid());
	va_start(ap, fmt);
	if (n < (int)sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_buf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
