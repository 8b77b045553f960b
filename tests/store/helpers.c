/*
 * Helpers for the store tests: temporary roots, objects with every field
 * set, and a deep comparison that names the field that differs.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_test.h"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int tctx_setup(void **state) {
    struct tctx *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof(t->dir), "%s/hearth-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/hearth.db", t->dir);
    struct error err;
    error_init(&err);
    int r = store_open(t->path, &t->s, &err);
    if (r < 0)
        fail_msg("store_open: %s", err.msg);
    *state = t;
    return 0;
}

int tctx_teardown(void **state) {
    struct tctx *t = *state;
    store_free(t->s);
    nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

static char *hosts_path(int i) {
    char buf[256];
    snprintf(buf, sizeof(buf), "/etc/hosts.%d", i);
    char *s = strdup(buf);
    assert_non_null(s);
    return s;
}

static void add_kv(struct api_kv **arr, size_t *n, const char *k, const char *v) {
    *arr = realloc(*arr, (*n + 1) * sizeof(**arr));
    assert_non_null(*arr);
    (*arr)[*n].key = strdup(k);
    (*arr)[*n].value = strdup(v);
    (*n)++;
}

static void add_str(char ***arr, size_t *n, const char *s) {
    *arr = realloc(*arr, (*n + 1) * sizeof(**arr));
    assert_non_null(*arr);
    (*arr)[*n] = strdup(s);
    (*n)++;
}

static void set_meta(struct api_object *o, const char *uid, const char *name) {
    o->meta.uid = strdup(uid);
    o->meta.name = strdup(name);
    o->meta.created = 1700000000;
    add_kv(&o->meta.labels, &o->meta.n_labels, "team", "infra");
    add_kv(&o->meta.labels, &o->meta.n_labels, "app", name);
    add_kv(&o->meta.annotations, &o->meta.n_annotations, "note", "made by a test");
}

struct api_object *make_vm(const char *uid, const char *name, int i) {
    struct api_object *o = api_object_new(API_KIND_VM);
    assert_non_null(o);
    set_meta(o, uid, name);
    o->meta.created = 1700000000 + i;
    struct api_vm *v = &o->u.vm;
    v->image_claim = calloc(1, sizeof(*v->image_claim));
    v->image_claim->type = strdup("Docker");
    v->image_claim->ref = strdup("weaveworks/ignite-ubuntu:latest");
    v->kernel_claim = calloc(1, sizeof(*v->kernel_claim));
    v->kernel_claim->type = strdup("Docker");
    v->kernel_claim->ref = strdup("weaveworks/ignite-kernel:5.10");
    v->cmdline = strdup(API_DEFAULT_CMDLINE);
    v->cpus = 1 + (uint64_t)(i % 4);
    v->memory = (512ull << 20) * (uint64_t)(1 + i % 3);
    v->disk_size = 4ull << 30;
    v->network_mode = strdup("bridge");
    v->ports = calloc(2, sizeof(*v->ports));
    v->n_ports = 2;
    v->ports[0].host_port = 8080;
    v->ports[0].vm_port = 80;
    v->ports[1].host_port = 5353;
    v->ports[1].vm_port = 53;
    v->ports[1].protocol = strdup("udp");
    v->ports[1].bind_address = strdup("127.0.0.1");
    v->copy_files = calloc(1, sizeof(*v->copy_files));
    v->n_copy_files = 1;
    v->copy_files[0].host_path = hosts_path(i);
    v->copy_files[0].vm_path = strdup("/etc/hosts");
    v->has_ssh = true;
    v->ssh_public_key = strdup("ssh-ed25519 AAAA test");
    v->state = API_VM_CREATED;
    add_str(&v->ip_addresses, &v->n_ip_addresses, "10.61.0.2");
    add_str(&v->ip_addresses, &v->n_ip_addresses, "10.61.0.3");
    v->status_image.source.id = strdup("sha256:aaaa");
    v->status_image.source.size = 123456789;
    add_str(&v->status_image.source.repo_digests, &v->status_image.source.n_repo_digests,
            "ubuntu@sha256:1111111111111111111111111111111111111111111111111111111111111111");
    v->status_image.internal_uid = strdup("1111111111111111");
    v->status_kernel.source.id = strdup("sha256:bbbb");
    v->status_kernel.source.size = 42;
    add_str(&v->status_kernel.source.repo_digests, &v->status_kernel.source.n_repo_digests,
            "kernel@sha256:2222222222222222222222222222222222222222222222222222222222222222");
    add_str(&v->status_kernel.source.repo_digests, &v->status_kernel.source.n_repo_digests,
            "kernel@sha256:3333333333333333333333333333333333333333333333333333333333333333");
    v->status_kernel.internal_uid = strdup("2222222222222222");
    return o;
}

struct api_object *make_image(const char *uid, const char *name) {
    struct api_object *o = api_object_new(API_KIND_IMAGE);
    assert_non_null(o);
    set_meta(o, uid, name);
    o->u.image.claim.type = strdup("Docker");
    o->u.image.claim.ref = strdup("weaveworks/ignite-ubuntu:latest");
    o->u.image.source.id = strdup("sha256:aaaa");
    o->u.image.source.size = 987654321;
    add_str(&o->u.image.source.repo_digests, &o->u.image.source.n_repo_digests,
            "u@sha256:1111111111111111111111111111111111111111111111111111111111111111");
    add_str(&o->u.image.source.repo_digests, &o->u.image.source.n_repo_digests,
            "u@sha256:2222222222222222222222222222222222222222222222222222222222222222");
    return o;
}

struct api_object *make_kernel(const char *uid, const char *name) {
    struct api_object *o = api_object_new(API_KIND_KERNEL);
    assert_non_null(o);
    set_meta(o, uid, name);
    o->u.kernel.version = strdup("5.10.77");
    o->u.kernel.claim.type = strdup("Docker");
    o->u.kernel.claim.ref = strdup("weaveworks/ignite-kernel:5.10");
    o->u.kernel.source.id = strdup("sha256:cccc");
    o->u.kernel.source.size = 1234;
    return o;
}

/* ---- comparison -------------------------------------------------------- */

