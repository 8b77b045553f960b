/*
 * The dashboard's model: what each screen shows, as a plain snapshot with no
 * curses in it. A tui_table holds the rows of one screen (strings in a few
 * large arena blocks, so 10,000 VMs cost a handful of allocations); a
 * tui_list adds what the user did to it: the filter, the sort, the
 * selection and the scroll position, kept across refreshes. tui_text is the
 * pager behind describe, help and logs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tui/tui_priv.h"

/* ---- cells -------------------------------------------------------------- */

/* A copy of s (NULL: "") in the arena, cut to a cell's most; NULL on OOM. */
static const char *cell_dup(struct arena *a, const char *s) {
    if (!s)
        return "";
    size_t len = strlen(s);
    if (len >= TUI_CELL_MAX)
        len = TUI_CELL_MAX - 1;
    return arena_strndup(a, s, len);
}

/* ---- screens and tones --------------------------------------------------- */

const char *tui_screen_title(enum tui_screen s) {
    static const char *const titles[TUI_SCREEN_COUNT] = {"VMs", "Images", "Kernels", "Pool",
                                                         "Operations"};
    return s < TUI_SCREEN_COUNT ? titles[s] : "?";
}

enum tui_tone tui_tone_of_state(enum api_vm_state state) {
    switch (state) {
    case API_VM_RUNNING:
        return TUI_TONE_RUNNING;
    case API_VM_STOPPED:
    case API_VM_CREATED:
        return TUI_TONE_STOPPED;
    case API_VM_CREATING:
    case API_VM_STARTING:
    case API_VM_STOPPING:
    case API_VM_REMOVING:
        return TUI_TONE_BUSY;
    default:
        return TUI_TONE_NORMAL;
    }
}

/* ---- tables -------------------------------------------------------------- */

void tui_table_free(struct tui_table *t) {
    if (!t)
        return;
    arena_free(t->arena);
    free(t->rows);
    free(t);
}

static struct tui_table *table_new(enum tui_screen screen, const struct tui_col *cols, size_t ncols,
                                   size_t hint, int64_t now) {
    struct tui_table *t = xcalloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->screen = screen;
    t->cols = cols;
    t->ncols = ncols;
    t->now = now;
    t->arena = arena_new();
    t->alloc_rows = hint ? hint : 1;
    t->rows = xcalloc(t->alloc_rows, sizeof(*t->rows));
    if (!t->arena || !t->rows) {
        tui_table_free(t);
        return NULL;
    }
    for (size_t c = 0; c < ncols; c++)
        t->width[c] = strlen(cols[c].title);
    return t;
}

/* Whether the cell of column col with sort key num is a time cell. */
static bool has_time(const struct tui_col *col, int64_t num) {
    return (col->time == TUI_TIME_AGE && num != API_TIME_NONE && num > 0) ||
           (col->time == TUI_TIME_UP && num > 0);
}

/* The text of a time cell: the same words as `ps`. */
static void time_cell(enum tui_col_time kind, int64_t t, int64_t now, char *buf, size_t size) {
    if (kind == TUI_TIME_UP)
        api_vm_status_format(API_VM_RUNNING, t, now, buf, size);
    else
        api_age_format(t, now, buf, size);
}

bool tui_table_retime(struct tui_table *t, int64_t now) {
    bool changed = false;
    t->now = now;
    for (size_t c = 0; c < t->ncols; c++) {
        if (t->cols[c].time == TUI_TIME_NONE)
            continue;
        size_t width = strlen(t->cols[c].title);
        for (size_t i = 0; i < t->nrows; i++) {
            struct tui_row *row = &t->rows[i];
            if (has_time(&t->cols[c], row->nums[c])) {
                char buf[TUI_TIME_CELL];
                time_cell(t->cols[c].time, row->nums[c], now, buf, sizeof(buf));
                if (strcmp(buf, row->cells[c]) != 0) {
                    /* The row's own buffer (table_add): never shared. */
                    memcpy((char *)row->cells[c], buf, strlen(buf) + 1);
                    changed = true;
                }
            }
            size_t w = strlen(row->cells[c]);
            if (w > width)
                width = w;
        }
        size_t cap = t->cols[c].max_width ? t->cols[c].max_width : TUI_CELL_MAX;
        t->width[c] = width < cap ? width : cap;
    }
    return changed;
}

