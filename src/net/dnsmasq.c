/*
 * net dnsmasq: one dnsmasq (Debian's dnsmasq-base) per bridge, in a
 * directory of its own that holds its pid file, its lease file and its
 * --dhcp-hostsdir, one host file per VM ("mac,ip,name"). Only those hosts
 * get an address (--dhcp-range ...,static), so every address it hands out
 * is one the database leased. dnsmasq reads a host file by inotify when it
 * is added, but forgets a removed one only on SIGHUP (its manual: host
 * records are only added dynamically), so a removal sends one. It also
 * remembers each lease it gave (in memory and in its lease file) and
 * refuses a host file's address while another MAC holds it: a removed
 * VM's lease is released by a DHCPRELEASE sent as its client would
 * (net_dnsmasq_release), and a dnsmasq starts without the lease file of the
 * one before. Without both, a removed VM's address stays unusable for the
 * next VM given it.
 *
 * dnsmasq is run in the foreground of exec_run and daemonises itself: its
 * first process exits once the daemon listens, with status 0, or with
 * dnsmasq's own error on stderr (a port in use, a bad option), which goes
 * into the error. The daemon has its own session (setsid) and is nobody's
 * child here, so it outlives the command that started it. Its pid file is
 * only believed when that pid runs /usr/sbin/dnsmasq with this directory's
 * pid file in its argv, so a reused pid is never taken for it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"

#define DNSMASQ "/usr/sbin/dnsmasq"
#define HOSTFILE_MAX 256          /* "mac,ip,name\n" */
#define LEASEFILE_MAX (16u << 20) /* dnsmasq's lease file; a /16 of leases is 4 MB */
#define DHCP_FIXED_LEN 236        /* a BOOTP message up to its options */
#define RELEASE_WAIT_MS 2000      /* how long dnsmasq may take to drop a released lease */

static int dir_check(const char *dir, struct error *err) {
    if (!dir || !path_is_host_clean(dir) || strlen(dir) > 1024)
        return error_set(err, -EINVAL, "'%s' is not a clean absolute path for dnsmasq's directory",
                         dir ? dir : "");
    return 0;
}

int net_dnsmasq_pid(const char *dir) {
    if (dir_check(dir, NULL) < 0)
        return 0;
    char path[1100];
    snprintf(path, sizeof(path), "%s/dnsmasq.pid", dir);
    struct strbuf sb = STRBUF_INIT;
    uint64_t pid = 0;
    bool ok = strbuf_read_file(&sb, path, 64, NULL) == 0 && sb.len > 0;
    if (ok && sb.buf[sb.len - 1] == '\n')
        sb.buf[--sb.len] = '\0';
    ok = ok && parse_u64(sb.buf, 1u << 22, &pid) == 0 && pid > 1;
    strbuf_release(&sb);
    if (!ok)
        return 0;
    char argv[8192], want[1200];
    size_t argc = 0;
    if (proc_cmdline((int)pid, argv, sizeof(argv), &argc) < 0 || argc == 0 ||
        strcmp(argv, DNSMASQ) != 0)
        return 0;
    snprintf(want, sizeof(want), "--pid-file=%s", path);
    const char *a = argv;
    for (size_t i = 0; i < argc; i++, a += strlen(a) + 1)
        if (strcmp(a, want) == 0)
            return (int)pid;
    return 0;
}

/* Whether pid has ended: gone, or a zombie (which holds no socket any more). */
static bool proc_ended(int pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    struct strbuf sb = STRBUF_INIT;
    bool ended = strbuf_read_file(&sb, path, 4096, NULL) < 0 || !sb.buf;
    const char *rp = ended ? NULL : strrchr(sb.buf, ')');
    if (rp)
        ended = rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
    strbuf_release(&sb);
    return ended;
}

/* Whether pid runs dnsmasq with want ("--pid-file=DIR/dnsmasq.pid") in its argv. */
static bool runs_for(int pid, const char *want) {
    char argv[8192];
    size_t argc = 0;
    if (proc_cmdline(pid, argv, sizeof(argv), &argc) < 0 || argc == 0 || strcmp(argv, DNSMASQ) != 0)
        return false;
    const char *a = argv;
    for (size_t i = 0; i < argc; i++, a += strlen(a) + 1)
        if (strcmp(a, want) == 0)
            return true;
    return false;
}

/*
 * Ends every dnsmasq of dir that its pid file does not name: one whose
 * directory was removed under it (a root's run/ cleared, as after a reboot
 * that kept processes) still holds the bridge's ports, and a new one could
 * not listen. Found by the pid file option in its argv. Waits up to 5 s.
 */
