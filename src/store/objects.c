/*
 * store objects: VM, Image and Kernel rows with their child rows, and the
 * Pool singleton with its device table.
 *
 * put upserts the main row by uid (never REPLACE, which would silently delete
 * another object holding the name) and rewrites the child rows; list reads
 * the main rows in one query and each child table in one more, merging the
 * children in memory by uid, so listing costs a fixed number of queries
 * however many objects there are.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "store/store_priv.h"

/* ---- small helpers ----------------------------------------------------- */

static void bind_created(sqlite3_stmt *st, int idx, int64_t t) {
    if (t == API_TIME_NONE)
        sqlite3_bind_null(st, idx);
    else
        sqlite3_bind_int64(st, idx, t);
}

static void bind_u64(sqlite3_stmt *st, int idx, uint64_t v) {
    sqlite3_bind_int64(st, idx, (sqlite3_int64)v);
}

/* ---- columns of the main rows ------------------------------------------ */

#define IMAGE_COLS "uid, name, created, claim_type, claim_ref, source_id, source_size"
#define KERNEL_COLS "uid, name, created, claim_type, claim_ref, source_id, source_size, version"
#define VM_COLS                                                                                    \
    "uid, name, created, has_image_claim, image_type, image_ref, has_kernel_claim, kernel_type, "  \
    "kernel_ref, cmdline, cpus, memory, disk_size, network_mode, has_ssh, ssh_public_key, state, " \
    "image_id, image_size, image_internal_uid, kernel_id, kernel_size, kernel_internal_uid"

static const char image_put_sql[] =
    "INSERT INTO image (" IMAGE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (uid) DO UPDATE SET name = excluded.name, created = excluded.created, "
    "claim_type = excluded.claim_type, claim_ref = excluded.claim_ref, "
    "source_id = excluded.source_id, source_size = excluded.source_size";
static const char kernel_put_sql[] =
    "INSERT INTO kernel (" KERNEL_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (uid) DO UPDATE SET name = excluded.name, created = excluded.created, "
    "claim_type = excluded.claim_type, claim_ref = excluded.claim_ref, "
    "source_id = excluded.source_id, source_size = excluded.source_size, "
    "version = excluded.version";
static const char vm_put_sql[] =
    "INSERT INTO vm (" VM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) "
    "ON CONFLICT (uid) DO UPDATE SET name = excluded.name, created = excluded.created, "
    "has_image_claim = excluded.has_image_claim, image_type = excluded.image_type, "
    "image_ref = excluded.image_ref, has_kernel_claim = excluded.has_kernel_claim, "
    "kernel_type = excluded.kernel_type, kernel_ref = excluded.kernel_ref, "
    "cmdline = excluded.cmdline, cpus = excluded.cpus, memory = excluded.memory, "
    "disk_size = excluded.disk_size, network_mode = excluded.network_mode, "
    "has_ssh = excluded.has_ssh, ssh_public_key = excluded.ssh_public_key, "
    "state = excluded.state, image_id = excluded.image_id, image_size = excluded.image_size, "
    "image_internal_uid = excluded.image_internal_uid, kernel_id = excluded.kernel_id, "
    "kernel_size = excluded.kernel_size, kernel_internal_uid = excluded.kernel_internal_uid";

static void bind_claim(sqlite3_stmt *st, int idx, const struct api_oci_claim *c) {
    sqlite3_bind_int(st, idx, c != NULL);
    store_bind_text(st, idx + 1, c ? c->type : NULL);
    store_bind_text(st, idx + 2, c ? c->ref : NULL);
}

static void bind_main(sqlite3_stmt *st, const struct api_object *obj) {
    store_bind_text(st, 1, obj->meta.uid);
    store_bind_text(st, 2, obj->meta.name);
    bind_created(st, 3, obj->meta.created);
    switch (obj->kind) {
    case API_KIND_IMAGE: {
        const struct api_image *im = &obj->u.image;
        store_bind_text(st, 4, im->claim.type);
        store_bind_text(st, 5, im->claim.ref);
        store_bind_text(st, 6, im->source.id);
        bind_u64(st, 7, im->source.size);
        break;
    }
    case API_KIND_KERNEL: {
        const struct api_kernel *k = &obj->u.kernel;
        store_bind_text(st, 4, k->claim.type);
        store_bind_text(st, 5, k->claim.ref);
        store_bind_text(st, 6, k->source.id);
        bind_u64(st, 7, k->source.size);
        store_bind_text(st, 8, k->version);
        break;
    }
    case API_KIND_VM: {
        const struct api_vm *v = &obj->u.vm;
        bind_claim(st, 4, v->image_claim);
        bind_claim(st, 7, v->kernel_claim);
        store_bind_text(st, 10, v->cmdline);
        bind_u64(st, 11, v->cpus);
        bind_u64(st, 12, v->memory);
        bind_u64(st, 13, v->disk_size);
        store_bind_text(st, 14, v->network_mode);
        sqlite3_bind_int(st, 15, v->has_ssh);
        store_bind_text(st, 16, v->ssh_public_key);
        store_bind_text(st, 17, api_vm_state_name(v->state));
        store_bind_text(st, 18, v->status_image.source.id);
        bind_u64(st, 19, v->status_image.source.size);
        store_bind_text(st, 20, v->status_image.internal_uid);
        store_bind_text(st, 21, v->status_kernel.source.id);
        bind_u64(st, 22, v->status_kernel.source.size);
        store_bind_text(st, 23, v->status_kernel.internal_uid);
        break;
    }
    default:
        break;
    }
}

