/*
 * helper_workers.c - the token helper's workers: the threads that read the
 * daemon's requests and run them, and the session's end.
 *
 * The thread that reads a request runs it: there is no hand-off from a
 * reader to a worker, whose wake-up (about 16 us when the worker is on the
 * other CPU of a 2-CPU machine) each request used to pay on top of the
 * socket's own (issue 20).  Every idle worker waits in an epoll set of its
 * own that holds the socket with EPOLLEXCLUSIVE, so the kernel wakes one
 * idle worker when a request comes, not all of them.  The woken worker
 * takes h->rlock, takes a whole frame already read or else reads, claims
 * the request's slot, lets h->rlock go and runs the request, while the
 * other idle workers wait on the socket: no request waits for another's
 * token.  Frames that came together are read together; the worker that
 * leaves a whole frame behind kicks one more worker (h->kick_fd, an
 * exclusive eventfd) to come for it.  A set that asks for EPOLLIN only is
 * not woken when the daemon takes a reply off the socket (write space), as
 * a read() asleep on it would be.
 *
 * Which idle worker the kernel wakes: a socket's exclusive waiters are
 * woken in the order their epoll sets were added to it, skipping sets whose
 * worker is not waiting; so the lowest-numbered idle worker takes the next
 * request.  With one caller the same thread takes them all, with two the
 * same two.  That keeps what the idle stack it replaces kept: a request run
 * on a thread whose caches (and the module's and the allocator's per-thread
 * state) had gone cold cost SoftHSM2 10-20 % more CPU per signature.
 *
 * There are max + 1 workers for max slots: with every slot's request
 * running, one worker is still reading, and answers a request past the
 * limit with ERR_TOO_MANY at once.  Slots are claimed under h->rlock, in
 * the order the requests came, so an id sent again while in flight is seen
 * as one reader would see it.  What ends the session (end of file, a frame
 * that breaks the protocol, HELLO or CONFIGURE again, an id in flight) is
 * found under h->rlock too, so one worker says so; every worker stops, and
 * serve's thread, waiting in helper_workers_wait(), stops the rest.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "core/err.h"
#include "p11/helper_int.h"

/* What each worker's epoll set holds: the data of its events. */
enum { EV_SOCKET, EV_KICK, EV_STOP };

/* What a worker found under h->rlock. */
enum take {
	TAKE_JOB,		/* a request, in its slot: run it */
	TAKE_FULL,		/* a request, every slot taken: refuse it */
	TAKE_NOTHING,		/* no whole frame yet: wait */
	TAKE_STOP,		/* the session is over */
};

static int
stopping(struct helper *h)
{
	int stop;

	pthread_mutex_lock(&h->lock);
	stop = h->stop;
	pthread_mutex_unlock(&h->lock);
	return stop;
}

/*
 * Stop every worker: those waiting wake (h->stop_fd stays readable: it is
 * never read), those running a job stop after it.  The first call says why
 * the session ended (h->end): 0 when serve stops it, ERR_PROTO_CLOSED at end
 * of file, else what the daemon did wrong, which it has been told.
 */
void
helper_workers_stop(struct helper *h, int why)
{
	pthread_mutex_lock(&h->lock);
	if (!h->stop) {
		h->stop = 1;
		h->end = why;
	}
	pthread_mutex_unlock(&h->lock);
	if (h->stop_fd >= 0)
		(void)eventfd_write(h->stop_fd, 1);	/* fails only past 2^64 - 2 */
}

/*
 * A slot for the request *untrusted_reqp (h->rlock held: slots are claimed in
 * the order the requests came).  0 and *jp with the request moved into it
 * (*untrusted_reqp NULL); 0 and *jp NULL when every slot is taken (the
 * request is left to the caller); ERR_PROTO_UNEXPECTED when its id is in
 * flight already.
 */
