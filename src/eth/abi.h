/*
 * abi.h - Solidity ABI decoding of a call's arguments by a function
 * signature ("transfer(address,uint256)"), for showing a call to the user.
 *
 * Types: uint<N>, int<N> (N = 8..256, multiple of 8; "uint" and "int" mean
 * 256), address, bool, bytes<N> (1..32), bytes, string, T[], T[N] and tuples
 * "(T1,T2,...)", nested at most LIMIT_ABI_DEPTH deep.  A parameter may carry
 * a name after one space ("transfer(address to,uint256 amount)"); names are
 * shown, never hashed: the selector is keccak256 of the canonical signature,
 * names and spaces dropped.
 *
 * Decoding is strict, as Clef's is (signer/fourbyte: decode, re-encode,
 * compare): every padding byte zero, bool 0 or 1, intN sign-extended, every
 * offset exactly where the canonical encoding puts it, no byte after the
 * last value.  So one byte string decodes one way or not at all, and nothing
 * can hide in the call data beside what is shown.
 *
 * A decoded value is JSON (caller owns it):
 *   {"name": "to", "type": "address", "value": "0xd8dA...6045"}
 * name only when the signature named the parameter; value by type:
 *   uintN, intN   decimal string ("-5")
 *   address       EIP-55 string
 *   bool          true / false
 *   bytesN, bytes "0x" hex string
 *   string        the text; when it is not UTF-8 (or holds NUL), "value" is
 *                 absent and "value_hex" has the bytes
 *   T[], T[N], tuple  an array of decoded values (without names for array
 *                 items; with the component's name, if any, for tuples)
 *
 * Every function returns 0 or a negative ERR_* code (err.h); output
 * pointers are set to NULL on entry and assigned only on success.
 */
#ifndef ETH_ABI_H
#define ETH_ABI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

/* A parsed function signature; opaque. */
struct eth_abi_fn;

/*
 * Parse an untrusted signature (borrowed, len bytes, no NUL needed) of at
 * most LIMIT_ABI_SIGNATURE bytes.  On success *fnp is set; caller frees with
 * eth_abi_fn_free().
 * Errors: ERR_ABI_SIGNATURE, ERR_TOO_LONG, ERR_TOO_DEEP, ERR_TOO_MANY,
 * ERR_NOMEM.
 */
int eth_abi_fn_parse(const char *untrusted, size_t len, struct eth_abi_fn **fnp);

/* Free a parsed signature; NULL is fine. */
void eth_abi_fn_free(struct eth_abi_fn *fn);

/* The canonical signature, "transfer(address,uint256)"; borrowed from fn. */
const char *eth_abi_fn_signature(const struct eth_abi_fn *fn);

/* The function's name, "transfer"; borrowed from fn. */
const char *eth_abi_fn_name(const struct eth_abi_fn *fn);

/* The 4-byte selector: keccak256(canonical signature)[0:4]. */
void eth_abi_fn_selector(const struct eth_abi_fn *fn, uint8_t selector[4]);

/*
 * Decode the arguments (the call data after its selector; borrowed) into a
 * JSON array of decoded values, one per parameter.  *budgetp is the number
 * of values still allowed (LIMIT_ABI_VALUES for a whole call); it is lowered
 * by the values made, also on failure.  On success *argsp is set (caller
 * frees with json_decref()).  On failure why (may be NULL, room
 * ERR_WHY_MAX, core/err.h) says where decoding stopped.
 * Errors: ERR_ABI_DECODE, ERR_ABI_NONCANONICAL, ERR_TOO_MANY, ERR_NOMEM.
 */
int eth_abi_decode(const struct eth_abi_fn *fn, const uint8_t *untrusted_args,
    size_t len, size_t *budgetp, json_t **argsp, char why[ERR_WHY_MAX]);

#endif /* ETH_ABI_H */