static int read_claim(sqlite3_stmt *st, int col, struct api_oci_claim *c) {
    if (store_column_text(st, col, &c->type) < 0 || store_column_text(st, col + 1, &c->ref) < 0)
        return -ENOMEM;
    return 0;
}

static int read_opt_claim(sqlite3_stmt *st, int col, struct api_oci_claim **ret) {
    if (!sqlite3_column_int(st, col))
        return 0;
    struct api_oci_claim *c = xcalloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    *ret = c; /* owned by the object from here on */
    return read_claim(st, col + 1, c);
}

/* Fills obj (new, of the statement's kind) from a row of IMAGE/KERNEL/VM_COLS. */
static int read_main(sqlite3_stmt *st, struct api_object *obj) {
    if (store_column_text(st, 0, &obj->meta.uid) < 0 ||
        store_column_text(st, 1, &obj->meta.name) < 0)
        return -ENOMEM;
    obj->meta.created = store_column_time(st, 2);
    switch (obj->kind) {
    case API_KIND_IMAGE: {
        struct api_image *im = &obj->u.image;
        if (read_claim(st, 3, &im->claim) < 0 || store_column_text(st, 5, &im->source.id) < 0)
            return -ENOMEM;
        im->source.size = store_column_u64(st, 6);
        return 0;
    }
    case API_KIND_KERNEL: {
        struct api_kernel *k = &obj->u.kernel;
        if (read_claim(st, 3, &k->claim) < 0 || store_column_text(st, 5, &k->source.id) < 0 ||
            store_column_text(st, 7, &k->version) < 0)
            return -ENOMEM;
        k->source.size = store_column_u64(st, 6);
        return 0;
    }
    case API_KIND_VM: {
        struct api_vm *v = &obj->u.vm;
        if (read_opt_claim(st, 3, &v->image_claim) < 0 ||
            read_opt_claim(st, 6, &v->kernel_claim) < 0 ||
            store_column_text(st, 9, &v->cmdline) < 0 ||
            store_column_text(st, 13, &v->network_mode) < 0 ||
            store_column_text(st, 15, &v->ssh_public_key) < 0 ||
            store_column_text(st, 17, &v->status_image.source.id) < 0 ||
            store_column_text(st, 19, &v->status_image.internal_uid) < 0 ||
            store_column_text(st, 20, &v->status_kernel.source.id) < 0 ||
            store_column_text(st, 22, &v->status_kernel.internal_uid) < 0)
            return -ENOMEM;
        /* A state that is none of them stays unset, which the row's check refuses. */
        const char *state = (const char *)sqlite3_column_text(st, 16);
        if (!state || api_vm_state_parse(state, &v->state) < 0)
            v->state = API_VM_STATE_NONE;
        v->cpus = store_column_u64(st, 10);
        v->memory = store_column_u64(st, 11);
        v->disk_size = store_column_u64(st, 12);
        v->has_ssh = sqlite3_column_int(st, 14) != 0;
        v->status_image.source.size = store_column_u64(st, 18);
        v->status_kernel.source.size = store_column_u64(st, 21);
        return 0;
    }
    default:
        return -EINVAL;
    }
}

/* ---- child tables ------------------------------------------------------ */

/*
 * Each child table: how to read its rows for one owner and for all owners
 * (ordered by owner), how to add a row to its object, how to delete an
 * owner's rows. Column 0 of every read is the owner's uid.
 */
struct child_table {
    const char *one;
    const char *all;
    const char *del;
    int (*apply)(struct api_object *obj, sqlite3_stmt *st);
};

static int apply_meta(struct api_object *obj, sqlite3_stmt *st) {
    const char *map = (const char *)sqlite3_column_text(st, 1);
    bool labels = map && strcmp(map, "labels") == 0;
    struct api_kv **arr = labels ? &obj->meta.labels : &obj->meta.annotations;
    size_t *n = labels ? &obj->meta.n_labels : &obj->meta.n_annotations;
    if (array_grow(arr, *n, sizeof(**arr)) < 0)
        return -ENOMEM;
    struct api_kv *kv = &(*arr)[*n];
    memset(kv, 0, sizeof(*kv));
    (*n)++;
    if (store_column_text(st, 2, &kv->key) < 0 || store_column_text(st, 3, &kv->value) < 0)
        return -ENOMEM;
    return 0;
}

