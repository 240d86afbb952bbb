/*
 * proto_io.c - the token protocol on a stream: the frame reader over a
 * socket and blocking send and receive with a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/reader.h"
#include "p11/proto_int.h"

/* ---- stream reader ---- */

struct proto_reader {
	enum proto_side from;
	int err;		/* sticky */
	int eof;
	struct eth_buf buf;
};

int
proto_reader_new(enum proto_side from, struct proto_reader **outp)
{
	struct proto_reader *r;

	*outp = NULL;
	if (from != PROTO_FROM_DAEMON && from != PROTO_FROM_HELPER)
		return ERR_INVALID_ARGUMENT;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return ERR_NOMEM;
	r->from = from;
	eth_buf_init(&r->buf, READER_MAX);
	*outp = r;
	return 0;
}

void
proto_reader_free(struct proto_reader *r)
{
	if (r == NULL)
		return;
	eth_buf_free(&r->buf);	/* wipes */
	free(r);
}

/* Refuse a bad length prefix as soon as it is whole. */
static int
reader_check_head(struct proto_reader *r)
{
	size_t n;

	if (r->buf.len >= PROTO_PREFIX_LEN && r->err == 0)
		r->err = proto_frame_body_len(r->buf.p, &n);
	return r->err;
}

int
proto_reader_feed(struct proto_reader *r, const uint8_t *untrusted, size_t len)
{
	int e;

	if (r->err != 0)
		return r->err;
	if (r->eof)
		return r->err = ERR_INVALID_ARGUMENT;
	if ((e = eth_buf_put(&r->buf, untrusted, len)) != 0)
		return r->err = e;
	return reader_check_head(r);
}

int
proto_reader_read(struct proto_reader *r, int fd)
{
	size_t want = READ_CHUNK;
	ssize_t k;
	int e;

	if (r->err != 0)
		return r->err;
	if (r->eof)
		return r->buf.len == 0 ? ERR_PROTO_CLOSED : ERR_PROTO_TRUNCATED;
	if (r->buf.len + want > READER_MAX)
		want = READER_MAX - r->buf.len;
	if (want == 0)
		return r->err = ERR_TOO_LONG;
	if ((e = eth_buf_reserve(&r->buf, want)) != 0)
		return r->err = e;
	k = read(fd, r->buf.p + r->buf.len, want);
	if (k < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return r->err = (errno == ECONNRESET ? ERR_PROTO_CLOSED : ERR_IO);
	}
	if (k == 0) {
		r->eof = 1;
		return ERR_PROTO_CLOSED;
	}
	r->buf.len += (size_t)k;
	return reader_check_head(r);
}

int
proto_reader_next(struct proto_reader *r, struct proto_msg **outp)
{
	size_t n, whole;
	int e;

	*outp = NULL;
	if (r->err != 0)
		return r->err;
	if (r->buf.len < PROTO_PREFIX_LEN ||
	    r->buf.len - PROTO_PREFIX_LEN < reader_get_be32(r->buf.p)) {
		if ((e = reader_check_head(r)) != 0)
			return e;
		if (r->eof)
			return r->buf.len == 0 ? ERR_PROTO_CLOSED : ERR_PROTO_TRUNCATED;
		return 0;
	}
	if ((e = proto_frame_body_len(r->buf.p, &n)) != 0)
		return r->err = e;
	whole = PROTO_PREFIX_LEN + n;
	e = proto_decode(r->buf.p, whole, r->from, outp);
	/* Take the frame out and wipe the bytes it leaves behind. */
	memmove(r->buf.p, r->buf.p + whole, r->buf.len - whole);
	explicit_bzero(r->buf.p + r->buf.len - whole, whole);
	r->buf.len -= whole;
	if (e != 0)
		return r->err = e;
	/* A bad prefix behind this frame is reported by the next call. */
	(void)reader_check_head(r);
	return 0;
}

