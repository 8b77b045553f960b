/*
 * The network modes of vmm: qemu's argv for passt (-netdev stream) and for
 * slirp (-netdev user with the guest's subnet and hostfwd= port maps), a
 * config that sets only tap still being a tap, passt's argv, the checks of
 * forwards and addresses (each naming what is wrong), firecracker refusing
 * the user modes before it sends anything, and passt's start and wait with
 * a program in passt's place that ends at once (the socket it never made,
 * an old socket removed first, a missing program). The real passt and qemu
 * together: tests/integration/vm_passt.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmm_priv.h"
#include "vmm/vmm_test.h"

static const struct vmm_forward forwards[] = {
    {.bind_address = "127.0.0.1", .host_port = 8080, .vm_port = 80},
    {.udp = true, .host_port = 5353, .vm_port = 53},
};

static struct vmm_config user_config(enum vmm_net net) {
    return (struct vmm_config){
        .vm_id = "0123456789abcdef",
        .kernel = "/boot/vmlinuz-test",
        .cmdline = "console=ttyS0",
        .disk = "/var/lib/hearth/disk.img",
        .cpus = 1,
        .memory = 128ull << 20,
        .api_socket = "qmp.sock",
        .mac = "02:00:0a:00:00:07",
        .net = net,
        .passt_socket = "run/pa,sst.sock",
        .forwards = forwards,
        .n_forwards = ARRAY_SIZE(forwards),
        .user_address = "10.77.0.9",
        .user_prefix = 24,
        .user_gateway = "10.77.0.1",
    };
}

/* The value after the first opt in argv, or NULL. */
static const char *value_of(char **argv, const char *opt) {
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], opt) == 0)
            return argv[i + 1];
    return NULL;
}

/* The value of the -device that names netdev=net0. */
static const char *net_device(char **argv) {
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], "-device") == 0 && strstr(argv[i + 1], "netdev=net0"))
            return argv[i + 1];
    return NULL;
}

static void test_qemu_passt(void **state) {
    (void)state;
    struct vmm_config cfg = user_config(VMM_NET_PASST);
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    /* The socket path's comma doubled; the forwards are passt's, not qemu's. */
    assert_string_equal(value_of(argv, "-netdev"),
                        "stream,id=net0,server=off,addr.type=unix,addr.path=run/pa,,sst.sock");
    assert_string_equal(net_device(argv), "virtio-net-device,netdev=net0,mac=02:00:0a:00:00:07");
    assert_null(value_of(argv, "-nic"));
    vmm_argv_free(argv);
}

static void test_qemu_slirp(void **state) {
    (void)state;
    struct vmm_config cfg = user_config(VMM_NET_SLIRP);
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    assert_string_equal(value_of(argv, "-netdev"),
                        "user,id=net0,net=10.77.0.0/24,dhcpstart=10.77.0.9,host=10.77.0.1,"
                        "hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-:53");
    assert_string_equal(net_device(argv), "virtio-net-device,netdev=net0,mac=02:00:0a:00:00:07");
    vmm_argv_free(argv);

    /* Without an address, forwards or gateway: qemu's defaults. */
    cfg.user_address = cfg.user_gateway = NULL;
    cfg.n_forwards = 0;
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    assert_string_equal(value_of(argv, "-netdev"), "user,id=net0");
    vmm_argv_free(argv);

    /* A /30 subnet keeps its own network address. */
    cfg = user_config(VMM_NET_SLIRP);
    cfg.user_address = "10.77.0.6";
    cfg.user_prefix = 30;
    cfg.user_gateway = "10.77.0.5";
    cfg.n_forwards = 0;
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    assert_string_equal(value_of(argv, "-netdev"),
                        "user,id=net0,net=10.77.0.4/30,dhcpstart=10.77.0.6,host=10.77.0.5");
    vmm_argv_free(argv);
}

/* A config that sets tap and mac only, as before vmm_config had net, runs on the tap. */
static void test_qemu_tap_and_none(void **state) {
    (void)state;
    struct vmm_config cfg = user_config(VMM_NET_NONE);
    cfg.tap = "hearth-t1";
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_config_net(&cfg), VMM_NET_TAP);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    assert_string_equal(value_of(argv, "-netdev"),
                        "tap,id=net0,ifname=hearth-t1,script=no,downscript=no");
    vmm_argv_free(argv);

    cfg.tap = NULL;
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    assert_null(value_of(argv, "-netdev"));
    assert_null(net_device(argv));
    assert_string_equal(value_of(argv, "-nic"), "none");
    vmm_argv_free(argv);

    /* The tap mode named without a tap. */
    cfg.net = VMM_NET_TAP;
    argv = NULL;
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "tap device name"));
    assert_null(argv);
    assert_string_equal(vmm_net_name(VMM_NET_PASST), "passt");
    assert_string_equal(vmm_net_name(VMM_NET_SLIRP), "slirp");
}

