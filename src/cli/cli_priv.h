/*
 * The CLI's internals shared by its source files: the command table's types,
 * parsed arguments, the context a handler runs in, and the output helpers
 * (aligned tables, CSV, format names).
 */
#ifndef HEARTH_CLI_PRIV_H
#define HEARTH_CLI_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "api/api.h"
#include "engine/engine.h"
#include "util/util.h"

#define CLI_FLAGS_MAX 24  /* flags of one command */
#define CLI_VALUES_MAX 64 /* values of one repeatable flag */

/*
 * What a positional argument or a flag's value is, so that the completion
 * scripts (completion.c) offer the right words.
 */
enum cli_arg {
    CLI_ARG_NONE,      /* nothing to offer */
    CLI_ARG_VM,        /* VM names, from the database */
    CLI_ARG_IMAGE,     /* image names */
    CLI_ARG_KERNEL,    /* kernel names */
    CLI_ARG_KIND_NAME, /* inspect: vm, image or kernel, then a name of that kind */
    CLI_ARG_COMMAND,   /* help: a command */
    CLI_ARG_FILE,      /* a file */
    CLI_ARG_DIR,       /* a directory */
};

/* A command's flag: "-a, --all" or "-o, --output FORMAT". */
struct cli_flag {
    char short_name;       /* 0 if none */
    const char *long_name; /* without the dashes */
    const char *arg;       /* NULL for a switch, else the value's name in help ("FORMAT") */
    bool repeat;           /* may be given several times, values collected */
    const char *help;
    bool optional; /* the value is optional and only given as --name=VALUE ("--ssh[=PUBKEY]") */
    const char *values; /* the words the value may be, space-separated ("json yaml"); NULL */
    enum cli_arg offer; /* else what completion offers for the value */
};

struct cli_args {
    char **argv; /* positional arguments (points into the process's argv) */
    int argc;
    int count[CLI_FLAGS_MAX];                          /* how often each flag was given */
    const char *values[CLI_FLAGS_MAX][CLI_VALUES_MAX]; /* their values, in order */
};

struct cli_ctx;

#define CLI_ALIASES_MAX 3

/*
 * A row of the command table (cli.c). The help, the hearth(1) man page, the
 * completion scripts and the docs test all read it.
 */
struct cli_command {
    const char *name;                     /* "ps", or "image ls" for a group's subcommand */
    const char *aliases[CLI_ALIASES_MAX]; /* other names of the same command ("vm ps"); NULL */
    int (*handler)(struct cli_ctx *ctx);
    const char *usage; /* what follows the name in "Usage: hearth NAME ..." */
    const char *summary;
    int min_args, max_args;       /* positional arguments; max -1 for no limit */
    const struct cli_flag *flags; /* ends with a {0} entry; NULL for none */
    int data;                     /* the handler's own: a kind, or a variant */
    bool engine;                  /* the dispatcher opens the engine first */
    /* The command only reads: when the root cannot be written (a full or
     * read-only filesystem, another user's root) the engine is opened
     * read-only (engine_open_reading) and a notice says so; not when the
     * flag reads_unless names is given (doctor --repair). */
    bool reads;
    const char *reads_unless;
    enum cli_arg args;      /* what the positional arguments are (completion) */
    const char *arg_values; /* else the words they may be, space-separated; NULL */
    bool hidden;            /* hearth's own plumbing: not in help, man page, completion */
    /* Flags end after this many positional arguments (0: never): what follows is a command
     * with flags of its own (exec VM CMD [ARG]...); a "--" right there is skipped. */
    int flags_end_after;
};

/* A group of commands ("vm ls", "vm rm"...); without a subcommand it runs its default. */
struct cli_group {
    const char *name;    /* "vm" */
    const char *alias;   /* another name of the group ("vms", as Ignite), or NULL */
    const char *summary; /* for help */
    const char *dflt;    /* the command run without a subcommand ("vm ls"), or NULL for help */
};

