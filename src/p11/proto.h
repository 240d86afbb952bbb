/*
 * proto.h - the token protocol: typed, length-framed messages between the
 * daemon (`p11signer serve`, which parses JSON and loads no PKCS#11 code) and
 * the token helper (`p11signer-token`, one per PKCS#11 module, which parses no
 * JSON).  The wire format, who may send what, the limits and the reasons are
 * in docs/token-protocol.md; this header is the C contract.
 *
 * Messages.  A message is a struct proto_msg: a type (enum proto_type), a
 * request id and the member of its union that the type names.  The daemon
 * sends requests, each with a non-zero id of its choosing; the helper answers
 * each with exactly one reply of the matching type (proto_is_reply_to()) or a
 * PROTO_ERROR, echoing the id, in any order.  PROTO_EVENT comes unsolicited
 * from the helper with id 0.  The first exchange is PROTO_HELLO /
 * PROTO_HELLO_REPLY; keeping that order, and matching replies to requests, is
 * the sessions' work, not this codec's.
 *
 * Validation.  Every rule the document states (field counts, exact and
 * maximum sizes, text and URI syntax, flag and enum values, public key on the
 * curve and address = keccak256(X || Y)[12:], low-s signature, unique key
 * handles, the request id rules) is checked by proto_decode() and, the same
 * rules, by proto_encode(): a peer is never sent what it would refuse, and a
 * sender learns of its own bug at once.  Decoding is canonical: a frame that
 * decodes re-encodes to the same bytes.
 *
 * Ownership.  A message built for proto_encode()/proto_send() is the
 * caller's, and every pointer in it is borrowed for the call.  A message from
 * proto_decode(), proto_recv() or proto_reader_next() is allocated; every
 * pointer in it points into memory owned by the message (its text fields are
 * NUL-terminated and never NULL; an empty byte field points to an empty,
 * non-NULL buffer; an array with a count of 0 is NULL); the caller frees it
 * with proto_msg_free(), which wipes it, and never frees a message it built.
 * In messages to encode, a NULL text or URI means "" and a NULL byte field
 * must have length 0; `priv` is ignored (leave it NULL).
 *
 * PINs.  Only PROTO_LOGIN (its pin) and PROTO_CONFIGURE (a token URI's
 * pin-value) carry a PIN.  Every buffer of this codec that
 * holds one is wiped with explicit_bzero() before it is freed or reused:
 * decoded messages (proto_msg_free), the reader's consumed bytes, the frame
 * buffers of proto_send() and proto_recv().  An eth_buf given to
 * proto_encode() is the caller's: release it with eth_buf_free() or
 * eth_buf_reset(), which wipe.  The PIN in a message the caller built is the
 * caller's to wipe.
 *
 * Errors are the negative codes of core/err.h: ERR_PROTO_* for malformed
 * frames, ERR_TOO_LONG / ERR_TOO_MANY for fields and lists over their caps
 * (core/limits.h, LIMIT_PROTO_*), ERR_NOMEM, ERR_IO, ERR_TIMEOUT.  After any
 * error while reading a stream, the stream is out of step or its peer is
 * broken or hostile: close it (the daemon ends that helper).
 *
 * Threads: the functions are reentrant; one reader, or one fd written with
 * proto_send(), must not be used by two threads at once (a frame may take
 * several writes, so concurrent senders on one fd need a lock).
 */
#ifndef P11_PROTO_H
#define P11_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

/* The version exchanged in PROTO_HELLO; both sides must use the same one.
 * 2: the helper's token URIs come in PROTO_CONFIGURE, no longer in its argv.
 * 3: PROTO_SIGNATURE is r || s alone; the daemon finds the recovery id. */
#define PROTO_VERSION		3
/* Bytes of the length prefix in front of every frame. */
#define PROTO_PREFIX_LEN	4

/* Who sends a message. */
enum proto_side {
	PROTO_FROM_DAEMON = 1,
	PROTO_FROM_HELPER = 2,
};

