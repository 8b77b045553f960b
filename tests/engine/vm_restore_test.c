/*
 * Tests of what a new user does with documents rather than `create`, on the
 * file pool in a temporary root with fcfake as the firecracker (as
 * vm_run_test.c): a test image built here as an OCI layout, Debian's kernel
 * from /boot with a fake modules directory.
 *
 * - apply of a VM, then start: the disk is built through create's chain
 *   (Image -> Resize -> Kernel -> VM) and the VM runs; an apply of cpus and
 *   memory takes effect at the next start (launch.json); a new image, kernel
 *   or disk size of a VM that has a disk is refused, saying how;
 * - a crash at every fault point of that disk build (a child killed there,
 *   as in vm_create_test.c): the next open leaves the VM recorded in its
 *   state, without a half-made disk, nothing open, doctor clean;
 * - export of one root applied into an empty one: the runtime status is
 *   skipped, start names the image and kernel that came from local sources
 *   and the command that brings them, which imports them into the recorded
 *   objects (same uids), and then the VM starts; a crash at the import's
 *   fault points during such a restore rolls it back;
 * - references resolved here first, as `docker run` does (id prefixes,
 *   name without a tag meaning latest, kernels alike) with every registry
 *   unreachable (a proxy on a closed port), and the messages when nothing
 *   here matches.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"

#define MiB (UINT64_C(1) << 20)
/* A proxy on a port where nothing listens: any registry access fails at once. */
#define NO_NETWORK "http://127.0.0.1:9"

struct rfix {
    char dir[256];
    char root[300];
    char layout[300];
    char version[256];
    char kernel_uid[ID_LEN + 1];
    char image_uid[ID_LEN + 1];
    engine *eng;
    struct engine_vm_start_opts opts;
};

static const struct engine_test_entry box[] = {
    {"bin", NULL, NULL},
    {"bin/marker", "hearth restore marker\n", NULL},
    {"etc", NULL, NULL},
    {"root", NULL, NULL},
};

static void no_network(bool on) {
    static const char *const vars[] = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"};
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
        if (on)
            setenv(vars[i], NO_NETWORK, 1);
        else
            unsetenv(vars[i]);
    }
}

static void image_import(engine *eng, const char *src, char *ret_uid, char *ret_name,
                         size_t name_size) {
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_image_import(eng, src, NULL, &res, &err) < 0)
        fail_msg("import %s: %s", src, err.msg);
    if (ret_uid)
        memcpy(ret_uid, res.uid, ID_LEN + 1);
    if (ret_name)
        snprintf(ret_name, name_size, "%s", res.name);
}

static int setup(void **state) {
    const char *fc = getenv("HEARTH_FCFAKE");
    if (!fc || !getenv("HEARTH_FC_SPEC"))
        fail_msg("HEARTH_FCFAKE/HEARTH_FC_SPEC not set (run the tests through ctest)");
    struct rfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-restore-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->layout, sizeof(f->layout), "%s/box", f->dir);
    engine_test_reopen(f->root, &f->eng);
    engine_test_pool_init(f->eng, f->root, 4096 * MiB, 0, 0);
    *state = f;
    if (!engine_test_kernel_import(f->eng, f->dir, "test-kernel:1", f->kernel_uid, f->version,
                                   sizeof(f->version)))
        return 0; /* each test fails in NEED_FIXTURE, and the teardown still runs */
    engine_test_tree_layout(f->layout, "1", box, ARRAY_SIZE(box));
    char name[600], src[400];
    snprintf(src, sizeof(src), "oci-layout:%s:1", f->layout);
    image_import(f->eng, src, f->image_uid, name, sizeof(name));
    assert_string_equal(name, "localhost/box:1");
    f->opts = (struct engine_vm_start_opts){.vmm = "firecracker", .firecracker_bin = fc};
    return 0;
}

