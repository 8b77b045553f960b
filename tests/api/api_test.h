/*
 * What the api test files share: the group runners main() calls and helpers
 * to read sample documents from HEARTH_TEST_DATA (tests/data).
 */
#ifndef HEARTH_API_TEST_H
#define HEARTH_API_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testrun.h"

#include "api/api.h"

int values_tests_run(void);
int object_tests_run(void);
int codec_tests_run(void);
int yaml_tests_run(void);   /* tests/api/yaml_test.c */
int stream_tests_run(void); /* tests/api/stream_test.c */

/* The contents of tests/data/FILE (NUL-terminated); fails the test if unreadable. */
char *test_data_read(const char *file, size_t *ret_len);
/* The single object in tests/data/FILE, decoded (not defaulted). */
struct api_object *test_data_object(const char *file);
/* Parses text (named "t.json"/"t.yaml" by its first character), which must succeed. */
void test_parse_ok(const char *text, struct api_object ***ret_objs, size_t *ret_n);
/* Parses text, which must fail; checks the message contains each of the
 * NULL-terminated substrings. */
void test_parse_fails(const char *text, ...);
/* Fails unless haystack contains needle. */
void test_assert_contains(const char *haystack, const char *needle);
/* Replaces the string *p by a copy of v (NULL allowed). */
void test_set_str(char **p, const char *v);

#endif
