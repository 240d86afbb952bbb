/*
 * jsonrpc.h - JSON-RPC 2.0 framing: untrusted request bodies in, responses out.
 *
 * rpc_jsonrpc_handle() takes one HTTP body, socket message or stdio line as
 * it came from a caller, checks its size and nesting against LIMIT_JSON_* in
 * src/core/limits.h before any JSON is built, parses it strictly (valid UTF-8,
 * no repeated keys, no NUL), and calls the method named by each request from
 * a table the caller supplies.  It returns the response to send: an object,
 * an array for a batch, or NULL when there is nothing to send (only
 * notifications).  Transport code never looks inside the JSON.
 *
 * Errors follow go-ethereum's rpc package (what Clef clients expect):
 * -32700 parse error, -32600 invalid request, -32601 method not found,
 * -32602 invalid params, and method-defined codes (Clef uses -32000).
 */
#ifndef RPC_JSONRPC_H
#define RPC_JSONRPC_H

#include <stddef.h>
#include <jansson.h>

#define RPC_ERR_PARSE            (-32700)
#define RPC_ERR_INVALID_REQUEST  (-32600)
#define RPC_ERR_METHOD_NOT_FOUND (-32601)
#define RPC_ERR_INVALID_PARAMS   (-32602)
#define RPC_ERR_INTERNAL         (-32603)
#define RPC_ERR_SERVER           (-32000)	/* Clef's code for refusals */

struct rpc_error {
	int code;
	char message[512];
};

/* Set err to code and a printf-style message; returns code (for `return rpc_error_set(...)`). */
int rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A method.  params is the request's positional parameters (always an array,
 * possibly empty; borrowed).  ctx is the table's context; call_ctx is what the
 * transport passed for this body (the caller's identity and metadata).  On
 * success the method sets *resultp to a new reference (json_null() for no
 * value) and returns 0; on failure it fills err and returns its code.
 */
typedef int (*rpc_method_fn)(void *ctx, void *call_ctx, const json_t *params,
    json_t **resultp, struct rpc_error *err);

struct rpc_method {
	const char *name;
	rpc_method_fn fn;
};

struct rpc_table {
	const struct rpc_method *methods;
	size_t n;
	void *ctx;
};

/*
 * Check size and depth of an untrusted body without parsing it.  Returns 0,
 * ERR_TOO_LONG or ERR_TOO_DEEP.  (Answers from a node, which the relay
 * reads, may hold any number of values.)
 */
int rpc_jsonrpc_precheck(const char *untrusted_body, size_t len);

/*
 * The same for a request to the signer, which also may hold at most
 * LIMIT_JSON_VALUES values and object keys: ERR_TOO_MANY.  Checked without
 * parsing or allocating, before any request is parsed.
 */
int rpc_jsonrpc_precheck_request(const char *untrusted_body, size_t len);

/* The message for a precheck error, naming the limit when it is a count;
 * never NULL. */
const char *rpc_jsonrpc_precheck_str(int r);

/*
 * For stream transports (IPC): the length of the first complete top-level
 * object or array at the start of buf, after leading white space; 0 when it
 * is not complete yet.  Returns ERR_TOO_DEEP past LIMIT_JSON_DEPTH and
 * ERR_JSON_PARSE when the stream does not start with '{' or '['.
 */
int rpc_jsonrpc_frame(const char *untrusted_buf, size_t len, size_t *framep);

/* Handle one body.  Returns a new reference, or NULL for nothing to send. */
json_t *rpc_jsonrpc_handle(const struct rpc_table *table, void *call_ctx,
    const char *untrusted_body, size_t len);

/* Dispatch an already parsed request or batch (borrowed); as rpc_jsonrpc_handle. */
json_t *rpc_jsonrpc_dispatch(const struct rpc_table *table, void *call_ctx,
    const json_t *untrusted_req);

/* The same, serialised compactly; NULL for nothing to send.  Caller frees with free(). */
char *rpc_jsonrpc_handle_str(const struct rpc_table *table, void *call_ctx,
    const char *untrusted_body, size_t len);

/* {"jsonrpc":"2.0","id":id,"error":{code,message}}; id borrowed (NULL → null). */
json_t *rpc_jsonrpc_error_response(const json_t *id, int code, const char *message);

#endif /* RPC_JSONRPC_H */
