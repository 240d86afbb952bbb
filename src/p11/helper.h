/*
 * helper.h - the token helper's side of the token protocol: one open
 * struct p11_module (token.h) served to the daemon over one stream socket,
 * with the messages of proto.h (docs/token-protocol.md).  src/cmd/
 * p11signer-token.c is the program around it; tests can call it on a
 * socketpair.  No JSON is parsed here.
 *
 * Threads.  p11_helper_serve() reads HELLO and CONFIGURE in the calling
 * thread, which then waits for the session's end.  Requests are read by a
 * fixed pool of workers, and each is run by the worker that read it
 * (helper_workers.c): opt->max_inflight (default 16) in flight, one worker
 * more to answer a request beyond that many at once with
 * ERROR(ERR_TOO_MANY).  fd is made non-blocking while they serve, and
 * given back as it came.  Replies go out in the order they are ready, each
 * echoing its request's id, under one lock around writes.  Signs on one token
 * share that token's session pool (token.h); different tokens do not wait for
 * each other.  A monitor thread rescans the module on its slot events (every
 * opt->event_poll_ms besides) or, when the module has none, every
 * opt->poll_ms, or at once when a request found a token gone, and sends
 * PROTO_EVENT for tokens inserted and removed and key sets that changed.
 *
 * Key handles: the first time a key is seen (its token's number, which
 * token.h keeps for a token across removals, and its address) it gets the
 * next handle, 1, 2, ...; it keeps it while the helper runs.
 *
 * PINs: a LOGIN's PIN goes from the decoded message (wiped when freed) into
 * one stack buffer that p11_token_login() wipes.  No log line, reply or error
 * holds one.  Log lines (stderr) name the module, the token's label and the
 * error.
 */
#ifndef P11_HELPER_H
#define P11_HELPER_H

#include <stddef.h>

#include "p11/proto.h"
#include "p11/token.h"

#define P11_HELPER_INFLIGHT_DEFAULT	16
#define P11_HELPER_INFLIGHT_MAX		64
#define P11_HELPER_POLL_MS_DEFAULT	1000	/* no slot events: rescan this often */
#define P11_HELPER_EVENT_POLL_MS_DEFAULT 5000	/* with slot events: rescan this often too */
#define P11_HELPER_SEND_MS_DEFAULT	10000	/* a frame the daemon does not take by then: fatal */
#define P11_HELPER_STOP_MS_DEFAULT	1500	/* at the end, wait this long for work in the module */

/*
 * Open the module for a session, with the daemon's CONFIGURE (borrowed; its
 * URIs may hold a pin-value: what is kept must be copied, the message is
 * wiped after the call).  0 and *modp, or an error code with a one-line why
 * (clean text, no PIN) that the daemon is told.
 */
typedef int (*p11_helper_open_fn)(void *ctx, const struct proto_configure *cfg,
    struct p11_module **modp, char *why, size_t whysz);

/* Zeroed fields take the defaults; open is required. */
struct p11_helper_options {
	p11_helper_open_fn open;	/* required */
	void *open_ctx;
	const char *name;		/* the module as given, for log lines; NULL: "module" */
	unsigned max_inflight;		/* requests in flight (workers: one more), 1..P11_HELPER_INFLIGHT_MAX */
	int poll_ms;			/* > 0 */
	int event_poll_ms;		/* > 0 */
	int send_timeout_ms;		/* > 0 */
	int stop_ms;			/* > 0 */
	int quiet;			/* 1: no log lines */
};

/*
 * Serve a module on fd (a connected stream socket, blocking) until the
 * daemon closes it or breaks the protocol.  The first message must be
 * PROTO_HELLO with PROTO_VERSION; it is answered with PROTO_HELLO_REPLY, or
 * with ERROR(ERR_PROTO_VERSION) carrying its id (then ERR_PROTO_VERSION is
 * returned), or, when it is not HELLO, ERROR(ERR_PROTO_UNEXPECTED) with id 0.
 * The next must be PROTO_CONFIGURE (else ERROR(ERR_PROTO_UNEXPECTED), id 0):
 * opt->open() opens the module with it, and it is answered with the
 * PROTO_KEY_LIST of that module, or with ERROR(code, why) carrying its id
 * when the module could not be opened (then that code is returned).  So the
 * token URIs, which may hold a PIN, never need to be on the helper's
 * command line.  A malformed frame, a second HELLO or CONFIGURE, or an id
 * already in flight is answered with ERROR(code) with id 0 and ends the
 * session.  *modp is the module opened (NULL when none was): the caller
 * closes it.
 *
 * Returns 0 when the daemon closed the stream between frames; the
 * ERR_PROTO_* code of what the daemon did wrong; ERR_PROTO_CLOSED, ERR_IO or
 * ERR_TIMEOUT when a frame could not be written (the daemon is gone or does
 * not read); ERR_NOMEM, ERR_INVALID_ARGUMENT.  fd is not closed (it is shut
 * down when a write failed).
 *
 * Before it returns, serve stops its threads, waiting up to opt->stop_ms for
 * those still in the module (a PIN pad may hold one).  *busyp (may be NULL)
 * is set to 1 when one is still there: then m must not be closed and the
 * state of the session is left allocated (the caller _exit()s); else 0,
 * and the caller may p11_token_close(*modp).
 */
int p11_helper_serve(int fd, const struct p11_helper_options *opt, struct p11_module **modp,
    int *busyp);

/*
 * For a helper that cannot serve because its command line is wrong (a module
 * that does not open is answered at CONFIGURE instead): wait up to timeout_ms (< 0: for ever) for the daemon's HELLO and
 * answer it with ERROR(code, message), so the daemon can say why; a HELLO of
 * another version gets ERROR(ERR_PROTO_VERSION) instead.  message is made
 * clean text (proto_text_clean) and cut to LIMIT_PROTO_TEXT.  Returns 0 when
 * the ERROR was sent, else the error.
 */
int p11_helper_refuse(int fd, int code, const char *message, int timeout_ms);

/* The protocol's token flags (enum proto_token_flag) for a token of token.h. */
uint32_t p11_helper_token_flags(const struct p11_token_info *t);

#endif /* P11_HELPER_H */
