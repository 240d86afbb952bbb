/*
 * sig.h - secp256k1 signatures as Ethereum uses them, through libsecp256k1.
 *
 * A signature is 64 bytes r || s (big-endian) plus a recovery id 0 or 1.
 * Tokens may return high-s signatures or DER; the token layer parses them
 * (eth_sig_parse_token()) and makes s low (eth_sig_normalize()), and
 * recovers nothing.  The daemon finds the recovery id with
 * eth_sig_verify_addr(), whose computation of ECDSA's point R under the
 * key of the account's address is also the one verification every
 * signature gets.  Nothing here signs: keys live on
 * tokens.  (Tests sign with throwaway keys through libsecp256k1 directly.)
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
 * Verify the low-s signature sig64 over digest under pub65 and find its
 * recovery id: the parity of y of ECDSA's point R, computed once (the cost
 * of one recovery; two for the one key in about 2^128 whose x is not below
 * the group order).
 * Errors: ERR_SIG_INVALID (high s or unparsable), ERR_PUBKEY_INVALID,
 * ERR_SIG_RECOVERY (it does not verify under pub65, or only with a recovery
 * id of 2 or 3, which Ethereum cannot carry); *recidp is then -1.
 */
int eth_sig_find_recid(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t pub65[65], int *recidp);

/*
 * The daemon's verification of a token's signature: pub65 must be the key
 * of address addr (its Keccak), and sig64 over digest must verify under it
 * (eth_sig_find_recid(), which finds the recovery id).  Errors as
 * eth_sig_find_recid(); ERR_SIG_RECOVERY also when pub65 is another
 * address's key.
 */
int eth_sig_verify_addr(const uint8_t digest[32], const uint8_t sig64[64],
    const uint8_t pub65[65], const uint8_t addr[20], int *recidp);

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
