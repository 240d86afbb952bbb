#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "rpc/jsonrpc.h"
#include "rpc/unixsrv.h"

/* Connections not yet accepted that the kernel holds (listen(2)).  When it
 * is full a non-blocking connect() fails EAGAIN at once (Go's net.Dial
 * does not retry), so it is deep enough for a burst of silent ones. */
#define UNIXSRV_BACKLOG 256
/* How long a starting server waits for another one that is claiming the same
 * directory (it holds the lock only from its check to its listen()). */
#define UNIXSRV_CLAIM_LOCK_TRIES 100
#define UNIXSRV_CLAIM_LOCK_PAUSE_MS 10

struct rpc_unixsrv {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int stop_pipe[2];	/* written once to wake every thread */
	pthread_t accept_thread;
	int accept_started;
	int inherited;		/* from systemd: not ours to bind or unlink */
	int bound;		/* we bound path: bound_dev/bound_ino name our inode */
	dev_t bound_dev;
	ino_t bound_ino;
	const uid_t *allowed_uids;
	size_t nallowed;
	rpc_unixsrv_serve_fn serve;
	void *ctx;
	unsigned flags;
	pthread_mutex_t lock;
	pthread_cond_t idle;	/* broadcast whenever a connection ends */
	unsigned nconn;
	unsigned nevicted;	/* of them, shut down to make room and not yet gone */
	struct unixsrv_conn *conns;	/* open connections, under lock */
};

struct unixsrv_conn {
	struct rpc_unixsrv *srv;
	int fd;
	uid_t uid;
	/* Between requests (nothing of one read): may be closed to make room. */
	int idle;
	int evicted;
	struct timespec idle_since;	/* core/clock.h */
	struct unixsrv_conn *next;
};

static int
uid_allowed(const struct rpc_unixsrv *s, uid_t uid)
{
	size_t i;

	if (s->nallowed == 0)
		return uid == getuid();
	for (i = 0; i < s->nallowed; i++)
		if (s->allowed_uids[i] == uid)
			return 1;
	return 0;
}

int
rpc_unixsrv_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)		/* a pipe: --stdio */
			w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
rpc_unixsrv_write_line(int fd, char *answer_malloced)
{
	size_t n;
	int r = 0;

	if (answer_malloced != NULL) {
		/* The newline in the terminator's place: one write, so the reader
		 * wakes once for the line, not again for its newline. */
		n = strlen(answer_malloced);
		answer_malloced[n] = '\n';
		r = rpc_unixsrv_write_all(fd, answer_malloced, n + 1);
		free(answer_malloced);
	}
	return r;
}

int
rpc_unixsrv_write_error(int fd, int code, const char *message)
{
	json_t *j = rpc_jsonrpc_error_response(NULL, code, message);
	int r = rpc_unixsrv_write_line(fd, j != NULL ? json_dumps(j, JSON_COMPACT) : NULL);

	json_decref(j);
	return r;
}

int
rpc_unixsrv_wait(struct rpc_unixsrv *s, int fd, int timeout_ms)
{
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
		int n = poll(p, 2, timeout_ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents != 0)
			return -1;
		return n > 0 ? 1 : 0;
	}
}

int
rpc_unixsrv_wait_until(struct rpc_unixsrv *s, int fd, const struct timespec *due)
{
	long long ms = clock_ms_left(due);

	if (ms <= 0)
		return 0;
	return rpc_unixsrv_wait(s, fd, ms > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : (int)ms);
}

void
rpc_unixsrv_set_idle(struct rpc_unixsrv *s, int fd, int idle)
{
	struct unixsrv_conn *c;

	pthread_mutex_lock(&s->lock);
	for (c = s->conns; c != NULL; c = c->next) {
		if (c->fd != fd)
			continue;
		c->idle = idle;
		if (idle)
			clock_deadline_ms(&c->idle_since, 0);	/* now */
	}
	pthread_mutex_unlock(&s->lock);
}

