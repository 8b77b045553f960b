/*
 * Journal tests: an operation's row from begin through its steps to finish,
 * with the owner's pid and start time, and the operations view.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "store/store_test.h"

static void test_journal(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    uint64_t start = 0;
    assert_int_equal(proc_start_time(0, &start), 0);
    assert_true(start > 0);
    uint64_t start2 = 0;
    assert_int_equal(proc_start_time(getpid(), &start2), 0);
    assert_true(start == start2);
    assert_int_equal(proc_start_time(1, &start2), 0); /* init: older than us */
    assert_true(start2 <= start);
    assert_int_equal(proc_start_time(0x3fffffff, &start2), -ENOENT);

    int64_t a = 0, b = 0;
    assert_int_equal(
        store_op_begin(t->s, "vm.create", API_KIND_VM, "0123456789abcdef", "intent", &a, &err), 0);
    assert_int_equal(store_op_begin(t->s, "image.import", API_KIND_IMAGE, NULL, "pull", &b, &err),
                     0);
    assert_true(b > a);

    struct store_op *ops = NULL;
    size_t n = 0;
    assert_int_equal(store_op_list_open(t->s, &ops, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(ops[0].id == a);
    assert_string_equal(ops[0].op, "vm.create");
    assert_int_equal(ops[0].kind, API_KIND_VM);
    assert_string_equal(ops[0].object_uid, "0123456789abcdef");
    assert_string_equal(ops[0].step, "intent");
    assert_int_equal(ops[0].owner_pid, getpid());
    assert_true(ops[0].owner_start == start);
    assert_true(ops[0].started > 1600000000);
    assert_true(ops[0].finished == 0);
    assert_null(ops[0].error);
    assert_int_equal(ops[1].kind, API_KIND_IMAGE);
    assert_null(ops[1].object_uid);
    store_ops_free(ops, n);

    assert_int_equal(store_op_step(t->s, a, "act:mkfs", &err), 0);
    assert_int_equal(store_op_list_open(t->s, &ops, &n, &err), 0);
    assert_string_equal(ops[0].step, "act:mkfs");
    store_ops_free(ops, n);

    assert_int_equal(store_op_finish(t->s, a, NULL, &err), 0);
    assert_int_equal(store_op_finish(t->s, b, "registry said 404", &err), 0);
    assert_int_equal(store_op_list_open(t->s, &ops, &n, &err), 0);
    assert_int_equal(n, 0);
    store_ops_free(ops, n);
    /* Finished operations do not move any more. */
    assert_int_equal(store_op_step(t->s, a, "again", &err), -ENOENT);
    assert_int_equal(store_op_finish(t->s, a, NULL, &err), -ENOENT);
    assert_int_equal(store_op_step(t->s, 12345, "x", &err), -ENOENT);

    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM operations WHERE status = 'done' AND "
                                   "step = 'act:mkfs' AND finished IS NOT NULL"),
                     1);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM operations WHERE status = 'failed' AND "
                                   "error = 'registry said 404' AND kind = 'Image'"),
                     1);

    /* Inside a caller's transaction, a rollback takes the row back. */
    int64_t c = 0;
    assert_int_equal(store_begin(t->s, &err), 0);
    assert_int_equal(store_op_begin(t->s, "vm.rm", API_KIND_VM, "x", "intent", &c, &err), 0);
    store_rollback(t->s);
    assert_int_equal(store_op_list_open(t->s, &ops, &n, &err), 0);
    assert_int_equal(n, 0);
    store_ops_free(ops, n);
}

int run_journal_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store journal", tests, NULL, NULL);
}
