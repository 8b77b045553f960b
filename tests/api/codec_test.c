/*
 * Tests for the JSON codec and documents: Ignite's own documents round-trip
 * unchanged, every kind goes through JSON text and YAML text and back, the
 * field names and order are the seed's, unknown fields and wrong types are
 * errors naming their path, Lists, arrays and multi-document YAML streams
 * decode, syntax errors carry positions, and the limits hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_priv.h"
#include "api_test.h"

static json_t *data_json(const char *file) {
    char *text = test_data_read(file, NULL);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("%s:%d: %s", file, je.line, je.text);
    free(text);
    return j;
}

static void fail_unequal(const json_t *want, const json_t *got) {
    char *a = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *b = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
    fail_msg("want:\n%s\ngot:\n%s", a, b);
}

/* Ignite's documents decode and encode back to the same tree. */
static void test_ignite_roundtrip(void **state) {
    (void)state;
    static const char *const files[] = {"vm-ignite.json", "image-ignite.json", "kernel-ignite.json",
                                        "pool-ignite.json"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        json_t *doc = data_json(files[i]);
        struct api_object *obj = NULL;
        struct error err;
        error_init(&err);
        if (api_object_from_json(doc, &obj, &err) < 0)
            fail_msg("%s: %s", files[i], err.msg);
        json_t *back = api_object_to_json(obj);
        assert_non_null(back);
        if (!json_equal(doc, back))
            fail_unequal(doc, back);
        /* and in the seed's order, which the sample files follow */
        char *want = json_dumps(doc, JSON_INDENT(2));
        char *got = json_dumps(back, JSON_INDENT(2));
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(back);
        json_decref(doc);
        api_object_free(obj);
    }
}

static void test_vm_fields(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *obj = test_data_object("vm-ignite.json");
    const struct api_vm *vm = &obj->u.vm;
    assert_int_equal(obj->kind, API_KIND_VM);
    assert_string_equal(obj->meta.name, "my-vm");
    assert_string_equal(obj->meta.uid, "e8d6cd9dc2a0e5b4");
    assert_true(obj->meta.created == 1562760000);
    assert_string_equal(vm->image_claim->ref, "weaveworks/ignite-ubuntu:latest");
    assert_string_equal(vm->kernel_claim->type, "Docker");
    assert_int_equal(vm->cpus, 2);
    assert_true(vm->memory == 1ull << 30);
    assert_true(vm->disk_size == 4ull << 30);
    assert_int_equal(vm->n_ports, 1);
    assert_int_equal(vm->ports[0].host_port, 8080);
    assert_int_equal(vm->ports[0].vm_port, 80);
    assert_null(vm->ports[0].protocol);
    assert_true(vm->has_ssh);
    assert_null(vm->ssh_public_key);
    assert_string_equal(vm->ip_addresses[0], "172.17.0.2");
    assert_true(vm->status_image.source.size == 234ull << 20);
    assert_string_equal(vm->status_kernel.internal_uid, "0c9d8e7f6a5b4c3d");

    _cleanup_object_ struct api_object *y = test_data_object("vm.yaml");
    vm = &y->u.vm;
    assert_string_equal(y->meta.name, "web");
    assert_int_equal(y->meta.n_labels, 2);
    assert_string_equal(y->meta.labels[1].key, "example.com/tier");
    assert_string_equal(y->meta.labels[1].value, "front-end");
    assert_true(y->meta.created == API_TIME_NONE);
    assert_null(vm->image_claim->type);
    assert_null(vm->kernel_claim);
    assert_true(vm->disk_size == 4831838208ull);
    assert_int_equal(vm->n_ports, 2);
    assert_string_equal(vm->ports[1].protocol, "udp");
    assert_string_equal(vm->ports[1].bind_address, "127.0.0.1");
    assert_string_equal(vm->ssh_public_key,
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests user@host");
    assert_int_equal(vm->state, API_VM_STATE_NONE);
    assert_int_equal(api_object_set_defaults(y, NULL), 0);
    struct error err;
    error_init(&err);
    if (api_object_validate(y, &err) < 0)
        fail_msg("%s", err.msg);
}

static void test_pool_fields(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *p = test_data_object("pool-ignite.json");
    assert_int_equal(p->u.pool.n_devices, 4);
    assert_true(p->u.pool.devices[0].present);
    assert_true(p->u.pool.devices[0].parent == API_POOL_PARENT_NONE);
    assert_true(p->u.pool.devices[1].parent == 0);
    assert_false(p->u.pool.devices[2].present);
    assert_true(p->u.pool.devices[3].parent == 1);
    assert_string_equal(p->u.pool.devices[3].type, "VM");
    assert_true(p->u.pool.metadata_size == 75ull << 20);
}

/* What Go writes for empty fields, we write too; omitempty ones are left out. */
static void test_empty_fields(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *vm = api_object_new(API_KIND_VM);
    json_t *j = api_object_to_json(vm);
    json_t *want = json_pack(
        "{s:s, s:s, s:{s:s, s:n}, s:{s:{s:n}, s:{s:n}, s:i, s:s, s:s, s:s},"
        " s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}}",
        "kind", "VM", "apiVersion", "ignite.weave.works/v1alpha1", "metadata", "name", "",
        "created", "spec", "image", "ociClaim", "kernel", "ociClaim", "cpus", 0, "memory", "0B",
        "diskSize", "0B", "networkMode", "", "status", "state", "", "image", "id", "", "size", "0B",
        "internalUID", "", "kernel", "id", "", "size", "0B", "internalUID", "");
    assert_non_null(want);
    if (!json_equal(want, j))
        fail_unequal(want, j);
    json_decref(j);
    json_decref(want);

    _cleanup_object_ struct api_object *pool = api_object_new(API_KIND_POOL);
    j = api_object_to_json(pool);
    assert_null(json_object_get(j, "metadata"));
    assert_true(json_is_array(json_object_get(json_object_get(j, "status"), "devices")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "spec"), "metadataPath")), "");
    json_decref(j);

    _cleanup_object_ struct api_object *im = api_object_new(API_KIND_IMAGE);
    j = api_object_to_json(im);
    want = json_pack("{s:s, s:s, s:{s:s, s:n}, s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}}", "kind",
                     "Image", "apiVersion", "ignite.weave.works/v1alpha1", "metadata", "name", "",
                     "created", "spec", "ociClaim", "type", "", "ref", "", "status", "ociSource",
                     "id", "", "size", "0B");
    if (!json_equal(want, j))
        fail_unequal(want, j);
    json_decref(j);
    json_decref(want);
}

