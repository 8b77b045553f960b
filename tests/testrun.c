/* Skips, exit status and needed programs of the cmocka executables (testrun.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
