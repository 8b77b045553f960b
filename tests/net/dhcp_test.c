/*
 * DHCP frames (net dhcp.c) without a socket: a client's requests read and
 * answered as RFC 2131 says (which type, to whom, with which options), the
 * server id chosen, leases refused; and malformed frames (every truncation,
 * lengths that lie, options that overflow, thousands of mutations) read
 * without a crash and never answered.
 */
#include <stdio.h>
#include <string.h>

#include "net/dhcp_priv.h"
#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static const uint8_t client[6] = {0x02, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e};
static const uint8_t other[6] = {0x02, 0x0a, 0x1b, 0x2c, 0x3d, 0x4f};
static const uint8_t server_mac[6] = {0x02, 0x99, 0x00, 0x00, 0x00, 0x01};

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t net_test_dhcp_frame(uint8_t *buf, const uint8_t mac[6], uint32_t xid, uint8_t type,
                           uint32_t ciaddr, uint16_t flags, const uint8_t *opts, size_t opts_len) {
    memset(buf, 0, DHCP_FRAME_MAX);
    memset(buf, 0xff, 6);
    memcpy(buf + 6, mac, 6);
    buf[12] = 0x08;
    uint8_t *ip = buf + 14, *udp = ip + 20, *b = udp + 8;
    b[0] = 1, b[1] = 1, b[2] = 6;
    put32(b + 4, xid);
    b[10] = (uint8_t)(flags >> 8), b[11] = (uint8_t)flags;
    put32(b + 12, ciaddr);
    memcpy(b + 28, mac, 6);
    const uint8_t cookie[4] = {99, 130, 83, 99};
    memcpy(b + 236, cookie, 4);
    uint8_t *o = b + 240;
    *o++ = 53, *o++ = 1, *o++ = type;
    if (opts_len)
        memcpy(o, opts, opts_len);
    o += opts_len;
    *o++ = 255;
    size_t udp_len = (size_t)(o - udp);
    udp[1] = 68, udp[3] = 67;
    udp[4] = (uint8_t)(udp_len >> 8), udp[5] = (uint8_t)udp_len;
    ip[0] = 0x45, ip[8] = 64, ip[9] = 17;
    ip[2] = (uint8_t)((20 + udp_len) >> 8), ip[3] = (uint8_t)(20 + udp_len);
    put32(ip + 12, ciaddr);
    put32(ip + 16, 0xffffffffu);
    uint16_t sum = dhcp_checksum(ip, 20, 0);
    ip[10] = (uint8_t)(sum >> 8), ip[11] = (uint8_t)sum;
    return 14 + 20 + udp_len;
}

static void lease_default(struct net_dhcpd_lease *l) {
    *l = (struct net_dhcpd_lease){.ip = IP(10, 98, 0, 66),
                                  .prefix = 24,
                                  .gateway = IP(10, 98, 0, 1),
                                  .dns = {IP(10, 98, 0, 2), IP(10, 98, 0, 3)},
                                  .lease_s = 3600};
    snprintf(l->mac, sizeof(l->mac), "02:0a:1b:2c:3d:4e");
    snprintf(l->hostname, sizeof(l->hostname), "guest-one");
    snprintf(l->domain, sizeof(l->domain), "example.test");
}

static void server_default(struct dhcp_server *s) {
    struct net_dhcpd_lease l;
    struct error err;
    lease_default(&l);
    assert_int_equal(dhcp_server_init(s, &l, server_mac, &err), 0);
}

/* The answer to frame (n bytes), parsed: its type (0: none) in the return, itself in *ret. */
static uint8_t answer(const struct dhcp_server *s, const uint8_t *frame, size_t n,
                      uint8_t out[DHCP_FRAME_MAX], struct dhcp_msg *ret) {
    struct dhcp_msg m;
    if (dhcp_parse(frame, n, &m) < 0)
        return 0;
    size_t len = dhcp_answer(s, &m, out);
    if (!len)
        return 0;
    /* Whatever the server writes reads back, with both checksums right. */
    assert_int_equal(dhcp_parse(out, len, ret), 0);
    assert_int_equal(dhcp_checksum(out + 14, 20, 0), 0);
    size_t udp_len = len - 34;
    uint32_t pseudo = (ret->ip_src >> 16) + (ret->ip_src & 0xffff) + (ret->ip_dst >> 16) +
                      (ret->ip_dst & 0xffff) + 17 + (uint32_t)udp_len;
    assert_int_equal(dhcp_checksum(out + 34, udp_len, pseudo), 0);
    assert_true(len >= 34 + 8 + 300); /* BOOTP's minimum */
    assert_int_equal(ret->op, 2);
    assert_int_equal(ret->port_src, 67);
    assert_int_equal(ret->port_dst, 68);
    assert_int_equal(ret->xid, m.xid);
    assert_memory_equal(ret->chaddr, m.chaddr, 16);
    assert_memory_equal(ret->eth_src, server_mac, 6);
    assert_int_equal(ret->server_id, s->server_id);
    assert_int_equal(ret->ip_src, s->server_id);
    return ret->type;
}

