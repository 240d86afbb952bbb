/*
 * eip712_gnosis.c - a Gnosis Safe transaction made into the typed data Clef
 * signs for it (eth_eip712_from_gnosis_safe_tx()).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/addr.h"
#include "eth/eip712.h"
#include "eth/eip712_int.h"
#include "eth/hex.h"
#include "eth/u256.h"

/* A non-negative integer member: a JSON integer or a decimal string. */
static int
gnosis_uint(struct ctx *c, const json_t *tx, const char *name, int strings_only,
    json_t **outp)
{
	const json_t *v = json_object_get(tx, name);
	struct eth_u256 u;
	char dec[ETH_U256_DECIMAL_MAX];

	*outp = NULL;
	if (v == NULL || json_is_null(v)) {
		return eip712_fail(c, ERR_EIP712_INVALID, "%s is missing", name);
	}
	if (json_is_integer(v) && !strings_only && json_integer_value(v) >= 0) {
		eth_u256_from_u64(&u, (uint64_t)json_integer_value(v));
	} else if (!json_is_string(v) ||
	    eth_u256_parse_decimal(json_string_value(v), json_string_length(v), &u) != 0) {
		return eip712_fail(c, ERR_EIP712_INVALID,
		    "%s is not a non-negative decimal integer", name);
	}
	eth_u256_to_decimal(&u, dec);
	if ((*outp = json_string(dec)) == NULL)
		return ERR_NOMEM;
	return 0;
}

static int
gnosis_address(struct ctx *c, const json_t *tx, const char *name, json_t **outp)
{
	const json_t *v = json_object_get(tx, name);
	uint8_t a[ETH_ADDR_LEN];
	char s[ETH_ADDR_STR];

	*outp = NULL;
	if (!json_is_string(v) ||
	    eth_addr_parse(json_string_value(v), json_string_length(v), a, NULL) != 0) {
		return eip712_fail(c, ERR_EIP712_INVALID, "%s is not an address", name);
	}
	eth_addr_to_checksum(a, s);
	if ((*outp = json_string(s)) == NULL)
		return ERR_NOMEM;
	return 0;
}

/* The typed data Clef builds for a Safe transaction; chain NULL: no chainId in the domain. */
static json_t *
gnosis_typed(json_t *const addrs[4], json_t *const uints[5], const char *data,
    json_int_t op, json_t *chain)
{
	json_t *dtype, *domain;

	dtype = json_pack("[{s:s,s:s}]", "name", "verifyingContract", "type", "address");
	domain = json_pack("{s:O}", "verifyingContract", addrs[0]);
	if (dtype == NULL || domain == NULL)
		goto fail;
	if (chain != NULL &&
	    (json_array_insert_new(dtype, 0, json_pack("{s:s,s:s}", "name", "chainId",
	    "type", "uint256")) != 0 || json_object_set(domain, "chainId", chain) != 0))
		goto fail;
	return json_pack("{s:{s:o,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},"
	    "{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]},"
	    "s:s,s:o,s:{s:O,s:O,s:s,s:I,s:O,s:O,s:O,s:O,s:O,s:O}}",
	    "types",
	    "EIP712Domain", dtype,
	    "SafeTx",
	    "name", "to", "type", "address",
	    "name", "value", "type", "uint256",
	    "name", "data", "type", "bytes",
	    "name", "operation", "type", "uint8",
	    "name", "safeTxGas", "type", "uint256",
	    "name", "baseGas", "type", "uint256",
	    "name", "gasPrice", "type", "uint256",
	    "name", "gasToken", "type", "address",
	    "name", "refundReceiver", "type", "address",
	    "name", "nonce", "type", "uint256",
	    "primaryType", "SafeTx",
	    "domain", domain,
	    "message",
	    "to", addrs[1], "value", uints[0], "data", data, "operation", op,
	    "safeTxGas", uints[2], "baseGas", uints[3], "gasPrice", uints[1],
	    "gasToken", addrs[2], "refundReceiver", addrs[3], "nonce", uints[4]);
 fail:
	json_decref(dtype);
	json_decref(domain);
	return NULL;
}

