/*
 * Tests for objects: kind names, defaults (Ignite v0.4's), deep copies, the
 * out-of-memory paths of copying and decoding, and validation, where each
 * rule is broken once and the message must name the field path and the bad
 * value.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api_priv.h"
#include "api_test.h"

static void test_kinds(void **state) {
    (void)state;
    assert_string_equal(api_kind_name(API_KIND_VM), "VM");
    assert_string_equal(api_kind_name(API_KIND_IMAGE), "Image");
    assert_string_equal(api_kind_name(API_KIND_KERNEL), "Kernel");
    assert_string_equal(api_kind_name(API_KIND_POOL), "Pool");
    static const struct {
        const char *in;
        enum api_kind kind;
    } rows[] = {{"VM", API_KIND_VM},          {"vm", API_KIND_VM},
                {"vms", API_KIND_VM},         {"Image", API_KIND_IMAGE},
                {"images", API_KIND_IMAGE},   {"kernel", API_KIND_KERNEL},
                {"KERNELS", API_KIND_KERNEL}, {"pool", API_KIND_POOL}};
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        enum api_kind k = API_KIND_COUNT;
        assert_int_equal(api_kind_parse(rows[i].in, &k), 0);
        assert_int_equal(k, rows[i].kind);
    }
    enum api_kind k = API_KIND_COUNT;
    assert_int_equal(api_kind_parse("vmm", &k), -EINVAL);
    assert_int_equal(api_kind_parse("", &k), -EINVAL);
    assert_int_equal(api_kind_parse("List", &k), -EINVAL);
    assert_int_equal(k, API_KIND_COUNT);
}

static void test_new_free(void **state) {
    (void)state;
    for (int k = 0; k < API_KIND_COUNT; k++) {
        struct api_object *obj = api_object_new((enum api_kind)k);
        assert_non_null(obj);
        assert_int_equal(obj->kind, k);
        assert_true(obj->meta.created == API_TIME_NONE);
        assert_null(obj->meta.name);
        api_object_free(obj);
    }
    api_object_free(NULL);
    api_objects_free(NULL, 0);
}

static void test_vm_defaults(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *vm = api_object_new(API_KIND_VM);
    vm->u.vm.image_claim = calloc(1, sizeof(struct api_oci_claim));
    test_set_str(&vm->u.vm.image_claim->ref, "ubuntu");
    assert_int_equal(api_object_set_defaults(vm, "/r"), 0);
    assert_string_equal(vm->u.vm.image_claim->type, "Docker");
    assert_null(vm->u.vm.kernel_claim);
    assert_int_equal(vm->u.vm.cpus, 1);
    assert_true(vm->u.vm.memory == 512ull << 20);
    assert_true(vm->u.vm.disk_size == 4ull << 30);
    assert_string_equal(vm->u.vm.network_mode, "bridge");
    assert_string_equal(vm->u.vm.cmdline, "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp");
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Created");
    assert_null(vm->meta.name); /* the engine names VMs */
    assert_null(vm->meta.uid);
    struct error err;
    error_init(&err);
    assert_int_equal(api_object_validate(vm, &err), 0);

    /* What is set stays. */
    _cleanup_object_ struct api_object *vm2 = test_data_object("vm-ignite.json");
    assert_int_equal(api_object_set_defaults(vm2, NULL), 0);
    assert_int_equal(vm2->u.vm.cpus, 2);
    assert_true(vm2->u.vm.memory == 1ull << 30);
    assert_string_equal(vm2->u.vm.network_mode, "docker-bridge");
    assert_string_equal(api_vm_state_name(vm2->u.vm.state), "Running");
}

static void test_image_kernel_defaults(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *im = api_object_new(API_KIND_IMAGE);
    assert_int_equal(api_object_set_defaults(im, NULL), 0);
    assert_string_equal(im->u.image.claim.type, "Docker");
    _cleanup_object_ struct api_object *k = api_object_new(API_KIND_KERNEL);
    test_set_str(&k->u.kernel.claim.type, "Docker");
    assert_int_equal(api_object_set_defaults(k, NULL), 0);
    assert_string_equal(k->u.kernel.claim.type, "Docker");
}

