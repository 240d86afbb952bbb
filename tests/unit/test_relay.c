/*
 * Relay (src/relay): HTTP in on 127.0.0.1, out through a scripted stand-in
 * for qrexec-client-vm (one behaviour per vault name), or to an upstream
 * signer over HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "relay/relay.h"
#include "rpc/caller.h"
#include "rpc/http.h"
#include "tvec.h"

static char dir[] = "/tmp/p11s-relay-XXXXXX";
static char client[300];

/* Answers with what it was run with and what it read: the test checks both. */
static const char stand_in[] =
    "#!/bin/sh\n"
    "vault=$1 service=$2\n"
    "input=$(cat)\n"
    "case $vault in\n"
    "vault-ok) printf '{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"service\":\"%s\",\"got\":%s}}' \"$service\" \"$input\" ;;\n"
    "vault-deny) echo 'Request refused' >&2; exit 126 ;;\n"
    "vault-missing) exit 127 ;;\n"
    "vault-broken) exit 125 ;;\n"
    "vault-slow) sleep 5 ;;\n"
    "vault-garbage) echo 'hello' ;;\n"
    "esac\n";

static long
post(unsigned port, const char *body, const char *const *headers, char **outp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	FILE *mem;
	char url[64], *buf = NULL;
	size_t len = 0;
	long status = 0;

	for (; headers != NULL && *headers != NULL; headers++)
		h = curl_slist_append(h, *headers);
	mem = open_memstream(&buf, &len);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	fclose(mem);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	*outp = buf;
	return status;
}

static struct rpc_http *
relay_for(struct relay_config *cfg)
{
	struct rpc_http_config hc = { .addr = "127.0.0.1",
	    .vhosts = (const char *[]){ "localhost" }, .nvhosts = 1, .idle_timeout_s = 5,
	    .max_connections = 8 };
	struct rpc_http *h;
	char why[128];

	assert_int_equal(relay_config_check(cfg, why, sizeof(why)), 0);
	assert_int_equal(rpc_http_start_fn(&hc, relay_forward, cfg, &h), 0);
	return h;
}

static const char call[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"account_list\",\"params\":[]}";

static void
test_forward_with_envelope(void **state)
{
	struct relay_config cfg = { .vault = "vault-ok", .profile = "trading",
	    .qrexec_client = client, .timeout_s = 10 };
	struct rpc_http *h = relay_for(&cfg);
	const char *hdr[] = { "Origin: https://dapp.example", "User-Agent: dapp/1",
	    "X-Forwarded-For: 1.2.3.4", NULL };
	char *out;
	json_t *j, *got;

	assert_int_equal(post(rpc_http_port(h), call, hdr, &out), 200);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "result"), "service")),
	    "p11signer.Sign+trading");
	got = json_object_get(json_object_get(j, "result"), "got");
	assert_int_equal(json_integer_value(json_object_get(got, "p11signer_envelope")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "metadata"), "origin")),
	    "https://dapp.example");
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "request"), "method")),
	    "account_list");
	json_decref(j);
	free(out);
	rpc_http_stop(h);
}

static void
expect_error(const char *vault, unsigned timeout, int code, const char *text)
{
	struct relay_config cfg = { .vault = vault, .qrexec_client = client, .timeout_s = timeout };
	struct rpc_http *h = relay_for(&cfg);
	char *out, want[32];

	assert_int_equal(post(rpc_http_port(h), call, NULL, &out), 200);
	snprintf(want, sizeof(want), "\"code\":%d", code);
	if (strstr(out, want) == NULL || strstr(out, text) == NULL || strstr(out, "\"id\":7") == NULL)
		fail_msg("%s: got %s", vault, out);
	free(out);
	rpc_http_stop(h);
}

static void test_policy_denied(void **s) { expect_error("vault-deny", 10, RELAY_ERR_POLICY_DENIED, "refused by the Qubes qrexec policy"); }
static void test_no_service(void **s) { expect_error("vault-missing", 10, RELAY_ERR_NO_SERVICE, "no p11signer.Sign service"); }
static void test_qrexec_failed(void **s) { expect_error("vault-broken", 10, RELAY_ERR_QREXEC, "could not connect the call in the vault (exit 125)"); }
static void test_timeout(void **s) { expect_error("vault-slow", 1, RELAY_ERR_TIMEOUT, "did not answer within 1 s"); }
static void test_garbage(void **s) { expect_error("vault-garbage", 10, RELAY_ERR_BAD_ANSWER, "not JSON-RPC"); }

