/*
 * Token protocol (src/p11/proto): frames from tests/vectors/proto/ (written by
 * a second encoder, gen.py, from docs/token-protocol.md) decode and re-encode
 * to the same bytes, and the refused ones are refused with the error named;
 * every message type round-trips from C; the encoder refuses what the decoder
 * would; the stream reader and the blocking helpers over a socketpair.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "p11/proto.h"
#include "tvec.h"

static const uint8_t pub1[65] = {
	0x04,
	0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07,
	0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98,
	0x48, 0x3a, 0xda, 0x77, 0x26, 0xa3, 0xc4, 0x65, 0x5d, 0xa4, 0xfb, 0xfc, 0x0e, 0x11, 0x08, 0xa8,
	0xfd, 0x17, 0xb4, 0x48, 0xa6, 0x85, 0x54, 0x19, 0x9c, 0x47, 0xd0, 0x8f, 0xfb, 0x10, 0xd4, 0xb8,
};
static const uint8_t addr1[20] = {
	0x7e, 0x5f, 0x45, 0x52, 0x09, 0x1a, 0x69, 0x12, 0x5d, 0x5d,
	0xfc, 0xb7, 0xb8, 0xc2, 0x65, 0x90, 0x29, 0x39, 0x5b, 0xdf,
};
#define TOKEN_URI "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=8f1a;token=vault"
#define KEY_URI TOKEN_URI ";id=%01;object=eth0;type=private"

/* ---- helpers ---- */

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	fail_msg("bad hex digit '%c' in a vector", c);
	return 0;
}

/* Concatenate a case's hex segments (spaces ignored); caller frees. */
static uint8_t *
case_frame(const json_t *c, size_t *lenp)
{
	const json_t *segs = json_object_get(c, "frame"), *s;
	size_t i, n = 0, cap = 16;
	uint8_t *p = malloc(cap);
	int hi = -1;

	assert_non_null(p);
	assert_true(json_is_array(segs));
	json_array_foreach(segs, i, s) {
		const char *h = json_string_value(s);
		assert_non_null(h);
		for (; *h != '\0'; h++) {
			if (*h == ' ')
				continue;
			if (hi < 0) {
				hi = nibble(*h);
				continue;
			}
			if (n == cap) {
				cap *= 2;
				p = realloc(p, cap);
				assert_non_null(p);
			}
			p[n++] = (uint8_t)(hi << 4 | nibble(*h));
			hi = -1;
		}
	}
	assert_int_equal(hi, -1);
	*lenp = n;
	return p;
}

static enum proto_side
case_side(const json_t *c)
{
	const char *s = tvec_str(c, "from");

	if (strcmp(s, "daemon") == 0)
		return PROTO_FROM_DAEMON;
	if (strcmp(s, "helper") == 0)
		return PROTO_FROM_HELPER;
	fail_msg("bad side %s", s);
	return 0;
}

static enum proto_side
other_side(enum proto_side s)
{
	return s == PROTO_FROM_DAEMON ? PROTO_FROM_HELPER : PROTO_FROM_DAEMON;
}

static void
expect_err(int got, int want)
{
	if (got != want)
		fail_msg("got %s, want %s", err_name(got), err_name(want));
}

static int
err_by_name(const char *name)
{
	int c;

	for (c = 0; c >= -1000; c--)
		if (strcmp(err_name(c), name) == 0)
			return c;
	fail_msg("no error named %s", name);
	return 1;
}

