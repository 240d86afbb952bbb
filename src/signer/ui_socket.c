/*
 * ui_socket.c - the UI socket (see ui_socket.h): one approver at a time,
 * spoken to by the protocol of ui_stdio.c over its connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "rpc/jsonrpc.h"
#include "rpc/unixsrv.h"
#include "signer/ui_socket.h"
#include "signer/ui_stdio.h"

/* An approver that takes longer than this to read one message is dropped. */
#define UI_SOCKET_SEND_TIMEOUT_S 10

struct signer_ui_socket {
	struct rpc_unixsrv *srv;
	uid_t uid;			/* borrowed by srv as its allowed list */
	pthread_mutex_t lock;		/* guards everything below */
	pthread_cond_t changed;		/* an approver came or went; a call finished */
	struct signer_ui_stdio *current;	/* the attached approver, or NULL */
	unsigned users;			/* calls using current right now */
	int attaching;			/* an approver is being greeted: the slot is taken */
	int stopping;
	json_t *startup_info;
};

/*
 * One connection, on its own thread: attach it as the approver and hold it
 * until the protocol (ui_stdio) says it is gone.
 */
static void
serve_approver(struct rpc_unixsrv *srv, void *ctx, int fd, uid_t peer_uid)
{
	struct signer_ui_socket *s = ctx;
	struct signer_ui_stdio *ui = NULL;
	struct timeval send_limit = { UI_SOCKET_SEND_TIMEOUT_S, 0 };
	json_t *info;
	int r, attached;

	(void)srv;
	(void)peer_uid;		/* checked by the server against s->uid */
	/*
	 * Writes to the approver happen under the protocol's lock: one that
	 * stops reading must not hold every request, nor the daemon's exit.
	 */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof(send_limit));
	pthread_mutex_lock(&s->lock);
	if (s->stopping || s->current != NULL || s->attaching) {
		pthread_mutex_unlock(&s->lock);
		(void)rpc_unixsrv_write_error(fd, RPC_ERR_SERVER,
		    err_str(s->stopping ? ERR_IO : ERR_UI_BUSY));
		return;
	}
	s->attaching = 1;
	info = s->startup_info != NULL ? json_deep_copy(s->startup_info) :
	    json_pack("{s:s}", "intapi_version", "7.0.1");
	pthread_mutex_unlock(&s->lock);

	/* ui_onSignerStartup first: no question may overtake it. */
	if ((r = signer_ui_stdio_open(fd, fd, &ui)) == 0)
		r = signer_ui_stdio_notify(ui, "ui_onSignerStartup",
		    json_pack("[{s:o*}]", "info", info));
	else
		json_decref(info);
	pthread_mutex_lock(&s->lock);
	s->attaching = 0;
	attached = r == 0 && !s->stopping;
	if (attached)
		s->current = ui;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	if (!attached) {
		signer_ui_stdio_close(ui);
		return;
	}

	signer_ui_stdio_wait_gone(ui);

	/* Detach first, so that no new call picks it; then let the running ones fail. */
	pthread_mutex_lock(&s->lock);
	s->current = NULL;
	while (s->users > 0)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	signer_ui_stdio_close(ui);
}

int
signer_ui_socket_start(const char *path, uid_t uid, struct signer_ui_socket **outp)
{
	struct signer_ui_socket *s;
	int r;

	*outp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return ERR_NOMEM;
	s->uid = uid;
	pthread_mutex_init(&s->lock, NULL);
	(void)clock_cond_init(&s->changed);	/* cannot fail with a valid attribute */
	if ((r = rpc_unixsrv_start(path, &s->uid, 1, 0, serve_approver, s, &s->srv)) != 0)
		goto out;
	/*
	 * An approver running as another user reaches the socket through its
	 * group (docs/p11signer.1); the peer check still admits only that uid.
	 */
	if (uid != getuid() && chmod(path, 0660) != 0) {
		r = ERR_IO;
		goto out;
	}
	/* success */
	*outp = s;
	s = NULL;
	r = 0;
 out:
	signer_ui_socket_stop(s);
	return r;
}

void
signer_ui_socket_set_startup_info(struct signer_ui_socket *s, json_t *info)
{
	if (info == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	json_decref(s->startup_info);
	s->startup_info = info;
	pthread_mutex_unlock(&s->lock);
}

/*
 * The attached approver, held for one use (users counts it), waiting for one
 * until deadline; NULL deadline: do not wait.  Release with approver_put().
 */
static int
approver_get(struct signer_ui_socket *s, const struct timespec *deadline,
    struct signer_ui_stdio **uip)
{
	int r = 0;

	*uip = NULL;
	pthread_mutex_lock(&s->lock);
	while (r == 0 && s->current == NULL && !s->stopping)
		if (deadline == NULL ||
		    pthread_cond_timedwait(&s->changed, &s->lock, deadline) == ETIMEDOUT)
			r = ERR_UI_NO_APPROVER;
	if (r == 0 && s->stopping)
		r = ERR_IO;
	if (r == 0) {
		*uip = s->current;
		s->users++;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void
approver_put(struct signer_ui_socket *s)
{
	pthread_mutex_lock(&s->lock);
	s->users--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

int
signer_ui_socket_call(struct signer_ui_socket *s, const char *method, json_t *params,
    int timeout_ms, json_t **resultp)
{
	struct signer_ui_stdio *ui;
	struct timespec deadline;
	int r;

	*resultp = NULL;
	clock_deadline_ms(&deadline, timeout_ms);
	if ((r = approver_get(s, &deadline, &ui)) != 0) {
		json_decref(params);
		return r;
	}
	r = signer_ui_stdio_call(ui, method, params, clock_ms_left(&deadline), resultp);
	approver_put(s);
	return r;
}

int
signer_ui_socket_notify(struct signer_ui_socket *s, const char *method, json_t *params)
{
	struct signer_ui_stdio *ui;
	int r;

	if ((r = approver_get(s, NULL, &ui)) != 0) {
		json_decref(params);
		return r;
	}
	r = signer_ui_stdio_notify(ui, method, params);
	approver_put(s);
	return r;
}

int
signer_ui_socket_ask_watched(void *ctx, const char *method, const json_t *request,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp)
{
	struct signer_ui_socket *s = ctx;
	struct signer_ui_stdio *ui;
	struct timespec deadline;
	int r;

	*resultp = NULL;
	clock_deadline_ms(&deadline, timeout_ms);
	if ((r = approver_get(s, &deadline, &ui)) != 0)
		return r;
	r = signer_ui_stdio_ask_watched(ui, method, request, clock_ms_left(&deadline),
	    still_wanted, arg, resultp);
	approver_put(s);
	return r;
}

int
signer_ui_socket_ask(void *ctx, const char *method, const json_t *request,
    int timeout_ms, json_t **resultp)
{
	return signer_ui_socket_ask_watched(ctx, method, request, timeout_ms, NULL, NULL, resultp);
}

void
signer_ui_socket_notify_approver(void *ctx, const char *method, const json_t *params)
{
	struct signer_ui_stdio *ui;

	if (approver_get(ctx, NULL, &ui) != 0)
		return;
	signer_ui_stdio_notify_approver(ui, method, params);
	approver_put(ctx);
}

void
signer_ui_socket_shutdown(struct signer_ui_socket *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	signer_ui_stdio_shutdown(s->current);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

void
signer_ui_socket_stop(struct signer_ui_socket *s)
{
	if (s == NULL)
		return;
	signer_ui_socket_shutdown(s);
	rpc_unixsrv_stop(s->srv);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->changed);
	json_decref(s->startup_info);
	free(s);
}
