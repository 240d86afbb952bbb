/* IPC transport (src/rpc/ipc): a real Unix socket in a temporary directory. */
#include <poll.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/limits.h"
#include "rpc/caller.h"
#include "rpc/ipc.h"
#include "testutil.h"
#include "tvec.h"

static int
m_whoami(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	*resultp = json_pack("{s:s, s:i}", "id", c->id, "uid", (int)c->uid);
	return 0;
}

static const struct rpc_method methods[] = { { "test_whoami", m_whoami } };
static const struct rpc_table table = { methods, 1, NULL };
static char dir[] = "/tmp/p11s-ipc-XXXXXX";
static char path[256];
static struct rpc_ipc *server;
#define TEST_DEADLINE_S 2

static int
dial(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sun.sun_path, path, strlen(path) + 1);	/* main() keeps it short */
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Read until n newlines arrived or 10 s passed; caller frees. */
static char *
read_lines(int fd, int n)
{
	char *buf = calloc(1, 1 << 16);
	size_t len = 0;
	int lines = 0, i;

	for (i = 0; i < 100 && lines < n; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;
		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(fd, buf + len, (1 << 16) - 1 - len);
		if (r <= 0)
			break;
		for (ssize_t k = 0; k < r; k++)
			lines += buf[len + (size_t)k] == '\n';
		len += (size_t)r;
	}
	buf[len] = 0;
	return buf;
}

static void
test_mode_0600(void **state)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void
test_split_and_pipelined(void **state)
{
	const char a[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"meth";
	const char b[] = "od\":\"test_whoami\"}\n  {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"test_whoami\"}"
	    "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"}]";
	int fd = dial();
	char *out, want[64];

	assert_int_equal(write(fd, a, strlen(a)), (ssize_t)strlen(a));
	usleep(50000);
	assert_int_equal(write(fd, b, strlen(b)), (ssize_t)strlen(b));
	out = read_lines(fd, 3);
	/* The caller is the uid the kernel reports: ours. */
	snprintf(want, sizeof(want), "\"id\":\"uid:%u\"", (unsigned)getuid());
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\"id\":2"));
	assert_non_null(strstr(out, "does not exist/is not available"));
	free(out);
	close(fd);
}

static void
test_not_json(void **state)
{
	int fd = dial();
	char *out;

	assert_int_equal(write(fd, "hello\n", 6), 6);
	out = read_lines(fd, 1);
	assert_non_null(strstr(out, "-32700"));
	free(out);
	close(fd);
}

