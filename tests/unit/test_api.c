/*
 * The account_* API over JSON-RPC, with a software key standing in for the
 * token (TEST ONLY: p11signer itself never holds a key) and a scripted
 * approver (tests/unit/softkey.c).  Cases in tests/vectors/api/cases.json; Clef's signtx requests
 * from tests/vectors/clef-eip712/signtx-requests.
 *
 * What a signing case must answer comes from independent oracles, never from
 * the code under test: tests/vectors/api/oracle.json (made by gen-api.js with
 * ethers.js and eth-sig-util) holds, for the same throwaway key, each raw
 * transaction with geth's JSON of it and each signature.  The software key
 * signs with libsecp256k1 alone (RFC 6979, low s, its own recovery id), as
 * ethers does, so the answers are compared byte for byte: every field of
 * a transaction, and every digest, is checked against the request.
 */
#include <ctype.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "rpc/caller.h"
#include "signer/api.h"
#include "signer/audit.h"
#include "softkey.h"
#include "tvec.h"

static struct softkey key;	/* keccak256("p11signer api test key") */

/* The scripted approver: what it answers, and what it was asked. */
static struct {
	const char *mode;	/* "approve", "deny", "timeout", "change", "none-listed" */
	char asked[64];
	int calls;
	int notified;
} ui;

static int
fake_ask(void *c, const char *method, const json_t *request, int timeout_ms,
    json_t **resultp)
{
	ui.calls++;
	snprintf(ui.asked, sizeof(ui.asked), "%s", method);
	/* Every request shows the trusted caller next to the claims. */
	assert_non_null(json_object_get(json_object_get(request, "meta"), "caller"));
	if (strcmp(ui.mode, "timeout") == 0)
		return ERR_TIMEOUT;
	if (strcmp(method, "ui_approveListing") == 0) {
		if (strcmp(ui.mode, "null-listed") == 0)
			*resultp = json_pack("{s:n}", "accounts");
		else
			*resultp = strcmp(ui.mode, "none-listed") == 0 ?
			    json_pack("{s:[]}", "accounts") :
			    json_pack("{s:O}", "accounts", json_object_get(request, "accounts"));
		return 0;
	}
	if (strncmp(ui.mode, "change", 6) == 0) {
		json_t *tx = json_deep_copy(json_object_get(request, "transaction"));
		const char *what = ui.mode + 6;

		if (strcmp(what, "") == 0)
			json_object_set_new(tx, "to",
			    json_string("0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"));
		else if (strcmp(what, "-bad-checksum") == 0)
			json_object_set_new(tx, "to",
			    json_string("0xd8da6bf26964af9d7eed9e03e53415d37aa96045"));
		else if (strcmp(what, "-malformed") == 0)
			json_object_set_new(tx, "gas", json_string("0x05208"));
		else if (strcmp(what, "-sender") == 0)
			json_object_set_new(tx, "from",
			    json_string("0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"));
		else if (strcmp(what, "-gas") == 0)
			json_object_set_new(tx, "gas", json_string("0x5209"));
		else
			fail_msg("unknown mode %s", ui.mode);
		*resultp = json_pack("{s:b,s:o}", "approved", 1, "transaction", tx);
		return 0;
	}
	*resultp = json_pack("{s:b,s:O?}", "approved", strcmp(ui.mode, "approve") == 0,
	    "transaction", json_object_get(request, "transaction"));
	return 0;
}

static void
fake_notify(void *c, const char *method, const json_t *params)
{
	ui.notified++;
}

static char tmpdir[64];

