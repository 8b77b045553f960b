/*
 * net dhcp: DHCPv4 (RFC 2131, 2132) frames for the one-guest server of
 * dhcpd.c: reading a client's request out of an Ethernet frame, and
 * writing the answer as a whole frame (Ethernet, IPv4 and UDP headers
 * made here, as the server's AF_PACKET socket sends them). Pure functions
 * over bytes: every length is checked against the frame before it is used.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/dhcp_priv.h"

#define ETH_HLEN 14
#define IP_HLEN 20
#define UDP_HLEN 8
#define BOOTP_FIXED 236 /* op .. file, before the magic cookie */
#define BOOTP_OPTS (BOOTP_FIXED + 4)
#define BOOTP_MIN 300 /* the size of a BOOTP message older clients expect at least */
#define SERVER_PORT 67
#define CLIENT_PORT 68
#define LEASE_DEFAULT_S 86400

static const uint8_t cookie[4] = {99, 130, 83, 99};

enum {
    OPT_PAD = 0,
    OPT_MASK = 1,
    OPT_ROUTER = 3,
    OPT_DNS = 6,
    OPT_HOSTNAME = 12,
    OPT_DOMAIN = 15,
    OPT_BROADCAST = 28,
    OPT_REQUESTED = 50,
    OPT_LEASE = 51,
    OPT_TYPE = 53,
    OPT_SERVER_ID = 54,
    OPT_PARAMS = 55,
    OPT_MESSAGE = 56,
    OPT_RENEW = 58,
    OPT_REBIND = 59,
    OPT_CLIENT_ID = 61,
    OPT_END = 255,
};

static uint16_t get16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

uint16_t dhcp_checksum(const void *data, size_t len, uint32_t sum) {
    const uint8_t *p = data;
    for (; len > 1; p += 2, len -= 2)
        sum += get16(p);
    if (len)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Reads the options (len bytes at p, the end option and what follows it excluded) into m. */
static int options_parse(const uint8_t *p, size_t len, struct dhcp_msg *m) {
    size_t i = 0;
    while (i < len) {
        uint8_t code = p[i];
        if (code == OPT_PAD) {
            i++;
            continue;
        }
        if (code == OPT_END)
            break;
        if (i + 2 > len || i + 2 + p[i + 1] > len)
            return -EBADMSG; /* a length that runs past the message */
        uint8_t n = p[i + 1];
        const uint8_t *v = p + i + 2;
        switch (code) {
        case OPT_TYPE:
            if (n != 1)
                return -EBADMSG;
            m->type = v[0];
            break;
        case OPT_REQUESTED:
        case OPT_SERVER_ID:
            if (n != 4)
                return -EBADMSG;
            *(code == OPT_REQUESTED ? &m->requested : &m->server_id) = get32(v);
            break;
        case OPT_PARAMS:
            memcpy(m->params, v, n);
            m->n_params = n;
            break;
        case OPT_CLIENT_ID:
            memcpy(m->client_id, v, n);
            m->client_id_len = n;
            break;
        case OPT_HOSTNAME:
            memcpy(m->hostname, v, n);
            m->hostname[n] = '\0';
            break;
        default:
            break;
        }
        i += 2 + (size_t)n;
    }
    m->opts_len = i;
    return 0;
}

int dhcp_parse(const uint8_t *frame, size_t n, struct dhcp_msg *ret) {
    if (n < ETH_HLEN + IP_HLEN || get16(frame + 12) != 0x0800)
        return -EBADMSG;
    const uint8_t *ip = frame + ETH_HLEN;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4, ip_len = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < IP_HLEN || ip_len < ihl + UDP_HLEN || ip_len > n - ETH_HLEN)
        return -EBADMSG;
    if ((get16(ip + 6) & 0x3fff) != 0 || ip[9] != 17) /* a fragment (MF or an offset), not UDP */
        return -EBADMSG;
    if (dhcp_checksum(ip, ihl, 0) != 0)
        return -EBADMSG;
    const uint8_t *udp = ip + ihl;
    size_t udp_len = get16(udp + 4);
    if (udp_len < UDP_HLEN + BOOTP_OPTS || udp_len > ip_len - ihl)
        return -EBADMSG;
    uint16_t dport = get16(udp + 2);
    if (dport != SERVER_PORT && dport != CLIENT_PORT)
        return -EBADMSG;
    const uint8_t *b = udp + UDP_HLEN;
    size_t b_len = udp_len - UDP_HLEN;
    if (memcmp(b + BOOTP_FIXED, cookie, sizeof(cookie)) != 0)
        return -EBADMSG;

    struct dhcp_msg msg = {0}, *m = &msg;
    memcpy(m->eth_dst, frame, 6);
    memcpy(m->eth_src, frame + 6, 6);
    m->ip_src = get32(ip + 12);
    m->ip_dst = get32(ip + 16);
    m->port_src = get16(udp);
    m->port_dst = dport;
    m->op = b[0];
    m->htype = b[1];
    m->hlen = b[2];
    m->xid = get32(b + 4);
    m->flags = get16(b + 10);
    m->ciaddr = get32(b + 12);
    m->yiaddr = get32(b + 16);
    m->siaddr = get32(b + 20);
    m->giaddr = get32(b + 24);
    memcpy(m->chaddr, b + 28, sizeof(m->chaddr));
    m->opts = b + BOOTP_OPTS;
    int r = options_parse(m->opts, b_len - BOOTP_OPTS, m);
    if (r < 0)
        return r;
    *ret = msg;
    return 0;
}

