/*
 * The CLI's command table and its one dispatcher, in the manner of git's
 * git.c and redis's command table: every command is one row (name, handler,
 * usage, summary, argument counts, flags) and one handler. The dispatcher
 * parses the global options, finds the row (also two-word group forms such as
 * `image ls`), parses the command's flags, checks the argument count, opens
 * the engine when the command needs it, runs the handler and prints its
 * error once. Exit status: 0 ok, 1 failure, 2 usage.
 *
 * Adding a command: write `int cmd_x(struct cli_ctx *ctx)` and add its row
 * to `commands` below (docs/cli.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_priv.h"

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0"
#endif

/* The parsed global options: the only mutable global state of the CLI. */
static struct {
    const char *root; /* --root DIR, NULL when not given */
    bool quiet;       /* -q, --quiet */
} opts;

/* ---- the command table ------------------------------------------------- */

static int cmd_version(struct cli_ctx *ctx);

static const struct cli_flag flags_apply[] = {
    {'f', "filename", "FILE", true, "a YAML or JSON file of documents, - for stdin (repeatable)"},
    {0}};
static const struct cli_flag flags_ps[] = {
    {'a', "all", NULL, false, "show all VMs, not only running ones"},
    {'o', "output", "FORMAT", false, "table (default), wide, json, yaml or csv"},
    {'f', "filter", "KEY=VALUE", true,
     "only VMs matching: name=, id=, state= (or status=), image=, kernel=, label=KEY[=VALUE]"},
    {0}};
static const struct cli_flag flags_ls[] = {
    {'o', "output", "FORMAT", false, "table (default), wide, json, yaml or csv"}, {0}};
static const struct cli_flag flags_inspect[] = {
    {'o', "output", "FORMAT", false, "json (default) or yaml"}, {0}};
static const struct cli_flag flags_export[] = {
    {'o', "output", "FORMAT", false, "yaml (default) or json"}, {0}};
static const struct cli_flag flags_sql[] = {
    {'o', "output", "FORMAT", false, "table (default), csv, json or yaml"}, {0}};
static const struct cli_flag flags_rm[] = {
    {'f', "force", NULL, false, "remove even if running (VM) or in use (image, kernel)"}, {0}};

static const struct cli_flag flags_pool_init[] = {
    {0, "driver", "DRIVER", false, "dm-thin or file (default: dm-thin where usable, else file)"},
    {0, "data-size", "SIZE", false,
     "the pool's data size (default 100GB; file: at most the filesystem)"},
    {0, "metadata-size", "SIZE", false, "dm-thin metadata size (default from the data size)"},
    {0, "allocation-size", "SIZE", false, "a multiple of 64KB (default 64KB)"},
    {0, "data-path", "PATH", false, "data file or block device; file driver: a directory"},
    {0, "metadata-path", "PATH", false, "dm-thin metadata file or block device"},
    {0}};
static const struct cli_flag flags_pool_status[] = {
    {'o', "output", "FORMAT", false, "table (default), json or yaml"}, {0}};
static const struct cli_flag flags_pool_ls[] = {
    {'o', "output", "FORMAT", false, "table (default), json, yaml or csv"}, {0}};
static const struct cli_flag flags_doctor[] = {
    {0, "repair", NULL, false, "fix what is found"},
    {'o', "output", "FORMAT", false, "table (default) or json"},
    {0}};

static const struct cli_flag flags_image_import[] = {
    {0, "insecure-registry", "HOST", true, "allow plain http to this registry (host[:port])"},
    {0, "registry-config-dir", "DIR", false,
     "read credentials from DIR/config.json (default: $DOCKER_CONFIG or ~/.docker)"},
    {0}};
