/*
 * The file driver on the host: idempotent device operations, snapshot
 * contents, holes kept by the copy path, usage, inventory and strays, a full
 * pool, a device file deleted behind hearth's back, sizes that don't fit,
 * concurrent creators, and reflinks shown to share extents on XFS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool/pool_priv.h"
#include "pool_test.h"
#include "util/util.h"

struct fpool {
    char data[2048];
    struct pool_config cfg;
    pool *p;
};

static void fpool_open(struct fpool *f, const char *dir, uint64_t data_size) {
    struct error err;
    assert_true(snprintf(f->data, sizeof(f->data), "%s/data", dir) < (int)sizeof(f->data));
    f->cfg = (struct pool_config){.driver = POOL_DRIVER_FILE,
                                  .name = "t1",
                                  .data_size = data_size,
                                  .allocation_size = 64 * 1024,
                                  .data_path = f->data};
    if (pool_create(&f->cfg, &err) < 0 || pool_open(&f->cfg, &f->p, &err) < 0)
        fail_msg("%s", err.msg);
}

static char *dev_path(const struct fpool *f, uint32_t id) {
    return xasprintf("%s/%u.img", f->data, id);
}

static struct stat stat_of(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st;
}

static void test_file_idempotent(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    fpool_open(&f, t->path, 256 * TEST_MiB);
    assert_int_equal(pool_create(&f.cfg, &err), 0); /* again */
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_create(f.p, 1, 4 * TEST_MiB, &err), 0);
    _cleanup_free_ char *path = dev_path(&f, 1);
    struct stat st = stat_of(path);
    assert_int_equal(st.st_size, 4 * TEST_MiB);
    assert_int_equal(st.st_blocks, 0); /* sparse */
    assert_int_equal(pool_device_create(f.p, 1, 8 * TEST_MiB, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "another size"));
    for (int i = 0; i < 2; i++) {
        _cleanup_free_ char *a = NULL;
        assert_int_equal(pool_device_activate(f.p, 1, 4 * TEST_MiB, &a, &err), 0);
        assert_string_equal(a, path);
        assert_int_equal(pool_device_deactivate(f.p, 1, &err), 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_remove(f.p, 1, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    char *a = NULL;
    assert_int_equal(pool_device_activate(f.p, 1, 4 * TEST_MiB, &a, &err), -ENOENT);
    assert_null(a);
    assert_int_equal(pool_disassemble(f.p, &err), 0);
    pool_free(f.p);
    assert_int_equal(pool_destroy(&f.cfg, &err), 0);
    assert_int_equal(access(f.data, F_OK), -1);
    assert_int_equal(pool_destroy(&f.cfg, &err), 0);
}

static void test_file_snapshot(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    fpool_open(&f, t->path, 256 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 1, 8 * TEST_MiB, &err), 0);
    _cleanup_free_ char *p1 = dev_path(&f, 1);
    _cleanup_free_ char *p2 = dev_path(&f, 2);
    int fd = open(p1, O_RDWR);
    assert_true(fd >= 0);
    pattern_write(fd, 0, 65536, 1);
    pattern_write(fd, 5 * TEST_MiB, 100000, 2);
    close(fd);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_snapshot(f.p, 2, 1, 16 * TEST_MiB, &err), 0);
    assert_int_equal(stat_of(p2).st_size, 16 * TEST_MiB);
    fd = open(p2, O_RDONLY);
    assert_true(fd >= 0);
    pattern_check(fd, 0, 65536, 1);
    pattern_check(fd, 5 * TEST_MiB, 100000, 2);
    zeros_check(fd, 65536, TEST_MiB);
    zeros_check(fd, 8 * TEST_MiB, 8 * TEST_MiB);
    close(fd);
    /* the snapshot is independent of its origin */
    fd = open(p1, O_RDWR);
    pattern_write(fd, 0, 4096, 9);
    close(fd);
    fd = open(p2, O_RDONLY);
    pattern_check(fd, 0, 4096, 1);
    close(fd);
    assert_int_equal(pool_device_snapshot(f.p, 3, 1, 4 * TEST_MiB, &err), -EINVAL);
    assert_int_equal(pool_device_snapshot(f.p, 3, 7, 16 * TEST_MiB, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "origin device 7"));
    assert_int_equal(pool_device_snapshot(f.p, 3, 3, 16 * TEST_MiB, &err), -EINVAL);
    assert_int_equal(pool_device_snapshot(f.p, 2, 1, 32 * TEST_MiB, &err), -EEXIST);
    pool_free(f.p);
}

