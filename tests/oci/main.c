/* test_oci: every group of the oci module's tests. */
#include "oci_test.h"

int main(void) {
    int failed = 0;
    failed += registry_tests_run();
    failed += unpack_tests_run();
    failed += ext4_write_tests_run();
    return test_exit_status(failed);
}
