/*
 * tx_decode.c - a signed raw transaction decoded back into a struct eth_tx
 * (eth_tx_decode_signed()), canonical RLP only, every list capped before
 * it is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/rlp.h"
#include "eth/tx.h"

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
