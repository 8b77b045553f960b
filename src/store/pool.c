/*
 * store pool: the pool row and the pool_device rows as the engine's pool
 * operations use them (the Pool object's export view of the same rows is in
 * objects.c).
 *
 * Device ids are allocated here: the lowest id in 0..2^24-1 that no row
 * has, inside the caller's BEGIN IMMEDIATE transaction that also inserts the
 * row, so two processes never get one id (the write lock serialises them and
 * the primary key would refuse a duplicate anyway). A row stays until its
 * device is gone from the pool ('removing' rows keep their id), so an id is
 * never reused while a device could still hold it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "store/store_priv.h"

static void bind_u64(sqlite3_stmt *st, int idx, uint64_t v) {
    sqlite3_bind_int64(st, idx, v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v);
}

/* ---- the pool row ------------------------------------------------------ */

void store_pool_release(struct store_pool *p) {
    if (!p)
        return;
    free(p->driver);
    free(p->name);
    free(p->metadata_path);
    free(p->data_path);
    memset(p, 0, sizeof(*p));
}

/*
 * The pool row as stored; -ENOENT when none. A size below 0 reads as an
 * impossible one (UINT64_MAX) that store_check_pool refuses.
 */
static int pool_row_get(store *s, struct store_pool *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s,
                       "SELECT driver, name, state, metadata_size, data_size, allocation_size, "
                       "metadata_path, data_path FROM pool WHERE id = 1",
                       &st, err);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return error_set(err, -ENOENT, "no pool is defined; create one with 'hearth pool init'");
    }
    if (rc != SQLITE_ROW) {
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading the pool");
        sqlite3_reset(st);
        return r;
    }
    struct store_pool p = {0};
    p.metadata_size = (uint64_t)sqlite3_column_int64(st, 3);
    p.data_size = (uint64_t)sqlite3_column_int64(st, 4);
    p.allocation_size = (uint64_t)sqlite3_column_int64(st, 5);
    if (store_column_text(st, 0, &p.driver) < 0 || store_column_text(st, 1, &p.name) < 0 ||
        store_column_text(st, 6, &p.metadata_path) < 0 ||
        store_column_text(st, 7, &p.data_path) < 0)
        r = error_oom(err);
    /* A state that is none of them reads as an impossible one, which store_check_pool refuses. */
    if (store_pool_state_parse((const char *)sqlite3_column_text(st, 2), &p.state) < 0)
        p.state = (enum store_pool_state) - 1;
    sqlite3_reset(st);
    if (r < 0) {
        store_pool_release(&p);
        return r;
    }
    *ret = p;
    return 0;
}

int store_pool_get(store *s, struct store_pool *ret, struct error *err) {
    int r = pool_row_get(s, ret, err);
    if (r < 0)
        return r;
    struct error why;
    error_init(&why);
    if (store_check_pool(ret, &why) < 0) {
        store_pool_release(ret);
        return store_corrupt_error(s, "pool", "1", &why, err);
    }
    return 0;
}

int store_pool_put(store *s, const struct store_pool *p, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(
        s,
        "INSERT INTO pool (id, metadata_size, data_size, allocation_size, "
        "metadata_path, data_path, driver, name, state) "
        "VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, coalesce(?8, 'active')) "
        "ON CONFLICT (id) DO UPDATE SET metadata_size = excluded.metadata_size, "
        "data_size = excluded.data_size, allocation_size = excluded.allocation_size, "
        "metadata_path = excluded.metadata_path, data_path = excluded.data_path, "
        "driver = excluded.driver, name = excluded.name, state = excluded.state",
        &own, &st, err);
    if (r < 0)
        return r;
    bind_u64(st, 1, p->metadata_size);
    bind_u64(st, 2, p->data_size);
    bind_u64(st, 3, p->allocation_size);
    store_bind_text(st, 4, p->metadata_path);
    store_bind_text(st, 5, p->data_path);
    store_bind_text(st, 6, p->driver);
    store_bind_text(st, 7, p->name);
    store_bind_text(st, 8, store_pool_state_name(p->state));
    r = store_step_done(s, st, "storing the pool", err);
    return store_tx_end(s, own, r, err);
}

