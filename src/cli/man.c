/*
 * The hearth(1) man page, written from the command table by `hearth __man`
 * (the build runs it: cmake/generate_docs.cmake), so that the page lists
 * every command, alias and flag the binary has. Plain man(7) macros that
 * groff and mandoc both render; the date comes from $SOURCE_DATE_EPOCH when
 * it is set (reproducible builds), else today.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_priv.h"

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0"
#endif

#define MAN_LINE 78 /* text lines break at blanks to stay within 80 bytes, with a closing "." */

struct man {
    struct strbuf *out;
    int r;
    size_t col; /* bytes written since the last newline */
};

static void raw(struct man *m, const char *s) {
    if (m->r == 0)
        m->r = strbuf_adds(m->out, s);
    const char *nl = strrchr(s, '\n');
    m->col = nl ? strlen(nl + 1) : m->col + strlen(s);
}

/*
 * Text with roff's special characters escaped (- as \-, \ as \e, a line's
 * leading . or ' guarded by \&), broken into lines at blanks past MAN_LINE.
 */
static void text(struct man *m, const char *s) {
    for (const char *p = s; *p && m->r == 0; p++) {
        if (*p == ' ') {
            /* The next word's width in the output (a - takes two bytes). */
            size_t w = 0;
            for (const char *q = p + 1; *q && *q != ' '; q++)
                w += *q == '-' || *q == '\\' ? 2 : 1;
            if (m->col + 1 + w > MAN_LINE) {
                raw(m, "\n");
                continue;
            }
        }
        if (m->col == 0 && (*p == '.' || *p == '\''))
            raw(m, "\\&");
        if (*p == '-') {
            raw(m, "\\-");
        } else if (*p == '\\') {
            raw(m, "\\e");
        } else {
            char c[2] = {*p, '\0'};
            raw(m, c);
        }
    }
}

/* \fBs\fR */
static void bold(struct man *m, const char *s) {
    raw(m, "\\fB");
    text(m, s);
    raw(m, "\\fR");
}

static void italic(struct man *m, const char *s) {
    raw(m, "\\fI");
    text(m, s);
    raw(m, "\\fR");
}

/* A flag as the tag of a .TP: \fB\-o\fR, \fB\-\-output\fR \fIFORMAT\fR */
static void flag_tag(struct man *m, const struct cli_flag *fl) {
    char name[64];
    raw(m, ".TP\n");
    if (fl->short_name) {
        snprintf(name, sizeof(name), "-%c", fl->short_name);
        bold(m, name);
        raw(m, ", ");
    }
    snprintf(name, sizeof(name), "--%s", fl->long_name);
    bold(m, name);
    if (fl->arg) {
        raw(m, fl->optional ? "[=" : " ");
        italic(m, fl->arg);
        if (fl->optional)
            raw(m, "]");
    }
    raw(m, "\n");
    text(m, fl->help);
    raw(m, ".\n");
}

static void command(struct man *m, const struct cli_command *c) {
    raw(m, ".SS ");
    text(m, c->name);
    raw(m, "\n");
    raw(m, "\\fBhearth ");
    text(m, c->name);
    raw(m, "\\fR");
    if (*c->usage) {
        raw(m, " ");
        text(m, c->usage);
    }
    raw(m, "\n.PP\n");
    text(m, c->summary);
    raw(m, ".\n");
    if (c->aliases[0]) {
        raw(m, "Also: ");
        for (int a = 0; a < CLI_ALIASES_MAX && c->aliases[a]; a++) {
            if (a)
                raw(m, ", ");
            raw(m, "\\fBhearth ");
            text(m, c->aliases[a]);
            raw(m, "\\fR");
        }
        raw(m, ".\n");
    }
    for (const struct cli_flag *fl = c->flags; fl && fl->long_name; fl++)
        flag_tag(m, fl);
}

static const char description[] =
    "hearth runs microVMs (Firecracker, or QEMU's microvm machine) from OCI\n"
    "images, the job Weave Ignite did, and keeps every object, every\n"
    "storage-pool device and every operation in flight in one SQLite database\n"
    "under its root directory, so that the database and the machine stay in\n"
    "agreement, also after a crash.\n"
    ".PP\n"
    "The commands follow Ignite's and Docker's habits: \\fB\\-a\\fR for all,\n"
    "\\fB\\-q\\fR for ids only, \\fB\\-o json\\fR|\\fByaml\\fR, \\fB\\-t\\fR for a Go\n"
    "template, and names and ids given by any unambiguous prefix. Objects are\n"
    "Ignite's ignite.weave.works/v1alpha1 documents (VM, Image, Kernel, Pool).\n";

static const char template_text[] =
    ".SH TEMPLATES\n"
    "\\fB\\-t\\fR, \\fB\\-\\-template\\fR of \\fBps\\fR and \\fBinspect\\fR take a subset of Go's\n"
    "text/template over the object as \\fBinspect \\-o json\\fR prints it:\n"
    ".TP\n"
    "\\fB{{.metadata.name}}\\fR\n"
    "the value at that path; strings as they are, numbers and booleans as JSON writes\n"
    "them, objects and lists as compact JSON, a missing field as <no value>.\n"
    ".TP\n"
    "\\fB{{json .status}}\\fR\n"
    "the value as compact JSON.\n"
    ".TP\n"
    "\\fB{{\\- \\fR and \\fB \\-}}\\fR\n"
    "trim the blanks before or after the action.\n"
    ".PP\n"
    "Other text is copied, with \\e\\fBt\\fR, \\e\\fBn\\fR and \\e\\e typed on the command\n"
    "line as a tab, a newline and a backslash. \\fBps \\-t\\fR writes one line per VM.\n"
    "Anything else in an action is a usage error naming its position.\n";

