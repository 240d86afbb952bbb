/*
 * EIP-191 and Clique: personal-message and validator hashes against ethers.js
 * (tests/vectors/tx/gen-tx.js), Clef's documented hashes and ecRecover
 * answers, and Clique seal hashes including Clef's own output from geth's
 * clique-signing guide; malformed headers refused with Clef's words.
 */
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "eth/eip191.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"
#include "eth/sig.h"
#include "testutil.h"
#include "tvec.h"

static void
test_personal_case(void **state)
{
	const json_t *c = *state;
	size_t n, pn;
	uint8_t *msg = tvec_hex(tvec_str(c, "message"), &n), h[32], *pre = NULL;

	assert_int_equal(eth_eip191_personal_hash(msg, n, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "hash"), "hash");
	assert_int_equal(eth_eip191_personal_message(msg, n, &pre, &pn), 0);
	testutil_assert_hex(pre, pn, tvec_str(c, "prefixed"), "prefixed message");
	free(pre);
	free(msg);
}

static void
test_validator_case(void **state)
{
	const json_t *c = *state;
	const char *v = tvec_str(c, "validator");
	uint8_t addr[20], h[32], *m = NULL;
	size_t n, mn;
	uint8_t *data = tvec_hex(tvec_str(c, "data"), &n);

	assert_int_equal(eth_addr_parse(v, strlen(v), addr, NULL), 0);
	assert_int_equal(eth_eip191_validator_hash(addr, data, n, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "hash"), "hash");
	assert_int_equal(eth_eip191_validator_message(addr, data, n, &m, &mn), 0);
	testutil_assert_hex(m, mn, tvec_str(c, "message"), "message");
	free(m);
	free(data);
}

/* Clef's documents: text/plain hashes, and account_ecRecover (hash, then recover). */
static void
test_clef_docs_case(void **state)
{
	const json_t *c = *state;
	const char *kind = tvec_str(c, "kind");
	uint8_t h[32], addr[20], want[20];
	size_t n, sn;
	uint8_t *msg = tvec_hex(tvec_str(c, "message"), &n), *sig;

	assert_int_equal(eth_eip191_personal_hash(msg, n, h), 0);
	if (strcmp(kind, "personal") == 0) {
		testutil_assert_hex(h, 32, tvec_str(c, "hash"), "hash");
	} else {
		const char *a = tvec_str(c, "address");

		sig = tvec_hex(tvec_str(c, "signature"), &sn);
		assert_int_equal(sn, 65);
		assert_int_equal(eth_sig_recover_address(h, sig, addr), 0);
		assert_int_equal(eth_addr_parse(a, strlen(a), want, NULL), 0);
		assert_memory_equal(addr, want, 20);
		free(sig);
	}
	free(msg);
}

static void
test_clique_case(void **state)
{
	const json_t *c = *state;
	struct eth_eip191_clique *q = NULL;
	char errmsg[ERR_WHY_MAX], summary[ETH_EIP191_CLIQUE_SUMMARY_MAX];
	size_t n;
	uint8_t *hdr = tvec_hex(tvec_str(c, "header"), &n);
	int r;

	if ((r = eth_eip191_clique_parse(hdr, n, &q, errmsg)) != 0)
		fail_msg("refused: %s (%s)", err_name(r), errmsg);
	testutil_assert_hex(q->seal_hash, 32, tvec_str(c, "sealHash"), "seal hash");
	testutil_assert_hex(q->seal_rlp, q->seal_rlp_len, tvec_str(c, "sealRlp"), "seal rlp");
	eth_eip191_clique_summary(q, summary);
	assert_string_equal(summary, tvec_str(c, "summary"));
	eth_eip191_clique_free(q);
	free(hdr);
}

static void
test_clique_refused(void **state)
{
	const json_t *c = *state;
	struct eth_eip191_clique *q = (struct eth_eip191_clique *)1;
	char errmsg[ERR_WHY_MAX];
	size_t n;
	uint8_t *hdr = tvec_hex(tvec_str(c, "header"), &n);
	int r = eth_eip191_clique_parse(hdr, n, &q, errmsg);

	if (strcmp(err_name(r), tvec_str(c, "error")) != 0)
		fail_msg("got %s (%s), want %s", err_name(r), errmsg, tvec_str(c, "error"));
	assert_null(q);
	if (strstr(errmsg, tvec_str(c, "message")) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", errmsg, tvec_str(c, "message"));
	free(hdr);
}

static void
test_limits(void **state)
{
	struct eth_eip191_clique *q = (struct eth_eip191_clique *)1;
	uint8_t *big = calloc(1, LIMIT_SIGN_DATA_BYTES + 1), h[32], *out = (uint8_t *)1;
	uint8_t addr[20] = { 0 };
	size_t n = 7;

	(void)state;
	assert_non_null(big);
	assert_int_equal(eth_eip191_personal_hash(big, LIMIT_SIGN_DATA_BYTES, h), 0);
	assert_int_equal(eth_eip191_personal_hash(big, LIMIT_SIGN_DATA_BYTES + 1, h), ERR_TOO_LONG);
	assert_int_equal(eth_eip191_personal_message(big, LIMIT_SIGN_DATA_BYTES + 1, &out, &n),
	    ERR_TOO_LONG);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_int_equal(eth_eip191_validator_hash(addr, big, LIMIT_SIGN_DATA_BYTES + 1, h),
	    ERR_TOO_LONG);
	out = (uint8_t *)1;
	assert_int_equal(eth_eip191_validator_message(addr, big, LIMIT_SIGN_DATA_BYTES + 1,
	    &out, &n), ERR_TOO_LONG);
	assert_null(out);
	assert_int_equal(eth_eip191_clique_parse(big, LIMIT_SIGN_DATA_BYTES + 1, &q, NULL),
	    ERR_TOO_LONG);
	assert_null(q);
	/* Empty inputs are fine where they mean something, and NULL is a valid empty buffer. */
	assert_int_equal(eth_eip191_personal_hash(NULL, 0, h), 0);
	assert_int_equal(eth_eip191_validator_hash(addr, NULL, 0, h), 0);
	eth_eip191_clique_free(NULL);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = { cmocka_unit_test(test_limits) };
	int failed = 0;

	failed += tvec_run_file("eip191-personal", "tests/vectors/eip191/personal.json",
	    test_personal_case);
	failed += tvec_run_file("eip191-validator", "tests/vectors/eip191/validator.json",
	    test_validator_case);
	failed += tvec_run_file("eip191-clef-docs", "tests/vectors/eip191/clef-docs.json",
	    test_clef_docs_case);
	failed += tvec_run_file("clique", "tests/vectors/eip191/clique.json", test_clique_case);
	failed += tvec_run_file("clique-refused", "tests/vectors/eip191/clique-refused.json",
	    test_clique_refused);
	failed += tvec_run_file("clique-checkpoint", "tests/vectors/eip191/clique-checkpoint.json",
	    test_clique_case);
	failed += cmocka_run_group_tests_name("eip191-fixed", fixed, NULL, NULL);
	return failed != 0;
}
