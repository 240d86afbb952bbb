/* Audit log (src/signer/audit): the chain, and verify naming the bad line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eth/err.h"
#include "signer/audit.h"
#include "tvec.h"

static char dir[] = "/tmp/p11s-audit-XXXXXX";
static char path[256];

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intact_and_reopened),
		cmocka_unit_test(test_edited_line),
		cmocka_unit_test(test_removed_line),
		cmocka_unit_test(test_reordered_lines),
		cmocka_unit_test(test_first_line_replaced),
	};
	int failed;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	failed = cmocka_run_group_tests_name("audit", tests, NULL, NULL);
	unlink(path);
	rmdir(dir);
	return failed != 0;
}
