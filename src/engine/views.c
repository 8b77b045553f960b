/*
 * engine views: the rows that the front ends list (VM summaries, pool
 * devices, the journal's recent operations, the results of read-only SQL),
 * as the engine's own types (engine.h). The store's rows are handed over,
 * not copied: their strings move into the engine's types, or stay in the
 * store's arena that the engine's list keeps alive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

/* ---- VM summaries -------------------------------------------------------- */

/* The engine's list and what holds its strings: the store's list, whose arena they live in. */
struct vm_summaries {
    struct engine_vm_summaries pub; /* first: engine_vm_summaries_free casts back */
    struct store_vm_summaries *rows;
    struct engine_label *labels; /* every summary's labels, one array */
};

void engine_vm_summaries_free(struct engine_vm_summaries *l) {
    struct vm_summaries *s = (struct vm_summaries *)l;
    if (!s)
        return;
    free(s->pub.items);
    free(s->labels);
    store_vm_summaries_free(s->rows);
    free(s);
}

static int summaries_wrap(struct store_vm_summaries *rows, struct engine_vm_summaries **ret,
                          struct error *err) {
    struct vm_summaries *s = xcalloc(1, sizeof(*s));
    size_t n_labels = 0;
    for (size_t i = 0; i < rows->n; i++)
        n_labels += rows->items[i].n_labels;
    if (s) {
        s->rows = rows;
        s->pub.items = xcalloc(rows->n ? rows->n : 1, sizeof(*s->pub.items));
        s->labels = xcalloc(n_labels ? n_labels : 1, sizeof(*s->labels));
    }
    if (!s || !s->pub.items || !s->labels) {
        if (s)
            engine_vm_summaries_free(&s->pub);
        else
            store_vm_summaries_free(rows);
        return error_oom(err);
    }
    struct engine_label *label = s->labels;
    for (size_t i = 0; i < rows->n; i++) {
        const struct store_vm_summary *v = &rows->items[i];
        for (size_t k = 0; k < v->n_labels; k++)
            label[k] = (struct engine_label){v->labels[k].key, v->labels[k].value};
        s->pub.items[i] = (struct engine_vm_summary){
            .uid = v->uid,
            .name = v->name,
            .image_ref = v->image_ref,
            .kernel_ref = v->kernel_ref,
            .cmdline = v->cmdline,
            .network_mode = v->network_mode,
            .state = v->state,
            .image_id = v->image_id,
            .kernel_id = v->kernel_id,
            .cpus = v->cpus,
            .memory = v->memory,
            .disk_size = v->disk_size,
            .created = v->created,
            .started = v->started,
            .ports = v->ports,
            .ips = v->ips,
            .labels = label,
            .n_labels = v->n_labels,
        };
        label += v->n_labels;
    }
    s->pub.n = rows->n;
    *ret = &s->pub;
    return 0;
}

int engine_vm_summaries(engine *e, struct engine_vm_summaries **ret, struct error *err) {
    struct store_vm_summaries *rows = NULL;
    int r = store_vm_summary_list(e->store, &rows, err);
    return r < 0 ? r : summaries_wrap(rows, ret, err);
}

int engine_vm_summaries_active(engine *e, struct engine_vm_summaries **ret, struct error *err) {
    struct store_vm_summaries *rows = NULL;
    int r = store_vm_summary_list_active(e->store, &rows, err);
    return r < 0 ? r : summaries_wrap(rows, ret, err);
}

/* ---- the pool and its devices -------------------------------------------------- */

_Static_assert((int)ENGINE_POOL_ACTIVE == (int)STORE_POOL_ACTIVE &&
                   (int)ENGINE_POOL_PLANNED == (int)STORE_POOL_PLANNED &&
                   (int)ENGINE_POOL_REMOVING == (int)STORE_POOL_REMOVING,
               "the engine's pool states are the store's");

const char *engine_pool_state_name(enum engine_pool_state s) {
    return store_pool_state_name((enum store_pool_state)s);
}

/* ---- pool devices ---------------------------------------------------------- */

void engine_devices_free(struct engine_device *d, size_t n) {
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].type);
        free(d[i].owner_uid);
        free(d[i].owner_name);
        free(d[i].metadata_path);
        free(d[i].layer_key);
    }
    free(d);
}

int engine_pool_devices(engine *e, struct engine_device **ret, size_t *ret_n, struct error *err) {
    struct store_pool_device *rows = NULL;
    size_t n = 0;
    int r = store_pool_device_list(e->store, &rows, &n, err);
    if (r < 0)
        return r;
    struct engine_device *d = xcalloc(n ? n : 1, sizeof(*d));
    if (!d) {
        store_pool_devices_free(rows, n);
        return error_oom(err);
    }
    for (size_t i = 0; i < n; i++) {
        struct store_pool_device *row = &rows[i];
        d[i] = (struct engine_device){
            .id = row->id,
            .type = steal_ptr(&row->type),
            .parent =
                row->parent == STORE_DEVICE_PARENT_NONE ? ENGINE_DEVICE_PARENT_NONE : row->parent,
            .size = row->size,
            .state = (enum engine_pool_state)row->state,
            .owner_kind = row->owner_kind,
            .owner_uid = steal_ptr(&row->owner_uid),
            .owner_name = steal_ptr(&row->owner_name),
            .metadata_path = steal_ptr(&row->metadata_path),
            .created = row->created,
            .layer_key = steal_ptr(&row->layer_key),
        };
    }
    store_pool_devices_free(rows, n);
    *ret = d;
    *ret_n = n;
    return 0;
}

