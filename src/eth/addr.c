#include <ctype.h>
#include <string.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"

/* EIP-55: hex digit i is upper case when nibble i of keccak(lower hex) >= 8. */
void
eth_addr_to_checksum(const uint8_t addr[ETH_ADDR_LEN], char out[ETH_ADDR_STR])
{
	uint8_t h[32];
	int i;

	eth_hex_encode_to(addr, ETH_ADDR_LEN, out);
	eth_keccak256(out + 2, 40, h);
	for (i = 0; i < 40; i++) {
		unsigned nibble = (h[i / 2] >> (i % 2 ? 0 : 4)) & 0xf;
		if (nibble >= 8)
			out[2 + i] = (char)toupper((unsigned char)out[2 + i]);
	}
}

int
eth_addr_parse(const char *untrusted, size_t len, uint8_t out[ETH_ADDR_LEN],
    int *checksum_okp)
{
	char want[ETH_ADDR_STR];
	uint8_t a[ETH_ADDR_LEN];

	if (checksum_okp != NULL)
		*checksum_okp = 0;
	if (len != 42 || eth_hex_decode_fixed(untrusted, len, a, sizeof(a)) != 0)
		return ERR_ADDR_INVALID;
	if (checksum_okp != NULL) {
		eth_addr_to_checksum(a, want);
		/* The prefix must be "0x" for the text to be the EIP-55 form. */
		*checksum_okp = memcmp(want, untrusted, 42) == 0;
	}
	memcpy(out, a, sizeof(a));
	return 0;
}

int
eth_addr_parse_checksummed(const char *untrusted, size_t len,
    uint8_t out[ETH_ADDR_LEN])
{
	uint8_t a[ETH_ADDR_LEN];
	int ok, r;

	if ((r = eth_addr_parse(untrusted, len, a, &ok)) != 0)
		return r;
	if (!ok)
		return ERR_ADDR_CHECKSUM;
	memcpy(out, a, sizeof(a));
	return 0;
}

int
eth_addr_from_pubkey(const uint8_t pub[65], uint8_t out[ETH_ADDR_LEN])
{
	uint8_t h[32];

	if (pub[0] != 0x04)
		return ERR_PUBKEY_INVALID;
	eth_keccak256(pub + 1, 64, h);
	memcpy(out, h + 12, ETH_ADDR_LEN);
	return 0;
}
