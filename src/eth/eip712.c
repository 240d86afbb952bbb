/*
 * eip712.c - EIP-712 typed data hashing with Clef's rules (see eip712.h).
 *
 * Parsing happens in two steps.  First the "types" member becomes a table of
 * struct types whose field types are fully parsed (base type, struct index,
 * array dimensions), so that nothing below has to look at a type string
 * again.  Then one recursive walk over the domain and the message checks
 * each value against its type, hashes it and, when asked, builds the tree
 * shown to the approver: a value that hashes is exactly a value that is shown.
 *
 * This file holds the walk's messages and path and the public entry points;
 * the type table is eip712_types.c, the walk eip712_encode.c, the Gnosis
 * Safe form eip712_gnosis.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "eth/eip712.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "eth/eip712_int.h"

int
eip712_fail(struct ctx *c, int code, const char *fmt, ...)
{
	char detail[ERR_WHY_MAX];
	va_list ap;
	size_t i;
	int pathlen;

	if (c->why == NULL || c->why[0] != '\0')
		return code;	/* keep the first, innermost message */
	va_start(ap, fmt);
	err_whyv(detail, code, fmt, ap);
	va_end(ap);
	/* at most half the room for the path */
	pathlen = (int)(c->pathlen < ERR_WHY_MAX / 2 ? c->pathlen : ERR_WHY_MAX / 2);
	if (pathlen > 0)
		err_why(c->why, code, "%.*s: %s", pathlen, c->path, detail);
	else
		err_why(c->why, code, "%s", detail);
	for (i = 0; c->why[i] != '\0'; i++)
		if (c->why[i] < 0x20 || c->why[i] > 0x7e)
			c->why[i] = '?';
	return code;
}

size_t
eip712_path_push(struct ctx *c, const char *fmt, ...)
{
	size_t old = c->pathlen;
	va_list ap;
	int n;

	if (old < sizeof(c->path) - 1) {
		va_start(ap, fmt);
		n = vsnprintf(c->path + old, sizeof(c->path) - old, fmt, ap);
		va_end(ap);
		if (n > 0)
			c->pathlen = old + (size_t)n < sizeof(c->path) - 1 ?
			    old + (size_t)n : sizeof(c->path) - 1;
	}
	return old;
}

void
eip712_path_pop(struct ctx *c, size_t old)
{
	c->pathlen = old;
	c->path[old] = '\0';
}

static void
ctx_free(struct ctx *c)
{
	size_t i;

	if (c->types != NULL)
		for (i = 0; i < c->ntypes; i++)
			free(c->types[i].fields);
	free(c->types);
	c->types = NULL;
}

void
eip712_ctx_init(struct ctx *c, char *why)
{
	memset(c, 0, sizeof(*c));
	c->why = why;
	if (why != NULL)
		why[0] = '\0';
}

/* hashStruct of a top-level member (the domain, the message) named name. */
static int
hash_top(struct ctx *c, const char *name, int idx, const json_t *obj, uint8_t out[32],
    json_t **shownp)
{
	size_t old = eip712_path_push(c, "%s", name);
	int r = eip712_hash_struct(c, idx, obj, 0, out, shownp);

	eip712_path_pop(c, old);
	return r;
}

int
eth_eip712_hash(const json_t *untrusted, struct eth_eip712_result *res,
    int want_messages, char why[ERR_WHY_MAX])
{
	struct ctx c;
	struct eth_eip712_result out;
	json_t *primary, *domain, *message, *domain_vals = NULL;
	json_t *shown_domain = NULL, *shown_msg = NULL, *messages = NULL;
	const char *key;
	json_t *val;
	uint8_t pre[66];
	int didx, pidx, r;

	memset(res, 0, sizeof(*res));
	memset(&out, 0, sizeof(out));
	eip712_ctx_init(&c, why);

	if (!json_is_object(untrusted)) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "typed data is not a JSON object");
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)untrusted, key, val) {
		if (strcmp(key, "types") != 0 && strcmp(key, "primaryType") != 0 &&
		    strcmp(key, "domain") != 0 && strcmp(key, "message") != 0) {
			r = eip712_fail(&c, ERR_EIP712_INVALID,
			    "unknown member \"%.64s\" (expected types, primaryType, "
			    "domain, message)", key);
			goto out;
		}
	}
	primary = json_object_get(untrusted, "primaryType");
	domain = json_object_get(untrusted, "domain");
	message = json_object_get(untrusted, "message");
	if ((r = eip712_parse_types(&c, json_object_get(untrusted, "types"))) != 0)
		goto out;
	if ((didx = eip712_find_type(&c, DOMAIN_TYPE, strlen(DOMAIN_TYPE))) < 0) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "type EIP712Domain is not declared");
		goto out;
	}
	if (!json_is_string(primary) ||
	    (pidx = eip712_find_type(&c, json_string_value(primary),
	    json_string_length(primary))) < 0) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "primaryType is not a declared type");
		goto out;
	}
	if (pidx == didx) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "primaryType cannot be EIP712Domain");
		goto out;
	}
	if (!json_is_object(message)) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "\"message\" is not an object");
		goto out;
	}
	if ((r = eip712_domain_values(&c, domain, didx, &domain_vals, &out)) != 0)
		goto out;
	if (json_object_size(domain_vals) == 0) {
		r = eip712_fail(&c, ERR_EIP712_INVALID, "domain is undefined");
		goto out;
	}

	if ((r = hash_top(&c, "domain", didx, domain_vals, out.domain_separator,
	    want_messages ? &shown_domain : NULL)) != 0 ||
	    (r = hash_top(&c, "message", pidx, message, out.message_hash,
	    want_messages ? &shown_msg : NULL)) != 0)
		goto out;

	pre[0] = 0x19;
	pre[1] = 0x01;
	memcpy(pre + 2, out.domain_separator, 32);
	memcpy(pre + 34, out.message_hash, 32);
	eth_keccak256(pre, sizeof(pre), out.digest);

	if (want_messages) {
		messages = json_pack("[{s:s,s:s,s:O},{s:s,s:s,s:O}]",
		    "name", DOMAIN_TYPE, "type", "domain", "value", shown_domain,
		    "name", json_string_value(primary), "type", "primary type",
		    "value", shown_msg);
		if (messages == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
		out.messages = messages;
	}
	/* success */
	*res = out;
	r = 0;
 out:
	json_decref(domain_vals);
	json_decref(shown_domain);
	json_decref(shown_msg);
	ctx_free(&c);
	return r;
}

int
eth_eip712_digest(const json_t *untrusted, uint8_t digest[32],
    char why[ERR_WHY_MAX])
{
	struct eth_eip712_result res;
	int r;

	if ((r = eth_eip712_hash(untrusted, &res, 0, why)) != 0)
		return r;
	memcpy(digest, res.digest, 32);
	eth_eip712_result_clear(&res);
	return 0;
}

void
eth_eip712_result_clear(struct eth_eip712_result *res)
{
	if (res == NULL)
		return;
	json_decref(res->messages);
	memset(res, 0, sizeof(*res));
}

