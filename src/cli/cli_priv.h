/*
 * The CLI's internals shared by its source files: the command table's types,
 * parsed arguments, the context a handler runs in, and the output helpers
 * (aligned tables, CSV, format names).
 */
#ifndef HEARTH_CLI_PRIV_H
#define HEARTH_CLI_PRIV_H

#include <stdbool.h>
#include <stdio.h>

#include "api/api.h"
#include "engine/engine.h"
#include "util/util.h"

#define CLI_FLAGS_MAX 24  /* flags of one command */
#define CLI_VALUES_MAX 64 /* values of one repeatable flag */

/* A command's flag: "-a, --all" or "-o, --output FORMAT". */
struct cli_flag {
    char short_name;       /* 0 if none */
    const char *long_name; /* without the dashes */
    const char *arg;       /* NULL for a switch, else the value's name in help ("FORMAT") */
    bool repeat;           /* may be given several times, values collected */
    const char *help;
    bool optional; /* the value is optional and only given as --name=VALUE ("--ssh[=PUBKEY]") */
};

struct cli_args {
    char **argv; /* positional arguments (points into the process's argv) */
    int argc;
    int count[CLI_FLAGS_MAX];                          /* how often each flag was given */
    const char *values[CLI_FLAGS_MAX][CLI_VALUES_MAX]; /* their values, in order */
};

struct cli_ctx;

struct cli_command {
    const char *name; /* "ps", or "image ls" for a group's subcommand */
    int (*handler)(struct cli_ctx *ctx);
    const char *usage; /* what follows the name in "Usage: hearth NAME ..." */
    const char *summary;
    int min_args, max_args;       /* positional arguments; max -1 for no limit */
    const struct cli_flag *flags; /* ends with a {0} entry; NULL for none */
    int data;                     /* the handler's own: a kind */
    bool engine;                  /* the dispatcher opens the engine first */
};

/* What a handler gets. */
struct cli_ctx {
    const struct cli_command *cmd;
    struct cli_args args;
    engine *eng; /* open when cmd->engine */
    bool quiet;  /* -q/--quiet */
    struct error err;
    bool usage_error; /* set by cli_usage_error: exit 2 */
    int exit_status;  /* a successful handler's own exit status (doctor: 3, 4); 0 by default */
};

/* The flag's values. */
bool cli_flag_given(const struct cli_ctx *ctx, const char *long_name);
/* The flag's last value, or def when not given. */
const char *cli_flag_value(const struct cli_ctx *ctx, const char *long_name, const char *def);
/* All values of a repeatable flag. */
const char *const *cli_flag_values(const struct cli_ctx *ctx, const char *long_name, int *ret_n);

/* Records a usage error (exit 2); returns -EINVAL for `return cli_usage_error(...)`. */
int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...) PRINTF(2, 3);
/* Prints "hearth: error: message" on stderr. */
void cli_print_error(const char *msg);

/* ---- output ------------------------------------------------------------ */

enum cli_format { CLI_FMT_TABLE, CLI_FMT_WIDE, CLI_FMT_JSON, CLI_FMT_YAML, CLI_FMT_CSV };

/* Parses the -o value among the allowed formats (a bit mask of 1 << format);
 * a usage error naming the allowed ones otherwise. */
int cli_format_parse(struct cli_ctx *ctx, const char *s, unsigned allowed,
                     enum cli_format *ret) WUR;

/*
 * An aligned table like Go's tabwriter with padding 3, or CSV. Cells are
 * pointers: cli_table_add copies its strings into the table's arena (a few
 * large blocks, not one allocation per cell), cli_table_add_ref borrows them.
 */
