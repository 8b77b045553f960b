/* The bridge, taps and subnets (net link.c, subnet.c), in the test's own network namespace. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

#define BRIDGE "hearth0"

static bool link_up(const char *name) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
    close(fd);
    return ifr.ifr_flags & IFF_UP;
}

/* The IPv4 addresses of name, as "a.b.c.d/prefix" joined by spaces. */
static void link_addrs(const char *name, char *buf, size_t size) {
    struct ifaddrs *ifa;
    assert_int_equal(getifaddrs(&ifa), 0);
    buf[0] = '\0';
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, name) != 0)
            continue;
        struct sockaddr_in a, m;
        memcpy(&a, i->ifa_addr, sizeof(a));
        memcpy(&m, i->ifa_netmask, sizeof(m));
        char ip[NET_IP_MAX];
        net_ip_format(ntohl(a.sin_addr.s_addr), ip);
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s/%d", len ? " " : "", ip,
                 __builtin_popcount(m.sin_addr.s_addr));
    }
    freeifaddrs(ifa);
}

static void sysctl_expect(const char *path, char want) {
    char c = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, &c, 1), 1);
    close(fd);
    assert_int_equal(c, want);
}

static void test_bridge_ensure(void **state) {
    (void)state;
    struct net_subnet s;
    struct error err;
    assert_int_equal(net_subnet_parse("10.61.0.0/16", &s, &err), 0);
    assert_false(net_link_exists(BRIDGE));
    for (int i = 0; i < 2; i++) { /* the second changes nothing */
        error_init(&err);
        assert_int_equal(net_bridge_ensure(BRIDGE, &s, &err), 0);
        assert_true(net_link_exists(BRIDGE));
        char addrs[256];
        link_addrs(BRIDGE, addrs, sizeof(addrs));
        assert_string_equal(addrs, "10.61.0.1/16");
        assert_true(link_up(BRIDGE));
    }
    sysctl_expect("/proc/sys/net/ipv4/ip_forward", '1');
    sysctl_expect("/proc/sys/net/ipv4/conf/" BRIDGE "/route_localnet", '1');

    /* A link of that name that is no bridge is refused and left alone. */
    assert_int_equal(net_bridge_ensure("lo", &s, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "'lo'"));
    char addrs[256];
    link_addrs("lo", addrs, sizeof(addrs));
    assert_string_equal(addrs, "127.0.0.1/8");
    assert_int_equal(net_bridge_delete("lo", &err), -EINVAL);
    assert_true(net_link_exists("lo"));
    assert_int_equal(net_bridge_ensure("a/b", &s, &err), -EINVAL);

    assert_int_equal(net_bridge_delete(BRIDGE, &err), 0);
    assert_false(net_link_exists(BRIDGE));
    assert_int_equal(net_bridge_delete(BRIDGE, &err), 0); /* gone already */
}

static bool tap_listed(const char *name) {
    char **v;
    size_t n;
    struct error err;
    assert_int_equal(net_tap_list(&v, &n, &err), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        char prefix[13];
        assert_true(net_tap_name_parse(v[i], prefix)); /* only hearth's taps */
        found |= strcmp(v[i], name) == 0;
    }
    net_names_free(v, n);
    return found;
}

static void test_tap_lifecycle(void **state) {
    (void)state;
    struct net_subnet s;
    struct error err;
    assert_int_equal(net_subnet_parse("10.61.0.0/16", &s, &err), 0);
    assert_int_equal(net_bridge_ensure(BRIDGE, &s, &err), 0);
    char tap[IFNAMSIZ], master[IFNAMSIZ];
    net_tap_name_of("00112233445566ff", tap);
    assert_false(tap_listed(tap));
    assert_int_equal(net_link_master(tap, master, &err), -ENODEV);
    assert_non_null(strstr(err.msg, tap));
    for (int i = 0; i < 2; i++) {
        error_init(&err);
        assert_int_equal(net_tap_create(tap, BRIDGE, 1000, &err), 0);
        assert_true(net_link_exists(tap));
        assert_int_equal(net_link_master(tap, master, &err), 0);
        assert_string_equal(master, BRIDGE);
        assert_true(link_up(tap));
        assert_true(tap_listed(tap));
    }
    assert_int_equal(net_link_master(BRIDGE, master, &err), 0);
    assert_string_equal(master, "");
    /* The tap is a persistent tap of this owner: its owner may attach to it. */
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    /* Held open, as by a running VMM: deleting it is refused, naming it. */
    assert_int_equal(net_tap_delete(tap, &err), -EBUSY);
    assert_non_null(strstr(err.msg, tap));
    close(fd);
    assert_true(net_link_exists(tap));

    /* Not a tap: refused. */
    assert_int_equal(net_tap_create(BRIDGE, BRIDGE, 0, &err), -EEXIST);
    assert_int_equal(net_tap_delete(BRIDGE, &err), -EINVAL);
    assert_true(net_link_exists(BRIDGE));

    assert_int_equal(net_tap_delete(tap, &err), 0);
    assert_false(net_link_exists(tap));
    assert_false(tap_listed(tap));
    assert_int_equal(net_tap_delete(tap, &err), 0); /* gone already */
    assert_false(net_link_exists(tap));             /* and not made again */
    assert_int_equal(net_bridge_delete(BRIDGE, &err), 0);
}

static void test_subnet_in_use_and_pick(void **state) {
    (void)state;
    struct net_subnet s, other, picked;
    struct error err;
    char why[128] = "";
    assert_int_equal(net_subnet_parse("10.61.0.0/16", &s, &err), 0);
    assert_false(net_subnet_in_use(&s, NULL, why, sizeof(why)));
    assert_int_equal(net_subnet_pick(&picked, &err), 0);
    assert_int_equal(picked.addr, s.addr);
    assert_int_equal(picked.prefix, 16);

    assert_int_equal(net_bridge_ensure(BRIDGE, &s, &err), 0);
    assert_true(net_subnet_in_use(&s, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "'" BRIDGE "'"));
    assert_false(net_subnet_in_use(&s, BRIDGE, NULL, 0)); /* its own bridge does not count */
    const char *overlapping[] = {"10.61.5.0/24", "10.0.0.0/8", "10.61.255.248/29"};
    for (size_t i = 0; i < ARRAY_SIZE(overlapping); i++) {
        assert_int_equal(net_subnet_parse(overlapping[i], &other, &err), 0);
        assert_true(net_subnet_in_use(&other, NULL, NULL, 0));
    }
    assert_int_equal(net_subnet_parse("10.62.0.0/16", &other, &err), 0);
    assert_false(net_subnet_in_use(&other, NULL, NULL, 0));
    assert_int_equal(net_subnet_parse("127.0.0.0/16", &other, &err), 0);
    assert_true(net_subnet_in_use(&other, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "'lo'"));

    assert_int_equal(net_subnet_pick(&picked, &err), 0);
    assert_int_equal(picked.addr, 0x0a3e0000u); /* 10.62.0.0/16 */
    assert_int_equal(net_bridge_delete(BRIDGE, &err), 0);
    assert_false(net_subnet_in_use(&s, NULL, NULL, 0));
}

const struct CMUnitTest net_link_tests[] = {
    cmocka_unit_test(test_bridge_ensure),
    cmocka_unit_test(test_tap_lifecycle),
    cmocka_unit_test(test_subnet_in_use_and_pick),
};
const size_t net_link_tests_n = ARRAY_SIZE(net_link_tests);
