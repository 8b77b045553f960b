/*
 * engine staging: where operations stage their work and how what a dead
 * operation staged is found and removed (docs/architecture.md, "Staging").
 *
 * Everything an operation stages lives in <root>/tmp, in a directory whose
 * name ties it to the operation's journal row:
 *
 *   import-<uid>   image.import, image.restore of image uid (the unpacked rootfs)
 *   kernel-<uid>   kernel.import, kernel.restore of kernel uid (rootfs/ and files/)
 *   vm-<uid>       vm.create of VM uid (the VM's files on their way into its disk)
 *   layer-<id>     vm.layer of device id (a kernel's modules on their way into a layer)
 *   spool-XXXXXX   engine_tmpfile's named fallback, unlinked as soon as it is made
 *
 * Each is made after its operation's intent is committed, so a directory
 * that exists has a journal row. Recovery of a dead operation removes its
 * staging; at every engine_open, after recovery, whatever in <root>/tmp no
 * open row of a live process owns is removed too (a row closed without its
 * cleanup, or a recovery that failed). The directory is listed before the
 * journal is read: an entry listed was made after its row was committed, so
 * it is found open when its owner still runs and never taken from it.
 * Names no operation makes are left for `hearth doctor` to report.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "pool/pool.h"

#define ENTRIES_MAX 100000 /* entries of <root>/tmp or <root>/kernel looked at */

/* The kinds of staging directory: the name's prefix, the operations that own it. */
static const struct staging_kind {
    const char *prefix;
    bool device; /* the key is a device id (else an object uid) */
    const char *ops[2];
} staging_kinds[] = {
    {"import-", false, {"image.import", "image.restore"}},
    {"kernel-", false, {"kernel.import", "kernel.restore"}},
    {"vm-", false, {"vm.create", NULL}},
    {"layer-", true, {"vm.layer", NULL}},
};

#define SPOOL_PREFIX "spool-"

/* What an entry of <root>/tmp is: a staging kind with its key, a spool file, or neither. */
struct staging_name {
    const struct staging_kind *kind; /* NULL: not a staging directory */
    bool spool;
    char uid[ID_LEN + 1];
    uint32_t id;
};

static bool staging_name_parse(const char *name, struct staging_name *ret) {
    memset(ret, 0, sizeof(*ret));
    if (str_starts_with(name, SPOOL_PREFIX)) {
        ret->spool = true;
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(staging_kinds); i++) {
        const struct staging_kind *k = &staging_kinds[i];
        if (!str_starts_with(name, k->prefix))
            continue;
        const char *key = name + strlen(k->prefix);
        if (k->device) {
            size_t len = strlen(key);
            if (len == 0 || len > 8 || strspn(key, "0123456789") != len ||
                (key[0] == '0' && len > 1))
                return false;
            unsigned long v = strtoul(key, NULL, 10);
            if (v > POOL_ID_MAX)
                return false;
            ret->id = (uint32_t)v;
        } else {
            if (strlen(key) != ID_LEN || !id_is_valid(key))
                return false;
            memcpy(ret->uid, key, ID_LEN + 1);
        }
        ret->kind = k;
        return true;
    }
    return false;
}

/* True when an open operation of a live process owns the staging directory n. */
static bool staging_is_live(const struct store_op *ops, size_t n_ops,
                            const struct staging_name *n) {
    if (!n->kind)
        return false;
    for (size_t i = 0; i < n_ops; i++) {
        const struct store_op *op = &ops[i];
        bool named = false;
        for (size_t k = 0; k < ARRAY_SIZE(n->kind->ops) && n->kind->ops[k]; k++)
            named = named || (op->op && strcmp(op->op, n->kind->ops[k]) == 0);
        if (!named)
            continue;
        bool same = n->kind->device ? op->device_id == (int64_t)n->id
                                    : op->object_uid && strcmp(op->object_uid, n->uid) == 0;
        if (same && proc_is_alive(op->owner_pid, op->owner_start))
            return true;
    }
    return false;
}

char *engine_tmp_path(engine *e, const char *prefix, const char *uid) {
    return xasprintf("%s/tmp/%s-%s", e->root, prefix, uid);
}

int engine_staging_make(engine *e, const char *prefix, const char *key, char **ret,
                        struct error *err) {
    _cleanup_free_ char *tmp = xasprintf("%s/tmp", e->root);
    _cleanup_free_ char *dir = engine_tmp_path(e, prefix, key);
    if (!tmp || !dir)
        return error_oom(err);
    int r = engine_dir_make(tmp, err);
    if (r == 0)
        r = engine_dir_make(dir, err);
    if (r < 0)
        return r;
    *ret = steal_ptr(&dir);
    return 0;
}

/* The names in dir but "." and ".." (at most ENTRIES_MAX); none when it does not exist. */
static int names_list(const char *dir, char ***ret, size_t *ret_n, struct error *err) {
    *ret = NULL;
    *ret_n = 0;
    DIR *dh = opendir(dir);
    if (!dh) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, -errno, "cannot read '%s': %s", dir, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && n < ENTRIES_MAX) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char **grown = xrealloc(names, (n + 1) * sizeof(*names));
        if (!grown) {
            r = error_oom(err);
            break;
        }
        names = grown;
        if (!(names[n] = xstrdup(de->d_name))) {
            r = error_oom(err);
            break;
        }
        n++;
    }
    closedir(dh);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return r;
    }
    *ret = names;
    *ret_n = n;
    return 0;
}

