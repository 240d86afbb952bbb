#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/reader.h"

void
reader_init(struct reader *r, const void *p, size_t len, int short_err)
{
	r->p = p;
	r->left = p != NULL ? len : 0;
	r->short_err = short_err;
}

size_t
reader_left(const struct reader *r)
{
	return r->left;
}

int
reader_take(struct reader *r, size_t n, const uint8_t **pp)
{
	*pp = NULL;
	if (r->left < n)
		return r->short_err < 0 ? r->short_err : ERR_INTERNAL;
	*pp = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

int
reader_sub(struct reader *r, size_t n, struct reader *sub)
{
	const uint8_t *p;
	int e;

	if ((e = reader_take(r, n, &p)) != 0)
		return e;
	reader_init(sub, p, n, r->short_err);
	return 0;
}


int
reader_u8(struct reader *r, uint8_t *v)
{
	const uint8_t *p;
	int e;

	if ((e = reader_take(r, 1, &p)) != 0)
		return e;
	*v = p[0];
	return 0;
}




int
reader_end(const struct reader *r, int trailing_err)
{
	return r->left == 0 ? 0 : trailing_err;
}

uint32_t
reader_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void
reader_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