static void test_pool_defaults(void **state) {
    (void)state;
    _cleanup_object_ struct api_object *p = api_object_new(API_KIND_POOL);
    assert_int_equal(api_object_set_defaults(p, "/var/lib/hearth"), 0);
    assert_true(p->u.pool.allocation_size == 64ull << 10);
    assert_true(p->u.pool.data_size == 100ull << 30);
    /* 48 * 100GiB / 64KiB = 75MiB */
    assert_true(p->u.pool.metadata_size == 75ull << 20);
    assert_string_equal(p->u.pool.metadata_path, "/var/lib/hearth/pool/metadata");
    assert_string_equal(p->u.pool.data_path, "/var/lib/hearth/pool/data");
    struct error err;
    error_init(&err);
    assert_int_equal(api_object_validate(p, &err), 0);

    static const struct {
        uint64_t data, alloc, want;
    } rows[] = {
        {1ull << 30, 64ull << 10, 2ull << 20},  /* 768KiB clamps up to 2MiB */
        {1ull << 50, 64ull << 10, 16ull << 30}, /* 768GiB clamps down to 16GiB */
        {1ull << 40, 1ull << 20, 48ull << 20},  /* within the range */
        {UINT64_MAX, 64ull << 10, 16ull << 30}, /* 48 * dataSize would overflow */
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        _cleanup_object_ struct api_object *q = api_object_new(API_KIND_POOL);
        q->u.pool.data_size = rows[i].data;
        q->u.pool.allocation_size = rows[i].alloc;
        assert_int_equal(api_object_set_defaults(q, NULL), 0);
        assert_true(q->u.pool.metadata_size == rows[i].want);
        assert_null(q->u.pool.metadata_path);
        assert_null(q->u.pool.data_path);
    }
}

static void assert_same_json(const struct api_object *a, const struct api_object *b) {
    json_t *ja = api_object_to_json(a);
    json_t *jb = api_object_to_json(b);
    assert_non_null(ja);
    assert_non_null(jb);
    if (!json_equal(ja, jb)) {
        char *sa = json_dumps(ja, JSON_INDENT(2)), *sb = json_dumps(jb, JSON_INDENT(2));
        fail_msg("objects differ:\n%s\n---\n%s", sa, sb);
    }
    json_decref(ja);
    json_decref(jb);
}

static const char *const sample_files[] = {"vm-ignite.json", "image-ignite.json",
                                           "kernel-ignite.json", "pool-ignite.json", "vm.yaml"};

static void test_dup(void **state) {
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(sample_files); i++) {
        struct api_object *obj = test_data_object(sample_files[i]);
        struct api_object *copy = api_object_dup(obj);
        assert_non_null(copy);
        assert_same_json(obj, copy);
        if (obj->meta.name)
            assert_ptr_not_equal(obj->meta.name, copy->meta.name);
        /* The copy owns its memory: free the original first. */
        json_t *before = api_object_to_json(copy);
        api_object_free(obj);
        json_t *after = api_object_to_json(copy);
        assert_true(json_equal(before, after));
        json_decref(before);
        json_decref(after);
        api_object_free(copy);
    }
}

/* Each allocation api_object_dup makes fails once in turn: NULL comes back,
 * nothing leaks (ASan), and finally the copy succeeds. */
static void test_dup_oom(void **state) {
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(sample_files); i++) {
        _cleanup_object_ struct api_object *obj = test_data_object(sample_files[i]);
        long n;
        for (n = 1;; n++) {
            util_alloc_fail_after(n);
            struct api_object *copy = api_object_dup(obj);
            util_alloc_fail_after(0);
            if (copy) {
                assert_same_json(obj, copy);
                api_object_free(copy);
                break;
            }
            assert_true(n < 1000);
        }
        assert_true(n > 3);
    }
}

