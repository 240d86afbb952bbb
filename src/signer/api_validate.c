/*
 * api_validate.c - a transaction checked as Clef's fourbyte/validation.go
 * checks it: the messages (Info, WARNING, CRITICAL) the approver is shown,
 * and the refusal they make without --advanced.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eth/abi.h"
#include "signer/api_int.h"

/* ---- small helpers ---- */

static int
add_msg(json_t *call_info, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
add_msg(json_t *call_info, const char *type, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_array_append_new(call_info,
	    json_pack("{s:s,s:s}", "type", type, "message", msg)) == 0 ? 0 : ERR_NOMEM;
}
/*
 * The decoded call as Clef words it: "transfer(address: 0xd8dA..., uint256: 5)";
 * arrays and tuples as compact JSON.
 */
static void
clef_call_text(const json_t *call, char *out, size_t n)
{
	const json_t *arg, *v;
	size_t i, o;
	char *dump;

	o = (size_t)snprintf(out, n, "%s(", json_string_value(json_object_get(call, "name")));
	json_array_foreach(json_object_get(call, "args"), i, arg) {
		if (o >= n)
			break;
		v = json_object_get(arg, "value");
		if (v == NULL)
			v = json_object_get(arg, "value_hex");
		dump = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		o += (size_t)snprintf(out + o, n - o, "%s%s: %s", i > 0 ? "," : "",
		    json_string_value(json_object_get(arg, "type")),
		    json_is_string(v) ? json_string_value(v) : dump != NULL ? dump : "?");
		free(dump);
	}
	if (o < n)
		snprintf(out + o, n - o, ")");
}

/* An Info/WARNING message that carries the decoded call. */
static int
add_call_msg(json_t *call_info, const char *type, const json_t *call, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
add_call_msg(json_t *call_info, const char *type, const json_t *call, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_array_append_new(call_info, json_pack("{s:s,s:s,s:O}", "type", type,
	    "message", msg, "call", call)) == 0 ? 0 : ERR_NOMEM;
}

/* ---- validation (fourbyte/validation.go) ---- */

int
signer_api_validate_tx(const struct eth_tx *tx, const struct eth_tx_request *req,
    const char *selector, const json_t *call, json_t *call_info, char why[SIGNER_WHY_MAX])
{
	static const uint8_t zero[ETH_ADDR_LEN];
	const char *status = json_string_value(json_object_get(call, "status"));
	char text[400];
	int r = 0;

	why[0] = '\0';
	if (!tx->has_to) {
		if (tx->data_len == 0) {
			if (!eth_u256_is_zero(&tx->value)) {
				snprintf(why, SIGNER_WHY_MAX,
				    "transaction will create a contract with value but empty code");
				return ERR_TX_INVALID;
			}
			r = add_msg(call_info, "CRITICAL",
			    "Transaction will create a contract with empty code");
		} else if (tx->data_len < 40)
			r = add_msg(call_info, "WARNING", "Transaction will create a contract, "
			    "but the payload is suspiciously small (%zu bytes)", tx->data_len);
		if (r == 0 && selector != NULL)
			r = add_msg(call_info, "WARNING", "Transaction will create a contract, "
			    "but method selector supplied, indicating an intent to call a method");
		return r;
	}
	if (!req->to_checksummed)
		r |= add_msg(call_info, "WARNING", "Invalid checksum on recipient address");
	if (memcmp(tx->to, zero, ETH_ADDR_LEN) == 0)
		r |= add_msg(call_info, "CRITICAL", "Transaction recipient is the zero address");
	if (!(req->present & ETH_TX_ARG_GAS_PRICE) && !(req->present & ETH_TX_ARG_MAX_FEE))
		r |= add_msg(call_info, "CRITICAL", "Neither 'gasPrice' nor 'maxFeePerGas' specified.");
	else if (!(req->present & ETH_TX_ARG_GAS_PRICE) &&
	    !(req->present & ETH_TX_ARG_MAX_PRIORITY_FEE))
		r |= add_msg(call_info, "CRITICAL",
		    "Neither 'gasPrice' nor 'maxPriorityFeePerGas' specified.");
	else if ((req->present & ETH_TX_ARG_GAS_PRICE) && (req->present & ETH_TX_ARG_MAX_FEE))
		r |= add_msg(call_info, "CRITICAL", "Both 'gasPrice' and 'maxFeePerGas' specified.");
	else if ((req->present & ETH_TX_ARG_GAS_PRICE) &&
	    (req->present & ETH_TX_ARG_MAX_PRIORITY_FEE))
		r |= add_msg(call_info, "CRITICAL",
		    "Both 'gasPrice' and 'maxPriorityFeePerGas' specified.");
	if (tx->data_len == 0)
		return r != 0 ? ERR_NOMEM : 0;
	if (tx->data_len < 4)
		return add_msg(call_info, "WARNING",
		    "Transaction data is not valid ABI (missing the 4 byte call prefix)") |
		    (r != 0 ? ERR_NOMEM : 0);
	if ((tx->data_len - 4) % 32 != 0)
		r |= add_msg(call_info, "WARNING", "Transaction data is not valid ABI "
		    "(length should be a multiple of 32 (was %zu))", tx->data_len - 4);
	if (selector != NULL) {
		/* by its canonical form: "transfer(address to, uint256 v)" names transfer */
		struct eth_abi_fn *fn = NULL;
		uint8_t sel[4];

		if (eth_abi_fn_parse(selector, strlen(selector), &fn) == 0)
			eth_abi_fn_selector(fn, sel);
		if (fn == NULL || memcmp(sel, tx->data, 4) != 0)
			r |= add_msg(call_info, "WARNING", "Transaction contains data, but "
			    "provided ABI signature could not be matched: %.200s", selector);
		eth_abi_fn_free(fn);
	}
	if (call == NULL || status == NULL)
		return r != 0 ? ERR_NOMEM : 0;
	if (strcmp(status, "decoded") == 0) {
		clef_call_text(call, text, sizeof(text));
		r |= add_call_msg(call_info, "Info", call,
		    "Transaction invokes the following method: \"%s\"", text);
	} else if (strcmp(status, "undecodable") == 0)
		/* Clef's words: a signature that matches the selector but not the arguments */
		r |= add_call_msg(call_info, "WARNING", call, "Transaction contains data, but "
		    "provided ABI signature could not be %s: %.200s: %.200s",
		    strcmp(json_string_value(json_object_get(call, "source")), "caller") == 0 ?
		    "matched" : "verified",
		    json_string_value(json_object_get(call, "signature")),
		    json_string_value(json_object_get(call, "error")));
	else if (strcmp(status, "ambiguous") == 0)
		r |= add_call_msg(call_info, "Info", call, "Transaction calls method %s, which "
		    "more than one known signature has: not decoded",
		    json_string_value(json_object_get(call, "selector")));
	else
		/* Clef warns here, from a 4 MiB selector database we do not ship. */
		r |= add_call_msg(call_info, "Info", call, "Transaction calls method %s, "
		    "which is not in p11signer's list of known methods",
		    json_string_value(json_object_get(call, "selector")));
	return r != 0 ? ERR_NOMEM : 0;
}

/*
 * "validation failed: m1,m2" of the WARNING and CRITICAL messages, in out
 * (size bytes, cut at size - 1); returns how many messages refuse, 0 for none.
 */
size_t
signer_api_validation_refusal(const json_t *call_info, char *out, size_t size)
{
	size_t i, n = 0, len;
	json_t *m;

	len = (size_t)snprintf(out, size, "validation failed: ");
	if (len >= size)
		len = size - 1;
	json_array_foreach(call_info, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *text = json_string_value(json_object_get(m, "message"));

		if (type == NULL || text == NULL || strcmp(type, "Info") == 0)
			continue;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0,
		    "%s%s", n++ > 0 ? "," : "", text);
		if (len >= size)
			len = size - 1;
	}
	return n;
}
