/* RLP: encodings from ethers.js round-trip; non-canonical input is refused. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/hex.h"
#include "eth/rlp.h"
#include "tvec.h"

/* Encode a vector item: a hex string is a byte string, an array a list. */
static void
encode_item(struct eth_buf *b, const json_t *item)
{
	if (json_is_string(item)) {
		size_t n;
		uint8_t *p = tvec_hex(json_string_value(item), &n);
		assert_int_equal(eth_rlp_put_bytes(b, p, n), 0);
		free(p);
	} else {
		size_t at = eth_rlp_list_begin(b), i;
		assert_true(json_is_array(item));
		for (i = 0; i < json_array_size(item); i++)
			encode_item(b, json_array_get(item, i));
		assert_int_equal(eth_rlp_list_end(b, at), 0);
	}
}

/* Decode an item and compare it with the vector's structure. */
static int
check_decoded(const struct eth_rlp_item *it, const json_t *want, int depth)
{
	if (depth > 16)
		return ERR_TOO_DEEP;
	if (json_is_string(want)) {
		size_t n;
		uint8_t *p = tvec_hex(json_string_value(want), &n);
		assert_false(it->is_list);
		assert_int_equal(it->len, n);
		if (n > 0)
			assert_memory_equal(it->payload, p, n);
		free(p);
	} else {
		const uint8_t *in = it->payload;
		size_t len = it->len, i;
		struct eth_rlp_item child;
		assert_true(it->is_list);
		for (i = 0; i < json_array_size(want); i++) {
			assert_int_equal(eth_rlp_next(&in, &len, &child), 0);
			check_decoded(&child, json_array_get(want, i), depth + 1);
		}
		assert_int_equal(len, 0);
	}
	return 0;
}

static void
test_rlp_case(void **state)
{
	const json_t *c = *state;
	struct eth_buf b;
	struct eth_rlp_item it;
	size_t n;
	uint8_t *want = tvec_hex(tvec_str(c, "encoded"), &n);

	eth_buf_init(&b, 0);
	encode_item(&b, json_object_get(c, "item"));
	assert_int_equal(b.len, n);
	assert_memory_equal(b.p, want, n);
	assert_int_equal(eth_rlp_decode_one(want, n, &it), 0);
	assert_int_equal(it.raw_len, n);
	check_decoded(&it, json_object_get(c, "item"), 0);
	eth_buf_free(&b);
	free(want);
}

/* Walk every nested item; return the first error. */
static int
walk(const uint8_t *in, size_t len, int depth)
{
	struct eth_rlp_item it;
	int r;

	if (depth > 16)
		return ERR_TOO_DEEP;
	while (len > 0) {
		if ((r = eth_rlp_next(&in, &len, &it)) != 0)
			return r;
		if (it.is_list && (r = walk(it.payload, it.len, depth + 1)) != 0)
			return r;
	}
	return 0;
}

static void
test_rlp_refused(void **state)
{
	const json_t *c = *state;
	struct eth_rlp_item it;
	size_t n;
	uint8_t *in = tvec_hex(tvec_str(c, "input"), &n);
	int r = eth_rlp_decode_one(in, n, &it);

	if (r == 0 && json_is_true(json_object_get(c, "deep")))
		r = walk(it.payload, it.len, 0);
	if (strcmp(err_name(r), tvec_str(c, "error")) != 0)
		fail_msg("got %s, want %s", err_name(r), tvec_str(c, "error"));
	free(in);
}

static void
test_rlp_integers(void **state)
{
	struct eth_rlp_item it;
	struct eth_u256 v;
	uint64_t u;
	static const uint8_t zero_prefixed[] = { 0x82, 0x00, 0x01 };
	static const uint8_t empty[] = { 0x80 };
	static const uint8_t list[] = { 0xc0 };
	uint8_t big[34] = { 0xa1, 0x01 };

	(void)state;
	assert_int_equal(eth_rlp_decode_one(zero_prefixed, 3, &it), 0);
	assert_int_equal(eth_rlp_item_uint(&it, &v), ERR_RLP_NONCANONICAL);
	assert_int_equal(eth_rlp_decode_one(empty, 1, &it), 0);
	assert_int_equal(eth_rlp_item_u64(&it, &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(eth_rlp_decode_one(list, 1, &it), 0);
	assert_int_equal(eth_rlp_item_uint(&it, &v), ERR_RLP_EXPECTED_STRING);
	assert_int_equal(eth_rlp_decode_one(big, 34, &it), 0);	/* 33-byte string */
	assert_int_equal(eth_rlp_item_uint(&it, &v), ERR_RLP_SIZE);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = { cmocka_unit_test(test_rlp_integers) };
	int failed = 0;

	failed += tvec_run_file("rlp", "tests/vectors/core/rlp.json", test_rlp_case);
	failed += tvec_run_file("rlp-refused", "tests/vectors/core/rlp-refused.json",
	    test_rlp_refused);
	failed += cmocka_run_group_tests_name("rlp-integers", fixed, NULL, NULL);
	return failed != 0;
}
