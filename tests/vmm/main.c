/* test_vmm: every group of the vmm module's tests. */
#include "vmm_test.h"

int main(void) {
    /* The taps the tests make live in a network namespace of the test's own. */
    if (test_netns_enter() < 0)
        return 1;
    int failed = 0;
    failed += firecracker_tests_run();
    failed += net_tests_run();
    failed += qemu_tests_run();
    return test_exit_status(failed);
}
