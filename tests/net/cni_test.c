/*
 * CNI plugins run (net cni_exec.c) with Debian's real ones
 * (containernetworking-plugins, /usr/lib/cni) in the test's own network
 * namespace: the default list (bridge, host-local, portmap, firewall) and a
 * ptp list through ADD, CHECK and DEL into a namespace net_netns_create
 * made, and plugins of the test's
 * own (a Python script in a temporary bin directory) that record what they
 * were given, fail with an error object, fail without one or hang.
 *
 * Every path is in a temporary directory: the configurations, host-local's
 * store (dataDir), the namespace's file. The bridge and the iptables rules
 * are made in the test's namespace and go with it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

#define CNI_BIN "/usr/lib/cni"
#define BRIDGE "hearth-cni0"
#define NETWORK "hearth-cni"
#define CID "hearthcnitest1"

struct fixture {
    char tmp[64];
    char conf[128]; /* the configuration directory */
    char data[128]; /* host-local's dataDir */
    char bin[128];  /* the test's plugins */
    char ns[128];   /* the namespace's file */
    char path[256]; /* CNI_PATH: bin, then Debian's */
};

/* The test's plugin: records its stdin and environment, then acts by its name. */
static const char plugin_py[] =
    "#!/usr/bin/python3\n"
    "import json, os, sys, time\n"
    "name = os.path.basename(sys.argv[0])\n"
    "top = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))\n"
    "cmd = os.environ.get('CNI_COMMAND', '')\n"
    "conf = sys.stdin.read()\n"
    "with open(os.path.join(top, name + '.' + cmd + '.json'), 'w') as f:\n"
    "    f.write(conf)\n"
    "keys = ('CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_NETNS', 'CNI_ARGS', 'CNI_KEEP')\n"
    "with open(os.path.join(top, name + '.log'), 'a') as f:\n"
    "    f.write(' '.join(os.environ.get(k, 'unset') or '-' for k in keys) + '\\n')\n"
    "c = json.loads(conf)\n"
    "if name == 'hearth-fail' and cmd == 'ADD':\n"
    "    print('a line on stderr', file=sys.stderr)\n"
    "    print(json.dumps({'cniVersion': c.get('cniVersion'), 'code': 7, 'msg': 'bad thing',\n"
    "                      'details': 'the details'}))\n"
    "    sys.exit(1)\n"
    "if name == 'hearth-mute' and cmd == 'ADD':\n"
    "    print('only stderr here', file=sys.stderr)\n"
    "    sys.exit(2)\n"
    "if name == 'hearth-slow':\n"
    "    time.sleep(600)\n"
    "if cmd == 'ADD':\n"
    "    print(json.dumps(c['prevResult']))\n";

/* The file's contents ("" when it is missing); caller frees. */
static char *read_text(const char *path) {
    struct strbuf sb = STRBUF_INIT;
    if (strbuf_read_file(&sb, path, 1 << 20, NULL) < 0)
        strbuf_reset(&sb);
    return strbuf_detach(&sb);
}