/* Run one JSON-RPC request through a new API built as the case says. */
static json_t *
call(const json_t *req, const char *mode, int advanced, const char *policy_text,
    const char *audit_path)
{
	struct signer_api_config cfg;
	struct signer_api *api;
	struct signer_policy *pol = NULL;
	struct signer_audit *aud = NULL;
	struct rpc_caller caller;
	char *body, why[256], path[128], state[128];
	json_t *resp;

	memset(&cfg, 0, sizeof(cfg));
	eth_u256_from_u64(&cfg.chain_id, 1);
	cfg.advanced = advanced;
	cfg.approval_timeout_ms = 1000;
	cfg.keys = softkey_keys(&key);
	ui.mode = mode;
	ui.calls = ui.notified = 0;
	ui.asked[0] = '\0';
	if (strcmp(mode, "none") != 0)
		cfg.approver = (struct signer_approver){ .ask = fake_ask, .notify = fake_notify };
	if (policy_text != NULL) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/policy.json", tmpdir);
		assert_non_null(f = fopen(path, "w"));
		fputs(policy_text, f);
		fclose(f);
		snprintf(state, sizeof(state), "%s/policy.state", tmpdir);
		unlink(state);
		if (signer_policy_load(path, state, &pol, why, sizeof(why)) != 0)
			fail_msg("policy: %s", why);
		cfg.policy = pol;
	}
	if (audit_path != NULL) {
		assert_int_equal(signer_audit_open(audit_path, &aud), 0);
		cfg.audit = aud;
	}
	assert_int_equal(signer_api_new(&cfg, &api), 0);
	memset(&caller, 0, sizeof(caller));
	caller.kind = RPC_CALLER_QUBE;
	rpc_caller_set(caller.id, "work");
	rpc_caller_set(caller.untrusted_origin, "https://dapp.example");
	body = json_dumps(req, JSON_COMPACT);
	resp = rpc_jsonrpc_dispatch(signer_api_table(api), &caller, req);
	free(body);
	signer_api_free(api);
	signer_policy_free(pol);
	signer_audit_close(aud);
	return resp;
}

/* Replace "$KEY" anywhere in a request with the test key's address. */
static void
put_key(json_t *j)
{
	size_t i;
	const char *k;
	json_t *v;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			if (json_is_string(v) && strcmp(json_string_value(v), "$KEY") == 0)
				json_array_set_new(j, i, json_string(key.hex));
			else
				put_key(v);
		}
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			if (json_is_string(v) && strcmp(json_string_value(v), "$KEY") == 0)
				json_object_set_new(j, k, json_string(key.hex));
			else
				put_key(v);
		}
	}
}

static json_t *oracle;	/* tests/vectors/api/oracle.json */

/*
 * The oracle's answer for a case: its "expect" object.  The oracle keeps a
 * copy of the case it answered; a case changed since is a failure (run
 * tests/vectors/api/gen-api.js again), not a comparison with a stale answer.
 */
static const json_t *
oracle_expect(const json_t *c)
{
	const char *name = tvec_str(c, "name");
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(oracle, "cases"), i, e) {
		if (!json_equal(json_object_get(e, "case"), c))
			continue;
		return json_object_get(e, "expect");
	}
	fail_msg("\"%s\" has no answer in tests/vectors/api/oracle.json, or a stale one: "
	    "run node tests/vectors/api/gen-api.js", name);
	return NULL;
}

/* Hex strings of the same bytes (the oracle writes lower case; so must we). */
static void
assert_hex_equal(const char *got, const char *want)
{
	assert_non_null(got);
	assert_non_null(want);
	assert_string_equal(got, want);
}

/*
 * A signed transaction is the oracle's, byte for byte, and so is geth's JSON
 * of it that the API returns beside it.
 */
static void
assert_tx_is(const json_t *result, const json_t *expect)
{
	const json_t *tx = json_object_get(result, "tx");

	assert_hex_equal(json_string_value(json_object_get(result, "raw")),
	    json_string_value(json_object_get(expect, "raw")));
	if (!json_equal(tx, json_object_get(expect, "json"))) {
		char *got = json_dumps(tx, JSON_SORT_KEYS), *want =
		    json_dumps(json_object_get(expect, "json"), JSON_SORT_KEYS);

		print_error("tx:     %s\noracle: %s\n", got, want);
		free(got);
		free(want);
		fail();
	}
}

