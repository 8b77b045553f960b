/* Shared helpers and test lists of the pool tests (one executable, test_pool). */
#ifndef HEARTH_POOL_TEST_H
#define HEARTH_POOL_TEST_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "testrun.h"

#include "pool/pool.h"

#define TEST_MiB (UINT64_C(1) << 20)

struct tdir {
    char path[1024];
};

/* cmocka setup/teardown: a fresh temp directory under base (or $TMPDIR, /tmp). */
int tdir_setup(void **state);
int tdir_teardown(void **state);
int tdir_make(struct tdir *t, const char *base);
void tdir_remove(struct tdir *t);

/* Writes len bytes of a pattern derived from seed and off at off. */
void pattern_write(int fd, off_t off, size_t len, unsigned seed);
/* Asserts that fd holds that pattern at off. */
void pattern_check(int fd, off_t off, size_t len, unsigned seed);
/* Asserts that fd reads zeros over [off, off + len). */
void zeros_check(int fd, off_t off, size_t len);
/* Runs argv and asserts success. */
void run_ok(const char *const *argv);

/*
 * The test lists. A run on the host takes pool_file, pool_file_host and
 * pool_thin_host; the dm-thin guest's run (HEARTH_TEST_DM=1, ctest's
 * pool_dm_guest) takes pool_file and pool_thin_dm.
 */
extern const struct CMUnitTest pool_file_tests[];
extern const size_t pool_file_tests_n;
extern const struct CMUnitTest pool_file_host_tests[];
extern const size_t pool_file_host_tests_n;
extern const struct CMUnitTest pool_thin_host_tests[];
extern const size_t pool_thin_host_tests_n;
extern const struct CMUnitTest pool_thin_dm_tests[];
extern const size_t pool_thin_dm_tests_n;

#endif
