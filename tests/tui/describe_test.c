/*
 * The dashboard's data against a real engine on a temporary root: the VMs
 * screen from applied documents, describe as YAML, the Operations screen
 * from the journal (store_op_list_recent through engine_ops_recent), the
 * Pool screen from a file pool, and the data version that drives refresh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui_test.h"

#include "engine/engine_priv.h"

struct fixture {
    char dir[64];
    char root[128];
    engine *e;
};

static const char docs[] = "apiVersion: ignite.weave.works/v1alpha1\n"
                           "kind: VM\n"
                           "metadata:\n  name: web-1\n"
                           "spec:\n  image:\n    ociClaim:\n      ref: busybox:latest\n"
                           "  cpus: 2\n  memory: 1GB\n  diskSize: 2GB\n"
                           "status:\n  state: Stopped\n"
                           "---\n"
                           "apiVersion: ignite.weave.works/v1alpha1\n"
                           "kind: VM\n"
                           "metadata:\n  name: db-1\n"
                           "spec:\n  image:\n    ociClaim:\n      ref: alpine:3.19\n"
                           "status:\n  state: Created\n";

static void apply_text(engine *e, const char *text) {
    struct error err;
    error_init(&err);
    struct api_object **objs = NULL;
    size_t n = 0;
    if (api_docs_parse(text, strlen(text), "t.yaml", &objs, &n, &err) < 0)
        fail_msg("parse: %s", err.msg);
    struct engine_apply_result *res = NULL;
    if (engine_apply(e, objs, n, &res, NULL, &err) < 0)
        fail_msg("apply: %s", err.msg);
    free(res);
    api_objects_free(objs, n);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-tui-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    struct error err;
    error_init(&err);
    if (engine_open(f->root, &f->e, &err) < 0)
        fail_msg("engine_open: %s", err.msg);
    apply_text(f->e, docs);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    engine_free(f->e);
    struct error err;
    error_init(&err);
    if (fs_tree_remove(f->dir, &err) < 0)
        fprintf(stderr, "cleanup: %s\n", err.msg);
    free(f);
    return 0;
}

static struct tui_table *load_vms(engine *e) {
    struct engine_vm_summaries *l = NULL;
    struct error err;
    error_init(&err);
    if (engine_vm_summaries(e, &l, &err) < 0)
        fail_msg("summaries: %s", err.msg);
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_vms(l, time(NULL), &t), 0);
    engine_vm_summaries_free(l);
    return t;
}

static void test_describe_vm(void **state) {
    struct fixture *f = *state;
    struct tui_list l;
    tui_list_init(&l);
    assert_int_equal(tui_list_set_table(&l, load_vms(f->e)), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(tui_list_set_filter(&l, "web"), 0);
    assert_int_equal(l.n, 1);
    const struct tui_row *row = tui_list_selected(&l);
    assert_non_null(row);
    assert_string_equal(row->cells[10], "web-1");
    assert_string_equal(row->cells[7], "Stopped");
    assert_int_equal(row->tone, TUI_TONE_STOPPED);

    struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    assert_int_equal(tui_describe(f->e, TUI_SCREEN_VMS, row, &sb, &err), 0);
    assert_true(str_starts_with(sb.buf, "kind: VM\napiVersion: ignite.weave.works/v1alpha1\n"));
    assert_non_null(strstr(sb.buf, "  name: web-1\n"));
    assert_non_null(strstr(sb.buf, "  cpus: 2\n"));
    assert_non_null(strstr(sb.buf, "  memory: 1GB\n"));
    assert_non_null(strstr(sb.buf, "      ref: busybox:latest\n"));
    assert_non_null(strstr(sb.buf, "  state: Stopped\n"));
    /* Exactly what `hearth inspect -o yaml` writes: the engine's object through api_docs_write. */
    struct api_object *obj = NULL;
    assert_int_equal(engine_get(f->e, API_KIND_VM, "web-1", &obj, &err), 0);
    struct strbuf want = STRBUF_INIT;
    struct api_object *const objs[] = {obj};
    assert_int_equal(api_docs_write(objs, 1, API_FORMAT_YAML, false, &want), 0);
    assert_string_equal(sb.buf, want.buf);
    api_object_free(obj);
    strbuf_release(&want);
    strbuf_release(&sb);

    /* A row whose object is gone: an error naming it, nothing written. */
    struct tui_row gone = {.key = "ffffffffffffffff", .kind = API_KIND_VM};
    assert_true(tui_describe(f->e, TUI_SCREEN_VMS, &gone, &sb, &err) < 0);
    assert_non_null(strstr(err.msg, "ffffffffffffffff"));
    assert_int_equal(sb.len, 0);
    tui_list_release(&l);
}

