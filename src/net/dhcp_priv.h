/*
 * net dhcp: DHCPv4 frames as the server of dhcpd.c reads and writes them
 * (dhcp.c), apart from the socket so that tests and the fuzz target can
 * hand it any bytes. Internal to src/net.
 */
#ifndef HEARTH_NET_DHCP_PRIV_H
#define HEARTH_NET_DHCP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

#define DHCP_FRAME_MAX 1514 /* an Ethernet frame without its FCS: what is read and written */

/* Message types (option 53). */
enum {
    DHCP_DISCOVER = 1,
    DHCP_OFFER,
    DHCP_REQUEST,
    DHCP_DECLINE,
    DHCP_ACK,
    DHCP_NAK,
    DHCP_RELEASE,
    DHCP_INFORM,
};

/*
 * A BOOTP/DHCP message in an Ethernet + IPv4 + UDP frame, as read (either
 * way: a client's request or a server's reply). Addresses in host byte
 * order; opts points into the frame, valid while it is.
 */
struct dhcp_msg {
    uint8_t eth_dst[6], eth_src[6];
    uint32_t ip_src, ip_dst;
    uint16_t port_src, port_dst;
    uint8_t op, htype, hlen;
    uint32_t xid;
    uint16_t flags; /* DHCP_FLAG_BROADCAST */
    uint32_t ciaddr, yiaddr, siaddr, giaddr;
    uint8_t chaddr[16];
    const uint8_t *opts; /* the options after the magic cookie, up to and without 255 (end) */
    size_t opts_len;
    /* Options read from opts (0 or empty when absent) */
    uint8_t type;                          /* 53 */
    uint32_t requested;                    /* 50 */
    uint32_t server_id;                    /* 54 */
    uint8_t params[255], n_params;         /* 55: the options asked for, in order */
    uint8_t client_id[255], client_id_len; /* 61 */
    char hostname[256];                    /* 12, up to its first NUL */
};
#define DHCP_FLAG_BROADCAST 0x8000

/*
 * Reads frame (n bytes): an IPv4 frame (no VLAN tag) that is no fragment,
 * with a valid header checksum, carrying UDP to port 67 or 68 (its checksum
 * is not looked at: a guest's may be left to offload), holding a BOOTP
 * message with the DHCP magic cookie and well-formed options: every length
 * within the frame and the IP and UDP lengths, and 50, 53 and 54 of their
 * fixed sizes. 0, or -EBADMSG for anything else.
 */
int dhcp_parse(const uint8_t *frame, size_t n, struct dhcp_msg *ret);
/* Option code's value in m (its length in *ret_len), NULL when m has none. */
const uint8_t *dhcp_option(const struct dhcp_msg *m, uint8_t code, uint8_t *ret_len);

/* What a server answers with: one lease, from one address. */
struct dhcp_server {
    struct net_dhcpd_lease lease; /* lease_s set (0 given: a day) */
    uint8_t client_mac[6];        /* lease.mac */
    uint8_t server_mac[6];        /* the link's: the source of replies */
    uint32_t server_id;           /* the source address of replies (net.h says which) */
};

/* s for lease l, speaking from server_mac; a lease that makes no sense: -EINVAL naming it. */
int dhcp_server_init(struct dhcp_server *s, const struct net_dhcpd_lease *l,
                     const uint8_t server_mac[6], struct error *err) WUR;
/*
 * The frame that answers m (net.h says which and how) in out; its length,
 * 0 when m gets no answer.
 */
size_t dhcp_answer(const struct dhcp_server *s, const struct dhcp_msg *m,
                   uint8_t out[DHCP_FRAME_MAX]);

/* The Internet checksum of len bytes, from sum (a partial one, host order). */
uint16_t dhcp_checksum(const void *data, size_t len, uint32_t sum);

#endif
