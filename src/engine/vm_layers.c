/*
 * engine vm layers: the shared layers of a VM's disk chain (design.md):
 *
 *   Resize  a snapshot of an image's device grown to a disk size, then
 *           e2fsck -fy and resize2fs; key 'resize:<bytes>', owned by the image
 *   Kernel  a snapshot of a Resize layer with a kernel's modules.tar written
 *           into it without mounting; key 'kernel:<kernel uid>', owned by the
 *           kernel
 *
 * pool_device.layer_key is unique under a parent, so of several creates that
 * need one layer, one inserts its row and builds it (journal "vm.layer" with
 * the device id, the row 'planned' until the layer is complete), the others
 * wait for the row to become 'active', or take over when its builder died.
 * A dead layer build is always rolled back (its device, staging directory
 * and row go): a half-built layer is never published. Fault points
 * vm.layer.after-{intent,snapshot,build}.
 *
 * Also the removal of the layers built from an image or a kernel (rmi, rmk).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "pool/pool.h"

#define LAYER_POLL_MS 50
#define LAYER_WAIT_MS (10 * 60 * 1000)
#define TOOL_TIMEOUT_MS (30 * 60 * 1000)

/* What a layer's build step needs. */
struct layer_job {
    engine *e;
    const struct engine_vm_create_opts *opts; /* may be NULL */
    const char *kernel_uid;                   /* Kernel layers */
};
typedef int (*layer_build_fn)(struct layer_job *j, const char *path, uint32_t id,
                              struct error *err);

static void stage(const struct layer_job *j, const char *what) {
    if (j->opts && j->opts->stage)
        j->opts->stage(j->opts->ud, what);
}

/*
 * "<root>/tmp/layer-<id>": a Kernel layer's staging, owned by its vm.layer
 * journal row: the modules unpacked in tree/, the ext4 writer's files.
 */
static char *layer_tmp_path(engine *e, uint32_t id) {
    return xasprintf("%s/tmp/layer-%u", e->root, id);
}

/* The rows of a rolled back layer: its device row goes while it is only planned. */
static int undo_rows(engine *e, void *ud, struct error *err) {
    uint32_t id = *(const uint32_t *)ud;
    struct store_pool_device d;
    int r = store_pool_device_get(e->store, id, &d, err);
    if (r == 0) {
        bool planned = d.state == STORE_POOL_PLANNED;
        store_pool_device_release(&d);
        if (planned)
            r = store_pool_device_delete(e->store, id, err);
    } else if (r == -ENOENT) {
        error_init(err);
        r = 0;
    }
    return r;
}

/* The rows of a built layer's commit: its device row becomes active. */
static int commit_rows(engine *e, void *ud, struct error *err) {
    return store_pool_device_set_state(e->store, *(const uint32_t *)ud, STORE_POOL_ACTIVE, err);
}

/* Rolls a layer build back: its device, staging, row; closes its journal row. */
static int layer_undo(engine *e, uint32_t id, int64_t op, const char *why, struct error *err) {
    pool *p;
    int r = engine_pool_get(e, &p, err);
    if (r == 0)
        r = pool_device_remove(p, id, err);
    _cleanup_free_ char *tmp = layer_tmp_path(e, id);
    if (r == 0)
        r = tmp ? fs_tree_remove(tmp, err) : error_oom(err);
    if (r < 0)
        return r; /* the journal row stays open for recovery */
    return engine_op_abort(e, op, why, undo_rows, &id, err);
}

/* Builds the layer recorded by the intent (row id planned, journal row op). */
static int layer_build(struct layer_job *j, uint32_t id, uint32_t parent, uint64_t size, int64_t op,
                       layer_build_fn build, struct error *err) {
    engine *e = j->e;
    pool *p;
    _cleanup_free_ char *path = NULL;
    int r = engine_pool_get(e, &p, err);
    if (r == 0)
        r = pool_device_snapshot(p, id, parent, size, err);
    if (r == 0)
        r = store_op_step(e->store, op, "snapshot", err);
    if (r == 0) {
        fault_point("vm.layer.after-snapshot");
        r = pool_device_activate(p, id, size, &path, err);
    }
    if (r == 0)
        r = build(j, path, id, err);
    if (r == 0)
        r = pool_device_deactivate(p, id, err);
    if (r == 0)
        r = store_op_step(e->store, op, "built", err);
    if (r == 0) {
        fault_point("vm.layer.after-build");
        r = engine_op_commit(e, op, commit_rows, &id, NULL, err);
    }
    if (r < 0) {
        struct error e2;
        error_init(&e2);
        if (layer_undo(e, id, op, err->msg, &e2) < 0)
            log_warn("layer %u: %s; 'hearth doctor --repair' removes it", id, e2.msg);
    }
    return r;
}

