/*
 * client_reader.c - the reader thread of a running token helper: it
 * dispatches replies and events to the pending requests, and ends the
 * helper (reaps it, fails its requests) when its stream ends.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/spawn.h"
#include "p11/client_int.h"

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

void
client_pending_unlink(struct p11_client *c, struct pending *p)
{
	struct pending **pp;

	for (pp = &c->pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
}

struct pending *
client_pending_new(void)
{
	struct pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if (clock_cond_init(&p->done_cv) != 0) {
		/* Never in practice on Linux; the object holds no resources. */
		free(p);
		return NULL;
	}
	return p;
}

void
client_pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	proto_msg_free(p->reply);
	pthread_cond_destroy(&p->done_cv);
	free(p);
}

/* Fail every request of helper generation gen (every one when gen is 0). */
void
client_pending_fail_gen(struct p11_client *c, uint64_t gen, int result, const char *why)
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
			client_pending_free(p);
			continue;
		}
		p->result = result;
		snprintf(p->why, sizeof(p->why), "%s", why);
		p->done = 1;
		pthread_cond_signal(&p->done_cv);
	}
}

/* A request id: never 0, unique among the requests in flight (abandoned ones too). */
uint32_t
client_new_id(struct p11_client *c)
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
void
client_helper_unref(struct helper *h)
{
	unsigned i;

	if (h == NULL || --h->refs > 0)
		return;
	if (h->fd >= 0)
		close(h->fd);
	if (h->pidfd >= 0)
		close(h->pidfd);
	proto_reader_free(h->rd);
	for (i = 0; i < h->ev_len; i++)
		proto_msg_free(h->events[(h->ev_head + i) % EVENTS_MAX]);
	pthread_cond_destroy(&h->reader_cv);
	free(h);
}

/* Have the reader end the helper (c->lock held).  reason: NULL for a stop. */
void
client_helper_end(struct helper *h, const char *reason)
{
	if (h->dead)
		return;
	if (reason == NULL)
		h->stop_asked = 1;
	else if (h->kill_reason[0] == '\0')
		snprintf(h->kill_reason, sizeof(h->kill_reason), "%s", reason);
	shutdown(h->fd, SHUT_RDWR);
	/* Whoever reads sees the end; with nobody reading, the reader thread must. */
	h->reader_wanted = 1;
	pthread_cond_signal(&h->reader_cv);
}

/* ---- reading ---- */

/* Remember the tokens a key list says rejected their configured PIN (c->lock held). */
void
client_note_rejected(struct p11_client *c, const struct proto_key_list *l)
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
 * Who reads.  One thread at a time holds the read role (h->reading) and reads
 * the helper's socket, dispatching every message in what it read.  A caller
 * waiting for its answer takes the role when nobody holds it, so that its
 * answer wakes it directly: through a reader thread every answer cost a
 * second wake-up, the reader's of its caller, ~16 us across CPUs on a
 * 2-CPU VM and as much again in CPU (issue 20).  The reader thread reads
 * while no call has started for LINGER_MS (events, an exit between calls),
 * delivers the events that callers read, and alone ends the helper: a caller
 * that meets the end of the stream records it and hands over.
 */

/* A caller of h still waiting for its answer, other than not; or NULL (c->lock held). */
static struct pending *
waiter_of(struct p11_client *c, const struct helper *h, const struct pending *not)
{
	struct pending *p;

	for (p = c->pending; p != NULL; p = p->next)
		if (p != not && p->gen == h->gen && !p->done && !p->abandoned)
			return p;
	return NULL;
}

/*
 * Give the read role up (c->lock held): to a caller still waiting, other
 * than not, when promote; the reader thread is told when it must read.
 */
static void
role_release(struct helper *h, const struct pending *not, int promote)
{
	struct pending *w;

	h->reading = 0;
	if (promote && h->end == READ_MORE && !h->reader_wanted &&
	    (w = waiter_of(h->c, h, not)) != NULL)
		pthread_cond_signal(&w->done_cv);
	if (h->end != READ_MORE || h->reader_wanted || h->ev_len > 0)
		pthread_cond_signal(&h->reader_cv);
}

