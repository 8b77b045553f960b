/*
 * A stand-in for a guest on the far end of a link: a busybox shell in a
 * network namespace of its own, given a link of this one (net_test.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

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

void net_test_run(const char *const *argv) {
    struct error err;
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("%s", err.msg);
}

int net_test_ns_sh(const char *link, const char *script, char *out, size_t size) {
    struct error err;
    test_need_program("busybox", "busybox-static");
    test_need_program("unshare", "util-linux");
    test_need_program("ip", "iproute2");
    _cleanup_free_ char *sh =
        xasprintf("i=0; until busybox ip link show %s >/dev/null 2>&1; do i=$((i+1)); "
                  "[ $i -gt 500 ] && echo 'link %s never came' && exit 99; sleep 0.02; done; %s",
                  link, link, script);
    const char *argv[] = {"unshare", "-n", "busybox", "sh", "-c", sh, NULL};
    char path[] = "/tmp/hearth-net-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    struct exec_opts o = {.stdout_fd = fd, .stderr_fd = fd};
    struct exec_proc p;
    if (exec_start(argv, &o, &p, &err) < 0)
        fail_msg("%s", err.msg);
    wait_other_netns(p.pid);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", p.pid);
    const char *move[] = {"ip", "link", "set", link, "netns", pid, NULL};
    net_test_run(move);
    int status = -1;
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    ssize_t n = pread(fd, out, size - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
