/*
 * api_approve.c - the path every account_* request takes once it is valid:
 * the request's metadata, the policy and the approver, the audit record,
 * signing on the token with the signature checked, and the policy's
 * reservation committed or released (see api_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "eth/hex.h"
#include "eth/sig.h"
#include "rpc/caller.h"
#include "signer/api_int.h"

json_t *
signer_api_address_json(const uint8_t a[ETH_ADDR_LEN])
{
	char s[ETH_ADDR_STR];

	eth_addr_to_checksum(a, s);
	return json_string(s);
}

/* Clef's request metadata, plus the caller identity it cannot forge. */
json_t *
signer_api_meta_json(const struct rpc_caller *c)
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

void
signer_api_audit(struct signer_api *api, const struct rpc_caller *c, const char *method,
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
		json_object_set_new(ev, "key", signer_api_address_json(key));
	if (hash != NULL)
		json_object_set_new(ev, "hash", eth_hex_json(hash, 32));
	(void)signer_audit_append(api->cfg.audit, ev);
	json_decref(ev);
}

/*
 * The audit record of a signature must be on disk before the signature is
 * released: a failed append fails the request.
 */
int
signer_api_audit_signed(struct signer_api *api, const struct rpc_caller *c, const char *method,
    const uint8_t key[ETH_ADDR_LEN], const uint8_t hash[32], const char *rule,
    json_t *summary, const char *result_name, const uint8_t *result, size_t result_len,
    char why[ERR_WHY_MAX])
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
	    "key", signer_api_address_json(key), "hash", eth_hex_json(hash, 32),
	    "approved_by", rule, "summary", summary != NULL ? summary : json_null(),
	    result_name, eth_hex_json(result, result_len));
	if (ev == NULL)
		return err_why(why, ERR_NOMEM, "out of memory");
	audit_claims(ev, c);
	r = signer_audit_append(api->cfg.audit, ev);
	json_decref(ev);
	if (r != 0)
		return err_why(why, r, "cannot write the audit log; nothing was signed: %s",
		    err_str(r));
	return 0;
}
/* What the policy is told of a request. */
void
signer_api_policy_request(const struct approval_req *q, struct signer_policy_request *pr)
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
	log_msg("%s from %s%s%s: %s (%s)", q->method,
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
    char why[ERR_WHY_MAX])
{
	signer_api_audit(api, q->caller, q->method, "withdrawn: the caller is gone", when, q->key,
	    NULL);
	log_refusal(q, "withdrawn: the caller is gone", when);
	return err_why(why, ERR_WITHDRAWN, "request withdrawn: the caller is gone");
}

int
signer_api_approve(struct signer_api *api, const struct approval_req *q,
    struct signer_policy_decision *d, json_t **resultp, char why[ERR_WHY_MAX])
{
	struct signer_policy_request pr;
	struct signer_policy *pol = api->cfg.policy;
	const json_t *ui_request;
	json_t *result = NULL;
	int r;