/* Adds a row: cells copied into the arena, nums (may be NULL: all 0) copied. */
static int table_add(struct tui_table *t, const char *key, const char *const *cells,
                     const int64_t *nums, enum tui_tone tone, enum api_kind kind) {
    if (t->nrows == t->alloc_rows) {
        size_t ncap = t->alloc_rows * 2;
        struct tui_row *p = xrealloc(t->rows, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        t->rows = p;
        t->alloc_rows = ncap;
    }
    struct tui_row *row = &t->rows[t->nrows];
    row->cells = arena_alloc(t->arena, t->ncols * sizeof(*row->cells), _Alignof(const char *));
    row->nums = arena_alloc(t->arena, t->ncols * sizeof(*row->nums), _Alignof(int64_t));
    row->key = cell_dup(t->arena, key);
    if (!row->cells || !row->nums || !row->key)
        return -ENOMEM;
    for (size_t c = 0; c < t->ncols; c++) {
        /* Equal neighbouring cells (an image ref, a kernel) share one copy; a
         * time column's never do, as tui_table_retime writes its buffers. */
        const char *prev = t->nrows ? t->rows[t->nrows - 1].cells[c] : NULL;
        const char *s = cells[c] ? cells[c] : "";
        row->nums[c] = nums ? nums[c] : 0;
        if (has_time(&t->cols[c], row->nums[c])) {
            /* A buffer of its own, which tui_table_retime writes again. */
            char *buf = arena_alloc(t->arena, TUI_TIME_CELL, 1);
            if (!buf)
                return -ENOMEM;
            time_cell(t->cols[c].time, row->nums[c], t->now, buf, TUI_TIME_CELL);
            row->cells[c] = buf;
        } else if (prev && t->cols[c].time == TUI_TIME_NONE &&
                   strncmp(prev, s, TUI_CELL_MAX - 1) == 0 && strlen(s) < TUI_CELL_MAX)
            row->cells[c] = prev;
        else if (!(row->cells[c] = cell_dup(t->arena, s)))
            return -ENOMEM;
        size_t w = strlen(row->cells[c]);
        size_t cap = t->cols[c].max_width ? t->cols[c].max_width : TUI_CELL_MAX;
        if (w > cap)
            w = cap;
        if (w > t->width[c])
            t->width[c] = w;
    }
    row->tone = tone;
    row->kind = kind;
    t->nrows++;
    return 0;
}

static const struct tui_col vm_cols[] = {
    {"VM ID", false, 3, 16},
    {"IMAGE", false, 4, 40},
    {"KERNEL", false, 9, 40},
    {"SIZE", true, 7, 0},
    {"CPUS", true, 5, 0},
    {"MEMORY", true, 6, 0},
    {"CREATED", true, 8, 0, TUI_TIME_AGE},
    {"STATUS", false, 2, 0, TUI_TIME_UP},
    {"IPS", false, 10, 40},
    {"PORTS", false, 11, 40},
    {"NAME", false, 1, 40},
};

int tui_table_vms(const struct engine_vm_summaries *l, int64_t now, struct tui_table **ret) {
    struct tui_table *t = table_new(TUI_SCREEN_VMS, vm_cols, ARRAY_SIZE(vm_cols), l->n, now);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        const struct engine_vm_summary *v = &l->items[i];
        char size[32], mem[32], cpus[24];
        api_size_format_human(v->disk_size, size, sizeof(size));
        api_size_format_human(v->memory, mem, sizeof(mem));
        snprintf(cpus, sizeof(cpus), "%llu", (unsigned long long)v->cpus);
        enum tui_tone tone = tui_tone_of_state(v->state);
        /* CREATED and a running VM's STATUS ("Up 5m") are time cells (table_add). */
        int64_t up = tone == TUI_TONE_RUNNING ? v->started : 0;
        const char *cells[] = {v->uid,
                               v->image_ref ? v->image_ref : "-",
                               v->kernel_ref ? v->kernel_ref : "-",
                               size,
                               cpus,
                               mem,
                               "-",
                               api_vm_state_name(v->state) ? api_vm_state_name(v->state) : "-",
                               v->ips ? v->ips : "",
                               v->ports ? v->ports : "",
                               v->name};
        const int64_t nums[] = {
            0, 0, 0, (int64_t)v->disk_size, (int64_t)v->cpus, (int64_t)v->memory, v->created, up,
            0, 0, 0};
        if (table_add(t, v->uid, cells, nums, tone, API_KIND_VM) < 0) {
            tui_table_free(t);
            return -ENOMEM;
        }
    }
    *ret = t;
    return 0;
}

