/*
 * policy.h - the declarative policy file (--rules), docs/policy.md.
 *
 * A policy is a list of rules; the first rule whose `match` fits a request
 * decides.  A rule's action is "approve", "deny" or "ask"; an "approve" rule
 * approves only while every constraint it states holds, and otherwise gives
 * its `else` action ("ask" unless stated).  No matching rule: the policy's
 * `default` ("ask" unless stated).  "ask" hands the request to the UI; with
 * --ui none it becomes deny.
 *
 * Transaction constraints (chain ids, recipients, transaction types, call
 * data, gas, fee per gas, EIP-7702 authorizations, value, and the most the
 * transaction can cost, eth_tx_max_cost()) are allowed only in a rule whose
 * match.method is exactly "account_signTransaction".  A rule that states any
 * of them refuses call data and type-4 authorizations unless it allows them,
 * and a rule that limits value must also limit cost: a value cap alone lets
 * the fees take the balance.  Windows count cost (and value, and requests).
 *
 * Windows are persisted in a state file so a restart resets nothing.  A
 * decision that approved under a window holds a reservation in that window;
 * the caller commits it once the signature is made (signer_policy_commit,
 * which writes the state file) or releases it when signing failed.
 *
 * The policy file is trusted configuration, but is still parsed strictly:
 * unknown keys, wrong types and bad addresses are errors naming the place.
 */
#ifndef SIGNER_POLICY_H
#define SIGNER_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "eth/tx.h"
#include "eth/u256.h"

enum signer_action {
	SIGNER_ASK = 0,
	SIGNER_APPROVE,
	SIGNER_DENY,
};

/* What policy needs to know of a request.  Pointers are borrowed. */
struct signer_policy_request {
	const char *caller;		/* trusted identity: qube, uid:N, ip:port */
	const char *profile;		/* qrexec argument, or NULL */
	const char *method;		/* "account_signTransaction", ... */
	const char *content_type;	/* account_signData's, or NULL */
	const uint8_t *key;		/* 20-byte address of the signing key, or NULL */
	const struct eth_tx *tx;	/* the transaction to sign, or NULL for other requests */
};

struct signer_policy_decision {
	enum signer_action action;
	char rule[64];			/* the deciding rule's name, "" for the default */
	char why[256];			/* for the approver and the audit log */
	long reservation;		/* -1 when none is held */
};

struct signer_policy;

/*
 * Load a policy file and its state file (path in the policy, or state_path
 * when non-NULL).  Caller frees with signer_policy_free().  Errors:
 * ERR_POLICY_INVALID (why says where), ERR_POLICY_STATE, ERR_TOO_LONG, ERR_NOMEM.
 */
int signer_policy_load(const char *path, const char *state_path,
    struct signer_policy **outp, char *why, size_t whylen);

/* The built-in policy without a file: every request asks. */
int signer_policy_default(struct signer_policy **outp);

/* Decide; thread-safe.  `now` is the time to judge windows by. */
void signer_policy_decide(struct signer_policy *p, const struct signer_policy_request *req,
    time_t now, struct signer_policy_decision *d);

/* After signing: keep (and persist) or drop a decision's reservation.  Commit
 * returns ERR_POLICY_STATE when the state file cannot be written. */
int signer_policy_commit(struct signer_policy *p, const struct signer_policy_decision *d);
void signer_policy_release(struct signer_policy *p, const struct signer_policy_decision *d);

void signer_policy_free(struct signer_policy *p);

const char *signer_action_name(enum signer_action a);

#endif /* SIGNER_POLICY_H */
