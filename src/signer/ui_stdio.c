/*
 * ui_stdio.c - Clef's UI protocol (see ui_stdio.h): requests written to the
 * UI, its answers read by one thread and matched to the waiting calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "rpc/jsonrpc.h"
#include "signer/ui_stdio.h"

struct ui_waiter {
	json_int_t id;
	json_t *untrusted_answer;	/* the whole response object once it came */
	struct ui_waiter *next;
};

struct signer_ui_stdio {
	int in_fd, out_fd;
	int stop_pipe[2];
	pthread_t reader;
	int reader_started;
	pthread_mutex_t lock;	/* guards everything below and writes to out_fd */
	pthread_cond_t answered;
	json_int_t next_id;
	struct ui_waiter *waiters;
	int gone;		/* the UI closed its end or broke the protocol */
};

static int
ui_write(struct signer_ui_stdio *ui, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n, off = 0;
	int r = 0;

	if (s == NULL)
		return ERR_NOMEM;
	n = strlen(s);
	while (off < n) {
		ssize_t w = write(ui->out_fd, s + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = ERR_IO;
			break;
		}
		off += (size_t)w;
	}
	if (r == 0 && write(ui->out_fd, "\n", 1) != 1)
		r = ERR_IO;
	free(s);
	return r;
}

static void
ui_deliver(struct signer_ui_stdio *ui, json_t *untrusted_msg)
{
	json_t *untrusted_id = json_object_get(untrusted_msg, "id");
	struct ui_waiter *w;

	pthread_mutex_lock(&ui->lock);
	for (w = ui->waiters; w != NULL; w = w->next)
		if (json_is_integer(untrusted_id) && json_integer_value(untrusted_id) == w->id &&
		    w->untrusted_answer == NULL) {
			w->untrusted_answer = json_incref(untrusted_msg);
			pthread_cond_broadcast(&ui->answered);
			break;
		}
	/* No waiter: a late answer to a call that timed out, or noise.  Dropped. */
	pthread_mutex_unlock(&ui->lock);
}

