/*
 * vmm net: the network modes of a VM's NIC, and what the user modes (passt,
 * qemu's slirp) take from the config: the port forwards and the guest's
 * address, prefix and gateway, checked once here for both, and the value of
 * qemu's -netdev user. Every address is a literal checked with inet_pton, so
 * nothing a caller passes can add an option to qemu's comma-separated list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vmm_priv.h"

#define NET_SLIRP_MAX 65536 /* bytes of the -netdev user value */

const char *vmm_net_name(enum vmm_net n) {
    switch (n) {
    case VMM_NET_NONE:
        return "none";
    case VMM_NET_TAP:
        return "tap";
    case VMM_NET_PASST:
        return "passt";
    case VMM_NET_SLIRP:
        return "slirp";
    }
    return "unknown";
}

enum vmm_net vmm_config_net(const struct vmm_config *cfg) {
    if (cfg->net == VMM_NET_NONE && cfg->tap)
        return VMM_NET_TAP;
    return cfg->net;
}

static bool net_is_ipv4(const char *s, struct in_addr *ret) {
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    if (ret)
        *ret = a;
    return true;
}

static bool net_is_ipv6(const char *s) {
    struct in6_addr a;
    return s && inet_pton(AF_INET6, s, &a) == 1;
}

static const char *net_proto(const struct vmm_forward *f) {
    return f->udp ? "udp" : "tcp";
}

static int net_check_forwards(const struct vmm_config *cfg, enum vmm_net mode, struct error *err) {
    if (cfg->n_forwards > VMM_FORWARDS_MAX)
        return error_set(err, -E2BIG, "%zu port forwards; a vm takes at most %d", cfg->n_forwards,
                         VMM_FORWARDS_MAX);
    if (cfg->n_forwards && !cfg->forwards)
        return error_set(err, -EINVAL, "%zu port forwards given without their list",
                         cfg->n_forwards);
    for (size_t i = 0; i < cfg->n_forwards; i++) {
        const struct vmm_forward *f = &cfg->forwards[i];
        if (f->host_port == 0 || f->vm_port == 0)
            return error_set(err, -EINVAL, "port forward %u->%u/%s: ports are 1 to 65535",
                             f->host_port, f->vm_port, net_proto(f));
        const char *b = f->bind_address;
        if (b && !net_is_ipv4(b, NULL)) {
            if (mode == VMM_NET_SLIRP && net_is_ipv6(b))
                return error_set(err, -EINVAL,
                                 "port forward %s:%u/%s: qemu's user networking forwards from "
                                 "IPv4 addresses only; install passt or bind to an IPv4 address",
                                 b, f->host_port, net_proto(f));
            if (!net_is_ipv6(b))
                return error_set(err, -EINVAL,
                                 "port forward %u/%s: bind address '%s' is not an IP address",
                                 f->host_port, net_proto(f), b);
        }
        for (size_t j = 0; j < i; j++) {
            const struct vmm_forward *g = &cfg->forwards[j];
            if (g->udp == f->udp && g->host_port == f->host_port)
                return error_set(err, -EINVAL, "host port %u/%s is forwarded twice", f->host_port,
                                 net_proto(f));
        }
    }
    return 0;
}

static int net_check_address(const struct vmm_config *cfg, struct error *err) {
    struct in_addr addr, gw;
    if (!cfg->user_address) {
        if (cfg->user_gateway && !net_is_ipv4(cfg->user_gateway, NULL))
            return error_set(err, -EINVAL, "gateway '%s' is not an IPv4 address",
                             cfg->user_gateway);
        return 0;
    }
    if (!net_is_ipv4(cfg->user_address, &addr))
        return error_set(err, -EINVAL, "guest address '%s' is not an IPv4 address",
                         cfg->user_address);
    if (cfg->user_prefix < 8 || cfg->user_prefix > 30)
        return error_set(err, -EINVAL, "guest address '%s': prefix length %u is not 8 to 30",
                         cfg->user_address, cfg->user_prefix);
    if (!cfg->user_gateway)
        return 0;
    if (!net_is_ipv4(cfg->user_gateway, &gw))
        return error_set(err, -EINVAL, "gateway '%s' is not an IPv4 address", cfg->user_gateway);
    uint32_t mask = ~0u << (32 - cfg->user_prefix);
    uint32_t a = ntohl(addr.s_addr), g = ntohl(gw.s_addr);
    if ((a & mask) != (g & mask) || a == g)
        return error_set(err, -EINVAL,
                         "gateway '%s' is not another address of the guest's subnet %s/%u",
                         cfg->user_gateway, cfg->user_address, cfg->user_prefix);
    return 0;
}

int vmm_user_net_check(const struct vmm_config *cfg, enum vmm_net mode, struct error *err) {
    int r = net_check_forwards(cfg, mode, err);
    if (r < 0)
        return r;
    return net_check_address(cfg, err);
}

int vmm_slirp_netdev(const struct vmm_config *cfg, char **ret, struct error *err) {
    int r = vmm_user_net_check(cfg, VMM_NET_SLIRP, err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    r = strbuf_addf(&sb, "user,id=net0");
    if (r == 0 && cfg->user_address) {
        struct in_addr a, net;
        if (!net_is_ipv4(cfg->user_address, &a))
            return error_set(err, -EINVAL, "guest address '%s' is not an IPv4 address",
                             cfg->user_address);
        net.s_addr = htonl(ntohl(a.s_addr) & (~0u << (32 - cfg->user_prefix)));
        char subnet[INET_ADDRSTRLEN];
        if (!inet_ntop(AF_INET, &net, subnet, sizeof(subnet)))
            return error_set(err, -EINVAL, "guest address '%s' has no subnet", cfg->user_address);
        r = strbuf_addf(&sb, ",net=%s/%u,dhcpstart=%s", subnet, cfg->user_prefix,
                        cfg->user_address);
    }
    if (r == 0 && cfg->user_gateway)
        r = strbuf_addf(&sb, ",host=%s", cfg->user_gateway);
    for (size_t i = 0; r == 0 && i < cfg->n_forwards; i++) {
        const struct vmm_forward *f = &cfg->forwards[i];
        r = strbuf_addf(&sb, ",hostfwd=%s:%s:%u-:%u", net_proto(f),
                        f->bind_address ? f->bind_address : "", f->host_port, f->vm_port);
    }
    if (r < 0)
        return error_oom(err);
    if (sb.len > NET_SLIRP_MAX)
        return error_set(err, -E2BIG, "qemu's -netdev user value is longer than %d bytes",
                         NET_SLIRP_MAX);
    *ret = strbuf_detach(&sb);
    return 0;
}
