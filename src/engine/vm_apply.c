/*
 * engine vm apply: what `hearth apply` does with a VM document beyond
 * storing it (apply.c calls it per document, inside its transaction).
 *
 * A VM's status is this root's runtime state, so the document's is not
 * taken (docs/architecture.md, "Choices made where the seed is silent"):
 *   state         a new VM keeps Created or Stopped, anything else (Running,
 *                 a transitional state) is recorded Stopped; an existing VM
 *                 keeps its own;
 *   ipAddresses   the leases of the VM's last run here: an existing VM
 *                 keeps its own, a new one has none;
 *   image/kernel  what the disk was built from: a VM with a disk keeps its
 *                 own; one without is given this root's objects that its
 *                 claims name (none when they name nothing here yet; the
 *                 start that builds the disk fills them).
 * The spec is the document's, with one refusal: a VM that has a disk keeps
 * the image, kernel and disk size it was built from (a new one needs a new
 * disk, and the message says how). cpus, memory, the command line and the
 * rest are read at every start, so a change takes effect at the next one.
 */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

static bool str_same(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int strv_copy(char ***dst, size_t *n_dst, char *const *src, size_t n) {
    char **v = n ? xcalloc(n, sizeof(char *)) : NULL;
    if (n && !v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = xstrdup(src[i]))) {
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return -ENOMEM;
        }
    for (size_t i = 0; i < *n_dst; i++)
        free((*dst)[i]);
    free(*dst);
    *dst = v;
    *n_dst = n;
    return 0;
}

