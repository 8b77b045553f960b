/*
 * file driver: each device is a sparse file `<data_path>/<id>.img`. Files
 * appear only by rename from `<id>.img.tmp` after they are complete and
 * synced, so a crash leaves either the whole device or a temp file, which
 * the device's removal (the engine's rollback of the create) removes too.
 * Fault point pool.file.after-write: the temp file is written, not renamed.
 * Usage is the space the files really take against data_size: extents a
 * reflink shares are counted once (FIEMAP), so a thousand clones of one image
 * cost what the filesystem spends on them. A pool whose files fill data_size,
 * or whose filesystem lacks the room a copy needs, takes no new device.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pool/file_priv.h"

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

static char *file_dev_path(const pool *p, uint32_t id, bool tmp) {
    return xasprintf("%s/%" PRIu32 ".img%s", p->data_path, id, tmp ? ".tmp" : "");
}

/* A name hearth writes in the data directory: "<id>.img" or "<id>.img.tmp". */
static bool file_name_parse(const char *name, uint32_t *ret_id, bool *ret_tmp) {
    const char *dot = strchr(name, '.');
    if (!dot || !pool_id_parse(name, (size_t)(dot - name), ret_id))
        return false;
    *ret_tmp = strcmp(dot, ".img.tmp") == 0;
    return *ret_tmp || strcmp(dot, ".img") == 0;
}

static int file_io_error(const pool *p, int e, const char *what, const char *path,
                         struct error *err) {
    if (e == ENOSPC || e == EDQUOT)
        return error_set(err, -ENOSPC, "no space left for '%s' of pool '%s': %s", path, p->name,
                         "free space on its filesystem or remove devices");
    return error_set(err, -e, "cannot %s '%s' of pool '%s': %s", what, path, p->name, strerror(e));
}

static int file_dir_sync(const pool *p, struct error *err) {
    _cleanup_close_ int fd = open(p->data_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return file_io_error(p, errno, "sync", p->data_path, err);
    return 0;
}

/* Calls fn for every entry of the data directory but "." and "..". */
static int file_dir_each(const pool *p, int (*fn)(const pool *p, const char *name, void *ud),
                         void *ud, struct error *err) {
    _cleanup_closedir_ DIR *d = opendir(p->data_path);
    if (!d && errno == ENOENT)
        return error_set(err, -ENOENT, "the data directory '%s' of pool '%s' is gone", p->data_path,
                         p->name);
    if (!d)
        return file_io_error(p, errno, "read", p->data_path, err);
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int r = fn(p, de->d_name, ud);
        if (r < 0)
            return error_set(err, r, "cannot list pool '%s': %s", p->name, strerror(-r));
    }
    if (errno)
        return file_io_error(p, errno, "read", p->data_path, err);
    return 0;
}

/* Physical ranges of shared extents, merged at the end so each counts once. */
struct shared_ranges {
    struct {
        uint64_t start, len;
    } * v;
    size_t n;
};

struct used_scan {
    uint64_t unshared;
    struct shared_ranges shared;
};

#define FIEMAP_BATCH 128

/*
 * Adds a file's allocated bytes: unshared extents directly, shared ones as
 * physical ranges. Falls back to st_blocks where FIEMAP is not supported.
 */
static int file_used_scan_fd(int fd, const struct stat *st, struct used_scan *scan) {
    _cleanup_free_ struct fiemap *fm =
        xcalloc(1, sizeof(*fm) + FIEMAP_BATCH * sizeof(struct fiemap_extent));
    if (!fm)
        return -ENOMEM;
    uint64_t start = 0;
    for (;;) {
        *fm = (struct fiemap){.fm_start = start,
                              .fm_length = FIEMAP_MAX_OFFSET - start,
                              .fm_flags = FIEMAP_FLAG_SYNC,
                              .fm_extent_count = FIEMAP_BATCH};
        if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
            if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL) {
                scan->unshared += (uint64_t)st->st_blocks * 512;
                return 0;
            }
            return -errno;
        }
        if (fm->fm_mapped_extents == 0)
            return 0;
        for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
            const struct fiemap_extent *fe = &fm->fm_extents[i];
            if (fe->fe_flags & FIEMAP_EXTENT_SHARED) {
                int r = pool_array_grow((void **)&scan->shared.v, scan->shared.n,
                                        sizeof(*scan->shared.v));
                if (r < 0)
                    return r;
                scan->shared.v[scan->shared.n].start = fe->fe_physical;
                scan->shared.v[scan->shared.n].len = fe->fe_length;
                scan->shared.n++;
            } else if (!(fe->fe_flags & FIEMAP_EXTENT_UNWRITTEN)) {
                scan->unshared += fe->fe_length;
            }
            if (fe->fe_flags & FIEMAP_EXTENT_LAST)
                return 0;
            start = fe->fe_logical + fe->fe_length;
        }
    }
}

