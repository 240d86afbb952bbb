/*
 * token.h - secp256k1 keys on PKCS#11 tokens, for the token helper.
 *
 * One struct p11_module is one PKCS#11 module loaded through p11-kit, with
 * the tokens of its slots that the caller's RFC 7512 URIs select and, on
 * them, the secp256k1 keys (CKA_EC_PARAMS = OID 1.3.132.0.10) that can sign.
 * Nothing else is offered.  The vendor code runs in this process: only the
 * token helper links this module (CONVENTIONS item 5).
 *
 * Contract, for every function here:
 *  - The return value is 0 on success or a negative ERR_* code (core/err.h);
 *    err_str() says what went wrong without naming secrets or input.
 *  - Output pointers are set to NULL (counts to 0) on entry and assigned only
 *    on success; output buffers are written only on success.
 *  - Destructors accept NULL.  Strings and structs handed out are copies the
 *    caller owns (freed as each function says); nothing points into the module.
 *  - struct p11_module is thread-safe: any number of threads may sign, list,
 *    log in and rescan at once.  Each token has its own lock and its own pool
 *    of sessions, so signs on one token run in parallel (up to the pool size)
 *    and tokens never wait for each other.  Only p11_token_close() must not
 *    race with other calls, except p11_token_wait_event(), which it ends.
 *  - PIN bytes pass through buffers that are wiped with explicit_bzero()
 *    before they are freed or go out of scope (p11-kit's copy of a URI's
 *    pin-value too; not the copy p11-kit makes of a URI with blanks in it).
 *
 * Tokens are numbered from 0 in the order they were first seen; a token
 * keeps its number when it is removed and comes back (it is recognised by
 * manufacturer, model, serial number and label, in whichever slot).  A token
 * that is removed (CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED,
 * CKR_SESSION_HANDLE_INVALID, or a slot without CKF_TOKEN_PRESENT) leaves the
 * key list at once, its login is forgotten, and signing with its keys fails
 * at once with ERR_P11_TOKEN_REMOVED until p11_token_rescan() sees it back.
 *
 * PINs: a login lasts as long as the token stays in (C_Login is per token,
 * across sessions).  A PIN comes from the caller (p11_token_login), from the
 * token's PIN pad (p11_token_login_pad), or automatically from the
 * pin-source or pin-value of the URI that selected the token (the first such
 * URI that matches it): a pin-source file is read each time a login needs
 * it and its PIN is not kept; a pin-value stays in memory until
 * p11_token_close() wipes it.  A PIN the token rejects is never tried again on
 * its own.  No PIN is tried automatically while the token reports
 * CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY or CKF_USER_PIN_LOCKED (the
 * error says which); the caller's PIN or the pad is tried then only when the
 * caller says the user was warned, and never while the PIN is locked.
 * Automatic logins happen on open, on rescan and before a sign or keygen
 * that needs one.
 */
#ifndef P11_TOKEN_H
#define P11_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/limits.h"

struct p11_module;

/* How to open a module.  Zeroed fields take the defaults. */
struct p11_module_config {
	/*
	 * An absolute path to a module file, or the name of a module registered
	 * with p11-kit ("opensc-pkcs11", "softhsm2").  NULL: the module-path or
	 * module-name of the first URI that has one.
	 */
	const char *module;
	/*
	 * NULL-terminated list of directory prefixes a module file must be under
	 * after realpath(), each absolute and ending in a slash; a component
	 * may hold fnmatch() wildcards.  NULL: p11_token_allowed_default.
	 * Registered modules are checked against it too.
	 */
	const char *const *allowed_dirs;
	/*
	 * NULL-terminated list of pkcs11: URIs (RFC 7512) that select tokens and
	 * keys; a key is offered when one of them matches it.  NULL: "pkcs11:",
	 * every token and key.  A URI may carry pin-source (a file: URI or an
	 * absolute path; one trailing newline is dropped) or pin-value for the
	 * tokens it matches; module-name / module-path must then name this module.
	 * Attributes p11-kit does not know are refused (ERR_P11_URI_UNRECOGNIZED):
	 * a misspelt one would otherwise widen the selection.
	 */
	const char *const *uris;
	/* Sessions per token, 1..LIMIT_P11_SESSIONS; 0: P11_TOKEN_SESSIONS_DEFAULT. */
	unsigned sessions_per_token;
	/*
	 * NULL-terminated list of token URIs (p11_token_info.uri) whose
	 * configured PIN (pin-source / pin-value of the URIs above) the token
	 * rejected in an earlier run of this helper: such a token starts with
	 * P11_PIN_AUTO_REJECTED, and its configured PIN is not tried.  The
	 * daemon remembers them across helper restarts.  NULL: none.  At most
	 * LIMIT_PROTO_TOKENS.
	 */
	const char *const *pin_rejected;
};