enum proto_type {
	/* requests, daemon -> helper */
	PROTO_HELLO		= 0x01,
	PROTO_LIST_KEYS		= 0x02,
	PROTO_KEY_STATUS	= 0x03,
	PROTO_SIGN		= 0x04,
	PROTO_GENERATE		= 0x05,
	PROTO_LOGIN		= 0x06,
	PROTO_CONFIGURE		= 0x07,	/* right after HELLO, once; answered by KEY_LIST */
	/* replies, helper -> daemon */
	PROTO_HELLO_REPLY	= 0x41,
	PROTO_KEY_LIST		= 0x42,
	PROTO_KEY_STATE		= 0x43,
	PROTO_SIGNATURE		= 0x44,
	PROTO_GENERATED		= 0x45,
	PROTO_LOGIN_RESULT	= 0x46,
	PROTO_ERROR		= 0x7f,
	/* unsolicited, helper -> daemon */
	PROTO_EVENT		= 0x80,
};

/* Token flags: the helper's reading of CK_SLOT_INFO, CK_TOKEN_INFO and its
 * session, in bits of our own so the daemon needs no PKCS#11 header.  Bits
 * outside PROTO_TOKEN_FLAGS_ALL are refused. */
enum proto_token_flag {
	PROTO_TOKEN_PRESENT		= 1u << 0,	/* CKF_TOKEN_PRESENT; clear: removed */
	PROTO_TOKEN_REMOVABLE		= 1u << 1,	/* CKF_REMOVABLE_DEVICE */
	PROTO_TOKEN_LOGGED_IN		= 1u << 2,	/* the helper's session is logged in */
	PROTO_TOKEN_LOGIN_REQUIRED	= 1u << 3,	/* CKF_LOGIN_REQUIRED */
	PROTO_TOKEN_PROTECTED_AUTH	= 1u << 4,	/* CKF_PROTECTED_AUTHENTICATION_PATH */
	PROTO_TOKEN_PIN_COUNT_LOW	= 1u << 5,	/* CKF_USER_PIN_COUNT_LOW */
	PROTO_TOKEN_PIN_FINAL_TRY	= 1u << 6,	/* CKF_USER_PIN_FINAL_TRY */
	PROTO_TOKEN_PIN_LOCKED		= 1u << 7,	/* CKF_USER_PIN_LOCKED */
	PROTO_TOKEN_PIN_TO_BE_CHANGED	= 1u << 8,	/* CKF_USER_PIN_TO_BE_CHANGED */
	PROTO_TOKEN_WRITE_PROTECTED	= 1u << 9,	/* CKF_WRITE_PROTECTED */
	PROTO_TOKEN_INITIALIZED		= 1u << 10,	/* CKF_TOKEN_INITIALIZED */
	PROTO_TOKEN_USER_PIN_INITIALIZED = 1u << 11,	/* CKF_USER_PIN_INITIALIZED */
	PROTO_TOKEN_PIN_AUTO		= 1u << 12,	/* the helper's URI for it gives a PIN */
	PROTO_TOKEN_PIN_AUTO_REJECTED	= 1u << 13,	/* ... which the token rejected: not tried again */
};
#define PROTO_TOKEN_FLAGS_ALL	0x3fffu

/* PROTO_LOGIN flags. */
enum proto_login_flag {
	PROTO_LOGIN_PIN_PAD		= 1u << 0,	/* use the token's PIN pad; no PIN bytes */
	PROTO_LOGIN_LOW_TRIES_CONFIRMED	= 1u << 1,	/* the user saw the low/final-try warning */
};
#define PROTO_LOGIN_FLAGS_ALL	0x3u

/* PROTO_LOGIN_RESULT status. */
enum proto_login_status {
	PROTO_LOGIN_OK			= 0,	/* logged in */
	PROTO_LOGIN_ALREADY		= 1,	/* was logged in; the PIN was not used */
	PROTO_LOGIN_PIN_INCORRECT	= 2,	/* CKR_PIN_INCORRECT: a try was spent */
	PROTO_LOGIN_PIN_LOCKED		= 3,	/* CKR_PIN_LOCKED, or locked before trying */
	PROTO_LOGIN_PIN_NEEDED		= 4,	/* PIN pad asked for, token has none */
	PROTO_LOGIN_PIN_INVALID		= 5,	/* CKR_PIN_LEN_RANGE / CKR_PIN_INVALID: no try spent */
	PROTO_LOGIN_LOW_TRIES		= 6,	/* count low or final try, not confirmed: not tried */
	PROTO_LOGIN_CANCELLED		= 7,	/* PIN pad entry cancelled or timed out */
	PROTO_LOGIN_TOKEN_ABSENT	= 8,	/* no token in the slot */
};
#define PROTO_LOGIN_STATUS_MAX	8