/* The top level and spec keys come in the seed's order. */
static void test_field_order(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *vm = test_data_object("vm.yaml");
    assert_int_equal(api_object_set_defaults(vm, NULL), 0);
    json_t *j = api_object_to_json(vm);
    static const char *const top[] = {"kind", "apiVersion", "metadata", "spec", "status"};
    static const char *const spec[] = {"image",    "kernel",      "cpus",  "memory",
                                       "diskSize", "networkMode", "ports", "ssh"};
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        assert_true(i < ARRAY_SIZE(top));
        assert_string_equal(key, top[i++]);
    }
    i = 0;
    json_object_foreach(json_object_get(j, "spec"), key, v) {
        assert_true(i < ARRAY_SIZE(spec));
        assert_string_equal(key, spec[i++]);
    }
    assert_int_equal(i, ARRAY_SIZE(spec));
    /* the udp port keeps its protocol and address, the tcp one has neither */
    json_t *ports = json_object_get(json_object_get(j, "spec"), "ports");
    assert_null(json_object_get(json_array_get(ports, 0), "protocol"));
    assert_null(json_object_get(json_array_get(ports, 0), "bindAddress"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(ports, 1), "protocol")),
                        "udp");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "spec"), "diskSize")),
                        "4608MB");
    json_decref(j);
}