static const struct cli_flag flags_kernel_import[] = {
    {0, "vmlinux", "PATH", false, "import from local files: the kernel (vmlinux or bzImage)"},
    {0, "initrd", "PATH", false, "with --vmlinux: an initrd"},
    {0, "modules", "DIR", false, "with --vmlinux: /lib/modules/<version> (or /lib/modules)"},
    {0, "insecure-registry", "HOST", true, "allow plain http to this registry (host[:port])"},
    {0, "registry-config-dir", "DIR", false,
     "read credentials from DIR/config.json (default: $DOCKER_CONFIG or ~/.docker)"},
    {0}};

/* create and run share their first flags; run adds the start flags. */
#define VM_CREATE_FLAGS                                                                            \
    {0, "name", "NAME", false, "the VM's name (default: a generated one)"},                        \
        {0, "cpus", "N", false, "virtual CPUs (default 1)"},                                       \
        {0, "memory", "SIZE", false, "memory (default 512MB)"},                                    \
        {0, "size", "SIZE", false, "disk size (default 4GB)"},                                     \
        {'k', "kernel-image", "KERNEL", false,                                                     \
         "the kernel (default: the newest imported; imported when missing)"},                      \
        {0, "kernel-args", "ARGS", false, "the kernel command line"},                              \
        {'f', "copy-files", "HOST:VM", true, "copy a host file into the VM (repeatable)"},         \
        {0,                                                                                        \
         "ssh",                                                                                    \
         "PUBKEY",                                                                                 \
         false,                                                                                    \
         "authorize this public key file for root, or generate a key pair without one",            \
         true},                                                                                    \
        {0, "config", "FILE", false, "a VM document (YAML or JSON); flags override it"},           \
        {'p', "ports", "HOST:VM", true, "map a host port to a VM port (repeatable)"}, {            \
        'l', "label", "KEY=VALUE", true, "set a label (repeatable)"                                \
    }
/* create, run and start import a missing image or kernel (start: for a VM that has no disk). */
#define VM_REGISTRY_FLAGS                                                                          \
    {0, "insecure-registry", "HOST", true, "allow plain http to this registry (host[:port])"}, {   \
        0, "registry-config-dir", "DIR", false, "read registry credentials from DIR/config.json"   \
    }
#define VM_START_FLAGS                                                                             \
    {'i', "interactive", NULL, false, "attach to the console after starting"},                     \
        {0, "vmm", "VMM", false,                                                                   \
         "firecracker or qemu (default: firecracker with KVM, else qemu)"},                        \
        {0, "firecracker-bin", "PATH", false, "the firecracker binary (default: from PATH)"}, {    \
        0, "qemu-bin", "PATH", false, "the qemu binary (default: qemu-system-x86_64 from PATH)"    \
    }

static const struct cli_flag flags_create[] = {VM_CREATE_FLAGS, VM_REGISTRY_FLAGS, {0}};
static const struct cli_flag flags_run[] = {
    VM_CREATE_FLAGS, VM_REGISTRY_FLAGS, VM_START_FLAGS, {0}};
static const struct cli_flag flags_start[] = {VM_START_FLAGS, VM_REGISTRY_FLAGS, {0}};
static const struct cli_flag flags_stop[] = {
    {'f', "force", NULL, false, "kill at once instead of shutting down"},
    {'t', "time", "SECONDS", false, "seconds to wait for a shutdown before killing (default 20)"},
    {0}};
static const struct cli_flag flags_logs[] = {
    {'f', "follow", NULL, false, "keep printing new output until the VM stops"},
    {0, "tail", "N", false, "only the last N lines (default: all)"},
    {0}};

static const struct cli_flag flags_dash[] = {
    {0, "readonly", NULL, false, "offer no action that changes state"},
    {0, "refresh", "MS", false, "poll the database every MS milliseconds (default 1000)"},
    {0, "vmm", "VMM", false, "VMs started from the dashboard: firecracker or qemu"},
    {0, "firecracker-bin", "PATH", false, "the firecracker binary (default: from PATH)"},
    {0, "qemu-bin", "PATH", false, "the qemu binary (default: qemu-system-x86_64 from PATH)"},
    {0}};

#define KIND_FROM_ARG (-1)

