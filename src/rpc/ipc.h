/*
 * ipc.h - the JSON-RPC endpoint on a Unix socket (geth's IPC transport).
 *
 * The socket is created with mode 0600 and a connecting process is accepted
 * only when the kernel (SO_PEERCRED) says it runs as one of the allowed uids
 * (by default, the daemon's own uid).  A connection carries a stream of
 * JSON-RPC bodies, each a top-level object or array, framed by
 * rpc_jsonrpc_frame(); each answer is written followed by a newline.  One
 * thread per connection.  A message over LIMIT_JSON_BODY, or a stream that
 * is not JSON, is answered with an error and the connection closed.
 *
 * A request must arrive whole within LIMIT_UNIX_REQUEST_SECONDS of its first
 * byte (an absolute deadline: more bytes do not extend it), or it is answered
 * with an ERR_TIMEOUT error and the connection closed.  A connection waiting
 * between requests has no deadline but may be closed to make room for a new
 * one (rpc/unixsrv.h).
 */
#ifndef RPC_IPC_H
#define RPC_IPC_H

#include <stddef.h>
#include <sys/types.h>
#include "rpc/jsonrpc.h"

struct rpc_ipc;

/*
 * Serve table at path.  allowed_uids (borrowed for the server's life) lists
 * uids that may connect; NULL or n == 0 means the daemon's own uid only.
 * call_ctx of each method call is a struct rpc_caller * of kind
 * RPC_CALLER_UNIX.  An existing socket at path is replaced only when no one
 * listens on it.  Caller frees with rpc_ipc_stop().
 * Errors as rpc_unixsrv_start() (ERR_SOCKET_IN_USE when a live socket is there).
 */
int rpc_ipc_start(const char *path, const uid_t *allowed_uids, size_t n,
    const struct rpc_table *table, struct rpc_ipc **outp);

/* Set the request deadline in seconds (0: LIMIT_UNIX_REQUEST_SECONDS); for
 * tests, which cannot wait the default.  Applies to requests started later. */
void rpc_ipc_set_request_deadline(struct rpc_ipc *s, unsigned seconds);

/* Stop serving, close connections, remove the socket; accepts NULL. */
void rpc_ipc_stop(struct rpc_ipc *s);

#endif /* RPC_IPC_H */
