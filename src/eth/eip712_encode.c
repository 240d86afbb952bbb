/*
 * eip712_encode.c - the domain and the message checked against their types,
 * encoded and hashed (hashStruct), and the tree shown to the approver built
 * in the same walk.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/addr.h"
#include "eth/eip712_int.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/u256.h"

/* The name of an element type, for the tree: "uint8[2]" of "uint8[2][]". */
static json_t *
element_type_name(const char *type, unsigned ndims_left)
{
	const char *p = type;
	unsigned i;

	for (i = 0; i < ndims_left; i++) {
		p = strchr(p, '[');
		if (p == NULL)
			return json_string(type);
		p++;
	}
	p = strchr(p, '[');
	return json_stringn(type, p != NULL ? (size_t)(p - type) : strlen(type));
}

/*
 * An integer value as Clef reads one: a JSON number with an integer value
 * (here within 2^53), or a string in decimal with an optional "-", or "0x"
 * hex; range-checked for intN/uintN; out is its 256-bit two's complement.
 */
static int
encode_integer(struct ctx *c, const json_t *v, enum base base, unsigned bits,
    uint8_t out[32], json_t **shownp)
{
	struct eth_u256 mag, one, m1;
	int neg = 0, r;
	char dec[ETH_U256_DECIMAL_MAX + 1];
	const char *kind = base == B_INT ? "int" : "uint";

	if (json_is_integer(v) || json_is_real(v)) {
		double d = json_number_value(v);
		long long ll;

		if (json_is_real(v) && (d != floor(d) || !isfinite(d))) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "invalid float value %g for type %s%u", d, kind, bits);
		}
		if (fabs(d) > 9007199254740992.0 || (json_is_integer(v) &&
		    (json_integer_value(v) > (1LL << 53) ||
		     json_integer_value(v) < -(1LL << 53)))) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "integer given as a JSON number beyond 2^53; send it as a string");
		}
		ll = json_is_integer(v) ? (long long)json_integer_value(v) : (long long)d;
		neg = ll < 0;
		eth_u256_from_u64(&mag, neg ? (uint64_t)(-ll) : (uint64_t)ll);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (len > 0 && s[0] == '-') {
			neg = 1;
			s++;
			len--;
			if (len == 0 || s[0] < '0' || s[0] > '9' ||
			    (len > 1 && (s[1] == 'x' || s[1] == 'X'))) {
				return eip712_fail(c, ERR_EIP712_INVALID,
				    "invalid integer \"%.80s\"", json_string_value(v));
			}
		}
		if (len == 0 || strlen(s) != len ||
		    (len == 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ||
		    eth_u256_parse_big(s, len, &mag) != 0) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "invalid hex or decimal integer \"%.80s\"", json_string_value(v));
		}
	} else {
		return eip712_fail(c, ERR_EIP712_INVALID,
		    "expected an integer of type %s%u", kind, bits);
	}
	if (eth_u256_is_zero(&mag))
		neg = 0;
	if (base == B_UINT) {
		r = neg ? -1 : eth_u256_bits(&mag) <= bits ? 0 : -1;
		if (neg) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "invalid negative value for unsigned type uint%u", bits);
		}
	} else if (neg) {
		/* -2^(bits-1) <= v: mag - 1 < 2^(bits-1) */
		eth_u256_from_u64(&one, 1);
		eth_u256_sub(&m1, &mag, &one);
		r = eth_u256_bits(&m1) <= bits - 1 ? 0 : -1;
	} else
		r = eth_u256_bits(&mag) <= bits - 1 ? 0 : -1;
	if (r != 0) {
		return eip712_fail(c, ERR_EIP712_INVALID,
		    "integer out of range for '%s%u'", kind, bits);
	}
	if (shownp != NULL) {
		dec[0] = '-';
		eth_u256_to_decimal(&mag, dec + 1);
		if ((*shownp = json_string(neg ? dec : dec + 1)) == NULL)
			return ERR_NOMEM;
	}
	if (neg)
		eth_u256_neg(&mag, &mag);
	eth_u256_to_be(&mag, out);
	return 0;
}

