/*
 * eip712_types.c - the "types" member of typed data parsed into the type
 * table (every field type resolved once), and each struct type's typeHash.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "eth/eip712_int.h"
#include "eth/keccak.h"

/* [A-Za-z_$][A-Za-z0-9_$]*, within the name limit. */
static int
is_identifier(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > LIMIT_EIP712_NAME)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];
		int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    ch == '_' || ch == '$';
		if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
			return 0;
	}
	return 1;
}

/* Decimal digits s[0..len) without a leading zero, as an unsigned in [lo, hi]. */
static int
parse_small(const char *s, size_t len, unsigned lo, unsigned hi, unsigned *outp)
{
	unsigned v = 0;
	size_t i;

	if (len == 0 || len > 9 || (s[0] == '0' && len > 1))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*outp = v;
	return 0;
}

/* A primitive base type name; 0 and *t set, or -1. */
static int
parse_primitive(const char *s, size_t len, struct ftype *t)
{
	unsigned n;

#define IS(lit) (len == sizeof(lit) - 1 && memcmp(s, lit, len) == 0)
	if (IS("address")) {
		t->base = B_ADDRESS;
		return 0;
	}
	if (IS("bool")) {
		t->base = B_BOOL;
		return 0;
	}
	if (IS("string")) {
		t->base = B_STRING;
		return 0;
	}
	if (IS("bytes")) {
		t->base = B_BYTES;
		return 0;
	}
	if (IS("int") || IS("uint")) {
		t->base = s[0] == 'i' ? B_INT : B_UINT;
		t->size = 256;
		return 0;
	}
#undef IS
	if (len > 5 && memcmp(s, "bytes", 5) == 0 &&
	    parse_small(s + 5, len - 5, 1, 32, &n) == 0) {
		t->base = B_BYTESN;
		t->size = n;
		return 0;
	}
	if (len > 4 && memcmp(s, "uint", 4) == 0 &&
	    parse_small(s + 4, len - 4, 8, 256, &n) == 0 && n % 8 == 0) {
		t->base = B_UINT;
		t->size = n;
		return 0;
	}
	if (len > 3 && memcmp(s, "int", 3) == 0 &&
	    parse_small(s + 3, len - 3, 8, 256, &n) == 0 && n % 8 == 0) {
		t->base = B_INT;
		t->size = n;
		return 0;
	}
	return -1;
}

int
eip712_find_type(const struct ctx *c, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < c->ntypes; i++)
		if (strlen(c->types[i].name) == len &&
		    memcmp(c->types[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Parse a field's type string: BASE ( "[" [N] "]" )*. */
static int
parse_field_type(struct ctx *c, const char *s, struct ftype *t)
{
	size_t len = strlen(s), blen, i;
	const char *p;
	int idx;

	memset(t, 0, sizeof(*t));
	p = memchr(s, '[', len);
	blen = p != NULL ? (size_t)(p - s) : len;
	if (parse_primitive(s, blen, t) != 0) {
		if (!is_identifier(s, blen) || (idx = eip712_find_type(c, s, blen)) < 0) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "reference type \"%.*s\" is undefined",
			    (int)(blen > 64 ? 64 : blen), s);
		}
		t->base = B_STRUCT;
		t->size = (unsigned)idx;
	}
	for (i = blen; i < len;) {
		const char *close;
		unsigned n = 0;

		if (s[i] != '[' || (close = memchr(s + i, ']', len - i)) == NULL)
			goto bad;
		if (t->ndims == LIMIT_EIP712_ARRAY_DIMS) {
			return eip712_fail(c, ERR_TOO_DEEP,
			    "type \"%.64s\" has more than %d array dimensions",
			    s, LIMIT_EIP712_ARRAY_DIMS);
		}
		if (close > s + i + 1 && parse_small(s + i + 1,
		    (size_t)(close - s - i - 1), 1, LIMIT_EIP712_ARRAY_ITEMS, &n) != 0)
			goto bad;
		t->dims[t->ndims++] = n;
		i = (size_t)(close - s) + 1;
	}
	return 0;
 bad:
	return eip712_fail(c, ERR_EIP712_INVALID, "malformed type \"%.64s\"", s);
}

/* Read "types": names first (fields may refer forward), then fields. */
int
eip712_parse_types(struct ctx *c, const json_t *untrusted_types)
{
	const char *key;
	json_t *val;
	size_t n = 0, i, j, k, old;
	int r;

	if (!json_is_object(untrusted_types)) {
		return eip712_fail(c, ERR_EIP712_INVALID, "\"types\" is not an object");
	}
	if (json_object_size(untrusted_types) > LIMIT_EIP712_TYPES) {
		return eip712_fail(c, ERR_TOO_MANY, "more than %d types", LIMIT_EIP712_TYPES);
	}
	if ((c->types = calloc(json_object_size(untrusted_types) + 1,
	    sizeof(*c->types))) == NULL)
		return ERR_NOMEM;
	json_object_foreach((json_t *)(uintptr_t)untrusted_types, key, val) {
		struct ftype dummy;
		size_t klen = strlen(key);

		if (!is_identifier(key, klen) || parse_primitive(key, klen, &dummy) == 0) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "type name \"%.64s\" is not an identifier or is a primitive type", key);
		}
		if (!json_is_array(val)) {
			return eip712_fail(c, ERR_EIP712_INVALID,
			    "type %s is not an array of fields", key);
		}
		if (json_array_size(val) > LIMIT_EIP712_FIELDS) {
			return eip712_fail(c, ERR_TOO_MANY,
			    "type %s has more than %d fields", key, LIMIT_EIP712_FIELDS);
		}
		c->types[n++].name = key;
	}
	c->ntypes = n;

	for (i = 0; i < n; i++) {
		json_t *fields = json_object_get(untrusted_types, c->types[i].name);
		struct stype *st = &c->types[i];

		st->nfields = json_array_size(fields);
		if (st->nfields > 0 &&
		    (st->fields = calloc(st->nfields, sizeof(*st->fields))) == NULL)
			return ERR_NOMEM;
		old = eip712_path_push(c, "types.%s", st->name);
		for (j = 0; j < st->nfields; j++) {
			json_t *f = json_array_get(fields, j);
			json_t *fname = json_object_get(f, "name");
			json_t *ftype = json_object_get(f, "type");
			struct field *fd = &st->fields[j];

			if (!json_is_object(f) || json_object_size(f) != 2 ||
			    !json_is_string(fname) || !json_is_string(ftype)) {
				return eip712_fail(c, ERR_EIP712_INVALID,
				    "field %zu is not {\"name\": string, \"type\": string}", j);
			}
			fd->name = json_string_value(fname);
			fd->type = json_string_value(ftype);
			if (!is_identifier(fd->name, json_string_length(fname))) {
				return eip712_fail(c, ERR_EIP712_INVALID,
				    "field %zu: name \"%.64s\" is not an identifier", j, fd->name);
			}
			for (k = 0; k < j; k++)
				if (strcmp(st->fields[k].name, fd->name) == 0) {
					return eip712_fail(c, ERR_EIP712_INVALID,
					    "field %s is declared twice", fd->name);
				}
			if (strlen(fd->type) != json_string_length(ftype) ||
			    json_string_length(ftype) > LIMIT_EIP712_NAME + 16 * LIMIT_EIP712_ARRAY_DIMS) {
				return eip712_fail(c, ERR_EIP712_INVALID,
				    "field %s: type is too long or has a NUL", fd->name);
			}
			if (strcmp(fd->type, st->name) == 0) {
				return eip712_fail(c, ERR_EIP712_INVALID,
				    "type \"%s\" cannot reference itself", st->name);
			}
			if ((r = parse_field_type(c, fd->type, &fd->t)) != 0)
				return r;
		}
		eip712_path_pop(c, old);
	}
	return 0;
}