static void eq_str(const char *what, const char *a, const char *b) {
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        fail_msg("%s differs: '%s' vs '%s'", what, a ? a : "(null)", b ? b : "(null)");
}

static void eq_u64(const char *what, uint64_t a, uint64_t b) {
    if (a != b)
        fail_msg("%s differs: %llu vs %llu", what, (unsigned long long)a, (unsigned long long)b);
}

static void eq_kvs(const char *what, const struct api_kv *a, size_t na, const struct api_kv *b,
                   size_t nb) {
    eq_u64(what, na, nb);
    for (size_t i = 0; i < na; i++) {
        eq_str(what, a[i].key, b[i].key);
        eq_str(what, a[i].value, b[i].value);
    }
}

static void eq_strv(const char *what, char *const *a, size_t na, char *const *b, size_t nb) {
    eq_u64(what, na, nb);
    for (size_t i = 0; i < na; i++)
        eq_str(what, a[i], b[i]);
}

static void eq_source(const char *what, const struct api_oci_source *a,
                      const struct api_oci_source *b) {
    eq_str(what, a->id, b->id);
    eq_u64(what, a->size, b->size);
    eq_strv(what, a->repo_digests, a->n_repo_digests, b->repo_digests, b->n_repo_digests);
}

static void eq_claim(const char *what, const struct api_oci_claim *a,
                     const struct api_oci_claim *b) {
    if ((a == NULL) != (b == NULL))
        fail_msg("%s: one claim is null", what);
    if (!a)
        return;
    eq_str(what, a->type, b->type);
    eq_str(what, a->ref, b->ref);
}

/* The export form must agree too: what `hearth export` would write. */
static void eq_json(const struct api_object *a, const struct api_object *b) {
    json_t *ja = api_object_to_json(a);
    json_t *jb = api_object_to_json(b);
    assert_non_null(ja);
    assert_non_null(jb);
    if (!json_equal(ja, jb)) {
        char *sa = json_dumps(ja, JSON_SORT_KEYS);
        char *sb = json_dumps(jb, JSON_SORT_KEYS);
        print_error("want %s\ngot  %s\n", sa, sb);
        free(sa);
        free(sb);
        fail_msg("objects differ in their JSON form");
    }
    json_decref(ja);
    json_decref(jb);
}

