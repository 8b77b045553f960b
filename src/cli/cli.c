/*
 * The CLI's command table and its one dispatcher, in the manner of git's
 * git.c and redis's command table: every command is one row (name, aliases,
 * handler, usage, summary, argument counts, flags) and one handler. The
 * dispatcher parses the global options, finds the row (by name or alias, also
 * two-word group forms such as `image ls`; a group alone runs its default,
 * as `hearth vm` is `hearth vm ls`), parses the command's flags, checks the
 * argument count, opens the engine when the command needs it (read-only,
 * with one notice, for a command that only reads on a root that cannot be
 * written), runs the handler and prints its error once. Exit status: 0 ok,
 * 1 failure, 2 usage.
 *
 * Adding a command: write `int cmd_x(struct cli_ctx *ctx)` and add its row
 * to `cli_commands` below (docs/cli.md). The help (help.c), the hearth(1)
 * man page (man.c), the completion scripts (completion.c) and the test that
 * docs/cli.md documents every command and flag (tests/cli) read the table.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_priv.h"

/* The parsed global options: the only mutable global state of the CLI. */
static struct {
    const char *root; /* --root DIR, NULL when not given */
    bool quiet;       /* -q, --quiet */
} opts;

/* ---- the command table ------------------------------------------------- */

/* -o/--output with the formats it takes, and -t/--template (Ignite's). */
#define OUTPUT_FLAG(help_, values_)                                                                \
    { .short_name = 'o', .long_name = "output", .arg = "FORMAT", .help = help_, .values = values_ }
#define TEMPLATE_FLAG                                                                              \
    {                                                                                              \
        .short_name = 't', .long_name = "template", .arg = "TEMPLATE",                             \
        .help = "format each object with a Go template such as {{.metadata.name}}"                 \
    }
#define REGISTRY_FLAGS                                                                             \
    {.long_name = "insecure-registry",                                                             \
     .arg = "HOST",                                                                                \
     .repeat = true,                                                                               \
     .help = "allow plain http to this registry (host[:port])"},                                   \
    {                                                                                              \
        .long_name = "registry-config-dir", .arg = "DIR",                                          \
        .help = "read credentials from DIR/config.json (default: $DOCKER_CONFIG or ~/.docker)",    \
        .offer = CLI_ARG_DIR                                                                       \
    }

const struct cli_flag cli_global_flags[] = {
    {.long_name = "root",
     .arg = "DIR",
     .help = "the state directory (default: $HEARTH_ROOT, /var/lib/hearth for root, else "
             "$XDG_DATA_HOME/hearth or ~/.local/share/hearth)",
     .offer = CLI_ARG_DIR},
    {.short_name = 'q', .long_name = "quiet", .help = "print less (only ids for ps and ls)"},
    {.long_name = "log-level",
     .arg = "LEVEL",
     .help = "error, warn (default), info or debug",
     .values = "error warn info debug"},
    {.short_name = 'h', .long_name = "help", .help = "show help (also after any command)"},
    {.long_name = "version", .help = "same as 'hearth version'"},
    {0}};

static const struct cli_flag flags_apply[] = {
    {.short_name = 'f',
     .long_name = "filename",
     .arg = "FILE",
     .repeat = true,
     .help = "a YAML or JSON file of documents, - for stdin (repeatable)",
     .offer = CLI_ARG_FILE},
    {0}};
static const struct cli_flag flags_ps[] = {
    {.short_name = 'a', .long_name = "all", .help = "show all VMs, not only running ones"},
    OUTPUT_FLAG("table (default), wide, json, yaml or csv", "table wide json yaml csv"),
    {.short_name = 'f',
     .long_name = "filter",
     .arg = "KEY=VALUE",
     .repeat = true,
     .help = "only VMs matching: name=, id=, state= (or status=), image=, kernel=, "
             "label=KEY[=VALUE]"},
    TEMPLATE_FLAG,
    {0}};
static const struct cli_flag flags_ls[] = {
    OUTPUT_FLAG("table (default), wide, json, yaml or csv", "table wide json yaml csv"), {0}};
static const struct cli_flag flags_inspect[] = {
    OUTPUT_FLAG("json (default) or yaml", "json yaml"), TEMPLATE_FLAG, {0}};
static const struct cli_flag flags_export[] = {OUTPUT_FLAG("yaml (default) or json", "yaml json"),
                                               {0}};
