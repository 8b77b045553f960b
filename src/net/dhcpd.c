/*
 * net dhcpd: the one-guest DHCP server a VM's monitor runs in the VM's
 * network namespace (net.h), on an AF_PACKET socket bound to the guest's
 * link. The socket takes every protocol (ETH_P_ALL): such sockets see a
 * frame as it arrives, before the link's ingress filters, so the server
 * sees the guest's requests although tc.c's redirect steals every frame
 * from the namespace's stack; a socket of ETH_P_IP would see none. A
 * classic BPF filter lets only IPv4 UDP to port 67 through, so the rest of
 * the guest's traffic never wakes the monitor. Frames are read and written
 * whole (dhcp.c), and the replies go out of the same link, to the guest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/dhcp_priv.h"
#include "net/net.h"

#define READS_MAX 64 /* frames one net_dhcpd_handle takes before it lets the caller poll again */

struct net_dhcpd {
    int fd;
    int ifindex;
    struct dhcp_server server;
};

/* IPv4, no fragment, UDP, destination port 67: the whole frame; anything else: nothing. */
static const struct sock_filter dhcp_filter[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),                 /* ethertype */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 7),    /* IPv4, else drop */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 9),             /* the IP protocol */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 5), /* UDP, else drop */
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 14 + 6),             /* flags and fragment offset */
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 3, 0),     /* a later fragment: drop */
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14),                /* X: the IP header's length */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 14 + 2),             /* the UDP destination port */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 67, 1, 0),          /* the server's port: keep */
    BPF_STMT(BPF_RET | BPF_K, 0),                           /* drop */
    BPF_STMT(BPF_RET | BPF_K, DHCP_FRAME_MAX),              /* keep */
};

/* The link's MAC as bytes. */
static int link_mac(const char *ifname, uint8_t ret[6], struct error *err) {
    char mac[NET_MAC_MAX];
    int r = net_link_mac(ifname, mac, err);
    if (r < 0)
        return r;
    for (int i = 0; i < 6; i++)
        ret[i] = (uint8_t)strtoul(mac + 3 * i, NULL, 16); /* net_link_mac's own format */
    return 0;
}

int net_dhcpd_open(const char *ifname, const struct net_dhcpd_lease *l, net_dhcpd **ret,
                   struct error *err) {
    uint8_t mac[6];
    int r = link_mac(ifname, mac, err);
    if (r < 0)
        return r;
    _cleanup_free_ net_dhcpd *d = xcalloc(1, sizeof(*d));
    if (!d)
        return error_oom(err);
    r = dhcp_server_init(&d->server, l, mac, err);
    if (r < 0)
        return r;
    d->ifindex = (int)if_nametoindex(ifname);
    if (!d->ifindex)
        return error_set(err, -errno, "link '%s': %s", ifname, strerror(errno));
    /* Protocol 0 takes no frame until bind names one: none arrives before the filter is on. */
    _cleanup_close_ int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set(err, -errno, "dhcp server on link '%s': cannot open a packet socket: %s",
                         ifname, strerror(errno));
    struct sock_fprog prog = {.len = ARRAY_SIZE(dhcp_filter),
                              .filter = (struct sock_filter *)dhcp_filter};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
        return error_set(err, -errno, "dhcp server on link '%s': SO_ATTACH_FILTER: %s", ifname,
                         strerror(errno));
    int one = 1; /* its own replies are not read back (kernels before 4.20: pkttype says so) */
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = d->ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        return error_set(err, -errno, "dhcp server on link '%s': cannot bind: %s", ifname,
                         strerror(errno));
    d->fd = fd;
    fd = -1;
    *ret = steal_ptr(&d);
    return 0;
}

int net_dhcpd_fd(const net_dhcpd *d) {
    return d->fd;
}

void net_dhcpd_handle(net_dhcpd *d) {
    uint8_t in[DHCP_FRAME_MAX], out[DHCP_FRAME_MAX];
    for (int i = 0; i < READS_MAX; i++) {
        struct sockaddr_ll from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(d->fd, in, sizeof(in), MSG_TRUNC, (struct sockaddr *)&from, &from_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: all read; anything else: the next poll tells again */
        if ((size_t)n > sizeof(in) || from.sll_pkttype == PACKET_OUTGOING)
            continue; /* cut short by the buffer: no DHCP message is that long */
        struct dhcp_msg m;
        if (dhcp_parse(in, (size_t)n, &m) < 0)
            continue;
        size_t len = dhcp_answer(&d->server, &m, out);
        if (!len)
            continue;
        struct sockaddr_ll to = {.sll_family = AF_PACKET,
                                 .sll_protocol = htons(ETH_P_IP),
                                 .sll_ifindex = d->ifindex,
                                 .sll_halen = 6};
        memcpy(to.sll_addr, out, 6);
        (void)sendto(d->fd, out, len, 0, (struct sockaddr *)&to, sizeof(to));
    }
}

void net_dhcpd_close(net_dhcpd *d) {
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}
