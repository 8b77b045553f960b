/*
 * engine pool: the storage pool's operations, each following design.md's
 * protocol (docs/architecture.md, "Pool operations and recovery"):
 *
 *   1. intent: one transaction records the device row ('planned', or
 *      'removing') with its allocated id and a journal row (op, step, device
 *      id, parameters, owner pid + start time);
 *   2. act: the idempotent pool call, outside any transaction;
 *   3. commit: one transaction makes the row 'active' (or deletes it) and
 *      finishes the journal row;
 *   4. recover: on every engine_open, journal rows of pool operations whose
 *      owner is dead are finished (engine_pool_recover).
 *
 * Every step boundary is a named fault point (util's fault_point):
 * pool.{init,create,snapshot,remove}.after-*, listed in docs/architecture.md.
 *
 * The pool handle is opened (assembled) when the engine opens; a failure
 * there is kept and reported by the commands that need the pool, so that
 * commands that don't keep working with a broken pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "pool/pool.h"

#define KiB (UINT64_C(1) << 10)
#define GiB (UINT64_C(1) << 30)
#define POOL_ALLOC_UNIT (64 * KiB)
#define POOL_DEFAULT_DATA_SIZE (100 * GiB)

const char *const engine_device_types[ENGINE_DEVICE_TYPES] = {"Image", "Resize", "Kernel", "VM"};

int engine_device_type_index(const char *type) {
    for (int i = 0; type && i < ENGINE_DEVICE_TYPES; i++)
        if (strcmp(type, engine_device_types[i]) == 0)
            return i;
    return -1;
}

/* ---- opening the pool -------------------------------------------------- */

static void config_of(const struct store_pool *sp, enum pool_driver driver,
                      struct pool_config *ret) {
    *ret = (struct pool_config){
        .driver = driver,
        .name = sp->name,
        .data_size = sp->data_size,
        .metadata_size = sp->metadata_size,
        .allocation_size = sp->allocation_size,
        .data_path = sp->data_path,
        .metadata_path = sp->metadata_path,
    };
}

/*
 * Serialises assembling and taking apart the pool between processes of one
 * root (<root>/pool.lock, flock). Returns the descriptor or -errno.
 */
static int pool_lock(engine *e, struct error *err) {
    _cleanup_free_ char *path = xasprintf("%s/pool.lock", e->root);
    if (!path)
        return error_oom(err);
    /* A root that cannot be written is only looked at: the lock is taken
     * when it is there, and not made. */
    int flags = e->read_only ? O_RDONLY : O_RDWR | O_CREAT;
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0 && e->read_only && errno == ENOENT)
        return -ENOENT;
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) < 0) {
        if (errno == EINTR)
            continue;
        int r = -errno;
        close(fd);
        return error_set(err, r, "cannot lock '%s': %s", path, strerror(-r));
    }
    return fd;
}

/* Opens the recorded pool sp (whatever its state) under the pool lock. */
static int pool_open_locked(engine *e, const struct store_pool *sp, pool **ret, struct error *err) {
    enum pool_driver driver;
    if (!sp->driver || pool_driver_parse(sp->driver, &driver) < 0)
        return error_set(err, -EINVAL, "the pool's driver '%s' is unknown",
                         sp->driver ? sp->driver : "");
    struct pool_config cfg;
    config_of(sp, driver, &cfg);
    _cleanup_close_ int lock = pool_lock(e, err);
    if (lock < 0 && !(lock == -ENOENT && e->read_only))
        return lock;
    return pool_open(&cfg, ret, err);
}

/* Reads the pool row of a created pool: -ENOENT when there is none. */
static int pool_row_get(engine *e, struct store_pool *ret, struct error *err) {
    int r = store_pool_get(e->store, ret, err);
    if (r < 0)
        return r;
    if (!ret->driver) {
        store_pool_release(ret);
        return error_set(err, -ENOENT,
                         "the pool is not created yet (only its spec is recorded); "
                         "create it with 'hearth pool init'");
    }
    return 0;
}

int engine_pool_get(engine *e, pool **ret, struct error *err) {
    if (e->pool) {
        *ret = e->pool;
        return 0;
    }
    struct store_pool sp;
    int r = pool_row_get(e, &sp, err);
    if (r < 0)
        return r;
    if (sp.state != STORE_POOL_ACTIVE) {
        store_pool_release(&sp);
        return error_set(err, -EAGAIN, "the pool is being initialised; try again shortly");
    }
    r = pool_open_locked(e, &sp, &e->pool, &e->pool_err);
    store_pool_release(&sp);
    e->pool_tried = true;
    if (r < 0) {
        error_set(err, r, "%s", e->pool_err.msg);
        return r;
    }
    error_init(&e->pool_err);
    *ret = e->pool;
    return 0;
}

