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
 * are capped.
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
	unsigned max_connections;	/* 0: 64 */
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
 * struct rpc_caller * (rpc/caller.h) of kind RPC_CALLER_TCP.  Caller frees
 * with rpc_http_stop().  Errors: ERR_INVALID_ARGUMENT (bad address),
 * ERR_IO (cannot bind), ERR_NOMEM.
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
