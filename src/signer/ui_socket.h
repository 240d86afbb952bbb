/*
 * ui_socket.h - the daemon's UI socket (`serve --ui socket`): a Unix socket
 * on which one approver at a time (p11signer-approve, or any Clef UI that
 * can connect to a socket) speaks Clef's UI protocol 7.0.1, newline-delimited
 * JSON-RPC both ways.  The protocol is signer/ui_stdio's, unchanged: this
 * module only accepts the connection and hands its descriptor to it.
 *
 * Who may connect: the socket file is mode 0600 (0660 when the allowed uid
 * is not the daemon's own, so that a shared group can reach it), and the
 * kernel's word on the peer (SO_PEERCRED) must be the allowed uid; anything
 * else is answered with an error line and closed (rpc/unixsrv.h).
 *
 * One approver at a time: while one is attached, a second connection gets
 * {"error": {"code": -32000, "message": "another approver is connected; only
 * one at a time"}} and is closed.  Each approver gets ui_onSignerStartup
 * first.
 *
 * A question asked while no approver is attached waits for one up to the
 * question's timeout, then fails with ERR_UI_NO_APPROVER ("no approver
 * connected").  An approver that hangs up, breaks the framing or sends more
 * than LIMIT_JSON_BODY without a complete value is dropped; every question it
 * was asked fails with ERR_IO (a refusal) and is never asked again, so
 * nothing is signed on its behalf later.  Answers with unknown ids, answers
 * to questions never asked and answers that come after a timeout are dropped
 * (signer/ui_stdio.h).
 */
#ifndef SIGNER_UI_SOCKET_H
#define SIGNER_UI_SOCKET_H

#include <sys/types.h>

#include <jansson.h>

struct signer_ui_socket;

/*
 * Listen at path for approvers running as uid.  Caller frees with
 * signer_ui_socket_stop().  Errors as rpc_unixsrv_start(): ERR_TOO_LONG,
 * ERR_IO (in use, cannot bind), ERR_NOMEM.
 */
int signer_ui_socket_start(const char *path, uid_t uid, struct signer_ui_socket **outp);

/*
 * The "info" object of ui_onSignerStartup sent to each approver as it
 * connects (stolen; NULL is ignored).  Until it is set, {"intapi_version":
 * "7.0.1"} alone is sent.
 */
void signer_ui_socket_set_startup_info(struct signer_ui_socket *s, json_t *info);

/*
 * As signer_ui_stdio_call() (params stolen), on the attached approver;
 * waits for one up to timeout_ms when none is.  Errors: ERR_UI_NO_APPROVER,
 * ERR_TIMEOUT, ERR_IO (the approver went away or the daemon is stopping),
 * ERR_JSON_TYPE (the approver answered with an error object).
 */
int signer_ui_socket_call(struct signer_ui_socket *s, const char *method, json_t *params,
    int timeout_ms, json_t **resultp);

/*
 * A notification to the attached approver (params stolen).  With none
 * attached it is dropped and ERR_UI_NO_APPROVER returned: notices are not
 * kept for a later approver.
 */
int signer_ui_socket_notify(struct signer_ui_socket *s, const char *method, json_t *params);

/* The same as a struct signer_approver (api.h), ctx a struct signer_ui_socket *. */
int signer_ui_socket_ask(void *ctx, const char *method, const json_t *request,
    int timeout_ms, json_t **resultp);
void signer_ui_socket_notify_approver(void *ctx, const char *method, const json_t *params);
/* signer_approver's ask_watched: a request whose caller has gone is taken
 * back from the approver (signer_ui_stdio_ask_watched()). */
int signer_ui_socket_ask_watched(void *ctx, const char *method, const json_t *request,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp);

/*
 * For stopping the daemon: waiting questions fail now with ERR_IO, later
 * ones too, and the approver is let go.  Accepts NULL.
 */
void signer_ui_socket_shutdown(struct signer_ui_socket *s);

/* Shut down, stop listening, remove the socket file; accepts NULL. */
void signer_ui_socket_stop(struct signer_ui_socket *s);

#endif /* SIGNER_UI_SOCKET_H */
