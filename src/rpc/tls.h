/*
 * tls.h - the certificates of mutual TLS in network mode (docs/tls.md):
 * making a key pair and a self-signed certificate, fingerprints, pins.
 *
 * Both ends of a link (the signer's HTTP listener, the relay) have a key and a
 * self-signed certificate made by rpc_tls_init().  Neither trusts a CA: each
 * pins the other's certificate by its fingerprint.
 *
 * A fingerprint is written "sha256:" followed by 64 lower-case hex digits: the
 * SHA-256 of the certificate's DER encoding (the whole certificate as it sits
 * between the PEM armour, base64-decoded), the same bytes that
 *     openssl x509 -noout -fingerprint -sha256 -in FILE.crt
 *     certtool --fingerprint --hash sha256 --infile FILE.crt
 * hash; openssl prints it upper-case with colons, which
 * rpc_tls_fingerprint_parse() accepts too.  It is not a hash of the public key
 * alone (which is what curl's --pinnedpubkey takes).
 *
 * Keys are ECDSA on P-256 (secp256r1) with SHA-256 signatures: what GnuTLS
 * (libmicrohttpd's TLS), OpenSSL (libcurl's TLS on Debian) and every other TLS
 * library handles in TLS 1.2 and 1.3.  Key files are unencrypted PKCS#8 PEM
 * ("BEGIN PRIVATE KEY"), mode 0600; certificate files are PEM, mode 0644.
 *
 * Functions return 0 or a negative ERR_* code (src/core/err.h).  Output buffers
 * are written only on success.  No function keeps a pointer it was given.
 */
#ifndef RPC_TLS_H
#define RPC_TLS_H

#include <stddef.h>

#define RPC_TLS_FP_BYTES	32	/* SHA-256 */
#define RPC_TLS_FP_SIZE		72	/* "sha256:" + 64 hex digits + NUL */
#define RPC_TLS_LIMIT_PEM	(64 * 1024)	/* a key or certificate file we read */
#define RPC_TLS_LIMIT_NAME	64	/* NAME of rpc_tls_init() */

/*
 * `p11signer tls init`: the usage text, for the subcommand to print as is.
 */
extern const char rpc_tls_init_usage[];

/*
 * Make a new ECDSA P-256 key and a self-signed certificate for it (subject
 * CN=NAME, no expiry as RFC 5280 allows (99991231235959Z): the pin is the
 * trust, not a date), and write DIR/NAME.key (0600) and DIR/NAME.crt (0644).
 * Existing files are never overwritten.  On success the certificate's
 * fingerprint is written to fingerprint.
 *
 * NAME: 1 to RPC_TLS_LIMIT_NAME of [A-Za-z0-9_.-], not starting with '.' or '-'.
 * Errors: ERR_INVALID_ARGUMENT (bad NAME, DIR NULL), ERR_IO (a file cannot be
 * created or written; errno says why: EEXIST when it exists already, ENOENT
 * when DIR does not; nothing is left behind), ERR_INTERNAL (GnuTLS failed).
 */
int rpc_tls_init(const char *dir, const char *name, char fingerprint[RPC_TLS_FP_SIZE]);

/* The fingerprint of a certificate in DER (the bytes are hashed as given). */
int rpc_tls_fingerprint_der(const void *der, size_t len, char out[RPC_TLS_FP_SIZE]);

/*
 * The fingerprint of the first certificate in PEM text (text before the
 * "-----BEGIN CERTIFICATE-----" line is skipped).  ERR_INVALID_ARGUMENT when
 * there is none or it is not an X.509 certificate.
 */
int rpc_tls_fingerprint_pem(const char *pem, size_t len, char out[RPC_TLS_FP_SIZE]);

/* The same for a PEM file (at most RPC_TLS_LIMIT_PEM bytes; ERR_IO if unreadable). */
int rpc_tls_fingerprint_file(const char *path, char out[RPC_TLS_FP_SIZE]);

/*
 * Parse a pin: "sha256:" (any case) then 64 hex digits, or 32 colon-separated
 * pairs (openssl's form, after its "SHA256 Fingerprint=" has been replaced by
 * "sha256:"), any case.  Nothing else, no white space.  Writes the 32 bytes.
 * ERR_INVALID_ARGUMENT otherwise.
 */
int rpc_tls_fingerprint_parse(const char *untrusted_text, unsigned char out[RPC_TLS_FP_BYTES]);

/* Write the canonical text form ("sha256:" + lower-case hex) of 32 bytes. */
void rpc_tls_fingerprint_format(const unsigned char fp[RPC_TLS_FP_BYTES], char out[RPC_TLS_FP_SIZE]);

/* 1 when fp (canonical text or any form rpc_tls_fingerprint_parse() takes)
 * is one of npins parsed pins, else 0. */
int rpc_tls_pin_match(const char *fp, const unsigned char (*pins)[RPC_TLS_FP_BYTES], size_t npins);

/*
 * Read a PEM file whole into a NUL-terminated buffer (*pemp, length *lenp).
 * With is_key set the file must be a regular file not readable or writable by
 * group or others (as ssh requires of its keys): ERR_INVALID_ARGUMENT, errno
 * EPERM, otherwise.  ERR_TOO_LONG past RPC_TLS_LIMIT_PEM; ERR_IO when
 * unreadable (errno says why).  Caller frees with rpc_tls_pem_free(), which
 * wipes the buffer first.
 */
int rpc_tls_pem_read(const char *path, int is_key, char **pemp, size_t *lenp);

/* Wipe and free a buffer from rpc_tls_pem_read(); accepts NULL. */
void rpc_tls_pem_free(char *pem, size_t len);

#endif /* RPC_TLS_H */
