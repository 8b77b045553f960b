/*
 * engine doctor: compares the database with what really exists in the
 * storage pool, both ways, and with repair fixes each difference.
 *
 * Findings, in the order they are checked and repaired:
 * - interrupted-operation: an operation of the table of operations (ops.c)
 *   whose owner is dead (engine_open normally recovers these; they remain
 *   when the recovery failed, e.g. the pool could not be opened); repair
 *   finishes its recovery by the row's recover function.
 * - pool-unusable: the pool cannot be opened; nothing else can be compared.
 *   No automatic repair.
 * - stuck-device: a row 'planned' or 'removing' that no operation owns;
 *   repair finishes it (planned: active if the device exists, else the row
 *   goes; removing: the device and the row go).
 * - missing-device: a row whose device is gone from the pool; repair drops
 *   the row and gives its children the gone device's parent.
 * - active-orphan: an active dm device of the pool that no row claims;
 *   repair deactivates it.
 * - orphan-device: a device id in the pool that no row claims; repair
 *   removes the device.
 * - stray: a loop device or leftover file of the pool that is no device;
 *   repair removes it (pool_stray_remove). Also an import's staging
 *   directory in <root>/tmp or kernel files in <root>/kernel that no running
 *   operation or kernel owns; repair removes them.
 * - missing-kernel-files: a kernel without the files its record names (or,
 *   without a record, without a kernel file), or one whose size is not the
 *   one recorded at its import; no repair: the message names the command
 *   that imports it again (engine_restore_hint).
 * - stray (VMs): <root>/vm/<id> of no VM, <root>/run/vm/<id> of a VM that
 *   does not run; repair removes them.
 * - stray-process: a monitor or VMM of this root that is not the recorded
 *   process of a running VM (found through /proc: a monitor's argv, a VMM's
 *   working directory); repair kills it.
 * - filesystem-full, filesystem-read-only: the root's filesystem has less
 *   than DOCTOR_FREE_MIN left for this user, or is mounted read-only, so
 *   nothing can be recorded; checked first, no repair. (Other commands that
 *   only read then open the database read-only: engine_open_reading.)
 * - corrupt: a row that breaks the rules (store_corrupt_list), checked before
 *   everything else. No repair; while there is one, nothing else is checked
 *   or repaired.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/vm_priv.h"
#include "pool/pool.h"

#define FINDINGS_MAX 100000        /* a bound on what one run reports */
#define DOCTOR_FREE_MIN (1u << 20) /* bytes free below which the root's filesystem is full */

void engine_doctor_report_release(struct engine_doctor_report *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].message);
        free(r->items[i].repair_error);
    }
    free(r->items);
    r->items = NULL;
    r->n = 0;
}

struct engine_finding *doctor_finding_add(struct engine_doctor_report *rep, const char *kind,
                                          const char *action, const char *object, const char *fmt,
                                          ...) {
    if (rep->n >= FINDINGS_MAX)
        return NULL;
    struct engine_finding *items = xrealloc(rep->items, (rep->n + 1) * sizeof(*items));
    if (!items)
        return NULL;
    rep->items = items;
    struct engine_finding *f = &items[rep->n];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->action = action;
    size_t len = strlen(object);
    if (len >= sizeof(f->object)) /* keep the end of a long path */
        snprintf(f->object, sizeof(f->object), "...%s", object + len - (sizeof(f->object) - 4));
    else
        snprintf(f->object, sizeof(f->object), "%s", object);
    va_list ap;
    va_start(ap, fmt);
    f->message = xvasprintf(fmt, ap);
    va_end(ap);
    if (!f->message)
        return NULL;
    rep->n++;
    return f;
}

void doctor_repair_done(struct engine_finding *f, int r, const struct error *err) {
    if (r == 0)
        f->repaired = true;
    else
        f->repair_error = xstrdup(err->msg[0] ? err->msg : strerror(-r));
}

static bool ids_contain(const uint32_t *ids, size_t n, uint32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static const struct store_pool_device *row_find(const struct store_pool_device *rows, size_t n,
                                                uint32_t id) {
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == id)
            return &rows[i];
    return NULL;
}

