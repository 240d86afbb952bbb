#include <string.h>

#include "core/err.h"
#include "eth/hex.h"
#include "eth/u256.h"

void
eth_u256_from_u64(struct eth_u256 *out, uint64_t v)
{
	memset(out, 0, sizeof(*out));
	out->w[0] = v;
}

int
eth_u256_to_u64(const struct eth_u256 *a, uint64_t *outp)
{
	if (a->w[1] != 0 || a->w[2] != 0 || a->w[3] != 0)
		return ERR_NUMBER_RANGE;
	*outp = a->w[0];
	return 0;
}

/* Hex digits (already known to be digits) into a value; at most 64 significant. */
static int
u256_from_hex_digits(const char *s, size_t n, struct eth_u256 *out)
{
	struct eth_u256 v;
	size_t i;
	int d;

	while (n > 0 && *s == '0') {
		s++;
		n--;
	}
	if (n > 64)
		return ERR_UINT256_OVERFLOW;
	memset(&v, 0, sizeof(v));
	for (i = 0; i < n; i++) {
		if ((d = eth_hex_digit((unsigned char)s[i])) < 0)
			return ERR_HEX_INVALID_CHAR;
		/* Digit k from the right lands in limb k/16. */
		size_t k = n - 1 - i;
		v.w[k / 16] |= (uint64_t)d << (4 * (k % 16));
	}
	*out = v;
	return 0;
}

static int
u256_from_decimal_digits(const char *s, size_t n, struct eth_u256 *out)
{
	struct eth_u256 v, ten, digit;
	size_t i;

	memset(&v, 0, sizeof(v));
	eth_u256_from_u64(&ten, 10);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_DECIMAL_INVALID;
		eth_u256_from_u64(&digit, (uint64_t)(s[i] - '0'));
		if (eth_u256_mul(&v, &v, &ten) || eth_u256_add(&v, &v, &digit))
			return ERR_UINT256_OVERFLOW;
	}
	*out = v;
	return 0;
}

int
eth_u256_parse_quantity(const char *untrusted, size_t len, struct eth_u256 *out)
{
	if (len < 2 || untrusted[0] != '0' ||
	    (untrusted[1] != 'x' && untrusted[1] != 'X'))
		return ERR_HEX_NO_PREFIX;
	if (len == 2)
		return ERR_QUANTITY_EMPTY;
	if (untrusted[2] == '0' && len > 3)
		return ERR_QUANTITY_LEADING_ZERO;
	if (len - 2 > 64) {
		/* Tell a bad digit from a long number: both are refused. */
		size_t i;
		for (i = 2; i < len; i++)
			if (eth_hex_digit((unsigned char)untrusted[i]) < 0)
				return ERR_HEX_INVALID_CHAR;
		return ERR_UINT256_OVERFLOW;
	}
	return u256_from_hex_digits(untrusted + 2, len - 2, out);
}

int
eth_u256_parse_decimal(const char *untrusted, size_t len, struct eth_u256 *out)
{
	size_t i;

	if (len == 0)
		return ERR_QUANTITY_EMPTY;
	for (i = 0; i < len; i++)
		if (untrusted[i] < '0' || untrusted[i] > '9')
			return ERR_DECIMAL_INVALID;
	if (untrusted[0] == '0' && len > 1)
		return ERR_QUANTITY_LEADING_ZERO;
	if (len > 78)
		return ERR_UINT256_OVERFLOW;
	return u256_from_decimal_digits(untrusted, len, out);
}

int
eth_u256_parse_big(const char *untrusted, size_t len, struct eth_u256 *out)
{
	size_t i;

	if (len >= 2 && untrusted[0] == '0' &&
	    (untrusted[1] == 'x' || untrusted[1] == 'X')) {
		/* Check every digit first so a long bad string is not "overflow". */
		for (i = 2; i < len; i++)
			if (eth_hex_digit((unsigned char)untrusted[i]) < 0)
				return ERR_HEX_INVALID_CHAR;
		return u256_from_hex_digits(untrusted + 2, len - 2, out);
	}
	for (i = 0; i < len; i++)
		if (untrusted[i] < '0' || untrusted[i] > '9')
			return ERR_DECIMAL_INVALID;
	while (len > 0 && *untrusted == '0') {
		untrusted++;
		len--;
	}
	if (len > 78)
		return ERR_UINT256_OVERFLOW;
	return u256_from_decimal_digits(untrusted, len, out);
}

int
eth_u256_from_be(const uint8_t *p, size_t n, struct eth_u256 *out)
{
	struct eth_u256 v;
	size_t i;

	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n > 32)
		return ERR_UINT256_OVERFLOW;
	memset(&v, 0, sizeof(v));
	for (i = 0; i < n; i++) {
		size_t k = n - 1 - i;	/* byte k from the right */
		v.w[k / 8] |= (uint64_t)p[i] << (8 * (k % 8));
	}
	*out = v;
	return 0;
}

void
eth_u256_to_be(const struct eth_u256 *a, uint8_t out[32])
{
	size_t k;

	for (k = 0; k < 32; k++)
		out[31 - k] = (uint8_t)(a->w[k / 8] >> (8 * (k % 8)));
}

