/*
 * helper.c - the token helper's session (helper.h): HELLO and CONFIGURE,
 * writing to the daemon, starting and stopping the threads.  The workers,
 * which read the requests and run them, are helper_workers.c's.
 *
 * Locks, outermost first: h->rlock (reading requests), h->wlock (writes to
 * the socket), h->lock (job slots, stop); h->keys_lock (the handle table),
 * h->mon_lock (the monitor's wake-up) and h->memo_lock (what was logged) are
 * taken alone.  No PKCS#11 call (token.h) is made with any of them held.
 *
 * A slot is freed under h->wlock just before its answer is written, so the
 * daemon, which may reuse an id once it has the answer, never finds the id
 * still taken.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "p11/helper.h"
#include "p11/helper_int.h"

/* ---- small things ---- */

/* "<name>: <message>" through core/log (its prefix: "p11signer-token[pid]"). */
void
helper_log(const struct helper *h, const char *fmt, ...)
{
	char text[LIMIT_LOG_LINE];
	va_list ap;

	if (h != NULL && h->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg("%s: %s", h != NULL ? h->name : "module", text);
}

void
helper_printable(char out[TEXT_SZ], const char *s)
{
	proto_text_clean((const uint8_t *)s, strlen(s), out, TEXT_SZ);
}

static int
is_io_err(int r)
{
	return r == ERR_PROTO_CLOSED || r == ERR_IO || r == ERR_TIMEOUT;
}

uint32_t
p11_helper_token_flags(const struct p11_token_info *t)
{
	static const struct { unsigned long ck; uint32_t proto; } map[] = {
		{ CKF_LOGIN_REQUIRED, PROTO_TOKEN_LOGIN_REQUIRED },
		{ CKF_PROTECTED_AUTHENTICATION_PATH, PROTO_TOKEN_PROTECTED_AUTH },
		{ CKF_USER_PIN_COUNT_LOW, PROTO_TOKEN_PIN_COUNT_LOW },
		{ CKF_USER_PIN_FINAL_TRY, PROTO_TOKEN_PIN_FINAL_TRY },
		{ CKF_USER_PIN_LOCKED, PROTO_TOKEN_PIN_LOCKED },
		{ CKF_USER_PIN_TO_BE_CHANGED, PROTO_TOKEN_PIN_TO_BE_CHANGED },
		{ CKF_WRITE_PROTECTED, PROTO_TOKEN_WRITE_PROTECTED },
		{ CKF_TOKEN_INITIALIZED, PROTO_TOKEN_INITIALIZED },
		{ CKF_USER_PIN_INITIALIZED, PROTO_TOKEN_USER_PIN_INITIALIZED },
	};
	uint32_t f = 0;
	size_t i;

	if (t->present)
		f |= PROTO_TOKEN_PRESENT;
	if (t->slot_flags & CKF_REMOVABLE_DEVICE)
		f |= PROTO_TOKEN_REMOVABLE;
	/* A removed token has lost its login. */
	if (t->present && (t->pin_state & P11_PIN_LOGGED_IN))
		f |= PROTO_TOKEN_LOGGED_IN;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (t->token_flags & map[i].ck)
			f |= map[i].proto;
	if (t->pin_state & P11_PIN_AUTO)
		f |= PROTO_TOKEN_PIN_AUTO;
	if (t->pin_state & P11_PIN_AUTO_REJECTED)
		f |= PROTO_TOKEN_PIN_AUTO_REJECTED;
	return f;
}

/* The token's URI as the protocol takes it, else its slot's. */
const char *
helper_token_uri(const struct p11_token_info *t, char slot_uri[SLOT_URI_SZ])
{
	if (proto_uri_ok(t->uri))
		return t->uri;
	snprintf(slot_uri, SLOT_URI_SZ, "pkcs11:slot-id=%lu", t->slot);
	return slot_uri;
}

/* Token number `token` as token.h sees it now.  0 or ERR_P11_TOKEN_UNKNOWN, ERR_NOMEM. */
int
helper_token_get(struct helper *h, unsigned token, struct p11_token_info *out)
{
	struct p11_token_info *toks = NULL;
	size_t n = 0, i;
	int r;

	if ((r = p11_token_list_tokens(h->m, &toks, &n)) != 0)
		return r;
	r = ERR_P11_TOKEN_UNKNOWN;
	for (i = 0; i < n; i++) {
		if (toks[i].token == token) {
			*out = toks[i];
			r = 0;
			break;
		}
	}
	free(toks);
	return r;
}

/* The token's label, cleaned, for log lines and messages ("?" when unknown). */
void
helper_token_label(struct helper *h, unsigned token, char out[TEXT_SZ])
{
	struct p11_token_info t;

	if (helper_token_get(h, token, &t) == 0)
		helper_printable(out, t.label);
	else
		snprintf(out, TEXT_SZ, "?");
}

/*
 * Should a failure with this code on this token be logged?  Not when the
 * last one logged for the token was the same, less than MEMO_MS ago (a
 * thousand signs that fail the same way make one line).  *suppressedp: how
 * many were not logged since.
 */
int
helper_memo_log(struct helper *h, unsigned token, int code, unsigned long *suppressedp)
{
	struct memo *mm, *use = NULL;
	long long now = clock_now_ms();
	size_t i;
	int log = 1;

	*suppressedp = 0;
	pthread_mutex_lock(&h->memo_lock);
	for (i = 0; i < MEMO_SLOTS && use == NULL; i++)
		if (h->memo[i].at_ms != 0 && h->memo[i].token == token)
			use = &h->memo[i];
	for (i = 0; i < MEMO_SLOTS && use == NULL; i++)
		if (h->memo[i].at_ms == 0)
			use = &h->memo[i];
	if (use == NULL)
		use = &h->memo[(size_t)now % MEMO_SLOTS];
	mm = use;
	if (mm->at_ms != 0 && mm->token == token && mm->code == code && now - mm->at_ms < MEMO_MS) {
		mm->suppressed++;
		log = 0;
	} else {
		*suppressedp = mm->token == token && mm->code == code ? mm->suppressed : 0;
		mm->token = token;
		mm->code = code;
		mm->at_ms = now != 0 ? now : 1;
		mm->suppressed = 0;
	}
	pthread_mutex_unlock(&h->memo_lock);
	return log;
}

/* ---- writing ---- */

/* Send m (h->wlock held).  A reply that cannot be encoded becomes an ERROR. */
static int
send_locked(struct helper *h, const struct proto_msg *m)
{
	struct timespec dl;
	struct proto_msg e;
	int r;

	if (h->dead)
		return h->write_err;
	clock_deadline_ms(&dl, h->send_ms);
	r = proto_send(h->fd, m, &dl);
	if (r != 0 && !is_io_err(r)) {
		helper_log(h, "cannot encode %s: %s", proto_type_name(m->type), err_name(r));
		if (m->type != PROTO_ERROR && m->type != PROTO_EVENT) {
			memset(&e, 0, sizeof(e));
			e.type = PROTO_ERROR;
			e.id = m->id;
			e.error.code = ERR_INTERNAL;
			e.error.message = "the token helper could not encode its answer";
			r = proto_send(h->fd, &e, &dl);
		}
	}
	if (is_io_err(r)) {
		h->dead = 1;
		h->write_err = r;
		shutdown(h->fd, SHUT_RDWR);	/* the reader sees end of file */
		if (r != ERR_PROTO_CLOSED)
			helper_log(h, "cannot write to the daemon: %s", err_str(r));
	}
	return r;
}

int
helper_send(struct helper *h, const struct proto_msg *m)
{
	int r;

	pthread_mutex_lock(&h->wlock);
	r = send_locked(h, m);
	pthread_mutex_unlock(&h->wlock);
	return r;
}

static void
error_msg(struct proto_msg *e, uint32_t id, int code, char text[TEXT_SZ], const char *fmt,
    va_list ap) __attribute__((format(printf, 5, 0)));

static void
error_msg(struct proto_msg *e, uint32_t id, int code, char text[TEXT_SZ], const char *fmt,
    va_list ap)
{
	char raw[512];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	helper_printable(text, raw);
	memset(e, 0, sizeof(*e));
	e->type = PROTO_ERROR;
	e->id = id;
	e->error.code = code < 0 ? code : ERR_INTERNAL;
	e->error.message = text;
}

void
helper_send_error(struct helper *h, uint32_t id, int code, const char *fmt, ...)
{
	char text[TEXT_SZ];
	struct proto_msg e;
	va_list ap;

	va_start(ap, fmt);
	error_msg(&e, id, code, text, fmt, ap);
	va_end(ap);
	helper_send(h, &e);
}

/*
 * The last frame: ERROR with id 0 says why the session ends.  Nothing is
 * sent after it (answers still being worked on are dropped).
 */
void
helper_send_farewell(struct helper *h, int code, const char *fmt, ...)
{
	char text[TEXT_SZ];
	struct proto_msg e;
	va_list ap;

	va_start(ap, fmt);
	error_msg(&e, 0, code, text, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&h->wlock);
	if (send_locked(h, &e) == 0) {
		h->dead = 1;
		h->write_err = ERR_PROTO_CLOSED;
		shutdown(h->fd, SHUT_WR);
	}
	pthread_mutex_unlock(&h->wlock);
}

/*
 * Answer job j with m (whose fields point to nothing in j->untrusted_req) and free the
 * slot.  The slot is free before the answer is out: see the top.
 */
void
helper_job_answer(struct helper *h, struct job *j, const struct proto_msg *m)
{
	pthread_mutex_lock(&h->wlock);
	pthread_mutex_lock(&h->lock);
	proto_msg_free(j->untrusted_req);		/* wipes */
	j->untrusted_req = NULL;
	j->state = JOB_FREE;
	pthread_mutex_unlock(&h->lock);
	send_locked(h, m);
	pthread_mutex_unlock(&h->wlock);
}

void
helper_job_error(struct helper *h, struct job *j, int code, const char *fmt, ...)
{
	char text[TEXT_SZ];
	struct proto_msg e;
	va_list ap;

	va_start(ap, fmt);
	error_msg(&e, j->id, code, text, fmt, ap);
	va_end(ap);
	helper_job_answer(h, j, &e);
}

/* ---- the session ---- */

/*
 * The next whole message, for HELLO and CONFIGURE, read by serve's thread
 * before the workers start: 0 and *outp, ERR_PROTO_CLOSED at end of file,
 * or the error.
 */
static int
read_one(int fd, struct proto_reader *rd, struct proto_msg **untrusted_msgp)
{
	struct pollfd pfd;
	int r;

	for (;;) {
		if ((r = proto_reader_next(rd, untrusted_msgp)) != 0 || *untrusted_msgp != NULL)
			return r;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return ERR_IO;
		r = proto_reader_read(rd, fd);
		if (r != 0 && r != ERR_PROTO_CLOSED)
			return r;
		/* At end of file, proto_reader_next says what is left. */
	}
}

static void
helper_free(struct helper *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->jobs != NULL)
		for (i = 0; i < h->max; i++)
			proto_msg_free(h->jobs[i].untrusted_req);
	free(h->jobs);
	if (h->workers != NULL)
		for (i = 0; i <= h->max; i++)
			if (h->workers[i].epfd >= 0)
				close(h->workers[i].epfd);
	free(h->workers);
	if (h->kick_fd >= 0)
		close(h->kick_fd);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	proto_reader_free(h->rd);	/* wipes */
	for (i = 0; i < h->nkeys; i++)
		free(h->keys[i].uri);
	free(h->keys);
	helper_snap_free(&h->snap);
	pthread_mutex_destroy(&h->rlock);
	pthread_mutex_destroy(&h->wlock);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->mon_lock);
	pthread_cond_destroy(&h->mon_cv);
	pthread_mutex_destroy(&h->keys_lock);
	pthread_mutex_destroy(&h->memo_lock);
	free(h);
}

