/*
 * store runtime: what runs for a VM (the vm_runtime table of
 * migrations/0006_vm_runtime.sql), the VM's state column on its own, the
 * indexed query for the VMs that may run, and journal rows of VM
 * operations that name both the VM and its pool device.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store_priv.h"

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
    const char *t = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", t ? t : "");
}

#define RUNTIME_COLS                                                                               \
    "uid, vmm, accel, device_id, monitor_pid, monitor_start, vmm_pid, vmm_start, started, "        \
    "stopped, exit_status, exit_reason"

/* Reads a row of RUNTIME_COLS into *ret and checks it (-EUCLEAN, why in err). */
static int runtime_read(sqlite3_stmt *st, struct store_vm_runtime *ret, struct error *err) {
    struct store_vm_runtime rt = {0};
    copy_text(st, 1, rt.vmm, sizeof(rt.vmm));
    copy_text(st, 2, rt.accel, sizeof(rt.accel));
    rt.device_id = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
    int64_t monitor_pid = sqlite3_column_int64(st, 4), vmm_pid = sqlite3_column_int64(st, 6);
    int64_t monitor_start = sqlite3_column_int64(st, 5), vmm_start = sqlite3_column_int64(st, 7);
    /* Out of int's range is out of a pid's: the check below says so. */
    rt.monitor_pid = monitor_pid < 0 || monitor_pid > INT32_MAX ? -1 : (int)monitor_pid;
    rt.vmm_pid = vmm_pid < 0 || vmm_pid > INT32_MAX ? -1 : (int)vmm_pid;
    rt.monitor_start = (uint64_t)monitor_start;
    rt.vmm_start = (uint64_t)vmm_start;
    rt.started = sqlite3_column_int64(st, 8);
    rt.stopped = sqlite3_column_int64(st, 9);
    int64_t status = sqlite3_column_type(st, 10) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 10);
    rt.exit_status = status < -2 || status > 1000 ? -2 : (int)status;
    copy_text(st, 11, rt.exit_reason, sizeof(rt.exit_reason));
    const char *uid = (const char *)sqlite3_column_text(st, 0);
    int r = store_check_runtime(uid, &rt, monitor_start, vmm_start, err);
    if (r == 0)
        *ret = rt;
    return r;
}

int store_vm_runtime_get(store *s, const char *uid, struct store_vm_runtime *ret,
                         struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT " RUNTIME_COLS " FROM vm_runtime WHERE uid = ?1", &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return error_set(err, -ENOENT, "vm %s has no runtime recorded", uid);
    }
    if (rc != SQLITE_ROW) {
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading vm_runtime");
        sqlite3_reset(st);
        return r;
    }
    struct error why;
    error_init(&why);
    r = runtime_read(st, ret, &why);
    sqlite3_reset(st);
    if (r < 0)
        return store_corrupt_error(s, "vm_runtime", uid, &why, err);
    return 0;
}

int store_runtime_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT " RUNTIME_COLS " FROM vm_runtime ORDER BY uid", &st, err);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_vm_runtime rt;
        struct error why;
        error_init(&why);
        if (runtime_read(st, &rt, &why) < 0)
            fn(ud, "vm_runtime", (const char *)sqlite3_column_text(st, 0), &why);
    }
    r = store_rows_end(s, st, rc, r, "reading vm_runtime", err);
    return r;
}

static void bind_pid(sqlite3_stmt *st, int idx, int pid) {
    if (pid > 0)
        sqlite3_bind_int64(st, idx, pid);
    else
        sqlite3_bind_null(st, idx);
}

static void bind_time(sqlite3_stmt *st, int idx, int64_t t) {
    if (t > 0)
        sqlite3_bind_int64(st, idx, t);
    else
        sqlite3_bind_null(st, idx);
}

