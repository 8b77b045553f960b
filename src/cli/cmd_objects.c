/*
 * The CLI's object commands: apply, ps (and vm ls), image ls, kernel ls,
 * inspect, export and rm/rmi/rmk. Each handler turns flags into an engine
 * call and formats the result; the engine does the work.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli_priv.h"

#define FMT(f) (1u << (f))

static int oom(struct cli_ctx *ctx) {
    return error_set(&ctx->err, -ENOMEM, "out of memory");
}

/* ---- apply ------------------------------------------------------------- */

int cmd_apply(struct cli_ctx *ctx) {
    int nfiles = 0;
    const char *const *files = cli_flag_values(ctx, "filename", &nfiles);
    if (nfiles == 0)
        return cli_usage_error(ctx, "'hearth apply' needs -f FILE (- for stdin)");

    struct api_object **all = NULL;
    size_t n_all = 0;
    size_t file_start[CLI_VALUES_MAX + 1];
    int r = 0;
    bool stdin_used = false;

    for (int f = 0; f < nfiles; f++) {
        const char *path = files[f];
        bool is_stdin = strcmp(path, "-") == 0;
        if (is_stdin && stdin_used) {
            r = cli_usage_error(ctx, "stdin (-f -) can be read only once");
            goto out;
        }
        stdin_used |= is_stdin;
        const char *name = is_stdin ? "<stdin>" : path;
        _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
        r = strbuf_read_file(&sb, path, API_INPUT_MAX, &ctx->err);
        if (r < 0)
            goto out;
        struct api_object **objs = NULL;
        size_t n = 0;
        r = api_docs_parse(sb.buf ? sb.buf : "", sb.len, name, &objs, &n, &ctx->err);
        if (r < 0)
            goto out;
        file_start[f] = n_all;
        if (n_all + n > API_DOCS_MAX) {
            api_objects_free(objs, n);
            r = error_set(&ctx->err, -E2BIG, "%s: more than %d documents in one apply", name,
                          API_DOCS_MAX);
            goto out;
        }
        if (n) {
            struct api_object **grown = xrealloc(all, (n_all + n) * sizeof(*all));
            if (!grown) {
                api_objects_free(objs, n);
                r = oom(ctx);
                goto out;
            }
            all = grown;
            memcpy(all + n_all, objs, n * sizeof(*objs));
            n_all += n;
        }
        free(objs);
    }
    file_start[nfiles] = n_all;

    struct engine_apply_result *res = NULL;
    size_t failed = n_all;
    r = engine_apply(ctx->eng, all, n_all, &res, &failed, &ctx->err);
    if (r < 0) {
        if (failed < n_all) {
            int f = 0;
            while (f + 1 < nfiles && file_start[f + 1] <= failed)
                f++;
            const char *name = strcmp(files[f], "-") == 0 ? "<stdin>" : files[f];
            size_t in_file = file_start[f + 1] - file_start[f];
            if (in_file > 1)
                error_prefix(&ctx->err, "%s: document %zu", name, failed - file_start[f] + 1);
            else
                error_prefix(&ctx->err, "%s", name);
        }
        goto out;
    }
    if (!ctx->quiet) {
        for (size_t i = 0; i < n_all; i++) {
            if (res[i].kind == API_KIND_POOL)
                printf("pool %s\n", engine_apply_action_name(res[i].action));
            else
                printf("%s/%s %s\n",
                       res[i].kind == API_KIND_VM      ? "vm"
                       : res[i].kind == API_KIND_IMAGE ? "image"
                                                       : "kernel",
                       res[i].name, engine_apply_action_name(res[i].action));
        }
    }
    free(res);
out:
    api_objects_free(all, n_all);
    return r;
}

/* ---- ps ---------------------------------------------------------------- */

enum filter_key { F_NAME, F_ID, F_STATE, F_IMAGE, F_KERNEL, F_LABEL };

struct filter {
    enum filter_key key;
    const char *value;
    size_t value_len; /* for label: the key's length when value has "=VALUE" */
};

