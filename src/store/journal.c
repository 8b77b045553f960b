/*
 * store journal: the operations journal of the consistency protocol
 * (docs/architecture.md). Each operation is a row naming what runs, on which
 * object, at which step, and its owner: the pid plus the process start time
 * (util's proc_start_time), so recovery can tell a live owner from a dead
 * one whose pid was reused. Pool operations also record their device id and
 * parameters; store_op_adopt lets recovery take over a dead owner's row.
 * store_op_list_open gives what recovery looks at, store_op_list_recent what
 * the dashboard's Operations screen shows (in flight and recent, errors too).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store_priv.h"

static int64_t now_unix(void) {
    return (int64_t)time(NULL);
}

static void op_release(struct store_op *o) {
    free(o->op);
    free(o->object_uid);
    free(o->step);
    free(o->error);
    free(o->params);
    memset(o, 0, sizeof(*o));
}

void store_ops_free(struct store_op *ops, size_t n) {
    if (!ops)
        return;
    for (size_t i = 0; i < n; i++)
        op_release(&ops[i]);
    free(ops);
}

/* Runs one journal write in the caller's transaction or a short one of its own. */
static int journal_write(store *s, sqlite3_stmt *st, int64_t id, struct error *err);

/* This process's start time, read from /proc once per process (again after a
 * fork): an apply journals every object, and reading it each time cost more
 * than the journal row. */
static int self_start(store *s, uint64_t *ret) {
    int pid = (int)getpid();
    if (s->self_pid != pid) {
        int r = proc_start_time(0, &s->self_start);
        if (r < 0)
            return r;
        s->self_pid = pid;
    }
    *ret = s->self_start;
    return 0;
}

int store_op_insert(store *s, const char *op, enum api_kind kind, const char *uid, const char *step,
                    int64_t device_id, const char *params, int64_t *ret_id, struct error *err) {
    if (!op || !step || kind < 0 || kind >= API_KIND_COUNT)
        return error_set(err, -EINVAL, "an operation needs a name, a kind and a step");
    uint64_t start = 0;
    int r = self_start(s, &start);
    if (r < 0)
        return error_set(err, r, "reading this process's start time from /proc/self/stat: %s",
                         strerror(-r));
    bool own;
    sqlite3_stmt *st;
    r = store_write_start(
        s,
        "INSERT INTO journal (op, kind, object_uid, step, owner_pid, owner_start, "
        "started, updated, device_id, params) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
        &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, op);
    store_bind_text(st, 2, api_kind_name(kind));
    store_bind_text(st, 3, uid);
    store_bind_text(st, 4, step);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)getpid());
    sqlite3_bind_int64(st, 6, (sqlite3_int64)start);
    sqlite3_bind_int64(st, 7, now_unix());
    if (device_id >= 0)
        sqlite3_bind_int64(st, 8, device_id);
    store_bind_text(st, 9, params);
    r = journal_write(s, st, 0, err);
    int64_t id = sqlite3_last_insert_rowid(s->db);
    r = store_tx_end(s, own, r, err);
    if (r < 0)
        return r;
    *ret_id = id;
    return 0;
}

static int journal_write(store *s, sqlite3_stmt *st, int64_t id, struct error *err) {
    int r = store_step_done(s, st, "writing the journal", err);
    if (r == 0 && id > 0 && sqlite3_changes(s->db) == 0)
        r = error_set(err, -ENOENT, "operation %lld is not in flight", (long long)id);
    return r;
}

int store_op_begin(store *s, const char *op, enum api_kind kind, const char *uid, const char *step,
                   int64_t *ret_id, struct error *err) {
    return store_op_insert(s, op, kind, uid, step, -1, NULL, ret_id, err);
}

int store_op_begin_device(store *s, const char *op, enum api_kind kind, const char *step,
                          int64_t device_id, const char *params, int64_t *ret_id,
                          struct error *err) {
    return store_op_insert(s, op, kind, NULL, step, device_id, params, ret_id, err);
}

int store_op_adopt(store *s, int64_t id, int pid, uint64_t start, struct error *err) {
    uint64_t self = 0;
    int r = self_start(s, &self);
    if (r < 0)
        return error_set(err, r, "reading this process's start time: %s", strerror(-r));
    sqlite3_stmt *st;
    r = store_stmt(s,
                   "UPDATE journal SET owner_pid = ?4, owner_start = ?5, updated = ?6 "
                   "WHERE id = ?1 AND finished IS NULL AND owner_pid = ?2 AND owner_start = ?3",
                   &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, pid);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)start);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)getpid());
    sqlite3_bind_int64(st, 5, (sqlite3_int64)self);
    sqlite3_bind_int64(st, 6, now_unix());
    r = store_step_done(s, st, "adopting an operation", err);
    if (r < 0)
        return r;
    if (sqlite3_changes(s->db) == 0)
        return error_set(err, -ESRCH, "operation %lld was finished or taken over", (long long)id);
    return 0;
}