/* The copy path (no reflink on ext4 or tmpfs) keeps holes. */
static void snapshot_keeps_holes(const char *base) {
    struct tdir t;
    struct fpool f;
    struct error err;
    assert_int_equal(tdir_make(&t, base), 0);
    fpool_open(&f, t.path, 256 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 1, 64 * TEST_MiB, &err), 0);
    _cleanup_free_ char *p1 = dev_path(&f, 1);
    _cleanup_free_ char *p2 = dev_path(&f, 2);
    int fd = open(p1, O_RDWR);
    pattern_write(fd, TEST_MiB, TEST_MiB, 3);
    pattern_write(fd, 40 * TEST_MiB, TEST_MiB, 4);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    assert_int_equal(pool_device_snapshot(f.p, 2, 1, 64 * TEST_MiB, &err), 0);
    struct stat a = stat_of(p1), b = stat_of(p2);
    assert_true(b.st_blocks * 512 >= 2 * (off_t)TEST_MiB);
    assert_true(b.st_blocks <= a.st_blocks + 64); /* not 64 MiB: holes kept */
    fd = open(p2, O_RDONLY);
    pattern_check(fd, TEST_MiB, TEST_MiB, 3);
    pattern_check(fd, 40 * TEST_MiB, TEST_MiB, 4);
    zeros_check(fd, 2 * TEST_MiB, TEST_MiB);
    close(fd);
    pool_free(f.p);
    tdir_remove(&t);
}

static void test_file_holes_disk(void **state) {
    (void)state;
    snapshot_keeps_holes(NULL);
}

static void test_file_holes_tmpfs(void **state) {
    (void)state;
    struct statfs sf;
    if (statfs("/dev/shm", &sf) < 0 || sf.f_type != 0x01021994 /* TMPFS_MAGIC */)
        test_skip("/dev/shm is not a tmpfs here");
    snapshot_keeps_holes("/dev/shm");
}

static void test_file_usage(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    struct pool_usage u0, u1;
    fpool_open(&f, t->path, 256 * TEST_MiB);
    assert_int_equal(pool_usage_get(f.p, &u0, &err), 0);
    assert_int_equal(u0.data_used, 0);
    assert_int_equal(u0.data_total, 256 * TEST_MiB);
    assert_int_equal(u0.metadata_total, 0);
    assert_int_equal(pool_device_create(f.p, 1, 64 * TEST_MiB, &err), 0);
    _cleanup_free_ char *p1 = dev_path(&f, 1);
    int fd = open(p1, O_RDWR);
    pattern_write(fd, 0, 3 * TEST_MiB, 5);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    assert_int_equal(pool_usage_get(f.p, &u1, &err), 0);
    assert_true(u1.data_used >= 3 * TEST_MiB && u1.data_used < 4 * TEST_MiB);
    pool_free(f.p);
}

