/*
 * tx_decode.c - a signed raw transaction decoded back into a struct eth_tx
 * (eth_tx_decode_signed()), canonical RLP only, every list capped before
 * it is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/reader.h"
#include "eth/rlp.h"
#include "eth/tx.h"
#include "eth/tx_int.h"

/*
 * The fields of a list are taken one at a time from a reader over its
 * payload (short_err ERR_RLP_TRUNCATED); running out of them is a
 * transaction with too few fields.
 */
static int
next_item(struct reader *in, struct eth_rlp_item *it)
{
	if (reader_left(in) == 0)
		return ERR_TX_INVALID;	/* too few fields */
	return eth_rlp_read(in, it);
}

static int
next_uint(struct reader *in, struct eth_u256 *out)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	return eth_rlp_item_uint(&it, out);
}

static int
next_u64(struct reader *in, uint64_t *out)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	return eth_rlp_item_u64(&it, out);
}

static int
next_fixed(struct reader *in, uint8_t *out, size_t n)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	return eth_rlp_item_fixed(&it, out, n);
}

static int
next_list(struct reader *in, struct reader *list)
{
	struct eth_rlp_item it;
	int r;

	if ((r = next_item(in, &it)) != 0)
		return r;
	if (!it.is_list)
		return ERR_RLP_EXPECTED_LIST;
	reader_init(list, it.payload, it.len, ERR_RLP_TRUNCATED);
	return 0;
}

/* Count the items of a list, stopping past max (ERR_TOO_MANY), before allocating. */
static int
count_items(const struct reader *list, size_t max, size_t *np)
{
	struct reader walk = *list;
	struct eth_rlp_item it;
	size_t n = 0;
	int r;

	while (reader_left(&walk) > 0) {
		if ((r = eth_rlp_read(&walk, &it)) != 0)
			return r;
		if (++n > max)
			return ERR_TOO_MANY;
	}
	*np = n;
	return 0;
}

/*
 * Room for the items of list (at most max, each size bytes, zeroed), for the
 * lists of a transaction: *np of them at *entriesp, NULL for an empty list.
 */
static int
alloc_items(const struct reader *list, size_t max, size_t size, void **entriesp,
    size_t *np)
{
	size_t n;
	int r;

	*entriesp = NULL;
	*np = 0;
	if ((r = count_items(list, max, &n)) != 0)
		return r;
	return eth_tx_alloc_list(n, size, entriesp, np);
}

/* "to": 20 bytes, or (types 0-2) the empty string of a contract creation. */
static int
next_to(struct reader *in, struct eth_tx *tx)
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
next_data(struct reader *in, struct eth_tx *tx)
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

/* The n 32-byte strings of list (hashes, storage keys) into out. */
static int
next_hashes(struct reader *list, uint8_t (*out)[32], size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = next_fixed(list, out[i], 32)) != 0)
			return r;
	return 0;
}

static int
next_access_list(struct reader *in, struct eth_tx *tx)
{
	struct reader list, entry, keys;
	size_t i, total = 0;
	void *room;
	int r;

	if ((r = next_list(in, &list)) != 0 ||
	    (r = alloc_items(&list, LIMIT_TX_ACCESS_LIST, sizeof(*tx->access_list), &room,
	    &tx->access_list_len)) != 0)
		return r;
	tx->access_list = room;
	for (i = 0; i < tx->access_list_len; i++) {
		struct eth_tx_access *a = &tx->access_list[i];

		if ((r = next_list(&list, &entry)) != 0 ||
		    (r = next_fixed(&entry, a->address, ETH_ADDR_LEN)) != 0 ||
		    (r = next_list(&entry, &keys)) != 0)
			return r;
		if (reader_left(&entry) != 0)
			return ERR_TX_INVALID;	/* an entry is [address, keys] */
		/* The bound is over all entries, checked before each allocation. */
		if ((r = alloc_items(&keys, LIMIT_TX_STORAGE_KEYS - total, 32, &room,
		    &a->nkeys)) != 0)
			return r;
		a->keys = room;
		total += a->nkeys;
		if ((r = next_hashes(&keys, a->keys, a->nkeys)) != 0)
			return r;
	}
	return 0;
}

static int
next_blob_hashes(struct reader *in, struct eth_tx *tx)
{
	struct reader list;
	void *room;
	int r;

	if ((r = next_list(in, &list)) != 0 ||
	    (r = alloc_items(&list, LIMIT_TX_BLOB_HASHES, 32, &room,
	    &tx->blob_hashes_len)) != 0)
		return r;
	tx->blob_hashes = room;
	return next_hashes(&list, tx->blob_hashes, tx->blob_hashes_len);
}

static int
next_auths(struct reader *in, struct eth_tx *tx)
{
	struct reader list, entry;
	uint64_t yparity;
	void *room;
	size_t i;
	int r;

	if ((r = next_list(in, &list)) != 0 ||
	    (r = alloc_items(&list, LIMIT_TX_AUTHORIZATIONS, sizeof(*tx->auths), &room,
	    &tx->auths_len)) != 0)
		return r;
	tx->auths = room;
	for (i = 0; i < tx->auths_len; i++) {
		struct eth_tx_auth *a = &tx->auths[i];

		if ((r = next_list(&list, &entry)) != 0 ||
		    (r = next_uint(&entry, &a->chain_id)) != 0 ||
		    (r = next_fixed(&entry, a->address, ETH_ADDR_LEN)) != 0 ||
		    (r = next_u64(&entry, &a->nonce)) != 0 ||
		    (r = next_u64(&entry, &yparity)) != 0 ||
		    (r = next_uint(&entry, &a->r)) != 0 ||
		    (r = next_uint(&entry, &a->s)) != 0)
			return r;
		if (reader_left(&entry) != 0)
			return ERR_TX_INVALID;
		if (yparity > 0xff)
			return ERR_RLP_SIZE;	/* geth's field is a uint8 */
		a->y_parity = (uint8_t)yparity;
	}
	return 0;
}

/* The fields of tx->type from the payload list, then the signature. */
static int
decode_fields(struct reader *in, struct eth_tx *tx, uint8_t sig64[64], int *recidp)
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
	if (reader_left(in) != 0)
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
	struct reader in, peek;
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
	reader_init(&in, outer.payload, outer.len, ERR_RLP_TRUNCATED);
	/* The network form of a blob transaction is [tx, blobs, commitments, proofs]. */
	peek = in;
	if (tx->type == ETH_TX_BLOB && reader_left(&peek) > 0 &&
	    eth_rlp_read(&peek, &first) == 0 && first.is_list) {
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
