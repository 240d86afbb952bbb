/*
 * u256.h - unsigned 256-bit integers and their strict text forms.
 *
 * struct eth_u256 is a plain value (four 64-bit limbs, least significant
 * first); copy it freely.  Parsers take untrusted text with an explicit length
 * and refuse everything outside their grammar with a specific error:
 *
 *   quantity  "0x" then 1..64 hex digits, no leading zero unless the value is
 *             "0x0" (the Ethereum JSON-RPC QUANTITY encoding).
 *   decimal   1..78 ASCII digits, no sign, no leading zero unless "0".
 *   big       go-ethereum's math.ParseBig256: "0x"/"0X" then 0..64 hex digits
 *             (leading zeros allowed), or decimal digits (leading zeros
 *             allowed), or the empty string (zero).  Used where Clef uses it
 *             (EIP-712 integers); never for transaction fields.
 *
 * All parsers return 0 or ERR_QUANTITY_EMPTY, ERR_QUANTITY_LEADING_ZERO,
 * ERR_HEX_NO_PREFIX, ERR_HEX_INVALID_CHAR, ERR_DECIMAL_INVALID,
 * ERR_UINT256_OVERFLOW; *out is written only on success.
 */
#ifndef ETH_U256_H
#define ETH_U256_H

#include <stddef.h>
#include <stdint.h>

struct eth_u256 {
	uint64_t w[4];		/* w[0] is least significant */
};

/* Longest outputs, with NUL: 78 decimal digits; "0x" + 64 digits. */
#define ETH_U256_DECIMAL_MAX 79
#define ETH_U256_QUANTITY_MAX 67

void eth_u256_from_u64(struct eth_u256 *out, uint64_t v);
/* 0 and *outp set when the value fits in 64 bits; ERR_NUMBER_RANGE otherwise. */
int eth_u256_to_u64(const struct eth_u256 *a, uint64_t *outp);

int eth_u256_parse_quantity(const char *untrusted, size_t len, struct eth_u256 *out);
int eth_u256_parse_decimal(const char *untrusted, size_t len, struct eth_u256 *out);
int eth_u256_parse_big(const char *untrusted, size_t len, struct eth_u256 *out);

/* Big-endian bytes: from at most 32 bytes (ERR_UINT256_OVERFLOW if more
 * non-zero bytes); to exactly 32 bytes. */
int eth_u256_from_be(const uint8_t *p, size_t n, struct eth_u256 *out);
void eth_u256_to_be(const struct eth_u256 *a, uint8_t out[32]);
/* Minimal big-endian form (no leading zero bytes; zero is 0 bytes) into
 * out[32]; returns the number of bytes written, which start at out. */
size_t eth_u256_to_be_min(const struct eth_u256 *a, uint8_t out[32]);

void eth_u256_to_decimal(const struct eth_u256 *a, char out[ETH_U256_DECIMAL_MAX]);
void eth_u256_to_quantity(const struct eth_u256 *a, char out[ETH_U256_QUANTITY_MAX]);

int eth_u256_cmp(const struct eth_u256 *a, const struct eth_u256 *b);
int eth_u256_is_zero(const struct eth_u256 *a);
/* Number of significant bits, 0 for zero. */
unsigned eth_u256_bits(const struct eth_u256 *a);

/* Arithmetic modulo 2^256; each returns 1 on overflow (or borrow), else 0. */
int eth_u256_add(struct eth_u256 *r, const struct eth_u256 *a, const struct eth_u256 *b);
int eth_u256_sub(struct eth_u256 *r, const struct eth_u256 *a, const struct eth_u256 *b);
int eth_u256_mul(struct eth_u256 *r, const struct eth_u256 *a, const struct eth_u256 *b);
/* Two's complement negation modulo 2^256. */
void eth_u256_neg(struct eth_u256 *r, const struct eth_u256 *a);
/* a / d and a % d for a 64-bit d != 0. */
void eth_u256_divmod_u64(struct eth_u256 *q, uint64_t *rem, const struct eth_u256 *a, uint64_t d);

#endif /* ETH_U256_H */
