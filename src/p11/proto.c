/*
 * proto.c - the token protocol codec, its stream reader and blocking I/O.
 * The wire format is docs/token-protocol.md; the rules are in one place per
 * kind (field_*, check_*), used by the encoder and the decoder alike.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eth/addr.h"
#include "core/err.h"
#include "core/limits.h"
#include "eth/sig.h"
#include "p11/proto.h"

/* type(1) + request id(4) + field count(2): the smallest body. */
#define BODY_MIN		7
/* A reader holds at most the end of one frame and the whole of the next. */
#define READER_MAX		(2 * ((size_t)PROTO_PREFIX_LEN + LIMIT_PROTO_FRAME))
#define READ_CHUNK		65536

#define KEY_FIELDS		6
#define TOKEN_FIELDS		8

static const struct type_info {
	uint8_t type;
	uint8_t sender;		/* enum proto_side */
	uint8_t nfields;
	uint8_t reply;		/* for a request: the type that answers it */
	const char *name;
} type_table[] = {
	{ PROTO_HELLO,        PROTO_FROM_DAEMON, 1, PROTO_HELLO_REPLY,  "HELLO" },
	{ PROTO_LIST_KEYS,    PROTO_FROM_DAEMON, 0, PROTO_KEY_LIST,     "LIST_KEYS" },
	{ PROTO_KEY_STATUS,   PROTO_FROM_DAEMON, 2, PROTO_KEY_STATE,    "KEY_STATUS" },
	{ PROTO_SIGN,         PROTO_FROM_DAEMON, 3, PROTO_SIGNATURE,    "SIGN" },
	{ PROTO_GENERATE,     PROTO_FROM_DAEMON, 3, PROTO_GENERATED,    "GENERATE" },
	{ PROTO_LOGIN,        PROTO_FROM_DAEMON, 3, PROTO_LOGIN_RESULT, "LOGIN" },
	{ PROTO_CONFIGURE,    PROTO_FROM_DAEMON, 2, PROTO_KEY_LIST,     "CONFIGURE" },
	{ PROTO_HELLO_REPLY,  PROTO_FROM_HELPER, 1, 0, "HELLO_REPLY" },
	{ PROTO_KEY_LIST,     PROTO_FROM_HELPER, 5, 0, "KEY_LIST" },
	{ PROTO_KEY_STATE,    PROTO_FROM_HELPER, 3, 0, "KEY_STATE" },
	{ PROTO_SIGNATURE,    PROTO_FROM_HELPER, 2, 0, "SIGNATURE" },
	{ PROTO_GENERATED,    PROTO_FROM_HELPER, KEY_FIELDS, 0, "GENERATED" },
	{ PROTO_LOGIN_RESULT, PROTO_FROM_HELPER, 2, 0, "LOGIN_RESULT" },
	{ PROTO_ERROR,        PROTO_FROM_HELPER, 2, 0, "ERROR" },
	{ PROTO_EVENT,        PROTO_FROM_HELPER, 3, 0, "EVENT" },
};

