/*
 * api.h - Clef's external API 6.1.0 (the account_* methods), on whatever
 * holds the keys, with approval and an audit trail.
 *
 * signer_api_table() gives the JSON-RPC method table that every transport
 * serves (rpc/jsonrpc.h); each call's call_ctx is the struct rpc_caller the
 * transport filled (trusted identity plus untrusted claims).  For every
 * request that lists, makes or uses a key:
 *
 *   1. the request is decoded and validated as Clef does (transactions:
 *      chain id, then fourbyte/validation.go's checks, whose warnings refuse
 *      the request unless `advanced`);
 *   2. the policy decides approve, deny or ask (signer/policy.h);
 *   3. ask goes to the approver (Clef's UI protocol: ui_approveTx,
 *      ui_approveSignData, ui_approveListing, ui_approveNewAccount), bounded
 *      by approval_timeout_ms; no approver means deny;
 *   4. the digest is signed by the keys backend, the signature checked
 *      against the key's address, the policy reservation committed;
 *   5. the outcome is appended to the audit log before the answer leaves.
 *
 * Nothing is signed after the caller was told the request failed: an
 * approval that comes after the timeout is dropped by the approver.
 */
#ifndef SIGNER_API_H
#define SIGNER_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "eth/addr.h"
#include "eth/calldata.h"
#include "eth/u256.h"
#include "rpc/jsonrpc.h"
#include "signer/audit.h"
#include "signer/policy.h"

#define SIGNER_API_VERSION "6.1.0"

/* Room for a backend's reason, with NUL: the one detail buffer (core/err.h). */
#define SIGNER_WHY_MAX ERR_WHY_MAX

/*
 * What holds the keys: the token helpers in `p11signer serve`, a software
 * key in tests.  Every function returns 0 or a negative ERR_* code and, on
 * failure, a sentence in why.  All must be safe to call from several
 * threads at once.
 */
struct signer_keys {
	void *ctx;
	/*
	 * The keys, as a new JSON array of {"address": EIP-55 string, "url":
	 * string} (Clef's accounts.Account).  Caller frees with json_decref().
	 */
	int (*list)(void *ctx, json_t **accountsp, char why[SIGNER_WHY_MAX]);
	/*
	 * Sign a 32-byte digest with the key whose address is addr: r || s
	 * (low s), without a recovery id, and that key's public key as listed
	 * (04 || X || Y) into pub65.  ERR_P11_KEY_NOT_FOUND when no key has
	 * that address.  Neither is trusted: the API checks that pub65 hashes
	 * to addr and verifies the signature under it, which also finds the
	 * recovery id (eth_sig_find_recid()).
	 */
	int (*sign)(void *ctx, const uint8_t addr[ETH_ADDR_LEN],
	    const uint8_t digest[32], uint8_t sig64[64], uint8_t pub65[65],
	    char why[SIGNER_WHY_MAX]);
	/* Make a new key; its address into addr.  May be NULL: not supported. */
	int (*generate)(void *ctx, uint8_t addr[ETH_ADDR_LEN], char why[SIGNER_WHY_MAX]);
};

/*
 * Who approves what policy leaves to ask: a Clef UI over stdio, the tty, or
 * nobody (ask == NULL: deny).  ask() sends one UI-protocol request (method
 * "ui_approveTx" etc., params borrowed: the request object) and waits at most
 * timeout_ms for the answer object (*resultp, new reference).  Errors:
 * ERR_TIMEOUT, ERR_IO (UI gone), anything else means no.  notify() sends a
 * notification (ui_onApprovedTx, ui_showInfo, ui_showError); may be NULL.
 */
struct signer_approver {
	void *ctx;
	int (*ask)(void *ctx, const char *method, const json_t *request,
	    int timeout_ms, json_t **resultp);
	void (*notify)(void *ctx, const char *method, const json_t *params);
	/*
	 * Optional (NULL: ask is used): ask, and take the request back from the
	 * person when its caller has gone.  still_wanted(arg) is 0 once it has;
	 * the approver calls it before showing the request and at least every
	 * 200 ms while it waits, and on 0 says so to the person (Clef's UI
	 * protocol: ui_showInfo) and returns ERR_WITHDRAWN.
	 */
	int (*ask_watched)(void *ctx, const char *method, const json_t *request,
	    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
	    json_t **resultp);
};

struct signer_api_config {
	struct eth_u256 chain_id;	/* --chainid */
	int advanced;			/* --advanced: validation warnings do not refuse */
	int approval_timeout_ms;	/* default 120000 */
	struct signer_policy *policy;	/* borrowed; NULL: every request asks */
	struct signer_audit *audit;	/* borrowed; NULL: no audit log */
	struct signer_keys keys;
	struct signer_approver approver;
	/* Typed data (account_signTypedData, account_signData data/typed) is
	 * held from decoding until its approval ends; at most this many at once
	 * (0: LIMIT_TYPED_DATA_AT_ONCE).  A further one waits up to
	 * typed_data_wait_ms (0: LIMIT_TYPED_DATA_WAIT_SECONDS) for its turn,
	 * then is refused -32000 "signer busy". */
	unsigned typed_data_at_once;
	unsigned typed_data_wait_ms;
	/* borrowed; NULL: the built-in table (eth/calldata.h).  --4bytedb adds to it. */
	const struct eth_calldata_db *calldata;
};

struct signer_api;

/* Caller frees with signer_api_free().  Errors: ERR_INVALID_ARGUMENT, ERR_NOMEM. */
int signer_api_new(const struct signer_api_config *cfg, struct signer_api **outp);

/* The method table; valid while api lives.  Pass a struct rpc_caller * as call_ctx. */
const struct rpc_table *signer_api_table(struct signer_api *api);

/* Accepts NULL. */
void signer_api_free(struct signer_api *api);

/*
 * Clef's transaction validation (signer/fourbyte/validation.go), for a
 * request already built by eth_tx_from_send_args(): appends to the JSON
 * array call_info objects {"type": "CRITICAL"|"WARNING"|"Info", "message"}.
 * Returns ERR_TX_INVALID with why for the show stoppers (a contract creation
 * that sends value with no code).  selector is account_signTransaction's
 * optional method signature, or NULL.  call (borrowed, may be NULL) is the
 * decoded call (eth_calldata_decode()): the message about the method carries
 * it as its "call" member (docs/api.md), a call that does not decode by its
 * signature is a WARNING, as in Clef.  Exposed for tests.
 */
struct eth_tx;
struct eth_tx_request;
int signer_api_validate_tx(const struct eth_tx *tx, const struct eth_tx_request *req,
    const char *selector, const json_t *call, json_t *call_info, char why[SIGNER_WHY_MAX]);

#endif /* SIGNER_API_H */