static void *
ui_reader(void *arg)
{
	struct signer_ui_stdio *ui = arg;
	struct eth_buf untrusted_in;
	char untrusted_chunk[8192];
	size_t frame;

	eth_buf_init(&untrusted_in, LIMIT_JSON_BODY + sizeof(untrusted_chunk));
	for (;;) {
		struct pollfd p[2] = { { ui->in_fd, POLLIN, 0 }, { ui->stop_pipe[0], POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		n = read(ui->in_fd, untrusted_chunk, sizeof(untrusted_chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || eth_buf_put(&untrusted_in, untrusted_chunk, (size_t)n) != 0)
			break;
		explicit_bzero(untrusted_chunk, (size_t)n);
		for (;;) {
			json_t *untrusted_msg;

			if (rpc_jsonrpc_frame((const char *)untrusted_in.p, untrusted_in.len,
			    &frame) != 0)
				goto out;
			if (frame == 0)
				break;
			untrusted_msg = json_loadb((const char *)untrusted_in.p, frame,
			    JSON_REJECT_DUPLICATES, NULL);
			if (untrusted_msg != NULL)
				ui_deliver(ui, untrusted_msg);
			json_decref(untrusted_msg);
			memmove(untrusted_in.p, untrusted_in.p + frame, untrusted_in.len - frame);
			untrusted_in.len -= frame;
			/* A UI answer may hold a PIN: no stale copy behind the data. */
			explicit_bzero(untrusted_in.p + untrusted_in.len, frame);
		}
	}
 out:
	explicit_bzero(untrusted_chunk, sizeof(untrusted_chunk));
	eth_buf_free(&untrusted_in);
	pthread_mutex_lock(&ui->lock);
	ui->gone = 1;
	pthread_cond_broadcast(&ui->answered);
	pthread_mutex_unlock(&ui->lock);
	return NULL;
}

int
signer_ui_stdio_open(int in_fd, int out_fd, struct signer_ui_stdio **outp)
{
	struct signer_ui_stdio *ui;

	*outp = NULL;
	if ((ui = calloc(1, sizeof(*ui))) == NULL)
		return ERR_NOMEM;
	ui->in_fd = in_fd;
	ui->out_fd = out_fd;
	ui->next_id = 1;
	pthread_mutex_init(&ui->lock, NULL);
	if (clock_cond_init(&ui->answered) != 0) {
		pthread_mutex_destroy(&ui->lock);
		free(ui);
		return ERR_NOMEM;
	}
	if (pipe2(ui->stop_pipe, O_CLOEXEC) != 0 ||
	    pthread_create(&ui->reader, NULL, ui_reader, ui) != 0) {
		signer_ui_stdio_close(ui);
		return ERR_IO;
	}
	ui->reader_started = 1;
	*outp = ui;
	return 0;
}

/* How often a watched call asks whether its request is still wanted. */
#define UI_WATCH_STEP_MS 200

/* signer_ui_stdio_call(), and ERR_WITHDRAWN once still_wanted (when given) says 0. */
static int
call_watched(struct signer_ui_stdio *ui, const char *method, json_t *params,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp)
{
	struct ui_waiter w = { 0, NULL, NULL }, **pp;
	struct timespec deadline, step;
	json_t *req = NULL;
	int r;

	*resultp = NULL;
	clock_deadline_ms(&deadline, timeout_ms);
	pthread_mutex_lock(&ui->lock);
	if (ui->gone) {
		pthread_mutex_unlock(&ui->lock);
		json_decref(params);
		return ERR_IO;
	}
	w.id = ui->next_id++;
	w.next = ui->waiters;
	ui->waiters = &w;
	req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", w.id, "method", method,
	    "params", params);
	r = req != NULL ? ui_write(ui, req) : ERR_NOMEM;
	while (r == 0 && w.untrusted_answer == NULL && !ui->gone) {
		if (still_wanted != NULL && !still_wanted(arg)) {
			r = ERR_WITHDRAWN;
			break;
		}
		/* a watched call wakes every step, never past the deadline */
		step = deadline;
		if (still_wanted != NULL) {
			clock_deadline_ms(&step, UI_WATCH_STEP_MS);
			clock_earlier(&step, &step, &deadline);
		}
		if (pthread_cond_timedwait(&ui->answered, &ui->lock, &step) == ETIMEDOUT &&
		    clock_passed(&deadline))
			r = ERR_TIMEOUT;
	}
	if (r == 0 && w.untrusted_answer == NULL)
		r = ERR_IO;
	/* Unlink: from here on a late answer finds no waiter and is dropped. */
	for (pp = &ui->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_mutex_unlock(&ui->lock);
	if (r == 0) {
		/* checked by the approver's caller (signer/api_approve.c) */
		json_t *untrusted_result = json_object_get(w.untrusted_answer, "result");

		if (untrusted_result == NULL)
			r = ERR_JSON_TYPE;
		else
			*resultp = json_incref(untrusted_result);
	}
	json_decref(w.untrusted_answer);
	json_decref(req);
	return r;
}

int
signer_ui_stdio_call(struct signer_ui_stdio *ui, const char *method, json_t *params,
    int timeout_ms, json_t **resultp)
{
	return call_watched(ui, method, params, timeout_ms, NULL, NULL, resultp);
}

int
signer_ui_stdio_notify(struct signer_ui_stdio *ui, const char *method, json_t *params)
{
	json_t *msg = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
	int r;

	if (msg == NULL)
		return ERR_NOMEM;
	pthread_mutex_lock(&ui->lock);
	r = ui->gone ? ERR_IO : ui_write(ui, msg);
	pthread_mutex_unlock(&ui->lock);
	json_decref(msg);
	return r;
}

void
signer_ui_stdio_wait_gone(struct signer_ui_stdio *ui)
{
	pthread_mutex_lock(&ui->lock);
	while (!ui->gone)
		pthread_cond_wait(&ui->answered, &ui->lock);
	pthread_mutex_unlock(&ui->lock);
}

void
signer_ui_stdio_shutdown(struct signer_ui_stdio *ui)
{
	if (ui == NULL)
		return;
	pthread_mutex_lock(&ui->lock);
	ui->gone = 1;
	pthread_cond_broadcast(&ui->answered);
	pthread_mutex_unlock(&ui->lock);
}

void
signer_ui_stdio_close(struct signer_ui_stdio *ui)
{
	if (ui == NULL)
		return;
	if (ui->reader_started) {
		if (write(ui->stop_pipe[1], "x", 1) < 0) {
			/* the reader also stops when the UI hangs up */
		}
		pthread_join(ui->reader, NULL);
	}
	if (ui->stop_pipe[0] > 0)
		close(ui->stop_pipe[0]);
	if (ui->stop_pipe[1] > 0)
		close(ui->stop_pipe[1]);
	pthread_mutex_destroy(&ui->lock);
	pthread_cond_destroy(&ui->answered);
	free(ui);
}

int
signer_ui_stdio_ask_watched(void *ctx, const char *method, const json_t *request,
    int timeout_ms, int (*still_wanted)(const void *arg), const void *arg,
    json_t **resultp)
{
	json_t *params = json_pack("[O]", request);
	int r;

	*resultp = NULL;
	if (params == NULL)
		return ERR_NOMEM;
	r = call_watched(ctx, method, params, timeout_ms, still_wanted, arg, resultp);
	if (r == ERR_WITHDRAWN)
		(void)signer_ui_stdio_notify(ctx, "ui_showInfo", json_pack("[{s:s}]", "text",
		    "The request shown before was withdrawn: its caller is gone. Nothing will "
		    "be signed for it; an answer to it is ignored."));
	return r;
}

int
signer_ui_stdio_ask(void *ctx, const char *method, const json_t *request,
    int timeout_ms, json_t **resultp)
{
	return signer_ui_stdio_ask_watched(ctx, method, request, timeout_ms, NULL, NULL, resultp);
}

void
signer_ui_stdio_notify_approver(void *ctx, const char *method, const json_t *params)
{
	json_t *p = json_pack("[O]", params);

	if (p != NULL)
		(void)signer_ui_stdio_notify(ctx, method, p);
}
