/*
 * engine image: importing OCI images into the storage pool as ext4, the
 * undo and recovery of an image import or restore, and what an image's data
 * is (its Image device). What image and kernel import share is import.c's;
 * removal is remove.c's.
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
 * (image.remove.* are remove.c's).
 */
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

int engine_image_device(engine *e, const char *uid, uint32_t *ret_id, struct error *err) {
    int r = engine_pool_device_owned(e, API_KIND_IMAGE, uid, "Image", ret_id, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "image %s has no pool device", uid);
    return r;
}

int engine_image_has_data(engine *e, const char *uid, bool *ret, struct error *err) {
    struct error e2;
    error_init(&e2);
    uint32_t dev;
    int r = engine_image_device(e, uid, &dev, &e2);
    if (r < 0 && r != -ENOENT)
        return error_set(err, r, "%s", e2.msg);
    *ret = r == 0;
    return 0;
}

/* What a restore of an image needs (import.c's engine_restore_begin). */
static const struct engine_restore_kind image_restore = {
    API_KIND_IMAGE,
    "image.restore",
    engine_image_has_data,
    engine_image_recover_op,
};

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
        r = fs_tree_remove(staging, err);
    if (r < 0) { /* the journal row stays open: recovery finishes it once we are gone */
        log_warn("undoing the import of image %s: %s; 'hearth doctor --repair' finishes it", uid,
                 err->msg);
        return r;
    }
    if (op > 0) {
        struct error e2;
        error_init(&e2);
        (void)engine_op_abort(e, op, why, NULL, NULL, &e2);
    }
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
        _cleanup_free_ char *familiar = engine_ref_familiar(img->repo_digest);
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

int engine_image_import(engine *e, const char *source, const struct engine_import_opts *opts,
                        struct engine_import_result *ret, struct error *err) {
    return engine_import_run(e, API_KIND_IMAGE, source, opts, engine_image_has_data,
                             engine_image_import_into, ret, err);
}

/* An image import under way. */
struct ijob {
    engine *e;
    const struct engine_import_opts *opts;
    const char *name;        /* the image's name */
    const char *restore_uid; /* the recorded image a restore imports into, or NULL */
    char uid[ID_LEN + 1];
    struct oci_image img; /* what was pulled (oci_image_release) */
    char *cache, *tmp, *staging;
    int64_t op;             /* the journal row, once the intent is recorded */
    struct api_object *obj; /* the commit's object: the new image, or the recorded one */
};

static void ijob_release(struct ijob *j) {
    oci_image_release(&j->img);
    free(j->cache);
    free(j->tmp);
    free(j->staging);
    api_object_free(j->obj);
}

/* The commit's rows: the new image, or the recorded one with what was pulled as its status. */
static int image_commit_rows(engine *e, void *ud, struct error *err) {
    struct ijob *j = ud;
    if (!j->restore_uid)
        return store_object_put(e->store, j->obj, err);
    api_object_free(j->obj);
    j->obj = NULL;
    int r = store_object_get(e->store, API_KIND_IMAGE, j->uid, &j->obj, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "image %s was removed while it was imported again", j->uid);
    if (r == 0)
        r = source_set(&j->obj->u.image.source, &j->img, err);
    if (r == 0)
        r = store_object_put(e->store, j->obj, err);
    return r;
}

/* The paths and the uid of an import (a new one, or the restored image's). */
static int ijob_prepare(struct ijob *j, struct error *err) {
    engine *e = j->e;
    if (j->restore_uid) {
        memcpy(j->uid, j->restore_uid, sizeof(j->uid));
    } else {
        int r = id_generate(j->uid);
        if (r < 0)
            return error_set(err, r, "cannot generate an id: %s", strerror(-r));
    }
    j->cache = xasprintf("%s/blobs", e->root);
    j->tmp = xasprintf("%s/tmp", e->root);
    j->staging = engine_tmp_path(e, "import", j->uid);
    if (!j->cache || !j->tmp || !j->staging)
        return error_oom(err);
    return 0;
}

/* 1. intent (a restore waits for another restore of the same image): 1, or 0 when restored. */
static int image_intent(struct ijob *j, struct error *err) {
    if (j->restore_uid)
        return engine_restore_begin(j->e, &image_restore, j->uid, &j->op, err);
    struct engine_op op = {
        .name = "image.import", .kind = API_KIND_IMAGE, .uid = j->uid, .device_id = -1};
    int r = engine_op_intent(j->e, &op, NULL, NULL, NULL, err);
    j->op = op.id;
    return r < 0 ? r : 1;
}

