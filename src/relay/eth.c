#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eth/addr.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/u256.h"
#include "relay/eth.h"
#include "relay/node.h"
#include "relay/nonce.h"
#include "rpc/caller.h"
#include "rpc/jsonrpc.h"

struct relay_eth {
	const struct relay_config *cfg;
	struct relay_node *node;
	struct relay_nonces *nonces;
	pthread_mutex_t chain_lock;
	json_t *chain_id;		/* eth_chainId's answer, once known */
};

/* How one request failed: a JSON-RPC error for the caller. */
typedef struct relay_node_error call_error;

/* A transaction nonce taken from the table, to give back if it is not sent. */
struct taken_nonce {
	int taken;
	uint8_t from[ETH_ADDR_LEN];
	uint64_t nonce;
};

typedef int (*signing_fn)(struct relay_eth *e, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, call_error *err);

int
relay_eth_new(const struct relay_config *cfg, const char *node_url, unsigned node_timeout_s,
    struct relay_eth **outp)
{
	struct relay_eth *e;
	int r;

	*outp = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return ERR_NOMEM;
	e->cfg = cfg;
	pthread_mutex_init(&e->chain_lock, NULL);
	if ((r = relay_node_new(node_url, node_timeout_s, &e->node)) != 0 ||
	    (r = relay_nonces_new(&e->nonces)) != 0) {
		relay_eth_free(e);
		return r;
	}
	*outp = e;
	return 0;
}

void
relay_eth_free(struct relay_eth *e)
{
	if (e == NULL)
		return;
	relay_node_free(e->node);
	relay_nonces_free(e->nonces);
	json_decref(e->chain_id);
	pthread_mutex_destroy(&e->chain_lock);
	free(e);
}

static int
fail(call_error *err, int code, const char *msg)
{
	err->code = code;
	snprintf(err->message, sizeof(err->message), "%s", msg);
	err->data = NULL;
	return ERR_INVALID_ARGUMENT;
}

/* A node call that failed: its error, or RELAY_ERR_NODE when it could not answer. */
static int
node_failed(call_error *err, int r)
{
	if (err->code == 0)
		err->code = RELAY_ERR_NODE;
	return r;
}

/* ---- the vault -------------------------------------------------------------- */

/*
 * One account_* call to the vault, through relay_forward() (qrexec or the
 * upstream signer) with the caller's claims as they came.  params is stolen.
 */
static int
vault_call(struct relay_eth *e, const struct rpc_caller *caller, const char *method,
    json_t *params, json_t **resultp, call_error *err)
{
	json_t *req = NULL;
	char *body = NULL, *answer = NULL;
	unsigned status = 0;
	int r;

	*resultp = NULL;
	if ((req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
	    "params", params)) == NULL || (body = json_dumps(req, JSON_COMPACT)) == NULL) {
		r = fail(err, RPC_ERR_INTERNAL, "out of memory");
		goto out;
	}
	answer = relay_forward((void *)(uintptr_t)e->cfg, caller, body, strlen(body), &status);
	r = relay_rpc_answer_split(answer, answer != NULL ? strlen(answer) : 0, resultp, err);
	if (r == ERR_RELAY_NODE_ANSWER)
		fail(err, RELAY_ERR_BAD_ANSWER, "the vault gave no answer the relay can read");
 out:
	json_decref(req);
	free(body);
	free(answer);
	return r;
}

/* ---- quantities --------------------------------------------------------------- */

/* A node's quantity answer ("0x..."), as a number. */
static int
quantity_of(const json_t *j, struct eth_u256 *out)
{
	if (!json_is_string(j))
		return ERR_JSON_TYPE;
	return eth_u256_parse_quantity(json_string_value(j), json_string_length(j), out);
}

static json_t *
quantity_json(const struct eth_u256 *v)
{
	char q[ETH_U256_QUANTITY_MAX];

	eth_u256_to_quantity(v, q);
	return json_string(q);
}

/* A member the caller gave: present and not null. */
static int
given(const json_t *tx, const char *name)
{
	const json_t *v = json_object_get(tx, name);

	return v != NULL && !json_is_null(v);
}

/* Ask the node a quantity: method(params) as a number. */
static int
node_quantity(struct relay_eth *e, const char *method, json_t *params,
    struct eth_u256 *out, call_error *err)
{
	json_t *res = NULL;
	char msg[RELAY_NODE_MSG_MAX];
	int r;

