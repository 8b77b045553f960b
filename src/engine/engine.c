/*
 * The engine's handle and its read operations: opening a root (and
 * recovering what dead processes left, through the table of operations),
 * listing and exporting objects, and the read-only SQL pass-through.
 * References are resolved in resolve.c, removal is remove.c's, engine_apply
 * lives in apply.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <yaml.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

/* Creates the root directory and its missing parents with mode (like mkdir -p). */
static int mkdir_parents(const char *path, mode_t mode, struct error *err) {
    size_t len = strlen(path);
    if (len == 0)
        return error_set(err, -EINVAL, "the root directory must not be empty");
    if (len >= PATH_MAX)
        return error_set(err, -ENAMETOOLONG, "root directory '%.64s...' is too long", path);
    int r = fs_mkdir_parents(path, mode, err);
    if (r < 0)
        return r;
    struct stat st;
    if (stat(path, &st) < 0)
        return error_set(err, -errno, "cannot use root directory '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return error_set(err, -ENOTDIR, "root '%s' is not a directory", path);
    return 0;
}

static int engine_open_with(const char *root, bool recover, engine **ret, struct error *err) {
    int r = mkdir_parents(root, 0700, err);
    if (r < 0)
        return r;

    engine *e = xcalloc(1, sizeof(*e));
    if (!e)
        return error_oom(err);
    error_init(&e->pool_err);
    /* Absolute, so that processes started in other directories (the monitor
     * runs in the VM's runtime directory) and recorded paths mean the same. */
    e->root = realpath(root, NULL);
    if (!e->root && errno != ENOMEM) {
        int saved = errno;
        engine_free(e);
        return error_set(err, -saved, "cannot use root directory '%s': %s", root, strerror(saved));
    }
    _cleanup_free_ char *db = e->root ? xasprintf("%s/hearth.db", e->root) : NULL;
    if (!e->root || !db) {
        engine_free(e);
        return error_oom(err);
    }
    r = engine_root_check(e->root, true, err);
    if (r == 0)
        r = store_open(db, &e->store, err);
    if (r < 0) {
        engine_free(e);
        return r;
    }
    if (recover) {
        /* One loop over the table of operations (ops.c), in its order. */
        size_t n = 0;
        struct error rec;
        error_init(&rec);
        if (engine_ops_recover(e, &n, &rec) == 0 && n > 0) /* each failure is logged */
            log_info("recovery: finished %zu interrupted operations", n);
        engine_pool_open_hook(e); /* assembles the pool when it exists */
        engine_vm_open_hook(e);   /* one indexed query unless VMs are recorded as running */
        /* Last: what the recovered operations staged is gone; the rest of <root>/tmp is checked. */
        engine_staging_open_hook(e);
    }
    *ret = e;
    return 0;
}

int engine_open(const char *root, engine **ret, struct error *err) {
    return engine_open_with(root, true, ret, err);
}

int engine_open_monitor(const char *root, engine **ret, struct error *err) {
    return engine_open_with(root, false, ret, err);
}

/* Whether a read-write open that failed with code may be replaced by a read-only one. */
static bool cannot_write(int code) {
    return code == -ENOSPC || code == -EDQUOT || code == -EROFS || code == -EACCES ||
           code == -EPERM;
}

/* Why root (with its database db) cannot be written, the open having failed with code. */
static char *read_only_why(const char *root, const char *db, int code) {
    struct statvfs sv;
    bool known = statvfs(root, &sv) == 0;
    if (known && (sv.f_flag & ST_RDONLY))
        return xstrdup("it is on a read-only filesystem");
    char user[64];
    user_name_format(geteuid(), user, sizeof(user));
    if (code == -EDQUOT)
        return xasprintf("the disk quota of user '%s' is used up", user);
    if (code == -ENOSPC) {
        if (!known)
            return xstrdup("its filesystem is full");
        /* What this user may still use: root may use the reserved blocks. */
        uint64_t blocks = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
        char free_words[32];
        size_format_human(blocks * sv.f_frsize, free_words, sizeof(free_words));
        return xasprintf("its filesystem is full: %s free", free_words);
    }
    bool db_writable = faccessat(AT_FDCWD, db, W_OK, AT_EACCESS) == 0;
    return xasprintf("user '%s' may not write '%s'", user, db_writable ? root : db);
}

int engine_open_reading(const char *root, engine **ret, struct error *err) {
    int r = engine_open(root, ret, err);
    if (r == 0 || !cannot_write(r))
        return r;
    char *abs = realpath(root, NULL);
    /* A root another user could have written is refused, read-only or not. */
    struct error trust;
    error_init(&trust);
    int rt = abs ? engine_root_check(abs, false, &trust) : 0;
    if (rt == -EPERM) {
        free(abs);
        *err = trust;
        return rt;
    }
    _cleanup_free_ char *db = abs ? xasprintf("%s/hearth.db", abs) : NULL;
    /* Only a database there is, and this user may read, is shown. */
    if (!db || faccessat(AT_FDCWD, db, R_OK, AT_EACCESS) < 0) {
        free(abs);
        return r;
    }
    engine *e = xcalloc(1, sizeof(*e));
    if (!e) {
        free(abs);
        return error_oom(err);
    }
    e->root = abs;
    e->read_only = read_only_why(abs, db, r);
    struct error ro;
    error_init(&ro);
    int r2 = e->read_only ? store_open_read(db, &e->store, &ro) : -ENOMEM;
    if (r2 < 0) {
        if (r2 == -ENOMEM)
            r = error_oom(err);
        else if (r2 != -EACCES && r2 != -EPERM && r2 != -ENOENT)
            r = error_set(err, r2, "%s; the root '%s' cannot be written (%s)", ro.msg, abs,
                          e->read_only);
        engine_free(e);
        return r; /* else the read-write open's error: the database cannot be read either */
    }
    error_init(err);
    *ret = e;
    return 0;
}

const char *engine_read_only(const engine *e) {
    return e->read_only;
}

void engine_free(engine *e) {
    if (!e)
        return;
    engine_pool_close_hook(e);
    store_free(e->store);
    free(e->read_only);
    free(e->root);
    free(e->self_exe);
    free(e);
}

const char *engine_root(const engine *e) {
    return e->root;
}

int engine_tmpfile(engine *e, struct error *err) {
    _cleanup_free_ char *dir = xasprintf("%s/tmp", e->root);
    if (!dir)
        return error_oom(err);
    int r = engine_dir_make(dir, err);
    if (r < 0)
        return r;
    return fs_tmpfile(dir, err);
}

int engine_schema_version(engine *e) {
    return store_schema_version(e->store);
}

int engine_get(engine *e, enum api_kind kind, const char *ref, struct api_object **ret,
               struct error *err) {
    if (kind == API_KIND_POOL)
        return store_object_get(e->store, kind, NULL, ret, err);
    char uid[ID_LEN + 1];
    return engine_resolve_get(e, kind, ref, uid, ret, err);
}

int engine_list(engine *e, enum api_kind kind, struct api_object ***ret, size_t *ret_n,
                struct error *err) {
    return store_object_list(e->store, kind, ret, ret_n, err);
}

int engine_vm_list_active(engine *e, struct api_object ***ret, size_t *ret_n, struct error *err) {
    struct store_vm_summaries *list = NULL;
    int r = store_vm_summary_list_active(e->store, &list, err);
    if (r < 0)
        return r;
    struct api_object **vms = xcalloc(list->n ? list->n : 1, sizeof(*vms));
    size_t n = 0;
    if (!vms)
        r = error_oom(err);
    for (size_t i = 0; r == 0 && i < list->n; i++) {
        r = store_object_get(e->store, API_KIND_VM, list->items[i].uid, &vms[n], err);
        if (r == 0) {
            n++;
        } else if (r == -ENOENT) {
            error_init(err);
            r = 0;
        }
    }
    store_vm_summaries_free(list);
    if (r < 0) {
        api_objects_free(vms, n);
        return r;
    }
    *ret = vms;
    *ret_n = n;
    return 0;
}

/* The export order: the pool, images and kernels, then the VMs that use them. */
static const enum api_kind export_order[] = {API_KIND_POOL, API_KIND_IMAGE, API_KIND_KERNEL,
                                             API_KIND_VM};

/* The objects of kind when kinds (n_kinds 0: every kind) asks for them; none otherwise. */
static int export_list(engine *e, const enum api_kind *kinds, size_t n_kinds, enum api_kind kind,
                       struct api_object ***ret, size_t *ret_n, struct error *err) {
    bool wanted = n_kinds == 0;
    for (size_t i = 0; i < n_kinds; i++)
        if (kinds[i] == kind)
            wanted = true;
    *ret = NULL;
    *ret_n = 0;
    return wanted ? engine_list(e, kind, ret, ret_n, err) : 0;
}

int engine_export(engine *e, const enum api_kind *kinds, size_t n_kinds, struct api_object ***ret,
                  size_t *ret_n, struct error *err) {
    struct api_object **all = NULL;
    size_t n_all = 0;
    int r = 0;

    for (size_t k = 0; k < ARRAY_SIZE(export_order); k++) {
        struct api_object **objs = NULL;
        size_t n = 0;
        r = export_list(e, kinds, n_kinds, export_order[k], &objs, &n, err);
        if (r < 0)
            goto fail;
        if (n == 0) {
            free(objs);
            continue;
        }
        struct api_object **grown = xrealloc(all, (n_all + n) * sizeof(*all));
        if (!grown) {
            api_objects_free(objs, n);
            r = error_oom(err);
            goto fail;
        }
        all = grown;
        memcpy(all + n_all, objs, n * sizeof(*objs));
        n_all += n;
        free(objs);
    }
    *ret = all;
    *ret_n = n_all;
    return 0;
fail:
    api_objects_free(all, n_all);
    return r;
}

int engine_export_each(engine *e, const enum api_kind *kinds, size_t n_kinds,
                       int (*fn)(void *ud, const struct api_object *obj), void *ud,
                       struct error *err) {
    for (size_t k = 0; k < ARRAY_SIZE(export_order); k++) {
        struct api_object **objs = NULL;
        size_t n = 0;
        int r = export_list(e, kinds, n_kinds, export_order[k], &objs, &n, err);
        if (r < 0)
            return r;
        for (size_t i = 0; i < n && r == 0; i++) {
            r = fn(ud, objs[i]);
            api_object_free(objs[i]);
            objs[i] = NULL;
        }
        api_objects_free(objs, n);
        if (r != 0)
            return r;
    }
    return 0;
}

/* ---- queries ----------------------------------------------------------- */

void engine_versions_get(struct engine_versions *ret) {
    ret->sqlite = sqlite3_libversion();
    ret->jansson = JANSSON_VERSION;
    ret->yaml = yaml_get_version_string();
    ret->schema = store_schema_latest();
}
