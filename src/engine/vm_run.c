/*
 * engine vm_run: VMs that run. Start, stop and kill follow design.md's
 * protocol (docs/architecture.md, "VM runtime"):
 *
 *   start:  intent (state Starting + journal "vm.start", one transaction),
 *           the VM's device activated, the monitor launched detached
 *           (exec_start's double fork and setsid, `<self_exe> __monitor ROOT
 *           UID 3`, see monitor.c),
 *           which starts and configures the VMM, records both processes in
 *           vm_runtime and reports "ok" on the ready pipe; commit (Running).
 *   stop:   intent (Stopping + journal "vm.stop"); SIGTERM to the monitor,
 *           sigqueue'd with the grace in ms (the monitor runs the VMM's
 *           graceful stop and kills it once the grace passes), or SIGKILL to
 *           the VMM when forced; the wait for the monitor to record the end
 *           and exit; commit. A dead monitor's VM is recorded here.
 *   remove: intent (Removing + journal "vm.remove"); the processes killed;
 *           the VM's devices, <root>/vm/<uid>/ and the runtime directory
 *           removed; commit (the row deleted).
 *
 * Every process is identified by pid plus start time (a zombie counts as
 * dead), so a reused pid is never signalled nor taken for a running VM.
 * A vm operation whose owner died is finished by its row in the table of
 * operations (engine_vm_run_recover_op: engine_open's loop, doctor) and by
 * engine_vm_refresh, which every engine_open runs next with two indexed
 * queries, and which also records Stopped for VMs whose monitor is gone,
 * so `ps` never shows a dead VM as running.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"
#include "pool/pool.h"

#define VM_POLL_MS 50            /* how often a wait looks at the processes */
#define VM_MONITOR_EXIT_MS 10000 /* a monitor's time to record an end and exit */
#define VM_STOP_EXTRA_MS 5000    /* past the grace: the monitor's own kill, then ours */
#define VM_READY_LINE_MAX 4096

/* ---- shared with monitor.c ------------------------------------------------ */

void vm_exit_describe(int wstatus, int *ret_status, char *reason, size_t size) {
    if (WIFSIGNALED(wstatus)) {
        *ret_status = 128 + WTERMSIG(wstatus);
        snprintf(reason, size, "killed by signal %d", WTERMSIG(wstatus));
    } else {
        *ret_status = WEXITSTATUS(wstatus);
        snprintf(reason, size, "exited with status %d", WEXITSTATUS(wstatus));
    }
}

/* Closes the open vm.stop operations of uid (inside the caller's transaction). */
static int close_stop_ops(engine *e, const char *uid, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    for (size_t i = 0; i < n && r == 0; i++)
        if (strcmp(ops[i].op, "vm.stop") == 0 && ops[i].object_uid &&
            strcmp(ops[i].object_uid, uid) == 0)
            r = store_op_finish(e->store, ops[i].id, NULL, err);
    store_ops_free(ops, n);
    return r;
}

bool vm_state_runs(enum api_vm_state state) {
    return state == API_VM_RUNNING || state == API_VM_STARTING || state == API_VM_STOPPING;
}

/* A journal row's {"from": NAME} (the state's name is the row's JSON; "" for none). */
static void from_params(enum api_vm_state from, char *ret, size_t size) {
    const char *name = api_vm_state_name(from);
    snprintf(ret, size, "{\"from\":\"%s\"}", name ? name : "");
}

int vm_record_stopped(engine *e, const char *uid, int exit_status, const char *reason,
                      struct error *err) {
    int r = store_begin(e->store, err);
    if (r < 0)
        return r;
    enum api_vm_state state;
    r = store_vm_state_get(e->store, uid, &state, err);
    if (r == -ENOENT) { /* removed meanwhile: nothing to record */
        store_rollback(e->store);
        error_init(err);
        return 0;
    }
    if (r == 0 && vm_state_runs(state))
        r = store_vm_state_set(e->store, uid, API_VM_STOPPED, err);
    if (r == 0) {
        r = store_vm_runtime_set_stopped(e->store, uid, (int64_t)time(NULL), exit_status, reason,
                                         err);
        if (r == -ENOENT) {
            error_init(err);
            r = 0;
        }
    }
    if (r == 0)
        r = close_stop_ops(e, uid, err);
    if (r == 0)
        r = store_commit(e->store, err);
    if (r < 0)
        store_rollback(e->store);
    return r;
}

void vm_device_deactivate(engine *e, int64_t device_id) {
    if (device_id < 0 || device_id > POOL_ID_MAX)
        return;
    pool *p = NULL;
    struct error err;
    error_init(&err);
    if (engine_pool_get(e, &p, &err) < 0 ||
        pool_device_deactivate(p, (uint32_t)device_id, &err) < 0)
        log_warn("device %lld: %s", (long long)device_id, err.msg);
}

/* ---- small pieces ------------------------------------------------------------ */

/* The monitor that rt records for uid runs (and is the VM's monitor: vm_proc_is). */
static bool monitor_runs(engine *e, const char *uid, const struct store_vm_runtime *rt) {
    return vm_proc_is(e, uid, VM_PROC_MONITOR, rt->monitor_pid, rt->monitor_start);
}

/* mkdir -p for the directories under the root that runtime files live in. */
static int vm_dirs_make(engine *e, const char *uid, struct error *err) {
    _cleanup_free_ char *run = xasprintf("%s/run", e->root);
    _cleanup_free_ char *runvm = xasprintf("%s/run/vm", e->root);
    _cleanup_free_ char *rundir = vm_run_dir(e, uid);
    _cleanup_free_ char *vm = xasprintf("%s/vm", e->root);
    _cleanup_free_ char *data = vm_data_dir(e, uid);
    if (!run || !runvm || !rundir || !vm || !data)
        return error_oom(err);
    int r = engine_dir_make(run, err);
    if (r == 0)
        r = engine_dir_make(runvm, err);
    if (r == 0)
        r = engine_dir_make(rundir, err);
    if (r == 0)
        r = engine_dir_make(vm, err);
    if (r == 0)
        r = engine_dir_make(data, err);
    return r;
}

static void vm_run_dir_remove(engine *e, const char *uid) {
    _cleanup_free_ char *dir = vm_run_dir(e, uid);
    struct error err;
    error_init(&err);
    if (dir && fs_tree_remove(dir, &err) < 0)
        log_warn("vm %s: %s", uid, err.msg);
}

