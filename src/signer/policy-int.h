/*
 * policy-int.h - what the two halves of the policy module share: the parsed
 * rules (policy_file.c reads the file into them) and the decisions and window
 * state over them (policy.c).  Not for other modules: they use policy.h.
 */
#ifndef SIGNER_POLICY_INT_H
#define SIGNER_POLICY_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "eth/addr.h"
#include "eth/u256.h"
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

/*
 * Read the windows of p->state_path (absent file: nothing spent yet) into
 * p's rules; in policy.c, next to the writer.  Errors: ERR_POLICY_STATE.
 */
int signer_policy_state_load(struct signer_policy *p);

/*
 * Write every rule's committed window events to p->state_path atomically;
 * called with p->lock held.  Errors: ERR_POLICY_STATE.
 */
int signer_policy_state_save(const struct signer_policy *p);

#endif /* SIGNER_POLICY_INT_H */
