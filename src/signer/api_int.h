/*
 * api_int.h - what the files of the account_* API share (api.c, api_approve.c,
 * api_validate.c, api_tx.c, api_data.c, api_accounts.c); not for other
 * modules, which use api.h.
 *
 * Every function here returns 0 or an ERR_* code, with the detail the
 * caller is told in why (err_why(); why is what the JSON-RPC error's message
 * will be).  The JSON-RPC error itself is made in one place, api.c's
 * answer_error(): ERR_API_PARAMS is -32602, ERR_NOMEM -32603, every other
 * code a refusal (-32000).  A caller of NULL is an internal one.
 */
#ifndef SIGNER_API_INT_H
#define SIGNER_API_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "eth/addr.h"
#include "eth/calldata.h"
#include "core/err.h"
#include "eth/tx.h"
#include "rpc/caller.h"
#include "rpc/jsonrpc.h"
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

/* The longest message of a JSON-RPC error (struct rpc_error's message). */
#define SIGNER_API_ANSWER_MAX sizeof(((struct rpc_error *)NULL)->message)

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
	/*
	 * Or, with ui_request NULL: what makes it, called only when the
	 * approver is asked (a rule's approval needs no view of the request,
	 * which costs a tenth of the daemon's time: issue 20).  It keeps what
	 * it made; NULL: out of memory.
	 */
	const json_t *(*ui_request_make)(void *ctx);
	void *ui_request_ctx;
};

/* ---- the parameters of a request (api.c) ---- */

/* Between min and max parameters, or err is "missing value..." / "too many...". */
int signer_api_check_params(const json_t *untrusted_params, size_t min, size_t max,
    char why[ERR_WHY_MAX]);

/* An address parameter; what names it in the error ("0", "2.address"). */
int signer_api_address_param(const json_t *untrusted_v, uint8_t out[ETH_ADDR_LEN],
    const char *what, char why[ERR_WHY_MAX]);

/* A hex parameter of at most max bytes; *outp caller frees with free(). */
int signer_api_hex_param(const json_t *untrusted_v, size_t max, uint8_t **outp, size_t *lenp,
    const char *what, char why[ERR_WHY_MAX]);

/* ---- approval, audit and signing (api_approve.c) ---- */

/* The EIP-55 form of an address as a JSON string (new reference). */
json_t *signer_api_address_json(const uint8_t a[ETH_ADDR_LEN]);

/* Clef's request metadata, plus the caller identity it cannot forge (new reference). */
json_t *signer_api_meta_json(const struct rpc_caller *c);

/* An audit record of an outcome other than a signature; a failed append is ignored. */
void signer_api_audit(struct signer_api *api, const struct rpc_caller *c, const char *method,
    const char *outcome, const char *detail, const uint8_t *key, const uint8_t *hash);

/*
 * The audit record of a signature (summary stolen, may be NULL): on disk
 * before the signature is released, so a failed append fails the request.
 */
int signer_api_audit_signed(struct signer_api *api, const struct rpc_caller *c,
    const char *method, const uint8_t key[ETH_ADDR_LEN], const uint8_t hash[32],
    const char *rule, json_t *summary, const char *result_name, const uint8_t *result,
    size_t result_len, char why[ERR_WHY_MAX]);

/* What the policy is told of a request. */
void signer_api_policy_request(const struct approval_req *q,
    struct signer_policy_request *pr);

/* See struct approval_req; refusals are audited (ERR_API_DENIED, ERR_TIMEOUT, ...). */
int signer_api_approve(struct signer_api *api, const struct approval_req *q,
    struct signer_policy_decision *d, json_t **resultp, char why[ERR_WHY_MAX]);

/* 1 when the approver's answer (NULL: policy approved) says "approved". */
int signer_api_approved(const json_t *result);

/*
 * Sign digest with the key at addr through the backend, and verify the
 * signature under the key of addr before anyone sees it.  sig65 gets r || s || v
 * with v = recid + v_offset (27 for Ethereum V, 0 for clique).
 */
int signer_api_sign_digest(struct signer_api *api, const uint8_t addr[ETH_ADDR_LEN],
    const uint8_t digest[32], int v_offset, uint8_t sig65[65], char why[ERR_WHY_MAX]);

/* The policy's reservation made final (0, or -1 when the state file cannot be written)... */
int signer_api_commit(struct signer_api *api, const struct signer_policy_decision *d);

/* ...or given back. */
void signer_api_release(struct signer_api *api, const struct signer_policy_decision *d);

/* Tell the approver (params stolen, may be NULL). */
void signer_api_notify(struct signer_api *api, const char *method, json_t *params);

/* ---- validation (api_validate.c) ---- */

/*
 * "validation failed: m1,m2" of the WARNING and CRITICAL messages of
 * call_info, in out (size bytes, cut at size - 1); returns how many
 * messages refuse the transaction, 0 for none.
 */
size_t signer_api_validation_refusal(const json_t *call_info, char *out, size_t size);

/* ---- the methods (api_accounts.c, api_tx.c, api_data.c) ---- */

/*
 * A method: *resultp its answer on success; on failure an ERR_* code and
 * why, or (account_signTransaction) Clef's validation messages that refused
 * the request in *refused_byp (caller frees with json_decref()).
 */
#define SIGNER_API_METHOD(name) \
	int name(struct signer_api *api, const struct rpc_caller *caller, \
	    const json_t *untrusted_params, json_t **resultp, char why[ERR_WHY_MAX], \
	    json_t **refused_byp)

SIGNER_API_METHOD(signer_api_list_accounts);
SIGNER_API_METHOD(signer_api_new_account);
SIGNER_API_METHOD(signer_api_sign_transaction);
SIGNER_API_METHOD(signer_api_sign_data);
SIGNER_API_METHOD(signer_api_sign_typed_data);
SIGNER_API_METHOD(signer_api_ec_recover);
SIGNER_API_METHOD(signer_api_sign_gnosis_safe_tx);

#endif /* SIGNER_API_INT_H */