/* Dead operations that the table of operations recovers; with repair, recovers each. */
static int check_operations(engine *e, bool repair, struct engine_doctor_report *rep,
                            struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        const struct store_op *op = &ops[i];
        const struct engine_op_row *row = engine_op_row_find(op->op);
        if (!row || !row->recover || proc_is_alive(op->owner_pid, op->owner_start))
            continue;
        char obj[64], what[512];
        snprintf(obj, sizeof(obj), "operation %lld", (long long)op->id);
        engine_op_describe(op, what, sizeof(what));
        struct engine_finding *f = doctor_finding_add(rep, "interrupted-operation",
                                                      "finish its recovery", obj, "%s", what);
        if (!f) {
            r = error_oom(err);
            break;
        }
        if (repair) {
            struct error e2;
            error_init(&e2);
            doctor_repair_done(f, row->recover(e, op, &e2), &e2);
        }
    }
    store_ops_free(ops, n);
    return r;
}

/* Device ids that an open operation with a live owner works on. */
static int live_device_ops(engine *e, int64_t **ret, size_t *ret_n, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    int64_t *ids = xcalloc(n ? n : 1, sizeof(*ids));
    size_t k = 0;
    if (!ids) {
        store_ops_free(ops, n);
        return error_oom(err);
    }
    for (size_t i = 0; i < n; i++)
        if (ops[i].device_id >= 0 && proc_is_alive(ops[i].owner_pid, ops[i].owner_start))
            ids[k++] = ops[i].device_id;
    store_ops_free(ops, n);
    *ret = ids;
    *ret_n = k;
    return 0;
}

/* Drops the row of a gone device, its children taking its parent. */
static int drop_row(engine *e, const struct store_pool_device *row, struct error *err) {
    int r = store_begin(e->store, err);
    if (r < 0)
        return r;
    r = store_pool_device_reparent(e->store, row->id, row->parent, err);
    if (r == 0)
        r = store_pool_device_delete(e->store, row->id, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        store_rollback(e->store);
    return r;
}

static int set_state(engine *e, uint32_t id, enum store_pool_state state, struct error *err) {
    return store_pool_device_set_state(e->store, id, state, err);
}

/* A device row against the pool (exists: its id is there): stuck-device, missing-device. */
static int compare_row(engine *e, pool *p, const struct store_pool_device *row, bool exists,
                       bool repair, struct engine_doctor_report *rep, struct error *err) {
    char obj[64];
    snprintf(obj, sizeof(obj), "device %u", row->id);
    char size[32];
    api_size_format(row->size, size, sizeof(size));
    struct engine_finding *f = NULL;
    struct error e2;
    error_init(&e2);
    if (row->state != STORE_POOL_ACTIVE) {
        f = doctor_finding_add(rep, "stuck-device", "finish what was started", obj,
                               "%s device %u (%s) is '%s' but no operation is working on it",
                               row->type, row->id, size, store_pool_state_name(row->state));
        if (f && repair) {
            int q;
            if (row->state == STORE_POOL_REMOVING) {
                q = pool_device_remove(p, row->id, &e2);
                if (q == 0)
                    q = drop_row(e, row, &e2);
            } else if (exists) {
                q = set_state(e, row->id, STORE_POOL_ACTIVE, &e2);
            } else {
                q = drop_row(e, row, &e2);
            }
            doctor_repair_done(f, q, &e2);
        }
    } else if (!exists) {
        f = doctor_finding_add(rep, "missing-device", "drop the row; its children take its parent",
                               obj, "%s device %u (%s) has a row but is gone from the pool",
                               row->type, row->id, size);
        if (f && repair)
            doctor_repair_done(f, drop_row(e, row, &e2), &e2);
    } else {
        return 0;
    }
    return f ? 0 : error_oom(err);
}

/* What the pool holds that no row claims: active-orphan, orphan-device, stray. */
static int compare_pool_side(pool *p, const struct pool_inventory *inv,
                             const struct store_pool_device *rows, size_t n, bool repair,
                             struct engine_doctor_report *rep, struct error *err) {
    struct error e2;
    int r = 0;
    for (size_t i = 0; r == 0 && i < inv->n_active; i++) {
        if (row_find(rows, n, inv->active[i]))
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "device %u", inv->active[i]);
        struct engine_finding *f =
            doctor_finding_add(rep, "active-orphan", "deactivate it", obj,
                               "device %u is active but no row claims it", inv->active[i]);
        if (!f)
            r = error_oom(err);
        else if (repair) {
            error_init(&e2);
            doctor_repair_done(f, pool_device_deactivate(p, inv->active[i], &e2), &e2);
        }
    }
    for (size_t i = 0; r == 0 && i < inv->n_ids; i++) {
        if (row_find(rows, n, inv->ids[i]))
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "device %u", inv->ids[i]);
        struct engine_finding *f =
            doctor_finding_add(rep, "orphan-device", "remove the device", obj,
                               "device %u is in the pool but no row claims it", inv->ids[i]);
        if (!f)
            r = error_oom(err);
        else if (repair) {
            error_init(&e2);
            doctor_repair_done(f, pool_device_remove(p, inv->ids[i], &e2), &e2);
        }
    }
    for (size_t i = 0; r == 0 && i < inv->n_strays; i++) {
        struct engine_finding *f =
            doctor_finding_add(rep, "stray", "remove it", inv->strays[i],
                               "'%s' belongs to the pool but is no device", inv->strays[i]);
        if (!f)
            r = error_oom(err);
        else if (repair) {
            error_init(&e2);
            doctor_repair_done(f, pool_stray_remove(p, inv->strays[i], &e2), &e2);
        }
    }
    return r;
}

