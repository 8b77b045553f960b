/*
 * engine net: a VM's network, brought up by its start and taken down at its
 * end, as steps of the vm.start operation (docs/architecture.md,
 * "Networking").
 *
 * - Before the intent: the mode (spec.networkMode), the network a bridged VM
 *   joins (the first by name; one is recorded with a free subnet when there
 *   is none), its port maps checked against those mapped and the ports the
 *   host listens on; in user mode with spec.ssh, the 127.0.0.1 port
 *   forwarded to the guest's port 22 (recorded in the intent's transaction).
 * - In the intent's transaction: the VM's lease, kept from an earlier run or
 *   the lowest free address, and status.ipAddresses. Two processes never
 *   hand out one address: the insert runs in the intent's write
 *   transaction, and the address is the table's key.
 * - The act, one journal step and fault point each: the bridge with the
 *   nftables table and dnsmasq ("net-bridge"), the VM's dnsmasq host file
 *   ("net-hostfile"), its tap ("net-tap"), its port-map elements
 *   ("net-ports").
 * - The end (the monitor's, a halt's, a rolled-back start's): the elements,
 *   the tap and the host file go; the lease stays until the VM is removed,
 *   when dnsmasq is made to forget it too (vm_net_forget).
 *   Every part is idempotent, so recovery may run it again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define VM_NET_TAP_WAIT_MS 3000 /* how long a dying VMM may hold its tap */

int vm_net_mode_of(const struct api_object *vm, enum vm_net_mode *ret, struct error *err) {
    const char *m = vm->u.vm.network_mode ? vm->u.vm.network_mode : API_DEFAULT_NETWORK_MODE;
    if (strcmp(m, "bridge") == 0 || strcmp(m, "docker-bridge") == 0)
        *ret = VM_NET_BRIDGE;
    else if (strcmp(m, "user") == 0)
        *ret = VM_NET_USER;
    else if (strcmp(m, "none") == 0)
        *ret = VM_NET_NONE;
    else if (strcmp(m, "cni") == 0)
        *ret = VM_NET_CNI;
    else
        return error_set(err, -ENOTSUP,
                         "vm '%s': network mode '%s' is not supported here; use bridge (as "
                         "root), cni (as root), user or none (--net)",
                         vm->meta.name, m);
    if ((*ret == VM_NET_BRIDGE || *ret == VM_NET_CNI) && geteuid() != 0)
        return error_set(err, -EPERM,
                         "vm '%s': the %s network needs root; run as root or use --net user",
                         vm->meta.name, *ret == VM_NET_CNI ? "cni" : "bridge");
    return 0;
}

void vm_net_release_fields(struct vm_net *n) {
    free(n->maps);
    n->maps = NULL;
    n->n_maps = 0;
    net_cni_conf_release(&n->cni_conf);
    free(n->cni_path);
    n->cni_path = NULL;
    free(n->netns);
    n->netns = NULL;
}

char *vm_net_dir(engine *e, const char *network) {
    return xasprintf("%s/run/net/%s", e->root, network);
}

/* The network a bridged VM joins: the first recorded, else a new hearth0 on a free subnet. */
static int net_pick(engine *e, struct vm_net *n, struct error *err) {
    int r = store_network_get(e->store, NULL, &n->net, err);
    if (r != -ENOENT) {
        if (r == 0)
            r = net_subnet_parse(n->net.subnet, &n->subnet, err);
        return r;
    }
    error_init(err);
    struct net_subnet s;
    r = net_subnet_pick(&s, err);
    if (r < 0)
        return r;
    /* A bridge of that name here is another root's (this one has no network yet): the next. */
    snprintf(n->net.name, sizeof(n->net.name), "%s", VM_NET_DEFAULT_BRIDGE);
    for (int i = 1; i < 100 && net_link_exists(n->net.name); i++)
        snprintf(n->net.name, sizeof(n->net.name), "hearth%d", i);
    net_subnet_format(&s, n->net.subnet);
    n->subnet = s;
    n->fresh = true; /* recorded by the intent */
    return 0;
}

static const char *proto_name(bool udp) {
    return udp ? "udp" : "tcp";
}

