/*
 * store summaries: what `ps` and the dashboard list of each VM, read without
 * decoding whole objects. A listing reads the main rows and each child table
 * (ports, IP addresses, labels) in one query apiece inside one read
 * transaction, merges the child rows by uid through a small hash index, and
 * keeps every string in one arena, so loading 10,000 VMs costs a fixed
 * number of queries and a few dozen allocations.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "store/store_priv.h"

/*
 * *ret = a text column in the arena (NULL for SQL NULL), as store_column_text
 * reads it (up to the first NUL). When the value equals prev, the neighbouring
 * row's copy, prev is shared instead of copied. 0 or -ENOMEM.
 */
static int summary_column(struct arena *a, sqlite3_stmt *st, int col, const char *prev,
                          const char **ret) {
    const char *t = (const char *)sqlite3_column_text(st, col);
    if (!t) {
        *ret = NULL;
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : -ENOMEM;
    }
    size_t len = strnlen(t, (size_t)sqlite3_column_bytes(st, col));
    if (prev && strlen(prev) == len && memcmp(prev, t, len) == 0) {
        *ret = prev;
        return 0;
    }
    const char *c = arena_strndup(a, t, len);
    if (!c)
        return -ENOMEM;
    *ret = c;
    return 0;
}

#define SUMMARY_COLS                                                                               \
    "uid, name, created, has_image_claim, image_ref, has_kernel_claim, kernel_ref, cmdline, "      \
    "cpus, memory, disk_size, network_mode, state, image_id, kernel_id, "                          \
    "CASE WHEN state = 'Running' THEN "                                                            \
    "(SELECT r.started FROM vm_runtime r WHERE r.uid = vm.uid AND r.stopped IS NULL) END"

/*
 * Fills v from a row of SUMMARY_COLS; prev is the previous row's summary or
 * NULL. *ret_state is the state as the row has it (for the row's check).
 */
static int summary_read_main(struct arena *a, sqlite3_stmt *st, struct store_vm_summary *v,
                             const struct store_vm_summary *prev, const char **ret_state) {
    const struct store_vm_summary none = {0};
    if (!prev)
        prev = &none;
    if (summary_column(a, st, 0, NULL, &v->uid) < 0 ||
        summary_column(a, st, 1, NULL, &v->name) < 0 ||
        summary_column(a, st, 7, prev->cmdline, &v->cmdline) < 0 ||
        summary_column(a, st, 11, prev->network_mode, &v->network_mode) < 0 ||
        summary_column(a, st, 13, prev->image_id, &v->image_id) < 0 ||
        summary_column(a, st, 14, prev->kernel_id, &v->kernel_id) < 0)
        return -ENOMEM;
    if (sqlite3_column_int(st, 3) && summary_column(a, st, 4, prev->image_ref, &v->image_ref) < 0)
        return -ENOMEM;
    if (sqlite3_column_int(st, 5) && summary_column(a, st, 6, prev->kernel_ref, &v->kernel_ref) < 0)
        return -ENOMEM;
    *ret_state = (const char *)sqlite3_column_text(st, 12);
    if (!*ret_state || api_vm_state_parse(*ret_state, &v->state) < 0)
        v->state = API_VM_STATE_NONE;
    v->created = store_column_time(st, 2);
    v->cpus = store_column_u64(st, 8);
    v->memory = store_column_u64(st, 9);
    v->disk_size = store_column_u64(st, 10);
    v->started = sqlite3_column_int64(st, 15); /* NULL (nothing runs) reads as 0 */
    v->ports = "";
    v->ips = "";
    return 0;
}

/* The size of api_port_format's buffer in `ps` (its output is cut to fit). */
#define PORT_TEXT_MAX 160