static const struct cli_command commands[] = {
    {"apply", cmd_apply, "-f FILE [-f FILE]...",
     "Create or update objects from YAML or JSON documents", 0, 0, flags_apply, 0, true},
    {"attach", cmd_attach, "VM", "Attach to a running VM's console (detach with ^P^Q)", 1, 1, NULL,
     0, true},
    {"create", cmd_create, "[FLAGS] IMAGE", "Create a VM from an image (imported when missing)", 0,
     1, flags_create, 0, true},
    {"dash", cmd_dash, "[--readonly] [--vmm VMM]",
     "The dashboard: VMs, images, kernels, pool and operations, live", 0, 0, flags_dash, 0, true},
    {"doctor", cmd_doctor, "[--repair] [-o table|json]",
     "Compare the database with the pool; exit 0 clean, 3 repaired, 4 problems left", 0, 0,
     flags_doctor, 0, true},
    {"export", cmd_export, "[-o yaml|json] [KIND...]",
     "Write every object (or those of the given kinds) as documents", 0, -1, flags_export, 0, true},
    {"image import", cmd_image_import,
     "[--insecure-registry HOST]... [--registry-config-dir DIR] [-q] SOURCE",
     "Import an image (REF, oci-layout:DIR[:TAG], docker-archive:FILE[:REF|:@N]) into the pool", 1,
     1, flags_image_import, 0, true},
    {"image ls", cmd_ls, "[-q] [-o FORMAT]", "List images", 0, 0, flags_ls, API_KIND_IMAGE, true},
    {"image inspect", cmd_inspect, "[-o json|yaml] IMAGE", "Show an image as a document", 1, 1,
     flags_inspect, API_KIND_IMAGE, true},
    {"image rm", cmd_rm, "[-f] IMAGE...", "Remove images", 1, -1, flags_rm, API_KIND_IMAGE, true},
    {"inspect", cmd_inspect, "[-o json|yaml] vm|image|kernel NAME", "Show an object as a document",
     2, 2, flags_inspect, KIND_FROM_ARG, true},
    {"kernel import", cmd_kernel_import,
     "[--insecure-registry HOST]... [--registry-config-dir DIR] [-q] SOURCE | --vmlinux PATH "
     "[--initrd PATH] [--modules DIR] NAME",
     "Import a kernel from an OCI image or from local files", 1, 1, flags_kernel_import, 0, true},
    {"kernel ls", cmd_ls, "[-q] [-o FORMAT]", "List kernels", 0, 0, flags_ls, API_KIND_KERNEL,
     true},
    {"kernel inspect", cmd_inspect, "[-o json|yaml] KERNEL", "Show a kernel as a document", 1, 1,
     flags_inspect, API_KIND_KERNEL, true},
    {"kernel rm", cmd_rm, "[-f] KERNEL...", "Remove kernels", 1, -1, flags_rm, API_KIND_KERNEL,
     true},
    {"kill", cmd_kill, "VM...", "Kill running VMs at once", 1, -1, NULL, 0, true},
    {"logs", cmd_logs, "[-f] [--tail N] VM", "Print a VM's console log", 1, 1, flags_logs, 0, true},
    {"pool init", cmd_pool_init,
     "[--driver dm-thin|file] [--data-size SIZE] [--metadata-size SIZE] [--allocation-size SIZE] "
     "[--data-path PATH] [--metadata-path PATH]",
     "Create the storage pool", 0, 0, flags_pool_init, 0, true},
    {"pool ls", cmd_pool_ls, "[-o table|json|yaml|csv]", "List the pool's devices", 0, 0,
     flags_pool_ls, 0, true},
    {"pool status", cmd_pool_status, "[-o table|json|yaml]",
     "Show the pool's driver, sizes, usage and device counts", 0, 0, flags_pool_status, 0, true},
    {"ps", cmd_ps, "[-a] [-q] [-o FORMAT] [--filter KEY=VALUE]...",
     "List VMs (running ones unless -a)", 0, 0, flags_ps, 0, true},
    {"rm", cmd_rm, "[-f] VM...", "Remove VMs", 1, -1, flags_rm, API_KIND_VM, true},
    {"rmi", cmd_rm, "[-f] IMAGE...", "Remove images", 1, -1, flags_rm, API_KIND_IMAGE, true},
    {"rmk", cmd_rm, "[-f] KERNEL...", "Remove kernels", 1, -1, flags_rm, API_KIND_KERNEL, true},
    {"run", cmd_create, "[FLAGS] IMAGE", "Create a VM and start it", 0, 1, flags_run, 1, true},
    {"sql", cmd_sql, "[-o table|csv|json|yaml] [STATEMENTS]",
     "Run read-only SQL on the database (statements from stdin without an argument)", 0, 1,
     flags_sql, 0, true},
    {"start", cmd_start, "[-i] [--vmm VMM] VM...", "Start VMs", 1, -1, flags_start, 0, true},
    {"stop", cmd_stop, "[-f] [-t SECONDS] VM...",
     "Stop VMs: shut down, killed after 20 s (-t) or at once (-f)", 1, -1, flags_stop, 0, true},
    {"version", cmd_version, "", "Print the versions of hearth and its libraries", 0, 0, NULL, 0,
     false},
    {"vm attach", cmd_attach, "VM", "Attach to a running VM's console (detach with ^P^Q)", 1, 1,
     NULL, 0, true},
    {"vm create", cmd_create, "[FLAGS] IMAGE", "Create a VM from an image (imported when missing)",
     0, 1, flags_create, 0, true},
    {"vm inspect", cmd_inspect, "[-o json|yaml] VM", "Show a VM as a document", 1, 1, flags_inspect,
     API_KIND_VM, true},
    {"vm kill", cmd_kill, "VM...", "Kill running VMs at once", 1, -1, NULL, 0, true},
    {"vm logs", cmd_logs, "[-f] [--tail N] VM", "Print a VM's console log", 1, 1, flags_logs, 0,
     true},
    {"vm ls", cmd_ps, "[-a] [-q] [-o FORMAT] [--filter KEY=VALUE]...", "List VMs (as ps)", 0, 0,
     flags_ps, 0, true},
    {"vm ps", cmd_ps, "[-a] [-q] [-o FORMAT] [--filter KEY=VALUE]...", "List VMs (as ps)", 0, 0,
     flags_ps, 0, true},
    {"vm rm", cmd_rm, "[-f] VM...", "Remove VMs", 1, -1, flags_rm, API_KIND_VM, true},
    {"vm run", cmd_create, "[FLAGS] IMAGE", "Create a VM and start it", 0, 1, flags_run, 1, true},
    {"vm start", cmd_start, "[-i] [--vmm VMM] VM...", "Start VMs", 1, -1, flags_start, 0, true},
    {"vm stop", cmd_stop, "[-f] [-t SECONDS] VM...",
     "Stop VMs: shut down, killed after 20 s (-t) or at once (-f)", 1, -1, flags_stop, 0, true},
};

