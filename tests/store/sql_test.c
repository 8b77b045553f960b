/*
 * Read-only SQL tests: results of several statements stream to the sink;
 * anything that would write, attach, change a PRAGMA or open a transaction
 * is refused before any statement runs, and nothing changes; the limits of
 * time, value, row and memory stop a call with their own error and leave
 * the connection as it was.
 */
#include <errno.h>
#include <string.h>

#include "store/store_test.h"

/* A sink that writes a transcript: "C a|b\nR 1|x\nE\n". */
struct transcript {
    struct strbuf sb;
    int stop_after_rows; /* 0: never */
    int rows;
};

static int t_columns(void *ud, int n, const char *const *names) {
    struct transcript *t = ud;
    assert_int_equal(strbuf_adds(&t->sb, "C "), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(strbuf_addf(&t->sb, "%s%s", i ? "|" : "", names[i]), 0);
    assert_int_equal(strbuf_adds(&t->sb, "\n"), 0);
    return 0;
}

static int t_row(void *ud, int n, const char *const *values, const enum store_value_type *types) {
    struct transcript *t = ud;
    static const char tc[] = "NIRTB";
    assert_int_equal(strbuf_adds(&t->sb, "R "), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(strbuf_addf(&t->sb, "%s%c:%s", i ? "|" : "", tc[types[i]],
                                     values[i] ? values[i] : "NULL"),
                         0);
    assert_int_equal(strbuf_adds(&t->sb, "\n"), 0);
    t->rows++;
    if (t->stop_after_rows && t->rows >= t->stop_after_rows)
        return 42;
    return 0;
}

static int t_end(void *ud) {
    struct transcript *t = ud;
    assert_int_equal(strbuf_adds(&t->sb, "E\n"), 0);
    return 0;
}

static int run_limited(store *s, const char *sql, const struct store_sql_limits *lim,
                       struct transcript *tr, struct error *err) {
    struct store_sql_sink sink = {t_columns, t_row, t_end, tr};
    strbuf_reset(&tr->sb);
    tr->rows = 0;
    error_init(err);
    return store_sql_query(s, sql, lim, &sink, err);
}

static int run(store *s, const char *sql, struct transcript *tr, struct error *err) {
    return run_limited(s, sql, NULL, tr, err);
}

static void seed(store *s) {
    struct error err;
    struct api_object *a = make_vm("0123456789abcdef", "alpha", 1);
    struct api_object *b = make_vm("fedcba9876543210", "beta", 2);
    assert_int_equal(store_object_put(s, a, &err), 0);
    assert_int_equal(store_object_put(s, b, &err), 0);
    api_object_free(a);
    api_object_free(b);
}

static void test_sql_results(void **state) {
    struct tctx *t = *state;
    seed(t->s);
    struct transcript tr = {STRBUF_INIT, 0, 0};
    struct error err;
    assert_int_equal(run(t->s,
                         "SELECT name, cpus FROM vms ORDER BY name;\n"
                         "  -- a comment between statements\n"
                         "SELECT 'a;b' AS s, 1.5 AS r, x'00ff' AS b, NULL AS n; ",
                         &tr, &err),
                     0);
    assert_string_equal(tr.sb.buf, "C name|cpus\n"
                                   "R T:alpha|I:2\n"
                                   "R T:beta|I:3\n"
                                   "E\n"
                                   "C s|r|b|n\n"
                                   "R T:a;b|R:1.5|B:00ff|N:NULL\n"
                                   "E\n");
    /* A sink callback's nonzero return stops and is returned. */
    tr.stop_after_rows = 1;
    assert_int_equal(run(t->s, "SELECT name FROM vms; SELECT 2", &tr, &err), 42);
    assert_string_equal(tr.sb.buf, "C name\nR T:alpha\n");
    tr.stop_after_rows = 0;
    /* Every view answers. */
    const char *views[] = {"vms", "images", "kernels", "pool_devices", "operations", "ip_leases"};
    for (size_t i = 0; i < ARRAY_SIZE(views); i++) {
        char sql[100];
        snprintf(sql, sizeof(sql), "SELECT * FROM %s", views[i]);
        if (run(t->s, sql, &tr, &err) != 0)
            fail_msg("%s: %s", sql, err.msg);
    }
    /* Reading PRAGMAs and table-valued pragma functions are fine. */
    assert_int_equal(run(t->s,
                         "PRAGMA user_version; PRAGMA table_info(vm); "
                         "SELECT count(*) FROM pragma_table_info('vm')",
                         &tr, &err),
                     0);
    /* Whitespace only runs nothing. */
    assert_int_equal(run(t->s, "  ;; -- nothing\n", &tr, &err), 0);
    assert_int_equal(tr.sb.len, 0);
    /* Syntax errors are -EINVAL with SQLite's words. */
    assert_int_equal(run(t->s, "SELEC 1", &tr, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "syntax error"));
    assert_int_equal(run(t->s, "SELECT * FROM nope", &tr, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "no such table"));
    strbuf_release(&tr.sb);
}

static void test_sql_refuses_writes(void **state) {
    struct tctx *t = *state;
    seed(t->s);
    struct transcript tr = {STRBUF_INIT, 0, 0};
    struct error err;
    int64_t schema = raw_int(t->s, "PRAGMA schema_version");
    int64_t total_changes = sqlite3_total_changes64(t->s->db);
    const char *bad[] = {
        "INSERT INTO vm_ip_addresses VALUES ('0123456789abcdef', 9, '1.2.3.4')",
        "DELETE FROM vm",
        "UPDATE vm SET cpus = 8",
        "DROP TABLE vm_ports",
        "DROP VIEW vms",
        "CREATE TABLE x (a)",
        "CREATE TEMP TABLE x (a)",
        "ALTER TABLE vm ADD COLUMN z",
        "REPLACE INTO journal (op) VALUES ('x')",
        "WITH d AS (SELECT 1) DELETE FROM vm",
        "SELECT 1; DELETE FROM vm",
        "SELECT name FROM vm; UPDATE vm SET name = 'x'; SELECT 3",
        "ATTACH DATABASE ':memory:' AS other",
        "DETACH DATABASE main",
        "PRAGMA user_version = 5",
        "PRAGMA foreign_keys = OFF",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = 1",
        "PRAGMA wal_checkpoint",
        "BEGIN",
        "SELECT 1; COMMIT",
        "SAVEPOINT a",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "SELECT load_extension('x')",
        "SELECT fts3_tokenizer('simple')",
        "SELECT hex(fts3_tokenizer('porter'))",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int r = run(t->s, bad[i], &tr, &err);
        if (r != -EPERM)
            fail_msg("'%s' gave %d (%s), want -EPERM", bad[i], r, err.msg);
        /* Nothing ran: not even a leading SELECT. */
        if (tr.sb.len != 0)
            fail_msg("'%s' produced output: %s", bad[i], tr.sb.buf);
        assert_non_null(strstr(err.msg, "read-only"));
    }
    /* A table-valued PRAGMA function compiles its PRAGMA as it runs: the same
     * list holds then, and the statements before it have run. */
    const char *late[] = {"SELECT * FROM pragma_optimize",
                          "SELECT 1; SELECT * FROM pragma_cache_size"};
    for (size_t i = 0; i < ARRAY_SIZE(late); i++) {
        int r = run(t->s, late[i], &tr, &err);
        if (r != -EPERM)
            fail_msg("'%s' gave %d (%s), want -EPERM", late[i], r, err.msg);
        assert_non_null(strstr(err.msg, "is refused: this PRAGMA is not allowed"));
    }
    assert_int_equal(
        run(t->s, "SELECT count(*) FROM pragma_table_info('vm') WHERE name = 'name'", &tr, &err),
        0);
    assert_string_equal(tr.sb.buf, "C count(*)\nR I:1\nE\n");
    /* The message names the statement that writes, trimmed. */
    assert_int_equal(run(t->s, "SELECT 1;\n   DELETE FROM vm  ;\n", &tr, &err), -EPERM);
    assert_string_equal(err.msg,
                        "statement 'DELETE FROM vm' would change the database: hearth sql is "
                        "read-only");
    assert_int_equal(run(t->s, "ATTACH ':memory:' AS x", &tr, &err), -EPERM);
    assert_non_null(strstr(err.msg, "ATTACH ':memory:' AS x"));

    /* Nothing changed. */
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 2);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm_ip_addresses"), 4);
    assert_int_equal(raw_int(t->s, "SELECT sum(cpus) FROM vm"), 5);
    assert_int_equal(raw_int(t->s, "PRAGMA user_version"), store_schema_latest());
    assert_int_equal(raw_int(t->s, "PRAGMA foreign_keys"), 1);
    assert_int_equal(raw_int(t->s, "PRAGMA query_only"), 0);
    assert_int_equal(raw_int(t->s, "PRAGMA schema_version"), schema);
    assert_int_equal(
        raw_int(t->s,
                "SELECT count(*) FROM pragma_database_list WHERE name NOT IN ('main', 'temp')"),
        0);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM temp.sqlite_schema"), 0);
    assert_true(sqlite3_get_autocommit(t->s->db));
    assert_true(sqlite3_total_changes64(t->s->db) == total_changes);
    /* And the connection still writes through the store. */
    struct api_object *c = make_vm("1111111111111111", "gamma", 3);
    assert_int_equal(store_object_put(t->s, c, &err), 0);
    api_object_free(c);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 3);
    strbuf_release(&tr.sb);
}