static void orphans_end(const char *dir) {
    _cleanup_free_ char *want = xasprintf("--pid-file=%s/dnsmasq.pid", dir);
    DIR *dh = want ? opendir("/proc") : NULL;
    if (!dh)
        return;
    int pids[16];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) && n < ARRAY_SIZE(pids)) {
        uint64_t pid;
        if (parse_u64(de->d_name, 1u << 22, &pid) == 0 && pid > 1 && runs_for((int)pid, want) &&
            kill((int)pid, SIGTERM) == 0)
            pids[n++] = (int)pid;
    }
    closedir(dh);
    /* Until each is a zombie or gone: its argv goes (with its memory) before its sockets do. */
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < 5000 && !proc_ended(pids[i]); t += 10)
            sleep_ms(10);
}

/* dir and dir/hosts, mode 0700 (dnsmasq runs as root; nobody else reads them). */
static int dirs_make(const char *dir, struct error *err) {
    char hosts[1100];
    snprintf(hosts, sizeof(hosts), "%s/hosts", dir);
    int r = fs_mkdir_parents(hosts, 0700, err);
    if (r < 0)
        return r;
    if (chmod(dir, 0700) < 0 || chmod(hosts, 0700) < 0)
        return error_set(err, -errno, "cannot make '%s' private: %s", dir, strerror(errno));
    return 0;
}

int net_dnsmasq_ensure(const char *dir, const char *bridge, const struct net_subnet *s,
                       int *ret_pid, struct error *err) {
    int r = dir_check(dir, err);
    if (r < 0)
        return r;
    if (!bridge || !*bridge || strlen(bridge) >= IFNAMSIZ || strchr(bridge, ','))
        return error_set(err, -EINVAL, "'%s' is not a bridge name", bridge ? bridge : "");
    int pid = net_dnsmasq_pid(dir);
    if (pid == 0) {
        orphans_end(dir);
        r = dirs_make(dir, err);
        if (r < 0)
            return r;
        char net[NET_IP_MAX], mask[NET_IP_MAX], gw[NET_IP_MAX];
        net_ip_format(s->addr, net);
        net_ip_format(net_subnet_mask(s), mask);
        net_ip_format(net_subnet_gateway(s), gw);
        _cleanup_free_ char *pidfile = xasprintf("--pid-file=%s/dnsmasq.pid", dir);
        _cleanup_free_ char *hostsdir = xasprintf("--dhcp-hostsdir=%s/hosts", dir);
        _cleanup_free_ char *leases = xasprintf("--dhcp-leasefile=%s/leases", dir);
        _cleanup_free_ char *iface = xasprintf("--interface=%s", bridge);
        _cleanup_free_ char *listen = xasprintf("--listen-address=%s", gw);
        _cleanup_free_ char *range = xasprintf("--dhcp-range=%s,static,%s,12h", net, mask);
        if (!pidfile || !hostsdir || !leases || !iface || !listen || !range)
            return error_oom(err);
        /*
         * A new dnsmasq remembers nothing (net.h says why): its lease file
         * starts empty, and 0600, which dnsmasq keeps (it would make one 0644).
         */
        _cleanup_free_ char *leasefile = xasprintf("%s/leases", dir);
        if (!leasefile)
            return error_oom(err);
        _cleanup_close_ int lfd =
            open(leasefile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lfd < 0 || fchmod(lfd, 0600) < 0)
            return error_set(err, -errno, "cannot empty '%s': %s", leasefile, strerror(errno));
        const char *argv[] = {DNSMASQ,
                              "--conf-file=/dev/null",
                              pidfile,
                              hostsdir,
                              leases,
                              iface,
                              "--bind-interfaces",
                              "--except-interface=lo",
                              listen,
                              range,
                              "--dhcp-authoritative",
                              "--user=root",
                              NULL};
        struct exec_opts o = {.timeout_ms = 30000};
        r = exec_run(argv, &o, err);
        if (r < 0) {
            error_prefix(err, "cannot start dnsmasq for bridge '%s'", bridge);
            return r;
        }
        pid = net_dnsmasq_pid(dir);
        if (pid == 0)
            return error_set(err, -ESRCH,
                             "dnsmasq for bridge '%s' started but does not run: see the system "
                             "log",
                             bridge);
        /* Its pid file is 0644 as dnsmasq makes it; what hearth keeps is its user's alone. */
        char path[1100];
        snprintf(path, sizeof(path), "%s/dnsmasq.pid", dir);
        if (chmod(path, 0600) < 0)
            return error_set(err, -errno, "cannot make '%s' private: %s", path, strerror(errno));
    }
    if (ret_pid)
        *ret_pid = pid;
    return 0;
}

