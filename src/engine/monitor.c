/*
 * monitor: the small per-VM process that owns a VM's VMM (the role podman's
 * conmon plays). engine_vm_start runs it detached as
 * `<self_exe> __monitor ROOT UID READY_FD`; it
 *
 *   1. opens its own engine on ROOT (never a connection inherited through
 *      fork), reads <root>/run/vm/<uid>/launch.json written by the starter
 *      and moves into that runtime directory, so that every socket is
 *      bound and reached by a short relative name whatever the root's length;
 *   2. listens on attach.sock, spawns the VMM (vmm_spawn: PR_SET_PDEATHSIG
 *      SIGKILL, the serial console on pipes, stderr to <root>/vm/<uid>/vmm.log)
 *      and brings it to a running guest through the vmm driver;
 *   3. records itself and the VMM (pid + start time) in vm_runtime, writes
 *      "ok\n" (or "error: <message>\n") to READY_FD and closes it;
 *   4. serves until the VMM ends: console output goes to console.log
 *      (rotated to console.log.1 past 1 MiB; write errors never stop the VM)
 *      and to every attach client; clients' input goes to the VMM's stdin.
 *      SIGTERM asks for a graceful stop (the driver's graceful call, then
 *      the hard one and SIGKILL once the grace passes; a sigqueue'd value is
 *      the grace in ms), so a stop completes even if the stopping command dies;
 *   5. reaps the VMM, records its end in one transaction (vm_record_stopped),
 *      deactivates the VM's device, removes the runtime directory and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define MON_CLIENTS_MAX 16
#define MON_INPUT_MAX (64u << 10)      /* bytes of clients' input waiting for the VMM */
#define MON_CONFIGURE_TIMEOUT_MS 30000 /* the VMM's time to become ready */
#define MON_CALL_TIMEOUT_MS 3000       /* one control call (graceful, hard stop) */
#define MON_KILL_AFTER_HARD_MS 3000    /* a hard stop's time before SIGKILL */

struct monitor {
    engine *e;
    char uid[ID_LEN + 1];
    char *run_dir, *data_dir;
    struct vm_launch launch;
    struct vmm_launch vl;
    struct vmm_process proc;
    bool vmm_running;
    int wstatus;
    int sig_fd, listen_fd, log_fd;
    uint64_t log_size;
    bool log_failed;
    int clients[MON_CLIENTS_MAX];
    size_t n_clients;
    char input[MON_INPUT_MAX];
    size_t input_len;
    int64_t stop_deadline; /* graceful stop asked: hard stop at this time (0: none) */
    int64_t kill_deadline; /* hard stop done: SIGKILL at this time (0: none) */
};

static int64_t mon_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mon_write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- the console log ------------------------------------------------------ */

