/*
 * The dm-thin driver: the metadata reader against metadata written by
 * thin_restore (host), and, when HEARTH_TEST_DM=1 (the QEMU guest of
 * tests/guest), the real thing: pool assembly, devices, snapshots, data,
 * inventory, usage, a full pool, reassembly, stray loops, concurrency.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool_priv.h"
#include "pool_test.h"
#include "util/util.h"

/* ---- metadata reader (host) ---------------------------------------------- */

static const char meta_xml[] =
    "<superblock uuid=\"\" time=\"1\" transaction=\"3\" flags=\"0\" version=\"2\" "
    "data_block_size=\"128\" nr_data_blocks=\"1600\">\n"
    "<device dev_id=\"1\" mapped_blocks=\"1\" transaction=\"0\" creation_time=\"0\" "
    "snap_time=\"0\"><range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"1\" "
    "time=\"0\"/></device>\n"
    "%s</superblock>\n";

/* A temp directory for thin_restore, which opens with O_DIRECT: not on tmpfs. */
static int meta_setup(void **state) {
    struct tdir *t = calloc(1, sizeof(*t));
    struct statfs sf;
    if (!t || tdir_make(t, NULL) < 0)
        goto fail;
    if (statfs(t->path, &sf) == 0 && sf.f_type == 0x01021994 /* TMPFS_MAGIC */) {
        tdir_remove(t);
        if (tdir_make(t, "/var/tmp") < 0)
            goto fail;
    }
    *state = t;
    return 0;
fail:
    free(t);
    return -1;
}

static void test_meta_reader(void **state) {
    struct tdir *t = *state;
    test_need_program("thin_restore", "thin-provisioning-tools");
    char xml[2048], meta[2048];
    snprintf(xml, sizeof(xml), "%s/m.xml", t->path);
    snprintf(meta, sizeof(meta), "%s/m.meta", t->path);
    /* enough devices for a btree with internal nodes */
    struct strbuf devs = STRBUF_INIT;
    for (unsigned id = 5; id < 5 + 600 * 7; id += 7)
        assert_int_equal(strbuf_addf(&devs,
                                     "<device dev_id=\"%u\" mapped_blocks=\"0\" transaction=\"0\" "
                                     "creation_time=\"0\" snap_time=\"0\"></device>\n",
                                     id),
                         0);
    FILE *f = fopen(xml, "w");
    assert_non_null(f);
    fprintf(f, meta_xml, devs.buf);
    fclose(f);
    strbuf_release(&devs);
    int fd = open(meta, O_RDWR | O_CREAT, 0600);
    assert_int_equal(ftruncate(fd, 8 * TEST_MiB), 0);
    close(fd);
    const char *argv[] = {"thin_restore", "-q", "-i", xml, "-o", meta, NULL};
    run_ok(argv);
    fd = open(meta, O_RDWR);
    uint32_t *ids = NULL;
    size_t n = 0;
    struct error err;
    assert_int_equal(thin_meta_read_ids(fd, false, &ids, &n, &err), 0);
    assert_int_equal(n, 601);
    assert_int_equal(ids[0], 1);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(ids[i], 5 + 7 * (i - 1));
    free(ids);
    /* no held snapshot */
    assert_int_equal(thin_meta_read_ids(fd, true, &ids, &n, &err), -ENOENT);
    /* a leaf whose keys are out of order is a corrupt tree, even with good
     * checksums (a fuzz find: device ids came back twice) */
    uint8_t sb[THIN_META_BLOCK], node[THIN_META_BLOCK], saved[THIN_META_BLOCK];
    assert_int_equal(pread(fd, sb, sizeof(sb), 0), sizeof(sb));
    uint64_t blk = 0;
    memcpy(&blk, sb + 328, 8); /* the device-details root (little endian, as the host) */
    assert_int_equal(pread(fd, node, sizeof(node), (off_t)blk * THIN_META_BLOCK), sizeof(node));
    if (node[4] == 1) { /* internal: its first child, after max_entries keys */
        uint32_t max;
        memcpy(&max, node + 20, 4);
        memcpy(&blk, node + 32 + 8 * (size_t)max, 8);
        assert_int_equal(pread(fd, node, sizeof(node), (off_t)blk * THIN_META_BLOCK), sizeof(node));
    }
    assert_int_equal(node[4], 2); /* a leaf */
    memcpy(saved, node, sizeof(node));
    memcpy(node + 32 + 8, node + 32, 8); /* key 1 = key 0 */
    thin_meta_block_seal(node, false);
    assert_int_equal(pwrite(fd, node, sizeof(node), (off_t)blk * THIN_META_BLOCK), sizeof(node));
    assert_int_equal(thin_meta_read_ids(fd, false, &ids, &n, &err), -EUCLEAN);
    assert_non_null(strstr(err.msg, "out of order"));
    assert_int_equal(pwrite(fd, saved, sizeof(saved), (off_t)blk * THIN_META_BLOCK), sizeof(saved));
    assert_int_equal(thin_meta_read_ids(fd, false, &ids, &n, &err), 0);
    assert_int_equal(n, 601);
    free(ids);
    /* a flipped byte in the superblock is caught */
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, 100), 1);
    c ^= 1;
    assert_int_equal(pwrite(fd, &c, 1, 100), 1);
    assert_int_equal(thin_meta_read_ids(fd, false, &ids, &n, &err), -EUCLEAN);
    assert_non_null(strstr(err.msg, "corrupt"));
    close(fd);
}