/* PROTO_KEY_STATE state. */
enum proto_key_state {
	PROTO_KEY_AVAILABLE		= 0,	/* key found, token present */
	PROTO_KEY_TOKEN_ABSENT		= 1,	/* key known, its token is not present */
	PROTO_KEY_NOT_FOUND		= 2,	/* no such handle or URI (handle is 0) */
};
#define PROTO_KEY_STATE_MAX	2

/* PROTO_EVENT kind. */
enum proto_event_kind {
	PROTO_EVENT_TOKEN_INSERTED	= 1,
	PROTO_EVENT_TOKEN_REMOVED	= 2,
	PROTO_EVENT_KEYS_CHANGED	= 3,
};
#define PROTO_EVENT_KIND_MAX	3

/* A key: an entry of PROTO_KEY_LIST, and the body of PROTO_GENERATED. */
struct proto_key {
	uint32_t handle;		/* helper-assigned, non-zero, unique in a list */
	const char *uri;		/* RFC 7512 object URI ("pkcs11:..."), required */
	const char *label;		/* CKA_LABEL, text, may be "" */
	const uint8_t *id;		/* CKA_ID, may be empty */
	size_t id_len;			/* 0..LIMIT_P11_KEY_ID */
	uint8_t pub[65];		/* 04 || X || Y, a point on secp256k1 */
	uint8_t addr[20];		/* keccak256(X || Y)[12:] */
};

/* A slot and its token: an entry of PROTO_KEY_LIST. */
struct proto_token {
	const char *uri;		/* RFC 7512 token (or slot) URI, required */
	const char *label;		/* text fields: may be "" */
	const char *manufacturer;
	const char *model;
	const char *serial;
	uint64_t slot_id;		/* CK_SLOT_ID */
	uint32_t flags;			/* enum proto_token_flag */
	const struct proto_key *keys;	/* none when the token is not present */
	size_t nkeys;
};

/* A key (status or signing) is named by its handle or by its URI: exactly one. */
struct proto_key_ref {
	uint32_t handle;		/* 0: not given */
	const char *uri;		/* NULL or "": not given */
};

struct proto_hello {			/* PROTO_HELLO, PROTO_HELLO_REPLY */
	uint32_t version;		/* non-zero; PROTO_VERSION */
};

struct proto_key_status {		/* PROTO_KEY_STATUS */
	struct proto_key_ref key;
};

struct proto_sign {			/* PROTO_SIGN */
	struct proto_key_ref key;
	uint8_t digest[32];
};

struct proto_generate {			/* PROTO_GENERATE */
	const char *token_uri;		/* required */
	const char *label;		/* required, text */
	const uint8_t *id;		/* CKA_ID to set; empty: the helper picks */
	size_t id_len;
};

/*
 * PROTO_CONFIGURE: what the helper opens its module with.  The URIs may hold
 * a pin-value, which is why they never go on the helper's command line.
 */
struct proto_configure {
	const char *const *token_uris;	/* 0..LIMIT_P11_URIS, each required; none: every token */
	size_t ntoken_uris;
	const char *const *pin_rejected;	/* 0..LIMIT_PROTO_TOKENS token URIs whose */
	size_t npin_rejected;		/* configured PIN the token rejected before */
};

struct proto_login {			/* PROTO_LOGIN */
	const char *token_uri;		/* required */
	uint32_t flags;			/* enum proto_login_flag */
	const uint8_t *pin;		/* 1..LIMIT_P11_PIN bytes; none with PIN_PAD */
	size_t pin_len;
};

