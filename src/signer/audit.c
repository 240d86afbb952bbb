#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "eth/err.h"
#include "eth/hex.h"
#include "signer/audit.h"

#define AUDIT_GENESIS "p11signer audit log v1"
#define AUDIT_MAX_LINE (4 * 1024 * 1024)

struct signer_audit {
	int fd;
	unsigned long seq;		/* of the next line */
	char prev[SIGNER_AUDIT_HASH_HEX];
	pthread_mutex_t lock;
};

static void
hash_hex(const void *p, size_t n, char out[SIGNER_AUDIT_HASH_HEX])
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	char tmp[2 * SHA256_DIGEST_SIZE + 3];

	sha256_init(&ctx);
	sha256_update(&ctx, n, p);
	sha256_digest(&ctx, sizeof(d), d);
	eth_hex_encode_to(d, sizeof(d), tmp);
	memcpy(out, tmp + 2, SIGNER_AUDIT_HASH_HEX);	/* without "0x" */
}

/*
 * Walk the log; stops at the first break.  On return *seqp is the next
 * sequence number and prev the hash of the last good line.
 */
static int
audit_walk(FILE *f, char prev[SIGNER_AUDIT_HASH_HEX], unsigned long *seqp,
    unsigned long *bad_linep, char *why, size_t whylen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int r = 0;

	hash_hex(AUDIT_GENESIS, strlen(AUDIT_GENESIS), prev);
	*seqp = 1;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *j;
		const char *lp;
		json_int_t seq;

		lineno++;
		if (line[n - 1] != '\n' || n > AUDIT_MAX_LINE) {
			snprintf(why, whylen, "line %lu is incomplete or too long", lineno);
			r = ERR_AUDIT_BROKEN;
			break;
		}
		line[--n] = '\0';
		j = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
		lp = json_string_value(json_object_get(j, "prev"));
		seq = json_integer_value(json_object_get(j, "seq"));
		if (j == NULL || lp == NULL) {
			snprintf(why, whylen, "line %lu is not an audit record", lineno);
			*bad_linep = lineno;
			r = ERR_AUDIT_BROKEN;
		} else if (seq != (json_int_t)*seqp) {
			snprintf(why, whylen, "line %lu has sequence number %lld where %lu "
			    "belongs: lines were removed or moved before it, or it was changed",
			    lineno, (long long)seq, *seqp);
			*bad_linep = lineno;
			r = ERR_AUDIT_BROKEN;
		} else if (strcmp(lp, prev) != 0) {
			/* Line k records the hash of line k-1: it is k-1 that changed. */
			if (lineno == 1)
				snprintf(why, whylen, "line 1 does not start the chain: "
				    "the log's beginning was changed");
			else
				snprintf(why, whylen, "line %lu was changed: line %lu recorded "
				    "another hash of it", lineno - 1, lineno);
			*bad_linep = lineno > 1 ? lineno - 1 : 1;
			r = ERR_AUDIT_BROKEN;
		}
		json_decref(j);
		if (r != 0)
			break;
		hash_hex(line, (size_t)n, prev);
		(*seqp)++;
	}
	if (r == 0 && ferror(f))
		r = ERR_AUDIT_IO;
	free(line);
	return r;
}

int
signer_audit_verify(const char *path, char head[SIGNER_AUDIT_HASH_HEX],
    unsigned long *nlinesp, unsigned long *bad_linep, char *why, size_t whylen)
{
	FILE *f;
	unsigned long seq;
	int r;

	*nlinesp = *bad_linep = 0;
	if (whylen > 0)
		why[0] = '\0';
	if ((f = fopen(path, "re")) == NULL)
		return ERR_AUDIT_IO;
	r = audit_walk(f, head, &seq, bad_linep, why, whylen);
	fclose(f);
	*nlinesp = seq - 1;
	return r;
}

int
signer_audit_open(const char *path, struct signer_audit **outp)
{
	struct signer_audit *a = NULL;
	unsigned long bad;
	char why[256];
	FILE *f = NULL;
	int fd = -1, r;

	*outp = NULL;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return ERR_AUDIT_IO;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	if ((f = fopen(path, "re")) == NULL) {
		r = ERR_AUDIT_IO;
		goto out;
	}
	if ((r = audit_walk(f, a->prev, &a->seq, &bad, why, sizeof(why))) != 0)
		goto out;
	pthread_mutex_init(&a->lock, NULL);
	a->fd = fd;
	fd = -1;
	*outp = a;
	a = NULL;
 out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	free(a);
	return r;
}

int
signer_audit_append(struct signer_audit *a, const json_t *event)
{
	char stamp[32], *line = NULL, *full = NULL;
	struct tm tm;
	time_t now = time(NULL);
	json_t *rec = NULL;
	size_t len;
	int r = ERR_NOMEM;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&a->lock);
	rec = json_pack("{s:I, s:s, s:s, s:O}", "seq", (json_int_t)a->seq, "time", stamp,
	    "prev", a->prev, "event", event);
	if (rec == NULL || (line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII)) == NULL)
		goto out;
	len = strlen(line);
	if ((full = malloc(len + 2)) == NULL)
		goto out;
	memcpy(full, line, len);
	full[len] = '\n';
	/* One write: O_APPEND keeps a line whole even if another writer appears. */
	if (write(a->fd, full, len + 1) != (ssize_t)(len + 1) || fsync(a->fd) != 0) {
		r = ERR_AUDIT_IO;
		goto out;
	}
	hash_hex(line, len, a->prev);
	a->seq++;
	r = 0;
 out:
	pthread_mutex_unlock(&a->lock);
	json_decref(rec);
	free(line);
	free(full);
	return r;
}

void
signer_audit_close(struct signer_audit *a)
{
	if (a == NULL)
		return;
	close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
