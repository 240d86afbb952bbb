/*
 * token_pool.c - tokens and their session pools: a token's generation,
 * its sessions, the first-come-first-served line for one (tok_acquire),
 * and what a PKCS#11 return value means for the token.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "p11/token_int.h"

void
tok_secret_free(void *p, size_t n)
{
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
}

int
tok_is_removal(CK_RV rv)
{
	return rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED ||
	    rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_TOKEN_NOT_RECOGNIZED;
}

int
tok_rv_err(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_HOST_MEMORY:
		return ERR_NOMEM;
	case CKR_USER_NOT_LOGGED_IN:
		return ERR_P11_NOT_LOGGED_IN;
	case CKR_PIN_INCORRECT:
		return ERR_P11_PIN_INCORRECT;
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return ERR_P11_PIN_INVALID;
	case CKR_PIN_LOCKED:
		return ERR_P11_PIN_LOCKED;
	case CKR_FUNCTION_CANCELED:
		return ERR_P11_CANCELED;
	default:
		return tok_is_removal(rv) ? ERR_P11_TOKEN_REMOVED : ERR_P11_MODULE;
	}
}

/* What C_GenerateKeyPair or its set-up says when the token cannot do it. */
int
tok_keygen_err(CK_RV rv)
{
	switch (rv) {
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_DOMAIN_PARAMS_INVALID:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_TEMPLATE_INCOMPLETE:
	case CKR_ATTRIBUTE_TYPE_INVALID:
	case CKR_ATTRIBUTE_VALUE_INVALID:
	case CKR_ATTRIBUTE_READ_ONLY:
	case CKR_KEY_SIZE_RANGE:
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_TOKEN_WRITE_PROTECTED:
	case CKR_ACTION_PROHIBITED:
		return ERR_P11_KEYGEN_UNSUPPORTED;
	case CKR_USER_NOT_LOGGED_IN:
		/*
		 * We are logged in as the user by now: the module wants its SO.
		 * OpenSC does so for OpenPGP cards (pkcs15init needs the Admin PIN).
		 */
		return ERR_P11_KEYGEN_NEEDS_SO;
	default:
		return tok_rv_err(rv);
	}
}

/* CK_UTF8CHAR fields are blank-padded, not NUL-terminated. */
void
tok_ck_str(char *dst, size_t dstsz, const CK_UTF8CHAR *src, size_t n)
{
	size_t i;

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
		n--;
	if (n > dstsz - 1)
		n = dstsz - 1;
	for (i = 0; i < n; i++)
		dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : (char)src[i];
	dst[n] = '\0';
}

static int
same_token(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b)
{
	return memcmp(a->label, b->label, sizeof(a->label)) == 0 &&
	    memcmp(a->manufacturerID, b->manufacturerID, sizeof(a->manufacturerID)) == 0 &&
	    memcmp(a->model, b->model, sizeof(a->model)) == 0 &&
	    memcmp(a->serialNumber, b->serialNumber, sizeof(a->serialNumber)) == 0;
}

/* ---- tokens and their session pools ---- */

struct tok *
tok_get(struct p11_module *m, unsigned number)
{
	struct tok *t = NULL;

	pthread_mutex_lock(&m->lock);
	if (number < m->ntokens)
		t = m->tokens[number];
	pthread_mutex_unlock(&m->lock);
	return t;
}

void
tok_keys_free(struct key *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		free(keys[i].k.uri);
	free(keys);
}

void
tok_free(struct tok *t)
{
	if (t == NULL)
		return;
	tok_keys_free(t->keys, t->nkeys);
	pthread_mutex_destroy(&t->login_lock);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cv);
	free(t);
}

unsigned
tok_pin_state(const struct tok *t)
{
	CK_FLAGS f = t->info.flags;
	unsigned s = 0;

	if (f & CKF_LOGIN_REQUIRED)
		s |= P11_PIN_LOGIN_REQUIRED;
	if (t->logged_in)
		s |= P11_PIN_LOGGED_IN;
	if (f & CKF_PROTECTED_AUTHENTICATION_PATH)
		s |= P11_PIN_PAD;
	if (f & CKF_USER_PIN_COUNT_LOW)
		s |= P11_PIN_COUNT_LOW;
	if (f & CKF_USER_PIN_FINAL_TRY)
		s |= P11_PIN_FINAL_TRY;
	if (f & CKF_USER_PIN_LOCKED)
		s |= P11_PIN_LOCKED;
	if (f & CKF_USER_PIN_TO_BE_CHANGED)
		s |= P11_PIN_TO_BE_CHANGED;
	if (t->pin_sel >= 0)
		s |= P11_PIN_AUTO;
	if (t->auto_rejected)
		s |= P11_PIN_AUTO_REJECTED;
	return s;
}

