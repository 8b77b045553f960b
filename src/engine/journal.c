/*
 * engine journal: the transactions of one operation's journal row
 * (engine_priv.h, "operations"): its intent (with the rows the caller
 * records in the same transaction), its commit or abort, adoption from a
 * dead owner, and the recovery of the dead rows that a list of table rows
 * names. The table itself is ops.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

bool engine_op_row_matches(const struct engine_op_row *row, const char *name) {
    size_t n = strlen(row->name);
    if (n > 0 && row->name[n - 1] == '.')
        return strncmp(name, row->name, n) == 0;
    return strcmp(name, row->name) == 0;
}

int engine_op_adopt(engine *e, const struct store_op *op, struct error *err) {
    int r = store_op_adopt(e->store, op->id, op->owner_pid, op->owner_start, err);
    if (r == -ESRCH) {
        error_init(err);
        return 0; /* someone else finished it */
    }
    return r < 0 ? r : 1;
}

void engine_op_subject(const struct engine_op_row *row, const struct store_op *op, char *buf,
                       size_t size) {
    if (row && row->subject == ENGINE_OP_DEVICE)
        snprintf(buf, size, "device %lld", (long long)op->device_id);
    else
        snprintf(buf, size, "%s", op->object_uid ? op->object_uid : "?");
}

/* Recovers the dead operations in ops of one row; the first failure is kept in err. */
static int row_recover(engine *e, const struct engine_op_row *row, const struct store_op *ops,
                       size_t n, size_t *done, int first, struct error *err) {
    for (size_t i = 0; i < n; i++) {
        const struct store_op *op = &ops[i];
        if (!engine_op_row_matches(row, op->op) || proc_is_alive(op->owner_pid, op->owner_start))
            continue;
        struct error e2;
        error_init(&e2);
        int r = row->recover(e, op, &e2);
        if (r == 0) {
            (*done)++;
            continue;
        }
        char subject[48];
        engine_op_subject(row, op, subject, sizeof(subject));
        log_warn("recovery: operation %lld (%s of %s): %s", (long long)op->id, op->op, subject,
                 e2.msg);
        if (first == 0)
            first = error_set(err, r, "operation %lld (%s of %s): %s", (long long)op->id, op->op,
                              subject, e2.msg);
    }
    return first;
}

int engine_ops_recover_rows(engine *e, const struct engine_op_row *rows, size_t n_rows,
                            size_t *ret_n, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0, done = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    int first = 0;
    for (size_t k = 0; k < n_rows; k++)
        if (rows[k].recover)
            first = row_recover(e, &rows[k], ops, n, &done, first, err);
    store_ops_free(ops, n);
    if (ret_n)
        *ret_n = done;
    return first;
}

void engine_op_release(struct store_op *op) {
    free(op->op);
    free(op->object_uid);
    free(op->step);
    free(op->error);
    free(op->params);
}

int engine_op_find_open(engine *e, const char *name, const char *uid, int64_t device_id,
                        struct store_op *ret, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (strcmp(ops[i].op, name) != 0)
            continue;
        if (uid ? !ops[i].object_uid || strcmp(ops[i].object_uid, uid) != 0
                : ops[i].device_id != device_id)
            continue;
        *ret = ops[i];
        memset(&ops[i], 0, sizeof(ops[i]));
        found = 1;
    }
    store_ops_free(ops, n);
    return found;
}

/* ---- the transactions of an operation ---------------------------------- */

/* The journal row of op at step "intent", inside the open transaction. */
static int journal_insert(engine *e, struct engine_op *op, struct error *err) {
    if (op->kind == API_KIND_VM)
        return store_vm_op_begin(e->store, op->name, op->uid, "intent", op->device_id, op->params,
                                 &op->id, err);
    if (op->uid) {
        if (op->device_id >= 0 || op->params)
            return error_set(err, -EINVAL, "operation %s: an object's operation has no device",
                             op->name);
        return store_op_begin(e->store, op->name, op->kind, op->uid, "intent", &op->id, err);
    }
    return store_op_begin_device(e->store, op->name, op->kind, "intent", op->device_id, op->params,
                                 &op->id, err);
}

int engine_op_intent(engine *e, struct engine_op *op, engine_op_rows_fn *rows, void *ud,
                     const char *fault, struct error *err) {
    int r = store_begin(e->store, err);
    if (r < 0)
        return r;
    if (rows)
        r = rows(e, ud, err);
    if (r == 0)
        r = journal_insert(e, op, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r != 0) {
        store_rollback(e->store);
        return r;
    }
    if (fault)
        fault_point(fault);
    return 0;
}

/* One transaction: rows, then journal row id closed with why (NULL: succeeded). */
static int close_op(engine *e, int64_t id, const char *why, engine_op_rows_fn *rows, void *ud,
                    struct error *err) {
    int r = store_begin(e->store, err);
    if (r < 0)
        return r;
    if (rows)
        r = rows(e, ud, err);
    if (r == 0 && id > 0)
        r = store_op_finish(e->store, id, why, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        store_rollback(e->store);
    return r;
}

int engine_op_commit(engine *e, int64_t id, engine_op_rows_fn *rows, void *ud, const char *fault,
                     struct error *err) {
    int r = close_op(e, id, NULL, rows, ud, err);
    if (r < 0)
        return r;
    if (fault)
        fault_point(fault);
    return 0;
}

int engine_op_abort(engine *e, int64_t id, const char *why, engine_op_rows_fn *rows, void *ud,
                    struct error *err) {
    int r = close_op(e, id, why, rows, ud, err);
    if (r < 0)
        log_warn("operation %lld: %s", (long long)id, err->msg);
    return r;
}