static uint32_t opt32(const struct dhcp_msg *m, uint8_t code) {
    uint8_t len = 0;
    const uint8_t *v = dhcp_option(m, code, &len);
    if (!v)
        return 0;
    assert_int_equal(len, 4);
    return get32(v);
}

static void expect_text(const struct dhcp_msg *m, uint8_t code, const char *want) {
    uint8_t len = 0;
    const uint8_t *v = dhcp_option(m, code, &len);
    assert_non_null(v);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
}

/* The codes of m's options, in order. */
static void opt_codes(const struct dhcp_msg *m, uint8_t *codes, size_t *n) {
    *n = 0;
    for (size_t i = 0; i < m->opts_len; i += 2 + m->opts[i + 1])
        codes[(*n)++] = m->opts[i];
}

static void test_dhcp_discover(void **state) {
    (void)state;
    struct dhcp_server s;
    server_default(&s);
    uint8_t f[DHCP_FRAME_MAX], out[DHCP_FRAME_MAX];
    /* It asks for DNS, then the router, then its hostname; says it has a client id. */
    const uint8_t opts[] = {55, 3, 6, 3, 12, 61, 7, 1, 2, 10, 27, 44, 61, 78, 12, 2, 'v', 'm'};
    size_t n = net_test_dhcp_frame(f, client, 0x11223344, DHCP_DISCOVER, 0, 0, opts, sizeof(opts));
    struct dhcp_msg m, r;
    assert_int_equal(dhcp_parse(f, n, &m), 0);
    assert_int_equal(m.type, DHCP_DISCOVER);
    assert_int_equal(m.xid, 0x11223344);
    assert_int_equal(m.n_params, 3);
    assert_int_equal(m.params[0], 6);
    assert_int_equal(m.client_id_len, 7);
    assert_string_equal(m.hostname, "vm");

    assert_int_equal(answer(&s, f, n, out, &r), DHCP_OFFER);
    assert_int_equal(r.yiaddr, IP(10, 98, 0, 66));
    assert_int_equal(r.ciaddr, 0);
    assert_int_equal(r.ip_dst, IP(10, 98, 0, 66)); /* unicast: no broadcast flag */
    assert_memory_equal(r.eth_dst, client, 6);
    assert_int_equal(r.server_id, IP(10, 98, 0, 1)); /* the gateway */
    assert_int_equal(opt32(&r, 51), 3600);
    assert_int_equal(opt32(&r, 58), 1800);
    assert_int_equal(opt32(&r, 59), 3150);
    assert_int_equal(opt32(&r, 1), IP(255, 255, 255, 0));
    assert_int_equal(opt32(&r, 3), IP(10, 98, 0, 1));
    assert_int_equal(opt32(&r, 28), IP(10, 98, 0, 255));
    uint8_t len;
    const uint8_t *dns = dhcp_option(&r, 6, &len);
    assert_non_null(dns);
    assert_int_equal(len, 8);
    assert_int_equal(get32(dns), IP(10, 98, 0, 2));
    assert_int_equal(get32(dns + 4), IP(10, 98, 0, 3));
    expect_text(&r, 12, "guest-one");
    expect_text(&r, 15, "example.test");
    const uint8_t *id = dhcp_option(&r, 61, &len);
    assert_non_null(id);
    assert_int_equal(len, 7);
    assert_memory_equal(id, opts + 7, 7);
    /* 53, 54, the lease's three, then what it asked for in its order, then the others. */
    uint8_t codes[32];
    size_t nc;
    opt_codes(&r, codes, &nc);
    const uint8_t want[] = {53, 54, 51, 58, 59, 6, 3, 12, 1, 15, 28, 61};
    assert_int_equal(nc, sizeof(want));
    assert_memory_equal(codes, want, sizeof(want));

    /* With the broadcast flag: to everyone. Another MAC, or chaddr apart from the frame's
     * source, or relayed: nothing. */
    n = net_test_dhcp_frame(f, client, 2, DHCP_DISCOVER, 0, DHCP_FLAG_BROADCAST, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_OFFER);
    assert_int_equal(r.ip_dst, 0xffffffffu);
    assert_int_equal(r.flags, DHCP_FLAG_BROADCAST);
    const uint8_t everyone[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(r.eth_dst, everyone, 6);
    n = net_test_dhcp_frame(f, other, 3, DHCP_DISCOVER, 0, 0, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), 0);
    n = net_test_dhcp_frame(f, client, 3, DHCP_DISCOVER, 0, 0, NULL, 0);
    memcpy(f + 6, other, 6);
    assert_int_equal(answer(&s, f, n, out, &r), 0);
    n = net_test_dhcp_frame(f, client, 3, DHCP_DISCOVER, 0, 0, NULL, 0);
    put32(f + 42 + 24, IP(10, 0, 0, 1)); /* giaddr */
    assert_int_equal(answer(&s, f, n, out, &r), 0);
    n = net_test_dhcp_frame(f, client, 3, DHCP_DISCOVER, 0, 0, NULL, 0);
    f[42] = 2; /* a server's reply */
    assert_int_equal(answer(&s, f, n, out, &r), 0);
}

