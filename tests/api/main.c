/*
 * The api test executable: the value grammars, objects (defaults, copies,
 * validation), the JSON codec and documents, and the YAML layer's own tests
 * (yaml_test.c). Also the helpers the test files share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_test.h"

char *test_data_read(const char *file, size_t *ret_len) {
    const char *dir = getenv("HEARTH_TEST_DATA");
    if (!dir)
        dir = "tests/data";
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    if (strbuf_read_file(&sb, path, 1 << 20, &err) < 0)
        fail_msg("cannot read %s: %s (set HEARTH_TEST_DATA)", path, err.msg);
    if (ret_len)
        *ret_len = sb.len;
    return strbuf_detach(&sb);
}

struct api_object *test_data_object(const char *file) {
    size_t len;
    char *text = test_data_read(file, &len);
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (api_docs_parse(text, len, file, &objs, &n, &err) < 0)
        fail_msg("parsing %s: %s", file, err.msg);
    free(text);
    assert_int_equal(n, 1);
    struct api_object *obj = objs[0];
    free(objs);
    return obj;
}

static const char *text_name(const char *text) {
    const char *p = text + strspn(text, " \t\r\n");
    return (*p == '{' || *p == '[') ? "t.json" : "t.yaml";
}

void test_parse_ok(const char *text, struct api_object ***ret_objs, size_t *ret_n) {
    struct error err;
    error_init(&err);
    if (api_docs_parse(text, strlen(text), text_name(text), ret_objs, ret_n, &err) < 0)
        fail_msg("parsing failed: %s\n%s", err.msg, text);
}

void test_assert_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

void test_parse_fails(const char *text, ...) {
    struct error err;
    error_init(&err);
    struct api_object **objs = (struct api_object **)&err; /* must stay untouched */
    size_t n = 12345;
    int r = api_docs_parse(text, strlen(text), text_name(text), &objs, &n, &err);
    if (r >= 0)
        fail_msg("parsing succeeded but should fail:\n%s", text);
    assert_int_equal(r, err.code);
    assert_ptr_equal(objs, (struct api_object **)&err);
    assert_int_equal(n, 12345);
    va_list ap;
    va_start(ap, text);
    for (const char *s; (s = va_arg(ap, const char *));)
        test_assert_contains(err.msg, s);
    va_end(ap);
}

void test_set_str(char **p, const char *v) {
    free(*p);
    *p = v ? strdup(v) : NULL;
    if (v)
        assert_non_null(*p);
}

int main(void) {
    int failed = 0;
    failed += values_tests_run();
    failed += object_tests_run();
    failed += codec_tests_run();
    failed += yaml_tests_run();
    failed += stream_tests_run();
    return test_exit_status(failed);
}
