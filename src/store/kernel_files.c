/*
 * store kernel files: which files a kernel has under <root>/kernel/<uid>/
 * and their sizes (the kernel_file table of migrations/0007_kernel_files.sql),
 * recorded with the kernel and read by doctor's check.
 */
#include <errno.h>
#include <string.h>

#include "store/store_priv.h"

static bool kernel_file_name_ok(const char *name) {
    static const char *const names[] = {"vmlinux", "vmlinuz", "initrd", "modules.tar"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (name && strcmp(name, names[i]) == 0)
            return true;
    return false;
}

int store_kernel_files_set(store *s, const char *uid, const struct store_kernel_file *files,
                           size_t n, struct error *err) {
    if (n > STORE_KERNEL_FILES_MAX)
        return error_set(err, -EINVAL, "kernel %s: %zu files, at most %d", uid, n,
                         STORE_KERNEL_FILES_MAX);
    for (size_t i = 0; i < n; i++)
        if (!kernel_file_name_ok(files[i].name) || files[i].size > INT64_MAX)
            return error_set(err, -EINVAL, "kernel %s: '%.16s' is not a kernel file", uid,
                             files[i].name);
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "DELETE FROM kernel_file WHERE uid = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    r = store_step_done(s, st, "recording a kernel's files", err);
    for (size_t i = 0; i < n && r == 0; i++) {
        r = store_stmt(s, "INSERT INTO kernel_file (uid, name, size) VALUES (?1, ?2, ?3)", &st,
                       err);
        if (r < 0)
            break;
        store_bind_text(st, 1, uid);
        store_bind_text(st, 2, files[i].name);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)files[i].size);
        r = store_step_done(s, st, "recording a kernel's files", err);
    }
    return store_tx_end(s, own, r, err);
}

/* Checks a kernel_file row as read back (-EUCLEAN, why in err). */
static int kernel_file_check(const char *name, sqlite3_int64 size, struct error *err) {
    if (!kernel_file_name_ok(name))
        return error_set(err, -EUCLEAN,
                         "name: \"%.32s\" is not vmlinux, vmlinuz, initrd or "
                         "modules.tar",
                         name ? name : "");
    if (size < 0)
        return error_set(err, -EUCLEAN, "size: %lld is negative", (long long)size);
    return 0;
}

int store_kernel_files_get(store *s, const char *uid, struct store_kernel_file *ret, size_t *ret_n,
                           struct error *err) {
    sqlite3_stmt *st;
    int r =
        store_stmt(s, "SELECT name, size FROM kernel_file WHERE uid = ?1 ORDER BY name", &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        sqlite3_int64 size = sqlite3_column_int64(st, 1);
        struct error why;
        error_init(&why);
        if (n >= STORE_KERNEL_FILES_MAX)
            error_set(&why, -EUCLEAN, "more than %d files recorded", STORE_KERNEL_FILES_MAX);
        else
            kernel_file_check(name, size, &why);
        if (why.code < 0) {
            sqlite3_reset(st);
            return store_corrupt_error(s, "kernel_file", uid, &why, err);
        }
        snprintf(ret[n].name, sizeof(ret[n].name), "%s", name);
        ret[n].size = (uint64_t)size;
        n++;
    }
    r = store_rows_end(s, st, rc, r, "reading a kernel's files", err);
    if (r == 0)
        *ret_n = n;
    return r;
}

int store_kernel_files_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT uid, name, size FROM kernel_file ORDER BY uid, name", &st, err);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct error why;
        error_init(&why);
        if (kernel_file_check((const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
                              &why) < 0)
            fn(ud, "kernel_file", (const char *)sqlite3_column_text(st, 0), &why);
    }
    r = store_rows_end(s, st, rc, r, "reading kernel_file", err);
    return r;
}
