/* test_oci: every group of the oci module's tests (HEARTH_OCI_GROUP=NAME: only that one). */
#include <stdlib.h>
#include <string.h>

#include "oci_test.h"

static int want(const char *group) {
    const char *only = getenv("HEARTH_OCI_GROUP");
    return !only || !*only || !strcmp(only, group);
}

int main(void) {
    int failed = 0;
    if (want("registry"))
        failed += registry_tests_run();
    if (want("unpack"))
        failed += unpack_tests_run();
    if (want("ext4_write"))
        failed += ext4_write_tests_run();
    return failed ? 1 : 0;
}