/* The "from" state recorded in a vm operation's parameters (Created when unknown). */
static enum api_vm_state op_from_state(const struct store_op *op) {
    enum api_vm_state s = API_VM_CREATED;
    json_t *j = op->params ? json_loads(op->params, 0, NULL) : NULL;
    const char *from = json_string_value(json_object_get(j, "from"));
    if (from && api_vm_state_parse(from, &s) == 0 && s != API_VM_STOPPED && s != API_VM_RUNNING)
        s = API_VM_CREATED;
    json_decref(j);
    return s;
}

/* Finishes operation op in its own short transaction; a finished one is fine. */
static void op_close(engine *e, int64_t op, const char *why) {
    struct error err;
    error_init(&err);
    int r = store_op_finish(e->store, op, why, &err);
    if (r < 0 && r != -ENOENT)
        log_warn("operation %lld: %s", (long long)op, err.msg);
}

/*
 * Makes sure nothing runs for uid any more: SIGKILL to its VMM (pid + start
 * checked), a wait of up to wait_ms for its monitor to record the end and
 * exit, SIGKILL to a monitor that did not. When the end is not recorded by
 * then, it is recorded here with reason, the device deactivated and the
 * runtime directory removed.
 */
static int vm_halt(engine *e, const char *uid, bool kill_vmm, int wait_ms, const char *reason,
                   struct error *err) {
    struct store_vm_runtime rt;
    int r = store_vm_runtime_get(e->store, uid, &rt, err);
    if (r == -ENOENT) {
        error_init(err);
        vm_net_down(e, uid);
        vm_run_dir_remove(e, uid);
        return 0;
    }
    if (r < 0)
        return r;
    if (kill_vmm)
        (void)vm_proc_signal(e, uid, VM_PROC_VMM, rt.vmm_pid, rt.vmm_start, SIGKILL, -1);
    int64_t deadline = time_now_ms() + wait_ms;
    while (monitor_runs(e, uid, &rt) && time_now_ms() < deadline)
        sleep_ms(VM_POLL_MS);
    if (vm_proc_signal(e, uid, VM_PROC_MONITOR, rt.monitor_pid, rt.monitor_start, SIGKILL, -1) ==
        0) {
        while (monitor_runs(e, uid, &rt) && time_now_ms() < deadline + 2000)
            sleep_ms(VM_POLL_MS / 5);
    }
    /* The VMM dies with its monitor (PR_SET_PDEATHSIG); one that survived goes too. */
    (void)vm_proc_signal(e, uid, VM_PROC_VMM, rt.vmm_pid, rt.vmm_start, SIGKILL, -1);
    struct store_vm_runtime now;
    r = store_vm_runtime_get(e->store, uid, &now, err);
    if (r == 0 && now.stopped == 0)
        r = vm_record_stopped(e, uid, -1, reason, err);
    else if (r == 0) {
        /* The monitor recorded the end; the state follows it (a removal keeps its own). */
        r = vm_record_stopped(e, uid, now.exit_status, now.exit_reason, err);
    }
    if (r < 0)
        return r;
    vm_device_deactivate(e, rt.device_id);
    vm_net_down(e, uid);
    vm_run_dir_remove(e, uid);
    return 0;
}

/* ---- refresh and recovery ------------------------------------------------------ */

static bool op_on(const struct store_op *ops, size_t n, const char *uid, bool live) {
    for (size_t i = 0; i < n; i++)
        if (str_starts_with(ops[i].op, "vm.") && ops[i].object_uid &&
            strcmp(ops[i].object_uid, uid) == 0 &&
            proc_is_alive(ops[i].owner_pid, ops[i].owner_start) == live)
            return true;
    return false;
}

static int vm_remove_act(engine *e, const char *uid, int64_t op, struct error *err);

/* The operations this file recovers (vm.create and vm.layer are vm_create.c's). */
static bool vm_run_op_is(const char *op) {
    return strcmp(op, "vm.start") == 0 || strcmp(op, "vm.stop") == 0 ||
           strcmp(op, "vm.remove") == 0;
}

/* The state a VM goes back to (the rows of an aborted start). */
struct vm_back {
    const char *uid;
    enum api_vm_state to;
};

static int back_rows(engine *e, void *ud, struct error *err) {
    const struct vm_back *b = ud;
    return store_vm_state_set(e->store, b->uid, b->to, err);
}

/* A start whose monitor reported: only the commit was missing (Starting becomes Running). */
static int start_forward_rows(engine *e, void *ud, struct error *err) {
    const char *uid = ud;
    enum api_vm_state state;
    int r = store_vm_state_get(e->store, uid, &state, err);
    if (r == 0 && state == API_VM_STARTING)
        r = store_vm_state_set(e->store, uid, API_VM_RUNNING, err);
    return r;
}

/* A start rolled back: the state it had (b->to), unless another one was recorded since. */
static int start_back_rows(engine *e, void *ud, struct error *err) {
    const struct vm_back *b = ud;
    enum api_vm_state state;
    int r = store_vm_state_get(e->store, b->uid, &state, err);
    if (r == 0 && (state == API_VM_STARTING || state == API_VM_STOPPED))
        r = store_vm_state_set(e->store, b->uid, b->to, err);
    if (r == -ENOENT) {
        error_init(err);
        r = 0;
    }
    return r;
}

/* Finishes one dead vm.start: forward when its monitor runs, else rolled back. */
static int vm_recover_start(engine *e, const struct store_op *op, struct error *err) {
    const char *uid = op->object_uid;
    struct store_vm_runtime rt;
    bool have = store_vm_runtime_get(e->store, uid, &rt, NULL) == 0;
    if (have && rt.stopped == 0 && monitor_runs(e, uid, &rt))
        return engine_op_commit(e, op->id, start_forward_rows, (void *)uid, NULL, err);
    /* Rolled back: whatever ran goes (also a monitor not recorded yet), the state is what it was.
     */
    vm_proc_kill_monitors(e, uid, VM_MONITOR_EXIT_MS);
    int r = vm_halt(e, uid, true, VM_MONITOR_EXIT_MS, "the start was interrupted", err);
    if (r < 0)
        return r;
    vm_device_deactivate(e, op->device_id);
    struct vm_back b = {uid, op_from_state(op)};
    return engine_op_abort(e, op->id, "interrupted; rolled back", start_back_rows, &b, err);
}

