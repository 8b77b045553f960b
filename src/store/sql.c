/*
 * store sql: `hearth sql`, read-only SQL over the database.
 *
 * Three fences keep it read-only. While the statements are compiled and run
 * an authorizer refuses what sqlite3_stmt_readonly lets through but which
 * still changes things (ATTACH, DETACH, transactions, savepoints, PRAGMAs
 * other than a list of reading ones) and the functions that reach outside
 * the database (load_extension, fts3_tokenizer, which hands out a pointer);
 * every statement is compiled and checked with sqlite3_stmt_readonly before
 * the first one runs, so a call with one writing statement runs nothing;
 * and the connection is query_only while they run.
 *
 * Limits keep one call from holding the machine or the database: a deadline
 * checked from SQLite's progress handler (a read transaction keeps the WAL
 * from being checkpointed), SQLITE_LIMIT_LENGTH for one value, a check of
 * each row's size before it reaches the sink, and SQLite's hard heap limit
 * for what is built before a row is seen (sorts, many large columns).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "store/store_priv.h"

#define SQL_TEXT_MAX (1u << 20) /* bytes of SQL in one call */
#define SQL_STMTS_MAX 256       /* statements in one call */
#define SQL_SHOW_MAX 200        /* characters of a statement quoted in a message */
#define SQL_PROGRESS_OPS 1000   /* virtual machine steps between deadline checks */

/* PRAGMAs that only read; those marked take an argument (a table or index name). */
static const struct {
    const char *name;
    bool arg;
} read_pragmas[] = {
    {"table_info", true},       {"table_xinfo", true},        {"table_list", false},
    {"index_list", true},       {"index_info", true},         {"index_xinfo", true},
    {"foreign_key_list", true}, {"foreign_key_check", false}, {"integrity_check", false},
    {"quick_check", false},     {"user_version", false},      {"schema_version", false},
    {"data_version", false},    {"database_list", false},     {"collation_list", false},
    {"function_list", false},   {"module_list", false},       {"pragma_list", false},
    {"compile_options", false}, {"application_id", false},    {"page_count", false},
    {"page_size", false},       {"freelist_count", false},    {"journal_mode", false},
    {"foreign_keys", false},    {"encoding", false},
};

struct sql_auth {
    const char *denied; /* what was refused, for the message */
    const char *pragma; /* the reading PRAGMA the statement is, without a value; else NULL */
};

/* Functions that reach past the database: loading code, a tokenizer's address. */
static const char *const denied_functions[] = {"load_extension", "fts3_tokenizer"};

static int sql_authorize(void *ud, int action, const char *a1, const char *a2, const char *db,
                         const char *trigger) {
    struct sql_auth *auth = ud;
    (void)db;
    (void)trigger;
    switch (action) {
    case SQLITE_ATTACH:
        auth->denied = "ATTACH";
        return SQLITE_DENY;
    case SQLITE_DETACH:
        auth->denied = "DETACH";
        return SQLITE_DENY;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        auth->denied = "transaction control";
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        for (size_t i = 0; a1 && i < ARRAY_SIZE(read_pragmas); i++) {
            if (strcasecmp(a1, read_pragmas[i].name) == 0 && (!a2 || read_pragmas[i].arg)) {
                if (!a2)
                    auth->pragma = read_pragmas[i].name;
                return SQLITE_OK;
            }
        }
        auth->denied = "this PRAGMA";
        return SQLITE_DENY;
    case SQLITE_FUNCTION:
        for (size_t i = 0; a2 && i < ARRAY_SIZE(denied_functions); i++) {
            if (strcasecmp(a2, denied_functions[i]) == 0) {
                auth->denied = denied_functions[i];
                return SQLITE_DENY;
            }
        }
        return SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

/* The statement text for messages: whitespace trimmed, at most SQL_SHOW_MAX characters. */
static void sql_show(const char *text, char *buf, size_t size) {
    if (!text)
        text = "";
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\n' ||
                     text[n - 1] == '\r' || text[n - 1] == ';'))
        n--;
    bool cut = n > SQL_SHOW_MAX;
    if (cut)
        n = SQL_SHOW_MAX;
    snprintf(buf, size, "%.*s%s", (int)n, text, cut ? "..." : "");
}

