/*
 * err.h - the one error table of p11signer.
 *
 * Every function in this project that can fail returns an int: 0 on success,
 * or one of the negative ERR_* codes below.  err_str() gives the message for
 * a code; it never returns NULL.  Codes are stable within a release; add new
 * ones at the end of their group.  Messages never contain secrets or input.
 */
#ifndef P11S_ERR_H
#define P11S_ERR_H

#include <stdarg.h>

#define ERR_TABLE(X) \
	/* general */ \
	X(ERR_INTERNAL,            -1,  "internal error") \
	X(ERR_NOMEM,               -2,  "out of memory") \
	X(ERR_INVALID_ARGUMENT,    -3,  "invalid argument") \
	X(ERR_TOO_LONG,            -4,  "input longer than its limit") \
	X(ERR_TOO_DEEP,            -5,  "input nested deeper than its limit") \
	X(ERR_TOO_MANY,            -6,  "too many items") \
	X(ERR_IO,                  -7,  "input/output error") \
	X(ERR_TIMEOUT,             -8,  "timed out") \
	/* general: requests whose caller went away (issue 13) */ \
	X(ERR_WITHDRAWN,           -9,  "withdrawn: the caller is gone") \
	/* hex and numbers */ \
	X(ERR_HEX_NO_PREFIX,       -20, "hex string lacks the 0x prefix") \
	X(ERR_HEX_ODD_LENGTH,      -21, "hex string has an odd number of digits") \
	X(ERR_HEX_INVALID_CHAR,    -22, "hex string has a character that is not a hex digit") \
	X(ERR_HEX_WRONG_LENGTH,    -23, "hex string has the wrong length") \
	X(ERR_QUANTITY_EMPTY,      -24, "quantity has no digits") \
	X(ERR_QUANTITY_LEADING_ZERO, -25, "quantity has leading zero digits") \
	X(ERR_UINT256_OVERFLOW,    -26, "number does not fit in 256 bits") \
	X(ERR_DECIMAL_INVALID,     -27, "not a decimal integer") \
	X(ERR_NUMBER_RANGE,        -28, "number out of range for its type") \
	X(ERR_NOT_INTEGER,         -29, "number is not an integer") \
	/* rlp */ \
	X(ERR_RLP_TRUNCATED,       -40, "RLP input is truncated") \
	X(ERR_RLP_NONCANONICAL,    -41, "RLP input is not in canonical form") \
	X(ERR_RLP_TRAILING,        -42, "RLP input has trailing bytes") \
	X(ERR_RLP_EXPECTED_LIST,   -43, "RLP item is not a list") \
	X(ERR_RLP_EXPECTED_STRING, -44, "RLP item is not a string") \
	X(ERR_RLP_SIZE,            -45, "RLP item has the wrong size") \
	/* addresses, signatures */ \
	X(ERR_ADDR_INVALID,        -60, "invalid address") \
	X(ERR_ADDR_CHECKSUM,       -61, "address checksum (EIP-55) is wrong") \
	X(ERR_SIG_INVALID,         -62, "invalid signature") \
	X(ERR_SIG_RECOVERY,        -63, "signature does not recover to the key") \
	X(ERR_PUBKEY_INVALID,      -64, "invalid public key") \
	/* transactions */ \
	X(ERR_TX_INVALID,          -80, "invalid transaction") \
	X(ERR_TX_MISSING_FIELD,    -81, "transaction lacks a required field") \
	X(ERR_TX_FIELD_CONFLICT,   -82, "transaction fields conflict") \
	X(ERR_TX_TYPE,             -83, "unsupported transaction type") \
	X(ERR_JSON_TYPE,           -84, "JSON value has the wrong type") \
	X(ERR_JSON_PARSE,          -85, "invalid JSON") \
	X(ERR_TX_UNKNOWN_FIELD,    -86, "transaction has a field this signer does not know") \
	X(ERR_TX_BLOB_SIDECAR,     -87, "blob sidecars are not supported; send blobVersionedHashes only") \
	/* signed data */ \
	X(ERR_EIP712_INVALID,      -100, "invalid EIP-712 typed data") \
	X(ERR_CLIQUE_INVALID,      -101, "invalid clique header") \
	X(ERR_CONTENT_TYPE,        -102, "unknown content type") \
	/* Unix socket servers (src/rpc/unixsrv.c) */ \
	X(ERR_SOCKET_IN_USE,       -120, "a live socket is at that path (another server, or systemd's socket unit, listens there): not replaced") \
	X(ERR_SOCKET_NOT_SOCKET,   -121, "something other than a socket is at that path: not replaced") \
	/* call data (src/eth/abi.h, src/eth/calldata.h) */ \
	X(ERR_ABI_SIGNATURE,       -320, "invalid ABI function signature") \
	X(ERR_ABI_DECODE,          -321, "call data does not decode by the function's ABI types") \
	X(ERR_ABI_NONCANONICAL,    -322, "call data is not in canonical ABI form (stuffed or extra bytes)") \
	X(ERR_4BYTEDB_INVALID,     -323, "invalid 4byte database") \
	/* audit log */ \
	X(ERR_AUDIT_BROKEN,        -140, "audit log chain is broken") \
	X(ERR_AUDIT_IO,            -141, "cannot write the audit log") \
	/* policy */ \
	X(ERR_POLICY_INVALID,      -150, "invalid policy file") \
	X(ERR_POLICY_STATE,        -151, "cannot read or write the policy state file") \
	/* token protocol (daemon <-> token helper, docs/token-protocol.md) */ \
	X(ERR_PROTO_FRAME_SIZE,    -160, "token protocol frame length out of range") \
	X(ERR_PROTO_TRUNCATED,     -161, "token protocol message is truncated") \
	X(ERR_PROTO_TRAILING,      -162, "token protocol message has trailing bytes") \
	X(ERR_PROTO_UNKNOWN_TYPE,  -163, "unknown token protocol message type") \
	X(ERR_PROTO_DIRECTION,     -164, "token protocol message sent by the wrong side") \
	X(ERR_PROTO_FIELD_COUNT,   -165, "token protocol message has the wrong number of fields") \
	X(ERR_PROTO_FIELD_SIZE,    -166, "token protocol field has the wrong size") \
	X(ERR_PROTO_FIELD_VALUE,   -167, "token protocol field has an invalid value") \
	X(ERR_PROTO_VERSION,       -168, "token protocol version mismatch") \
	X(ERR_PROTO_CLOSED,        -169, "token protocol peer closed the connection") \
	X(ERR_PROTO_UNEXPECTED,    -170, "token protocol message not expected now") \
	/* PKCS#11 token access (src/p11/token.h) */ \
	X(ERR_P11_MODULE_PATH,     -200, "PKCS#11 module path cannot be resolved to a regular file") \
	X(ERR_P11_MODULE_NOT_ALLOWED, -201, "PKCS#11 module is outside the allowed directories") \
	X(ERR_P11_MODULE_NOT_PKCS11, -202, "file is not a PKCS#11 module (no C_GetFunctionList)") \
	X(ERR_P11_MODULE_LOAD,     -203, "p11-kit cannot load the PKCS#11 module") \
	X(ERR_P11_MODULE_NOT_REGISTERED, -204, "no PKCS#11 module is registered with p11-kit under that name") \
	X(ERR_P11_MODULE_INIT,     -205, "the PKCS#11 module failed to initialise") \
	X(ERR_P11_MODULE,          -206, "the PKCS#11 module reported an error") \
	X(ERR_P11_URI_INVALID,     -207, "invalid PKCS#11 URI") \
	X(ERR_P11_URI_UNRECOGNIZED, -208, "PKCS#11 URI has an attribute this signer does not know") \
	X(ERR_P11_URI_MODULE,      -209, "PKCS#11 URI names another module") \
	X(ERR_P11_PIN_SOURCE,      -210, "cannot read the PIN from the URI's pin-source") \
	X(ERR_P11_TOKEN_UNKNOWN,   -211, "no such token") \
	X(ERR_P11_TOKEN_REMOVED,   -212, "the token was removed; rescan when it is back") \
	X(ERR_P11_KEY_NOT_FOUND,   -213, "no such secp256k1 key on a present token") \
	X(ERR_P11_KEY_AMBIGUOUS,   -214, "more than one key matches") \
	X(ERR_P11_KEY_EXISTS,      -215, "a key with that label or id is already on the token") \
	X(ERR_P11_NOT_LOGGED_IN,   -216, "not logged in to the token: a PIN is needed") \
	X(ERR_P11_PIN_INCORRECT,   -217, "the token rejected the PIN") \
	X(ERR_P11_PIN_INVALID,     -218, "the token refuses the PIN's length or characters") \
	X(ERR_P11_PIN_LOCKED,      -219, "the token's user PIN is locked") \
	X(ERR_P11_PIN_COUNT_LOW,   -220, "the token reports failed PIN tries: no PIN is tried automatically") \
	X(ERR_P11_PIN_FINAL_TRY,   -221, "the token reports that one PIN try is left: no PIN is tried automatically") \
	X(ERR_P11_PIN_AUTO_REJECTED, -222, "the token rejected the configured PIN before: it is not tried again") \
	X(ERR_P11_NO_PIN_PAD,      -223, "the token has no PIN pad (protected authentication path)") \
	X(ERR_P11_CANCELED,        -224, "canceled on the token or its PIN pad") \
	X(ERR_P11_BAD_SIGNATURE,   -225, "the token returned a signature that is neither raw r||s nor DER") \
	X(ERR_P11_SIG_MISMATCH,    -226, "the token's signature does not verify against the key") \
	X(ERR_P11_EC_POINT,        -227, "the key's CKA_EC_POINT is not an uncompressed or compressed secp256k1 point") \
	X(ERR_P11_KEYGEN_UNSUPPORTED, -228, "the token or its module cannot generate secp256k1 keys") \
	X(ERR_P11_NO_SLOT_EVENTS,  -229, "the PKCS#11 module cannot wait for slot events (CKR_FUNCTION_NOT_SUPPORTED)") \
	X(ERR_P11_CLOSED,          -230, "the PKCS#11 module is being closed") \
	X(ERR_P11_TOKEN_AMBIGUOUS, -231, "more than one token matches") \
	X(ERR_P11_KEY_VANISHED,    -232, "the key is no longer on its token, which still answers: the token is being removed, or the key was deleted") \
	/* the relay's eth_* endpoint and the user's node (src/relay/node.h) */ \
	X(ERR_RELAY_NODE_REFUSED,  -300, "the node answered with a JSON-RPC error") \
	X(ERR_RELAY_NODE_ANSWER,   -301, "the node's answer is not JSON-RPC") \
	X(ERR_RELAY_NONCES_FULL,   -302, "too many sending addresses for the nonce table") \
	/* the approver's UI socket (signer/ui_socket.h) */ \
	X(ERR_UI_NO_APPROVER,      -240, "no approver connected") \
	X(ERR_UI_BUSY,             -241, "another approver is connected; only one at a time") \
	/* real tokens (issue 14, tokens/): what their modules refuse */ \
	X(ERR_P11_KEYGEN_NEEDS_SO, -242, "the token makes keys only after a Security Officer login (an OpenPGP card: its Admin PIN): make the key with the token's own tools, see tokens/") \
	/* issue 20: the per-token queue (p11/token_pool.c tok_acquire) */ \
	X(ERR_P11_TOKEN_BUSY,      -243, "the token is busy: every session is in use and too many requests wait for one; try again later") \
	/* the signer's account_* API (src/signer/api.c makes its JSON-RPC errors from these) */ \
	X(ERR_API_PARAMS,          -250, "invalid argument") \
	X(ERR_API_DENIED,          -251, "request denied")

enum err_code {
	ERR_OK = 0,
#define ERR_ENUM_ENTRY(name, value, msg) name = (value),
	ERR_TABLE(ERR_ENUM_ENTRY)
#undef ERR_ENUM_ENTRY
};

/* Message for an error code; "unknown error" for a code not in the table. */
const char *err_str(int code);

/* Symbolic name ("ERR_NOMEM") for an error code, for logs and tests. */
const char *err_name(int code);

/*
 * The one way a failure's detail travels beside its code: a buffer of
 * ERR_WHY_MAX bytes that the caller owns (NULL where no detail is wanted),
 * one line for people, never a secret and never more of the input than the
 * message needs.  A function that fails with a detail ends with
 *	return err_why(why, ERR_TX_INVALID, "gas: %s", err_str(r));
 * err_why() writes the detail (when why is not NULL) and returns code.
 * JSON-RPC codes are made from code and why only where the API answers.
 */
#define ERR_WHY_MAX 256

int err_why(char *why, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * err_why() for a function that takes its own format and arguments (one
 * that adds a prefix, or keeps the first detail of several).
 */
int err_whyv(char *why, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif /* P11S_ERR_H */