static void names_free(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void engine_staging_open_hook(engine *e) {
    _cleanup_free_ char *dir = xasprintf("%s/tmp", e->root);
    if (!dir)
        return;
    char **names = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    /* First the directory, then the journal (see the top of this file). */
    if (names_list(dir, &names, &n, &err) < 0) {
        log_warn("staging cleanup: %s", err.msg);
        return;
    }
    if (n == 0)
        return; /* the common case: one empty directory read */
    struct store_op *ops = NULL;
    size_t n_ops = 0;
    if (store_op_list_open(e->store, &ops, &n_ops, &err) < 0) {
        log_warn("staging cleanup: %s", err.msg);
        names_free(names, n);
        return;
    }
    size_t removed = 0;
    for (size_t i = 0; i < n; i++) {
        struct staging_name sn;
        if (!staging_name_parse(names[i], &sn) || staging_is_live(ops, n_ops, &sn))
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
        error_init(&err);
        if (!path || fs_tree_remove(path, &err) < 0)
            log_warn("staging cleanup: %s", path ? err.msg : "out of memory");
        else
            removed++;
    }
    store_ops_free(ops, n_ops);
    names_free(names, n);
    if (removed > 0)
        log_info("staging cleanup: removed %zu leftovers of interrupted operations from '%s'",
                 removed, dir);
}

/* ---- doctor ------------------------------------------------------------ */

/* True when an open operation of a live process works on uid. */
static bool uid_is_busy(const struct store_op *ops, size_t n, const char *uid) {
    for (size_t i = 0; i < n; i++)
        if (ops[i].object_uid && strcmp(ops[i].object_uid, uid) == 0 &&
            proc_is_alive(ops[i].owner_pid, ops[i].owner_start))
            return true;
    return false;
}

/* "<uid>" or "<uid><suffix>": the uid, else false. */
static bool uid_named(const char *name, const char *suffix, char uid[ID_LEN + 1]) {
    size_t sl = strlen(suffix);
    if (strlen(name) != ID_LEN + sl || strcmp(name + ID_LEN, suffix) != 0)
        return false;
    memcpy(uid, name, ID_LEN);
    uid[ID_LEN] = '\0';
    return id_is_valid(uid);
}

static int leftover_add(struct engine_leftover **items, size_t *n, const char *dir,
                        const char *name, const char *why, struct error *err) {
    struct engine_leftover *grown = xrealloc(*items, (*n + 1) * sizeof(**items));
    if (!grown)
        return error_oom(err);
    *items = grown;
    char *path = xasprintf("%s/%s", dir, name);
    if (!path)
        return error_oom(err);
    grown[*n].path = path;
    grown[*n].why = why;
    (*n)++;
    return 0;
}

/* What of <root>/kernel is a leftover: "<uid>" of no kernel, "<uid>.tmp" (older staging). */
static int kernel_leftover(engine *e, const char *name, const struct store_op *ops, size_t n_ops,
                           const char **ret_why, struct error *err) {
    char uid[ID_LEN + 1];
    *ret_why = NULL;
    if (uid_named(name, ".tmp", uid)) {
        if (!uid_is_busy(ops, n_ops, uid))
            *ret_why = "kernel files of an import that is not running";
        return 0;
    }
    if (!uid_named(name, "", uid) || uid_is_busy(ops, n_ops, uid))
        return 0;
    struct api_object *obj = NULL;
    int r = store_object_get(e->store, API_KIND_KERNEL, uid, &obj, err);
    api_object_free(obj);
    if (r == -ENOENT) {
        error_init(err);
        *ret_why = "kernel files of no kernel";
        return 0;
    }
    return r;
}

int engine_import_leftovers(engine *e, struct engine_leftover **ret, size_t *ret_n,
                            struct error *err) {
    static const char *const subs[] = {"tmp", "kernel"};
    char **names[ARRAY_SIZE(subs)] = {NULL};
    size_t counts[ARRAY_SIZE(subs)] = {0};
    char *dirs[ARRAY_SIZE(subs)] = {NULL};
    struct store_op *ops = NULL;
    size_t n_ops = 0;
    struct engine_leftover *items = NULL;
    size_t n = 0;
    int r = 0;
    /* The directories first, then the journal (see the top of this file). */
    for (size_t d = 0; d < ARRAY_SIZE(subs) && r == 0; d++) {
        dirs[d] = xasprintf("%s/%s", e->root, subs[d]);
        r = dirs[d] ? names_list(dirs[d], &names[d], &counts[d], err) : error_oom(err);
    }
    if (r == 0)
        r = store_op_list_open(e->store, &ops, &n_ops, err);
    for (size_t i = 0; r == 0 && i < counts[0]; i++) {
        struct staging_name sn;
        const char *why = NULL;
        if (!staging_name_parse(names[0][i], &sn))
            why = "in hearth's work directory but made by no operation of hearth";
        else if (!staging_is_live(ops, n_ops, &sn))
            why = sn.spool ? "a spool file of a command that ended"
                           : "a staging directory of an operation that is not running";
        if (why)
            r = leftover_add(&items, &n, dirs[0], names[0][i], why, err);
    }
    for (size_t i = 0; r == 0 && i < counts[1]; i++) {
        const char *why = NULL;
        r = kernel_leftover(e, names[1][i], ops, n_ops, &why, err);
        if (r == 0 && why)
            r = leftover_add(&items, &n, dirs[1], names[1][i], why, err);
    }
    for (size_t d = 0; d < ARRAY_SIZE(subs); d++) {
        names_free(names[d], counts[d]);
        free(dirs[d]);
    }
    store_ops_free(ops, n_ops);
    if (r < 0) {
        engine_leftovers_free(items, n);
        return r;
    }
    *ret = items;
    *ret_n = n;
    return 0;
}

void engine_leftovers_free(struct engine_leftover *l, size_t n) {
    for (size_t i = 0; l && i < n; i++)
        free(l[i].path);
    free(l);
}
