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

#endif /* ETH_TX_INT_H */