int store_pool_delete(store *s, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, "SELECT count(*) FROM pool_device", &own, &st, err);
    if (r < 0)
        return r;
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (n < 0)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "counting pool devices");
    else if (n > 0)
        r = error_set(err, -EBUSY, "the pool still has %lld devices", (long long)n);
    if (r == 0)
        r = store_exec(s, "DELETE FROM pool", err);
    return store_tx_end(s, own, r, err);
}

/* ---- device rows ------------------------------------------------------- */

void store_pool_device_release(struct store_pool_device *d) {
    if (!d)
        return;
    free(d->type);
    free(d->owner_uid);
    free(d->owner_name);
    free(d->metadata_path);
    free(d->layer_key);
    memset(d, 0, sizeof(*d));
}

void store_pool_devices_free(struct store_pool_device *d, size_t n) {
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        store_pool_device_release(&d[i]);
    free(d);
}

int store_pool_device_allocate(store *s, uint32_t *ret_id, struct error *err) {
    if (sqlite3_get_autocommit(s->db))
        return error_set(err, -EINVAL, "device ids are allocated only inside a transaction");
    sqlite3_stmt *st;
    /* 0 if free, else the first id after a row whose successor has no row. */
    int r = store_stmt(s,
                       "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pool_device WHERE id = 0) "
                       "THEN 0 ELSE (SELECT min(d.id + 1) FROM pool_device d "
                       "WHERE d.id < 16777215 AND NOT EXISTS "
                       "(SELECT 1 FROM pool_device e WHERE e.id = d.id + 1)) END",
                       &st, err);
    if (r < 0)
        return r;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "allocating a device id");
        sqlite3_reset(st);
        return r;
    }
    bool none = sqlite3_column_type(st, 0) == SQLITE_NULL;
    int64_t id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (none || id < 0 || id > 16777215)
        return error_set(err, -ENOSPC, "every one of the pool's 2^24 device ids is in use");
    *ret_id = (uint32_t)id;
    return 0;
}

int store_pool_device_insert(store *s, const struct store_pool_device *d, struct error *err) {
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s,
                              "INSERT INTO pool_device (id, type, parent, size, state, owner_kind, "
                              "owner_uid, metadata_path, created, layer_key) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                              &own, &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, d->id);
    store_bind_text(st, 2, d->type);
    if (d->parent == STORE_DEVICE_PARENT_NONE)
        sqlite3_bind_null(st, 3);
    else
        sqlite3_bind_int64(st, 3, d->parent);
    bind_u64(st, 4, d->size);
    store_bind_text(st, 5, store_pool_state_name(d->state));
    store_bind_text(st, 6, d->owner_kind == API_KIND_COUNT ? NULL : api_kind_name(d->owner_kind));
    store_bind_text(st, 7, d->owner_uid);
    store_bind_text(st, 8, d->metadata_path);
    sqlite3_bind_int64(st, 9, d->created ? d->created : (int64_t)time(NULL));
    store_bind_text(st, 10, d->layer_key);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        int ext = sqlite3_extended_errcode(s->db);
        if (ext == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = error_set(err, -EEXIST, "pool device %u already has a row", d->id);
        else if (ext == SQLITE_CONSTRAINT_UNIQUE && d->layer_key)
            r = error_set(err, -EEXIST, "a layer '%s' under device %lld already exists",
                          d->layer_key, (long long)d->parent);
        else
            r = store_error(s, ext, err, "storing a pool device");
    }
    sqlite3_reset(st);
    return store_tx_end(s, own, r, err);
}

/* Runs a one-row UPDATE/DELETE keyed by ?1; -ENOENT when no row changed. */
static int device_write(store *s, sqlite3_stmt *st, uint32_t id, struct error *err,
                        const char *what) {
    int r = store_step_done(s, st, what, err);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        r = error_set(err, -ENOENT, "pool device %u has no row", id);
    return r;
}

int store_pool_device_set_state(store *s, uint32_t id, enum store_pool_state state,
                                struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "UPDATE pool_device SET state = ?2 WHERE id = ?1", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    store_bind_text(st, 2, store_pool_state_name(state));
    return device_write(s, st, id, err, "updating a pool device");
}

int store_pool_device_delete(store *s, uint32_t id, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "DELETE FROM pool_device WHERE id = ?1", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    return device_write(s, st, id, err, "deleting a pool device");
}

