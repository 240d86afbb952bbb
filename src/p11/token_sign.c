/*
 * token_sign.c - signing a digest with a token's key, and the state of a
 * key as a signing request would find it.
 */
#include <string.h>

#include "core/err.h"
#include "eth/sig.h"
#include "p11/token_int.h"

/* ---- signing ---- */

/* What signing needs of a listed key, copied out of its token's lock. */
struct key_snap {
	uint8_t address[20];
	uint8_t id[LIMIT_P11_KEY_ID];
	size_t id_len;
	uint8_t label[LIMIT_P11_LABEL];
	size_t label_len;
	CK_OBJECT_HANDLE priv;
	unsigned gen;
};

/* The key with this address on a present token; else ERR_P11_TOKEN_REMOVED
 * when a removed token had it, else ERR_P11_KEY_NOT_FOUND. */
static int
key_lookup(struct p11_module *m, const uint8_t address[20], struct tok **tp, struct key_snap *ks)
{
	size_t i, j;
	int r = ERR_P11_KEY_NOT_FOUND;

	*tp = NULL;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens && *tp == NULL; i++) {
		struct tok *t = m->tokens[i];

		pthread_mutex_lock(&t->lock);
		for (j = 0; j < t->nkeys; j++) {
			struct key *k = &t->keys[j];

			if (memcmp(k->k.address, address, 20) != 0)
				continue;
			if (!t->present) {
				r = ERR_P11_TOKEN_REMOVED;
				continue;
			}
			memcpy(ks->address, address, 20);
			memcpy(ks->id, k->k.id, k->k.id_len);
			ks->id_len = k->k.id_len;
			memcpy(ks->label, k->label_raw, k->label_len);
			ks->label_len = k->label_len;
			ks->priv = k->priv;
			ks->gen = t->gen;
			*tp = t;
			r = 0;
			break;
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int
p11_token_key_state(struct p11_module *m, const uint8_t address[20], unsigned *tokenp)
{
	struct key_snap ks;
	struct tok *t;
	int r;

	if (m == NULL || address == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = key_lookup(m, address, &t, &ks)) == 0 && tokenp != NULL)
		*tokenp = t->number;
	return r;
}

static void
key_cache_priv(struct tok *t, const struct key_snap *ks, unsigned gen, CK_OBJECT_HANDLE priv)
{
	size_t j;

	pthread_mutex_lock(&t->lock);
	for (j = 0; t->gen == gen && j < t->nkeys; j++)
		if (memcmp(t->keys[j].k.address, ks->address, 20) == 0)
			t->keys[j].priv = priv;
	pthread_mutex_unlock(&t->lock);
}

/* The private key object for ks: by CKA_ID, else by label; exactly one. */
static int
key_find_private(struct tok *t, CK_SESSION_HANDLE h, unsigned gen, struct key_snap *ks,
    CK_OBJECT_HANDLE *privp)
{
	CK_FUNCTION_LIST *fn = t->m->fn;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE tmpl[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_ID, ks->id, ks->id_len },
	};
	CK_OBJECT_HANDLE found[2];
	uint8_t params[LIMIT_P11_ATTR_BYTES];
	CK_ULONG n, len;
	CK_RV rv;

	*privp = CK_INVALID_HANDLE;
	if (ks->id_len == 0) {
		if (ks->label_len == 0)
			return ERR_P11_KEY_NOT_FOUND;
		tmpl[2].type = CKA_LABEL;
		tmpl[2].pValue = ks->label;
		tmpl[2].ulValueLen = ks->label_len;
	}
	if ((rv = tok_find_objects(fn, h, tmpl, 3, found, 2, &n)) != CKR_OK)
		return tok_fail(t, gen, rv);
	if (n == 0)
		return ERR_P11_KEY_NOT_FOUND;
	if (n > 1)
		return ERR_P11_KEY_AMBIGUOUS;
	rv = tok_attr_get(fn, h, found[0], CKA_EC_PARAMS, params, sizeof(params), &len);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return tok_fail(t, gen, rv);
	if (rv == CKR_BUFFER_TOO_SMALL || (len != CK_UNAVAILABLE_INFORMATION &&
	    (len != sizeof(tok_secp256k1_oid) || memcmp(params, tok_secp256k1_oid, len) != 0)))
		return ERR_P11_KEY_NOT_FOUND;
	*privp = found[0];
	return 0;
}

int
p11_token_sign(struct p11_module *m, const uint8_t address[20], const uint8_t digest[32],
    uint8_t sig64[64])
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t d[32], raw[LIMIT_P11_SIG_BYTES], sig[64];
	struct key_snap ks;
	struct tok *t;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE priv;
	CK_ULONG len;
	size_t idx;
	unsigned gen;
	int r, attempt;
	CK_RV rv;

	if (m == NULL || address == NULL || digest == NULL || sig64 == NULL)
		return ERR_INVALID_ARGUMENT;
	memcpy(d, digest, sizeof(d));
	if ((r = key_lookup(m, address, &t, &ks)) != 0)
		return r;
	/*
	 * A second round only when C_SignInit says the login or the key handle
	 * went stale: no signature was made in the first.
	 */
	for (attempt = 0;; attempt++) {
		if ((r = tok_ensure_login(t)) != 0)
			return r;
		if ((r = tok_acquire(t, 1, &idx, &h, &gen)) != 0)
			return r;
		pthread_mutex_lock(&t->lock);
		priv = CK_INVALID_HANDLE;
		for (size_t j = 0; t->gen == gen && j < t->nkeys; j++)
			if (memcmp(t->keys[j].k.address, address, 20) == 0)
				priv = t->keys[j].priv;
		pthread_mutex_unlock(&t->lock);
		if (priv == CK_INVALID_HANDLE) {
			if ((r = key_find_private(t, h, gen, &ks, &priv)) != 0) {
				tok_release(t, idx, 0);
				return r == ERR_P11_KEY_NOT_FOUND ? tok_sign_no_key(t, gen) : r;
			}
			key_cache_priv(t, &ks, gen, priv);
		}
		rv = m->fn->C_SignInit(h, &mech, priv);
		if (rv == CKR_OK)
			break;
		tok_release(t, idx, 0);
		if (attempt == 0 && rv == CKR_USER_NOT_LOGGED_IN) {
			tok_fail(t, gen, rv);
			continue;
		}
		if (attempt == 0 && (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID)) {
			key_cache_priv(t, &ks, gen, CK_INVALID_HANDLE);
			continue;
		}
		return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID ?
		    tok_sign_no_key(t, gen) : tok_sign_fail(t, gen, rv);
	}
	len = sizeof(raw);
	rv = m->fn->C_Sign(h, d, sizeof(d), raw, &len);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		/* The operation is still active in this session: it goes. */
		tok_release(t, idx, 1);
		return ERR_P11_BAD_SIGNATURE;
	}
	tok_release(t, idx, 0);
	if (rv != CKR_OK)
		return tok_sign_fail(t, gen, rv);
	if (len > sizeof(raw) || eth_sig_parse_token(raw, len, sig) != 0 ||
	    eth_sig_normalize(sig, NULL) != 0)
		return ERR_P11_BAD_SIGNATURE;
	/* No recovery here: the daemon verifies every signature under the key
	 * of its address before anyone sees it, which finds v too (a lying
	 * helper or a wrong token is its threat).  A recovery here would be in
	 * series with the token and prove nothing the daemon could rely on
	 * (issue 20). */
	memcpy(sig64, sig, 64);
	return 0;
}