static int
helper_new(int fd, struct p11_module *m, const struct p11_helper_options *opt,
    struct helper **hp)
{
	struct p11_helper_options none;
	struct helper *h;
	unsigned i;

	*hp = NULL;
	if (opt == NULL) {
		memset(&none, 0, sizeof(none));
		opt = &none;
	}
	if (opt->max_inflight > P11_HELPER_INFLIGHT_MAX || opt->poll_ms < 0 ||
	    opt->event_poll_ms < 0 || opt->send_timeout_ms < 0 || opt->stop_ms < 0)
		return ERR_INVALID_ARGUMENT;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return ERR_NOMEM;
	h->fd = fd;
	h->fd_flags = -1;
	h->kick_fd = -1;
	h->stop_fd = -1;
	h->m = m;
	helper_printable(h->name, opt->name != NULL ? opt->name : "module");
	h->max = opt->max_inflight != 0 ? opt->max_inflight : P11_HELPER_INFLIGHT_DEFAULT;
	h->poll_ms = opt->poll_ms != 0 ? opt->poll_ms : P11_HELPER_POLL_MS_DEFAULT;
	h->event_poll_ms = opt->event_poll_ms != 0 ? opt->event_poll_ms :
	    P11_HELPER_EVENT_POLL_MS_DEFAULT;
	h->send_ms = opt->send_timeout_ms != 0 ? opt->send_timeout_ms : P11_HELPER_SEND_MS_DEFAULT;
	h->stop_ms = opt->stop_ms != 0 ? opt->stop_ms : P11_HELPER_STOP_MS_DEFAULT;
	h->quiet = opt->quiet;
	pthread_mutex_init(&h->rlock, NULL);
	pthread_mutex_init(&h->wlock, NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->mon_lock, NULL);
	pthread_mutex_init(&h->keys_lock, NULL);
	pthread_mutex_init(&h->memo_lock, NULL);
	clock_cond_init(&h->mon_cv);
	h->jobs = calloc(h->max, sizeof(*h->jobs));
	if (h->jobs == NULL || (h->workers = calloc(h->max + 1, sizeof(*h->workers))) == NULL) {
		helper_free(h);
		return ERR_NOMEM;
	}
	for (i = 0; i <= h->max; i++) {
		h->workers[i].h = h;
		h->workers[i].epfd = -1;
	}
	*hp = h;
	return 0;
}

