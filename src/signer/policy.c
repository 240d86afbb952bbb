#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eth/addr.h"
#include "eth/err.h"
#include "eth/hex.h"
#include "eth/limits.h"
#include "eth/tx.h"
#include "signer/policy.h"

struct str_list {
	char **v;
	size_t n;		/* 0 with v == NULL: the key was absent (any) */
};

struct window_event {
	time_t t;
	struct eth_u256 value;
	struct eth_u256 cost;	/* eth_tx_max_cost(), saturated on overflow */
	long reservation;	/* -1 once committed */
};

/*
 * The least gas any transaction uses (the yellow paper's G_transaction).  A
 * transaction with less can never be included; a rule that constrains
 * transactions does not approve one, so that gas x fee is a true bound.
 */
#define POLICY_MIN_GAS 21000

enum data_rule {
	DATA_NONE = 0,		/* no call data (the default of a constrained rule) */
	DATA_ANY,
	DATA_SELECTORS,		/* at least 4 bytes, starting with a listed selector */
};

#define TX_TYPES_ALL 0x1fu	/* bit n: type n, 0 to 4 */

struct policy_rule {
	char name[64];
	struct str_list callers, profiles, methods, content_types;
	uint8_t (*keys)[ETH_ADDR_LEN];
	size_t nkeys;
	int any_key;
	struct eth_u256 *chain_ids;
	size_t nchain_ids;
	uint8_t (*to)[ETH_ADDR_LEN];
	size_t nto;
	int has_to, allow_creation;
	int has_max_value;
	struct eth_u256 max_value;
	int has_max_cost;
	struct eth_u256 max_cost;
	int has_max_fee;
	struct eth_u256 max_fee_per_gas;
	int has_max_gas;
	uint64_t max_gas;
	enum data_rule data;
	uint8_t (*selectors)[4];
	size_t nselectors;
	unsigned tx_types;		/* TX_TYPES_ALL unless stated */
	uint8_t (*delegates)[ETH_ADDR_LEN];	/* NULL: type 4 refused */
	size_t ndelegates;
	struct eth_u256 *auth_chain_ids;
	size_t nauth_chain_ids;
	int constrains_tx;		/* states any transaction constraint */
	long window_seconds;		/* 0: no window */
	int has_window_value;
	struct eth_u256 window_max_value;
	int has_window_cost;
	struct eth_u256 window_max_cost;
	long window_max_count;		/* 0: no count limit */
	enum signer_action action, otherwise;
	struct window_event *events;
	size_t nevents;
};

struct signer_policy {
	struct policy_rule *rules;
	size_t nrules;
	enum signer_action fallback;
	char *state_path;
	long next_reservation;
	pthread_mutex_t lock;
};

static const char *const known_methods[] = {
	"account_list", "account_new", "account_signTransaction", "account_signData",
	"account_signTypedData", "account_signGnosisSafeTx",
};

const char *
signer_action_name(enum signer_action a)
{
	return a == SIGNER_APPROVE ? "approve" : a == SIGNER_DENY ? "deny" : "ask";
}

static int
fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return ERR_POLICY_INVALID;
}

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
parse_str_list(const json_t *j, const char *where, struct str_list *out, char *why, size_t whylen)
{
	size_t i, n;

	if (j == NULL)
		return 0;
	n = json_is_string(j) ? 1 : json_array_size(j);
	if ((!json_is_string(j) && !json_is_array(j)) || n == 0 || n > LIMIT_POLICY_LIST)
		return fail(why, whylen, "%s: want a string or a non-empty array of strings", where);
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const json_t *e = json_is_string(j) ? j : json_array_get(j, i);
		if (!json_is_string(e))
			return fail(why, whylen, "%s[%zu]: want a string", where, i);
		if ((out->v[i] = strdup(json_string_value(e))) == NULL)
			return ERR_NOMEM;
		out->n++;
	}
	return 0;
}

static int
str_list_has(const struct str_list *l, const char *s)
{
	size_t i;

	if (l->v == NULL)
		return 1;	/* absent: any */
	if (s == NULL)
		return 0;
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

static int
parse_action(const json_t *j, const char *where, enum signer_action dflt,
    enum signer_action *out, char *why, size_t whylen)
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
		return fail(why, whylen, "%s: want \"approve\", \"deny\" or \"ask\"", where);
	return 0;
}

