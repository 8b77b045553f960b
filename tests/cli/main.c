/* The cli test executable: the template, table and docs groups. */
#include "cli_test.h"

int main(void) {
    int failed = 0;
    failed += _cmocka_run_group_tests("cli_template", cli_template_tests, cli_template_tests_n,
                                      NULL, NULL);
    failed += _cmocka_run_group_tests("cli_table", cli_table_tests, cli_table_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("cli_docs", cli_docs_tests, cli_docs_tests_n, NULL, NULL);
    return failed ? 1 : 0;
}