/*
 * cases.json: {name, request, approver, advanced?, policy?, error?: {code,
 * message}, check?: "tx"|"personal"|"typed"|"clique"|"validator"|"list"|
 * "string", result?: value, asked?: ui method, signs?: count}.
 */
static void
test_case(void **state)
{
	const json_t *c = *state;
	json_t *req = json_deep_copy(json_object_get(c, "request"));
	const json_t *want_err = json_object_get(c, "error");
	const json_t *pol = json_object_get(c, "policy");
	const char *check = json_string_value(json_object_get(c, "check"));
	const json_t *asked = json_object_get(c, "asked");
	json_t *resp, *result;
	char *pol_text = pol != NULL ? json_dumps(pol, 0) : NULL;

	put_key(req);
	key.signs = 0;
	resp = call(req, json_string_value(json_object_get(c, "approver")),
	    json_is_true(json_object_get(c, "advanced")), pol_text, NULL);
	free(pol_text);
	assert_non_null(resp);
	if (want_err != NULL) {
		const json_t *e = json_object_get(resp, "error");

		if (e == NULL)
			print_error("no error: %s\n", json_dumps(resp, 0));
		assert_non_null(e);
		assert_int_equal(json_integer_value(json_object_get(e, "code")),
		    json_integer_value(json_object_get(want_err, "code")));
		if (json_object_get(want_err, "message") != NULL)
			assert_string_equal(json_string_value(json_object_get(e, "message")),
			    json_string_value(json_object_get(want_err, "message")));
		assert_int_equal(key.signs, 0);
	} else {
		result = json_object_get(resp, "result");
		if (result == NULL)
			print_error("error: %s\n", json_dumps(resp, 0));
		assert_non_null(result);
		if (check == NULL || strcmp(check, "value") == 0) {
			assert_true(json_equal(result, json_object_get(c, "result")));
		} else if (strcmp(check, "tx") == 0) {
			assert_tx_is(result, oracle_expect(c));
			assert_int_equal(key.signs, 1);
			/* ui_onApprovedTx; a changed transaction is also said (ui_showInfo) */
			assert_int_equal(ui.notified, ui.calls == 0 ? 0 :
			    strncmp(ui.mode, "change", 6) == 0 ? 2 : 1);
		} else if (strcmp(check, "gnosis") == 0) {
			assert_hex_equal(json_string_value(json_object_get(result, "signature")),
			    json_string_value(json_object_get(oracle_expect(c), "signature")));
			assert_string_equal(json_string_value(json_object_get(result, "sender")),
			    key.hex);
		} else if (strcmp(check, "personal") == 0 || strcmp(check, "typed") == 0 ||
		    strcmp(check, "digest") == 0) {
			/* The same key and RFC 6979: the same signature iff the same digest. */
			assert_hex_equal(json_string_value(result),
			    json_string_value(json_object_get(oracle_expect(c), "signature")));
			assert_int_equal(key.signs, 1);
		} else if (strcmp(check, "list") == 0) {
			const char *a = json_string_value(json_object_get(oracle, "address"));
			char lower[ETH_ADDR_STR];
			size_t i;

			/* Clef lists addresses in lower case. */
			for (i = 0; a[i] != '\0' && i + 1 < sizeof(lower); i++)
				lower[i] = (char)tolower((unsigned char)a[i]);
			lower[i] = '\0';
			assert_int_equal(json_array_size(result),
			    json_integer_value(json_object_get(c, "count")));
			if (json_array_size(result) > 0)
				assert_string_equal(json_string_value(json_array_get(result, 0)), lower);
		} else
			fail_msg("unknown check %s", check);
	}
	if (asked != NULL)
		assert_string_equal(ui.asked, json_string_value(asked));
	json_decref(resp);
	json_decref(req);
}

/* The oracle's transaction for one of Clef's signtx requests. */
static const json_t *
oracle_clef_expect(const char *file, int advanced)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(oracle, "clef_signtx"), i, e)
		if (strcmp(tvec_str(e, "file"), file) == 0 &&
		    json_is_true(json_object_get(e, "advanced")) == (advanced != 0))
			return json_object_get(e, "expect");
	fail_msg("%s (advanced %d) has no answer in tests/vectors/api/oracle.json", file, advanced);
	return NULL;
}

