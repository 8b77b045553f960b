/*
 * Tests for api_yaml_load and api_yaml_dump: scalar typing (YAML 1.2 core
 * schema), structures and streams, error messages with line and column, the
 * limits (depth, documents, alias expansion), dump output text, round trips of
 * strings that a careless emitter would change, and out-of-memory paths.
 *
 * yaml_tests_run() is called by the api test executable's main.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/api_test.h"

/* Loads text, which must succeed; returns the documents array. */
static json_t *load_ok(const char *text) {
    struct error err;
    error_init(&err);
    json_t *docs = NULL;
    int r = api_yaml_load(text, strlen(text), "t.yaml", &docs, &err);
    if (r < 0)
        fail_msg("loading %s failed: %s", text, err.msg);
    assert_non_null(docs);
    assert_true(json_is_array(docs));
    return docs;
}

/* Loads text, which must fail with code and exactly msg; *ret stays untouched. */
static void load_fails(const char *text, size_t len, int code, const char *msg) {
    struct error err;
    error_init(&err);
    json_t *sentinel = (json_t *)&err;
    json_t *docs = sentinel;
    int r = api_yaml_load(text, len, "t.yaml", &docs, &err);
    assert_int_equal(r, code);
    assert_int_equal(err.code, code);
    assert_ptr_equal(docs, sentinel);
    if (msg)
        assert_string_equal(err.msg, msg);
}

static void load_fails_str(const char *text, int code, const char *msg) {
    load_fails(text, strlen(text), code, msg);
}

/* The documents of text must equal the JSON expected. */
static void assert_loads_as(const char *text, const char *expected) {
    json_error_t jerr;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, &jerr);
    if (!want)
        fail_msg("bad expectation %s: %s", expected, jerr.text);
    json_t *docs = load_ok(text);
    if (!json_equal(docs, want)) {
        char *got = json_dumps(docs, JSON_ENCODE_ANY | JSON_COMPACT);
        print_error("yaml:\n%s\nexpected: %s\ngot:      %s\n", text, expected, got);
        free(got);
        fail();
    }
    json_decref(docs);
    json_decref(want);
}

static char *dump_str(const json_t *v) {
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(api_yaml_dump(v, &sb), 0);
    return strbuf_detach(&sb);
}

/* ---- load -------------------------------------------------------------- */

