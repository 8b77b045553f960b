/*
 * store: opening the database, migrations, transactions and the helpers the
 * other store files share (statement cache, SQLite-to-errno mapping).
 *
 * store_open configures the connection (WAL, synchronous=FULL, foreign keys,
 * busy timeout) and brings the schema to the latest embedded migration. Each
 * migration runs in its own BEGIN IMMEDIATE transaction that also sets
 * user_version, so a crash leaves the database at a whole version; the
 * version is re-read under the write lock, so processes opening one database
 * at once apply each migration exactly once. Before the first migration that
 * changes an existing database, a consistent copy is written beside it
 * (`<path>.pre-NNNN`) with SQLite's online backup, taken under the same lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store/migrations.h"
#include "store/store_priv.h"

/* ---- errors ------------------------------------------------------------ */

int store_errno(int rc) {
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
        return -EEXIST;
    case SQLITE_CANTOPEN_ISDIR:
        return -EISDIR;
    case SQLITE_IOERR_NOMEM:
        return -ENOMEM;
    default:
        break;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_CONSTRAINT: /* check, not null, foreign key, trigger */
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
        return -EINVAL;
    case SQLITE_NOTFOUND:
        return -ENOENT;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EPERM;
    case SQLITE_CANTOPEN:
        return -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_INTERRUPT:
        return -EINTR;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_IOERR:
    default:
        return -EIO;
    }
}

int store_error(store *s, int rc, struct error *err, const char *what) {
    int code = store_errno(rc);
    if (code == 0)
        code = -EIO;
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    if (s && s->db && sqlite3_extended_errcode(s->db) != rc && sqlite3_errcode(s->db) != rc)
        msg = sqlite3_errstr(rc);
    return error_set(err, code, "%s: %s", what, msg);
}

/* ---- statements -------------------------------------------------------- */

int store_stmt(store *s, const char *sql, sqlite3_stmt **ret, struct error *err) {
    for (size_t i = 0; i < s->n_cache; i++) {
        if (s->cache[i].sql == sql || strcmp(s->cache[i].sql, sql) == 0) {
            sqlite3_stmt *st = s->cache[i].stmt;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            *ret = st;
            return 0;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(s, rc, err, "preparing a statement");
    /* A full cache evicts its oldest entry, which no caller holds across another call. */
    if (s->n_cache == STORE_STMT_CACHE) {
        sqlite3_finalize(s->cache[0].stmt);
        memmove(&s->cache[0], &s->cache[1], sizeof(s->cache[0]) * (STORE_STMT_CACHE - 1));
        s->n_cache--;
    }
    s->cache[s->n_cache].sql = sql;
    s->cache[s->n_cache].stmt = st;
    s->n_cache++;
    *ret = st;
    return 0;
}

int store_exec(store *s, const char *sql, struct error *err) {
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_error(s, sqlite3_extended_errcode(s->db), err, sql);
    return 0;
}

int store_rows_end(store *s, sqlite3_stmt *st, int rc, int r, const char *what, struct error *err) {
    if (r == 0 && rc != SQLITE_DONE)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, what);
    sqlite3_reset(st);
    return r;
}

int store_step_done(store *s, sqlite3_stmt *st, const char *what, struct error *err) {
    return store_rows_end(s, st, sqlite3_step(st), 0, what, err);
}

int store_bind_text(sqlite3_stmt *st, int idx, const char *str) {
    if (!str)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, str, -1, SQLITE_STATIC);
}

int store_column_text(sqlite3_stmt *st, int col, char **ret) {
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t) {
        *ret = NULL;
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : -ENOMEM;
    }
    char *c = xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, col));
    if (!c)
        return -ENOMEM;
    *ret = c;
    return 0;
}

int64_t store_column_time(sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return API_TIME_NONE;
    return sqlite3_column_int64(st, col);
}

uint64_t store_column_u64(sqlite3_stmt *st, int col) {
    return (uint64_t)sqlite3_column_int64(st, col);
}

