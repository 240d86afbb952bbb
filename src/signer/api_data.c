/*
 * api_data.c - the signed-data methods: account_signData (text/plain,
 * data/validator, application/x-clique-header, data/typed),
 * account_signTypedData, account_signGnosisSafeTx and account_ecRecover.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/eip191.h"
#include "eth/eip712.h"
#include "eth/hex.h"
#include "eth/sig.h"
#include "rpc/caller.h"
#include "signer/api_int.h"

/*
 * What account_signData signs: the hash, the preimage shown as raw_data, the
 * messages shown, and whether V gets 27 added (all but clique).
 */
struct signed_data {
	uint8_t hash[32];
	uint8_t *raw;
	size_t rawlen;
	json_t *messages;
	int v_offset;
};

static void
signed_data_clear(struct signed_data *sd)
{
	free(sd->raw);
	json_decref(sd->messages);
	memset(sd, 0, sizeof(*sd));
}

static int
name_value(json_t *messages, const char *name, const char *type, json_t *value)
{
	return json_array_append_new(messages, json_pack("{s:s,s:s,s:o}", "name", name,
	    "type", type, "value", value)) == 0 ? 0 : -1;
}

static int
data_text(const json_t *untrusted_data, struct signed_data *sd, char why[ERR_WHY_MAX])
{
	json_t *shown;
	uint8_t *msg = NULL;
	size_t len;
	int r;

	if ((r = signer_api_hex_param(untrusted_data, LIMIT_SIGN_DATA_BYTES, &msg, &len, "2",
	    why)) != 0)
		return r;
	if ((r = eth_eip191_personal_hash(msg, len, sd->hash)) != 0 ||
	    (r = eth_eip191_personal_message(msg, len, &sd->raw, &sd->rawlen)) != 0) {
		free(msg);
		return err_why(why, r, "%s", err_str(r));
	}
	/*
	 * As Clef shows it, the message as hashed: "\x19Ethereum Signed
	 * Message:\n", the length, the text; as hex when it is not UTF-8
	 * (jansson refuses other strings).
	 */
	shown = json_stringn((const char *)sd->raw, sd->rawlen);
	if (shown == NULL)
		shown = eth_hex_json(sd->raw, sd->rawlen);
	if ((sd->messages = json_array()) == NULL ||
	    name_value(sd->messages, "message", json_is_string(shown) &&
	    json_string_length(shown) == sd->rawlen ? "text/plain" : "hexdata",
	    json_incref(shown)) != 0) {
		json_decref(shown);
		free(msg);
		return err_why(why, ERR_NOMEM, "out of memory");
	}
	json_decref(shown);
	free(msg);
	sd->v_offset = 27;
	return 0;
}

static int
data_validator(const json_t *untrusted_data, struct signed_data *sd, char why[ERR_WHY_MAX])
{
	uint8_t validator[ETH_ADDR_LEN], *msg = NULL;
	size_t len;
	int r;

	if (!json_is_object(untrusted_data) || json_object_size(untrusted_data) != 2)
		return err_why(why, ERR_API_PARAMS, "invalid argument 2: "
		    "data/validator wants {\"address\": validator, \"message\": hex}");
	if ((r = signer_api_address_param(json_object_get(untrusted_data, "address"), validator,
	    "2.address", why)) != 0 ||
	    (r = signer_api_hex_param(json_object_get(untrusted_data, "message"),
	    LIMIT_SIGN_DATA_BYTES, &msg, &len, "2.message", why)) != 0)
		return r;
	if (len == 0) {
		free(msg);
		return err_why(why, ERR_API_PARAMS, "message is undefined");
	}
	if ((r = eth_eip191_validator_hash(validator, msg, len, sd->hash)) != 0 ||
	    (r = eth_eip191_validator_message(validator, msg, len, &sd->raw,
	    &sd->rawlen)) != 0) {
		free(msg);
		return err_why(why, r, "%s", err_str(r));
	}
	if ((sd->messages = json_array()) == NULL ||
	    name_value(sd->messages, "This is a request to sign data intended for a "
	    "particular validator (see EIP 191 version 0)", "description", json_string("")) ||
	    name_value(sd->messages, "Intended validator", "address",
	    signer_api_address_json(validator)) ||
	    name_value(sd->messages, "Application-specific data", "hexdata", eth_hex_json(msg, len)) ||
	    name_value(sd->messages, "Full message for signing", "hexdata",
	    eth_hex_json(sd->raw, sd->rawlen))) {
		free(msg);
		return err_why(why, ERR_NOMEM, "out of memory");
	}
	free(msg);
	sd->v_offset = 27;
	return 0;
}

