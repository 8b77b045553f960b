/*
 * Tests of where operations stage their work: <root>/tmp, each entry tied
 * to a journal row by its name (import-<uid>, kernel-<uid>, vm-<uid>,
 * layer-<id>). At engine_open what no open operation of a live process owns
 * is removed, with no doctor --repair; what a live operation owns is never
 * touched; a name no operation makes is left for doctor, which reports it
 * and removes it with --repair.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

struct sfix {
    char dir[256];
    char root[300];
    engine *eng;
};

static int sf_setup(void **state) {
    struct sfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-staging-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    engine_test_reopen(f->root, &f->eng);
    *state = f;
    return 0;
}

static int sf_teardown(void **state) {
    struct sfix *f = *state;
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Makes <root>/tmp/name, a directory holding a file, or a file. */
static void leftover(struct sfix *f, const char *name, bool dir) {
    char path[600];
    snprintf(path, sizeof(path), "%s/tmp", f->root);
    (void)mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/tmp/%s", f->root, name);
    if (dir) {
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/tmp/%s/authorized_keys", f->root, name);
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("ssh-ed25519 AAAA private\n", fp);
    fclose(fp);
}

static bool tmp_has(struct sfix *f, const char *name) {
    char path[600];
    snprintf(path, sizeof(path), "%s/tmp/%s", f->root, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void test_staging_cleanup_at_open(void **state) {
    struct sfix *f = *state;
    static const char uid_b[] = "fedcba9876543210";
    struct error err;
    error_init(&err);
    /* Live operations of this process: an import of uid_b, a layer build of device 9. */
    int64_t op_import = 0, op_layer = 0;
    assert_int_equal(store_op_begin(f->eng->store, "image.import", API_KIND_IMAGE, uid_b, "intent",
                                    &op_import, &err),
                     0);
    assert_int_equal(store_op_begin_device(f->eng->store, "vm.layer", API_KIND_POOL, "intent", 9,
                                           NULL, &op_layer, &err),
                     0);
    leftover(f, "import-fedcba9876543210", true); /* its import runs: kept */
    leftover(f, "layer-9", true);                 /* its build runs: kept */
    leftover(f, "vm-0123456789abcdef", true);     /* no create of it runs */
    leftover(f, "vm-fedcba9876543210", true);     /* uid_b has an import, not a create */
    leftover(f, "kernel-0123456789abcdef", true);
    leftover(f, "layer-7", true);
    leftover(f, "spool-Ab12Cd", false);
    leftover(f, "notes.txt", false); /* no operation makes this name: doctor's */

    engine_test_reopen(f->root, &f->eng); /* the next command: no --repair anywhere */
    assert_true(tmp_has(f, "import-fedcba9876543210"));
    assert_true(tmp_has(f, "layer-9"));
    assert_true(tmp_has(f, "notes.txt"));
    assert_int_equal(engine_test_entries(f->root, "tmp"), 3);

    /* doctor: the stranger only (the live ones are not strays), removed with --repair. */
    struct engine_doctor_report rep = {0};
    assert_int_equal(engine_doctor(f->eng, false, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    print_message("  doctor: %s: %s\n", rep.items[0].kind, rep.items[0].message);
    assert_string_equal(rep.items[0].kind, "stray");
    assert_non_null(strstr(rep.items[0].object, "notes.txt"));
    assert_non_null(strstr(rep.items[0].message, "made by no operation"));
    engine_doctor_report_release(&rep);

    /* The operations end without cleaning up (as a killed one would): the next open removes. */
    assert_int_equal(store_op_finish(f->eng->store, op_import, "test", &err), 0);
    assert_int_equal(store_op_finish(f->eng->store, op_layer, "test", &err), 0);
    engine_test_reopen(f->root, &f->eng);
    assert_false(tmp_has(f, "import-fedcba9876543210"));
    assert_false(tmp_has(f, "layer-9"));
    assert_int_equal(engine_test_entries(f->root, "tmp"), 1);
    assert_int_equal(engine_doctor(f->eng, true, &rep, &err), 0);
    assert_int_equal(rep.n, 1);
    assert_true(rep.items[0].repaired);
    engine_doctor_report_release(&rep);
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

/* Names that only look like staging (a bad uid, a device id out of range) are doctor's too. */
static void test_staging_names(void **state) {
    struct sfix *f = *state;
    leftover(f, "vm-0123", true);
    leftover(f, "vm-0123456789ABCDEF", true);
    leftover(f, "layer-16777216", true);
    leftover(f, "layer-07", true);
    leftover(f, "layer-", true);
    leftover(f, "layer-16777215", true); /* the largest id: staging, removed */
    engine_test_reopen(f->root, &f->eng);
    assert_false(tmp_has(f, "layer-16777215"));
    assert_int_equal(engine_test_entries(f->root, "tmp"), 5);
    assert_int_equal(engine_test_doctor_count(f->eng), 5);
}

const struct CMUnitTest engine_staging_tests[] = {
    cmocka_unit_test_setup_teardown(test_staging_cleanup_at_open, sf_setup, sf_teardown),
    cmocka_unit_test_setup_teardown(test_staging_names, sf_setup, sf_teardown),
};
const size_t engine_staging_tests_n = ARRAY_SIZE(engine_staging_tests);