void engine_pool_open_hook(engine *e) {
    struct error err;
    struct store_pool sp;
    error_init(&err);
    if (store_pool_get(e->store, &sp, &err) < 0)
        return; /* no pool */
    bool created = sp.driver && sp.state == STORE_POOL_ACTIVE;
    store_pool_release(&sp);
    pool *p;
    if (created && !e->pool && !e->pool_tried && engine_pool_get(e, &p, &err) < 0)
        log_debug("pool: %s", err.msg); /* kept in e->pool_err for the pool commands */
}

void engine_pool_close_hook(engine *e) {
    pool_free(e->pool);
    e->pool = NULL;
}

/* ---- init -------------------------------------------------------------- */

/* mkdir -p of the directory that holds path. */
static int mkdir_dirname(const char *path, struct error *err) {
    if (strlen(path) >= PATH_MAX)
        return error_set(err, -ENAMETOOLONG, "path '%.64s...' is too long", path);
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    return fs_mkdir_parents(dirname(buf), 0700, err);
}

/* The size of the filesystem that holds path (or its nearest existing parent). */
static uint64_t fs_size_of(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (int depth = 0; depth < 64; depth++) {
        struct statvfs sv;
        if (statvfs(buf, &sv) == 0)
            return (uint64_t)sv.f_blocks * sv.f_frsize;
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf)
            break;
        *slash = '\0';
    }
    return 0;
}

static int sizes_check(const struct api_pool *spec, struct error *err) {
    char a[32], d[32];
    api_size_format(spec->allocation_size, a, sizeof(a));
    api_size_format(spec->data_size, d, sizeof(d));
    if (spec->allocation_size == 0 || spec->allocation_size % POOL_ALLOC_UNIT != 0)
        return error_set(err, -EINVAL, "allocation size %s is not a multiple of 64KB", a);
    if (spec->allocation_size > GiB)
        return error_set(err, -EINVAL, "allocation size %s is larger than 1GB", a);
    if (spec->data_size < spec->allocation_size)
        return error_set(err, -EINVAL, "data size %s is smaller than the allocation size %s", d, a);
    if (spec->data_size % spec->allocation_size != 0)
        return error_set(err, -EINVAL, "data size %s is not a multiple of the allocation size %s",
                         d, a);
    return 0;
}

/* An init: the pool row it records (pointing into spec), and what was recorded before. */
struct init_job {
    struct store_pool sp;
    const struct store_pool *before; /* a spec recorded by apply, or NULL */
};

/* The intent's and the commit's row: the pool as sp says. */
static int init_put_rows(engine *e, void *ud, struct error *err) {
    const struct init_job *j = ud;
    return store_pool_put(e->store, &j->sp, err);
}

/* The abort's rows: the pool's row as it was before (a recorded spec, or none). */
static int init_undo_rows(engine *e, void *ud, struct error *err) {
    const struct init_job *j = ud;
    return j->before ? store_pool_put(e->store, j->before, err) : store_pool_delete(e->store, err);
}

/* The refusal when a pool was created already; 0 when there is none or only a spec. */
static int init_exists_check(const struct store_pool *before, struct error *err) {
    if (!before->driver)
        return 0;
    char d[32];
    api_size_format(before->data_size, d, sizeof(d));
    return error_set(err, -EEXIST, "a pool already exists (driver %s, data %s at '%s'%s)",
                     before->driver, d, before->data_path ? before->data_path : "",
                     before->state == STORE_POOL_ACTIVE ? "" : ", being initialised");
}

/* The driver: the one asked for when it can run here, else dm-thin where usable, else file. */
static int init_driver(const struct engine_pool_init_opts *opts, enum pool_driver *ret,
                       char *ret_notice, size_t notice_size, struct error *err) {
    char why[256] = "";
    if (opts->driver) {
        if (pool_driver_parse(opts->driver, ret) < 0)
            return error_set(err, -EINVAL, "unknown pool driver '%s' (dm-thin or file)",
                             opts->driver);
        if (!pool_driver_usable(*ret, why, sizeof(why)))
            return error_set(err, -ENOTSUP, "the %s driver cannot run here: %s%s",
                             pool_driver_name(*ret), why,
                             *ret == POOL_DRIVER_DM_THIN ? "; use --driver file" : "");
        return 0;
    }
    if (pool_driver_usable(POOL_DRIVER_DM_THIN, why, sizeof(why))) {
        *ret = POOL_DRIVER_DM_THIN;
        if (ret_notice)
            snprintf(ret_notice, notice_size,
                     "using the dm-thin driver: device-mapper with thin support is usable");
    } else {
        *ret = POOL_DRIVER_FILE;
        if (ret_notice)
            snprintf(ret_notice, notice_size, "using the file driver: %s", why);
    }
    return 0;
}