/* Same for decoding a whole file (jansson's own allocations are not counted). */
static void test_parse_oom(void **state) {
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(sample_files); i++) {
        size_t len;
        char *text = test_data_read(sample_files[i], &len);
        long n;
        for (n = 1;; n++) {
            struct api_object **objs = NULL;
            size_t cnt = 0;
            struct error err;
            error_init(&err);
            util_alloc_fail_after(n);
            int r = api_docs_parse(text, len, sample_files[i], &objs, &cnt, &err);
            util_alloc_fail_after(0);
            if (r == 0) {
                assert_int_equal(cnt, 1);
                api_objects_free(objs, cnt);
                break;
            }
            if (r != -ENOMEM)
                fail_msg("%s with allocation %ld failing: %d %s", sample_files[i], n, r, err.msg);
            assert_true(n < 1000);
        }
        assert_true(n > 3);
        free(text);
    }
}

/* ---- validation --------------------------------------------------------- */

static struct api_object *valid_vm(void) {
    struct api_object *vm = test_data_object("vm-ignite.json");
    assert_int_equal(api_object_set_defaults(vm, NULL), 0);
    struct error err;
    error_init(&err);
    if (api_object_validate(vm, &err) < 0)
        fail_msg("sample VM is not valid: %s", err.msg);
    return vm;
}

static void expect_invalid(const struct api_object *obj, const char *path, const char *value) {
    struct error err;
    error_init(&err);
    int r = api_object_validate(obj, &err);
    if (r != -EINVAL)
        fail_msg("validation of %s passed (r=%d), expected an error naming %s", path, r, path);
    assert_int_equal(err.code, -EINVAL);
    /* The message starts with the path, followed by ": ". */
    if (strncmp(err.msg, path, strlen(path)) != 0 || strncmp(err.msg + strlen(path), ": ", 2))
        fail_msg("\"%s\" does not start with \"%s: \"", err.msg, path);
    if (value)
        test_assert_contains(err.msg, value);
}

static void add_port(struct api_vm *vm, uint64_t host, uint64_t guest, const char *proto) {
    vm->ports = realloc(vm->ports, (vm->n_ports + 1) * sizeof(*vm->ports));
    assert_non_null(vm->ports);
    vm->ports[vm->n_ports] = (struct api_port){.host_port = host, .vm_port = guest};
    test_set_str(&vm->ports[vm->n_ports].protocol, proto);
    vm->n_ports++;
}