static struct api_oci_source *digest_source(struct api_object *obj, const char *source) {
    switch (obj->kind) {
    case API_KIND_IMAGE:
        return &obj->u.image.source;
    case API_KIND_KERNEL:
        return &obj->u.kernel.source;
    case API_KIND_VM:
        if (source && strcmp(source, "kernel") == 0)
            return &obj->u.vm.status_kernel.source;
        return &obj->u.vm.status_image.source;
    default:
        return NULL;
    }
}

static int apply_digest(struct api_object *obj, sqlite3_stmt *st) {
    struct api_oci_source *src = digest_source(obj, (const char *)sqlite3_column_text(st, 1));
    if (!src)
        return -EINVAL;
    if (array_grow(&src->repo_digests, src->n_repo_digests, sizeof(char *)) < 0)
        return -ENOMEM;
    char **d = &src->repo_digests[src->n_repo_digests];
    *d = NULL;
    src->n_repo_digests++;
    return store_column_text(st, 2, d);
}

static int apply_port(struct api_object *obj, sqlite3_stmt *st) {
    struct api_vm *v = &obj->u.vm;
    if (array_grow(&v->ports, v->n_ports, sizeof(*v->ports)) < 0)
        return -ENOMEM;
    struct api_port *p = &v->ports[v->n_ports];
    memset(p, 0, sizeof(*p));
    v->n_ports++;
    p->host_port = store_column_u64(st, 1);
    p->vm_port = store_column_u64(st, 2);
    if (store_column_text(st, 3, &p->protocol) < 0 ||
        store_column_text(st, 4, &p->bind_address) < 0)
        return -ENOMEM;
    return 0;
}

static int apply_copy_file(struct api_object *obj, sqlite3_stmt *st) {
    struct api_vm *v = &obj->u.vm;
    if (array_grow(&v->copy_files, v->n_copy_files, sizeof(*v->copy_files)) < 0)
        return -ENOMEM;
    struct api_file_mapping *f = &v->copy_files[v->n_copy_files];
    memset(f, 0, sizeof(*f));
    v->n_copy_files++;
    if (store_column_text(st, 1, &f->host_path) < 0 || store_column_text(st, 2, &f->vm_path) < 0)
        return -ENOMEM;
    return 0;
}

static int apply_ip(struct api_object *obj, sqlite3_stmt *st) {
    struct api_vm *v = &obj->u.vm;
    if (array_grow(&v->ip_addresses, v->n_ip_addresses, sizeof(char *)) < 0)
        return -ENOMEM;
    char **ip = &v->ip_addresses[v->n_ip_addresses];
    *ip = NULL;
    v->n_ip_addresses++;
    return store_column_text(st, 1, ip);
}

#define CHILD(table, cols, order, fn)                                                              \
    {                                                                                              \
        "SELECT uid, " cols " FROM " table " WHERE uid = ?1 ORDER BY " order,                      \
            "SELECT uid, " cols " FROM " table " ORDER BY uid, " order,                            \
            "DELETE FROM " table " WHERE uid = ?1", fn                                             \
    }

static const struct child_table vm_children[] = {
    CHILD("vm_meta", "map, key, value", "map, ord", apply_meta),
    CHILD("vm_repo_digests", "source, digest", "source, ord", apply_digest),
    CHILD("vm_ports", "host_port, vm_port, protocol, bind_address", "ord", apply_port),
    CHILD("vm_copy_files", "host_path, vm_path", "ord", apply_copy_file),
    CHILD("vm_ip_addresses", "ip", "ord", apply_ip),
};
static const struct child_table image_children[] = {
    CHILD("image_meta", "map, key, value", "map, ord", apply_meta),
    CHILD("image_repo_digests", "source, digest", "source, ord", apply_digest),
};
static const struct child_table kernel_children[] = {
    CHILD("kernel_meta", "map, key, value", "map, ord", apply_meta),
    CHILD("kernel_repo_digests", "source, digest", "source, ord", apply_digest),
};

static const struct child_table *children_of(enum api_kind kind, size_t *ret_n) {
    switch (kind) {
    case API_KIND_VM:
        *ret_n = ARRAY_SIZE(vm_children);
        return vm_children;
    case API_KIND_IMAGE:
        *ret_n = ARRAY_SIZE(image_children);
        return image_children;
    case API_KIND_KERNEL:
        *ret_n = ARRAY_SIZE(kernel_children);
        return kernel_children;
    default:
        *ret_n = 0;
        return NULL;
    }
}

/* ---- writing child rows ------------------------------------------------ */

static int put_meta(store *s, const char *sql, const char *uid, const char *map,
                    const struct api_kv *kv, size_t n, const char *name, struct error *err) {
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        int r = store_stmt(s, sql, &st, err);
        if (r < 0)
            return r;
        store_bind_text(st, 1, uid);
        store_bind_text(st, 2, map);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        store_bind_text(st, 4, kv[i].key);
        store_bind_text(st, 5, kv[i].value);
        r = store_step_done(s, st, "storing metadata", err);
        if (r == -EEXIST)
            return error_set(err, -EINVAL, "'%s': metadata.%s has the key '%s' twice", name, map,
                             kv[i].key ? kv[i].key : "");
        if (r < 0)
            return r;
    }
    return 0;
}