static const struct type_info *
type_info(int type)
{
	size_t i;

	for (i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
		if (type_table[i].type == type)
			return &type_table[i];
	return NULL;
}

enum proto_side
proto_type_sender(int type)
{
	const struct type_info *t = type_info(type);

	return t != NULL ? (enum proto_side)t->sender : 0;
}

int
proto_is_reply_to(int request_type, int reply_type)
{
	const struct type_info *t = type_info(request_type);

	if (t == NULL || t->sender != PROTO_FROM_DAEMON)
		return 0;
	return reply_type == t->reply || reply_type == PROTO_ERROR;
}

const char *
proto_type_name(int type)
{
	const struct type_info *t = type_info(type);

	return t != NULL ? t->name : "UNKNOWN";
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
set_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- the rules on field contents ---- */

/*
 * Length of the allowed character at p (1..4), or 0.  Allowed: shortest-form
 * UTF-8 of a scalar value that is not a C0 or C1 control, DEL, or a bidi
 * embedding/override/isolate (which would let a label display as another).
 */
static size_t
text_char(const uint8_t *p, size_t n)
{
	uint32_t c;
	size_t len, i;

	if (p[0] < 0x80)
		return p[0] >= 0x20 && p[0] != 0x7f ? 1 : 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	if ((c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c <= 0x9f) ||
	    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
		return 0;
	return len;
}

static int
check_text(const uint8_t *p, size_t n, size_t min, size_t max)
{
	size_t i, k;

	if (n > max)
		return ERR_TOO_LONG;
	if (n < min)
		return ERR_PROTO_FIELD_SIZE;
	for (i = 0; i < n; i += k)
		if ((k = text_char(p + i, n - i)) == 0)
			return ERR_PROTO_FIELD_VALUE;
	return 0;
}

static int
is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "pkcs11:" then RFC 3986 characters only, every '%' followed by two hex digits. */
static int
check_uri(const uint8_t *p, size_t n, int required)
{
	static const char prefix[] = "pkcs11:";
	static const char other[] = "-._~!$&'()*+,;=:@/?";
	size_t i;

	if (n > LIMIT_PROTO_URI)
		return ERR_TOO_LONG;
	if (n == 0)
		return required ? ERR_PROTO_FIELD_SIZE : 0;
	if (n < sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0)
		return ERR_PROTO_FIELD_VALUE;
	for (i = sizeof(prefix) - 1; i < n; i++) {
		uint8_t c = p[i];
		if (c == '%') {
			if (n - i < 3 || !is_hex(p[i + 1]) || !is_hex(p[i + 2]))
				return ERR_PROTO_FIELD_VALUE;
			i += 2;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != 0 && strchr(other, c) != NULL)))
			return ERR_PROTO_FIELD_VALUE;
	}
	return 0;
}

static int
check_key(const struct proto_key *k)
{
	uint8_t pub[65], addr[20];
	int r;

	if (k->handle == 0 || k->pub[0] != 0x04)
		return ERR_PROTO_FIELD_VALUE;
	if ((r = eth_sig_pubkey_parse(k->pub, sizeof(k->pub), pub)) != 0)
		return r == ERR_NOMEM ? r : ERR_PROTO_FIELD_VALUE;
	if (eth_addr_from_pubkey(k->pub, addr) != 0 || memcmp(addr, k->addr, sizeof(addr)) != 0)
		return ERR_PROTO_FIELD_VALUE;
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
check_key_list(const struct proto_key_list *l)
{
	uint32_t *handles = NULL;
	size_t i, j, n = 0;
	int r;

	if (l->ntokens > LIMIT_PROTO_TOKENS)
		return ERR_TOO_MANY;
	if (l->ntokens != 0 && l->tokens == NULL)
		return ERR_INVALID_ARGUMENT;
	for (i = 0; i < l->ntokens; i++) {
		const struct proto_token *t = &l->tokens[i];
		if (t->nkeys > LIMIT_PROTO_KEYS - n)
			return ERR_TOO_MANY;
		if (t->nkeys != 0 && t->keys == NULL)
			return ERR_INVALID_ARGUMENT;
		n += t->nkeys;
		if ((t->flags & ~PROTO_TOKEN_FLAGS_ALL) != 0)
			return ERR_PROTO_FIELD_VALUE;
		/* A removed token has no keys and no login. */
		if (!(t->flags & PROTO_TOKEN_PRESENT) &&
		    (t->nkeys != 0 || (t->flags & PROTO_TOKEN_LOGGED_IN)))
			return ERR_PROTO_FIELD_VALUE;
	}
	if (n == 0)
		return 0;
	if ((handles = malloc(n * sizeof(*handles))) == NULL)
		return ERR_NOMEM;
	n = 0;
	for (i = 0; i < l->ntokens; i++) {
		for (j = 0; j < l->tokens[i].nkeys; j++) {
			if ((r = check_key(&l->tokens[i].keys[j])) != 0)
				goto out;
			handles[n++] = l->tokens[i].keys[j].handle;
		}
	}
	qsort(handles, n, sizeof(*handles), cmp_u32);
	for (i = 1; i < n; i++) {
		if (handles[i] == handles[i - 1]) {
			r = ERR_PROTO_FIELD_VALUE;
			goto out;
		}
	}
	/* success */
	r = 0;
 out:
	free(handles);
	return r;
}

static int
check_key_ref(const struct proto_key_ref *k)
{
	int has_uri = k->uri != NULL && k->uri[0] != '\0';

	return (k->handle != 0) != has_uri ? 0 : ERR_PROTO_FIELD_VALUE;
}

/*
 * The rules that tie fields together, and value ranges; sizes and syntax of
 * single fields are checked where they are read or written.
 */
static int
check_msg(const struct proto_msg *m)
{
	const struct type_info *t = type_info(m->type);

	if (t == NULL)
		return ERR_PROTO_UNKNOWN_TYPE;
	/* Requests and their replies carry an id; events none; errors either. */
	if (m->type == PROTO_EVENT ? m->id != 0 : (m->type != PROTO_ERROR && m->id == 0))
		return ERR_PROTO_FIELD_VALUE;
	switch (m->type) {
	case PROTO_HELLO:
	case PROTO_HELLO_REPLY:
		return m->hello.version != 0 ? 0 : ERR_PROTO_FIELD_VALUE;
	case PROTO_KEY_STATUS:
		return check_key_ref(&m->key_status.key);
	case PROTO_SIGN:
		return check_key_ref(&m->sign.key);
	case PROTO_LOGIN:
		if ((m->login.flags & ~PROTO_LOGIN_FLAGS_ALL) != 0)
			return ERR_PROTO_FIELD_VALUE;
		if ((m->login.flags & PROTO_LOGIN_PIN_PAD) ? m->login.pin_len != 0 : m->login.pin_len == 0)
			return ERR_PROTO_FIELD_SIZE;
		return 0;
	case PROTO_KEY_LIST:
		return check_key_list(&m->key_list);
	case PROTO_CONFIGURE:
		if (m->configure.ntoken_uris > LIMIT_P11_URIS ||
		    m->configure.npin_rejected > LIMIT_PROTO_TOKENS)
			return ERR_TOO_MANY;
		if ((m->configure.ntoken_uris > 0 && m->configure.token_uris == NULL) ||
		    (m->configure.npin_rejected > 0 && m->configure.pin_rejected == NULL))
			return ERR_INVALID_ARGUMENT;
		return 0;
	case PROTO_KEY_STATE: {
		const struct proto_key_state_reply *s = &m->key_state;
		int present = (s->token_flags & PROTO_TOKEN_PRESENT) != 0;
		if (s->state > PROTO_KEY_STATE_MAX || (s->token_flags & ~PROTO_TOKEN_FLAGS_ALL) != 0)
			return ERR_PROTO_FIELD_VALUE;
		if ((s->state == PROTO_KEY_NOT_FOUND) != (s->handle == 0))
			return ERR_PROTO_FIELD_VALUE;
		if ((s->state == PROTO_KEY_NOT_FOUND && s->token_flags != 0) ||
		    (s->state == PROTO_KEY_AVAILABLE && !present) ||
		    (s->state == PROTO_KEY_TOKEN_ABSENT && present))
			return ERR_PROTO_FIELD_VALUE;
		return 0;
	}
	case PROTO_SIGNATURE:
		/* eth_sig_is_low_s() is 0 also for r or s zero or not below n. */
		if (m->signature.recid > 1 || !eth_sig_is_low_s(m->signature.sig))
			return ERR_PROTO_FIELD_VALUE;
		return 0;
	case PROTO_GENERATED:
		return check_key(&m->generated);
	case PROTO_LOGIN_RESULT:
		if (m->login_result.status > PROTO_LOGIN_STATUS_MAX ||
		    (m->login_result.token_flags & ~PROTO_TOKEN_FLAGS_ALL) != 0)
			return ERR_PROTO_FIELD_VALUE;
		return 0;
	case PROTO_ERROR:
		return m->error.code < 0 ? 0 : ERR_PROTO_FIELD_VALUE;
	case PROTO_EVENT:
		if (m->event.kind == 0 || m->event.kind > PROTO_EVENT_KIND_MAX)
			return ERR_PROTO_FIELD_VALUE;
		return 0;
	}
	return 0;	/* LIST_KEYS, GENERATE: nothing beyond their fields */
}

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

	set_be32(p, v);
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

	set_be32(p, v);
	put_field(e, p, 4);
}

static void
put_u64(struct enc *e, uint64_t v)
{
	uint8_t p[8];

	set_be32(p, (uint32_t)(v >> 32));
	set_be32(p + 4, (uint32_t)v);
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
		e->r = check_text((const uint8_t *)s, n, min, max);
	put_field(e, s, n);
}

static void
put_uri(struct enc *e, const char *s, int required)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strnlen(s, LIMIT_PROTO_URI + 1);
	if (e->r == 0)
		e->r = check_uri((const uint8_t *)s, n, required);
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
	set_be32(e->b->p + at, (uint32_t)n);
}

