/*
 * The relay's nonce table (src/relay/nonce.h): takes reconciled with the
 * node's pending count, nonces given back, two addresses apart, EIP-2681.
 * Cases in tests/vectors/relay/nonces.json: each step is
 *   ["take", NODE_PENDING, WANT]  (or "take-b" for a second address;
 *                                  NODE_PENDING may be a hex string,
 *                                  WANT an ERR_ name)
 *   ["give", NONCE]
 * A concurrent case checks that 4 threads x 250 takes get 1000 distinct nonces.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "relay/nonce.h"
#include "tvec.h"

static const uint8_t addr_a[ETH_ADDR_LEN] = { 0xa };
static const uint8_t addr_b[ETH_ADDR_LEN] = { 0xb };

static void
test_nonce_case(void **state)
{
	const json_t *c = *state, *step;
	struct relay_nonces *t = NULL;
	size_t i;

	assert_int_equal(relay_nonces_new(&t), 0);
	json_array_foreach(json_object_get(c, "steps"), i, step) {
		const char *op = json_string_value(json_array_get(step, 0));
		uint64_t arg = (uint64_t)json_integer_value(json_array_get(step, 1));
		const json_t *want = json_array_get(step, 2);
		uint64_t got = 0;
		int r;

		if (strcmp(op, "give") == 0) {
			relay_nonce_give_back(t, addr_a, arg);
			continue;
		}
		/* Past JSON's signed integers, as a hex string. */
		if (json_is_string(json_array_get(step, 1)))
			arg = strtoull(json_string_value(json_array_get(step, 1)), NULL, 16);
		r = relay_nonce_take(t, strcmp(op, "take-b") == 0 ? addr_b : addr_a, arg, &got);
		if (json_is_string(want)) {
			if (strcmp(err_name(r), json_string_value(want)) != 0)
				fail_msg("step %zu: %s, want %s", i, err_name(r), json_string_value(want));
			continue;
		}
		if (r != 0)
			fail_msg("step %zu: %s", i, err_name(r));
		if (got != (uint64_t)json_integer_value(want))
			fail_msg("step %zu: nonce %llu, want %lld", i, (unsigned long long)got,
			    (long long)json_integer_value(want));
	}
	relay_nonces_free(t);
}

struct taker {
	struct relay_nonces *t;
	uint64_t got[250];
};

static void *
take_many(void *arg)
{
	struct taker *k = arg;
	size_t i;

	for (i = 0; i < 250; i++)
		if (relay_nonce_take(k->t, addr_a, 0, &k->got[i]) != 0)
			k->got[i] = UINT64_MAX;
	return NULL;
}

static void
test_concurrent_takes_distinct(void **state)
{
	struct taker k[4];
	pthread_t th[4];
	static unsigned char seen[1000];
	size_t i, j;

	memset(seen, 0, sizeof(seen));
	assert_int_equal(relay_nonces_new(&k[0].t), 0);
	for (i = 0; i < 4; i++) {
		k[i].t = k[0].t;
		assert_int_equal(pthread_create(&th[i], NULL, take_many, &k[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 250; j++) {
			assert_true(k[i].got[j] < 1000);
			assert_int_equal(seen[k[i].got[j]], 0);
			seen[k[i].got[j]] = 1;
		}
	relay_nonces_free(k[0].t);
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_concurrent_takes_distinct),
	};
	int failed = 0;

	failed += tvec_run_file("relay-nonces", "tests/vectors/relay/nonces.json",
	    test_nonce_case);
	failed += cmocka_run_group_tests_name("relay-nonces-threads", fixed, NULL, NULL);
	return failed != 0;
}
