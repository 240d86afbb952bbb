/*
 * client_spawn.c - starting a token helper: spawning and reaping the
 * process, HELLO and CONFIGURE, and restarting one that ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "core/clock.h"
#include "core/spawn.h"
#include "p11/client_int.h"

/* ---- processes ---- */

/* socketpair() ends are moved above 2, so no file action can clobber them. */
static int
fd_above_stdio(int fd)
{
	int moved;

	if (fd < 0 || fd > 2)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return moved;
}

/*
 * Start the helper with `child_fd` as its fd 0, /dev/null as its stdout, our
 * stderr as its stderr (core/spawn: nothing else open, default signal
 * dispositions, an empty signal mask).
 */
static int
spawn_helper(struct p11_client *c, int child_fd, pid_t *pidp, char *why)
{
	const int fds[3] = { child_fd, SPAWN_DEVNULL, SPAWN_INHERIT };
	char ebuf[128];
	int r, e;

	if ((r = spawn_start(c->helper_path, c->argv, fds, pidp, &e)) != 0)
		r = err_why(why, r, "cannot start the token helper %.120s: %s", c->helper_path,
		    strerror_r(e, ebuf, sizeof(ebuf)));
	return r;
}

/* ---- starting a helper ---- */

/*
 * Send req to a helper that has no reader thread yet and read its answer
 * by the deadline.  0 with *replyp (caller frees with proto_msg_free()), or
 * an error with why: a helper that closed the stream is reaped and the why
 * says how it ended; after a timeout or a bad frame the why says that the
 * caller kills it.  late: what the helper did not do in time ("answer HELLO").
 */
static int
exchange(struct p11_client *c, struct helper *h, const struct proto_msg *req, const char *late,
    const struct timespec *deadline, struct proto_msg **replyp, char *why)
{
	const char *name = proto_type_name(req->type);
	char status[64];
	int r, killed;

	*replyp = NULL;
	if ((r = proto_send(h->fd, req, deadline)) == 0)
		r = proto_recv(h->fd, PROTO_FROM_HELPER, deadline, replyp);
	if (r == ERR_PROTO_CLOSED) {
		/* It is exiting: say how. */
		shutdown(h->fd, SHUT_RDWR);
		spawn_reap(h->pid, EOF_GRACE_MS, status, sizeof(status), &killed);
		h->pid = 0;
		(void)err_why(why, r, "the token helper for " MODULE_SHOWN " %s before answering "
		    "%s%s", c->module, killed ? "closed its connection" : status, name,
		    killed ? "; it was killed" : " (its messages are on stderr)");
	} else if (r == ERR_TIMEOUT) {
		(void)err_why(why, r, "the token helper for " MODULE_SHOWN " did not %s within %d "
		    "ms; it was killed", c->module, late, c->timeout_ms);
	} else if (r != 0) {
		(void)err_why(why, r, "the token helper for " MODULE_SHOWN " sent a bad answer to "
		    "%s (%s); it was killed", c->module, name, err_str(r));
	}
	return r;
}

/* The helper answered its start with ERROR m: why it refused, and its code. */
static int
refused(struct p11_client *c, const struct proto_msg *m, char *why)
{
	return err_why(why, m->error.code < 0 ? m->error.code : ERR_PROTO_UNEXPECTED, "the token "
	    "helper for " MODULE_SHOWN " refused to start: %.140s", c->module,
	    m->error.message[0] != '\0' ? m->error.message : err_str(m->error.code));
}

/* The helper answered request type req_type with m, which is no answer to it. */
static int
wrong_answer(struct p11_client *c, int req_type, const struct proto_msg *m, char *why)
{
	return err_why(why, ERR_PROTO_UNEXPECTED, "the token helper for " MODULE_SHOWN " answered "
	    "%s with %s (request %u)", c->module, proto_type_name(req_type),
	    proto_type_name(m->type), (unsigned)m->id);
}

