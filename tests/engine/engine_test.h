/* Test lists of the engine tests (one executable, test_engine). */
#ifndef HEARTH_ENGINE_TEST_H
#define HEARTH_ENGINE_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>

#include "testrun.h"

#include "engine/engine.h"
#include "engine/engine_priv.h"

/* Closes *eng (if open) and opens root again, as the next command would:
 * recovery runs. Fails the test when the open fails. (helpers.c) */
void engine_test_reopen(const char *root, engine **eng);
/*
 * The crash test's run: closes *eng (if open), runs fn(e, ud) in a child
 * that opens root (its engine e also in *eng there) with HEARTH_FAULT=point,
 * fails the test unless the child died at that fault point
 * (FAULT_EXIT_STATUS), then opens *eng again, so that recovery runs.
 */
void engine_test_crash_child(const char *root, engine **eng, const char *point,
                             void (*fn)(engine *e, void *ud), void *ud);
/*
 * Makes journal row id's owner a process that is gone (a child that exited
 * and was reaped), so that recovery takes the operation for a dead one.
 * Returns that pid.
 */
pid_t engine_test_op_owner_dead(engine *eng, int64_t id);
/* How many objects of kind the engine lists (a failure fails the test). */
size_t engine_test_count(engine *e, enum api_kind kind);
/* Whether the tests run on dm-thin: HEARTH_TEST_DM=1, in the guest of tests/guest. */
bool engine_test_dm(void);
/*
 * The pool of a test's root: the file driver with file_size bytes at
 * <root>/pool/data, or with engine_test_dm and dm_size > 0 dm-thin with
 * dm_size bytes of data and dm_metadata_size of metadata. Fails the test when
 * the init fails.
 */
void engine_test_pool_init(engine *eng, const char *root, uint64_t file_size, uint64_t dm_size,
                           uint64_t dm_metadata_size);
/* Removes a test's temporary tree, never following symlinks. */
void engine_test_rmtree(const char *dir);
/* What `hearth doctor` finds (each finding printed); fails the test if doctor fails. */
size_t engine_test_doctor_count(engine *eng);
/* Entries of <root>/<sub>, each printed (0 when it does not exist). */
size_t engine_test_entries(const char *root, const char *sub);
/* The journal's operations still in flight (each printed). */
size_t engine_test_open_ops(engine *eng);
/*
 * Writes an OCI layout at dir (made if missing) holding one image tagged
 * tag whose only layer is the uncompressed tar layer[0..len): the blobs, a
 * config, a manifest, index.json and oci-layout. The config's digest goes to
 * ret_config_digest when it is not NULL.
 */
void engine_test_layout_write(const char *dir, const char *tag, const void *layer, size_t len,
                              char ret_config_digest[72]);

/* An entry of engine_test_tree_layout's layer: a file, a symlink or (neither) a directory. */
struct engine_test_entry {
    const char *name;
    const char *content; /* a file */
    const char *link;    /* a symlink to this */
};
/* An OCI layout at dir holding one image tagged tag whose one layer holds ents. */
void engine_test_tree_layout(const char *dir, const char *tag, const struct engine_test_entry *ents,
                             size_t n);
/*
 * Imports the newest /boot/vmlinuz-* as kernel name, with a tiny fake modules
 * directory made under dir; its uid and version to ret_*. False without a
 * kernel in /boot.
 */
bool engine_test_kernel_import(engine *eng, const char *dir, const char *name,
                               char ret_uid[ID_LEN + 1], char *ret_version, size_t version_size);

/*
 * A tmpfs of size ("8m") mounted at dir (made if missing), for a filesystem
 * that a test fills; skips the test unless running as root. Unmounted by
 * engine_test_umount.
 */
void engine_test_tmpfs_mount(const char *dir, const char *size);
void engine_test_umount(const char *dir);
/* Writes path until its filesystem has at most leave bytes free. */
void engine_test_fill(const char *path, uint64_t leave);

/*
 * The test lists. A run on the host takes every list; the dm-thin guest's run
 * (HEARTH_TEST_DM=1, ctest's engine_dm_guest) takes the pool, vm_create and
 * vm_run lists but not the *_host ones, which do not apply there.
 */

/* The pool tests (pool_test.c): the file driver, or dm-thin with HEARTH_TEST_DM=1. */
extern const struct CMUnitTest engine_pool_tests[];
extern const size_t engine_pool_tests_n;
/* The file driver's defaults and a full filesystem: host runs only. */
extern const struct CMUnitTest engine_pool_host_tests[];
extern const size_t engine_pool_host_tests_n;

/* The image and kernel import tests (image_test.c): file pool, real oci module. */
extern const struct CMUnitTest engine_image_tests[];
extern const size_t engine_image_tests_n;

/* A kernel's files (kernel_files_test.c): a full filesystem (root only), the record, doctor. */
extern const struct CMUnitTest engine_kernel_files_tests[];
extern const size_t engine_kernel_files_tests_n;

/* The table of operations and one operation's transactions (ops_test.c). */
extern const struct CMUnitTest engine_ops_tests[];
extern const size_t engine_ops_tests_n;
/* Staging under <root>/tmp (staging_test.c): the cleanup at open, doctor's strays. */
extern const struct CMUnitTest engine_staging_tests[];
extern const size_t engine_staging_tests_n;

/* The VM create tests (vm_create_test.c): file pool, a kernel from /boot. */
extern const struct CMUnitTest engine_vm_create_tests[];
extern const size_t engine_vm_create_tests_n;

/* The VM runtime tests (vm_run_test.c): start, stop, kill, monitor, logs, attach, crashes. */
extern const struct CMUnitTest engine_vm_run_tests[];
extern const size_t engine_vm_run_tests_n;
/* One real boot under QEMU: host runs only. */
extern const struct CMUnitTest engine_vm_run_host_tests[];
extern const size_t engine_vm_run_host_tests_n;

/* The tests of apply then start, restore from an export and local references (vm_restore_test.c).
 */
extern const struct CMUnitTest engine_vm_restore_tests[];
extern const size_t engine_vm_restore_tests_n;

#endif