static int teardown(void **state) {
    struct rfix *f = *state;
    if (!f)
        return 0;
    no_network(false);
    /* Whatever still runs goes with the root. */
    struct api_object **vms = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (f->eng && engine_list(f->eng, API_KIND_VM, &vms, &n, &err) == 0)
        for (size_t i = 0; i < n; i++)
            if (vms[i]->u.vm.state == API_VM_RUNNING)
                (void)!engine_vm_kill(f->eng, vms[i]->meta.uid, NULL, &err);
    api_objects_free(vms, n);
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

#define NEED_FIXTURE(f)                                                                            \
    do {                                                                                           \
        if (!(f)->image_uid[0])                                                                    \
            fail_msg("no kernel in /boot: apt-get install linux-image-amd64 "                      \
                     "(scripts/install-deps)");                                                    \
    } while (0)

/* ---- helpers ------------------------------------------------------------- */

/* Applies YAML to eng; the result code, the last document's result in *ret (may be NULL). */
static int apply_yaml(engine *eng, const char *yaml, struct engine_apply_result *ret,
                      struct error *err) {
    struct api_object **objs = NULL;
    size_t n = 0;
    error_init(err);
    if (api_docs_parse(yaml, strlen(yaml), "vm.yaml", &objs, &n, err) < 0)
        fail_msg("parse: %s", err->msg);
    struct engine_apply_result *res = NULL;
    int r = engine_apply(eng, objs, n, &res, NULL, err);
    if (r == 0 && ret)
        *ret = res[n - 1];
    free(res);
    api_objects_free(objs, n);
    return r;
}

/* A VM document: image and kernel references, disk size, cpus, memory. */
static void vm_yaml(char *buf, size_t size, const char *name, const char *image, const char *kernel,
                    const char *disk, int cpus, const char *memory) {
    int len = snprintf(buf, size,
                       "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: %s\n"
                       "spec:\n  image:\n    ociClaim:\n      ref: %s\n",
                       name, image);
    if (kernel)
        len += snprintf(buf + len, size - (size_t)len,
                        "  kernel:\n    ociClaim:\n      ref: %s\n"
                        "    cmdLine: console=ttyS0 reboot=k panic=1\n",
                        kernel);
    snprintf(buf + len, size - (size_t)len, "  diskSize: %s\n  cpus: %d\n  memory: %s\n", disk,
             cpus, memory);
}

static void apply_vm(struct rfix *f, const char *name, const char *kernel, const char *disk,
                     int cpus, const char *memory, struct engine_apply_result *ret) {
    char doc[1024];
    vm_yaml(doc, sizeof(doc), name, "localhost/box:1", kernel, disk, cpus, memory);
    struct error err;
    if (apply_yaml(f->eng, doc, ret, &err) < 0)
        fail_msg("apply: %s", err.msg);
}

static struct api_object *get_vm(engine *eng, const char *ref) {
    struct api_object *obj = NULL;
    struct error err;
    error_init(&err);
    if (engine_get(eng, API_KIND_VM, ref, &obj, &err) < 0)
        fail_msg("get %s: %s", ref, err.msg);
    return obj;
}

static void assert_state(engine *eng, const char *ref, const char *want) {
    struct api_object *vm = get_vm(eng, ref);
    assert_string_equal(api_vm_state_name(vm->u.vm.state), want);
    api_object_free(vm);
}

static bool has_disk(engine *eng, const char *uid) {
    uint32_t dev;
    struct error err;
    error_init(&err);
    return engine_vm_device(eng, uid, &dev, &err) == 0;
}

/* Pool rows of type (NULL: any) and state (NULL: any). */
static size_t rows(engine *eng, const char *type, const char *state) {
    struct engine_device *d = NULL;
    size_t n = 0, k = 0;
    struct error err;
    error_init(&err);
    if (engine_pool_devices(eng, &d, &n, &err) < 0)
        fail_msg("devices: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        if ((!type || !strcmp(d[i].type, type)) &&
            (!state || !strcmp(engine_pool_state_name(d[i].state), state)))
            k++;
    engine_devices_free(d, n);
    return k;
}

/* The cpus and memory of a running VM's launch.json. */
static void launched(struct rfix *f, const char *uid, long *cpus, long *memory) {
    char path[600];
    snprintf(path, sizeof(path), "%s/run/vm/%s/launch.json", f->root, uid);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s", path, je.text);
    *cpus = (long)json_integer_value(json_object_get(j, "cpus"));
    *memory = (long)json_integer_value(json_object_get(j, "memory"));
    json_decref(j);
}

static void start_ok(struct rfix *f, engine *eng, const char *ref,
                     struct engine_vm_start_result *ret) {
    struct engine_vm_start_result res;
    struct error err;
    error_init(&err);
    if (engine_vm_start(eng, ref, &f->opts, &res, &err) < 0)
        fail_msg("start %s: %s", ref, err.msg);
    if (ret)
        *ret = res;
}

static void kill_ok(engine *eng, const char *ref) {
    struct error err;
    error_init(&err);
    if (engine_vm_kill(eng, ref, NULL, &err) < 0)
        fail_msg("kill %s: %s", ref, err.msg);
}

static void assert_has(const char *msg, const char *needle) {
    if (!strstr(msg, needle))
        fail_msg("no '%s' in: %s", needle, msg);
}

/* ---- apply, then start -------------------------------------------------- */

static void test_apply_then_start(void **state) {
    struct rfix *f = *state;
    NEED_FIXTURE(f);
    struct engine_apply_result res;
    apply_vm(f, "web", "test-kernel:1", "64MB", 1, "128MB", &res);
    assert_int_equal(res.action, ENGINE_APPLY_CREATED);
    char uid[ID_LEN + 1];
    memcpy(uid, res.uid, sizeof(uid));
    assert_false(has_disk(f->eng, uid));
    assert_state(f->eng, "web", "Created");

    /* start builds the disk through create's chain, then starts. */
    struct engine_vm_start_result sres;
    start_ok(f, f->eng, "web", &sres);
    assert_true(has_disk(f->eng, uid));
    assert_int_equal(rows(f->eng, "Resize", "active"), 1);
    assert_int_equal(rows(f->eng, "Kernel", "active"), 1);
    assert_int_equal(rows(f->eng, "VM", "active"), 1);
    assert_state(f->eng, "web", "Running");
    struct api_object *vm = get_vm(f->eng, "web");
    assert_string_equal(vm->u.vm.status_image.internal_uid, f->image_uid);
    assert_string_equal(vm->u.vm.status_kernel.internal_uid, f->kernel_uid);
    api_object_free(vm);
    long cpus = 0, memory = 0;
    launched(f, uid, &cpus, &memory);
    assert_int_equal(cpus, 1);
    assert_int_equal(memory, 128 * MiB);
    kill_ok(f->eng, "web");
    assert_state(f->eng, "web", "Stopped");

    /* cpus and memory of a stopped VM: the next start has them. */
    apply_vm(f, "web", "test-kernel:1", "64MB", 2, "256MB", &res);
    assert_int_equal(res.action, ENGINE_APPLY_CONFIGURED);
    start_ok(f, f->eng, "web", NULL);
    launched(f, uid, &cpus, &memory);
    assert_int_equal(cpus, 2);
    assert_int_equal(memory, 256 * MiB);
    assert_int_equal(rows(f->eng, "VM", NULL), 1); /* the same disk */
    kill_ok(f->eng, "web");

    /* What the disk was built from cannot change: each refusal says how, and changes nothing. */
    char doc[1024];
    struct error err;
    vm_yaml(doc, sizeof(doc), "web", "localhost/box:1", "test-kernel:1", "128MB", 2, "256MB");
    assert_int_equal(apply_yaml(f->eng, doc, NULL, &err), -EINVAL);
    assert_has(err.msg, "spec.diskSize");
    assert_has(err.msg, "hearth rm web");
    engine_test_tree_layout(f->layout, "2", box, ARRAY_SIZE(box));
    char src[400];
    snprintf(src, sizeof(src), "oci-layout:%s:2", f->layout);
    image_import(f->eng, src, NULL, NULL, 0);
    vm_yaml(doc, sizeof(doc), "web", "localhost/box:2", "test-kernel:1", "64MB", 2, "256MB");
    assert_int_equal(apply_yaml(f->eng, doc, NULL, &err), -EINVAL);
    assert_has(err.msg, "spec.image.ociClaim.ref");
    assert_has(err.msg, "hearth rm web");
    char kuid[ID_LEN + 1], version[256];
    assert_true(engine_test_kernel_import(f->eng, f->dir, "other-kernel:1", kuid, version,
                                          sizeof(version)));
    vm_yaml(doc, sizeof(doc), "web", "localhost/box:1", "other-kernel:1", "64MB", 2, "256MB");
    assert_int_equal(apply_yaml(f->eng, doc, NULL, &err), -EINVAL);
    assert_has(err.msg, "spec.kernel.ociClaim.ref");
    vm = get_vm(f->eng, "web");
    assert_int_equal(vm->u.vm.disk_size, 64 * MiB);
    assert_string_equal(vm->u.vm.kernel_claim->ref, "test-kernel:1");
    api_object_free(vm);

    /* The same references written another way, and no kernel named: not a change. */
    vm_yaml(doc, sizeof(doc), "web", f->image_uid, NULL, "64MB", 2, "256MB");
    if (apply_yaml(f->eng, doc, &res, &err) < 0)
        fail_msg("apply: %s", err.msg);
    vm = get_vm(f->eng, "web");
    assert_string_equal(vm->u.vm.kernel_claim->ref, "test-kernel:1");
    assert_string_equal(vm->u.vm.status_image.internal_uid, f->image_uid);
    api_object_free(vm);

    /* A VM whose disk is being built takes no change. */
    assert_int_equal(store_vm_state_set(f->eng->store, uid, API_VM_CREATING, &err), 0);
    vm_yaml(doc, sizeof(doc), "web", "localhost/box:1", "test-kernel:1", "64MB", 3, "256MB");
    assert_int_equal(apply_yaml(f->eng, doc, NULL, &err), -EBUSY);
    assert_has(err.msg, "being created");
    assert_int_equal(store_vm_state_set(f->eng->store, uid, API_VM_STOPPED, &err), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

/* ---- crashes in the disk build of a start --------------------------------- */

/* A start that the crash test runs in its child (engine_test_crash_child). */
struct start_run {
    struct rfix *f;
    const char *name;
};

static void do_start(engine *e, void *ud) {
    const struct start_run *run = ud;
    struct error err;
    error_init(&err);
    if (engine_vm_start(e, run->name, &run->f->opts, NULL, &err) < 0)
        print_message("  start: %s\n", err.msg);
}

static void test_disk_build_crashes(void **state) {
    struct rfix *f = *state;
    NEED_FIXTURE(f);
    static const struct {
        const char *point;
        bool disk; /* the disk survives recovery */
    } cases[] = {
        {"vm.create.after-intent", false},
        {"vm.layer.after-intent", false},
        {"vm.layer.after-snapshot", false},
        {"vm.layer.after-build", false},
        /* The Resize layer is built from here on; the Kernel layer's points. */
        {"vm.layer.after-intent@2", false},
        {"vm.layer.after-snapshot", false},
        {"vm.layer.after-build", false},
        {"vm.create.after-layers", false},
        {"pool.snapshot.after-intent", false},
        {"pool.snapshot.after-act", false},
        {"pool.snapshot.after-commit", false},
        {"vm.create.after-device", false},
        {"vm.create.after-files", true},
        {"vm.create.after-commit", true},
    };
    size_t disks = 0;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char name[32];
        snprintf(name, sizeof(name), "vm%zu", i);
        struct engine_apply_result res;
        apply_vm(f, name, "test-kernel:1", "64MB", 1, "128MB", &res);
        print_message("  crash at %s\n", cases[i].point);
        struct start_run run = {f, name};
        engine_test_crash_child(f->root, &f->eng, cases[i].point, do_start, &run);
        if (cases[i].disk)
            disks++;
        /* The VM is kept in the state it had, with a whole disk or none. */
        assert_state(f->eng, name, "Created");
        assert_int_equal(has_disk(f->eng, res.uid), cases[i].disk);
        assert_int_equal(rows(f->eng, "VM", NULL), disks);
        assert_int_equal(rows(f->eng, NULL, "planned"), 0);
        assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
        assert_int_equal(engine_test_open_ops(f->eng), 0);
        assert_int_equal(engine_test_doctor_count(f->eng), 0);
    }
    assert_int_equal(rows(f->eng, "Resize", NULL), 1);
    assert_int_equal(rows(f->eng, "Kernel", NULL), 1);
    /* A rolled-back one starts afterwards, building its disk then. */
    start_ok(f, f->eng, "vm0", NULL);
    assert_state(f->eng, "vm0", "Running");
    kill_ok(f->eng, "vm0");
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

/* ---- an export applied into an empty root ---------------------------------- */

/* A second root with everything of the first applied: *ret its engine. */
static void restore_into(struct rfix *f, const char *sub, engine **ret, char *root, size_t size) {
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    assert_int_equal(engine_export(f->eng, NULL, 0, &objs, &n, &err), 0);
    snprintf(root, size, "%s/%s", f->dir, sub);
    engine *e2 = NULL;
    engine_test_reopen(root, &e2);
    struct engine_apply_result *res = NULL;
    if (engine_apply(e2, objs, n, &res, NULL, &err) < 0)
        fail_msg("apply into an empty root: %s", err.msg);
    unsigned skipped = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(res[i].action, ENGINE_APPLY_CREATED);
        skipped |= res[i].skipped;
    }
    /* The first root's devices and paths are its own. */
    assert_int_equal(objs[0]->kind, API_KIND_POOL);
    assert_true(skipped & ENGINE_APPLY_SKIP_DEVICES);
    assert_true(skipped & ENGINE_APPLY_SKIP_POOL_PATHS);
    char line[1024];
    engine_apply_skipped_describe(skipped, 1, line, sizeof(line));
    assert_has(line, "Pool status.devices");
    free(res);
    api_objects_free(objs, n);
    *ret = e2;
}

static void test_restore_from_export(void **state) {
    struct rfix *f = *state;
    NEED_FIXTURE(f);
    struct engine_apply_result res;
    apply_vm(f, "web", "test-kernel:1", "64MB", 1, "128MB", &res);
    start_ok(f, f->eng, "web", NULL); /* it has a disk and has run in the first root */
    kill_ok(f->eng, "web");

    engine *e2 = NULL;
    char root2[400];
    restore_into(f, "second", &e2, root2, sizeof(root2));
    no_network(true);
    assert_int_equal(rows(e2, NULL, NULL), 0);

    /* The image came from a layout: start says which and how to bring it. */
    struct error err;
    error_init(&err);
    assert_int_equal(engine_vm_start(e2, "web", &f->opts, NULL, &err), -ENOENT);
    assert_has(err.msg, "localhost/box:1");
    assert_has(err.msg, "hearth image import oci-layout:");
    assert_state(e2, "web", "Stopped");
    assert_int_equal(engine_test_open_ops(e2), 0);
    /* doctor names the command for the kernel whose files were never here. */
    struct engine_doctor_report rep = {0};
    assert_int_equal(engine_doctor(e2, false, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    assert_string_equal(rep.items[0].kind, "missing-kernel-files");
    assert_has(rep.items[0].message, "hearth kernel import --vmlinux PATH");
    assert_has(rep.items[0].message, "test-kernel:1");
    engine_doctor_report_release(&rep);

    /* That command imports into the recorded image: the same uid. */
    char src[400], uid[ID_LEN + 1];
    snprintf(src, sizeof(src), "oci-layout:%s:1", f->layout);
    image_import(e2, src, uid, NULL, 0);
    assert_string_equal(uid, f->image_uid);

    /* The kernel came from local files: its pull fails, and the message says what to do. */
    error_init(&err);
    assert_true(engine_vm_start(e2, "web", &f->opts, NULL, &err) < 0);
    assert_has(err.msg, "kernel 'test-kernel:1'");
    assert_has(err.msg, "hearth kernel import --vmlinux PATH");
    assert_state(e2, "web", "Stopped");
    char kuid[ID_LEN + 1], version[256];
    assert_true(
        engine_test_kernel_import(e2, f->dir, "test-kernel:1", kuid, version, sizeof(version)));
    assert_string_equal(kuid, f->kernel_uid);

    /* Now the VM starts: its disk is built here, as its status says. */
    start_ok(f, e2, "web", NULL);
    assert_state(e2, "web", "Running");
    struct api_object *vm = get_vm(e2, "web");
    assert_string_equal(vm->u.vm.status_image.internal_uid, f->image_uid);
    assert_string_equal(vm->u.vm.status_kernel.internal_uid, f->kernel_uid);
    api_object_free(vm);
    kill_ok(e2, "web");
    assert_int_equal(engine_test_doctor_count(e2), 0);
    engine_free(e2);
}

/* What test_restore_crashes runs in its child: the kernel's import, or the image's from src. */
struct import_run {
    struct rfix *f;
    const char *src; /* NULL: the kernel */
};

static void do_import(engine *e, void *ud) {
    const struct import_run *run = ud;
    char u[ID_LEN + 1], v[256];
    if (!run->src)
        (void)engine_test_kernel_import(e, run->f->dir, "test-kernel:1", u, v, sizeof(v));
    else
        image_import(e, run->src, NULL, NULL, 0);
}

static void test_restore_crashes(void **state) {
    struct rfix *f = *state;
    NEED_FIXTURE(f);
    engine *e2 = NULL;
    char root2[400];
    restore_into(f, "second", &e2, root2, sizeof(root2));
    engine_free(e2);
    e2 = NULL;
    char src[400];
    snprintf(src, sizeof(src), "oci-layout:%s:1", f->layout);
    static const char *const points[] = {
        "image.import.after-intent",  "image.import.after-unpack",  "image.import.after-device",
        "image.import.after-build",   "image.import.after-cleanup", "kernel.import.after-intent",
        "kernel.import.after-files",  "kernel.import.after-rename", "image.import.after-commit",
        "kernel.import.after-commit",
    };
    bool image_done = false;
    for (size_t i = 0; i < ARRAY_SIZE(points); i++) {
        bool kernel = str_starts_with(points[i], "kernel.");
        bool done = strstr(points[i], "after-commit") != NULL;
        print_message("  crash at %s\n", points[i]);
        /* recovery, as engine_test_crash_child reopens e2: a restore is rolled back */
        struct import_run run = {f, kernel ? NULL : src};
        engine_test_crash_child(root2, &e2, points[i], do_import, &run);
        enum api_kind kind = kernel ? API_KIND_KERNEL : API_KIND_IMAGE;
        const char *uid = kernel ? f->kernel_uid : f->image_uid;
        struct api_object *obj = NULL;
        struct error err;
        error_init(&err);
        assert_int_equal(store_object_get(e2->store, kind, uid, &obj, &err), 0); /* kept */
        api_object_free(obj);
        bool have = true;
        assert_int_equal(engine_object_has_data(e2, kind, uid, &have, &err), 0);
        assert_int_equal(have, done);
        if (!kernel && done)
            image_done = true;
        assert_int_equal(rows(e2, "Image", NULL), image_done ? 1 : 0);
        assert_int_equal(engine_test_entries(root2, "tmp"), 0);
        assert_int_equal(engine_test_open_ops(e2), 0);
        /* Only the kernel without files remains for doctor, until it is imported. */
        bool kernel_here = false;
        assert_int_equal(
            engine_object_has_data(e2, API_KIND_KERNEL, f->kernel_uid, &kernel_here, &err), 0);
        assert_int_equal(engine_test_doctor_count(e2), kernel_here ? 0 : 1);
        engine_free(e2);
        e2 = NULL;
    }
}

/* ---- references resolved here first ------------------------------------------ */

static struct api_object *vm_doc(const char *image, const char *kernel) {
    struct api_object *o = api_object_new(API_KIND_VM);
    assert_non_null(o);
    o->u.vm.image_claim = xcalloc(1, sizeof(*o->u.vm.image_claim));
    o->u.vm.image_claim->ref = xstrdup(image);
    o->u.vm.kernel_claim = xcalloc(1, sizeof(*o->u.vm.kernel_claim));
    o->u.vm.kernel_claim->ref = xstrdup(kernel);
    o->u.vm.disk_size = 64 * MiB;
    return o;
}

/* create with these references: 0 and the claims recorded, or the error. */
static int create(struct rfix *f, const char *image, const char *kernel, char *ret_image,
                  char *ret_kernel, struct error *err) {
    struct api_object *doc = vm_doc(image, kernel);
    struct engine_vm_create_result res;
    error_init(err);
    int r = engine_vm_create(f->eng, doc, NULL, &res, err);
    api_object_free(doc);
    if (r < 0)
        return r;
    struct api_object *vm = get_vm(f->eng, res.uid);
    snprintf(ret_image, 300, "%s", vm->u.vm.image_claim->ref);
    snprintf(ret_kernel, 300, "%s", vm->u.vm.kernel_claim->ref);
    api_object_free(vm);
    return 0;
}

static void test_local_references(void **state) {
    struct rfix *f = *state;
    NEED_FIXTURE(f);
    no_network(true); /* a pull would fail: what succeeds was found here */
    char img[300], ker[300], prefix[8];
    struct error err;
    snprintf(prefix, sizeof(prefix), "%.6s", f->image_uid);
    if (create(f, prefix, "test-kernel:1", img, ker, &err) < 0)
        fail_msg("create %s: %s", prefix, err.msg);
    assert_string_equal(img, "localhost/box:1");

    /* A name without a tag means latest, as in docker run. */
    char src[400], name[600];
    snprintf(src, sizeof(src), "oci-layout:%s", f->layout); /* the layout's only image */
    image_import(f->eng, src, NULL, name, sizeof(name));
    assert_string_equal(name, "localhost/box:latest");
    if (create(f, "localhost/box", "test-kernel:1", img, ker, &err) < 0)
        fail_msg("create localhost/box: %s", err.msg);
    assert_string_equal(img, "localhost/box:latest");

    /* Kernels alike: an id prefix, the full reference of a short name. */
    snprintf(prefix, sizeof(prefix), "%.5s", f->kernel_uid);
    if (create(f, "localhost/box:1", prefix, img, ker, &err) < 0)
        fail_msg("create -k %s: %s", prefix, err.msg);
    assert_string_equal(ker, "test-kernel:1");
    if (create(f, "localhost/box:1", "docker.io/library/test-kernel:1", img, ker, &err) < 0)
        fail_msg("create -k docker.io/library/test-kernel:1: %s", err.msg);
    assert_string_equal(ker, "test-kernel:1");

    /* Nothing here matches: a localhost/ name is not pulled, and says what is here. */
    assert_int_equal(create(f, "localhost/box:9", "test-kernel:1", img, ker, &err), -ENOENT);
    assert_has(err.msg, "no local image matches 'localhost/box:9'");
    assert_has(err.msg, "'localhost/box:1'");
    assert_has(err.msg, "oci-layout:");
    /* Anything else is pulled, and the failure says that nothing here matched. */
    assert_true(create(f, "localhost/box:1", "nosuch", img, ker, &err) < 0);
    assert_has(err.msg, "no local kernel matches 'nosuch'");
    assert_true(create(f, "nosuch-image:2", "test-kernel:1", img, ker, &err) < 0);
    assert_has(err.msg, "no local image matches 'nosuch-image:2'");

    /* An id prefix of two images is ambiguous. */
    struct engine_apply_result res;
    assert_int_equal(
        apply_yaml(f->eng,
                   "apiVersion: ignite.weave.works/v1alpha1\nkind: Image\nmetadata:\n"
                   "  name: x:1\n  uid: 'abcd000000000001'\nspec:\n  ociClaim:\n    ref: x:1\n"
                   "---\napiVersion: ignite.weave.works/v1alpha1\nkind: Image\nmetadata:\n"
                   "  name: x:2\n  uid: 'abcd000000000002'\nspec:\n  ociClaim:\n    ref: x:2\n",
                   &res, &err),
        0);
    assert_int_equal(create(f, "abcd", "test-kernel:1", img, ker, &err), -EINVAL);
    assert_has(err.msg, "ambiguous");

    /* A path that holds a layout is not a reference: the message says how to import it. */
    struct engine_import_result ires;
    error_init(&err);
    assert_int_equal(engine_image_import(f->eng, f->layout, NULL, &ires, &err), -EINVAL);
    assert_has(err.msg, "oci-layout:");
    assert_int_equal(engine_test_open_ops(f->eng), 0);
}

const struct CMUnitTest engine_vm_restore_tests[] = {
    cmocka_unit_test_setup_teardown(test_apply_then_start, setup, teardown),
    cmocka_unit_test_setup_teardown(test_disk_build_crashes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restore_from_export, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restore_crashes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_local_references, setup, teardown),
};
const size_t engine_vm_restore_tests_n = ARRAY_SIZE(engine_vm_restore_tests);
