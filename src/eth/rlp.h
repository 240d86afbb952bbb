/*
 * rlp.h - Recursive Length Prefix encoding (Ethereum yellow paper, app. B).
 *
 * Encoding appends to a struct eth_buf.  A list is written as
 *   size_t at = eth_rlp_list_begin(b); ...items...; eth_rlp_list_end(b, at);
 * which inserts the list header in front of the items once their length is
 * known.
 *
 * Decoding is canonical only: a single byte below 0x80 wrapped as a string, a
 * long form used for a short payload, a length with leading zero bytes, or an
 * integer with leading zero bytes are refused with ERR_RLP_NONCANONICAL.
 * Decoded items point into the caller's input (borrowed; no allocation).
 */
#ifndef ETH_RLP_H
#define ETH_RLP_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/reader.h"
#include "eth/u256.h"

int eth_rlp_put_bytes(struct eth_buf *b, const uint8_t *p, size_t n);
int eth_rlp_put_uint(struct eth_buf *b, const struct eth_u256 *v);
int eth_rlp_put_u64(struct eth_buf *b, uint64_t v);
/* Appends an already encoded item (or items) as they are. */
int eth_rlp_put_raw(struct eth_buf *b, const uint8_t *p, size_t n);
size_t eth_rlp_list_begin(const struct eth_buf *b);
int eth_rlp_list_end(struct eth_buf *b, size_t at);

struct eth_rlp_item {
	int is_list;
	const uint8_t *payload;	/* borrowed from the input */
	size_t len;		/* payload length */
	const uint8_t *raw;	/* the whole item, header included */
	size_t raw_len;
};

/*
 * Take the next item from r, a reader over RLP bytes made with short_err
 * ERR_RLP_TRUNCATED (core/reader.h), and move r past it; on failure r does
 * not move.  Errors: ERR_RLP_TRUNCATED, ERR_RLP_NONCANONICAL.
 */
int eth_rlp_read(struct reader *r, struct eth_rlp_item *item);

/* eth_rlp_read() over the input (*inp, *lenp), advancing them past the item. */
int eth_rlp_next(const uint8_t **inp, size_t *lenp, struct eth_rlp_item *item);

/* Decode exactly one item that spans all of in[0..len-1] (ERR_RLP_TRAILING otherwise). */
int eth_rlp_decode_one(const uint8_t *in, size_t len, struct eth_rlp_item *item);

/* An integer item: a string of at most 32 bytes with no leading zero byte. */
int eth_rlp_item_uint(const struct eth_rlp_item *item, struct eth_u256 *out);
int eth_rlp_item_u64(const struct eth_rlp_item *item, uint64_t *out);
/* A string item of exactly n bytes (ERR_RLP_SIZE otherwise). */
int eth_rlp_item_fixed(const struct eth_rlp_item *item, uint8_t *out, size_t n);

#endif /* ETH_RLP_H */