/* Encode m; the frame must equal want (when given); caller frees b. */
static void
encode_ok(const struct proto_msg *m, struct eth_buf *b)
{
	eth_buf_init(b, 0);
	expect_err(proto_encode(b, m), 0);
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static int
bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int
key_eq(const struct proto_key *a, const struct proto_key *b)
{
	return a->handle == b->handle && str_eq(a->uri, b->uri) && str_eq(a->label, b->label) &&
	    bytes_eq(a->id, a->id_len, b->id, b->id_len) &&
	    memcmp(a->pub, b->pub, 65) == 0 && memcmp(a->addr, b->addr, 20) == 0;
}

static int
ref_eq(const struct proto_key_ref *a, const struct proto_key_ref *b)
{
	return a->handle == b->handle && str_eq(a->uri, b->uri);
}

/* Field by field: what was encoded is what was decoded. */
static int
msg_eq(const struct proto_msg *a, const struct proto_msg *b)
{
	size_t i, j;

	if (a->type != b->type || a->id != b->id)
		return 0;
	switch (a->type) {
	case PROTO_HELLO:
	case PROTO_HELLO_REPLY:
		return a->hello.version == b->hello.version;
	case PROTO_LIST_KEYS:
		return 1;
	case PROTO_KEY_STATUS:
		return ref_eq(&a->key_status.key, &b->key_status.key);
	case PROTO_SIGN:
		return ref_eq(&a->sign.key, &b->sign.key) &&
		    memcmp(a->sign.digest, b->sign.digest, 32) == 0;
	case PROTO_GENERATE:
		return str_eq(a->generate.token_uri, b->generate.token_uri) &&
		    str_eq(a->generate.label, b->generate.label) &&
		    bytes_eq(a->generate.id, a->generate.id_len, b->generate.id, b->generate.id_len);
	case PROTO_CONFIGURE:
		if (a->configure.ntoken_uris != b->configure.ntoken_uris ||
		    a->configure.npin_rejected != b->configure.npin_rejected)
			return 0;
		for (i = 0; i < a->configure.ntoken_uris; i++)
			if (!str_eq(a->configure.token_uris[i], b->configure.token_uris[i]))
				return 0;
		for (i = 0; i < a->configure.npin_rejected; i++)
			if (!str_eq(a->configure.pin_rejected[i], b->configure.pin_rejected[i]))
				return 0;
		return 1;
	case PROTO_LOGIN:
		return str_eq(a->login.token_uri, b->login.token_uri) &&
		    a->login.flags == b->login.flags &&
		    bytes_eq(a->login.pin, a->login.pin_len, b->login.pin, b->login.pin_len);
	case PROTO_KEY_LIST: {
		const struct proto_key_list *x = &a->key_list, *y = &b->key_list;
		if (!str_eq(x->manufacturer, y->manufacturer) ||
		    !str_eq(x->description, y->description) ||
		    x->version_major != y->version_major || x->version_minor != y->version_minor ||
		    x->ntokens != y->ntokens)
			return 0;
		for (i = 0; i < x->ntokens; i++) {
			const struct proto_token *s = &x->tokens[i], *t = &y->tokens[i];
			if (!str_eq(s->uri, t->uri) || !str_eq(s->label, t->label) ||
			    !str_eq(s->manufacturer, t->manufacturer) || !str_eq(s->model, t->model) ||
			    !str_eq(s->serial, t->serial) || s->slot_id != t->slot_id ||
			    s->flags != t->flags || s->nkeys != t->nkeys)
				return 0;
			for (j = 0; j < s->nkeys; j++)
				if (!key_eq(&s->keys[j], &t->keys[j]))
					return 0;
		}
		return 1;
	}
	case PROTO_KEY_STATE:
		return a->key_state.handle == b->key_state.handle &&
		    a->key_state.state == b->key_state.state &&
		    a->key_state.token_flags == b->key_state.token_flags;
	case PROTO_SIGNATURE:
		return memcmp(a->signature.sig, b->signature.sig, 64) == 0;
	case PROTO_GENERATED:
		return key_eq(&a->generated, &b->generated);
	case PROTO_LOGIN_RESULT:
		return a->login_result.status == b->login_result.status &&
		    a->login_result.token_flags == b->login_result.token_flags;
	case PROTO_ERROR:
		return a->error.code == b->error.code && str_eq(a->error.message, b->error.message);
	case PROTO_EVENT:
		return a->event.kind == b->event.kind && a->event.slot_id == b->event.slot_id &&
		    str_eq(a->event.token_uri, b->event.token_uri);
	}
	return 0;
}

/* Every pointer of a decoded message is non-NULL (the header says so). */
static void
assert_no_null(const struct proto_msg *m)
{
	size_t i, j;

	switch (m->type) {
	case PROTO_KEY_STATUS:
		assert_non_null(m->key_status.key.uri);
		break;
	case PROTO_SIGN:
		assert_non_null(m->sign.key.uri);
		break;
	case PROTO_GENERATE:
		assert_non_null(m->generate.label);
		assert_non_null(m->generate.id);
		break;
	case PROTO_LOGIN:
		assert_non_null(m->login.pin);
		break;
	case PROTO_KEY_LIST:
		assert_non_null(m->key_list.manufacturer);
		for (i = 0; i < m->key_list.ntokens; i++) {
			const struct proto_token *t = &m->key_list.tokens[i];
			assert_non_null(t->label);
			assert_non_null(t->serial);
			for (j = 0; j < t->nkeys; j++) {
				assert_non_null(t->keys[j].label);
				assert_non_null(t->keys[j].id);
			}
		}
		break;
	case PROTO_ERROR:
		assert_non_null(m->error.message);
		break;
	}
}

/*
 * The checks every good frame passes: it decodes from its sender and only
 * from it, re-encodes to itself, every strict prefix is truncated, a byte
 * more is trailing, and a reader fed a byte at a time gives the same.
 */
static void
check_good_frame(const uint8_t *f, size_t n, enum proto_side from, struct proto_msg **outp)
{
	struct proto_msg *m = NULL, *m2 = NULL;
	struct proto_reader *rd = NULL;
	struct eth_buf b;
	uint8_t *longer;
	size_t i;

	expect_err(proto_decode(f, n, from, &m), 0);
	assert_non_null(m);
	assert_no_null(m);
	expect_err(proto_decode(f, n, other_side(from), &m2), ERR_PROTO_DIRECTION);
	assert_null(m2);
	encode_ok(m, &b);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.p, f, n);
	eth_buf_free(&b);
	for (i = 0; i < n; i++) {
		expect_err(proto_decode(f, i, from, &m2), ERR_PROTO_TRUNCATED);
		assert_null(m2);
	}
	longer = malloc(n + 1);
	assert_non_null(longer);
	memcpy(longer, f, n);
	longer[n] = 0;
	expect_err(proto_decode(longer, n + 1, from, &m2), ERR_PROTO_TRAILING);
	free(longer);
	expect_err(proto_reader_new(from, &rd), 0);
	assert_int_equal(proto_reader_pending(rd), 0);
	for (i = 0; i < n; i++) {
		expect_err(proto_reader_feed(rd, f + i, 1), 0);
		/* Pending exactly when the frame is whole. */
		assert_int_equal(proto_reader_pending(rd), i + 1 == n);
		expect_err(proto_reader_next(rd, &m2), 0);
		if (i + 1 < n)
			assert_null(m2);
	}
	assert_non_null(m2);
	assert_true(msg_eq(m, m2));
	proto_msg_free(m2);
	assert_int_equal(proto_reader_pending(rd), 0);
	expect_err(proto_reader_next(rd, &m2), 0);
	assert_null(m2);
	proto_reader_free(rd);
	*outp = m;
}

/* ---- vector files ---- */

static void
test_frame_case(void **state)
{
	const json_t *c = *state;
	struct proto_msg *m;
	size_t n;
	uint8_t *f = case_frame(c, &n);

	check_good_frame(f, n, case_side(c), &m);
	assert_string_equal(proto_type_name(m->type), tvec_str(c, "type"));
	proto_msg_free(m);
	free(f);
}

static void
test_refused_case(void **state)
{
	const json_t *c = *state;
	static struct proto_msg sentinel;
	struct proto_msg *m = &sentinel;	/* must come back NULL */
	size_t n;
	uint8_t *f = case_frame(c, &n);

	expect_err(proto_decode(f, n, case_side(c), &m), err_by_name(tvec_str(c, "error")));
	assert_null(m);
	free(f);
}

/* ---- every message type from C ---- */