/* Under t->lock. */
int
tok_needs_login(const struct tok *t)
{
	return (t->info.flags & CKF_LOGIN_REQUIRED) && !t->logged_in;
}

/* The token is gone (as of generation gen): its keys leave the list, its login is lost. */
void
tok_removed(struct tok *t, unsigned gen)
{
	size_t i;

	pthread_mutex_lock(&t->lock);
	if (t->present && t->gen == gen) {
		t->present = 0;
		t->gen++;
		t->logged_in = 0;
		for (i = 0; i < t->nkeys; i++)
			t->keys[i].priv = CK_INVALID_HANDLE;
		pthread_cond_broadcast(&t->cv);
	}
	pthread_mutex_unlock(&t->lock);
}

/* A call on generation gen failed with rv: note what it says about the token. */
int
tok_fail(struct tok *t, unsigned gen, CK_RV rv)
{
	if (tok_is_removal(rv))
		tok_removed(t, gen);
	else if (rv == CKR_USER_NOT_LOGGED_IN) {
		pthread_mutex_lock(&t->lock);
		if (t->gen == gen)
			t->logged_in = 0;
		pthread_mutex_unlock(&t->lock);
	}
	return tok_rv_err(rv);
}

/*
 * How long a signing call that failed in a way a removal explains waits for
 * the module to see the token go.  OpenSC answers a card pulled during an
 * APDU with CKR_DEVICE_ERROR, and pcscd notices the empty reader on its next
 * poll (every 400 ms): the slot says "no token" a moment later.
 */
#define SIGN_REMOVAL_SETTLE_MS	1000
#define SIGN_REMOVAL_POLL_MS	50

/*
 * 1 when t's slot says, within SIGN_REMOVAL_SETTLE_MS, that the token is
 * gone; it is then marked removed (as of generation gen).  0 otherwise.
 */
int
tok_gone(struct tok *t, unsigned gen)
{
	CK_FUNCTION_LIST *fn = t->m->fn;
	struct timespec ts = { 0, SIGN_REMOVAL_POLL_MS * 1000000L };
	CK_SLOT_INFO si;
	CK_SLOT_ID slot;
	CK_RV srv;
	int waited;

	pthread_mutex_lock(&t->lock);
	slot = t->slot;
	pthread_mutex_unlock(&t->lock);
	for (waited = 0; waited <= SIGN_REMOVAL_SETTLE_MS; waited += SIGN_REMOVAL_POLL_MS) {
		srv = fn->C_GetSlotInfo(slot, &si);
		if (tok_is_removal(srv) || (srv == CKR_OK && !(si.flags & CKF_TOKEN_PRESENT))) {
			tok_removed(t, gen);
			return 1;
		}
		if (srv != CKR_OK)
			break;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * A signing call on generation gen failed with rv.  Besides what tok_fail()
 * does: a device error on a token that turns out to be gone is a removal,
 * and is said so (tokens/gnuk.md).  Nothing is retried: no signature is made.
 */
int
tok_sign_fail(struct tok *t, unsigned gen, CK_RV rv)
{
	if ((rv == CKR_DEVICE_ERROR || rv == CKR_FUNCTION_FAILED || rv == CKR_GENERAL_ERROR) &&
	    tok_gone(t, gen))
		return ERR_P11_TOKEN_REMOVED;
	return tok_fail(t, gen, rv);
}

/*
 * The key to sign with was not found on generation gen.  yubihsm_pkcs11
 * finds no objects, without an error, on a device its connector has just
 * lost: a key that vanished with its token is a removal, not an unknown
 * account (tokens/yubihsm2.md).  When the slot does not say so within
 * SIGN_REMOVAL_SETTLE_MS, the key is still one the caller was shown:
 * ERR_P11_KEY_VANISHED says what can have happened, never "unknown account".
 */
int
tok_sign_no_key(struct tok *t, unsigned gen)
{
	/* Not "not found": the key was listed, so the caller knows it. */
	return tok_gone(t, gen) ? ERR_P11_TOKEN_REMOVED : ERR_P11_KEY_VANISHED;
}

void
tok_set_info(struct tok *t, unsigned gen, const CK_TOKEN_INFO *ti)
{
	pthread_mutex_lock(&t->lock);
	if (t->gen == gen)
		t->info = *ti;
	pthread_mutex_unlock(&t->lock);
}

/*
 * Sessions held (or being opened) for requests.  The token's own work (a
 * key scan, the liveness check, a login) holds sessions too, for a moment,
 * and is not counted: a request is admitted by how many requests the token
 * has, not by what else it happens to be doing, or a full window of
 * requests would meet a "busy" now and then.  t->lock held.
 */
static unsigned
tok_sessions_for_requests(const struct tok *t)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < TOK_SESSIONS; i++)
		n += t->sess[i].busy && t->sess[i].request;
	return n;
}

