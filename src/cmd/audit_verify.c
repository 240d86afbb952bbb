/*
 * audit_verify.c - p11signer audit verify FILE: check the audit log's hash
 * chain, against a recorded head, a checkpoint file and a key when given.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/log.h"
#include "signer/audit.h"
#include "cmd/p11signer-int.h"

int
cmd_audit(int argc, char **argv)
{
	char head[SIGNER_AUDIT_HASH_HEX], why[512];
	const char *want_last = NULL, *key_path = NULL, *cp_path = NULL;
	struct signer_audit_head cp, *cpp = NULL;
	uint8_t *key = NULL;
	size_t keylen = 0;
	unsigned long nlines = 0, bad = 0;
	int i, r;

	if (argc < 3 || strcmp(argv[1], "verify") != 0 || (argc - 3) % 2 != 0)
		log_die("usage: p11signer audit verify FILE [--head HASH[@SEQ]] [--checkpoints FILE] "
		    "[--key FILE]");
	for (i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--head") == 0 && strchr(argv[i + 1], '@') == NULL)
			want_last = argv[i + 1];	/* the old form: the last line's hash */
		else if (strcmp(argv[i], "--head") == 0) {
			if (signer_audit_head_parse(argv[i + 1], &cp) != 0)
				log_die("--head: want HASH@SEQ (64 hex digits, a line number), not %s",
				    argv[i + 1]);
			cpp = &cp;
		} else if (strcmp(argv[i], "--checkpoints") == 0)
			cp_path = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key_path = argv[i + 1];
		else
			log_die("audit verify: unknown option %s", argv[i]);
	}
	if (cp_path != NULL && cpp != NULL)
		log_die("audit verify: give --head HASH@SEQ or --checkpoints, not both");
	if (cp_path != NULL) {
		if ((r = signer_audit_checkpoint_last(cp_path, &cp)) != 0)
			log_die("%s: %s", cp_path, r == ERR_AUDIT_IO ? strerror(errno) :
			    "its last line is not a head HASH@SEQ");
		cpp = &cp;
	}
	if (key_path != NULL && (r = signer_audit_key_read(key_path, &key, &keylen)) != 0)
		log_die("%s: %s", key_path, r == ERR_INVALID_ARGUMENT ?
		    "group or others may read it (chmod 600)" : r == ERR_TOO_LONG ?
		    "a key file has 16 to 1024 bytes" : err_str(r));
	r = signer_audit_verify_ex(argv[2], key, keylen, cpp, head, &nlines, &bad, why,
	    sizeof(why));
	signer_audit_key_free(key, keylen);
	if (r != 0) {
		if (r == ERR_AUDIT_BROKEN)
			log_die("%s: broken at line %lu: %s", argv[2], bad, why);
		log_die("%s: %s", argv[2], err_str(r));
	}
	if (want_last != NULL && strcasecmp(want_last, head) != 0)
		log_die("%s: intact chain of %lu lines, but its head %s is not the recorded %s "
		    "(lines were removed from the end, or it is another log; a head written "
		    "as HASH@SEQ stays checkable after later appends)", argv[2], nlines,
		    head, want_last);
	if (cpp != NULL)
		printf("%s: %lu lines, chain intact, line %lu matches the checkpoint, head %s@%lu\n",
		    argv[2], nlines, cpp->seq, head, nlines);
	else
		printf("%s: %lu lines, chain intact, head %s@%lu\n", argv[2], nlines, head, nlines);
	return 0;
}
