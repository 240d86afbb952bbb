/*
 * proto.c - the token protocol's type table and the rules on field contents
 * (field_*, check_*), one place per kind, used by the encoder and the
 * decoder alike.  The wire format is docs/token-protocol.md.
 */
#include <stdlib.h>
#include <string.h>

#include "eth/addr.h"
#include "eth/hex.h"
#include "core/err.h"
#include "eth/sig.h"
#include "p11/proto.h"
#include "p11/proto_int.h"

static const struct type_info type_table[] = {
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
	{ PROTO_SIGNATURE,    PROTO_FROM_HELPER, 1, 0, "SIGNATURE" },
	{ PROTO_GENERATED,    PROTO_FROM_HELPER, KEY_FIELDS, 0, "GENERATED" },
	{ PROTO_LOGIN_RESULT, PROTO_FROM_HELPER, 2, 0, "LOGIN_RESULT" },
	{ PROTO_ERROR,        PROTO_FROM_HELPER, 2, 0, "ERROR" },
	{ PROTO_EVENT,        PROTO_FROM_HELPER, 3, 0, "EVENT" },
};

const struct type_info *
proto_type_info(int type)
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
	const struct type_info *t = proto_type_info(type);

	return t != NULL ? (enum proto_side)t->sender : 0;
}

int
proto_is_reply_to(int request_type, int reply_type)
{
	const struct type_info *t = proto_type_info(request_type);

	if (t == NULL || t->sender != PROTO_FROM_DAEMON)
		return 0;
	return reply_type == t->reply || reply_type == PROTO_ERROR;
}

const char *
proto_type_name(int type)
{
	const struct type_info *t = proto_type_info(type);

	return t != NULL ? t->name : "UNKNOWN";
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

int
proto_check_text(const uint8_t *p, size_t n, size_t min, size_t max)
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

/* "pkcs11:" then RFC 3986 characters only, every '%' followed by two hex digits. */
int
proto_check_uri(const uint8_t *p, size_t n, int required)
{
	static const char prefix[] = "pkcs11:";
	static const char other[] = "-._~!$&'()*+,;=:@/?";
	size_t i;

	if (n > LIMIT_P11_URI)
		return ERR_TOO_LONG;
	if (n == 0)
		return required ? ERR_PROTO_FIELD_SIZE : 0;
	if (n < sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0)
		return ERR_PROTO_FIELD_VALUE;
	for (i = sizeof(prefix) - 1; i < n; i++) {
		uint8_t c = p[i];
		if (c == '%') {
			if (n - i < 3 || eth_hex_digit(p[i + 1]) < 0 || eth_hex_digit(p[i + 2]) < 0)
				return ERR_PROTO_FIELD_VALUE;
			i += 2;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != 0 && strchr(other, c) != NULL)))
			return ERR_PROTO_FIELD_VALUE;
	}
	return 0;
}

int
proto_uri_ok(const char *s)
{
	return s != NULL && proto_check_uri((const uint8_t *)s, strlen(s), 1) == 0;
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
int
proto_check_msg(const struct proto_msg *m)
{
	const struct type_info *t = proto_type_info(m->type);

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
		if (!eth_sig_is_low_s(m->signature.sig))
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