	if ((r = relay_node_call(e->node, method, params, &res, err)) != 0)
		return node_failed(err, r);
	if ((r = quantity_of(res, out)) != 0) {
		snprintf(msg, sizeof(msg), "the node's answer to %s is not a quantity", method);
		r = fail(err, RELAY_ERR_NODE, msg);
	}
	json_decref(res);
	return r;
}

/* ---- filling a transaction ----------------------------------------------------- */

static int
fill_chain_id(struct relay_eth *e, json_t *tx, call_error *err)
{
	json_t *res = NULL;
	struct eth_u256 v;
	int r = 0;

	if (given(tx, "chainId"))
		return 0;
	pthread_mutex_lock(&e->chain_lock);
	if (e->chain_id == NULL) {
		if ((r = relay_node_call(e->node, "eth_chainId", NULL, &res, err)) != 0)
			r = node_failed(err, r);
		else if (quantity_of(res, &v) != 0)
			r = fail(err, RELAY_ERR_NODE, "the node's chain id is not a quantity");
		else
			e->chain_id = json_incref(res);
	}
	if (r == 0)
		json_object_set(tx, "chainId", e->chain_id);
	pthread_mutex_unlock(&e->chain_lock);
	json_decref(res);
	return r;
}

/* gas = eth_estimateGas over what decides the execution, plus a margin. */
static int
fill_gas(struct relay_eth *e, const json_t *tx, json_t *out, call_error *err)
{
	static const char *const keep[] = { "from", "to", "value", "data", "input",
	    "accessList", "authorizationList", "blobVersionedHashes" };
	json_t *q;
	struct eth_u256 est, margin;
	uint64_t gas, extra;
	size_t i;
	int r;

	if (given(tx, "gas"))
		return 0;
	if ((q = json_object()) == NULL)
		return fail(err, RPC_ERR_INTERNAL, "out of memory");
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (given(tx, keep[i]))
			json_object_set(q, keep[i], json_object_get(tx, keep[i]));
	if ((r = node_quantity(e, "eth_estimateGas", json_pack("[o]", q), &est, err)) != 0)
		return r;
	if (eth_u256_to_u64(&est, &gas) != 0 || gas > UINT64_MAX / 2)
		return fail(err, RELAY_ERR_NODE, "the node's gas estimate is out of range");
	extra = gas / 100 * RELAY_ETH_GAS_MARGIN_PCT + gas % 100 * RELAY_ETH_GAS_MARGIN_PCT / 100;
	eth_u256_from_u64(&margin, gas + extra);
	json_object_set_new(out, "gas", quantity_json(&margin));
	return 0;
}

/* The caller asked for a type 0 or type 1 transaction, which has a gas price. */
static int
legacy_type(const json_t *tx)
{
	struct eth_u256 t;
	uint64_t v;

	return given(tx, "type") && quantity_of(json_object_get(tx, "type"), &t) == 0 &&
	    eth_u256_to_u64(&t, &v) == 0 && v <= 1;
}

/* Fees, unless the caller chose them (gasPrice, or maxFeePerGas). */
static int
fill_fees(struct relay_eth *e, json_t *tx, call_error *err)
{
	json_t *block = NULL;
	const json_t *base_j;
	struct eth_u256 base, tip, fee, two;
	int r = 0;

	if (given(tx, "gasPrice") || given(tx, "maxFeePerGas"))
		return 0;
	if ((r = relay_node_call(e->node, "eth_getBlockByNumber", json_pack("[sb]", "latest", 0),
	    &block, err)) != 0)
		return node_failed(err, r);
	base_j = json_object_get(block, "baseFeePerGas");
	if (base_j == NULL || json_is_null(base_j) || legacy_type(tx)) {
		/* No EIP-1559 on this chain, or the caller asked for type 0 or 1. */
		if (given(tx, "maxPriorityFeePerGas"))
			r = fail(err, RPC_ERR_INVALID_PARAMS, "maxPriorityFeePerGas given, but the "
			    "node's chain has no base fee (EIP-1559)");
		else if ((r = node_quantity(e, "eth_gasPrice", NULL, &fee, err)) == 0)
			json_object_set_new(tx, "gasPrice", quantity_json(&fee));
		goto out;
	}
	if (quantity_of(base_j, &base) != 0) {
		r = fail(err, RELAY_ERR_NODE, "the node's baseFeePerGas is not a quantity");
		goto out;
	}
	if (given(tx, "maxPriorityFeePerGas")) {
		if (quantity_of(json_object_get(tx, "maxPriorityFeePerGas"), &tip) != 0) {
			r = fail(err, RPC_ERR_INVALID_PARAMS, "maxPriorityFeePerGas is not a quantity");
			goto out;
		}
	} else if ((r = node_quantity(e, "eth_maxPriorityFeePerGas", NULL, &tip, err)) != 0) {
		goto out;
	}
	eth_u256_from_u64(&two, 2);
	if (eth_u256_mul(&fee, &base, &two) || eth_u256_add(&fee, &fee, &tip)) {
		r = fail(err, RELAY_ERR_NODE, "the node's fees are out of range");
		goto out;
	}
	json_object_set_new(tx, "maxFeePerGas", quantity_json(&fee));
	if (!given(tx, "maxPriorityFeePerGas"))
		json_object_set_new(tx, "maxPriorityFeePerGas", quantity_json(&tip));
 out:
	json_decref(block);
	return r;
}

