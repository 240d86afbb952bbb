/*
 * eip712.c - EIP-712 typed data hashing with Clef's rules (see eip712.h).
 *
 * Parsing happens in two steps.  First the "types" member becomes a table of
 * struct types whose field types are fully parsed (base type, struct index,
 * array dimensions), so that nothing below has to look at a type string
 * again.  Then one recursive walk over the domain and the message checks
 * each value against its type, hashes it and, when asked, builds the tree
 * shown to the approver: a value that hashes is exactly a value that is shown.
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

enum base {
	B_ADDRESS,
	B_BOOL,
	B_STRING,
	B_BYTES,
	B_BYTESN,	/* size: N bytes */
	B_INT,		/* size: N bits */
	B_UINT,		/* size: N bits */
	B_STRUCT,	/* size: index into the type table */
};

struct ftype {
	enum base base;
	unsigned size;
	unsigned ndims;
	uint32_t dims[LIMIT_EIP712_ARRAY_DIMS];	/* dims[ndims-1] is outermost; 0: dynamic */
};

struct field {
	const char *name;	/* borrowed from the input */
	const char *type;	/* as declared, borrowed */
	struct ftype t;
};

struct stype {
	const char *name;	/* borrowed */
	struct field *fields;
	size_t nfields;
	int hashed;
	uint8_t typehash[32];
};

struct ctx {
	struct stype *types;
	size_t ntypes;
	size_t nvalues;		/* values hashed so far */
	size_t shown_bytes;	/* text of the values shown so far */
	char *errmsg;
	char path[256];		/* where the walk is, for messages */
	size_t pathlen;
};

#define DOMAIN_TYPE "EIP712Domain"

static void
fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line into c->errmsg, prefixed with the path, printable ASCII only. */
static void
fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	size_t i, off = 0;

	if (c->errmsg == NULL || c->errmsg[0] != '\0')
		return;		/* keep the first, innermost message */
	if (c->pathlen > 0) {
		/* at most half the room for the path */
		off = c->pathlen < ETH_EIP712_ERRMSG_MAX / 2 ? c->pathlen :
		    ETH_EIP712_ERRMSG_MAX / 2;
		memcpy(c->errmsg, c->path, off);
		memcpy(c->errmsg + off, ": ", 2);
		off += 2;
	}
	va_start(ap, fmt);
	vsnprintf(c->errmsg + off, ETH_EIP712_ERRMSG_MAX - off, fmt, ap);
	va_end(ap);
	for (i = 0; c->errmsg[i] != '\0'; i++)
		if (c->errmsg[i] < 0x20 || c->errmsg[i] > 0x7e)
			c->errmsg[i] = '?';
}

/* Push ".name" or "[i]" on the path; returns the length to pop back to. */
static size_t
path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t
path_push(struct ctx *c, const char *fmt, ...)
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

static void
path_pop(struct ctx *c, size_t old)
{
	c->pathlen = old;
	c->path[old] = '\0';
}

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

static int
find_type(const struct ctx *c, const char *name, size_t len)
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
		if (!is_identifier(s, blen) || (idx = find_type(c, s, blen)) < 0) {
			fail(c, "reference type \"%.*s\" is undefined",
			    (int)(blen > 64 ? 64 : blen), s);
			return ERR_EIP712_INVALID;
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
			fail(c, "type \"%.64s\" has more than %d array dimensions",
			    s, LIMIT_EIP712_ARRAY_DIMS);
			return ERR_TOO_DEEP;
		}
		if (close > s + i + 1 && parse_small(s + i + 1,
		    (size_t)(close - s - i - 1), 1, LIMIT_EIP712_ARRAY_ITEMS, &n) != 0)
			goto bad;
		t->dims[t->ndims++] = n;
		i = (size_t)(close - s) + 1;
	}
	return 0;
 bad:
	fail(c, "malformed type \"%.64s\"", s);
	return ERR_EIP712_INVALID;
}