/* Leave tok_acquire()'s line, from its head: the next caller's turn. */
static void
tok_line_leave(struct tok *t, int bounded)
{
	t->ticket_now++;
	if (bounded)
		t->waiting--;
	pthread_cond_broadcast(&t->cv);
}

/*
 * A session of t's pool for one call: entry *idxp, handle *hp, generation
 * *genp.  Opens one when none is idle and the pool has room, else waits for
 * one to come back.  Callers are served in the order they came (a ticket
 * each; a plain condition variable wakes anyone, and a caller could wait
 * for ever behind later ones).  bounded: a request (a signature); a token
 * has at most its pool plus LIMIT_P11_TOKEN_WAITERS requests, holding a
 * session or in line for one, and one more is refused at once with
 * ERR_P11_TOKEN_BUSY: a slow token holds
 * few of the helper's workers, and its callers learn it now, not after
 * every signature queued ahead of them.  The token's own work (a key scan, a login: one at a time
 * each) is not bounded nor counted, lest a busy token lose its key list.
 * A caller that opens a session leaves the line while it does (the next
 * need not wait for C_OpenSession), and goes back to its end when the open
 * fails.  Errors: ERR_P11_TOKEN_BUSY, ERR_P11_TOKEN_REMOVED, what
 * C_OpenSession says.
 */
int
tok_acquire(struct tok *t, int bounded, size_t *idxp, CK_SESSION_HANDLE *hp, unsigned *genp)
{
	CK_FUNCTION_LIST *fn = t->m->fn;
	struct tok_session *s;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	unsigned gen, cur;
	unsigned long ticket;
	size_t i, free_i;
	CK_RV rv;
	int r, turn = 0;

	pthread_mutex_lock(&t->lock);
	if (bounded &&
	    t->waiting + tok_sessions_for_requests(t) >= t->pool + LIMIT_P11_TOKEN_WAITERS) {
		r = ERR_P11_TOKEN_BUSY;
		goto out;
	}
	ticket = t->ticket_next++;
	if (bounded)
		t->waiting++;
	for (;;) {
		while (ticket != t->ticket_now)
			pthread_cond_wait(&t->cv, &t->lock);
		turn = 1;
		if (!t->present) {
			r = ERR_P11_TOKEN_REMOVED;
			break;
		}
		cur = 0;
		free_i = TOK_SESSIONS;
		for (i = 0; i < TOK_SESSIONS; i++) {
			s = &t->sess[i];
			if (s->open && s->gen == t->gen) {
				if (!s->busy) {
					s->busy = 1;
					s->request = bounded;
					*idxp = i;
					*hp = s->h;
					*genp = s->gen;
					r = 0;
					goto out;
				}
				cur++;
			} else if (!s->open && !s->busy && free_i == TOK_SESSIONS)
				free_i = i;
		}
		if (cur + t->opening >= t->pool || free_i == TOK_SESSIONS) {
			pthread_cond_wait(&t->cv, &t->lock);
			continue;
		}
		t->sess[free_i].busy = 1;	/* reserved while it opens */
		t->sess[free_i].request = bounded;
		t->opening++;
		tok_line_leave(t, bounded);	/* out of the line meanwhile */
		turn = 0;
		slot = t->slot;
		gen = t->gen;
		pthread_mutex_unlock(&t->lock);
		rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
		pthread_mutex_lock(&t->lock);
		t->opening--;
		s = &t->sess[free_i];
		if (rv == CKR_OK && t->present && t->gen == gen) {
			s->h = h;
			s->gen = gen;
			s->open = 1;
			*idxp = free_i;
			*hp = h;
			*genp = gen;
			r = 0;
			break;
		}
		s->busy = 0;
		s->request = 0;
		pthread_cond_broadcast(&t->cv);
		if (rv == CKR_OK) {
			/* Removed meanwhile: no new generation can have opened yet. */
			pthread_mutex_unlock(&t->lock);
			fn->C_CloseSession(h);
			pthread_mutex_lock(&t->lock);
		} else if (tok_is_removal(rv)) {
			pthread_mutex_unlock(&t->lock);
			tok_removed(t, gen);
			pthread_mutex_lock(&t->lock);
		} else if (cur == 0) {
			r = tok_rv_err(rv);
			break;
		} else
			t->pool = cur;	/* CKR_SESSION_COUNT and the like: make do */
		ticket = t->ticket_next++;	/* admitted already: no bound */
		if (bounded)
			t->waiting++;
	}
 out:
	if (turn)
		tok_line_leave(t, bounded);	/* served or failed */
	pthread_mutex_unlock(&t->lock);
	return r;
}