static int
fill_nonce(struct relay_eth *e, json_t *tx, struct taken_nonce *tn, call_error *err)
{
	const json_t *from = json_object_get(tx, "from");
	struct eth_u256 pending, n;
	uint64_t pend64, nonce;
	int r;

	if (given(tx, "nonce"))
		return 0;
	if ((r = node_quantity(e, "eth_getTransactionCount",
	    json_pack("[Os]", from, "pending"), &pending, err)) != 0)
		return r;
	if (eth_u256_to_u64(&pending, &pend64) != 0)
		return fail(err, RELAY_ERR_NODE, "the node's transaction count is out of range");
	if ((r = relay_nonce_take(e->nonces, tn->from, pend64, &nonce)) != 0)
		return fail(err, RPC_ERR_SERVER, err_str(r));
	tn->taken = 1;
	tn->nonce = nonce;
	eth_u256_from_u64(&n, nonce);
	json_object_set_new(tx, "nonce", quantity_json(&n));
	return 0;
}

/*
 * eth_sendTransaction has no notion of an address checksum, and ethers.js
 * sends every address in lower case: a recipient written in one case is put
 * in its EIP-55 form, so that the vault does not warn about a checksum nobody
 * wrote.  A mixed-case recipient stays exactly as it came, for the vault to
 * check.
 */
static void
checksum_lowercase_to(json_t *tx)
{
	const json_t *to = json_object_get(tx, "to");
	uint8_t a[ETH_ADDR_LEN];
	char s[ETH_ADDR_STR];
	const char *t;
	size_t i, upper = 0, lower = 0;

	if (!json_is_string(to))
		return;
	t = json_string_value(to);
	if (eth_addr_parse(t, json_string_length(to), a, NULL) != 0)
		return;		/* the vault says what is wrong with it */
	for (i = 2; t[i] != '\0'; i++) {
		upper += t[i] >= 'A' && t[i] <= 'F';
		lower += t[i] >= 'a' && t[i] <= 'f';
	}
	if (upper != 0 && lower != 0)
		return;
	eth_addr_to_checksum(a, s);
	json_object_set_new(tx, "to", json_string(s));
}

/*
 * The caller's transaction with what it left out filled in (a new object;
 * the caller's is not changed).  The nonce, if one was taken, is in *tn.
 */
static int
fill_transaction(struct relay_eth *e, const json_t *untrusted_tx, json_t **txp,
    struct taken_nonce *tn, call_error *err)
{
	const json_t *from = json_object_get(untrusted_tx, "from");
	json_t *tx = NULL;
	int r;

	*txp = NULL;
	memset(tn, 0, sizeof(*tn));
	if (!json_is_object(untrusted_tx))
		return fail(err, RPC_ERR_INVALID_PARAMS, "the transaction is not an object");
	if (!json_is_string(from) || eth_addr_parse(json_string_value(from),
	    json_string_length(from), tn->from, NULL) != 0)
		return fail(err, RPC_ERR_INVALID_PARAMS, "the transaction needs a from address");
	if ((tx = json_deep_copy(untrusted_tx)) == NULL)
		return fail(err, RPC_ERR_INTERNAL, "out of memory");
	checksum_lowercase_to(tx);
	if (!given(tx, "value"))
		json_object_set_new(tx, "value", json_string("0x0"));
	if ((r = fill_chain_id(e, tx, err)) != 0 || (r = fill_gas(e, untrusted_tx, tx, err)) != 0 ||
	    (r = fill_fees(e, tx, err)) != 0 || (r = fill_nonce(e, tx, tn, err)) != 0) {
		json_decref(tx);
		return r;
	}
	*txp = tx;
	return 0;
}

