#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/abi.h"
#include "eth/addr.h"
#include "core/buf.h"
#include "core/err.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "core/limits.h"
#include "eth/u256.h"

#define WORD 32

enum abi_kind {
	ABI_UINT, ABI_INT, ABI_ADDRESS, ABI_BOOL, ABI_FIXED_BYTES,
	ABI_BYTES, ABI_STRING, ABI_ARRAY, ABI_FIXED_ARRAY, ABI_TUPLE
};

struct abi_type {
	enum abi_kind kind;
	unsigned bits;			/* uintN/intN: N; bytesN: N */
	size_t count;			/* T[N]: N */
	struct abi_type *elem;		/* T[] and T[N] */
	struct abi_type **comps;	/* tuple components */
	char **names;			/* tuple component names, NULL when unnamed */
	size_t ncomps;
	int dynamic;
	size_t head;			/* bytes in the head of an enclosing tuple */
	char *canon;			/* canonical type string, "(address,uint160)[]" */
};

struct eth_abi_fn {
	char *name;
	char *signature;		/* canonical */
	struct abi_type *params;	/* a tuple */
};

/* ---- signature parsing ---- */

struct sig_parser {
	const char *p, *end;
	struct eth_buf canon;		/* canonical signature, built as we go */
};

static void
type_free(struct abi_type *t)
{
	size_t i;

	if (t == NULL)
		return;
	type_free(t->elem);
	for (i = 0; i < t->ncomps; i++) {
		type_free(t->comps[i]);
		if (t->names != NULL)
			free(t->names[i]);
	}
	free(t->comps);
	free(t->names);
	free(t->canon);
	free(t);
}

static int
is_ident(int c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
	    (!first && c >= '0' && c <= '9');
}

/* An identifier at ps->p; its length, 0 when there is none. */
static size_t
ident_len(const struct sig_parser *ps)
{
	size_t n = 0;

	while (ps->p + n < ps->end && is_ident((unsigned char)ps->p[n], n == 0))
		n++;
	return n;
}

/* A decimal number without leading zeros, 1..max; 0 when there is none. */
static size_t
parse_count(struct sig_parser *ps, size_t max)
{
	size_t v = 0;

	if (ps->p >= ps->end || *ps->p < '1' || *ps->p > '9')
		return 0;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		v = v * 10 + (size_t)(*ps->p++ - '0');
		if (v > max)
			return 0;
	}
	return v;
}

static int
elementary(const char *s, size_t n, struct abi_type *t)
{
	struct sig_parser num;
	size_t bits;

#define IS(word) (n == sizeof(word) - 1 && memcmp(s, word, n) == 0)
#define STARTS(word) (n > sizeof(word) - 1 && memcmp(s, word, sizeof(word) - 1) == 0)
	if (IS("address"))
		t->kind = ABI_ADDRESS;
	else if (IS("bool"))
		t->kind = ABI_BOOL;
	else if (IS("string"))
		t->kind = ABI_STRING;
	else if (IS("bytes"))
		t->kind = ABI_BYTES;
	else if (IS("uint") || IS("int")) {
		t->kind = s[0] == 'u' ? ABI_UINT : ABI_INT;
		t->bits = 256;
	} else if (STARTS("uint") || STARTS("int") || STARTS("bytes")) {
		size_t skip = s[0] == 'u' ? 4 : s[0] == 'i' ? 3 : 5;

		num.p = s + skip;
		num.end = s + n;
		bits = parse_count(&num, 256);
		if (num.p != num.end || bits == 0)
			return ERR_ABI_SIGNATURE;
		if (s[0] == 'b') {
			if (bits > 32)
				return ERR_ABI_SIGNATURE;
			t->kind = ABI_FIXED_BYTES;
		} else {
			if (bits % 8 != 0)
				return ERR_ABI_SIGNATURE;
			t->kind = s[0] == 'u' ? ABI_UINT : ABI_INT;
		}
		t->bits = (unsigned)bits;
	} else
		return ERR_ABI_SIGNATURE;
#undef IS
#undef STARTS
	t->head = WORD;
	t->dynamic = t->kind == ABI_BYTES || t->kind == ABI_STRING;
	return 0;
}

static int parse_type(struct sig_parser *ps, unsigned depth, struct abi_type **tp);

static int
canon_put(struct sig_parser *ps, const char *s, size_t n)
{
	return eth_buf_put(&ps->canon, s, n);
}