int
proto_reader_pending(const struct proto_reader *r)
{
	if (r->err != 0 || r->eof)
		return 1;
	return r->buf.len >= PROTO_PREFIX_LEN &&
	    r->buf.len - PROTO_PREFIX_LEN >= reader_get_be32(r->buf.p);
}

/* ---- blocking I/O ---- */

/* Wait until fd is ready for events, within the deadline. */
static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd;
	int ms, n;

	for (;;) {
		if ((ms = clock_ms_left(deadline)) == 0)
			return ERR_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;	/* ready, or HUP/ERR: the read or write says which */
		if (n < 0 && errno != EINTR)
			return ERR_IO;
	}
}

static int
write_all(int fd, const uint8_t *p, size_t n, const struct timespec *deadline)
{
	int use_send = 1, wait = 0, r;
	ssize_t k;

	while (n > 0) {
		/*
		 * A socket is written first and polled only when it is full: a
		 * frame fits the socket's buffer nearly always, and a poll()
		 * before each was one more system call per message on both sides
		 * of the signing path (issue 20).  MSG_DONTWAIT: a blocking socket
		 * must not outlive the deadline.  write() on anything else may
		 * block, so it waits first.
		 */
		if (clock_ms_left(deadline) == 0)
			return ERR_TIMEOUT;
		if ((wait || !use_send) && (r = wait_fd(fd, POLLOUT, deadline)) != 0)
			return r;
		wait = 0;
		if (use_send) {
			k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k < 0 && errno == ENOTSOCK) {
				use_send = 0;
				continue;
			}
		} else
			k = write(fd, p, n);
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				wait = 1;
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? ERR_PROTO_CLOSED : ERR_IO;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read exactly n bytes; *gotp says how many came before an error. */
static int
read_all(int fd, uint8_t *p, size_t n, const struct timespec *deadline, size_t *gotp)
{
	ssize_t k;
	int r;

	*gotp = 0;
	while (*gotp < n) {
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		k = read(fd, p + *gotp, n - *gotp);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return errno == ECONNRESET ? ERR_PROTO_CLOSED : ERR_IO;
		}
		if (k == 0)
			return ERR_PROTO_CLOSED;
		*gotp += (size_t)k;
	}
	return 0;
}

int
proto_send(int fd, const struct proto_msg *m, const struct timespec *deadline)
{
	struct eth_buf b;
	int r;

	eth_buf_init(&b, PROTO_PREFIX_LEN + LIMIT_PROTO_FRAME);
	if ((r = proto_encode(&b, m)) != 0)
		goto out;
	r = write_all(fd, b.p, b.len, deadline);
 out:
	eth_buf_free(&b);	/* wipes: a LOGIN frame holds a PIN */
	return r;
}

int
proto_recv(int fd, enum proto_side from, const struct timespec *deadline,
    struct proto_msg **outp)
{
	uint8_t prefix[PROTO_PREFIX_LEN], *frame = NULL;
	size_t n = 0, got;
	int r;

	*outp = NULL;
	if ((r = read_all(fd, prefix, sizeof(prefix), deadline, &got)) != 0) {
		if (r == ERR_PROTO_CLOSED && got > 0)
			r = ERR_PROTO_TRUNCATED;
		goto out;
	}
	if ((r = proto_frame_body_len(prefix, &n)) != 0)
		goto out;
	if ((frame = malloc(PROTO_PREFIX_LEN + n)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	memcpy(frame, prefix, PROTO_PREFIX_LEN);
	if ((r = read_all(fd, frame + PROTO_PREFIX_LEN, n, deadline, &got)) != 0) {
		if (r == ERR_PROTO_CLOSED)
			r = ERR_PROTO_TRUNCATED;
		goto out;
	}
	r = proto_decode(frame, PROTO_PREFIX_LEN + n, from, outp);
 out:
	if (frame != NULL) {
		explicit_bzero(frame, PROTO_PREFIX_LEN + n);	/* may hold a PIN */
		free(frame);
	}
	return r;
}
