/*
 * Tests of VMs that run: start, stop, kill, the per-VM monitor, logs,
 * attach and a status that never lies, against a real store, the file pool
 * and real processes. The VMM is fcfake (tests/vmm/fake), which checks every
 * Firecracker API call against the spec and behaves like a firecracker
 * process on its console: a boot banner, then an echo of its input. The
 * monitor is this executable (`test_engine __monitor ...`, main.c). Roots
 * are longer than a Unix socket path may be, so every socket must be
 * reached through a short path. VMs are made without engine_vm_create: a
 * VM document applied, a VM device created in the pool, and Debian's
 * kernel from /boot imported as the VM's kernel.
 *
 * Crashes: a child dies at every vm.start, vm.stop and vm.remove fault
 * point; the next engine_open leaves the database, the pool and the
 * processes in agreement. One real QEMU/TCG boot of a busybox initramfs
 * runs through the monitor when qemu, busybox and a kernel are there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"
#include "engine/vm_priv.h"
#include "store/store_priv.h"

#define MiB (UINT64_C(1) << 20)
#define WAIT_MS 15000
#define QEMU_MARKER "HEARTH-VM-RUN-TEST-BOOTED"

struct vfix {
    char dir[64];
    char root[512];
    char uid[ID_LEN + 1];
    engine *eng;
    struct engine_vm_start_opts opts;
};

/* Alive and not a zombie (a monitor's parent is init, which may reap late). */
static bool pid_runs(int pid) {
    if (pid <= 0)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[2] != 'Z' && p[2] != 'X';
}

static bool host_kernel(char *ret, size_t size) {
    glob_t g;
    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
        return false;
    snprintf(ret, size, "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);
    return true;
}

static void apply_yaml(engine *e, const char *yaml, char *ret_uid) {
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (api_docs_parse(yaml, strlen(yaml), "vm.yaml", &objs, &n, &err) < 0)
        fail_msg("parse: %s", err.msg);
    struct engine_apply_result *res = NULL;
    if (engine_apply(e, objs, n, &res, NULL, &err) < 0)
        fail_msg("apply: %s", err.msg);
    if (ret_uid)
        memcpy(ret_uid, res[n - 1].uid, ID_LEN + 1);
    free(res);
    api_objects_free(objs, n);
}

/*
 * As root, the test VMs are bridged (the engine test runs in a network
 * namespace of its own); in the dm-thin guest, whose kernel has no tun device
 * loaded, and without root, they have no network.
 */
static bool bridged(void) {
    return geteuid() == 0 && !engine_test_dm();
}
#define VM_NET_MODE (bridged() ? "bridge" : "none")

/* A VM named name (kernel, cmdline) with a 64 MiB disk in the pool. */
static void vm_make_kernel(struct vfix *f, const char *name, const char *kernel,
                           const char *cmdline, char *ret_uid) {
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: %s\n"
             "spec:\n  memory: 256MB\n  networkMode: %s\n  image:\n    ociClaim:\n"
             "      ref: busybox\n  kernel:\n    ociClaim:\n      ref: %s\n    cmdLine: \"%s\"\n",
             name, VM_NET_MODE, kernel, cmdline);
    apply_yaml(f->eng, doc, ret_uid);
    uint32_t id = 0;
    struct error err;
    error_init(&err);
    if (engine_pool_device_create(f->eng, "VM", 64 * MiB, API_KIND_VM, ret_uid, &id, &err) < 0)
        fail_msg("device: %s", err.msg);
}

/* A VM named name (kernel k:1, cmdline) with a 64 MiB disk in the pool. */
static void vm_make(struct vfix *f, const char *name, const char *cmdline, char *ret_uid) {
    vm_make_kernel(f, name, "k:1", cmdline, ret_uid);
}