static const struct proto_key sample_keys[] = {
	{ 7, KEY_URI, "eth0", (const uint8_t *)"\x01", 1, {0}, {0} },
	{ 9, TOKEN_URI ";id=%02", "", NULL, 0, {0}, {0} },
};

static struct proto_key keys_buf[2];
static struct proto_token tokens_buf[2];

static void
fill_samples(void)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		keys_buf[i] = sample_keys[i];
		memcpy(keys_buf[i].pub, pub1, 65);
		memcpy(keys_buf[i].addr, addr1, 20);
	}
	tokens_buf[0] = (struct proto_token){ TOKEN_URI, "vault", "SoftHSM project", "SoftHSM v2",
	    "8f1a", 42, PROTO_TOKEN_PRESENT | PROTO_TOKEN_LOGIN_REQUIRED | PROTO_TOKEN_PIN_COUNT_LOW,
	    keys_buf, 2 };
	tokens_buf[1] = (struct proto_token){ "pkcs11:slot-id=3", NULL, NULL, NULL, NULL,
	    UINT64_MAX, PROTO_TOKEN_REMOVABLE, NULL, 0 };
}

static const char *const configure_uris[] = {
	"pkcs11:token=vault?pin-value=0000", "pkcs11:token=cold", TOKEN_URI,
};

/* One message of each type, with every field set to something. */
static size_t
samples(struct proto_msg *out)
{
	size_t n = 0;
	struct proto_msg *m;

	fill_samples();
#define NEXT(t, i) (m = &out[n++], memset(m, 0, sizeof(*m)), m->type = (t), m->id = (i), m)
	NEXT(PROTO_HELLO, 1)->hello.version = PROTO_VERSION;
	(void)NEXT(PROTO_LIST_KEYS, 2);
	NEXT(PROTO_KEY_STATUS, 3)->key_status.key.uri = KEY_URI;
	NEXT(PROTO_SIGN, UINT32_MAX)->sign.key.handle = 7;
	memset(m->sign.digest, 0xab, 32);
	NEXT(PROTO_GENERATE, 5)->generate.token_uri = TOKEN_URI;
	m->generate.label = "new key";
	m->generate.id = (const uint8_t *)"\x00\x01\x02";
	m->generate.id_len = 3;
	NEXT(PROTO_LOGIN, 6)->login.token_uri = TOKEN_URI;
	m->login.pin = (const uint8_t *)"0000";
	m->login.pin_len = 4;
	NEXT(PROTO_LOGIN, 7)->login.token_uri = TOKEN_URI;
	m->login.flags = PROTO_LOGIN_PIN_PAD | PROTO_LOGIN_LOW_TRIES_CONFIRMED;
	NEXT(PROTO_CONFIGURE, 2)->configure.token_uris = configure_uris;
	m->configure.ntoken_uris = 2;
	m->configure.pin_rejected = configure_uris + 2;
	m->configure.npin_rejected = 1;
	NEXT(PROTO_HELLO_REPLY, 1)->hello.version = PROTO_VERSION;
	NEXT(PROTO_KEY_LIST, 2)->key_list.manufacturer = "SoftHSM";
	m->key_list.description = "Implementation of PKCS11";
	m->key_list.version_major = 2;
	m->key_list.version_minor = 6;
	m->key_list.tokens = tokens_buf;
	m->key_list.ntokens = 2;
	NEXT(PROTO_KEY_STATE, 3)->key_state.handle = 7;
	m->key_state.token_flags = PROTO_TOKEN_PRESENT | PROTO_TOKEN_LOGGED_IN;
	(void)NEXT(PROTO_SIGNATURE, 4);
	memset(m->signature.sig, 0x11, 32);
	memset(m->signature.sig + 32, 0x22, 32);
	NEXT(PROTO_GENERATED, 5)->generated = keys_buf[0];
	NEXT(PROTO_LOGIN_RESULT, 6)->login_result.status = PROTO_LOGIN_PIN_INCORRECT;
	m->login_result.token_flags = PROTO_TOKEN_PRESENT | PROTO_TOKEN_PIN_FINAL_TRY;
	NEXT(PROTO_ERROR, 7)->error.code = ERR_TIMEOUT;
	m->error.message = "timed out";
	NEXT(PROTO_ERROR, 0)->error.code = INT32_MIN;
	NEXT(PROTO_EVENT, 0)->event.kind = PROTO_EVENT_TOKEN_INSERTED;
	m->event.slot_id = 42;
	m->event.token_uri = TOKEN_URI;
#undef NEXT
	return n;
}

static void
test_round_trip_all_types(void **state)
{
	struct proto_msg msgs[32], *m;
	struct eth_buf b;
	size_t i, n = samples(msgs);
	unsigned seen = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		enum proto_side from = proto_type_sender(msgs[i].type);
		encode_ok(&msgs[i], &b);
		check_good_frame(b.p, b.len, from, &m);
		if (!msg_eq(&msgs[i], m))
			fail_msg("%s[%zu] does not round-trip", proto_type_name(msgs[i].type), i);
		proto_msg_free(m);
		eth_buf_free(&b);
		seen |= 1u << (msgs[i].type & 0x1f);
	}
	/* Every type in the protocol was among the samples. */
	for (i = 0; i < 256; i++)
		if (proto_type_sender((int)i) != 0 && !(seen & (1u << (i & 0x1f))))
			fail_msg("no sample of %s", proto_type_name((int)i));
}