static int compare(engine *e, pool *p, bool repair, struct engine_doctor_report *rep,
                   struct error *err) {
    struct pool_inventory inv = {0};
    struct store_pool_device *rows = NULL;
    size_t n = 0;
    int64_t *live = NULL;
    size_t n_live = 0;
    struct error e2;
    int r = pool_inventory_get(p, &inv, &e2);
    if (r < 0) {
        struct engine_finding *f = doctor_finding_add(rep, "pool-unusable", NULL, "pool",
                                                      "cannot read the pool: %s", e2.msg);
        return f ? 0 : error_oom(err);
    }
    r = store_pool_device_list(e->store, &rows, &n, err);
    if (r == 0)
        r = live_device_ops(e, &live, &n_live, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        bool busy = false;
        for (size_t k = 0; k < n_live; k++)
            if (live[k] == rows[i].id)
                busy = true;
        if (!busy) /* else an operation is running on it */
            r = compare_row(e, p, &rows[i], ids_contain(inv.ids, inv.n_ids, rows[i].id), repair,
                            rep, err);
    }
    if (r == 0)
        r = compare_pool_side(p, &inv, rows, n, repair, rep, err);
    free(live);
    store_pool_devices_free(rows, n);
    pool_inventory_release(&inv);
    return r;
}

/*
 * Leftovers of imports (staging directories in <root>/tmp, kernel files of
 * no kernel) and kernels whose files are gone.
 */
static int check_imports(engine *e, bool repair, struct engine_doctor_report *rep,
                         struct error *err) {
    struct engine_leftover *l = NULL;
    size_t n = 0;
    int r = engine_import_leftovers(e, &l, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        struct engine_finding *f = doctor_finding_add(rep, "stray", "remove it", l[i].path,
                                                      "'%s' is %s", l[i].path, l[i].why);
        if (!f)
            r = error_oom(err);
        else if (repair) {
            struct error e2;
            error_init(&e2);
            doctor_repair_done(f, fs_tree_remove(l[i].path, &e2), &e2);
        }
    }
    engine_leftovers_free(l, n);
    if (r < 0)
        return r;

    struct api_object **kernels = NULL;
    size_t nk = 0;
    r = store_object_list(e->store, API_KIND_KERNEL, &kernels, &nk, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nk && r == 0; i++) {
        const char *uid = kernels[i]->meta.uid;
        char problem[512];
        r = engine_kernel_files_check(e, uid, problem, sizeof(problem), err);
        if (r != 0) {
            r = r == 1 ? 0 : r;
            continue;
        }
        char obj[64], hint[600];
        snprintf(obj, sizeof(obj), "kernel %s", uid);
        engine_restore_hint(kernels[i], hint, sizeof(hint));
        if (!doctor_finding_add(rep, "missing-kernel-files", NULL, obj,
                                "kernel '%s' cannot be used: %s; %s", kernels[i]->meta.name,
                                problem, hint))
            r = error_oom(err);
    }
    api_objects_free(kernels, nk);
    return r;
}

/* ---- VMs ---------------------------------------------------------------- */

#define VM_DIRS_MAX 100000 /* entries of <root>/vm or <root>/run/vm looked at */