static const struct cli_flag flags_sql[] = {
    OUTPUT_FLAG("table (default), csv, json or yaml", "table csv json yaml"),
    {.long_name = "timeout",
     .arg = "SECONDS",
     .help = "stop the statements after this long (default 30, 0 for no limit)"},
    {0}};
static const struct cli_flag flags_rm[] = {
    {.short_name = 'f',
     .long_name = "force",
     .help = "remove even if running (VM) or in use (image, kernel)"},
    {0}};
static const struct cli_flag flags_version[] = {
    OUTPUT_FLAG("json, yaml or short (the version alone); default: a line per component",
                "json yaml short"),
    {0}};

static const struct cli_flag flags_pool_init[] = {
    {.long_name = "driver",
     .arg = "DRIVER",
     .help = "dm-thin or file (default: dm-thin where usable, else file)",
     .values = "dm-thin file"},
    {.long_name = "data-size",
     .arg = "SIZE",
     .help = "the pool's data size (default 100GB; file: at most the filesystem)"},
    {.long_name = "metadata-size",
     .arg = "SIZE",
     .help = "dm-thin metadata size (default from the data size)"},
    {.long_name = "allocation-size", .arg = "SIZE", .help = "a multiple of 64KB (default 64KB)"},
    {.long_name = "data-path",
     .arg = "PATH",
     .help = "data file or block device; file driver: a directory",
     .offer = CLI_ARG_FILE},
    {.long_name = "metadata-path",
     .arg = "PATH",
     .help = "dm-thin metadata file or block device",
     .offer = CLI_ARG_FILE},
    {0}};
static const struct cli_flag flags_network_create[] = {
    {.long_name = "subnet",
     .arg = "CIDR",
     .help = "the IPv4 subnet, e.g. 10.61.0.0/16 (default: a free /16, 10.61.0.0/16 first)"},
    {0}};
static const struct cli_flag flags_network_ls[] = {
    OUTPUT_FLAG("table (default), json or yaml", "table json yaml"), {0}};
static const struct cli_flag flags_pool_status[] = {
    OUTPUT_FLAG("table (default), json or yaml", "table json yaml"), {0}};
static const struct cli_flag flags_pool_ls[] = {
    OUTPUT_FLAG("table (default), json, yaml or csv", "table json yaml csv"), {0}};
static const struct cli_flag flags_doctor[] = {{.long_name = "repair", .help = "fix what is found"},
                                               OUTPUT_FLAG("table (default) or json", "table json"),
                                               {0}};

static const struct cli_flag flags_image_import[] = {REGISTRY_FLAGS, {0}};
static const struct cli_flag flags_kernel_import[] = {
    {.long_name = "vmlinux",
     .arg = "PATH",
     .help = "import from local files: the kernel (vmlinux or bzImage)",
     .offer = CLI_ARG_FILE},
    {.long_name = "initrd",
     .arg = "PATH",
     .help = "with --vmlinux: an initrd",
     .offer = CLI_ARG_FILE},
    {.long_name = "modules",
     .arg = "DIR",
     .help = "with --vmlinux: /lib/modules/<version> (or /lib/modules)",
     .offer = CLI_ARG_DIR},
    REGISTRY_FLAGS,
    {0}};

/*
 * create and run share their first flags (Ignite's short forms); run adds
 * the start flags. create, run and start take the registry flags: they
 * import a missing image or kernel (start: for a VM applied without a disk).
 */