static bool strv_same(char *const *a, size_t na, char *const *b, size_t nb) {
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* *dst becomes a copy of src. */
static int source_copy(struct api_vm_image_source *dst, const struct api_vm_image_source *src,
                       struct error *err) {
    struct api_vm_image_source c = {0};
    c.source.id = src->source.id ? xstrdup(src->source.id) : NULL;
    c.source.size = src->source.size;
    c.internal_uid = src->internal_uid ? xstrdup(src->internal_uid) : NULL;
    if ((src->source.id && !c.source.id) || (src->internal_uid && !c.internal_uid) ||
        strv_copy(&c.source.repo_digests, &c.source.n_repo_digests, src->source.repo_digests,
                  src->source.n_repo_digests) < 0) {
        engine_vm_source_clear(&c);
        return error_oom(err);
    }
    engine_vm_source_clear(dst);
    *dst = c;
    return 0;
}

static int claim_copy(struct api_oci_claim **dst, const struct api_oci_claim *src,
                      struct error *err) {
    struct api_oci_claim *c = xcalloc(1, sizeof(*c));
    if (!c)
        return error_oom(err);
    c->type = src->type ? xstrdup(src->type) : NULL;
    c->ref = src->ref ? xstrdup(src->ref) : NULL;
    if ((src->type && !c->type) || (src->ref && !c->ref)) {
        free(c->type);
        free(c->ref);
        free(c);
        return error_oom(err);
    }
    if (*dst) {
        free((*dst)->type);
        free((*dst)->ref);
        free(*dst);
    }
    *dst = c;
    return 0;
}

/* The uid of what ref names here ("" when nothing). */
static int ref_uid(engine *e, enum api_kind kind, const char *ref, char uid[ID_LEN + 1],
                   struct error *err) {
    uid[0] = '\0';
    if (!ref || !*ref)
        return 0;
    char *name = NULL;
    int r = engine_object_find(e, kind, ref, uid, &name, err);
    free(name);
    if (r == 0)
        uid[0] = '\0';
    return r < 0 ? r : 0;
}

/*
 * Whether the document's claim (want) names what the disk was built from:
 * the recorded claim (have), or the object recorded in the status (built).
 */
static int claim_same(engine *e, enum api_kind kind, const char *want, const char *have,
                      const char *built, bool *ret, struct error *err) {
    *ret = true;
    if (str_same(want, have))
        return 0;
    char a[ID_LEN + 1], b[ID_LEN + 1];
    int r = ref_uid(e, kind, want, a, err);
    if (r == 0)
        r = ref_uid(e, kind, have, b, err);
    if (r < 0)
        return r;
    if (a[0] && ((b[0] && strcmp(a, b) == 0) || (built && strcmp(a, built) == 0)))
        return 0;
    /* The same reference written another way ("busybox", "busybox:latest"). */
    struct oci_source sa, sb;
    char *na = NULL, *nb = NULL;
    struct error e2;
    error_init(&e2);
    bool same = want && have && engine_import_source(want, &sa, &na, &e2) == 0;
    if (same) {
        oci_source_release(&sa);
        same = engine_import_source(have, &sb, &nb, &e2) == 0;
        if (same) {
            oci_source_release(&sb);
            same = strcmp(na, nb) == 0;
        }
    }
    free(na);
    free(nb);
    *ret = same;
    return 0;
}

/* The refusal of a change that needs a new disk. */
static int disk_change(const char *vm, const char *field, const char *want, const char *have,
                       struct error *err) {
    return error_set(err, -EINVAL,
                     "vm '%s': %s: '%s' is not what its disk was built from ('%s'), and a new one "
                     "needs a new disk: remove the vm with 'hearth rm %s' and apply the document "
                     "again (its next 'hearth start' builds the disk; what the old disk holds is "
                     "lost), or keep %s as it is",
                     vm, field, want, have, vm, field);
}

/* A VM with a disk: the document may not change what the disk was built from. */
static int disk_check(engine *e, struct api_object *obj, const struct api_object *existing,
                      struct error *err) {
    struct api_vm *vm = &obj->u.vm;
    const struct api_vm *old = &existing->u.vm;
    const char *name = obj->meta.name;
    if (vm->disk_size != old->disk_size) {
        char a[32], b[32];
        api_size_format(vm->disk_size, a, sizeof(a));
        api_size_format(old->disk_size, b, sizeof(b));
        return disk_change(name, "spec.diskSize", a, b, err);
    }
    const char *want = vm->image_claim ? vm->image_claim->ref : NULL;
    const char *have = old->image_claim ? old->image_claim->ref : NULL;
    bool same = true;
    int r = claim_same(e, API_KIND_IMAGE, want, have, old->status_image.internal_uid, &same, err);
    if (r < 0)
        return r;
    if (!same)
        return disk_change(name, "spec.image.ociClaim.ref", want ? want : "", have ? have : "",
                           err);
    have = old->kernel_claim ? old->kernel_claim->ref : NULL;
    if (!vm->kernel_claim || !vm->kernel_claim->ref) /* none named: the disk's stays */
        return old->kernel_claim ? claim_copy(&vm->kernel_claim, old->kernel_claim, err) : 0;
    want = vm->kernel_claim->ref;
    r = claim_same(e, API_KIND_KERNEL, want, have, old->status_kernel.internal_uid, &same, err);
    if (r < 0)
        return r;
    if (!same)
        return disk_change(name, "spec.kernel.ociClaim.ref", want, have ? have : "(none)", err);
    return 0;
}

/* status.image or status.kernel from what the claim names here; *changed when it differs. */
static int source_recompute(engine *e, enum api_kind kind, const struct api_oci_claim *claim,
                            struct api_vm_image_source *dst, bool *changed, struct error *err) {
    char uid[ID_LEN + 1];
    int r = ref_uid(e, kind, claim ? claim->ref : NULL, uid, err);
    if (r < 0)
        return r;
    if (dst->internal_uid && (!uid[0] || strcmp(dst->internal_uid, uid) != 0))
        *changed = true;
    if (!uid[0]) {
        engine_vm_source_clear(dst);
        return 0;
    }
    return engine_vm_source_fill(e, kind, uid, dst, err);
}

int engine_vm_apply_prepare(engine *e, struct api_object *obj, const struct api_object *existing,
                            unsigned *skipped, struct error *err) {
    struct api_vm *vm = &obj->u.vm;

    /* state */
    enum api_vm_state doc = vm->state;
    bool runtime = doc != API_VM_STATE_NONE && doc != API_VM_CREATED && doc != API_VM_STOPPED;
    enum api_vm_state state = existing                              ? existing->u.vm.state
                              : runtime || doc == API_VM_STATE_NONE ? API_VM_STOPPED
                                                                    : doc;
    if (runtime && doc != state)
        *skipped |= ENGINE_APPLY_SKIP_STATE; /* nothing runs for this VM in this root */
    vm->state = state;

    /* status.ipAddresses */
    char *const *ips = existing ? existing->u.vm.ip_addresses : NULL;
    size_t n_ips = existing ? existing->u.vm.n_ip_addresses : 0;
    if (vm->n_ip_addresses > 0 && !strv_same(vm->ip_addresses, vm->n_ip_addresses, ips, n_ips))
        *skipped |= ENGINE_APPLY_SKIP_ADDRESSES;
    if (strv_copy(&vm->ip_addresses, &vm->n_ip_addresses, ips, n_ips) < 0)
        return error_oom(err);

    /* the disk, and status.image/kernel */
    uint32_t dev;
    struct error e2;
    error_init(&e2);
    if (existing && engine_vm_device(e, existing->meta.uid, &dev, &e2) == 0) {
        int r = disk_check(e, obj, existing, err);
        if (r == 0)
            r = source_copy(&vm->status_image, &existing->u.vm.status_image, err);
        if (r == 0)
            r = source_copy(&vm->status_kernel, &existing->u.vm.status_kernel, err);
        return r;
    }
    bool changed = false;
    int r = source_recompute(e, API_KIND_IMAGE, vm->image_claim, &vm->status_image, &changed, err);
    if (r == 0)
        r = source_recompute(e, API_KIND_KERNEL, vm->kernel_claim, &vm->status_kernel, &changed,
                             err);
    if (r == 0 && changed)
        *skipped |= ENGINE_APPLY_SKIP_SOURCES;
    return r;
}