/* ---- transactions ------------------------------------------------------ */

int store_begin(store *s, struct error *err) {
    if (!sqlite3_get_autocommit(s->db))
        return error_set(err, -EINVAL, "a transaction is already open on '%s'", s->path);
    int64_t deadline = time_now_ms() + STORE_BUSY_TOTAL_MS;
    long backoff = 2;
    for (;;) {
        int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        rc = sqlite3_extended_errcode(s->db);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            return store_error(s, rc, err, "starting a transaction");
        if (time_now_ms() >= deadline)
            return error_set(err, -EBUSY,
                             "database '%s' stayed locked by another process for %d s: "
                             "try again later",
                             s->path, STORE_BUSY_TOTAL_MS / 1000);
        /* Randomized, growing backoff so waiting writers do not retry in step. */
        sleep_ms(1 + (long)(rand_r(&s->rand_state) % (unsigned int)backoff));
        if (backoff < 64)
            backoff *= 2;
    }
}

int store_commit(store *s, struct error *err) {
    if (sqlite3_get_autocommit(s->db))
        return error_set(err, -EINVAL, "no transaction is open on '%s'", s->path);
    int64_t deadline = time_now_ms() + STORE_BUSY_TOTAL_MS;
    for (;;) {
        int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        rc = sqlite3_extended_errcode(s->db);
        /* A busy COMMIT keeps the transaction open and may be retried. */
        if ((rc & 0xff) == SQLITE_BUSY && time_now_ms() < deadline &&
            !sqlite3_get_autocommit(s->db)) {
            sleep_ms(1 + (long)(rand_r(&s->rand_state) % 16u));
            continue;
        }
        int code = store_error(s, rc, err, "committing");
        store_rollback(s);
        return code;
    }
}