/* ---- dm-thin in the guest ------------------------------------------------- */

struct tpool {
    struct tdir dir;
    char name[POOL_NAME_MAX + 1];
    char data[2048], meta[2048];
    struct pool_config cfg;
    pool *p;
};

static void tpool_init(struct tpool *t, uint64_t data_size) {
    struct error err;
    assert_int_equal(tdir_make(&t->dir, getenv("HEARTH_GUEST_SCRATCH")), 0);
    snprintf(t->name, sizeof(t->name), "t%x",
             (unsigned)(getpid() ^ (unsigned)time(NULL)) & 0xffffff);
    snprintf(t->data, sizeof(t->data), "%s/data", t->dir.path);
    snprintf(t->meta, sizeof(t->meta), "%s/metadata", t->dir.path);
    t->cfg = (struct pool_config){.driver = POOL_DRIVER_DM_THIN,
                                  .name = t->name,
                                  .data_size = data_size,
                                  .metadata_size = 4 * TEST_MiB,
                                  .allocation_size = 64 * 1024,
                                  .data_path = t->data,
                                  .metadata_path = t->meta};
    for (int i = 0; i < 2; i++)
        if (pool_create(&t->cfg, &err) < 0)
            fail_msg("%s", err.msg);
    if (pool_open(&t->cfg, &t->p, &err) < 0)
        fail_msg("%s", err.msg);
}

static int tpool_setup(void **state) {
    struct tpool *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    tpool_init(t, 256 * TEST_MiB);
    *state = t;
    return 0;
}

