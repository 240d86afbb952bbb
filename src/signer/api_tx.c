/*
 * api_tx.c - account_signTransaction: a SendTxArgs made into a transaction,
 * checked, shown to the approver decoded, changed by the approver and
 * checked again, signed, recorded and returned as Clef returns it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/display.h"
#include "eth/hex.h"
#include "rpc/caller.h"
#include "signer/api_int.h"

/*
 * wei as ETH in decimal, trailing zeros dropped: "1.5", "0.000000000000000001",
 * and a whole number without ".0" ("1"), as decoded.value_eth always was.
 */
static void
format_eth(const struct eth_u256 *wei, char out[ETH_DISPLAY_UNITS_MAX])
{
	size_t n;

	eth_display_units(wei, 18, out);
	n = strlen(out);
	if (n > 2 && strcmp(out + n - 2, ".0") == 0)
		out[n - 2] = '\0';
}

static json_t *
dec_json(const struct eth_u256 *v)
{
	char dec[ETH_U256_DECIMAL_MAX];

	eth_u256_to_decimal(v, dec);
	return json_string(dec);
}

/* wei in gwei, for fees: "1.5". */
static json_t *
gwei_json(const struct eth_u256 *wei)
{
	char units[ETH_DISPLAY_UNITS_MAX];

	eth_display_units(wei, 9, units);
	return json_string(units);
}

/*
 * The transaction as it will be signed, for approvers (a member Clef's UIs
 * ignore): numbers in decimal, value also in ETH, fees also in gwei, the most
 * it can cost, the chain's name, the decoded call (borrowed, may be NULL).
 */
static json_t *
tx_decoded_json(const struct eth_tx *tx, const uint8_t from[ETH_ADDR_LEN], json_t *call)
{
	char eth[ETH_DISPLAY_UNITS_MAX];
	struct eth_u256 u;
	const char *chain, *sig;
	json_t *d, *auths;
	size_t i;

	format_eth(&tx->value, eth);
	d = json_pack("{s:i,s:o,s:o,s:o,s:o,s:s,s:I,s:I,s:I}",
	    "type", (int)tx->type, "chainId", dec_json(&tx->chain_id),
	    "from", signer_api_address_json(from),
	    "to", tx->has_to ? signer_api_address_json(tx->to) : json_null(),
	    "value_wei", dec_json(&tx->value), "value_eth", eth,
	    "gas", (json_int_t)tx->gas, "nonce", (json_int_t)tx->nonce,
	    "data_bytes", (json_int_t)tx->data_len);
	if (d == NULL)
		return NULL;
	if ((chain = eth_display_chain_name(&tx->chain_id)) != NULL)
		json_object_set_new(d, "chain_name", json_string(chain));
	if (tx->type <= ETH_TX_ACCESS_LIST) {
		json_object_set_new(d, "gasPrice_wei", dec_json(&tx->gas_price));
		json_object_set_new(d, "gasPrice_gwei", gwei_json(&tx->gas_price));
	} else {
		json_object_set_new(d, "maxFeePerGas_wei", dec_json(&tx->max_fee_per_gas));
		json_object_set_new(d, "maxFeePerGas_gwei", gwei_json(&tx->max_fee_per_gas));
		json_object_set_new(d, "maxPriorityFeePerGas_wei",
		    dec_json(&tx->max_priority_fee_per_gas));
		json_object_set_new(d, "maxPriorityFeePerGas_gwei",
		    gwei_json(&tx->max_priority_fee_per_gas));
	}
	if (tx->type == ETH_TX_BLOB) {
		json_object_set_new(d, "maxFeePerBlobGas_wei", dec_json(&tx->max_fee_per_blob_gas));
		json_object_set_new(d, "maxFeePerBlobGas_gwei", gwei_json(&tx->max_fee_per_blob_gas));
		json_object_set_new(d, "blob_hashes", json_integer((json_int_t)tx->blob_hashes_len));
	}
	/* a sum past 2^256 can never be paid: shown as such, not as a number */
	if (eth_tx_max_cost(tx, &u) == 0) {
		format_eth(&u, eth);
		json_object_set_new(d, "max_cost_wei", dec_json(&u));
		json_object_set_new(d, "max_cost_eth", json_string(eth));
	} else
		json_object_set_new(d, "max_cost_eth", json_string("more than 2^256 wei"));
	if (tx->access_list_len > 0)
		json_object_set_new(d, "access_list_entries",
		    json_integer((json_int_t)tx->access_list_len));
	if (call != NULL) {
		sig = json_string_value(json_object_get(call, "signature"));
		json_object_set_new(d, "method", json_string(sig != NULL &&
		    strcmp(json_string_value(json_object_get(call, "status")), "decoded") == 0 ?
		    sig : json_string_value(json_object_get(call, "selector"))));
		json_object_set(d, "call", call);
	}
	if (tx->auths_len > 0 && (auths = json_array()) != NULL) {
		for (i = 0; i < tx->auths_len; i++) {
			eth_u256_from_u64(&u, tx->auths[i].nonce);
			json_array_append_new(auths, json_pack("{s:o,s:o,s:o}",
			    "delegate_to", signer_api_address_json(tx->auths[i].address),
			    "chainId", dec_json(&tx->auths[i].chain_id), "nonce", dec_json(&u)));
		}
		json_object_set_new(d, "authorizations", auths);
	}
	return d;
}
/*
 * A decoded call's arguments can reach megabytes (1 MiB of call data, shown at
 * each level of a batch); the audit verifier reads lines of at most 4 MiB.
 * Past this size the record keeps the call's summary, signature and inner
 * calls but not the arguments: the raw transaction beside it has them.
 */
