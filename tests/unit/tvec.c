#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eth/hex.h"
#include "tvec.h"

json_t *
tvec_load(const char *path)
{
	json_error_t e;
	json_t *j;

	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &e)) == NULL)
		fprintf(stderr, "tvec: cannot load vector file %s: %s (line %d)\n",
		    path, e.text, e.line);
	return j;
}

const char *
tvec_clef_dir(void)
{
	return "tests/vectors/clef-eip712";
}

int
tvec_run(const char *group, const json_t *cases, CMUnitTestFunction fn)
{
	struct CMUnitTest *tests;
	char **names;
	size_t i, n;
	int failed;

	if (!json_is_array(cases) || json_array_size(cases) == 0) {
		/* One failing line in the TAP output, so the runner counts it. */
		printf("1..1\nnot ok 1 - %s: no vector cases loaded\n", group);
		return 1;
	}
	n = json_array_size(cases);
	tests = calloc(n, sizeof(*tests));
	names = calloc(n, sizeof(*names));
	if (tests == NULL || names == NULL)
		abort();
	for (i = 0; i < n; i++) {
		json_t *c = json_array_get(cases, i);
		const char *nm = json_string_value(json_object_get(c, "name"));
		if (nm != NULL)
			names[i] = strdup(nm);
		else if (asprintf(&names[i], "%s[%zu]", group, i) < 0)
			names[i] = NULL;
		if (names[i] == NULL)
			abort();
		tests[i].name = names[i];
		tests[i].test_func = fn;
		tests[i].initial_state = c;
	}
	failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return failed;
}

int
tvec_run_file(const char *group, const char *path, CMUnitTestFunction fn)
{
	json_t *cases = tvec_load(path);
	int failed = tvec_run(group, cases, fn);

	json_decref(cases);
	return failed;
}

uint8_t *
tvec_hex(const char *s, size_t *lenp)
{
	uint8_t *p = NULL;

	assert_non_null(s);
	assert_int_equal(eth_hex_decode(s, strlen(s), 1 << 24, &p, lenp), 0);
	return p;
}

const char *
tvec_str(const json_t *c, const char *key)
{
	const char *s = json_string_value(json_object_get(c, key));

	if (s == NULL)
		fail_msg("vector case lacks string member \"%s\"", key);
	return s;
}
