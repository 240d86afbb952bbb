/*
 * token.c - secp256k1 keys on PKCS#11 tokens, through p11-kit (token.h).
 *
 * Locks, outermost first: m->scan_lock (one rescan at a time), t->login_lock
 * (one C_Login per token, which may wait on a PIN pad), m->lock (the token
 * array), t->lock (one token's state and session pool).  No PKCS#11 call is
 * made with m->lock or t->lock held, so a slow token holds up only callers
 * that need that very token.  m->ev_lock guards the slot-event thread.
 *
 * Sessions: each token has a generation, bumped when it is found removed.
 * A session belongs to the generation it was opened in.  Sessions of an
 * ended generation are never used again; they are closed before the token's
 * next generation opens its first session, and not after (a module may hand
 * out the same handle again once it has dropped the old session, and closing
 * it then would close someone else's).  One left busy by a call that outlives
 * the removal is simply forgotten.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include "eth/addr.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/sig.h"
#include "p11/registry.h"
#include "p11/token.h"

/* DER of the OID 1.3.132.0.10, secp256k1, as CKA_EC_PARAMS holds it. */
static const uint8_t secp256k1_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };

const char *const p11_token_allowed_default[] = { "/usr/lib*/", "/usr/local/lib*/", NULL };

/* Pool entries: current sessions, plus room for old ones still busy. */
#define TOK_SESSIONS		(2 * LIMIT_P11_SESSIONS)
/* Tokens remembered per module (a token coming back under a new label is new). */
#define MOD_TOKENS		(4 * LIMIT_P11_SLOTS)
/* How long p11_token_close() waits for the slot-event thread to leave the module. */
#define EV_JOIN_SECONDS		5

struct tok_session {
	CK_SESSION_HANDLE h;
	unsigned gen;		/* the token's generation when it was opened */
	int open;
	int busy;		/* in use by a call, or being opened */
};

struct key {
	struct p11_key k;		/* k.uri owned */
	uint8_t label_raw[LIMIT_P11_LABEL];	/* CKA_LABEL as the token has it */
	size_t label_len;
	CK_OBJECT_HANDLE priv;		/* CK_INVALID_HANDLE: look it up when signing */
};

struct tok {
	struct p11_module *m;
	unsigned number;
	int pin_sel;			/* the URI whose PIN applies, -1: none; set once */
	int seen;			/* under m->scan_lock: in the slot list now */
	pthread_mutex_t login_lock;
	pthread_mutex_t lock;
	pthread_cond_t cv;		/* a session came back, or the token left */
	/* under lock: */
	CK_SLOT_ID slot;
	CK_SLOT_INFO slot_info;
	CK_TOKEN_INFO info;
	int present;
	int scanned;		/* keys read since it came up: only then is it shown present */
	unsigned gen;
	struct tok_session sess[TOK_SESSIONS];
	unsigned opening;		/* sessions being opened */
	unsigned pool;			/* current sessions allowed */
	/*
	 * tok_acquire()'s line, first come first served: a caller takes the
	 * ticket ticket_next and goes only when ticket_now reaches it.  waiting:
	 * the requests (bounded callers) in the line, at most
	 * LIMIT_P11_TOKEN_WAITERS.
	 */
	unsigned long ticket_next;
	unsigned long ticket_now;
	unsigned waiting;
	int logged_in;
	int auto_rejected;
	int login_error;
	struct key *keys;		/* kept while removed, for a clear error */
	size_t nkeys;
};

struct sel {
	P11KitUri *uri;
	CK_SLOT_ID slot_id;		/* (CK_SLOT_ID)-1: any */
	uint8_t *pin_value;		/* pin-value, wiped on close */
	size_t pin_value_len;
	char *pin_file;			/* pin-source, as a path */
};

enum ev_state { EV_IDLE, EV_RUNNING, EV_UNSUPPORTED, EV_FAILED };

struct p11_module {
	CK_FUNCTION_LIST *fn;
	int initialized;
	int locks_ready;
	char *path;			/* the module file, resolved */
	CK_INFO info;
	char *name;			/* its p11-kit registered name, or NULL */
	unsigned pool;
	char **allowed;			/* resolved allowlist, NULL-terminated */
	char **pin_rejected;		/* token URIs: configured PIN rejected before; NULL-terminated */
	struct sel *sels;
	size_t nsels;
	pthread_mutex_t scan_lock;
	pthread_mutex_t lock;
	struct tok **tokens;		/* appended under scan_lock and lock */
	size_t ntokens;
	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cv;		/* CLOCK_MONOTONIC */
	pthread_t ev_thread;
	int ev_started;
	enum ev_state ev_state;
	CK_RV ev_rv;
	unsigned long ev_pending;
	unsigned ev_waiters;
	int closing;
};

enum login_mode { LOGIN_USER, LOGIN_PAD, LOGIN_AUTO };


static void
secret_free(void *p, size_t n)
{
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
}

static int
is_removal(CK_RV rv)
{
	return rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED ||
	    rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_TOKEN_NOT_RECOGNIZED;
}

static int
rv_err(CK_RV rv)
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
		return is_removal(rv) ? ERR_P11_TOKEN_REMOVED : ERR_P11_MODULE;
	}
}

/* What C_GenerateKeyPair or its set-up says when the token cannot do it. */
static int
keygen_err(CK_RV rv)
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
		return rv_err(rv);
	}
}

/* CK_UTF8CHAR fields are blank-padded, not NUL-terminated. */
static void
ck_str(char *dst, size_t dstsz, const CK_UTF8CHAR *src, size_t n)
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

/* ---- parsing what comes from outside ---- */

int
p11_token_ec_point_parse(const uint8_t *untrusted, size_t len, uint8_t pub65[65])
{
	const uint8_t *p = untrusted;
	size_t n = len;

	if (untrusted == NULL)
		return ERR_P11_EC_POINT;
	/* DER OCTET STRING, short-form length, around a 65- or 33-byte point. */
	if ((len == 67 || len == 35) && untrusted[0] == 0x04 && untrusted[1] == len - 2) {
		p = untrusted + 2;
		n = len - 2;
	}
	if (!((n == 65 && p[0] == 0x04) || (n == 33 && (p[0] == 0x02 || p[0] == 0x03))))
		return ERR_P11_EC_POINT;
	if (eth_sig_pubkey_parse(p, n, pub65) != 0)
		return ERR_P11_EC_POINT;
	return 0;
}

