/* test_vmm: every group of the vmm module's tests. */
#include "vmm_test.h"

int main(void) {
    int failed = 0;
    failed += firecracker_tests_run();
    failed += net_tests_run();
    failed += qemu_tests_run();
    return test_exit_status(failed);
}