/*
 * Clef's signtx request files: the outcome EXPECTED.md states for each; what
 * is signed is the oracle's transaction, byte for byte.
 */
static void
test_clef_signtx(void **state)
{
	static const struct {
		const char *file;
		int advanced;
		const char *error;	/* NULL: signed */
	} cases[] = {
		{ "sign_normal_exp_ok.json", 0, NULL },
		{ "sign_1559_tx.json", 0, NULL },
		{ "sign_bad_checksum_exp_fail.json", 0,
		  "validation failed: Invalid checksum on recipient address" },
		{ "sign_1559_missing_field_exp_fail.json", 0,
		  "validation failed: Neither 'gasPrice' nor 'maxPriorityFeePerGas' specified." },
		{ "sign_1559_missing_maxfeepergas_exp_fail.json", 0,
		  "validation failed: Neither 'gasPrice' nor 'maxFeePerGas' specified." },
		{ "sign_1559_missing_field_exp_fail.json", 1, NULL },
		{ "sign_1559_missing_maxfeepergas_exp_fail.json", 1, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[1024];
		json_t *req, *resp, *e;

		snprintf(path, sizeof(path), "%s/signtx-requests/%s", tvec_clef_dir(),
		    cases[i].file);
		req = json_load_file(path, 0, NULL);
		assert_non_null(req);
		json_object_set_new(json_array_get(json_object_get(req, "params"), 0), "from",
		    json_string(key.hex));
		key.signs = 0;
		resp = call(req, "approve", cases[i].advanced, NULL, NULL);
		e = json_object_get(resp, "error");
		if (cases[i].error == NULL) {
			if (e != NULL)
				print_error("%s: %s\n", cases[i].file, json_dumps(e, 0));
			assert_null(e);
			assert_int_equal(key.signs, 1);
			assert_tx_is(json_object_get(resp, "result"),
			    oracle_clef_expect(cases[i].file, cases[i].advanced));
		} else {
			assert_non_null(e);
			assert_int_equal(json_integer_value(json_object_get(e, "code")), -32000);
			assert_string_equal(json_string_value(json_object_get(e, "message")),
			    cases[i].error);
			assert_int_equal(key.signs, 0);
		}
		json_decref(resp);
		json_decref(req);
	}
}

/* Every signature leaves a record in the audit log, whose chain holds. */
static void
test_audit_trail(void **state)
{
	char path[128], head[SIGNER_AUDIT_HASH_HEX], why[256];
	unsigned long nlines = 0, bad = 0;
	json_t *req, *resp;
	FILE *f;
	char line[4096];
	int signed_lines = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/audit.log", tmpdir);
	req = json_pack("{s:s,s:i,s:s,s:[s,s,s]}", "jsonrpc", "2.0", "id", 1, "method",
	    "account_signData", "params", "text/plain", key.hex, "0x68656c6c6f");
	resp = call(req, "approve", 0, NULL, path);
	assert_non_null(json_object_get(resp, "result"));
	json_decref(resp);
	resp = call(req, "deny", 0, NULL, path);
	assert_non_null(json_object_get(resp, "error"));
	json_decref(resp);
	json_decref(req);
	assert_int_equal(signer_audit_verify(path, head, &nlines, &bad, why, sizeof(why)), 0);
	assert_int_equal(nlines, 2);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "\"outcome\":\"signed\"") != NULL &&
		    strstr(line, "\"caller\":\"work\"") != NULL)
			signed_lines++;
	fclose(f);
	assert_int_equal(signed_lines, 1);
	unlink(path);
}

/*
 * A backend that lies (a hostile token helper, or a token that signed with
 * another key or over another digest) hands the API a valid signature that
 * is not the one asked for, maybe with the public key it does verify under.
 * The API's verification under the public key of the request's address is
 * the only check between it and the caller: the request fails
 * ERR_P11_SIG_MISMATCH, nothing signed is answered, and the audit log says
 * "signing failed", never "signed".  The honest backend, same requests, signs.
 */
