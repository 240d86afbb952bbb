/*
 * eip191.h - what Clef hashes for account_signData other than EIP-712
 * (signer/core/signed_data.go):
 *
 *   text/plain                   EIP-191 version 0x45 ("personal_sign"):
 *                                keccak256("\x19Ethereum Signed Message:\n"
 *                                || decimal length || message)
 *   data/validator               EIP-191 version 0x00:
 *                                keccak256(0x19 0x00 || validator || data)
 *   application/x-clique-header  the Clique seal hash of an RLP header
 *
 * Each hash comes with the preimage Clef shows as the request's raw data
 * (ui_approveSignData "raw_data"), built by a separate function so that a
 * caller who only signs need not allocate.  Inputs are borrowed and bounded
 * by LIMIT_SIGN_DATA_BYTES.  Functions return 0 or a negative ERR_* code
 * (err.h); output pointers are set to NULL on entry and assigned only on
 * success, fixed-size outputs written only on success.
 */
#ifndef ETH_EIP191_H
#define ETH_EIP191_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "eth/addr.h"
#include "eth/u256.h"

/*
 * keccak256("\x19Ethereum Signed Message:\n" || len in decimal || msg), as
 * Clef's accounts.TextAndHash.  Errors: ERR_TOO_LONG.
 */
int eth_eip191_personal_hash(const uint8_t *msg, size_t len, uint8_t hash[32]);

/*
 * The prefixed message that eth_eip191_personal_hash() hashes.  *outp gets
 * *outlenp bytes; caller frees with free().  Errors: ERR_TOO_LONG, ERR_NOMEM.
 */
int eth_eip191_personal_message(const uint8_t *msg, size_t len, uint8_t **outp,
    size_t *outlenp);

/*
 * keccak256(0x19 || 0x00 || validator || data), as Clef's SignTextValidator.
 * Errors: ERR_TOO_LONG.
 */
int eth_eip191_validator_hash(const uint8_t validator[ETH_ADDR_LEN],
    const uint8_t *data, size_t len, uint8_t hash[32]);

/* The preimage of eth_eip191_validator_hash(); caller frees *outp with free(). */
int eth_eip191_validator_message(const uint8_t validator[ETH_ADDR_LEN],
    const uint8_t *data, size_t len, uint8_t **outp, size_t *outlenp);

/*
 * A Clique header to seal, as Clef reads application/x-clique-header data.
 *
 * The input is the RLP of a header (go-ethereum types.Header: the 15 fields
 * parentHash .. nonce, then an optional baseFee).  Geth sends it with the 65
 * signature bytes already cut off the extra data; like Clef (v1.17), 65 zero
 * bytes are appended to extra whatever its length, and the seal hash is then
 * taken (as clique.SealHash does) over the header with the last 65 bytes of
 * extra cut off: over the header exactly as sent.  That holds for checkpoint
 * headers too, whose extra (32 bytes of vanity + 20 per signer) is 65 bytes
 * or longer without the seal.  header_hash is taken with the 65 zero bytes in
 * place.  Refused like Clef refuses: malformed or non-canonical RLP,
 * fields of the wrong size, and any field after baseFee (withdrawalsHash and
 * later: clique.SealHash refuses post-Shanghai headers).
 */
struct eth_eip191_clique {
	struct eth_u256 number;		/* block number */
	uint8_t header_hash[32];	/* keccak256(rlp(header)), extra as padded */
	uint8_t seal_hash[32];		/* what is signed (v stays 0 or 1 for clique) */
	uint8_t *seal_rlp;		/* preimage of seal_hash (clique.CliqueRLP) */
	size_t seal_rlp_len;
};

/*
 * Parse an untrusted clique header (borrowed).  On success *outp is set;
 * caller frees with eth_eip191_clique_free().  On failure why (may be
 * NULL, room ERR_WHY_MAX, core/err.h) holds a Clef-like message.
 * Errors: the ERR_RLP_* codes, ERR_CLIQUE_INVALID, ERR_TOO_LONG, ERR_NOMEM.
 */
int eth_eip191_clique_parse(const uint8_t *untrusted, size_t len,
    struct eth_eip191_clique **outp, char why[ERR_WHY_MAX]);

/* Free a parsed header; NULL is fine. */
void eth_eip191_clique_free(struct eth_eip191_clique *c);

/* "clique header " + 78 digits + " [0x" + 64 digits + "]" + NUL. */
#define ETH_EIP191_CLIQUE_SUMMARY_MAX 168

/*
 * The message Clef shows for the request (name "Clique header", type
 * "clique"): "clique header <number in decimal> [0x<header hash>]".
 */
void eth_eip191_clique_summary(const struct eth_eip191_clique *c,
    char out[ETH_EIP191_CLIQUE_SUMMARY_MAX]);

#endif /* ETH_EIP191_H */