static int mon_log_open(struct monitor *m) {
    _cleanup_free_ char *path = xasprintf("%s/" VM_CONSOLE_LOG, m->data_dir);
    if (!path)
        return -ENOMEM;
    m->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (m->log_fd < 0)
        return -errno;
    struct stat st;
    m->log_size = fstat(m->log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

/* console.log -> console.log.1 (the older one goes), and a new console.log. */
static void mon_log_rotate(struct monitor *m) {
    _cleanup_free_ char *cur = xasprintf("%s/" VM_CONSOLE_LOG, m->data_dir);
    _cleanup_free_ char *old = xasprintf("%s/" VM_CONSOLE_OLD, m->data_dir);
    if (!cur || !old)
        return;
    if (rename(cur, old) < 0) {
        log_warn("vm %s: cannot rotate '%s': %s", m->uid, cur, strerror(errno));
        return;
    }
    closep(&m->log_fd);
    int r = mon_log_open(m);
    if (r < 0) {
        m->log_fd = -1;
        log_warn("vm %s: cannot open '%s': %s", m->uid, cur, strerror(-r));
    }
}

static void mon_log_write(struct monitor *m, const char *p, size_t n) {
    if (m->log_fd >= 0 && m->log_size > 0 && m->log_size + n > VM_CONSOLE_MAX)
        mon_log_rotate(m);
    if (m->log_fd < 0)
        return;
    while (n > 0) {
        ssize_t w = write(m->log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* A full disk must not stop the VM: the output is dropped, once said. */
            if (!m->log_failed)
                log_warn("vm %s: cannot write the console log: %s", m->uid,
                         w < 0 ? strerror(errno) : "short write");
            m->log_failed = true;
            return;
        }
        m->log_failed = false;
        m->log_size += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- attach clients ------------------------------------------------------- */

static void mon_client_drop(struct monitor *m, size_t i) {
    close(m->clients[i]);
    m->clients[i] = m->clients[--m->n_clients];
}

static void mon_client_accept(struct monitor *m) {
    int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    if (m->n_clients == MON_CLIENTS_MAX) {
        static const char busy[] = "hearth: too many clients attached\r\n";
        (void)!write(fd, busy, sizeof(busy) - 1);
        close(fd);
        return;
    }
    m->clients[m->n_clients++] = fd;
}

/* The guest's output: to the log and to every client (a client that cannot keep up is dropped). */
static void mon_output(struct monitor *m, const char *p, size_t n) {
    mon_log_write(m, p, n);
    for (size_t i = 0; i < m->n_clients;) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = send(m->clients[i], p + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off < n)
            mon_client_drop(m, i);
        else
            i++;
    }
}

/* Reads the VMM's console; false at its end. */
static bool mon_read_vmm(struct monitor *m) {
    char buf[16384];
    ssize_t n = read(m->proc.stdout_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    mon_output(m, buf, (size_t)n);
    return true;
}

/* Reads one client's input into the VMM's input buffer; false when it left. */
static bool mon_read_client(struct monitor *m, int fd) {
    size_t room = MON_INPUT_MAX - m->input_len;
    if (room == 0)
        return true;
    ssize_t n = recv(fd, m->input + m->input_len, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    m->input_len += (size_t)n;
    return true;
}

static void mon_write_vmm(struct monitor *m) {
    ssize_t n = write(m->proc.stdin_fd, m->input, m->input_len);
    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN) {
            /* The VMM stopped reading its console: input is dropped from now on. */
            closep(&m->proc.stdin_fd);
            m->proc.stdin_fd = -1;
            m->input_len = 0;
        }
        return;
    }
    memmove(m->input, m->input + n, m->input_len - (size_t)n);
    m->input_len -= (size_t)n;
}

/* ---- stopping ------------------------------------------------------------- */

static void mon_kill(struct monitor *m) {
    if (m->vmm_running)
        kill(m->proc.pid, SIGKILL);
}

static void mon_stop_hard(struct monitor *m) {
    struct error err;
    error_init(&err);
    m->stop_deadline = 0;
    if (vmm_stop_hard(&m->vl, MON_CALL_TIMEOUT_MS, &err) < 0) {
        mon_kill(m);
        return;
    }
    m->kill_deadline = mon_now_ms() + MON_KILL_AFTER_HARD_MS;
}

static void mon_stop_graceful(struct monitor *m, int grace_ms) {
    if (m->stop_deadline || m->kill_deadline)
        return; /* a stop runs already */
    struct error err;
    error_init(&err);
    if (vmm_stop_graceful(&m->vl, MON_CALL_TIMEOUT_MS, &err) < 0) {
        log_warn("vm %s: graceful stop: %s", m->uid, err.msg);
        mon_stop_hard(m);
        return;
    }
    m->stop_deadline = mon_now_ms() + (grace_ms > 0 ? grace_ms : 0);
}

static void mon_signals(struct monitor *m) {
    struct signalfd_siginfo si;
    while (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD && m->vmm_running) {
            int st = 0;
            pid_t p = waitpid(m->proc.pid, &st, WNOHANG);
            if (p == m->proc.pid) {
                m->vmm_running = false;
                m->wstatus = st;
            }
        } else if (si.ssi_signo == SIGTERM) {
            int grace =
                si.ssi_code == SI_QUEUE && si.ssi_int >= 0 ? si.ssi_int : ENGINE_STOP_GRACE_MS;
            mon_stop_graceful(m, grace);
        }
    }
}

/* ---- the loop ------------------------------------------------------------- */

static void mon_loop(struct monitor *m) {
    bool out_open = true;
    while (m->vmm_running || out_open) {
        struct pollfd pfd[4 + MON_CLIENTS_MAX];
        size_t n = 0;
        pfd[n++] = (struct pollfd){m->sig_fd, POLLIN, 0};
        pfd[n++] = (struct pollfd){out_open ? m->proc.stdout_fd : -1, POLLIN, 0};
        pfd[n++] = (struct pollfd){m->listen_fd, POLLIN, 0};
        pfd[n++] = (struct pollfd){m->input_len && m->proc.stdin_fd >= 0 ? m->proc.stdin_fd : -1,
                                   POLLOUT, 0};
        bool room = m->input_len < MON_INPUT_MAX;
        for (size_t i = 0; i < m->n_clients; i++)
            pfd[n++] = (struct pollfd){m->clients[i], (short)(room ? POLLIN : 0), 0};
        int timeout = -1;
        int64_t now = mon_now_ms();
        int64_t next = m->stop_deadline ? m->stop_deadline : m->kill_deadline;
        if (!m->vmm_running)
            timeout = 100; /* the VMM is gone: only its last output is drained */
        else if (next)
            timeout = next > now ? (int)(next - now) : 0;
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r == 0 && !m->vmm_running)
            break;
        now = mon_now_ms();
        if (m->vmm_running && m->stop_deadline && now >= m->stop_deadline)
            mon_stop_hard(m);
        else if (m->vmm_running && m->kill_deadline && now >= m->kill_deadline) {
            m->kill_deadline = 0;
            mon_kill(m);
        }
        if (r <= 0)
            continue;
        if (pfd[0].revents)
            mon_signals(m);
        if (pfd[1].revents && !mon_read_vmm(m))
            out_open = false;
        if (pfd[2].revents)
            mon_client_accept(m);
        if (pfd[3].revents)
            mon_write_vmm(m);
        /* Clients from the end, so that dropping one keeps the others' indexes. */
        size_t nc = n - 4;
        for (size_t i = nc; i-- > 0;) {
            if (!pfd[4 + i].revents || i >= m->n_clients)
                continue;
            if (!mon_read_client(m, m->clients[i]))
                mon_client_drop(m, i);
        }
    }
}

/* ---- setting up ----------------------------------------------------------- */

static int mon_listen(struct monitor *m, struct error *err) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set(err, -errno, "cannot create the attach socket: %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, VM_ATTACH_SOCKET, sizeof(VM_ATTACH_SOCKET));
    unlink(VM_ATTACH_SOCKET);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
        int e = errno;
        close(fd);
        return error_set(err, -e, "cannot listen on '%s/%s': %s", m->run_dir, VM_ATTACH_SOCKET,
                         strerror(e));
    }
    m->listen_fd = fd;
    return 0;
}