int vm_net_maps(const struct api_object *vm, uint32_t ip, struct net_portmap **ret, size_t *ret_n,
                struct error *err) {
    const struct api_vm *v = &vm->u.vm;
    *ret = NULL;
    *ret_n = 0;
    if (v->n_ports == 0)
        return 0;
    _cleanup_free_ struct net_portmap *maps = calloc(v->n_ports, sizeof(*maps));
    if (!maps)
        return error_oom(err);
    for (size_t i = 0; i < v->n_ports; i++) {
        const struct api_port *p = &v->ports[i];
        struct net_portmap *m = &maps[i];
        m->udp = p->protocol && strcmp(p->protocol, "udp") == 0;
        m->host_port = (uint16_t)p->host_port;
        m->vm_port = (uint16_t)p->vm_port;
        m->vm_ip = ip;
        if (p->bind_address && strcmp(p->bind_address, "0.0.0.0") != 0 &&
            net_ip_parse(p->bind_address, &m->bind, NULL) < 0)
            return error_set(err, -EINVAL,
                             "vm '%s': bind address '%s' of port %llu is not an IPv4 address",
                             vm->meta.name, p->bind_address, (unsigned long long)p->host_port);
    }
    *ret = steal_ptr(&maps);
    *ret_n = v->n_ports;
    return 0;
}

/*
 * A host port of m that a running VM maps already, or that something here
 * listens on; in the user mode without root, one below the ports a normal
 * user may bind (passt or QEMU would fail on it after the VM's start began).
 * The maps of table inet hearth are root's: only root lists them (a normal
 * user's libnftables prints its refusal on stderr).
 */
static int maps_check(const char *name, const struct vm_net *n, struct error *err) {
    bool root = geteuid() == 0;
    unsigned low = n->mode == VM_NET_USER && !root ? net_port_unprivileged_start() : 0;
    for (size_t i = 0; i < n->n_maps; i++) {
        const struct net_portmap *m = &n->maps[i];
        if (m->host_port < low)
            return error_set(err, -EACCES,
                             "vm '%s': host port %u/%s is below %u, which only root may bind "
                             "(net.ipv4.ip_unprivileged_port_start); pick a port of %u or above "
                             "with -p, or run as root",
                             name, m->host_port, proto_name(m->udp), low, low);
        /* Only root may read table inet hearth (libnftables complains on the terminal). */
        struct net_portmap have;
        struct error lerr;
        error_init(&lerr);
        int r = root ? net_nft_mapped(m, &have, &lerr) : 0;
        if (r < 0)
            log_debug("looking up host port %u: %s", m->host_port, lerr.msg);
        if (r > 0) {
            char ip[NET_IP_MAX];
            net_ip_format(have.vm_ip, ip);
            return error_set(err, -EADDRINUSE,
                             "vm '%s': host port %u/%s is mapped already (to %s:%u); pick "
                             "another with -p",
                             name, m->host_port, proto_name(m->udp), ip, have.vm_port);
        }
        if (net_port_listening(m->udp, m->bind, m->host_port))
            return error_set(err, -EADDRINUSE,
                             "vm '%s': host port %u/%s is in use on this host; pick another "
                             "with -p",
                             name, m->host_port, proto_name(m->udp));
    }
    return 0;
}

/*
 * User mode with spec.ssh: the host port of 127.0.0.1 that leads to the
 * guest's port 22. The one of the last start when it is free still (the
 * same port across restarts), else one the kernel picks as free; a VM whose
 * disk holds no planted host key (no vm_ssh row) gets none.
 */
static int ssh_port_pick(engine *e, const struct api_object *vm, struct vm_net *n,
                         struct error *err) {
    struct store_vm_ssh ssh;
    int r = store_vm_ssh_get(e->store, vm->meta.uid, &ssh, err);
    if (r == -ENOENT) {
        error_init(err);
        return 0;
    }
    if (r < 0)
        return r;
    const uint32_t loopback = 0x7f000001u;
    for (size_t i = 0; i < n->n_maps && ssh.host_port; i++)
        if (!n->maps[i].udp && n->maps[i].host_port == ssh.host_port)
            ssh.host_port = 0; /* -p took it meanwhile */
    if (ssh.host_port && !net_port_listening(false, loopback, (uint16_t)ssh.host_port)) {
        n->ssh_port = (uint16_t)ssh.host_port;
        return 0;
    }
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(loopback)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return error_set(err, -errno, "vm '%s': cannot find a free port for ssh: %s", vm->meta.name,
                         strerror(errno));
    n->ssh_port = ntohs(a.sin_port);
    return 0;
}

