/*
 * client.c - the daemon's side of the token protocol (client.h).
 *
 * One struct helper per running p11signer-token.  Once it has answered
 * HELLO, its reader thread is the only one that reads the socket and the only
 * one that reaps the process:
 * whatever ends a helper (end of file, a malformed frame, a reply to no
 * request, p11_client_stop(), a sender that gave up) comes down to a
 * shutdown() of the socket, which wakes the reader, which ends the process,
 * reaps it and fails every request of that helper with one reason.  A
 * helper's memory and descriptor go when its reader has been joined and no
 * sender holds it, so a descriptor number is never reused under a sender.
 *
 * Each request waits on a condition variable of its own, so that a reply
 * wakes its caller alone (one shared one woke every caller in flight for each
 * reply, to find its own not done).  A request that times out stays
 * in the list, marked abandoned, until its late reply comes (dropped) or its
 * helper ends: so its id is not reused while the helper may still answer it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "p11/client.h"

#define DEFAULT_TIMEOUT_MS	30000
#define STOP_GRACE_MS		2000	/* p11_client_stop(): then SIGKILL */
#define EOF_GRACE_MS		2000	/* helper closed the stream: it should be exiting */
#define RESTART_INTERVAL_MS	1000	/* at most one start a second */
/*
 * Requests left unanswered past their timeout before the helper is judged
 * hung and killed.  One late answer is a slow token; this many is a helper
 * that no longer works.
 */
#define MAX_ABANDONED		32
#define MODULE_SHOWN		"%.100s"	/* a module path as shown in a why */

struct pending {
	struct pending *next;
	uint64_t gen;			/* the helper it was sent to */
	uint32_t id;
	uint8_t req_type;
	pthread_cond_t done_cv;		/* done was set (CLOCK_MONOTONIC) */
	int done;			/* result, reply and why are set */
	int abandoned;			/* its caller has gone: free it when it ends */
	int result;
	struct proto_msg *reply;
	char why[P11_CLIENT_WHY_MAX];
};

struct helper {
	struct p11_client *c;
	uint64_t gen;
	pid_t pid;
	int fd;				/* the daemon's end of the socketpair */
	pthread_t reader;
	int refs;			/* the client's, and each sender's */
	int dead;			/* reaped; every request of it failed */
	int stop_asked;			/* p11_client_stop() ended it */
	unsigned abandoned;		/* its requests past their timeout */
	char kill_reason[128];		/* why the client ended it, or "" */
	int sending;			/* a thread is writing a frame (which may take several writes) */
};

struct p11_client {
	/* configuration, copied; fixed after start */
	char *helper_path;
	char *module;
	char **argv;			/* for posix_spawn(); its strings are these copies */
	char sessions_arg[16];
	char **token_uris;		/* for CONFIGURE, %-encoded; may hold a PIN: wiped */
	size_t ntokens;
	int timeout_ms;
	void (*on_event)(void *ctx, const struct proto_event *ev);
	void *event_ctx;

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t start_cv;	/* a start has finished */
	pthread_cond_t send_cv;		/* a sender has finished */
	struct helper *h;		/* the current helper (maybe dead), or NULL */
	struct pending *pending;
	uint32_t next_id;
	uint64_t next_gen;
	int starting;			/* a thread is starting a helper */
	int stopping;
	struct timespec last_start;
	char last_why[P11_CLIENT_WHY_MAX];	/* how the last helper ended, or failed to start */
	/*
	 * Tokens (their URIs) that rejected the configured PIN, as the helpers
	 * said (PROTO_TOKEN_PIN_AUTO_REJECTED): each new helper is told in its
	 * CONFIGURE, so it does not spend another try.  The configuration is
	 * fixed for the client's life, so a token URI is the whole key; entries
	 * are only added, and never change once set.
	 */
	char *rejected[LIMIT_PROTO_TOKENS];
	size_t nrejected;
};