/* The spec: flags, else the recorded spec (before, may be NULL), else the defaults. */
static int init_spec(engine *e, const struct engine_pool_init_opts *opts,
                     const struct store_pool *before, enum pool_driver driver,
                     struct api_object *obj, struct error *err) {
    struct api_pool *spec = &obj->u.pool;
    spec->data_size = opts->data_size ? opts->data_size : before ? before->data_size : 0;
    spec->metadata_size = opts->metadata_size ? opts->metadata_size
                          : before            ? before->metadata_size
                                              : 0;
    spec->allocation_size = opts->allocation_size ? opts->allocation_size
                            : before              ? before->allocation_size
                                                  : 0;
    const char *dp = opts->data_path ? opts->data_path : before ? before->data_path : NULL;
    const char *mp = opts->metadata_path ? opts->metadata_path
                     : before            ? before->metadata_path
                                         : NULL;
    spec->data_path = xstrdup(dp);
    spec->metadata_path = xstrdup(mp);
    bool data_size_given = spec->data_size != 0;
    if ((!spec->data_path && dp) || (!spec->metadata_path && mp) ||
        api_object_set_defaults(obj, e->root) < 0)
        return error_oom(err);
    if (driver == POOL_DRIVER_FILE && !data_size_given) {
        /* The file driver's data size is a quota: at most the filesystem. */
        uint64_t fs = fs_size_of(spec->data_path);
        if (fs && fs < spec->data_size) {
            uint64_t a = spec->allocation_size ? spec->allocation_size : POOL_ALLOC_UNIT;
            spec->data_size = fs / a * a;
        }
    }
    return sizes_check(spec, err);
}

/*
 * The act of an init (journal row op): the backing storage, then assembling
 * it; *ret the assembled pool. On failure what it made is destroyed again.
 */
static int init_act(engine *e, const struct pool_config *cfg, int64_t op, pool **ret,
                    struct error *err) {
    struct error e2;
    int r = pool_create(cfg, err);
    if (r == 0) {
        r = store_op_step(e->store, op, "files", err);
        if (r < 0 && pool_destroy(cfg, &e2) < 0)
            log_warn("%s", e2.msg);
    }
    if (r < 0)
        return r;
    fault_point("pool.init.after-files");
    pool *p = NULL;
    _cleanup_close_ int lock = pool_lock(e, err);
    r = lock < 0 ? lock : pool_open(cfg, &p, err);
    if (r == 0)
        r = store_op_step(e->store, op, "assembled", err);
    if (r < 0) {
        if (p && pool_disassemble(p, &e2) < 0)
            log_warn("%s", e2.msg);
        pool_free(p);
        if (pool_destroy(cfg, &e2) < 0)
            log_warn("%s", e2.msg);
        return r;
    }
    *ret = p;
    return 0;
}

int engine_pool_init(engine *e, const struct engine_pool_init_opts *opts, char *ret_notice,
                     size_t notice_size, struct error *err) {
    if (ret_notice && notice_size)
        ret_notice[0] = '\0';
    _cleanup_(store_pool_release) struct store_pool before = {0};
    int r = store_pool_get(e->store, &before, err);
    bool have_before = r == 0;
    if (r == -ENOENT)
        error_init(err);
    else if (r == 0)
        r = init_exists_check(&before, err);
    if (r < 0 && r != -ENOENT)
        return r;

    enum pool_driver driver;
    _cleanup_object_ struct api_object *obj = api_object_new(API_KIND_POOL);
    if (!obj)
        return error_oom(err);
    r = init_driver(opts, &driver, ret_notice, notice_size, err);
    if (r == 0)
        r = init_spec(e, opts, have_before ? &before : NULL, driver, obj, err);
    if (r < 0)
        return r;
    const struct api_pool *spec = &obj->u.pool;
    char id[ID_LEN + 1];
    r = id_generate(id);
    if (r < 0)
        return error_set(err, r, "cannot generate the pool's name: %s", strerror(-r));
    id[8] = '\0';
    struct init_job j = {
        .sp =
            {
                .driver = (char *)pool_driver_name(driver),
                .name = id,
                .state = STORE_POOL_PLANNED,
                .metadata_size = spec->metadata_size,
                .data_size = spec->data_size,
                .allocation_size = spec->allocation_size,
                .metadata_path = spec->metadata_path,
                .data_path = spec->data_path,
            },
        .before = have_before ? &before : NULL,
    };
    struct pool_config cfg;
    config_of(&j.sp, driver, &cfg);
    r = mkdir_dirname(spec->data_path, err);
    if (r == 0 && driver == POOL_DRIVER_DM_THIN)
        r = mkdir_dirname(spec->metadata_path, err);
    if (r < 0)
        return r;

    /* 1. intent */
    char params[64];
    snprintf(params, sizeof(params), "{\"driver\":\"%s\"}", pool_driver_name(driver));
    struct engine_op op = {
        .name = "pool.init", .kind = API_KIND_POOL, .device_id = -1, .params = params};
    r = engine_op_intent(e, &op, init_put_rows, &j, "pool.init.after-intent", err);
    if (r < 0)
        return r;
    /* 2. act: the backing storage, then assembling it */
    pool *p = NULL;
    r = init_act(e, &cfg, op.id, &p, err);
    if (r < 0) {
        struct error e2;
        error_init(&e2);
        (void)engine_op_abort(e, op.id, err->msg, init_undo_rows, &j, &e2);
        return r;
    }
    fault_point("pool.init.after-assemble");
    /* 3. commit */
    j.sp.state = STORE_POOL_ACTIVE;
    r = engine_op_commit(e, op.id, init_put_rows, &j, "pool.init.after-commit", err);
    if (r < 0) {
        pool_free(p); /* recovery finishes it once this process is gone */
        return r;
    }
    pool_free(e->pool);
    e->pool = p;
    e->pool_tried = true;
    error_init(&e->pool_err);
    return 0;
}

