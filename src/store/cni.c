/*
 * store cni: the CNI attachments of VMs in networkMode cni (the vm_cni
 * table of migrations/0010_vm_cni.sql): what the plugins' DEL needs, kept
 * from the start's intent until DEL ran.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_priv.h"

#define CNI_COLUMNS "uid, conf_file, conf_json, network, cni_path, netns, result, created"

void store_vm_cni_release(struct store_vm_cni *c) {
    if (!c)
        return;
    free(c->conf_file);
    free(c->conf_json);
    free(c->network);
    free(c->cni_path);
    free(c->netns);
    free(c->result);
    memset(c, 0, sizeof(*c));
}

int store_vm_cni_add(store *s, const struct store_vm_cni *c, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(
        s, "INSERT INTO vm_cni (" CNI_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)", &own,
        &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, c->uid);
    store_bind_text(st, 2, c->conf_file);
    store_bind_text(st, 3, c->conf_json);
    store_bind_text(st, 4, c->network);
    store_bind_text(st, 5, c->cni_path);
    store_bind_text(st, 6, c->netns);
    sqlite3_bind_int64(st, 7, c->created ? c->created : (int64_t)time(NULL));
    r = store_step_done(s, st, "recording the vm's cni attachment", err);
    return store_tx_end(s, own, r, err);
}

int store_vm_cni_result_set(store *s, const char *uid, const char *result, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "UPDATE vm_cni SET result = ?2 WHERE uid = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    store_bind_text(st, 2, result);
    r = store_step_done(s, st, "recording the cni result", err);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        r = error_set(err, -ENOENT, "vm %s has no cni attachment", uid);
    return store_tx_end(s, own, r, err);
}

int store_vm_cni_remove(store *s, const char *uid, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "DELETE FROM vm_cni WHERE uid = ?1", &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    r = store_step_done(s, st, "removing the cni attachment", err);
    return store_tx_end(s, own, r, err);
}

static char *dup_col(sqlite3_stmt *st, int col) {
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t ? strdup(t) : NULL;
}

static int cni_read(store *s, sqlite3_stmt *st, struct store_vm_cni *ret, struct error *err) {
    struct store_vm_cni c = {0};
    const char *uid = (const char *)sqlite3_column_text(st, 0);
    struct error why;
    error_init(&why);
    if (!uid || strlen(uid) != ID_LEN)
        error_set(&why, -EUCLEAN, "uid: \"%.32s\" is not an id", uid ? uid : "");
    if (why.code < 0)
        return store_corrupt_error(s, "vm_cni", uid ? uid : "", &why, err);
    snprintf(c.uid, sizeof(c.uid), "%s", uid);
    c.conf_file = dup_col(st, 1);
    c.conf_json = dup_col(st, 2);
    c.network = dup_col(st, 3);
    c.cni_path = dup_col(st, 4);
    c.netns = dup_col(st, 5);
    c.result = dup_col(st, 6);
    c.created = sqlite3_column_int64(st, 7);
    if (!c.conf_file || !c.conf_json || !c.network || !c.cni_path || !c.netns ||
        (sqlite3_column_type(st, 6) != SQLITE_NULL && !c.result)) {
        store_vm_cni_release(&c);
        return error_oom(err);
    }
    *ret = c;
    return 0;
}

int store_vm_cni_get(store *s, const char *uid, struct store_vm_cni *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT " CNI_COLUMNS " FROM vm_cni WHERE uid = ?1", &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = cni_read(s, st, ret, err);
    else if (rc == SQLITE_DONE)
        r = error_set(err, -ENOENT, "vm %s has no cni attachment", uid);
    return store_rows_end(s, st, rc == SQLITE_ROW ? SQLITE_DONE : rc, r, "reading vm_cni", err);
}

int store_vm_cni_list(store *s, struct store_vm_cni **ret, size_t *ret_n, struct error *err) {
    *ret = NULL;
    *ret_n = 0;
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT " CNI_COLUMNS " FROM vm_cni ORDER BY uid", &st, err);
    if (r < 0)
        return r;
    struct store_vm_cni *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct store_vm_cni *nv = realloc(v, nc * sizeof(*v));
            if (!nv) {
                r = error_oom(err);
                break;
            }
            v = nv;
            cap = nc;
        }
        r = cni_read(s, st, &v[n], err);
        if (r == 0)
            n++;
    }
    r = store_rows_end(s, st, r == 0 ? rc : SQLITE_DONE, r, "reading vm_cni", err);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            store_vm_cni_release(&v[i]);
        free(v);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
