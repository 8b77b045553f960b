/*
 * Applying an image's layers into a staging directory, safely.
 *
 * Each layer is read with libarchive (tar, pax or GNU tar; plain, gzip,
 * zstd, xz or bzip2, detected from the data) and its entries are applied in order. The
 * staging directory is opened once; every entry's parent directory is then
 * resolved below it with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
 * a symlink that stays inside the tree is followed but one that is absolute
 * or climbs out with ".." makes the entry fail with -EPERM. The entry's own
 * name is never followed: whatever is there (a symlink a lower layer or an
 * earlier entry put there included) is replaced, not written through. All
 * creation is relative to the parent fd (mkdirat, openat O_EXCL|O_NOFOLLOW,
 * symlinkat, linkat, mknodat) and metadata is set on the new fd or with
 * AT_SYMLINK_NOFOLLOW.
 *
 * Paths are normalised as Docker does: a leading "/" or "./" is dropped, so
 * "/etc/passwd" lands at DIR/etc/passwd; a ".." that would climb above the
 * root is refused. Hard link targets get the same treatment, and a hard link
 * to a symlink whose target leaves the tree is refused too.
 *
 * Whiteouts follow the OCI image spec: ".wh.NAME" removes NAME from the lower
 * layers, ".wh..wh..opq" removes everything the lower layers put in its
 * directory. Both act only on lower layers: the paths this layer created are
 * kept in a set and spared. Directory modes and times are applied when the
 * layer ends, because creating children would otherwise change the times.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/unpack_priv.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define READ_BLOCK (128u << 10)

/* ---- a set of paths (what the current layer created) ------------------- */

struct pathset {
    char **slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

static uint64_t path_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static void pathset_release(struct pathset *ps) {
    for (size_t i = 0; i < ps->cap; i++)
        free(ps->slots[i]);
    free(ps->slots);
    *ps = (struct pathset){0};
}

static bool pathset_contains(const struct pathset *ps, const char *path) {
    if (!ps->cap)
        return false;
    for (size_t i = path_hash(path) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
        if (!ps->slots[i])
            return false;
        if (!strcmp(ps->slots[i], path))
            return true;
    }
}

static void pathset_put_slot(char **slots, size_t cap, char *p) {
    size_t i = path_hash(p) & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = p;
}

static int pathset_add(struct pathset *ps, const char *path) {
    if (pathset_contains(ps, path))
        return 0;
    if ((ps->n + 1) * 2 > ps->cap) {
        size_t ncap = ps->cap ? ps->cap * 2 : 1024;
        char **ns = xcalloc(ncap, sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < ps->cap; i++)
            if (ps->slots[i])
                pathset_put_slot(ns, ncap, ps->slots[i]);
        free(ps->slots);
        ps->slots = ns;
        ps->cap = ncap;
    }
    char *p = xstrdup(path);
    if (!p)
        return -ENOMEM;
    pathset_put_slot(ps->slots, ps->cap, p);
    ps->n++;
    return 0;
}

/* ---- state of one unpack ------------------------------------------------- */

/* A directory whose mode and times are set when its layer ends. */
struct dir_meta {
    char *path;
    mode_t mode;
    struct timespec times[2];
};

struct unpack {
    int root_fd;
    bool is_root;
    const char *layer; /* digest of the layer being applied */
    volatile sig_atomic_t *cancel;
    struct pathset created; /* paths the current layer made */
    struct dir_meta *dirs;
    size_t n_dirs, cap_dirs;
    uint64_t skipped_owners, skipped_devices, skipped_xattrs;
};

static void unpack_dirs_clear(struct unpack *u) {
    for (size_t i = 0; i < u->n_dirs; i++)
        free(u->dirs[i].path);
    u->n_dirs = 0;
}

static void unpack_release(struct unpack *u) {
    unpack_dirs_clear(u);
    free(u->dirs);
    pathset_release(&u->created);
    if (u->root_fd >= 0)
        close(u->root_fd);
}

/* ---- paths ----------------------------------------------------------------- */

/*
 * Normalises a layer path into out ("a/b/c", "" for the root): leading "/"
 * and "./" dropped, "." and empty components dropped, ".." applied. Returns
 * -EPERM when ".." climbs above the root, -ENAMETOOLONG past OCI_PATH_MAX.
 * *ret_depth is the number of components.
 */
static int path_normalize(const char *in, char out[OCI_PATH_MAX], int *ret_depth) {
    size_t len = 0;
    int depth = 0;
    if (strnlen(in, OCI_PATH_MAX) >= OCI_PATH_MAX)
        return -ENAMETOOLONG;
    out[0] = '\0';
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (depth == 0)
                return -EPERM;
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* the '/' before the dropped component */
            out[len] = '\0';
            depth--;
            continue;
        }
        if (len + (len ? 1 : 0) + n >= OCI_PATH_MAX)
            return -ENAMETOOLONG;
        if (len)
            out[len++] = '/';
        memcpy(out + len, s, n);
        len += n;
        out[len] = '\0';
        depth++;
    }
    *ret_depth = depth;
    return 0;
}

