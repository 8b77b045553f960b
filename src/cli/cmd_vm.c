/*
 * The VM lifecycle commands, with Ignite's flags: create and run (a VM
 * document built from the flags, or read with --config and overridden by
 * the flags given), start [-i], stop [-f] [-t], kill, logs [-f] [--tail],
 * attach. Each is one engine call per VM; the engine prints nothing, so
 * notices go to stderr here and stdout keeps what scripts read (ids).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli_priv.h"

#define SSH_KEY_MAX (16u << 10) /* bytes of a public key file */

/* Replaces *dst with a copy of src. */
static int set_str(struct cli_ctx *ctx, char **dst, const char *src) {
    char *c = xstrdup(src);
    if (!c)
        return error_oom(&ctx->err);
    free(*dst);
    *dst = c;
    return 0;
}

static int parse_size(struct cli_ctx *ctx, const char *flag, const char *s, uint64_t *ret) {
    if (api_size_parse(s, ret) < 0)
        return cli_usage_error(ctx, "--%s: '%s' is not a size (e.g. 512MB, 4GB)", flag, s);
    return 0;
}

/* Reads the VM document of --config: exactly one VM. */
static int config_read(struct cli_ctx *ctx, const char *path, struct api_object **ret) {
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    int r = strbuf_read_file(&sb, path, API_INPUT_MAX, &ctx->err);
    if (r < 0)
        return r;
    struct api_object **objs = NULL;
    size_t n = 0;
    r = api_docs_parse(sb.buf ? sb.buf : "", sb.len, path, &objs, &n, &ctx->err);
    if (r < 0)
        return r;
    if (n != 1 || objs[0]->kind != API_KIND_VM) {
        api_objects_free(objs, n);
        return error_set(&ctx->err, -EINVAL, "%s: --config needs exactly one VM document", path);
    }
    *ret = objs[0];
    free(objs);
    return 0;
}

/* -l KEY=VALUE: sets or replaces a label. */
static int label_set(struct cli_ctx *ctx, struct api_meta *m, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return cli_usage_error(ctx, "--label: '%s' is not KEY=VALUE", kv);
    _cleanup_free_ char *key = strndup(kv, (size_t)(eq - kv));
    if (!key)
        return error_oom(&ctx->err);
    for (size_t i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i].key, key) == 0)
            return set_str(ctx, &m->labels[i].value, eq + 1);
    if (m->n_labels >= API_LIST_MAX)
        return cli_usage_error(ctx, "--label: more than %d labels", API_LIST_MAX);
    struct api_kv *grown = xrealloc(m->labels, (m->n_labels + 1) * sizeof(*grown));
    if (!grown)
        return error_oom(&ctx->err);
    m->labels = grown;
    char *value = xstrdup(eq + 1);
    if (!value)
        return error_oom(&ctx->err);
    m->labels[m->n_labels].key = steal_ptr(&key);
    m->labels[m->n_labels].value = value;
    m->n_labels++;
    return 0;
}

/* -f HOST:VM: the host file must exist; it is recorded by its absolute path. */
static int copy_file_add(struct cli_ctx *ctx, struct api_vm *vm, const char *spec) {
    const char *sep = NULL;
    for (const char *p = spec; (p = strchr(p, ':')); p++)
        if (p[1] == '/')
            sep = p; /* the last ":/": host paths may hold colons, guest paths are absolute */
    if (!sep || sep == spec)
        return cli_usage_error(ctx, "--copy-files: '%s' is not HOST:VM (VM an absolute path)",
                               spec);
    _cleanup_free_ char *host = strndup(spec, (size_t)(sep - spec));
    if (!host)
        return error_oom(&ctx->err);
    char abs[PATH_MAX];
    if (!realpath(host, abs))
        return error_set(&ctx->err, -errno, "--copy-files: cannot use '%s': %s", host,
                         strerror(errno));
    if (vm->n_copy_files >= API_LIST_MAX)
        return cli_usage_error(ctx, "--copy-files: more than %d files", API_LIST_MAX);
    struct api_file_mapping *grown =
        xrealloc(vm->copy_files, (vm->n_copy_files + 1) * sizeof(*grown));
    if (!grown)
        return error_oom(&ctx->err);
    vm->copy_files = grown;
    struct api_file_mapping *fm = &vm->copy_files[vm->n_copy_files];
    fm->host_path = xstrdup(abs);
    fm->vm_path = xstrdup(sep + 1);
    if (!fm->host_path || !fm->vm_path) {
        free(fm->host_path);
        free(fm->vm_path);
        return error_oom(&ctx->err);
    }
    vm->n_copy_files++;
    return 0;
}

