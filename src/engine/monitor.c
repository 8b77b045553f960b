/*
 * monitor: the small per-VM process that owns a VM's VMM (the role podman's
 * conmon plays). engine_vm_start runs it detached as
 * `<self_exe> __monitor ROOT UID READY_FD`; it
 *
 *   1. opens its own engine on ROOT (never a connection inherited through
 *      fork) without recovery (engine_open_monitor: a monitor's open comes
 *      at any time, and must not settle, or roll back its own start, behind
 *      the commands' backs), reads <root>/run/vm/<uid>/launch.json written
 *      by the starter and moves into that runtime directory, so that every socket is
 *      bound and reached by a short relative name whatever the root's length;
 *   2. listens on attach.sock, spawns the VMM (vmm_spawn: PR_SET_PDEATHSIG
 *      SIGKILL, the serial console on pipes, stderr to <root>/vm/<uid>/vmm.log),
 *      opens its event channel (qemu's QMP events) and brings it to a
 *      running guest through the vmm driver;
 *   3. records itself and the VMM (pid + start time) in vm_runtime, fenced:
 *      only while the VM is Starting under an open vm.start and the starter
 *      reads READY_FD (mon_fence; else the VMM is killed and it exits),
 *      writes "ok\n" (or "error: <message>\n") to READY_FD and closes it;
 *   4. serves until the VMM ends: console output goes to console.log
 *      (rotated to console.log.1 past 1 MiB; write errors never stop the VM)
 *      and to every attach client (a client that falls behind gets up to
 *      256 KiB queued, then loses output until it caught up, and is told
 *      "[hearth: N bytes of output skipped]"; it is never dropped for being
 *      slow); clients' input goes to the VMM's stdin. The event channel says
 *      how the guest ends. SIGTERM asks for a graceful stop (the driver's
 *      graceful call, then the hard one and SIGKILL once the grace passes; a
 *      sigqueue'd value is the grace in ms), so a stop completes even if the
 *      stopping command dies;
 *   5. reaps the VMM, records its end in one transaction (vm_record_stopped)
 *      with the reason ("guest rebooted", "guest panicked", "killed after the
 *      20 s grace", else the exit status), deactivates the VM's device,
 *      removes the runtime directory, gives the clients up to a second for
 *      what is still queued for them, closes them and exits. A client thus
 *      sees the end of its connection only once the end is recorded.
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
#define MON_QUEUE_MAX (256u << 10)     /* bytes of output queued for one slow client */
#define MON_DRAIN_MS 1000              /* the clients' time for their queues at the end */
#define MON_CONFIGURE_TIMEOUT_MS 30000 /* the VMM's time to become ready */
#define MON_CALL_TIMEOUT_MS 3000       /* one control call (graceful, hard stop) */
#define MON_KILL_AFTER_HARD_MS 3000    /* a hard stop's time before SIGKILL */

/* An attach client and the output it has not taken yet. */
struct mon_client {
    int fd;
    char *queue;      /* MON_QUEUE_MAX bytes once needed */
    size_t off, len;  /* queued output: queue[off .. off + len) */
    uint64_t skipped; /* bytes not queued since the queue filled; told once it drained */
    bool gone;        /* the connection failed: dropped at the next chance */
};

struct monitor {
    engine *e;        /* NULL while the VM runs: open at the start and at the end only */
    const char *root; /* (argv's) */
    int mark_fd;      /* VM_MONITOR_LOCK, locked while the monitor lives */
    char uid[ID_LEN + 1];
    char *run_dir, *data_dir;
    struct vm_launch launch;
    struct vmm_launch vl;
    struct exec_proc proc;
    struct exec_proc passt; /* the user network's passt, when passt_running */
    bool passt_running;
    net_dhcpd *dhcpd; /* cni: the guest's DHCP server, on the tap in the VM's namespace */
    struct vmm_events events;
    bool vmm_running;
    int wstatus;
    int sig_fd, listen_fd, log_fd;
    int ready_fd; /* the starter's ready pipe */
    uint64_t log_size;
    bool log_failed;
    struct mon_client clients[MON_CLIENTS_MAX];
    size_t n_clients;
    char input[MON_INPUT_MAX];
    size_t input_len;
    int64_t stop_deadline; /* graceful stop asked: hard stop at this time (0: none) */
    int64_t kill_deadline; /* hard stop done: SIGKILL at this time (0: none) */
    bool stop_asked;       /* a stop was asked (SIGTERM) */
    int grace_ms;          /* its grace */
    enum { MON_KILL_NONE, MON_KILL_GRACE, MON_KILL_REFUSED } killed; /* why the monitor ended it */
};

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
    close(m->clients[i].fd);
    free(m->clients[i].queue);
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
    m->clients[m->n_clients++] = (struct mon_client){.fd = fd};
}