static const struct tui_col image_cols[] = {
    {"IMAGE ID", false, 2, 16},
    {"NAME", false, 1, 60},
    {"CREATED", true, 3, 0, TUI_TIME_AGE},
    {"SIZE", true, 4, 0},
};
static const struct tui_col kernel_cols[] = {
    {"KERNEL ID", false, 2, 16}, {"NAME", false, 1, 60},    {"CREATED", true, 4, 0, TUI_TIME_AGE},
    {"SIZE", true, 5, 0},        {"VERSION", false, 3, 40},
};

int tui_table_objects(enum api_kind kind, struct api_object *const *objs, size_t n, int64_t now,
                      struct tui_table **ret) {
    bool kernel = kind == API_KIND_KERNEL;
    struct tui_table *t =
        kernel ? table_new(TUI_SCREEN_KERNELS, kernel_cols, ARRAY_SIZE(kernel_cols), n, now)
               : table_new(TUI_SCREEN_IMAGES, image_cols, ARRAY_SIZE(image_cols), n, now);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct api_object *o = objs[i];
        const struct api_oci_source *src = kernel ? &o->u.kernel.source : &o->u.image.source;
        char size[32];
        api_size_format_human(src->size, size, sizeof(size));
        const char *cells[] = {o->meta.uid, o->meta.name, "-", size,
                               kernel ? o->u.kernel.version : NULL};
        const int64_t nums[] = {0, 0, o->meta.created, (int64_t)src->size, 0};
        if (table_add(t, o->meta.uid, cells, nums, TUI_TONE_NORMAL, kind) < 0) {
            tui_table_free(t);
            return -ENOMEM;
        }
    }
    *ret = t;
    return 0;
}

static const struct tui_col pool_cols[] = {
    {"DEVICE", false, 1, 40},
    {"TYPE", false, 2, 0},
    {"SIZE", true, 3, 0},
    {"STATE", false, 4, 0},
    {"OWNER", false, 5, 40},
    {"LAYER", false, 7, 40},
    {"CREATED", true, 6, 0, TUI_TIME_AGE},
};

/* Depth-first walk of the device tree: children of parent (an index into devs or -1). */
struct tree_walk {
    struct tui_table *t;
    const struct engine_device *devs;
    size_t n;
    size_t *first_child, *next_sibling; /* index lists, n = none */
    bool *done;
    char prefix[128]; /* "|  " per level whose parent has later siblings */
};

