/*
 * src/core: the clock and deadlines, the bounded reader, parse_unsigned,
 * spawning and reaping a child, and the logger's one write per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/parse.h"
#include "core/reader.h"
#include "core/spawn.h"
#include "tvec.h"

static void
test_clock(void **state)
{
	struct timespec due, later, e;
	long long t0;
	int ms;

	assert_int_equal(clock_ms_left(NULL), -1);
	clock_deadline_ms(&due, 1500);
	ms = clock_ms_left(&due);
	assert_true(ms > 1400 && ms <= 1500);
	assert_false(clock_passed(&due));
	/* Rounded up: a deadline 1 ms away is never "0 left" before it passes. */
	clock_deadline_ms(&due, 1);
	assert_true(clock_ms_left(&due) <= 1);
	clock_deadline_ms(&due, 0);
	assert_int_equal(clock_ms_left(&due), 0);
	assert_true(clock_passed(&due));
	clock_deadline_ms(&due, -5);
	assert_int_equal(clock_ms_left(&due), 0);
	/* Far deadlines are capped at INT_MAX, not wrapped. */
	clock_deadline_ms(&due, (long long)INT_MAX * 4);
	assert_int_equal(clock_ms_left(&due), INT_MAX);
	clock_deadline_ms(&due, 100);
	clock_deadline_ms(&later, 5000);
	clock_earlier(&e, &later, &due);
	assert_memory_equal(&e, &due, sizeof(e));
	clock_earlier(&e, &due, &later);
	assert_memory_equal(&e, &due, sizeof(e));
	t0 = clock_now_ms();
	clock_deadline_ms(&due, 0);
	usleep(20000);
	assert_true(clock_ms_since(&due) >= 20);
	assert_true(clock_now_ms() - t0 >= 20);
}

static void
test_clock_cond(void **state)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	struct timespec due, start;
	int rc;

	assert_int_equal(clock_cond_init(&cv), 0);
	clock_deadline_ms(&start, 0);
	clock_deadline_ms(&due, 50);
	pthread_mutex_lock(&m);
	do
		rc = pthread_cond_timedwait(&cv, &m, &due);
	while (rc == 0);
	pthread_mutex_unlock(&m);
	assert_int_equal(rc, ETIMEDOUT);
	/* The wait read the monotonic clock: it ended near 50 ms, not at once or
	 * an epoch later. */
	assert_true(clock_ms_since(&start) >= 45);
	assert_true(clock_ms_since(&start) < 5000);
	pthread_cond_destroy(&cv);
}

static void
test_reader(void **state)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11 };
	struct reader r, sub;
	const uint8_t *p;
	uint8_t u8;

	reader_init(&r, in, sizeof(in), ERR_PROTO_TRUNCATED);
	assert_int_equal(reader_left(&r), sizeof(in));
	assert_int_equal(reader_u8(&r, &u8), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(reader_take(&r, 4, &p), 0);
	assert_ptr_equal(p, in + 1);
	assert_int_equal(reader_get_be32(p), 0x02030405);
	assert_int_equal(reader_take(&r, 10, &p), 0);
	assert_int_equal(reader_left(&r), 2);
	/* A short read fails with the reader's own code, consumes nothing and
	 * leaves the borrowed pointer NULL. */
	assert_int_equal(reader_take(&r, 3, &p), ERR_PROTO_TRUNCATED);
	assert_null(p);
	assert_int_equal(reader_left(&r), 2);
	assert_int_equal(reader_end(&r, ERR_PROTO_TRAILING), ERR_PROTO_TRAILING);
	assert_int_equal(reader_sub(&r, 1, &sub), 0);
	assert_int_equal(reader_left(&sub), 1);
	assert_int_equal(reader_sub(&sub, 2, &r), ERR_PROTO_TRUNCATED);
	assert_int_equal(reader_u8(&sub, &u8), 0);
	assert_int_equal(u8, 0x10);
	assert_int_equal(reader_u8(&sub, &u8), ERR_PROTO_TRUNCATED);
	assert_int_equal(reader_end(&sub, ERR_PROTO_TRAILING), 0);
	/* SIZE_MAX asks are refused, not wrapped. */
	reader_init(&r, in, sizeof(in), ERR_RLP_TRUNCATED);
	assert_int_equal(reader_take(&r, SIZE_MAX, &p), ERR_RLP_TRUNCATED);
	reader_init(&r, NULL, 5, ERR_RLP_TRUNCATED);
	assert_int_equal(reader_left(&r), 0);
	{
		uint8_t b[4];
		reader_put_be32(b, 0xdeadbeef);
		assert_int_equal(reader_get_be32(b), 0xdeadbeef);
	}
}