/* A primitive value: its 32-byte encoding, and its shown string. */
static int
encode_primitive(struct ctx *c, const struct ftype *t, const json_t *v,
    uint8_t out[32], json_t **shownp)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	uint8_t *bytes = NULL;
	size_t blen = 0;
	char addr[ETH_ADDR_STR];
	int r;

	switch (t->base) {
	case B_ADDRESS:
		memset(out, 0, 12);
		if (s == NULL || eth_addr_parse(s, len, out + 12, NULL) != 0) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "expected an address (0x and 40 hex digits)");
		}
		if (shownp != NULL) {
			eth_addr_to_checksum(out + 12, addr);
			if ((*shownp = json_string(addr)) == NULL)
				return ERR_NOMEM;
		}
		return 0;
	case B_BOOL:
		if (!json_is_boolean(v)) {
			return eip712_fail(c, ERR_EIP712_INVALID, "expected true or false");
		}
		memset(out, 0, 32);
		out[31] = json_is_true(v) ? 1 : 0;
		if (shownp != NULL &&
		    (*shownp = json_string(json_is_true(v) ? "true" : "false")) == NULL)
			return ERR_NOMEM;
		return 0;
	case B_STRING:
		if (s == NULL) {
			return eip712_fail(c, ERR_EIP712_INVALID, "expected a string");
		}
		if (len > LIMIT_SIGN_DATA_BYTES) {
			return eip712_fail(c, ERR_TOO_LONG,
			    "string longer than %d bytes", LIMIT_SIGN_DATA_BYTES);
		}
		eth_keccak256(s, len, out);
		if (shownp != NULL && (*shownp = json_stringn(s, len)) == NULL) {
			/* not UTF-8 would have failed JSON parsing already */
			return ERR_NOMEM;
		}
		return 0;
	case B_BYTES:
	case B_BYTESN:
		if (s == NULL || (r = eth_hex_decode(s, len, LIMIT_SIGN_DATA_BYTES,
		    &bytes, &blen)) != 0) {
			return eip712_fail(c, s != NULL && len > 2 * LIMIT_SIGN_DATA_BYTES + 2 ?
			    ERR_TOO_LONG : ERR_EIP712_INVALID, "expected 0x-prefixed hex bytes");
		}
		if (t->base == B_BYTES)
			eth_keccak256(bytes, blen, out);
		else if (blen != t->size) {
			free(bytes);
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "expected exactly %u bytes for bytes%u, got %zu",
			    t->size, t->size, blen);
		} else {
			memset(out, 0, 32);
			memcpy(out, bytes, blen);
		}
		if (shownp != NULL) {
			if ((*shownp = eth_hex_json(bytes, blen)) == NULL) {
				free(bytes);
				return ERR_NOMEM;
			}
		}
		free(bytes);
		return 0;
	case B_INT:
	case B_UINT:
		return encode_integer(c, v, t->base, t->size, out, shownp);
	case B_STRUCT:
		break;
	}
	return ERR_INTERNAL;
}

/*
 * Encode a value of type t with ndims array dimensions left: a primitive's
 * 32 bytes, a struct's hashStruct, an array's keccak256 of its members'
 * encodings.  *shownp (when asked for) gets the tree node's value.
 */