static int filters_parse(struct cli_ctx *ctx, struct filter *ret, int *ret_n) {
    static const struct {
        const char *name;
        enum filter_key key;
    } keys[] = {{"name", F_NAME},   {"id", F_ID},         {"state", F_STATE}, {"status", F_STATE},
                {"image", F_IMAGE}, {"kernel", F_KERNEL}, {"label", F_LABEL}};
    int n = 0;
    const char *const *vals = cli_flag_values(ctx, "filter", &n);
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(vals[i], '=');
        if (!eq)
            return cli_usage_error(ctx, "filter '%s' is not KEY=VALUE", vals[i]);
        size_t klen = (size_t)(eq - vals[i]);
        bool found = false;
        for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
            if (strlen(keys[k].name) == klen && strncmp(keys[k].name, vals[i], klen) == 0) {
                ret[i].key = keys[k].key;
                found = true;
            }
        }
        if (!found)
            return cli_usage_error(ctx,
                                   "unknown filter '%.*s' (use name, id, state, status, image, "
                                   "kernel or label)",
                                   (int)klen, vals[i]);
        ret[i].value = eq + 1;
        if (ret[i].key == F_LABEL && !*ret[i].value)
            return cli_usage_error(ctx, "filter 'label=' needs a label key");
    }
    *ret_n = n;
    return 0;
}

static bool label_matches(const struct api_meta *m, const char *want) {
    const char *eq = strchr(want, '=');
    size_t klen = eq ? (size_t)(eq - want) : strlen(want);
    for (size_t i = 0; i < m->n_labels; i++) {
        if (strlen(m->labels[i].key) != klen || strncmp(m->labels[i].key, want, klen) != 0)
            continue;
        if (!eq || strcmp(m->labels[i].value ? m->labels[i].value : "", eq + 1) == 0)
            return true;
    }
    return false;
}

