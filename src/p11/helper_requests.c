/*
 * helper_requests.c - the token helper's requests: key handles, and what
 * LIST_KEYS, KEY_STATUS, SIGN, GENERATE and LOGIN do, run by the worker
 * that read the request (helper.c).
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "core/err.h"
#include "p11/helper.h"
#include "p11/helper_int.h"

/* ---- key handles ---- */

/*
 * The handle of key (token, addr), given one when it is new; uri (may be
 * NULL) is remembered as its URI.  0 when the table is full or memory short.
 */
static uint32_t
handle_of(struct helper *h, unsigned token, const uint8_t addr[20], const char *uri)
{
	struct hkey *k, *grown;
	uint32_t handle = 0;
	size_t i, cap;
	char *copy;

	pthread_mutex_lock(&h->keys_lock);
	for (i = 0; i < h->nkeys; i++) {
		k = &h->keys[i];
		if (k->token == token && memcmp(k->addr, addr, 20) == 0) {
			if (uri != NULL && (k->uri == NULL || strcmp(k->uri, uri) != 0) &&
			    (copy = strdup(uri)) != NULL) {
				free(k->uri);
				k->uri = copy;
			}
			handle = (uint32_t)i + 1;
			goto out;
		}
	}
	if (h->nkeys >= LIMIT_P11_KEY_HANDLES)
		goto out;
	if (h->nkeys == h->capkeys) {
		cap = h->capkeys == 0 ? 64 : 2 * h->capkeys;
		if ((grown = realloc(h->keys, cap * sizeof(*grown))) == NULL)
			goto out;
		h->keys = grown;
		h->capkeys = cap;
	}
	k = &h->keys[h->nkeys];
	k->token = token;
	memcpy(k->addr, addr, 20);
	k->uri = uri != NULL ? strdup(uri) : NULL;
	handle = (uint32_t)++h->nkeys;
 out:
	pthread_mutex_unlock(&h->keys_lock);
	return handle;
}

/* What a request's key reference names. */
struct keyref {
	uint32_t handle;		/* 0: none yet */
	int known_token;
	unsigned token;
	uint8_t addr[20];
};

/* By handle, by the exact URI of a listed key, or the first handle with this address. */
static int
handle_find(struct helper *h, uint32_t handle, const char *uri, const uint8_t *addr,
    struct keyref *kr)
{
	size_t i;
	int r = ERR_P11_KEY_NOT_FOUND;

