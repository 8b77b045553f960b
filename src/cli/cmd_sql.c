/*
 * `hearth sql`: read-only SQL on the database through the engine, with the
 * results as an aligned table (header row, NULL printed as NULL), RFC 4180
 * CSV (header row, NULL as an empty field), JSON or YAML. Several statements
 * print one result each, in order: tables and CSV blocks separated by a blank
 * line; JSON one array of row objects per statement, one after another (a
 * stream that `jq` reads); YAML one document per statement.
 *
 * Every format streams: a row is written as it comes (the table a block of
 * rows at a time, aligned with the blocks before it), so memory does not
 * grow with the number of rows. The limits (--timeout, the size of a value
 * and of a row) are the engine's (engine_sql_limits_default).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_priv.h"

#define SQL_INPUT_MAX (16u << 20)
#define SQL_TIMEOUT_MAX 1000000          /* seconds --timeout takes at most */
#define SQL_TABLE_BLOCK_ROWS 1000        /* a table is laid out this many rows at a time */
#define SQL_TABLE_BLOCK_BYTES (1u << 20) /* or when its cells reach this size */
#define SQL_FLUSH_BYTES (64u << 10)      /* pending output is written past this size */

struct sql_out {
    enum cli_format fmt;
    struct cli_table table; /* table: the rows of the block being filled */
    size_t *width;          /* table: the column widths so far */
    size_t block_bytes;     /* table: bytes of the cells in the block */
    json_t *rows;           /* yaml: the one row being written, as a sequence */
    char **names;           /* json, yaml: the column names */
    int ncols;
    size_t rows_done; /* rows of the statement written so far */
    size_t results;   /* statements with columns printed so far */
    struct strbuf out;
};

static void names_free(struct sql_out *o) {
    for (int i = 0; o->names && i < o->ncols; i++)
        free(o->names[i]);
    free(o->names);
    o->names = NULL;
}

/* Writes the pending output to stdout. */
static int flush_out(struct sql_out *o) {
    if (o->out.len && fwrite(o->out.buf, 1, o->out.len, stdout) != o->out.len)
        return -EIO;
    strbuf_reset(&o->out);
    return 0;
}

static int sql_columns(void *ud, int ncols, const char *const *names) {
    struct sql_out *o = ud;
    o->ncols = ncols;
    o->rows_done = 0;
    if (ncols == 0)
        return 0;
    int r = 0;
    /* What separates this result from the one before. */
    if (o->results > 0 && (o->fmt == CLI_FMT_TABLE || o->fmt == CLI_FMT_CSV))
        r = strbuf_addc(&o->out, '\n');
    else if (o->results > 0 && o->fmt == CLI_FMT_YAML)
        r = strbuf_adds(&o->out, "---\n");
    if (r < 0)
        return r;
    if (o->fmt == CLI_FMT_TABLE) {
        o->width = xcalloc((size_t)ncols, sizeof(*o->width));
        o->block_bytes = 0;
        return o->width ? cli_table_init(&o->table, (size_t)ncols, names) : -ENOMEM;
    }
    if (o->fmt == CLI_FMT_CSV) {
        for (int i = 0; i < ncols && r == 0; i++) {
            r = i ? strbuf_addc(&o->out, ',') : 0;
            if (r == 0)
                r = cli_csv_field(&o->out, names[i]);
        }
        return r < 0 ? r : strbuf_adds(&o->out, "\r\n");
    }
    o->names = xcalloc((size_t)ncols, sizeof(*o->names));
    if (!o->names)
        return -ENOMEM;
    for (int i = 0; i < ncols; i++)
        if (!(o->names[i] = xstrdup(names[i] ? names[i] : "")))
            return -ENOMEM;
    if (o->fmt == CLI_FMT_YAML && !(o->rows = json_array()))
        return -ENOMEM;
    return 0;
}

static json_t *value_json(const char *v, enum engine_value_type type) {
    if (!v || type == ENGINE_VALUE_NULL)
        return json_null();
    if (type == ENGINE_VALUE_INTEGER)
        return json_integer(strtoll(v, NULL, 10));
    if (type == ENGINE_VALUE_REAL)
        return json_real(strtod(v, NULL));
    return json_string(v);
}

/* The row as an object of column names (in order) and typed values; NULL on OOM. */
static json_t *row_object(const struct sql_out *o, const char *const *values,
                          const enum engine_value_type *types) {
    json_t *row = json_object();
    if (!row)
        return NULL;
    for (int i = 0; i < o->ncols; i++) {
        if (json_object_set_new(row, o->names[i], value_json(values[i], types[i])) < 0) {
            json_decref(row);
            return NULL;
        }
    }
    return row;
}

/*
 * One element of the JSON array: "[\n" before the first, ",\n" between, the
 * object indented by two more spaces, as json_dumps writes a whole array.
 */
