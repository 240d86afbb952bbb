/* Fuzz target: the policy file parser, then one decision under the parsed policy. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "signer/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signer_policy *p;
	struct signer_policy_request q;
	struct signer_policy_decision d;
	char path[64], why[256];
	static const uint8_t key[20] = { 1 }, to[20] = { 2 };
	int fd = memfd_create("policy", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* No state file: windows are refused without one, which is what we test too. */
	if (signer_policy_load(path, NULL, &p, why, sizeof(why)) == 0) {
		memset(&q, 0, sizeof(q));
		q.caller = "work";
		q.method = "account_signTransaction";
		q.key = key;
		q.to = to;
		q.is_tx = 1;
		eth_u256_from_u64(&q.chain_id, 1);
		eth_u256_from_u64(&q.value, 1000);
		signer_policy_decide(p, &q, 1000000, &d);
		signer_policy_release(p, &d);
		signer_policy_free(p);
	}
	close(fd);
	return 0;
}