/* Every kind: write as JSON and as YAML, parse back, same tree. */
static void test_text_roundtrip(void **state) {
    (void)state;
    static const char *const files[] = {"vm-ignite.json", "image-ignite.json", "kernel-ignite.json",
                                        "pool-ignite.json", "vm.yaml"};
    struct api_object *objs[ARRAY_SIZE(files)];
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        objs[i] = test_data_object(files[i]);
        if (i == 4)
            assert_int_equal(api_object_set_defaults(objs[i], "/r"), 0);
    }
    for (int f = 0; f < 2; f++) {
        enum api_format format = f ? API_FORMAT_YAML : API_FORMAT_JSON;
        for (size_t i = 0; i <= ARRAY_SIZE(files); i++) {
            /* each alone, then all together */
            size_t n = i < ARRAY_SIZE(files) ? 1 : ARRAY_SIZE(files);
            struct api_object *const *in = i < ARRAY_SIZE(files) ? &objs[i] : objs;
            struct strbuf sb = STRBUF_INIT;
            assert_int_equal(api_docs_write(in, n, format, false, &sb), 0);
            assert_true(sb.len > 0 && sb.buf[sb.len - 1] == '\n');
            struct api_object **back;
            size_t nb;
            struct error err;
            error_init(&err);
            if (api_docs_parse(sb.buf, sb.len, "out", &back, &nb, &err) < 0)
                fail_msg("%s\n%s", err.msg, sb.buf);
            assert_int_equal(nb, n);
            for (size_t k = 0; k < n; k++) {
                json_t *a = api_object_to_json(in[k]);
                json_t *b = api_object_to_json(back[k]);
                if (!json_equal(a, b))
                    fail_unequal(a, b);
                json_decref(a);
                json_decref(b);
            }
            if (format == API_FORMAT_YAML && n > 1)
                test_assert_contains(sb.buf, "\n---\n");
            if (format == API_FORMAT_JSON && n > 1)
                assert_true(
                    strncmp(sb.buf, "{\n  \"kind\": \"List\",\n  \"apiVersion\": \"v1\"", 40) == 0);
            if (format == API_FORMAT_JSON && n == 1)
                assert_true(strncmp(sb.buf, "{\n  \"kind\": \"", 13) == 0);
            api_objects_free(back, nb);
            strbuf_release(&sb);
        }
    }
    /* always_list makes a List of one */
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(api_docs_write(objs, 1, API_FORMAT_JSON, true, &sb), 0);
    test_assert_contains(sb.buf, "\"kind\": \"List\"");
    test_assert_contains(sb.buf, "\"items\": [");
    strbuf_release(&sb);
    /* nothing at all: an empty List in JSON, an empty stream in YAML */
    assert_int_equal(api_docs_write(NULL, 0, API_FORMAT_JSON, false, &sb), 0);
    test_assert_contains(sb.buf, "\"items\": []");
    strbuf_release(&sb);
    assert_int_equal(api_docs_write(NULL, 0, API_FORMAT_YAML, false, &sb), 0);
    assert_int_equal(sb.len, 0);
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        api_object_free(objs[i]);
}

#define HEAD "{\"kind\":\"VM\",\"apiVersion\":\"ignite.weave.works/v1alpha1\","

static void test_unknown_fields(void **state) {
    (void)state;
    test_parse_fails(HEAD "\"spec\":{\"cpuz\":1}}", "t.json: document 1: spec.cpuz: unknown field",
                     NULL);
    test_parse_fails(HEAD "\"metadata\":{\"nmae\":\"x\"}}", "metadata.nmae: unknown field", NULL);
    test_parse_fails(HEAD "\"extra\":1}", "document 1: extra: unknown field", NULL);
    test_parse_fails(HEAD "\"spec\":{\"ports\":[{\"hostPort\":1,\"vmPort\":2},{\"hostport\":1}]}}",
                     "spec.ports[1].hostport: unknown field", NULL);
    test_parse_fails(HEAD "\"spec\":{\"image\":{\"ociClaim\":{\"ref\":\"a\",\"tag\":\"b\"}}}}",
                     "spec.image.ociClaim.tag: unknown field", NULL);
    test_parse_fails(HEAD "\"status\":{\"image\":{\"uid\":\"x\"}}}",
                     "status.image.uid: unknown field", NULL);
    test_parse_fails(HEAD "\"spec\":{\"ssh\":{\"key\":\"x\"}}}", "spec.ssh.key: unknown field",
                     NULL);
    test_parse_fails(HEAD "\"spec\":{\"a b\":1}}", "spec.\"a b\": unknown field", NULL);
    test_parse_fails("{\"kind\":\"Pool\",\"apiVersion\":\"ignite.weave.works/v1alpha1\","
                     "\"metadata\":{\"name\":\"p\"}}",
                     "document 1: metadata: unknown field", NULL);
    test_parse_fails("{\"kind\":\"Pool\",\"apiVersion\":\"ignite.weave.works/v1alpha1\","
                     "\"status\":{\"devices\":[null,{\"color\":\"red\"}]}}",
                     "status.devices[1].color: unknown field", NULL);
    test_parse_fails("kind: Image\napiVersion: ignite.weave.works/v1alpha1\nspec:\n  ociClaim:\n"
                     "    ref: a\n    typo: b\n",
                     "t.yaml: document 1: spec.ociClaim.typo: unknown field", NULL);
}