int store_vm_runtime_put(store *s, const char *uid, const struct store_vm_runtime *rt,
                         struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(
        s,
        "INSERT OR REPLACE INTO vm_runtime (uid, vmm, accel, device_id, monitor_pid, "
        "monitor_start, vmm_pid, vmm_start, started, stopped, exit_status, "
        "exit_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    store_bind_text(st, 2, rt->vmm);
    store_bind_text(st, 3, rt->accel[0] ? rt->accel : NULL);
    if (rt->device_id >= 0)
        sqlite3_bind_int64(st, 4, rt->device_id);
    bind_pid(st, 5, rt->monitor_pid);
    if (rt->monitor_pid > 0)
        sqlite3_bind_int64(st, 6, (sqlite3_int64)rt->monitor_start);
    bind_pid(st, 7, rt->vmm_pid);
    if (rt->vmm_pid > 0)
        sqlite3_bind_int64(st, 8, (sqlite3_int64)rt->vmm_start);
    bind_time(st, 9, rt->started);
    bind_time(st, 10, rt->stopped);
    if (rt->exit_status >= 0)
        sqlite3_bind_int(st, 11, rt->exit_status);
    store_bind_text(st, 12, rt->exit_reason[0] ? rt->exit_reason : NULL);
    r = store_step_done(s, st, "recording the vm's runtime", err);
    return store_tx_end(s, own, r, err);
}

int store_vm_runtime_set_stopped(store *s, const char *uid, int64_t stopped, int exit_status,
                                 const char *reason, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r =
        store_write_start(s,
                          "UPDATE vm_runtime SET stopped = ?2, exit_status = ?3, exit_reason = ?4 "
                          "WHERE uid = ?1",
                          &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    sqlite3_bind_int64(st, 2, stopped);
    if (exit_status >= 0)
        sqlite3_bind_int(st, 3, exit_status);
    store_bind_text(st, 4, reason);
    r = store_step_done(s, st, "recording the vm's end", err);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        r = error_set(err, -ENOENT, "vm %s has no runtime recorded", uid);
    return store_tx_end(s, own, r, err);
}

int store_vm_state_get(store *s, const char *uid, enum api_vm_state *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT state FROM vm WHERE uid = ?1", &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        struct error why;
        error_init(&why);
        /* A state is one of apply's; none (NULL) is API_VM_STATE_NONE. */
        *ret = API_VM_STATE_NONE;
        if (state && store_check_vm_state(state, ret, &why) < 0)
            r = store_corrupt_error(s, "vm", uid, &why, err);
    } else if (rc == SQLITE_DONE)
        r = error_set(err, -ENOENT, "no vm %s", uid);
    else
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading a vm's state");
    sqlite3_reset(st);
    return r;
}

int store_vm_state_set(store *s, const char *uid, enum api_vm_state state, struct error *err) {
    const char *name = api_vm_state_name(state);
    if (!name)
        return error_set(err, -EINVAL, "vm %s: %d is not a vm state to record", uid, (int)state);
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "UPDATE vm SET state = ?2 WHERE uid = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    store_bind_text(st, 2, name);
    r = store_step_done(s, st, "recording a vm's state", err);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        r = error_set(err, -ENOENT, "no vm %s", uid);
    return store_tx_end(s, own, r, err);
}

int store_vm_list_live(store *s, char ***ret, size_t *ret_n, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       "SELECT uid FROM vm WHERE state IN ('Running', 'Starting', 'Stopping', "
                       "'Removing') ORDER BY uid",
                       &st, err);
    if (r < 0)
        return r;
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **p = xrealloc(v, ncap * sizeof(*v));
            if (!p) {
                r = error_oom(err);
                break;
            }
            v = p;
            cap = ncap;
        }
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        struct error why;
        if (store_check_uid(uid, &why) < 0) {
            store_corrupt_warn(s, "vm", uid, &why);
            continue;
        }
        if (store_column_text(st, 0, &v[n]) < 0 || !v[n]) {
            r = error_oom(err);
            break;
        }
        n++;
    }
    r = store_rows_end(s, st, rc, r, "listing running vms", err);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_vm_live_list(store *s, struct store_vm_live **ret, size_t *ret_n, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       "SELECT v.uid, r.vmm, r.accel, r.device_id, r.monitor_pid, r.monitor_start, "
                       "r.vmm_pid, r.vmm_start, r.started, r.stopped, r.exit_status, "
                       "r.exit_reason, r.uid IS NOT NULL FROM vm v LEFT JOIN vm_runtime r "
                       "ON r.uid = v.uid WHERE v.state IN ('Running', 'Starting', 'Stopping', "
                       "'Removing') ORDER BY v.uid",
                       &st, err);
    if (r < 0)
        return r;
    struct store_vm_live *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        struct error why;
        error_init(&why);
        if (store_check_uid(uid, &why) < 0) {
            store_corrupt_warn(s, "vm", uid, &why);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct store_vm_live *p = xrealloc(v, ncap * sizeof(*v));
            if (!p) {
                r = error_oom(err);
                break;
            }
            v = p;
            cap = ncap;
        }
        struct store_vm_live *l = &v[n++];
        memset(l, 0, sizeof(*l));
        snprintf(l->uid, sizeof(l->uid), "%s", uid);
        /* A corrupt runtime row is read again alone by whoever needs it, and named then. */
        l->have_rt = sqlite3_column_int(st, 12) && runtime_read(st, &l->rt, &why) == 0;
    }
    r = store_rows_end(s, st, rc, r, "listing running vms", err);
    if (r < 0) {
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_vm_op_begin(store *s, const char *op, const char *uid, const char *step,
                      int64_t device_id, const char *params, int64_t *ret_id, struct error *err) {
    if (!uid)
        return error_set(err, -EINVAL, "a vm operation needs a vm");
    return store_op_insert(s, op, API_KIND_VM, uid, step, device_id, params, ret_id, err);
}
