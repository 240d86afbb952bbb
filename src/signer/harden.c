/*
 * harden.c - the daemon's first steps: not dumpable, JSON memory wiped on
 * free, token URIs out of argv.  See harden.h.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <jansson.h>

#include "core/err.h"
#include "signer/harden.h"

/*
 * No header of our own in front of the block: callers free what
 * json_dumps() returns with free(), as jansson allows with the default
 * allocator, and that must stay valid.  The block's size comes from the
 * allocator itself.
 */
void
signer_harden_free(void *ptr)
{
	if (ptr == NULL)
		return;
	explicit_bzero(ptr, malloc_usable_size(ptr));
	free(ptr);
}

/*
 * The scheme as p11-kit reads it (case-insensitively).  An argument that
 * holds it anywhere ("--token=pkcs11:...", "pkcs11:...") is a token URI.
 */
static const char *
uri_start(const char *arg)
{
	const char *s;

	for (s = arg; *s != '\0'; s++)
		if (strncasecmp(s, "pkcs11:", 7) == 0)
			return s;
	return NULL;
}

/*
 * Move each token URI out of the argument area: argv[i] then points to a
 * heap copy (kept for the process's life: the options point into it), and
 * the original bytes from the URI on are overwritten with NULs.
 */
static int
argv_move_uris(int argc, char **argv)
{
	const char *at;
	char *copy;
	int i, r = 0;

	for (i = 1; i < argc && r == 0; i++) {
		if (argv[i] == NULL || (at = uri_start(argv[i])) == NULL)
			continue;
		if ((copy = strdup(argv[i])) == NULL) {
			r = ERR_NOMEM;
			break;
		}
		explicit_bzero(argv[i] + (at - argv[i]), strlen(at));
		argv[i] = copy;
	}
	return r;
}

int
signer_harden_process(int argc, char **argv)
{
	struct rlimit none = { 0, 0 };
	int r;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0) {
		r = ERR_IO;
		goto out;
	}
	json_set_alloc_funcs(malloc, signer_harden_free);
	r = argv_move_uris(argc, argv);
 out:
	return r;
}
