/* The test groups of test_vmm; each returns its number of failed tests. */
#ifndef HEARTH_TESTS_VMM_TEST_H
#define HEARTH_TESTS_VMM_TEST_H

#include "testrun.h"

int firecracker_tests_run(void); /* the firecracker client against the spec-checking fake */
int qemu_tests_run(void);        /* qemu argv, QMP, KVM probe, a real TCG boot */
int net_tests_run(void);         /* the network modes: qemu and passt argv, checks, passt start */

#endif