static void touch(const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static void test_file_inventory(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    struct pool_inventory inv;
    fpool_open(&f, t->path, 256 * TEST_MiB);
    uint32_t ids[] = {5, 1, 16777215};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(pool_device_create(f.p, ids[i], TEST_MiB, &err), 0);
    touch(f.data, "7.img.tmp");
    touch(f.data, "012.img");
    assert_int_equal(pool_inventory_get(f.p, &inv, &err), 0);
    assert_int_equal(inv.n_ids, 3);
    assert_int_equal(inv.ids[0], 1);
    assert_int_equal(inv.ids[1], 5);
    assert_int_equal(inv.ids[2], 16777215);
    assert_int_equal(inv.n_active, 0);
    assert_int_equal(inv.n_strays, 2);
    for (size_t i = 0; i < inv.n_strays; i++) {
        assert_non_null(strstr(inv.strays[i], f.data));
        assert_int_equal(pool_stray_remove(f.p, inv.strays[i], &err), 0);
        assert_int_equal(access(inv.strays[i], F_OK), -1);
    }
    pool_inventory_release(&inv);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/1.img", f.data);
    assert_int_equal(pool_stray_remove(f.p, path, &err), -EINVAL); /* a device */
    assert_int_equal(pool_stray_remove(f.p, "/etc/passwd", &err), -EINVAL);
    snprintf(path, sizeof(path), "%s/../x", f.data);
    assert_int_equal(pool_stray_remove(f.p, path, &err), -EINVAL);
    assert_int_equal(pool_inventory_get(f.p, &inv, &err), 0);
    assert_int_equal(inv.n_ids, 3);
    assert_int_equal(inv.n_strays, 0);
    pool_inventory_release(&inv);
    pool_free(f.p);
}

static void test_file_full(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    fpool_open(&f, t->path, 2 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 1, 8 * TEST_MiB, &err), 0);
    _cleanup_free_ char *p1 = dev_path(&f, 1);
    int fd = open(p1, O_RDWR);
    pattern_write(fd, 0, 2 * TEST_MiB, 6);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    /* A VM wrote behind the handle's back: a new handle (a new command) sees it. */
    pool_free(f.p);
    fpool_open(&f, t->path, 2 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 2, TEST_MiB, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "pool 't1' is full"));
    assert_int_equal(pool_device_snapshot(f.p, 3, 1, 8 * TEST_MiB, &err), -ENOSPC);
    _cleanup_free_ char *p3 = dev_path(&f, 3);
    assert_int_equal(access(p3, F_OK), -1);
    /* removing makes room again */
    assert_int_equal(pool_device_remove(f.p, 1, &err), 0);
    assert_int_equal(pool_device_create(f.p, 2, TEST_MiB, &err), 0);
    pool_free(f.p);
}

static void test_file_deleted_behind_back(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    struct pool_inventory inv;
    fpool_open(&f, t->path, 256 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 1, TEST_MiB, &err), 0);
    assert_int_equal(pool_device_create(f.p, 2, TEST_MiB, &err), 0);
    _cleanup_free_ char *p2 = dev_path(&f, 2);
    assert_int_equal(unlink(p2), 0);
    assert_int_equal(pool_inventory_get(f.p, &inv, &err), 0);
    assert_int_equal(inv.n_ids, 1);
    assert_int_equal(inv.ids[0], 1);
    pool_inventory_release(&inv);
    char *a = NULL;
    assert_int_equal(pool_device_activate(f.p, 2, TEST_MiB, &a, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "device 2"));
    assert_int_equal(pool_device_snapshot(f.p, 3, 2, TEST_MiB, &err), -ENOENT);
    assert_int_equal(pool_device_remove(f.p, 2, &err), 0);
    pool_free(f.p);
    /* the whole directory gone */
    const char *argv[] = {"rm", "-rf", f.data, NULL};
    run_ok(argv);
    pool *p = NULL;
    assert_int_equal(pool_open(&f.cfg, &p, &err), -ENOENT);
    assert_non_null(strstr(err.msg, f.data));
    assert_null(p);
}

static void test_sizes(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    char data[2048], meta[2048];
    snprintf(data, sizeof(data), "%s/d", t->path);
    snprintf(meta, sizeof(meta), "%s/m", t->path);
    struct pool_config c = {.driver = POOL_DRIVER_FILE,
                            .name = "ok",
                            .data_size = UINT64_C(1) << 59, /* more than any test filesystem */
                            .data_path = data};
    assert_int_equal(pool_create(&c, &err), -ENOSPC);
    assert_int_equal(access(data, F_OK), -1);
    c.data_size = 0;
    assert_int_equal(pool_create(&c, &err), -EINVAL);
    c.data_size = TEST_MiB;
    c.name = "Bad-Name";
    assert_int_equal(pool_create(&c, &err), -EINVAL);
    c.name = "abcdefghijklmnopq"; /* 17 */
    assert_int_equal(pool_create(&c, &err), -EINVAL);
    struct pool_config d = {.driver = POOL_DRIVER_DM_THIN,
                            .name = "dm",
                            .data_size = 64 * TEST_MiB,
                            .metadata_size = 4 * TEST_MiB,
                            .allocation_size = 64 * 1024,
                            .data_path = data,
                            .metadata_path = meta};
    d.allocation_size = 96 * 1024;
    assert_int_equal(pool_create(&d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "allocation size"));
    d.allocation_size = 2048 * TEST_MiB;
    assert_int_equal(pool_create(&d, &err), -EINVAL);
    d.allocation_size = 64 * 1024;
    d.metadata_size = TEST_MiB;
    assert_int_equal(pool_create(&d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "metadata size"));
    d.metadata_size = UINT64_C(17) << 30;
    assert_int_equal(pool_create(&d, &err), -EINVAL);
    d.metadata_size = 4 * TEST_MiB;
    d.data_size = 64 * TEST_MiB + 512;
    assert_int_equal(pool_create(&d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "data size"));
    d.data_size = 64 * TEST_MiB;
    d.metadata_path = data;
    assert_int_equal(pool_create(&d, &err), -EINVAL);
    assert_int_equal(access(data, F_OK), -1);
    /* device sizes and ids */
    fpool_open(&f, t->path, 64 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 1, 1000, &err), -EINVAL);
    assert_int_equal(pool_device_create(f.p, 1, 0, &err), -EINVAL);
    assert_int_equal(pool_device_create(f.p, 1, UINT64_C(1) << 50, &err), -EINVAL);
    assert_int_equal(pool_device_create(f.p, POOL_ID_MAX + 1, TEST_MiB, &err), -EINVAL);
    pool_free(f.p);
}

