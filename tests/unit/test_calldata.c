/*
 * Call data: ABI decoding by signature (src/eth/abi.h) and whole calls
 * (src/eth/calldata.h) against ethers.js, which encoded every vector
 * (tests/vectors/calldata/gen-calldata.js): the arguments ethers decodes,
 * the encodings ethers refuses or cannot re-encode to themselves, and for
 * whole calls the status, signature, summary and inner calls.  Refused
 * signatures and 4byte files, and the limits, are checked here.
 */
#include <stdlib.h>
#include <string.h>

#include "eth/abi.h"
#include "eth/calldata.h"
#include "eth/display.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"

#include "tvec.h"

static void
fail_json(const char *what, const json_t *got, const json_t *want)
{
	char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	fail_msg("%s: got %.600s\nwant %.600s", what, g != NULL ? g : "null",
	    w != NULL ? w : "null");
}

static void
test_abi_case(void **state)
{
	const json_t *c = *state;
	struct eth_abi_fn *fn = NULL;
	const char *sig = tvec_str(c, "signature");
	char errmsg[ERR_WHY_MAX], sel[11];
	uint8_t *data, s[4];
	size_t n, budget = LIMIT_ABI_VALUES;
	json_t *args = NULL;
	int r;

	data = tvec_hex(tvec_str(c, "data"), &n);
	assert_int_equal(eth_abi_fn_parse(sig, strlen(sig), &fn), 0);
	assert_string_equal(eth_abi_fn_signature(fn), tvec_str(c, "canonical"));
	eth_abi_fn_selector(fn, s);
	snprintf(sel, sizeof(sel), "0x%02x%02x%02x%02x", s[0], s[1], s[2], s[3]);
	assert_string_equal(sel, tvec_str(c, "selector"));
	assert_memory_equal(s, data, 4);
	if ((r = eth_abi_decode(fn, data + 4, n - 4, &budget, &args, errmsg)) != 0)
		fail_msg("refused: %s (%s)", err_name(r), errmsg);
	if (!json_equal(args, json_object_get(c, "args")))
		fail_json("args", args, json_object_get(c, "args"));
	json_decref(args);
	eth_abi_fn_free(fn);
	free(data);
}

static void
test_abi_refused(void **state)
{
	const json_t *c = *state;
	struct eth_abi_fn *fn = NULL;
	const char *sig = tvec_str(c, "signature");
	char errmsg[ERR_WHY_MAX];
	uint8_t *data;
	size_t n, budget = LIMIT_ABI_VALUES;
	json_t *args = (json_t *)1;
	int r;

	data = tvec_hex(tvec_str(c, "data"), &n);
	assert_int_equal(eth_abi_fn_parse(sig, strlen(sig), &fn), 0);
	r = eth_abi_decode(fn, data + 4, n - 4, &budget, &args, errmsg);
	if (r == 0)
		fail_msg("accepted");
	assert_null(args);
	assert_string_equal(err_name(r), tvec_str(c, "error"));
	assert_true(errmsg[0] != '\0');
	eth_abi_fn_free(fn);
	free(data);
}

/* want's members, where given, equal got's; "unlimited": false means absent. */
static void
check_expect(const json_t *got, const json_t *want, const char *where)
{
	static const char *const members[] = { "status", "signature", "source", "name",
	    "summary", "candidates", "operation", "to", "value_wei", "data_bytes" };
	const json_t *w, *g, *gcalls, *wcalls;
	char what[64];
	size_t i;

	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		if ((w = json_object_get(want, members[i])) == NULL)
			continue;
		g = json_object_get(got, members[i]);
		if (g == NULL || !json_equal(g, w)) {
			snprintf(what, sizeof(what), "%s%s", where, members[i]);
			fail_json(what, got, w);
		}
	}
	if ((w = json_object_get(want, "unlimited")) != NULL) {
		g = json_object_get(got, "unlimited");
		if (json_is_true(w) != json_is_true(g))
			fail_json("unlimited", got, w);
		if (json_is_false(w) && g != NULL)
			fail_json("unlimited (absent when false)", got, w);
	}
	if ((wcalls = json_object_get(want, "calls")) != NULL) {
		gcalls = json_object_get(got, "calls");
		if (json_array_size(gcalls) != json_array_size(wcalls))
			fail_json("calls", gcalls, wcalls);
		for (i = 0; i < json_array_size(wcalls); i++) {
			const json_t *gi = json_array_get(gcalls, i), *wi = json_array_get(wcalls, i);
			json_t *wcall = json_deep_copy(wi);
			json_t *witem = json_pack("{s:O*,s:O*,s:O*,s:O*}",
			    "operation", json_object_get(wi, "operation"),
			    "to", json_object_get(wi, "to"),
			    "value_wei", json_object_get(wi, "value_wei"),
			    "data_bytes", json_object_get(wi, "data_bytes"));

			/* the item's own members here, the inner call's on its "call" */
			check_expect(gi, witem, "calls[]: ");
			json_decref(witem);
			json_object_del(wcall, "operation");
			json_object_del(wcall, "to");
			json_object_del(wcall, "value_wei");
			json_object_del(wcall, "data_bytes");
			if (json_object_size(wcall) > 0)
				check_expect(json_object_get(gi, "call"), wcall, "calls[].call: ");
			json_decref(wcall);
		}
	}
}