static void finalize_all(sqlite3_stmt **stmts, size_t n) {
    for (size_t i = 0; i < n; i++)
        sqlite3_finalize(stmts[i]);
}

/* Compiles every statement of sql into stmts, refusing any that would write. */
static int sql_prepare_all(store *s, const char *sql, struct sql_auth *auth, sqlite3_stmt **stmts,
                           size_t *ret_n, struct error *err) {
    char show[SQL_SHOW_MAX + 8];
    size_t n = 0;
    int r = 0;
    const char *p = sql;
    while (*p) {
        const char *tail = NULL;
        sqlite3_stmt *st = NULL;
        auth->denied = NULL;
        auth->pragma = NULL;
        int rc = sqlite3_prepare_v2(s->db, p, -1, &st, &tail);
        if (rc != SQLITE_OK) {
            if (auth->denied) {
                /* Quote up to the end of this statement: the first ';' is close enough. */
                const char *semi = strchr(p, ';');
                size_t len = semi ? (size_t)(semi - p) : strlen(p);
                _cleanup_free_ char *text = xstrndup(p, len);
                sql_show(text, show, sizeof(show));
                r = error_set(err, -EPERM, "statement '%s' is refused: %s is not allowed, %s", show,
                              auth->denied, "hearth sql is read-only");
            } else {
                r = error_set(err, -EINVAL, "sql: %s", sqlite3_errmsg(s->db));
            }
            break;
        }
        if (!tail || tail <= p)
            tail = p + strlen(p);
        p = tail;
        if (!st)
            continue; /* whitespace or a comment */
        /* A reading PRAGMA such as journal_mode is not "readonly" to SQLite,
         * which counts what it could set; without a value it only reads. */
        if (!sqlite3_stmt_readonly(st) && !auth->pragma) {
            sql_show(sqlite3_sql(st), show, sizeof(show));
            sqlite3_finalize(st);
            r = error_set(err, -EPERM,
                          "statement '%s' would change the database: hearth sql is read-only",
                          show);
            break;
        }
        if (n == SQL_STMTS_MAX) {
            sqlite3_finalize(st);
            r = error_set(err, -E2BIG, "sql: more than %d statements in one call", SQL_STMTS_MAX);
            break;
        }
        stmts[n++] = st;
    }
    if (r < 0) {
        finalize_all(stmts, n);
        return r;
    }
    *ret_n = n;
    return 0;
}

static void free_hexes(char **hex, int n) {
    for (int k = 0; k < n; k++) {
        free(hex[k]);
        hex[k] = NULL;
    }
}

/* One call's limits and how far it got. */
struct sql_run {
    struct store_sql_limits lim;
    int64_t deadline; /* CLOCK_MONOTONIC ms; 0 for none */
    bool expired;     /* the progress handler stopped a statement at the deadline */
    struct sql_auth auth;
};

/* SQLite's progress handler: a nonzero return interrupts the statement. */
static int sql_progress(void *ud) {
    struct sql_run *run = ud;
    if (run->deadline && time_now_ms() >= run->deadline) {
        run->expired = true;
        return 1;
    }
    return 0;
}

/* "16 MiB" for a multiple of a MiB, else bytes. */
static void bytes_words(uint64_t n, char *buf, size_t size) {
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, size, "%llu MiB", (unsigned long long)(n >> 20));
    else
        snprintf(buf, size, "%llu bytes", (unsigned long long)n);
}

/* "30 s" for whole seconds, else milliseconds. */
static void time_words(unsigned ms, char *buf, size_t size) {
    if (ms % 1000 == 0)
        snprintf(buf, size, "%u s", ms / 1000);
    else
        snprintf(buf, size, "%u ms", ms);
}