#define VM_CREATE_FLAGS                                                                            \
    {.short_name = 'n',                                                                            \
     .long_name = "name",                                                                          \
     .arg = "NAME",                                                                                \
     .help = "the VM's name (default: a generated one)"},                                          \
        {.long_name = "cpus", .arg = "N", .help = "virtual CPUs (default 1)"},                     \
        {.long_name = "memory", .arg = "SIZE", .help = "memory (default 512MB)"},                  \
        {.short_name = 's',                                                                        \
         .long_name = "size",                                                                      \
         .arg = "SIZE",                                                                            \
         .help = "disk size (default 4GB)"},                                                       \
        {.short_name = 'k',                                                                        \
         .long_name = "kernel-image",                                                              \
         .arg = "KERNEL",                                                                          \
         .help = "the kernel (default: the newest imported; imported when missing)",               \
         .offer = CLI_ARG_KERNEL},                                                                 \
        {.long_name = "kernel-args", .arg = "ARGS", .help = "the kernel command line"},            \
        {.short_name = 'f',                                                                        \
         .long_name = "copy-files",                                                                \
         .arg = "HOST:VM",                                                                         \
         .repeat = true,                                                                           \
         .help = "copy a host file into the VM (repeatable)",                                      \
         .offer = CLI_ARG_FILE},                                                                   \
        {.long_name = "ssh",                                                                       \
         .arg = "PUBKEY",                                                                          \
         .help = "authorize this public key file for root, or generate a key pair without one",    \
         .optional = true,                                                                         \
         .offer = CLI_ARG_FILE},                                                                   \
        {.long_name = "config",                                                                    \
         .arg = "FILE",                                                                            \
         .help = "a VM document (YAML or JSON); flags override it",                                \
         .offer = CLI_ARG_FILE},                                                                   \
        {.short_name = 'p',                                                                        \
         .long_name = "ports",                                                                     \
         .arg = "HOST:VM",                                                                         \
         .repeat = true,                                                                           \
         .help = "map a host port to a VM port (repeatable)"},                                     \
        {.long_name = "network-plugin",                                                            \
         .arg = "MODE",                                                                            \
         .help = "bridge (default as root), user (default otherwise), cni, none; docker-bridge "   \
                 "is bridge",                                                                      \
         .values = "bridge user none docker-bridge cni"},                                          \
        {.long_name = "net",                                                                       \
         .arg = "MODE",                                                                            \
         .help = "the same as --network-plugin",                                                   \
         .values = "bridge user none docker-bridge cni"},                                          \
    {                                                                                              \
        .short_name = 'l', .long_name = "label", .arg = "KEY=VALUE", .repeat = true,               \
        .help = "set a label (repeatable)"                                                         \
    }
#define VMM_FLAGS                                                                                  \
    {.long_name = "vmm",                                                                           \
     .arg = "VMM",                                                                                 \
     .help = "firecracker or qemu (default: firecracker with KVM, else qemu)",                     \
     .values = "firecracker qemu"},                                                                \
        {.long_name = "firecracker-bin",                                                           \
         .arg = "PATH",                                                                            \
         .help = "the firecracker binary (default: from PATH)",                                    \
         .offer = CLI_ARG_FILE},                                                                   \
    {                                                                                              \
        .long_name = "qemu-bin", .arg = "PATH",                                                    \
        .help = "the qemu binary (default: qemu-system-x86_64 from PATH)", .offer = CLI_ARG_FILE   \
    }
#define VM_START_FLAGS                                                                             \
    {.short_name = 'i',                                                                            \
     .long_name = "interactive",                                                                   \
     .help = "attach to the console after starting"},                                              \
        {.long_name = "ssh-wait",                                                                  \
         .help = "wait until the VM answers SSH (run does when --ssh is given)"},                  \
        {.long_name = "ssh-timeout",                                                               \
         .arg = "SECONDS",                                                                         \
         .help = "how long to wait for SSH (default 120; 0: do not wait)"},                        \
        {.long_name = "cni-conf-dir",                                                              \
         .arg = "DIR",                                                                             \
         .help = "cni: where the network configuration lists are (default /etc/cni/net.d)",        \
         .offer = CLI_ARG_DIR},                                                                    \
        {.long_name = "cni-bin-dir",                                                               \
         .arg = "DIRS",                                                                            \
         .help = "cni: the plugins' directories, ':'-separated (default "                          \
                 "/opt/cni/bin:/usr/lib/cni)"},                                                    \
        VMM_FLAGS

static const struct cli_flag flags_create[] = {VM_CREATE_FLAGS, REGISTRY_FLAGS, {0}};
static const struct cli_flag flags_run[] = {VM_CREATE_FLAGS, REGISTRY_FLAGS, VM_START_FLAGS, {0}};
static const struct cli_flag flags_start[] = {VM_START_FLAGS, REGISTRY_FLAGS, {0}};
static const struct cli_flag flags_stop[] = {
    {.short_name = 'f', .long_name = "force", .help = "kill at once instead of shutting down"},
    {.short_name = 't',
     .long_name = "time",
     .arg = "SECONDS",
     .help = "seconds to wait for a shutdown before killing (default 20)"},
    {0}};
static const struct cli_flag flags_logs[] = {
    {.short_name = 'f',
     .long_name = "follow",
     .help = "keep printing new output until the VM stops"},
    {.long_name = "tail", .arg = "N", .help = "only the last N lines (default: all)"},
    {0}};

