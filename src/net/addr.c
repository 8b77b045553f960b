/*
 * net addr: IPv4 addresses and subnets as text, and the names hearth gives
 * a VM's link: its MAC and its tap, both derived from its uid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"

int net_ip_parse(const char *s, uint32_t *ret, struct error *err) {
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return error_set(err, -EINVAL, "'%s' is not an IPv4 address", s ? s : "");
    *ret = ntohl(a.s_addr);
    return 0;
}

void net_ip_format(uint32_t ip, char buf[NET_IP_MAX]) {
    snprintf(buf, NET_IP_MAX, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
             ip & 0xff);
}

uint32_t net_subnet_mask(const struct net_subnet *s) {
    return s->prefix == 0 ? 0 : ~(uint32_t)0 << (32 - s->prefix);
}

int net_subnet_parse(const char *s, struct net_subnet *ret, struct error *err) {
    const char *slash = s ? strchr(s, '/') : NULL;
    char ip[NET_IP_MAX];
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return error_set(err, -EINVAL, "'%s' is not a subnet like 10.61.0.0/16", s ? s : "");
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    struct net_subnet n;
    if (net_ip_parse(ip, &n.addr, NULL) < 0)
        return error_set(err, -EINVAL, "'%s' is not a subnet like 10.61.0.0/16", s);
    char *end;
    errno = 0;
    unsigned long p = strtoul(slash + 1, &end, 10);
    if (errno || end == slash + 1 || *end || p < 8 || p > 30)
        return error_set(err, -EINVAL, "'%s': the prefix length must be 8 to 30", s);
    n.prefix = (uint8_t)p;
    if (n.addr & ~net_subnet_mask(&n))
        return error_set(err, -EINVAL, "'%s' has host bits set: the subnet is %s/%lu?", s, ip, p);
    *ret = n;
    return 0;
}

void net_subnet_format(const struct net_subnet *s, char buf[NET_SUBNET_MAX]) {
    uint32_t a = s->addr;
    snprintf(buf, NET_SUBNET_MAX, "%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
             a & 0xff, s->prefix & 63u);
}

uint32_t net_subnet_gateway(const struct net_subnet *s) {
    return s->addr + 1;
}

uint32_t net_subnet_last(const struct net_subnet *s) {
    return (s->addr | ~net_subnet_mask(s)) - 1;
}

bool net_subnet_contains(const struct net_subnet *s, uint32_t ip) {
    return (ip & net_subnet_mask(s)) == s->addr;
}

static bool is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

void net_mac_of(const char *uid, char mac[NET_MAC_MAX]) {
    snprintf(mac, NET_MAC_MAX, "02:%.2s:%.2s:%.2s:%.2s:%.2s", uid, uid + 2, uid + 4, uid + 6,
             uid + 8);
}

void net_tap_name_of(const char *uid, char name[IFNAMSIZ]) {
    snprintf(name, IFNAMSIZ, NET_TAP_PREFIX "%.12s", uid);
}

bool net_tap_name_parse(const char *name, char prefix12[13]) {
    size_t pl = strlen(NET_TAP_PREFIX);
    if (strncmp(name, NET_TAP_PREFIX, pl) != 0 || strlen(name) != pl + 12 || !is_hex(name + pl, 12))
        return false;
    memcpy(prefix12, name + pl, 12);
    prefix12[12] = '\0';
    return true;
}

void net_names_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}