/* 2. act: unpack, device, ext4, cleanup. */
static int image_act(struct ijob *j, struct error *err) {
    engine *e = j->e;
    int r = engine_import_unpack(e, j->opts, &j->img, j->cache, j->tmp, j->staging, j->op, err);
    if (r < 0)
        return r;
    fault_point("image.import.after-unpack");

    uint32_t dev = 0;
    uint64_t content = 0, size = 0;
    r = oci_ext4_size_for(j->staging, &content, err);
    if (r == 0)
        r = device_size_for(e, content, &size, err);
    if (r == 0)
        r = engine_pool_device_create(e, "Image", size, API_KIND_IMAGE, j->uid, &dev, err);
    if (r == 0)
        r = store_op_step(e->store, j->op, "device", err);
    if (r < 0)
        return r;
    fault_point("image.import.after-device");

    engine_import_stage(j->opts, "Building ext4");
    _cleanup_free_ char *dev_path = NULL;
    r = engine_pool_device_activate(e, dev, &dev_path, err);
    if (r == 0)
        r = oci_ext4_build(j->staging, dev_path, size, "hearth-image", err);
    if (r == 0) {
        pool *p = NULL;
        r = engine_pool_get(e, &p, err);
        if (r == 0)
            r = pool_device_deactivate(p, dev, err);
    }
    if (engine_import_cancelled(j->opts))
        r = engine_import_cancel_error(err);
    if (r == 0)
        r = store_op_step(e->store, j->op, "built", err);
    if (r < 0)
        return r;
    fault_point("image.import.after-build");

    r = fs_tree_remove(j->staging, err);
    if (r < 0)
        return r;
    fault_point("image.import.after-cleanup");
    return 0;
}

#define IMAGE_NAME_TAKEN 1 /* image_commit: another import of the name won meanwhile */

/*
 * 3. commit; IMAGE_NAME_TAKEN when another import of the same name won
 * meanwhile. A failure is left to the caller to undo.
 */
static int image_commit(struct ijob *j, struct engine_import_result *ret, struct error *err) {
    int r = j->restore_uid ? 0 : image_object_build(j->uid, j->name, &j->img, &j->obj, err);
    if (r == 0)
        r = engine_op_commit(j->e, j->op, image_commit_rows, j, "image.import.after-commit", err);
    if (r == -EEXIST && !j->restore_uid)
        return IMAGE_NAME_TAKEN;
    if (r < 0)
        return r;
    memcpy(ret->uid, j->uid, sizeof(ret->uid));
    snprintf(ret->name, sizeof(ret->name), "%s", j->obj->meta.name);
    ret->size = j->img.size;
    return 0;
}

int engine_image_import_into(engine *e, const struct oci_source *src, const char *name,
                             const struct engine_import_opts *opts, const char *restore_uid,
                             struct engine_import_result *ret, struct error *err) {
    __attribute__((cleanup(ijob_release))) struct ijob j = {
        .e = e, .opts = opts, .name = name, .restore_uid = restore_uid};
    /* The pull first: a reference that cannot be pulled changes nothing. */
    int r = engine_import_pull(e, src, opts, &j.img, err);
    if (r == 0)
        r = pool_ensure(e, ret->notice, sizeof(ret->notice), err);
    if (r == 0)
        r = ijob_prepare(&j, err);
    if (r == 0)
        r = image_intent(&j, err);
    if (r == 0) /* restored meanwhile by another process */
        return engine_import_result_fill(e, API_KIND_IMAGE, j.uid, ret, err);
    if (r < 0)
        return r;
    fault_point("image.import.after-intent");
    r = image_act(&j, err);
    if (r == 0)
        r = image_commit(&j, ret, err);
    if (r == IMAGE_NAME_TAKEN) {
        /* The winner's id is given; ours is undone. */
        struct error e2;
        error_init(&e2);
        (void)image_import_undo(e, j.uid, j.op, "an image of this name was imported meanwhile",
                                &e2);
        error_init(err);
        r = engine_import_existing(e, API_KIND_IMAGE, name, ret, err);
        return r < 0 ? r : 0;
    }
    if (r < 0 && (engine_import_cancelled(opts) || r == -ECANCELED)) {
        error_init(err);
        r = engine_import_cancel_error(err);
    }
    return r < 0 ? import_fail(e, j.uid, j.op, r, err) : 0;
}

/* ---- recovery ---------------------------------------------------------- */

int engine_image_recover_op(engine *e, const struct store_op *op, struct error *err) {
    int r = engine_import_recover_start(e, op, API_KIND_IMAGE, err);
    if (r <= 0)
        return r;
    /* A restore's row was there all along; its commit closes the journal row, so an open
     * one means the data is incomplete: it goes, as an import's does. */
    return image_import_undo(e, op->object_uid, op->id, "interrupted; rolled back", err);
}
