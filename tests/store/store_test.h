/*
 * Shared pieces of the store tests: temporary directories, object builders
 * and a field-by-field comparison of objects.
 */
#ifndef HEARTH_TEST_STORE_H
#define HEARTH_TEST_STORE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testrun.h"

#include "store/store.h"
#include "store/store_priv.h"

/* Per-test state: a fresh directory and the database path inside it. */
struct tctx {
    char dir[256];
    char path[300];
    store *s;
};

int tctx_setup(void **state);    /* makes the directory, opens s at path */
int tctx_teardown(void **state); /* closes s, removes the directory */

/* A VM with every field set, including lists; i varies names and values. */
struct api_object *make_vm(const char *uid, const char *name, int i);
struct api_object *make_image(const char *uid, const char *name);
struct api_object *make_kernel(const char *uid, const char *name);

/* Asserts that a and b hold the same fields (cmocka failure otherwise). */
void assert_object_equal(const struct api_object *a, const struct api_object *b);

/* Runs sql through the connection's raw handle and returns the first column of the first row. */
int64_t raw_int(store *s, const char *sql);
void raw_exec(store *s, const char *sql);

/* Test groups, one per file. */
int run_object_tests(void);
int run_migration_tests(void);
int run_sql_tests(void);
int run_concurrency_tests(void);
int run_journal_tests(void);
int run_fault_tests(void);
int run_summary_tests(void);
int run_readonly_tests(void);
int run_check_tests(void);

#endif
