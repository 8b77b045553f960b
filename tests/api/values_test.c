/*
 * Tests for the value grammars: sizes (parse, JSON form, human form), port
 * mappings, DNS-1123 names and OCI references. Table-driven: each row is an
 * input and what must come out, good and bad.
 */
#include <errno.h>
#include <string.h>

#include "api/api_priv.h"
#include "api_test.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)
#define PiB (1ull << 50)
#define EiB (1ull << 60)

static void test_size_parse_good(void **state) {
    (void)state;
    static const struct {
        const char *in;
        uint64_t want;
    } rows[] = {
        {"0", 0},
        {"1", 1},
        {"1024", 1024},
        {"1B", 1},
        {"100 b", 100},
        {"512MB", 512 * MiB},
        {"512mb", 512 * MiB},
        {"512 MB", 512 * MiB},
        {"512M", 512 * MiB},
        {"512MiB", 512 * MiB},
        {"512mib", 512 * MiB},
        {"4GB", 4 * GiB},
        {"4G", 4 * GiB},
        {"4g", 4 * GiB},
        {"4GiB", 4 * GiB},
        {"4.5GB", 4831838208ull},
        {"4.50GB", 4831838208ull},
        {"2048MB", 2 * GiB},
        {"64KB", 64 * KiB},
        {"64k", 64 * KiB},
        {"1KiB", KiB},
        {"1.5K", 1536},
        {"0.5KB", 512},
        {"1TB", TiB},
        {"2PiB", 2 * PiB},
        {"15EB", 15 * EiB},
        {"0.25EB", EiB / 4},
        {"1MB ", MiB},
        {"18446744073709551615", UINT64_MAX},
        {"0000000000000000000000001KB", KiB},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        uint64_t v = 12345;
        int r = api_size_parse(rows[i].in, &v);
        if (r != 0 || v != rows[i].want)
            fail_msg("\"%s\": r=%d v=%llu, want %llu", rows[i].in, r, (unsigned long long)v,
                     (unsigned long long)rows[i].want);
    }
}