/* Several frames in one buffer: one reader, one feed, in order. */
static void
test_reader_stream(void **state)
{
	struct proto_msg msgs[32], *m;
	struct proto_reader *rd[3];
	struct eth_buf d, h;
	size_t i, n = samples(msgs), k;

	(void)state;
	eth_buf_init(&d, 0);
	eth_buf_init(&h, 0);
	for (i = 0; i < n; i++)
		expect_err(proto_encode(proto_type_sender(msgs[i].type) == PROTO_FROM_DAEMON ? &d : &h,
		    &msgs[i]), 0);
	expect_err(proto_reader_new(PROTO_FROM_DAEMON, &rd[0]), 0);
	expect_err(proto_reader_new(PROTO_FROM_HELPER, &rd[1]), 0);
	expect_err(proto_reader_new(PROTO_FROM_HELPER, &rd[2]), 0);
	expect_err(proto_reader_feed(rd[0], d.p, d.len), 0);
	expect_err(proto_reader_feed(rd[1], h.p, h.len), 0);
	/* The third reader gets the helper's stream in pieces of 5 bytes. */
	for (k = 0; k < h.len; k += 5)
		expect_err(proto_reader_feed(rd[2], h.p + k, h.len - k < 5 ? h.len - k : 5), 0);
	for (i = 0; i < n; i++) {
		int from = proto_type_sender(msgs[i].type) == PROTO_FROM_DAEMON ? 0 : 1;
		/* The frame behind the one taken is whole: another thread should come for it. */
		assert_int_equal(proto_reader_pending(rd[from]), 1);
		expect_err(proto_reader_next(rd[from], &m), 0);
		assert_non_null(m);
		assert_true(msg_eq(&msgs[i], m));
		proto_msg_free(m);
		if (from == 1) {
			expect_err(proto_reader_next(rd[2], &m), 0);
			assert_non_null(m);
			assert_true(msg_eq(&msgs[i], m));
			proto_msg_free(m);
		}
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(proto_reader_pending(rd[i]), 0);
		expect_err(proto_reader_next(rd[i], &m), 0);
		assert_null(m);
		proto_reader_free(rd[i]);
	}
	eth_buf_free(&d);
	eth_buf_free(&h);
	proto_reader_free(NULL);
	proto_msg_free(NULL);
}

/* A length prefix over the cap is refused as soon as its 4 bytes are in. */
static void
test_reader_refuses_early(void **state)
{
	static const uint8_t big[] = { 0x00, 0x20, 0x00, 0x01 };	/* LIMIT + 1 */
	static const uint8_t hello_bad_type[] = { 0, 0, 0, 7, 0x41, 0, 0, 0, 1, 0, 0 };
	struct proto_reader *rd;
	struct proto_msg *m;

	(void)state;
	assert_int_equal(0x00200001, LIMIT_PROTO_FRAME + 1);
	expect_err(proto_reader_new(PROTO_FROM_HELPER, &rd), 0);
	expect_err(proto_reader_feed(rd, big, 3), 0);
	expect_err(proto_reader_next(rd, &m), 0);
	assert_null(m);
	assert_int_equal(proto_reader_pending(rd), 0);
	expect_err(proto_reader_feed(rd, big + 3, 1), ERR_PROTO_FRAME_SIZE);
	/* An error is there to report: pending, with no whole frame. */
	assert_int_equal(proto_reader_pending(rd), 1);
	/* Sticky. */
	expect_err(proto_reader_next(rd, &m), ERR_PROTO_FRAME_SIZE);
	expect_err(proto_reader_feed(rd, big, 1), ERR_PROTO_FRAME_SIZE);
	proto_reader_free(rd);

	/* A frame that does not decode is an error too, and also sticky. */
	expect_err(proto_reader_new(PROTO_FROM_DAEMON, &rd), 0);
	expect_err(proto_reader_feed(rd, hello_bad_type, sizeof(hello_bad_type)), 0);
	expect_err(proto_reader_next(rd, &m), ERR_PROTO_DIRECTION);
	assert_null(m);
	expect_err(proto_reader_next(rd, &m), ERR_PROTO_DIRECTION);
	proto_reader_free(rd);

	expect_err(proto_reader_new(0, &rd), ERR_INVALID_ARGUMENT);
	assert_null(rd);
}

/* ---- the encoder refuses what the decoder would ---- */

struct enc_case {
	const char *name;
	void (*mutate)(struct proto_msg *m);
	int type;	/* which sample to start from */
	int error;
};

static void mut_type(struct proto_msg *m) { m->type = 0x08; }
static void mut_id0(struct proto_msg *m) { m->id = 0; }
static void mut_event_id(struct proto_msg *m) { m->id = 1; }
static void mut_version0(struct proto_msg *m) { m->hello.version = 0; }
static void mut_ref_both(struct proto_msg *m) { m->sign.key.uri = KEY_URI; }
static void mut_ref_none(struct proto_msg *m) { m->sign.key.handle = 0; }
static void mut_ref_empty(struct proto_msg *m) { m->sign.key.handle = 0; m->sign.key.uri = ""; }
static void mut_uri_scheme(struct proto_msg *m) { m->key_status.key.uri = "file:///etc/passwd"; }
static void mut_uri_long(struct proto_msg *m)
{
	static char uri[LIMIT_P11_URI + 2];
	memset(uri, 'a', sizeof(uri) - 1);
	memcpy(uri, "pkcs11:", 7);
	m->key_status.key.uri = uri;
}
static void mut_label_empty(struct proto_msg *m) { m->generate.label = ""; }
static void mut_label_ctl(struct proto_msg *m) { m->generate.label = "a\tb"; }
static void mut_label_utf8(struct proto_msg *m) { m->generate.label = "\xff"; }
static void mut_label_long(struct proto_msg *m)
{
	static char label[LIMIT_PROTO_TEXT + 2];
	memset(label, 'l', sizeof(label) - 1);
	m->generate.label = label;
}
static void mut_token_none(struct proto_msg *m) { m->generate.token_uri = NULL; }
static void mut_id_null(struct proto_msg *m) { m->generate.id = NULL; }
static void mut_id_long(struct proto_msg *m) { m->generate.id_len = LIMIT_P11_KEY_ID + 1; m->generate.id = (const uint8_t *)""; }
static void mut_pin_empty(struct proto_msg *m) { m->login.pin_len = 0; }
static void mut_pin_pad(struct proto_msg *m) { m->login.flags = PROTO_LOGIN_PIN_PAD; }
static void mut_pin_long(struct proto_msg *m) { m->login.pin_len = LIMIT_P11_PIN + 1; m->login.pin = (const uint8_t *)""; }
static void mut_login_flag(struct proto_msg *m) { m->login.flags = 0x80; }
static void mut_state_flags(struct proto_msg *m) { m->key_state.token_flags |= 0x10000; }
static void mut_state_absent(struct proto_msg *m) { m->key_state.state = PROTO_KEY_TOKEN_ABSENT; }
static void mut_sig_r_zero(struct proto_msg *m) { memset(m->signature.sig, 0, 32); }
static void mut_sig_high(struct proto_msg *m) { memset(m->signature.sig + 32, 0xee, 32); }
static void mut_gen_addr(struct proto_msg *m) { m->generated.addr[19] ^= 1; }
static void mut_gen_pub(struct proto_msg *m) { m->generated.pub[64] ^= 1; }
static void mut_gen_handle(struct proto_msg *m) { m->generated.handle = 0; }
static void mut_status(struct proto_msg *m) { m->login_result.status = PROTO_LOGIN_STATUS_MAX + 1; }
static void mut_code(struct proto_msg *m) { m->error.code = 0; }
static void mut_msg_newline(struct proto_msg *m) { m->error.message = "line\ninjected"; }
static void mut_event_kind(struct proto_msg *m) { m->event.kind = 0; }

