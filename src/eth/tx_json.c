/*
 * tx_json.c - a signed transaction as geth's JSON (eth_tx_to_json()).
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/hex.h"
#include "eth/tx.h"
#include "eth/tx_int.h"

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
	if ((r = eth_tx_sig_values(tx, sig64, recid, &v, &rr, &ss)) != 0)
		goto out;
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
