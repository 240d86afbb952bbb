/* Fuzz target: JSON-RPC framing and dispatch, stream framing included. */
#include <stdint.h>
#include <stdlib.h>

#include "rpc/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
m_echo(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	*resultp = json_deep_copy(params);
	return 0;
}

static int
m_fail(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	return rpc_error_set(err, RPC_ERR_SERVER, "Request denied");
}

static const struct rpc_method methods[] = { { "a_echo", m_echo }, { "a_fail", m_fail } };
static const struct rpc_table table = { methods, 2, NULL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, frame;

	free(rpc_jsonrpc_handle_str(&table, NULL, (const char *)data, size));
	while (off < size && rpc_jsonrpc_frame((const char *)data + off, size - off, &frame) == 0 && frame > 0) {
		if (frame > size - off)
			abort();
		free(rpc_jsonrpc_handle_str(&table, NULL, (const char *)data + off, frame));
		off += frame;
	}
	return 0;
}