void store_rollback(store *s) {
    if (s && s->db && !sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_tx_start(store *s, bool *ret_own, struct error *err) {
    if (!sqlite3_get_autocommit(s->db)) {
        *ret_own = false;
        return 0;
    }
    int r = store_begin(s, err);
    if (r < 0)
        return r;
    *ret_own = true;
    return 0;
}

int store_tx_end(store *s, bool own, int rc, struct error *err) {
    if (!own)
        return rc;
    if (rc < 0) {
        store_rollback(s);
        return rc;
    }
    return store_commit(s, err);
}

int store_write_start(store *s, const char *sql, bool *ret_own, sqlite3_stmt **ret,
                      struct error *err) {
    int r = store_tx_start(s, ret_own, err);
    if (r < 0)
        return r;
    r = store_stmt(s, sql, ret, err);
    return r < 0 ? store_tx_end(s, *ret_own, r, err) : 0;
}

/* ---- schema ------------------------------------------------------------ */

int store_schema_latest(void) {
    int v = 0;
    for (int i = 0; i < store_migrations_count; i++)
        if (store_migrations[i].version > v)
            v = store_migrations[i].version;
    return v;
}

static int store_int_query(store *s, const char *sql, int64_t *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = store_error(s, rc == SQLITE_DONE ? SQLITE_ERROR : sqlite3_extended_errcode(s->db), err,
                        sql);
        sqlite3_reset(st);
        return r;
    }
    *ret = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

int store_schema_version(store *s) {
    int64_t v = 0;
    if (store_int_query(s, "PRAGMA user_version", &v, NULL) < 0)
        return -EIO;
    return (int)v;
}

int store_data_version(store *s, int64_t *ret) {
    return store_int_query(s, "PRAGMA data_version", ret, NULL);
}

/*
 * Copies the database to path.pre-NNNN while the caller holds the write lock
 * (and has written nothing yet): a second connection reads the committed
 * state, which under WAL it can while we hold the lock, and VACUUM INTO
 * writes it to a temporary file that is then renamed into place.
 */
static int store_backup(store *s, int version, struct error *err) {
    _cleanup_free_ char *dst = xasprintf("%s.pre-%04d", s->path, version);
    _cleanup_free_ char *tmp = xasprintf("%s.pre-%04d.tmp", s->path, version);
    if (!dst || !tmp)
        return error_oom(err);
    if (access(dst, F_OK) == 0)
        return 0; /* never overwrite an earlier copy */
    (void)unlink(tmp);
    /* Made 0600 here first: VACUUM INTO writes into an empty file, keeping its mode. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "copying database '%s' aside: cannot create '%s': %s",
                         s->path, tmp, strerror(errno));
    close(fd);
    sqlite3 *src = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(s->path, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, STORE_BUSY_TIMEOUT_MS);
        rc = sqlite3_prepare_v2(src, "VACUUM INTO ?1", -1, &st, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        else
            rc = sqlite3_extended_errcode(src);
    }
    int r = 0;
    if (rc != SQLITE_OK) {
        int code = store_errno(rc);
        r = error_set(err, code ? code : -EIO,
                      "copying database '%s' aside to '%s' before migrating: %s", s->path, dst,
                      src ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
    }
    sqlite3_finalize(st);
    sqlite3_close(src);
    if (r == 0 && rename(tmp, dst) < 0)
        r = error_set(err, -errno, "renaming '%s' to '%s': %s", tmp, dst, strerror(errno));
    if (r < 0)
        (void)unlink(tmp);
    return r;
}

static const struct store_migration *store_migration_find(int version) {
    for (int i = 0; i < store_migrations_count; i++)
        if (store_migrations[i].version == version)
            return &store_migrations[i];
    return NULL;
}

/* Applies migration m inside the open transaction and records its version. */
static int store_migration_apply(store *s, const struct store_migration *m, struct error *err) {
    int rc = sqlite3_exec(s->db, m->sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int r = store_error(s, sqlite3_extended_errcode(s->db), err, "applying migration");
        error_prefix(err, "database '%s': %s", s->path, m->name);
        return r;
    }
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
    int r = store_exec(s, pragma, err);
    if (r == 0)
        log_debug("database '%s': applied migration %s", s->path, m->name);
    return r;
}

/*
 * Brings the schema to target. The version is read under the write lock, so
 * concurrent openers apply each migration once. A new, empty database gets
 * every migration in one transaction (it appears whole or not at all, and
 * nothing needs copying); an existing one is copied aside first and then
 * migrated one transaction per migration.
 */
static int store_migrate(store *s, int target, struct error *err) {
    int latest = store_schema_latest();
    bool fresh = false, backed_up = false;
    for (;;) {
        int r = store_begin(s, err);
        if (r < 0)
            return r;
        int64_t v = 0, objects = 0;
        r = store_int_query(s, "PRAGMA user_version", &v, err);
        if (r == 0)
            r = store_int_query(s, "SELECT count(*) FROM sqlite_schema", &objects, err);
        if (r < 0) {
            store_rollback(s);
            return r;
        }
        if (v > latest) {
            store_rollback(s);
            return error_set(err, -EPROTO,
                             "database '%s' has schema version %lld but this hearth knows only up "
                             "to %d: upgrade hearth",
                             s->path, (long long)v, latest);
        }
        if (v >= target) {
            store_rollback(s);
            return 0;
        }
        fresh = v == 0 && objects == 0;
        if (!fresh && !backed_up) {
            /* An existing database is copied aside before the first change to it. */
            r = store_backup(s, (int)v + 1, err);
            if (r < 0) {
                store_rollback(s);
                return r;
            }
            backed_up = true;
        }
        for (int64_t next = v + 1; r == 0 && next <= target; next++) {
            const struct store_migration *m = store_migration_find((int)next);
            if (!m)
                r = error_set(err, -EPROTO, "database '%s': migration %04lld is missing", s->path,
                              (long long)next);
            else
                r = store_migration_apply(s, m, err);
            if (!fresh)
                break; /* one migration per transaction */
        }
        if (r == 0)
            r = store_commit(s, err);
        if (r < 0) {
            store_rollback(s);
            return r;
        }
    }
}

/* ---- open and close ---------------------------------------------------- */

/* Runs a configuration statement, waiting out a busy lock (e.g. journal_mode=WAL). */
static int store_configure(store *s, const char *sql, struct error *err) {
    int64_t deadline = time_now_ms() + STORE_BUSY_TOTAL_MS;
    for (;;) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        rc = sqlite3_extended_errcode(s->db);
        if ((rc & 0xff) != SQLITE_BUSY || time_now_ms() >= deadline)
            return store_error(s, rc, err, sql);
        sleep_ms(1 + (long)(rand_r(&s->rand_state) % 32u));
    }
}

/* Closes the connection (its cached statements first); the handle stays. */
static void store_disconnect(store *s) {
    for (size_t i = 0; i < s->n_cache; i++)
        sqlite3_finalize(s->cache[i].stmt);
    s->n_cache = 0;
    if (s->db) {
        store_rollback(s);
        sqlite3_close(s->db);
        s->db = NULL;
    }
}

/* A handle for path without a connection yet; NULL when out of memory. */
static store *store_new(const char *path) {
    store *s = xcalloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->path = xstrdup(path);
    if (!s->path) {
        store_free(s);
        return NULL;
    }
    s->rand_state = (unsigned int)getpid() ^ (unsigned int)time_now_ms();
    return s;
}

/* What every connection gets, read-write or read-only. */
static void store_connection_setup(store *s) {
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    /* Debian's SQLite is built with fts3_tokenizer() on; it hands out pointers. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0, NULL);
}

/* Why path cannot be written when SQLite could open it only for reading. */
static int store_readonly_code(const char *path) {
    struct statvfs sv;
    return statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY) ? -EROFS : -EACCES;
}

/*
 * The code of a failed read-write open, r as store_error mapped it: the
 * system call's errno when it says the root cannot be written (full,
 * read-only, not this user's) rather than SQLite's "disk I/O error", so that
 * the caller can tell, and the message says it too.
 */
static int store_open_code(store *s, int r, struct error *err) {
    if (!s->db || (r != -EIO && r != -EACCES && r != -EPERM && r != -ENOSPC))
        return r;
    int sys = sqlite3_system_errno(s->db);
    int rc = sqlite3_extended_errcode(s->db);
    int code = r;
    if (sys == ENOSPC || sys == EDQUOT || sys == EROFS || sys == EACCES || sys == EPERM)
        code = -sys;
    else if ((rc & 0xff) == SQLITE_FULL)
        code = -ENOSPC;
    else if ((rc & 0xff) == SQLITE_READONLY)
        code = store_readonly_code(s->path);
    if (code != r && err) {
        char msg[ERROR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        error_set(err, code, "%s (%s)", msg, strerror(-code));
    }
    return code;
}

int store_open_version(const char *path, int max_version, store **ret, struct error *err) {
    int latest = store_schema_latest();
    int target = max_version < 0 || max_version > latest ? latest : max_version;
    store *s = store_new(path);
    if (!s)
        return error_oom(err);

    /* A new database is private: made 0600 whatever the umask, and SQLite
     * gives its -wal and -shm files the database's mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);

    int r = 0;
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int code = store_errno(rc);
        if (rc == SQLITE_CANTOPEN && errno == ENOENT)
            code = -ENOENT;
        r = error_set(err, code ? code : -EIO, "opening database '%s': %s", path,
                      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        r = store_open_code(s, r, err);
        store_free(s);
        return r;
    }
    store_connection_setup(s);
    /* SQLite opens a file it may not write read-only without a word. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        int code = store_readonly_code(path);
        error_set(err, code, "opening database '%s': it can only be read (%s)", path,
                  strerror(-code));
        store_free(s);
        return code;
    }
    /* Keep the -wal and -shm files when the last connection closes (the WAL
     * emptied): every hearth command opens the database, and creating and
     * unlinking two files each time cost more than the command's query. */
    int persist = 1;
    sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);

    static const char *const pragmas[] = {
        "PRAGMA busy_timeout = 10000",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
        ("PRAGMA journal_size_limit = " STORE_WAL_LIMIT),
    };
    for (size_t i = 0; i < ARRAY_SIZE(pragmas) && r == 0; i++)
        r = store_configure(s, pragmas[i], err);
    if (r == 0)
        r = store_migrate(s, target, err);
    if (r < 0) {
        r = store_open_code(s, r, err);
        if (err && !strstr(err->msg, path))
            error_prefix(err, "database '%s'", path);
        store_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

/* "file:PATH?QUERY", with what a URI gives meaning to escaped; NULL when out of memory. */
static char *store_uri(const char *path, const char *query) {
    struct strbuf sb = STRBUF_INIT;
    int r = strbuf_adds(&sb, "file:");
    for (const unsigned char *p = (const unsigned char *)path; r == 0 && *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p <= ' ' || *p >= 0x7f)
            r = strbuf_addf(&sb, "%%%02X", *p);
        else
            r = strbuf_addc(&sb, (char)*p);
    }
    if (r == 0)
        r = strbuf_addf(&sb, "?%s", query);
    if (r < 0) {
        strbuf_release(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

/* Opens s->path read-only with the URI parameters query and reads its schema version. */
static int store_connect_read(store *s, const char *query, int64_t *ret_version,
                              struct error *err) {
    _cleanup_free_ char *uri = store_uri(s->path, query);
    if (!uri)
        return error_oom(err);
    int rc = sqlite3_open_v2(uri, &s->db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    int r = 0;
    if (rc != SQLITE_OK) {
        int code = store_errno(rc);
        r = error_set(err, code ? code : -EIO, "opening database '%s' read-only: %s", s->path,
                      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    } else {
        store_connection_setup(s);
        r = store_int_query(s, "PRAGMA user_version", ret_version, err);
        if (r < 0)
            error_prefix(err, "reading database '%s'", s->path);
    }
    if (r < 0)
        store_disconnect(s);
    return r;
}

int store_open_read(const char *path, store **ret, struct error *err) {
    store *s = store_new(path);
    if (!s)
        return error_oom(err);
    _cleanup_free_ char *shm = xasprintf("%s-shm", path);
    _cleanup_free_ char *wal = xasprintf("%s-wal", path);
    if (!shm || !wal) {
        store_free(s);
        return error_oom(err);
    }
    /* An -shm that cannot be written is mapped read-only, or the WAL read
     * into memory when it is not set up (readonly_shm). */
    int64_t v = 0;
    int r = store_connect_read(s, "readonly_shm=1", &v, err);
    struct stat st;
    if (r < 0 && lstat(shm, &st) < 0 && errno == ENOENT) {
        /* No -shm, and none can be made: with no WAL to apply, the
         * database file is the whole state and is read as it is. */
        if (lstat(wal, &st) < 0 || st.st_size == 0)
            r = store_connect_read(s, "immutable=1", &v, err);
        else
            r = error_set(err, -EIO,
                          "database '%s' has changes in '%s' that SQLite reads only through '%s', "
                          "which is missing",
                          path, wal, shm);
    }
    int latest = store_schema_latest();
    if (r == 0 && v > latest)
        r = error_set(err, -EPROTO,
                      "database '%s' has schema version %lld but this hearth knows only up to %d: "
                      "upgrade hearth",
                      path, (long long)v, latest);
    else if (r == 0 && v < latest)
        r = error_set(err, -EPROTO,
                      "database '%s' has schema version %lld and this hearth needs %d, to which it "
                      "migrates it only where it can write",
                      path, (long long)v, latest);
    if (r < 0) {
        store_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

int store_open(const char *path, store **ret, struct error *err) {
    return store_open_version(path, -1, ret, err);
}

void store_free(store *s) {
    if (!s)
        return;
    store_disconnect(s);
    for (size_t i = 0; i < s->n_warned; i++)
        free(s->warned[i]);
    free(s->path);
    free(s);
}
