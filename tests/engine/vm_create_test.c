/*
 * Tests of engine_vm_create on the file pool in a temporary root (on dm-thin
 * inside the QEMU guest, HEARTH_TEST_DM=1: ctest's engine_dm_guest), with the
 * real oci module, e2fsprogs and ssh-keygen: an image built here as an OCI
 * layout (with symlinks when a test needs a hostile guest) and a kernel from
 * Debian's /boot/vmlinuz-* with a tiny fake modules directory (the tests
 * fail without one: linux-image-amd64 is a fixture).
 *
 * What is checked: the chain VM -> Kernel -> Resize -> Image with the layer
 * keys, the files in the VM's filesystem (read back with debugfs), the
 * modules in the Kernel layer, a clean e2fsck and a filesystem of the disk
 * size; reuse of layers; ssh key generation; guest symlinks and missing copy
 * files refused with nothing left; an image with a merged /usr (/lib a
 * symlink) getting its modules below /usr/lib; a crash at every fault point leaving no
 * Creating VM, no VM device, no planned layer and doctor clean; concurrent
 * creates building each layer once; rmi and rmk taking the layers; Ctrl-C
 * (the cancel flag) undoing a create.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"
#include "net/net.h"

#define MiB (UINT64_C(1) << 20)
#define DISK (64 * MiB)

struct vfix {
    char dir[256];
    char root[300];
    char layout[300];
    char version[256];
    char kernel_uid[ID_LEN + 1];
    engine *eng;
};

static void file_put(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* ---- the test image --------------------------------------------------------- */

static const struct engine_test_entry box[] = {
    {"bin", NULL, NULL},  {"bin/marker", "hearth vm marker\n", NULL},
    {"etc", NULL, NULL},  {"etc/hostname", "box\n", NULL},
    {"root", NULL, NULL},
};

/* Imports the image at f->layout (tag tag) as localhost/<name>:<tag>. */
static void image_import(struct vfix *f, const char *layout, const char *tag, char *ret_name,
                         size_t size) {
    char src[512];
    snprintf(src, sizeof(src), "oci-layout:%s:%s", layout, tag);
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_image_import(f->eng, src, NULL, &res, &err) < 0)
        fail_msg("import: %s", err.msg);
    snprintf(ret_name, size, "%s", res.name);
}

/* ---- fixtures ------------------------------------------------------------ */

/* Debian's kernel with a fake modules directory, imported as test-kernel:1; false without one. */
static bool kernel_import(struct vfix *f) {
    return engine_test_kernel_import(f->eng, f->dir, "test-kernel:1", f->kernel_uid, f->version,
                                     sizeof(f->version));
}

static int vm_setup(void **state) {
    struct vfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-vm-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->layout, sizeof(f->layout), "%s/box", f->dir);
    engine_test_reopen(f->root, &f->eng);
    /* In the dm-thin guest (HEARTH_TEST_DM=1, tests/guest) the same tests run on dm-thin. */
    engine_test_pool_init(f->eng, f->root, 8192 * MiB, 2048 * MiB, 16 * MiB);
    *state = f;
    if (!kernel_import(f))
        return 0; /* each test fails in NEED_KERNEL, and the teardown still runs */
    engine_test_tree_layout(f->layout, "1", box, ARRAY_SIZE(box));
    char name[512];
    image_import(f, f->layout, "1", name, sizeof(name));
    assert_string_equal(name, "localhost/box:1");
    return 0;
}

