/*
 * Network namespaces kept by a bind mount (net netns.c): made with lo up,
 * found, entered and left by this thread, refused when there already,
 * deleted (twice is fine). The files are in a temporary directory; the
 * mounts are taken off at the end whatever happened.
 */
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

struct fixture {
    char tmp[64];
    char ns[128];
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/hearth-netns-XXXXXX");
    if (!f || !mkdtemp(f->tmp))
        return -1;
    snprintf(f->ns, sizeof(f->ns), "%s/run/netns/a", f->tmp);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    struct error err;
    if (net_netns_delete(f->ns, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    const char *argv[] = {"rm", "-rf", f->tmp, NULL};
    if (exec_run(argv, NULL, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    free(f);
    return 0;
}

/* The inode of this thread's network namespace: which one it is in. */
static ino_t netns_here(void) {
    struct stat st;
    assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
    return st.st_ino;
}

static bool lo_is_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
    close(fd);
    return ifr.ifr_flags & IFF_UP;
}

static void test_netns_lifecycle(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    assert_false(net_netns_exists(f->ns));
    assert_int_equal(net_netns_create(f->ns, &err), 0);
    assert_true(net_netns_exists(f->ns));

    /* It is a namespace of its own, with lo up and no other link. */
    struct stat st;
    assert_int_equal(stat(f->ns, &st), 0);
    ino_t home = netns_here();
    assert_true(st.st_ino != home);
    int back = -1;
    assert_int_equal(net_netns_enter(f->ns, &back, &err), 0);
    assert_true(back >= 0);
    assert_true(netns_here() == st.st_ino);
    assert_true(lo_is_up());
    struct if_nameindex *links = if_nameindex();
    assert_non_null(links);
    assert_string_equal(links[0].if_name, "lo");
    assert_null(links[1].if_name);
    if_freenameindex(links);
    net_netns_leave(back);
    assert_true(netns_here() == home);

    /* Made again: refused, and the namespace is still the same one. */
    assert_int_equal(net_netns_create(f->ns, &err), -EEXIST);
    assert_non_null(strstr(err.msg, f->ns));
    struct stat again;
    assert_int_equal(stat(f->ns, &again), 0);
    assert_true(again.st_ino == st.st_ino);

    /* Deleted: unmounted and removed; deleting what is gone is fine. */
    assert_int_equal(net_netns_delete(f->ns, &err), 0);
    assert_false(net_netns_exists(f->ns));
    assert_int_equal(access(f->ns, F_OK), -1);
    assert_int_equal(net_netns_delete(f->ns, &err), 0);
}

static void test_netns_not_one(void **state) {
    struct fixture *f = *state;
    struct error err;
    error_init(&err);
    /* A plain file is no namespace: not found, not entered. */
    char plain[160];
    snprintf(plain, sizeof(plain), "%s/plain", f->tmp);
    int fd = open(plain, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_false(net_netns_exists(plain));
    int back = -1;
    assert_int_equal(net_netns_enter(plain, &back, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "is not a network namespace"));
    assert_int_equal(back, -1);
    assert_int_equal(net_netns_enter("/nonexistent/hearth-ns", &back, &err), -ENOENT);

    /* Another kind of namespace on the path is no network namespace either, and stays. */
    char uts[160];
    snprintf(uts, sizeof(uts), "%s/uts", f->tmp);
    fd = open(uts, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mount("/proc/self/ns/uts", uts, "none", MS_BIND, NULL), 0);
    assert_false(net_netns_exists(uts));
    assert_int_equal(net_netns_create(uts, &err), -EEXIST);
    assert_int_equal(umount2(uts, MNT_DETACH), 0);

    /* An empty file left by a create that died before its mount is taken. */
    assert_int_equal(net_netns_create(plain, &err), 0);
    assert_true(net_netns_exists(plain));
    assert_int_equal(net_netns_delete(plain, &err), 0);
    assert_int_equal(access(plain, F_OK), -1);

    /* Paths that are not clean are refused before anything is made. */
    assert_int_equal(net_netns_create("relative/ns", &err), -EINVAL);
    assert_int_equal(net_netns_create("/tmp/../tmp/ns", &err), -EINVAL);
    assert_int_equal(net_netns_delete("", &err), -EINVAL);
    assert_false(net_netns_exists(NULL));
}

const struct CMUnitTest net_netns_tests[] = {
    cmocka_unit_test_setup_teardown(test_netns_lifecycle, setup, teardown),
    cmocka_unit_test_setup_teardown(test_netns_not_one, setup, teardown),
};
const size_t net_netns_tests_n = ARRAY_SIZE(net_netns_tests);
