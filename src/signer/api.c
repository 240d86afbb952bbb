/*
 * api.c - the account_* methods (see api.h).  Clef's behaviour is from
 * go-ethereum signer/core/api.go, signed_data.go and fourbyte/validation.go
 * (commit eb429a062a40); where we differ, docs/api.md says so.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eth/abi.h"
#include "eth/calldata.h"
#include "eth/display.h"
#include "eth/eip191.h"
#include "eth/eip712.h"
#include "core/clock.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "eth/sig.h"
#include "eth/tx.h"
#include "rpc/caller.h"
#include "signer/api.h"

struct signer_api {
	struct signer_api_config cfg;
	struct rpc_table table;
	/* typed-data requests decoded or awaiting approval (typed_enter()) */
	pthread_mutex_t typed_lock;
	pthread_cond_t typed_done;	/* CLOCK_MONOTONIC */
	unsigned typed_held;
	struct eth_calldata_db *own_calldata;	/* the built-in table when cfg has none */
};

#define DENIED "request denied"

/* ---- small helpers ---- */

static int
add_msg(json_t *call_info, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
add_msg(json_t *call_info, const char *type, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_array_append_new(call_info,
	    json_pack("{s:s,s:s}", "type", type, "message", msg)) == 0 ? 0 : ERR_NOMEM;
}

static json_t *
address_json(const uint8_t a[ETH_ADDR_LEN])
{
	char s[ETH_ADDR_STR];

	eth_addr_to_checksum(a, s);
	return json_string(s);
}

/* Clef's request metadata, plus the caller identity it cannot forge. */
static json_t *
meta_json(const struct rpc_caller *c)
{
	static const char *const kinds[] = { "tcp", "unix", "qube", "stdio" };

	if (c == NULL)
		return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "remote", "NA", "local", "NA",
		    "scheme", "NA", "User-Agent", "", "Origin", "", "caller", "internal");
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
	    "remote", c->untrusted_remote, "local", c->untrusted_local,
	    "scheme", c->untrusted_scheme, "User-Agent", c->untrusted_user_agent,
	    "Origin", c->untrusted_origin,
	    "X-Forwarded-For", c->untrusted_forwarded_for,
	    "caller", c->id,
	    "caller_kind", (unsigned)c->kind < 4 ? kinds[c->kind] : "?",
	    "tls_client", c->tls_client);
}

/* The caller's claims, for the audit record: shown, never trusted. */
static void
audit_claims(json_t *ev, const struct rpc_caller *c)
{
	json_t *claims;

	if (c == NULL)
		return;
	if (c->tls_client[0] != '\0')	/* trusted: the pinned certificate's fingerprint */
		json_object_set_new(ev, "tls_client", json_string(c->tls_client));
	if ((claims = json_object()) == NULL)
		return;
#define CLAIM(name, field) \
	if (c->field[0] != '\0') \
		json_object_set_new(claims, name, json_string(c->field))
	CLAIM("Origin", untrusted_origin);
	CLAIM("User-Agent", untrusted_user_agent);
	CLAIM("Host", untrusted_local);
	CLAIM("remote", untrusted_remote);
	CLAIM("X-Forwarded-For", untrusted_forwarded_for);
#undef CLAIM
	if (json_object_size(claims) > 0)
		json_object_set_new(ev, "untrusted", claims);
	else
		json_decref(claims);
}

static void
audit(struct signer_api *api, const struct rpc_caller *c, const char *method,
    const char *outcome, const char *detail, const uint8_t *key,
    const uint8_t *hash)
{
	json_t *ev;

	if (api->cfg.audit == NULL)
		return;
	ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "method", method,
	    "caller", c != NULL ? c->id : "internal",
	    "profile", c != NULL ? c->profile : "",
	    "outcome", outcome, "detail", detail != NULL ? detail : "");
	if (ev == NULL)
		return;
	audit_claims(ev, c);
	if (key != NULL)
		json_object_set_new(ev, "key", address_json(key));
	if (hash != NULL)
		json_object_set_new(ev, "hash", eth_hex_json(hash, 32));
	(void)signer_audit_append(api->cfg.audit, ev);
	json_decref(ev);
}

/*
 * The audit record of a signature must be on disk before the signature is
 * released: a failed append fails the request.
 */
static int
audit_signed(struct signer_api *api, const struct rpc_caller *c, const char *method,
    const uint8_t key[ETH_ADDR_LEN], const uint8_t hash[32], const char *rule,
    json_t *summary, const char *result_name, const uint8_t *result, size_t result_len,
    struct rpc_error *err)
{
	json_t *ev;
	int r;

	if (api->cfg.audit == NULL) {
		json_decref(summary);
		return 0;
	}
	/* What was signed, as the approver saw it, and what left: the raw
	 * transaction or the signature. */
	ev = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:o}", "method", method,
	    "caller", c != NULL ? c->id : "internal",
	    "profile", c != NULL ? c->profile : "", "outcome", "signed",
	    "key", address_json(key), "hash", eth_hex_json(hash, 32),
	    "approved_by", rule, "summary", summary != NULL ? summary : json_null(),
	    result_name, eth_hex_json(result, result_len));
	if (ev == NULL)
		return rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
	audit_claims(ev, c);
	r = signer_audit_append(api->cfg.audit, ev);
	json_decref(ev);
	if (r != 0)
		return rpc_error_set(err, RPC_ERR_SERVER,
		    "cannot write the audit log; nothing was signed: %s", err_str(r));
	return 0;
}

static int
parse_address_param(const json_t *v, uint8_t out[ETH_ADDR_LEN], const char *what,
    struct rpc_error *err)
{
	if (!json_is_string(v) ||
	    eth_addr_parse(json_string_value(v), json_string_length(v), out, NULL) != 0)
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "invalid argument %s: not an address (0x and 40 hex digits)", what);
	return 0;
}

static int
check_params(const json_t *params, size_t min, size_t max, struct rpc_error *err)
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

/*
 * Approval: policy first, then the approver for "ask".  On approval returns
 * 0 with *resultp the approver's answer (or NULL when policy approved) and
 * the decision in *d (its reservation held until commit or release).
 */
