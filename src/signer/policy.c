/*
 * policy.c - decisions under a loaded policy, window reservations and the
 * window state file; the file itself is read by policy_file.c.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eth/addr.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/tx.h"
#include "signer/policy-int.h"

const char *
signer_action_name(enum signer_action a)
{
	return a == SIGNER_APPROVE ? "approve" : a == SIGNER_DENY ? "deny" : "ask";
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

/*
 * State file: {"version":2,"windows":{"rule":[[time,"value","cost"],...]}},
 * amounts in decimal wei.  Version 1 recorded [time,"value"] alone; what those
 * signings cost is not known, so each counts as the most there is and fills
 * the window's max_cost until it ages out, rather than being taken as free.
 */
int
signer_policy_state_load(struct signer_policy *p)
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

int
signer_policy_state_save(const struct signer_policy *p)
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
		rc = signer_policy_state_save(p);
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