static void test_scalar_types(void **state) {
    (void)state;
    static const struct {
        const char *yaml, *json;
    } cases[] = {
        {"null", "null"},
        {"Null", "null"},
        {"NULL", "null"},
        {"~", "null"},
        {"", "null"},
        {"true", "true"},
        {"True", "true"},
        {"TRUE", "true"},
        {"false", "false"},
        {"False", "false"},
        {"FALSE", "false"},
        {"tRUE", "\"tRUE\""},
        {"yes", "\"yes\""}, /* YAML 1.1 booleans are strings in 1.2 */
        {"no", "\"no\""},
        {"on", "\"on\""},
        {"off", "\"off\""},
        {"0", "0"},
        {"-17", "-17"},
        {"+17", "17"},
        {"007", "7"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"0x1F", "31"},
        {"0xff", "255"},
        {"0o17", "15"},
        {"0x", "\"0x\""},
        {"0o8", "\"0o8\""},
        {"-0x1F", "\"-0x1F\""},
        {"0b101", "\"0b101\""},
        {"1_000", "\"1_000\""},
        {"1.5", "1.5"},
        {"-1.5", "-1.5"},
        {".5", "0.5"},
        {"1.", "1.0"},
        {"1e3", "1000.0"},
        {"1E-2", "0.01"},
        {"+2.5e+1", "25.0"},
        {"1e", "\"1e\""},
        {".", "\".\""},
        {"1.2.3", "\"1.2.3\""},
        {"12:30", "\"12:30\""},
        {"2001-12-14", "\"2001-12-14\""},
        {"abc", "\"abc\""},
        {"hello world", "\"hello world\""},
        {"'123'", "\"123\""},
        {"\"true\"", "\"true\""},
        {"'null'", "\"null\""},
        {"''", "\"\""},
        {"\"\"", "\"\""},
        {"\"1.5\"", "\"1.5\""},
        {"!!str 12", "\"12\""},
        {"!!str true", "\"true\""},
        {"! 12", "\"12\""},
        {"!!int \"12\"", "12"},
        {"!!float 1", "1.0"},
        {"!!float -12", "-12.0"},
        {"!!bool 'false'", "false"},
        {"!!null ''", "null"},
        {"|\n  12\n", "\"12\\n\""},
        {">-\n  a\n  b\n", "\"a b\""},
        {"\"\\u00e9\\t\"", "\"\\u00e9\\t\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char yaml[128], json[128];
        snprintf(yaml, sizeof(yaml), "v: %s\n", cases[i].yaml);
        snprintf(json, sizeof(json), "[{\"v\": %s}]", cases[i].json);
        assert_loads_as(yaml, json);
    }
}

static void test_nested(void **state) {
    (void)state;
    assert_loads_as("apiVersion: ignite.weave.works/v1alpha1\n"
                    "kind: VM\n"
                    "metadata:\n"
                    "  name: web\n"
                    "  labels: {app: web, tier: \"1\"}\n"
                    "spec:\n"
                    "  cpus: 2\n"
                    "  ports:\n"
                    "  - hostPort: 8080\n"
                    "    vmPort: 80\n"
                    "  - {hostPort: 2222, vmPort: 22}\n"
                    "  ssh: {}\n"
                    "  copyFiles: []\n"
                    "  matrix: [[1, 2], [3, [4, {x: null}]]]\n",
                    "[{\"apiVersion\": \"ignite.weave.works/v1alpha1\", \"kind\": \"VM\","
                    " \"metadata\": {\"name\": \"web\", \"labels\": {\"app\": \"web\", \"tier\": "
                    "\"1\"}},"
                    " \"spec\": {\"cpus\": 2, \"ports\": [{\"hostPort\": 8080, \"vmPort\": 80},"
                    " {\"hostPort\": 2222, \"vmPort\": 22}], \"ssh\": {}, \"copyFiles\": [],"
                    " \"matrix\": [[1, 2], [3, [4, {\"x\": null}]]]}}]");
    /* keys are taken as text, whatever they would resolve to */
    assert_loads_as("1: a\ntrue: b\n~: c\n", "[{\"1\": \"a\", \"true\": \"b\", \"~\": \"c\"}]");
    /* insertion order is kept */
    json_t *docs = load_ok("z: 1\na: 2\nm: 3\n");
    const char *order[] = {"z", "a", "m"};
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(json_array_get(docs, 0), key, v) assert_string_equal(key, order[i++]);
    assert_int_equal(i, 3);
    json_decref(docs);
}

static void test_streams(void **state) {
    (void)state;
    assert_loads_as("", "[]");
    assert_loads_as("# only a comment\n", "[]");
    assert_loads_as("---\n", "[null]");
    assert_loads_as("---\n---\n", "[null, null]");
    assert_loads_as("a: 1\n", "[{\"a\": 1}]");
    assert_loads_as("a: 1\n...\n", "[{\"a\": 1}]");
    assert_loads_as("a: 1\n---\nb: 2\n", "[{\"a\": 1}, {\"b\": 2}]");
    assert_loads_as("--- 5\n--- [x]\n...\n--- \"s\"\n", "[5, [\"x\"], \"s\"]");
    assert_loads_as("{\"json\": [1, 2.5, \"x\", null, false]}\n",
                    "[{\"json\": [1, 2.5, \"x\", null, false]}]");
    /* a NULL data pointer with length 0 is an empty stream */
    struct error err;
    json_t *docs = NULL;
    assert_int_equal(api_yaml_load(NULL, 0, NULL, &docs, &err), 0);
    assert_int_equal(json_array_size(docs), 0);
    json_decref(docs);
}

static void test_aliases(void **state) {
    (void)state;
    assert_loads_as("base: &b {cpus: 2, tags: [a, b]}\n"
                    "one: *b\n"
                    "two: [*b, &s str, *s]\n",
                    "[{\"base\": {\"cpus\": 2, \"tags\": [\"a\", \"b\"]},"
                    " \"one\": {\"cpus\": 2, \"tags\": [\"a\", \"b\"]},"
                    " \"two\": [{\"cpus\": 2, \"tags\": [\"a\", \"b\"]}, \"str\", \"str\"]}]");
    /* a later anchor of the same name wins */
    assert_loads_as("- &a 1\n- &a 2\n- *a\n", "[[1, 2, 2]]");
    /* an anchored key can be reused as a value */
    assert_loads_as("&k key: *k\n", "[{\"key\": \"key\"}]");
    /* copies are independent nodes */
    json_t *docs = load_ok("a: &x [1]\nb: *x\n");
    json_t *doc = json_array_get(docs, 0);
    assert_ptr_not_equal(json_object_get(doc, "a"), json_object_get(doc, "b"));
    json_decref(docs);

    load_fails_str("a: *nope\n", -EINVAL, "t.yaml:1:4: unknown alias \"*nope\"");
    /* anchors do not cross documents */
    load_fails_str("a: &x 1\n---\nb: *x\n", -EINVAL, "t.yaml:3:4: unknown alias \"*x\"");
    /* a node cannot contain an alias to itself */
    load_fails_str("a: &x [*x]\n", -EINVAL, "t.yaml:1:8: unknown alias \"*x\"");
    load_fails_str("- &x k\n- {*x : 1}\n", -EINVAL,
                   "t.yaml:2:4: an alias (\"*x\") cannot be a mapping key");
}

static void test_duplicate_key(void **state) {
    (void)state;
    load_fails_str("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n", -EINVAL,
                   "t.yaml:5:3: duplicate key \"c\"");
    load_fails_str("{x: 1, \"x\": 2}\n", -EINVAL, "t.yaml:1:8: duplicate key \"x\"");
    /* the same key in different mappings is fine */
    assert_loads_as("a: {k: 1}\nb: {k: 2}\n", "[{\"a\": {\"k\": 1}, \"b\": {\"k\": 2}}]");
}

static void test_syntax_errors(void **state) {
    (void)state;
    load_fails_str("kind: VM\nspec:\n  cpus: 2: 3\n", -EINVAL,
                   "t.yaml:3:10: mapping values are not allowed in this context");
    load_fails_str("a: 1\nb: \"open\n", -EINVAL,
                   "t.yaml:3:1: found unexpected end of stream (while scanning a quoted scalar "
                   "at line 2)");
    load_fails_str("k:\n  - 1\n  x: 2\n", -EINVAL,
                   "t.yaml:3:3: did not find expected '-' indicator (while parsing a block "
                   "collection at line 2)");
    load_fails_str("a: [1, 2\n", -EINVAL, NULL);
    load_fails_str("a: 1\n\tb: 2\n", -EINVAL, NULL);
    /* invalid UTF-8 is reported with its byte offset */
    load_fails_str("a: \xc3(\n", -EINVAL, "t.yaml: invalid trailing UTF-8 octet at byte 4");
    /* the name defaults when none is given */
    struct error err;
    json_t *docs = NULL;
    assert_int_equal(api_yaml_load("a: b: c", 7, NULL, &docs, &err), -EINVAL);
    assert_string_equal(err.msg, "<input>:1:5: mapping values are not allowed in this context");
}

static void test_value_errors(void **state) {
    (void)state;
    load_fails_str("a: 9223372036854775808\n", -EINVAL,
                   "t.yaml:1:4: integer \"9223372036854775808\" is out of range (64-bit "
                   "signed); quote it to keep it as a string");
    load_fails_str("a: 0x8000000000000000\n", -EINVAL, NULL);
    assert_loads_as("a: '9223372036854775808'\n", "[{\"a\": \"9223372036854775808\"}]");
    load_fails_str("a: 1e999\n", -EINVAL, "t.yaml:1:4: number \"1e999\" is out of range");
    load_fails_str("x: -.inf\n", -EINVAL,
                   "t.yaml:1:4: \"-.inf\" cannot be represented (JSON has no infinity or NaN)");
    load_fails_str("x: .NaN\n", -EINVAL, NULL);
    load_fails_str("a: !!int abc\n", -EINVAL, "t.yaml:1:4: \"abc\" is not a valid !!int");
    load_fails_str("a: !!float 0x1F\n", -EINVAL, "t.yaml:1:4: \"0x1F\" is not a valid !!float");
    load_fails_str("a: !!bool yes\n", -EINVAL, "t.yaml:1:4: \"yes\" is not a valid !!bool");
    load_fails_str("a: !custom x\n", -EINVAL, "t.yaml:1:4: unsupported tag \"!custom\"");
    load_fails_str("a: !!set {x}\n", -EINVAL,
                   "t.yaml:1:4: unsupported tag \"tag:yaml.org,2002:set\"");
    load_fails_str("? [a]\n: b\n", -EINVAL, "t.yaml:1:3: mapping keys must be scalars");
    load_fails_str("{a: 1}: 2\n", -EINVAL, "t.yaml:1:1: mapping keys must be scalars");
    load_fails_str("\"a\\0b\": 1\n", -EINVAL, "t.yaml:1:1: mapping key contains a NUL character");
    /* a NUL inside a string value is kept */
    json_t *docs = load_ok("a: \"x\\0y\"\n");
    json_t *s = json_object_get(json_array_get(docs, 0), "a");
    assert_int_equal(json_string_length(s), 3);
    assert_memory_equal(json_string_value(s), "x\0y", 3);
    json_decref(docs);
}

/* "[[[...1...]]]" with n brackets. */
static char *nested_flow(size_t n) {
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(strbuf_addc(&sb, '['), 0);
    assert_int_equal(strbuf_addc(&sb, '1'), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(strbuf_addc(&sb, ']'), 0);
    return strbuf_detach(&sb);
}

static void test_depth_limit(void **state) {
    (void)state;
    char *ok = nested_flow(API_DEPTH_MAX);
    json_t *docs = load_ok(ok);
    json_t *v = json_array_get(docs, 0);
    for (int i = 0; i < API_DEPTH_MAX; i++)
        v = json_array_get(v, 0);
    assert_int_equal(json_integer_value(v), 1);
    json_decref(docs);
    free(ok);

    char *deep = nested_flow(API_DEPTH_MAX + 1);
    load_fails_str(deep, -EINVAL, "t.yaml:1:33: nesting deeper than 32 levels");
    free(deep);

    /* block style: a mapping inside 32 levels of mappings */
    struct strbuf sb = STRBUF_INIT;
    for (int i = 0; i <= API_DEPTH_MAX; i++)
        assert_int_equal(strbuf_addf(&sb, "%*sk%d:\n", i, "", i), 0);
    assert_int_equal(strbuf_addf(&sb, "%*sleaf: 1\n", API_DEPTH_MAX + 1, ""), 0);
    load_fails(sb.buf, sb.len, -EINVAL, "t.yaml:33:33: nesting deeper than 32 levels");
    strbuf_release(&sb);

    /* an alias cannot smuggle depth in */
    char *half = nested_flow(20);
    char *doc = xasprintf("a: &x %s\nb: [[[[[[[[[[[[*x]]]]]]]]]]]]\n", half);
    assert_non_null(doc);
    load_fails_str(doc, -EINVAL, "t.yaml:2:16: alias \"*x\" nests deeper than 32 levels");
    free(doc);
    free(half);
}

static void test_billion_laughs(void **state) {
    (void)state;
    static const char lol[] =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct error err;
    json_t *docs = NULL;
    assert_int_equal(api_yaml_load(lol, strlen(lol), "lol.yaml", &docs, &err), -EINVAL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(docs);
    assert_non_null(strstr(err.msg, "lol.yaml:7:"));
    assert_non_null(strstr(err.msg, "aliases expand to more than 1000000 nodes or 64 MiB"));
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 10.0); /* bounded work even under sanitizers */

    /* few nodes but many bytes: a 1 MiB string copied 100 times */
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_adds(&sb, "s: &s "), 0);
    for (int i = 0; i < (1 << 20); i++)
        assert_int_equal(strbuf_addc(&sb, 'x'), 0);
    assert_int_equal(strbuf_adds(&sb, "\nl: ["), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(strbuf_adds(&sb, "*s, "), 0);
    assert_int_equal(strbuf_adds(&sb, "]\n"), 0);
    load_fails(sb.buf, sb.len, -EINVAL, NULL);
    strbuf_release(&sb);

    /* a few expansions are fine */
    char *some = xasprintf("%.*s", (int)(strchr(strstr(lol, "d: "), '\n') - lol + 1), lol);
    assert_non_null(some);
    docs = load_ok(some);
    json_t *d = json_object_get(json_array_get(docs, 0), "d");
    assert_int_equal(json_array_size(json_array_get(json_array_get(d, 8), 8)), 9);
    json_decref(docs);
    free(some);
}

static void test_input_limits(void **state) {
    (void)state;
    /* The length is checked before anything is read, so a short buffer will do. */
    static const char small[] = "a: 1\n";
    load_fails(small, (size_t)API_INPUT_MAX + 1, -EFBIG, "t.yaml: input is larger than 256 MiB");

    struct strbuf sb = STRBUF_INIT;
    for (int i = 0; i < API_DOCS_MAX; i++)
        assert_int_equal(strbuf_adds(&sb, "--- 1\n"), 0);
    json_t *docs = load_ok(sb.buf);
    assert_int_equal(json_array_size(docs), API_DOCS_MAX);
    json_decref(docs);
    assert_int_equal(strbuf_adds(&sb, "--- 1\n"), 0);
    load_fails(sb.buf, sb.len, -EINVAL, "t.yaml:100001:1: more than 100000 documents");
    strbuf_release(&sb);
}

/* ---- dump -------------------------------------------------------------- */

static void test_dump_text(void **state) {
    (void)state;
    json_t *doc = json_pack(
        "{s:s, s:s, s:{s:s, s:n, s:{s:s}}, s:{s:i, s:f, s:b, s:[{s:i, s:i}, {s:i, s:i}], s:{}, "
        "s:[], s:[s, s], s:s}}",
        "apiVersion", "ignite.weave.works/v1alpha1", "kind", "VM", "metadata", "name", "web",
        "created", "labels", "true", "yes", "spec", "cpus", 2, "ratio", 0.5, "ssh", 1, "ports",
        "hostPort", 8080, "vmPort", 80, "hostPort", 2222, "vmPort", 22, "network", "copyFiles",
        "tags", "123", "a b", "cmdline", "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp");
    assert_non_null(doc);
    char *text = dump_str(doc);
    assert_string_equal(text, "apiVersion: ignite.weave.works/v1alpha1\n"
                              "kind: VM\n"
                              "metadata:\n"
                              "  name: web\n"
                              "  created: null\n"
                              "  labels:\n"
                              "    'true': 'yes'\n"
                              "spec:\n"
                              "  cpus: 2\n"
                              "  ratio: 0.5\n"
                              "  ssh: true\n"
                              "  ports:\n"
                              "  - hostPort: 8080\n"
                              "    vmPort: 80\n"
                              "  - hostPort: 2222\n"
                              "    vmPort: 22\n"
                              "  network: {}\n"
                              "  copyFiles: []\n"
                              "  tags:\n"
                              "  - '123'\n"
                              "  - a b\n"
                              "  cmdline: console=ttyS0 reboot=k panic=1 pci=off ip=dhcp\n");
    /* and it reads back as the same tree */
    json_t *docs = load_ok(text);
    assert_true(json_equal(json_array_get(docs, 0), doc));
    json_decref(docs);
    free(text);
    json_decref(doc);
}

static void test_dump_roots(void **state) {
    (void)state;
    static const struct {
        const char *json, *yaml;
    } cases[] = {
        {"\"hello\"", "hello\n"}, {"42", "42\n"},
        {"-1.25", "-1.25\n"},     {"3.0", "3.0\n"},
        {"1e300", "1e+300\n"},    {"null", "null\n"},
        {"false", "false\n"},     {"{}", "{}\n"},
        {"[]", "[]\n"},           {"[1, [2, 3]]", "- 1\n- - 2\n  - 3\n"},
        {"\"\"", "''\n"},         {"\"a\\nb\"", "|-\n  a\n  b\n"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        char *text = dump_str(v);
        assert_string_equal(text, cases[i].yaml);
        free(text);
        json_decref(v);
    }
    /* a kept trailing newline: libyaml marks the document open-ended with
     * "...", which is dropped; the next document's "---" ends the block */
    json_t *m = json_pack("{s:s}", "a", "x\n\n");
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(api_yaml_dump(m, &sb), 0);
    assert_string_equal(sb.buf, "a: |+\n  x\n\n");
    assert_int_equal(strbuf_adds(&sb, "---\nb: 1\n"), 0);
    json_t *docs = load_ok(sb.buf);
    assert_int_equal(json_array_size(docs), 2);
    assert_true(json_equal(json_array_get(docs, 0), m));
    json_decref(docs);
    strbuf_release(&sb);
    json_decref(m);

    /* long lines are never folded */
    struct strbuf line = STRBUF_INIT;
    for (int i = 0; i < 40; i++)
        assert_int_equal(strbuf_adds(&line, "word "), 0);
    assert_int_equal(strbuf_adds(&line, "end"), 0);
    json_t *l = json_pack("{s:s}", "cmdline", line.buf);
    char *folded = dump_str(l);
    char *want = xasprintf("cmdline: %s\n", line.buf);
    assert_string_equal(folded, want);
    free(want);
    free(folded);
    json_decref(l);
    strbuf_release(&line);

    /* a multi-line string at the root: a literal block, no "..." after it */
    json_t *v = json_string("a\nb\n");
    char *text = dump_str(v);
    assert_string_equal(text, "|\n  a\n  b\n");
    free(text);
    json_decref(v);
}

static void test_dump_appends(void **state) {
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_adds(&sb, "a: 1\n---\n"), 0);
    json_t *v = json_pack("{s:i}", "b", 2);
    assert_int_equal(api_yaml_dump(v, &sb), 0);
    assert_string_equal(sb.buf, "a: 1\n---\nb: 2\n");
    json_decref(v);
    strbuf_release(&sb);
    assert_int_equal(api_yaml_dump(NULL, &sb), -EINVAL);
}

static void test_dump_yaml11_words_quoted(void **state) {
    (void)state;
    static const char *const words[] = {"yes",  "no",       "on",         "off", "Yes",  "NO",
                                        "On",   "OFF",      "y",          "n",   "Y",    "N",
                                        "true", "False",    "null",       "~",   "0755", "1_000",
                                        "0b11", "12:30:00", "2001-12-14", "<<",  ".inf", "-.5"};
    for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
        json_t *v = json_pack("{s:s}", "k", words[i]);
        char *text = dump_str(v);
        char *want = xasprintf("k: '%s'\n", words[i]);
        assert_string_equal(text, want);
        free(want);
        free(text);
        json_decref(v);
    }
    /* ordinary words and values kubectl leaves plain stay plain */
    static const char *const plain[] = {"web",   "yesterday",     "4GB",   "10.0.0.1",
                                        "1.2.3", "docker-bridge", "ttyS0", "ab12"};
    for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
        json_t *v = json_pack("{s:s}", "k", plain[i]);
        char *text = dump_str(v);
        char *want = xasprintf("k: %s\n", plain[i]);
        assert_string_equal(text, want);
        free(want);
        free(text);
        json_decref(v);
    }
}