static struct proto_key dup_keys[2];
static struct proto_token dup_token;
static void mut_dup_handles(struct proto_msg *m)
{
	dup_keys[0] = dup_keys[1] = m->key_list.tokens[0].keys[0];
	dup_token = m->key_list.tokens[0];
	dup_token.keys = dup_keys;
	dup_token.nkeys = 2;
	m->key_list.tokens = &dup_token;
	m->key_list.ntokens = 1;
}
static void mut_absent_keys(struct proto_msg *m)
{
	dup_token = m->key_list.tokens[0];
	dup_token.flags &= ~(uint32_t)PROTO_TOKEN_PRESENT;
	m->key_list.tokens = &dup_token;
	m->key_list.ntokens = 1;
}
/* The second token's label is bad: the frame is half written when refused. */
static struct proto_token two_tokens[2];
static void mut_late_bad_label(struct proto_msg *m)
{
	two_tokens[0] = m->key_list.tokens[0];
	two_tokens[1] = m->key_list.tokens[1];
	two_tokens[1].label = "\x1b]0;pwned\x07";
	m->key_list.tokens = two_tokens;
}
static void mut_too_many_tokens(struct proto_msg *m) { m->key_list.ntokens = LIMIT_PROTO_TOKENS + 1; }
static void mut_tokens_null(struct proto_msg *m) { m->key_list.tokens = NULL; }

static const struct enc_case enc_cases[] = {
	{ "unknown type", mut_type, PROTO_HELLO, ERR_PROTO_UNKNOWN_TYPE },
	{ "request id 0", mut_id0, PROTO_SIGN, ERR_PROTO_FIELD_VALUE },
	{ "reply id 0", mut_id0, PROTO_KEY_LIST, ERR_PROTO_FIELD_VALUE },
	{ "event with an id", mut_event_id, PROTO_EVENT, ERR_PROTO_FIELD_VALUE },
	{ "version 0", mut_version0, PROTO_HELLO, ERR_PROTO_FIELD_VALUE },
	{ "key by handle and uri", mut_ref_both, PROTO_SIGN, ERR_PROTO_FIELD_VALUE },
	{ "key by neither", mut_ref_none, PROTO_SIGN, ERR_PROTO_FIELD_VALUE },
	{ "key by neither, empty uri", mut_ref_empty, PROTO_SIGN, ERR_PROTO_FIELD_VALUE },
	{ "uri of another scheme", mut_uri_scheme, PROTO_KEY_STATUS, ERR_PROTO_FIELD_VALUE },
	{ "uri over the cap", mut_uri_long, PROTO_KEY_STATUS, ERR_TOO_LONG },
	{ "generate, empty label", mut_label_empty, PROTO_GENERATE, ERR_PROTO_FIELD_SIZE },
	{ "generate, label with a tab", mut_label_ctl, PROTO_GENERATE, ERR_PROTO_FIELD_VALUE },
	{ "generate, label not UTF-8", mut_label_utf8, PROTO_GENERATE, ERR_PROTO_FIELD_VALUE },
	{ "generate, label over the cap", mut_label_long, PROTO_GENERATE, ERR_TOO_LONG },
	{ "generate, no token", mut_token_none, PROTO_GENERATE, ERR_PROTO_FIELD_SIZE },
	{ "generate, NULL id with a length", mut_id_null, PROTO_GENERATE, ERR_INVALID_ARGUMENT },
	{ "generate, id over the cap", mut_id_long, PROTO_GENERATE, ERR_TOO_LONG },
	{ "login, empty pin", mut_pin_empty, PROTO_LOGIN, ERR_PROTO_FIELD_SIZE },
	{ "login, pin with pin pad", mut_pin_pad, PROTO_LOGIN, ERR_PROTO_FIELD_SIZE },
	{ "login, pin over the cap", mut_pin_long, PROTO_LOGIN, ERR_TOO_LONG },
	{ "login, unknown flag", mut_login_flag, PROTO_LOGIN, ERR_PROTO_FIELD_VALUE },
	{ "key state, unknown flag", mut_state_flags, PROTO_KEY_STATE, ERR_PROTO_FIELD_VALUE },
	{ "key state, absent but present", mut_state_absent, PROTO_KEY_STATE, ERR_PROTO_FIELD_VALUE },
	{ "signature, r zero", mut_sig_r_zero, PROTO_SIGNATURE, ERR_PROTO_FIELD_VALUE },
	{ "signature, high s", mut_sig_high, PROTO_SIGNATURE, ERR_PROTO_FIELD_VALUE },
	{ "generated, wrong address", mut_gen_addr, PROTO_GENERATED, ERR_PROTO_FIELD_VALUE },
	{ "generated, off the curve", mut_gen_pub, PROTO_GENERATED, ERR_PROTO_FIELD_VALUE },
	{ "generated, handle 0", mut_gen_handle, PROTO_GENERATED, ERR_PROTO_FIELD_VALUE },
	{ "login result, unknown status", mut_status, PROTO_LOGIN_RESULT, ERR_PROTO_FIELD_VALUE },
	{ "error code 0", mut_code, PROTO_ERROR, ERR_PROTO_FIELD_VALUE },
	{ "error message with a newline", mut_msg_newline, PROTO_ERROR, ERR_PROTO_FIELD_VALUE },
	{ "event kind 0", mut_event_kind, PROTO_EVENT, ERR_PROTO_FIELD_VALUE },
	{ "key list, one handle twice", mut_dup_handles, PROTO_KEY_LIST, ERR_PROTO_FIELD_VALUE },
	{ "key list, removed token with keys", mut_absent_keys, PROTO_KEY_LIST, ERR_PROTO_FIELD_VALUE },
	{ "key list, bad label in the last token", mut_late_bad_label, PROTO_KEY_LIST, ERR_PROTO_FIELD_VALUE },
	{ "key list, 65 tokens", mut_too_many_tokens, PROTO_KEY_LIST, ERR_TOO_MANY },
	{ "key list, NULL tokens with a count", mut_tokens_null, PROTO_KEY_LIST, ERR_INVALID_ARGUMENT },
};