static void
give_back(struct relay_eth *e, const struct taken_nonce *tn)
{
	if (tn->taken)
		relay_nonce_give_back(e->nonces, tn->from, tn->nonce);
}

/* ---- the signing methods ------------------------------------------------------- */

static int
params_n(const json_t *untrusted_params, size_t min, size_t max, call_error *err)
{
	char msg[80];

	if (json_is_array(untrusted_params) && json_array_size(untrusted_params) >= min &&
	    json_array_size(untrusted_params) <= max)
		return 0;
	if (min == max)
		snprintf(msg, sizeof(msg), "want %zu parameter%s", min, min == 1 ? "" : "s");
	else
		snprintf(msg, sizeof(msg), "want %zu to %zu parameters", min, max);
	return fail(err, RPC_ERR_INVALID_PARAMS, msg);
}

static int
via_vault_eth_accounts(struct relay_eth *e, const struct rpc_caller *caller, const json_t *untrusted_params,
    json_t **resultp, call_error *err)
{
	if (untrusted_params != NULL && params_n(untrusted_params, 0, 0, err) != 0)
		return ERR_INVALID_ARGUMENT;
	return vault_call(e, caller, "account_list", json_array(), resultp, err);
}

/* Text to sign with the "\x19Ethereum Signed Message:\n" prefix (EIP-191 0x45). */
static int
sign_text(struct relay_eth *e, const struct rpc_caller *caller, const json_t *address,
    const json_t *data, json_t **resultp, call_error *err)
{
	return vault_call(e, caller, "account_signData",
	    json_pack("[sOO]", "text/plain", address, data), resultp, err);
}

static int
via_vault_eth_sign(struct relay_eth *e, const struct rpc_caller *caller, const json_t *untrusted_params,
    json_t **resultp, call_error *err)
{
	if (params_n(untrusted_params, 2, 2, err) != 0)
		return ERR_INVALID_ARGUMENT;
	return sign_text(e, caller, json_array_get(untrusted_params, 0),
	    json_array_get(untrusted_params, 1), resultp, err);
}

/* personal_sign(data, address[, password]): the password is never used. */
static int
via_vault_personal_sign(struct relay_eth *e, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, call_error *err)
{
	if (params_n(untrusted_params, 2, 3, err) != 0)
		return ERR_INVALID_ARGUMENT;
	return sign_text(e, caller, json_array_get(untrusted_params, 1),
	    json_array_get(untrusted_params, 0), resultp, err);
}

/* eth_signTypedData_v4(address, typed data): MetaMask and ethers send it as a string. */
static int
via_vault_eth_sign_typed_data(struct relay_eth *e, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, call_error *err)
{
	const json_t *typed;
	json_t *obj;

	if (params_n(untrusted_params, 2, 2, err) != 0)
		return ERR_INVALID_ARGUMENT;
	typed = json_array_get(untrusted_params, 1);
	if (json_is_string(typed)) {
		if (json_string_length(typed) > LIMIT_JSON_BODY ||
		    (obj = json_loadb(json_string_value(typed), json_string_length(typed),
		    JSON_REJECT_DUPLICATES, NULL)) == NULL)
			return fail(err, RPC_ERR_INVALID_PARAMS, "the typed data is not JSON");
	} else {
		obj = json_incref((json_t *)(uintptr_t)typed);
	}
	return vault_call(e, caller, "account_signTypedData",
	    json_pack("[Oo]", json_array_get(untrusted_params, 0), obj), resultp, err);
}

/* Fill, then account_signTransaction; *tn says which nonce was taken. */
static int
sign_transaction(struct relay_eth *e, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, struct taken_nonce *tn, call_error *err)
{
	json_t *tx = NULL;
	int r;

	memset(tn, 0, sizeof(*tn));
	if (params_n(untrusted_params, 1, 1, err) != 0)
		return ERR_INVALID_ARGUMENT;
	if ((r = fill_transaction(e, json_array_get(untrusted_params, 0), &tx, tn, err)) != 0)
		return r;
	if ((r = vault_call(e, caller, "account_signTransaction", json_pack("[o]", tx),
	    resultp, err)) != 0)
		give_back(e, tn);
	return r;
}