static void fix_setup(void **state, const char *initrd) {
    const char *fc = getenv("HEARTH_FCFAKE");
    char kernel[300];
    if (!fc || !getenv("HEARTH_FC_SPEC"))
        fail_msg("HEARTH_FCFAKE/HEARTH_FC_SPEC not set (run the tests through ctest)");
    if (!host_kernel(kernel, sizeof(kernel)))
        fail_msg("no kernel in /boot: apt-get install linux-image-amd64 (scripts/install-deps)");
    struct vfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-vmrun-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    /* Longer than sun_path: sockets must be reached through short paths. */
    snprintf(f->root, sizeof(f->root),
             "%s/a-root-directory-whose-path-is-much-longer-than-a-unix-socket-address-may-be"
             "-so-that-every-socket-path-must-be-short/root",
             f->dir);
    assert_true(strlen(f->root) > 120);
    engine_test_reopen(f->root, &f->eng);
    /* In the dm-thin guest (HEARTH_TEST_DM=1, tests/guest) the VMs' disks are thin devices. */
    engine_test_pool_init(f->eng, f->root, 512 * MiB, 512 * MiB, 8 * MiB);
    struct error err;
    error_init(&err);
    struct engine_kernel_local files = {.vmlinux = kernel, .initrd = initrd};
    struct engine_import_result res;
    if (engine_kernel_import_files(f->eng, "k:1", &files, NULL, &res, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    f->opts = (struct engine_vm_start_opts){.vmm = "firecracker", .firecracker_bin = fc};
    *state = f;
}

static int vm_setup(void **state) {
    fix_setup(state, NULL);
    struct vfix *f = *state;
    vm_make(f, "vm1", "console=ttyS0 reboot=k panic=1", f->uid);
    return 0;
}

static int vm_teardown(void **state) {
    struct vfix *f = *state;
    if (!f)
        return 0;
    /* Whatever still runs goes with the root (every VM: a failed test may leave several). */
    struct engine_vm_runtime rt;
    struct error err;
    error_init(&err);
    struct api_object **vms = NULL;
    size_t n = 0;
    if (f->eng && engine_list(f->eng, API_KIND_VM, &vms, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (engine_vm_runtime_get(f->eng, vms[i]->meta.uid, &rt, &err) == 0 && rt.running &&
                engine_vm_kill(f->eng, vms[i]->meta.uid, NULL, &err) < 0)
                print_message("  teardown: %s\n", err.msg);
        api_objects_free(vms, n);
    }
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* The VM's state by name ("" when unset, "(none)" when it cannot be read). */
static const char *vm_state(struct vfix *f, const char *uid) {
    struct error err;
    error_init(&err);
    enum api_vm_state s;
    if (store_vm_state_get(f->eng->store, uid, &s, &err) < 0)
        return "(none)";
    return api_vm_state_name(s) ? api_vm_state_name(s) : "";
}

/* Whether uid is recorded in state want. */
static bool vm_state_is(struct vfix *f, const char *uid, enum api_vm_state want) {
    struct error err;
    error_init(&err);
    enum api_vm_state s;
    return store_vm_state_get(f->eng->store, uid, &s, &err) == 0 && s == want;
}

static void runtime(struct vfix *f, const char *uid, struct engine_vm_runtime *rt) {
    struct error err;
    error_init(&err);
    if (engine_vm_runtime_get(f->eng, uid, rt, &err) < 0)
        fail_msg("runtime: %s", err.msg);
}

static void start_ok(struct vfix *f, const char *ref, struct engine_vm_start_result *ret) {
    struct engine_vm_start_result res;
    struct error err;
    error_init(&err);
    if (engine_vm_start(f->eng, ref, &f->opts, &res, &err) < 0)
        fail_msg("start: %s", err.msg);
    if (ret)
        *ret = res;
}

static bool path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void run_dir(struct vfix *f, const char *uid, char *ret, size_t size) {
    snprintf(ret, size, "%s/run/vm/%s", f->root, uid);
}

/* A raw client of uid's attach socket (reached through a short path); the socket. */
static int attach_raw(struct vfix *f, const char *uid) {
    char run[700];
    run_dir(f, uid, run, sizeof(run));
    int dfd = open(run, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/attach.sock", dfd);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(dfd);
    return s;
}

/* Reads a file whole ("" when missing); caller frees. */
static char *slurp(const char *path, size_t *ret_len) {
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    if (strbuf_read_file(&sb, path, 64 * MiB, &err) < 0 && err.code != -ENOENT)
        fail_msg("read %s: %s", path, err.msg);
    if (ret_len)
        *ret_len = sb.len;
    return strbuf_detach(&sb);
}

/* Waits until the console log holds needle. */
static bool console_has(struct vfix *f, const char *uid, const char *needle, int timeout_ms) {
    char path[700];
    snprintf(path, sizeof(path), "%s/vm/%s/console.log", f->root, uid);
    int64_t end = time_now_ms() + timeout_ms;
    do {
        char *s = slurp(path, NULL);
        bool found = strstr(s, needle) != NULL;
        free(s);
        if (found)
            return true;
        sleep_ms(50);
    } while (time_now_ms() < end);
    return false;
}

/* Waits until the VM's recorded state is want (the monitor records it on its own). */
static bool state_becomes(struct vfix *f, const char *uid, const char *want) {
    int64_t end = time_now_ms() + WAIT_MS;
    do {
        if (strcmp(vm_state(f, uid), want) == 0)
            return true;
        sleep_ms(50);
    } while (time_now_ms() < end);
    return false;
}

static bool pid_ends(int pid) {
    int64_t end = time_now_ms() + WAIT_MS;
    while (pid_runs(pid) && time_now_ms() < end)
        sleep_ms(20);
    return !pid_runs(pid);
}

static size_t open_vm_ops(struct vfix *f) {
    struct store_op *ops = NULL;
    size_t n = 0, k = 0;
    struct error err;
    error_init(&err);
    if (store_op_list_open(f->eng->store, &ops, &n, &err) < 0)
        fail_msg("ops: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (str_starts_with(ops[i].op, "vm.")) {
            print_message("  open: %s %s\n", ops[i].op, ops[i].step);
            k++;
        }
    store_ops_free(ops, n);
    return k;
}

static size_t vm_devices(struct vfix *f, const char *uid) {
    struct engine_device *d = NULL;
    size_t n = 0, k = 0;
    struct error err;
    error_init(&err);
    if (engine_pool_devices(f->eng, &d, &n, &err) < 0)
        fail_msg("devices: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        k += d[i].owner_uid && strcmp(d[i].owner_uid, uid) == 0;
    engine_devices_free(d, n);
    return k;
}

/* The stopped VM's leftovers: none. */
static void assert_stopped_clean(struct vfix *f, const char *uid, int monitor_pid, int vmm_pid) {
    assert_string_equal(vm_state(f, uid), "Stopped");
    assert_true(pid_ends(monitor_pid));
    assert_true(pid_ends(vmm_pid));
    char dir[700];
    run_dir(f, uid, dir, sizeof(dir));
    assert_false(path_exists(dir));
    struct engine_vm_runtime rt;
    runtime(f, uid, &rt);
    assert_false(rt.running);
    assert_true(rt.stopped > 0);
    assert_int_equal(open_vm_ops(f), 0);
    /* The monitor's own log: no sanitizer report (its exit status reaches nobody). */
    char mlog[700];
    snprintf(mlog, sizeof(mlog), "%s/vm/%s/monitor.log", f->root, uid);
    char *text = slurp(mlog, NULL);
    if (strstr(text, "Sanitizer") || strstr(text, "runtime error"))
        fail_msg("the monitor reported: %s", text);
    free(text);
}

/* ---- start, stop, kill ------------------------------------------------------ */

static void test_vm_start_stop_kill(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    assert_string_equal(res.uid, f->uid);
    assert_string_equal(res.vmm, "firecracker");
    assert_string_equal(vm_state(f, f->uid), "Running");
    assert_true(pid_runs(res.monitor_pid));
    assert_true(pid_runs(res.vmm_pid));
    struct engine_vm_runtime rt;
    runtime(f, f->uid, &rt);
    assert_true(rt.running);
    assert_int_equal(rt.monitor_pid, res.monitor_pid);
    assert_int_equal(rt.vmm_pid, res.vmm_pid);
    assert_true(rt.started > 0);
    assert_int_equal(rt.stopped, 0);
    assert_true(strlen(rt.attach_socket) > 108); /* the root is long */
    /* fcfake's banner names the kernel and the boot args the monitor gave it. */
    assert_true(console_has(f, f->uid, "fcfake: booting '", 5000));
    assert_true(console_has(f, f->uid, "command line: console=ttyS0 reboot=k panic=1", 5000));

    /* Started again: refused, nothing changes. */
    struct error err;
    error_init(&err);
    assert_int_equal(engine_vm_start(f->eng, "vm1", &f->opts, NULL, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "vm 'vm1' is already running"));
    assert_true(pid_runs(res.vmm_pid));

    /* A reopen (what every command does) keeps it Running. */
    engine_test_reopen(f->root, &f->eng);
    assert_string_equal(vm_state(f, f->uid), "Running");

    /* Graceful stop: fcfake exits 0 on SendCtrlAltDel (the guest's reset, as it was asked). */
    struct engine_vm_stop_result sres;
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 5000, &sres, &err), 0);
    assert_string_equal(sres.uid, f->uid);
    assert_false(sres.killed);
    assert_int_equal(sres.exit_status, 0);
    assert_string_equal(sres.exit_reason, "exited with status 0");
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    runtime(f, f->uid, &rt);
    assert_int_equal(rt.exit_status, 0);
    assert_string_equal(rt.exit_reason, "exited with status 0");
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 5000, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "vm 'vm1' is not running"));

    /* Again, then kill. */
    start_ok(f, "vm1", &res);
    assert_string_equal(vm_state(f, f->uid), "Running");
    assert_int_equal(engine_vm_kill(f->eng, "vm1", NULL, &err), 0);
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    runtime(f, f->uid, &rt);
    assert_int_equal(rt.exit_status, 128 + 9);
    assert_string_equal(rt.exit_reason, "killed by signal 9");
}

/* A VM that a live operation starts is not taken for a dead one (its monitor is not recorded yet).
 */
static void test_vm_refresh_leaves_live_operations(void **state) {
    struct vfix *f = *state;
    struct error err;
    error_init(&err);
    int64_t op = 0;
    assert_int_equal(store_vm_op_begin(f->eng->store, "vm.start", f->uid, "intent", -1,
                                       "{\"from\":\"Created\"}", &op, &err),
                     0);
    assert_int_equal(store_vm_state_set(f->eng->store, f->uid, API_VM_STARTING, &err), 0);
    struct engine_vm_runtime rt;
    runtime(f, f->uid, &rt);
    assert_false(rt.running);
    size_t n = 9;
    assert_int_equal(engine_vm_refresh(f->eng, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_string_equal(vm_state(f, f->uid), "Starting");
    /* Its owner gone (a child's pid, reaped), the start is rolled back. */
    (void)engine_test_op_owner_dead(f->eng, op);
    assert_int_equal(engine_vm_refresh(f->eng, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(vm_state(f, f->uid), "Created");
    assert_int_equal(open_vm_ops(f), 0);
}

/* A VMM that dies before it is configured: the start fails and leaves nothing. */
static void test_vm_start_fails(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_opts opts = {.vmm = "firecracker", .firecracker_bin = "/bin/false"};
    struct error err;
    error_init(&err);
    assert_true(engine_vm_start(f->eng, "vm1", &opts, NULL, &err) < 0);
    print_message("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "vm 'vm1' did not start: "));
    assert_non_null(strstr(err.msg, "firecracker exited before it was ready"));
    assert_string_equal(vm_state(f, f->uid), "Created");
    assert_int_equal(open_vm_ops(f), 0);
    char dir[700];
    run_dir(f, f->uid, dir, sizeof(dir));
    assert_false(path_exists(dir));
    /* The failure is in the journal. */
    char *found = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->eng->store->db,
                                        "SELECT error FROM journal WHERE op = 'vm.start'", -1, &st,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    found = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_non_null(found);
    assert_non_null(strstr(found, "firecracker exited before it was ready"));
    free(found);
    /* And a start that works follows. */
    start_ok(f, "vm1", NULL);
    assert_string_equal(vm_state(f, f->uid), "Running");
}

/* The monitor killed: the next open records Stopped; the VMM killed: the monitor records it. */
static void test_vm_monitor_or_vmm_dies(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    assert_int_equal(kill(res.monitor_pid, SIGKILL), 0);
    assert_true(pid_ends(res.monitor_pid));
    assert_true(pid_ends(res.vmm_pid));                  /* PR_SET_PDEATHSIG */
    assert_string_equal(vm_state(f, f->uid), "Running"); /* nobody looked yet */
    engine_test_reopen(f->root, &f->eng);
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    struct engine_vm_runtime rt;
    runtime(f, f->uid, &rt);
    assert_string_equal(rt.exit_reason, "the monitor died");

    start_ok(f, "vm1", &res);
    assert_int_equal(kill(res.vmm_pid, SIGKILL), 0);
    assert_true(state_becomes(f, f->uid, "Stopped"));
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    runtime(f, f->uid, &rt);
    assert_string_equal(rt.exit_reason, "killed by signal 9");
}

/*
 * The guest reboots by itself (fcfake's guest runs `reboot`: Firecracker
 * exits 0 on the CPU reset): recorded Stopped, "guest rebooted", with
 * nobody asking. A stop's graceful exit stays "exited with status 0"
 * (test_vm_start_stop_kill).
 */
static void test_vm_guest_reboot_fc(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    assert_true(console_has(f, f->uid, "is running", 5000));
    int s = attach_raw(f, f->uid);
    assert_int_equal(send(s, "fcfake-reboot\n", 14, MSG_NOSIGNAL), 14);
    assert_true(state_becomes(f, f->uid, "Stopped"));
    close(s);
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    struct engine_vm_runtime rt;
    runtime(f, f->uid, &rt);
    assert_int_equal(rt.exit_status, 0);
    assert_string_equal(rt.exit_reason, "guest rebooted");
}

/* A host reboot: every process gone and <root>/run with them. */
static void test_vm_reboot(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    engine_free(f->eng);
    f->eng = NULL;
    kill(res.monitor_pid, SIGKILL);
    kill(res.vmm_pid, SIGKILL);
    assert_true(pid_ends(res.monitor_pid));
    assert_true(pid_ends(res.vmm_pid));
    char run[600];
    snprintf(run, sizeof(run), "%s/run", f->root);
    engine_test_rmtree(run);
    engine_test_reopen(f->root, &f->eng);
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    start_ok(f, "vm1", &res);
    assert_string_equal(vm_state(f, f->uid), "Running");
    struct error err;
    error_init(&err);
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 5000, NULL, &err), 0);
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
}

static void assert_removed(struct vfix *f, const char *uid, int monitor_pid, int vmm_pid) {
    char path[700];
    assert_string_equal(vm_state(f, uid), "(none)");
    assert_int_equal(vm_devices(f, uid), 0);
    snprintf(path, sizeof(path), "%s/vm/%s", f->root, uid);
    assert_false(path_exists(path));
    run_dir(f, uid, path, sizeof(path));
    assert_false(path_exists(path));
    assert_true(pid_ends(monitor_pid));
    assert_true(pid_ends(vmm_pid));
    assert_int_equal(open_vm_ops(f), 0);
}

static void test_vm_remove_running(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    struct error err;
    error_init(&err);
    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "vm1", false, NULL, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "vm 'vm1' is running: stop it first or use -f"));
    assert_string_equal(vm_state(f, f->uid), "Running");
    assert_true(pid_runs(res.vmm_pid));
    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "vm1", true, NULL, &err), 0);
    assert_removed(f, f->uid, res.monitor_pid, res.vmm_pid);
    f->uid[0] = '\0';
}

/* ---- crashes ------------------------------------------------------------------ */

/* What the crash tests run in their child, each on vm1. */
static void do_start(engine *e, void *ud) {
    struct vfix *f = ud;
    struct error err;
    error_init(&err);
    if (engine_vm_start(e, "vm1", &f->opts, NULL, &err) < 0)
        print_message("  %s\n", err.msg);
}

static void do_stop(engine *e, void *ud) {
    (void)ud;
    struct error err;
    error_init(&err);
    if (engine_vm_stop(e, "vm1", false, 5000, NULL, &err) < 0)
        print_message("  %s\n", err.msg);
}

static void do_remove(engine *e, void *ud) {
    (void)ud;
    struct error err;
    error_init(&err);
    if (engine_remove(e, API_KIND_VM, "vm1", true, NULL, &err) < 0)
        print_message("  %s\n", err.msg);
}

/* What a recorded runtime names, and whether those processes run. */
static void recorded_pids(struct vfix *f, const char *uid, int *monitor, int *vmm) {
    struct store_vm_runtime rt;
    struct error err;
    error_init(&err);
    *monitor = *vmm = 0;
    if (store_vm_runtime_get(f->eng->store, uid, &rt, &err) == 0) {
        *monitor = rt.monitor_pid;
        *vmm = rt.vmm_pid;
    }
}

/* After recovery: no transitional state, and the processes agree with the state. */
static void assert_agree(struct vfix *f, const char *uid) {
    assert_int_equal(open_vm_ops(f), 0);
    const char *st = vm_state(f, uid);
    int monitor, vmm;
    recorded_pids(f, uid, &monitor, &vmm);
    char dir[700];
    run_dir(f, uid, dir, sizeof(dir));
    if (strcmp(st, "Running") == 0) {
        assert_true(pid_runs(monitor));
        assert_true(pid_runs(vmm));
        assert_true(path_exists(dir));
    } else {
        assert_true(strcmp(st, "Stopped") == 0 || strcmp(st, "Created") == 0);
        assert_true(pid_ends(monitor));
        assert_true(pid_ends(vmm));
        assert_false(path_exists(dir));
    }
}

static void test_vm_crashes(void **state) {
    struct vfix *f = *state;
    static const struct {
        const char *point;
        const char *after; /* the state recovery leaves */
    } starts[] = {
        {"vm.start.after-intent", "Created"},
        {"vm.start.after-activate", "Created"},
        {"vm.start.after-monitor", "Running"},
        {"vm.start.after-commit", "Running"},
    };
    struct error err;
    error_init(&err);
    for (size_t i = 0; i < ARRAY_SIZE(starts); i++) {
        print_message("  crash at %s\n", starts[i].point);
        engine_test_crash_child(f->root, &f->eng, starts[i].point, do_start, f);
        assert_string_equal(vm_state(f, f->uid), starts[i].after);
        assert_agree(f, f->uid);
        if (strcmp(starts[i].after, "Running") == 0) {
            assert_int_equal(engine_vm_kill(f->eng, "vm1", NULL, &err), 0);
            assert_agree(f, f->uid);
            /* back to Created, as the next case expects */
            assert_int_equal(store_vm_state_set(f->eng->store, f->uid, API_VM_CREATED, &err), 0);
        }
    }
    static const char *const stops[] = {"vm.stop.after-intent", "vm.stop.after-signal",
                                        "vm.stop.after-commit"};
    for (size_t i = 0; i < ARRAY_SIZE(stops); i++) {
        start_ok(f, "vm1", NULL);
        print_message("  crash at %s\n", stops[i]);
        engine_test_crash_child(f->root, &f->eng, stops[i], do_stop, f);
        assert_string_equal(vm_state(f, f->uid), "Stopped");
        assert_agree(f, f->uid);
    }
    static const char *const removes[] = {"vm.remove.after-intent", "vm.remove.after-stop",
                                          "vm.remove.after-devices", "vm.remove.after-commit"};
    for (size_t i = 0; i < ARRAY_SIZE(removes); i++) {
        if (i > 0)
            vm_make(f, "vm1", "console=ttyS0", f->uid);
        struct engine_vm_start_result res;
        start_ok(f, "vm1", &res);
        print_message("  crash at %s\n", removes[i]);
        engine_test_crash_child(f->root, &f->eng, removes[i], do_remove, f);
        assert_removed(f, f->uid, res.monitor_pid, res.vmm_pid);
    }
    f->uid[0] = '\0';
}

/*
 * A start whose starter died after its monitor recorded itself, and whose
 * monitor then recorded the VM's end (nobody to tell: the VMM goes): the VM
 * is Stopped, no VM runs, and the vm.start is open. The first refresh settles
 * it; none may undo later a state that a listing showed (the chaos test saw
 * such a VM go from Stopped back to Created once another VM started).
 */
static void test_vm_refresh_settles_stopped_start(void **state) {
    struct vfix *f = *state;
    struct error err;
    error_init(&err);
    int64_t op = 0;
    assert_int_equal(store_vm_op_begin(f->eng->store, "vm.start", f->uid, "activated", -1,
                                       "{\"from\":\"Created\"}", &op, &err),
                     0);
    assert_int_equal(store_vm_state_set(f->eng->store, f->uid, API_VM_STOPPED, &err), 0);
    (void)engine_test_op_owner_dead(f->eng, op);
    /* A monitor's open recovers nothing (it comes behind the commands' backs)... */
    engine_free(f->eng);
    assert_int_equal(engine_open_monitor(f->root, &f->eng, &err), 0);
    assert_int_equal(open_vm_ops(f), 1);
    /* ...a command's open settles it, although no VM runs. */
    engine_test_reopen(f->root, &f->eng);
    assert_int_equal(open_vm_ops(f), 0);
    char settled[32];
    snprintf(settled, sizeof(settled), "%s", vm_state(f, f->uid));
    assert_true(strcmp(settled, "Created") == 0 || strcmp(settled, "Stopped") == 0);
    /* Another VM running: what the last open showed stays. */
    char uid2[ID_LEN + 1];
    vm_make(f, "vm2", "console=ttyS0", uid2);
    start_ok(f, "vm2", NULL);
    engine_test_reopen(f->root, &f->eng);
    assert_string_equal(vm_state(f, f->uid), settled);
    assert_int_equal(engine_vm_kill(f->eng, "vm2", NULL, &err), 0);
}

/* The pid of the monitor of uid in f's root (0 when none within WAIT_MS). */
static int monitor_find(struct vfix *f, const char *uid) {
    int64_t end = time_now_ms() + WAIT_MS;
    do {
        DIR *dh = opendir("/proc");
        assert_non_null(dh);
        struct dirent *de;
        int found = 0;
        while (!found && (de = readdir(dh))) {
            char *e = NULL;
            long pid = strtol(de->d_name, &e, 10);
            char argv[4096];
            size_t argc = 0;
            if (!e || *e || pid <= 1 || proc_cmdline((int)pid, argv, sizeof(argv), &argc) < 0 ||
                argc != 5)
                continue;
            const char *a1 = argv + strlen(argv) + 1, *a2 = a1 + strlen(a1) + 1;
            const char *a3 = a2 + strlen(a2) + 1;
            if (strcmp(a1, "__monitor") == 0 && strcmp(a2, f->root) == 0 && strcmp(a3, uid) == 0)
                found = (int)pid;
        }
        closedir(dh);
        if (found)
            return found;
        sleep_ms(5);
    } while (time_now_ms() < end);
    return 0;
}

/*
 * The starter dies at vm.start.after-fork while the database's write lock,
 * held here, keeps its monitor from recording itself. Returns the monitor's
 * pid, the lock still held on db (the caller ends it).
 */
static int start_dies_before_record(struct vfix *f, sqlite3 **ret_db) {
    engine_free(f->eng);
    f->eng = NULL;
    char path[700];
    snprintf(path, sizeof(path), "%s/hearth.db", f->root);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, WAIT_MS);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("HEARTH_FAULT", "vm.start.after-fork", 1);
        struct error err;
        error_init(&err);
        if (engine_open(f->root, &f->eng, &err) < 0)
            _exit(2);
        if (engine_vm_start(f->eng, "vm1", &f->opts, NULL, &err) < 0)
            print_message("  %s\n", err.msg);
        _exit(3);
    }
    /* The starter's last write before the monitor is the step "activated", or with a bridged
     * network its tap's. */
    int64_t end = time_now_ms() + WAIT_MS;
    int activated = 0;
    while (!activated && time_now_ms() < end) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT count(*) FROM journal WHERE op = 'vm.start' "
                                            "AND finished IS NULL AND step = ?1",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, bridged() ? "net-tap" : "activated", -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            activated = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (!activated)
            sleep_ms(1);
    }
    assert_true(activated);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != FAULT_EXIT_STATUS)
        fail_msg("the starter ended with status %d, not at the fault point", status);
    int monitor = monitor_find(f, f->uid);
    assert_true(monitor > 0);
    *ret_db = db;
    return monitor;
}