static void test_file_other_content(void **state) {
    struct tdir *t = *state;
    struct error err;
    char data[2048];
    snprintf(data, sizeof(data), "%s/data", t->path);
    struct pool_config c = {
        .driver = POOL_DRIVER_FILE, .name = "oc", .data_size = TEST_MiB, .data_path = data};
    touch(t->path, "data");
    assert_int_equal(pool_create(&c, &err), -EEXIST);
    assert_int_equal(unlink(data), 0);
    assert_int_equal(mkdir(data, 0700), 0);
    touch(data, "notes.txt");
    assert_int_equal(pool_create(&c, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "notes.txt"));
    assert_int_equal(pool_destroy(&c, &err), -EEXIST);
    assert_int_equal(access(data, F_OK), 0);
}

static void test_driver_names(void **state) {
    (void)state;
    enum pool_driver d;
    assert_int_equal(pool_driver_parse("file", &d), 0);
    assert_int_equal(d, POOL_DRIVER_FILE);
    assert_int_equal(pool_driver_parse("dm-thin", &d), 0);
    assert_int_equal(d, POOL_DRIVER_DM_THIN);
    assert_int_equal(pool_driver_parse("lvm", &d), -EINVAL);
    assert_string_equal(pool_driver_name(POOL_DRIVER_DM_THIN), "dm-thin");
    assert_string_equal(pool_driver_name(POOL_DRIVER_FILE), "file");
    char why[128];
    assert_true(pool_driver_usable(POOL_DRIVER_FILE, why, sizeof(why)));
}

/* Two processes create devices with different ids at once. */
static void test_file_concurrent(void **state) {
    struct tdir *t = *state;
    struct fpool f;
    struct error err;
    struct pool_inventory inv;
    fpool_open(&f, t->path, 256 * TEST_MiB);
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            for (uint32_t id = 100 + 50 * (uint32_t)k; id < 150 + 50 * (uint32_t)k; id++)
                if (pool_device_create(f.p, id, TEST_MiB, &err) < 0 ||
                    pool_device_snapshot(f.p, id + 1000, id, TEST_MiB, &err) < 0)
                    _exit(1);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(pool_inventory_get(f.p, &inv, &err), 0);
    assert_int_equal(inv.n_ids, 200);
    assert_int_equal(inv.n_strays, 0);
    pool_inventory_release(&inv);
    pool_free(f.p);
}

/* ---- reflinks on XFS --------------------------------------------------- */

/* Whether every extent of fd is flagged shared (and there is at least one). */
static int all_extents_shared(int fd) {
    size_t sz = sizeof(struct fiemap) + 256 * sizeof(struct fiemap_extent);
    struct fiemap *fm = calloc(1, sz);
    assert_non_null(fm);
    fm->fm_length = FIEMAP_MAX_OFFSET;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = 256;
    assert_int_equal(ioctl(fd, FS_IOC_FIEMAP, fm), 0);
    int ok = fm->fm_mapped_extents > 0;
    for (unsigned i = 0; i < fm->fm_mapped_extents; i++)
        ok = ok && (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED);
    free(fm);
    return ok;
}