/* exec, ssh and cp reach the VM the same way. */
#define SSH_FLAGS                                                                                  \
    {.short_name = 'i',                                                                            \
     .long_name = "identity",                                                                      \
     .arg = "KEY",                                                                                 \
     .help = "the private key (default: the pair --ssh generated)",                                \
     .offer = CLI_ARG_FILE},                                                                       \
        {.long_name = "timeout",                                                                   \
         .arg = "SECONDS",                                                                         \
         .help = "how long to wait for SSH to answer (default 30)"},                               \
    {                                                                                              \
        .long_name = "accept-new-host-key",                                                        \
        .help = "record the host key the guest shows now (after it replaced the planted one)"      \
    }

static const struct cli_flag flags_exec[] = {
    {.short_name = 't', .long_name = "tty", .help = "allocate a pseudo-terminal for the command"},
    SSH_FLAGS,
    {0}};

static const struct cli_flag flags_ssh[] = {SSH_FLAGS, {0}};

static const struct cli_flag flags_cp[] = {
    {.short_name = 'r', .long_name = "recursive", .help = "copy directories and what is in them"},
    SSH_FLAGS,
    {0}};

static const struct cli_flag flags_dash[] = {
    {.long_name = "readonly", .help = "offer no action that changes state"},
    {.long_name = "refresh",
     .arg = "MS",
     .help = "poll the database every MS milliseconds (default 1000)"},
    VMM_FLAGS,
    {0}};

#define KIND_FROM_ARG (-1)
#define PS_ALL 1    /* cmd_ps: all VMs without -a (vm ls, as Ignite's) */
#define RUN_START 1 /* cmd_create: start the VM too (run) */