/* ---- status and listing ------------------------------------------------ */

void engine_pool_status_release(struct engine_pool_status *s) {
    if (!s)
        return;
    free(s->data_path);
    free(s->metadata_path);
    free(s->usage_error);
    memset(s, 0, sizeof(*s));
}

int engine_pool_status(engine *e, struct engine_pool_status *ret, struct error *err) {
    struct store_pool sp;
    int r = pool_row_get(e, &sp, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "no pool; create one with 'hearth pool init'");
    if (r < 0)
        return r;
    struct engine_pool_status s = {0};
    snprintf(s.driver, sizeof(s.driver), "%s", sp.driver);
    snprintf(s.name, sizeof(s.name), "%s", sp.name ? sp.name : "");
    s.state = (enum engine_pool_state)sp.state;
    s.data_size = sp.data_size;
    s.metadata_size = sp.metadata_size;
    s.allocation_size = sp.allocation_size;
    s.data_path = steal_ptr(&sp.data_path);
    s.metadata_path = steal_ptr(&sp.metadata_path);
    store_pool_release(&sp);

    struct store_pool_device *devs = NULL;
    size_t n = 0;
    r = store_pool_device_list(e->store, &devs, &n, err);
    if (r < 0) {
        engine_pool_status_release(&s);
        return r;
    }
    s.n_devices = n;
    for (size_t i = 0; i < n; i++) {
        int t = engine_device_type_index(devs[i].type);
        if (t >= 0)
            s.by_type[t]++;
        if (devs[i].state == STORE_POOL_PLANNED)
            s.n_planned++;
        else if (devs[i].state == STORE_POOL_REMOVING)
            s.n_removing++;
    }
    store_pool_devices_free(devs, n);

    pool *p = NULL;
    struct error perr;
    error_init(&perr);
    r = engine_pool_get(e, &p, &perr);
    struct pool_usage u;
    if (r == 0)
        r = pool_usage_get(p, &u, &perr);
    if (r == 0) {
        s.usage_known = true;
        s.data_used = u.data_used;
        s.data_total = u.data_total;
        s.metadata_used = u.metadata_used;
        s.metadata_total = u.metadata_total;
    } else {
        s.usage_error = xstrdup(perr.msg);
        if (!s.usage_error) {
            engine_pool_status_release(&s);
            return error_oom(err);
        }
    }
    *ret = s;
    return 0;
}

/* ---- device operations ------------------------------------------------- */

static int owner_check(enum api_kind owner_kind, const char *owner_uid, struct error *err) {
    if (owner_kind == API_KIND_COUNT)
        return owner_uid ? error_set(err, -EINVAL, "a device owner's uid needs its kind") : 0;
    if (owner_kind == API_KIND_POOL || owner_kind < 0 || owner_kind > API_KIND_COUNT)
        return error_set(err, -EINVAL, "a device is owned by a VM, an image or a kernel");
    if (!owner_uid || !id_is_valid(owner_uid))
        return error_set(err, -EINVAL, "device owner uid '%s' is not a valid id",
                         owner_uid ? owner_uid : "");
    return 0;
}

/* A device create or snapshot: what was asked, and the row its intent records. */
struct dev_job {
    bool snap;
    const char *type;
    uint32_t parent_id;
    uint64_t size; /* 0 for a snapshot: the parent's */
    enum api_kind owner_kind;
    const char *owner_uid;
    struct engine_op *op; /* its device_id and params are set by the intent's rows */
    uint32_t id;
    char params[128];
};

