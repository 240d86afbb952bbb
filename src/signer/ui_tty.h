/*
 * ui_tty.h - the built-in approver (--ui tty): shows each request decoded on
 * a terminal and asks y/N.
 *
 * What is shown: the trusted caller (qube, uid, peer) and, marked as claims,
 * the request's own metadata (Origin, User-Agent, remote, X-Forwarded-For);
 * for transactions the chain, from, to, value in ETH, fees, gas, nonce, the
 * call's method when known and the validator's messages; for signed data
 * the content type, key, hash and the message tree (EIP-712 domain and
 * message field by field).  Everything that came from the request is
 * printed as printable ASCII only: other bytes appear as \xNN, so a request
 * cannot move the cursor, recolour the screen or hide text.
 *
 * Type-ahead never answers: on a terminal, input typed before a question is
 * discarded (tcflush) before the request is drawn, and keys that arrive while
 * it is drawn are discarded and the question asked again (at most 5 times,
 * then no), so only keys typed after the whole question was shown count.
 * Other descriptors (pipes) are read as they are.
 *
 * Prompts are serialised: one request at a time on the terminal, the others
 * wait (their timeout keeps running).  No answer within the timeout is a
 * no, and the terminal says so.  The functions have the shapes of struct
 * signer_approver (api.h) with ctx a struct signer_ui_tty *.
 */
#ifndef SIGNER_UI_TTY_H
#define SIGNER_UI_TTY_H

#include <jansson.h>

struct signer_ui_tty;

/* Use in_fd/out_fd (borrowed; usually /dev/tty).  Caller frees with signer_ui_tty_close(). */
int signer_ui_tty_open(int in_fd, int out_fd, struct signer_ui_tty **outp);
void signer_ui_tty_close(struct signer_ui_tty *t);
/* For stopping the daemon: waiting and later prompts answer no at once (within 200 ms). */
void signer_ui_tty_shutdown(struct signer_ui_tty *t);

int signer_ui_tty_ask(void *t, const char *method, const json_t *request,
    int timeout_ms, json_t **resultp);
/*
 * As signer_ui_tty_ask(), and the request is taken back when its caller has
 * gone (struct signer_approver's ask_watched): before it is shown (it may
 * have waited for the terminal) nothing is drawn; while it is asked, the
 * terminal says "(withdrawn: the caller is gone)".  Returns ERR_WITHDRAWN.
 */
int signer_ui_tty_ask_watched(void *t, const char *method, const json_t *request,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp);
void signer_ui_tty_notify(void *t, const char *method, const json_t *params);

/*
 * Write the text shown for a request to out_fd without asking: for tests and
 * for `p11signer` diagnostics.  Returns 0 or ERR_IO.
 */
int signer_ui_tty_render(int out_fd, const char *method, const json_t *request);

/*
 * The raw data of a ui_approveTx request's transaction, in hex: the 4-byte
 * selector, then one 32-byte word a line with its offset.  What the tty
 * shows when the answer to a transaction is "d" (then it asks again).
 */
int signer_ui_tty_render_data(int out_fd, const json_t *request);

#endif /* SIGNER_UI_TTY_H */
