/*
 * The storage pool's commands: `pool init`, `pool status`, `pool ls`, and
 * `doctor`, which compares the database with the pool and repairs what
 * differs. Exit status of doctor: 0 nothing wrong, 1 doctor itself failed,
 * 3 problems found and all repaired, 4 problems found and left.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_priv.h"

#define FMT(f) (1u << (f))

#define DOCTOR_EXIT_REPAIRED 3
#define DOCTOR_EXIT_PROBLEMS 4

/* ---- pool init --------------------------------------------------------- */

static int size_flag(struct cli_ctx *ctx, const char *flag, uint64_t *ret) {
    const char *v = cli_flag_value(ctx, flag, NULL);
    *ret = 0;
    if (!v)
        return 0;
    int r = api_size_parse(v, ret);
    if (r < 0 || *ret == 0)
        return cli_usage_error(ctx, "--%s: '%s' is not a size (for example 10GB, 64KB)", flag, v);
    return 0;
}

int cmd_pool_init(struct cli_ctx *ctx) {
    struct engine_pool_init_opts o = {
        .driver = cli_flag_value(ctx, "driver", NULL),
        .data_path = cli_flag_value(ctx, "data-path", NULL),
        .metadata_path = cli_flag_value(ctx, "metadata-path", NULL),
    };
    if (o.driver && strcmp(o.driver, "dm-thin") != 0 && strcmp(o.driver, "file") != 0)
        return cli_usage_error(ctx, "--driver: '%s' is not a driver (dm-thin or file)", o.driver);
    if ((o.data_path && !*o.data_path) || (o.metadata_path && !*o.metadata_path))
        return cli_usage_error(ctx, "--%s: the path is empty",
                               o.data_path && !*o.data_path ? "data-path" : "metadata-path");
    int r = size_flag(ctx, "data-size", &o.data_size);
    if (r == 0)
        r = size_flag(ctx, "metadata-size", &o.metadata_size);
    if (r == 0)
        r = size_flag(ctx, "allocation-size", &o.allocation_size);
    if (r < 0)
        return r;
    char notice[512];
    r = engine_pool_init(ctx->eng, &o, notice, sizeof(notice), &ctx->err);
    if (r < 0)
        return r;
    if (notice[0])
        fprintf(stderr, "hearth: %s\n", notice);
    struct engine_pool_status s;
    r = engine_pool_status(ctx->eng, &s, &ctx->err);
    if (r < 0)
        return r;
    char size[32];
    api_size_format(s.data_size, size, sizeof(size));
    if (!ctx->quiet)
        printf("pool %s created: driver %s, data %s at %s\n", s.name, s.driver, size, s.data_path);
    engine_pool_status_release(&s);
    return 0;
}

/* ---- pool status ------------------------------------------------------- */

