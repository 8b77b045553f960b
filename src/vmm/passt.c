/*
 * vmm passt: the user-mode network of VMM_NET_PASST. passt (Debian's 2023
 * build) listens on a Unix socket that qemu 7.2 joins with -netdev stream;
 * it answers the guest's DHCP itself and maps the guest's connections onto
 * host sockets, so it needs no root, no tap and no firewall rule. A VM's
 * port maps are its -t (tcp) and -u (udp) forwards, "[BIND/]HOSTPORT:VMPORT",
 * and the guest's address, prefix and gateway are -a, -n and -g, so that
 * hearth knows the address it hands out (passt's default is the host's own).
 *
 * passt runs in the foreground (-f) as a child of the VM's monitor, dies
 * with it (PR_SET_PDEATHSIG) and quits when qemu disconnects (--one-off).
 * It logs its errors to stderr (-e; -q keeps the informational lines out).
 * As root it switches to the user nobody unless told --runas; it binds its
 * forwards' ports before dropping its capabilities, so as root (--runas 0)
 * ports below 1024 work, as a normal user they do not (it exits: "Failed to
 * bind any port"). It needs a host interface with a default route: without
 * one it exits ("External interface not usable").
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "vmm/vmm_priv.h"

#define PASST_RETRY_MS 20 /* the longest pause between looks for the socket */

static int passt_check(const struct vmm_passt *p, const struct vmm_config *cfg, struct error *err) {
    if (!p->binary || !*p->binary)
        return error_set(err, -EINVAL, "no passt binary given");
    if (vmm_config_net(cfg) != VMM_NET_PASST)
        return error_set(err, -EINVAL, "passt runs a vm whose network is passt, not %s",
                         vmm_net_name(vmm_config_net(cfg)));
    const char *sock = cfg->passt_socket;
    if (!sock || !*sock)
        return error_set(err, -EINVAL, "passt needs a socket path");
    if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return error_set(err, -ENAMETOOLONG, "passt socket path '%s' is too long", sock);
    if (p->runas && (!*p->runas || strchr(p->runas, ' ')))
        return error_set(err, -EINVAL, "'%s' is not a user for passt's --runas", p->runas);
    return vmm_user_net_check(cfg, VMM_NET_PASST, err);
}

int vmm_passt_argv(const struct vmm_passt *p, const struct vmm_config *cfg, char ***ret,
                   struct error *err) {
    int r = passt_check(p, cfg, err);
    if (r < 0)
        return r;
    struct vmm_argv a = {0};
    vmm_argv_add(&a, p->binary);
    vmm_argv_add(&a, "-f");
    vmm_argv_add(&a, "-q");
    vmm_argv_add(&a, "-e");
    vmm_argv_add(&a, "--one-off");
    vmm_argv_add(&a, "-s");
    vmm_argv_add(&a, cfg->passt_socket);
    if (p->runas) {
        vmm_argv_add(&a, "--runas");
        vmm_argv_add(&a, p->runas);
    }
    if (cfg->user_address) {
        vmm_argv_add(&a, "-a");
        vmm_argv_add(&a, cfg->user_address);
        vmm_argv_add(&a, "-n");
        vmm_argv_push(&a, xasprintf("%u", cfg->user_prefix));
    }
    if (cfg->user_gateway) {
        vmm_argv_add(&a, "-g");
        vmm_argv_add(&a, cfg->user_gateway);
    }
    for (size_t i = 0; i < cfg->n_forwards; i++) {
        const struct vmm_forward *f = &cfg->forwards[i];
        vmm_argv_add(&a, f->udp ? "-u" : "-t");
        vmm_argv_push(&a, xasprintf("%s%s%u:%u", f->bind_address ? f->bind_address : "",
                                    f->bind_address ? "/" : "", f->host_port, f->vm_port));
    }
    if (a.rc < 0) {
        vmm_argv_free(a.v);
        return error_oom(err);
    }
    *ret = a.v;
    return 0;
}

int vmm_passt_spawn(const struct vmm_passt *p, const struct vmm_config *cfg, int stderr_fd,
                    struct exec_proc *ret, struct error *err) {
    char **argv = NULL;
    int r = vmm_passt_argv(p, cfg, &argv, err);
    if (r < 0)
        return r;
    /* A socket left by an earlier run would pass for the new one in vmm_passt_wait. */
    struct stat st;
    if (lstat(cfg->passt_socket, &st) == 0 && S_ISSOCK(st.st_mode) &&
        unlink(cfg->passt_socket) < 0 && errno != ENOENT) {
        r = -errno;
        vmm_argv_free(argv);
        return error_set(err, r, "cannot remove the old passt socket '%s': %s", cfg->passt_socket,
                         strerror(-r));
    }
    struct exec_opts opts = {
        .stderr_fd = stderr_fd >= 0 ? stderr_fd : 0,
        .pdeathsig = SIGKILL,
    };
    r = exec_start((const char *const *)argv, &opts, ret, err);
    vmm_argv_free(argv);
    return r;
}

/* True when pid has ended (left for its parent to reap). */
static bool passt_exited(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == pid;
}

int vmm_passt_wait(const struct vmm_config *cfg, pid_t pid, int timeout_ms, struct error *err) {
    if (!cfg->passt_socket || !*cfg->passt_socket)
        return error_set(err, -EINVAL, "passt needs a socket path");
    int64_t deadline = time_now_ms() + timeout_ms;
    int pause_ms = 1;
    for (;;) {
        /* passt binds the socket and listens on it at once; qemu connects later still. */
        struct stat st;
        if (stat(cfg->passt_socket, &st) == 0 && S_ISSOCK(st.st_mode))
            return 0;
        if (pid > 0 && passt_exited(pid))
            return error_set(err, -ECHILD, "passt exited before its socket '%s' was there",
                             cfg->passt_socket);
        if (time_now_ms() >= deadline)
            return error_set(err, -ETIMEDOUT, "passt's socket '%s' was not there within %d ms",
                             cfg->passt_socket, timeout_ms);
        sleep_ms(pause_ms);
        pause_ms = pause_ms * 2 > PASST_RETRY_MS ? PASST_RETRY_MS : pause_ms * 2;
    }
}
