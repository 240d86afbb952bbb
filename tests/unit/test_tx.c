/*
 * Transactions: SendTxArgs parsing (accepted and refused), signing hashes,
 * signed encodings, geth's JSON and decoding, against ethers.js known answers
 * (tests/vectors/tx/gen-tx.js), Clef's own request files and documentation,
 * and go-ethereum's TestTxArgs.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "core/buf.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"
#include "eth/rlp.h"
#include "eth/tx.h"
#include "testutil.h"
#include "tvec.h"

/* ---- helpers ------------------------------------------------------------ */

static struct eth_u256
quantity(const char *s)
{
	struct eth_u256 v;

	assert_non_null(s);
	if (eth_u256_parse_quantity(s, strlen(s), &v) != 0)
		fail_msg("vector has a bad quantity %s", s);
	return v;
}

static void
assert_json_same(const json_t *got, const json_t *want, const char *what)
{
	char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);

	assert_non_null(g);
	assert_non_null(w);
	/* Text comparison: member order is part of geth's format. */
	if (strcmp(g, w) != 0)
		fail_msg("%s:\n got  %s\n want %s", what, g, w);
	free(g);
	free(w);
}

static void
assert_err(int got, const char *want, const char *what)
{
	if (strcmp(err_name(got), want) != 0)
		fail_msg("%s: got %s, want %s", what, err_name(got), want);
}

/* r || s (64 bytes) of a vector. */
static void
vector_sig(const json_t *c, uint8_t sig64[64])
{
	size_t n;
	uint8_t *p = tvec_hex(tvec_str(c, "sig"), &n);

	assert_int_equal(n, 64);
	memcpy(sig64, p, 64);
	free(p);
}

static void
assert_roundtrip_raw(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    const char *raw_hex)
{
	uint8_t *raw = NULL;
	size_t n = 0;

	assert_int_equal(eth_tx_encode_signed(tx, sig64, recid, &raw, &n), 0);
	testutil_assert_hex(raw, n, raw_hex, "raw");
	free(raw);
}

/* Everything a decoded transaction must give back. */
static struct eth_tx *
decode_and_check(const json_t *c, uint8_t sig64[64], int *recidp)
{
	const char *raw_hex = tvec_str(c, "raw");
	struct eth_tx *tx = NULL;
	uint8_t h[32], addr[20], want_addr[20];
	size_t n;
	uint8_t *raw = tvec_hex(raw_hex, &n);
	const char *from = tvec_str(c, "from");

	assert_int_equal(eth_tx_decode_signed(raw, n, &tx, sig64, recidp), 0);
	assert_non_null(tx);
	assert_int_equal(tx->type, json_integer_value(json_object_get(c, "type")));
	assert_roundtrip_raw(tx, sig64, *recidp, raw_hex);
	assert_int_equal(eth_tx_hash(tx, sig64, *recidp, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "hash"), "tx hash of decoded");
	assert_int_equal(eth_tx_recover_sender(tx, sig64, *recidp, addr), 0);
	assert_int_equal(eth_addr_parse(from, strlen(from), want_addr, NULL), 0);
	assert_memory_equal(addr, want_addr, 20);
	free(raw);
	return tx;
}

/* ---- ethers.js known answers -------------------------------------------- */