/* cfg is refused by qemu's argv with -EINVAL (or code) and a message holding want. */
static void expect_refused(const struct vmm_config *cfg, int code, const char *want) {
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", cfg, false, &argv, &err), code);
    assert_null(argv);
    if (!strstr(err.msg, want))
        fail_msg("'%s' does not say '%s'", err.msg, want);
}

static void test_user_net_checks(void **state) {
    (void)state;
    struct vmm_forward f[VMM_FORWARDS_MAX + 1];
    struct vmm_config cfg = user_config(VMM_NET_SLIRP);
    cfg.mac = NULL;
    expect_refused(&cfg, -EINVAL, "the slirp network needs a mac");

    cfg = user_config(VMM_NET_PASST);
    cfg.passt_socket = NULL;
    expect_refused(&cfg, -EINVAL, "passt socket");

    cfg = user_config(VMM_NET_SLIRP);
    f[0] = (struct vmm_forward){.bind_address = "::1", .host_port = 8080, .vm_port = 80};
    cfg.forwards = f;
    cfg.n_forwards = 1;
    expect_refused(&cfg, -EINVAL, "IPv4 addresses only; install passt");
    cfg.net = VMM_NET_PASST; /* passt takes it */
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    vmm_argv_free(argv);

    f[0].bind_address = "127.0.0.1,hostfwd=tcp::22-:22";
    expect_refused(&cfg, -EINVAL, "bind address '127.0.0.1,hostfwd=tcp::22-:22' is not an IP");
    f[0] = (struct vmm_forward){.host_port = 0, .vm_port = 80};
    expect_refused(&cfg, -EINVAL, "ports are 1 to 65535");
    f[0] = (struct vmm_forward){.host_port = 8080, .vm_port = 80};
    f[1] = (struct vmm_forward){.bind_address = "127.0.0.1", .host_port = 8080, .vm_port = 81};
    cfg.n_forwards = 2;
    expect_refused(&cfg, -EINVAL, "host port 8080/tcp is forwarded twice");
    f[1].udp = true; /* the same port number over udp is another forward */
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    vmm_argv_free(argv);
    for (size_t i = 0; i < ARRAY_SIZE(f); i++)
        f[i] = (struct vmm_forward){.host_port = (uint16_t)(1000 + i), .vm_port = 80};
    cfg.n_forwards = ARRAY_SIZE(f);
    expect_refused(&cfg, -E2BIG, "at most 256");

    cfg = user_config(VMM_NET_SLIRP);
    cfg.user_address = "10.77.0";
    expect_refused(&cfg, -EINVAL, "guest address '10.77.0' is not an IPv4 address");
    cfg.user_address = "10.77.0.9";
    cfg.user_prefix = 31;
    expect_refused(&cfg, -EINVAL, "prefix length 31");
    cfg.user_prefix = 0;
    expect_refused(&cfg, -EINVAL, "prefix length 0");
    cfg.user_prefix = 24;
    cfg.user_gateway = "10.78.0.1";
    expect_refused(&cfg, -EINVAL, "gateway '10.78.0.1' is not another address");
    cfg.user_gateway = "10.77.0.9";
    expect_refused(&cfg, -EINVAL, "gateway '10.77.0.9' is not another address");
    cfg.user_gateway = "gw";
    expect_refused(&cfg, -EINVAL, "gateway 'gw' is not an IPv4 address");
}

