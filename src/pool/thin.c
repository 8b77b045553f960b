/*
 * dm-thin driver: the pool and its devices. The pool is the thin-pool target
 * hearth-<name>-pool over the metadata and data devices (loop devices over
 * sparse files, or block devices), loaded with error_if_no_space so that a
 * full pool fails I/O instead of queueing it forever. Devices are created
 * and deleted by messages to the pool and activated as thin targets.
 * Every step is idempotent: the kernel's "exists" and "no such device"
 * answers count as done.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pool/thin_priv.h"

#define THIN_SB_MAGIC UINT64_C(27022010)

void thin_pool_name(const pool *p, char buf[POOL_DM_NAME_MAX]) {
    snprintf(buf, POOL_DM_NAME_MAX, "hearth-%s-pool", p->name);
}

void thin_dev_name(const pool *p, uint32_t id, char buf[POOL_DM_NAME_MAX]) {
    snprintf(buf, POOL_DM_NAME_MAX, "hearth-%s-%" PRIu32, p->name, id);
}

void thin_prefix(const pool *p, char buf[POOL_DM_NAME_MAX]) {
    snprintf(buf, POOL_DM_NAME_MAX, "hearth-%s-", p->name);
}

int thin_message(const pool *p, struct error *err, const char *fmt, ...) {
    char msg[128], name[POOL_DM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    thin_pool_name(p, name);
    return dm_dev_message(name, msg, err);
}

int thin_pool_dev(const pool *p, uint32_t *ret_major, uint32_t *ret_minor, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    bool exists;
    thin_pool_name(p, name);
    int r = dm_dev_info(name, &exists, ret_major, ret_minor, NULL, err);
    if (r < 0)
        return r;
    if (!exists)
        return error_set(err, -ENODEV, "pool '%s' is not assembled; open it again", name);
    return 0;
}

/* ---- creating the backing storage ---------------------------------------- */

static int thin_blockdev_size(int fd, const char *path, uint64_t *ret, struct error *err) {
    if (ioctl(fd, BLKGETSIZE64, ret) < 0)
        return error_set(err, -errno, "cannot read the size of '%s': %s", path, strerror(errno));
    return 0;
}

/* Reads the first metadata block: 1 when zero, 2 when a thin superblock, 0 else. */
static int thin_meta_head(int fd, const char *path, struct error *err) {
    uint8_t b[THIN_META_BLOCK];
    ssize_t n = pread(fd, b, sizeof(b), 0);
    if (n != (ssize_t)sizeof(b))
        return error_set(err, n < 0 ? -errno : -EIO, "cannot read '%s'", path);
    uint64_t magic = 0;
    for (int i = 7; i >= 0; i--)
        magic = magic << 8 | b[32 + i];
    if (magic == THIN_SB_MAGIC)
        return 2;
    for (size_t i = 0; i < sizeof(b); i++)
        if (b[i])
            return 0;
    return 1;
}

static int thin_meta_zero(int fd, const char *path, struct error *err) {
    static const uint8_t zeros[THIN_META_BLOCK];
    if (pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros) || fsync(fd) < 0)
        return error_set(err, errno == ENOSPC ? -ENOSPC : -EIO, "cannot write '%s': %s", path,
                         strerror(errno));
    return 0;
}

static int thin_fs_check(const char *path, uint64_t size, struct error *err) {
    _cleanup_free_ char *copy = xstrdup(path);
    if (!copy)
        return error_oom(err);
    struct statvfs sv;
    const char *dir = dirname(copy);
    if (statvfs(dir, &sv) < 0)
        return error_set(err, -errno, "cannot inspect '%s': %s", dir, strerror(errno));
    uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize;
    if (size > total) {
        char want[32], have[32];
        size_format_human(size, want, sizeof(want));
        size_format_human(total, have, sizeof(have));
        return error_set(err, -ENOSPC, "'%s' of %s does not fit its filesystem (%s)", path, want,
                         have);
    }
    return 0;
}