static void
test_kat_case(void **state)
{
	const json_t *c = *state;
	struct eth_u256 chain = quantity(tvec_str(c, "defaultChainId"));
	struct eth_tx *tx = NULL, *dtx;
	struct eth_tx_request req;
	char errmsg[ERR_WHY_MAX];
	uint8_t sig64[64], dsig[64], h[32], addr[20];
	json_t *j = NULL, *dj = NULL;
	int recid = (int)json_integer_value(json_object_get(c, "recid")), drecid;
	int r;

	vector_sig(c, sig64);
	r = eth_tx_from_send_args(json_object_get(c, "args"), &chain, &tx, &req, errmsg);
	if (r != 0)
		fail_msg("refused: %s (%s)", err_name(r), errmsg);
	assert_int_equal(tx->type, json_integer_value(json_object_get(c, "type")));
	assert_int_equal(eth_tx_signing_hash(tx, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "signingHash"), "signing hash");
	assert_roundtrip_raw(tx, sig64, recid, tvec_str(c, "raw"));
	assert_int_equal(eth_tx_hash(tx, sig64, recid, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "hash"), "tx hash");
	assert_int_equal(eth_tx_to_json(tx, sig64, recid, &j), 0);
	assert_json_same(j, json_object_get(c, "json"), "geth JSON");
	assert_int_equal(eth_tx_recover_sender(tx, sig64, recid, addr), 0);
	assert_int_equal(memcmp(addr, req.from, 20), 0);

	/* And back: the raw decodes to the same transaction. */
	dtx = decode_and_check(c, dsig, &drecid);
	assert_memory_equal(dsig, sig64, 64);
	assert_int_equal(drecid, recid);
	assert_int_equal(eth_tx_signing_hash(dtx, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "signingHash"), "signing hash of decoded");
	assert_int_equal(eth_tx_to_json(dtx, dsig, drecid, &dj), 0);
	assert_json_same(dj, json_object_get(c, "json"), "geth JSON of decoded");
	assert_int_equal(dtx->eip155, tx->eip155);
	assert_int_equal(eth_u256_cmp(&dtx->chain_id, &tx->chain_id), 0);
	json_decref(j);
	json_decref(dj);
	eth_tx_free(dtx);
	eth_tx_free(tx);
}

/* Forms no request produces: a pre-EIP-155 legacy transaction. */
static void
test_decode_case(void **state)
{
	const json_t *c = *state;
	struct eth_tx *tx;
	uint8_t sig64[64], want[64], h[32];
	json_t *j = NULL;
	int recid;

	tx = decode_and_check(c, sig64, &recid);
	vector_sig(c, want);
	assert_memory_equal(sig64, want, 64);
	assert_int_equal(recid, json_integer_value(json_object_get(c, "recid")));
	assert_int_equal(tx->eip155, json_is_true(json_object_get(c, "eip155")));
	struct eth_u256 chain = quantity(tvec_str(c, "chainId"));
	assert_int_equal(eth_u256_cmp(&tx->chain_id, &chain), 0);
	assert_int_equal(eth_tx_signing_hash(tx, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "signingHash"), "signing hash");
	assert_int_equal(eth_tx_to_json(tx, sig64, recid, &j), 0);
	assert_json_same(j, json_object_get(c, "json"), "geth JSON");
	json_decref(j);
	eth_tx_free(tx);
}

static void
test_decode_refused(void **state)
{
	const json_t *c = *state;
	struct eth_tx *tx = (struct eth_tx *)1;
	uint8_t sig64[64];
	size_t n;
	uint8_t *raw = tvec_hex(tvec_str(c, "raw"), &n);
	int recid = -7, r;

	r = eth_tx_decode_signed(raw, n, &tx, sig64, &recid);
	assert_err(r, tvec_str(c, "error"), "decode");
	assert_null(tx);
	assert_int_equal(recid, -7);
	free(raw);
}

/* ---- SendTxArgs accepted and refused ------------------------------------ */

