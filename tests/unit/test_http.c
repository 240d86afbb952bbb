/*
 * HTTP transport (src/rpc/http): a real server on 127.0.0.1 and a real client
 * (libcurl).  Each case is one request and the status and body it must get.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "eth/limits.h"
#include "rpc/caller.h"
#include "rpc/http.h"
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

struct sink {
	char *p;
	size_t n;
};

static size_t
collect(char *data, size_t size, size_t nmemb, void *cls)
{
	struct sink *s = cls;
	size_t n = size * nmemb;

	s->p = realloc(s->p, s->n + n + 1);
	memcpy(s->p + s->n, data, n);
	s->n += n;
	s->p[s->n] = 0;
	return n;
}

static const char call[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_caller\"}";

/* One request; returns the status, body in *bodyp (caller frees). */
static long
request(const char *method, const char *body, size_t len, const char *const *headers,
    char **bodyp, char **ctp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct sink s = { NULL, 0 };
	char url[64];
	long status = 0;
	char *ct = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
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
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rpc_http_start(&cfg, &table, &server) != 0) {
		printf("1..1\nnot ok 1 - cannot start the HTTP server on 127.0.0.1\n");
		return 1;
	}
	port = rpc_http_port(server);
	failed = cmocka_run_group_tests_name("http", tests, NULL, NULL);
	rpc_http_stop(server);
	curl_global_cleanup();
	return failed != 0;
}