#define P11_TOKEN_SESSIONS_DEFAULT 2
/* The default module directories: "/usr/lib*" and "/usr/local/lib*", each
 * with its trailing slash (so /usr/lib/, /usr/lib64/, /usr/local/lib/...). */
extern const char *const p11_token_allowed_default[];

/* PIN state of a token, as flags (p11_token_info.pin_state, p11_key.pin_state). */
enum p11_pin_state {
	P11_PIN_LOGIN_REQUIRED = 1 << 0,	/* CKF_LOGIN_REQUIRED */
	P11_PIN_LOGGED_IN      = 1 << 1,	/* signing needs no PIN now */
	P11_PIN_PAD            = 1 << 2,	/* CKF_PROTECTED_AUTHENTICATION_PATH */
	P11_PIN_COUNT_LOW      = 1 << 3,	/* CKF_USER_PIN_COUNT_LOW */
	P11_PIN_FINAL_TRY      = 1 << 4,	/* CKF_USER_PIN_FINAL_TRY */
	P11_PIN_LOCKED         = 1 << 5,	/* CKF_USER_PIN_LOCKED */
	P11_PIN_TO_BE_CHANGED  = 1 << 6,	/* CKF_USER_PIN_TO_BE_CHANGED */
	P11_PIN_AUTO           = 1 << 7,	/* a URI gives a pin-source or pin-value */
	P11_PIN_AUTO_REJECTED  = 1 << 8,	/* ... which the token rejected: not tried
						 * again while the module stays open, nor
						 * after (p11_module_config.pin_rejected) */
};

/* One token the URIs select. */
struct p11_token_info {
	unsigned token;			/* its number */
	int present;			/* 1 when in, with its keys listed */
	unsigned long slot;		/* CK_SLOT_ID where last seen */
	char uri[LIMIT_P11_URI + 1];	/* pkcs11: URI of the token (model, manufacturer, serial, label) */
	char label[33];			/* CK_TOKEN_INFO strings, trailing blanks cut, */
	char manufacturer[33];		/* control characters as '?' */
	char model[17];
	char serial[17];
	unsigned long token_flags;	/* CK_TOKEN_INFO.flags as last read */
	unsigned long slot_flags;	/* CK_SLOT_INFO.flags as last read */
	unsigned pin_state;		/* enum p11_pin_state flags */
	int login_error;		/* 0, or why the last automatic login did not happen */
	unsigned sessions;		/* sessions open in its pool */
	unsigned keys;			/* keys offered */
};

/* The module (CK_INFO). */
struct p11_module_info {
	char manufacturer[33];		/* trailing blanks cut, control characters as '?' */
	char description[33];
	unsigned char version_major;
	unsigned char version_minor;
};

/* p11_token_login() flags. */
enum p11_login_flag {
	/* The user was told that the token reports failed tries (count low or
	 * final try) and wants to go on: the PIN is tried even so. */
	P11_LOGIN_LOW_TRIES_CONFIRMED = 1 << 0,
};

/* One secp256k1 key offered for signing. */
struct p11_key {
	uint8_t address[20];		/* keccak256(X || Y)[12:] */
	uint8_t pubkey[65];		/* 04 || X || Y */
	char *uri;			/* pkcs11: URI of the private key (token + id + label) */
	char label[LIMIT_P11_LABEL + 1];	/* CKA_LABEL, NUL-terminated ("" when none) */
	uint8_t id[LIMIT_P11_KEY_ID];	/* CKA_ID */
	size_t id_len;
	unsigned token;			/* the token's number */
	char token_label[33];
	unsigned pin_state;		/* its token's enum p11_pin_state flags */
	int on_private;			/* 1: the point was read from the private key object */
};

/*
 * Load the module through p11-kit and initialise it with CKF_OS_LOCKING_OK,
 * then scan its slots (as p11_token_rescan, logging in automatically where a
 * URI gives a PIN; failures there are per token, in p11_token_info).
 *
 * A path is resolved with realpath(), must be a regular file under one of
 * cfg->allowed_dirs, and must export C_GetFunctionList (checked with dlopen
 * RTLD_LAZY|RTLD_LOCAL and dlsym) before p11-kit loads it.  A registered
 * name is resolved to its file by reading p11-kit's configuration as p11-kit
 * does (registry.h), with no module loaded, not even the one named; that
 * file is then checked and loaded as a path, and no other module is.
 *
 * Errors: ERR_INVALID_ARGUMENT, ERR_TOO_LONG, ERR_TOO_MANY, ERR_NOMEM,
 * ERR_P11_URI_INVALID, ERR_P11_URI_UNRECOGNIZED, ERR_P11_URI_MODULE,
 * ERR_P11_MODULE_PATH, ERR_P11_MODULE_NOT_ALLOWED, ERR_P11_MODULE_NOT_PKCS11,
 * ERR_P11_MODULE_NOT_REGISTERED, ERR_P11_MODULE_LOAD, ERR_P11_MODULE_INIT,
 * ERR_P11_MODULE (the slot list).  cfg is borrowed; nothing of it is kept
 * but copies.  Caller frees *modp with p11_token_close().
 */