/* A snapshot's size: the parent's when none is given, never less. */
static int dev_parent_check(engine *e, struct dev_job *j, struct error *err) {
    struct store_pool_device parent;
    int r = store_pool_device_get(e->store, j->parent_id, &parent, err);
    if (r < 0)
        return r;
    if (parent.state != STORE_POOL_ACTIVE)
        r = error_set(err, -ENOENT, "device %u is %s, not active", j->parent_id,
                      store_pool_state_name(parent.state));
    else if (j->size == 0)
        j->size = parent.size;
    else if (j->size < parent.size)
        r = error_set(err, -EINVAL, "a snapshot of device %u must be at least its size %" PRIu64,
                      j->parent_id, parent.size);
    store_pool_device_release(&parent);
    return r;
}

/* The intent's rows: the id allocated and its row 'planned'; the journal row names it. */
static int dev_new_rows(engine *e, void *ud, struct error *err) {
    struct dev_job *j = ud;
    int r = j->snap ? dev_parent_check(e, j, err) : 0;
    if (r == 0)
        r = store_pool_device_allocate(e->store, &j->id, err);
    if (r < 0)
        return r;
    struct store_pool_device d = {
        .id = j->id,
        .type = (char *)j->type,
        .parent = j->snap ? (int64_t)j->parent_id : STORE_DEVICE_PARENT_NONE,
        .size = j->size,
        .state = STORE_POOL_PLANNED,
        .owner_kind = j->owner_kind,
        .owner_uid = (char *)j->owner_uid,
    };
    r = store_pool_device_insert(e->store, &d, err);
    if (j->snap)
        snprintf(j->params, sizeof(j->params),
                 "{\"type\":\"%s\",\"parent\":%u,\"size\":%" PRIu64 "}", j->type, j->parent_id,
                 j->size);
    else
        snprintf(j->params, sizeof(j->params), "{\"type\":\"%s\",\"size\":%" PRIu64 "}", j->type,
                 j->size);
    j->op->device_id = j->id;
    j->op->params = j->params;
    return r;
}

/* The commit's row: the device is 'active'. */
static int dev_active_rows(engine *e, void *ud, struct error *err) {
    const struct dev_job *j = ud;
    return store_pool_device_set_state(e->store, j->id, STORE_POOL_ACTIVE, err);
}

/* The abort's row of a create or snapshot: the device's goes. */
static int dev_delete_rows(engine *e, void *ud, struct error *err) {
    const struct dev_job *j = ud;
    return store_pool_device_delete(e->store, j->id, err);
}

/* Undoes a failed create/snapshot: the device, the row, the journal row. */
static void device_new_undo(engine *e, pool *p, struct dev_job *j, int64_t op, const char *why) {
    struct error e2;
    error_init(&e2);
    if (pool_device_remove(p, j->id, &e2) < 0) {
        log_warn("device %u: %s; 'hearth doctor --repair' removes it", j->id, e2.msg);
        return; /* the row and the open journal row stay for recovery */
    }
    (void)engine_op_abort(e, op, why, dev_delete_rows, j, &e2);
}

static int device_new(engine *e, struct dev_job *j, uint32_t *ret_id, struct error *err) {
    if (engine_device_type_index(j->type) < 0)
        return error_set(err, -EINVAL, "device type '%s' is not one of Image, Resize, Kernel, VM",
                         j->type ? j->type : "");
    if ((!j->snap && j->size == 0) || j->size % 512 != 0)
        return error_set(err, -EINVAL, "device size %" PRIu64 " is not a positive multiple of 512",
                         j->size);
    int r = owner_check(j->owner_kind, j->owner_uid, err);
    if (r < 0)
        return r;
    pool *p;
    r = engine_pool_get(e, &p, err);
    if (r < 0)
        return r;

    /* 1. intent */
    struct engine_op op = {.name = j->snap ? "pool.snapshot" : "pool.create",
                           .kind = API_KIND_POOL};
    j->op = &op;
    r = engine_op_intent(e, &op, dev_new_rows, j,
                         j->snap ? "pool.snapshot.after-intent" : "pool.create.after-intent", err);
    if (r < 0)
        return r;

    /* 2. act */
    r = j->snap ? pool_device_snapshot(p, j->id, j->parent_id, j->size, err)
                : pool_device_create(p, j->id, j->size, err);
    if (r < 0) {
        device_new_undo(e, p, j, op.id, err->msg);
        return r;
    }
    fault_point(j->snap ? "pool.snapshot.after-act" : "pool.create.after-act");

    /* 3. commit; when it fails the device exists: recovery rolls forward once we are gone */
    r = engine_op_commit(e, op.id, dev_active_rows, j,
                         j->snap ? "pool.snapshot.after-commit" : "pool.create.after-commit", err);
    if (r < 0)
        return r;
    *ret_id = j->id;
    return 0;
}