static void test_wrong_types(void **state) {
    (void)state;
    test_parse_fails(HEAD "\"spec\":{\"cpus\":\"two\"}}",
                     "spec.cpus: expected a non-negative integer, got \"two\"", NULL);
    test_parse_fails(HEAD "\"spec\":{\"cpus\":-1}}",
                     "spec.cpus: expected a non-negative integer, got -1", NULL);
    test_parse_fails(HEAD "\"spec\":{\"cpus\":1.5}}",
                     "spec.cpus: expected a non-negative integer, got 1.5", NULL);
    test_parse_fails(HEAD "\"spec\":{\"memory\":\"12XB\"}}", "spec.memory: \"12XB\" is not a size",
                     NULL);
    test_parse_fails(HEAD "\"spec\":{\"memory\":\"-1MB\"}}", "spec.memory: \"-1MB\" is not a size",
                     NULL);
    test_parse_fails(HEAD "\"spec\":{\"diskSize\":\"16EB\"}}",
                     "spec.diskSize: \"16EB\" is too large", NULL);
    test_parse_fails(HEAD "\"spec\":{\"memory\":true}}", "spec.memory: expected a size", "got true",
                     NULL);
    test_parse_fails(HEAD "\"status\":{\"state\":\"Paused\"}}",
                     "t.json: document 1: status.state: \"Paused\" is not a state (Created, ",
                     NULL);
    test_parse_fails(HEAD "\"status\":{\"state\":1}}", "status.state: expected a string", NULL);
    test_parse_fails(HEAD "\"spec\":{\"ports\":{}}}", "spec.ports: expected a list, got an object",
                     NULL);
    test_parse_fails(HEAD "\"spec\":{\"ports\":[{\"hostPort\":\"80\"}]}}",
                     "spec.ports[0].hostPort: expected a non-negative integer, got \"80\"", NULL);
    test_parse_fails(HEAD "\"spec\":{\"image\":[]}}", "spec.image: expected an object, got a list",
                     NULL);
    test_parse_fails(HEAD "\"metadata\":{\"labels\":{\"a\":1}}}",
                     "metadata.labels.a: expected a string, got 1", NULL);
    test_parse_fails(HEAD "\"metadata\":{\"name\":7}}", "metadata.name: expected a string, got 7",
                     NULL);
    test_parse_fails(HEAD "\"metadata\":{\"created\":\"yesterday\"}}",
                     "metadata.created: \"yesterday\" is not an RFC 3339 time", NULL);
    test_parse_fails(HEAD "\"status\":{\"ipAddresses\":[\"1.2.3.4\",false]}}",
                     "status.ipAddresses[1]: expected a string, got false", NULL);
    test_parse_fails("{\"kind\":\"Pool\",\"apiVersion\":\"ignite.weave.works/v1alpha1\","
                     "\"status\":{\"devices\":[{\"parent\":\"root\"}]}}",
                     "status.devices[0].parent: expected a device id or \"pool\", got \"root\"",
                     NULL);
    test_parse_fails("{\"apiVersion\":\"ignite.weave.works/v1alpha1\"}",
                     "document 1: kind: required", NULL);
    test_parse_fails("{\"kind\":\"Foo\",\"apiVersion\":\"ignite.weave.works/v1alpha1\"}",
                     "kind: \"Foo\" is not a kind", NULL);
    test_parse_fails("{\"kind\":\"VM\"}", "apiVersion: required", NULL);
    test_parse_fails("{\"kind\":\"VM\",\"apiVersion\":\"ignite.weave.works/v1alpha2\"}",
                     "apiVersion: \"ignite.weave.works/v1alpha2\" is not supported", NULL);
    test_parse_fails("[1]", "document 1: (document): expected an object", NULL);
    test_parse_fails("kind: VM\napiVersion: ignite.weave.works/v1alpha1\nspec:\n  cpus: two\n",
                     "t.yaml: document 1: spec.cpus: expected a non-negative integer, got \"two\"",
                     NULL);

    /* null is "unset", as Go reads it */
    struct api_object **objs;
    size_t n;
    test_parse_ok(HEAD "\"metadata\":{\"name\":\"a\",\"uid\":\"\",\"labels\":null},"
                       "\"spec\":{\"ports\":null,\"memory\":null,\"kernel\":{\"ociClaim\":null}},"
                       "\"status\":null}",
                  &objs, &n);
    assert_int_equal(n, 1);
    assert_null(objs[0]->meta.uid);
    assert_int_equal(objs[0]->u.vm.n_ports, 0);
    assert_null(objs[0]->u.vm.kernel_claim);
    api_objects_free(objs, n);
    /* sizes may be given in bytes as plain integers too */
    test_parse_ok(HEAD "\"spec\":{\"memory\":1073741824}}", &objs, &n);
    assert_true(objs[0]->u.vm.memory == 1ull << 30);
    api_objects_free(objs, n);
}