static void test_vm_start_rollback_kills_monitor(void **state) {
    struct vfix *f = *state;
    sqlite3 *db = NULL;
    int monitor = start_dies_before_record(f, &db);
    /* Held still: it has not recorded itself, and never does. */
    assert_int_equal(kill(monitor, SIGSTOP), 0);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    engine_test_reopen(f->root, &f->eng); /* recovery: the start is rolled back */
    assert_string_equal(vm_state(f, f->uid), "Created");
    assert_int_equal(open_vm_ops(f), 0);
    bool gone = pid_ends(monitor);
    if (!gone)
        kill(monitor, SIGKILL);
    assert_true(gone);
    struct error err;
    error_init(&err);
    struct engine_doctor_report rep = {0};
    assert_int_equal(engine_doctor(f->eng, false, &rep, &err), 0);
    for (size_t k = 0; k < rep.n; k++)
        print_message("  doctor: %s %s\n", rep.items[k].kind, rep.items[k].object);
    assert_int_equal(rep.n, 0);
    engine_doctor_report_release(&rep);
    assert_agree(f, f->uid);
}

/*
 * A rollback committed between the monitor's spawn of its VMM and its record:
 * the monitor must not record itself (its fence), so no runtime names it.
 */
static void test_vm_monitor_fenced_by_rollback(void **state) {
    struct vfix *f = *state;
    sqlite3 *db = NULL;
    int monitor = start_dies_before_record(f, &db);
    /* What a recovery's rollback commits, in the transaction that holds the monitor back. */
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE vm SET state = 'Created' WHERE state = 'Starting'; "
                                  "UPDATE journal SET finished = 1, error = 'rolled back' "
                                  "WHERE finished IS NULL AND op = 'vm.start'; COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    bool gone = pid_ends(monitor);
    if (!gone)
        kill(monitor, SIGKILL);
    assert_true(gone);
    engine_test_reopen(f->root, &f->eng);
    struct store_vm_runtime rt;
    struct error err;
    error_init(&err);
    assert_int_equal(store_vm_runtime_get(f->eng->store, f->uid, &rt, &err), -ENOENT);
    assert_string_equal(vm_state(f, f->uid), "Created");
}

