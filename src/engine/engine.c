/*
 * The engine's handle and its read and remove operations: opening a root,
 * resolving references by name or uid prefix, listing and exporting objects,
 * removing VMs, images and kernels, and the read-only SQL pass-through.
 * engine_apply lives in apply.c.
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

const char *engine_kind_word(enum api_kind kind) {
    switch (kind) {
    case API_KIND_VM:
        return "vm";
    case API_KIND_IMAGE:
        return "image";
    case API_KIND_KERNEL:
        return "kernel";
    case API_KIND_POOL:
        return "pool";
    default:
        return "object";
    }
}

/* Creates path and its missing parents with mode (like mkdir -p). */
static int mkdir_parents(const char *path, mode_t mode, struct error *err) {
    size_t len = strlen(path);
    if (len == 0)
        return error_set(err, -EINVAL, "the root directory must not be empty");
    if (len >= PATH_MAX)
        return error_set(err, -ENAMETOOLONG, "root directory '%.64s...' is too long", path);
    char buf[PATH_MAX];
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return error_set(err, -errno, "cannot create directory '%s': %s", buf, strerror(errno));
        buf[i] = saved;
    }
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
        engine_pool_open_hook(e);
        engine_import_open_hook(e); /* after the pool's: it removes devices through the pool */
        engine_vm_open_hook(e);     /* two indexed queries unless VMs are recorded as running */
        /* After the import's: a VM's disk chain hangs from images and kernels. */
        engine_vm_create_open_hook(e);
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
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return error_set(err, -errno, "cannot create a file in '%s': %s", dir, strerror(errno));
    /* A file system without O_TMPFILE: a named file, removed at once. */
    _cleanup_free_ char *path = xasprintf("%s/spool-XXXXXX", dir);
    if (!path)
        return error_oom(err);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot create a file in '%s': %s", dir, strerror(errno));
    unlink(path);
    return fd;
}

int engine_schema_version(engine *e) {
    return store_schema_version(e->store);
}

/* ---- resolving references ---------------------------------------------- */

int engine_resolve(engine *e, enum api_kind kind, const char *ref, char *ret_uid,
                   struct error *err) {
    const char *word = engine_kind_word(kind);
    if (!ref || !*ref)
        return error_set(err, -EINVAL, "an empty %s reference matches nothing", word);
    if (strlen(ref) > API_STRING_MAX)
        return error_set(err, -EINVAL, "%s reference is too long", word);

    /* An exact uid, then an exact name, win over any prefix match. */
    if (id_is_valid(ref)) {
        struct api_object *obj = NULL;
        int r = store_object_get(e->store, kind, ref, &obj, err);
        if (r == 0) {
            api_object_free(obj);
            memcpy(ret_uid, ref, ID_LEN + 1);
            return 0;
        }
        if (r != -ENOENT)
            return r;
    }
    char uid[ID_LEN + 1];
    int r = store_object_find_name(e->store, kind, ref, uid, err);
    if (r == 0) {
        memcpy(ret_uid, uid, ID_LEN + 1);
        return 0;
    }
    if (r != -ENOENT)
        return r;

    struct store_match *m = NULL;
    size_t n = 0;
    r = store_object_match(e->store, kind, ref, ENGINE_MATCH_MAX + 1, &m, &n, err);
    if (r < 0)
        return r;
    if (n == 0) {
        store_matches_free(m, n);
        return error_set(err, -ENOENT, "no %s matches '%s'", word, ref);
    }
    if (n == 1) {
        memcpy(ret_uid, m[0].uid, ID_LEN + 1);
        store_matches_free(m, n);
        return 0;
    }
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    r = strbuf_addf(&sb, "'%s' is ambiguous: it matches", ref);
    for (size_t i = 0; i < n && i < ENGINE_MATCH_MAX && r == 0; i++)
        r = strbuf_addf(&sb, "%s %s '%s' (%s)", i ? "," : "", word, m[i].name ? m[i].name : "",
                        m[i].uid);
    if (r == 0 && n > ENGINE_MATCH_MAX)
        r = strbuf_adds(&sb, ", and more");
    store_matches_free(m, n);
    if (r < 0)
        return error_oom(err);
    return error_set(err, -EINVAL, "%s; give more of the name or id", sb.buf);
}

int engine_get(engine *e, enum api_kind kind, const char *ref, struct api_object **ret,
               struct error *err) {
    if (kind == API_KIND_POOL)
        return store_object_get(e->store, kind, NULL, ret, err);
    char uid[ID_LEN + 1];
    int r = engine_resolve(e, kind, ref, uid, err);
    if (r < 0)
        return r;
    return store_object_get(e->store, kind, uid, ret, err);
}