int vm_net_plan(engine *e, const struct api_object *vm, const struct engine_vm_start_opts *opts,
                struct vm_net *n, char *notice, size_t notice_size, struct error *err) {
    memset(n, 0, sizeof(*n));
    int r = vm_net_mode_of(vm, &n->mode, err);
    if (r < 0 || n->mode == VM_NET_NONE)
        return r;
    if (n->mode == VM_NET_BRIDGE)
        r = net_pick(e, n, err);
    else if (n->mode == VM_NET_CNI)
        r = vm_cni_plan(e, vm, opts, n, notice, notice_size, err);
    if (r == 0)
        r = vm_net_maps(vm, 0, &n->maps, &n->n_maps, err);
    if (r == 0)
        r = maps_check(vm->meta.name, n, err);
    if (r == 0 && n->mode == VM_NET_USER && vm->u.vm.has_ssh)
        r = ssh_port_pick(e, vm, n, err);
    if (r < 0)
        vm_net_release_fields(n);
    return r;
}

/* The lowest address of the subnet no lease holds (the gateway excluded). */
static int lease_pick(engine *e, const struct vm_net *n, uint32_t *ret, struct error *err) {
    _cleanup_free_ struct store_lease *l = NULL;
    size_t nl = 0;
    int r = store_lease_list(e->store, n->net.name, &l, &nl, err);
    if (r < 0)
        return r;
    uint32_t first = net_subnet_gateway(&n->subnet) + 1, last = net_subnet_last(&n->subnet);
    size_t span = last >= first ? (size_t)(last - first) + 1 : 0;
    _cleanup_free_ uint8_t *used = calloc(span / 8 + 1, 1);
    if (!used)
        return error_oom(err);
    for (size_t i = 0; i < nl; i++) {
        uint32_t ip;
        if (net_ip_parse(l[i].ip, &ip, NULL) == 0 && ip >= first && ip <= last)
            used[(ip - first) / 8] |= (uint8_t)(1u << ((ip - first) % 8));
    }
    for (size_t i = 0; i < span; i++) {
        if (!(used[i / 8] & (1u << (i % 8)))) {
            *ret = first + (uint32_t)i;
            return 0;
        }
    }
    return error_set(err, -ENOSPC,
                     "network '%s' (%s) has no free address: its %zu addresses are leased; "
                     "remove a VM or make the subnet larger",
                     n->net.name, n->net.subnet, span);
}

int vm_net_lease(engine *e, struct vm_net *n, const char *uid, struct error *err) {
    net_mac_of(uid, n->mac);
    if (n->mode == VM_NET_USER) { /* the user modes' fixed guest address */
        int r = n->ssh_port ? store_vm_ssh_port_set(e->store, uid, n->ssh_port, err) : 0;
        return r < 0 ? r : store_vm_ips_set(e->store, uid, VM_NET_USER_ADDRESS, err);
    }
    if (n->mode == VM_NET_CNI)
        return vm_cni_record(e, n, uid, err);
    if (n->mode != VM_NET_BRIDGE)
        return 0;
    int r = 0;
    if (n->fresh) {
        r = store_network_add(e->store, n->net.name, n->net.subnet, err);
        if (r == -EEXIST) { /* recorded meanwhile by another start: that one */
            error_init(err);
            r = store_network_get(e->store, NULL, &n->net, err);
            if (r == 0)
                r = net_subnet_parse(n->net.subnet, &n->subnet, err);
        }
        if (r < 0)
            return r;
    }
    r = store_lease_get(e->store, uid, &n->lease, err);
    if (r == 0 && strcmp(n->lease.network, n->net.name) != 0) {
        /* Leased in a network since removed or replaced: a new one. */
        r = error_set(err, -ESTALE, "stale");
    }
    if (r == -ENOENT || r == -ESTALE) {
        error_init(err);
        uint32_t ip;
        r = lease_pick(e, n, &ip, err);
        if (r < 0)
            return r;
        memset(&n->lease, 0, sizeof(n->lease));
        net_ip_format(ip, n->lease.ip);
        snprintf(n->lease.network, sizeof(n->lease.network), "%s", n->net.name);
        snprintf(n->lease.vm_uid, sizeof(n->lease.vm_uid), "%s", uid);
        net_mac_of(uid, n->lease.mac);
        r = store_lease_add(e->store, &n->lease, err);
    }
    if (r == 0)
        r = net_ip_parse(n->lease.ip, &n->ip, err);
    if (r == 0)
        r = store_vm_ips_set(e->store, uid, n->lease.ip, err);
    for (size_t i = 0; r == 0 && i < n->n_maps; i++)
        n->maps[i].vm_ip = n->ip;
    net_tap_name_of(uid, n->tap);
    net_mac_of(uid, n->mac);
    return r;
}

