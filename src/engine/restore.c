/*
 * engine restore: images and kernels that are recorded in this root but whose
 * data is not, because they came with `hearth apply` of an export (an export
 * carries the objects, not the pool's devices nor the kernel files; README,
 * docs/cli.md "export"). What a VM names is imported again from its
 * spec.ociClaim.ref into the recorded object (same uid, name and creation
 * time), through the import's own protocol with the journal row
 * "image.restore" / "kernel.restore" instead of "*.import": the object row
 * exists all along, so recovery always rolls a dead restore back (its
 * devices or files go), and the commit updates status.ociSource.
 *
 * A `localhost/` reference names a local source (an OCI layout or an
 * archive: that is how hearth names them) and is never pulled; a pull that
 * fails for anything else names the object and the command that brings the
 * data back.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

#define RESTORE_POLL_MS 50
#define RESTORE_WAIT_MS (10 * 60 * 1000)

int engine_object_has_data(engine *e, enum api_kind kind, const char *uid, bool *ret,
                           struct error *err) {
    struct error e2;
    error_init(&e2);
    int r;
    if (kind == API_KIND_IMAGE) {
        uint32_t dev;
        r = engine_image_device(e, uid, &dev, &e2);
    } else {
        /* Incomplete files (one lost, or cut short) are no data either: imported again. */
        char problem[512];
        r = engine_kernel_files_check(e, uid, problem, sizeof(problem), &e2);
        if (r < 0)
            return error_set(err, r, "%s", e2.msg);
        *ret = r == 1;
        return 0;
    }
    if (r < 0 && r != -ENOENT)
        return error_set(err, r, "%s", e2.msg);
    *ret = r == 0;
    return 0;
}

static void op_release(struct store_op *op) {
    free(op->op);
    free(op->object_uid);
    free(op->step);
    free(op->error);
    free(op->params);
}

/* The open restore operation on uid: 1 and *ret (op_release), or 0. */
static int restore_op_find(engine *e, const char *opname, const char *uid, struct store_op *ret,
                           struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (strcmp(ops[i].op, opname) == 0 && ops[i].object_uid &&
            strcmp(ops[i].object_uid, uid) == 0) {
            *ret = ops[i];
            memset(&ops[i], 0, sizeof(ops[i]));
            found = 1;
        }
    store_ops_free(ops, n);
    return found;
}

int engine_restore_begin(engine *e, enum api_kind kind, const char *uid, int64_t *ret_op,
                         struct error *err) {
    const char *word = engine_kind_word(kind);
    const char *opname = kind == API_KIND_IMAGE ? "image.restore" : "kernel.restore";
    int64_t deadline = time_now_ms() + RESTORE_WAIT_MS;
    for (;;) {
        int r = store_begin(e->store, err);
        if (r < 0)
            return r;
        struct api_object *obj = NULL;
        r = store_object_get(e->store, kind, uid, &obj, err);
        api_object_free(obj);
        if (r == -ENOENT)
            r = error_set(err, -ENOENT, "%s %s was removed meanwhile", word, uid);
        bool have = false;
        if (r == 0)
            r = engine_object_has_data(e, kind, uid, &have, err);
        if (r < 0 || have) {
            store_rollback(e->store);
            return r;
        }
        struct store_op op = {0};
        r = restore_op_find(e, opname, uid, &op, err);
        if (r == 0) {
            r = store_op_begin(e->store, opname, kind, uid, "intent", ret_op, err);
            if (r == 0)
                r = store_commit(e->store, err);
            if (r < 0) {
                store_rollback(e->store);
                return r;
            }
            return 1;
        }
        store_rollback(e->store);
        if (r < 0)
            return r;
        /* Another process restores it: wait for it, or finish its rollback when it died. */
        bool alive = proc_is_alive(op.owner_pid, op.owner_start);
        if (!alive)
            r = engine_import_recover_op(e, &op, err);
        op_release(&op);
        if (r < 0)
            return r;
        if (alive && time_now_ms() > deadline)
            return error_set(err, -EBUSY,
                             "%s %s is being imported again by process %d for more than %d "
                             "minutes; try again later",
                             word, uid, op.owner_pid, RESTORE_WAIT_MS / 60000);
        if (alive)
            sleep_ms(RESTORE_POLL_MS);
    }
}

int engine_import_path_hint(const char *source, const char *word, bool invalid_ref,
                            struct error *err) {
    struct stat st;
    if (!source || stat(source, &st) < 0)
        return 0;
    _cleanup_free_ char *marker = xasprintf("%s/oci-layout", source);
    struct stat ms;
    bool layout = S_ISDIR(st.st_mode) && marker && stat(marker, &ms) == 0;
    if (layout)
        return error_set(err, -EINVAL,
                         "'%s' is a directory holding an OCI layout: import it with 'hearth %s "
                         "import oci-layout:%s[:TAG]'",
                         source, word, source);
    if (!invalid_ref)
        return 0; /* a reference that happens to be a path here too: pulled */
    if (S_ISDIR(st.st_mode))
        return error_set(err, -EINVAL,
                         "'%s' is a directory, not an image reference, and holds no OCI layout "
                         "(no 'oci-layout' file); a layout is imported with 'oci-layout:DIR[:TAG]'",
                         source);
    if (strcmp(word, "kernel") == 0)
        return error_set(err, -EINVAL,
                         "'%s' is a file, not a reference: a kernel file is imported with 'hearth "
                         "kernel import --vmlinux %s NAME', a 'docker save' archive with "
                         "'docker-archive:%s'",
                         source, source, source);
    return error_set(err, -EINVAL,
                     "'%s' is a file, not an image reference: a 'docker save' archive is imported "
                     "with 'hearth %s import docker-archive:%s'",
                     source, word, source);
}

