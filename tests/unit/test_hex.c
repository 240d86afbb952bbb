/* Strict hex, quantity, decimal and ParseBig256-style parsing (src/eth/hex, u256). */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/hex.h"
#include "eth/u256.h"
#include "tvec.h"

static void
assert_error_named(int r, const json_t *c)
{
	const char *want = tvec_str(c, "error");

	if (strcmp(err_name(r), want) != 0)
		fail_msg("got %s (%d), want %s", err_name(r), r, want);
}

static void
test_hex_case(void **state)
{
	const json_t *c = *state;
	const char *in = tvec_str(c, "input");
	json_t *max = json_object_get(c, "max");
	uint8_t *out = NULL, fixed[64];
	size_t n = 0, wantn;
	char *enc;
	int r;

	r = eth_hex_decode(in, strlen(in), max ? (size_t)json_integer_value(max) : 1024, &out, &n);
	if (json_object_get(c, "error") != NULL) {
		assert_error_named(r, c);
		assert_null(out);
		return;
	}
	assert_int_equal(r, 0);
	enc = eth_hex_encode(out, n);
	assert_string_equal(enc, tvec_str(c, "bytes"));
	wantn = n;
	assert_int_equal(eth_hex_decode_fixed(in, strlen(in), fixed, wantn), 0);
	assert_memory_equal(fixed, out, wantn);
	assert_int_equal(eth_hex_decode_fixed(in, strlen(in), fixed, wantn + 1), ERR_HEX_WRONG_LENGTH);
	free(enc);
	free(out);
}

typedef int (*parse_fn)(const char *, size_t, struct eth_u256 *);

static void
check_number(const json_t *c, parse_fn parse)
{
	const char *in = tvec_str(c, "input");
	struct eth_u256 v, sentinel, again;
	char dec[ETH_U256_DECIMAL_MAX], q[ETH_U256_QUANTITY_MAX];
	int r;

	memset(&v, 0xa5, sizeof(v));
	sentinel = v;
	r = parse(in, strlen(in), &v);
	if (json_object_get(c, "error") != NULL) {
		assert_error_named(r, c);
		assert_memory_equal(&v, &sentinel, sizeof(v));	/* untouched on failure */
		return;
	}
	assert_int_equal(r, 0);
	eth_u256_to_decimal(&v, dec);
	eth_u256_to_quantity(&v, q);
	if (json_object_get(c, "decimal") != NULL)
		assert_string_equal(dec, tvec_str(c, "decimal"));
	if (json_object_get(c, "quantity") != NULL)
		assert_string_equal(q, tvec_str(c, "quantity"));
	if (json_object_get(c, "canonical") != NULL)
		assert_string_equal(q, tvec_str(c, "canonical"));
	/* Round trips through both canonical forms. */
	assert_int_equal(eth_u256_parse_quantity(q, strlen(q), &again), 0);
	assert_int_equal(eth_u256_cmp(&v, &again), 0);
	assert_int_equal(eth_u256_parse_decimal(dec, strlen(dec), &again), 0);
	assert_int_equal(eth_u256_cmp(&v, &again), 0);
}

static void test_quantity_case(void **state) { check_number(*state, eth_u256_parse_quantity); }
static void test_decimal_case(void **state) { check_number(*state, eth_u256_parse_decimal); }
static void test_big_case(void **state) { check_number(*state, eth_u256_parse_big); }

static void
test_arithmetic(void **state)
{
	struct eth_u256 a, b, r, max;
	uint8_t be[32], min[32];
	uint64_t u, rem;

	(void)state;
	memset(&max, 0xff, sizeof(max));
	eth_u256_from_u64(&a, 1);
	assert_int_equal(eth_u256_add(&r, &max, &a), 1);	/* overflow */
	assert_true(eth_u256_is_zero(&r));
	assert_int_equal(eth_u256_sub(&r, &r, &a), 1);		/* borrow */
	assert_int_equal(eth_u256_cmp(&r, &max), 0);
	assert_int_equal(eth_u256_mul(&r, &max, &max), 1);
	eth_u256_from_u64(&a, 0xffffffffffffffffULL);
	eth_u256_from_u64(&b, 0xffffffffffffffffULL);
	assert_int_equal(eth_u256_mul(&r, &a, &b), 0);
	assert_int_equal(r.w[0], 1);
	assert_int_equal(r.w[1], 0xfffffffffffffffeULL);
	assert_int_equal(eth_u256_to_u64(&r, &u), ERR_NUMBER_RANGE);
	assert_int_equal(eth_u256_bits(&r), 128);
	eth_u256_neg(&r, &a);
	assert_int_equal(r.w[0], 1);
	assert_int_equal(r.w[3], 0xffffffffffffffffULL);
	eth_u256_divmod_u64(&r, &rem, &max, 1000);
	assert_int_equal(rem, 935);
	eth_u256_to_be(&a, be);
	assert_int_equal(eth_u256_to_be_min(&a, min), 8);
	assert_memory_equal(min, be + 24, 8);
	eth_u256_from_u64(&a, 0);
	assert_int_equal(eth_u256_to_be_min(&a, min), 0);
	assert_int_equal(eth_u256_bits(&a), 0);
	/* 33 bytes with a leading zero fit; 33 significant bytes do not. */
	memset(be, 0, sizeof(be));
	{
		uint8_t b33[33] = { 0, 1 };
		assert_int_equal(eth_u256_from_be(b33, 33, &a), 0);
		b33[0] = 1;
		assert_int_equal(eth_u256_from_be(b33, 33, &a), ERR_UINT256_OVERFLOW);
	}
}

int
main(void)
{
	const struct CMUnitTest fixed[] = { cmocka_unit_test(test_arithmetic) };
	json_t *hex = tvec_load("tests/vectors/core/hex.json");
	json_t *dec = tvec_load("tests/vectors/core/decimal.json");
	int failed = 0;

	failed += tvec_run("hex", hex, test_hex_case);
	failed += tvec_run_file("quantity", "tests/vectors/core/quantity.json",
	    test_quantity_case);
	failed += tvec_run("decimal", dec, test_decimal_case);
	failed += tvec_run_file("big", "tests/vectors/core/big.json", test_big_case);
	failed += cmocka_run_group_tests_name("u256", fixed, NULL, NULL);
	json_decref(hex);
	json_decref(dec);
	return failed != 0;
}