static int port_add(struct cli_ctx *ctx, struct api_vm *vm, const char *spec) {
    if (vm->n_ports >= API_LIST_MAX)
        return cli_usage_error(ctx, "--ports: more than %d ports", API_LIST_MAX);
    struct api_port p;
    struct error perr;
    error_init(&perr);
    if (api_port_parse(spec, &p, &perr) < 0)
        return cli_usage_error(ctx, "--ports: %s", perr.msg);
    struct api_port *grown = xrealloc(vm->ports, (vm->n_ports + 1) * sizeof(*grown));
    if (!grown) {
        api_port_release(&p);
        return error_oom(&ctx->err);
    }
    vm->ports = grown;
    vm->ports[vm->n_ports++] = p;
    return 0;
}

/* --ssh: generate a key pair; --ssh=PUBKEY: the public key read from that file. */
static int ssh_set(struct cli_ctx *ctx, struct api_vm *vm, const char *path) {
    vm->has_ssh = true;
    free(vm->ssh_public_key);
    vm->ssh_public_key = NULL;
    if (!*path)
        return 0;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    struct error ferr;
    error_init(&ferr);
    if (strbuf_read_file(&sb, path, SSH_KEY_MAX, &ferr) < 0)
        return error_set(&ctx->err, ferr.code, "--ssh: %s", ferr.msg);
    while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == '\r'))
        sb.buf[--sb.len] = '\0';
    const char *k = sb.buf ? sb.buf : "";
    if (!(str_starts_with(k, "ssh-") || str_starts_with(k, "ecdsa-sha2-") ||
          str_starts_with(k, "sk-")) ||
        strchr(k, '\n'))
        return error_set(&ctx->err, -EINVAL,
                         "--ssh: '%s' is not one OpenSSH public key (e.g. ~/.ssh/id_ed25519.pub)",
                         path);
    return set_str(ctx, &vm->ssh_public_key, k);
}

static int claim_set(struct cli_ctx *ctx, struct api_oci_claim **claim, const char *ref) {
    if (!*claim) {
        *claim = xcalloc(1, sizeof(**claim));
        if (!*claim)
            return error_oom(&ctx->err);
    }
    int r = set_str(ctx, &(*claim)->type, "Docker");
    return r < 0 ? r : set_str(ctx, &(*claim)->ref, ref);
}