/* True for a reference whose registry is "localhost" itself: a local source's name. */
bool engine_ref_is_local(const char *ref) {
    struct oci_ref r;
    struct error err;
    error_init(&err);
    if (!ref || oci_ref_parse(ref, &r, &err) < 0)
        return false;
    bool local = r.domain && strcmp(r.domain, "localhost") == 0;
    oci_ref_release(&r);
    return local;
}

int engine_restore_hint(const struct api_object *obj, char *buf, size_t size) {
    bool kernel = obj->kind == API_KIND_KERNEL;
    const struct api_oci_claim *claim = kernel ? &obj->u.kernel.claim : &obj->u.image.claim;
    const char *ref = claim->ref && *claim->ref ? claim->ref : obj->meta.name;
    const char *name = obj->meta.name;
    const struct api_oci_source *s = kernel ? &obj->u.kernel.source : &obj->u.image.source;
    if (!engine_ref_is_local(ref) && (s->n_repo_digests > 0 || !s->id))
        return snprintf(buf, size,
                        "'hearth start' of a vm that uses it imports it again from '%s', as "
                        "'hearth %s import %s' does",
                        ref, kernel ? "kernel" : "image", ref);
    if (!engine_ref_is_local(ref) && kernel) /* no repo digest: a registry's, or local files' */
        return snprintf(buf, size,
                        "'hearth kernel import %s' imports it again when it came from a registry "
                        "(a vm's 'hearth start' does too); from local files: 'hearth kernel "
                        "import --vmlinux PATH [--initrd PATH] [--modules DIR] %s'",
                        ref, name);
    if (!engine_ref_is_local(ref))
        return snprintf(buf, size,
                        "'hearth image import %s' imports it again when it came from a registry "
                        "(a vm's 'hearth start' does too); from an OCI layout or an archive: "
                        "'hearth image import oci-layout:DIR[:TAG]' or 'docker-archive:FILE'",
                        ref);
    if (kernel)
        return snprintf(buf, size,
                        "import it with 'hearth kernel import --vmlinux PATH [--initrd PATH] "
                        "[--modules DIR] %s' (or 'hearth kernel import oci-layout:DIR[:TAG]' when "
                        "it came from an OCI layout)",
                        name);
    return snprintf(buf, size,
                    "import it with 'hearth image import oci-layout:DIR[:TAG]' (or "
                    "'docker-archive:FILE'), whose image is named '%s'",
                    name);
}

/* The advice for an object whose data could not be pulled: a local origin's command. */
static void local_advice(const struct api_object *obj, char *buf, size_t size) {
    const struct api_oci_source *s =
        obj->kind == API_KIND_KERNEL ? &obj->u.kernel.source : &obj->u.image.source;
    buf[0] = '\0';
    if (s->n_repo_digests > 0)
        return; /* it came from a registry */
    if (obj->kind == API_KIND_KERNEL)
        snprintf(buf, size,
                 "; if it came from local files, import them with 'hearth kernel import "
                 "--vmlinux PATH [--initrd PATH] [--modules DIR] %s'",
                 obj->meta.name);
    else
        snprintf(buf, size,
                 "; if it came from an OCI layout or an archive, import it with 'hearth image "
                 "import oci-layout:DIR[:TAG]' or 'docker-archive:FILE'");
}

int engine_object_restore(engine *e, enum api_kind kind, const char *uid,
                          const struct engine_import_opts *opts, struct engine_import_result *ret,
                          struct error *err) {
    memset(ret, 0, sizeof(*ret));
    const char *word = engine_kind_word(kind);
    _cleanup_object_ struct api_object *obj = NULL;
    int r = store_object_get(e->store, kind, uid, &obj, err);
    if (r < 0)
        return r;
    const struct api_oci_claim *claim =
        kind == API_KIND_KERNEL ? &obj->u.kernel.claim : &obj->u.image.claim;
    const char *ref = claim->ref && *claim->ref ? claim->ref : obj->meta.name;
    char hint[600];
    if (engine_ref_is_local(ref)) {
        engine_restore_hint(obj, hint, sizeof(hint));
        return error_set(err, -ENOENT,
                         "%s '%s' has no data in this root (an export does not carry it) and came "
                         "from a local source, which cannot be pulled: %s",
                         word, obj->meta.name, hint);
    }
    struct oci_source src;
    _cleanup_free_ char *name = NULL;
    r = engine_import_source(ref, &src, &name, err);
    if (r == 0 && src.kind != OCI_SOURCE_REGISTRY) {
        oci_source_release(&src);
        r = error_set(err, -EINVAL, "spec.ociClaim.ref '%s' is not a registry reference", ref);
    }
    if (r < 0)
        return error_prefix(err, "%s '%s' has no data in this root", word, obj->meta.name);
    r = kind == API_KIND_IMAGE ? engine_image_import_into(e, &src, name, opts, uid, ret, err)
                               : engine_kernel_import_into(e, &src, name, opts, uid, ret, err);
    oci_source_release(&src);
    if (r == -ECANCELED)
        return r;
    if (r < 0) {
        local_advice(obj, hint, sizeof(hint));
        _cleanup_free_ char *msg = xstrdup(err->msg);
        if (!msg)
            return error_oom(err);
        return error_set(err, r,
                         "%s '%s' has no data in this root (an export does not carry it), and "
                         "pulling it again from '%s' failed: %s%s",
                         word, obj->meta.name, ref, msg, hint);
    }
    return 0;
}
