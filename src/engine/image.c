/*
 * engine image: importing OCI images into the storage pool as ext4, and the
 * parts of import and removal that images and kernels share (source names,
 * pulling into the blob cache, staging directories, undo and recovery).
 *
 * An import follows design.md's protocol (docs/architecture.md, "Image and
 * kernel import"):
 *   0. no database state: the pool is created if there is none, the blobs are
 *      pulled into <root>/blobs (a content-addressed cache the oci module
 *      keeps consistent on its own);
 *   1. intent: a journal row "image.import" naming the new uid (the staging
 *      directory <root>/tmp/import-<uid> and the devices owned by the uid
 *      follow from it);
 *   2. act: unpack into the staging directory, create an Image device of the
 *      content's size (the pool's own protocol), build the ext4 into it,
 *      remove the staging directory;
 *   3. commit: one transaction inserts the Image row and closes the journal
 *      row. Before that there is no row, so a rollback never touches one.
 *   4. recover: an import whose owner died is rolled back: its devices are
 *      removed through the pool's protocol and its staging directory goes.
 * Fault points image.import.after-{intent,unpack,device,build,cleanup,commit}
 * and image.remove.after-{intent,act}.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "pool/pool.h"

#define MiB (UINT64_C(1) << 20)

/* ---- shared helpers ---------------------------------------------------- */

char *engine_tmp_path(engine *e, const char *prefix, const char *uid) {
    return xasprintf("%s/tmp/%s-%s", e->root, prefix, uid);
}

int engine_tree_remove(const char *path, struct error *err) {
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, -errno, "cannot look at '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return error_set(err, -errno, "cannot remove '%s': %s", path, strerror(errno));
        return 0;
    }
    return oci_rmtree(path, err);
}

bool engine_import_cancelled(const struct engine_import_opts *opts) {
    return opts && opts->cancel && *opts->cancel;
}

int engine_import_cancel_error(struct error *err) {
    return error_set(err, -ECANCELED, "import cancelled");
}

/*
 * Turns s into a path component of the reference grammar: lowercase
 * alphanumerics separated by single dashes; "image" when nothing is left.
 */
static void component_from(const char *s, char *buf, size_t size) {
    size_t n = 0;
    bool dash = false;
    for (; *s && n + 2 < size && n < 64; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c)) {
            if (dash && n > 0)
                buf[n++] = '-';
            dash = false;
            buf[n++] = (char)tolower(c);
        } else {
            dash = true;
        }
    }
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, size, "image");
}

/* A tag of the grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static bool tag_is_valid(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
            return false;
    return true;
}

/* The familiar normalised form of a reference string, or NULL when it is none. */
static char *familiar_of(const char *s) {
    if (!api_ref_is_valid(s))
        return NULL;
    struct oci_ref ref;
    struct error err;
    error_init(&err);
    if (oci_ref_parse(s, &ref, &err) < 0)
        return NULL;
    char *f = oci_ref_familiar(&ref);
    oci_ref_release(&ref);
    return f;
}

int engine_import_source(const char *source, struct oci_source *ret_src, char **ret_name,
                         struct error *err) {
    struct oci_source src;
    int r = oci_source_parse(source, &src, err);
    if (r < 0)
        return r;
    char *name = NULL;
    if (src.kind == OCI_SOURCE_REGISTRY) {
        name = oci_ref_familiar(&src.ref);
    } else {
        /* A layout's ref.name that is a whole reference, and the reference that
         * picks an archive's image, name the image; else localhost/<file
         * name>:<tag> as podman names local images (an archive's @N: tag N). */
        if (src.kind == OCI_SOURCE_LAYOUT && src.tag &&
            (strchr(src.tag, '/') || strchr(src.tag, ':')))
            name = familiar_of(src.tag);
        if (src.kind == OCI_SOURCE_ARCHIVE && src.tag && src.tag[0] != '@')
            name = familiar_of(src.tag);
        if (!name) {
            const char *path = src.path ? src.path : "";
            size_t len = strlen(path);
            while (len > 1 && path[len - 1] == '/')
                len--;
            _cleanup_free_ char *trimmed = xstrndup(path, len);
            if (!trimmed) {
                oci_source_release(&src);
                return error_oom(err);
            }
            const char *base = strrchr(trimmed, '/');
            base = base ? base + 1 : trimmed;
            char *dot = src.kind == OCI_SOURCE_ARCHIVE ? strrchr(trimmed, '.') : NULL;
            if (dot && dot > base)
                *dot = '\0';
            char comp[80];
            component_from(base, comp, sizeof(comp));
            const char *tag = src.tag && src.tag[0] == '@' ? src.tag + 1 : src.tag;
            if (!tag || !tag_is_valid(tag))
                tag = "latest";
            _cleanup_free_ char *s = xasprintf("localhost/%s:%s", comp, tag);
            name = s ? familiar_of(s) : NULL;
        }
    }
    if (!name) {
        oci_source_release(&src);
        return error_set(err, -EINVAL, "cannot make an image name from '%s'", source);
    }
    if (!api_ref_is_valid(name)) {
        r = error_set(err, -EINVAL, "'%s' is not a valid image name", name);
        free(name);
        oci_source_release(&src);
        return r;
    }
    *ret_src = src;
    *ret_name = name;
    return 0;
}

