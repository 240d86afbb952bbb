#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"

static char log_prefix[64];

void
log_init(const char *prefix)
{
	if (prefix == NULL)
		prefix = program_invocation_short_name;
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

static void log_vmsg(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void
log_vmsg(const char *fmt, va_list ap)
{
	char line[LIMIT_LOG_LINE];
	size_t n = 0, off;
	ssize_t k;
	int w;

	w = snprintf(line, sizeof(line) - 1, "%s: ",
	    log_prefix[0] != '\0' ? log_prefix : program_invocation_short_name);
	if (w > 0)
		n = (size_t)w < sizeof(line) - 1 ? (size_t)w : sizeof(line) - 2;
	w = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);
	if (w > 0)
		n += (size_t)w < sizeof(line) - 1 - n ? (size_t)w : sizeof(line) - 2 - n;
	line[n++] = '\n';
	for (off = 0; off < n; off += (size_t)k) {
		k = write(STDERR_FILENO, line + off, n - off);
		if (k < 0 && errno == EINTR)
			k = 0;
		else if (k <= 0)
			break;
	}
}

void
log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void
log_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
	exit(1);
}