	pthread_mutex_lock(&h->keys_lock);
	for (i = 0; i < h->nkeys; i++) {
		const struct hkey *k = &h->keys[i];

		if ((handle != 0 && i + 1 == handle) ||
		    (uri != NULL && k->uri != NULL && strcmp(k->uri, uri) == 0) ||
		    (addr != NULL && memcmp(k->addr, addr, 20) == 0)) {
			kr->handle = (uint32_t)i + 1;
			kr->known_token = 1;
			kr->token = k->token;
			memcpy(kr->addr, k->addr, 20);
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&h->keys_lock);
	return r;
}

/*
 * Which key a KEY_STATUS or SIGN names.  A URI is matched against the keys
 * of present tokens (token.h), else taken as the exact URI of a key listed
 * before (its token may be out).  0, ERR_P11_KEY_NOT_FOUND, or a URI's error.
 */
static int
key_resolve(struct helper *h, const struct proto_key_ref *ref, struct keyref *kr)
{
	unsigned token;
	int r;

	memset(kr, 0, sizeof(*kr));
	if (ref->handle != 0)
		return handle_find(h, ref->handle, NULL, NULL, kr);
	r = p11_token_find_uri(h->m, ref->uri, kr->addr);
	if (r == 0) {
		if (p11_token_key_state(h->m, kr->addr, &token) == 0) {
			kr->known_token = 1;
			kr->token = token;
			kr->handle = handle_of(h, token, kr->addr, NULL);
		}
		return 0;
	}
	if (r == ERR_P11_KEY_NOT_FOUND)
		return handle_find(h, 0, ref->uri, NULL, kr);
	return r;
}

/* ---- requests ---- */

/* Failures of an automatic login (a PIN from the helper's URIs): the daemon asks the user. */
static int
auto_login_failure(int r)
{
	return r == ERR_P11_PIN_AUTO_REJECTED || r == ERR_P11_PIN_COUNT_LOW ||
	    r == ERR_P11_PIN_FINAL_TRY || r == ERR_P11_PIN_INCORRECT ||
	    r == ERR_P11_PIN_INVALID || r == ERR_P11_PIN_SOURCE;
}

void
helper_do_list(struct helper *h, struct job *j)
{
	struct ttext {
		char label[TEXT_SZ], manufacturer[TEXT_SZ], model[TEXT_SZ], serial[TEXT_SZ];
		char slot_uri[SLOT_URI_SZ];
	} *tt = NULL;
	char (*kl)[TEXT_SZ] = NULL;
	char manufacturer[TEXT_SZ], description[TEXT_SZ];
	struct p11_module_info mi;
	struct p11_token_info *toks = NULL;
	struct p11_key *keys = NULL;
	struct proto_token *pt = NULL;
	struct proto_key *pk = NULL;
	struct proto_msg m;
	size_t ntoks = 0, nkeys = 0, nt = 0, nk = 0, i, k;
	uint32_t handle;
	int pass, r;

	p11_token_module_info(h->m, &mi);
	if ((r = p11_token_list_tokens(h->m, &toks, &ntoks)) != 0 ||
	    (r = p11_token_list_keys(h->m, &keys, &nkeys)) != 0)
		goto fail;
	pt = calloc(LIMIT_PROTO_TOKENS, sizeof(*pt));
	tt = calloc(LIMIT_PROTO_TOKENS, sizeof(*tt));
	pk = calloc(nkeys + 1, sizeof(*pk));
	kl = calloc(nkeys + 1, sizeof(*kl));
	if (pt == NULL || tt == NULL || pk == NULL || kl == NULL) {
		r = ERR_NOMEM;
		goto fail;
	}
	/* Present tokens first: over the caps, the ones left out are the absent ones. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < ntoks && nt < LIMIT_PROTO_TOKENS; i++) {
			const struct p11_token_info *t = &toks[i];
			struct proto_token *p = &pt[nt];
			struct ttext *x = &tt[nt];

			if ((t->present != 0) != (pass == 0))
				continue;
			helper_printable(x->label, t->label);
			helper_printable(x->manufacturer, t->manufacturer);
			helper_printable(x->model, t->model);
			helper_printable(x->serial, t->serial);
			p->uri = helper_token_uri(t, x->slot_uri);
			p->label = x->label;
			p->manufacturer = x->manufacturer;
			p->model = x->model;
			p->serial = x->serial;
			p->slot_id = t->slot;
			p->flags = p11_helper_token_flags(t);
			p->keys = &pk[nk];
			p->nkeys = 0;
			for (k = 0; t->present && k < nkeys && nk < LIMIT_PROTO_KEYS; k++) {
				const struct p11_key *key = &keys[k];
				struct proto_key *q = &pk[nk];

				if (key->token != t->token)
					continue;
				if (!proto_uri_ok(key->uri) || key->id_len > LIMIT_P11_KEY_ID)
					continue;	/* not reached: token.h keeps within them */
				if ((handle = handle_of(h, t->token, key->address, key->uri)) == 0)
					continue;
				q->handle = handle;
				q->uri = key->uri;
				helper_printable(kl[nk], key->label);
				q->label = kl[nk];
				q->id = key->id;
				q->id_len = key->id_len;
				memcpy(q->pub, key->pubkey, sizeof(q->pub));
				memcpy(q->addr, key->address, sizeof(q->addr));
				nk++;
				p->nkeys++;
			}
			if (p->nkeys == 0)
				p->keys = NULL;
			nt++;
		}
	}
	helper_printable(manufacturer, mi.manufacturer);
	helper_printable(description, mi.description);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_KEY_LIST;
	m.id = j->id;
	m.key_list.manufacturer = manufacturer;
	m.key_list.description = description;
	m.key_list.version_major = mi.version_major;
	m.key_list.version_minor = mi.version_minor;
	m.key_list.tokens = nt > 0 ? pt : NULL;
	m.key_list.ntokens = nt;
	helper_job_answer(h, j, &m);
	goto out;
 fail:
	helper_log(h, "cannot list the keys: %s", err_str(r));
	helper_job_error(h, j, r, "cannot list the keys: %s", err_str(r));
 out:
	free(pt);
	free(tt);
	free(pk);
	free(kl);
	free(toks);
	p11_token_keys_free(keys, nkeys);
}