static int json_row(struct sql_out *o, json_t *row) {
    char *s = json_dumps(row, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
        return -ENOMEM;
    int r = strbuf_adds(&o->out, o->rows_done ? ",\n" : "[\n");
    for (const char *line = s; r == 0 && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        r = strbuf_adds(&o->out, "  ");
        if (r == 0)
            r = strbuf_add(&o->out, line, len);
        if (r == 0 && nl)
            r = strbuf_addc(&o->out, '\n');
        line += len + (nl ? 1 : 0);
    }
    free(s);
    return r;
}

/* Writes the table's block, aligned with the blocks before, and starts a new one. */
static int table_flush(struct sql_out *o) {
    int r = cli_table_write_widths(&o->table, o->width, &o->out);
    cli_table_clear(&o->table);
    o->block_bytes = 0;
    return r;
}

static int sql_row(void *ud, int ncols, const char *const *values,
                   const enum engine_value_type *types) {
    struct sql_out *o = ud;
    if (ncols != o->ncols || ncols == 0)
        return -EINVAL;
    int r = 0;
    if (o->fmt == CLI_FMT_TABLE) {
        const char *cells[ncols];
        for (int i = 0; i < ncols; i++) {
            cells[i] = values[i] ? values[i] : "NULL";
            o->block_bytes += strlen(cells[i]);
        }
        r = cli_table_add(&o->table, cells);
        if (r == 0 &&
            (o->table.nrows >= SQL_TABLE_BLOCK_ROWS || o->block_bytes >= SQL_TABLE_BLOCK_BYTES))
            r = table_flush(o);
    } else if (o->fmt == CLI_FMT_CSV) {
        for (int i = 0; i < ncols && r == 0; i++) {
            r = i ? strbuf_addc(&o->out, ',') : 0;
            if (r == 0)
                r = cli_csv_field(&o->out, values[i]);
        }
        if (r == 0)
            r = strbuf_adds(&o->out, "\r\n");
    } else {
        json_t *row = row_object(o, values, types);
        if (!row)
            return -ENOMEM;
        if (o->fmt == CLI_FMT_JSON) {
            r = json_row(o, row);
            json_decref(row);
        } else {
            /* A sequence of one: libyaml writes "- " and the mapping, as it
             * would for that element of the whole sequence. */
            r = json_array_append_new(o->rows, row) < 0 ? -ENOMEM : 0;
            if (r == 0)
                r = api_yaml_dump(o->rows, &o->out);
            json_array_clear(o->rows);
        }
    }
    if (r < 0)
        return r;
    o->rows_done++;
    return o->out.len >= SQL_FLUSH_BYTES ? flush_out(o) : 0;
}

static int sql_end(void *ud) {
    struct sql_out *o = ud;
    if (o->ncols == 0)
        return 0;
    int r = 0;
    if (o->fmt == CLI_FMT_TABLE)
        r = table_flush(o);
    else if (o->fmt == CLI_FMT_JSON)
        r = strbuf_adds(&o->out, o->rows_done ? "\n]\n" : "[]\n");
    else if (o->fmt == CLI_FMT_YAML && o->rows_done == 0)
        r = api_yaml_dump(o->rows, &o->out); /* the empty sequence */
    cli_table_release(&o->table);
    free(o->width);
    o->width = NULL;
    json_decref(o->rows);
    o->rows = NULL;
    names_free(o);
    o->ncols = 0;
    o->results++;
    /* Each statement's result is out before the next one runs. */
    return r < 0 ? r : flush_out(o);
}

int cmd_sql(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             (1u << CLI_FMT_TABLE) | (1u << CLI_FMT_CSV) | (1u << CLI_FMT_JSON) |
                                 (1u << CLI_FMT_YAML),
                             &fmt);
    if (r < 0)
        return r;
    struct engine_sql_limits limits;
    engine_sql_limits_default(&limits);
    const char *t = cli_flag_value(ctx, "timeout", NULL);
    uint64_t seconds = 0;
    if (t) {
        if (cli_flag_u64(ctx, "timeout", t, 0, SQL_TIMEOUT_MAX, &seconds) < 0)
            return -EINVAL;
        limits.timeout_ms = (unsigned)seconds * 1000u;
    }

    _cleanup_strbuf_ struct strbuf sql = STRBUF_INIT;
    if (ctx->args.argc == 0 || strcmp(ctx->args.argv[0], "-") == 0) {
        r = strbuf_read_file(&sql, "-", SQL_INPUT_MAX, &ctx->err);
        if (r < 0)
            return r;
    } else {
        r = strbuf_adds(&sql, ctx->args.argv[0]);
        if (r < 0)
            return error_oom(&ctx->err);
    }
    if (!sql.buf || !*sql.buf)
        return cli_usage_error(ctx, "no SQL given");

    struct sql_out o = {.fmt = fmt, .out = STRBUF_INIT};
    struct engine_sql_sink sink = {sql_columns, sql_row, sql_end, &o};
    r = engine_sql(ctx->eng, sql.buf, &limits, &sink, &ctx->err);
    if (r < 0 && ctx->err.code == 0)
        error_set(&ctx->err, r, "%s", r == -ENOMEM ? "out of memory" : "cannot write the result");
    if (r == -ETIMEDOUT) {
        size_t len = strlen(ctx->err.msg);
        snprintf(ctx->err.msg + len, sizeof(ctx->err.msg) - len,
                 "; give more time with --timeout SECONDS (0 for no limit)");
    }
    cli_table_release(&o.table);
    free(o.width);
    json_decref(o.rows);
    names_free(&o);
    strbuf_release(&o.out);
    return r;
}