struct approval_req {
	const struct rpc_caller *caller;
	const char *method;		/* account_* */
	const char *content_type;
	const uint8_t *key;
	int is_tx;
	const struct eth_tx *tx;
	const char *ui_method;		/* ui_approve* */
	const json_t *ui_request;
};

/* What the policy is told of a request. */
static void
policy_request(const struct approval_req *q, struct signer_policy_request *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->caller = q->caller != NULL ? q->caller->id : "internal";
	pr->profile = q->caller != NULL && q->caller->profile[0] != '\0' ?
	    q->caller->profile : NULL;
	pr->method = q->method;
	pr->content_type = q->content_type;
	pr->key = q->key;
	pr->tx = q->is_tx ? q->tx : NULL;
}

/*
 * A refusal nobody was asked about goes to stderr (the journal under
 * systemd) as well as the audit log, so that a daemon that refuses
 * everything says so where its operator looks.
 */
static void
log_refusal(const struct approval_req *q, const char *outcome, const char *why)
{
	fprintf(stderr, "p11signer: %s from %s%s%s: %s (%s)\n", q->method,
	    q->caller != NULL ? q->caller->id : "internal",
	    q->caller != NULL && q->caller->profile[0] != '\0' ? " profile " : "",
	    q->caller != NULL ? q->caller->profile : "", outcome, why);
}

/* For approvers: the request is still wanted while its caller is there. */
static int
caller_still_there(const void *arg)
{
	return !rpc_caller_gone(arg);
}

/* A caller that has gone gets nothing processed: said in the audit log and on stderr. */
static int
withdrawn(struct signer_api *api, const struct approval_req *q, const char *when,
    struct rpc_error *err)
{
	audit(api, q->caller, q->method, "withdrawn: the caller is gone", when, q->key, NULL);
	log_refusal(q, "withdrawn: the caller is gone", when);
	return rpc_error_set(err, RPC_ERR_SERVER, "request withdrawn: the caller is gone");
}

static int
approve(struct signer_api *api, const struct approval_req *q,
    struct signer_policy_decision *d, json_t **resultp, struct rpc_error *err)
{
	struct signer_policy_request pr;
	struct signer_policy *pol = api->cfg.policy;
	json_t *result = NULL;
	int r;

	*resultp = NULL;
	memset(d, 0, sizeof(*d));
	d->reservation = -1;
	d->action = SIGNER_ASK;
	policy_request(q, &pr);
	if (pol != NULL)
		signer_policy_decide(pol, &pr, time(NULL), d);
	else
		snprintf(d->why, sizeof(d->why), "no policy file: ask");
	if (d->action == SIGNER_APPROVE)
		return 0;
	if (d->action == SIGNER_DENY) {
		audit(api, q->caller, q->method, "denied by policy", d->why, q->key, NULL);
		log_refusal(q, "denied by policy", d->why);
		return rpc_error_set(err, RPC_ERR_SERVER, DENIED);
	}
	/* ask */
	if (api->cfg.approver.ask == NULL) {
		audit(api, q->caller, q->method, "denied: no approver (--ui none)", d->why,
		    q->key, NULL);
		log_refusal(q, "denied: no approver (--ui none)", d->why);
		if (pol != NULL)
			signer_policy_release(pol, d);
		return rpc_error_set(err, RPC_ERR_SERVER, DENIED);
	}
	if (api->cfg.approver.ask_watched != NULL)
		r = api->cfg.approver.ask_watched(api->cfg.approver.ctx, q->ui_method,
		    q->ui_request, api->cfg.approval_timeout_ms, caller_still_there, q->caller,
		    &result);
	else
		r = api->cfg.approver.ask(api->cfg.approver.ctx, q->ui_method, q->ui_request,
		    api->cfg.approval_timeout_ms, &result);
	if (r == 0 && !json_is_object(result))
		r = ERR_JSON_TYPE;
	if (r == 0 && rpc_caller_gone(q->caller))
		r = ERR_WITHDRAWN;	/* answered, but nobody is there to take the result */
	if (r != 0) {
		json_decref(result);
		if (pol != NULL)
			signer_policy_release(pol, d);
		if (r == ERR_WITHDRAWN)
			return withdrawn(api, q, "while the approver was asked", err);
		if (r == ERR_TIMEOUT) {
			audit(api, q->caller, q->method, "approval timed out", NULL, q->key, NULL);
			return rpc_error_set(err, RPC_ERR_SERVER,
			    "request denied: no approval within %d s",
			    api->cfg.approval_timeout_ms / 1000);
		}
		if (r == ERR_UI_NO_APPROVER) {
			/* --ui socket with nobody at the vault's window */
			audit(api, q->caller, q->method, "no approver connected", NULL, q->key,
			    NULL);
			return rpc_error_set(err, RPC_ERR_SERVER,
			    "request denied: no approver connected");
		}
		audit(api, q->caller, q->method, "approver failed", err_str(r), q->key, NULL);
		return rpc_error_set(err, RPC_ERR_SERVER, DENIED);
	}
	snprintf(d->rule, sizeof(d->rule), "approver");
	*resultp = result;
	return 0;
}

static int
approved_flag(const json_t *result)
{
	return result == NULL || json_is_true(json_object_get(result, "approved"));
}

/*
 * Sign digest with the key at addr through the backend, and check that the
 * signature recovers to addr before anyone sees it.  sig65 gets r || s || v
 * with v = recid + v_offset (27 for Ethereum V, 0 for clique).
 */
static int
sign_digest(struct signer_api *api, const uint8_t addr[ETH_ADDR_LEN],
    const uint8_t digest[32], int v_offset, uint8_t sig65[65], struct rpc_error *err)
{
	char why[SIGNER_WHY_MAX] = "";
	uint8_t sig64[64], back[ETH_ADDR_LEN], chk[65];
	int recid = -1, r;

	r = api->cfg.keys.sign(api->cfg.keys.ctx, addr, digest, sig64, &recid, why);
	if (r == ERR_P11_KEY_NOT_FOUND)
		return rpc_error_set(err, RPC_ERR_SERVER, "unknown account");
	if (r != 0)
		return rpc_error_set(err, RPC_ERR_SERVER, "signing failed: %s",
		    why[0] != '\0' ? why : err_str(r));
	memcpy(chk, sig64, 64);
	chk[64] = (uint8_t)recid;
	if ((recid != 0 && recid != 1) || !eth_sig_is_low_s(sig64) ||
	    eth_sig_recover_address(digest, chk, back) != 0 ||
	    memcmp(back, addr, ETH_ADDR_LEN) != 0)
		return rpc_error_set(err, RPC_ERR_SERVER,
		    "signing failed: the token's signature does not verify");
	memcpy(sig65, sig64, 64);
	sig65[64] = (uint8_t)(recid + v_offset);
	return 0;
}