static size_t dev_index(const struct engine_device *devs, size_t n, int64_t id) {
    /* Rows come sorted by id: binary search. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((int64_t)devs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && (int64_t)devs[lo].id == id ? lo : n;
}

static int tree_add(struct tree_walk *w, size_t i, size_t depth, bool last) {
    const struct engine_device *d = &w->devs[i];
    w->done[i] = true;
    char label[192], size[32], owner[160];
    size_t plen = strlen(w->prefix);
    if (depth == 0)
        snprintf(label, sizeof(label), "%u", d->id);
    else
        snprintf(label, sizeof(label), "%s%s %u", w->prefix, last ? "`-" : "|-", d->id);
    api_size_format_human(d->size, size, sizeof(size));
    if (d->owner_uid)
        snprintf(owner, sizeof(owner), "%s %s", api_kind_name(d->owner_kind),
                 d->owner_name ? d->owner_name : d->owner_uid);
    else
        snprintf(owner, sizeof(owner), "-");
    char key[24];
    snprintf(key, sizeof(key), "%u", d->id);
    const char *cells[] = {label, d->type,
                           size,  engine_pool_state_name(d->state),
                           owner, d->layer_key ? d->layer_key : "-",
                           "-"};
    const int64_t nums[] = {d->id, 0, (int64_t)d->size, 0, 0, 0, d->created};
    enum tui_tone tone = d->state == ENGINE_POOL_ACTIVE ? TUI_TONE_NORMAL : TUI_TONE_BUSY;
    int r = table_add(w->t, key, cells, nums, tone, API_KIND_POOL);
    if (r < 0)
        return r;
    if (depth > 0 && plen + 4 < sizeof(w->prefix))
        memcpy(w->prefix + plen, last ? "   " : "|  ", 4);
    for (size_t c = w->first_child[i]; c < w->n && r == 0; c = w->next_sibling[c])
        if (!w->done[c])
            r = tree_add(w, c, depth + 1, w->next_sibling[c] >= w->n);
    w->prefix[plen] = '\0';
    return r;
}

int tui_table_pool(const struct engine_pool_status *st, const char *why_none,
                   const struct engine_device *devs, size_t n, int64_t now,
                   struct tui_table **ret) {
    struct tui_table *t = table_new(TUI_SCREEN_POOL, pool_cols, ARRAY_SIZE(pool_cols), n, now);
    if (!t)
        return -ENOMEM;
    char info[512];
    if (st) {
        if (st->usage_known)
            snprintf(info, sizeof(info), "pool %s: driver %s, %s, %zu devices, data %s", st->name,
                     st->driver, engine_pool_state_name(st->state), st->n_devices,
                     st->data_path ? st->data_path : "-");
        else
            snprintf(info, sizeof(info), "pool %s: driver %s, %s, usage unknown: %s", st->name,
                     st->driver, engine_pool_state_name(st->state),
                     st->usage_error ? st->usage_error : "?");
        t->gauges[0] =
            (struct tui_gauge){"data", st->data_used, st->usage_known ? st->data_total : 0};
        t->n_gauges = 1;
        if (strcmp(st->driver, "dm-thin") == 0) {
            t->gauges[1] = (struct tui_gauge){"metadata", st->metadata_used,
                                              st->usage_known ? st->metadata_total : 0};
            t->n_gauges = 2;
        }
    } else {
        snprintf(info, sizeof(info), "%s", why_none ? why_none : "no pool");
    }
    t->info = cell_dup(t->arena, info);
    if (!t->info) {
        tui_table_free(t);
        return -ENOMEM;
    }
    size_t *lists = xcalloc(2 * (n ? n : 1), sizeof(*lists));
    bool *done = xcalloc(n ? n : 1, sizeof(*done));
    int r = lists && done ? 0 : -ENOMEM;
    struct tree_walk w = {.t = t, .devs = devs, .n = n, .done = done};
    if (r == 0) {
        w.first_child = lists;
        w.next_sibling = lists + n;
        for (size_t i = 0; i < n; i++)
            w.first_child[i] = w.next_sibling[i] = n;
        /* Children lists in id order: walk backwards, prepending. */
        for (size_t i = n; i-- > 0;) {
            if (devs[i].parent == ENGINE_DEVICE_PARENT_NONE)
                continue;
            size_t p = dev_index(devs, n, devs[i].parent);
            if (p == n || p == i)
                continue;
            w.next_sibling[i] = w.first_child[p];
            w.first_child[p] = i;
        }
        /* Roots: no parent, or a parent without a row; then anything a cycle hid. */
        for (size_t i = 0; i < n && r == 0; i++)
            if (!done[i] && (devs[i].parent == ENGINE_DEVICE_PARENT_NONE ||
                             dev_index(devs, n, devs[i].parent) == n))
                r = tree_add(&w, i, 0, true);
        for (size_t i = 0; i < n && r == 0; i++)
            if (!done[i])
                r = tree_add(&w, i, 0, true);
    }
    free(lists);
    free(done);
    if (r < 0) {
        tui_table_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

static const struct tui_col op_cols[] = {
    {"ID", true, 1, 0},
    {"OPERATION", false, 2, 0},
    {"OBJECT", false, 4, 24},
    {"STEP", false, 5, 24},
    {"STATE", false, 3, 0},
    {"OWNER", true, 7, 0},
    {"STARTED", true, 6, 0, TUI_TIME_AGE},
    {"ERROR", false, 8, 120},
};

int tui_table_ops(const struct engine_journal_entry *ops, size_t n, int64_t now,
                  struct tui_table **ret) {
    struct tui_table *t = table_new(TUI_SCREEN_OPS, op_cols, ARRAY_SIZE(op_cols), n, now);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct engine_journal_entry *o = &ops[i];
        char id[24], owner[24], object[64];
        snprintf(id, sizeof(id), "%lld", (long long)o->id);
        snprintf(owner, sizeof(owner), "%d", o->owner_pid);
        if (o->object_uid)
            snprintf(object, sizeof(object), "%s", o->object_uid);
        else if (o->device_id >= 0)
            snprintf(object, sizeof(object), "device %lld", (long long)o->device_id);
        else
            snprintf(object, sizeof(object), "-");
        const char *state = !o->finished ? "running" : o->error ? "failed" : "done";
        enum tui_tone tone = !o->finished ? TUI_TONE_BUSY
                             : o->error   ? TUI_TONE_ERROR
                                          : TUI_TONE_NORMAL;
        const char *cells[] = {id,    o->op, object, o->step,
                               state, owner, "-",    o->error ? o->error : ""};
        const int64_t nums[] = {o->id, 0, 0, 0, 0, o->owner_pid, o->started, 0};
        if (table_add(t, id, cells, nums, tone, o->kind) < 0) {
            tui_table_free(t);
            return -ENOMEM;
        }
    }
    *ret = t;
    return 0;
}