static int
encode_value(struct ctx *c, const struct field *f, unsigned ndims,
    const json_t *v, unsigned depth, uint8_t out[32], json_t **shownp)
{
	struct eth_keccak k;
	json_t *items = NULL, *item = NULL, *node = NULL, *tname = NULL;
	uint8_t enc[32];
	size_t i, n, old;
	int r;

	if (depth > LIMIT_EIP712_DEPTH) {
		return eip712_fail(c, ERR_TOO_DEEP, "nested deeper than %d", LIMIT_EIP712_DEPTH);
	}
	if (++c->nvalues > LIMIT_EIP712_VALUES) {
		return eip712_fail(c, ERR_TOO_MANY, "more than %d values", LIMIT_EIP712_VALUES);
	}
	if (v == NULL || json_is_null(v)) {
		return eip712_fail(c, ERR_EIP712_INVALID, "no value for field of type %s", f->type);
	}
	if (ndims == 0) {
		if (f->t.base == B_STRUCT)
			return eip712_hash_struct(c, (int)f->t.size, v, depth + 1, out, shownp);
		if ((r = encode_primitive(c, &f->t, v, out, shownp)) != 0 || shownp == NULL)
			return r;
		/* What the approver is shown is bounded apart from what is hashed:
		 * bytes are shown as hex, twice their size. */
		c->shown_bytes += json_string_length(*shownp);
		if (c->shown_bytes > LIMIT_EIP712_SHOWN_BYTES) {
			json_decref(*shownp);
			*shownp = NULL;
			return eip712_fail(c, ERR_TOO_LONG,
			    "more than %d bytes of values to show", LIMIT_EIP712_SHOWN_BYTES);
		}
		return 0;
	}

	if (!json_is_array(v)) {
		return eip712_fail(c, ERR_EIP712_INVALID, "expected an array for type %s", f->type);
	}
	n = json_array_size(v);
	if (f->t.dims[ndims - 1] != 0 && n != f->t.dims[ndims - 1]) {
		return eip712_fail(c, ERR_EIP712_INVALID,
		    "expected %u items, got %zu", f->t.dims[ndims - 1], n);
	}
	if (n > LIMIT_EIP712_ARRAY_ITEMS) {
		return eip712_fail(c, ERR_TOO_MANY, "more than %d items", LIMIT_EIP712_ARRAY_ITEMS);
	}
	if (shownp != NULL && ((items = json_array()) == NULL ||
	    (tname = element_type_name(f->type, ndims - 1)) == NULL)) {
		r = ERR_NOMEM;
		goto out;
	}
	eth_keccak_init(&k);
	for (i = 0; i < n; i++) {
		old = eip712_path_push(c, "[%zu]", i);
		r = encode_value(c, f, ndims - 1, json_array_get(v, i), depth + 1,
		    enc, shownp != NULL ? &item : NULL);
		eip712_path_pop(c, old);
		if (r != 0)
			goto out;
		eth_keccak_update(&k, enc, 32);
		if (shownp != NULL) {
			char name[24];

			snprintf(name, sizeof(name), "[%zu]", i);
			node = json_pack("{s:s,s:O,s:o}", "name", name, "type", tname,
			    "value", item);
			item = NULL;
			if (node == NULL || json_array_append_new(items, node) != 0) {
				r = ERR_NOMEM;
				goto out;
			}
		}
	}
	eth_keccak_final(&k, out);
	if (shownp != NULL) {
		*shownp = items;
		items = NULL;
	}
	r = 0;
 out:
	json_decref(items);
	json_decref(item);
	json_decref(tname);
	return r;
}

/*
 * hashStruct(type, obj) = keccak256(typeHash || encodeData): every declared
 * field must have a value, and no other member may be present.
 */
int
eip712_hash_struct(struct ctx *c, int idx, const json_t *obj, unsigned depth,
    uint8_t out[32], json_t **shownp)
{
	const struct stype *st = &c->types[idx];
	struct eth_keccak k;
	json_t *fields = NULL, *shown = NULL, *node;
	const char *key;
	json_t *val;
	uint8_t enc[32];
	size_t i, old;
	int r;

	if (!json_is_object(obj)) {
		return eip712_fail(c, ERR_EIP712_INVALID,
		    "expected an object of type %s", st->name);
	}
	json_object_foreach((json_t *)(uintptr_t)obj, key, val) {
		for (i = 0; i < st->nfields; i++)
			if (strcmp(st->fields[i].name, key) == 0)
				break;
		if (i == st->nfields) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "member \"%.64s\" is not a field of %s", key, st->name);
		}
	}
	if ((r = eip712_type_hash(c, idx, enc)) != 0)
		return r;
	if (shownp != NULL && (fields = json_array()) == NULL)
		return ERR_NOMEM;
	eth_keccak_init(&k);
	eth_keccak_update(&k, enc, 32);
	for (i = 0; i < st->nfields; i++) {
		const struct field *f = &st->fields[i];

		old = eip712_path_push(c, ".%s", f->name);
		r = encode_value(c, f, f->t.ndims, json_object_get(obj, f->name),
		    depth, enc, shownp != NULL ? &shown : NULL);
		eip712_path_pop(c, old);
		if (r != 0)
			goto out;
		eth_keccak_update(&k, enc, 32);
		if (shownp != NULL) {
			node = json_pack("{s:s,s:s,s:o}", "name", f->name, "type",
			    f->type, "value", shown);
			shown = NULL;
			if (node == NULL || json_array_append_new(fields, node) != 0) {
				r = ERR_NOMEM;
				goto out;
			}
		}
	}
	eth_keccak_final(&k, out);
	if (shownp != NULL) {
		*shownp = fields;
		fields = NULL;
	}
	r = 0;
 out:
	json_decref(fields);
	json_decref(shown);
	return r;
}