static int vm_teardown(void **state) {
    struct vfix *f = *state;
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

#define NEED_KERNEL(f)                                                                             \
    do {                                                                                           \
        if (!(f)->kernel_uid[0])                                                                   \
            fail_msg("no kernel in /boot: apt-get install linux-image-amd64 "                      \
                     "(scripts/install-deps)");                                                    \
    } while (0)

/* ---- helpers ------------------------------------------------------------- */

/* A VM document: image localhost/box:1, the test kernel unless kernel is NULL. */
static struct api_object *vm_doc(const char *name, const char *kernel, uint64_t disk) {
    struct api_object *o = api_object_new(API_KIND_VM);
    assert_non_null(o);
    o->meta.name = name ? xstrdup(name) : NULL;
    o->u.vm.image_claim = xcalloc(1, sizeof(*o->u.vm.image_claim));
    o->u.vm.image_claim->ref = xstrdup("localhost/box:1");
    if (kernel) {
        o->u.vm.kernel_claim = xcalloc(1, sizeof(*o->u.vm.kernel_claim));
        o->u.vm.kernel_claim->ref = xstrdup(kernel);
    }
    o->u.vm.disk_size = disk;
    return o;
}

static int create(struct vfix *f, const struct api_object *doc, struct engine_vm_create_result *res,
                  struct error *err) {
    error_init(err);
    return engine_vm_create(f->eng, doc, NULL, res, err);
}

static struct engine_device *rows(struct vfix *f, size_t *n) {
    struct engine_device *d = NULL;
    struct error err;
    error_init(&err);
    if (engine_pool_devices(f->eng, &d, n, &err) < 0)
        fail_msg("devices: %s", err.msg);
    return d;
}

/* Rows of type (NULL: any) and state (NULL: any). */
static size_t count_rows(struct vfix *f, const char *type, const char *state) {
    size_t n = 0, k = 0;
    struct engine_device *d = rows(f, &n);
    for (size_t i = 0; i < n; i++)
        if ((!type || !strcmp(d[i].type, type)) &&
            (!state || !strcmp(engine_pool_state_name(d[i].state), state)))
            k++;
    engine_devices_free(d, n);
    return k;
}

/* Every row's parent has a row. */
static void assert_parents_exist(struct vfix *f) {
    size_t n = 0;
    struct engine_device *d = rows(f, &n);
    for (size_t i = 0; i < n; i++) {
        if (d[i].parent == ENGINE_DEVICE_PARENT_NONE)
            continue;
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found = found || (int64_t)d[k].id == d[i].parent;
        if (!found)
            fail_msg("device %u has a gone parent %lld", d[i].id, (long long)d[i].parent);
    }
    engine_devices_free(d, n);
}

static struct store_pool_device row_of(struct vfix *f, uint32_t id) {
    struct store_pool_device d;
    struct error err;
    error_init(&err);
    if (store_pool_device_get(f->eng->store, id, &d, &err) < 0)
        fail_msg("device %u: %s", id, err.msg);
    return d;
}

static char *dev_path(struct vfix *f, uint32_t id) {
    char *path = NULL;
    struct error err;
    error_init(&err);
    if (engine_pool_device_activate(f->eng, id, &path, &err) < 0)
        fail_msg("activate %u: %s", id, err.msg);
    return path;
}

/* debugfs -R cmd on the device's file; caller frees. */
static char *dbg(const char *path, const char *cmd) {
    struct strbuf out = STRBUF_INIT;
    struct error err;
    error_init(&err);
    const char *argv[] = {"debugfs", "-R", cmd, path, NULL};
    if (exec_run(argv, &(struct exec_opts){.out = &out}, &err) < 0)
        fail_msg("debugfs %s: %s", cmd, err.msg);
    return strbuf_detach(&out);
}

static void assert_mode(const char *path, const char *guest, const char *mode) {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "stat %s", guest);
    char *out = dbg(path, cmd);
    char want[64];
    snprintf(want, sizeof(want), "Mode:  %s", mode);
    if (!strstr(out, want))
        fail_msg("%s: no '%s' in: %.300s", guest, want, out);
    free(out);
}

static size_t count_vms(struct vfix *f, const char *state) {
    struct api_object **objs = NULL;
    size_t n = 0, k = 0;
    struct error err;
    error_init(&err);
    if (engine_list(f->eng, API_KIND_VM, &objs, &n, &err) < 0)
        fail_msg("list: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (!state ||
            !strcmp(api_vm_state_name(objs[i]->u.vm.state) ? api_vm_state_name(objs[i]->u.vm.state)
                                                           : "",
                    state))
            k++;
    api_objects_free(objs, n);
    return k;
}