static void
test_send_args_case(void **state)
{
	const json_t *c = *state;
	const char *want = tvec_str(c, "error");
	struct eth_u256 chain;
	struct eth_tx *tx = (struct eth_tx *)1;
	char errmsg[ERR_WHY_MAX];
	int r;

	eth_u256_from_u64(&chain, 1);
	r = eth_tx_from_send_args(json_object_get(c, "args"), &chain, &tx, NULL, errmsg);
	if (strcmp(want, "ERR_OK") == 0) {
		if (r != 0)
			fail_msg("refused: %s (%s)", err_name(r), errmsg);
		assert_int_equal(tx->type, json_integer_value(json_object_get(c, "type")));
		eth_tx_free(tx);
		return;
	}
	assert_err(r, want, "parse");
	assert_null(tx);
	if (strstr(errmsg, tvec_str(c, "message")) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", errmsg, tvec_str(c, "message"));
	/* The message goes into a JSON-RPC error: one printable line. */
	for (const char *p = errmsg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			fail_msg("message has byte 0x%02x", (unsigned char)*p);
}

/* ---- the most a transaction can cost ---------------------------------------- */

/* Expected figures are Python integers (tests/vectors/tx/max-cost.json). */
static void
test_max_cost_case(void **state)
{
	const json_t *c = *state;
	const char *want = tvec_str(c, "max_cost");
	struct eth_u256 chain, cost, expect;
	struct eth_tx *tx = NULL;
	char errmsg[ERR_WHY_MAX];
	char got[ETH_U256_DECIMAL_MAX];
	int r;

	eth_u256_from_u64(&chain, 1);
	r = eth_tx_from_send_args(json_object_get(c, "args"), &chain, &tx, NULL, errmsg);
	if (r != 0)
		fail_msg("refused: %s (%s)", err_name(r), errmsg);
	r = eth_tx_max_cost(tx, &cost);
	eth_tx_free(tx);
	if (strcmp(want, "overflow") == 0) {
		assert_err(r, "ERR_UINT256_OVERFLOW", "max cost");
		assert_true(eth_u256_is_zero(&cost));
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(eth_u256_parse_decimal(want, strlen(want), &expect), 0);
	eth_u256_to_decimal(&cost, got);
	if (eth_u256_cmp(&cost, &expect) != 0)
		fail_msg("max cost %s, want %s", got, want);
}

/* ---- go-ethereum's TestTxArgs ------------------------------------------- */

static void
test_testtxargs_case(void **state)
{
	const json_t *c = *state, *strip = json_object_get(c, "strip"), *also;
	struct eth_u256 chain = quantity(tvec_str(c, "defaultChainId"));
	struct eth_tx *tx = NULL;
	char errmsg[ERR_WHY_MAX], want_msg[64];
	static const uint8_t zero_sig[64];
	uint8_t h[32];
	json_error_t e;
	json_t *args;
	size_t i;
	int r;

	args = json_loads(tvec_str(c, "data"), JSON_REJECT_DUPLICATES, &e);
	if (args == NULL)
		fail_msg("vector data is not JSON: %s", e.text);
	/* Go drops the members it does not know; we refuse them (deliberately). */
	r = eth_tx_from_send_args(args, &chain, &tx, NULL, errmsg);
	assert_int_equal(r, ERR_TX_UNKNOWN_FIELD);
	snprintf(want_msg, sizeof(want_msg), "unknown field \"%s\"", tvec_str(c, "unknown"));
	assert_non_null(strstr(errmsg, want_msg));
	for (i = 0; i < json_array_size(strip); i++)
		assert_int_equal(json_object_del(args, json_string_value(json_array_get(strip, i))), 0);
	/* a member Clef drops silently and we refuse (maxFeePerBlobGas without blobs) */
	if ((also = json_object_get(c, "also_refused")) != NULL) {
		r = eth_tx_from_send_args(args, &chain, &tx, NULL, errmsg);
		assert_string_equal(err_name(r), tvec_str(also, "error"));
		assert_non_null(strstr(errmsg, tvec_str(also, "member")));
		assert_int_equal(json_object_del(args, tvec_str(also, "member")), 0);
	}
	r = eth_tx_from_send_args(args, &chain, &tx, NULL, errmsg);
	if (r != 0)
		fail_msg("refused: %s (%s)", err_name(r), errmsg);
	assert_int_equal(tx->type, json_integer_value(json_object_get(c, "type")));
	/* geth's tx.Hash() of an unsigned transaction: v, r, s all zero. */
	assert_int_equal(eth_tx_hash(tx, zero_sig, 0, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "hash"), "tx.Hash()");
	eth_tx_free(tx);
	json_decref(args);
}

/* ---- Clef's signtx-requests --------------------------------------------- */

static void
test_clef_signtx_case(void **state)
{
	static const struct {
		const char *name;
		unsigned bit;
	} bits[] = {
		{ "to", ETH_TX_ARG_TO }, { "gasPrice", ETH_TX_ARG_GAS_PRICE },
		{ "maxFeePerGas", ETH_TX_ARG_MAX_FEE },
		{ "maxPriorityFeePerGas", ETH_TX_ARG_MAX_PRIORITY_FEE },
		{ "data", ETH_TX_ARG_DATA }, { "input", ETH_TX_ARG_INPUT },
		{ "accessList", ETH_TX_ARG_ACCESS_LIST }, { "chainId", ETH_TX_ARG_CHAIN_ID },
	};
	const json_t *c = *state, *present = json_object_get(c, "present");
	struct eth_u256 chain = quantity(tvec_str(c, "defaultChainId")), v;
	struct eth_tx *tx = NULL;
	struct eth_tx_request req;
	char path[1024], errmsg[ERR_WHY_MAX];
	unsigned want_bits = 0;
	uint8_t h[32];
	json_t *body;
	size_t i, k;
	int r;

	snprintf(path, sizeof(path), "%s/%s", tvec_clef_dir(), tvec_str(c, "file"));
	if ((body = tvec_load(path)) == NULL)
		fail_msg("cannot load Clef's vector %s", path);
	r = eth_tx_from_send_args(json_array_get(json_object_get(body, "params"), 0),
	    &chain, &tx, &req, errmsg);
	if (r != 0)
		fail_msg("refused: %s (%s)", err_name(r), errmsg);
	assert_int_equal(tx->type, json_integer_value(json_object_get(c, "type")));
	assert_int_equal(eth_u256_cmp(&tx->chain_id, &chain), 0);
	v = quantity(tvec_str(c, "gasPrice"));
	assert_int_equal(eth_u256_cmp(&tx->gas_price, &v), 0);
	v = quantity(tvec_str(c, "maxFeePerGas"));
	assert_int_equal(eth_u256_cmp(&tx->max_fee_per_gas, &v), 0);
	v = quantity(tvec_str(c, "maxPriorityFeePerGas"));
	assert_int_equal(eth_u256_cmp(&tx->max_priority_fee_per_gas, &v), 0);
	assert_int_equal(req.from_checksummed, json_is_true(json_object_get(c, "fromChecksummed")));
	assert_int_equal(req.to_checksummed, json_is_true(json_object_get(c, "toChecksummed")));
	for (i = 0; i < json_array_size(present); i++)
		for (k = 0; k < sizeof(bits) / sizeof(bits[0]); k++)
			if (strcmp(bits[k].name, json_string_value(json_array_get(present, i))) == 0)
				want_bits |= bits[k].bit;
	assert_int_equal(req.present, want_bits);
	assert_int_equal(eth_tx_signing_hash(tx, h), 0);
	testutil_assert_hex(h, 32, tvec_str(c, "signingHash"), "signing hash");
	eth_tx_free(tx);
	json_decref(body);
}

/* Every file of Clef's signtx-requests folder has a row in our table. */
static void
test_clef_signtx_complete(void **state)
{
	const json_t *table = *state;
	char path[1024], want[1200];
	struct dirent *d;
	size_t i, seen = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/signtx-requests", tvec_clef_dir());
	if ((dir = opendir(path)) == NULL)
		fail_msg("cannot open Clef's vectors %s", path);
	while ((d = readdir(dir)) != NULL) {
		size_t n = strlen(d->d_name);
		int found = 0;

		if (n < 5 || strcmp(d->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(want, sizeof(want), "signtx-requests/%s", d->d_name);
		for (i = 0; i < json_array_size(table); i++)
			found |= strcmp(want, tvec_str(json_array_get(table, i), "file")) == 0;
		if (!found)
			fail_msg("%s has no row in tests/vectors/tx/clef-signtx.json", want);
		seen++;
	}
	closedir(dir);
	assert_int_equal(seen, json_array_size(table));
}

/* ---- Clef's documentation ----------------------------------------------- */

static void
test_clef_docs_case(void **state)
{
	const json_t *c = *state, *want_tx = json_object_get(c, "tx"), *args;
	struct eth_u256 chain;
	struct eth_tx *tx, *atx = NULL;
	char errmsg[ERR_WHY_MAX];
	uint8_t sig64[64];
	const char *key;
	json_t *j = NULL, *value;
	int recid, r;

	tx = decode_and_check(c, sig64, &recid);
	chain = quantity(tvec_str(c, "chainId"));
	assert_int_equal(eth_u256_cmp(&tx->chain_id, &chain), 0);
	assert_int_equal(tx->eip155, 1);
	assert_int_equal(eth_tx_to_json(tx, sig64, recid, &j), 0);
	/* The documents come from older geths: compare member by member. */
	json_object_foreach((json_t *)(uintptr_t)want_tx, key, value)
		if (!json_equal(json_object_get(j, key), value))
			fail_msg("tx.%s differs from the document", key);
	assert_true(json_equal(json_object_get(j, "chainId"), json_object_get(c, "chainId")));
	/* Where the request is documented too, it must give the same raw bytes. */
	if ((args = json_object_get(c, "args")) != NULL) {
		chain = quantity(tvec_str(c, "defaultChainId"));
		r = eth_tx_from_send_args(args, &chain, &atx, NULL, errmsg);
		if (r != 0)
			fail_msg("refused: %s (%s)", err_name(r), errmsg);
		assert_roundtrip_raw(atx, sig64, recid, tvec_str(c, "raw"));
		eth_tx_free(atx);
	}
	json_decref(j);
	eth_tx_free(tx);
}

/* ---- limits and API contracts ------------------------------------------- */

static json_t *
base_args(void)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "from", "0x8A8eAFb1cf62BfBeb1741769DAE1a9dd47996192",
	    "to", "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045",
	    "gas", "0x5208", "maxFeePerGas", "0x2", "value", "0x0", "nonce", "0x0");

	assert_non_null(a);
	return a;
}

static int
parse(json_t *args, struct eth_tx **txp)
{
	struct eth_u256 chain;
	char errmsg[ERR_WHY_MAX];

	eth_u256_from_u64(&chain, 1);
	return eth_tx_from_send_args(args, &chain, txp, NULL, errmsg);
}

/* An array of n copies of item (stolen). */
static json_t *
repeat(json_t *item, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(json_array_append(a, item), 0);
	json_decref(item);
	return a;
}

static void
test_limits(void **state)
{
	static const char key[] = "0x0000000000000000000000000000000000000000000000000000000000000001";
	static const char addr[] = "0x8a8eafb1cf62bfbeb1741769dae1a9dd47996192";
	struct eth_tx *tx = NULL;
	json_t *a, *entry;
	char *big;

	(void)state;
	/* accessList entries: the limit passes, one more does not. */
	a = base_args();
	json_object_set_new(a, "accessList", repeat(json_pack("{s:s, s:[]}", "address", addr,
	    "storageKeys"), LIMIT_TX_ACCESS_LIST));
	assert_int_equal(parse(a, &tx), 0);
	assert_int_equal(tx->access_list_len, LIMIT_TX_ACCESS_LIST);
	eth_tx_free(tx);
	tx = NULL;
	json_object_set_new(a, "accessList", repeat(json_pack("{s:s, s:[]}", "address", addr,
	    "storageKeys"), LIMIT_TX_ACCESS_LIST + 1));
	assert_int_equal(parse(a, &tx), ERR_TOO_MANY);
	assert_null(tx);
	/* Storage keys over all entries. */
	entry = json_pack("{s:s, s:o}", "address", addr, "storageKeys",
	    repeat(json_string(key), LIMIT_TX_STORAGE_KEYS / 4));
	json_object_set_new(a, "accessList", repeat(json_incref(entry), 4));
	assert_int_equal(parse(a, &tx), 0);
	eth_tx_free(tx);
	tx = NULL;
	json_object_set_new(a, "accessList", repeat(json_incref(entry), 5));
	assert_int_equal(parse(a, &tx), ERR_TOO_MANY);
	json_decref(entry);
	json_object_del(a, "accessList");
	/* Blob hashes. */
	json_object_set_new(a, "maxPriorityFeePerGas", json_string("0x1"));
	json_object_set_new(a, "maxFeePerBlobGas", json_string("0x1"));
	json_object_set_new(a, "blobVersionedHashes", repeat(json_string(key), LIMIT_TX_BLOB_HASHES));
	assert_int_equal(parse(a, &tx), 0);
	assert_int_equal(tx->type, ETH_TX_BLOB);
	eth_tx_free(tx);
	tx = NULL;
	json_object_set_new(a, "blobVersionedHashes", repeat(json_string(key), LIMIT_TX_BLOB_HASHES + 1));
	assert_int_equal(parse(a, &tx), ERR_TOO_MANY);
	json_object_del(a, "blobVersionedHashes");
	json_object_del(a, "maxFeePerBlobGas");
	/* Authorizations. */
	entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "chainId", "0x1", "address", addr,
	    "nonce", "0x0", "yParity", "0x0", "r", "0x1", "s", "0x1");
	json_object_set_new(a, "authorizationList", repeat(json_incref(entry), LIMIT_TX_AUTHORIZATIONS));
	assert_int_equal(parse(a, &tx), 0);
	assert_int_equal(tx->type, ETH_TX_SET_CODE);
	eth_tx_free(tx);
	tx = NULL;
	json_object_set_new(a, "authorizationList", repeat(entry, LIMIT_TX_AUTHORIZATIONS + 1));
	assert_int_equal(parse(a, &tx), ERR_TOO_MANY);
	json_object_del(a, "authorizationList");
	/* Data: the limit passes, one byte more does not. */
	big = malloc(2 * LIMIT_TX_DATA_BYTES + 5);
	assert_non_null(big);
	memcpy(big, "0x", 2);
	memset(big + 2, 'a', 2 * LIMIT_TX_DATA_BYTES);
	big[2 + 2 * LIMIT_TX_DATA_BYTES] = '\0';
	json_object_set_new(a, "input", json_string(big));
	assert_int_equal(parse(a, &tx), 0);
	assert_int_equal(tx->data_len, LIMIT_TX_DATA_BYTES);
	eth_tx_free(tx);
	tx = NULL;
	memcpy(big + 2 + 2 * LIMIT_TX_DATA_BYTES, "bb", 3);
	json_object_set_new(a, "input", json_string(big));
	assert_int_equal(parse(a, &tx), ERR_TOO_LONG);
	free(big);
	json_decref(a);
}

/* EIP-155's v = 2 * chainId + 36 must fit in 256 bits for a legacy transaction. */
static void
test_legacy_chainid_bound(void **state)
{
	/* 2^255 - 19 is the largest chain id that fits; 2^255 - 18 is not. */
	static const char ok[] = "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";
	static const char bad[] = "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffee";
	struct eth_tx *tx = NULL;
	uint8_t sig64[64] = { 1 }, *raw = NULL;
	size_t n;
	json_t *a = base_args();

	(void)state;
	json_object_del(a, "maxFeePerGas");
	json_object_set_new(a, "chainId", json_string(ok));
	assert_int_equal(parse(a, &tx), 0);
	assert_int_equal(tx->type, ETH_TX_LEGACY);
	assert_int_equal(eth_tx_encode_signed(tx, sig64, 1, &raw, &n), 0);
	free(raw);
	eth_tx_free(tx);
	tx = NULL;
	json_object_set_new(a, "chainId", json_string(bad));
	assert_int_equal(parse(a, &tx), ERR_NUMBER_RANGE);
	assert_null(tx);
	/* The same chain id is fine where there is no v to hold it. */
	json_object_set_new(a, "maxFeePerGas", json_string("0x1"));
	assert_int_equal(parse(a, &tx), 0);
	eth_tx_free(tx);
	json_decref(a);
}

static void
test_api_contracts(void **state)
{
	struct eth_u256 chain;
	struct eth_tx *tx = (struct eth_tx *)1;
	uint8_t sig64[64] = { 0 }, *raw = (uint8_t *)1, big[32];
	size_t n = 99;
	json_t *a = base_args(), *j = (json_t *)1;
	int recid = 5;

	(void)state;
	eth_u256_from_u64(&chain, 1);
	assert_int_equal(eth_tx_from_send_args(NULL, &chain, &tx, NULL, NULL), ERR_INVALID_ARGUMENT);
	assert_null(tx);
	tx = (struct eth_tx *)1;
	assert_int_equal(eth_tx_from_send_args(a, NULL, &tx, NULL, NULL), ERR_INVALID_ARGUMENT);
	assert_null(tx);
	/* errmsg and reqp may be NULL. */
	assert_int_equal(eth_tx_from_send_args(a, &chain, &tx, NULL, NULL), 0);
	assert_non_null(tx);
	/* recid must be 0 or 1. */
	assert_int_equal(eth_tx_encode_signed(tx, sig64, 2, &raw, &n), ERR_INVALID_ARGUMENT);
	assert_null(raw);
	assert_int_equal(n, 0);
	assert_int_equal(eth_tx_to_json(tx, sig64, -1, &j), ERR_INVALID_ARGUMENT);
	assert_null(j);
	assert_int_equal(eth_tx_recover_sender(tx, sig64, 2, big), ERR_SIG_INVALID);
	/* A zero signature recovers nothing. */
	assert_int_equal(eth_tx_recover_sender(tx, sig64, 0, big), ERR_SIG_INVALID);
	eth_tx_free(tx);
	eth_tx_free(NULL);
	/* Decode: over the limit, then too many access-list entries. */
	tx = (struct eth_tx *)1;
	assert_int_equal(eth_tx_decode_signed(big, LIMIT_TX_RAW_BYTES + 1, &tx, sig64, &recid),
	    ERR_TOO_LONG);
	assert_null(tx);
	assert_int_equal(recid, 5);
	json_decref(a);
}

/* A typed transaction whose access list has one entry too many is refused before allocating. */
static void
test_decode_access_list_limit(void **state)
{
	struct eth_buf b;
	struct eth_tx *tx = NULL;
	uint8_t sig64[64], addr[20] = { 0 };
	size_t outer, list, e, i;
	int recid;

	(void)state;
	eth_buf_init(&b, 0);
	assert_int_equal(eth_buf_put_u8(&b, 2), 0);
	outer = eth_rlp_list_begin(&b);
	assert_int_equal(eth_rlp_put_u64(&b, 1), 0);		/* chainId */
	assert_int_equal(eth_rlp_put_u64(&b, 0), 0);		/* nonce */
	assert_int_equal(eth_rlp_put_u64(&b, 1), 0);		/* tip */
	assert_int_equal(eth_rlp_put_u64(&b, 2), 0);		/* max fee */
	assert_int_equal(eth_rlp_put_u64(&b, 21000), 0);	/* gas */
	assert_int_equal(eth_rlp_put_bytes(&b, addr, 20), 0);	/* to */
	assert_int_equal(eth_rlp_put_u64(&b, 0), 0);		/* value */
	assert_int_equal(eth_rlp_put_bytes(&b, NULL, 0), 0);	/* data */
	list = eth_rlp_list_begin(&b);
	for (i = 0; i < LIMIT_TX_ACCESS_LIST + 1; i++) {
		e = eth_rlp_list_begin(&b);
		assert_int_equal(eth_rlp_put_bytes(&b, addr, 20), 0);
		assert_int_equal(eth_rlp_list_end(&b, eth_rlp_list_begin(&b)), 0);
		assert_int_equal(eth_rlp_list_end(&b, e), 0);
	}
	assert_int_equal(eth_rlp_list_end(&b, list), 0);
	assert_int_equal(eth_rlp_put_u64(&b, 0), 0);
	assert_int_equal(eth_rlp_put_u64(&b, 1), 0);
	assert_int_equal(eth_rlp_put_u64(&b, 1), 0);
	assert_int_equal(eth_rlp_list_end(&b, outer), 0);
	assert_int_equal(eth_tx_decode_signed(b.p, b.len, &tx, sig64, &recid), ERR_TOO_MANY);
	assert_null(tx);
	eth_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_legacy_chainid_bound),
		cmocka_unit_test(test_api_contracts),
		cmocka_unit_test(test_decode_access_list_limit),
	};
	json_t *args = tvec_load("tests/vectors/tx/send-args.json");
	json_t *signtx = tvec_load("tests/vectors/tx/clef-signtx.json");
	json_t *cost = tvec_load("tests/vectors/tx/max-cost.json");
	const struct CMUnitTest complete[] = {
		{ "clef-signtx-folder-covered", test_clef_signtx_complete, NULL, NULL, signtx },
	};
	int failed = 0;

	failed += tvec_run_file("tx-kat", "tests/vectors/tx/kat.json", test_kat_case);
	failed += tvec_run_file("tx-decode", "tests/vectors/tx/decode.json", test_decode_case);
	failed += tvec_run_file("tx-decode-refused", "tests/vectors/tx/decode-refused.json",
	    test_decode_refused);
	failed += tvec_run("tx-send-args", args, test_send_args_case);
	failed += tvec_run_file("tx-TestTxArgs", "tests/vectors/tx/testtxargs.json",
	    test_testtxargs_case);
	failed += tvec_run("tx-clef-signtx", signtx, test_clef_signtx_case);
	failed += cmocka_run_group_tests_name("tx-clef-signtx-folder", complete, NULL, NULL);
	failed += tvec_run_file("tx-clef-docs", "tests/vectors/tx/clef-docs.json",
	    test_clef_docs_case);
	failed += tvec_run("tx-max-cost", cost, test_max_cost_case);
	failed += cmocka_run_group_tests_name("tx-fixed", fixed, NULL, NULL);
	json_decref(args);
	json_decref(signtx);
	json_decref(cost);
	return failed != 0;
}