const struct cli_command cli_commands[] = {
    {.name = "apply",
     .handler = cmd_apply,
     .usage = "-f FILE [-f FILE]...",
     .summary = "Create or update objects from YAML or JSON documents",
     .flags = flags_apply,
     .engine = true},
    {.name = "attach",
     .aliases = {"vm attach"},
     .handler = cmd_attach,
     .usage = "VM",
     .summary = "Attach to a running VM's console (detach with ^P^Q)",
     .min_args = 1,
     .max_args = 1,
     .engine = true,
     .args = CLI_ARG_VM},
    {.name = "completion",
     .handler = cmd_completion,
     .usage = "bash|zsh|fish",
     .summary = "Print the shell completion script (commands, flags, and names from the database)",
     .min_args = 1,
     .max_args = 1,
     .arg_values = "bash zsh fish"},
    {.name = "cp",
     .aliases = {"vm cp"},
     .handler = cmd_cp,
     .usage = "[-r] [-i KEY] [--timeout SECONDS] [--accept-new-host-key] SRC DST",
     .summary = "Copy files between the host and a running VM over SFTP (VM:PATH on one side)",
     .min_args = 2,
     .max_args = 2,
     .flags = flags_cp,
     .engine = true,
     .args = CLI_ARG_FILE},
    {.name = "create",
     .aliases = {"vm create"},
     .handler = cmd_create,
     .usage = "[FLAGS] IMAGE",
     .summary = "Create a VM from an image (imported when missing)",
     .max_args = 1,
     .flags = flags_create,
     .engine = true,
     .args = CLI_ARG_IMAGE},
    {.name = "dash",
     .handler = cmd_dash,
     .usage = "[--readonly] [--refresh MS] [--vmm VMM]",
     .summary = "The dashboard: VMs, images, kernels, pool and operations, live",
     .flags = flags_dash,
     .engine = true},
    {.name = "doctor",
     .handler = cmd_doctor,
     .usage = "[--repair] [-o table|json]",
     .summary = "Compare the database with the pool; exit 0 clean, 3 repaired, 4 problems left",
     .flags = flags_doctor,
     .engine = true,
     .reads = true,
     .reads_unless = "repair"},
    {.name = "exec",
     .aliases = {"vm exec"},
     .handler = cmd_exec,
     .usage = "[-t] [-i KEY] [--timeout SECONDS] VM CMD [ARG]...",
     .summary = "Run a command in a running VM over SSH (the VM needs --ssh)",
     .min_args = 2,
     .max_args = -1,
     .flags = flags_exec,
     .engine = true,
     .args = CLI_ARG_VM,
     .flags_end_after = 1},
    {.name = "export",
     .handler = cmd_export,
     .usage = "[-o yaml|json] [KIND...]",
     .summary = "Write every object (or those of the given kinds) as documents",
     .max_args = -1,
     .flags = flags_export,
     .engine = true,
     .reads = true,
     .arg_values = "vm image kernel pool"},
    {.name = "help",
     .handler = cmd_help,
     .usage = "[COMMAND]",
     .summary = "Show the commands, or a command's usage and flags",
     .max_args = 2,
     .args = CLI_ARG_COMMAND},
    {.name = "image import",
     .handler = cmd_image_import,
     .usage = "[--insecure-registry HOST]... [--registry-config-dir DIR] [-q] SOURCE",
     .summary =
         "Import an image (REF, oci-layout:DIR[:TAG], docker-archive:FILE[:REF|:@N]) into the pool",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_image_import,
     .engine = true},
    {.name = "image inspect",
     .handler = cmd_inspect,
     .usage = "[-o json|yaml] [-t TEMPLATE] IMAGE",
     .summary = "Show an image as a document",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_inspect,
     .data = API_KIND_IMAGE,
     .engine = true,
     .reads = true,
     .args = CLI_ARG_IMAGE},
    {.name = "image ls",
     .aliases = {"image list"},
     .handler = cmd_ls,
     .usage = "[-q] [-o FORMAT]",
     .summary = "List images",
     .flags = flags_ls,
     .data = API_KIND_IMAGE,
     .engine = true,
     .reads = true},
    {.name = "inspect",
     .handler = cmd_inspect,
     .usage = "[-o json|yaml] [-t TEMPLATE] vm|image|kernel NAME",
     .summary = "Show an object as a document",
     .min_args = 2,
     .max_args = 2,
     .flags = flags_inspect,
     .data = KIND_FROM_ARG,
     .engine = true,
     .reads = true,
     .args = CLI_ARG_KIND_NAME},
    {.name = "kernel import",
     .handler = cmd_kernel_import,
     .usage = "[--insecure-registry HOST]... [--registry-config-dir DIR] [-q] SOURCE | "
              "--vmlinux PATH [--initrd PATH] [--modules DIR] NAME",
     .summary = "Import a kernel from an OCI image or from local files",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_kernel_import,
     .engine = true},
    {.name = "kernel inspect",
     .handler = cmd_inspect,
     .usage = "[-o json|yaml] [-t TEMPLATE] KERNEL",
     .summary = "Show a kernel as a document",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_inspect,
     .data = API_KIND_KERNEL,
     .engine = true,
     .reads = true,
     .args = CLI_ARG_KERNEL},
    {.name = "kernel ls",
     .aliases = {"kernel list"},
     .handler = cmd_ls,
     .usage = "[-q] [-o FORMAT]",
     .summary = "List kernels",
     .flags = flags_ls,
     .data = API_KIND_KERNEL,
     .engine = true,
     .reads = true},
    {.name = "kill",
     .aliases = {"vm kill"},
     .handler = cmd_kill,
     .usage = "VM...",
     .summary = "Kill running VMs at once",
     .min_args = 1,
     .max_args = -1,
     .engine = true,
     .args = CLI_ARG_VM},
    {.name = "logs",
     .aliases = {"vm logs"},
     .handler = cmd_logs,
     .usage = "[-f] [--tail N] VM",
     .summary = "Print a VM's console log",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_logs,
     .engine = true,
     .reads = true,
     .args = CLI_ARG_VM},
    {.name = "network create",
     .handler = cmd_network_create,
     .usage = "[--subnet CIDR] [NAME]",
     .summary = "Record a bridged network (default hearth0) before its first VM",
     .max_args = 1,
     .flags = flags_network_create,
     .engine = true},
    {.name = "network ls",
     .handler = cmd_network_ls,
     .usage = "[-o table|json|yaml]",
     .summary = "List the bridged networks, their leases, bridges and dnsmasq",
     .flags = flags_network_ls,
     .engine = true,
     .reads = true},
    {.name = "network rm",
     .handler = cmd_network_rm,
     .usage = "NAME",
     .summary = "Remove a network without leases: its dnsmasq, bridge and record",
     .min_args = 1,
     .max_args = 1,
     .engine = true},
    {.name = "pool init",
     .handler = cmd_pool_init,
     .usage = "[--driver dm-thin|file] [--data-size SIZE] [--metadata-size SIZE] "
              "[--allocation-size SIZE] [--data-path PATH] [--metadata-path PATH]",
     .summary = "Create the storage pool",
     .flags = flags_pool_init,
     .engine = true},
    {.name = "pool ls",
     .handler = cmd_pool_ls,
     .usage = "[-o table|json|yaml|csv]",
     .summary = "List the pool's devices",
     .flags = flags_pool_ls,
     .engine = true,
     .reads = true},
    {.name = "pool status",
     .handler = cmd_pool_status,
     .usage = "[-o table|json|yaml]",
     .summary = "Show the pool's driver, sizes, usage and device counts",
     .flags = flags_pool_status,
     .engine = true,
     .reads = true},
    {.name = "ps",
     .aliases = {"vm ps"},
     .handler = cmd_ps,
     .usage = "[-a] [-q] [-o FORMAT] [-t TEMPLATE] [--filter KEY=VALUE]...",
     .summary = "List VMs (running ones unless -a)",
     .flags = flags_ps,
     .engine = true,
     .reads = true},
    {.name = "rm",
     .aliases = {"vm rm"},
     .handler = cmd_rm,
     .usage = "[-f] VM...",
     .summary = "Remove VMs",
     .min_args = 1,
     .max_args = -1,
     .flags = flags_rm,
     .data = API_KIND_VM,
     .engine = true,
     .args = CLI_ARG_VM},
    {.name = "rmi",
     .aliases = {"image rm"},
     .handler = cmd_rm,
     .usage = "[-f] IMAGE...",
     .summary = "Remove images",
     .min_args = 1,
     .max_args = -1,
     .flags = flags_rm,
     .data = API_KIND_IMAGE,
     .engine = true,
     .args = CLI_ARG_IMAGE},
    {.name = "rmk",
     .aliases = {"kernel rm"},
     .handler = cmd_rm,
     .usage = "[-f] KERNEL...",
     .summary = "Remove kernels",
     .min_args = 1,
     .max_args = -1,
     .flags = flags_rm,
     .data = API_KIND_KERNEL,
     .engine = true,
     .args = CLI_ARG_KERNEL},
    {.name = "run",
     .aliases = {"vm run"},
     .handler = cmd_create,
     .usage = "[FLAGS] IMAGE",
     .summary = "Create a VM and start it",
     .max_args = 1,
     .flags = flags_run,
     .data = RUN_START,
     .engine = true,
     .args = CLI_ARG_IMAGE},
    {.name = "sql",
     .handler = cmd_sql,
     .usage = "[-o table|csv|json|yaml] [--timeout SECONDS] [STATEMENTS]",
     .summary = "Run read-only SQL on the database (statements from stdin without an argument)",
     .max_args = 1,
     .flags = flags_sql,
     .engine = true,
     .reads = true},
    {.name = "ssh",
     .aliases = {"vm ssh"},
     .handler = cmd_ssh,
     .usage = "[-i KEY] [--timeout SECONDS] [--accept-new-host-key] VM",
     .summary = "Open a shell in a running VM over SSH (the VM needs --ssh)",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_ssh,
     .engine = true,
     .args = CLI_ARG_VM},
    {.name = "start",
     .aliases = {"vm start"},
     .handler = cmd_start,
     .usage = "[-i] [--vmm VMM] [--insecure-registry HOST]... [--registry-config-dir DIR] VM...",
     .summary = "Start VMs",
     .min_args = 1,
     .max_args = -1,
     .flags = flags_start,
     .engine = true,
     .args = CLI_ARG_VM},
    {.name = "stop",
     .aliases = {"vm stop"},
     .handler = cmd_stop,
     .usage = "[-f] [-t SECONDS] VM...",
     .summary = "Stop VMs: shut down, killed after 20 s (-t) or at once (-f)",
     .min_args = 1,
     .max_args = -1,
     .flags = flags_stop,
     .engine = true,
     .args = CLI_ARG_VM},
    {.name = "version",
     .handler = cmd_version,
     .usage = "[-o json|yaml|short]",
     .summary = "Print the versions of hearth, its libraries and its database schema",
     .flags = flags_version},
    {.name = "vm inspect",
     .handler = cmd_inspect,
     .usage = "[-o json|yaml] [-t TEMPLATE] VM",
     .summary = "Show a VM as a document",
     .min_args = 1,
     .max_args = 1,
     .flags = flags_inspect,
     .data = API_KIND_VM,
     .engine = true,
     .reads = true,
     .args = CLI_ARG_VM},
    {.name = "vm ls",
     .aliases = {"vm list"},
     .handler = cmd_ps,
     .usage = "[-q] [-o FORMAT] [-t TEMPLATE] [--filter KEY=VALUE]...",
     .summary = "List all VMs, running or not (as Ignite's vm ls)",
     .flags = flags_ps,
     .data = PS_ALL,
     .engine = true,
     .reads = true},
    /* Plumbing for the completion scripts and the build. */
    {.name = "__complete",
     .handler = cmd_complete,
     .usage = "vm|image|kernel",
     .summary = "Print the names of a kind, for the completion scripts",
     .min_args = 1,
     .max_args = 1,
     .arg_values = "vm image kernel",
     .hidden = true},
    {.name = "__man",
     .handler = cmd_man,
     .summary = "Print the hearth(1) man page (roff), for the build",
     .hidden = true},
};
const size_t cli_n_commands = ARRAY_SIZE(cli_commands);