struct proto_key_list {			/* PROTO_KEY_LIST: the helper's module */
	const char *manufacturer;	/* CK_INFO manufacturerID, text */
	const char *description;	/* CK_INFO libraryDescription, text */
	uint8_t version_major;		/* CK_INFO libraryVersion */
	uint8_t version_minor;
	const struct proto_token *tokens;	/* 0..LIMIT_PROTO_TOKENS */
	size_t ntokens;			/* keys over all tokens: 0..LIMIT_PROTO_KEYS */
};

struct proto_key_state_reply {		/* PROTO_KEY_STATE */
	uint32_t handle;		/* 0 exactly when NOT_FOUND */
	uint8_t state;			/* enum proto_key_state */
	uint32_t token_flags;		/* PRESENT set exactly when AVAILABLE; 0 when NOT_FOUND */
};

struct proto_signature {		/* PROTO_SIGNATURE */
	uint8_t sig[64];		/* r || s, 0 < r,s < n, s <= n/2; no recovery id */
};

struct proto_login_result {		/* PROTO_LOGIN_RESULT */
	uint8_t status;			/* enum proto_login_status */
	uint32_t token_flags;		/* after the attempt */
};

struct proto_error {			/* PROTO_ERROR */
	int32_t code;			/* negative, an core/err.h code */
	const char *message;		/* text, may be "" */
};

struct proto_event {			/* PROTO_EVENT */
	uint8_t kind;			/* enum proto_event_kind */
	uint64_t slot_id;
	const char *token_uri;		/* required */
};

struct proto_alloc;

struct proto_msg {
	uint8_t type;			/* enum proto_type */
	uint32_t id;			/* request id; see docs/token-protocol.md */
	union {
		struct proto_hello hello;		/* HELLO, HELLO_REPLY */
		struct proto_key_status key_status;
		struct proto_sign sign;
		struct proto_generate generate;
		struct proto_login login;
		struct proto_configure configure;
		struct proto_key_list key_list;
		struct proto_key_state_reply key_state;
		struct proto_signature signature;
		struct proto_key generated;
		struct proto_login_result login_result;
		struct proto_error error;
		struct proto_event event;
	};				/* LIST_KEYS has no fields */
	struct proto_alloc *priv;	/* private: a decoded message's memory */
};

/*
 * Append m as one frame (length prefix included) to b.  m is borrowed.
 * On error b is as it was.  Errors: ERR_PROTO_UNKNOWN_TYPE,
 * ERR_PROTO_FIELD_SIZE, ERR_PROTO_FIELD_VALUE, ERR_TOO_LONG, ERR_TOO_MANY,
 * ERR_PROTO_FRAME_SIZE, ERR_NOMEM (and b's own cap: ERR_TOO_LONG).
 */
int proto_encode(struct eth_buf *b, const struct proto_msg *m);

/*
 * Decode one whole frame, length prefix included, that `from` sent; nothing
 * may follow it.  On success *outp is the message (caller frees with
 * proto_msg_free()); on error *outp is NULL.  Errors: ERR_PROTO_TRUNCATED,
 * ERR_PROTO_TRAILING, ERR_PROTO_FRAME_SIZE, ERR_PROTO_UNKNOWN_TYPE,
 * ERR_PROTO_DIRECTION, ERR_PROTO_FIELD_COUNT, ERR_PROTO_FIELD_SIZE,
 * ERR_PROTO_FIELD_VALUE, ERR_TOO_LONG, ERR_TOO_MANY, ERR_NOMEM.
 */
int proto_decode(const uint8_t *untrusted_frame, size_t len, enum proto_side from,
    struct proto_msg **outp);

/* Wipe and free a decoded message; accepts NULL. */
void proto_msg_free(struct proto_msg *m);

/* Which side may send a message type; 0 for a type that does not exist. */
enum proto_side proto_type_sender(int type);

/* 1 when reply_type answers request_type (PROTO_ERROR answers every request), else 0. */
int proto_is_reply_to(int request_type, int reply_type);

/* "SIGN", "KEY_LIST", ...; "UNKNOWN" for a type that does not exist. */
const char *proto_type_name(int type);

