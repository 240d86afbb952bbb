/* EIP-55 addresses and token-signature handling (low-s, DER, recovery). */
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/sig.h"
#include "tvec.h"

static void
test_eip55_case(void **state)
{
	const json_t *c = *state;
	const char *cs = tvec_str(c, "address"), *lower = tvec_str(c, "lower");
	uint8_t a[20], b[20];
	char out[ETH_ADDR_STR];
	int ok = -1;

	assert_int_equal(eth_addr_parse(cs, strlen(cs), a, &ok), 0);
	assert_int_equal(ok, 1);
	eth_addr_to_checksum(a, out);
	assert_string_equal(out, cs);
	assert_int_equal(eth_addr_parse(lower, strlen(lower), b, &ok), 0);
	assert_memory_equal(a, b, 20);
	/* All lower case is not checksummed (as in Clef), unless it happens to be. */
	assert_int_equal(ok, strcmp(cs, lower) == 0);
	if (strcmp(cs, lower) != 0)
		assert_int_equal(eth_addr_parse_checksummed(lower, strlen(lower), b), ERR_ADDR_CHECKSUM);
	assert_int_equal(eth_addr_parse_checksummed(cs, strlen(cs), b), 0);
}

static void
test_addr_refused(void **state)
{
	static const char *bad[] = {
		"", "0x", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",	/* 39 digits */
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0",		/* 41 */
		"5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00",		/* no prefix */
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",		/* bad digit */
	};
	uint8_t a[20];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(eth_addr_parse(bad[i], strlen(bad[i]), a, NULL), ERR_ADDR_INVALID);
}

static void
test_sig_case(void **state)
{
	const json_t *c = *state;
	size_t n;
	uint8_t *pub = tvec_hex(tvec_str(c, "pubkey"), &n);
	uint8_t *digest = tvec_hex(tvec_str(c, "digest"), &n);
	uint8_t *low = tvec_hex(tvec_str(c, "low"), &n);
	uint8_t *high = tvec_hex(tvec_str(c, "high"), &n);
	uint8_t *der_low = NULL, *der_high = NULL, *comp = NULL;
	size_t dl, dh, cl;
	uint8_t sig[64], sig65[65], addr[20], want_addr[20], pub65[65];
	int flipped = -1, recid = -1, none;
	const char *wa = tvec_str(c, "address");

	der_low = tvec_hex(tvec_str(c, "der_low"), &dl);
	der_high = tvec_hex(tvec_str(c, "der_high"), &dh);
	comp = tvec_hex(tvec_str(c, "compressed"), &cl);
	assert_int_equal(eth_addr_parse(wa, strlen(wa), want_addr, NULL), 0);

	/* A low-s signature is left as it is and finds the oracle's recovery id. */
	memcpy(sig, low, 64);
	assert_int_equal(eth_sig_normalize(sig, &flipped), 0);
	assert_int_equal(flipped, 0);
	assert_memory_equal(sig, low, 64);
	assert_int_equal(eth_sig_find_recid(digest, sig, pub, &recid), 0);
	assert_int_equal(recid, json_integer_value(json_object_get(c, "recid")));
	/* ... and the same against the address alone, as the daemon finds it. */
	recid = -1;
	assert_int_equal(eth_sig_find_recid_addr(digest, sig, want_addr, &recid), 0);
	assert_int_equal(recid, json_integer_value(json_object_get(c, "recid")));

	/* A high-s signature, as tokens return about half the time, becomes the low one. */
	memcpy(sig, high, 64);
	assert_false(eth_sig_is_low_s(sig));
	assert_int_equal(eth_sig_find_recid(digest, sig, pub, &none), ERR_SIG_INVALID);
	assert_int_equal(eth_sig_find_recid_addr(digest, sig, want_addr, &none), ERR_SIG_INVALID);
	assert_int_equal(none, -1);
	assert_int_equal(eth_sig_normalize(sig, &flipped), 0);
	assert_int_equal(flipped, 1);
	assert_memory_equal(sig, low, 64);

	/* DER from the token, either s. */
	assert_int_equal(eth_sig_parse_token(der_high, dh, sig), 0);
	assert_memory_equal(sig, high, 64);
	assert_int_equal(eth_sig_parse_token(der_low, dl, sig), 0);
	assert_memory_equal(sig, low, 64);
	assert_int_equal(eth_sig_parse_token(der_low, dl - 1, sig), ERR_SIG_INVALID);
	assert_int_equal(eth_sig_parse_token(low, 63, sig), ERR_SIG_INVALID);

	/* ecrecover with v as 0/1 and 27/28. */
	memcpy(sig65, low, 64);
	sig65[64] = (uint8_t)(27 + recid);
	assert_int_equal(eth_sig_recover_address(digest, sig65, addr), 0);
	assert_memory_equal(addr, want_addr, 20);
	sig65[64] = (uint8_t)recid;
	assert_int_equal(eth_sig_recover_address(digest, sig65, addr), 0);
	assert_memory_equal(addr, want_addr, 20);
	sig65[64] = 29;
	assert_int_equal(eth_sig_recover_address(digest, sig65, addr), ERR_SIG_INVALID);

	/* Another key's address: neither recovery id gives it. */
	want_addr[19] ^= 1;
	assert_int_equal(eth_sig_find_recid_addr(digest, low, want_addr, &recid), ERR_SIG_RECOVERY);
	assert_int_equal(recid, -1);
	want_addr[19] ^= 1;

	/* The wrong digest verifies under neither recovery id. */
	digest[0] ^= 1;
	assert_int_equal(eth_sig_find_recid(digest, low, pub, &recid), ERR_SIG_RECOVERY);
	assert_int_equal(eth_sig_find_recid_addr(digest, low, want_addr, &recid), ERR_SIG_RECOVERY);
	assert_int_equal(recid, -1);

	/* Public keys: compressed form expands to the same key and address. */
	assert_int_equal(eth_sig_pubkey_parse(comp, cl, pub65), 0);
	assert_memory_equal(pub65, pub, 65);
	assert_int_equal(eth_addr_from_pubkey(pub65, addr), 0);
	assert_memory_equal(addr, want_addr, 20);
	pub65[64] ^= 1;		/* off the curve */
	assert_int_equal(eth_sig_pubkey_parse(pub65, 65, pub65), ERR_PUBKEY_INVALID);
	free(pub); free(digest); free(low); free(high);
	free(der_low); free(der_high); free(comp);
}

static void
test_sig_refused(void **state)
{
	uint8_t sig[64];

	(void)state;
	memset(sig, 0, sizeof(sig));
	sig[63] = 1;
	assert_int_equal(eth_sig_normalize(sig, NULL), ERR_SIG_INVALID);	/* r = 0 */
	memset(sig, 0xff, sizeof(sig));
	assert_int_equal(eth_sig_normalize(sig, NULL), ERR_SIG_INVALID);	/* r, s >= n */
	assert_int_equal(eth_sig_parse_token(sig, 64, sig), ERR_SIG_INVALID);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_addr_refused),
		cmocka_unit_test(test_sig_refused),
	};
	json_t *sig = tvec_load("tests/vectors/core/sig.json");
	int failed = 0;

	failed += tvec_run_file("eip55", "tests/vectors/core/eip55.json", test_eip55_case);
	failed += tvec_run("sig", sig, test_sig_case);
	failed += cmocka_run_group_tests_name("refused", fixed, NULL, NULL);
	json_decref(sig);
	return failed != 0;
}