/* Finishes one vm operation whose owner is dead (adopting it first). */
static int vm_recover_op(engine *e, const struct store_op *op, struct error *err) {
    int r = engine_op_adopt(e, op, err);
    if (r <= 0)
        return r; /* an error, or another process finished it */
    const char *uid = op->object_uid;
    if (!uid || !id_is_valid(uid))
        return engine_op_abort(e, op->id, "interrupted; no vm named", NULL, NULL, err);
    if (strcmp(op->op, "vm.remove") == 0)
        return vm_remove_act(e, uid, op->id, err);
    if (strcmp(op->op, "vm.start") == 0)
        return vm_recover_start(e, op, err);
    if (strcmp(op->op, "vm.stop") == 0) {
        /* A stop is finished forward: the VM ends. */
        r = vm_halt(e, uid, true, VM_MONITOR_EXIT_MS, "the stop was interrupted", err);
        if (r < 0)
            return r;
        op_close(e, op->id, NULL);
        return 0;
    }
    return engine_op_abort(e, op->id, "interrupted; unknown vm operation", NULL, NULL, err);
}

int engine_vm_run_recover_op(engine *e, const struct store_op *op, struct error *err) {
    return vm_run_op_is(op->op) ? vm_recover_op(e, op, err) : 0;
}

/*
 * A VM recorded as running whose monitor is gone: recorded Stopped, leftovers
 * removed. A VM that a live operation works on (a start whose monitor has not
 * recorded itself yet) is left to it.
 */
static int vm_check_one(engine *e, const char *uid, bool *ret_fixed, struct error *err) {
    *ret_fixed = false;
    struct store_vm_runtime rt;
    int r = store_vm_runtime_get(e->store, uid, &rt, err);
    if (r == 0 && monitor_runs(e, uid, &rt))
        return 0;
    if (r < 0 && r != -ENOENT)
        return r;
    error_init(err);
    enum api_vm_state state;
    r = store_vm_state_get(e->store, uid, &state, err);
    if (r < 0 || !vm_state_runs(state))
        return r == -ENOENT ? 0 : r;
    struct store_op *ops = NULL;
    size_t n = 0;
    r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    bool busy = op_on(ops, n, uid, true);
    store_ops_free(ops, n);
    if (busy || e->read_only)
        return 0; /* read-only: shown as recorded */
    *ret_fixed = true;
    return vm_halt(e, uid, true, 0, "the monitor died", err);
}

/*
 * Every command's look at the VMs recorded as running: their runtime rows in
 * one query, and a monitor that holds its mark (vm_proc_monitor_marked: an
 * open, a read and an fcntl) is taken to run; any other is checked by
 * vm_check_one, with vm_proc_is, which alone records a VM dead.
 */
int engine_vm_refresh(engine *e, size_t *ret_n, struct error *err) {
    struct store_vm_live *live = NULL;
    size_t n = 0, done = 0;
    if (e->read_only) {
        if (ret_n)
            *ret_n = 0;
        return 0; /* nothing can be recorded */
    }
    int r = store_vm_live_list(e->store, &live, &n, err);
    if (r < 0)
        return r;
    /* Also when no VM is recorded as running: a start whose monitor recorded the VM's end
     * before its starter's death was seen leaves a Stopped VM and an open vm.start. */
    struct store_op *ops = NULL;
    size_t n_ops = 0;
    r = store_op_list_open(e->store, &ops, &n_ops, err);
    int first = r;
    /* Operations of dead owners first: they know what was meant. */
    for (size_t i = 0; i < n_ops && first == 0; i++) {
        if (!vm_run_op_is(ops[i].op) || proc_is_alive(ops[i].owner_pid, ops[i].owner_start))
            continue;
        struct error e2;
        error_init(&e2);
        r = vm_recover_op(e, &ops[i], &e2);
        if (r < 0)
            first = error_set(err, r, "operation %lld (%s of vm %s): %s", (long long)ops[i].id,
                              ops[i].op, ops[i].object_uid ? ops[i].object_uid : "", e2.msg);
        else
            done++;
    }
    for (size_t i = 0; i < n && first == 0; i++) {
        const struct store_vm_live *l = &live[i];
        if (op_on(ops, n_ops, l->uid, true))
            continue; /* a live operation works on it */
        if (l->have_rt && l->rt.stopped == 0 &&
            vm_proc_monitor_marked(e, l->uid, l->rt.monitor_pid, l->rt.monitor_start))
            continue;
        bool fixed = false;
        struct error e2;
        error_init(&e2);
        r = vm_check_one(e, l->uid, &fixed, &e2);
        if (r < 0)
            first = error_set(err, r, "vm %s: %s", l->uid, e2.msg);
        else if (fixed)
            done++;
    }
    store_ops_free(ops, n_ops);
    free(live);
    if (ret_n)
        *ret_n = done;
    return first;
}

void engine_vm_open_hook(engine *e) {
    struct error err;
    error_init(&err);
    size_t n = 0;
    if (engine_vm_refresh(e, &n, &err) < 0)
        log_warn("vm refresh: %s", err.msg);
    else if (n > 0)
        log_info("vm refresh: corrected %zu vms", n);
}

int engine_vm_runtime_get(engine *e, const char *uid, struct engine_vm_runtime *ret,
                          struct error *err) {
    bool fixed = false;
    int r = vm_check_one(e, uid, &fixed, err);
    if (r < 0)
        return r;
    struct engine_vm_runtime out = {.exit_status = -1};
    struct store_vm_runtime rt;
    r = store_vm_runtime_get(e->store, uid, &rt, err);
    if (r < 0 && r != -ENOENT)
        return r;
    error_init(err);
    enum api_vm_state state = API_VM_STATE_NONE;
    int rs = store_vm_state_get(e->store, uid, &state, err);
    if (rs < 0)
        return rs;
    _cleanup_free_ char *data = vm_data_dir(e, uid);
    _cleanup_free_ char *run = vm_run_dir(e, uid);
    if (!data || !run)
        return error_oom(err);
    snprintf(out.console_log, sizeof(out.console_log), "%s/" VM_CONSOLE_LOG, data);
    if (r == 0) {
        out.running = rt.stopped == 0 && vm_state_runs(state) && monitor_runs(e, uid, &rt);
        snprintf(out.vmm, sizeof(out.vmm), "%s", rt.vmm);
        out.monitor_pid = rt.monitor_pid;
        out.vmm_pid = rt.vmm_pid;
        out.started = rt.started;
        out.stopped = rt.stopped;
        out.exit_status = rt.exit_status;
        snprintf(out.exit_reason, sizeof(out.exit_reason), "%s", rt.exit_reason);
        if (out.running)
            snprintf(out.attach_socket, sizeof(out.attach_socket), "%s/" VM_ATTACH_SOCKET, run);
    }
    *ret = out;
    return 0;
}

