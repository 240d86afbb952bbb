/*
 * hex.h - strict 0x-prefixed hex byte strings.
 *
 * Decoding accepts exactly "0x" or "0X" followed by an even number of hex
 * digits (either case) and nothing else: no whitespace, no sign, no missing
 * prefix.  "0x" alone is the empty byte string.  Lengths are in characters
 * and the input need not be NUL-terminated.  Output pointers are set to NULL
 * (or left untouched for fixed buffers) on entry and assigned only on success.
 */
#ifndef ETH_HEX_H
#define ETH_HEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode untrusted hex of at most max_bytes decoded bytes into a new buffer.
 * On success *outp points to *outlenp bytes (plus one NUL byte after them, so
 * an empty result is never NULL); caller frees with free().
 * Errors: ERR_HEX_NO_PREFIX, ERR_HEX_ODD_LENGTH, ERR_HEX_INVALID_CHAR,
 * ERR_TOO_LONG, ERR_NOMEM.
 */
int eth_hex_decode(const char *untrusted, size_t len, size_t max_bytes,
    uint8_t **outp, size_t *outlenp);

/*
 * Decode untrusted hex that must be exactly n bytes into out[0..n-1].
 * Errors as eth_hex_decode, plus ERR_HEX_WRONG_LENGTH.
 */
int eth_hex_decode_fixed(const char *untrusted, size_t len, uint8_t *out,
    size_t n);

/*
 * Write "0x" and 2*n lower-case hex digits and a NUL to out, which must hold
 * 2*n + 3 bytes.
 */
void eth_hex_encode_to(const uint8_t *p, size_t n, char *out);

/* As eth_hex_encode_to into a new string; NULL when out of memory. Caller frees with free(). */
char *eth_hex_encode(const uint8_t *p, size_t n);

/*
 * As eth_hex_encode_to into a new JSON string (lower case, as geth marshals
 * hexutil.Bytes and common.Hash); NULL when out of memory.  Caller frees
 * with json_decref().
 */
struct json_t;
struct json_t *eth_hex_json(const uint8_t *p, size_t n);

/* Value of one hex digit, or -1 when c is not one. */
int eth_hex_digit(int c);

#endif /* ETH_HEX_H */