int p11_token_open(const struct p11_module_config *cfg, struct p11_module **modp);

/*
 * Log out (closing every session), finalise the module and release it.
 * A thread blocked in p11_token_wait_event() returns ERR_P11_CLOSED first.
 * Wipes any PIN a URI gave.  NULL is a no-op.
 */
void p11_token_close(struct p11_module *m);

/*
 * Look at the slots again: tokens gone are marked removed; tokens that are
 * in (again) get their sessions, an automatic login when a URI gives a PIN,
 * and their keys listed afresh; for tokens still in, a lost session or login
 * is noticed and the keys are listed again (new or deleted keys show).
 * Only the slot list failing is an error (ERR_P11_MODULE, ERR_NOMEM); a
 * token that fails is left out and says why in p11_token_info.login_error
 * or stays absent.
 */
int p11_token_rescan(struct p11_module *m);

/*
 * Wait up to timeout_ms (0: do not wait; < 0: no limit) for a slot event
 * (a token inserted or removed): 0 when one came, then call
 * p11_token_rescan().  A thread of the module blocks in C_WaitForSlotEvent
 * and stays there between calls, so no event is lost; events coalesce.
 * Errors: ERR_TIMEOUT; ERR_P11_NO_SLOT_EVENTS when the module answers
 * CKR_FUNCTION_NOT_SUPPORTED (SoftHSM2: rescan on a timer instead);
 * ERR_P11_CLOSED when p11_token_close() ends the wait; ERR_P11_MODULE;
 * ERR_NOMEM.
 */
int p11_token_wait_event(struct p11_module *m, int timeout_ms);

/*
 * The keys offered now: secp256k1 keys of present tokens that a URI selects.
 * Before a login only public key objects may be visible; afterwards a key
 * is listed only when its private key is there.  Caller frees *keysp with
 * p11_token_keys_free(*keysp, *np).  Errors: ERR_NOMEM.
 */
int p11_token_list_keys(struct p11_module *m, struct p11_key **keysp, size_t *np);

/* Free an array of n keys from this module (NULL is a no-op). */
void p11_token_keys_free(struct p11_key *keys, size_t n);

/*
 * Every token the URIs selected so far, present or not.  Caller frees
 * *tokensp with free().  Errors: ERR_NOMEM.
 */
int p11_token_list_tokens(struct p11_module *m, struct p11_token_info **tokensp,
    size_t *np);

/* The module's CK_INFO, as read when it was opened.  Never fails for an open module. */
void p11_token_module_info(const struct p11_module *m, struct p11_module_info *info);

/*
 * The address of the one listed key that the pkcs11: URI uri matches (token
 * and object attributes; its pin-source and pin-value are ignored here).
 * Errors: ERR_P11_URI_INVALID, ERR_P11_URI_UNRECOGNIZED, ERR_TOO_LONG,
 * ERR_P11_KEY_NOT_FOUND, ERR_P11_KEY_AMBIGUOUS, ERR_NOMEM.
 */
int p11_token_find_uri(struct p11_module *m, const char *uri, uint8_t address[20]);

/*
 * The number of the one token (present or not) that the pkcs11: URI uri
 * matches (slot and token attributes).  Errors as p11_token_find_uri, with
 * ERR_P11_TOKEN_UNKNOWN and ERR_P11_TOKEN_AMBIGUOUS.
 */
int p11_token_find_token(struct p11_module *m, const char *uri, unsigned *tokenp);

/*
 * Whether the key with this address can sign now: 0 when it is listed on a
 * present token (*tokenp, which may be NULL, is set to its number);
 * ERR_P11_TOKEN_REMOVED when the token that had it is out; else
 * ERR_P11_KEY_NOT_FOUND.
 */
int p11_token_key_state(struct p11_module *m, const uint8_t address[20], unsigned *tokenp);

/*
 * Log in to token number `token` as the user with pin[0..pin_len), which
 * the caller (the approval UI) got from the user.  pin is borrowed and
 * wiped with explicit_bzero() before return, whatever happens.  Already
 * logged in: 0 without a C_Login.  Afterwards the token's keys are listed
 * again (private keys become visible).  flags: enum p11_login_flag.
 * The token's PIN flags are read first: CKF_USER_PIN_LOCKED gives
 * ERR_P11_PIN_LOCKED, and CKF_USER_PIN_FINAL_TRY / CKF_USER_PIN_COUNT_LOW
 * give ERR_P11_PIN_FINAL_TRY / ERR_P11_PIN_COUNT_LOW unless
 * P11_LOGIN_LOW_TRIES_CONFIRMED, all without a C_Login.
 * Errors: those, ERR_P11_TOKEN_UNKNOWN, ERR_P11_TOKEN_REMOVED,
 * ERR_INVALID_ARGUMENT (empty PIN), ERR_TOO_LONG (over LIMIT_P11_PIN),
 * ERR_P11_PIN_INCORRECT, ERR_P11_PIN_INVALID, ERR_P11_CANCELED, ERR_P11_MODULE.
 */
