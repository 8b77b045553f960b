/*
 * engine ops: the table of operations (engine_priv.h, "operations").
 * Each row names an operation of the journal, the function that recovers
 * it when its process died, and what doctor says of it; engine_open
 * recovers every row's dead operations through it, and doctor reads the
 * same table. The transactions of one operation (engine_op_intent, _commit,
 * _abort) are journal.c's.
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
    {"image.import", engine_image_recover_op, ENGINE_OP_OBJECT},
    {"image.restore", engine_image_recover_op, ENGINE_OP_OBJECT},
    {"image.remove", engine_remove_recover_op, ENGINE_OP_OBJECT},
    {"kernel.import", engine_kernel_recover_op, ENGINE_OP_OBJECT},
    {"kernel.restore", engine_kernel_recover_op, ENGINE_OP_OBJECT},
    {"kernel.remove", engine_remove_recover_op, ENGINE_OP_OBJECT},
    {"vm.layer", engine_layer_recover_op, ENGINE_OP_OBJECT},
    {"vm.create", engine_vm_create_recover_op, ENGINE_OP_OBJECT},
    /* Last: what they act on is built; engine_vm_refresh then checks the VMs still running. */
    {"vm.start", engine_vm_run_recover_op, ENGINE_OP_OBJECT},
    {"vm.stop", engine_vm_run_recover_op, ENGINE_OP_OBJECT},
    {"vm.remove", engine_vm_run_recover_op, ENGINE_OP_OBJECT},
};

const struct engine_op_row *engine_op_row_find(const char *name) {
    for (size_t i = 0; name && i < ARRAY_SIZE(ops_table); i++)
        if (engine_op_row_matches(&ops_table[i], name))
            return &ops_table[i];
    return NULL;
}

int engine_op_recover(engine *e, const struct store_op *op, struct error *err) {
    const struct engine_op_row *row = engine_op_row_find(op->op);
    if (!row || !row->recover)
        return 0;
    return row->recover(e, op, err);
}

void engine_op_describe(const struct store_op *op, char *buf, size_t size) {
    char subject[48];
    engine_op_subject(engine_op_row_find(op->op), op, subject, sizeof(subject));
    snprintf(buf, size, "%s of %s stopped at step '%s': its process %d is gone", op->op, subject,
             op->step, op->owner_pid);
}

int engine_ops_recover(engine *e, size_t *ret_n, struct error *err) {
    return engine_ops_recover_rows(e, ops_table, ARRAY_SIZE(ops_table), ret_n, err);
}
