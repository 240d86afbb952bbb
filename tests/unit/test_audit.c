/* Audit log (src/signer/audit): the chain, and verify naming the bad line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "core/err.h"
#include "signer/audit.h"
#include "tvec.h"

static char dir[] = "/tmp/p11s-audit-XXXXXX";
static char path[256];
static char cppath[256];	/* checkpoint file */
static char keypath[256];

/* Write a fresh log of n records. */
static void
make_log(int n)
{
	struct signer_audit *a;
	int i;

	unlink(path);
	assert_int_equal(signer_audit_open(path, &a), 0);
	for (i = 1; i <= n; i++) {
		json_t *e = json_pack("{s:s, s:i}", "method", "account_signTransaction", "n", i);
		assert_int_equal(signer_audit_append(a, e), 0);
		json_decref(e);
	}
	signer_audit_close(a);
}

static char **
read_lines(int *np)
{
	FILE *f = fopen(path, "r");
	char **lines = calloc(64, sizeof(*lines)), *l = NULL;
	size_t cap = 0;
	int n = 0;

	while (getline(&l, &cap, f) > 0 && n < 64) {
		lines[n++] = l;
		l = NULL;
		cap = 0;
	}
	free(l);
	fclose(f);
	*np = n;
	return lines;
}

static void
write_lines(char **lines, int n)
{
	FILE *f = fopen(path, "w");
	int i;

	for (i = 0; i < n; i++)
		fputs(lines[i], f);
	fclose(f);
}

