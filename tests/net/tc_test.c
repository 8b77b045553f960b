/*
 * tc redirects (net tc.c) in the test's namespace: two veth pairs joined
 * end to end, which a ping from a namespace of its own crosses only with
 * the redirect; a tap whose frames, written and read as a VMM does, cross
 * to a veth and back; the filters as `tc` lists them, the same after a
 * second call, replaced when the target changes.
 */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

static void veth_add(const char *a, const char *b) {
    const char *add[] = {"ip", "link", "add", a, "type", "veth", "peer", "name", b, NULL};
    net_test_run(add);
    const char *up_a[] = {"ip", "link", "set", a, "up", NULL};
    net_test_run(up_a);
    const char *up_b[] = {"ip", "link", "set", b, "up", NULL};
    net_test_run(up_b);
}

static void addr_add(const char *link, const char *cidr) {
    const char *argv[] = {"ip", "addr", "add", cidr, "dev", link, NULL};
    net_test_run(argv);
}

static void link_del(const char *link) {
    const char *argv[] = {"ip", "link", "del", link, NULL};
    net_test_run(argv);
}

/* `tc filter show dev link ingress`, as text. */
static void filters_of(const char *link, char *buf, size_t size) {
    struct error err;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    const char *argv[] = {"tc", "filter", "show", "dev", link, "ingress", NULL};
    struct exec_opts o = {.out = &out};
    if (exec_run(argv, &o, &err) < 0)
        fail_msg("%s", err.msg);
    snprintf(buf, size, "%s", out.buf ? out.buf : "");
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* link's ingress has one filter, a u32 one that redirects to to's egress. */
static void expect_redirect(const char *link, const char *to) {
    char text[4096], want[64];
    filters_of(link, text, sizeof(text));
    snprintf(want, sizeof(want), "mirred (Egress Redirect to device %s) stolen", to);
    if (!strstr(text, " u32 ") || !strstr(text, want) || count(text, "mirred") != 1)
        fail_msg("the ingress filters of %s are not one redirect to %s:\n%s", link, to, text);
}

static void wait_gone(const char *link) {
    for (int i = 0; i < 1000 && net_link_exists(link); i++)
        sleep_ms(10);
    assert_false(net_link_exists(link));
}

static void need_tc_programs(void) {
    test_need_program("tc", "iproute2");
    test_need_program("ip", "iproute2");
}

#define PING_SCRIPT                                                                                \
    "busybox ip addr add 10.99.0.1/24 dev htta0 && busybox ip link set htta0 up && "               \
    "busybox ping -c 1 -W %d 10.99.0.2"

static void test_tc_veths(void **state) {
    (void)state;
    struct error err;
    char out[4096], script[256];
    need_tc_programs();
    veth_add("httb0", "httb1");
    addr_add("httb1", "10.99.0.2/24");

    /* htta1 and httb0 up side by side, not joined: no answer. */
    veth_add("htta0", "htta1");
    snprintf(script, sizeof(script), PING_SCRIPT, 1);
    int status = net_test_ns_sh("htta0", script, out, sizeof(out));
    if (status == 0)
        fail_msg("a ping crossed links that are not joined:\n%s", out);
    wait_gone("htta1"); /* with the namespace of htta0 */

    veth_add("htta0", "htta1");
    for (int i = 0; i < 2; i++) { /* the second finds it done */
        error_init(&err);
        if (net_tc_redirect("htta1", "httb0", &err) < 0)
            fail_msg("%s", err.msg);
        expect_redirect("htta1", "httb0");
        expect_redirect("httb0", "htta1");
    }
    snprintf(script, sizeof(script), PING_SCRIPT, 10);
    status = net_test_ns_sh("htta0", script, out, sizeof(out));
    if (status != 0 || !strstr(out, "1 packets received"))
        fail_msg("no ping through the redirect (status %d):\n%s", status, out);
    wait_gone("htta1");
    link_del("httb0");
}

/* An ARP request for ip from mac/sender, as a guest writes it into its tap. */
static size_t arp_request(uint8_t *f, const uint8_t mac[6], const uint8_t sender[4],
                          const uint8_t target[4]) {
    memset(f, 0, 42);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;                    /* ARP */
    f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4; /* Ethernet, IPv4 */
    f[21] = 1;                                     /* request */
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, sender, 4);
    memcpy(f + 38, target, 4);
    return 42;
}