/* The VM document of create/run: --config's, then the image argument and the flags on top. */
static int vm_from_flags(struct cli_ctx *ctx, struct api_object **ret) {
    _cleanup_object_ struct api_object *obj = NULL;
    const char *config = cli_flag_value(ctx, "config", NULL);
    int r = config ? config_read(ctx, config, &obj) : 0;
    if (r < 0)
        return r;
    if (!obj && !(obj = api_object_new(API_KIND_VM)))
        return error_oom(&ctx->err);
    struct api_vm *vm = &obj->u.vm;
    const char *v;
    int n;

    if (ctx->args.argc > 0 && (r = claim_set(ctx, &vm->image_claim, ctx->args.argv[0])) < 0)
        return r;
    if (!vm->image_claim || !vm->image_claim->ref)
        return cli_usage_error(ctx, "'hearth %s' needs an image (or --config with spec.image)",
                               ctx->cmd->name);
    if ((v = cli_flag_value(ctx, "name", NULL)) && (r = set_str(ctx, &obj->meta.name, v)) < 0)
        return r;
    if ((v = cli_flag_value(ctx, "cpus", NULL)) &&
        (r = cli_flag_u64(ctx, "cpus", v, 1, 256, &vm->cpus)) < 0)
        return r;
    if ((v = cli_flag_value(ctx, "memory", NULL)) &&
        (r = parse_size(ctx, "memory", v, &vm->memory)) < 0)
        return r;
    if ((v = cli_flag_value(ctx, "size", NULL)) &&
        (r = parse_size(ctx, "size", v, &vm->disk_size)) < 0)
        return r;
    if ((v = cli_flag_value(ctx, "kernel-image", NULL)) &&
        (r = claim_set(ctx, &vm->kernel_claim, v)) < 0)
        return r;
    if ((v = cli_flag_value(ctx, "kernel-args", NULL)) && (r = set_str(ctx, &vm->cmdline, v)) < 0)
        return r;
    if ((v = cli_flag_value(ctx, "ssh", NULL)) && (r = ssh_set(ctx, vm, v)) < 0)
        return r;
    const char *const *vals = cli_flag_values(ctx, "copy-files", &n);
    for (int i = 0; i < n; i++)
        if ((r = copy_file_add(ctx, vm, vals[i])) < 0)
            return r;
    vals = cli_flag_values(ctx, "ports", &n);
    for (int i = 0; i < n; i++)
        if ((r = port_add(ctx, vm, vals[i])) < 0)
            return r;
    const char *net = cli_flag_value(ctx, "network-plugin", NULL);
    const char *net2 = cli_flag_value(ctx, "net", NULL);
    if (net && net2 && strcmp(net, net2) != 0)
        return cli_usage_error(ctx, "--network-plugin %s and --net %s disagree", net, net2);
    if (!net)
        net = net2;
    /* Without root there is no bridge: user networking, unless a mode was asked for. */
    if (!net && !vm->network_mode && geteuid() != 0)
        net = "user";
    if (net && (r = set_str(ctx, &vm->network_mode, net)) < 0)
        return r;
    vals = cli_flag_values(ctx, "label", &n);
    for (int i = 0; i < n; i++)
        if ((r = label_set(ctx, &obj->meta, vals[i])) < 0)
            return r;
    *ret = steal_ptr(&obj);
    return 0;
}

/* Prints each line of a multi-line notice as "hearth: LINE" on stderr. */
static void print_notice(const char *notice) {
    const char *p = notice;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (len > 0)
            fprintf(stderr, "hearth: %.*s\n", len, p);
        p += len + (nl ? 1 : 0);
    }
}

static void on_vm_stage(void *ud, const char *stage) {
    (void)ud;
    fprintf(stderr, "%s\n", stage);
}

/*
 * The options of a create (create, run, and start's disk build): imports
 * that Ctrl-C cancels (io; end them with cli_import_end on what this
 * returns), the stages on a terminal. NULL on out-of-memory.
 */
static struct cli_import *create_opts_begin(struct cli_ctx *ctx, struct engine_import_opts *io,
                                            struct engine_vm_create_opts *co) {
    struct cli_import *ci = cli_import_begin(ctx, io);
    *co = (struct engine_vm_create_opts){.import = io};
    if (!ctx->quiet && isatty(STDERR_FILENO))
        co->stage = on_vm_stage;
    return ci;
}

static void start_opts_from_flags(struct cli_ctx *ctx, struct engine_vm_start_opts *o) {
    memset(o, 0, sizeof(*o));
    o->vmm = cli_flag_value(ctx, "vmm", NULL);
    o->firecracker_bin = cli_flag_value(ctx, "firecracker-bin", NULL);
    o->qemu_bin = cli_flag_value(ctx, "qemu-bin", NULL);
    o->cni_conf_dir = cli_flag_value(ctx, "cni-conf-dir", NULL);
    o->cni_bin_dir = cli_flag_value(ctx, "cni-bin-dir", NULL);
}

