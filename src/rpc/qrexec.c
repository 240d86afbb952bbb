#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/reader.h"
#include "rpc/qrexec.h"
#include "rpc/unixsrv.h"

const char *const rpc_qrexec_services[] = { "p11signer.Sign", "qubes.Clefsign" };
const size_t rpc_qrexec_nservices = 2;

struct rpc_qrexec {
	struct rpc_unixsrv *srv;
	const struct rpc_table *table;
	unsigned request_deadline_s;	/* read without lock: set before a call starts */
};

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
valid_qube_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LIMIT_QUBE_NAME || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (i = 1; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

static int
valid_profile(const char *s, size_t n)
{
	size_t i;

	if (n > LIMIT_PROFILE_NAME)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static void
set_profile(struct rpc_caller *c, const char *s, size_t n)
{
	memcpy(c->profile, n > 0 ? s : "default", n > 0 ? n : 7);
	c->profile[n > 0 ? n : 7] = '\0';
}

/* The old guide's service name: called without an argument. */
static int
takes_no_argument(const char *service, size_t len)
{
	return len == strlen("qubes.Clefsign") && memcmp(service, "qubes.Clefsign", len) == 0;
}

int
rpc_qrexec_parse_descriptor(const char *untrusted, size_t len, struct rpc_caller *caller)
{
	const char *sp, *plus, *src;
	size_t svc_len, arg_len, src_len, i;
	int known = 0;

	if (len > LIMIT_QREXEC_DESCRIPTOR)
		return ERR_TOO_LONG;
	if (len == 0 || untrusted[len - 1] != '\0' || memchr(untrusted, '\0', len) != untrusted + len - 1)
		return ERR_INVALID_ARGUMENT;
	if ((sp = strchr(untrusted, ' ')) == NULL || strchr(sp + 1, ' ') != NULL)
		return ERR_INVALID_ARGUMENT;
	plus = memchr(untrusted, '+', (size_t)(sp - untrusted));
	svc_len = (size_t)((plus != NULL ? plus : sp) - untrusted);
	arg_len = plus != NULL ? (size_t)(sp - plus - 1) : 0;
	src = sp + 1;
	src_len = len - 1 - (size_t)(src - untrusted);
	for (i = 0; i < rpc_qrexec_nservices; i++)
		if (strlen(rpc_qrexec_services[i]) == svc_len &&
		    memcmp(rpc_qrexec_services[i], untrusted, svc_len) == 0)
			known = 1;
	/*
	 * "SERVICE+" names an empty argument.  Real qrexec writes the '+' for a
	 * call made without an argument too ("qubes.Clefsign+ work"), so for
	 * qubes.Clefsign, whose callers (the old guide's) give none, it means
	 * none.  p11signer.Sign's argument is the profile: an empty one is
	 * refused, never taken as "default" (the shipped policy names +default).
	 */
	if (plus != NULL && arg_len == 0 && takes_no_argument(untrusted, svc_len))
		plus = NULL;
	if (!known || (plus != NULL && arg_len == 0) ||
	    !valid_profile(plus != NULL ? plus + 1 : "", arg_len) ||
	    !valid_qube_name(src, src_len))
		return ERR_INVALID_ARGUMENT;
	memset(caller, 0, sizeof(*caller));
	caller->kind = RPC_CALLER_QUBE;
	memcpy(caller->id, src, src_len);
	set_profile(caller, plus != NULL ? plus + 1 : "", arg_len);
	rpc_caller_set(caller->untrusted_scheme, "qrexec");
	return 0;
}

int
rpc_qrexec_caller_from_env(struct rpc_caller *caller)
{
	const char *dom = getenv("QREXEC_REMOTE_DOMAIN");
	const char *arg = getenv("QREXEC_SERVICE_ARGUMENT");
	const char *full = getenv("QREXEC_SERVICE_FULL_NAME");
	const char *plus = full != NULL ? strchr(full, '+') : NULL;

	if (full != NULL && plus == NULL) {
		/* The full name says there is no argument; an empty
		 * QREXEC_SERVICE_ARGUMENT beside it says the same. */
		if (arg != NULL && *arg != '\0')
			return ERR_INVALID_ARGUMENT;
		arg = NULL;
	} else if (plus != NULL) {
		/* Newer qrexec gives the argument only in the full name, "SERVICE+ARG". */
		if (arg != NULL && strcmp(arg, plus + 1) != 0)
			return ERR_INVALID_ARGUMENT;
		arg = plus + 1;
		/* As in rpc_qrexec_parse_descriptor(): for qubes.Clefsign, an
		 * empty argument is none. */
		if (*arg == '\0' && takes_no_argument(full, (size_t)(plus - full)))
			arg = NULL;
	}
	/* An argument that is there but empty ("SERVICE+") is refused, as in
	 * rpc_qrexec_parse_descriptor(). */
	if (dom == NULL || !valid_qube_name(dom, strlen(dom)) ||
	    (arg != NULL && (*arg == '\0' || !valid_profile(arg, strlen(arg)))))
		return ERR_INVALID_ARGUMENT;
	memset(caller, 0, sizeof(*caller));
	caller->kind = RPC_CALLER_QUBE;
	memcpy(caller->id, dom, strlen(dom));
	set_profile(caller, arg != NULL ? arg : "", arg != NULL ? strlen(arg) : 0);
	rpc_caller_set(caller->untrusted_scheme, "qrexec");
	return 0;
}

/* Read fd to EOF into b (capped by b's max), by the deadline due when srv is
 * not NULL; 0, ERR_TOO_LONG, ERR_IO, ERR_TIMEOUT. */
static int
read_to_eof(struct rpc_unixsrv *srv, int fd, struct eth_buf *b, const struct timespec *due)
{
	char chunk[8192];

	for (;;) {
		ssize_t n;
		if (srv != NULL && rpc_unixsrv_wait_until(srv, fd, due) <= 0)
			return ERR_TIMEOUT;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ERR_IO;
		if (n == 0)
			return 0;
		if (eth_buf_put(b, chunk, (size_t)n) != 0)
			return ERR_TOO_LONG;
	}
}

/*
 * Answer one body from a qube: unwrap the relay's envelope if there is one,
 * then dispatch.  Returns the serialised answer (NULL: nothing to send).
 */
char *
rpc_qrexec_answer(const struct rpc_table *table, struct rpc_caller *caller,
    const char *untrusted_body, size_t len)
{
	json_t *body = NULL, *meta, *resp;
	char *s = NULL;
	int r;

	if ((r = rpc_jsonrpc_precheck_request(untrusted_body, len)) != 0 ||
	    (body = json_loadb(untrusted_body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(body) || json_object_get(body, "p11signer_envelope") == NULL) {
		if (r == 0)
			json_decref(body);
		return rpc_jsonrpc_handle_str(table, caller, untrusted_body, len);
	}
	if (json_integer_value(json_object_get(body, "p11signer_envelope")) != 1 ||
	    json_object_get(body, "request") == NULL) {
		resp = rpc_jsonrpc_error_response(NULL, RPC_ERR_INVALID_REQUEST,
		    "unsupported p11signer envelope");
	} else {
		/* Claims only: none of these names the caller. */
		meta = json_object_get(body, "metadata");
		rpc_caller_set(caller->untrusted_origin, json_string_value(json_object_get(meta, "origin")));
		rpc_caller_set(caller->untrusted_local, json_string_value(json_object_get(meta, "host")));
		rpc_caller_set(caller->untrusted_user_agent, json_string_value(json_object_get(meta, "user_agent")));
		rpc_caller_set(caller->untrusted_remote, json_string_value(json_object_get(meta, "remote")));
		resp = rpc_jsonrpc_dispatch(table, caller, json_object_get(body, "request"));
	}
	if (resp != NULL)
		s = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(resp);
	json_decref(body);
	return s;
}

/* ---- framed connections (see qrexec.h) ---- */

/* As rpc_unixsrv_wait_until(); without a server (--stdio), a plain poll();
 * due NULL: no limit. */
static int
wait_readable(struct rpc_unixsrv *srv, int fd, const struct timespec *due)
{
	struct pollfd p = { fd, POLLIN, 0 };
	long long left = due != NULL ? clock_ms_left(due) : -1;
	int n;

	if (srv != NULL)
		return rpc_unixsrv_wait_until(srv, fd, due);
	do
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : n > 0;
}

/*
 * Read exactly n bytes by the deadline due (NULL: none, --stdio only).  0;
 * 1 on EOF before the first byte; ERR_TIMEOUT; ERR_IO (error, stopping, or
 * EOF after the first byte).
 */
static int
read_exact(struct rpc_unixsrv *srv, int fd, void *p, size_t n, const struct timespec *due)
{
	size_t off = 0;
	ssize_t got;
	int w;

	while (off < n) {
		if ((w = wait_readable(srv, fd, due)) <= 0)
			return w == 0 ? ERR_TIMEOUT : ERR_IO;
		got = read(fd, (char *)p + off, n - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got == 0 && off == 0)
			return 1;
		if (got <= 0)
			return ERR_IO;
		off += (size_t)got;
	}
	return 0;
}

/*
 * Whether the data begins with the hello of a framed connection, read by the
 * call's deadline due: 1 it did (consumed), 0 it did not (what was read is in
 * body, the request's start), or ERR_TIMEOUT / ERR_IO.  Byte by byte, so nothing past the hello is taken.
 */
static int
read_frames_hello(struct rpc_unixsrv *srv, int fd, struct eth_buf *body, const struct timespec *due)
{
	size_t n;
	char c;
	int r;

	for (n = 0; n < RPC_QREXEC_FRAMES_HELLO_LEN; n++) {
		if ((r = read_exact(srv, fd, &c, 1, due)) == 1)
			break;			/* EOF: a short, plain request */
		if (r != 0)
			return r;
		if (c != RPC_QREXEC_FRAMES_HELLO[n]) {
			if (eth_buf_put(body, RPC_QREXEC_FRAMES_HELLO, n) != 0 ||
			    eth_buf_put(body, &c, 1) != 0)
				return ERR_TOO_LONG;
			return 0;
		}
	}
	if (n == RPC_QREXEC_FRAMES_HELLO_LEN)
		return 1;
	return eth_buf_put(body, RPC_QREXEC_FRAMES_HELLO, n) != 0 ? ERR_TOO_LONG : 0;
}

static char *
error_json(int code, const char *message)
{
	json_t *j = rpc_jsonrpc_error_response(NULL, code, message);
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

/* One answer frame: the length, then the answer (freed here; NULL: length 0). */
static int
write_frame(int fd, char *answer_malloced)
{
	size_t len = answer_malloced != NULL ? strlen(answer_malloced) : 0;
	unsigned char *frame;
	int r;

	if ((frame = malloc(4 + len)) == NULL) {
		free(answer_malloced);
		return ERR_NOMEM;
	}
	reader_put_be32(frame, (uint32_t)len);
	if (len > 0)
		memcpy(frame + 4, answer_malloced, len);
	r = rpc_unixsrv_write_all(fd, frame, 4 + len);
	free(frame);
	free(answer_malloced);
	return r;
}

/*
 * Answer framed requests from in_fd on out_fd until EOF, the idle time or
 * the connection's life is over, or a bad frame.  conn_caller (borrowed) is
 * the connection's caller; each request starts from a copy, so one request's
 * envelope metadata never reaches the next.  Each request, from its length
 * to its last byte, is due within request_s seconds (one absolute deadline,
 * as for a call of one request).
 */
static int
serve_frames(struct rpc_unixsrv *srv, int in_fd, int out_fd, const struct rpc_table *table,
    const struct rpc_caller *conn_caller, unsigned request_s)
{
	struct timespec end_of_life, idle, due;
	unsigned char hdr[4];
	char *untrusted_body = NULL;
	struct rpc_caller caller;
	size_t untrusted_len;
	int r = 0;

	clock_deadline_ms(&end_of_life, (long long)LIMIT_QREXEC_CONN_LIFE_S * 1000);
	while (clock_ms_left(&end_of_life) > 0) {
		clock_deadline_ms(&idle, (long long)LIMIT_QREXEC_CONN_IDLE_S * 1000);
		if ((r = read_exact(srv, in_fd, hdr, 1, &idle)) != 0) {
			/* EOF or idle between requests is the normal end. */
			if (r == 1 || r == ERR_TIMEOUT)
				r = 0;
			break;
		}
		clock_deadline_ms(&due, (long long)request_s * 1000);
		if ((r = read_exact(srv, in_fd, hdr + 1, sizeof(hdr) - 1, &due)) != 0) {
			r = r == 1 ? ERR_IO : r;
			break;
		}
		untrusted_len = reader_get_be32(hdr);
		if (untrusted_len == 0 || untrusted_len > LIMIT_JSON_BODY) {
			r = ERR_TOO_LONG;
			write_frame(out_fd, error_json(RPC_ERR_INVALID_REQUEST,
			    "framed request of a bad length"));
			break;
		}
		if ((untrusted_body = malloc(untrusted_len)) == NULL) {
			r = ERR_NOMEM;
			break;
		}
		if ((r = read_exact(srv, in_fd, untrusted_body, untrusted_len, &due)) != 0) {
			r = r == 1 ? ERR_IO : r;
			break;
		}
		caller = *conn_caller;
		r = write_frame(out_fd, rpc_qrexec_answer(table, &caller, untrusted_body, untrusted_len));
		free(untrusted_body);
		untrusted_body = NULL;
		if (r != 0)
			break;
	}
	free(untrusted_body);
	return r;
}

static void
qrexec_serve(struct rpc_unixsrv *srv, void *ctx, int fd, uid_t uid)
{
	struct rpc_qrexec *q = ctx;
	struct rpc_caller caller;
	char desc[LIMIT_QREXEC_DESCRIPTOR];
	struct eth_buf body;
	struct timespec due;
	size_t n = 0;
	int r;

	eth_buf_init(&body, LIMIT_JSON_BODY);
	/* One call per connection: descriptor and body are due by one absolute
	 * deadline, which a caller sending a byte now and then cannot move. */
	clock_deadline_ms(&due, (long long)q->request_deadline_s * 1000);
	/* The descriptor, byte by byte up to its NUL, so no request byte is consumed. */
	while (n < sizeof(desc)) {
		ssize_t got;
		if (rpc_unixsrv_wait_until(srv, fd, &due) <= 0 || (got = read(fd, desc + n, 1)) <= 0)
			goto out;
		if (desc[n++] == '\0')
			break;
	}
	if (n == 0 || desc[n - 1] != '\0' ||
	    rpc_qrexec_parse_descriptor(desc, n, &caller) != 0) {
		rpc_unixsrv_write_error(fd, RPC_ERR_INVALID_REQUEST, "invalid qrexec service descriptor");
		goto out;
	}
	/* qrexec-agent shuts down its writing side after the request: only a close is "gone". */
	caller.watch = RPC_WATCH_HANGUP;
	caller.conn_fd = fd;
	if ((r = read_frames_hello(srv, fd, &body, &due)) == 1) {
		serve_frames(srv, fd, fd, q->table, &caller, q->request_deadline_s);
		goto out;
	}
	if (r != 0 || (r = read_to_eof(srv, fd, &body, &due)) != 0) {
		rpc_unixsrv_write_error(fd, RPC_ERR_INVALID_REQUEST, err_str(r));
		goto out;
	}
	rpc_unixsrv_write_line(fd, rpc_qrexec_answer(q->table, &caller, (const char *)body.p, body.len));
 out:
	eth_buf_free(&body);
}

int
rpc_qrexec_start(const char *path, const uid_t *allowed_uids, size_t n,
    const struct rpc_table *table, struct rpc_qrexec **outp)
{
	static const uid_t root = 0;
	struct rpc_qrexec *q;
	int r;

	*outp = NULL;
	if (allowed_uids == NULL || n == 0) {
		allowed_uids = &root;
		n = 1;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return ERR_NOMEM;
	q->table = table;
	q->request_deadline_s = LIMIT_UNIX_REQUEST_SECONDS;
	if ((r = rpc_unixsrv_start(path, allowed_uids, n, 0, qrexec_serve, q, &q->srv)) != 0) {
		free(q);
		return r;
	}
	*outp = q;
	return 0;
}

void
rpc_qrexec_set_request_deadline(struct rpc_qrexec *q, unsigned seconds)
{
	q->request_deadline_s = seconds > 0 ? seconds : LIMIT_UNIX_REQUEST_SECONDS;
}

void
rpc_qrexec_stop(struct rpc_qrexec *q)
{
	if (q == NULL)
		return;
	rpc_unixsrv_stop(q->srv);
	free(q);
}

int
rpc_stdio_serve(int in_fd, int out_fd, const struct rpc_table *table,
    struct rpc_caller *caller)
{
	struct eth_buf body;
	int r;

	eth_buf_init(&body, LIMIT_JSON_BODY);
	if ((r = read_frames_hello(NULL, in_fd, &body, NULL)) == 1) {
		r = serve_frames(NULL, in_fd, out_fd, table, caller, LIMIT_UNIX_REQUEST_SECONDS);
		goto out;
	}
	if (r != 0 || (r = read_to_eof(NULL, in_fd, &body, NULL)) != 0) {
		rpc_unixsrv_write_error(out_fd, RPC_ERR_INVALID_REQUEST, err_str(r));
		goto out;
	}
	r = rpc_unixsrv_write_line(out_fd, rpc_qrexec_answer(table, caller, (const char *)body.p, body.len));
 out:
	eth_buf_free(&body);
	return r;
}