/* The reading PRAGMAs that SQLite does not count as read-only still run (journal_mode). */
static void test_sql_reading_pragmas(void **state) {
    struct tctx *t = *state;
    struct transcript tr = {STRBUF_INIT, 0, 0};
    struct error err;
    assert_int_equal(run(t->s, "PRAGMA journal_mode; PRAGMA main.journal_mode", &tr, &err), 0);
    assert_string_equal(tr.sb.buf, "C journal_mode\nR T:wal\nE\nC journal_mode\nR T:wal\nE\n");
    /* With a value it is refused, and the mode is unchanged. */
    assert_int_equal(run(t->s, "PRAGMA journal_mode = DELETE", &tr, &err), -EPERM);
    assert_int_equal(run(t->s, "PRAGMA journal_mode(DELETE)", &tr, &err), -EPERM);
    assert_int_equal(run(t->s, "PRAGMA journal_mode; PRAGMA user_version = 9", &tr, &err), -EPERM);
    assert_int_equal(tr.sb.len, 0);
    assert_int_equal(run(t->s, "PRAGMA journal_mode", &tr, &err), 0);
    assert_string_equal(tr.sb.buf, "C journal_mode\nR T:wal\nE\n");
    strbuf_release(&tr.sb);
}

/* SQLite's limits of the connection are what they were before a call. */
static void assert_limits_restored(store *s, int length, int sql_length) {
    assert_int_equal(sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1), length);
    assert_int_equal(sqlite3_limit(s->db, SQLITE_LIMIT_SQL_LENGTH, -1), sql_length);
    assert_true(sqlite3_hard_heap_limit64(-1) == 0);
    assert_int_equal(raw_int(s, "PRAGMA query_only"), 0);
}