static int
cmp_type_names(const void *a, const void *b, void *arg)
{
	const struct ctx *c = arg;

	return strcmp(c->types[*(const int *)a].name, c->types[*(const int *)b].name);
}

/* Mark the struct types that idx refers to, directly or not. */
static void
collect_deps(const struct ctx *c, int idx, unsigned char *seen, int *list, size_t *n)
{
	const struct stype *st = &c->types[idx];
	size_t i;

	if (seen[idx])
		return;
	seen[idx] = 1;
	list[(*n)++] = idx;
	for (i = 0; i < st->nfields; i++)
		if (st->fields[i].t.base == B_STRUCT)
			collect_deps(c, (int)st->fields[i].t.size, seen, list, n);
}

/*
 * typeHash = keccak256(encodeType): the type itself, then the types it
 * refers to sorted by name, each "Name(type1 name1,type2 name2)".  Cached.
 */
int
eip712_type_hash(struct ctx *c, int idx, uint8_t out[32])
{
	struct stype *st = &c->types[idx];
	struct eth_keccak k;
	unsigned char *seen;
	int *list;
	size_t n = 0, i, j;

	if (!st->hashed) {
		seen = calloc(c->ntypes, 1);
		list = calloc(c->ntypes, sizeof(*list));
		if (seen == NULL || list == NULL) {
			free(seen);
			free(list);
			return ERR_NOMEM;
		}
		collect_deps(c, idx, seen, list, &n);
		if (n > 2)
			qsort_r(list + 1, n - 1, sizeof(*list), cmp_type_names, c);
		eth_keccak_init(&k);
		for (i = 0; i < n; i++) {
			const struct stype *d = &c->types[list[i]];

			eth_keccak_update(&k, d->name, strlen(d->name));
			eth_keccak_update(&k, "(", 1);
			for (j = 0; j < d->nfields; j++) {
				if (j > 0)
					eth_keccak_update(&k, ",", 1);
				eth_keccak_update(&k, d->fields[j].type, strlen(d->fields[j].type));
				eth_keccak_update(&k, " ", 1);
				eth_keccak_update(&k, d->fields[j].name, strlen(d->fields[j].name));
			}
			eth_keccak_update(&k, ")", 1);
		}
		eth_keccak_final(&k, st->typehash);
		st->hashed = 1;
		free(seen);
		free(list);
	}
	memcpy(out, st->typehash, 32);
	return 0;
}

