/*
 * test_store: the store module against real SQLite files in temporary
 * directories. Each file holds one group; main runs them all.
 */
#include "store/store_test.h"

int main(void) {
    int failed = 0;
    failed += run_object_tests();
    failed += run_migration_tests();
    failed += run_sql_tests();
    failed += run_journal_tests();
    failed += run_concurrency_tests();
    failed += run_fault_tests();
    failed += run_summary_tests();
    failed += run_readonly_tests();
    failed += run_check_tests();
    return test_exit_status(failed);
}