static void
free_lines(char **lines, int n)
{
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void
expect_bad(unsigned long want_line)
{
	char head[SIGNER_AUDIT_HASH_HEX], why[256];
	unsigned long n, bad;
	struct signer_audit *a;

	assert_int_equal(signer_audit_verify(path, head, &n, &bad, why, sizeof(why)), ERR_AUDIT_BROKEN);
	if (bad != want_line)
		fail_msg("reported line %lu (%s), want %lu", bad, why, want_line);
	/* The daemon refuses to go on appending to a broken log. */
	assert_int_equal(signer_audit_open(path, &a), ERR_AUDIT_BROKEN);
}

static void
test_intact_and_reopened(void **state)
{
	char head[SIGNER_AUDIT_HASH_HEX], head2[SIGNER_AUDIT_HASH_HEX], why[256];
	unsigned long n, bad;
	struct signer_audit *a;
	struct stat st;
	json_t *e = json_pack("{s:s}", "method", "account_list");

	make_log(5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(signer_audit_verify(path, head, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, 5);
	/* A restart continues the chain. */
	assert_int_equal(signer_audit_open(path, &a), 0);
	assert_int_equal(signer_audit_append(a, e), 0);
	signer_audit_close(a);
	assert_int_equal(signer_audit_verify(path, head2, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, 6);
	assert_string_not_equal(head, head2);
	json_decref(e);
}

static void
test_edited_line(void **state)
{
	int n;
	char **l;

	make_log(6);
	l = read_lines(&n);
	char *p = strstr(l[2], "\"n\":3");
	assert_non_null(p);
	p[4] = '9';			/* line 3 now says n = 9 */
	write_lines(l, n);
	free_lines(l, n);
	expect_bad(3);
}

static void
test_removed_line(void **state)
{
	int n;
	char **l;

	make_log(6);
	l = read_lines(&n);
	free(l[3]);
	memmove(&l[3], &l[4], sizeof(*l) * 2);	/* line 4 gone */
	write_lines(l, n - 1);
	free_lines(l, n - 1);
	expect_bad(4);
}

static void
test_reordered_lines(void **state)
{
	int n;
	char **l, *t;

	make_log(6);
	l = read_lines(&n);
	t = l[1];
	l[1] = l[2];
	l[2] = t;
	write_lines(l, n);
	free_lines(l, n);
	expect_bad(2);
}

static void
test_first_line_replaced(void **state)
{
	int n;
	char **l;

	make_log(3);
	l = read_lines(&n);
	free(l[0]);
	l[0] = strdup("{\"seq\":1,\"time\":\"x\",\"prev\":\"00\",\"event\":{}}\n");
	write_lines(l, n);
	free_lines(l, n);
	expect_bad(1);
}

/*
 * What an attacker who can write the log does after editing it: renumber
 * seq and recompute every prev, as audit.h describes the chain (SHA-256 of
 * the previous line, of the genesis string for line 1), written here from
 * the format, not with the code under test.
 */
static void
rechain(char **lines, int n)
{
	static const char genesis[] = "p11signer audit log v1";
	uint8_t d[SHA256_DIGEST_SIZE];
	char prev[2 * SHA256_DIGEST_SIZE + 1];
	struct sha256_ctx c;
	int i, k;

	sha256_init(&c);
	sha256_update(&c, strlen(genesis), (const uint8_t *)genesis);
	sha256_digest(&c, sizeof(d), d);
	for (i = 0; i < n; i++) {
		json_t *j;
		char *out;

		for (k = 0; k < SHA256_DIGEST_SIZE; k++)
			sprintf(prev + 2 * k, "%02x", d[k]);
		j = json_loads(lines[i], 0, NULL);
		assert_non_null(j);
		json_object_set_new(j, "seq", json_integer(i + 1));
		json_object_set_new(j, "prev", json_string(prev));
		out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
		json_decref(j);
		sha256_init(&c);
		sha256_update(&c, strlen(out), (const uint8_t *)out);
		sha256_digest(&c, sizeof(d), d);
		free(lines[i]);
		if (asprintf(&lines[i], "%s\n", out) < 0)
			fail();
		free(out);
	}
}

/* A log of n records by caller "work", its heads in the checkpoint file. */
static void
make_log_checkpointed(int n, const char *key_path)
{
	struct signer_audit_config cfg = { path, cppath, key_path };
	struct signer_audit *a;
	int i;

	unlink(path);
	unlink(cppath);
	assert_int_equal(signer_audit_open_cfg(&cfg, &a), 0);
	for (i = 1; i <= n; i++) {
		json_t *e = json_pack("{s:s, s:s, s:i}", "method", "account_signTransaction",
		    "caller", "work", "n", i);
		assert_int_equal(signer_audit_append(a, e), 0);
		json_decref(e);
	}
	signer_audit_close(a);
}

/* Line seq of the checkpoint file, as a head. */
static void
checkpoint_at(int seq, struct signer_audit_head *h)
{
	FILE *f = fopen(cppath, "r");
	char line[128];
	int i;

	assert_non_null(f);
	for (i = 0; i < seq; i++)
		assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(signer_audit_head_parse(line, h), 0);
	assert_int_equal(h->seq, (unsigned long)seq);
}

static int
verify_against(const struct signer_audit_head *cp, unsigned long *badp)
{
	char head[SIGNER_AUDIT_HASH_HEX], why[512];
	unsigned long n;

	return signer_audit_verify_ex(path, NULL, 0, cp, head, &n, badp, why, sizeof(why));
}

/* Every append wrote its head; the last is what verify reports. */
static void
test_checkpoint_file(void **state)
{
	char head[SIGNER_AUDIT_HASH_HEX], why[256];
	struct signer_audit_head h;
	unsigned long n, bad;

	make_log_checkpointed(5, NULL);
	assert_int_equal(signer_audit_checkpoint_last(cppath, &h), 0);
	assert_int_equal(h.seq, 5);
	assert_int_equal(signer_audit_verify(path, head, &n, &bad, why, sizeof(why)), 0);
	assert_string_equal(h.hash, head);
	assert_int_equal(verify_against(&h, &bad), 0);
	/* Lines that are not heads (the file is also someone's log) are passed
	 * over; so is a torn last write. */
	{
		FILE *f = fopen(cppath, "a");

		assert_non_null(f);
		fputs("p11signer: IPC listening on /run/x\n0123abc", f);
		fclose(f);
	}
	memset(&h, 0, sizeof(h));
	assert_int_equal(signer_audit_checkpoint_last(cppath, &h), 0);
	assert_int_equal(h.seq, 5);
	assert_string_equal(h.hash, head);
}

/*
 * Six lines checkpointed at lines 4 and 6; edit() rewrites the lines (and
 * their count) and the chain is recomputed.  The chain alone says intact;
 * each checkpoint written before says broken, and the daemon will not open
 * the log.
 */
static void
rechained_edit_found(void (*edit)(char **l, int *nl))
{
	struct signer_audit_config cfg = { path, cppath, NULL };
	char head[SIGNER_AUDIT_HASH_HEX], why[256];
	struct signer_audit_head h4, last;
	struct signer_audit *a;
	unsigned long n, bad;
	char **l;
	int nl;

	make_log_checkpointed(6, NULL);
	checkpoint_at(4, &h4);
	assert_int_equal(signer_audit_checkpoint_last(cppath, &last), 0);
	l = read_lines(&nl);
	edit(l, &nl);
	rechain(l, nl);
	write_lines(l, nl);
	free_lines(l, nl);
	assert_int_equal(signer_audit_verify(path, head, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(verify_against(&h4, &bad), ERR_AUDIT_BROKEN);
	assert_int_equal(bad, 4);
	/* The last checkpoint names line 6: changed, or gone. */
	assert_int_equal(verify_against(&last, &bad), ERR_AUDIT_BROKEN);
	assert_int_equal(bad, 6);
	assert_int_equal(signer_audit_open_cfg(&cfg, &a), ERR_AUDIT_BROKEN);
}

static void
rewrite_caller(char **l, int *nl)
{
	char *p;

	assert_non_null(p = strstr(l[2], "\"caller\":\"work\""));
	memcpy(p + 10, "vlt1", 4);
}

static void
delete_line_3(char **l, int *nl)
{
	free(l[2]);
	memmove(&l[2], &l[3], sizeof(*l) * (size_t)(*nl - 3));
	(*nl)--;
}

/* Change the caller in line 3 and recompute the chain. */
static void
test_rewritten_caller(void **state)
{
	rechained_edit_found(rewrite_caller);
}

/* Delete line 3 and recompute the chain. */
static void
test_deleted_line_rechained(void **state)
{
	rechained_edit_found(delete_line_3);
}

/* A head written down earlier still verifies after honest appends, and the
 * daemon reopens a log that matches its checkpoint file. */
static void
test_honest_append_after_checkpoint(void **state)
{
	struct signer_audit_config cfg = { path, cppath, NULL };
	struct signer_audit_head h3;
	struct signer_audit *a;
	unsigned long bad;
	json_t *e = json_pack("{s:s}", "method", "account_list");

	make_log_checkpointed(3, NULL);
	checkpoint_at(3, &h3);
	assert_int_equal(signer_audit_open_cfg(&cfg, &a), 0);
	assert_int_equal(signer_audit_append(a, e), 0);
	assert_int_equal(signer_audit_append(a, e), 0);
	signer_audit_close(a);
	assert_int_equal(verify_against(&h3, &bad), 0);
	json_decref(e);
}

static void
write_key(mode_t mode, size_t len)
{
	int fd, i;
	uint8_t k[64];

	for (i = 0; i < (int)sizeof(k); i++)
		k[i] = (uint8_t)(i * 7 + 1);
	unlink(keypath);
	fd = open(keypath, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, k, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* A keyed chain verifies only with its key; a chain recomputed without the
 * key (all an attacker without it can do) does not. */
static void
test_keyed_chain(void **state)
{
	char head[SIGNER_AUDIT_HASH_HEX], why[512];
	struct signer_audit_config cfg = { path, NULL, keypath };
	struct signer_audit *a;
	unsigned long n, bad;
	uint8_t *key;
	size_t keylen;
	char **l, *p;
	int nl;

	write_key(0600, 32);
	make_log_checkpointed(4, keypath);
	assert_int_equal(signer_audit_key_read(keypath, &key, &keylen), 0);
	assert_int_equal(signer_audit_verify_ex(path, key, keylen, NULL, head, &n, &bad, why,
	    sizeof(why)), 0);
	assert_int_equal(n, 4);
	/* Without the key, line 1 does not start an unkeyed chain. */
	assert_int_equal(signer_audit_verify(path, head, &n, &bad, why, sizeof(why)), ERR_AUDIT_BROKEN);
	assert_int_equal(bad, 1);
	/* The daemon reopens it with the key, refuses it without. */
	assert_int_equal(signer_audit_open_cfg(&cfg, &a), 0);
	signer_audit_close(a);
	assert_int_equal(signer_audit_open(path, &a), ERR_AUDIT_BROKEN);
	l = read_lines(&nl);
	assert_non_null(p = strstr(l[1], "\"caller\":\"work\""));
	memcpy(p + 10, "vlt1", 4);
	rechain(l, nl);
	write_lines(l, nl);
	free_lines(l, nl);
	assert_int_equal(signer_audit_verify_ex(path, key, keylen, NULL, head, &n, &bad, why,
	    sizeof(why)), ERR_AUDIT_BROKEN);
	signer_audit_key_free(key, keylen);
	/* Key files others may read, or of the wrong size, are refused. */
	write_key(0644, 32);
	assert_int_equal(signer_audit_key_read(keypath, &key, &keylen), ERR_INVALID_ARGUMENT);
	write_key(0600, 8);
	assert_int_equal(signer_audit_key_read(keypath, &key, &keylen), ERR_TOO_LONG);
	assert_null(key);
	unlink(keypath);
}

static void
test_head_parse(void **state)
{
	static const char h64[] =
	    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
	struct signer_audit_head h;
	char s[128];

	snprintf(s, sizeof(s), "%s@12", h64);
	assert_int_equal(signer_audit_head_parse(s, &h), 0);
	assert_int_equal(h.seq, 12);
	assert_string_equal(h.hash,
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	snprintf(s, sizeof(s), "%s@0", h64);
	assert_int_not_equal(signer_audit_head_parse(s, &h), 0);
	snprintf(s, sizeof(s), "%s@", h64);
	assert_int_not_equal(signer_audit_head_parse(s, &h), 0);
	snprintf(s, sizeof(s), "%s@1x", h64);
	assert_int_not_equal(signer_audit_head_parse(s, &h), 0);
	snprintf(s, sizeof(s), "%.63s@1", h64);
	assert_int_not_equal(signer_audit_head_parse(s, &h), 0);
	snprintf(s, sizeof(s), "%.63sg@1", h64);
	assert_int_not_equal(signer_audit_head_parse(s, &h), 0);
	assert_int_not_equal(signer_audit_head_parse(h64, &h), 0);
	snprintf(s, sizeof(s), "%s@99999999999999999999", h64);
	assert_int_not_equal(signer_audit_head_parse(s, &h), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intact_and_reopened),
		cmocka_unit_test(test_edited_line),
		cmocka_unit_test(test_removed_line),
		cmocka_unit_test(test_reordered_lines),
		cmocka_unit_test(test_first_line_replaced),
		cmocka_unit_test(test_head_parse),
		cmocka_unit_test(test_checkpoint_file),
		cmocka_unit_test(test_rewritten_caller),
		cmocka_unit_test(test_deleted_line_rechained),
		cmocka_unit_test(test_honest_append_after_checkpoint),
		cmocka_unit_test(test_keyed_chain),
	};
	int failed;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(cppath, sizeof(cppath), "%s/audit.heads", dir);
	snprintf(keypath, sizeof(keypath), "%s/audit.key", dir);
	failed = cmocka_run_group_tests_name("audit", tests, NULL, NULL);
	unlink(path);
	unlink(cppath);
	rmdir(dir);
	return failed != 0;
}
