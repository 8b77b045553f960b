/*
 * The DHCP server (net dhcpd.c) on one end of a veth, in the test's
 * namespace: busybox udhcpc in a namespace of its own on the other end gets
 * the lease and everything with it (as its script sees it), also when it
 * asks for another address; a client of another MAC gets nothing. Then
 * frames made here, sent from the other end: a nak for a wrong address,
 * nothing for what needs no answer or is malformed (the reply that comes
 * is the one to a request sent after them), and nothing but DHCP reaches
 * the server's socket.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/dhcp_priv.h"
#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define SERVER_LINK "hthd0"
#define CLIENT_LINK "hthd1"
#define MAC "02:0a:1b:2c:3d:4e"

static const uint8_t client[6] = {0x02, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e};

static void lease_default(struct net_dhcpd_lease *l) {
    *l = (struct net_dhcpd_lease){.ip = IP(10, 98, 0, 66),
                                  .prefix = 24,
                                  .gateway = IP(10, 98, 0, 1),
                                  .dns = {IP(10, 98, 0, 2), IP(10, 98, 0, 3)},
                                  .lease_s = 3600};
    snprintf(l->mac, sizeof(l->mac), MAC);
    snprintf(l->hostname, sizeof(l->hostname), "guest-one");
    snprintf(l->domain, sizeof(l->domain), "example.test");
}

/*
 * SERVER_LINK, the guest's tap as the server sees it, with its peer
 * CLIENT_LINK; and, as in a VM's namespace, SERVER_LINK joined by tc.c's
 * redirect to UPLINK (the CNI plugin's eth0): every frame the client sends
 * is stolen to UPLINK, and the server must see it all the same.
 */
#define UPLINK "hthe0"

static void veth_add(void) {
    const char *add[] = {"ip",   "link", "add",  SERVER_LINK, "type",
                         "veth", "peer", "name", CLIENT_LINK, NULL};
    net_test_run(add);
    const char *up[] = {"ip", "link", "set", SERVER_LINK, "up", NULL};
    net_test_run(up);
    const char *add_up[] = {"ip",   "link", "add",  UPLINK,  "type",
                            "veth", "peer", "name", "hthe1", NULL};
    net_test_run(add_up);
    const char *up0[] = {"ip", "link", "set", UPLINK, "up", NULL};
    net_test_run(up0);
    const char *up1[] = {"ip", "link", "set", "hthe1", "up", NULL};
    net_test_run(up1);
    struct error err;
    if (net_tc_redirect(SERVER_LINK, UPLINK, &err) < 0)
        fail_msg("%s", err.msg);
}

/* The links gone; wait: CLIENT_LINK's namespace is ending, and SERVER_LINK goes with it. */
static void veth_gone(bool wait) {
    for (int i = 0; wait && i < 1000 && net_link_exists(SERVER_LINK); i++)
        sleep_ms(10);
    if (net_link_exists(SERVER_LINK)) {
        const char *del[] = {"ip", "link", "del", SERVER_LINK, NULL};
        net_test_run(del);
    }
    const char *del[] = {"ip", "link", "del", UPLINK, NULL};
    net_test_run(del);
}

/* The server on SERVER_LINK, answering in a thread of its own until stopped. */
struct server {
    net_dhcpd *d;
    int stop[2];
    pthread_t thread;
};

static void *serve(void *arg) {
    struct server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = net_dhcpd_fd(s->d), .events = POLLIN},
                              {.fd = s->stop[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            return NULL;
        if (p[0].revents)
            net_dhcpd_handle(s->d);
    }
}

