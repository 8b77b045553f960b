/*
 * vmm driver: one interface over firecracker and qemu, so that the engine's
 * per-VM monitor runs either without knowing which: the argv, the event
 * channel, bringing a spawned process to a running guest, the graceful and
 * the hard stop, the status and how the guest ended, each looked up in a
 * table by kind. vmm_spawn starts the VMM process (util's exec_start) with
 * its serial console on pipes.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm_priv.h"

#define DRIVER_RETRY_MS 20 /* the longest pause between readiness checks */

struct vmm_driver {
    const char *socket_name;
    const char *events_name; /* NULL: no event channel */
    int (*argv)(const struct vmm_launch *l, char ***ret, struct error *err);
    int (*ready)(const struct vmm_launch *l, int timeout_ms, struct error *err);
    int (*configure)(const struct vmm_launch *l, int timeout_ms, struct error *err);
    int (*graceful)(const char *sock, int timeout_ms, struct error *err);
    int (*hard)(const char *sock, int timeout_ms, struct error *err);
    int (*status)(const char *sock, int timeout_ms, char **ret, struct error *err);
    enum vmm_end (*end)(const struct vmm_events *ev, int wstatus);
};

static const char *control_of(const struct vmm_launch *l) {
    return l->control_socket ? l->control_socket : l->cfg.api_socket;
}

static int fc_argv(const struct vmm_launch *l, char ***ret, struct error *err) {
    return vmm_fc_argv(l->binary, &l->cfg, ret, err);
}

static int qemu_argv(const struct vmm_launch *l, char ***ret, struct error *err) {
    return vmm_qemu_argv(l->binary, &l->cfg, l->kvm, ret, err);
}

/* Firecracker is ready for its configuration once GET / answers. */
static int fc_ready(const struct vmm_launch *l, int timeout_ms, struct error *err) {
    char *state = NULL;
    int r = vmm_fc_state(control_of(l), timeout_ms, &state, err);
    free(state);
    return r;
}

static int fc_configure(const struct vmm_launch *l, int timeout_ms, struct error *err) {
    struct vmm_config cfg = l->cfg;
    cfg.api_socket = control_of(l);
    return vmm_fc_configure_and_start(&cfg, timeout_ms, err);
}

/* QEMU is configured by its argv; it is ready when QMP answers (the guest waits, -S). */
static int qemu_ready(const struct vmm_launch *l, int timeout_ms, struct error *err) {
    char *status = NULL;
    int r = vmm_qmp_status(control_of(l), timeout_ms, &status, err);
    if (r < 0)
        return r;
    if (strcmp(status, "prelaunch") != 0 && strcmp(status, "paused") != 0 &&
        strcmp(status, "running") != 0)
        r = error_set(err, -EIO, "qemu's guest is '%s', not about to run", status);
    free(status);
    return r;
}

/* The guest runs once QMP cont is done (its events socket was connected before). */
static int qemu_configure(const struct vmm_launch *l, int timeout_ms, struct error *err) {
    int r = vmm_qmp_cont(control_of(l), timeout_ms, err);
    char *status = NULL;
    if (r == 0)
        r = vmm_qmp_status(control_of(l), timeout_ms, &status, err);
    if (r == 0 && strcmp(status, "running") != 0)
        r = error_set(err, -EIO, "qemu's guest is '%s', not running", status);
    free(status);
    return r;
}

static int fc_hard(const char *sock, int timeout_ms, struct error *err) {
    (void)sock;
    (void)timeout_ms;
    return error_set(err, -ENOTSUP, "firecracker has no quit call; kill it");
}

/* Firecracker exits by itself (status 0) only on a CPU reset of its guest. */
static enum vmm_end fc_end(const struct vmm_events *ev, int wstatus) {
    (void)ev;
    return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? VMM_END_RESET : VMM_END_NONE;
}

static enum vmm_end qemu_end(const struct vmm_events *ev, int wstatus) {
    (void)wstatus;
    return ev ? ev->end : VMM_END_NONE;
}

static const struct vmm_driver drivers[] = {
    [VMM_FIRECRACKER] = {"api.sock", NULL, fc_argv, fc_ready, fc_configure,
                         vmm_fc_send_ctrl_alt_del, fc_hard, vmm_fc_state, fc_end},
    [VMM_QEMU] = {"qmp.sock", "qmp-events.sock", qemu_argv, qemu_ready, qemu_configure,
                  vmm_qmp_powerdown, vmm_qmp_quit, vmm_qmp_status, qemu_end},
};

static const struct vmm_driver *driver_of(enum vmm_kind k) {
    return (unsigned)k < ARRAY_SIZE(drivers) ? &drivers[k] : NULL;
}

const char *vmm_socket_name(enum vmm_kind k) {
    const struct vmm_driver *d = driver_of(k);
    return d ? d->socket_name : "vmm.sock";
}

const char *vmm_events_socket_name(enum vmm_kind k) {
    const struct vmm_driver *d = driver_of(k);
    return d ? d->events_name : NULL;
}

