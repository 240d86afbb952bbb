/*
 * HTTP transport (src/rpc/http): a real server on 127.0.0.1 and a real client
 * (libcurl).  Each case is one request and the status and body it must get.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/limits.h"
#include "rpc/caller.h"
#include "rpc/http.h"
#include "testutil.h"
#include "tvec.h"

/* test_caller answers with what the transport says about the caller. */
static int
m_caller(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	*resultp = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", c->id,
	    "remote", c->untrusted_remote, "local", c->untrusted_local,
	    "ua", c->untrusted_user_agent, "xff", c->untrusted_forwarded_for);
	return 0;
}

static const struct rpc_method methods[] = { { "test_caller", m_caller } };
static const struct rpc_table table = { methods, 1, NULL };
static struct rpc_http *server;
static unsigned port;
/* A second server with small bounds, for slow and many connections. */
static struct rpc_http *bounded;
static unsigned bounded_port;
#define BOUNDED_PER_ADDR 4
#define BOUNDED_CONNECTIONS 32
#define BOUNDED_DEADLINE_S 2

static const char call[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_caller\"}";

/* One request; returns the status, body in *bodyp (caller frees). */
static long
request(const char *method, const char *body, size_t len, const char *const *headers,
    char **bodyp, char **ctp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct testutil_sink s = { NULL, 0 };
	char url[64];
	long status = 0;
	char *ct = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, testutil_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	for (; headers != NULL && *headers != NULL; headers++)
		hl = curl_slist_append(hl, *headers);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	if (ctp != NULL)
		*ctp = ct ? strdup(ct) : NULL;
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	*bodyp = s.p ? s.p : strdup("");
	return status;
}

#define JSON_CT "Content-Type: application/json"

static void
test_post_json(void **state)
{
	const char *h[] = { JSON_CT, "User-Agent: unit/1", "X-Forwarded-For: 10.9.9.9", NULL };
	char *body, *ct;
	json_t *j;

	assert_int_equal(request("POST", call, strlen(call), h, &body, &ct), 200);
	assert_string_equal(ct, "application/json");
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	/* The trusted id is the real peer; what the client claims is kept apart. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "result"), "xff")), "10.9.9.9");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "result"), "id")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "result"), "ua")), "unit/1");
	json_decref(j);
	free(body);
	free(ct);
}

static void
test_charset_allowed(void **state)
{
	const char *h[] = { "Content-Type: application/json; charset=utf-8", NULL };
	char *body;

	assert_int_equal(request("POST", call, strlen(call), h, &body, NULL), 200);
	free(body);
}

static void
test_wrong_content_type(void **state)
{
	const char *h[] = { "Content-Type: text/plain", NULL };
	char *body;

	assert_int_equal(request("POST", call, strlen(call), h, &body, NULL), 415);
	assert_non_null(strstr(body, "invalid content type"));
	free(body);
}

static void
test_health_get(void **state)
{
	char *body;

	assert_int_equal(request("GET", NULL, 0, NULL, &body, NULL), 200);
	free(body);
}

static void
test_other_method(void **state)
{
	char *body;

	assert_int_equal(request("PUT", call, strlen(call), (const char *[]){ JSON_CT, NULL }, &body, NULL), 405);
	free(body);
}

static void
test_vhost_refused(void **state)
{
	const char *h[] = { JSON_CT, "Host: evil.example", NULL };
	char *body;

	assert_int_equal(request("POST", call, strlen(call), h, &body, NULL), 403);
	assert_non_null(strstr(body, "invalid host"));
	free(body);
}

static void
test_vhost_allowed(void **state)
{
	const char *h[] = { JSON_CT, "Host: LocalHost:8550", NULL };
	char *body;

	assert_int_equal(request("POST", call, strlen(call), h, &body, NULL), 200);
	free(body);
}

static void
test_body_too_large(void **state)
{
	size_t n = LIMIT_JSON_BODY + 1;
	char *big = malloc(n), *body;

	memset(big, ' ', n);
	assert_int_equal(request("POST", big, n, (const char *[]){ JSON_CT, NULL }, &body, NULL), 413);
	free(body);
	/* Chunked, so no Content-Length to refuse early: the cap applies while reading. */
	assert_int_equal(request("POST", big, n, (const char *[]){ JSON_CT, "Transfer-Encoding: chunked", NULL }, &body, NULL), 413);
	free(body);
	free(big);
}

static void
test_parse_error_stays_up(void **state)
{
	char *body;

	assert_int_equal(request("POST", "{", 1, (const char *[]){ JSON_CT, NULL }, &body, NULL), 200);
	assert_non_null(strstr(body, "-32700"));
	free(body);
	test_post_json(state);
}

/* A TCP connection to 127.0.0.1:p from the local address src. */
static int
connect_from(const char *src, unsigned p)
{
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr), 1);
	to.sin_port = htons((uint16_t)p);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

