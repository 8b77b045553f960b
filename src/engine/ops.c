/*
 * engine ops: the table of operations and the steps they share
 * (engine_priv.h, "operations"). Each row names an operation of the
 * journal, the function that recovers it when its process died, and what
 * doctor says of it; engine_open recovers every row's dead operations here,
 * and doctor reads the same table. engine_op_intent, _commit and _abort
 * are the transactions of design.md's protocol around an operation's act.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

/*
 * In recovery order: the pool's first (the others remove devices through
 * the pool and finish a device operation of their own first), then images
 * and kernels (a VM's disk chain hangs from them), then the VM disk builds
 * (shared layers before the creates that wait for them).
 */
static const struct engine_op_row ops_table[] = {
    {"pool.", engine_pool_recover_op, ENGINE_OP_DEVICE},
    {"image.import", engine_import_recover_op, ENGINE_OP_OBJECT},
    {"image.restore", engine_import_recover_op, ENGINE_OP_OBJECT},
    {"image.remove", engine_import_recover_op, ENGINE_OP_OBJECT},
    {"kernel.import", engine_import_recover_op, ENGINE_OP_OBJECT},
    {"kernel.restore", engine_import_recover_op, ENGINE_OP_OBJECT},
    {"kernel.remove", engine_import_recover_op, ENGINE_OP_OBJECT},
    {"vm.layer", engine_layer_recover_op, ENGINE_OP_OBJECT},
    {"vm.create", engine_vm_create_recover_op, ENGINE_OP_OBJECT},
    /* engine_vm_refresh (vm_run.c) finishes these with the VMs whose monitor died. */
    {"vm.start", NULL, ENGINE_OP_OBJECT},
    {"vm.stop", NULL, ENGINE_OP_OBJECT},
    {"vm.remove", NULL, ENGINE_OP_OBJECT},
};

static bool row_matches(const struct engine_op_row *row, const char *name) {
    size_t n = strlen(row->name);
    if (n > 0 && row->name[n - 1] == '.')
        return strncmp(name, row->name, n) == 0;
    return strcmp(name, row->name) == 0;
}

const struct engine_op_row *engine_op_row_find(const char *name) {
    for (size_t i = 0; name && i < ARRAY_SIZE(ops_table); i++)
        if (row_matches(&ops_table[i], name))
            return &ops_table[i];
    return NULL;
}

/* ---- recovery ---------------------------------------------------------- */

int engine_op_adopt(engine *e, const struct store_op *op, struct error *err) {
    int r = store_op_adopt(e->store, op->id, op->owner_pid, op->owner_start, err);
    if (r == -ESRCH) {
        error_init(err);
        return 0; /* someone else finished it */
    }
    return r < 0 ? r : 1;
}

int engine_op_recover(engine *e, const struct store_op *op, struct error *err) {
    const struct engine_op_row *row = engine_op_row_find(op->op);
    if (!row || !row->recover)
        return 0;
    return row->recover(e, op, err);
}

void engine_op_describe(const struct store_op *op, char *buf, size_t size) {
    const struct engine_op_row *row = engine_op_row_find(op->op);
    char subject[48];
    if (row && row->subject == ENGINE_OP_DEVICE)
        snprintf(subject, sizeof(subject), "device %lld", (long long)op->device_id);
    else
        snprintf(subject, sizeof(subject), "%s", op->object_uid ? op->object_uid : "?");
    snprintf(buf, size, "%s of %s stopped at step '%s': its process %d is gone", op->op, subject,
             op->step, op->owner_pid);
}

/* Recovers the dead operations in ops of one row; the first failure is kept in err. */
static int row_recover(engine *e, const struct engine_op_row *row, const char *prefix,
                       const struct store_op *ops, size_t n, size_t *done, int first,
                       struct error *err) {
    for (size_t i = 0; i < n; i++) {
        const struct store_op *op = &ops[i];
        if (!row_matches(row, op->op) || (prefix && !str_starts_with(op->op, prefix)) ||
            proc_is_alive(op->owner_pid, op->owner_start))
            continue;
        struct error e2;
        error_init(&e2);
        int r = row->recover(e, op, &e2);
        if (r == 0) {
            (*done)++;
            continue;
        }
        char subject[48];
        if (row->subject == ENGINE_OP_DEVICE)
            snprintf(subject, sizeof(subject), "device %lld", (long long)op->device_id);
        else
            snprintf(subject, sizeof(subject), "%s", op->object_uid ? op->object_uid : "?");
        log_warn("recovery: operation %lld (%s of %s): %s", (long long)op->id, op->op, subject,
                 e2.msg);
        if (first == 0)
            first = error_set(err, r, "operation %lld (%s of %s): %s", (long long)op->id, op->op,
                              subject, e2.msg);
    }
    return first;
}

int engine_ops_recover(engine *e, const char *prefix, size_t *ret_n, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0, done = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    int first = 0;
    for (size_t k = 0; k < ARRAY_SIZE(ops_table); k++)
        if (ops_table[k].recover)
            first = row_recover(e, &ops_table[k], prefix, ops, n, &done, first, err);
    store_ops_free(ops, n);
    if (ret_n)
        *ret_n = done;
    return first;
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
    if (!engine_op_row_find(op->name))
        return error_set(err, -EINVAL, "operation '%s' has no row in the table of operations",
                         op->name);
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