/* ---- start ------------------------------------------------------------------ */

/* Puts the VM back to from and closes the journal row with why (a failed start). */
static void start_undo(engine *e, const char *uid, int64_t op, enum api_vm_state from,
                       int64_t device, const char *why) {
    struct error err;
    error_init(&err);
    if (vm_halt(e, uid, true, VM_MONITOR_EXIT_MS, why, &err) < 0)
        log_warn("vm %s: %s", uid, err.msg);
    vm_device_deactivate(e, device);
    error_init(&err);
    struct vm_back b = {uid, from};
    (void)engine_op_abort(e, op, why, back_rows, &b, &err); /* a failure is logged */
}

/* The kernel a VM boots: status.kernel.internalUID, else the kernel named by its claim. */
static int start_kernel_uid(engine *e, const struct api_object *vm, char *ret, struct error *err) {
    const struct api_vm *v = &vm->u.vm;
    if (v->status_kernel.internal_uid && id_is_valid(v->status_kernel.internal_uid)) {
        memcpy(ret, v->status_kernel.internal_uid, ID_LEN + 1);
        return 0;
    }
    if (!v->kernel_claim || !v->kernel_claim->ref)
        return error_set(err, -ENOENT, "vm '%s' names no kernel", vm->meta.name);
    int r = store_object_find_name(e->store, API_KIND_KERNEL, v->kernel_claim->ref, ret, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT,
                         "vm '%s': kernel '%s' is not imported; import it with 'hearth kernel "
                         "import'",
                         vm->meta.name, v->kernel_claim->ref);
    return r;
}

/*
 * vmm_kvm_usable, remembered for the boot: the probe runs a test vCPU for up
 * to 2 s where KVM is broken, too slow for every start. The answer is kept in
 * <root>/run/kvm-probe with the kernel's boot id, so a reboot (or a cleared
 * runtime directory) probes again.
 */
static bool kvm_usable_cached(engine *e, char *why, size_t why_size) {
    char boot_id[64] = "";
    _cleanup_fclose_ FILE *bf = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!bf || !fgets(boot_id, sizeof(boot_id), bf))
        return vmm_kvm_usable(why, why_size);
    boot_id[strcspn(boot_id, "\n")] = '\0';
    _cleanup_free_ char *path = xasprintf("%s/run/kvm-probe", e->root);
    _cleanup_free_ char *tmp = xasprintf("%s/run/kvm-probe.%d", e->root, (int)getpid());
    if (!path || !tmp)
        return vmm_kvm_usable(why, why_size);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    if (strbuf_read_file(&sb, path, 4096, NULL) == 0 && sb.buf) {
        /* "<boot id>\n<0|1>\n<why>\n" */
        char *l1 = sb.buf, *l2 = strchr(l1, '\n');
        char *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
        if (l2 && l3 && (size_t)(l2 - l1) == strlen(boot_id) &&
            strncmp(l1, boot_id, strlen(boot_id)) == 0 && (l2[1] == '0' || l2[1] == '1')) {
            snprintf(why, why_size, "%.*s", (int)strcspn(l3 + 1, "\n"), l3 + 1);
            return l2[1] == '1';
        }
    }
    bool usable = vmm_kvm_usable(why, why_size);
    _cleanup_free_ char *run = xasprintf("%s/run", e->root);
    if (run && (mkdir(run, 0700) == 0 || errno == EEXIST)) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (fd >= 0 && !f)
            close(fd);
        if (f && fprintf(f, "%s\n%d\n%s\n", boot_id, usable ? 1 : 0, why) > 0 && fflush(f) == 0 &&
            rename(tmp, path) == 0)
            return usable;
        unlink(tmp);
    }
    return usable;
}

/* The VMM, its binary, the acceleration and the files to boot: everything but the disk. */
static int start_plan(engine *e, const struct api_object *vm,
                      const struct engine_vm_start_opts *opts, struct vm_launch *l, char *notice,
                      size_t notice_size, struct error *err) {
    const char *name = vm->meta.name;
    char why[256] = "";
    _cleanup_free_ char *fc = NULL;
    int r;
    if (opts->vmm) {
        if (vmm_kind_parse(opts->vmm, &l->kind) < 0)
            return error_set(err, -EINVAL, "unknown vmm '%s' (firecracker or qemu)", opts->vmm);
        if (l->kind == VMM_QEMU)
            l->kvm = kvm_usable_cached(e, why, sizeof(why));
        else
            l->kvm = true;
    } else {
        struct error ferr;
        error_init(&ferr);
        l->kvm = kvm_usable_cached(e, why, sizeof(why));
        l->kind = l->kvm && vmm_firecracker_find(opts->firecracker_bin, &fc, &ferr) == 0
                      ? VMM_FIRECRACKER
                      : VMM_QEMU;
    }
    if (l->kind == VMM_QEMU && !l->kvm)
        snprintf(notice, notice_size, "KVM is not usable (%s): the VM runs under TCG", why);
    if (l->kind == VMM_FIRECRACKER) {
        if (!fc && (r = vmm_firecracker_find(opts->firecracker_bin, &fc, err)) < 0)
            return r;
        l->binary = steal_ptr(&fc);
    } else {
        l->binary = xstrdup(opts->qemu_bin ? opts->qemu_bin : "qemu-system-x86_64");
    }

    char kuid[ID_LEN + 1];
    r = start_kernel_uid(e, vm, kuid, err);
    if (r < 0)
        return r;
    /* qemu boots the bzImage, firecracker needs the ELF. */
    const char *first = l->kind == VMM_QEMU ? "vmlinuz" : "vmlinux";
    r = engine_kernel_file(e, kuid, first, &l->kernel, err);
    if (r == -ENOENT && l->kind == VMM_QEMU)
        r = engine_kernel_file(e, kuid, "vmlinux", &l->kernel, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "vm '%s': its kernel has no %s file%s", name, first,
                         l->kind == VMM_FIRECRACKER ? "; firecracker needs an ELF vmlinux: use "
                                                      "--vmm qemu"
                                                    : "");
    if (r < 0)
        return r;
    struct error ierr;
    error_init(&ierr);
    if (engine_kernel_file(e, kuid, "initrd", &l->initrd, &ierr) < 0)
        l->initrd = NULL;

    const char *cmd = vm->u.vm.cmdline ? vm->u.vm.cmdline : API_DEFAULT_CMDLINE;
    bool has_root = str_starts_with(cmd, "root=") || strstr(cmd, " root=");
    if (l->kind == VMM_QEMU && !has_root)
        l->cmdline = xasprintf("%s%sroot=/dev/vda rw", cmd, *cmd ? " " : "");
    else
        l->cmdline = xstrdup(cmd);
    l->cpus = vm->u.vm.cpus ? vm->u.vm.cpus : API_DEFAULT_CPUS;
    l->memory = vm->u.vm.memory ? vm->u.vm.memory : API_DEFAULT_MEMORY;
    if (!l->binary || !l->cmdline)
        return error_oom(err);
    return 0;
}

