/*
 * audit.h - the append-only, hash-chained audit log (--auditlog).
 *
 * One JSON object per line:
 *   {"seq":N,"time":"2026-11-25T02:45:55Z","prev":"<hex>","event":{...}}
 * where prev is SHA-256 of the previous line's bytes (without its newline),
 * and, for the first line, SHA-256 of "p11signer audit log v1".  Editing,
 * removing or reordering any line breaks the chain at the next line, which
 * signer_audit_verify() reports.  The last line has no successor: its
 * integrity, and truncation of the file, can be checked only against a head
 * hash recorded elsewhere (signer_audit_verify() returns the head;
 * `p11signer audit verify --head HASH` compares).
 *
 * The file is opened O_APPEND with mode 0600 and every line is written with
 * one write() and fsync()ed before signer_audit_append() returns, so a
 * signature is never released without its record.  Appends are serialised.
 *
 * A chain alone does not stop someone who can write the file from editing a
 * line and recomputing every seq and prev after it.  Two things do:
 *
 *  - Checkpoints.  A head is written "HASH@SEQ": the hash of line SEQ.  The
 *    chain makes it vouch for every line up to SEQ, and lines appended after
 *    it do not change it.  With a checkpoint file configured, the daemon
 *    appends the head after every line (one write; fsync'ed when it is a
 *    regular file, so it may be a file on other storage, or /dev/stderr for
 *    the journal), and at open checks the log against the last head in it.
 *    signer_audit_verify_ex() checks a log against a recorded head.
 *  - A key.  With a key file, each prev is HMAC-SHA256(key, previous line)
 *    (and the first, of the genesis string) instead of SHA-256: without the
 *    key nobody can make a chain that verifies.  The daemon reads the key
 *    at open and keeps it; verify needs the same key.
 */
#ifndef SIGNER_AUDIT_H
#define SIGNER_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define SIGNER_AUDIT_HASH_HEX 65	/* 64 hex digits and NUL */
#define SIGNER_AUDIT_KEY_MIN 16		/* bytes of a chain key file */
#define SIGNER_AUDIT_KEY_MAX 1024

struct signer_audit;

/* A recorded head: the hash of line seq (1-based). */
struct signer_audit_head {
	unsigned long seq;
	char hash[SIGNER_AUDIT_HASH_HEX];	/* 64 lowercase hex digits */
};

struct signer_audit_config {
	const char *path;		/* the log */
	const char *checkpoint_path;	/* NULL: no checkpoints */
	const char *key_path;		/* NULL: SHA-256 chain, no key */
};

/*
 * Parse "HASH@SEQ" (64 hex digits, either case; SEQ decimal, >= 1) into h.
 * Errors: ERR_INVALID_ARGUMENT.
 */
int signer_audit_head_parse(const char *untrusted_s, struct signer_audit_head *h);

/*
 * The last head in a checkpoint file: the last complete line that is
 * HASH@SEQ within its last 4 KiB (other lines, such as log messages when the
 * file is also the daemon's stderr, are passed over).  Returns 0,
 * ERR_AUDIT_IO (cannot read), ERR_INVALID_ARGUMENT (no head there).
 */
int signer_audit_checkpoint_last(const char *path, struct signer_audit_head *h);

/*
 * Read a chain key.  The file must be a regular file that group and others
 * cannot read, of SIGNER_AUDIT_KEY_MIN to _MAX bytes.  *keyp: caller frees
 * with signer_audit_key_free().  Errors: ERR_AUDIT_IO, ERR_INVALID_ARGUMENT
 * (mode), ERR_TOO_LONG (size out of range), ERR_NOMEM.
 */
int signer_audit_key_read(const char *path, uint8_t **keyp, size_t *lenp);

/* Wipe and free a key; accepts NULL. */
void signer_audit_key_free(uint8_t *key, size_t len);

/*
 * Open as signer_audit_open(), with a checkpoint file and a key.  When the
 * checkpoint file is a regular file with a head in it (see
 * signer_audit_checkpoint_last()), the log must match that head, or
 * ERR_AUDIT_BROKEN.  Errors as signer_audit_open(), and
 * signer_audit_key_read()'s.
 */
int signer_audit_open_cfg(const struct signer_audit_config *cfg, struct signer_audit **outp);

/*
 * Open (creating if needed) the log at path and check the chain of what is
 * there.  Caller frees with signer_audit_close().  Errors: ERR_AUDIT_IO,
 * ERR_AUDIT_BROKEN (an existing log whose chain is broken: refuse to append
 * to it rather than hide the break), ERR_NOMEM.
 */
int signer_audit_open(const char *path, struct signer_audit **outp);

/* Append one event (borrowed), and its head to the checkpoint file when there
 * is one.  Thread-safe.  Errors: ERR_AUDIT_IO (the line or its checkpoint
 * could not be written: the caller must not release what it records),
 * ERR_NOMEM. */
int signer_audit_append(struct signer_audit *a, const json_t *event);

/* Accepts NULL. */
void signer_audit_close(struct signer_audit *a);

/*
 * Check the whole chain.  Returns 0 when intact, writing the head hash (of
 * the last line) to head and the number of lines to *nlinesp.  Returns
 * ERR_AUDIT_BROKEN with *bad_linep the first line (1-based) that was changed,
 * removed before, or moved, and a sentence in why.  ERR_AUDIT_IO when the file
 * cannot be read.
 */
int signer_audit_verify(const char *path, char head[SIGNER_AUDIT_HASH_HEX],
    unsigned long *nlinesp, unsigned long *bad_linep, char *why, size_t whylen);

/*
 * The same, for a keyed chain (key NULL: unkeyed) and against a recorded
 * head (NULL: none): line checkpoint->seq must exist and hash to
 * checkpoint->hash, else ERR_AUDIT_BROKEN with *bad_linep that line (or the
 * first missing one) and why saying so.
 */
int signer_audit_verify_ex(const char *path, const uint8_t *key, size_t keylen,
    const struct signer_audit_head *checkpoint, char head[SIGNER_AUDIT_HASH_HEX],
    unsigned long *nlinesp, unsigned long *bad_linep, char *why, size_t whylen);

#endif /* SIGNER_AUDIT_H */