const uint8_t *dhcp_option(const struct dhcp_msg *m, uint8_t code, uint8_t *ret_len) {
    const uint8_t *p = m->opts;
    for (size_t i = 0; i + 2 <= m->opts_len;) {
        if (p[i] == OPT_PAD) {
            i++;
            continue;
        }
        if (p[i] == code) {
            *ret_len = p[i + 1];
            return p + i + 2;
        }
        i += 2 + (size_t)p[i + 1];
    }
    return NULL;
}

static int mac_parse(const char *s, uint8_t ret[6]) {
    if (strnlen(s, NET_MAC_MAX) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        unsigned v;
        char sep = i < 5 ? ':' : '\0';
        if (sscanf(s + 3 * i, "%2x", &v) != 1 || s[3 * i + 2] != sep ||
            !strchr("0123456789abcdefABCDEF", s[3 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[3 * i + 1]))
            return -EINVAL;
        ret[i] = (uint8_t)v;
    }
    return 0;
}

/* Whether the text field f (size bytes) ends within it and holds no control character. */
static bool text_ok(const char *f, size_t size) {
    size_t n = strnlen(f, size);
    if (n == size)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f)
            return false;
    return true;
}

int dhcp_server_init(struct dhcp_server *s, const struct net_dhcpd_lease *l,
                     const uint8_t server_mac[6], struct error *err) {
    char ip[NET_IP_MAX];
    net_ip_format(l->ip, ip);
    struct dhcp_server n = {.lease = *l};
    if (mac_parse(l->mac, n.client_mac) < 0 || (n.client_mac[0] & 1))
        return error_set(err, -EINVAL, "dhcp lease: '%.*s' is not a unicast MAC address",
                         (int)strnlen(l->mac, sizeof(l->mac)), l->mac);
    if (l->ip == 0 || l->ip == 0xffffffffu || l->prefix < 1 || l->prefix > 32)
        return error_set(err, -EINVAL, "dhcp lease: %s/%u is not an address to give a guest", ip,
                         (unsigned)l->prefix);
    if (l->gateway == l->ip)
        return error_set(err, -EINVAL, "dhcp lease: the gateway is the guest's own address %s", ip);
    if (!text_ok(l->hostname, sizeof(l->hostname)) || !text_ok(l->domain, sizeof(l->domain)))
        return error_set(err, -EINVAL, "dhcp lease of %s: the hostname or domain is not text", ip);
    if (!n.lease.lease_s)
        n.lease.lease_s = LEASE_DEFAULT_S;
    memcpy(n.server_mac, server_mac, 6);
    uint32_t mask = l->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> l->prefix);
    if (l->gateway)
        n.server_id = l->gateway;
    else if (l->prefix <= 30)
        n.server_id = (l->ip & mask) + 1 == l->ip ? (l->ip & mask) + 2 : (l->ip & mask) + 1;
    else
        n.server_id = l->ip ^ 1;
    *s = n;
    return 0;
}