/* ---- flag access ------------------------------------------------------- */

static int flag_index(const struct cli_command *cmd, const char *long_name) {
    for (int i = 0; cmd->flags && cmd->flags[i].long_name; i++)
        if (strcmp(cmd->flags[i].long_name, long_name) == 0)
            return i;
    return -1;
}

bool cli_flag_given(const struct cli_ctx *ctx, const char *long_name) {
    int i = flag_index(ctx->cmd, long_name);
    return i >= 0 && ctx->args.count[i] > 0;
}

const char *cli_flag_value(const struct cli_ctx *ctx, const char *long_name, const char *def) {
    int i = flag_index(ctx->cmd, long_name);
    if (i < 0 || ctx->args.count[i] == 0 || !ctx->cmd->flags[i].arg)
        return def;
    int n = ctx->args.count[i] < CLI_VALUES_MAX ? ctx->args.count[i] : CLI_VALUES_MAX;
    return ctx->args.values[i][n - 1];
}

const char *const *cli_flag_values(const struct cli_ctx *ctx, const char *long_name, int *ret_n) {
    int i = flag_index(ctx->cmd, long_name);
    if (i < 0) {
        *ret_n = 0;
        return NULL;
    }
    *ret_n = ctx->args.count[i];
    return ctx->args.values[i];
}