static void test_ops_and_data_version(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    int64_t v0 = 0, v1 = 0;
    assert_int_equal(engine_data_version(f->e, &v0, &err), 0);

    /* Another connection commits (as another process would): the version changes. */
    engine *other = NULL;
    if (engine_open(f->root, &other, &err) < 0)
        fail_msg("engine_open: %s", err.msg);
    apply_text(other, "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\n"
                      "metadata:\n  name: late-1\n"
                      "spec:\n  image:\n    ociClaim:\n      ref: busybox:latest\n");
    engine_free(other);
    assert_int_equal(engine_data_version(f->e, &v1, &err), 0);
    assert_true(v1 != v0);
    /* Nothing new: unchanged. */
    assert_int_equal(engine_data_version(f->e, &v0, &err), 0);
    assert_true(v0 == v1);

    struct engine_journal_entry *ops = NULL;
    size_t n = 0;
    assert_int_equal(engine_ops_recent(f->e, 100, &ops, &n, &err), 0);
    assert_int_equal(n, 3); /* vm.apply x3, newest first */
    assert_true(ops[0].id > ops[1].id && ops[1].id > ops[2].id);
    assert_string_equal(ops[0].op, "vm.apply");
    assert_true(ops[0].finished > 0);
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_ops(ops, n, time(NULL), &t), 0);
    engine_journal_entries_free(ops, n);
    /* The limit counts finished operations only. */
    assert_int_equal(engine_ops_recent(f->e, 1, &ops, &n, &err), 0);
    assert_int_equal(n, 1);
    engine_journal_entries_free(ops, n);

    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(tui_describe(f->e, TUI_SCREEN_OPS, &t->rows[0], &sb, &err), 0);
    assert_non_null(strstr(sb.buf, "operation: vm.apply\n"));
    assert_non_null(strstr(sb.buf, "state: done\n"));
    strbuf_release(&sb);
    tui_table_free(t);
}

static void test_pool_screen(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct engine_pool_init_opts po = {.driver = "file", .data_size = 64u << 20};
    if (engine_pool_init(f->e, &po, NULL, 0, &err) < 0)
        fail_msg("pool init: %s", err.msg);
    uint32_t img = 0, vm = 0;
    if (engine_pool_device_create(f->e, "Image", 1u << 20, API_KIND_COUNT, NULL, &img, &err) < 0 ||
        engine_pool_device_snapshot(f->e, "VM", img, 0, API_KIND_COUNT, NULL, &vm, &err) < 0)
        fail_msg("devices: %s", err.msg);
    struct engine_pool_status st;
    assert_int_equal(engine_pool_status(f->e, &st, &err), 0);
    struct engine_device *devs = NULL;
    size_t n = 0;
    assert_int_equal(engine_pool_devices(f->e, &devs, &n, &err), 0);
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_pool(&st, NULL, devs, n, time(NULL), &t), 0);
    engine_devices_free(devs, n);
    engine_pool_status_release(&st);
    assert_int_equal(t->nrows, 2);
    assert_int_equal(t->n_gauges, 1);
    assert_true(t->gauges[0].total > 0);
    char label[32];
    snprintf(label, sizeof(label), "`- %u", vm);
    assert_string_equal(t->rows[1].cells[0], label);

    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(tui_describe(f->e, TUI_SCREEN_POOL, &t->rows[1], &sb, &err), 0);
    assert_non_null(strstr(sb.buf, "type: VM\n"));
    snprintf(label, sizeof(label), "parent: %u\n", img);
    assert_non_null(strstr(sb.buf, label));
    strbuf_release(&sb);
    tui_table_free(t);
}

const struct CMUnitTest tui_describe_tests[] = {
    cmocka_unit_test_setup_teardown(test_describe_vm, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ops_and_data_version, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pool_screen, setup, teardown),
};
const size_t tui_describe_tests_n = ARRAY_SIZE(tui_describe_tests);
