/*
 * eip712.h - EIP-712 typed structured data: the digest Clef signs for
 * account_signTypedData and account_signData("data/typed"), the tree Clef's
 * UI shows for it, and the typed data of a Gnosis Safe transaction
 * (account_signGnosisSafeTx).
 *
 *   digest = keccak256(0x19 0x01 || hashStruct(EIP712Domain, domain)
 *                                 || hashStruct(primaryType, message))
 *
 * The input is the JSON object {types, primaryType, domain, message} that
 * clients send (go-ethereum apitypes.TypedData).  Hashing follows the EIP and
 * Clef (signer/core/apitypes/types.go) wherever Clef hashes at all, so every
 * digest Clef produces is produced here; where Clef is lax we refuse, and
 * where Clef refuses only because of a bug we accept.  Every difference is
 * listed in docs/api.md; in short:
 *
 *   accepted, Clef refuses:  arrays of primitive types (Clef hashes them but
 *                            its UI formatter fails, so it never signs them).
 *   refused, Clef accepts:   members outside {types, primaryType, domain,
 *                            message}; unknown domain members (Clef drops
 *                            them); EIP712Domain fields other than name,
 *                            version (string), chainId (an integer type),
 *                            verifyingContract (address), salt (bytes32);
 *                            type and field names that are not identifiers
 *                            ([A-Za-z_$][A-Za-z0-9_$]*); struct types named
 *                            like a primitive type; duplicate field names;
 *                            type strings with junk after the base type
 *                            ("uint8x[2]"); fixed-size arrays of another
 *                            length, and arrays nested other than declared;
 *                            primaryType EIP712Domain or undeclared;
 *                            intN outside [-2^(N-1), 2^(N-1)-1] (Clef checks
 *                            only the bit length of the magnitude); integers
 *                            as JSON numbers beyond 2^53 (clients disagree
 *                            on their value) or as empty strings; addresses
 *                            without "0x".
 *
 * Integers are JSON numbers with an integer value, or strings in decimal
 * (optionally with a leading "-") or "0x" hex, as Clef's math.ParseBig256.
 * bytes and bytesN are "0x" hex (bytesN exactly N bytes).  Limits are the
 * LIMIT_EIP712_* of limits.h, checked before the work they bound.
 *
 * Functions return 0 or a negative ERR_* code (err.h); the input is borrowed
 * and untrusted; on failure why (may be NULL, room ERR_WHY_MAX, core/err.h)
 * holds one line that names where in the input the problem is, printable
 * ASCII only.
 */
#ifndef ETH_EIP712_H
#define ETH_EIP712_H

#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "eth/u256.h"

struct eth_eip712_result {
	uint8_t domain_separator[32];	/* hashStruct(EIP712Domain, domain) */
	uint8_t message_hash[32];	/* hashStruct(primaryType, message) */
	uint8_t digest[32];		/* what is signed */
	int has_chain_id;		/* the domain carries a chainId */
	struct eth_u256 chain_id;	/* that chain id, two's complement if negative */
	/*
	 * What the approver is shown, as Clef's UI protocol carries it
	 * ("messages" of ui_approveSignData): an array of two
	 * {"name","type","value"} objects, the domain (type "domain") and the
	 * message (type "primary type").  A struct's value is an array of such
	 * objects, one per field in declared order; an array's value is an
	 * array of {"name":"[i]","type":element type,"value":..}; a primitive's
	 * value is a string: addresses in EIP-55 form, integers in decimal,
	 * bytes in 0x hex, bools "true"/"false", strings as given.
	 * Set only when asked for; caller frees with json_decref().
	 */
	json_t *messages;
};

/*
 * Hash typed data.  res is filled on success (res->messages only when
 * want_messages is non-zero) and left zeroed on failure.
 * Errors: ERR_EIP712_INVALID (anything malformed or refused, why says
 * what), ERR_TOO_LONG, ERR_TOO_MANY, ERR_TOO_DEEP, ERR_NOMEM.
 */
int eth_eip712_hash(const json_t *untrusted_typed_data,
    struct eth_eip712_result *res, int want_messages,
    char why[ERR_WHY_MAX]);

/* eth_eip712_hash() for the digest alone. */
int eth_eip712_digest(const json_t *untrusted_typed_data, uint8_t digest[32],
    char why[ERR_WHY_MAX]);

/* Release what eth_eip712_hash() put in res and zero it; res may be NULL. */
void eth_eip712_result_clear(struct eth_eip712_result *res);

/*
 * A Gnosis Safe transaction as the Safe transaction service lists it (the
 * second parameter of account_signGnosisSafeTx), made into the typed data
 * Clef signs for it (apitypes.GnosisSafeTx.ToTypedData): domain
 * {chainId, verifyingContract: safe}, primary type SafeTx {to, value, data,
 * operation, safeTxGas, baseGas, gasPrice, gasToken, refundReceiver, nonce}.
 *
 * Members read: safe, to, gasToken, refundReceiver (addresses), value,
 * gasPrice (decimal strings), safeTxGas, baseGas, nonce (integers: JSON
 * numbers or decimal strings), operation (0 or 1), data ("0x" hex or null),
 * safeTxHash (32 bytes, required) and chainId (optional); the service's other
 * members are ignored, as Clef ignores them.  Without chainId the caller's
 * default_chain_id is used (Clef's --chainid).  Unlike Clef, which goes on
 * when they differ, the digest must equal safeTxHash: a request whose
 * displayed fields do not produce the hash the Safe will execute is refused.
 *
 * On success *typedp is a new typed-data object (caller frees with
 * json_decref()) whose eth_eip712_hash() digest is safeTxHash, and *resp
 * (may be NULL) is filled as by eth_eip712_hash() with want_messages.
 * Errors: ERR_EIP712_INVALID, ERR_NOMEM.
 */
int eth_eip712_from_gnosis_safe_tx(const json_t *untrusted_safe_tx,
    const struct eth_u256 *default_chain_id, json_t **typedp,
    struct eth_eip712_result *resp, char why[ERR_WHY_MAX]);

#endif /* ETH_EIP712_H */