/* Splits "a/b/c" into parent "a/b" (in place) and returns "c"; "c" gives parent "". */
static const char *path_split(char *path, const char **ret_parent) {
    char *slash = strrchr(path, '/');
    if (!slash) {
        *ret_parent = "";
        return path;
    }
    *slash = '\0';
    *ret_parent = path;
    return slash + 1;
}

/* True if a symlink at norm_path ("a/b/link") with this target would point outside the root. */
static bool symlink_escapes(const char *norm_path, const char *target) {
    if (target[0] == '/')
        return true;
    char joined[2 * OCI_PATH_MAX];
    const char *slash = strrchr(norm_path, '/');
    size_t plen = slash ? (size_t)(slash - norm_path) : 0;
    int n = snprintf(joined, sizeof(joined), "%.*s/%s", (int)plen, norm_path, target);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return true;
    char out[OCI_PATH_MAX];
    int depth;
    return path_normalize(joined, out, &depth) < 0;
}

int unpack_open_beneath(int root_fd, const char *rel, bool force_walk) {
    if (!*rel) {
        int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        return fd < 0 ? -errno : fd;
    }
    if (!force_walk) {
        struct open_how how = {
            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        for (int tries = 0; tries < 8; tries++) {
            long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
            if (fd >= 0)
                return (int)fd;
            if (errno != EAGAIN && errno != EINTR)
                break;
        }
        if (errno != ENOSYS)
            return -errno;
    }
    /* No openat2: one component at a time, and no symlink is followed at all. */
    int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return -errno;
    const char *p = rel;
    char comp[NAME_MAX + 1];
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n > NAME_MAX || (n == 2 && s[0] == '.' && s[1] == '.')) {
            close(fd);
            return n > NAME_MAX ? -ENAMETOOLONG : -EXDEV;
        }
        memcpy(comp, s, n);
        comp[n] = '\0';
        int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            int r = -errno;
            struct stat st;
            if (r == -ENOTDIR && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                r = -EXDEV;
            close(fd);
            return r;
        }
        close(fd);
        fd = nfd;
    }
    return fd;
}

/* Opens the parent of norm_path; missing parents are created (0755, this layer's). */
static int unpack_open_parent(struct unpack *u, const char *parent, struct error *err) {
    int fd = unpack_open_beneath(u->root_fd, parent, false);
    if (fd != -ENOENT)
        goto done;
    /* Create what is missing, one prefix at a time, each resolved from the root again. */
    char prefix[OCI_PATH_MAX];
    size_t plen = strlen(parent);
    memcpy(prefix, parent, plen + 1);
    for (size_t i = 0; i <= plen; i++) {
        if (prefix[i] != '/' && prefix[i] != '\0')
            continue;
        char saved = prefix[i];
        prefix[i] = '\0';
        int cfd = unpack_open_beneath(u->root_fd, prefix, false);
        if (cfd == -ENOENT) {
            const char *up;
            char tmp[OCI_PATH_MAX];
            memcpy(tmp, prefix, i + 1);
            const char *name = path_split(tmp, &up);
            int pfd = unpack_open_beneath(u->root_fd, up, false);
            if (pfd < 0) {
                fd = pfd;
                goto done;
            }
            int r = mkdirat(pfd, name, 0755) < 0 ? -errno : 0;
            close(pfd);
            if (r < 0 && r != -EEXIST) {
                fd = r;
                goto done;
            }
            if (pathset_add(&u->created, prefix) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        } else if (cfd < 0) {
            fd = cfd;
            goto done;
        } else {
            close(cfd);
        }
        prefix[i] = saved;
    }
    fd = unpack_open_beneath(u->root_fd, parent, false);
done:
    if (fd == -EXDEV || fd == -ELOOP)
        return error_set(err, -EPERM, "its directory '%s' leads outside the root through a symlink",
                         parent);
    if (fd < 0)
        return error_set(err, fd, "cannot open its directory '%s': %s", parent, strerror(-fd));
    return fd;
}

/* ---- metadata ----------------------------------------------------------- */

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
    if (archive_entry_mtime_is_set(e)) {
        ts[1].tv_sec = archive_entry_mtime(e);
        ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    } else {
        ts[1].tv_sec = 0;
        ts[1].tv_nsec = UTIME_OMIT;
    }
    if (archive_entry_atime_is_set(e)) {
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        ts[0] = ts[1];
    }
}

