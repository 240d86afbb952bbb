#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "rpc/caller.h"
#include "rpc/ipc.h"
#include "rpc/unixsrv.h"

struct rpc_ipc {
	struct rpc_unixsrv *srv;
	const struct rpc_table *table;
	unsigned request_deadline_s;	/* read without lock: set before a request starts */
};

/*
 * Wait for more of the stream: for ever between requests, where the server
 * may close the connection to make room; until the request's deadline in
 * the middle of one.  Returns as rpc_unixsrv_wait().
 */
static int
ipc_wait(struct rpc_unixsrv *srv, int fd, const struct eth_buf *in, const struct timespec *due)
{
	int w;

	if (in->len > 0)
		return rpc_unixsrv_wait_until(srv, fd, due);
	rpc_unixsrv_set_idle(srv, fd, 1);
	w = rpc_unixsrv_wait(srv, fd, -1);
	rpc_unixsrv_set_idle(srv, fd, 0);
	return w;
}

static void
ipc_serve(struct rpc_unixsrv *srv, void *ctx, int fd, uid_t uid)
{
	struct rpc_ipc *s = ctx;
	struct rpc_caller caller;
	struct eth_buf in;
	struct timespec due = { 0, 0 };
	char chunk[8192], idbuf[32];
	size_t frame;
	int r, w;

	eth_buf_init(&in, LIMIT_JSON_BODY + sizeof(chunk));
	memset(&caller, 0, sizeof(caller));
	caller.kind = RPC_CALLER_UNIX;
	caller.uid = uid;
	caller.watch = RPC_WATCH_HANGUP;
	caller.conn_fd = fd;
	snprintf(idbuf, sizeof(idbuf), "uid:%u", (unsigned)uid);
	rpc_caller_set(caller.id, idbuf);
	rpc_caller_set(caller.untrusted_scheme, "ipc");
	while ((w = ipc_wait(srv, fd, &in, &due)) > 0) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* The first bytes of a request start its deadline. */
		if (in.len == 0)
			clock_deadline_ms(&due, (long long)s->request_deadline_s * 1000);
		if (eth_buf_put(&in, chunk, (size_t)n) != 0) {
			rpc_unixsrv_write_error(fd, RPC_ERR_INVALID_REQUEST, err_str(ERR_TOO_LONG));
			break;
		}
		/* Answer every complete body in what has arrived. */
		for (;;) {
			if ((r = rpc_jsonrpc_frame((const char *)in.p, in.len, &frame)) != 0) {
				rpc_unixsrv_write_error(fd, RPC_ERR_PARSE, err_str(r));
				goto out;
			}
			if (frame == 0) {
				if (in.len > LIMIT_JSON_BODY) {
					rpc_unixsrv_write_error(fd, RPC_ERR_INVALID_REQUEST, err_str(ERR_TOO_LONG));
					goto out;
				}
				break;
			}
			if (rpc_unixsrv_write_line(fd, rpc_jsonrpc_handle_str(s->table, &caller,
			    (const char *)in.p, frame)) != 0)
				goto out;
			memmove(in.p, in.p + frame, in.len - frame);
			in.len -= frame;
			/* What follows a pipelined request is the next one, starting now. */
			if (in.len > 0)
				clock_deadline_ms(&due, (long long)s->request_deadline_s * 1000);
		}
	}
	if (w == 0)
		rpc_unixsrv_write_error(fd, RPC_ERR_INVALID_REQUEST, err_str(ERR_TIMEOUT));
 out:
	eth_buf_free(&in);
}

int
rpc_ipc_start(const char *path, const uid_t *allowed_uids, size_t n,
    const struct rpc_table *table, struct rpc_ipc **outp)
{
	struct rpc_ipc *s;
	int r;

	*outp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->table = table;
	s->request_deadline_s = LIMIT_UNIX_REQUEST_SECONDS;
	if ((r = rpc_unixsrv_start(path, allowed_uids, n, RPC_UNIXSRV_IDLE_WHEN_NEW, ipc_serve, s,
	    &s->srv)) != 0) {
		free(s);
		return r;
	}
	*outp = s;
	return 0;
}

void
rpc_ipc_set_request_deadline(struct rpc_ipc *s, unsigned seconds)
{
	s->request_deadline_s = seconds > 0 ? seconds : LIMIT_UNIX_REQUEST_SECONDS;
}

void
rpc_ipc_stop(struct rpc_ipc *s)
{
	if (s == NULL)
		return;
	rpc_unixsrv_stop(s->srv);
	free(s);
}
