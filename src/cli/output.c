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
    return header ? cli_table_add(t, header) : 0;
}

int cli_table_add(struct cli_table *t, const char *const *cells) {
    if (t->nrows == t->alloc_rows) {
        size_t alloc = t->alloc_rows ? t->alloc_rows * 2 : 16;
        char **grown = xrealloc(t->cells, alloc * t->ncols * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        t->cells = grown;
        t->alloc_rows = alloc;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = xstrdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

void cli_table_release(struct cli_table *t) {
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    *t = (struct cli_table){0};
}

int cli_table_write(const struct cli_table *t, struct strbuf *out) {
    if (t->ncols == 0)
        return 0;
    _cleanup_free_ size_t *width = xcalloc(t->ncols, sizeof(*width));
    if (!width)
        return -ENOMEM;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = strlen(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        /* Trailing empty cells print nothing, so lines never end in blanks. */
        size_t last = t->ncols;
        while (last > 1 && t->cells[r * t->ncols + last - 1][0] == '\0')
            last--;
        for (size_t c = 0; c < last; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            int rc = c + 1 < last ? strbuf_addf(out, "%-*s   ", (int)width[c], cell)
                                  : strbuf_adds(out, cell);
            if (rc < 0)
                return rc;
        }
        int rc = strbuf_addc(out, '\n');
        if (rc < 0)
            return rc;
    }
    return 0;
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
