#include <stdio.h>
#include <string.h>

#include "eth/display.h"

void
eth_display_units(const struct eth_u256 *v, unsigned decimals,
    char out[ETH_DISPLAY_UNITS_MAX])
{
	char dec[ETH_U256_DECIMAL_MAX];
	size_t n, o = 0, i;

	eth_u256_to_decimal(v, dec);
	n = strlen(dec);
	if (decimals == 0 || decimals > 77) {
		memcpy(out, dec, n + 1);
		return;
	}
	if (n <= decimals) {
		out[o++] = '0';
		out[o++] = '.';
		for (i = n; i < decimals; i++)
			out[o++] = '0';
		memcpy(out + o, dec, n);
		o += n;
	} else {
		memcpy(out, dec, n - decimals);
		o = n - decimals;
		out[o++] = '.';
		memcpy(out + o, dec + n - decimals, decimals);
		o += decimals;
	}
	/* trailing zeros go, but one digit stays after the point: "250.0" */
	while (out[o - 1] == '0' && out[o - 2] != '.')
		o--;
	out[o] = '\0';
}

void
eth_display_short_address(const uint8_t addr[ETH_ADDR_LEN],
    char out[ETH_DISPLAY_SHORT_ADDR_MAX])
{
	char full[ETH_ADDR_STR];

	eth_addr_to_checksum(addr, full);
	snprintf(out, ETH_DISPLAY_SHORT_ADDR_MAX, "%.6s\xe2\x80\xa6%s", full, full + 38);
}

static const struct {
	uint64_t chain;
	const char *addr;		/* EIP-55 */
	const char *symbol;
	unsigned decimals;
} tokens[] = {
	{ 1, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", 6 },
	{ 1, "0xdAC17F958D2ee523a2206206994597C13D831ec7", "USDT", 6 },
	{ 1, "0x6B175474E89094C44Da98b954EedeAC495271d0F", "DAI", 18 },
	{ 1, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "WETH", 18 },
	{ 1, "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599", "WBTC", 8 },
};

const char *
eth_display_token(const struct eth_u256 *chain_id, const uint8_t addr[ETH_ADDR_LEN],
    unsigned *decimalsp)
{
	char s[ETH_ADDR_STR];
	uint64_t chain;
	size_t i;

	if (eth_u256_to_u64(chain_id, &chain) != 0)
		return NULL;
	eth_addr_to_checksum(addr, s);
	for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		if (tokens[i].chain == chain && strcmp(tokens[i].addr, s) == 0) {
			*decimalsp = tokens[i].decimals;
			return tokens[i].symbol;
		}
	return NULL;
}

static const struct {
	uint64_t id;
	const char *name;
} chains[] = {
	{ 1, "Ethereum mainnet" }, { 10, "OP Mainnet" }, { 56, "BNB Smart Chain" },
	{ 100, "Gnosis" }, { 137, "Polygon PoS" }, { 8453, "Base" },
	{ 17000, "Holesky" }, { 42161, "Arbitrum One" }, { 59144, "Linea" },
	{ 560048, "Hoodi" }, { 11155111, "Sepolia" },
};

const char *
eth_display_chain_name(const struct eth_u256 *chain_id)
{
	uint64_t id;
	size_t i;

	if (eth_u256_to_u64(chain_id, &id) != 0)
		return NULL;
	for (i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		if (chains[i].id == id)
			return chains[i].name;
	return NULL;
}