void assert_object_equal(const struct api_object *a, const struct api_object *b) {
    assert_int_equal(a->kind, b->kind);
    eq_json(a, b);
    if (a->kind != API_KIND_POOL) {
        eq_str("meta.uid", a->meta.uid, b->meta.uid);
        eq_str("meta.name", a->meta.name, b->meta.name);
        assert_true(a->meta.created == b->meta.created);
        eq_kvs("labels", a->meta.labels, a->meta.n_labels, b->meta.labels, b->meta.n_labels);
        eq_kvs("annotations", a->meta.annotations, a->meta.n_annotations, b->meta.annotations,
               b->meta.n_annotations);
    }
    switch (a->kind) {
    case API_KIND_IMAGE:
        eq_claim("image claim", &a->u.image.claim, &b->u.image.claim);
        eq_source("image source", &a->u.image.source, &b->u.image.source);
        break;
    case API_KIND_KERNEL:
        eq_str("kernel version", a->u.kernel.version, b->u.kernel.version);
        eq_claim("kernel claim", &a->u.kernel.claim, &b->u.kernel.claim);
        eq_source("kernel source", &a->u.kernel.source, &b->u.kernel.source);
        break;
    case API_KIND_VM: {
        const struct api_vm *x = &a->u.vm, *y = &b->u.vm;
        eq_claim("spec.image", x->image_claim, y->image_claim);
        eq_claim("spec.kernel", x->kernel_claim, y->kernel_claim);
        eq_str("cmdline", x->cmdline, y->cmdline);
        eq_u64("cpus", x->cpus, y->cpus);
        eq_u64("memory", x->memory, y->memory);
        eq_u64("disk_size", x->disk_size, y->disk_size);
        eq_str("network_mode", x->network_mode, y->network_mode);
        eq_u64("n_ports", x->n_ports, y->n_ports);
        for (size_t i = 0; i < x->n_ports; i++) {
            eq_u64("host_port", x->ports[i].host_port, y->ports[i].host_port);
            eq_u64("vm_port", x->ports[i].vm_port, y->ports[i].vm_port);
            eq_str("protocol", x->ports[i].protocol, y->ports[i].protocol);
            eq_str("bind_address", x->ports[i].bind_address, y->ports[i].bind_address);
        }
        eq_u64("n_copy_files", x->n_copy_files, y->n_copy_files);
        for (size_t i = 0; i < x->n_copy_files; i++) {
            eq_str("host_path", x->copy_files[i].host_path, y->copy_files[i].host_path);
            eq_str("vm_path", x->copy_files[i].vm_path, y->copy_files[i].vm_path);
        }
        assert_int_equal(x->has_ssh, y->has_ssh);
        eq_str("ssh_public_key", x->ssh_public_key, y->ssh_public_key);
        assert_int_equal(x->state, y->state);
        eq_strv("ip_addresses", x->ip_addresses, x->n_ip_addresses, y->ip_addresses,
                y->n_ip_addresses);
        eq_source("status.image", &x->status_image.source, &y->status_image.source);
        eq_str("status.image.internalUID", x->status_image.internal_uid,
               y->status_image.internal_uid);
        eq_source("status.kernel", &x->status_kernel.source, &y->status_kernel.source);
        eq_str("status.kernel.internalUID", x->status_kernel.internal_uid,
               y->status_kernel.internal_uid);
        break;
    }
    case API_KIND_POOL: {
        const struct api_pool *x = &a->u.pool, *y = &b->u.pool;
        eq_u64("metadata_size", x->metadata_size, y->metadata_size);
        eq_u64("data_size", x->data_size, y->data_size);
        eq_u64("allocation_size", x->allocation_size, y->allocation_size);
        eq_str("metadata_path", x->metadata_path, y->metadata_path);
        eq_str("data_path", x->data_path, y->data_path);
        eq_u64("n_devices", x->n_devices, y->n_devices);
        for (size_t i = 0; i < x->n_devices; i++) {
            assert_int_equal(x->devices[i].present, y->devices[i].present);
            if (!x->devices[i].present)
                continue;
            eq_u64("device size", x->devices[i].size, y->devices[i].size);
            assert_true(x->devices[i].parent == y->devices[i].parent);
            eq_str("device type", x->devices[i].type, y->devices[i].type);
            eq_str("device metadata_path", x->devices[i].metadata_path,
                   y->devices[i].metadata_path);
        }
        break;
    }
    default:
        fail();
    }
}

int64_t raw_int(store *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(s->db));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        fail_msg("step %s: %s", sql, sqlite3_errmsg(s->db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void raw_exec(store *s, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("exec %s: %s", sql, msg ? msg : "?");
}