static int put_digests(store *s, const char *sql, const char *uid, const char *source,
                       const struct api_oci_source *src, struct error *err) {
    for (size_t i = 0; i < src->n_repo_digests; i++) {
        sqlite3_stmt *st;
        int r = store_stmt(s, sql, &st, err);
        if (r < 0)
            return r;
        store_bind_text(st, 1, uid);
        store_bind_text(st, 2, source);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        store_bind_text(st, 4, src->repo_digests[i]);
        r = store_step_done(s, st, "storing repo digests", err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int put_vm_children(store *s, const struct api_object *obj, struct error *err) {
    const struct api_vm *v = &obj->u.vm;
    const char *uid = obj->meta.uid;
    int r = put_digests(
        s, "INSERT INTO vm_repo_digests (uid, source, ord, digest) VALUES (?1, ?2, ?3, ?4)", uid,
        "image", &v->status_image.source, err);
    if (r == 0)
        r = put_digests(
            s, "INSERT INTO vm_repo_digests (uid, source, ord, digest) VALUES (?1, ?2, ?3, ?4)",
            uid, "kernel", &v->status_kernel.source, err);
    for (size_t i = 0; r == 0 && i < v->n_ports; i++) {
        sqlite3_stmt *st;
        r = store_stmt(s,
                       "INSERT INTO vm_ports (uid, ord, host_port, vm_port, protocol, "
                       "bind_address) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       &st, err);
        if (r < 0)
            break;
        store_bind_text(st, 1, uid);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bind_u64(st, 3, v->ports[i].host_port);
        bind_u64(st, 4, v->ports[i].vm_port);
        store_bind_text(st, 5, v->ports[i].protocol);
        store_bind_text(st, 6, v->ports[i].bind_address);
        r = store_step_done(s, st, "storing ports", err);
    }
    for (size_t i = 0; r == 0 && i < v->n_copy_files; i++) {
        sqlite3_stmt *st;
        r = store_stmt(s,
                       "INSERT INTO vm_copy_files (uid, ord, host_path, vm_path) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       &st, err);
        if (r < 0)
            break;
        store_bind_text(st, 1, uid);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        store_bind_text(st, 3, v->copy_files[i].host_path);
        store_bind_text(st, 4, v->copy_files[i].vm_path);
        r = store_step_done(s, st, "storing copy files", err);
    }
    for (size_t i = 0; r == 0 && i < v->n_ip_addresses; i++) {
        sqlite3_stmt *st;
        r = store_stmt(s, "INSERT INTO vm_ip_addresses (uid, ord, ip) VALUES (?1, ?2, ?3)", &st,
                       err);
        if (r < 0)
            break;
        store_bind_text(st, 1, uid);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        store_bind_text(st, 3, v->ip_addresses[i]);
        r = store_step_done(s, st, "storing ip addresses", err);
    }
    return r;
}

static int put_children(store *s, const struct api_object *obj, struct error *err) {
    size_t n;
    const struct child_table *ct = children_of(obj->kind, &n);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        int r = store_stmt(s, ct[i].del, &st, err);
        if (r < 0)
            return r;
        store_bind_text(st, 1, obj->meta.uid);
        r = store_step_done(s, st, "removing old child rows", err);
        if (r < 0)
            return r;
    }
    const char *uid = obj->meta.uid, *name = obj->meta.name;
    const char *meta_sql, *digest_sql;
    switch (obj->kind) {
    case API_KIND_VM:
        meta_sql = "INSERT INTO vm_meta (uid, map, ord, key, value) VALUES (?1, ?2, ?3, ?4, ?5)";
        digest_sql = NULL;
        break;
    case API_KIND_IMAGE:
        meta_sql = "INSERT INTO image_meta (uid, map, ord, key, value) VALUES (?1, ?2, ?3, ?4, ?5)";
        digest_sql =
            "INSERT INTO image_repo_digests (uid, source, ord, digest) VALUES (?1, ?2, ?3, ?4)";
        break;
    case API_KIND_KERNEL:
        meta_sql =
            "INSERT INTO kernel_meta (uid, map, ord, key, value) VALUES (?1, ?2, ?3, ?4, ?5)";
        digest_sql =
            "INSERT INTO kernel_repo_digests (uid, source, ord, digest) VALUES (?1, ?2, ?3, ?4)";
        break;
    default:
        return 0;
    }
    int r = put_meta(s, meta_sql, uid, "labels", obj->meta.labels, obj->meta.n_labels, name, err);
    if (r == 0)
        r = put_meta(s, meta_sql, uid, "annotations", obj->meta.annotations,
                     obj->meta.n_annotations, name, err);
    if (r == 0 && digest_sql)
        r = put_digests(s, digest_sql, uid, "source",
                        obj->kind == API_KIND_IMAGE ? &obj->u.image.source : &obj->u.kernel.source,
                        err);
    if (r == 0 && obj->kind == API_KIND_VM)
        r = put_vm_children(s, obj, err);
    return r;
}

/* ---- pool -------------------------------------------------------------- */

static int pool_put(store *s, const struct api_pool *p, struct error *err) {
    if (p->n_devices > (1u << 24))
        return error_set(err, -EINVAL, "pool: %zu devices exceed the 24-bit thin id space",
                         p->n_devices);
    sqlite3_stmt *st;
    int r =
        store_stmt(s,
                   "INSERT INTO pool (id, metadata_size, data_size, allocation_size, "
                   "metadata_path, data_path) VALUES (1, ?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT (id) DO UPDATE SET metadata_size = excluded.metadata_size, "
                   "data_size = excluded.data_size, allocation_size = excluded.allocation_size, "
                   "metadata_path = excluded.metadata_path, data_path = excluded.data_path",
                   &st, err);
    if (r < 0)
        return r;
    bind_u64(st, 1, p->metadata_size);
    bind_u64(st, 2, p->data_size);
    bind_u64(st, 3, p->allocation_size);
    store_bind_text(st, 4, p->metadata_path);
    store_bind_text(st, 5, p->data_path);
    r = store_step_done(s, st, "storing the pool", err);
    if (r < 0)
        return r;
    /* Rows beyond the array go; holes go; present devices are upserted, keeping state and owner. */
    r = store_stmt(s, "DELETE FROM pool_device WHERE id >= ?1", &st, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)p->n_devices);
    r = store_step_done(s, st, "storing pool devices", err);
    for (size_t i = 0; r == 0 && i < p->n_devices; i++) {
        const struct api_pool_device *d = &p->devices[i];
        if (!d->present) {
            r = store_stmt(s, "DELETE FROM pool_device WHERE id = ?1", &st, err);
            if (r < 0)
                return r;
            sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
            r = store_step_done(s, st, "storing pool devices", err);
            continue;
        }
        r = store_stmt(s,
                       "INSERT INTO pool_device (id, type, parent, size, metadata_path, created) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, unixepoch()) "
                       "ON CONFLICT (id) DO UPDATE SET type = excluded.type, "
                       "parent = excluded.parent, size = excluded.size, "
                       "metadata_path = excluded.metadata_path",
                       &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        store_bind_text(st, 2, d->type);
        if (d->parent == API_POOL_PARENT_NONE)
            sqlite3_bind_null(st, 3);
        else
            sqlite3_bind_int64(st, 3, d->parent);
        bind_u64(st, 4, d->size);
        store_bind_text(st, 5, d->metadata_path);
        r = store_step_done(s, st, "storing pool devices", err);
        if (r < 0)
            error_prefix(err, "pool device %zu", i);
    }
    return r;
}

/* ---- put, get, find, delete -------------------------------------------- */

int store_object_put(store *s, const struct api_object *obj, struct error *err) {
    const char *word = api_kind_word(obj->kind);
    const char *sql = NULL;
    if (obj->kind != API_KIND_POOL) {
        if (!obj->meta.uid || !obj->meta.name)
            return error_set(err, -EINVAL, "%s '%s': uid and name must be set before storing", word,
                             obj->meta.name ? obj->meta.name : "");
        sql = obj->kind == API_KIND_VM      ? vm_put_sql
              : obj->kind == API_KIND_IMAGE ? image_put_sql
                                            : kernel_put_sql;
    }
    if (obj->kind == API_KIND_VM && obj->u.vm.state != API_VM_STATE_NONE &&
        !api_vm_state_name(obj->u.vm.state))
        return error_set(err, -EINVAL, "vm '%s': status.state: %d is not a state (%s)",
                         obj->meta.name, (int)obj->u.vm.state, API_VM_STATES_LIST);
    bool own;
    int r = store_tx_start(s, &own, err);
    if (r < 0)
        return r;
    if (obj->kind == API_KIND_POOL) {
        r = pool_put(s, &obj->u.pool, err);
        return store_tx_end(s, own, r, err);
    }
    sqlite3_stmt *st;
    r = store_stmt(s, sql, &st, err);
    if (r == 0) {
        bind_main(st, obj);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            int ext = sqlite3_extended_errcode(s->db);
            if (ext == SQLITE_CONSTRAINT_UNIQUE)
                r = error_set(err, -EEXIST, "%s '%s' already exists", word, obj->meta.name);
            else
                r = store_error(s, ext, err, "storing");
            if (ext != SQLITE_CONSTRAINT_UNIQUE)
                error_prefix(err, "%s '%s'", word, obj->meta.name);
        }
        sqlite3_reset(st);
    }
    if (r == 0)
        r = put_children(s, obj, err);
    return store_tx_end(s, own, r, err);
}

static const char *main_one_sql(enum api_kind kind) {
    switch (kind) {
    case API_KIND_VM:
        return "SELECT " VM_COLS " FROM vm WHERE uid = ?1";
    case API_KIND_IMAGE:
        return "SELECT " IMAGE_COLS " FROM image WHERE uid = ?1";
    case API_KIND_KERNEL:
        return "SELECT " KERNEL_COLS " FROM kernel WHERE uid = ?1";
    default:
        return NULL;
    }
}

static const char *main_all_sql(enum api_kind kind) {
    switch (kind) {
    case API_KIND_VM:
        return "SELECT " VM_COLS " FROM vm ORDER BY created, name";
    case API_KIND_IMAGE:
        return "SELECT " IMAGE_COLS " FROM image ORDER BY created, name";
    case API_KIND_KERNEL:
        return "SELECT " KERNEL_COLS " FROM kernel ORDER BY created, name";
    default:
        return NULL;
    }
}

/* Index entry for merging child rows into listed objects. */
struct uid_index {
    const char *uid;
    struct api_object *obj;
};

static int uid_index_cmp(const void *a, const void *b) {
    return strcmp(((const struct uid_index *)a)->uid, ((const struct uid_index *)b)->uid);
}

/*
 * Reads the child rows of one object (uid set, idx NULL) or of all listed
 * objects (uid NULL, idx sorted by uid) into their objects.
 */
static int load_children(store *s, enum api_kind kind, const char *uid, struct api_object *one,
                         const struct uid_index *idx, size_t n_idx, struct error *err) {
    size_t n;
    const struct child_table *ct = children_of(kind, &n);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        int r = store_stmt(s, uid ? ct[i].one : ct[i].all, &st, err);
        if (r < 0)
            return r;
        if (uid)
            store_bind_text(st, 1, uid);
        int rc;
        struct api_object *cur = NULL;
        const char *cur_uid = NULL;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct api_object *obj = one;
            if (!uid) {
                const char *row_uid = (const char *)sqlite3_column_text(st, 0);
                if (!row_uid)
                    continue;
                /* Rows come grouped by owner: look an owner up once per group. */
                if (!cur_uid || strcmp(cur_uid, row_uid) != 0) {
                    struct uid_index key = {row_uid, NULL};
                    const struct uid_index *hit =
                        bsearch(&key, idx, n_idx, sizeof(*idx), uid_index_cmp);
                    cur = hit ? hit->obj : NULL;
                    cur_uid = cur ? cur->meta.uid : NULL;
                }
                obj = cur;
                if (!obj)
                    continue; /* added by another writer after the main query */
            }
            if (ct[i].apply(obj, st) < 0) {
                sqlite3_reset(st);
                return error_oom(err);
            }
        }
        if (rc != SQLITE_DONE) {
            r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading child rows");
            sqlite3_reset(st);
            return r;
        }
        sqlite3_reset(st);
    }
    return 0;
}

int store_object_get(store *s, enum api_kind kind, const char *uid, struct api_object **ret,
                     struct error *err) {
    if (kind == API_KIND_POOL)
        return store_pool_object_get(s, ret, err);
    const char *sql = main_one_sql(kind);
    if (!sql || !uid)
        return error_set(err, -EINVAL, "%s: no uid given", api_kind_word(kind));
    _cleanup_object_ struct api_object *obj = api_object_new(kind);
    if (!obj)
        return error_oom(err);
    /* One read transaction, so the main row and its children agree. */
    bool own = sqlite3_get_autocommit(s->db);
    if (own) {
        int r = store_exec(s, "BEGIN", err);
        if (r < 0)
            return r;
    }
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r == 0) {
        store_bind_text(st, 1, uid);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            r = read_main(st, obj) < 0 ? error_oom(err) : 0;
        else if (rc == SQLITE_DONE)
            r = error_set(err, -ENOENT, "%s '%s' not found", api_kind_word(kind), uid);
        else
            r = store_error(s, sqlite3_extended_errcode(s->db), err, "reading");
        sqlite3_reset(st);
    }
    if (r == 0)
        r = load_children(s, kind, uid, obj, NULL, 0, err);
    if (own)
        store_rollback(s);
    if (r < 0)
        return r;
    struct error why;
    error_init(&why);
    if (store_check_object(obj, &why) < 0)
        return store_corrupt_error(s, api_kind_word(kind), obj->meta.uid, &why, err);
    *ret = steal_ptr(&obj);
    return 0;
}