static void test_validate_vm(void **state) {
    (void)state;
    struct api_object *vm;
#define CASE(mutation, path, value)                                                                \
    do {                                                                                           \
        vm = valid_vm();                                                                           \
        mutation;                                                                                  \
        expect_invalid(vm, path, value);                                                           \
        api_object_free(vm);                                                                       \
    } while (0)
    struct api_vm *v;
    CASE(test_set_str(&vm->meta.name, "My_VM"), "metadata.name", "\"My_VM\" is not a valid name");
    CASE(test_set_str(&vm->meta.name, "-web"), "metadata.name", "DNS-1123");
    CASE(test_set_str(&vm->meta.uid, "E8D6CD9DC2A0E5B4"), "metadata.uid", "\"E8D6CD9DC2A0E5B4\"");
    CASE(test_set_str(&vm->meta.uid, "e8d6"), "metadata.uid", "16 lowercase hex");
    CASE((v = &vm->u.vm, v->cpus = 0), "spec.cpus", "0 is out of range (1-64)");
    CASE((v = &vm->u.vm, v->cpus = 65), "spec.cpus", "65 is out of range (1-64)");
    CASE((v = &vm->u.vm, v->memory = 8ull << 20), "spec.memory", "\"8MB\" is below the minimum");
    CASE((v = &vm->u.vm, v->disk_size = 512ull << 10), "spec.diskSize", "\"512KB\"");
    CASE(test_set_str(&vm->u.vm.network_mode, "wifi"), "spec.networkMode", "\"wifi\"");
    CASE(test_set_str(&vm->u.vm.network_mode, NULL), "spec.networkMode", "\"\"");
    CASE((v = &vm->u.vm, v->state = API_VM_STATE_NONE), "status.state", "\"\" is not a state");
    CASE((v = &vm->u.vm, v->state = (enum api_vm_state)99), "status.state", "is not a state");
    CASE(test_set_str(&vm->u.vm.image_claim->type, "Podman"), "spec.image.ociClaim.type",
         "\"Podman\"");
    CASE(test_set_str(&vm->u.vm.image_claim->ref, "Not A Ref"), "spec.image.ociClaim.ref",
         "\"Not A Ref\"");
    CASE(test_set_str(&vm->u.vm.image_claim->ref, NULL), "spec.image.ociClaim.ref", "required");
    CASE((api_oci_claim_release(vm->u.vm.image_claim), free(vm->u.vm.image_claim),
          vm->u.vm.image_claim = NULL),
         "spec.image.ociClaim", "required");
    CASE(test_set_str(&vm->u.vm.kernel_claim->ref, "kernel:"), "spec.kernel.ociClaim.ref",
         "\"kernel:\"");
    CASE(vm->u.vm.ports[0].host_port = 0, "spec.ports[0].hostPort", "0 is out of range");
    CASE(vm->u.vm.ports[0].vm_port = 70000, "spec.ports[0].vmPort", "70000 is out of range");
    CASE(test_set_str(&vm->u.vm.ports[0].protocol, "sctp"), "spec.ports[0].protocol", "\"sctp\"");
    CASE(test_set_str(&vm->u.vm.ports[0].bind_address, "localhost"), "spec.ports[0].bindAddress",
         "\"localhost\"");
    CASE(add_port(&vm->u.vm, 8080, 81, "tcp"), "spec.ports[1].hostPort",
         "8080/tcp is already mapped by spec.ports[0]");
    CASE(test_set_str(&vm->u.vm.copy_files[0].vm_path, "etc/x"), "spec.copyFiles[0].vmPath",
         "\"etc/x\"");
    CASE(test_set_str(&vm->u.vm.copy_files[0].vm_path, "/etc/../root/x"),
         "spec.copyFiles[0].vmPath", "\"/etc/../root/x\"");
    CASE(test_set_str(&vm->u.vm.copy_files[0].host_path, ""), "spec.copyFiles[0].hostPath",
         "required");
    CASE(test_set_str(&vm->u.vm.copy_files[0].host_path, "resolv.conf"),
         "spec.copyFiles[0].hostPath", "is not an absolute path without '.' or '..'");
    CASE(test_set_str(&vm->u.vm.copy_files[0].host_path, "/tmp/../etc/shadow"),
         "spec.copyFiles[0].hostPath", "\"/tmp/../etc/shadow\"");
    CASE(test_set_str(&vm->u.vm.ip_addresses[0], "300.1.1.1"), "status.ipAddresses[0]",
         "\"300.1.1.1\"");
    CASE(test_set_str(&vm->u.vm.status_image.internal_uid, "nothex"), "status.image.internalUID",
         "\"nothex\"");
    CASE(test_set_str(&vm->u.vm.status_kernel.source.repo_digests[0], "weaveworks/k:1"),
         "status.kernel.repoDigests[0]", "\"weaveworks/k:1\"");
#undef CASE

    /* Ports that differ in protocol may share a host port. */
    vm = valid_vm();
    add_port(&vm->u.vm, 8080, 80, "udp");
    struct error err;
    error_init(&err);
    assert_int_equal(api_object_validate(vm, &err), 0);
    api_object_free(vm);
}

static void test_validate_labels(void **state) {
    (void)state;
    struct api_object *vm = valid_vm();
    vm->meta.labels = calloc(2, sizeof(struct api_kv));
    vm->meta.n_labels = 2;
    test_set_str(&vm->meta.labels[0].key, "app");
    test_set_str(&vm->meta.labels[0].value, "web");
    test_set_str(&vm->meta.labels[1].key, "bad key");
    test_set_str(&vm->meta.labels[1].value, "x");
    expect_invalid(vm, "metadata.labels", "\"bad key\" is not a valid key");
    test_set_str(&vm->meta.labels[1].key, "app");
    expect_invalid(vm, "metadata.labels", "\"app\" is a duplicate key");
    test_set_str(&vm->meta.labels[1].key, "example.com/tier");
    test_set_str(&vm->meta.labels[1].value, "front end");
    expect_invalid(vm, "metadata.labels.example.com/tier", "\"front end\"");
    char longv[70];
    memset(longv, 'v', 64);
    longv[64] = '\0';
    test_set_str(&vm->meta.labels[1].value, longv);
    expect_invalid(vm, "metadata.labels.example.com/tier", "not a valid label value");
    test_set_str(&vm->meta.labels[1].value, "");
    struct error err;
    error_init(&err);
    assert_int_equal(api_object_validate(vm, &err), 0);
    api_object_free(vm);
}

