/* Fuzz target: strict hex, the three integer grammars, addresses; round trips must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/u256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct eth_u256 v, w;
	char q[ETH_U256_QUANTITY_MAX], d[ETH_U256_DECIMAL_MAX];
	uint8_t *out = NULL, a[ETH_ADDR_LEN];
	size_t n;
	int ok;

	if (eth_hex_decode(s, size, 4096, &out, &n) == 0) {
		char *enc = eth_hex_encode(out, n);
		/* Decoding is case-insensitive; re-encoding gives lower case of the same length. */
		if (enc == NULL || strlen(enc) != size)
			abort();
		free(enc);
		free(out);
	}
	if (eth_u256_parse_quantity(s, size, &v) == 0) {
		eth_u256_to_quantity(&v, q);
		if (eth_u256_parse_quantity(q, strlen(q), &w) != 0 || eth_u256_cmp(&v, &w) != 0)
			abort();
	}
	if (eth_u256_parse_decimal(s, size, &v) == 0) {
		eth_u256_to_decimal(&v, d);
		if (strlen(d) != size || memcmp(d, s, size) != 0)
			abort();	/* canonical decimal is the only accepted form */
	}
	(void)eth_u256_parse_big(s, size, &v);
	if (eth_addr_parse(s, size, a, &ok) == 0) {
		char cs[ETH_ADDR_STR];
		eth_addr_to_checksum(a, cs);
		if (ok != (memcmp(cs, s, 42) == 0))
			abort();
	}
	return 0;
}
