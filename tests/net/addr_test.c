/* Subnets and addresses as text, MACs and tap names (net addr.c). */
#include <string.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

static void test_subnet_parse_format(void **state) {
    (void)state;
    struct net_subnet s;
    struct error err;
    assert_int_equal(net_subnet_parse("10.61.0.0/16", &s, &err), 0);
    assert_int_equal(s.addr, 0x0a3d0000u);
    assert_int_equal(s.prefix, 16);
    char buf[NET_SUBNET_MAX];
    net_subnet_format(&s, buf);
    assert_string_equal(buf, "10.61.0.0/16");
    assert_int_equal(net_subnet_mask(&s), 0xffff0000u);
    assert_int_equal(net_subnet_gateway(&s), 0x0a3d0001u);
    assert_int_equal(net_subnet_last(&s), 0x0a3dfffeu);
    assert_true(net_subnet_contains(&s, 0x0a3d1234u));
    assert_false(net_subnet_contains(&s, 0x0a3e0001u));
    assert_int_equal(net_subnet_parse("192.168.7.248/29", &s, &err), 0);
    assert_int_equal(net_subnet_last(&s), 0xc0a807feu);

    char ip[NET_IP_MAX];
    uint32_t a;
    assert_int_equal(net_ip_parse("255.255.255.255", &a, &err), 0);
    net_ip_format(a, ip);
    assert_string_equal(ip, "255.255.255.255");
}

static void test_subnet_errors(void **state) {
    (void)state;
    struct net_subnet s = {.addr = 7, .prefix = 9};
    struct error err;
    const char *bad[] = {"10.61.0.0",
                         "10.61.0.0/",
                         "10.61.0.0/7",
                         "10.61.0.0/31",
                         "10.61.0.1/16",
                         "10.61.0/16",
                         "x/16",
                         "10.61.0.0/16x",
                         "10.61.0.0/-16",
                         "10.61.0.0.0/8",
                         "",
                         "1.2.3.4.5.6.7.8.9/8"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        error_init(&err);
        assert_int_equal(net_subnet_parse(bad[i], &s, &err), -EINVAL);
        assert_non_null(strstr(err.msg, bad[i]));
    }
    assert_int_equal(net_subnet_parse(NULL, &s, &err), -EINVAL);
    assert_int_equal(s.addr, 7); /* untouched */
    assert_int_equal(net_subnet_parse("10.61.0.1/16", &s, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "host bits"));
    uint32_t a = 9;
    assert_int_equal(net_ip_parse("10.0.0.256", &a, &err), -EINVAL);
    assert_int_equal(a, 9);
}

static void test_mac_and_tap_names(void **state) {
    (void)state;
    char mac[NET_MAC_MAX];
    net_mac_of("0123456789abcdef", mac);
    assert_string_equal(mac, "02:01:23:45:67:89");
    char tap[IFNAMSIZ];
    net_tap_name_of("0123456789abcdef", tap);
    assert_string_equal(tap, "hth0123456789ab");
    char prefix[13];
    assert_true(net_tap_name_parse(tap, prefix));
    assert_string_equal(prefix, "0123456789ab");
    assert_false(net_tap_name_parse("hth0123456789a", prefix));   /* short */
    assert_false(net_tap_name_parse("hth0123456789abc", prefix)); /* long */
    assert_false(net_tap_name_parse("hth0123456789AB", prefix));  /* upper case */
    assert_false(net_tap_name_parse("tap0123456789ab", prefix));  /* prefix */
    assert_false(net_tap_name_parse("hearth0", prefix));
}

const struct CMUnitTest net_addr_tests[] = {
    cmocka_unit_test(test_subnet_parse_format),
    cmocka_unit_test(test_subnet_errors),
    cmocka_unit_test(test_mac_and_tap_names),
};
const size_t net_addr_tests_n = ARRAY_SIZE(net_addr_tests);
