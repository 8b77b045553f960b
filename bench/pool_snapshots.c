/*
 * The storage pool benchmark behind bench/pool.sh: how long one snapshot of
 * an image device takes and how much space many of them use, for hearth's
 * pool drivers and for what Ignite did for each VM.
 *
 *   pool_snapshots snap DRIVER NAME DIR IMAGE_BYTES CONTENT COUNT ACTIVATE [DATA_BYTES]
 *       Creates a pool (DRIVER "dm-thin" or "file") named NAME in DIR, makes
 *       device 1 of IMAGE_BYTES holding an ext4 filesystem built from the
 *       directory CONTENT (mke2fs -d, as hearth builds images), then takes
 *       COUNT snapshots of it with pool_device_snapshot, each timed alone.
 *       Then times ACTIVATE activations and deactivations, and the removal
 *       of every snapshot, and destroys the pool. DATA_BYTES is the dm-thin
 *       data size (default 4 GiB); a file pool gets its filesystem's size.
 *   pool_snapshots size DRIVER NAME DIR IMAGE_BYTES CONTENT LARGE_BYTES LARGE_CONTENT COUNT
 *                       [DATA_BYTES]
 *       Whether a snapshot's cost grows with the image: one pool holds two
 *       images (IMAGE_BYTES from CONTENT, LARGE_BYTES from LARGE_CONTENT) and
 *       COUNT snapshots of each are taken, alternating, so both see the same
 *       device count and the same load. DATA_BYTES defaults to 16 GiB.
 *   pool_snapshots ignite DIR IMAGE_BYTES CONTENT DISK_BYTES COUNT
 *       Ignite's method, per VM: a sparse overlay file of DISK_BYTES, the
 *       image file and the overlay on loop devices (ioctls, as Ignite's
 *       losetup library did), a dm linear+zero base device and a dm
 *       `snapshot` target over them (dmsetup, as Ignite ran it), then
 *       `e2fsck -p -f` and `resize2fs` on the snapshot. The VMs stay
 *       active until all COUNT are made, as running VMs would keep them.
 *
 * Each mode prints its figures, then one line "RESULT key=value ..." that
 * bench/pool.sh collects into its table. Times are wall-clock
 * (CLOCK_MONOTONIC); space is read after sync(): the pool's own usage, the
 * allocated blocks of the files, and the change in the used blocks of the
 * filesystem that holds them (statvfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "pool/pool.h"
#include "pool/pool_priv.h"

#define BENCH_COUNT_MAX 100000
#define BENCH_FIRST_ID 2 /* snapshot ids start here; the image is device 1 */

/*
 * The clock. CLOCK_MONOTONIC, except where the kernel's clocksource is
 * jiffies: the QEMU guest marks its TSC unstable and falls back to
 * refined-jiffies, which ticks every 4 ms, too coarse for a snapshot. There
 * the TSC is read directly (under TCG it follows the host's TSC), calibrated
 * once against CLOCK_MONOTONIC over a second. The only mutable file-scope
 * state of the program, set once in main before anything is timed.
 */
static double bench_tsc_per_ms; /* 0: use CLOCK_MONOTONIC */

static double bench_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double bench_now_ms(void) {
#if defined(__x86_64__)
    if (bench_tsc_per_ms > 0)
        return (double)__rdtsc() / bench_tsc_per_ms;
#endif
    return bench_mono_ms();
}

static void bench_clock_init(void) {
    char cs[64] = "";
    _cleanup_fclose_ FILE *f =
        fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
    if (!f || !fgets(cs, sizeof(cs), f))
        return;
    cs[strcspn(cs, "\n")] = '\0';
    if (!strstr(cs, "jiffies"))
        return;
#if defined(__x86_64__)
    /* one CPU, so that no two readings come from different TSCs */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) < 0)
        printf("clock: cannot pin to CPU 0: %s\n", strerror(errno));
    double m0 = bench_mono_ms(), t0 = (double)__rdtsc();
    struct timespec second = {.tv_sec = 1};
    while (nanosleep(&second, &second) < 0 && errno == EINTR)
        ;
    double m1 = bench_mono_ms(), t1 = (double)__rdtsc();
    bench_tsc_per_ms = (t1 - t0) / (m1 - m0);
    printf("clock: clocksource %s is coarse; using the TSC, %.1f MHz against it over %.0f ms\n", cs,
           bench_tsc_per_ms / 1e3, m1 - m0);