static int
via_vault_eth_sign_transaction(struct relay_eth *e, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, call_error *err)
{
	struct taken_nonce tn;
	int r;

	/*
	 * Signed, not sent: the caller may never send it, so its nonce is not
	 * kept; if it is sent (eth_sendRawTransaction), the node's pending
	 * count moves past it and the next take follows.
	 */
	if ((r = sign_transaction(e, caller, untrusted_params, resultp, &tn, err)) == 0)
		give_back(e, &tn);
	return r;
}

static int
via_vault_eth_send_transaction(struct relay_eth *e, const struct rpc_caller *caller,
    const json_t *untrusted_params, json_t **resultp, call_error *err)
{
	struct taken_nonce tn;
	json_t *signed_tx = NULL;
	const json_t *raw;
	int r;

	*resultp = NULL;
	if ((r = sign_transaction(e, caller, untrusted_params, &signed_tx, &tn, err)) != 0)
		return r;
	raw = json_object_get(signed_tx, "raw");
	if (!json_is_string(raw)) {
		give_back(e, &tn);
		r = fail(err, RELAY_ERR_BAD_ANSWER, "the vault's signed transaction has no raw form");
	} else if ((r = relay_node_call(e->node, "eth_sendRawTransaction",
	    json_pack("[O]", raw), resultp, err)) != 0) {
		/* Whether or not the node kept it, the next take asks the node
		 * for its pending count first, so a nonce it has is not reused. */
		give_back(e, &tn);
		r = node_failed(err, r);
	}
	json_decref(signed_tx);
	return r;
}

static const struct {
	const char *name;
	signing_fn fn;
} signing_methods[] = {
	{ "eth_accounts", via_vault_eth_accounts },
	{ "eth_requestAccounts", via_vault_eth_accounts },
	{ "eth_sign", via_vault_eth_sign },
	{ "personal_sign", via_vault_personal_sign },
	{ "eth_signTypedData_v4", via_vault_eth_sign_typed_data },
	{ "eth_signTransaction", via_vault_eth_sign_transaction },
	{ "eth_sendTransaction", via_vault_eth_send_transaction },
};

/* ---- routing ----------------------------------------------------------------- */

enum route { ROUTE_NODE, ROUTE_VAULT, ROUTE_SIGNING };

static enum route
route_of(const json_t *untrusted_req, signing_fn *fnp)
{
	const json_t *m = json_object_get(untrusted_req, "method");
	const char *name;
	size_t i;

	*fnp = NULL;
	if (!json_is_string(m))
		return ROUTE_NODE;
	name = json_string_value(m);
	if (strncmp(name, "account_", 8) == 0)
		return ROUTE_VAULT;
	for (i = 0; i < sizeof(signing_methods) / sizeof(signing_methods[0]); i++)
		if (strcmp(name, signing_methods[i].name) == 0) {
			*fnp = signing_methods[i].fn;
			return ROUTE_SIGNING;
		}
	return ROUTE_NODE;
}

static json_t *
error_response(const json_t *id, const call_error *err)
{
	json_t *resp = rpc_jsonrpc_error_response(id, err->code, err->message);

	if (resp != NULL && err->data != NULL)
		json_object_set(json_object_get(resp, "error"), "data", err->data);
	return resp;
}

/* One request answered here (vault or signing); NULL for a notification. */
static json_t *
answer_here(struct relay_eth *e, const struct rpc_caller *caller, const json_t *untrusted_req)
{
	const json_t *id = json_object_get(untrusted_req, "id");
	json_t *result = NULL, *resp = NULL;
	call_error err;
	signing_fn fn;
	char *body, *answer;
	unsigned status;

	memset(&err, 0, sizeof(err));
	if (route_of(untrusted_req, &fn) == ROUTE_VAULT) {
		if ((body = json_dumps(untrusted_req, JSON_COMPACT)) == NULL)
			return rpc_jsonrpc_error_response(id, RPC_ERR_INTERNAL, "out of memory");
		answer = relay_forward((void *)(uintptr_t)e->cfg, caller, body, strlen(body), &status);
		free(body);
		resp = answer != NULL ? json_loads(answer, JSON_REJECT_DUPLICATES, NULL) : NULL;
		free(answer);
		return resp;
	}
	if (fn(e, caller, json_object_get(untrusted_req, "params"), &result, &err) != 0)
		resp = error_response(id, &err);
	else
		resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
		    "result", result);
	relay_node_error_clear(&err);
	if (id == NULL) {		/* a notification: done, nothing to say */
		json_decref(resp);
		return NULL;
	}
	return resp;
}

