/* EIP-55 addresses and token-signature handling (low-s, DER, recovery). */
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

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
	/* ... and the same for the address with its key, as the daemon verifies. */
	recid = -1;
	assert_int_equal(eth_sig_verify_addr(digest, sig, pub, want_addr, &recid), 0);
	assert_int_equal(recid, json_integer_value(json_object_get(c, "recid")));

	/* A high-s signature, as tokens return about half the time, becomes the low one. */
	memcpy(sig, high, 64);
	assert_false(eth_sig_is_low_s(sig));
	assert_int_equal(eth_sig_find_recid(digest, sig, pub, &none), ERR_SIG_INVALID);
	assert_int_equal(eth_sig_verify_addr(digest, sig, pub, want_addr, &none), ERR_SIG_INVALID);
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

	/* Another address than the key's. */
	want_addr[19] ^= 1;
	assert_int_equal(eth_sig_verify_addr(digest, low, pub, want_addr, &recid), ERR_SIG_RECOVERY);
	assert_int_equal(recid, -1);
	want_addr[19] ^= 1;

	/* The wrong digest verifies under neither recovery id. */
	digest[0] ^= 1;
	assert_int_equal(eth_sig_find_recid(digest, low, pub, &recid), ERR_SIG_RECOVERY);
	assert_int_equal(eth_sig_verify_addr(digest, low, pub, want_addr, &recid), ERR_SIG_RECOVERY);
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

/* n, the group order, as GMP sees it. */
static void
order(mpz_t n)
{
	mpz_init_set_str(n, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16);
}

static void
mpz_to32(uint8_t out[32], const mpz_t v)
{
	size_t len = (mpz_sizeinbase(v, 2) + 7) / 8, cnt;

	memset(out, 0, 32);
	if (mpz_sgn(v) != 0)
		mpz_export(out + 32 - len, &cnt, 1, 1, 1, 0, v);
}

/*
 * One signature's verification, against the public key and as the daemon
 * does it (the key of an address), and with r, s or the digest altered:
 * refused, whichever route the key takes.  want_recid is the oracle's.
 */
static void
assert_verifies(const uint8_t digest[32], const uint8_t sig[64], const uint8_t pub[65],
    int want_recid)
{
	uint8_t addr[20], bad[64], d2[32];
	int recid = -1, i;

	assert_int_equal(eth_addr_from_pubkey(pub, addr), 0);
	assert_int_equal(eth_sig_find_recid(digest, sig, pub, &recid), 0);
	assert_int_equal(recid, want_recid);
	recid = -1;
	assert_int_equal(eth_sig_verify_addr(digest, sig, pub, addr, &recid), 0);
	assert_int_equal(recid, want_recid);
	for (i = 0; i < 3; i++) {
		memcpy(bad, sig, 64);
		memcpy(d2, digest, 32);
		if (i == 0)
			bad[31] ^= 4;		/* r */
		else if (i == 1)
			bad[63] ^= 4;		/* s (still low) */
		else
			d2[17] ^= 1;
		recid = 7;
		assert_int_not_equal(eth_sig_find_recid(d2, bad, pub, &recid), 0);
		assert_int_equal(recid, -1);
		assert_int_not_equal(eth_sig_verify_addr(d2, bad, pub, addr, &recid), 0);
	}
}

/*
 * eth_sig_find_recid() computes ECDSA's point R with one recovery: against
 * libsecp256k1's own signatures over 300 keys and digests, the recovery id
 * it finds is the signer's; random r and s verify neither by it nor by
 * plain recovery.
 */
static void
test_sig_verify_point(void **state)
{
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_pubkey pk;
	uint8_t key[32], digest[32], sig[64], pub[65], got[65];
	size_t len;
	int i, j, recid, seen[2] = { 0, 0 };

	(void)state;
	srandom(20);
	for (i = 0; i < 300; i++) {
		for (j = 0; j < 32; j++) {
			key[j] = (uint8_t)random();
			digest[j] = (uint8_t)random();
		}
		if (i == 1)
			memset(digest, 0, 32);	/* z = 0: z' = 0 too */
		if (!secp256k1_ec_pubkey_create(ctx, &pk, key))
			continue;
		len = 65;
		secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
		assert_true(secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, key, NULL, NULL));
		secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &rs);
		assert_true(recid == 0 || recid == 1);
		seen[recid]++;
		assert_verifies(digest, sig, pub, recid);
		/* Random r and (low) s: no signature, by either route. */
		for (j = 0; j < 64; j++)
			sig[j] = (uint8_t)random();
		sig[32] &= 0x3f;
		assert_int_not_equal(eth_sig_find_recid(digest, sig, pub, &recid), 0);
		for (j = 0; j <= 1; j++)
			assert_true(eth_sig_recover(digest, sig, j, got) != 0 ||
			    memcmp(got, pub, 65) != 0);
	}
	assert_true(seen[0] > 100 && seen[1] > 100);
	secp256k1_context_destroy(ctx);
}