#else
    printf("clock: clocksource %s is coarse (4 ms steps under HZ=250)\n", cs);
#endif
}

/* ---- statistics --------------------------------------------------------- */

struct bench_stats {
    double mean, median, p95, max, first, last; /* first/last: mean of the first and last tenth */
};

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bench_mean(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0;
}

static int bench_stats_compute(const double *v, size_t n, struct bench_stats *ret) {
    if (n == 0) {
        *ret = (struct bench_stats){0};
        return 0;
    }
    _cleanup_free_ double *s = xmalloc(n * sizeof(*s));
    if (!s)
        return -ENOMEM;
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), bench_cmp_double);
    size_t tenth = n >= 10 ? n / 10 : 1;
    size_t p95 = (95 * n + 99) / 100; /* nearest rank */
    *ret = (struct bench_stats){
        .mean = bench_mean(v, n),
        .median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2,
        .p95 = s[p95 ? p95 - 1 : 0],
        .max = s[n - 1],
        .first = bench_mean(v, tenth),
        .last = bench_mean(v + n - tenth, tenth),
    };
    return 0;
}

static void bench_stats_print(const char *what, const struct bench_stats *st, size_t n) {
    printf("%-28s n=%-5zu mean %8.3f  median %8.3f  p95 %8.3f  max %8.3f ms"
           "  (first tenth %.3f, last tenth %.3f)\n",
           what, n, st->mean, st->median, st->p95, st->max, st->first, st->last);
}

/* ---- space -------------------------------------------------------------- */

/* Used bytes of the filesystem holding path, after sync(). */
static int bench_fs_used(const char *path, uint64_t *ret, struct error *err) {
    struct statvfs sv;
    sync();
    if (statvfs(path, &sv) < 0)
        return error_set(err, -errno, "cannot inspect '%s': %s", path, strerror(errno));
    *ret = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
    return 0;
}

static int bench_fs_size(const char *path, uint64_t *ret, struct error *err) {
    struct statvfs sv;
    if (statvfs(path, &sv) < 0)
        return error_set(err, -errno, "cannot inspect '%s': %s", path, strerror(errno));
    *ret = (uint64_t)sv.f_blocks * sv.f_frsize;
    return 0;
}

