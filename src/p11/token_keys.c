/*
 * token_keys.c - key discovery: reading a token's secp256k1 key objects,
 * pairing private and public keys, and the URIs that name them.
 */
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "core/err.h"
#include "p11/token_int.h"

const uint8_t tok_secp256k1_oid[TOK_SECP256K1_OID_LEN] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };

/* ---- reading key objects ---- */

/*
 * One attribute into buf (cap bytes).  *lenp = CK_UNAVAILABLE_INFORMATION
 * when the object has none (or will not say).  CKR_BUFFER_TOO_SMALL when it
 * is longer than cap; other failures as the module says.
 */
CK_RV
tok_attr_get(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE type, void *buf, size_t cap, CK_ULONG *lenp)
{
	CK_ATTRIBUTE a = { type, buf, cap };
	CK_RV rv;

	*lenp = CK_UNAVAILABLE_INFORMATION;
	rv = fn->C_GetAttributeValue(h, obj, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen != CK_UNAVAILABLE_INFORMATION && a.ulValueLen > cap)
		return CKR_BUFFER_TOO_SMALL;	/* a module that says it wrote more than fits */
	*lenp = a.ulValueLen;
	return CKR_OK;
}

/* Up to cap objects matching tmpl; *np how many. */
CK_RV
tok_find_objects(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
    CK_OBJECT_HANDLE *out, CK_ULONG cap, CK_ULONG *np)
{
	CK_ULONG got, total = 0;
	CK_RV rv;

	*np = 0;
	if ((rv = fn->C_FindObjectsInit(h, tmpl, ntmpl)) != CKR_OK)
		return rv;
	while (total < cap) {
		rv = fn->C_FindObjects(h, out + total, cap - total, &got);
		if (rv != CKR_OK || got == 0 || got > cap - total)
			break;
		total += got;
	}
	fn->C_FindObjectsFinal(h);
	*np = total;
	return rv;
}

struct obj {
	CK_OBJECT_HANDLE h;
	int curve;			/* 1 secp256k1, 0 not said, -1 another or unreadable */
	int point;			/* 1 parsed into pub, 0 not said, -1 unusable */
	int can_sign;
	int paired;
	uint8_t pub[65];
	uint8_t id[LIMIT_P11_KEY_ID];
	size_t id_len;
	uint8_t label[LIMIT_P11_LABEL];
	size_t label_len;
};

static CK_RV
obj_read_point(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, struct obj *o)
{
	uint8_t buf[LIMIT_P11_ATTR_BYTES];
	CK_ULONG len;
	CK_RV rv;

	rv = tok_attr_get(fn, h, o->h, CKA_EC_POINT, buf, sizeof(buf), &len);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		o->point = -1;
		return CKR_OK;
	}
	if (rv != CKR_OK)
		return rv;
	if (len == CK_UNAVAILABLE_INFORMATION)
		o->point = 0;
	else
		o->point = p11_token_ec_point_parse(buf, len, o->pub) == 0 ? 1 : -1;
	return CKR_OK;
}

/* What the key lists need of one object.  *usablep 0: over a limit, skip it. */
static CK_RV
obj_read(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, struct obj *o, int is_private, int *usablep)
{
	uint8_t buf[LIMIT_P11_ATTR_BYTES];
	CK_BBOOL b;
	CK_ULONG len;
	CK_RV rv;

	*usablep = 0;
	rv = tok_attr_get(fn, h, o->h, CKA_EC_PARAMS, buf, sizeof(buf), &len);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	if (len == CK_UNAVAILABLE_INFORMATION)
		o->curve = 0;
	else
		o->curve = len == sizeof(tok_secp256k1_oid) &&
		    memcmp(buf, tok_secp256k1_oid, len) == 0 ? 1 : -1;
	if (o->curve < 0)
		return CKR_OK;

	rv = tok_attr_get(fn, h, o->h, CKA_ID, o->id, sizeof(o->id), &len);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	o->id_len = len == CK_UNAVAILABLE_INFORMATION ? 0 : len;

	rv = tok_attr_get(fn, h, o->h, CKA_LABEL, o->label, sizeof(o->label), &len);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	o->label_len = len == CK_UNAVAILABLE_INFORMATION ? 0 : len;

	o->can_sign = 1;
	if (is_private) {
		rv = tok_attr_get(fn, h, o->h, CKA_SIGN, &b, sizeof(b), &len);
		if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
			return rv;
		if (rv == CKR_OK && len == sizeof(b) && b == CK_FALSE)
			o->can_sign = 0;
		/* The point is read from a private key only when it has no public one. */
	} else if ((rv = obj_read_point(fn, h, o)) != CKR_OK)
		return rv;
	*usablep = 1;
	return CKR_OK;
}

/* Find the EC key objects of one class and read them; *np how many are usable. */
static CK_RV
objs_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls,
    struct obj *objs, size_t *np)
{
	CK_OBJECT_HANDLE handles[LIMIT_P11_OBJECTS];
	CK_KEY_TYPE kt = CKK_EC;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_ULONG n, i;
	size_t used = 0;
	int usable;
	CK_RV rv;