static void
test_encoder_refuses(void **state)
{
	struct proto_msg msgs[32], m;
	struct eth_buf b;
	size_t i, j, n = samples(msgs), before;

	(void)state;
	for (i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		for (j = 0; j < n && msgs[j].type != c->type; j++)
			;
		assert_true(j < n);
		m = msgs[j];
		c->mutate(&m);
		/* Something in the buffer already: it must be left as it was.
		 * The spare room is marked, so that bytes written and not wiped
		 * on the way back show. */
		eth_buf_init(&b, 0);
		expect_err(proto_encode(&b, &msgs[0]), 0);
		expect_err(eth_buf_reserve(&b, 65536), 0);
		before = b.len;
		memset(b.p + before, 0xaa, b.cap - before);
		if (proto_encode(&b, &m) != c->error)
			fail_msg("%s: got %s, want %s", c->name, err_name(proto_encode(&b, &m)),
			    err_name(c->error));
		assert_int_equal(b.len, before);
		for (j = before; j < b.cap; j++)
			if (b.p[j] != 0 && b.p[j] != 0xaa)
				fail_msg("%s: byte %zu not wiped after the rollback", c->name, j);
		eth_buf_free(&b);
	}
}

/* The frame cap holds a key list at every other cap; one more is refused. */
static void
test_limits_fit(void **state)
{
	static char uri[LIMIT_P11_URI + 1], label[LIMIT_PROTO_TEXT + 1];
	static uint8_t id[LIMIT_P11_KEY_ID];
	struct proto_key *keys;
	struct proto_token *tokens;
	struct proto_msg m = { .type = PROTO_KEY_LIST, .id = 1 }, *d;
	struct eth_buf b;
	size_t i, per = LIMIT_PROTO_KEYS / LIMIT_PROTO_TOKENS;

	(void)state;
	memset(uri, 'u', LIMIT_P11_URI);
	memcpy(uri, "pkcs11:", 7);
	memset(label, 0xc3, LIMIT_PROTO_TEXT);	/* "é" x 128: multi-byte at the cap */
	for (i = 1; i < LIMIT_PROTO_TEXT; i += 2)
		label[i] = (char)0xa9;
	memset(id, 0xee, sizeof(id));
	keys = calloc(LIMIT_PROTO_KEYS + 1, sizeof(*keys));
	tokens = calloc(LIMIT_PROTO_TOKENS, sizeof(*tokens));
	assert_non_null(keys);
	assert_non_null(tokens);
	for (i = 0; i <= LIMIT_PROTO_KEYS; i++) {
		keys[i] = (struct proto_key){ (uint32_t)i + 1, uri, label, id, sizeof(id), {0}, {0} };
		memcpy(keys[i].pub, pub1, 65);
		memcpy(keys[i].addr, addr1, 20);
	}
	for (i = 0; i < LIMIT_PROTO_TOKENS; i++)
		tokens[i] = (struct proto_token){ uri, label, label, label, label, i,
		    PROTO_TOKEN_FLAGS_ALL, keys + i * per, per };
	m.key_list = (struct proto_key_list){ label, label, 255, 255, tokens, LIMIT_PROTO_TOKENS };
	encode_ok(&m, &b);
	assert_true(b.len - PROTO_PREFIX_LEN <= LIMIT_PROTO_FRAME);
	expect_err(proto_decode(b.p, b.len, PROTO_FROM_HELPER, &d), 0);
	assert_true(msg_eq(&m, d));
	proto_msg_free(d);
	eth_buf_free(&b);
	/* One key more, in the last token. */
	tokens[LIMIT_PROTO_TOKENS - 1].nkeys++;
	eth_buf_init(&b, 0);
	expect_err(proto_encode(&b, &m), ERR_TOO_MANY);
	assert_int_equal(b.len, 0);
	eth_buf_free(&b);
	free(keys);
	free(tokens);
}

/* ---- the blocking helpers over a socketpair ---- */

struct sender {
	int fd;
	const struct proto_msg *m;
	int r;
};

static void *
send_thread(void *arg)
{
	struct sender *s = arg;
	struct timespec dl;

	clock_deadline_ms(&dl, 10000);
	s->r = proto_send(s->fd, s->m, &dl);
	return NULL;
}