int engine_import_pull(engine *e, const struct oci_source *src,
                       const struct engine_import_opts *opts, struct oci_image *ret,
                       struct error *err) {
    _cleanup_free_ char *cache = xasprintf("%s/blobs", e->root);
    if (!cache)
        return error_oom(err);
    int r = engine_dir_make(cache, err);
    if (r < 0)
        return r;
    struct oci_pull_opts po = {
        .cache_dir = cache,
        .registry_config_dir = opts ? opts->registry_config_dir : NULL,
        .insecure = opts ? opts->insecure : NULL,
        .n_insecure = opts ? opts->n_insecure : 0,
        .ca_file = opts ? opts->ca_file : NULL,
        .cancel = opts ? opts->cancel : NULL,
        .progress = opts ? opts->progress : NULL,
        .progress_ud = opts ? opts->ud : NULL,
    };
    r = oci_pull(src, &po, ret, err);
    if (r == 0 && engine_import_cancelled(opts))
        oci_image_release(ret);
    if (engine_import_cancelled(opts) || r == -ECANCELED) {
        error_init(err);
        return engine_import_cancel_error(err);
    }
    return r;
}

void engine_import_stage(const struct engine_import_opts *opts, const char *stage) {
    if (opts && opts->stage)
        opts->stage(opts->ud, stage);
}

int engine_import_existing(engine *e, enum api_kind kind, const char *name,
                           struct engine_import_result *ret, struct error *err) {
    char uid[ID_LEN + 1];
    int r = store_object_find_name(e->store, kind, name, uid, err);
    if (r == -ENOENT) {
        error_init(err);
        return 0;
    }
    if (r < 0)
        return r;
    r = engine_import_result_fill(e, kind, uid, ret, err);
    return r < 0 ? r : 1;
}

int engine_import_result_fill(engine *e, enum api_kind kind, const char *uid,
                              struct engine_import_result *ret, struct error *err) {
    struct api_object *obj = NULL;
    int r = store_object_get(e->store, kind, uid, &obj, err);
    if (r < 0)
        return r;
    memcpy(ret->uid, uid, sizeof(ret->uid));
    snprintf(ret->name, sizeof(ret->name), "%s", obj->meta.name);
    ret->size = kind == API_KIND_KERNEL ? obj->u.kernel.source.size : obj->u.image.source.size;
    ret->existed = true;
    api_object_free(obj);
    return 0;
}

int engine_owned_devices_remove(engine *e, enum api_kind kind, const char *uid, struct error *err) {
    struct store_pool_device *d = NULL;
    size_t n = 0;
    int r = store_pool_device_list(e->store, &d, &n, err);
    if (r < 0)
        return r;
    /* Children first: the highest ids were made last. */
    for (size_t i = n; i-- > 0 && r == 0;) {
        if (d[i].owner_kind != kind || !d[i].owner_uid || strcmp(d[i].owner_uid, uid) != 0)
            continue;
        r = engine_pool_device_remove(e, d[i].id, err);
        if (r == -ENOENT) { /* someone else removed it meanwhile */
            error_init(err);
            r = 0;
        }
    }
    store_pool_devices_free(d, n);
    return r;
}

int engine_image_device(engine *e, const char *uid, uint32_t *ret_id, struct error *err) {
    struct store_pool_device *d = NULL;
    size_t n = 0;
    int r = store_pool_device_list(e->store, &d, &n, err);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; i < n; i++)
        if (d[i].owner_kind == API_KIND_IMAGE && d[i].owner_uid &&
            strcmp(d[i].owner_uid, uid) == 0 && strcmp(d[i].type, "Image") == 0 &&
            d[i].state == STORE_POOL_ACTIVE) {
            *ret_id = d[i].id;
            r = 0;
            break;
        }
    store_pool_devices_free(d, n);
    if (r < 0)
        return error_set(err, -ENOENT, "image %s has no pool device", uid);
    return 0;
}