/* Allocated bytes of a file (its st_blocks); 0 when it is missing. */
static uint64_t bench_file_allocated(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* Whether FICLONE works in dir: tells the reflink and copy cases apart. */
static bool bench_dir_reflinks(const char *dir) {
    _cleanup_free_ char *a = xasprintf("%s/.reflink-probe-a", dir);
    _cleanup_free_ char *b = xasprintf("%s/.reflink-probe-b", dir);
    if (!a || !b)
        return false;
    bool ok = false;
    _cleanup_close_ int fa = open(a, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    _cleanup_close_ int fb = open(b, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char block[4096] = {1};
    if (fa >= 0 && fb >= 0 && pwrite(fa, block, sizeof(block), 0) == (ssize_t)sizeof(block))
        ok = ioctl(fb, FICLONE, fa) == 0;
    (void)unlink(a);
    (void)unlink(b);
    return ok;
}

static void bench_mib(const char *what, uint64_t bytes) {
    printf("%-44s %12.1f MiB\n", what, (double)bytes / (double)MiB);
}

/* ---- the ext4 image ----------------------------------------------------- */

static int bench_mkfs(const char *dev, const char *content, struct error *err) {
    const char *argv[] = {"mke2fs", "-q", "-F", "-t", "ext4", "-d", content, dev, NULL};
    struct exec_opts opts = {.timeout_ms = 600000};
    return exec_run(argv, &opts, err);
}

/* ---- snap: hearth's pool ------------------------------------------------ */

struct bench_snap_args {
    enum pool_driver driver;
    const char *name, *dir, *content;
    uint64_t image_size, data_size;
    size_t count, activate;
};

struct bench_snap_result {
    struct bench_stats snap, act, deact, rm, raw;
    size_t n_act, n_raw;
    uint64_t image_used;  /* the pool's data used by the image alone */
    uint64_t pool_delta;  /* pool data used by the snapshots */
    uint64_t meta_delta;  /* dm-thin metadata used by the snapshots */
    uint64_t fs_delta;    /* filesystem used by the snapshots */
    uint64_t files_delta; /* allocated blocks of the backing files (dm-thin) */
    bool reflinks;        /* file driver: FICLONE works in the data directory */
};

static uint64_t bench_thin_files(const struct pool_config *cfg) {
    return bench_file_allocated(cfg->data_path) + bench_file_allocated(cfg->metadata_path);
}

/* Builds the image as device 1: create, activate, mke2fs -d, deactivate. */
static int bench_image_make(pool *p, uint32_t id, uint64_t size, const char *content,
                            struct error *err) {
    _cleanup_free_ char *path = NULL;
    int r = pool_device_create(p, id, size, err);
    if (r < 0 || (r = pool_device_activate(p, id, size, &path, err)) < 0)
        return r;
    double t0 = bench_now_ms();
    r = bench_mkfs(path, content, err);
    if (r < 0)
        return r;
    printf("image: mke2fs -t ext4 -d %s on %s: %.0f ms\n", content, path, bench_now_ms() - t0);
    return pool_device_deactivate(p, id, err);
}

static int bench_snap_times(pool *p, const struct bench_snap_args *a, double *ms,
                            struct error *err) {
    for (size_t i = 0; i < a->count; i++) {
        uint32_t id = (uint32_t)(BENCH_FIRST_ID + i);
        double t0 = bench_now_ms();
        int r = pool_device_snapshot(p, id, 1, a->image_size, err);
        ms[i] = bench_now_ms() - t0;
        if (r < 0)
            return error_prefix(err, "snapshot %zu of %zu", i + 1, a->count);
    }
    return 0;
}

static int bench_activate_times(pool *p, const struct bench_snap_args *a, double *act,
                                double *deact, struct error *err) {
    for (size_t i = 0; i < a->activate; i++) {
        uint32_t id = (uint32_t)(BENCH_FIRST_ID + i);
        _cleanup_free_ char *path = NULL;
        double t0 = bench_now_ms();
        int r = pool_device_activate(p, id, a->image_size, &path, err);
        double t1 = bench_now_ms();
        if (r < 0 || (r = pool_device_deactivate(p, id, err)) < 0)
            return r;
        act[i] = t1 - t0;
        deact[i] = bench_now_ms() - t1;
    }
    return 0;
}

static int bench_remove_times(pool *p, const struct bench_snap_args *a, double *ms,
                              struct error *err) {
    for (size_t i = 0; i < a->count; i++) {
        double t0 = bench_now_ms();
        int r = pool_device_remove(p, (uint32_t)(BENCH_FIRST_ID + i), err);
        ms[i] = bench_now_ms() - t0;
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * The file system's own share of a reflink snapshot: FICLONE of the image
 * into a new file, nothing else (no room check, fsync or rename), n times.
 */
#define BENCH_RAW_MAX 100
static int bench_raw_clone_times(const struct pool_config *cfg, uint32_t id, size_t n, double *ms,
                                 struct error *err) {
    if (n == 0)
        return 0;
    _cleanup_free_ char *src = xasprintf("%s/%" PRIu32 ".img", cfg->data_path, id);
    _cleanup_free_ char *dst = xasprintf("%s/../raw-clone", cfg->data_path);
    if (!src || !dst)
        return error_set(err, -ENOMEM, "out of memory");
    _cleanup_close_ int sfd = open(src, O_RDONLY | O_CLOEXEC);
    if (sfd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", src, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        _cleanup_close_ int dfd = open(dst, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (dfd < 0)
            return error_set(err, -errno, "cannot create '%s': %s", dst, strerror(errno));
        double t0 = bench_now_ms();
        int r = ioctl(dfd, FICLONE, sfd);
        ms[i] = bench_now_ms() - t0;
        if (r < 0)
            return error_set(err, -errno, "FICLONE into '%s': %s", dst, strerror(errno));
        (void)unlink(dst);
    }
    return 0;
}

static int bench_snap_measure(pool *p, const struct pool_config *cfg,
                              const struct bench_snap_args *a, struct bench_snap_result *res,
                              struct error *err) {
    struct pool_usage u0, u1;
    uint64_t fs0, fs1, files0 = 0;
    _cleanup_free_ double *snap = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *rm = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *act = xcalloc(a->activate + 1, sizeof(double));
    _cleanup_free_ double *deact = xcalloc(a->activate + 1, sizeof(double));
    _cleanup_free_ double *raw = xcalloc(BENCH_RAW_MAX, sizeof(double));
    if (!snap || !rm || !act || !deact || !raw)
        return error_set(err, -ENOMEM, "out of memory");
    int r = bench_image_make(p, 1, a->image_size, a->content, err);
    if (r < 0 || (r = bench_fs_used(a->dir, &fs0, err)) < 0 ||
        (r = pool_usage_get(p, &u0, err)) < 0)
        return r;
    if (cfg->driver == POOL_DRIVER_DM_THIN)
        files0 = bench_thin_files(cfg);
    res->image_used = u0.data_used;
    if ((r = bench_snap_times(p, a, snap, err)) < 0 || (r = bench_fs_used(a->dir, &fs1, err)) < 0 ||
        (r = pool_usage_get(p, &u1, err)) < 0)
        return r;
    res->pool_delta = u1.data_used - u0.data_used;
    res->meta_delta = u1.metadata_used - u0.metadata_used;
    res->fs_delta = fs1 > fs0 ? fs1 - fs0 : 0;
    if (cfg->driver == POOL_DRIVER_DM_THIN) {
        uint64_t files1 = bench_thin_files(cfg);
        res->files_delta = files1 > files0 ? files1 - files0 : 0;
    }
    if ((r = bench_activate_times(p, a, act, deact, err)) < 0 ||
        (r = bench_remove_times(p, a, rm, err)) < 0)
        return r;
    res->n_act = a->activate;
    res->n_raw = res->reflinks ? BENCH_RAW_MAX : 0;
    if ((r = bench_raw_clone_times(cfg, 1, res->n_raw, raw, err)) < 0)
        return r;
    if (bench_stats_compute(raw, res->n_raw, &res->raw) < 0 ||
        bench_stats_compute(snap, a->count, &res->snap) < 0 ||
        bench_stats_compute(act, a->activate, &res->act) < 0 ||
        bench_stats_compute(deact, a->activate, &res->deact) < 0 ||
        bench_stats_compute(rm, a->count, &res->rm) < 0)
        return error_set(err, -ENOMEM, "out of memory");
    return pool_device_remove(p, 1, err);
}

static void bench_snap_report(const struct bench_snap_args *a, const struct pool_config *cfg,
                              const struct bench_snap_result *res) {
    const char *drv = pool_driver_name(a->driver);
    const char *kind = cfg->driver == POOL_DRIVER_DM_THIN ? "dm-thin"
                       : res->reflinks                    ? "file-reflink"
                                                          : "file-copy";
    printf("%s: %zu snapshots of a %.0f MiB image (driver %s)\n", kind, a->count,
           (double)a->image_size / (double)MiB, drv);
    bench_stats_print("pool_device_snapshot", &res->snap, a->count);
    if (res->n_act) {
        bench_stats_print("pool_device_activate", &res->act, res->n_act);
        bench_stats_print("pool_device_deactivate", &res->deact, res->n_act);
    }
    bench_stats_print("pool_device_remove", &res->rm, a->count);
    if (res->n_raw)
        bench_stats_print("raw FICLONE (no pool)", &res->raw, res->n_raw);
    bench_mib("image: pool data used", res->image_used);
    bench_mib("snapshots: pool data used (delta)", res->pool_delta);
    if (cfg->driver == POOL_DRIVER_DM_THIN) {
        bench_mib("snapshots: pool metadata used (delta)", res->meta_delta);
        bench_mib("snapshots: data+metadata files' blocks (delta)", res->files_delta);
    }
    bench_mib("snapshots: filesystem used (delta)", res->fs_delta);
    printf("RESULT case=%s image_mib=%.0f n=%zu mean=%.3f median=%.3f p95=%.3f max=%.3f "
           "first=%.3f last=%.3f act_n=%zu act_mean=%.3f act_median=%.3f deact_mean=%.3f "
           "rm_mean=%.3f raw_n=%zu raw_mean=%.3f image_used=%" PRIu64 " pool_delta=%" PRIu64
           " meta_delta=%" PRIu64 " fs_delta=%" PRIu64 " files_delta=%" PRIu64 "\n",
           kind, (double)a->image_size / (double)MiB, a->count, res->snap.mean, res->snap.median,
           res->snap.p95, res->snap.max, res->snap.first, res->snap.last, res->n_act, res->act.mean,
           res->act.median, res->deact.mean, res->rm.mean, res->n_raw, res->raw.mean,
           res->image_used, res->pool_delta, res->meta_delta, res->fs_delta, res->files_delta);
}

/* A pool for a run: its configuration, the paths it points to, the handle. */
struct bench_pool {
    struct pool_config cfg;
    char *data, *meta;
    pool *p;
    bool reflinks; /* file driver: FICLONE works in the data directory */
};

static int bench_pool_setup(struct bench_pool *bp, const struct bench_snap_args *a,
                            struct error *err) {
    *bp = (struct bench_pool){0};
    bp->data = xasprintf("%s/%s", a->dir, a->driver == POOL_DRIVER_FILE ? "pool" : "data");
    bp->meta = xasprintf("%s/metadata", a->dir);
    if (!bp->data || !bp->meta)
        return error_set(err, -ENOMEM, "out of memory");
    bp->cfg = (struct pool_config){
        .driver = a->driver,
        .name = a->name,
        .data_size = a->data_size,
        .metadata_size = 64 * MiB,
        .allocation_size = 64 * KiB,
        .data_path = bp->data,
        .metadata_path = bp->meta,
    };
    int r;
    if (a->driver == POOL_DRIVER_FILE) {
        /*
         * The file driver counts each file's allocated blocks, shared or not,
         * so a pool of reflinks looks COUNT times the image: give it the
         * whole filesystem.
         */
        if ((r = bench_fs_size(a->dir, &bp->cfg.data_size, err)) < 0)
            return r;
        bp->reflinks = bench_dir_reflinks(a->dir);
    }
    if ((r = pool_create(&bp->cfg, err)) < 0)
        return r;
    return pool_open(&bp->cfg, &bp->p, err);
}

static void bench_pool_teardown(struct bench_pool *bp) {
    struct error e2;
    error_init(&e2);
    if (bp->p && (pool_disassemble(bp->p, &e2) < 0 || pool_destroy(&bp->cfg, &e2) < 0))
        fprintf(stderr, "pool_snapshots: cleanup: %s\n", e2.msg);
    pool_free(bp->p);
    free(bp->data);
    free(bp->meta);
    *bp = (struct bench_pool){0};
}

static int bench_snap(const struct bench_snap_args *a, struct error *err) {
    struct bench_pool bp;
    struct bench_snap_result res = {0};
    int r = bench_pool_setup(&bp, a, err);
    if (r >= 0) {
        res.reflinks = bp.reflinks;
        r = bench_snap_measure(bp.p, &bp.cfg, a, &res, err);
    }
    if (r >= 0)
        bench_snap_report(a, &bp.cfg, &res);
    bench_pool_teardown(&bp);
    return r;
}

/* ---- size: snapshots of a small and a large image, interleaved ----------- */

/*
 * Both images live in one pool and their snapshots alternate (small, large,
 * then large, small, ...), so both see the same device count, the same
 * state of the pool and the same load on the machine.
 */
static int bench_size_measure(struct bench_pool *bp, const struct bench_snap_args *a,
                              uint64_t large_size, const char *large_content, double *small,
                              double *large, struct error *err) {
    int r = bench_image_make(bp->p, 1, a->image_size, a->content, err);
    if (r < 0 || (r = bench_image_make(bp->p, 2, large_size, large_content, err)) < 0)
        return r;
    uint32_t id = 3;
    for (size_t i = 0; i < a->count; i++) {
        for (int k = 0; k < 2; k++) {
            bool big = (k == 0) == (i % 2 == 1);
            double t0 = bench_now_ms();
            r = pool_device_snapshot(bp->p, id++, big ? 2 : 1, big ? large_size : a->image_size,
                                     err);
            (big ? large : small)[i] = bench_now_ms() - t0;
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int bench_size(const struct bench_snap_args *a, uint64_t large_size,
                      const char *large_content, struct error *err) {
    _cleanup_free_ double *small = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *large = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *raw_small = xcalloc(BENCH_RAW_MAX, sizeof(double));
    _cleanup_free_ double *raw_large = xcalloc(BENCH_RAW_MAX, sizeof(double));
    if (!small || !large || !raw_small || !raw_large)
        return error_set(err, -ENOMEM, "out of memory");
    struct bench_pool bp;
    struct pool_usage u;
    int r = bench_pool_setup(&bp, a, err);
    size_t n_raw = bp.reflinks ? BENCH_RAW_MAX : 0;
    if (r >= 0)
        r = bench_size_measure(&bp, a, large_size, large_content, small, large, err);
    if (r >= 0 && (r = bench_raw_clone_times(&bp.cfg, 1, n_raw, raw_small, err)) >= 0)
        r = bench_raw_clone_times(&bp.cfg, 2, n_raw, raw_large, err);
    if (r >= 0)
        r = pool_usage_get(bp.p, &u, err);
    const char *kind = a->driver == POOL_DRIVER_DM_THIN ? "dm-thin"
                       : bp.reflinks                    ? "file-reflink"
                                                        : "file-copy";
    bench_pool_teardown(&bp);
    if (r < 0)
        return r;
    struct bench_stats ss, ls, rs, rl;
    if (bench_stats_compute(small, a->count, &ss) < 0 ||
        bench_stats_compute(large, a->count, &ls) < 0 ||
        bench_stats_compute(raw_small, n_raw, &rs) < 0 ||
        bench_stats_compute(raw_large, n_raw, &rl) < 0)
        return error_set(err, -ENOMEM, "out of memory");
    double smib = (double)a->image_size / (double)MiB, lmib = (double)large_size / (double)MiB;
    printf("%s: %zu snapshots each of a %.0f MiB and a %.0f MiB image, interleaved\n", kind,
           a->count, smib, lmib);
    bench_stats_print("snapshot of the small image", &ss, a->count);
    bench_stats_print("snapshot of the large image", &ls, a->count);
    if (n_raw) {
        bench_stats_print("raw FICLONE, small image", &rs, n_raw);
        bench_stats_print("raw FICLONE, large image", &rl, n_raw);
    }
    printf("large/small: mean %.2fx, median %.2fx\n", ls.mean / ss.mean, ls.median / ss.median);
    printf("RESULT case=size-%s image_mib=%.0f large_mib=%.0f n=%zu mean=%.3f median=%.3f "
           "p95=%.3f large_mean=%.3f large_median=%.3f large_p95=%.3f raw_n=%zu raw_mean=%.3f "
           "large_raw_mean=%.3f\n",
           kind, smib, lmib, a->count, ss.mean, ss.median, ss.p95, ls.mean, ls.median, ls.p95,
           n_raw, rs.mean, rl.mean);
    return 0;
}

/* ---- ignite: a dm snapshot, e2fsck and resize2fs per VM ----------------- */

struct bench_ignite_args {
    const char *dir, *content;
    uint64_t image_size, disk_size;
    size_t count;
};

static int bench_dmsetup_create(const char *dir, const char *name, const char *table,
                                struct error *err) {
    _cleanup_free_ char *path = xasprintf("%s/%s.table", dir, name);
    if (!path)
        return error_set(err, -ENOMEM, "out of memory");
    _cleanup_fclose_ FILE *f = fopen(path, "we");
    if (!f || fputs(table, f) < 0 || fflush(f) != 0)
        return error_set(err, -EIO, "cannot write '%s'", path);
    const char *argv[] = {"dmsetup", "create", name, NULL};
    struct exec_opts opts = {.stdin_path = path, .timeout_ms = 60000};
    return exec_run(argv, &opts, err);
}

static int bench_dmsetup_remove(const char *name, struct error *err) {
    const char *argv[] = {"dmsetup", "remove", name, NULL};
    struct exec_opts opts = {.timeout_ms = 60000};
    return exec_run(argv, &opts, err);
}

struct bench_ignite_vm {
    double setup, fsck, resize; /* ms */
};

/* What ActivateSnapshot did for one VM. */
static int bench_ignite_vm(const struct bench_ignite_args *a, const char *image, size_t i,
                           struct bench_ignite_vm *ret, struct error *err) {
    char base[64], snap[64], dev[128], table[512];
    _cleanup_free_ char *overlay = xasprintf("%s/overlay-%zu.dm", a->dir, i);
    if (!overlay)
        return error_set(err, -ENOMEM, "out of memory");
    snprintf(base, sizeof(base), "bench-ign-base-%zu", i);
    snprintf(snap, sizeof(snap), "bench-ign-%zu", i);
    snprintf(dev, sizeof(dev), "/dev/mapper/%s", snap);
    double t0 = bench_now_ms();
    {
        _cleanup_close_ int fd = open(overlay, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)a->disk_size) < 0)
            return error_set(err, -errno, "cannot create '%s': %s", overlay, strerror(errno));
    }
    _cleanup_close_ int ifd = -1;
    _cleanup_close_ int ofd = -1;
    dev_t idev, odev;
    int r = loop_attach(image, &ifd, &idev, err);
    if (r < 0 || (r = loop_attach(overlay, &ofd, &odev, err)) < 0)
        return r;
    uint64_t isec = a->image_size / 512, dsec = a->disk_size / 512;
    snprintf(table, sizeof(table), "0 %" PRIu64 " linear %u:%u 0\n%" PRIu64 " %" PRIu64 " zero\n",
             isec, major(idev), minor(idev), isec, dsec - isec);
    if ((r = bench_dmsetup_create(a->dir, base, table, err)) < 0)
        return r;
    snprintf(table, sizeof(table), "0 %" PRIu64 " snapshot /dev/mapper/%s %u:%u P 8\n", dsec, base,
             major(odev), minor(odev));
    if ((r = bench_dmsetup_create(a->dir, snap, table, err)) < 0)
        return r;
    double t1 = bench_now_ms();
    /* Ignite ignored e2fsck's status: it is non-zero when it repaired something. */
    const char *fsck[] = {"e2fsck", "-p", "-f", dev, NULL};
    struct exec_opts opts = {.timeout_ms = 600000};
    struct error ignored;
    if (exec_run(fsck, &opts, &ignored) < 0)
        log_debug("e2fsck: %s", ignored.msg);
    double t2 = bench_now_ms();
    const char *resize[] = {"resize2fs", dev, NULL};
    if ((r = exec_run(resize, &opts, err)) < 0)
        return r;
    *ret =
        (struct bench_ignite_vm){.setup = t1 - t0, .fsck = t2 - t1, .resize = bench_now_ms() - t2};
    return 0;
    /* the loops' fds close here; the dm devices hold them, autoclear frees them with those */
}

static void bench_ignite_teardown(size_t n) {
    char name[64];
    struct error e;
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "bench-ign-%zu", i);
        if (bench_dmsetup_remove(name, &e) < 0)
            fprintf(stderr, "pool_snapshots: %s\n", e.msg);
        snprintf(name, sizeof(name), "bench-ign-base-%zu", i);
        if (bench_dmsetup_remove(name, &e) < 0)
            fprintf(stderr, "pool_snapshots: %s\n", e.msg);
    }
}

static int bench_ignite_run(const struct bench_ignite_args *a, const char *image, double *total,
                            double *setup, double *fsck, double *resize, size_t *done,
                            struct error *err) {
    for (size_t i = 0; i < a->count; i++) {
        struct bench_ignite_vm vm = {0};
        int r = bench_ignite_vm(a, image, i, &vm, err);
        *done = i + 1; /* its dm devices may exist even when it failed */
        if (r < 0)
            return error_prefix(err, "ignite vm %zu of %zu", i + 1, a->count);
        setup[i] = vm.setup;
        fsck[i] = vm.fsck;
        resize[i] = vm.resize;
        total[i] = vm.setup + vm.fsck + vm.resize;
    }
    return 0;
}

static int bench_ignite(const struct bench_ignite_args *a, struct error *err) {
    _cleanup_free_ char *image = xasprintf("%s/image.ext4", a->dir);
    _cleanup_free_ double *total = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *setup = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *fsck = xcalloc(a->count, sizeof(double));
    _cleanup_free_ double *resize = xcalloc(a->count, sizeof(double));
    if (!image || !total || !setup || !fsck || !resize)
        return error_set(err, -ENOMEM, "out of memory");
    {
        _cleanup_close_ int fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)a->image_size) < 0)
            return error_set(err, -errno, "cannot create '%s': %s", image, strerror(errno));
    }
    int r = bench_mkfs(image, a->content, err);
    uint64_t fs0, fs1, overlays = 0;
    if (r < 0 || (r = bench_fs_used(a->dir, &fs0, err)) < 0)
        return r;
    size_t done = 0;
    r = bench_ignite_run(a, image, total, setup, fsck, resize, &done, err);
    if (r >= 0 && (r = bench_fs_used(a->dir, &fs1, err)) >= 0) {
        for (size_t i = 0; i < a->count; i++) {
            _cleanup_free_ char *o = xasprintf("%s/overlay-%zu.dm", a->dir, i);
            overlays += o ? bench_file_allocated(o) : 0;
        }
    }
    bench_ignite_teardown(done);
    if (r < 0)
        return r;
    struct bench_stats st, sst, fst, rst;
    if (bench_stats_compute(total, a->count, &st) < 0 ||
        bench_stats_compute(setup, a->count, &sst) < 0 ||
        bench_stats_compute(fsck, a->count, &fst) < 0 ||
        bench_stats_compute(resize, a->count, &rst) < 0)
        return error_set(err, -ENOMEM, "out of memory");
    printf("ignite: %zu VMs from a %.0f MiB image, %.0f MiB disks\n", a->count,
           (double)a->image_size / (double)MiB, (double)a->disk_size / (double)MiB);
    bench_stats_print("per VM, total", &st, a->count);
    bench_stats_print("  overlay+loops+dmsetup", &sst, a->count);
    bench_stats_print("  e2fsck -p -f", &fst, a->count);
    bench_stats_print("  resize2fs", &rst, a->count);
    bench_mib("image file allocated", bench_file_allocated(image));
    bench_mib("overlays: allocated blocks", overlays);
    bench_mib("overlays: filesystem used (delta)", fs1 > fs0 ? fs1 - fs0 : 0);
    printf("RESULT case=ignite image_mib=%.0f disk_mib=%.0f n=%zu mean=%.3f median=%.3f "
           "p95=%.3f max=%.3f first=%.3f last=%.3f setup_mean=%.3f fsck_mean=%.3f "
           "resize_mean=%.3f overlays=%" PRIu64 " fs_delta=%" PRIu64 "\n",
           (double)a->image_size / (double)MiB, (double)a->disk_size / (double)MiB, a->count,
           st.mean, st.median, st.p95, st.max, st.first, st.last, sst.mean, fst.mean, rst.mean,
           overlays, fs1 > fs0 ? fs1 - fs0 : 0);
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

static int bench_size_parse(const char *s, uint64_t *ret) {
    int r = parse_u64(s, POOL_DEVICE_SIZE_MAX, ret);
    if (r < 0 || *ret == 0 || *ret % MiB != 0)
        return -EINVAL;
    return 0;
}

static int bench_count_parse(const char *s, size_t *ret) {
    uint64_t v;
    int r = parse_u64(s, BENCH_COUNT_MAX, &v);
    if (r < 0)
        return r;
    *ret = (size_t)v;
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: pool_snapshots snap DRIVER NAME DIR IMAGE_BYTES CONTENT COUNT ACTIVATE "
                    "[DATA_BYTES]\n"
                    "       pool_snapshots size DRIVER NAME DIR IMAGE_BYTES CONTENT LARGE_BYTES "
                    "LARGE_CONTENT COUNT [DATA_BYTES]\n"
                    "       pool_snapshots ignite DIR IMAGE_BYTES CONTENT DISK_BYTES COUNT\n"
                    "sizes are bytes, multiples of 1 MiB\n");
    return 2;
}

int main(int argc, char **argv) {
    struct error err;
    error_init(&err);
    int r;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 9 && argc <= 10 && strcmp(argv[1], "snap") == 0) {
        struct bench_snap_args a = {.name = argv[3], .dir = argv[4], .content = argv[6]};
        a.data_size = 4 * GiB;
        if (pool_driver_parse(argv[2], &a.driver) < 0 ||
            bench_size_parse(argv[5], &a.image_size) < 0 ||
            bench_count_parse(argv[7], &a.count) < 0 || a.count == 0 ||
            bench_count_parse(argv[8], &a.activate) < 0 || a.activate > a.count ||
            (argc == 10 && bench_size_parse(argv[9], &a.data_size) < 0))
            return usage();
        bench_clock_init();
        r = bench_snap(&a, &err);
    } else if (argc >= 10 && argc <= 11 && strcmp(argv[1], "size") == 0) {
        struct bench_snap_args a = {.name = argv[3], .dir = argv[4], .content = argv[6]};
        uint64_t large_size;
        a.data_size = 16 * GiB;
        if (pool_driver_parse(argv[2], &a.driver) < 0 ||
            bench_size_parse(argv[5], &a.image_size) < 0 ||
            bench_size_parse(argv[7], &large_size) < 0 ||
            bench_count_parse(argv[9], &a.count) < 0 || a.count == 0 ||
            (argc == 11 && bench_size_parse(argv[10], &a.data_size) < 0))
            return usage();
        bench_clock_init();
        r = bench_size(&a, large_size, argv[8], &err);
    } else if (argc == 7 && strcmp(argv[1], "ignite") == 0) {
        struct bench_ignite_args a = {.dir = argv[2], .content = argv[4]};
        if (bench_size_parse(argv[3], &a.image_size) < 0 ||
            bench_size_parse(argv[5], &a.disk_size) < 0 || a.disk_size <= a.image_size ||
            bench_count_parse(argv[6], &a.count) < 0 || a.count == 0)
            return usage();
        bench_clock_init();
        r = bench_ignite(&a, &err);
    } else {
        return usage();
    }
    if (r < 0) {
        fprintf(stderr, "pool_snapshots: %s\n", err.msg);
        return 1;
    }
    return 0;
}
