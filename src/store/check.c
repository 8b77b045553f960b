/*
 * store check: the rules every row read from the database must pass before
 * hearth uses it, and the scan that `hearth doctor` reports.
 *
 * The database is a file that anyone who could write the root's directory
 * could have replaced, and hearth builds paths from uids, sends signals to
 * recorded pids and hands recorded paths to its drivers. So a value read
 * back is checked with the rules `apply` uses for what it accepts (an
 * object's uid, name, claims, copy files and sizes: api_object_validate)
 * and hearth's own rules for its internal rows (runtime pids, journal rows,
 * the pool and its devices). A row that fails is reported as corrupt: a
 * single read fails with -EUCLEAN naming the table, the row's key and the
 * field; a listing leaves the row out and warns; store_corrupt_list gives
 * them all to `hearth doctor`, which reports and never repairs them.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>

#include "store/store_priv.h"

#define CHECK_PID_MAX 4194304 /* the kernel's PID_MAX_LIMIT on 64-bit */
#define CHECK_DEVICE_MAX 16777215
#define CHECK_WORD_MAX 64       /* journal op names and steps */
#define CHECK_PARAMS_MAX 4096   /* bytes of a journal row's parameters */
#define CHECK_CORRUPT_MAX 10000 /* rows one scan reports */

static const char *const device_types[] = {"Image", "Resize", "Kernel", "VM"};
static const char *const pool_states[] = {[STORE_POOL_ACTIVE] = "active",
                                          [STORE_POOL_PLANNED] = "planned",
                                          [STORE_POOL_REMOVING] = "removing"};

const char *store_pool_state_name(enum store_pool_state s) {
    return (size_t)s < ARRAY_SIZE(pool_states) ? pool_states[s] : "?";
}