static void
test_call_case(void **state)
{
	const json_t *c = *state;
	const json_t *fourbyte = json_object_get(c, "fourbyte"), *expect;
	struct eth_calldata_db *db = NULL;
	struct eth_u256 chain;
	const char *caller = json_string_value(json_object_get(c, "caller_sig"));
	const char *to_s = tvec_str(c, "to");
	char errmsg[ERR_WHY_MAX];
	uint8_t *data, to[ETH_ADDR_LEN];
	size_t n;
	json_t *call = (json_t *)1;
	int r;

	eth_u256_from_u64(&chain, (uint64_t)json_integer_value(json_object_get(c, "chainId")));
	assert_int_equal(eth_addr_parse(to_s, strlen(to_s), to, NULL), 0);
	data = tvec_hex(tvec_str(c, "data"), &n);
	assert_int_equal(eth_calldata_db_new(&db), 0);
	if (fourbyte != NULL) {
		char *text = json_dumps(fourbyte, JSON_COMPACT);

		if ((r = eth_calldata_db_load_4byte(db, text, strlen(text), errmsg)) != 0)
			fail_msg("4byte file refused: %s (%s)", err_name(r), errmsg);
		free(text);
	}
	assert_int_equal(eth_calldata_decode(db, &chain, to, data, n, caller, &call), 0);
	expect = json_object_get(c, "expect");
	if (json_is_null(expect))
		assert_null(call);
	else {
		assert_non_null(call);
		check_expect(call, expect, "");
		/* a decoded call has its arguments */
		if (strcmp(json_string_value(json_object_get(call, "status")), "decoded") == 0)
			assert_non_null(json_object_get(call, "args"));
	}
	json_decref(call);
	eth_calldata_db_free(db);
	free(data);
}

