/*
 * policy_file.c - the policy file (--rules) read strictly into rules
 * (policy-int.h); deciding is policy.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eth/addr.h"
#include "core/err.h"
#include "eth/hex.h"
#include "core/limits.h"
#include "signer/policy-int.h"

static const char *const known_methods[] = {
	"account_list", "account_new", "account_signTransaction", "account_signData",
	"account_signTypedData", "account_signGnosisSafeTx",
};

static void
str_list_free(struct str_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* A string or an array of strings; absent leaves the list empty (any). */
static int
parse_str_list(const json_t *j, const char *where, struct str_list *out, char why[ERR_WHY_MAX])
{
	size_t i, n;

	if (j == NULL)
		return 0;
	n = json_is_string(j) ? 1 : json_array_size(j);
	if ((!json_is_string(j) && !json_is_array(j)) || n == 0 || n > LIMIT_POLICY_LIST)
		return err_why(why, ERR_POLICY_INVALID, "%s: want a string or a non-empty array of strings", where);
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const json_t *e = json_is_string(j) ? j : json_array_get(j, i);
		if (!json_is_string(e))
			return err_why(why, ERR_POLICY_INVALID, "%s[%zu]: want a string", where, i);
		if ((out->v[i] = strdup(json_string_value(e))) == NULL)
			return ERR_NOMEM;
		out->n++;
	}
	return 0;
}

static int
parse_action(const json_t *j, const char *where, enum signer_action dflt,
    enum signer_action *out, char why[ERR_WHY_MAX])
{
	const char *s;

	if (j == NULL) {
		*out = dflt;
		return 0;
	}
	s = json_string_value(j);
	if (s != NULL && strcmp(s, "approve") == 0)
		*out = SIGNER_APPROVE;
	else if (s != NULL && strcmp(s, "deny") == 0)
		*out = SIGNER_DENY;
	else if (s != NULL && strcmp(s, "ask") == 0)
		*out = SIGNER_ASK;
	else
		return err_why(why, ERR_POLICY_INVALID, "%s: want \"approve\", \"deny\" or \"ask\"", where);
	return 0;
}

/* Wei as a decimal string or a 0x quantity; a JSON integer for small values. */
static int
parse_amount(const json_t *j, const char *where, struct eth_u256 *out, char why[ERR_WHY_MAX])
{
	const char *s = json_string_value(j);

	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		eth_u256_from_u64(out, (uint64_t)json_integer_value(j));
		return 0;
	}
	if (s != NULL && (eth_u256_parse_decimal(s, strlen(s), out) == 0 ||
	    eth_u256_parse_quantity(s, strlen(s), out) == 0))
		return 0;
	return err_why(why, ERR_POLICY_INVALID, "%s: want wei as a decimal string or 0x quantity", where);
}

static int
parse_addresses(const json_t *j, const char *where, uint8_t (**outp)[ETH_ADDR_LEN],
    size_t *np, char why[ERR_WHY_MAX])
{
	size_t i, n = json_array_size(j);

	if (!json_is_array(j) || n == 0 || n > LIMIT_POLICY_LIST)
		return err_why(why, ERR_POLICY_INVALID, "%s: want a non-empty array of addresses", where);
	if ((*outp = calloc(n, ETH_ADDR_LEN)) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(j, i));
		if (s == NULL || eth_addr_parse(s, strlen(s), (*outp)[i], NULL) != 0)
			return err_why(why, ERR_POLICY_INVALID, "%s[%zu]: not an address", where, i);
	}
	*np = n;
	return 0;
}

static int
check_keys(json_t *obj, const char *where, const char *const *allowed, size_t n,
    char why[ERR_WHY_MAX])
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(obj, k, v) {
		for (i = 0; i < n; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (i == n)
			return err_why(why, ERR_POLICY_INVALID, "%s: unknown key \"%s\"", where, k);
	}
	return 0;
}

