/*
 * store internals shared by the store's source files and its tests: the
 * connection struct, the prepared-statement cache, the one place that maps
 * SQLite result codes to errno, and the own-transaction helpers.
 */
#ifndef HEARTH_STORE_PRIV_H
#define HEARTH_STORE_PRIV_H

#include <sqlite3.h>

#include "store/store.h"

#define STORE_STMT_CACHE 64         /* hot statements kept prepared per connection */
#define STORE_BUSY_TOTAL_MS 60000   /* how long store_begin keeps retrying a busy lock */
#define STORE_BUSY_TIMEOUT_MS 10000 /* SQLite's own busy wait per attempt */
#define STORE_WAL_LIMIT "4194304"   /* bytes the kept -wal file is cut back to (4 MiB) */
#define STORE_WARNED_MAX 64         /* corrupt rows one connection remembers having warned of */

struct store_cached_stmt {
    const char *sql; /* the literal it was prepared from */
    sqlite3_stmt *stmt;
};

struct store {
    sqlite3 *db;
    char *path;
    unsigned int rand_state; /* backoff jitter */
    int self_pid;            /* the process self_start was read for (0: not yet) */
    uint64_t self_start;     /* its start time, for journal owners (proc_start_time) */
    struct store_cached_stmt cache[STORE_STMT_CACHE];
    size_t n_cache;
    /* The corrupt rows this connection warned about ("table key"), each told once. */
    char *warned[STORE_WARNED_MAX];
    size_t n_warned;
};

/*
 * Opens path like store_open but applies migrations only up to max_version
 * (tests build old databases with it). max_version < 0 means the latest.
 */
int store_open_version(const char *path, int max_version, store **ret, struct error *err) WUR;

/* Maps a (possibly extended) SQLite result code to a negative errno. */
int store_errno(int rc);

/*
 * Sets err from the connection's last error: "<what>: <sqlite message>",
 * code from store_errno(rc). Returns the code.
 */
int store_error(store *s, int rc, struct error *err, const char *what);

/*
 * A prepared statement for the literal sql from the connection's cache (reset,
 * bindings cleared). The store owns it; do not finalize.
 */
int store_stmt(store *s, const char *sql, sqlite3_stmt **ret, struct error *err) WUR;

/* Runs sql (no results) on the connection; err names what on failure. */
int store_exec(store *s, const char *sql, struct error *err) WUR;

/*
 * Starts a transaction of our own unless the caller has one open; *ret_own
 * says whether one was started. store_tx_end commits it (ok) or rolls it
 * back (failure, rc < 0); it returns rc, or the commit's error.
 */
int store_tx_start(store *s, bool *ret_own, struct error *err) WUR;
int store_tx_end(store *s, bool own, int rc, struct error *err) WUR;
/*
 * The start of a write: store_tx_start, then sql's statement (as store_stmt)
 * in *ret. On failure nothing is left open. The caller binds, steps
 * (store_step_done) and ends with store_tx_end(s, *ret_own, r, err).
 */
int store_write_start(store *s, const char *sql, bool *ret_own, sqlite3_stmt **ret,
                      struct error *err) WUR;

/*
 * Steps a statement that returns no rows (a write) to completion, then resets
 * it. On failure err says "<what>: <sqlite message>".
 */
int store_step_done(store *s, sqlite3_stmt *st, const char *what, struct error *err) WUR;

/*
 * The end of a read that stepped st until rc was not SQLITE_ROW: resets st
 * and returns r; when r is 0 and rc is not SQLITE_DONE, the step's error
 * ("<what>: <sqlite message>").
 */
int store_rows_end(store *s, sqlite3_stmt *st, int rc, int r, const char *what, struct error *err);

/* Binds text, NULL when s is NULL. */
int store_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* *ret = a copy of a text column (NULL for SQL NULL). 0 or -ENOMEM. */
int store_column_text(sqlite3_stmt *st, int col, char **ret) WUR;
/* A time column of an object (metadata.created): API_TIME_NONE for SQL NULL. */
int64_t store_column_time(sqlite3_stmt *st, int col);
/* An unsigned number column, stored as the int64 of the same bits. */
uint64_t store_column_u64(sqlite3_stmt *st, int col);

/*
 * Inserts an in-flight journal row owned by this process (pid and start
 * time): the one writer behind store_op_begin, store_op_begin_device and
 * store_vm_op_begin. uid, params may be NULL; device_id -1 for none.
 */
int store_op_insert(store *s, const char *op, enum api_kind kind, const char *uid, const char *step,
                    int64_t device_id, const char *params, int64_t *ret_id, struct error *err) WUR;

/* ---- rows that break the rules (check.c) --------------------------------- */

/*
 * The rules of check.c, one per kind of row; each returns 0, or -EUCLEAN
 * with err's message naming the field and its value ("metadata.uid:
 * \"../x\" is not a valid uid ..."). Numbers the structs keep unsigned are
 * passed as read (monitor_start, vmm_start, owner_start), so that a negative
 * one is seen.
 */
int store_check_object(const struct api_object *obj, struct error *err) WUR;
/* A VM's status.state: one of the states apply accepts (its value in *ret unless NULL). */
int store_check_vm_state(const char *state, enum api_vm_state *ret, struct error *err) WUR;
/* An object's uid column: -EUCLEAN naming metadata.uid unless it is a valid uid. */
int store_check_uid(const char *uid, struct error *err) WUR;
/* The columns `ps` lists a VM by: what store_check_object checks of them. */
int store_check_vm_key(const char *uid, const char *name, const char *state, struct error *err) WUR;
int store_check_runtime(const char *uid, const struct store_vm_runtime *rt, int64_t monitor_start,
                        int64_t vmm_start, struct error *err) WUR;
int store_check_op(const struct store_op *op, int64_t owner_start, struct error *err) WUR;
int store_check_pool(const struct store_pool *p, struct error *err) WUR;
/* The state a pool_device or pool row's column names; -EINVAL for none of them. */
int store_pool_state_parse(const char *s, enum store_pool_state *ret) WUR;
int store_check_device(const struct store_pool_device *d, int64_t id, struct error *err) WUR;

/*
 * The error of a single read that met a corrupt row: -EUCLEAN, naming the
 * table, the row's key, why (a rule's message) and 'hearth doctor'.
 */
int store_corrupt_error(store *s, const char *table, const char *key, const struct error *why,
                        struct error *err);
/* What a listing that leaves a corrupt row out logs (a warning naming the same), once per
 * row and connection. */
void store_corrupt_warn(store *s, const char *table, const char *key, const struct error *why);

/* Called for every corrupt row a scan meets. */
typedef void (*store_corrupt_fn)(void *ud, const char *table, const char *key,
                                 const struct error *why);
/* The scans behind store_corrupt_list: every row of the kind's tables, checked. */
int store_object_scan(store *s, enum api_kind kind, store_corrupt_fn fn, void *ud,
                      struct error *err) WUR;
int store_runtime_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) WUR;
int store_op_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) WUR;
int store_pool_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) WUR;
int store_kernel_files_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) WUR;
int store_vm_ssh_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) WUR;

#endif
