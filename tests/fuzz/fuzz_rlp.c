/* Fuzz target: canonical RLP decoding, every nested item, and integer items. */
#include <stdint.h>
#include <stddef.h>

#include "core/limits.h"
#include "eth/rlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const uint8_t *in, size_t len, int depth)
{
	struct eth_rlp_item it;
	struct eth_u256 v;
	uint8_t fixed[32];

	if (depth > LIMIT_RLP_DEPTH)
		return;
	while (len > 0 && eth_rlp_next(&in, &len, &it) == 0) {
		if (it.is_list)
			walk(it.payload, it.len, depth + 1);
		else {
			(void)eth_rlp_item_uint(&it, &v);
			(void)eth_rlp_item_fixed(&it, fixed, it.len <= 32 ? it.len : 32);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eth_rlp_item it;

	if (eth_rlp_decode_one(data, size, &it) == 0 && it.is_list)
		walk(it.payload, it.len, 1);
	walk(data, size, 0);
	return 0;
}