/* Sends what it can of p without blocking; the bytes sent, 0 when none (gone set on failure). */
static size_t mon_client_send(struct mon_client *c, const char *p, size_t n) {
    size_t off = 0;
    while (off < n && !c->gone) {
        ssize_t w = send(c->fd, p + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0)
            c->gone = true; /* the client left (EPIPE, ECONNRESET) */
        else
            off += (size_t)w;
    }
    return off;
}

/* Queues p for c as far as there is room; the rest is counted as skipped. */
static void mon_client_queue(struct mon_client *c, const char *p, size_t n) {
    if (!c->queue && !(c->queue = xmalloc(MON_QUEUE_MAX))) {
        c->skipped += n;
        return;
    }
    if (c->off + c->len + n > MON_QUEUE_MAX) {
        memmove(c->queue, c->queue + c->off, c->len);
        c->off = 0;
    }
    size_t take = MON_QUEUE_MAX - c->len < n ? MON_QUEUE_MAX - c->len : n;
    memcpy(c->queue + c->off + c->len, p, take);
    c->len += take;
    c->skipped += n - take;
}

/*
 * Sends c's queue; once it is empty, the note of what was skipped (if
 * anything) is queued and sent the same way, and output flows again.
 */
static void mon_client_flush(struct mon_client *c) {
    for (int round = 0; round < 2 && !c->gone; round++) {
        size_t w = c->len ? mon_client_send(c, c->queue + c->off, c->len) : 0;
        c->off += w;
        c->len -= w;
        if (c->len > 0)
            return;
        c->off = 0;
        if (c->skipped == 0)
            return;
        char note[96];
        int k = snprintf(note, sizeof(note), "\r\n[hearth: %llu bytes of output skipped]\r\n",
                         (unsigned long long)c->skipped);
        c->skipped = 0;
        mon_client_queue(c, note, (size_t)k);
    }
}

/* Output for one client: sent at once when nothing waits before it, else queued behind. */
static void mon_client_output(struct mon_client *c, const char *p, size_t n) {
    if (c->gone)
        return;
    if (c->skipped) { /* falling behind: nothing more until the queue drained */
        c->skipped += n;
        return;
    }
    size_t w = c->len == 0 ? mon_client_send(c, p, n) : 0;
    if (w < n && !c->gone)
        mon_client_queue(c, p + w, n - w);
}

/* The guest's output: to the log and to every client (a slow one loses output, marked). */
static void mon_output(struct monitor *m, const char *p, size_t n) {
    mon_log_write(m, p, n);
    for (size_t i = 0; i < m->n_clients; i++)
        mon_client_output(&m->clients[i], p, n);
}

/* Gives the clients up to timeout_ms to take what is queued for them (the VMM has ended). */
static void mon_clients_drain(struct monitor *m, int timeout_ms) {
    int64_t deadline = time_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd[MON_CLIENTS_MAX];
        size_t n = 0, idx[MON_CLIENTS_MAX];
        for (size_t i = 0; i < m->n_clients; i++) {
            struct mon_client *c = &m->clients[i];
            if (!c->gone && (c->len || c->skipped)) {
                idx[n] = i;
                pfd[n++] = (struct pollfd){c->fd, POLLOUT, 0};
            }
        }
        int64_t left = deadline - time_now_ms();
        if (n == 0 || left <= 0)
            return;
        int r = poll(pfd, n, (int)left);
        if (r < 0 && errno != EINTR)
            return;
        for (size_t k = 0; r > 0 && k < n; k++)
            if (pfd[k].revents & (POLLOUT | POLLERR | POLLHUP)) {
                struct mon_client *c = &m->clients[idx[k]];
                if (pfd[k].revents & POLLOUT)
                    mon_client_flush(c);
                else
                    c->gone = true;
            }
    }
}

