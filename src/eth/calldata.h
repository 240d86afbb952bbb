/*
 * calldata.h - what a transaction's data calls, decoded for the user: the
 * function by its 4-byte selector, from a built-in table of the calls that
 * move tokens (ERC-20, ERC-721, ERC-1155, WETH, Permit2, Safe, multicall),
 * a user's --4bytedb file (Clef's 4byte.json format) and the signature the
 * caller named; its arguments by the signature's ABI types (abi.h).
 *
 * A selector that more than one different signature matches is ambiguous:
 * shown with its candidates, never decoded by a guess.  The result is JSON,
 * the "call" object of docs/api.md ("What the approver receives"):
 *
 *   selector   "0xa9059cbb"
 *   status     "decoded" | "ambiguous" | "unknown" | "undecodable"
 *   signature  canonical signature (decoded, undecodable)
 *   source     "builtin" | "4bytedb" | "caller" (decoded, undecodable)
 *   name       the function's name (decoded)
 *   args       decoded values, abi.h (decoded); a bytes or string value
 *              longer than LIMIT_ABI_SHOWN_BYTES is cut to that many bytes
 *              and gets "bytes" (its whole length) and "truncated": true
 *   summary    one line for the user, "transfer 250.0 of token 0xA0b8…eB48
 *              to 0xd8dA…6045" (decoded, built-in calls only)
 *   unlimited  true for an approval of everything (approve / Permit2 of the
 *              type's maximum, setApprovalForAll true)
 *   candidates the signatures that match (ambiguous)
 *   error      why the data does not decode by the signature (undecodable)
 *   calls      inner calls of Safe execTransaction, multiSend and multicall:
 *              [{"operation": 0 | 1, "to": address, "value_wei": decimal,
 *                "data_bytes": n, "call": <this object>}]; operation 1 is a
 *              delegatecall; each inner call counts against the
 *              LIMIT_ABI_VALUES of the whole call
 *
 * Borrowed inputs; every function returns 0 or a negative ERR_* code
 * (err.h); output pointers are set to NULL on entry and assigned only on
 * success.
 */
#ifndef ETH_CALLDATA_H
#define ETH_CALLDATA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

#include "eth/addr.h"
#include "eth/u256.h"

/* Known signatures: the built-in table plus any loaded; opaque, read-only
 * once built, so threads may share it. */
struct eth_calldata_db;

/* The built-in table.  Caller frees with eth_calldata_db_free(). */
int eth_calldata_db_new(struct eth_calldata_db **dbp);

/*
 * Add a 4byte.json file's contents (untrusted, len bytes, at most
 * LIMIT_4BYTEDB_BYTES): an object from 8 hex digits (no 0x) to a signature,
 * or to an array of signatures, at most LIMIT_4BYTEDB_ENTRIES in all.  Every
 * signature must parse and hash to its key: a file with one that does not is
 * refused whole, why (may be NULL, room ERR_WHY_MAX, core/err.h) naming it.
 * Errors: ERR_4BYTEDB_INVALID, ERR_TOO_LONG, ERR_TOO_MANY, ERR_NOMEM.
 */
int eth_calldata_db_load_4byte(struct eth_calldata_db *db, const char *untrusted,
    size_t len, char why[ERR_WHY_MAX]);

/* Number of signatures, the built-in ones included. */
size_t eth_calldata_db_size(const struct eth_calldata_db *db);

/* Free a table; NULL is fine. */
void eth_calldata_db_free(struct eth_calldata_db *db);

/*
 * Decode a call to `to` (NULL for a contract creation, which is not
 * decoded) of data_len bytes on chain chain_id (for the token names of the
 * summary).  caller_sig (may be NULL) is the signature the caller said the
 * data calls: a candidate like the others when it parses and its selector
 * matches.  *callp is NULL when there is nothing to decode (no to, or fewer
 * than 4 bytes of data); else the object above, caller frees with
 * json_decref().
 * Errors: ERR_NOMEM.
 */
int eth_calldata_decode(const struct eth_calldata_db *db, const struct eth_u256 *chain_id,
    const uint8_t *to, const uint8_t *data, size_t data_len, const char *caller_sig,
    json_t **callp);

#endif /* ETH_CALLDATA_H */
