#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve/text.h"

/*
 * Code points that change how the text around them reads without being
 * seen: bidi marks, embeddings, overrides and isolates (the "Trojan Source"
 * characters), zero-width characters, the BOM, line and paragraph
 * separators.
 */
static int
invisible(uint32_t c)
{
	return c == 0x061c || c == 0x180e || (c >= 0x200b && c <= 0x200f) ||
	    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) ||
	    c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
}

/* Decode one UTF-8 sequence (shortest form, no surrogates); its length, or 0. */
static size_t
utf8_one(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t need, i;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2, c = p[0] & 0x1f, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3, c = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4, c = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return need;
}

char *
approve_text_escape(const char *untrusted, size_t len)
{
	const unsigned char *p = (const unsigned char *)untrusted;
	/* Worst case: every byte becomes \u{XXXXXX} (10 bytes). */
	char *out, *o, *end;
	size_t i = 0, k;
	uint32_t c;

	if (len > (SIZE_MAX - 1) / 10 || (out = malloc(len * 10 + 1)) == NULL)
		return NULL;
	o = out;
	end = out + len * 10 + 1;
	while (i < len) {
		if ((k = utf8_one(p + i, len - i, &c)) == 0) {
			o += snprintf(o, (size_t)(end - o), "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (c == '\n')
			o += snprintf(o, (size_t)(end - o), "\\n");
		else if (c == '\t')
			o += snprintf(o, (size_t)(end - o), "\\t");
		else if (c == '\r')
			o += snprintf(o, (size_t)(end - o), "\\r");
		else if (c == '\\')
			o += snprintf(o, (size_t)(end - o), "\\\\");
		else if (c < 0x20 || (c >= 0x7f && c < 0xa0) || invisible(c))
			o += snprintf(o, (size_t)(end - o), "\\u{%04X}", (unsigned)c);
		else {
			memcpy(o, p + i, k);
			o += k;
		}
		i += k;
	}
	*o = '\0';
	return out;
}

char *
approve_text_units(const char *dec, unsigned decimals)
{
	size_t n = dec != NULL ? strlen(dec) : 0, i, width;
	char *out, *o;

	if (n == 0 || decimals > 77)
		return NULL;
	for (i = 0; i < n; i++)
		if (dec[i] < '0' || dec[i] > '9')
			return NULL;
	while (n > 1 && *dec == '0')
		dec++, n--;
	/* Left-pad to decimals + 1 digits, then put the point before the last decimals. */
	width = n > decimals ? n : (size_t)decimals + 1;
	if ((out = malloc(width + 2)) == NULL)
		return NULL;
	memset(out, '0', width - n);
	memcpy(out + (width - n), dec, n);
	memmove(out + (width - decimals) + 1, out + (width - decimals), decimals);
	out[width - decimals] = '.';
	out[width + 1] = '\0';
	/* Drop trailing zeros, and the point when nothing follows it. */
	o = out + width + 1;
	while (o[-1] == '0' && decimals > 0 && o - 1 > out + (width - decimals))
		*--o = '\0';
	if (o[-1] == '.')
		*--o = '\0';
	return out;
}

const char *
approve_text_chain_name(const char *chain_id_dec)
{
	static const struct {
		const char *id, *name;
	} chains[] = {
		{ "1", "Ethereum mainnet" }, { "11155111", "Sepolia (testnet)" },
		{ "17000", "Holesky (testnet)" }, { "560048", "Hoodi (testnet)" },
		{ "10", "OP mainnet" }, { "8453", "Base" }, { "42161", "Arbitrum One" },
		{ "137", "Polygon PoS" }, { "100", "Gnosis" }, { "1337", "local development chain" },
		{ "31337", "local development chain (Hardhat/Anvil)" },
	};
	size_t i;

	for (i = 0; chain_id_dec != NULL && i < sizeof(chains) / sizeof(chains[0]); i++)
		if (strcmp(chains[i].id, chain_id_dec) == 0)
			return chains[i].name;
	return NULL;
}
