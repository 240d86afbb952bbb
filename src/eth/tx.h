/*
 * tx.h - Ethereum transactions of types 0 to 4: built from Clef's SendTxArgs
 * JSON, hashed for signing, encoded with a signature, shown as geth's JSON,
 * and decoded back from a signed raw transaction.
 *
 *   type 0  legacy; built from JSON it is always signed per EIP-155
 *   type 1  EIP-2930 access list
 *   type 2  EIP-1559 dynamic fee
 *   type 3  EIP-4844 blob transaction, blob hashes only (sidecars are refused)
 *   type 4  EIP-7702 set-code transaction (beyond Clef, which has no type 4)
 *
 * struct eth_tx is a plain struct: callers read its fields but do not build
 * one themselves.  It is made by eth_tx_from_send_args() or
 * eth_tx_decode_signed(), owns every array it points to, and the caller frees
 * it with eth_tx_free(), which accepts NULL.  Fields that a type does not have
 * are zero (NULL and 0 for arrays).
 *
 * A signature is r || s (64 bytes, big-endian, as in sig.h) plus a recovery
 * id 0 or 1.  The functions that take one encode it as given and do not check
 * it: the token layer has already normalised it to low s
 * (eth_sig_normalize()) and the daemon has verified it under the key of its
 * address (eth_sig_verify_addr()).  An all-zero signature encodes
 * the unsigned form geth hashes for tx.Hash() of an unsigned transaction.
 *
 * Every function returns 0 or a negative ERR_* code (err.h).  Output pointers
 * are set to NULL on entry and assigned only on success; fixed-size outputs
 * are written only on success.
 */
#ifndef ETH_TX_H
#define ETH_TX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "eth/addr.h"
#include "eth/u256.h"

enum eth_tx_type {
	ETH_TX_LEGACY = 0,
	ETH_TX_ACCESS_LIST = 1,		/* EIP-2930 */
	ETH_TX_DYNAMIC_FEE = 2,		/* EIP-1559 */
	ETH_TX_BLOB = 3,		/* EIP-4844 */
	ETH_TX_SET_CODE = 4,		/* EIP-7702 */
};

/* One accessList entry. */
struct eth_tx_access {
	uint8_t address[ETH_ADDR_LEN];
	uint8_t (*keys)[32];		/* nkeys storage keys; NULL when none */
	size_t nkeys;
};

/* One EIP-7702 authorization tuple, signed by its authority (not by us). */
struct eth_tx_auth {
	struct eth_u256 chain_id;
	uint8_t address[ETH_ADDR_LEN];
	uint64_t nonce;
	uint8_t y_parity;		/* 0..255, as the EIP bounds it; valid ones are 0 or 1 */
	struct eth_u256 r, s;
};

struct eth_tx {
	enum eth_tx_type type;
	/*
	 * Legacy only: 1 when the chain id is part of the signature (EIP-155),
	 * 0 for a decoded pre-EIP-155 transaction (v = 27 or 28), whose
	 * chain_id is then 0.  Typed transactions always carry their chain id.
	 */
	int eip155;
	struct eth_u256 chain_id;
	uint64_t nonce;
	uint64_t gas;
	struct eth_u256 gas_price;			/* types 0, 1 */
	struct eth_u256 max_priority_fee_per_gas;	/* types 2, 3, 4 */
	struct eth_u256 max_fee_per_gas;		/* types 2, 3, 4 */
	struct eth_u256 max_fee_per_blob_gas;		/* type 3 */
	int has_to;			/* 0: contract creation (types 0-2 only) */
	uint8_t to[ETH_ADDR_LEN];
	struct eth_u256 value;
	uint8_t *data;			/* data_len bytes; NULL when data_len is 0 */
	size_t data_len;
	struct eth_tx_access *access_list;	/* types 1-4 */
	size_t access_list_len;
	uint8_t (*blob_hashes)[32];		/* type 3 */
	size_t blob_hashes_len;
	struct eth_tx_auth *auths;		/* type 4 */
	size_t auths_len;
};