static int
parse_chain_ids(const json_t *v, const char *where, struct eth_u256 **outp, size_t *np,
    char why[ERR_WHY_MAX])
{
	size_t i, n = json_array_size(v);
	int rc;

	if (!json_is_array(v) || n == 0 || n > LIMIT_POLICY_LIST)
		return err_why(why, ERR_POLICY_INVALID, "%s: want a non-empty array", where);
	if ((*outp = calloc(n, sizeof(**outp))) == NULL)
		return ERR_NOMEM;
	*np = n;
	for (i = 0; i < n; i++)
		if ((rc = parse_amount(json_array_get(v, i), where, &(*outp)[i], why)) != 0)
			return rc;
	return 0;
}

/* "none", "any", or a non-empty array of "0x" and 8 hex digits. */
static int
parse_data(const json_t *v, const char *where, struct policy_rule *r, char why[ERR_WHY_MAX])
{
	const char *s = json_string_value(v);
	size_t i, n = json_array_size(v);

	if (s != NULL && strcmp(s, "none") == 0)
		r->data = DATA_NONE;
	else if (s != NULL && strcmp(s, "any") == 0)
		r->data = DATA_ANY;
	else if (json_is_array(v) && n > 0 && n <= LIMIT_POLICY_LIST) {
		r->data = DATA_SELECTORS;
		if ((r->selectors = calloc(n, sizeof(*r->selectors))) == NULL)
			return ERR_NOMEM;
		r->nselectors = n;
		for (i = 0; i < n; i++) {
			s = json_string_value(json_array_get(v, i));
			if (s == NULL || eth_hex_decode_fixed(s, strlen(s), r->selectors[i], 4) != 0)
				return err_why(why, ERR_POLICY_INVALID, "%s.data[%zu]: want a 4-byte selector \"0x\" and 8 hex digits",
				    where, i);
		}
	} else
		return err_why(why, ERR_POLICY_INVALID, "%s.data: want \"none\", \"any\" or an array of 4-byte selectors", where);
	return 0;
}

static int
parse_tx_types(const json_t *v, const char *where, unsigned *out, char why[ERR_WHY_MAX])
{
	size_t i, n = json_array_size(v);

	if (!json_is_array(v) || n == 0)
		return err_why(why, ERR_POLICY_INVALID, "%s.tx_types: want a non-empty array of 0 to 4", where);
	*out = 0;
	for (i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 4)
			return err_why(why, ERR_POLICY_INVALID, "%s.tx_types[%zu]: want 0 to 4", where, i);
		*out |= 1u << json_integer_value(e);
	}
	return 0;
}

/* {"delegates": [addresses], "chain_ids": [ids; 0 is EIP-7702's any chain]} */
static int
parse_authorizations(json_t *v, const char *where, struct policy_rule *r, char why[ERR_WHY_MAX])
{
	static const char *const auth_keys[] = { "delegates", "chain_ids" };
	const json_t *d, *c;
	int rc;

	if (!json_is_object(v))
		return err_why(why, ERR_POLICY_INVALID, "%s.authorizations: want an object", where);
	if ((rc = check_keys(v, where, auth_keys, 2, why)) != 0)
		return rc;
	d = json_object_get(v, "delegates");
	c = json_object_get(v, "chain_ids");
	if (d == NULL || c == NULL)
		return err_why(why, ERR_POLICY_INVALID, "%s.authorizations: give both delegates and chain_ids", where);
	if ((rc = parse_addresses(d, "authorizations.delegates", &r->delegates, &r->ndelegates,
	    why)) != 0)
		return rc;
	return parse_chain_ids(c, "authorizations.chain_ids", &r->auth_chain_ids, &r->nauth_chain_ids,
	    why);
}

/*
 * The transaction constraints of a rule.  Any of them makes the rule one for
 * transactions only (checked by the caller) with the safe defaults: no call
 * data, no authorizations, gas at least POLICY_MIN_GAS.
 */