static int
data_clique(const json_t *untrusted_data, struct signed_data *sd, char why[ERR_WHY_MAX])
{
	struct eth_eip191_clique *c = NULL;
	char msg[ERR_WHY_MAX] = "", summary[ETH_EIP191_CLIQUE_SUMMARY_MAX];
	uint8_t *rlp = NULL;
	size_t len;
	int r;

	if ((r = signer_api_hex_param(untrusted_data, LIMIT_SIGN_DATA_BYTES, &rlp, &len, "2",
	    why)) != 0)
		return r;
	r = eth_eip191_clique_parse(rlp, len, &c, msg);
	free(rlp);
	if (r != 0)
		return err_why(why, r, "%s", msg[0] != '\0' ? msg : err_str(r));
	memcpy(sd->hash, c->seal_hash, 32);
	eth_eip191_clique_summary(c, summary);
	if ((sd->raw = malloc(c->seal_rlp_len + 1)) == NULL ||
	    (sd->messages = json_array()) == NULL ||
	    name_value(sd->messages, "Clique header", "clique", json_string(summary)) != 0) {
		eth_eip191_clique_free(c);
		return err_why(why, ERR_NOMEM, "out of memory");
	}
	memcpy(sd->raw, c->seal_rlp, c->seal_rlp_len);
	sd->rawlen = c->seal_rlp_len;
	eth_eip191_clique_free(c);
	sd->v_offset = 0;	/* clique keeps V 0 or 1 */
	return 0;
}

/*
 * Take one of the typed_data_at_once turns before typed data is decoded; give
 * it back with typed_leave() once the request is answered.  Decoding builds
 * the tree the approver is shown (up to LIMIT_EIP712_VALUES nodes, some
 * megabytes), which lives until the approval ends: the turns bound how many
 * such trees exist at once, whatever the number of connections.
 */
static int
typed_enter(struct signer_api *api, char why[ERR_WHY_MAX])
{
	struct timespec until;
	int r = 0;

	clock_deadline_ms(&until, api->cfg.typed_data_wait_ms);
	pthread_mutex_lock(&api->typed_lock);
	while (api->typed_held >= api->cfg.typed_data_at_once && r == 0)
		r = pthread_cond_timedwait(&api->typed_done, &api->typed_lock, &until);
	if (api->typed_held < api->cfg.typed_data_at_once) {
		api->typed_held++;
		r = 0;
	}
	pthread_mutex_unlock(&api->typed_lock);
	if (r != 0)
		return err_why(why, ERR_TIMEOUT, "signer busy: %u typed-data requests "
		    "are being decoded or await approval; try again later",
		    api->cfg.typed_data_at_once);
	return 0;
}

static void
typed_leave(struct signer_api *api)
{
	pthread_mutex_lock(&api->typed_lock);
	api->typed_held--;
	pthread_cond_signal(&api->typed_done);
	pthread_mutex_unlock(&api->typed_lock);
}

/*
 * What is signed for EIP-712 typed data: its digest, the preimage 0x19 0x01
 * domainSeparator hashStruct(message) shown as raw_data, and the messages
 * (taken from res).  0 or ERR_NOMEM.
 */