/* The error of a statement that stopped with rc: a limit's own words where one was hit. */
static int sql_step_error(store *s, const struct sql_run *run, sqlite3_stmt *st, int rc,
                          struct error *err) {
    char words[32], show[SQL_SHOW_MAX + 8];
    sql_show(sqlite3_sql(st), show, sizeof(show));
    if ((rc & 0xff) == SQLITE_INTERRUPT && run->expired) {
        time_words(run->lim.timeout_ms, words, sizeof(words));
        return error_set(err, -ETIMEDOUT, "sql: the query ran past the %s limit (statement '%s')",
                         words, show);
    }
    if ((rc & 0xff) == SQLITE_TOOBIG) {
        bytes_words((uint64_t)run->lim.value_max, words, sizeof(words));
        return error_set(err, -EFBIG,
                         "sql: statement '%s' makes a value larger than %s, the limit for one "
                         "value: select a part of it (substr)",
                         show, words);
    }
    if ((rc & 0xff) == SQLITE_NOMEM && run->lim.heap_max > 0) {
        bytes_words((uint64_t)run->lim.heap_max, words, sizeof(words));
        return error_set(err, -ENOMEM,
                         "sql: statement '%s' needs more than %s of memory, the limit of one "
                         "call: select fewer or smaller values",
                         show, words);
    }
    if ((rc & 0xff) == SQLITE_AUTH && run->auth.denied)
        return error_set(err, -EPERM, "statement '%s' is refused: %s is not allowed, %s", show,
                         run->auth.denied, "hearth sql is read-only");
    return store_error(s, rc, err, "sql");
}

/* Streams one statement's result to the sink. */
static int sql_run(store *s, struct sql_run *run, sqlite3_stmt *st,
                   const struct store_sql_sink *sink, struct error *err) {
    int ncols = sqlite3_column_count(st);
    _cleanup_free_ const char **names = xcalloc((size_t)ncols + 1, sizeof(*names));
    _cleanup_free_ const char **values = xcalloc((size_t)ncols + 1, sizeof(*values));
    _cleanup_free_ enum store_value_type *types = xcalloc((size_t)ncols + 1, sizeof(*types));
    _cleanup_free_ char **hex = xcalloc((size_t)ncols + 1, sizeof(*hex));
    if (!names || !values || !types || !hex)
        return error_oom(err);
    for (int i = 0; i < ncols; i++) {
        names[i] = sqlite3_column_name(st, i);
        if (!names[i])
            return error_oom(err);
    }
    int r = sink && sink->columns ? sink->columns(sink->ud, ncols, names) : 0;
    if (r)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t row_bytes = 0;
        for (int i = 0; i < ncols; i++) {
            free(hex[i]);
            hex[i] = NULL;
            size_t len = 0;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                types[i] = STORE_NULL;
                values[i] = NULL;
                break;
            case SQLITE_INTEGER:
                types[i] = STORE_INTEGER;
                values[i] = (const char *)sqlite3_column_text(st, i);
                len = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_FLOAT:
                types[i] = STORE_REAL;
                values[i] = (const char *)sqlite3_column_text(st, i);
                len = (size_t)sqlite3_column_bytes(st, i);
                break;
            case SQLITE_BLOB:
                types[i] = STORE_BLOB;
                len = (size_t)sqlite3_column_bytes(st, i) * 2;
                values[i] = NULL;
                break;
            default:
                types[i] = STORE_TEXT;
                values[i] = (const char *)sqlite3_column_text(st, i);
                len = (size_t)sqlite3_column_bytes(st, i);
                break;
            }
            row_bytes += len;
            if (run->lim.row_max && row_bytes > run->lim.row_max) {
                char words[32], show[SQL_SHOW_MAX + 8];
                bytes_words(run->lim.row_max, words, sizeof(words));
                sql_show(sqlite3_sql(st), show, sizeof(show));
                free_hexes(hex, ncols);
                return error_set(err, -EFBIG,
                                 "sql: statement '%s' gives a row larger than %s, the limit for "
                                 "one row: select fewer or smaller columns",
                                 show, words);
            }
            if (types[i] == STORE_BLOB) {
                const unsigned char *b = sqlite3_column_blob(st, i);
                size_t n = len / 2;
                hex[i] = xmalloc(len + 1);
                if (!hex[i] || (n && !b)) {
                    free_hexes(hex, ncols);
                    return error_oom(err);
                }
                static const char digits[] = "0123456789abcdef";
                for (size_t j = 0; j < n; j++) {
                    hex[i][2 * j] = digits[b[j] >> 4];
                    hex[i][2 * j + 1] = digits[b[j] & 15];
                }
                hex[i][len] = '\0';
                values[i] = hex[i];
            }
            if (types[i] != STORE_NULL && !values[i]) {
                free_hexes(hex, ncols);
                return error_oom(err);
            }
        }
        r = sink && sink->row ? sink->row(sink->ud, ncols, values, types) : 0;
        if (r)
            break;
    }
    free_hexes(hex, ncols);
    if (r)
        return r;
    if (rc != SQLITE_DONE)
        return sql_step_error(s, run, st, sqlite3_extended_errcode(s->db), err);
    return sink && sink->end ? sink->end(sink->ud) : 0;
}