/* Options written into a reply: bounded by the frame (a bug otherwise: the sizes are fixed). */
struct opts_out {
    uint8_t *p;
    size_t n, size;
};

static void opt_put(struct opts_out *o, uint8_t code, const void *v, size_t len) {
    assert(len <= 255 && o->n + 2 + len <= o->size);
    o->p[o->n] = code;
    o->p[o->n + 1] = (uint8_t)len;
    if (len)
        memcpy(o->p + o->n + 2, v, len);
    o->n += 2 + len;
}

static void opt_put32(struct opts_out *o, uint8_t code, uint32_t v) {
    uint8_t b[4];
    put32(b, v);
    opt_put(o, code, b, 4);
}

/* One of the configuration options (params_std) for the lease, when it has it. */
static void opt_param(struct opts_out *o, const struct net_dhcpd_lease *l, uint8_t code) {
    uint32_t mask = l->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> l->prefix);
    switch (code) {
    case OPT_MASK:
        opt_put32(o, code, mask);
        break;
    case OPT_ROUTER:
        if (l->gateway)
            opt_put32(o, code, l->gateway);
        break;
    case OPT_DNS: {
        uint8_t b[12];
        size_t n = 0;
        for (size_t i = 0; i < ARRAY_SIZE(l->dns) && l->dns[i]; i++, n += 4)
            put32(b + n, l->dns[i]);
        if (n)
            opt_put(o, code, b, n);
        break;
    }
    case OPT_HOSTNAME:
    case OPT_DOMAIN: {
        const char *s = code == OPT_HOSTNAME ? l->hostname : l->domain;
        if (*s)
            opt_put(o, code, s, strlen(s));
        break;
    }
    case OPT_BROADCAST:
        if (l->prefix <= 30)
            opt_put32(o, code, l->ip | ~mask);
        break;
    default:
        break;
    }
}

static const uint8_t params_std[] = {OPT_MASK,     OPT_ROUTER, OPT_DNS,
                                     OPT_HOSTNAME, OPT_DOMAIN, OPT_BROADCAST};

/* The configuration: those the client asked for first, in its order, then the others. */
static void opt_params(struct opts_out *o, const struct net_dhcpd_lease *l,
                       const struct dhcp_msg *m) {
    bool done[256] = {false};
    for (size_t i = 0; i < m->n_params; i++) {
        uint8_t c = m->params[i];
        if (!done[c] && memchr(params_std, c, sizeof(params_std))) {
            opt_param(o, l, c);
            done[c] = true;
        }
    }
    for (size_t i = 0; i < sizeof(params_std); i++)
        if (!done[params_std[i]])
            opt_param(o, l, params_std[i]);
}

/* The reply's type and yiaddr for m, or 0 when m gets none. */
static uint8_t reply_type(const struct dhcp_server *s, const struct dhcp_msg *m,
                          uint32_t *ret_yiaddr) {
    *ret_yiaddr = 0;
    if (m->op != 1 || m->port_dst != SERVER_PORT || m->htype != 1 || m->hlen != 6 || m->giaddr)
        return 0;
    if (memcmp(m->chaddr, s->client_mac, 6) != 0 || memcmp(m->eth_src, s->client_mac, 6) != 0)
        return 0;
    switch (m->type) {
    case DHCP_DISCOVER:
        *ret_yiaddr = s->lease.ip;
        return DHCP_OFFER;
    case DHCP_REQUEST:
        if (m->server_id && m->server_id != s->server_id)
            return 0; /* the client took another server's offer */
        if ((m->requested ? m->requested : m->ciaddr) != s->lease.ip)
            return DHCP_NAK; /* selecting, init-reboot, renewing or rebinding, for another */
        *ret_yiaddr = s->lease.ip;
        return DHCP_ACK;
    case DHCP_INFORM:
        return m->ciaddr ? DHCP_ACK : 0;
    default: /* DECLINE, RELEASE: nothing to say; a server's own types: not for a server */
        return 0;
    }
}