static bool xattr_skippable(int e) {
    return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES || e == EINVAL ||
           e == ERANGE;
}

/*
 * Sets the entry's xattrs on fd, or, when fd < 0, on name in pfd without
 * following it (through the /proc/self/fd path of the parent).
 */
static int entry_set_xattrs(struct unpack *u, struct archive_entry *e, int fd, int pfd,
                            const char *name, struct error *err) {
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    const char *xname;
    const void *value;
    size_t size;
    char proc[64 + NAME_MAX];
    if (fd < 0)
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", pfd, name);
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
        if (!xname || !*xname)
            continue;
        if (!u->is_root && str_starts_with(xname, "security.")) {
            u->skipped_xattrs++;
            continue;
        }
        int r =
            fd >= 0 ? fsetxattr(fd, xname, value, size, 0) : lsetxattr(proc, xname, value, size, 0);
        if (r < 0) {
            if (xattr_skippable(errno)) {
                u->skipped_xattrs++;
                continue;
            }
            return error_set(err, -errno, "cannot set xattr '%s': %s", xname, strerror(errno));
        }
    }
    return 0;
}

/* Owner, mode, xattrs and times of a regular file open as fd (in this order: chown clears setuid).
 */
static int entry_set_meta_fd(struct unpack *u, struct archive_entry *e, int fd, bool set_mode,
                             bool set_times, struct error *err) {
    if (u->is_root) {
        if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
            return error_set(err, -errno, "cannot set its owner: %s", strerror(errno));
    } else if ((uid_t)archive_entry_uid(e) != geteuid()) {
        u->skipped_owners++;
    }
    if (set_mode && fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return error_set(err, -errno, "cannot set its mode: %s", strerror(errno));
    int r = entry_set_xattrs(u, e, fd, -1, NULL, err);
    if (r < 0)
        return r;
    if (set_times) {
        struct timespec ts[2];
        entry_times(e, ts);
        if (futimens(fd, ts) < 0)
            return error_set(err, -errno, "cannot set its times: %s", strerror(errno));
    }
    return 0;
}

/* The same for a symlink, device or fifo just created as name in pfd, never followed. */
static int entry_set_meta_at(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
                             bool is_link, struct error *err) {
    if (u->is_root) {
        if (fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0)
            return error_set(err, -errno, "cannot set its owner: %s", strerror(errno));
    } else if ((uid_t)archive_entry_uid(e) != geteuid()) {
        u->skipped_owners++;
    }
    if (!is_link) {
        /* chmod through an O_PATH fd of the node itself: no path is followed. */
        _cleanup_close_ int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            return error_set(err, -errno, "cannot open it: %s", strerror(errno));
        if (S_ISLNK(st.st_mode))
            return error_set(err, -EPERM, "it was replaced by a symlink");
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, archive_entry_perm(e) & 07777) < 0)
            return error_set(err, -errno, "cannot set its mode: %s", strerror(errno));
    }
    int r = entry_set_xattrs(u, e, -1, pfd, name, err);
    if (r < 0)
        return r;
    struct timespec ts[2];
    entry_times(e, ts);
    if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return error_set(err, -errno, "cannot set its times: %s", strerror(errno));
    return 0;
}