/* Threads take no signals: they are the program's. */
int
helper_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

/* Stop the threads; 1 when one is still busy after stop_ms (h must then stay). */
static int
helper_stop(struct helper *h)
{
	struct timespec until;
	unsigned i;
	int busy = 0;

	helper_workers_stop(h, 0);
	pthread_mutex_lock(&h->mon_lock);
	h->mon_stop = 1;
	pthread_cond_signal(&h->mon_cv);
	pthread_mutex_unlock(&h->mon_lock);

	clock_deadline_ms(&until, h->stop_ms);
	for (i = 0; i < h->nworkers; i++)
		if (pthread_clockjoin_np(h->workers[i].thread, NULL, CLOCK_MONOTONIC, &until) != 0)
			busy = 1;
	if (h->mon_started && pthread_clockjoin_np(h->mon, NULL, CLOCK_MONOTONIC, &until) != 0)
		busy = 1;
	if (h->usb_started &&
	    pthread_clockjoin_np(h->usb_thread, NULL, CLOCK_MONOTONIC, &until) == 0) {
		libusb_hotplug_deregister_callback(h->usb, h->usb_cb);
		libusb_exit(h->usb);
		h->usb = NULL;
		h->usb_started = 0;
	}
	return busy;
}

/*
 * The daemon's CONFIGURE, right after HELLO: open the module with it and
 * answer with the key list.  0, or the error the session ends with (the
 * daemon has been told).  Steals msg.
 */