int engine_pool_device_create(engine *e, const char *type, uint64_t size, enum api_kind owner_kind,
                              const char *owner_uid, uint32_t *ret_id, struct error *err) {
    struct dev_job j = {
        .type = type, .size = size, .owner_kind = owner_kind, .owner_uid = owner_uid};
    return device_new(e, &j, ret_id, err);
}

int engine_pool_device_snapshot(engine *e, const char *type, uint32_t parent_id, uint64_t size,
                                enum api_kind owner_kind, const char *owner_uid, uint32_t *ret_id,
                                struct error *err) {
    struct dev_job j = {.snap = true,
                        .type = type,
                        .parent_id = parent_id,
                        .size = size,
                        .owner_kind = owner_kind,
                        .owner_uid = owner_uid};
    return device_new(e, &j, ret_id, err);
}

#define CHILDREN_NAMED 10

/* A removal's device; the abort's rows put it back to 'active'. */
struct dev_remove {
    uint32_t id;
};

/* The intent's rows: the device is active and has no children; it becomes 'removing'. */
static int dev_remove_rows(engine *e, void *ud, struct error *err) {
    uint32_t id = ((const struct dev_remove *)ud)->id;
    struct store_pool_device d;
    int r = store_pool_device_get(e->store, id, &d, err);
    if (r < 0)
        return r;
    if (d.state != STORE_POOL_ACTIVE)
        r = error_set(err, -EBUSY, "device %u is %s by another operation", id,
                      d.state == STORE_POOL_PLANNED ? "being created" : "being removed");
    store_pool_device_release(&d);
    uint32_t kids[CHILDREN_NAMED];
    size_t n_kids = 0;
    if (r == 0)
        r = store_pool_device_children(e->store, id, kids, CHILDREN_NAMED, &n_kids, err);
    if (r == 0 && n_kids > 0) {
        char list[CHILDREN_NAMED * 12 + 32] = "";
        size_t len = 0;
        for (size_t i = 0; i < n_kids && i < CHILDREN_NAMED; i++)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%u", i ? ", " : "", kids[i]);
        if (n_kids > CHILDREN_NAMED)
            snprintf(list + len, sizeof(list) - len, " and %zu more", n_kids - CHILDREN_NAMED);
        r = error_set(err, -EBUSY, "device %u has children: %s; remove them first", id, list);
    }
    if (r == 0)
        r = store_pool_device_set_state(e->store, id, STORE_POOL_REMOVING, err);
    return r;
}

static int dev_reactivate_rows(engine *e, void *ud, struct error *err) {
    return store_pool_device_set_state(e->store, ((const struct dev_remove *)ud)->id,
                                       STORE_POOL_ACTIVE, err);
}

static int dev_gone_rows(engine *e, void *ud, struct error *err) {
    return store_pool_device_delete(e->store, ((const struct dev_remove *)ud)->id, err);
}

int engine_pool_device_remove(engine *e, uint32_t id, struct error *err) {
    pool *p;
    int r = engine_pool_get(e, &p, err);
    if (r < 0)
        return r;
    struct dev_remove d = {id};
    /* 1. intent */
    struct engine_op op = {.name = "pool.remove", .kind = API_KIND_POOL, .device_id = id};
    r = engine_op_intent(e, &op, dev_remove_rows, &d, "pool.remove.after-intent", err);
    if (r < 0)
        return r;
    /* 2. act */
    r = pool_device_remove(p, id, err);
    if (r < 0) {
        struct error e2;
        error_init(&e2);
        (void)engine_op_abort(e, op.id, err->msg, dev_reactivate_rows, &d, &e2);
        return r;
    }
    fault_point("pool.remove.after-act");
    /* 3. commit */
    return engine_op_commit(e, op.id, dev_gone_rows, &d, "pool.remove.after-commit", err);
}

int engine_pool_device_owned(engine *e, enum api_kind owner_kind, const char *owner_uid,
                             const char *type, uint32_t *ret_id, struct error *err) {
    struct store_pool_device *d = NULL;
    size_t n = 0;
    int r = store_pool_device_list(e->store, &d, &n, err);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; i < n && r < 0; i++)
        if (d[i].owner_kind == owner_kind && d[i].owner_uid &&
            strcmp(d[i].owner_uid, owner_uid) == 0 && strcmp(d[i].type, type) == 0 &&
            d[i].state == STORE_POOL_ACTIVE) {
            *ret_id = d[i].id;
            r = 0;
        }
    store_pool_devices_free(d, n);
    return r;
}

