/*
 * -t/--template: the subset of Go's text/template over a JSON document, as
 * `inspect -o json` prints an object: paths, json, literal text with the
 * \t \n \\ escapes, trim markers, missing fields, and the errors that name a
 * position. Every allocation of parsing made to fail in turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_test.h"

static const char doc_text[] =
    "{\"kind\": \"VM\", \"metadata\": {\"name\": \"web-1\", \"labels\": {\"app\": \"web\"}},"
    " \"spec\": {\"cpus\": 2, \"memory\": \"1GB\", \"ports\": [{\"hostPort\": 8080}],"
    " \"ratio\": 1.5, \"on\": true, \"none\": null, \"quote\": \"a \\\"b\\\"\"}}";

/* The template's output for the document, or the error message when it fails. */
static char *run(const char *src, int *ret_code) {
    json_error_t jerr;
    json_t *doc = json_loads(doc_text, 0, &jerr);
    assert_non_null(doc);
    struct error err;
    error_init(&err);
    struct cli_template *t = NULL;
    struct strbuf out = STRBUF_INIT;
    int r = cli_template_parse(src, &t, &err);
    if (r == 0)
        r = cli_template_exec(t, doc, &out, &err);
    cli_template_free(t);
    json_decref(doc);
    *ret_code = r;
    char *s = strdup(r == 0 ? (out.buf ? out.buf : "") : err.msg);
    strbuf_release(&out);
    assert_non_null(s);
    return s;
}

static void expect_out(const char *src, const char *want) {
    int r;
    char *got = run(src, &r);
    if (r != 0 || strcmp(got, want) != 0)
        fail_msg("template %s: got '%s' (%d), want '%s'", src, got, r, want);
    free(got);
}

static void expect_error(const char *src, const char *want) {
    int r;
    char *got = run(src, &r);
    if (r != -EINVAL || !strstr(got, want))
        fail_msg("template %s: got '%s' (%d), want an error with '%s'", src, got, r, want);
    free(got);
}

static void test_paths(void **state) {
    (void)state;
    expect_out("{{.metadata.name}}", "web-1");
    expect_out("{{ .metadata.name }}", "web-1");
    expect_out("name={{.metadata.name}} kind={{.kind}}!", "name=web-1 kind=VM!");
    expect_out("{{.spec.cpus}}", "2"); /* a number as JSON writes it */
    expect_out("{{.spec.ratio}}", "1.5");
    expect_out("{{.spec.on}}", "true");
    expect_out("{{.spec.none}}", "<nil>");                   /* null, as Go prints nil */
    expect_out("{{.spec.quote}}", "a \"b\"");                /* a string as it is */
    expect_out("{{.metadata.labels}}", "{\"app\":\"web\"}"); /* an object: compact JSON */
    expect_out("{{.spec.ports}}", "[{\"hostPort\":8080}]");  /* a list too */
    expect_out("{{.spec.nope}}", "<no value>");              /* missing, as Go's maps */
    expect_out("{{.status.state}}", "<no value>");           /* missing on the way */
    expect_out("{{.spec.none.x}}", "<no value>");            /* through a null */
    expect_out("{{.}}", "{\"kind\":\"VM\",\"metadata\":{\"name\":\"web-1\",\"labels\":{\"app\":"
                        "\"web\"}},\"spec\":{\"cpus\":2,\"memory\":\"1GB\",\"ports\":[{\"hostPort"
                        "\":8080}],\"ratio\":1.5,\"on\":true,\"none\":null,\"quote\":\"a "
                        "\\\"b\\\"\"}}");
    expect_out("", "");
    expect_out("plain text", "plain text");
    expect_out("}} alone", "}} alone");
}

static void test_json(void **state) {
    (void)state;
    expect_out("{{json .metadata.name}}", "\"web-1\"");
    expect_out("{{json .spec.cpus}}", "2");
    expect_out("{{json .metadata.labels}}", "{\"app\":\"web\"}");
    expect_out("{{json .spec.nope}}", "null");
    expect_out("{{ json   .spec.memory }}", "\"1GB\"");
}

static void test_escapes_and_trim(void **state) {
    (void)state;
    /* As typed on a command line: backslash-t, backslash-n, two backslashes. */
    expect_out("{{.kind}}\\t{{.metadata.name}}\\n", "VM\tweb-1\n");
    expect_out("a\\\\b \\x \\", "a\\b \\x \\");
    expect_out("a  \n {{- .kind -}} \t b", "aVMb");
    expect_out("a {{- .kind}} b", "aVM b");
    expect_out("a {{.kind -}} b", "a VMb");
    expect_out("{{.kind}} {{- .kind}}", "VMVM");
}

static void test_errors(void **state) {
    (void)state;
    expect_error("ab{{.kind", "template: position 3: an action without its closing }}");
    expect_error("{{}}", "template: position 1: an empty action");
    expect_error("x {{index .a 0}}", "template: position 5: unknown function 'index'");
    expect_error("{{if .a}}", "template: position 3: unknown function 'if'");
    expect_error("{{.a | json}}", "template: position 6: one field path per action");
    expect_error("{{json}}", "template: position 7: json needs a field path");
    expect_error("{{$x}}", "template: position 3: unexpected '$'");
    expect_error("{{\"s\"}}", "template: position 3: unexpected '\"'");
    expect_error("{{.a-b}}", "template: position 5: unexpected '-' in the field path");
    expect_error("{{.a..b}}", "template: position 5: unexpected '.' in the field path");
    expect_error("{{/* c */}}", "template: position 3: unexpected '/'");
    /* At run time: a field of something that has none. */
    expect_error("ok {{.metadata.name.first}}",
                 "template: position 4: .metadata.name.first: 'name' is a string, which has no "
                 "field 'first'");
    expect_error("{{.spec.ports.x}}", "'ports' is a list, which has no field 'x'");
    expect_error("{{.spec.cpus.x}}", "'cpus' is a number");
    /* Limits. */
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_error(big, "template: longer than 4096 bytes");
    char deep[200];
    size_t len = (size_t)snprintf(deep, sizeof(deep), "{{");
    for (int i = 0; i < 33; i++)
        len += (size_t)snprintf(deep + len, sizeof(deep) - len, ".a");
    snprintf(deep + len, sizeof(deep) - len, "}}");
    expect_error(deep, "a path of more than 32 fields");
}

/* Parsing with each allocation failing in turn: -ENOMEM and nothing leaked, then success. */
static void test_parse_oom(void **state) {
    (void)state;
    const char *src = "a\\t{{- .metadata.name -}} b {{json .spec.ports}} c";
    for (long n = 1;; n++) {
        struct error err;
        error_init(&err);
        struct cli_template *t = NULL;
        util_alloc_fail_after(n);
        int r = cli_template_parse(src, &t, &err);
        util_alloc_fail_after(0);
        if (r == 0) {
            assert_true(n > 5);
            cli_template_free(t);
            break;
        }
        assert_int_equal(r, -ENOMEM);
        assert_null(t);
        assert_true(n < 1000);
    }
}

const struct CMUnitTest cli_template_tests[] = {
    cmocka_unit_test(test_paths),
    cmocka_unit_test(test_json),
    cmocka_unit_test(test_escapes_and_trim),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_parse_oom),
};
const size_t cli_template_tests_n = ARRAY_SIZE(cli_template_tests);