static int
configure(struct helper *h, struct proto_msg *untrusted_msg, const struct p11_helper_options *opt)
{
	struct p11_module *m = NULL;
	struct proto_msg *list = NULL;
	struct job first;
	char why[TEXT_SZ];
	uint32_t id = untrusted_msg->id;
	int r;

	if (untrusted_msg->type != PROTO_CONFIGURE) {
		helper_log(h, "the daemon sent %s before CONFIGURE", proto_type_name(untrusted_msg->type));
		helper_send_farewell(h, ERR_PROTO_UNEXPECTED, "CONFIGURE must follow HELLO, not %s",
		    proto_type_name(untrusted_msg->type));
		r = ERR_PROTO_UNEXPECTED;
		goto out;
	}
	why[0] = '\0';
	r = opt->open(opt->open_ctx, &untrusted_msg->configure, &m, why, sizeof(why));
	proto_msg_free(untrusted_msg);	/* wipes the URIs, which may hold a PIN */
	untrusted_msg = NULL;
	if (r != 0) {
		helper_send_error(h, id, r, "%s", why[0] != '\0' ? why : err_str(r));
		goto out;
	}
	h->m = m;
	/* Events are about changes after this. */
	if (helper_snap_take(h, &h->snap) != 0)
		helper_snap_free(&h->snap);
	/* The answer is the list, as to LIST_KEYS, before any event can be sent. */
	if ((list = calloc(1, sizeof(*list))) == NULL) {
		helper_send_error(h, id, ERR_NOMEM, "out of memory");
		r = ERR_NOMEM;
		goto out;
	}
	list->type = PROTO_LIST_KEYS;
	list->id = id;
	memset(&first, 0, sizeof(first));
	first.state = JOB_RUNNING;
	first.id = id;
	first.untrusted_req = list;
	list = NULL;
	helper_do_list(h, &first);
	pthread_mutex_lock(&h->wlock);
	r = h->dead ? h->write_err : 0;
	pthread_mutex_unlock(&h->wlock);
 out:
	proto_msg_free(untrusted_msg);
	return r;
}