static void
test_bad_json_stays_local(void **state)
{
	/* vault-slow would time out: a parse error must be answered without calling it. */
	struct relay_config cfg = { .vault = "vault-slow", .qrexec_client = client,
	    .timeout_s = 10 };
	struct rpc_http *h = relay_for(&cfg);
	char *out;

	assert_int_equal(post(rpc_http_port(h), "{\"jsonrpc\":", NULL, &out), 200);
	assert_non_null(strstr(out, "-32700"));
	free(out);
	rpc_http_stop(h);
}

static int
m_echo_caller(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	const struct rpc_caller *c = call_ctx;

	*resultp = json_pack("{s:s, s:s}", "origin", c->untrusted_origin, "peer", c->id);
	return 0;
}

static void
test_upstream(void **state)
{
	static const struct rpc_method m[] = { { "account_list", m_echo_caller } };
	static const struct rpc_table t = { m, 1, NULL };
	struct rpc_http_config hc = { .addr = "127.0.0.1",
	    .vhosts = (const char *[]){ "localhost" }, .nvhosts = 1, .idle_timeout_s = 5,
	    .max_connections = 8 };
	struct rpc_http *signer, *h;
	char url[64], *out;
	const char *hdr[] = { "Origin: https://dapp.example", NULL };

	assert_int_equal(rpc_http_start(&hc, &t, &signer), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", rpc_http_port(signer));
	struct relay_config cfg = { .upstream = url, .timeout_s = 10 };
	h = relay_for(&cfg);
	assert_int_equal(post(rpc_http_port(h), call, hdr, &out), 200);
	/* The origin arrives as a claim; the signer's peer is the relay itself. */
	assert_non_null(strstr(out, "\"origin\":\"https://dapp.example\""));
	assert_non_null(strstr(out, "\"peer\":\"127.0.0.1\""));
	free(out);
	rpc_http_stop(h);
	rpc_http_stop(signer);
}

static void
test_config_refused(void **state)
{
	char why[128];
	struct relay_config both = { .vault = "vault", .upstream = "http://x/" };
	struct relay_config none = { .vault = NULL };
	struct relay_config badvault = { .vault = "-oProxyCommand" };
	struct relay_config badprofile = { .vault = "vault", .profile = "../x" };
	struct relay_config badurl = { .upstream = "file:///etc/passwd" };
	struct relay_config dflt = { .vault = "@default" };
	struct relay_config special = { .vault = "@dispvm" };

	assert_int_equal(relay_config_check(&dflt, why, sizeof(why)), 0);
	assert_int_not_equal(relay_config_check(&special, why, sizeof(why)), 0);

	assert_int_not_equal(relay_config_check(&both, why, sizeof(why)), 0);
	assert_int_not_equal(relay_config_check(&none, why, sizeof(why)), 0);
	assert_int_not_equal(relay_config_check(&badvault, why, sizeof(why)), 0);
	assert_int_not_equal(relay_config_check(&badprofile, why, sizeof(why)), 0);
	assert_int_not_equal(relay_config_check(&badurl, why, sizeof(why)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_with_envelope),
		cmocka_unit_test(test_policy_denied),
		cmocka_unit_test(test_no_service),
		cmocka_unit_test(test_qrexec_failed),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_bad_json_stays_local),
		cmocka_unit_test(test_upstream),
		cmocka_unit_test(test_config_refused),
	};
	FILE *f;
	int failed;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(client, sizeof(client), "%s/qrexec-client-vm", dir);
	f = fopen(client, "w");
	fputs(stand_in, f);
	fclose(f);
	chmod(client, 0755);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests_name("relay", tests, NULL, NULL);
	curl_global_cleanup();
	unlink(client);
	rmdir(dir);
	return failed != 0;
}
