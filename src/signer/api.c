/*
 * api.c - the account_* method table, the checks of a request's parameters
 * that every method shares, and the API's life (see api.h).  The methods are
 * in api_accounts.c, api_tx.c and api_data.c, what they share in api_int.h.
 * Clef's behaviour is from go-ethereum signer/core/api.go, signed_data.go and
 * fourbyte/validation.go (commit eb429a062a40); where we differ, docs/api.md
 * says so.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/hex.h"
#include "signer/api_int.h"

int
signer_api_address_param(const json_t *v, uint8_t out[ETH_ADDR_LEN], const char *what,
    struct rpc_error *err)
{
	if (!json_is_string(v) ||
	    eth_addr_parse(json_string_value(v), json_string_length(v), out, NULL) != 0)
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "invalid argument %s: not an address (0x and 40 hex digits)", what);
	return 0;
}

int
signer_api_check_params(const json_t *params, size_t min, size_t max, struct rpc_error *err)
{
	size_t n = json_array_size(params);

	if (n < min)
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "missing value for required argument %zu", n);
	if (n > max)
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "too many arguments, want at most %zu", max);
	return 0;
}

int
signer_api_hex_param(const json_t *v, size_t max, uint8_t **outp, size_t *lenp, const char *what,
    struct rpc_error *err)
{
	int r;

	if (!json_is_string(v))
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "invalid argument %s: not a hex string", what);
	if ((r = eth_hex_decode(json_string_value(v), json_string_length(v), max,
	    outp, lenp)) != 0)
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS, "invalid argument %s: %s",
		    what, err_str(r));
	return 0;
}

/* ---- methods ---- */

static int
answer_version(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	if (signer_api_check_params(params, 0, 0, err) != 0)
		return err->code;
	*resultp = json_string(SIGNER_API_VERSION);
	return 0;
}

static int
answer_rpc_modules(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	if (signer_api_check_params(params, 0, 0, err) != 0)
		return err->code;
	*resultp = json_pack("{s:s,s:s}", "account", "1.0", "rpc", "1.0");
	return 0;
}

static const struct rpc_method methods[] = {
	{ "account_version", answer_version },
	{ "account_list", signer_api_list_accounts },
	{ "account_new", signer_api_new_account },
	{ "account_signTransaction", signer_api_sign_transaction },
	{ "account_signData", signer_api_sign_data },
	{ "account_signTypedData", signer_api_sign_typed_data },
	{ "account_ecRecover", signer_api_ec_recover },
	{ "account_signGnosisSafeTx", signer_api_sign_gnosis_safe_tx },
	{ "rpc_modules", answer_rpc_modules },
};

int
signer_api_new(const struct signer_api_config *cfg, struct signer_api **outp)
{
	struct signer_api *api;

	*outp = NULL;
	if (cfg == NULL || cfg->keys.list == NULL || cfg->keys.sign == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((api = calloc(1, sizeof(*api))) == NULL)
		return ERR_NOMEM;
	api->cfg = *cfg;
	if (api->cfg.calldata == NULL) {
		if (eth_calldata_db_new(&api->own_calldata) != 0) {
			free(api);
			return ERR_NOMEM;
		}
		api->cfg.calldata = api->own_calldata;
	}
	if (api->cfg.approval_timeout_ms <= 0)
		api->cfg.approval_timeout_ms = 120000;
	if (api->cfg.typed_data_at_once == 0)
		api->cfg.typed_data_at_once = LIMIT_TYPED_DATA_AT_ONCE;
	if (api->cfg.typed_data_wait_ms == 0)
		api->cfg.typed_data_wait_ms = LIMIT_TYPED_DATA_WAIT_SECONDS * 1000;
	pthread_mutex_init(&api->typed_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&api->typed_done, &ca);
		pthread_condattr_destroy(&ca);
	}
	api->table.methods = methods;
	api->table.n = sizeof(methods) / sizeof(methods[0]);
	api->table.ctx = api;
	*outp = api;
	return 0;
}

const struct rpc_table *
signer_api_table(struct signer_api *api)
{
	return &api->table;
}

void
signer_api_free(struct signer_api *api)
{
	if (api == NULL)
		return;
	pthread_mutex_destroy(&api->typed_lock);
	pthread_cond_destroy(&api->typed_done);
	eth_calldata_db_free(api->own_calldata);
	free(api);
}
