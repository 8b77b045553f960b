/*
 * dnsmasq and its host files (net dnsmasq.c), in the test's namespace: one
 * process per directory, reused, stopped; and a real DHCP exchange, busybox
 * udhcpc in a second namespace behind a veth on the bridge getting the
 * address of its host file; an address given to a second MAC once the
 * first's lease is released, or dnsmasq started again.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

#define BRIDGE "hearth1"
#define UID1 "0a1b2c3d4e5f6071"
#define UID2 "1111222233334444"

struct fixture {
    char tmp[64];
    char dir[128]; /* dnsmasq's directory (made by ensure) */
    struct net_subnet s;
};

static void run_cmd(const char *const *argv) {
    struct error err;
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("%s", err.msg);
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    struct error err;
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/hearth-net-XXXXXX");
    if (!mkdtemp(f->tmp))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/net/" BRIDGE, f->tmp);
    if (net_subnet_parse("10.62.0.0/16", &f->s, &err) < 0 || net_bridge_ensure(BRIDGE, &f->s, &err))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    struct error err;
    /* Whatever failed, no dnsmasq outlives the test. */
    if (net_dnsmasq_stop(f->dir, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    if (net_bridge_delete(BRIDGE, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    const char *argv[] = {"rm", "-rf", f->tmp, NULL};
    if (exec_run(argv, NULL, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    free(f);
    return 0;
}

/* The processes running /usr/sbin/dnsmasq with dir's pid file in argv. */
static int dnsmasq_count(const char *dir) {
    char want[256];
    snprintf(want, sizeof(want), "--pid-file=%s/dnsmasq.pid", dir);
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t pid;
        char argv[8192];
        size_t argc;
        if (parse_u64(e->d_name, 1u << 22, &pid) < 0 ||
            proc_cmdline((int)pid, argv, sizeof(argv), &argc) < 0 || argc == 0 ||
            strcmp(argv, "/usr/sbin/dnsmasq") != 0)
            continue;
        const char *a = argv;
        for (size_t i = 0; i < argc; i++, a += strlen(a) + 1)
            n += strcmp(a, want) == 0;
    }
    closedir(d);
    return n;
}

static void read_text(const char *path, char *buf, size_t size) {
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    assert_int_equal(strbuf_read_file(&sb, path, size - 1, &err), 0);
    snprintf(buf, size, "%s", sb.buf ? sb.buf : "");
    strbuf_release(&sb);
}

static void test_dnsmasq_once(void **state) {
    struct fixture *f = *state;
    struct error err;
    int pid = 0, again = 0;
    assert_int_equal(net_dnsmasq_pid(f->dir), 0);
    assert_int_equal(net_dnsmasq_ensure(f->dir, BRIDGE, &f->s, &pid, &err), 0);
    assert_true(pid > 0);
    assert_int_equal(net_dnsmasq_pid(f->dir), pid);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(net_dnsmasq_ensure(f->dir, BRIDGE, &f->s, &again, &err), 0);
    assert_int_equal(again, pid);
    assert_int_equal(dnsmasq_count(f->dir), 1);

    /* A pid file naming a process that is not this dnsmasq is not believed. */
    char other[160], path[200];
    snprintf(other, sizeof(other), "%s/other", f->tmp);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(path, sizeof(path), "%s/dnsmasq.pid", other);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%d\n", pid); /* a real dnsmasq, of another directory */
    fclose(fp);
    assert_int_equal(net_dnsmasq_pid(other), 0);
    fp = fopen(path, "w");
    fprintf(fp, "%d\n", (int)getpid());
    fclose(fp);
    assert_int_equal(net_dnsmasq_pid(other), 0);

    /* A bridge that is not there: dnsmasq's own complaint, and nothing left running. */
    error_init(&err);
    assert_true(net_dnsmasq_ensure(other, "nosuch0", &f->s, NULL, &err) < 0);
    assert_non_null(strstr(err.msg, "dnsmasq"));
    assert_non_null(strstr(err.msg, "nosuch0"));
    assert_int_equal(dnsmasq_count(other), 0);

    /* Its directory removed under it (a root's run/ cleared): the next ensure ends the orphan,
     * which still holds the bridge's ports, and starts one dnsmasq. */
    char pidfile[200];
    snprintf(pidfile, sizeof(pidfile), "%s/dnsmasq.pid", f->dir);
    assert_int_equal(unlink(pidfile), 0);
    assert_int_equal(net_dnsmasq_pid(f->dir), 0);
    error_init(&err);
    if (net_dnsmasq_ensure(f->dir, BRIDGE, &f->s, &again, &err) < 0)
        fail_msg("ensure over an orphan: %s", err.msg);
    assert_true(again > 0 && again != pid);
    assert_int_equal(dnsmasq_count(f->dir), 1);
    pid = again;

    assert_int_equal(net_dnsmasq_stop(f->dir, &err), 0);
    assert_int_equal(net_dnsmasq_pid(f->dir), 0);
    assert_int_equal(dnsmasq_count(f->dir), 0);
    assert_true(kill(pid, 0) < 0 || net_dnsmasq_pid(f->dir) != pid);
    assert_int_equal(net_dnsmasq_stop(f->dir, &err), 0); /* stopped already */
    assert_int_equal(net_dnsmasq_ensure("relative/dir", BRIDGE, &f->s, NULL, &err), -EINVAL);
}

static void test_hostfiles(void **state) {
    struct fixture *f = *state;
    struct error err;
    char path[256], text[256];
    assert_int_equal(
        net_hostfile_write(f->dir, UID1, "02:0a:1b:2c:3d:4e", 0x0a3e0005u, "web", &err), 0);
    snprintf(path, sizeof(path), "%s/hosts/" UID1, f->dir);
    read_text(path, text, sizeof(text));
    assert_string_equal(text, "02:0a:1b:2c:3d:4e,10.62.0.5,web\n");
    /* A name dnsmasq would refuse is left out, not the VM's address. */
    assert_int_equal(
        net_hostfile_write(f->dir, UID2, "02:11:11:22:22:33", 0x0a3e0006u, "my_vm", &err), 0);
    snprintf(path, sizeof(path), "%s/hosts/" UID2, f->dir);
    read_text(path, text, sizeof(text));
    assert_string_equal(text, "02:11:11:22:22:33,10.62.0.6\n");

    char **v;
    size_t n;
    assert_int_equal(net_hostfile_list(f->dir, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true((strcmp(v[0], UID1) == 0 && strcmp(v[1], UID2) == 0) ||
                (strcmp(v[0], UID2) == 0 && strcmp(v[1], UID1) == 0));
    net_names_free(v, n);

    assert_int_equal(net_hostfile_write(f->dir, "../x", "02:11:11:22:22:33", 1, "a", &err),
                     -EINVAL);
    assert_int_equal(net_hostfile_write(f->dir, UID1, "02:11:11:22:22", 1, "a", &err), -EINVAL);
    assert_int_equal(net_hostfile_remove(f->dir, UID2, &err), 0);
    assert_int_equal(net_hostfile_remove(f->dir, UID2, &err), 0); /* gone already */
    assert_int_equal(net_hostfile_list(f->dir, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], UID1);
    net_names_free(v, n);
    assert_int_equal(net_hostfile_remove(f->dir, UID1, &err), 0);
    assert_int_equal(net_hostfile_list(f->dir, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    net_names_free(v, n);
}

/* Waits until pid is in a network namespace other than this process's. */
static void wait_other_netns(int pid) {
    char self[64] = "", other[64] = "", path[64];
    assert_true(readlink("/proc/self/ns/net", self, sizeof(self) - 1) > 0);
    snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
    for (int i = 0; i < 1000; i++) {
        memset(other, 0, sizeof(other));
        if (readlink(path, other, sizeof(other) - 1) > 0 && strcmp(other, self) != 0)
            return;
        sleep_ms(10);
    }
    fail_msg("process %d never left this network namespace", pid);
}

/*
 * A guest asking for an address: udhcpc with mac in a namespace of its own,
 * behind a veth on the bridge, tries times (1 s apart). Its output (a
 * "bound IP MASK ROUTER" line when it got one) in out; its status returned.
 */
static int dhcp_ask(struct fixture *f, const char *mac, int tries, char *out, size_t size) {
    struct error err;
    const char *add[] = {"ip",   "link", "add",  "hthv0", "type",
                         "veth", "peer", "name", "hthv1", NULL};
    run_cmd(add);
    const char *attach[] = {"ip", "link", "set", "hthv0", "master", BRIDGE, "up", NULL};
    run_cmd(attach);

    /* The guest: a namespace of its own, where it waits for hthv1 and asks for an address. */
    char script[128], path[128];
    snprintf(script, sizeof(script), "%s/udhcpc.sh", f->tmp);
    snprintf(path, sizeof(path), "%s/udhcpc.out", f->tmp);
    FILE *fp = fopen(script, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\n[ \"$1\" = bound ] && echo \"bound $ip $subnet $router\"\nexit 0\n", fp);
    fclose(fp);
    assert_int_equal(chmod(script, 0700), 0);
    _cleanup_free_ char *sh =
        xasprintf("i=0; until busybox ip link show hthv1 >/dev/null 2>&1; do i=$((i+1)); "
                  "[ $i -gt 500 ] && exit 3; sleep 0.02; done; "
                  "busybox ip link set hthv1 address %s && busybox ip link set hthv1 up && "
                  "exec busybox udhcpc -i hthv1 -f -q -n -t %d -T 1 -s %s",
                  mac, tries, script);
    const char *guest[] = {"unshare", "-n", "busybox", "sh", "-c", sh, NULL};
    int outfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(outfd > 0);
    struct exec_opts o = {.stdout_fd = outfd, .stderr_fd = outfd};
    struct exec_proc p;
    assert_int_equal(exec_start(guest, &o, &p, &err), 0);
    close(outfd);
    wait_other_netns(p.pid);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", p.pid);
    const char *move[] = {"ip", "link", "set", "hthv1", "netns", pid, NULL};
    run_cmd(move);
    int status = -1;
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    read_text(path, out, size);
    /* hthv1 goes with the guest's namespace (the kernel ends it a little later), and its peer. */
    for (int i = 0; i < 1000 && net_link_exists("hthv0"); i++)
        sleep_ms(10);
    assert_false(net_link_exists("hthv0"));
    return status;
}

static void need_dhcp_programs(void) {
    test_need_program("busybox", "busybox-static");
    test_need_program("ip", "iproute2");
    test_need_program("unshare", "util-linux");
}

static void test_dhcp_exchange(void **state) {
    struct fixture *f = *state;
    struct error err;
    need_dhcp_programs();
    char mac[NET_MAC_MAX];
    net_mac_of(UID1, mac);
    assert_int_equal(net_dnsmasq_ensure(f->dir, BRIDGE, &f->s, NULL, &err), 0);
    assert_int_equal(net_hostfile_write(f->dir, UID1, mac, 0x0a3e0042u, "guest", &err), 0);
    char text[4096];
    int status = dhcp_ask(f, mac, 10, text, sizeof(text));
    if (status != 0 || !strstr(text, "bound 10.62.0.66 255.255.0.0 10.62.0.1"))
        fail_msg("udhcpc (status %d) did not get 10.62.0.66:\n%s", status, text);
    char leases[256];
    snprintf(leases, sizeof(leases), "%s/leases", f->dir);
    read_text(leases, text, sizeof(text));
    assert_non_null(strstr(text, mac));
    assert_non_null(strstr(text, "10.62.0.66"));
    assert_int_equal(net_dnsmasq_stop(f->dir, &err), 0);
}

/* Whether dnsmasq's lease file has a lease to mac. */
static bool leased_to(struct fixture *f, const char *mac) {
    char path[256], text[4096];
    snprintf(path, sizeof(path), "%s/leases", f->dir);
    if (access(path, F_OK) < 0)
        return false;
    read_text(path, text, sizeof(text));
    return strstr(text, mac) != NULL;
}

/*
 * An address given to one VM, then (that VM removed) to another: refused
 * to the second while dnsmasq remembers the first's lease, given once the
 * lease is released (and the first's host file is forgotten: without the
 * SIGHUP of net_hostfile_remove the second's is a duplicate), and a
 * dnsmasq started again remembers no lease of the one before.
 */
static void test_dhcp_release(void **state) {
    struct fixture *f = *state;
    struct error err;
    need_dhcp_programs();
    char mac1[NET_MAC_MAX], mac2[NET_MAC_MAX], text[4096];
    net_mac_of(UID1, mac1);
    net_mac_of(UID2, mac2);
    const uint32_t ip = 0x0a3e0042u; /* 10.62.0.66 */
    assert_int_equal(net_dnsmasq_ensure(f->dir, BRIDGE, &f->s, NULL, &err), 0);
    assert_int_equal(net_hostfile_write(f->dir, UID1, mac1, ip, "one", &err), 0);
    int status = dhcp_ask(f, mac1, 10, text, sizeof(text));
    if (status != 0 || !strstr(text, "bound 10.62.0.66 "))
        fail_msg("udhcpc of %s (status %d) did not get 10.62.0.66:\n%s", mac1, status, text);
    assert_true(leased_to(f, mac1));

    /* UID1 removed, UID2 given its address: refused while dnsmasq remembers UID1's lease. */
    assert_int_equal(net_hostfile_remove(f->dir, UID1, &err), 0);
    assert_int_equal(net_hostfile_write(f->dir, UID2, mac2, ip, "two", &err), 0);
    status = dhcp_ask(f, mac2, 2, text, sizeof(text));
    if (status == 0 || strstr(text, "bound "))
        fail_msg("udhcpc of %s got an address dnsmasq still leased to %s:\n%s", mac2, mac1, text);

    assert_int_equal(net_dnsmasq_release(f->dir, BRIDGE, &f->s, ip, mac1, &err), 0);
    assert_false(leased_to(f, mac1));
    status = dhcp_ask(f, mac2, 10, text, sizeof(text));
    if (status != 0 || !strstr(text, "bound 10.62.0.66 "))
        fail_msg("udhcpc of %s (status %d) did not get 10.62.0.66 after the release:\n%s", mac2,
                 status, text);
    assert_true(leased_to(f, mac2));
    /* Nothing to release, or no dnsmasq: fine. */
    assert_int_equal(net_dnsmasq_release(f->dir, BRIDGE, &f->s, ip, mac1, &err), 0);
    assert_int_equal(net_dnsmasq_release(f->dir, BRIDGE, &f->s, ip, "02:zz", &err), -EINVAL);

    /* dnsmasq down when UID2 goes: the next one forgets its lease, and UID1 gets the address. */
    assert_int_equal(net_dnsmasq_stop(f->dir, &err), 0);
    assert_int_equal(net_dnsmasq_release(f->dir, BRIDGE, &f->s, ip, mac2, &err), 0);
    assert_true(leased_to(f, mac2));
    assert_int_equal(net_hostfile_remove(f->dir, UID2, &err), 0);
    assert_int_equal(net_hostfile_write(f->dir, UID1, mac1, ip, "one", &err), 0);
    if (net_dnsmasq_ensure(f->dir, BRIDGE, &f->s, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_false(leased_to(f, mac2));
    status = dhcp_ask(f, mac1, 10, text, sizeof(text));
    if (status != 0 || !strstr(text, "bound 10.62.0.66 "))
        fail_msg("udhcpc of %s (status %d) did not get 10.62.0.66 from a new dnsmasq:\n%s", mac1,
                 status, text);
    assert_int_equal(net_dnsmasq_stop(f->dir, &err), 0);
}

const struct CMUnitTest net_dnsmasq_tests[] = {
    cmocka_unit_test_setup_teardown(test_dnsmasq_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hostfiles, setup, teardown),
    cmocka_unit_test_setup_teardown(test_dhcp_exchange, setup, teardown),
    cmocka_unit_test_setup_teardown(test_dhcp_release, setup, teardown),
};
const size_t net_dnsmasq_tests_n = ARRAY_SIZE(net_dnsmasq_tests);
