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

static int step_done(store *s, sqlite3_stmt *st, const char *what, struct error *err) {
    int rc = sqlite3_step(st);
    int r = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, what);
    sqlite3_reset(st);
    return r;
}

static void copy_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
    const char *t = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", t ? t : "");
}

int store_vm_runtime_get(store *s, const char *uid, struct store_vm_runtime *ret,
                         struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       "SELECT vmm, accel, device_id, monitor_pid, monitor_start, vmm_pid, "
                       "vmm_start, started, stopped, exit_status, exit_reason "
                       "FROM vm_runtime WHERE uid = ?1",
                       &st, err);
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
    struct store_vm_runtime rt = {0};
    copy_text(st, 0, rt.vmm, sizeof(rt.vmm));
    copy_text(st, 1, rt.accel, sizeof(rt.accel));
    rt.device_id = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 2);
    rt.monitor_pid = sqlite3_column_int(st, 3);
    rt.monitor_start = (uint64_t)sqlite3_column_int64(st, 4);
    rt.vmm_pid = sqlite3_column_int(st, 5);
    rt.vmm_start = (uint64_t)sqlite3_column_int64(st, 6);
    rt.started = sqlite3_column_int64(st, 7);
    rt.stopped = sqlite3_column_int64(st, 8);
    rt.exit_status = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 9);
    copy_text(st, 10, rt.exit_reason, sizeof(rt.exit_reason));
    sqlite3_reset(st);
    *ret = rt;
    return 0;
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
    int r = store_tx_start(s, &own, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    r = store_stmt(s,
                   "INSERT OR REPLACE INTO vm_runtime (uid, vmm, accel, device_id, monitor_pid, "
                   "monitor_start, vmm_pid, vmm_start, started, stopped, exit_status, "
                   "exit_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                   &st, err);
    if (r == 0) {
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
        r = step_done(s, st, "recording the vm's runtime", err);
    }
    return store_tx_end(s, own, r, err);
}

int store_vm_runtime_set_stopped(store *s, const char *uid, int64_t stopped, int exit_status,
                                 const char *reason, struct error *err) {
    bool own;
    int r = store_tx_start(s, &own, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    r = store_stmt(s,
                   "UPDATE vm_runtime SET stopped = ?2, exit_status = ?3, exit_reason = ?4 "
                   "WHERE uid = ?1",
                   &st, err);
    if (r == 0) {
        store_bind_text(st, 1, uid);
        sqlite3_bind_int64(st, 2, stopped);
        if (exit_status >= 0)
            sqlite3_bind_int(st, 3, exit_status);
        store_bind_text(st, 4, reason);
        r = step_done(s, st, "recording the vm's end", err);
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = error_set(err, -ENOENT, "vm %s has no runtime recorded", uid);
    }
    return store_tx_end(s, own, r, err);
}

int store_vm_state_get(store *s, const char *uid, char *ret, size_t size, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT state FROM vm WHERE uid = ?1", &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_text(st, 0, ret, size);
    else if (rc == SQLITE_DONE)
        r = error_set(err, -ENOENT, "no vm %s", uid);
    else
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading a vm's state");
    sqlite3_reset(st);
    return r;
}

int store_vm_state_set(store *s, const char *uid, const char *state, struct error *err) {
    bool own;
    int r = store_tx_start(s, &own, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st;
    r = store_stmt(s, "UPDATE vm SET state = ?2 WHERE uid = ?1", &st, err);
    if (r == 0) {
        store_bind_text(st, 1, uid);
        store_bind_text(st, 2, state);
        r = step_done(s, st, "recording a vm's state", err);
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = error_set(err, -ENOENT, "no vm %s", uid);
    }
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
                r = error_set(err, -ENOMEM, "out of memory");
                break;
            }
            v = p;
            cap = ncap;
        }
        if (store_column_text(st, 0, &v[n]) < 0 || !v[n]) {
            r = error_set(err, -ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "listing running vms");
    sqlite3_reset(st);
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

int store_vm_op_begin(store *s, const char *op, const char *uid, const char *step,
                      int64_t device_id, const char *params, int64_t *ret_id, struct error *err) {
    if (!uid)
        return error_set(err, -EINVAL, "a vm operation needs a vm");
    return store_op_insert(s, op, API_KIND_VM, uid, step, device_id, params, ret_id, err);
}