/* ---- entries -------------------------------------------------------------- */

static int write_all_at(int fd, const char *buf, size_t size, int64_t off) {
    while (size > 0) {
        ssize_t n = pwrite(fd, buf, size, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        size -= (size_t)n;
        off += n;
    }
    return 0;
}

static int archive_code(struct archive *a) {
    int e = archive_errno(a);
    return e > 0 ? -e : -EBADMSG;
}

static int apply_file(struct unpack *u, struct archive *a, struct archive_entry *e, int pfd,
                      const char *name, struct error *err) {
    _cleanup_close_ int fd =
        openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "cannot create it: %s", strerror(errno));
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return error_set(err, archive_code(a), "cannot read its data: %s",
                             archive_error_string(a));
        if (size > 0 && (r = write_all_at(fd, buf, size, off)) < 0)
            return error_set(err, r, "cannot write it: %s", strerror(-r));
    }
    if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
        return error_set(err, -errno, "cannot size it: %s", strerror(errno));
    return entry_set_meta_fd(u, e, fd, true, true, err);
}

static int unpack_record_dir(struct unpack *u, const char *path, struct archive_entry *e) {
    if (u->n_dirs == u->cap_dirs) {
        size_t ncap = u->cap_dirs ? u->cap_dirs * 2 : 64;
        struct dir_meta *nd = xrealloc(u->dirs, ncap * sizeof(*nd));
        if (!nd)
            return -ENOMEM;
        u->dirs = nd;
        u->cap_dirs = ncap;
    }
    char *p = xstrdup(path);
    if (!p)
        return -ENOMEM;
    struct dir_meta *d = &u->dirs[u->n_dirs++];
    d->path = p;
    d->mode = archive_entry_perm(e) & 07777;
    entry_times(e, d->times);
    return 0;
}