/* Has the server closed fd?  Waits at most ms. */
static int
closed_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char b[512];

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return recv(fd, b, sizeof(b), MSG_DONTWAIT) <= 0;
}

/* One raw request on a fresh connection; the status of the answer (0: none in 3 s). */
static int
raw_status(const char *untrusted_req)
{
	int fd = connect_from("127.0.0.1", port), i, status = 0;
	char buf[2048];
	size_t got = 0;

	assert_int_equal(send(fd, untrusted_req, strlen(untrusted_req), MSG_NOSIGNAL),
	    (ssize_t)strlen(untrusted_req));
	for (i = 0; i < 30 && got < sizeof(buf) - 1; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	return status;
}

/* Each raw case: headers that can be read two ways are refused; Host is HOST[:PORT]. */
static void
test_raw(void **state)
{
	const json_t *c = *state;

	assert_int_equal(raw_status(tvec_str(c, "request")),
	    (int)json_integer_value(json_object_get(c, "status")));
}

static long
bounded_post(long timeout_ms)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = curl_slist_append(NULL, JSON_CT);
	struct testutil_sink s = { NULL, 0 };
	char url[64];
	long status = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", bounded_port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, testutil_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, call);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	free(s.p);
	return status;
}

#define SLOW_CONNECTIONS 200
#define SLOW_ROUNDS 5		/* header lines each slow connection sends */
#define SLOW_INTERVAL_MS 1500	/* between them */

struct slow {
	int fd[SLOW_CONNECTIONS];
};

/* One header line every SLOW_INTERVAL_MS on every slow connection still open. */
static void *
slow_drip(void *arg)
{
	struct slow *sl = arg;
	static const char line[] = "X-Slow: 1\r\n";
	int round, i;

	for (round = 0; round < SLOW_ROUNDS; round++) {
		poll(NULL, 0, SLOW_INTERVAL_MS);
		for (i = 0; i < SLOW_CONNECTIONS; i++)
			send(sl->fd[i], line, sizeof(line) - 1, MSG_NOSIGNAL);
	}
	return NULL;
}

/*
 * 200 connections from 127.0.0.2 send their headers one line at a time;
 * requests from 127.0.0.1 meanwhile are each answered within 1 s.  Without a
 * per-address limit the slow ones take every connection slot.
 */
static void
test_slow_connections(void **state)
{
	static const char start[] = "POST / HTTP/1.1\r\nHost: localhost\r\n";
	struct slow sl;
	pthread_t t;
	double t0, took;
	int i, served = 0;

	for (i = 0; i < SLOW_CONNECTIONS; i++) {
		sl.fd[i] = connect_from("127.0.0.2", bounded_port);
		send(sl.fd[i], start, sizeof(start) - 1, MSG_NOSIGNAL);
	}
	assert_int_equal(pthread_create(&t, NULL, slow_drip, &sl), 0);
	/* Real requests over the whole time the slow ones drip. */
	for (i = 0; i < 15; i++) {
		t0 = testutil_now_s();
		if (bounded_post(1000) == 200)
			served++;
		took = testutil_now_s() - t0;
		printf("# real request %d: %.3f s\n", i + 1, took);
		poll(NULL, 0, 400);
	}
	pthread_join(t, NULL);
	for (i = 0; i < SLOW_CONNECTIONS; i++)
		close(sl.fd[i]);
	assert_int_equal(served, 15);
}

/* A client that sends a header line every 500 ms is cut at the header
 * deadline, though it never goes idle long enough for the idle timeout. */
