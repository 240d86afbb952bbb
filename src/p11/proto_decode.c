/*
 * proto_decode.c - the token protocol's decoder (proto_decode, proto_msg_free).
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/reader.h"
#include "p11/proto_int.h"

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

/*
 * A field of min..max bytes.  Its length is checked against the caps before
 * against what is left, so an over-long field reads as over-long.
 */
static int
get_field(struct reader *c, size_t min, size_t max, struct reader *f)
{
	const uint8_t *p;
	uint32_t n;
	int r;

	if ((r = reader_take(c, 4, &p)) != 0)
		return r;
	n = reader_get_be32(p);
	if (n > max)
		return min == max ? ERR_PROTO_FIELD_SIZE : ERR_TOO_LONG;
	if (n < min)
		return ERR_PROTO_FIELD_SIZE;
	return reader_sub(c, n, f);
}

static int
get_count(struct reader *c, size_t *np)
{
	const uint8_t *p;
	int r;

	if ((r = reader_take(c, 2, &p)) != 0)
		return r;
	*np = (size_t)p[0] << 8 | p[1];
	return 0;
}

static int
get_record(struct reader *c, size_t want)
{
	size_t n;
	int r;

	if ((r = get_count(c, &n)) != 0)
		return r;
	return n == want ? 0 : ERR_PROTO_FIELD_COUNT;
}

static int
get_end(const struct reader *c)
{
	return reader_end(c, ERR_PROTO_TRAILING);
}

static int
get_u8(struct reader *c, uint8_t *v)
{
	struct reader f;
	int r;

	if ((r = get_field(c, 1, 1, &f)) != 0)
		return r;
	*v = f.p[0];
	return 0;
}

static int
get_u32(struct reader *c, uint32_t *v)
{
	struct reader f;
	int r;

	if ((r = get_field(c, 4, 4, &f)) != 0)
		return r;
	*v = reader_get_be32(f.p);
	return 0;
}

static int
get_u64(struct reader *c, uint64_t *v)
{
	struct reader f;
	int r;

	if ((r = get_field(c, 8, 8, &f)) != 0)
		return r;
	*v = (uint64_t)reader_get_be32(f.p) << 32 | reader_get_be32(f.p + 4);
	return 0;
}

static int
get_fixed(struct reader *c, uint8_t *out, size_t n)
{
	struct reader f;
	int r;

	if ((r = get_field(c, n, n, &f)) != 0)
		return r;
	memcpy(out, f.p, n);
	return 0;
}

/* A copy owned by m; an empty field gives a non-NULL empty buffer. */
static int
get_bytes(struct proto_msg *m, struct reader *c, size_t min, size_t max,
    const uint8_t **pp, size_t *lenp)
{
	struct reader f;
	uint8_t *p;
	int r;

	if ((r = get_field(c, min, max, &f)) != 0)
		return r;
	*lenp = f.left;
	if (f.left == 0) {
		*pp = empty_bytes;
		return 0;
	}
	if ((p = msg_alloc(m, f.left)) == NULL)
		return ERR_NOMEM;
	memcpy(p, f.p, f.left);
	*pp = p;
	return 0;
}

static int
copy_string(struct proto_msg *m, const struct reader *f, const char **sp)
{
	char *s;

	if (f->left == 0) {
		*sp = "";
		return 0;
	}
	if ((s = msg_alloc(m, f->left + 1)) == NULL)
		return ERR_NOMEM;
	memcpy(s, f->p, f->left);
	s[f->left] = '\0';
	*sp = s;
	return 0;
}

static int
get_text(struct proto_msg *m, struct reader *c, size_t min, size_t max, const char **sp)
{
	struct reader f;
	int r;

	if ((r = get_field(c, 0, max, &f)) != 0 ||
	    (r = proto_check_text(f.p, f.left, min, max)) != 0)
		return r;
	return copy_string(m, &f, sp);
}

static int
get_uri(struct proto_msg *m, struct reader *c, int required, const char **sp)
{
	struct reader f;
	int r;

	if ((r = get_field(c, 0, LIMIT_P11_URI, &f)) != 0 ||
	    (r = proto_check_uri(f.p, f.left, required)) != 0)
		return r;
	return copy_string(m, &f, sp);
}

