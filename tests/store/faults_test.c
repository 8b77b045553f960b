/*
 * Failure-path tests: every allocation the store makes while reading is made
 * to fail in turn (util_alloc_fail_after), and each call must then fail
 * cleanly with -ENOMEM (the sanitizer build checks that nothing leaks), and
 * succeed once the countdown passes its last allocation. Also the one
 * mapping from SQLite result codes to errno.
 */
#include <errno.h>
#include <string.h>

#include "store/store_test.h"

#define FAULT_MAX 2000 /* more allocations than any call below makes */

static void seed(store *s) {
    struct error err;
    struct api_object *a = make_vm("0123456789abcdef", "alpha", 1);
    struct api_object *b = make_vm("fedcba9876543210", "beta", 2);
    struct api_object *im = make_image("1111111111111111", "ubuntu");
    assert_int_equal(store_object_put(s, a, &err), 0);
    assert_int_equal(store_object_put(s, b, &err), 0);
    assert_int_equal(store_object_put(s, im, &err), 0);
    api_object_free(a);
    api_object_free(b);
    api_object_free(im);
    int64_t id;
    assert_int_equal(
        store_op_begin(s, "vm.create", API_KIND_VM, "00000000000000aa", "intent", &id, &err), 0);
}

static int noop_columns(void *ud, int n, const char *const *names) {
    (void)ud, (void)n, (void)names;
    return 0;
}
static int noop_row(void *ud, int n, const char *const *v, const enum store_value_type *t) {
    (void)ud, (void)n, (void)v, (void)t;
    return 0;
}

/* Runs call with the Nth allocation failing, for N = 1, 2, ... until it succeeds. */
#define TORTURE(call, cleanup_ok)                                                                  \
    do {                                                                                           \
        int n_;                                                                                    \
        for (n_ = 1; n_ < FAULT_MAX; n_++) {                                                       \
            util_alloc_fail_after(n_);                                                             \
            int r_ = (call);                                                                       \
            util_alloc_fail_after(0);                                                              \
            if (r_ == 0) {                                                                         \
                cleanup_ok;                                                                        \
                break;                                                                             \
            }                                                                                      \
            if (r_ != -ENOMEM)                                                                     \
                fail_msg("%s with allocation %d failing: %d (%s)", #call, n_, r_, err.msg);        \
        }                                                                                          \
        assert_true(n_ > 1 && n_ < FAULT_MAX);                                                     \
    } while (0)

static void test_alloc_failures(void **state) {
    struct tctx *t = *state;
    seed(t->s);
    struct error err;
    error_init(&err);
    struct api_object *obj = NULL;
    struct api_object **objs = NULL;
    size_t n = 0;
    struct store_match *m = NULL;
    struct store_op *ops = NULL;

    TORTURE(store_object_get(t->s, API_KIND_VM, "0123456789abcdef", &obj, &err),
            api_object_free(obj));
    TORTURE(store_object_get(t->s, API_KIND_IMAGE, "1111111111111111", &obj, &err),
            api_object_free(obj));
    TORTURE(store_object_list(t->s, API_KIND_VM, &objs, &n, &err), api_objects_free(objs, n));
    TORTURE(store_object_match(t->s, API_KIND_VM, "", 10, &m, &n, &err), store_matches_free(m, n));
    TORTURE(store_op_list_open(t->s, &ops, &n, &err), store_ops_free(ops, n));
    struct store_sql_sink sink = {noop_columns, noop_row, NULL, NULL};
    TORTURE(store_sql_query(t->s, "SELECT * FROM vms; SELECT x'00'", NULL, &sink, &err), (void)0);
    /* The failures left no transaction open. */
    assert_true(sqlite3_get_autocommit(t->s->db));
}

static void test_errno_mapping(void **state) {
    (void)state;
    assert_int_equal(store_errno(SQLITE_OK), 0);
    assert_int_equal(store_errno(SQLITE_BUSY), -EBUSY);
    assert_int_equal(store_errno(SQLITE_BUSY_SNAPSHOT), -EBUSY);
    assert_int_equal(store_errno(SQLITE_LOCKED), -EBUSY);
    assert_int_equal(store_errno(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
    assert_int_equal(store_errno(SQLITE_CONSTRAINT_PRIMARYKEY), -EEXIST);
    assert_int_equal(store_errno(SQLITE_CONSTRAINT_CHECK), -EINVAL);
    assert_int_equal(store_errno(SQLITE_CONSTRAINT_FOREIGNKEY), -EINVAL);
    assert_int_equal(store_errno(SQLITE_CONSTRAINT_NOTNULL), -EINVAL);
    assert_int_equal(store_errno(SQLITE_NOTFOUND), -ENOENT);
    assert_int_equal(store_errno(SQLITE_FULL), -ENOSPC);
    assert_int_equal(store_errno(SQLITE_READONLY), -EPERM);
    assert_int_equal(store_errno(SQLITE_PERM), -EPERM);
    assert_int_equal(store_errno(SQLITE_AUTH), -EPERM);
    assert_int_equal(store_errno(SQLITE_CANTOPEN), -EACCES);
    assert_int_equal(store_errno(SQLITE_NOMEM), -ENOMEM);
    assert_int_equal(store_errno(SQLITE_CORRUPT), -EIO);
    assert_int_equal(store_errno(SQLITE_NOTADB), -EIO);
    assert_int_equal(store_errno(SQLITE_IOERR_FSYNC), -EIO);
    assert_int_equal(store_errno(SQLITE_ERROR), -EIO);
}

int run_fault_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alloc_failures, tctx_setup, tctx_teardown),
        cmocka_unit_test(test_errno_mapping),
    };
    return cmocka_run_group_tests_name("store faults", tests, NULL, NULL);
}