static uint64_t fs_used(const char *path) {
    struct statvfs sv;
    assert_int_equal(statvfs(path, &sv), 0);
    return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

static void reflink_check(const char *mnt) {
    struct fpool f;
    struct error err;
    fpool_open(&f, mnt, 256 * TEST_MiB);
    assert_int_equal(pool_device_create(f.p, 1, 128 * TEST_MiB, &err), 0);
    _cleanup_free_ char *p1 = dev_path(&f, 1);
    _cleanup_free_ char *p2 = dev_path(&f, 2);
    int fd = open(p1, O_RDWR);
    pattern_write(fd, 0, 64 * TEST_MiB, 7);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    uint64_t before = fs_used(mnt);
    assert_int_equal(pool_device_snapshot(f.p, 2, 1, 256 * TEST_MiB, &err), 0);
    uint64_t after = fs_used(mnt);
    assert_true(after - before < 8 * TEST_MiB); /* not another 64 MiB */
    fd = open(p2, O_RDONLY);
    assert_true(all_extents_shared(fd));
    pattern_check(fd, 0, 64 * TEST_MiB, 7);
    zeros_check(fd, 128 * TEST_MiB, TEST_MiB);
    assert_int_equal(lseek(fd, 0, SEEK_END), 256 * TEST_MiB);
    close(fd);
    /* Ten more clones: the pool's usage counts the shared extents once, so it
     * stays near the 64 MiB written, and the 256 MiB pool does not fill up. */
    for (uint32_t id = 3; id < 13; id++)
        assert_int_equal(pool_device_snapshot(f.p, id, 1, 128 * TEST_MiB, &err), 0);
    struct pool_usage u;
    assert_int_equal(pool_usage_get(f.p, &u, &err), 0);
    assert_true(u.data_used >= 64 * TEST_MiB);
    assert_true(u.data_used < 72 * TEST_MiB);
    pool_free(f.p);
}

static void test_file_reflink_xfs(void **state) {
    struct tdir *t = *state;
    if (geteuid() != 0)
        test_skip("mounting an XFS image needs root");
    test_need_program("mkfs.xfs", "xfsprogs");
    char img[2048], mnt[2048];
    snprintf(img, sizeof(img), "%s/xfs.img", t->path);
    snprintf(mnt, sizeof(mnt), "%s/mnt", t->path);
    assert_int_equal(mkdir(mnt, 0700), 0);
    int fd = open(img, O_RDWR | O_CREAT, 0600);
    assert_int_equal(ftruncate(fd, 512 * TEST_MiB), 0);
    close(fd);
    const char *mkfs[] = {"mkfs.xfs", "-q", "-m", "reflink=1", img, NULL};
    run_ok(mkfs);
    const char *mount[] = {"mount", "-o", "loop", img, mnt, NULL};
    run_ok(mount);
    reflink_check(mnt);
    const char *umount[] = {"umount", mnt, NULL};
    run_ok(umount);
}

static int xfs_teardown(void **state) {
    struct tdir *t = *state;
    char mnt[2048];
    snprintf(mnt, sizeof(mnt), "%s/mnt", t->path);
    const char *umount[] = {"umount", mnt, NULL};
    struct error err;
    if (exec_run(umount, NULL, &err) == 0) /* mounted only when the test failed midway */
        fprintf(stderr, "unmounted '%s'\n", mnt);
    return tdir_teardown(state);
}

const struct CMUnitTest pool_file_tests[] = {
    cmocka_unit_test(test_driver_names),
    cmocka_unit_test_setup_teardown(test_file_idempotent, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_file_snapshot, tdir_setup, tdir_teardown),
    cmocka_unit_test(test_file_holes_disk),
    cmocka_unit_test(test_file_holes_tmpfs),
    cmocka_unit_test_setup_teardown(test_file_usage, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_file_inventory, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_file_full, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_file_deleted_behind_back, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_sizes, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_file_other_content, tdir_setup, tdir_teardown),
    cmocka_unit_test_setup_teardown(test_file_concurrent, tdir_setup, tdir_teardown),
};
const size_t pool_file_tests_n = ARRAY_SIZE(pool_file_tests);

/* Host runs only: reflinks on an XFS loop mount, which the dm-thin guest need not repeat. */
const struct CMUnitTest pool_file_host_tests[] = {
    cmocka_unit_test_setup_teardown(test_file_reflink_xfs, tdir_setup, xfs_teardown),
};
const size_t pool_file_host_tests_n = ARRAY_SIZE(pool_file_host_tests);