static void
put_key_fields(struct enc *e, const struct proto_key *k)
{
	put_u32(e, k->handle);
	put_uri(e, k->uri, 1);
	put_text(e, k->label, 0, LIMIT_PROTO_TEXT);
	put_bytes(e, k->id, k->id_len, 0, LIMIT_PROTO_KEY_ID);
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
		put_bytes(e, m->generate.id, m->generate.id_len, 0, LIMIT_PROTO_KEY_ID);
		break;
	case PROTO_LOGIN:
		put_uri(e, m->login.token_uri, 1);
		put_u32(e, m->login.flags);
		put_bytes(e, m->login.pin, m->login.pin_len, 0, LIMIT_PROTO_PIN);
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
		put_u8(e, m->signature.recid);
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

	if ((t = type_info(m->type)) == NULL)
		return ERR_PROTO_UNKNOWN_TYPE;
	if ((e.r = check_msg(m)) != 0)
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
			set_be32(b->p + start, (uint32_t)n);
	}
	if (e.r != 0 && b->len > start) {
		explicit_bzero(b->p + start, b->len - start);
		b->len = start;
	}
	return e.r;
}

/* ---- decoding ---- */

/* A decoded message's memory: one block per allocation, all wiped on free. */
struct proto_alloc {
	struct proto_alloc *next;
	size_t size;
	max_align_t data[];
};

