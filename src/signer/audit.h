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
 */
#ifndef SIGNER_AUDIT_H
#define SIGNER_AUDIT_H

#include <stddef.h>
#include <jansson.h>

#define SIGNER_AUDIT_HASH_HEX 65	/* 64 hex digits and NUL */

struct signer_audit;

/*
 * Open (creating if needed) the log at path and check the chain of what is
 * there.  Caller frees with signer_audit_close().  Errors: ERR_AUDIT_IO,
 * ERR_AUDIT_BROKEN (an existing log whose chain is broken: refuse to append
 * to it rather than hide the break), ERR_NOMEM.
 */
int signer_audit_open(const char *path, struct signer_audit **outp);

/* Append one event (borrowed).  Thread-safe.  Errors: ERR_AUDIT_IO, ERR_NOMEM. */
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

#endif /* SIGNER_AUDIT_H */