int
p11_token_path_allowed(const char *path, const char *const *allowed)
{
	char prefix[PATH_MAX];
	const char *p;
	size_t i, plen, slashes, seen, len;

	if (path == NULL || path[0] != '/' || allowed == NULL)
		return 0;
	for (i = 0; allowed[i] != NULL; i++) {
		const char *pat = allowed[i];

		plen = strlen(pat);
		if (plen < 2 || pat[0] != '/' || pat[plen - 1] != '/')
			continue;
		for (slashes = 0, p = pat; *p != '\0'; p++)
			slashes += *p == '/';
		/* The path up to and including its slashes-th slash. */
		for (len = 0, seen = 0, p = path; *p != '\0'; p++) {
			if (*p == '/' && ++seen == slashes) {
				len = (size_t)(p - path) + 1;
				break;
			}
		}
		if (len == 0 || path[len] == '\0' || len >= sizeof(prefix))
			continue;
		memcpy(prefix, path, len);
		prefix[len] = '\0';
		if (fnmatch(pat, prefix, FNM_PATHNAME | FNM_PERIOD) == 0)
			return 1;
	}
	return 0;
}

/* Query attributes p11-kit understands; it keeps any other silently. */
static int
uri_query_known(const char *s)
{
	static const char *const known[] = {
		"pin-source", "pin-value", "module-name", "module-path", NULL
	};
	const char *name = strchr(s, '?'), *end, *eq;
	size_t i;
	int ok;

	if (name == NULL)
		return 1;
	for (name++; *name != '\0'; name = *end != '\0' ? end + 1 : end) {
		end = name + strcspn(name, "&");
		eq = memchr(name, '=', (size_t)(end - name));
		if (eq == NULL)
			return 0;
		for (ok = 0, i = 0; known[i] != NULL && !ok; i++)
			ok = strlen(known[i]) == (size_t)(eq - name) &&
			    memcmp(known[i], name, (size_t)(eq - name)) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

static void
uri_free(P11KitUri *u)
{
	const char *pv;

	if (u == NULL)
		return;
	/* p11-kit frees its copy of a pin-value without wiping it. */
	if ((pv = p11_kit_uri_get_pin_value(u)) != NULL)
		explicit_bzero((char *)(uintptr_t)pv, strlen(pv));
	p11_kit_uri_free(u);
}

static int
uri_parse(const char *s, P11KitUri **urip)
{
	P11KitUri *u;
	int pr, r;

	*urip = NULL;
	if (s == NULL)
		return ERR_INVALID_ARGUMENT;
	if (strlen(s) > LIMIT_P11_URI)
		return ERR_TOO_LONG;
	if ((u = p11_kit_uri_new()) == NULL)
		return ERR_NOMEM;
	pr = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, u);
	if (pr == P11_KIT_URI_NO_MEMORY)
		r = ERR_NOMEM;
	else if (pr != P11_KIT_URI_OK)
		r = ERR_P11_URI_INVALID;
	else if (p11_kit_uri_any_unrecognized(u) || !uri_query_known(s))
		r = ERR_P11_URI_UNRECOGNIZED;
	else {
		*urip = u;
		return 0;
	}
	uri_free(u);
	return r;
}

/* file:/p, file:///p, file://localhost/p, or an absolute path: the path. */
static const char *
pin_source_path(const char *src)
{
	if (strncmp(src, "file:", 5) == 0) {
		src += 5;
		if (strncmp(src, "//", 2) == 0) {
			src += 2;
			if (strncmp(src, "localhost/", 10) == 0)
				src += 9;
		}
	}
	return src[0] == '/' ? src : NULL;
}

/*
 * Read a PIN file into buf (cap bytes, cap > LIMIT_P11_PIN + 1), dropping one
 * trailing newline.  buf is wiped on failure.
 */
static int
pin_file_read(const char *path, uint8_t *buf, size_t cap, size_t *lenp)
{
	struct stat st;
	size_t len = 0;
	ssize_t got;
	int fd, r;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return ERR_P11_PIN_SOURCE;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = ERR_P11_PIN_SOURCE;
		goto out;
	}
	for (;;) {
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = ERR_P11_PIN_SOURCE;
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len == cap) {
			r = ERR_TOO_LONG;
			goto out;
		}
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		r = ERR_P11_PIN_SOURCE;
		goto out;
	}
	if (len > LIMIT_P11_PIN) {
		r = ERR_TOO_LONG;
		goto out;
	}
	*lenp = len;
	r = 0;
 out:
	if (r != 0)
		explicit_bzero(buf, cap);
	close(fd);
	return r;
}

static void
sel_clear(struct sel *s)
{
	uri_free(s->uri);
	secret_free(s->pin_value, s->pin_value_len);
	free(s->pin_file);
	memset(s, 0, sizeof(*s));
}

static int
sel_init(struct sel *s, const char *text)
{
	const char *pv, *ps, *path;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = uri_parse(text, &s->uri)) != 0)
		return r;
	s->slot_id = p11_kit_uri_get_slot_id(s->uri);
	pv = p11_kit_uri_get_pin_value(s->uri);
	ps = p11_kit_uri_get_pin_source(s->uri);
	if (pv != NULL && ps != NULL)
		return ERR_P11_URI_INVALID;
	if (pv != NULL) {
		s->pin_value_len = strlen(pv);
		if (s->pin_value_len == 0)
			return ERR_P11_URI_INVALID;
		if (s->pin_value_len > LIMIT_P11_PIN)
			return ERR_TOO_LONG;
		if ((s->pin_value = malloc(s->pin_value_len)) == NULL)
			return ERR_NOMEM;
		memcpy(s->pin_value, pv, s->pin_value_len);
		explicit_bzero((char *)(uintptr_t)pv, s->pin_value_len);
		p11_kit_uri_set_pin_value(s->uri, NULL);
	}
	if (ps != NULL) {
		if ((path = pin_source_path(ps)) == NULL)
			return ERR_P11_PIN_SOURCE;
		if ((s->pin_file = strdup(path)) == NULL)
			return ERR_NOMEM;
	}
	return 0;
}