size_t dhcp_answer(const struct dhcp_server *s, const struct dhcp_msg *m,
                   uint8_t out[DHCP_FRAME_MAX]) {
    uint32_t yiaddr;
    uint8_t type = reply_type(s, m, &yiaddr);
    if (!type)
        return 0;
    memset(out, 0, DHCP_FRAME_MAX);
    uint8_t *ip = out + ETH_HLEN, *udp = ip + IP_HLEN, *b = udp + UDP_HLEN;

    b[0] = 2; /* BOOTREPLY */
    b[1] = 1;
    b[2] = 6;
    put32(b + 4, m->xid);
    put16(b + 10, m->flags);
    if (type == DHCP_ACK)
        put32(b + 12, m->ciaddr);
    put32(b + 16, yiaddr);
    memcpy(b + 28, m->chaddr, sizeof(m->chaddr));
    memcpy(b + BOOTP_FIXED, cookie, sizeof(cookie));
    struct opts_out o = {b + BOOTP_OPTS, 0,
                         DHCP_FRAME_MAX - ETH_HLEN - IP_HLEN - UDP_HLEN - BOOTP_OPTS - 1};
    opt_put(&o, OPT_TYPE, &type, 1);
    opt_put32(&o, OPT_SERVER_ID, s->server_id);
    if (type == DHCP_NAK) {
        static const char msg[] = "the requested address is not this client's";
        opt_put(&o, OPT_MESSAGE, msg, sizeof(msg) - 1);
    } else {
        if (yiaddr) { /* not to an INFORM */
            opt_put32(&o, OPT_LEASE, s->lease.lease_s);
            opt_put32(&o, OPT_RENEW, s->lease.lease_s / 2);
            opt_put32(&o, OPT_REBIND, (uint32_t)((uint64_t)s->lease.lease_s * 7 / 8));
        }
        opt_params(&o, &s->lease, m);
    }
    if (m->client_id_len) /* echoed (RFC 6842) */
        opt_put(&o, OPT_CLIENT_ID, m->client_id, m->client_id_len);
    o.p[o.n++] = OPT_END;
    size_t b_len = BOOTP_OPTS + o.n < BOOTP_MIN ? BOOTP_MIN : BOOTP_OPTS + o.n;

    /* Where it goes (RFC 2131 4.1): a NAK to everyone; to ciaddr when the client has it; to
     * everyone when the client cannot take unicast before it has its address; else to yiaddr. */
    static const uint8_t everyone[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    bool bcast = type == DHCP_NAK || (!m->ciaddr && (m->flags & DHCP_FLAG_BROADCAST));
    uint32_t dst = bcast ? 0xffffffffu : m->ciaddr ? m->ciaddr : yiaddr;
    memcpy(out, bcast ? everyone : m->chaddr, 6);
    memcpy(out + 6, s->server_mac, 6);
    put16(out + 12, 0x0800);

    size_t udp_len = UDP_HLEN + b_len;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(IP_HLEN + udp_len));
    ip[8] = 64; /* TTL */
    ip[9] = 17; /* UDP */
    put32(ip + 12, s->server_id);
    put32(ip + 16, dst);
    put16(ip + 10, dhcp_checksum(ip, IP_HLEN, 0));

    put16(udp, SERVER_PORT);
    put16(udp + 2, CLIENT_PORT);
    put16(udp + 4, (uint16_t)udp_len);
    uint32_t pseudo = (s->server_id >> 16) + (s->server_id & 0xffff) + (dst >> 16) +
                      (dst & 0xffff) + 17 + (uint32_t)udp_len;
    uint16_t sum = dhcp_checksum(udp, udp_len, pseudo);
    put16(udp + 6, sum ? sum : 0xffff);
    return ETH_HLEN + IP_HLEN + udp_len;
}
