/*
 * token_uri.c - what comes from outside the module: RFC 7512 pkcs11: URIs
 * and their pin-source/pin-value, module paths against the allowlist, and
 * CKA_EC_POINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "eth/sig.h"
#include "p11/token_int.h"

/* ---- parsing what comes from outside ---- */

int
p11_token_ec_point_parse(const uint8_t *untrusted, size_t len, uint8_t pub65[65])
{
	const uint8_t *p = untrusted;
	size_t n = len;

	if (untrusted == NULL)
		return ERR_P11_EC_POINT;
	/* DER OCTET STRING, short-form length, around a 65- or 33-byte point. */
	if ((len == 67 || len == 35) && untrusted[0] == 0x04 && untrusted[1] == len - 2) {
		p = untrusted + 2;
		n = len - 2;
	}
	if (!((n == 65 && p[0] == 0x04) || (n == 33 && (p[0] == 0x02 || p[0] == 0x03))))
		return ERR_P11_EC_POINT;
	if (eth_sig_pubkey_parse(p, n, pub65) != 0)
		return ERR_P11_EC_POINT;
	return 0;
}

int
p11_token_path_allowed(const char *path, const char *const *allowed)
{
	char prefix[PATH_MAX];
	const char *p;
	size_t i, plen, slashes, seen, len;

	if (path == NULL || path[0] != '/' || allowed == NULL)
		return 0;
	for (i = 0; allowed[i] != NULL; i++) {
		const char *pat = allowed[i];

		plen = strlen(pat);
		if (plen < 2 || pat[0] != '/' || pat[plen - 1] != '/')
			continue;
		for (slashes = 0, p = pat; *p != '\0'; p++)
			slashes += *p == '/';
		/* The path up to and including its slashes-th slash. */
		for (len = 0, seen = 0, p = path; *p != '\0'; p++) {
			if (*p == '/' && ++seen == slashes) {
				len = (size_t)(p - path) + 1;
				break;
			}
		}
		if (len == 0 || path[len] == '\0' || len >= sizeof(prefix))
			continue;
		memcpy(prefix, path, len);
		prefix[len] = '\0';
		if (fnmatch(pat, prefix, FNM_PATHNAME | FNM_PERIOD) == 0)
			return 1;
	}
	return 0;
}

/* Query attributes p11-kit understands; it keeps any other silently. */
static int
uri_query_known(const char *s)
{
	static const char *const known[] = {
		"pin-source", "pin-value", "module-name", "module-path", NULL
	};
	const char *name = strchr(s, '?'), *end, *eq;
	size_t i;
	int ok;

	if (name == NULL)
		return 1;
	for (name++; *name != '\0'; name = *end != '\0' ? end + 1 : end) {
		end = name + strcspn(name, "&");
		eq = memchr(name, '=', (size_t)(end - name));
		if (eq == NULL)
			return 0;
		for (ok = 0, i = 0; known[i] != NULL && !ok; i++)
			ok = strlen(known[i]) == (size_t)(eq - name) &&
			    memcmp(known[i], name, (size_t)(eq - name)) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

void
tok_uri_free(P11KitUri *u)
{
	const char *pv;

	if (u == NULL)
		return;
	/* p11-kit frees its copy of a pin-value without wiping it. */
	if ((pv = p11_kit_uri_get_pin_value(u)) != NULL)
		explicit_bzero((char *)(uintptr_t)pv, strlen(pv));
	p11_kit_uri_free(u);
}

int
tok_uri_parse(const char *s, P11KitUri **urip)
{
	P11KitUri *u;
	int pr, r;

	*urip = NULL;
	if (s == NULL)
		return ERR_INVALID_ARGUMENT;
	if (strlen(s) > LIMIT_P11_URI)
		return ERR_TOO_LONG;
	if ((u = p11_kit_uri_new()) == NULL)
		return ERR_NOMEM;
	pr = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, u);
	if (pr == P11_KIT_URI_NO_MEMORY)
		r = ERR_NOMEM;
	else if (pr != P11_KIT_URI_OK)
		r = ERR_P11_URI_INVALID;
	else if (p11_kit_uri_any_unrecognized(u) || !uri_query_known(s))
		r = ERR_P11_URI_UNRECOGNIZED;
	else {
		*urip = u;
		return 0;
	}
	tok_uri_free(u);
	return r;
}

/* file:/p, file:///p, file://localhost/p, or an absolute path: the path. */
static const char *
pin_source_path(const char *src)
{
	if (strncmp(src, "file:", 5) == 0) {
		src += 5;
		if (strncmp(src, "//", 2) == 0) {
			src += 2;
			if (strncmp(src, "localhost/", 10) == 0)
				src += 9;
		}
	}
	return src[0] == '/' ? src : NULL;
}

/*
 * Read a PIN file into buf (cap bytes, cap > LIMIT_P11_PIN + 1), dropping one
 * trailing newline.  buf is wiped on failure.
 */
int
tok_pin_file_read(const char *path, uint8_t *buf, size_t cap, size_t *lenp)
{
	struct stat st;
	size_t len = 0;
	ssize_t got;
	int fd, r;

	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return ERR_P11_PIN_SOURCE;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = ERR_P11_PIN_SOURCE;
		goto out;
	}
	for (;;) {
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = ERR_P11_PIN_SOURCE;
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len == cap) {
			r = ERR_TOO_LONG;
			goto out;
		}
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		r = ERR_P11_PIN_SOURCE;
		goto out;
	}
	if (len > LIMIT_P11_PIN) {
		r = ERR_TOO_LONG;
		goto out;
	}
	*lenp = len;
	r = 0;
 out:
	if (r != 0)
		explicit_bzero(buf, cap);
	close(fd);
	return r;
}