static void server_start(struct server *s, const struct net_dhcpd_lease *l) {
    struct error err;
    if (net_dhcpd_open(SERVER_LINK, l, &s->d, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(pipe(s->stop), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s) {
    assert_int_equal(write(s->stop[1], "x", 1), 1);
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    close(s->stop[0]);
    close(s->stop[1]);
    net_dhcpd_close(s->d);
}

/*
 * udhcpc with mac (and args) in a namespace of its own on CLIENT_LINK, tries
 * times, against a server of l. What its script saw in out ("bound ip=...",
 * "nak ..."); its status returned.
 */
static int udhcpc(const struct net_dhcpd_lease *l, const char *mac, const char *args, int tries,
                  char *out, size_t size) {
    test_need_program("busybox", "busybox-static");
    char script[] = "/tmp/hearth-udhcpc-XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    const char text[] =
        "#!/bin/sh\n"
        "[ \"$1\" = bound ] && echo \"bound ip=$ip subnet=$subnet router=$router dns=$dns "
        "hostname=$hostname domain=$domain lease=$lease serverid=$serverid "
        "broadcast=$broadcast\"\n"
        "[ \"$1\" = nak ] && echo \"nak $message\"\n"
        "exit 0\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    assert_int_equal(fchmod(fd, 0700), 0);
    close(fd);
    veth_add();
    struct server s;
    server_start(&s, l);
    _cleanup_free_ char *sh = xasprintf(
        "busybox ip link set " CLIENT_LINK " address %s && busybox ip link set " CLIENT_LINK
        " up && exec busybox udhcpc -i " CLIENT_LINK " -f -q -n -t %d -T 1 -s %s %s",
        mac, tries, script, args);
    int status = net_test_ns_sh(CLIENT_LINK, sh, out, size);
    server_stop(&s);
    unlink(script);
    veth_gone(true);
    return status;
}

static void test_dhcpd_udhcpc(void **state) {
    (void)state;
    struct net_dhcpd_lease l;
    lease_default(&l);
    char out[4096];
    const char *want = "bound ip=10.98.0.66 subnet=255.255.255.0 router=10.98.0.1 "
                       "dns=10.98.0.2 10.98.0.3 hostname=guest-one domain=example.test "
                       "lease=3600 serverid=10.98.0.1 broadcast=10.98.0.255\n";
    int status = udhcpc(&l, MAC, "", 10, out, sizeof(out));
    if (status != 0 || !strstr(out, want))
        fail_msg("udhcpc (status %d) did not get the lease:\n%s", status, out);

    /* It asks for another address: it is offered its own, and takes it. */
    status = udhcpc(&l, MAC, "-r 10.98.0.99", 10, out, sizeof(out));
    if (status != 0 || !strstr(out, "bound ip=10.98.0.66 "))
        fail_msg("udhcpc -r (status %d) did not get 10.98.0.66:\n%s", status, out);

    /* Without a gateway, DNS, names: only the address and its mask; the server is .1. */
    struct net_dhcpd_lease bare = {.ip = IP(10, 98, 0, 67), .prefix = 16};
    snprintf(bare.mac, sizeof(bare.mac), MAC);
    status = udhcpc(&bare, MAC, "", 10, out, sizeof(out));
    if (status != 0 || !strstr(out, "bound ip=10.98.0.67 subnet=255.255.0.0 router= dns= "
                                    "hostname= domain= lease=86400 serverid=10.98.0.1 "))
        fail_msg("udhcpc (status %d) did not get the bare lease:\n%s", status, out);

    /* Another MAC: no answer at all. */
    status = udhcpc(&l, "02:0a:1b:2c:3d:4f", "", 2, out, sizeof(out));
    if (status == 0 || strstr(out, "bound") || strstr(out, "nak"))
        fail_msg("udhcpc of another MAC (status %d) got an answer:\n%s", status, out);
}

/* A packet socket on CLIENT_LINK: the client's end of the frames test. */
static int client_socket(void) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    assert_true(fd >= 0);
    int one = 1;
    assert_int_equal(setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)), 0);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                              .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex(CLIENT_LINK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
    return fd;
}

static void frame_send(int fd, const uint8_t *f, size_t n) {
    assert_int_equal(send(fd, f, n, 0), (ssize_t)n);
}

/* Serves (in this thread) until a DHCP reply reaches the client; it in *ret. */
static void reply_wait(net_dhcpd *d, int fd, struct dhcp_msg *ret, uint8_t *buf) {
    for (int64_t end = time_now_ms() + 10000; time_now_ms() < end;) {
        struct pollfd p[2] = {{.fd = net_dhcpd_fd(d), .events = POLLIN},
                              {.fd = fd, .events = POLLIN}};
        if (poll(p, 2, 100) <= 0)
            continue;
        if (p[0].revents)
            net_dhcpd_handle(d);
        if (!p[1].revents)
            continue;
        ssize_t n = recv(fd, buf, DHCP_FRAME_MAX, 0);
        if (n > 0 && dhcp_parse(buf, (size_t)n, ret) == 0 && ret->port_dst == 68)
            return;
    }
    fail_msg("no DHCP reply reached the client");
}

static void test_dhcpd_frames(void **state) {
    (void)state;
    struct error err;
    struct net_dhcpd_lease l;
    lease_default(&l);
    veth_add();
    const char *up[] = {"ip", "link", "set", CLIENT_LINK, "address", MAC, "up", NULL};
    net_test_run(up);
    net_dhcpd *d;
    if (net_dhcpd_open(SERVER_LINK, &l, &d, &err) < 0)
        fail_msg("%s", err.msg);
    int fd = client_socket();
    uint8_t f[DHCP_FRAME_MAX], in[DHCP_FRAME_MAX];
    struct dhcp_msg r;
    size_t n = net_test_dhcp_frame(f, client, 1, DHCP_DISCOVER, 0, 0, NULL, 0);
    frame_send(fd, f, n);
    reply_wait(d, fd, &r, in);
    assert_int_equal(r.xid, 1);
    assert_int_equal(r.type, DHCP_OFFER);
    assert_int_equal(r.yiaddr, IP(10, 98, 0, 66));
    char mac[NET_MAC_MAX], src[NET_MAC_MAX];
    assert_int_equal(net_link_mac(SERVER_LINK, mac, &err), 0);
    snprintf(src, sizeof(src), "%02x:%02x:%02x:%02x:%02x:%02x", r.eth_src[0], r.eth_src[1],
             r.eth_src[2], r.eth_src[3], r.eth_src[4], r.eth_src[5]);
    assert_string_equal(src, mac); /* from the link's MAC */

    /* Init-reboot for an address that is not its own: nak. */
    const uint8_t wrong[] = {50, 4, 10, 98, 0, 99};
    n = net_test_dhcp_frame(f, client, 2, DHCP_REQUEST, 0, 0, wrong, sizeof(wrong));
    frame_send(fd, f, n);
    reply_wait(d, fd, &r, in);
    assert_int_equal(r.xid, 2);
    assert_int_equal(r.type, DHCP_NAK);

    /* What gets no answer, then a request that does: its answer is the first to come. */
    const uint8_t other_server[] = {50, 4, 10, 98, 0, 66, 54, 4, 10, 98, 0, 9};
    n = net_test_dhcp_frame(f, client, 3, DHCP_REQUEST, 0, 0, other_server, sizeof(other_server));
    frame_send(fd, f, n);
    const uint8_t other[6] = {0x02, 0x0a, 0x1b, 0x2c, 0x3d, 0x4f};
    n = net_test_dhcp_frame(f, other, 4, DHCP_DISCOVER, 0, 0, NULL, 0);
    frame_send(fd, f, n);
    n = net_test_dhcp_frame(f, client, 5, DHCP_RELEASE, IP(10, 98, 0, 66), 0, NULL, 0);
    frame_send(fd, f, n);
    n = net_test_dhcp_frame(f, client, 6, DHCP_DISCOVER, 0, 0, NULL, 0);
    frame_send(fd, f, 100); /* cut */
    frame_send(fd, f, n - 1);
    const uint8_t overflow[] = {12, 200, 'x'};
    n = net_test_dhcp_frame(f, client, 7, DHCP_DISCOVER, 0, 0, overflow, sizeof(overflow));
    frame_send(fd, f, n);
    const uint8_t reboot[] = {50, 4, 10, 98, 0, 66};
    n = net_test_dhcp_frame(f, client, 8, DHCP_REQUEST, 0, 0, reboot, sizeof(reboot));
    frame_send(fd, f, n);
    reply_wait(d, fd, &r, in);
    assert_int_equal(r.xid, 8);
    assert_int_equal(r.type, DHCP_ACK);
    assert_int_equal(r.yiaddr, IP(10, 98, 0, 66));

    /* Renewing, unicast to the server id at another MAC (the gateway's, as the guest's ARP
     * finds it): the socket sees it all the same, and acks to ciaddr. */
    n = net_test_dhcp_frame(f, client, 11, DHCP_REQUEST, IP(10, 98, 0, 66), 0, NULL, 0);
    const uint8_t gateway_mac[6] = {0x02, 0x42, 0, 0, 0, 0x01};
    memcpy(f, gateway_mac, 6);
    const uint8_t to[4] = {10, 98, 0, 1};
    memcpy(f + 14 + 16, to, 4);
    f[14 + 10] = f[14 + 11] = 0;
    uint16_t sum = dhcp_checksum(f + 14, 20, 0);
    f[14 + 10] = (uint8_t)(sum >> 8), f[14 + 11] = (uint8_t)sum;
    frame_send(fd, f, n);
    reply_wait(d, fd, &r, in);
    assert_int_equal(r.xid, 11);
    assert_int_equal(r.type, DHCP_ACK);
    assert_int_equal(r.ip_dst, IP(10, 98, 0, 66));
    assert_memory_equal(r.eth_dst, client, 6);

    /* Nothing but IPv4 UDP to port 67 reaches the server's socket: an ARP frame, UDP to port
     * 53, and a DHCP frame in a TCP packet go before a request, which is the first there. */
    uint8_t junk[64] = {0};
    memset(junk, 0xff, 6);
    memcpy(junk + 6, client, 6);
    junk[12] = 0x08, junk[13] = 0x06;
    frame_send(fd, junk, 60);
    n = net_test_dhcp_frame(f, client, 9, DHCP_DISCOVER, 0, 0, NULL, 0);
    f[14 + 20 + 3] = 53;
    frame_send(fd, f, n);
    f[14 + 20 + 3] = 67;
    f[14 + 9] = 6;
    frame_send(fd, f, n);
    n = net_test_dhcp_frame(f, client, 10, DHCP_DISCOVER, 0, 0, NULL, 0);
    frame_send(fd, f, n);
    struct pollfd p = {.fd = net_dhcpd_fd(d), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    ssize_t got = recv(net_dhcpd_fd(d), in, sizeof(in), 0);
    struct dhcp_msg m;
    assert_int_equal(dhcp_parse(in, (size_t)got, &m), 0);
    assert_int_equal(m.xid, 10);

    net_dhcpd_close(d);
    close(fd);
    veth_gone(false);

    /* A link that is not there, a lease that makes no sense: refused, naming them. */
    assert_int_equal(net_dhcpd_open("nosuch0", &l, &d, &err), -ENODEV);
    assert_non_null(strstr(err.msg, "'nosuch0'"));
    l.prefix = 0;
    veth_add();
    assert_int_equal(net_dhcpd_open(SERVER_LINK, &l, &d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "10.98.0.66"));
    net_dhcpd_close(NULL);
    veth_gone(false);
}

const struct CMUnitTest net_dhcpd_tests[] = {
    cmocka_unit_test(test_dhcpd_udhcpc),
    cmocka_unit_test(test_dhcpd_frames),
};
const size_t net_dhcpd_tests_n = ARRAY_SIZE(net_dhcpd_tests);