/*
 * The domain: only the five members the EIP names, each with its one type
 * (chainId any integer type); empty strings count as absent, as in Clef.
 * Builds the object eip712_hash_struct() checks against the declared
 * EIP712Domain, so that a declared field without a value, or a value
 * without a declared field, is refused there.
 */
int
eip712_domain_values(struct ctx *c, const json_t *untrusted_domain, int didx,
    json_t **valuesp, struct eth_eip712_result *res)
{
	static const struct {
		const char *name;
		enum base base;
	} known[] = {
		{ "name", B_STRING }, { "version", B_STRING }, { "chainId", B_UINT },
		{ "verifyingContract", B_ADDRESS }, { "salt", B_BYTESN },
	};
	const struct stype *st = &c->types[didx];
	json_t *values, *val;
	const char *key;
	size_t i, j;

	*valuesp = NULL;
	if (!json_is_object(untrusted_domain)) {
		return eip712_fail(c, ERR_EIP712_INVALID, "\"domain\" is not an object");
	}
	for (i = 0; i < st->nfields; i++) {
		const struct ftype *t = &st->fields[i].t;

		for (j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			if (strcmp(st->fields[i].name, known[j].name) == 0)
				break;
		if (j == sizeof(known) / sizeof(known[0]) || t->ndims != 0 ||
		    !(t->base == known[j].base ||
		      (known[j].base == B_UINT && t->base == B_INT)) ||
		    (t->base == B_BYTESN && t->size != 32)) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "EIP712Domain field \"%s %s\" is not one of: string name, "
			    "string version, uint256 chainId, address verifyingContract, "
			    "bytes32 salt", st->fields[i].type, st->fields[i].name);
		}
	}
	if ((values = json_object()) == NULL)
		return ERR_NOMEM;
	json_object_foreach((json_t *)(uintptr_t)untrusted_domain, key, val) {
		for (j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			if (strcmp(key, known[j].name) == 0)
				break;
		if (j == sizeof(known) / sizeof(known[0])) {
			json_decref(values);
			return eip712_fail(c, ERR_EIP712_INVALID, "domain member \"%.64s\" is not "
			    "one of name, version, chainId, verifyingContract, salt", key);
		}
		if (json_is_null(val) ||
		    (json_is_string(val) && json_string_length(val) == 0 &&
		     strcmp(key, "chainId") != 0))
			continue;	/* absent, as Clef's Domain.Map() */
		if (json_object_set(values, key, val) != 0) {
			json_decref(values);
			return ERR_NOMEM;
		}
	}
	if ((val = json_object_get(values, "chainId")) != NULL) {
		struct ftype t = { .base = B_INT, .size = 256 };
		uint8_t be[32];
		size_t old = eip712_path_push(c, "domain.chainId");
		int r = encode_primitive(c, &t, val, be, NULL);

		eip712_path_pop(c, old);
		if (r != 0) {
			json_decref(values);
			return r;
		}
		res->has_chain_id = 1;
		eth_u256_from_be(be, 32, &res->chain_id);
	}
	*valuesp = values;
	return 0;
}