static void test_dhcp_request(void **state) {
    (void)state;
    struct dhcp_server s;
    server_default(&s);
    uint8_t f[DHCP_FRAME_MAX], out[DHCP_FRAME_MAX];
    struct dhcp_msg r;
    /* Selecting, with our server id: ack; with another's: nothing (it took that offer). */
    uint8_t sel[] = {50, 4, 10, 98, 0, 66, 54, 4, 10, 98, 0, 1};
    size_t n = net_test_dhcp_frame(f, client, 7, DHCP_REQUEST, 0, 0, sel, sizeof(sel));
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_ACK);
    assert_int_equal(r.yiaddr, IP(10, 98, 0, 66));
    assert_int_equal(opt32(&r, 51), 3600);
    assert_int_equal(opt32(&r, 1), IP(255, 255, 255, 0));
    sel[11] = 9;
    n = net_test_dhcp_frame(f, client, 7, DHCP_REQUEST, 0, 0, sel, sizeof(sel));
    assert_int_equal(answer(&s, f, n, out, &r), 0);
    /* Selecting ours for another address: nak, to everyone, saying why. */
    sel[11] = 1, sel[5] = 67;
    n = net_test_dhcp_frame(f, client, 7, DHCP_REQUEST, 0, 0, sel, sizeof(sel));
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_NAK);
    assert_int_equal(r.yiaddr, 0);
    assert_int_equal(r.ip_dst, 0xffffffffu);
    assert_int_equal(opt32(&r, 51), 0);
    uint8_t len;
    assert_non_null(dhcp_option(&r, 56, &len));

    /* Init-reboot: its address acked, another naked. */
    const uint8_t reboot[] = {50, 4, 10, 98, 0, 66};
    n = net_test_dhcp_frame(f, client, 8, DHCP_REQUEST, 0, 0, reboot, sizeof(reboot));
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_ACK);
    const uint8_t wrong[] = {50, 4, 10, 98, 0, 99};
    n = net_test_dhcp_frame(f, client, 8, DHCP_REQUEST, 0, 0, wrong, sizeof(wrong));
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_NAK);
    /* No address at all: nak. */
    n = net_test_dhcp_frame(f, client, 8, DHCP_REQUEST, 0, 0, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_NAK);

    /* Renewing (ciaddr, unicast): acked to ciaddr, which the ack carries; another ciaddr:
     * nak, even with the broadcast flag unset. */
    n = net_test_dhcp_frame(f, client, 9, DHCP_REQUEST, IP(10, 98, 0, 66), 0, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_ACK);
    assert_int_equal(r.ciaddr, IP(10, 98, 0, 66));
    assert_int_equal(r.ip_dst, IP(10, 98, 0, 66));
    assert_memory_equal(r.eth_dst, client, 6);
    n = net_test_dhcp_frame(f, client, 9, DHCP_REQUEST, IP(10, 98, 0, 70), 0, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_NAK);
    assert_int_equal(r.ip_dst, 0xffffffffu);

    /* Inform: an ack to ciaddr with the configuration and no lease. */
    const uint8_t params[] = {55, 2, 3, 6};
    n = net_test_dhcp_frame(f, client, 10, DHCP_INFORM, IP(10, 98, 0, 66), 0, params,
                            sizeof(params));
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_ACK);
    assert_int_equal(r.yiaddr, 0);
    assert_int_equal(r.ip_dst, IP(10, 98, 0, 66));
    assert_null(dhcp_option(&r, 51, &len));
    assert_null(dhcp_option(&r, 58, &len));
    assert_int_equal(opt32(&r, 3), IP(10, 98, 0, 1));
    n = net_test_dhcp_frame(f, client, 10, DHCP_INFORM, 0, 0, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), 0);

    /* Release, decline, a server's types, an unknown type, no type: nothing. */
    const uint8_t types[] = {DHCP_RELEASE, DHCP_DECLINE, DHCP_OFFER, DHCP_ACK, DHCP_NAK, 0, 200};
    for (size_t i = 0; i < sizeof(types); i++) {
        n = net_test_dhcp_frame(f, client, 11, types[i], IP(10, 98, 0, 66), 0, sel, sizeof(sel));
        assert_int_equal(answer(&s, f, n, out, &r), 0);
    }
}

