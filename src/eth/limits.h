/*
 * limits.h - every limit on input that crosses a trust boundary, in one place.
 *
 * Each limit is checked before anything is allocated for the input it bounds.
 * Values are chosen to be far above any legitimate request and far below what
 * would hurt an armhf board with 512 MiB of memory.
 */
#ifndef P11S_LIMITS_H
#define P11S_LIMITS_H

/* hex strings and byte fields */
#define LIMIT_HEX_BYTES           (1024 * 1024)  /* longest hex field, decoded */
#define LIMIT_TX_DATA_BYTES       (1024 * 1024)  /* transaction input/data */
#define LIMIT_SIGN_DATA_BYTES     (1024 * 1024)  /* account_signData payload */

/* RLP */
#define LIMIT_RLP_DEPTH           16             /* list nesting when decoding */

/* transactions */
#define LIMIT_TX_ACCESS_LIST      1024           /* accessList entries */
#define LIMIT_TX_STORAGE_KEYS     4096           /* storage keys over all entries */
#define LIMIT_TX_BLOB_HASHES      64             /* blobVersionedHashes */
#define LIMIT_TX_AUTHORIZATIONS   256            /* authorizationList entries */
#define LIMIT_TX_RAW_BYTES        (2 * 1024 * 1024) /* a signed transaction to decode */

/* EIP-712 */
#define LIMIT_EIP712_TYPES        256            /* declared struct types */
#define LIMIT_EIP712_FIELDS       256            /* fields in one struct type */
#define LIMIT_EIP712_DEPTH        32             /* struct and array nesting of the message */
#define LIMIT_EIP712_ARRAY_DIMS   8              /* dimensions of one array type, T[2][][3] */
#define LIMIT_EIP712_ARRAY_ITEMS  65536          /* items in one array */
#define LIMIT_EIP712_NAME         256            /* length of a type or field name */
#define LIMIT_EIP712_VALUES       (1024 * 1024)  /* values hashed in one message */

/* JSON-RPC */
#define LIMIT_JSON_BODY           (2 * 1024 * 1024)
#define LIMIT_JSON_DEPTH          64
#define LIMIT_JSON_PARAMS         16
#define LIMIT_JSON_BATCH          100

/* policy file */
#define LIMIT_POLICY_BYTES        (1024 * 1024)
#define LIMIT_POLICY_RULES        256
#define LIMIT_POLICY_LIST         1024           /* entries in one match or allow list */
#define LIMIT_POLICY_WINDOW_EVENTS 100000        /* remembered signings per rule */

/* qrexec */
#define LIMIT_QREXEC_DESCRIPTOR   256            /* "service+arg source\0" */
#define LIMIT_QUBE_NAME           31             /* Qubes' own limit on qube names */
#define LIMIT_PROFILE_NAME        31             /* service argument = profile */

#endif /* P11S_LIMITS_H */
