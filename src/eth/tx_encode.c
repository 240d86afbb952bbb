/*
 * tx_encode.c - the RLP encodings of a transaction: the form hashed for
 * signing, the signed form, its hash, and the sender it recovers to.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/keccak.h"
#include "eth/rlp.h"
#include "eth/sig.h"
#include "eth/tx.h"
#include "eth/tx_int.h"

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
		if ((r = eth_tx_sig_values(tx, sig64, recid, &v, &rr, &ss)) != 0)
			return r;
		if ((r = eth_rlp_put_uint(b, &v)) != 0 ||
		    (r = eth_rlp_put_uint(b, &rr)) != 0 ||
		    (r = eth_rlp_put_uint(b, &ss)) != 0)
			return r;
	}
	return eth_rlp_list_end(b, at);
}

/* keccak256 of tx_encode(): the signing hash with sig64 NULL, else tx.Hash(). */
static int
tx_encode_hash(const struct eth_tx *tx, const uint8_t *sig64, int recid,
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
eth_tx_signing_hash(const struct eth_tx *tx, uint8_t hash[32])
{
	return tx_encode_hash(tx, NULL, 0, hash);
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
	return tx_encode_hash(tx, sig64, recid, hash);
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