/* Wei as a decimal string or a 0x quantity; a JSON integer for small values. */
static int
parse_amount(const json_t *j, const char *where, struct eth_u256 *out, char *why, size_t whylen)
{
	const char *s = json_string_value(j);

	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		eth_u256_from_u64(out, (uint64_t)json_integer_value(j));
		return 0;
	}
	if (s != NULL && (eth_u256_parse_decimal(s, strlen(s), out) == 0 ||
	    eth_u256_parse_quantity(s, strlen(s), out) == 0))
		return 0;
	return fail(why, whylen, "%s: want wei as a decimal string or 0x quantity", where);
}

static int
parse_addresses(const json_t *j, const char *where, uint8_t (**outp)[ETH_ADDR_LEN],
    size_t *np, char *why, size_t whylen)
{
	size_t i, n = json_array_size(j);

	if (!json_is_array(j) || n == 0 || n > LIMIT_POLICY_LIST)
		return fail(why, whylen, "%s: want a non-empty array of addresses", where);
	if ((*outp = calloc(n, ETH_ADDR_LEN)) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(j, i));
		if (s == NULL || eth_addr_parse(s, strlen(s), (*outp)[i], NULL) != 0)
			return fail(why, whylen, "%s[%zu]: not an address", where, i);
	}
	*np = n;
	return 0;
}

static int
check_keys(json_t *obj, const char *where, const char *const *allowed, size_t n,
    char *why, size_t whylen)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(obj, k, v) {
		for (i = 0; i < n; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (i == n)
			return fail(why, whylen, "%s: unknown key \"%s\"", where, k);
	}
	return 0;
}

static int
parse_chain_ids(const json_t *v, const char *where, struct eth_u256 **outp, size_t *np,
    char *why, size_t whylen)
{
	size_t i, n = json_array_size(v);
	int rc;

	if (!json_is_array(v) || n == 0 || n > LIMIT_POLICY_LIST)
		return fail(why, whylen, "%s: want a non-empty array", where);
	if ((*outp = calloc(n, sizeof(**outp))) == NULL)
		return ERR_NOMEM;
	*np = n;
	for (i = 0; i < n; i++)
		if ((rc = parse_amount(json_array_get(v, i), where, &(*outp)[i], why, whylen)) != 0)
			return rc;
	return 0;
}

/* "none", "any", or a non-empty array of "0x" and 8 hex digits. */
static int
parse_data(const json_t *v, const char *where, struct policy_rule *r, char *why, size_t whylen)
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
				return fail(why, whylen, "%s.data[%zu]: want a 4-byte selector \"0x\" and 8 hex digits",
				    where, i);
		}
	} else
		return fail(why, whylen, "%s.data: want \"none\", \"any\" or an array of 4-byte selectors", where);
	return 0;
}

static int
parse_tx_types(const json_t *v, const char *where, unsigned *out, char *why, size_t whylen)
{
	size_t i, n = json_array_size(v);

	if (!json_is_array(v) || n == 0)
		return fail(why, whylen, "%s.tx_types: want a non-empty array of 0 to 4", where);
	*out = 0;
	for (i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 4)
			return fail(why, whylen, "%s.tx_types[%zu]: want 0 to 4", where, i);
		*out |= 1u << json_integer_value(e);
	}
	return 0;
}

/* {"delegates": [addresses], "chain_ids": [ids; 0 is EIP-7702's any chain]} */
static int
parse_authorizations(json_t *v, const char *where, struct policy_rule *r, char *why, size_t whylen)
{
	static const char *const auth_keys[] = { "delegates", "chain_ids" };
	const json_t *d, *c;
	int rc;

	if (!json_is_object(v))
		return fail(why, whylen, "%s.authorizations: want an object", where);
	if ((rc = check_keys(v, where, auth_keys, 2, why, whylen)) != 0)
		return rc;
	d = json_object_get(v, "delegates");
	c = json_object_get(v, "chain_ids");
	if (d == NULL || c == NULL)
		return fail(why, whylen, "%s.authorizations: give both delegates and chain_ids", where);
	if ((rc = parse_addresses(d, "authorizations.delegates", &r->delegates, &r->ndelegates,
	    why, whylen)) != 0)
		return rc;
	return parse_chain_ids(c, "authorizations.chain_ids", &r->auth_chain_ids, &r->nauth_chain_ids,
	    why, whylen);
}