static int
parse_tx_constraints(json_t *j, const char *where, struct policy_rule *r, char why[ERR_WHY_MAX])
{
	static const char *const tx_keys[] = { "chain_ids", "to", "allow_contract_creation",
	    "max_value", "max_cost", "max_fee_per_gas", "max_gas", "data", "tx_types",
	    "authorizations" };
	struct eth_u256 gas;
	json_t *v;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(tx_keys) / sizeof(tx_keys[0]); i++)
		if (json_object_get(j, tx_keys[i]) != NULL)
			r->constrains_tx = 1;
	r->tx_types = TX_TYPES_ALL;
	if ((v = json_object_get(j, "chain_ids")) != NULL &&
	    (rc = parse_chain_ids(v, "chain_ids", &r->chain_ids, &r->nchain_ids, why)) != 0)
		return rc;
	if ((v = json_object_get(j, "to")) != NULL) {
		r->has_to = 1;
		if ((rc = parse_addresses(v, "to", &r->to, &r->nto, why)) != 0)
			return rc;
	}
	v = json_object_get(j, "allow_contract_creation");
	if (v != NULL && !json_is_boolean(v))
		return err_why(why, ERR_POLICY_INVALID, "%s.allow_contract_creation: want true or false", where);
	r->allow_creation = v != NULL ? json_is_true(v) : !r->has_to;
	if ((v = json_object_get(j, "max_value")) != NULL) {
		r->has_max_value = 1;
		if ((rc = parse_amount(v, "max_value", &r->max_value, why)) != 0)
			return rc;
	}
	if ((v = json_object_get(j, "max_cost")) != NULL) {
		r->has_max_cost = 1;
		if ((rc = parse_amount(v, "max_cost", &r->max_cost, why)) != 0)
			return rc;
	}
	if ((v = json_object_get(j, "max_fee_per_gas")) != NULL) {
		r->has_max_fee = 1;
		if ((rc = parse_amount(v, "max_fee_per_gas", &r->max_fee_per_gas, why)) != 0)
			return rc;
	}
	if ((v = json_object_get(j, "max_gas")) != NULL) {
		r->has_max_gas = 1;
		if ((rc = parse_amount(v, "max_gas", &gas, why)) != 0)
			return rc;
		if (eth_u256_to_u64(&gas, &r->max_gas) != 0 || r->max_gas < POLICY_MIN_GAS)
			return err_why(why, ERR_POLICY_INVALID, "%s.max_gas: want %d to 2^64-1", where, POLICY_MIN_GAS);
	}
	if ((v = json_object_get(j, "data")) != NULL && (rc = parse_data(v, where, r, why)) != 0)
		return rc;
	if ((v = json_object_get(j, "tx_types")) != NULL &&
	    (rc = parse_tx_types(v, where, &r->tx_types, why)) != 0)
		return rc;
	if ((v = json_object_get(j, "authorizations")) != NULL &&
	    (rc = parse_authorizations(v, where, r, why)) != 0)
		return rc;
	if (r->has_max_value && !r->has_max_cost)
		return err_why(why, ERR_POLICY_INVALID, "%s: max_value without max_cost: the fees could take the "
		    "balance; give max_cost too (docs/policy.md)", where);
	return 0;
}

static int
parse_window(json_t *w, const char *where, struct policy_rule *r, char why[ERR_WHY_MAX])
{
	static const char *const window_keys[] = { "seconds", "max_value", "max_cost", "max_count" };
	json_t *v;
	int rc;

	if (!json_is_object(w))
		return err_why(why, ERR_POLICY_INVALID, "%s.window: want an object", where);
	if ((rc = check_keys(w, where, window_keys, 4, why)) != 0)
		return rc;
	v = json_object_get(w, "seconds");
	if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 366L * 86400)
		return err_why(why, ERR_POLICY_INVALID, "%s.window.seconds: want 1 to 31622400", where);
	r->window_seconds = (long)json_integer_value(v);
	if ((v = json_object_get(w, "max_value")) != NULL) {
		r->has_window_value = 1;
		r->constrains_tx = 1;
		if ((rc = parse_amount(v, "window.max_value", &r->window_max_value, why)) != 0)
			return rc;
	}
	if ((v = json_object_get(w, "max_cost")) != NULL) {
		r->has_window_cost = 1;
		r->constrains_tx = 1;
		if ((rc = parse_amount(v, "window.max_cost", &r->window_max_cost, why)) != 0)
			return rc;
	}
	if ((v = json_object_get(w, "max_count")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > LIMIT_POLICY_WINDOW_EVENTS)
			return err_why(why, ERR_POLICY_INVALID, "%s.window.max_count: want 1 to %d", where,
			    LIMIT_POLICY_WINDOW_EVENTS);
		r->window_max_count = (long)json_integer_value(v);
	}
	if (!r->has_window_value && !r->has_window_cost && r->window_max_count == 0)
		return err_why(why, ERR_POLICY_INVALID, "%s.window: give max_cost, max_count or both", where);
	if (r->has_window_value && !r->has_window_cost)
		return err_why(why, ERR_POLICY_INVALID, "%s.window: max_value without max_cost: the fees could take "
		    "the balance; give max_cost too (docs/policy.md)", where);
	return 0;
}

