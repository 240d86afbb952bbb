/*
 * The token layer's parsers and refusals that need no token: CKA_EC_POINT
 * forms, the module directory allowlist, and what p11_token_open() refuses
 * before any module code runs (URIs, paths, files without C_GetFunctionList).
 * The tokens themselves are tests/integration/token.test's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/err.h"
#include "p11/token.h"

/* The generator point of secp256k1: a point certainly on the curve. */
#define GX "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
#define GY "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"

static size_t
unhex(const char *s, uint8_t *out)
{
	size_t i, n = strlen(s) / 2;

	for (i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void
test_ec_point(void **state)
{
	static const struct { const char *name, *hex; int ok; } cases[] = {
		{ "DER uncompressed", "044104" GX GY, 1 },
		{ "raw uncompressed", "04" GX GY, 1 },
		{ "DER compressed", "042102" GX, 1 },
		{ "raw compressed", "02" GX, 1 },
		{ "empty", "", 0 },
		{ "one byte", "04", 0 },
		{ "raw, a byte short", "04" GX "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4", 0 },
		{ "DER, a byte short", "044104" GX "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4", 0 },
		{ "DER, length byte wrong", "044004" GX GY, 0 },
		{ "DER, long-form length", "04814104" GX GY, 0 },
		{ "DER around a compressed prefix", "044102" GX GY, 0 },
		{ "raw, hybrid prefix 06", "06" GX GY, 0 },
		{ "compressed odd prefix for an even Y", "03" GX, 1 },	/* another point, on the curve */
		{ "not on the curve", "04" GX GX, 0 },
		{ "X = p", "02" "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 0 },
		{ "DER with a trailing byte", "044104" GX GY "00", 0 },
	};
	uint8_t in[80], pub[65], want[65];
	size_t i, n;

	(void)state;
	unhex("04" GX GY, want);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = unhex(cases[i].hex, in);
		memset(pub, 0, sizeof(pub));
		if (p11_token_ec_point_parse(in, n, pub) != (cases[i].ok ? 0 : ERR_P11_EC_POINT))
			fail_msg("case '%s'", cases[i].name);
		if (cases[i].ok && strcmp(cases[i].name, "compressed odd prefix for an even Y") != 0 &&
		    memcmp(pub, want, 65) != 0)
			fail_msg("case '%s': another point", cases[i].name);
	}
	assert_int_equal(p11_token_ec_point_parse(NULL, 0, pub), ERR_P11_EC_POINT);
}

static void
test_path_allowed(void **state)
{
	static const char *const dflt[] = { "/usr/lib*/", "/usr/local/lib*/", NULL };
	static const char *const build[] = { "/work/main/build/tests/fault/", NULL };
	static const char *const odd[] = { "usr/lib/", "/usr/lib", "/", NULL };
	static const struct {
		const char *path;
		const char *const *allowed;
		int ok;
	} cases[] = {
		{ "/usr/lib/softhsm/libsofthsm2.so", dflt, 1 },
		{ "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so", dflt, 1 },
		{ "/usr/lib64/pkcs11/x.so", dflt, 1 },
		{ "/usr/local/lib/x.so", dflt, 1 },
		{ "/usr/libx.so", dflt, 0 },		/* a file, not a directory, named lib* */
		{ "/usr/lib", dflt, 0 },
		{ "/usr/lib/", dflt, 0 },		/* nothing under it */
		{ "/usr/share/x.so", dflt, 0 },
		{ "/tmp/usr/lib/x.so", dflt, 0 },
		{ "/usr/lib/.hidden/x.so", dflt, 1 },	/* the prefix is /usr/lib/ */
		{ "/usr/.lib/x.so", dflt, 0 },
		{ "/work/main/build/tests/fault/libp11fault.so", build, 1 },
		{ "/work/main/build/tests/faultx/libp11fault.so", build, 0 },
		{ "/work/main/build/tests/libp11fault.so", build, 0 },
		{ "/usr/lib/x.so", build, 0 },
		{ "/usr/lib/x.so", odd, 0 },		/* relative, slashless and root patterns ignored */
		{ "x.so", dflt, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (p11_token_path_allowed(cases[i].path, cases[i].allowed) != cases[i].ok)
			fail_msg("path '%s'", cases[i].path);
	assert_int_equal(p11_token_path_allowed(NULL, dflt), 0);
	assert_int_equal(p11_token_path_allowed("/usr/lib/x.so", NULL), 0);
	assert_int_equal(p11_token_path_allowed("/usr/lib/x.so", p11_token_allowed_default), 1);
}

/* p11_token_open(cfg) fails with want, leaving *modp NULL. */
static void
open_refused(const char *what, const struct p11_module_config *cfg, int want)
{
	static char not_null;
	struct p11_module *m = (struct p11_module *)(void *)&not_null;
	int r = p11_token_open(cfg, &m);

	if (r != want)
		fail_msg("%s: got %s, want %s", what, err_name(r), err_name(want));
	assert_null(m);
}

static void
test_open_refused(void **state)
{
	static const struct {
		const char *uri, *what;
		int err;
	} bad_uris[] = {
		{ "file:///x", "not a pkcs11: URI", ERR_P11_URI_INVALID },
		{ "pkcs11:tokne=vault", "an unknown path attribute", ERR_P11_URI_UNRECOGNIZED },
		{ "pkcs11:token=vault?pin-sorce=/x",
		  "an unknown query attribute", ERR_P11_URI_UNRECOGNIZED },
		{ "pkcs11:token=vault;type=secret-thing",
		  "an unknown object type", ERR_P11_URI_UNRECOGNIZED },
		{ "pkcs11:token=vault?pin-source=env:PIN",
		  "a pin-source that is not a file", ERR_P11_PIN_SOURCE },
		{ "pkcs11:token=vault?pin-source=file://host/x",
		  "a pin-source on another host", ERR_P11_PIN_SOURCE },
		{ "pkcs11:token=vault?pin-source=/x&pin-value=1234",
		  "both pin-source and pin-value", ERR_P11_URI_INVALID },
		{ "pkcs11:token=vault%zz", "bad percent-encoding", ERR_P11_URI_INVALID },
	};
	char dir[] = "/tmp/p11s-test-token.XXXXXX", allowed[64], text[96], link[96];
	const char *allow[2] = { NULL, NULL };
	const char *uris[3] = { NULL, NULL, NULL };
	struct p11_module_config cfg;
	struct p11_module *m = NULL;
	size_t i;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(allowed, sizeof(allowed), "%s/", dir);
	snprintf(text, sizeof(text), "%s/libtext.so", dir);
	snprintf(link, sizeof(link), "%s/libsh.so", dir);
	assert_non_null(f = fopen(text, "w"));
	fputs("not a module\n", f);
	fclose(f);
	assert_int_equal(symlink("/bin/sh", link), 0);

	assert_int_equal(p11_token_open(NULL, &m), ERR_INVALID_ARGUMENT);
	assert_null(m);
	assert_int_equal(p11_token_open(NULL, NULL), ERR_INVALID_ARGUMENT);

	memset(&cfg, 0, sizeof(cfg));
	open_refused("no module", &cfg, ERR_INVALID_ARGUMENT);
	cfg.module = "lib/softhsm/libsofthsm2.so";
	open_refused("relative path", &cfg, ERR_P11_MODULE_PATH);
	cfg.module = "/nonexistent/p11s/module.so";
	open_refused("missing file", &cfg, ERR_P11_MODULE_PATH);
	cfg.module = dir;
	allow[0] = allowed;
	cfg.allowed_dirs = allow;
	open_refused("a directory", &cfg, ERR_P11_MODULE_PATH);
	cfg.module = text;
	cfg.allowed_dirs = NULL;
	open_refused("outside the default directories", &cfg, ERR_P11_MODULE_NOT_ALLOWED);
	cfg.allowed_dirs = allow;
	open_refused("no shared object", &cfg, ERR_P11_MODULE_NOT_PKCS11);
	cfg.module = link;
	open_refused("a link out of the allowed directory", &cfg, ERR_P11_MODULE_NOT_ALLOWED);
	allow[0] = "relative/";
	cfg.module = text;
	open_refused("a relative allowed directory", &cfg, ERR_INVALID_ARGUMENT);
	allow[0] = allowed;
	cfg.sessions_per_token = LIMIT_P11_SESSIONS + 1;
	open_refused("too many sessions", &cfg, ERR_INVALID_ARGUMENT);
	cfg.sessions_per_token = 0;

	cfg.uris = uris;
	open_refused("an empty URI list", &cfg, ERR_INVALID_ARGUMENT);
	for (i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
		uris[0] = bad_uris[i].uri;
		open_refused(bad_uris[i].what, &cfg, bad_uris[i].err);
	}
	uris[0] = "pkcs11:token=vault?pin-value=1234";
	uris[1] = "pkcs11:token=cold?module-name=p11s-no-such-module";
	cfg.module = NULL;
	open_refused("the module named by the second URI, not registered", &cfg,
	    ERR_P11_MODULE_NOT_REGISTERED);
	uris[1] = NULL;
	uris[0] = "pkcs11:token=vault?module-path=relative.so";
	open_refused("a relative module-path", &cfg, ERR_P11_MODULE_PATH);

	p11_token_close(NULL);
	p11_token_keys_free(NULL, 0);
	unlink(link);
	unlink(text);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec_point),
		cmocka_unit_test(test_path_allowed),
		cmocka_unit_test(test_open_refused),
	};

	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
