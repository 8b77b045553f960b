/* Skips, exit status and needed programs of the cmocka executables (testrun.h). */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testrun.h"

static int skips; /* test-only: the skips of this process, for test_exit_status */

void test_skip_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    skips++;
}

int test_skipped(void) {
    return skips;
}

int test_exit_status(int failed) {
    if (failed > 0)
        return 1;
    if (skips > 0) {
        printf("%d test(s) skipped: exit status 77\n", skips);
        return 77;
    }
    return 0;
}

int test_have_program(const char *program) {
    if (strchr(program, '/'))
        return access(program, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    char buf[PATH_MAX];
    while (*path) {
        size_t n = strcspn(path, ":");
        int len = snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, program);
        if (len > 0 && (size_t)len < sizeof(buf) && access(buf, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

void test_need_program(const char *program, const char *package) {
    if (!test_have_program(program))
        fail_msg("%s is not installed: apt-get install %s (scripts/install-deps installs it)",
                 program, package);
}

int test_netns_enter(void) {
    if (geteuid() != 0)
        return 0;
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int r = fd < 0 ? -1 : ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    if (r < 0)
        fprintf(stderr, "bringing lo up: %s\n", strerror(errno));
    if (fd >= 0)
        close(fd);
    return r < 0 ? -1 : 0;
}