static int
job_claim(struct helper *h, struct proto_msg **untrusted_reqp, struct job **jp)
{
	uint32_t id = (*untrusted_reqp)->id;
	unsigned i, free_i = h->max;
	int r = 0;

	*jp = NULL;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->max; i++) {
		if (h->jobs[i].state != JOB_FREE && h->jobs[i].id == id) {
			r = ERR_PROTO_UNEXPECTED;
			goto out;
		}
		if (h->jobs[i].state == JOB_FREE && free_i == h->max)
			free_i = i;
	}
	if (free_i < h->max) {
		h->jobs[free_i].state = JOB_RUNNING;
		h->jobs[free_i].id = id;
		h->jobs[free_i].untrusted_req = *untrusted_reqp;
		*untrusted_reqp = NULL;
		*jp = &h->jobs[free_i];
	}
 out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

/*
 * The next request (h->rlock held): a whole frame already read, else, when
 * the socket said it was readable, one read() (fd is non-blocking) and the
 * frame it completes.  A request is claimed a slot here (TAKE_JOB, *jp), or
 * handed back when none is free (TAKE_FULL, *untrusted_reqp: the caller
 * frees it).  What ends the session ends it here, under the lock, so one
 * worker says so: end of file, a frame that breaks the protocol, HELLO or
 * CONFIGURE again, an id in flight.  *morep (TAKE_JOB only): another whole
 * frame (or an error, or the end of file) waits in h->rd for another worker.
 * A worker that refuses a request comes back for the next itself.
 */
static enum take
take_request(struct helper *h, int readable, struct job **jp,
    struct proto_msg **untrusted_reqp, int *morep)
{
	struct proto_msg *untrusted_msg = NULL;
	enum take t = TAKE_STOP;
	uint32_t id;
	int r;

	*jp = NULL;
	*untrusted_reqp = NULL;
	*morep = 0;
	if (stopping(h))
		goto out;
	r = proto_reader_next(h->rd, &untrusted_msg);
	if (r == 0 && untrusted_msg == NULL && readable) {
		r = proto_reader_read(h->rd, h->fd);
		/* At end of file, proto_reader_next says what is left. */
		if (r == 0 || r == ERR_PROTO_CLOSED)
			r = proto_reader_next(h->rd, &untrusted_msg);
	}
	if (r == ERR_PROTO_CLOSED) {
		helper_workers_stop(h, r);
		goto out;
	}
	if (r != 0) {
		helper_log(h, "the daemon broke the token protocol: %s", err_str(r));
		helper_send_farewell(h, r, "%s", err_str(r));
		helper_workers_stop(h, r);
		goto out;
	}
	if (untrusted_msg == NULL) {
		t = TAKE_NOTHING;
		goto out;
	}
	if (untrusted_msg->type == PROTO_HELLO || untrusted_msg->type == PROTO_CONFIGURE) {
		helper_log(h, "the daemon sent %s again", proto_type_name(untrusted_msg->type));
		helper_send_farewell(h, ERR_PROTO_UNEXPECTED, "%s again", proto_type_name(untrusted_msg->type));
		helper_workers_stop(h, ERR_PROTO_UNEXPECTED);
		goto out;
	}
	id = untrusted_msg->id;
	if ((r = job_claim(h, &untrusted_msg, jp)) != 0) {
		helper_log(h, "the daemon sent request %lu while it was in flight", (unsigned long)id);
		helper_send_farewell(h, r, "request %lu is already in flight", (unsigned long)id);
		helper_workers_stop(h, r);
		goto out;
	}
	if (*jp != NULL) {
		t = TAKE_JOB;
		*morep = proto_reader_pending(h->rd);
	} else {
		t = TAKE_FULL;
		*untrusted_reqp = untrusted_msg;
		untrusted_msg = NULL;
	}
 out:
	proto_msg_free(untrusted_msg);
	return t;
}

/* Wait in w's epoll set (no lock held); 1 when the socket said it was readable. */
static int
worker_wait(struct worker *w)
{
	struct helper *h = w->h;
	struct epoll_event ev[3];
	eventfd_t kicks;
	int n, i, readable = 0;

	n = epoll_wait(w->epfd, ev, 3, -1);
	if (n < 0 && errno != EINTR) {
		/* Not reached (the set and its descriptors are the helper's own). */
		helper_log(h, "cannot wait for requests: %s", strerror(errno));
		pthread_mutex_lock(&h->rlock);
		if (!stopping(h))
			helper_send_farewell(h, ERR_IO, "the token helper cannot wait for requests");
		helper_workers_stop(h, ERR_IO);
		pthread_mutex_unlock(&h->rlock);
	}
	for (i = 0; i < n; i++) {
		if (ev[i].data.u32 == EV_SOCKET)
			readable = 1;
		else if (ev[i].data.u32 == EV_KICK)
			(void)eventfd_read(h->kick_fd, &kicks);	/* takes one; none: another did */
	}
	return readable;
}