static int
earlier(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Every slot is taken (lock held): shut down the connection that has waited
 * longest between requests, so that silent connections cannot lock out a
 * caller with something to ask.  A connection in the middle of a request or
 * a call is never chosen; those have deadlines of their own.  The new
 * connection is let in at once, without waiting for the old one's thread to
 * see the end of its stream: the evicted are not counted against the limit
 * (they leave within moments), so accepting never stalls and the kernel's
 * backlog does not fill.  Returns 1 when there is room.
 */
static int
make_room(struct rpc_unixsrv *s)
{
	struct unixsrv_conn *c, *oldest = NULL;

	for (c = s->conns; c != NULL; c = c->next)
		if (c->idle && !c->evicted && (oldest == NULL || earlier(&c->idle_since, &oldest->idle_since)))
			oldest = c;
	if (oldest == NULL)
		return 0;
	oldest->evicted = 1;
	s->nevicted++;
	/* Its descriptor is closed only after it left the list: still this socket. */
	shutdown(oldest->fd, SHUT_RDWR);
	return 1;
}

static void *
conn_thread(void *arg)
{
	struct unixsrv_conn *c = arg, **pp;
	struct rpc_unixsrv *s = c->srv;

	s->serve(s, s->ctx, c->fd, c->uid);
	pthread_mutex_lock(&s->lock);
	for (pp = &s->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->nconn--;
	if (c->evicted)
		s->nevicted--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	close(c->fd);
	free(c);
	return NULL;
}

static void *
accept_thread(void *arg)
{
	struct rpc_unixsrv *s = arg;
	static const char refused[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,"
	    "\"message\":\"connection refused: peer uid not allowed\"}}\n";

	for (;;) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct unixsrv_conn *c;
		pthread_t t;
		int fd;

		if (rpc_unixsrv_wait(s, s->listen_fd, -1) < 0)
			break;
		if ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		/* The kernel's word on who connected; nothing the peer sends counts. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
		    !uid_allowed(s, cred.uid)) {
			rpc_unixsrv_write_all(fd, refused, sizeof(refused) - 1);
			close(fd);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		if ((s->nconn - s->nevicted >= LIMIT_UNIX_CONNECTIONS && !make_room(s)) ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			pthread_mutex_unlock(&s->lock);
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		c->uid = cred.uid;
		if (s->flags & RPC_UNIXSRV_IDLE_WHEN_NEW) {
			c->idle = 1;
			clock_deadline_ms(&c->idle_since, 0);
		}
		c->next = s->conns;
		s->conns = c;
		s->nconn++;
		if (pthread_create(&t, NULL, conn_thread, c) != 0) {
			s->conns = c->next;
			s->nconn--;
			pthread_mutex_unlock(&s->lock);
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/*
 * Make path free for a new socket, or say why not.  Only a socket that
 * refuses connections (ECONNREFUSED: no one listens, its server died) is
 * stale and removed.  A socket that accepts, or that this process may not
 * connect to (EACCES: someone else's, systemd's socket unit's for one), or
 * whose backlog is full (EAGAIN) is live and is never taken over; anything
 * that is not a socket is not ours to remove.  Called with the directory
 * locked (claim_lock()), so two servers starting at once cannot both find
 * the same stale socket and each bind over the other.
 * Returns 0, ERR_SOCKET_IN_USE, ERR_SOCKET_NOT_SOCKET or ERR_IO.
 */
static int
claim_path(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd = -1, r;

	if (lstat(sun->sun_path, &st) != 0) {
		r = errno == ENOENT ? 0 : ERR_IO;
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		r = ERR_SOCKET_NOT_SOCKET;
		goto out;
	}
	/* Non-blocking: a live server with a full backlog says EAGAIN, not "wait". */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		r = ERR_IO;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		r = ERR_SOCKET_IN_USE;
	else if (errno == ENOENT)
		r = 0;
	else if (errno != ECONNREFUSED)
		r = ERR_SOCKET_IN_USE;
	else if (unlink(sun->sun_path) == 0 || errno == ENOENT)
		r = 0;
	else
		r = ERR_IO;
 out:
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Lock the directory that holds path (flock(2) on the directory itself, so
 * no lock file is left behind), waiting at most UNIXSRV_CLAIM_LOCK_TRIES x
 * UNIXSRV_CLAIM_LOCK_PAUSE_MS.  Returns the locked descriptor, which the
 * caller closes to unlock, or -1 (ERR_IO for the caller).
 */
static int
claim_lock(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	int fd, tries;

	if (slash == NULL) {
		memcpy(dir, ".", 2);
	} else if (slash == path) {
		memcpy(dir, "/", 2);
	} else {
		/* path fits in sun_path (checked by the caller), so its prefix fits dir. */
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	for (tries = 0; tries < UNIXSRV_CLAIM_LOCK_TRIES; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		poll(NULL, 0, UNIXSRV_CLAIM_LOCK_PAUSE_MS);
	}
	close(fd);
	return -1;
}

/* Remove path if it is still the socket this server bound, never one that
 * another server put there since. */
static void
unlink_if_ours(const struct rpc_unixsrv *s)
{
	struct stat st;

	if (s->bound && lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == s->bound_dev && st.st_ino == s->bound_ino)
		unlink(s->path);
}

/*
 * systemd socket activation (sd_listen_fds(3)): a listening Unix stream
 * socket bound to path among the descriptors passed to this process, or -1.
 * Matching by path lets the IPC and the qrexec socket each be activated.
 */
static int
inherited_listener(const char *path)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sun;
	socklen_t len;
	int fd, nfds, val;

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return -1;
	nfds = (int)strtol(fds, NULL, 10);
	for (fd = 3; nfds > 0 && nfds <= 64 && fd < 3 + nfds; fd++) {
		len = sizeof(sun);
		memset(&sun, 0, sizeof(sun));
		if (getsockname(fd, (struct sockaddr *)&sun, &len) != 0 ||
		    sun.sun_family != AF_UNIX || strncmp(sun.sun_path, path,
		    sizeof(sun.sun_path)) != 0)
			continue;
		len = sizeof(val);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) != 0 || !val)
			continue;
		len = sizeof(val);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &len) != 0 || val != SOCK_STREAM)
			continue;
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
			continue;
		return fd;
	}
	return -1;
}

int
rpc_unixsrv_start(const char *path, const uid_t *allowed_uids, size_t n,
    unsigned flags, rpc_unixsrv_serve_fn serve, void *ctx, struct rpc_unixsrv **outp)
{
	struct rpc_unixsrv *s = NULL;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old_umask;
	int lock_fd = -1, r;

	*outp = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return ERR_TOO_LONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);	/* length checked above */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->listen_fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
	memcpy(s->path, path, strlen(path) + 1);
	s->allowed_uids = allowed_uids;
	s->nallowed = allowed_uids != NULL ? n : 0;
	s->serve = serve;
	s->ctx = ctx;
	s->flags = flags;
	pthread_mutex_init(&s->lock, NULL);
	clock_cond_init(&s->idle);
	r = ERR_IO;
	if (pipe2(s->stop_pipe, O_CLOEXEC) != 0)
		goto out;
	if ((s->listen_fd = inherited_listener(path)) >= 0) {
		/* systemd made it, with the unit's SocketMode and owner. */
		s->inherited = 1;
		goto listening;
	}
	if ((lock_fd = claim_lock(path)) < 0)
		goto out;
	if ((r = claim_path(&sun)) != 0)
		goto out;
	r = ERR_IO;
	if ((s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto out;
	/* 0600 from the start: no window in which others may connect. */
	old_umask = umask(0177);
	r = bind(s->listen_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (r != 0) {
		r = ERR_IO;
		goto out;
	}
	/* Still under the lock: the inode at path is the one we bound. */
	if (lstat(path, &st) == 0) {
		s->bound = 1;
		s->bound_dev = st.st_dev;
		s->bound_ino = st.st_ino;
	}
	if (listen(s->listen_fd, UNIXSRV_BACKLOG) != 0) {
		unlink_if_ours(s);
		r = ERR_IO;
		goto out;
	}
 listening:
	if (pthread_create(&s->accept_thread, NULL, accept_thread, s) != 0) {
		r = ERR_NOMEM;
		unlink_if_ours(s);
		goto out;
	}
	s->accept_started = 1;
	*outp = s;
	s = NULL;
	r = 0;
 out:
	if (lock_fd >= 0)
		close(lock_fd);
	rpc_unixsrv_stop(s);
	return r;
}

void
rpc_unixsrv_stop(struct rpc_unixsrv *s)
{
	if (s == NULL)
		return;
	if (s->stop_pipe[1] >= 0 && write(s->stop_pipe[1], "x", 1) < 0) {
		/* Nothing to do: the threads then end when their peers hang up. */
	}
	if (s->accept_started) {
		pthread_join(s->accept_thread, NULL);
		unlink_if_ours(s);
	}
	pthread_mutex_lock(&s->lock);
	while (s->nconn > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_pipe[0] >= 0)
		close(s->stop_pipe[0]);
	if (s->stop_pipe[1] >= 0)
		close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s);
}
