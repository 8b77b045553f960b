/*
 * Rows that hearth did not write: each kind of row is written with raw SQL
 * (constraints and foreign keys off, as another program could), and every
 * reader refuses it or leaves it out, naming the table, the row's key and
 * the field; store_corrupt_list finds them all.
 */
#include <errno.h>
#include <string.h>

#include "store/store_test.h"

#define GOOD "00000000000000aa"

/* Raw writes as another program would make them: no CHECK, no foreign keys. */
static void raw_hostile(store *s, const char *sql) {
    raw_exec(s, "PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON");
    raw_exec(s, sql);
    raw_exec(s, "PRAGMA foreign_keys = ON; PRAGMA ignore_check_constraints = OFF");
}

static void put_vm(store *s, const char *uid, const char *name) {
    struct error err;
    struct api_object *v = make_vm(uid, name, 1);
    if (store_object_put(s, v, &err) < 0)
        fail_msg("put: %s", err.msg);
    api_object_free(v);
}

static void assert_has(const char *msg, const char *part) {
    if (!strstr(msg, part))
        fail_msg("'%s' not in: %s", part, msg);
}

static void test_objects(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    put_vm(t->s, GOOD, "good");
    put_vm(t->s, "00000000000000bb", "evil");
    put_vm(t->s, "00000000000000cc", "slashed");
    raw_hostile(t->s, "UPDATE vm SET uid = '../../canary' WHERE name = 'evil';"
                      "UPDATE vm SET name = 'a/b' WHERE name = 'slashed'");

    /* By name: the uid it leads to is refused, not used. */
    char uid[ID_LEN + 1];
    assert_int_equal(store_object_find_name(t->s, API_KIND_VM, "evil", uid, &err), -EUCLEAN);
    assert_has(err.msg, "row \"../../canary\" of table 'vm'");
    assert_has(err.msg, "metadata.uid: \"../../canary\" is not a valid uid");
    assert_has(err.msg, "hearth doctor");
    struct api_object *o = NULL;
    assert_int_equal(store_object_get(t->s, API_KIND_VM, "00000000000000cc", &o, &err), -EUCLEAN);
    assert_null(o);
    assert_has(err.msg, "metadata.name: \"a/b\"");
    /* A prefix match does not hand out the bad uid either. */
    struct store_match *m = NULL;
    size_t n = 0;
    assert_int_equal(store_object_match(t->s, API_KIND_VM, "", 10, &m, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_true(id_is_valid(m[i].uid));
    assert_int_equal(n, 2); /* good and a/b: its uid is fine, its name fails when read */
    store_matches_free(m, n);

    /* Listings leave them out. */
    struct api_object **objs = NULL;
    assert_int_equal(store_object_list(t->s, API_KIND_VM, &objs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(objs[0]->meta.name, "good");
    api_objects_free(objs, n);
    struct store_vm_summaries *sum = NULL;
    assert_int_equal(store_vm_summary_list(t->s, &sum, &err), 0);
    assert_int_equal(sum->n, 1);
    store_vm_summaries_free(sum);
    raw_hostile(t->s, "UPDATE vm SET state = 'Running'");
    char **live = NULL;
    assert_int_equal(store_vm_list_live(t->s, &live, &n, &err), 0);
    assert_int_equal(n, 2); /* good and a/b; never '../../canary' */
    for (size_t i = 0; i < n; i++) {
        assert_true(id_is_valid(live[i]));
        free(live[i]);
    }
    free(live);

    /* A state outside the set. */
    raw_hostile(t->s, "UPDATE vm SET state = 'Exploded' WHERE uid = '" GOOD "'");
    enum api_vm_state st = API_VM_RUNNING;
    assert_int_equal(store_vm_state_get(t->s, GOOD, &st, &err), -EUCLEAN);
    assert_has(err.msg, "status.state: \"Exploded\"");
    assert_int_equal(st, API_VM_STATE_NONE); /* no state is taken from a corrupt row */
}

static void test_runtime(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    put_vm(t->s, GOOD, "good");
    static const char *const bad[] = {
        "monitor_pid = -5",     "monitor_pid = 99999999999",
        "vmm_pid = 4194305",    "vmm_start = -1",
        "vmm = 'bash'",         "device_id = 16777216",
        "exit_status = 100000", "exit_reason = 'a' || char(27) || '[2J'",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        raw_hostile(t->s, "INSERT OR REPLACE INTO vm_runtime (uid, vmm, monitor_pid, "
                          "monitor_start, vmm_pid, vmm_start) VALUES ('" GOOD
                          "', 'qemu', 10, 20, 11, 21)");
        struct store_vm_runtime rt;
        assert_int_equal(store_vm_runtime_get(t->s, GOOD, &rt, &err), 0);
        assert_int_equal(rt.monitor_pid, 10);
        char sql[256];
        snprintf(sql, sizeof(sql), "UPDATE vm_runtime SET %s", bad[i]);
        raw_hostile(t->s, sql);
        if (store_vm_runtime_get(t->s, GOOD, &rt, &err) != -EUCLEAN)
            fail_msg("%s was read", bad[i]);
        assert_has(err.msg, "of table 'vm_runtime'");
        char field[32];
        snprintf(field, sizeof(field), "%.*s: ", (int)strcspn(bad[i], " "), bad[i]);
        assert_has(err.msg, field);
    }
}

static void test_journal(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    int64_t id;
    assert_int_equal(store_op_begin(t->s, "vm.start", API_KIND_VM, GOOD, "intent", &id, &err), 0);
    raw_hostile(t->s, "INSERT INTO journal (op, kind, object_uid, step, owner_pid, owner_start, "
                      "started, updated) VALUES "
                      "('kernel.import', 'Kernel', '../../canary', 'files', 5, 1, 1, 1),"
                      "('vm.start', 'VM', '" GOOD "', 'intent', 0, 1, 1, 1),"
                      "('vm.start', 'Nope', '" GOOD "', 'intent', 5, 1, 1, 1),"
                      "('rm -rf /', 'VM', NULL, 'intent', 5, 1, 1, 1)");
    raw_hostile(t->s, "INSERT INTO journal (op, kind, step, owner_pid, owner_start, started, "
                      "updated, params) VALUES ('vm.start', 'VM', 'intent', 5, 1, 1, 1, '[1]')");
    struct store_op *ops = NULL;
    size_t n = 0;
    assert_int_equal(store_op_list_open(t->s, &ops, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_true(ops[0].id == id);
    store_ops_free(ops, n);
    assert_int_equal(store_op_list_recent(t->s, 10, &ops, &n, &err), 0);
    assert_int_equal(n, 1);
    store_ops_free(ops, n);
}

static void test_pool(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    struct store_pool p = {.driver = (char *)"file",
                           .name = (char *)"ab12cd34",
                           .state = STORE_POOL_ACTIVE,
                           .metadata_size = 8 << 20,
                           .data_size = 1 << 30,
                           .allocation_size = 64 << 10,
                           .data_path = (char *)"/var/lib/hearth/pool/data"};
    assert_int_equal(store_pool_put(t->s, &p, &err), 0);
    struct store_pool got;
    assert_int_equal(store_pool_get(t->s, &got, &err), 0);
    store_pool_release(&got);
    struct store_pool_device d = {.id = 3,
                                  .type = (char *)"Image",
                                  .parent = STORE_DEVICE_PARENT_NONE,
                                  .size = 1 << 20,
                                  .owner_kind = API_KIND_IMAGE,
                                  .owner_uid = (char *)GOOD};
    assert_int_equal(store_pool_device_insert(t->s, &d, &err), 0);
    struct store_pool_device *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_pool_device_list(t->s, &rows, &n, &err), 0);
    store_pool_devices_free(rows, n);

    raw_hostile(t->s, "UPDATE pool SET data_path = '/var/lib/hearth/../../etc'");
    assert_int_equal(store_pool_get(t->s, &got, &err), -EUCLEAN);
    assert_has(err.msg, "row \"1\" of table 'pool'");
    assert_has(err.msg, "spec.dataPath: \"/var/lib/hearth/../../etc\"");
    raw_hostile(t->s, "UPDATE pool SET data_path = '/d', name = 'x/y'");
    assert_int_equal(store_pool_get(t->s, &got, &err), -EUCLEAN);
    assert_has(err.msg, "name: \"x/y\"");
    raw_hostile(t->s, "UPDATE pool SET name = 'ab12cd34'");

    /* A bad device row fails the whole list: what is missing cannot be guessed. */
    raw_hostile(t->s, "UPDATE pool_device SET owner_uid = '../x' WHERE id = 3");
    assert_int_equal(store_pool_device_list(t->s, &rows, &n, &err), -EUCLEAN);
    assert_has(err.msg, "row \"3\" of table 'pool_device'");
    assert_has(err.msg, "owner_uid: \"../x\"");
    raw_hostile(t->s, "UPDATE pool_device SET owner_uid = '" GOOD "', "
                      "layer_key = 'kernel:../../x' WHERE id = 3");
    struct store_pool_device one;
    assert_int_equal(store_pool_device_get(t->s, 3, &one, &err), -EUCLEAN);
    assert_has(err.msg, "layer_key: \"kernel:../../x\"");
}

/* A kernel's recorded files: a name that is none of the four is refused when read. */
static void test_kernel_file(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    raw_hostile(t->s, "INSERT INTO kernel_file (uid, name, size) VALUES ('" GOOD "', '../x', 1)");
    struct store_kernel_file got[STORE_KERNEL_FILES_MAX];
    size_t n = 0;
    assert_int_equal(store_kernel_files_get(t->s, GOOD, got, &n, &err), -EUCLEAN);
    assert_has(err.msg, "kernel_file");
    assert_has(err.msg, "name: \"../x\"");
}

/* A VM's ssh row: round trip, a fingerprint of another form refused on the way in and out. */
#define FP "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
static void test_vm_ssh(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    put_vm(t->s, GOOD, "good");
    struct store_vm_ssh got;
    assert_int_equal(store_vm_ssh_get(t->s, GOOD, &got, &err), -ENOENT);
    error_init(&err);
    assert_int_equal(store_vm_ssh_key_set(t->s, GOOD, "SHA256:short", &err), -EINVAL);
    assert_has(err.msg, "SHA256:short");
    assert_int_equal(store_vm_ssh_key_set(t->s, GOOD, FP, &err), 0);
    assert_int_equal(store_vm_ssh_get(t->s, GOOD, &got, &err), 0);
    assert_string_equal(got.host_key_fingerprint, FP);
    assert_int_equal(got.host_port, 0);
    assert_int_equal(store_vm_ssh_port_set(t->s, GOOD, 40022, &err), 0);
    assert_int_equal(store_vm_ssh_get(t->s, GOOD, &got, &err), 0);
    assert_int_equal(got.host_port, 40022);
    /* a new key keeps the port */
    assert_int_equal(store_vm_ssh_key_set(t->s, GOOD,
                                          "SHA256:"
                                          "AAAAztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
                                          &err),
                     0);
    assert_int_equal(store_vm_ssh_get(t->s, GOOD, &got, &err), 0);
    assert_string_equal(got.host_key_fingerprint,
                        "SHA256:AAAAztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s");
    assert_int_equal(got.host_port, 40022);

    raw_hostile(t->s, "UPDATE vm_ssh SET host_key_fingerprint = 'SHA256:$(reboot)'");
    assert_int_equal(store_vm_ssh_get(t->s, GOOD, &got, &err), -EUCLEAN);
    assert_has(err.msg, "vm_ssh");
    assert_has(err.msg, "host_key_fingerprint: \"SHA256:$(reboot)\"");
    raw_hostile(t->s, "UPDATE vm_ssh SET host_key_fingerprint = '" FP "', host_port = 70000");
    assert_int_equal(store_vm_ssh_get(t->s, GOOD, &got, &err), -EUCLEAN);
    assert_has(err.msg, "host_port: 70000");
    struct store_corrupt *c = NULL;
    size_t n = 0;
    assert_int_equal(store_corrupt_list(t->s, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].table, "vm_ssh");
    store_corrupt_free(c, n);

    /* it goes with its VM */
    raw_hostile(t->s, "UPDATE vm_ssh SET host_port = NULL");
    assert_int_equal(store_object_delete(t->s, API_KIND_VM, GOOD, &err), 0);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm_ssh"), 0);
}

static void test_scan(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    struct store_corrupt *c = NULL;
    size_t n = 0;
    put_vm(t->s, GOOD, "good");
    assert_int_equal(store_corrupt_list(t->s, &c, &n, &err), 0);
    assert_int_equal(n, 0);
    store_corrupt_free(c, n);

    put_vm(t->s, "00000000000000bb", "evil");
    raw_hostile(t->s,
                "UPDATE vm SET uid = '../../canary' WHERE name = 'evil';"
                "INSERT INTO vm_runtime (uid, vmm, monitor_pid) VALUES ('" GOOD "', 'qemu', -1);"
                "INSERT INTO journal (op, kind, object_uid, step, owner_pid, owner_start, "
                "started, updated) VALUES ('vm.start', 'VM', 'x', 'intent', 5, 1, 1, 1);"
                "INSERT INTO pool (id, metadata_size, data_size, allocation_size, driver, name, "
                "state) VALUES (1, 8388608, 1073741824, 65536, 'zfs', 'ab', 'active');"
                "INSERT INTO pool_device (id, type, size, state, created) "
                "VALUES (9, 'Image', 0, 'active', 1);"
                "INSERT INTO kernel_file (uid, name, size) VALUES ('" GOOD "', '../x', 1)");
    assert_int_equal(store_corrupt_list(t->s, &c, &n, &err), 0);
    static const char *const want[][3] = {
        {"vm", "\"../../canary\"", "metadata.uid: \"../../canary\""},
        {"vm_runtime", "\"" GOOD "\"", "monitor_pid: -1"},
        {"journal", "\"1\"", "object_uid: \"x\""},
        {"pool", "\"1\"", "driver: \"zfs\""},
        {"pool_device", "\"9\"", "size: "},
        {"kernel_file", "\"" GOOD "\"", "name: \"../x\""},
    };
    assert_int_equal(n, ARRAY_SIZE(want));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(c[i].table, want[i][0]);
        assert_string_equal(c[i].key, want[i][1]);
        assert_has(c[i].problem, want[i][2]);
    }
    store_corrupt_free(c, n);
}

int run_check_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_objects, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_runtime, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_journal, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_pool, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_file, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_vm_ssh, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_scan, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store corrupt rows", tests, NULL, NULL);
}
