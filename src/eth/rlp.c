#include <string.h>

#include "core/err.h"
#include "core/reader.h"
#include "eth/rlp.h"

/* Header for a payload of n bytes with short-form base 0x80 (string) or 0xc0 (list). */
static size_t
rlp_header(uint8_t base, size_t n, uint8_t hdr[9])
{
	uint8_t len_be[8];
	size_t k = 0, i;

	if (n <= 55) {
		hdr[0] = (uint8_t)(base + n);
		return 1;
	}
	while (n > 0) {
		len_be[7 - k++] = (uint8_t)n;
		n >>= 8;
	}
	hdr[0] = (uint8_t)(base + 55 + k);
	for (i = 0; i < k; i++)
		hdr[1 + i] = len_be[8 - k + i];
	return 1 + k;
}

int
eth_rlp_put_bytes(struct eth_buf *b, const uint8_t *p, size_t n)
{
	uint8_t hdr[9];
	size_t hlen;
	int r;

	if (n == 1 && p[0] < 0x80)
		return eth_buf_put_u8(b, p[0]);
	hlen = rlp_header(0x80, n, hdr);
	if ((r = eth_buf_reserve(b, hlen + n)) != 0)
		return r;
	eth_buf_put(b, hdr, hlen);
	return eth_buf_put(b, p, n);
}

int
eth_rlp_put_uint(struct eth_buf *b, const struct eth_u256 *v)
{
	uint8_t be[32];
	size_t n = eth_u256_to_be_min(v, be);

	return eth_rlp_put_bytes(b, be, n);
}

int
eth_rlp_put_u64(struct eth_buf *b, uint64_t v)
{
	struct eth_u256 u;

	eth_u256_from_u64(&u, v);
	return eth_rlp_put_uint(b, &u);
}

int
eth_rlp_put_raw(struct eth_buf *b, const uint8_t *p, size_t n)
{
	return eth_buf_put(b, p, n);
}

size_t
eth_rlp_list_begin(const struct eth_buf *b)
{
	return b->len;
}

int
eth_rlp_list_end(struct eth_buf *b, size_t at)
{
	uint8_t hdr[9];
	size_t hlen;

	if (at > b->len)
		return ERR_INVALID_ARGUMENT;
	hlen = rlp_header(0xc0, b->len - at, hdr);
	return eth_buf_insert(b, at, hdr, hlen);
}

int
eth_rlp_read(struct reader *r, struct eth_rlp_item *item)
{
	struct reader at = *r;	/* r moves only when the whole item is there */
	const uint8_t *start = r->p, *lenbytes, *payload;
	size_t plen = 0, k, i;
	uint8_t b0;
	int e;

	memset(item, 0, sizeof(*item));
	if ((e = reader_u8(&at, &b0)) != 0)
		return e;
	if (b0 < 0x80) {
		/* the byte is its own payload */
		payload = start;
		plen = 1;
	} else if (b0 <= 0xb7 || (b0 >= 0xc0 && b0 <= 0xf7)) {
		plen = b0 - (b0 >= 0xc0 ? 0xc0 : 0x80);
		item->is_list = b0 >= 0xc0;
		if ((e = reader_take(&at, plen, &payload)) != 0)
			return e;
		/* A single byte below 0x80 must be encoded as itself. */
		if (!item->is_list && plen == 1 && payload[0] < 0x80)
			return ERR_RLP_NONCANONICAL;
	} else {
		k = (size_t)(b0 - (b0 >= 0xf8 ? 0xf7 : 0xb7));
		item->is_list = b0 >= 0xf8;
		if ((e = reader_take(&at, k, &lenbytes)) != 0)
			return e;
		if (lenbytes[0] == 0)
			return ERR_RLP_NONCANONICAL;	/* leading zero in length */
		if (k > sizeof(size_t))
			return ERR_RLP_TRUNCATED;	/* longer than any input */
		for (i = 0; i < k; i++)
			plen = (plen << 8) | lenbytes[i];
		if (plen <= 55)
			return ERR_RLP_NONCANONICAL;	/* long form for a short payload */
		if ((e = reader_take(&at, plen, &payload)) != 0)
			return e;
	}
	item->payload = payload;
	item->len = plen;
	item->raw = start;
	item->raw_len = reader_left(r) - reader_left(&at);
	*r = at;
	return 0;
}

int
eth_rlp_next(const uint8_t **inp, size_t *lenp, struct eth_rlp_item *item)
{
	struct reader r;
	int e;

	reader_init(&r, *inp, *lenp, ERR_RLP_TRUNCATED);
	if ((e = eth_rlp_read(&r, item)) != 0)
		return e;
	*inp = r.p;
	*lenp = reader_left(&r);
	return 0;
}

int
eth_rlp_decode_one(const uint8_t *in, size_t len, struct eth_rlp_item *item)
{
	int r;

	if ((r = eth_rlp_next(&in, &len, item)) != 0)
		return r;
	return len == 0 ? 0 : ERR_RLP_TRAILING;
}

int
eth_rlp_item_uint(const struct eth_rlp_item *item, struct eth_u256 *out)
{
	if (item->is_list)
		return ERR_RLP_EXPECTED_STRING;
	if (item->len > 32)
		return ERR_RLP_SIZE;
	if (item->len > 0 && item->payload[0] == 0)
		return ERR_RLP_NONCANONICAL;
	return eth_u256_from_be(item->payload, item->len, out);
}

int
eth_rlp_item_u64(const struct eth_rlp_item *item, uint64_t *out)
{
	struct eth_u256 v;
	int r;

	if ((r = eth_rlp_item_uint(item, &v)) != 0)
		return r;
	if (eth_u256_to_u64(&v, out) != 0)
		return ERR_RLP_SIZE;
	return 0;
}

int
eth_rlp_item_fixed(const struct eth_rlp_item *item, uint8_t *out, size_t n)
{
	if (item->is_list)
		return ERR_RLP_EXPECTED_STRING;
	if (item->len != n)
		return ERR_RLP_SIZE;
	memcpy(out, item->payload, n);
	return 0;
}
