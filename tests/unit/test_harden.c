/*
 * signer/harden: what the daemon does first.  Token URIs leave the argument
 * area (the bytes /proc/PID/cmdline shows) while getopt still sees them;
 * the process becomes undumpable with no core limit; jansson allocates
 * through the wiping allocator.  The argument area is simulated by one
 * buffer of NUL-separated strings, as the kernel lays it out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <jansson.h>

#include "signer/harden.h"

#define PIN "4711-drawn-for-this-test"

static const char *const args[] = {
	"p11signer", "serve", "--module", "/usr/lib/softhsm/libsofthsm2.so",
	"--token", "pkcs11:token=vault?pin-value=" PIN,
	"--keygen-token=pkcs11:token=spare", "--tok", "PKCS11:token=upper",
	"--http", NULL,
};

/* The area, and argv pointing into it, as execve() leaves them. */
static char area[512];
static char *argv_[16];
static int argc_;

static void
lay_out(void)
{
	size_t off = 0, n;
	int i;

	memset(area, 0, sizeof(area));
	for (i = 0; args[i] != NULL; i++) {
		n = strlen(args[i]) + 1;
		assert_true(off + n <= sizeof(area));
		memcpy(area + off, args[i], n);
		argv_[i] = area + off;
		off += n;
	}
	argv_[i] = NULL;
	argc_ = i;
}

/* Free the copies the process would keep for its life. */
static void
release(void)
{
	int i;

	for (i = 0; i < argc_; i++)
		if (argv_[i] < area || argv_[i] >= area + sizeof(area))
			free(argv_[i]);
}

/* The area as cmdline shows it: NULs read as spaces. */
static void
shown(char out[sizeof(area) + 1])
{
	size_t i;

	for (i = 0; i < sizeof(area); i++)
		out[i] = area[i] == '\0' ? ' ' : area[i];
	out[sizeof(area)] = '\0';
}

static void
test_uris_leave_the_area(void **state)
{
	char view[sizeof(area) + 1];
	int i;

	(void)state;
	lay_out();
	shown(view);
	assert_non_null(strstr(view, PIN));	/* the check below can fail */
	assert_int_equal(signer_harden_process(argc_, argv_), 0);
	shown(view);
	assert_null(strstr(view, PIN));
	assert_null(strstr(view, "pkcs11:"));
	assert_null(strstr(view, "PKCS11:"));
	/* Option names stay readable; what does not hold a URI is untouched. */
	assert_non_null(strstr(view, "--token "));
	assert_non_null(strstr(view, "--keygen-token= "));
	assert_non_null(strstr(view, "/usr/lib/softhsm/libsofthsm2.so"));
	/* getopt sees every argument as it was given. */
	for (i = 0; args[i] != NULL; i++)
		assert_string_equal(argv_[i], args[i]);
	assert_true(argv_[5] < area || argv_[5] >= area + sizeof(area));
	assert_true(argv_[2] >= area && argv_[2] < area + sizeof(area));
	release();
}

static void
test_undumpable(void **state)
{
	struct rlimit rl;

	(void)state;
	lay_out();
	assert_int_equal(signer_harden_process(argc_, argv_), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(rl.rlim_max, 0);
	release();
}

static void
test_jansson_wipes(void **state)
{
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	json_t *v;
	char *text;
	unsigned char *p;
	size_t i;

	(void)state;
	lay_out();
	assert_int_equal(signer_harden_process(argc_, argv_), 0);
	json_get_alloc_funcs(&m, &f);
	assert_ptr_equal(m, malloc);
	assert_ptr_equal(f, signer_harden_free);
	/* A PIN in a UI answer goes through it. */
	v = json_loads("{\"text\":\"" PIN "\"}", 0, NULL);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "text")), PIN);
	/* What json_dumps() returns may still be given to free(), as callers do. */
	text = json_dumps(v, JSON_COMPACT);
	assert_non_null(text);
	assert_string_equal(text, "{\"text\":\"" PIN "\"}");
	free(text);
	json_decref(v);
	for (i = 1; i < 100; i += 7) {
		p = malloc(i);
		assert_non_null(p);
		memset(p, 0xa5, i);
		signer_harden_free(p);
	}
	signer_harden_free(NULL);
	release();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uris_leave_the_area),
		cmocka_unit_test(test_undumpable),
		cmocka_unit_test(test_jansson_wipes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