/* Keep an event for the reader thread to deliver (steals m; c->lock held). */
static void
event_keep(struct helper *h, struct proto_msg *m)
{
	if (h->ev_len == EVENTS_MAX) {
		proto_msg_free(h->events[h->ev_head]);
		h->ev_head = (h->ev_head + 1) % EVENTS_MAX;
		h->ev_len--;
	}
	h->events[(h->ev_head + h->ev_len) % EVENTS_MAX] = m;
	h->ev_len++;
	pthread_cond_signal(&h->reader_cv);
}

/*
 * One message from the helper (the read role held, c->lock not).  0, or
 * ERR_PROTO_UNEXPECTED with what the helper did wrong in h->detail.  Steals m.
 */
static int
dispatch(struct helper *h, struct proto_msg *m)
{
	struct p11_client *c = h->c;
	struct pending *p;

	if (m->type == PROTO_EVENT) {
		pthread_mutex_lock(&c->lock);
		if (c->on_event != NULL)
			event_keep(h, m);
		else
			proto_msg_free(m);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (m->type == PROTO_ERROR && m->id == 0) {
		/* Why it is about to close the stream. */
		snprintf(h->farewell, sizeof(h->farewell), "%s",
		    m->error.message[0] != '\0' ? m->error.message : err_str(m->error.code));
		proto_msg_free(m);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	if ((p = pending_find(c, h->gen, m->id)) == NULL) {
		pthread_mutex_unlock(&c->lock);
		snprintf(h->detail, sizeof(h->detail), "it sent %s for request %u, which was not "
		    "asked", proto_type_name(m->type), (unsigned)m->id);
		proto_msg_free(m);
		return ERR_PROTO_UNEXPECTED;
	}
	if (!proto_is_reply_to(p->req_type, m->type)) {
		pthread_mutex_unlock(&c->lock);
		snprintf(h->detail, sizeof(h->detail), "it answered %s with %s",
		    proto_type_name(p->req_type), proto_type_name(m->type));
		proto_msg_free(m);
		return ERR_PROTO_UNEXPECTED;
	}
	client_pending_unlink(c, p);
	if (m->type == PROTO_KEY_LIST)
		client_note_rejected(c, &m->key_list);
	if (p->abandoned) {
		/* The late answer to a request that timed out. */
		if (h->abandoned > 0)
			h->abandoned--;
		client_pending_free(p);
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

/* One read from the helper's socket; every whole message in it dispatched (the role held). */
static enum read_end
read_some(struct helper *h)
{
	struct proto_msg *m;
	int r;

	r = proto_reader_read(h->rd, h->fd);
	if (r != 0 && r != ERR_PROTO_CLOSED) {
		snprintf(h->detail, sizeof(h->detail), "%s", err_str(r));
		return r == ERR_IO ? READ_IO : READ_VIOLATION;
	}
	/* At end of file too: what came before it is delivered. */
	while ((r = proto_reader_next(h->rd, &m)) == 0 && m != NULL)
		if (dispatch(h, m) != 0)
			return READ_VIOLATION;
	if (r == ERR_PROTO_CLOSED)
		return READ_EOF;	/* between frames */
	if (r != 0) {
		snprintf(h->detail, sizeof(h->detail), "%s", r == ERR_PROTO_TRUNCATED ?
		    "it closed the stream inside a frame" : err_str(r));
		return READ_VIOLATION;
	}
	return READ_MORE;
}

/*
 * Wait for the socket or the helper's exit, up to timeout_ms (-1: no limit),
 * and read (the role held, c->lock not).  *exitedp: the helper has exited
 * and nothing was read.
 */
static enum read_end
poll_read(struct helper *h, int timeout_ms, int *exitedp)
{
	struct pollfd pfd[2];

	*exitedp = 0;
	memset(pfd, 0, sizeof(pfd));
	pfd[0].fd = h->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = h->pidfd;
	pfd[1].events = POLLIN;
	if (poll(pfd, h->pidfd >= 0 ? 2 : 1, timeout_ms) < 0)
		return errno == EINTR ? READ_MORE : READ_IO;
	if (pfd[0].revents != 0)
		return read_some(h);
	if (pfd[1].revents != 0)
		*exitedp = 1;
	return READ_MORE;
}

/*
 * Read for a caller whose request p is sent, until something was read or
 * deadline (c->lock held, dropped while reading; nobody holds the role).
 */
void
client_read_as_caller(struct helper *h, struct pending *p, const struct timespec *deadline)
{
	struct p11_client *c = h->c;
	enum read_end end;
	int exited;

	h->reading = 1;
	pthread_mutex_unlock(&c->lock);
	end = poll_read(h, clock_ms_left(deadline), &exited);
	pthread_mutex_lock(&c->lock);
	if (end != READ_MORE)
		h->end = end;
	if (exited)	/* its socket is held open elsewhere: the reader thread drains it */
		h->reader_wanted = 1;
	/* Still waiting, it reads on at once: no one else to wake for that. */
	role_release(h, p, p->done || clock_passed(deadline));
}

/* The reader thread must read now (c->lock held). */
static int
reader_must_read(struct p11_client *c, const struct helper *h)
{
	if (h->reading)
		return 0;
	if (h->reader_wanted)
		return 1;
	return waiter_of(c, h, NULL) == NULL && clock_passed(&h->linger_until);
}

void *
client_reader_main(void *arg)
{
	struct helper *h = arg;
	struct p11_client *c = h->c;
	struct proto_msg *ev;
	struct timespec wake;
	char status[64], kill_reason[sizeof(h->kill_reason)], why[P11_CLIENT_WHY_MAX];
	enum read_end end;
	int violation, stop, killed, exited, i;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (h->ev_len > 0) {
			/* In order, one at a time, the lock dropped for the callback. */
			ev = h->events[h->ev_head];
			h->ev_head = (h->ev_head + 1) % EVENTS_MAX;
			h->ev_len--;
			pthread_mutex_unlock(&c->lock);
			c->on_event(c->event_ctx, &ev->event);
			proto_msg_free(ev);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (h->end != READ_MORE && !h->reading)
			break;
		if (h->end != READ_MORE || !reader_must_read(c, h)) {
			/* A caller reads, or will; look again by the linger's end at the latest. */
			clock_deadline_ms(&wake, LINGER_MS);
			if (!h->reading && waiter_of(c, h, NULL) == NULL)
				clock_earlier(&wake, &wake, &h->linger_until);
			(void)pthread_cond_timedwait(&h->reader_cv, &c->lock, &wake);
			continue;
		}
		h->reading = 1;
		h->reader_wanted = 0;
		pthread_mutex_unlock(&c->lock);
		end = poll_read(h, -1, &exited);
		if (exited) {
			/* It has exited; its socket is held open elsewhere.  Take what it sent. */
			for (i = 0; i < EXITED_READS_MAX && end == READ_MORE; i++)
				if ((end = poll_read(h, 0, &exited)) == READ_MORE && exited)
					break;	/* its socket is empty */
			if (end == READ_MORE)
				end = READ_EOF;
		}
		pthread_mutex_lock(&c->lock);
		if (end != READ_MORE)
			h->end = end;
		/* Callers came while it read: one of them reads from now on. */
		role_release(h, NULL, 1);
	}
	violation = h->end == READ_VIOLATION;
	stop = h->stop_asked;
	snprintf(kill_reason, sizeof(kill_reason), "%s", h->kill_reason);
	pthread_mutex_unlock(&c->lock);
	shutdown(h->fd, SHUT_RDWR);	/* senders fail fast from now on */
	spawn_reap(h->pid, stop ? STOP_GRACE_MS : (violation || kill_reason[0] != '\0') ? 0 :
	    EOF_GRACE_MS, status, sizeof(status), &killed);

	if (stop)
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN " was "
		    "stopped%s", c->module, killed ? " (killed: it did not exit within 2 s)" : "");
	else if (kill_reason[0] != '\0')
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN " %s; it "
		    "was killed", c->module, kill_reason);
	else if (violation)
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN " broke "
		    "the token protocol (%s); it was killed", c->module, h->detail);
	else if (killed)
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN " closed "
		    "its connection but did not exit; it was killed", c->module);
	else
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN
		    " %s%s%.100s", c->module, status, h->farewell[0] != '\0' ? ": " : "",
		    h->farewell);

	pthread_mutex_lock(&c->lock);
	h->dead = 1;
	h->pid = 0;
	client_pending_fail_gen(c, h->gen, ERR_PROTO_CLOSED, why);
	snprintf(c->last_why, sizeof(c->last_why), "%s", why);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}