static int check_vmm_flag(struct cli_ctx *ctx) {
    const char *v = cli_flag_value(ctx, "vmm", NULL);
    if (v && strcmp(v, "firecracker") != 0 && strcmp(v, "qemu") != 0)
        return cli_usage_error(ctx, "--vmm: '%s' is not firecracker or qemu", v);
    return 0;
}

static int attach_tty(struct cli_ctx *ctx, const char *ref);

#define SSH_WAIT_DEFAULT_S 120 /* a Debian guest under TCG answers SSH in 20-80 s */

/*
 * How long run or start waits for SSH after the start: 0 for not at all
 * (--ssh-timeout 0, or neither --ssh-wait nor wait_by_default), -EINVAL
 * (said) for a bad --ssh-timeout.
 */
static int ssh_wait_seconds(struct cli_ctx *ctx, bool wait_by_default) {
    uint64_t s = SSH_WAIT_DEFAULT_S;
    const char *v = cli_flag_value(ctx, "ssh-timeout", NULL);
    if (v && cli_flag_u64(ctx, "ssh-timeout", v, 0, 86400, &s) < 0)
        return -EINVAL;
    if (!wait_by_default && !cli_flag_given(ctx, "ssh-wait"))
        return 0;
    return (int)s;
}

int cmd_create(struct cli_ctx *ctx) {
    bool run = ctx->cmd->data == 1;
    int r = check_vmm_flag(ctx);
    if (r < 0)
        return r;
    if (run && cli_flag_given(ctx, "interactive") && !isatty(STDIN_FILENO))
        return cli_usage_error(ctx, "-i needs a terminal on stdin");
    _cleanup_object_ struct api_object *vm = NULL;
    if ((r = vm_from_flags(ctx, &vm)) < 0)
        return r;
    /* run of a VM with ssh waits for it, as Ignite's does; not when -i attaches the console */
    int ssh_wait =
        run ? ssh_wait_seconds(ctx, vm->u.vm.has_ssh && !cli_flag_given(ctx, "interactive")) : 0;
    if (ssh_wait < 0)
        return ssh_wait;

    struct engine_import_opts io;
    struct engine_vm_create_opts co;
    struct cli_import *ci = create_opts_begin(ctx, &io, &co);
    if (!ci)
        return error_oom(&ctx->err);
    struct engine_vm_create_result res;
    memset(&res, 0, sizeof(res));
    r = engine_vm_create(ctx->eng, vm, &co, &res, &ctx->err);
    bool cancelled = cli_import_cancelled();
    cli_import_end(ci);
    if (!ctx->quiet)
        print_notice(res.notice);
    if (r < 0) {
        if (r == -ECANCELED || cancelled) {
            fprintf(stderr, "hearth: create cancelled\n");
            ctx->exit_status = 130;
            return 0;
        }
        return r;
    }
    if (res.ssh_key[0] && !ctx->quiet)
        fprintf(stderr, "hearth: ssh key pair generated: %s\n", res.ssh_key);
    if (!run) {
        printf("%s\n", res.uid);
        return 0;
    }
    if (cancelled) { /* Ctrl-C came after the create's commit: keep the VM, do not start it */
        printf("%s\n", res.uid);
        fprintf(stderr, "hearth: cancelled: vm '%s' was created but not started\n", res.name);
        ctx->exit_status = 130;
        return 0;
    }

    struct engine_vm_start_opts so;
    start_opts_from_flags(ctx, &so);
    struct engine_vm_start_result sres;
    memset(&sres, 0, sizeof(sres));
    r = engine_vm_start(ctx->eng, res.uid, &so, &sres, &ctx->err);
    if (!ctx->quiet && sres.notice[0])
        print_notice(sres.notice);
    if (!ctx->quiet && sres.net_notice[0])
        print_notice(sres.net_notice);
    if (r < 0)
        return r;
    printf("%s\n", res.uid);
    if (cli_flag_given(ctx, "interactive")) {
        fflush(stdout);
        return attach_tty(ctx, res.uid);
    }
    fflush(stdout);
    return ssh_wait ? cli_ssh_wait(ctx, res.name, ssh_wait, &ctx->err) : 0;
}

