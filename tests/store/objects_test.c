/*
 * Object tests: put/get/list round trips of every kind, the UNIQUE name
 * constraint, cascading child rows, prefix matching, users of images and
 * kernels, transactions, and listing 10,000 VMs.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store_test.h"

#define U1 "aaaaaaaaaaaaaaa1"
#define U2 "bbbbbbbbbbbbbbb2"
#define U3 "ccccccccccccccc3"

static void put_ok(store *s, const struct api_object *o) {
    struct error err;
    error_init(&err);
    int r = store_object_put(s, o, &err);
    if (r < 0)
        fail_msg("put: %s", err.msg);
}

static struct api_object *get_ok(store *s, enum api_kind kind, const char *uid) {
    struct error err;
    error_init(&err);
    struct api_object *o = NULL;
    int r = store_object_get(s, kind, uid, &o, &err);
    if (r < 0)
        fail_msg("get: %s", err.msg);
    return o;
}

static void test_open_fresh(void **state) {
    struct tctx *t = *state;
    assert_int_equal(store_schema_version(t->s), store_schema_latest());
    assert_true(store_schema_latest() >= 3);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM pragma_journal_mode WHERE "
                                   "journal_mode = 'wal'"),
                     1);
    assert_int_equal(raw_int(t->s, "PRAGMA foreign_keys"), 1);
    assert_int_equal(raw_int(t->s, "PRAGMA synchronous"), 2); /* FULL */
    assert_true(raw_int(t->s, "PRAGMA busy_timeout") >= 1000);
    /* A new database is not copied aside. */
    char backup[400];
    for (int v = 1; v <= store_schema_latest(); v++) {
        snprintf(backup, sizeof(backup), "%s.pre-%04d", t->path, v);
        assert_int_not_equal(access(backup, F_OK), 0);
    }
}

static void test_vm_roundtrip(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *vm = make_vm(U1, "web", 1);
    put_ok(t->s, vm);
    _cleanup_object_ struct api_object *got = get_ok(t->s, API_KIND_VM, U1);
    assert_object_equal(vm, got);

    /* A second put replaces fields and child rows. */
    free(vm->meta.name);
    vm->meta.name = strdup("web2");
    vm->u.vm.n_ports = 1;
    api_port_release(&vm->u.vm.ports[1]);
    vm->u.vm.state = API_VM_RUNNING;
    free(vm->u.vm.kernel_claim->type);
    free(vm->u.vm.kernel_claim->ref);
    free(vm->u.vm.kernel_claim);
    vm->u.vm.kernel_claim = NULL;
    vm->u.vm.has_ssh = false;
    free(vm->u.vm.ssh_public_key);
    vm->u.vm.ssh_public_key = NULL;
    vm->meta.created = API_TIME_NONE;
    put_ok(t->s, vm);
    _cleanup_object_ struct api_object *got2 = get_ok(t->s, API_KIND_VM, U1);
    assert_object_equal(vm, got2);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 1);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm_ports"), 1);

    /* find_name and list agree. */
    char uid[ID_LEN + 1];
    struct error err;
    assert_int_equal(store_object_find_name(t->s, API_KIND_VM, "web2", uid, &err), 0);
    assert_string_equal(uid, U1);
    assert_int_equal(store_object_find_name(t->s, API_KIND_VM, "web", uid, &err), -ENOENT);
    struct api_object **objs = NULL;
    size_t n = 0;
    assert_int_equal(store_object_list(t->s, API_KIND_VM, &objs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_object_equal(vm, objs[0]);
    api_objects_free(objs, n);
}

/*
 * A VM's state as the engine reads and sets it: each state goes in and comes
 * back as itself, the column holds its name, no state (or one outside the
 * set) is refused and changes nothing, a missing VM is -ENOENT.
 */
static void test_vm_state(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *vm = make_vm(U1, "web", 1);
    put_ok(t->s, vm);
    struct error err;
    error_init(&err);
    enum api_vm_state got = API_VM_STATE_NONE;
    for (enum api_vm_state s = API_VM_CREATED; s <= API_VM_REMOVING; s++) {
        assert_int_equal(store_vm_state_set(t->s, U1, s, &err), 0);
        assert_int_equal(store_vm_state_get(t->s, U1, &got, &err), 0);
        assert_int_equal(got, s);
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM vm WHERE uid = '%s' AND state = '%s'", U1,
                 api_vm_state_name(s));
        assert_int_equal(raw_int(t->s, sql), 1);
    }
    assert_int_equal(store_vm_state_set(t->s, U1, API_VM_STATE_NONE, &err), -EINVAL);
    error_init(&err);
    assert_int_equal(store_vm_state_set(t->s, U1, (enum api_vm_state)99, &err), -EINVAL);
    assert_int_equal(store_vm_state_get(t->s, U1, &got, &err), 0);
    assert_int_equal(got, API_VM_REMOVING);
    error_init(&err);
    assert_int_equal(store_vm_state_set(t->s, U2, API_VM_RUNNING, &err), -ENOENT);
    error_init(&err);
    assert_int_equal(store_vm_state_get(t->s, U2, &got, &err), -ENOENT);
}

