/*
 * token_keygen.c - making a secp256k1 key pair on a token.
 */
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "core/err.h"
#include "p11/token_int.h"

/* ---- key generation ---- */

static CK_RV
objects_exist(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_ATTRIBUTE_TYPE type,
    void *value, size_t len, int *existsp)
{
	CK_ATTRIBUTE tmpl = { type, value, len };
	CK_OBJECT_HANDLE found;
	CK_ULONG n;
	CK_RV rv;

	rv = tok_find_objects(fn, h, &tmpl, 1, &found, 1, &n);
	*existsp = n > 0;
	return rv;
}

int
p11_token_keygen(struct p11_module *m, unsigned token, const char *label,
    const uint8_t *id, size_t id_len, struct p11_key **keyp)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t oid[sizeof(tok_secp256k1_oid)], idbuf[LIMIT_P11_KEY_ID], labelbuf[LIMIT_P11_LABEL];
	uint8_t point[LIMIT_P11_ATTR_BYTES], pub[65], addr[20];
	char addrstr[ETH_ADDR_STR];
	CK_ATTRIBUTE pubt[6] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, oid, sizeof(oid) },
	};
	/* Signing only: SoftHSM2, for one, would otherwise allow decrypt and unwrap. */
	CK_ATTRIBUTE privt[10] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
	};
	CK_ULONG npub = 4, npriv = 8, plen;
	CK_ATTRIBUTE set[2];
	CK_ULONG nset = 0;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_MECHANISM_INFO mi;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID slot;
	struct key *k = NULL;
	struct p11_key *out = NULL;
	struct tok *t;
	size_t label_len = 0;
	unsigned gen;
	int r, exists, present, generated = 0;
	CK_RV rv;

	if (keyp == NULL)
		return ERR_INVALID_ARGUMENT;
	*keyp = NULL;
	if (m == NULL || (label != NULL && label[0] == '\0') || (id != NULL && id_len == 0))
		return ERR_INVALID_ARGUMENT;
	if (label != NULL && (label_len = strlen(label)) > LIMIT_P11_LABEL)
		return ERR_TOO_LONG;
	if (id != NULL && id_len > LIMIT_P11_KEY_ID)
		return ERR_TOO_LONG;
	if ((t = tok_get(m, token)) == NULL)
		return ERR_P11_TOKEN_UNKNOWN;
	memcpy(oid, tok_secp256k1_oid, sizeof(oid));
	if (label != NULL)
		memcpy(labelbuf, label, label_len);
	if (id != NULL)
		memcpy(idbuf, id, id_len);
	if ((r = tok_ensure_login(t)) != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	present = t->present;
	slot = t->slot;
	gen = t->gen;
	ti = t->info;
	pthread_mutex_unlock(&t->lock);
	if (!present)
		return ERR_P11_TOKEN_REMOVED;

	rv = m->fn->C_GetMechanismInfo(slot, CKM_EC_KEY_PAIR_GEN, &mi);
	if (rv != CKR_OK)
		return tok_is_removal(rv) ? tok_fail(t, gen, rv) : tok_keygen_err(rv);
	if (!(mi.flags & CKF_GENERATE_KEY_PAIR))
		return ERR_P11_KEYGEN_UNSUPPORTED;
	/* A session of its own: key generation needs a read-write one. */
	rv = m->fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	if (rv != CKR_OK) {
		h = CK_INVALID_HANDLE;
		r = tok_is_removal(rv) ? tok_fail(t, gen, rv) : tok_keygen_err(rv);
		goto out;
	}
	if (label != NULL) {
		if ((rv = objects_exist(m->fn, h, CKA_LABEL, labelbuf, label_len, &exists)) != CKR_OK) {
			r = tok_fail(t, gen, rv);
			goto out;
		}
		if (exists) {
			r = ERR_P11_KEY_EXISTS;
			goto out;
		}
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, labelbuf, label_len };
		privt[npriv++] = (CK_ATTRIBUTE){ CKA_LABEL, labelbuf, label_len };
	}
	if (id != NULL) {
		if ((rv = objects_exist(m->fn, h, CKA_ID, idbuf, id_len, &exists)) != CKR_OK) {
			r = tok_fail(t, gen, rv);
			goto out;
		}
		if (exists) {
			r = ERR_P11_KEY_EXISTS;
			goto out;
		}
		pubt[npub++] = (CK_ATTRIBUTE){ CKA_ID, idbuf, id_len };
		privt[npriv++] = (CK_ATTRIBUTE){ CKA_ID, idbuf, id_len };
	}
	rv = m->fn->C_GenerateKeyPair(h, &mech, pubt, npub, privt, npriv, &hpub, &hpriv);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	    rv == CKR_TEMPLATE_INCONSISTENT) {
		/* A token that will not hear of the usages it would not grant anyway:
		 * again without them (no key was made). */
		memmove(&privt[5], &privt[8], (npriv - 8) * sizeof(privt[0]));
		npriv -= 3;
		rv = m->fn->C_GenerateKeyPair(h, &mech, pubt, npub, privt, npriv, &hpub, &hpriv);
	}
	if (rv != CKR_OK) {
		r = tok_is_removal(rv) ? tok_fail(t, gen, rv) : tok_keygen_err(rv);
		goto out;
	}
	generated = 1;
	rv = tok_attr_get(m->fn, h, hpub, CKA_EC_POINT, point, sizeof(point), &plen);
	if (rv == CKR_OK && plen == CK_UNAVAILABLE_INFORMATION)
		rv = tok_attr_get(m->fn, h, hpriv, CKA_EC_POINT, point, sizeof(point), &plen);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
		r = tok_fail(t, gen, rv);
		goto out;
	}
	if (rv != CKR_OK || plen == CK_UNAVAILABLE_INFORMATION ||
	    p11_token_ec_point_parse(point, plen, pub) != 0 || eth_addr_from_pubkey(pub, addr) != 0) {
		r = ERR_P11_EC_POINT;
		goto out;
	}
	/* Names derived from the key: its address, as label and as id. */
	if (label == NULL) {
		eth_addr_to_checksum(addr, addrstr);
		label_len = strlen(addrstr);
		memcpy(labelbuf, addrstr, label_len);
		set[nset++] = (CK_ATTRIBUTE){ CKA_LABEL, labelbuf, label_len };
	}
	if (id == NULL) {
		id_len = sizeof(addr);
		memcpy(idbuf, addr, id_len);
		set[nset++] = (CK_ATTRIBUTE){ CKA_ID, idbuf, id_len };
	}
	if (nset > 0 && ((rv = m->fn->C_SetAttributeValue(h, hpub, set, nset)) != CKR_OK ||
	    (rv = m->fn->C_SetAttributeValue(h, hpriv, set, nset)) != CKR_OK)) {
		r = tok_is_removal(rv) ? tok_fail(t, gen, rv) : tok_keygen_err(rv);
		goto out;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL || (out = calloc(1, sizeof(*out))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = tok_key_fill(k, t, &ti, pub, idbuf, id_len, labelbuf, label_len)) != 0)
		goto out;
	*out = k->k;
	k->k.uri = NULL;
	pthread_mutex_lock(&t->lock);
	out->pin_state = tok_pin_state(t);
	pthread_mutex_unlock(&t->lock);
	generated = 0;	/* kept */
	r = 0;
 out:
	if (generated) {
		/* A key we cannot name or read is no use: it goes. */
		m->fn->C_DestroyObject(h, hpriv);
		m->fn->C_DestroyObject(h, hpub);
	}
	if (h != CK_INVALID_HANDLE)
		m->fn->C_CloseSession(h);
	if (k != NULL)
		free(k->k.uri);
	free(k);
	if (r != 0) {
		p11_token_keys_free(out, out != NULL ? 1 : 0);
		return r;
	}
	tok_scan_keys(t);
	*keyp = out;
	return 0;
}