/*
 * Waits on fd (the ready pipe) for the monitor's report: "ok", or "error: ..."
 * which becomes the error. mlog is the monitor's log, named when it exits
 * without a word.
 */
static int monitor_wait_ready(int fd, const char *mlog, struct error *err) {
    char buf[VM_READY_LINE_MAX];
    size_t len = 0;
    int64_t deadline = time_now_ms() + VM_READY_TIMEOUT_MS;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (nl) {
            *nl = '\0';
            if (strcmp(buf, "ok") == 0)
                return 0;
            return error_set(err, -EIO, "%s",
                             str_starts_with(buf, "error: ") ? buf + 7 : "the monitor failed");
        }
        int64_t left = deadline - time_now_ms();
        if (left <= 0)
            return error_set(err, -ETIMEDOUT, "the monitor did not report within %d s",
                             VM_READY_TIMEOUT_MS / 1000);
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)left);
        if (pr <= 0)
            continue; /* interrupted, or the deadline: looked at above */
        if (len == sizeof(buf) - 1)
            len = 0; /* an over-long line: dropped */
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return error_set(err, -EIO, "the monitor exited without reporting; see '%s'", mlog);
        len += (size_t)n;
    }
}

/*
 * Launches the monitor detached (exec_start: fork, setsid, fork again) as
 * `self __monitor ROOT UID 3`, the ready pipe's write end its descriptor 3,
 * its stderr appended to <data dir>/monitor.log; then waits for its report.
 * Returns the monitor's pid in *ret_pid (0 when it did not start).
 */