/* Closes an operation with why (NULL: success) in its own transaction; failures are logged. */
static void op_close(engine *e, int64_t op, const char *why) {
    struct error e2;
    error_init(&e2);
    if (store_op_finish(e->store, op, why, &e2) < 0)
        log_warn("operation %lld: %s", (long long)op, e2.msg);
}

/* ---- import ------------------------------------------------------------ */

/* Creates the pool with its defaults when there is none. */
static int pool_ensure(engine *e, char *notice, size_t notice_size, struct error *err) {
    struct store_pool sp;
    int r = store_pool_get(e->store, &sp, err);
    if (r == 0) {
        bool created = sp.driver != NULL;
        store_pool_release(&sp);
        if (created)
            return 0;
    } else if (r != -ENOENT) {
        return r;
    }
    error_init(err);
    char why[400] = "";
    struct engine_pool_init_opts o = {0};
    r = engine_pool_init(e, &o, why, sizeof(why), err);
    if (r == -EEXIST) { /* another process made it meanwhile */
        error_init(err);
        return 0;
    }
    if (r < 0)
        return error_prefix(err, "creating the storage pool");
    snprintf(notice, notice_size, "created the storage pool%s%s", why[0] ? ", " : "", why);
    return 0;
}

/* The device size for content bytes: a whole number of the pool's allocation units. */
static int device_size_for(engine *e, uint64_t content, uint64_t *ret, struct error *err) {
    struct store_pool sp;
    int r = store_pool_get(e->store, &sp, err);
    if (r < 0)
        return r;
    uint64_t unit = sp.allocation_size ? sp.allocation_size : 64 * 1024;
    store_pool_release(&sp);
    if (unit % 512 != 0)
        unit = MiB;
    if (content < MiB)
        content = MiB;
    if (content > UINT64_MAX - unit)
        return error_set(err, -EFBIG, "the image is too large");
    *ret = (content + unit - 1) / unit * unit;
    return 0;
}

/* Undoes an import: its devices, its staging directory; closes the journal row. */
static int image_import_undo(engine *e, const char *uid, int64_t op, const char *why,
                             struct error *err) {
    int r = engine_owned_devices_remove(e, API_KIND_IMAGE, uid, err);
    _cleanup_free_ char *staging = engine_tmp_path(e, "import", uid);
    if (!staging && r == 0)
        r = error_oom(err);
    if (r == 0)
        r = engine_tree_remove(staging, err);
    if (r < 0) { /* the journal row stays open: recovery finishes it once we are gone */
        log_warn("undoing the import of image %s: %s; 'hearth doctor --repair' finishes it", uid,
                 err->msg);
        return r;
    }
    if (op > 0)
        op_close(e, op, why);
    return 0;
}

/* Fails the import: undo, and return the first error (kept in err). */
static int import_fail(engine *e, const char *uid, int64_t op, int r, struct error *err) {
    struct error e2;
    error_init(&e2);
    (void)image_import_undo(e, uid, op, err->msg[0] ? err->msg : strerror(-r), &e2);
    return r;
}

/* Replaces *s with what the pulled image says: config digest, size, repo digest. */
static int source_set(struct api_oci_source *s, const struct oci_image *img, struct error *err) {
    char *id = xstrdup(img->config_digest);
    char **digests = NULL;
    if (img->repo_digest) {
        /* recorded in the familiar form the name has ("busybox@sha256:...") */
        _cleanup_free_ char *familiar = familiar_of(img->repo_digest);
        digests = xcalloc(1, sizeof(char *));
        if (digests && !(digests[0] = xstrdup(familiar ? familiar : img->repo_digest))) {
            free(digests);
            digests = NULL;
        }
    }
    if (!id || (img->repo_digest && !digests)) {
        free(id);
        return error_oom(err);
    }
    free(s->id);
    for (size_t i = 0; i < s->n_repo_digests; i++)
        free(s->repo_digests[i]);
    free(s->repo_digests);
    s->id = id;
    s->size = img->size;
    s->repo_digests = digests;
    s->n_repo_digests = digests ? 1 : 0;
    return 0;
}