static const char tail_text[] =
    ".SH EXIT STATUS\n"
    ".TP\n0\nSuccess.\n"
    ".TP\n1\nThe command failed (nothing found, refused, invalid document, I/O).\n"
    ".TP\n2\nUsage error: unknown command or flag, wrong number of arguments, bad value.\n"
    ".TP\n3\n\\fBhearth doctor\\fR: problems were found and all of them repaired.\n"
    ".TP\n4\n\\fBhearth doctor\\fR: problems were found and some are left.\n"
    ".SH ENVIRONMENT\n"
    ".TP\n.B HEARTH_ROOT\nThe root directory when \\fB\\-\\-root\\fR is not given.\n"
    ".TP\n\\fBXDG_DATA_HOME\\fR, \\fBHOME\\fR\n"
    "Without either of the above and not as root, the root is\n"
    "\\fI$XDG_DATA_HOME/hearth\\fR or \\fI~/.local/share/hearth\\fR.\n"
    ".TP\n.B DOCKER_CONFIG\n"
    "The directory of config.json with registry credentials\n"
    "(default \\fI~/.docker\\fR).\n"
    ".TP\n.B NO_COLOR\nWhen set and not empty, \\fBhearth dash\\fR uses no colour.\n"
    ".SH FILES\n"
    ".TP\n.I ROOT/hearth.db\n"
    "The database: every object, pool device, IP lease and operation.\n"
    ".TP\n.I ROOT/vm/ID/console.log\nA VM's console, as \\fBhearth logs\\fR prints it.\n"
    ".TP\n.I ROOT/pool/\nThe storage pool's data and metadata (by default).\n"
    ".TP\n.I ROOT/kernel/ID/\nAn imported kernel's files.\n"
    ".TP\n.I ROOT/blobs/\nImage layers, cached by digest.\n"
    ".SH EXAMPLES\n"
    ".nf\n"
    ".RS\n"
    "hearth run \\-\\-name web \\-\\-cpus 2 \\-\\-memory 1GB \\-s 4GB busybox\n"
    "hearth ps \\-a\n"
    "hearth ps \\-t '{{.metadata.name}}\\et{{.status.state}}'\n"
    "hearth inspect vm web \\-t '{{json .spec}}'\n"
    "hearth export > backup.yaml\n"
    "source <(hearth completion bash)\n"
    ".RE\n"
    ".fi\n"
    ".SH SEE ALSO\n"
    ".BR qemu-system-x86_64 (1),\n"
    ".BR sqlite3 (1);\n"
    "docs/cli.md and docs/sql.md of hearth's sources.\n";

int cli_man_page(const char *date, struct strbuf *out) {
    struct man m = {.out = out};
    raw(&m, ".\\\" hearth(1), written by `hearth __man` from hearth's command table.\n");
    raw(&m, ".TH HEARTH 1 ");
    raw(&m, date);
    raw(&m, " \"hearth " HEARTH_VERSION "\" \"User Commands\"\n");
    raw(&m, ".SH NAME\nhearth \\- run microVMs from OCI images, with all state in one SQLite "
            "database\n");
    raw(&m, ".SH SYNOPSIS\n.B hearth\n[\\fIglobal options\\fR] \\fIcommand\\fR "
            "[\\fIarguments\\fR]...\n");
    raw(&m, ".SH DESCRIPTION\n");
    raw(&m, description);
    raw(&m, ".SH GLOBAL OPTIONS\nThey go before the command or after it.\n");
    for (const struct cli_flag *fl = cli_global_flags; fl->long_name; fl++)
        flag_tag(&m, fl);
    raw(&m, ".SH COMMANDS\n");
    for (size_t i = 0; i < cli_n_commands; i++)
        if (!cli_commands[i].hidden)
            command(&m, &cli_commands[i]);
    raw(&m, ".SH GROUPS\nA group alone runs its listing, as in Ignite.\n");
    for (size_t i = 0; i < cli_n_groups; i++) {
        const struct cli_group *g = &cli_groups[i];
        raw(&m, ".TP\n");
        bold(&m, g->name);
        if (g->alias) {
            raw(&m, ", ");
            bold(&m, g->alias);
        }
        raw(&m, "\n");
        text(&m, g->summary);
        if (g->dflt) {
            raw(&m, "; alone: ");
            bold(&m, "hearth ");
            raw(&m, "\\fB");
            text(&m, g->dflt);
            raw(&m, "\\fR");
        }
        raw(&m, ".\n");
    }
    raw(&m, template_text);
    raw(&m, tail_text);
    return m.r;
}

int cmd_man(struct cli_ctx *ctx) {
    /* $SOURCE_DATE_EPOCH (reproducible builds), else now. */
    time_t t = time(NULL);
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    uint64_t v;
    if (epoch && parse_u64(epoch, INT64_MAX, &v) == 0)
        t = (time_t)v;
    struct tm tm;
    char date[16] = "1970-01-01";
    if (gmtime_r(&t, &tm))
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    if (cli_man_page(date, &out) < 0)
        return error_oom(&ctx->err);
    return cli_write_out(ctx, &out);
}
