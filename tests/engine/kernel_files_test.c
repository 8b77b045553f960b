/*
 * Tests of a kernel's files and what the host does to them, with Debian's
 * /boot/vmlinuz-* (a bzImage whose vmlinux is extracted at import; a
 * fixture: linux-image-amd64):
 *
 * - an import on a full filesystem (a tmpfs root filled up, so that writing
 *   the extracted vmlinux meets ENOSPC) fails with -ENOSPC naming the file,
 *   leaves no kernel, no files, no staging, nothing open, doctor clean; with
 *   the space freed the same import works and has its vmlinux;
 * - the files an import wrote are recorded with their sizes (the kernels
 *   view lists them); doctor reports a kernel whose recorded file is gone or
 *   has another size (missing-kernel-files), and an import of its name
 *   brings the files back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"

#define MiB (UINT64_C(1) << 20)

struct kfix {
    char dir[256];
    char root[300];
    char vmlinuz[300];
    char mnt[300]; /* a tmpfs mounted here, when not "" */
    engine *eng;
};

static int kf_setup(void **state) {
    struct kfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-kfiles-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    glob_t g;
    if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0) {
        snprintf(f->vmlinuz, sizeof(f->vmlinuz), "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
    }
    *state = f;
    return 0;
}

static int kf_teardown(void **state) {
    struct kfix *f = *state;
    engine_free(f->eng);
    if (f->mnt[0]) { /* a test that failed before its own umount */
        const char *argv[] = {"umount", f->mnt, NULL};
        struct error err;
        error_init(&err);
        if (exec_run(argv, NULL, &err) < 0)
            print_error("%s\n", err.msg);
    }
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

#define NEED_VMLINUZ(f)                                                                            \
    do {                                                                                           \
        if (!(f)->vmlinuz[0])                                                                      \
            fail_msg("no /boot/vmlinuz-*: apt-get install linux-image-amd64 "                      \
                     "(scripts/install-deps)");                                                    \
    } while (0)

static bool is_elf(const char *path) {
    unsigned char m[4] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t n = fread(m, 1, 4, fp);
    fclose(fp);
    return n == 4 && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
}

static uint64_t size_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* The single row of "SELECT files FROM kernels WHERE name = ..." into buf. */
static int files_cell(void *ud, int ncols, const char *const *values,
                      const enum engine_value_type *types) {
    (void)types;
    if (ncols == 1)
        snprintf(ud, 128, "%s", values[0] ? values[0] : "NULL");
    return 0;
}
static int no_columns(void *ud, int ncols, const char *const *names) {
    (void)ud, (void)ncols, (void)names;
    return 0;
}

static void files_of(engine *e, const char *name, char buf[128]) {
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT files FROM kernels WHERE name = '%s'", name);
    buf[0] = '\0';
    struct engine_sql_sink sink = {.columns = no_columns, .row = files_cell, .ud = buf};
    struct error err;
    error_init(&err);
    struct engine_sql_limits limits;
    engine_sql_limits_default(&limits);
    if (engine_sql(e, sql, &limits, &sink, &err) < 0)
        fail_msg("sql: %s", err.msg);
}

/*
 * On a full filesystem the vmlinux cannot be written: the host failed, so
 * the import fails and is undone (it used to warn and record a kernel that
 * Firecracker cannot boot). Once there is room, the same import works.
 */
static void test_kernel_import_full_filesystem(void **state) {
    struct kfix *f = *state;
    NEED_VMLINUZ(f);
    char mnt[300], root[450], filler[450];
    snprintf(mnt, sizeof(mnt), "%s/mnt", f->dir);
    engine_test_tmpfs_mount(mnt, "160m");
    memcpy(f->mnt, mnt, sizeof(mnt)); /* the teardown unmounts it if the test fails */
    snprintf(root, sizeof(root), "%s/root", mnt);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    engine_test_reopen(root, &f->eng);
    /* Room for the bzImage and the database, not for the vmlinux (several times its size). */
    engine_test_fill(filler, size_of(f->vmlinuz) + 4 * MiB);

    struct engine_kernel_local files = {.vmlinux = f->vmlinuz};
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    int r = engine_kernel_import_files(f->eng, "full:1", &files, NULL, &res, &err);
    print_message("  import on a full filesystem: %s\n", err.msg);
    assert_int_equal(r, -ENOSPC);
    assert_non_null(strstr(err.msg, "vmlinux"));
    assert_non_null(strstr(err.msg, strerror(ENOSPC)));
    assert_non_null(strstr(err.msg, "free space"));
    assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 0);
    assert_int_equal(engine_test_entries(root, "kernel"), 0);
    assert_int_equal(engine_test_entries(root, "tmp"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);

    /* Space back: the same import, complete. */
    assert_int_equal(unlink(filler), 0);
    error_init(&err);
    if (engine_kernel_import_files(f->eng, "full:1", &files, NULL, &res, &err) < 0)
        fail_msg("import with space: %s", err.msg);
    assert_false(res.existed);
    assert_null(strstr(res.warning, "extracted"));
    char *vmlinux = NULL;
    assert_int_equal(engine_kernel_file(f->eng, res.uid, "vmlinux", &vmlinux, &err), 0);
    assert_true(is_elf(vmlinux));
    free(vmlinux);
    assert_int_equal(engine_test_entries(root, "tmp"), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
    engine_free(f->eng);
    f->eng = NULL;
    engine_test_umount(mnt);
    f->mnt[0] = '\0';
}

/* A kernel whose files are not what its import recorded: doctor says so; an import restores them.
 */
static void test_kernel_files_checked(void **state) {
    struct kfix *f = *state;
    NEED_VMLINUZ(f);
    engine_test_reopen(f->root, &f->eng);
    struct engine_kernel_local files = {.vmlinux = f->vmlinuz};
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import_files(f->eng, "checked:1", &files, NULL, &res, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    char cell[128];
    files_of(f->eng, "checked:1", cell);
    assert_string_equal(cell, "vmlinux,vmlinuz");
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
    char *vmlinux = NULL;
    assert_int_equal(engine_kernel_file(f->eng, res.uid, "vmlinux", &vmlinux, &err), 0);
    uint64_t want = size_of(vmlinux);

    for (int round = 0; round < 2; round++) {
        /* Cut short (as a full disk would have), then gone. */
        if (round == 0)
            assert_int_equal(truncate(vmlinux, 4096), 0);
        else
            assert_int_equal(unlink(vmlinux), 0);
        struct engine_doctor_report rep = {0};
        assert_int_equal(engine_doctor(f->eng, true, &rep, &err), 0);
        assert_int_equal(rep.n, 1);
        print_message("  doctor: %s: %s\n", rep.items[0].kind, rep.items[0].message);
        assert_string_equal(rep.items[0].kind, "missing-kernel-files");
        assert_non_null(strstr(rep.items[0].message, "vmlinux"));
        assert_non_null(strstr(rep.items[0].message, round == 0 ? "(4096 bytes)" : "is missing"));
        assert_non_null(strstr(rep.items[0].message, "hearth kernel import --vmlinux"));
        assert_false(rep.items[0].repaired); /* no repair: the data is not here */
        engine_doctor_report_release(&rep);
        bool have = true;
        assert_int_equal(engine_object_has_data(f->eng, API_KIND_KERNEL, res.uid, &have, &err), 0);
        assert_false(have);

        /* The import of its name brings the files back into the same kernel. */
        struct engine_import_result again;
        error_init(&err);
        if (engine_kernel_import_files(f->eng, "checked:1", &files, NULL, &again, &err) < 0)
            fail_msg("import again: %s", err.msg);
        assert_string_equal(again.uid, res.uid);
        assert_true(is_elf(vmlinux));
        assert_int_equal(size_of(vmlinux), want);
        assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 1);
        assert_int_equal(engine_test_doctor_count(f->eng), 0);
        assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    }
    free(vmlinux);
}

const struct CMUnitTest engine_kernel_files_tests[] = {
    cmocka_unit_test_setup_teardown(test_kernel_import_full_filesystem, kf_setup, kf_teardown),
    cmocka_unit_test_setup_teardown(test_kernel_files_checked, kf_setup, kf_teardown),
};
const size_t engine_kernel_files_tests_n = ARRAY_SIZE(engine_kernel_files_tests);