/* Bits of struct eth_tx_request.present: members given and not JSON null. */
#define ETH_TX_ARG_TO			0x0001u
#define ETH_TX_ARG_GAS_PRICE		0x0002u
#define ETH_TX_ARG_MAX_FEE		0x0004u	/* maxFeePerGas */
#define ETH_TX_ARG_MAX_PRIORITY_FEE	0x0008u	/* maxPriorityFeePerGas */
#define ETH_TX_ARG_DATA			0x0010u
#define ETH_TX_ARG_INPUT		0x0020u
#define ETH_TX_ARG_ACCESS_LIST		0x0040u
#define ETH_TX_ARG_CHAIN_ID		0x0080u
#define ETH_TX_ARG_BLOB_FEE		0x0100u	/* maxFeePerBlobGas */
#define ETH_TX_ARG_BLOB_HASHES		0x0200u
#define ETH_TX_ARG_AUTH_LIST		0x0400u
#define ETH_TX_ARG_TYPE			0x0800u

/*
 * What a SendTxArgs request said beyond the transaction it became: what
 * Clef's validation (signer layer) looks at.  The fee values are as given,
 * zero when absent, including those the chosen type ignores (gasPrice of a
 * type 2 request, for example), so that the validator can warn about them.
 */
struct eth_tx_request {
	unsigned present;		/* ETH_TX_ARG_* bits */
	uint8_t from[ETH_ADDR_LEN];
	int from_checksummed;		/* "from" was exactly its EIP-55 form */
	int to_checksummed;		/* "to" was exactly its EIP-55 form; 0 without to */
	struct eth_u256 gas_price;
	struct eth_u256 max_fee_per_gas;
	struct eth_u256 max_priority_fee_per_gas;
	struct eth_u256 max_fee_per_blob_gas;
};

/*
 * Build a transaction from Clef's SendTxArgs (the first parameter of
 * account_signTransaction), as go-ethereum's SendTxArgs.ToTransaction() does,
 * plus type 4:
 *
 *   blobVersionedHashes -> type 3, else authorizationList -> type 4, else
 *   maxFeePerGas -> type 2, else accessList -> type 1, else type 0.
 *
 * Fields the chosen type has no place for are ignored (as Clef does); their
 * presence and values are reported in *reqp for the validator.  Except
 * maxFeePerBlobGas, which Clef drops and we refuse without
 * blobVersionedHashes (ERR_TX_FIELD_CONFLICT).  "input" wins
 * over "data"; both given and different is refused.  "type" is accepted and
 * ignored.  JSON null is the same as absent.  The chain id is "chainId" when
 * given, else *default_chain_id (Clef's --chainid); comparing a given one
 * with the configured one is the signer layer's job (ETH_TX_ARG_CHAIN_ID).
 *
 * Stricter than Clef, on purpose: every number is a JSON string in the
 * JSON-RPC QUANTITY grammar ("0x", no leading zeros; nonce and gas within 64
 * bits, the rest within 256); byte strings are "0x" and an even number of
 * digits; addresses and hashes have their exact length; members Clef does not
 * know (and differently-cased names) are refused, naming the member; "from",
 * "gas", "nonce" and "value" are required; blob sidecars ("blobs",
 * "commitments", "proofs") are refused; types 3 and 4 need "to",
 * "maxFeePerGas", "maxPriorityFeePerGas" (and type 3 "maxFeePerBlobGas"), at
 * least one blob hash or authorization, and not both lists.  Limits from
 * limits.h (LIMIT_TX_*) are checked before anything is allocated.
 *
 * untrusted_args is borrowed.  On success *txp is set (caller frees with
 * eth_tx_free()) and *reqp (may be NULL) is filled.  On failure why (may
 * be NULL, room ERR_WHY_MAX, core/err.h) holds a one-line message in geth's
 * words that names the member, for the JSON-RPC error; member names from
 * the request are truncated and stripped of anything but printable ASCII.
 * Errors: ERR_JSON_TYPE, ERR_TX_UNKNOWN_FIELD, ERR_TX_MISSING_FIELD,
 * ERR_TX_FIELD_CONFLICT, ERR_TX_BLOB_SIDECAR, ERR_TX_INVALID, the hex and
 * number errors, ERR_ADDR_INVALID, ERR_NUMBER_RANGE, ERR_TOO_LONG,
 * ERR_TOO_MANY, ERR_NOMEM.
 */
int eth_tx_from_send_args(const json_t *untrusted_args,
    const struct eth_u256 *default_chain_id, struct eth_tx **txp,
    struct eth_tx_request *reqp, char why[ERR_WHY_MAX]);

/*
 * The digest to sign: keccak256(rlp([nonce, gasPrice, gas, to, value, data,
 * chainId, 0, 0])) for EIP-155 legacy (the first six alone without EIP-155),
 * keccak256(type || rlp(payload)) for typed transactions.
 * Errors: ERR_NUMBER_RANGE, ERR_TOO_LONG, ERR_NOMEM.
 */