/*
 * The one route left for a public key whose x is not below n (one key in
 * about 2^128, so made here without a private key): a point with x = n + k,
 * and signatures made for it from R = aG + bQ: r = x(R), s = r / b,
 * z = a s, which verify since s R = a s G + s b Q = z G + r Q.
 */
static void
test_sig_high_x_key(void **state)
{
	secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_pubkey q, ag, bq, rpt;
	const secp256k1_pubkey *both[2];
	uint8_t q33[33], r33[33], pub[65], a32[32], b32[32], digest[32], sig[64];
	mpz_t n, v, a, b, s;
	size_t len;
	int k, i, j, recid, made = 0;

	(void)state;
	order(n);
	mpz_inits(v, a, b, s, NULL);
	q33[0] = 0x02;
	for (k = 0; k < 1000; k++) {
		mpz_add_ui(v, n, (unsigned long)k);
		mpz_to32(q33 + 1, v);
		if (secp256k1_ec_pubkey_parse(ctx, &q, q33, 33))
			break;
	}
	assert_true(k < 1000);
	len = 65;
	secp256k1_ec_pubkey_serialize(ctx, pub, &len, &q, SECP256K1_EC_UNCOMPRESSED);
	srandom(21);
	for (i = 0; i < 40; i++) {
		for (j = 0; j < 32; j++) {
			a32[j] = (uint8_t)random();
			b32[j] = (uint8_t)random();
		}
		bq = q;
		if (!secp256k1_ec_pubkey_create(ctx, &ag, a32) ||
		    !secp256k1_ec_pubkey_tweak_mul(ctx, &bq, b32))
			continue;
		both[0] = &ag;
		both[1] = &bq;
		if (!secp256k1_ec_pubkey_combine(ctx, &rpt, both, 2))
			continue;
		len = 33;
		secp256k1_ec_pubkey_serialize(ctx, r33, &len, &rpt, SECP256K1_EC_COMPRESSED);
		mpz_import(v, 32, 1, 1, 1, 0, r33 + 1);			/* r = x(R) */
		if (mpz_cmp(v, n) >= 0)
			continue;
		mpz_import(a, 32, 1, 1, 1, 0, a32);
		mpz_import(b, 32, 1, 1, 1, 0, b32);
		assert_true(mpz_invert(s, b, n) != 0);
		mpz_mul(s, s, v);
		mpz_mod(s, s, n);					/* s = r / b */
		mpz_mul(a, a, s);
		mpz_mod(a, a, n);					/* z = a s */
		recid = r33[0] - 2;
		mpz_tdiv_q_2exp(b, n, 1);
		if (mpz_cmp(s, b) > 0) {
			mpz_sub(s, n, s);	/* low s: -s signs with -R */
			recid ^= 1;
		}
		mpz_to32(sig, v);
		mpz_to32(sig + 32, s);
		mpz_to32(digest, a);
		assert_verifies(digest, sig, pub, recid);
		made++;
	}
	assert_true(made > 30);
	mpz_clears(n, v, a, b, s, NULL);
	secp256k1_context_destroy(ctx);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_addr_refused),
		cmocka_unit_test(test_sig_refused),
		cmocka_unit_test(test_sig_verify_point),
		cmocka_unit_test(test_sig_high_x_key),
	};
	json_t *sig = tvec_load("tests/vectors/core/sig.json");
	int failed = 0;

	failed += tvec_run_file("eip55", "tests/vectors/core/eip55.json", test_eip55_case);
	failed += tvec_run("sig", sig, test_sig_case);
	failed += cmocka_run_group_tests_name("refused", fixed, NULL, NULL);
	json_decref(sig);
	return failed != 0;
}
