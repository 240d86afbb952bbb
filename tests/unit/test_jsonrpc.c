/* JSON-RPC framing (src/rpc/jsonrpc): every body gets its exact response. */
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "rpc/jsonrpc.h"
#include "tvec.h"

static int
m_echo(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	/* A params array nested to the limit answers "nested". */
	const json_t *p = params;
	int depth = 0;

	while (json_is_array(p) && json_array_size(p) == 1 && json_is_array(json_array_get(p, 0))) {
		p = json_array_get(p, 0);
		depth++;
	}
	*resultp = depth > 8 ? json_string("nested") : json_deep_copy(params);
	return 0;
}

static int
m_fail(void *ctx, void *call_ctx, const json_t *params, json_t **resultp, struct rpc_error *err)
{
	return rpc_error_set(err, RPC_ERR_SERVER, "Request denied");
}

static const struct rpc_method methods[] = {
	{ "test_echo", m_echo },
	{ "test_fail", m_fail },
};
static const struct rpc_table table = { methods, 2, NULL };

/* The body of a case: literal, hex, or generated to a size, depth or batch length. */
static char *
make_body(const json_t *c, size_t *lenp)
{
	json_t *v;
	char *b;
	size_t i, n;

	if ((v = json_object_get(c, "body")) != NULL) {
		*lenp = json_string_length(v);
		b = malloc(*lenp + 1);
		memcpy(b, json_string_value(v), *lenp + 1);
		return b;
	}
	if ((v = json_object_get(c, "body_hex")) != NULL)
		return (char *)tvec_hex(json_string_value(v), lenp);
	if ((v = json_object_get(c, "size")) != NULL) {
		n = (size_t)json_integer_value(v);
		b = malloc(n + 1);
		memset(b, ' ', n);
		b[n] = 0;
		*lenp = n;
		return b;
	}
	if ((v = json_object_get(c, "batch")) != NULL) {
		static const char one[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\"},";
		n = (size_t)json_integer_value(v);
		b = malloc(n * strlen(one) + 3);
		strcpy(b, "[");
		for (i = 0; i < n; i++)
			strcat(b, one);
		b[strlen(b) - 1] = ']';
		*lenp = strlen(b);
		return b;
	}
	if ((v = json_object_get(c, "values")) != NULL) {
		/* params: one array of that many zeros (LIMIT_JSON_VALUES). */
		n = (size_t)json_integer_value(v);
		b = malloc(2 * n + 128);
		i = (size_t)sprintf(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_fail\",\"params\":[[");
		while (n-- > 0) {
			memcpy(b + i, n > 0 ? "0," : "0", 2);
			i += n > 0 ? 2 : 1;
		}
		strcpy(b + i, "]]}");
		*lenp = strlen(b);
		return b;
	}
	/* depth: {"params":[[[...]]]} with the object itself as level 1. */
	n = (size_t)json_integer_value(json_object_get(c, "depth"));
	b = malloc(2 * n + 128);
	i = (size_t)sprintf(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test_echo\",\"params\":");
	memset(b + i, '[', n - 1);
	memset(b + i + n - 1, ']', n - 1);
	strcpy(b + i + 2 * (n - 1), "}");
	*lenp = strlen(b);
	return b;
}

static void
test_jsonrpc_case(void **state)
{
	const json_t *c = *state;
	size_t len;
	char *body = make_body(c, &len);
	json_t *got = rpc_jsonrpc_handle(&table, NULL, body, len);
	json_t *want = json_object_get(c, "response");

	if (json_is_null(want)) {
		assert_null(got);
	} else if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_COMPACT) : strdup("(nothing)");
		char *w = json_dumps(want, JSON_COMPACT);
		fail_msg("got %s\nwant %s", g, w);
	}
	json_decref(got);
	free(body);
}

int
main(void)
{
	json_t *v = tvec_load("tests/vectors/rpc/jsonrpc.json");
	int failed = tvec_run("jsonrpc", v, test_jsonrpc_case);

	json_decref(v);
	return failed != 0;
}
