/*
 * qrexec.h - the JSON-RPC endpoint as a Qubes qrexec service.
 *
 * Socket service: qrexec-agent connects to the socket named after the service
 * under /etc/qubes-rpc/ and first writes the descriptor
 * "SERVICE+ARGUMENT SOURCE\0"; then comes the calling qube's standard input,
 * ended by EOF, and what is written back reaches its standard output.  One
 * request per connection, or many when framed (below).  The caller is SOURCE, named by dom0 (trusted); the
 * argument selects the profile.  Only the agent (root, by default) may connect.
 *
 * Executable service: qrexec runs the signer with --stdio and names the caller
 * in QREXEC_REMOTE_DOMAIN and the argument in QREXEC_SERVICE_ARGUMENT;
 * rpc_qrexec_caller_from_env() reads them.
 *
 * A body may come wrapped by p11signer-relay in an envelope,
 *   {"p11signer_envelope":1,"metadata":{...},"request":<JSON-RPC>},
 * whose metadata (origin, host, user_agent, remote) is copied into the
 * caller's untrusted_* fields only: the envelope cannot name the caller.
 *
 * Framed connections (docs/qubes.md): when the data after the descriptor
 * (or on --stdio's input) begins with RPC_QREXEC_FRAMES_HELLO, the connection
 * carries many requests: each a 4-byte big-endian length (1 to
 * LIMIT_JSON_BODY) and that many bytes, each answered in order by a 4-byte
 * length and the answer (length 0: a notification, nothing to say).  The
 * caller is the descriptor's for the whole connection; each request's
 * envelope metadata is its own.  The vault closes a framed connection idle
 * for LIMIT_QREXEC_CONN_IDLE_S and reads no request once it is
 * LIMIT_QREXEC_CONN_LIFE_S old, so a change of dom0's policy reaches every
 * caller within that time whatever the calling qube does.  A bad length ends
 * the connection.  Data without the hello is one request, read to EOF.
 *
 * Every name is validated: qube names as Qubes allows them (a letter, then
 * letters, digits, '_', '.', '-'; at most LIMIT_QUBE_NAME), profile names as
 * letters, digits, '_', '-' (at most LIMIT_PROFILE_NAME; empty means
 * "default"), the service against the list the daemon serves.
 */
#ifndef RPC_QREXEC_H
#define RPC_QREXEC_H

#include <stddef.h>
#include <sys/types.h>
#include "rpc/caller.h"
#include "rpc/jsonrpc.h"

struct rpc_qrexec;

/* Begins a framed connection's data; no JSON text begins so. */
#define RPC_QREXEC_FRAMES_HELLO "p11signer-frames/1\n"
#define RPC_QREXEC_FRAMES_HELLO_LEN (sizeof(RPC_QREXEC_FRAMES_HELLO) - 1)

/* The services p11signer answers: its own, and the old Clef guide's name. */
extern const char *const rpc_qrexec_services[];
extern const size_t rpc_qrexec_nservices;

/*
 * Parse an untrusted descriptor (len bytes, the NUL included).  On success
 * fills caller (kind RPC_CALLER_QUBE, id = source qube, profile) and returns
 * 0.  Errors: ERR_TOO_LONG, ERR_INVALID_ARGUMENT (malformed, unknown service,
 * bad qube or profile name).
 */
int rpc_qrexec_parse_descriptor(const char *untrusted, size_t len, struct rpc_caller *caller);

/* The caller of an executable service, from the environment qrexec sets:
 * QREXEC_REMOTE_DOMAIN, and the profile from QREXEC_SERVICE_ARGUMENT or, as
 * newer qrexec sets only that, from QREXEC_SERVICE_FULL_NAME ("SERVICE+ARG").
 * Errors: ERR_INVALID_ARGUMENT when QREXEC_REMOTE_DOMAIN is absent or bad,
 * or the profile is not a valid profile name. */
int rpc_qrexec_caller_from_env(struct rpc_caller *caller);

/*
 * Serve the socket service at path.  allowed_uids: who may connect (NULL or
 * n == 0: root only, which is qrexec-agent).  call_ctx of each method call is
 * the struct rpc_caller parsed from the descriptor.  Caller frees with
 * rpc_qrexec_stop().  Errors as rpc_unixsrv_start().  The descriptor and
 * the whole body must arrive within LIMIT_UNIX_REQUEST_SECONDS of the
 * connection (an absolute deadline, not moved by bytes arriving), or the
 * call is answered with an ERR_TIMEOUT error.
 */
int rpc_qrexec_start(const char *path, const uid_t *allowed_uids, size_t n,
    const struct rpc_table *table, struct rpc_qrexec **outp);

/* Set that deadline in seconds (0: LIMIT_UNIX_REQUEST_SECONDS); for tests,
 * which cannot wait the default.  Applies to connections made later. */
void rpc_qrexec_set_request_deadline(struct rpc_qrexec *q, unsigned seconds);
void rpc_qrexec_stop(struct rpc_qrexec *q);

/*
 * Answer one body that came through qrexec from caller (whose trusted part
 * is already set): unwrap the relay's envelope if there is one, copying its
 * metadata into the caller's untrusted_* fields only, then dispatch.
 * Returns the serialised answer, NULL when there is nothing to send; caller
 * frees with free().  Used by the socket service and by the fuzz target.
 */
char *rpc_qrexec_answer(const struct rpc_table *table, struct rpc_caller *caller,
    const char *untrusted_body, size_t len);

/*
 * One request from in_fd (read to EOF, at most LIMIT_JSON_BODY) answered on
 * out_fd, or a framed connection's requests (see above): the --stdio
 * transport.  0, or ERR_IO / ERR_TOO_LONG after writing
 * an error response.
 */
int rpc_stdio_serve(int in_fd, int out_fd, const struct rpc_table *table,
    struct rpc_caller *caller);

#endif /* RPC_QREXEC_H */