int
eth_eip712_from_gnosis_safe_tx(const json_t *untrusted,
    const struct eth_u256 *default_chain_id, json_t **typedp,
    struct eth_eip712_result *resp, char why[ERR_WHY_MAX])
{
	static const char *const addr_names[] = { "safe", "to", "gasToken", "refundReceiver" };
	static const char *const uint_names[] = { "value", "gasPrice", "safeTxGas", "baseGas", "nonce" };
	struct ctx c;
	struct eth_eip712_result res;
	json_t *addrs[4] = { NULL }, *uints[5] = { NULL }, *typed = NULL;
	json_t *data, *op, *chain, *want, *fallback = NULL;
	const char *datastr = "0x";
	uint8_t want_hash[32], *bytes = NULL;
	char chain_dec[ETH_U256_DECIMAL_MAX], have[67];
	size_t i, blen;
	int r, attempt;

	*typedp = NULL;
	if (resp != NULL)
		memset(resp, 0, sizeof(*resp));
	memset(&res, 0, sizeof(res));
	eip712_ctx_init(&c, why);

	if (!json_is_object(untrusted)) {
		r = eip712_fail(&c, ERR_EIP712_INVALID,
		    "the Safe transaction is not a JSON object");
		goto out;
	}
	for (i = 0; i < 4; i++)
		if ((r = gnosis_address(&c, untrusted, addr_names[i], &addrs[i])) != 0)
			goto out;
	for (i = 0; i < 5; i++)
		if ((r = gnosis_uint(&c, untrusted, uint_names[i], i < 2, &uints[i])) != 0)
			goto out;
	data = json_object_get(untrusted, "data");
	if (data != NULL && !json_is_null(data)) {
		if (!json_is_string(data) || eth_hex_decode(json_string_value(data),
		    json_string_length(data), LIMIT_SIGN_DATA_BYTES, &bytes, &blen) != 0) {
			r = eip712_fail(&c, ERR_EIP712_INVALID,
			    "data is not 0x-prefixed hex or null");
			goto out;
		}
		free(bytes);
		datastr = json_string_value(data);
	}
	op = json_object_get(untrusted, "operation");
	if (!json_is_integer(op) || json_integer_value(op) < 0 || json_integer_value(op) > 1) {
		r = eip712_fail(&c, ERR_EIP712_INVALID,
		    "operation is not 0 (call) or 1 (delegatecall)");
		goto out;
	}
	want = json_object_get(untrusted, "safeTxHash");
	if (!json_is_string(want) || eth_hex_decode_fixed(json_string_value(want),
	    json_string_length(want), want_hash, 32) != 0) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "safeTxHash is not 32 bytes of 0x hex");
		goto out;
	}
	chain = json_object_get(untrusted, "chainId");
	if (chain != NULL && json_is_null(chain))
		chain = NULL;
	if (chain != NULL && !json_is_string(chain) && !json_is_integer(chain)) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "chainId is not an integer");
		goto out;
	}
	/*
	 * Without a chainId, Safes before 1.3 hashed a domain without one;
	 * later ones include the chain: try both, the second with --chainid,
	 * as Clef meant to.  Either way what is signed is what the Safe checks.
	 */
	eth_u256_to_decimal(default_chain_id, chain_dec);
	if (chain == NULL && (fallback = json_string(chain_dec)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (attempt = 0; attempt < (chain == NULL ? 2 : 1); attempt++) {
		json_decref(typed);
		eth_eip712_result_clear(&res);
		typed = gnosis_typed(addrs, uints, datastr, json_integer_value(op),
		    chain != NULL ? chain : attempt == 0 ? NULL : fallback);
		if (typed == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
		if ((r = eth_eip712_hash(typed, &res, resp != NULL, why)) != 0)
			goto out;
		if (memcmp(res.digest, want_hash, 32) == 0)
			break;
	}
	if (memcmp(res.digest, want_hash, 32) != 0) {
		eth_hex_encode_to(res.digest, 32, have);
		r = eip712_fail(&c, ERR_EIP712_INVALID,
		    "mismatched safeTxHash; the fields hash to %s", have);
		goto out;
	}
	/* success */
	if (resp != NULL) {
		*resp = res;
		memset(&res, 0, sizeof(res));
	}
	*typedp = typed;
	typed = NULL;
	r = 0;
 out:
	eth_eip712_result_clear(&res);
	for (i = 0; i < 4; i++)
		json_decref(addrs[i]);
	for (i = 0; i < 5; i++)
		json_decref(uints[i]);
	json_decref(fallback);
	json_decref(typed);
	return r;
}