const struct cli_group cli_groups[] = {
    {.name = "vm", .alias = "vms", .summary = "Manage VMs", .dflt = "vm ls"},
    {.name = "image", .alias = "images", .summary = "Manage images", .dflt = "image ls"},
    {.name = "kernel", .alias = "kernels", .summary = "Manage kernels", .dflt = "kernel ls"},
    {.name = "network", .summary = "Manage the bridged networks", .dflt = "network ls"},
    {.name = "pool", .summary = "Manage the storage pool"},
};
const size_t cli_n_groups = ARRAY_SIZE(cli_groups);

const struct cli_group *cli_group_find(const char *word) {
    for (size_t i = 0; i < cli_n_groups; i++)
        if (strcmp(cli_groups[i].name, word) == 0 ||
            (cli_groups[i].alias && strcmp(cli_groups[i].alias, word) == 0))
            return &cli_groups[i];
    return NULL;
}

const struct cli_command *cli_command_find(const char *name, const char **ret_name) {
    /* "vms ls" is "vm ls": the group's alias becomes its name. */
    char canon[128];
    const char *sp = strchr(name, ' ');
    if (sp) {
        char group[64];
        size_t len = (size_t)(sp - name);
        if (len >= sizeof(group))
            return NULL;
        memcpy(group, name, len);
        group[len] = '\0';
        const struct cli_group *g = cli_group_find(group);
        if (g && snprintf(canon, sizeof(canon), "%s%s", g->name, sp) < (int)sizeof(canon))
            name = canon;
    }
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        if (strcmp(c->name, name) == 0) {
            if (ret_name)
                *ret_name = c->name;
            return c;
        }
        for (size_t a = 0; a < CLI_ALIASES_MAX && c->aliases[a]; a++) {
            if (strcmp(c->aliases[a], name) == 0) {
                if (ret_name)
                    *ret_name = c->aliases[a];
                return c;
            }
        }
    }
    return NULL;
}

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

