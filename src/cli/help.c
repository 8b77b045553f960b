/*
 * What hearth says about itself: `hearth --help`, a command's and a group's
 * help, `hearth help [COMMAND]`, and `hearth version [-o json|yaml|short]`.
 * Everything comes from the command table (cli.c).
 */
#include <errno.h>
#include <string.h>

#include "cli/cli_priv.h"

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0"
#endif

#define HELP_WIDTH 100 /* help lines are wrapped to this many columns */

/* Writes text at column indent (the cursor is at column col), wrapped at HELP_WIDTH. */
static void print_wrapped(FILE *f, int col, int indent, const char *text) {
    const char *p = text;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + (int)word > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, word, f);
        col += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

void cli_flag_format(const struct cli_flag *fl, char *buf, size_t size) {
    const char *sep = !fl->arg ? "" : fl->optional ? "[=" : " ";
    const char *end = fl->arg && fl->optional ? "]" : "";
    if (fl->short_name)
        snprintf(buf, size, "-%c, --%s%s%s%s", fl->short_name, fl->long_name, sep,
                 fl->arg ? fl->arg : "", end);
    else
        snprintf(buf, size, "    --%s%s%s%s", fl->long_name, sep, fl->arg ? fl->arg : "", end);
}

/* Flags as a two-column list: "  -a, --all   show all VMs". */
static void print_flags(FILE *f, const struct cli_flag *flags) {
    int width = 0;
    for (const struct cli_flag *fl = flags; fl->long_name; fl++) {
        char left[80];
        cli_flag_format(fl, left, sizeof(left));
        if ((int)strlen(left) > width)
            width = (int)strlen(left);
    }
    for (const struct cli_flag *fl = flags; fl->long_name; fl++) {
        char left[80];
        cli_flag_format(fl, left, sizeof(left));
        fprintf(f, "  %-*s   ", width, left);
        print_wrapped(f, width + 5, width + 5, fl->help);
    }
}

/* The subcommands of g, by the names they have in it: "attach create ...". */
static void print_group_words(FILE *f, const struct cli_group *g) {
    size_t len = strlen(g->name);
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        for (int k = -1; k < CLI_ALIASES_MAX; k++) {
            const char *n = k < 0 ? c->name : c->aliases[k];
            if (n && !c->hidden && strncmp(n, g->name, len) == 0 && n[len] == ' ')
                fprintf(f, " %s", n + len + 1);
        }
    }
}

