/*
 * eth.h - the relay's eth_* endpoint: ordinary Ethereum tools (ethers.js,
 * cast, Hardhat, a dapp) sign through the vault and reach the user's node
 * through one URL.
 *
 * With --upstream-node, each JSON-RPC request the relay receives goes one of
 * three ways:
 *   account_*              to the vault, unchanged (as without an upstream node);
 *   the signing methods    translated to account_* calls to the vault, after
 *                          filling what the caller left out from the node:
 *     eth_accounts, eth_requestAccounts   account_list
 *     eth_sign(address, data)             account_signData text/plain
 *     personal_sign(data, address[, pw])  account_signData text/plain
 *     eth_signTypedData_v4(address, typed data as a string or an object)
 *                                          account_signTypedData
 *     eth_signTransaction(tx)             account_signTransaction → {raw, tx}
 *     eth_sendTransaction(tx)             account_signTransaction, then
 *                                          eth_sendRawTransaction → hash
 *   everything else        to the node, byte for byte, and its answer back
 *                          as the node gave it (HTTP status included).
 * A batch is split: the signing and account_* members are answered here, the
 * rest go to the node as one batch; the answers are joined.
 *
 * Filling a transaction (eth_signTransaction, eth_sendTransaction), only what
 * is absent or null: chainId from eth_chainId (asked once); value 0x0; gas
 * from eth_estimateGas plus RELAY_ETH_GAS_MARGIN_PCT percent; fees, unless
 * gasPrice or maxFeePerGas is given, from the latest block's baseFeePerGas
 * (maxFeePerGas = 2 x baseFee + tip, tip from eth_maxPriorityFeePerGas) or,
 * on a chain without EIP-1559, gasPrice from eth_gasPrice; the nonce from the
 * relay's per-address table reconciled with eth_getTransactionCount(from,
 * "pending") (relay/nonce.h), given back if the transaction is not sent.
 * eth_signTransaction fills the nonce the next send would take and does not
 * keep it: a transaction signed and never sent leaves no gap.  A recipient
 * written all in one case is put in its EIP-55 form (eth_* has no checksums,
 * and ethers.js sends lower case); a mixed-case one goes to the vault as it
 * came, for the vault to check.
 *
 * The vault still decides: approval, rules and the audit log see the filled
 * transaction exactly as any other account_signTransaction, and the relay
 * holds no key.  Errors: the vault's and the node's JSON-RPC errors reach the
 * caller as they were; a node that cannot be reached or answers what is not
 * JSON-RPC gives RELAY_ERR_NODE with the reason.
 */
#ifndef RELAY_ETH_H
#define RELAY_ETH_H

#include <stddef.h>
#include "relay/relay.h"

#define RELAY_ERR_NODE            (-32007)
#define RELAY_ETH_GAS_MARGIN_PCT  20

struct relay_eth;

/*
 * The endpoint over cfg (borrowed; must outlive it) for the node at node_url,
 * each node call bounded by node_timeout_s (0: 30).  Caller frees with
 * relay_eth_free().  Errors: ERR_INVALID_ARGUMENT (not an http(s) URL),
 * ERR_NOMEM.
 */
int relay_eth_new(const struct relay_config *cfg, const char *node_url,
    unsigned node_timeout_s, struct relay_eth **outp);

/* Free; accepts NULL. */
void relay_eth_free(struct relay_eth *e);

/* One POST body; fits rpc_http_body_fn with ctx a struct relay_eth *. */
char *relay_eth_handle(void *ctx, const struct rpc_caller *caller,
    const char *untrusted_body, size_t len, unsigned *statusp);

#endif /* RELAY_ETH_H */
