/*
 * client.h - the daemon's side of the token protocol: one running
 * p11signer-token per PKCS#11 module, started over a socketpair(), spoken to
 * with the messages of proto.h.  No PKCS#11 code is loaded here.
 *
 * Several threads may call at once: each request gets its own id, a reader
 * thread hands each reply to the thread waiting for it, so requests to one
 * helper are in flight together (the helper runs them in parallel where the
 * token allows).  Different modules have different clients and never wait
 * for each other.
 *
 * When the helper dies (crash, kill, closed socket, a malformed frame, a
 * reply to no request), every request in flight fails at once with
 * ERR_PROTO_CLOSED and a why that says what became of it ("the token helper
 * for MODULE died (signal 9)", "... exited with status 1", "... broke the
 * token protocol (...); it was killed"); the next request starts a new helper
 * (at most one restart per second, so a helper that dies at start-up is not
 * spun: inside that second a request fails at once, ERR_PROTO_CLOSED, with
 * the reason and when to try again).  Unsolicited PROTO_EVENTs (token
 * inserted/removed) go to the on_event callback, from the reader thread.
 *
 * The helper runs with one end of a socketpair as its fd 0, /dev/null as
 * its stdout, the daemon's stderr, no other descriptor, default signal
 * dispositions and an empty signal mask.  Its exit is noticed even when a
 * process it started keeps its socket open.  No zombie, descriptor or thread
 * is left after p11_client_stop().
 *
 * Every function returns 0 or a negative ERR_* code (core/err.h), and on an
 * error writes a one-line why; a reply of type PROTO_ERROR is returned as its
 * code, with its message in why.
 */
#ifndef P11_CLIENT_H
#define P11_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "p11/proto.h"

/* A why buffer: the one detail buffer of core/err.h. */
#define P11_CLIENT_WHY_MAX ERR_WHY_MAX

struct p11_client_config {
	const char *helper_path;	/* the p11signer-token executable */
	const char *module;		/* absolute path, or a p11-kit module name */
	const char *const *allowed_dirs;/* --allow for the helper; NULL: its default */
	size_t nallowed;		/* at most LIMIT_P11_ALLOWED_DIRS, as the helper takes */
	const char *const *token_uris;	/* --token: offer only these; NULL: all */
	size_t ntokens;
	unsigned sessions;		/* per token; 0: the helper's default */
	int timeout_ms;			/* per request; 0: 30000 (PIN pads need long) */
	/*
	 * Called from the reader thread for each PROTO_EVENT (borrowed). May be
	 * NULL.  Replies are read by that same thread, so it must return
	 * promptly and must not wait for anything that a thread waiting in
	 * p11_client_*() may hold; calling the client from it fails with
	 * ERR_INVALID_ARGUMENT.
	 */
	void (*on_event)(void *ctx, const struct proto_event *ev);
	void *event_ctx;
};

struct p11_client;

/*
 * Start the helper and exchange PROTO_HELLO.  The config's strings are
 * copied.  Caller frees with p11_client_stop().  Errors: ERR_IO (cannot
 * start it), ERR_PROTO_* (it does not speak our version, or exits before
 * answering: ERR_PROTO_CLOSED), ERR_TIMEOUT, ERR_NOMEM,
 * ERR_INVALID_ARGUMENT, ERR_P11_URI_INVALID (a token URI with a '%' that
 * starts no %XX escape, refused before the helper is started), or the code
 * of an ERROR it answers HELLO with; why says which.
 */
int p11_client_start(const struct p11_client_config *cfg, struct p11_client **outp,
    char why[P11_CLIENT_WHY_MAX]);

/*
 * Stop the helper (closes its socket, waits for it, kills it after 2 s) and
 * free the client; accepts NULL.  No other call on c may be running, and it
 * must not be called from on_event.
 */
void p11_client_stop(struct p11_client *c);

/*
 * Send one request (req->id is ignored: the client numbers requests) and
 * wait for its reply, at most the configured timeout.  *replyp is the reply
 * (never PROTO_ERROR: that becomes the return code); caller frees with
 * proto_msg_free().  req is borrowed: a LOGIN's PIN is encoded only into
 * proto_send()'s buffer, which is wiped.  Errors: ERR_PROTO_CLOSED (the
 * helper ended, or is down inside the restart limit), ERR_TIMEOUT (its late
 * reply is dropped; a helper that leaves 32 requests unanswered past their
 * timeout is killed), what proto_encode() refuses (nothing was sent),
 * ERR_INVALID_ARGUMENT (not a request, or called from on_event), the code
 * of a PROTO_ERROR reply, or those of p11_client_start() when it restarts.
 */
int p11_client_call(struct p11_client *c, const struct proto_msg *req,
    struct proto_msg **replyp, char why[P11_CLIENT_WHY_MAX]);

/*
 * Conveniences over p11_client_call().  p11_client_sign()'s sig64 is the
 * helper's r || s (low s, no recovery id), not verified: its caller
 * verifies it under the key of that address before using it.
 */
int p11_client_list(struct p11_client *c, struct proto_msg **key_listp,
    char why[P11_CLIENT_WHY_MAX]);
int p11_client_sign(struct p11_client *c, const struct proto_key_ref *key,
    const uint8_t digest[32], uint8_t sig64[64], char why[P11_CLIENT_WHY_MAX]);
int p11_client_login(struct p11_client *c, const char *token_uri, uint32_t flags,
    const uint8_t *pin, size_t pin_len, struct proto_login_result *resultp,
    char why[P11_CLIENT_WHY_MAX]);
int p11_client_generate(struct p11_client *c, const char *token_uri, const char *label,
    const uint8_t *id, size_t id_len, struct proto_msg **generatedp,
    char why[P11_CLIENT_WHY_MAX]);

/* The helper's pid (0 when none is running), for tests that kill it. */
long p11_client_helper_pid(struct p11_client *c);

#endif /* P11_CLIENT_H */
