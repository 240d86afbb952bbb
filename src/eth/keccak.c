#include <string.h>

#include "eth/keccak.h"

/*
 * Keccak-256 is the sponge with rate 136 bytes over nettle's Keccak-f[1600]
 * permutation; it differs from SHA3-256 only in the padding byte (0x01, the
 * original Keccak submission, where FIPS 202 uses 0x06).  Nettle has no
 * Keccak-256, so the sponge is here and the permutation is nettle's.
 */

static void
keccak_absorb_block(struct sha3_state *st, const uint8_t *block)
{
	unsigned i, j;

	for (i = 0; i < ETH_KECCAK256_RATE / 8; i++) {
		uint64_t lane = 0;
		for (j = 0; j < 8; j++)
			lane |= (uint64_t)block[8 * i + j] << (8 * j);
		st->a[i] ^= lane;
	}
	sha3_permute(st);
}

void
eth_keccak_init(struct eth_keccak *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

void
eth_keccak_update(struct eth_keccak *ctx, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (ctx->index > 0) {
		size_t take = ETH_KECCAK256_RATE - ctx->index;
		if (take > n)
			take = n;
		memcpy(ctx->block + ctx->index, p, take);
		ctx->index += (unsigned)take;
		p += take;
		n -= take;
		if (ctx->index < ETH_KECCAK256_RATE)
			return;
		keccak_absorb_block(&ctx->state, ctx->block);
		ctx->index = 0;
	}
	while (n >= ETH_KECCAK256_RATE) {
		keccak_absorb_block(&ctx->state, p);
		p += ETH_KECCAK256_RATE;
		n -= ETH_KECCAK256_RATE;
	}
	memcpy(ctx->block, p, n);
	ctx->index = (unsigned)n;
}

void
eth_keccak_final(struct eth_keccak *ctx, uint8_t out[32])
{
	unsigned i;

	memset(ctx->block + ctx->index, 0, ETH_KECCAK256_RATE - ctx->index);
	ctx->block[ctx->index] |= 0x01;
	ctx->block[ETH_KECCAK256_RATE - 1] |= 0x80;
	keccak_absorb_block(&ctx->state, ctx->block);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(ctx->state.a[i / 8] >> (8 * (i % 8)));
	explicit_bzero(ctx, sizeof(*ctx));
}

void
eth_keccak256(const void *p, size_t n, uint8_t out[32])
{
	struct eth_keccak ctx;

	eth_keccak_init(&ctx);
	eth_keccak_update(&ctx, p, n);
	eth_keccak_final(&ctx, out);
}
