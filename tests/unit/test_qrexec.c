/* qrexec transports (src/rpc/qrexec): descriptors, the socket service, stdio. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/qrexec.h"
#include "tvec.h"

static int
m_whoami(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	*resultp = json_pack("{s:s, s:s, s:i, s:s}", "caller", c->id, "profile", c->profile,
	    "kind", c->kind, "origin", c->untrusted_origin);
	return 0;
}

static const struct rpc_method methods[] = { { "test_whoami", m_whoami } };
static const struct rpc_table table = { methods, 1, NULL };
static const char call[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_whoami\"}";

static void
test_descriptor(void **state)
{
	const json_t *c = *state;
	struct rpc_caller caller;
	char *d;
	size_t n;
	int r;

	if (json_object_get(c, "descriptor") != NULL) {
		n = strlen(tvec_str(c, "descriptor")) + 1;	/* the NUL is part of it */
		d = strdup(tvec_str(c, "descriptor"));
	} else
		d = (char *)tvec_hex(tvec_str(c, "descriptor_hex"), &n);
	r = rpc_qrexec_parse_descriptor(d, n, &caller);
	if (json_is_true(json_object_get(c, "error"))) {
		assert_int_not_equal(r, 0);
	} else {
		assert_int_equal(r, 0);
		assert_int_equal(caller.kind, RPC_CALLER_QUBE);
		assert_string_equal(caller.id, tvec_str(c, "caller"));
		assert_string_equal(caller.profile, tvec_str(c, "profile"));
	}
	free(d);
}

static char *
exchange(const char *path, const void *msg, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), i;
	char *buf = calloc(1, 4096);
	size_t got = 0;

	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write(fd, msg, len), (ssize_t)len);
	shutdown(fd, SHUT_WR);		/* the caller's stdin ended */
	for (i = 0; i < 100; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((n = read(fd, buf + got, 4095 - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return buf;
}

/* A caller whose body trickles in a byte every 500 ms is answered "timed
 * out" at the call's deadline (2 s here), not served for ever. */
static void
trickle_cut(const char *path, struct rpc_qrexec *q)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	static const char start[] = "p11signer.Sign+x work\0{\"jsonrpc\":\"2.0\"";
	struct timespec t0, t1;
	char buf[512] = "";
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), i, answered = 0;
	ssize_t n;

	rpc_qrexec_set_request_deadline(q, 2);
	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(write(fd, start, sizeof(start) - 1), (ssize_t)sizeof(start) - 1);
	for (i = 0; i < 12 && !answered; i++) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, 500) > 0)
			answered = 1;
		else if (send(fd, " ", 1, MSG_NOSIGNAL) != 1)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	rpc_qrexec_set_request_deadline(q, 0);
	assert_true(answered);
	assert_non_null(strstr(buf, "timed out"));
	assert_true(t1.tv_sec - t0.tv_sec <= 3);
}

static void
test_socket_service(void **state)
{
	char dir[] = "/tmp/p11s-qrexec-XXXXXX", path[256], msg[512], *out;
	uid_t me = getuid();
	struct rpc_qrexec *q;
	size_t n;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p11signer.Sign", dir);
	assert_int_equal(rpc_qrexec_start(path, &me, 1, &table, &q), 0);
	/* What qrexec-agent sends: the descriptor, its NUL, then the caller's stdin. */
	n = (size_t)snprintf(msg, sizeof(msg), "p11signer.Sign+trading work%c%s", 0, call);
	out = exchange(path, msg, n);
	assert_non_null(strstr(out, "\"caller\":\"work\""));
	assert_non_null(strstr(out, "\"profile\":\"trading\""));
	free(out);
	/* A caller cannot name itself in the body: only the descriptor counts. */
	n = (size_t)snprintf(msg, sizeof(msg), "p11signer.Sign+x work%c{\"jsonrpc\":\"2.0\",\"id\":1,"
	    "\"method\":\"test_whoami\",\"source\":\"vault\"}", 0);
	out = exchange(path, msg, n);
	assert_non_null(strstr(out, "\"caller\":\"work\""));
	free(out);
	/* The relay's envelope: its claims become untrusted metadata, never the caller. */
	n = (size_t)snprintf(msg, sizeof(msg), "p11signer.Sign+x work%c{\"p11signer_envelope\":1,"
	    "\"metadata\":{\"origin\":\"https://dapp.example\",\"caller\":\"vault\",\"source\":\"dom0\"},"
	    "\"caller\":\"vault\",\"request\":%s}", 0, call);
	out = exchange(path, msg, n);
	assert_non_null(strstr(out, "\"caller\":\"work\""));
	assert_non_null(strstr(out, "\"origin\":\"https://dapp.example\""));
	free(out);
	n = (size_t)snprintf(msg, sizeof(msg), "p11signer.Sign+x work%c{\"p11signer_envelope\":2,\"request\":%s}", 0, call);
	out = exchange(path, msg, n);
	assert_non_null(strstr(out, "unsupported p11signer envelope"));
	free(out);
	/* A bad descriptor is refused before any request is read. */
	n = (size_t)snprintf(msg, sizeof(msg), "p11signer.Sign+x ../vault%c%s", 0, call);
	out = exchange(path, msg, n);
	assert_non_null(strstr(out, "invalid qrexec service descriptor"));
	free(out);
	/* An empty argument is refused on the socket too, not served as default. */
	n = (size_t)snprintf(msg, sizeof(msg), "p11signer.Sign+ work%c%s", 0, call);
	out = exchange(path, msg, n);
	assert_non_null(strstr(out, "invalid qrexec service descriptor"));
	assert_null(strstr(out, "\"profile\":\"default\""));
	free(out);
	trickle_cut(path, q);
	rpc_qrexec_stop(q);
	rmdir(dir);
}

