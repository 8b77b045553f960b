/*
 * vmm driver: one interface over firecracker and qemu, so that the engine's
 * per-VM monitor runs either without knowing which: the argv, the event
 * channel, bringing a spawned process to a running guest, the graceful and
 * the hard stop, the status and how the guest ended, each looked up in a
 * table by kind. vmm_spawn starts the VMM process itself with its serial
 * console on pipes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/vmm.h"

#define DRIVER_RETRY_MS 20            /* the longest pause between readiness checks */
#define DRIVER_CLOSE_RANGE_CLOEXEC 4U /* linux/close_range.h CLOSE_RANGE_CLOEXEC */

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

static int64_t driver_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    int64_t deadline = driver_now_ms() + timeout_ms;
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
        if (driver_now_ms() >= deadline) {
            if (err)
                *err = e2;
            return error_prefix(err, "%s did not become ready within %d ms", vmm_kind_name(l->kind),
                                timeout_ms);
        }
        struct timespec ts = {0, pause_ms * 1000000L};
        nanosleep(&ts, NULL);
        pause_ms = pause_ms * 2 > DRIVER_RETRY_MS ? DRIVER_RETRY_MS : pause_ms * 2;
    }
    int left = (int)(deadline - driver_now_ms());
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
    int64_t deadline = driver_now_ms() + timeout_ms;
    int pause_ms = 1;
    for (;;) {
        struct error e2;
        error_init(&e2);
        int r = vmm_qmp_events_open(l->cfg.events_socket, 200, ret, &e2);
        if (r == 0)
            return 0;
        if (driver_exited(pid))
            return error_set(err, -ECHILD, "%s exited before it was ready", vmm_kind_name(l->kind));
        if (driver_now_ms() >= deadline) {
            if (err)
                *err = e2;
            return error_prefix(err, "%s's event socket did not answer within %d ms",
                                vmm_kind_name(l->kind), timeout_ms);
        }
        struct timespec ts = {0, pause_ms * 1000000L};
        nanosleep(&ts, NULL);
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

/* In the child: set up and exec; on failure, the errno goes to report_fd. */
_Noreturn static void spawn_child(char *const *argv, const struct vmm_spawn_opts *opts,
                                  pid_t parent, int in_r, int out_w, int report_fd) {
    int e = 0;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(127); /* the parent is gone already */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    int errfd = opts->stderr_fd;
    if (errfd < 0)
        errfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (errfd < 0 || dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(errfd, 2) < 0)
        e = errno;
    if (e == 0 && opts->cwd && chdir(opts->cwd) < 0)
        e = errno;
    if (e == 0) {
        /* Everything but 0-2 is closed by the exec (the report pipe too, on success). */
        if (syscall(SYS_close_range, 3U, ~0U, DRIVER_CLOSE_RANGE_CLOEXEC) < 0)
            for (int fd = 3; fd < 4096; fd++)
                if (fd != report_fd)
                    close(fd);
        if (strchr(argv[0], '/'))
            execv(argv[0], argv);
        else
            execvp(argv[0], argv);
        e = errno;
    }
    ssize_t n = write(report_fd, &e, sizeof(e));
    (void)n;
    _exit(127);
}

int vmm_spawn(char *const *argv, const struct vmm_spawn_opts *opts, struct vmm_process *ret,
              struct error *err) {
    static const struct vmm_spawn_opts none = {.stderr_fd = -1};
    if (!opts)
        opts = &none;
    if (!argv || !argv[0])
        return error_set(err, -EINVAL, "no program to run");
    int in[2] = {-1, -1}, out[2] = {-1, -1}, rep[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            closep(&in[i]);
            closep(&out[i]);
            closep(&rep[i]);
        }
        return error_set(err, -e, "cannot make pipes for '%s': %s", argv[0], strerror(e));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            close(in[i]);
            close(out[i]);
            close(rep[i]);
        }
        return error_set(err, -e, "cannot fork for '%s': %s", argv[0], strerror(e));
    }
    if (pid == 0)
        spawn_child(argv, opts, parent, in[0], out[1], rep[1]);
    close(in[0]);
    close(out[1]);
    close(rep[1]);
    int e = 0;
    ssize_t n;
    do
        n = read(rep[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    if (n == (ssize_t)sizeof(e)) {
        close(in[1]);
        close(out[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return error_set(err, e == ENOENT ? -ENOENT : -e, "cannot run '%s': %s", argv[0],
                         strerror(e));
    }
    *ret = (struct vmm_process){.pid = pid, .stdin_fd = in[1], .stdout_fd = out[0]};
    return 0;
}
