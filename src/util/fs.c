/*
 * util fs: directories made with their parents, trees removed without
 * following a symlink out of them, and files that vanish with their
 * descriptor. Every removal step is relative to an open directory fd
 * (openat with O_NOFOLLOW, fdopendir, unlinkat), and a read-only directory
 * is made writable before its entries go, so trees that an image's layers
 * created can be removed too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

int fs_mkdir_parents(const char *path, mode_t mode, struct error *err) {
    size_t len = strlen(path);
    if (len >= PATH_MAX)
        return error_set(err, -ENAMETOOLONG, "path '%.64s...' is too long", path);
    char buf[PATH_MAX];
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return error_set(err, -errno, "cannot create directory '%s': %s", buf, strerror(errno));
        buf[i] = saved;
    }
    return 0;
}

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

/* Empties the directory open as fd (which this function takes over). */
static int tree_empty_fd(int fd, int depth, const char *name, struct error *err) {
    _cleanup_(closedirp) DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return error_set(err, r, "cannot read directory '%s': %s", name, strerror(-r));
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                return error_set(err, -errno, "cannot read directory '%s': %s", name,
                                 strerror(errno));
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = fs_tree_remove_at(dirfd(d), de->d_name, depth + 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int fs_tree_remove_at(int dirfd, const char *name, int depth, struct error *err) {
    if (depth > FS_TREE_DEPTH_MAX)
        return error_set(err, -ELOOP, "cannot remove '%s': nested too deeply", name);
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, -errno, "cannot stat '%s': %s", name, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return error_set(err, -errno, "cannot remove '%s': %s", name, strerror(errno));
        return 0;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, 0) == 0)
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open directory '%s': %s", name, strerror(errno));
    /* Without write and search permission its entries cannot be unlinked (non-root). */
    if ((st.st_mode & 0700) != 0700 && fchmod(fd, (st.st_mode & 07777) | 0700) < 0 &&
        errno != EPERM) {
        int r = -errno;
        close(fd);
        return error_set(err, r, "cannot make '%s' writable: %s", name, strerror(-r));
    }
    int r = tree_empty_fd(fd, depth, name, err);
    if (r < 0)
        return r;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return error_set(err, -errno, "cannot remove directory '%s': %s", name, strerror(errno));
    return 0;
}

int fs_tree_remove(const char *path, struct error *err) {
    if (!path || !*path)
        return error_set(err, -EINVAL, "no path to remove");
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, -errno, "cannot look at '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return error_set(err, -errno, "cannot remove '%s': %s", path, strerror(errno));
        return 0;
    }
    int r = fs_tree_remove_at(AT_FDCWD, path, 0, err);
    if (r < 0)
        return error_prefix(err, "removing '%s'", path);
    return 0;
}

int fs_tmpfile(const char *dir, struct error *err) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return error_set(err, -errno, "cannot create a file in '%s': %s", dir, strerror(errno));
    /* A file system without O_TMPFILE: a named file, removed at once. */
    _cleanup_free_ char *path = xasprintf("%s/spool-XXXXXX", dir);
    if (!path)
        return error_oom(err);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot create a file in '%s': %s", dir, strerror(errno));
    unlink(path);
    return fd;
}