/* The connection's limits for the call, and what they were before. */
struct sql_saved {
    int length, sql_length;
    int64_t heap;
};

static void sql_limits_set(store *s, const struct store_sql_limits *lim, struct sql_saved *saved) {
    saved->length = sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1);
    saved->sql_length = sqlite3_limit(s->db, SQLITE_LIMIT_SQL_LENGTH, -1);
    if (lim->value_max > 0)
        sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, lim->value_max);
    sqlite3_limit(s->db, SQLITE_LIMIT_SQL_LENGTH, (int)SQL_TEXT_MAX);
    /* The heap limit is the process's; the CLI runs one query at a time. */
    saved->heap = lim->heap_max > 0 ? sqlite3_hard_heap_limit64(lim->heap_max) : -1;
}

static void sql_limits_restore(store *s, const struct sql_saved *saved) {
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, saved->length);
    sqlite3_limit(s->db, SQLITE_LIMIT_SQL_LENGTH, saved->sql_length);
    if (saved->heap >= 0)
        sqlite3_hard_heap_limit64(saved->heap);
}

int store_sql_query(store *s, const char *sql, const struct store_sql_limits *limits,
                    const struct store_sql_sink *sink, struct error *err) {
    if (!sql)
        return error_set(err, -EINVAL, "sql: no statements given");
    if (strlen(sql) > SQL_TEXT_MAX)
        return error_set(err, -E2BIG, "sql: the statements exceed %u bytes", SQL_TEXT_MAX);
    struct sql_run run = {.lim = limits ? *limits : STORE_SQL_LIMITS_DEFAULT};
    if (run.lim.timeout_ms)
        run.deadline = time_now_ms() + run.lim.timeout_ms;
    struct sql_saved saved;
    sql_limits_set(s, &run.lim, &saved);
    sqlite3_stmt *stmts[SQL_STMTS_MAX];
    size_t n = 0;
    int r = store_exec(s, "PRAGMA query_only = 1", err);
    if (r == 0) {
        /* The authorizer stays while they run: a table-valued PRAGMA function
         * compiles its PRAGMA then. */
        sqlite3_set_authorizer(s->db, sql_authorize, &run.auth);
        r = sql_prepare_all(s, sql, &run.auth, stmts, &n, err);
        sqlite3_progress_handler(s->db, SQL_PROGRESS_OPS, sql_progress, &run);
        for (size_t i = 0; r == 0 && i < n; i++) {
            run.auth.denied = NULL;
            r = sql_run(s, &run, stmts[i], sink, err);
        }
        sqlite3_progress_handler(s->db, 0, NULL, NULL);
        finalize_all(stmts, n);
        sqlite3_set_authorizer(s->db, NULL, NULL);
    }
    sql_limits_restore(s, &saved);
    int r2 = store_exec(s, "PRAGMA query_only = 0", NULL);
    if (r == 0 && r2 < 0)
        r = error_set(err, r2, "sql: could not leave query_only mode");
    return r;
}
