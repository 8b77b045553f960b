/*
 * Tests of the table of operations (ops.c) and the transactions of one
 * operation (journal.c): which names have a row, an intent's rows and
 * journal row committed or rolled back together, a commit and an abort
 * closing the row, and a dead operation found by the one recovery loop at
 * engine_open and by doctor, which describes it by its row and repairs it
 * with the row's recover function.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"
#include "store/store_priv.h"

struct ofix {
    char dir[256];
    char root[300];
    engine *eng;
};

static int of_setup(void **state) {
    struct ofix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-ops-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    engine_test_reopen(f->root, &f->eng);
    *state = f;
    return 0;
}

static int of_teardown(void **state) {
    struct ofix *f = *state;
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* The open journal row id, as the store reads it back: 1 and *ret, or 0 when closed. */
static int op_get(struct ofix *f, int64_t id, struct store_op *ret) {
    struct store_op *ops = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    assert_int_equal(store_op_list_recent(f->eng->store, 100, &ops, &n, &err), 0);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].id == id) {
            *ret = ops[i];
            memset(&ops[i], 0, sizeof(ops[i]));
            found = 1;
        }
    store_ops_free(ops, n);
    return found;
}

static void op_free(struct store_op *op) {
    free(op->op);
    free(op->object_uid);
    free(op->step);
    free(op->error);
    free(op->params);
}

static void test_ops_rows(void **state) {
    (void)state;
    static const char *const recovered[] = {
        "pool.init",     "pool.create",  "pool.snapshot", "pool.remove",    "image.import",
        "image.restore", "image.remove", "kernel.import", "kernel.restore", "kernel.remove",
        "vm.layer",      "vm.create",    "vm.start",      "vm.stop",        "vm.remove"};
    for (size_t i = 0; i < sizeof(recovered) / sizeof(recovered[0]); i++) {
        const struct engine_op_row *row = engine_op_row_find(recovered[i]);
        assert_non_null(row);
        assert_non_null(row->recover);
        assert_int_equal(row->subject, strncmp(recovered[i], "pool.", 5) == 0 ? ENGINE_OP_DEVICE
                                                                              : ENGINE_OP_OBJECT);
    }
    /* The VM runtime's have one recover function, which knows its operations only. */
    assert_ptr_equal(engine_op_row_find("vm.start")->recover, engine_vm_run_recover_op);
    assert_ptr_equal(engine_op_row_find("vm.stop")->recover, engine_vm_run_recover_op);
    assert_ptr_equal(engine_op_row_find("vm.remove")->recover, engine_vm_run_recover_op);
    assert_null(engine_op_row_find("net.lease"));
    assert_null(engine_op_row_find("image.imports"));
    assert_null(engine_op_row_find("pool"));
    assert_null(engine_op_row_find(NULL));
}

/* Rows for the helpers' tests: a pool spec recorded, or a refusal. */
static int rows_put(engine *e, void *ud, struct error *err) {
    (void)ud;
    struct store_pool sp = {.data_size = 1u << 30, .allocation_size = 1u << 16};
    return store_pool_put(e->store, &sp, err);
}

static int rows_fail(engine *e, void *ud, struct error *err) {
    int r = rows_put(e, ud, err);
    return r < 0 ? r : error_set(err, -EBUSY, "refused by the test");
}

static int rows_nothing(engine *e, void *ud, struct error *err) {
    int r = rows_put(e, ud, err);
    return r < 0 ? r : 7;
}

/* Whether the pool table has its row (read as SQL: the test's spec is no valid pool). */
static bool pool_recorded(struct ofix *f) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f->eng->store->db, "SELECT count(*) FROM pool", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n > 0;
}