static int thin_file_make(const char *path, uint64_t size, bool meta, struct error *err) {
    int r = thin_fs_check(path, size, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    if (ftruncate(fd, (off_t)size) < 0)
        r = error_set(err, errno == EFBIG ? -ENOSPC : -errno, "cannot size '%s': %s", path,
                      strerror(errno));
    else if (meta)
        r = thin_meta_zero(fd, path, err);
    else if (fsync(fd) < 0)
        r = error_set(err, -errno, "cannot write '%s': %s", path, strerror(errno));
    if (r < 0)
        (void)unlink(path);
    return r;
}

/* An existing path: a block device big enough, or our own file of this size. */
static int thin_existing_check(const char *path, const struct stat *st, uint64_t size, bool meta,
                               struct error *err) {
    bool blk = S_ISBLK(st->st_mode);
    if (!blk && (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != size))
        return error_set(err, -EEXIST,
                         "'%s' exists with other content (%" PRIu64 " bytes, not %" PRIu64 ")",
                         path, (uint64_t)st->st_size, size);
    _cleanup_close_ int fd = open(path, (meta ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    uint64_t have = size;
    int r = blk ? thin_blockdev_size(fd, path, &have, err) : 0;
    if (r < 0)
        return r;
    if (have < size)
        return error_set(err, -ENOSPC, "block device '%s' holds %" PRIu64 " bytes, not %" PRIu64,
                         path, have, size);
    if (!meta || (r = thin_meta_head(fd, path, err)) > 0)
        return r < 0 ? r : 0;
    if (r < 0)
        return r;
    if (!blk)
        return error_set(err, -EEXIST, "'%s' exists with other content", path);
    return thin_meta_zero(fd, path, err);
}

static int thin_backing_create(const char *path, uint64_t size, bool meta, struct error *err) {
    struct stat st;
    if (stat(path, &st) == 0)
        return thin_existing_check(path, &st, size, meta, err);
    if (errno != ENOENT)
        return error_set(err, -errno, "cannot inspect '%s': %s", path, strerror(errno));
    return thin_file_make(path, size, meta, err);
}

static int thin_pool_create(const struct pool_config *cfg, struct error *err) {
    int r = thin_backing_create(cfg->metadata_path, cfg->metadata_size, true, err);
    if (r < 0)
        return r;
    return thin_backing_create(cfg->data_path, cfg->data_size, false, err);
}

static int thin_pool_destroy(const struct pool_config *cfg, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    bool exists = false;
    snprintf(name, sizeof(name), "hearth-%s-pool", cfg->name);
    dm_setup();
    if (dm_control_ensure(NULL) == 0 && dm_dev_info(name, &exists, NULL, NULL, NULL, err) < 0)
        return err->code;
    if (exists)
        return error_set(err, -EBUSY, "pool '%s' is assembled; disassemble it first", name);
    const char *paths[] = {cfg->metadata_path, cfg->data_path};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        struct stat st;
        if (lstat(paths[i], &st) < 0 || !S_ISREG(st.st_mode))
            continue; /* block devices stay as they are */
        if (unlink(paths[i]) < 0 && errno != ENOENT)
            return error_set(err, -errno, "cannot remove '%s': %s", paths[i], strerror(errno));
    }
    return 0;
}

/* ---- assembling ---------------------------------------------------------- */

/* The device under path: the block device itself, or a new autoclear loop. */
static int thin_backing_attach(const pool *p, const char *what, const char *path, uint64_t size,
                               int *ret_fd, dev_t *ret_dev, struct error *err) {
    struct stat st;
    *ret_fd = -1;
    if (stat(path, &st) < 0 && errno == ENOENT)
        return error_set(err, -ENOENT, "the %s file '%s' of pool '%s' is gone", what, path,
                         p->name);
    if (stat(path, &st) < 0)
        return error_set(err, -errno, "cannot inspect '%s': %s", path, strerror(errno));
    if (S_ISBLK(st.st_mode)) {
        *ret_dev = st.st_rdev;
        return 0;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < size)
        return error_set(err, -EINVAL,
                         "the %s file '%s' of pool '%s' is not a file of %" PRIu64 " bytes", what,
                         path, p->name, size);
    return loop_attach(path, ret_fd, ret_dev, err);
}

static int thin_pool_assemble(pool *p, struct error *err) {
    _cleanup_close_ int mfd = -1;
    _cleanup_close_ int dfd = -1;
    dev_t mdev, ddev;
    int r =
        thin_backing_attach(p, "metadata", p->metadata_path, p->metadata_size, &mfd, &mdev, err);
    if (r < 0 ||
        (r = thin_backing_attach(p, "data", p->data_path, p->data_size, &dfd, &ddev, err)) < 0)
        return r;
    char params[128], name[POOL_DM_NAME_MAX];
    snprintf(params, sizeof(params), "%u:%u %u:%u %" PRIu64 " 0 1 error_if_no_space", major(mdev),
             minor(mdev), major(ddev), minor(ddev), p->allocation_size / 512);
    thin_pool_name(p, name);
    return dm_dev_create(name, p->data_size / 512, "thin-pool", params, err);
    /* the loops close here; the pool target keeps them, autoclear frees them with it */
}

int thin_lock(const pool *p, struct error *err) {
    int fd = open(p->metadata_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return error_set(err, -ENOENT, "the metadata file '%s' of pool '%s' is gone",
                         p->metadata_path, p->name);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", p->metadata_path, strerror(errno));
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return error_set(err, -e, "cannot lock '%s': %s", p->metadata_path, strerror(e));
        }
    }
    return fd;
}

static int thin_pool_open(pool *p, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    bool exists;
    dm_setup();
    int r = dm_control_ensure(err);
    if (r < 0)
        return r;
    thin_pool_name(p, name);
    if ((r = dm_dev_info(name, &exists, NULL, NULL, NULL, err)) < 0 || exists)
        return r;
    _cleanup_close_ int lock = thin_lock(p, err);
    if (lock < 0)
        return lock;
    if ((r = dm_dev_info(name, &exists, NULL, NULL, NULL, err)) < 0 || exists)
        return r; /* another process assembled it meanwhile */
    r = thin_pool_assemble(p, err);
    if (r < 0)
        return error_prefix(err, "cannot assemble pool '%s'", p->name);
    return dm_dev_node_ensure(name, err);
}

static int thin_loops_detach(const pool *p, const char *path, struct error *err) {
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    char **loops = NULL;
    dev_t *devs = NULL;
    size_t n = 0;
    int r = loop_find(st.st_dev, st.st_ino, &loops, &devs, &n, err);
    for (size_t i = 0; i < n; i++) {
        if (r >= 0)
            r = loop_detach(loops[i], err);
        free(loops[i]);
    }
    free(loops);
    free(devs);
    (void)p;
    return r;
}

static int thin_pool_disassemble(pool *p, struct error *err) {
    char prefix[POOL_DM_NAME_MAX], name[POOL_DM_NAME_MAX];
    char **names = NULL;
    size_t n = 0;
    thin_prefix(p, prefix);
    thin_pool_name(p, name);
    int r = dm_dev_list(prefix, &names, &n, err);
    for (size_t i = 0; i < n; i++) {
        if (r >= 0 && strcmp(names[i], name) != 0)
            r = dm_dev_remove(names[i], err);
        free(names[i]);
    }
    free(names);
    if (r < 0 || (r = dm_dev_remove(name, err)) < 0)
        return r;
    if ((r = thin_loops_detach(p, p->metadata_path, err)) < 0)
        return r;
    return thin_loops_detach(p, p->data_path, err);
}

/* ---- devices --------------------------------------------------------------- */

static int thin_device_create(pool *p, uint32_t id, uint64_t size, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    (void)size; /* a thin device has no size until it is activated */
    int r = thin_message(p, err, "create_thin %" PRIu32, id);
    if (r == -EEXIST)
        return 0;
    thin_pool_name(p, name);
    if (r < 0)
        return error_set(err, r, "cannot create thin device %" PRIu32 " in pool '%s': %s", id, name,
                         r == -ENOSPC ? "the pool's metadata is full" : strerror(-r));
    return 0;
}

static int thin_snap_message(pool *p, uint32_t id, uint32_t origin, struct error *err) {
    char pname[POOL_DM_NAME_MAX];
    int r = thin_message(p, err, "create_snap %" PRIu32 " %" PRIu32, id, origin);
    thin_pool_name(p, pname);
    if (r == -EEXIST)
        return 0;
    if (r == -ENODATA)
        return error_set(err, -ENOENT, "origin device %" PRIu32 " of pool '%s' does not exist",
                         origin, pname);
    if (r < 0)
        return error_set(err, r,
                         "cannot snapshot thin device %" PRIu32 " as %" PRIu32 " in pool '%s': %s",
                         origin, id, pname, strerror(-r));
    return 0;
}

static int thin_device_snapshot(pool *p, uint32_t id, uint32_t origin, uint64_t size,
                                struct error *err) {
    char oname[POOL_DM_NAME_MAX];
    bool active;
    (void)size; /* the snapshot's size is set when it is activated */
    thin_dev_name(p, origin, oname);
    int r = dm_dev_info(oname, &active, NULL, NULL, NULL, err);
    if (r < 0)
        return r;
    if (active && (r = dm_dev_suspend(oname, err)) < 0)
        return r;
    r = thin_snap_message(p, id, origin, err);
    if (active) {
        struct error e2;
        int r2 = dm_dev_resume(oname, &e2);
        if (r2 < 0 && r >= 0)
            r = error_set(err, r2, "%s", e2.msg);
    }
    return r;
}

static int thin_device_deactivate(pool *p, uint32_t id, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    thin_dev_name(p, id, name);
    return dm_dev_remove(name, err);
}

static int thin_device_remove(pool *p, uint32_t id, struct error *err) {
    char pname[POOL_DM_NAME_MAX];
    int r = thin_device_deactivate(p, id, err);
    if (r < 0)
        return r;
    r = thin_message(p, err, "delete %" PRIu32, id);
    if (r == -ENODATA)
        return 0; /* already deleted */
    thin_pool_name(p, pname);
    if (r < 0)
        return error_set(err, r, "cannot delete thin device %" PRIu32 " from pool '%s': %s", id,
                         pname, strerror(-r));
    return 0;
}

static int thin_device_activate(pool *p, uint32_t id, uint64_t size, char **ret_path,
                                struct error *err) {
    char name[POOL_DM_NAME_MAX], params[64];
    uint32_t maj, min;
    bool active;
    thin_dev_name(p, id, name);
    int r = dm_dev_info(name, &active, NULL, NULL, NULL, err);
    if (r < 0)
        return r;
    if (active)
        r = dm_dev_node_ensure(name, err);
    else if ((r = thin_pool_dev(p, &maj, &min, err)) >= 0) {
        snprintf(params, sizeof(params), "%u:%u %" PRIu32, maj, min, id);
        r = dm_dev_create(name, size / 512, "thin", params, err);
    }
    if (r < 0)
        return r;
    char *path = xasprintf("/dev/mapper/%s", name);
    if (!path)
        return error_oom(err);
    *ret_path = path;
    return 0;
}

/* ---- usability -------------------------------------------------------------- */

static bool thin_has_dm(void) {
    struct stat st;
    struct error err;
    return stat("/dev/mapper/control", &st) == 0 || dm_control_ensure(&err) == 0;
}

static bool thin_modprobe(void) {
    const char *argv[] = {"modprobe", "-q", "dm-thin-pool", NULL};
    struct exec_opts opts = {.timeout_ms = 10000};
    struct error err;
    return exec_run(argv, &opts, &err) == 0;
}

bool thin_usable(char *why, size_t why_size) {
    bool probed = false;
    const char *reason = NULL;
    dm_setup();
    if (geteuid() != 0)
        reason = "device-mapper needs root";
    else if (!thin_has_dm() && !((probed = thin_modprobe()) && thin_has_dm()))
        reason = "the kernel has no device-mapper";
    else if (!dm_target_listed("thin-pool") &&
             (probed || !thin_modprobe() || !dm_target_listed("thin-pool")))
        reason = "the kernel has no thin-pool target (dm-thin-pool)";
    else if (access("/dev/loop-control", F_OK) < 0)
        reason = "the kernel has no loop devices";
    if (reason && why && why_size)
        snprintf(why, why_size, "%s", reason);
    return reason == NULL;
}

const struct pool_ops pool_thin_ops = {
    .create = thin_pool_create,
    .destroy = thin_pool_destroy,
    .open = thin_pool_open,
    .disassemble = thin_pool_disassemble,
    .device_create = thin_device_create,
    .device_snapshot = thin_device_snapshot,
    .device_remove = thin_device_remove,
    .device_activate = thin_device_activate,
    .device_deactivate = thin_device_deactivate,
    .usage_get = thin_usage_get,
    .inventory_get = thin_inventory_get,
    .stray_remove = thin_stray_remove,
};