int
p11_helper_serve(int fd, const struct p11_helper_options *opt, struct p11_module **modp,
    int *busyp)
{
	struct proto_msg *untrusted_msg = NULL, reply;
	struct helper *h = NULL;
	int r, busy = 0;

	if (busyp != NULL)
		*busyp = 0;
	if (modp != NULL)
		*modp = NULL;
	if (fd < 0 || opt == NULL || opt->open == NULL || modp == NULL)
		return ERR_INVALID_ARGUMENT;
	if ((r = helper_new(fd, NULL, opt, &h)) != 0)
		return r;
	if ((r = proto_reader_new(PROTO_FROM_DAEMON, &h->rd)) != 0)
		goto out;

	/* HELLO, and nothing else, first. */
	if ((r = read_one(fd, h->rd, &untrusted_msg)) != 0) {
		if (r == ERR_PROTO_CLOSED) {
			r = 0;	/* the daemon went before it said anything */
			goto out;
		}
		helper_log(h, "the daemon broke the token protocol: %s", err_str(r));
		helper_send_farewell(h, r, "%s", err_str(r));
		goto out;
	}
	if (untrusted_msg->type != PROTO_HELLO) {
		helper_log(h, "the daemon sent %s before HELLO", proto_type_name(untrusted_msg->type));
		helper_send_farewell(h, ERR_PROTO_UNEXPECTED, "HELLO must come first, not %s",
		    proto_type_name(untrusted_msg->type));
		r = ERR_PROTO_UNEXPECTED;
		goto out;
	}
	if (untrusted_msg->hello.version != PROTO_VERSION) {
		helper_log(h, "the daemon speaks token protocol version %lu, this helper %d",
		    (unsigned long)untrusted_msg->hello.version, PROTO_VERSION);
		helper_send_error(h, untrusted_msg->id, ERR_PROTO_VERSION, "this helper speaks token protocol "
		    "version %d, not %lu", PROTO_VERSION, (unsigned long)untrusted_msg->hello.version);
		r = ERR_PROTO_VERSION;
		goto out;
	}
	memset(&reply, 0, sizeof(reply));
	reply.type = PROTO_HELLO_REPLY;
	reply.id = untrusted_msg->id;
	reply.hello.version = PROTO_VERSION;
	proto_msg_free(untrusted_msg);
	untrusted_msg = NULL;
	if ((r = helper_send(h, &reply)) != 0)
		goto out;

	/* Then CONFIGURE: the module is opened only now, with the daemon's URIs. */
	if ((r = read_one(fd, h->rd, &untrusted_msg)) != 0) {
		if (r == ERR_PROTO_CLOSED) {
			r = 0;
			goto out;
		}
		helper_log(h, "the daemon broke the token protocol: %s", err_str(r));
		helper_send_farewell(h, r, "%s", err_str(r));
		goto out;
	}
	r = configure(h, untrusted_msg, opt);	/* takes untrusted_msg */
	untrusted_msg = NULL;
	*modp = h->m;
	if (r != 0)
		goto out;

	if ((r = helper_workers_start(h)) != 0) {
		helper_log(h, "cannot start its threads");
		helper_send_farewell(h, r, "the token helper cannot start its threads");
		goto out;
	}
	if (helper_thread_start(&h->mon, helper_mon_main, h) != 0) {
		helper_log(h, "cannot start its monitor thread");
		helper_send_farewell(h, ERR_NOMEM, "the token helper cannot start its threads");
		r = ERR_NOMEM;
		goto out;
	}
	h->mon_started = 1;
	if (helper_usb_start(h))
		helper_log(h, "USB hotplug notifications on: a token plugged in or out is rescanned at once");

	/* Requests, in any number and order, until the daemon closes: the workers'. */
	r = helper_workers_wait(h);
 out:
	proto_msg_free(untrusted_msg);
	busy = helper_stop(h);
	if (h->fd_flags >= 0)
		(void)fcntl(fd, F_SETFL, h->fd_flags);	/* fd goes back as it came */
	if (busyp != NULL)
		*busyp = busy;
	if (busy)
		helper_log(h, "a request is still inside the module");
	else
		helper_free(h);	/* else its threads still use it: the caller exits */
	return r;
}