/* Check the answer to HELLO.  0, or an error with why. */
static int
check_hello_reply(struct p11_client *c, const struct proto_msg *m, char *why)
{
	if (m->type == PROTO_ERROR) {
		if (m->error.code != ERR_PROTO_VERSION)
			return refused(c, m, why);
		return err_why(why, m->error.code, "the token helper %.100s speaks another token "
		    "protocol version (it says: %.80s); this program speaks version %d: are both "
		    "from the same installation?", c->helper_path,
		    m->error.message[0] != '\0' ? m->error.message : "version mismatch",
		    PROTO_VERSION);
	}
	if (m->type != PROTO_HELLO_REPLY || m->id != 1)
		return wrong_answer(c, PROTO_HELLO, m, why);
	if (m->hello.version != PROTO_VERSION) {
		return err_why(why, ERR_PROTO_VERSION, "the token helper %.100s speaks token "
		    "protocol version %u; this program speaks version %d: are both from the same "
		    "installation?", c->helper_path, (unsigned)m->hello.version, PROTO_VERSION);
	}
	return 0;
}

/*
 * CONFIGURE, right after HELLO: the token URIs (which may hold a PIN, so they
 * are never in the helper's argv) and the tokens that rejected the
 * configured PIN before.  The helper opens its module only now and answers
 * with its key list.  0, or an error with why.
 */
static int
configure_helper(struct p11_client *c, struct helper *h, const struct timespec *deadline,
    char *why)
{
	const char *rejected[LIMIT_PROTO_TOKENS];
	struct proto_msg req, *reply = NULL;
	size_t i;
	int r;

	memset(&req, 0, sizeof(req));
	req.type = PROTO_CONFIGURE;
	req.id = 2;
	req.configure.token_uris = (const char *const *)c->token_uris;
	req.configure.ntoken_uris = c->ntokens;
	/* Entries never change once set: the pointers stay good without the lock. */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nrejected; i++)
		rejected[i] = c->rejected[i];
	req.configure.npin_rejected = c->nrejected;
	pthread_mutex_unlock(&c->lock);
	req.configure.pin_rejected = rejected;
	if ((r = exchange(c, h, &req, "open its module", deadline, &reply, why)) != 0)
		goto out;
	if (reply->type == PROTO_ERROR && reply->id == req.id) {
		r = refused(c, reply, why);
		goto out;
	}
	if (reply->type != PROTO_KEY_LIST || reply->id != req.id) {
		r = wrong_answer(c, req.type, reply, why);
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	client_note_rejected(c, &reply->key_list);
	pthread_mutex_unlock(&c->lock);
	r = 0;
 out:
	proto_msg_free(reply);
	return r;
}

/*
 * Start a helper and exchange HELLO within the deadline; on failure it is
 * reaped.  Called without c->lock.  *outp holds one reference (the
 * client's); its gen and reader are the caller's to set, under the lock.
 */
