/*
 * The CLI's object commands: ps (and vm ls), image ls, kernel ls, inspect,
 * export and rm/rmi/rmk (apply is in cmd_apply.c); ps and inspect also
 * through a -t template (template.c). Each handler turns flags into an
 * engine call and formats the result; the engine does the work.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli_priv.h"

#define FMT(f) (1u << (f))

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

/*
 * What the filters look at, from a full object (ps -o json|yaml) or from a
 * summary (the table formats): labels come from one or the other.
 */
struct vm_view {
    const char *uid;
    const char *name;
    enum api_vm_state state;
    const char *image_ref; /* NULL without a claim */
    const char *image_id;
    const char *kernel_ref;
    const char *kernel_id;
    const struct api_kv *kv;           /* labels of a full object, or NULL */
    const struct engine_label *labels; /* labels of a summary, or NULL */
    size_t n_labels;
};

static struct vm_view view_of_object(const struct api_object *vm) {
    const struct api_vm *v = &vm->u.vm;
    return (struct vm_view){
        .uid = vm->meta.uid,
        .name = vm->meta.name,
        .state = v->state,
        .image_ref = v->image_claim ? v->image_claim->ref : NULL,
        .image_id = v->status_image.source.id,
        .kernel_ref = v->kernel_claim ? v->kernel_claim->ref : NULL,
        .kernel_id = v->status_kernel.source.id,
        .kv = vm->meta.labels,
        .n_labels = vm->meta.n_labels,
    };
}

static struct vm_view view_of_summary(const struct engine_vm_summary *v) {
    return (struct vm_view){
        .uid = v->uid,
        .name = v->name,
        .state = v->state,
        .image_ref = v->image_ref,
        .image_id = v->image_id,
        .kernel_ref = v->kernel_ref,
        .kernel_id = v->kernel_id,
        .labels = v->labels,
        .n_labels = v->n_labels,
    };
}

static bool label_matches(const struct vm_view *m, const char *want) {
    const char *eq = strchr(want, '=');
    size_t klen = eq ? (size_t)(eq - want) : strlen(want);
    for (size_t i = 0; i < m->n_labels; i++) {
        const char *key = m->kv ? m->kv[i].key : m->labels[i].key;
        const char *value = m->kv ? m->kv[i].value : m->labels[i].value;
        if (!key || strlen(key) != klen || strncmp(key, want, klen) != 0)
            continue;
        if (!eq || strcmp(value ? value : "", eq + 1) == 0)
            return true;
    }
    return false;
}