static void
test_lying_backend(void **state)
{
	static const enum softkey_lie lies[] = { SOFTKEY_LIE_KEY, SOFTKEY_LIE_DIGEST,
	    SOFTKEY_LIE_PUB, SOFTKEY_HONEST };
	char path[128], line[4096];
	json_t *reqs[2], *resp;
	const json_t *err;
	size_t l, i;
	FILE *f;
	int failed_lines, signed_lines;

	(void)state;
	reqs[0] = json_pack("{s:s,s:i,s:s,s:[s,s,s]}", "jsonrpc", "2.0", "id", 1, "method",
	    "account_signData", "params", "text/plain", key.hex, "0x68656c6c6f");
	reqs[1] = json_pack("{s:s,s:i,s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s}]}", "jsonrpc", "2.0",
	    "id", 2, "method", "account_signTransaction", "params", "from", key.hex,
	    "to", "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045", "gas", "0x5208",
	    "maxFeePerGas", "0x77359400", "maxPriorityFeePerGas", "0x3b9aca00",
	    "value", "0xde0b6b3a7640000", "nonce", "0x7");
	assert_non_null(reqs[0]);
	assert_non_null(reqs[1]);
	snprintf(path, sizeof(path), "%s/audit-lie.log", tmpdir);
	for (l = 0; l < sizeof(lies) / sizeof(lies[0]); l++) {
		key.lie = lies[l];
		for (i = 0; i < 2; i++) {
			unlink(path);
			key.signs = 0;
			resp = call(reqs[i], "approve", 0, NULL, path);
			assert_int_equal(key.signs, 1);	/* the backend was asked, once */
			if (lies[l] == SOFTKEY_HONEST) {
				assert_non_null(json_object_get(resp, "result"));
			} else {
				assert_null(json_object_get(resp, "result"));
				assert_non_null(err = json_object_get(resp, "error"));
				assert_int_equal(json_integer_value(json_object_get(err, "code")), -32000);
				assert_string_equal(json_string_value(json_object_get(err, "message")),
				    "signing failed: the token's signature does not verify");
			}
			json_decref(resp);
			failed_lines = signed_lines = 0;
			assert_non_null(f = fopen(path, "r"));
			while (fgets(line, sizeof(line), f) != NULL) {
				failed_lines += strstr(line, "\"outcome\":\"signing failed\"") != NULL;
				signed_lines += strstr(line, "\"outcome\":\"signed\"") != NULL;
			}
			fclose(f);
			assert_int_equal(failed_lines, lies[l] == SOFTKEY_HONEST ? 0 : 1);
			assert_int_equal(signed_lines, lies[l] == SOFTKEY_HONEST ? 1 : 0);
		}
	}
	key.lie = SOFTKEY_HONEST;
	unlink(path);
	json_decref(reqs[0]);
	json_decref(reqs[1]);
}

/* An approver that holds its first request until told, and approves. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int asked, release;
} hold = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static int
holding_ask(void *c, const char *method, const json_t *request, int timeout_ms,
    json_t **resultp)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;	/* bounded: the test fails rather than hangs */
	pthread_mutex_lock(&hold.lock);
	hold.asked++;
	pthread_cond_broadcast(&hold.cond);
	while (!hold.release && pthread_cond_timedwait(&hold.cond, &hold.lock, &until) == 0)
		;
	pthread_mutex_unlock(&hold.lock);
	*resultp = json_pack("{s:b}", "approved", 1);
	return 0;
}

struct typed_call {
	struct signer_api *api;
	json_t *req;
	json_t *resp;
};

static void *
typed_call_thread(void *arg)
{
	struct typed_call *tc = arg;
	struct rpc_caller caller;

	memset(&caller, 0, sizeof(caller));
	caller.kind = RPC_CALLER_QUBE;
	rpc_caller_set(caller.id, "work");
	tc->resp = rpc_jsonrpc_dispatch(signer_api_table(tc->api), &caller, tc->req);
	return NULL;
}