int
client_helper_start(struct p11_client *c, const struct timespec *deadline, struct helper **outp,
    char *why)
{
	struct helper *h = NULL;
	struct proto_msg hello, *reply = NULL;
	char status[64];
	int sv[2] = { -1, -1 }, r, killed;

	*outp = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return err_why(why, ERR_NOMEM, "out of memory");
	h->c = c;
	h->fd = -1;
	h->pidfd = -1;
	h->refs = 1;
	if (clock_cond_init(&h->reader_cv) != 0) {
		/* Never in practice on Linux; the object holds no resources. */
		free(h);
		return err_why(why, ERR_NOMEM, "out of memory");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		r = err_why(why, ERR_IO, "cannot start the token helper for " MODULE_SHOWN
		    ": socketpair: %s", c->module, strerror(errno));
		goto fail;
	}
	sv[0] = fd_above_stdio(sv[0]);
	sv[1] = fd_above_stdio(sv[1]);
	if (sv[0] < 0 || sv[1] < 0) {
		r = err_why(why, ERR_IO, "cannot start the token helper for " MODULE_SHOWN ": %s",
		    c->module, strerror(errno));
		goto fail;
	}
	h->fd = sv[0];
	if ((r = spawn_helper(c, sv[1], &h->pid, why)) != 0)
		goto fail;
	close(sv[1]);
	sv[1] = -1;

	memset(&hello, 0, sizeof(hello));
	hello.type = PROTO_HELLO;
	hello.id = 1;
	hello.hello.version = PROTO_VERSION;
	if ((r = exchange(c, h, &hello, "answer HELLO", deadline, &reply, why)) != 0)
		goto fail;
	if ((r = check_hello_reply(c, reply, why)) != 0)
		goto fail;
	proto_msg_free(reply);
	reply = NULL;
	if ((r = configure_helper(c, h, deadline, why)) != 0)
		goto fail;

	*outp = h;
	return 0;

 fail:
	proto_msg_free(reply);
	if (h->pid > 0) {
		shutdown(h->fd, SHUT_RDWR);
		spawn_reap(h->pid, 0, status, sizeof(status), &killed);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (h->fd >= 0)
		close(h->fd);
	else if (sv[0] >= 0)
		close(sv[0]);
	pthread_cond_destroy(&h->reader_cv);
	free(h);
	return r;
}

/* Start the reader of a helper that has answered HELLO (c->lock held, gen set). */
int
client_reader_start(struct helper *h, char *why)
{
	sigset_t all, old;
	int e;

	if ((e = proto_reader_new(PROTO_FROM_HELPER, &h->rd)) != 0)
		return err_why(why, e, "cannot start reading the token helper: %s", err_str(e));
	/*
	 * The socket says when the helper is gone, unless a process it started
	 * (a vendor module's daemon) still holds fd 0: the pidfd says so then.
	 * Without one (kernel before 5.3) the socket alone tells.
	 */
	h->pidfd = pidfd_open(h->pid, 0);
	/* The reader takes no process signal: the daemon's own threads handle those. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&h->reader, NULL, client_reader_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		return err_why(why, e == EAGAIN ? ERR_NOMEM : ERR_INTERNAL, "cannot start a thread "
		    "for the token helper: %s", strerror(e));
	return 0;
}

/* End a helper that has no reader (its start failed half-way). */
void
client_helper_abort(struct helper *h)
{
	char status[64];
	int killed;

	shutdown(h->fd, SHUT_RDWR);
	spawn_reap(h->pid, 0, status, sizeof(status), &killed);
	h->pid = 0;
	h->dead = 1;
	client_helper_unref(h);
}

/*
 * Make sure a live helper is there (c->lock held; it is dropped and taken
 * again while a helper starts).  Restarts a dead one, at most once a second;
 * inside that second, fails at once.
 */
int
client_ensure_helper(struct p11_client *c, const struct timespec *deadline, char *why)
{
	struct helper *old, *h = NULL;
	long since, left;
	int r, e;

	for (;;) {
		if (c->stopping)
			return err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN
			    " is being stopped", c->module);
		if (c->h != NULL && !c->h->dead)
			return 0;
		if (!c->starting)
			break;
		e = pthread_cond_timedwait(&c->start_cv, &c->lock, deadline);
		if (e == ETIMEDOUT && c->starting)
			return err_why(why, ERR_TIMEOUT, "the token helper for " MODULE_SHOWN
			    " is being restarted and was not ready in time", c->module);
	}
	since = (long)clock_ms_since(&c->last_start);
	if (since < RESTART_INTERVAL_MS) {
		left = RESTART_INTERVAL_MS - since;
		return err_why(why, ERR_PROTO_CLOSED, "%.180s; it is restarted at most once a "
		    "second: try again in %ld ms", c->last_why, left);
	}
	c->starting = 1;
	clock_deadline_ms(&c->last_start, 0);
	old = c->h;
	c->h = NULL;
	pthread_mutex_unlock(&c->lock);
	if (old != NULL)
		pthread_join(old->reader, NULL);	/* it has failed its requests: it is returning */
	r = client_helper_start(c, deadline, &h, why);
	pthread_mutex_lock(&c->lock);
	client_helper_unref(old);
	if (r == 0) {
		h->gen = ++c->next_gen;
		if ((r = client_reader_start(h, why)) != 0) {
			client_helper_abort(h);
			h = NULL;
		}
	}
	c->starting = 0;
	pthread_cond_broadcast(&c->start_cv);
	if (r != 0) {
		snprintf(c->last_why, sizeof(c->last_why), "%s", why);
		return r;
	}
	c->h = h;
	return 0;
}