/* ---- console: attach, logs -------------------------------------------------------- */

struct attacher {
    pid_t pid;
    int in;  /* what we type */
    int out; /* what it shows */
};

/* engine_vm_attach in a child with its own engine; exit 10 when detached, 11 when the VM stopped.
 */
static void attacher_start(struct vfix *f, struct attacher *a) {
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    fflush(NULL);
    a->pid = fork();
    assert_true(a->pid >= 0);
    if (a->pid == 0) {
        close(in[1]);
        close(out[0]);
        engine *e = NULL; /* the parent's connection is not used across fork */
        struct error err;
        error_init(&err);
        if (engine_open(f->root, &e, &err) < 0)
            _exit(2);
        bool detached = false;
        int r = engine_vm_attach(e, "vm1", in[0], out[1], &detached, &err);
        if (r < 0) {
            print_message("  attach: %s\n", err.msg);
            _exit(3);
        }
        engine_free(e);
        _exit(detached ? 10 : 11);
    }
    close(in[0]);
    close(out[1]);
    a->in = in[1];
    a->out = out[0];
}

/* Reads from fd until needle came (or the time is up). */
static bool read_until(int fd, struct strbuf *sb, const char *needle, int timeout_ms) {
    int64_t end = time_now_ms() + timeout_ms;
    while (!(sb->buf && memmem(sb->buf, sb->len, needle, strlen(needle)))) {
        int64_t left = end - time_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return false;
        assert_int_equal(strbuf_add(sb, buf, (size_t)n), 0);
    }
    return true;
}

