/*
 * engine remove: engine_remove, and the removal of an image or a kernel
 * through the protocol (a VM's is vm_run.c's, engine_vm_remove):
 *   1. intent: in one transaction the reference is resolved, the users are
 *      checked (unless forced) and the journal row "image.remove" or
 *      "kernel.remove" is recorded;
 *   2. act: the shared layers built from it (deepest first), then its
 *      devices (an image) or its files (a kernel);
 *   3. commit: the object's row goes and the journal row is closed;
 *   4. recover: a dead removal is always finished forward.
 * Fault points image.remove.after-{intent,act} and kernel.remove.after-*.
 */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

/* Refuses removing an image or kernel that VMs use, naming them. */
static int check_users(engine *e, const struct api_object *obj, struct error *err) {
    struct store_match *users = NULL;
    size_t n = 0;
    int r = store_object_users(e->store, obj->kind, obj->meta.uid, obj->meta.name, &users, &n, err);
    if (r < 0)
        return r;
    if (n == 0) {
        store_matches_free(users, n);
        return 0;
    }
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    r = 0;
    for (size_t i = 0; i < n && i < ENGINE_MATCH_MAX && r == 0; i++)
        r = strbuf_addf(&sb, "%svm '%s'", i ? ", " : "", users[i].name ? users[i].name : "");
    if (r == 0 && n > ENGINE_MATCH_MAX)
        r = strbuf_addf(&sb, " and %zu more", n - ENGINE_MATCH_MAX);
    store_matches_free(users, n);
    if (r < 0)
        return error_oom(err);
    return error_set(err, -EBUSY, "%s '%s' is used by %s; use -f to remove anyway",
                     api_kind_word(obj->kind), obj->meta.name, sb.buf);
}

/* 1 when a live process has an open operation opname on uid, else 0. */
static int remove_running(engine *e, const char *opname, const char *uid, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++)
        if (strcmp(ops[i].op, opname) == 0 && ops[i].object_uid &&
            strcmp(ops[i].object_uid, uid) == 0 &&
            proc_is_alive(ops[i].owner_pid, ops[i].owner_start))
            r = 1;
    store_ops_free(ops, n);
    return r;
}

int engine_object_data_remove(engine *e, enum api_kind kind, const char *uid, struct error *err) {
    if (kind != API_KIND_IMAGE && kind != API_KIND_KERNEL)
        return 0;
    /* The layers built from it first, deepest first (VM devices below them stay). */
    int r = engine_layers_remove(e, kind, uid, err);
    if (r < 0)
        return r;
    if (kind == API_KIND_KERNEL)
        return engine_kernel_files_remove(e, uid, err);
    /* Only a pool that exists can hold the image's devices. */
    struct store_pool_device *d = NULL;
    size_t n = 0;
    r = store_pool_device_list(e->store, &d, &n, err);
    if (r < 0)
        return r;
    bool any = false;
    for (size_t i = 0; i < n; i++)
        if (d[i].owner_kind == API_KIND_IMAGE && d[i].owner_uid && strcmp(d[i].owner_uid, uid) == 0)
            any = true;
    store_pool_devices_free(d, n);
    return any ? engine_owned_devices_remove(e, API_KIND_IMAGE, uid, err) : 0;
}

/* A removal: what engine_remove was asked, and what its intent found. */
struct remove_job {
    enum api_kind kind;
    const char *ref;
    bool force;
    char uid[ID_LEN + 1];
    bool exists; /* the object has its row (recovery: it may be gone already) */
};

#define REMOVE_VM 1 /* the intent's rows found a VM: engine_vm_remove takes it */

/* The intent's rows: the object resolved and checked; the journal row names j->uid. */
static int remove_intent_rows(engine *e, void *ud, struct error *err) {
    struct remove_job *j = ud;
    int r = engine_resolve(e, j->kind, j->ref, j->uid, err);
    if (r < 0)
        return r;
    _cleanup_object_ struct api_object *obj = NULL;
    r = store_object_get(e->store, j->kind, j->uid, &obj, err);
    if (r < 0)
        return r;
    if (j->kind == API_KIND_VM)
        return REMOVE_VM;
    if (!j->force) {
        r = check_users(e, obj, err);
        if (r < 0)
            return r;
    }
    /* Two removals of one image or kernel: the second is told (the first's row is still there). */
    r = remove_running(e, j->kind == API_KIND_IMAGE ? "image.remove" : "kernel.remove", j->uid,
                       err);
    if (r == 1)
        r = error_set(err, -EBUSY, "%s '%s' is being removed by another command",
                      api_kind_word(j->kind), j->ref);
    return r;
}

/* The commit's row: the object's goes. */
static int remove_commit_rows(engine *e, void *ud, struct error *err) {
    const struct remove_job *j = ud;
    return j->exists ? store_object_delete(e->store, j->kind, j->uid, err) : 0;
}

int engine_remove(engine *e, enum api_kind kind, const char *ref, bool force, char *ret_uid,
                  struct error *err) {
    if (kind == API_KIND_POOL)
        return error_set(err, -EINVAL, "the pool cannot be removed this way");
    struct remove_job j = {.kind = kind, .ref = ref, .force = force, .exists = true};
    struct engine_op op = {
        .name = kind == API_KIND_IMAGE    ? "image.remove"
                : kind == API_KIND_KERNEL ? "kernel.remove"
                                          : "vm.remove", /* a VM's: engine_vm_remove records it */
        .kind = kind,
        .uid = j.uid,
        .device_id = -1,
    };
    int r = engine_op_intent(
        e, &op, remove_intent_rows, &j,
        kind == API_KIND_IMAGE ? "image.remove.after-intent" : "kernel.remove.after-intent", err);
    if (r == REMOVE_VM)
        return engine_vm_remove(e, j.uid, ref, force, ret_uid, err); /* vm_run.c */
    if (r < 0)
        return r;
    /* An image's devices and a kernel's files go too: act, commit. */
    r = engine_object_data_remove(e, kind, j.uid, err);
    if (r < 0) {
        struct error e2;
        error_init(&e2);
        (void)engine_op_abort(e, op.id, err->msg, NULL, NULL, &e2);
        return r;
    }
    fault_point(kind == API_KIND_IMAGE ? "image.remove.after-act" : "kernel.remove.after-act");
    r = engine_op_commit(e, op.id, remove_commit_rows, &j, NULL, err);
    if (r < 0)
        return r;
    if (ret_uid)
        memcpy(ret_uid, j.uid, ID_LEN + 1);
    return 0;
}

int engine_remove_recover_op(engine *e, const struct store_op *op, struct error *err) {
    int r = engine_op_adopt(e, op, err);
    if (r <= 0)
        return r;
    if (!op->object_uid || !id_is_valid(op->object_uid))
        return store_op_finish(e->store, op->id, "interrupted; no object recorded", err);
    struct remove_job j = {
        .kind = str_starts_with(op->op, "image.") ? API_KIND_IMAGE : API_KIND_KERNEL,
    };
    memcpy(j.uid, op->object_uid, sizeof(j.uid));
    r = engine_object_exists(e, j.kind, j.uid, &j.exists, err);
    if (r == 0) /* always forward */
        r = engine_object_data_remove(e, j.kind, j.uid, err);
    if (r == 0)
        r = engine_op_commit(e, op->id, remove_commit_rows, &j, NULL, err);
    return r;
}
