/*
 * tvec.h - table-driven cmocka tests over JSON vector files.
 *
 * tvec_run() turns each element of a JSON array into one cmocka test whose
 * name is the element's "name" member (or "group[i]"), with the element as
 * the test's state (borrowed: *state is a json_t *).  A missing or unreadable
 * vector file is a failed test, never a silent pass.
 */
#ifndef TVEC_H
#define TVEC_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

/* Load a JSON file; path relative to the repo root.  NULL (after printing why) on failure. */
json_t *tvec_load(const char *path);
/* Clef's vector folder, relative to the repository root (tests run from there). */
const char *tvec_clef_dir(void);

/* Run fn once per element of cases (a JSON array); returns the number of failures. */
int tvec_run(const char *group, const json_t *cases, CMUnitTestFunction fn);
/* tvec_load(path), then tvec_run(): a missing file is one failure. */
int tvec_run_file(const char *group, const char *path, CMUnitTestFunction fn);

/* Decode "0x.." hex (the test's own data: asserts on bad input); caller frees with free(). */
uint8_t *tvec_hex(const char *s, size_t *lenp);
/* Member of a case as a string; fails the test when absent. */
const char *tvec_str(const json_t *c, const char *key);

#endif