static void test_ops_transactions(void **state) {
    struct ofix *f = *state;
    struct error err;
    error_init(&err);
    size_t before = engine_test_open_ops(f->eng);

    /* A failing part rolls the whole intent back: no rows, no journal row. */
    struct engine_op op = {.name = "pool.init", .kind = API_KIND_POOL, .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &op, rows_fail, NULL, NULL, &err), -EBUSY);
    assert_string_equal(err.msg, "refused by the test");
    assert_false(pool_recorded(f));
    assert_int_equal(op.id, 0);
    assert_int_equal(engine_test_open_ops(f->eng), before);
    /* Nothing to do: rolled back too, and the rows' value given back. */
    error_init(&err);
    assert_int_equal(engine_op_intent(f->eng, &op, rows_nothing, NULL, NULL, &err), 7);
    assert_false(pool_recorded(f));
    assert_int_equal(engine_test_open_ops(f->eng), before);

    /* An intent: its rows and its journal row at step "intent", owned by this process. */
    assert_int_equal(engine_op_intent(f->eng, &op, rows_put, NULL, NULL, &err), 0);
    assert_true(op.id > 0);
    assert_true(pool_recorded(f));
    assert_int_equal(engine_test_open_ops(f->eng), before + 1);
    struct store_op got;
    assert_int_equal(op_get(f, op.id, &got), 1);
    assert_string_equal(got.op, "pool.init");
    assert_string_equal(got.step, "intent");
    assert_int_equal(got.owner_pid, getpid());
    assert_int_equal(got.finished, 0);
    op_free(&got);
    /* An abort closes it with the reason, with its rows. */
    assert_int_equal(engine_op_abort(f->eng, op.id, "undone by the test", NULL, NULL, &err), 0);
    assert_int_equal(op_get(f, op.id, &got), 1);
    assert_true(got.finished > 0);
    assert_string_equal(got.error, "undone by the test");
    op_free(&got);
    assert_int_equal(engine_test_open_ops(f->eng), before);

    /* A commit whose rows fail leaves the row open (recovery's), else closes it as succeeded. */
    struct engine_op op2 = {
        .name = "image.import", .kind = API_KIND_IMAGE, .uid = "0123456789abcdef", .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &op2, NULL, NULL, NULL, &err), 0);
    assert_int_equal(engine_op_commit(f->eng, op2.id, rows_fail, NULL, NULL, &err), -EBUSY);
    assert_int_equal(engine_test_open_ops(f->eng), before + 1);
    error_init(&err);
    assert_int_equal(engine_op_commit(f->eng, op2.id, NULL, NULL, NULL, &err), 0);
    assert_int_equal(op_get(f, op2.id, &got), 1);
    assert_true(got.finished > 0);
    assert_null(got.error);
    assert_string_equal(got.object_uid, "0123456789abcdef");
    op_free(&got);
    assert_int_equal(engine_test_open_ops(f->eng), before);
    /* An object's operation has no device: refused, nothing recorded. */
    struct engine_op bad = {
        .name = "image.import", .kind = API_KIND_IMAGE, .uid = "0123456789abcdef", .device_id = 3};
    assert_int_equal(engine_op_intent(f->eng, &bad, NULL, NULL, NULL, &err), -EINVAL);
    assert_int_equal(engine_test_open_ops(f->eng), before);
}

/*
 * Doctor finds dead operations through the table (a VM's among them),
 * describes each by its row and repairs it; engine_ops_recover, the loop
 * engine_open runs, finishes a dead VM operation without engine_vm_refresh.
 */
