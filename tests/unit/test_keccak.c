/* Keccak-256 known answers (from ethers.js), one-shot and fed in pieces. */
#include <stdlib.h>
#include <string.h>

#include "eth/hex.h"
#include "eth/keccak.h"
#include "tvec.h"

static void
test_keccak_case(void **state)
{
	const json_t *c = *state;
	size_t n, wn, i, step;
	uint8_t *in = tvec_hex(tvec_str(c, "input"), &n);
	uint8_t *want = tvec_hex(tvec_str(c, "hash"), &wn);
	uint8_t got[32];
	struct eth_keccak ctx;

	assert_int_equal(wn, 32);
	eth_keccak256(in, n, got);
	assert_memory_equal(got, want, 32);
	/* Odd-sized pieces cross the 136-byte block boundary at every offset. */
	for (step = 1; step <= 137; step += 17) {
		eth_keccak_init(&ctx);
		for (i = 0; i < n; i += step)
			eth_keccak_update(&ctx, in + i, n - i < step ? n - i : step);
		eth_keccak_final(&ctx, got);
		assert_memory_equal(got, want, 32);
	}
	free(in);
	free(want);
}

int
main(void)
{
	int failed = tvec_run_file("keccak", "tests/vectors/core/keccak.json",
	    test_keccak_case);

	return failed != 0;
}
