/*
 * store ops_read: the journal as the dashboard's Operations screen shows it,
 * the operations in flight together with the most recent finished ones
 * (their errors included), newest first. Read-only.
 */
#include <errno.h>
#include <string.h>

#include "store/store_priv.h"

#define OPS_RECENT_MAX 100000 /* finished operations one call may return */

/* Fills o from the current row of st (the column order of the query below). */
static int op_from_row(sqlite3_stmt *st, struct store_op *o) {
    memset(o, 0, sizeof(*o));
    o->id = sqlite3_column_int64(st, 0);
    const char *kind = (const char *)sqlite3_column_text(st, 2);
    if (!kind || api_kind_parse(kind, &o->kind) < 0)
        o->kind = API_KIND_COUNT;
    o->owner_pid = sqlite3_column_int(st, 5);
    o->owner_start = (uint64_t)sqlite3_column_int64(st, 6);
    o->started = sqlite3_column_int64(st, 7);
    o->updated = sqlite3_column_int64(st, 8);
    o->finished = sqlite3_column_int64(st, 9); /* NULL reads as 0: in flight */
    o->device_id = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
    if (store_column_text(st, 1, &o->op) < 0 || store_column_text(st, 3, &o->object_uid) < 0 ||
        store_column_text(st, 4, &o->step) < 0 || store_column_text(st, 10, &o->error) < 0 ||
        store_column_text(st, 12, &o->params) < 0)
        return -ENOMEM;
    return 0;
}

int store_op_list_recent(store *s, size_t max, struct store_op **ret, size_t *ret_n,
                         struct error *err) {
    if (max > OPS_RECENT_MAX)
        max = OPS_RECENT_MAX;
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       "SELECT id, op, kind, object_uid, step, owner_pid, owner_start, started, "
                       "updated, finished, error, device_id, params FROM journal WHERE id IN "
                       "(SELECT id FROM journal WHERE finished IS NULL UNION ALL "
                       "SELECT id FROM (SELECT id FROM journal WHERE finished IS NOT NULL "
                       "ORDER BY id DESC LIMIT ?1)) ORDER BY id DESC",
                       &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    struct store_op *ops = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct store_op *p = xrealloc(ops, ncap * sizeof(*ops));
            if (!p) {
                r = error_set(err, -ENOMEM, "out of memory");
                break;
            }
            ops = p;
            cap = ncap;
        }
        if (op_from_row(st, &ops[n++]) < 0) {
            r = error_set(err, -ENOMEM, "out of memory");
            break;
        }
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading the journal");
    sqlite3_reset(st);
    if (r < 0) {
        store_ops_free(ops, n);
        return r;
    }
    *ret = ops;
    *ret_n = n;
    return 0;
}