/* Reads the VMM's console; false at its end. */
static bool mon_read_vmm(struct monitor *m) {
    char buf[16384];
    ssize_t n = read(m->proc.out, buf, sizeof(buf));
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
    ssize_t n = write(m->proc.in, m->input, m->input_len);
    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN) {
            /* The VMM stopped reading its console: input is dropped from now on. */
            closep(&m->proc.in);
            m->proc.in = -1;
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
    if (m->killed == MON_KILL_NONE)
        m->killed = MON_KILL_GRACE;
    if (vmm_stop_hard(&m->vl, MON_CALL_TIMEOUT_MS, &err) < 0) {
        mon_kill(m);
        return;
    }
    m->kill_deadline = time_now_ms() + MON_KILL_AFTER_HARD_MS;
}

static void mon_stop_graceful(struct monitor *m, int grace_ms) {
    if (m->stop_deadline || m->kill_deadline)
        return; /* a stop runs already */
    struct error err;
    error_init(&err);
    m->stop_asked = true;
    m->grace_ms = grace_ms > 0 ? grace_ms : 0;
    if (vmm_stop_graceful(&m->vl, MON_CALL_TIMEOUT_MS, &err) < 0) {
        log_warn("vm %s: graceful stop: %s", m->uid, err.msg);
        m->killed = MON_KILL_REFUSED;
        mon_stop_hard(m);
        return;
    }
    m->stop_deadline = time_now_ms() + m->grace_ms;
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

#define MON_FIXED_FDS 6 /* signals, the VMM's console, the listener, its stdin, events, DHCP */

static void mon_loop(struct monitor *m) {
    bool out_open = true;
    while (m->vmm_running || out_open) {
        struct pollfd pfd[MON_FIXED_FDS + MON_CLIENTS_MAX];
        size_t n = 0;
        pfd[n++] = (struct pollfd){m->sig_fd, POLLIN, 0};
        pfd[n++] = (struct pollfd){out_open ? m->proc.out : -1, POLLIN, 0};
        pfd[n++] = (struct pollfd){m->listen_fd, POLLIN, 0};
        pfd[n++] = (struct pollfd){m->input_len && m->proc.in >= 0 ? m->proc.in : -1, POLLOUT, 0};
        pfd[n++] = (struct pollfd){m->events.fd, POLLIN, 0};
        pfd[n++] = (struct pollfd){m->dhcpd ? net_dhcpd_fd(m->dhcpd) : -1, POLLIN, 0};
        bool room = m->input_len < MON_INPUT_MAX;
        for (size_t i = 0; i < m->n_clients; i++) {
            const struct mon_client *c = &m->clients[i];
            short ev = (short)((room ? POLLIN : 0) | (c->len || c->skipped ? POLLOUT : 0));
            pfd[n++] = (struct pollfd){c->fd, ev, 0};
        }
        int timeout = -1;
        int64_t now = time_now_ms();
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
        now = time_now_ms();
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
        if (pfd[4].revents)
            vmm_events_read(&m->events);
        if (pfd[5].revents)
            net_dhcpd_handle(m->dhcpd);
        /* Clients from the end, so that dropping one keeps the others' indexes. */
        size_t nc = n - MON_FIXED_FDS;
        for (size_t i = nc; i-- > 0;) {
            short re = pfd[MON_FIXED_FDS + i].revents;
            if (!re || i >= m->n_clients)
                continue;
            struct mon_client *c = &m->clients[i];
            if (re & POLLOUT)
                mon_client_flush(c);
            if ((re & POLLIN) && !mon_read_client(m, c->fd))
                c->gone = true;
            else if ((re & (POLLHUP | POLLERR)) && !(re & (POLLIN | POLLOUT)))
                c->gone = true;
        }
        for (size_t i = m->n_clients; i-- > 0;)
            if (m->clients[i].gone)
                mon_client_drop(m, i);
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

/*
 * The user network's passt, before the VMM (QEMU 7.2 connects to its socket
 * once, at its start): it dies with the monitor (PDEATHSIG) and ends by
 * itself when QEMU disconnects (--one-off). As root it keeps root's uid
 * without capabilities: the runtime directory is root's alone.
 */
/*
 * The last line of the VMM's log (its stderr, and passt's), the best
 * explanation of a failed start, put before err's message as "WHO said '...'".
 */
static void mon_said(const char *vmm_log, const char *who, struct error *err) {
    _cleanup_strbuf_ struct strbuf said = STRBUF_INIT;
    if (strbuf_read_file(&said, vmm_log, 4096, NULL) < 0 || said.len == 0)
        return;
    while (said.len && (said.buf[said.len - 1] == '\n' || said.buf[said.len - 1] == ' '))
        said.buf[--said.len] = '\0';
    char *last = strrchr(said.buf, '\n');
    error_prefix(err, "%s said '%s'", who, last ? last + 1 : said.buf);
}

static int mon_passt_start(struct monitor *m, int errfd, const char *vmm_log, struct error *err) {
    if (m->launch.net != VMM_NET_PASST)
        return 0;
    unlink(VM_NET_PASST_SOCKET);
    struct vmm_passt p = {.binary = m->launch.passt, .runas = geteuid() == 0 ? "0" : NULL};
    int r = vmm_passt_spawn(&p, &m->vl.cfg, errfd, &m->passt, err);
    if (r < 0)
        return r;
    m->passt_running = true;
    r = vmm_passt_wait(&m->vl.cfg, m->passt.pid, MON_CONFIGURE_TIMEOUT_MS, err);
    if (r < 0)
        mon_said(vmm_log, "passt", err);
    return r;
}

/*
 * The VMM, in the VM's network namespace when it has one (cni: it opens the
 * tap there), with the guest's DHCP server on that tap first. The monitor
 * itself goes back to its own namespace: the plugins' DEL at the end must
 * run from there.
 */
static int mon_spawn_vmm(struct monitor *m, int errfd, struct error *err) {
    if (!m->launch.netns)
        return vmm_spawn(&m->vl, errfd, &m->proc, err);
    int back = -1;
    int r = net_netns_enter(m->launch.netns, &back, err);
    if (r < 0)
        return r;
    if (m->launch.dhcp)
        r = net_dhcpd_open(m->launch.tap, &m->launch.lease, &m->dhcpd, err);
    if (r == 0)
        fault_point("cni.after-dhcpd");
    if (r == 0)
        r = vmm_spawn(&m->vl, errfd, &m->proc, err);
    net_netns_leave(back);
    return r;
}

static int mon_spawn(struct monitor *m, struct error *err) {
    _cleanup_free_ char *vmm_log = xasprintf("%s/vmm.log", m->data_dir);
    if (!vmm_log)
        return error_oom(err);
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
                .tap = m->launch.net == VMM_NET_TAP ? m->launch.tap : NULL,
                .mac = m->launch.net != VMM_NET_NONE ? m->launch.mac : NULL,
                .api_socket = vmm_socket_name(m->launch.kind),
                .events_socket = vmm_events_socket_name(m->launch.kind),
                .net = m->launch.net,
                .passt_socket = m->launch.net == VMM_NET_PASST ? VM_NET_PASST_SOCKET : NULL,
                .forwards = m->launch.forwards,
                .n_forwards = m->launch.n_forwards,
            },
    };
    if (m->launch.net == VMM_NET_PASST || m->launch.net == VMM_NET_SLIRP) {
        m->vl.cfg.user_address = VM_NET_USER_ADDRESS;
        m->vl.cfg.user_prefix = VM_NET_USER_PREFIX;
        m->vl.cfg.user_gateway = VM_NET_USER_GATEWAY;
    }
    unlink(m->vl.cfg.api_socket);
    if (m->vl.cfg.events_socket)
        unlink(m->vl.cfg.events_socket);
    int r = mon_passt_start(m, errfd, vmm_log, err);
    if (r < 0)
        return r;
    r = mon_spawn_vmm(m, errfd, err);
    if (r < 0)
        return r;
    m->vmm_running = true;
    if (fcntl(m->proc.in, F_SETFL, O_NONBLOCK) < 0 || fcntl(m->proc.out, F_SETFL, O_NONBLOCK) < 0)
        return error_set(err, -errno, "cannot set up the console pipes: %s", strerror(errno));
    r = vmm_events_open(&m->vl, m->proc.pid, MON_CONFIGURE_TIMEOUT_MS, &m->events, err);
    if (r == 0)
        r = vmm_configure(&m->vl, m->proc.pid, MON_CONFIGURE_TIMEOUT_MS, err);
    if (r < 0)
        mon_said(vmm_log, vmm_kind_name(m->launch.kind), err);
    return r;
}

/* True while the starter still reads the ready pipe (a pipe without readers polls POLLERR). */
static bool mon_starter_waits(int ready_fd) {
    struct pollfd p = {ready_fd, 0, 0};
    int r;
    while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;
    return r == 0 || (r > 0 && !(p.revents & (POLLERR | POLLHUP | POLLNVAL)));
}

/*
 * The fence of the record (inside its transaction): the VM is Starting under
 * an open vm.start, and the starter still reads the ready pipe. A recovery
 * rolls a start back only once the starter is dead, and puts the state back
 * in one transaction with closing the row, so it either sees this record or
 * this record is never made.
 */
static int mon_fence(struct monitor *m, struct error *err) {
    enum api_vm_state state = API_VM_STATE_NONE;
    int r = store_vm_state_get(m->e->store, m->uid, &state, err);
    if (r < 0 && r != -ENOENT)
        return r;
    struct store_op *ops = NULL;
    size_t n = 0;
    bool open = false;
    if (r == 0 && state == API_VM_STARTING) {
        r = store_op_list_open(m->e->store, &ops, &n, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < n && !open; i++)
        open = strcmp(ops[i].op, "vm.start") == 0 && ops[i].object_uid &&
               strcmp(ops[i].object_uid, m->uid) == 0;
    store_ops_free(ops, n);
    if (!open || !mon_starter_waits(m->ready_fd))
        return error_set(err, -ESTALE, "the start of vm '%s' was rolled back or its starter died",
                         m->uid);
    return 0;
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
    r = store_begin(m->e->store, err);
    if (r == 0)
        r = mon_fence(m, err);
    if (r == 0)
        r = store_vm_runtime_put(m->e->store, m->uid, &rt, err);
    if (r == 0)
        r = store_commit(m->e->store, err);
    if (r < 0)
        store_rollback(m->e->store);
    return r;
}

static int mon_setup(struct monitor *m, const char *root, const char *uid, struct error *err) {
    if (!id_is_valid(uid))
        return error_set(err, -EINVAL, "'%s' is not a vm id", uid);
    memcpy(m->uid, uid, ID_LEN + 1);
    int r = engine_open_monitor(root, &m->e, err);
    if (r < 0)
        return r;
    m->run_dir = vm_run_dir(m->e, uid);
    m->data_dir = vm_data_dir(m->e, uid);
    if (!m->run_dir || !m->data_dir)
        return error_oom(err);
    if (chdir(m->run_dir) < 0)
        return error_set(err, -errno, "cannot enter '%s': %s", m->run_dir, strerror(errno));
    r = vm_launch_read(VM_LAUNCH_FILE, &m->launch, err);
    if (r < 0)
        return r;
    m->mark_fd = vm_proc_monitor_mark();
    if (m->mark_fd < 0)
        return error_set(err, m->mark_fd, "cannot make '%s/%s': %s", m->run_dir, VM_MONITOR_LOCK,
                         strerror(-m->mark_fd));
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
    while (m->n_clients > 0)
        mon_client_drop(m, m->n_clients - 1);
    vmm_events_release(&m->events);
    if (m->dhcpd)
        net_dhcpd_close(m->dhcpd);
    m->dhcpd = NULL;
    closep(&m->listen_fd);
    closep(&m->log_fd);
    closep(&m->proc.in);
    closep(&m->proc.out);
    closep(&m->sig_fd);
    closep(&m->mark_fd);
    vm_launch_release(&m->launch);
    free(m->run_dir);
    free(m->data_dir);
    engine_free(m->e);
}

/* Reaps the VMM (killing it first when kill_first), and then passt. */
static void mon_reap(struct monitor *m, bool kill_first) {
    struct error err;
    if (m->vmm_running) {
        if (kill_first)
            kill(m->proc.pid, SIGKILL);
        error_init(&err);
        if (exec_finish(&m->proc, &m->wstatus, &err) < 0)
            log_warn("vm %s: %s", m->uid, err.msg);
        m->vmm_running = false;
    }
    if (m->passt_running) {
        int ws;
        kill(m->passt.pid, SIGKILL);
        error_init(&err);
        if (exec_finish(&m->passt, &ws, &err) < 0)
            log_warn("vm %s: passt: %s", m->uid, err.msg);
        m->passt_running = false;
    }
}

/*
 * Why the VMM ended, in words: the monitor's own kill when a stop's grace
 * ran out; else the guest's panic as the VMM told; else the kill when the
 * graceful call failed; else the guest's reboot (a reboot while a stop was
 * asked is how a Firecracker guest answers SendCtrlAltDel: that is a plain
 * exit); else the exit status.
 */
static void mon_reason(struct monitor *m, int *ret_status, char *reason, size_t size) {
    vm_exit_describe(m->wstatus, ret_status, reason, size);
    enum vmm_end end = vmm_end_of(&m->vl, &m->events, m->wstatus);
    if (m->killed == MON_KILL_GRACE) {
        if (m->grace_ms % 1000 == 0)
            snprintf(reason, size, VM_REASON_GRACE_PREFIX "%d s grace", m->grace_ms / 1000);
        else
            snprintf(reason, size, VM_REASON_GRACE_PREFIX "%d ms grace", m->grace_ms);
    } else if (end == VMM_END_PANIC) {
        snprintf(reason, size, "%s", VM_REASON_PANICKED);
    } else if (m->killed == MON_KILL_REFUSED && end < VMM_END_SHUTDOWN) {
        /* (a guest that ended by itself meanwhile is why the call failed: not a kill) */
        snprintf(reason, size, "%s", VM_REASON_REFUSED);
    } else if (end == VMM_END_RESET && !m->stop_asked) {
        snprintf(reason, size, "%s", VM_REASON_REBOOTED);
    }
}

/* After the VMM ended: its end recorded, the device deactivated, the runtime directory gone. */
static void mon_finish(struct monitor *m) {
    int status = -1;
    char reason[128];
    /* The last events came before the VMM exited: they are in the socket now. */
    (void)vmm_events_read(&m->events);
    mon_reason(m, &status, reason, sizeof(reason));
    struct error err;
    error_init(&err);
    if (!m->e && engine_open_monitor(m->root, &m->e, &err) < 0) {
        /* The next command's refresh finds the monitor gone and records the end. */
        log_warn("vm %s: cannot record its end: %s", m->uid, err.msg);
        return;
    }
    if (vm_record_stopped(m->e, m->uid, status, reason, &err) < 0)
        log_warn("vm %s: cannot record its end: %s", m->uid, err.msg);
    vm_device_deactivate(m->e, m->launch.device_id);
    vm_net_down(m->e, m->uid);
    if (chdir("/") < 0)
        log_warn("cannot leave '%s': %s", m->run_dir, strerror(errno));
    error_init(&err);
    if (fs_tree_remove(m->run_dir, &err) < 0)
        log_warn("vm %s: %s", m->uid, err.msg);
}

int engine_monitor_main(const char *root, const char *uid, int ready_fd) {
    struct monitor m = {.sig_fd = -1,
                        .mark_fd = -1,
                        .listen_fd = -1,
                        .log_fd = -1,
                        .ready_fd = ready_fd,
                        .proc = {.in = -1, .out = -1, .err = -1},
                        .events = {.fd = -1}};
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
    m.root = root;
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
    /* The database is not held while the VM runs: every open connection keeps two
     * locks on its files, which every command's SQLite lock calls then walk. */
    engine_free(m.e);
    m.e = NULL;
    mon_loop(&m);
    mon_reap(&m, true);
    mon_finish(&m);
    mon_clients_drain(&m, MON_DRAIN_MS);
    mon_release(&m);
    return 0;
}