int cli_flag_u64(struct cli_ctx *ctx, const char *flag, const char *s, uint64_t min, uint64_t max,
                 uint64_t *ret) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v < min || v > max) {
        /* -EINVAL here rather than cli_usage_error's result, so that the
         * compiler sees that *ret is only left unset on failure. */
        (void)cli_usage_error(ctx, "--%s: '%s' is not a number from %llu to %llu", flag, s,
                              (unsigned long long)min, (unsigned long long)max);
        return -EINVAL;
    }
    *ret = v;
    return 0;
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

/* ---- root -------------------------------------------------------------- */

/* The root directory, as podman chooses its storage: --root, $HEARTH_ROOT,
 * /var/lib/hearth for root, else $XDG_DATA_HOME/hearth or ~/.local/share/hearth. */
int cli_root_resolve(char **ret, struct error *err) {
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
        return error_oom(err);
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
        if (!only_args && cmd->flags_end_after > 0 && ctx->args.argc >= cmd->flags_end_after) {
            only_args = true;
            if (strcmp(a, "--") == 0)
                continue;
        }
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
                                ctx->name);
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
                cli_usage_error(ctx, "unknown flag '-%c' for 'hearth %s'", *p, ctx->name);
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
            cli_usage_error(ctx, "'hearth %s' takes no arguments", ctx->name);
        else if (cmd->min_args == cmd->max_args)
            cli_usage_error(ctx, "'hearth %s' takes %d argument%s, got %d", ctx->name,
                            cmd->min_args, cmd->min_args == 1 ? "" : "s", n);
        else if (n < cmd->min_args)
            cli_usage_error(ctx, "'hearth %s' needs at least %d argument%s", ctx->name,
                            cmd->min_args, cmd->min_args == 1 ? "" : "s");
        else
            cli_usage_error(ctx, "'hearth %s' takes at most %d argument%s, got %d", ctx->name,
                            cmd->max_args, cmd->max_args == 1 ? "" : "s", n);
        return PARSE_USAGE;
    }
    return PARSE_OK;
}

/*
 * Finds the command at argv[i]: a command's name or alias ("ps", "rmi"), or
 * a group and its subcommand ("vm ls", "vms list"), or a group alone, which
 * runs its default command ("vm" is "vm ls", as in Ignite). *ret_used is
 * how many words the name took (0 for a group's default: the next word is
 * an argument). NULL with *ret_group set when a group has no such
 * subcommand, or none was given and the group has no default.
 */
