/* The test groups of test_util besides main.c's. */
#ifndef HEARTH_TESTS_UTIL_TEST_H
#define HEARTH_TESTS_UTIL_TEST_H

#include <stddef.h>

struct CMUnitTest;

/* exec_test.c: exec_start, exec_finish, exec_run with options, proc_is_alive. */
extern const struct CMUnitTest util_exec_tests[];
extern const size_t util_exec_tests_n;

#endif
