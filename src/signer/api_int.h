/*
 * api_int.h - what the files of the account_* API share (api.c, api_approve.c,
 * api_validate.c, api_tx.c, api_data.c, api_accounts.c); not for other
 * modules, which use api.h.
 *
 * The methods have the rpc_method_fn shape: ctx is the struct signer_api,
 * call_ctx the struct rpc_caller (NULL: an internal caller).  Functions that
 * fail set err and return its code, as rpc_error_set() does.
 */
#ifndef SIGNER_API_INT_H
#define SIGNER_API_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "eth/addr.h"
#include "eth/calldata.h"
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

/* ---- the parameters of a request (api.c) ---- */

/* Between min and max parameters, or err is "missing value..." / "too many...". */
int signer_api_check_params(const json_t *params, size_t min, size_t max,
    struct rpc_error *err);

/* An address parameter; what names it in the error ("0", "2.address"). */
int signer_api_address_param(const json_t *v, uint8_t out[ETH_ADDR_LEN], const char *what,
    struct rpc_error *err);

/* A hex parameter of at most max bytes; *outp caller frees with free(). */
int signer_api_hex_param(const json_t *v, size_t max, uint8_t **outp, size_t *lenp,
    const char *what, struct rpc_error *err);

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
    size_t result_len, struct rpc_error *err);

/* What the policy is told of a request. */
void signer_api_policy_request(const struct approval_req *q,
    struct signer_policy_request *pr);

/* See struct approval_req; refusals are audited and err says what the caller is told. */
int signer_api_approve(struct signer_api *api, const struct approval_req *q,
    struct signer_policy_decision *d, json_t **resultp, struct rpc_error *err);

/* 1 when the approver's answer (NULL: policy approved) says "approved". */
int signer_api_approved(const json_t *result);

/*
 * Sign digest with the key at addr through the backend, and check that the
 * signature recovers to addr before anyone sees it.  sig65 gets r || s || v
 * with v = recid + v_offset (27 for Ethereum V, 0 for clique).
 */
int signer_api_sign_digest(struct signer_api *api, const uint8_t addr[ETH_ADDR_LEN],
    const uint8_t digest[32], int v_offset, uint8_t sig65[65], struct rpc_error *err);

/* The policy's reservation made final (0, or -1 when the state file cannot be written)... */
int signer_api_commit(struct signer_api *api, const struct signer_policy_decision *d);

/* ...or given back. */
void signer_api_release(struct signer_api *api, const struct signer_policy_decision *d);

/* Tell the approver (params stolen, may be NULL). */
void signer_api_notify(struct signer_api *api, const char *method, json_t *params);

/* ---- validation (api_validate.c) ---- */

/* "validation failed: m1,m2" of the WARNING and CRITICAL messages in err, or 0. */
int signer_api_validation_refusal(const json_t *call_info, struct rpc_error *err);

/* ---- the methods (api_accounts.c, api_tx.c, api_data.c) ---- */

int signer_api_list_accounts(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);
int signer_api_new_account(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);
int signer_api_sign_transaction(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);
int signer_api_sign_data(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);
int signer_api_sign_typed_data(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);
int signer_api_ec_recover(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);
int signer_api_sign_gnosis_safe_tx(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);

#endif /* SIGNER_API_INT_H */
