/*
 * What every cmocka executable shares: skipping, the exit status, and the
 * programs a test needs.
 *
 * cmocka's runner returns only the number of failed tests, so a skipped test
 * would count as passed. A test that cannot run here calls test_skip("why"):
 * it prints "SKIP: why" (scripts/test lists these lines at the end) and marks
 * the test skipped; main ends with `return test_exit_status(failed);`, which
 * is 1 when a test failed, else 77 when one was skipped (ctest's
 * SKIP_RETURN_CODE: the entry shows as skipped), else 0.
 *
 * A skip is only for what no package gives (running as root, say). A program
 * that scripts/install-deps installs is a fixture: test_need_program fails
 * the test when it is missing. A test that does not apply to a run (the
 * dm-thin guest against the host) is not skipped but left out of that run's
 * list.
 */
#ifndef HEARTH_TESTRUN_H
#define HEARTH_TESTRUN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Prints "SKIP: <reason>" and counts the skip (test_skip does both and ends the test). */
void test_skip_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Ends the current test as skipped, saying why. */
#define test_skip(...)                                                                             \
    do {                                                                                           \
        test_skip_note(__VA_ARGS__);                                                               \
        skip();                                                                                    \
    } while (0)

/* The number of skips so far. */
int test_skipped(void);

/* The executable's exit status: 1 if failed > 0, else 77 if a test skipped, else 0. */
int test_exit_status(int failed);

/* Whether program is an executable in PATH (or a path that is executable). */
int test_have_program(const char *program);

/* Fails the test unless program is found, naming the Debian package that has it. */
void test_need_program(const char *program, const char *package);

/*
 * As root: moves this process into a network namespace of its own with lo
 * up, so that what a test builds (a VM's bridge, taps, nftables rules,
 * dnsmasq) never touches the host's network. Does nothing when not root.
 * Returns 0, or -1 with the reason printed.
 */
int test_netns_enter(void);

#endif
