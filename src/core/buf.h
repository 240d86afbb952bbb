/*
 * buf.h - a growable byte buffer for encoders.
 *
 * Zero-initialise a struct eth_buf (or call eth_buf_init) before use.  Writes
 * that fail for lack of memory, or that would pass the buffer's cap, return
 * ERR_NOMEM / ERR_TOO_LONG and leave the contents as they were.  The buffer
 * owns its memory; eth_buf_free() wipes and frees it and accepts a buffer that
 * was never written.  eth_buf_steal() hands the bytes to the caller, who
 * frees them with free().
 */
#ifndef ETH_BUF_H
#define ETH_BUF_H

#include <stddef.h>
#include <stdint.h>

struct eth_buf {
	uint8_t *p;
	size_t len;
	size_t cap;		/* allocated */
	size_t max;		/* 0: no limit beyond SIZE_MAX/2 */
};

void eth_buf_init(struct eth_buf *b, size_t max);
void eth_buf_free(struct eth_buf *b);
void eth_buf_reset(struct eth_buf *b);
int eth_buf_reserve(struct eth_buf *b, size_t extra);
int eth_buf_put(struct eth_buf *b, const void *p, size_t n);
int eth_buf_put_u8(struct eth_buf *b, uint8_t v);
/* Insert n bytes at offset off (off <= len), moving what follows. */
int eth_buf_insert(struct eth_buf *b, size_t off, const void *p, size_t n);
/* Hand over the bytes (never NULL on success: an empty buffer gives a
 * 1-byte allocation); *lenp gets the length.  The buffer is left empty. */
int eth_buf_steal(struct eth_buf *b, uint8_t **outp, size_t *lenp);

#endif /* ETH_BUF_H */