static int file_used_add(const pool *p, const char *name, void *ud) {
    _cleanup_free_ char *path = xasprintf("%s/%s", p->data_path, name);
    if (!path)
        return -ENOMEM;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* gone meanwhile, or not a file: not usage */
    return file_used_scan_fd(fd, &st, ud);
}

static int range_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The bytes the shared ranges cover, overlaps counted once. */
static uint64_t shared_bytes(struct shared_ranges *sr) {
    if (sr->n == 0)
        return 0;
    qsort(sr->v, sr->n, sizeof(*sr->v), range_cmp);
    uint64_t total = 0, cur_start = sr->v[0].start, cur_end = sr->v[0].start + sr->v[0].len;
    for (size_t i = 1; i < sr->n; i++) {
        uint64_t s = sr->v[i].start, e = s + sr->v[i].len;
        if (s <= cur_end) {
            if (e > cur_end)
                cur_end = e;
            continue;
        }
        total += cur_end - cur_start;
        cur_start = s;
        cur_end = e;
    }
    return total + (cur_end - cur_start);
}

#define FILE_USED_TTL_MS 2000

static int file_used_measure(pool *p, struct error *err) {
    struct used_scan scan = {0};
    int r = file_dir_each(p, file_used_add, &scan, err);
    uint64_t used = scan.unshared + shared_bytes(&scan.shared);
    free(scan.shared.v);
    if (r < 0)
        return r;
    p->file_used = (int64_t)used;
    p->file_used_at = time_now_ms();
    return 0;
}

static int file_usage_get(pool *p, struct pool_usage *ret, struct error *err) {
    int r = file_used_measure(p, err);
    if (r < 0)
        return r;
    *ret = (struct pool_usage){.data_used = (uint64_t)p->file_used, .data_total = p->data_size};
    return 0;
}

/*
 * Whether a new device that needs `need` bytes at once (0 for a sparse file
 * or a reflink) fits: the pool's usage stays under data_size and the
 * filesystem has the room. Writes by VMs change the usage behind the
 * handle's back, so a measurement older than FILE_USED_TTL_MS is redone.
 */