/*
 * Typed data is held from decoding to the end of its approval; with one turn
 * (typed_data_at_once 1), a second request while the first awaits approval
 * waits typed_data_wait_ms and is refused "signer busy"; once the first is
 * answered the next one is served.
 */
static void
test_typed_data_at_once(void **state)
{
	struct signer_api_config cfg;
	struct typed_call a, b;
	struct timespec until;
	pthread_t t;
	json_t *req;
	const char *msg;

	memset(&cfg, 0, sizeof(cfg));
	eth_u256_from_u64(&cfg.chain_id, 1);
	cfg.approval_timeout_ms = 10000;
	cfg.keys = softkey_keys(&key);
	cfg.approver = (struct signer_approver){ .ask = holding_ask, .notify = fake_notify };
	cfg.typed_data_at_once = 1;
	cfg.typed_data_wait_ms = 300;
	assert_int_equal(signer_api_new(&cfg, &a.api), 0);
	req = json_pack("{s:s,s:i,s:s,s:[s,{s:{s:[{s:s,s:s}],s:[{s:s,s:s}]},s:s,s:{s:s},s:{s:[i,i]}}]}",
	    "jsonrpc", "2.0", "id", 1, "method", "account_signTypedData", "params", key.hex,
	    "types", "EIP712Domain", "name", "name", "type", "string",
	    "M", "name", "v", "type", "uint8[]", "primaryType", "M", "domain", "name", "x",
	    "message", "v", 1, 2);
	assert_non_null(req);
	b.api = a.api;
	a.req = b.req = req;
	hold.asked = hold.release = 0;
	assert_int_equal(pthread_create(&t, NULL, typed_call_thread, &a), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&hold.lock);
	while (hold.asked == 0 && pthread_cond_timedwait(&hold.cond, &hold.lock, &until) == 0)
		;
	pthread_mutex_unlock(&hold.lock);
	assert_int_equal(hold.asked, 1);
	/* The first awaits approval: the second is refused, without being asked. */
	typed_call_thread(&b);
	msg = json_string_value(json_object_get(json_object_get(b.resp, "error"), "message"));
	assert_non_null(msg);
	assert_non_null(strstr(msg, "signer busy"));
	assert_int_equal(hold.asked, 1);
	json_decref(b.resp);
	pthread_mutex_lock(&hold.lock);
	hold.release = 1;
	pthread_cond_broadcast(&hold.cond);
	pthread_mutex_unlock(&hold.lock);
	pthread_join(t, NULL);
	assert_non_null(json_object_get(a.resp, "result"));
	json_decref(a.resp);
	/* Its turn given back, the next is served. */
	typed_call_thread(&b);
	assert_non_null(json_object_get(b.resp, "result"));
	assert_int_equal(hold.asked, 2);
	json_decref(b.resp);
	json_decref(req);
	signer_api_free(a.api);
}

/* Typed data sent as hex of its JSON text is held to LIMIT_JSON_VALUES
 * before it is parsed, as a request's own JSON is. */
static void
test_typed_hex_values(void **state)
{
	static const char head[] = "{\"types\":{\"EIP712Domain\":[],\"M\":[{\"name\":\"v\","
	    "\"type\":\"uint8[]\"}]},\"primaryType\":\"M\",\"domain\":{},\"message\":{\"v\":[";
	size_t n = LIMIT_JSON_VALUES + 10, len = strlen(head) + 2 * n + 8, i, o;
	char *text = malloc(len), *hex = malloc(2 * len + 3);
	json_t *req, *resp;
	const char *msg;

	o = (size_t)sprintf(text, "%s", head);
	for (i = 0; i < n; i++)
		o += (size_t)sprintf(text + o, i + 1 < n ? "0," : "0");
	o += (size_t)sprintf(text + o, "]}}");
	strcpy(hex, "0x");
	for (i = 0; i < o; i++)
		sprintf(hex + 2 + 2 * i, "%02x", (unsigned char)text[i]);
	req = json_pack("{s:s,s:i,s:s,s:[s,s,s]}", "jsonrpc", "2.0", "id", 1, "method",
	    "account_signData", "params", "data/typed", key.hex, hex);
	resp = call(req, "approve", 0, NULL, NULL);
	msg = json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
	assert_non_null(msg);
	assert_non_null(strstr(msg, "more than 65536 JSON values"));
	assert_int_equal(ui.calls, 0);
	json_decref(resp);
	json_decref(req);
	free(text);
	free(hex);
}

