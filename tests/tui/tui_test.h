/* The tui tests (one executable, test_tui): the dashboard's model, without curses. */
#ifndef HEARTH_TUI_TEST_H
#define HEARTH_TUI_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testrun.h"

#include "tui/tui_priv.h"

/* model_test.c: tables, filter, sort, selection, scrolling, layout, pager, form, keys. */
extern const struct CMUnitTest tui_model_tests[];
extern const size_t tui_model_tests_n;

/* describe_test.c: describe and the operations screen against a real engine on a temporary root. */
extern const struct CMUnitTest tui_describe_tests[];
extern const size_t tui_describe_tests_n;

#endif
