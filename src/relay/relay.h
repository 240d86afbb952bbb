/*
 * relay.h - p11signer-relay, the bridge in the networked qube (or on the host
 * of a USB armory): HTTP in, the vault's signer out.
 *
 * Each POST body is checked (size, nesting, JSON) here first, so the vault
 * never sees what is not JSON-RPC, then forwarded:
 *
 *   qrexec mode   `qrexec-client-vm VAULT p11signer.Sign+PROFILE` with the
 *                 envelope below on its stdin; its stdout is the answer.
 *                 With qrexec_idle_s, many envelopes travel framed on one
 *                 such call (relay/qrexec_pool.h); the exit statuses below
 *                 mean the same when a call ends without answering.
 *   upstream mode an HTTP(S) POST with libcurl to a network-integrated vault
 *                 or an armory (--upstream-signer URL).
 *
 * The envelope carries what the dapp's HTTP request claimed, for the vault to
 * show as untrusted metadata; the vault takes the caller's identity from
 * qrexec, never from here:
 *   {"p11signer_envelope":1,
 *    "metadata":{"origin":..,"host":..,"user_agent":..,"remote":..},
 *    "request":<the JSON-RPC body>}
 *
 * Mutual TLS in upstream mode (docs/tls.md): with tls_cert/tls_key the relay
 * presents that client certificate (libcurl CURLOPT_SSLCERT/SSLKEY); with
 * tls_server_fingerprint it pins the signer's certificate: the SHA-256 of its
 * DER certificate (rpc/tls.h), compared after the TLS handshake and before a
 * single byte of HTTP is sent (CURLOPT_PREREQFUNCTION reading
 * CURLINFO_CERTINFO), so an unpinned server gets neither the body nor the
 * headers.  CA and host-name checks are off then: the pin replaces them.
 * Why this and not CURLOPT_PINNEDPUBLICKEY: that pins a hash of the public
 * key alone, a different number from the certificate fingerprint that
 * `p11signer tls init`, openssl and certtool show and the signer pins; and
 * CURLINFO_CERTINFO after curl_easy_perform() would be too late (the body
 * would be gone).  The pre-request hook needs no TLS-library code of ours,
 * so it works with curl built on OpenSSL or GnuTLS alike; a curl that gives
 * no certificate info fails closed.  TLS options need an https:// upstream,
 * and a client certificate needs the server pinned.
 *
 * Failures become JSON-RPC errors with the request's id: qrexec's exit 126
 * (refused by policy) -32001, 127 (no such service in the vault, or the
 * socket it names is gone) -32002, 125 (the vault's agent could not connect
 * to the socket: stale, or refused to the user it connected as) and other
 * failures -32003, no answer in time -32004, an answer that is
 * not JSON -32005, TLS with the upstream signer failing -32006 (its server
 * certificate is not the pinned one: nothing was sent; or the signer refused
 * the handshake, most often because this relay's certificate is not pinned
 * there; or this relay's own certificate or key cannot be used).  Details go
 * to stderr.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stddef.h>
#include "rpc/caller.h"

#define RELAY_ERR_POLICY_DENIED   (-32001)
#define RELAY_ERR_NO_SERVICE      (-32002)
#define RELAY_ERR_QREXEC          (-32003)
#define RELAY_ERR_TIMEOUT         (-32004)
#define RELAY_ERR_BAD_ANSWER      (-32005)
#define RELAY_ERR_TLS             (-32006)

struct relay_config {
	const char *vault;		/* qrexec mode: the vault qube, or "@default" */
	const char *profile;		/* qrexec service argument; "default" when NULL */
	const char *qrexec_client;	/* default /usr/bin/qrexec-client-vm */
	const char *upstream;		/* upstream mode: URL; vault must then be NULL */
	unsigned timeout_s;		/* per request, approvals included; 0: 300 */
	/* upstream mode over mutual TLS; NULL: none (plain https:// checks the
	 * server against the system's CAs as before) */
	const char *tls_cert;		/* this relay's PEM certificate */
	const char *tls_key;		/* its PEM key */
	const char *tls_server_fingerprint;	/* "sha256:HEX" of the signer's certificate */
	/* qrexec mode: keep calls open and carry framed requests on them
	 * (relay/qrexec_pool.h), closed after this many seconds idle or old;
	 * 0: one qrexec call per request */
	unsigned qrexec_idle_s;
};

/*
 * Forward one body; the signature fits rpc_http_body_fn with ctx a
 * struct relay_config *.  Returns the answer to send (malloc'ed).
 */
char *relay_forward(void *ctx, const struct rpc_caller *caller,
    const char *untrusted_body, size_t len, unsigned *statusp);

/* Check a configuration; 0, or ERR_INVALID_ARGUMENT with why filled in. */
int relay_config_check(const struct relay_config *cfg, char *why, size_t whylen);

#endif /* RELAY_RELAY_H */
