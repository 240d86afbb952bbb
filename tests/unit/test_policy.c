/*
 * Policy (src/signer/policy): decisions, windows across a restart, refused files.
 * Transactions are built from SendTxArgs JSON by eth_tx_from_send_args(), the
 * function the daemon uses, so a case states a request as a client sends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/tx.h"
#include "signer/policy.h"
#include "tvec.h"

static char dir[] = "/tmp/p11s-policy-XXXXXX";
static char state[256];
static const char *policy_file = "tests/vectors/policy/policy.json";

struct req_bufs {
	uint8_t key[20];
	struct eth_tx *tx;
};

/*
 * A request from a case's "req": caller, method, content_type, key, and for a
 * transaction "tx", SendTxArgs of which from (the key), nonce 0, gas 21000,
 * value 0 and gasPrice 1 (when no fee is given) may be left out.  Chain 1 is
 * the signer's.  Free b->tx with eth_tx_free().
 */
static void
fill_request(const json_t *j, struct signer_policy_request *q, struct req_bufs *b)
{
	const json_t *tx_args = json_object_get(j, "tx");
	const char *key;
	struct eth_u256 chain;
	char msg[ERR_WHY_MAX] = "";
	json_t *args;

	memset(q, 0, sizeof(*q));
	b->tx = NULL;
	q->caller = json_string_value(json_object_get(j, "caller"));
	q->method = json_string_value(json_object_get(j, "method"));
	q->content_type = json_string_value(json_object_get(j, "content_type"));
	key = json_string_value(json_object_get(j, "key"));
	if (key != NULL) {
		assert_int_equal(eth_addr_parse(key, strlen(key), b->key, NULL), 0);
		q->key = b->key;
	}
	if (tx_args == NULL)
		return;
	args = json_pack("{s:s, s:s, s:s, s:s}", "from",
	    key != NULL ? key : "0x0000000000000000000000000000000000000001",
	    "nonce", "0x0", "gas", "0x5208", "value", "0x0");
	if (json_object_get(tx_args, "gasPrice") == NULL && json_object_get(tx_args, "maxFeePerGas") == NULL)
		json_object_set_new(args, "gasPrice", json_string("0x1"));
	json_object_update_new(args, json_deep_copy(tx_args));
	eth_u256_from_u64(&chain, 1);
	if (eth_tx_from_send_args(args, &chain, &b->tx, NULL, msg) != 0)
		fail_msg("the case's transaction is refused: %s", msg);
	json_decref(args);
	q->tx = b->tx;
}

static struct signer_policy *
load(void)
{
	struct signer_policy *p;
	char why[256] = "";

	if (signer_policy_load(policy_file, state, &p, why, sizeof(why)) != 0)
		fail_msg("cannot load %s: %s", policy_file, why);
	return p;
}

static void
test_decision(void **st)
{
	const json_t *c = *st;
	struct signer_policy *p;
	struct signer_policy_request q;
	struct signer_policy_decision d;
	struct req_bufs b;
	const char *want_rule = json_string_value(json_object_get(c, "rule"));
	const char *want_why = json_string_value(json_object_get(c, "why"));

	unlink(state);
	p = load();
	fill_request(json_object_get(c, "req"), &q, &b);
	signer_policy_decide(p, &q, 1000000, &d);
	eth_tx_free(b.tx);
	if (strcmp(signer_action_name(d.action), tvec_str(c, "action")) != 0)
		fail_msg("%s, want %s: %s", signer_action_name(d.action), tvec_str(c, "action"), d.why);
	if (want_rule != NULL)
		assert_string_equal(d.rule, want_rule);
	if (want_why != NULL && strstr(d.why, want_why) == NULL)
		fail_msg("why \"%s\" does not say \"%s\"", d.why, want_why);
	signer_policy_release(p, &d);
	signer_policy_free(p);
}

/* decide() for a case's request with its transaction's member set to a new value. */
static void
decide_with(struct signer_policy *p, json_t *req, const char *member, const char *v, time_t now,
    struct signer_policy_decision *d)
{
	struct signer_policy_request q;
	struct req_bufs b;

	json_object_set_new(json_object_get(req, "tx"), member, json_string(v));
	fill_request(req, &q, &b);
	signer_policy_decide(p, &q, now, d);
	eth_tx_free(b.tx);
}

static json_t *
case_request(const char *name)
{
	json_t *v = tvec_load("tests/vectors/policy/decisions.json"), *req = NULL;
	size_t i;

	for (i = 0; i < json_array_size(v); i++)
		if (strcmp(tvec_str(json_array_get(v, i), "name"), name) == 0)
			req = json_deep_copy(json_object_get(json_array_get(v, i), "req"));
	json_decref(v);
	if (req == NULL)
		fail_msg("no case \"%s\" in decisions.json", name);
	return req;
}

