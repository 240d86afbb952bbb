/*
 * Fuzz target: call data.  The first byte chooses what the rest is:
 *   0  a function signature, a newline, then arguments: eth_abi_fn_parse()
 *      and eth_abi_decode()
 *   1  a whole call's data to a contract, through the built-in table with
 *      every summary and inner call (multiSend, multicall, Safe)
 *   2  a --4bytedb file
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "eth/abi.h"
#include "eth/calldata.h"
#include "core/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct eth_calldata_db *builtin_db;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t to[ETH_ADDR_LEN] = { 0xa0, 0xb8, 0x69, 0x91 };
	struct eth_calldata_db *db = NULL;
	struct eth_abi_fn *fn = NULL;
	struct eth_u256 chain;
	const uint8_t *nl;
	size_t budget = LIMIT_ABI_VALUES;
	json_t *out = NULL;

	if (builtin_db == NULL && eth_calldata_db_new(&builtin_db) != 0)
		return 0;
	if (size < 1)
		return 0;
	eth_u256_from_u64(&chain, 1);
	switch (data[0] % 3) {
	case 0:
		if ((nl = memchr(data + 1, '\n', size - 1)) == NULL)
			break;
		if (eth_abi_fn_parse((const char *)data + 1, (size_t)(nl - data - 1), &fn) == 0)
			(void)eth_abi_decode(fn, nl + 1, size - (size_t)(nl + 1 - data), &budget,
			    &out, NULL);
		break;
	case 1:
		(void)eth_calldata_decode(builtin_db, &chain, to, data + 1, size - 1, NULL, &out);
		break;
	case 2:
		if (eth_calldata_db_new(&db) == 0)
			(void)eth_calldata_db_load_4byte(db, (const char *)data + 1, size - 1, NULL);
		break;
	}
	json_decref(out);
	eth_abi_fn_free(fn);
	eth_calldata_db_free(db);
	return 0;
}