static int setup(void **state) {
    test_need_program(CNI_BIN "/bridge", "containernetworking-plugins");
    test_need_program("iptables", "iptables");
    test_need_program("python3", "python3");
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/hearth-cni-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/conf", f->tmp);
    snprintf(f->data, sizeof(f->data), "%s/data", f->tmp);
    snprintf(f->bin, sizeof(f->bin), "%s/bin", f->tmp);
    snprintf(f->ns, sizeof(f->ns), "%s/netns", f->tmp);
    snprintf(f->path, sizeof(f->path), "%s:" CNI_BIN, f->bin);
    if (mkdir(f->conf, 0755) < 0 || mkdir(f->bin, 0755) < 0)
        return -1;
    const char *names[] = {"hearth-pass", "hearth-fail", "hearth-mute", "hearth-slow"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char p[200];
        snprintf(p, sizeof(p), "%s/%s", f->bin, names[i]);
        net_test_file_write(p, plugin_py, 0755);
    }
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    struct error err;
    if (net_netns_delete(f->ns, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    if (net_link_exists(BRIDGE) && net_bridge_delete(BRIDGE, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    const char *argv[] = {"rm", "-rf", f->tmp, NULL};
    if (exec_run(argv, NULL, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    free(f);
    return 0;
}

/* The addresses host-local holds for network in dataDir (its files other than the lock and
 * the last reserved), their count; the first one's name in first (may be NULL). */
static int reservations(const struct fixture *f, const char *network, char *first, size_t size) {
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/%s", f->data, network);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "lock") == 0 ||
            str_starts_with(e->d_name, "last_reserved_ip"))
            continue;
        if (n++ == 0 && first)
            snprintf(first, size, "%.63s", e->d_name);
    }
    closedir(d);
    return n;
}

/* The links here whose name starts with "veth". */
static int veth_count(void) {
    struct if_nameindex *links = if_nameindex();
    assert_non_null(links);
    int n = 0;
    for (struct if_nameindex *l = links; l->if_name; l++)
        n += str_starts_with(l->if_name, "veth");
    if_freenameindex(links);
    return n;
}

/* What `iptables -t nat -S` prints; caller frees. */
static char *nat_rules(void) {
    struct strbuf out = STRBUF_INIT;
    struct error err;
    const char *argv[] = {"iptables", "-t", "nat", "-S", NULL};
    struct exec_opts o = {.out = &out};
    if (exec_run(argv, &o, &err) < 0)
        fail_msg("%s", err.msg);
    return strbuf_detach(&out);
}

static void args_init(const struct fixture *f, struct net_cni_args *a, const struct net_portmap *m,
                      size_t n) {
    *a = (struct net_cni_args){.path = f->path,
                               .container_id = CID,
                               .netns = f->ns,
                               .ifname = "eth0",
                               .maps = m,
                               .n_maps = n};
}

/* Two port maps: tcp 8080 to 80 on every address, udp 127.0.0.1:5353 to 53. */
static const struct net_portmap test_maps[] = {
    {.udp = false, .bind = 0, .host_port = 8080, .vm_port = 80},
    {.udp = true, .bind = 0x7f000001, .host_port = 5353, .vm_port = 53},
};

/* A list at conf/NAME with text; parsed into c. */
static void conf_write(const struct fixture *f, const char *name, const char *text,
                       struct net_cni_conf *c) {
    char p[200];
    snprintf(p, sizeof(p), "%s/%s", f->conf, name);
    net_test_file_write(p, text, 0644);
    struct error err;
    if (c && net_cni_conf_find(f->conf, c, &err) < 0)
        fail_msg("%s", err.msg);
}

/* ---- plugins ---------------------------------------------------------------- */

/* The MAC of eth0 in the namespace at ns; "" when it has none. */
static void eth0_mac(const char *ns, char mac[NET_MAC_MAX]) {
    struct error err;
    int back;
    if (net_netns_enter(ns, &back, &err) < 0)
        fail_msg("%s", err.msg);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
    mac[0] = '\0';
    if (fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
        const unsigned char *h = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
        snprintf(mac, NET_MAC_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4],
                 h[5]);
    }
    if (fd >= 0)
        close(fd);
    net_netns_leave(back);
}

/* The name of the result's interface on the host (no sandbox) other than the bridge. */
static void host_veth(const char *result, char name[IFNAMSIZ]) {
    json_t *j = json_loads(result, 0, NULL);
    assert_non_null(j);
    size_t i;
    json_t *v;
    name[0] = '\0';
    json_array_foreach(json_object_get(j, "interfaces"), i, v) {
        const char *n = json_string_value(json_object_get(v, "name"));
        const char *sb = json_string_value(json_object_get(v, "sandbox"));
        if (n && (!sb || !*sb) && strcmp(n, BRIDGE) != 0)
            snprintf(name, IFNAMSIZ, "%s", n);
    }
    json_decref(j);
    assert_true(name[0] != '\0');
}

/*
 * ADD into a fresh namespace, the address checked against subnet and the
 * reservation in host-local's store of network; the result in *ret_result.
 */
static void add_and_expect(const struct fixture *f, const struct net_cni_conf *c,
                           const struct net_cni_args *a, const char *subnet, const char *network,
                           char **ret_result, struct net_cni_result *ret_parsed) {
    struct error err;
    error_init(&err);
    assert_int_equal(net_netns_create(f->ns, &err), 0);
    char *result = NULL;
    if (net_cni_add(c, a, &result, &err) < 0)
        fail_msg("%s", err.msg);
    struct net_cni_result r;
    if (net_cni_result_parse(result, &r, &err) < 0)
        fail_msg("%s", err.msg);
    struct net_subnet s;
    assert_int_equal(net_subnet_parse(subnet, &s, &err), 0);
    assert_true(net_subnet_contains(&s, r.ip));
    char mac[NET_MAC_MAX];
    eth0_mac(f->ns, mac);
    assert_string_equal(r.mac, mac);
    /* host-local's store holds the address, for this container. */
    char ip[NET_IP_MAX], first[64], path[256];
    net_ip_format(r.ip, ip);
    assert_int_equal(reservations(f, network, first, sizeof(first)), 1);
    assert_string_equal(first, ip);
    snprintf(path, sizeof(path), "%s/%s/%s", f->data, network, ip);
    char *held = read_text(path);
    assert_true(str_starts_with(held, CID));
    free(held);
    *ret_result = result;
    *ret_parsed = r;
}

/* DEL, then nothing of the container: no reservation, no veth, no eth0, no nat rule. */
static void del_and_expect(const struct fixture *f, const struct net_cni_conf *c,
                           const struct net_cni_args *a, const char *result, const char *network,
                           const char *veth) {
    struct error err;
    error_init(&err);
    if (net_cni_del(c, a, result, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(reservations(f, network, NULL, 0), 0);
    assert_false(net_link_exists(veth));
    char mac[NET_MAC_MAX];
    eth0_mac(f->ns, mac);
    assert_string_equal(mac, "");
    char *nat = nat_rules();
    if (strstr(nat, CID))
        fail_msg("a nat rule of '%s' is left after DEL:\n%s", CID, nat);
    free(nat);
    /* DEL again (as after a crash, without the result) is fine. */
    assert_int_equal(net_cni_del(c, a, NULL, &err), 0);
}

static void test_default_add_check_del(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct net_subnet s;
    assert_int_equal(net_subnet_parse("10.77.0.0/16", &s, &err), 0);
    assert_int_equal(net_cni_conf_default(f->conf, &s, f->data, NULL, &err), 0);
    struct net_cni_conf c = {0};
    assert_int_equal(net_cni_conf_find(f->conf, &c, &err), 0);
    struct net_cni_args a;
    args_init(f, &a, test_maps, ARRAY_SIZE(test_maps));

    char *result = NULL;
    struct net_cni_result r;
    add_and_expect(f, &c, &a, "10.77.0.0/16", NETWORK, &result, &r);
    assert_int_equal(r.prefix, 16);
    char ip[NET_IP_MAX];
    net_ip_format(r.gateway, ip);
    assert_string_equal(ip, "10.77.0.1");
    assert_true(net_link_exists(BRIDGE));
    char veth[IFNAMSIZ];
    host_veth(result, veth);
    assert_true(net_link_exists(veth));
    /* portmap's rules for both maps, and bridge's masquerade, name the container. */
    char *nat = nat_rules();
    if (!strstr(nat, "-A CNI-HOSTPORT-DNAT") || !strstr(nat, "id: \\\"" CID "\\\"") ||
        !strstr(nat, "--dports 8080") || !strstr(nat, "--dports 5353") ||
        !strstr(nat, "-d 127.0.0.1/32"))
        fail_msg("portmap's rules are not there:\n%s", nat);
    free(nat);

    /* CHECK passes; it fails once portmap's rules for the container are gone... */
    if (net_cni_check(&c, &a, result, &err) < 0)
        fail_msg("%s", err.msg);
    nat = nat_rules();
    const char *dn = strstr(nat, "-N CNI-DN-");
    assert_non_null(dn);
    char chain[64];
    assert_int_equal(sscanf(dn, "-N %63s", chain), 1);
    free(nat);
    const char *flush[] = {"iptables", "-t", "nat", "-F", chain, NULL};
    assert_int_equal(exec_run(flush, NULL, &err), 0);
    error_init(&err);
    assert_true(net_cni_check(&c, &a, result, &err) < 0);
    if (!strstr(err.msg, "cni plugin 'portmap'") || !strstr(err.msg, "failed CHECK") ||
        !strstr(err.msg, "ipv4"))
        fail_msg("CHECK's error: %s", err.msg);
    /* ... and once eth0 is not what the result says (its MAC changed behind its back). */
    int back;
    assert_int_equal(net_netns_enter(f->ns, &back, &err), 0);
    const char *iplink[] = {"ip", "link", "set", "eth0", "address", "02:00:00:00:00:01", NULL};
    int rr = exec_run(iplink, NULL, &err);
    net_netns_leave(back);
    assert_int_equal(rr, 0);
    error_init(&err);
    assert_true(net_cni_check(&c, &a, result, &err) < 0);
    if (!strstr(err.msg, "cni plugin 'bridge'") || !strstr(err.msg, "failed CHECK") ||
        !strstr(err.msg, c.file))
        fail_msg("CHECK's error: %s", err.msg);

    del_and_expect(f, &c, &a, result, NETWORK, veth);
    free(result);
    net_cni_conf_release(&c);
}

static void test_ptp_add_check_del(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"cniVersion\": \"1.0.0\", \"name\": \"hearth-ptp\", \"plugins\": ["
             "{\"type\": \"ptp\", \"ipMasq\": true, \"ipam\": {\"type\": \"host-local\", "
             "\"subnet\": \"10.78.0.0/16\", \"routes\": [{\"dst\": \"0.0.0.0/0\"}], "
             "\"dataDir\": \"%s\"}},"
             "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}]}",
             f->data);
    struct net_cni_conf c = {0};
    conf_write(f, "50-ptp.conflist", text, &c);
    struct net_cni_args a;
    args_init(f, &a, test_maps, 1);
    char *result = NULL;
    struct net_cni_result r;
    add_and_expect(f, &c, &a, "10.78.0.0/16", "hearth-ptp", &result, &r);
    char veth[IFNAMSIZ];
    host_veth(result, veth);
    assert_true(net_link_exists(veth));
    char *nat = nat_rules();
    if (!strstr(nat, "--dports 8080"))
        fail_msg("portmap's rule is not there:\n%s", nat);
    free(nat);
    if (net_cni_check(&c, &a, result, &err) < 0)
        fail_msg("%s", err.msg);
    del_and_expect(f, &c, &a, result, "hearth-ptp", veth);
    free(result);
    net_cni_conf_release(&c);
}

/* A list of bridge (on host-local) and then plugin, with an extra field and capabilities. */
static void chain_conf(const struct fixture *f, const char *plugin, struct net_cni_conf *c) {
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"cniVersion\": \"1.0.0\", \"name\": \"" NETWORK "\", \"plugins\": ["
             "{\"type\": \"bridge\", \"bridge\": \"" BRIDGE "\", \"isGateway\": true, "
             "\"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": \"10.77.0.0/16\"}]], "
             "\"dataDir\": \"%s\"}},"
             "{\"type\": \"%s\", \"custom\": [1, \"two\"], \"capabilities\": "
             "{\"portMappings\": true, \"bandwidth\": true, \"mac\": false}}]}",
             f->data, plugin);
    conf_write(f, "40-chain.conflist", text, c);
}

/* What plugin name was given on stdin for cmd, parsed. */
static json_t *given(const struct fixture *f, const char *name, const char *cmd) {
    char p[200];
    snprintf(p, sizeof(p), "%s/%s.%s.json", f->tmp, name, cmd);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j)
        fail_msg("%s: %s", p, je.text);
    return j;
}

static char *log_of(const struct fixture *f, const char *name) {
    char p[200];
    snprintf(p, sizeof(p), "%s/%s.log", f->tmp, name);
    return read_text(p);
}

static void test_plugin_fails(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct net_cni_conf c = {0};
    chain_conf(f, "hearth-fail", &c);
    struct net_cni_args a;
    args_init(f, &a, test_maps, ARRAY_SIZE(test_maps));
    assert_int_equal(net_netns_create(f->ns, &err), 0);
    int veths = veth_count();
    /* The plugins get the call's CNI_* variables, whatever this process has; the rest stays. */
    assert_int_equal(setenv("CNI_COMMAND", "bogus", 1), 0);
    assert_int_equal(setenv("CNI_KEEP", "kept", 1), 0);
    char *result = NULL;
    int r = net_cni_add(&c, &a, &result, &err);
    unsetenv("CNI_COMMAND");
    unsetenv("CNI_KEEP");
    assert_int_equal(r, -EIO);
    assert_null(result);
    const char *want[] = {
        "cni plugin 'hearth-fail'", c.file, "failed ADD", "code 7", "bad thing", "the details",
        "a line on stderr"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        if (!strstr(err.msg, want[i]))
            fail_msg("expected '%s' in: %s", want[i], err.msg);

    /* Its ADD, then DEL from the rollback, with the call's parameters. */
    char *log = log_of(f, "hearth-fail");
    char expect[512];
    snprintf(expect, sizeof(expect), "ADD " CID " eth0 %s - kept\nDEL " CID " eth0 %s - kept\n",
             f->ns, f->ns);
    assert_string_equal(log, expect);
    free(log);

    /* What it was given: its object without capabilities, the list's name and version,
     * the bridge's result, and only the capabilities it declares that hearth has. */
    json_t *in = given(f, "hearth-fail", "ADD");
    assert_string_equal(json_string_value(json_object_get(in, "name")), NETWORK);
    assert_string_equal(json_string_value(json_object_get(in, "cniVersion")), "1.0.0");
    assert_string_equal(json_string_value(json_object_get(in, "type")), "hearth-fail");
    assert_null(json_object_get(in, "capabilities"));
    json_t *custom = json_object_get(in, "custom");
    assert_int_equal(json_integer_value(json_array_get(custom, 0)), 1);
    assert_string_equal(json_string_value(json_array_get(custom, 1)), "two");
    json_t *rc = json_object_get(in, "runtimeConfig");
    assert_int_equal(json_object_size(rc), 1);
    char *maps = json_dumps(json_object_get(rc, "portMappings"), JSON_COMPACT);
    assert_string_equal(maps, "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
                              "{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"udp\","
                              "\"hostIP\":\"127.0.0.1\"}]");
    free(maps);
    json_t *prev = json_object_get(in, "prevResult");
    const char *addr = json_string_value(
        json_object_get(json_array_get(json_object_get(prev, "ips"), 0), "address"));
    assert_non_null(addr);
    assert_true(str_starts_with(addr, "10.77."));
    /* DEL had the same result as prevResult. */
    json_t *del = given(f, "hearth-fail", "DEL");
    assert_true(json_equal(json_object_get(del, "prevResult"), prev));
    json_decref(del);
    json_decref(in);

    /* Nothing is left: no reservation, no veth. */
    assert_int_equal(reservations(f, NETWORK, NULL, 0), 0);
    assert_int_equal(veth_count(), veths);
    net_cni_conf_release(&c);
}

static void test_plugin_fails_without_error_object(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct net_cni_conf c = {0};
    chain_conf(f, "hearth-mute", &c);
    struct net_cni_args a;
    args_init(f, &a, NULL, 0);
    assert_int_equal(net_netns_create(f->ns, &err), 0);
    int veths = veth_count();
    char *result = NULL;
    assert_int_equal(net_cni_add(&c, &a, &result, &err), -EIO);
    const char *want[] = {"cni plugin 'hearth-mute'", c.file, "failed ADD", "only stderr here"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        if (!strstr(err.msg, want[i]))
            fail_msg("expected '%s' in: %s", want[i], err.msg);
    /* Without the capability provided, no runtimeConfig at all. */
    json_t *in = given(f, "hearth-mute", "ADD");
    assert_null(json_object_get(in, "runtimeConfig"));
    json_decref(in);
    assert_int_equal(reservations(f, NETWORK, NULL, 0), 0);
    assert_int_equal(veth_count(), veths);
    net_cni_conf_release(&c);
}

static void test_plugin_missing(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct net_cni_conf c = {0};
    chain_conf(f, "hearth-nowhere", &c);
    struct net_cni_args a;
    args_init(f, &a, NULL, 0);
    assert_int_equal(net_netns_create(f->ns, &err), 0);
    char *result = NULL;
    assert_int_equal(net_cni_add(&c, &a, &result, &err), -ENOENT);
    if (!strstr(err.msg, "'hearth-nowhere'") || !strstr(err.msg, f->path) ||
        !strstr(err.msg, c.file))
        fail_msg("%s", err.msg);
    /* Found missing before anything ran: host-local was never asked. */
    char store[200];
    snprintf(store, sizeof(store), "%s/" NETWORK, f->data);
    assert_int_equal(access(store, F_OK), -1);
    net_cni_conf_release(&c);

    /* DEL runs every plugin though one is missing, and says which. */
    chain_conf(f, "hearth-pass", &c);
    assert_int_equal(net_cni_add(&c, &a, &result, &err), 0);
    assert_int_equal(reservations(f, NETWORK, NULL, 0), 1);
    struct net_cni_args nobin = a;
    nobin.path = CNI_BIN;
    assert_int_equal(net_cni_del(&c, &nobin, result, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "'hearth-pass'"));
    assert_int_equal(reservations(f, NETWORK, NULL, 0), 0);
    /* The passing plugin got the bridge's result on ADD and gave it back as the list's. */
    json_t *in = given(f, "hearth-pass", "ADD");
    json_t *res = json_loads(result, 0, NULL);
    assert_true(json_equal(json_object_get(in, "prevResult"), res));
    json_decref(res);
    json_decref(in);
    free(result);
    net_cni_conf_release(&c);
}

static void test_plugin_timeout(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    struct net_cni_conf c = {0};
    conf_write(f, "60-slow.conflist",
               "{\"cniVersion\": \"1.0.0\", \"name\": \"slow\", \"plugins\": [{\"type\": "
               "\"hearth-slow\"}]}",
               &c);
    struct net_cni_args a;
    args_init(f, &a, NULL, 0);
    a.timeout_ms = 1000;
    assert_int_equal(net_netns_create(f->ns, &err), 0);
    char *result = NULL;
    assert_int_equal(net_cni_add(&c, &a, &result, &err), -ETIMEDOUT);
    if (!strstr(err.msg, "cni plugin 'hearth-slow'") || !strstr(err.msg, "1000 ms"))
        fail_msg("%s", err.msg);
    net_cni_conf_release(&c);
}

/* CHECK is not in the spec before 0.4.0, and disableCheck turns it off: nothing runs. */
static void test_check_skipped(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    const char *lists[] = {
        "{\"cniVersion\": \"0.3.1\", \"name\": \"old\", \"plugins\": [{\"type\": "
        "\"hearth-fail\"}]}",
        "{\"cniVersion\": \"1.0.0\", \"name\": \"off\", \"disableCheck\": true, \"plugins\": "
        "[{\"type\": \"hearth-fail\"}]}",
    };
    struct net_cni_args a;
    args_init(f, &a, NULL, 0);
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        struct net_cni_conf c = {0};
        assert_int_equal(net_cni_conf_parse("list", lists[i], &c, &err), 0);
        assert_int_equal(net_cni_check(&c, &a, "{}", &err), 0);
        net_cni_conf_release(&c);
    }
    char *log = log_of(f, "hearth-fail");
    assert_string_equal(log, "");
    free(log);
    /* A 1.0.0 list does run it. */
    struct net_cni_conf c = {0};
    assert_int_equal(net_cni_conf_parse("list",
                                        "{\"cniVersion\": \"1.0.0\", \"name\": \"on\", "
                                        "\"plugins\": [{\"type\": \"hearth-pass\"}]}",
                                        &c, &err),
                     0);
    assert_int_equal(net_cni_check(&c, &a, "{\"ips\": []}", &err), 0);
    log = log_of(f, "hearth-pass");
    assert_true(str_starts_with(log, "CHECK " CID));
    free(log);
    /* Bad arguments are refused before anything runs. */
    a.container_id = "no/slash";
    assert_int_equal(net_cni_check(&c, &a, "{}", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'no/slash'"));
    net_cni_conf_release(&c);
}

const struct CMUnitTest net_cni_tests[] = {
    cmocka_unit_test_setup_teardown(test_default_add_check_del, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ptp_add_check_del, setup, teardown),
    cmocka_unit_test_setup_teardown(test_plugin_fails, setup, teardown),
    cmocka_unit_test_setup_teardown(test_plugin_fails_without_error_object, setup, teardown),
    cmocka_unit_test_setup_teardown(test_plugin_missing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_plugin_timeout, setup, teardown),
    cmocka_unit_test_setup_teardown(test_check_skipped, setup, teardown),
};
const size_t net_cni_tests_n = ARRAY_SIZE(net_cni_tests);