#define AUDIT_DECODED_MAX (256 * 1024)

static void
drop_args(json_t *call)
{
	json_t *c;
	size_t i;

	if (call == NULL)
		return;
	json_object_del(call, "args");
	json_array_foreach(json_object_get(call, "calls"), i, c)
		drop_args(json_object_get(c, "call"));
}

/* The decoded transaction for the audit record (a copy, or the same when small). */
static json_t *
audit_view(json_t *decoded)
{
	json_t *copy;

	if (decoded == NULL || json_dumpb(decoded, NULL, 0, JSON_COMPACT) <= AUDIT_DECODED_MAX)
		return json_deep_copy(decoded);
	if ((copy = json_deep_copy(decoded)) == NULL)
		return NULL;
	drop_args(json_object_get(copy, "call"));
	json_object_set_new(copy, "args_omitted", json_true());
	return copy;
}

/*
 * A SendTxArgs made into a transaction and checked as Clef checks it, for
 * the caller's request and for a transaction the approver changed: parsed,
 * validated (warnings refuse without --advanced), chain id compared, the call
 * decoded.  On success *txp, *callp (NULL when there is no call) and
 * *call_infop are set; on failure the audit outcome is named, and a refusal
 * by validation hands its messages over in *refused_byp.  whose is NULL for
 * the caller's request (untrusted_args are then its parameter 0).
 */
static int
check_tx(struct signer_api *api, const struct rpc_caller *caller, const json_t *untrusted_args,
    const char *selector, const char *whose, struct eth_tx **txp,
    struct eth_tx_request *req, json_t **callp, json_t **call_infop, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	struct eth_tx *tx = NULL;
	json_t *call = NULL, *call_info = NULL;
	char msg[ERR_WHY_MAX] = "", refusal[SIGNER_API_ANSWER_MAX];
	int r;

	*txp = NULL;
	*callp = *call_infop = NULL;
	if ((r = eth_tx_from_send_args(untrusted_args, &api->cfg.chain_id, &tx, req, msg)) != 0) {
		r = err_why(why, whose == NULL ? ERR_API_PARAMS : ERR_API_DENIED,
		    "%s%s: %s", whose == NULL ? "invalid argument 0" : "request denied: ",
		    whose == NULL ? "" : whose, msg[0] != '\0' ? msg : err_str(r));
		goto out;
	}
	if ((r = eth_calldata_decode(api->cfg.calldata, &tx->chain_id,
	    tx->has_to ? tx->to : NULL, tx->data, tx->data_len, selector, &call)) != 0 ||
	    (call_info = json_array()) == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = signer_api_validate_tx(tx, req, selector, call, call_info, why)) != 0)
		goto out;
	if (!api->cfg.advanced &&
	    signer_api_validation_refusal(call_info, refusal, sizeof(refusal)) > 0) {
		signer_api_audit(api, caller, "account_signTransaction", whose == NULL ?
		    "refused by validation" : "refused by validation: the approver's transaction",
		    refusal, req->from, NULL);
		r = err_why(why, ERR_TX_INVALID, "%s", refusal);
		*refused_byp = call_info;
		call_info = NULL;
		goto out;
	}
	if ((req->present & ETH_TX_ARG_CHAIN_ID) &&
	    eth_u256_cmp(&tx->chain_id, &api->cfg.chain_id) != 0) {
		char dec[ETH_U256_DECIMAL_MAX];

		eth_u256_to_decimal(&tx->chain_id, dec);
		r = err_why(why, ERR_API_DENIED,
		    "requested chainid %s does not match the configuration of the signer", dec);
		signer_api_audit(api, caller, "account_signTransaction", "refused: chain id",
		    why, req->from, NULL);
		goto out;
	}
	/* success */
	*txp = tx;
	*callp = call;
	*call_infop = call_info;
	tx = NULL;
	call = call_info = NULL;
	r = 0;