/* The events of the audit log's lines; caller frees. */
static json_t *
audit_lines(const char *path)
{
	json_t *lines = json_array(), *j;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	assert_non_null(f = fopen(path, "r"));
	while (getline(&line, &cap, f) > 0) {
		assert_non_null(j = json_loads(line, 0, NULL));
		json_array_append(lines, json_object_get(j, "event"));
		json_decref(j);
	}
	free(line);
	fclose(f);
	return lines;
}

/*
 * A listing the UI refuses ({"accounts": null}) is a denial in the log too;
 * a transaction the UI changed is recorded with what was asked and what was
 * signed, and the decoded call is in the record.
 */
static void
test_audit_denial_and_change(void **state)
{
	static const char *usdc_transfer = "0xa9059cbb"
	    "000000000000000000000000d8da6bf26964af9d7eed9e03e53415d37aa96045"
	    "000000000000000000000000000000000000000000000000000000000ee6b280";
	char path[128];
	json_t *req, *resp, *lines, *rec, *summary;

	(void)state;
	snprintf(path, sizeof(path), "%s/audit2.log", tmpdir);
	unlink(path);
	req = json_pack("{s:s,s:i,s:s,s:[]}", "jsonrpc", "2.0", "id", 1, "method", "account_list",
	    "params");
	resp = call(req, "null-listed", 0, NULL, path);
	assert_non_null(json_object_get(resp, "error"));
	json_decref(resp);
	json_decref(req);
	req = json_pack("{s:s,s:i,s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s}]}", "jsonrpc", "2.0",
	    "id", 2, "method", "account_signTransaction", "params", "from", key.hex,
	    "to", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "gas", "0x15f90",
	    "gasPrice", "0x3b9aca00", "value", "0x0", "nonce", "0x7", "data", usdc_transfer);
	resp = call(req, "change-gas", 0, NULL, path);
	assert_non_null(json_object_get(resp, "result"));
	json_decref(resp);
	json_decref(req);
	lines = audit_lines(path);
	assert_int_equal(json_array_size(lines), 2);
	rec = json_array_get(lines, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "method")), "account_list");
	assert_string_equal(json_string_value(json_object_get(rec, "outcome")),
	    "denied by approver");
	rec = json_array_get(lines, 1);
	assert_string_equal(json_string_value(json_object_get(rec, "outcome")), "signed");
	summary = json_object_get(rec, "summary");
	assert_true(json_is_true(json_object_get(summary, "changed_by_approver")));
	assert_int_equal(json_integer_value(json_object_get(summary, "gas")), 0x5209);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(summary, "requested"),
	    "gas")), 0x15f90);
	assert_string_equal(json_string_value(json_object_get(json_object_get(summary, "call"),
	    "summary")), "transfer 250.0 of token 0xA0b8\xe2\x80\xa6" "eB48 to 0xd8dA\xe2\x80\xa6" "6045");
	assert_string_equal(json_string_value(json_object_get(summary, "chain_name")),
	    "Ethereum mainnet");
	json_decref(lines);
	unlink(path);
}

/*
 * A call whose decoded arguments are large (4000 uint256 values, ~400 KB of
 * JSON) is signed and recorded without its arguments: the line stays far
 * below what the audit verifier reads, and the raw transaction has them.
 */
