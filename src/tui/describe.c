/*
 * Describe: the YAML the dashboard shows for the selected row. Objects are
 * written exactly as `hearth inspect -o yaml` writes them (api_docs_write);
 * pool devices and operations, which are rows rather than documents, as a
 * small YAML mapping of their fields (api_yaml_dump).
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui_priv.h"

#define DESCRIBE_OPS_MAX 5000 /* finished operations searched for the selected one */

static void json_decref_p(json_t **j) {
    json_decref(*j);
}
#define _cleanup_json_ _cleanup_(json_decref_p)

static int set_str(json_t *o, const char *key, const char *value) {
    return json_object_set_new(o, key, value ? json_string(value) : json_null()) < 0 ? -ENOMEM : 0;
}

static int set_int(json_t *o, const char *key, int64_t value) {
    return json_object_set_new(o, key, json_integer(value)) < 0 ? -ENOMEM : 0;
}

static int set_time(json_t *o, const char *key, int64_t t) {
    if (t <= 0)
        return json_object_set_new(o, key, json_null()) < 0 ? -ENOMEM : 0;
    char buf[32];
    time_format_rfc3339(t, buf);
    return set_str(o, key, buf);
}

int tui_describe_op(const struct engine_journal_entry *op, struct strbuf *out) {
    _cleanup_json_ json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    int r = set_int(o, "id", op->id);
    if (r == 0)
        r = set_str(o, "operation", op->op);
    if (r == 0)
        r = set_str(o, "kind", op->kind < API_KIND_COUNT ? api_kind_name(op->kind) : NULL);
    if (r == 0)
        r = set_str(o, "object", op->object_uid);
    if (r == 0 && op->device_id >= 0)
        r = set_int(o, "device", op->device_id);
    if (r == 0)
        r = set_str(o, "step", op->step);
    if (r == 0)
        r = set_str(o, "state", !op->finished ? "running" : op->error ? "failed" : "done");
    if (r == 0)
        r = set_int(o, "ownerPid", op->owner_pid);
    if (r == 0)
        r = set_time(o, "started", op->started);
    if (r == 0)
        r = set_time(o, "updated", op->updated);
    if (r == 0)
        r = set_time(o, "finished", op->finished);
    if (r == 0)
        r = set_str(o, "error", op->error);
    if (r == 0 && op->params) {
        json_t *p = json_loads(op->params, 0, NULL);
        r = json_object_set_new(o, "params", p ? p : json_string(op->params)) < 0 ? -ENOMEM : 0;
    }
    return r < 0 ? r : api_yaml_dump(o, out);
}

static int describe_device(engine *e, uint32_t id, struct strbuf *out, struct error *err) {
    struct engine_device *devs = NULL;
    size_t n = 0;
    int r = engine_pool_devices(e, &devs, &n, err);
    if (r < 0)
        return r;
    const struct engine_device *d = NULL;
    for (size_t i = 0; i < n; i++)
        if (devs[i].id == id)
            d = &devs[i];
    if (!d) {
        engine_devices_free(devs, n);
        return error_set(err, -ENOENT, "device %u is gone", id);
    }
    _cleanup_json_ json_t *o = json_object();
    r = o ? 0 : -ENOMEM;
    if (r == 0)
        r = set_int(o, "device", d->id);
    if (r == 0)
        r = set_str(o, "type", d->type);
    if (r == 0)
        r = d->parent == ENGINE_DEVICE_PARENT_NONE ? set_str(o, "parent", "pool")
                                                   : set_int(o, "parent", d->parent);
    if (r == 0)
        r = set_int(o, "size", (int64_t)d->size);
    if (r == 0)
        r = set_str(o, "state", engine_pool_state_name(d->state));
    if (r == 0)
        r = set_str(o, "ownerKind",
                    d->owner_kind < API_KIND_COUNT ? api_kind_name(d->owner_kind) : NULL);
    if (r == 0)
        r = set_str(o, "ownerUID", d->owner_uid);
    if (r == 0)
        r = set_str(o, "ownerName", d->owner_name);
    if (r == 0)
        r = set_str(o, "layer", d->layer_key);
    if (r == 0)
        r = set_str(o, "metadataPath", d->metadata_path);
    if (r == 0)
        r = set_time(o, "created", d->created);
    engine_devices_free(devs, n);
    if (r == 0)
        r = api_yaml_dump(o, out);
    return r < 0 ? error_set(err, r, "out of memory") : 0;
}

static int describe_op(engine *e, const char *key, struct strbuf *out, struct error *err) {
    struct engine_journal_entry *ops = NULL;
    size_t n = 0;
    int r = engine_ops_recent(e, DESCRIBE_OPS_MAX, &ops, &n, err);
    if (r < 0)
        return r;
    r = error_set(err, -ENOENT, "operation %s is no longer in the journal's recent rows", key);
    for (size_t i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)ops[i].id);
        if (strcmp(id, key) == 0) {
            error_init(err);
            r = tui_describe_op(&ops[i], out);
            if (r < 0)
                r = error_set(err, r, "out of memory");
            break;
        }
    }
    engine_journal_entries_free(ops, n);
    return r;
}

int tui_describe(engine *e, enum tui_screen screen, const struct tui_row *row, struct strbuf *out,
                 struct error *err) {
    if (!row)
        return error_set(err, -ENOENT, "nothing is selected");
    switch (screen) {
    case TUI_SCREEN_VMS:
    case TUI_SCREEN_IMAGES:
    case TUI_SCREEN_KERNELS: {
        enum api_kind kind = screen == TUI_SCREEN_VMS      ? API_KIND_VM
                             : screen == TUI_SCREEN_IMAGES ? API_KIND_IMAGE
                                                           : API_KIND_KERNEL;
        struct api_object *obj = NULL;
        int r = engine_get(e, kind, row->key, &obj, err);
        if (r < 0)
            return r;
        struct api_object *const objs[] = {obj};
        r = api_docs_write(objs, 1, API_FORMAT_YAML, false, out);
        api_object_free(obj);
        return r < 0 ? error_set(err, r, "out of memory") : 0;
    }
    case TUI_SCREEN_POOL: {
        uint64_t id = 0;
        if (parse_u64(row->key, UINT32_MAX, &id) < 0)
            return error_set(err, -EINVAL, "'%s' is not a device id", row->key);
        return describe_device(e, (uint32_t)id, out, err);
    }
    case TUI_SCREEN_OPS:
        return describe_op(e, row->key, out, err);
    default:
        return error_set(err, -EINVAL, "nothing to describe here");
    }
}
