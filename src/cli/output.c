/*
 * Output helpers of the CLI: the -o format names, aligned tables (the
 * layout of Go's tabwriter with a padding of 3, as Ignite and Docker print
 * them) and RFC 4180 CSV.
 */
#include <errno.h>
#include <string.h>

#include "cli/cli_priv.h"

static const char *const format_names[] = {
    [CLI_FMT_TABLE] = "table", [CLI_FMT_WIDE] = "wide", [CLI_FMT_JSON] = "json",
    [CLI_FMT_YAML] = "yaml",   [CLI_FMT_CSV] = "csv",
};

int cli_format_parse(struct cli_ctx *ctx, const char *s, unsigned allowed, enum cli_format *ret) {
    for (size_t i = 0; i < ARRAY_SIZE(format_names); i++) {
        if ((allowed & (1u << i)) && strcmp(s, format_names[i]) == 0) {
            *ret = (enum cli_format)i;
            return 0;
        }
    }
    char list[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
        if (allowed & (1u << i))
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "",
                                    format_names[i]);
    return cli_usage_error(ctx, "unknown output format '%s' (use %s)", s, list);
}

int cli_table_init(struct cli_table *t, size_t ncols, const char *const *header) {
    *t = (struct cli_table){.ncols = ncols};
    t->arena = arena_new();
    if (!t->arena)
        return -ENOMEM;
    return header ? cli_table_add(t, header) : 0;
}

const char *cli_table_intern(struct cli_table *t, const char *s, size_t len) {
    return t->arena ? arena_strndup(t->arena, s, len) : NULL;
}

/* Makes the row arrays hold alloc rows (more than now). */
static int table_resize(struct cli_table *t, size_t alloc) {
    if (t->ncols && alloc > SIZE_MAX / sizeof(*t->lens) / t->ncols)
        return -ENOMEM;
    const char **cells = xrealloc(t->cells, alloc * t->ncols * sizeof(*cells));
    if (!cells)
        return -ENOMEM;
    t->cells = cells;
    size_t *lens = xrealloc(t->lens, alloc * t->ncols * sizeof(*lens));
    if (!lens)
        return -ENOMEM;
    t->lens = lens;
    t->alloc_rows = alloc;
    return 0;
}

/* Makes room for one more row. */
static int table_grow(struct cli_table *t) {
    if (t->nrows < t->alloc_rows)
        return 0;
    return table_resize(t, t->alloc_rows ? t->alloc_rows * 2 : 16);
}

int cli_table_reserve(struct cli_table *t, size_t n) {
    if (n > SIZE_MAX - t->nrows)
        return -ENOMEM;
    if (t->nrows + n <= t->alloc_rows)
        return 0;
    return table_resize(t, t->nrows + n);
}

int cli_table_add_ref(struct cli_table *t, const char *const *cells) {
    if (table_grow(t) < 0)
        return -ENOMEM;
    const char **row = t->cells + t->nrows * t->ncols;
    size_t *lens = t->lens + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = cells[c] ? cells[c] : "";
        lens[c] = strlen(row[c]);
    }
    t->nrows++;
    return 0;
}

int cli_table_add(struct cli_table *t, const char *const *cells) {
    if (table_grow(t) < 0)
        return -ENOMEM;
    const char **row = t->cells + t->nrows * t->ncols;
    size_t *lens = t->lens + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *cell = cells[c] ? cells[c] : "";
        lens[c] = strlen(cell);
        row[c] = cli_table_intern(t, cell, lens[c]);
        if (!row[c])
            return -ENOMEM;
    }
    t->nrows++;
    return 0;
}

void cli_table_release(struct cli_table *t) {
    free(t->cells);
    free(t->lens);
    arena_free(t->arena);
    *t = (struct cli_table){0};
}

/*
 * Lays the table out as aligned text in one buffer sized exactly for it:
 * cells copied with memcpy, padding with memset. width (ncols entries) holds
 * the widths to pad to at least, and gets the table's own where they are
 * wider; NULL pads to the table's own. Caller frees *ret.
 */