int p11_token_login(struct p11_module *m, unsigned token, unsigned flags, uint8_t *pin,
    size_t pin_len);

/*
 * Log in on the token's PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH: C_Login
 * with a NULL PIN, which returns when the user has typed it).  Rules and
 * errors as p11_token_login, and ERR_P11_NO_PIN_PAD.
 */
int p11_token_login_pad(struct p11_module *m, unsigned token, unsigned flags);

/*
 * Sign the 32-byte digest with the key whose address is `address`:
 * CKM_ECDSA on a session of the pool; the token's raw r || s or DER is
 * parsed (0 < r, s < n) and s is made low (n - s): sig64 = r || s.  It is
 * not verified here and carries no recovery id: whoever uses it verifies it
 * under the key of that address (the daemon does, eth_sig_verify_addr(),
 * which finds v), so a signature the token got wrong goes no further.  One C_Sign
 * per call: a signature is never made twice.  When the token needs a login and a URI
 * gives a PIN, it logs in first (subject to the PIN rules above).  When
 * every session of the pool is in use, callers wait for one first come,
 * first served; when LIMIT_P11_TOKEN_WAITERS already wait (beyond those the
 * free sessions take), the call fails at once with ERR_P11_TOKEN_BUSY and
 * nothing reaches the token.  So one token holds at most its sessions plus
 * LIMIT_P11_TOKEN_WAITERS signing threads.
 * Errors: ERR_P11_KEY_NOT_FOUND, ERR_P11_KEY_AMBIGUOUS (two private keys
 * with its id), ERR_P11_TOKEN_REMOVED, ERR_P11_TOKEN_BUSY,
 * ERR_P11_NOT_LOGGED_IN, the automatic login's ERR_P11_PIN_*,
 * ERR_P11_BAD_SIGNATURE, ERR_P11_MODULE, ERR_NOMEM.
 */
int p11_token_sign(struct p11_module *m, const uint8_t address[20],
    const uint8_t digest[32], uint8_t sig64[64]);

/*
 * Generate a secp256k1 key pair on token number `token` (which must be
 * logged in, or log in automatically): CKM_EC_KEY_PAIR_GEN with CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN true and CKA_EXTRACTABLE false.
 * label (NUL-terminated, NULL: the EIP-55 address) and id (id_len bytes,
 * NULL: the 20-byte address) name both objects; a key with the same label
 * or id on the token is refused first.  The new key is listed.  Caller frees
 * *keyp with p11_token_keys_free(*keyp, 1).
 * Errors: ERR_P11_TOKEN_UNKNOWN, ERR_P11_TOKEN_REMOVED, ERR_P11_NOT_LOGGED_IN,
 * ERR_P11_KEY_EXISTS, ERR_P11_KEYGEN_UNSUPPORTED (CKR_MECHANISM_INVALID,
 * CKR_DOMAIN_PARAMS_INVALID, CKR_TEMPLATE_INCONSISTENT, ...),
 * ERR_P11_KEYGEN_NEEDS_SO (CKR_USER_NOT_LOGGED_IN after the user's login:
 * OpenSC's OpenPGP cards), ERR_P11_EC_POINT, ERR_TOO_LONG, ERR_P11_MODULE,
 * ERR_NOMEM.
 */
int p11_token_keygen(struct p11_module *m, unsigned token, const char *label,
    const uint8_t *id, size_t id_len, struct p11_key **keyp);

/*
 * Parse an untrusted CKA_EC_POINT: a DER OCTET STRING (04 41 04 X Y, or
 * 04 21 02|03 X) or the raw point (04 X Y, or 02|03 X) as some modules give
 * it; lengths decide, nothing is guessed.  The point must be on secp256k1.
 * Writes 04 || X || Y.  Errors: ERR_P11_EC_POINT.
 */
int p11_token_ec_point_parse(const uint8_t *untrusted, size_t len, uint8_t pub65[65]);

/*
 * Is the resolved absolute path `path` under one of the NULL-terminated
 * directory prefixes `allowed` (each absolute and ending in a slash; its
 * components are matched with fnmatch(), so the default "/usr/lib*" with its
 * slash covers /usr/lib64/x.so but not /usr/lib64x.so)?  1 or 0.
 */
int p11_token_path_allowed(const char *path, const char *const *allowed);

#endif /* P11_TOKEN_H */