static void
do_key_status(struct helper *h, struct job *j)
{
	struct proto_msg m;
	struct p11_token_info t;
	struct keyref kr;
	unsigned token;
	int r;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_KEY_STATE;
	m.id = j->id;
	m.key_state.state = PROTO_KEY_NOT_FOUND;
	r = key_resolve(h, &j->untrusted_req->key_status.key, &kr);
	if (r != 0 && r != ERR_P11_KEY_NOT_FOUND) {
		helper_job_error(h, j, r, "%s", err_str(r));
		return;
	}
	if (r == 0)
		r = p11_token_key_state(h->m, kr.addr, &token);
	if (r == 0) {
		if (kr.handle == 0 && (kr.handle = handle_of(h, token, kr.addr, NULL)) == 0) {
			helper_job_error(h, j, ERR_TOO_MANY, "too many keys seen");
			return;
		}
		m.key_state.handle = kr.handle;
		m.key_state.state = PROTO_KEY_AVAILABLE;
		if (helper_token_get(h, token, &t) == 0)
			m.key_state.token_flags = p11_helper_token_flags(&t);
		m.key_state.token_flags |= PROTO_TOKEN_PRESENT;
	} else if (r == ERR_P11_TOKEN_REMOVED &&
	    (kr.handle != 0 || handle_find(h, 0, NULL, kr.addr, &kr) == 0)) {
		m.key_state.handle = kr.handle;
		m.key_state.state = PROTO_KEY_TOKEN_ABSENT;
		if (kr.known_token && helper_token_get(h, kr.token, &t) == 0)
			m.key_state.token_flags = p11_helper_token_flags(&t);
		m.key_state.token_flags &= ~(uint32_t)(PROTO_TOKEN_PRESENT | PROTO_TOKEN_LOGGED_IN);
	}
	helper_job_answer(h, j, &m);
}

static void
do_sign(struct helper *h, struct job *j)
{
	char label[TEXT_SZ], a[ETH_ADDR_STR];
	uint8_t sig64[64];
	struct proto_msg m;
	struct keyref kr;
	unsigned long n;
	unsigned token;
	int r;

	if ((r = key_resolve(h, &j->untrusted_req->sign.key, &kr)) != 0) {
		helper_job_error(h, j, r, "%s", err_str(r));
		return;
	}
	r = p11_token_sign(h->m, kr.addr, j->untrusted_req->sign.digest, sig64);
	if (r == 0) {
		memset(&m, 0, sizeof(m));
		m.type = PROTO_SIGNATURE;
		m.id = j->id;
		memcpy(m.signature.sig, sig64, 64);
		helper_job_answer(h, j, &m);
		return;
	}
	eth_addr_to_checksum(kr.addr, a);
	if (p11_token_key_state(h->m, kr.addr, &token) != 0)
		token = kr.known_token ? kr.token : UINT_MAX;
	if (token != UINT_MAX)
		helper_token_label(h, token, label);
	else
		snprintf(label, sizeof(label), "?");
	if (r == ERR_P11_TOKEN_REMOVED) {
		helper_mon_kick(h);	/* the event goes out now, not at the next rescan */
		helper_job_error(h, j, r, "token \"%s\" with key %s was removed", label, a);
	} else if (r == ERR_P11_NOT_LOGGED_IN) {
		helper_job_error(h, j, r, "token \"%s\" needs a PIN", label);
	} else if (auto_login_failure(r)) {
		if (helper_memo_log(h, token, r, &n))
			helper_log(h, "token \"%s\": no automatic log-in: %s", label, err_str(r));
		helper_job_error(h, j, ERR_P11_NOT_LOGGED_IN, "token \"%s\" needs a PIN (the configured one "
		    "was not used: %s)", label, err_str(r));
	} else {
		if (helper_memo_log(h, token, r, &n))
			helper_log(h, "token \"%s\": signing with %s failed: %s%s", label, a, err_str(r),
			    n > 0 ? " (again, after more like it not logged)" : "");
		helper_job_error(h, j, r, "token \"%s\", key %s: %s", label, a, err_str(r));
	}
}