int vm_net_launch(const struct vm_net *n, const char *name, struct vm_launch *l,
                  struct error *err) {
    if (n->mode == VM_NET_NONE)
        return 0;
    if (n->mode == VM_NET_CNI)
        return vm_cni_launch(n, name, l, err);
    snprintf(l->mac, sizeof(l->mac), "%s", n->mac);
    if (n->mode == VM_NET_BRIDGE) {
        l->net = VMM_NET_TAP;
        snprintf(l->tap, sizeof(l->tap), "%s", n->tap);
        return 0;
    }
    /* user: passt when it is installed, else QEMU's own user networking */
    l->net = vmm_passt_find(&l->passt) == 0 ? VMM_NET_PASST : VMM_NET_SLIRP;
    l->forwards = calloc(n->n_maps + 1, sizeof(*l->forwards));
    if (!l->forwards)
        return error_oom(err);
    if (n->ssh_port) {
        struct vmm_forward *f = &l->forwards[l->n_forwards++];
        f->host_port = n->ssh_port;
        f->vm_port = 22;
        if (!(f->bind_address = xstrdup("127.0.0.1")))
            return error_oom(err);
    }
    for (size_t i = 0; i < n->n_maps; i++) {
        const struct net_portmap *m = &n->maps[i];
        struct vmm_forward *f = &l->forwards[l->n_forwards++];
        f->udp = m->udp;
        f->host_port = m->host_port;
        f->vm_port = m->vm_port;
        if (m->bind) {
            char ip[NET_IP_MAX];
            net_ip_format(m->bind, ip);
            if (!(f->bind_address = xstrdup(ip)))
                return error_oom(err);
        }
    }
    return 0;
}

/*
 * The network's lock, <root>/run/net/<name>.lock (flock; the kernel drops
 * it with a process that dies): held while the bridge, the table and the
 * dnsmasq are ensured or taken down, so that two starts at once do not
 * both start a dnsmasq (the second could not listen). Returns the
 * descriptor that holds it.
 */
int vm_net_lock(engine *e, const char *network, struct error *err) {
    _cleanup_free_ char *rundir = xasprintf("%s/run", e->root);
    _cleanup_free_ char *netdir = xasprintf("%s/run/net", e->root);
    _cleanup_free_ char *path = xasprintf("%s/run/net/%s.lock", e->root, network);
    if (!rundir || !netdir || !path)
        return error_oom(err);
    int r = engine_dir_make(rundir, err);
    if (r == 0)
        r = engine_dir_make(netdir, err);
    if (r < 0)
        return r;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            r = error_set(err, -errno, "cannot lock '%s': %s", path, strerror(errno));
            close(fd);
            return r;
        }
    }
    return fd;
}

int vm_net_ensure(engine *e, const struct store_network *nw, const struct net_subnet *s,
                  struct error *err) {
    _cleanup_free_ char *dir = vm_net_dir(e, nw->name);
    if (!dir)
        return error_oom(err);
    int lock = vm_net_lock(e, nw->name, err);
    if (lock < 0)
        return lock;
    int r = net_bridge_ensure(nw->name, s, err);
    if (r == 0)
        r = net_nft_ensure(nw->name, s, err);
    if (r == 0)
        r = net_dnsmasq_ensure(dir, nw->name, s, NULL, err);
    close(lock);
    return r;
}