int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err.msg, sizeof(ctx->err.msg), fmt, ap);
    va_end(ap);
    ctx->err.code = -EINVAL;
    ctx->usage_error = true;
    return -EINVAL;
}

void cli_print_error(const char *msg) {
    fprintf(stderr, "hearth: error: %s\n", msg);
}

int cli_write_out(struct cli_ctx *ctx, const struct strbuf *sb) {
    if (sb->len && fwrite(sb->buf, 1, sb->len, stdout) != sb->len)
        return error_set(&ctx->err, -EIO, "cannot write the output: %s", strerror(errno));
    return 0;
}

/* ---- help -------------------------------------------------------------- */

static void print_program_help(FILE *f) {
    fprintf(f, "Usage: hearth [--root DIR] [-q] [--log-level LEVEL] COMMAND [ARGS]...\n\n"
               "Run microVMs from OCI images, with all state in one SQLite database.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nGlobal options:\n"
               "  --root DIR          state directory (default: $HEARTH_ROOT, /var/lib/hearth for\n"
               "                      root, else $XDG_DATA_HOME/hearth or ~/.local/share/hearth)\n"
               "  -q, --quiet         print less (only ids for ps and ls)\n"
               "  --log-level LEVEL   error, warn (default), info or debug\n"
               "  -h, --help          show help (also after any command)\n"
               "  --version           same as `hearth version`\n"
               "\nRun 'hearth COMMAND --help' for a command's flags.\n");
}

static void print_command_help(const struct cli_command *cmd) {
    printf("Usage: hearth %s%s%s\n\n%s\n", cmd->name, *cmd->usage ? " " : "", cmd->usage,
           cmd->summary);
    bool any = cmd->flags && cmd->flags[0].long_name;
    if (any)
        printf("\nFlags:\n");
    char lefts[CLI_FLAGS_MAX][64];
    int width = 0;
    for (int i = 0; any && cmd->flags[i].long_name; i++) {
        const struct cli_flag *fl = &cmd->flags[i];
        char left[64];
        const char *sep = !fl->arg ? "" : fl->optional ? "[=" : " ";
        const char *end = fl->arg && fl->optional ? "]" : "";
        if (fl->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s%s", fl->short_name, fl->long_name, sep,
                     fl->arg ? fl->arg : "", end);
        else
            snprintf(left, sizeof(left), "    --%s%s%s%s", fl->long_name, sep,
                     fl->arg ? fl->arg : "", end);
        memcpy(lefts[i], left, sizeof(left));
        if ((int)strlen(left) > width)
            width = (int)strlen(left);
    }
    for (int i = 0; any && cmd->flags[i].long_name; i++)
        printf("  %-*s   %s\n", width, lefts[i], cmd->flags[i].help);
    printf("\nGlobal options: --root DIR, -q/--quiet, --log-level LEVEL, -h/--help\n");
}

/* ---- version ----------------------------------------------------------- */

static int cmd_version(struct cli_ctx *ctx) {
    (void)ctx;
    struct engine_versions v;
    engine_versions_get(&v);
    printf("hearth version %s\n", HEARTH_VERSION);
    printf("sqlite version %s\n", v.sqlite);
    printf("jansson version %s\n", v.jansson);
    printf("libyaml version %s\n", v.yaml);
    printf("schema version %d\n", v.schema);
    return 0;
}

/* ---- root -------------------------------------------------------------- */

/* The root directory, as podman chooses its storage: --root, $HEARTH_ROOT,
 * /var/lib/hearth for root, else $XDG_DATA_HOME/hearth or ~/.local/share/hearth. */