/* --ssh-wait of a VM without ssh: refused before anything starts. */
static int check_has_ssh(struct cli_ctx *ctx, const char *ref, struct error *err) {
    _cleanup_object_ struct api_object *vm = NULL;
    int r = engine_get(ctx->eng, API_KIND_VM, ref, &vm, err);
    if (r == 0 && !vm->u.vm.has_ssh)
        r = error_set(err, -ENOTSUP,
                      "--ssh-wait: vm '%s' was created without ssh, so it cannot be waited for; "
                      "create one with 'hearth run --ssh' (or spec.ssh in its document)",
                      vm->meta.name);
    return r;
}

int cmd_start(struct cli_ctx *ctx) {
    int r = check_vmm_flag(ctx);
    if (r < 0)
        return r;
    bool interactive = cli_flag_given(ctx, "interactive");
    if (interactive && ctx->args.argc != 1)
        return cli_usage_error(ctx, "-i attaches to one VM; give exactly one");
    if (interactive && !isatty(STDIN_FILENO))
        return cli_usage_error(ctx, "-i needs a terminal on stdin");
    int ssh_wait = ssh_wait_seconds(ctx, false);
    if (ssh_wait < 0)
        return ssh_wait;
    struct engine_vm_start_opts so;
    start_opts_from_flags(ctx, &so);
    int failures = 0, last = 0;
    bool noticed = false;
    for (int i = 0; i < ctx->args.argc; i++) {
        struct error err;
        error_init(&err);
        if (ssh_wait && (r = check_has_ssh(ctx, ctx->args.argv[i], &err)) < 0) {
            cli_print_error(err.msg);
            failures++;
            last = r;
            continue;
        }
        /* A VM that was applied, not created, gets its disk first (imports may run:
         * Ctrl-C stops them, as in create). */
        struct engine_import_opts io;
        struct engine_vm_create_opts co;
        struct cli_import *ci = create_opts_begin(ctx, &io, &co);
        if (!ci)
            return error_oom(&ctx->err);
        struct engine_vm_create_result built;
        memset(&built, 0, sizeof(built));
        r = engine_vm_disk_build(ctx->eng, ctx->args.argv[i], &co, &built, &err);
        bool cancelled = cli_import_cancelled();
        cli_import_end(ci);
        if (!ctx->quiet)
            print_notice(built.notice);
        if (r == -ECANCELED || cancelled) {
            fprintf(stderr, "hearth: start of '%s' cancelled\n", ctx->args.argv[i]);
            ctx->exit_status = 130;
            return 0;
        }
        if (r < 0) {
            cli_print_error(err.msg);
            failures++;
            last = r;
            continue;
        }
        if (built.ssh_key[0] && !ctx->quiet)
            fprintf(stderr, "hearth: ssh key pair generated: %s\n", built.ssh_key);
        struct engine_vm_start_result res;
        memset(&res, 0, sizeof(res));
        r = engine_vm_start(ctx->eng, ctx->args.argv[i], &so, &res, &err);
        if (!ctx->quiet && res.built[0])
            print_notice(res.built);
        if (!ctx->quiet && res.notice[0] && !noticed) {
            print_notice(res.notice); /* the same for every VM: once */
            noticed = true;
        }
        if (!ctx->quiet && res.net_notice[0])
            print_notice(res.net_notice); /* the first start that wrote the default list */
        if (r < 0) {
            cli_print_error(err.msg);
            failures++;
            last = r;
            continue;
        }
        printf("%s\n", ctx->args.argv[i]);
        fflush(stdout);
        if (ssh_wait && (r = cli_ssh_wait(ctx, ctx->args.argv[i], ssh_wait, &err)) < 0) {
            cli_print_error(err.msg);
            failures++;
            last = r;
        }
    }
    if (failures)
        return error_set(&ctx->err, last, "%s", ""); /* each failure was printed above */
    if (interactive) {
        fflush(stdout);
        return attach_tty(ctx, ctx->args.argv[0]);
    }
    return 0;
}