	*np = 0;
	if ((rv = tok_find_objects(fn, h, tmpl, 2, handles, LIMIT_P11_OBJECTS, &n)) != CKR_OK)
		return rv;
	for (i = 0; i < n; i++) {
		memset(&objs[used], 0, sizeof(objs[used]));
		objs[used].h = handles[i];
		if ((rv = obj_read(fn, h, &objs[used], cls == CKO_PRIVATE_KEY, &usable)) != CKR_OK)
			return rv;
		used += usable;
	}
	*np = used;
	return CKR_OK;
}

/* The public key object that goes with a private key: same CKA_ID, else same label. */
static struct obj *
obj_pair(const struct obj *priv, struct obj *pubs, size_t npubs)
{
	size_t i;

	for (i = 0; i < npubs; i++) {
		if (priv->id_len > 0) {
			if (pubs[i].id_len == priv->id_len &&
			    memcmp(pubs[i].id, priv->id, priv->id_len) == 0)
				return &pubs[i];
		} else if (priv->label_len > 0 && pubs[i].id_len == 0 &&
		    pubs[i].label_len == priv->label_len &&
		    memcmp(pubs[i].label, priv->label, priv->label_len) == 0)
			return &pubs[i];
	}
	return NULL;
}

/* A new p11-kit URI naming the token ti (label, manufacturer, model, serial), or NULL. */
static P11KitUri *
token_uri_new(const CK_TOKEN_INFO *ti)
{
	CK_TOKEN_INFO *uti;
	P11KitUri *u;

	if ((u = p11_kit_uri_new()) == NULL)
		return NULL;
	uti = p11_kit_uri_get_token_info(u);
	memcpy(uti->label, ti->label, sizeof(uti->label));
	memcpy(uti->manufacturerID, ti->manufacturerID, sizeof(uti->manufacturerID));
	memcpy(uti->model, ti->model, sizeof(uti->model));
	memcpy(uti->serialNumber, ti->serialNumber, sizeof(uti->serialNumber));
	return u;
}

char *
tok_info_uri(const CK_TOKEN_INFO *ti)
{
	P11KitUri *u;
	char *s = NULL;

	if ((u = token_uri_new(ti)) == NULL)
		return NULL;
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, &s) != P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(u);
	return s;
}

static char *
key_uri(const CK_TOKEN_INFO *ti, struct key *k, int with_label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a;
	P11KitUri *u;
	char *s = NULL;

	if ((u = token_uri_new(ti)) == NULL)
		return NULL;
	a.type = CKA_CLASS;
	a.pValue = &cls;
	a.ulValueLen = sizeof(cls);
	p11_kit_uri_set_attribute(u, &a);
	if (k->k.id_len > 0) {
		a.type = CKA_ID;
		a.pValue = k->k.id;
		a.ulValueLen = k->k.id_len;
		p11_kit_uri_set_attribute(u, &a);
	}
	if (with_label && k->label_len > 0) {
		a.type = CKA_LABEL;
		a.pValue = k->label_raw;
		a.ulValueLen = k->label_len;
		p11_kit_uri_set_attribute(u, &a);
	}
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) != P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(u);
	return s;
}

/* Fill in k from its point, id and label (its uri and token fields too). */
int
tok_key_fill(struct key *k, const struct tok *t, const CK_TOKEN_INFO *ti, const uint8_t pub[65],
    const uint8_t *id, size_t id_len, const uint8_t *label, size_t label_len)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	memcpy(k->k.pubkey, pub, 65);
	if (eth_addr_from_pubkey(pub, k->k.address) != 0)
		return ERR_P11_EC_POINT;
	memcpy(k->k.id, id, id_len);
	k->k.id_len = id_len;
	memcpy(k->label_raw, label, label_len);
	k->label_len = label_len;
	for (i = 0; i < label_len && label[i] != '\0'; i++)
		k->k.label[i] = (char)label[i];
	k->k.label[i] = '\0';
	k->k.token = t->number;
	tok_ck_str(k->k.token_label, sizeof(k->k.token_label), ti->label, sizeof(ti->label));
	k->priv = CK_INVALID_HANDLE;
	/* A long label makes a long URI; the id alone still names the key. */
	if ((k->k.uri = key_uri(ti, k, 1)) != NULL && strlen(k->k.uri) > LIMIT_P11_URI) {
		free(k->k.uri);
		k->k.uri = key_uri(ti, k, 0);
	}
	return k->k.uri == NULL ? ERR_NOMEM : 0;
}

/* Does any URI select this key on this token? */
static int
key_selected(const struct p11_module *m, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
    const CK_TOKEN_INFO *ti, struct key *k)
{
	size_t i;

	for (i = 0; i < m->nsels; i++)
		if (tok_sel_matches_token(&m->sels[i], slot, si, ti) && tok_uri_matches_key(m->sels[i].uri, k))
			return 1;
	return 0;
}