static void test_image_kernel_roundtrip(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *im = make_image(U1, "ubuntu");
    _cleanup_object_ struct api_object *im2 = make_image(U2, "alpine");
    im2->meta.created = API_TIME_NONE;
    _cleanup_object_ struct api_object *k = make_kernel(U3, "k510");
    /* An image without a claim breaks apply's rules: stored (the store does
     * not judge what it is given), but corrupt when read back. */
    _cleanup_object_ struct api_object *bad = make_image("00000000000000cc", "no-ref");
    free(bad->u.image.claim.ref);
    bad->u.image.claim.ref = NULL;
    put_ok(t->s, im);
    put_ok(t->s, im2);
    put_ok(t->s, k);
    put_ok(t->s, bad);
    _cleanup_object_ struct api_object *g1 = get_ok(t->s, API_KIND_IMAGE, U1);
    _cleanup_object_ struct api_object *g2 = get_ok(t->s, API_KIND_IMAGE, U2);
    _cleanup_object_ struct api_object *g3 = get_ok(t->s, API_KIND_KERNEL, U3);
    assert_object_equal(im, g1);
    assert_object_equal(im2, g2);
    assert_object_equal(k, g3);

    /* Kinds are separate: the kernel's uid is no image. */
    struct api_object *none = NULL;
    struct error err;
    assert_int_equal(store_object_get(t->s, API_KIND_IMAGE, U3, &none, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "image"));
    assert_int_equal(store_object_get(t->s, API_KIND_IMAGE, "00000000000000cc", &none, &err),
                     -EUCLEAN);
    assert_null(none);
    assert_non_null(strstr(err.msg, "row \"00000000000000cc\" of table 'image'"));
    assert_non_null(strstr(err.msg, "spec.ociClaim.ref: required"));
    assert_non_null(strstr(err.msg, "hearth doctor"));

    struct api_object **objs = NULL;
    size_t n = 0;
    assert_int_equal(store_object_list(t->s, API_KIND_IMAGE, &objs, &n, &err), 0);
    assert_int_equal(n, 2);
    /* NULL creation times sort first. */
    assert_object_equal(im2, objs[0]);
    assert_object_equal(im, objs[1]);
    api_objects_free(objs, n);
}