int vm_net_up(engine *e, struct vm_net *n, const char *uid, const char *name, int64_t op,
              struct error *err) {
    if (n->mode == VM_NET_CNI)
        return vm_cni_up(e, n, uid, op, err);
    if (n->mode != VM_NET_BRIDGE)
        return 0;
    _cleanup_free_ char *dir = vm_net_dir(e, n->net.name);
    if (!dir)
        return error_oom(err);
    int r = vm_net_ensure(e, &n->net, &n->subnet, err);
    if (r == 0)
        r = store_op_step(e->store, op, "net-bridge", err);
    if (r < 0)
        return r;
    fault_point("net.after-bridge");

    r = net_hostfile_write(dir, uid, n->mac, n->ip, name, err);
    if (r == 0)
        r = store_op_step(e->store, op, "net-hostfile", err);
    if (r < 0)
        return r;
    fault_point("net.after-hostfile");

    r = net_tap_create(n->tap, n->net.name, 0, err);
    if (r == 0)
        r = store_op_step(e->store, op, "net-tap", err);
    if (r < 0)
        return r;
    fault_point("net.after-tap");

    if (n->n_maps == 0)
        return 0;
    r = net_nft_add(n->maps, n->n_maps, err);
    if (r == 0)
        r = store_op_step(e->store, op, "net-ports", err);
    if (r < 0)
        return r;
    fault_point("net.after-ports");
    return 0;
}

int vm_net_tap_delete(const char *tap, struct error *err) {
    int64_t deadline = time_now_ms() + VM_NET_TAP_WAIT_MS;
    for (;;) {
        error_init(err);
        int r = net_tap_delete(tap, err);
        if (r != -EBUSY || time_now_ms() >= deadline)
            return r;
        sleep_ms(10);
    }
}

void vm_net_down(engine *e, const char *uid) {
    struct store_lease lease;
    struct error err;
    error_init(&err);
    if (vm_cni_down(e, uid, false, &err) < 0)
        log_warn("%s", err.msg);
    error_init(&err);
    if (store_lease_get(e->store, uid, &lease, &err) < 0)
        return; /* never bridged: nothing of it on the machine */
    uint32_t ip;
    if (net_ip_parse(lease.ip, &ip, &err) < 0)
        return;
    /* The elements that lead to its address, whatever the spec says now. */
    _cleanup_free_ struct net_portmap *have = NULL;
    size_t n_have = 0, n_mine = 0;
    if (net_nft_exists() && net_nft_list(&have, &n_have, &err) == 0) {
        for (size_t i = 0; i < n_have; i++)
            if (have[i].vm_ip == ip)
                have[n_mine++] = have[i];
        if (n_mine > 0 && net_nft_del(have, n_mine, &err) < 0)
            log_warn("vm %s: %s", uid, err.msg);
    }
    char tap[IFNAMSIZ];
    net_tap_name_of(uid, tap);
    error_init(&err);
    if (vm_net_tap_delete(tap, &err) < 0)
        log_warn("vm %s: %s", uid, err.msg);
    _cleanup_free_ char *dir = vm_net_dir(e, lease.network);
    error_init(&err);
    if (dir && net_hostfile_remove(dir, uid, &err) < 0)
        log_warn("vm %s: %s", uid, err.msg);
}

void vm_net_forget(engine *e, const char *uid) {
    struct store_lease lease;
    struct store_network net;
    struct net_subnet s;
    uint32_t ip;
    struct error err;
    error_init(&err);
    if (vm_cni_down(e, uid, true, &err) < 0) /* a row an end left behind (its DEL failed) */
        log_warn("%s", err.msg);
    error_init(&err);
    if (store_lease_get(e->store, uid, &lease, &err) < 0)
        return; /* never bridged */
    if (store_network_get(e->store, lease.network, &net, &err) < 0 ||
        net_subnet_parse(net.subnet, &s, &err) < 0 || net_ip_parse(lease.ip, &ip, &err) < 0) {
        log_warn("vm %s: %s", uid, err.msg);
        return;
    }
    if (!lease.mac[0])
        net_mac_of(uid, lease.mac);
    _cleanup_free_ char *dir = vm_net_dir(e, lease.network);
    if (dir && net_dnsmasq_release(dir, net.name, &s, ip, lease.mac, &err) < 0)
        log_warn("vm %s: %s", uid, err.msg);
}