static void test_sql_limits(void **state) {
    struct tctx *t = *state;
    seed(t->s);
    struct transcript tr = {STRBUF_INIT, 0, 0};
    struct error err;
    int length = sqlite3_limit(t->s->db, SQLITE_LIMIT_LENGTH, -1);
    int sql_length = sqlite3_limit(t->s->db, SQLITE_LIMIT_SQL_LENGTH, -1);
    assert_true(sqlite3_hard_heap_limit64(-1) == 0);

    /* Time: an endless recursive query stops at the deadline, with the limit named. */
    struct store_sql_limits lim = {.timeout_ms = 200};
    assert_int_equal(run_limited(t->s,
                                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                 "SELECT count(*) FROM c",
                                 &lim, &tr, &err),
                     -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "the query ran past the 200 ms limit"));
    assert_non_null(strstr(err.msg, "WITH RECURSIVE c(x)"));
    assert_limits_restored(t->s, length, sql_length);
    /* The deadline covers the whole call: rows already out, then the stop. */
    lim.timeout_ms = 1000;
    assert_int_equal(run_limited(t->s,
                                 "SELECT name FROM vms ORDER BY name; "
                                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                 "SELECT x FROM c WHERE x < 0",
                                 &lim, &tr, &err),
                     -ETIMEDOUT);
    assert_string_equal(tr.sb.buf, "C name\nR T:alpha\nR T:beta\nE\nC x\n");
    assert_non_null(strstr(err.msg, "the query ran past the 1 s limit"));
    /* 0 is no limit, and a query that ends is not stopped. */
    lim.timeout_ms = 0;
    assert_int_equal(run_limited(t->s,
                                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                                 "WHERE x < 100000) SELECT count(*) FROM c",
                                 &lim, &tr, &err),
                     0);
    assert_string_equal(tr.sb.buf, "C count(*)\nR I:100000\nE\n");

    /* One value: SQLITE_LIMIT_LENGTH, for text and blobs, computed or read. */
    lim = (struct store_sql_limits){.value_max = 1000};
    assert_int_equal(run_limited(t->s, "SELECT length(randomblob(1000))", &lim, &tr, &err), 0);
    assert_string_equal(tr.sb.buf, "C length(randomblob(1000))\nR I:1000\nE\n");
    assert_int_equal(run_limited(t->s, "SELECT randomblob(1001)", &lim, &tr, &err), -EFBIG);
    assert_non_null(
        strstr(err.msg, "makes a value larger than 1000 bytes, the limit for one value"));
    assert_int_equal(run_limited(t->s, "SELECT group_concat(name, printf('%999s', '')) FROM vms",
                                 &lim, &tr, &err),
                     -EFBIG);
    assert_int_equal(tr.rows, 0);
    assert_limits_restored(t->s, length, sql_length);
    /* The default is 16 MiB: a billion-byte blob fails at once. */
    assert_int_equal(run(t->s, "SELECT randomblob(1000000000)", &tr, &err), -EFBIG);
    assert_non_null(strstr(err.msg, "larger than 16 MiB"));
    assert_int_equal(run(t->s, "SELECT length(zeroblob(16777216))", &tr, &err), 0);
    assert_int_equal(run(t->s, "SELECT zeroblob(16777217)", &tr, &err), -EFBIG);

    /* One row: the bytes the sink would get (blobs as hex), checked before it gets them. */
    lim = (struct store_sql_limits){.row_max = 1000};
    assert_int_equal(run_limited(t->s, "SELECT printf('%500s', 'a') AS a, printf('%500s', 'b')",
                                 &lim, &tr, &err),
                     0);
    assert_int_equal(tr.rows, 1);
    assert_int_equal(run_limited(t->s,
                                 "SELECT 1 AS n UNION ALL SELECT 2; "
                                 "SELECT zeroblob(10), zeroblob(300), zeroblob(200)",
                                 &lim, &tr, &err),
                     -EFBIG);
    assert_string_equal(tr.sb.buf,
                        "C n\nR I:1\nR I:2\nE\nC zeroblob(10)|zeroblob(300)|zeroblob(200)\n");
    assert_non_null(strstr(err.msg, "gives a row larger than 1000 bytes, the limit for one row"));

    /* Memory: what SQLite builds before a row is seen. */
    lim = (struct store_sql_limits){.heap_max = 8 << 20};
    assert_int_equal(run_limited(t->s,
                                 "SELECT randomblob(3000000), randomblob(3000000), "
                                 "randomblob(3000000), randomblob(3000000)",
                                 &lim, &tr, &err),
                     -ENOMEM);
    assert_non_null(strstr(err.msg, "needs more than 8 MiB of memory"));
    assert_limits_restored(t->s, length, sql_length);
    assert_int_equal(run_limited(t->s, "SELECT length(randomblob(3000000))", &lim, &tr, &err), 0);

    /* After all of it the connection reads and writes as before. */
    assert_int_equal(run(t->s, "SELECT count(*) FROM vms", &tr, &err), 0);
    assert_string_equal(tr.sb.buf, "C count(*)\nR I:2\nE\n");
    assert_true(sqlite3_get_autocommit(t->s->db));
    struct api_object *c = make_vm("1111111111111111", "gamma", 3);
    assert_int_equal(store_object_put(t->s, c, &err), 0);
    api_object_free(c);
    strbuf_release(&tr.sb);
}

int run_sql_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sql_results, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_sql_refuses_writes, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_sql_reading_pragmas, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_sql_limits, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store sql", tests, NULL, NULL);
}