static int
parse_rule(json_t *j, size_t idx, struct policy_rule *r, char why[ERR_WHY_MAX])
{
	static const char *const rule_keys[] = { "name", "match", "chain_ids", "to",
	    "allow_contract_creation", "max_value", "max_cost", "max_fee_per_gas", "max_gas",
	    "data", "tx_types", "authorizations", "window", "action", "else" };
	static const char *const match_keys[] = { "caller", "profile", "key", "method", "content_type" };
	json_t *m, *v, *w;
	const char *name;
	char where[96];
	size_t i, k;
	int rc;

	snprintf(where, sizeof(where), "rules[%zu]", idx);
	if (!json_is_object(j))
		return err_why(why, ERR_POLICY_INVALID, "%s: want an object", where);
	if ((rc = check_keys(j, where, rule_keys, sizeof(rule_keys) / sizeof(rule_keys[0]),
	    why)) != 0)
		return rc;
	name = json_string_value(json_object_get(j, "name"));
	if (name == NULL || *name == '\0' || strlen(name) >= sizeof(r->name) ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(name))
		return err_why(why, ERR_POLICY_INVALID, "%s.name: want 1-63 letters, digits, '_', '.', '-'", where);
	snprintf(r->name, sizeof(r->name), "%s", name);	/* length checked above */
	snprintf(where, sizeof(where), "rule \"%s\"", name);
	m = json_object_get(j, "match");
	if (m != NULL && !json_is_object(m))
		return err_why(why, ERR_POLICY_INVALID, "%s.match: want an object", where);
	if (m != NULL && (rc = check_keys(m, where, match_keys, 5, why)) != 0)
		return rc;
	if ((rc = parse_str_list(json_object_get(m, "caller"), "match.caller", &r->callers, why)) != 0 ||
	    (rc = parse_str_list(json_object_get(m, "profile"), "match.profile", &r->profiles, why)) != 0 ||
	    (rc = parse_str_list(json_object_get(m, "method"), "match.method", &r->methods, why)) != 0 ||
	    (rc = parse_str_list(json_object_get(m, "content_type"), "match.content_type", &r->content_types, why)) != 0)
		return rc;
	for (i = 0; i < r->methods.n; i++) {
		for (k = 0; k < sizeof(known_methods) / sizeof(known_methods[0]); k++)
			if (strcmp(r->methods.v[i], known_methods[k]) == 0)
				break;
		if (k == sizeof(known_methods) / sizeof(known_methods[0]))
			return err_why(why, ERR_POLICY_INVALID, "%s.match.method: unknown method \"%s\"", where, r->methods.v[i]);
	}
	r->any_key = (v = json_object_get(m, "key")) == NULL;
	if (!r->any_key && (rc = parse_addresses(v, "match.key", &r->keys, &r->nkeys, why)) != 0)
		return rc;
	if ((rc = parse_tx_constraints(j, where, r, why)) != 0)
		return rc;
	if ((w = json_object_get(j, "window")) != NULL && (rc = parse_window(w, where, r, why)) != 0)
		return rc;
	/*
	 * Constraints on transactions say nothing about typed data, text or a
	 * Safe transaction: a rule that states them and also matched those
	 * would approve them unconstrained (an unlimited ERC-20 Permit).
	 */
	if (r->constrains_tx && (r->methods.n != 1 ||
	    strcmp(r->methods.v[0], "account_signTransaction") != 0))
		return err_why(why, ERR_POLICY_INVALID, "%s: transaction constraints need match.method to be exactly "
		    "\"account_signTransaction\"", where);
	if ((rc = parse_action(json_object_get(j, "action"), "action", SIGNER_ASK, &r->action, why)) != 0 ||
	    (rc = parse_action(json_object_get(j, "else"), "else", SIGNER_ASK, &r->otherwise, why)) != 0)
		return rc;
	if (json_object_get(j, "action") == NULL)
		return err_why(why, ERR_POLICY_INVALID, "%s.action: required", where);
	return 0;
}