static void test_dhcp_server_id(void **state) {
    (void)state;
    struct net_dhcpd_lease l;
    struct dhcp_server s;
    struct error err;
    lease_default(&l);
    l.gateway = 0;
    l.ip = IP(10, 98, 0, 66);
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), 0);
    assert_int_equal(s.server_id, IP(10, 98, 0, 1));
    l.ip = IP(10, 98, 0, 1);
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), 0);
    assert_int_equal(s.server_id, IP(10, 98, 0, 2));
    l.prefix = 31;
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), 0);
    assert_int_equal(s.server_id, IP(10, 98, 0, 0));
    l.prefix = 32;
    l.lease_s = 0;
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), 0);
    assert_int_equal(s.server_id, IP(10, 98, 0, 0));
    assert_int_equal(s.lease.lease_s, 86400); /* a day */

    /* With a /32 there is no broadcast address to give. */
    uint8_t f[DHCP_FRAME_MAX], out[DHCP_FRAME_MAX];
    struct dhcp_msg r;
    size_t n = net_test_dhcp_frame(f, client, 1, DHCP_DISCOVER, 0, 0, NULL, 0);
    assert_int_equal(answer(&s, f, n, out, &r), DHCP_OFFER);
    assert_int_equal(opt32(&r, 1), 0xffffffffu);
    assert_int_equal(opt32(&r, 28), 0);
    assert_int_equal(opt32(&r, 51), 86400);
}

static void test_dhcp_lease_refused(void **state) {
    (void)state;
    struct net_dhcpd_lease l;
    struct dhcp_server s;
    struct error err;
    const char *macs[] = {"",
                          "02:0a:1b:2c:3d",
                          " 2:0a:1b:2c:3d:4e",
                          "02:0a:1b:2c:3d:+e",
                          "02-0a-1b-2c-3d-4e",
                          "02:0a:1b:2c:3d:zz",
                          "01:00:5e:00:00:01"};
    for (size_t i = 0; i < ARRAY_SIZE(macs); i++) {
        lease_default(&l);
        snprintf(l.mac, sizeof(l.mac), "%s", macs[i]);
        assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "MAC"));
    }
    lease_default(&l);
    memset(l.mac, '0', sizeof(l.mac)); /* no end */
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
    lease_default(&l);
    l.ip = 0;
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
    lease_default(&l);
    l.prefix = 33;
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
    lease_default(&l);
    l.gateway = l.ip;
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "10.98.0.66"));
    lease_default(&l);
    memset(l.hostname, 'a', sizeof(l.hostname)); /* no end */
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
    lease_default(&l);
    snprintf(l.domain, sizeof(l.domain), "a\nb");
    assert_int_equal(dhcp_server_init(&s, &l, server_mac, &err), -EINVAL);
}

/* frame (n bytes) is refused by the parser, and so gets no answer. */
static void expect_refused(const struct dhcp_server *s, const uint8_t *frame, size_t n,
                           const char *what) {
    struct dhcp_msg m;
    uint8_t out[DHCP_FRAME_MAX];
    if (dhcp_parse(frame, n, &m) != -EBADMSG)
        fail_msg("a frame with %s was read", what);
    struct dhcp_msg r;
    assert_int_equal(answer(s, frame, n, out, &r), 0);
}

static void ip_checksum(uint8_t *f) {
    f[24] = f[25] = 0;
    uint16_t sum = dhcp_checksum(f + 14, 20, 0);
    f[24] = (uint8_t)(sum >> 8), f[25] = (uint8_t)sum;
}