static int
typed_signed_data(struct eth_eip712_result *res, struct signed_data *sd)
{
	if ((sd->raw = malloc(66)) == NULL)
		return ERR_NOMEM;
	memcpy(sd->hash, res->digest, 32);
	sd->raw[0] = 0x19;
	sd->raw[1] = 0x01;
	memcpy(sd->raw + 2, res->domain_separator, 32);
	memcpy(sd->raw + 34, res->message_hash, 32);
	sd->rawlen = 66;
	sd->messages = res->messages;
	res->messages = NULL;
	sd->v_offset = 27;
	return 0;
}

/* Typed data as an object, or (as Clef also takes it) hex of its JSON text. */
static int
data_typed(const json_t *untrusted_data, struct signed_data *sd, char why[ERR_WHY_MAX])
{
	struct eth_eip712_result res;
	char msg[ERR_WHY_MAX] = "";
	json_t *parsed = NULL;
	uint8_t *text = NULL;
	size_t len;
	int r;

	if (json_is_string(untrusted_data)) {
		if ((r = signer_api_hex_param(untrusted_data, LIMIT_SIGN_DATA_BYTES, &text, &len,
		    "2", why)) != 0)
			return r;
		/* The same bound on values as a request's own JSON, before parsing. */
		if ((r = rpc_jsonrpc_precheck_request((const char *)text, len)) != 0) {
			free(text);
			return err_why(why, ERR_API_PARAMS, "invalid argument 2: %s",
			    rpc_jsonrpc_precheck_str(r));
		}
		parsed = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
		free(text);
		if (parsed == NULL)
			return err_why(why, ERR_API_PARAMS,
			    "invalid argument 2: not typed data (JSON)");
		untrusted_data = parsed;
	}
	r = eth_eip712_hash(untrusted_data, &res, 1, msg);
	json_decref(parsed);
	if (r != 0)
		return err_why(why, r, "%s", msg[0] != '\0' ? msg : err_str(r));
	r = typed_signed_data(&res, sd);
	eth_eip712_result_clear(&res);
	if (r != 0)
		return err_why(why, r, "out of memory");
	return 0;
}

/* base64 of raw_data, as Go marshals []byte (standard alphabet, padded). */
static json_t *
base64_json(const uint8_t *p, size_t n)
{
	size_t len = BASE64_ENCODE_RAW_LENGTH(n);
	char *s;
	json_t *j;

	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	base64_encode_raw(s, n, p);
	s[len] = '\0';
	j = json_stringn(s, len);
	free(s);
	return j;
}

/* Approve and sign prepared data; *resultp the 65-byte signature as hex. */
static int
sign_data_common(struct signer_api *api, const struct rpc_caller *caller,
    const char *method, const char *content_type, const uint8_t addr[ETH_ADDR_LEN],
    struct signed_data *sd, json_t **resultp, char why[ERR_WHY_MAX])
{
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	json_t *request, *result = NULL;
	uint8_t sig65[65];
	int r;