/* Writes v in decimal at p; returns the end. */
static char *put_u64(char *p, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/*
 * api_port_format into buf[PORT_TEXT_MAX] without snprintf (a listing
 * formats one per port); the same text, including the cut at
 * PORT_TEXT_MAX - 1 bytes, which only absurdly long addresses reach.
 * Returns the length.
 */
static size_t port_format(const struct api_port *p, char *buf) {
    const char *addr = p->bind_address ? p->bind_address : "0.0.0.0";
    const char *proto = p->protocol ? p->protocol : "tcp";
    size_t alen = strlen(addr), plen = strlen(proto);
    if (alen + plen + 48 >= PORT_TEXT_MAX) {
        api_port_format(p, buf, PORT_TEXT_MAX);
        return strlen(buf);
    }
    bool v6 = memchr(addr, ':', alen) != NULL;
    char *o = buf;
    if (v6)
        *o++ = '[';
    memcpy(o, addr, alen);
    o += alen;
    if (v6)
        *o++ = ']';
    *o++ = ':';
    o = put_u64(o, p->host_port);
    *o++ = '-';
    *o++ = '>';
    o = put_u64(o, p->vm_port);
    *o++ = '/';
    memcpy(o, proto, plen);
    o += plen;
    *o = '\0';
    return (size_t)(o - buf);
}

enum summary_child { SUMMARY_PORTS, SUMMARY_IPS, SUMMARY_LABELS };
#define SUMMARY_CHILDREN 3

/*
 * What a listing reads: the main rows, then each child table grouped by
 * owner uid. The active listing finds its VMs through the state index
 * (INDEXED BY, so that statistics can never talk the planner into a scan)
 * and reads only their child rows, by primary key.
 */
struct summary_sql {
    const char *main;
    const char *child[SUMMARY_CHILDREN];
};

#define ACTIVE_UIDS                                                                                \
    "(SELECT uid FROM vm INDEXED BY vm_state WHERE state IN " STORE_VM_ACTIVE_STATES ")"

static const struct summary_sql summary_all_sql = {
    .main = "SELECT " SUMMARY_COLS " FROM vm ORDER BY created, name",
    .child =
        {
            [SUMMARY_PORTS] = "SELECT uid, host_port, vm_port, protocol, bind_address FROM "
                              "vm_ports ORDER BY uid, ord",
            [SUMMARY_IPS] = "SELECT uid, ip FROM vm_ip_addresses ORDER BY uid, ord",
            [SUMMARY_LABELS] = "SELECT uid, key, value FROM vm_meta WHERE map = 'labels' "
                               "ORDER BY uid, map, ord",
        },
};

static const struct summary_sql summary_active_sql = {
    .main =
        "SELECT " SUMMARY_COLS " FROM vm INDEXED BY vm_state WHERE state IN " STORE_VM_ACTIVE_STATES
        " ORDER BY created, name",
    .child =
        {
            [SUMMARY_PORTS] = "SELECT uid, host_port, vm_port, protocol, bind_address FROM "
                              "vm_ports WHERE uid IN " ACTIVE_UIDS " ORDER BY uid, ord",
            [SUMMARY_IPS] = "SELECT uid, ip FROM vm_ip_addresses WHERE uid IN " ACTIVE_UIDS
                            " ORDER BY uid, ord",
            [SUMMARY_LABELS] = "SELECT uid, key, value FROM vm_meta WHERE map = 'labels' AND "
                               "uid IN " ACTIVE_UIDS " ORDER BY uid, map, ord",
        },
};

/*
 * The summaries by uid, for merging child rows: open addressing over a
 * power-of-two table. A uid that is an id (16 hex digits, as every stored
 * uid is) is its own 64-bit key, so a lookup touches one slot and no string;
 * any other uid is keyed by a hash and compared in full.
 */
struct summary_slot {
    uint64_t key;
    uint32_t item; /* item number + 1; 0: empty */
    bool exact;    /* key is the uid's value, not a hash */
};

struct summary_index {
    struct summary_slot *slots;
    size_t mask;
    struct store_vm_summary *items;
};

/* The key of uid; *ret_exact: whether the key alone identifies it. */
static uint64_t uid_key(const char *uid, bool *ret_exact) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < ID_LEN; i++) {
        char c = uid[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            break;
        v = v << 4 | d;
    }
    if (i == ID_LEN && uid[i] == '\0') {
        *ret_exact = true;
        return v;
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *uid; uid++)
        h = (h ^ (unsigned char)*uid) * 1099511628211ull;
    *ret_exact = false;
    return h;
}

static size_t key_slot(uint64_t key, size_t mask) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & mask;
}