static const struct cli_command *command_find(int argc, char **argv, int i, int *ret_used,
                                              const char **ret_name,
                                              const struct cli_group **ret_group) {
    *ret_group = cli_group_find(argv[i]);
    if (!*ret_group) {
        *ret_used = 1;
        return cli_command_find(argv[i], ret_name);
    }
    const struct cli_group *g = *ret_group;
    if (i + 1 < argc && argv[i + 1][0] != '-') {
        char name[128];
        snprintf(name, sizeof(name), "%s %.64s", g->name, argv[i + 1]);
        *ret_used = 2;
        return cli_command_find(name, ret_name);
    }
    *ret_used = 1;
    if (!g->dflt ||
        (i + 1 < argc && (!strcmp(argv[i + 1], "-h") || !strcmp(argv[i + 1], "--help"))))
        return NULL;
    return cli_command_find(g->dflt, ret_name);
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

    /* What hearth makes (and the programs it runs make: the VMM's sockets,
     * ssh-keygen's keys, tar's modules.tar) is for its user alone, whatever
     * umask it was started with; the files that must be otherwise get their
     * mode set explicitly (an image's content keeps the image's modes). */
    umask(077);
    if (argc >= 2 && strcmp(argv[1], "__monitor") == 0)
        return monitor_main(argc, argv);

    /* Global options before the command. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cli_print_program_help(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            ctx.cmd = cli_command_find("version", &ctx.name);
            return cmd_version(&ctx);
        }
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
        cli_print_program_help(stderr);
        return 2;
    }

    int used = 0;
    const struct cli_group *group = NULL;
    ctx.cmd = command_find(argc, argv, i, &used, &ctx.name, &group);
    if (!ctx.cmd) {
        if (group && used == 1) {
            /* The group's help, or the group alone (or with a flag) without a default. */
            bool help =
                i + 1 < argc && (!strcmp(argv[i + 1], "-h") || !strcmp(argv[i + 1], "--help"));
            cli_print_group_help(help ? stdout : stderr, group);
            return help ? 0 : 2;
        }
        char msg[256];
        if (group)
            snprintf(msg, sizeof(msg), "unknown command 'hearth %s %.64s'", argv[i], argv[i + 1]);
        else
            snprintf(msg, sizeof(msg), "unknown command '%.64s'", argv[i]);
        cli_print_error(msg);
        if (group)
            cli_print_group_help(stderr, group);
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
        cli_print_command_help(stdout, ctx.cmd, ctx.name);
        return 0;
    }
    if (p == PARSE_USAGE) {
        cli_print_error(ctx.err.msg);
        fprintf(stderr, "Usage: hearth %s %s\nRun 'hearth %s --help' for more.\n", ctx.name,
                ctx.cmd->usage, ctx.name);
        return 2;
    }
    ctx.quiet = opts.quiet;

    _cleanup_engine_ engine *eng = NULL;
    if (ctx.cmd->engine) {
        _cleanup_free_ char *root = NULL;
        if (cli_root_resolve(&root, &ctx.err) < 0) {
            cli_print_error(ctx.err.msg);
            return 1;
        }
        const char *unless = ctx.cmd->reads_unless;
        bool reads = ctx.cmd->reads && !(unless && cli_flag_given(&ctx, unless));
        if ((reads ? engine_open_reading(root, &eng, &ctx.err)
                   : engine_open(root, &eng, &ctx.err)) < 0) {
            cli_root_explain(root, &ctx.err);
            cli_print_error(ctx.err.msg);
            return 1;
        }
        if (engine_read_only(eng))
            fprintf(stderr,
                    "hearth: the root '%s' is read-only (%s): showing the state as recorded; "
                    "recovery did not run\n",
                    engine_root(eng), engine_read_only(eng));
        ctx.eng = eng;
    }

    int r = ctx.cmd->handler(&ctx);
    if (fflush(stdout) != 0 && r >= 0)
        r = error_set(&ctx.err, -EIO, "cannot write the output: %s", strerror(errno));
    if (ctx.usage_error) {
        cli_print_error(ctx.err.msg);
        fprintf(stderr, "Run 'hearth %s --help' for usage.\n", ctx.name);
        return 2;
    }
    if (r < 0) {
        if (ctx.err.msg[0])
            cli_print_error(ctx.err.msg);
        return 1;
    }
    return ctx.exit_status;
}
