/* The cli tests (one executable, test_cli): the template engine, the command table, and docs/cli.md
 * against the table. */
#ifndef HEARTH_CLI_TEST_H
#define HEARTH_CLI_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/cli_priv.h"

/* template_test.c: -t/--template's subset of Go templates. */
extern const struct CMUnitTest cli_template_tests[];
extern const size_t cli_template_tests_n;

/* table_test.c: the command table (names, aliases, short flags) and what is written from it. */
extern const struct CMUnitTest cli_table_tests[];
extern const size_t cli_table_tests_n;

/* docs_test.c: docs/cli.md documents every command, alias and flag, and the schema version. */
extern const struct CMUnitTest cli_docs_tests[];
extern const size_t cli_docs_tests_n;

#endif
