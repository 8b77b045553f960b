/*
 * store sql: `hearth sql`, read-only SQL over the database.
 *
 * Three fences keep it read-only. While the statements are compiled an
 * authorizer refuses what sqlite3_stmt_readonly lets through but which
 * still changes things (ATTACH, DETACH, transactions, savepoints, PRAGMAs
 * other than a list of reading ones); every statement is compiled and
 * checked with sqlite3_stmt_readonly before the first one runs, so a call
 * with one writing statement runs nothing; and the connection is
 * query_only while they run.
 */
#include <errno.h>
#include <string.h>

#include "store/store_priv.h"

#define SQL_TEXT_MAX (1u << 20) /* bytes of SQL in one call */
#define SQL_STMTS_MAX 256       /* statements in one call */
#define SQL_SHOW_MAX 200        /* characters of a statement quoted in a message */

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
};

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
        for (size_t i = 0; a1 && i < ARRAY_SIZE(read_pragmas); i++)
            if (strcasecmp(a1, read_pragmas[i].name) == 0 && (!a2 || read_pragmas[i].arg))
                return SQLITE_OK;
        auth->denied = "this PRAGMA";
        return SQLITE_DENY;
    case SQLITE_FUNCTION:
        if (a2 && strcasecmp(a2, "load_extension") == 0) {
            auth->denied = "load_extension";
            return SQLITE_DENY;
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
static int sql_prepare_all(store *s, const char *sql, sqlite3_stmt **stmts, size_t *ret_n,
                           struct error *err) {
    struct sql_auth auth = {NULL};
    char show[SQL_SHOW_MAX + 8];
    size_t n = 0;
    int r = 0;
    sqlite3_set_authorizer(s->db, sql_authorize, &auth);
    const char *p = sql;
    while (*p) {
        const char *tail = NULL;
        sqlite3_stmt *st = NULL;
        auth.denied = NULL;
        int rc = sqlite3_prepare_v2(s->db, p, -1, &st, &tail);
        if (rc != SQLITE_OK) {
            if (auth.denied) {
                /* Quote up to the end of this statement: the first ';' is close enough. */
                const char *semi = strchr(p, ';');
                size_t len = semi ? (size_t)(semi - p) : strlen(p);
                _cleanup_free_ char *text = xstrndup(p, len);
                sql_show(text, show, sizeof(show));
                r = error_set(err, -EPERM, "statement '%s' is refused: %s is not allowed, %s", show,
                              auth.denied, "hearth sql is read-only");
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
        if (!sqlite3_stmt_readonly(st)) {
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
    sqlite3_set_authorizer(s->db, NULL, NULL);
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

/* Streams one statement's result to the sink. */
static int sql_run(store *s, sqlite3_stmt *st, const struct store_sql_sink *sink,
                   struct error *err) {
    int ncols = sqlite3_column_count(st);
    _cleanup_free_ const char **names = xcalloc((size_t)ncols + 1, sizeof(*names));
    _cleanup_free_ const char **values = xcalloc((size_t)ncols + 1, sizeof(*values));
    _cleanup_free_ enum store_value_type *types = xcalloc((size_t)ncols + 1, sizeof(*types));
    _cleanup_free_ char **hex = xcalloc((size_t)ncols + 1, sizeof(*hex));
    if (!names || !values || !types || !hex)
        return error_set(err, -ENOMEM, "out of memory");
    for (int i = 0; i < ncols; i++) {
        names[i] = sqlite3_column_name(st, i);
        if (!names[i])
            return error_set(err, -ENOMEM, "out of memory");
    }
    int r = sink && sink->columns ? sink->columns(sink->ud, ncols, names) : 0;
    if (r)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            free(hex[i]);
            hex[i] = NULL;
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                types[i] = STORE_NULL;
                values[i] = NULL;
                break;
            case SQLITE_INTEGER:
                types[i] = STORE_INTEGER;
                values[i] = (const char *)sqlite3_column_text(st, i);
                break;
            case SQLITE_FLOAT:
                types[i] = STORE_REAL;
                values[i] = (const char *)sqlite3_column_text(st, i);
                break;
            case SQLITE_BLOB: {
                types[i] = STORE_BLOB;
                const unsigned char *b = sqlite3_column_blob(st, i);
                size_t len = (size_t)sqlite3_column_bytes(st, i);
                hex[i] = xmalloc(len * 2 + 1);
                if (!hex[i]) {
                    free_hexes(hex, ncols);
                    return error_set(err, -ENOMEM, "out of memory");
                }
                static const char digits[] = "0123456789abcdef";
                for (size_t j = 0; j < len; j++) {
                    hex[i][2 * j] = digits[b[j] >> 4];
                    hex[i][2 * j + 1] = digits[b[j] & 15];
                }
                hex[i][2 * len] = '\0';
                values[i] = hex[i];
                break;
            }
            default:
                types[i] = STORE_TEXT;
                values[i] = (const char *)sqlite3_column_text(st, i);
                break;
            }
            if (types[i] != STORE_NULL && !values[i]) {
                free_hexes(hex, ncols);
                return error_set(err, -ENOMEM, "out of memory");
            }
        }
        r = sink && sink->row ? sink->row(sink->ud, ncols, values, types) : 0;
        if (r)
            break;
    }
    free_hexes(hex, ncols);
    if (r)
        return r;
    if (rc != SQLITE_DONE) {
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "sql");
        return r;
    }
    return sink && sink->end ? sink->end(sink->ud) : 0;
}

int store_sql_query(store *s, const char *sql, const struct store_sql_sink *sink,
                    struct error *err) {
    if (!sql)
        return error_set(err, -EINVAL, "sql: no statements given");
    if (strlen(sql) > SQL_TEXT_MAX)
        return error_set(err, -E2BIG, "sql: the statements exceed %u bytes", SQL_TEXT_MAX);
    sqlite3_stmt *stmts[SQL_STMTS_MAX];
    size_t n = 0;
    int r = sql_prepare_all(s, sql, stmts, &n, err);
    if (r < 0)
        return r;
    r = store_exec(s, "PRAGMA query_only = 1", err);
    for (size_t i = 0; r == 0 && i < n; i++)
        r = sql_run(s, stmts[i], sink, err);
    finalize_all(stmts, n);
    int r2 = store_exec(s, "PRAGMA query_only = 0", NULL);
    if (r == 0 && r2 < 0)
        r = error_set(err, r2, "sql: could not leave query_only mode");
    return r;
}