/* Builds the index in the arena (freed with the summaries). */
static int summary_index_build(struct summary_index *idx, struct arena *a,
                               struct store_vm_summary *items, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    if (n > UINT32_MAX - 1 ||
        !(idx->slots = arena_alloc(a, cap * sizeof(*idx->slots), _Alignof(struct summary_slot))))
        return -ENOMEM;
    memset(idx->slots, 0, cap * sizeof(*idx->slots));
    idx->mask = cap - 1;
    idx->items = items;
    for (size_t i = 0; i < n; i++) {
        if (!items[i].uid)
            continue;
        bool exact;
        uint64_t key = uid_key(items[i].uid, &exact);
        size_t h = key_slot(key, idx->mask);
        while (idx->slots[h].item)
            h = (h + 1) & idx->mask;
        idx->slots[h] = (struct summary_slot){key, (uint32_t)(i + 1), exact};
    }
    return 0;
}

/* The summary of uid, whose key (uid_key) is key; NULL if none. */
static struct store_vm_summary *summary_index_find(const struct summary_index *idx, const char *uid,
                                                   uint64_t key, bool exact) {
    for (size_t h = key_slot(key, idx->mask); idx->slots[h].item; h = (h + 1) & idx->mask) {
        const struct summary_slot *sl = &idx->slots[h];
        if (sl->key != key || sl->exact != exact)
            continue;
        struct store_vm_summary *v = &idx->items[sl->item - 1];
        if (exact || strcmp(v->uid, uid) == 0)
            return v;
    }
    return NULL;
}

/* What one owner's child rows collect before they are stored in its summary. */
struct summary_group {
    struct strbuf text;         /* ports or IPs joined by ", " */
    struct store_label *labels; /* labels (strings already in the arena) */
    size_t n_labels;
};

static int summary_group_add(struct arena *a, struct summary_group *g, enum summary_child which,
                             sqlite3_stmt *st) {
    switch (which) {
    case SUMMARY_PORTS: {
        struct api_port p = {
            .host_port = store_column_u64(st, 1),
            .vm_port = store_column_u64(st, 2),
            .protocol = (char *)sqlite3_column_text(st, 3),
            .bind_address = (char *)sqlite3_column_text(st, 4),
        };
        char buf[PORT_TEXT_MAX];
        size_t len = port_format(&p, buf);
        if ((g->text.len && strbuf_add(&g->text, ", ", 2) < 0) ||
            strbuf_add(&g->text, buf, len) < 0)
            return -ENOMEM;
        return 0;
    }
    case SUMMARY_IPS: {
        const char *ip = (const char *)sqlite3_column_text(st, 1);
        if ((g->text.len && strbuf_add(&g->text, ", ", 2) < 0) ||
            strbuf_adds(&g->text, ip ? ip : "") < 0)
            return -ENOMEM;
        return 0;
    }
    case SUMMARY_LABELS: {
        if (array_grow(&g->labels, g->n_labels, sizeof(*g->labels)) < 0)
            return -ENOMEM;
        struct store_label *l = &g->labels[g->n_labels];
        if (summary_column(a, st, 1, NULL, &l->key) < 0 ||
            summary_column(a, st, 2, NULL, &l->value) < 0)
            return -ENOMEM;
        g->n_labels++;
        return 0;
    }
    }
    return -EINVAL;
}

/* Stores what g collected in v (if not NULL) and empties g. */
static int summary_group_flush(struct arena *a, struct summary_group *g, enum summary_child which,
                               struct store_vm_summary *v) {
    int r = 0;
    if (v && which != SUMMARY_LABELS && g->text.len) {
        const char *s = arena_strndup(a, g->text.buf, g->text.len);
        if (!s)
            r = -ENOMEM;
        else if (which == SUMMARY_PORTS)
            v->ports = s;
        else
            v->ips = s;
    }
    if (v && which == SUMMARY_LABELS && g->n_labels) {
        struct store_label *arr =
            arena_alloc(a, g->n_labels * sizeof(*arr), _Alignof(struct store_label));
        if (!arr) {
            r = -ENOMEM;
        } else {
            memcpy(arr, g->labels, g->n_labels * sizeof(*arr));
            v->labels = arr;
            v->n_labels = g->n_labels;
        }
    }
    strbuf_reset(&g->text);
    g->n_labels = 0;
    return r;
}

