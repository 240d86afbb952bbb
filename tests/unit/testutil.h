/*
 * testutil.h - small tools that several unit tests share (built into
 * libtest.a with tvec.c): bytes against vector hex, a curl body sink,
 * the build folder's programs and a millisecond clock.
 *
 * Functions that check fail the running cmocka test (they call fail_msg()),
 * so they are for use inside a test only.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* got[0..n) is the bytes of want_hex ("0x.."); fails naming what and both sides. */
void testutil_assert_hex(const uint8_t *got, size_t n, const char *want_hex, const char *what);

/*
 * A response body collected by libcurl: pass testutil_sink_write as
 * CURLOPT_WRITEFUNCTION and a zeroed struct testutil_sink as CURLOPT_WRITEDATA.
 * p is NUL-terminated once anything came (NULL before); caller frees p.
 */
struct testutil_sink {
	char *p;
	size_t n;
};
size_t testutil_sink_write(char *data, size_t size, size_t nmemb, void *sink);

/*
 * The path of a program the build made, "$BUILD/rel" (BUILD defaults to
 * "build", as tests/run sets it); fails when it is not there or not
 * executable, saying how to build it.  The path is in a static buffer,
 * valid until the next call.
 */
const char *testutil_build_program(const char *rel);

/* CLOCK_MONOTONIC in milliseconds, and in seconds. */
long testutil_now_ms(void);
double testutil_now_s(void);
/* Sleep ms milliseconds, resumed across signals. */
void testutil_sleep_ms(long ms);

#endif /* TESTUTIL_H */