/*
 * The transaction constraints of a rule.  Any of them makes the rule one for
 * transactions only (checked by the caller) with the safe defaults: no call
 * data, no authorizations, gas at least POLICY_MIN_GAS.
 */
static int
parse_tx_constraints(json_t *j, const char *where, struct policy_rule *r, char *why, size_t whylen)
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
	    (rc = parse_chain_ids(v, "chain_ids", &r->chain_ids, &r->nchain_ids, why, whylen)) != 0)
		return rc;
	if ((v = json_object_get(j, "to")) != NULL) {
		r->has_to = 1;
		if ((rc = parse_addresses(v, "to", &r->to, &r->nto, why, whylen)) != 0)
			return rc;
	}
	v = json_object_get(j, "allow_contract_creation");
	if (v != NULL && !json_is_boolean(v))
		return fail(why, whylen, "%s.allow_contract_creation: want true or false", where);
	r->allow_creation = v != NULL ? json_is_true(v) : !r->has_to;
	if ((v = json_object_get(j, "max_value")) != NULL) {
		r->has_max_value = 1;
		if ((rc = parse_amount(v, "max_value", &r->max_value, why, whylen)) != 0)
			return rc;
	}
	if ((v = json_object_get(j, "max_cost")) != NULL) {
		r->has_max_cost = 1;
		if ((rc = parse_amount(v, "max_cost", &r->max_cost, why, whylen)) != 0)
			return rc;
	}
	if ((v = json_object_get(j, "max_fee_per_gas")) != NULL) {
		r->has_max_fee = 1;
		if ((rc = parse_amount(v, "max_fee_per_gas", &r->max_fee_per_gas, why, whylen)) != 0)
			return rc;
	}
	if ((v = json_object_get(j, "max_gas")) != NULL) {
		r->has_max_gas = 1;
		if ((rc = parse_amount(v, "max_gas", &gas, why, whylen)) != 0)
			return rc;
		if (eth_u256_to_u64(&gas, &r->max_gas) != 0 || r->max_gas < POLICY_MIN_GAS)
			return fail(why, whylen, "%s.max_gas: want %d to 2^64-1", where, POLICY_MIN_GAS);
	}
	if ((v = json_object_get(j, "data")) != NULL && (rc = parse_data(v, where, r, why, whylen)) != 0)
		return rc;
	if ((v = json_object_get(j, "tx_types")) != NULL &&
	    (rc = parse_tx_types(v, where, &r->tx_types, why, whylen)) != 0)
		return rc;
	if ((v = json_object_get(j, "authorizations")) != NULL &&
	    (rc = parse_authorizations(v, where, r, why, whylen)) != 0)
		return rc;
	if (r->has_max_value && !r->has_max_cost)
		return fail(why, whylen, "%s: max_value without max_cost: the fees could take the "
		    "balance; give max_cost too (docs/policy.md)", where);
	return 0;
}

static int
parse_window(json_t *w, const char *where, struct policy_rule *r, char *why, size_t whylen)
{
	static const char *const window_keys[] = { "seconds", "max_value", "max_cost", "max_count" };
	json_t *v;
	int rc;

	if (!json_is_object(w))
		return fail(why, whylen, "%s.window: want an object", where);
	if ((rc = check_keys(w, where, window_keys, 4, why, whylen)) != 0)
		return rc;
	v = json_object_get(w, "seconds");
	if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 366L * 86400)
		return fail(why, whylen, "%s.window.seconds: want 1 to 31622400", where);
	r->window_seconds = (long)json_integer_value(v);
	if ((v = json_object_get(w, "max_value")) != NULL) {
		r->has_window_value = 1;
		r->constrains_tx = 1;
		if ((rc = parse_amount(v, "window.max_value", &r->window_max_value, why, whylen)) != 0)
			return rc;
	}
	if ((v = json_object_get(w, "max_cost")) != NULL) {
		r->has_window_cost = 1;
		r->constrains_tx = 1;
		if ((rc = parse_amount(v, "window.max_cost", &r->window_max_cost, why, whylen)) != 0)
			return rc;
	}
	if ((v = json_object_get(w, "max_count")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > LIMIT_POLICY_WINDOW_EVENTS)
			return fail(why, whylen, "%s.window.max_count: want 1 to %d", where,
			    LIMIT_POLICY_WINDOW_EVENTS);
		r->window_max_count = (long)json_integer_value(v);
	}
	if (!r->has_window_value && !r->has_window_cost && r->window_max_count == 0)
		return fail(why, whylen, "%s.window: give max_cost, max_count or both", where);
	if (r->has_window_value && !r->has_window_cost)
		return fail(why, whylen, "%s.window: max_value without max_cost: the fees could take "
		    "the balance; give max_cost too (docs/policy.md)", where);
	return 0;
}