static void test_lists_and_streams(void **state) {
    (void)state;
    struct api_object **objs;
    size_t n;
    size_t len;
    char *text = test_data_read("multi.yaml", &len);
    struct error err;
    error_init(&err);
    if (api_docs_parse(text, len, "multi.yaml", &objs, &n, &err) < 0)
        fail_msg("%s", err.msg);
    free(text);
    assert_int_equal(n, 4);
    assert_int_equal(objs[0]->kind, API_KIND_IMAGE);
    assert_int_equal(objs[1]->kind, API_KIND_KERNEL);
    assert_string_equal(objs[1]->u.kernel.version, "4.19.47");
    assert_int_equal(objs[2]->kind, API_KIND_VM);
    assert_string_equal(objs[2]->meta.name, "db");
    assert_string_equal(objs[3]->meta.name, "cache");
    api_objects_free(objs, n);

    /* JSON: an array of documents, and a List */
    test_parse_ok("[" HEAD "\"metadata\":{\"name\":\"a\"}}, " HEAD
                  "\"metadata\":{\"name\":\"b\"}}]",
                  &objs, &n);
    assert_int_equal(n, 2);
    assert_string_equal(objs[1]->meta.name, "b");
    api_objects_free(objs, n);
    test_parse_ok("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[" HEAD
                  "\"metadata\":{\"name\":\"a\"}}]}",
                  &objs, &n);
    assert_int_equal(n, 1);
    api_objects_free(objs, n);
    test_parse_ok("{\"kind\":\"List\",\"apiVersion\":\"ignite.weave.works/v1alpha1\",\"items\":[]}",
                  &objs, &n);
    assert_int_equal(n, 0);
    api_objects_free(objs, n);

    test_parse_fails("[" HEAD "\"metadata\":{\"name\":\"a\"}}, " HEAD "\"spec\":{\"x\":1}}]",
                     "t.json: document 2: spec.x: unknown field", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" HEAD
                     "\"spec\":{}}, " HEAD "\"spec\":{\"cpuz\":1}}]}",
                     "t.json: document 1: items[1].spec.cpuz: unknown field", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v2\",\"items\":[]}",
                     "document 1: apiVersion", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":{}}",
                     "items: expected a list", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[{\"kind\":\"List\"}]}",
                     "items[0]: a List inside a List", NULL);
    test_parse_fails("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"itemz\":[]}",
                     "itemz\": unknown field", NULL);
    test_parse_fails("kind: Image\napiVersion: ignite.weave.works/v1alpha1\n---\n---\nkind: VM\n"
                     "apiVersion: ignite.weave.works/v1alpha1\nspec: {cpus: x}\n",
                     "t.yaml: document 3: spec.cpus", NULL);

    /* Empty inputs are empty streams. */
    static const char *const empty[] = {"", "  \n\t\n", "# only a comment\n", "---\n"};
    for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
        objs = (struct api_object **)&err;
        n = 99;
        error_init(&err);
        if (api_docs_parse(empty[i], strlen(empty[i]), "e", &objs, &n, &err) < 0)
            fail_msg("\"%s\": %s", empty[i], err.msg);
        assert_int_equal(n, 0);
        api_objects_free(objs, n);
    }
}

static void test_syntax_errors(void **state) {
    (void)state;
    test_parse_fails("{\n  \"kind\": \"VM\",\n  \"apiVersion\": x\n}", "t.json:3:", NULL);
    /* Documents are decoded as they are read: the one before the error is valid. */
    test_parse_fails("\n\n[" HEAD "\"spec\":{}},", "t.json:3:", NULL);
    test_parse_fails("{\"kind\":\"VM\",\"kind\":\"VM\"}", "t.json:1:", "duplicate", NULL);
    test_parse_fails("kind: VM\napiVersion: [a\n", "t.yaml:", NULL);
    struct error err;
    error_init(&err);
    struct api_object **objs;
    size_t n;
    const char *y = "kind: VM\nspec:\n  cpus: 1\n   memory: 2\n";
    assert_int_equal(api_docs_parse(y, strlen(y), "vm.yaml", &objs, &n, &err), -EINVAL);
    if (strncmp(err.msg, "vm.yaml:4:", 10) != 0)
        fail_msg("expected the error on line 4: %s", err.msg);
}

static void test_limits(void **state) {
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    /* too many documents (each valid: they are decoded as they are read) */
    assert_int_equal(strbuf_adds(&sb, "["), 0);
    for (int i = 0; i <= API_DOCS_MAX; i++)
        assert_int_equal(strbuf_adds(&sb, i ? "," HEAD "\"spec\":{}}" : HEAD "\"spec\":{}}"), 0);
    assert_int_equal(strbuf_adds(&sb, "]"), 0);
    test_parse_fails(sb.buf, "more than 100000 documents", NULL);
    strbuf_reset(&sb);

    /* too deep */
    assert_int_equal(strbuf_adds(&sb, HEAD "\"spec\":{\"image\":"), 0);
    for (int i = 0; i < API_DEPTH_MAX + 2; i++)
        assert_int_equal(strbuf_adds(&sb, "["), 0);
    for (int i = 0; i < API_DEPTH_MAX + 2; i++)
        assert_int_equal(strbuf_adds(&sb, "]"), 0);
    assert_int_equal(strbuf_adds(&sb, "}}"), 0);
    test_parse_fails(sb.buf, "document 1: nested deeper than 32 levels", NULL);
    strbuf_reset(&sb);

    /* too long a string */
    assert_int_equal(strbuf_adds(&sb, HEAD "\"metadata\":{\"name\":\""), 0);
    for (int i = 0; i <= API_STRING_MAX; i++)
        assert_int_equal(strbuf_addc(&sb, 'a'), 0);
    assert_int_equal(strbuf_adds(&sb, "\"}}"), 0);
    test_parse_fails(sb.buf, "metadata.name: longer than 4096 characters", NULL);
    strbuf_reset(&sb);

    /* too long a list */
    assert_int_equal(strbuf_adds(&sb, HEAD "\"spec\":{\"ports\":["), 0);
    for (int i = 0; i <= API_LIST_MAX; i++)
        assert_int_equal(strbuf_adds(&sb, i ? ",{}" : "{}"), 0);
    assert_int_equal(strbuf_adds(&sb, "]}}"), 0);
    test_parse_fails(sb.buf, "spec.ports: more than 1024 entries", NULL);
    strbuf_release(&sb);

    /* too big an input: refused before it is read */
    struct error err;
    error_init(&err);
    struct api_object **objs;
    size_t n;
    assert_int_equal(api_docs_parse("{", (size_t)API_INPUT_MAX + 1, "big", &objs, &n, &err),
                     -EFBIG);
    test_assert_contains(err.msg, "big: ");
}

int codec_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ignite_roundtrip),
        cmocka_unit_test(test_vm_fields),
        cmocka_unit_test(test_pool_fields),
        cmocka_unit_test(test_empty_fields),
        cmocka_unit_test(test_field_order),
        cmocka_unit_test(test_text_roundtrip),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_lists_and_streams),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("api codec", tests, NULL, NULL);
}