static int image_object_build(const char *uid, const char *name, const struct oci_image *img,
                              struct api_object **ret, struct error *err) {
    _cleanup_object_ struct api_object *obj = api_object_new(API_KIND_IMAGE);
    if (!obj)
        return error_oom(err);
    obj->meta.name = xstrdup(name);
    obj->meta.uid = xstrdup(uid);
    obj->meta.created = (int64_t)time(NULL);
    obj->u.image.claim.type = xstrdup("Docker");
    obj->u.image.claim.ref = xstrdup(name);
    if (!obj->meta.name || !obj->meta.uid || !obj->u.image.claim.type || !obj->u.image.claim.ref)
        return error_oom(err);
    int r = source_set(&obj->u.image.source, img, err);
    if (r < 0)
        return r;
    r = api_object_set_defaults(obj, NULL);
    if (r < 0)
        return error_oom(err);
    r = api_object_validate(obj, err);
    if (r < 0)
        return error_prefix(err, "image '%s'", name);
    *ret = steal_ptr(&obj);
    return 0;
}

int engine_import_unpack(engine *e, const struct engine_import_opts *opts,
                         const struct oci_image *img, const char *cache, const char *tmp,
                         const char *staging, int64_t op, struct error *err) {
    int r = engine_dir_make(tmp, err);
    if (r == 0)
        r = engine_dir_make(staging, err);
    if (r == 0) {
        engine_import_stage(opts, "Unpacking");
        r = oci_unpack(img, cache, staging, opts ? opts->cancel : NULL, err);
    }
    if (r == 0 && engine_import_cancelled(opts))
        r = engine_import_cancel_error(err);
    if (r == 0)
        r = store_op_step(e->store, op, "unpacked", err);
    return r;
}

int engine_image_import(engine *e, const char *source, const struct engine_import_opts *opts,
                        struct engine_import_result *ret, struct error *err) {
    memset(ret, 0, sizeof(*ret));
    struct oci_source src;
    _cleanup_free_ char *name = NULL;
    int r = engine_import_source(source, &src, &name, err);
    if (r < 0)
        return engine_import_path_hint(source, "image", true, err) < 0 ? -EINVAL : r;
    r = engine_import_existing(e, API_KIND_IMAGE, name, ret, err);
    bool have = false;
    if (r == 1)
        r = engine_object_has_data(e, API_KIND_IMAGE, ret->uid, &have, err);
    if (r == 0 && !have && ret->existed) {
        /* Recorded (applied from a document) without its data here: imported into it. */
        char uid[ID_LEN + 1];
        memcpy(uid, ret->uid, sizeof(uid));
        memset(ret, 0, sizeof(*ret));
        r = engine_image_import_into(e, &src, name, opts, uid, ret, err);
    } else if (r == 0 && !ret->existed) {
        if (src.kind == OCI_SOURCE_REGISTRY &&
            engine_import_path_hint(source, "image", false, err) < 0)
            r = -EINVAL;
        else
            r = engine_image_import_into(e, &src, name, opts, NULL, ret, err);
    }
    oci_source_release(&src);
    return r;
}

/* A restore's commit: the recorded image gets what was pulled as its status. */
static int image_restore_commit(engine *e, const char *uid, const struct oci_image *img, int64_t op,
                                char *ret_name, size_t name_size, struct error *err) {
    _cleanup_object_ struct api_object *obj = NULL;
    int r = store_begin(e->store, err);
    if (r == 0) {
        r = store_object_get(e->store, API_KIND_IMAGE, uid, &obj, err);
        if (r == -ENOENT)
            r = error_set(err, -ENOENT, "image %s was removed while it was imported again", uid);
    }
    if (r == 0)
        r = source_set(&obj->u.image.source, img, err);
    if (r == 0)
        r = store_object_put(e->store, obj, err);
    if (r == 0)
        r = store_op_finish(e->store, op, NULL, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0) {
        store_rollback(e->store);
        return r;
    }
    snprintf(ret_name, name_size, "%s", obj->meta.name);
    return 0;
}