static void test_validate_image_kernel_pool(void **state) {
    (void)state;
    struct error err;
    struct api_object *im = test_data_object("image-ignite.json");
    error_init(&err);
    assert_int_equal(api_object_validate(im, &err), 0);
    test_set_str(&im->meta.name, "Not_A_Ref");
    expect_invalid(im, "metadata.name", "\"Not_A_Ref\" is not a valid Image name");
    test_set_str(&im->meta.name, NULL);
    expect_invalid(im, "metadata.name", "required");
    test_set_str(&im->meta.name,
                 "registry:5000/a/b@sha256:"
                 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    error_init(&err);
    assert_int_equal(api_object_validate(im, &err), 0);
    test_set_str(&im->u.image.claim.type, "OCI");
    expect_invalid(im, "spec.ociClaim.type", "\"OCI\"");
    api_object_free(im);

    struct api_object *k = test_data_object("kernel-ignite.json");
    error_init(&err);
    assert_int_equal(api_object_validate(k, &err), 0);
    test_set_str(&k->u.kernel.claim.ref, "a//b");
    expect_invalid(k, "spec.ociClaim.ref", "\"a//b\"");
    api_object_free(k);

    struct api_object *p = test_data_object("pool-ignite.json");
    error_init(&err);
    if (api_object_validate(p, &err) < 0)
        fail_msg("%s", err.msg);
    p->u.pool.allocation_size = 1000;
    expect_invalid(p, "spec.allocationSize", "\"1000B\"");
    p->u.pool.allocation_size = 64ull << 10;
    p->u.pool.metadata_size = 1ull << 20;
    expect_invalid(p, "spec.metadataSize", "\"1MB\"");
    p->u.pool.metadata_size = 75ull << 20;
    test_set_str(&p->u.pool.data_path, "data.img");
    expect_invalid(p, "spec.dataPath", "\"data.img\"");
    /* Paths hearth makes and removes files at: clean, so none leaves where it says. */
    test_set_str(&p->u.pool.data_path, "/var/lib/hearth/../../etc/x");
    expect_invalid(p, "spec.dataPath", "is not an absolute path without '.' or '..' components");
    test_set_str(&p->u.pool.metadata_path, "/var/lib/hearth/./m");
    expect_invalid(p, "spec.metadataPath", "\"/var/lib/hearth/./m\"");
    test_set_str(&p->u.pool.metadata_path, "/m\n");
    expect_invalid(p, "spec.metadataPath", "\"/m\\x0a\"");
    test_set_str(&p->u.pool.metadata_path, "/m");
    test_set_str(&p->u.pool.data_path, "/d");
    p->u.pool.devices[3].parent = 7;
    expect_invalid(p, "status.devices[3].parent", "7 is not another device");
    p->u.pool.devices[3].parent = 2; /* the hole */
    expect_invalid(p, "status.devices[3].parent", "2");
    p->u.pool.devices[3].parent = 3; /* itself */
    expect_invalid(p, "status.devices[3].parent", "3");
    p->u.pool.devices[3].parent = 1;
    test_set_str(&p->u.pool.devices[1].type, "Disk");
    expect_invalid(p, "status.devices[1].type", "\"Disk\"");
    api_object_free(p);
}

int object_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_new_free),
        cmocka_unit_test(test_vm_defaults),
        cmocka_unit_test(test_image_kernel_defaults),
        cmocka_unit_test(test_pool_defaults),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_dup_oom),
        cmocka_unit_test(test_parse_oom),
        cmocka_unit_test(test_validate_vm),
        cmocka_unit_test(test_validate_labels),
        cmocka_unit_test(test_validate_image_kernel_pool),
    };
    return cmocka_run_group_tests_name("api objects", tests, NULL, NULL);
}