int store_pool_device_reparent(store *s, uint32_t id, int64_t new_parent, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "UPDATE pool_device SET parent = ?2 WHERE parent = ?1", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    if (new_parent == STORE_DEVICE_PARENT_NONE)
        sqlite3_bind_null(st, 2);
    else
        sqlite3_bind_int64(st, 2, new_parent);
    return store_step_done(s, st, "re-parenting pool devices", err);
}

#define DEVICE_COLUMNS                                                                             \
    "SELECT id, type, parent, size, state, owner_kind, owner_uid, "                                \
    "CASE owner_kind WHEN 'VM' THEN (SELECT name FROM vm WHERE uid = owner_uid) "                  \
    "WHEN 'Image' THEN (SELECT name FROM image WHERE uid = owner_uid) "                            \
    "WHEN 'Kernel' THEN (SELECT name FROM kernel WHERE uid = owner_uid) END, "                     \
    "metadata_path, created, layer_key FROM pool_device "

/*
 * Reads a row of DEVICE_COLUMNS into *d and checks it: 0, -ENOMEM, or
 * -EUCLEAN with why in err and *d released.
 */
static int device_read(sqlite3_stmt *st, struct store_pool_device *d, struct error *err) {
    memset(d, 0, sizeof(*d));
    int64_t id = sqlite3_column_int64(st, 0);
    d->id = (uint32_t)id;
    d->parent = sqlite3_column_type(st, 2) == SQLITE_NULL ? STORE_DEVICE_PARENT_NONE
                                                          : sqlite3_column_int64(st, 2);
    int64_t size = sqlite3_column_int64(st, 3);
    d->size = size <= 0 ? 0 : (uint64_t)size; /* 0 is refused below */
    const char *kind = (const char *)sqlite3_column_text(st, 5);
    if (!kind || api_kind_parse(kind, &d->owner_kind) < 0)
        d->owner_kind = API_KIND_COUNT;
    d->created = sqlite3_column_int64(st, 9);
    if (store_pool_state_parse((const char *)sqlite3_column_text(st, 4), &d->state) < 0)
        d->state = (enum store_pool_state) - 1; /* refused by store_check_device */
    if (store_column_text(st, 1, &d->type) < 0 || store_column_text(st, 6, &d->owner_uid) < 0 ||
        store_column_text(st, 7, &d->owner_name) < 0 ||
        store_column_text(st, 8, &d->metadata_path) < 0 ||
        store_column_text(st, 10, &d->layer_key) < 0) {
        store_pool_device_release(d);
        return error_oom(err);
    }
    int r = store_check_device(d, id, err);
    if (r < 0)
        store_pool_device_release(d);
    return r;
}

/* device_read for the readers of one row or of all: a corrupt row is an error naming it. */
static int device_read_one(store *s, sqlite3_stmt *st, struct store_pool_device *d,
                           struct error *err) {
    struct error why;
    error_init(&why);
    int r = device_read(st, d, &why);
    if (r == -EUCLEAN) {
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)sqlite3_column_int64(st, 0));
        return store_corrupt_error(s, "pool_device", key, &why, err);
    }
    return r < 0 ? error_oom(err) : 0;
}

int store_pool_device_get(store *s, uint32_t id, struct store_pool_device *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, DEVICE_COLUMNS "WHERE id = ?1", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r = device_read_one(s, st, ret, err);
    } else if (rc == SQLITE_DONE) {
        r = error_set(err, -ENOENT, "pool device %u does not exist", id);
    } else {
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading a pool device");
    }
    sqlite3_reset(st);
    return r;
}

int store_pool_device_find_layer(store *s, uint32_t parent, const char *key,
                                 struct store_pool_device *ret, struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, DEVICE_COLUMNS "WHERE parent = ?1 AND layer_key = ?2", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, parent);
    store_bind_text(st, 2, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = device_read_one(s, st, ret, err);
    else if (rc == SQLITE_DONE)
        r = error_set(err, -ENOENT, "no layer '%s' under device %u", key, parent);
    else
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading a pool device");
    sqlite3_reset(st);
    return r;
}

