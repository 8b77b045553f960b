/*
 * Migration tests: a database made at migration 1 is brought to the latest
 * with its data intact and a copy set aside first; a database newer than
 * the binary is refused; reopening a current database changes nothing.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_test.h"

/* A directory with no database yet (tctx_setup would create one). */
static int dir_setup(void **state) {
    int r = tctx_setup(state);
    struct tctx *t = *state;
    store_free(t->s);
    t->s = NULL;
    char p[400];
    unlink(t->path);
    snprintf(p, sizeof(p), "%s-wal", t->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", t->path);
    unlink(p);
    return r;
}

static void test_migrate_from_1(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    store *old = NULL;
    assert_int_equal(store_open_version(t->path, 1, &old, &err), 0);
    assert_int_equal(store_schema_version(old), 1);
    /* Only migration 1's tables are there. */
    assert_int_equal(raw_int(old, "SELECT count(*) FROM sqlite_schema WHERE name = 'journal'"), 0);
    /* Rows as a hearth of schema 1 wrote them. */
    raw_exec(old,
             "INSERT INTO vm (uid, name, created, has_image_claim, image_type, image_ref, "
             "has_kernel_claim, kernel_type, kernel_ref, cmdline, cpus, memory, disk_size, "
             "network_mode, has_ssh, state, image_internal_uid) VALUES "
             "('0123456789abcdef', 'old-vm', 1600000000, 1, 'Docker', 'ubuntu', 0, NULL, NULL, "
             "'console=ttyS0', 2, 536870912, 4294967296, 'bridge', 0, 'Stopped', "
             "'fedcba9876543210');"
             "INSERT INTO vm_meta VALUES ('0123456789abcdef', 'labels', 0, 'env', 'prod');"
             "INSERT INTO vm_ports VALUES ('0123456789abcdef', 0, 2222, 22, NULL, NULL);"
             "INSERT INTO vm_ip_addresses VALUES ('0123456789abcdef', 0, '10.0.0.5');"
             "INSERT INTO image (uid, name, created, claim_type, claim_ref, source_size) VALUES "
             "('fedcba9876543210', 'ubuntu', 1500000000, 'Docker', 'ubuntu', 100);");
    store_free(old);

    char backup[400];
    snprintf(backup, sizeof(backup), "%s.pre-0002", t->path);
    assert_int_not_equal(access(backup, F_OK), 0);

    mode_t umask_was = umask(0); /* the copy is private whatever the umask */
    int opened = store_open(t->path, &t->s, &err);
    umask(umask_was);
    assert_int_equal(opened, 0);
    assert_int_equal(store_schema_version(t->s), store_schema_latest());
    struct stat bst;
    assert_int_equal(stat(backup, &bst), 0);
    if ((bst.st_mode & 07777) != 0600)
        fail_msg("%s has mode %04o, want 0600", backup, (unsigned)(bst.st_mode & 07777));

    struct api_object *vm = NULL;
    if (store_object_get(t->s, API_KIND_VM, "0123456789abcdef", &vm, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(vm->meta.name, "old-vm");
    assert_true(vm->meta.created == 1600000000);
    assert_non_null(vm->u.vm.image_claim);
    assert_string_equal(vm->u.vm.image_claim->ref, "ubuntu");
    assert_null(vm->u.vm.kernel_claim);
    assert_int_equal(vm->u.vm.cpus, 2);
    assert_int_equal(vm->u.vm.memory, 536870912);
    assert_true(vm->u.vm.disk_size == 4294967296ull);
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Stopped");
    assert_int_equal(vm->meta.n_labels, 1);
    assert_string_equal(vm->meta.labels[0].value, "prod");
    assert_int_equal(vm->u.vm.n_ports, 1);
    assert_int_equal(vm->u.vm.ports[0].host_port, 2222);
    assert_int_equal(vm->u.vm.n_ip_addresses, 1);
    api_object_free(vm);

    /* The views of migration 3 see the old rows. */
    assert_int_equal(raw_int(t->s,
                             "SELECT count(*) FROM vms WHERE name = 'old-vm' AND "
                             "created = '2020-09-13T12:26:40Z' AND ips = '10.0.0.5' AND "
                             "ports = '0.0.0.0:2222->22/tcp' AND labels = '{\"env\":\"prod\"}' "
                             "AND memory_bytes = 536870912"),
                     1);
    assert_int_equal(raw_int(t->s, "SELECT vm_count FROM images WHERE name = 'ubuntu'"), 1);
    /* The new tables work. */
    int64_t id = 0;
    assert_int_equal(
        store_op_begin(t->s, "vm.start", API_KIND_VM, "0123456789abcdef", "intent", &id, &err), 0);

    /* The copy is the database as it was: at version 1, with the row. */
    store *copy = NULL;
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open_v2(backup, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT name FROM vm", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "old-vm");
    sqlite3_finalize(st);
    sqlite3_close(raw);
    (void)copy;

    /* Reopening a current database migrates nothing and copies nothing. */
    store_free(t->s);
    t->s = NULL;
    unlink(backup);
    assert_int_equal(store_open(t->path, &t->s, &err), 0);
    assert_int_not_equal(access(backup, F_OK), 0);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 1);
}

static void test_migrate_stepwise(void **state) {
    struct tctx *t = *state;
    struct error err;
    store *s = NULL;
    assert_int_equal(store_open_version(t->path, 2, &s, &err), 0);
    assert_int_equal(store_schema_version(s), 2);
    raw_exec(s, "INSERT INTO journal (op, kind, step, owner_pid, owner_start, started, updated) "
                "VALUES ('vm.create', 'VM', 'intent', 1, 0, 0, 0)");
    store_free(s);
    assert_int_equal(store_open(t->path, &t->s, &err), 0);
    char p[400];
    snprintf(p, sizeof(p), "%s.pre-0003", t->path);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s.pre-0002", t->path);
    assert_int_not_equal(access(p, F_OK), 0);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM operations WHERE status = 'running'"), 1);
}

static void test_newer_refused(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    store *s = NULL;
    assert_int_equal(store_open(t->path, &s, &err), 0);
    raw_exec(s, "PRAGMA user_version = 999");
    store_free(s);
    s = NULL;
    assert_int_equal(store_open(t->path, &s, &err), -EPROTO);
    assert_null(s);
    char want[600];
    snprintf(want, sizeof(want),
             "database '%s' has schema version 999 but this hearth knows only up to %d: "
             "upgrade hearth",
             t->path, store_schema_latest());
    assert_string_equal(err.msg, want);
    /* Refusing did not touch it. */
    char p[400];
    snprintf(p, sizeof(p), "%s.pre-1000", t->path);
    assert_int_not_equal(access(p, F_OK), 0);
}

static void test_open_errors(void **state) {
    struct tctx *t = *state;
    struct error err;
    store *s = NULL;
    char p[400];
    snprintf(p, sizeof(p), "%s/missing/dir/hearth.db", t->dir);
    int r = store_open(p, &s, &err);
    assert_true(r == -ENOENT || r == -EACCES);
    assert_non_null(strstr(err.msg, p));
    /* Not a database. */
    snprintf(p, sizeof(p), "%s/junk.db", t->dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database at all. ", f);
    fclose(f);
    assert_int_equal(store_open(p, &s, &err), -EIO);
    assert_non_null(strstr(err.msg, "junk.db"));
}

/* A new database, its -wal and its -shm are 0600 whatever the umask. */
static void test_new_database_private(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    mode_t old = umask(0);
    int r = store_open(t->path, &t->s, &err);
    umask(old);
    assert_int_equal(r, 0);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 0); /* the WAL is in use */
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char p[400];
        snprintf(p, sizeof(p), "%s%s", t->path, suffixes[i]);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        if ((st.st_mode & 07777) != 0600)
            fail_msg("%s has mode %04o, want 0600", p, (unsigned)(st.st_mode & 07777));
    }
}

int run_migration_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_from_1, dir_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_stepwise, dir_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_newer_refused, dir_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, dir_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_new_database_private, dir_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store migrations", tests, NULL, NULL);
}