	/* Clef's SignDataRequest, member by member; its call_info is null here */
	request = json_pack("{s:s,s:o,s:o,s:O,s:n,s:o,s:o}", "content_type", content_type,
	    "address", signer_api_address_json(addr), "raw_data", base64_json(sd->raw, sd->rawlen),
	    "messages", sd->messages, "call_info", "hash", eth_hex_json(sd->hash, 32),
	    "meta", signer_api_meta_json(caller));
	if (request == NULL)
		return err_why(why, ERR_NOMEM, "out of memory");
	q.caller = caller;
	q.method = method;
	q.content_type = content_type;
	q.key = addr;
	q.ui_method = "ui_approveSignData";
	q.ui_request = request;
	r = signer_api_approve(api, &q, &d, &result, why);
	json_decref(request);
	if (r != 0)
		return r;
	if (!signer_api_approved(result)) {
		json_decref(result);
		signer_api_release(api, &d);
		signer_api_audit(api, caller, method, "denied by approver", content_type, addr, sd->hash);
		return err_why(why, ERR_API_DENIED, DENIED);
	}
	json_decref(result);
	if ((r = signer_api_sign_digest(api, addr, sd->hash, sd->v_offset, sig65, why)) != 0) {
		signer_api_release(api, &d);
		signer_api_audit(api, caller, method, "signing failed", why, addr, sd->hash);
		return r;
	}
	if ((r = signer_api_audit_signed(api, caller, method, addr, sd->hash, d.rule,
	    json_pack("{s:s,s:O}", "content_type", content_type, "messages", sd->messages),
	    "signature", sig65, 65, why)) != 0) {
		signer_api_release(api, &d);
		return r;
	}
	if (signer_api_commit(api, &d) != 0)
		return err_why(why, ERR_POLICY_STATE,
		    "cannot record the signing in the policy state file; not released");
	*resultp = eth_hex_json(sig65, 65);
	return 0;
}

/* Typed data decoded within a typed-data turn, approved and signed. */
static int
sign_typed(struct signer_api *api, const struct rpc_caller *caller, const char *method,
    const json_t *untrusted_data, const uint8_t addr[ETH_ADDR_LEN], json_t **resultp,
    char why[ERR_WHY_MAX])
{
	struct signed_data sd = { 0 };
	int r;

	if ((r = typed_enter(api, why)) != 0)
		return r;
	if ((r = data_typed(untrusted_data, &sd, why)) == 0)
		r = sign_data_common(api, caller, method, "data/typed", addr, &sd, resultp, why);
	signed_data_clear(&sd);
	typed_leave(api);
	return r;
}

int
signer_api_sign_data(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	struct signed_data sd = { 0 };
	const json_t *untrusted_type = json_array_get(untrusted_params, 0);
	const char *type;
	uint8_t addr[ETH_ADDR_LEN];
	int r;

	if ((r = signer_api_check_params(untrusted_params, 3, 3, why)) != 0)
		return r;
	if (!json_is_string(untrusted_type))
		return err_why(why, ERR_API_PARAMS,
		    "invalid argument 0: content type is not a string");
	if ((r = signer_api_address_param(json_array_get(untrusted_params, 1), addr, "1", why)) != 0)
		return r;
	type = json_string_value(untrusted_type);
	if (strcmp(type, "data/typed") == 0)
		return sign_typed(api, caller, "account_signData", json_array_get(untrusted_params, 2),
		    addr, resultp, why);
	if (strcmp(type, "text/plain") == 0)
		r = data_text(json_array_get(untrusted_params, 2), &sd, why);
	else if (strcmp(type, "data/validator") == 0)
		r = data_validator(json_array_get(untrusted_params, 2), &sd, why);
	else if (strcmp(type, "application/x-clique-header") == 0)
		r = data_clique(json_array_get(untrusted_params, 2), &sd, why);
	else
		return err_why(why, ERR_CONTENT_TYPE, "unknown content type \"%.64s\": "
		    "want text/plain, data/validator, data/typed or "
		    "application/x-clique-header", type);
	if (r == 0)
		r = sign_data_common(api, caller, "account_signData", type, addr, &sd,
		    resultp, why);
	signed_data_clear(&sd);
	return r;
}

int
signer_api_sign_typed_data(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	uint8_t addr[ETH_ADDR_LEN];
	int r;

	if ((r = signer_api_check_params(untrusted_params, 2, 2, why)) != 0)
		return r;
	if ((r = signer_api_address_param(json_array_get(untrusted_params, 0), addr, "0", why)) != 0)
		return r;
	if (!json_is_object(json_array_get(untrusted_params, 1)))
		return err_why(why, ERR_API_PARAMS,
		    "invalid argument 1: typed data is not an object");
	return sign_typed(api, caller, "account_signTypedData", json_array_get(untrusted_params, 1),
	    addr, resultp, why);
}

