#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/reader.h"
#include "core/spawn.h"
#include "relay/qrexec_pool.h"
#include "rpc/qrexec.h"

struct qconn {
	pid_t pid;
	int to_fd;			/* the client's stdin */
	int from_fd;			/* its stdout */
	char *key;			/* "client\nvault\nservice" */
	long long opened_ms, used_ms;
	unsigned idle_s;
	struct qconn *next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qconn *pool;		/* idle connections, newest first */
static size_t pool_len;
static pthread_once_t reaper_once = PTHREAD_ONCE_INIT;

/* End a connection: EOF to the vault, then the client's exit (killed after a second). */
static void
qconn_close(struct qconn *c)
{
	if (c == NULL)
		return;
	if (c->to_fd >= 0)
		close(c->to_fd);
	if (c->from_fd >= 0)
		close(c->from_fd);
	if (c->pid > 0)
		(void)spawn_reap_status(c->pid, 1000, NULL);
	free(c->key);
	free(c);
}

/* Whether an idle connection may carry another request. */
static int
qconn_usable(const struct qconn *c, long long now)
{
	struct pollfd p = { c->from_fd, POLLIN, 0 };

	/* Anything readable while idle is the vault's EOF (or a protocol error). */
	return now - c->used_ms < (long long)c->idle_s * 1000 &&
	    now - c->opened_ms < (long long)c->idle_s * 1000 &&
	    poll(&p, 1, 0) == 0;
}

/* Take the expired connections out of the pool (under pool_lock). */
static struct qconn *
pool_take_expired(long long now)
{
	struct qconn **pp = &pool, *dead = NULL, *c;

	while ((c = *pp) != NULL) {
		if (qconn_usable(c, now)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		pool_len--;
		c->next = dead;
		dead = c;
	}
	return dead;
}

static void
close_list(struct qconn *c)
{
	struct qconn *next;

	for (; c != NULL; c = next) {
		next = c->next;
		qconn_close(c);
	}
}

/* Closes idle connections within a second of their expiry. */
static void *
reaper(void *arg)
{
	(void)arg;
	for (;;) {
		struct qconn *dead;

		sleep(1);
		pthread_mutex_lock(&pool_lock);
		dead = pool_take_expired(clock_now_ms());
		pthread_mutex_unlock(&pool_lock);
		close_list(dead);
	}
	return NULL;
}

static void
start_reaper(void)
{
	pthread_t t;
	sigset_t all, old;

	/* The reaper takes no signal: the main thread waits for them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, reaper, NULL) == 0)
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* An idle connection for key, or NULL. */
static struct qconn *
pool_get(const char *key)
{
	struct qconn **pp, *c, *dead;

	pthread_mutex_lock(&pool_lock);
	dead = pool_take_expired(clock_now_ms());
	for (pp = &pool; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->key, key) == 0) {
			*pp = c->next;
			pool_len--;
			c->next = NULL;
			break;
		}
	pthread_mutex_unlock(&pool_lock);
	close_list(dead);
	return c;
}

static void
pool_put(struct qconn *c)
{
	pthread_mutex_lock(&pool_lock);
	if (pool_len < RELAY_QREXEC_POOL_IDLE_MAX) {
		c->next = pool;
		pool = c;
		pool_len++;
		c = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	qconn_close(c);
}

void
relay_qrexec_pool_close_all(void)
{
	struct qconn *all;

	pthread_mutex_lock(&pool_lock);
	all = pool;
	pool = NULL;
	pool_len = 0;
	pthread_mutex_unlock(&pool_lock);
	close_list(all);
}

/*
 * poll() fd for events, a minute at most and never past deadline_ms; *readyp
 * is poll()'s result.  0, or ERR_TIMEOUT once the deadline has passed.
 */
static int
poll_before(int fd, short events, long long deadline_ms, int *readyp)
{
	struct pollfd pfd = { fd, events, 0 };
	long long left = deadline_ms - clock_now_ms();

	if (left <= 0)
		return ERR_TIMEOUT;
	*readyp = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
	return 0;
}

/* Write all of p before the deadline.  0, ERR_TIMEOUT, or ERR_IO (the far end is gone). */
static int
write_deadline(int fd, const void *p, size_t n, long long deadline_ms)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w;
		int ready;

		if (poll_before(fd, POLLOUT, deadline_ms, &ready) != 0)
			return ERR_TIMEOUT;
		if (ready < 0 && errno != EINTR)
			return ERR_IO;
		w = write(fd, (const char *)p + off, n - off);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return ERR_IO;
		off += (size_t)w;
	}
	return 0;
}

/* Read n bytes before the deadline.  0; 1 EOF before the first byte; ERR_IO EOF later; ERR_TIMEOUT. */
static int
read_deadline(int fd, void *p, size_t n, long long deadline_ms)
{
	size_t off = 0;

	while (off < n) {
		ssize_t got;
		int ready;

		if (poll_before(fd, POLLIN, deadline_ms, &ready) != 0)
			return ERR_TIMEOUT;
		if (ready <= 0)
			continue;
		got = read(fd, (char *)p + off, n - off);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got == 0 && off == 0)
			return 1;
		if (got <= 0)
			return ERR_IO;
		off += (size_t)got;
	}
	return 0;
}