int store_object_find_name(store *s, enum api_kind kind, const char *name, char *ret_uid,
                           struct error *err) {
    const char *sql;
    switch (kind) {
    case API_KIND_VM:
        sql = "SELECT uid FROM vm WHERE name = ?1";
        break;
    case API_KIND_IMAGE:
        sql = "SELECT uid FROM image WHERE name = ?1";
        break;
    case API_KIND_KERNEL:
        sql = "SELECT uid FROM kernel WHERE name = ?1";
        break;
    default:
        return error_set(err, -EINVAL, "%s objects have no names", api_kind_word(kind));
    }
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        struct error why;
        error_init(&why);
        if (store_check_uid(uid, &why) < 0) {
            r = store_corrupt_error(s, api_kind_word(kind), uid, &why, err);
        } else {
            memcpy(ret_uid, uid, ID_LEN + 1);
        }
    } else if (rc == SQLITE_DONE) {
        r = error_set(err, -ENOENT, "%s '%s' not found", api_kind_word(kind), name);
    } else {
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "finding a name");
    }
    sqlite3_reset(st);
    return r;
}

int store_object_delete(store *s, enum api_kind kind, const char *uid, struct error *err) {
    const char *sql;
    switch (kind) {
    case API_KIND_VM:
        sql = "DELETE FROM vm WHERE uid = ?1";
        break;
    case API_KIND_IMAGE:
        sql = "DELETE FROM image WHERE uid = ?1";
        break;
    case API_KIND_KERNEL:
        sql = "DELETE FROM kernel WHERE uid = ?1";
        break;
    case API_KIND_POOL: {
        bool own;
        int r = store_tx_start(s, &own, err);
        if (r < 0)
            return r;
        r = store_exec(s, "DELETE FROM pool_device", err);
        if (r == 0)
            r = store_exec(s, "DELETE FROM pool", err);
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = error_set(err, -ENOENT, "no pool is defined");
        return store_tx_end(s, own, r, err);
    }
    default:
        return error_set(err, -EINVAL, "unknown kind");
    }
    if (!uid)
        return error_set(err, -EINVAL, "%s: no uid given", api_kind_word(kind));
    bool own;
    sqlite3_stmt *st;
    int r = store_write_start(s, sql, &own, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    r = store_step_done(s, st, "deleting", err);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        r = error_set(err, -ENOENT, "%s '%s' not found", api_kind_word(kind), uid);
    return store_tx_end(s, own, r, err);
}

/* ---- list -------------------------------------------------------------- */

/*
 * Every object of kind (not the pool), checked: a corrupt one is left out
 * and handed to fn. The objects stay in one read transaction with their
 * child rows.
 */
static int object_list(store *s, enum api_kind kind, store_corrupt_fn fn, void *ud,
                       struct api_object ***ret, size_t *ret_n, struct error *err) {
    const char *sql = main_all_sql(kind);
    if (!sql)
        return error_set(err, -EINVAL, "unknown kind");
    bool own = sqlite3_get_autocommit(s->db);
    if (own) {
        int r = store_exec(s, "BEGIN", err);
        if (r < 0)
            return r;
    }
    struct api_object **objs = NULL;
    size_t n = 0;
    _cleanup_free_ struct uid_index *idx = NULL;
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r == 0) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (array_grow(&objs, n, sizeof(*objs)) < 0) {
                r = error_oom(err);
                break;
            }
            objs[n] = api_object_new(kind);
            if (!objs[n]) {
                r = error_oom(err);
                break;
            }
            n++;
            if (read_main(st, objs[n - 1]) < 0) {
                r = error_oom(err);
                break;
            }
        }
        r = store_rows_end(s, st, rc, r, "listing", err);
    }
    if (r == 0 && n > 0) {
        idx = xcalloc(n, sizeof(*idx));
        if (!idx) {
            r = error_oom(err);
        } else {
            for (size_t i = 0; i < n; i++)
                idx[i] = (struct uid_index){objs[i]->meta.uid ? objs[i]->meta.uid : "", objs[i]};
            qsort(idx, n, sizeof(*idx), uid_index_cmp);
            r = load_children(s, kind, NULL, NULL, idx, n, err);
        }
    }
    if (own)
        store_rollback(s);
    if (r < 0) {
        api_objects_free(objs, n);
        return r;
    }
    /* The corrupt ones out, the order kept. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct error why;
        error_init(&why);
        if (store_check_object(objs[i], &why) == 0) {
            objs[kept++] = objs[i];
            continue;
        }
        fn(ud, api_kind_word(kind), objs[i]->meta.uid, &why);
        api_object_free(objs[i]);
    }
    *ret = objs;
    *ret_n = kept;
    return 0;
}

static void warn_corrupt(void *ud, const char *table, const char *key, const struct error *why) {
    store_corrupt_warn(ud, table, key, why);
}

int store_object_list(store *s, enum api_kind kind, struct api_object ***ret, size_t *ret_n,
                      struct error *err) {
    if (kind == API_KIND_POOL) {
        struct api_object *pool = NULL;
        int r = store_pool_object_get(s, &pool, err);
        if (r == -ENOENT) {
            error_init(err);
            *ret = NULL;
            *ret_n = 0;
            return 0;
        }
        if (r < 0)
            return r;
        struct api_object **arr = xcalloc(1, sizeof(*arr));
        if (!arr) {
            api_object_free(pool);
            return error_oom(err);
        }
        arr[0] = pool;
        *ret = arr;
        *ret_n = 1;
        return 0;
    }
    return object_list(s, kind, warn_corrupt, s, ret, ret_n, err);
}

int store_object_scan(store *s, enum api_kind kind, store_corrupt_fn fn, void *ud,
                      struct error *err) {
    struct api_object **objs = NULL;
    size_t n = 0;
    int r = object_list(s, kind, fn, ud, &objs, &n, err);
    if (r == 0)
        api_objects_free(objs, n);
    return r;
}

/* ---- match and users --------------------------------------------------- */

