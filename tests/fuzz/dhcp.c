/*
 * Fuzz target: a frame as a VM's DHCP server reads it off the guest's tap
 * (src/net/dhcp.c, through dhcp_priv.h): parsed, and answered for a fixed
 * lease whose client has the seeds' MAC. What is read has its options
 * within the frame; what is answered reads back as a reply to that
 * request (its xid and chaddr, port 67 to 68, from the server's id), with
 * both checksums right, of a type the request allows, offering only the
 * lease's address.
 */
#include "fuzz.h"
#include "net/dhcp_priv.h"

static const uint8_t server_mac[6] = {0x02, 0x99, 0, 0, 0, 1};

static uint16_t get16(const uint8_t *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct net_dhcpd_lease l = {.ip = 0x0a620042, /* 10.98.0.66/24 */
                                .prefix = 24,
                                .gateway = 0x0a620001,
                                .dns = {0x0a620002},
                                .hostname = "guest",
                                .domain = "example.test"};
    snprintf(l.mac, sizeof(l.mac), "02:0a:1b:2c:3d:4e");
    struct dhcp_server s;
    fuzz_check(dhcp_server_init(&s, &l, server_mac, NULL) == 0, "the lease is refused");

    /* An exact copy: ASan sees any read past the input. */
    uint8_t *frame = malloc(size ? size : 1);
    fuzz_check(frame, "out of memory");
    memcpy(frame, data, size);
    struct dhcp_msg m;
    if (dhcp_parse(frame, size, &m) < 0) {
        free(frame);
        return 0;
    }
    fuzz_check(m.opts >= frame && m.opts + m.opts_len <= frame + size, "options outside");
    for (unsigned code = 1; code < 255; code++) {
        uint8_t len;
        const uint8_t *v = dhcp_option(&m, (uint8_t)code, &len);
        fuzz_check(!v || (v >= m.opts && v + len <= m.opts + m.opts_len), "option %u outside",
                   code);
    }

    uint8_t out[DHCP_FRAME_MAX];
    size_t n = dhcp_answer(&s, &m, out);
    if (n) {
        struct dhcp_msg r;
        fuzz_check(n <= DHCP_FRAME_MAX && dhcp_parse(out, n, &r) == 0, "the answer does not read");
        fuzz_check(r.op == 2 && r.xid == m.xid && r.port_src == 67 && r.port_dst == 68 &&
                       memcmp(r.chaddr, m.chaddr, 16) == 0 && r.ip_src == s.server_id &&
                       r.server_id == s.server_id,
                   "the answer is not a reply to the request");
        fuzz_check(memcmp(m.chaddr, s.client_mac, 6) == 0, "another client answered");
        uint32_t pseudo = (r.ip_src >> 16) + (r.ip_src & 0xffff) + (r.ip_dst >> 16) +
                          (r.ip_dst & 0xffff) + 17 + get16(out + 38);
        fuzz_check(dhcp_checksum(out + 14, 20, 0) == 0 &&
                       dhcp_checksum(out + 34, n - 34, pseudo) == 0,
                   "a checksum is wrong");
        bool allowed = (m.type == DHCP_DISCOVER && r.type == DHCP_OFFER) ||
                       (m.type == DHCP_REQUEST && (r.type == DHCP_ACK || r.type == DHCP_NAK)) ||
                       (m.type == DHCP_INFORM && r.type == DHCP_ACK);
        fuzz_check(allowed, "type %u answered with %u", m.type, r.type);
        fuzz_check(r.yiaddr == 0 || r.yiaddr == l.ip, "offered %08x", r.yiaddr);
    }
    free(frame);
    return 0;
}
