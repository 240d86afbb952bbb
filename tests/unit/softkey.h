/*
 * softkey.h - TEST ONLY: a software secp256k1 key behind struct signer_keys
 * (signer/api.h), standing in for the token in tests and fuzzers that drive
 * the account_* API.  p11signer itself never holds a key.
 *
 * The key is keccak256(phrase), a throwaway derived from a public string.
 * It signs with libsecp256k1 alone (RFC 6979 nonces, low s; no recovery id,
 * as a token helper answers): the same r || s as ethers.js for the same key
 * and digest, and nothing of the code under test.  It can also lie, as a
 * broken or hostile token helper would: a valid signature by another key
 * (giving the true public key, or that other key's), or over another digest.  No cmocka: fuzzers link it too.
 */
#ifndef SOFTKEY_H
#define SOFTKEY_H

#include <stdint.h>

#include <secp256k1.h>

#include "eth/addr.h"
#include "signer/api.h"

enum softkey_lie {
	SOFTKEY_HONEST = 0,
	SOFTKEY_LIE_KEY,		/* signs the digest with another key */
	SOFTKEY_LIE_DIGEST,		/* signs another digest (one bit flipped) */
	SOFTKEY_LIE_PUB,		/* signs with another key, and gives that key's public key */
};

struct softkey {
	secp256k1_context *ctx;
	enum softkey_lie lie;		/* SOFTKEY_HONEST after softkey_init() */
	uint8_t seckey[32];
	uint8_t addr[ETH_ADDR_LEN];
	uint8_t pub[65];		/* 04 || X || Y */
	char hex[ETH_ADDR_STR];		/* EIP-55 */
	const char *url;		/* borrowed; the listing's "url" */
	unsigned long signs;		/* signatures made */
};

/* 0, or -1 when libsecp256k1 refuses the key.  url is borrowed. */
int softkey_init(struct softkey *k, const char *phrase, const char *url);
/* Wipes the key.  Accepts a key whose init failed. */
void softkey_free(struct softkey *k);
/* The signer_keys of k (ctx is k): one account; generate answers k's address. */
struct signer_keys softkey_keys(struct softkey *k);

#endif /* SOFTKEY_H */