int store_op_step(store *s, int64_t id, const char *step, struct error *err) {
    if (!step)
        return error_set(err, -EINVAL, "operation %lld: no step given", (long long)id);
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(
        s, "UPDATE journal SET step = ?2, updated = ?3 WHERE id = ?1 AND finished IS NULL", &own,
        &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    store_bind_text(st, 2, step);
    sqlite3_bind_int64(st, 3, now_unix());
    r = journal_write(s, st, id, err);
    return store_tx_end(s, own, r, err);
}

int store_op_finish(store *s, int64_t id, const char *error, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s,
                              "UPDATE journal SET finished = ?2, updated = ?2, error = ?3 "
                              "WHERE id = ?1 AND finished IS NULL",
                              &own, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_unix());
    store_bind_text(st, 3, error);
    r = journal_write(s, st, id, err);
    return store_tx_end(s, own, r, err);
}

/* The column list every journal read selects, in the order ops_read reads it. */
#define OP_COLS                                                                                    \
    "id, op, kind, object_uid, step, owner_pid, owner_start, started, updated, finished, error, "  \
    "device_id, params"

static void ops_warn(void *ud, const char *table, const char *key, const struct error *why) {
    store_corrupt_warn(ud, table, key, why);
}

/*
 * Reads every row of st (selecting OP_COLS) into a new array; resets st. A
 * row that breaks the rules (store_check_op) is left out and handed to fn.
 */
static int ops_read(store *s, sqlite3_stmt *st, store_corrupt_fn fn, void *ud,
                    struct store_op **ret, size_t *ret_n, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0, cap = 0;
    int r = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct store_op *p = xrealloc(ops, ncap * sizeof(*ops));
            if (!p) {
                r = error_oom(err);
                break;
            }
            ops = p;
            cap = ncap;
        }
        struct store_op *o = &ops[n++];
        memset(o, 0, sizeof(*o));
        o->id = sqlite3_column_int64(st, 0);
        const char *kind = (const char *)sqlite3_column_text(st, 2);
        if (!kind || api_kind_parse(kind, &o->kind) < 0)
            o->kind = API_KIND_COUNT;
        int64_t pid = sqlite3_column_int64(st, 5);
        o->owner_pid = pid < 0 || pid > INT32_MAX ? -1 : (int)pid; /* out of range: corrupt */
        o->owner_start = (uint64_t)sqlite3_column_int64(st, 6);
        o->started = sqlite3_column_int64(st, 7);
        o->updated = sqlite3_column_int64(st, 8);
        o->finished = sqlite3_column_int64(st, 9); /* NULL reads as 0: in flight */
        o->device_id =
            sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
        if (store_column_text(st, 1, &o->op) < 0 || store_column_text(st, 3, &o->object_uid) < 0 ||
            store_column_text(st, 4, &o->step) < 0 || store_column_text(st, 10, &o->error) < 0 ||
            store_column_text(st, 12, &o->params) < 0) {
            r = error_oom(err);
            break;
        }
        struct error why;
        error_init(&why);
        if (store_check_op(o, sqlite3_column_int64(st, 6), &why) < 0) {
            char key[32];
            snprintf(key, sizeof(key), "%lld", (long long)o->id);
            fn(ud, "journal", key, &why);
            op_release(o);
            n--; /* the slot is used again */
        }
    }
    r = store_rows_end(s, st, rc, r, "reading the journal", err);
    if (r < 0) {
        store_ops_free(ops, n);
        return r;
    }
    *ret = ops;
    *ret_n = n;
    return 0;
}

int store_op_list_open(store *s, struct store_op **ret, size_t *ret_n, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT " OP_COLS " FROM journal WHERE finished IS NULL ORDER BY id", &st,
                       err);
    return r < 0 ? r : ops_read(s, st, ops_warn, s, ret, ret_n, err);
}

#define OPS_RECENT_MAX 100000 /* finished operations one call may return */

int store_op_list_recent(store *s, size_t max, struct store_op **ret, size_t *ret_n,
                         struct error *err) {
    if (max > OPS_RECENT_MAX)
        max = OPS_RECENT_MAX;
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       "SELECT " OP_COLS " FROM journal WHERE id IN "
                       "(SELECT id FROM journal WHERE finished IS NULL UNION ALL "
                       "SELECT id FROM (SELECT id FROM journal WHERE finished IS NOT NULL "
                       "ORDER BY id DESC LIMIT ?1)) ORDER BY id DESC",
                       &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    return ops_read(s, st, ops_warn, s, ret, ret_n, err);
}

int store_op_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT " OP_COLS " FROM journal ORDER BY id", &st, err);
    struct store_op *ops = NULL;
    size_t n = 0;
    if (r == 0)
        r = ops_read(s, st, fn, ud, &ops, &n, err);
    store_ops_free(ops, n);
    return r;
}