static void
do_generate(struct helper *h, struct job *j)
{
	const struct proto_generate *g = &j->untrusted_req->generate;
	char label[TEXT_SZ], klabel[TEXT_SZ], a[ETH_ADDR_STR];
	struct p11_key *key = NULL;
	struct proto_msg m;
	unsigned token;
	int r;

	if ((r = p11_token_find_token(h->m, g->token_uri, &token)) != 0) {
		helper_job_error(h, j, r, "%s", err_str(r));
		return;
	}
	helper_token_label(h, token, label);
	r = p11_token_keygen(h->m, token, g->label, g->id_len > 0 ? g->id : NULL, g->id_len, &key);
	if (r != 0) {
		if (auto_login_failure(r)) {
			helper_log(h, "token \"%s\": no automatic log-in: %s", label, err_str(r));
			helper_job_error(h, j, ERR_P11_NOT_LOGGED_IN, "token \"%s\" needs a PIN (the "
			    "configured one was not used: %s)", label, err_str(r));
		} else {
			if (r != ERR_P11_NOT_LOGGED_IN)
				helper_log(h, "token \"%s\": key generation failed: %s", label, err_str(r));
			helper_job_error(h, j, r, "token \"%s\": %s", label, err_str(r));
		}
		return;
	}
	eth_addr_to_checksum(key->address, a);
	helper_log(h, "token \"%s\": generated key %s", label, a);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_GENERATED;
	m.id = j->id;
	m.generated.handle = handle_of(h, key->token, key->address, key->uri);
	m.generated.uri = key->uri;
	helper_printable(klabel, key->label);
	m.generated.label = klabel;
	m.generated.id = key->id;
	m.generated.id_len = key->id_len;
	memcpy(m.generated.pub, key->pubkey, sizeof(m.generated.pub));
	memcpy(m.generated.addr, key->address, sizeof(m.generated.addr));
	if (m.generated.handle == 0)
		helper_job_error(h, j, ERR_TOO_MANY, "key %s generated, but too many keys seen", a);
	else if (!proto_uri_ok(key->uri))
		helper_job_error(h, j, ERR_TOO_LONG, "key %s generated, but its URI is too long", a);
	else
		helper_job_answer(h, j, &m);
	p11_token_keys_free(key, 1);
}

