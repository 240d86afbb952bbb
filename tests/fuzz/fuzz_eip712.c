/*
 * Fuzz target: EIP-712 typed data (with the tree shown to the approver) and
 * the Gnosis Safe conversion, from arbitrary JSON.  A digest computed twice
 * must not change; a tree must exist exactly when hashing succeeded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eth/eip712.h"
#include "core/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eth_eip712_result res;
	struct eth_u256 chain;
	json_t *j, *typed = NULL;
	uint8_t again[32];
	char err[ERR_WHY_MAX];

	if (size > LIMIT_SIGN_DATA_BYTES)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (j == NULL)
		return 0;
	if (eth_eip712_hash(j, &res, 1, err) == 0) {
		if (res.messages == NULL || eth_eip712_digest(j, again, NULL) != 0 ||
		    memcmp(again, res.digest, 32) != 0)
			abort();
		eth_eip712_result_clear(&res);
	} else if (res.messages != NULL || err[0] == '\0')
		abort();
	eth_u256_from_u64(&chain, 1);
	if (eth_eip712_from_gnosis_safe_tx(j, &chain, &typed, NULL, err) == 0) {
		if (eth_eip712_digest(typed, again, NULL) != 0)
			abort();
		json_decref(typed);
	}
	json_decref(j);
	return 0;
}
