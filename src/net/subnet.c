/*
 * net subnet: whether a subnet is free here, and picking one that is. The
 * routes of the main table come from /proc/net/route, the interfaces'
 * addresses from getifaddrs; both are those of this process's network
 * namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"

static uint8_t mask_prefix(uint32_t mask) {
    uint8_t p = 0;
    while (p < 32 && (mask & (0x80000000u >> p)))
        p++;
    return p;
}

static bool overlaps(const struct net_subnet *a, uint32_t addr, uint8_t prefix) {
    struct net_subnet b = {.addr = addr, .prefix = prefix};
    const struct net_subnet *shorter = a->prefix < prefix ? a : &b;
    uint32_t m = net_subnet_mask(shorter);
    return (a->addr & m) == (addr & m);
}

/* A route (not the default one) of /proc/net/route that overlaps s. */
static bool route_overlaps(const struct net_subnet *s, const char *skip_link, char *why,
                           size_t size) {
    _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
    if (!f)
        return false;
    char line[512];
    if (!fgets(line, sizeof(line), f)) /* the header */
        return false;
    while (fgets(line, sizeof(line), f)) {
        char ifname[IFNAMSIZ + 1];
        unsigned dst, gw, flags, mask;
        if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", ifname, &dst, &gw, &flags, &mask) != 5)
            continue;
        /* The kernel prints the network-order words as host integers. */
        uint32_t d = ntohl(dst), m = ntohl(mask);
        if (m == 0 || (skip_link && strcmp(ifname, skip_link) == 0))
            continue;
        if (overlaps(s, d & m, mask_prefix(m))) {
            char ip[NET_IP_MAX];
            net_ip_format(d & m, ip);
            snprintf(why, size, "the route to %s/%u on '%s'", ip, mask_prefix(m), ifname);
            return true;
        }
    }
    return false;
}

static bool address_overlaps(const struct net_subnet *s, const char *skip_link, char *why,
                             size_t size) {
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa) < 0)
        return false;
    bool found = false;
    for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
            continue;
        if (skip_link && strcmp(i->ifa_name, skip_link) == 0)
            continue;
        struct sockaddr_in a, m;
        memcpy(&a, i->ifa_addr, sizeof(a));
        memcpy(&m, i->ifa_netmask, sizeof(m));
        uint32_t ip = ntohl(a.sin_addr.s_addr), mask = ntohl(m.sin_addr.s_addr);
        if (overlaps(s, ip & mask, mask_prefix(mask))) {
            char buf[NET_IP_MAX];
            net_ip_format(ip, buf);
            snprintf(why, size, "the address %s/%u of '%s'", buf, mask_prefix(mask), i->ifa_name);
            found = true;
        }
    }
    freeifaddrs(ifa);
    return found;
}

bool net_subnet_in_use(const struct net_subnet *s, const char *skip_link, char *why, size_t size) {
    char dummy[1];
    if (!why || size == 0) {
        why = dummy;
        size = sizeof(dummy);
    }
    return route_overlaps(s, skip_link, why, size) || address_overlaps(s, skip_link, why, size);
}

int net_subnet_pick(struct net_subnet *ret, struct error *err) {
    for (unsigned i = 0; i < (254 - 61 + 1) + 16; i++) {
        struct net_subnet s = {.prefix = 16};
        if (i < 254 - 61 + 1)
            s.addr = (10u << 24) | ((61u + i) << 16);
        else
            s.addr = (172u << 24) | ((16u + i - (254 - 61 + 1)) << 16);
        if (!net_subnet_in_use(&s, NULL, NULL, 0)) {
            *ret = s;
            return 0;
        }
    }
    return error_set(err, -EADDRINUSE,
                     "no free /16 subnet in 10.61-254.0.0 or 172.16-31.0.0: give the network a "
                     "subnet");
}
