/*
 * reader.h - a bounded reader over bytes that came from outside, in the
 * manner of openssh's sshbuf: every read says how much it wants, gets it or
 * an error, and never reads past the end; nothing is copied unless asked.
 *
 * A reader is made over a pointer and a length it does not own, with the
 * error a short read returns (ERR_PROTO_TRUNCATED for the token protocol,
 * ERR_RLP_TRUNCATED for RLP), so that callers keep their own codes.  A
 * failed read consumes nothing and leaves its outputs untouched (a borrowed
 * pointer NULL).
 */
#ifndef CORE_READER_H
#define CORE_READER_H

#include <stddef.h>
#include <stdint.h>

struct reader {
	const uint8_t *p;	/* the next unread byte */
	size_t left;		/* bytes from p to the end */
	int short_err;		/* what a read past the end returns */
};

void reader_init(struct reader *r, const void *p, size_t len, int short_err);

/* Bytes not yet read. */
size_t reader_left(const struct reader *r);

/* Borrow the next n bytes (*pp points into the input). */
int reader_take(struct reader *r, size_t n, const uint8_t **pp);

/* The next n bytes as a reader of their own (same short_err). */
int reader_sub(struct reader *r, size_t n, struct reader *sub);

/* The next byte. */
int reader_u8(struct reader *r, uint8_t *v);

/* 0 when everything was read, else trailing_err. */
int reader_end(const struct reader *r, int trailing_err);

/* Big-endian helpers for fixed places (frame headers). */
uint32_t reader_get_be32(const uint8_t *p);
void reader_put_be32(uint8_t *p, uint32_t v);

#endif /* CORE_READER_H */
