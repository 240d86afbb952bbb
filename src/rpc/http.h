/*
 * http.h - the JSON-RPC endpoint over HTTP, served by GNU libmicrohttpd.
 *
 * Behaves as go-ethereum's HTTP endpoint does, which Clef clients expect:
 * POST with Content-Type application/json (or application/json-rpc,
 * application/jsonrequest; parameters such as charset allowed) carries one
 * JSON-RPC body; GET or HEAD with no body and no query is a health check
 * answered 200; a Host header naming a host outside the vhost list is refused
 * 403 (hosts given as IP addresses always pass, as in geth, because the check
 * exists against DNS rebinding); bodies over LIMIT_JSON_BODY are refused 413
 * before they are read in full; other content types 415; other methods 405.
 * CORS headers are sent only for origins in the configured list.
 *
 * One thread per connection, so a request that waits for a person never
 * blocks another connection.  Header memory, connection count and idle time
 * are capped, and so are the connections from one peer address.  Each
 * connection has absolute deadlines that bytes arriving do not move: its
 * request headers must be in within header_deadline_s of it opening (or of
 * the previous answer on it), and the body within body_deadline_s of the
 * headers; a connection past its deadline is shut down.  The time a request
 * waits for approval and its answer being sent are not bounded here.
 *
 * Headers that could be read two ways are refused 400 before any body is
 * read: Content-Length twice, Transfer-Encoding twice or with
 * Content-Length, Host twice, a Host that is not HOST or HOST:PORT (or
 * [V6]:PORT).  libmicrohttpd runs at its strictest client discipline
 * (MHD_OPTION_STRICT_FOR_CLIENT 1: an HTTP/1.1 request must carry Host).
 *
 * Mutual TLS (network mode, docs/tls.md): with tls_cert_file set the listener
 * speaks TLS 1.2 or 1.3 only, with its certificate and key, and requires a
 * client certificate whose fingerprint (rpc/tls.h: SHA-256 of the DER
 * certificate) is one of tls_client_pins.  The check runs inside the TLS
 * handshake: a caller with no certificate, another certificate, or plain
 * HTTP fails the handshake and no HTTP request of it is ever read.  Each
 * refusal is logged on stderr with the peer address and the fingerprint
 * presented.  Every request is checked against the pins again, from the
 * session, before its body is read (403 if it fails: a second lock should
 * the handshake hook ever not be installed).  The caller of a TLS request has
 * id = the peer address, as without TLS, and tls_client = the fingerprint
 * (rpc/caller.h).  No CA is involved; certificate dates are not checked.
 */
#ifndef RPC_HTTP_H
#define RPC_HTTP_H

#include <stddef.h>
#include "rpc/jsonrpc.h"

struct rpc_http_config {
	const char *addr;		/* numeric IPv4 or IPv6 address to bind */
	unsigned port;			/* 0 picks a free port (tests) */
	const char *const *vhosts;	/* allowed Host names; "*" allows any */
	size_t nvhosts;
	const char *const *cors;	/* allowed Origins; none: no CORS headers */
	size_t ncors;
	unsigned idle_timeout_s;	/* 0: 30 s */
	unsigned max_connections;	/* 0: LIMIT_HTTP_CONNECTIONS */
	/* Mutual TLS; all NULL/0: plain HTTP.  Files are read once, at start. */
	const char *tls_cert_file;	/* PEM certificate of this listener */
	const char *tls_key_file;	/* its PEM key; mode 0600 or stricter */
	const char *const *tls_client_pins;	/* "sha256:HEX" of each client
						 * certificate allowed; at least one */
	size_t ntls_client_pins;
	/* Bounds on slow or many connections; 0: the default in core/limits.h. */
	unsigned max_per_addr;		/* 0: LIMIT_HTTP_PER_ADDR */
	unsigned header_deadline_s;	/* 0: LIMIT_HTTP_HEADER_SECONDS */
	unsigned body_deadline_s;	/* 0: LIMIT_HTTP_BODY_SECONDS */
};

struct rpc_http;
struct rpc_caller;

/*
 * What to do with one accepted POST body (its size, content type and host
 * already checked).  Returns the response body (malloc'ed; the server frees
 * it) and sets *statusp (200 unless set); NULL for an empty 200 response.
 */
typedef char *(*rpc_http_body_fn)(void *ctx, const struct rpc_caller *caller,
    const char *untrusted_body, size_t len, unsigned *statusp);

/*
 * Start serving table on cfg's address.  call_ctx of each method call is a
 * struct rpc_caller * (rpc/caller.h) of kind RPC_CALLER_TCP.  cfg's strings
 * and lists are borrowed and must outlive the server (the pins are copied).
 * Caller frees with rpc_http_stop().  Errors: ERR_INVALID_ARGUMENT (bad
 * address; a TLS certificate without key or the other way round, no pins or
 * a pin that does not parse, pins without TLS, a key file that group or
 * others may read), ERR_IO (cannot bind; cannot read a TLS file, or GnuTLS
 * refuses it), ERR_TOO_LONG (a TLS file over RPC_TLS_LIMIT_PEM), ERR_NOMEM.
 * A TLS configuration error is also explained on stderr.
 */
int rpc_http_start(const struct rpc_http_config *cfg, const struct rpc_table *table,
    struct rpc_http **outp);

/* The same, with each body handed to fn (the relay forwards bodies as they are). */
int rpc_http_start_fn(const struct rpc_http_config *cfg, rpc_http_body_fn fn, void *ctx,
    struct rpc_http **outp);

/* The port actually bound. */
unsigned rpc_http_port(const struct rpc_http *h);

/* Stop serving and free; accepts NULL. */
void rpc_http_stop(struct rpc_http *h);

#endif /* RPC_HTTP_H */