/* Reads one child table (rows grouped by owner uid) into the summaries idx points to. */
static int summary_load_child(store *s, const char *sql, struct arena *a,
                              const struct summary_index *idx, enum summary_child which,
                              struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r < 0)
        return r;
    struct summary_group g = {.text = STRBUF_INIT};
    struct store_vm_summary *cur = NULL;
    uint64_t cur_key = 0;
    bool cur_exact = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        if (!uid)
            continue;
        /* Rows come grouped by owner: look an owner up once per group. */
        bool exact;
        uint64_t key = uid_key(uid, &exact);
        bool same =
            cur && key == cur_key && exact == cur_exact && (exact || strcmp(cur->uid, uid) == 0);
        if (!same) {
            if (summary_group_flush(a, &g, which, cur) < 0) {
                r = -ENOMEM;
                break;
            }
            cur = summary_index_find(idx, uid, key, exact);
            cur_key = key;
            cur_exact = exact;
        }
        if (!cur)
            continue; /* added by another writer after the main query */
        if (summary_group_add(a, &g, which, st) < 0) {
            r = -ENOMEM;
            break;
        }
    }
    if (r == 0 && summary_group_flush(a, &g, which, cur) < 0)
        r = -ENOMEM;
    if (r == 0 && rc != SQLITE_DONE)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading vm summaries");
    else if (r < 0)
        r = error_oom(err);
    sqlite3_reset(st);
    strbuf_release(&g.text);
    free(g.labels);
    return r;
}

void store_vm_summaries_free(struct store_vm_summaries *l) {
    if (!l)
        return;
    free(l->items);
    arena_free(l->arena);
    free(l);
}

static int summary_load(store *s, const struct summary_sql *sql, struct store_vm_summaries *l,
                        struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, sql->main, &st, err);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (array_grow(&l->items, l->n, sizeof(*l->items)) < 0) {
            r = error_oom(err);
            break;
        }
        struct store_vm_summary *v = &l->items[l->n];
        memset(v, 0, sizeof(*v));
        const char *state = NULL;
        if (summary_read_main(l->arena, st, v, l->n ? &l->items[l->n - 1] : NULL, &state) < 0) {
            r = error_oom(err);
            break;
        }
        struct error why;
        error_init(&why);
        if (store_check_vm_key(v->uid, v->name, state, &why) < 0) {
            store_corrupt_warn(s, "vm", v->uid, &why);
            continue;
        }
        l->n++;
    }
    r = store_rows_end(s, st, rc, r, "listing vm summaries", err);
    if (r < 0 || l->n == 0)
        return r;

    struct summary_index idx;
    if (summary_index_build(&idx, l->arena, l->items, l->n) < 0)
        return error_oom(err);
    for (size_t c = 0; c < SUMMARY_CHILDREN && r == 0; c++)
        r = summary_load_child(s, sql->child[c], l->arena, &idx, (enum summary_child)c, err);
    return r;
}

static int summary_list(store *s, const struct summary_sql *sql, struct store_vm_summaries **ret,
                        struct error *err) {
    struct store_vm_summaries *l = xcalloc(1, sizeof(*l));
    if (!l)
        return error_oom(err);
    l->arena = arena_new();
    if (!l->arena) {
        store_vm_summaries_free(l);
        return error_oom(err);
    }
    /* One read transaction, so the main rows and their children agree. */
    bool own = sqlite3_get_autocommit(s->db);
    int r = own ? store_exec(s, "BEGIN", err) : 0;
    if (r == 0)
        r = summary_load(s, sql, l, err);
    if (own)
        store_rollback(s);
    if (r < 0) {
        store_vm_summaries_free(l);
        return r;
    }
    *ret = l;
    return 0;
}

int store_vm_summary_list(store *s, struct store_vm_summaries **ret, struct error *err) {
    return summary_list(s, &summary_all_sql, ret, err);
}

int store_vm_summary_list_active(store *s, struct store_vm_summaries **ret, struct error *err) {
    return summary_list(s, &summary_active_sql, ret, err);
}
