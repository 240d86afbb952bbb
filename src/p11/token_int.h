/*
 * token_int.h - what the pieces of the token layer share (token.c,
 * token_pool.c, token_uri.c, token_keys.c, token_login.c, token_sign.c,
 * token_keygen.c); nothing outside src/p11/token*.c includes it.
 * The functions below are grouped by the file that defines them; each one's
 * contract is the comment above its definition there.
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
#ifndef P11_TOKEN_INT_H
#define P11_TOKEN_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include "core/limits.h"
#include "p11/token.h"

/* DER of the OID 1.3.132.0.10, secp256k1, as CKA_EC_PARAMS holds it. */
#define TOK_SECP256K1_OID_LEN	7
extern const uint8_t tok_secp256k1_oid[TOK_SECP256K1_OID_LEN];

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
	int request;		/* busy for a request (a bounded caller of tok_acquire) */
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
	 * the requests (bounded callers) in the line; with those holding a
	 * session, at most pool + LIMIT_P11_TOKEN_WAITERS.
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

/* token_pool.c */
void tok_secret_free(void *p, size_t n);
int tok_is_removal(CK_RV rv);
int tok_rv_err(CK_RV rv);
int tok_keygen_err(CK_RV rv);
void tok_ck_str(char *dst, size_t dstsz, const CK_UTF8CHAR *src, size_t n);
struct tok *tok_get(struct p11_module *m, unsigned number);
void tok_keys_free(struct key *keys, size_t n);
void tok_free(struct tok *t);
unsigned tok_pin_state(const struct tok *t);
int tok_needs_login(const struct tok *t);
void tok_removed(struct tok *t, unsigned gen);
int tok_fail(struct tok *t, unsigned gen, CK_RV rv);
int tok_gone(struct tok *t, unsigned gen);
int tok_sign_fail(struct tok *t, unsigned gen, CK_RV rv);
int tok_sign_no_key(struct tok *t, unsigned gen);
void tok_set_info(struct tok *t, unsigned gen, const CK_TOKEN_INFO *ti);
int tok_acquire(struct tok *t, int bounded, size_t *idxp, CK_SESSION_HANDLE *hp,
    unsigned *genp);
void tok_release(struct tok *t, size_t idx, int bad);
struct tok *tok_new(struct p11_module *m, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
    const CK_TOKEN_INFO *ti);
struct tok *tok_find(struct p11_module *m, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti);
int tok_bring_up(struct tok *t, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
    const CK_TOKEN_INFO *ti);
void tok_check(struct tok *t);
/* token_uri.c */
void tok_uri_free(P11KitUri *u);
int tok_uri_parse(const char *s, P11KitUri **urip);
int tok_pin_file_read(const char *path, uint8_t *buf, size_t cap, size_t *lenp);
void tok_sel_clear(struct sel *s);
int tok_sel_init(struct sel *s, const char *text);
int tok_sel_matches_token(const struct sel *s, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
    const CK_TOKEN_INFO *ti);
int tok_uri_matches_key(const P11KitUri *uri, struct key *k);
/* token_keys.c */
CK_RV tok_attr_get(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE type, void *buf, size_t cap, CK_ULONG *lenp);
CK_RV tok_find_objects(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl,
    CK_ULONG ntmpl, CK_OBJECT_HANDLE *out, CK_ULONG cap, CK_ULONG *np);
char *tok_info_uri(const CK_TOKEN_INFO *ti);
int tok_key_fill(struct key *k, const struct tok *t, const CK_TOKEN_INFO *ti,
    const uint8_t pub[65], const uint8_t *id, size_t id_len, const uint8_t *label,
    size_t label_len);
int tok_scan_keys(struct tok *t);
/* token_login.c */
int tok_login_locked(struct tok *t, enum login_mode mode, unsigned flags, uint8_t *pin,
    size_t pin_len, int *didp);
int tok_ensure_login(struct tok *t);

#endif /* P11_TOKEN_INT_H */