static void
rule_free(struct policy_rule *r)
{
	str_list_free(&r->callers);
	str_list_free(&r->profiles);
	str_list_free(&r->methods);
	str_list_free(&r->content_types);
	free(r->keys);
	free(r->chain_ids);
	free(r->to);
	free(r->selectors);
	free(r->delegates);
	free(r->auth_chain_ids);
	free(r->events);
}

void
signer_policy_free(struct signer_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p->state_path);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct signer_policy *
policy_new(void)
{
	struct signer_policy *p = calloc(1, sizeof(*p));

	if (p != NULL) {
		pthread_mutex_init(&p->lock, NULL);
		p->fallback = SIGNER_ASK;
	}
	return p;
}

int
signer_policy_default(struct signer_policy **outp)
{
	*outp = policy_new();
	return *outp != NULL ? 0 : ERR_NOMEM;
}

int
signer_policy_load(const char *path, const char *state_path,
    struct signer_policy **outp, char *why, size_t whylen)
{
	static const char *const top_keys[] = { "version", "default", "state", "rules" };
	struct signer_policy *p = NULL;
	json_error_t jerr;
	json_t *j = NULL, *rules;
	const char *sp;
	const char *about = NULL;	/* the file the detail is about, when it names one */
	char detail[ERR_WHY_MAX] = "";
	size_t i, k;
	int r;

	*outp = NULL;
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		about = path;
		r = err_why(detail, ERR_POLICY_INVALID, "line %d: %s", jerr.line, jerr.text);
		goto out;
	}
	if ((p = policy_new()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1) {
		about = path;
		r = err_why(detail, ERR_POLICY_INVALID, "want an object with \"version\": 1");
		goto out;
	}
	if ((r = check_keys(j, "policy", top_keys, 4, detail)) != 0 ||
	    (r = parse_action(json_object_get(j, "default"), "default", SIGNER_ASK, &p->fallback, detail)) != 0)
		goto out;
	sp = state_path != NULL ? state_path : json_string_value(json_object_get(j, "state"));
	if (sp != NULL && (p->state_path = strdup(sp)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	rules = json_object_get(j, "rules");
	if (rules != NULL && (!json_is_array(rules) || json_array_size(rules) > LIMIT_POLICY_RULES)) {
		r = err_why(detail, ERR_POLICY_INVALID, "rules: want an array of at most %d rules", LIMIT_POLICY_RULES);
		goto out;
	}
	if (json_array_size(rules) > 0 &&
	    (p->rules = calloc(json_array_size(rules), sizeof(*p->rules))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < json_array_size(rules); i++) {
		p->nrules++;
		if ((r = parse_rule(json_array_get(rules, i), i, &p->rules[i], detail)) != 0)
			goto out;
		for (k = 0; k < i; k++)
			if (strcmp(p->rules[k].name, p->rules[i].name) == 0) {
				r = err_why(detail, ERR_POLICY_INVALID, "rule \"%s\" is named twice", p->rules[i].name);
				goto out;
			}
		if (p->rules[i].window_seconds > 0 && p->state_path == NULL) {
			r = err_why(detail, ERR_POLICY_INVALID, "rule \"%s\" has a window: the policy needs a \"state\" file "
			    "so a restart does not reset it", p->rules[i].name);
			goto out;
		}
	}
	if ((r = signer_policy_state_load(p)) != 0) {
		about = p->state_path;
		(void)err_why(detail, r, "unreadable policy state");
		goto out;
	}
	*outp = p;
	p = NULL;
	r = 0;
 out:
	/* the path can be longer than a detail: it is put before it here */
	if (r != 0 && detail[0] != '\0' && why != NULL && whylen > 0)
		snprintf(why, whylen, "%s%s%s", about != NULL ? about : "",
		    about != NULL ? ": " : "", detail);
	json_decref(j);
	signer_policy_free(p);
	return r;
}