/* Start `client vault service` with both ends piped, and send the hello. */
static int
qconn_open(const char *client, const char *vault, const char *service, const char *key,
    unsigned idle_s, long long deadline_ms, struct qconn **outp)
{
	char *argv[] = { (char *)(uintptr_t)client, (char *)(uintptr_t)vault,
	    (char *)(uintptr_t)service, NULL };
	int to[2] = { -1, -1 }, from[2] = { -1, -1 }, fds[3], spawn_errno, r = ERR_IO;
	struct qconn *c = NULL;

	*outp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->key = strdup(key)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	c->pid = -1;
	c->to_fd = c->from_fd = -1;
	if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0)
		goto out;
	fds[0] = to[0];
	fds[1] = from[1];
	fds[2] = SPAWN_INHERIT;
	if (spawn_start(client, argv, fds, &c->pid, &spawn_errno) != 0)
		c->pid = -1;
	c->to_fd = to[1];
	c->from_fd = from[0];
	to[1] = from[0] = -1;
	if (c->pid < 0)
		goto out;
	fcntl(c->to_fd, F_SETFL, O_NONBLOCK);
	c->opened_ms = c->used_ms = clock_now_ms();
	c->idle_s = idle_s;
	/* A client refused by policy is gone already: its exit status tells. */
	(void)write_deadline(c->to_fd, RPC_QREXEC_FRAMES_HELLO, RPC_QREXEC_FRAMES_HELLO_LEN, deadline_ms);
	*outp = c;
	c = NULL;
	r = 0;
 out:
	for (int i = 0; i < 2; i++) {
		if (to[i] >= 0)
			close(to[i]);
		if (from[i] >= 0)
			close(from[i]);
	}
	qconn_close(c);
	return r;
}

/*
 * The vault answered without a frame: an error it writes before reading any
 * (the socket refused the uid that connected), or a vault that predates
 * framing.  No length can begin with the '{' of a JSON answer (it would be
 * over LIMIT_JSON_BODY), so the answer is the 4 bytes read and the rest to
 * EOF.  2 (answered; the connection is over), or ERR_* as below.
 */
static int
read_unframed(struct qconn *c, const unsigned char *hdr, long long deadline_ms, struct eth_buf *out)
{
	char chunk[8192];

	if (eth_buf_put(out, hdr, 4) != 0)
		return ERR_TOO_LONG;
	for (;;) {
		ssize_t got;
		int ready;

		if (poll_before(c->from_fd, POLLIN, deadline_ms, &ready) != 0)
			return ERR_TIMEOUT;
		if (ready <= 0)
			continue;
		got = read(c->from_fd, chunk, sizeof(chunk));
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0)
			return 2;
		if (eth_buf_put(out, chunk, (size_t)got) != 0)
			return ERR_TOO_LONG;
	}
}