/*
 * Make a token's text (a CK_TOKEN_INFO field, a CKA_LABEL) fit the protocol's
 * text rule: trailing spaces and NULs dropped, each byte that is not part of
 * allowed UTF-8 (controls, DEL, C1, bidi overrides, malformed sequences)
 * replaced by '?', cut at a character boundary to fit out.  Writes a
 * NUL-terminated string to out (outsz >= 1; LIMIT_PROTO_TEXT + 1 fits any
 * field) and returns its length.
 */
size_t proto_text_clean(const uint8_t *untrusted, size_t len, char *out, size_t outsz);

/*
 * 1 when s is a URI that the protocol accepts in a URI field that must be
 * set (docs/token-protocol.md §3), else 0 (NULL, empty, too long, not
 * "pkcs11:", a character or %-escape the protocol refuses).  The encoder and
 * the decoder check URIs with the same rule.
 */
int proto_uri_ok(const char *s);

/*
 * Incremental reader for a stream: feed bytes (or read them from an fd), take
 * whole decoded messages.  A frame's length prefix is checked as soon as it
 * has arrived, before its body is buffered.  Bytes of a frame are wiped once
 * it is taken.  After an error every call returns the same error.
 */
struct proto_reader;

/* A reader for messages that `from` sends.  Caller frees with proto_reader_free(). */
int proto_reader_new(enum proto_side from, struct proto_reader **outp);

/* Wipe and free; accepts NULL. */
void proto_reader_free(struct proto_reader *r);

/*
 * Append bytes (copied).  Take the messages out with proto_reader_next()
 * before feeding much more: at most two maximal frames are held.
 * Errors: ERR_PROTO_FRAME_SIZE, ERR_TOO_LONG, ERR_NOMEM.
 */
int proto_reader_feed(struct proto_reader *r, const uint8_t *untrusted, size_t len);

/*
 * One read(2) from fd straight into the reader (no copy of a PIN elsewhere).
 * 0 when it read something, or nothing because fd is non-blocking and empty
 * or a signal came.  ERR_PROTO_CLOSED at end of file: messages already read
 * can still be taken with proto_reader_next().  Errors: also ERR_IO and those
 * of proto_reader_feed().
 */
int proto_reader_read(struct proto_reader *r, int fd);

/*
 * Take the next whole message: 0 and *outp set (caller frees with
 * proto_msg_free()), or 0 and *outp NULL when no whole frame has arrived.
 * After end of file: ERR_PROTO_CLOSED when nothing is left, ERR_PROTO_TRUNCATED
 * when part of a frame is.  Errors: those of proto_decode().
 */
int proto_reader_next(struct proto_reader *r, struct proto_msg **outp);

/*
 * 1 when proto_reader_next() would not answer "0 and NULL" now: a whole
 * frame is held, or an error or the end of file is there to report; else 0.
 * Nothing is decoded or taken: several threads sharing one reader (under
 * their own lock) say with it whether another should come for the rest.
 */
int proto_reader_pending(const struct proto_reader *r);

/*
 * Blocking helpers.  deadline is absolute, on CLOCK_MONOTONIC (see
 * clock_deadline_ms() in core/clock.h); NULL waits for ever.  Signals (EINTR) are retried
 * within the deadline; SIGPIPE is not raised on sockets.  fd may be blocking
 * or not; on a blocking pipe (not a socket) a write may overrun the deadline.
 */

/*
 * Encode m and write the whole frame to fd; the frame buffer is wiped.
 * Errors: those of proto_encode(), ERR_PROTO_CLOSED (peer gone), ERR_IO,
 * ERR_TIMEOUT (part of the frame may have been written).
 */
int proto_send(int fd, const struct proto_msg *m, const struct timespec *deadline);

/*
 * Read exactly one frame from fd (nothing past it) and decode it as sent by
 * `from`; the frame buffer is wiped.  *outp as for proto_decode().  Do not
 * mix with a proto_reader on the same fd.  Errors: ERR_PROTO_CLOSED (end of
 * file before the frame), ERR_PROTO_TRUNCATED (inside it), ERR_IO,
 * ERR_TIMEOUT, and those of proto_decode().
 */
int proto_recv(int fd, enum proto_side from, const struct timespec *deadline,
    struct proto_msg **outp);

#endif /* P11_PROTO_H */