static int
commit(struct signer_api *api, const struct signer_policy_decision *d)
{
	if (api->cfg.policy != NULL && signer_policy_commit(api->cfg.policy, d) != 0)
		return -1;
	return 0;
}

static void
release(struct signer_api *api, const struct signer_policy_decision *d)
{
	if (api->cfg.policy != NULL)
		signer_policy_release(api->cfg.policy, d);
}

static void
notify(struct signer_api *api, const char *method, json_t *params)
{
	if (params != NULL && api->cfg.approver.notify != NULL)
		api->cfg.approver.notify(api->cfg.approver.ctx, method, params);
	json_decref(params);
}


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
	    "from", address_json(from),
	    "to", tx->has_to ? address_json(tx->to) : json_null(),
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
			    "delegate_to", address_json(tx->auths[i].address),
			    "chainId", dec_json(&tx->auths[i].chain_id), "nonce", dec_json(&u)));
		}
		json_object_set_new(d, "authorizations", auths);
	}
	return d;
}

/*
 * The decoded call as Clef words it: "transfer(address: 0xd8dA..., uint256: 5)";
 * arrays and tuples as compact JSON.
 */
static void
clef_call_text(const json_t *call, char *out, size_t n)
{
	const json_t *arg, *v;
	size_t i, o;
	char *dump;

	o = (size_t)snprintf(out, n, "%s(", json_string_value(json_object_get(call, "name")));
	json_array_foreach(json_object_get(call, "args"), i, arg) {
		if (o >= n)
			break;
		v = json_object_get(arg, "value");
		if (v == NULL)
			v = json_object_get(arg, "value_hex");
		dump = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		o += (size_t)snprintf(out + o, n - o, "%s%s: %s", i > 0 ? "," : "",
		    json_string_value(json_object_get(arg, "type")),
		    json_is_string(v) ? json_string_value(v) : dump != NULL ? dump : "?");
		free(dump);
	}
	if (o < n)
		snprintf(out + o, n - o, ")");
}