static const uint8_t empty_bytes[1];

static void *
msg_alloc(struct proto_msg *m, size_t n)
{
	struct proto_alloc *a;

	if (n > SIZE_MAX - sizeof(*a) || (a = calloc(1, sizeof(*a) + n)) == NULL)
		return NULL;
	a->size = n;
	a->next = m->priv;
	m->priv = a;
	return a->data;
}

void
proto_msg_free(struct proto_msg *m)
{
	struct proto_alloc *a, *next;

	if (m == NULL)
		return;
	for (a = m->priv; a != NULL; a = next) {
		next = a->next;
		explicit_bzero(a->data, a->size);
		free(a);
	}
	explicit_bzero(m, sizeof(*m));
	free(m);
}

/* Unread input. */
struct cur {
	const uint8_t *p;
	size_t len;
};

static int
take(struct cur *c, size_t n, const uint8_t **pp)
{
	if (c->len < n)
		return ERR_PROTO_TRUNCATED;
	*pp = c->p;
	c->p += n;
	c->len -= n;
	return 0;
}

/*
 * A field of min..max bytes.  Its length is checked against the caps before
 * against what is left, so an over-long field reads as over-long.
 */
static int
get_field(struct cur *c, size_t min, size_t max, struct cur *f)
{
	const uint8_t *p;
	uint32_t n;
	int r;

	if ((r = take(c, 4, &p)) != 0)
		return r;
	n = get_be32(p);
	if (n > max)
		return min == max ? ERR_PROTO_FIELD_SIZE : ERR_TOO_LONG;
	if (n < min)
		return ERR_PROTO_FIELD_SIZE;
	if ((r = take(c, n, &f->p)) != 0)
		return r;
	f->len = n;
	return 0;
}

static int
get_count(struct cur *c, size_t *np)
{
	const uint8_t *p;
	int r;

	if ((r = take(c, 2, &p)) != 0)
		return r;
	*np = (size_t)p[0] << 8 | p[1];
	return 0;
}

static int
get_record(struct cur *c, size_t want)
{
	size_t n;
	int r;

	if ((r = get_count(c, &n)) != 0)
		return r;
	return n == want ? 0 : ERR_PROTO_FIELD_COUNT;
}

static int
get_end(const struct cur *c)
{
	return c->len == 0 ? 0 : ERR_PROTO_TRAILING;
}

static int
get_u8(struct cur *c, uint8_t *v)
{
	struct cur f;
	int r;

	if ((r = get_field(c, 1, 1, &f)) != 0)
		return r;
	*v = f.p[0];
	return 0;
}

static int
get_u32(struct cur *c, uint32_t *v)
{
	struct cur f;
	int r;

	if ((r = get_field(c, 4, 4, &f)) != 0)
		return r;
	*v = get_be32(f.p);
	return 0;
}

static int
get_u64(struct cur *c, uint64_t *v)
{
	struct cur f;
	int r;

	if ((r = get_field(c, 8, 8, &f)) != 0)
		return r;
	*v = (uint64_t)get_be32(f.p) << 32 | get_be32(f.p + 4);
	return 0;
}

static int
get_fixed(struct cur *c, uint8_t *out, size_t n)
{
	struct cur f;
	int r;

	if ((r = get_field(c, n, n, &f)) != 0)
		return r;
	memcpy(out, f.p, n);
	return 0;
}

/* A copy owned by m; an empty field gives a non-NULL empty buffer. */
static int
get_bytes(struct proto_msg *m, struct cur *c, size_t min, size_t max,
    const uint8_t **pp, size_t *lenp)
{
	struct cur f;
	uint8_t *p;
	int r;

	if ((r = get_field(c, min, max, &f)) != 0)
		return r;
	*lenp = f.len;
	if (f.len == 0) {
		*pp = empty_bytes;
		return 0;
	}
	if ((p = msg_alloc(m, f.len)) == NULL)
		return ERR_NOMEM;
	memcpy(p, f.p, f.len);
	*pp = p;
	return 0;
}

