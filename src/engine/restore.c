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

#include "engine/engine.h"
#include "engine/engine_priv.h"

int engine_object_has_data(engine *e, enum api_kind kind, const char *uid, bool *ret,
                           struct error *err) {
    return kind == API_KIND_IMAGE ? engine_image_has_data(e, uid, ret, err)
                                  : engine_kernel_has_data(e, uid, ret, err);
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
    const char *word = api_kind_word(kind);
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