static void
test_signatures_refused(void **state)
{
	static const char *const bad[] = {
		"", "transfer", "transfer(", "transfer(address", "f(uint7)", "f(uint264)",
		"f(uint0)", "f(int9)", "f(bytes33)", "f(bytes0)", "f(bytes01)", "f(Foo)",
		"f(uint256[0])", "f(uint256[01])", "f(uint256[1025])", "f(uint256[)",
		"f()x", "(uint256)", "1f()", "f(uint256,)", "f(,uint256)", "f(uint256  a)",
		"f(uint256 a b)", "f(uint256 1a)", "f ()", "f((uint256)", "f(address,,bool)",
		"f(uint256[2]x)", "f(uint256[][][][][][][][][])", "f(())", "f(()[])",
		"f((((((((((uint256))))))))))",	/* 9 nested tuples */
	};
	struct eth_abi_fn *fn = (struct eth_abi_fn *)1;
	char many[16 + 8 * (LIMIT_ABI_PARAMS + 1)];
	size_t i, o;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (eth_abi_fn_parse(bad[i], strlen(bad[i]), &fn) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(fn);
	}
	/* LIMIT_ABI_PARAMS parameters pass, one more does not */
	o = (size_t)snprintf(many, sizeof(many), "f(");
	for (i = 0; i < LIMIT_ABI_PARAMS; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%sbool", i ? "," : "");
	snprintf(many + o, sizeof(many) - o, ")");
	assert_int_equal(eth_abi_fn_parse(many, strlen(many), &fn), 0);
	eth_abi_fn_free(fn);
	snprintf(many + o, sizeof(many) - o, ",bool)");
	assert_int_equal(eth_abi_fn_parse(many, strlen(many), &fn), ERR_TOO_MANY);
	/* the depth limit: 8 levels pass */
	assert_int_equal(eth_abi_fn_parse("f(uint256[][][][][][][][])", 26, &fn), 0);
	eth_abi_fn_free(fn);
	assert_int_equal(eth_abi_fn_parse("f(uint256[][][][][][][][][])", 28, &fn), ERR_TOO_DEEP);
	assert_int_equal(eth_abi_fn_parse("f(((((((((uint256)))))))))", 26, &fn), 0);
	eth_abi_fn_free(fn);
	eth_abi_fn_free(NULL);
}

/* Offsets that alias one array make many values from few bytes: the budget stops them. */
static void
test_value_budget(void **state)
{
	struct eth_abi_fn *fn = NULL;
	uint8_t data[32 * 70];
	size_t budget = LIMIT_ABI_VALUES, i;
	json_t *args = NULL;

	(void)state;
	/* f(uint256[]) with 68 items: 69 values */
	memset(data, 0, sizeof(data));
	data[31] = 0x20;
	data[63] = 68;
	assert_int_equal(eth_abi_fn_parse("f(uint256[])", 12, &fn), 0);
	assert_int_equal(eth_abi_decode(fn, data, 32 * 70, &budget, &args, NULL), 0);
	assert_int_equal(budget, LIMIT_ABI_VALUES - 69);
	json_decref(args);
	args = NULL;
	budget = 68;
	assert_int_equal(eth_abi_decode(fn, data, 32 * 70, &budget, &args, NULL), ERR_TOO_MANY);
	assert_null(args);
	for (i = 0; i < sizeof(data); i++)
		data[i] = 0;
	eth_abi_fn_free(fn);
}

static void
test_4byte_refused(void **state)
{
	static const char *const bad[] = {
		"[]", "{", "{\"a9059cbb\": 5}", "{\"a9059cb\": \"transfer(address,uint256)\"}",
		"{\"0xa9059cbb\": \"transfer(address,uint256)\"}",
		"{\"a9059cbg\": \"transfer(address,uint256)\"}",
		"{\"a9059cbc\": \"transfer(address,uint256)\"}",
		"{\"a9059cbb\": \"transfer(address,uint25)\"}",
		"{\"a9059cbb\": [\"transfer(address,uint256)\", 1]}",
		"{\"a9059cbb\": \"transfer(address,uint256)\", \"a9059cbb\": \"transfer(address,uint256)\"}",
		"{\"d0e30db0\": \"deposit()\", \"a9059cbb\": \"nope(\"}",
	};
	struct eth_calldata_db *db = NULL;
	char errmsg[ERR_WHY_MAX];
	size_t i, before;
	int r;

	(void)state;
	assert_int_equal(eth_calldata_db_new(&db), 0);
	before = eth_calldata_db_size(db);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if ((r = eth_calldata_db_load_4byte(db, bad[i], strlen(bad[i]), errmsg)) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_true(errmsg[0] != '\0');
		/* a refused file adds nothing */
		assert_int_equal(eth_calldata_db_size(db), before);
	}
	assert_int_equal(eth_calldata_db_load_4byte(db, "{}", LIMIT_4BYTEDB_BYTES + 1, NULL),
	    ERR_TOO_LONG);
	r = eth_calldata_db_load_4byte(db, "{\"d0e30db0\": \"deposit()\", \"12345678\": []}",
	    41, errmsg);
	if (r != 0)
		fail_msg("refused: %s", errmsg);
	assert_int_equal(eth_calldata_db_size(db), before);
	eth_calldata_db_free(db);
	eth_calldata_db_free(NULL);
}

/* call data for sig with the given ABI-encoded arguments */
static uint8_t *
call_data(const char *sig, const uint8_t *args, size_t n, size_t *lenp)
{
	struct eth_abi_fn *fn = NULL;
	uint8_t *d = malloc(4 + n);

	assert_non_null(d);
	assert_int_equal(eth_abi_fn_parse(sig, strlen(sig), &fn), 0);
	eth_abi_fn_selector(fn, d);
	eth_abi_fn_free(fn);
	memcpy(d + 4, args, n);
	*lenp = 4 + n;
	return d;
}

static void
put_word(uint8_t *w, uint64_t v)
{
	int i;

	memset(w, 0, 32);
	for (i = 0; i < 8; i++)
		w[31 - i] = (uint8_t)(v >> (8 * i));
}

/*
 * Long bytes and strings are cut for the approver (the raw data is what is
 * signed); a batch of more calls than the limit is undecodable, not an
 * error; nothing grows without bound from one request.
 */
static void
test_shown_values_bounded(void **state)
{
	static const uint8_t to[ETH_ADDR_LEN] = { 1 };
	struct eth_calldata_db *db = NULL;
	struct eth_u256 chain;
	uint8_t *args, *data;
	size_t n, len, i;
	json_t *call = NULL, *a;

	(void)state;
	eth_u256_from_u64(&chain, 1);
	assert_int_equal(eth_calldata_db_new(&db), 0);
	/* upgradeToAndCall(address, bytes of 3000) */
	n = 32 + 32 + 32 + 3008;
	assert_non_null(args = calloc(1, n));
	put_word(args + 32, 64);
	put_word(args + 64, 3000);
	memset(args + 96, 0xab, 3000);
	data = call_data("upgradeToAndCall(address,bytes)", args, n, &len);
	assert_int_equal(eth_calldata_decode(db, &chain, to, data, len, NULL, &call), 0);
	assert_string_equal(json_string_value(json_object_get(call, "status")), "decoded");
	a = json_array_get(json_object_get(call, "args"), 1);
	assert_true(json_is_true(json_object_get(a, "truncated")));
	assert_int_equal(json_integer_value(json_object_get(a, "bytes")), 3000);
	assert_int_equal(json_string_length(json_object_get(a, "value")),
	    2 + 2 * LIMIT_ABI_SHOWN_BYTES);
	json_decref(call);
	free(data);
	free(args);

	/* f(string) of 700 two-byte characters (1400 bytes): cut between characters */
	n = 32 + 32 + 1408;
	assert_non_null(args = calloc(1, n));
	put_word(args, 32);
	put_word(args + 32, 1400);
	for (i = 0; i < 1400; i += 2) {
		args[64 + i] = 0xc3;
		args[64 + i + 1] = 0xa9;
	}
	data = call_data("frob(string)", args, n, &len);
	assert_int_equal(eth_calldata_decode(db, &chain, to, data, len, "frob(string)", &call), 0);
	a = json_array_get(json_object_get(call, "args"), 0);
	assert_true(json_is_true(json_object_get(a, "truncated")));
	assert_int_equal(json_integer_value(json_object_get(a, "bytes")), 1400);
	assert_int_equal(json_string_length(json_object_get(a, "value")), LIMIT_ABI_SHOWN_BYTES);
	json_decref(call);
	free(data);
	free(args);

	/* multiSend of LIMIT_ABI_INNER_CALLS + 1 empty calls */
	n = 64 + (LIMIT_ABI_INNER_CALLS + 1) * 85 + 32;
	assert_non_null(args = calloc(1, n));
	put_word(args, 32);
	put_word(args + 32, (LIMIT_ABI_INNER_CALLS + 1) * 85);
	data = call_data("multiSend(bytes)", args, 64 + ((LIMIT_ABI_INNER_CALLS + 1) * 85 + 31) / 32 * 32,
	    &len);
	assert_int_equal(eth_calldata_decode(db, &chain, to, data, len, NULL, &call), 0);
	assert_string_equal(json_string_value(json_object_get(call, "status")), "undecodable");
	assert_string_equal(json_string_value(json_object_get(call, "error")), "too many calls");
	assert_int_equal(json_array_size(json_object_get(call, "calls")), LIMIT_ABI_INNER_CALLS);
	json_decref(call);
	free(data);
	free(args);
	eth_calldata_db_free(db);
}

static void
test_units(void **state)
{
	static const struct { uint64_t v; unsigned d; const char *want; } cases[] = {
		{ 250000000, 6, "250.0" }, { 1, 18, "0.000000000000000001" }, { 0, 6, "0.0" },
		{ 1500000, 6, "1.5" }, { 7, 0, "7" }, { 1000000000, 9, "1.0" },
		{ 123456789, 3, "123456.789" },
	};
	char out[ETH_DISPLAY_UNITS_MAX], sa[ETH_DISPLAY_SHORT_ADDR_MAX];
	struct eth_u256 v;
	uint8_t a[ETH_ADDR_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		eth_u256_from_u64(&v, cases[i].v);
		eth_display_units(&v, cases[i].d, out);
		assert_string_equal(out, cases[i].want);
	}
	assert_int_equal(eth_addr_parse("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", 42, a, NULL), 0);
	eth_display_short_address(a, sa);
	assert_string_equal(sa, "0xA0b8\xe2\x80\xa6" "eB48");
	eth_u256_from_u64(&v, 11155111);
	assert_string_equal(eth_display_chain_name(&v), "Sepolia");
	eth_u256_from_u64(&v, 999999);
	assert_null(eth_display_chain_name(&v));
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_signatures_refused),
		cmocka_unit_test(test_value_budget),
		cmocka_unit_test(test_4byte_refused),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_shown_values_bounded),
	};
	int failed = 0;

	failed += tvec_run_file("abi", "tests/vectors/calldata/abi.json", test_abi_case);
	failed += tvec_run_file("abi-refused", "tests/vectors/calldata/abi-refused.json",
	    test_abi_refused);
	failed += tvec_run_file("calls", "tests/vectors/calldata/calls.json", test_call_case);
	failed += cmocka_run_group_tests_name("calldata-fixed", fixed, NULL, NULL);
	return failed != 0;
}