static int child_exit(pid_t pid) {
    int status = 0;
    int64_t end = time_now_ms() + WAIT_MS;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (time_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        sleep_ms(20);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void type_in(struct attacher *a, const char *s) {
    assert_int_equal(write(a->in, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_vm_attach_two_clients(void **state) {
    struct vfix *f = *state;
    start_ok(f, "vm1", NULL);
    assert_true(console_has(f, f->uid, "is running", 5000));
    struct attacher a, b;
    attacher_start(f, &a);
    attacher_start(f, &b);
    struct strbuf sa = STRBUF_INIT, sb = STRBUF_INIT;
    /* Each client's typing reaches the guest, and the echo reaches both clients. */
    int64_t end = time_now_ms() + 5000;
    bool both = false;
    while (!both && time_now_ms() < end) { /* until both clients are connected */
        type_in(&a, "ping-from-a\n");
        both = read_until(a.out, &sa, "ping-from-a", 300) &&
               read_until(b.out, &sb, "ping-from-a", 300);
    }
    assert_true(both);
    type_in(&b, "ping-from-b\n");
    assert_true(read_until(a.out, &sa, "ping-from-b", 5000));
    assert_true(read_until(b.out, &sb, "ping-from-b", 5000));
    /* A ^P not followed by ^Q goes through. */
    type_in(&a, "\x10x-after-ctrl-p\n");
    assert_true(read_until(b.out, &sb, "\x10x-after-ctrl-p", 5000));
    /* ^P^Q detaches a only. */
    type_in(&a, "\x10\x11");
    assert_int_equal(child_exit(a.pid), 10);
    type_in(&b, "still-here\n");
    assert_true(read_until(b.out, &sb, "still-here", 5000));
    assert_true(console_has(f, f->uid, "still-here", 5000));
    /* The VM stops: b's attach ends by itself. */
    struct error err;
    error_init(&err);
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 5000, NULL, &err), 0);
    assert_int_equal(child_exit(b.pid), 11);
    strbuf_release(&sa);
    strbuf_release(&sb);
    close(a.in);
    close(a.out);
    close(b.in);
    close(b.out);
}

/* Writes the logs to a temporary file and reads them back; caller frees. */
static char *logs(struct vfix *f, bool follow, long tail, size_t *ret_len) {
    char path[128];
    snprintf(path, sizeof(path), "%s/logs.out", f->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    struct error err;
    error_init(&err);
    if (engine_vm_logs(f->eng, "vm1", follow, tail, fd, NULL, &err) < 0)
        fail_msg("logs: %s", err.msg);
    close(fd);
    return slurp(path, ret_len);
}

static void test_vm_logs_rotation(void **state) {
    struct vfix *f = *state;
    start_ok(f, "vm1", NULL);
    assert_true(console_has(f, f->uid, "is running", 5000));
    /* A raw client of the attach socket (through a short path) pushes 1.5 MiB through the echo. */
    int s = attach_raw(f, f->uid);
    char line[1025];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 2] = '\n';
    line[sizeof(line) - 1] = '\0';
    struct strbuf got = STRBUF_INIT;
    size_t sent = 0;
    for (int chunk = 0; chunk < 48; chunk++) { /* 48 x 32 KiB */
        for (int i = 0; i < 32; i++) {
            assert_int_equal(send(s, line, 1024, MSG_NOSIGNAL), 1024);
            sent += 1024;
        }
        /* Read the echo back before sending more, as a terminal would. */
        while (got.len < sent) {
            struct pollfd p = {s, POLLIN, 0};
            assert_true(poll(&p, 1, 5000) > 0);
            char buf[65536];
            ssize_t n = read(s, buf, sizeof(buf));
            assert_true(n > 0);
            assert_int_equal(strbuf_add(&got, buf, (size_t)n), 0);
        }
    }
    assert_int_equal(send(s, "the-last-line\n", 14, MSG_NOSIGNAL), 14);
    assert_true(console_has(f, f->uid, "the-last-line", 5000));
    close(s);
    strbuf_release(&got);

    char cur[700], old[700];
    snprintf(cur, sizeof(cur), "%s/vm/%s/console.log", f->root, f->uid);
    snprintf(old, sizeof(old), "%s/vm/%s/console.log.1", f->root, f->uid);
    struct stat st_cur, st_old;
    assert_int_equal(stat(cur, &st_cur), 0);
    assert_int_equal(stat(old, &st_old), 0);
    assert_true(st_old.st_size <= (off_t)MiB);
    assert_true(st_cur.st_size <= (off_t)MiB);
    assert_true((size_t)(st_cur.st_size + st_old.st_size) < sent + 4096); /* one rotation only */
    print_message("  console.log.1 %lld bytes, console.log %lld bytes\n", (long long)st_old.st_size,
                  (long long)st_cur.st_size);

    /* All of it: the rotated part first (the banner is there). */
    size_t len = 0;
    char *all = logs(f, false, -1, &len);
    assert_int_equal(len, (size_t)(st_cur.st_size + st_old.st_size));
    assert_true(str_starts_with(all, "fcfake: booting"));
    free(all);
    char *tail = logs(f, false, 1, &len);
    assert_string_equal(tail, "the-last-line\n");
    free(tail);
    tail = logs(f, false, 2, &len);
    assert_int_equal(len, 1024 + 14);
    free(tail);

    /* --follow ends once the VM stops and the file is drained. */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        engine *e = NULL;
        struct error err;
        error_init(&err);
        char path[128];
        snprintf(path, sizeof(path), "%s/follow.out", f->dir);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || engine_open(f->root, &e, &err) < 0)
            _exit(2);
        int r = engine_vm_logs(e, "vm1", true, 0, fd, NULL, &err);
        _exit(r < 0 ? 3 : 0);
    }
    sleep_ms(300);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still following */
    struct error err;
    error_init(&err);
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 5000, NULL, &err), 0);
    assert_int_equal(child_exit(pid), 0);
}

/* Sends s on the raw client and reads back its echo (and all before it) into got. */
static void echo_through(int s, const char *text, struct strbuf *got) {
    size_t len = strlen(text);
    assert_int_equal(send(s, text, len, MSG_NOSIGNAL), (ssize_t)len);
    assert_true(read_until(s, got, text, 10000));
}

/*
 * A slow client (an attacher whose terminal stops reading while 1 MiB of
 * console output goes by) is not dropped and never told that the VM
 * stopped: it loses output, marked "[hearth: N bytes of output skipped]",
 * and what it does get is the console, in order, with exactly N bytes
 * missing at each mark. Only the VM's real end ends its attach.
 */
static void test_vm_attach_slow_client(void **state) {
    struct vfix *f = *state;
    start_ok(f, "vm1", NULL);
    assert_true(console_has(f, f->uid, "is running", 5000));
    int s = attach_raw(f, f->uid);
    struct strbuf sa = STRBUF_INIT, sb = STRBUF_INIT;
    struct attacher b;
    attacher_start(f, &b);
    /* Until b is connected: it shows what the raw client typed. */
    int64_t end = time_now_ms() + 10000;
    bool connected = false;
    for (int i = 0; !connected && time_now_ms() < end; i++) {
        char sync[64];
        snprintf(sync, sizeof(sync), "sync-%d\n", i);
        echo_through(s, sync, &sa);
        connected = read_until(b.out, &sb, sync, 300);
    }
    assert_true(connected);

    /* b's terminal stops reading; 1 MiB of numbered lines goes through the echo. */
    char line[129];
    size_t sent = 0;
    for (int i = 0; sent < MiB; i++) {
        snprintf(line, sizeof(line), "line %06d ", i);
        memset(line + 12, 'x', sizeof(line) - 14);
        line[sizeof(line) - 2] = '\n';
        line[sizeof(line) - 1] = '\0';
        assert_int_equal(send(s, line, 128, MSG_NOSIGNAL), 128);
        sent += 128;
        if (sent % (32 * 1024) == 0) /* read the echo back, as a terminal would */
            assert_true(read_until(s, &sa, line, 10000));
    }
    assert_true(read_until(s, &sa, line, 10000));
    assert_int_equal(waitpid(b.pid, NULL, WNOHANG), 0); /* b still attached */

    /* b reads again: the queue, the mark, then what comes after it. */
    bool after = false;
    end = time_now_ms() + 20000;
    for (int i = 0; !after && time_now_ms() < end; i++) {
        char text[64];
        snprintf(text, sizeof(text), "after-gap-%d\n", i);
        echo_through(s, text, &sa);
        after = read_until(b.out, &sb, text, 500);
    }
    assert_true(after);
    assert_int_equal(waitpid(b.pid, NULL, WNOHANG), 0);
    static const char mark[] = "\r\n[hearth: ";
    assert_non_null(memmem(sb.buf, sb.len, mark, strlen(mark)));

    /* What b got, mark by mark, is the console log with exactly N bytes left out at each. */
    size_t log_len = 0;
    char *log = logs(f, false, -1, &log_len);
    const char *p = sb.buf, *stop = sb.buf + sb.len;
    const char *at = NULL; /* where in the log b's next piece must be */
    uint64_t skipped_total = 0;
    int marks = 0;
    while (p < stop) {
        const char *m = memmem(p, (size_t)(stop - p), mark, strlen(mark));
        size_t piece = m ? (size_t)(m - p) : (size_t)(stop - p);
        if (!at) { /* b's first bytes: found in the log by their (numbered) content */
            assert_true(piece >= 32);
            at = memmem(log, log_len, p, 32);
            assert_non_null(at);
        }
        assert_true(at + piece <= log + log_len);
        assert_memory_equal(at, p, piece);
        at += piece;
        if (!m)
            break;
        const char *num = m + strlen(mark);
        char *numend = NULL;
        unsigned long long n = strtoull(num, &numend, 10);
        assert_true(n > 0);
        assert_true(str_starts_with(numend, " bytes of output skipped]\r\n"));
        at += n;
        skipped_total += n;
        marks++;
        p = numend + strlen(" bytes of output skipped]\r\n");
    }
    print_message("  slow client: %zu bytes received, %llu skipped at %d mark(s)\n", sb.len,
                  (unsigned long long)skipped_total, marks);
    assert_true(marks >= 1);
    free(log);

    /* The VM stops: now, and only now, b's attach ends as stopped. */
    struct error err;
    error_init(&err);
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 5000, NULL, &err), 0);
    assert_int_equal(child_exit(b.pid), 11);
    close(s);
    close(b.in);
    close(b.out);
    strbuf_release(&sa);
    strbuf_release(&sb);
}