void store_matches_free(struct store_match *m, size_t n) {
    if (!m)
        return;
    for (size_t i = 0; i < n; i++)
        free(m[i].name);
    free(m);
}

/* Collects (uid, name) rows of a bound statement, at most max. */
static int collect_matches(store *s, sqlite3_stmt *st, const char *table, size_t max,
                           struct store_match **ret, size_t *ret_n, struct error *err) {
    struct store_match *m = NULL;
    size_t n = 0;
    int rc = SQLITE_DONE, r = 0;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        struct error why;
        if (store_check_uid(uid, &why) < 0) {
            store_corrupt_warn(s, table, uid, &why);
            continue;
        }
        if (array_grow(&m, n, sizeof(*m)) < 0) {
            r = error_oom(err);
            break;
        }
        memset(&m[n], 0, sizeof(m[n]));
        snprintf(m[n].uid, sizeof(m[n].uid), "%s", uid ? uid : "");
        n++;
        if (store_column_text(st, 1, &m[n - 1].name) < 0) {
            r = error_oom(err);
            break;
        }
    }
    if (r == 0 && n < max && rc != SQLITE_DONE)
        r = store_error(s, sqlite3_extended_errcode(s->db), err, "matching");
    sqlite3_reset(st);
    if (r < 0) {
        store_matches_free(m, n);
        return r;
    }
    *ret = m;
    *ret_n = n;
    return 0;
}

