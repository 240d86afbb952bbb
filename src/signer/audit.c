#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "core/err.h"
#include "eth/hex.h"
#include "signer/audit.h"

#define AUDIT_GENESIS "p11signer audit log v1"
#define AUDIT_MAX_LINE (4 * 1024 * 1024)

/* A checkpoint line: "HASH@SEQ\n", SEQ at most 20 digits. */
#define AUDIT_CHECKPOINT_LINE (SIGNER_AUDIT_HASH_HEX + 22)
/* How much of a checkpoint file's end is searched for its last head. */
#define AUDIT_CHECKPOINT_TAIL 4096

/* The chain's key; len 0: plain SHA-256. */
struct audit_key {
	const uint8_t *p;
	size_t len;
};

struct signer_audit {
	int fd;
	unsigned long seq;		/* of the next line */
	char prev[SIGNER_AUDIT_HASH_HEX];
	pthread_mutex_t lock;
	int cp_fd;			/* checkpoint file, or -1 */
	int cp_sync;			/* a regular file: fsync it */
	uint8_t *key;			/* NULL: unkeyed */
	size_t keylen;
};

static void
hash_hex(const struct audit_key *k, const void *p, size_t n, char out[SIGNER_AUDIT_HASH_HEX])
{
	struct sha256_ctx ctx;
	struct hmac_sha256_ctx mac;
	uint8_t d[SHA256_DIGEST_SIZE];
	char tmp[2 * SHA256_DIGEST_SIZE + 3];

	if (k != NULL && k->len > 0) {
		hmac_sha256_set_key(&mac, k->len, k->p);
		hmac_sha256_update(&mac, n, p);
		hmac_sha256_digest(&mac, sizeof(d), d);
		explicit_bzero(&mac, sizeof(mac));
	} else {
		sha256_init(&ctx);
		sha256_update(&ctx, n, p);
		sha256_digest(&ctx, sizeof(d), d);
	}
	eth_hex_encode_to(d, sizeof(d), tmp);
	memcpy(out, tmp + 2, SIGNER_AUDIT_HASH_HEX);	/* without "0x" */
}

int
signer_audit_head_parse(const char *untrusted_s, struct signer_audit_head *h)
{
	const char *at = strchr(untrusted_s, '@');
	size_t i, ndig;
	unsigned long long seq = 0;

	if (at == NULL || at - untrusted_s != SIGNER_AUDIT_HASH_HEX - 1)
		return ERR_INVALID_ARGUMENT;
	ndig = strlen(at + 1);
	if (ndig == 0 || ndig > 19 || strspn(at + 1, "0123456789") != ndig || at[1] == '0')
		return ERR_INVALID_ARGUMENT;
	for (i = 0; i < SIGNER_AUDIT_HASH_HEX - 1; i++)
		if (strchr("0123456789abcdefABCDEF", untrusted_s[i]) == NULL)
			return ERR_INVALID_ARGUMENT;
	for (i = 0; i < ndig; i++)
		seq = seq * 10 + (unsigned long long)(at[1 + i] - '0');
	if (seq > (unsigned long long)(unsigned long)-1)
		return ERR_INVALID_ARGUMENT;
	for (i = 0; i < SIGNER_AUDIT_HASH_HEX - 1; i++)
		h->hash[i] = (char)(untrusted_s[i] >= 'A' && untrusted_s[i] <= 'F' ?
		    untrusted_s[i] - 'A' + 'a' : untrusted_s[i]);
	h->hash[SIGNER_AUDIT_HASH_HEX - 1] = '\0';
	h->seq = (unsigned long)seq;
	return 0;
}

int
signer_audit_checkpoint_last(const char *path, struct signer_audit_head *h)
{
	char buf[AUDIT_CHECKPOINT_TAIL + 1], *end, *start;
	FILE *f;
	long size, from;
	size_t n;
	int r = ERR_AUDIT_IO;

	if ((f = fopen(path, "re")) == NULL)
		return ERR_AUDIT_IO;
	/* Only the tail: the file grows by one line per record. */
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0)
		goto out;
	from = size > AUDIT_CHECKPOINT_TAIL ? size - AUDIT_CHECKPOINT_TAIL : 0;
	if (fseek(f, from, SEEK_SET) != 0)
		goto out;
	n = fread(buf, 1, AUDIT_CHECKPOINT_TAIL, f);
	if (ferror(f))
		goto out;
	buf[n] = '\0';
	/*
	 * The last complete line that is a head.  Other lines are passed over,
	 * so that the file may be one the daemon also logs to (its stderr); a
	 * torn last write is not a head.
	 */
	r = ERR_INVALID_ARGUMENT;
	while ((end = strrchr(buf, '\n')) != NULL) {
		*end = '\0';
		start = strrchr(buf, '\n');
		if (start == NULL && from > 0)
			break;	/* began before what was read */
		start = start != NULL ? start + 1 : buf;
		if (signer_audit_head_parse(start, h) == 0) {
			r = 0;
			break;
		}
	}
 out:
	fclose(f);
	return r;
}

