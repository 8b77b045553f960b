/*
 * vmmrun: runs one qemu guest through the vmm module's calls, the way the
 * engine's monitor does, for tests/integration/vm_passt.sh: passt started by
 * vmm_passt_spawn and waited for (vmm_passt_wait) when the network is passt,
 * qemu by vmm_spawn and resumed by vmm_configure. It prints each argv on
 * stderr ("vmmrun: passt: ...", "vmmrun: qemu: ...") and copies the guest's
 * console to stdout until qemu exits; then it reaps passt and exits with 0
 * when qemu exited 0. Killed, it takes qemu and passt with it
 * (PR_SET_PDEATHSIG). Sockets go into the working directory.
 *
 *   vmmrun --net passt|slirp --kernel FILE [--initrd FILE] --cmdline TEXT
 *          --disk FILE --mac MAC [--memory MIB] [--address ADDR/PREFIX]
 *          [--gateway ADDR] [--forward [udp:][BIND/]HOSTPORT:VMPORT]...
 *          [--passt BINARY] [--runas USER] [--qemu BINARY]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/vmm_priv.h"

#define RUN_TIMEOUT_MS 30000

static void usage(void) {
    fprintf(stderr, "usage: vmmrun --net passt|slirp --kernel FILE [--initrd FILE] --cmdline TEXT "
                    "--disk FILE --mac MAC [--memory MIB] [--address ADDR/PREFIX] "
                    "[--gateway ADDR] [--forward [udp:][BIND/]HOSTPORT:VMPORT]... "
                    "[--passt BINARY] [--runas USER] [--qemu BINARY]\n");
    exit(2);
}

static void print_argv(const char *what, char **argv) {
    fprintf(stderr, "vmmrun: %s:", what);
    for (char **a = argv; *a; a++)
        fprintf(stderr, " %s", *a);
    fputc('\n', stderr);
}

static uint16_t port_of(const char *s) {
    uint64_t v = 0;
    if (parse_u64(s, 65535, &v) < 0)
        usage();
    return (uint16_t)v;
}

/* [udp:][BIND/]HOSTPORT:VMPORT; s is modified and borrowed. */
static struct vmm_forward forward_parse(char *s) {
    struct vmm_forward f = {0};
    if (str_starts_with(s, "udp:")) {
        f.udp = true;
        s += 4;
    }
    char *slash = strchr(s, '/');
    if (slash) {
        *slash = '\0';
        f.bind_address = s;
        s = slash + 1;
    }
    char *colon = strchr(s, ':');
    if (!colon)
        usage();
    *colon = '\0';
    f.host_port = port_of(s);
    f.vm_port = port_of(colon + 1);
    return f;
}

static int fail(const struct error *err) {
    fprintf(stderr, "vmmrun: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv) {
    struct vmm_config cfg = {
        .vm_id = "0123456789abcdef",
        .cpus = 1,
        .memory = 128ull << 20,
        .api_socket = "qmp.sock",
        .passt_socket = "passt.sock",
    };
    struct vmm_passt passt = {.binary = "passt"};
    const char *qemu = "qemu-system-x86_64";
    static struct vmm_forward forwards[VMM_FORWARDS_MAX];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (strcmp(o, "--net") == 0)
            cfg.net = strcmp(v, "passt") == 0   ? VMM_NET_PASST
                      : strcmp(v, "slirp") == 0 ? VMM_NET_SLIRP
                                                : (usage(), VMM_NET_NONE);
        else if (strcmp(o, "--kernel") == 0)
            cfg.kernel = v;
        else if (strcmp(o, "--initrd") == 0)
            cfg.initrd = v;
        else if (strcmp(o, "--cmdline") == 0)
            cfg.cmdline = v;
        else if (strcmp(o, "--disk") == 0)
            cfg.disk = v;
        else if (strcmp(o, "--mac") == 0)
            cfg.mac = v;
        else if (strcmp(o, "--memory") == 0) {
            uint64_t mib = 0;
            if (parse_u64(v, 65536, &mib) < 0)
                usage();
            cfg.memory = mib << 20;
        } else if (strcmp(o, "--address") == 0) {
            char *slash = strchr(v, '/');
            if (!slash)
                usage();
            *slash = '\0';
            cfg.user_address = v;
            cfg.user_prefix = port_of(slash + 1);
        } else if (strcmp(o, "--gateway") == 0)
            cfg.user_gateway = v;
        else if (strcmp(o, "--forward") == 0) {
            if (cfg.n_forwards == VMM_FORWARDS_MAX)
                usage();
            forwards[cfg.n_forwards++] = forward_parse(v);
        } else if (strcmp(o, "--passt") == 0)
            passt.binary = v;
        else if (strcmp(o, "--runas") == 0)
            passt.runas = v;
        else if (strcmp(o, "--qemu") == 0)
            qemu = v;
        else
            usage();
    }
    cfg.forwards = forwards;
    if (cfg.net == VMM_NET_NONE || !cfg.kernel || !cfg.cmdline || !cfg.disk)
        usage();

    struct error err;
    error_init(&err);
    struct exec_proc pp = {.pid = -1, .in = -1, .out = -1, .err = -1};
    if (cfg.net == VMM_NET_PASST) {
        char **pargv = NULL;
        if (vmm_passt_argv(&passt, &cfg, &pargv, &err) < 0)
            return fail(&err);
        print_argv("passt", pargv);
        vmm_argv_free(pargv);
        if (vmm_passt_spawn(&passt, &cfg, STDERR_FILENO, &pp, &err) < 0 ||
            vmm_passt_wait(&cfg, pp.pid, RUN_TIMEOUT_MS, &err) < 0)
            return fail(&err);
    }
    char why[256];
    struct vmm_launch l = {.kind = VMM_QEMU, .binary = qemu, .cfg = cfg};
    l.kvm = vmm_kvm_usable(why, sizeof(why));
    char **qargv = NULL;
    if (vmm_spawn_argv(&l, &qargv, &err) < 0)
        return fail(&err);
    print_argv("qemu", qargv);
    vmm_argv_free(qargv);
    unlink(cfg.api_socket);
    struct exec_proc qp;
    if (vmm_spawn(&l, STDERR_FILENO, &qp, &err) < 0 ||
        vmm_configure(&l, qp.pid, RUN_TIMEOUT_MS, &err) < 0)
        return fail(&err);

    char buf[4096];
    ssize_t n;
    while ((n = read(qp.out, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(STDOUT_FILENO, buf, (size_t)n) != n)
            break;
    }
    int qstatus = 0, pstatus = 0;
    if (exec_finish(&qp, &qstatus, &err) < 0)
        return fail(&err);
    fprintf(stderr, "vmmrun: qemu ended, status %d\n", qstatus);
    if (pp.pid > 0) {
        /* passt quits by itself once qemu is gone (--one-off). */
        int64_t deadline = time_now_ms() + 5000;
        siginfo_t si = {0};
        while (waitid(P_PID, (id_t)pp.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               si.si_pid != pp.pid && time_now_ms() < deadline)
            sleep_ms(20);
        if (si.si_pid != pp.pid) {
            fprintf(stderr, "vmmrun: passt still ran 5 s after qemu; killed\n");
            kill(pp.pid, SIGKILL);
        }
        if (exec_finish(&pp, &pstatus, &err) < 0)
            return fail(&err);
        fprintf(stderr, "vmmrun: passt ended, status %d\n", pstatus);
    }
    return WIFEXITED(qstatus) && WEXITSTATUS(qstatus) == 0 ? 0 : 1;
}