static int
parse_rule(json_t *j, size_t idx, struct policy_rule *r, char *why, size_t whylen)
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
		return fail(why, whylen, "%s: want an object", where);
	if ((rc = check_keys(j, where, rule_keys, sizeof(rule_keys) / sizeof(rule_keys[0]),
	    why, whylen)) != 0)
		return rc;
	name = json_string_value(json_object_get(j, "name"));
	if (name == NULL || *name == '\0' || strlen(name) >= sizeof(r->name) ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(name))
		return fail(why, whylen, "%s.name: want 1-63 letters, digits, '_', '.', '-'", where);
	snprintf(r->name, sizeof(r->name), "%s", name);	/* length checked above */
	snprintf(where, sizeof(where), "rule \"%s\"", name);
	m = json_object_get(j, "match");
	if (m != NULL && !json_is_object(m))
		return fail(why, whylen, "%s.match: want an object", where);
	if (m != NULL && (rc = check_keys(m, where, match_keys, 5, why, whylen)) != 0)
		return rc;
	if ((rc = parse_str_list(json_object_get(m, "caller"), "match.caller", &r->callers, why, whylen)) != 0 ||
	    (rc = parse_str_list(json_object_get(m, "profile"), "match.profile", &r->profiles, why, whylen)) != 0 ||
	    (rc = parse_str_list(json_object_get(m, "method"), "match.method", &r->methods, why, whylen)) != 0 ||
	    (rc = parse_str_list(json_object_get(m, "content_type"), "match.content_type", &r->content_types, why, whylen)) != 0)
		return rc;
	for (i = 0; i < r->methods.n; i++) {
		for (k = 0; k < sizeof(known_methods) / sizeof(known_methods[0]); k++)
			if (strcmp(r->methods.v[i], known_methods[k]) == 0)
				break;
		if (k == sizeof(known_methods) / sizeof(known_methods[0]))
			return fail(why, whylen, "%s.match.method: unknown method \"%s\"", where, r->methods.v[i]);
	}
	r->any_key = (v = json_object_get(m, "key")) == NULL;
	if (!r->any_key && (rc = parse_addresses(v, "match.key", &r->keys, &r->nkeys, why, whylen)) != 0)
		return rc;
	if ((rc = parse_tx_constraints(j, where, r, why, whylen)) != 0)
		return rc;
	if ((w = json_object_get(j, "window")) != NULL && (rc = parse_window(w, where, r, why, whylen)) != 0)
		return rc;
	/*
	 * Constraints on transactions say nothing about typed data, text or a
	 * Safe transaction: a rule that states them and also matched those
	 * would approve them unconstrained (an unlimited ERC-20 Permit).
	 */
	if (r->constrains_tx && (r->methods.n != 1 ||
	    strcmp(r->methods.v[0], "account_signTransaction") != 0))
		return fail(why, whylen, "%s: transaction constraints need match.method to be exactly "
		    "\"account_signTransaction\"", where);
	if ((rc = parse_action(json_object_get(j, "action"), "action", SIGNER_ASK, &r->action, why, whylen)) != 0 ||
	    (rc = parse_action(json_object_get(j, "else"), "else", SIGNER_ASK, &r->otherwise, why, whylen)) != 0)
		return rc;
	if (json_object_get(j, "action") == NULL)
		return fail(why, whylen, "%s.action: required", where);
	return 0;
}

/*
 * State file: {"version":2,"windows":{"rule":[[time,"value","cost"],...]}},
 * amounts in decimal wei.  Version 1 recorded [time,"value"] alone; what those
 * signings cost is not known, so each counts as the most there is and fills
 * the window's max_cost until it ages out, rather than being taken as free.
 */
