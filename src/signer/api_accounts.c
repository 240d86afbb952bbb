/*
 * api_accounts.c - account_list and account_new: the token's accounts as
 * the approver lets them through, and a key made on the token.
 */
#include <string.h>

#include "core/err.h"
#include "eth/hex.h"
#include "rpc/caller.h"
#include "signer/api_int.h"

int
signer_api_list_accounts(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	json_t *accounts = NULL, *request = NULL, *result = NULL, *chosen, *out = NULL;
	char token_why[SIGNER_WHY_MAX] = "";
	size_t i, j;
	int r;

	if ((r = signer_api_check_params(untrusted_params, 0, 0, why)) != 0)
		return r;
	if ((r = api->cfg.keys.list(api->cfg.keys.ctx, &accounts, token_why)) != 0)
		return err_why(why, r, "cannot list accounts: %s",
		    token_why[0] != '\0' ? token_why : err_str(r));
	request = json_pack("{s:O,s:o}", "accounts", accounts, "meta", signer_api_meta_json(caller));
	q.caller = caller;
	q.method = "account_list";
	q.ui_method = "ui_approveListing";
	q.ui_request = request;
	if (request == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = signer_api_approve(api, &q, &d, &result, why)) != 0)
		goto out;
	signer_api_release(api, &d);
	/* The UI answers with the accounts it lets through: only ours count. */
	chosen = result != NULL ? json_object_get(result, "accounts") : accounts;
	/* Clef: no list at all ({"accounts": null}) is a refusal, [] is not */
	if (!json_is_array(chosen)) {
		signer_api_audit(api, caller, "account_list", "denied by approver", NULL, NULL, NULL);
		r = err_why(why, ERR_API_DENIED, DENIED);
		goto out;
	}
	if ((out = json_array()) == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(chosen); i++) {
		const char *a = json_string_value(json_object_get(json_array_get(chosen, i),
		    "address"));
		uint8_t want[ETH_ADDR_LEN], have[ETH_ADDR_LEN];

		if (a == NULL || eth_addr_parse(a, strlen(a), want, NULL) != 0)
			continue;
		for (j = 0; j < json_array_size(accounts); j++) {
			const char *b = json_string_value(json_object_get(
			    json_array_get(accounts, j), "address"));

			if (b != NULL && eth_addr_parse(b, strlen(b), have, NULL) == 0 &&
			    memcmp(want, have, ETH_ADDR_LEN) == 0) {
				/* common.Address as Go marshals it: lower-case hex */
				json_array_append_new(out, eth_hex_json(have, ETH_ADDR_LEN));
				break;
			}
		}
	}
	signer_api_audit(api, caller, "account_list", "listed", d.rule, NULL, NULL);
	*resultp = out;
	out = NULL;
	r = 0;
 out:
	json_decref(out);
	json_decref(result);
	json_decref(request);
	json_decref(accounts);
	return r;
}

int
signer_api_new_account(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	json_t *request, *result = NULL;
	char token_why[SIGNER_WHY_MAX] = "";
	uint8_t addr[ETH_ADDR_LEN];
	int r;

	if ((r = signer_api_check_params(untrusted_params, 0, 0, why)) != 0)
		return r;
	if (api->cfg.keys.generate == NULL)
		return err_why(why, ERR_P11_KEYGEN_UNSUPPORTED,
		    "this signer cannot make keys (no token that can)");
	if ((request = json_pack("{s:o}", "meta", signer_api_meta_json(caller))) == NULL)
		return err_why(why, ERR_NOMEM, "out of memory");
	q.caller = caller;
	q.method = "account_new";
	q.ui_method = "ui_approveNewAccount";
	q.ui_request = request;
	r = signer_api_approve(api, &q, &d, &result, why);
	json_decref(request);
	if (r != 0)
		return r;
	signer_api_release(api, &d);
	if (!signer_api_approved(result)) {
		json_decref(result);
		signer_api_audit(api, caller, "account_new", "denied by approver", NULL, NULL, NULL);
		return err_why(why, ERR_API_DENIED, DENIED);
	}
	json_decref(result);
	if ((r = api->cfg.keys.generate(api->cfg.keys.ctx, addr, token_why)) != 0) {
		signer_api_audit(api, caller, "account_new", "failed", token_why, NULL, NULL);
		return err_why(why, r, "cannot make a key: %s",
		    token_why[0] != '\0' ? token_why : err_str(r));
	}
	signer_api_audit(api, caller, "account_new", "created", d.rule, addr, NULL);
	*resultp = eth_hex_json(addr, ETH_ADDR_LEN);	/* lower case, as Clef */
	return 0;
}
