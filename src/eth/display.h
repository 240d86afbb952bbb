/*
 * display.h - numbers, addresses, tokens and chains as a person reads them:
 * what the approvers show and the call-data summaries (calldata.h) say.
 * Outputs are fixed-size buffers the caller provides; nothing allocates.
 */
#ifndef ETH_DISPLAY_H
#define ETH_DISPLAY_H

#include <stdint.h>

#include "eth/addr.h"
#include "eth/u256.h"

/*
 * v / 10^decimals in decimal: trailing zeros dropped, but one digit kept after
 * the point ("250.0", "1.5", "0.000000000000000001"); decimals 0: "7".
 */
#define ETH_DISPLAY_UNITS_MAX (ETH_U256_DECIMAL_MAX + 2)
void eth_display_units(const struct eth_u256 *v, unsigned decimals,
    char out[ETH_DISPLAY_UNITS_MAX]);

/* "0xA0b8…eB48": EIP-55, the first and last 4 digits around an ellipsis. */
#define ETH_DISPLAY_SHORT_ADDR_MAX 16
void eth_display_short_address(const uint8_t addr[ETH_ADDR_LEN],
    char out[ETH_DISPLAY_SHORT_ADDR_MAX]);

/*
 * A token the summary names with its decimals: a small fixed table of
 * well-known tokens per chain.  Returns its symbol and sets *decimalsp, or
 * NULL for a token not in the table (amounts are then raw units).
 */
const char *eth_display_token(const struct eth_u256 *chain_id,
    const uint8_t addr[ETH_ADDR_LEN], unsigned *decimalsp);

/* The name of a well-known chain ("Ethereum mainnet", "Sepolia"), or NULL. */
const char *eth_display_chain_name(const struct eth_u256 *chain_id);

#endif /* ETH_DISPLAY_H */