/*
 * Give a session back.  bad: it may be left in an operation (closed now;
 * closing the last one logs the token out).
 */
void
tok_release(struct tok *t, size_t idx, int bad)
{
	struct tok_session *s;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	size_t i;
	unsigned cur = 0;

	pthread_mutex_lock(&t->lock);
	s = &t->sess[idx];
	s->busy = 0;
	s->request = 0;
	if (s->gen != t->gen && t->present)
		s->open = 0;	/* of an ended generation, and a new one has begun */
	else if (bad && s->gen == t->gen) {
		h = s->h;
		s->open = 0;
		for (i = 0; i < TOK_SESSIONS; i++)
			cur += t->sess[i].open && t->sess[i].gen == t->gen;
		if (cur == 0)
			t->logged_in = 0;
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	if (h != CK_INVALID_HANDLE)
		t->m->fn->C_CloseSession(h);
}


/* 1 when the daemon said this token rejected its configured PIN before, 0 if not, -1: no memory. */
static int
pin_rejected_before(const struct p11_module *m, const CK_TOKEN_INFO *ti)
{
	char *uri;
	size_t i;
	int r = 0;

	if (m->pin_rejected == NULL || m->pin_rejected[0] == NULL)
		return 0;
	if ((uri = tok_info_uri(ti)) == NULL)
		return -1;
	for (i = 0; m->pin_rejected[i] != NULL && r == 0; i++)
		r = strcmp(m->pin_rejected[i], uri) == 0;
	free(uri);
	return r;
}

struct tok *
tok_new(struct p11_module *m, CK_SLOT_ID slot, const CK_SLOT_INFO *si, const CK_TOKEN_INFO *ti)
{
	struct tok *t, **grown;
	size_t i;

	if (m->ntokens >= MOD_TOKENS || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->m = m;
	t->slot = slot;
	t->slot_info = *si;
	t->info = *ti;
	t->pool = m->pool;
	t->pin_sel = -1;
	for (i = 0; i < m->nsels && t->pin_sel < 0; i++)
		if ((m->sels[i].pin_value != NULL || m->sels[i].pin_file != NULL) &&
		    tok_sel_matches_token(&m->sels[i], slot, si, ti))
			t->pin_sel = (int)i;
	/* Rejected in an earlier run: trying it again would spend another try. */
	if (t->pin_sel >= 0 && (t->auto_rejected = pin_rejected_before(m, ti)) < 0) {
		free(t);
		return NULL;
	}
	if (pthread_mutex_init(&t->login_lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		pthread_mutex_destroy(&t->login_lock);
		free(t);
		return NULL;
	}
	if (pthread_cond_init(&t->cv, NULL) != 0) {
		pthread_mutex_destroy(&t->lock);
		pthread_mutex_destroy(&t->login_lock);
		free(t);
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	grown = realloc(m->tokens, (m->ntokens + 1) * sizeof(*grown));
	if (grown != NULL) {
		m->tokens = grown;
		t->number = (unsigned)m->ntokens;
		m->tokens[m->ntokens++] = t;
	}
	pthread_mutex_unlock(&m->lock);
	if (grown == NULL) {
		tok_free(t);
		return NULL;
	}
	return t;
}

/* The token remembered for what is in this slot: same identity, and either
 * this slot or not present elsewhere.  Under m->scan_lock. */
struct tok *
tok_find(struct p11_module *m, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti)
{
	struct tok *t, *best = NULL;
	size_t i;
	int here, elsewhere_free;

	for (i = 0; i < m->ntokens; i++) {
		t = m->tokens[i];
		if (t->seen)
			continue;
		pthread_mutex_lock(&t->lock);
		here = same_token(&t->info, ti) && t->slot == slot;
		elsewhere_free = same_token(&t->info, ti) && !t->present;
		pthread_mutex_unlock(&t->lock);
		if (here)
			return t;
		if (elsewhere_free && best == NULL)
			best = t;
	}
	return best;
}

/* A token (back) in its slot: close what is left of its old sessions, open one. */
int
tok_bring_up(struct tok *t, CK_SLOT_ID slot, const CK_SLOT_INFO *si, const CK_TOKEN_INFO *ti)
{
	CK_FUNCTION_LIST *fn = t->m->fn;
	CK_SESSION_HANDLE old[TOK_SESSIONS], h;
	CK_SESSION_INFO info;
	CK_SLOT_ID old_slot;
	size_t i, nold = 0, free_i = TOK_SESSIONS;
	CK_RV rv;
	int logged;

	pthread_mutex_lock(&t->lock);
	if (t->present) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	old_slot = t->slot;
	for (i = 0; i < TOK_SESSIONS; i++) {
		if (t->sess[i].open && !t->sess[i].busy) {
			old[nold++] = t->sess[i].h;
			t->sess[i].open = 0;
		}
	}
	pthread_mutex_unlock(&t->lock);
	/*
	 * Most are gone with the token already.  A handle the module has since
	 * given to a session of another slot is not ours to close.
	 */
	for (i = 0; i < nold; i++)
		if (fn->C_GetSessionInfo(old[i], &info) == CKR_OK && info.slotID == old_slot)
			fn->C_CloseSession(old[i]);

	if ((rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h)) != CKR_OK)
		return tok_rv_err(rv);
	rv = fn->C_GetSessionInfo(h, &info);
	logged = rv == CKR_OK &&
	    (info.state == CKS_RO_USER_FUNCTIONS || info.state == CKS_RW_USER_FUNCTIONS);

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < TOK_SESSIONS && free_i == TOK_SESSIONS; i++)
		if (!t->sess[i].open && !t->sess[i].busy)
			free_i = i;
	if (free_i == TOK_SESSIONS) {
		pthread_mutex_unlock(&t->lock);
		fn->C_CloseSession(h);
		return ERR_TOO_MANY;
	}
	t->sess[free_i].h = h;
	t->sess[free_i].gen = t->gen;
	t->sess[free_i].open = 1;
	t->slot = slot;
	t->slot_info = *si;
	t->info = *ti;
	t->present = 1;
	t->scanned = 0;
	t->logged_in = logged;
	t->pool = t->m->pool;
	t->login_error = 0;
	tok_keys_free(t->keys, t->nkeys);
	t->keys = NULL;
	t->nkeys = 0;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Ask the idle sessions of a present token whether they still live and are logged in. */
void
tok_check(struct tok *t)
{
	CK_FUNCTION_LIST *fn = t->m->fn;
	size_t idx[TOK_SESSIONS], n = 0, i;
	CK_SESSION_HANDLE h[TOK_SESSIONS];
	CK_SESSION_INFO info;
	unsigned gen;
	int removed = 0, logged = -1;
	CK_RV rv;

	pthread_mutex_lock(&t->lock);
	gen = t->gen;
	for (i = 0; i < TOK_SESSIONS; i++) {
		if (t->sess[i].open && !t->sess[i].busy && t->sess[i].gen == gen) {
			t->sess[i].busy = 1;
			idx[n] = i;
			h[n++] = t->sess[i].h;
		}
	}
	pthread_mutex_unlock(&t->lock);
	for (i = 0; i < n && !removed; i++) {
		rv = fn->C_GetSessionInfo(h[i], &info);
		if (tok_is_removal(rv))
			removed = 1;
		else if (rv == CKR_OK)
			logged = info.state == CKS_RO_USER_FUNCTIONS ||
			    info.state == CKS_RW_USER_FUNCTIONS;
	}
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < n; i++)
		t->sess[idx[i]].busy = 0;
	if (!removed && logged >= 0 && t->gen == gen)
		t->logged_in = logged;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	if (removed)
		tok_removed(t, gen);
}
