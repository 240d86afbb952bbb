/*
 * api.c - the account_* method table, the checks of a request's parameters
 * that every method shares, and the API's life (see api.h).  The methods are
 * in api_accounts.c, api_tx.c and api_data.c, what they share in api_int.h.
 * Clef's behaviour is from go-ethereum signer/core/api.go, signed_data.go and
 * fourbyte/validation.go (commit eb429a062a40); where we differ, docs/api.md
 * says so.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/hex.h"
#include "signer/api_int.h"

/*
 * The one place where the API's failures become JSON-RPC errors.  A
 * parameter the caller got wrong (ERR_API_PARAMS) is -32602, memory the
 * signer lacks -32603, and every other failure a refusal: -32000, Clef's
 * code.  The message is why, or the code's message when why is empty; a
 * refusal by Clef's validation is "validation failed: " and the WARNING and
 * CRITICAL messages joined by "," (longer than a why can be).
 */
static int
answer_error(struct rpc_error *err, int r, const char *why, const json_t *refused_by)
{
	char msg[SIGNER_API_ANSWER_MAX];

	if (refused_by != NULL && signer_api_validation_refusal(refused_by, msg, sizeof(msg)) > 0)
		return rpc_error_set(err, RPC_ERR_SERVER, "%s", msg);
	return rpc_error_set(err, r == ERR_API_PARAMS ? RPC_ERR_INVALID_PARAMS :
	    r == ERR_NOMEM ? RPC_ERR_INTERNAL : RPC_ERR_SERVER,
	    "%s", why != NULL && why[0] != '\0' ? why : err_str(r));
}

int
signer_api_address_param(const json_t *untrusted_v, uint8_t out[ETH_ADDR_LEN],
    const char *what, char why[ERR_WHY_MAX])
{
	if (!json_is_string(untrusted_v) || eth_addr_parse(json_string_value(untrusted_v),
	    json_string_length(untrusted_v), out, NULL) != 0)
		return err_why(why, ERR_API_PARAMS,
		    "invalid argument %s: not an address (0x and 40 hex digits)", what);
	return 0;
}

int
signer_api_check_params(const json_t *untrusted_params, size_t min, size_t max,
    char why[ERR_WHY_MAX])
{
	size_t n = json_array_size(untrusted_params);

	if (n < min)
		return err_why(why, ERR_API_PARAMS, "missing value for required argument %zu", n);
	if (n > max)
		return err_why(why, ERR_API_PARAMS, "too many arguments, want at most %zu", max);
	return 0;
}

int
signer_api_hex_param(const json_t *untrusted_v, size_t max, uint8_t **outp, size_t *lenp,
    const char *what, char why[ERR_WHY_MAX])
{
	int r;

	if (!json_is_string(untrusted_v))
		return err_why(why, ERR_API_PARAMS, "invalid argument %s: not a hex string", what);
	if ((r = eth_hex_decode(json_string_value(untrusted_v), json_string_length(untrusted_v),
	    max, outp, lenp)) != 0)
		return err_why(why, ERR_API_PARAMS, "invalid argument %s: %s", what, err_str(r));
	return 0;
}

/* ---- methods ---- */

/* A method of no parameters whose answer is fixed (stolen). */
static int
fixed_answer(const json_t *untrusted_params, json_t *answer, json_t **resultp,
    char why[ERR_WHY_MAX])
{
	int r;

	if ((r = signer_api_check_params(untrusted_params, 0, 0, why)) != 0) {
		json_decref(answer);
		return r;
	}
	*resultp = answer;
	return 0;
}

static int
version(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	return fixed_answer(untrusted_params, json_string(SIGNER_API_VERSION), resultp, why);
}

static int
rpc_modules(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	return fixed_answer(untrusted_params,
	    json_pack("{s:s,s:s}", "account", "1.0", "rpc", "1.0"), resultp, why);
}

/*
 * Each method as the JSON-RPC table calls it: ctx is the API, call_ctx the
 * caller; a failure is answered by answer_error().
 */
#define ANSWER(fn) \
static int \
answer_##fn(void *ctx, void *call_ctx, const json_t *untrusted_params, json_t **resultp, \
    struct rpc_error *err) \
{ \
	char why[ERR_WHY_MAX] = ""; \
	json_t *refused_by = NULL; \
	int r; \
\
	r = fn(ctx, call_ctx, untrusted_params, resultp, why, &refused_by); \
	if (r != 0) \
		r = answer_error(err, r, why, refused_by); \
	json_decref(refused_by); \
	return r; \
}
ANSWER(version)
ANSWER(rpc_modules)
ANSWER(signer_api_list_accounts)
ANSWER(signer_api_new_account)
ANSWER(signer_api_sign_transaction)
ANSWER(signer_api_sign_data)
ANSWER(signer_api_sign_typed_data)
ANSWER(signer_api_ec_recover)
ANSWER(signer_api_sign_gnosis_safe_tx)
#undef ANSWER

static const struct rpc_method methods[] = {
	{ "account_version", answer_version },
	{ "account_list", answer_signer_api_list_accounts },
	{ "account_new", answer_signer_api_new_account },
	{ "account_signTransaction", answer_signer_api_sign_transaction },
	{ "account_signData", answer_signer_api_sign_data },
	{ "account_signTypedData", answer_signer_api_sign_typed_data },
	{ "account_ecRecover", answer_signer_api_ec_recover },
	{ "account_signGnosisSafeTx", answer_signer_api_sign_gnosis_safe_tx },
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
	clock_cond_init(&api->typed_done);
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
