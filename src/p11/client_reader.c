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
#include <sys/pidfd.h>
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
	if (h == NULL || --h->refs > 0)
		return;
	if (h->fd >= 0)
		close(h->fd);
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
}

/* ---- the reader thread ---- */

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

void *
client_reader_main(void *arg)
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
			for (i = 0; i < EXITED_READS_MAX && end == READ_MORE && poll(pfd, 1, 0) > 0; i++)
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
		    "the token protocol (%s); it was killed", c->module, detail);
	else if (killed)
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN " closed "
		    "its connection but did not exit; it was killed", c->module);
	else
		(void)err_why(why, ERR_PROTO_CLOSED, "the token helper for " MODULE_SHOWN
		    " %s%s%.100s", c->module, status, farewell[0] != '\0' ? ": " : "", farewell);

	pthread_mutex_lock(&c->lock);
	h->dead = 1;
	h->pid = 0;
	client_pending_fail_gen(c, h->gen, ERR_PROTO_CLOSED, why);
	snprintf(c->last_why, sizeof(c->last_why), "%s", why);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}