static void test_roundtrip_strings(void **state) {
    (void)state;
    static const char *const strs[] = {
        "yes",
        "no",
        "on",
        "off",
        "true",
        "null",
        "~",
        "0x1F",
        "0o17",
        "1e3",
        "123",
        "-1",
        "1.5",
        ".5",
        "",
        " ",
        " a",
        "a ",
        "a: b",
        "a:b",
        "a:",
        ":",
        "#x",
        "a #b",
        "a# b",
        "- a",
        "-",
        "?",
        "? a",
        "[",
        "]",
        "{a}",
        "*a",
        "&a",
        "!a",
        "|",
        ">",
        "%x",
        "@x",
        "`x",
        "'",
        "\"",
        "'quoted'",
        "\"dq\"",
        "multi\nline",
        "trailing\n",
        "\nleading",
        "x\n\n",
        "\n",
        "  indented\nblock",
        "tab\there",
        "crlf\r\n",
        "back\\slash",
        "---",
        "...",
        "--- x",
        "... x",
        "héllo wörld",
        "日本語",
        "emoji 😀",
        "\xc2\x85nel",
        "bell\a",
        "2001-12-14",
        "12:30",
        "1_000",
        ".inf",
        ".nan",
        "=",
        "<<",
        "long "
        "line long line long line long line long line long line long line long line long "
        "line long line long line long line",
    };
    json_t *arr = json_array();
    json_t *obj = json_object();
    assert_non_null(arr);
    assert_non_null(obj);
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
        json_t *s = json_string(strs[i]);
        if (!s)
            fail_msg("not valid UTF-8: case %zu", i);
        /* each string as a value, a key, and alone at the root */
        assert_int_equal(json_array_append(arr, s), 0);
        assert_int_equal(json_object_set(obj, strs[i], s), 0);
        char *text = dump_str(s);
        json_t *back = load_ok(text);
        if (!json_equal(json_array_get(back, 0), s))
            fail_msg("root string %zu did not round-trip; dumped as:\n%s", i, text);
        json_decref(back);
        free(text);
        json_decref(s);
    }
    json_t *nul = json_stringn("a\0b", 3);
    assert_int_equal(json_array_append_new(arr, nul), 0);
    json_t *doc = json_pack("{s:o, s:o, s:[{s:o}]}", "arr", arr, "obj", obj, "deep", "x",
                            json_deep_copy(obj));
    assert_non_null(doc);
    char *text = dump_str(doc);
    json_t *back = load_ok(text);
    assert_int_equal(json_array_size(back), 1);
    if (!json_equal(json_array_get(back, 0), doc))
        fail_msg("document did not round-trip; dumped as:\n%s", text);
    json_decref(back);
    free(text);
    json_decref(doc);
}

