#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "relay/nonce.h"

struct nonce_account {
	uint8_t addr[ETH_ADDR_LEN];
	uint64_t next;				/* the next nonce never handed out */
	uint64_t back[LIMIT_NONCE_RELEASED];	/* given back, below next; ascending */
	size_t nback;
};

struct relay_nonces {
	pthread_mutex_t lock;
	struct nonce_account *acct;
	size_t n;
};

int
relay_nonces_new(struct relay_nonces **outp)
{
	struct relay_nonces *t;

	*outp = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ERR_NOMEM;
	if ((t->acct = calloc(LIMIT_NONCE_ADDRESSES, sizeof(*t->acct))) == NULL) {
		free(t);
		return ERR_NOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	*outp = t;
	return 0;
}

void
relay_nonces_free(struct relay_nonces *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->acct);
	free(t);
}

/* The account of addr; a new one when create is set.  Called locked. */
static struct nonce_account *
account_of(struct relay_nonces *t, const uint8_t addr[ETH_ADDR_LEN], int create)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (memcmp(t->acct[i].addr, addr, ETH_ADDR_LEN) == 0)
			return &t->acct[i];
	if (!create || t->n == LIMIT_NONCE_ADDRESSES)
		return NULL;
	memcpy(t->acct[t->n].addr, addr, ETH_ADDR_LEN);
	return &t->acct[t->n++];
}

int
relay_nonce_take(struct relay_nonces *t, const uint8_t addr[ETH_ADDR_LEN],
    uint64_t node_pending, uint64_t *noncep)
{
	struct nonce_account *a;
	size_t drop = 0;
	int r = ERR_RELAY_NONCES_FULL;

	pthread_mutex_lock(&t->lock);
	if ((a = account_of(t, addr, 1)) == NULL)
		goto out;
	/* The node has transactions up to node_pending - 1 already. */
	if (a->next < node_pending)
		a->next = node_pending;
	while (drop < a->nback && a->back[drop] < node_pending)
		drop++;
	memmove(a->back, a->back + drop, (a->nback - drop) * sizeof(a->back[0]));
	a->nback -= drop;
	if (a->nback > 0) {
		*noncep = a->back[0];
		memmove(a->back, a->back + 1, (a->nback - 1) * sizeof(a->back[0]));
		a->nback--;
	} else {
		/* EIP-2681: a nonce is below 2^64 - 1. */
		r = ERR_NUMBER_RANGE;
		if (a->next >= UINT64_MAX - 1)
			goto out;
		*noncep = a->next++;
	}
	r = 0;
 out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

void
relay_nonce_give_back(struct relay_nonces *t, const uint8_t addr[ETH_ADDR_LEN], uint64_t nonce)
{
	struct nonce_account *a;
	size_t i;

	pthread_mutex_lock(&t->lock);
	if ((a = account_of(t, addr, 0)) == NULL || nonce >= a->next)
		goto out;
	if (nonce == a->next - 1) {
		/* The highest: take it back, and any given back just below it. */
		a->next--;
		while (a->nback > 0 && a->back[a->nback - 1] == a->next - 1) {
			a->next--;
			a->nback--;
		}
		goto out;
	}
	for (i = 0; i < a->nback && a->back[i] < nonce; i++)
		;
	if ((i < a->nback && a->back[i] == nonce) || a->nback == LIMIT_NONCE_RELEASED)
		goto out;	/* twice; or LIMIT_NONCE_RELEASED refused at once: a gap
				 * stays until a sender gives that nonce explicitly */
	memmove(a->back + i + 1, a->back + i, (a->nback - i) * sizeof(a->back[0]));
	a->back[i] = nonce;
	a->nback++;
 out:
	pthread_mutex_unlock(&t->lock);
}