out:
	eth_tx_free(tx);
	json_decref(call);
	json_decref(call_info);
	return r;
}

/*
 * The approver answered with a transaction other than the request (Clef's UI
 * may change gas, fees, nonce, data): it is checked like a request, must keep
 * the sender, and the policy decides on it again; a rule it breaks refuses
 * it.  On success *txp and *decodedp describe what will be signed and *d
 * holds the new decision (the old one released); a refusal by validation is
 * handed over as check_tx() hands it.
 */
static int
approver_changed_tx(struct signer_api *api, const struct approval_req *q,
    const json_t *untrusted_changed, const char *selector, const struct eth_tx_request *req,
    struct signer_policy_decision *d, struct eth_tx **txp, json_t **decodedp,
    char why[ERR_WHY_MAX], json_t **refused_byp)
{
	struct approval_req q2 = *q;
	struct signer_policy_request pr;
	struct signer_policy_decision d2;
	struct eth_tx_request req2;
	struct eth_tx *tx = NULL;
	json_t *call = NULL, *call_info = NULL;
	int r;

	*txp = NULL;
	*decodedp = NULL;
	if ((r = check_tx(api, q->caller, untrusted_changed, selector,
	    "the approver's transaction", &tx, &req2, &call, &call_info, why, refused_byp)) != 0)
		goto out;
	if (memcmp(req2.from, req->from, ETH_ADDR_LEN) != 0) {
		signer_api_audit(api, q->caller, q->method, "denied: the approver changed the sender", NULL,
		    req->from, NULL);
		r = err_why(why, ERR_API_DENIED, "request denied: the approver changed the sender");
		goto out;
	}
	q2.tx = tx;
	if (api->cfg.policy != NULL) {
		signer_api_policy_request(&q2, &pr);
		signer_policy_decide(api->cfg.policy, &pr, time(NULL), &d2);
		/*
		 * Denied, or sent to a person for another reason than the request
		 * was (a limit the request kept and the change breaks): refused.
		 * The same "ask" is what the person has just answered.
		 */
		if (d2.action == SIGNER_DENY ||
		    (d2.action == SIGNER_ASK && strcmp(d2.why, d->why) != 0)) {
			signer_policy_release(api->cfg.policy, &d2);
			signer_api_audit(api, q->caller, q->method,
			    "denied by policy: the approver's transaction", d2.why, req->from, NULL);
			r = err_why(why, ERR_API_DENIED, DENIED ": the approver's transaction: %s",
			    d2.why);
			goto out;
		}
		signer_api_release(api, d);
		*d = d2;
	}
	snprintf(d->rule, sizeof(d->rule), "approver");
	if ((*decodedp = tx_decoded_json(tx, req2.from, call)) == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* success */
	*txp = tx;
	tx = NULL;
	r = 0;
out:
	eth_tx_free(tx);
	json_decref(call);
	json_decref(call_info);
	return r;
}

/* What the approver is shown of a transaction request, made when it is asked. */
struct tx_view {
	const struct rpc_caller *caller;
	const json_t *untrusted_args;
	json_t *call_info, *call;
	const struct eth_tx *tx;
	const uint8_t *from;
	json_t *request;		/* made once; owned */
};

/* approval_req's ui_request_make. */
static const json_t *
tx_view_request(void *ctx)
{
	struct tx_view *v = ctx;

	if (v->request == NULL)
		v->request = json_pack("{s:O,s:O,s:o,s:o}", "transaction", v->untrusted_args,
		    "call_info", v->call_info, "meta", signer_api_meta_json(v->caller),
		    "decoded", tx_decoded_json(v->tx, v->from, v->call));
	return v->request;
}

int
signer_api_sign_transaction(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	struct eth_tx *tx = NULL, *changed_tx = NULL;
	const struct eth_tx *signed_tx;
	struct eth_tx_request req;
	json_t *untrusted_args, *untrusted_selector, *untrusted_changed;
	json_t *call = NULL, *call_info = NULL, *result = NULL;
	struct tx_view view = { 0 };
	json_t *txjson = NULL, *out = NULL, *decoded2 = NULL, *summary;
	const char *selector = NULL;
	uint8_t hash[32], sig65[65], *raw = NULL;
	size_t rawlen;
	int r, held = 0;

	if ((r = signer_api_check_params(untrusted_params, 1, 2, why)) != 0)
		return r;
	untrusted_args = json_array_get(untrusted_params, 0);
	untrusted_selector = json_array_get(untrusted_params, 1);
	if (untrusted_selector != NULL && !json_is_null(untrusted_selector)) {
		if (!json_is_string(untrusted_selector) ||
		    json_string_length(untrusted_selector) > LIMIT_ABI_SIGNATURE)
			return err_why(why, ERR_API_PARAMS,
			    "invalid argument 1: method selector is not a string");
		selector = json_string_value(untrusted_selector);
	}
	if ((r = check_tx(api, caller, untrusted_args, selector, NULL, &tx, &req, &call, &call_info,
	    why, refused_byp)) != 0)
		goto out;
	view.caller = caller;
	view.untrusted_args = untrusted_args;
	view.call_info = call_info;
	view.call = call;
	view.tx = tx;
	view.from = req.from;
	q.caller = caller;
	q.method = "account_signTransaction";
	q.key = req.from;
	q.is_tx = 1;
	q.tx = tx;
	q.ui_method = "ui_approveTx";
	q.ui_request_make = tx_view_request;
	q.ui_request_ctx = &view;
	if ((r = signer_api_approve(api, &q, &d, &result, why)) != 0)
		goto out;
	held = 1;
	if (!signer_api_approved(result)) {
		signer_api_audit(api, caller, q.method, "denied by approver", NULL, req.from, NULL);
		r = err_why(why, ERR_API_DENIED, DENIED);
		goto out;
	}
	signed_tx = tx;
	untrusted_changed = result != NULL ? json_object_get(result, "transaction") : NULL;
	if (untrusted_changed != NULL && !json_is_null(untrusted_changed) &&
	    !json_equal(untrusted_changed, untrusted_args)) {
		if ((r = approver_changed_tx(api, &q, untrusted_changed, selector, &req, &d, &changed_tx,
		    &decoded2, why, refused_byp)) != 0)
			goto out;
		signed_tx = changed_tx;
		signer_api_notify(api, "ui_showInfo", json_pack("{s:s}", "text", "The approver "
		    "changed the transaction; the changed one is signed and sent to the caller"));
	}
	if ((r = eth_tx_signing_hash(signed_tx, hash)) != 0)
		(void)err_why(why, r, "%s", err_str(r));
	else
		r = signer_api_sign_digest(api, req.from, hash, 0, sig65, why);
	if (r != 0) {
		signer_api_audit(api, caller, q.method, "signing failed", why, req.from, hash);
		goto out;
	}
	if ((r = eth_tx_encode_signed(signed_tx, sig65, sig65[64], &raw, &rawlen)) != 0 ||
	    (r = eth_tx_to_json(signed_tx, sig65, sig65[64], &txjson)) != 0) {
		r = err_why(why, r, "%s", err_str(r));
		goto out;
	}
	/* the record holds what was signed and, when the approver changed it, the request */
	if (api->cfg.audit == NULL)
		summary = NULL;
	else if (decoded2 != NULL) {
		summary = audit_view(decoded2);
		json_object_set_new(summary, "requested",
		    audit_view(json_object_get(tx_view_request(&view), "decoded")));
		json_object_set_new(summary, "changed_by_approver", json_true());
	} else
		summary = audit_view(json_object_get(tx_view_request(&view), "decoded"));
	if ((r = signer_api_audit_signed(api, caller, q.method, req.from, hash, d.rule, summary,
	    "raw", raw, rawlen, why)) != 0)
		goto out;
	if (signer_api_commit(api, &d) != 0) {
		held = 0;
		r = err_why(why, ERR_POLICY_STATE,
		    "cannot record the signing in the policy state file; not released");
		goto out;
	}
	held = 0;
	if ((out = json_pack("{s:o,s:O}", "raw", eth_hex_json(raw, rawlen), "tx", txjson)) == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out;
	}
	signer_api_notify(api, "ui_onApprovedTx", json_incref(out));
	*resultp = out;
	r = 0;
 out:
	if (held)
		signer_api_release(api, &d);
	free(raw);
	json_decref(txjson);
	json_decref(result);
	json_decref(view.request);
	json_decref(call);
	json_decref(call_info);
	json_decref(decoded2);
	eth_tx_free(changed_tx);
	eth_tx_free(tx);
	return r;
}
