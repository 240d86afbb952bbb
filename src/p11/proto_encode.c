/*
 * proto_encode.c - the token protocol's encoder (proto_encode).
 */
#include <string.h>

#include "core/err.h"
#include "core/reader.h"
#include "p11/proto_int.h"

/* ---- encoding ---- */

/* The first error sticks; later puts do nothing. */
struct enc {
	struct eth_buf *b;
	int r;
};

static void
put_raw(struct enc *e, const void *p, size_t n)
{
	if (e->r == 0)
		e->r = eth_buf_put(e->b, p, n);
}

static void
put_be32(struct enc *e, uint32_t v)
{
	uint8_t p[4];

	reader_put_be32(p, v);
	put_raw(e, p, 4);
}

static void
put_count(struct enc *e, size_t n)
{
	uint8_t p[2] = { (uint8_t)(n >> 8), (uint8_t)n };

	if (e->r == 0 && n > 0xffff)
		e->r = ERR_TOO_MANY;
	put_raw(e, p, 2);
}

static void
put_field(struct enc *e, const void *p, size_t n)
{
	if (e->r == 0 && n > LIMIT_PROTO_FRAME)
		e->r = ERR_PROTO_FRAME_SIZE;
	put_be32(e, (uint32_t)n);
	put_raw(e, p, n);
}

static void
put_u8(struct enc *e, uint8_t v)
{
	put_field(e, &v, 1);
}

static void
put_u32(struct enc *e, uint32_t v)
{
	uint8_t p[4];

	reader_put_be32(p, v);
	put_field(e, p, 4);
}

static void
put_u64(struct enc *e, uint64_t v)
{
	uint8_t p[8];

	reader_put_be32(p, (uint32_t)(v >> 32));
	reader_put_be32(p + 4, (uint32_t)v);
	put_field(e, p, 8);
}

static void
put_bytes(struct enc *e, const uint8_t *p, size_t n, size_t min, size_t max)
{
	if (e->r != 0)
		return;
	if (p == NULL && n != 0)
		e->r = ERR_INVALID_ARGUMENT;
	else if (n > max)
		e->r = min == max ? ERR_PROTO_FIELD_SIZE : ERR_TOO_LONG;
	else if (n < min)
		e->r = ERR_PROTO_FIELD_SIZE;
	put_field(e, p, n);
}

static void
put_text(struct enc *e, const char *s, size_t min, size_t max)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strnlen(s, max + 1);
	if (e->r == 0)
		e->r = proto_check_text((const uint8_t *)s, n, min, max);
	put_field(e, s, n);
}

static void
put_uri(struct enc *e, const char *s, int required)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strnlen(s, LIMIT_P11_URI + 1);
	if (e->r == 0)
		e->r = proto_check_uri((const uint8_t *)s, n, required);
	put_field(e, s, n);
}

/* A field whose contents follow: its length is set by put_close(). */
static size_t
put_open(struct enc *e)
{
	size_t at = e->b->len;

	put_be32(e, 0);
	return at;
}

static void
put_close(struct enc *e, size_t at)
{
	size_t n;

	if (e->r != 0)
		return;
	n = e->b->len - at - 4;
	if (n > LIMIT_PROTO_FRAME) {
		e->r = ERR_PROTO_FRAME_SIZE;
		return;
	}
	reader_put_be32(e->b->p + at, (uint32_t)n);
}

static void
put_key_fields(struct enc *e, const struct proto_key *k)
{
	put_u32(e, k->handle);
	put_uri(e, k->uri, 1);
	put_text(e, k->label, 0, LIMIT_PROTO_TEXT);
	put_bytes(e, k->id, k->id_len, 0, LIMIT_P11_KEY_ID);
	put_bytes(e, k->pub, sizeof(k->pub), sizeof(k->pub), sizeof(k->pub));
	put_bytes(e, k->addr, sizeof(k->addr), sizeof(k->addr), sizeof(k->addr));
}

static void
put_token(struct enc *e, const struct proto_token *t)
{
	size_t at, keys, i;

	at = put_open(e);
	put_count(e, TOKEN_FIELDS);
	put_uri(e, t->uri, 1);
	put_text(e, t->label, 0, LIMIT_PROTO_TEXT);
	put_text(e, t->manufacturer, 0, LIMIT_PROTO_TEXT);
	put_text(e, t->model, 0, LIMIT_PROTO_TEXT);
	put_text(e, t->serial, 0, LIMIT_PROTO_TEXT);
	put_u64(e, t->slot_id);
	put_u32(e, t->flags);
	keys = put_open(e);
	put_count(e, t->nkeys);
	for (i = 0; i < t->nkeys && e->r == 0; i++) {
		size_t k = put_open(e);
		put_count(e, KEY_FIELDS);
		put_key_fields(e, &t->keys[i]);
		put_close(e, k);
	}
	put_close(e, keys);
	put_close(e, at);
}

