/*
 * tx_args.c - Clef's SendTxArgs JSON made into a struct eth_tx
 * (eth_tx_from_send_args()), read strictly, member by member, with geth's
 * wording in the messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/hex.h"
#include "eth/tx.h"
#include "eth/tx_int.h"

/* ---- messages --------------------------------------------------------- */

/* geth's hexutil wording for the hex and number errors, so clients see Clef's text. */
static const char *
hexutil_text(int code)
{
	switch (code) {
	case ERR_HEX_NO_PREFIX:
		return "hex string without 0x prefix";
	case ERR_HEX_ODD_LENGTH:
		return "hex string of odd length";
	case ERR_HEX_INVALID_CHAR:
		return "invalid hex string";
	case ERR_QUANTITY_EMPTY:
		return "hex string \"0x\"";
	case ERR_QUANTITY_LEADING_ZERO:
		return "hex number with leading zero digits";
	case ERR_UINT256_OVERFLOW:
		return "hex number > 256 bits";
	case ERR_NUMBER_RANGE:
		return "hex number > 64 bits";
	}
	return err_str(code);
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "value";
}

/*
 * A member name from the request, fit to go into an error message: printable
 * ASCII only, no quotes or backslashes, at most 40 characters.
 */
static void
safe_name(const char *untrusted, size_t len, char out[48])
{
	size_t i, n = len > 40 ? 40 : len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)untrusted[i];
		out[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* ---- strict readers for SendTxArgs members ------------------------------ */

/* The member, or NULL when it is absent or JSON null (Go reads both as nil). */
static const json_t *
member(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	return v == NULL || json_is_null(v) ? NULL : v;
}

static int
read_text(const json_t *v, const char *path, const char **sp, size_t *lenp,
    char *why)
{
	if (!json_is_string(v))
		return err_why(why, ERR_JSON_TYPE,
		    "%s: want a hex string, not a JSON %s", path, json_kind(v));
	*sp = json_string_value(v);
	*lenp = json_string_length(v);
	return 0;
}

static int
read_quantity(const json_t *v, const char *path, struct eth_u256 *out,
    char *why)
{
	const char *s = NULL;
	size_t n = 0;
	int r;

	if ((r = read_text(v, path, &s, &n, why)) != 0)
		return r;
	if ((r = eth_u256_parse_quantity(s, n, out)) != 0)
		return err_why(why, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

/* hexutil.Uint64: the quantity grammar within 64 bits. */
static int
read_u64(const json_t *v, const char *path, uint64_t *out, char *why)
{
	struct eth_u256 q;
	const char *s = NULL;
	size_t n = 0;
	int r;

	if ((r = read_text(v, path, &s, &n, why)) != 0)
		return r;
	r = eth_u256_parse_quantity(s, n, &q);
	if (r == ERR_UINT256_OVERFLOW || (r == 0 && eth_u256_to_u64(&q, out) != 0))
		r = ERR_NUMBER_RANGE;
	if (r != 0)
		return err_why(why, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

/* Exactly n bytes of hex; what names the Go type in geth's message. */
static int
read_fixed(const json_t *v, const char *path, uint8_t *out, size_t n,
    const char *what, char *why)
{
	const char *s = NULL;
	size_t len = 0;
	int r;

	if ((r = read_text(v, path, &s, &len, why)) != 0)
		return r;
	r = eth_hex_decode_fixed(s, len, out, n);
	if (r == ERR_HEX_WRONG_LENGTH)
		return err_why(why, r, "%s: hex string has length %zu, want %zu for %s",
		    path, len - 2, 2 * n, what);
	if (r != 0)
		return err_why(why, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

static int
read_address(const json_t *v, const char *path, uint8_t out[ETH_ADDR_LEN],
    int *checksummedp, char *why)
{
	const char *s = NULL;
	size_t len = 0;
	int r;

	if ((r = read_fixed(v, path, out, ETH_ADDR_LEN, "common.Address", why)) != 0)
		return r == ERR_JSON_TYPE ? r : ERR_ADDR_INVALID;
	s = json_string_value(v);
	len = json_string_length(v);
	if (eth_addr_parse(s, len, out, checksummedp) != 0)
		return err_why(why, ERR_ADDR_INVALID, "%s: invalid address", path);
	return 0;
}

/* hexutil.Bytes of at most max bytes; an empty string is refused (geth reads it as 0x). */
static int
read_bytes(const json_t *v, const char *path, size_t max, uint8_t **outp,
    size_t *lenp, char *why)
{
	const char *s = NULL;
	size_t len = 0;
	int r;

	if ((r = read_text(v, path, &s, &len, why)) != 0)
		return r;
	if ((r = eth_hex_decode(s, len, max, outp, lenp)) == ERR_TOO_LONG)
		return err_why(why, r, "%s: longer than %zu bytes", path, max);
	if (r != 0)
		return err_why(why, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

/*
 * Refuse members outside names[] (there are nnames), naming the first in
 * document order; where says whose member it is.
 */
static int
check_members(const json_t *obj, const char *const *names, size_t nnames,
    const char *where, char *why)
{
	void *it;
	size_t i;

	for (it = json_object_iter((json_t *)(uintptr_t)obj); it != NULL;
	    it = json_object_iter_next((json_t *)(uintptr_t)obj, it)) {
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		char shown[48];

		for (i = 0; i < nnames; i++)
			if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
				break;
		if (i == nnames) {
			safe_name(key, klen, shown);
			return err_why(why, ERR_TX_UNKNOWN_FIELD,
			    "%sunknown field \"%s\"", where, shown);
		}
	}
	return 0;
}

static int
missing(char *why, const char *where, const char *name)
{
	return err_why(why, ERR_TX_MISSING_FIELD,
	    "%smissing required field \"%s\"", where, name);
}

/*
 * The array v, one of the transaction's lists (path names it), of at most
 * max entries ("more than max unit"), and room for them: *np entries of size
 * bytes each, zeroed, at *entriesp (NULL when the array is empty).
 */
static int
read_array(const json_t *v, const char *path, int max, const char *unit, size_t size,
    void **entriesp, size_t *np, char *why)
{
	*entriesp = NULL;
	*np = 0;
	if (!json_is_array(v))
		return err_why(why, ERR_JSON_TYPE, "%s: want an array, not a JSON %s", path,
		    json_kind(v));
	if (json_array_size(v) > (size_t)max)
		return err_why(why, ERR_TOO_MANY, "%s: more than %d %s", path, max, unit);
	return eth_tx_alloc_list(json_array_size(v), size, entriesp, np);
}

/*
 * An entry of a list of objects: an object with the members names[] (there
 * are nnames), every one of them required; where says whose.
 */
static int
read_entry(const json_t *e, const char *const *names, size_t nnames, const char *where,
    char *why)
{
	size_t k;
	int r;

	if (!json_is_object(e))
		return err_why(why, ERR_JSON_TYPE, "%swant an object, not a JSON %s",
		    where, json_kind(e));
	if ((r = check_members(e, names, nnames, where, why)) != 0)
		return r;
	for (k = 0; k < nnames; k++)
		if (member(e, names[k]) == NULL)
			return missing(why, where, names[k]);
	return 0;
}

/* The n hashes (common.Hash) of the array v into out; path names the array. */
static int
read_hashes(const json_t *v, const char *path, uint8_t (*out)[32], size_t n, char *why)
{
	char at[128];
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		snprintf(at, sizeof(at), "%s[%zu]", path, i);
		if ((r = read_fixed(json_array_get(v, i), at, out[i], 32, "common.Hash",
		    why)) != 0)
			return r;
	}
	return 0;
}

static int
read_access_list(const json_t *v, struct eth_tx *tx, char *why)
{
	static const char *const names[] = { "address", "storageKeys" };
	size_t i, total = 0;
	char path[96], where[64];
	const json_t *e, *keys;
	void *room;
	int r;

	if ((r = read_array(v, "accessList", LIMIT_TX_ACCESS_LIST, "entries",
	    sizeof(*tx->access_list), &room, &tx->access_list_len, why)) != 0)
		return r;
	tx->access_list = room;
	for (i = 0; i < tx->access_list_len; i++) {
		struct eth_tx_access *a = &tx->access_list[i];

		snprintf(where, sizeof(where), "accessList[%zu]: ", i);
		if ((r = read_entry(e = json_array_get(v, i), names, 2, where, why)) != 0)
			return r;
		keys = member(e, "storageKeys");
		snprintf(path, sizeof(path), "accessList[%zu].address", i);
		if ((r = read_address(member(e, "address"), path, a->address, NULL, why)) != 0)
			return r;
		if (!json_is_array(keys))
			return err_why(why, ERR_JSON_TYPE,
			    "accessList[%zu].storageKeys: want an array, not a JSON %s",
			    i, json_kind(keys));
		/* The bound is over all entries, checked before each allocation. */
		if (json_array_size(keys) > LIMIT_TX_STORAGE_KEYS - total)
			return err_why(why, ERR_TOO_MANY,
			    "accessList: more than %d storage keys in all", LIMIT_TX_STORAGE_KEYS);
		total += json_array_size(keys);
		if (json_array_size(keys) == 0)
			continue;
		if ((a->keys = calloc(json_array_size(keys), 32)) == NULL)
			return ERR_NOMEM;
		a->nkeys = json_array_size(keys);
		snprintf(path, sizeof(path), "accessList[%zu].storageKeys", i);
		if ((r = read_hashes(keys, path, a->keys, a->nkeys, why)) != 0)
			return r;
	}
	return 0;
}

static int
read_blob_hashes(const json_t *v, struct eth_tx *tx, char *why)
{
	void *room;
	int r;

	if ((r = read_array(v, "blobVersionedHashes", LIMIT_TX_BLOB_HASHES, "hashes", 32,
	    &room, &tx->blob_hashes_len, why)) != 0)
		return r;
	tx->blob_hashes = room;
	return read_hashes(v, "blobVersionedHashes", tx->blob_hashes, tx->blob_hashes_len,
	    why);
}

/* geth's SetCodeAuthorization JSON: every member required. */
static int
read_auths(const json_t *v, struct eth_tx *tx, char *why)
{
	static const char *const names[] = {
		"chainId", "address", "nonce", "yParity", "r", "s",
	};
	char path[64], where[48];
	uint64_t yparity;
	const json_t *e;
	void *room;
	size_t i;
	int r;

	if ((r = read_array(v, "authorizationList", LIMIT_TX_AUTHORIZATIONS, "entries",
	    sizeof(*tx->auths), &room, &tx->auths_len, why)) != 0)
		return r;
	tx->auths = room;
	for (i = 0; i < tx->auths_len; i++) {
		struct eth_tx_auth *a = &tx->auths[i];

		snprintf(where, sizeof(where), "authorizationList[%zu]: ", i);
		if ((r = read_entry(e = json_array_get(v, i), names, 6, where, why)) != 0)
			return r;
#define AUTH_PATH(m) (snprintf(path, sizeof(path), "authorizationList[%zu].%s", i, m), path)
		if ((r = read_quantity(member(e, "chainId"), AUTH_PATH("chainId"), &a->chain_id, why)) != 0 ||
		    (r = read_address(member(e, "address"), AUTH_PATH("address"), a->address, NULL, why)) != 0 ||
		    (r = read_u64(member(e, "nonce"), AUTH_PATH("nonce"), &a->nonce, why)) != 0 ||
		    (r = read_u64(member(e, "yParity"), AUTH_PATH("yParity"), &yparity, why)) != 0 ||
		    (r = read_quantity(member(e, "r"), AUTH_PATH("r"), &a->r, why)) != 0 ||
		    (r = read_quantity(member(e, "s"), AUTH_PATH("s"), &a->s, why)) != 0)
			return r;
#undef AUTH_PATH
		/* geth keeps it in a uint8 and silently truncates; the EIP bounds it by 2^8. */
		if (yparity > 0xff)
			return err_why(why, ERR_NUMBER_RANGE,
			    "authorizationList[%zu].yParity: more than 255", i);
		a->y_parity = (uint8_t)yparity;
	}
	return 0;
}

int
eth_tx_from_send_args(const json_t *untrusted_args,
    const struct eth_u256 *default_chain_id, struct eth_tx **txp,
    struct eth_tx_request *reqp, char why[ERR_WHY_MAX])
{
	static const char *const names[] = {
		"from", "to", "gas", "gasPrice", "maxFeePerGas",
		"maxPriorityFeePerGas", "value", "nonce", "data", "input",
		"accessList", "chainId", "maxFeePerBlobGas",
		"blobVersionedHashes", "authorizationList", "type",
		"blobs", "commitments", "proofs",
	};
	static const char *const sidecar[] = { "blobs", "commitments", "proofs" };
	const json_t *args = untrusted_args, *v;
	struct eth_tx_request req;
	struct eth_tx *tx = NULL;
	uint8_t *data = NULL, *input = NULL;
	size_t data_len = 0, input_len = 0, i;
	struct eth_u256 vmax;
	uint64_t ignored;
	int r;

	*txp = NULL;
	if (why != NULL)
		why[0] = '\0';
	memset(&req, 0, sizeof(req));
	if (args == NULL || default_chain_id == NULL) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (!json_is_object(args)) {
		r = err_why(why, ERR_JSON_TYPE,
		    "transaction arguments: want an object, not a JSON %s", json_kind(args));
		goto out;
	}
	if ((r = check_members(args, names, sizeof(names) / sizeof(names[0]), "",
	    why)) != 0)
		goto out;
	for (i = 0; i < 3; i++)
		if (member(args, sidecar[i]) != NULL) {
			r = err_why(why, ERR_TX_BLOB_SIDECAR,
			    "\"%s\": blob sidecars are not supported; send blobVersionedHashes only",
			    sidecar[i]);
			goto out;
		}
	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}

	if ((v = member(args, "from")) == NULL) {
		r = missing(why, "", "from");
		goto out;
	}
	if ((r = read_address(v, "from", req.from, &req.from_checksummed, why)) != 0)
		goto out;
	if ((v = member(args, "to")) != NULL) {
		req.present |= ETH_TX_ARG_TO;
		if ((r = read_address(v, "to", tx->to, &req.to_checksummed, why)) != 0)
			goto out;
		tx->has_to = 1;
	}
	if ((v = member(args, "gas")) == NULL) {
		r = missing(why, "", "gas");
		goto out;
	}
	if ((r = read_u64(v, "gas", &tx->gas, why)) != 0)
		goto out;
	if ((v = member(args, "gasPrice")) != NULL) {
		req.present |= ETH_TX_ARG_GAS_PRICE;
		if ((r = read_quantity(v, "gasPrice", &req.gas_price, why)) != 0)
			goto out;
	}
	if ((v = member(args, "maxFeePerGas")) != NULL) {
		req.present |= ETH_TX_ARG_MAX_FEE;
		if ((r = read_quantity(v, "maxFeePerGas", &req.max_fee_per_gas, why)) != 0)
			goto out;
	}
	if ((v = member(args, "maxPriorityFeePerGas")) != NULL) {
		req.present |= ETH_TX_ARG_MAX_PRIORITY_FEE;
		if ((r = read_quantity(v, "maxPriorityFeePerGas",
		    &req.max_priority_fee_per_gas, why)) != 0)
			goto out;
	}
	if ((v = member(args, "value")) == NULL) {
		r = missing(why, "", "value");
		goto out;
	}
	if ((r = read_quantity(v, "value", &tx->value, why)) != 0)
		goto out;
	if ((v = member(args, "nonce")) == NULL) {
		r = missing(why, "", "nonce");
		goto out;
	}
	if ((r = read_u64(v, "nonce", &tx->nonce, why)) != 0)
		goto out;
	if ((v = member(args, "data")) != NULL) {
		req.present |= ETH_TX_ARG_DATA;
		if ((r = read_bytes(v, "data", LIMIT_TX_DATA_BYTES, &data, &data_len,
		    why)) != 0)
			goto out;
	}
	if ((v = member(args, "input")) != NULL) {
		req.present |= ETH_TX_ARG_INPUT;
		if ((r = read_bytes(v, "input", LIMIT_TX_DATA_BYTES, &input, &input_len,
		    why)) != 0)
			goto out;
	}
	if ((v = member(args, "accessList")) != NULL) {
		req.present |= ETH_TX_ARG_ACCESS_LIST;
		if ((r = read_access_list(v, tx, why)) != 0)
			goto out;
	}
	tx->chain_id = *default_chain_id;
	if ((v = member(args, "chainId")) != NULL) {
		req.present |= ETH_TX_ARG_CHAIN_ID;
		if ((r = read_quantity(v, "chainId", &tx->chain_id, why)) != 0)
			goto out;
	}
	if ((v = member(args, "maxFeePerBlobGas")) != NULL) {
		req.present |= ETH_TX_ARG_BLOB_FEE;
		if ((r = read_quantity(v, "maxFeePerBlobGas", &req.max_fee_per_blob_gas,
		    why)) != 0)
			goto out;
	}
	if ((v = member(args, "blobVersionedHashes")) != NULL) {
		req.present |= ETH_TX_ARG_BLOB_HASHES;
		if ((r = read_blob_hashes(v, tx, why)) != 0)
			goto out;
	}
	if ((v = member(args, "authorizationList")) != NULL) {
		req.present |= ETH_TX_ARG_AUTH_LIST;
		if ((r = read_auths(v, tx, why)) != 0)
			goto out;
	}
	/* Clef has no "type" member and ignores it; we still want it well-formed. */
	if ((v = member(args, "type")) != NULL) {
		req.present |= ETH_TX_ARG_TYPE;
		if ((r = read_u64(v, "type", &ignored, why)) != 0)
			goto out;
	}

	if (data != NULL && input != NULL &&
	    (data_len != input_len || memcmp(data, input, data_len) != 0)) {
		r = err_why(why, ERR_TX_FIELD_CONFLICT,
		    "both \"data\" and \"input\" are set and not equal. "
		    "Please use \"input\" to pass transaction call data");
		goto out;
	}

	/*
	 * Clef drops maxFeePerBlobGas silently when there are no blob hashes;
	 * a field the user was shown must not vanish from what is signed.
	 */
	if ((req.present & ETH_TX_ARG_BLOB_FEE) && !(req.present & ETH_TX_ARG_BLOB_HASHES)) {
		r = err_why(why, ERR_TX_FIELD_CONFLICT,
		    "\"maxFeePerBlobGas\" is set but \"blobVersionedHashes\" is not: "
		    "only blob transactions have a blob fee");
		goto out;
	}

	/* Clef's order (SendTxArgs.ToTransaction), with type 4 after type 3. */
	if (req.present & ETH_TX_ARG_BLOB_HASHES)
		tx->type = ETH_TX_BLOB;
	else if (req.present & ETH_TX_ARG_AUTH_LIST)
		tx->type = ETH_TX_SET_CODE;
	else if (req.present & ETH_TX_ARG_MAX_FEE)
		tx->type = ETH_TX_DYNAMIC_FEE;
	else if (req.present & ETH_TX_ARG_ACCESS_LIST)
		tx->type = ETH_TX_ACCESS_LIST;
	else
		tx->type = ETH_TX_LEGACY;

	switch (tx->type) {
	case ETH_TX_LEGACY:
	case ETH_TX_ACCESS_LIST:
		/* An absent gasPrice is zero, as in Clef's --advanced mode. */
		tx->gas_price = req.gas_price;
		tx->eip155 = tx->type == ETH_TX_LEGACY;
		if (tx->eip155 && eth_tx_legacy_v(tx, 1, &vmax) != 0) {
			r = err_why(why, ERR_NUMBER_RANGE,
			    "chainId: too large for an EIP-155 signature");
			goto out;
		}
		break;
	case ETH_TX_DYNAMIC_FEE:
		/* An absent tip is zero, as in Clef's --advanced mode. */
		tx->max_fee_per_gas = req.max_fee_per_gas;
		tx->max_priority_fee_per_gas = req.max_priority_fee_per_gas;
		break;
	case ETH_TX_BLOB:
	case ETH_TX_SET_CODE:
		if ((req.present & ETH_TX_ARG_BLOB_HASHES) &&
		    (req.present & ETH_TX_ARG_AUTH_LIST)) {
			r = err_why(why, ERR_TX_FIELD_CONFLICT,
			    "\"blobVersionedHashes\" and \"authorizationList\" "
			    "cannot be used in one transaction");
			goto out;
		}
		if (!tx->has_to) {
			r = err_why(why, ERR_TX_MISSING_FIELD,
			    "transaction recipient must be set for %s transactions",
			    tx->type == ETH_TX_BLOB ? "blob" : "set-code");
			goto out;
		}
		/* Clef crashes on these absent (a nil uint256); we say so. */
		if (!(req.present & ETH_TX_ARG_MAX_FEE)) {
			r = missing(why, "", "maxFeePerGas");
			goto out;
		}
		if (!(req.present & ETH_TX_ARG_MAX_PRIORITY_FEE)) {
			r = missing(why, "", "maxPriorityFeePerGas");
			goto out;
		}
		tx->max_fee_per_gas = req.max_fee_per_gas;
		tx->max_priority_fee_per_gas = req.max_priority_fee_per_gas;
		if (tx->type == ETH_TX_BLOB) {
			if (!(req.present & ETH_TX_ARG_BLOB_FEE)) {
				r = missing(why, "", "maxFeePerBlobGas");
				goto out;
			}
			tx->max_fee_per_blob_gas = req.max_fee_per_blob_gas;
			if (tx->blob_hashes_len == 0) {
				r = err_why(why, ERR_TX_INVALID,
				    "need at least 1 blob for a blob transaction");
				goto out;
			}
		} else if (tx->auths_len == 0) {
			r = err_why(why, ERR_TX_INVALID,
			    "need at least 1 authorization for a set-code transaction");
			goto out;
		}
		break;
	}

	/* "input" is the newer name and wins, as in go-ethereum. */
	if (input != NULL) {
		tx->data = input;
		tx->data_len = input_len;
		input = NULL;
	} else if (data != NULL) {
		tx->data = data;
		tx->data_len = data_len;
		data = NULL;
	}
	/* eth_hex_decode gives a 1-byte buffer for "0x": keep the documented form. */
	if (tx->data_len == 0) {
		free(tx->data);
		tx->data = NULL;
	}

	/* success */
	*txp = tx;
	tx = NULL;
	if (reqp != NULL)
		*reqp = req;
	r = 0;
out:
	free(data);
	free(input);
	eth_tx_free(tx);
	return r;
}