static void
do_login(struct helper *h, struct job *j)
{
	static const char *const said[] = {
		"accepted", "already logged in", "the PIN is incorrect", "the PIN is locked",
		"the token has no PIN pad", "the token refuses the PIN's length or characters",
		"not tried: few tries are left", "cancelled", "no token in the slot",
	};
	const struct proto_login *l = &j->untrusted_req->login;
	uint8_t pin[LIMIT_P11_PIN];
	size_t pin_len = 0;
	char label[TEXT_SZ];
	struct p11_token_info t;
	struct proto_msg m;
	unsigned token, lflags = 0;
	int r, pad, status;

	memset(pin, 0, sizeof(pin));
	pad = (l->flags & PROTO_LOGIN_PIN_PAD) != 0;
	if (l->flags & PROTO_LOGIN_LOW_TRIES_CONFIRMED)
		lflags |= P11_LOGIN_LOW_TRIES_CONFIRMED;
	r = p11_token_find_token(h->m, l->token_uri, &token);
	if (!pad && l->pin_len <= sizeof(pin)) {
		memcpy(pin, l->pin, l->pin_len);
		pin_len = l->pin_len;
	}
	/* The request's copy of the PIN goes now (proto_msg_free wipes it). */
	pthread_mutex_lock(&h->lock);
	proto_msg_free(j->untrusted_req);
	j->untrusted_req = NULL;
	l = NULL;
	pthread_mutex_unlock(&h->lock);
	if (r != 0) {
		explicit_bzero(pin, sizeof(pin));
		helper_job_error(h, j, r, "%s", err_str(r));
		return;
	}
	helper_token_label(h, token, label);
	if ((r = helper_token_get(h, token, &t)) != 0) {
		explicit_bzero(pin, sizeof(pin));
		helper_job_error(h, j, r, "%s", err_str(r));
		return;
	}
	if (!t.present)
		r = ERR_P11_TOKEN_REMOVED;
	else if (t.pin_state & P11_PIN_LOGGED_IN)
		r = 1;		/* already: the PIN is not used */
	else if (pad)
		r = p11_token_login_pad(h->m, token, lflags);
	else
		r = p11_token_login(h->m, token, lflags, pin, pin_len);	/* wipes pin */
	explicit_bzero(pin, sizeof(pin));
	switch (r) {
	case 0:				status = PROTO_LOGIN_OK; break;
	case 1:				status = PROTO_LOGIN_ALREADY; break;
	case ERR_P11_PIN_INCORRECT:	status = PROTO_LOGIN_PIN_INCORRECT; break;
	case ERR_P11_PIN_LOCKED:	status = PROTO_LOGIN_PIN_LOCKED; break;
	case ERR_P11_NO_PIN_PAD:	status = PROTO_LOGIN_PIN_NEEDED; break;
	case ERR_P11_PIN_INVALID:
	case ERR_TOO_LONG:		status = PROTO_LOGIN_PIN_INVALID; break;
	case ERR_P11_PIN_COUNT_LOW:
	case ERR_P11_PIN_FINAL_TRY:	status = PROTO_LOGIN_LOW_TRIES; break;
	case ERR_P11_CANCELED:		status = PROTO_LOGIN_CANCELLED; break;
	case ERR_P11_TOKEN_REMOVED:	status = PROTO_LOGIN_TOKEN_ABSENT; break;
	default:
		helper_log(h, "token \"%s\": log-in failed: %s", label, err_str(r));
		helper_job_error(h, j, r, "token \"%s\": %s", label, err_str(r));
		if (r == ERR_P11_MODULE)
			helper_mon_kick(h);
		return;
	}
	helper_log(h, "token \"%s\": log-in%s: %s", label, pad ? " on the PIN pad" : "", said[status]);
	if (status == PROTO_LOGIN_TOKEN_ABSENT)
		helper_mon_kick(h);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_LOGIN_RESULT;
	m.id = j->id;
	m.login_result.status = (uint8_t)status;
	if (helper_token_get(h, token, &t) == 0)
		m.login_result.token_flags = p11_helper_token_flags(&t);
	helper_job_answer(h, j, &m);
}

/* Run job j, a request in its slot, and answer it (which frees the slot). */
void
helper_job_run(struct helper *h, struct job *j)
{
	switch (j->untrusted_req->type) {
	case PROTO_LIST_KEYS:
		helper_do_list(h, j);
		break;
	case PROTO_KEY_STATUS:
		do_key_status(h, j);
		break;
	case PROTO_SIGN:
		do_sign(h, j);
		break;
	case PROTO_GENERATE:
		do_generate(h, j);
		break;
	case PROTO_LOGIN:
		do_login(h, j);
		break;
	default:	/* not reached: the reader takes requests only, HELLO and CONFIGURE once */
		helper_job_error(h, j, ERR_PROTO_UNEXPECTED, "unexpected %s",
		    proto_type_name(j->untrusted_req->type));
		break;
	}
}