/* Attaching to a stopped or unknown VM: an error, and nothing else happens. */
static void test_vm_attach_not_running(void **state) {
    struct vfix *f = *state;
    struct error err;
    error_init(&err);
    engine_attach *a = NULL;
    assert_int_equal(engine_vm_attach_open(f->eng, "vm1", &a, &err), -EINVAL);
    assert_null(a);
    assert_string_equal(err.msg, "vm 'vm1' is not running; start it with 'hearth start -i'");
    error_init(&err);
    assert_int_equal(engine_vm_attach_open(f->eng, "nosuch", &a, &err), -ENOENT);
    assert_null(a);
    assert_non_null(strstr(err.msg, "nosuch"));
    engine_vm_attach_free(NULL);
}

/* ---- exec's refusals and the user mode's ssh port ------------------------------------ */

#define TEST_FP "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"

/* Without --ssh, or not running: errors at once, the status untouched. */
static void test_vm_exec_refusals(void **state) {
    struct vfix *f = *state;
    struct error err;
    error_init(&err);
    const char *argv[] = {"true"};
    struct engine_vm_exec_opts o = {.in_fd = -1, .out_fd = 1, .err_fd = 2};
    int status = -1;
    assert_int_equal(engine_vm_exec(f->eng, "vm1", argv, 1, &o, &status, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "vm 'vm1' was created without ssh"));
    assert_non_null(strstr(err.msg, "--ssh"));
    assert_int_equal(status, -1);

    char uid[ID_LEN + 1];
    apply_yaml(
        f->eng,
        "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: keyed\n"
        "spec:\n  networkMode: none\n  ssh: {}\n  image:\n    ociClaim:\n      ref: busybox\n",
        uid);
    error_init(&err);
    assert_int_equal(engine_vm_exec(f->eng, "keyed", argv, 1, &o, &status, &err), -EINVAL);
    assert_string_equal(err.msg, "vm 'keyed' is not running; start it with 'hearth start keyed'");
    assert_int_equal(status, -1);
    error_init(&err);
    assert_int_equal(engine_vm_exec(f->eng, "nosuch", argv, 1, &o, &status, &err), -ENOENT);
    assert_int_equal(status, -1);
}

/* User mode with spec.ssh: a free 127.0.0.1 port forwarded to guest port 22, kept while free. */
static void test_vm_net_user_ssh_port(void **state) {
    struct vfix *f = *state;
    struct error err;
    error_init(&err);
    char uid[ID_LEN + 1];
    apply_yaml(
        f->eng,
        "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: user\n"
        "spec:\n  networkMode: user\n  ssh: {}\n  image:\n    ociClaim:\n      ref: busybox\n",
        uid);
    struct api_object *vm = NULL;
    assert_int_equal(engine_get(f->eng, API_KIND_VM, "user", &vm, &err), 0);
    struct vm_net n;
    const struct engine_vm_start_opts none = {0};
    char notice[512] = "";
    /* no host key planted (no disk built): no port */
    assert_int_equal(vm_net_plan(f->eng, vm, &none, &n, notice, sizeof(notice), &err), 0);
    assert_int_equal(n.ssh_port, 0);
    vm_net_release_fields(&n);

    assert_int_equal(store_vm_ssh_key_set(f->eng->store, uid, TEST_FP, &err), 0);
    assert_int_equal(vm_net_plan(f->eng, vm, &none, &n, notice, sizeof(notice), &err), 0);
    assert_int_not_equal(n.ssh_port, 0);
    uint16_t port = n.ssh_port;
    assert_int_equal(vm_net_lease(f->eng, &n, uid, &err), 0);
    struct store_vm_ssh ssh;
    assert_int_equal(store_vm_ssh_get(f->eng->store, uid, &ssh, &err), 0);
    assert_int_equal(ssh.host_port, port);
    struct vm_launch l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(vm_net_launch(&n, "user", &l, &err), 0);
    assert_int_equal(l.n_forwards, 1);
    assert_int_equal(l.forwards[0].host_port, port);
    assert_int_equal(l.forwards[0].vm_port, 22);
    assert_false(l.forwards[0].udp);
    assert_string_equal(l.forwards[0].bind_address, "127.0.0.1");
    vm_launch_release(&l);
    vm_net_release_fields(&n);

    /* the next start: the same port while it is free, another once something listens there */
    assert_int_equal(vm_net_plan(f->eng, vm, &none, &n, notice, sizeof(notice), &err), 0);
    assert_int_equal(n.ssh_port, port);
    vm_net_release_fields(&n);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(vm_net_plan(f->eng, vm, &none, &n, notice, sizeof(notice), &err), 0);
    assert_int_not_equal(n.ssh_port, 0);
    assert_int_not_equal(n.ssh_port, port);
    vm_net_release_fields(&n);
    close(fd);
    api_object_free(vm);
}

/* ---- the cost of a start ------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_vm_start_cost(void **state) {
    struct vfix *f = *state;
    int64_t ms[20];
    struct error err;
    error_init(&err);
    for (size_t i = 0; i < ARRAY_SIZE(ms); i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        start_ok(f, "vm1", NULL);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms[i] = (int64_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
        assert_int_equal(engine_vm_kill(f->eng, "vm1", NULL, &err), 0);
    }
    qsort(ms, ARRAY_SIZE(ms), sizeof(ms[0]), cmp_i64);
    print_message("  engine_vm_start with fcfake: median %.1f ms (min %.1f, max %.1f) of %zu\n",
                  (double)ms[10] / 1000.0, (double)ms[0] / 1000.0, (double)ms[19] / 1000.0,
                  ARRAY_SIZE(ms));
}

/* ---- one real boot under QEMU -------------------------------------------------------- */

static void cpio_add(FILE *fp, const char *name, unsigned mode, const void *data, size_t size,
                     unsigned ino) {
    size_t nlen = strlen(name) + 1;
    fprintf(fp, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ino, mode, 0u, 0u,
            1u, 0u, size, 0u, 0u, 0u, 0u, nlen, 0u);
    fwrite(name, 1, nlen, fp);
    for (size_t pad = (110 + nlen) % 4; pad && pad < 4; pad++)
        fputc(0, fp);
    if (size) {
        fwrite(data, 1, size, fp);
        for (size_t pad = size % 4; pad && pad < 4; pad++)
            fputc(0, fp);
    }
}