void
tok_sel_clear(struct sel *s)
{
	tok_uri_free(s->uri);
	tok_secret_free(s->pin_value, s->pin_value_len);
	free(s->pin_file);
	memset(s, 0, sizeof(*s));
}

int
tok_sel_init(struct sel *s, const char *text)
{
	const char *pv, *ps, *path;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = tok_uri_parse(text, &s->uri)) != 0)
		return r;
	s->slot_id = p11_kit_uri_get_slot_id(s->uri);
	pv = p11_kit_uri_get_pin_value(s->uri);
	ps = p11_kit_uri_get_pin_source(s->uri);
	if (pv != NULL && ps != NULL)
		return ERR_P11_URI_INVALID;
	if (pv != NULL) {
		s->pin_value_len = strlen(pv);
		if (s->pin_value_len == 0)
			return ERR_P11_URI_INVALID;
		if (s->pin_value_len > LIMIT_P11_PIN)
			return ERR_TOO_LONG;
		if ((s->pin_value = malloc(s->pin_value_len)) == NULL)
			return ERR_NOMEM;
		memcpy(s->pin_value, pv, s->pin_value_len);
		explicit_bzero((char *)(uintptr_t)pv, s->pin_value_len);
		p11_kit_uri_set_pin_value(s->uri, NULL);
	}
	if (ps != NULL) {
		if ((path = pin_source_path(ps)) == NULL)
			return ERR_P11_PIN_SOURCE;
		if ((s->pin_file = strdup(path)) == NULL)
			return ERR_NOMEM;
	}
	return 0;
}

int
tok_sel_matches_token(const struct sel *s, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
    const CK_TOKEN_INFO *ti)
{
	if (s->slot_id != (CK_SLOT_ID)-1 && s->slot_id != slot)
		return 0;
	return p11_kit_uri_match_slot_info(s->uri, si) && p11_kit_uri_match_token_info(s->uri, ti);
}

/* A URI naming the key's public key object names the key pair too. */
int
tok_uri_matches_key(const P11KitUri *uri, struct key *k)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a[3] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->k.id, k->k.id_len },
		{ CKA_LABEL, k->label_raw, k->label_len },
	};

	if (p11_kit_uri_match_attributes(uri, a, 3))
		return 1;
	cls = CKO_PUBLIC_KEY;
	return p11_kit_uri_match_attributes(uri, a, 3);
}