static char *
dump(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	return s;
}

static json_t *
node_unreachable(struct relay_eth *e, const json_t *id, int r)
{
	char msg[RELAY_NODE_MSG_MAX];

	snprintf(msg, sizeof(msg), "the node at %s %s", relay_node_url(e->node),
	    r == ERR_TIMEOUT ? "did not answer in time" :
	    r == ERR_TOO_LONG ? "answered more than the relay accepts" : "cannot be reached");
	return rpc_jsonrpc_error_response(id, RELAY_ERR_NODE, msg);
}

/* A batch with members for here and members for the node. */
static char *
answer_batch(struct relay_eth *e, const struct rpc_caller *caller, const json_t *untrusted_batch)
{
	json_t *out = json_array(), *to_node = json_array(), *ans = NULL, *el;
	char *body = NULL, *answer = NULL;
	size_t i, alen = 0;
	signing_fn fn;
	long status = 0;
	int r;

	if (out == NULL || to_node == NULL)
		goto out;
	json_array_foreach(untrusted_batch, i, el) {
		if (json_is_object(el) && route_of(el, &fn) != ROUTE_NODE) {
			json_t *one = answer_here(e, caller, el);

			if (one != NULL)
				json_array_append_new(out, one);
		} else {
			json_array_append(to_node, el);
		}
	}
	if (json_array_size(to_node) == 0)
		goto out;
	if ((body = json_dumps(to_node, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	if ((r = relay_node_post(e->node, body, strlen(body), &answer, &alen, &status)) != 0) {
		json_array_foreach(to_node, i, el) {
			const json_t *id = json_object_get(el, "id");

			if (id != NULL)
				json_array_append_new(out, node_unreachable(e, id, r));
		}
		goto out;
	}
	ans = rpc_jsonrpc_precheck(answer, alen) == 0 ?
	    json_loadb(answer, alen, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (json_is_array(ans))
		json_array_extend(out, ans);
	else if (json_is_object(ans))
		json_array_append(out, ans);
	else
		json_array_append_new(out, rpc_jsonrpc_error_response(NULL, RELAY_ERR_NODE,
		    "the node's answer to the batch is not JSON-RPC"));
 out:
	json_decref(to_node);
	json_decref(ans);
	free(body);
	free(answer);
	if (out != NULL && json_array_size(out) == 0) {
		json_decref(out);
		return NULL;	/* notifications only */
	}
	return dump(out);
}

char *
relay_eth_handle(void *ctx, const struct rpc_caller *caller, const char *untrusted_body,
    size_t len, unsigned *statusp)
{
	struct relay_eth *e = ctx;
	json_t *req = NULL;
	char *answer = NULL;
	size_t alen = 0, i;
	signing_fn fn;
	const json_t *el;
	long status = 0;
	int r, here = 0;

	*statusp = 200;
	if (rpc_jsonrpc_precheck(untrusted_body, len) != 0 ||
	    (req = json_loadb(untrusted_body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return dump(rpc_jsonrpc_error_response(NULL, RPC_ERR_PARSE, "parse error"));
	if (json_is_object(req)) {
		here = route_of(req, &fn) != ROUTE_NODE;
	} else if (json_is_array(req)) {
		json_array_foreach(req, i, el)
			here |= json_is_object(el) && route_of(el, &fn) != ROUTE_NODE;
	}
	if (here) {
		answer = json_is_array(req) ? answer_batch(e, caller, req) :
		    dump(answer_here(e, caller, req));
		goto out;
	}
	/* Not ours: to the node as it came, and its answer as it went. */
	if ((r = relay_node_post(e->node, untrusted_body, len, &answer, &alen, &status)) != 0) {
		answer = dump(node_unreachable(e, json_is_object(req) ?
		    json_object_get(req, "id") : NULL, r));
		goto out;
	}
	if (status >= 200 && status <= 599)
		*statusp = (unsigned)status;
	if (alen == 0) {
		free(answer);
		answer = NULL;
	}
 out:
	json_decref(req);
	return answer;
}
