/* The tui test executable: the model groups and the describe group. */
#include "tui_test.h"

int main(void) {
    int failed = 0;
    failed += _cmocka_run_group_tests("tui_model", tui_model_tests, tui_model_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("tui_describe", tui_describe_tests, tui_describe_tests_n,
                                      NULL, NULL);
    return test_exit_status(failed);
}