int store_pool_device_list(store *s, struct store_pool_device **ret, size_t *ret_n,
                           struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, DEVICE_COLUMNS "ORDER BY id", &st, err);
    if (r < 0)
        return r;
    struct store_pool_device *arr = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct store_pool_device *p = xrealloc(arr, ncap * sizeof(*arr));
            if (!p) {
                r = error_oom(err);
                break;
            }
            arr = p;
            cap = ncap;
        }
        r = device_read_one(s, st, &arr[n], err);
        if (r < 0)
            break;
        n++;
    }
    r = store_rows_end(s, st, rc, r, "reading pool devices", err);
    if (r < 0) {
        store_pool_devices_free(arr, n);
        return r;
    }
    *ret = arr;
    *ret_n = n;
    return 0;
}

int store_pool_device_children(store *s, uint32_t id, uint32_t *ret_ids, size_t max, size_t *ret_n,
                               struct error *err) {
    sqlite3_stmt *st;
    int r = store_stmt(s, "SELECT id FROM pool_device WHERE parent = ?1 ORDER BY id", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < max && ret_ids)
            ret_ids[n] = (uint32_t)sqlite3_column_int64(st, 0);
        n++;
    }
    r = store_rows_end(s, st, rc, r, "reading pool devices", err);
    if (r == 0)
        *ret_n = n;
    return r;
}

int store_pool_devices_to_api(const struct store_pool_device *rows, size_t n,
                              struct api_pool *doc) {
    size_t len = n ? rows[n - 1].id + 1 : 0;
    struct api_pool_device *arr = NULL;
    if (len) {
        arr = xcalloc(len, sizeof(*arr));
        if (!arr)
            return -ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        struct api_pool_device *d = &arr[rows[k].id];
        d->present = true;
        d->size = rows[k].size;
        d->parent = rows[k].parent;
        d->type = xstrdup(rows[k].type);
        d->metadata_path = xstrdup(rows[k].metadata_path);
        if (!d->type || (rows[k].metadata_path && !d->metadata_path)) {
            for (size_t i = 0; i < len; i++) {
                free(arr[i].type);
                free(arr[i].metadata_path);
            }
            free(arr);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < doc->n_devices; i++) {
        free(doc->devices[i].type);
        free(doc->devices[i].metadata_path);
    }
    free(doc->devices);
    doc->devices = arr;
    doc->n_devices = len;
    return 0;
}

int store_pool_object_get(store *s, struct api_object **ret, struct error *err) {
    struct store_pool sp;
    int r = store_pool_get(s, &sp, err);
    if (r < 0)
        return r;
    _cleanup_object_ struct api_object *obj = api_object_new(API_KIND_POOL);
    if (!obj) {
        store_pool_release(&sp);
        return error_oom(err);
    }
    struct api_pool *p = &obj->u.pool;
    p->metadata_size = sp.metadata_size;
    p->data_size = sp.data_size;
    p->allocation_size = sp.allocation_size;
    p->metadata_path = steal_ptr(&sp.metadata_path);
    p->data_path = steal_ptr(&sp.data_path);
    store_pool_release(&sp);

    struct store_pool_device *rows = NULL;
    size_t n = 0;
    r = store_pool_device_list(s, &rows, &n, err);
    if (r < 0)
        return r;
    r = store_pool_devices_to_api(rows, n, p);
    store_pool_devices_free(rows, n);
    if (r < 0)
        return error_oom(err);
    *ret = steal_ptr(&obj);
    return 0;
}

int store_pool_scan(store *s, store_corrupt_fn fn, void *ud, struct error *err) {
    struct store_pool p;
    int r = pool_row_get(s, &p, err);
    if (r < 0 && r != -ENOENT)
        return r;
    error_init(err);
    struct error why;
    error_init(&why);
    if (r == 0 && store_check_pool(&p, &why) < 0)
        fn(ud, "pool", "1", &why);
    if (r == 0)
        store_pool_release(&p);
    sqlite3_stmt *st;
    r = store_stmt(s, DEVICE_COLUMNS "ORDER BY id", &st, err);
    if (r < 0)
        return r;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_pool_device d;
        error_init(&why);
        r = device_read(st, &d, &why);
        if (r == 0) {
            store_pool_device_release(&d);
        } else if (r == -EUCLEAN) {
            char key[32];
            snprintf(key, sizeof(key), "%lld", (long long)sqlite3_column_int64(st, 0));
            fn(ud, "pool_device", key, &why);
        } else {
            break;
        }
        r = 0;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading pool devices");
    else if (r < 0)
        r = error_oom(err);
    sqlite3_reset(st);
    return r;
}