static void
test_audit_large_call(void **state)
{
	enum { ITEMS = 300, ITEM = 1000, PADDED = 1024 };
	char path[128], *data, sel[9];
	size_t o, i, cap;
	uint8_t h[32];
	json_t *req, *resp, *lines, *summary;
	unsigned long nlines = 0, bad = 0;
	char head[SIGNER_AUDIT_HASH_HEX], why[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/audit3.log", tmpdir);
	unlink(path);
	/* frob(bytes[]): ITEMS byte strings of ITEM bytes, canonically encoded */
	cap = 16 + 2 * (64 + ITEMS * (32 + 32 + PADDED)) + 1;
	assert_non_null(data = malloc(cap));
	eth_keccak256("frob(bytes[])", 13, h);
	snprintf(sel, sizeof(sel), "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
	o = (size_t)snprintf(data, cap, "0x%s%064x%064x", sel, 32, ITEMS);
	for (i = 0; i < ITEMS; i++)
		o += (size_t)snprintf(data + o, cap - o, "%064zx", ITEMS * 32 + i * (32 + PADDED));
	for (i = 0; i < ITEMS; i++) {
		o += (size_t)snprintf(data + o, cap - o, "%064x", ITEM);
		assert_true(o + 2 * PADDED < cap);
		memset(data + o, 'a', 2 * ITEM);
		memset(data + o + 2 * ITEM, '0', 2 * (PADDED - ITEM));
		o += 2 * PADDED;
	}
	data[o] = '\0';
	req = json_pack("{s:s,s:i,s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s},s]}", "jsonrpc", "2.0",
	    "id", 3, "method", "account_signTransaction", "params", "from", key.hex,
	    "to", "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045", "gas", "0x2dc6c0",
	    "gasPrice", "0x3b9aca00", "value", "0x0", "nonce", "0x1", "data", data,
	    "frob(bytes[])");
	free(data);
	resp = call(req, "approve", 0, NULL, path);
	if (json_object_get(resp, "result") == NULL)
		fail_msg("%s", json_dumps(resp, 0));
	json_decref(resp);
	json_decref(req);
	assert_int_equal(signer_audit_verify(path, head, &nlines, &bad, why, sizeof(why)), 0);
	lines = audit_lines(path);
	summary = json_object_get(json_array_get(lines, 0), "summary");
	assert_string_equal(json_string_value(json_object_get(json_object_get(summary, "call"),
	    "status")), "decoded");
	assert_true(json_is_true(json_object_get(summary, "args_omitted")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(summary, "call"),
	    "signature")), "frob(bytes[])");
	assert_null(json_object_get(json_object_get(summary, "call"), "args"));
	json_decref(lines);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_clef_signtx),
		cmocka_unit_test(test_audit_trail),
		cmocka_unit_test(test_lying_backend),
		cmocka_unit_test(test_typed_data_at_once),
		cmocka_unit_test(test_typed_hex_values),
		cmocka_unit_test(test_audit_denial_and_change),
		cmocka_unit_test(test_audit_large_call),
	};
	json_t *cases = tvec_load("tests/vectors/api/cases.json");
	const char *oracle_addr;
	int failed = 0;

	if (softkey_init(&key, "p11signer api test key", "test://software-key") != 0)
		return 1;
	/* The oracle signed with the same key: its address is ours. */
	oracle = tvec_load("tests/vectors/api/oracle.json");
	oracle_addr = json_string_value(json_object_get(oracle, "address"));
	if (oracle_addr == NULL || strcmp(oracle_addr, key.hex) != 0) {
		printf("1..1\nnot ok 1 - api: the oracle's key %s is not the test key %s\n",
		    oracle_addr != NULL ? oracle_addr : "(no oracle.json)", key.hex);
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/p11s-api.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	failed += tvec_run("api", cases, test_case);
	failed += cmocka_run_group_tests_name("api-fixed", fixed, NULL, NULL);
	json_decref(cases);
	json_decref(oracle);
	softkey_free(&key);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			failed++;
	}
	return failed != 0;
}