/*
 * One request on c.  0 with the answer in out; 1 when the connection ended
 * before the first byte of the answer; 2 with an unframed answer in out (the
 * connection is over); ERR_IO (ended mid-answer, or a bad
 * length), ERR_TIMEOUT, ERR_TOO_LONG.
 */
static int
qconn_request(struct qconn *c, const char *input, size_t len, long long deadline_ms,
    struct eth_buf *out)
{
	unsigned char hdr[4];
	char *frame;
	size_t alen;
	int r;

	if (len == 0 || len > LIMIT_JSON_BODY)
		return ERR_TOO_LONG;
	if ((frame = malloc(4 + len)) == NULL)
		return ERR_NOMEM;
	reader_put_be32((uint8_t *)frame, (uint32_t)len);
	memcpy(frame + 4, input, len);
	r = write_deadline(c->to_fd, frame, 4 + len, deadline_ms);
	free(frame);
	/* A write to a call that ended fails; whether it answered, its output says. */
	if (r == ERR_TIMEOUT)
		return r;
	if ((r = read_deadline(c->from_fd, hdr, sizeof(hdr), deadline_ms)) != 0)
		return r;
	alen = reader_get_be32(hdr);
	if (alen > LIMIT_JSON_BODY)
		return read_unframed(c, hdr, deadline_ms, out);
	if (out->max != 0 && alen > out->max)
		return ERR_TOO_LONG;
	if (eth_buf_reserve(out, alen) != 0)
		return ERR_NOMEM;
	if ((r = read_deadline(c->from_fd, out->p + out->len, alen, deadline_ms)) != 0)
		return r == 1 ? ERR_IO : r;
	out->len += alen;
	c->used_ms = clock_now_ms();
	return 0;
}

/* The client's exit status once its call ended (it closed its stdout). */
static int
qconn_exit_status(struct qconn *c, long long deadline_ms)
{
	long long left = deadline_ms - clock_now_ms();
	int status, killed;

	close(c->to_fd);
	c->to_fd = -1;
	/* Past the deadline it is killed: -1, as for a status not known. */
	status = spawn_reap_status(c->pid, left > 0 ? (long)left : 0, &killed);
	c->pid = -1;
	return killed ? -1 : status;
}

int
relay_qrexec_pool_call(const char *client, const char *vault, const char *service,
    unsigned idle_s, const char *input, size_t len, long long deadline_ms,
    struct eth_buf *out, int *exitp)
{
	struct qconn *c = NULL;
	char *key = NULL;
	size_t klen = strlen(client) + strlen(vault) + strlen(service) + 3;
	int r, reused, attempt;

	*exitp = -1;
	pthread_once(&reaper_once, start_reaper);
	if ((key = malloc(klen)) == NULL)
		return ERR_NOMEM;
	snprintf(key, klen, "%s\n%s\n%s", client, vault, service);
	for (attempt = 0; attempt < 2; attempt++) {
		/* The second attempt always opens a new call, whose ending is its own. */
		reused = attempt == 0 && (c = pool_get(key)) != NULL;
		if (!reused && (r = qconn_open(client, vault, service, key, idle_s, deadline_ms, &c)) != 0)
			goto out;
		out->len = 0;
		r = qconn_request(c, input, len, deadline_ms, out);
		if (r == 0) {
			*exitp = 0;
			pool_put(c);
			c = NULL;
			goto out;
		}
		if (r == 2) {
			*exitp = 0;
			r = 0;
			goto out;
		}
		if (r == 1 && reused) {
			/* The vault ended it between our check and the request: a new call. */
			qconn_close(c);
			c = NULL;
			continue;
		}
		if (r == 1) {
			/* The call ended without answering: refused, no service, ... */
			*exitp = qconn_exit_status(c, deadline_ms);
			r = *exitp < 0 ? ERR_TIMEOUT : 0;
		}
		goto out;
	}
 out:
	if (c != NULL && c->pid > 0 && r != 0)
		kill(c->pid, SIGKILL);
	qconn_close(c);
	free(key);
	return r;
}