int engine_pool_device_activate(engine *e, uint32_t id, char **ret_path, struct error *err) {
    pool *p;
    int r = engine_pool_get(e, &p, err);
    if (r < 0)
        return r;
    struct store_pool_device d;
    r = store_pool_device_get(e->store, id, &d, err);
    if (r < 0)
        return r;
    if (d.state != STORE_POOL_ACTIVE)
        r = error_set(err, -EBUSY, "device %u is %s, not active", id,
                      store_pool_state_name(d.state));
    uint64_t size = d.size;
    store_pool_device_release(&d);
    if (r < 0)
        return r;
    return pool_device_activate(p, id, size, ret_path, err);
}

/* ---- recovery ---------------------------------------------------------- */

static bool ids_contain(const struct pool_inventory *inv, uint32_t id) {
    for (size_t i = 0; i < inv->n_ids; i++)
        if (inv->ids[i] == id)
            return true;
    return false;
}

/* Closes a recovered operation and applies its row change (the row active, else gone), in one
 * transaction. */
static int recover_commit(engine *e, const struct store_op *op, uint32_t id, bool activate,
                          const char *note, struct error *err) {
    int r = store_begin(e->store, err);
    if (r < 0)
        return r;
    if (activate)
        r = store_pool_device_set_state(e->store, id, STORE_POOL_ACTIVE, err);
    else {
        r = store_pool_device_delete(e->store, id, err);
        if (r == -ENOENT) {
            error_init(err);
            r = 0;
        }
    }
    if (r == 0)
        r = store_op_finish(e->store, op->id, note, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        store_rollback(e->store);
    return r;
}

static int recover_init(engine *e, const struct store_op *op, struct error *err) {
    struct store_pool sp;
    int r = store_pool_get(e->store, &sp, err);
    if (r == -ENOENT) { /* nothing left to undo */
        error_init(err);
        return store_op_finish(e->store, op->id, "interrupted; rolled back", err);
    }
    if (r < 0)
        return r;
    enum pool_driver driver = POOL_DRIVER_FILE;
    if (!sp.driver || pool_driver_parse(sp.driver, &driver) < 0) {
        store_pool_release(&sp);
        return store_op_finish(e->store, op->id, "interrupted; no driver recorded", err);
    }
    struct pool_config cfg;
    config_of(&sp, driver, &cfg);
    bool forward = strcmp(op->step, "assembled") == 0;
    pool *p = NULL;
    if (forward || strcmp(op->step, "files") == 0) {
        struct error oerr;
        error_init(&oerr);
        _cleanup_close_ int lock = pool_lock(e, err);
        if (lock < 0) {
            store_pool_release(&sp);
            return lock;
        }
        r = pool_open(&cfg, &p, &oerr);
        if (r < 0)
            forward = false;
        if (!forward) {
            struct error e2;
            if (p && pool_disassemble(p, &e2) < 0)
                log_warn("%s", e2.msg);
            pool_free(p);
            p = NULL;
            r = pool_destroy(&cfg, err); /* only what pool_create made */
            if (r < 0) {
                store_pool_release(&sp);
                return r;
            }
        }
    }
    r = store_begin(e->store, err);
    if (r == 0) {
        if (forward) {
            sp.state = STORE_POOL_ACTIVE;
            r = store_pool_put(e->store, &sp, err);
        } else {
            /* The spec stays recorded, as apply would have left it. */
            struct store_pool spec = sp;
            spec.driver = NULL;
            spec.name = NULL;
            spec.state = STORE_POOL_ACTIVE;
            r = store_pool_put(e->store, &spec, err);
        }
    }
    if (r == 0)
        r = store_op_finish(e->store, op->id, forward ? NULL : "interrupted; rolled back", err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        store_rollback(e->store);
    store_pool_release(&sp);
    if (r == 0 && forward) {
        pool_free(e->pool);
        e->pool = p;
        e->pool_tried = true;
        error_init(&e->pool_err);
    } else {
        pool_free(p);
    }
    return r;
}

int engine_pool_recover_op(engine *e, const struct store_op *op, struct error *err) {
    int r = engine_op_adopt(e, op, err);
    if (r <= 0)
        return r;
    if (strcmp(op->op, "pool.init") == 0)
        return recover_init(e, op, err);

    bool create = strcmp(op->op, "pool.create") == 0 || strcmp(op->op, "pool.snapshot") == 0;
    bool remove = strcmp(op->op, "pool.remove") == 0;
    if ((!create && !remove) || op->device_id < 0 || op->device_id > POOL_ID_MAX)
        return store_op_finish(e->store, op->id, "interrupted; unknown pool operation", err);
    uint32_t id = (uint32_t)op->device_id;
    pool *p;
    r = engine_pool_get(e, &p, err);
    if (r < 0)
        return r;

    if (remove) {
        r = pool_device_remove(p, id, err);
        if (r < 0)
            return r;
        return recover_commit(e, op, id, false, "interrupted; removal finished", err);
    }
    struct pool_inventory inv = {0};
    r = pool_inventory_get(p, &inv, err);
    if (r < 0)
        return r;
    bool exists = ids_contain(&inv, id);
    pool_inventory_release(&inv);
    if (exists) /* only the commit was missing */
        return recover_commit(e, op, id, true, NULL, err);
    /* Rolled back: what the act left half-made goes too (the file driver's <id>.img.tmp). */
    r = pool_device_remove(p, id, err);
    if (r < 0)
        return r;
    return recover_commit(e, op, id, false, "interrupted; rolled back", err);
}

int engine_pool_recover(engine *e, size_t *ret_n, struct error *err) {
    /* The table's row (ops.c): the table names the files above this one. */
    static const struct engine_op_row row = {"pool.", engine_pool_recover_op, ENGINE_OP_DEVICE};
    return engine_ops_recover_rows(e, &row, 1, ret_n, err);
}

/* ---- apply of a Pool document ------------------------------------------ */

static bool str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The prefix X when path is X/suffix; "" otherwise (returned in buf).
 */
static const char *path_root(const char *path, const char *suffix, char *buf, size_t size) {
    size_t pl = path ? strlen(path) : 0, sl = strlen(suffix);
    buf[0] = '\0';
    if (pl > sl && strcmp(path + pl - sl, suffix) == 0 && pl - sl < size)
        snprintf(buf, size, "%.*s", (int)(pl - sl), path);
    return buf;
}

/*
 * Paths that are another root's defaults (X/pool/metadata, X/pool/data, X
 * not this root) are that root's runtime state: this root's defaults
 * replace them. Explicit paths (a block device, a chosen directory) stay.
 */
static int pool_paths_localize(engine *e, struct api_pool *doc, unsigned *skipped,
                               struct error *err) {
    char m[4096], d[4096];
    path_root(doc->metadata_path, "/pool/metadata", m, sizeof(m));
    path_root(doc->data_path, "/pool/data", d, sizeof(d));
    if (!m[0] || strcmp(m, d) != 0 || strcmp(m, e->root) == 0)
        return 0;
    char *mp = xasprintf("%s/pool/metadata", e->root);
    char *dp = xasprintf("%s/pool/data", e->root);
    if (!mp || !dp) {
        free(mp);
        free(dp);
        return error_oom(err);
    }
    free(doc->metadata_path);
    free(doc->data_path);
    doc->metadata_path = mp;
    doc->data_path = dp;
    *skipped |= ENGINE_APPLY_SKIP_POOL_PATHS;
    return 0;
}

int engine_pool_apply_check(engine *e, struct api_object *obj, unsigned *skipped,
                            struct error *err) {
    struct api_pool *doc = &obj->u.pool;
    struct store_pool sp;
    bool have = false;
    int r = pool_paths_localize(e, doc, skipped, err);
    if (r < 0)
        return r;
    r = store_pool_get(e->store, &sp, err);
    if (r == 0)
        have = true;
    else if (r != -ENOENT)
        return r;
    error_init(err);
    r = 0;
    if (have && sp.driver) {
        bool same = sp.data_size == doc->data_size && sp.metadata_size == doc->metadata_size &&
                    sp.allocation_size == doc->allocation_size &&
                    str_eq(sp.data_path, doc->data_path) &&
                    str_eq(sp.metadata_path, doc->metadata_path);
        r = same ? 0
                 : error_set(err, -EBUSY,
                             "pool: the pool exists (driver %s, data at '%s'); apply cannot "
                             "change its spec",
                             sp.driver, sp.data_path ? sp.data_path : "");
    }
    if (have)
        store_pool_release(&sp);
    if (r < 0)
        return r;

    /* status.devices: hearth's record of what exists in this root's pool, never an
     * instruction; a document's that differ (another root's) are skipped. */
    struct store_pool_device *rows = NULL;
    size_t n = 0;
    r = store_pool_device_list(e->store, &rows, &n, err);
    if (r < 0)
        return r;
    size_t present = 0;
    bool same = true;
    for (size_t i = 0; i < doc->n_devices; i++) {
        const struct api_pool_device *d = &doc->devices[i];
        if (!d->present)
            continue;
        present++;
        const struct store_pool_device *row = NULL;
        for (size_t k = 0; k < n; k++)
            if (rows[k].id == i)
                row = &rows[k];
        if (!row || !str_eq(row->type, d->type) || row->size != d->size || row->parent != d->parent)
            same = false;
    }
    if (present != 0 && (!same || present != n))
        *skipped |= ENGINE_APPLY_SKIP_DEVICES;
    if (store_pool_devices_to_api(rows, n, doc) < 0) /* replaces the document's */
        r = error_oom(err);
    store_pool_devices_free(rows, n);
    return r;
}
