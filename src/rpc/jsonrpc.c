#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "rpc/jsonrpc.h"

#define P11S_STR_(x) #x
#define P11S_STR(x) P11S_STR_(x)

int
rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

/*
 * Walk buf as JSON text, outside strings counting bracket depth.  Stops at
 * the end of the first top-level value when stop_at_end is set.  Sets *endp
 * to the offset just past that value (0 when there is none yet).  With
 * count_values it also counts values and keys (each '[', '{', ',' and ':'
 * outside strings starts one more), which bounds what the parser allocates:
 * about 50 bytes each, where the body's size alone would let 2 MB of "0,"
 * cost 50 MB.
 */
static int
jsonrpc_measure_text(const char *buf, size_t len, int stop_at_end, int count_values, size_t *endp)
{
	size_t i, depth = 0, values = 1;
	int in_string = 0, escaped = 0;

	*endp = 0;
	for (i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (c == '\\')
				escaped = 1;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (count_values && (c == ',' || c == ':') && ++values > LIMIT_JSON_VALUES) {
			return ERR_TOO_MANY;
		} else if (c == '[' || c == '{') {
			if (++depth > LIMIT_JSON_DEPTH)
				return ERR_TOO_DEEP;
			if (count_values && ++values > LIMIT_JSON_VALUES)
				return ERR_TOO_MANY;
		} else if ((c == ']' || c == '}') && depth > 0) {
			if (--depth == 0 && stop_at_end) {
				*endp = i + 1;
				return 0;
			}
		}
	}
	return 0;
}

int
rpc_jsonrpc_precheck(const char *untrusted_body, size_t len)
{
	size_t end;

	if (len > LIMIT_JSON_BODY)
		return ERR_TOO_LONG;
	/*
	 * jansson's parser recurses once per level up to a compile-time 2048;
	 * our limit is far lower and is checked before any allocation.
	 */
	return jsonrpc_measure_text(untrusted_body, len, 0, 0, &end);
}

int
rpc_jsonrpc_precheck_request(const char *untrusted_body, size_t len)
{
	size_t end;

	if (len > LIMIT_JSON_BODY)
		return ERR_TOO_LONG;
	return jsonrpc_measure_text(untrusted_body, len, 0, 1, &end);
}

const char *
rpc_jsonrpc_precheck_str(int r)
{
	/* The number is the limit's, so a client can tell which one it hit. */
	if (r == ERR_TOO_MANY)
		return "too many items: more than " P11S_STR(LIMIT_JSON_VALUES) " JSON values";
	return err_str(r);
}

int
rpc_jsonrpc_frame(const char *untrusted_buf, size_t len, size_t *framep)
{
	size_t skip = 0, end;
	int r;

	*framep = 0;
	while (skip < len && (untrusted_buf[skip] == ' ' || untrusted_buf[skip] == '\t' ||
	    untrusted_buf[skip] == '\r' || untrusted_buf[skip] == '\n'))
		skip++;
	if (skip == len)
		return 0;
	if (untrusted_buf[skip] != '{' && untrusted_buf[skip] != '[')
		return ERR_JSON_PARSE;
	if ((r = jsonrpc_measure_text(untrusted_buf + skip, len - skip, 1, 0, &end)) != 0)
		return r;
	*framep = end != 0 ? skip + end : 0;
	return 0;
}

json_t *
rpc_jsonrpc_error_response(const json_t *id, int code, const char *message)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
	    "id", id != NULL ? id : json_null(), "error", "code", code,
	    "message", message);
}

static json_t *
result_response(const json_t *id, json_t *result)
{
	/* Steals result. */
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

static const struct rpc_method *
find_method(const struct rpc_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->methods[i].name, name) == 0)
			return &t->methods[i];
	return NULL;
}

