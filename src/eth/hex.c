#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/err.h"
#include "eth/hex.h"

int
eth_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Check the grammar and return the number of decoded bytes in *nbytesp. */
static int
hex_check(const char *untrusted, size_t len, size_t *nbytesp)
{
	size_t i;

	if (len < 2 || untrusted[0] != '0' ||
	    (untrusted[1] != 'x' && untrusted[1] != 'X'))
		return ERR_HEX_NO_PREFIX;
	if ((len - 2) % 2 != 0)
		return ERR_HEX_ODD_LENGTH;
	for (i = 2; i < len; i++)
		if (eth_hex_digit((unsigned char)untrusted[i]) < 0)
			return ERR_HEX_INVALID_CHAR;
	*nbytesp = (len - 2) / 2;
	return 0;
}

static void
hex_decode_checked(const char *digits, size_t nbytes, uint8_t *out)
{
	size_t i;

	for (i = 0; i < nbytes; i++)
		out[i] = (uint8_t)(eth_hex_digit((unsigned char)digits[2 * i]) << 4 |
		    eth_hex_digit((unsigned char)digits[2 * i + 1]));
}

int
eth_hex_decode(const char *untrusted, size_t len, size_t max_bytes,
    uint8_t **outp, size_t *outlenp)
{
	uint8_t *out = NULL;
	size_t nbytes;
	int r;

	*outp = NULL;
	*outlenp = 0;
	/* Bound the work before looking at every character. */
	if (len > 2 + 2 * max_bytes + 1)
		return ERR_TOO_LONG;
	if ((r = hex_check(untrusted, len, &nbytes)) != 0)
		return r;
	if (nbytes > max_bytes)
		return ERR_TOO_LONG;
	if ((out = malloc(nbytes + 1)) == NULL)
		return ERR_NOMEM;
	hex_decode_checked(untrusted + 2, nbytes, out);
	out[nbytes] = 0;
	*outp = out;
	*outlenp = nbytes;
	return 0;
}

int
eth_hex_decode_fixed(const char *untrusted, size_t len, uint8_t *out, size_t n)
{
	size_t nbytes;
	int r;

	if ((r = hex_check(untrusted, len, &nbytes)) != 0)
		return r;
	if (nbytes != n)
		return ERR_HEX_WRONG_LENGTH;
	hex_decode_checked(untrusted + 2, nbytes, out);
	return 0;
}

void
eth_hex_encode_to(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	out[0] = '0';
	out[1] = 'x';
	for (i = 0; i < n; i++) {
		out[2 + 2 * i] = digits[p[i] >> 4];
		out[3 + 2 * i] = digits[p[i] & 0xf];
	}
	out[2 + 2 * n] = '\0';
}

char *
eth_hex_encode(const uint8_t *p, size_t n)
{
	char *out;

	if (n > (SIZE_MAX - 3) / 2 || (out = malloc(2 * n + 3)) == NULL)
		return NULL;
	eth_hex_encode_to(p, n, out);
	return out;
}

json_t *
eth_hex_json(const uint8_t *p, size_t n)
{
	char *s = eth_hex_encode(p, n);
	json_t *j = s != NULL ? json_string(s) : NULL;

	free(s);
	return j;
}