int
signer_api_ec_recover(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	uint8_t *data = NULL, *sig = NULL, hash[32], addr[ETH_ADDR_LEN];
	size_t dlen, slen;
	int r;

	if ((r = signer_api_check_params(untrusted_params, 2, 2, why)) != 0)
		return r;
	if ((r = signer_api_hex_param(json_array_get(untrusted_params, 0), LIMIT_SIGN_DATA_BYTES,
	    &data, &dlen, "0", why)) != 0)
		return r;
	if ((r = signer_api_hex_param(json_array_get(untrusted_params, 1), 65, &sig, &slen, "1",
	    why)) != 0)
		goto out;
	if (slen != 65) {
		r = err_why(why, ERR_SIG_INVALID, "signature must be 65 bytes long");
		goto out;
	}
	if (sig[64] != 27 && sig[64] != 28) {
		r = err_why(why, ERR_SIG_INVALID, "invalid Ethereum signature (V is not 27 or 28)");
		goto out;
	}
	if ((r = eth_eip191_personal_hash(data, dlen, hash)) != 0 ||
	    (r = eth_sig_recover_address(hash, sig, addr)) != 0) {
		r = err_why(why, r, "%s", err_str(r));
		goto out;
	}
	*resultp = eth_hex_json(addr, ETH_ADDR_LEN);	/* lower case, as Clef */
	r = 0;
 out:
	free(data);
	free(sig);
	return r;
}

int
signer_api_sign_gnosis_safe_tx(struct signer_api *api, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX],
    json_t **refused_byp)
{
	struct eth_eip712_result res;
	struct signed_data sd = { 0 };
	const json_t *safe_tx = json_array_get(untrusted_params, 1);
	json_t *typed = NULL, *out = NULL, *sigj = NULL;
	char msg[ERR_WHY_MAX] = "";
	uint8_t addr[ETH_ADDR_LEN];
	static const char *const keep[] = {
		"safe", "to", "value", "gasPrice", "data", "operation", "gasToken",
		"refundReceiver", "baseGas", "safeTxGas", "nonce", "safeTxHash", "chainId",
	};
	size_t i;
	int r;

	if ((r = signer_api_check_params(untrusted_params, 2, 3, why)) != 0)
		return r;
	if ((r = signer_api_address_param(json_array_get(untrusted_params, 0), addr, "0", why)) != 0)
		return r;
	if ((r = eth_eip712_from_gnosis_safe_tx(safe_tx, &api->cfg.chain_id, &typed, &res,
	    msg)) != 0)
		return err_why(why, r, "%s", msg[0] != '\0' ? msg : err_str(r));
	if ((r = typed_signed_data(&res, &sd)) != 0) {
		r = err_why(why, r, "out of memory");
		goto out;
	}
	if ((r = sign_data_common(api, caller, "account_signGnosisSafeTx", "data/typed",
	    addr, &sd, &sigj, why)) != 0)
		goto out;
	/* Clef's answer: the Safe transaction with signature, its hash and sender. */
	if ((out = json_object()) == NULL) {
		r = err_why(why, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(safe_tx, keep[i]);

		if (v != NULL)
			json_object_set(out, keep[i], v);
	}
	json_object_set_new(out, "chainId", json_incref(json_object_get(json_object_get(
	    typed, "domain"), "chainId")));
	if (json_object_get(out, "chainId") == NULL)
		json_object_del(out, "chainId");
	json_object_set_new(out, "signature", sigj);
	sigj = NULL;
	json_object_set_new(out, "contractTransactionHash", eth_hex_json(res.message_hash, 32));
	json_object_set_new(out, "sender", signer_api_address_json(addr));
	*resultp = out;
	out = NULL;
	r = 0;
 out:
	json_decref(out);
	json_decref(sigj);
	json_decref(typed);
	eth_eip712_result_clear(&res);
	signed_data_clear(&sd);
	return r;
}