static void
test_header_deadline(void **state)
{
	static const char start[] = "POST / HTTP/1.1\r\nHost: localhost\r\n";
	static const char line[] = "X-Slow: 1\r\n";
	int fd = connect_from("127.0.0.3", bounded_port), i, closed = 0;
	double t0 = testutil_now_s();

	send(fd, start, sizeof(start) - 1, MSG_NOSIGNAL);
	for (i = 0; i < 12 && !closed; i++) {
		closed = closed_within(fd, 500);
		if (!closed)
			send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
	}
	printf("# slow headers cut after %.2f s\n", testutil_now_s() - t0);
	close(fd);
	assert_true(closed);
	assert_true(testutil_now_s() - t0 < BOUNDED_DEADLINE_S + 1.5);
}

/* The same for a body sent one byte every 500 ms. */
static void
test_body_deadline(void **state)
{
	static const char head[] = "POST / HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
	int fd = connect_from("127.0.0.3", bounded_port), i, closed = 0;
	double t0;

	send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL);
	t0 = testutil_now_s();
	for (i = 0; i < 12 && !closed; i++) {
		closed = closed_within(fd, 500);
		if (!closed)
			send(fd, " ", 1, MSG_NOSIGNAL);
	}
	printf("# slow body cut after %.2f s\n", testutil_now_s() - t0);
	close(fd);
	assert_true(closed);
	assert_true(testutil_now_s() - t0 < BOUNDED_DEADLINE_S + 1.5);
}

/* More than the per-address limit from one address: the extra ones are
 * closed at once, while another address still gets in. */
static void
test_per_address_limit(void **state)
{
	int fd[BOUNDED_PER_ADDR + 1], i;

	for (i = 0; i < BOUNDED_PER_ADDR + 1; i++)
		fd[i] = connect_from("127.0.0.4", bounded_port);
	/* The last one is over the limit. */
	assert_true(closed_within(fd[BOUNDED_PER_ADDR], 2000));
	for (i = 0; i < BOUNDED_PER_ADDR; i++)
		assert_false(closed_within(fd[i], 0));
	assert_int_equal(bounded_post(1000), 200);
	for (i = 0; i < BOUNDED_PER_ADDR + 1; i++)
		close(fd[i]);
}

int
main(void)
{
	const char *vhosts[] = { "localhost" };
	struct rpc_http_config cfg = { .addr = "127.0.0.1", .vhosts = vhosts, .nvhosts = 1,
	    .idle_timeout_s = 5, .max_connections = 8 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_json),
		cmocka_unit_test(test_charset_allowed),
		cmocka_unit_test(test_wrong_content_type),
		cmocka_unit_test(test_health_get),
		cmocka_unit_test(test_other_method),
		cmocka_unit_test(test_vhost_refused),
		cmocka_unit_test(test_vhost_allowed),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_parse_error_stays_up),
	};
	struct rpc_http_config bcfg = { .addr = "127.0.0.1", .vhosts = vhosts, .nvhosts = 1,
	    .idle_timeout_s = 60, .max_connections = BOUNDED_CONNECTIONS,
	    .max_per_addr = BOUNDED_PER_ADDR, .header_deadline_s = BOUNDED_DEADLINE_S,
	    .body_deadline_s = BOUNDED_DEADLINE_S };
	const struct CMUnitTest bounds[] = {
		cmocka_unit_test(test_per_address_limit),
		cmocka_unit_test(test_header_deadline),
		cmocka_unit_test(test_body_deadline),
		cmocka_unit_test(test_slow_connections),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rpc_http_start(&cfg, &table, &server) != 0 ||
	    rpc_http_start(&bcfg, &table, &bounded) != 0) {
		printf("1..1\nnot ok 1 - cannot start the HTTP servers on 127.0.0.1\n");
		return 1;
	}
	port = rpc_http_port(server);
	bounded_port = rpc_http_port(bounded);
	failed = cmocka_run_group_tests_name("http", tests, NULL, NULL);
	failed += tvec_run_file("http-raw", "tests/vectors/rpc/http-raw.json", test_raw);
	failed += cmocka_run_group_tests_name("http-bounds", bounds, NULL, NULL);
	rpc_http_stop(bounded);
	rpc_http_stop(server);
	curl_global_cleanup();
	return failed != 0;
}
