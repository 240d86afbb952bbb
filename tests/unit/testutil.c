/* testutil.c - see testutil.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eth/hex.h"
#include "testutil.h"
#include "tvec.h"

void
testutil_assert_hex(const uint8_t *got, size_t n, const char *want_hex, const char *what)
{
	size_t wn;
	uint8_t *want = tvec_hex(want_hex, &wn);
	char *g;

	if (wn != n || (n > 0 && memcmp(got, want, n) != 0)) {
		g = eth_hex_encode(got, n);
		free(want);
		fail_msg("%s: got %.200s, want %.200s", what, g != NULL ? g : "?", want_hex);
	}
	free(want);
}

size_t
testutil_sink_write(char *data, size_t size, size_t nmemb, void *sink)
{
	struct testutil_sink *s = sink;
	size_t n = size * nmemb;
	char *grown;

	/* Returning less than n makes curl fail the transfer: never a silent cut. */
	if ((grown = realloc(s->p, s->n + n + 1)) == NULL)
		return 0;
	s->p = grown;
	memcpy(s->p + s->n, data, n);
	s->n += n;
	s->p[s->n] = '\0';
	return n;
}

const char *
testutil_build_program(const char *rel)
{
	static char path[PATH_MAX];
	const char *build = getenv("BUILD");

	if (build == NULL || build[0] == '\0')
		build = "build";
	snprintf(path, sizeof(path), "%s/%s", build, rel);
	if (access(path, X_OK) != 0)
		fail_msg("%s is not there (%s): build it with make BUILD=%s %s", path,
		    strerror(errno), build, path);
	return path;
}

long
testutil_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000L;
}

double
testutil_now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void
testutil_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