static int
state_load(struct signer_policy *p)
{
	json_t *st, *wins, *evs;
	const char *name;
	size_t i, k;

	if (p->state_path == NULL)
		return 0;
	if ((st = json_load_file(p->state_path, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return access(p->state_path, F_OK) == 0 ? ERR_POLICY_STATE : 0;
	wins = json_object_get(st, "windows");
	json_object_foreach(wins, name, evs) {
		for (i = 0; i < p->nrules; i++) {
			struct policy_rule *r = &p->rules[i];
			size_t n = json_array_size(evs);
			if (strcmp(r->name, name) != 0 || r->window_seconds == 0)
				continue;
			if (n > LIMIT_POLICY_WINDOW_EVENTS || (r->events = calloc(n + 1, sizeof(*r->events))) == NULL) {
				json_decref(st);
				return ERR_POLICY_STATE;
			}
			for (k = 0; k < n; k++) {
				json_t *e = json_array_get(evs, k);
				const char *wei = json_string_value(json_array_get(e, 1));
				const char *cost = json_string_value(json_array_get(e, 2));
				if (!json_is_integer(json_array_get(e, 0)) || wei == NULL ||
				    eth_u256_parse_decimal(wei, strlen(wei), &r->events[k].value) != 0 ||
				    (json_array_size(e) != 2 && json_array_size(e) != 3) ||
				    (json_array_size(e) == 3 && (cost == NULL ||
				    eth_u256_parse_decimal(cost, strlen(cost), &r->events[k].cost) != 0))) {
					json_decref(st);
					return ERR_POLICY_STATE;
				}
				if (json_array_size(e) == 2)
					memset(&r->events[k].cost, 0xff, sizeof(r->events[k].cost));
				r->events[k].t = (time_t)json_integer_value(json_array_get(e, 0));
				r->events[k].reservation = -1;
			}
			r->nevents = n;
		}
	}
	json_decref(st);
	return 0;
}

static int
state_save(const struct signer_policy *p)
{
	json_t *st = json_pack("{s:i, s:{}}", "version", 2, "windows");
	json_t *wins = json_object_get(st, "windows");
	char tmp[4096], dec[ETH_U256_DECIMAL_MAX], cost[ETH_U256_DECIMAL_MAX], *text = NULL;
	size_t i, k;
	int fd = -1, r = ERR_POLICY_STATE;

	if (p->state_path == NULL) {
		json_decref(st);
		return 0;
	}
	for (i = 0; i < p->nrules; i++) {
		const struct policy_rule *ru = &p->rules[i];
		json_t *evs;
		if (ru->window_seconds == 0)
			continue;
		evs = json_array();
		for (k = 0; k < ru->nevents; k++) {
			if (ru->events[k].reservation != -1)
				continue;
			eth_u256_to_decimal(&ru->events[k].value, dec);
			eth_u256_to_decimal(&ru->events[k].cost, cost);
			json_array_append_new(evs, json_pack("[I, s, s]", (json_int_t)ru->events[k].t,
			    dec, cost));
		}
		json_object_set_new(wins, ru->name, evs);
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", p->state_path) >= (int)sizeof(tmp) ||
	    (text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	/* Write, sync, rename: a crash leaves the old state or the new, never half. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0)
		goto out;
	close(fd);
	fd = -1;
	if (rename(tmp, p->state_path) != 0)
		goto out;
	r = 0;
 out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(st);
	return r;
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
	size_t i, k;
	int r;

	*outp = NULL;
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = fail(why, whylen, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto out;
	}
	if ((p = policy_new()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1) {
		r = fail(why, whylen, "%s: want an object with \"version\": 1", path);
		goto out;
	}
	if ((r = check_keys(j, "policy", top_keys, 4, why, whylen)) != 0 ||
	    (r = parse_action(json_object_get(j, "default"), "default", SIGNER_ASK, &p->fallback, why, whylen)) != 0)
		goto out;
	sp = state_path != NULL ? state_path : json_string_value(json_object_get(j, "state"));
	if (sp != NULL && (p->state_path = strdup(sp)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	rules = json_object_get(j, "rules");
	if (rules != NULL && (!json_is_array(rules) || json_array_size(rules) > LIMIT_POLICY_RULES)) {
		r = fail(why, whylen, "rules: want an array of at most %d rules", LIMIT_POLICY_RULES);
		goto out;
	}
	if (json_array_size(rules) > 0 &&
	    (p->rules = calloc(json_array_size(rules), sizeof(*p->rules))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < json_array_size(rules); i++) {
		p->nrules++;
		if ((r = parse_rule(json_array_get(rules, i), i, &p->rules[i], why, whylen)) != 0)
			goto out;
		for (k = 0; k < i; k++)
			if (strcmp(p->rules[k].name, p->rules[i].name) == 0) {
				r = fail(why, whylen, "rule \"%s\" is named twice", p->rules[i].name);
				goto out;
			}
		if (p->rules[i].window_seconds > 0 && p->state_path == NULL) {
			r = fail(why, whylen, "rule \"%s\" has a window: the policy needs a \"state\" file "
			    "so a restart does not reset it", p->rules[i].name);
			goto out;
		}
	}
	if ((r = state_load(p)) != 0) {
		fail(why, whylen, "%s: unreadable policy state", p->state_path);
		goto out;
	}
	*outp = p;
	p = NULL;
	r = 0;
 out:
	json_decref(j);
	signer_policy_free(p);
	return r;
}

static int
rule_matches(const struct policy_rule *r, const struct signer_policy_request *q)
{
	size_t i;

	if (!str_list_has(&r->callers, q->caller) || !str_list_has(&r->profiles, q->profile) ||
	    !str_list_has(&r->methods, q->method) ||
	    (r->content_types.v != NULL && !str_list_has(&r->content_types, q->content_type)))
		return 0;
	if (r->any_key)
		return 1;
	for (i = 0; q->key != NULL && i < r->nkeys; i++)
		if (memcmp(r->keys[i], q->key, ETH_ADDR_LEN) == 0)
			return 1;
	return 0;
}

static int
u256_in(const struct eth_u256 *list, size_t n, const struct eth_u256 *v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (eth_u256_cmp(&list[i], v) == 0)
			return 1;
	return 0;
}

static int
addr_in(const uint8_t (*list)[ETH_ADDR_LEN], size_t n, const uint8_t *a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(list[i], a, ETH_ADDR_LEN) == 0)
			return 1;
	return 0;
}

/* Do the call data and authorizations fit the rule?  If not, why says which. */
static int
payload_allowed(const struct policy_rule *r, const struct eth_tx *tx, char *why, size_t whylen)
{
	char dec[ETH_U256_DECIMAL_MAX];
	size_t i;

	if (tx->data_len > 0 && r->data == DATA_NONE) {
		snprintf(why, whylen, "the transaction carries call data, which the rule does not allow");
		return 0;
	}
	if (tx->data_len > 0 && r->data == DATA_SELECTORS) {
		for (i = 0; tx->data_len >= 4 && i < r->nselectors; i++)
			if (memcmp(r->selectors[i], tx->data, 4) == 0)
				break;
		if (tx->data_len < 4 || i == r->nselectors) {
			snprintf(why, whylen, "the call data's selector is not on the rule's list");
			return 0;
		}
	}
	if (tx->auths_len > 0 && r->delegates == NULL) {
		snprintf(why, whylen, "the transaction carries EIP-7702 authorizations, which the rule "
		    "does not allow");
		return 0;
	}
	for (i = 0; i < tx->auths_len; i++) {
		if (!addr_in((const uint8_t (*)[ETH_ADDR_LEN])r->delegates, r->ndelegates,
		    tx->auths[i].address)) {
			snprintf(why, whylen, "authorization %zu delegates to an address not on the "
			    "rule's list", i);
			return 0;
		}
		if (!u256_in(r->auth_chain_ids, r->nauth_chain_ids, &tx->auths[i].chain_id)) {
			eth_u256_to_decimal(&tx->auths[i].chain_id, dec);
			snprintf(why, whylen, "authorization %zu is for chain id %s, not allowed", i, dec);
			return 0;
		}
	}
	return 1;
}

/*
 * The per-transaction constraints of a rule that states any (a rule that
 * states none approves every transaction it matches).  *cost gets what the
 * transaction can cost at most, saturated when it does not fit.
 */
static int
tx_constraints_hold(const struct policy_rule *r, const struct eth_tx *tx,
    const struct eth_u256 *cost, int cost_overflows, char *why, size_t whylen)
{
	const struct eth_u256 *fee;
	char dec[ETH_U256_DECIMAL_MAX];

	if (!r->constrains_tx)
		return 1;
	if ((r->tx_types & (1u << tx->type)) == 0) {
		snprintf(why, whylen, "transaction type %d is not allowed", (int)tx->type);
		return 0;
	}
	if (r->nchain_ids > 0 && !u256_in(r->chain_ids, r->nchain_ids, &tx->chain_id)) {
		eth_u256_to_decimal(&tx->chain_id, dec);
		snprintf(why, whylen, "chain id %s is not allowed", dec);
		return 0;
	}
	if (!tx->has_to && !r->allow_creation) {
		snprintf(why, whylen, "contract creation is not allowed");
		return 0;
	}
	if (tx->has_to && r->has_to &&
	    !addr_in((const uint8_t (*)[ETH_ADDR_LEN])r->to, r->nto, tx->to)) {
		snprintf(why, whylen, "the recipient is not on the allowlist");
		return 0;
	}
	if (!payload_allowed(r, tx, why, whylen))
		return 0;
	if (tx->gas < POLICY_MIN_GAS) {
		snprintf(why, whylen, "gas %llu is below %d, the least a transaction uses",
		    (unsigned long long)tx->gas, POLICY_MIN_GAS);
		return 0;
	}
	if (r->has_max_gas && tx->gas > r->max_gas) {
		snprintf(why, whylen, "gas is over the rule's %llu", (unsigned long long)r->max_gas);
		return 0;
	}
	fee = tx->type == ETH_TX_LEGACY || tx->type == ETH_TX_ACCESS_LIST ?
	    &tx->gas_price : &tx->max_fee_per_gas;
	if (r->has_max_fee && eth_u256_cmp(fee, &r->max_fee_per_gas) > 0) {
		eth_u256_to_decimal(&r->max_fee_per_gas, dec);
		snprintf(why, whylen, "the fee per gas is over the rule's %s wei", dec);
		return 0;
	}
	if (r->has_max_value && eth_u256_cmp(&tx->value, &r->max_value) > 0) {
		eth_u256_to_decimal(&r->max_value, dec);
		snprintf(why, whylen, "value is over the %s wei per transaction", dec);
		return 0;
	}
	if (r->has_max_cost && (cost_overflows || eth_u256_cmp(cost, &r->max_cost) > 0)) {
		eth_u256_to_decimal(&r->max_cost, dec);
		snprintf(why, whylen, "its cost (value + gas x fee + blob gas) is over the %s wei "
		    "per transaction", dec);
		return 0;
	}
	return 1;
}

static void
add_saturating(struct eth_u256 *sum, const struct eth_u256 *v)
{
	struct eth_u256 tmp;

	if (eth_u256_add(&tmp, sum, v))
		memset(&tmp, 0xff, sizeof(tmp));
	*sum = tmp;
}

/* Does this request fit the rule's window?  Forgets what left the window. */
static int
window_holds(struct policy_rule *r, const struct eth_u256 *value, const struct eth_u256 *cost,
    time_t now, char *why, size_t whylen)
{
	struct eth_u256 value_sum = *value, cost_sum = *cost;
	char dec[ETH_U256_DECIMAL_MAX];
	size_t i, k;

	if (r->window_seconds == 0)
		return 1;
	/* Keep reservations, which are in flight. */
	for (i = k = 0; i < r->nevents; i++)
		if (r->events[i].reservation != -1 || r->events[i].t > now - r->window_seconds)
			r->events[k++] = r->events[i];
	r->nevents = k;
	for (i = 0; i < r->nevents; i++) {
		add_saturating(&value_sum, &r->events[i].value);
		add_saturating(&cost_sum, &r->events[i].cost);
	}
	if (r->window_max_count > 0 && (long)r->nevents + 1 > r->window_max_count) {
		snprintf(why, whylen, "more than %ld requests in %ld s", r->window_max_count, r->window_seconds);
		return 0;
	}
	if (r->has_window_value && eth_u256_cmp(&value_sum, &r->window_max_value) > 0) {
		eth_u256_to_decimal(&r->window_max_value, dec);
		snprintf(why, whylen, "more than %s wei of value in %ld s", dec, r->window_seconds);
		return 0;
	}
	if (r->has_window_cost && eth_u256_cmp(&cost_sum, &r->window_max_cost) > 0) {
		eth_u256_to_decimal(&r->window_max_cost, dec);
		snprintf(why, whylen, "more than %s wei of cost in %ld s", dec, r->window_seconds);
		return 0;
	}
	return 1;
}

/* Do the rule's constraints hold?  If not, why says which failed. */
static int
constraints_hold(struct policy_rule *r, const struct signer_policy_request *q, time_t now,
    struct eth_u256 *value, struct eth_u256 *cost, char *why, size_t whylen)
{
	int overflows = 0;

	memset(value, 0, sizeof(*value));
	memset(cost, 0, sizeof(*cost));
	if (q->tx != NULL) {
		*value = q->tx->value;
		if (eth_tx_max_cost(q->tx, cost) != 0) {
			/* Such a transaction can never be paid: it exceeds every limit. */
			overflows = 1;
			memset(cost, 0xff, sizeof(*cost));
		}
		if (!tx_constraints_hold(r, q->tx, cost, overflows, why, whylen))
			return 0;
	}
	return window_holds(r, value, cost, now, why, whylen);
}

void
signer_policy_decide(struct signer_policy *p, const struct signer_policy_request *q,
    time_t now, struct signer_policy_decision *d)
{
	struct eth_u256 value, cost;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->reservation = -1;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->nrules; i++) {
		struct policy_rule *r = &p->rules[i];
		if (!rule_matches(r, q))
			continue;
		snprintf(d->rule, sizeof(d->rule), "%s", r->name);
		d->action = r->action;
		snprintf(d->why, sizeof(d->why), "rule \"%s\": %s", r->name, signer_action_name(r->action));
		if (r->action == SIGNER_APPROVE) {
			char why[200] = "";
			if (!constraints_hold(r, q, now, &value, &cost, why, sizeof(why))) {
				d->action = r->otherwise;
				snprintf(d->why, sizeof(d->why), "rule \"%s\": %.160s, so %s", r->name, why,
				    signer_action_name(r->otherwise));
			} else if (r->window_seconds > 0) {
				struct window_event *ne = realloc(r->events, (r->nevents + 1) * sizeof(*ne));
				if (ne == NULL) {
					d->action = SIGNER_DENY;
					snprintf(d->why, sizeof(d->why), "out of memory");
					goto out;
				}
				r->events = ne;
				r->events[r->nevents].t = now;
				r->events[r->nevents].value = value;
				r->events[r->nevents].cost = cost;
				r->events[r->nevents].reservation = d->reservation = p->next_reservation++;
				r->nevents++;
			}
		}
		goto out;
	}
	d->action = p->fallback;
	snprintf(d->why, sizeof(d->why), "no rule matched: default %s", signer_action_name(p->fallback));
 out:
	pthread_mutex_unlock(&p->lock);
}

/* Find the rule and event holding a reservation. */
static struct window_event *
find_reservation(struct signer_policy *p, long id, struct policy_rule **rp)
{
	size_t i, k;

	for (i = 0; i < p->nrules; i++)
		for (k = 0; k < p->rules[i].nevents; k++)
			if (p->rules[i].events[k].reservation == id) {
				*rp = &p->rules[i];
				return &p->rules[i].events[k];
			}
	return NULL;
}

int
signer_policy_commit(struct signer_policy *p, const struct signer_policy_decision *d)
{
	struct policy_rule *r;
	struct window_event *e;
	int rc = 0;

	if (d->reservation < 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	if ((e = find_reservation(p, d->reservation, &r)) != NULL) {
		e->reservation = -1;
		rc = state_save(p);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void
signer_policy_release(struct signer_policy *p, const struct signer_policy_decision *d)
{
	struct policy_rule *r;
	struct window_event *e;

	if (d->reservation < 0)
		return;
	pthread_mutex_lock(&p->lock);
	if ((e = find_reservation(p, d->reservation, &r)) != NULL) {
		size_t at = (size_t)(e - r->events);
		memmove(e, e + 1, (r->nevents - at - 1) * sizeof(*e));
		r->nevents--;
	}
	pthread_mutex_unlock(&p->lock);
}