static bool is_uid(const char *s) {
    if (strlen(s) != ID_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/*
 * The per-VM directories of dir (<root>/vm: every VM may have one;
 * <root>/run/vm: only a VM whose monitor may run) that no such VM owns.
 */
static int check_vm_dirs(engine *e, const char *sub, bool running_only, bool repair,
                         struct engine_doctor_report *rep, struct error *err) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", e->root, sub);
    if (!dir)
        return error_oom(err);
    DIR *dh = opendir(dir);
    if (!dh)
        return 0; /* none yet */
    int r = 0;
    struct dirent *de;
    for (size_t seen = 0; r == 0 && (de = readdir(dh)) && seen < VM_DIRS_MAX; seen++) {
        if (de->d_name[0] == '.')
            continue;
        enum api_vm_state state = API_VM_STATE_NONE;
        struct error e2;
        error_init(&e2);
        bool owned = is_uid(de->d_name) &&
                     store_vm_state_get(e->store, de->d_name, &state, &e2) == 0 &&
                     (!running_only || vm_state_runs(state));
        if (owned)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
        if (!path) {
            r = error_oom(err);
            break;
        }
        struct engine_finding *f =
            doctor_finding_add(rep, "stray", "remove it", path, "'%s' belongs to %s", path,
                               !is_uid(de->d_name)          ? "no vm"
                               : state != API_VM_STATE_NONE ? "a vm that is not running"
                                                            : "no vm (removed)");
        if (!f)
            r = error_oom(err);
        else if (repair) {
            error_init(&e2);
            doctor_repair_done(f, fs_tree_remove(path, &e2), &e2);
        }
    }
    closedir(dh);
    return r;
}

/*
 * Processes of this root that no VM accounts for: a monitor
 * (`... __monitor ROOT UID FD`) that is not the recorded monitor of a VM
 * that runs, and a VMM (its working directory is <root>/run/vm/<uid>) that
 * is not the recorded VMM. With repair, each is killed (SIGKILL; a
 * monitor's VMM dies with it).
 */
static int check_vm_processes(engine *e, bool repair, struct engine_doctor_report *rep,
                              struct error *err) {
    DIR *dh = opendir("/proc");
    if (!dh)
        return 0;
    _cleanup_free_ char *run = xasprintf("%s/run/vm/", e->root);
    if (!run) {
        closedir(dh);
        return error_oom(err);
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(dh))) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (!end || *end || pid <= 1 || pid == (long)getpid())
            continue;
        char uid[ID_LEN + 1] = "";
        bool monitor = false;
        char cmd[4096];
        size_t argc = 0;
        if (proc_cmdline((int)pid, cmd, sizeof(cmd), &argc) == 0 && argc == 5) {
            const char *a1 = cmd + strlen(cmd) + 1;
            const char *a2 = a1 + strlen(a1) + 1;
            const char *a3 = a2 + strlen(a2) + 1;
            if (strcmp(a1, "__monitor") == 0 && strcmp(a2, e->root) == 0) {
                monitor = true;
                snprintf(uid, sizeof(uid), "%.16s", a3);
            }
        }
        if (!monitor) {
            char cwd[PATH_MAX];
            if (proc_cwd((int)pid, cwd, sizeof(cwd)) < 0 || !str_starts_with(cwd, run))
                continue;
            snprintf(uid, sizeof(uid), "%.16s", cwd + strlen(run));
        }
        /* Only what is surely a monitor or VMM of this root (vm_proc_is) is looked at. */
        enum vm_proc_role role = monitor ? VM_PROC_MONITOR : VM_PROC_VMM;
        uint64_t start = 0;
        if (!is_uid(uid) || proc_start_time((int)pid, &start) < 0 ||
            !vm_proc_is(e, uid, role, (int)pid, start))
            continue;
        enum api_vm_state state = API_VM_STATE_NONE;
        struct store_vm_runtime rt;
        struct error e2;
        error_init(&e2);
        bool known = is_uid(uid) && store_vm_state_get(e->store, uid, &state, &e2) == 0 &&
                     vm_state_runs(state) && store_vm_runtime_get(e->store, uid, &rt, &e2) == 0 &&
                     (monitor ? rt.monitor_pid == (int)pid && rt.monitor_start == start
                              : rt.vmm_pid == (int)pid && rt.vmm_start == start);
        /* A start in progress has its monitor before vm_runtime names it. */
        if (known || (monitor && state == API_VM_STARTING))
            continue;
        char obj[64];
        snprintf(obj, sizeof(obj), "process %ld", pid);
        struct engine_finding *f = doctor_finding_add(
            rep, "stray-process", "kill it", obj, "%s %ld runs for %s '%s', which does not run",
            monitor ? "monitor" : "VMM", pid, state != API_VM_STATE_NONE ? "vm" : "no vm:", uid);
        if (!f)
            r = error_oom(err);
        else if (repair) {
            error_init(&e2);
            int k = vm_proc_signal(e, uid, role, (int)pid, start, SIGKILL, -1);
            if (k < 0)
                error_set(&e2, k, "cannot kill %ld: %s", pid, strerror(-k));
            doctor_repair_done(f, k, &e2);
        }
    }
    closedir(dh);
    return r;
}