static void
test_send_recv(void **state)
{
	struct proto_msg msgs[32], *m;
	struct timespec dl;
	size_t i, n = samples(msgs);
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	for (i = 0; i < n; i++) {
		enum proto_side from = proto_type_sender(msgs[i].type);
		clock_deadline_ms(&dl, 5000);
		expect_err(proto_send(sv[0], &msgs[i], &dl), 0);
		expect_err(proto_recv(sv[1], from, &dl, &m), 0);
		assert_true(msg_eq(&msgs[i], m));
		proto_msg_free(m);
	}
	/* Wrong direction: refused, and the message is not returned. */
	expect_err(proto_send(sv[0], &msgs[0], NULL), 0);
	expect_err(proto_recv(sv[1], PROTO_FROM_HELPER, NULL, &m), ERR_PROTO_DIRECTION);
	assert_null(m);
	/* Nothing to read: the deadline ends the wait. */
	clock_deadline_ms(&dl, 50);
	expect_err(proto_recv(sv[1], PROTO_FROM_DAEMON, &dl, &m), ERR_TIMEOUT);
	/* Half a frame, then the peer goes. */
	assert_int_equal(write(sv[0], "\x00\x00\x00\x0f\x01", 5), 5);
	close(sv[0]);
	expect_err(proto_recv(sv[1], PROTO_FROM_DAEMON, NULL, &m), ERR_PROTO_TRUNCATED);
	expect_err(proto_recv(sv[1], PROTO_FROM_DAEMON, NULL, &m), ERR_PROTO_CLOSED);
	/* Writing to a peer that is gone: an error, not SIGPIPE. */
	expect_err(proto_send(sv[1], &msgs[0], NULL), ERR_PROTO_CLOSED);
	close(sv[1]);

	/* A length over the cap is refused before anything is allocated or read. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "\xff\xff\xff\xff", 4), 4);
	expect_err(proto_recv(sv[1], PROTO_FROM_DAEMON, NULL, &m), ERR_PROTO_FRAME_SIZE);
	close(sv[0]);
	close(sv[1]);

	/* An encoder error is reported and nothing is written. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	msgs[0].hello.version = 0;
	expect_err(proto_send(sv[0], &msgs[0], NULL), ERR_PROTO_FIELD_VALUE);
	clock_deadline_ms(&dl, 20);
	expect_err(proto_recv(sv[1], PROTO_FROM_DAEMON, &dl, &m), ERR_TIMEOUT);
	close(sv[0]);
	close(sv[1]);
}

/* A frame far bigger than the socket buffer, sent while the other end reads. */
static void
test_send_recv_large(void **state)
{
	static char label[LIMIT_PROTO_TEXT + 1];
	struct proto_key *keys = calloc(LIMIT_PROTO_KEYS, sizeof(*keys));
	struct proto_token token = { KEY_URI, "t", "", "", "", 1, PROTO_TOKEN_PRESENT, keys, LIMIT_PROTO_KEYS };
	struct proto_msg m = { .type = PROTO_KEY_LIST, .id = 9 }, *got;
	struct sender s;
	struct timespec dl;
	pthread_t th;
	size_t i;
	int sv[2];

	(void)state;
	assert_non_null(keys);
	memset(label, 'x', LIMIT_PROTO_TEXT);
	for (i = 0; i < LIMIT_PROTO_KEYS; i++) {
		keys[i] = (struct proto_key){ (uint32_t)i + 1, KEY_URI, label, NULL, 0, {0}, {0} };
		memcpy(keys[i].pub, pub1, 65);
		memcpy(keys[i].addr, addr1, 20);
	}
	m.key_list.tokens = &token;
	m.key_list.ntokens = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s = (struct sender){ sv[0], &m, 1 };
	assert_int_equal(pthread_create(&th, NULL, send_thread, &s), 0);
	clock_deadline_ms(&dl, 10000);
	expect_err(proto_recv(sv[1], PROTO_FROM_HELPER, &dl, &got), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	expect_err(s.r, 0);
	assert_true(msg_eq(&m, got));
	proto_msg_free(got);

	/* No reader: the sender gives up at its deadline. */
	clock_deadline_ms(&dl, 100);
	expect_err(proto_send(sv[0], &m, &dl), ERR_TIMEOUT);
	close(sv[0]);
	close(sv[1]);
	free(keys);
}

/* proto_reader_read(): straight from the fd, end of file after the frames. */
static void
test_reader_fd(void **state)
{
	struct proto_msg msgs[32], *m;
	struct proto_reader *rd;
	struct eth_buf b;
	size_t n = samples(msgs);
	int sv[2], r, got = 0;

	(void)state;
	assert_true(n > 3);
	eth_buf_init(&b, 0);
	expect_err(proto_encode(&b, &msgs[0]), 0);
	expect_err(proto_encode(&b, &msgs[1]), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], b.p, b.len), (ssize_t)b.len);
	close(sv[0]);
	expect_err(proto_reader_new(PROTO_FROM_DAEMON, &rd), 0);
	/* Read until end of file, then take what was read. */
	while ((r = proto_reader_read(rd, sv[1])) == 0)
		;
	expect_err(r, ERR_PROTO_CLOSED);
	assert_int_equal(proto_reader_pending(rd), 1);
	while ((r = proto_reader_next(rd, &m)) == 0 && m != NULL) {
		assert_true(msg_eq(&msgs[got], m));
		proto_msg_free(m);
		got++;
	}
	assert_int_equal(got, 2);
	expect_err(r, ERR_PROTO_CLOSED);
	/* The end of file is still there to report to the next taker. */
	assert_int_equal(proto_reader_pending(rd), 1);
	expect_err(proto_reader_read(rd, sv[1]), ERR_PROTO_CLOSED);
	proto_reader_free(rd);
	close(sv[1]);

	/* End of file inside a frame. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], b.p, b.len - 1), (ssize_t)b.len - 1);
	close(sv[0]);
	expect_err(proto_reader_new(PROTO_FROM_DAEMON, &rd), 0);
	while ((r = proto_reader_read(rd, sv[1])) == 0)
		;
	expect_err(proto_reader_next(rd, &m), 0);
	assert_non_null(m);
	proto_msg_free(m);
	expect_err(proto_reader_next(rd, &m), ERR_PROTO_TRUNCATED);
	assert_null(m);
	proto_reader_free(rd);
	close(sv[1]);
	eth_buf_free(&b);
}

/* ---- small things ---- */

static void
test_text_clean(void **state)
{
	static const struct {
		const char *in;
		size_t len, outsz;
		const char *want;
	} cases[] = {
		{ "vault                           ", 32, 64, "vault" },
		{ "vault\0\0\0", 8, 64, "vault" },
		{ "a\nb\tc\x7f", 6, 64, "a?b?c?" },
		{ "caf\xc3\xa9", 5, 64, "caf\xc3\xa9" },
		{ "caf\xc3\xa9", 5, 5, "caf" },		/* no half character */
		{ "\xc0\x80x", 3, 64, "??x" },
		{ "\xe2\x80\xae" "evil", 7, 64, "???evil" },
		{ "\xc2\x9b" "2J", 4, 64, "??2J" },
		{ "in\0side", 7, 64, "in?side" },
		{ "", 0, 1, "" },
		{ "abc", 3, 1, "" },
	};
	char out[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = proto_text_clean((const uint8_t *)cases[i].in, cases[i].len, out, cases[i].outsz);
		if (strcmp(out, cases[i].want) != 0 || n != strlen(cases[i].want))
			fail_msg("case %zu: got \"%s\" (%zu), want \"%s\"", i, out, n, cases[i].want);
	}
	/* Whatever comes out is text the protocol takes. */
	{
		uint8_t junk[300];
		char clean[LIMIT_PROTO_TEXT + 1];
		struct proto_msg m = { .type = PROTO_GENERATE, .id = 1 };
		struct eth_buf b;
		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 37 + 11);
		proto_text_clean(junk, sizeof(junk), clean, sizeof(clean));
		m.generate.token_uri = TOKEN_URI;
		m.generate.label = clean;
		encode_ok(&m, &b);
		eth_buf_free(&b);
	}
}