static int mon_spawn(struct monitor *m, struct error *err) {
    _cleanup_free_ char *vmm_log = xasprintf("%s/vmm.log", m->data_dir);
    if (!vmm_log)
        return error_set(err, -ENOMEM, "out of memory");
    _cleanup_close_ int errfd =
        open(vmm_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
    if (errfd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", vmm_log, strerror(errno));
    m->vl = (struct vmm_launch){
        .kind = m->launch.kind,
        .binary = m->launch.binary,
        .kvm = m->launch.kvm,
        .cfg =
            {
                .vm_id = m->uid,
                .kernel = m->launch.kernel,
                .initrd = m->launch.initrd,
                .cmdline = m->launch.cmdline,
                .disk = m->launch.disk,
                .cpus = m->launch.cpus,
                .memory = m->launch.memory,
                .api_socket = vmm_socket_name(m->launch.kind),
            },
    };
    unlink(m->vl.cfg.api_socket);
    char **argv = NULL;
    int r = vmm_spawn_argv(&m->vl, &argv, err);
    if (r < 0)
        return r;
    struct vmm_spawn_opts so = {.cwd = NULL, .stderr_fd = errfd};
    r = vmm_spawn(argv, &so, &m->proc, err);
    vmm_argv_free(argv);
    if (r < 0)
        return r;
    m->vmm_running = true;
    if (fcntl(m->proc.stdin_fd, F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(m->proc.stdout_fd, F_SETFL, O_NONBLOCK) < 0)
        return error_set(err, -errno, "cannot set up the console pipes: %s", strerror(errno));
    r = vmm_configure(&m->vl, m->proc.pid, MON_CONFIGURE_TIMEOUT_MS, err);
    if (r < 0) {
        /* What the VMM said on stderr is the best explanation. */
        _cleanup_strbuf_ struct strbuf said = STRBUF_INIT;
        if (strbuf_read_file(&said, vmm_log, 4096, NULL) == 0 && said.len > 0) {
            while (said.len && (said.buf[said.len - 1] == '\n' || said.buf[said.len - 1] == ' '))
                said.buf[--said.len] = '\0';
            char *last = strrchr(said.buf, '\n');
            error_prefix(err, "%s said '%s'", vmm_kind_name(m->launch.kind),
                         last ? last + 1 : said.buf);
        }
    }
    return r;
}

static int mon_record(struct monitor *m, struct error *err) {
    struct store_vm_runtime rt = {
        .device_id = m->launch.device_id,
        .monitor_pid = getpid(),
        .vmm_pid = m->proc.pid,
        .started = (int64_t)time(NULL),
        .exit_status = -1,
    };
    snprintf(rt.vmm, sizeof(rt.vmm), "%s", vmm_kind_name(m->launch.kind));
    snprintf(rt.accel, sizeof(rt.accel), "%s", m->launch.kvm ? "kvm" : "tcg");
    int r = proc_start_time(0, &rt.monitor_start);
    if (r == 0)
        r = proc_start_time(m->proc.pid, &rt.vmm_start);
    if (r < 0)
        return error_set(err, r, "cannot read the start time of the processes: %s", strerror(-r));
    return store_vm_runtime_put(m->e->store, m->uid, &rt, err);
}

static int mon_setup(struct monitor *m, const char *root, const char *uid, struct error *err) {
    if (!id_is_valid(uid))
        return error_set(err, -EINVAL, "'%s' is not a vm id", uid);
    memcpy(m->uid, uid, ID_LEN + 1);
    int r = engine_open(root, &m->e, err);
    if (r < 0)
        return r;
    m->run_dir = vm_run_dir(m->e, uid);
    m->data_dir = vm_data_dir(m->e, uid);
    if (!m->run_dir || !m->data_dir)
        return error_set(err, -ENOMEM, "out of memory");
    if (chdir(m->run_dir) < 0)
        return error_set(err, -errno, "cannot enter '%s': %s", m->run_dir, strerror(errno));
    r = vm_launch_read(VM_LAUNCH_FILE, &m->launch, err);
    if (r < 0)
        return r;
    r = mon_log_open(m);
    if (r < 0)
        return error_set(err, r, "cannot open '%s/%s': %s", m->data_dir, VM_CONSOLE_LOG,
                         strerror(-r));
    r = mon_listen(m, err);
    if (r == 0)
        r = mon_spawn(m, err);
    if (r == 0)
        r = mon_record(m, err);
    return r;
}

static void mon_release(struct monitor *m) {
    for (size_t i = 0; i < m->n_clients; i++)
        close(m->clients[i]);
    m->n_clients = 0;
    closep(&m->listen_fd);
    closep(&m->log_fd);
    closep(&m->proc.stdin_fd);
    closep(&m->proc.stdout_fd);
    closep(&m->sig_fd);
    vm_launch_release(&m->launch);
    free(m->run_dir);
    free(m->data_dir);
    engine_free(m->e);
}

/* Reaps the VMM (killing it first when kill_first). */
static void mon_reap(struct monitor *m, bool kill_first) {
    if (!m->vmm_running)
        return;
    if (kill_first)
        kill(m->proc.pid, SIGKILL);
    while (waitpid(m->proc.pid, &m->wstatus, 0) < 0 && errno == EINTR)
        ;
    m->vmm_running = false;
}

/* After the VMM ended: its end recorded, the device deactivated, the runtime directory gone. */
static void mon_finish(struct monitor *m) {
    int status = -1;
    char reason[128];
    vm_exit_describe(m->wstatus, &status, reason, sizeof(reason));
    struct error err;
    error_init(&err);
    if (vm_record_stopped(m->e, m->uid, status, reason, &err) < 0)
        log_warn("vm %s: cannot record its end: %s", m->uid, err.msg);
    vm_device_deactivate(m->e, m->launch.device_id);
    if (chdir("/") < 0)
        log_warn("cannot leave '%s': %s", m->run_dir, strerror(errno));
    error_init(&err);
    if (engine_tree_remove(m->run_dir, &err) < 0)
        log_warn("vm %s: %s", m->uid, err.msg);
}

int engine_monitor_main(const char *root, const char *uid, int ready_fd) {
    struct monitor m = {
        .sig_fd = -1, .listen_fd = -1, .log_fd = -1, .proc = {.stdin_fd = -1, .stdout_fd = -1}};
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    m.sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    struct error err;
    error_init(&err);
    int r = m.sig_fd < 0 ? error_set(&err, -errno, "signalfd: %s", strerror(errno))
                         : mon_setup(&m, root, uid, &err);
    if (r < 0) {
        mon_reap(&m, true);
        _cleanup_free_ char *msg = xasprintf("error: %s\n", err.msg);
        if (msg)
            mon_write_all(ready_fd, msg, strlen(msg));
        close(ready_fd);
        log_warn("vm %s: %s", uid, err.msg);
        mon_release(&m);
        return 1;
    }
    /* Nobody to tell (the starter died): the start did not happen, the VMM goes. */
    ssize_t w = write(ready_fd, "ok\n", 3);
    close(ready_fd);
    if (w != 3)
        mon_kill(&m);
    mon_loop(&m);
    mon_reap(&m, true);
    mon_finish(&m);
    mon_release(&m);
    return 0;
}