/* What the rows of a layer's intent read and write. */
struct layer_rows {
    uint32_t parent;
    const char *type, *key;
    uint64_t size;
    enum api_kind owner_kind;
    const char *owner_uid;
    struct engine_op *op; /* its device_id and params are set here */
    char params[256];
};

/* The rows of a layer's intent: its device row planned; 1 when one with the key exists. */
static int layer_intent_rows(engine *e, void *ud, struct error *err) {
    struct layer_rows *l = ud;
    struct store_pool_device d;
    int r = store_pool_device_find_layer(e->store, l->parent, l->key, &d, err);
    if (r == 0) {
        store_pool_device_release(&d);
        return 1;
    }
    if (r == -ENOENT) {
        error_init(err);
        r = store_pool_device_get(e->store, l->parent, &d, err);
        if (r == 0) {
            if (d.state != STORE_POOL_ACTIVE)
                r = error_set(err, -EBUSY, "device %u is %s, not active", l->parent,
                              store_pool_state_name(d.state));
            else if (l->size < d.size)
                r = error_set(err, -EINVAL,
                              "layer '%s' (%" PRIu64 " bytes) is smaller than "
                              "device %u (%" PRIu64 " bytes)",
                              l->key, l->size, l->parent, d.size);
            store_pool_device_release(&d);
        }
    }
    uint32_t id = 0;
    if (r == 0)
        r = store_pool_device_allocate(e->store, &id, err);
    if (r == 0) {
        struct store_pool_device row = {
            .id = id,
            .type = (char *)l->type,
            .parent = l->parent,
            .size = l->size,
            .state = STORE_POOL_PLANNED,
            .owner_kind = l->owner_kind,
            .owner_uid = (char *)l->owner_uid,
            .layer_key = (char *)l->key,
        };
        r = store_pool_device_insert(e->store, &row, err);
    }
    snprintf(l->params, sizeof(l->params),
             "{\"type\":\"%s\",\"parent\":%u,\"size\":%" PRIu64 ",\"layer_key\":\"%s\"}", l->type,
             l->parent, l->size, l->key);
    l->op->device_id = id;
    l->op->params = l->params;
    return r;
}

/*
 * Records the intent of a new layer (row planned + journal row vm.layer) in
 * one transaction: 1 and the id when this process is to build it, 0 when a
 * row with the key exists meanwhile (the caller looks again).
 */
static int layer_intent(engine *e, uint32_t parent, const char *type, uint64_t size,
                        const char *key, enum api_kind owner_kind, const char *owner_uid,
                        uint32_t *ret_id, int64_t *ret_op, struct error *err) {
    struct engine_op op = {.name = "vm.layer", .kind = API_KIND_POOL, .device_id = -1};
    struct layer_rows l = {parent, type, key, size, owner_kind, owner_uid, &op, ""};
    int r = engine_op_intent(e, &op, layer_intent_rows, &l, "vm.layer.after-intent", err);
    if (r == -EEXIST) { /* the unique key: another creator was first */
        error_init(err);
        return 0;
    }
    if (r != 0)
        return r < 0 ? r : 0;
    *ret_id = (uint32_t)op.device_id;
    *ret_op = op.id;
    return 1;
}

/*
 * The layer keyed key under parent: an active one is reused; a planned one
 * is waited for (its builder's death makes this process roll it back and
 * try again); a missing one is built here.
 */