static void test_dhcp_malformed(void **state) {
    (void)state;
    struct dhcp_server s;
    server_default(&s);
    uint8_t good[DHCP_FRAME_MAX], f[DHCP_FRAME_MAX];
    const uint8_t opts[] = {50, 4, 10, 98, 0, 66, 12, 3, 'a', 'b', 'c'};
    size_t n = net_test_dhcp_frame(good, client, 5, DHCP_DISCOVER, 0, 0, opts, sizeof(opts));
    struct dhcp_msg r;
    uint8_t out[DHCP_FRAME_MAX];
    assert_int_equal(answer(&s, good, n, out, &r), DHCP_OFFER);

    /* Every truncation: the IP length then says more than the frame has. */
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1); /* exactly len bytes: ASan sees any read past */
        memcpy(cut, good, len);
        expect_refused(&s, cut, len, "a cut");
        free(cut);
    }

    /* Each with the IP header's checksum made right again, but the one about it. */
#define MUTATE(what, ...)                                                                          \
    do {                                                                                           \
        memcpy(f, good, n);                                                                        \
        __VA_ARGS__;                                                                               \
        if (strcmp(what, "a bad IP checksum") != 0)                                                \
            ip_checksum(f);                                                                        \
        expect_refused(&s, f, n, what);                                                            \
    } while (0)
    uint8_t *ip = f + 14, *udp = f + 34, *b = f + 42;
    size_t opt0 = 42 + 240; /* 53 1 1, then opts */
    MUTATE("a VLAN tag", f[12] = 0x81, f[13] = 0x00);
    MUTATE("IPv6", ip[0] = 0x65);
    MUTATE("a header length under 20", ip[0] = 0x44);
    MUTATE("a header length past the frame", ip[0] = 0x4f, ip[2] = 0, ip[3] = 60);
    MUTATE("an IP length past the frame", ip[2] = 0x05, ip[3] = 0xdd);
    MUTATE("an IP length under the headers", ip[2] = 0, ip[3] = 27);
    MUTATE("a bad IP checksum", ip[10] ^= 1);
    MUTATE("a fragment", ip[6] = 0x20);
    MUTATE("TCP", ip[9] = 6);
    MUTATE("another port", udp[3] = 53);
    MUTATE("a UDP length past the IP payload", udp[4] = 0x05);
    MUTATE("a UDP length under BOOTP's", udp[4] = 0, udp[5] = 8 + 239);
    MUTATE("no magic cookie", b[236] = 0);
    MUTATE("an option running past the end", f[opt0 + 3 + 7] = 200);
    MUTATE("a type of two bytes", f[opt0 + 1] = 2);
    MUTATE("a requested address of three bytes", f[opt0 + 4] = 3);
    /* An option whose length byte is the last byte of the message, and no end. */
    memcpy(f, good, n);
    f[n - 1] = 61;
    expect_refused(&s, f, n, "a length cut off");
#undef MUTATE
    /* Within the UDP length but the frame padded longer: read (a short frame's padding). */
    memcpy(f, good, n);
    memset(f + n, 0, 20);
    assert_int_equal(answer(&s, f, n + 20, out, &r), DHCP_OFFER);

    /* Thousands of random mutations (a fixed seed): never a crash, and an answer only when
     * the frame read as a request of this client (answer checks what it writes). */
    uint32_t seed = 12345;
    for (int i = 0; i < 20000; i++) {
        memcpy(f, good, n);
        int flips = 1 + i % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            f[at] = (uint8_t)(seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        size_t len = i % 8 == 0 ? (seed >> 8) % (n + 1) : n;
        uint8_t *g = malloc(len ? len : 1);
        memcpy(g, f, len);
        struct dhcp_msg m;
        if (answer(&s, g, len, out, &r)) {
            assert_int_equal(dhcp_parse(g, len, &m), 0);
            assert_memory_equal(m.chaddr, client, 6);
        }
        free(g);
    }
}

const struct CMUnitTest net_dhcp_tests[] = {
    cmocka_unit_test(test_dhcp_discover),  cmocka_unit_test(test_dhcp_request),
    cmocka_unit_test(test_dhcp_server_id), cmocka_unit_test(test_dhcp_lease_refused),
    cmocka_unit_test(test_dhcp_malformed),
};
const size_t net_dhcp_tests_n = ARRAY_SIZE(net_dhcp_tests);