static int qemu_setup(void **state) {
    test_need_program("/bin/busybox", "busybox-static");
    test_need_program("qemu-system-x86_64", "qemu-system-x86");
    char dir[] = "/tmp/hearth-vmrun-initrd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char initrd[128];
    snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", dir);
    size_t bb_len = 0;
    char *bb = slurp("/bin/busybox", &bb_len);
    /* The marker, then what hearth_test= on the command line asks: a panic
     * (reported on pvpanic: the kernel's modules are loaded first) or a reboot. */
    static const char init[] = "#!/bin/busybox sh\n"
                               "/bin/busybox mkdir -p /proc\n"
                               "/bin/busybox mount -t proc proc /proc\n"
                               "/bin/busybox insmod /lib/pvpanic.ko\n"
                               "/bin/busybox insmod /lib/pvpanic-mmio.ko\n"
                               "/bin/busybox echo " QEMU_MARKER "\n"
                               "case \" $(/bin/busybox cat /proc/cmdline) \" in\n"
                               "*' hearth_test=panic '*) echo c > /proc/sysrq-trigger ;;\n"
                               "*' hearth_test=reboot '*) /bin/busybox reboot -f ;;\n"
                               "esac\n"
                               "exec /bin/busybox sleep 1000\n";
    char kernel[300], mod[700];
    assert_true(host_kernel(kernel, sizeof(kernel)));
    FILE *fp = fopen(initrd, "we");
    assert_non_null(fp);
    cpio_add(fp, "bin", 040755, NULL, 0, 1);
    cpio_add(fp, "bin/busybox", 0100755, bb, bb_len, 2);
    cpio_add(fp, "init", 0100755, init, strlen(init), 3);
    cpio_add(fp, "lib", 040755, NULL, 0, 4);
    static const char *const mods[] = {"pvpanic", "pvpanic-mmio"};
    for (size_t i = 0; i < ARRAY_SIZE(mods); i++) {
        snprintf(mod, sizeof(mod), "/lib/modules/%s/kernel/drivers/misc/pvpanic/%s.ko",
                 kernel + strlen("/boot/vmlinuz-"), mods[i]);
        size_t mod_len = 0;
        char *data = slurp(mod, &mod_len);
        if (mod_len == 0)
            fail_msg("no %s (linux-image-amd64 has it)", mod);
        char name[64];
        snprintf(name, sizeof(name), "lib/%s.ko", mods[i]);
        cpio_add(fp, name, 0100644, data, mod_len, 5 + (unsigned)i);
        free(data);
    }
    cpio_add(fp, "TRAILER!!!", 0, NULL, 0, 0);
    fclose(fp);
    free(bb);
    fix_setup(state, initrd);
    engine_test_rmtree(dir);
    struct vfix *f = *state;
    vm_make(f, "vm1", "console=ttyS0 reboot=k panic=-1", f->uid);
    f->opts = (struct engine_vm_start_opts){.vmm = "qemu"};
    return 0;
}

static void test_vm_qemu_boot(void **state) {
    struct vfix *f = *state;
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    print_message("  qemu: %s\n", res.notice[0] ? res.notice : "KVM is usable");
    assert_string_equal(res.vmm, "qemu");
    assert_true(console_has(f, f->uid, QEMU_MARKER, 120000));
    /* busybox ignores the power button: the grace passes, then qemu is told to quit. */
    struct error err;
    error_init(&err);
    struct engine_vm_stop_result sres;
    assert_int_equal(engine_vm_stop(f->eng, "vm1", false, 1000, &sres, &err), 0);
    assert_true(sres.killed);
    assert_string_equal(sres.exit_reason, "killed after the 1 s grace");
    assert_stopped_clean(f, f->uid, res.monitor_pid, res.vmm_pid);
    struct engine_vm_runtime rt;
    runtime(f, f->uid, &rt);
    assert_int_equal(rt.exit_status, 0);
    assert_string_equal(rt.exit_reason, "killed after the 1 s grace");
}

/* How many times needle is in the console log of uid. */
static int console_count(struct vfix *f, const char *uid, const char *needle) {
    char path[700];
    snprintf(path, sizeof(path), "%s/vm/%s/console.log", f->root, uid);
    size_t len = 0;
    char *s = slurp(path, &len);
    int n = 0;
    for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), needle, strlen(needle))); p++)
        n++;
    free(s);
    return n;
}

/* Waits (a generous limit that only catches a hang) until uid is recorded Stopped. */
static bool stops_by_itself(struct vfix *f, const char *uid) {
    int64_t end = time_now_ms() + 240000;
    while (!vm_state_is(f, uid, API_VM_STOPPED) && time_now_ms() < end)
        sleep_ms(200);
    return vm_state_is(f, uid, API_VM_STOPPED);
}

/*
 * Guests that end by themselves, at once under TCG, and nobody stops them:
 * one panics with pvpanic (qemu exits 1: "guest panicked"), one is Debian's
 * kernel without an initrd, which cannot mount its root, panics and with
 * panic=1 and Ignite's reboot=k resets after a second (the i8042's reset
 * line: "guest rebooted", status 0, and no second boot).
 */
