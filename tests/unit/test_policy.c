/* Policy (src/signer/policy): decisions, windows across a restart, refused files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eth/addr.h"
#include "eth/err.h"
#include "signer/policy.h"
#include "tvec.h"

static char dir[] = "/tmp/p11s-policy-XXXXXX";
static char state[256];
static const char *policy_file = "tests/vectors/policy/policy.json";

struct req_bufs {
	uint8_t key[20], to[20];
};

static void
fill_request(const json_t *j, struct signer_policy_request *q, struct req_bufs *b)
{
	const char *s;

	memset(q, 0, sizeof(*q));
	q->caller = json_string_value(json_object_get(j, "caller"));
	q->method = json_string_value(json_object_get(j, "method"));
	q->content_type = json_string_value(json_object_get(j, "content_type"));
	if ((s = json_string_value(json_object_get(j, "key"))) != NULL) {
		assert_int_equal(eth_addr_parse(s, strlen(s), b->key, NULL), 0);
		q->key = b->key;
	}
	if ((s = json_string_value(json_object_get(j, "chain"))) != NULL) {
		q->is_tx = 1;
		assert_int_equal(eth_u256_parse_quantity(s, strlen(s), &q->chain_id), 0);
		s = json_string_value(json_object_get(j, "value"));
		assert_int_equal(eth_u256_parse_quantity(s, strlen(s), &q->value), 0);
		if ((s = json_string_value(json_object_get(j, "to"))) != NULL) {
			assert_int_equal(eth_addr_parse(s, strlen(s), b->to, NULL), 0);
			q->to = b->to;
		}
	}
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
	assert_string_equal(signer_action_name(d.action), tvec_str(c, "action"));
	if (want_rule != NULL)
		assert_string_equal(d.rule, want_rule);
	if (want_why != NULL && strstr(d.why, want_why) == NULL)
		fail_msg("why \"%s\" does not say \"%s\"", d.why, want_why);
	signer_policy_release(p, &d);
	signer_policy_free(p);
}

static void
test_window_survives_restart(void **st)
{
	json_t *v = tvec_load("tests/vectors/policy/decisions.json");
	struct signer_policy *p;
	struct signer_policy_request q;
	struct signer_policy_decision d;
	struct req_bufs b;
	time_t now = 2000000;
	int i;

	unlink(state);
	/* 0.6 ETH payments: the window allows 1.5 ETH and 3 requests an hour. */
	json_t *req = json_deep_copy(json_object_get(json_array_get(v, 2), "req"));
	json_object_set_new(req, "value", json_string("0x853a0d2313c0000"));
	p = load();
	fill_request(req, &q, &b);
	for (i = 0; i < 2; i++) {
		signer_policy_decide(p, &q, now + i, &d);
		assert_int_equal(d.action, SIGNER_APPROVE);
		assert_true(d.reservation >= 0);
		assert_int_equal(signer_policy_commit(p, &d), 0);
	}
	/* A failed signing gives its reservation back. */
	signer_policy_decide(p, &q, now + 2, &d);
	assert_int_equal(d.action, SIGNER_ASK);		/* 1.8 > 1.5 ETH */
	assert_non_null(strstr(d.why, "wei in 3600 s"));
	signer_policy_free(p);

	/* Restart: the two payments are still in the window. */
	p = load();
	signer_policy_decide(p, &q, now + 10, &d);
	assert_int_equal(d.action, SIGNER_ASK);
	/* A small one fits; an uncommitted reservation counts while in flight. */
	json_object_set_new(req, "value", json_string("0x1"));
	fill_request(req, &q, &b);
	signer_policy_decide(p, &q, now + 11, &d);
	assert_int_equal(d.action, SIGNER_APPROVE);
	struct signer_policy_decision d2;
	signer_policy_decide(p, &q, now + 12, &d2);
	assert_int_equal(d2.action, SIGNER_ASK);	/* count 3 reached */
	assert_non_null(strstr(d2.why, "more than 3 requests"));
	signer_policy_release(p, &d);
	signer_policy_decide(p, &q, now + 13, &d2);
	assert_int_equal(d2.action, SIGNER_APPROVE);	/* the released one freed its place */
	signer_policy_release(p, &d2);
	/* An hour later the window is empty again. */
	json_object_set_new(req, "value", json_string("0xde0b6b3a7640000"));
	fill_request(req, &q, &b);
	signer_policy_decide(p, &q, now + 3700, &d);
	assert_int_equal(d.action, SIGNER_APPROVE);
	signer_policy_release(p, &d);
	signer_policy_free(p);
	json_decref(req);
	json_decref(v);
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
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_window_survives_restart) };
	json_t *dec = tvec_load("tests/vectors/policy/decisions.json");
	json_t *bad = tvec_load("tests/vectors/policy/refused.json");
	int failed = 0;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(state, sizeof(state), "%s/state.json", dir);
	failed += tvec_run("policy-decision", dec, test_decision);
	failed += cmocka_run_group_tests_name("policy-window", tests, NULL, NULL);
	failed += tvec_run("policy-refused", bad, test_refused_file);
	unlink(state);
	rmdir(dir);
	json_decref(dec);
	json_decref(bad);
	return failed != 0;
}