static void
test_types(void **state)
{
	int t, n = 0;

	(void)state;
	for (t = 0; t < 256; t++) {
		if (proto_type_sender(t) == 0) {
			assert_string_equal(proto_type_name(t), "UNKNOWN");
			continue;
		}
		n++;
		assert_true(proto_is_reply_to(t, PROTO_ERROR) == (proto_type_sender(t) == PROTO_FROM_DAEMON));
	}
	assert_int_equal(n, 15);
	assert_true(proto_is_reply_to(PROTO_HELLO, PROTO_HELLO_REPLY));
	assert_true(proto_is_reply_to(PROTO_CONFIGURE, PROTO_KEY_LIST));
	assert_string_equal(proto_type_name(PROTO_CONFIGURE), "CONFIGURE");
	assert_true(proto_is_reply_to(PROTO_LIST_KEYS, PROTO_KEY_LIST));
	assert_true(proto_is_reply_to(PROTO_KEY_STATUS, PROTO_KEY_STATE));
	assert_true(proto_is_reply_to(PROTO_SIGN, PROTO_SIGNATURE));
	assert_true(proto_is_reply_to(PROTO_GENERATE, PROTO_GENERATED));
	assert_true(proto_is_reply_to(PROTO_LOGIN, PROTO_LOGIN_RESULT));
	assert_false(proto_is_reply_to(PROTO_SIGN, PROTO_GENERATED));
	assert_false(proto_is_reply_to(PROTO_SIGN, PROTO_EVENT));
	assert_false(proto_is_reply_to(PROTO_SIGNATURE, PROTO_ERROR));
	assert_int_equal(proto_type_sender(PROTO_EVENT), PROTO_FROM_HELPER);
	assert_int_equal(proto_type_sender(PROTO_LOGIN), PROTO_FROM_DAEMON);
	/* Every ERR_PROTO_* has a name and a message. */
	for (t = ERR_PROTO_FRAME_SIZE; t >= ERR_PROTO_UNEXPECTED; t--) {
		assert_true(strncmp(err_name(t), "ERR_PROTO_", 10) == 0);
		assert_string_not_equal(err_str(t), "unknown error");
	}
}

/* proto_uri_ok(): the one URI rule, for the helper as for the codec. */
static void
test_uri_ok(void **state)
{
	static const char *const good[] = {
		"pkcs11:token=vault", "pkcs11:", "pkcs11:token=a%20b;object=k?pin-source=file:/p",
		"pkcs11:id=%01%aB", "pkcs11:model=-._~!$&'()*+,=:@/",
	};
	static const char *const bad[] = {
		"", "pkcs11", "PKCS11:token=a", "file:token=a", "pkcs11:token=a b",
		"pkcs11:id=%0", "pkcs11:id=%g1", "pkcs11:id=%", "pkcs11:token=\"x\"",
		"pkcs11:token=a\nb", "pkcs11:label=\xc3\xa9",
	};
	static char longest[LIMIT_P11_URI + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!proto_uri_ok(good[i]))
			fail_msg("refused: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proto_uri_ok(bad[i]))
			fail_msg("accepted: %s", bad[i]);
	assert_false(proto_uri_ok(NULL));
	memcpy(longest, "pkcs11:", 7);
	memset(longest + 7, 'a', LIMIT_P11_URI - 7);
	assert_true(proto_uri_ok(longest));
	longest[LIMIT_P11_URI] = 'a';
	assert_false(proto_uri_ok(longest));
}

static json_t *
load_cases(const char *path, json_t **rootp)
{
	*rootp = tvec_load(path);
	return json_object_get(*rootp, "cases");
}

int
main(void)
{
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_round_trip_all_types),
		cmocka_unit_test(test_reader_stream),
		cmocka_unit_test(test_reader_refuses_early),
		cmocka_unit_test(test_encoder_refuses),
		cmocka_unit_test(test_limits_fit),
		cmocka_unit_test(test_send_recv),
		cmocka_unit_test(test_send_recv_large),
		cmocka_unit_test(test_reader_fd),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_uri_ok),
	};
	json_t *ok_root, *bad_root;
	json_t *ok = load_cases("tests/vectors/proto/frames.json", &ok_root);
	json_t *bad = load_cases("tests/vectors/proto/refused.json", &bad_root);
	int failed = 0;

	signal(SIGPIPE, SIG_DFL);	/* proto_send must not raise it */
	failed += tvec_run("proto-frames", ok, test_frame_case);
	failed += tvec_run("proto-refused", bad, test_refused_case);
	failed += cmocka_run_group_tests_name("proto", fixed, NULL, NULL);
	json_decref(ok_root);
	json_decref(bad_root);
	return failed != 0;
}