int engine_image_import_into(engine *e, const struct oci_source *src, const char *name,
                             const struct engine_import_opts *opts, const char *restore_uid,
                             struct engine_import_result *ret, struct error *err) {
    struct oci_image img = {0};
    _cleanup_free_ char *cache = NULL, *staging = NULL, *dev_path = NULL;
    _cleanup_object_ struct api_object *obj = NULL;
    int64_t op = 0;
    char uid[ID_LEN + 1] = "";

    /* The pull first: a reference that cannot be pulled changes nothing. */
    int r = engine_import_pull(e, src, opts, &img, err);
    if (r < 0)
        return r;
    r = pool_ensure(e, ret->notice, sizeof(ret->notice), err);
    if (r < 0) {
        oci_image_release(&img);
        return r;
    }

    cache = xasprintf("%s/blobs", e->root);
    _cleanup_free_ char *tmp = xasprintf("%s/tmp", e->root);
    if (restore_uid)
        memcpy(uid, restore_uid, sizeof(uid));
    else if ((r = id_generate(uid)) < 0) {
        oci_image_release(&img);
        return error_set(err, r, "cannot generate an id: %s", strerror(-r));
    }
    staging = engine_tmp_path(e, "import", uid);
    if (!cache || !tmp || !staging) {
        oci_image_release(&img);
        return error_oom(err);
    }

    /* 1. intent (a restore waits for another restore of the same image) */
    if (restore_uid)
        r = engine_restore_begin(e, API_KIND_IMAGE, uid, &op, err);
    else if ((r = store_op_begin(e->store, "image.import", API_KIND_IMAGE, uid, "intent", &op,
                                 err)) == 0)
        r = 1;
    if (r <= 0) {
        oci_image_release(&img);
        if (r == 0) /* restored meanwhile by another process */
            return engine_import_result_fill(e, API_KIND_IMAGE, uid, ret, err);
        return r;
    }
    r = 0;
    fault_point("image.import.after-intent");

    /* 2. act: unpack, device, ext4, cleanup */
    uint32_t dev = 0;
    uint64_t content = 0, size = 0;
    r = engine_import_unpack(e, opts, &img, cache, tmp, staging, op, err);
    if (r < 0)
        goto fail;
    fault_point("image.import.after-unpack");

    r = oci_ext4_size_for(staging, &content, err);
    if (r == 0)
        r = device_size_for(e, content, &size, err);
    if (r == 0)
        r = engine_pool_device_create(e, "Image", size, API_KIND_IMAGE, uid, &dev, err);
    if (r == 0)
        r = store_op_step(e->store, op, "device", err);
    if (r < 0)
        goto fail;
    fault_point("image.import.after-device");

    engine_import_stage(opts, "Building ext4");
    r = engine_pool_device_activate(e, dev, &dev_path, err);
    if (r == 0)
        r = oci_ext4_build(staging, dev_path, size, "hearth-image", err);
    if (r == 0) {
        pool *p = NULL;
        r = engine_pool_get(e, &p, err);
        if (r == 0)
            r = pool_device_deactivate(p, dev, err);
    }
    if (engine_import_cancelled(opts))
        r = engine_import_cancel_error(err);
    if (r == 0)
        r = store_op_step(e->store, op, "built", err);
    if (r < 0)
        goto fail;
    fault_point("image.import.after-build");

    r = oci_rmtree(staging, err);
    if (r < 0)
        goto fail;
    fault_point("image.import.after-cleanup");

    /* 3. commit */
    if (restore_uid) {
        r = image_restore_commit(e, uid, &img, op, ret->name, sizeof(ret->name), err);
        if (r < 0)
            goto fail;
        fault_point("image.import.after-commit");
        memcpy(ret->uid, uid, sizeof(ret->uid));
        ret->size = img.size;
        oci_image_release(&img);
        return 0;
    }
    r = image_object_build(uid, name, &img, &obj, err);
    if (r < 0)
        goto fail;
    r = store_begin(e->store, err);
    if (r == 0)
        r = store_object_put(e->store, obj, err);
    if (r == 0)
        r = store_op_finish(e->store, op, NULL, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0) {
        store_rollback(e->store);
        if (r == -EEXIST) {
            /* another import of the same name won: give its id, undo ours */
            struct error e2;
            error_init(&e2);
            (void)image_import_undo(e, uid, op, "an image of this name was imported meanwhile",
                                    &e2);
            oci_image_release(&img);
            error_init(err);
            r = engine_import_existing(e, API_KIND_IMAGE, name, ret, err);
            return r < 0 ? r : 0;
        }
        goto fail;
    }
    fault_point("image.import.after-commit");
    memcpy(ret->uid, uid, sizeof(ret->uid));
    snprintf(ret->name, sizeof(ret->name), "%s", name);
    ret->size = img.size;
    oci_image_release(&img);
    return 0;

fail:
    oci_image_release(&img);
    if (engine_import_cancelled(opts) || r == -ECANCELED) {
        error_init(err);
        r = engine_import_cancel_error(err);
    }
    return import_fail(e, uid, op, r, err);
}