static int stop_one(struct cli_ctx *ctx, const char *ref, struct error *err) {
    bool force = cli_flag_given(ctx, "force");
    int grace_ms = ENGINE_STOP_GRACE_MS;
    const char *t = cli_flag_value(ctx, "time", NULL);
    if (t) {
        uint64_t s = 0;
        if (cli_flag_u64(ctx, "time", t, 0, 3600, &s) < 0)
            return error_set(err, -EINVAL, "%s", ctx->err.msg);
        grace_ms = (int)s * 1000;
    }
    struct engine_vm_stop_result res;
    int r = engine_vm_stop(ctx->eng, ref, force, grace_ms, &res, err);
    /* Said even with -q: a kill is not what stop was asked for. */
    if (r == 0 && res.killed)
        fprintf(stderr, "hearth: vm '%s' did not shut down by itself: %s\n", ref, res.exit_reason);
    return r;
}

static int kill_one(struct cli_ctx *ctx, const char *ref, struct error *err) {
    return engine_vm_kill(ctx->eng, ref, NULL, err);
}

int cmd_stop(struct cli_ctx *ctx) {
    const char *t = cli_flag_value(ctx, "time", NULL);
    uint64_t s;
    if (t && cli_flag_u64(ctx, "time", t, 0, 3600, &s) < 0)
        return -EINVAL;
    return cli_for_each_arg(ctx, stop_one);
}

int cmd_kill(struct cli_ctx *ctx) {
    return cli_for_each_arg(ctx, kill_one);
}

/*
 * Set by SIGINT/SIGTERM while `logs -f` follows; the engine reads it as its
 * cancel flag. One of the CLI's allowed globals.
 */
static volatile sig_atomic_t logs_cancel;

static void on_logs_signal(int sig) {
    (void)sig;
    logs_cancel = 1;
}

int cmd_logs(struct cli_ctx *ctx) {
    bool follow = cli_flag_given(ctx, "follow");
    long tail = -1;
    const char *t = cli_flag_value(ctx, "tail", NULL);
    if (t && strcmp(t, "all") != 0) {
        uint64_t v;
        if (cli_flag_u64(ctx, "tail", t, 0, 100000000, &v) < 0)
            return -EINVAL;
        tail = (long)v;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_logs_signal;
    sigemptyset(&sa.sa_mask);
    logs_cancel = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fflush(stdout);
    int r = engine_vm_logs(ctx->eng, ctx->args.argv[0], follow, tail, STDOUT_FILENO, &logs_cancel,
                           &ctx->err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (r == -ECANCELED)
        return 0; /* Ctrl-C ends a follow, as with docker logs -f */
    return r;
}

/*
 * Attaches the terminal (raw mode while attached) to the VM's console; a VM
 * that does not run is only an error, before anything else is printed.
 */
static int attach_tty(struct cli_ctx *ctx, const char *ref) {
    engine_attach *a = NULL;
    int r = engine_vm_attach_open(ctx->eng, ref, &a, &ctx->err);
    if (r < 0)
        return r;
    struct termios old;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        struct termios raw = old;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR; /* keep the console's line ends readable */
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    if (!ctx->quiet)
        fprintf(stderr, "hearth: attached to '%s'; detach with ^P^Q\r\n", ref);
    struct engine_vm_attach_result res;
    r = engine_vm_attach_run(a, STDIN_FILENO, STDOUT_FILENO, &res, &ctx->err);
    engine_vm_attach_free(a);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    if (r < 0) {
        fprintf(stderr, "\n");
        return r;
    }
    if (!ctx->quiet && res.detached)
        fprintf(stderr, "\nhearth: detached\n");
    else if (!ctx->quiet)
        fprintf(stderr, "\nhearth: the VM stopped (%s)\n", res.exit_reason);
    return 0;
}

int cmd_attach(struct cli_ctx *ctx) {
    return attach_tty(ctx, ctx->args.argv[0]);
}