static int layer_ensure(struct layer_job *j, uint32_t parent, const char *type, uint64_t size,
                        const char *key, enum api_kind owner_kind, const char *owner_uid,
                        layer_build_fn build, uint32_t *ret_id, struct error *err) {
    engine *e = j->e;
    int64_t deadline = time_now_ms() + LAYER_WAIT_MS;
    for (;;) {
        struct store_pool_device d;
        int r = store_pool_device_find_layer(e->store, parent, key, &d, err);
        if (r == 0) {
            uint32_t id = d.id;
            bool active = d.state == STORE_POOL_ACTIVE;
            bool planned = d.state == STORE_POOL_PLANNED;
            store_pool_device_release(&d);
            if (active) {
                *ret_id = id;
                return 0;
            }
            if (planned) {
                struct store_op op;
                r = engine_op_find_open(e, "vm.layer", NULL, id, &op, err);
                if (r < 0)
                    return r;
                if (r == 1) {
                    bool dead = !proc_is_alive(op.owner_pid, op.owner_start);
                    r = dead ? engine_layer_recover_op(e, &op, err) : 0;
                    engine_op_release(&op);
                    if (r < 0)
                        return r;
                    if (dead)
                        continue;
                }
            }
            if (time_now_ms() > deadline)
                return error_set(err, -ETIMEDOUT,
                                 "waited %d s for layer '%s' (device %u) that another process "
                                 "builds; see 'hearth doctor'",
                                 LAYER_WAIT_MS / 1000, key, id);
            sleep_ms(LAYER_POLL_MS);
            continue;
        }
        if (r != -ENOENT)
            return r;
        error_init(err);
        uint32_t id = 0;
        int64_t op = 0;
        r = layer_intent(e, parent, type, size, key, owner_kind, owner_uid, &id, &op, err);
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        r = layer_build(j, id, parent, size, op, build, err);
        if (r < 0)
            return error_prefix(err, "building the %s layer '%s'", type, key);
        *ret_id = id;
        return 0;
    }
}

/* e2fsck -fy (0 and 1 mean clean or fixed), then resize2fs to the device's size. */
static int build_resize(struct layer_job *j, const char *path, uint32_t id, struct error *err) {
    (void)id;
    stage(j, "Resizing");
    struct exec_opts eo = {.timeout_ms = TOOL_TIMEOUT_MS};
    const char *fsck[] = {"e2fsck", "-fy", path, NULL};
    int r = exec_run(fsck, &eo, err);
    if (r == -EIO) {
        const char *fixed = "'e2fsck' failed with exit status 1";
        size_t n = strlen(fixed);
        if (strncmp(err->msg, fixed, n) == 0 && !(err->msg[n] >= '0' && err->msg[n] <= '9')) {
            error_init(err);
            r = 0;
        }
    }
    if (r < 0)
        return r;
    const char *resize[] = {"resize2fs", path, NULL};
    return exec_run(resize, &eo, err);
}

/* Collects the regular files below dir (relative paths) into files. */
struct tree {
    struct oci_ext4_file *files;
    char **paths; /* owned: guest paths and host paths, two per file */
    size_t n, cap;
    size_t skipped;
};

static void tree_release(struct tree *t) {
    for (size_t i = 0; i < 2 * t->n; i++)
        free(t->paths[i]);
    free(t->paths);
    free(t->files);
}