int eth_tx_signing_hash(const struct eth_tx *tx, uint8_t hash[32]);

/*
 * The signed transaction as sent to the network (geth's MarshalBinary):
 * legacy rlp([..., v, r, s]) with v = recid + 35 + 2 * chainId (EIP-155) or
 * recid + 27; typed: type || rlp([..., yParity, r, s]).  *rawp gets *rawlenp
 * bytes; caller frees with free().
 * Errors: ERR_INVALID_ARGUMENT (recid not 0 or 1), ERR_NUMBER_RANGE (v does
 * not fit in 256 bits), ERR_TOO_LONG, ERR_NOMEM.
 */
int eth_tx_encode_signed(const struct eth_tx *tx, const uint8_t sig64[64],
    int recid, uint8_t **rawp, size_t *rawlenp);

/* The transaction hash: keccak256 of eth_tx_encode_signed(). Errors as there. */
int eth_tx_hash(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    uint8_t hash[32]);

/*
 * geth's JSON of the signed transaction, as core/types
 * transaction_marshalling.go writes it (the "tx" of account_signTransaction's
 * {raw, tx}), members in geth's order:
 *   type, chainId, nonce, to, gas, gasPrice, maxPriorityFeePerGas,
 *   maxFeePerGas, maxFeePerBlobGas, value, input, accessList,
 *   blobVersionedHashes, authorizationList, v, r, s, yParity, hash
 * chainId is omitted for a pre-EIP-155 legacy transaction; "to" is null for a
 * contract creation; the fee members a type does not have are null;
 * maxFeePerBlobGas is present for type 3 only; accessList and yParity for
 * types 1-4; blobVersionedHashes and authorizationList only when not empty.
 * Addresses are lower case.  On success *outp is a new object (caller frees
 * with json_decref()).  Errors as eth_tx_encode_signed().
 */
int eth_tx_to_json(const struct eth_tx *tx, const uint8_t sig64[64], int recid,
    json_t **outp);

/*
 * Decode a signed raw transaction of type 0-4 (untrusted, borrowed): the
 * exact inverse of eth_tx_encode_signed(), so that re-encoding gives the
 * same bytes.  Only canonical RLP; exactly the fields of the type; the
 * LIMIT_TX_* limits, LIMIT_TX_RAW_BYTES on the whole.  Legacy v must be 27,
 * 28 or at least 35 (EIP-155), typed yParity 0 or 1.  On success *txp is set
 * (caller frees with eth_tx_free()) and sig64 and *recidp are written.  The
 * signature is not checked: eth_tx_recover_sender() does that.
 * Errors: the ERR_RLP_* codes, ERR_TX_TYPE, ERR_TX_INVALID (wrong number of
 * fields, empty input), ERR_TX_BLOB_SIDECAR (the network form of a blob
 * transaction), ERR_SIG_INVALID (v or yParity), ERR_TOO_LONG, ERR_TOO_MANY,
 * ERR_NOMEM.
 */
int eth_tx_decode_signed(const uint8_t *untrusted, size_t len,
    struct eth_tx **txp, uint8_t sig64[64], int *recidp);

/*
 * ecrecover of a signed transaction: the address whose key made sig64 with
 * recovery id recid over eth_tx_signing_hash(tx).
 * Errors: ERR_SIG_INVALID, ERR_SIG_RECOVERY, and those of the signing hash.
 */
int eth_tx_recover_sender(const struct eth_tx *tx, const uint8_t sig64[64],
    int recid, uint8_t addr[ETH_ADDR_LEN]);

/* Blob gas per blob (EIP-4844 GAS_PER_BLOB). */
#define ETH_TX_GAS_PER_BLOB 131072u

/*
 * The most the transaction can take from its sender's balance, in wei:
 * value + gas * (gasPrice for types 0 and 1, maxFeePerGas for types 2-4)
 * + blob count * ETH_TX_GAS_PER_BLOB * maxFeePerBlobGas (type 3).
 * Returns 0 with *cost set, or ERR_UINT256_OVERFLOW when that sum does not
 * fit in 256 bits (*cost is then zero; such a transaction could never be
 * paid, and a caller treats it as exceeding every limit).
 */
int eth_tx_max_cost(const struct eth_tx *tx, struct eth_u256 *cost);

/* Free a transaction and everything it owns; NULL is fine. */
void eth_tx_free(struct eth_tx *tx);

#endif /* ETH_TX_H */
