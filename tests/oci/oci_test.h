/* The test groups of test_oci; each returns its number of failed tests. */
#ifndef HEARTH_TESTS_OCI_TEST_H
#define HEARTH_TESTS_OCI_TEST_H

#include "testrun.h"

int registry_tests_run(void);   /* references, sources, pulling (registry_test.c and friends) */
int unpack_tests_run(void);     /* layers, whiteouts, hostile tars, ext4, kernels (unpack_test.c) */
int ext4_write_tests_run(void); /* files into ext4 images by debugfs (ext4_write_test.c) */

#endif