static void
test_parse_unsigned(void **state)
{
	static const struct {
		const char *s;
		unsigned long max;
		int rc;
		unsigned long v;
	} cases[] = {
		{ "0", 10, 0, 0 }, { "10", 10, 0, 10 }, { "11", 10, ERR_NUMBER_RANGE, 0 },
		{ "65535", 65535, 0, 65535 }, { "", 10, ERR_DECIMAL_INVALID, 0 },
		{ "-1", 10, ERR_DECIMAL_INVALID, 0 }, { "+1", 10, ERR_DECIMAL_INVALID, 0 },
		{ " 1", 10, ERR_DECIMAL_INVALID, 0 }, { "1 ", 10, ERR_DECIMAL_INVALID, 0 },
		{ "0x10", 100, ERR_DECIMAL_INVALID, 0 }, { "1e3", 10000, ERR_DECIMAL_INVALID, 0 },
		{ "99999999999999999999999", ULONG_MAX, ERR_NUMBER_RANGE, 0 },
	};
	unsigned long v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 12345;
		assert_int_equal(parse_unsigned(cases[i].s, cases[i].max, &v), cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(v, cases[i].v);
		else
			assert_int_equal(v, 12345);
	}
	assert_int_equal(parse_unsigned(NULL, 1, &v), ERR_DECIMAL_INVALID);
}

