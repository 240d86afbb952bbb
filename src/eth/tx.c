/*
 * tx.c - what the parts of a transaction share: v, r and s of its
 * signature, room for its lists, the most it can cost, and freeing it.
 * Built from JSON in tx_args.c, encoded in tx_encode.c, shown in tx_json.c,
 * decoded in tx_decode.c.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/tx.h"
#include "eth/tx_int.h"

int
eth_tx_legacy_v(const struct eth_tx *tx, int recid, struct eth_u256 *v)
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

int
eth_tx_sig_values(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    struct eth_u256 *v, struct eth_u256 *r, struct eth_u256 *s)
{
	int e;

	if (tx->type == ETH_TX_LEGACY) {
		if ((e = eth_tx_legacy_v(tx, recid, v)) != 0)
			return e;
	} else
		eth_u256_from_u64(v, (uint64_t)recid);
	eth_u256_from_be(sig64, 32, r);
	eth_u256_from_be(sig64 + 32, 32, s);
	return 0;
}

int
eth_tx_alloc_list(size_t n, size_t size, void **entriesp, size_t *np)
{
	*entriesp = NULL;
	*np = 0;
	if (n == 0)
		return 0;
	if ((*entriesp = calloc(n, size)) == NULL)
		return ERR_NOMEM;
	*np = n;
	return 0;
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