static int root_resolve(char **ret, struct error *err) {
    const char *env;
    char *root = NULL;
    if (opts.root)
        root = xstrdup(opts.root);
    else if ((env = getenv("HEARTH_ROOT")) && *env)
        root = xstrdup(env);
    else if (geteuid() == 0)
        root = xstrdup("/var/lib/hearth");
    else if ((env = getenv("XDG_DATA_HOME")) && env[0] == '/')
        root = xasprintf("%s/hearth", env);
    else if ((env = getenv("HOME")) && *env)
        root = xasprintf("%s/.local/share/hearth", env);
    else
        return error_set(err, -ENOENT,
                         "cannot choose a root directory: $HOME is not set; use --root DIR");
    if (!root)
        return error_set(err, -ENOMEM, "out of memory");
    *ret = root;
    return 0;
}

/* ---- parsing ----------------------------------------------------------- */

enum { PARSE_OK, PARSE_HELP, PARSE_USAGE };

/* Handles a global option at argv[*i]; returns 1 if it was one, 0 if not, -1 on a usage error. */
static int parse_global(struct cli_ctx *ctx, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        opts.quiet = true;
        return 1;
    }
    const char *val = NULL;
    bool is_root = false;
    if (strcmp(a, "--root") == 0 || strcmp(a, "--log-level") == 0) {
        if (*i + 1 >= argc) {
            cli_usage_error(ctx, "%s needs a value", a);
            return -1;
        }
        is_root = a[2] == 'r';
        val = argv[++*i];
    } else if (str_starts_with(a, "--root=")) {
        is_root = true;
        val = a + 7;
    } else if (str_starts_with(a, "--log-level=")) {
        val = a + 12;
    } else {
        return 0;
    }
    if (is_root) {
        if (!*val) {
            cli_usage_error(ctx, "--root needs a directory");
            return -1;
        }
        opts.root = val;
        return 1;
    }
    enum log_level level;
    if (log_level_parse(val, &level) < 0) {
        cli_usage_error(ctx, "unknown log level '%s' (use error, warn, info or debug)", val);
        return -1;
    }
    log_set_level(level);
    return 1;
}

static int add_flag_value(struct cli_ctx *ctx, int fi, const char *value) {
    const struct cli_flag *fl = &ctx->cmd->flags[fi];
    int n = ctx->args.count[fi];
    if (fl->repeat && n >= CLI_VALUES_MAX)
        return cli_usage_error(ctx, "--%s given more than %d times", fl->long_name, CLI_VALUES_MAX);
    int slot = fl->repeat ? n : 0;
    ctx->args.values[fi][slot] = value;
    ctx->args.count[fi] = fl->repeat ? n + 1 : 1;
    return 0;
}

