/*
 * Tests of the document reader over a file descriptor (api_doc_reader):
 * objects come out one at a time while the rest of the input is not written
 * yet (YAML documents, a JSON array, a JSON List, a YAML List), the reader
 * never asking for bytes past the document it returns; a file read through
 * it gives the objects api_docs_parse gives for the same bytes; a List's own
 * fields are checked also when they come after its items; JSON syntax
 * errors name the file's line, as jansson does for the whole text.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "api/api_test.h"

#define GV "apiVersion: ignite.weave.works/v1alpha1"
#define JV "\"apiVersion\":\"ignite.weave.works/v1alpha1\""
#define YAML_VM(n) "kind: VM\n" GV "\nmetadata:\n  name: " n "\nspec:\n  cpus: 2\n"
#define JSON_VM(n) "{\"kind\":\"VM\"," JV ",\"metadata\":{\"name\":\"" n "\"}}"
#define FLOW_VM(n) "{kind: VM, " GV ", metadata: {name: " n "}}"

static void write_all(int fd, const char *s) {
    size_t len = strlen(s);
    assert_int_equal(write(fd, s, len), (ssize_t)len);
}

/* A pipe whose read end does not block: reading past what was written
 * fails with EAGAIN instead of waiting for the rest of the input. */
static void nonblocking_pipe(int p[2]) {
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
}

static void next_named(api_doc_reader *r, const char *name, size_t doc) {
    struct error err;
    error_init(&err);
    struct api_object *obj = NULL;
    if (api_doc_reader_next(r, &obj, &err) < 0)
        fail_msg("expected '%s': %s", name, err.msg);
    assert_non_null(obj);
    assert_string_equal(obj->meta.name, name);
    assert_int_equal(api_doc_reader_document(r), doc);
    api_object_free(obj);
}

static void next_end(api_doc_reader *r) {
    struct error err;
    error_init(&err);
    struct api_object *obj = (struct api_object *)&err;
    if (api_doc_reader_next(r, &obj, &err) < 0)
        fail_msg("expected the end: %s", err.msg);
    assert_null(obj);
}

/* Writes first, reads a and b, then writes rest and closes, reads c and the end. */
static void incremental(const char *first, const char *rest, size_t doc_b, size_t doc_c) {
    int p[2];
    nonblocking_pipe(p);
    write_all(p[1], first);
    struct error err;
    error_init(&err);
    api_doc_reader *r = NULL;
    assert_int_equal(api_doc_reader_new(p[0], "pipe", &r, &err), 0);
    next_named(r, "a", 1);
    next_named(r, "b", doc_b);
    write_all(p[1], rest);
    close(p[1]);
    next_named(r, "c", doc_c);
    next_end(r);
    api_doc_reader_free(r);
    close(p[0]);
}

static void test_reads_incrementally(void **state) {
    (void)state;
    /* YAML: a document ends where the next one starts. */
    incremental(YAML_VM("a") "---\n" YAML_VM("b") "---\n", YAML_VM("c"), 2, 3);
    /* A JSON array: an element ends at its closing brace. */
    incremental("[" JSON_VM("a") ",\n" JSON_VM("b"), ",\n" JSON_VM("c") "]\n", 2, 3);
    /* A JSON List, as `hearth export -o json` writes it. */
    incremental(
        "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" JSON_VM("a") "," JSON_VM("b"),
        "," JSON_VM("c") "]}", 1, 1);
    /* A YAML List: an item ends where the next one starts (libyaml looks
     * up to four characters ahead). */
    incremental(
        "kind: List\napiVersion: v1\nitems:\n- " FLOW_VM("a") "\n- " FLOW_VM("b") "\n- {kind",
        ": VM, " GV ", metadata: {name: c}}\n", 1, 1);
}

