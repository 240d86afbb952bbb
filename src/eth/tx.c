#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "eth/rlp.h"
#include "eth/sig.h"
#include "eth/tx.h"

/* ---- messages --------------------------------------------------------- */

static int tx_fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Leave a message for the caller (when it wants one) and return code. */
static int
tx_fail(char *errmsg, int code, const char *fmt, ...)
{
	va_list ap;

	if (errmsg != NULL) {
		va_start(ap, fmt);
		vsnprintf(errmsg, ETH_TX_ERRMSG_MAX, fmt, ap);
		va_end(ap);
	}
	return code;
}

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
    char *errmsg)
{
	if (!json_is_string(v))
		return tx_fail(errmsg, ERR_JSON_TYPE,
		    "%s: want a hex string, not a JSON %s", path, json_kind(v));
	*sp = json_string_value(v);
	*lenp = json_string_length(v);
	return 0;
}

static int
read_quantity(const json_t *v, const char *path, struct eth_u256 *out,
    char *errmsg)
{
	const char *s = NULL;
	size_t n = 0;
	int r;

	if ((r = read_text(v, path, &s, &n, errmsg)) != 0)
		return r;
	if ((r = eth_u256_parse_quantity(s, n, out)) != 0)
		return tx_fail(errmsg, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

/* hexutil.Uint64: the quantity grammar within 64 bits. */
static int
read_u64(const json_t *v, const char *path, uint64_t *out, char *errmsg)
{
	struct eth_u256 q;
	const char *s = NULL;
	size_t n = 0;
	int r;

	if ((r = read_text(v, path, &s, &n, errmsg)) != 0)
		return r;
	r = eth_u256_parse_quantity(s, n, &q);
	if (r == ERR_UINT256_OVERFLOW || (r == 0 && eth_u256_to_u64(&q, out) != 0))
		r = ERR_NUMBER_RANGE;
	if (r != 0)
		return tx_fail(errmsg, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

/* Exactly n bytes of hex; what names the Go type in geth's message. */
static int
read_fixed(const json_t *v, const char *path, uint8_t *out, size_t n,
    const char *what, char *errmsg)
{
	const char *s = NULL;
	size_t len = 0;
	int r;

	if ((r = read_text(v, path, &s, &len, errmsg)) != 0)
		return r;
	r = eth_hex_decode_fixed(s, len, out, n);
	if (r == ERR_HEX_WRONG_LENGTH)
		return tx_fail(errmsg, r, "%s: hex string has length %zu, want %zu for %s",
		    path, len - 2, 2 * n, what);
	if (r != 0)
		return tx_fail(errmsg, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

static int
read_address(const json_t *v, const char *path, uint8_t out[ETH_ADDR_LEN],
    int *checksummedp, char *errmsg)
{
	const char *s = NULL;
	size_t len = 0;
	int r;

	if ((r = read_fixed(v, path, out, ETH_ADDR_LEN, "common.Address", errmsg)) != 0)
		return r == ERR_JSON_TYPE ? r : ERR_ADDR_INVALID;
	s = json_string_value(v);
	len = json_string_length(v);
	if (eth_addr_parse(s, len, out, checksummedp) != 0)
		return tx_fail(errmsg, ERR_ADDR_INVALID, "%s: invalid address", path);
	return 0;
}

/* hexutil.Bytes of at most max bytes; an empty string is refused (geth reads it as 0x). */
static int
read_bytes(const json_t *v, const char *path, size_t max, uint8_t **outp,
    size_t *lenp, char *errmsg)
{
	const char *s = NULL;
	size_t len = 0;
	int r;

	if ((r = read_text(v, path, &s, &len, errmsg)) != 0)
		return r;
	if ((r = eth_hex_decode(s, len, max, outp, lenp)) == ERR_TOO_LONG)
		return tx_fail(errmsg, r, "%s: longer than %zu bytes", path, max);
	if (r != 0)
		return tx_fail(errmsg, r, "%s: %s", path, hexutil_text(r));
	return 0;
}

/*
 * Refuse members outside names[] (there are nnames), naming the first in
 * document order; where says whose member it is.
 */
static int
check_members(const json_t *obj, const char *const *names, size_t nnames,
    const char *where, char *errmsg)
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
			return tx_fail(errmsg, ERR_TX_UNKNOWN_FIELD,
			    "%sunknown field \"%s\"", where, shown);
		}
	}
	return 0;
}

static int
missing(char *errmsg, const char *where, const char *name)
{
	return tx_fail(errmsg, ERR_TX_MISSING_FIELD,
	    "%smissing required field \"%s\"", where, name);
}

static int
read_access_list(const json_t *v, struct eth_tx *tx, char *errmsg)
{
	static const char *const names[] = { "address", "storageKeys" };
	size_t i, j, n, total = 0;
	char path[96], where[64];
	const json_t *e, *keys;
	int r;

	if (!json_is_array(v))
		return tx_fail(errmsg, ERR_JSON_TYPE, "accessList: want an array, not a JSON %s",
		    json_kind(v));
	if ((n = json_array_size(v)) > LIMIT_TX_ACCESS_LIST)
		return tx_fail(errmsg, ERR_TOO_MANY, "accessList: more than %d entries",
		    LIMIT_TX_ACCESS_LIST);
	if (n == 0)
		return 0;
	if ((tx->access_list = calloc(n, sizeof(*tx->access_list))) == NULL)
		return ERR_NOMEM;
	tx->access_list_len = n;
	for (i = 0; i < n; i++) {
		struct eth_tx_access *a = &tx->access_list[i];

		snprintf(where, sizeof(where), "accessList[%zu]: ", i);
		if (!json_is_object(e = json_array_get(v, i)))
			return tx_fail(errmsg, ERR_JSON_TYPE, "%swant an object, not a JSON %s",
			    where, json_kind(e));
		if ((r = check_members(e, names, 2, where, errmsg)) != 0)
			return r;
		if (member(e, "address") == NULL)
			return missing(errmsg, where, "address");
		if ((keys = member(e, "storageKeys")) == NULL)
			return missing(errmsg, where, "storageKeys");
		snprintf(path, sizeof(path), "accessList[%zu].address", i);
		if ((r = read_address(member(e, "address"), path, a->address, NULL, errmsg)) != 0)
			return r;
		if (!json_is_array(keys))
			return tx_fail(errmsg, ERR_JSON_TYPE,
			    "accessList[%zu].storageKeys: want an array, not a JSON %s",
			    i, json_kind(keys));
		/* The bound is over all entries, checked before each allocation. */
		if (json_array_size(keys) > LIMIT_TX_STORAGE_KEYS - total)
			return tx_fail(errmsg, ERR_TOO_MANY,
			    "accessList: more than %d storage keys in all", LIMIT_TX_STORAGE_KEYS);
		total += json_array_size(keys);
		if (json_array_size(keys) == 0)
			continue;
		if ((a->keys = calloc(json_array_size(keys), 32)) == NULL)
			return ERR_NOMEM;
		a->nkeys = json_array_size(keys);
		for (j = 0; j < a->nkeys; j++) {
			snprintf(path, sizeof(path), "accessList[%zu].storageKeys[%zu]", i, j);
			if ((r = read_fixed(json_array_get(keys, j), path, a->keys[j], 32,
			    "common.Hash", errmsg)) != 0)
				return r;
		}
	}
	return 0;
}

static int
read_blob_hashes(const json_t *v, struct eth_tx *tx, char *errmsg)
{
	char path[48];
	size_t i, n;
	int r;

	if (!json_is_array(v))
		return tx_fail(errmsg, ERR_JSON_TYPE,
		    "blobVersionedHashes: want an array, not a JSON %s", json_kind(v));
	if ((n = json_array_size(v)) > LIMIT_TX_BLOB_HASHES)
		return tx_fail(errmsg, ERR_TOO_MANY, "blobVersionedHashes: more than %d hashes",
		    LIMIT_TX_BLOB_HASHES);
	if (n == 0)
		return 0;
	if ((tx->blob_hashes = calloc(n, 32)) == NULL)
		return ERR_NOMEM;
	tx->blob_hashes_len = n;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "blobVersionedHashes[%zu]", i);
		if ((r = read_fixed(json_array_get(v, i), path, tx->blob_hashes[i], 32,
		    "common.Hash", errmsg)) != 0)
			return r;
	}
	return 0;
}

/* geth's SetCodeAuthorization JSON: every member required. */
static int
read_auths(const json_t *v, struct eth_tx *tx, char *errmsg)
{
	static const char *const names[] = {
		"chainId", "address", "nonce", "yParity", "r", "s",
	};
	char path[64], where[48];
	size_t i, k, n;
	uint64_t yparity;
	const json_t *e;
	int r;

	if (!json_is_array(v))
		return tx_fail(errmsg, ERR_JSON_TYPE,
		    "authorizationList: want an array, not a JSON %s", json_kind(v));
	if ((n = json_array_size(v)) > LIMIT_TX_AUTHORIZATIONS)
		return tx_fail(errmsg, ERR_TOO_MANY, "authorizationList: more than %d entries",
		    LIMIT_TX_AUTHORIZATIONS);
	if (n == 0)
		return 0;
	if ((tx->auths = calloc(n, sizeof(*tx->auths))) == NULL)
		return ERR_NOMEM;
	tx->auths_len = n;
	for (i = 0; i < n; i++) {
		struct eth_tx_auth *a = &tx->auths[i];

		snprintf(where, sizeof(where), "authorizationList[%zu]: ", i);
		if (!json_is_object(e = json_array_get(v, i)))
			return tx_fail(errmsg, ERR_JSON_TYPE, "%swant an object, not a JSON %s",
			    where, json_kind(e));
		if ((r = check_members(e, names, 6, where, errmsg)) != 0)
			return r;
		for (k = 0; k < 6; k++)
			if (member(e, names[k]) == NULL)
				return missing(errmsg, where, names[k]);
#define AUTH_PATH(m) (snprintf(path, sizeof(path), "authorizationList[%zu].%s", i, m), path)
		if ((r = read_quantity(member(e, "chainId"), AUTH_PATH("chainId"), &a->chain_id, errmsg)) != 0 ||
		    (r = read_address(member(e, "address"), AUTH_PATH("address"), a->address, NULL, errmsg)) != 0 ||
		    (r = read_u64(member(e, "nonce"), AUTH_PATH("nonce"), &a->nonce, errmsg)) != 0 ||
		    (r = read_u64(member(e, "yParity"), AUTH_PATH("yParity"), &yparity, errmsg)) != 0 ||
		    (r = read_quantity(member(e, "r"), AUTH_PATH("r"), &a->r, errmsg)) != 0 ||
		    (r = read_quantity(member(e, "s"), AUTH_PATH("s"), &a->s, errmsg)) != 0)
			return r;
#undef AUTH_PATH
		/* geth keeps it in a uint8 and silently truncates; the EIP bounds it by 2^8. */
		if (yparity > 0xff)
			return tx_fail(errmsg, ERR_NUMBER_RANGE,
			    "authorizationList[%zu].yParity: more than 255", i);
		a->y_parity = (uint8_t)yparity;
	}
	return 0;
}

/* ---- v of a legacy transaction ------------------------------------------ */

static int
legacy_v(const struct eth_tx *tx, int recid, struct eth_u256 *v)
{
	struct eth_u256 add, sum;

	if (!tx->eip155) {
		eth_u256_from_u64(v, 27 + (uint64_t)recid);
		return 0;
	}
	/* v = chainId * 2 + 35 + recid must fit in 256 bits. */
	eth_u256_from_u64(&add, 35 + (uint64_t)recid);
	if (eth_u256_add(&sum, &tx->chain_id, &tx->chain_id) ||
	    eth_u256_add(&sum, &sum, &add))
		return ERR_NUMBER_RANGE;
	*v = sum;
	return 0;
}

/* ---- SendTxArgs --------------------------------------------------------- */

int
eth_tx_from_send_args(const json_t *untrusted_args,
    const struct eth_u256 *default_chain_id, struct eth_tx **txp,
    struct eth_tx_request *reqp, char errmsg[ETH_TX_ERRMSG_MAX])
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
	if (errmsg != NULL)
		errmsg[0] = '\0';
	memset(&req, 0, sizeof(req));
	if (args == NULL || default_chain_id == NULL) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (!json_is_object(args)) {
		r = tx_fail(errmsg, ERR_JSON_TYPE,
		    "transaction arguments: want an object, not a JSON %s", json_kind(args));
		goto out;
	}
	if ((r = check_members(args, names, sizeof(names) / sizeof(names[0]), "",
	    errmsg)) != 0)
		goto out;
	for (i = 0; i < 3; i++)
		if (member(args, sidecar[i]) != NULL) {
			r = tx_fail(errmsg, ERR_TX_BLOB_SIDECAR,
			    "\"%s\": blob sidecars are not supported; send blobVersionedHashes only",
			    sidecar[i]);
			goto out;
		}
	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}

	if ((v = member(args, "from")) == NULL) {
		r = missing(errmsg, "", "from");
		goto out;
	}
	if ((r = read_address(v, "from", req.from, &req.from_checksummed, errmsg)) != 0)
		goto out;
	if ((v = member(args, "to")) != NULL) {
		req.present |= ETH_TX_ARG_TO;
		if ((r = read_address(v, "to", tx->to, &req.to_checksummed, errmsg)) != 0)
			goto out;
		tx->has_to = 1;
	}
	if ((v = member(args, "gas")) == NULL) {
		r = missing(errmsg, "", "gas");
		goto out;
	}
	if ((r = read_u64(v, "gas", &tx->gas, errmsg)) != 0)
		goto out;
	if ((v = member(args, "gasPrice")) != NULL) {
		req.present |= ETH_TX_ARG_GAS_PRICE;
		if ((r = read_quantity(v, "gasPrice", &req.gas_price, errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "maxFeePerGas")) != NULL) {
		req.present |= ETH_TX_ARG_MAX_FEE;
		if ((r = read_quantity(v, "maxFeePerGas", &req.max_fee_per_gas, errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "maxPriorityFeePerGas")) != NULL) {
		req.present |= ETH_TX_ARG_MAX_PRIORITY_FEE;
		if ((r = read_quantity(v, "maxPriorityFeePerGas",
		    &req.max_priority_fee_per_gas, errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "value")) == NULL) {
		r = missing(errmsg, "", "value");
		goto out;
	}
	if ((r = read_quantity(v, "value", &tx->value, errmsg)) != 0)
		goto out;
	if ((v = member(args, "nonce")) == NULL) {
		r = missing(errmsg, "", "nonce");
		goto out;
	}
	if ((r = read_u64(v, "nonce", &tx->nonce, errmsg)) != 0)
		goto out;
	if ((v = member(args, "data")) != NULL) {
		req.present |= ETH_TX_ARG_DATA;
		if ((r = read_bytes(v, "data", LIMIT_TX_DATA_BYTES, &data, &data_len,
		    errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "input")) != NULL) {
		req.present |= ETH_TX_ARG_INPUT;
		if ((r = read_bytes(v, "input", LIMIT_TX_DATA_BYTES, &input, &input_len,
		    errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "accessList")) != NULL) {
		req.present |= ETH_TX_ARG_ACCESS_LIST;
		if ((r = read_access_list(v, tx, errmsg)) != 0)
			goto out;
	}
	tx->chain_id = *default_chain_id;
	if ((v = member(args, "chainId")) != NULL) {
		req.present |= ETH_TX_ARG_CHAIN_ID;
		if ((r = read_quantity(v, "chainId", &tx->chain_id, errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "maxFeePerBlobGas")) != NULL) {
		req.present |= ETH_TX_ARG_BLOB_FEE;
		if ((r = read_quantity(v, "maxFeePerBlobGas", &req.max_fee_per_blob_gas,
		    errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "blobVersionedHashes")) != NULL) {
		req.present |= ETH_TX_ARG_BLOB_HASHES;
		if ((r = read_blob_hashes(v, tx, errmsg)) != 0)
			goto out;
	}
	if ((v = member(args, "authorizationList")) != NULL) {
		req.present |= ETH_TX_ARG_AUTH_LIST;
		if ((r = read_auths(v, tx, errmsg)) != 0)
			goto out;
	}
	/* Clef has no "type" member and ignores it; we still want it well-formed. */
	if ((v = member(args, "type")) != NULL) {
		req.present |= ETH_TX_ARG_TYPE;
		if ((r = read_u64(v, "type", &ignored, errmsg)) != 0)
			goto out;
	}

	if (data != NULL && input != NULL &&
	    (data_len != input_len || memcmp(data, input, data_len) != 0)) {
		r = tx_fail(errmsg, ERR_TX_FIELD_CONFLICT,
		    "both \"data\" and \"input\" are set and not equal. "
		    "Please use \"input\" to pass transaction call data");
		goto out;
	}

	/*
	 * Clef drops maxFeePerBlobGas silently when there are no blob hashes;
	 * a field the user was shown must not vanish from what is signed.
	 */
	if ((req.present & ETH_TX_ARG_BLOB_FEE) && !(req.present & ETH_TX_ARG_BLOB_HASHES)) {
		r = tx_fail(errmsg, ERR_TX_FIELD_CONFLICT,
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
		if (tx->eip155 && legacy_v(tx, 1, &vmax) != 0) {
			r = tx_fail(errmsg, ERR_NUMBER_RANGE,
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
			r = tx_fail(errmsg, ERR_TX_FIELD_CONFLICT,
			    "\"blobVersionedHashes\" and \"authorizationList\" "
			    "cannot be used in one transaction");
			goto out;
		}
		if (!tx->has_to) {
			r = tx_fail(errmsg, ERR_TX_MISSING_FIELD,
			    "transaction recipient must be set for %s transactions",
			    tx->type == ETH_TX_BLOB ? "blob" : "set-code");
			goto out;
		}
		/* Clef crashes on these absent (a nil uint256); we say so. */
		if (!(req.present & ETH_TX_ARG_MAX_FEE)) {
			r = missing(errmsg, "", "maxFeePerGas");
			goto out;
		}
		if (!(req.present & ETH_TX_ARG_MAX_PRIORITY_FEE)) {
			r = missing(errmsg, "", "maxPriorityFeePerGas");
			goto out;
		}
		tx->max_fee_per_gas = req.max_fee_per_gas;
		tx->max_priority_fee_per_gas = req.max_priority_fee_per_gas;
		if (tx->type == ETH_TX_BLOB) {
			if (!(req.present & ETH_TX_ARG_BLOB_FEE)) {
				r = missing(errmsg, "", "maxFeePerBlobGas");
				goto out;
			}
			tx->max_fee_per_blob_gas = req.max_fee_per_blob_gas;
			if (tx->blob_hashes_len == 0) {
				r = tx_fail(errmsg, ERR_TX_INVALID,
				    "need at least 1 blob for a blob transaction");
				goto out;
			}
		} else if (tx->auths_len == 0) {
			r = tx_fail(errmsg, ERR_TX_INVALID,
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

/* ---- RLP encoding ------------------------------------------------------- */

static int
put_to(struct eth_buf *b, const struct eth_tx *tx)
{
	return eth_rlp_put_bytes(b, tx->has_to ? tx->to : NULL, tx->has_to ? ETH_ADDR_LEN : 0);
}

static int
put_access_list(struct eth_buf *b, const struct eth_tx *tx)
{
	size_t outer = eth_rlp_list_begin(b), entry, keys, i, j;
	int r;

	for (i = 0; i < tx->access_list_len; i++) {
		const struct eth_tx_access *a = &tx->access_list[i];

		entry = eth_rlp_list_begin(b);
		if ((r = eth_rlp_put_bytes(b, a->address, ETH_ADDR_LEN)) != 0)
			return r;
		keys = eth_rlp_list_begin(b);
		for (j = 0; j < a->nkeys; j++)
			if ((r = eth_rlp_put_bytes(b, a->keys[j], 32)) != 0)
				return r;
		if ((r = eth_rlp_list_end(b, keys)) != 0 ||
		    (r = eth_rlp_list_end(b, entry)) != 0)
			return r;
	}
	return eth_rlp_list_end(b, outer);
}

static int
put_blob_hashes(struct eth_buf *b, const struct eth_tx *tx)
{
	size_t at = eth_rlp_list_begin(b), i;
	int r;

	for (i = 0; i < tx->blob_hashes_len; i++)
		if ((r = eth_rlp_put_bytes(b, tx->blob_hashes[i], 32)) != 0)
			return r;
	return eth_rlp_list_end(b, at);
}

static int
put_auths(struct eth_buf *b, const struct eth_tx *tx)
{
	size_t outer = eth_rlp_list_begin(b), at, i;
	int r;

	for (i = 0; i < tx->auths_len; i++) {
		const struct eth_tx_auth *a = &tx->auths[i];

		at = eth_rlp_list_begin(b);
		if ((r = eth_rlp_put_uint(b, &a->chain_id)) != 0 ||
		    (r = eth_rlp_put_bytes(b, a->address, ETH_ADDR_LEN)) != 0 ||
		    (r = eth_rlp_put_u64(b, a->nonce)) != 0 ||
		    (r = eth_rlp_put_u64(b, a->y_parity)) != 0 ||
		    (r = eth_rlp_put_uint(b, &a->r)) != 0 ||
		    (r = eth_rlp_put_uint(b, &a->s)) != 0 ||
		    (r = eth_rlp_list_end(b, at)) != 0)
			return r;
	}
	return eth_rlp_list_end(b, outer);
}

/* The fields every form of the type shares, in the order of its EIP. */
static int
put_fields(struct eth_buf *b, const struct eth_tx *tx)
{
	int r;

	if (tx->type == ETH_TX_LEGACY)
		return (r = eth_rlp_put_u64(b, tx->nonce)) != 0 ||
		    (r = eth_rlp_put_uint(b, &tx->gas_price)) != 0 ||
		    (r = eth_rlp_put_u64(b, tx->gas)) != 0 ||
		    (r = put_to(b, tx)) != 0 ||
		    (r = eth_rlp_put_uint(b, &tx->value)) != 0 ||
		    (r = eth_rlp_put_bytes(b, tx->data, tx->data_len)) != 0 ? r : 0;
	if ((r = eth_rlp_put_uint(b, &tx->chain_id)) != 0 ||
	    (r = eth_rlp_put_u64(b, tx->nonce)) != 0)
		return r;
	if (tx->type == ETH_TX_ACCESS_LIST)
		r = eth_rlp_put_uint(b, &tx->gas_price);
	else if ((r = eth_rlp_put_uint(b, &tx->max_priority_fee_per_gas)) == 0)
		r = eth_rlp_put_uint(b, &tx->max_fee_per_gas);
	if (r != 0 ||
	    (r = eth_rlp_put_u64(b, tx->gas)) != 0 ||
	    (r = put_to(b, tx)) != 0 ||
	    (r = eth_rlp_put_uint(b, &tx->value)) != 0 ||
	    (r = eth_rlp_put_bytes(b, tx->data, tx->data_len)) != 0 ||
	    (r = put_access_list(b, tx)) != 0)
		return r;
	if (tx->type == ETH_TX_BLOB)
		return (r = eth_rlp_put_uint(b, &tx->max_fee_per_blob_gas)) != 0 ||
		    (r = put_blob_hashes(b, tx)) != 0 ? r : 0;
	if (tx->type == ETH_TX_SET_CODE)
		return put_auths(b, tx);
	return 0;
}

/*
 * The whole encoding into b: with sig64 NULL the form that is hashed for
 * signing, else the signed form.
 */
static int
tx_encode(const struct eth_tx *tx, const uint8_t *sig64, int recid,
    struct eth_buf *b)
{
	struct eth_u256 v, rr, ss;
	size_t at;
	int r;

	if (tx->type > ETH_TX_SET_CODE)
		return ERR_TX_TYPE;
	if (sig64 != NULL && recid != 0 && recid != 1)
		return ERR_INVALID_ARGUMENT;
	if (tx->type != ETH_TX_LEGACY &&
	    (r = eth_buf_put_u8(b, (uint8_t)tx->type)) != 0)
		return r;
	at = eth_rlp_list_begin(b);
	if ((r = put_fields(b, tx)) != 0)
		return r;
	if (sig64 == NULL) {
		/* EIP-155: chainId, 0, 0 in place of v, r, s. */
		if (tx->type == ETH_TX_LEGACY && tx->eip155 &&
		    ((r = eth_rlp_put_uint(b, &tx->chain_id)) != 0 ||
		    (r = eth_rlp_put_bytes(b, NULL, 0)) != 0 ||
		    (r = eth_rlp_put_bytes(b, NULL, 0)) != 0))
			return r;
	} else {
		if (tx->type == ETH_TX_LEGACY) {
			if ((r = legacy_v(tx, recid, &v)) != 0)
				return r;
		} else
			eth_u256_from_u64(&v, (uint64_t)recid);
		eth_u256_from_be(sig64, 32, &rr);
		eth_u256_from_be(sig64 + 32, 32, &ss);
		if ((r = eth_rlp_put_uint(b, &v)) != 0 ||
		    (r = eth_rlp_put_uint(b, &rr)) != 0 ||
		    (r = eth_rlp_put_uint(b, &ss)) != 0)
			return r;
	}
	return eth_rlp_list_end(b, at);
}

int
eth_tx_signing_hash(const struct eth_tx *tx, uint8_t hash[32])
{
	struct eth_buf b;
	int r;

	eth_buf_init(&b, LIMIT_TX_RAW_BYTES);
	if ((r = tx_encode(tx, NULL, 0, &b)) != 0)
		goto out;
	/* success */
	eth_keccak256(b.p, b.len, hash);
	r = 0;
out:
	eth_buf_free(&b);
	return r;
}

int
eth_tx_encode_signed(const struct eth_tx *tx, const uint8_t sig64[64],
    int recid, uint8_t **rawp, size_t *rawlenp)
{
	struct eth_buf b;
	int r;

	*rawp = NULL;
	*rawlenp = 0;
	eth_buf_init(&b, LIMIT_TX_RAW_BYTES);
	if ((r = tx_encode(tx, sig64, recid, &b)) != 0)
		goto out;
	/* success */
	r = eth_buf_steal(&b, rawp, rawlenp);
out:
	eth_buf_free(&b);
	return r;
}

int
eth_tx_hash(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    uint8_t hash[32])
{
	struct eth_buf b;
	int r;

	eth_buf_init(&b, LIMIT_TX_RAW_BYTES);
	if ((r = tx_encode(tx, sig64, recid, &b)) != 0)
		goto out;
	/* success */
	eth_keccak256(b.p, b.len, hash);
	r = 0;
out:
	eth_buf_free(&b);
	return r;
}

int
eth_tx_recover_sender(const struct eth_tx *tx, const uint8_t sig64[64],
    int recid, uint8_t addr[ETH_ADDR_LEN])
{
	uint8_t digest[32], sig65[65];
	int r;

	if (recid != 0 && recid != 1)
		return ERR_SIG_INVALID;
	if ((r = eth_tx_signing_hash(tx, digest)) != 0)
		return r;
	memcpy(sig65, sig64, 64);
	sig65[64] = (uint8_t)recid;
	return eth_sig_recover_address(digest, sig65, addr);
}

/* ---- geth's JSON -------------------------------------------------------- */

static json_t *
json_quantity(const struct eth_u256 *v)
{
	char s[ETH_U256_QUANTITY_MAX];

	eth_u256_to_quantity(v, s);
	return json_string(s);
}

static json_t *
json_u64(uint64_t v)
{
	struct eth_u256 u;

	eth_u256_from_u64(&u, v);
	return json_quantity(&u);
}

/* Add a member; v NULL means an allocation failed.  Steals v. */
static int
add(json_t *o, const char *key, json_t *v)
{
	if (v == NULL)
		return ERR_NOMEM;
	return json_object_set_new(o, key, v) == 0 ? 0 : ERR_NOMEM;
}

static json_t *
json_access_list(const struct eth_tx *tx)
{
	json_t *list = json_array(), *e, *keys;
	size_t i, j;

	if (list == NULL)
		return NULL;
	for (i = 0; i < tx->access_list_len; i++) {
		const struct eth_tx_access *a = &tx->access_list[i];

		e = json_object();
		keys = json_array();
		if (json_array_append_new(list, e) != 0 || keys == NULL ||
		    add(e, "address", eth_hex_json(a->address, ETH_ADDR_LEN)) != 0) {
			json_decref(keys);
			goto fail;
		}
		/* storageKeys goes in before it is filled so that it is freed with e. */
		if (add(e, "storageKeys", keys) != 0)
			goto fail;
		for (j = 0; j < a->nkeys; j++)
			if (json_array_append_new(keys, eth_hex_json(a->keys[j], 32)) != 0)
				goto fail;
	}
	return list;
fail:
	json_decref(list);
	return NULL;
}

static json_t *
json_blob_hashes(const struct eth_tx *tx)
{
	json_t *list = json_array();
	size_t i;

	if (list == NULL)
		return NULL;
	for (i = 0; i < tx->blob_hashes_len; i++)
		if (json_array_append_new(list, eth_hex_json(tx->blob_hashes[i], 32)) != 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

/* gencodec's SetCodeAuthorization order: chainId, address, nonce, yParity, r, s. */
static json_t *
json_auths(const struct eth_tx *tx)
{
	json_t *list = json_array(), *e;
	size_t i;

	if (list == NULL)
		return NULL;
	for (i = 0; i < tx->auths_len; i++) {
		const struct eth_tx_auth *a = &tx->auths[i];

		e = json_object();
		if (json_array_append_new(list, e) != 0 ||
		    add(e, "chainId", json_quantity(&a->chain_id)) != 0 ||
		    add(e, "address", eth_hex_json(a->address, ETH_ADDR_LEN)) != 0 ||
		    add(e, "nonce", json_u64(a->nonce)) != 0 ||
		    add(e, "yParity", json_u64(a->y_parity)) != 0 ||
		    add(e, "r", json_quantity(&a->r)) != 0 ||
		    add(e, "s", json_quantity(&a->s)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

int
eth_tx_to_json(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    json_t **outp)
{
	struct eth_u256 v, rr, ss;
	uint8_t hash[32];
	json_t *o = NULL;
	int typed = tx->type != ETH_TX_LEGACY;
	int dynamic = tx->type >= ETH_TX_DYNAMIC_FEE;
	int r;

	*outp = NULL;
	if ((r = eth_tx_hash(tx, sig64, recid, hash)) != 0)
		goto out;
	if (tx->type == ETH_TX_LEGACY) {
		if ((r = legacy_v(tx, recid, &v)) != 0)
			goto out;
	} else
		eth_u256_from_u64(&v, (uint64_t)recid);
	eth_u256_from_be(sig64, 32, &rr);
	eth_u256_from_be(sig64 + 32, 32, &ss);
	if ((o = json_object()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	/* The order and the null/omitted choices are geth's txJSON, type by type. */
	if ((r = add(o, "type", json_u64((uint64_t)tx->type))) != 0 ||
	    ((typed || tx->eip155) &&
	    (r = add(o, "chainId", json_quantity(&tx->chain_id))) != 0) ||
	    (r = add(o, "nonce", json_u64(tx->nonce))) != 0 ||
	    (r = add(o, "to", tx->has_to ? eth_hex_json(tx->to, ETH_ADDR_LEN) : json_null())) != 0 ||
	    (r = add(o, "gas", json_u64(tx->gas))) != 0 ||
	    (r = add(o, "gasPrice", !dynamic ? json_quantity(&tx->gas_price) : json_null())) != 0 ||
	    (r = add(o, "maxPriorityFeePerGas",
	    dynamic ? json_quantity(&tx->max_priority_fee_per_gas) : json_null())) != 0 ||
	    (r = add(o, "maxFeePerGas",
	    dynamic ? json_quantity(&tx->max_fee_per_gas) : json_null())) != 0 ||
	    (tx->type == ETH_TX_BLOB &&
	    (r = add(o, "maxFeePerBlobGas", json_quantity(&tx->max_fee_per_blob_gas))) != 0) ||
	    (r = add(o, "value", json_quantity(&tx->value))) != 0 ||
	    (r = add(o, "input", eth_hex_json(tx->data, tx->data_len))) != 0 ||
	    (typed && (r = add(o, "accessList", json_access_list(tx))) != 0) ||
	    (tx->blob_hashes_len > 0 &&
	    (r = add(o, "blobVersionedHashes", json_blob_hashes(tx))) != 0) ||
	    (tx->auths_len > 0 &&
	    (r = add(o, "authorizationList", json_auths(tx))) != 0) ||
	    (r = add(o, "v", json_quantity(&v))) != 0 ||
	    (r = add(o, "r", json_quantity(&rr))) != 0 ||
	    (r = add(o, "s", json_quantity(&ss))) != 0 ||
	    (typed && (r = add(o, "yParity", json_u64((uint64_t)recid))) != 0) ||
	    (r = add(o, "hash", eth_hex_json(hash, 32))) != 0)
		goto out;
	/* success */
	*outp = o;
	o = NULL;
	r = 0;
out:
	json_decref(o);
	return r;
}

/* ---- decoding ----------------------------------------------------------- */

/* The items of a list, taken one at a time. */
struct items {
	const uint8_t *p;
	size_t len;
};

static int
next_item(struct items *in, struct eth_rlp_item *it)
{
	if (in->len == 0)
		return ERR_TX_INVALID;	/* too few fields */
	return eth_rlp_next(&in->p, &in->len, it);
}

static int
next_uint(struct items *in, struct eth_u256 *out)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	return eth_rlp_item_uint(&it, out);
}

static int
next_u64(struct items *in, uint64_t *out)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	return eth_rlp_item_u64(&it, out);
}

static int
next_fixed(struct items *in, uint8_t *out, size_t n)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	return eth_rlp_item_fixed(&it, out, n);
}

static int
next_list(struct items *in, struct items *list)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	if (!it.is_list)
		return ERR_RLP_EXPECTED_LIST;
	list->p = it.payload;
	list->len = it.len;
	return 0;
}

/* Count the items of a list, stopping past max (ERR_TOO_MANY), before allocating. */
static int
count_items(const struct items *list, size_t max, size_t *np)
{
	struct items walk = *list;
	struct eth_rlp_item it;
	size_t n = 0;
	int r;

	while (walk.len > 0) {
		if ((r = eth_rlp_next(&walk.p, &walk.len, &it)) != 0)
			return r;
		if (++n > max)
			return ERR_TOO_MANY;
	}
	*np = n;
	return 0;
}

/* "to": 20 bytes, or (types 0-2) the empty string of a contract creation. */
static int
next_to(struct items *in, struct eth_tx *tx)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	if (!it.is_list && it.len == 0 && tx->type <= ETH_TX_DYNAMIC_FEE)
		return 0;
	if ((r = eth_rlp_item_fixed(&it, tx->to, ETH_ADDR_LEN)) != 0)
		return r;
	tx->has_to = 1;
	return 0;
}

static int
next_data(struct items *in, struct eth_tx *tx)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	if (it.is_list)
		return ERR_RLP_EXPECTED_STRING;
	if (it.len > LIMIT_TX_DATA_BYTES)
		return ERR_TOO_LONG;
	if (it.len == 0)
		return 0;
	if ((tx->data = malloc(it.len)) == NULL)
		return ERR_NOMEM;
	memcpy(tx->data, it.payload, it.len);
	tx->data_len = it.len;
	return 0;
}

static int
next_access_list(struct items *in, struct eth_tx *tx)
{
	struct items list, entry, keys;
	size_t i, j, n, total = 0;
	int r;

	if ((r = next_list(in, &list)) != 0 ||
	    (r = count_items(&list, LIMIT_TX_ACCESS_LIST, &n)) != 0)
		return r;
	if (n == 0)
		return 0;
	if ((tx->access_list = calloc(n, sizeof(*tx->access_list))) == NULL)
		return ERR_NOMEM;
	tx->access_list_len = n;
	for (i = 0; i < n; i++) {
		struct eth_tx_access *a = &tx->access_list[i];

		if ((r = next_list(&list, &entry)) != 0 ||
		    (r = next_fixed(&entry, a->address, ETH_ADDR_LEN)) != 0 ||
		    (r = next_list(&entry, &keys)) != 0)
			return r;
		if (entry.len != 0)
			return ERR_TX_INVALID;	/* an entry is [address, keys] */
		if ((r = count_items(&keys, LIMIT_TX_STORAGE_KEYS - total, &a->nkeys)) != 0)
			return r;
		total += a->nkeys;
		if (a->nkeys == 0)
			continue;
		if ((a->keys = calloc(a->nkeys, 32)) == NULL) {
			a->nkeys = 0;
			return ERR_NOMEM;
		}
		for (j = 0; j < a->nkeys; j++)
			if ((r = next_fixed(&keys, a->keys[j], 32)) != 0)
				return r;
	}
	return 0;
}

static int
next_blob_hashes(struct items *in, struct eth_tx *tx)
{
	struct items list;
	size_t i, n;
	int r;

	if ((r = next_list(in, &list)) != 0 ||
	    (r = count_items(&list, LIMIT_TX_BLOB_HASHES, &n)) != 0)
		return r;
	if (n == 0)
		return 0;
	if ((tx->blob_hashes = calloc(n, 32)) == NULL)
		return ERR_NOMEM;
	tx->blob_hashes_len = n;
	for (i = 0; i < n; i++)
		if ((r = next_fixed(&list, tx->blob_hashes[i], 32)) != 0)
			return r;
	return 0;
}

static int
next_auths(struct items *in, struct eth_tx *tx)
{
	struct items list, entry;
	uint64_t yparity;
	size_t i, n;
	int r;

	if ((r = next_list(in, &list)) != 0 ||
	    (r = count_items(&list, LIMIT_TX_AUTHORIZATIONS, &n)) != 0)
		return r;
	if (n == 0)
		return 0;
	if ((tx->auths = calloc(n, sizeof(*tx->auths))) == NULL)
		return ERR_NOMEM;
	tx->auths_len = n;
	for (i = 0; i < n; i++) {
		struct eth_tx_auth *a = &tx->auths[i];

		if ((r = next_list(&list, &entry)) != 0 ||
		    (r = next_uint(&entry, &a->chain_id)) != 0 ||
		    (r = next_fixed(&entry, a->address, ETH_ADDR_LEN)) != 0 ||
		    (r = next_u64(&entry, &a->nonce)) != 0 ||
		    (r = next_u64(&entry, &yparity)) != 0 ||
		    (r = next_uint(&entry, &a->r)) != 0 ||
		    (r = next_uint(&entry, &a->s)) != 0)
			return r;
		if (entry.len != 0)
			return ERR_TX_INVALID;
		if (yparity > 0xff)
			return ERR_RLP_SIZE;	/* geth's field is a uint8 */
		a->y_parity = (uint8_t)yparity;
	}
	return 0;
}

/* The fields of tx->type from the payload list, then the signature. */
static int
decode_fields(struct items *in, struct eth_tx *tx, uint8_t sig64[64], int *recidp)
{
	struct eth_u256 v, rr, ss, q;
	uint64_t yparity, rem;
	int r;

	if (tx->type == ETH_TX_LEGACY) {
		if ((r = next_u64(in, &tx->nonce)) != 0 ||
		    (r = next_uint(in, &tx->gas_price)) != 0 ||
		    (r = next_u64(in, &tx->gas)) != 0 ||
		    (r = next_to(in, tx)) != 0 ||
		    (r = next_uint(in, &tx->value)) != 0 ||
		    (r = next_data(in, tx)) != 0)
			return r;
	} else {
		if ((r = next_uint(in, &tx->chain_id)) != 0 ||
		    (r = next_u64(in, &tx->nonce)) != 0)
			return r;
		if (tx->type == ETH_TX_ACCESS_LIST)
			r = next_uint(in, &tx->gas_price);
		else if ((r = next_uint(in, &tx->max_priority_fee_per_gas)) == 0)
			r = next_uint(in, &tx->max_fee_per_gas);
		if (r != 0 ||
		    (r = next_u64(in, &tx->gas)) != 0 ||
		    (r = next_to(in, tx)) != 0 ||
		    (r = next_uint(in, &tx->value)) != 0 ||
		    (r = next_data(in, tx)) != 0 ||
		    (r = next_access_list(in, tx)) != 0)
			return r;
		if (tx->type == ETH_TX_BLOB &&
		    ((r = next_uint(in, &tx->max_fee_per_blob_gas)) != 0 ||
		    (r = next_blob_hashes(in, tx)) != 0))
			return r;
		if (tx->type == ETH_TX_SET_CODE && (r = next_auths(in, tx)) != 0)
			return r;
	}
	if (tx->type == ETH_TX_LEGACY) {
		if ((r = next_uint(in, &v)) != 0)
			return r;
	} else {
		if ((r = next_u64(in, &yparity)) != 0)
			return r;
		if (yparity > 1)
			return ERR_SIG_INVALID;
	}
	if ((r = next_uint(in, &rr)) != 0 || (r = next_uint(in, &ss)) != 0)
		return r;
	if (in->len != 0)
		return ERR_TX_INVALID;	/* too many fields */

	if (tx->type != ETH_TX_LEGACY)
		*recidp = (int)yparity;
	else if (v.w[1] == 0 && v.w[2] == 0 && v.w[3] == 0 &&
	    (v.w[0] == 27 || v.w[0] == 28)) {
		tx->eip155 = 0;		/* before EIP-155: no chain id */
		*recidp = (int)(v.w[0] - 27);
	} else {
		/* EIP-155: v = chainId * 2 + 35 + recid. */
		eth_u256_from_u64(&q, 35);
		if (eth_u256_sub(&q, &v, &q))
			return ERR_SIG_INVALID;
		eth_u256_divmod_u64(&tx->chain_id, &rem, &q, 2);
		tx->eip155 = 1;
		*recidp = (int)rem;
	}
	eth_u256_to_be(&rr, sig64);
	eth_u256_to_be(&ss, sig64 + 32);
	return 0;
}

int
eth_tx_decode_signed(const uint8_t *untrusted, size_t len,
    struct eth_tx **txp, uint8_t sig64[64], int *recidp)
{
	struct eth_rlp_item outer, first;
	struct eth_tx *tx = NULL;
	struct items in, peek;
	uint8_t sig[64];
	int recid = 0, r;

	*txp = NULL;
	if (len > LIMIT_TX_RAW_BYTES) {
		r = ERR_TOO_LONG;
		goto out;
	}
	if (len == 0) {
		r = ERR_TX_INVALID;
		goto out;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	/* As geth's UnmarshalBinary: a list is legacy, a byte up to 0x7f a type. */
	if (untrusted[0] >= 0xc0) {
		tx->type = ETH_TX_LEGACY;
		r = eth_rlp_decode_one(untrusted, len, &outer);
	} else if (untrusted[0] >= 0x80) {
		r = ERR_RLP_EXPECTED_LIST;
		goto out;
	} else if (untrusted[0] >= ETH_TX_ACCESS_LIST && untrusted[0] <= ETH_TX_SET_CODE) {
		tx->type = (enum eth_tx_type)untrusted[0];
		r = eth_rlp_decode_one(untrusted + 1, len - 1, &outer);
	} else {
		r = ERR_TX_TYPE;
		goto out;
	}
	if (r != 0)
		goto out;
	if (!outer.is_list) {
		r = ERR_RLP_EXPECTED_LIST;
		goto out;
	}
	in.p = outer.payload;
	in.len = outer.len;
	/* The network form of a blob transaction is [tx, blobs, commitments, proofs]. */
	peek = in;
	if (tx->type == ETH_TX_BLOB && peek.len > 0 &&
	    eth_rlp_next(&peek.p, &peek.len, &first) == 0 && first.is_list) {
		r = ERR_TX_BLOB_SIDECAR;
		goto out;
	}
	if ((r = decode_fields(&in, tx, sig, &recid)) != 0)
		goto out;
	/* success */
	memcpy(sig64, sig, 64);
	*recidp = recid;
	*txp = tx;
	tx = NULL;
	r = 0;
out:
	eth_tx_free(tx);
	return r;
}

int
eth_tx_max_cost(const struct eth_tx *tx, struct eth_u256 *cost)
{
	struct eth_u256 sum, term, n;
	const struct eth_u256 *fee;
	int over = 0;

	memset(cost, 0, sizeof(*cost));
	fee = tx->type == ETH_TX_LEGACY || tx->type == ETH_TX_ACCESS_LIST ?
	    &tx->gas_price : &tx->max_fee_per_gas;
	eth_u256_from_u64(&n, tx->gas);
	over |= eth_u256_mul(&term, &n, fee);
	over |= eth_u256_add(&sum, &tx->value, &term);
	if (tx->blob_hashes_len > 0) {
		/* At most LIMIT blobs, so the count times 2^17 fits in 64 bits. */
		eth_u256_from_u64(&n, (uint64_t)tx->blob_hashes_len * ETH_TX_GAS_PER_BLOB);
		over |= eth_u256_mul(&term, &n, &tx->max_fee_per_blob_gas);
		over |= eth_u256_add(&sum, &sum, &term);
	}
	if (over)
		return ERR_UINT256_OVERFLOW;
	*cost = sum;
	return 0;
}

void
eth_tx_free(struct eth_tx *tx)
{
	size_t i;

	if (tx == NULL)
		return;
	for (i = 0; i < tx->access_list_len; i++)
		free(tx->access_list[i].keys);
	free(tx->access_list);
	free(tx->blob_hashes);
	free(tx->auths);
	free(tx->data);
	free(tx);
}