static void
test_too_large(void **state)
{
	size_t n = LIMIT_JSON_BODY + 16;
	char *big = malloc(n), *out;
	int fd = dial();
	size_t off = 0;

	memset(big, '[', 1);
	memset(big + 1, ' ', n - 1);
	while (off < n) {
		ssize_t w = send(fd, big + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	out = read_lines(fd, 1);
	assert_non_null(strstr(out, "longer than its limit"));
	free(out);
	free(big);
	close(fd);
}

static void
test_uid_refused(void **state)
{
	/* A second server that allows only another uid refuses us. */
	uid_t other = getuid() + 1;
	struct rpc_ipc *s2;
	char p2[300];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;
	char *out;

	snprintf(p2, sizeof(p2), "%s/other.ipc", dir);
	assert_int_equal(rpc_ipc_start(p2, &other, 1, &table, &s2), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sun.sun_path, p2);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	out = read_lines(fd, 1);
	assert_non_null(strstr(out, "peer uid not allowed"));
	free(out);
	close(fd);
	/* A live socket is not taken over by a second server. */
	struct rpc_ipc *s3;
	assert_int_not_equal(rpc_ipc_start(p2, NULL, 0, &table, &s3), 0);
	rpc_ipc_stop(s2);
}

/*
 * systemd socket activation: a listening socket passed as fd 3 with
 * LISTEN_PID/LISTEN_FDS is used as it is (same inode, the unit's mode) and
 * left in place at stop.  In a child, so that fd 3 and the environment are
 * its own.
 */
static void
test_socket_activation(void **state)
{
	char apath[300], pidbuf[32];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat before, after;
	pid_t pid;
	int lfd, status;

	snprintf(apath, sizeof(apath), "%s/activated.sock", dir);
	assert_true(strlen(apath) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, apath, strlen(apath) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(chmod(apath, 0660), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(stat(apath, &before), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rpc_ipc *s = NULL;
		char *out;
		int fd;

		if (dup2(lfd, 3) != 3)
			_exit(10);
		snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)getpid());
		setenv("LISTEN_PID", pidbuf, 1);
		setenv("LISTEN_FDS", "1", 1);
		if (rpc_ipc_start(apath, NULL, 0, &table, &s) != 0)
			_exit(11);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
			_exit(12);
		{
			static const char req[] =
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_whoami\",\"params\":[]}\n";

			if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
				_exit(13);
		}
		out = read_lines(fd, 1);
		if (strstr(out, "\"result\"") == NULL)
			_exit(14);
		free(out);
		close(fd);
		rpc_ipc_stop(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The same socket, mode untouched, still there after stop. */
	assert_int_equal(stat(apath, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(after.st_mode & 0777, 0660);
	close(lfd);
	unlink(apath);
}

#define SILENT 80	/* more than LIMIT_UNIX_CONNECTIONS */

/*
 * 80 connections that never send a byte, then real requests on new
 * connections: each is answered (within 3 s), because a silent connection
 * is closed to make room when every slot is taken.
 */
static void
test_silent_connections(void **state)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"test_whoami\"}\n";
	int silent[SILENT], i, fd, answered = 0;
	double t0, took;
	char *out;

	for (i = 0; i < SILENT; i++)
		silent[i] = dial();
	for (i = 0; i < 8; i++) {
		t0 = testutil_now_s();
		fd = dial();
		if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1) {
			out = read_lines(fd, 1);
			took = testutil_now_s() - t0;
			if (strstr(out, "\"id\":7") != NULL && took < 3)
				answered++;
			printf("# real request %d beside %d silent connections: %.3f s\n", i + 1,
			    SILENT, took);
			free(out);
		}
		close(fd);
	}
	for (i = 0; i < SILENT; i++)
		close(silent[i]);
	assert_int_equal(answered, 8);
}

/* A request that trickles in a byte every 500 ms is cut at its deadline. */
static void
test_request_deadline(void **state)
{
	int fd, i, closed = 0;
	double t0;
	char *out = NULL;

	rpc_ipc_set_request_deadline(server, TEST_DEADLINE_S);
	fd = dial();
	t0 = testutil_now_s();
	assert_int_equal(send(fd, "{\"jsonrpc\":\"2.0\"", 16, MSG_NOSIGNAL), 16);
	for (i = 0; i < 12 && !closed; i++) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, 500) > 0) {
			out = read_lines(fd, 1);
			closed = 1;
		} else
			send(fd, " ", 1, MSG_NOSIGNAL);
	}
	printf("# trickled request cut after %.2f s\n", testutil_now_s() - t0);
	rpc_ipc_set_request_deadline(server, 0);
	close(fd);
	assert_true(closed);
	assert_non_null(strstr(out, "timed out"));
	assert_true(testutil_now_s() - t0 < TEST_DEADLINE_S + 1.5);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_0600),
		cmocka_unit_test(test_split_and_pipelined),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_uid_refused),
		cmocka_unit_test(test_socket_activation),
		cmocka_unit_test(test_request_deadline),
		cmocka_unit_test(test_silent_connections),
	};
	struct rpc_ipc *s;
	int failed;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/signer.ipc", dir);
	if (rpc_ipc_start(path, NULL, 0, &table, &s) != 0) {
		printf("1..1\nnot ok 1 - cannot listen on %s\n", path);
		return 1;
	}
	server = s;
	failed = cmocka_run_group_tests_name("ipc", tests, NULL, NULL);
	rpc_ipc_stop(s);
	rmdir(dir);
	return failed != 0 || access(path, F_OK) == 0;
}