/* The objects of text: through a file descriptor and through api_docs_parse. */
static void same_as_parse(const char *text) {
    struct error err;
    error_init(&err);
    struct api_object **want = NULL;
    size_t n = 0;
    if (api_docs_parse(text, strlen(text), "t", &want, &n, &err) < 0)
        fail_msg("parse: %s\n%s", err.msg, text);
    assert_true(n > 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    write_all(fileno(f), text);
    assert_int_equal(lseek(fileno(f), 0, SEEK_SET), 0);
    api_doc_reader *r = NULL;
    assert_int_equal(api_doc_reader_new(fileno(f), "t", &r, &err), 0);
    for (size_t i = 0; i <= n; i++) {
        struct api_object *obj = NULL;
        if (api_doc_reader_next(r, &obj, &err) < 0)
            fail_msg("reader: %s\n%s", err.msg, text);
        if (i == n) {
            assert_null(obj);
            break;
        }
        assert_non_null(obj);
        json_t *a = api_object_to_json(want[i]);
        json_t *b = api_object_to_json(obj);
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        api_object_free(obj);
    }
    api_doc_reader_free(r);
    fclose(f);
    api_objects_free(want, n);
}

static void test_same_objects(void **state) {
    (void)state;
    size_t len;
    char *multi = test_data_read("multi.yaml", &len);
    same_as_parse(multi);
    free(multi);
    char *vm = test_data_read("vm-ignite.json", &len);
    same_as_parse(vm);
    free(vm);
    /* A byte order mark, comments, empty documents. */
    same_as_parse("\xef\xbb\xbf# c\n---\n---\n" YAML_VM("a") "---\n");
    same_as_parse("\xef\xbb\xbf  [" JSON_VM("a") ", " JSON_VM("b") "]");
    /* Lists whose items come before their kind are read whole, with the same result. */
    same_as_parse("{\"items\":[" JSON_VM("a") "],\"kind\":\"List\",\"apiVersion\":\"v1\"}");
    same_as_parse("items:\n- " FLOW_VM("a") "\nkind: List\napiVersion: v1\n");
    same_as_parse("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[" JSON_VM(
        "a") "," JSON_VM("b") "]}");
    same_as_parse("kind: List\nitems: &i\n- " FLOW_VM("a") "\napiVersion: v1\n");
    /* Strings holding brackets, quotes and escapes do not end a piece early. */
    same_as_parse("[{\"kind\":\"VM\"," JV ",\"metadata\":{\"name\":\"a\",\"labels\":"
                  "{\"x\":\"}]\\\"[{\\\\\"}}}]");
    /* A large input, read in many blocks. */
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_adds(&sb, "["), 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(strbuf_addf(&sb,
                                     "%s{\"kind\":\"VM\"," JV ",\"metadata\":{\"name\":\"vm-%d\"}}",
                                     i ? ",\n" : "", i),
                         0);
    assert_int_equal(strbuf_adds(&sb, "]"), 0);
    same_as_parse(sb.buf);
    strbuf_release(&sb);
}

static void test_list_fields_after_items(void **state) {
    (void)state;
    test_parse_fails("{\"kind\":\"List\",\"items\":[" JSON_VM("a") "],\"apiVersion\":\"v2\"}",
                     "t.json: document 1: apiVersion: a List needs", NULL);
    test_parse_fails("{\"kind\":\"List\",\"items\":[]}", "t.json: document 1: apiVersion", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[],\"itemz\":1}",
                     "t.json: document 1: \"itemz\": unknown field", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[],\"items\":[]}",
                     "t.json:1:", "duplicate", NULL);
    test_parse_fails("kind: List\nitems:\n- " FLOW_VM("a") "\napiVersion: v2\n",
                     "t.yaml: document 1: apiVersion: a List needs", NULL);
    test_parse_fails("kind: List\napiVersion: v1\nitems:\n- " FLOW_VM("a") "\n- {kind: List}\n",
                     "t.yaml: document 1: items[1]: a List inside a List", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" JSON_VM("a") ", 7]}",
                     "t.json: document 1: items[1]: expected an object", NULL);
    /* Depth counts from the List, as if it were read whole. */
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_adds(&sb,
                                 "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[{\"kind\":"
                                 "\"VM\"," JV ",\"spec\":{\"image\":"),
                     0);
    for (int i = 0; i < API_DEPTH_MAX; i++)
        assert_int_equal(strbuf_adds(&sb, "["), 0);
    for (int i = 0; i < API_DEPTH_MAX; i++)
        assert_int_equal(strbuf_adds(&sb, "]"), 0);
    assert_int_equal(strbuf_adds(&sb, "}}]}"), 0);
    test_parse_fails(sb.buf, "document 1: nested deeper than 32 levels", NULL);
    strbuf_release(&sb);
}

/* The line of a syntax error in text, as the reader and as jansson on the whole text say it. */
static void json_error_line(const char *text) {
    json_error_t je;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    assert_null(v);
    struct error err;
    error_init(&err);
    struct api_object **objs = NULL;
    size_t n = 0;
    assert_int_equal(api_docs_parse(text, strlen(text), "t.json", &objs, &n, &err), -EINVAL);
    char want[32];
    snprintf(want, sizeof(want), "t.json:%d:", je.line);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("\"%s\": jansson says line %d (%s), the reader: %s", text, je.line, je.text,
                 err.msg);
}

static void test_json_error_lines(void **state) {
    (void)state;
    json_error_line("[\n" JSON_VM("a") ",\n{\"kind\":\n \"VM\" \"x\"}]");
    json_error_line("[\n" JSON_VM("a") ",\n" JSON_VM("b") "\n" JSON_VM("c") "]");
    json_error_line("[\n" JSON_VM("a") ",\n\n]");
    json_error_line("[" JSON_VM("a") "] x");
    json_error_line("{\"kind\":\"List\",\n\"apiVersion\":\"v1\",\n\"items\":[\n" JSON_VM(
        "a") ",\n"
             "{\"kind\":\"VM\",\n\"x\":[1,}]}");
    json_error_line("{\"kind\":\"VM\",\n\n\"metadata\":{\"name\":\"a\",\"name\":\"b\"}}");
    json_error_line("{\"kind\":\"VM\"\n\"apiVersion\":\"v1\"}");
    json_error_line("[\n" JSON_VM("a") ",\n{\"kind\":\"VM\",\n\"apiVersion\":\"\\x\"}]");
}

/* Reading a descriptor that fails names the input. */
static void test_read_error(void **state) {
    (void)state;
    int p[2];
    nonblocking_pipe(p);
    write_all(p[1], YAML_VM("a") "---\n");
    struct error err;
    error_init(&err);
    api_doc_reader *r = NULL;
    assert_int_equal(api_doc_reader_new(p[0], "pipe.yaml", &r, &err), 0);
    next_named(r, "a", 1);
    struct api_object *obj = NULL;
    assert_int_equal(api_doc_reader_next(r, &obj, &err), -EAGAIN);
    test_assert_contains(err.msg, "cannot read 'pipe.yaml'");
    api_doc_reader_free(r);
    close(p[0]);
    close(p[1]);
}

int stream_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_incrementally),
        cmocka_unit_test(test_same_objects),
        cmocka_unit_test(test_list_fields_after_items),
        cmocka_unit_test(test_json_error_lines),
        cmocka_unit_test(test_read_error),
    };
    return cmocka_run_group_tests_name("api document stream", tests, NULL, NULL);
}
