/* What p11signer-approve does to text before a person sees it (src/approve/text). */
#include <stdlib.h>
#include <string.h>

#include "approve/text.h"
#include "tvec.h"

static void
test_text_case(void **state)
{
	const json_t *c = *state, *want = json_object_get(c, "want");
	const char *fn = tvec_str(c, "fn");
	char *got;

	if (strcmp(fn, "escape") == 0) {
		const char *hex = tvec_str(c, "input_hex");
		char *prefixed = malloc(strlen(hex) + 3);
		size_t n = 0;
		uint8_t *in;

		assert_non_null(prefixed);
		memcpy(prefixed, "0x", 2);
		memcpy(prefixed + 2, hex, strlen(hex) + 1);
		in = tvec_hex(prefixed, &n);
		got = approve_text_escape(in != NULL ? (const char *)in : "", n);
		free(in);
		free(prefixed);
	} else
		got = approve_text_units(tvec_str(c, "input"),
		    (unsigned)json_integer_value(json_object_get(c, "decimals")));
	if (json_is_null(want))
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, json_string_value(want));
	}
	free(got);
}

static void
test_chain_names(void **state)
{
	(void)state;
	assert_string_equal(approve_text_chain_name("1"), "Ethereum mainnet");
	assert_string_equal(approve_text_chain_name("11155111"), "Sepolia (testnet)");
	assert_null(approve_text_chain_name("01"));
	assert_null(approve_text_chain_name("999999999"));
	assert_null(approve_text_chain_name(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_chain_names) };
	int failed;

	failed = tvec_run_file("approve_text", "tests/vectors/approve/text.json",
	    test_text_case);
	failed += cmocka_run_group_tests(tests, NULL, NULL);
	return failed != 0;
}