static int tree_walk(struct tree *t, const char *host, const char *guest, int depth,
                     struct error *err) {
    if (depth > 64)
        return error_set(err, -ELOOP, "'%s' is nested too deeply", host);
    _cleanup_close_ int fd = open(host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", host, strerror(errno));
    DIR *dh = fdopendir(fd);
    if (!dh)
        return error_set(err, -errno, "cannot read '%s': %s", host, strerror(errno));
    fd = -1;
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = error_set(err, -errno, "cannot look at '%s/%s': %s", host, de->d_name,
                          strerror(errno));
            break;
        }
        _cleanup_free_ char *h = xasprintf("%s/%s", host, de->d_name);
        _cleanup_free_ char *g = xasprintf("%s/%s", guest, de->d_name);
        if (!h || !g) {
            r = error_oom(err);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            r = tree_walk(t, h, g, depth + 1, err);
            continue;
        }
        if (!S_ISREG(st.st_mode)) { /* e.g. the build and source symlinks */
            t->skipped++;
            continue;
        }
        if (t->n == t->cap) {
            size_t nc = t->cap ? 2 * t->cap : 256;
            struct oci_ext4_file *f = xrealloc(t->files, nc * sizeof(*f));
            if (f)
                t->files = f;
            char **p = xrealloc(t->paths, 2 * nc * sizeof(*p));
            if (p)
                t->paths = p;
            if (!f || !p) {
                r = error_oom(err);
                break;
            }
            t->cap = nc;
        }
        t->paths[2 * t->n] = steal_ptr(&g);
        t->paths[2 * t->n + 1] = steal_ptr(&h);
        t->files[t->n] = (struct oci_ext4_file){
            .guest_path = t->paths[2 * t->n],
            .host_path = t->paths[2 * t->n + 1],
            .mode = st.st_mode & 0777,
        };
        t->n++;
    }
    closedir(dh);
    return r;
}

/* The kernel's modules.tar, unpacked safely, written into the layer without mounting it. */
static int build_kernel(struct layer_job *j, const char *path, uint32_t id, struct error *err) {
    engine *e = j->e;
    _cleanup_free_ char *tar = NULL;
    int r = engine_kernel_file(e, j->kernel_uid, "modules.tar", &tar, err);
    if (r == -ENOENT) { /* a kernel without modules: the layer is a plain snapshot */
        error_init(err);
        return 0;
    }
    if (r < 0)
        return r;
    stage(j, "Adding kernel modules");
    _cleanup_free_ char *staging = layer_tmp_path(e, id), *key = xasprintf("%u", id);
    _cleanup_free_ char *work = NULL, *tree = NULL;
    if (!staging || !key)
        return error_oom(err);
    r = fs_tree_remove(staging, err);
    if (r == 0)
        r = engine_staging_make(e, "layer", key, &work, err);
    if (r == 0 && !(tree = xasprintf("%s/tree", work)))
        r = error_oom(err);
    if (r == 0)
        r = engine_dir_make(tree, err);
    if (r == 0)
        r = oci_unpack_tar(tar, tree, NULL, err);
    /* lib/modules/... of the tar, below wherever the image keeps /lib/modules
     * (merged /usr images: /usr/lib/modules, resolved inside the image). */
    _cleanup_(tree_release) struct tree t = {0};
    _cleanup_free_ char *base = NULL;
    _cleanup_free_ char *mods = tree ? xasprintf("%s/lib/modules", tree) : NULL;
    if (r == 0 && !mods)
        r = error_oom(err);
    if (r == 0)
        r = oci_ext4_resolve(path, "/lib/modules", work, &base, err);
    if (r == 0 && access(mods, F_OK) == 0)
        r = tree_walk(&t, mods, strcmp(base, "/") == 0 ? "" : base, 0, err);
    for (size_t i = 0; r == 0 && i < t.n; i += OCI_EXT4_FILES_MAX) {
        size_t n = t.n - i < OCI_EXT4_FILES_MAX ? t.n - i : OCI_EXT4_FILES_MAX;
        r = oci_ext4_write_files(path, t.files + i, n, work, err);
    }
    if (t.skipped)
        log_debug("kernel %s: %zu entries of modules.tar that are not regular files skipped",
                  j->kernel_uid, t.skipped);
    struct error e2;
    error_init(&e2);
    if (fs_tree_remove(staging, &e2) < 0 && r == 0)
        r = error_set(err, e2.code, "%s", e2.msg);
    return r < 0 ? error_prefix(err, "writing the modules of kernel %s", j->kernel_uid) : 0;
}

/* ---- the layers VMs use ------------------------------------------------ */

int engine_layer_resize(engine *e, uint32_t image_dev, uint64_t size, const char *image_uid,
                        const struct engine_vm_create_opts *opts, uint32_t *ret_id,
                        struct error *err) {
    struct layer_job j = {.e = e, .opts = opts};
    char key[64];
    snprintf(key, sizeof(key), "resize:%" PRIu64, size);
    return layer_ensure(&j, image_dev, "Resize", size, key, API_KIND_IMAGE, image_uid, build_resize,
                        ret_id, err);
}

