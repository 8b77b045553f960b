/*
 * `hearth sql`: read-only SQL on the database through the engine, with the
 * results as an aligned table (header row, NULL printed as NULL), RFC 4180
 * CSV (header row, NULL as an empty field), JSON or YAML. Several statements
 * print one result each, in order: tables and CSV blocks separated by a blank
 * line; JSON one array of row objects per statement, one after another (a
 * stream that `jq` reads); YAML one document per statement.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_priv.h"

#define SQL_INPUT_MAX (16u << 20)

struct sql_out {
    enum cli_format fmt;
    struct cli_table table; /* table, csv */
    json_t *rows;           /* json, yaml */
    char **names;           /* json, yaml: the column names */
    int ncols;
    size_t results; /* statements with columns printed so far */
    struct strbuf out;
};

static void names_free(struct sql_out *o) {
    for (int i = 0; o->names && i < o->ncols; i++)
        free(o->names[i]);
    free(o->names);
    o->names = NULL;
}

static int sql_columns(void *ud, int ncols, const char *const *names) {
    struct sql_out *o = ud;
    o->ncols = ncols;
    if (ncols == 0)
        return 0;
    if (o->fmt == CLI_FMT_TABLE || o->fmt == CLI_FMT_CSV)
        return cli_table_init(&o->table, (size_t)ncols, names);
    o->rows = json_array();
    o->names = xcalloc((size_t)ncols, sizeof(*o->names));
    if (!o->rows || !o->names)
        return -ENOMEM;
    for (int i = 0; i < ncols; i++)
        if (!(o->names[i] = xstrdup(names[i] ? names[i] : "")))
            return -ENOMEM;
    return 0;
}

static json_t *value_json(const char *v, enum store_value_type type) {
    if (!v || type == STORE_NULL)
        return json_null();
    if (type == STORE_INTEGER)
        return json_integer(strtoll(v, NULL, 10));
    if (type == STORE_REAL)
        return json_real(strtod(v, NULL));
    return json_string(v);
}

static int sql_row(void *ud, int ncols, const char *const *values,
                   const enum store_value_type *types) {
    struct sql_out *o = ud;
    if (ncols != o->ncols || ncols == 0)
        return -EINVAL;
    if (o->fmt == CLI_FMT_TABLE || o->fmt == CLI_FMT_CSV) {
        const char *cells[ncols];
        for (int i = 0; i < ncols; i++)
            cells[i] = values[i] ? values[i] : (o->fmt == CLI_FMT_TABLE ? "NULL" : "");
        return cli_table_add(&o->table, cells);
    }
    json_t *row = json_object();
    if (!row)
        return -ENOMEM;
    for (int i = 0; i < ncols; i++) {
        if (json_object_set_new(row, o->names[i], value_json(values[i], types[i])) < 0) {
            json_decref(row);
            return -ENOMEM;
        }
    }
    return json_array_append_new(o->rows, row) < 0 ? -ENOMEM : 0;
}

static int sql_end(void *ud) {
    struct sql_out *o = ud;
    if (o->ncols == 0)
        return 0;
    int r = 0;
    if (o->results > 0 && (o->fmt == CLI_FMT_TABLE || o->fmt == CLI_FMT_CSV))
        r = strbuf_addc(&o->out, '\n');
    if (r == 0 && o->fmt == CLI_FMT_TABLE)
        r = cli_table_write(&o->table, &o->out);
    else if (r == 0 && o->fmt == CLI_FMT_CSV)
        r = cli_table_write_csv(&o->table, &o->out);
    else if (r == 0 && o->fmt == CLI_FMT_JSON) {
        char *s = json_dumps(o->rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        r = s ? strbuf_addf(&o->out, "%s\n", s) : -ENOMEM;
        free(s);
    } else if (r == 0) {
        if (o->results > 0)
            r = strbuf_adds(&o->out, "---\n");
        if (r == 0)
            r = api_yaml_dump(o->rows, &o->out);
    }
    cli_table_release(&o->table);
    json_decref(o->rows);
    o->rows = NULL;
    names_free(o);
    o->ncols = 0;
    o->results++;
    /* Print each statement's result as it completes. */
    if (r == 0 && o->out.len) {
        if (fwrite(o->out.buf, 1, o->out.len, stdout) != o->out.len)
            r = -EIO;
        strbuf_reset(&o->out);
    }
    return r;
}

int cmd_sql(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             (1u << CLI_FMT_TABLE) | (1u << CLI_FMT_CSV) | (1u << CLI_FMT_JSON) |
                                 (1u << CLI_FMT_YAML),
                             &fmt);
    if (r < 0)
        return r;

    _cleanup_strbuf_ struct strbuf sql = STRBUF_INIT;
    if (ctx->args.argc == 0 || strcmp(ctx->args.argv[0], "-") == 0) {
        r = strbuf_read_file(&sql, "-", SQL_INPUT_MAX, &ctx->err);
        if (r < 0)
            return r;
    } else {
        r = strbuf_adds(&sql, ctx->args.argv[0]);
        if (r < 0)
            return error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    if (!sql.buf || !*sql.buf)
        return cli_usage_error(ctx, "no SQL given");

    struct sql_out o = {.fmt = fmt, .out = STRBUF_INIT};
    struct store_sql_sink sink = {sql_columns, sql_row, sql_end, &o};
    r = engine_sql(ctx->eng, sql.buf, &sink, &ctx->err);
    if (r < 0 && ctx->err.code == 0)
        error_set(&ctx->err, r, "%s", r == -ENOMEM ? "out of memory" : "cannot write the result");
    cli_table_release(&o.table);
    json_decref(o.rows);
    names_free(&o);
    strbuf_release(&o.out);
    return r;
}
