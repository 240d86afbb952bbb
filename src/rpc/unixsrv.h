/*
 * unixsrv.h - a Unix stream socket server: the part the IPC and qrexec
 * transports share.
 *
 * The socket is created with mode 0600 (umask set around bind), and a
 * connecting process is accepted only when the kernel (SO_PEERCRED) says it
 * runs as an allowed uid.  An existing socket at the path is replaced only
 * when it is stale: connect() to it is refused (ECONNREFUSED), as after its
 * server was killed.  One that accepts, or that this process may not even
 * connect to (someone else's: systemd's socket unit's, another user's), is
 * live and never taken over; nor is anything that is not a socket.  The
 * check, the removal and the bind happen under a flock(2) of the directory,
 * so two servers started at once on one path cannot both take it.  At stop
 * the server removes the path only if it still names the socket it bound.  Each accepted connection gets its own thread,
 * which calls serve(); serve owns nothing and must return when it reads EOF
 * or when rpc_unixsrv_stopping() says so.
 *
 * At most LIMIT_UNIX_CONNECTIONS connections are served at once.  When all
 * are taken, the one that has waited longest between requests (see
 * rpc_unixsrv_set_idle()) is shut down to make room for the new one, so
 * silent connections cannot lock callers out; when none is between
 * requests, the new connection is closed.
 *
 * Under systemd socket activation (LISTEN_PID is this process, LISTEN_FDS
 * counts descriptors from 3), a passed listening Unix stream socket bound to
 * the same path is used instead of binding one; it keeps the unit's owner
 * and mode, the peer uid is still checked, and stopping leaves it in place.
 */
#ifndef RPC_UNIXSRV_H
#define RPC_UNIXSRV_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct rpc_unixsrv;

/* Handle one connection.  fd is closed by the server after serve returns. */
typedef void (*rpc_unixsrv_serve_fn)(struct rpc_unixsrv *srv, void *ctx, int fd, uid_t peer_uid);

/* flags of rpc_unixsrv_start(): a connection counts as between requests
 * from the moment it is accepted (until serve says otherwise), so that one
 * that never sends a byte can make room even before its thread has run. */
#define RPC_UNIXSRV_IDLE_WHEN_NEW 1

/*
 * Listen at path.  allowed_uids (borrowed for the server's life; NULL or
 * n == 0: the daemon's own uid only).  flags: 0 or RPC_UNIXSRV_IDLE_WHEN_NEW.
 * Caller frees with rpc_unixsrv_stop().  Errors: ERR_TOO_LONG (path),
 * ERR_SOCKET_IN_USE (a live socket is there), ERR_SOCKET_NOT_SOCKET
 * (something else is there), ERR_IO (cannot lock the directory or bind),
 * ERR_NOMEM.
 */
int rpc_unixsrv_start(const char *path, const uid_t *allowed_uids, size_t n,
    unsigned flags, rpc_unixsrv_serve_fn serve, void *ctx, struct rpc_unixsrv **outp);

/*
 * Wait until fd is readable or the server stops; timeout_ms < 0 waits for
 * ever.  Returns 1 readable, 0 timed out, -1 stopping or error.
 */
int rpc_unixsrv_wait(struct rpc_unixsrv *srv, int fd, int timeout_ms);

/*
 * Wait until fd is readable, the deadline (from clock_deadline_ms(),
 * core/clock.h) has passed, or the server stops.  Returns as
 * rpc_unixsrv_wait().
 */
int rpc_unixsrv_wait_until(struct rpc_unixsrv *srv, int fd, const struct timespec *due);

/*
 * Say that the connection on fd (served by this thread) is between requests
 * (idle 1: nothing of the next request read yet) or not (0).  Idle
 * connections may be shut down to make room; serve then reads EOF.
 */
void rpc_unixsrv_set_idle(struct rpc_unixsrv *srv, int fd, int idle);

/* Write all of p to fd (a socket, without SIGPIPE; or a pipe).  0 or ERR_IO. */
int rpc_unixsrv_write_all(int fd, const void *p, size_t n);

/* Write a serialised answer (malloc'ed, freed here; NULL writes nothing) and a newline. */
int rpc_unixsrv_write_line(int fd, char *answer_malloced);

/* Write a JSON-RPC error response with a null id, and a newline. */
int rpc_unixsrv_write_error(int fd, int code, const char *message);

/* Stop accepting, wake and wait for connection threads, and remove the
 * socket if this server bound it and it is still there (an inherited one is
 * left to systemd); accepts NULL. */
void rpc_unixsrv_stop(struct rpc_unixsrv *srv);

#endif /* RPC_UNIXSRV_H */