/* "(T1 name,T2,...)" at ps->p, into tuple t; names allowed when with_names. */
static int
parse_tuple(struct sig_parser *ps, unsigned depth, struct abi_type *t)
{
	size_t n, i;
	int r;

	if (ps->p >= ps->end || *ps->p != '(')
		return ERR_ABI_SIGNATURE;
	ps->p++;
	if ((r = canon_put(ps, "(", 1)) != 0)
		return r;
	t->kind = ABI_TUPLE;
	if ((t->comps = calloc(LIMIT_ABI_PARAMS, sizeof(*t->comps))) == NULL ||
	    (t->names = calloc(LIMIT_ABI_PARAMS, sizeof(*t->names))) == NULL)
		return ERR_NOMEM;
	if (ps->p < ps->end && *ps->p == ')') {
		ps->p++;
		return canon_put(ps, ")", 1);
	}
	for (;;) {
		if (t->ncomps == LIMIT_ABI_PARAMS)
			return ERR_TOO_MANY;
		i = t->ncomps++;
		if ((r = parse_type(ps, depth, &t->comps[i])) != 0)
			return r;
		if (ps->p < ps->end && *ps->p == ' ') {
			ps->p++;
			if ((n = ident_len(ps)) == 0)
				return ERR_ABI_SIGNATURE;
			if ((t->names[i] = strndup(ps->p, n)) == NULL)
				return ERR_NOMEM;
			ps->p += n;
		}
		if (t->comps[i]->dynamic)
			t->dynamic = 1;
		if (ps->p >= ps->end)
			return ERR_ABI_SIGNATURE;
		if (*ps->p == ')')
			break;
		if (*ps->p != ',')
			return ERR_ABI_SIGNATURE;
		ps->p++;
		/* "f(uint a, uint b)", as solc and ethers write it; never two spaces */
		if (ps->p < ps->end && *ps->p == ' ')
			ps->p++;
		if ((r = canon_put(ps, ",", 1)) != 0)
			return r;
	}
	ps->p++;
	return canon_put(ps, ")", 1);
}

/* The head size of a static tuple or array; ERR_TOO_LONG past any call. */
static int
set_head(struct abi_type *t)
{
	size_t i, sum = 0;

	if (t->dynamic) {
		t->head = WORD;
		return 0;
	}
	if (t->kind == ABI_FIXED_ARRAY) {
		if (t->elem->head > LIMIT_TX_DATA_BYTES / t->count)
			return ERR_TOO_LONG;
		t->head = t->elem->head * t->count;
		return 0;
	}
	for (i = 0; i < t->ncomps; i++) {
		sum += t->comps[i]->head;
		if (sum > LIMIT_TX_DATA_BYTES)
			return ERR_TOO_LONG;
	}
	t->head = sum;
	return 0;
}