/* Parses the command's flags and positional arguments from argv[start..]. */
static int parse_command_args(struct cli_ctx *ctx, int argc, char **argv, int start,
                              char **positional) {
    const struct cli_command *cmd = ctx->cmd;
    bool only_args = false;
    for (int i = start; i < argc; i++) {
        char *a = argv[i];
        if (only_args || a[0] != '-' || strcmp(a, "-") == 0) {
            positional[ctx->args.argc++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return PARSE_HELP;
        int g = parse_global(ctx, argc, argv, &i);
        if (g < 0)
            return PARSE_USAGE;
        if (g > 0)
            continue;

        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int fi = -1;
            for (int k = 0; cmd->flags && cmd->flags[k].long_name; k++)
                if (strlen(cmd->flags[k].long_name) == len &&
                    strncmp(cmd->flags[k].long_name, name, len) == 0)
                    fi = k;
            if (fi < 0) {
                cli_usage_error(ctx, "unknown flag '--%.*s' for 'hearth %s'", (int)len, name,
                                cmd->name);
                return PARSE_USAGE;
            }
            const char *value = NULL;
            if (cmd->flags[fi].arg && cmd->flags[fi].optional) {
                value = eq ? eq + 1 : "";
            } else if (cmd->flags[fi].arg) {
                if (eq)
                    value = eq + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else {
                    cli_usage_error(ctx, "flag '--%s' needs a value", cmd->flags[fi].long_name);
                    return PARSE_USAGE;
                }
            } else if (eq) {
                cli_usage_error(ctx, "flag '--%s' takes no value", cmd->flags[fi].long_name);
                return PARSE_USAGE;
            }
            if (add_flag_value(ctx, fi, value) < 0)
                return PARSE_USAGE;
            continue;
        }

        /* One or more short flags: "-a", "-aq", "-ojson", "-o json". */
        for (const char *p = a + 1; *p; p++) {
            int fi = -1;
            for (int k = 0; cmd->flags && cmd->flags[k].long_name; k++)
                if (cmd->flags[k].short_name == *p)
                    fi = k;
            if (fi < 0 && *p == 'q') {
                opts.quiet = true;
                continue;
            }
            if (fi < 0 && *p == 'h')
                return PARSE_HELP;
            if (fi < 0) {
                cli_usage_error(ctx, "unknown flag '-%c' for 'hearth %s'", *p, cmd->name);
                return PARSE_USAGE;
            }
            const char *value = NULL;
            if (cmd->flags[fi].arg && cmd->flags[fi].optional) {
                value = "";
            } else if (cmd->flags[fi].arg) {
                if (p[1])
                    value = p + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else {
                    cli_usage_error(ctx, "flag '-%c' needs a value", *p);
                    return PARSE_USAGE;
                }
            }
            if (add_flag_value(ctx, fi, value) < 0)
                return PARSE_USAGE;
            if (value)
                break;
        }
    }
    int n = ctx->args.argc;
    if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args)) {
        if (cmd->max_args == 0)
            cli_usage_error(ctx, "'hearth %s' takes no arguments", cmd->name);
        else if (cmd->min_args == cmd->max_args)
            cli_usage_error(ctx, "'hearth %s' takes %d argument%s, got %d", cmd->name,
                            cmd->min_args, cmd->min_args == 1 ? "" : "s", n);
        else if (n < cmd->min_args)
            cli_usage_error(ctx, "'hearth %s' needs at least %d argument%s", cmd->name,
                            cmd->min_args, cmd->min_args == 1 ? "" : "s");
        else
            cli_usage_error(ctx, "'hearth %s' takes at most %d argument%s, got %d", cmd->name,
                            cmd->max_args, cmd->max_args == 1 ? "" : "s", n);
        return PARSE_USAGE;
    }
    return PARSE_OK;
}

/* Finds the row for argv[i] (and argv[i+1] for a group); *ret_used is 1 or 2. */
static const struct cli_command *command_find(int argc, char **argv, int i, int *ret_used,
                                              bool *ret_group) {
    *ret_group = false;
    size_t len = strlen(argv[i]);
    for (size_t k = 0; k < ARRAY_SIZE(commands); k++) {
        const char *name = commands[k].name;
        if (strncmp(name, argv[i], len) != 0)
            continue;
        if (name[len] == '\0') {
            *ret_used = 1;
            return &commands[k];
        }
        if (name[len] == ' ') {
            *ret_group = true;
            if (i + 1 < argc && strcmp(name + len + 1, argv[i + 1]) == 0) {
                *ret_used = 2;
                return &commands[k];
            }
        }
    }
    return NULL;
}

static void print_group_help(FILE *f, const char *group) {
    size_t len = strlen(group);
    fprintf(f, "Usage: hearth %s COMMAND\n\nCommands:\n", group);
    for (size_t k = 0; k < ARRAY_SIZE(commands); k++)
        if (strncmp(commands[k].name, group, len) == 0 && commands[k].name[len] == ' ')
            fprintf(f, "  %-16s %s\n", commands[k].name, commands[k].summary);
}

