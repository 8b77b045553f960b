/*
 * dm-thin: loop devices over the pool's sparse files, by ioctl (no losetup).
 * A loop is attached with LOOP_CTL_GET_FREE + LOOP_CONFIGURE and autoclear,
 * so it goes away with its last user, the thin-pool target; kernels without
 * LOOP_CONFIGURE get LOOP_SET_FD + LOOP_SET_STATUS64. Loops are found again
 * by the device and inode of their backing file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pool/pool_priv.h"

#define LOOP_ATTACH_TRIES 16
#define LOOP_MAX 4096 /* loop devices looked at */

static void loop_info_fill(struct loop_info64 *info, const char *path) {
    memset(info, 0, sizeof(*info));
    info->lo_flags = LO_FLAGS_AUTOCLEAR;
    size_t n = strlen(path);
    if (n >= LO_NAME_SIZE) /* keep the tail, which names the file */
        path += n - (LO_NAME_SIZE - 1);
    memcpy(info->lo_file_name, path, strlen(path));
}

/* Configures loop fd lfd over backing; -EBUSY when another process took it. */
static int loop_configure(int lfd, int backing, const char *path) {
    struct loop_config cfg = {.fd = (uint32_t)backing};
    loop_info_fill(&cfg.info, path);
    if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOTTY)
        return -errno;
    if (ioctl(lfd, LOOP_SET_FD, backing) < 0)
        return -errno;
    if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
        int e = errno;
        (void)ioctl(lfd, LOOP_CLR_FD, 0);
        return -e;
    }
    return 0;
}

/* Opens a free loop device and attaches backing; returns its fd. */
static int loop_grab(int ctl, int backing, const char *path, struct error *err) {
    for (int i = 0; i < LOOP_ATTACH_TRIES; i++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return error_set(err, -errno, "cannot find a free loop device for '%s': %s", path,
                             strerror(errno));
        char dev[32];
        snprintf(dev, sizeof(dev), "/dev/loop%d", n);
        int lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0)
            return error_set(err, -errno, "cannot open '%s': %s", dev, strerror(errno));
        int r = loop_configure(lfd, backing, path);
        if (r == 0)
            return lfd;
        close(lfd);
        if (r != -EBUSY)
            return error_set(err, r, "cannot attach '%s' to '%s': %s", path, dev, strerror(-r));
    }
    return error_set(err, -EBUSY, "cannot attach '%s': every free loop device was taken", path);
}

int loop_attach(const char *path, int *ret_fd, dev_t *ret_dev, struct error *err) {
    _cleanup_close_ int backing = open(path, O_RDWR | O_CLOEXEC);
    if (backing < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return error_set(err, -errno, "cannot open '/dev/loop-control': %s", strerror(errno));
    int lfd = loop_grab(ctl, backing, path, err);
    if (lfd < 0)
        return lfd;
    struct stat st;
    if (fstat(lfd, &st) < 0) {
        int e = errno;
        close(lfd);
        return error_set(err, -e, "cannot inspect the loop device of '%s'", path);
    }
    *ret_fd = lfd;
    *ret_dev = st.st_rdev;
    return 0;
}

/* Whether /dev/<name> is a loop device backed by inode fs_dev/ino. */
static bool loop_backs(const char *name, dev_t fs_dev, ino_t ino, dev_t *ret_dev) {
    char path[300];
    snprintf(path, sizeof(path), "/dev/%s", name);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct loop_info64 info;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
        return false;
    *ret_dev = st.st_rdev;
    return info.lo_inode == (uint64_t)ino && info.lo_device == (uint64_t)fs_dev;
}

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

int loop_find(dev_t fs_dev, ino_t ino, char ***ret, dev_t **ret_devs, size_t *ret_n,
              struct error *err) {
    DIR *d __attribute__((cleanup(closedirp))) = opendir("/sys/block");
    if (!d)
        return error_set(err, -errno, "cannot read '/sys/block': %s", strerror(errno));
    char **names = NULL;
    dev_t *devs = NULL;
    size_t n = 0, n_devs = 0, seen = 0;
    struct dirent *de;
    int r = 0;
    while (r >= 0 && seen < LOOP_MAX && (de = readdir(d))) {
        dev_t dev;
        if (!str_starts_with(de->d_name, "loop"))
            continue;
        seen++;
        if (!loop_backs(de->d_name, fs_dev, ino, &dev))
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/dev/%s", de->d_name);
        r = pool_strays_add(&names, &n, path);
        if (r >= 0 && (r = pool_array_grow((void **)&devs, n_devs, sizeof(*devs))) >= 0)
            devs[n_devs++] = dev;
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        free(devs);
        return error_set(err, r, "cannot list loop devices: %s", strerror(-r));
    }
    *ret = names;
    *ret_devs = devs;
    *ret_n = n;
    return 0;
}

int loop_detach(const char *path, struct error *err) {
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && (errno == ENOENT || errno == ENXIO))
        return 0;
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
        return error_set(err, -errno, "cannot detach loop device '%s': %s", path, strerror(errno));
    return 0;
}

int blockdev_path(dev_t dev, char **ret, struct error *err) {
    char uevent[96];
    snprintf(uevent, sizeof(uevent), "/sys/dev/block/%u:%u/uevent", major(dev), minor(dev));
    _cleanup_fclose_ FILE *f = fopen(uevent, "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        if (!str_starts_with(line, "DEVNAME="))
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *p = xasprintf("/dev/%s", line + 8);
        if (!p)
            return error_oom(err);
        *ret = p;
        return 0;
    }
    return error_set(err, -ENODEV, "block device %u:%u has no name in sysfs", major(dev),
                     minor(dev));
}