static bool vm_matches(const struct vm_view *vm, const struct filter *f, int n) {
    for (int i = 0; i < n; i++) {
        const char *val = f[i].value;
        bool ok = false;
        switch (f[i].key) {
        case F_NAME:
            ok = vm->name && strstr(vm->name, val);
            break;
        case F_ID:
            ok = vm->uid && str_starts_with(vm->uid, val);
            break;
        case F_STATE:
            ok = api_vm_state_name(vm->state) && strcasecmp(api_vm_state_name(vm->state), val) == 0;
            break;
        case F_IMAGE:
            ok = (vm->image_ref && strcmp(vm->image_ref, val) == 0) ||
                 (vm->image_id && *val && strcmp(vm->image_id, val) == 0);
            break;
        case F_KERNEL:
            ok = (vm->kernel_ref && strcmp(vm->kernel_ref, val) == 0) ||
                 (vm->kernel_id && *val && strcmp(vm->kernel_id, val) == 0);
            break;
        case F_LABEL:
            ok = label_matches(vm, val);
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
    api_age_format(created, now, buf, size);
}

/*
 * Formatted cells of one column, remembered by the value they show: a
 * listing has few distinct sizes, CPU counts and creation times, so most
 * rows reuse a cell already in the table instead of formatting it again.
 */
#define CELL_CACHE 8

struct cell_cache {
    struct {
        int64_t value;
        const char *cell; /* in the table's arena; NULL: unused */
    } e[CELL_CACHE];
    size_t next; /* the entry to replace next */
};

enum cell_kind { CELL_SIZE, CELL_COUNT, CELL_CREATED, CELL_CREATED_RFC3339, CELL_UP };

static const char *cell_cached(struct cli_table *t, struct cell_cache *c, enum cell_kind kind,
                               int64_t value, int64_t now) {
    for (size_t i = 0; i < CELL_CACHE; i++)
        if (c->e[i].cell && c->e[i].value == value)
            return c->e[i].cell;
    char buf[64];
    switch (kind) {
    case CELL_SIZE:
        api_size_format_human((uint64_t)value, buf, sizeof(buf));
        break;
    case CELL_COUNT:
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(uint64_t)value);
        break;
    case CELL_UP:
        api_vm_status_format(API_VM_RUNNING, value, now, buf, sizeof(buf));
        break;
    case CELL_CREATED:
    case CELL_CREATED_RFC3339:
        created_cell(value, now, kind == CELL_CREATED_RFC3339, buf, sizeof(buf));
        break;
    }
    const char *cell = cli_table_intern(t, buf, strlen(buf));
    if (cell) {
        c->e[c->next].value = value;
        c->e[c->next].cell = cell;
        c->next = (c->next + 1) % CELL_CACHE;
    }
    return cell;
}

/* Writes the rows of `ps` for the VMs into t; the cells borrow the summaries' strings. */
static int vm_rows(struct cli_table *t, const struct engine_vm_summary *const *vms, size_t n,
                   bool wide, bool csv) {
    int64_t now = time(NULL);
    struct cell_cache size_cache = {0}, mem_cache = {0}, cpu_cache = {0}, created_cache = {0},
                      up_cache = {0};
    for (size_t i = 0; i < n; i++) {
        const struct engine_vm_summary *v = vms[i];
        const char *size = cell_cached(t, &size_cache, CELL_SIZE, (int64_t)v->disk_size, now);
        const char *mem = cell_cached(t, &mem_cache, CELL_SIZE, (int64_t)v->memory, now);
        const char *cpus = cell_cached(t, &cpu_cache, CELL_COUNT, (int64_t)v->cpus, now);
        const char *created = cell_cached(
            t, &created_cache, csv ? CELL_CREATED_RFC3339 : CELL_CREATED, v->created, now);
        /* A running VM's status says for how long, as Ignite's and Docker's do: "Up 5m". */
        const char *status = api_vm_state_name(v->state);
        if (!csv && v->started > 0 && v->state == API_VM_RUNNING &&
            !(status = cell_cached(t, &up_cache, CELL_UP, v->started, now)))
            return -ENOMEM;
        if (!size || !mem || !cpus || !created)
            return -ENOMEM;
        const char *cells[] = {v->uid,
                               v->image_ref ? v->image_ref : "-",
                               v->kernel_ref ? v->kernel_ref : "-",
                               size,
                               cpus,
                               mem,
                               created,
                               status,
                               v->ips,
                               v->ports,
                               wide ? v->network_mode : v->name,
                               v->name,
                               v->cmdline};
        int r = cli_table_add_ref(t, cells);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- streaming documents ----------------------------------------------- */

#define DOCS_FLUSH (64 * 1024) /* write out pending output past this size */

/*
 * Writes objects one at a time, exactly as api_docs_write would write them
 * all at once with always_list (JSON: a List whose items are indented by
 * two levels; YAML: documents separated by "---"), so only one object's
 * encoding is in memory at a time.
 */
struct doc_stream {
    struct cli_ctx *ctx;
    enum api_format format;
    size_t count;
    struct strbuf out; /* pending output */
};

static int doc_stream_flush(struct doc_stream *ds) {
    int r = cli_write_out(ds->ctx, &ds->out);
    strbuf_reset(&ds->out);
    return r;
}

static int doc_stream_begin(struct doc_stream *ds, struct cli_ctx *ctx, enum cli_format fmt) {
    *ds = (struct doc_stream){
        .ctx = ctx,
        .format = fmt == CLI_FMT_JSON ? API_FORMAT_JSON : API_FORMAT_YAML,
        .out = STRBUF_INIT,
    };
    if (ds->format == API_FORMAT_JSON &&
        strbuf_adds(&ds->out,
                    "{\n  \"kind\": \"List\",\n  \"apiVersion\": \"v1\",\n  \"items\": [") < 0)
        return error_oom(&ctx->err);
    return 0;
}

static int doc_stream_add(struct doc_stream *ds, const struct api_object *obj) {
    _cleanup_strbuf_ struct strbuf one = STRBUF_INIT;
    struct api_object *const objs[] = {(struct api_object *)obj};
    if (api_docs_write(objs, 1, ds->format, false, &one) < 0)
        return error_oom(&ds->ctx->err);
    const char *text = one.buf ? one.buf : "";
    size_t len = one.len;
    int r = 0;
    if (ds->format == API_FORMAT_JSON) {
        /* An item of the List: every line indented by two more levels. */
        while (len && text[len - 1] == '\n')
            len--;
        r = strbuf_adds(&ds->out, ds->count ? ",\n    " : "\n    ");
        size_t from = 0;
        for (size_t i = 0; i < len && r == 0; i++) {
            if (text[i] != '\n')
                continue;
            r = strbuf_add(&ds->out, text + from, i + 1 - from);
            if (r == 0)
                r = strbuf_add(&ds->out, "    ", 4);
            from = i + 1;
        }
        if (r == 0)
            r = strbuf_add(&ds->out, text + from, len - from);
    } else {
        if (ds->count && !str_starts_with(text, "---"))
            r = strbuf_add(&ds->out, "---\n", 4);
        if (r == 0)
            r = strbuf_add(&ds->out, text, len);
        if (r == 0 && len && text[len - 1] != '\n')
            r = strbuf_addc(&ds->out, '\n');
    }
    if (r < 0)
        return error_oom(&ds->ctx->err);
    ds->count++;
    return ds->out.len >= DOCS_FLUSH ? doc_stream_flush(ds) : 0;
}

static int doc_stream_end(struct doc_stream *ds) {
    int r = 0;
    if (ds->format == API_FORMAT_JSON)
        r = strbuf_adds(&ds->out, ds->count ? "\n  ]\n}\n" : "]\n}\n");
    if (r < 0)
        return error_oom(&ds->ctx->err);
    return doc_stream_flush(ds);
}

/* Writes objects as documents: JSON a List, YAML one document each. */
static int write_docs(struct cli_ctx *ctx, struct api_object *const *objs, size_t n,
                      enum cli_format fmt) {
    struct doc_stream ds;
    int r = doc_stream_begin(&ds, ctx, fmt);
    for (size_t i = 0; i < n && r == 0; i++)
        r = doc_stream_add(&ds, objs[i]);
    if (r == 0)
        r = doc_stream_end(&ds);
    strbuf_release(&ds.out);
    return r;
}

static int write_ids(struct cli_ctx *ctx, const char *const *uids, size_t n) {
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (strbuf_adds(&out, uids[i] ? uids[i] : "") < 0 || strbuf_addc(&out, '\n') < 0)
            return error_oom(&ctx->err);
    return cli_write_out(ctx, &out);
}

/* ---- -t/--template ------------------------------------------------------- */

/* The -t/--template flag parsed into *ret (NULL when not given); a bad one is a usage error. */
static int template_flag(struct cli_ctx *ctx, struct cli_template **ret) {
    *ret = NULL;
    const char *src = cli_flag_value(ctx, "template", NULL);
    if (!src)
        return 0;
    if (cli_flag_given(ctx, "output"))
        return cli_usage_error(ctx, "-t/--template and -o/--output cannot be combined");
    struct error e;
    error_init(&e);
    int r = cli_template_parse(src, ret, &e);
    if (r == -ENOMEM)
        return error_oom(&ctx->err);
    return r < 0 ? cli_usage_error(ctx, "%s", e.msg) : 0;
}

/* Appends the template's output for obj and a newline, as Ignite prints it. */
static int template_line(struct cli_ctx *ctx, const struct cli_template *t,
                         const struct api_object *obj, struct strbuf *out) {
    json_t *doc = api_object_to_json(obj);
    if (!doc)
        return error_oom(&ctx->err);
    struct error e;
    error_init(&e);
    int r = cli_template_exec(t, doc, out, &e);
    json_decref(doc);
    if (r == -ENOMEM)
        return error_oom(&ctx->err);
    if (r < 0)
        return cli_usage_error(ctx, "%s", e.msg);
    return strbuf_addc(out, '\n') < 0 ? error_oom(&ctx->err) : 0;
}

/* One line per object through the template, written out as it grows. */
static int write_template(struct cli_ctx *ctx, const struct cli_template *t,
                          struct api_object *const *objs, size_t n) {
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        r = template_line(ctx, t, objs[i], &out);
        if (r == 0 && out.len >= DOCS_FLUSH) {
            r = cli_write_out(ctx, &out);
            strbuf_reset(&out);
        }
    }
    return r < 0 ? r : cli_write_out(ctx, &out);
}

/* ps -o json|yaml and ps -t: the full objects of the VMs to show (without -a: the
 * active VMs' only). */
static int ps_docs(struct cli_ctx *ctx, bool all, const struct filter *filters, int nf,
                   enum cli_format fmt, const struct cli_template *tmpl) {
    struct api_object **vms = NULL;
    size_t n = 0;
    int r = all ? engine_list(ctx->eng, API_KIND_VM, &vms, &n, &ctx->err)
                : engine_vm_list_active(ctx->eng, &vms, &n, &ctx->err);
    if (r < 0)
        return r;
    /* Keep the VMs to show, in order; free the others. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct vm_view view = view_of_object(vms[i]);
        if ((all || api_vm_state_is_active(view.state)) && vm_matches(&view, filters, nf))
            vms[kept++] = vms[i];
        else
            api_object_free(vms[i]);
    }
    r = tmpl ? write_template(ctx, tmpl, vms, kept) : write_docs(ctx, vms, kept, fmt);
    api_objects_free(vms, kept);
    return r;
}

/* ps as a table, CSV or ids: from the VMs' summaries (without -a: the active VMs' only). */
static int ps_rows(struct cli_ctx *ctx, bool all, const struct filter *filters, int nf,
                   enum cli_format fmt) {
    struct engine_vm_summaries *list = NULL;
    int r = all ? engine_vm_summaries(ctx->eng, &list, &ctx->err)
                : engine_vm_summaries_active(ctx->eng, &list, &ctx->err);
    if (r < 0)
        return r;
    const struct engine_vm_summary **vms = xcalloc(list->n ? list->n : 1, sizeof(*vms));
    if (!vms) {
        engine_vm_summaries_free(list);
        return error_oom(&ctx->err);
    }
    size_t kept = 0;
    for (size_t i = 0; i < list->n; i++) {
        struct vm_view view = view_of_summary(&list->items[i]);
        if ((all || api_vm_state_is_active(view.state)) && vm_matches(&view, filters, nf))
            vms[kept++] = &list->items[i];
    }

    if (ctx->quiet) {
        const char **uids = (const char **)vms; /* reused: one uid per kept VM */
        for (size_t i = 0; i < kept; i++)
            uids[i] = vms[i]->uid;
        r = write_ids(ctx, uids, kept);
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
            r = cli_table_reserve(&t, kept);
        if (r == 0)
            r = vm_rows(&t, vms, kept, wide, fmt == CLI_FMT_CSV);
        r = cli_table_finish(ctx, &t, r, fmt == CLI_FMT_CSV);
    }
    free(vms);
    engine_vm_summaries_free(list);
    return r;
}

/* The -o of a listing (ps, image ls, kernel ls): table (the default), wide, json, yaml or csv. */
static int list_format(struct cli_ctx *ctx, enum cli_format *ret) {
    return cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                            FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_WIDE) | FMT(CLI_FMT_JSON) |
                                FMT(CLI_FMT_YAML) | FMT(CLI_FMT_CSV),
                            ret);
}

int cmd_ps(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = list_format(ctx, &fmt);
    if (r < 0)
        return r;
    struct filter filters[CLI_VALUES_MAX];
    int nf = 0;
    r = filters_parse(ctx, filters, &nf);
    if (r < 0)
        return r;
    struct cli_template *tmpl = NULL;
    r = template_flag(ctx, &tmpl);
    if (r < 0)
        return r;
    /* `vm ls` (data 1) shows all VMs, as Ignite's does. */
    bool all = cli_flag_given(ctx, "all") || ctx->cmd->data != 0;
    if (tmpl || (!ctx->quiet && (fmt == CLI_FMT_JSON || fmt == CLI_FMT_YAML)))
        r = ps_docs(ctx, all, filters, nf, fmt, tmpl);
    else
        r = ps_rows(ctx, all, filters, nf, fmt);
    cli_template_free(tmpl);
    return r;
}

/* ---- image ls, kernel ls ----------------------------------------------- */

int cmd_ls(struct cli_ctx *ctx) {
    enum api_kind kind = (enum api_kind)ctx->cmd->data;
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = list_format(ctx, &fmt);
    if (r < 0)
        return r;
    struct api_object **objs = NULL;
    size_t n = 0;
    r = engine_list(ctx->eng, kind, &objs, &n, &ctx->err);
    if (r < 0)
        return r;

    if (ctx->quiet) {
        const char **uids = xcalloc(n ? n : 1, sizeof(*uids));
        if (!uids) {
            api_objects_free(objs, n);
            return error_oom(&ctx->err);
        }
        for (size_t i = 0; i < n; i++)
            uids[i] = objs[i]->meta.uid;
        r = write_ids(ctx, uids, n);
        free(uids);
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
        r = cli_table_finish(ctx, &t, r, fmt == CLI_FMT_CSV);
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
    struct cli_template *tmpl = NULL;
    r = template_flag(ctx, &tmpl);
    if (r < 0)
        return r;
    _cleanup_object_ struct api_object *obj = NULL;
    r = engine_get(ctx->eng, kind, ref, &obj, &ctx->err);
    if (r == 0 && tmpl) {
        struct api_object *one[] = {obj};
        r = write_template(ctx, tmpl, one, 1);
    } else if (r == 0) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        struct api_object *one[] = {obj};
        r = api_docs_write(one, 1, fmt == CLI_FMT_JSON ? API_FORMAT_JSON : API_FORMAT_YAML, false,
                           &out);
        r = r < 0 ? error_oom(&ctx->err) : cli_write_out(ctx, &out);
    }
    cli_template_free(tmpl);
    return r;
}

/* ---- export ------------------------------------------------------------ */

static int export_one(void *ud, const struct api_object *obj) {
    return doc_stream_add(ud, obj);
}

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
    struct doc_stream ds;
    r = doc_stream_begin(&ds, ctx, fmt);
    if (r == 0)
        r = engine_export_each(ctx->eng, kinds, nk, export_one, &ds, &ctx->err);
    if (r == 0)
        r = doc_stream_end(&ds);
    strbuf_release(&ds.out);
    return r;
}

/* ---- rm, rmi, rmk ------------------------------------------------------ */

static int rm_one(struct cli_ctx *ctx, const char *ref, struct error *err) {
    return engine_remove(ctx->eng, (enum api_kind)ctx->cmd->data, ref, cli_flag_given(ctx, "force"),
                         NULL, err);
}

int cmd_rm(struct cli_ctx *ctx) {
    return cli_for_each_arg(ctx, rm_one);
}
