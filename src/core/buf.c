#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

void
eth_buf_init(struct eth_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
eth_buf_free(struct eth_buf *b)
{
	if (b == NULL)
		return;
	if (b->p != NULL) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

void
eth_buf_reset(struct eth_buf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->len);
	b->len = 0;
}

int
eth_buf_reserve(struct eth_buf *b, size_t extra)
{
	size_t limit = b->max != 0 ? b->max : SIZE_MAX / 2;
	size_t need, ncap;
	uint8_t *np;

	if (extra > limit || b->len > limit - extra)
		return ERR_TOO_LONG;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	ncap = b->cap < 64 ? 64 : b->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 4 ? need : ncap * 2;
	/* Not realloc(): the old block may hold key material or signatures. */
	if ((np = malloc(ncap)) == NULL)
		return ERR_NOMEM;
	if (b->p != NULL) {
		memcpy(np, b->p, b->len);
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	return 0;
}

int
eth_buf_put(struct eth_buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	if ((r = eth_buf_reserve(b, n)) != 0)
		return r;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
eth_buf_put_u8(struct eth_buf *b, uint8_t v)
{
	return eth_buf_put(b, &v, 1);
}

int
eth_buf_insert(struct eth_buf *b, size_t off, const void *p, size_t n)
{
	int r;

	if (off > b->len)
		return ERR_INVALID_ARGUMENT;
	if (n == 0)
		return 0;
	if ((r = eth_buf_reserve(b, n)) != 0)
		return r;
	memmove(b->p + off + n, b->p + off, b->len - off);
	memcpy(b->p + off, p, n);
	b->len += n;
	return 0;
}

int
eth_buf_steal(struct eth_buf *b, uint8_t **outp, size_t *lenp)
{
	int r;

	*outp = NULL;
	*lenp = 0;
	if (b->p == NULL && (r = eth_buf_reserve(b, 1)) != 0)
		return r;
	*outp = b->p;
	*lenp = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return 0;
}