/* The matches of prefix in names and uids, or (uid_only) in uids alone. */
static int object_match(store *s, enum api_kind kind, const char *prefix, bool uid_only, size_t max,
                        struct store_match **ret, size_t *ret_n, struct error *err) {
/* A prefix is the range [p, p || U+10FFFF): exact, byte-wise, index-friendly. */
#define MATCH_UID "(uid >= ?1 AND uid < ?1 || char(1114111))"
#define MATCH_SQL(t)                                                                               \
    "SELECT uid, name FROM " t " WHERE (name >= ?1 AND name < ?1 || char(1114111)) "               \
    "OR " MATCH_UID " ORDER BY name LIMIT ?2"
#define MATCH_UID_SQL(t) "SELECT uid, name FROM " t " WHERE " MATCH_UID " ORDER BY name LIMIT ?2"
    const char *sql;
    switch (kind) {
    case API_KIND_VM:
        sql = uid_only ? MATCH_UID_SQL("vm") : MATCH_SQL("vm");
        break;
    case API_KIND_IMAGE:
        sql = uid_only ? MATCH_UID_SQL("image") : MATCH_SQL("image");
        break;
    case API_KIND_KERNEL:
        sql = uid_only ? MATCH_UID_SQL("kernel") : MATCH_SQL("kernel");
        break;
    default:
        return error_set(err, -EINVAL, "%s objects have no names", api_kind_word(kind));
    }
#undef MATCH_UID_SQL
#undef MATCH_SQL
#undef MATCH_UID
    if (!prefix)
        prefix = "";
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, prefix);
    sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
    return collect_matches(s, st, api_kind_word(kind), max, ret, ret_n, err);
}