/* The tables (cli.c): commands in help order, groups, and the global options. */
extern const struct cli_command cli_commands[];
extern const size_t cli_n_commands;
extern const struct cli_group cli_groups[];
extern const size_t cli_n_groups;
extern const struct cli_flag cli_global_flags[]; /* ends with a {0} entry */

/* The group called word (its name or alias), or NULL. */
const struct cli_group *cli_group_find(const char *word);
/*
 * The command called name: its name or an alias ("vm list"), the group part
 * by the group's alias too ("vms ls"). NULL when none. *ret_name (may be
 * NULL) is the name as the table spells it: the alias when it was one.
 */
const struct cli_command *cli_command_find(const char *name, const char **ret_name);
/* The root directory: --root, $HEARTH_ROOT, then the defaults (docs/cli.md). Caller frees. */
int cli_root_resolve(char **ret, struct error *err) WUR;
/*
 * When opening the root failed for want of rights or on a read-only
 * filesystem (err's code -EACCES, -EPERM, -EROFS or -ENOENT) and the root (or the
 * database in it) cannot be written by this user, replaces err's message
 * with one that names the owner and suggests --root or sudo (or names the
 * read-only filesystem); else leaves err alone.
 */
void cli_root_explain(const char *root, struct error *err);

/* What a handler gets. */
struct cli_ctx {
    const struct cli_command *cmd;
    const char *name; /* what the command was called: its name or an alias ("vm ps") */
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
/* The number s given to --flag, from min to max; else a usage error naming the flag. */
int cli_flag_u64(struct cli_ctx *ctx, const char *flag, const char *s, uint64_t min, uint64_t max,
                 uint64_t *ret) WUR;
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
struct cli_table {
    size_t ncols;
    const char **cells; /* row-major; into the arena or borrowed, never NULL */
    size_t *lens;       /* strlen of each cell */
    size_t nrows;
    size_t alloc_rows;
    struct arena *arena; /* owned: copies made by cli_table_add and cli_table_intern */
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
/*
 * Aligned text with every column at least width[c] wide (t->ncols entries);
 * width grows to the widest cell. For a table written block by block, with
 * cli_table_clear between blocks: columns line up with the blocks before.
 */
int cli_table_write_widths(const struct cli_table *t, size_t *width, struct strbuf *out) WUR;
/* Drops every row (the header too) and the copies behind them, keeping the columns. */
void cli_table_clear(struct cli_table *t);
/* RFC 4180: CRLF line ends, fields quoted when they hold , " CR or LF. */
int cli_table_write_csv(const struct cli_table *t, struct strbuf *out) WUR;
/* Writes the table (aligned text, or CSV when csv) to stdout with one write. */
int cli_table_print(struct cli_ctx *ctx, const struct cli_table *t, bool csv) WUR;
/*
 * Ends a table whose building returned r (0, or -ENOMEM from cli_table_init,
 * _reserve or _add): prints it (cli_table_print) when r is 0, else sets the
 * out-of-memory error; releases t either way. Returns the result.
 */
int cli_table_finish(struct cli_ctx *ctx, struct cli_table *t, int r, bool csv) WUR;
/* Writes a JSON value as JSON or YAML (fmt) to stdout and drops it; NULL is out of memory. */
int cli_write_json(struct cli_ctx *ctx, json_t *v, enum cli_format fmt) WUR;
/* Appends one CSV field (quoted when needed). */
int cli_csv_field(struct strbuf *out, const char *s) WUR;

/*
 * Runs fn on each argument (rm, stop, kill...): each failure printed and the
 * others still done, each success's argument printed unless -q. The last
 * failure's code, with an empty message (each was printed), or 0.
 */
int cli_for_each_arg(struct cli_ctx *ctx,
                     int (*fn)(struct cli_ctx *ctx, const char *arg, struct error *err)) WUR;

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
int cmd_network_create(struct cli_ctx *ctx);
int cmd_network_ls(struct cli_ctx *ctx);
int cmd_network_rm(struct cli_ctx *ctx);
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
int cmd_exec(struct cli_ctx *ctx);
int cmd_ssh(struct cli_ctx *ctx);
int cmd_cp(struct cli_ctx *ctx); /* cmd_cp.c; exit 255 when the connection fails, 130 cancelled */
/*
 * The flags exec, ssh and cp share (-i, --timeout, --accept-new-host-key)
 * into o, with notices printed unless -q (cmd_ssh.c); -EINVAL, said, for a
 * bad --timeout.
 */
int cli_ssh_opts_from_flags(struct cli_ctx *ctx, struct engine_vm_ssh_opts *o) WUR;
/*
 * A cp argument: VM:PATH when there is a ':' and what comes before it is
 * not empty and has no '/' (as docker cp reads it; "./a:b" is a host
 * path). 1 with the VM in vm and *ret_path after the ':', 0 for a host
 * path, -ENAMETOOLONG when the VM part does not fit in vm.
 */
int cli_cp_split(const char *arg, char *vm, size_t size, const char **ret_path) WUR;
/*
 * Waits until the running VM vm answers SSH (run --ssh, start --ssh-wait),
 * with a progress line on stderr while it does not; timeout_s bounds it.
 */
int cli_ssh_wait(struct cli_ctx *ctx, const char *vm, int timeout_s, struct error *err);
int cmd_dash(struct cli_ctx *ctx);       /* src/cli/cmd_dash.c: the dashboard */
int cmd_help(struct cli_ctx *ctx);       /* help.c */
int cmd_version(struct cli_ctx *ctx);    /* help.c */
int cmd_man(struct cli_ctx *ctx);        /* man.c: `hearth __man`, the hearth(1) page */
int cmd_completion(struct cli_ctx *ctx); /* completion.c: the scripts */
int cmd_complete(struct cli_ctx *ctx);   /* completion.c: `hearth __complete KIND`, names */

/* The completion script for shell ("bash", "zsh", "fish"), appended to out;
 * -EINVAL for another shell, -ENOMEM. */
int cli_completion_script(const char *shell, struct strbuf *out) WUR;
/* The hearth(1) man page (roff), appended to out; date as "2024-05-01". -ENOMEM. */
int cli_man_page(const char *date, struct strbuf *out) WUR;

/* ---- help (help.c) ------------------------------------------------------- */

void cli_print_program_help(FILE *f);
/* The help of cmd, called name (its own or an alias). */
void cli_print_command_help(FILE *f, const struct cli_command *cmd, const char *name);
void cli_print_group_help(FILE *f, const struct cli_group *g);
/* "-o, --output FORMAT", "    --ssh[=PUBKEY]": a flag as help and the man page show it. */
void cli_flag_format(const struct cli_flag *fl, char *buf, size_t size);

/* ---- templates (template.c) ---------------------------------------------- */

/*
 * A small subset of Go's text/template, as Ignite's -t/--template and
 * Docker's --format take it, over a JSON document (an object as
 * `inspect -o json` prints it):
 *
 *   literal text     copied; \t, \n and \\ typed on a command line become
 *                    a tab, a newline and a backslash
 *   {{.a.b}}         the value at that path: a string as it is, a number or
 *                    boolean as JSON writes it, null as "<nil>", an object or
 *                    array as compact JSON; a missing field "<no value>"
 *   {{.}}            the whole document, as compact JSON
 *   {{json .a.b}}    the value as compact JSON (strings quoted)
 *   {{- and -}}      trim the blanks before or after the action, as Go does
 *
 * Anything else in an action (other functions, pipelines, variables, if,
 * range) is an error naming its position (1-based, in bytes).
 */
struct cli_template;
/* Parses src; -EINVAL with "template: position N: ..." in err. Caller frees *ret. */
int cli_template_parse(const char *src, struct cli_template **ret, struct error *err) WUR;
void cli_template_free(struct cli_template *t);
/* Appends the template's output for doc to out; -EINVAL (a field of a string,
 * say) with the position in err, -ENOMEM. */
int cli_template_exec(const struct cli_template *t, const json_t *doc, struct strbuf *out,
                      struct error *err) WUR;

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