/*
 * A worker: take a request, run it, answer it, until the session ends.  A
 * frame left behind gets one more worker before this one runs its own.
 */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct helper *h = w->h;
	struct proto_msg *untrusted_req;
	struct job *j;
	enum take t;
	int readable = 0, more;

	for (;;) {
		pthread_mutex_lock(&h->rlock);
		t = take_request(h, readable, &j, &untrusted_req, &more);
		pthread_mutex_unlock(&h->rlock);
		if (more)
			(void)eventfd_write(h->kick_fd, 1);
		readable = 0;
		if (t == TAKE_STOP)
			break;
		if (t == TAKE_JOB) {
			helper_job_run(h, j);
		} else if (t == TAKE_FULL) {
			helper_send_error(h, untrusted_req->id, ERR_TOO_MANY, "%u requests are in "
			    "flight already; %s refused", h->max, proto_type_name(untrusted_req->type));
			proto_msg_free(untrusted_req);
		} else {
			readable = worker_wait(w);
		}
	}
	return NULL;
}

static int
epoll_add(int epfd, int fd, uint32_t events, uint32_t data)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u32 = data;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * Make fd non-blocking (a worker woken for a frame another took must not
 * sleep in read() with h->rlock held), make the eventfds and each worker's
 * epoll set, in worker order (the kernel's wake order, see the top), and
 * start the workers.  0, or ERR_IO, ERR_NOMEM (some may have started).
 */
int
helper_workers_start(struct helper *h)
{
	struct worker *w;
	unsigned i, n = h->max + 1;
	int flags;

	if ((flags = fcntl(h->fd, F_GETFL)) < 0)
		return ERR_IO;
	if ((flags & O_NONBLOCK) == 0) {
		if (fcntl(h->fd, F_SETFL, flags | O_NONBLOCK) != 0)
			return ERR_IO;
		h->fd_flags = flags;
	}
	h->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
	h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->kick_fd < 0 || h->stop_fd < 0)
		return ERR_IO;
	for (i = 0; i < n; i++) {
		w = &h->workers[i];
		if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    epoll_add(w->epfd, h->fd, EPOLLIN | EPOLLEXCLUSIVE, EV_SOCKET) != 0 ||
		    epoll_add(w->epfd, h->kick_fd, EPOLLIN | EPOLLEXCLUSIVE, EV_KICK) != 0 ||
		    epoll_add(w->epfd, h->stop_fd, EPOLLIN, EV_STOP) != 0)
			return ERR_IO;
	}
	for (i = 0; i < n; i++) {
		if (helper_thread_start(&h->workers[i].thread, worker_main, &h->workers[i]) != 0)
			return ERR_NOMEM;
		h->nworkers++;
	}
	return 0;
}

/*
 * Wait until a worker ends the session (or, not reached, polling fails); then
 * what serve returns: 0 when the daemon closed between frames, the error of
 * a write that failed, or what the daemon did wrong.
 */
int
helper_workers_wait(struct helper *h)
{
	struct pollfd pfd;
	int r;

	pfd.fd = h->stop_fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	while (poll(&pfd, 1, -1) < 0) {
		if (errno != EINTR) {
			helper_log(h, "cannot wait for the end of the session: %s", strerror(errno));
			helper_workers_stop(h, ERR_IO);
			break;
		}
	}
	pthread_mutex_lock(&h->lock);
	r = h->end;
	pthread_mutex_unlock(&h->lock);
	if (r == ERR_PROTO_CLOSED) {
		pthread_mutex_lock(&h->wlock);
		r = h->dead ? h->write_err : 0;
		pthread_mutex_unlock(&h->wlock);
	}
	return r;
}