/* ---- removal (engine_remove's act step) -------------------------------- */

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

/* ---- recovery ---------------------------------------------------------- */

bool engine_import_op_is(const char *op) {
    return op && (strcmp(op, "image.import") == 0 || strcmp(op, "image.remove") == 0 ||
                  strcmp(op, "image.restore") == 0 || strcmp(op, "kernel.import") == 0 ||
                  strcmp(op, "kernel.remove") == 0 || strcmp(op, "kernel.restore") == 0);
}

/* True when an object of kind with uid has a row. */
static int object_exists(engine *e, enum api_kind kind, const char *uid, bool *ret,
                         struct error *err) {
    struct api_object *obj = NULL;
    int r = store_object_get(e->store, kind, uid, &obj, err);
    if (r == -ENOENT) {
        error_init(err);
        *ret = false;
        return 0;
    }
    if (r < 0)
        return r;
    api_object_free(obj);
    *ret = true;
    return 0;
}

int engine_import_recover_op(engine *e, const struct store_op *op, struct error *err) {
    if (!engine_import_op_is(op->op))
        return 0;
    int r = store_op_adopt(e->store, op->id, op->owner_pid, op->owner_start, err);
    if (r == -ESRCH) {
        error_init(err);
        return 0; /* someone else finished it */
    }
    if (r < 0)
        return r;
    if (!op->object_uid || !id_is_valid(op->object_uid))
        return store_op_finish(e->store, op->id, "interrupted; no object recorded", err);
    const char *uid = op->object_uid;
    enum api_kind kind = str_starts_with(op->op, "image.") ? API_KIND_IMAGE : API_KIND_KERNEL;
    bool exists = false;
    r = object_exists(e, kind, uid, &exists, err);
    if (r < 0)
        return r;

    if (strcmp(op->op + strlen(engine_kind_word(kind)), ".restore") == 0) {
        /* The row was there all along; its commit closes the journal row, so an open
         * one means the data is incomplete: it goes. */
        if (kind == API_KIND_IMAGE)
            return image_import_undo(e, uid, op->id, "interrupted; rolled back", err);
        r = engine_kernel_files_remove(e, uid, err);
        if (r < 0)
            return r;
        return store_op_finish(e->store, op->id, "interrupted; rolled back", err);
    }
    if (strcmp(op->op + strlen(engine_kind_word(kind)), ".import") == 0) {
        if (exists) /* the commit happened; nothing to undo */
            return store_op_finish(e->store, op->id, NULL, err);
        if (kind == API_KIND_IMAGE)
            return image_import_undo(e, uid, op->id, "interrupted; rolled back", err);
        r = engine_kernel_files_remove(e, uid, err);
        if (r < 0)
            return r;
        return store_op_finish(e->store, op->id, "interrupted; rolled back", err);
    }

    /* remove: always forward */
    r = engine_object_data_remove(e, kind, uid, err);
    if (r < 0)
        return r;
    r = store_begin(e->store, err);
    if (r == 0 && exists)
        r = store_object_delete(e->store, kind, uid, err);
    if (r == 0)
        r = store_op_finish(e->store, op->id, NULL, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        store_rollback(e->store);
    return r;
}

int engine_import_recover(engine *e, size_t *ret_n, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0, done = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        if (!engine_import_op_is(ops[i].op) || proc_is_alive(ops[i].owner_pid, ops[i].owner_start))
            continue;
        struct error e2;
        error_init(&e2);
        r = engine_import_recover_op(e, &ops[i], &e2);
        if (r < 0 && first == 0)
            first = error_set(err, r, "operation %lld (%s of %s): %s", (long long)ops[i].id,
                              ops[i].op, ops[i].object_uid ? ops[i].object_uid : "?", e2.msg);
        else if (r == 0)
            done++;
    }
    store_ops_free(ops, n);
    if (ret_n)
        *ret_n = done;
    return first;
}

void engine_import_open_hook(engine *e) {
    struct error err;
    error_init(&err);
    size_t n = 0;
    if (engine_import_recover(e, &n, &err) < 0)
        log_warn("import recovery: %s", err.msg);
    else if (n > 0)
        log_info("import recovery: finished %zu interrupted operations", n);
}