size_t
eth_u256_to_be_min(const struct eth_u256 *a, uint8_t out[32])
{
	uint8_t be[32];
	size_t skip = 0;

	eth_u256_to_be(a, be);
	while (skip < 32 && be[skip] == 0)
		skip++;
	memcpy(out, be + skip, 32 - skip);
	return 32 - skip;
}

void
eth_u256_divmod_u64(struct eth_u256 *q, uint64_t *rem, const struct eth_u256 *a,
    uint64_t d)
{
	struct eth_u256 res;
#ifdef __SIZEOF_INT128__
	unsigned __int128 r = 0;
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned __int128 cur = (r << 64) | a->w[i];
		res.w[i] = (uint64_t)(cur / d);
		r = cur % d;
	}
#else
	/* No 128-bit type (32-bit targets: armhf): long division a bit at a
	 * time; r < d throughout, and a bit shifted out of r means r >= d. */
	uint64_t r = 0, top;
	int i;

	memset(&res, 0, sizeof(res));
	for (i = 255; i >= 0; i--) {
		top = r >> 63;
		r = (r << 1) | ((a->w[i / 64] >> (i % 64)) & 1);
		if (top || r >= d) {
			r -= d;
			res.w[i / 64] |= (uint64_t)1 << (i % 64);
		}
	}
#endif
	if (q != NULL)
		*q = res;
	if (rem != NULL)
		*rem = (uint64_t)r;
}

void
eth_u256_to_decimal(const struct eth_u256 *a, char out[ETH_U256_DECIMAL_MAX])
{
	char tmp[ETH_U256_DECIMAL_MAX];
	struct eth_u256 v = *a;
	size_t n = 0, i;
	uint64_t rem;

	do {
		eth_u256_divmod_u64(&v, &rem, &v, 10);
		tmp[n++] = (char)('0' + rem);
	} while (!eth_u256_is_zero(&v));
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

void
eth_u256_to_quantity(const struct eth_u256 *a, char out[ETH_U256_QUANTITY_MAX])
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 2;
	int k, started = 0;

	out[0] = '0';
	out[1] = 'x';
	for (k = 63; k >= 0; k--) {
		unsigned d = (unsigned)(a->w[k / 16] >> (4 * (k % 16))) & 0xf;
		if (d == 0 && !started && k > 0)
			continue;
		started = 1;
		out[n++] = digits[d];
	}
	out[n] = '\0';
}

int
eth_u256_cmp(const struct eth_u256 *a, const struct eth_u256 *b)
{
	int i;

	for (i = 3; i >= 0; i--) {
		if (a->w[i] < b->w[i])
			return -1;
		if (a->w[i] > b->w[i])
			return 1;
	}
	return 0;
}

int
eth_u256_is_zero(const struct eth_u256 *a)
{
	return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) == 0;
}

unsigned
eth_u256_bits(const struct eth_u256 *a)
{
	int i;

	for (i = 3; i >= 0; i--)
		if (a->w[i] != 0)
			return (unsigned)(64 * i + 64 - __builtin_clzll(a->w[i]));
	return 0;
}

int
eth_u256_add(struct eth_u256 *r, const struct eth_u256 *a, const struct eth_u256 *b)
{
	uint64_t carry = 0, t;
	struct eth_u256 res;
	int i;

	for (i = 0; i < 4; i++) {
		t = a->w[i] + carry;
		carry = t < carry;
		res.w[i] = t + b->w[i];
		carry += res.w[i] < t;
	}
	*r = res;
	return carry != 0;
}

int
eth_u256_sub(struct eth_u256 *r, const struct eth_u256 *a, const struct eth_u256 *b)
{
	uint64_t borrow = 0;
	struct eth_u256 res;
	int i;

	for (i = 0; i < 4; i++) {
		uint64_t ai = a->w[i], bi = b->w[i];
		res.w[i] = ai - bi - borrow;
		borrow = (ai < bi) || (ai == bi && borrow);
	}
	*r = res;
	return borrow != 0;
}

/* a * b: the low 64 bits, the high ones in *hi. */
static uint64_t
u64_mul(uint64_t a, uint64_t b, uint64_t *hi)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 t = (unsigned __int128)a * b;

	*hi = (uint64_t)(t >> 64);
	return (uint64_t)t;
#else
	uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;

	*hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	return (mid << 32) | (uint32_t)ll;
#endif
}

int
eth_u256_mul(struct eth_u256 *r, const struct eth_u256 *a, const struct eth_u256 *b)
{
	uint64_t prod[8] = { 0 };
	struct eth_u256 res;
	int i, j, overflow = 0;

	for (i = 0; i < 4; i++) {
		uint64_t carry = 0, hi, lo;
		for (j = 0; j < 4; j++) {
			lo = u64_mul(a->w[i], b->w[j], &hi);
			/* hi:lo + prod + carry cannot overflow 128 bits */
			lo += prod[i + j];
			hi += lo < prod[i + j];
			lo += carry;
			hi += lo < carry;
			prod[i + j] = lo;
			carry = hi;
		}
		prod[i + 4] = carry;
	}
	for (i = 4; i < 8; i++)
		if (prod[i] != 0)
			overflow = 1;
	memcpy(res.w, prod, sizeof(res.w));
	*r = res;
	return overflow;
}

void
eth_u256_neg(struct eth_u256 *r, const struct eth_u256 *a)
{
	struct eth_u256 zero;

	memset(&zero, 0, sizeof(zero));
	eth_u256_sub(r, &zero, a);
}