/* Reads the tap until an ARP reply from ip arrives; its sender MAC as text in mac. */
static void arp_reply_wait(int fd, const uint8_t ip[4], const uint8_t to[6],
                           char mac[NET_MAC_MAX]) {
    uint8_t f[2048];
    for (int64_t end = time_now_ms() + 10000; time_now_ms() < end;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, f, sizeof(f));
        if (n < 42 || f[12] != 0x08 || f[13] != 0x06 || f[21] != 2 || memcmp(f + 28, ip, 4))
            continue; /* IPv6 router solicitations and the like */
        assert_memory_equal(f, to, 6);
        snprintf(mac, NET_MAC_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", f[22], f[23], f[24], f[25],
                 f[26], f[27]);
        return;
    }
    fail_msg("no ARP reply came back through the tap");
}

static void test_tc_tap(void **state) {
    (void)state;
    struct error err;
    need_tc_programs();
    /* The tap, held open here as a VMM holds it, with a clsact qdisc already on it. */
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "httt0");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    const char *up[] = {"ip", "link", "set", "httt0", "up", NULL};
    net_test_run(up);
    const char *clsact[] = {"tc", "qdisc", "add", "dev", "httt0", "clsact", NULL};
    net_test_run(clsact);
    veth_add("httc0", "httc1");
    addr_add("httc1", "10.99.1.2/24");
    if (net_tc_redirect("httt0", "httc0", &err) < 0)
        fail_msg("%s", err.msg);
    expect_redirect("httt0", "httc0");
    expect_redirect("httc0", "httt0");

    /* The guest asks who has 10.99.1.2: httc1 answers, through httc0 and the tap. */
    char want[NET_MAC_MAX], got[NET_MAC_MAX];
    assert_int_equal(net_link_mac("httc1", want, &err), 0);
    const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01}, me[4] = {10, 99, 1, 1},
                  peer[4] = {10, 99, 1, 2};
    uint8_t f[64];
    size_t n = arp_request(f, mac, me, peer);
    assert_int_equal(write(fd, f, n), (ssize_t)n);
    arp_reply_wait(fd, peer, mac, got);
    assert_string_equal(got, want);

    /* Another target: the tap's filter is replaced, not doubled. */
    veth_add("httd0", "httd1");
    assert_int_equal(net_tc_redirect("httt0", "httd0", &err), 0);
    expect_redirect("httt0", "httd0");
    expect_redirect("httd0", "httt0");

    assert_int_equal(net_tc_redirect("nosuch0", "httt0", &err), -ENODEV);
    assert_non_null(strstr(err.msg, "'nosuch0'"));
    assert_int_equal(net_tc_redirect("httt0", "httt0", &err), -EINVAL);
    assert_int_equal(net_tc_redirect("httt0", "", &err), -EINVAL);
    assert_int_equal(net_link_mac("lo", got, &err), -EINVAL);
    assert_int_equal(net_link_mac("nosuch0", got, &err), -ENODEV);
    assert_non_null(strstr(err.msg, "'nosuch0'"));
    char tapmac[NET_MAC_MAX];
    assert_int_equal(net_link_mac("httt0", tapmac, &err), 0);
    assert_int_equal(strlen(tapmac), 17);

    close(fd); /* the tap goes with it */
    wait_gone("httt0");
    link_del("httc0");
    link_del("httd0");
}

const struct CMUnitTest net_tc_tests[] = {
    cmocka_unit_test(test_tc_veths),
    cmocka_unit_test(test_tc_tap),
};
const size_t net_tc_tests_n = ARRAY_SIZE(net_tc_tests);
