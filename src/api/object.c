/*
 * The life of an api_object: kind names, allocation, deep copy, release, and
 * the defaults Ignite v0.4 applied (its SetDefaults_* functions). Names and
 * uids are not generated here; the engine does that, since it knows which
 * names are taken.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "api/api_priv.h"

static const char *const kind_names[API_KIND_COUNT] = {
    [API_KIND_VM] = "VM",
    [API_KIND_IMAGE] = "Image",
    [API_KIND_KERNEL] = "Kernel",
    [API_KIND_POOL] = "Pool",
};

/* Lowercase aliases accepted by api_kind_parse besides the names themselves. */
static const struct {
    const char *alias;
    enum api_kind kind;
} kind_aliases[] = {
    {"vm", API_KIND_VM},        {"vms", API_KIND_VM},        {"image", API_KIND_IMAGE},
    {"images", API_KIND_IMAGE}, {"kernel", API_KIND_KERNEL}, {"kernels", API_KIND_KERNEL},
    {"pool", API_KIND_POOL},    {"pools", API_KIND_POOL},
};

const char *api_kind_name(enum api_kind kind) {
    if ((unsigned)kind >= API_KIND_COUNT)
        return "Unknown";
    return kind_names[kind];
}

const char *api_kind_word(enum api_kind kind) {
    static const char *const words[API_KIND_COUNT] = {
        [API_KIND_VM] = "vm",
        [API_KIND_IMAGE] = "image",
        [API_KIND_KERNEL] = "kernel",
        [API_KIND_POOL] = "pool",
    };
    return (unsigned)kind < API_KIND_COUNT ? words[kind] : "object";
}