int engine_layer_kernel(engine *e, uint32_t resize_dev, uint64_t size, const char *kernel_uid,
                        const struct engine_vm_create_opts *opts, uint32_t *ret_id,
                        struct error *err) {
    struct layer_job j = {.e = e, .opts = opts, .kernel_uid = kernel_uid};
    char key[64];
    snprintf(key, sizeof(key), "kernel:%s", kernel_uid);
    return layer_ensure(&j, resize_dev, "Kernel", size, key, API_KIND_KERNEL, kernel_uid,
                        build_kernel, ret_id, err);
}

int engine_layer_recover_op(engine *e, const struct store_op *op, struct error *err) {
    int r = engine_op_adopt(e, op, err);
    if (r <= 0)
        return r; /* an error, or another process finished it */
    if (op->device_id < 0 || op->device_id > POOL_ID_MAX)
        return engine_op_abort(e, op->id, "interrupted; no device recorded", NULL, NULL, err);
    return layer_undo(e, (uint32_t)op->device_id, op->id, "interrupted; rolled back", err);
}

/* ---- removal of an image's or a kernel's layers -------------------------- */

static bool row_in(const struct store_pool_device *d, size_t n, int64_t id, size_t *ret_i) {
    for (size_t i = 0; i < n; i++)
        if ((int64_t)d[i].id == id) {
            if (ret_i)
                *ret_i = i;
            return true;
        }
    return false;
}

int engine_layers_remove(engine *e, enum api_kind kind, const char *uid, struct error *err) {
    struct store_pool_device *d = NULL;
    size_t n = 0;
    int r = store_pool_device_list(e->store, &d, &n, err);
    if (r < 0)
        return r;
    /* Mark the layers to go: for an image, Resize/Kernel below its own devices;
     * for a kernel, its Kernel layers. Rows come by id; parents may have any id,
     * so repeat until nothing changes. */
    bool *gone = xcalloc(n ? n : 1, sizeof(*gone));
    if (!gone) {
        store_pool_devices_free(d, n);
        return error_oom(err);
    }
    for (size_t i = 0; i < n; i++)
        if (kind == API_KIND_KERNEL && d[i].layer_key && d[i].owner_kind == API_KIND_KERNEL &&
            d[i].owner_uid && strcmp(d[i].owner_uid, uid) == 0)
            gone[i] = true;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (gone[i] || !d[i].layer_key)
                continue;
            size_t pi;
            if (!row_in(d, n, d[i].parent, &pi))
                continue;
            bool parent_image = kind == API_KIND_IMAGE && d[pi].owner_kind == API_KIND_IMAGE &&
                                d[pi].owner_uid && strcmp(d[pi].owner_uid, uid) == 0;
            if (gone[pi] || parent_image) {
                gone[i] = true;
                changed = true;
            }
        }
    }
    /* VM devices (and anything else that stays) below a layer that goes: to the pool. */
    for (size_t i = 0; i < n && r == 0; i++) {
        size_t pi;
        if (gone[i] || !row_in(d, n, d[i].parent, &pi) || !gone[pi])
            continue;
        r = store_begin(e->store, err);
        if (r == 0)
            r = store_pool_device_reparent(e->store, d[pi].id, STORE_DEVICE_PARENT_NONE, err);
        if (r == 0)
            r = store_commit(e->store, err);
        if (r < 0)
            store_rollback(e->store);
    }
    /* Deepest first: a layer goes once no remaining layer has it as parent. */
    for (bool progress = true; progress && r == 0;) {
        progress = false;
        for (size_t i = 0; i < n && r == 0; i++) {
            if (!gone[i])
                continue;
            bool kids = false;
            for (size_t k = 0; k < n && !kids; k++)
                kids = gone[k] && d[k].parent == (int64_t)d[i].id;
            if (kids)
                continue;
            r = engine_pool_device_remove(e, d[i].id, err);
            if (r == -ENOENT) {
                error_init(err);
                r = 0;
            }
            gone[i] = false;
            progress = true;
        }
    }
    free(gone);
    store_pool_devices_free(d, n);
    return r;
}