/* ---- the journal's recent operations ------------------------------------------ */

void engine_journal_entries_free(struct engine_journal_entry *ops, size_t n) {
    for (size_t i = 0; ops && i < n; i++) {
        free(ops[i].op);
        free(ops[i].object_uid);
        free(ops[i].step);
        free(ops[i].error);
        free(ops[i].params);
    }
    free(ops);
}

int engine_ops_recent(engine *e, size_t max_finished, struct engine_journal_entry **ret,
                      size_t *ret_n, struct error *err) {
    struct store_op *rows = NULL;
    size_t n = 0;
    int r = store_op_list_recent(e->store, max_finished, &rows, &n, err);
    if (r < 0)
        return r;
    struct engine_journal_entry *ops = xcalloc(n ? n : 1, sizeof(*ops));
    if (!ops) {
        store_ops_free(rows, n);
        return error_oom(err);
    }
    for (size_t i = 0; i < n; i++) {
        struct store_op *row = &rows[i];
        ops[i] = (struct engine_journal_entry){
            .id = row->id,
            .op = steal_ptr(&row->op),
            .kind = row->kind,
            .object_uid = steal_ptr(&row->object_uid),
            .step = steal_ptr(&row->step),
            .owner_pid = row->owner_pid,
            .started = row->started,
            .updated = row->updated,
            .finished = row->finished,
            .error = steal_ptr(&row->error),
            .device_id = row->device_id,
            .params = steal_ptr(&row->params),
        };
    }
    store_ops_free(rows, n);
    *ret = ops;
    *ret_n = n;
    return 0;
}

/* ---- read-only SQL ---------------------------------------------------------- */

_Static_assert((int)ENGINE_VALUE_NULL == (int)STORE_NULL &&
                   (int)ENGINE_VALUE_INTEGER == (int)STORE_INTEGER &&
                   (int)ENGINE_VALUE_REAL == (int)STORE_REAL &&
                   (int)ENGINE_VALUE_TEXT == (int)STORE_TEXT &&
                   (int)ENGINE_VALUE_BLOB == (int)STORE_BLOB,
               "the engine's value types are the store's");

/* Passes the store's results on to the engine's sink, with the types in the engine's words. As
 * for the store's sink, the sink and each of its callbacks may be NULL. */
struct sql_relay {
    const struct engine_sql_sink *sink;
    enum engine_value_type *types;
    int room;
};

static int relay_columns(void *ud, int ncols, const char *const *names) {
    struct sql_relay *s = ud;
    if (ncols > s->room) {
        enum engine_value_type *t = xcalloc((size_t)ncols, sizeof(*t));
        if (!t)
            return -ENOMEM;
        free(s->types);
        s->types = t;
        s->room = ncols;
    }
    return s->sink && s->sink->columns ? s->sink->columns(s->sink->ud, ncols, names) : 0;
}

static int relay_row(void *ud, int ncols, const char *const *values,
                     const enum store_value_type *types) {
    struct sql_relay *s = ud;
    if (!s->sink || !s->sink->row)
        return 0;
    if (ncols > s->room)
        return -EINVAL;
    for (int i = 0; i < ncols; i++)
        s->types[i] = (enum engine_value_type)types[i];
    return s->sink->row(s->sink->ud, ncols, values, s->types);
}

static int relay_end(void *ud) {
    struct sql_relay *s = ud;
    return s->sink && s->sink->end ? s->sink->end(s->sink->ud) : 0;
}

void engine_sql_limits_default(struct engine_sql_limits *ret) {
    struct store_sql_limits d = STORE_SQL_LIMITS_DEFAULT;
    *ret = (struct engine_sql_limits){d.timeout_ms, d.value_max, d.row_max, d.heap_max};
}

int engine_sql(engine *e, const char *sql, const struct engine_sql_limits *limits,
               const struct engine_sql_sink *sink, struct error *err) {
    struct store_sql_limits l = STORE_SQL_LIMITS_DEFAULT;
    if (limits)
        l = (struct store_sql_limits){limits->timeout_ms, limits->value_max, limits->row_max,
                                      limits->heap_max};
    struct sql_relay relay = {.sink = sink};
    struct store_sql_sink s = {relay_columns, relay_row, relay_end, &relay};
    int r = store_sql_query(e->store, sql, &l, &s, err);
    free(relay.types);
    return r;
}