int engine_list(engine *e, enum api_kind kind, struct api_object ***ret, size_t *ret_n,
                struct error *err) {
    if (kind != API_KIND_POOL)
        return store_object_list(e->store, kind, ret, ret_n, err);

    struct api_object *pool = NULL;
    int r = store_object_get(e->store, API_KIND_POOL, NULL, &pool, err);
    if (r == -ENOENT) {
        error_init(err);
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (r < 0)
        return r;
    struct api_object **arr = xcalloc(1, sizeof(*arr));
    if (!arr) {
        api_object_free(pool);
        return error_oom(err);
    }
    arr[0] = pool;
    *ret = arr;
    *ret_n = 1;
    return 0;
}

int engine_vm_summaries(engine *e, struct store_vm_summaries **ret, struct error *err) {
    return store_vm_summary_list(e->store, ret, err);
}

int engine_vm_summaries_active(engine *e, struct store_vm_summaries **ret, struct error *err) {
    return store_vm_summary_list_active(e->store, ret, err);
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

int engine_export(engine *e, const enum api_kind *kinds, size_t n_kinds, struct api_object ***ret,
                  size_t *ret_n, struct error *err) {
    static const enum api_kind order[] = {API_KIND_POOL, API_KIND_IMAGE, API_KIND_KERNEL,
                                          API_KIND_VM};
    struct api_object **all = NULL;
    size_t n_all = 0;
    int r = 0;

    for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
        bool wanted = n_kinds == 0;
        for (size_t i = 0; i < n_kinds; i++)
            if (kinds[i] == order[k])
                wanted = true;
        if (!wanted)
            continue;
        struct api_object **objs = NULL;
        size_t n = 0;
        r = engine_list(e, order[k], &objs, &n, err);
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
    static const enum api_kind order[] = {API_KIND_POOL, API_KIND_IMAGE, API_KIND_KERNEL,
                                          API_KIND_VM};
    for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
        bool wanted = n_kinds == 0;
        for (size_t i = 0; i < n_kinds; i++)
            if (kinds[i] == order[k])
                wanted = true;
        if (!wanted)
            continue;
        struct api_object **objs = NULL;
        size_t n = 0;
        int r = engine_list(e, order[k], &objs, &n, err);
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

/* ---- remove ------------------------------------------------------------ */

bool engine_vm_state_is_active(const char *state) {
    /* The same states as STORE_VM_ACTIVE_STATES, which the store's active listing reads. */
    static const char *const active[] = {"Running", "Creating", "Starting", "Stopping", "Removing"};
    if (!state)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(active); i++)
        if (strcmp(state, active[i]) == 0)
            return true;
    return false;
}

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
                     engine_kind_word(obj->kind), obj->meta.name, sb.buf);
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

/*
 * The act and commit of removing an image or a kernel whose intent (journal
 * row op) is recorded: its devices or files, then the row. Fault points
 * image.remove.after-intent, -after-act (kernel.remove.* likewise); a dead
 * removal is finished by recovery (engine_import_recover_op).
 */
static int remove_data(engine *e, enum api_kind kind, const char *uid, int64_t op, char *ret_uid,
                       struct error *err) {
    fault_point(kind == API_KIND_IMAGE ? "image.remove.after-intent"
                                       : "kernel.remove.after-intent");
    int r = engine_object_data_remove(e, kind, uid, err);
    if (r < 0) {
        struct error e2;
        error_init(&e2);
        if (store_op_finish(e->store, op, err->msg, &e2) < 0)
            log_warn("operation %lld: %s", (long long)op, e2.msg);
        return r;
    }
    fault_point(kind == API_KIND_IMAGE ? "image.remove.after-act" : "kernel.remove.after-act");
    r = store_begin(e->store, err);
    if (r == 0)
        r = store_object_delete(e->store, kind, uid, err);
    if (r == 0)
        r = store_op_finish(e->store, op, NULL, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0) {
        store_rollback(e->store);
        return r;
    }
    if (ret_uid)
        memcpy(ret_uid, uid, ID_LEN + 1);
    return 0;
}

int engine_remove(engine *e, enum api_kind kind, const char *ref, bool force, char *ret_uid,
                  struct error *err) {
    if (kind == API_KIND_POOL)
        return error_set(err, -EINVAL, "the pool cannot be removed this way");
    int r = store_begin(e->store, err);
    if (r < 0)
        return r;

    _cleanup_object_ struct api_object *obj = NULL;
    _cleanup_free_ char *opname = NULL;
    int64_t op = 0;
    char uid[ID_LEN + 1];
    r = engine_resolve(e, kind, ref, uid, err);
    if (r < 0)
        goto fail;
    r = store_object_get(e->store, kind, uid, &obj, err);
    if (r < 0)
        goto fail;

    if (kind == API_KIND_VM) {
        store_rollback(e->store);
        return engine_vm_remove(e, uid, ref, force, ret_uid, err); /* vm_run.c */
    }
    if (!force) {
        r = check_users(e, obj, err);
        if (r < 0)
            goto fail;
    }

    opname = xasprintf("%s.remove", engine_kind_word(kind));
    if (!opname) {
        r = error_oom(err);
        goto fail;
    }
    /* Two removals of one image or kernel: the second is told (the first's row is still there). */
    r = remove_running(e, opname, uid, err);
    if (r == 1)
        r = error_set(err, -EBUSY, "%s '%s' is being removed by another command",
                      engine_kind_word(kind), ref);
    if (r < 0)
        goto fail;
    /* An image's devices and a kernel's files go too: intent, act, commit. */
    r = store_op_begin(e->store, opname, kind, uid, "intent", &op, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        goto fail;
    return remove_data(e, kind, uid, op, ret_uid, err);
fail:
    store_rollback(e->store);
    return r;
}

/* ---- queries ----------------------------------------------------------- */

int engine_sql(engine *e, const char *sql, const struct store_sql_limits *limits,
               const struct store_sql_sink *sink, struct error *err) {
    return store_sql_query(e->store, sql, limits, sink, err);
}

void engine_versions_get(struct engine_versions *ret) {
    ret->sqlite = sqlite3_libversion();
    ret->jansson = JANSSON_VERSION;
    ret->yaml = yaml_get_version_string();
    ret->schema = store_schema_latest();
}
