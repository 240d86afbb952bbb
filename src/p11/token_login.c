/*
 * token_login.c - logging in to a token: with a PIN, on its PIN pad, or
 * automatically with the configured PIN (never twice after a rejection).
 */
#include <string.h>

#include "core/err.h"
#include "p11/token_int.h"

/* ---- logging in ---- */

/*
 * What a failed C_Login with a PIN (given: the PIN was not NULL) says.
 * yubihsm_pkcs11 answers a PIN without its 4-hex-digit authentication key
 * id with CKR_ARGUMENTS_BAD: the PIN's form is wrong, which is what
 * CKR_PIN_INVALID says (tokens/yubihsm2.md).
 */
static CK_RV
login_rv(CK_RV rv, int given)
{
	return given && rv == CKR_ARGUMENTS_BAD ? CKR_PIN_INVALID : rv;
}

/*
 * Log in to t, with t->login_lock held.  *didp: a C_Login succeeded (the key
 * list should be read again).  The PIN from a file is wiped here; the
 * caller's (LOGIN_USER) by the caller.
 */
int
tok_login_locked(struct tok *t, enum login_mode mode, unsigned flags, uint8_t *pin,
    size_t pin_len, int *didp)
{
	CK_FUNCTION_LIST *fn = t->m->fn;
	uint8_t filepin[LIMIT_P11_PIN + 2];
	const struct sel *s;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	uint8_t *use = NULL;
	size_t idx, use_len = 0;
	unsigned gen;
	int r, held = 0, logged_in, auto_rejected;
	CK_RV rv;

	*didp = 0;
	memset(filepin, 0, sizeof(filepin));
	if ((r = tok_acquire(t, 0, &idx, &h, &gen)) != 0)
		goto out;
	held = 1;
	pthread_mutex_lock(&t->lock);
	logged_in = t->logged_in;
	auto_rejected = t->auto_rejected;
	slot = t->slot;
	pthread_mutex_unlock(&t->lock);
	if (logged_in) {
		r = 0;
		goto out;
	}
	/* The PIN counters as they are now, not as at the last scan. */
	if ((rv = fn->C_GetTokenInfo(slot, &ti)) != CKR_OK) {
		r = tok_fail(t, gen, rv);
		goto out;
	}
	tok_set_info(t, gen, &ti);
	if (ti.flags & CKF_USER_PIN_LOCKED) {
		r = ERR_P11_PIN_LOCKED;
		goto out;
	}
	if (mode != LOGIN_AUTO && !(flags & P11_LOGIN_LOW_TRIES_CONFIRMED) &&
	    (ti.flags & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW))) {
		r = ti.flags & CKF_USER_PIN_FINAL_TRY ? ERR_P11_PIN_FINAL_TRY : ERR_P11_PIN_COUNT_LOW;
		goto out;
	}
	switch (mode) {
	case LOGIN_PAD:
		if (!(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
			r = ERR_P11_NO_PIN_PAD;
			goto out;
		}
		break;
	case LOGIN_AUTO:
		if (t->pin_sel < 0) {
			r = ERR_P11_NOT_LOGGED_IN;
			goto out;
		}
		if (auto_rejected) {
			r = ERR_P11_PIN_AUTO_REJECTED;
			goto out;
		}
		if (ti.flags & CKF_USER_PIN_FINAL_TRY) {
			r = ERR_P11_PIN_FINAL_TRY;
			goto out;
		}
		if (ti.flags & CKF_USER_PIN_COUNT_LOW) {
			r = ERR_P11_PIN_COUNT_LOW;
			goto out;
		}
		s = &t->m->sels[t->pin_sel];
		if (s->pin_value != NULL) {
			use = s->pin_value;
			use_len = s->pin_value_len;
		} else {
			if ((r = tok_pin_file_read(s->pin_file, filepin, sizeof(filepin), &use_len)) != 0)
				goto out;
			use = filepin;
		}
		break;
	case LOGIN_USER:
		use = pin;
		use_len = pin_len;
		break;
	}
	rv = login_rv(fn->C_Login(h, CKU_USER, use, (CK_ULONG)use_len), use != NULL);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		pthread_mutex_lock(&t->lock);
		if (t->gen == gen)
			t->logged_in = 1;
		pthread_mutex_unlock(&t->lock);
		*didp = rv == CKR_OK;
		/* A good PIN resets the token's failed-try flags. */
		if (fn->C_GetTokenInfo(slot, &ti) == CKR_OK)
			tok_set_info(t, gen, &ti);
		r = 0;
		goto out;
	}
	/* A PIN of the wrong form will not be right next time either. */
	if ((rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) &&
	    mode == LOGIN_AUTO) {
		pthread_mutex_lock(&t->lock);
		t->auto_rejected = 1;
		pthread_mutex_unlock(&t->lock);
	}
	r = tok_fail(t, gen, rv);
	/* A failed try changes the token's PIN counters: let the listing show them. */
	if (!tok_is_removal(rv) && fn->C_GetTokenInfo(slot, &ti) == CKR_OK)
		tok_set_info(t, gen, &ti);
 out:
	explicit_bzero(filepin, sizeof(filepin));
	if (held)
		tok_release(t, idx, 0);
	if (mode == LOGIN_AUTO) {
		pthread_mutex_lock(&t->lock);
		t->login_error = r;
		pthread_mutex_unlock(&t->lock);
	}
	return r;
}

static int
tok_login(struct tok *t, enum login_mode mode, unsigned flags, uint8_t *pin, size_t pin_len)
{
	int r, did;

	pthread_mutex_lock(&t->login_lock);
	r = tok_login_locked(t, mode, flags, pin, pin_len, &did);
	pthread_mutex_unlock(&t->login_lock);
	if (r == 0 && did)
		tok_scan_keys(t);
	return r;
}

/* Log in automatically if the token needs it and a URI gives a PIN. */
int
tok_ensure_login(struct tok *t)
{
	int need, can;

	pthread_mutex_lock(&t->lock);
	need = tok_needs_login(t);
	can = t->pin_sel >= 0;
	pthread_mutex_unlock(&t->lock);
	if (!need)
		return 0;
	if (!can)
		return ERR_P11_NOT_LOGGED_IN;
	return tok_login(t, LOGIN_AUTO, 0, NULL, 0);
}

int
p11_token_login(struct p11_module *m, unsigned token, unsigned flags, uint8_t *pin,
    size_t pin_len)
{
	struct tok *t;
	int r;

	if (m == NULL || pin == NULL || pin_len == 0)
		r = ERR_INVALID_ARGUMENT;
	else if (pin_len > LIMIT_P11_PIN)
		r = ERR_TOO_LONG;
	else if ((t = tok_get(m, token)) == NULL)
		r = ERR_P11_TOKEN_UNKNOWN;
	else
		r = tok_login(t, LOGIN_USER, flags, pin, pin_len);
	if (pin != NULL)
		explicit_bzero(pin, pin_len);
	return r;
}

int
p11_token_login_pad(struct p11_module *m, unsigned token, unsigned flags)
{
	struct tok *t;

	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((t = tok_get(m, token)) == NULL)
		return ERR_P11_TOKEN_UNKNOWN;
	return tok_login(t, LOGIN_PAD, flags, NULL, 0);
}