/* Read "types": names first (fields may refer forward), then fields. */
static int
parse_types(struct ctx *c, const json_t *untrusted_types)
{
	const char *key;
	json_t *val;
	size_t n = 0, i, j, k, old;
	int r;

	if (!json_is_object(untrusted_types)) {
		fail(c, "\"types\" is not an object");
		return ERR_EIP712_INVALID;
	}
	if (json_object_size(untrusted_types) > LIMIT_EIP712_TYPES) {
		fail(c, "more than %d types", LIMIT_EIP712_TYPES);
		return ERR_TOO_MANY;
	}
	if ((c->types = calloc(json_object_size(untrusted_types) + 1,
	    sizeof(*c->types))) == NULL)
		return ERR_NOMEM;
	json_object_foreach((json_t *)(uintptr_t)untrusted_types, key, val) {
		struct ftype dummy;
		size_t klen = strlen(key);

		if (!is_identifier(key, klen) || parse_primitive(key, klen, &dummy) == 0) {
			fail(c, "type name \"%.64s\" is not an identifier or is a primitive type", key);
			return ERR_EIP712_INVALID;
		}
		if (!json_is_array(val)) {
			fail(c, "type %s is not an array of fields", key);
			return ERR_EIP712_INVALID;
		}
		if (json_array_size(val) > LIMIT_EIP712_FIELDS) {
			fail(c, "type %s has more than %d fields", key, LIMIT_EIP712_FIELDS);
			return ERR_TOO_MANY;
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
		old = path_push(c, "types.%s", st->name);
		for (j = 0; j < st->nfields; j++) {
			json_t *f = json_array_get(fields, j);
			json_t *fname = json_object_get(f, "name");
			json_t *ftype = json_object_get(f, "type");
			struct field *fd = &st->fields[j];

			if (!json_is_object(f) || json_object_size(f) != 2 ||
			    !json_is_string(fname) || !json_is_string(ftype)) {
				fail(c, "field %zu is not {\"name\": string, \"type\": string}", j);
				return ERR_EIP712_INVALID;
			}
			fd->name = json_string_value(fname);
			fd->type = json_string_value(ftype);
			if (!is_identifier(fd->name, json_string_length(fname))) {
				fail(c, "field %zu: name \"%.64s\" is not an identifier", j, fd->name);
				return ERR_EIP712_INVALID;
			}
			for (k = 0; k < j; k++)
				if (strcmp(st->fields[k].name, fd->name) == 0) {
					fail(c, "field %s is declared twice", fd->name);
					return ERR_EIP712_INVALID;
				}
			if (strlen(fd->type) != json_string_length(ftype) ||
			    json_string_length(ftype) > LIMIT_EIP712_NAME + 16 * LIMIT_EIP712_ARRAY_DIMS) {
				fail(c, "field %s: type is too long or has a NUL", fd->name);
				return ERR_EIP712_INVALID;
			}
			if (strcmp(fd->type, st->name) == 0) {
				fail(c, "type \"%s\" cannot reference itself", st->name);
				return ERR_EIP712_INVALID;
			}
			if ((r = parse_field_type(c, fd->type, &fd->t)) != 0)
				return r;
		}
		path_pop(c, old);
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
static int
type_hash(struct ctx *c, int idx, uint8_t out[32])
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
			fail(c, "invalid float value %g for type %s%u", d, kind, bits);
			return ERR_EIP712_INVALID;
		}
		if (fabs(d) > 9007199254740992.0 || (json_is_integer(v) &&
		    (json_integer_value(v) > (1LL << 53) ||
		     json_integer_value(v) < -(1LL << 53)))) {
			fail(c, "integer given as a JSON number beyond 2^53; send it as a string");
			return ERR_EIP712_INVALID;
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
				fail(c, "invalid integer \"%.80s\"", json_string_value(v));
				return ERR_EIP712_INVALID;
			}
		}
		if (len == 0 || strlen(s) != len ||
		    (len == 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ||
		    eth_u256_parse_big(s, len, &mag) != 0) {
			fail(c, "invalid hex or decimal integer \"%.80s\"", json_string_value(v));
			return ERR_EIP712_INVALID;
		}
	} else {
		fail(c, "expected an integer of type %s%u", kind, bits);
		return ERR_EIP712_INVALID;
	}
	if (eth_u256_is_zero(&mag))
		neg = 0;
	if (base == B_UINT) {
		r = neg ? -1 : eth_u256_bits(&mag) <= bits ? 0 : -1;
		if (neg) {
			fail(c, "invalid negative value for unsigned type uint%u", bits);
			return ERR_EIP712_INVALID;
		}
	} else if (neg) {
		/* -2^(bits-1) <= v: mag - 1 < 2^(bits-1) */
		eth_u256_from_u64(&one, 1);
		eth_u256_sub(&m1, &mag, &one);
		r = eth_u256_bits(&m1) <= bits - 1 ? 0 : -1;
	} else
		r = eth_u256_bits(&mag) <= bits - 1 ? 0 : -1;
	if (r != 0) {
		fail(c, "integer out of range for '%s%u'", kind, bits);
		return ERR_EIP712_INVALID;
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
			fail(c, "expected an address (0x and 40 hex digits)");
			return ERR_EIP712_INVALID;
		}
		if (shownp != NULL) {
			eth_addr_to_checksum(out + 12, addr);
			if ((*shownp = json_string(addr)) == NULL)
				return ERR_NOMEM;
		}
		return 0;
	case B_BOOL:
		if (!json_is_boolean(v)) {
			fail(c, "expected true or false");
			return ERR_EIP712_INVALID;
		}
		memset(out, 0, 32);
		out[31] = json_is_true(v) ? 1 : 0;
		if (shownp != NULL &&
		    (*shownp = json_string(json_is_true(v) ? "true" : "false")) == NULL)
			return ERR_NOMEM;
		return 0;
	case B_STRING:
		if (s == NULL) {
			fail(c, "expected a string");
			return ERR_EIP712_INVALID;
		}
		if (len > LIMIT_SIGN_DATA_BYTES) {
			fail(c, "string longer than %d bytes", LIMIT_SIGN_DATA_BYTES);
			return ERR_TOO_LONG;
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
			fail(c, "expected 0x-prefixed hex bytes");
			return s != NULL && len > 2 * LIMIT_SIGN_DATA_BYTES + 2 ?
			    ERR_TOO_LONG : ERR_EIP712_INVALID;
		}
		if (t->base == B_BYTES)
			eth_keccak256(bytes, blen, out);
		else if (blen != t->size) {
			fail(c, "expected exactly %u bytes for bytes%u, got %zu",
			    t->size, t->size, blen);
			free(bytes);
			return ERR_EIP712_INVALID;
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

static int hash_struct(struct ctx *c, int idx, const json_t *obj, unsigned depth,
    uint8_t out[32], json_t **shownp);

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
		fail(c, "nested deeper than %d", LIMIT_EIP712_DEPTH);
		return ERR_TOO_DEEP;
	}
	if (++c->nvalues > LIMIT_EIP712_VALUES) {
		fail(c, "more than %d values", LIMIT_EIP712_VALUES);
		return ERR_TOO_MANY;
	}
	if (v == NULL || json_is_null(v)) {
		fail(c, "no value for field of type %s", f->type);
		return ERR_EIP712_INVALID;
	}
	if (ndims == 0) {
		if (f->t.base == B_STRUCT)
			return hash_struct(c, (int)f->t.size, v, depth + 1, out, shownp);
		if ((r = encode_primitive(c, &f->t, v, out, shownp)) != 0 || shownp == NULL)
			return r;
		/* What the approver is shown is bounded apart from what is hashed:
		 * bytes are shown as hex, twice their size. */
		c->shown_bytes += json_string_length(*shownp);
		if (c->shown_bytes > LIMIT_EIP712_SHOWN_BYTES) {
			json_decref(*shownp);
			*shownp = NULL;
			fail(c, "more than %d bytes of values to show", LIMIT_EIP712_SHOWN_BYTES);
			return ERR_TOO_LONG;
		}
		return 0;
	}

	if (!json_is_array(v)) {
		fail(c, "expected an array for type %s", f->type);
		return ERR_EIP712_INVALID;
	}
	n = json_array_size(v);
	if (f->t.dims[ndims - 1] != 0 && n != f->t.dims[ndims - 1]) {
		fail(c, "expected %u items, got %zu", f->t.dims[ndims - 1], n);
		return ERR_EIP712_INVALID;
	}
	if (n > LIMIT_EIP712_ARRAY_ITEMS) {
		fail(c, "more than %d items", LIMIT_EIP712_ARRAY_ITEMS);
		return ERR_TOO_MANY;
	}
	if (shownp != NULL && ((items = json_array()) == NULL ||
	    (tname = element_type_name(f->type, ndims - 1)) == NULL)) {
		r = ERR_NOMEM;
		goto out;
	}
	eth_keccak_init(&k);
	for (i = 0; i < n; i++) {
		old = path_push(c, "[%zu]", i);
		r = encode_value(c, f, ndims - 1, json_array_get(v, i), depth + 1,
		    enc, shownp != NULL ? &item : NULL);
		path_pop(c, old);
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
static int
hash_struct(struct ctx *c, int idx, const json_t *obj, unsigned depth,
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
		fail(c, "expected an object of type %s", st->name);
		return ERR_EIP712_INVALID;
	}
	json_object_foreach((json_t *)(uintptr_t)obj, key, val) {
		for (i = 0; i < st->nfields; i++)
			if (strcmp(st->fields[i].name, key) == 0)
				break;
		if (i == st->nfields) {
			fail(c, "member \"%.64s\" is not a field of %s", key, st->name);
			return ERR_EIP712_INVALID;
		}
	}
	if ((r = type_hash(c, idx, enc)) != 0)
		return r;
	if (shownp != NULL && (fields = json_array()) == NULL)
		return ERR_NOMEM;
	eth_keccak_init(&k);
	eth_keccak_update(&k, enc, 32);
	for (i = 0; i < st->nfields; i++) {
		const struct field *f = &st->fields[i];

		old = path_push(c, ".%s", f->name);
		r = encode_value(c, f, f->t.ndims, json_object_get(obj, f->name),
		    depth, enc, shownp != NULL ? &shown : NULL);
		path_pop(c, old);
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
 * Builds the object hash_struct() checks against the declared
 * EIP712Domain, so that a declared field without a value, or a value
 * without a declared field, is refused there.
 */
static int
domain_values(struct ctx *c, const json_t *untrusted_domain, int didx,
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
		fail(c, "\"domain\" is not an object");
		return ERR_EIP712_INVALID;
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
			fail(c, "EIP712Domain field \"%s %s\" is not one of: string name, "
			    "string version, uint256 chainId, address verifyingContract, "
			    "bytes32 salt", st->fields[i].type, st->fields[i].name);
			return ERR_EIP712_INVALID;
		}
	}
	if ((values = json_object()) == NULL)
		return ERR_NOMEM;
	json_object_foreach((json_t *)(uintptr_t)untrusted_domain, key, val) {
		for (j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			if (strcmp(key, known[j].name) == 0)
				break;
		if (j == sizeof(known) / sizeof(known[0])) {
			fail(c, "domain member \"%.64s\" is not one of name, version, "
			    "chainId, verifyingContract, salt", key);
			json_decref(values);
			return ERR_EIP712_INVALID;
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
		size_t old = path_push(c, "domain.chainId");
		int r = encode_primitive(c, &t, val, be, NULL);

		path_pop(c, old);
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

int
eth_eip712_hash(const json_t *untrusted, struct eth_eip712_result *res,
    int want_messages, char errmsg[ETH_EIP712_ERRMSG_MAX])
{
	struct ctx c;
	struct eth_eip712_result out;
	json_t *primary, *domain, *message, *domain_vals = NULL;
	json_t *shown_domain = NULL, *shown_msg = NULL, *messages = NULL;
	const char *key;
	json_t *val;
	uint8_t pre[66];
	int didx, pidx, r;
	size_t old;

	memset(res, 0, sizeof(*res));
	memset(&out, 0, sizeof(out));
	memset(&c, 0, sizeof(c));
	c.errmsg = errmsg;
	if (errmsg != NULL)
		errmsg[0] = '\0';

	if (!json_is_object(untrusted)) {
		fail(&c, "typed data is not a JSON object");
		r = ERR_EIP712_INVALID;
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)untrusted, key, val) {
		if (strcmp(key, "types") != 0 && strcmp(key, "primaryType") != 0 &&
		    strcmp(key, "domain") != 0 && strcmp(key, "message") != 0) {
			fail(&c, "unknown member \"%.64s\" (expected types, primaryType, "
			    "domain, message)", key);
			r = ERR_EIP712_INVALID;
			goto out;
		}
	}
	primary = json_object_get(untrusted, "primaryType");
	domain = json_object_get(untrusted, "domain");
	message = json_object_get(untrusted, "message");
	if ((r = parse_types(&c, json_object_get(untrusted, "types"))) != 0)
		goto out;
	r = ERR_EIP712_INVALID;
	if ((didx = find_type(&c, DOMAIN_TYPE, strlen(DOMAIN_TYPE))) < 0) {
		fail(&c, "type EIP712Domain is not declared");
		goto out;
	}
	if (!json_is_string(primary) ||
	    (pidx = find_type(&c, json_string_value(primary),
	    json_string_length(primary))) < 0) {
		fail(&c, "primaryType is not a declared type");
		goto out;
	}
	if (pidx == didx) {
		fail(&c, "primaryType cannot be EIP712Domain");
		goto out;
	}
	if (!json_is_object(message)) {
		fail(&c, "\"message\" is not an object");
		goto out;
	}
	if ((r = domain_values(&c, domain, didx, &domain_vals, &out)) != 0)
		goto out;
	if (json_object_size(domain_vals) == 0) {
		fail(&c, "domain is undefined");
		r = ERR_EIP712_INVALID;
		goto out;
	}

	old = path_push(&c, "domain");
	r = hash_struct(&c, didx, domain_vals, 0, out.domain_separator,
	    want_messages ? &shown_domain : NULL);
	path_pop(&c, old);
	if (r != 0)
		goto out;
	old = path_push(&c, "message");
	r = hash_struct(&c, pidx, message, 0, out.message_hash,
	    want_messages ? &shown_msg : NULL);
	path_pop(&c, old);
	if (r != 0)
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
    char errmsg[ETH_EIP712_ERRMSG_MAX])
{
	struct eth_eip712_result res;
	int r;

	if ((r = eth_eip712_hash(untrusted, &res, 0, errmsg)) != 0)
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

/* ---- Gnosis Safe ---- */

/* A non-negative integer member: a JSON integer or a decimal string. */
static int
gnosis_uint(struct ctx *c, const json_t *tx, const char *name, int strings_only,
    json_t **outp)
{
	const json_t *v = json_object_get(tx, name);
	struct eth_u256 u;
	char dec[ETH_U256_DECIMAL_MAX];

	*outp = NULL;
	if (v == NULL || json_is_null(v)) {
		fail(c, "%s is missing", name);
		return ERR_EIP712_INVALID;
	}
	if (json_is_integer(v) && !strings_only && json_integer_value(v) >= 0) {
		eth_u256_from_u64(&u, (uint64_t)json_integer_value(v));
	} else if (!json_is_string(v) ||
	    eth_u256_parse_decimal(json_string_value(v), json_string_length(v), &u) != 0) {
		fail(c, "%s is not a non-negative decimal integer", name);
		return ERR_EIP712_INVALID;
	}
	eth_u256_to_decimal(&u, dec);
	if ((*outp = json_string(dec)) == NULL)
		return ERR_NOMEM;
	return 0;
}

static int
gnosis_address(struct ctx *c, const json_t *tx, const char *name, json_t **outp)
{
	const json_t *v = json_object_get(tx, name);
	uint8_t a[ETH_ADDR_LEN];
	char s[ETH_ADDR_STR];

	*outp = NULL;
	if (!json_is_string(v) ||
	    eth_addr_parse(json_string_value(v), json_string_length(v), a, NULL) != 0) {
		fail(c, "%s is not an address", name);
		return ERR_EIP712_INVALID;
	}
	eth_addr_to_checksum(a, s);
	if ((*outp = json_string(s)) == NULL)
		return ERR_NOMEM;
	return 0;
}

/* The typed data Clef builds for a Safe transaction; chain NULL: no chainId in the domain. */
static json_t *
gnosis_typed(json_t *const addrs[4], json_t *const uints[5], const char *data,
    json_int_t op, json_t *chain)
{
	json_t *dtype, *domain;

	dtype = json_pack("[{s:s,s:s}]", "name", "verifyingContract", "type", "address");
	domain = json_pack("{s:O}", "verifyingContract", addrs[0]);
	if (dtype == NULL || domain == NULL)
		goto fail;
	if (chain != NULL &&
	    (json_array_insert_new(dtype, 0, json_pack("{s:s,s:s}", "name", "chainId",
	    "type", "uint256")) != 0 || json_object_set(domain, "chainId", chain) != 0))
		goto fail;
	return json_pack("{s:{s:o,s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},"
	    "{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]},"
	    "s:s,s:o,s:{s:O,s:O,s:s,s:I,s:O,s:O,s:O,s:O,s:O,s:O}}",
	    "types",
	    "EIP712Domain", dtype,
	    "SafeTx",
	    "name", "to", "type", "address",
	    "name", "value", "type", "uint256",
	    "name", "data", "type", "bytes",
	    "name", "operation", "type", "uint8",
	    "name", "safeTxGas", "type", "uint256",
	    "name", "baseGas", "type", "uint256",
	    "name", "gasPrice", "type", "uint256",
	    "name", "gasToken", "type", "address",
	    "name", "refundReceiver", "type", "address",
	    "name", "nonce", "type", "uint256",
	    "primaryType", "SafeTx",
	    "domain", domain,
	    "message",
	    "to", addrs[1], "value", uints[0], "data", data, "operation", op,
	    "safeTxGas", uints[2], "baseGas", uints[3], "gasPrice", uints[1],
	    "gasToken", addrs[2], "refundReceiver", addrs[3], "nonce", uints[4]);
 fail:
	json_decref(dtype);
	json_decref(domain);
	return NULL;
}

int
eth_eip712_from_gnosis_safe_tx(const json_t *untrusted,
    const struct eth_u256 *default_chain_id, json_t **typedp,
    struct eth_eip712_result *resp, char errmsg[ETH_EIP712_ERRMSG_MAX])
{
	static const char *const addr_names[] = { "safe", "to", "gasToken", "refundReceiver" };
	static const char *const uint_names[] = { "value", "gasPrice", "safeTxGas", "baseGas", "nonce" };
	struct ctx c;
	struct eth_eip712_result res;
	json_t *addrs[4] = { NULL }, *uints[5] = { NULL }, *typed = NULL;
	json_t *data, *op, *chain, *want, *fallback = NULL;
	const char *datastr = "0x";
	uint8_t want_hash[32], *bytes = NULL;
	char chain_dec[ETH_U256_DECIMAL_MAX], have[67];
	size_t i, blen;
	int r, attempt;

	*typedp = NULL;
	if (resp != NULL)
		memset(resp, 0, sizeof(*resp));
	memset(&res, 0, sizeof(res));
	memset(&c, 0, sizeof(c));
	c.errmsg = errmsg;
	if (errmsg != NULL)
		errmsg[0] = '\0';

	r = ERR_EIP712_INVALID;
	if (!json_is_object(untrusted)) {
		fail(&c, "the Safe transaction is not a JSON object");
		goto out;
	}
	for (i = 0; i < 4; i++)
		if ((r = gnosis_address(&c, untrusted, addr_names[i], &addrs[i])) != 0)
			goto out;
	for (i = 0; i < 5; i++)
		if ((r = gnosis_uint(&c, untrusted, uint_names[i], i < 2, &uints[i])) != 0)
			goto out;
	r = ERR_EIP712_INVALID;
	data = json_object_get(untrusted, "data");
	if (data != NULL && !json_is_null(data)) {
		if (!json_is_string(data) || eth_hex_decode(json_string_value(data),
		    json_string_length(data), LIMIT_SIGN_DATA_BYTES, &bytes, &blen) != 0) {
			fail(&c, "data is not 0x-prefixed hex or null");
			goto out;
		}
		free(bytes);
		datastr = json_string_value(data);
	}
	op = json_object_get(untrusted, "operation");
	if (!json_is_integer(op) || json_integer_value(op) < 0 || json_integer_value(op) > 1) {
		fail(&c, "operation is not 0 (call) or 1 (delegatecall)");
		goto out;
	}
	want = json_object_get(untrusted, "safeTxHash");
	if (!json_is_string(want) || eth_hex_decode_fixed(json_string_value(want),
	    json_string_length(want), want_hash, 32) != 0) {
		fail(&c, "safeTxHash is not 32 bytes of 0x hex");
		goto out;
	}
	chain = json_object_get(untrusted, "chainId");
	if (chain != NULL && json_is_null(chain))
		chain = NULL;
	if (chain != NULL && !json_is_string(chain) && !json_is_integer(chain)) {
		fail(&c, "chainId is not an integer");
		goto out;
	}
	/*
	 * Without a chainId, Safes before 1.3 hashed a domain without one;
	 * later ones include the chain: try both, the second with --chainid,
	 * as Clef meant to.  Either way what is signed is what the Safe checks.
	 */
	eth_u256_to_decimal(default_chain_id, chain_dec);
	if (chain == NULL && (fallback = json_string(chain_dec)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	for (attempt = 0; attempt < (chain == NULL ? 2 : 1); attempt++) {
		json_decref(typed);
		eth_eip712_result_clear(&res);
		typed = gnosis_typed(addrs, uints, datastr, json_integer_value(op),
		    chain != NULL ? chain : attempt == 0 ? NULL : fallback);
		if (typed == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
		if ((r = eth_eip712_hash(typed, &res, resp != NULL, errmsg)) != 0)
			goto out;
		if (memcmp(res.digest, want_hash, 32) == 0)
			break;
	}
	if (memcmp(res.digest, want_hash, 32) != 0) {
		eth_hex_encode_to(res.digest, 32, have);
		fail(&c, "mismatched safeTxHash; the fields hash to %s", have);
		r = ERR_EIP712_INVALID;
		goto out;
	}
	/* success */
	if (resp != NULL) {
		*resp = res;
		memset(&res, 0, sizeof(res));
	}
	*typedp = typed;
	typed = NULL;
	r = 0;
 out:
	eth_eip712_result_clear(&res);
	for (i = 0; i < 4; i++)
		json_decref(addrs[i]);
	for (i = 0; i < 5; i++)
		json_decref(uints[i]);
	json_decref(fallback);
	json_decref(typed);
	return r;
}