static void test_ops_doctor_and_open(void **state) {
    struct ofix *f = *state;
    struct error err;
    error_init(&err);
    static const char uid[] = "0123456789abcdef";
    struct engine_op imp = {
        .name = "image.import", .kind = API_KIND_IMAGE, .uid = uid, .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &imp, NULL, NULL, NULL, &err), 0);
    struct engine_op start = {.name = "vm.start", .kind = API_KIND_VM, .uid = uid, .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &start, NULL, NULL, NULL, &err), 0);
    pid_t dead = engine_test_op_owner_dead(f->eng, imp.id);
    pid_t dead_start = engine_test_op_owner_dead(f->eng, start.id);

    struct engine_doctor_report rep = {0};
    assert_int_equal(engine_doctor(f->eng, false, &rep, &err), 0);
    assert_int_equal(rep.n, 2); /* in the journal's order */
    char want[256];
    snprintf(want, sizeof(want),
             "image.import of %s stopped at step 'intent': its process %d is gone", uid, (int)dead);
    for (size_t i = 0; i < rep.n; i++)
        print_message("  doctor: %s %s: %s\n", rep.items[i].kind, rep.items[i].object,
                      rep.items[i].message);
    assert_string_equal(rep.items[0].kind, "interrupted-operation");
    assert_string_equal(rep.items[0].message, want);
    assert_false(rep.items[0].repaired);
    snprintf(want, sizeof(want), "vm.start of %s stopped at step 'intent': its process %d is gone",
             uid, (int)dead_start);
    assert_string_equal(rep.items[1].kind, "interrupted-operation");
    assert_string_equal(rep.items[1].message, want);
    assert_false(rep.items[1].repaired);
    engine_doctor_report_release(&rep);
    assert_int_equal(engine_doctor(f->eng, true, &rep, &err), 0);
    assert_int_equal(rep.n, 2);
    assert_true(rep.items[0].repaired);
    assert_true(rep.items[1].repaired);
    engine_doctor_report_release(&rep);
    struct store_op got;
    assert_int_equal(op_get(f, imp.id, &got), 1);
    assert_true(got.finished > 0);
    assert_string_equal(got.error, "interrupted; rolled back");
    op_free(&got);
    /* No VM recorded: the start is rolled back, and nothing is left to repair. */
    assert_int_equal(op_get(f, start.id, &got), 1);
    assert_true(got.finished > 0);
    assert_string_equal(got.error, "interrupted; rolled back");
    op_free(&got);
    assert_int_equal(engine_doctor(f->eng, false, &rep, &err), 0);
    assert_int_equal(rep.n, 0);
    engine_doctor_report_release(&rep);

    /* The table's loop alone finishes a dead vm.stop (forward: no error recorded). */
    struct engine_op stop = {.name = "vm.stop", .kind = API_KIND_VM, .uid = uid, .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &stop, NULL, NULL, NULL, &err), 0);
    (void)engine_test_op_owner_dead(f->eng, stop.id);
    size_t n = 0;
    assert_int_equal(engine_ops_recover(f->eng, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(op_get(f, stop.id, &got), 1);
    assert_true(got.finished > 0);
    assert_null(got.error);
    op_free(&got);

    /* A dead pool operation: described by its device; engine_open's one loop finishes it. */
    struct engine_op rm = {.name = "pool.remove", .kind = API_KIND_POOL, .device_id = 5};
    assert_int_equal(engine_op_intent(f->eng, &rm, NULL, NULL, NULL, &err), 0);
    dead = engine_test_op_owner_dead(f->eng, rm.id);
    assert_int_equal(engine_doctor(f->eng, false, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    snprintf(want, sizeof(want),
             "pool.remove of device 5 stopped at step 'intent': its process %d "
             "is gone",
             (int)dead);
    assert_string_equal(rep.items[0].message, want);
    engine_doctor_report_release(&rep);
    struct engine_op imp2 = {
        .name = "kernel.import", .kind = API_KIND_KERNEL, .uid = uid, .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &imp2, NULL, NULL, NULL, &err), 0);
    (void)engine_test_op_owner_dead(f->eng, imp2.id);
    /* A VM operation whose owner lives (this process) is left to it by the loop and the refresh. */
    struct engine_op live = {.name = "vm.remove", .kind = API_KIND_VM, .uid = uid, .device_id = -1};
    assert_int_equal(engine_op_intent(f->eng, &live, NULL, NULL, NULL, &err), 0);
    engine_test_reopen(f->root, &f->eng);
    assert_int_equal(op_get(f, imp2.id, &got), 1);
    assert_true(got.finished > 0);
    assert_string_equal(got.error, "interrupted; rolled back");
    op_free(&got);
    assert_int_equal(op_get(f, live.id, &got), 1);
    assert_int_equal(got.finished, 0);
    op_free(&got);
}

const struct CMUnitTest engine_ops_tests[] = {
    cmocka_unit_test(test_ops_rows),
    cmocka_unit_test_setup_teardown(test_ops_transactions, of_setup, of_teardown),
    cmocka_unit_test_setup_teardown(test_ops_doctor_and_open, of_setup, of_teardown),
};
const size_t engine_ops_tests_n = sizeof(engine_ops_tests) / sizeof(engine_ops_tests[0]);