static int
parse_type(struct sig_parser *ps, unsigned depth, struct abi_type **tp)
{
	struct abi_type *t = NULL, *outer;
	size_t n, start = ps->canon.len;
	int r;

	*tp = NULL;
	if (depth > LIMIT_ABI_DEPTH) {
		r = ERR_TOO_DEEP;
		goto out;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if (ps->p < ps->end && *ps->p == '(') {
		if ((r = parse_tuple(ps, depth + 1, t)) != 0 || (r = set_head(t)) != 0)
			goto out;
		/* Solidity has no empty struct; one would be a value of no bytes */
		if (t->ncomps == 0) {
			r = ERR_ABI_SIGNATURE;
			goto out;
		}
	} else {
		n = ident_len(ps);
		if ((r = elementary(ps->p, n, t)) != 0 || (r = canon_put(ps, ps->p, n)) != 0)
			goto out;
		ps->p += n;
	}
	for (;;) {
		const char *open = ps->p;

		if ((t->canon = strndup((const char *)ps->canon.p + start,
		    ps->canon.len - start)) == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
		if (ps->p >= ps->end || *ps->p != '[')
			break;
		ps->p++;

		if (++depth > LIMIT_ABI_DEPTH) {
			r = ERR_TOO_DEEP;
			goto out;
		}
		if ((outer = calloc(1, sizeof(*outer))) == NULL) {
			r = ERR_NOMEM;
			goto out;
		}
		outer->elem = t;
		t = outer;
		if (ps->p < ps->end && *ps->p == ']') {
			t->kind = ABI_ARRAY;
			t->dynamic = 1;
		} else {
			t->kind = ABI_FIXED_ARRAY;
			if ((t->count = parse_count(ps, LIMIT_ABI_FIXED_ARRAY)) == 0) {
				r = ERR_ABI_SIGNATURE;
				goto out;
			}
			t->dynamic = t->elem->dynamic;
		}
		if (ps->p >= ps->end || *ps->p != ']') {
			r = ERR_ABI_SIGNATURE;
			goto out;
		}
		ps->p++;
		if ((r = canon_put(ps, open, (size_t)(ps->p - open))) != 0 ||
		    (r = set_head(t)) != 0)
			goto out;
	}
	/* success */
	*tp = t;
	t = NULL;
	r = 0;
out:
	type_free(t);
	return r;
}

int
eth_abi_fn_parse(const char *untrusted, size_t len, struct eth_abi_fn **fnp)
{
	struct sig_parser ps;
	struct eth_abi_fn *fn = NULL;
	size_t n;
	int r;

	*fnp = NULL;
	eth_buf_init(&ps.canon, LIMIT_ABI_SIGNATURE + 1);
	if (len > LIMIT_ABI_SIGNATURE) {
		r = ERR_TOO_LONG;
		goto out;
	}
	ps.p = untrusted;
	ps.end = untrusted + len;
	if ((fn = calloc(1, sizeof(*fn))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((n = ident_len(&ps)) == 0) {
		r = ERR_ABI_SIGNATURE;
		goto out;
	}
	if ((fn->name = strndup(ps.p, n)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = canon_put(&ps, ps.p, n)) != 0)
		goto out;
	ps.p += n;
	if ((fn->params = calloc(1, sizeof(*fn->params))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = parse_tuple(&ps, 0, fn->params)) != 0 || (r = set_head(fn->params)) != 0)
		goto out;
	if (ps.p != ps.end) {
		r = ERR_ABI_SIGNATURE;
		goto out;
	}
	if ((r = eth_buf_put_u8(&ps.canon, 0)) != 0 ||
	    (r = eth_buf_steal(&ps.canon, (uint8_t **)&fn->signature, &n)) != 0)
		goto out;
	/* success */
	*fnp = fn;
	fn = NULL;
	r = 0;
out:
	eth_buf_free(&ps.canon);
	eth_abi_fn_free(fn);
	return r;
}

void
eth_abi_fn_free(struct eth_abi_fn *fn)
{
	if (fn == NULL)
		return;
	free(fn->name);
	free(fn->signature);
	type_free(fn->params);
	free(fn);
}

const char *
eth_abi_fn_signature(const struct eth_abi_fn *fn)
{
	return fn->signature;
}

const char *
eth_abi_fn_name(const struct eth_abi_fn *fn)
{
	return fn->name;
}

void
eth_abi_fn_selector(const struct eth_abi_fn *fn, uint8_t selector[4])
{
	uint8_t h[32];

	eth_keccak256(fn->signature, strlen(fn->signature), h);
	memcpy(selector, h, 4);
}

/* ---- decoding ---- */

struct decoder {
	const uint8_t *p;
	size_t len;
	size_t *budget;
	char *why;
};

static int dec_fail(struct decoder *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
dec_fail(struct decoder *d, int code, const char *fmt, ...)
{
	va_list ap;

	if (d->why == NULL || d->why[0] != '\0')
		return code;	/* the first, innermost detail stays */
	va_start(ap, fmt);
	code = err_whyv(d->why, code, fmt, ap);
	va_end(ap);
	return code;
}

/* The 32-byte word at `at`, or NULL when it is not all there. */
static const uint8_t *
word_at(const struct decoder *d, size_t at)
{
	if (at > d->len || d->len - at < WORD)
		return NULL;
	return d->p + at;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* A word that must hold a length or offset: a size_t below the data's length. */
static int
word_size(struct decoder *d, size_t at, size_t *outp)
{
	const uint8_t *w = word_at(d, at);
	struct eth_u256 u;
	uint64_t v;

	if (w == NULL)
		return dec_fail(d, ERR_ABI_DECODE, "data ends at byte %zu", at);
	eth_u256_from_be(w, WORD, &u);
	if (eth_u256_to_u64(&u, &v) != 0 || v > d->len)
		return dec_fail(d, ERR_ABI_DECODE, "offset or length at byte %zu is out of range", at);
	*outp = (size_t)v;
	return 0;
}

static json_t *
node(const struct abi_type *t, const char *name)
{
	json_t *o = json_pack("{s:s}", "type", t->canon);

	if (o != NULL && name != NULL && json_object_set_new(o, "name", json_string(name)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int dec_value(struct decoder *d, const struct abi_type *t, size_t at,
    json_t *o, size_t *sizep);

/*
 * n values at `at` laid out as a tuple: types from comps (a tuple) or elem
 * (n array items).  Canonical: each dynamic value's offset is where the
 * previous tail ended.
 */
static int
dec_seq(struct decoder *d, const struct abi_type *t, size_t n, size_t at,
    json_t *arr, size_t *sizep)
{
	const struct abi_type *ct;
	size_t i, head = 0, tail, pos = at, off, sz;
	json_t *o;
	int r;

	/* the heads must fit in the data: also keeps the sum from wrapping on 32 bits */
	for (i = 0; i < n; i++) {
		sz = (t->kind == ABI_TUPLE ? t->comps[i] : t->elem)->head;
		if (at > d->len || sz > d->len - at - head)
			return dec_fail(d, ERR_ABI_DECODE, "data ends before the values at byte %zu",
			    at);
		head += sz;
	}
	tail = head;
	for (i = 0; i < n; i++) {
		ct = t->kind == ABI_TUPLE ? t->comps[i] : t->elem;
		if (*d->budget == 0)
			return dec_fail(d, ERR_TOO_MANY, "more than %d values", LIMIT_ABI_VALUES);
		(*d->budget)--;
		if ((o = node(ct, t->kind == ABI_TUPLE && t->names != NULL ? t->names[i] : NULL)) == NULL)
			return ERR_NOMEM;
		if (json_array_append_new(arr, o) != 0)
			return ERR_NOMEM;
		if (ct->dynamic) {
			if ((r = word_size(d, pos, &off)) != 0)
				return r;
			if (off != tail)
				return dec_fail(d, ERR_ABI_NONCANONICAL,
				    "offset at byte %zu is %zu, not %zu", pos, off, tail);
			if (at > d->len - off)
				return dec_fail(d, ERR_ABI_DECODE, "offset at byte %zu is out of range", pos);
			if ((r = dec_value(d, ct, at + off, o, &sz)) != 0)
				return r;
			tail += sz;
			pos += WORD;
		} else {
			if ((r = dec_value(d, ct, pos, o, &sz)) != 0)
				return r;
			pos += sz;
		}
	}
	*sizep = tail;
	return 0;
}

static int
dec_int(struct decoder *d, const struct abi_type *t, const uint8_t *w, size_t at, json_t *o)
{
	char dec[ETH_U256_DECIMAL_MAX + 1];
	struct eth_u256 u, m, one;

	eth_u256_from_be(w, WORD, &u);
	if (t->kind == ABI_UINT || !(w[0] & 0x80)) {
		if (eth_u256_bits(&u) > t->bits - (t->kind == ABI_INT))
			return dec_fail(d, ERR_ABI_DECODE, "%sint%u at byte %zu is out of range",
			    t->kind == ABI_UINT ? "u" : "", t->bits, at);
		eth_u256_to_decimal(&u, dec);
	} else {
		/* negative: the magnitude m = -u must be at most 2^(bits-1) */
		eth_u256_neg(&m, &u);
		eth_u256_from_u64(&one, 1);
		eth_u256_sub(&u, &m, &one);
		if (eth_u256_bits(&u) > t->bits - 1)
			return dec_fail(d, ERR_ABI_DECODE, "int%u at byte %zu is out of range",
			    t->bits, at);
		dec[0] = '-';
		eth_u256_to_decimal(&m, dec + 1);
	}
	return json_object_set_new(o, "value", json_string(dec)) == 0 ? 0 : ERR_NOMEM;
}

/* bytes and string: a length word, then the bytes padded with zeros to a word. */
static int
dec_bytes(struct decoder *d, const struct abi_type *t, size_t at, json_t *o, size_t *sizep)
{
	size_t n, padded;
	const uint8_t *p;
	json_t *v;
	int r;

	if ((r = word_size(d, at, &n)) != 0)
		return r;
	padded = (n + WORD - 1) / WORD * WORD;
	if (at + WORD > d->len || d->len - at - WORD < padded)
		return dec_fail(d, ERR_ABI_DECODE, "%zu bytes at byte %zu run past the data",
		    n, at);
	p = d->p + at + WORD;
	if (!all_zero(p + n, padded - n))
		return dec_fail(d, ERR_ABI_NONCANONICAL, "padding after byte %zu is not zero",
		    at + WORD + n);
	if (t->kind == ABI_STRING && memchr(p, 0, n) == NULL &&
	    (v = json_stringn((const char *)p, n)) != NULL)
		r = json_object_set_new(o, "value", v);
	else
		r = json_object_set_new(o, t->kind == ABI_STRING ? "value_hex" : "value",
		    eth_hex_json(p, n));
	if (r != 0)
		return ERR_NOMEM;
	*sizep = WORD + padded;
	return 0;
}

static int
dec_value(struct decoder *d, const struct abi_type *t, size_t at, json_t *o, size_t *sizep)
{
	char addr[ETH_ADDR_STR];
	const uint8_t *w = NULL;
	json_t *arr;
	size_t n, sz;
	int r;

	*sizep = 0;
	if (t->kind <= ABI_FIXED_BYTES && (w = word_at(d, at)) == NULL)
		return dec_fail(d, ERR_ABI_DECODE, "data ends at byte %zu", at);
	switch (t->kind) {
	case ABI_UINT:
	case ABI_INT:
		if ((r = dec_int(d, t, w, at, o)) != 0)
			return r;
		break;
	case ABI_ADDRESS:
		if (!all_zero(w, WORD - ETH_ADDR_LEN))
			return dec_fail(d, ERR_ABI_DECODE, "address at byte %zu has non-zero padding", at);
		eth_addr_to_checksum(w + WORD - ETH_ADDR_LEN, addr);
		if (json_object_set_new(o, "value", json_string(addr)) != 0)
			return ERR_NOMEM;
		break;
	case ABI_BOOL:
		if (!all_zero(w, WORD - 1) || w[WORD - 1] > 1)
			return dec_fail(d, ERR_ABI_DECODE, "bool at byte %zu is neither 0 nor 1", at);
		if (json_object_set_new(o, "value", json_boolean(w[WORD - 1])) != 0)
			return ERR_NOMEM;
		break;
	case ABI_FIXED_BYTES:
		if (!all_zero(w + t->bits, WORD - t->bits))
			return dec_fail(d, ERR_ABI_DECODE, "bytes%u at byte %zu has non-zero padding",
			    t->bits, at);
		if (json_object_set_new(o, "value", eth_hex_json(w, t->bits)) != 0)
			return ERR_NOMEM;
		break;
	case ABI_BYTES:
	case ABI_STRING:
		return dec_bytes(d, t, at, o, sizep);
	case ABI_ARRAY:
	case ABI_FIXED_ARRAY:
	case ABI_TUPLE:
		if ((arr = json_array()) == NULL || json_object_set_new(o, "value", arr) != 0)
			return ERR_NOMEM;
		if (t->kind == ABI_ARRAY) {
			if ((r = word_size(d, at, &n)) != 0)
				return r;
			/* every item takes at least a word: refuse before looping */
			if (n > (d->len - at - WORD) / WORD)
				return dec_fail(d, ERR_ABI_DECODE,
				    "array of %zu items at byte %zu runs past the data", n, at);
			if ((r = dec_seq(d, t, n, at + WORD, arr, &sz)) != 0)
				return r;
			*sizep = WORD + sz;
			return 0;
		}
		return dec_seq(d, t, t->kind == ABI_TUPLE ? t->ncomps : t->count, at, arr, sizep);
	}
	*sizep = WORD;
	return 0;
}

int
eth_abi_decode(const struct eth_abi_fn *fn, const uint8_t *untrusted_args,
    size_t len, size_t *budgetp, json_t **argsp, char why[ERR_WHY_MAX])
{
	struct decoder d = { untrusted_args, len, budgetp, why };
	json_t *args = NULL;
	size_t size;
	int r;

	*argsp = NULL;
	if (why != NULL)
		why[0] = '\0';
	if ((args = json_array()) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((r = dec_seq(&d, fn->params, fn->params->ncomps, 0, args, &size)) != 0)
		goto out;
	if (size != len) {
		r = dec_fail(&d, ERR_ABI_NONCANONICAL, "%zu bytes after the last value",
		    len - size);
		goto out;
	}
	/* success */
	*argsp = args;
	args = NULL;
	r = 0;
out:
	json_decref(args);
	return r;
}