static bool vm_matches(const struct api_object *vm, const struct filter *f, int n) {
    const struct api_vm *v = &vm->u.vm;
    for (int i = 0; i < n; i++) {
        const char *val = f[i].value;
        bool ok = false;
        switch (f[i].key) {
        case F_NAME:
            ok = vm->meta.name && strstr(vm->meta.name, val);
            break;
        case F_ID:
            ok = vm->meta.uid && str_starts_with(vm->meta.uid, val);
            break;
        case F_STATE:
            ok = v->state && strcasecmp(v->state, val) == 0;
            break;
        case F_IMAGE:
            ok = (v->image_claim && v->image_claim->ref && strcmp(v->image_claim->ref, val) == 0) ||
                 (v->status_image.source.id && *val && strcmp(v->status_image.source.id, val) == 0);
            break;
        case F_KERNEL:
            ok = (v->kernel_claim && v->kernel_claim->ref &&
                  strcmp(v->kernel_claim->ref, val) == 0) ||
                 (v->status_kernel.source.id && *val &&
                  strcmp(v->status_kernel.source.id, val) == 0);
            break;
        case F_LABEL:
            ok = label_matches(&vm->meta, val);
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

static void created_cell(int64_t created, int64_t now, bool rfc3339, char *buf, size_t size) {
    if (created == API_TIME_NONE) {
        snprintf(buf, size, "-");
        return;
    }
    if (rfc3339) {
        char t[32];
        time_format_rfc3339(created, t);
        snprintf(buf, size, "%s", t);
        return;
    }
    char age[32];
    time_format_ago(created, now, age, sizeof(age));
    snprintf(buf, size, "%s ago", age);
}

/* Writes the rows of `ps` for the VMs into t. */
static int vm_rows(struct cli_table *t, struct api_object *const *vms, size_t n, bool wide,
                   bool csv) {
    int64_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        const struct api_vm *v = &vms[i]->u.vm;
        char size[32], mem[32], cpus[24], created[48];
        api_size_format_human(v->disk_size, size, sizeof(size));
        api_size_format_human(v->memory, mem, sizeof(mem));
        snprintf(cpus, sizeof(cpus), "%llu", (unsigned long long)v->cpus);
        created_cell(vms[i]->meta.created, now, csv, created, sizeof(created));

        _cleanup_strbuf_ struct strbuf ips = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf ports = STRBUF_INIT;
        for (size_t k = 0; k < v->n_ip_addresses; k++)
            if (strbuf_addf(&ips, "%s%s", k ? ", " : "", v->ip_addresses[k]) < 0)
                return -ENOMEM;
        for (size_t k = 0; k < v->n_ports; k++) {
            char p[160];
            api_port_format(&v->ports[k], p, sizeof(p));
            if (strbuf_addf(&ports, "%s%s", k ? ", " : "", p) < 0)
                return -ENOMEM;
        }
        const char *image = v->image_claim && v->image_claim->ref ? v->image_claim->ref : "-";
        const char *kernel = v->kernel_claim && v->kernel_claim->ref ? v->kernel_claim->ref : "-";
        const char *cells[] = {vms[i]->meta.uid,
                               image,
                               kernel,
                               size,
                               cpus,
                               mem,
                               created,
                               v->state,
                               ips.buf,
                               ports.buf,
                               wide ? v->network_mode : vms[i]->meta.name,
                               vms[i]->meta.name,
                               v->cmdline};
        int r = cli_table_add(t, cells);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Writes objects as documents: JSON a List, YAML one document each. */
static int write_docs(struct cli_ctx *ctx, struct api_object *const *objs, size_t n,
                      enum cli_format fmt) {
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    int r = api_docs_write(objs, n, fmt == CLI_FMT_JSON ? API_FORMAT_JSON : API_FORMAT_YAML, true,
                           &out);
    if (r < 0)
        return oom(ctx);
    return cli_write_out(ctx, &out);
}

static int write_table(struct cli_ctx *ctx, const struct cli_table *t, enum cli_format fmt) {
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    int r = fmt == CLI_FMT_CSV ? cli_table_write_csv(t, &out) : cli_table_write(t, &out);
    if (r < 0)
        return oom(ctx);
    return cli_write_out(ctx, &out);
}

static int write_ids(struct cli_ctx *ctx, struct api_object *const *objs, size_t n) {
    for (size_t i = 0; i < n; i++)
        printf("%s\n", objs[i]->meta.uid);
    (void)ctx;
    return 0;
}

int cmd_ps(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_WIDE) | FMT(CLI_FMT_JSON) |
                                 FMT(CLI_FMT_YAML) | FMT(CLI_FMT_CSV),
                             &fmt);
    if (r < 0)
        return r;
    struct filter filters[CLI_VALUES_MAX];
    int nf = 0;
    r = filters_parse(ctx, filters, &nf);
    if (r < 0)
        return r;
    bool all = cli_flag_given(ctx, "all");

    struct api_object **vms = NULL;
    size_t n = 0;
    r = engine_list(ctx->eng, API_KIND_VM, &vms, &n, &ctx->err);
    if (r < 0)
        return r;
    /* Keep the VMs to show, in order; free the others. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if ((all || engine_vm_state_is_active(vms[i]->u.vm.state)) &&
            vm_matches(vms[i], filters, nf))
            vms[kept++] = vms[i];
        else
            api_object_free(vms[i]);
    }
    n = kept;

    if (ctx->quiet) {
        r = write_ids(ctx, vms, kept);
    } else if (fmt == CLI_FMT_JSON || fmt == CLI_FMT_YAML) {
        r = write_docs(ctx, vms, kept, fmt);
    } else {
        bool wide = fmt == CLI_FMT_WIDE;
        static const char *const header[] = {"VM ID",   "IMAGE",   "KERNEL", "SIZE", "CPUS",
                                             "MEMORY",  "CREATED", "STATUS", "IPS",  "PORTS",
                                             "NETWORK", "NAME",    "CMDLINE"};
        static const char *const header_narrow[] = {"VM ID", "IMAGE",  "KERNEL",  "SIZE",
                                                    "CPUS",  "MEMORY", "CREATED", "STATUS",
                                                    "IPS",   "PORTS",  "NAME"};
        struct cli_table t;
        r = cli_table_init(&t, wide ? 13 : 11, wide ? header : header_narrow);
        if (r == 0)
            r = vm_rows(&t, vms, kept, wide, fmt == CLI_FMT_CSV);
        if (r < 0) {
            cli_table_release(&t);
            api_objects_free(vms, n);
            return oom(ctx);
        }
        r = write_table(ctx, &t, fmt);
        cli_table_release(&t);
    }
    api_objects_free(vms, n);
    return r;
}

/* ---- image ls, kernel ls ----------------------------------------------- */

int cmd_ls(struct cli_ctx *ctx) {
    enum api_kind kind = (enum api_kind)ctx->cmd->data;
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_WIDE) | FMT(CLI_FMT_JSON) |
                                 FMT(CLI_FMT_YAML) | FMT(CLI_FMT_CSV),
                             &fmt);
    if (r < 0)
        return r;
    struct api_object **objs = NULL;
    size_t n = 0;
    r = engine_list(ctx->eng, kind, &objs, &n, &ctx->err);
    if (r < 0)
        return r;

    if (ctx->quiet) {
        r = write_ids(ctx, objs, n);
    } else if (fmt == CLI_FMT_JSON || fmt == CLI_FMT_YAML) {
        r = write_docs(ctx, objs, n, fmt);
    } else {
        bool is_kernel = kind == API_KIND_KERNEL;
        const char *header[] = {is_kernel ? "KERNEL ID" : "IMAGE ID", "NAME", "CREATED", "SIZE",
                                "VERSION"};
        struct cli_table t;
        r = cli_table_init(&t, is_kernel ? 5 : 4, header);
        int64_t now = time(NULL);
        for (size_t i = 0; i < n && r == 0; i++) {
            const struct api_oci_source *src =
                is_kernel ? &objs[i]->u.kernel.source : &objs[i]->u.image.source;
            char size[32], created[48];
            api_size_format_human(src->size, size, sizeof(size));
            created_cell(objs[i]->meta.created, now, fmt == CLI_FMT_CSV, created, sizeof(created));
            const char *cells[] = {objs[i]->meta.uid, objs[i]->meta.name, created, size,
                                   is_kernel ? objs[i]->u.kernel.version : NULL};
            r = cli_table_add(&t, cells);
        }
        if (r == 0)
            r = write_table(ctx, &t, fmt);
        else
            r = oom(ctx);
        cli_table_release(&t);
    }
    api_objects_free(objs, n);
    return r;
}

/* ---- inspect ----------------------------------------------------------- */

int cmd_inspect(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_JSON;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "json"),
                             FMT(CLI_FMT_JSON) | FMT(CLI_FMT_YAML), &fmt);
    if (r < 0)
        return r;
    enum api_kind kind = (enum api_kind)ctx->cmd->data;
    const char *ref = ctx->args.argv[0];
    if (ctx->cmd->data < 0) {
        if (api_kind_parse(ctx->args.argv[0], &kind) < 0 || kind == API_KIND_POOL)
            return cli_usage_error(ctx, "unknown kind '%s' (use vm, image or kernel)",
                                   ctx->args.argv[0]);
        ref = ctx->args.argv[1];
    }
    _cleanup_object_ struct api_object *obj = NULL;
    r = engine_get(ctx->eng, kind, ref, &obj, &ctx->err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct api_object *one[] = {obj};
    r = api_docs_write(one, 1, fmt == CLI_FMT_JSON ? API_FORMAT_JSON : API_FORMAT_YAML, false,
                       &out);
    if (r < 0)
        return oom(ctx);
    return cli_write_out(ctx, &out);
}

