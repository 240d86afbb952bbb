/*
 * Fuzz target: the policy file parser, then decisions under the parsed policy
 * for a plain transfer and for a type-4 transaction with call data and an
 * authorization, so that every transaction constraint is exercised.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eth/tx.h"
#include "signer/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const txs_json[] = {
	"{\"from\":\"0x0100000000000000000000000000000000000000\","
	"\"to\":\"0x0200000000000000000000000000000000000000\",\"gas\":\"0x5208\","
	"\"gasPrice\":\"0x3b9aca00\",\"value\":\"0x3e8\",\"nonce\":\"0x0\"}",
	"{\"from\":\"0x0100000000000000000000000000000000000000\","
	"\"to\":\"0x0200000000000000000000000000000000000000\",\"gas\":\"0x186a0\","
	"\"maxFeePerGas\":\"0x3b9aca00\",\"maxPriorityFeePerGas\":\"0x1\",\"value\":\"0x0\","
	"\"nonce\":\"0x1\",\"data\":\"0xa9059cbb00\",\"authorizationList\":[{\"chainId\":\"0x1\","
	"\"address\":\"0x0300000000000000000000000000000000000000\",\"nonce\":\"0x0\","
	"\"yParity\":\"0x1\",\"r\":\"0x1\",\"s\":\"0x2\"}]}",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signer_policy *p;
	struct signer_policy_request q;
	struct signer_policy_decision d;
	char path[64], why[256];
	static const uint8_t key[20] = { 1 };
	static struct eth_tx *txs[2];
	struct eth_u256 chain;
	size_t i;
	int fd;

	eth_u256_from_u64(&chain, 1);
	for (i = 0; i < 2; i++) {
		json_t *j = json_loads(txs_json[i], 0, NULL);
		if (txs[i] == NULL && eth_tx_from_send_args(j, &chain, &txs[i], NULL, NULL) != 0)
			abort();	/* the harness itself is wrong */
		json_decref(j);
	}
	fd = memfd_create("policy", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* No state file: windows are refused without one, which is what we test too. */
	if (signer_policy_load(path, NULL, &p, why, sizeof(why)) == 0) {
		for (i = 0; i < 2; i++) {
			memset(&q, 0, sizeof(q));
			q.caller = "work";
			q.method = "account_signTransaction";
			q.key = key;
			q.tx = txs[i];
			signer_policy_decide(p, &q, 1000000, &d);
			signer_policy_release(p, &d);
		}
		signer_policy_free(p);
	}
	close(fd);
	return 0;
}