static void test_passt_argv(void **state) {
    (void)state;
    struct vmm_config cfg = user_config(VMM_NET_PASST);
    struct vmm_passt p = {.binary = "/usr/bin/passt"};
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_passt_argv(&p, &cfg, &argv, &err), 0);
    const char *want[] = {
        "/usr/bin/passt", "-f", "-q", "-e", "--one-off", "-s", "run/pa,sst.sock",   "-a",
        "10.77.0.9",      "-n", "24", "-g", "10.77.0.1", "-t", "127.0.0.1/8080:80", "-u",
        "5353:53"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[ARRAY_SIZE(want)]);
    vmm_argv_free(argv);

    /* --runas, no address (passt then hands out the host's), an IPv6 bind address. */
    const struct vmm_forward six = {.bind_address = "::1", .host_port = 2222, .vm_port = 22};
    cfg.user_address = cfg.user_gateway = NULL;
    cfg.forwards = &six;
    cfg.n_forwards = 1;
    p.runas = "0";
    assert_int_equal(vmm_passt_argv(&p, &cfg, &argv, &err), 0);
    const char *want2[] = {"/usr/bin/passt",  "-f",      "-q", "-e", "--one-off",  "-s",
                           "run/pa,sst.sock", "--runas", "0",  "-t", "::1/2222:22"};
    for (size_t i = 0; i < ARRAY_SIZE(want2); i++)
        assert_string_equal(argv[i], want2[i]);
    assert_null(argv[ARRAY_SIZE(want2)]);
    vmm_argv_free(argv);

    /* Not a passt network; a bad user; a socket path past sun_path. */
    argv = NULL;
    cfg.net = VMM_NET_SLIRP;
    assert_int_equal(vmm_passt_argv(&p, &cfg, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not slirp"));
    cfg.net = VMM_NET_PASST;
    p.runas = "nobody --tcp-ports all";
    assert_int_equal(vmm_passt_argv(&p, &cfg, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "--runas"));
    p.runas = NULL;
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    cfg.passt_socket = longpath;
    assert_int_equal(vmm_passt_argv(&p, &cfg, &argv, &err), -ENAMETOOLONG);
    assert_null(argv);
}

/* Every allocation failure while building passt's argv gives -ENOMEM and leaks nothing. */
static void test_passt_argv_allocation_failures(void **state) {
    (void)state;
    struct vmm_config cfg = user_config(VMM_NET_PASST);
    struct vmm_passt p = {.binary = "passt", .runas = "0"};
    int failures = 0;
    for (long n = 1; n < 1000; n++) {
        char **argv = NULL;
        struct error err;
        error_init(&err);
        util_alloc_fail_after(n);
        int r = vmm_passt_argv(&p, &cfg, &argv, &err);
        util_alloc_fail_after(0);
        if (r == 0) {
            vmm_argv_free(argv);
            break;
        }
        assert_int_equal(r, -ENOMEM);
        assert_null(argv);
        failures++;
    }
    assert_true(failures > 10);
}

static void test_firecracker_refuses_user_net(void **state) {
    (void)state;
    for (enum vmm_net net = VMM_NET_PASST; net <= VMM_NET_SLIRP; net++) {
        struct vmm_config cfg = user_config(net);
        cfg.api_socket = "/nonexistent/api.sock";
        char **argv = NULL;
        struct error err;
        error_init(&err);
        assert_int_equal(vmm_fc_argv("/usr/bin/firecracker", &cfg, &argv, &err), -ENOTSUP);
        assert_null(argv);
        assert_non_null(strstr(err.msg, "firecracker needs a tap"));
        assert_non_null(strstr(err.msg, vmm_net_name(net)));
        assert_non_null(strstr(err.msg, "use --vmm qemu or the bridge network"));
        /* Refused before any request: the error is not about the missing socket. */
        error_init(&err);
        assert_int_equal(vmm_fc_configure_and_start(&cfg, 1000, &err), -ENOTSUP);
        assert_non_null(strstr(err.msg, "firecracker needs a tap"));
    }
}

static void test_passt_spawn_and_wait(void **state) {
    (void)state;
    char dir[] = "/tmp/hearth-vmm-net-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *sock = xasprintf("%s/passt.sock", dir);
    assert_non_null(sock);
    struct vmm_config cfg = user_config(VMM_NET_PASST);
    cfg.passt_socket = sock;
    struct error err;
    error_init(&err);

    /* An old socket at the path, and a "passt" that exits at once: the old
     * socket is gone, and the wait says passt ended instead of finding it. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    struct vmm_passt p = {.binary = "false"};
    struct exec_proc proc;
    assert_int_equal(vmm_passt_spawn(&p, &cfg, -1, &proc, &err), 0);
    struct stat st;
    assert_int_equal(lstat(sock, &st), -1);
    assert_int_equal(vmm_passt_wait(&cfg, proc.pid, 30000, &err), -ECHILD);
    assert_non_null(strstr(err.msg, "passt exited before its socket"));
    int status = 0;
    assert_int_equal(exec_finish(&proc, &status, &err), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);

    /* A socket there and passt alive (pid 0: not checked): ready. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(vmm_passt_wait(&cfg, 0, 1000, &err), 0);
    close(fd);
    unlink(sock);
    /* Nothing there: a bounded wait. */
    assert_int_equal(vmm_passt_wait(&cfg, 0, 50, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "was not there within 50 ms"));

    /* No such program. */
    p.binary = "/nonexistent/passt";
    assert_int_equal(vmm_passt_spawn(&p, &cfg, -1, &proc, &err), -ENOENT);
    assert_int_equal(rmdir(dir), 0);
}

int net_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qemu_passt),
        cmocka_unit_test(test_qemu_slirp),
        cmocka_unit_test(test_qemu_tap_and_none),
        cmocka_unit_test(test_user_net_checks),
        cmocka_unit_test(test_passt_argv),
        cmocka_unit_test(test_passt_argv_allocation_failures),
        cmocka_unit_test(test_firecracker_refuses_user_net),
        cmocka_unit_test(test_passt_spawn_and_wait),
    };
    return cmocka_run_group_tests_name("vmm_net", tests, NULL, NULL);
}