/* An Info/WARNING message that carries the decoded call. */
static int
add_call_msg(json_t *call_info, const char *type, const json_t *call, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
add_call_msg(json_t *call_info, const char *type, const json_t *call, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_array_append_new(call_info, json_pack("{s:s,s:s,s:O}", "type", type,
	    "message", msg, "call", call)) == 0 ? 0 : ERR_NOMEM;
}

/* ---- validation (fourbyte/validation.go) ---- */

int
signer_api_validate_tx(const struct eth_tx *tx, const struct eth_tx_request *req,
    const char *selector, const json_t *call, json_t *call_info, char why[SIGNER_WHY_MAX])
{
	static const uint8_t zero[ETH_ADDR_LEN];
	const char *status = json_string_value(json_object_get(call, "status"));
	char text[400];
	int r = 0;

	why[0] = '\0';
	if (!tx->has_to) {
		if (tx->data_len == 0) {
			if (!eth_u256_is_zero(&tx->value)) {
				snprintf(why, SIGNER_WHY_MAX,
				    "transaction will create a contract with value but empty code");
				return ERR_TX_INVALID;
			}
			r = add_msg(call_info, "CRITICAL",
			    "Transaction will create a contract with empty code");
		} else if (tx->data_len < 40)
			r = add_msg(call_info, "WARNING", "Transaction will create a contract, "
			    "but the payload is suspiciously small (%zu bytes)", tx->data_len);
		if (r == 0 && selector != NULL)
			r = add_msg(call_info, "WARNING", "Transaction will create a contract, "
			    "but method selector supplied, indicating an intent to call a method");
		return r;
	}
	if (!req->to_checksummed)
		r |= add_msg(call_info, "WARNING", "Invalid checksum on recipient address");
	if (memcmp(tx->to, zero, ETH_ADDR_LEN) == 0)
		r |= add_msg(call_info, "CRITICAL", "Transaction recipient is the zero address");
	if (!(req->present & ETH_TX_ARG_GAS_PRICE) && !(req->present & ETH_TX_ARG_MAX_FEE))
		r |= add_msg(call_info, "CRITICAL", "Neither 'gasPrice' nor 'maxFeePerGas' specified.");
	else if (!(req->present & ETH_TX_ARG_GAS_PRICE) &&
	    !(req->present & ETH_TX_ARG_MAX_PRIORITY_FEE))
		r |= add_msg(call_info, "CRITICAL",
		    "Neither 'gasPrice' nor 'maxPriorityFeePerGas' specified.");
	else if ((req->present & ETH_TX_ARG_GAS_PRICE) && (req->present & ETH_TX_ARG_MAX_FEE))
		r |= add_msg(call_info, "CRITICAL", "Both 'gasPrice' and 'maxFeePerGas' specified.");
	else if ((req->present & ETH_TX_ARG_GAS_PRICE) &&
	    (req->present & ETH_TX_ARG_MAX_PRIORITY_FEE))
		r |= add_msg(call_info, "CRITICAL",
		    "Both 'gasPrice' and 'maxPriorityFeePerGas' specified.");
	if (tx->data_len == 0)
		return r != 0 ? ERR_NOMEM : 0;
	if (tx->data_len < 4)
		return add_msg(call_info, "WARNING",
		    "Transaction data is not valid ABI (missing the 4 byte call prefix)") |
		    (r != 0 ? ERR_NOMEM : 0);
	if ((tx->data_len - 4) % 32 != 0)
		r |= add_msg(call_info, "WARNING", "Transaction data is not valid ABI "
		    "(length should be a multiple of 32 (was %zu))", tx->data_len - 4);
	if (selector != NULL) {
		/* by its canonical form: "transfer(address to, uint256 v)" names transfer */
		struct eth_abi_fn *fn = NULL;
		uint8_t sel[4];

		if (eth_abi_fn_parse(selector, strlen(selector), &fn) == 0)
			eth_abi_fn_selector(fn, sel);
		if (fn == NULL || memcmp(sel, tx->data, 4) != 0)
			r |= add_msg(call_info, "WARNING", "Transaction contains data, but "
			    "provided ABI signature could not be matched: %.200s", selector);
		eth_abi_fn_free(fn);
	}
	if (call == NULL || status == NULL)
		return r != 0 ? ERR_NOMEM : 0;
	if (strcmp(status, "decoded") == 0) {
		clef_call_text(call, text, sizeof(text));
		r |= add_call_msg(call_info, "Info", call,
		    "Transaction invokes the following method: \"%s\"", text);
	} else if (strcmp(status, "undecodable") == 0)
		/* Clef's words: a signature that matches the selector but not the arguments */
		r |= add_call_msg(call_info, "WARNING", call, "Transaction contains data, but "
		    "provided ABI signature could not be %s: %.200s: %.200s",
		    strcmp(json_string_value(json_object_get(call, "source")), "caller") == 0 ?
		    "matched" : "verified",
		    json_string_value(json_object_get(call, "signature")),
		    json_string_value(json_object_get(call, "error")));
	else if (strcmp(status, "ambiguous") == 0)
		r |= add_call_msg(call_info, "Info", call, "Transaction calls method %s, which "
		    "more than one known signature has: not decoded",
		    json_string_value(json_object_get(call, "selector")));
	else
		/* Clef warns here, from a 4 MiB selector database we do not ship. */
		r |= add_call_msg(call_info, "Info", call, "Transaction calls method %s, "
		    "which is not in p11signer's list of known methods",
		    json_string_value(json_object_get(call, "selector")));
	return r != 0 ? ERR_NOMEM : 0;
}

/* "validation failed: m1,m2" of the WARNING and CRITICAL messages, or 0. */
static int
validation_refusal(const json_t *call_info, struct rpc_error *err)
{
	char msg[sizeof(err->message)] = "validation failed: ";
	size_t i, n = 0, len = strlen(msg);
	json_t *m;

	json_array_foreach(call_info, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *text = json_string_value(json_object_get(m, "message"));

		if (type == NULL || text == NULL || strcmp(type, "Info") == 0)
			continue;
		len += (size_t)snprintf(msg + len, len < sizeof(msg) ? sizeof(msg) - len : 0,
		    "%s%s", n++ > 0 ? "," : "", text);
		if (len >= sizeof(msg))
			len = sizeof(msg) - 1;
	}
	if (n == 0)
		return 0;
	return rpc_error_set(err, RPC_ERR_SERVER, "%s", msg);
}

/* ---- methods ---- */

static int
m_version(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	if (check_params(params, 0, 0, err) != 0)
		return err->code;
	*resultp = json_string(SIGNER_API_VERSION);
	return 0;
}

static int
m_rpc_modules(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	if (check_params(params, 0, 0, err) != 0)
		return err->code;
	*resultp = json_pack("{s:s,s:s}", "account", "1.0", "rpc", "1.0");
	return 0;
}

static int
m_list(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	struct signer_api *api = ctx;
	const struct rpc_caller *caller = call_ctx;
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	json_t *accounts = NULL, *request = NULL, *result = NULL, *chosen, *out = NULL;
	char why[SIGNER_WHY_MAX] = "";
	size_t i, j;
	int r;

	if (check_params(params, 0, 0, err) != 0)
		return err->code;
	if ((r = api->cfg.keys.list(api->cfg.keys.ctx, &accounts, why)) != 0)
		return rpc_error_set(err, RPC_ERR_SERVER, "cannot list accounts: %s",
		    why[0] != '\0' ? why : err_str(r));
	request = json_pack("{s:O,s:o}", "accounts", accounts, "meta", meta_json(caller));
	q.caller = caller;
	q.method = "account_list";
	q.ui_method = "ui_approveListing";
	q.ui_request = request;
	if (request == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((r = approve(api, &q, &d, &result, err)) != 0)
		goto out;
	release(api, &d);
	/* The UI answers with the accounts it lets through: only ours count. */
	chosen = result != NULL ? json_object_get(result, "accounts") : accounts;
	/* Clef: no list at all ({"accounts": null}) is a refusal, [] is not */
	if (!json_is_array(chosen)) {
		audit(api, caller, "account_list", "denied by approver", NULL, NULL, NULL);
		r = rpc_error_set(err, RPC_ERR_SERVER, DENIED);
		goto out;
	}
	if ((out = json_array()) == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
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
	audit(api, caller, "account_list", "listed", d.rule, NULL, NULL);
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

static int
m_new(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	struct signer_api *api = ctx;
	const struct rpc_caller *caller = call_ctx;
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	json_t *request, *result = NULL;
	char why[SIGNER_WHY_MAX] = "";
	uint8_t addr[ETH_ADDR_LEN];
	int r;

	if (check_params(params, 0, 0, err) != 0)
		return err->code;
	if (api->cfg.keys.generate == NULL)
		return rpc_error_set(err, RPC_ERR_SERVER,
		    "this signer cannot make keys (no token that can)");
	if ((request = json_pack("{s:o}", "meta", meta_json(caller))) == NULL)
		return rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
	q.caller = caller;
	q.method = "account_new";
	q.ui_method = "ui_approveNewAccount";
	q.ui_request = request;
	r = approve(api, &q, &d, &result, err);
	json_decref(request);
	if (r != 0)
		return r;
	release(api, &d);
	if (!approved_flag(result)) {
		json_decref(result);
		audit(api, caller, "account_new", "denied by approver", NULL, NULL, NULL);
		return rpc_error_set(err, RPC_ERR_SERVER, DENIED);
	}
	json_decref(result);
	if ((r = api->cfg.keys.generate(api->cfg.keys.ctx, addr, why)) != 0) {
		audit(api, caller, "account_new", "failed", why, NULL, NULL);
		return rpc_error_set(err, RPC_ERR_SERVER, "cannot make a key: %s",
		    why[0] != '\0' ? why : err_str(r));
	}
	audit(api, caller, "account_new", "created", d.rule, addr, NULL);
	*resultp = eth_hex_json(addr, ETH_ADDR_LEN);	/* lower case, as Clef */
	return 0;
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
 * *call_infop are set; on failure err is set and the audit outcome named.
 */
static int
check_tx(struct signer_api *api, const struct rpc_caller *caller, const json_t *args,
    const char *selector, const char *whose, struct eth_tx **txp,
    struct eth_tx_request *req, json_t **callp, json_t **call_infop, struct rpc_error *err)
{
	struct eth_tx *tx = NULL;
	json_t *call = NULL, *call_info = NULL;
	char msg[ERR_WHY_MAX] = "", why[SIGNER_WHY_MAX];
	int r;

	*txp = NULL;
	*callp = *call_infop = NULL;
	if ((r = eth_tx_from_send_args(args, &api->cfg.chain_id, &tx, req, msg)) != 0) {
		r = rpc_error_set(err, whose == NULL ? RPC_ERR_INVALID_PARAMS : RPC_ERR_SERVER,
		    "%s%s: %s", whose == NULL ? "invalid argument 0" : "request denied: ",
		    whose == NULL ? "" : whose, msg[0] != '\0' ? msg : err_str(r));
		goto out;
	}
	if ((r = eth_calldata_decode(api->cfg.calldata, &tx->chain_id,
	    tx->has_to ? tx->to : NULL, tx->data, tx->data_len, selector, &call)) != 0 ||
	    (call_info = json_array()) == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((r = signer_api_validate_tx(tx, req, selector, call, call_info, why)) != 0) {
		r = rpc_error_set(err, RPC_ERR_SERVER, "%s", why[0] != '\0' ? why : err_str(r));
		goto out;
	}
	if (!api->cfg.advanced && (r = validation_refusal(call_info, err)) != 0) {
		audit(api, caller, "account_signTransaction", whose == NULL ?
		    "refused by validation" : "refused by validation: the approver's transaction",
		    err->message, req->from, NULL);
		goto out;
	}
	if ((req->present & ETH_TX_ARG_CHAIN_ID) &&
	    eth_u256_cmp(&tx->chain_id, &api->cfg.chain_id) != 0) {
		char dec[ETH_U256_DECIMAL_MAX];

		eth_u256_to_decimal(&tx->chain_id, dec);
		r = rpc_error_set(err, RPC_ERR_SERVER,
		    "requested chainid %s does not match the configuration of the signer", dec);
		audit(api, caller, "account_signTransaction", "refused: chain id",
		    err->message, req->from, NULL);
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
 * holds the new decision (the old one released).
 */
static int
approver_changed_tx(struct signer_api *api, const struct approval_req *q,
    const json_t *changed, const char *selector, const struct eth_tx_request *req,
    struct signer_policy_decision *d, struct eth_tx **txp, json_t **decodedp,
    struct rpc_error *err)
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
	if ((r = check_tx(api, q->caller, changed, selector, "the approver's transaction",
	    &tx, &req2, &call, &call_info, err)) != 0)
		goto out;
	if (memcmp(req2.from, req->from, ETH_ADDR_LEN) != 0) {
		audit(api, q->caller, q->method, "denied: the approver changed the sender", NULL,
		    req->from, NULL);
		r = rpc_error_set(err, RPC_ERR_SERVER,
		    "request denied: the approver changed the sender");
		goto out;
	}
	q2.tx = tx;
	if (api->cfg.policy != NULL) {
		policy_request(&q2, &pr);
		signer_policy_decide(api->cfg.policy, &pr, time(NULL), &d2);
		/*
		 * Denied, or sent to a person for another reason than the request
		 * was (a limit the request kept and the change breaks): refused.
		 * The same "ask" is what the person has just answered.
		 */
		if (d2.action == SIGNER_DENY ||
		    (d2.action == SIGNER_ASK && strcmp(d2.why, d->why) != 0)) {
			signer_policy_release(api->cfg.policy, &d2);
			audit(api, q->caller, q->method,
			    "denied by policy: the approver's transaction", d2.why, req->from, NULL);
			r = rpc_error_set(err, RPC_ERR_SERVER,
			    DENIED ": the approver's transaction: %s", d2.why);
			goto out;
		}
		release(api, d);
		*d = d2;
	}
	snprintf(d->rule, sizeof(d->rule), "approver");
	if ((*decodedp = tx_decoded_json(tx, req2.from, call)) == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
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

static int
m_sign_tx(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	struct signer_api *api = ctx;
	const struct rpc_caller *caller = call_ctx;
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	struct eth_tx *tx = NULL, *changed_tx = NULL;
	const struct eth_tx *signed_tx;
	struct eth_tx_request req;
	json_t *args, *sel, *call = NULL, *call_info = NULL, *request = NULL, *result = NULL;
	json_t *txjson = NULL, *out = NULL, *changed, *decoded2 = NULL, *summary;
	const char *selector = NULL;
	uint8_t hash[32], sig65[65], *raw = NULL;
	size_t rawlen;
	int r, held = 0;

	if (check_params(params, 1, 2, err) != 0)
		return err->code;
	args = json_array_get(params, 0);
	sel = json_array_get(params, 1);
	if (sel != NULL && !json_is_null(sel)) {
		if (!json_is_string(sel) || json_string_length(sel) > LIMIT_ABI_SIGNATURE)
			return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
			    "invalid argument 1: method selector is not a string");
		selector = json_string_value(sel);
	}
	if ((r = check_tx(api, caller, args, selector, NULL, &tx, &req, &call, &call_info,
	    err)) != 0)
		goto out;
	request = json_pack("{s:O,s:O,s:o,s:o}", "transaction", args, "call_info", call_info,
	    "meta", meta_json(caller), "decoded", tx_decoded_json(tx, req.from, call));
	if (request == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
		goto out;
	}
	q.caller = caller;
	q.method = "account_signTransaction";
	q.key = req.from;
	q.is_tx = 1;
	q.tx = tx;
	q.ui_method = "ui_approveTx";
	q.ui_request = request;
	if ((r = approve(api, &q, &d, &result, err)) != 0)
		goto out;
	held = 1;
	if (!approved_flag(result)) {
		audit(api, caller, q.method, "denied by approver", NULL, req.from, NULL);
		r = rpc_error_set(err, RPC_ERR_SERVER, DENIED);
		goto out;
	}
	signed_tx = tx;
	changed = result != NULL ? json_object_get(result, "transaction") : NULL;
	if (changed != NULL && !json_is_null(changed) && !json_equal(changed, args)) {
		if ((r = approver_changed_tx(api, &q, changed, selector, &req, &d, &changed_tx,
		    &decoded2, err)) != 0)
			goto out;
		signed_tx = changed_tx;
		notify(api, "ui_showInfo", json_pack("{s:s}", "text", "The approver changed "
		    "the transaction; the changed one is signed and sent to the caller"));
	}
	if ((r = eth_tx_signing_hash(signed_tx, hash)) != 0 ||
	    (r = sign_digest(api, req.from, hash, 0, sig65, err)) != 0) {
		if (r != err->code)
			r = rpc_error_set(err, RPC_ERR_SERVER, "%s", err_str(r));
		audit(api, caller, q.method, "signing failed", err->message, req.from, hash);
		goto out;
	}
	if ((r = eth_tx_encode_signed(signed_tx, sig65, sig65[64], &raw, &rawlen)) != 0 ||
	    (r = eth_tx_to_json(signed_tx, sig65, sig65[64], &txjson)) != 0) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "%s", err_str(r));
		goto out;
	}
	/* the record holds what was signed and, when the approver changed it, the request */
	if (decoded2 != NULL) {
		summary = audit_view(decoded2);
		json_object_set_new(summary, "requested",
		    audit_view(json_object_get(request, "decoded")));
		json_object_set_new(summary, "changed_by_approver", json_true());
	} else
		summary = audit_view(json_object_get(request, "decoded"));
	if ((r = audit_signed(api, caller, q.method, req.from, hash, d.rule, summary,
	    "raw", raw, rawlen, err)) != 0)
		goto out;
	if (commit(api, &d) != 0) {
		held = 0;
		r = rpc_error_set(err, RPC_ERR_SERVER,
		    "cannot record the signing in the policy state file; not released");
		goto out;
	}
	held = 0;
	if ((out = json_pack("{s:o,s:O}", "raw", eth_hex_json(raw, rawlen), "tx", txjson)) == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
		goto out;
	}
	notify(api, "ui_onApprovedTx", json_incref(out));
	*resultp = out;
	r = 0;
 out:
	if (held)
		release(api, &d);
	free(raw);
	json_decref(txjson);
	json_decref(result);
	json_decref(request);
	json_decref(call);
	json_decref(call_info);
	json_decref(decoded2);
	eth_tx_free(changed_tx);
	eth_tx_free(tx);
	return r;
}

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
hex_param(const json_t *v, size_t max, uint8_t **outp, size_t *lenp, const char *what,
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

static int
name_value(json_t *messages, const char *name, const char *type, json_t *value)
{
	return json_array_append_new(messages, json_pack("{s:s,s:s,s:o}", "name", name,
	    "type", type, "value", value)) == 0 ? 0 : -1;
}

static int
data_text(const json_t *data, struct signed_data *sd, struct rpc_error *err)
{
	json_t *shown;
	uint8_t *msg = NULL;
	size_t len;
	int r;

	if ((r = hex_param(data, LIMIT_SIGN_DATA_BYTES, &msg, &len, "2", err)) != 0)
		return r;
	if ((r = eth_eip191_personal_hash(msg, len, sd->hash)) != 0 ||
	    (r = eth_eip191_personal_message(msg, len, &sd->raw, &sd->rawlen)) != 0) {
		free(msg);
		return rpc_error_set(err, RPC_ERR_SERVER, "%s", err_str(r));
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
		return rpc_error_set(err, RPC_ERR_SERVER, "%s", err_str(ERR_NOMEM));
	}
	json_decref(shown);
	free(msg);
	sd->v_offset = 27;
	return 0;
}

static int
data_validator(const json_t *data, struct signed_data *sd, struct rpc_error *err)
{
	uint8_t validator[ETH_ADDR_LEN], *msg = NULL;
	size_t len;
	int r;

	if (!json_is_object(data) || json_object_size(data) != 2)
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS, "invalid argument 2: "
		    "data/validator wants {\"address\": validator, \"message\": hex}");
	if ((r = parse_address_param(json_object_get(data, "address"), validator,
	    "2.address", err)) != 0 ||
	    (r = hex_param(json_object_get(data, "message"), LIMIT_SIGN_DATA_BYTES, &msg,
	    &len, "2.message", err)) != 0)
		return r;
	if (len == 0) {
		free(msg);
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS, "message is undefined");
	}
	if ((r = eth_eip191_validator_hash(validator, msg, len, sd->hash)) != 0 ||
	    (r = eth_eip191_validator_message(validator, msg, len, &sd->raw,
	    &sd->rawlen)) != 0) {
		free(msg);
		return rpc_error_set(err, RPC_ERR_SERVER, "%s", err_str(r));
	}
	if ((sd->messages = json_array()) == NULL ||
	    name_value(sd->messages, "This is a request to sign data intended for a "
	    "particular validator (see EIP 191 version 0)", "description", json_string("")) ||
	    name_value(sd->messages, "Intended validator", "address", address_json(validator)) ||
	    name_value(sd->messages, "Application-specific data", "hexdata", eth_hex_json(msg, len)) ||
	    name_value(sd->messages, "Full message for signing", "hexdata",
	    eth_hex_json(sd->raw, sd->rawlen))) {
		free(msg);
		return rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
	}
	free(msg);
	sd->v_offset = 27;
	return 0;
}

static int
data_clique(const json_t *data, struct signed_data *sd, struct rpc_error *err)
{
	struct eth_eip191_clique *c = NULL;
	char msg[ERR_WHY_MAX] = "", summary[ETH_EIP191_CLIQUE_SUMMARY_MAX];
	uint8_t *rlp = NULL;
	size_t len;
	int r;

	if ((r = hex_param(data, LIMIT_SIGN_DATA_BYTES, &rlp, &len, "2", err)) != 0)
		return r;
	r = eth_eip191_clique_parse(rlp, len, &c, msg);
	free(rlp);
	if (r != 0)
		return rpc_error_set(err, RPC_ERR_SERVER, "%s",
		    msg[0] != '\0' ? msg : err_str(r));
	memcpy(sd->hash, c->seal_hash, 32);
	eth_eip191_clique_summary(c, summary);
	if ((sd->raw = malloc(c->seal_rlp_len + 1)) == NULL ||
	    (sd->messages = json_array()) == NULL ||
	    name_value(sd->messages, "Clique header", "clique", json_string(summary)) != 0) {
		eth_eip191_clique_free(c);
		return rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
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
typed_enter(struct signer_api *api, struct rpc_error *err)
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
		return rpc_error_set(err, RPC_ERR_SERVER, "signer busy: %u typed-data requests "
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

/* Typed data as an object, or (as Clef also takes it) hex of its JSON text. */
static int
data_typed(const json_t *data, struct signed_data *sd, struct rpc_error *err)
{
	struct eth_eip712_result res;
	char msg[ERR_WHY_MAX] = "";
	json_t *parsed = NULL;
	uint8_t *text = NULL;
	size_t len;
	int r;

	if (json_is_string(data)) {
		if ((r = hex_param(data, LIMIT_SIGN_DATA_BYTES, &text, &len, "2", err)) != 0)
			return r;
		/* The same bound on values as a request's own JSON, before parsing. */
		if ((r = rpc_jsonrpc_precheck_request((const char *)text, len)) != 0) {
			free(text);
			return rpc_error_set(err, RPC_ERR_INVALID_PARAMS, "invalid argument 2: %s",
			    rpc_jsonrpc_precheck_str(r));
		}
		parsed = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
		free(text);
		if (parsed == NULL)
			return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
			    "invalid argument 2: not typed data (JSON)");
		data = parsed;
	}
	r = eth_eip712_hash(data, &res, 1, msg);
	json_decref(parsed);
	if (r != 0)
		return rpc_error_set(err, RPC_ERR_SERVER, "%s", msg[0] != '\0' ? msg : err_str(r));
	memcpy(sd->hash, res.digest, 32);
	if ((sd->raw = malloc(66)) == NULL) {
		eth_eip712_result_clear(&res);
		return rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
	}
	sd->raw[0] = 0x19;
	sd->raw[1] = 0x01;
	memcpy(sd->raw + 2, res.domain_separator, 32);
	memcpy(sd->raw + 34, res.message_hash, 32);
	sd->rawlen = 66;
	sd->messages = res.messages;
	res.messages = NULL;
	eth_eip712_result_clear(&res);
	sd->v_offset = 27;
	return 0;
}

/* base64 of raw_data, as Go marshals []byte. */
static json_t *
base64_json(const uint8_t *p, size_t n)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc((n + 2) / 3 * 4 + 1);
	size_t i, o = 0;
	json_t *j;

	if (s == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		s[o++] = tbl[p[i] >> 2];
		s[o++] = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		s[o++] = tbl[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		s[o++] = tbl[p[i + 2] & 63];
	}
	if (i < n) {
		s[o++] = tbl[p[i] >> 2];
		if (i + 1 < n) {
			s[o++] = tbl[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			s[o++] = tbl[(p[i + 1] & 15) << 2];
		} else {
			s[o++] = tbl[(p[i] & 3) << 4];
			s[o++] = '=';
		}
		s[o++] = '=';
	}
	s[o] = '\0';
	j = json_string(s);
	free(s);
	return j;
}

/* Approve and sign prepared data; *resultp the 65-byte signature as hex. */
static int
sign_data_common(struct signer_api *api, const struct rpc_caller *caller,
    const char *method, const char *content_type, const uint8_t addr[ETH_ADDR_LEN],
    struct signed_data *sd, json_t **resultp, struct rpc_error *err)
{
	struct signer_policy_decision d;
	struct approval_req q = { 0 };
	json_t *request, *result = NULL;
	uint8_t sig65[65];
	int r;

	/* Clef's SignDataRequest, member by member; its call_info is null here */
	request = json_pack("{s:s,s:o,s:o,s:O,s:n,s:o,s:o}", "content_type", content_type,
	    "address", address_json(addr), "raw_data", base64_json(sd->raw, sd->rawlen),
	    "messages", sd->messages, "call_info", "hash", eth_hex_json(sd->hash, 32),
	    "meta", meta_json(caller));
	if (request == NULL)
		return rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
	q.caller = caller;
	q.method = method;
	q.content_type = content_type;
	q.key = addr;
	q.ui_method = "ui_approveSignData";
	q.ui_request = request;
	r = approve(api, &q, &d, &result, err);
	json_decref(request);
	if (r != 0)
		return r;
	if (!approved_flag(result)) {
		json_decref(result);
		release(api, &d);
		audit(api, caller, method, "denied by approver", content_type, addr, sd->hash);
		return rpc_error_set(err, RPC_ERR_SERVER, DENIED);
	}
	json_decref(result);
	if ((r = sign_digest(api, addr, sd->hash, sd->v_offset, sig65, err)) != 0) {
		release(api, &d);
		audit(api, caller, method, "signing failed", err->message, addr, sd->hash);
		return r;
	}
	if ((r = audit_signed(api, caller, method, addr, sd->hash, d.rule,
	    json_pack("{s:s,s:O}", "content_type", content_type, "messages", sd->messages),
	    "signature", sig65, 65, err)) != 0) {
		release(api, &d);
		return r;
	}
	if (commit(api, &d) != 0)
		return rpc_error_set(err, RPC_ERR_SERVER,
		    "cannot record the signing in the policy state file; not released");
	*resultp = eth_hex_json(sig65, 65);
	return 0;
}

static int
m_sign_data(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	struct signer_api *api = ctx;
	struct signed_data sd = { 0 };
	const json_t *ct = json_array_get(params, 0);
	const char *type;
	uint8_t addr[ETH_ADDR_LEN];
	int r;

	if (check_params(params, 3, 3, err) != 0)
		return err->code;
	if (!json_is_string(ct))
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "invalid argument 0: content type is not a string");
	if ((r = parse_address_param(json_array_get(params, 1), addr, "1", err)) != 0)
		return r;
	type = json_string_value(ct);
	if (strcmp(type, "text/plain") == 0)
		r = data_text(json_array_get(params, 2), &sd, err);
	else if (strcmp(type, "data/validator") == 0)
		r = data_validator(json_array_get(params, 2), &sd, err);
	else if (strcmp(type, "application/x-clique-header") == 0)
		r = data_clique(json_array_get(params, 2), &sd, err);
	else if (strcmp(type, "data/typed") == 0) {
		if ((r = typed_enter(api, err)) != 0)
			return r;
		r = data_typed(json_array_get(params, 2), &sd, err);
	} else
		return rpc_error_set(err, RPC_ERR_SERVER, "unknown content type \"%.64s\": "
		    "want text/plain, data/validator, data/typed or "
		    "application/x-clique-header", type);
	if (r == 0)
		r = sign_data_common(api, call_ctx, "account_signData", type, addr, &sd,
		    resultp, err);
	signed_data_clear(&sd);
	if (strcmp(type, "data/typed") == 0)
		typed_leave(api);
	return r;
}

static int
m_sign_typed(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	struct signer_api *api = ctx;
	struct signed_data sd = { 0 };
	uint8_t addr[ETH_ADDR_LEN];
	int r;

	if (check_params(params, 2, 2, err) != 0)
		return err->code;
	if ((r = parse_address_param(json_array_get(params, 0), addr, "0", err)) != 0)
		return r;
	if (!json_is_object(json_array_get(params, 1)))
		return rpc_error_set(err, RPC_ERR_INVALID_PARAMS,
		    "invalid argument 1: typed data is not an object");
	if ((r = typed_enter(api, err)) != 0)
		return r;
	if ((r = data_typed(json_array_get(params, 1), &sd, err)) == 0)
		r = sign_data_common(api, call_ctx, "account_signTypedData", "data/typed",
		    addr, &sd, resultp, err);
	signed_data_clear(&sd);
	typed_leave(api);
	return r;
}

static int
m_ec_recover(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	uint8_t *data = NULL, *sig = NULL, hash[32], addr[ETH_ADDR_LEN];
	size_t dlen, slen;
	int r;

	if (check_params(params, 2, 2, err) != 0)
		return err->code;
	if ((r = hex_param(json_array_get(params, 0), LIMIT_SIGN_DATA_BYTES, &data, &dlen,
	    "0", err)) != 0)
		return r;
	if ((r = hex_param(json_array_get(params, 1), 65, &sig, &slen, "1", err)) != 0)
		goto out;
	if (slen != 65) {
		r = rpc_error_set(err, RPC_ERR_SERVER,
		    "signature must be 65 bytes long");
		goto out;
	}
	if (sig[64] != 27 && sig[64] != 28) {
		r = rpc_error_set(err, RPC_ERR_SERVER,
		    "invalid Ethereum signature (V is not 27 or 28)");
		goto out;
	}
	if ((r = eth_eip191_personal_hash(data, dlen, hash)) != 0 ||
	    (r = eth_sig_recover_address(hash, sig, addr)) != 0) {
		r = rpc_error_set(err, RPC_ERR_SERVER, "%s", err_str(r));
		goto out;
	}
	*resultp = eth_hex_json(addr, ETH_ADDR_LEN);	/* lower case, as Clef */
	r = 0;
 out:
	free(data);
	free(sig);
	return r;
}

static int
m_sign_gnosis(void *ctx, void *call_ctx, const json_t *params, json_t **resultp,
    struct rpc_error *err)
{
	struct signer_api *api = ctx;
	const struct rpc_caller *caller = call_ctx;
	struct eth_eip712_result res;
	struct signed_data sd = { 0 };
	const json_t *safe_tx = json_array_get(params, 1);
	json_t *typed = NULL, *out = NULL, *sigj = NULL;
	char msg[ERR_WHY_MAX] = "";
	uint8_t addr[ETH_ADDR_LEN];
	static const char *const keep[] = {
		"safe", "to", "value", "gasPrice", "data", "operation", "gasToken",
		"refundReceiver", "baseGas", "safeTxGas", "nonce", "safeTxHash", "chainId",
	};
	size_t i;
	int r;

	if (check_params(params, 2, 3, err) != 0)
		return err->code;
	if ((r = parse_address_param(json_array_get(params, 0), addr, "0", err)) != 0)
		return r;
	if ((r = eth_eip712_from_gnosis_safe_tx(safe_tx, &api->cfg.chain_id, &typed, &res,
	    msg)) != 0)
		return rpc_error_set(err, RPC_ERR_SERVER, "%s", msg[0] != '\0' ? msg : err_str(r));
	memcpy(sd.hash, res.digest, 32);
	sd.messages = res.messages;
	res.messages = NULL;
	if ((sd.raw = malloc(66)) == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
		goto out;
	}
	sd.raw[0] = 0x19;
	sd.raw[1] = 0x01;
	memcpy(sd.raw + 2, res.domain_separator, 32);
	memcpy(sd.raw + 34, res.message_hash, 32);
	sd.rawlen = 66;
	sd.v_offset = 27;
	if ((r = sign_data_common(api, caller, "account_signGnosisSafeTx", "data/typed",
	    addr, &sd, &sigj, err)) != 0)
		goto out;
	/* Clef's answer: the Safe transaction with signature, its hash and sender. */
	if ((out = json_object()) == NULL) {
		r = rpc_error_set(err, RPC_ERR_INTERNAL, "out of memory");
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
	json_object_set_new(out, "sender", address_json(addr));
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

static const struct rpc_method methods[] = {
	{ "account_version", m_version },
	{ "account_list", m_list },
	{ "account_new", m_new },
	{ "account_signTransaction", m_sign_tx },
	{ "account_signData", m_sign_data },
	{ "account_signTypedData", m_sign_typed },
	{ "account_ecRecover", m_ec_recover },
	{ "account_signGnosisSafeTx", m_sign_gnosis },
	{ "rpc_modules", m_rpc_modules },
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