static int
keys_have(const struct key *keys, size_t n, const uint8_t addr[20])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(keys[i].k.address, addr, 20) == 0)
			return 1;
	return 0;
}

/*
 * List the token's secp256k1 keys afresh.  A private key is paired with its
 * public key by CKA_ID (else label) for the point, or gives the point itself
 * (CloudHSM); one of the two must say the curve is secp256k1 and neither may
 * say another.  Before a login that the token requires, the private keys may
 * be hidden: then the public keys stand for them.
 */
int
tok_scan_keys(struct tok *t)
{
	struct p11_module *m = t->m;
	CK_FUNCTION_LIST *fn = m->fn;
	struct obj *pubs = NULL, *privs = NULL, *q;
	struct key *keys = NULL, *old;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	size_t idx, npubs = 0, nprivs = 0, n = 0, nold, i;
	unsigned gen;
	int held = 0, public_stands_in, curve, r;
	size_t had;
	const uint8_t *point;
	CK_RV rv;

	if ((r = tok_acquire(t, 0, &idx, &h, &gen)) != 0)
		return r;
	held = 1;
	pthread_mutex_lock(&t->lock);
	slot = t->slot;
	si = t->slot_info;
	ti = t->info;
	public_stands_in = tok_needs_login(t);
	had = t->nkeys;
	pthread_mutex_unlock(&t->lock);

	pubs = calloc(LIMIT_P11_OBJECTS, sizeof(*pubs));
	privs = calloc(LIMIT_P11_OBJECTS, sizeof(*privs));
	if (pubs == NULL || privs == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((rv = objs_find(fn, h, CKO_PUBLIC_KEY, pubs, &npubs)) != CKR_OK ||
	    (rv = objs_find(fn, h, CKO_PRIVATE_KEY, privs, &nprivs)) != CKR_OK) {
		r = tok_fail(t, gen, rv);
		goto out;
	}
	if ((keys = calloc(npubs + nprivs + 1, sizeof(*keys))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nprivs; i++) {
		struct obj *p = &privs[i];

		if (!p->can_sign)
			continue;
		q = obj_pair(p, pubs, npubs);
		if (q != NULL)
			q->paired = 1;
		if (q != NULL && q->point == 1)
			point = q->pub;
		else {
			if ((rv = obj_read_point(fn, h, p)) != CKR_OK) {
				r = tok_fail(t, gen, rv);
				goto out;
			}
			if (p->point != 1)
				continue;
			point = p->pub;
		}
		curve = p->curve;
		if (q != NULL && (q->curve < 0 || (curve == 0 && q->curve == 1)))
			curve = q->curve;
		if (curve != 1 || keys_have(keys, n, point))
			continue;
		if ((r = tok_key_fill(&keys[n], t, &ti, point, p->id, p->id_len, p->label,
		    p->label_len)) != 0)
			goto out;
		keys[n].priv = p->h;
		keys[n].k.on_private = point == p->pub;
		if (!key_selected(m, slot, &si, &ti, &keys[n]))
			free(keys[n].k.uri);
		else
			n++;
	}
	for (i = 0; public_stands_in && i < npubs; i++) {
		q = &pubs[i];
		if (q->paired || q->curve != 1 || q->point != 1 || keys_have(keys, n, q->pub))
			continue;
		if ((r = tok_key_fill(&keys[n], t, &ti, q->pub, q->id, q->id_len, q->label,
		    q->label_len)) != 0)
			goto out;
		if (!key_selected(m, slot, &si, &ti, &keys[n]))
			free(keys[n].k.uri);
		else
			n++;
	}

	/*
	 * Keys that vanished: yubihsm_pkcs11 finds no objects, without an error,
	 * on a device its connector has just lost.  Ask the slot before
	 * believing it, so that the keys go as "removed", not as unknown.
	 */
	if (n < had && tok_gone(t, gen)) {
		r = ERR_P11_TOKEN_REMOVED;
		goto out;
	}
	tok_release(t, idx, 0);
	held = 0;
	pthread_mutex_lock(&t->lock);
	if (t->present && t->gen == gen) {
		old = t->keys;
		nold = t->nkeys;
		t->keys = keys;
		t->nkeys = n;
		keys = old;
		n = nold;
		t->scanned = 1;
		r = 0;
	} else
		r = ERR_P11_TOKEN_REMOVED;
	pthread_mutex_unlock(&t->lock);
 out:
	if (r != 0 && held) {
		/* A scan that failed still ends the wait: the token shows, without keys. */
		pthread_mutex_lock(&t->lock);
		if (t->present && t->gen == gen)
			t->scanned = 1;
		pthread_mutex_unlock(&t->lock);
	}
	if (held)
		tok_release(t, idx, 0);
	tok_keys_free(keys, n);
	free(pubs);
	free(privs);
	return r;
}
