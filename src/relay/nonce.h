/*
 * nonce.h - nonces for eth_sendTransaction, per sending address, in the relay.
 *
 * Several clients may send from one address at once; each must get its own
 * nonce, and the nonces that reach the chain must have no gap.  The node's
 * pending transaction count alone cannot do that (two senders would read the
 * same count before either has sent), so the relay keeps, per address, the
 * next nonce it will hand out, reconciled with the node at every take: the
 * next nonce is never below the node's pending count, which covers
 * transactions sent by other wallets and a node that restarted.
 *
 * A nonce whose transaction was not sent (the vault refused it, the node
 * rejected or never got it) is given back.  The highest one handed out is
 * simply taken back; one below it is kept and handed out first next time, so
 * the gap it would leave is filled by the next sender.  Given-back nonces
 * below the node's pending count are dropped at the next take (the node has
 * a transaction there already).  Kept per address: LIMIT_NONCE_RELEASED;
 * addresses: LIMIT_NONCE_ADDRESSES.
 */
#ifndef RELAY_NONCE_H
#define RELAY_NONCE_H

#include <stdint.h>
#include "eth/addr.h"

struct relay_nonces;

/* An empty table; caller frees with relay_nonces_free().  ERR_NOMEM. */
int relay_nonces_new(struct relay_nonces **outp);

/* Free; accepts NULL. */
void relay_nonces_free(struct relay_nonces *t);

/*
 * The nonce for addr's next transaction, given the node's pending
 * transaction count for addr (fetched by the caller just before).
 * Errors: ERR_RELAY_NONCES_FULL, ERR_NUMBER_RANGE (no nonce left below
 * 2^64 - 1, EIP-2681).  *noncep is set only on success.
 */
int relay_nonce_take(struct relay_nonces *t, const uint8_t addr[ETH_ADDR_LEN],
    uint64_t node_pending, uint64_t *noncep);

/* Give back a nonce from relay_nonce_take() whose transaction was not sent. */
void relay_nonce_give_back(struct relay_nonces *t, const uint8_t addr[ETH_ADDR_LEN],
    uint64_t nonce);

#endif /* RELAY_NONCE_H */