static json_t *size_json(uint64_t v) {
    char buf[32];
    api_size_format(v, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *status_json(const struct engine_pool_status *s) {
    json_t *o = json_object();
    json_t *counts = json_object();
    if (!o || !counts) {
        json_decref(o);
        json_decref(counts);
        return NULL;
    }
    json_object_set_new(o, "driver", json_string(s->driver));
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "state", json_string(engine_pool_state_name(s->state)));
    json_object_set_new(o, "dataSize", size_json(s->data_size));
    json_object_set_new(o, "metadataSize", size_json(s->metadata_size));
    json_object_set_new(o, "allocationSize", size_json(s->allocation_size));
    json_object_set_new(o, "dataPath", json_string(s->data_path ? s->data_path : ""));
    json_object_set_new(o, "metadataPath", json_string(s->metadata_path ? s->metadata_path : ""));
    if (s->usage_known) {
        json_t *u = json_object();
        if (u) {
            json_object_set_new(u, "dataUsedBytes", json_integer((json_int_t)s->data_used));
            json_object_set_new(
                u, "dataFreeBytes",
                json_integer(
                    (json_int_t)(s->data_total > s->data_used ? s->data_total - s->data_used : 0)));
            json_object_set_new(u, "dataTotalBytes", json_integer((json_int_t)s->data_total));
            json_object_set_new(u, "metadataUsedBytes", json_integer((json_int_t)s->metadata_used));
            json_object_set_new(u, "metadataFreeBytes",
                                json_integer((json_int_t)(s->metadata_total > s->metadata_used
                                                              ? s->metadata_total - s->metadata_used
                                                              : 0)));
            json_object_set_new(u, "metadataTotalBytes",
                                json_integer((json_int_t)s->metadata_total));
        }
        json_object_set_new(o, "usage", u ? u : json_null());
    } else {
        json_object_set_new(o, "usage", json_null());
        json_object_set_new(o, "usageError", json_string(s->usage_error));
    }
    json_object_set_new(counts, "total", json_integer((json_int_t)s->n_devices));
    for (int i = 0; i < ENGINE_DEVICE_TYPES; i++)
        json_object_set_new(counts, engine_device_types[i],
                            json_integer((json_int_t)s->by_type[i]));
    json_object_set_new(counts, "planned", json_integer((json_int_t)s->n_planned));
    json_object_set_new(counts, "removing", json_integer((json_int_t)s->n_removing));
    json_object_set_new(o, "devices", counts);
    return o;
}

static void usage_line(struct strbuf *sb, const char *label, uint64_t used, uint64_t total,
                       int *r) {
    char u[32], t[32], f[32];
    api_size_format_human(used, u, sizeof(u));
    api_size_format_human(total, t, sizeof(t));
    api_size_format_human(total > used ? total - used : 0, f, sizeof(f));
    unsigned pct = total ? (unsigned)(used * 100 / total) : 0;
    if (*r == 0)
        *r = strbuf_addf(sb, "%-15s%s used, %s free of %s (%u%%)\n", label, u, f, t, pct);
}

int cmd_pool_status(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_JSON) | FMT(CLI_FMT_YAML), &fmt);
    if (r < 0)
        return r;
    struct engine_pool_status s;
    r = engine_pool_status(ctx->eng, &s, &ctx->err);
    if (r < 0)
        return r;
    if (fmt != CLI_FMT_TABLE) {
        r = cli_write_json(ctx, status_json(&s), fmt);
    } else {
        _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
        char a[32], d[32], m[32];
        api_size_format(s.allocation_size, a, sizeof(a));
        api_size_format(s.data_size, d, sizeof(d));
        api_size_format(s.metadata_size, m, sizeof(m));
        r = strbuf_addf(
            &sb, "%-15s%s\n%-15s%s%s\n%-15s%s at %s\n", "Driver:", s.driver, "Name:", s.name,
            s.state == ENGINE_POOL_ACTIVE ? "" : " (being initialised)", "Data:", d, s.data_path);
        if (r == 0 && strcmp(s.driver, "dm-thin") == 0)
            r = strbuf_addf(&sb, "%-15s%s at %s\n", "Metadata:", m, s.metadata_path);
        if (r == 0)
            r = strbuf_addf(&sb, "%-15s%s\n", "Allocation:", a);
        if (s.usage_known) {
            usage_line(&sb, "Data usage:", s.data_used, s.data_total, &r);
            if (strcmp(s.driver, "dm-thin") == 0)
                usage_line(&sb, "Metadata usage:", s.metadata_used, s.metadata_total, &r);
        } else if (r == 0) {
            r = strbuf_addf(&sb, "%-15sunknown: %s\n", "Usage:", s.usage_error);
        }
        if (r == 0)
            r = strbuf_addf(&sb, "%-15s%zu (Image %zu, Resize %zu, Kernel %zu, VM %zu",
                            "Devices:", s.n_devices, s.by_type[0], s.by_type[1], s.by_type[2],
                            s.by_type[3]);
        if (r == 0 && s.n_planned)
            r = strbuf_addf(&sb, "; %zu being created", s.n_planned);
        if (r == 0 && s.n_removing)
            r = strbuf_addf(&sb, "; %zu being removed", s.n_removing);
        if (r == 0)
            r = strbuf_adds(&sb, ")\n");
        r = r < 0 ? error_oom(&ctx->err) : cli_write_out(ctx, &sb);
    }
    if (r == 0 && !s.usage_known)
        r = error_set(&ctx->err, -EIO, "the pool cannot be used: %s", s.usage_error);
    engine_pool_status_release(&s);
    return r;
}

/* ---- pool ls ----------------------------------------------------------- */

int cmd_pool_ls(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(
        ctx, cli_flag_value(ctx, "output", "table"),
        FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_JSON) | FMT(CLI_FMT_YAML) | FMT(CLI_FMT_CSV), &fmt);
    if (r < 0)
        return r;
    struct engine_device *d = NULL;
    size_t n = 0;
    r = engine_pool_devices(ctx->eng, &d, &n, &ctx->err);
    if (r < 0)
        return r;
    if (fmt == CLI_FMT_JSON || fmt == CLI_FMT_YAML) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            json_t *o = json_object();
            if (!o || json_array_append_new(arr, o) < 0) {
                json_decref(arr);
                arr = NULL;
                break;
            }
            json_object_set_new(o, "id", json_integer(d[i].id));
            json_object_set_new(o, "type", json_string(d[i].type));
            json_object_set_new(o, "parent",
                                d[i].parent == ENGINE_DEVICE_PARENT_NONE
                                    ? json_string("pool")
                                    : json_integer(d[i].parent));
            json_object_set_new(o, "sizeBytes", json_integer((json_int_t)d[i].size));
            if (d[i].owner_kind == API_KIND_COUNT) {
                json_object_set_new(o, "owner", json_null());
            } else {
                json_t *ow = json_object();
                if (ow) {
                    json_object_set_new(ow, "kind", json_string(api_kind_name(d[i].owner_kind)));
                    json_object_set_new(ow, "id", json_string(d[i].owner_uid));
                    json_object_set_new(
                        ow, "name", d[i].owner_name ? json_string(d[i].owner_name) : json_null());
                }
                json_object_set_new(o, "owner", ow ? ow : json_null());
            }
            json_object_set_new(o, "state", json_string(engine_pool_state_name(d[i].state)));
        }
        r = cli_write_json(ctx, arr, fmt);
    } else {
        const char *header[] = {"ID", "TYPE", "PARENT", "SIZE", "OWNER", "STATE"};
        struct cli_table t;
        r = cli_table_init(&t, 6, header);
        for (size_t i = 0; i < n && r == 0; i++) {
            char id[16], parent[16], size[32], owner[128];
            snprintf(id, sizeof(id), "%u", d[i].id);
            if (d[i].parent == ENGINE_DEVICE_PARENT_NONE)
                snprintf(parent, sizeof(parent), "pool");
            else
                snprintf(parent, sizeof(parent), "%lld", (long long)d[i].parent);
            if (fmt == CLI_FMT_CSV)
                snprintf(size, sizeof(size), "%llu", (unsigned long long)d[i].size);
            else
                api_size_format_human(d[i].size, size, sizeof(size));
            if (d[i].owner_kind == API_KIND_COUNT)
                snprintf(owner, sizeof(owner), "-");
            else
                snprintf(owner, sizeof(owner), "%s/%s", api_kind_word(d[i].owner_kind),
                         d[i].owner_name ? d[i].owner_name : d[i].owner_uid);
            const char *cells[] = {id,   d[i].type, parent,
                                   size, owner,     engine_pool_state_name(d[i].state)};
            r = cli_table_add(&t, cells);
        }
        r = cli_table_finish(ctx, &t, r, fmt == CLI_FMT_CSV);
    }
    engine_devices_free(d, n);
    return r;
}