int store_object_match(store *s, enum api_kind kind, const char *prefix, size_t max,
                       struct store_match **ret, size_t *ret_n, struct error *err) {
    return object_match(s, kind, prefix, false, max, ret, ret_n, err);
}

int store_object_match_uid(store *s, enum api_kind kind, const char *prefix, size_t max,
                           struct store_match **ret, size_t *ret_n, struct error *err) {
    return object_match(s, kind, prefix, true, max, ret, ret_n, err);
}

int store_object_users(store *s, enum api_kind kind, const char *uid, const char *name,
                       struct store_match **ret, size_t *ret_n, struct error *err) {
    const char *sql;
    switch (kind) {
    case API_KIND_IMAGE:
        sql = "SELECT uid, name FROM vm WHERE image_internal_uid = ?1 OR image_ref = ?2 "
              "OR image_ref = (SELECT claim_ref FROM image WHERE uid = ?1) ORDER BY name";
        break;
    case API_KIND_KERNEL:
        sql = "SELECT uid, name FROM vm WHERE kernel_internal_uid = ?1 OR kernel_ref = ?2 "
              "OR kernel_ref = (SELECT claim_ref FROM kernel WHERE uid = ?1) ORDER BY name";
        break;
    default:
        return error_set(err, -EINVAL, "only images and kernels have users");
    }
    sqlite3_stmt *st;
    int r = store_stmt(s, sql, &st, err);
    if (r < 0)
        return r;
    store_bind_text(st, 1, uid);
    store_bind_text(st, 2, name);
    return collect_matches(s, st, "vm", SIZE_MAX, ret, ret_n, err);
}
