/*
 * store_open_read: a database opened read-only for a root that cannot be
 * written. It reads what the read-write store wrote, including changes still
 * in the WAL; it writes nothing; without an -shm it reads the database file
 * alone when no WAL is left to apply, and says so when one is; a schema that
 * is not this binary's is refused; paths with URI characters work.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_test.h"

static void seed(store *s) {
    struct error err;
    struct api_object *a = make_vm("0123456789abcdef", "alpha", 1);
    assert_int_equal(store_object_put(s, a, &err), 0);
    api_object_free(a);
}

static off_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The name of the VM with the seeded uid, read through s. */
static void assert_vm_name(store *s, const char *want) {
    struct api_object *obj = NULL;
    struct error err;
    error_init(&err);
    if (store_object_get(s, API_KIND_VM, "0123456789abcdef", &obj, &err) < 0)
        fail_msg("store_object_get: %s", err.msg);
    assert_string_equal(obj->meta.name, want);
    api_object_free(obj);
}

/*
 * Renames the VM through a raw connection that leaves its change in the WAL
 * (no checkpoint when it closes), as a process that died after committing.
 */
static void rename_in_wal(const char *path, const char *name) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL), SQLITE_OK);
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE vm SET name = '%s'", name);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_read_only(void **state) {
    struct tctx *t = *state;
    seed(t->s);
    store_free(t->s); /* the last connection: the WAL is checkpointed and emptied */
    t->s = NULL;
    char wal[320], shm[320];
    snprintf(wal, sizeof(wal), "%s-wal", t->path);
    snprintf(shm, sizeof(shm), "%s-shm", t->path);
    assert_int_equal(file_size(wal), 0);
    struct stat before;
    assert_int_equal(stat(t->path, &before), 0);

    struct error err;
    error_init(&err);
    store *s = NULL;
    if (store_open_read(t->path, &s, &err) < 0)
        fail_msg("store_open_read: %s", err.msg);
    assert_vm_name(s, "alpha");
    assert_int_equal(store_schema_version(s), store_schema_latest());
    assert_int_equal(sqlite3_db_readonly(s->db, "main"), 1);
    /* Writes fail, and change nothing. */
    struct api_object *b = make_vm("fedcba9876543210", "beta", 2);
    assert_true(store_object_put(s, b, &err) < 0);
    api_object_free(b);
    /* hearth sql works on it (query_only is the connection's own). */
    struct store_sql_sink sink = {NULL, NULL, NULL, NULL};
    if (store_sql_query(s, "SELECT count(*) FROM vms", NULL, &sink, &err) < 0)
        fail_msg("sql: %s", err.msg);
    store_free(s);
    struct stat after;
    assert_int_equal(stat(t->path, &after), 0);
    assert_true(after.st_mtime == before.st_mtime && after.st_size == before.st_size);
    assert_int_equal(file_size(wal), 0);

    /* A change still in the WAL is read, through the -shm. */
    rename_in_wal(t->path, "renamed");
    assert_true(file_size(wal) > 0);
    assert_int_equal(store_open_read(t->path, &s, &err), 0);
    assert_vm_name(s, "renamed");
    store_free(s);

    /* Without the -shm it cannot be: that is said, not a stale state shown. */
    assert_int_equal(unlink(shm), 0);
    assert_int_equal(store_open_read(t->path, &s, &err), -EIO);
    assert_non_null(strstr(err.msg, "has changes in"));
    assert_non_null(strstr(err.msg, "-shm', which is missing"));
    assert_int_equal(access(shm, F_OK), -1);

    /* A read-write open applies it; with the WAL empty and no -shm the file alone is read. */
    error_init(&err);
    if (store_open(t->path, &s, &err) < 0)
        fail_msg("store_open: %s", err.msg);
    store_free(s);
    assert_int_equal(file_size(wal), 0);
    assert_int_equal(unlink(shm), 0);
    if (store_open_read(t->path, &s, &err) < 0)
        fail_msg("store_open_read without -shm: %s", err.msg);
    assert_vm_name(s, "renamed");
    store_free(s);
    assert_int_equal(access(shm, F_OK), -1); /* nothing was made */
    assert_int_equal(unlink(wal), 0);
    assert_int_equal(store_open_read(t->path, &s, &err), 0);
    assert_vm_name(s, "renamed");
    store_free(s);
}

static void test_read_only_schema(void **state) {
    struct tctx *t = *state;
    store_free(t->s);
    t->s = NULL;
    struct error err;
    error_init(&err);
    store *s = NULL;
    /* Newer than this binary. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest() + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(store_open_read(t->path, &s, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "upgrade hearth"));
    /* Older: it needs a migration, which a read-only open does not run. */
    assert_int_equal(unlink(t->path), 0);
    assert_int_equal(store_open_version(t->path, 1, &s, &err), 0);
    store_free(s);
    assert_int_equal(store_open_read(t->path, &s, &err), -EPROTO);
    char want[128];
    snprintf(want, sizeof(want), "has schema version 1 and this hearth needs %d",
             store_schema_latest());
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "only where it can write"));
    assert_int_equal(store_open_version(t->path, 1, &s, &err), 0);
    assert_int_equal(store_schema_version(s), 1);
    store_free(s);
    /* No database: nothing is made. */
    char none[320];
    snprintf(none, sizeof(none), "%s/none.db", t->dir);
    assert_true(store_open_read(none, &s, &err) < 0);
    assert_int_equal(access(none, F_OK), -1);
}

/* A path with what a URI gives meaning to: '?', '#', '%', a space. */
static void test_read_only_path(void **state) {
    struct tctx *t = *state;
    char dir[320], path[340];
    snprintf(dir, sizeof(dir), "%s/a ?b#c%%41", t->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/hearth.db", dir);
    struct error err;
    error_init(&err);
    store *s = NULL;
    if (store_open(path, &s, &err) < 0)
        fail_msg("store_open: %s", err.msg);
    seed(s);
    store_free(s);
    if (store_open_read(path, &s, &err) < 0)
        fail_msg("store_open_read: %s", err.msg);
    assert_vm_name(s, "alpha");
    store_free(s);
}

int run_readonly_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_only, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_schema, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_path, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store read-only", tests, NULL, NULL);
}
