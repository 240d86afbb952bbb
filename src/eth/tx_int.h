/*
 * tx_int.h - what the parts of src/eth/tx*.c share; not for callers
 * outside them (tx.h is the interface).
 */
#ifndef ETH_TX_INT_H
#define ETH_TX_INT_H

#include "eth/tx.h"
#include "eth/u256.h"

/*
 * v of a legacy transaction signed with recovery id recid: 27 + recid
 * before EIP-155, chainId * 2 + 35 + recid with it.
 * Errors: ERR_NUMBER_RANGE when that does not fit in 256 bits.
 */
int eth_tx_legacy_v(const struct eth_tx *tx, int recid, struct eth_u256 *v);

/*
 * The v, r and s that go into the signed forms (RLP and geth's JSON): v per
 * the type (eth_tx_legacy_v(), or the recovery id), r and s from sig64.
 * Errors: ERR_NUMBER_RANGE.
 */
int eth_tx_sig_values(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    struct eth_u256 *v, struct eth_u256 *r, struct eth_u256 *s);

/*
 * Room for the n entries of one of a transaction's lists, each size bytes,
 * zeroed, at *entriesp (NULL when n is 0), and *np = n: what the JSON and the
 * RLP reader allocate once they have checked n against its limit.
 */
int eth_tx_alloc_list(size_t n, size_t size, void **entriesp, size_t *np);

#endif /* ETH_TX_INT_H */
