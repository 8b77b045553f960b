/*
 * store ssh: what hearth knows to reach a VM over SSH (the vm_ssh table of
 * migrations/0009_vm_ssh.sql): the fingerprint of the host key it planted,
 * and the host port that leads to the guest's port 22 in user mode.
 */
#include <errno.h>
#include <string.h>

#include "store/store_priv.h"

bool store_ssh_fingerprint_ok(const char *fp) {
    if (!fp || strlen(fp) != STORE_SSH_FINGERPRINT_LEN || strncmp(fp, "SHA256:", 7) != 0)
        return false;
    for (const char *p = fp + 7; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '+' || *p == '/'))
            return false;
    return true;
}

int store_vm_ssh_key_set(store *s, const char *uid, const char *fingerprint, struct error *err) {
    if (!store_ssh_fingerprint_ok(fingerprint))
        return error_set(err, -EINVAL, "vm %s: '%.64s' is not a SHA256 host key fingerprint", uid,
                         fingerprint ? fingerprint : "");
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s,
                              "INSERT INTO vm_ssh (uid, host_key_fingerprint) VALUES (?1, ?2) "
                              "ON CONFLICT (uid) DO UPDATE SET host_key_fingerprint = ?2",
                              &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    store_bind_text(st, 2, fingerprint);
    r = store_step_done(s, st, "recording the vm's host key", err);
    return store_tx_end(s, own, r, err);
}

int store_vm_ssh_port_set(store *s, const char *uid, unsigned port, struct error *err) {
    if (port > 65535)
        return error_set(err, -EINVAL, "vm %s: %u is not a port", uid, port);
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "UPDATE vm_ssh SET host_port = ?2 WHERE uid = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    if (port)
        sqlite3_bind_int(st, 2, (int)port);
    else
        sqlite3_bind_null(st, 2);
    r = store_step_done(s, st, "recording the vm's ssh port", err);
    return store_tx_end(s, own, r, err);
}

/* Checks a vm_ssh row as read back (-EUCLEAN, why in err). */
static int vm_ssh_check(const char *fp, sqlite3_stmt *st, int col, struct error *err) {
    if (!store_ssh_fingerprint_ok(fp))
        return error_set(err, -EUCLEAN,
                         "host_key_fingerprint: \"%.64s\" is not a SHA256 fingerprint",
                         fp ? fp : "");
    if (sqlite3_column_type(st, col) != SQLITE_NULL) {
        sqlite3_int64 port = sqlite3_column_int64(st, col);
        if (port < 1 || port > 65535)
            return error_set(err, -EUCLEAN, "host_port: %lld is not a port", (long long)port);
    }
    return 0;
}

int store_vm_ssh_get(store *s, const char *uid, struct store_vm_ssh *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT host_key_fingerprint, host_port FROM vm_ssh WHERE uid = ?1", &st,
                       err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *fp = (const char *)sqlite3_column_text(st, 0);
        struct error why;
        error_init(&why);
        if (vm_ssh_check(fp, st, 1, &why) < 0) {
            sqlite3_reset(st);
            return store_corrupt_error(s, "vm_ssh", uid, &why, err);
        }
        struct store_vm_ssh v = {0};
        snprintf(v.host_key_fingerprint, sizeof(v.host_key_fingerprint), "%s", fp);
        v.host_port = (unsigned)sqlite3_column_int(st, 1); /* 0 for NULL */
        *ret = v;
    } else if (rc == SQLITE_DONE) {
        r = error_set(err, -ENOENT, "vm %s has no recorded host key", uid);
    }
    return store_rows_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, r, "reading vm_ssh", err);
}

int store_vm_ssh_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT uid, host_key_fingerprint, host_port FROM vm_ssh ORDER BY uid",
                       &st, err);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct error why;
        error_init(&why);
        if (vm_ssh_check((const char *)sqlite3_column_text(st, 1), st, 2, &why) < 0)
            fn(ud, "vm_ssh", (const char *)sqlite3_column_text(st, 0), &why);
    }
    return store_rows_end(s, st, rc, r, "reading vm_ssh", err);
}
