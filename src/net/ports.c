/*
 * net ports: whether something on this host already uses a host port that
 * a port map would take, from /proc/net/{tcp,tcp6,udp,udp6} (this network
 * namespace's sockets): TCP sockets in LISTEN, UDP sockets bound to it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"

#define TCP_LISTEN 0x0a

/* Whether a socket on local address hex (8 or 32 hex digits) covers bind (0: any). */
static bool addr_covers(const char *hex, uint32_t bind) {
    size_t len = strlen(hex);
    uint32_t w[4] = {0};
    for (size_t i = 0; i < len / 8 && i < 4; i++) {
        char word[9];
        memcpy(word, hex + 8 * i, 8);
        word[8] = '\0';
        /* The kernel prints each network-order word as a host integer. */
        w[i] = (uint32_t)strtoul(word, NULL, 16);
    }
    if (len == 8) {
        uint32_t ip = ntohl(w[0]);
        return bind == 0 || ip == 0 || ip == bind;
    }
    if (len != 32)
        return false;
    struct in6_addr a;
    memcpy(&a, w, sizeof(a));
    if (IN6_IS_ADDR_UNSPECIFIED(&a))
        return true;
    if (!IN6_IS_ADDR_V4MAPPED(&a))
        return false; /* an IPv6 address: port maps are IPv4 */
    uint32_t ip = ntohl(w[3]);
    return bind == 0 || ip == 0 || ip == bind;
}

static bool file_has(const char *path, bool udp, uint32_t bind, uint16_t port) {
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    if (!fgets(line, sizeof(line), f)) /* the header */
        return false;
    while (fgets(line, sizeof(line), f)) {
        char local[33];
        unsigned lport, state;
        if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &lport, &state) !=
            3)
            continue;
        if (lport != port || (!udp && state != TCP_LISTEN))
            continue;
        if (addr_covers(local, bind))
            return true;
    }
    return false;
}

bool net_port_listening(bool udp, uint32_t bind, uint16_t port) {
    if (udp)
        return file_has("/proc/net/udp", true, bind, port) ||
               file_has("/proc/net/udp6", true, bind, port);
    return file_has("/proc/net/tcp", false, bind, port) ||
           file_has("/proc/net/tcp6", false, bind, port);
}