static int table_render(const struct cli_table *t, size_t *width_io, char **ret, size_t *ret_len) {
    *ret = NULL;
    *ret_len = 0;
    if (t->ncols == 0 || t->nrows == 0)
        return 0;
    _cleanup_free_ size_t *own = width_io ? NULL : xcalloc(t->ncols, sizeof(*own));
    size_t *width = width_io ? width_io : own;
    if (!width)
        return -ENOMEM;
    for (size_t r = 0; r < t->nrows; r++) {
        const size_t *lens = t->lens + r * t->ncols;
        for (size_t c = 0; c < t->ncols; c++)
            if (lens[c] > width[c])
                width[c] = lens[c];
    }
    /* Trailing empty cells print nothing, so lines never end in blanks. */
    size_t total = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        const size_t *lens = t->lens + r * t->ncols;
        size_t last = t->ncols;
        while (last > 1 && lens[last - 1] == 0)
            last--;
        for (size_t c = 0; c + 1 < last; c++)
            total += width[c] + 3;
        total += lens[last - 1] + 1;
    }
    char *buf = xmalloc(total);
    if (!buf)
        return -ENOMEM;
    char *p = buf;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *const *cells = t->cells + r * t->ncols;
        const size_t *lens = t->lens + r * t->ncols;
        size_t last = t->ncols;
        while (last > 1 && lens[last - 1] == 0)
            last--;
        for (size_t c = 0; c + 1 < last; c++) {
            memcpy(p, cells[c], lens[c]);
            memset(p + lens[c], ' ', width[c] - lens[c] + 3);
            p += width[c] + 3;
        }
        memcpy(p, cells[last - 1], lens[last - 1]);
        p += lens[last - 1];
        *p++ = '\n';
    }
    *ret = buf;
    *ret_len = total;
    return 0;
}

int cli_table_write_widths(const struct cli_table *t, size_t *width, struct strbuf *out) {
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = table_render(t, width, &buf, &len);
    if (r < 0)
        return r;
    return len ? strbuf_add(out, buf, len) : 0;
}

void cli_table_clear(struct cli_table *t) {
    arena_clear(t->arena);
    t->nrows = 0;
}

int cli_table_write(const struct cli_table *t, struct strbuf *out) {
    return cli_table_write_widths(t, NULL, out);
}

int cli_table_print(struct cli_ctx *ctx, const struct cli_table *t, bool csv) {
    if (csv) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        if (cli_table_write_csv(t, &out) < 0)
            return error_oom(&ctx->err);
        return cli_write_out(ctx, &out);
    }
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (table_render(t, NULL, &buf, &len) < 0)
        return error_oom(&ctx->err);
    if (len && fwrite(buf, 1, len, stdout) != len)
        return error_set(&ctx->err, -EIO, "cannot write the output: %s", strerror(errno));
    return 0;
}

int cli_table_finish(struct cli_ctx *ctx, struct cli_table *t, int r, bool csv) {
    r = r < 0 ? error_oom(&ctx->err) : cli_table_print(ctx, t, csv);
    cli_table_release(t);
    return r;
}

int cli_csv_field(struct strbuf *out, const char *s) {
    if (!s)
        s = "";
    if (!strpbrk(s, ",\"\r\n"))
        return strbuf_adds(out, s);
    int r = strbuf_addc(out, '"');
    for (const char *p = s; *p && r == 0; p++)
        r = *p == '"' ? strbuf_adds(out, "\"\"") : strbuf_addc(out, *p);
    return r < 0 ? r : strbuf_addc(out, '"');
}

int cli_table_write_csv(const struct cli_table *t, struct strbuf *out) {
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            int rc = c ? strbuf_addc(out, ',') : 0;
            if (rc == 0)
                rc = cli_csv_field(out, t->cells[r * t->ncols + c]);
            if (rc < 0)
                return rc;
        }
        int rc = strbuf_adds(out, "\r\n");
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- commands over their arguments ------------------------------------ */

int cli_for_each_arg(struct cli_ctx *ctx,
                     int (*fn)(struct cli_ctx *ctx, const char *arg, struct error *err)) {
    int failures = 0, last = 0;
    for (int i = 0; i < ctx->args.argc; i++) {
        struct error err;
        error_init(&err);
        int r = fn(ctx, ctx->args.argv[i], &err);
        if (r < 0) {
            cli_print_error(err.msg);
            failures++;
            last = r;
            continue;
        }
        if (!ctx->quiet)
            printf("%s\n", ctx->args.argv[i]);
    }
    if (failures)
        return error_set(&ctx->err, last, "%s", ""); /* each failure was printed above */
    return 0;
}

/* Writes a JSON value as JSON or YAML to stdout and drops it. */
int cli_write_json(struct cli_ctx *ctx, json_t *v, enum cli_format fmt) {
    if (!v)
        return error_oom(&ctx->err);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    int r;
    if (fmt == CLI_FMT_JSON) {
        char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        r = s ? strbuf_addf(&sb, "%s\n", s) : -ENOMEM;
        free(s);
    } else {
        r = api_yaml_dump(v, &sb);
    }
    json_decref(v);
    if (r < 0)
        return error_oom(&ctx->err);
    return cli_write_out(ctx, &sb);
}