static void
set_or_unset(const char *name, const char *value)
{
	if (value != NULL)
		assert_int_equal(setenv(name, value, 1), 0);
	else
		assert_int_equal(unsetenv(name), 0);
}

static void
test_stdio_env(void **state)
{
	/* QREXEC_REMOTE_DOMAIN, _SERVICE_ARGUMENT, _SERVICE_FULL_NAME (NULL: unset) */
	static const struct {
		const char *what, *remote, *argument, *full_name;
		const char *profile;	/* NULL: refused */
	} env[] = {
		{ "no remote domain", NULL, NULL, NULL, NULL },
		{ "a path as argument", "work", "../etc", NULL, NULL },
		{ "newer qrexec: the argument only in the full name", "work", NULL,
		  "p11signer.Sign+warm", "warm" },
		{ "a bad profile in the full name", "work", NULL, "p11signer.Sign+bad/profile", NULL },
		{ "\"SERVICE+\" with nothing after it, not taken as default", "work", NULL,
		  "p11signer.Sign+", NULL },
		{ "an empty argument alone", "work", "", NULL, NULL },
		{ "no '+' in the full name: no argument", "work", NULL, "p11signer.Sign", "default" },
		{ "an empty argument beside it repeats that", "work", "", "p11signer.Sign", "default" },
		{ "a non-empty one contradicts it", "work", "cold", "p11signer.Sign", NULL },
		{ "the two places disagreeing", "work", "cold", "p11signer.Sign+warm", NULL },
		{ "older qrexec: the argument alone", "work", "cold", NULL, "cold" },
	};
	size_t i;
	struct rpc_caller caller;
	int in[2], out[2];
	char buf[1024] = "";
	ssize_t n;

	for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		int r;

		set_or_unset("QREXEC_REMOTE_DOMAIN", env[i].remote);
		set_or_unset("QREXEC_SERVICE_ARGUMENT", env[i].argument);
		set_or_unset("QREXEC_SERVICE_FULL_NAME", env[i].full_name);
		r = rpc_qrexec_caller_from_env(&caller);
		if ((r == 0) != (env[i].profile != NULL))
			fail_msg("%s: %s", env[i].what, r == 0 ? "accepted" : "refused");
		if (r == 0)
			assert_string_equal(caller.profile, env[i].profile);
	}
	/* The last case's caller ("work", profile "cold") is served. */
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(write(in[1], call, strlen(call)), (ssize_t)strlen(call));
	close(in[1]);
	assert_int_equal(rpc_stdio_serve(in[0], out[1], &table, &caller), 0);
	close(out[1]);
	n = read(out[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\"caller\":\"work\""));
	assert_non_null(strstr(buf, "\"profile\":\"cold\""));
	close(in[0]);
	close(out[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_service),
		cmocka_unit_test(test_stdio_env),
	};
	int failed = tvec_run_file("qrexec-descriptor", "tests/vectors/rpc/qrexec-descriptors.json",
	    test_descriptor);

	failed += cmocka_run_group_tests_name("qrexec", tests, NULL, NULL);
	return failed != 0;
}