static int file_room_check(pool *p, uint64_t need, struct error *err) {
    int r;
    if ((p->file_used < 0 || time_now_ms() - p->file_used_at > FILE_USED_TTL_MS) &&
        (r = file_used_measure(p, err)) < 0)
        return r;
    uint64_t used = (uint64_t)p->file_used;
    char a[32], b[32];
    if (used >= p->data_size || need > p->data_size - used) {
        size_format_human(used, a, sizeof(a));
        size_format_human(p->data_size, b, sizeof(b));
        return error_set(err, -ENOSPC,
                         "pool '%s' is full: %s of %s used; remove devices or grow the pool",
                         p->name, a, b);
    }
    struct statvfs sv;
    if (need && statvfs(p->data_path, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < need) {
        size_format_human((uint64_t)sv.f_bavail * sv.f_frsize, a, sizeof(a));
        size_format_human(need, b, sizeof(b));
        return error_set(err, -ENOSPC,
                         "no space left for a device of pool '%s': the filesystem of '%s' has "
                         "%s free, the copy needs %s; free space on it or remove devices",
                         p->name, p->data_path, a, b);
    }
    return 0;
}

/* 1 when path exists with exactly size bytes, 0 when missing, -EEXIST otherwise. */
static int file_dev_exists(const pool *p, uint32_t id, const char *path, uint64_t size,
                           struct error *err) {
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return file_io_error(p, errno, "stat", path, err);
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return error_set(err, -EEXIST,
                         "device %" PRIu32 " of pool '%s' exists with another size "
                         "(%" PRIu64 " bytes, not %" PRIu64 ")",
                         id, p->name, (uint64_t)st.st_size, size);
    return 1;
}

/* Sizes, syncs and closes the temp file fd, then renames it into place. */
static int file_dev_commit(const pool *p, int *fd, const char *tmp, const char *path, uint64_t size,
                           struct error *err) {
    if (ftruncate(*fd, (off_t)size) < 0 || fsync(*fd) < 0)
        return file_io_error(p, errno, "write", tmp, err);
    int r = close(*fd);
    *fd = -1;
    if (r < 0)
        return file_io_error(p, errno, "write", tmp, err);
    if (rename(tmp, path) < 0)
        return file_io_error(p, errno, "rename", tmp, err);
    return file_dir_sync(p, err);
}

/*
 * The paths of a device about to be made: its image and the temporary file
 * written first (the caller frees both, also on failure). 1 when the image
 * is already there with the size (file_dev_exists), 0 to go on, or -errno.
 */
static int file_dev_prepare(const pool *p, uint32_t id, uint64_t size, char **ret_path,
                            char **ret_tmp, struct error *err) {
    *ret_path = file_dev_path(p, id, false);
    *ret_tmp = file_dev_path(p, id, true);
    if (!*ret_path || !*ret_tmp)
        return error_oom(err);
    return file_dev_exists(p, id, *ret_path, size, err);
}

static int file_tmp_open(const pool *p, const char *tmp, struct error *err) {
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return file_io_error(p, errno, "create", tmp, err);
    return fd;
}

static int file_device_create(pool *p, uint32_t id, uint64_t size, struct error *err) {
    _cleanup_free_ char *path = NULL, *tmp = NULL;
    int r = file_dev_prepare(p, id, size, &path, &tmp, err);
    if (r != 0)
        return r < 0 ? r : 0;
    if ((r = file_room_check(p, 0, err)) < 0)
        return r;
    _cleanup_close_ int fd = file_tmp_open(p, tmp, err);
    if (fd < 0)
        return fd;
    fault_point("pool.file.after-write"); /* <id>.img.tmp exists: recovery removes it */
    r = file_dev_commit(p, &fd, tmp, path, size, err);
    if (r < 0)
        (void)unlink(tmp);
    return r;
}

static int file_origin_open(const pool *p, uint32_t origin, uint64_t size, struct stat *st,
                            struct error *err) {
    _cleanup_free_ char *path = file_dev_path(p, origin, false);
    if (!path)
        return error_oom(err);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return error_set(err, -ENOENT, "origin device %" PRIu32 " of pool '%s' does not exist",
                         origin, p->name);
    if (fd < 0 || fstat(fd, st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return file_io_error(p, e, "open", path, err);
    }
    if ((uint64_t)st->st_size > size) {
        close(fd);
        return error_set(err, -EINVAL,
                         "snapshot size %" PRIu64 " is smaller than origin device %" PRIu32
                         " of pool '%s' (%" PRIu64 " bytes)",
                         size, origin, p->name, (uint64_t)st->st_size);
    }
    return fd;
}

static int file_device_snapshot(pool *p, uint32_t id, uint32_t origin, uint64_t size,
                                struct error *err) {
    _cleanup_free_ char *path = NULL, *tmp = NULL;
    int r = file_dev_prepare(p, id, size, &path, &tmp, err);
    if (r != 0)
        return r < 0 ? r : 0;
    struct stat st;
    _cleanup_close_ int src = file_origin_open(p, origin, size, &st, err);
    if (src < 0)
        return src;
    /* A reflink needs no room at once; a copy needs the origin's blocks. */
    if ((r = file_room_check(p, 0, err)) < 0)
        return r;
    _cleanup_close_ int dst = file_tmp_open(p, tmp, err);
    if (dst < 0)
        return dst;
    bool reflinked = true;
    r = file_reflink(src, dst);
    if (r == -EOPNOTSUPP) {
        reflinked = false;
        uint64_t need = (uint64_t)st.st_blocks * 512;
        r = file_room_check(p, need, err);
        if (r == 0) {
            r = file_copy(src, dst, st.st_size);
            if (r < 0)
                r = file_io_error(p, -r, "copy into", tmp, err);
            else
                p->file_used += (int64_t)need;
        }
    } else if (r < 0) {
        r = file_io_error(p, -r, "copy into", tmp, err);
    }
    if (r == 0) {
        fault_point("pool.file.after-write");
        r = file_dev_commit(p, &dst, tmp, path, size, err);
    }
    if (r < 0)
        (void)unlink(tmp);
    else
        log_debug("pool '%s': device %" PRIu32 " %s from %" PRIu32, p->name, id,
                  reflinked ? "reflinked" : "copied", origin);
    return r;
}

static int file_device_remove(pool *p, uint32_t id, struct error *err) {
    p->file_used = -1; /* what a removal frees depends on sharing: measure again */
    for (int tmp = 0; tmp < 2; tmp++) {
        _cleanup_free_ char *path = file_dev_path(p, id, tmp);
        if (!path)
            return error_oom(err);
        if (unlink(path) < 0 && errno != ENOENT)
            return file_io_error(p, errno, "remove", path, err);
    }
    return file_dir_sync(p, err);
}

static int file_device_activate(pool *p, uint32_t id, uint64_t size, char **ret_path,
                                struct error *err) {
    _cleanup_free_ char *path = file_dev_path(p, id, false);
    if (!path)
        return error_oom(err);
    int r = file_dev_exists(p, id, path, size, err);
    if (r < 0)
        return r;
    if (r == 0)
        return error_set(err, -ENOENT, "device %" PRIu32 " of pool '%s' does not exist ('%s')", id,
                         p->name, path);
    *ret_path = steal_ptr(&path);
    return 0;
}

static int file_device_deactivate(pool *p, uint32_t id, struct error *err) {
    (void)p, (void)id, (void)err;
    return 0; /* a file needs no deactivation */
}

static int file_inventory_add(const pool *p, const char *name, void *ud) {
    struct pool_inventory *inv = ud;
    uint32_t id;
    bool tmp;
    if (file_name_parse(name, &id, &tmp) && !tmp)
        return pool_ids_add(&inv->ids, &inv->n_ids, id);
    _cleanup_free_ char *path = xasprintf("%s/%s", p->data_path, name);
    if (!path)
        return -ENOMEM;
    return pool_strays_add(&inv->strays, &inv->n_strays, path);
}

static int file_inventory_get(pool *p, struct pool_inventory *ret, struct error *err) {
    return file_dir_each(p, file_inventory_add, ret, err);
}

static int file_stray_remove(pool *p, const char *stray, struct error *err) {
    size_t n = strlen(p->data_path);
    const char *name = stray + n + 1;
    uint32_t id;
    bool tmp;
    if (strncmp(stray, p->data_path, n) != 0 || stray[n] != '/' || !*name || strchr(name, '/') ||
        strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
        return error_set(err, -EINVAL, "'%s' is not in the data directory of pool '%s'", stray,
                         p->name);
    if (file_name_parse(name, &id, &tmp) && !tmp)
        return error_set(err, -EINVAL, "'%s' is device %" PRIu32 " of pool '%s', not a stray",
                         stray, id, p->name);
    if (unlink(stray) < 0 && errno == EISDIR)
        (void)rmdir(stray);
    if (access(stray, F_OK) == 0 || errno != ENOENT)
        return file_io_error(p, errno ? errno : EEXIST, "remove", stray, err);
    return 0;
}

/* ---- the pool itself --------------------------------------------------- */

static int file_hearth_only(const pool *p, const char *name, void *ud) {
    uint32_t id;
    bool tmp;
    (void)p;
    if (!file_name_parse(name, &id, &tmp)) {
        *(char **)ud = xstrdup(name);
        return -ENOTEMPTY;
    }
    return 0;
}

static int file_dir_check_ours(const pool *p, struct error *err) {
    _cleanup_free_ char *other = NULL;
    struct error e2;
    int r = file_dir_each(p, file_hearth_only, &other, &e2);
    if (r == -ENOTEMPTY)
        return error_set(err, -EEXIST,
                         "the data directory '%s' of pool '%s' holds a file hearth did not make "
                         "('%s')",
                         p->data_path, p->name, other ? other : "?");
    if (r < 0)
        return error_set(err, r, "%s", e2.msg);
    return 0;
}

static int file_mkdirs(const char *path) {
    _cleanup_free_ char *copy = xstrdup(path);
    if (!copy)
        return -ENOMEM;
    for (char *s = copy + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(copy, 0700) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(copy, 0700) < 0)
        return -errno;
    return 0;
}

static int file_fs_check(const struct pool_config *cfg, struct error *err) {
    struct statvfs sv;
    if (statvfs(cfg->data_path, &sv) < 0)
        return error_set(err, -errno, "cannot inspect '%s': %s", cfg->data_path, strerror(errno));
    uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize;
    if (cfg->data_size > total) {
        char want[32], have[32];
        size_format_human(cfg->data_size, want, sizeof(want));
        size_format_human(total, have, sizeof(have));
        return error_set(err, -ENOSPC,
                         "pool '%s': data size %s does not fit the filesystem of '%s' (%s)",
                         cfg->name, want, cfg->data_path, have);
    }
    return 0;
}

static int file_pool_create(const struct pool_config *cfg, struct error *err) {
    struct stat st;
    if (stat(cfg->data_path, &st) == 0 && !S_ISDIR(st.st_mode))
        return error_set(err, -EEXIST, "'%s' exists and is not a directory", cfg->data_path);
    int r = file_mkdirs(cfg->data_path);
    if (r < 0 && r != -EEXIST)
        return error_set(err, r, "cannot create the data directory '%s' of pool '%s': %s",
                         cfg->data_path, cfg->name, strerror(-r));
    pool tmp = {.name = "", .data_path = (char *)cfg->data_path};
    memcpy(tmp.name, cfg->name, strlen(cfg->name) + 1);
    if (r == -EEXIST && (r = file_dir_check_ours(&tmp, err)) < 0)
        return r;
    r = file_fs_check(cfg, err);
    if (r < 0)
        (void)rmdir(cfg->data_path); /* only empty ones go */
    return r;
}

static int file_pool_open(pool *p, struct error *err) {
    struct stat st;
    if (stat(p->data_path, &st) < 0 && errno == ENOENT)
        return error_set(err, -ENOENT, "the data directory '%s' of pool '%s' is gone", p->data_path,
                         p->name);
    if (!S_ISDIR(st.st_mode))
        return error_set(err, -ENOTDIR, "the data path '%s' of pool '%s' is not a directory",
                         p->data_path, p->name);
    return 0;
}

static int file_pool_disassemble(pool *p, struct error *err) {
    (void)p, (void)err;
    return 0; /* nothing is assembled */
}

static int file_unlink_ours(const pool *p, const char *name, void *ud) {
    (void)ud;
    _cleanup_free_ char *path = xasprintf("%s/%s", p->data_path, name);
    if (!path)
        return -ENOMEM;
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int file_pool_destroy(const struct pool_config *cfg, struct error *err) {
    pool tmp = {.data_path = (char *)cfg->data_path};
    memcpy(tmp.name, cfg->name, strlen(cfg->name) + 1);
    if (access(cfg->data_path, F_OK) < 0 && errno == ENOENT)
        return 0;
    int r = file_dir_check_ours(&tmp, err);
    if (r < 0)
        return r;
    if ((r = file_dir_each(&tmp, file_unlink_ours, NULL, err)) < 0)
        return r;
    if (rmdir(cfg->data_path) < 0 && errno != ENOENT)
        return file_io_error(&tmp, errno, "remove", cfg->data_path, err);
    return 0;
}

const struct pool_ops pool_file_ops = {
    .create = file_pool_create,
    .destroy = file_pool_destroy,
    .open = file_pool_open,
    .disassemble = file_pool_disassemble,
    .device_create = file_device_create,
    .device_snapshot = file_device_snapshot,
    .device_remove = file_device_remove,
    .device_activate = file_device_activate,
    .device_deactivate = file_device_deactivate,
    .usage_get = file_usage_get,
    .inventory_get = file_inventory_get,
    .stray_remove = file_stray_remove,
};
