/*
 * Tests for pool: the file driver on the host (also on an XFS loop mount with
 * reflinks, as root), the thin metadata reader, and the dm-thin driver when
 * HEARTH_TEST_DM=1 (inside the QEMU guest of tests/guest, which runs the file
 * driver's tests again but not the host-only ones).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool_test.h"
#include "util/util.h"

int tdir_make(struct tdir *t, const char *base) {
    if (!base || !*base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(t->path, sizeof(t->path), "%s/hearth-pool-XXXXXX", base);
    return mkdtemp(t->path) ? 0 : -errno;
}

void tdir_remove(struct tdir *t) {
    const char *argv[] = {"rm", "-rf", "--one-file-system", t->path, NULL};
    struct error err;
    if (t->path[0] && exec_run(argv, NULL, &err) < 0)
        fprintf(stderr, "cleanup: %s\n", err.msg);
}

int tdir_setup(void **state) {
    struct tdir *t = calloc(1, sizeof(*t));
    if (!t || tdir_make(t, NULL) < 0) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

int tdir_teardown(void **state) {
    struct tdir *t = *state;
    tdir_remove(t);
    free(t);
    return 0;
}

static unsigned char pattern_byte(unsigned seed, off_t pos) {
    uint64_t x = (uint64_t)pos * 2654435761u + seed * 40503u;
    return (unsigned char)((x >> 13) ^ (x >> 5) ^ 0x5a);
}

void pattern_write(int fd, off_t off, size_t len, unsigned seed) {
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern_byte(seed, off + (off_t)i);
    assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
    free(buf);
}

void pattern_check(int fd, off_t off, size_t len, unsigned seed) {
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_byte(seed, off + (off_t)i))
            fail_msg("pattern differs at byte %lld", (long long)(off + (off_t)i));
    free(buf);
}

void zeros_check(int fd, off_t off, size_t len) {
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
    for (size_t i = 0; i < len; i++)
        if (buf[i])
            fail_msg("non-zero byte at %lld", (long long)(off + (off_t)i));
    free(buf);
}

void run_ok(const char *const *argv) {
    struct error err;
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("%s", err.msg);
}

int main(void) {
    int failed = 0;
    failed += _cmocka_run_group_tests("pool_file", pool_file_tests, pool_file_tests_n, NULL, NULL);
    const char *dm = getenv("HEARTH_TEST_DM");
    if (dm && strcmp(dm, "1") == 0) {
        failed += _cmocka_run_group_tests("pool_thin_dm", pool_thin_dm_tests, pool_thin_dm_tests_n,
                                          NULL, NULL);
        return test_exit_status(failed);
    }
    failed += _cmocka_run_group_tests("pool_file_host", pool_file_host_tests,
                                      pool_file_host_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("pool_thin_host", pool_thin_host_tests,
                                      pool_thin_host_tests_n, NULL, NULL);
    return test_exit_status(failed);
}