/*
 * `hearth __monitor ROOT UID FD`: the per-VM monitor that `start` launches
 * (engine_monitor_main). Not a user command: it is not in the table.
 */
static int monitor_main(int argc, char **argv) {
    char *end = NULL;
    long fd = argc == 5 ? strtol(argv[4], &end, 10) : -1;
    if (argc != 5 || !end || *end || fd < 0 || fd > INT_MAX) {
        cli_print_error("__monitor is started by 'hearth start', not by hand");
        return 2;
    }
    return engine_monitor_main(argv[2], argv[3], (int)fd);
}

int cli_main(int argc, char **argv) {
    struct cli_ctx ctx = {0};
    _cleanup_free_ char **positional = NULL;
    int i = 1;

    if (argc >= 2 && strcmp(argv[1], "__monitor") == 0)
        return monitor_main(argc, argv);

    /* Global options before the command. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_program_help(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0)
            return cmd_version(&ctx);
        int g = parse_global(&ctx, argc, argv, &i);
        if (g == 0)
            cli_usage_error(&ctx, "unknown option '%s'", argv[i]);
        if (g <= 0) {
            cli_print_error(ctx.err.msg);
            fprintf(stderr, "Run 'hearth --help' for usage.\n");
            return 2;
        }
    }
    if (i >= argc) {
        print_program_help(stderr);
        return 2;
    }

    int used = 0;
    bool group = false;
    ctx.cmd = command_find(argc, argv, i, &used, &group);
    if (!ctx.cmd) {
        if (group && (i + 1 >= argc || strcmp(argv[i + 1], "--help") == 0 ||
                      strcmp(argv[i + 1], "-h") == 0)) {
            bool help = i + 1 < argc;
            print_group_help(help ? stdout : stderr, argv[i]);
            return help ? 0 : 2;
        }
        char msg[256];
        if (group)
            snprintf(msg, sizeof(msg), "unknown command 'hearth %s %.64s'", argv[i], argv[i + 1]);
        else
            snprintf(msg, sizeof(msg), "unknown command '%.64s'", argv[i]);
        cli_print_error(msg);
        if (group)
            print_group_help(stderr, argv[i]);
        else
            fprintf(stderr, "Run 'hearth --help' for the list of commands.\n");
        return 2;
    }

    positional = xcalloc((size_t)argc + 1, sizeof(*positional));
    if (!positional) {
        cli_print_error("out of memory");
        return 1;
    }
    ctx.args.argv = positional;
    int p = parse_command_args(&ctx, argc, argv, i + used, positional);
    if (p == PARSE_HELP) {
        print_command_help(ctx.cmd);
        return 0;
    }
    if (p == PARSE_USAGE) {
        cli_print_error(ctx.err.msg);
        fprintf(stderr, "Usage: hearth %s %s\nRun 'hearth %s --help' for more.\n", ctx.cmd->name,
                ctx.cmd->usage, ctx.cmd->name);
        return 2;
    }
    ctx.quiet = opts.quiet;

    _cleanup_engine_ engine *eng = NULL;
    if (ctx.cmd->engine) {
        _cleanup_free_ char *root = NULL;
        if (root_resolve(&root, &ctx.err) < 0 || engine_open(root, &eng, &ctx.err) < 0) {
            cli_print_error(ctx.err.msg);
            return 1;
        }
        ctx.eng = eng;
    }

    int r = ctx.cmd->handler(&ctx);
    if (fflush(stdout) != 0 && r >= 0)
        r = error_set(&ctx.err, -EIO, "cannot write the output: %s", strerror(errno));
    if (ctx.usage_error) {
        cli_print_error(ctx.err.msg);
        fprintf(stderr, "Run 'hearth %s --help' for usage.\n", ctx.cmd->name);
        return 2;
    }
    if (r < 0) {
        if (ctx.err.msg[0])
            cli_print_error(ctx.err.msg);
        return 1;
    }
    return ctx.exit_status;
}