static void
test_window_survives_restart(void **st)
{
	json_t *req = case_request("small-payment");
	struct signer_policy *p;
	struct signer_policy_decision d, d2;
	time_t now = 2000000;
	int i;

	(void)st;
	unlink(state);
	/* 0.6 ETH payments: the window allows 1.5 ETH of value and 3 requests an hour. */
	p = load();
	for (i = 0; i < 2; i++) {
		decide_with(p, req, "value", "0x853a0d2313c0000", now + i, &d);
		assert_int_equal(d.action, SIGNER_APPROVE);
		assert_true(d.reservation >= 0);
		assert_int_equal(signer_policy_commit(p, &d), 0);
	}
	/* A failed signing gives its reservation back. */
	decide_with(p, req, "value", "0x853a0d2313c0000", now + 2, &d);
	assert_int_equal(d.action, SIGNER_ASK);		/* 1.8 > 1.5 ETH */
	assert_non_null(strstr(d.why, "wei of value in 3600 s"));
	signer_policy_free(p);

	/* Restart: the two payments are still in the window. */
	p = load();
	decide_with(p, req, "value", "0x853a0d2313c0000", now + 10, &d);
	assert_int_equal(d.action, SIGNER_ASK);
	/* A small one fits; an uncommitted reservation counts while in flight. */
	decide_with(p, req, "value", "0x1", now + 11, &d);
	assert_int_equal(d.action, SIGNER_APPROVE);
	decide_with(p, req, "value", "0x1", now + 12, &d2);
	assert_int_equal(d2.action, SIGNER_ASK);	/* count 3 reached */
	assert_non_null(strstr(d2.why, "more than 3 requests"));
	signer_policy_release(p, &d);
	decide_with(p, req, "value", "0x1", now + 13, &d2);
	assert_int_equal(d2.action, SIGNER_APPROVE);	/* the released one freed its place */
	signer_policy_release(p, &d2);
	/* An hour later the window is empty again. */
	decide_with(p, req, "value", "0xde0b6b3a7640000", now + 3700, &d);
	assert_int_equal(d.action, SIGNER_APPROVE);
	signer_policy_release(p, &d);
	signer_policy_free(p);
	json_decref(req);
}

/*
 * Windows count what a transaction can cost, not its value: payments of value
 * 0 whose gas x gasPrice is 0.42 ETH fill a window of 1 ETH after two, and
 * still after a restart.
 */
static void
test_window_counts_cost(void **st)
{
	json_t *req = case_request("fee-window-first");
	struct signer_policy *p;
	struct signer_policy_decision d;
	time_t now = 3000000;
	int i;

	(void)st;
	unlink(state);
	p = load();
	for (i = 0; i < 2; i++) {
		decide_with(p, req, "gasPrice", "0x12309ce54000", now + i, &d);	/* 2e13 x 21000 */
		assert_int_equal(d.action, SIGNER_APPROVE);
		assert_int_equal(signer_policy_commit(p, &d), 0);
	}
	decide_with(p, req, "gasPrice", "0x12309ce54000", now + 2, &d);
	assert_int_equal(d.action, SIGNER_DENY);	/* 1.26 > 1 ETH */
	assert_non_null(strstr(d.why, "wei of cost in 3600 s"));
	signer_policy_free(p);
	p = load();
	decide_with(p, req, "gasPrice", "0x12309ce54000", now + 3, &d);
	assert_int_equal(d.action, SIGNER_DENY);
	/* What is left (0.16 ETH) still fits a cheaper one. */
	decide_with(p, req, "gasPrice", "0x1d1a94a2000", now + 4, &d);	/* 2e12 x 21000 */
	assert_int_equal(d.action, SIGNER_APPROVE);
	signer_policy_release(p, &d);
	signer_policy_free(p);
	json_decref(req);
}

/*
 * A state file from before windows counted cost ([time, "value"]): what those
 * signings cost is unknown, so each fills the window's cost until it ages out;
 * the new file records both.
 */
static void
test_state_v1(void **st)
{
	json_t *req = case_request("fee-window-first"), *saved;
	struct signer_policy *p;
	struct signer_policy_decision d;
	time_t now = 4000000;
	FILE *f;

	(void)st;
	f = fopen(state, "w");
	assert_non_null(f);
	fprintf(f, "{\"version\":1,\"windows\":{\"fee-window\":[[%lld,\"0\"]]}}", (long long)now - 10);
	fclose(f);
	p = load();
	decide_with(p, req, "gasPrice", "0x1", now, &d);
	assert_int_equal(d.action, SIGNER_DENY);
	assert_non_null(strstr(d.why, "wei of cost in 3600 s"));
	decide_with(p, req, "gasPrice", "0x1", now + 3600, &d);	/* the old entry has left */
	assert_int_equal(d.action, SIGNER_APPROVE);
	assert_int_equal(signer_policy_commit(p, &d), 0);
	signer_policy_free(p);
	saved = json_load_file(state, 0, NULL);
	assert_non_null(saved);
	assert_int_equal(json_integer_value(json_object_get(saved, "version")), 2);
	/* value 0, cost 21000 x 1 */
	assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(
	    json_object_get(saved, "windows"), "fee-window"), 0), 2)), "21000");
	json_decref(saved);
	json_decref(req);
}

static void
test_refused_file(void **st)
{
	const json_t *c = *st;
	char path[300], why[256] = "";
	struct signer_policy *p = (void *)1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad.json", dir);
	f = fopen(path, "w");
	fputs(tvec_str(c, "text"), f);
	fclose(f);
	assert_int_equal(signer_policy_load(path, json_is_true(json_object_get(c, "no_state")) ? NULL : state,
	    &p, why, sizeof(why)), ERR_POLICY_INVALID);
	assert_null(p);
	if (strstr(why, tvec_str(c, "why")) == NULL)
		fail_msg("why \"%s\" does not say \"%s\"", why, tvec_str(c, "why"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_survives_restart),
		cmocka_unit_test(test_window_counts_cost),
		cmocka_unit_test(test_state_v1),
	};
	int failed = 0;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(state, sizeof(state), "%s/state.json", dir);
	failed += tvec_run_file("policy-decision", "tests/vectors/policy/decisions.json",
	    test_decision);
	failed += cmocka_run_group_tests_name("policy-window", tests, NULL, NULL);
	failed += tvec_run_file("policy-refused", "tests/vectors/policy/refused.json",
	    test_refused_file);
	unlink(state);
	rmdir(dir);
	return failed != 0;
}