static int apply_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
                     const char *path, bool exists, struct error *err) {
    if (!exists && mkdirat(pfd, name, 0700) < 0)
        return error_set(err, -errno, "cannot create it: %s", strerror(errno));
    _cleanup_close_ int fd =
        *name ? openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
              : fcntl(pfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return error_set(err, -errno, "cannot open it: %s", strerror(errno));
    int r = entry_set_meta_fd(u, e, fd, false, false, err);
    if (r < 0)
        return r;
    if (unpack_record_dir(u, path, e) < 0)
        return error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int apply_hardlink(struct unpack *u, const char *target, int pfd, const char *name,
                          const char *path, struct error *err) {
    char tnorm[OCI_PATH_MAX];
    int depth;
    int r = path_normalize(target, tnorm, &depth);
    if (r == -EPERM || (r == 0 && depth == 0))
        return error_set(err, -EPERM, "hard link target '%s' is outside the root", target);
    if (r < 0)
        return error_set(err, r, "hard link target is too long");
    if (!strcmp(tnorm, path))
        return 0;
    char tcopy[OCI_PATH_MAX];
    memcpy(tcopy, tnorm, strlen(tnorm) + 1);
    const char *tparent;
    const char *tname = path_split(tcopy, &tparent);
    _cleanup_close_ int tpfd = unpack_open_beneath(u->root_fd, tparent, false);
    if (tpfd == -EXDEV || tpfd == -ELOOP)
        return error_set(err, -EPERM, "hard link target '%s' leads outside the root", target);
    if (tpfd < 0)
        return error_set(err, tpfd, "hard link target '%s': %s", target, strerror(-tpfd));
    struct stat st;
    if (fstatat(tpfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return error_set(err, -errno, "hard link target '%s': %s", target, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return error_set(err, -EPERM, "hard link target '%s' is a directory", target);
    if (S_ISLNK(st.st_mode)) {
        char lt[OCI_PATH_MAX];
        ssize_t n = readlinkat(tpfd, tname, lt, sizeof(lt) - 1);
        if (n < 0)
            return error_set(err, -errno, "hard link target '%s': %s", target, strerror(errno));
        lt[n] = '\0';
        if (symlink_escapes(tnorm, lt))
            return error_set(err, -EPERM,
                             "hard link target '%s' is a symlink that points outside the root",
                             target);
    }
    if (linkat(tpfd, tname, pfd, name, 0) < 0)
        return error_set(err, -errno, "cannot link it to '%s': %s", target, strerror(errno));
    return 0;
}

static int apply_whiteout(struct unpack *u, const char *parent, const char *wname,
                          struct error *err) {
    const char *victim = wname + strlen(WHITEOUT_PREFIX);
    if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
        return error_set(err, -EPERM, "whiteout names no file it may remove");
    if (str_starts_with(victim, WHITEOUT_PREFIX))
        return 0; /* other AUFS metadata (.wh..wh.plnk and the like): ignored */
    char vpath[OCI_PATH_MAX];
    int n = snprintf(vpath, sizeof(vpath), "%s%s%s", parent, *parent ? "/" : "", victim);
    if (n < 0 || (size_t)n >= sizeof(vpath))
        return error_set(err, -ENAMETOOLONG, "path too long");
    if (pathset_contains(&u->created, vpath))
        return 0; /* whiteouts hide only what lower layers made */
    _cleanup_close_ int pfd = unpack_open_beneath(u->root_fd, parent, false);
    if (pfd == -ENOENT || pfd == -ENOTDIR)
        return 0;
    if (pfd == -EXDEV || pfd == -ELOOP)
        return error_set(err, -EPERM, "its directory leads outside the root through a symlink");
    if (pfd < 0)
        return error_set(err, pfd, "cannot open its directory: %s", strerror(-pfd));
    return rmtree_at(pfd, victim, 0, err);
}

/* Removes what lower layers put below the directory open as fd (path is its name). */
static int opaque_clean(struct unpack *u, int fd, const char *path, int depth, struct error *err) {
    if (depth > OCI_DEPTH_MAX)
        return error_set(err, -ELOOP, "nested too deeply");
    /* Collect the names first: the directory changes while we remove. */
    int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return error_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
    DIR *d = fdopendir(rfd);
    if (!d) {
        close(rfd);
        return error_set(err, -ENOMEM, "out of memory");
    }
    _cleanup_strbuf_ struct strbuf names = STRBUF_INIT;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if ((r = strbuf_add(&names, de->d_name, strlen(de->d_name) + 1)) < 0)
            break;
    }
    closedir(d);
    if (r < 0)
        return error_set(err, r, "out of memory");
    for (size_t off = 0; off < names.len; off += strlen(names.buf + off) + 1) {
        const char *name = names.buf + off;
        char child[OCI_PATH_MAX];
        int n = snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "", name);
        if (n < 0 || (size_t)n >= sizeof(child))
            return error_set(err, -ENAMETOOLONG, "path too long");
        if (!pathset_contains(&u->created, child)) {
            if ((r = rmtree_at(fd, name, 0, err)) < 0)
                return r;
            continue;
        }
        _cleanup_close_ int cfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
            continue; /* not a directory (or a symlink): nothing below it */
        if ((r = opaque_clean(u, cfd, child, depth + 1, err)) < 0)
            return r;
    }
    return 0;
}

static int apply_opaque(struct unpack *u, const char *parent, struct error *err) {
    int fd;
    if (!*parent) {
        fd = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
    } else {
        char tmp[OCI_PATH_MAX];
        memcpy(tmp, parent, strlen(parent) + 1);
        const char *up;
        const char *name = path_split(tmp, &up);
        _cleanup_close_ int ufd = unpack_open_beneath(u->root_fd, up, false);
        if (ufd == -ENOENT || ufd == -ENOTDIR)
            return 0;
        if (ufd == -EXDEV || ufd == -ELOOP)
            return error_set(err, -EPERM, "its directory leads outside the root through a symlink");
        if (ufd < 0)
            return error_set(err, ufd, "cannot open its directory: %s", strerror(-ufd));
        fd = openat(ufd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return 0; /* missing, or not a directory: nothing lower to hide */
    }
    if (fd < 0)
        return error_set(err, -errno, "cannot open the root: %s", strerror(errno));
    int r = opaque_clean(u, fd, parent, 0, err);
    close(fd);
    return r;
}

static int apply_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
                       const char *raw, struct error *err) {
    char path[OCI_PATH_MAX];
    int depth;
    int r = path_normalize(raw, path, &depth);
    if (r == -EPERM)
        return error_set(err, -EPERM, "its path leaves the root");
    if (r < 0)
        return error_set(err, r, "its path is longer than %d bytes", OCI_PATH_MAX);
    if (depth > OCI_DEPTH_MAX)
        return error_set(err, -ELOOP, "it is nested deeper than %d directories", OCI_DEPTH_MAX);

    const char *hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (depth == 0) {
        /* "./": the root itself; only its metadata can change. */
        if (type == AE_IFDIR && !hardlink)
            return apply_dir(u, e, u->root_fd, "", "", true, err);
        return error_set(err, -EPERM, "it would replace the root");
    }

    char copy[OCI_PATH_MAX];
    memcpy(copy, path, strlen(path) + 1);
    const char *parent;
    const char *name = path_split(copy, &parent);

    if (str_starts_with(name, WHITEOUT_PREFIX)) {
        if (!strcmp(name, WHITEOUT_OPAQUE))
            return apply_opaque(u, parent, err);
        return apply_whiteout(u, parent, name, err);
    }

    _cleanup_close_ int pfd = unpack_open_parent(u, parent, err);
    if (pfd < 0)
        return pfd;

    /* Whatever is at the name is replaced, never followed; directories merge. */
    struct stat st;
    bool exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    bool is_dir = type == AE_IFDIR && !hardlink;
    if (exists && !(is_dir && S_ISDIR(st.st_mode))) {
        if (hardlink) {
            /* Check the target before dropping what is there. */
            char tn[OCI_PATH_MAX];
            int td;
            if (path_normalize(hardlink, tn, &td) == 0 && !strcmp(tn, path))
                return 0;
        }
        if ((r = rmtree_at(pfd, name, 0, err)) < 0)
            return r;
        exists = false;
    }
    if ((r = pathset_add(&u->created, path)) < 0)
        return error_set(err, r, "out of memory");

    if (hardlink)
        return apply_hardlink(u, hardlink, pfd, name, path, err);

    switch (type) {
    case AE_IFREG:
        return apply_file(u, a, e, pfd, name, err);
    case AE_IFDIR:
        return apply_dir(u, e, pfd, name, path, exists, err);
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        if (!target || !*target)
            return error_set(err, -EINVAL, "symlink without a target");
        if (strnlen(target, OCI_PATH_MAX) >= OCI_PATH_MAX)
            return error_set(err, -ENAMETOOLONG, "symlink target too long");
        if (symlinkat(target, pfd, name) < 0)
            return error_set(err, -errno, "cannot create it: %s", strerror(errno));
        return entry_set_meta_at(u, e, pfd, name, true, err);
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
        if (type != AE_IFIFO && !u->is_root) {
            u->skipped_devices++;
            return 0;
        }
        mode_t m = (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | 0600;
        dev_t dev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);
        if (mknodat(pfd, name, m, dev) < 0)
            return error_set(err, -errno, "cannot create it: %s", strerror(errno));
        return entry_set_meta_at(u, e, pfd, name, false, err);
    }
    default:
        log_debug("layer '%s': entry '%s' of type %o skipped", u->layer, raw, (unsigned)type);
        return 0;
    }
}

/* Mode and times of the directories the layer named, now that their content is in place. */
static int unpack_finish_dirs(struct unpack *u, struct error *err) {
    /* Deepest last in the list were created last; order does not matter for utimes on fds. */
    for (size_t i = 0; i < u->n_dirs; i++) {
        struct dir_meta *d = &u->dirs[i];
        _cleanup_close_ int fd = -1;
        if (!*d->path) {
            fd = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
        } else {
            char tmp[OCI_PATH_MAX];
            memcpy(tmp, d->path, strlen(d->path) + 1);
            const char *up;
            const char *name = path_split(tmp, &up);
            _cleanup_close_ int ufd = unpack_open_beneath(u->root_fd, up, false);
            if (ufd < 0)
                continue; /* removed or replaced later in the layer */
            fd = openat(ufd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
            continue;
        if (fchmod(fd, d->mode) < 0)
            return error_set(err, -errno, "directory '%s': cannot set its mode: %s", d->path,
                             strerror(errno));
        if (futimens(fd, d->times) < 0)
            return error_set(err, -errno, "directory '%s': cannot set its times: %s", d->path,
                             strerror(errno));
    }
    unpack_dirs_clear(u);
    return 0;
}

static void archive_freep(struct archive **a) {
    if (*a)
        archive_read_free(*a);
}

static int unpack_layer(struct unpack *u, const char *blob, struct error *err) {
    _cleanup_(archive_freep) struct archive *a = archive_read_new();
    if (!a)
        return lazylib_archive_error(err);
    /* Only the compressors layers use; no external decompressor programs. */
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_empty(a);
    if (archive_read_open_filename(a, blob, READ_BLOCK) != ARCHIVE_OK)
        return error_set(err, archive_code(a), "layer '%s': cannot open it: %s", u->layer,
                         archive_error_string(a));
    pathset_release(&u->created);
    size_t count = 0;
    for (;;) {
        if (u->cancel && *u->cancel)
            return error_set(err, -ECANCELED, "layer '%s': cancelled", u->layer);
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return error_set(err, archive_code(a), "layer '%s': cannot read it: %s", u->layer,
                             archive_error_string(a));
        if (++count > OCI_ENTRIES_MAX)
            return error_set(err, -E2BIG, "layer '%s': more than %d entries", u->layer,
                             OCI_ENTRIES_MAX);
        const char *raw = archive_entry_pathname(e);
        if (!raw)
            return error_set(err, -EINVAL, "layer '%s': entry without a path", u->layer);
        r = apply_entry(u, a, e, raw, err);
        if (r < 0) {
            error_prefix(err, "layer '%s': entry '%s'", u->layer, raw);
            return r;
        }
    }
    return unpack_finish_dirs(u, err);
}

static bool digest_is_valid(const char *d) {
    if (!str_starts_with(d, "sha256:") || strlen(d) != 7 + 64)
        return false;
    for (d += 7; *d; d++)
        if (!((*d >= '0' && *d <= '9') || (*d >= 'a' && *d <= 'f')))
            return false;
    return true;
}

int oci_unpack(const struct oci_image *img, const char *cache_dir, const char *dir,
               volatile sig_atomic_t *cancel, struct error *err) {
    if (img->n_layers > OCI_LAYERS_MAX)
        return error_set(err, -E2BIG, "image has more than %d layers", OCI_LAYERS_MAX);
    _cleanup_(unpack_release) struct unpack u = {
        .root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
        .is_root = geteuid() == 0,
        .cancel = cancel,
    };
    if (u.root_fd < 0)
        return error_set(err, -errno, "cannot open staging directory '%s': %s", dir,
                         strerror(errno));
    for (size_t i = 0; i < img->n_layers; i++) {
        u.layer = img->layers[i].digest;
        if (!u.layer)
            return error_set(err, -EINVAL, "layer %zu has no digest", i);
        if (!digest_is_valid(u.layer))
            return error_set(err, -EINVAL, "layer '%s': not a sha256 digest", u.layer);
        _cleanup_free_ char *blob = oci_blob_path(cache_dir, u.layer);
        if (!blob)
            return error_set(err, -ENOMEM, "out of memory");
        int r = unpack_layer(&u, blob, err);
        if (r < 0)
            return r;
    }
    if (u.skipped_owners || u.skipped_devices || u.skipped_xattrs)
        log_debug("unpack '%s': skipped %llu owners, %llu device nodes, %llu xattrs (not root "
                  "or not supported)",
                  dir, (unsigned long long)u.skipped_owners, (unsigned long long)u.skipped_devices,
                  (unsigned long long)u.skipped_xattrs);
    return 0;
}

int oci_unpack_tar(const char *tar, const char *dir, volatile sig_atomic_t *cancel,
                   struct error *err) {
    _cleanup_(unpack_release) struct unpack u = {
        .root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
        .is_root = geteuid() == 0,
        .cancel = cancel,
        .layer = tar,
    };
    if (u.root_fd < 0)
        return error_set(err, -errno, "cannot open staging directory '%s': %s", dir,
                         strerror(errno));
    return unpack_layer(&u, tar, err);
}