static int tpool_teardown(void **state) {
    struct tpool *t = *state;
    struct error err;
    if (!t)
        return 0;
    if (t->p && pool_disassemble(t->p, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    pool_free(t->p);
    if (pool_destroy(&t->cfg, &err) < 0)
        fprintf(stderr, "teardown: %s\n", err.msg);
    tdir_remove(&t->dir);
    free(t);
    return 0;
}

static char *activate(pool *p, uint32_t id, uint64_t size) {
    char *path = NULL;
    struct error err;
    if (pool_device_activate(p, id, size, &path, &err) < 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISBLK(st.st_mode));
    return path;
}

static void inventory_expect(pool *p, const uint32_t *ids, size_t n, const uint32_t *active,
                             size_t n_active) {
    struct pool_inventory inv;
    struct error err;
    if (pool_inventory_get(p, &inv, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(inv.n_ids, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(inv.ids[i], ids[i]);
    assert_int_equal(inv.n_active, n_active);
    for (size_t i = 0; i < n_active; i++)
        assert_int_equal(inv.active[i], active[i]);
    for (size_t i = 0; i < inv.n_strays; i++)
        fprintf(stderr, "stray: %s\n", inv.strays[i]);
    assert_int_equal(inv.n_strays, 0);
    pool_inventory_release(&inv);
}

static void write_through(const char *path, off_t off, size_t len, unsigned seed) {
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    pattern_write(fd, off, len, seed);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

static void test_dm_devices(void **state) {
    struct tpool *t = *state;
    struct error err;
    struct pool_usage u0, u1;
    const uint64_t sz = 64 * TEST_MiB;
    assert_int_equal(pool_usage_get(t->p, &u0, &err), 0);
    assert_int_equal(u0.data_total, 256 * TEST_MiB);
    assert_true(u0.metadata_total > 0 && u0.metadata_used > 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_create(t->p, 1, sz, &err), 0);
    _cleanup_free_ char *d1 = activate(t->p, 1, sz);
    _cleanup_free_ char *d1b = activate(t->p, 1, sz);
    assert_string_equal(d1, d1b);
    write_through(d1, 0, TEST_MiB, 1);
    write_through(d1, 32 * TEST_MiB, 3 * TEST_MiB, 2);
    assert_int_equal(pool_usage_get(t->p, &u1, &err), 0);
    assert_true(u1.data_used >= u0.data_used + 4 * TEST_MiB);
    /* snapshot of an active origin, then of an inactive one */
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_snapshot(t->p, 2, 1, 2 * sz, &err), 0);
    write_through(d1, 0, 4096, 9); /* after the snapshot: not in it */
    assert_int_equal(pool_device_deactivate(t->p, 1, &err), 0);
    assert_int_equal(pool_device_deactivate(t->p, 1, &err), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_snapshot(t->p, 3, 1, sz, &err), 0);
    assert_int_equal(pool_device_snapshot(t->p, 4, 77, sz, &err), -ENOENT);
    _cleanup_free_ char *d2 = activate(t->p, 2, 2 * sz);
    int fd = open(d2, O_RDONLY);
    pattern_check(fd, 0, TEST_MiB, 1);
    pattern_check(fd, 32 * TEST_MiB, 3 * TEST_MiB, 2);
    zeros_check(fd, sz, TEST_MiB);
    assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)(2 * sz));
    close(fd);
    _cleanup_free_ char *d3 = activate(t->p, 3, sz);
    fd = open(d3, O_RDONLY);
    pattern_check(fd, 0, 4096, 9);
    close(fd);
    uint32_t ids[] = {1, 2, 3}, act[] = {2, 3};
    inventory_expect(t->p, ids, 3, act, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pool_device_remove(t->p, 3, &err), 0); /* active: deactivated first */
    assert_int_equal(access(d3, F_OK), -1);
    uint32_t ids2[] = {1, 2}, act2[] = {2};
    inventory_expect(t->p, ids2, 2, act2, 1);
    /* busy: an open device cannot be deactivated */
    fd = open(d2, O_RDONLY);
    assert_int_equal(pool_device_deactivate(t->p, 2, &err), -EBUSY);
    close(fd);
    /* simulated reboot */
    assert_int_equal(pool_disassemble(t->p, &err), 0);
    assert_int_equal(access(d2, F_OK), -1);
    pool_free(t->p);
    t->p = NULL;
    if (pool_open(&t->cfg, &t->p, &err) < 0)
        fail_msg("%s", err.msg);
    inventory_expect(t->p, ids2, 2, NULL, 0);
    _cleanup_free_ char *d2b = activate(t->p, 2, 2 * sz);
    fd = open(d2b, O_RDONLY);
    pattern_check(fd, 32 * TEST_MiB, 3 * TEST_MiB, 2);
    close(fd);
}

static void test_dm_missing_file(void **state) {
    struct tpool *t = *state;
    struct error err;
    char moved[PATH_MAX + 8];
    assert_int_equal(pool_disassemble(t->p, &err), 0);
    pool_free(t->p);
    t->p = NULL;
    snprintf(moved, sizeof(moved), "%s.away", t->data);
    assert_int_equal(rename(t->data, moved), 0);
    pool *p = NULL;
    assert_int_equal(pool_open(&t->cfg, &p, &err), -ENOENT);
    assert_non_null(strstr(err.msg, t->data));
    assert_null(p);
    assert_int_equal(rename(moved, t->data), 0);
    if (pool_open(&t->cfg, &t->p, &err) < 0)
        fail_msg("%s", err.msg);
}

static void test_dm_full(void **state) {
    struct tpool *t = *state;
    struct error err;
    struct pool_usage u;
    /* a small pool: 4 MiB of data behind a 64 MiB device */
    tpool_teardown(state);
    t = calloc(1, sizeof(*t));
    assert_non_null(t);
    *state = t;
    tpool_init(t, 4 * TEST_MiB);
    assert_int_equal(pool_device_create(t->p, 1, 64 * TEST_MiB, &err), 0);
    _cleanup_free_ char *d1 = activate(t->p, 1, 64 * TEST_MiB);
    alarm(120); /* a hang fails the test instead of the run */
    int fd = open(d1, O_RDWR | O_DIRECT);
    assert_true(fd >= 0);
    void *buf = NULL;
    assert_int_equal(posix_memalign(&buf, 4096, TEST_MiB), 0);
    memset(buf, 0xab, TEST_MiB);
    int failed_errno = 0;
    for (off_t off = 0; off < 16 * (off_t)TEST_MiB && !failed_errno; off += TEST_MiB)
        if (pwrite(fd, buf, TEST_MiB, off) < 0)
            failed_errno = errno;
    if (!failed_errno && fsync(fd) < 0)
        failed_errno = errno;
    alarm(0);
    free(buf);
    close(fd);
    assert_true(failed_errno == EIO || failed_errno == ENOSPC);
    assert_int_equal(pool_usage_get(t->p, &u, &err), 0);
    assert_int_equal(u.data_used, u.data_total);
}

/* Attaches path to a loop without autoclear, as a leftover would be. */
static char *stray_loop(const char *path) {
    int ctl = open("/dev/loop-control", O_RDWR);
    assert_true(ctl >= 0);
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    assert_true(n >= 0);
    close(ctl);
    char *dev = xasprintf("/dev/loop%d", n);
    int lfd = open(dev, O_RDWR), bfd = open(path, O_RDWR);
    assert_true(lfd >= 0 && bfd >= 0);
    assert_int_equal(ioctl(lfd, LOOP_SET_FD, bfd), 0);
    close(bfd);
    close(lfd);
    return dev;
}

static void test_dm_stray_loop(void **state) {
    struct tpool *t = *state;
    struct error err;
    struct pool_inventory inv;
    _cleanup_free_ char *loop = stray_loop(t->data);
    assert_int_equal(pool_inventory_get(t->p, &inv, &err), 0);
    assert_int_equal(inv.n_strays, 1);
    assert_string_equal(inv.strays[0], loop);
    pool_inventory_release(&inv);
    assert_int_equal(pool_stray_remove(t->p, "/dev/loop0x", &err), -ENOENT);
    assert_int_equal(pool_stray_remove(t->p, loop, &err), 0);
    assert_int_equal(pool_inventory_get(t->p, &inv, &err), 0);
    assert_int_equal(inv.n_strays, 0);
    pool_inventory_release(&inv);
    /* a dm device named like the pool's but no thin device of it */
    char junk[POOL_DM_NAME_MAX], junk_path[POOL_DM_NAME_MAX + 16];
    snprintf(junk, sizeof(junk), "hearth-%s-7", t->name);
    snprintf(junk_path, sizeof(junk_path), "/dev/mapper/%s", junk);
    if (dm_dev_create(junk, 2048, "zero", "", &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(pool_inventory_get(t->p, &inv, &err), 0);
    assert_int_equal(inv.n_strays, 1);
    assert_string_equal(inv.strays[0], junk_path);
    assert_int_equal(inv.n_active, 0);
    pool_inventory_release(&inv);
    assert_int_equal(pool_stray_remove(t->p, junk_path, &err), 0);
    assert_int_equal(access(junk_path, F_OK), -1);
    /* the pool still works */
    assert_int_equal(pool_device_create(t->p, 9, TEST_MiB, &err), 0);
    _cleanup_free_ char *d = activate(t->p, 9, TEST_MiB);
    write_through(d, 0, 4096, 3);
}

static void test_dm_concurrent(void **state) {
    struct tpool *t = *state;
    struct error err;
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            pool *p = NULL;
            char *path = NULL;
            if (pool_open(&t->cfg, &p, &err) < 0)
                _exit(2);
            for (uint32_t id = 100 + 10 * (uint32_t)k; id < 110 + 10 * (uint32_t)k; id++)
                if (pool_device_create(p, id, TEST_MiB, &err) < 0 ||
                    pool_device_activate(p, id, TEST_MiB, &path, &err) < 0 ||
                    pool_device_snapshot(p, id + 1000, id, TEST_MiB, &err) < 0 ||
                    pool_device_deactivate(p, id, &err) < 0) {
                    fprintf(stderr, "child %d: %s\n", k, err.msg);
                    _exit(1);
                } else
                    free(path);
            pool_free(p);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    uint32_t ids[40];
    for (uint32_t i = 0; i < 20; i++) {
        ids[i] = 100 + i;
        ids[20 + i] = 1100 + i;
    }
    inventory_expect(t->p, ids, 40, NULL, 0);
}

/* Whether dm-thin is usable is answered in bounded time, with a reason when it is not. */
static bool dm_usable(char *why, size_t size) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    bool ok = pool_driver_usable(POOL_DRIVER_DM_THIN, why, size);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 15); /* catches a hang only */
    return ok;
}

static void test_dm_usable_guest(void **state) {
    (void)state;
    char why[128] = "";
    if (!dm_usable(why, sizeof(why)))
        fail_msg("dm-thin not usable in the guest: %s", why);
}

static void test_dm_usable_host(void **state) {
    (void)state;
    char why[128] = "";
    if (dm_usable(why, sizeof(why))) {
        print_message("dm-thin is usable on this host\n");
        return;
    }
    assert_true(strlen(why) > 0);
    print_message("dm-thin not usable here: %s\n", why);
}

/* On the host: the metadata reader, and whether dm-thin is usable. */
const struct CMUnitTest pool_thin_host_tests[] = {
    cmocka_unit_test_setup_teardown(test_meta_reader, meta_setup, tdir_teardown),
    cmocka_unit_test(test_dm_usable_host),
};
const size_t pool_thin_host_tests_n = ARRAY_SIZE(pool_thin_host_tests);

/* In the dm-thin guest (HEARTH_TEST_DM=1): the driver itself. */
const struct CMUnitTest pool_thin_dm_tests[] = {
    cmocka_unit_test(test_dm_usable_guest),
    cmocka_unit_test_setup_teardown(test_dm_devices, tpool_setup, tpool_teardown),
    cmocka_unit_test_setup_teardown(test_dm_missing_file, tpool_setup, tpool_teardown),
    cmocka_unit_test_setup_teardown(test_dm_stray_loop, tpool_setup, tpool_teardown),
    cmocka_unit_test_setup_teardown(test_dm_concurrent, tpool_setup, tpool_teardown),
    cmocka_unit_test_setup_teardown(test_dm_full, tpool_setup, tpool_teardown),
};
const size_t pool_thin_dm_tests_n = ARRAY_SIZE(pool_thin_dm_tests);