/* ---- layout -------------------------------------------------------------- */

#define COL_GAP 2

size_t tui_layout(const struct tui_table *t, int width, int *ret_widths) {
    size_t idx[TUI_COLS_MAX];
    size_t nc = t->ncols < TUI_COLS_MAX ? t->ncols : TUI_COLS_MAX;
    for (size_t c = 0; c < nc; c++) {
        idx[c] = c;
        ret_widths[c] = 0;
    }
    /* Most important first (insertion sort: a handful of columns). */
    for (size_t i = 1; i < nc; i++)
        for (size_t j = i; j > 0 && t->cols[idx[j]].priority < t->cols[idx[j - 1]].priority; j--) {
            size_t tmp = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = tmp;
        }
    long left = width;
    size_t shown = 0;
    for (size_t i = 0; i < nc && left > 0; i++) {
        size_t c = idx[i];
        long need = (long)t->width[c] + (shown ? COL_GAP : 0);
        if (need > left) {
            /* The first column is cut to fit; later ones only when enough of them shows. */
            long room = left - (shown ? COL_GAP : 0);
            if (shown == 0 || room >= 8) {
                ret_widths[c] = (int)(room > 0 ? room : 0);
                if (ret_widths[c] > 0)
                    shown++;
            }
            break;
        }
        ret_widths[c] = (int)t->width[c];
        left -= need;
        shown++;
    }
    return shown;
}

/* ---- lists --------------------------------------------------------------- */

void tui_list_init(struct tui_list *l) {
    memset(l, 0, sizeof(*l));
    l->sort_col = -1;
}

void tui_list_release(struct tui_list *l) {
    tui_table_free(l->table);
    free(l->order);
    tui_list_init(l);
}