/* Read everything from fd until EOF (at most len - 1 bytes). */
static size_t
slurp(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t k;

	while (n < len - 1 && (k = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	return n;
}

static void
test_spawn(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "ls /proc/self/fd; echo err >&2; exit 3", NULL };
	char out[512], what[64];
	int p[2], leak, fds[3], e, killed = -1;
	pid_t pid;

	/* A descriptor the parent did not mark close-on-exec must not reach the child. */
	leak = open("/dev/null", O_RDONLY);
	assert_true(leak > 2);
	assert_int_equal(pipe(p), 0);
	fds[0] = SPAWN_DEVNULL;
	fds[1] = p[1];
	fds[2] = p[1];
	assert_int_equal(spawn_start("/bin/sh", argv, fds, &pid, &e), 0);
	close(p[1]);
	slurp(p[0], out, sizeof(out));
	close(p[0]);
	/* ls's own directory descriptor is 3; nothing else above 2. */
	assert_string_equal(out, "0\n1\n2\n3\nerr\n");
	spawn_reap(pid, 5000, what, sizeof(what), &killed);
	assert_string_equal(what, "exited with status 3");
	assert_int_equal(killed, 0);
	close(leak);

	/* A child that does not exit within the grace is killed. */
	{
		char *sleeper[] = { "/bin/sleep", "30", NULL };
		int nul[3] = { SPAWN_DEVNULL, SPAWN_DEVNULL, SPAWN_DEVNULL };

		assert_int_equal(spawn_start("/bin/sleep", sleeper, nul, &pid, &e), 0);
		spawn_reap(pid, 50, what, sizeof(what), &killed);
		assert_string_equal(what, "died (signal 9)");
		assert_int_equal(killed, 1);
	}
	/* The same as an exit status: the child's own, or 128 + the signal. */
	{
		char *exit5[] = { "/bin/sh", "-c", "exit 5", NULL };
		char *sleeper[] = { "/bin/sleep", "30", NULL };
		int nul[3] = { SPAWN_DEVNULL, SPAWN_DEVNULL, SPAWN_DEVNULL };

		assert_int_equal(spawn_start("/bin/sh", exit5, nul, &pid, &e), 0);
		assert_int_equal(spawn_reap_status(pid, 5000, &killed), 5);
		assert_int_equal(killed, 0);
		assert_int_equal(spawn_start("/bin/sleep", sleeper, nul, &pid, &e), 0);
		assert_int_equal(spawn_reap_status(pid, 50, &killed), 128 + SIGKILL);
		assert_int_equal(killed, 1);
		/* Reaped already: not known, and nothing is killed. */
		assert_int_equal(spawn_reap_status(pid, 50, &killed), -1);
		assert_int_equal(killed, 0);
	}
	/* A program that is not there: ERR_IO and its errno. */
	{
		char *none[] = { "/nonexistent/p11signer-test", NULL };
		int nul[3] = { SPAWN_DEVNULL, SPAWN_DEVNULL, SPAWN_DEVNULL };

		assert_int_equal(spawn_start(none[0], none, nul, &pid, &e), ERR_IO);
		assert_int_equal(e, ENOENT);
		assert_int_equal(pid, 0);
	}
}

static void
test_log(void **state)
{
	char buf[4 * LIMIT_LOG_LINE], big[2 * LIMIT_LOG_LINE];
	int p[2], saved;
	size_t n;

	assert_int_equal(pipe(p), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	log_init("tester[7]");
	log_msg("a %s %d", "line", 1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_msg("%s", big);
	log_init(NULL);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = slurp(p[0], buf, sizeof(buf));
	close(p[0]);
	assert_true(n > 0);
	assert_memory_equal(buf, "tester[7]: a line 1\ntester[7]: xxx", 34);
	/* The long line was cut to LIMIT_LOG_LINE bytes, its newline kept. */
	assert_int_equal(n, strlen("tester[7]: a line 1\n") + LIMIT_LOG_LINE - 1);
	assert_int_equal(buf[n - 1], '\n');
}

static void
test_err_why(void **state)
{
	char why[ERR_WHY_MAX], big[2 * ERR_WHY_MAX];

	assert_int_equal(err_why(NULL, ERR_TX_INVALID, "no %s", "room"), ERR_TX_INVALID);
	assert_int_equal(err_why(why, ERR_IO, "read %d", 3), ERR_IO);
	assert_string_equal(why, "read 3");
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(err_why(why, ERR_TOO_LONG, "%s", big), ERR_TOO_LONG);
	assert_int_equal(strlen(why), ERR_WHY_MAX - 1);
}

/* err_whyv() as a wrapper that prefixes its caller's format uses it. */
static int why_prefixed(char *why, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
why_prefixed(char *why, int code, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL) {
		memcpy(why, "at x: ", 6);
		why += 6;
	}
	va_start(ap, fmt);
	code = err_whyv(why, code, fmt, ap);
	va_end(ap);
	return code;
}

static void
test_err_whyv(void **state)
{
	char why[ERR_WHY_MAX + 6], big[2 * ERR_WHY_MAX];

	assert_int_equal(why_prefixed(NULL, ERR_IO, "no %s", "room"), ERR_IO);
	assert_int_equal(why_prefixed(why, ERR_TOO_DEEP, "depth %u of %s", 9u, "8"),
	    ERR_TOO_DEEP);
	assert_string_equal(why, "at x: depth 9 of 8");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(why_prefixed(why, ERR_TOO_LONG, "%s", big), ERR_TOO_LONG);
	assert_int_equal(strlen(why), 6 + ERR_WHY_MAX - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_clock_cond),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_parse_unsigned),
		cmocka_unit_test(test_spawn),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_err_why),
		cmocka_unit_test(test_err_whyv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
