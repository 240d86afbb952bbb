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
#define LIMIT_EIP712_VALUES       16384          /* values and tree nodes hashed and shown, one request */

/* call data decoding (src/eth/abi.h, src/eth/calldata.h) */
#define LIMIT_ABI_SIGNATURE       1024           /* bytes of one function signature */
#define LIMIT_ABI_PARAMS          64             /* parameters of a function or components of a tuple */
#define LIMIT_ABI_DEPTH           8              /* nesting of tuples and arrays in one type */
#define LIMIT_ABI_FIXED_ARRAY     1024           /* N of a T[N] type */
#define LIMIT_ABI_VALUES          4096           /* values decoded from one call, inner calls included */
#define LIMIT_ABI_INNER_CALLS     256            /* calls in one multiSend or multicall */
#define LIMIT_ABI_CALL_NESTING    3              /* inner calls decoded within inner calls */
#define LIMIT_ABI_SHOWN_BYTES     1024           /* of one bytes or string value shown; the rest is cut */
#define LIMIT_4BYTEDB_BYTES       (64 * 1024 * 1024) /* a --4bytedb file */
#define LIMIT_4BYTEDB_ENTRIES     1000000        /* signatures in a --4bytedb file */

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

/* the relay's eth_* endpoint (src/relay/eth.h, node.h) */
#define LIMIT_NODE_CONNECT_S      5              /* connecting to the user's node */
#define LIMIT_NONCE_ADDRESSES     256            /* sending addresses remembered */
#define LIMIT_NONCE_RELEASED      64             /* given-back nonces kept per address */

/* qrexec */
#define LIMIT_QREXEC_DESCRIPTOR   256            /* "service+arg source\0" */
#define LIMIT_QUBE_NAME           31             /* Qubes' own limit on qube names */
#define LIMIT_PROFILE_NAME        31             /* service argument = profile */

/* framed qrexec connections (src/rpc/qrexec.h, docs/qubes.md): the vault
 * bounds how long one dom0 decision is used, whatever the calling qube does */
#define LIMIT_QREXEC_CONN_IDLE_S  60             /* no request for this long: closed */
#define LIMIT_QREXEC_CONN_LIFE_S  60             /* no new request read after this */

/* token protocol (src/p11/proto.h, docs/token-protocol.md); both sides check
 * them when decoding and when encoding.  The frame cap is set so that a key
 * list at every other cap still fits in one frame.  A URI, a key id and a
 * PIN on the wire are bounded by LIMIT_P11_URI, LIMIT_P11_KEY_ID and
 * LIMIT_P11_PIN below, the same as in the token layer. */
#define LIMIT_PROTO_FRAME         (2 * 1024 * 1024) /* bytes after the length prefix */
#define LIMIT_PROTO_TEXT          256            /* a label, manufacturer, model, serial, message */
#define LIMIT_PROTO_TOKENS        64             /* slots/tokens in one key list */
#define LIMIT_PROTO_KEYS          1024           /* keys in one key list, over all its tokens */

/* PKCS#11 token access (src/p11/token.h): what a module or a pin-source may
 * hand us.  A value over its limit is refused (a key over it is not offered). */
#define LIMIT_P11_SLOTS           64             /* slots of one module */
#define LIMIT_P11_OBJECTS         256            /* key objects of each class on one token */
#define LIMIT_P11_ATTR_BYTES      1024           /* one attribute value read from a token */
#define LIMIT_P11_LABEL           256            /* CKA_LABEL bytes */
#define LIMIT_P11_KEY_ID          256            /* CKA_ID bytes */
#define LIMIT_P11_URI             1024           /* a pkcs11: URI, given or made */
#define LIMIT_P11_URIS            64             /* URIs selecting keys in one module */
#define LIMIT_P11_PIN             128            /* PIN bytes, from any source */
#define LIMIT_P11_SIG_BYTES       512            /* a signature as the token returns it */
#define LIMIT_P11_SESSIONS        16             /* sessions in one token's pool */
#define LIMIT_P11_ALLOWED_DIRS    32             /* module directory prefixes */
#define LIMIT_P11_KEY_HANDLES     65536          /* keys the token helper gives a handle while it runs */
/* signing requests waiting for a session of one token (src/p11/token_pool.c
 * tok_acquire): one more gets ERR_P11_TOKEN_BUSY at once.  4 x the default
 * pool of 2 sessions: a caller waits at most that many signatures (0.6 s on
 * a YubiHSM 2).  The token helper has 2 x (sessions + this) workers
 * (src/cmd/p11signer-token.c), so one slow token leaves half to the others. */
#define LIMIT_P11_TOKEN_WAITERS   8
/* p11-kit's configuration, read to resolve --module NAME (src/p11/registry.c) */
#define LIMIT_P11_CONF_BYTES      65536          /* one pkcs11.conf or NAME.module file */

/* connections (src/rpc/http.c, src/rpc/unixsrv.c): how long and how many a
 * peer may hold.  Deadlines are absolute: a byte now and then does not move
 * them, so a slow sender cannot keep a connection for longer. */
#define LIMIT_HTTP_CONNECTIONS    64             /* open HTTP connections, default */
#define LIMIT_HTTP_PER_ADDR       16             /* open HTTP connections from one address */
#define LIMIT_HTTP_HEADER_SECONDS 10             /* connection open (or last answer) to end of headers */
#define LIMIT_HTTP_BODY_SECONDS   30             /* end of headers to end of body */
#define LIMIT_UNIX_CONNECTIONS    64             /* open IPC or qrexec socket connections */
#define LIMIT_UNIX_REQUEST_SECONDS 30            /* first byte of a request to its end */

/* memory and work per request, before approval is asked (docs/api.md, Limits).
 * Parsing costs about 50 bytes per JSON value, and the tree an approver is
 * shown about 500 per EIP-712 value: the counts, not the body size, bound
 * memory.  Typed data is held from decoding until its approval ends, so how
 * many are held at once is bounded too. */
#define LIMIT_JSON_VALUES         65536          /* JSON values and keys in one body, counted before parsing;
                                                  * a plain number: its digits are in an error message */
#define LIMIT_EIP712_SHOWN_BYTES  (1024 * 1024)  /* text of the values shown for one typed-data request */
#define LIMIT_TYPED_DATA_AT_ONCE  2              /* typed-data requests decoded or awaiting approval */
#define LIMIT_TYPED_DATA_WAIT_SECONDS 10         /* a further one waits this long for its turn, then is refused */

/* core/log: a log line, prefix and newline included; longer ones are cut. */
#define LIMIT_LOG_LINE 1024

#endif /* P11S_LIMITS_H */
