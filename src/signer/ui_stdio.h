/*
 * ui_stdio.h - the client side of Clef's UI protocol (7.0.1) over a pair of
 * descriptors (--stdio-ui: the UI started us and holds our stdin/stdout).
 *
 * We send JSON-RPC requests (ui_approveTx, ui_approveSignData,
 * ui_approveListing, ui_approveNewAccount, ui_onInputRequired) and
 * notifications (ui_showInfo, ui_showError, ui_onApprovedTx,
 * ui_onSignerStartup); the UI answers requests by id.  Many daemon threads
 * may wait on the UI at once: a reader thread matches answers to waiters.  A
 * call that times out returns ERR_TIMEOUT and its answer, if it ever comes,
 * is dropped: nothing is approved after the caller was told it failed.
 * Answers are framed like IPC (a stream of JSON values) and capped at
 * LIMIT_JSON_BODY.  When the UI goes away every waiting call fails with
 * ERR_IO, and so does every later one.
 *
 * This file is the protocol, written once; the transports are stdin/stdout
 * (--stdio-ui, set up in p11signer.c) and the UI socket, where one approver
 * at a time connects (signer/ui_socket.h).
 */
#ifndef SIGNER_UI_STDIO_H
#define SIGNER_UI_STDIO_H

#include <jansson.h>

struct signer_ui_stdio;

/* Start talking to a UI on in_fd/out_fd (borrowed; not closed).  Caller frees with signer_ui_stdio_close(). */
int signer_ui_stdio_open(int in_fd, int out_fd, struct signer_ui_stdio **outp);

/*
 * Call method with params (stolen; a JSON array).  On success *resultp is the
 * UI's result (new reference).  Errors: ERR_TIMEOUT, ERR_IO (UI gone), and
 * ERR_JSON_TYPE when the UI answered with an error object.
 */
int signer_ui_stdio_call(struct signer_ui_stdio *ui, const char *method, json_t *params,
    int timeout_ms, json_t **resultp);

/* Send a notification (params stolen).  ERR_IO when the UI is gone. */
int signer_ui_stdio_notify(struct signer_ui_stdio *ui, const char *method, json_t *params);

/*
 * The same as a struct signer_approver (api.h), ctx a struct
 * signer_ui_stdio *: the request goes as the single positional parameter,
 * as Clef sends it.
 */
int signer_ui_stdio_ask(void *ctx, const char *method, const json_t *request,
    int timeout_ms, json_t **resultp);
void signer_ui_stdio_notify_approver(void *ctx, const char *method, const json_t *params);
/*
 * As signer_ui_stdio_ask(), and the request is taken back when its caller
 * has gone (struct signer_approver's ask_watched): Clef's UI protocol has no
 * message for that, so the UI is sent ui_showInfo saying the request was
 * withdrawn, and its late answer is dropped.  Returns ERR_WITHDRAWN.
 */
int signer_ui_stdio_ask_watched(void *ctx, const char *method, const json_t *request,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp);

/*
 * Block until the UI is gone (it hung up, broke the framing, or
 * signer_ui_stdio_shutdown() was called).  For a transport that holds the
 * connection while a UI is attached (signer/ui_socket.h).
 */
void signer_ui_stdio_wait_gone(struct signer_ui_stdio *ui);

/*
 * For stopping the daemon: every waiting call fails now with ERR_IO, and so
 * does every later one; the object stays valid until close.  Accepts NULL.
 */
void signer_ui_stdio_shutdown(struct signer_ui_stdio *ui);

/* Stops the reader; accepts NULL. */
void signer_ui_stdio_close(struct signer_ui_stdio *ui);

#endif /* SIGNER_UI_STDIO_H */