/* No VM half made: no Creating VM, no VM device without a VM, no planned row, nothing open. */
static void assert_consistent(struct vfix *f) {
    assert_int_equal(count_vms(f, "Creating"), 0);
    assert_int_equal(count_rows(f, NULL, "planned"), 0);
    assert_int_equal(count_rows(f, "VM", NULL), count_vms(f, NULL));
    assert_int_equal(engine_test_entries(f->root, "vm"), count_vms(f, NULL));
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
    assert_parents_exist(f);
}

static double secs_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- create -------------------------------------------------------------- */

static void test_vm_create(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    char copy[400];
    snprintf(copy, sizeof(copy), "%s/copy.txt", f->dir);
    file_put(copy, "copied from the host\n");
    struct api_object *doc = vm_doc("vm1", "test-kernel:1", DISK);
    doc->u.vm.has_ssh = true;
    doc->u.vm.ssh_public_key = xstrdup("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtest test@host");
    doc->u.vm.copy_files = xcalloc(1, sizeof(*doc->u.vm.copy_files));
    doc->u.vm.copy_files[0].host_path = xstrdup(copy);
    doc->u.vm.copy_files[0].vm_path = xstrdup("/opt/data/copied.txt");
    doc->u.vm.n_copy_files = 1;

    struct engine_vm_create_result res;
    struct error err;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (create(f, doc, &res, &err) < 0)
        fail_msg("create: %s", err.msg);
    print_message("  first create (layers built): %.3f s\n", secs_since(&t0));
    api_object_free(doc);
    assert_string_equal(res.name, "vm1");
    assert_string_equal(res.ssh_key, "");

    struct api_object *vm = NULL;
    assert_int_equal(engine_get(f->eng, API_KIND_VM, "vm1", &vm, &err), 0);
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Created");
    assert_string_equal(vm->meta.uid, res.uid);
    assert_string_equal(vm->u.vm.kernel_claim->ref, "test-kernel:1");
    assert_string_equal(vm->u.vm.status_kernel.internal_uid, f->kernel_uid);
    assert_non_null(vm->u.vm.status_image.internal_uid);
    char image_uid[ID_LEN + 1];
    snprintf(image_uid, sizeof(image_uid), "%s", vm->u.vm.status_image.internal_uid);
    api_object_free(vm);

    /* The chain: VM -> Kernel -> Resize -> Image. */
    struct store_pool_device d = row_of(f, res.device_id);
    assert_string_equal(d.type, "VM");
    assert_int_equal(d.owner_kind, API_KIND_VM);
    assert_string_equal(d.owner_uid, res.uid);
    assert_null(d.layer_key);
    uint32_t kid = (uint32_t)d.parent;
    store_pool_device_release(&d);
    d = row_of(f, kid);
    assert_string_equal(d.type, "Kernel");
    char key[64];
    snprintf(key, sizeof(key), "kernel:%s", f->kernel_uid);
    assert_string_equal(d.layer_key, key);
    assert_int_equal(d.owner_kind, API_KIND_KERNEL);
    assert_string_equal(d.owner_uid, f->kernel_uid);
    uint32_t rid = (uint32_t)d.parent;
    store_pool_device_release(&d);
    d = row_of(f, rid);
    assert_string_equal(d.type, "Resize");
    snprintf(key, sizeof(key), "resize:%llu", (unsigned long long)DISK);
    assert_string_equal(d.layer_key, key);
    assert_int_equal(d.owner_kind, API_KIND_IMAGE);
    assert_int_equal(d.size, DISK);
    uint32_t iid = (uint32_t)d.parent;
    store_pool_device_release(&d);
    d = row_of(f, iid);
    assert_string_equal(d.type, "Image");
    assert_string_equal(d.owner_uid, image_uid);
    store_pool_device_release(&d);

    /* The files. */
    char *path = dev_path(f, res.device_id);
    char *out = dbg(path, "cat /etc/hostname");
    assert_string_equal(out, "vm1\n");
    free(out);
    out = dbg(path, "cat /etc/hosts");
    assert_non_null(strstr(out, "127.0.0.1\tlocalhost\n"));
    assert_non_null(strstr(out, "::1\tlocalhost\n"));
    assert_non_null(strstr(out, "127.0.1.1\tvm1\n"));
    free(out);
    out = dbg(path, "cat /root/.ssh/authorized_keys");
    assert_string_equal(out, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtest test@host\n");
    free(out);
    assert_mode(path, "/root/.ssh/authorized_keys", "0600");
    assert_mode(path, "/root/.ssh", "0700");
    out = dbg(path, "cat /opt/data/copied.txt");
    assert_string_equal(out, "copied from the host\n");
    free(out);
    out = dbg(path, "cat /bin/marker");
    assert_string_equal(out, "hearth vm marker\n");
    free(out);
    char mod[512];
    snprintf(mod, sizeof(mod), "cat /lib/modules/%s/kernel/fake.ko", f->version);
    out = dbg(path, mod);
    assert_string_equal(out, "fake module\n");
    free(out);

    /* A clean filesystem of the disk size. */
    struct error e2;
    error_init(&e2);
    const char *fsck[] = {"e2fsck", "-fn", path, NULL};
    if (exec_run(fsck, NULL, &e2) < 0)
        fail_msg("e2fsck: %s", e2.msg);
    out = dbg(path, "stats -h");
    const char *bc = strstr(out, "Block count:");
    const char *bs = strstr(out, "Block size:");
    assert_non_null(bc);
    assert_non_null(bs);
    unsigned long long blocks = strtoull(bc + strlen("Block count:"), NULL, 10);
    unsigned long long bsize = strtoull(bs + strlen("Block size:"), NULL, 10);
    assert_int_equal(blocks * bsize, DISK);
    free(out);
    free(path);

    /* The modules are in the Kernel layer itself. */
    path = dev_path(f, kid);
    out = dbg(path, mod);
    assert_string_equal(out, "fake module\n");
    free(out);
    out = dbg(path, "cat /etc/hostname");
    assert_string_equal(out, "box\n"); /* the VM's files are not */
    free(out);
    free(path);
    assert_consistent(f);

    /* A second VM of the same image, size and kernel reuses both layers. */
    doc = vm_doc(NULL, "test-kernel:1", DISK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct engine_vm_create_result res2;
    if (create(f, doc, &res2, &err) < 0)
        fail_msg("create: %s", err.msg);
    print_message("  create with existing layers: %.3f s\n", secs_since(&t0));
    api_object_free(doc);
    assert_true(api_name_is_valid(res2.name));
    assert_string_not_equal(res2.name, "vm1");
    assert_int_equal(count_rows(f, "Resize", NULL), 1);
    assert_int_equal(count_rows(f, "Kernel", NULL), 1);
    assert_int_equal(count_rows(f, "VM", NULL), 2);
    d = row_of(f, res2.device_id);
    assert_int_equal(d.parent, kid);
    store_pool_device_release(&d);

    /* Another size: a new Resize and Kernel layer. */
    doc = vm_doc("vm3", "test-kernel:1", DISK + 32 * MiB);
    if (create(f, doc, &res2, &err) < 0)
        fail_msg("create: %s", err.msg);
    api_object_free(doc);
    assert_int_equal(count_rows(f, "Resize", NULL), 2);
    assert_int_equal(count_rows(f, "Kernel", NULL), 2);
    assert_consistent(f);

    /* The same name again: refused, nothing new. */
    doc = vm_doc("vm1", "test-kernel:1", DISK);
    assert_int_equal(create(f, doc, &res2, &err), -EEXIST);
    api_object_free(doc);
    assert_int_equal(count_rows(f, "VM", NULL), 3);
    assert_consistent(f);

    /* An image larger than the disk: an error naming both sizes. */
    doc = vm_doc("small", "test-kernel:1", 1 * MiB);
    assert_int_equal(create(f, doc, &res2, &err), -EINVAL);
    print_message("  too small: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "1MB"));
    assert_non_null(strstr(err.msg, "needs"));
    api_object_free(doc);
    assert_int_equal(count_vms(f, NULL), 3);

    /* rmk and rmi refuse while VMs use them; with -f the layers go, the VM devices stay. */
    assert_int_equal(engine_remove(f->eng, API_KIND_KERNEL, "test-kernel:1", false, NULL, &err),
                     -EBUSY);
    assert_int_equal(engine_remove(f->eng, API_KIND_KERNEL, "test-kernel:1", true, NULL, &err), 0);
    assert_int_equal(count_rows(f, "Kernel", NULL), 0);
    assert_int_equal(count_rows(f, "Resize", NULL), 2);
    assert_int_equal(count_rows(f, "VM", NULL), 3);
    assert_parents_exist(f);
    assert_int_equal(engine_remove(f->eng, API_KIND_IMAGE, "localhost/box:1", true, NULL, &err), 0);
    assert_int_equal(count_rows(f, "Resize", NULL), 0);
    assert_int_equal(count_rows(f, "Image", NULL), 0);
    assert_int_equal(count_rows(f, "VM", NULL), 3);
    assert_parents_exist(f);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

static void test_vm_create_ssh_generate(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    /* No kernel named: the newest one, said in the notice. */
    struct api_object *doc = vm_doc("keyed", NULL, DISK);
    doc->u.vm.has_ssh = true;
    struct engine_vm_create_result res;
    struct error err;
    if (create(f, doc, &res, &err) < 0)
        fail_msg("create: %s", err.msg);
    api_object_free(doc);
    print_message("  notice: %s\n", res.notice);
    assert_non_null(strstr(res.notice, "test-kernel:1"));
    struct api_object *vm = NULL;
    assert_int_equal(engine_get(f->eng, API_KIND_VM, "keyed", &vm, &err), 0);
    assert_string_equal(vm->u.vm.kernel_claim->ref, "test-kernel:1");
    api_object_free(vm);

    char want[600];
    snprintf(want, sizeof(want), "%s/vm/%s/id_ed25519", f->root, res.uid);
    assert_string_equal(res.ssh_key, want);
    struct stat st;
    assert_int_equal(stat(res.ssh_key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(want, sizeof(want), "%s/vm/%s", f->root, res.uid);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(want, sizeof(want), "%s/vm/%s/id_ed25519.pub", f->root, res.uid);
    struct strbuf pub = STRBUF_INIT;
    assert_int_equal(strbuf_read_file(&pub, want, 65536, &err), 0);
    assert_true(str_starts_with(pub.buf, "ssh-ed25519 "));
    assert_non_null(strstr(pub.buf, "hearth-keyed"));
    char *path = dev_path(f, res.device_id);
    char *out = dbg(path, "cat /root/.ssh/authorized_keys");
    assert_string_equal(out, pub.buf);
    free(out);
    assert_mode(path, "/root/.ssh/authorized_keys", "0600");
    /* The host key planted, its fingerprint recorded, the private key nowhere on the host. */
    assert_mode(path, "/etc/ssh/ssh_host_ed25519_key", "0600");
    assert_mode(path, "/etc/ssh/ssh_host_ed25519_key.pub", "0644");
    out = dbg(path, "cat /etc/ssh/ssh_host_ed25519_key.pub");
    assert_true(str_starts_with(out, "ssh-ed25519 "));
    assert_non_null(strstr(out, "root@keyed"));
    char fp[NET_SSH_FINGERPRINT_MAX];
    assert_int_equal(net_ssh_fingerprint(out, fp, &err), 0);
    free(out);
    out = dbg(path, "cat /etc/ssh/ssh_host_ed25519_key");
    assert_non_null(strstr(out, "BEGIN OPENSSH PRIVATE KEY"));
    free(out);
    struct store_vm_ssh ssh;
    assert_int_equal(store_vm_ssh_get(f->eng->store, res.uid, &ssh, &err), 0);
    assert_string_equal(ssh.host_key_fingerprint, fp);
    assert_int_equal(ssh.host_port, 0);
    snprintf(want, sizeof(want), "%s/vm/%s/ssh_host_ed25519_key", f->root, res.uid);
    assert_int_equal(access(want, F_OK), -1);
    free(path);
    strbuf_release(&pub);
    assert_consistent(f);
}

static void test_vm_create_guest_symlink(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    char target[400];
    snprintf(target, sizeof(target), "%s/host-x", f->dir);
    const struct engine_test_entry evil[] = {
        {"etc", NULL, NULL},
        {"etc/hostname", NULL, target},
    };
    char layout[400], name[512];
    snprintf(layout, sizeof(layout), "%s/evil", f->dir);
    engine_test_tree_layout(layout, "1", evil, ARRAY_SIZE(evil));
    image_import(f, layout, "1", name, sizeof(name));
    struct api_object *doc = vm_doc("evil", "test-kernel:1", DISK);
    free(doc->u.vm.image_claim->ref);
    doc->u.vm.image_claim->ref = xstrdup(name);
    struct engine_vm_create_result res;
    struct error err;
    assert_int_equal(create(f, doc, &res, &err), -EPERM);
    print_message("  symlink: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "symlink"));
    api_object_free(doc);
    assert_int_equal(access(target, F_OK), -1);
    assert_int_equal(count_vms(f, NULL), 0);
    assert_consistent(f);

    /* /root/.ssh -> / with a key to write. */
    const struct engine_test_entry evil2[] = {
        {"root", NULL, NULL},
        {"root/.ssh", NULL, "/"},
    };
    snprintf(layout, sizeof(layout), "%s/evil2", f->dir);
    engine_test_tree_layout(layout, "2", evil2, ARRAY_SIZE(evil2));
    image_import(f, layout, "2", name, sizeof(name));
    doc = vm_doc("evil2", "test-kernel:1", DISK);
    free(doc->u.vm.image_claim->ref);
    doc->u.vm.image_claim->ref = xstrdup(name);
    doc->u.vm.has_ssh = true;
    doc->u.vm.ssh_public_key = xstrdup("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtest test@host");
    assert_int_equal(create(f, doc, &res, &err), -EPERM);
    print_message("  symlink: %s\n", err.msg);
    api_object_free(doc);
    assert_int_equal(count_vms(f, NULL), 0);
    assert_consistent(f);
    /* /etc/ssh -> / with a host key to write: refused, and no vm_ssh row is left. */
    const struct engine_test_entry evil3[] = {
        {"etc", NULL, NULL},
        {"etc/ssh", NULL, "/"},
    };
    snprintf(layout, sizeof(layout), "%s/evil3", f->dir);
    engine_test_tree_layout(layout, "3", evil3, ARRAY_SIZE(evil3));
    image_import(f, layout, "3", name, sizeof(name));
    doc = vm_doc("evil3", "test-kernel:1", DISK);
    free(doc->u.vm.image_claim->ref);
    doc->u.vm.image_claim->ref = xstrdup(name);
    doc->u.vm.has_ssh = true;
    assert_int_equal(create(f, doc, &res, &err), -EPERM);
    print_message("  symlink: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "/etc/ssh"));
    api_object_free(doc);
    assert_int_equal(count_vms(f, NULL), 0);
    assert_int_equal(access("/ssh_host_ed25519_key", F_OK), -1);
    assert_consistent(f);
}

static void test_vm_create_merged_usr(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    /* /lib -> usr/lib, as Debian and Ubuntu images have it: the modules go
     * to /usr/lib/modules, resolved inside the image. */
    const struct engine_test_entry merged[] = {
        {"usr", NULL, NULL}, {"usr/lib", NULL, NULL}, {"lib", NULL, "usr/lib"},
        {"etc", NULL, NULL}, {"root", NULL, NULL},
    };
    char layout[400], name[512];
    snprintf(layout, sizeof(layout), "%s/merged", f->dir);
    engine_test_tree_layout(layout, "1", merged, ARRAY_SIZE(merged));
    image_import(f, layout, "1", name, sizeof(name));
    struct api_object *doc = vm_doc("merged", "test-kernel:1", DISK);
    free(doc->u.vm.image_claim->ref);
    doc->u.vm.image_claim->ref = xstrdup(name);
    struct engine_vm_create_result res;
    struct error err;
    if (create(f, doc, &res, &err) < 0)
        fail_msg("create: %s", err.msg);
    api_object_free(doc);
    char *path = dev_path(f, res.device_id);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cat /usr/lib/modules/%s/kernel/fake.ko", f->version);
    char *out = dbg(path, cmd);
    assert_string_equal(out, "fake module\n");
    free(out);
    out = dbg(path, "stat /lib");
    assert_non_null(strstr(out, "Type: symlink"));
    free(out);
    free(path);
    assert_consistent(f);
}

static void test_vm_create_missing_copy_file(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    struct api_object *doc = vm_doc("nocopy", "test-kernel:1", DISK);
    doc->u.vm.copy_files = xcalloc(1, sizeof(*doc->u.vm.copy_files));
    doc->u.vm.copy_files[0].host_path = xstrdup("/nonexistent/hearth-copy-file");
    doc->u.vm.copy_files[0].vm_path = xstrdup("/x");
    doc->u.vm.n_copy_files = 1;
    struct engine_vm_create_result res;
    struct error err;
    assert_int_equal(create(f, doc, &res, &err), -ENOENT);
    print_message("  missing: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "/nonexistent/hearth-copy-file"));
    api_object_free(doc);
    assert_int_equal(count_vms(f, NULL), 0);
    assert_int_equal(count_rows(f, NULL, NULL), 1); /* the image's device only */
    assert_consistent(f);
}

/* Ctrl-C: the cancel flag set while the files are written undoes the VM. */
struct cancel_at {
    volatile sig_atomic_t flag;
    const char *stage;
};

static void cancel_on_stage(void *ud, const char *stage) {
    struct cancel_at *c = ud;
    if (!strcmp(stage, c->stage))
        c->flag = 1;
}

static void test_vm_create_cancelled(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    const char *stages[] = {"Resizing", "Writing files"};
    for (size_t i = 0; i < ARRAY_SIZE(stages); i++) {
        struct cancel_at c = {.flag = 0, .stage = stages[i]};
        struct engine_import_opts io = {.cancel = &c.flag};
        struct engine_vm_create_opts co = {.import = &io, .stage = cancel_on_stage, .ud = &c};
        struct api_object *doc = vm_doc("cancelled", "test-kernel:1", DISK + i * 4 * MiB);
        struct engine_vm_create_result res;
        struct error err;
        error_init(&err);
        assert_int_equal(engine_vm_create(f->eng, doc, &co, &res, &err), -ECANCELED);
        api_object_free(doc);
        assert_true(c.flag);
        assert_int_equal(count_vms(f, NULL), 0);
        assert_int_equal(count_rows(f, "VM", NULL), 0);
        assert_int_equal(count_rows(f, NULL, "planned"), 0);
        assert_consistent(f);
    }
}

/* ---- crashes ------------------------------------------------------------- */

struct crash_case {
    const char *point;
    bool done; /* the VM survives recovery */
};

/* What the crash test runs in its child (engine_test_crash_child). */
static void do_create(engine *e, void *ud) {
    (void)e;
    struct vfix *f = ud; /* f->eng is e */
    struct api_object *doc = vm_doc(NULL, "test-kernel:1", DISK);
    doc->u.vm.has_ssh = true;
    struct engine_vm_create_result res;
    struct error err;
    if (create(f, doc, &res, &err) < 0)
        print_message("  create: %s\n", err.msg);
    api_object_free(doc);
}

static void test_vm_create_crashes(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    /* The layer points first, while the layers still need building. */
    static const struct crash_case cases[] = {
        {"vm.create.after-intent", false},
        {"vm.layer.after-intent", false},
        {"vm.layer.after-snapshot", false},
        {"vm.layer.after-build", false},
        /* The Resize layer is built from here on; the Kernel layer's points. */
        {"vm.layer.after-intent@2", false},
        {"vm.layer.after-snapshot", false},
        /* The kernel's modules staged in <root>/tmp/layer-<id>, on their way into the layer. */
        {"ext4.write.after-stage", false},
        {"vm.layer.after-build", false},
        {"vm.create.after-layers", false},
        {"pool.snapshot.after-intent", false},
        {"pool.snapshot.after-act", false},
        {"pool.file.after-write", false}, /* the VM device's <id>.img.tmp (file driver) */
        {"pool.snapshot.after-commit", false},
        {"vm.create.after-device", false},
        /* The VM's hostname, hosts and key staged in <root>/tmp/vm-<uid>. */
        {"ext4.write.after-stage", false},
        {"vm.create.after-files", true},
        {"vm.create.after-commit", true},
    };
    /* What is staged must go to <root>/tmp only: TMPDIR is a private directory that stays empty. */
    char tmpdir[600];
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmpdir", f->dir);
    assert_int_equal(mkdir(tmpdir, 0700), 0);
    /* Recovery, run by the parent, must not stage outside <root>/tmp either. */
    const char *tmpdir_was = getenv("TMPDIR");
    char *saved = tmpdir_was ? xstrdup(tmpdir_was) : NULL;
    assert_true(!tmpdir_was || saved);
    setenv("TMPDIR", tmpdir, 1);
    size_t vms = 0;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (engine_test_dm() && str_starts_with(cases[i].point, "pool.file."))
            continue; /* a point of the file driver */
        print_message("  crash at %s\n", cases[i].point);
        engine_test_crash_child(f->root, &f->eng, cases[i].point, do_create, f);
        if (cases[i].done)
            vms++;
        assert_int_equal(count_vms(f, "Created"), vms);
        assert_consistent(f); /* <root>/tmp empty, doctor clean without --repair */
        assert_int_equal(engine_test_entries(f->dir, "tmpdir"), 0);
    }
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    /* Layers survived as cache, one of each. */
    assert_int_equal(count_rows(f, "Resize", NULL), 1);
    assert_int_equal(count_rows(f, "Kernel", NULL), 1);
}

/* ---- concurrency --------------------------------------------------------- */

#define RACERS 4

static void test_vm_create_concurrent(void **state) {
    struct vfix *f = *state;
    NEED_KERNEL(f);
    engine_free(f->eng);
    f->eng = NULL;
    fflush(NULL);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct error err;
            error_init(&err);
            if (engine_open(f->root, &f->eng, &err) < 0)
                _exit(2);
            struct api_object *doc = vm_doc(NULL, "test-kernel:1", DISK);
            struct engine_vm_create_result res;
            int r = create(f, doc, &res, &err);
            if (r < 0)
                fprintf(stderr, "create: %s\n", err.msg);
            api_object_free(doc);
            engine_free(f->eng);
            _exit(r < 0 ? 1 : 0);
        }
    }
    for (int i = 0; i < RACERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    engine_test_reopen(f->root, &f->eng);
    assert_int_equal(count_rows(f, "Resize", NULL), 1);
    assert_int_equal(count_rows(f, "Kernel", NULL), 1);
    assert_int_equal(count_rows(f, "VM", NULL), RACERS);
    assert_int_equal(count_vms(f, "Created"), RACERS);
    /* Distinct names (UNIQUE) and devices (primary key): check anyway. */
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    assert_int_equal(engine_list(f->eng, API_KIND_VM, &objs, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            assert_string_not_equal(objs[i]->meta.name, objs[k]->meta.name);
    api_objects_free(objs, n);
    assert_consistent(f);
}

const struct CMUnitTest engine_vm_create_tests[] = {
    cmocka_unit_test_setup_teardown(test_vm_create, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_ssh_generate, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_guest_symlink, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_merged_usr, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_missing_copy_file, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_cancelled, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_crashes, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_create_concurrent, vm_setup, vm_teardown),
};
const size_t engine_vm_create_tests_n = ARRAY_SIZE(engine_vm_create_tests);
