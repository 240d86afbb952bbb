/*
 * Fuzz target: SendTxArgs JSON to a transaction, its signing hash, signed
 * encoding and geth JSON; and arbitrary bytes as a signed raw transaction.
 * Whatever encodes must decode back to the same bytes, and whatever decodes
 * must re-encode to the bytes it came from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/limits.h"
#include "eth/tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t sig[64] = { 1, [32] = 2 };

static void
from_args(const uint8_t *data, size_t size)
{
	struct eth_tx *tx = NULL, *back = NULL;
	struct eth_tx_request req;
	struct eth_u256 chain;
	json_t *j, *out = NULL;
	uint8_t hash[32], sig2[64], *raw = NULL, *raw2 = NULL;
	size_t rawlen, rawlen2;
	char err[ERR_WHY_MAX];
	int recid;

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (j == NULL)
		return;
	eth_u256_from_u64(&chain, 1);
	if (eth_tx_from_send_args(j, &chain, &tx, &req, err) == 0 &&
	    eth_tx_signing_hash(tx, hash) == 0 &&
	    eth_tx_encode_signed(tx, sig, 1, &raw, &rawlen) == 0) {
		if (eth_tx_decode_signed(raw, rawlen, &back, sig2, &recid) != 0 ||
		    eth_tx_encode_signed(back, sig2, recid, &raw2, &rawlen2) != 0 ||
		    rawlen2 != rawlen || memcmp(raw, raw2, rawlen) != 0 ||
		    eth_tx_to_json(tx, sig, 1, &out) != 0)
			abort();
	}
	json_decref(out);
	free(raw);
	free(raw2);
	eth_tx_free(tx);
	eth_tx_free(back);
	json_decref(j);
}

static void
from_raw(const uint8_t *data, size_t size)
{
	struct eth_tx *tx = NULL;
	uint8_t sig2[64], *raw = NULL, addr[20];
	size_t rawlen;
	json_t *out = NULL;
	int recid;

	if (eth_tx_decode_signed(data, size, &tx, sig2, &recid) != 0)
		return;
	if (eth_tx_encode_signed(tx, sig2, recid, &raw, &rawlen) != 0 ||
	    rawlen != size || memcmp(raw, data, size) != 0)
		abort();
	(void)eth_tx_recover_sender(tx, sig2, recid, addr);
	(void)eth_tx_to_json(tx, sig2, recid, &out);
	json_decref(out);
	free(raw);
	eth_tx_free(tx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > LIMIT_TX_RAW_BYTES)
		return 0;
	if (size > 0 && data[0] == '{')
		from_args(data, size);
	else
		from_raw(data, size);
	return 0;
}
