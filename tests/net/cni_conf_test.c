/*
 * CNI configurations and results (net cni_conf.c, cni_result.c): the first
 * configuration of a directory as libcni's runtimes pick it, a .conf made a
 * list, bad files named with their field, the default list as written, and
 * what is taken from 1.0.0 and 0.4.0 results. Files are in a temporary
 * directory; no plugin runs here (cni_test.c runs them).
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

#define BRIDGE "hearth-cni0"
#define NETWORK "hearth-cni"

struct fixture {
    char tmp[64];
    char conf[128]; /* the configuration directory */
    char data[128]; /* host-local's dataDir, only named */
};

void net_test_file_write(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/hearth-cniconf-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/conf", f->tmp);
    snprintf(f->data, sizeof(f->data), "%s/data", f->tmp);
    if (mkdir(f->conf, 0755) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    struct error err;
    const char *argv[] = {"rm", "-rf", f->tmp, NULL};
    if (exec_run(argv, NULL, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    free(f);
    return 0;
}

/* A file at conf/NAME with text; the first configuration found then in c (may be NULL). */
static void conf_write(const struct fixture *f, const char *name, const char *text,
                       struct net_cni_conf *c) {
    char p[200];
    snprintf(p, sizeof(p), "%s/%s", f->conf, name);
    net_test_file_write(p, text, 0644);
    struct error err;
    if (c && net_cni_conf_find(f->conf, c, &err) < 0)
        fail_msg("%s", err.msg);
}

/* ---- configurations --------------------------------------------------------- */

static void expect_bad(const struct fixture *f, const char *name, const char *text,
                       const char *field) {
    char p[200];
    snprintf(p, sizeof(p), "%s/%s", f->conf, name);
    net_test_file_write(p, text, 0644);
    struct net_cni_conf c = {0};
    struct error err;
    error_init(&err);
    assert_int_equal(net_cni_conf_find(f->conf, &c, &err), -EINVAL);
    if (!strstr(err.msg, p) || !strstr(err.msg, field))
        fail_msg("%s: expected '%s' and '%s' in: %s", name, p, field, err.msg);
    assert_null(c.json);
    assert_int_equal(unlink(p), 0);
}

static void test_conf_find(void **state) {
    struct fixture *f = *state;
    struct net_cni_conf c = {0};
    struct error err;
    error_init(&err);
    /* Nothing there, or no directory: -ENOENT naming it. */
    assert_int_equal(net_cni_conf_find(f->conf, &c, &err), -ENOENT);
    assert_non_null(strstr(err.msg, f->conf));
    assert_int_equal(net_cni_conf_find("/nonexistent/hearth-cni", &c, &err), -ENOENT);

    /* Only .conflist, .conf and .json count, directories do not, and the first by name wins. */
    char sub[200];
    snprintf(sub, sizeof(sub), "%s/00-dir.conflist", f->conf);
    assert_int_equal(mkdir(sub, 0755), 0);
    conf_write(f, "01-notes.txt", "not a configuration", NULL);
    conf_write(f, "30-c.json", "{\"name\": \"c\", \"type\": \"bridge\"}", NULL);
    conf_write(f, "20-b.conflist",
               "{\"cniVersion\": \"1.0.0\", \"name\": \"b\", \"plugins\": [{\"type\": \"ptp\"}]}",
               NULL);
    conf_write(f, "10-a.conf",
               "{\"cniVersion\": \"0.4.0\", \"name\": \"a\", \"type\": \"bridge\", \"bridge\": "
               "\"br-a\"}",
               &c);
    /* The .conf became a list of one, its name and version the list's. */
    char want[200];
    snprintf(want, sizeof(want), "%s/10-a.conf", f->conf);
    assert_string_equal(c.file, want);
    assert_string_equal(c.name, "a");
    assert_string_equal(c.cni_version, "0.4.0");
    json_t *j = json_loads(c.json, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "a");
    assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "0.4.0");
    json_t *p0 = json_array_get(json_object_get(j, "plugins"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "plugins")), 1);
    assert_string_equal(json_string_value(json_object_get(p0, "bridge")), "br-a");
    json_decref(j);
    /* The list made of it, as the engine keeps it, reads back the same. */
    struct net_cni_conf back = {0};
    assert_int_equal(net_cni_conf_parse("kept", c.json, &back, &err), 0);
    assert_string_equal(back.file, "kept");
    assert_string_equal(back.name, "a");
    assert_string_equal(back.cni_version, "0.4.0");
    net_cni_conf_release(&back);
    net_cni_conf_release(&c);
    /* Without it, the .conflist comes first. */
    assert_int_equal(unlink(want), 0);

    /* A list is kept as it was written. */
    assert_int_equal(net_cni_conf_find(f->conf, &c, &err), 0);
    assert_string_equal(c.name, "b");
    assert_string_equal(c.cni_version, "1.0.0");
    assert_string_equal(
        c.json, "{\"cniVersion\": \"1.0.0\", \"name\": \"b\", \"plugins\": [{\"type\": \"ptp\"}]}");
    struct net_cni_conf kept = {0};
    assert_int_equal(net_cni_conf_parse("kept", c.json, &kept, &err), 0);
    assert_string_equal(kept.name, "b");
    assert_string_equal(kept.json, c.json);
    net_cni_conf_release(&kept);
    net_cni_conf_release(&c);
    net_cni_conf_release(&c); /* twice is fine */

    /* A bad first file is an error naming it and the field, not skipped. */
    expect_bad(f, "05-bad.conflist",
               "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"plugins\": [{\"type\": \"bridge\"}, "
               "{\"portMappings\": true}]}",
               "'plugins[1].type' is missing");
    expect_bad(f, "05-bad.conflist", "{\"plugins\": [{\"type\": \"bridge\"}]}",
               "'name' is missing");
    expect_bad(f, "05-bad.conflist", "{\"name\": \"x\", \"plugins\": []}", "'plugins' is empty");
    expect_bad(f, "05-bad.conflist", "{\"name\": \"x\"}", "'plugins' is missing");
    expect_bad(f, "05-bad.conflist", "{\"name\": \"x y\", \"plugins\": [{\"type\": \"a\"}]}",
               "'name' is not a network name");
    expect_bad(f, "05-bad.conflist",
               "{\"name\": \"x\", \"cniVersion\": \"one\", \"plugins\": [{\"type\": \"a\"}]}",
               "'cniVersion' is not a version");
    expect_bad(f, "05-bad.conflist", "{\"name\": \"x\", \"plugins\": [{\"type\": \"../bin/sh\"}]}",
               "'plugins[0].type' is not the file name of a plugin");
    expect_bad(f, "05-bad.conflist",
               "{\"name\": \"x\", \"plugins\": [{\"type\": \"a\", \"capabilities\": "
               "{\"portMappings\": 1}}]}",
               "'plugins[0].capabilities.portMappings' is not true or false");
    expect_bad(f, "05-bad.conflist", "{\"name\": \"x\",\n \"plugins\": [}", "line 2");
    expect_bad(f, "05-bad.conf", "{\"name\": \"x\", \"plugins\": [{\"type\": \"a\"}]}",
               "'type' is missing");
    expect_bad(f, "05-bad.json", "{\"type\": \"a\"}", "'name' is missing");
    /* Nothing bad is left: the list is found again. */
    assert_int_equal(net_cni_conf_find(f->conf, &c, &err), 0);
    assert_string_equal(c.name, "b");
    net_cni_conf_release(&c);
    assert_int_equal(net_cni_conf_parse("kept", "[]", &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'kept'"));
}

static void test_conf_default(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct net_subnet s;
    assert_int_equal(net_subnet_parse("10.77.0.0/16", &s, &err), 0);
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/made/net.d", f->tmp);
    char *file = NULL;
    for (int i = 0; i < 2; i++) { /* written again over itself */
        assert_int_equal(net_cni_conf_default(dir, &s, f->data, &file, &err), 0);
        char want[260];
        snprintf(want, sizeof(want), "%s/10-hearth.conflist", dir);
        assert_string_equal(file, want);
        free(file);
    }
    struct stat st;
    char want[260];
    snprintf(want, sizeof(want), "%s/10-hearth.conflist", dir);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    /* Only the list is there, no temporary file. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(n, 1);

    struct net_cni_conf c = {0};
    assert_int_equal(net_cni_conf_find(dir, &c, &err), 0);
    assert_string_equal(c.name, NETWORK);
    assert_string_equal(c.cni_version, "1.0.0");
    json_t *j = json_loads(c.json, 0, NULL);
    assert_non_null(j);
    json_t *pl = json_object_get(j, "plugins");
    assert_int_equal(json_array_size(pl), 3);
    json_t *br = json_array_get(pl, 0), *ipam = json_object_get(br, "ipam");
    assert_string_equal(json_string_value(json_object_get(br, "type")), "bridge");
    assert_string_equal(json_string_value(json_object_get(br, "bridge")), BRIDGE);
    assert_true(json_is_true(json_object_get(br, "isGateway")));
    assert_true(json_is_true(json_object_get(br, "ipMasq")));
    assert_string_equal(json_string_value(json_object_get(ipam, "type")), "host-local");
    json_t *range = json_array_get(json_array_get(json_object_get(ipam, "ranges"), 0), 0);
    assert_string_equal(json_string_value(json_object_get(range, "subnet")), "10.77.0.0/16");
    json_t *route = json_array_get(json_object_get(ipam, "routes"), 0);
    assert_string_equal(json_string_value(json_object_get(route, "dst")), "0.0.0.0/0");
    assert_string_equal(json_string_value(json_object_get(ipam, "dataDir")), f->data);
    json_t *pm = json_array_get(pl, 1);
    assert_string_equal(json_string_value(json_object_get(pm, "type")), "portmap");
    assert_true(json_is_true(json_object_get(json_object_get(pm, "capabilities"), "portMappings")));
    assert_true(json_is_true(json_object_get(pm, "snat")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(pl, 2), "type")),
                        "firewall");
    json_decref(j);
    net_cni_conf_release(&c);

    assert_int_equal(net_cni_conf_default(dir, &s, "relative", &file, &err), -EINVAL);
    assert_int_equal(net_cni_conf_default("", &s, f->data, &file, &err), -EINVAL);
}

/* ---- results ------------------------------------------------------------------ */

static void test_result_parse(void **state) {
    (void)state;
    struct net_cni_result r;
    struct error err;
    error_init(&err);
    /* 1.0.0: the sandbox's address, though another comes first. */
    const char *v1 =
        "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"cni0\", \"mac\": "
        "\"00:11:22:33:44:55\"}, {\"name\": \"eth0\", \"mac\": \"AA:BB:CC:DD:EE:0F\", "
        "\"sandbox\": \"/run/netns/x\"}], \"ips\": [{\"address\": \"fd00::5/64\", \"interface\": "
        "1}, {\"address\": \"10.9.0.1/16\", \"interface\": 0}, {\"address\": \"10.1.0.5/24\", "
        "\"gateway\": \"10.1.0.1\", \"interface\": 1}], \"dns\": {\"nameservers\": [\"fd00::1\", "
        "\"10.1.0.1\", \"1.1.1.1\", \"8.8.8.8\", \"9.9.9.9\"], \"domain\": \"example.org\"}}";
    assert_int_equal(net_cni_result_parse(v1, &r, &err), 0);
    char ip[NET_IP_MAX];
    net_ip_format(r.ip, ip);
    assert_string_equal(ip, "10.1.0.5");
    assert_int_equal(r.prefix, 24);
    net_ip_format(r.gateway, ip);
    assert_string_equal(ip, "10.1.0.1");
    assert_string_equal(r.mac, "aa:bb:cc:dd:ee:0f");
    net_ip_format(r.dns[0], ip);
    assert_string_equal(ip, "10.1.0.1");
    net_ip_format(r.dns[1], ip);
    assert_string_equal(ip, "1.1.1.1");
    assert_int_equal(r.dns[2], 0);
    assert_string_equal(r.domain, "example.org");

    /* 0.4.0: "version" per ip; an IPAM-like result without interfaces. */
    const char *v04 = "{\"cniVersion\": \"0.4.0\", \"ips\": [{\"version\": \"6\", \"address\": "
                      "\"fd00::5/64\"}, {\"version\": \"4\", \"address\": \"192.168.7.9/30\"}]}";
    assert_int_equal(net_cni_result_parse(v04, &r, &err), 0);
    net_ip_format(r.ip, ip);
    assert_string_equal(ip, "192.168.7.9");
    assert_int_equal(r.prefix, 30);
    assert_int_equal(r.gateway, 0);
    assert_string_equal(r.mac, "");
    assert_int_equal(r.dns[0], 0);

    /* What is missing or malformed is named. */
    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"ips\": []}", "no IPv4 address"},
        {"{\"ips\": [{\"address\": \"fd00::1/64\"}]}", "no IPv4 address"},
        {"{}", "no IPv4 address"},
        {"{\"ips\": [{\"gateway\": \"10.0.0.1\"}]}", "'ips[0].address' is missing"},
        {"{\"ips\": [{\"address\": \"10.0.0.300/8\"}]}", "'ips[0].address'"},
        {"{\"ips\": [{\"address\": \"10.0.0.3\"}]}", "'ips[0].address'"},
        {"{\"ips\": [{\"address\": \"10.0.0.3/33\"}]}", "'ips[0].address'"},
        {"{\"ips\": [{\"address\": \"10.0.0.3/8\", \"gateway\": \"x\"}]}", "'ips[0].gateway'"},
        {"{\"ips\": [{\"address\": \"10.0.0.3/8\", \"interface\": 2}], \"interfaces\": []}",
         "'ips[0].interface'"},
        {"{\"ips\": [{\"address\": \"10.0.0.3/8\"}], \"interfaces\": [{\"mac\": \"zz\"}]}",
         "'interfaces[0].mac'"},
        {"{\"ips\": [{\"address\": \"10.0.0.3/8\"}], \"dns\": {\"nameservers\": [\"a\"]}}",
         "'dns.nameservers[0]'"},
        {"[1]", "not a JSON object"},
        {"{", "not valid JSON"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        error_init(&err);
        assert_int_equal(net_cni_result_parse(bad[i].json, &r, &err), -EINVAL);
        if (!strstr(err.msg, bad[i].want))
            fail_msg("%s: expected '%s' in: %s", bad[i].json, bad[i].want, err.msg);
    }
}

const struct CMUnitTest net_cni_conf_tests[] = {
    cmocka_unit_test_setup_teardown(test_conf_find, setup, teardown),
    cmocka_unit_test_setup_teardown(test_conf_default, setup, teardown),
    cmocka_unit_test(test_result_parse),
};
const size_t net_cni_conf_tests_n = ARRAY_SIZE(net_cni_conf_tests);