/* ---- doctor ------------------------------------------------------------ */

int cmd_doctor(struct cli_ctx *ctx) {
    enum cli_format fmt = CLI_FMT_TABLE;
    int r = cli_format_parse(ctx, cli_flag_value(ctx, "output", "table"),
                             FMT(CLI_FMT_TABLE) | FMT(CLI_FMT_JSON), &fmt);
    if (r < 0)
        return r;
    bool repair = cli_flag_given(ctx, "repair");
    struct engine_doctor_report rep = {0};
    r = engine_doctor(ctx->eng, repair, &rep, &ctx->err);
    if (r < 0)
        return r;
    size_t left = 0;
    for (size_t i = 0; i < rep.n; i++)
        if (!rep.items[i].repaired)
            left++;

    if (fmt == CLI_FMT_JSON) {
        json_t *o = json_object();
        json_t *arr = json_array();
        for (size_t i = 0; o && arr && i < rep.n; i++) {
            const struct engine_finding *f = &rep.items[i];
            json_t *j = json_object();
            if (!j)
                break;
            json_object_set_new(j, "kind", json_string(f->kind));
            json_object_set_new(j, "object", json_string(f->object));
            json_object_set_new(j, "message", json_string(f->message));
            json_object_set_new(j, "repair", f->action ? json_string(f->action) : json_null());
            json_object_set_new(j, "repaired", json_boolean(f->repaired));
            if (f->repair_error)
                json_object_set_new(j, "repairError", json_string(f->repair_error));
            json_array_append_new(arr, j);
        }
        if (o && arr) {
            json_object_set_new(o, "findings", arr);
            json_object_set_new(o, "problems", json_integer((json_int_t)rep.n));
            json_object_set_new(o, "left", json_integer((json_int_t)left));
        } else {
            json_decref(arr);
            json_decref(o);
            o = NULL;
        }
        r = cli_write_json(ctx, o, fmt);
    } else if (rep.n == 0) {
        if (!ctx->quiet)
            printf("no problems found\n");
    } else {
        const char *header[] = {"KIND", "OBJECT", "PROBLEM", "REPAIR"};
        struct cli_table t;
        r = cli_table_init(&t, 4, header);
        for (size_t i = 0; i < rep.n && r == 0; i++) {
            const struct engine_finding *f = &rep.items[i];
            char repair_cell[ERROR_MSG_MAX + 64];
            if (f->repaired)
                snprintf(repair_cell, sizeof(repair_cell), "done: %s", f->action);
            else if (f->repair_error)
                snprintf(repair_cell, sizeof(repair_cell), "failed: %s", f->repair_error);
            else if (f->action)
                snprintf(repair_cell, sizeof(repair_cell), "--repair would %s", f->action);
            else
                snprintf(repair_cell, sizeof(repair_cell), "needs a person");
            const char *cells[] = {f->kind, f->object, f->message, repair_cell};
            r = cli_table_add(&t, cells);
        }
        r = cli_table_finish(ctx, &t, r, false);
        if (r == 0 && !ctx->quiet)
            fprintf(stderr, "hearth: %zu problem%s found, %zu repaired, %zu left\n", rep.n,
                    rep.n == 1 ? "" : "s", rep.n - left, left);
    }
    if (r == 0 && rep.n > 0)
        ctx->exit_status = left ? DOCTOR_EXIT_PROBLEMS : DOCTOR_EXIT_REPAIRED;
    engine_doctor_report_release(&rep);
    return r;
}