static void
set_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_why(char *why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(why, P11_CLIENT_WHY_MAX, fmt, ap);
	va_end(ap);
}

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

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
 * stderr as its stderr, nothing else open, default signal dispositions and an
 * empty signal mask (the daemon's threads may block signals).
 */
static int
spawn_helper(struct p11_client *c, int child_fd, pid_t *pidp, char *why)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char ebuf[128];
	pid_t pid;
	int e;

	*pidp = 0;
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		set_why(why, "cannot start the token helper for " MODULE_SHOWN ": %s", c->module,
		    strerror_r(e, ebuf, sizeof(ebuf)));
		return ERR_NOMEM;
	}
	if ((e = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		set_why(why, "cannot start the token helper for " MODULE_SHOWN ": %s", c->module,
		    strerror_r(e, ebuf, sizeof(ebuf)));
		return ERR_NOMEM;
	}
	sigemptyset(&none);
	sigfillset(&all);
	if ((e = posix_spawn_file_actions_adddup2(&fa, child_fd, 0)) != 0 ||
	    (e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) != 0 ||
	    (fcntl(2, F_GETFD) < 0 &&
	     (e = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)) != 0) ||
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (e = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (e = posix_spawn(&pid, c->helper_path, &fa, &attr, c->argv, environ)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
		set_why(why, "cannot start the token helper %.120s: %s", c->helper_path,
		    strerror_r(e, ebuf, sizeof(ebuf)));
		return e == ENOMEM ? ERR_NOMEM : ERR_IO;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	*pidp = pid;
	return 0;
}

/*
 * Wait up to grace_ms for pid to exit, then SIGKILL it; reap it either way.
 * Writes what became of it ("exited with status 3", "died (signal 9)") to
 * out, and sets *killedp when it had to be killed.  Only the thread that
 * owns pid reaps it, so the pid cannot have been reused under the kill().
 */
static void
reap(pid_t pid, long grace_ms, char *out, size_t outsz, int *killedp)
{
	struct timespec start;
	int status, killed = 0;
	pid_t w;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		w = waitpid(pid, &status, killed ? 0 : WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* SIGCHLD ignored, or someone else's waitpid(-1) took it. */
			snprintf(out, outsz, "ended (its exit status is not known)");
			*killedp = killed;
			return;
		}
		if (!killed && ms_since(&start) >= grace_ms) {
			kill(pid, SIGKILL);
			killed = 1;
			continue;
		}
		sleep_ms(1);
	}
	if (WIFSIGNALED(status))
		snprintf(out, outsz, "died (signal %d)", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(out, outsz, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(out, outsz, "ended");
	*killedp = killed;
}

/* ---- the pending list (c->lock held) ---- */

static struct pending *
pending_find(struct p11_client *c, uint64_t gen, uint32_t id)
{
	struct pending *p;

	for (p = c->pending; p != NULL; p = p->next)
		if (p->gen == gen && p->id == id)
			return p;
	return NULL;
}

static void
pending_unlink(struct p11_client *c, struct pending *p)
{
	struct pending **pp;

	for (pp = &c->pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
}

/* A new request's entry, not linked; NULL when out of memory. */
static struct pending *
pending_new(void)
{
	struct pending *p;
	pthread_condattr_t ca;
	int e;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((e = pthread_condattr_init(&ca)) == 0) {
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		e = pthread_cond_init(&p->done_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (e != 0) {
		/* Never in practice on Linux; the objects hold no resources. */
		free(p);
		return NULL;
	}
	return p;
}

static void
pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	proto_msg_free(p->reply);
	pthread_cond_destroy(&p->done_cv);
	free(p);
}

/* Fail every request of helper generation gen (every one when gen is 0). */
static void
pending_fail_gen(struct p11_client *c, uint64_t gen, int result, const char *why)
{
	struct pending **pp = &c->pending, *p;

	while ((p = *pp) != NULL) {
		if (gen != 0 && p->gen != gen) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = NULL;
		if (p->abandoned) {
			pending_free(p);
			continue;
		}
		p->result = result;
		snprintf(p->why, sizeof(p->why), "%s", why);
		p->done = 1;
		pthread_cond_signal(&p->done_cv);
	}
}

/* A request id: never 0, unique among the requests in flight (abandoned ones too). */
static uint32_t
new_id(struct p11_client *c)
{
	struct pending *p;
	uint32_t id;

	for (;;) {
		id = c->next_id++;
		if (id == 0)
			continue;
		for (p = c->pending; p != NULL; p = p->next)
			if (p->id == id)
				break;
		if (p == NULL)
			return id;
	}
}

/* ---- helpers' lifetime ---- */

/* Drop a reference (c->lock held); the last one frees. */
static void
helper_unref(struct helper *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

/* Have the reader end the helper (c->lock held).  reason: NULL for a stop. */
static void
helper_end(struct helper *h, const char *reason)
{
	if (h->dead)
		return;
	if (reason == NULL)
		h->stop_asked = 1;
	else if (h->kill_reason[0] == '\0')
		snprintf(h->kill_reason, sizeof(h->kill_reason), "%s", reason);
	shutdown(h->fd, SHUT_RDWR);
}

/* ---- the reader thread ---- */

/* Remember the tokens a key list says rejected their configured PIN (c->lock held). */
static void
note_rejected(struct p11_client *c, const struct proto_key_list *l)
{
	size_t i, j;
	char *uri;

	for (i = 0; i < l->ntokens; i++) {
		if (!(l->tokens[i].flags & PROTO_TOKEN_PIN_AUTO_REJECTED))
			continue;
		for (j = 0; j < c->nrejected; j++)
			if (strcmp(c->rejected[j], l->tokens[i].uri) == 0)
				break;
		/* Full: the helper still never retries it while it runs. */
		if (j < c->nrejected || c->nrejected == LIMIT_PROTO_TOKENS)
			continue;
		if ((uri = strdup(l->tokens[i].uri)) != NULL)
			c->rejected[c->nrejected++] = uri;
	}
}

/*
 * One message from the helper.  0, or ERR_PROTO_UNEXPECTED with what the
 * helper did wrong in detail.  Steals m.
 */
static int
dispatch(struct helper *h, struct proto_msg *m, char *farewell, size_t farewellsz,
    char *detail, size_t detailsz)
{
	struct p11_client *c = h->c;
	struct pending *p;

	if (m->type == PROTO_EVENT) {
		if (c->on_event != NULL)
			c->on_event(c->event_ctx, &m->event);
		proto_msg_free(m);
		return 0;
	}
	if (m->type == PROTO_ERROR && m->id == 0) {
		/* Why it is about to close the stream. */
		snprintf(farewell, farewellsz, "%s",
		    m->error.message[0] != '\0' ? m->error.message : err_str(m->error.code));
		proto_msg_free(m);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	if ((p = pending_find(c, h->gen, m->id)) == NULL) {
		pthread_mutex_unlock(&c->lock);
		snprintf(detail, detailsz, "it sent %s for request %u, which was not asked",
		    proto_type_name(m->type), (unsigned)m->id);
		proto_msg_free(m);
		return ERR_PROTO_UNEXPECTED;
	}
	if (!proto_is_reply_to(p->req_type, m->type)) {
		pthread_mutex_unlock(&c->lock);
		snprintf(detail, detailsz, "it answered %s with %s",
		    proto_type_name(p->req_type), proto_type_name(m->type));
		proto_msg_free(m);
		return ERR_PROTO_UNEXPECTED;
	}
	pending_unlink(c, p);
	if (m->type == PROTO_KEY_LIST)
		note_rejected(c, &m->key_list);
	if (p->abandoned) {
		/* The late answer to a request that timed out. */
		if (h->abandoned > 0)
			h->abandoned--;
		pending_free(p);
		proto_msg_free(m);
	} else {
		p->reply = m;
		p->result = 0;
		p->done = 1;
		pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* What ended a reader's loop. */
enum read_end {
	READ_MORE = 0,		/* nothing: go on */
	READ_EOF,		/* end of file, or the helper has exited */
	READ_IO,		/* the socket failed */
	READ_VIOLATION,		/* a malformed frame or an unexpected message */
};

/* One read from the helper's socket; every whole message in it dispatched. */
static enum read_end
read_some(struct helper *h, struct proto_reader *rd, char *farewell, size_t farewellsz,
    char *detail, size_t detailsz)
{
	struct proto_msg *m;
	int r;

	r = proto_reader_read(rd, h->fd);
	if (r != 0 && r != ERR_PROTO_CLOSED) {
		snprintf(detail, detailsz, "%s", err_str(r));
		return r == ERR_IO ? READ_IO : READ_VIOLATION;
	}
	/* At end of file too: what came before it is delivered. */
	while ((r = proto_reader_next(rd, &m)) == 0 && m != NULL)
		if (dispatch(h, m, farewell, farewellsz, detail, detailsz) != 0)
			return READ_VIOLATION;
	if (r == ERR_PROTO_CLOSED)
		return READ_EOF;	/* between frames */
	if (r != 0) {
		snprintf(detail, detailsz, "%s", r == ERR_PROTO_TRUNCATED ?
		    "it closed the stream inside a frame" : err_str(r));
		return READ_VIOLATION;
	}
	return READ_MORE;
}

static void *
reader_main(void *arg)
{
	struct helper *h = arg;
	struct p11_client *c = h->c;
	struct proto_reader *rd = NULL;
	struct pollfd pfd[2];
	char farewell[LIMIT_PROTO_TEXT + 1] = "", detail[160] = "", status[64];
	char kill_reason[sizeof(h->kill_reason)], why[P11_CLIENT_WHY_MAX];
	enum read_end end = READ_MORE;
	int violation, stop, killed, pidfd, i;

	/*
	 * The socket says when the helper is gone, unless a process it started
	 * (a vendor module's daemon) still holds fd 0: the pidfd says so then.
	 * Without one (kernel before 5.3) the socket alone tells.
	 */
	pidfd = pidfd_open(h->pid, 0);
	if (proto_reader_new(PROTO_FROM_HELPER, &rd) != 0) {
		end = READ_VIOLATION;
		snprintf(detail, sizeof(detail), "out of memory for its reader");
	}
	while (end == READ_MORE) {
		memset(pfd, 0, sizeof(pfd));
		pfd[0].fd = h->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = pidfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, pidfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno != EINTR)
				end = READ_IO;
			continue;
		}
		if (pfd[0].revents != 0) {
			end = read_some(h, rd, farewell, sizeof(farewell), detail, sizeof(detail));
			continue;
		}
		if (pfd[1].revents != 0) {
			/* It has exited; its socket is held open elsewhere.  Take what it sent. */
			for (i = 0; i < 64 && end == READ_MORE && poll(pfd, 1, 0) > 0; i++)
				end = read_some(h, rd, farewell, sizeof(farewell), detail,
				    sizeof(detail));
			if (end == READ_MORE)
				end = READ_EOF;
		}
	}
	violation = end == READ_VIOLATION;
	if (pidfd >= 0)
		close(pidfd);
	proto_reader_free(rd);
	pthread_mutex_lock(&c->lock);
	stop = h->stop_asked;
	snprintf(kill_reason, sizeof(kill_reason), "%s", h->kill_reason);
	pthread_mutex_unlock(&c->lock);
	shutdown(h->fd, SHUT_RDWR);	/* senders fail fast from now on */
	reap(h->pid, stop ? STOP_GRACE_MS : (violation || kill_reason[0] != '\0') ? 0 :
	    EOF_GRACE_MS, status, sizeof(status), &killed);

	if (stop)
		set_why(why, "the token helper for " MODULE_SHOWN " was stopped%s", c->module,
		    killed ? " (killed: it did not exit within 2 s)" : "");
	else if (kill_reason[0] != '\0')
		set_why(why, "the token helper for " MODULE_SHOWN " %s; it was killed", c->module,
		    kill_reason);
	else if (violation)
		set_why(why, "the token helper for " MODULE_SHOWN " broke the token protocol "
		    "(%s); it was killed", c->module, detail);
	else if (killed)
		set_why(why, "the token helper for " MODULE_SHOWN " closed its connection but did "
		    "not exit; it was killed", c->module);
	else
		set_why(why, "the token helper for " MODULE_SHOWN " %s%s%.100s", c->module, status,
		    farewell[0] != '\0' ? ": " : "", farewell);

	pthread_mutex_lock(&c->lock);
	h->dead = 1;
	h->pid = 0;
	pending_fail_gen(c, h->gen, ERR_PROTO_CLOSED, why);
	snprintf(c->last_why, sizeof(c->last_why), "%s", why);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- starting a helper ---- */

/* Check the answer to HELLO.  0, or an error with why. */
static int
check_hello_reply(struct p11_client *c, const struct proto_msg *m, char *why)
{
	if (m->type == PROTO_ERROR) {
		if (m->error.code == ERR_PROTO_VERSION)
			set_why(why, "the token helper %.100s speaks another token protocol version "
			    "(it says: %.80s); this program speaks version %d: are both from the "
			    "same installation?", c->helper_path,
			    m->error.message[0] != '\0' ? m->error.message : "version mismatch",
			    PROTO_VERSION);
		else
			set_why(why, "the token helper for " MODULE_SHOWN " refused to start: %.140s",
			    c->module, m->error.message[0] != '\0' ? m->error.message :
			    err_str(m->error.code));
		return m->error.code < 0 ? m->error.code : ERR_PROTO_UNEXPECTED;
	}
	if (m->type != PROTO_HELLO_REPLY || m->id != 1) {
		set_why(why, "the token helper for " MODULE_SHOWN " answered HELLO with %s "
		    "(request %u)", c->module, proto_type_name(m->type), (unsigned)m->id);
		return ERR_PROTO_UNEXPECTED;
	}
	if (m->hello.version != PROTO_VERSION) {
		set_why(why, "the token helper %.100s speaks token protocol version %u; this "
		    "program speaks version %d: are both from the same installation?",
		    c->helper_path, (unsigned)m->hello.version, PROTO_VERSION);
		return ERR_PROTO_VERSION;
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
	char status[64];
	size_t i;
	int r, killed;

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
	if ((r = proto_send(h->fd, &req, deadline)) == 0)
		r = proto_recv(h->fd, PROTO_FROM_HELPER, deadline, &reply);
	if (r == ERR_PROTO_CLOSED) {
		shutdown(h->fd, SHUT_RDWR);
		reap(h->pid, EOF_GRACE_MS, status, sizeof(status), &killed);
		h->pid = 0;
		set_why(why, "the token helper for " MODULE_SHOWN " %s before answering CONFIGURE%s",
		    c->module, killed ? "closed its connection" : status,
		    killed ? "; it was killed" : " (its messages are on stderr)");
		goto out;
	}
	if (r == ERR_TIMEOUT) {
		set_why(why, "the token helper for " MODULE_SHOWN " did not open its module within "
		    "%d ms; it was killed", c->module, c->timeout_ms);
		goto out;
	}
	if (r != 0) {
		set_why(why, "the token helper for " MODULE_SHOWN " sent a bad answer to CONFIGURE "
		    "(%s); it was killed", c->module, err_str(r));
		goto out;
	}
	if (reply->type == PROTO_ERROR && reply->id == req.id) {
		set_why(why, "the token helper for " MODULE_SHOWN " refused to start: %.140s",
		    c->module, reply->error.message[0] != '\0' ? reply->error.message :
		    err_str(reply->error.code));
		r = reply->error.code < 0 ? reply->error.code : ERR_PROTO_UNEXPECTED;
		goto out;
	}
	if (reply->type != PROTO_KEY_LIST || reply->id != req.id) {
		set_why(why, "the token helper for " MODULE_SHOWN " answered CONFIGURE with %s "
		    "(request %u)", c->module, proto_type_name(reply->type), (unsigned)reply->id);
		r = ERR_PROTO_UNEXPECTED;
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	note_rejected(c, &reply->key_list);
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
static int
helper_start(struct p11_client *c, const struct timespec *deadline, struct helper **outp,
    char *why)
{
	struct helper *h = NULL;
	struct proto_msg hello, *reply = NULL;
	char status[64];
	int sv[2] = { -1, -1 }, r, killed;

	*outp = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		set_why(why, "out of memory");
		return ERR_NOMEM;
	}
	h->c = c;
	h->fd = -1;
	h->refs = 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		set_why(why, "cannot start the token helper for " MODULE_SHOWN ": socketpair: %s",
		    c->module, strerror(errno));
		r = ERR_IO;
		goto fail;
	}
	sv[0] = fd_above_stdio(sv[0]);
	sv[1] = fd_above_stdio(sv[1]);
	if (sv[0] < 0 || sv[1] < 0) {
		set_why(why, "cannot start the token helper for " MODULE_SHOWN ": %s", c->module,
		    strerror(errno));
		r = ERR_IO;
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
	if ((r = proto_send(h->fd, &hello, deadline)) == 0)
		r = proto_recv(h->fd, PROTO_FROM_HELPER, deadline, &reply);
	if (r == ERR_PROTO_CLOSED) {
		/* It is exiting: say how. */
		shutdown(h->fd, SHUT_RDWR);
		reap(h->pid, EOF_GRACE_MS, status, sizeof(status), &killed);
		h->pid = 0;
		set_why(why, "the token helper for " MODULE_SHOWN " %s before answering HELLO%s",
		    c->module, killed ? "closed its connection" : status,
		    killed ? "; it was killed" : " (its messages are on stderr)");
		goto fail;
	}
	if (r == ERR_TIMEOUT) {
		set_why(why, "the token helper for " MODULE_SHOWN " did not answer HELLO within "
		    "%d ms; it was killed", c->module, c->timeout_ms);
		goto fail;
	}
	if (r != 0) {
		set_why(why, "the token helper for " MODULE_SHOWN " sent a bad answer to HELLO "
		    "(%s); it was killed", c->module, err_str(r));
		goto fail;
	}
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
		reap(h->pid, 0, status, sizeof(status), &killed);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	if (h->fd >= 0)
		close(h->fd);
	else if (sv[0] >= 0)
		close(sv[0]);
	free(h);
	return r;
}

/* Start the reader of a helper that has answered HELLO (c->lock held, gen set). */
static int
reader_start(struct helper *h, char *why)
{
	sigset_t all, old;
	int e;

	/* The reader takes no process signal: the daemon's own threads handle those. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&h->reader, NULL, reader_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		set_why(why, "cannot start a thread for the token helper: %s", strerror(e));
		return e == EAGAIN ? ERR_NOMEM : ERR_INTERNAL;
	}
	return 0;
}

/* End a helper that has no reader (its start failed half-way). */
static void
helper_abort(struct helper *h)
{
	char status[64];
	int killed;

	shutdown(h->fd, SHUT_RDWR);
	reap(h->pid, 0, status, sizeof(status), &killed);
	h->pid = 0;
	h->dead = 1;
	helper_unref(h);
}

/*
 * Make sure a live helper is there (c->lock held; it is dropped and taken
 * again while a helper starts).  Restarts a dead one, at most once a second;
 * inside that second, fails at once.
 */
static int
ensure_helper(struct p11_client *c, const struct timespec *deadline, char *why)
{
	struct helper *old, *h = NULL;
	long since, left;
	int r, e;

	for (;;) {
		if (c->stopping) {
			set_why(why, "the token helper for " MODULE_SHOWN " is being stopped", c->module);
			return ERR_PROTO_CLOSED;
		}
		if (c->h != NULL && !c->h->dead)
			return 0;
		if (!c->starting)
			break;
		e = pthread_cond_timedwait(&c->start_cv, &c->lock, deadline);
		if (e == ETIMEDOUT && c->starting) {
			set_why(why, "the token helper for " MODULE_SHOWN " is being restarted and "
			    "was not ready in time", c->module);
			return ERR_TIMEOUT;
		}
	}
	since = ms_since(&c->last_start);
	if (since < RESTART_INTERVAL_MS) {
		left = RESTART_INTERVAL_MS - since;
		set_why(why, "%.180s; it is restarted at most once a second: try again in %ld ms",
		    c->last_why, left);
		return ERR_PROTO_CLOSED;
	}
	c->starting = 1;
	clock_gettime(CLOCK_MONOTONIC, &c->last_start);
	old = c->h;
	c->h = NULL;
	pthread_mutex_unlock(&c->lock);
	if (old != NULL)
		pthread_join(old->reader, NULL);	/* it has failed its requests: it is returning */
	r = helper_start(c, deadline, &h, why);
	pthread_mutex_lock(&c->lock);
	helper_unref(old);
	if (r == 0) {
		h->gen = ++c->next_gen;
		if ((r = reader_start(h, why)) != 0) {
			helper_abort(h);
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

/* ---- public ---- */

static char *
dup_str(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

static void
client_free(struct p11_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->argv != NULL) {
		for (i = 0; c->argv[i] != NULL; i++)
			free(c->argv[i]);
		free(c->argv);
	}
	if (c->token_uris != NULL) {
		for (i = 0; i < c->ntokens; i++) {
			/* May carry a pin-value. */
			if (c->token_uris[i] != NULL)
				explicit_bzero(c->token_uris[i], strlen(c->token_uris[i]));
			free(c->token_uris[i]);
		}
		free(c->token_uris);
	}
	for (i = 0; i < c->nrejected; i++)
		free(c->rejected[i]);
	free(c->helper_path);
	free(c->module);
	pthread_cond_destroy(&c->send_cv);
	pthread_cond_destroy(&c->start_cv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * A token URI as the protocol carries it: each byte outside its character
 * set (docs/token-protocol.md §3), a blank say, %-encoded, which p11-kit
 * reads as the same URI.  NULL: no memory.
 */
static char *
uri_for_wire(const char *s)
{
	static const char other[] = "-._~!$&'()*+,;=:@/?";
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out;

	if (n > (SIZE_MAX - 1) / 3 || (out = malloc(3 * n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(other, ch) != NULL ||
		    (ch == '%' && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2]))) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* A '%' that starts no %XX escape: no RFC 7512 URI, whatever else it holds. */
static int
has_stray_percent(const char *s)
{
	for (; (s = strchr(s, '%')) != NULL; s++)
		if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
			return 1;
	return 0;
}

/*
 * The token URIs for CONFIGURE.  0, ERR_NOMEM, ERR_TOO_LONG (over the
 * protocol's cap) or ERR_P11_URI_INVALID (a stray '%', which uri_for_wire()
 * would otherwise turn into another, valid URI).
 */
static int
copy_tokens(struct p11_client *c, const struct p11_client_config *cfg)
{
	size_t i;

	if (cfg->ntokens == 0)
		return 0;
	for (i = 0; i < cfg->ntokens; i++)
		if (has_stray_percent(cfg->token_uris[i]))
			return ERR_P11_URI_INVALID;
	if ((c->token_uris = calloc(cfg->ntokens, sizeof(*c->token_uris))) == NULL)
		return ERR_NOMEM;
	c->ntokens = cfg->ntokens;
	for (i = 0; i < cfg->ntokens; i++) {
		if ((c->token_uris[i] = uri_for_wire(cfg->token_uris[i])) == NULL)
			return ERR_NOMEM;
		if (strlen(c->token_uris[i]) > LIMIT_PROTO_URI)
			return ERR_TOO_LONG;
	}
	return 0;
}

/* argv for the helper: every string a copy, and no token URI.  0 or ERR_NOMEM. */
static int
build_argv(struct p11_client *c, const struct p11_client_config *cfg)
{
	size_t n = 0, i, max = 6 + 2 * cfg->nallowed;

	if ((c->argv = calloc(max, sizeof(*c->argv))) == NULL)
		return ERR_NOMEM;
#define ARG(s) do { if ((c->argv[n++] = strdup(s)) == NULL) return ERR_NOMEM; } while (0)
	ARG(cfg->helper_path);
	ARG("--module");
	ARG(cfg->module);
	for (i = 0; i < cfg->nallowed; i++) {
		ARG("--allow");
		ARG(cfg->allowed_dirs[i]);
	}
	if (cfg->sessions > 0) {
		snprintf(c->sessions_arg, sizeof(c->sessions_arg), "%u", cfg->sessions);
		ARG("--sessions");
		ARG(c->sessions_arg);
	}
#undef ARG
	return 0;
}

static int
config_ok(const struct p11_client_config *cfg)
{
	size_t i;

	if (cfg == NULL || cfg->helper_path == NULL || cfg->helper_path[0] == '\0' ||
	    cfg->module == NULL || cfg->module[0] == '\0' ||
	    (cfg->nallowed > 0 && cfg->allowed_dirs == NULL) ||
	    (cfg->ntokens > 0 && cfg->token_uris == NULL) ||
	    cfg->nallowed > 1024 || cfg->ntokens > LIMIT_P11_URIS)
		return 0;
	for (i = 0; i < cfg->nallowed; i++)
		if (cfg->allowed_dirs[i] == NULL)
			return 0;
	for (i = 0; i < cfg->ntokens; i++)
		if (cfg->token_uris[i] == NULL)
			return 0;
	return 1;
}

int
p11_client_start(const struct p11_client_config *cfg, struct p11_client **outp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct p11_client *c = NULL;
	struct helper *h = NULL;
	struct timespec deadline;
	pthread_condattr_t ca;
	char whybuf[P11_CLIENT_WHY_MAX];
	int r;

	if (why == NULL)
		why = whybuf;
	why[0] = '\0';
	if (outp == NULL || !config_ok(cfg)) {
		set_why(why, "invalid token helper configuration (helper path, module, lists)");
		return ERR_INVALID_ARGUMENT;
	}
	*outp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	if (pthread_condattr_init(&ca) != 0) {
		free(c);
		goto nomem;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&c->lock, NULL) != 0 ||
	    pthread_cond_init(&c->start_cv, &ca) != 0 ||
	    pthread_cond_init(&c->send_cv, &ca) != 0) {
		/* Never in practice on Linux; the objects hold no resources. */
		pthread_condattr_destroy(&ca);
		free(c);
		goto nomem;
	}
	pthread_condattr_destroy(&ca);
	if ((c->helper_path = dup_str(cfg->helper_path)) == NULL ||
	    (c->module = dup_str(cfg->module)) == NULL || build_argv(c, cfg) != 0) {
		client_free(c);
		goto nomem;
	}
	if ((r = copy_tokens(c, cfg)) != 0) {
		client_free(c);
		if (r == ERR_P11_URI_INVALID) {
			set_why(why, "%s", err_str(r));
			return r;
		}
		if (r != ERR_TOO_LONG)
			goto nomem;
		set_why(why, "a --token URI is longer than %d bytes (once %%-encoded)",
		    LIMIT_PROTO_URI);
		return r;
	}
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->on_event = cfg->on_event;
	c->event_ctx = cfg->event_ctx;
	c->next_id = 1;

	proto_deadline(c->timeout_ms, &deadline);
	clock_gettime(CLOCK_MONOTONIC, &c->last_start);
	if ((r = helper_start(c, &deadline, &h, why)) != 0) {
		client_free(c);
		return r;
	}
	pthread_mutex_lock(&c->lock);
	h->gen = ++c->next_gen;
	if ((r = reader_start(h, why)) != 0) {
		helper_abort(h);
		pthread_mutex_unlock(&c->lock);
		client_free(c);
		return r;
	}
	c->h = h;
	pthread_mutex_unlock(&c->lock);
	*outp = c;
	return 0;

 nomem:
	set_why(why, "out of memory");
	return ERR_NOMEM;
}

void
p11_client_stop(struct p11_client *c)
{
	struct helper *h;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	while (c->starting)
		pthread_cond_wait(&c->start_cv, &c->lock);
	h = c->h;
	c->h = NULL;
	if (h != NULL)
		helper_end(h, NULL);
	pthread_mutex_unlock(&c->lock);
	if (h != NULL)
		pthread_join(h->reader, NULL);
	pthread_mutex_lock(&c->lock);
	/* Only abandoned requests can be left (no call may run during a stop). */
	pending_fail_gen(c, 0, ERR_PROTO_CLOSED, "the token helper was stopped");
	helper_unref(h);
	pthread_mutex_unlock(&c->lock);
	client_free(c);
}

int
p11_client_call(struct p11_client *c, const struct proto_msg *req, struct proto_msg **replyp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg msg, *reply = NULL;
	struct pending *p = NULL;
	struct helper *h = NULL;
	struct timespec deadline;
	char whybuf[P11_CLIENT_WHY_MAX];
	int r, sent = 0;

	if (why == NULL)
		why = whybuf;
	why[0] = '\0';
	if (replyp != NULL)
		*replyp = NULL;
	if (c == NULL || req == NULL || replyp == NULL) {
		set_why(why, "p11_client_call: missing argument");
		return ERR_INVALID_ARGUMENT;
	}
	if (proto_type_sender(req->type) != PROTO_FROM_DAEMON || req->type == PROTO_HELLO) {
		set_why(why, "%s is not a request that can be sent to the token helper",
		    proto_type_name(req->type));
		return ERR_INVALID_ARGUMENT;
	}
	proto_deadline(c->timeout_ms, &deadline);

	pthread_mutex_lock(&c->lock);
	if (c->h != NULL && pthread_equal(c->h->reader, pthread_self())) {
		/* It would wait for a reply that only this thread can read. */
		set_why(why, "the token helper cannot be called from its on_event callback");
		r = ERR_INVALID_ARGUMENT;
		goto out_locked;
	}
	if ((r = ensure_helper(c, &deadline, why)) != 0)
		goto out_locked;
	if ((p = pending_new()) == NULL) {
		set_why(why, "out of memory");
		r = ERR_NOMEM;
		goto out_locked;
	}
	h = c->h;
	h->refs++;
	p->gen = h->gen;
	p->id = new_id(c);
	p->req_type = req->type;
	p->next = c->pending;
	c->pending = p;

	/* One sender at a time on the socket. */
	while (h->sending && !p->done)
		if (pthread_cond_timedwait(&c->send_cv, &c->lock, &deadline) == ETIMEDOUT)
			break;
	if (p->done) {
		/* Its helper ended meanwhile: the request has its answer. */
		r = 0;
		sent = 1;
	} else if (!h->sending) {
		h->sending = 1;
		pthread_mutex_unlock(&c->lock);
		/* A copy of the struct, not of what it points to: a PIN stays the caller's. */
		msg = *req;
		msg.id = p->id;
		msg.priv = NULL;
		r = proto_send(h->fd, &msg, &deadline);	/* wipes its frame buffer */
		explicit_bzero(&msg, sizeof(msg));
		pthread_mutex_lock(&c->lock);
		h->sending = 0;
		pthread_cond_broadcast(&c->send_cv);
		sent = 1;
	} else
		r = ERR_TIMEOUT;

	if (r != 0 && (!sent || (r != ERR_PROTO_CLOSED && r != ERR_IO && r != ERR_TIMEOUT))) {
		/* Nothing of it was written: refused by the encoder, or never got the socket. */
		if (!p->done)
			pending_unlink(c, p);
		if (sent)
			set_why(why, "the %s request cannot be sent: %s", proto_type_name(req->type),
			    err_str(r));
		else
			set_why(why, "the token helper for " MODULE_SHOWN " did not take the %s request "
			    "within %d ms", c->module, proto_type_name(req->type), c->timeout_ms);
		pending_free(p);
		p = NULL;
		goto out_locked;
	}
	if (r != 0)	/* part of a frame may be out: the stream is out of step */
		helper_end(h, r == ERR_TIMEOUT ? "did not take a request in time" :
		    "could not be written to");
	while (!p->done)
		if (pthread_cond_timedwait(&p->done_cv, &c->lock, &deadline) == ETIMEDOUT)
			break;
	if (!p->done) {
		/* Its late answer, if any, is dropped by the reader. */
		p->abandoned = 1;
		p = NULL;
		if (!h->dead && ++h->abandoned >= MAX_ABANDONED)
			helper_end(h, "left too many requests unanswered past their timeout");
		set_why(why, "the token helper for " MODULE_SHOWN " did not answer %s within %d ms",
		    c->module, proto_type_name(req->type), c->timeout_ms);
		r = ERR_TIMEOUT;
		goto out_locked;
	}
	r = p->result;
	reply = p->reply;
	p->reply = NULL;
	if (r != 0)
		set_why(why, "%s", p->why);
	pending_free(p);
	p = NULL;

 out_locked:
	if (h != NULL)
		helper_unref(h);
	pthread_mutex_unlock(&c->lock);
	if (r == 0 && reply->type == PROTO_ERROR) {
		r = reply->error.code < 0 ? reply->error.code : ERR_INTERNAL;
		set_why(why, "%.250s", reply->error.message[0] != '\0' ? reply->error.message :
		    err_str(r));
		proto_msg_free(reply);
		reply = NULL;
	}
	if (r == 0)
		*replyp = reply;
	return r;
}

int
p11_client_list(struct p11_client *c, struct proto_msg **key_listp, char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req;

	if (key_listp == NULL) {
		set_why(why, "p11_client_list: missing argument");
		return ERR_INVALID_ARGUMENT;
	}
	memset(&req, 0, sizeof(req));
	req.type = PROTO_LIST_KEYS;
	return p11_client_call(c, &req, key_listp, why);
}

int
p11_client_sign(struct p11_client *c, const struct proto_key_ref *key, const uint8_t digest[32],
    uint8_t sig64[64], int *recidp, char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req, *reply = NULL;
	int r;

	if (recidp != NULL)
		*recidp = -1;
	if (key == NULL || digest == NULL || sig64 == NULL) {
		set_why(why, "p11_client_sign: missing argument");
		return ERR_INVALID_ARGUMENT;
	}
	memset(&req, 0, sizeof(req));
	req.type = PROTO_SIGN;
	req.sign.key = *key;
	memcpy(req.sign.digest, digest, 32);
	if ((r = p11_client_call(c, &req, &reply, why)) != 0)
		return r;
	memcpy(sig64, reply->signature.sig, 64);
	if (recidp != NULL)
		*recidp = reply->signature.recid;
	proto_msg_free(reply);
	return 0;
}

int
p11_client_login(struct p11_client *c, const char *token_uri, uint32_t flags,
    const uint8_t *pin, size_t pin_len, struct proto_login_result *resultp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req, *reply = NULL;
	int r;

	if (resultp != NULL)
		memset(resultp, 0, sizeof(*resultp));
	if (resultp == NULL) {
		set_why(why, "p11_client_login: missing argument");
		return ERR_INVALID_ARGUMENT;
	}
	memset(&req, 0, sizeof(req));
	req.type = PROTO_LOGIN;
	req.login.token_uri = token_uri;
	req.login.flags = flags;
	req.login.pin = pin;		/* borrowed: encoded into proto_send()'s wiped buffer only */
	req.login.pin_len = pin_len;
	r = p11_client_call(c, &req, &reply, why);
	explicit_bzero(&req, sizeof(req));
	if (r != 0)
		return r;
	*resultp = reply->login_result;
	proto_msg_free(reply);
	return 0;
}

int
p11_client_generate(struct p11_client *c, const char *token_uri, const char *label,
    const uint8_t *id, size_t id_len, struct proto_msg **generatedp,
    char why[P11_CLIENT_WHY_MAX])
{
	struct proto_msg req;

	if (generatedp == NULL) {
		set_why(why, "p11_client_generate: missing argument");
		return ERR_INVALID_ARGUMENT;
	}
	memset(&req, 0, sizeof(req));
	req.type = PROTO_GENERATE;
	req.generate.token_uri = token_uri;
	req.generate.label = label;
	req.generate.id = id;
	req.generate.id_len = id_len;
	return p11_client_call(c, &req, generatedp, why);
}

long
p11_client_helper_pid(struct p11_client *c)
{
	long pid = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->h != NULL && !c->h->dead)
		pid = (long)c->h->pid;
	pthread_mutex_unlock(&c->lock);
	return pid;
}