static void test_vm_qemu_guest_ends(void **state) {
    struct vfix *f = *state;
    char kernel[300], panicky[ID_LEN + 1], bare[ID_LEN + 1];
    assert_true(host_kernel(kernel, sizeof(kernel)));
    struct engine_kernel_local files = {.vmlinux = kernel};
    struct engine_import_result ires;
    struct error err;
    error_init(&err);
    if (engine_kernel_import_files(f->eng, "k:2", &files, NULL, &ires, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    vm_make(f, "vp", "console=ttyS0 reboot=k hearth_test=panic", panicky);
    vm_make_kernel(f, "vr", "k:2", "console=ttyS0 reboot=k panic=1", bare);
    struct engine_vm_start_result rp, rr;
    start_ok(f, "vp", &rp);
    start_ok(f, "vr", &rr);

    bool p_stopped = stops_by_itself(f, panicky);
    bool r_stopped = stops_by_itself(f, bare);
    if (!p_stopped || !r_stopped) {
        char path[700];
        snprintf(path, sizeof(path), "%s/vm/%s/console.log", f->root, p_stopped ? bare : panicky);
        char *log = slurp(path, NULL);
        printf("  console:\n%s\n", log);
        free(log);
    }
    assert_true(p_stopped);
    assert_true(r_stopped);
    assert_stopped_clean(f, panicky, rp.monitor_pid, rp.vmm_pid);
    assert_stopped_clean(f, bare, rr.monitor_pid, rr.vmm_pid);
    struct engine_vm_runtime rt;
    runtime(f, panicky, &rt);
    assert_string_equal(rt.exit_reason, "guest panicked");
    assert_int_equal(rt.exit_status, 1);
    assert_true(console_count(f, panicky, "sysrq triggered crash") >= 1);
    runtime(f, bare, &rt);
    assert_string_equal(rt.exit_reason, "guest rebooted");
    assert_int_equal(rt.exit_status, 0);
    assert_true(console_count(f, bare, "Unable to mount root fs") >= 1);
    assert_int_equal(console_count(f, bare, "Linux version"), 1); /* no second boot */
}

/* ---- only its own processes are signalled ------------------------------------------- */

/*
 * A child running argv in dir (in a process group of its own, output to
 * /dev/null), returned once its argv is argv's (its exec is done; a shell
 * that exec'd its last command would fail here); its start time too.
 */
static int stranger(const char *dir, char *const argv[], uint64_t *ret_start) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (setpgid(0, 0) < 0 || chdir(dir) < 0 || null < 0 || dup2(null, 1) < 0 ||
            dup2(null, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    size_t want = 0;
    while (argv[want])
        want++;
    bool same = false;
    for (int i = 0; i < 500 && !same; i++) {
        char cmd[4096];
        size_t argc = 0;
        same = proc_cmdline(pid, cmd, sizeof(cmd), &argc) == 0 && argc == want;
        const char *w = cmd;
        for (size_t k = 0; same && k < want; k++, w += strlen(w) + 1)
            same = k == 0 || strcmp(w, argv[k]) == 0;
        if (!same)
            sleep_ms(10);
    }
    if (!same)
        fail_msg("process %d never ran '%s %s ...'", (int)pid, argv[0], argv[1]);
    assert_int_equal(proc_start_time(pid, ret_start), 0);
    return pid;
}

/* uid recorded running with monitor (pm, sm) and VMM (pv, sv): what a forged row says. */
static void forge_running(struct vfix *f, const char *uid, int pm, uint64_t sm, int pv,
                          uint64_t sv) {
    struct store_vm_runtime rt = {
        .device_id = -1,
        .monitor_pid = pm,
        .monitor_start = sm,
        .vmm_pid = pv,
        .vmm_start = sv,
        .started = 1700000000,
        .exit_status = -1,
    };
    snprintf(rt.vmm, sizeof(rt.vmm), "firecracker");
    struct error err;
    error_init(&err);
    if (store_vm_runtime_put(f->eng->store, uid, &rt, &err) < 0 ||
        store_vm_state_set(f->eng->store, uid, API_VM_RUNNING, &err) < 0)
        fail_msg("forge: %s", err.msg);
}

/*
 * Processes with a VM's recorded pid and start time (anyone can read both
 * from /proc) that are not its monitor or VMM are never signalled: a plain
 * `sleep`; a shell whose argv is exactly a monitor's (`sh __monitor ROOT UID
 * 3`: not a hearth executable); a shell in the VM's runtime directory whose
 * argv names the VM (not the recorded VMM binary). kill, stop, the refresh,
 * rm -f and doctor --repair leave them running and record the VM stopped.
 * The VM's real monitor and VMM are recognised, each only as what it is.
 */
static void test_vm_signals_only_its_own(void **state) {
    struct vfix *f = *state;
    struct error err;
    error_init(&err);
    struct engine_vm_start_result res;
    start_ok(f, "vm1", &res);
    struct store_vm_runtime rt;
    assert_int_equal(store_vm_runtime_get(f->eng->store, f->uid, &rt, &err), 0);
    engine *e = f->eng;
    assert_true(vm_proc_is(e, f->uid, VM_PROC_MONITOR, rt.monitor_pid, rt.monitor_start));
    assert_true(vm_proc_is(e, f->uid, VM_PROC_VMM, rt.vmm_pid, rt.vmm_start));
    assert_false(vm_proc_is(e, f->uid, VM_PROC_VMM, rt.monitor_pid, rt.monitor_start));
    assert_false(vm_proc_is(e, f->uid, VM_PROC_MONITOR, rt.vmm_pid, rt.vmm_start));
    assert_false(vm_proc_is(e, f->uid, VM_PROC_MONITOR, rt.monitor_pid, rt.monitor_start + 1));
    assert_false(
        vm_proc_is(e, "0123456789abcdef", VM_PROC_MONITOR, rt.monitor_pid, rt.monitor_start));
    /* The monitor's mark (the refresh's quick look): its own pid and start time, locked. */
    assert_true(vm_proc_monitor_marked(e, f->uid, rt.monitor_pid, rt.monitor_start));
    assert_false(vm_proc_monitor_marked(e, f->uid, rt.monitor_pid, rt.monitor_start + 1));
    assert_false(vm_proc_monitor_marked(e, f->uid, rt.vmm_pid, rt.vmm_start));
    assert_false(vm_proc_monitor_marked(e, "0123456789abcdef", rt.monitor_pid, rt.monitor_start));
    assert_int_equal(engine_vm_kill(e, "vm1", NULL, &err), 0);
    assert_false(vm_proc_monitor_marked(e, f->uid, rt.monitor_pid, rt.monitor_start));

    /* The strangers: a sleep; a monitor's argv in a shell; a shell in the runtime directory. */
    char script[300], run[700], launch[800];
    snprintf(script, sizeof(script), "%s/__monitor", f->dir);
    FILE *sf = fopen(script, "we");
    assert_non_null(sf);
    fputs("sleep 1000\n:\n", sf); /* a last command, so that the shell stays the process */
    fclose(sf);
    run_dir(f, f->uid, run, sizeof(run));
    assert_int_equal(engine_dir_make(run, &err), 0);
    snprintf(launch, sizeof(launch), "%s/" VM_LAUNCH_FILE, run);
    struct vm_launch l = {.kind = VMM_FIRECRACKER,
                          .binary = (char *)f->opts.firecracker_bin,
                          .kernel = (char *)"k",
                          .cmdline = (char *)"c",
                          .disk = (char *)"d",
                          .device_id = -1};
    assert_int_equal(vm_launch_write(launch, &l, &err), 0);
    char *sleep_argv[] = {(char *)"/bin/sleep", (char *)"1000", NULL};
    char *mon_argv[] = {(char *)"/bin/sh", (char *)"__monitor", f->root, f->uid, (char *)"3", NULL};
    char *vmm_argv[] = {(char *)"/bin/sh",
                        (char *)"-c",
                        (char *)"sleep 1000",
                        (char *)"x",
                        (char *)"--id",
                        f->uid,
                        NULL};
    uint64_t s1, s2, s3;
    int p1 = stranger(f->dir, sleep_argv, &s1);
    int p2 = stranger(f->dir, mon_argv, &s2);
    int p3 = stranger(run, vmm_argv, &s3);
    assert_false(vm_proc_is(e, f->uid, VM_PROC_MONITOR, p2, s2));
    assert_false(vm_proc_is(e, f->uid, VM_PROC_VMM, p3, s3));
    /* A mark naming a stranger whose lock nobody holds is no mark. */
    char mark[800];
    snprintf(mark, sizeof(mark), "%s/" VM_MONITOR_LOCK, run);
    FILE *mf = fopen(mark, "we");
    assert_non_null(mf);
    fprintf(mf, "%d %llu\n", p2, (unsigned long long)s2);
    fclose(mf);
    assert_false(vm_proc_monitor_marked(e, f->uid, p2, s2));

    /* Every way in, with each stranger as the monitor and the others as the VMM. */
    const int mons[] = {p1, p2, p3};
    const uint64_t mstarts[] = {s1, s2, s3};
    for (int i = 0; i < 3; i++) {
        int j = (i + 1) % 3;
        forge_running(f, f->uid, mons[i], mstarts[i], mons[j], mstarts[j]);
        assert_int_equal(engine_vm_stop(e, "vm1", false, 1000, NULL, &err), -EINVAL);
        assert_string_equal(vm_state(f, f->uid), "Stopped"); /* found not running first */
        forge_running(f, f->uid, mons[i], mstarts[i], mons[j], mstarts[j]);
        size_t fixed = 0;
        assert_int_equal(engine_vm_refresh(e, &fixed, &err), 0);
        assert_int_equal(fixed, 1);
        assert_string_equal(vm_state(f, f->uid), "Stopped");
        forge_running(f, f->uid, mons[i], mstarts[i], mons[j], mstarts[j]);
        assert_int_equal(engine_vm_kill(e, "vm1", NULL, &err), -EINVAL);
        forge_running(f, f->uid, mons[i], mstarts[i], mons[j], mstarts[j]);
        struct engine_doctor_report rep = {0};
        assert_int_equal(engine_doctor(e, true, &rep, &err), 0);
        for (size_t k = 0; k < rep.n; k++)
            assert_string_not_equal(rep.items[k].kind, "stray-process");
        engine_doctor_report_release(&rep);
        assert_true(pid_runs(p1) && pid_runs(p2) && pid_runs(p3));
    }
    struct engine_vm_runtime ert;
    runtime(f, f->uid, &ert);
    assert_string_equal(ert.exit_reason, "the monitor died");
    forge_running(f, f->uid, p2, s2, p3, s3);
    assert_int_equal(engine_remove(e, API_KIND_VM, "vm1", true, NULL, &err), 0);
    assert_true(pid_runs(p1) && pid_runs(p2) && pid_runs(p3));
    for (int i = 0; i < 3; i++) {
        kill(-mons[i], SIGKILL); /* its group: a shell's sleep too */
        waitpid(mons[i], NULL, 0);
    }
}

const struct CMUnitTest engine_vm_run_tests[] = {
    cmocka_unit_test_setup_teardown(test_vm_start_stop_kill, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_refresh_leaves_live_operations, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_start_fails, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_monitor_or_vmm_dies, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_guest_reboot_fc, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_reboot, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_remove_running, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_signals_only_its_own, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_crashes, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_refresh_settles_stopped_start, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_start_rollback_kills_monitor, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_monitor_fenced_by_rollback, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_attach_two_clients, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_attach_slow_client, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_attach_not_running, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_exec_refusals, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_net_user_ssh_port, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_logs_rotation, vm_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_start_cost, vm_setup, vm_teardown),
};
const size_t engine_vm_run_tests_n = ARRAY_SIZE(engine_vm_run_tests);

/* Host runs only: QEMU under TCG inside the TCG guest would be far too slow. */
const struct CMUnitTest engine_vm_run_host_tests[] = {
    cmocka_unit_test_setup_teardown(test_vm_qemu_boot, qemu_setup, vm_teardown),
    cmocka_unit_test_setup_teardown(test_vm_qemu_guest_ends, qemu_setup, vm_teardown),
};
const size_t engine_vm_run_host_tests_n = ARRAY_SIZE(engine_vm_run_host_tests);
