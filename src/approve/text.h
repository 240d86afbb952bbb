/*
 * text.h - what p11signer-approve does to text before a person sees it.
 *
 * Every string in a question came from the request (or from the daemon's
 * decoding of it) and is shown so that it cannot pass for the window's own
 * words: control characters, bidirectional overrides and isolates,
 * zero-width characters and invalid UTF-8 are written as visible escapes
 * (\n, \u{202E}, \xff).  Pure C, no GTK: tests/unit/test_approve_text.c
 * checks it.
 */
#ifndef APPROVE_TEXT_H
#define APPROVE_TEXT_H

#include <stddef.h>

/*
 * The escaped form of untrusted (len bytes, may hold NULs).  Caller frees
 * with free(); NULL when out of memory.
 */
char *approve_text_escape(const char *untrusted, size_t len);

/*
 * A non-negative decimal integer string of wei as an exact decimal of
 * 10^decimals units ("1500000000", 9 -> "1.5"), without trailing zeros.
 * Caller frees with free(); NULL when dec is not a decimal integer.
 */
char *approve_text_units(const char *dec, unsigned decimals);

/* The chain's name for a decimal chain id, or NULL when unknown. */
const char *approve_text_chain_name(const char *chain_id_dec);

#endif /* APPROVE_TEXT_H */