int
p11_helper_refuse(int fd, int code, const char *message, int timeout_ms)
{
	struct proto_msg *m = NULL, e;
	struct timespec dl;
	char text[TEXT_SZ], why[TEXT_SZ];
	int r;

	if (timeout_ms >= 0)
		clock_deadline_ms(&dl, timeout_ms);
	r = proto_recv(fd, PROTO_FROM_DAEMON, timeout_ms >= 0 ? &dl : NULL, &m);
	if (is_io_err(r))
		return r;
	memset(&e, 0, sizeof(e));
	e.type = PROTO_ERROR;
	e.error.message = text;
	if (r != 0) {
		e.error.code = r;
		helper_printable(text, err_str(r));
	} else if (m->type != PROTO_HELLO) {
		e.error.code = ERR_PROTO_UNEXPECTED;
		snprintf(why, sizeof(why), "HELLO must come first, not %s", proto_type_name(m->type));
		helper_printable(text, why);
	} else if (m->hello.version != PROTO_VERSION) {
		e.id = m->id;
		e.error.code = ERR_PROTO_VERSION;
		snprintf(why, sizeof(why), "this helper speaks token protocol version %d, not %lu",
		    PROTO_VERSION, (unsigned long)m->hello.version);
		helper_printable(text, why);
	} else {
		e.id = m->id;
		e.error.code = code < 0 ? code : ERR_INTERNAL;
		helper_printable(text, message != NULL ? message : err_str(code));
	}
	proto_msg_free(m);
	clock_deadline_ms(&dl, timeout_ms >= 0 ? timeout_ms : P11_HELPER_SEND_MS_DEFAULT);
	r = proto_send(fd, &e, &dl);
	return r;
}