int
signer_audit_key_read(const char *path, uint8_t **keyp, size_t *lenp)
{
	uint8_t *key = NULL;
	struct stat st;
	size_t got = 0, cap = 0;
	ssize_t n;
	int fd, r;

	*keyp = NULL;
	*lenp = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return ERR_AUDIT_IO;
	r = ERR_AUDIT_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	r = ERR_INVALID_ARGUMENT;
	if ((st.st_mode & 077) != 0)
		goto out;
	r = ERR_TOO_LONG;
	if (st.st_size < SIGNER_AUDIT_KEY_MIN || st.st_size > SIGNER_AUDIT_KEY_MAX)
		goto out;
	r = ERR_NOMEM;
	if ((key = malloc((size_t)st.st_size)) == NULL)
		goto out;
	cap = (size_t)st.st_size;
	r = ERR_AUDIT_IO;
	while (got < cap) {
		n = read(fd, key + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	*keyp = key;
	*lenp = got;
	key = NULL;
	r = 0;
 out:
	signer_audit_key_free(key, cap);
	close(fd);
	return r;
}

void
signer_audit_key_free(uint8_t *key, size_t len)
{
	if (key == NULL)
		return;
	explicit_bzero(key, len);
	free(key);
}

/*
 * Walk the log; stops at the first break.  On return *seqp is the next
 * sequence number and prev the hash of the last good line.
 */
static int
audit_walk(FILE *f, const struct audit_key *k, const struct signer_audit_head *cp,
    char prev[SIGNER_AUDIT_HASH_HEX], unsigned long *seqp,
    unsigned long *bad_linep, char *why, size_t whylen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int r = 0;

	hash_hex(k, AUDIT_GENESIS, strlen(AUDIT_GENESIS), prev);
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
				    "the log's beginning was changed (or the chain is keyed "
				    "and this is not its key)");
			else
				snprintf(why, whylen, "line %lu was changed: line %lu recorded "
				    "another hash of it", lineno - 1, lineno);
			*bad_linep = lineno > 1 ? lineno - 1 : 1;
			r = ERR_AUDIT_BROKEN;
		}
		json_decref(j);
		if (r != 0)
			break;
		hash_hex(k, line, (size_t)n, prev);
		/* A rewrite that recomputed every seq and prev still changes the
		 * hash of each line from the first it touched on. */
		if (cp != NULL && lineno == cp->seq && strcmp(prev, cp->hash) != 0) {
			snprintf(why, whylen, "line %lu is not the line the checkpoint %s@%lu "
			    "recorded: the log was rewritten at or before it", lineno,
			    cp->hash, cp->seq);
			*bad_linep = lineno;
			r = ERR_AUDIT_BROKEN;
			break;
		}
		(*seqp)++;
	}
	if (r == 0 && ferror(f))
		r = ERR_AUDIT_IO;
	if (r == 0 && cp != NULL && *seqp <= cp->seq) {
		snprintf(why, whylen, "the log has %lu lines but the checkpoint %s@%lu "
		    "recorded line %lu: lines were removed", *seqp - 1, cp->hash, cp->seq,
		    cp->seq);
		*bad_linep = *seqp;
		r = ERR_AUDIT_BROKEN;
	}
	free(line);
	return r;
}

int
signer_audit_verify_ex(const char *path, const uint8_t *key, size_t keylen,
    const struct signer_audit_head *checkpoint, char head[SIGNER_AUDIT_HASH_HEX],
    unsigned long *nlinesp, unsigned long *bad_linep, char *why, size_t whylen)
{
	struct audit_key k = { key, key != NULL ? keylen : 0 };
	FILE *f;
	unsigned long seq;
	int r;

	*nlinesp = *bad_linep = 0;
	if (whylen > 0)
		why[0] = '\0';
	if ((f = fopen(path, "re")) == NULL)
		return ERR_AUDIT_IO;
	r = audit_walk(f, &k, checkpoint, head, &seq, bad_linep, why, whylen);
	fclose(f);
	*nlinesp = seq - 1;
	return r;
}