int store_pool_state_parse(const char *s, enum store_pool_state *ret) {
    for (size_t i = 0; s && i < ARRAY_SIZE(pool_states); i++) {
        if (strcmp(s, pool_states[i]) == 0) {
            *ret = (enum store_pool_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

static bool in_set(const char *s, const char *const *set, size_t n) {
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* Sets err to `FIELD: "VALUE" WHAT` and returns -EUCLEAN. */
static int bad(struct error *err, const char *field, const char *value, const char *what) {
    char q[API_QUOTE_MAX];
    return error_set(err, -EUCLEAN, "%s: %s %s", field, api_quote(value, q, sizeof(q)), what);
}

static int bad_num(struct error *err, const char *field, long long v, const char *what) {
    return error_set(err, -EUCLEAN, "%s: %lld %s", field, v, what);
}

/* Lowercase letters, digits and '-', '.', '_', ':' only, 1..CHECK_WORD_MAX of them. */
static bool is_word(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CHECK_WORD_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == '_' || *p == ':'))
            return false;
    return true;
}

/* A pid (0: none) and its start time, in the columns named by prefix ("vmm" gives vmm_pid). */
static int check_pid(const char *prefix, int64_t pid, int64_t start, struct error *err) {
    char field[32];
    snprintf(field, sizeof(field), "%s_pid", prefix);
    if (pid < 0 || pid > CHECK_PID_MAX)
        return bad_num(err, field, (long long)pid, "is not a process id");
    snprintf(field, sizeof(field), "%s_start", prefix);
    if (start < 0)
        return bad_num(err, field, (long long)start, "is not a process start time");
    return 0;
}

static int check_device_id(const char *field, int64_t id, bool none_ok, struct error *err) {
    if ((none_ok && id == -1) || (id >= 0 && id <= CHECK_DEVICE_MAX))
        return 0;
    return bad_num(err, field, (long long)id, "is not a pool device id (0-16777215)");
}

/* apply's validation of obj; its message, as a corrupt row's (-EUCLEAN). */
static int validated(const struct api_object *obj, struct error *err) {
    struct error why;
    error_init(&why);
    if (api_object_validate(obj, &why) < 0)
        return error_set(err, -EUCLEAN, "%s", why.msg);
    return 0;
}

/* ---- the rules, one per kind of row ---------------------------------------- */

int store_check_vm_state(const char *state, enum api_vm_state *ret, struct error *err) {
    enum api_vm_state s;
    if (api_vm_state_parse(state, ret ? ret : &s) < 0)
        return bad(err, "status.state", state, "is not a vm state");
    return 0;
}

int store_check_uid(const char *uid, struct error *err) {
    if (!id_is_valid(uid))
        return bad(err, "metadata.uid", uid, "is not a valid uid (16 lowercase hex characters)");
    return 0;
}

int store_check_vm_key(const char *uid, const char *name, const char *state, struct error *err) {
    int r = store_check_uid(uid, err);
    if (r < 0)
        return r;
    if (!name || !api_name_is_valid(name))
        return bad(err, "metadata.name", name, "is not a valid vm name");
    return store_check_vm_state(state, NULL, err);
}

int store_check_object(const struct api_object *obj, struct error *err) {
    if (obj->kind != API_KIND_POOL && !id_is_valid(obj->meta.uid))
        return bad(err, "metadata.uid", obj->meta.uid,
                   "is not a valid uid (16 lowercase hex characters)");
    if (obj->kind != API_KIND_POOL && (!obj->meta.name || !*obj->meta.name))
        return error_set(err, -EUCLEAN, "metadata.name: missing");
    return validated(obj, err);
}

int store_check_runtime(const char *uid, const struct store_vm_runtime *rt, int64_t monitor_start,
                        int64_t vmm_start, struct error *err) {
    int r;
    if (!id_is_valid(uid))
        return bad(err, "uid", uid, "is not a valid uid (16 lowercase hex characters)");
    if (strcmp(rt->vmm, "firecracker") != 0 && strcmp(rt->vmm, "qemu") != 0)
        return bad(err, "vmm", rt->vmm, "is not a vmm (firecracker, qemu)");
    if (rt->accel[0] && strcmp(rt->accel, "kvm") != 0 && strcmp(rt->accel, "tcg") != 0)
        return bad(err, "accel", rt->accel, "is not an acceleration (kvm, tcg)");
    if ((r = check_device_id("device_id", rt->device_id, true, err)) < 0)
        return r;
    if ((r = check_pid("monitor", rt->monitor_pid, monitor_start, err)) < 0)
        return r;
    if ((r = check_pid("vmm", rt->vmm_pid, vmm_start, err)) < 0)
        return r;
    if (rt->started < 0)
        return bad_num(err, "started", (long long)rt->started, "is not a time");
    if (rt->stopped < 0)
        return bad_num(err, "stopped", (long long)rt->stopped, "is not a time");
    if (rt->exit_status < -1 || rt->exit_status > 255)
        return bad_num(err, "exit_status", rt->exit_status, "is not an exit status (0-255)");
    if (str_has_control(rt->exit_reason))
        return bad(err, "exit_reason", rt->exit_reason, "holds control characters");
    return 0;
}

int store_check_op(const struct store_op *op, int64_t owner_start, struct error *err) {
    int r;
    if (!is_word(op->op))
        return bad(err, "op", op->op, "is not an operation name");
    if (op->kind < 0 || op->kind >= API_KIND_COUNT)
        return error_set(err, -EUCLEAN, "kind: not a kind of object");
    if (op->object_uid && !id_is_valid(op->object_uid))
        return bad(err, "object_uid", op->object_uid,
                   "is not a valid uid (16 lowercase hex characters)");
    if (!is_word(op->step))
        return bad(err, "step", op->step, "is not a step name");
    if (op->owner_pid <= 0)
        return bad_num(err, "owner_pid", op->owner_pid, "is not a process id");
    if ((r = check_pid("owner", op->owner_pid, owner_start, err)) < 0)
        return r;
    if ((r = check_device_id("device_id", op->device_id, true, err)) < 0)
        return r;
    if (op->params) {
        if (strlen(op->params) > CHECK_PARAMS_MAX)
            return error_set(err, -EUCLEAN, "params: longer than %d bytes", CHECK_PARAMS_MAX);
        json_t *j = json_loads(op->params, JSON_REJECT_DUPLICATES, NULL);
        bool object = json_is_object(j);
        json_decref(j);
        if (!object)
            return bad(err, "params", op->params, "is not a JSON object");
    }
    return 0;
}

int store_check_pool(const struct store_pool *p, struct error *err) {
    if (p->driver && strcmp(p->driver, "dm-thin") != 0 && strcmp(p->driver, "file") != 0)
        return bad(err, "driver", p->driver, "is not a pool driver (dm-thin, file)");
    if (p->driver) {
        size_t n = p->name ? strlen(p->name) : 0;
        bool ok = n >= 1 && n <= 16;
        for (const char *c = p->name; ok && *c; c++)
            ok = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z');
        if (!ok)
            return bad(err, "name", p->name, "is not a pool name (1 to 16 of a-z and 0-9)");
    }
    if (p->state != STORE_POOL_PLANNED && p->state != STORE_POOL_ACTIVE)
        return error_set(err, -EUCLEAN, "state: not a pool state (planned, active)");
    if (p->metadata_size > INT64_MAX || p->data_size > INT64_MAX || p->allocation_size > INT64_MAX)
        return error_set(err, -EUCLEAN, "sizes: a size below 0");
    /* The spec by apply's rules. */
    struct api_object obj = {.kind = API_KIND_POOL};
    obj.u.pool.metadata_size = p->metadata_size;
    obj.u.pool.data_size = p->data_size;
    obj.u.pool.allocation_size = p->allocation_size;
    obj.u.pool.metadata_path = p->metadata_path;
    obj.u.pool.data_path = p->data_path;
    return validated(&obj, err);
}

int store_check_device(const struct store_pool_device *d, int64_t id, struct error *err) {
    int r;
    if ((r = check_device_id("id", id, false, err)) < 0)
        return r;
    if (!in_set(d->type, device_types, ARRAY_SIZE(device_types)))
        return bad(err, "type", d->type, "is not a device type (Image, Resize, Kernel, VM)");
    if ((r = check_device_id("parent", d->parent, true, err)) < 0)
        return r;
    if (d->parent == id)
        return bad_num(err, "parent", (long long)d->parent, "is the device itself");
    if (d->size == 0 || d->size > INT64_MAX)
        return error_set(err, -EUCLEAN, "size: not a size a device can have");
    if ((size_t)d->state >= ARRAY_SIZE(pool_states))
        return error_set(err, -EUCLEAN, "state: not a device state (planned, active, removing)");
    if ((d->owner_kind == API_KIND_COUNT) != (d->owner_uid == NULL))
        return error_set(err, -EUCLEAN, "owner_kind: set without owner_uid, or the other way");
    if (d->owner_uid && !id_is_valid(d->owner_uid))
        return bad(err, "owner_uid", d->owner_uid,
                   "is not a valid uid (16 lowercase hex characters)");
    if (d->metadata_path && !path_is_host_clean(d->metadata_path))
        return bad(err, "metadata_path", d->metadata_path,
                   "is not an absolute path without '.' or '..' components");
    if (d->layer_key) {
        const char *k = d->layer_key;
        bool ok = false;
        if (str_starts_with(k, "resize:")) {
            uint64_t v;
            ok = parse_u64(k + 7, UINT64_MAX, &v) == 0;
        } else if (str_starts_with(k, "kernel:")) {
            ok = id_is_valid(k + 7);
        }
        if (!ok)
            return bad(err, "layer_key", k, "is not a layer key (resize:BYTES, kernel:UID)");
    }
    if (d->created < 0)
        return bad_num(err, "created", (long long)d->created, "is not a time");
    return 0;
}

int store_corrupt_error(store *s, const char *table, const char *key, const struct error *why,
                        struct error *err) {
    char q[API_QUOTE_MAX];
    return error_set(err, -EUCLEAN,
                     "row %s of table '%s' in database '%s' is corrupt: %s; it was not written by "
                     "hearth: see 'hearth doctor'",
                     api_quote(key, q, sizeof(q)), table, s->path, why->msg);
}

void store_corrupt_warn(store *s, const char *table, const char *key, const struct error *why) {
    _cleanup_free_ char *id = xasprintf("%s %s", table, key ? key : "");
    for (size_t i = 0; id && i < s->n_warned; i++)
        if (strcmp(s->warned[i], id) == 0)
            return;
    if (id && s->n_warned < STORE_WARNED_MAX)
        s->warned[s->n_warned++] = steal_ptr(&id);
    char q[API_QUOTE_MAX];
    log_warn("row %s of table '%s' in database '%s' is corrupt and was left out: %s; see 'hearth "
             "doctor'",
             api_quote(key, q, sizeof(q)), table, s->path, why->msg);
}

/* ---- the scan -------------------------------------------------------------- */

void store_corrupt_free(struct store_corrupt *c, size_t n) {
    if (!c)
        return;
    for (size_t i = 0; i < n; i++)
        free(c[i].problem);
    free(c);
}

struct corrupt_list {
    struct store_corrupt *items;
    size_t n;
    bool oom;
};

static void corrupt_add(void *ud, const char *table, const char *key, const struct error *why) {
    struct corrupt_list *l = ud;
    if (l->n >= CHECK_CORRUPT_MAX)
        return;
    struct store_corrupt *items = xrealloc(l->items, (l->n + 1) * sizeof(*items));
    if (!items) {
        l->oom = true;
        return;
    }
    l->items = items;
    struct store_corrupt *c = &items[l->n];
    memset(c, 0, sizeof(*c));
    snprintf(c->table, sizeof(c->table), "%s", table);
    api_quote(key, c->key, sizeof(c->key));
    c->problem = xstrdup(why->msg);
    if (!c->problem) {
        l->oom = true;
        return;
    }
    l->n++;
}

int store_corrupt_list(store *s, struct store_corrupt **ret, size_t *ret_n, struct error *err) {
    struct corrupt_list l = {0};
    bool own = sqlite3_get_autocommit(s->db);
    int r = own ? store_exec(s, "BEGIN", err) : 0;
    for (int k = API_KIND_VM; r == 0 && k <= API_KIND_KERNEL; k++)
        r = store_object_scan(s, (enum api_kind)k, corrupt_add, &l, err);
    if (r == 0)
        r = store_runtime_scan(s, corrupt_add, &l, err);
    if (r == 0)
        r = store_op_scan(s, corrupt_add, &l, err);
    if (r == 0)
        r = store_pool_scan(s, corrupt_add, &l, err);
    if (r == 0)
        r = store_kernel_files_scan(s, corrupt_add, &l, err);
    if (r == 0)
        r = store_vm_ssh_scan(s, corrupt_add, &l, err);
    if (own)
        store_rollback(s);
    if (r == 0 && l.oom)
        r = error_oom(err);
    if (r < 0) {
        store_corrupt_free(l.items, l.n);
        return r;
    }
    *ret = l.items;
    *ret_n = l.n;
    return 0;
}