static int
sel_matches_token(const struct sel *s, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
    const CK_TOKEN_INFO *ti)
{
	if (s->slot_id != (CK_SLOT_ID)-1 && s->slot_id != slot)
		return 0;
	return p11_kit_uri_match_slot_info(s->uri, si) && p11_kit_uri_match_token_info(s->uri, ti);
}

/* A URI naming the key's public key object names the key pair too. */
static int
uri_matches_key(const P11KitUri *uri, struct key *k)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->k.id, k->k.id_len },
		{ CKA_LABEL, k->label_raw, k->label_len },
	};

	if (p11_kit_uri_match_attributes(uri, a, 3))
		return 1;
	cls = CKO_PUBLIC_KEY;
	return p11_kit_uri_match_attributes(uri, a, 3);
}

/* ---- module files ---- */

static void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* A copy of a NULL-terminated list of at most max strings; NULL stays NULL. */
static int
strv_copy(const char *const *in, size_t max, char ***outp)
{
	char **out = NULL;
	size_t i, n;
	int r;

	*outp = NULL;
	if (in == NULL)
		return 0;
	for (n = 0; in[n] != NULL; n++)
		if (n == max)
			return ERR_TOO_MANY;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((out[i] = strdup(in[i])) == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
	}
	*outp = out;
	out = NULL;
	r = 0;
 out:
	strv_free(out);
	return r;
}

