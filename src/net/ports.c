/*
 * net ports: whether something on this host already uses a host port that
 * a port map would take (this network namespace's sockets): TCP sockets in
 * LISTEN, UDP sockets bound to it; and the lowest port a normal user may
 * bind.
 *
 * Asked of the kernel by sock_diag (NETLINK_SOCK_DIAG), for LISTEN sockets
 * only: the kernel then walks its table of listening sockets and not the
 * established ones. /proc/net/tcp walks every bucket of the established
 * table, whose size follows the machine's memory (3.4 ms per file on a
 * 24 GB machine with no socket at all, twice per start for tcp and tcp6),
 * so it is only the fallback, for kernels without sock_diag.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Whether a socket's source address (sock_diag's idiag_src) covers bind (0: any). */
static bool diag_covers(int family, const __be32 src[4], uint32_t bind) {
    if (family == AF_INET) {
        uint32_t ip = ntohl(src[0]);
        return bind == 0 || ip == 0 || ip == bind;
    }
    struct in6_addr a;
    memcpy(&a, src, sizeof(a));
    if (IN6_IS_ADDR_UNSPECIFIED(&a))
        return true;
    if (!IN6_IS_ADDR_V4MAPPED(&a))
        return false; /* an IPv6 address: port maps are IPv4 */
    uint32_t ip = ntohl(src[3]);
    return bind == 0 || ip == 0 || ip == bind;
}

/*
 * One sock_diag dump of family's TCP sockets in LISTEN or UDP sockets on
 * port: 1 when one covers bind, 0 when none does, -1 when the kernel cannot
 * tell (no sock_diag for it: the caller reads /proc instead).
 */
static int diag_has(int fd, int family, bool udp, uint32_t bind, uint16_t port) {
    struct {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 r;
    } req = {0};
    req.nh.nlmsg_len = sizeof(req);
    req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = (uint32_t)family;
    req.r.sdiag_family = (uint8_t)family;
    req.r.sdiag_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
    /* LISTEN only for TCP; every state for UDP (bound, connected). */
    req.r.idiag_states = udp ? ~0u : 1u << TCP_LISTEN;
    req.r.id.idiag_sport = htons(port);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -1;
    int found = 0;
    for (;;) {
        long buf[2048]; /* aligned for nlmsghdr */
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
             nh = NLMSG_NEXT(nh, n)) {
            if (nh->nlmsg_seq != (uint32_t)family)
                continue;
            if (nh->nlmsg_type == NLMSG_DONE)
                return found;
            if (nh->nlmsg_type == NLMSG_ERROR)
                return -1;
            if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                continue;
            const struct inet_diag_msg *m = NLMSG_DATA(nh);
            if (ntohs(m->id.idiag_sport) != port || (!udp && m->idiag_state != TCP_LISTEN))
                continue;
            if (diag_covers(m->idiag_family, m->id.idiag_src, bind))
                found = 1; /* read on to the end of the dump */
        }
    }
}

/* By sock_diag: 1, 0, or -1 when it is not there. */
static int diag_listening(bool udp, uint32_t bind, uint16_t port) {
    _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -1;
    int r = diag_has(fd, AF_INET, udp, bind, port);
    if (r != 0)
        return r;
    return diag_has(fd, AF_INET6, udp, bind, port);
}

bool net_port_listening(bool udp, uint32_t bind, uint16_t port) {
    int r = diag_listening(udp, bind, port);
    if (r >= 0)
        return r == 1;
    if (udp)
        return file_has("/proc/net/udp", true, bind, port) ||
               file_has("/proc/net/udp6", true, bind, port);
    return file_has("/proc/net/tcp", false, bind, port) ||
           file_has("/proc/net/tcp6", false, bind, port);
}

unsigned net_port_unprivileged_start(void) {
    struct strbuf sb = STRBUF_INIT;
    uint64_t v = 1024;
    if (strbuf_read_file(&sb, "/proc/sys/net/ipv4/ip_unprivileged_port_start", 64, NULL) == 0 &&
        sb.buf) {
        sb.buf[strcspn(sb.buf, "\n")] = '\0';
        if (parse_u64(sb.buf, 65536, &v) < 0)
            v = 1024;
    }
    strbuf_release(&sb);
    return (unsigned)v;
}