int api_kind_parse(const char *s, enum api_kind *ret) {
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < ARRAY_SIZE(kind_aliases); i++) {
        if (strcasecmp(s, kind_aliases[i].alias) == 0) {
            *ret = kind_aliases[i].kind;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- release ------------------------------------------------------------ */

void api_strv_free(char **v, size_t n) {
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void kv_free(struct api_kv *kv, size_t n) {
    if (!kv)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void api_meta_release(struct api_meta *m) {
    free(m->name);
    free(m->uid);
    kv_free(m->labels, m->n_labels);
    kv_free(m->annotations, m->n_annotations);
    memset(m, 0, sizeof(*m));
    m->created = API_TIME_NONE;
}

void api_oci_claim_release(struct api_oci_claim *c) {
    free(c->type);
    free(c->ref);
    memset(c, 0, sizeof(*c));
}

void api_oci_source_release(struct api_oci_source *s) {
    free(s->id);
    api_strv_free(s->repo_digests, s->n_repo_digests);
    memset(s, 0, sizeof(*s));
}

static void claim_free(struct api_oci_claim *c) {
    if (!c)
        return;
    api_oci_claim_release(c);
    free(c);
}

static void vm_release(struct api_vm *vm) {
    claim_free(vm->image_claim);
    claim_free(vm->kernel_claim);
    free(vm->cmdline);
    free(vm->network_mode);
    for (size_t i = 0; i < vm->n_ports; i++)
        api_port_release(&vm->ports[i]);
    free(vm->ports);
    for (size_t i = 0; i < vm->n_copy_files; i++) {
        free(vm->copy_files[i].host_path);
        free(vm->copy_files[i].vm_path);
    }
    free(vm->copy_files);
    free(vm->ssh_public_key);
    api_strv_free(vm->ip_addresses, vm->n_ip_addresses);
    api_oci_source_release(&vm->status_image.source);
    free(vm->status_image.internal_uid);
    api_oci_source_release(&vm->status_kernel.source);
    free(vm->status_kernel.internal_uid);
}

static void pool_release(struct api_pool *pool) {
    free(pool->metadata_path);
    free(pool->data_path);
    for (size_t i = 0; i < pool->n_devices; i++) {
        free(pool->devices[i].type);
        free(pool->devices[i].metadata_path);
    }
    free(pool->devices);
}

struct api_object *api_object_new(enum api_kind kind) {
    if ((unsigned)kind >= API_KIND_COUNT)
        return NULL;
    struct api_object *obj = xcalloc(1, sizeof(*obj));
    if (!obj)
        return NULL;
    obj->kind = kind;
    obj->meta.created = API_TIME_NONE;
    return obj;
}

void api_object_free(struct api_object *obj) {
    if (!obj)
        return;
    api_meta_release(&obj->meta);
    switch (obj->kind) {
    case API_KIND_VM:
        vm_release(&obj->u.vm);
        break;
    case API_KIND_IMAGE:
        api_oci_claim_release(&obj->u.image.claim);
        api_oci_source_release(&obj->u.image.source);
        break;
    case API_KIND_KERNEL:
        free(obj->u.kernel.version);
        api_oci_claim_release(&obj->u.kernel.claim);
        api_oci_source_release(&obj->u.kernel.source);
        break;
    case API_KIND_POOL:
        pool_release(&obj->u.pool);
        break;
    case API_KIND_COUNT:
        break;
    }
    free(obj);
}

void api_objects_free(struct api_object **objs, size_t n) {
    if (!objs)
        return;
    for (size_t i = 0; i < n; i++)
        api_object_free(objs[i]);
    free(objs);
}

/* ---- deep copy ---------------------------------------------------------- */

/* Copies string *p in place (NULL stays NULL); false on OOM, leaving *p NULL. */
static bool dup_str(char **p) {
    if (!*p)
        return true;
    *p = xstrdup(*p);
    return *p != NULL;
}

/* Replaces *p (an array of n elements of size sz) by a fresh copy; the
 * elements' pointers still point into the source until fixed by the caller.
 * On failure *p is NULL and *n is 0 so that release stays safe. */
static bool dup_array(void **p, size_t *n, size_t sz) {
    if (!*p || *n == 0) {
        *p = NULL;
        *n = 0;
        return true;
    }
    void *copy = xcalloc(*n, sz);
    if (!copy) {
        *p = NULL;
        *n = 0;
        return false;
    }
    memcpy(copy, *p, *n * sz);
    *p = copy;
    return true;
}

/* Copies an array of strings; on failure the unfinished tail is NULL, which
 * release handles. */
static bool dup_strv(char ***v, size_t *n) {
    if (!dup_array((void **)v, n, sizeof(char *)))
        return false;
    bool ok = true;
    for (size_t i = 0; i < *n; i++) {
        if (!ok)
            (*v)[i] = NULL;
        else
            ok = dup_str(&(*v)[i]);
    }
    return ok;
}

static bool dup_kv(struct api_kv **kv, size_t *n) {
    if (!dup_array((void **)kv, n, sizeof(struct api_kv)))
        return false;
    bool ok = true;
    for (size_t i = 0; i < *n; i++) {
        if (!ok) {
            (*kv)[i].key = (*kv)[i].value = NULL;
            continue;
        }
        ok = dup_str(&(*kv)[i].key);
        if (!ok)
            (*kv)[i].value = NULL;
        else
            ok = dup_str(&(*kv)[i].value);
    }
    return ok;
}

static bool dup_claim_fields(struct api_oci_claim *c) {
    bool ok = dup_str(&c->type);
    if (!ok) {
        c->ref = NULL;
        return false;
    }
    return dup_str(&c->ref);
}

static bool dup_source(struct api_oci_source *s) {
    bool ok = dup_str(&s->id);
    if (!ok) {
        s->repo_digests = NULL;
        s->n_repo_digests = 0;
        return false;
    }
    return dup_strv(&s->repo_digests, &s->n_repo_digests);
}

static bool dup_claim_ptr(struct api_oci_claim **c) {
    if (!*c)
        return true;
    struct api_oci_claim *copy = xmalloc(sizeof(*copy));
    if (!copy) {
        *c = NULL;
        return false;
    }
    *copy = **c;
    *c = copy;
    return dup_claim_fields(copy);
}

/*
 * The copy is made field by field from a shallow copy. Every field is first
 * cleared of source pointers it has not yet copied, so that on OOM the
 * partially copied object can be freed normally.
 */
static bool dup_vm(struct api_vm *vm) {
    struct api_vm src = *vm;
    memset(vm, 0, sizeof(*vm));
    vm->cpus = src.cpus;
    vm->memory = src.memory;
    vm->disk_size = src.disk_size;
    vm->has_ssh = src.has_ssh;
    vm->state = src.state;

    vm->image_claim = src.image_claim;
    if (!dup_claim_ptr(&vm->image_claim))
        return false;
    vm->kernel_claim = src.kernel_claim;
    if (!dup_claim_ptr(&vm->kernel_claim))
        return false;
#define COPY_STR(f)                                                                                \
    do {                                                                                           \
        vm->f = src.f;                                                                             \
        if (!dup_str(&vm->f))                                                                      \
            return false;                                                                          \
    } while (0)
    COPY_STR(cmdline);
    COPY_STR(network_mode);
    COPY_STR(ssh_public_key);
    COPY_STR(status_image.internal_uid);
    COPY_STR(status_kernel.internal_uid);
#undef COPY_STR
    vm->ip_addresses = src.ip_addresses;
    vm->n_ip_addresses = src.n_ip_addresses;
    if (!dup_strv(&vm->ip_addresses, &vm->n_ip_addresses))
        return false;
    {
        struct api_oci_source s = src.status_image.source;
        if (!dup_source(&s)) {
            api_oci_source_release(&s);
            return false;
        }
        vm->status_image.source = s;
    }
    {
        struct api_oci_source s = src.status_kernel.source;
        if (!dup_source(&s)) {
            api_oci_source_release(&s);
            return false;
        }
        vm->status_kernel.source = s;
    }

    if (src.n_ports) {
        vm->ports = xcalloc(src.n_ports, sizeof(*vm->ports));
        if (!vm->ports)
            return false;
        vm->n_ports = src.n_ports;
        for (size_t i = 0; i < src.n_ports; i++) {
            vm->ports[i].host_port = src.ports[i].host_port;
            vm->ports[i].vm_port = src.ports[i].vm_port;
            vm->ports[i].protocol = src.ports[i].protocol;
            if (!dup_str(&vm->ports[i].protocol))
                return false;
            vm->ports[i].bind_address = src.ports[i].bind_address;
            if (!dup_str(&vm->ports[i].bind_address))
                return false;
        }
    }
    if (src.n_copy_files) {
        vm->copy_files = xcalloc(src.n_copy_files, sizeof(*vm->copy_files));
        if (!vm->copy_files)
            return false;
        vm->n_copy_files = src.n_copy_files;
        for (size_t i = 0; i < src.n_copy_files; i++) {
            vm->copy_files[i].host_path = src.copy_files[i].host_path;
            if (!dup_str(&vm->copy_files[i].host_path))
                return false;
            vm->copy_files[i].vm_path = src.copy_files[i].vm_path;
            if (!dup_str(&vm->copy_files[i].vm_path))
                return false;
        }
    }
    return true;
}

static bool dup_pool(struct api_pool *pool) {
    struct api_pool src = *pool;
    memset(pool, 0, sizeof(*pool));
    pool->metadata_size = src.metadata_size;
    pool->data_size = src.data_size;
    pool->allocation_size = src.allocation_size;
    pool->metadata_path = src.metadata_path;
    if (!dup_str(&pool->metadata_path))
        return false;
    pool->data_path = src.data_path;
    if (!dup_str(&pool->data_path))
        return false;
    if (src.n_devices) {
        pool->devices = xcalloc(src.n_devices, sizeof(*pool->devices));
        if (!pool->devices)
            return false;
        pool->n_devices = src.n_devices;
        for (size_t i = 0; i < src.n_devices; i++) {
            struct api_pool_device *d = &pool->devices[i];
            d->present = src.devices[i].present;
            d->size = src.devices[i].size;
            d->parent = src.devices[i].parent;
            d->type = src.devices[i].type;
            if (!dup_str(&d->type))
                return false;
            d->metadata_path = src.devices[i].metadata_path;
            if (!dup_str(&d->metadata_path))
                return false;
        }
    }
    return true;
}

static bool dup_meta(struct api_meta *m) {
    struct api_meta src = *m;
    memset(m, 0, sizeof(*m));
    m->created = src.created;
    m->name = src.name;
    if (!dup_str(&m->name))
        return false;
    m->uid = src.uid;
    if (!dup_str(&m->uid))
        return false;
    m->labels = src.labels;
    m->n_labels = src.n_labels;
    if (!dup_kv(&m->labels, &m->n_labels))
        return false;
    m->annotations = src.annotations;
    m->n_annotations = src.n_annotations;
    return dup_kv(&m->annotations, &m->n_annotations);
}

struct api_object *api_object_dup(const struct api_object *obj) {
    if (!obj)
        return NULL;
    struct api_object *copy = xmalloc(sizeof(*copy));
    if (!copy)
        return NULL;
    *copy = *obj;
    /* Clear what is not copied yet so that a failure midway frees only copies. */
    struct api_meta meta = copy->meta;
    memset(&copy->meta, 0, sizeof(copy->meta));
    bool ok;
    switch (obj->kind) {
    case API_KIND_VM:
        ok = dup_vm(&copy->u.vm);
        break;
    case API_KIND_IMAGE: {
        struct api_image *im = &copy->u.image;
        struct api_oci_source s = im->source;
        memset(&im->source, 0, sizeof(im->source));
        ok = dup_claim_fields(&im->claim);
        if (ok) {
            ok = dup_source(&s);
            if (ok)
                im->source = s;
            else
                api_oci_source_release(&s);
        }
        break;
    }
    case API_KIND_KERNEL: {
        struct api_kernel *k = &copy->u.kernel;
        struct api_oci_claim c = k->claim;
        struct api_oci_source s = k->source;
        memset(&k->claim, 0, sizeof(k->claim));
        memset(&k->source, 0, sizeof(k->source));
        ok = dup_str(&k->version);
        if (ok) {
            ok = dup_claim_fields(&c);
            k->claim = c;
        }
        if (ok) {
            ok = dup_source(&s);
            if (ok)
                k->source = s;
            else
                api_oci_source_release(&s);
        }
        break;
    }
    case API_KIND_POOL:
        ok = dup_pool(&copy->u.pool);
        break;
    default:
        ok = false;
        memset(&copy->u, 0, sizeof(copy->u));
        break;
    }
    if (ok) {
        copy->meta = meta;
        ok = dup_meta(&copy->meta);
    }
    if (!ok) {
        api_object_free(copy);
        return NULL;
    }
    return copy;
}

/* ---- defaults ----------------------------------------------------------- */

static int default_str(char **p, const char *value) {
    if (*p && **p)
        return 0;
    char *s = xstrdup(value);
    if (!s)
        return -ENOMEM;
    free(*p);
    *p = s;
    return 0;
}

/* SetDefaults_OCIImageClaim */
static int claim_set_defaults(struct api_oci_claim *c) {
    return default_str(&c->type, "Docker");
}

/* SetDefaults_PoolSpec, with calcMetadataDevSize's clamp. */
static int pool_set_defaults(struct api_pool *pool, const char *root) {
    if (pool->allocation_size == 0)
        pool->allocation_size = 64ull << 10;
    if (pool->data_size == 0)
        pool->data_size = 100ull << 30;
    if (pool->metadata_size == 0) {
        uint64_t m;
        /* 48 * dataSize overflows only past 384 PiB; then the maximum applies anyway. */
        if (pool->data_size > UINT64_MAX / 48)
            m = UINT64_MAX;
        else
            m = 48 * pool->data_size / pool->allocation_size;
        if (m > (16ull << 30))
            m = 16ull << 30;
        if (m < (2ull << 20))
            m = 2ull << 20;
        pool->metadata_size = m;
    }
    if (root) {
        if (!pool->metadata_path || !*pool->metadata_path) {
            char *p = xasprintf("%s/pool/metadata", root);
            if (!p)
                return -ENOMEM;
            free(pool->metadata_path);
            pool->metadata_path = p;
        }
        if (!pool->data_path || !*pool->data_path) {
            char *p = xasprintf("%s/pool/data", root);
            if (!p)
                return -ENOMEM;
            free(pool->data_path);
            pool->data_path = p;
        }
    }
    return 0;
}

/* SetDefaults_VMSpec, SetDefaults_VMKernelSpec, SetDefaults_VMStatus */
static int vm_set_defaults(struct api_vm *vm) {
    if (vm->image_claim && claim_set_defaults(vm->image_claim) < 0)
        return -ENOMEM;
    if (vm->kernel_claim && claim_set_defaults(vm->kernel_claim) < 0)
        return -ENOMEM;
    if (vm->cpus == 0)
        vm->cpus = API_DEFAULT_CPUS;
    if (vm->memory == 0)
        vm->memory = API_DEFAULT_MEMORY;
    if (vm->disk_size == 0)
        vm->disk_size = API_DEFAULT_DISK_SIZE;
    if (default_str(&vm->network_mode, API_DEFAULT_NETWORK_MODE) < 0 ||
        default_str(&vm->cmdline, API_DEFAULT_CMDLINE) < 0)
        return -ENOMEM;
    if (vm->state == API_VM_STATE_NONE)
        vm->state = API_VM_CREATED;
    return 0;
}

int api_object_set_defaults(struct api_object *obj, const char *root) {
    switch (obj->kind) {
    case API_KIND_VM:
        return vm_set_defaults(&obj->u.vm);
    case API_KIND_IMAGE:
        return claim_set_defaults(&obj->u.image.claim);
    case API_KIND_KERNEL:
        return claim_set_defaults(&obj->u.kernel.claim);
    case API_KIND_POOL:
        return pool_set_defaults(&obj->u.pool, root);
    case API_KIND_COUNT:
        break;
    }
    return -EINVAL;
}