static int
copy_string(struct proto_msg *m, const struct cur *f, const char **sp)
{
	char *s;

	if (f->len == 0) {
		*sp = "";
		return 0;
	}
	if ((s = msg_alloc(m, f->len + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(s, f->p, f->len);
	s[f->len] = '\0';
	*sp = s;
	return 0;
}

static int
get_text(struct proto_msg *m, struct cur *c, size_t min, size_t max, const char **sp)
{
	struct cur f;
	int r;

	if ((r = get_field(c, 0, max, &f)) != 0 ||
	    (r = check_text(f.p, f.len, min, max)) != 0)
		return r;
	return copy_string(m, &f, sp);
}

static int
get_uri(struct proto_msg *m, struct cur *c, int required, const char **sp)
{
	struct cur f;
	int r;

	if ((r = get_field(c, 0, LIMIT_PROTO_URI, &f)) != 0 ||
	    (r = check_uri(f.p, f.len, required)) != 0)
		return r;
	return copy_string(m, &f, sp);
}

static int
get_key_fields(struct proto_msg *m, struct cur *c, struct proto_key *k)
{
	int r;

	if ((r = get_u32(c, &k->handle)) != 0 ||
	    (r = get_uri(m, c, 1, &k->uri)) != 0 ||
	    (r = get_text(m, c, 0, LIMIT_PROTO_TEXT, &k->label)) != 0 ||
	    (r = get_bytes(m, c, 0, LIMIT_PROTO_KEY_ID, &k->id, &k->id_len)) != 0 ||
	    (r = get_fixed(c, k->pub, sizeof(k->pub))) != 0 ||
	    (r = get_fixed(c, k->addr, sizeof(k->addr))) != 0)
		return r;
	return 0;
}

/*
 * A list: a field holding a count and that many fields.  The count is
 * checked against the cap and against the bytes left (4 at least per item)
 * before the array is allocated.
 */
static int
get_list(struct proto_msg *m, struct cur *c, size_t cap, size_t item_size,
    struct cur *items, size_t *np, void **arrayp)
{
	size_t n;
	void *a;
	int r;

	*arrayp = NULL;
	if ((r = get_field(c, 2, LIMIT_PROTO_FRAME, items)) != 0 ||
	    (r = get_count(items, &n)) != 0)
		return r;
	if (n > cap)
		return ERR_TOO_MANY;
	if (n > items->len / 4)
		return ERR_PROTO_TRUNCATED;
	if (n > 0 && (a = msg_alloc(m, n * item_size)) == NULL)
		return ERR_NOMEM;
	*arrayp = n > 0 ? a : NULL;
	*np = n;
	return 0;
}

static int
get_token(struct proto_msg *m, struct cur *c, struct proto_token *t, size_t *total_keys)
{
	struct cur rec, items, kf;
	struct proto_key *keys;
	size_t i;
	void *a;
	int r;

	if ((r = get_field(c, 2, LIMIT_PROTO_FRAME, &rec)) != 0 ||
	    (r = get_record(&rec, TOKEN_FIELDS)) != 0 ||
	    (r = get_uri(m, &rec, 1, &t->uri)) != 0 ||
	    (r = get_text(m, &rec, 0, LIMIT_PROTO_TEXT, &t->label)) != 0 ||
	    (r = get_text(m, &rec, 0, LIMIT_PROTO_TEXT, &t->manufacturer)) != 0 ||
	    (r = get_text(m, &rec, 0, LIMIT_PROTO_TEXT, &t->model)) != 0 ||
	    (r = get_text(m, &rec, 0, LIMIT_PROTO_TEXT, &t->serial)) != 0 ||
	    (r = get_u64(&rec, &t->slot_id)) != 0 ||
	    (r = get_u32(&rec, &t->flags)) != 0 ||
	    (r = get_list(m, &rec, LIMIT_PROTO_KEYS - *total_keys, sizeof(*keys),
	    &items, &t->nkeys, &a)) != 0)
		return r;
	keys = a;
	*total_keys += t->nkeys;
	for (i = 0; i < t->nkeys; i++) {
		if ((r = get_field(&items, 2, LIMIT_PROTO_FRAME, &kf)) != 0 ||
		    (r = get_record(&kf, KEY_FIELDS)) != 0 ||
		    (r = get_key_fields(m, &kf, &keys[i])) != 0 ||
		    (r = get_end(&kf)) != 0)
			return r;
	}
	t->keys = keys;
	if ((r = get_end(&items)) != 0)
		return r;
	return get_end(&rec);
}

static int
get_key_list(struct proto_msg *m, struct cur *c, struct proto_key_list *l)
{
	struct cur items;
	struct proto_token *tokens;
	size_t i, total_keys = 0;
	void *a;
	int r;

	if ((r = get_text(m, c, 0, LIMIT_PROTO_TEXT, &l->manufacturer)) != 0 ||
	    (r = get_text(m, c, 0, LIMIT_PROTO_TEXT, &l->description)) != 0 ||
	    (r = get_u8(c, &l->version_major)) != 0 ||
	    (r = get_u8(c, &l->version_minor)) != 0 ||
	    (r = get_list(m, c, LIMIT_PROTO_TOKENS, sizeof(*tokens), &items,
	    &l->ntokens, &a)) != 0)
		return r;
	tokens = a;
	for (i = 0; i < l->ntokens; i++)
		if ((r = get_token(m, &items, &tokens[i], &total_keys)) != 0)
			return r;
	l->tokens = tokens;
	return get_end(&items);
}

/* A list of at most cap required URIs, copies owned by m. */
static int
get_uri_list(struct proto_msg *m, struct cur *c, size_t cap, const char *const **urisp,
    size_t *np)
{
	struct cur items;
	const char **uris;
	size_t i;
	void *a;
	int r;

	if ((r = get_list(m, c, cap, sizeof(*uris), &items, np, &a)) != 0)
		return r;
	uris = a;
	for (i = 0; i < *np; i++)
		if ((r = get_uri(m, &items, 1, &uris[i])) != 0)
			return r;
	*urisp = uris;
	return get_end(&items);
}

static int
get_body(struct proto_msg *m, struct cur *c)
{
	uint32_t code;
	int r = 0;

	switch (m->type) {
	case PROTO_HELLO:
	case PROTO_HELLO_REPLY:
		return get_u32(c, &m->hello.version);
	case PROTO_LIST_KEYS:
		return 0;
	case PROTO_CONFIGURE:
		/* A URI may hold a pin-value: m's memory, which proto_msg_free() wipes. */
		if ((r = get_uri_list(m, c, LIMIT_P11_URIS, &m->configure.token_uris,
		    &m->configure.ntoken_uris)) != 0)
			return r;
		return get_uri_list(m, c, LIMIT_PROTO_TOKENS, &m->configure.pin_rejected,
		    &m->configure.npin_rejected);
	case PROTO_KEY_STATUS:
		if ((r = get_u32(c, &m->key_status.key.handle)) != 0)
			return r;
		return get_uri(m, c, 0, &m->key_status.key.uri);
	case PROTO_SIGN:
		if ((r = get_u32(c, &m->sign.key.handle)) != 0 ||
		    (r = get_uri(m, c, 0, &m->sign.key.uri)) != 0)
			return r;
		return get_fixed(c, m->sign.digest, sizeof(m->sign.digest));
	case PROTO_GENERATE:
		if ((r = get_uri(m, c, 1, &m->generate.token_uri)) != 0 ||
		    (r = get_text(m, c, 1, LIMIT_PROTO_TEXT, &m->generate.label)) != 0)
			return r;
		return get_bytes(m, c, 0, LIMIT_PROTO_KEY_ID, &m->generate.id,
		    &m->generate.id_len);
	case PROTO_LOGIN:
		if ((r = get_uri(m, c, 1, &m->login.token_uri)) != 0 ||
		    (r = get_u32(c, &m->login.flags)) != 0)
			return r;
		/* The PIN is copied into m's memory, which proto_msg_free() wipes. */
		return get_bytes(m, c, 0, LIMIT_PROTO_PIN, &m->login.pin, &m->login.pin_len);
	case PROTO_KEY_LIST:
		return get_key_list(m, c, &m->key_list);
	case PROTO_KEY_STATE:
		if ((r = get_u32(c, &m->key_state.handle)) != 0 ||
		    (r = get_u8(c, &m->key_state.state)) != 0)
			return r;
		return get_u32(c, &m->key_state.token_flags);
	case PROTO_SIGNATURE:
		if ((r = get_fixed(c, m->signature.sig, sizeof(m->signature.sig))) != 0)
			return r;
		return get_u8(c, &m->signature.recid);
	case PROTO_GENERATED:
		return get_key_fields(m, c, &m->generated);
	case PROTO_LOGIN_RESULT:
		if ((r = get_u8(c, &m->login_result.status)) != 0)
			return r;
		return get_u32(c, &m->login_result.token_flags);
	case PROTO_ERROR:
		if ((r = get_u32(c, &code)) != 0)
			return r;
		m->error.code = code > INT32_MAX ? (int32_t)(code - INT32_MAX - 1) + INT32_MIN : (int32_t)code;
		return get_text(m, c, 0, LIMIT_PROTO_TEXT, &m->error.message);
	case PROTO_EVENT:
		if ((r = get_u8(c, &m->event.kind)) != 0 ||
		    (r = get_u64(c, &m->event.slot_id)) != 0)
			return r;
		return get_uri(m, c, 1, &m->event.token_uri);
	}
	return ERR_PROTO_UNKNOWN_TYPE;
}

/* Check a frame's length prefix: the body length, or an error. */
static int
frame_body_len(const uint8_t prefix[PROTO_PREFIX_LEN], size_t *np)
{
	uint32_t n = get_be32(prefix);

	if (n < BODY_MIN || n > LIMIT_PROTO_FRAME)
		return ERR_PROTO_FRAME_SIZE;
	*np = n;
	return 0;
}

int
proto_decode(const uint8_t *untrusted_frame, size_t len, enum proto_side from,
    struct proto_msg **outp)
{
	struct proto_msg *m = NULL;
	const struct type_info *t;
	struct cur c;
	size_t n;
	int r;

	*outp = NULL;
	if (len < PROTO_PREFIX_LEN)
		return ERR_PROTO_TRUNCATED;
	if ((r = frame_body_len(untrusted_frame, &n)) != 0)
		return r;
	if (len - PROTO_PREFIX_LEN < n)
		return ERR_PROTO_TRUNCATED;
	if (len - PROTO_PREFIX_LEN > n)
		return ERR_PROTO_TRAILING;
	c.p = untrusted_frame + PROTO_PREFIX_LEN;
	c.len = n;
	if ((t = type_info(c.p[0])) == NULL)
		return ERR_PROTO_UNKNOWN_TYPE;
	if (t->sender != from)
		return ERR_PROTO_DIRECTION;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	m->type = c.p[0];
	m->id = get_be32(c.p + 1);
	c.p += 5;
	c.len -= 5;
	if ((r = get_record(&c, t->nfields)) != 0 ||
	    (r = get_body(m, &c)) != 0 ||
	    (r = get_end(&c)) != 0 ||
	    (r = check_msg(m)) != 0)
		goto out;
	/* success */
	*outp = m;
	m = NULL;
	r = 0;
 out:
	proto_msg_free(m);
	return r;
}

/* ---- text for the helper ---- */

size_t
proto_text_clean(const uint8_t *untrusted, size_t len, char *out, size_t outsz)
{
	size_t i = 0, o = 0, k;

	if (outsz == 0)
		return 0;
	while (len > 0 && (untrusted[len - 1] == ' ' || untrusted[len - 1] == '\0'))
		len--;
	while (i < len) {
		if ((k = text_char(untrusted + i, len - i)) == 0) {
			if (o + 1 >= outsz)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= outsz)
			break;
		memcpy(out + o, untrusted + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return o;
}

/* ---- stream reader ---- */

struct proto_reader {
	enum proto_side from;
	int err;		/* sticky */
	int eof;
	struct eth_buf buf;
};

int
proto_reader_new(enum proto_side from, struct proto_reader **outp)
{
	struct proto_reader *r;

	*outp = NULL;
	if (from != PROTO_FROM_DAEMON && from != PROTO_FROM_HELPER)
		return ERR_INVALID_ARGUMENT;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return ERR_NOMEM;
	r->from = from;
	eth_buf_init(&r->buf, READER_MAX);
	*outp = r;
	return 0;
}

void
proto_reader_free(struct proto_reader *r)
{
	if (r == NULL)
		return;
	eth_buf_free(&r->buf);	/* wipes */
	free(r);
}

/* Refuse a bad length prefix as soon as it is whole. */
static int
reader_check_head(struct proto_reader *r)
{
	size_t n;

	if (r->buf.len >= PROTO_PREFIX_LEN && r->err == 0)
		r->err = frame_body_len(r->buf.p, &n);
	return r->err;
}

int
proto_reader_feed(struct proto_reader *r, const uint8_t *untrusted, size_t len)
{
	int e;

	if (r->err != 0)
		return r->err;
	if (r->eof)
		return r->err = ERR_INVALID_ARGUMENT;
	if ((e = eth_buf_put(&r->buf, untrusted, len)) != 0)
		return r->err = e;
	return reader_check_head(r);
}

int
proto_reader_read(struct proto_reader *r, int fd)
{
	size_t want = READ_CHUNK;
	ssize_t k;
	int e;

	if (r->err != 0)
		return r->err;
	if (r->eof)
		return r->buf.len == 0 ? ERR_PROTO_CLOSED : ERR_PROTO_TRUNCATED;
	if (r->buf.len + want > READER_MAX)
		want = READER_MAX - r->buf.len;
	if (want == 0)
		return r->err = ERR_TOO_LONG;
	if ((e = eth_buf_reserve(&r->buf, want)) != 0)
		return r->err = e;
	k = read(fd, r->buf.p + r->buf.len, want);
	if (k < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return r->err = (errno == ECONNRESET ? ERR_PROTO_CLOSED : ERR_IO);
	}
	if (k == 0) {
		r->eof = 1;
		return ERR_PROTO_CLOSED;
	}
	r->buf.len += (size_t)k;
	return reader_check_head(r);
}

int
proto_reader_next(struct proto_reader *r, struct proto_msg **outp)
{
	size_t n, whole;
	int e;

	*outp = NULL;
	if (r->err != 0)
		return r->err;
	if (r->buf.len < PROTO_PREFIX_LEN ||
	    r->buf.len - PROTO_PREFIX_LEN < get_be32(r->buf.p)) {
		if ((e = reader_check_head(r)) != 0)
			return e;
		if (r->eof)
			return r->buf.len == 0 ? ERR_PROTO_CLOSED : ERR_PROTO_TRUNCATED;
		return 0;
	}
	if ((e = frame_body_len(r->buf.p, &n)) != 0)
		return r->err = e;
	whole = PROTO_PREFIX_LEN + n;
	e = proto_decode(r->buf.p, whole, r->from, outp);
	/* Take the frame out and wipe the bytes it leaves behind. */
	memmove(r->buf.p, r->buf.p + whole, r->buf.len - whole);
	explicit_bzero(r->buf.p + r->buf.len - whole, whole);
	r->buf.len -= whole;
	if (e != 0)
		return r->err = e;
	/* A bad prefix behind this frame is reported by the next call. */
	(void)reader_check_head(r);
	return 0;
}

/* ---- blocking I/O ---- */

void
proto_deadline(int timeout_ms, struct timespec *deadline)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	if (timeout_ms < 0)
		timeout_ms = 0;
	deadline->tv_sec += timeout_ms / 1000;
	deadline->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds until the deadline, rounded up; -1 without one; 0 once passed. */
static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	if (deadline == NULL)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec + 999999L) / 1000000L;
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Wait until fd is ready for events, within the deadline. */
static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd;
	int ms, n;

	for (;;) {
		if ((ms = ms_left(deadline)) == 0)
			return ERR_TIMEOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;	/* ready, or HUP/ERR: the read or write says which */
		if (n < 0 && errno != EINTR)
			return ERR_IO;
	}
}

static int
write_all(int fd, const uint8_t *p, size_t n, const struct timespec *deadline)
{
	int use_send = 1, wait = 0, r;
	ssize_t k;

	while (n > 0) {
		/*
		 * A socket is written first and polled only when it is full: a
		 * frame fits the socket's buffer nearly always, and a poll()
		 * before each was one more system call per message on both sides
		 * of the signing path (issue 20).  MSG_DONTWAIT: a blocking socket must not outlive the
		 * deadline.  write() on anything else may block, so it waits first.
		 */
		if (ms_left(deadline) == 0)
			return ERR_TIMEOUT;
		if ((wait || !use_send) && (r = wait_fd(fd, POLLOUT, deadline)) != 0)
			return r;
		wait = 0;
		if (use_send) {
			k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k < 0 && errno == ENOTSOCK) {
				use_send = 0;
				continue;
			}
		} else
			k = write(fd, p, n);
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				wait = 1;
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return errno == EPIPE || errno == ECONNRESET ? ERR_PROTO_CLOSED : ERR_IO;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read exactly n bytes; *gotp says how many came before an error. */
static int
read_all(int fd, uint8_t *p, size_t n, const struct timespec *deadline, size_t *gotp)
{
	ssize_t k;
	int r;

	*gotp = 0;
	while (*gotp < n) {
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		k = read(fd, p + *gotp, n - *gotp);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return errno == ECONNRESET ? ERR_PROTO_CLOSED : ERR_IO;
		}
		if (k == 0)
			return ERR_PROTO_CLOSED;
		*gotp += (size_t)k;
	}
	return 0;
}

int
proto_send(int fd, const struct proto_msg *m, const struct timespec *deadline)
{
	struct eth_buf b;
	int r;

	eth_buf_init(&b, PROTO_PREFIX_LEN + LIMIT_PROTO_FRAME);
	if ((r = proto_encode(&b, m)) != 0)
		goto out;
	r = write_all(fd, b.p, b.len, deadline);
 out:
	eth_buf_free(&b);	/* wipes: a LOGIN frame holds a PIN */
	return r;
}

int
proto_recv(int fd, enum proto_side from, const struct timespec *deadline,
    struct proto_msg **outp)
{
	uint8_t prefix[PROTO_PREFIX_LEN], *frame = NULL;
	size_t n = 0, got;
	int r;

	*outp = NULL;
	if ((r = read_all(fd, prefix, sizeof(prefix), deadline, &got)) != 0) {
		if (r == ERR_PROTO_CLOSED && got > 0)
			r = ERR_PROTO_TRUNCATED;
		goto out;
	}
	if ((r = frame_body_len(prefix, &n)) != 0)
		goto out;
	if ((frame = malloc(PROTO_PREFIX_LEN + n)) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	memcpy(frame, prefix, PROTO_PREFIX_LEN);
	if ((r = read_all(fd, frame + PROTO_PREFIX_LEN, n, deadline, &got)) != 0) {
		if (r == ERR_PROTO_CLOSED)
			r = ERR_PROTO_TRUNCATED;
		goto out;
	}
	r = proto_decode(frame, PROTO_PREFIX_LEN + n, from, outp);
 out:
	if (frame != NULL) {
		explicit_bzero(frame, PROTO_PREFIX_LEN + n);	/* may hold a PIN */
		free(frame);
	}
	return r;
}