/* ---- export ------------------------------------------------------------ */

int cmd_export(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_YAML;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "yaml"),
                             FMT(CLI_FMT_JSON) | FMT(CLI_FMT_YAML), &fmt);
    if (r < 0)
        return r;
    enum api_kind kinds[API_KIND_COUNT];
    size_t nk = 0;
    for (int i = 0; i < ctx->args.argc; i++) {
        enum api_kind k;
        if (api_kind_parse(ctx->args.argv[i], &k) < 0)
            return cli_usage_error(ctx, "unknown kind '%s' (use vm, image, kernel or pool)",
                                   ctx->args.argv[i]);
        bool dup = false;
        for (size_t j = 0; j < nk; j++)
            dup |= kinds[j] == k;
        if (!dup)
            kinds[nk++] = k;
    }
    struct api_object **objs = NULL;
    size_t n = 0;
    r = engine_export(ctx->eng, kinds, nk, &objs, &n, &ctx->err);
    if (r < 0)
        return r;
    r = write_docs(ctx, objs, n, fmt);
    api_objects_free(objs, n);
    return r;
}

/* ---- rm, rmi, rmk ------------------------------------------------------ */

int cmd_rm(struct cli_ctx *ctx) {
    enum api_kind kind = (enum api_kind)ctx->cmd->data;
    bool force = cli_flag_given(ctx, "force");
    int failures = 0;
    int last = 0;
    for (int i = 0; i < ctx->args.argc; i++) {
        struct error err;
        error_init(&err);
        int r = engine_remove(ctx->eng, kind, ctx->args.argv[i], force, NULL, &err);
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
