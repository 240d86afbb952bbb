/*
 * node.h - the user's Ethereum node, as the relay's eth_* endpoint reaches it:
 * JSON-RPC over HTTP(S) with libcurl.
 *
 * Connections are kept alive and shared between the relay's threads (a
 * libcurl share handle for connections, DNS and TLS sessions).  TLS is
 * verified against the system's CAs as libcurl does by default; nothing here
 * turns that off.  Redirects are not followed; only http and https.  Every
 * call has a connect timeout of LIMIT_NODE_CONNECT_S and a total timeout of
 * the configured seconds, and an answer over LIMIT_JSON_BODY is refused.
 *
 * The node is trusted for what it says about the chain (nonces, fees, gas,
 * chain id), as a wallet trusts its node; it is never trusted to decide what
 * is signed: the vault's rules and its approver do that, on the transaction
 * the vault itself decodes.
 */
#ifndef RELAY_NODE_H
#define RELAY_NODE_H

#include <stddef.h>
#include <jansson.h>

struct relay_node;

/* Room for a node's error message, with NUL. */
#define RELAY_NODE_MSG_MAX 256

/*
 * How a call failed.  code is the node's JSON-RPC error code when the node
 * answered with an error (message as it gave it; data a new reference or
 * NULL), 0 when the node could not be reached or answered what is not
 * JSON-RPC (message then says which).
 */
struct relay_node_error {
	int code;
	char message[RELAY_NODE_MSG_MAX];
	json_t *data;
};

/*
 * A client for url (http:// or https://) with timeout_s per call (0: 30).
 * url is copied.  Caller frees with relay_node_free().  Errors:
 * ERR_INVALID_ARGUMENT (not an http(s) URL), ERR_NOMEM.
 */
int relay_node_new(const char *url, unsigned timeout_s, struct relay_node **outp);

/* Free; accepts NULL. */
void relay_node_free(struct relay_node *n);

/* The URL, borrowed, for messages. */
const char *relay_node_url(const struct relay_node *n);

/*
 * POST body as it is; *answerp is the node's answer as it is (malloc'ed,
 * NUL-terminated, caller frees with free()), *statusp its HTTP status.
 * Errors: ERR_IO (cannot connect, or the connection failed; logged with
 * the reason), ERR_TIMEOUT, ERR_TOO_LONG (answer over LIMIT_JSON_BODY),
 * ERR_NOMEM.  Output pointers are NULL/0 unless it returns 0.
 */
int relay_node_post(struct relay_node *n, const char *body, size_t len,
    char **answerp, size_t *lenp, long *statusp);

/*
 * One JSON-RPC call: method with params (stolen; NULL: []).  On success
 * *resultp is the result (new reference).  When the node answers with an
 * error, or cannot be reached, returns ERR_RELAY_NODE_REFUSED (it answered
 * with an error), ERR_RELAY_NODE_ANSWER (not a JSON-RPC answer) or the error
 * of relay_node_post(), with *errp filled; *resultp is NULL then.
 */
int relay_node_call(struct relay_node *n, const char *method, json_t *params,
    json_t **resultp, struct relay_node_error *errp);

/*
 * Split one JSON-RPC response (answer, len bytes; NULL is none) into its
 * result (a new reference in *resultp) or its error (*errp filled; code
 * RPC_ERR_SERVER when the error gives none).  Returns 0,
 * ERR_RELAY_NODE_REFUSED (an error response) or ERR_RELAY_NODE_ANSWER (no
 * response object with a result or an error; *errp is then left as it was).
 * Used for the node's answers and for the vault's.
 */
int relay_rpc_answer_split(const char *answer, size_t len, json_t **resultp,
    struct relay_node_error *errp);

/* Release what an error holds (its data); accepts one never filled. */
void relay_node_error_clear(struct relay_node_error *errp);

#endif /* RELAY_NODE_H */