/* A list of required URIs. */
static void
put_uri_list(struct enc *e, const char *const *uris, size_t n)
{
	size_t at, i;

	at = put_open(e);
	put_count(e, n);
	for (i = 0; i < n && e->r == 0; i++)
		put_uri(e, uris[i], 1);
	put_close(e, at);
}

static void
put_body(struct enc *e, const struct proto_msg *m)
{
	size_t at, i;

	switch (m->type) {
	case PROTO_HELLO:
	case PROTO_HELLO_REPLY:
		put_u32(e, m->hello.version);
		break;
	case PROTO_LIST_KEYS:
		break;
	case PROTO_CONFIGURE:
		put_uri_list(e, m->configure.token_uris, m->configure.ntoken_uris);
		put_uri_list(e, m->configure.pin_rejected, m->configure.npin_rejected);
		break;
	case PROTO_KEY_STATUS:
		put_u32(e, m->key_status.key.handle);
		put_uri(e, m->key_status.key.uri, 0);
		break;
	case PROTO_SIGN:
		put_u32(e, m->sign.key.handle);
		put_uri(e, m->sign.key.uri, 0);
		put_bytes(e, m->sign.digest, 32, 32, 32);
		break;
	case PROTO_GENERATE:
		put_uri(e, m->generate.token_uri, 1);
		put_text(e, m->generate.label, 1, LIMIT_PROTO_TEXT);
		put_bytes(e, m->generate.id, m->generate.id_len, 0, LIMIT_P11_KEY_ID);
		break;
	case PROTO_LOGIN:
		put_uri(e, m->login.token_uri, 1);
		put_u32(e, m->login.flags);
		put_bytes(e, m->login.pin, m->login.pin_len, 0, LIMIT_P11_PIN);
		break;
	case PROTO_KEY_LIST:
		put_text(e, m->key_list.manufacturer, 0, LIMIT_PROTO_TEXT);
		put_text(e, m->key_list.description, 0, LIMIT_PROTO_TEXT);
		put_u8(e, m->key_list.version_major);
		put_u8(e, m->key_list.version_minor);
		at = put_open(e);
		put_count(e, m->key_list.ntokens);
		for (i = 0; i < m->key_list.ntokens && e->r == 0; i++)
			put_token(e, &m->key_list.tokens[i]);
		put_close(e, at);
		break;
	case PROTO_KEY_STATE:
		put_u32(e, m->key_state.handle);
		put_u8(e, m->key_state.state);
		put_u32(e, m->key_state.token_flags);
		break;
	case PROTO_SIGNATURE:
		put_bytes(e, m->signature.sig, 64, 64, 64);
		break;
	case PROTO_GENERATED:
		put_key_fields(e, &m->generated);
		break;
	case PROTO_LOGIN_RESULT:
		put_u8(e, m->login_result.status);
		put_u32(e, m->login_result.token_flags);
		break;
	case PROTO_ERROR:
		put_u32(e, (uint32_t)m->error.code);
		put_text(e, m->error.message, 0, LIMIT_PROTO_TEXT);
		break;
	case PROTO_EVENT:
		put_u8(e, m->event.kind);
		put_u64(e, m->event.slot_id);
		put_uri(e, m->event.token_uri, 1);
		break;
	}
}

int
proto_encode(struct eth_buf *b, const struct proto_msg *m)
{
	struct enc e = { b, 0 };
	const struct type_info *t;
	size_t start = b->len, n;
	uint8_t type;

	if ((t = proto_type_info(m->type)) == NULL)
		return ERR_PROTO_UNKNOWN_TYPE;
	if ((e.r = proto_check_msg(m)) != 0)
		return e.r;
	type = m->type;
	put_be32(&e, 0);
	put_raw(&e, &type, 1);
	put_be32(&e, m->id);
	put_count(&e, t->nfields);
	put_body(&e, m);
	if (e.r == 0) {
		n = b->len - start - PROTO_PREFIX_LEN;
		if (n > LIMIT_PROTO_FRAME)
			e.r = ERR_PROTO_FRAME_SIZE;
		else
			reader_put_be32(b->p + start, (uint32_t)n);
	}
	if (e.r != 0 && b->len > start) {
		explicit_bzero(b->p + start, b->len - start);
		b->len = start;
	}
	return e.r;
}