static int
get_key_fields(struct proto_msg *m, struct reader *c, struct proto_key *k)
{
	int r;

	if ((r = get_u32(c, &k->handle)) != 0 ||
	    (r = get_uri(m, c, 1, &k->uri)) != 0 ||
	    (r = get_text(m, c, 0, LIMIT_PROTO_TEXT, &k->label)) != 0 ||
	    (r = get_bytes(m, c, 0, LIMIT_P11_KEY_ID, &k->id, &k->id_len)) != 0 ||
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
get_list(struct proto_msg *m, struct reader *c, size_t cap, size_t item_size,
    struct reader *items, size_t *np, void **arrayp)
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
	if (n > items->left / 4)
		return ERR_PROTO_TRUNCATED;
	if (n > 0 && (a = msg_alloc(m, n * item_size)) == NULL)
		return ERR_NOMEM;
	*arrayp = n > 0 ? a : NULL;
	*np = n;
	return 0;
}

static int
get_token(struct proto_msg *m, struct reader *c, struct proto_token *t, size_t *total_keys)
{
	struct reader rec, items, kf;
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
get_key_list(struct proto_msg *m, struct reader *c, struct proto_key_list *l)
{
	struct reader items;
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
get_uri_list(struct proto_msg *m, struct reader *c, size_t cap, const char *const **urisp,
    size_t *np)
{
	struct reader items;
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
get_body(struct proto_msg *m, struct reader *c)
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
		return get_bytes(m, c, 0, LIMIT_P11_KEY_ID, &m->generate.id,
		    &m->generate.id_len);
	case PROTO_LOGIN:
		if ((r = get_uri(m, c, 1, &m->login.token_uri)) != 0 ||
		    (r = get_u32(c, &m->login.flags)) != 0)
			return r;
		/* The PIN is copied into m's memory, which proto_msg_free() wipes. */
		return get_bytes(m, c, 0, LIMIT_P11_PIN, &m->login.pin, &m->login.pin_len);
	case PROTO_KEY_LIST:
		return get_key_list(m, c, &m->key_list);
	case PROTO_KEY_STATE:
		if ((r = get_u32(c, &m->key_state.handle)) != 0 ||
		    (r = get_u8(c, &m->key_state.state)) != 0)
			return r;
		return get_u32(c, &m->key_state.token_flags);
	case PROTO_SIGNATURE:
		return get_fixed(c, m->signature.sig, sizeof(m->signature.sig));
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
int
proto_frame_body_len(const uint8_t prefix[PROTO_PREFIX_LEN], size_t *np)
{
	uint32_t n = reader_get_be32(prefix);

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
	const uint8_t *head;
	struct reader c;
	size_t n;
	int r;

	*outp = NULL;
	if (len < PROTO_PREFIX_LEN)
		return ERR_PROTO_TRUNCATED;
	if ((r = proto_frame_body_len(untrusted_frame, &n)) != 0)
		return r;
	if (len - PROTO_PREFIX_LEN < n)
		return ERR_PROTO_TRUNCATED;
	if (len - PROTO_PREFIX_LEN > n)
		return ERR_PROTO_TRAILING;
	reader_init(&c, untrusted_frame + PROTO_PREFIX_LEN, n, ERR_PROTO_TRUNCATED);
	if ((t = proto_type_info(c.p[0])) == NULL)
		return ERR_PROTO_UNKNOWN_TYPE;
	if (t->sender != from)
		return ERR_PROTO_DIRECTION;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return ERR_NOMEM;
	/* type and id: the body is at least BODY_MIN bytes (proto_frame_body_len) */
	if ((r = reader_take(&c, 5, &head)) != 0)
		goto out;
	m->type = head[0];
	m->id = reader_get_be32(head + 1);
	if ((r = get_record(&c, t->nfields)) != 0 ||
	    (r = get_body(m, &c)) != 0 ||
	    (r = get_end(&c)) != 0 ||
	    (r = proto_check_msg(m)) != 0)
		goto out;
	/* success */
	*outp = m;
	m = NULL;
	r = 0;
 out:
	proto_msg_free(m);
	return r;
}
