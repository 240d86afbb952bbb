/*
 * Connection deadlines (src/rpc/deadline): a real socket pair per
 * connection; the watchdog must shut down the one past its deadline, and
 * only that one, within a tick or two.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "rpc/deadline.h"
#include "tvec.h"

/* Has the far end seen its peer shut down?  Waits at most ms. */
static int
shut_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char b[16];

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0;
}

/*
 * Three connections: a due in 1 s, b due in 1 s but disarmed, c due in 1 s
 * but removed.  Only a is shut down; then b, armed again, is too.
 */
static void
test_watchdog(void **state)
{
	struct rpc_deadlines *d;
	int a[2], b[2], c[2], key_a, key_b, key_c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
	assert_int_equal(rpc_deadlines_start(3, &d), 0);
	assert_int_equal(rpc_deadlines_add(d, &key_a, a[0], 1), 0);
	assert_int_equal(rpc_deadlines_add(d, &key_b, b[0], 1), 0);
	assert_int_equal(rpc_deadlines_add(d, &key_c, c[0], 1), 0);
	/* Full: a fourth is refused, for its caller to close. */
	assert_int_equal(rpc_deadlines_add(d, &d, c[1], 1), ERR_TOO_MANY);
	rpc_deadlines_set(d, &key_b, 0);
	rpc_deadlines_remove(d, &key_c);
	assert_false(shut_within(a[1], 500));		/* not before its time */
	assert_true(shut_within(a[1], 500 + 2 * RPC_DEADLINE_TICK_MS + 200));
	assert_false(shut_within(b[1], 0));
	assert_false(shut_within(c[1], 0));
	rpc_deadlines_set(d, &key_b, 1);
	assert_true(shut_within(b[1], 1000 + 2 * RPC_DEADLINE_TICK_MS + 200));
	assert_false(shut_within(c[1], 0));
	/* A removed slot is free again. */
	assert_int_equal(rpc_deadlines_add(d, &d, c[0], 60), 0);
	rpc_deadlines_stop(d);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	close(c[0]);
	close(c[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watchdog),
	};

	return cmocka_run_group_tests_name("deadline", tests, NULL, NULL) != 0;
}