struct cli_arena;
struct cli_table {
    size_t ncols;
    const char **cells; /* row-major; into the arena or borrowed, never NULL */
    size_t *lens;       /* strlen of each cell */
    size_t nrows;
    size_t alloc_rows;
    struct cli_arena *arena; /* owned: copies made by cli_table_add and cli_table_intern */
};
int cli_table_init(struct cli_table *t, size_t ncols, const char *const *header) WUR;
/* Makes room for n more rows at once (a hint: rows are added one by one either way). */
int cli_table_reserve(struct cli_table *t, size_t n) WUR;
/* Adds a row of t->ncols cells (NULL prints as empty), copying them. */
int cli_table_add(struct cli_table *t, const char *const *cells) WUR;
/* Adds a row of t->ncols cells without copying: they must outlive the table. */
int cli_table_add_ref(struct cli_table *t, const char *const *cells) WUR;
/* A copy of s[0..len) (NUL-terminated) owned by the table, for cli_table_add_ref; NULL on OOM. */
const char *cli_table_intern(struct cli_table *t, const char *s, size_t len) WUR;
void cli_table_release(struct cli_table *t);
/* Aligned text: columns separated by at least 3 spaces, no trailing blanks. */
int cli_table_write(const struct cli_table *t, struct strbuf *out) WUR;
/* RFC 4180: CRLF line ends, fields quoted when they hold , " CR or LF. */
int cli_table_write_csv(const struct cli_table *t, struct strbuf *out) WUR;
/* Writes the table (aligned text, or CSV when csv) to stdout with one write. */
int cli_table_print(struct cli_ctx *ctx, const struct cli_table *t, bool csv) WUR;
/* Appends one CSV field (quoted when needed). */
int cli_csv_field(struct strbuf *out, const char *s) WUR;

/* Writes the buffer to stdout; -EIO with a message on a write error. */
int cli_write_out(struct cli_ctx *ctx, const struct strbuf *sb) WUR;

/* ---- handlers ---------------------------------------------------------- */

int cmd_apply(struct cli_ctx *ctx);
int cmd_ps(struct cli_ctx *ctx);
int cmd_ls(struct cli_ctx *ctx); /* image ls, kernel ls: data is the kind */
int cmd_inspect(struct cli_ctx *ctx);
int cmd_export(struct cli_ctx *ctx);
int cmd_rm(struct cli_ctx *ctx); /* data is the kind */
int cmd_sql(struct cli_ctx *ctx);
int cmd_pool_init(struct cli_ctx *ctx);
int cmd_pool_status(struct cli_ctx *ctx);
int cmd_pool_ls(struct cli_ctx *ctx);
int cmd_doctor(struct cli_ctx *ctx);        /* exit 0 clean, 3 all repaired, 4 problems left */
int cmd_image_import(struct cli_ctx *ctx);  /* exit 130 when cancelled */
int cmd_kernel_import(struct cli_ctx *ctx); /* exit 130 when cancelled */
int cmd_create(struct cli_ctx *ctx);        /* create and run: data 1 for run */
int cmd_start(struct cli_ctx *ctx);
int cmd_stop(struct cli_ctx *ctx);
int cmd_kill(struct cli_ctx *ctx);
int cmd_logs(struct cli_ctx *ctx);
int cmd_attach(struct cli_ctx *ctx);
int cmd_dash(struct cli_ctx *ctx); /* src/cli/cmd_dash.c: the dashboard */

/* ---- imports (cmd_image.c), shared with create and run ------------------ */

/*
 * The state of an import's front end: a `docker pull`-like progress display
 * on a terminal, and SIGINT/SIGTERM caught into the engine's cancel flag.
 * cli_import_begin fills o from the import flags (--insecure-registry,
 * --registry-config-dir) and starts catching the signals; cli_import_end
 * restores them. NULL on OOM.
 */
struct cli_import;
struct cli_import *cli_import_begin(struct cli_ctx *ctx, struct engine_import_opts *o);
void cli_import_end(struct cli_import *ci);
/* True once SIGINT or SIGTERM arrived during the import. */
bool cli_import_cancelled(void);

#endif
