/*
 * Fuzz target: a request body as it reaches the vault through qrexec, the
 * relay's envelope included, answered by the account_* API with a fake
 * token (a software key: TEST ONLY) and an approver that approves
 * everything, so that every method reaches its signing path.  The
 * envelope must never change who the caller is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/keccak.h"
#include "eth/sig.h"
#include "rpc/caller.h"
#include "rpc/qrexec.h"
#include "signer/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static secp256k1_context *ctx;
static uint8_t seckey[32], pubkey[65], key_addr[20];
static char key_hex[ETH_ADDR_STR];
static struct signer_api *api;

static int
fake_list(void *c, json_t **accountsp, char why[SIGNER_WHY_MAX])
{
	*accountsp = json_pack("[{s:s,s:s}]", "address", key_hex, "url", "fuzz://key");
	return *accountsp != NULL ? 0 : ERR_NOMEM;
}

static int
fake_sign(void *c, const uint8_t addr[20], const uint8_t digest[32], uint8_t sig64[64],
    int *recidp, char why[SIGNER_WHY_MAX])
{
	secp256k1_ecdsa_signature sig;

	if (memcmp(addr, key_addr, 20) != 0)
		return ERR_P11_KEY_NOT_FOUND;
	if (!secp256k1_ecdsa_sign(ctx, &sig, digest, seckey, NULL, NULL))
		return ERR_INTERNAL;
	secp256k1_ecdsa_signature_serialize_compact(ctx, sig64, &sig);
	if (eth_sig_normalize(sig64, NULL) != 0)
		return ERR_INTERNAL;
	return eth_sig_find_recid(digest, sig64, pubkey, recidp);
}

static int
fake_generate(void *c, uint8_t addr[20], char why[SIGNER_WHY_MAX])
{
	memcpy(addr, key_addr, 20);
	return 0;
}

static int
approve_all(void *c, const char *method, const json_t *request, int timeout_ms,
    json_t **resultp)
{
	*resultp = json_pack("{s:b,s:O?,s:O?}", "approved", 1,
	    "transaction", json_object_get(request, "transaction"),
	    "accounts", json_object_get(request, "accounts"));
	return *resultp != NULL ? 0 : ERR_NOMEM;
}

static void
setup(void)
{
	struct signer_api_config cfg;
	secp256k1_pubkey pk;
	size_t n = 65;

	ctx = secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
	eth_keccak256("p11signer fuzz key", 18, seckey);
	if (!secp256k1_ec_pubkey_create(ctx, &pk, seckey))
		abort();
	secp256k1_ec_pubkey_serialize(ctx, pubkey, &n, &pk, SECP256K1_EC_UNCOMPRESSED);
	eth_addr_from_pubkey(pubkey, key_addr);
	eth_addr_to_checksum(key_addr, key_hex);
	memset(&cfg, 0, sizeof(cfg));
	eth_u256_from_u64(&cfg.chain_id, 1);
	cfg.advanced = 1;	/* reach the signing paths past validation too */
	cfg.approval_timeout_ms = 1000;
	cfg.keys = (struct signer_keys){ NULL, fake_list, fake_sign, fake_generate };
	cfg.approver = (struct signer_approver){ .ask = approve_all };
	if (signer_api_new(&cfg, &api) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_caller caller;

	if (api == NULL)
		setup();
	memset(&caller, 0, sizeof(caller));
	caller.kind = RPC_CALLER_QUBE;
	rpc_caller_set(caller.id, "work");
	rpc_caller_set(caller.profile, "cold");
	free(rpc_qrexec_answer(signer_api_table(api), &caller, (const char *)data, size));
	if (strcmp(caller.id, "work") != 0 || strcmp(caller.profile, "cold") != 0 ||
	    caller.kind != RPC_CALLER_QUBE)
		abort();
	return 0;
}