static void test_size_parse_bad(void **state) {
    (void)state;
    static const struct {
        const char *in;
        int want;
    } rows[] = {
        {"", -EINVAL},
        {"MB", -EINVAL},
        {"-1", -EINVAL},
        {"-1MB", -EINVAL},
        {"12XB", -EINVAL},
        {"1.5", -EINVAL},   /* a fraction of a byte */
        {"0.5B", -EINVAL},  /* likewise */
        {"1.3KB", -EINVAL}, /* 1331.2 bytes */
        {"1.B", -EINVAL},
        {".5G", -EINVAL},
        {"1e3", -EINVAL},
        {" 1MB", -EINVAL},
        {"1MB extra", -EINVAL},
        {"1 K B", -EINVAL},
        {"0x10", -EINVAL},
        {"1,000", -EINVAL},
        {"+5MB", -EINVAL},
        {"5MBB", -EINVAL},
        {"5 bytes", -EINVAL},
        {"0.0000000000000000001KB", -EINVAL},
        {"1234567890123456789012345678901234567890123456789012345678901234567890MB", -EINVAL},
        {"18446744073709551616", -ERANGE},
        {"16EB", -ERANGE},
        {"17179869184GB", -ERANGE},
        {"99999999999999999999GB", -ERANGE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        uint64_t v = 12345;
        int r = api_size_parse(rows[i].in, &v);
        if (r != rows[i].want || v != 12345)
            fail_msg("\"%s\": r=%d v=%llu, want error %d and no output", rows[i].in, r,
                     (unsigned long long)v, rows[i].want);
    }
}

static void test_size_format(void **state) {
    (void)state;
    static const struct {
        uint64_t in;
        const char *json, *human;
    } rows[] = {
        {0, "0B", "0 B"},
        {1, "1B", "1 B"},
        {100, "100B", "100 B"},
        {1023, "1023B", "1023 B"},
        {1024, "1KB", "1.0 KB"},
        {1536, "1536B", "1.5 KB"},
        {64 * KiB, "64KB", "64.0 KB"},
        {512 * MiB, "512MB", "512.0 MB"},
        {GiB, "1GB", "1.0 GB"},
        {4 * GiB, "4GB", "4.0 GB"},
        {4608 * MiB, "4608MB", "4.5 GB"},
        {100 * GiB, "100GB", "100.0 GB"},
        {3 * TiB, "3TB", "3.0 TB"},
        {5 * PiB, "5PB", "5.0 PB"},
        {15 * EiB, "15EB", "15.0 EB"},
        {UINT64_MAX, "18446744073709551615B", "16.0 EB"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        char buf[32];
        api_size_format(rows[i].in, buf, sizeof(buf));
        assert_string_equal(buf, rows[i].json);
        uint64_t back;
        assert_int_equal(api_size_parse(buf, &back), 0);
        assert_true(back == rows[i].in);
        api_size_format_human(rows[i].in, buf, sizeof(buf));
        assert_string_equal(buf, rows[i].human);
    }
    /* A short buffer truncates but stays terminated. */
    char small[4];
    api_size_format(512 * MiB, small, sizeof(small));
    assert_string_equal(small, "512");
}

static void test_port_parse_good(void **state) {
    (void)state;
    static const struct {
        const char *in;
        uint64_t host, vm;
        const char *proto, *bind, *formatted;
    } rows[] = {
        {"80:8080", 80, 8080, NULL, NULL, "0.0.0.0:80->8080/tcp"},
        {"80:8080/tcp", 80, 8080, NULL, NULL, "0.0.0.0:80->8080/tcp"},
        {"53:53/udp", 53, 53, "udp", NULL, "0.0.0.0:53->53/udp"},
        {"53:53/UDP", 53, 53, "udp", NULL, "0.0.0.0:53->53/udp"},
        {"127.0.0.1:80:8080/udp", 80, 8080, "udp", "127.0.0.1", "127.0.0.1:80->8080/udp"},
        {"0.0.0.0:443:443", 443, 443, NULL, "0.0.0.0", "0.0.0.0:443->443/tcp"},
        {"[::1]:80:8080/udp", 80, 8080, "udp", "::1", "[::1]:80->8080/udp"},
        {"[fe80::1:2]:1:65535", 1, 65535, NULL, "fe80::1:2", "[fe80::1:2]:1->65535/tcp"},
        {"65535:1", 65535, 1, NULL, NULL, "0.0.0.0:65535->1/tcp"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct api_port p;
        struct error err;
        error_init(&err);
        if (api_port_parse(rows[i].in, &p, &err) < 0)
            fail_msg("\"%s\": %s", rows[i].in, err.msg);
        assert_int_equal(p.host_port, rows[i].host);
        assert_int_equal(p.vm_port, rows[i].vm);
        if (rows[i].proto)
            assert_string_equal(p.protocol, rows[i].proto);
        else
            assert_null(p.protocol);
        if (rows[i].bind)
            assert_string_equal(p.bind_address, rows[i].bind);
        else
            assert_null(p.bind_address);
        char buf[96];
        api_port_format(&p, buf, sizeof(buf));
        assert_string_equal(buf, rows[i].formatted);
        api_port_release(&p);
        assert_null(p.protocol);
    }
}

static void test_port_parse_bad(void **state) {
    (void)state;
    static const struct {
        const char *in, *msg;
    } rows[] = {
        {"", "empty port mapping"},
        {"80", "expected [IP:]HOST:VM"},
        {"0:80", "\"0\" is not a port number (1-65535)"},
        {"80:0", "\"0\" is not a port number"},
        {"65536:80", "\"65536\" is not a port number"},
        {"a:80", "\"a\" is not a port number"},
        {"-1:80", "\"-1\" is not a port number"},
        {"80:+80", "\"+80\" is not a port number"},
        {" 80:80", "\" 80\" is not a port number"},
        {"80:", "\"\" is not a port number"},
        {"80:8080/sctp", "protocol \"sctp\" is not tcp or udp"},
        {"80:8080/", "protocol \"\" is not tcp or udp"},
        {"1.2.3:80:80", "\"1.2.3\" is not an IPv4 address"},
        {"localhost:80:80", "\"localhost\" is not an IPv4 address"},
        {"::1:80:80", "expected [IP:]HOST:VM"},
        {"[::1:80:80", "brackets"},
        {"[::1]80:80", "brackets"},
        {"[zz]:80:80", "\"zz\" is not an IPv6 address"},
        {"1:2:3:4", "expected [IP:]HOST:VM"},
        {"99999999999999999999999:80", "is not a port number"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct api_port p = {.host_port = 7};
        struct error err;
        error_init(&err);
        int r = api_port_parse(rows[i].in, &p, &err);
        if (r != -EINVAL)
            fail_msg("\"%s\": r=%d, want -EINVAL", rows[i].in, r);
        assert_int_equal(p.host_port, 7);
        test_assert_contains(err.msg, rows[i].msg);
        if (*rows[i].in && !strstr(rows[i].in, "99999"))
            test_assert_contains(err.msg, rows[i].in); /* the message names the input */
    }
}

static void test_names(void **state) {
    (void)state;
    static const char *const good[] = {
        "a",    "my-vm", "a1",
        "0abc", "a--b",  "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyza", /* 63 */
    };
    static const char *const bad[] = {
        "",
        "My_VM",
        "-a",
        "a-",
        "a.b",
        "a b",
        "MyVM",
        "caf\xc3\xa9",
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzab", /* 64 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        if (!api_name_is_valid(good[i]))
            fail_msg("\"%s\" should be a valid name", good[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (api_name_is_valid(bad[i]))
            fail_msg("\"%s\" should not be a valid name", bad[i]);
    }
    assert_false(api_name_is_valid(NULL));
}

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_refs(void **state) {
    (void)state;
    static const char *const good[] = {
        "ubuntu",
        "ubuntu:22.04",
        "weaveworks/ignite-ubuntu:latest",
        "weaveworks/ignite-kernel:4.19.47",
        "docker.io/library/ubuntu:22.04",
        "registry:5000/a/b@sha256:" HEX64,
        "registry:5000/a/b:v1@sha256:" HEX64,
        "localhost/foo",
        "localhost:5000/foo:TAG_1",
        "a__b",
        "a.b/c",
        "foo--bar",
        "quay.io/x/y:v1.0-rc_1",
        "Registry.Example.COM/x",
        "x@sha256:" HEX64,
    };
    static const char *const bad[] = {
        "",
        "Ubuntu",
        "ubuntu:",
        ":latest",
        "a//b",
        "a/b/",
        "/a",
        "ubuntu:-x",
        "ubuntu:.x",
        "ubuntu@sha256:abc",
        "ubuntu@:" HEX64,
        "ubuntu@sha256" HEX64,
        "a b",
        "-a",
        "a_",
        "a___b",
        "a/B",
        "registry:port/x",
        "ubuntu:a/b",
        "ubuntu:"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", /* tag of 129 */
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        if (!api_ref_is_valid(good[i]))
            fail_msg("\"%s\" should be a valid reference", good[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (api_ref_is_valid(bad[i]))
            fail_msg("\"%s\" should not be a valid reference", bad[i]);
    }
    /* The name part is at most 255 characters. */
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    assert_false(api_ref_is_valid(longname));
    longname[255] = '\0';
    assert_true(api_ref_is_valid(longname));
}

static void test_label_keys_and_ips(void **state) {
    (void)state;
    assert_true(api_label_key_is_valid("app"));
    assert_true(api_label_key_is_valid("example.com/tier"));
    assert_true(api_label_key_is_valid("A_b.c-D"));
    assert_false(api_label_key_is_valid(""));
    assert_false(api_label_key_is_valid("bad key"));
    assert_false(api_label_key_is_valid("Example.com/x"));
    assert_false(api_label_key_is_valid("example.com/"));
    assert_false(api_label_key_is_valid("/x"));
    assert_true(api_label_value_is_valid(""));
    assert_true(api_label_value_is_valid("v1.2_x"));
    assert_false(api_label_value_is_valid("-x"));
    assert_true(api_ip_is_valid("10.0.0.1"));
    assert_true(api_ip_is_valid("fe80::1"));
    assert_false(api_ip_is_valid("300.1.1.1"));
    assert_false(api_ip_is_valid("localhost"));
}

static void test_quote(void **state) {
    (void)state;
    char buf[API_QUOTE_MAX];
    assert_string_equal(api_quote("a\"b\\c\n", buf, sizeof(buf)), "\"a\\\"b\\\\c\\x0a\"");
    assert_string_equal(api_quote(NULL, buf, sizeof(buf)), "\"\"");
    char longs[200];
    memset(longs, 'x', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    api_quote(longs, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 1 + 80 + 3 + 1);
}

int values_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_parse_good),
        cmocka_unit_test(test_size_parse_bad),
        cmocka_unit_test(test_size_format),
        cmocka_unit_test(test_port_parse_good),
        cmocka_unit_test(test_port_parse_bad),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_label_keys_and_ips),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests_name("api values", tests, NULL, NULL);
}
