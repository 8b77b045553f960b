/*
 * Removing directory trees that an image's layers created, without ever
 * following a symlink out of them: every step is relative to an open
 * directory fd (openat with O_NOFOLLOW, fdopendir, unlinkat), and a
 * read-only directory is made writable before its entries go.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/unpack_priv.h"

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

/* Empties the directory open as fd (which this function takes over). */
static int rmtree_empty_fd(int fd, int depth, const char *name, struct error *err) {
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
        int r = rmtree_at(dirfd(d), de->d_name, depth + 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int rmtree_at(int dirfd, const char *name, int depth, struct error *err) {
    if (depth > 4 * OCI_DEPTH_MAX)
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
    int r = rmtree_empty_fd(fd, depth, name, err);
    if (r < 0)
        return r;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return error_set(err, -errno, "cannot remove directory '%s': %s", name, strerror(errno));
    return 0;
}

int oci_rmtree(const char *dir, struct error *err) {
    if (!dir || !*dir)
        return error_set(err, -EINVAL, "no directory to remove");
    int r = rmtree_at(AT_FDCWD, dir, 0, err);
    if (r < 0)
        return error_prefix(err, "removing '%s'", dir);
    return 0;
}