/* Waits up to ms for pid to end (a zombie counts: its sockets are closed). */
static bool wait_gone(int pid, int ms) {
    for (int t = 0; t <= ms; t += 10) {
        if (proc_ended(pid))
            return true;
        sleep_ms(10);
    }
    return false;
}

int net_dnsmasq_stop(const char *dir, struct error *err) {
    int r = dir_check(dir, err);
    if (r < 0)
        return r;
    int pid = net_dnsmasq_pid(dir);
    if (pid > 0) {
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
            return error_set(err, -errno, "cannot stop dnsmasq (pid %d): %s", pid, strerror(errno));
        if (!wait_gone(pid, 5000)) {
            if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
                return error_set(err, -errno, "cannot kill dnsmasq (pid %d): %s", pid,
                                 strerror(errno));
            if (!wait_gone(pid, 5000))
                return error_set(err, -ETIMEDOUT, "dnsmasq (pid %d) does not end", pid);
        }
    }
    orphans_end(dir);
    char path[1100];
    snprintf(path, sizeof(path), "%s/dnsmasq.pid", dir);
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set(err, -errno, "cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

/* A host name dnsmasq takes: letters, digits and '-', 1 to 63, not starting or ending in '-'. */
static bool hostname_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", name[i]))
            return false;
    return true;
}

static bool mac_ok(const char *mac) {
    if (!mac || strlen(mac) != 17)
        return false;
    for (size_t i = 0; i < 17; i++)
        if (i % 3 == 2 ? mac[i] != ':' : !strchr("0123456789abcdefABCDEF", mac[i]))
            return false;
    return true;
}

/* Whether dir's lease file ("EXPIRY MAC IP NAME CLIENT-ID" lines) has ip leased to mac. */
static bool lease_held(const char *dir, const char *mac, uint32_t ip) {
    char path[1100], ipbuf[NET_IP_MAX], want[64];
    snprintf(path, sizeof(path), "%s/leases", dir);
    net_ip_format(ip, ipbuf);
    snprintf(want, sizeof(want), " %s %s ", mac, ipbuf);
    struct strbuf sb = STRBUF_INIT;
    bool held = strbuf_read_file(&sb, path, LEASEFILE_MAX, NULL) == 0 && sb.buf &&
                strcasestr(sb.buf, want) != NULL;
    strbuf_release(&sb);
    return held;
}

/* A DHCPRELEASE (RFC 2131) of ip by mac, sent on bridge to server's port 67. */
static int release_send(const char *bridge, uint32_t server, uint32_t ip, const char *mac,
                        struct error *err) {
    uint8_t pkt[DHCP_FIXED_LEN + 16] = {0};
    pkt[0] = 1; /* BOOTREQUEST */
    pkt[1] = 1; /* htype: Ethernet */
    pkt[2] = 6; /* hlen */
    uint32_t xid = htonl((uint32_t)getpid()), ci = htonl(ip), sid = htonl(server);
    memcpy(pkt + 4, &xid, 4);
    memcpy(pkt + 12, &ci, 4);   /* ciaddr: the address released */
    for (int i = 0; i < 6; i++) /* chaddr; mac is checked by the caller */
        pkt[28 + i] = (uint8_t)strtoul(mac + 3 * i, NULL, 16);
    uint8_t *o = pkt + DHCP_FIXED_LEN;
    static const uint8_t head[] = {99, 130, 83, 99, /* the magic cookie */
                                   53, 1,   7};     /* message type: DHCPRELEASE */
    memcpy(o, head, sizeof(head));
    o += sizeof(head);
    *o++ = 54; /* server identifier, which dnsmasq checks */
    *o++ = 4;
    memcpy(o, &sid, 4);
    o += 4;
    *o++ = 255;
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set(err, -errno, "cannot open a socket: %s", strerror(errno));
    /* dnsmasq takes it as received on bridge, where the client would have sent it. */
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bridge, (socklen_t)strlen(bridge) + 1) < 0)
        return error_set(err, -errno, "cannot bind a socket to bridge '%s': %s", bridge,
                         strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(67), .sin_addr.s_addr = sid};
    if (sendto(fd, pkt, (size_t)(o - pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
        return error_set(err, -errno, "cannot send a DHCP release on bridge '%s': %s", bridge,
                         strerror(errno));
    return 0;
}

int net_dnsmasq_release(const char *dir, const char *bridge, const struct net_subnet *s,
                        uint32_t ip, const char *mac, struct error *err) {
    int r = dir_check(dir, err);
    if (r < 0)
        return r;
    if (!bridge || !*bridge || strlen(bridge) >= IFNAMSIZ)
        return error_set(err, -EINVAL, "'%s' is not a bridge name", bridge ? bridge : "");
    if (!mac_ok(mac))
        return error_set(err, -EINVAL, "'%s' is not a MAC address", mac ? mac : "");
    if (!lease_held(dir, mac, ip) || net_dnsmasq_pid(dir) == 0)
        return 0;
    r = release_send(bridge, net_subnet_gateway(s), ip, mac, err);
    if (r < 0)
        return r;
    for (int t = 0; t < RELEASE_WAIT_MS; t += 10) {
        if (!lease_held(dir, mac, ip))
            return 0;
        sleep_ms(10);
    }
    char ipbuf[NET_IP_MAX];
    net_ip_format(ip, ipbuf);
    return error_set(err, -ETIMEDOUT,
                     "dnsmasq for bridge '%s' still holds the lease of %s to %s after %d ms",
                     bridge, ipbuf, mac, RELEASE_WAIT_MS);
}

int net_hostfile_write(const char *dir, const char *uid, const char *mac, uint32_t ip,
                       const char *name, struct error *err) {
    int r = dir_check(dir, err);
    if (r < 0)
        return r;
    if (!uid || !id_is_valid(uid))
        return error_set(err, -EINVAL, "'%s' is not a VM uid", uid ? uid : "");
    if (!mac_ok(mac))
        return error_set(err, -EINVAL, "'%s' is not a MAC address", mac ? mac : "");
    char ipbuf[NET_IP_MAX], line[HOSTFILE_MAX], tmp[1100], path[1100];
    net_ip_format(ip, ipbuf);
    /* A name dnsmasq would refuse would cost the VM its address: it goes without. */
    if (name && hostname_ok(name))
        snprintf(line, sizeof(line), "%s,%s,%s\n", mac, ipbuf, name);
    else
        snprintf(line, sizeof(line), "%s,%s\n", mac, ipbuf);
    r = dirs_make(dir, err);
    if (r < 0)
        return r;
    /* dnsmasq skips names starting with '.', and reads the file once it is renamed in. */
    snprintf(tmp, sizeof(tmp), "%s/hosts/.%s.tmp", dir, uid);
    snprintf(path, sizeof(path), "%s/hosts/%s", dir, uid);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        return error_set(err, -e, "cannot write '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return error_set(err, -e, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    return 0;
}

int net_hostfile_remove(const char *dir, const char *uid, struct error *err) {
    int r = dir_check(dir, err);
    if (r < 0)
        return r;
    if (!uid || !id_is_valid(uid))
        return error_set(err, -EINVAL, "'%s' is not a VM uid", uid ? uid : "");
    char path[1100];
    snprintf(path, sizeof(path), "%s/hosts/%s", dir, uid);
    if (unlink(path) < 0)
        return errno == ENOENT
                   ? 0
                   : error_set(err, -errno, "cannot remove '%s': %s", path, strerror(errno));
    /* dnsmasq adds a host file by inotify, but forgets a removed one only when told to reload. */
    int pid = net_dnsmasq_pid(dir);
    if (pid > 0 && kill(pid, SIGHUP) < 0 && errno != ESRCH)
        return error_set(err, -errno, "cannot tell dnsmasq (pid %d) to reload its host files: %s",
                         pid, strerror(errno));
    return 0;
}

int net_hostfile_list(const char *dir, char ***ret, size_t *ret_n, struct error *err) {
    int r = dir_check(dir, err);
    if (r < 0)
        return r;
    char hosts[1100];
    snprintf(hosts, sizeof(hosts), "%s/hosts", dir);
    DIR *d = opendir(hosts);
    if (!d && errno != ENOENT)
        return error_set(err, -errno, "cannot read '%s': %s", hosts, strerror(errno));
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!id_is_valid(e->d_name))
            continue;
        if (array_grow(&v, n, sizeof(*v)) < 0 || !(v[n] = xstrdup(e->d_name))) {
            closedir(d);
            net_names_free(v, n);
            return error_oom(err);
        }
        n++;
    }
    if (d)
        closedir(d);
    *ret = v;
    *ret_n = n;
    return 0;
}