/* Copy the allowlist, with wildcard-free entries resolved like module paths. */
static int
allowed_resolve(const char *const *in, char ***outp)
{
	char **out = NULL, *rp;
	size_t i, n, len;
	int r;

	*outp = NULL;
	for (n = 0; in[n] != NULL; n++)
		if (n >= LIMIT_P11_ALLOWED_DIRS)
			return ERR_TOO_MANY;
	if ((out = calloc(n + 1, sizeof(*out))) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < n; i++) {
		len = strlen(in[i]);
		if (len < 2 || in[i][0] != '/' || in[i][len - 1] != '/' || len >= PATH_MAX) {
			r = ERR_INVALID_ARGUMENT;
			goto out;
		}
		if (strpbrk(in[i], "*?[") == NULL && (rp = realpath(in[i], NULL)) != NULL) {
			len = strlen(rp);
			if ((out[i] = malloc(len + 2)) != NULL)
				snprintf(out[i], len + 2, "%s%s", rp, rp[len - 1] == '/' ? "" : "/");
			free(rp);
		} else
			out[i] = strdup(in[i]);
		if (out[i] == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
	}
	*outp = out;
	out = NULL;
	r = 0;
 out:
	strv_free(out);
	return r;
}

static int
module_file_check(const char *path, char **allowed, char **resolvedp)
{
	struct stat st;
	char *rp;

	*resolvedp = NULL;
	if (path[0] != '/')
		return ERR_P11_MODULE_PATH;
	if (strlen(path) >= PATH_MAX)
		return ERR_TOO_LONG;
	if ((rp = realpath(path, NULL)) == NULL)
		return errno == ENOMEM ? ERR_NOMEM : ERR_P11_MODULE_PATH;
	if (stat(rp, &st) != 0 || !S_ISREG(st.st_mode)) {
		free(rp);
		return ERR_P11_MODULE_PATH;
	}
	if (!p11_token_path_allowed(rp, (const char *const *)allowed)) {
		free(rp);
		return ERR_P11_MODULE_NOT_ALLOWED;
	}
	*resolvedp = rp;
	return 0;
}

static int
module_load_path(struct p11_module *m, const char *path)
{
	void *dl = NULL;
	char *rp = NULL;
	int r;

	if ((r = module_file_check(path, m->allowed, &rp)) != 0)
		goto out;
	/*
	 * Our handle keeps the very file we checked loaded until p11-kit has
	 * opened it too (the loader then hands p11-kit the same object).
	 */
	if ((dl = dlopen(rp, RTLD_LAZY | RTLD_LOCAL)) == NULL ||
	    dlsym(dl, "C_GetFunctionList") == NULL) {
		r = ERR_P11_MODULE_NOT_PKCS11;
		goto out;
	}
	if ((m->fn = p11_kit_module_load(rp, 0)) == NULL) {
		r = ERR_P11_MODULE_LOAD;
		goto out;
	}
	m->path = rp;
	rp = NULL;
	r = 0;
 out:
	if (dl != NULL)
		dlclose(dl);
	free(rp);
	return r;
}

/*
 * A registered name: its file from p11-kit's configuration (registry.h), no
 * module loaded to find it; then that file as a path (checked, then loaded).
 */
static int
module_load_name(struct p11_module *m, const char *name)
{
	char *file = NULL;
	int r;

	if ((r = p11_registry_resolve(name, &p11_registry_default, &file, NULL, 0)) != 0)
		goto out;
	if ((r = module_load_path(m, file)) != 0)
		goto out;
	if ((m->name = strdup(name)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	r = 0;
 out:
	free(file);
	return r;
}

/* The URIs' module-path / module-name / library-* must fit the module loaded. */
static int
module_uris_check(struct p11_module *m, const CK_INFO *info)
{
	const char *mp, *mn;
	char *rp;
	size_t i;
	int same;

	for (i = 0; i < m->nsels; i++) {
		P11KitUri *u = m->sels[i].uri;

		if ((mp = p11_kit_uri_get_module_path(u)) != NULL) {
			rp = realpath(mp, NULL);
			same = rp != NULL && strcmp(rp, m->path) == 0;
			free(rp);
			if (!same)
				return ERR_P11_URI_MODULE;
		}
		if ((mn = p11_kit_uri_get_module_name(u)) != NULL &&
		    (m->name == NULL || strcmp(mn, m->name) != 0))
			return ERR_P11_URI_MODULE;
		if (info != NULL && !p11_kit_uri_match_module_info(u, info))
			return ERR_P11_URI_MODULE;
	}
	return 0;
}

/* ---- tokens and their session pools ---- */

static struct tok *
tok_get(struct p11_module *m, unsigned number)
{
	struct tok *t = NULL;

	pthread_mutex_lock(&m->lock);
	if (number < m->ntokens)
		t = m->tokens[number];
	pthread_mutex_unlock(&m->lock);
	return t;
}

static void
keys_free(struct key *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		free(keys[i].k.uri);
	free(keys);
}

static void
tok_free(struct tok *t)
{
	if (t == NULL)
		return;
	keys_free(t->keys, t->nkeys);
	pthread_mutex_destroy(&t->login_lock);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cv);
	free(t);
}

static unsigned
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
static int
tok_needs_login(const struct tok *t)
{
	return (t->info.flags & CKF_LOGIN_REQUIRED) && !t->logged_in;
}

/* The token is gone (as of generation gen): its keys leave the list, its login is lost. */
static void
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
static int
tok_fail(struct tok *t, unsigned gen, CK_RV rv)
{
	if (is_removal(rv))
		tok_removed(t, gen);
	else if (rv == CKR_USER_NOT_LOGGED_IN) {
		pthread_mutex_lock(&t->lock);
		if (t->gen == gen)
			t->logged_in = 0;
		pthread_mutex_unlock(&t->lock);
	}
	return rv_err(rv);
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
static int
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
		if (is_removal(srv) || (srv == CKR_OK && !(si.flags & CKF_TOKEN_PRESENT))) {
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
static int
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
static int
tok_sign_no_key(struct tok *t, unsigned gen)
{
	/* Not "not found": the key was listed, so the caller knows it. */
	return tok_gone(t, gen) ? ERR_P11_TOKEN_REMOVED : ERR_P11_KEY_VANISHED;
}

static void
tok_set_info(struct tok *t, unsigned gen, const CK_TOKEN_INFO *ti)
{
	pthread_mutex_lock(&t->lock);
	if (t->gen == gen)
		t->info = *ti;
	pthread_mutex_unlock(&t->lock);
}

/*
 * Sessions of t's pool that a caller at the head of the line would get at
 * once: idle or not opened yet.  t->lock held.
 */
static unsigned
tok_sessions_free(const struct tok *t)
{
	unsigned used = t->opening;
	size_t i;

	for (i = 0; i < TOK_SESSIONS; i++)
		used += t->sess[i].open && t->sess[i].gen == t->gen && t->sess[i].busy;
	return t->pool > used ? t->pool - used : 0;
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
 * for ever behind later ones).  bounded: a request (a signature); no more
 * than LIMIT_P11_TOKEN_WAITERS of them wait beyond those the free sessions
 * take (so one token holds at most its pool plus that many callers), and
 * one more is refused at once with ERR_P11_TOKEN_BUSY: a slow token holds
 * few of the helper's workers, and its callers learn it now, not after
 * every signature queued ahead of them.  The token's own work (a key scan, a login: one at a time
 * each) is not bounded nor counted, lest a busy token lose its key list.
 * A caller that opens a session leaves the line while it does (the next
 * need not wait for C_OpenSession), and goes back to its end when the open
 * fails.  Errors: ERR_P11_TOKEN_BUSY, ERR_P11_TOKEN_REMOVED, what
 * C_OpenSession says.
 */
static int
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
	/* Those in line that free sessions will take do not wait: not counted. */
	if (bounded && t->waiting >= LIMIT_P11_TOKEN_WAITERS + tok_sessions_free(t)) {
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
		pthread_cond_broadcast(&t->cv);
		if (rv == CKR_OK) {
			/* Removed meanwhile: no new generation can have opened yet. */
			pthread_mutex_unlock(&t->lock);
			fn->C_CloseSession(h);
			pthread_mutex_lock(&t->lock);
		} else if (is_removal(rv)) {
			pthread_mutex_unlock(&t->lock);
			tok_removed(t, gen);
			pthread_mutex_lock(&t->lock);
		} else if (cur == 0) {
			r = rv_err(rv);
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
static void
tok_release(struct tok *t, size_t idx, int bad)
{
	struct tok_session *s;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	size_t i;
	unsigned cur = 0;

	pthread_mutex_lock(&t->lock);
	s = &t->sess[idx];
	s->busy = 0;
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

static char *token_uri(const CK_TOKEN_INFO *ti);

/* 1 when the daemon said this token rejected its configured PIN before, 0 if not, -1: no memory. */
static int
pin_rejected_before(const struct p11_module *m, const CK_TOKEN_INFO *ti)
{
	char *uri;
	size_t i;
	int r = 0;

	if (m->pin_rejected == NULL || m->pin_rejected[0] == NULL)
		return 0;
	if ((uri = token_uri(ti)) == NULL)
		return -1;
	for (i = 0; m->pin_rejected[i] != NULL && r == 0; i++)
		r = strcmp(m->pin_rejected[i], uri) == 0;
	free(uri);
	return r;
}

static struct tok *
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
		    sel_matches_token(&m->sels[i], slot, si, ti))
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
static struct tok *
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
static int
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
		return rv_err(rv);
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
	keys_free(t->keys, t->nkeys);
	t->keys = NULL;
	t->nkeys = 0;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Ask the idle sessions of a present token whether they still live and are logged in. */
static void
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
		if (is_removal(rv))
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

/* ---- reading key objects ---- */

/*
 * One attribute into buf (cap bytes).  *lenp = CK_UNAVAILABLE_INFORMATION
 * when the object has none (or will not say).  CKR_BUFFER_TOO_SMALL when it
 * is longer than cap; other failures as the module says.
 */
static CK_RV
attr_get(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
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
static CK_RV
find_objects(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
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

	rv = attr_get(fn, h, o->h, CKA_EC_POINT, buf, sizeof(buf), &len);
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
	rv = attr_get(fn, h, o->h, CKA_EC_PARAMS, buf, sizeof(buf), &len);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	if (len == CK_UNAVAILABLE_INFORMATION)
		o->curve = 0;
	else
		o->curve = len == sizeof(secp256k1_oid) &&
		    memcmp(buf, secp256k1_oid, len) == 0 ? 1 : -1;
	if (o->curve < 0)
		return CKR_OK;

	rv = attr_get(fn, h, o->h, CKA_ID, o->id, sizeof(o->id), &len);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	o->id_len = len == CK_UNAVAILABLE_INFORMATION ? 0 : len;

	rv = attr_get(fn, h, o->h, CKA_LABEL, o->label, sizeof(o->label), &len);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	o->label_len = len == CK_UNAVAILABLE_INFORMATION ? 0 : len;

	o->can_sign = 1;
	if (is_private) {
		rv = attr_get(fn, h, o->h, CKA_SIGN, &b, sizeof(b), &len);
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
	if ((rv = find_objects(fn, h, tmpl, 2, handles, LIMIT_P11_OBJECTS, &n)) != CKR_OK)
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

static char *
token_uri(const CK_TOKEN_INFO *ti)
{
	CK_TOKEN_INFO *uti;
	P11KitUri *u;
	char *s = NULL;

	if ((u = p11_kit_uri_new()) == NULL)
		return NULL;
	uti = p11_kit_uri_get_token_info(u);
	memcpy(uti->label, ti->label, sizeof(uti->label));
	memcpy(uti->manufacturerID, ti->manufacturerID, sizeof(uti->manufacturerID));
	memcpy(uti->model, ti->model, sizeof(uti->model));
	memcpy(uti->serialNumber, ti->serialNumber, sizeof(uti->serialNumber));
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, &s) != P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(u);
	return s;
}

static char *
key_uri(const CK_TOKEN_INFO *ti, struct key *k, int with_label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_TOKEN_INFO *uti;
	CK_ATTRIBUTE a;
	P11KitUri *u;
	char *s = NULL;

	if ((u = p11_kit_uri_new()) == NULL)
		return NULL;
	uti = p11_kit_uri_get_token_info(u);
	memcpy(uti->label, ti->label, sizeof(uti->label));
	memcpy(uti->manufacturerID, ti->manufacturerID, sizeof(uti->manufacturerID));
	memcpy(uti->model, ti->model, sizeof(uti->model));
	memcpy(uti->serialNumber, ti->serialNumber, sizeof(uti->serialNumber));
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
static int
key_fill(struct key *k, const struct tok *t, const CK_TOKEN_INFO *ti, const uint8_t pub[65],
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
	ck_str(k->k.token_label, sizeof(k->k.token_label), ti->label, sizeof(ti->label));
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
		if (sel_matches_token(&m->sels[i], slot, si, ti) && uri_matches_key(m->sels[i].uri, k))
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
static int
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
		if ((r = key_fill(&keys[n], t, &ti, point, p->id, p->id_len, p->label,
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
		if ((r = key_fill(&keys[n], t, &ti, q->pub, q->id, q->id_len, q->label,
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
	keys_free(keys, n);
	free(pubs);
	free(privs);
	return r;
}

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
static int
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
			if ((r = pin_file_read(s->pin_file, filepin, sizeof(filepin), &use_len)) != 0)
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
	if (!is_removal(rv) && fn->C_GetTokenInfo(slot, &ti) == CKR_OK)
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
static int
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

/* ---- scanning slots ---- */

static void
scan_slot(struct p11_module *m, CK_SLOT_ID slot)
{
	CK_FUNCTION_LIST *fn = m->fn;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	struct tok *t;
	size_t i;
	int selected = 0, present, need, did;

	if (fn->C_GetSlotInfo(slot, &si) != CKR_OK || !(si.flags & CKF_TOKEN_PRESENT))
		return;
	if (fn->C_GetTokenInfo(slot, &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
		return;
	for (i = 0; i < m->nsels && !selected; i++)
		selected = sel_matches_token(&m->sels[i], slot, &si, &ti);
	if (!selected)
		return;
	if ((t = tok_find(m, slot, &ti)) == NULL && (t = tok_new(m, slot, &si, &ti)) == NULL)
		return;
	t->seen = 1;

	pthread_mutex_lock(&t->lock);
	present = t->present;
	if (present) {
		t->slot_info = si;
		t->info = ti;
	}
	pthread_mutex_unlock(&t->lock);
	if (present)
		tok_check(t);
	if (tok_bring_up(t, slot, &si, &ti) != 0)
		return;

	pthread_mutex_lock(&t->lock);
	need = tok_needs_login(t) && t->pin_sel >= 0;
	pthread_mutex_unlock(&t->lock);
	/* A login in progress (a PIN pad) is not waited for. */
	if (need && pthread_mutex_trylock(&t->login_lock) == 0) {
		tok_login_locked(t, LOGIN_AUTO, 0, NULL, 0, &did);
		pthread_mutex_unlock(&t->login_lock);
	}
	tok_scan_keys(t);
}

int
p11_token_rescan(struct p11_module *m)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = LIMIT_P11_SLOTS, i;
	unsigned gen;
	size_t j;
	int r, present;
	CK_RV rv;

	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&m->scan_lock);
	if ((slots = calloc(LIMIT_P11_SLOTS, sizeof(*slots))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	rv = m->fn->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv == CKR_BUFFER_TOO_SMALL) {
		r = ERR_TOO_MANY;
		goto out;
	}
	if (rv != CKR_OK || n > LIMIT_P11_SLOTS) {
		r = rv_err(rv);
		goto out;
	}
	for (j = 0; j < m->ntokens; j++)
		m->tokens[j]->seen = 0;
	for (i = 0; i < n; i++)
		scan_slot(m, slots[i]);
	/* Tokens whose slot is empty now (or that moved, and are new there). */
	for (j = 0; j < m->ntokens; j++) {
		struct tok *t = m->tokens[j];

		if (t->seen)
			continue;
		pthread_mutex_lock(&t->lock);
		present = t->present;
		gen = t->gen;
		pthread_mutex_unlock(&t->lock);
		if (present)
			tok_removed(t, gen);
	}
	r = 0;
 out:
	pthread_mutex_unlock(&m->scan_lock);
	free(slots);
	return r;
}

/* ---- slot events ---- */

static void *
ev_main(void *arg)
{
	struct p11_module *m = arg;
	struct timespec pause = { 0, 200 * 1000000L };
	CK_SLOT_ID slot;
	CK_RV rv;

	for (;;) {
		rv = m->fn->C_WaitForSlotEvent(0, &slot, NULL);
		pthread_mutex_lock(&m->ev_lock);
		if (m->closing) {
			pthread_mutex_unlock(&m->ev_lock);
			break;
		}
		if (rv == CKR_OK) {
			m->ev_pending++;
			pthread_cond_broadcast(&m->ev_cv);
		} else if (rv != CKR_NO_EVENT) {
			m->ev_state = rv == CKR_FUNCTION_NOT_SUPPORTED ? EV_UNSUPPORTED : EV_FAILED;
			m->ev_rv = rv;
			pthread_cond_broadcast(&m->ev_cv);
			pthread_mutex_unlock(&m->ev_lock);
			break;
		}
		pthread_mutex_unlock(&m->ev_lock);
		/* A module that answers a blocking wait with "no event" is polled. */
		if (rv == CKR_NO_EVENT)
			nanosleep(&pause, NULL);
	}
	return NULL;
}

int
p11_token_wait_event(struct p11_module *m, int timeout_ms)
{
	struct timespec deadline;
	sigset_t all, old;
	int r, rc = 0;

	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&m->ev_lock);
	if (!m->ev_started && !m->closing) {
		/* The thread takes no signals: they are the helper's. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&m->ev_thread, NULL, ev_main, m) == 0) {
			m->ev_started = 1;
			m->ev_state = EV_RUNNING;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!m->ev_started) {
			pthread_mutex_unlock(&m->ev_lock);
			return ERR_NOMEM;
		}
	}
	m->ev_waiters++;
	while (m->ev_pending == 0 && m->ev_state == EV_RUNNING && !m->closing &&
	    rc != ETIMEDOUT) {
		if (timeout_ms < 0)
			pthread_cond_wait(&m->ev_cv, &m->ev_lock);
		else
			rc = pthread_cond_timedwait(&m->ev_cv, &m->ev_lock, &deadline);
	}
	if (m->closing)
		r = ERR_P11_CLOSED;
	else if (m->ev_pending > 0) {
		m->ev_pending = 0;	/* events coalesce: one rescan sees them all */
		r = 0;
	} else if (m->ev_state == EV_UNSUPPORTED)
		r = ERR_P11_NO_SLOT_EVENTS;
	else if (m->ev_state == EV_FAILED)
		r = rv_err(m->ev_rv);
	else
		r = ERR_TIMEOUT;
	if (--m->ev_waiters == 0 && m->closing)
		pthread_cond_broadcast(&m->ev_cv);
	pthread_mutex_unlock(&m->ev_lock);
	return r;
}

/* ---- opening and closing ---- */

static int
mod_locks_init(struct p11_module *m)
{
	pthread_condattr_t ca;
	int ok;

	if (pthread_condattr_init(&ca) != 0)
		return ERR_NOMEM;
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&m->ev_cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return ERR_NOMEM;
	if (pthread_mutex_init(&m->scan_lock, NULL) != 0 || pthread_mutex_init(&m->lock, NULL) != 0 ||
	    pthread_mutex_init(&m->ev_lock, NULL) != 0)
		return ERR_NOMEM;	/* not reached on Linux: these cannot fail */
	m->locks_ready = 1;
	return 0;
}

int
p11_token_open(const struct p11_module_config *cfg, struct p11_module **modp)
{
	static const char *const every_key[] = { "pkcs11:", NULL };
	const char *const *uris, *const *allowed;
	struct p11_module *m = NULL;
	CK_C_INITIALIZE_ARGS args;
	const char *module;
	size_t i, n;
	CK_RV rv;
	int r, is_path = 0;

	if (modp == NULL)
		return ERR_INVALID_ARGUMENT;
	*modp = NULL;
	if (cfg == NULL || cfg->sessions_per_token > LIMIT_P11_SESSIONS)
		return ERR_INVALID_ARGUMENT;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	if ((r = mod_locks_init(m)) != 0)
		goto out;
	m->pool = cfg->sessions_per_token != 0 ? cfg->sessions_per_token :
	    P11_TOKEN_SESSIONS_DEFAULT;

	uris = cfg->uris != NULL ? cfg->uris : every_key;
	for (n = 0; uris[n] != NULL; n++) {
		if (n >= LIMIT_P11_URIS) {
			r = ERR_TOO_MANY;
			goto out;
		}
	}
	if (n == 0) {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	if ((m->sels = calloc(n, sizeof(*m->sels))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		m->nsels++;
		if ((r = sel_init(&m->sels[i], uris[i])) != 0)
			goto out;
	}

	module = cfg->module;
	for (i = 0; i < m->nsels && module == NULL; i++)
		if ((module = p11_kit_uri_get_module_path(m->sels[i].uri)) != NULL)
			is_path = 1;
	for (i = 0; i < m->nsels && module == NULL; i++)
		module = p11_kit_uri_get_module_name(m->sels[i].uri);
	if (module == NULL || module[0] == '\0') {
		r = ERR_INVALID_ARGUMENT;
		goto out;
	}
	allowed = cfg->allowed_dirs != NULL ? cfg->allowed_dirs : p11_token_allowed_default;
	if ((r = allowed_resolve(allowed, &m->allowed)) != 0 ||
	    (r = strv_copy(cfg->pin_rejected, LIMIT_PROTO_TOKENS, &m->pin_rejected)) != 0)
		goto out;
	if (module[0] == '/')
		r = module_load_path(m, module);
	else if (is_path || strchr(module, '/') != NULL)
		r = ERR_P11_MODULE_PATH;
	else
		r = module_load_name(m, module);
	if (r != 0 || (r = module_uris_check(m, NULL)) != 0)
		goto out;

	/*
	 * Sessions are used from several threads.  A managed p11-kit module
	 * (the default) is initialised by p11-kit with CKF_OS_LOCKING_OK and
	 * ignores these arguments; an unmanaged one gets them.
	 */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = m->fn->C_Initialize(&args)) != CKR_OK) {
		r = ERR_P11_MODULE_INIT;
		goto out;
	}
	m->initialized = 1;
	if (m->fn->C_GetInfo(&m->info) != CKR_OK) {
		r = ERR_P11_MODULE_INIT;
		goto out;
	}
	if ((r = module_uris_check(m, &m->info)) != 0 || (r = p11_token_rescan(m)) != 0)
		goto out;
	*modp = m;
	m = NULL;
	r = 0;
 out:
	p11_token_close(m);
	return r;
}

void
p11_token_close(struct p11_module *m)
{
	struct timespec until;
	size_t i, j;
	int joined = 1;

	if (m == NULL)
		return;
	if (m->locks_ready) {
		pthread_mutex_lock(&m->ev_lock);
		m->closing = 1;
		pthread_cond_broadcast(&m->ev_cv);
		pthread_mutex_unlock(&m->ev_lock);
	}
	if (m->initialized) {
		/* The current sessions; C_Finalize drops whatever else the module keeps. */
		for (i = 0; i < m->ntokens; i++) {
			struct tok *t = m->tokens[i];

			for (j = 0; t->present && j < TOK_SESSIONS; j++)
				if (t->sess[j].open && t->sess[j].gen == t->gen)
					m->fn->C_CloseSession(t->sess[j].h);
		}
		/* Also ends a C_WaitForSlotEvent blocked in the event thread. */
		m->fn->C_Finalize(NULL);
	}
	if (m->ev_started) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += EV_JOIN_SECONDS;
		joined = pthread_timedjoin_np(m->ev_thread, NULL, &until) == 0;
	}
	if (m->locks_ready) {
		pthread_mutex_lock(&m->ev_lock);
		while (m->ev_waiters > 0)
			pthread_cond_wait(&m->ev_cv, &m->ev_lock);
		pthread_mutex_unlock(&m->ev_lock);
	}
	/*
	 * A module that did not end its slot-event wait at C_Finalize still has
	 * our thread inside it: neither the module nor m may go.
	 */
	if (!joined)
		return;
	if (m->fn != NULL)
		p11_kit_module_release(m->fn);
	for (i = 0; i < m->ntokens; i++)
		tok_free(m->tokens[i]);
	free(m->tokens);
	for (i = 0; i < m->nsels; i++)
		sel_clear(&m->sels[i]);
	free(m->sels);
	strv_free(m->allowed);
	strv_free(m->pin_rejected);
	free(m->path);
	free(m->name);
	if (m->locks_ready) {
		pthread_mutex_destroy(&m->scan_lock);
		pthread_mutex_destroy(&m->lock);
		pthread_mutex_destroy(&m->ev_lock);
		pthread_cond_destroy(&m->ev_cv);
	}
	free(m);
}

/* ---- listing ---- */

int
p11_token_list_tokens(struct p11_module *m, struct p11_token_info **tokensp, size_t *np)
{
	struct p11_token_info *out;
	char *uri;
	size_t i, j;
	int r = 0;

	if (tokensp == NULL || np == NULL)
		return ERR_INVALID_ARGUMENT;
	*tokensp = NULL;
	*np = 0;
	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&m->lock);
	if ((out = calloc(m->ntokens + 1, sizeof(*out))) == NULL)
		r = ERR_NOMEM;
	for (i = 0; out != NULL && i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];
		struct p11_token_info *o = &out[i];

		pthread_mutex_lock(&t->lock);
		o->token = t->number;
		/* Present only once its keys are read: no moment of "in, with no keys". */
		o->present = t->present && t->scanned;
		o->slot = t->slot;
		ck_str(o->label, sizeof(o->label), t->info.label, sizeof(t->info.label));
		ck_str(o->manufacturer, sizeof(o->manufacturer), t->info.manufacturerID,
		    sizeof(t->info.manufacturerID));
		ck_str(o->model, sizeof(o->model), t->info.model, sizeof(t->info.model));
		ck_str(o->serial, sizeof(o->serial), t->info.serialNumber,
		    sizeof(t->info.serialNumber));
		o->token_flags = t->info.flags;
		o->slot_flags = t->slot_info.flags;
		if ((uri = token_uri(&t->info)) == NULL)
			r = ERR_NOMEM;
		else if (strlen(uri) < sizeof(o->uri))
			memcpy(o->uri, uri, strlen(uri) + 1);
		free(uri);
		o->pin_state = tok_pin_state(t);
		o->login_error = t->login_error;
		for (j = 0; j < TOK_SESSIONS; j++)
			o->sessions += t->present && t->sess[j].open && t->sess[j].gen == t->gen;
		o->keys = t->present ? (unsigned)t->nkeys : 0;
		pthread_mutex_unlock(&t->lock);
	}
	if (r == 0) {
		*tokensp = out;
		*np = m->ntokens;
		out = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	free(out);
	return r;
}

void
p11_token_module_info(const struct p11_module *m, struct p11_module_info *info)
{
	ck_str(info->manufacturer, sizeof(info->manufacturer), m->info.manufacturerID,
	    sizeof(m->info.manufacturerID));
	ck_str(info->description, sizeof(info->description), m->info.libraryDescription,
	    sizeof(m->info.libraryDescription));
	info->version_major = m->info.libraryVersion.major;
	info->version_minor = m->info.libraryVersion.minor;
}

int
p11_token_find_token(struct p11_module *m, const char *uri, unsigned *tokenp)
{
	P11KitUri *u = NULL;
	CK_SLOT_ID want;
	size_t i, nfound = 0;
	unsigned found = 0;
	int r;

	if (tokenp == NULL || m == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = uri_parse(uri, &u)) != 0)
		return r;
	want = p11_kit_uri_get_slot_id(u);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];

		pthread_mutex_lock(&t->lock);
		if ((want == (CK_SLOT_ID)-1 || want == t->slot) &&
		    p11_kit_uri_match_slot_info(u, &t->slot_info) &&
		    p11_kit_uri_match_token_info(u, &t->info)) {
			nfound++;
			found = t->number;
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	uri_free(u);
	if (nfound == 0)
		return ERR_P11_TOKEN_UNKNOWN;
	if (nfound > 1)
		return ERR_P11_TOKEN_AMBIGUOUS;
	*tokenp = found;
	return 0;
}

void
p11_token_keys_free(struct p11_key *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		free(keys[i].uri);
	free(keys);
}

int
p11_token_list_keys(struct p11_module *m, struct p11_key **keysp, size_t *np)
{
	struct p11_key *out = NULL;
	size_t i, j, n = 0, cap = 0;
	int r = 0;

	if (keysp == NULL || np == NULL)
		return ERR_INVALID_ARGUMENT;
	*keysp = NULL;
	*np = 0;
	if (m == NULL)
		return ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens; i++) {
		pthread_mutex_lock(&m->tokens[i]->lock);
		if (m->tokens[i]->present)
			cap += m->tokens[i]->nkeys;
		pthread_mutex_unlock(&m->tokens[i]->lock);
	}
	/* A scan may commit more keys before they are copied: those wait for the next listing. */
	if ((out = calloc(cap + 1, sizeof(*out))) == NULL)
		r = ERR_NOMEM;
	for (i = 0; r == 0 && i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];

		pthread_mutex_lock(&t->lock);
		for (j = 0; t->present && j < t->nkeys && r == 0; j++) {
			if (n == cap)
				break;	/* a scan added keys meanwhile: the next listing has them */
			out[n] = t->keys[j].k;
			out[n].pin_state = tok_pin_state(t);
			if ((out[n].uri = strdup(t->keys[j].k.uri)) == NULL)
				r = ERR_NOMEM;
			else
				n++;
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	if (r != 0) {
		p11_token_keys_free(out, n);
		return r;
	}
	*keysp = out;
	*np = n;
	return 0;
}

int
p11_token_find_uri(struct p11_module *m, const char *uri, uint8_t address[20])
{
	P11KitUri *u = NULL;
	uint8_t found[20];
	size_t i, j, nfound = 0;
	int r;

	if (m == NULL || address == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = uri_parse(uri, &u)) != 0)
		return r;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ntokens; i++) {
		struct tok *t = m->tokens[i];
		CK_SLOT_ID want = p11_kit_uri_get_slot_id(u);

		pthread_mutex_lock(&t->lock);
		if (t->present && (want == (CK_SLOT_ID)-1 || want == t->slot) &&
		    p11_kit_uri_match_slot_info(u, &t->slot_info) &&
		    p11_kit_uri_match_token_info(u, &t->info)) {
			for (j = 0; j < t->nkeys; j++) {
				if (!uri_matches_key(u, &t->keys[j]))
					continue;
				if (nfound == 0 || memcmp(found, t->keys[j].k.address, 20) != 0)
					nfound++;
				memcpy(found, t->keys[j].k.address, 20);
			}
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&m->lock);
	uri_free(u);
	if (nfound == 0)
		return ERR_P11_KEY_NOT_FOUND;
	if (nfound > 1)
		return ERR_P11_KEY_AMBIGUOUS;
	memcpy(address, found, 20);
	return 0;
}

/* ---- signing ---- */

/* What signing needs of a listed key, copied out of its token's lock. */
struct key_snap {
	uint8_t address[20];
	uint8_t pub[65];
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
			memcpy(ks->pub, k->k.pubkey, 65);
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
	if ((rv = find_objects(fn, h, tmpl, 3, found, 2, &n)) != CKR_OK)
		return tok_fail(t, gen, rv);
	if (n == 0)
		return ERR_P11_KEY_NOT_FOUND;
	if (n > 1)
		return ERR_P11_KEY_AMBIGUOUS;
	rv = attr_get(fn, h, found[0], CKA_EC_PARAMS, params, sizeof(params), &len);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		return tok_fail(t, gen, rv);
	if (rv == CKR_BUFFER_TOO_SMALL || (len != CK_UNAVAILABLE_INFORMATION &&
	    (len != sizeof(secp256k1_oid) || memcmp(params, secp256k1_oid, len) != 0)))
		return ERR_P11_KEY_NOT_FOUND;
	*privp = found[0];
	return 0;
}

int
p11_token_sign(struct p11_module *m, const uint8_t address[20], const uint8_t digest[32],
    uint8_t sig65[65])
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	uint8_t d[32], raw[LIMIT_P11_SIG_BYTES], sig64[64], pub[65];
	struct key_snap ks;
	struct tok *t;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE priv;
	CK_ULONG len;
	size_t idx;
	unsigned gen;
	int r, attempt, recid;
	CK_RV rv;

	if (m == NULL || address == NULL || digest == NULL || sig65 == NULL)
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
	if (len > sizeof(raw) || eth_sig_parse_token(raw, len, sig64) != 0 ||
	    eth_sig_normalize(sig64, NULL) != 0)
		return ERR_P11_BAD_SIGNATURE;
	/*
	 * One recovery, not one or two: v = 0 when recovering with 0 gives back
	 * the key (which verifies the signature), else 1 without a second
	 * recovery here.  The daemon recovers every signature to its key's
	 * address before anyone sees it (a lying helper is its threat), so a
	 * signature the token got wrong goes no further; checking v = 1 here as
	 * well cost a second recovery for half the signatures (issue 20).
	 */
	recid = eth_sig_recover(d, sig64, 0, pub) == 0 && memcmp(pub, ks.pub, 65) == 0 ? 0 : 1;
	memcpy(sig65, sig64, 64);
	sig65[64] = (uint8_t)recid;
	return 0;
}

/* ---- key generation ---- */

static CK_RV
objects_exist(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_ATTRIBUTE_TYPE type,
    void *value, size_t len, int *existsp)
{
	CK_ATTRIBUTE tmpl = { type, value, len };
	CK_OBJECT_HANDLE found;
	CK_ULONG n;
	CK_RV rv;

	rv = find_objects(fn, h, &tmpl, 1, &found, 1, &n);
	*existsp = n > 0;
	return rv;
}

int
p11_token_keygen(struct p11_module *m, unsigned token, const char *label,
    const uint8_t *id, size_t id_len, struct p11_key **keyp)
{
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	uint8_t oid[sizeof(secp256k1_oid)], idbuf[LIMIT_P11_KEY_ID], labelbuf[LIMIT_P11_LABEL];
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
	memcpy(oid, secp256k1_oid, sizeof(oid));
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
		return is_removal(rv) ? tok_fail(t, gen, rv) : keygen_err(rv);
	if (!(mi.flags & CKF_GENERATE_KEY_PAIR))
		return ERR_P11_KEYGEN_UNSUPPORTED;
	/* A session of its own: key generation needs a read-write one. */
	rv = m->fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	if (rv != CKR_OK) {
		h = CK_INVALID_HANDLE;
		r = is_removal(rv) ? tok_fail(t, gen, rv) : keygen_err(rv);
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
		r = is_removal(rv) ? tok_fail(t, gen, rv) : keygen_err(rv);
		goto out;
	}
	generated = 1;
	rv = attr_get(m->fn, h, hpub, CKA_EC_POINT, point, sizeof(point), &plen);
	if (rv == CKR_OK && plen == CK_UNAVAILABLE_INFORMATION)
		rv = attr_get(m->fn, h, hpriv, CKA_EC_POINT, point, sizeof(point), &plen);
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
		r = is_removal(rv) ? tok_fail(t, gen, rv) : keygen_err(rv);
		goto out;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL || (out = calloc(1, sizeof(*out))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = key_fill(k, t, &ti, pub, idbuf, id_len, labelbuf, label_len)) != 0)
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