/* A kernel's files: replaced as a whole, kept by a put of the kernel, gone with it. */
static void test_kernel_files(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *k = make_kernel(U3, "k510");
    put_ok(t->s, k);
    struct store_kernel_file got[STORE_KERNEL_FILES_MAX];
    size_t n = 9;
    struct error err;
    error_init(&err);
    assert_int_equal(store_kernel_files_get(t->s, U3, got, &n, &err), 0);
    assert_int_equal(n, 0); /* no record */
    struct store_kernel_file files[] = {{"vmlinuz", 8247232}, {"vmlinux", 65863680}};
    assert_int_equal(store_kernel_files_set(t->s, U3, files, 2, &err), 0);
    put_ok(t->s, k); /* a put of the kernel (apply, restore) keeps them */
    assert_int_equal(store_kernel_files_get(t->s, U3, got, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].name, "vmlinux"); /* by name */
    assert_int_equal(got[0].size, 65863680);
    assert_string_equal(got[1].name, "vmlinuz");
    struct store_kernel_file one[] = {{"initrd", 0}};
    assert_int_equal(store_kernel_files_set(t->s, U3, one, 1, &err), 0);
    assert_int_equal(store_kernel_files_get(t->s, U3, got, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].name, "initrd");
    /* What is not one of the four files is refused, and changes nothing. */
    struct store_kernel_file bad[] = {{"vmlinux", 1}, {"../x", 1}};
    assert_int_equal(store_kernel_files_set(t->s, U3, bad, 2, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'../x'"));
    assert_int_equal(store_kernel_files_get(t->s, U3, got, &n, &err), 0);
    assert_int_equal(n, 1);
    /* Of no kernel: the foreign key refuses it. */
    assert_true(store_kernel_files_set(t->s, U1, files, 1, &err) < 0);
    assert_int_equal(store_object_delete(t->s, API_KIND_KERNEL, U3, &err), 0);
    assert_int_equal(store_kernel_files_get(t->s, U3, got, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_pool_roundtrip(void **state) {
    struct tctx *t = *state;
    struct error err;
    struct api_object *none = NULL;
    assert_int_equal(store_object_get(t->s, API_KIND_POOL, NULL, &none, &err), -ENOENT);

    _cleanup_object_ struct api_object *p = api_object_new(API_KIND_POOL);
    struct api_pool *pool = &p->u.pool;
    pool->metadata_size = 2ull << 20;
    pool->data_size = 100ull << 30;
    pool->allocation_size = 64 << 10;
    pool->metadata_path = strdup("/var/lib/hearth/pool/metadata");
    pool->data_path = strdup("/var/lib/hearth/pool/data");
    pool->n_devices = 4;
    pool->devices = calloc(4, sizeof(*pool->devices));
    const char *types[] = {"Image", "Resize", NULL, "VM"};
    for (int i = 0; i < 4; i++) {
        if (!types[i])
            continue; /* a hole at 2 */
        pool->devices[i].present = true;
        pool->devices[i].type = strdup(types[i]);
        pool->devices[i].size = (uint64_t)(i + 1) << 30;
        pool->devices[i].parent = i == 0 ? API_POOL_PARENT_NONE : i == 3 ? 1 : i - 1;
        pool->devices[i].metadata_path = i == 3 ? strdup("/x/vm") : NULL;
    }
    put_ok(t->s, p);
    _cleanup_object_ struct api_object *g = get_ok(t->s, API_KIND_POOL, NULL);
    assert_object_equal(p, g);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM pool_device"), 3);

    /* State and owner survive a put; devices past the end and new holes go. */
    raw_exec(t->s, "UPDATE pool_device SET state = 'planned', owner_kind = 'VM', "
                   "owner_uid = '00000000000000aa' WHERE id = 1");
    free(pool->devices[3].type);
    free(pool->devices[3].metadata_path);
    pool->n_devices = 2;
    put_ok(t->s, p);
    _cleanup_object_ struct api_object *g2 = get_ok(t->s, API_KIND_POOL, NULL);
    assert_object_equal(p, g2);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM pool_device WHERE id = 1 AND "
                                   "state = 'planned' AND owner_uid = '00000000000000aa'"),
                     1);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM pool"), 1);

    /* A device whose parent does not exist is refused, and nothing changes. */
    pool->devices[1].parent = 7;
    assert_int_equal(store_object_put(t->s, p, &err), -EINVAL);
    assert_int_equal(raw_int(t->s, "SELECT parent FROM pool_device WHERE id = 1"), 0);
    pool->devices[1].parent = 0;

    /* A bad device type is a CHECK failure. */
    free(pool->devices[1].type);
    pool->devices[1].type = strdup("Floppy");
    assert_int_equal(store_object_put(t->s, p, &err), -EINVAL);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM pool_device WHERE type = 'Resize'"), 1);
}

static void test_unique_name(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *a = make_vm(U1, "same", 1);
    _cleanup_object_ struct api_object *b = make_vm(U2, "same", 2);
    put_ok(t->s, a);
    struct error err;
    error_init(&err);
    assert_int_equal(store_object_put(t->s, b, &err), -EEXIST);
    assert_string_equal(err.msg, "vm 'same' already exists");
    /* The first is untouched, and nothing of the second was stored. */
    _cleanup_object_ struct api_object *g = get_ok(t->s, API_KIND_VM, U1);
    assert_object_equal(a, g);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm_ports WHERE uid = '" U2 "'"), 0);
    /* Names are per kind: an image may be called "same". */
    _cleanup_object_ struct api_object *im = make_image(U2, "same");
    put_ok(t->s, im);
    /* Same for images. */
    _cleanup_object_ struct api_object *im2 = make_image(U3, "same");
    assert_int_equal(store_object_put(t->s, im2, &err), -EEXIST);
    assert_string_equal(err.msg, "image 'same' already exists");
}

static void test_check_constraints(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *a = make_vm(U1, "bad", 1);
    a->u.vm.cpus = 0;
    struct error err;
    assert_int_equal(store_object_put(t->s, a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "vm 'bad'"));
    a->u.vm.cpus = 1;
    a->u.vm.state = (enum api_vm_state)99; /* none of the states */
    assert_int_equal(store_object_put(t->s, a, &err), -EINVAL);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 0);
    /* Duplicate label keys are refused with a message naming them. */
    a->u.vm.state = API_VM_CREATED;
    free(a->meta.labels[1].key);
    a->meta.labels[1].key = strdup("team");
    assert_int_equal(store_object_put(t->s, a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'team' twice"));
    /* No uid: refused before SQL. */
    free(a->meta.uid);
    a->meta.uid = NULL;
    assert_int_equal(store_object_put(t->s, a, &err), -EINVAL);
}

static void test_delete_cascades(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *a = make_vm(U1, "a", 1);
    _cleanup_object_ struct api_object *b = make_vm(U2, "b", 2);
    put_ok(t->s, a);
    put_ok(t->s, b);
    raw_exec(t->s, "INSERT INTO ip_lease (ip, network, vm_uid, created) VALUES "
                   "('10.61.0.2', 'hearth0', '" U1 "', 0), ('10.61.0.3', 'hearth0', '" U2 "', 0)");
    struct error err;
    assert_int_equal(store_object_delete(t->s, API_KIND_VM, U1, &err), 0);
    const char *tables[] = {"vm_meta", "vm_repo_digests", "vm_ports", "vm_copy_files",
                            "vm_ip_addresses"};
    char sql[200];
    for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE uid = '" U1 "'", tables[i]);
        assert_int_equal(raw_int(t->s, sql), 0);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE uid = '" U2 "'", tables[i]);
        assert_true(raw_int(t->s, sql) > 0);
    }
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM ip_lease"), 1);
    struct api_object *none = NULL;
    assert_int_equal(store_object_get(t->s, API_KIND_VM, U1, &none, &err), -ENOENT);
    assert_int_equal(store_object_delete(t->s, API_KIND_VM, U1, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "not found"));
    /* A child row for a missing owner is refused by the foreign key. */
    assert_int_not_equal(sqlite3_exec(t->s->db,
                                      "INSERT INTO vm_ports VALUES ('nope', 0, 1, 1, NULL, NULL)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
}

static void match(store *s, const char *prefix, size_t max, size_t want_n, const char *want0) {
    struct store_match *m = NULL;
    size_t n = 99;
    struct error err;
    assert_int_equal(store_object_match(s, API_KIND_VM, prefix, max, &m, &n, &err), 0);
    if (n != want_n)
        fail_msg("prefix '%s': %zu matches, want %zu", prefix, n, want_n);
    if (want0)
        assert_string_equal(m[0].name, want0);
    store_matches_free(m, n);
}

static void test_match(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *a = make_vm("0123456789abcdef", "alpha", 1);
    _cleanup_object_ struct api_object *b = make_vm("0123ffffffffffff", "alpine", 2);
    _cleanup_object_ struct api_object *c = make_vm("fedcba9876543210", "beta", 3);
    _cleanup_object_ struct api_object *d = make_vm("aaaaaaaaaaaaaaaa", "a_b%c", 4);
    put_ok(t->s, a);
    put_ok(t->s, b);
    put_ok(t->s, c);
    put_ok(t->s, d);
    match(t->s, "alp", 10, 2, "alpha");
    match(t->s, "alpha", 10, 1, "alpha"); /* exact */
    match(t->s, "alphab", 10, 0, NULL);
    match(t->s, "ALP", 10, 0, NULL);     /* case-sensitive */
    match(t->s, "0123", 10, 2, "alpha"); /* uid prefix, ambiguous */
    match(t->s, "0123f", 10, 1, "alpine");
    match(t->s, "fedcba9876543210", 10, 1, "beta");
    match(t->s, "b", 10, 1, "beta");
    match(t->s, "a_", 10, 1, "a_b%c"); /* no LIKE wildcards */
    match(t->s, "a%", 10, 0, NULL);
    match(t->s, "", 10, 4, NULL);
    match(t->s, "", 2, 2, NULL);
    match(t->s, "a", 10, 3, NULL); /* names alpha, alpine, a_b%c (uid aaaa... is a_b%c too) */
}

static void test_users(void **state) {
    struct tctx *t = *state;
    _cleanup_object_ struct api_object *im = make_image("1111111111111111", "ubuntu");
    put_ok(t->s, im);
    /* By status internalUID (make_vm sets it to 1111...). */
    _cleanup_object_ struct api_object *a = make_vm(U1, "by-uid", 1);
    free(a->u.vm.image_claim->ref);
    a->u.vm.image_claim->ref = strdup("other");
    /* By spec ref equal to the image's claim ref, before any status. */
    _cleanup_object_ struct api_object *b = make_vm(U2, "by-ref", 2);
    free(b->u.vm.status_image.internal_uid);
    b->u.vm.status_image.internal_uid = NULL;
    /* Neither. */
    _cleanup_object_ struct api_object *c = make_vm(U3, "unrelated", 3);
    free(c->u.vm.status_image.internal_uid);
    c->u.vm.status_image.internal_uid = strdup("9999999999999999");
    free(c->u.vm.image_claim->ref);
    c->u.vm.image_claim->ref = strdup("other");
    put_ok(t->s, a);
    put_ok(t->s, b);
    put_ok(t->s, c);
    struct store_match *m = NULL;
    size_t n = 0;
    struct error err;
    assert_int_equal(
        store_object_users(t->s, API_KIND_IMAGE, "1111111111111111", "ubuntu", &m, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].name, "by-ref");
    assert_string_equal(m[1].name, "by-uid");
    assert_string_equal(m[1].uid, U1);
    store_matches_free(m, n);
    /* Kernel users: all three carry the kernel internalUID 2222... */
    assert_int_equal(
        store_object_users(t->s, API_KIND_KERNEL, "2222222222222222", "k", &m, &n, &err), 0);
    assert_int_equal(n, 3);
    store_matches_free(m, n);
    assert_int_equal(
        store_object_users(t->s, API_KIND_KERNEL, "3333333333333333", "nope", &m, &n, &err), 0);
    assert_int_equal(n, 0);
    store_matches_free(m, n);
}

static void test_transactions(void **state) {
    struct tctx *t = *state;
    struct error err;
    _cleanup_object_ struct api_object *a = make_vm(U1, "a", 1);
    _cleanup_object_ struct api_object *b = make_vm(U2, "b", 2);
    assert_int_equal(store_begin(t->s, &err), 0);
    assert_int_equal(store_begin(t->s, &err), -EINVAL); /* no nesting */
    put_ok(t->s, a);
    put_ok(t->s, b);
    store_rollback(t->s);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 0);
    /* A failing put inside the caller's transaction leaves the transaction to the caller. */
    assert_int_equal(store_begin(t->s, &err), 0);
    put_ok(t->s, a);
    free(b->meta.name);
    b->meta.name = strdup("a");
    assert_int_equal(store_object_put(t->s, b, &err), -EEXIST);
    assert_int_equal(store_commit(t->s, &err), 0);
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm"), 1);
    assert_int_equal(store_commit(t->s, &err), -EINVAL);
    store_rollback(t->s); /* harmless without a transaction */
}

static void test_list_10000(void **state) {
    struct tctx *t = *state;
    struct error err;
    enum { N = 10000 };
    assert_int_equal(store_begin(t->s, &err), 0);
    for (int i = 0; i < N; i++) {
        char uid[ID_LEN + 1], name[64];
        snprintf(uid, sizeof(uid), "%016x", (unsigned)(i * 2654435761u));
        snprintf(name, sizeof(name), "vm-%05d", i);
        struct api_object *v = make_vm(uid, name, i);
        put_ok(t->s, v);
        api_object_free(v);
    }
    assert_int_equal(store_commit(t->s, &err), 0);
    struct api_object **objs = NULL;
    size_t n = 0;
    int64_t t0 = time_now_ms();
    assert_int_equal(store_object_list(t->s, API_KIND_VM, &objs, &n, &err), 0);
    int64_t ms = time_now_ms() - t0;
    print_message("listing %d VMs took %lld ms\n", N, (long long)ms);
    assert_int_equal(n, N);
    /* Ordered by creation time, and every object got its own child rows. */
    for (size_t i = 0; i < n; i++) {
        char name[64], hp[64];
        snprintf(name, sizeof(name), "vm-%05zu", i);
        snprintf(hp, sizeof(hp), "/etc/hosts.%zu", i);
        assert_string_equal(objs[i]->meta.name, name);
        assert_int_equal(objs[i]->meta.n_labels, 2);
        assert_string_equal(objs[i]->meta.labels[1].value, name);
        assert_string_equal(objs[i]->u.vm.copy_files[0].host_path, hp);
        assert_int_equal(objs[i]->u.vm.n_ports, 2);
        assert_int_equal(objs[i]->u.vm.status_kernel.source.n_repo_digests, 2);
    }
    api_objects_free(objs, n);
    /* How long listing takes is measured by bench/ps.sh (`ps -a -o json`, `export`), not here. */
}

int run_object_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_fresh, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_vm_roundtrip, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_vm_state, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_image_kernel_roundtrip, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_files, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_pool_roundtrip, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_unique_name, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_check_constraints, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_cascades, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_match, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_users, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_transactions, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_list_10000, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store objects", tests, NULL, NULL);
}