static int check_vms(engine *e, bool repair, struct engine_doctor_report *rep, struct error *err) {
    int r = check_vm_processes(e, repair, rep, err);
    if (r == 0)
        r = check_vm_dirs(e, "vm", false, repair, rep, err);
    if (r == 0)
        r = check_vm_dirs(e, "run/vm", true, repair, rep, err);
    return r;
}

/* The root's filesystem: read-only, or (nearly) full. */
static int check_filesystem(engine *e, struct engine_doctor_report *rep, struct error *err) {
    struct statvfs sv;
    if (statvfs(e->root, &sv) < 0)
        return 0; /* the other checks will say what is wrong */
    struct engine_finding *f = NULL;
    if (sv.f_flag & ST_RDONLY) {
        f = doctor_finding_add(
            rep, "filesystem-read-only", NULL, e->root,
            "the root '%s' is on a read-only filesystem: nothing can be recorded, "
            "started or repaired until it is mounted read-write",
            e->root);
    } else {
        /* What this user may still use: root may use the reserved blocks. */
        uint64_t avail = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) * sv.f_frsize;
        if (avail >= DOCTOR_FREE_MIN)
            return 0;
        char free_words[32], total[32];
        size_format_human(avail, free_words, sizeof(free_words));
        size_format_human((uint64_t)sv.f_blocks * sv.f_frsize, total, sizeof(total));
        f = doctor_finding_add(
            rep, "filesystem-full", NULL, e->root,
            "the filesystem of '%s' is full (%s free of %s): nothing can be recorded "
            "until space is freed on it",
            e->root, free_words, total);
    }
    return f ? 0 : error_oom(err);
}

/* Rows that break the rules; *ret_n how many. */
static int check_rows(engine *e, struct engine_doctor_report *rep, size_t *ret_n,
                      struct error *err) {
    struct store_corrupt *c = NULL;
    size_t n = 0;
    int r = store_corrupt_list(e->store, &c, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        char obj[sizeof(c[i].table) + sizeof(c[i].key) + 2];
        snprintf(obj, sizeof(obj), "%s %s", c[i].table, c[i].key);
        if (!doctor_finding_add(
                rep, "corrupt", NULL, obj,
                "row %s of table '%s': %s; it was not written by hearth: fix or delete "
                "it with sqlite3, or put back a copy of the database you trust",
                c[i].key, c[i].table, c[i].problem))
            r = error_oom(err);
    }
    if (r == 0 && n > 0 &&
        !doctor_finding_add(rep, "corrupt", NULL, "database",
                            "%zu corrupt row%s in '%s/hearth.db': doctor compared nothing else and "
                            "repaired nothing, since what the database says cannot be trusted",
                            n, n == 1 ? "" : "s", e->root))
        r = error_oom(err);
    store_corrupt_free(c, n);
    *ret_n = n;
    return r;
}

int engine_doctor(engine *e, bool repair, struct engine_doctor_report *ret, struct error *err) {
    struct engine_doctor_report rep = {0};
    size_t corrupt = 0;
    int r = check_filesystem(e, &rep, err);
    if (r == 0)
        r = check_rows(e, &rep, &corrupt, err);
    if (r < 0)
        goto fail;
    if (corrupt > 0)
        goto done;
    r = check_operations(e, repair, &rep, err);
    if (r == 0)
        r = check_imports(e, repair, &rep, err);
    if (r == 0)
        r = check_vms(e, repair, &rep, err);
    if (r == 0)
        r = doctor_check_network(e, repair, &rep, err);
    if (r == 0)
        r = doctor_check_cni(e, repair, &rep, err);
    if (r < 0)
        goto fail;

    struct store_pool sp;
    struct error e2;
    error_init(&e2);
    r = store_pool_get(e->store, &sp, &e2);
    if (r == -ENOENT) {
        r = 0;
        goto done; /* no pool: nothing to compare */
    }
    if (r < 0) {
        r = error_set(err, r, "%s", e2.msg);
        goto fail;
    }
    bool created = sp.driver && sp.state == STORE_POOL_ACTIVE;
    store_pool_release(&sp);
    if (!created)
        goto done;

    pool *p = NULL;
    error_init(&e2);
    if (engine_pool_get(e, &p, &e2) < 0) {
        if (!doctor_finding_add(&rep, "pool-unusable", NULL, "pool", "%s", e2.msg)) {
            r = error_oom(err);
            goto fail;
        }
        goto done;
    }
    r = compare(e, p, repair, &rep, err);
    if (r < 0)
        goto fail;
done:
    *ret = rep;
    return 0;
fail:
    engine_doctor_report_release(&rep);
    return r;
}