int
signer_audit_verify(const char *path, char head[SIGNER_AUDIT_HASH_HEX],
    unsigned long *nlinesp, unsigned long *bad_linep, char *why, size_t whylen)
{
	return signer_audit_verify_ex(path, NULL, 0, NULL, head, nlinesp, bad_linep, why, whylen);
}

/*
 * Open the checkpoint file for appending and, when it is a regular file with
 * a head in it, fill *cpp (else leave it NULL).  Returns 0 or ERR_AUDIT_IO.
 */
static int
checkpoint_open(struct signer_audit *a, const char *path, struct signer_audit_head *cp,
    const struct signer_audit_head **cpp)
{
	struct stat st;

	*cpp = NULL;
	if ((a->cp_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    fstat(a->cp_fd, &st) != 0)
		return ERR_AUDIT_IO;
	a->cp_sync = S_ISREG(st.st_mode);
	/* A regular file with a head in its tail: the log must match it.
	 * (Whoever can remove every head from it could as well write one that
	 * matches a rewritten log: the file protects only if kept apart.) */
	if (a->cp_sync && st.st_size > 0 && signer_audit_checkpoint_last(path, cp) == 0)
		*cpp = cp;
	return 0;
}

/* Append "HASH@SEQ" of the line just written. */
static int
checkpoint_write(const struct signer_audit *a, unsigned long seq)
{
	char line[AUDIT_CHECKPOINT_LINE + 1];
	int n;

	if (a->cp_fd < 0)
		return 0;
	n = snprintf(line, sizeof(line), "%s@%lu\n", a->prev, seq);
	if (n <= 0 || (size_t)n >= sizeof(line) ||
	    write(a->cp_fd, line, (size_t)n) != (ssize_t)n ||
	    (a->cp_sync && fsync(a->cp_fd) != 0))
		return ERR_AUDIT_IO;
	return 0;
}

int
signer_audit_open_cfg(const struct signer_audit_config *cfg, struct signer_audit **outp)
{
	struct signer_audit *a = NULL;
	struct signer_audit_head cp;
	const struct signer_audit_head *cpp = NULL;
	struct audit_key k;
	unsigned long bad;
	char why[256];
	FILE *f = NULL;
	int fd = -1, r;

	*outp = NULL;
	if ((fd = open(cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return ERR_AUDIT_IO;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		r = ERR_NOMEM;
		goto out;
	}
	a->cp_fd = -1;
	if (cfg->key_path != NULL &&
	    (r = signer_audit_key_read(cfg->key_path, &a->key, &a->keylen)) != 0)
		goto out;
	if (cfg->checkpoint_path != NULL &&
	    (r = checkpoint_open(a, cfg->checkpoint_path, &cp, &cpp)) != 0)
		goto out;
	if ((f = fopen(cfg->path, "re")) == NULL) {
		r = ERR_AUDIT_IO;
		goto out;
	}
	k.p = a->key;
	k.len = a->keylen;
	if ((r = audit_walk(f, &k, cpp, a->prev, &a->seq, &bad, why, sizeof(why))) != 0)
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
	if (a != NULL) {
		if (a->cp_fd >= 0)
			close(a->cp_fd);
		signer_audit_key_free(a->key, a->keylen);
		free(a);
	}
	return r;
}

int
signer_audit_open(const char *path, struct signer_audit **outp)
{
	struct signer_audit_config cfg = { path, NULL, NULL };

	return signer_audit_open_cfg(&cfg, outp);
}

int
signer_audit_append(struct signer_audit *a, const json_t *event)
{
	char stamp[32], *line = NULL, *full = NULL;
	struct tm tm;
	time_t now = time(NULL);
	json_t *rec = NULL;
	struct audit_key k;
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
	k.p = a->key;
	k.len = a->keylen;
	hash_hex(&k, line, len, a->prev);
	a->seq++;
	/* The line is in the log; without its checkpoint the caller is told
	 * it failed, and releases nothing. */
	r = checkpoint_write(a, a->seq - 1);
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
	if (a->cp_fd >= 0)
		close(a->cp_fd);
	signer_audit_key_free(a->key, a->keylen);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