int vmm_spawn_argv(const struct vmm_launch *l, char ***ret, struct error *err) {
    const struct vmm_driver *d = driver_of(l->kind);
    if (!d)
        return error_set(err, -EINVAL, "unknown vmm kind %d", (int)l->kind);
    return d->argv(l, ret, err);
}

/* True when pid has ended (left for its parent to reap). */
static bool driver_exited(pid_t pid) {
    if (pid <= 0)
        return false;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == pid;
}

int vmm_configure(const struct vmm_launch *l, pid_t pid, int timeout_ms, struct error *err) {
    const struct vmm_driver *d = driver_of(l->kind);
    if (!d)
        return error_set(err, -EINVAL, "unknown vmm kind %d", (int)l->kind);
    int64_t deadline = time_now_ms() + timeout_ms;
    /* Short attempts, so that a VMM that dies meanwhile is noticed at once; the
     * pause between them grows from 1 ms (a VMM is usually ready within a few). */
    int pause_ms = 1;
    for (;;) {
        struct error e2;
        error_init(&e2);
        int r = d->ready(l, 200, &e2);
        if (r == 0)
            break;
        if (driver_exited(pid))
            return error_set(err, -ECHILD, "%s exited before it was ready", vmm_kind_name(l->kind));
        if (time_now_ms() >= deadline) {
            if (err)
                *err = e2;
            return error_prefix(err, "%s did not become ready within %d ms", vmm_kind_name(l->kind),
                                timeout_ms);
        }
        sleep_ms(pause_ms);
        pause_ms = pause_ms * 2 > DRIVER_RETRY_MS ? DRIVER_RETRY_MS : pause_ms * 2;
    }
    int left = (int)(deadline - time_now_ms());
    return d->configure(l, left > 1000 ? left : 1000, err);
}

int vmm_events_open(const struct vmm_launch *l, pid_t pid, int timeout_ms, struct vmm_events *ret,
                    struct error *err) {
    *ret = (struct vmm_events){.fd = -1};
    const struct vmm_driver *d = driver_of(l->kind);
    if (!d)
        return error_set(err, -EINVAL, "unknown vmm kind %d", (int)l->kind);
    if (!d->events_name || !l->cfg.events_socket)
        return 0;
    /* Short attempts, as in vmm_configure, so that a VMM that dies is noticed at once. */
    int64_t deadline = time_now_ms() + timeout_ms;
    int pause_ms = 1;
    for (;;) {
        struct error e2;
        error_init(&e2);
        int r = vmm_qmp_events_open(l->cfg.events_socket, 200, ret, &e2);
        if (r == 0)
            return 0;
        if (driver_exited(pid))
            return error_set(err, -ECHILD, "%s exited before it was ready", vmm_kind_name(l->kind));
        if (time_now_ms() >= deadline) {
            if (err)
                *err = e2;
            return error_prefix(err, "%s's event socket did not answer within %d ms",
                                vmm_kind_name(l->kind), timeout_ms);
        }
        sleep_ms(pause_ms);
        pause_ms = pause_ms * 2 > DRIVER_RETRY_MS ? DRIVER_RETRY_MS : pause_ms * 2;
    }
}

enum vmm_end vmm_end_of(const struct vmm_launch *l, const struct vmm_events *ev, int wstatus) {
    const struct vmm_driver *d = driver_of(l->kind);
    return d ? d->end(ev, wstatus) : VMM_END_NONE;
}

int vmm_stop_graceful(const struct vmm_launch *l, int timeout_ms, struct error *err) {
    const struct vmm_driver *d = driver_of(l->kind);
    if (!d)
        return error_set(err, -EINVAL, "unknown vmm kind %d", (int)l->kind);
    return d->graceful(control_of(l), timeout_ms, err);
}

int vmm_stop_hard(const struct vmm_launch *l, int timeout_ms, struct error *err) {
    const struct vmm_driver *d = driver_of(l->kind);
    if (!d)
        return error_set(err, -EINVAL, "unknown vmm kind %d", (int)l->kind);
    return d->hard(control_of(l), timeout_ms, err);
}

int vmm_status(const struct vmm_launch *l, int timeout_ms, char **ret, struct error *err) {
    const struct vmm_driver *d = driver_of(l->kind);
    if (!d)
        return error_set(err, -EINVAL, "unknown vmm kind %d", (int)l->kind);
    return d->status(control_of(l), timeout_ms, ret, err);
}

/* ---- spawning ------------------------------------------------------------ */

int vmm_spawn(const struct vmm_launch *l, int stderr_fd, struct exec_proc *ret, struct error *err) {
    char **argv = NULL;
    int r = vmm_spawn_argv(l, &argv, err);
    if (r < 0)
        return r;
    struct exec_opts opts = {
        .stdin_fd = EXEC_PIPE,
        .stdout_fd = EXEC_PIPE,
        .stderr_fd = stderr_fd >= 0 ? stderr_fd : 0,
        .pdeathsig = SIGKILL,
    };
    r = exec_start((const char *const *)argv, &opts, ret, err);
    vmm_argv_free(argv);
    return r;
}
