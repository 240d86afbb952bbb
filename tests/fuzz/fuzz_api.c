/*
 * Fuzz target: a request body as it reaches the vault through qrexec, the
 * relay's envelope included, answered by the account_* API with a fake
 * token (tests/unit/softkey.c, a software key: TEST ONLY) and an approver
 * that approves everything, so that every method reaches its signing path.
 * The envelope must never change who the caller is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "rpc/caller.h"
#include "rpc/qrexec.h"
#include "signer/api.h"
#include "softkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct softkey key;
static struct signer_api *api;

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

	if (softkey_init(&key, "p11signer fuzz key", "fuzz://key") != 0)
		abort();
	memset(&cfg, 0, sizeof(cfg));
	eth_u256_from_u64(&cfg.chain_id, 1);
	cfg.advanced = 1;	/* reach the signing paths past validation too */
	cfg.approval_timeout_ms = 1000;
	cfg.keys = softkey_keys(&key);
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