static bool row_matches(const struct tui_table *t, const struct tui_row *row, const char *f) {
    if (!*f)
        return true;
    for (size_t c = 0; c < t->ncols; c++)
        if (strcasestr(row->cells[c], f))
            return true;
    return false;
}

struct sort_ctx {
    const struct tui_table *t;
    int col;
    bool reverse;
};

static int row_cmp(const void *a, const void *b, void *ud) {
    const struct sort_ctx *s = ud;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int r = 0;
    if (s->col >= 0) {
        const struct tui_row *ra = &s->t->rows[ia], *rb = &s->t->rows[ib];
        if (s->t->cols[s->col].numeric)
            r = ra->nums[s->col] < rb->nums[s->col] ? -1 : ra->nums[s->col] > rb->nums[s->col];
        else
            r = strcmp(ra->cells[s->col], rb->cells[s->col]);
    }
    if (r == 0) /* stable: equal rows keep the table's order */
        r = ia < ib ? -1 : ia > ib;
    return s->reverse ? -r : r;
}

/* Rebuilds order from the table, filter and sort; keeps the selection on key if shown. */
static int list_rebuild(struct tui_list *l, const char *key) {
    size_t old_sel = l->sel;
    l->n = 0;
    l->sel = 0;
    if (!l->table)
        return 0;
    size_t *order = xrealloc(l->order, (l->table->nrows ? l->table->nrows : 1) * sizeof(*order));
    if (!order)
        return -ENOMEM;
    l->order = order;
    for (size_t i = 0; i < l->table->nrows; i++)
        if (row_matches(l->table, &l->table->rows[i], l->filter))
            l->order[l->n++] = i;
    if (l->sort_col >= (int)l->table->ncols)
        l->sort_col = -1;
    if (l->sort_col >= 0 || l->reverse) {
        struct sort_ctx s = {l->table, l->sort_col, l->reverse};
        qsort_r(l->order, l->n, sizeof(*l->order), row_cmp, &s);
    }
    bool found = false;
    for (size_t i = 0; key && i < l->n; i++)
        if (strcmp(l->table->rows[l->order[i]].key, key) == 0) {
            l->sel = i;
            found = true;
            break;
        }
    if (!found)
        l->sel = l->n == 0 ? 0 : old_sel < l->n ? old_sel : l->n - 1;
    if (l->top > l->sel)
        l->top = l->sel;
    return 0;
}

/* A copy of the selected row's key (the table it points into is about to go). */
static char *selected_key(const struct tui_list *l) {
    const struct tui_row *row = tui_list_selected(l);
    return row ? xstrdup(row->key) : NULL;
}

int tui_list_set_table(struct tui_list *l, struct tui_table *t) {
    _cleanup_free_ char *key = selected_key(l);
    tui_table_free(l->table);
    l->table = t;
    return list_rebuild(l, key);
}

int tui_list_set_filter(struct tui_list *l, const char *filter) {
    _cleanup_free_ char *key = selected_key(l);
    snprintf(l->filter, sizeof(l->filter), "%s", filter ? filter : "");
    return list_rebuild(l, key);
}

int tui_list_sort(struct tui_list *l, int col, bool reverse) {
    _cleanup_free_ char *key = selected_key(l);
    l->sort_col = col;
    l->reverse = reverse;
    return list_rebuild(l, key);
}

void tui_list_move(struct tui_list *l, long delta) {
    if (l->n == 0)
        return;
    long s = (long)l->sel + delta;
    if (s < 0)
        s = 0;
    if (s >= (long)l->n)
        s = (long)l->n - 1;
    l->sel = (size_t)s;
}

void tui_list_home(struct tui_list *l) {
    l->sel = 0;
}

void tui_list_end(struct tui_list *l) {
    l->sel = l->n ? l->n - 1 : 0;
}

void tui_list_scroll(struct tui_list *l, size_t height) {
    if (height == 0)
        height = 1;
    if (l->sel < l->top)
        l->top = l->sel;
    else if (l->sel >= l->top + height)
        l->top = l->sel + 1 - height;
    /* No empty space below the last row when the list could fill the window. */
    if (l->n >= height && l->top > l->n - height)
        l->top = l->n - height;
    if (l->n < height)
        l->top = 0;
}