	*resultp = NULL;
	memset(d, 0, sizeof(*d));
	d->reservation = -1;
	d->action = SIGNER_ASK;
	signer_api_policy_request(q, &pr);
	if (pol != NULL)
		signer_policy_decide(pol, &pr, time(NULL), d);
	else
		snprintf(d->why, sizeof(d->why), "no policy file: ask");
	if (d->action == SIGNER_APPROVE)
		return 0;
	if (d->action == SIGNER_DENY) {
		signer_api_audit(api, q->caller, q->method, "denied by policy", d->why, q->key, NULL);
		log_refusal(q, "denied by policy", d->why);
		return err_why(why, ERR_API_DENIED, DENIED);
	}
	/* ask */
	if (api->cfg.approver.ask == NULL) {
		signer_api_audit(api, q->caller, q->method, "denied: no approver (--ui none)", d->why,
		    q->key, NULL);
		log_refusal(q, "denied: no approver (--ui none)", d->why);
		if (pol != NULL)
			signer_policy_release(pol, d);
		return err_why(why, ERR_API_DENIED, DENIED);
	}
	ui_request = q->ui_request;
	if (ui_request == NULL && q->ui_request_make != NULL &&
	    (ui_request = q->ui_request_make(q->ui_request_ctx)) == NULL) {
		if (pol != NULL)
			signer_policy_release(pol, d);
		return err_why(why, ERR_NOMEM, "out of memory");
	}
	if (api->cfg.approver.ask_watched != NULL)
		r = api->cfg.approver.ask_watched(api->cfg.approver.ctx, q->ui_method,
		    ui_request, api->cfg.approval_timeout_ms, caller_still_there, q->caller,
		    &result);
	else
		r = api->cfg.approver.ask(api->cfg.approver.ctx, q->ui_method, ui_request,
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
			return withdrawn(api, q, "while the approver was asked", why);
		if (r == ERR_TIMEOUT) {
			signer_api_audit(api, q->caller, q->method, "approval timed out", NULL, q->key, NULL);
			return err_why(why, ERR_TIMEOUT, "request denied: no approval within %d s",
			    api->cfg.approval_timeout_ms / 1000);
		}
		if (r == ERR_UI_NO_APPROVER) {
			/* --ui socket with nobody at the vault's window */
			signer_api_audit(api, q->caller, q->method, "no approver connected", NULL, q->key,
			    NULL);
			return err_why(why, r, "request denied: no approver connected");
		}
		signer_api_audit(api, q->caller, q->method, "approver failed", err_str(r), q->key, NULL);
		return err_why(why, ERR_API_DENIED, DENIED);
	}
	snprintf(d->rule, sizeof(d->rule), "approver");
	*resultp = result;
	return 0;
}

int
signer_api_approved(const json_t *result)
{
	return result == NULL || json_is_true(json_object_get(result, "approved"));
}

/*
 * Sign digest with the key at addr through the backend, and verify the
 * signature under the key of addr before anyone sees it.  sig65 gets r || s || v
 * with v = recid + v_offset (27 for Ethereum V, 0 for clique).
 */
int
signer_api_sign_digest(struct signer_api *api, const uint8_t addr[ETH_ADDR_LEN],
    const uint8_t digest[32], int v_offset, uint8_t sig65[65], char why[ERR_WHY_MAX])
{
	char token_why[SIGNER_WHY_MAX] = "";
	uint8_t sig64[64], pub[65];
	int recid = -1, r;

	r = api->cfg.keys.sign(api->cfg.keys.ctx, addr, digest, sig64, pub, token_why);
	if (r == ERR_P11_KEY_NOT_FOUND)
		return err_why(why, r, "unknown account");
	if (r != 0)
		return err_why(why, r, "signing failed: %s",
		    token_why[0] != '\0' ? token_why : err_str(r));
	/*
	 * The one verification every signature gets, against a lying helper or
	 * a token that signed with another key or over another digest: under
	 * the public key of the address the request named.  It computes
	 * ECDSA's point R, whose y gives v, so nobody else recovers.
	 */
	if (eth_sig_verify_addr(digest, sig64, pub, addr, &recid) != 0)
		return err_why(why, ERR_P11_SIG_MISMATCH,
		    "signing failed: the token's signature does not verify");
	memcpy(sig65, sig64, 64);
	sig65[64] = (uint8_t)(recid + v_offset);
	return 0;
}

int
signer_api_commit(struct signer_api *api, const struct signer_policy_decision *d)
{
	if (api->cfg.policy != NULL && signer_policy_commit(api->cfg.policy, d) != 0)
		return -1;
	return 0;
}

void
signer_api_release(struct signer_api *api, const struct signer_policy_decision *d)
{
	if (api->cfg.policy != NULL)
		signer_policy_release(api->cfg.policy, d);
}

void
signer_api_notify(struct signer_api *api, const char *method, json_t *params)
{
	if (params != NULL && api->cfg.approver.notify != NULL)
		api->cfg.approver.notify(api->cfg.approver.ctx, method, params);
	json_decref(params);
}
