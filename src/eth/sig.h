/*
 * sig.h - secp256k1 signatures as Ethereum uses them, through libsecp256k1.
 *
 * A signature is 64 bytes r || s (big-endian) plus a recovery id 0 or 1.
 * Tokens may return high-s signatures or DER; the token layer normalises with
 * eth_sig_normalize() and takes the recovery id from one recovery against
 * the key it already knows (eth_sig_recid_one_recovery()); the daemon then
 * recovers the signature to the key's address, which is its verification.
 * eth_sig_find_recid() finds and verifies in one.  Nothing here signs:
 * keys live on tokens.  (Tests sign with throwaway keys through
 * libsecp256k1 directly.)
 *
 * The shared libsecp256k1 context is created on first use (thread-safe).
 */
#ifndef ETH_SIG_H
#define ETH_SIG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse a token's ECDSA output: 64 bytes raw r || s, or a DER SEQUENCE of two
 * INTEGERs.  Writes r || s to sig64.  Errors: ERR_SIG_INVALID.
 */
int eth_sig_parse_token(const uint8_t *untrusted, size_t len, uint8_t sig64[64]);

/*
 * Replace s with n - s when s > n/2.  *flippedp (may be NULL) says whether it
 * did.  Errors: ERR_SIG_INVALID when r or s is zero or not below n.
 */
int eth_sig_normalize(uint8_t sig64[64], int *flippedp);

/* Is s <= n/2 ?  1 or 0. */
int eth_sig_is_low_s(const uint8_t sig64[64]);

/*
 * Recover the uncompressed public key (04 || X || Y) that made sig64 with
 * recovery id recid (0 or 1) over digest.  Errors: ERR_SIG_INVALID,
 * ERR_SIG_RECOVERY.
 */
int eth_sig_recover(const uint8_t digest[32], const uint8_t sig64[64], int recid,
    uint8_t pub65[65]);

/*
 * Find the recovery id with which the low-s signature sig64 over digest
 * recovers to pub65, which proves the signature valid under that key (one
 * or two recoveries, no separate verification).
 * Errors: ERR_SIG_INVALID (high s or unparsable), ERR_PUBKEY_INVALID,
 * ERR_SIG_RECOVERY (it verifies under neither id).
 */
int eth_sig_find_recid(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t pub65[65], int *recidp);

/*
 * The recovery id of the low-s signature sig64 over digest for pub65, from
 * one recovery: 0 when recovering with 0 gives back pub65 (which verifies
 * the signature), else 1, which is not checked.  For a caller whose
 * signature is recovered to its key's address afterwards anyway (the token
 * helper's: the daemon does so, against a lying helper); checking 1 too
 * costs a second recovery for half the signatures (issue 20).
 */
int eth_sig_recid_one_recovery(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t pub65[65]);

/*
 * Ethereum ecrecover: sig65 is r || s || v with v in {0, 1, 27, 28}.
 * Writes the signer's address.  Errors: ERR_SIG_INVALID, ERR_SIG_RECOVERY.
 */
int eth_sig_recover_address(const uint8_t digest[32], const uint8_t sig65[65],
    uint8_t addr[20]);

/*
 * Parse a public key in uncompressed (65 bytes), or compressed (33 bytes)
 * form and write its uncompressed form.  Errors: ERR_PUBKEY_INVALID.
 */
int eth_sig_pubkey_parse(const uint8_t *p, size_t n, uint8_t pub65[65]);

/* The shared context (for tests and the token layer). */
struct secp256k1_context_struct;
const struct secp256k1_context_struct *eth_sig_context(void);

#endif /* ETH_SIG_H */
