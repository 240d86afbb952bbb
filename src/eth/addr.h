/*
 * addr.h - Ethereum addresses and EIP-55 mixed-case checksums.
 */
#ifndef ETH_ADDR_H
#define ETH_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ETH_ADDR_LEN 20
#define ETH_ADDR_STR 43		/* "0x" + 40 digits + NUL */

/*
 * Parse untrusted "0x" + 40 hex digits.  *checksum_okp (may be NULL) is set to
 * 1 when the text is exactly the EIP-55 form of the address, else 0 (all lower
 * or all upper case count as not checksummed, as in Clef).
 * Errors: ERR_ADDR_INVALID.
 */
int eth_addr_parse(const char *untrusted, size_t len, uint8_t out[ETH_ADDR_LEN],
    int *checksum_okp);

/* As eth_addr_parse, and ERR_ADDR_CHECKSUM unless the text is in EIP-55 form. */
int eth_addr_parse_checksummed(const char *untrusted, size_t len,
    uint8_t out[ETH_ADDR_LEN]);

/* The EIP-55 form of an address. */
void eth_addr_to_checksum(const uint8_t addr[ETH_ADDR_LEN], char out[ETH_ADDR_STR]);

/* keccak256(X || Y)[12:] of an uncompressed public key 04 || X || Y. */
int eth_addr_from_pubkey(const uint8_t pub[65], uint8_t out[ETH_ADDR_LEN]);

#endif /* ETH_ADDR_H */
