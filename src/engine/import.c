/*
 * engine import: what the imports of images (image.c) and kernels
 * (kernel.c) share. The name an import's source gives its object, the pull
 * into <root>/blobs (a content-addressed cache the oci module keeps
 * consistent on its own), the unpack into a staging directory, the result
 * reported for an object that exists, the devices an object owns, the
 * hints for a source that is a path here, and the intent of a restore
 * (restore.c): an import into an object that is recorded without its data.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

#define RESTORE_POLL_MS 50
#define RESTORE_WAIT_MS (10 * 60 * 1000)

/* ---- sources and pulls ------------------------------------------------- */

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

char *engine_ref_familiar(const char *s) {
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
            name = engine_ref_familiar(src.tag);
        if (src.kind == OCI_SOURCE_ARCHIVE && src.tag && src.tag[0] != '@')
            name = engine_ref_familiar(src.tag);
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
            name = s ? engine_ref_familiar(s) : NULL;
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

int engine_import_run(engine *e, enum api_kind kind, const char *source,
                      const struct engine_import_opts *opts, engine_has_data_fn *has_data,
                      engine_import_into_fn *into, struct engine_import_result *ret,
                      struct error *err) {
    const char *word = api_kind_word(kind);
    memset(ret, 0, sizeof(*ret));
    struct oci_source src;
    _cleanup_free_ char *name = NULL;
    int r = engine_import_source(source, &src, &name, err);
    if (r < 0)
        return engine_import_path_hint(source, word, true, err) < 0 ? -EINVAL : r;
    r = engine_import_existing(e, kind, name, ret, err);
    bool have = false;
    if (r == 1)
        r = has_data(e, ret->uid, &have, err);
    if (r == 0 && !have && ret->existed) {
        /* Recorded (applied from a document) without its data here: imported into it. */
        char uid[ID_LEN + 1];
        memcpy(uid, ret->uid, sizeof(uid));
        memset(ret, 0, sizeof(*ret));
        r = into(e, &src, name, opts, uid, ret, err);
    } else if (r == 0 && !ret->existed) {
        if (src.kind == OCI_SOURCE_REGISTRY &&
            engine_import_path_hint(source, word, false, err) < 0)
            r = -EINVAL;
        else
            r = into(e, &src, name, opts, NULL, ret, err);
    }
    oci_source_release(&src);
    return r < 0 ? r : 0;
}

/* ---- recovery ---------------------------------------------------------- */

int engine_import_recover_start(engine *e, const struct store_op *op, enum api_kind kind,
                                struct error *err) {
    int r = engine_op_adopt(e, op, err);
    if (r <= 0)
        return r;
    if (!op->object_uid || !id_is_valid(op->object_uid))
        return store_op_finish(e->store, op->id, "interrupted; no object recorded", err);
    char import[32];
    snprintf(import, sizeof(import), "%s.import", api_kind_word(kind));
    if (strcmp(op->op, import) == 0) {
        bool exists = false;
        r = engine_object_exists(e, kind, op->object_uid, &exists, err);
        if (r < 0)
            return r;
        if (exists) /* the commit happened; nothing to undo */
            return store_op_finish(e->store, op->id, NULL, err);
    }
    return 1;
}

/* ---- a restore's intent ----------------------------------------------- */

/* A restore's intent: what it is for, and what its rows found. */
struct restore_check {
    const struct engine_restore_kind *k;
    const char *uid;
    struct store_op other; /* another restore of the object, when found (engine_op_release) */
};

#define RESTORE_HAVE 1  /* the data is there by now */
#define RESTORE_OTHER 2 /* another restore is open: check->other */

/* The intent's rows: the object is there without its data, and no other restore of it is open. */
static int restore_rows(engine *e, void *ud, struct error *err) {
    struct restore_check *c = ud;
    bool exists = false, have = false;
    int r = engine_object_exists(e, c->k->kind, c->uid, &exists, err);
    if (r == 0 && !exists)
        r = error_set(err, -ENOENT, "%s %s was removed meanwhile", api_kind_word(c->k->kind),
                      c->uid);
    if (r == 0)
        r = c->k->has_data(e, c->uid, &have, err);
    if (r < 0 || have)
        return r < 0 ? r : RESTORE_HAVE;
    r = engine_op_find_open(e, c->k->op, c->uid, -1, &c->other, err);
    return r == 1 ? RESTORE_OTHER : r;
}

int engine_restore_begin(engine *e, const struct engine_restore_kind *k, const char *uid,
                         int64_t *ret_op, struct error *err) {
    int64_t deadline = time_now_ms() + RESTORE_WAIT_MS;
    for (;;) {
        struct restore_check c = {.k = k, .uid = uid};
        struct engine_op op = {.name = k->op, .kind = k->kind, .uid = uid, .device_id = -1};
        int r = engine_op_intent(e, &op, restore_rows, &c, NULL, err);
        if (r == 0)
            *ret_op = op.id;
        if (r != RESTORE_OTHER)
            return r == 0 ? 1 : r == RESTORE_HAVE ? 0 : r;
        /* Another process restores it: wait for it, or finish its rollback when it died. */
        bool alive = proc_is_alive(c.other.owner_pid, c.other.owner_start);
        int pid = c.other.owner_pid;
        r = alive ? 0 : k->recover(e, &c.other, err);
        engine_op_release(&c.other);
        if (r < 0)
            return r;
        if (alive && time_now_ms() > deadline)
            return error_set(err, -EBUSY,
                             "%s %s is being imported again by process %d for more than %d "
                             "minutes; try again later",
                             api_kind_word(k->kind), uid, pid, RESTORE_WAIT_MS / 60000);
        if (alive)
            sleep_ms(RESTORE_POLL_MS);
    }
}