static int start_monitor(engine *e, const char *uid, const char *self, int *ret_pid,
                         struct error *err) {
    *ret_pid = 0;
    _cleanup_free_ char *data = vm_data_dir(e, uid);
    _cleanup_free_ char *mlog = data ? xasprintf("%s/monitor.log", data) : NULL;
    if (!mlog)
        return error_oom(err);
    /* argv[0] names the binary even when it is run as /proc/self/exe (ps, doctor). */
    char shown[PATH_MAX];
    ssize_t sl =
        strcmp(self, "/proc/self/exe") == 0 ? readlink(self, shown, sizeof(shown) - 1) : -1;
    if (sl > 0)
        shown[sl] = '\0';
    const char *const argv[] = {sl > 0 ? shown : self, "__monitor", e->root, uid, "3", NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return error_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
    _cleanup_close_ int logfd =
        open(mlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
    struct exec_opts opts = {
        .program = self,
        .stderr_fd = logfd >= 0 ? logfd : 0,
        .pass_fd = p[1],
        .detach = true,
    };
    struct exec_proc proc;
    int r = exec_start(argv, &opts, &proc, err);
    close(p[1]);
    if (r == 0) {
        fault_point("vm.start.after-fork"); /* the monitor runs, not recorded yet */
        *ret_pid = proc.pid;
        r = monitor_wait_ready(p[0], mlog, err);
    }
    close(p[0]);
    return r;
}

/*
 * The VM that ref names, as a start finds it: a dead VM recorded as running
 * is recorded Stopped first; one without a disk (applied, not created) gets
 * it through create's chain (what that did in res->built). Its device in
 * *ret_dev.
 */
static int start_load(engine *e, const char *ref, const struct engine_vm_start_opts *opts,
                      char uid[ID_LEN + 1], struct api_object **ret_vm, uint32_t *ret_dev,
                      struct engine_vm_start_result *res, struct error *err) {
    int r = engine_resolve(e, API_KIND_VM, ref, uid, err);
    if (r < 0)
        return r;
    bool fixed;
    r = vm_check_one(e, uid, &fixed, err); /* a dead VM recorded as running is not running */
    if (r < 0)
        return r;
    r = store_object_get(e->store, API_KIND_VM, uid, ret_vm, err);
    if (r < 0)
        return r;
    r = engine_vm_device(e, uid, ret_dev, err);
    if (r == -ENOENT) {
        /* Applied, not created: its disk first, through create's chain. */
        error_init(err);
        struct engine_vm_create_result built;
        r = engine_vm_disk_build(e, uid, opts->create, &built, err);
        snprintf(res->built, sizeof(res->built), "%s", built.notice);
        *ret_dev = built.device_id;
        api_object_free(*ret_vm);
        *ret_vm = NULL;
        if (r == 0) /* its claims and status.image/kernel are filled now */
            r = store_object_get(e->store, API_KIND_VM, uid, ret_vm, err);
    }
    return r;
}

/* What the rows of a start's intent and commit read and write. */
struct start_rows {
    const char *uid, *name;
    struct engine_op *op;
    struct vm_net *net;          /* intent: the lease taken */
    enum api_vm_state from;      /* intent: the state the VM had */
    char params[64];             /* intent: {"from": ...} */
    struct store_vm_runtime *rt; /* commit: what the monitor recorded */
};

static int start_intent_rows(engine *e, void *ud, struct error *err) {
    struct start_rows *s = ud;
    int r = store_vm_state_get(e->store, s->uid, &s->from, err);
    if (r == 0 && vm_state_runs(s->from))
        r = error_set(err, -EBUSY, "vm '%s' is already running", s->name);
    else if (r == 0 && (s->from == API_VM_CREATING || s->from == API_VM_REMOVING))
        r = error_set(err, -EBUSY, "vm '%s' is being %s", s->name,
                      s->from == API_VM_CREATING ? "created" : "removed");
    if (r < 0)
        return r;
    if (s->from == API_VM_STATE_NONE)
        s->from = API_VM_CREATED;
    from_params(s->from, s->params, sizeof(s->params));
    s->op->params = s->params;
    r = vm_net_lease(e, s->net, s->uid, err);
    if (r < 0)
        return r;
    return store_vm_state_set(e->store, s->uid, API_VM_STARTING, err);
}

/* 1. intent: state Starting and the journal row (the state it had in from). */
static int start_intent(engine *e, const char *uid, const char *name, uint32_t dev,
                        struct vm_net *net, enum api_vm_state *ret_from, int64_t *ret_op,
                        struct error *err) {
    struct engine_op op = {.name = "vm.start", .kind = API_KIND_VM, .uid = uid, .device_id = dev};
    struct start_rows s = {.uid = uid, .name = name, .op = &op, .net = net};
    int r = engine_op_intent(e, &op, start_intent_rows, &s, "vm.start.after-intent", err);
    if (r < 0)
        return r;
    if (net->mode == VM_NET_BRIDGE)
        fault_point("net.after-lease");
    *ret_from = s.from;
    *ret_op = op.id;
    return 0;
}

/*
 * A bridged VM's address (a cni VM's: ADD's) on its kernel command line too, for kernels built
 * with CONFIG_IP_PNP (Firecracker's and Ignite's): `ip=dhcp` (the default
 * command line's, Ignite's) becomes the leased address, and one is added
 * when there is no ip=; other kernels ignore it and ask dnsmasq. Another
 * ip= that the user wrote stays as it is.
 */
static int start_cmdline_ip(struct vm_launch *l, const struct vm_net *n, struct error *err) {
    const char *c = l->cmdline, *at = NULL;
    for (const char *p = c; (p = strstr(p, "ip=")); p += 3) {
        if (p != c && p[-1] != ' ')
            continue;
        if (strncmp(p, "ip=dhcp", 7) != 0 || (p[7] != ' ' && p[7] != '\0'))
            return 0;
        at = p;
        break;
    }
    char ip[NET_IP_MAX], gw[NET_IP_MAX], mask[NET_IP_MAX];
    net_ip_format(n->ip, ip);
    net_ip_format(n->mode == VM_NET_CNI ? n->cni_result.gateway : net_subnet_gateway(&n->subnet),
                  gw);
    net_ip_format(net_subnet_mask(&n->subnet), mask);
    char *nc = at ? xasprintf("%.*sip=%s::%s:%s::eth0:off:%s%s", (int)(at - c), c, ip, gw, mask, gw,
                              at + 7)
                  : xasprintf("%s ip=%s::%s:%s::eth0:off:%s", c, ip, gw, mask, gw);
    if (!nc)
        return error_oom(err);
    free(l->cmdline);
    l->cmdline = nc;
    return 0;
}

/*
 * 2. act: the disk activated, the runtime directories and launch.json (which
 * l fills and releases), the monitor launched (its pid in *ret_monitor,
 * known also when its start failed).
 */
static int start_act(engine *e, const char *uid, const char *name,
                     const struct engine_vm_start_opts *opts, int64_t op, struct vm_net *net,
                     struct vm_launch *l, int *ret_monitor, struct error *err) {
    int r = engine_pool_device_activate(e, (uint32_t)l->device_id, &l->disk, err);
    if (r == 0)
        r = store_op_step(e->store, op, "activated", err);
    if (r == 0)
        fault_point("vm.start.after-activate");
    if (r == 0)
        r = vm_dirs_make(e, uid, err);
    if (r == 0)
        r = vm_net_up(e, net, uid, name, op, err);
    if (r == 0 && net->mode == VM_NET_CNI) /* the address is ADD's */
        r = start_cmdline_ip(l, net, err);
    if (r == 0)
        r = vm_net_launch(net, name, l, err);
    _cleanup_free_ char *rundir = vm_run_dir(e, uid);
    _cleanup_free_ char *lpath = rundir ? xasprintf("%s/" VM_LAUNCH_FILE, rundir) : NULL;
    if (r == 0 && !lpath)
        r = error_oom(err);
    /* The monitor's executable, by which vm_proc_is knows it. */
    const char *self = opts->self_exe ? opts->self_exe : "/proc/self/exe";
    char exe[PATH_MAX];
    if (r == 0 &&
        (opts->self_exe ? (realpath(self, exe) ? 0 : -errno) : proc_exe(0, exe, sizeof(exe))) == 0)
        l->monitor = xstrdup(exe);
    if (r == 0)
        r = vm_launch_write(lpath, l, err);
    vm_launch_release(l);
    if (r == 0)
        r = start_monitor(e, uid, self, ret_monitor, err);
    return r;
}

static int start_commit_rows(engine *e, void *ud, struct error *err) {
    struct start_rows *s = ud;
    enum api_vm_state state = API_VM_STATE_NONE;
    int r = store_vm_runtime_get(e->store, s->uid, s->rt, err);
    if (r == 0)
        r = store_vm_state_get(e->store, s->uid, &state, err);
    if (r == 0 && state == API_VM_STARTING)
        r = store_vm_state_set(e->store, s->uid, s->rt->stopped ? API_VM_STOPPED : API_VM_RUNNING,
                               err);
    return r;
}

/* 3. commit: Running (or Stopped: a VMM that ended at once was recorded by its monitor). */
static int start_commit(engine *e, const char *uid, int64_t op, struct store_vm_runtime *rt,
                        struct error *err) {
    struct start_rows s = {.uid = uid, .rt = rt};
    return engine_op_commit(e, op, start_commit_rows, &s, "vm.start.after-commit", err);
}

int engine_vm_start(engine *e, const char *ref, const struct engine_vm_start_opts *opts,
                    struct engine_vm_start_result *ret, struct error *err) {
    static const struct engine_vm_start_opts none = {0};
    if (!opts)
        opts = &none;
    struct engine_vm_start_result res = {0};
    char uid[ID_LEN + 1];
    _cleanup_object_ struct api_object *vm = NULL;
    uint32_t dev = 0;
    int r = start_load(e, ref, opts, uid, &vm, &dev, &res, err);
    if (r < 0)
        return r;
    const char *name = vm->meta.name;
    struct vm_launch l = {.device_id = dev};
    struct vm_net net = {0};
    r = vm_net_plan(e, vm, opts, &net, res.net_notice, sizeof(res.net_notice), err);
    /* The user modes run in QEMU only: QEMU unless a VMM was named (firecracker then says so). */
    struct engine_vm_start_opts plan = *opts;
    if (r == 0 && net.mode == VM_NET_USER && !plan.vmm)
        plan.vmm = "qemu";
    if (r == 0)
        r = start_plan(e, vm, &plan, &l, res.notice, sizeof(res.notice), err);
    enum api_vm_state from = API_VM_CREATED;
    int64_t op = 0;
    if (r == 0)
        r = start_intent(e, uid, name, dev, &net, &from, &op, err);
    if (r == 0 && net.mode == VM_NET_BRIDGE)
        r = start_cmdline_ip(&l, &net, err);
    if (r < 0) {
        vm_net_release_fields(&net);
        vm_launch_release(&l);
        if (op > 0)
            start_undo(e, uid, op, from, dev, err->msg);
        return r;
    }

    snprintf(res.vmm, sizeof(res.vmm), "%s", vmm_kind_name(l.kind));
    int monitor_pid = 0;
    r = start_act(e, uid, name, opts, op, &net, &l, &monitor_pid, err);
    vm_net_release_fields(&net);
    if (r < 0) {
        error_prefix(err, "vm '%s' did not start", name);
        /* A monitor that has not recorded itself yet is known by its pid only. */
        if (monitor_pid > 0) {
            struct store_vm_runtime rt;
            if (store_vm_runtime_get(e->store, uid, &rt, NULL) < 0 || rt.monitor_pid != monitor_pid)
                kill(monitor_pid, SIGKILL);
        }
        start_undo(e, uid, op, from, dev, err->msg);
        return r;
    }
    fault_point("vm.start.after-monitor");

    struct store_vm_runtime rt = {0};
    r = start_commit(e, uid, op, &rt, err);
    if (r < 0)
        return r; /* the monitor runs: recovery rolls forward once this process is gone */
    memcpy(res.uid, uid, ID_LEN + 1);
    snprintf(res.name, sizeof(res.name), "%s", name);
    res.monitor_pid = rt.monitor_pid;
    res.vmm_pid = rt.vmm_pid;
    if (ret)
        *ret = res;
    return 0;
}

/* ---- stop and kill ------------------------------------------------------------- */

/* What the rows of a stop's intent and commit read and write. */
struct stop_rows {
    const char *uid, *name;
    struct store_vm_runtime *rt; /* intent: the runtime the stop acts on */
    struct engine_op *op;
    int64_t id; /* commit: the journal row, closed unless the monitor closed it */
};

static int stop_intent_rows(engine *e, void *ud, struct error *err) {
    struct stop_rows *s = ud;
    enum api_vm_state state;
    int r = store_vm_state_get(e->store, s->uid, &state, err);
    if (r == 0 && (state == API_VM_STARTING || state == API_VM_STOPPING))
        r = error_set(err, -EBUSY, "vm '%s' is %s; try again when it is done", s->name,
                      state == API_VM_STARTING ? "starting" : "stopping");
    else if (r == 0 && state != API_VM_RUNNING)
        r = error_set(err, -EINVAL, "vm '%s' is not running", s->name);
    if (r == 0)
        r = store_vm_runtime_get(e->store, s->uid, s->rt, err);
    if (r == 0)
        r = store_vm_state_set(e->store, s->uid, API_VM_STOPPING, err);
    s->op->device_id = s->rt->device_id;
    return r;
}

/* 1. intent: state Stopping and the journal row; the runtime the stop acts on in *rt. */
static int stop_intent(engine *e, const char *uid, const char *name, bool force,
                       struct store_vm_runtime *rt, int64_t *ret_op, struct error *err) {
    struct engine_op op = {
        .name = "vm.stop",
        .kind = API_KIND_VM,
        .uid = uid,
        .device_id = -1,
        .params = force ? "{\"from\":\"Running\",\"force\":true}" : "{\"from\":\"Running\"}",
    };
    struct stop_rows s = {.uid = uid, .name = name, .rt = rt, .op = &op};
    int r = engine_op_intent(e, &op, stop_intent_rows, &s, "vm.stop.after-intent", err);
    if (r == 0)
        *ret_op = op.id;
    return r;
}

/*
 * 2. act: SIGTERM with the grace to the monitor (SIGKILL to the VMM when
 * forced or the monitor is gone), then the wait for the monitor to record
 * the end and exit, killing the VMM once the grace and the monitor's own
 * kill passed. A monitor that did not record the end: it is recorded here.
 */
static int stop_act(engine *e, const char *uid, const char *name, bool force, int grace_ms,
                    const struct store_vm_runtime *rt, int64_t op, struct error *err) {
    bool monitor = monitor_runs(e, uid, rt);
    if (force || !monitor) {
        (void)vm_proc_signal(e, uid, VM_PROC_VMM, rt->vmm_pid, rt->vmm_start, SIGKILL, -1);
    } else {
        int q = vm_proc_signal(e, uid, VM_PROC_MONITOR, rt->monitor_pid, rt->monitor_start, SIGTERM,
                               grace_ms);
        if (q < 0)
            log_warn("vm '%s': cannot signal its monitor: %s", name, strerror(-q));
    }
    if (store_op_step(e->store, op, "signalled", NULL) < 0)
        log_debug("operation %lld: the step was not recorded", (long long)op);
    fault_point("vm.stop.after-signal");
    int64_t kill_at = time_now_ms() + (force ? 0 : grace_ms + VM_STOP_EXTRA_MS);
    int64_t give_up = kill_at + VM_MONITOR_EXIT_MS;
    bool killed = force;
    while (monitor_runs(e, uid, rt) && time_now_ms() < give_up) {
        if (!killed && time_now_ms() >= kill_at) {
            (void)vm_proc_signal(e, uid, VM_PROC_VMM, rt->vmm_pid, rt->vmm_start, SIGKILL, -1);
            killed = true;
        }
        sleep_ms(VM_POLL_MS);
    }
    return vm_halt(e, uid, true, 0, "the monitor died", err);
}

static int stop_commit_rows(engine *e, void *ud, struct error *err) {
    const struct stop_rows *s = ud;
    enum api_vm_state state;
    int r = store_vm_state_get(e->store, s->uid, &state, err);
    if (r == 0 && vm_state_runs(state))
        r = store_vm_state_set(e->store, s->uid, API_VM_STOPPED, err);
    if (r == 0) {
        r = store_op_finish(e->store, s->id, NULL, err);
        if (r == -ENOENT) { /* the monitor closed it with the end it recorded */
            error_init(err);
            r = 0;
        }
    }
    return r;
}

/*
 * 3. commit: Stopped, the journal row closed. The rows close it themselves
 * (journal row 0 to engine_op_commit): the monitor may have closed it with
 * the end it recorded.
 */
static int stop_commit(engine *e, const char *uid, int64_t op, struct error *err) {
    struct stop_rows s = {.uid = uid, .id = op};
    return engine_op_commit(e, 0, stop_commit_rows, &s, "vm.stop.after-commit", err);
}

int engine_vm_stop(engine *e, const char *ref, bool force, int grace_ms,
                   struct engine_vm_stop_result *ret, struct error *err) {
    char uid[ID_LEN + 1];
    int r = engine_resolve(e, API_KIND_VM, ref, uid, err);
    if (r < 0)
        return r;
    bool fixed;
    r = vm_check_one(e, uid, &fixed, err);
    if (r < 0)
        return r;
    _cleanup_object_ struct api_object *vm = NULL;
    r = store_object_get(e->store, API_KIND_VM, uid, &vm, err);
    if (r < 0)
        return r;
    const char *name = vm->meta.name;
    if (grace_ms < 0)
        grace_ms = ENGINE_STOP_GRACE_MS;

    struct store_vm_runtime rt = {0};
    int64_t op = 0;
    r = stop_intent(e, uid, name, force, &rt, &op, err);
    if (r < 0)
        return r;
    r = stop_act(e, uid, name, force, grace_ms, &rt, op, err);
    if (r == 0)
        r = stop_commit(e, uid, op, err);
    if (r < 0)
        return r;
    if (ret) {
        struct engine_vm_stop_result res = {0};
        memcpy(res.uid, uid, ID_LEN + 1);
        if (store_vm_runtime_get(e->store, uid, &rt, NULL) == 0) {
            res.exit_status = rt.exit_status;
            snprintf(res.exit_reason, sizeof(res.exit_reason), "%s", rt.exit_reason);
        }
        /* Every reason of an end that took a kill says so first. */
        res.killed = !force && str_starts_with(res.exit_reason, "killed");
        *ret = res;
    }
    return 0;
}

int engine_vm_kill(engine *e, const char *ref, char *ret_uid, struct error *err) {
    struct engine_vm_stop_result res;
    int r = engine_vm_stop(e, ref, true, 0, ret_uid ? &res : NULL, err);
    if (r == 0 && ret_uid)
        memcpy(ret_uid, res.uid, ID_LEN + 1);
    return r;
}

/* ---- remove ---------------------------------------------------------------- */

/* The act and commit of a removal whose intent (journal row op) is recorded; recovery reuses it. */
static int vm_remove_act(engine *e, const char *uid, int64_t op, struct error *err) {
    int r = vm_halt(e, uid, true, VM_MONITOR_EXIT_MS, "killed by signal 9 (removed)", err);
    if (r < 0)
        return r;
    fault_point("vm.remove.after-stop");
    vm_net_forget(e, uid);
    r = engine_owned_devices_remove(e, API_KIND_VM, uid, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *data = vm_data_dir(e, uid);
    if (!data)
        return error_oom(err);
    r = fs_tree_remove(data, err);
    if (r < 0)
        return r;
    vm_run_dir_remove(e, uid);
    fault_point("vm.remove.after-devices");
    return engine_op_commit(e, op, engine_vm_row_delete_rows, (void *)uid, "vm.remove.after-commit",
                            err);
}

/* The error for a VM that another command removed since the user's ref was resolved. */
static int vm_removed_meanwhile(const char *ref, struct error *err) {
    return error_set(err, -ENOENT, "vm '%s' was removed by another command", ref);
}

/* True when a live process has an open vm.remove of uid. */
static int vm_remove_running(engine *e, const char *uid, bool *ret, struct error *err) {
    struct store_op *ops = NULL;
    size_t n = 0;
    int r = store_op_list_open(e->store, &ops, &n, err);
    if (r < 0)
        return r;
    *ret = false;
    for (size_t i = 0; i < n && !*ret; i++)
        *ret = strcmp(ops[i].op, "vm.remove") == 0 && ops[i].object_uid &&
               strcmp(ops[i].object_uid, uid) == 0 &&
               proc_is_alive(ops[i].owner_pid, ops[i].owner_start);
    store_ops_free(ops, n);
    return 0;
}

/* What the rows of a removal's intent read and write. */
struct remove_rows {
    const char *uid, *ref, *name;
    bool force;
    struct engine_op *op;
    char params[64]; /* {"from": the state it had} */
};

static int remove_intent_rows(engine *e, void *ud, struct error *err) {
    struct remove_rows *s = ud;
    enum api_vm_state state = API_VM_STATE_NONE;
    bool removing = false;
    int r = store_vm_state_get(e->store, s->uid, &state, err);
    if (r == -ENOENT)
        r = vm_removed_meanwhile(s->ref, err);
    /* Two removals of one VM: the second is told, whatever -f says. */
    if (r == 0 && state == API_VM_REMOVING)
        r = vm_remove_running(e, s->uid, &removing, err);
    if (r == 0 && removing)
        r = error_set(err, -EBUSY, "vm '%s' is being removed by another command", s->ref);
    else if (r == 0 && !s->force && state == API_VM_RUNNING)
        r = error_set(err, -EBUSY, "vm '%s' is running: stop it first or use -f", s->name);
    else if (r == 0 && !s->force && api_vm_state_is_active(state))
        r = error_set(err, -EBUSY, "vm '%s' is %s: wait for it or use -f", s->name,
                      api_vm_state_name(state));
    from_params(state, s->params, sizeof(s->params));
    s->op->params = s->params;
    if (r == 0)
        r = store_vm_state_set(e->store, s->uid, API_VM_REMOVING, err);
    return r;
}

int engine_vm_remove(engine *e, const char *uid, const char *ref, bool force, char *ret_uid,
                     struct error *err) {
    _cleanup_object_ struct api_object *vm = NULL;
    int r = store_object_get(e->store, API_KIND_VM, uid, &vm, err);
    if (r == -ENOENT)
        return vm_removed_meanwhile(ref, err);
    if (r < 0)
        return r;
    const char *name = vm->meta.name;
    struct engine_op op = {.name = "vm.remove", .kind = API_KIND_VM, .uid = uid, .device_id = -1};
    struct remove_rows s = {.uid = uid, .ref = ref, .name = name, .force = force, .op = &op};
    r = engine_op_intent(e, &op, remove_intent_rows, &s, "vm.remove.after-intent", err);
    if (r < 0)
        return r;
    r = vm_remove_act(e, uid, op.id, err);
    if (r < 0) {
        /* The row stays Removing with its journal row: recovery finishes it. */
        error_prefix(err, "removing vm '%s'", name);
        return r;
    }
    if (ret_uid)
        memcpy(ret_uid, uid, ID_LEN + 1);
    return 0;
}