static void test_roundtrip_numbers(void **state) {
    (void)state;
    json_t *doc =
        json_pack("[I, I, I, f, f, f, f, f, f, f]", (json_int_t)INT64_MAX, (json_int_t)INT64_MIN,
                  (json_int_t)0, 0.1, -0.0, 1e-300, 1e300, 123456789.125, 2.0, 1.0 / 3.0);
    assert_non_null(doc);
    char *text = dump_str(doc);
    json_t *back = load_ok(text);
    assert_true(json_equal(json_array_get(back, 0), doc));
    /* reals stay reals, integers stay integers */
    assert_true(json_is_real(json_array_get(json_array_get(back, 0), 8)));
    assert_true(json_is_integer(json_array_get(json_array_get(back, 0), 2)));
    json_decref(back);
    free(text);
    json_decref(doc);
}

/* ---- out of memory ----------------------------------------------------- */

/* jansson allocates through util's wrappers here, so the fault counter reaches it. */
static void *oom_malloc(size_t n) {
    return xmalloc(n);
}

static void test_oom(void **state) {
    (void)state;
    static const char text[] = "a: &x {k: [1, 2.5, true, null, \"s\"]}\n"
                               "b: *x\n"
                               "c: {d: [e, f]}\n"
                               "---\n"
                               "- x\n"
                               "---\n";
    json_t *want = load_ok(text);
    json_set_alloc_funcs(oom_malloc, free);
    bool loaded = false, dumped = false;
    int load_ooms = 0, dump_ooms = 0;
    for (long n = 1; n < 10000 && !(loaded && dumped); n++) {
        struct error err;
        json_t *docs = NULL;
        util_alloc_fail_after(n);
        int r = api_yaml_load(text, strlen(text), "t.yaml", &docs, &err);
        util_alloc_fail_after(0);
        if (r == 0) {
            loaded = true;
            assert_true(json_equal(docs, want));
            json_decref(docs);
        } else {
            assert_int_equal(r, -ENOMEM);
            assert_string_equal(err.msg, "t.yaml: out of memory");
            load_ooms++;
            assert_null(docs);
        }

        struct strbuf sb = STRBUF_INIT;
        assert_int_equal(strbuf_adds(&sb, "keep\n"), 0);
        util_alloc_fail_after(n);
        r = api_yaml_dump(json_array_get(want, 0), &sb);
        util_alloc_fail_after(0);
        if (r == 0)
            dumped = true;
        else {
            assert_int_equal(r, -ENOMEM);
            assert_string_equal(sb.buf, "keep\n");
            dump_ooms++;
        }
        strbuf_release(&sb);
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(loaded);
    assert_true(dumped);
    /* every allocation the code makes was made to fail once */
    assert_true(load_ooms > 10);
    assert_true(dump_ooms > 0);
    json_decref(want);
}

int yaml_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_input_limits),
        cmocka_unit_test(test_dump_text),
        cmocka_unit_test(test_dump_roots),
        cmocka_unit_test(test_dump_appends),
        cmocka_unit_test(test_dump_yaml11_words_quoted),
        cmocka_unit_test(test_roundtrip_strings),
        cmocka_unit_test(test_roundtrip_numbers),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