void cli_print_program_help(FILE *f) {
    fprintf(f, "Usage: hearth [--root DIR] [-q] [--log-level LEVEL] COMMAND [ARGS]...\n\n"
               "Run microVMs from OCI images, with all state in one SQLite database.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < cli_n_commands; i++)
        if (!cli_commands[i].hidden)
            fprintf(f, "  %-16s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(f, "\nGroups (a group alone lists, as 'hearth vm' is 'hearth vm ls'):\n");
    for (size_t i = 0; i < cli_n_groups; i++) {
        const struct cli_group *g = &cli_groups[i];
        char names[32];
        snprintf(names, sizeof(names), "%s%s%s", g->name, g->alias ? ", " : "",
                 g->alias ? g->alias : "");
        fprintf(f, "  %-16s %s:", names, g->summary);
        print_group_words(f, g);
        fputc('\n', f);
    }
    fprintf(f, "\nGlobal options:\n");
    print_flags(f, cli_global_flags);
    fprintf(f, "\nRun 'hearth help COMMAND' or 'hearth COMMAND --help' for a command's flags.\n");
}

void cli_print_command_help(FILE *f, const struct cli_command *cmd, const char *name) {
    if (!name)
        name = cmd->name;
    fprintf(f, "Usage: hearth %s%s%s\n\n%s\n", name, *cmd->usage ? " " : "", cmd->usage,
            cmd->summary);
    /* The command's other names. */
    bool any = false;
    for (int k = -1; k < CLI_ALIASES_MAX; k++) {
        const char *n = k < 0 ? cmd->name : cmd->aliases[k];
        if (n && strcmp(n, name) != 0) {
            fprintf(f, "%s'hearth %s'", any ? ", " : "\nAlso: ", n);
            any = true;
        }
    }
    if (any)
        fputc('\n', f);
    if (cmd->flags && cmd->flags[0].long_name) {
        fprintf(f, "\nFlags:\n");
        print_flags(f, cmd->flags);
    }
    fprintf(f, "\nGlobal options: --root DIR, -q/--quiet, --log-level LEVEL, -h/--help\n");
}

void cli_print_group_help(FILE *f, const struct cli_group *g) {
    size_t len = strlen(g->name);
    fprintf(f, "Usage: hearth %s COMMAND\n\n%s.", g->name, g->summary);
    if (g->dflt)
        fprintf(f, " Without a command: 'hearth %s'.", g->dflt);
    if (g->alias)
        fprintf(f, " Also '%s'.", g->alias);
    fprintf(f, "\n\nCommands:\n");
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        for (int k = -1; k < CLI_ALIASES_MAX; k++) {
            const char *n = k < 0 ? c->name : c->aliases[k];
            if (n && !c->hidden && strncmp(n, g->name, len) == 0 && n[len] == ' ')
                fprintf(f, "  %-16s %s\n", n, c->summary);
        }
    }
}

/* ---- help ---------------------------------------------------------------- */

int cmd_help(struct cli_ctx *ctx) {
    if (ctx->args.argc == 0) {
        cli_print_program_help(stdout);
        return 0;
    }
    char name[128];
    snprintf(name, sizeof(name), "%s%s%s", ctx->args.argv[0], ctx->args.argc > 1 ? " " : "",
             ctx->args.argc > 1 ? ctx->args.argv[1] : "");
    const char *called = NULL;
    const struct cli_command *cmd = cli_command_find(name, &called);
    if (cmd && !cmd->hidden) {
        cli_print_command_help(stdout, cmd, called);
        return 0;
    }
    const struct cli_group *g = ctx->args.argc == 1 ? cli_group_find(name) : NULL;
    if (g) {
        cli_print_group_help(stdout, g);
        return 0;
    }
    return cli_usage_error(ctx, "unknown command '%s'; 'hearth help' lists them", name);
}

/* ---- version ------------------------------------------------------------- */

int cmd_version(struct cli_ctx *ctx) {
    struct engine_versions v;
    engine_versions_get(&v);
    const char *o = cli_flag_value(ctx, "output", NULL);
    if (!o) {
        printf("hearth version %s\n", HEARTH_VERSION);
        printf("sqlite version %s\n", v.sqlite);
        printf("jansson version %s\n", v.jansson);
        printf("libyaml version %s\n", v.yaml);
        printf("schema version %d\n", v.schema);
        return 0;
    }
    if (strcmp(o, "short") == 0) {
        printf("%s\n", HEARTH_VERSION);
        return 0;
    }
    enum cli_format fmt;
    if (strcmp(o, "json") != 0 && strcmp(o, "yaml") != 0)
        return cli_usage_error(ctx, "unknown output format '%s' (use json, yaml or short)", o);
    fmt = o[0] == 'j' ? CLI_FMT_JSON : CLI_FMT_YAML;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:i}", "hearthVersion", HEARTH_VERSION,
                            "sqliteVersion", v.sqlite, "janssonVersion", v.jansson,
                            "libyamlVersion", v.yaml, "schemaVersion", v.schema);
    if (!doc)
        return error_oom(&ctx->err);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    int r;
    if (fmt == CLI_FMT_JSON) {
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        r = s ? strbuf_addf(&out, "%s\n", s) : -ENOMEM;
        free(s);
    } else {
        r = api_yaml_dump(doc, &out);
    }
    json_decref(doc);
    if (r < 0)
        return error_oom(&ctx->err);
    return cli_write_out(ctx, &out);
}