const struct tui_row *tui_list_selected(const struct tui_list *l) {
    if (!l->table || l->n == 0)
        return NULL;
    return &l->table->rows[l->order[l->sel < l->n ? l->sel : l->n - 1]];
}

/* ---- text pager ---------------------------------------------------------- */

void tui_text_init(struct tui_text *t) {
    memset(t, 0, sizeof(*t));
}

void tui_text_release(struct tui_text *t) {
    strbuf_release(&t->buf);
    free(t->lines);
    tui_text_init(t);
}

static int text_add_line(struct tui_text *t, size_t off) {
    if (t->nlines == t->alloc_lines) {
        size_t ncap = t->alloc_lines ? t->alloc_lines * 2 : 256;
        size_t *p = xrealloc(t->lines, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        t->lines = p;
        t->alloc_lines = ncap;
    }
    t->lines[t->nlines++] = off;
    return 0;
}

/* Drops the oldest half of the text once it is past TUI_TEXT_MAX. */
static void text_trim(struct tui_text *t) {
    if (t->buf.len <= TUI_TEXT_MAX || t->nlines < 2)
        return;
    size_t drop = t->nlines / 2, cut = t->lines[drop];
    memmove(t->buf.buf, t->buf.buf + cut, t->buf.len - cut + 1);
    t->buf.len -= cut;
    for (size_t i = drop; i < t->nlines; i++)
        t->lines[i - drop] = t->lines[i] - cut;
    t->nlines -= drop;
    t->top = t->top > drop ? t->top - drop : 0;
}

int tui_text_append(struct tui_text *t, const char *data, size_t len) {
    size_t start = t->buf.len;
    if (strbuf_add(&t->buf, data, len) < 0)
        return -ENOMEM;
    if (t->nlines == 0 && text_add_line(t, 0) < 0)
        return -ENOMEM;
    for (size_t i = start; i < t->buf.len; i++)
        if (t->buf.buf[i] == '\n' && text_add_line(t, i + 1) < 0)
            return -ENOMEM;
    text_trim(t);
    return 0;
}

int tui_text_set(struct tui_text *t, const char *title, const char *text, size_t len) {
    strbuf_reset(&t->buf);
    t->nlines = 0;
    t->top = 0;
    t->follow = false;
    snprintf(t->title, sizeof(t->title), "%s", title ? title : "");
    return tui_text_append(t, text, len);
}

/* Lines shown: a final empty line after the last newline does not count. */
static size_t text_count(const struct tui_text *t) {
    if (t->nlines > 0 && t->lines[t->nlines - 1] == t->buf.len)
        return t->nlines - 1;
    return t->nlines;
}

const char *tui_text_line(const struct tui_text *t, size_t i, size_t *ret_len) {
    if (i >= text_count(t)) {
        *ret_len = 0;
        return "";
    }
    size_t from = t->lines[i];
    size_t to = i + 1 < t->nlines ? t->lines[i + 1] - 1 : t->buf.len;
    if (to > from && t->buf.buf[to - 1] == '\r')
        to--;
    *ret_len = to - from;
    return t->buf.buf + from;
}

static size_t text_max_top(const struct tui_text *t, size_t height) {
    size_t n = text_count(t);
    return n > height ? n - height : 0;
}

void tui_text_scroll(struct tui_text *t, long delta, size_t height) {
    long top = (long)t->top + delta;
    long max = (long)text_max_top(t, height);
    if (top > max)
        top = max;
    if (top < 0)
        top = 0;
    t->top = (size_t)top;
    t->follow = t->top == (size_t)max;
}

void tui_text_home(struct tui_text *t) {
    t->top = 0;
    t->follow = false;
}

void tui_text_end(struct tui_text *t, size_t height) {
    t->top = text_max_top(t, height);
    t->follow = true;
}
