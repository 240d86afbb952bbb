/*
 * keccak.h - Keccak-256 as Ethereum uses it (the original Keccak padding
 * 0x01, not SHA3-256's 0x06), on nettle's sha3_permute.
 *
 * struct eth_keccak is a plain value on the caller's stack: init, update any
 * number of times, final (which wipes the state).
 */
#ifndef ETH_KECCAK_H
#define ETH_KECCAK_H

#include <stddef.h>
#include <stdint.h>
#include <nettle/sha3.h>

#define ETH_KECCAK256_RATE 136

struct eth_keccak {
	struct sha3_state state;
	unsigned index;
	uint8_t block[ETH_KECCAK256_RATE];
};

void eth_keccak_init(struct eth_keccak *ctx);
void eth_keccak_update(struct eth_keccak *ctx, const void *p, size_t n);
void eth_keccak_final(struct eth_keccak *ctx, uint8_t out[32]);

/* One-shot Keccak-256 of p[0..n-1]. */
void eth_keccak256(const void *p, size_t n, uint8_t out[32]);

#endif /* ETH_KECCAK_H */