/* One request object; NULL when it is a notification (no id). */
static json_t *
handle_one(const struct rpc_table *t, void *call_ctx, const json_t *untrusted_req)
{
	const json_t *id, *version, *method, *params;
	const struct rpc_method *m;
	struct rpc_error err = { 0, "" };
	json_t *result = NULL, *empty = NULL, *resp;
	int notification;

	if (!json_is_object(untrusted_req))
		return rpc_jsonrpc_error_response(NULL, RPC_ERR_INVALID_REQUEST, "invalid request");
	id = json_object_get(untrusted_req, "id");
	notification = id == NULL;
	version = json_object_get(untrusted_req, "jsonrpc");
	method = json_object_get(untrusted_req, "method");
	params = json_object_get(untrusted_req, "params");
	/* An id must be a string, a number or null, as JSON-RPC 2.0 says. */
	if (id != NULL && !json_is_string(id) && !json_is_number(id) && !json_is_null(id))
		return rpc_jsonrpc_error_response(NULL, RPC_ERR_INVALID_REQUEST, "invalid request");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0 ||
	    !json_is_string(method) || json_string_length(method) == 0)
		return rpc_jsonrpc_error_response(id, RPC_ERR_INVALID_REQUEST, "invalid request");
	if (params != NULL && !json_is_null(params) && !json_is_array(params))
		return rpc_jsonrpc_error_response(id, RPC_ERR_INVALID_PARAMS, "non-array args");
	if (params != NULL && json_is_array(params) && json_array_size(params) > LIMIT_JSON_PARAMS)
		return rpc_jsonrpc_error_response(id, RPC_ERR_INVALID_PARAMS, "too many arguments");
	if (params == NULL || json_is_null(params))
		params = empty = json_array();
	if ((m = find_method(t, json_string_value(method))) == NULL) {
		/* The name is echoed as geth does; jansson escapes it on output. */
		char msg[160];
		snprintf(msg, sizeof(msg), "the method %.100s does not exist/is not available",
		    json_string_value(method));
		resp = rpc_jsonrpc_error_response(id, RPC_ERR_METHOD_NOT_FOUND, msg);
		goto out;
	}
	if (m->fn(t->ctx, call_ctx, params, &result, &err) != 0 || result == NULL) {
		if (err.code == 0)
			rpc_error_set(&err, RPC_ERR_INTERNAL, "internal error");
		json_decref(result);
		resp = rpc_jsonrpc_error_response(id, err.code, err.message);
		goto out;
	}
	resp = result_response(id, result);
 out:
	json_decref(empty);
	if (notification) {
		json_decref(resp);
		return NULL;
	}
	return resp;
}

json_t *
rpc_jsonrpc_dispatch(const struct rpc_table *t, void *call_ctx, const json_t *req)
{
	json_t *resp, *one;
	size_t i;

	if (!json_is_array(req))
		return handle_one(t, call_ctx, req);
	if (json_array_size(req) == 0)
		return rpc_jsonrpc_error_response(NULL, RPC_ERR_INVALID_REQUEST, "empty batch");
	if (json_array_size(req) > LIMIT_JSON_BATCH)
		return rpc_jsonrpc_error_response(NULL, RPC_ERR_INVALID_REQUEST, "batch too large");
	resp = json_array();
	for (i = 0; i < json_array_size(req); i++)
		if ((one = handle_one(t, call_ctx, json_array_get(req, i))) != NULL)
			json_array_append_new(resp, one);
	if (json_array_size(resp) == 0) {
		json_decref(resp);
		resp = NULL;
	}
	return resp;
}

json_t *
rpc_jsonrpc_handle(const struct rpc_table *t, void *call_ctx,
    const char *untrusted_body, size_t len)
{
	json_t *req, *resp;
	json_error_t jerr;
	int r;

	if ((r = rpc_jsonrpc_precheck_request(untrusted_body, len)) != 0)
		return rpc_jsonrpc_error_response(NULL, r == ERR_TOO_LONG || r == ERR_TOO_MANY ?
		    RPC_ERR_INVALID_REQUEST : RPC_ERR_PARSE, rpc_jsonrpc_precheck_str(r));
	req = json_loadb(untrusted_body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (req == NULL)
		return rpc_jsonrpc_error_response(NULL, RPC_ERR_PARSE, "parse error");
	resp = rpc_jsonrpc_dispatch(t, call_ctx, req);
	json_decref(req);
	return resp;
}

char *
rpc_jsonrpc_handle_str(const struct rpc_table *t, void *call_ctx,
    const char *untrusted_body, size_t len)
{
	json_t *resp = rpc_jsonrpc_handle(t, call_ctx, untrusted_body, len);
	char *s;

	if (resp == NULL)
		return NULL;
	s = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(resp);
	return s;
}
