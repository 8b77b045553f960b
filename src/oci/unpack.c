/*
 * Applying an image's layers into a staging directory, safely.
 *
 * Each layer is read with libarchive (tar, pax or GNU tar; plain, gzip,
 * zstd, xz or bzip2, detected from the data) and its entries are applied in
 * order, with the paths resolved as Docker resolves them when it unpacks a
 * layer chrooted into the rootfs (resolve.c): every path of a layer (entry
 * names, hard link targets, whiteouts, opaque markers) is normalised
 * lexically, ".." stopping at the root, and its directory is then looked up
 * inside the staging directory as if that were "/", following symlinks (an
 * absolute one from the root, a relative one from its directory, ".." in
 * their targets clamped at the root, at most OCI_LINKS_MAX of them) with
 * openat2(RESOLVE_IN_ROOT). So `var/run -> /run` and then `var/run/x` puts
 * x in DIR/run/x, and no path, symlink or hard link of a layer ever reaches
 * outside DIR. Missing directories on the way are made (0755).
 *
 * The entry's own name is never followed: whatever is there (a symlink a
 * lower layer or an earlier entry put there included) is replaced, not
 * written through; only a directory over a directory merges. All creation
 * is relative to the directory's fd (mkdirat, openat O_EXCL|O_NOFOLLOW,
 * symlinkat, linkat without AT_SYMLINK_FOLLOW, mknodat) and metadata is set
 * on the new fd or with AT_SYMLINK_NOFOLLOW. A hard link's target is looked
 * up the same way and never followed either: a hard link to a symlink is a
 * second name of that symlink.
 *
 * Whiteouts follow the OCI image spec: ".wh.NAME" removes NAME from the lower
 * layers, ".wh..wh..opq" removes everything the lower layers put in its
 * directory. Both act only on lower layers: the places this layer created
 * (its directory's inode and the name, so two spellings of one path through
 * a symlink are one place) are kept in a set and spared. Directory modes and
 * times are applied when the layer ends, because creating children would
 * otherwise change the times.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/unpack_priv.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define READ_BLOCK (128u << 10)

/* ---- a set of strings (the places the current layer created) ------------ */

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
    dev_t dev; /* the directory the layer named, found again by its path only if it is */
    ino_t ino; /* still the same one */
    mode_t mode;
    struct timespec times[2];
};

struct unpack {
    int root_fd;
    bool is_root;
    unsigned inroot;   /* extra unpack_open_in_root flags (tests: INROOT_WALK) */
    const char *layer; /* digest of the layer being applied */
    volatile sig_atomic_t *cancel;
    struct pathset created; /* places (loc_key) the current layer made */
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

/* ---- places ------------------------------------------------------------------ */

#define LOC_KEY_MAX (64 + NAME_MAX)

/*
 * The key of the entry name in a directory (given by its stat): one place
 * however a layer spells its path ("run/x", "var/run/x" through a symlink).
 * A directory's inode number is reused only after it is gone, and a
 * directory made afterwards holds only this layer's entries, so a stale key
 * never spares a lower layer's file.
 */
static void loc_key(const struct stat *dir, const char *name, char key[LOC_KEY_MAX]) {
    snprintf(key, LOC_KEY_MAX, "%llx:%llx/%s", (unsigned long long)dir->st_dev,
             (unsigned long long)dir->st_ino, name);
}

static int unpack_mark(struct unpack *u, const struct stat *dir, const char *name) {
    char key[LOC_KEY_MAX];
    loc_key(dir, name, key);
    return pathset_add(&u->created, key);
}

static bool unpack_marked(const struct unpack *u, const struct stat *dir, const char *name) {
    char key[LOC_KEY_MAX];
    loc_key(dir, name, key);
    return pathset_contains(&u->created, key);
}

/* unpack_open_in_root's made callback: directories made on the way are this layer's. */
static int unpack_made(void *ud, int dir_fd, const char *name) {
    struct stat st;
    if (fstat(dir_fd, &st) < 0)
        return -errno;
    return unpack_mark(ud, &st, name);
}

/* Opens the layer directory dir (normalised) inside the root; create: make what is missing. */
static int unpack_open_dir(struct unpack *u, const char *dir, bool create) {
    return unpack_open_in_root(u->root_fd, dir, u->inroot | (create ? INROOT_CREATE : 0),
                               create ? unpack_made : NULL, u);
}

/* The error for a directory (what: "its directory") unpack_open_dir could not open. */
static int dir_error(struct error *err, int r, const char *what, const char *dir) {
    switch (r) {
    case -ENOMEM:
        return error_set(err, r, "out of memory");
    case -ELOOP:
        return error_set(err, r, "%s '%s' has more than %d symlinks on its path (a loop?)", what,
                         dir, OCI_LINKS_MAX);
    case -ENOTDIR:
        return error_set(err, r, "%s '%s' is not a directory", what, dir);
    case -ENAMETOOLONG:
        return error_set(err, r, "%s '%s' is too long once its symlinks are followed", what, dir);
    case -EXDEV: /* openat2 saw an escape race; nothing here renames, so nothing should */
        return error_set(err, -EPERM, "%s '%s' leads outside the root", what, dir);
    default:
        return error_set(err, r, "cannot open %s '%s': %s", what, dir, strerror(-r));
    }
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

static int unpack_record_dir(struct unpack *u, const char *path, const struct stat *st,
                             struct archive_entry *e) {
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
    d->dev = st->st_dev;
    d->ino = st->st_ino;
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
              : openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return error_set(err, -errno, "cannot open it: %s", strerror(errno));
    int r = entry_set_meta_fd(u, e, fd, false, false, err);
    if (r < 0)
        return r;
    if (unpack_record_dir(u, path, &st, e) < 0)
        return error_oom(err);
    return 0;
}

/* A hard link's target, looked up before the entry's name is cleared. */
struct link_target {
    int pfd; /* its directory */
    char buf[OCI_PATH_MAX];
    const char *name; /* in buf */
    struct stat st;   /* of the target itself, not followed */
};

static void link_target_release(struct link_target *t) {
    if (t->pfd >= 0)
        close(t->pfd);
}

static int link_target_open(struct unpack *u, const char *target, struct link_target *t,
                            struct error *err) {
    int depth;
    int r = unpack_path_normalize(target, t->buf, &depth);
    if (r < 0)
        return error_set(err, r, "hard link target is longer than %d bytes", OCI_PATH_MAX);
    if (depth == 0)
        return error_set(err, -EPERM, "hard link target '%s' is the root directory", target);
    const char *tparent;
    t->name = unpack_path_split(t->buf, &tparent);
    t->pfd = unpack_open_dir(u, tparent, false);
    if (t->pfd < 0) {
        dir_error(err, t->pfd, "its directory", tparent);
        return error_prefix(err, "hard link target '%s'", target);
    }
    if (fstatat(t->pfd, t->name, &t->st, AT_SYMLINK_NOFOLLOW) < 0)
        return error_set(err, -errno, "hard link target '%s': %s", target, strerror(errno));
    if (S_ISDIR(t->st.st_mode))
        return error_set(err, -EPERM, "hard link target '%s' is a directory", target);
    return 0;
}

static int apply_whiteout(struct unpack *u, const char *parent, const char *wname,
                          struct error *err) {
    const char *victim = wname + strlen(WHITEOUT_PREFIX);
    if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
        return error_set(err, -EPERM, "whiteout names no file it may remove");
    if (str_starts_with(victim, WHITEOUT_PREFIX))
        return 0; /* other AUFS metadata (.wh..wh.plnk and the like): ignored */
    _cleanup_close_ int pfd = unpack_open_dir(u, parent, false);
    if (pfd == -ENOENT || pfd == -ENOTDIR)
        return 0; /* nothing lower to hide */
    if (pfd < 0)
        return dir_error(err, pfd, "its directory", parent);
    struct stat pst;
    if (fstat(pfd, &pst) < 0)
        return error_set(err, -errno, "cannot stat its directory: %s", strerror(errno));
    if (unpack_marked(u, &pst, victim))
        return 0; /* whiteouts hide only what lower layers made */
    return fs_tree_remove_at(pfd, victim, 0, err);
}

/* Removes what lower layers put below the directory open as fd (path names it in errors). */
static int opaque_clean(struct unpack *u, int fd, const char *path, int depth, struct error *err) {
    if (depth > OCI_DEPTH_MAX)
        return error_set(err, -ELOOP, "nested too deeply");
    /* Collect the names first: the directory changes while we remove. */
    int rfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (rfd < 0 || fstat(rfd, &st) < 0) {
        int r = -errno;
        if (rfd >= 0)
            close(rfd);
        return error_set(err, r, "cannot read '%s': %s", path, strerror(-r));
    }
    DIR *d = fdopendir(rfd);
    if (!d) {
        close(rfd);
        return error_oom(err);
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
        if (!unpack_marked(u, &st, name)) {
            if ((r = fs_tree_remove_at(fd, name, 0, err)) < 0)
                return r;
            continue;
        }
        _cleanup_close_ int cfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
            continue; /* not a directory (or a symlink): nothing below it */
        char child[OCI_PATH_MAX];
        int n = snprintf(child, sizeof(child), "%s%s%s", path, *path ? "/" : "", name);
        if (n < 0 || (size_t)n >= sizeof(child))
            return error_set(err, -ENAMETOOLONG, "path too long");
        if ((r = opaque_clean(u, cfd, child, depth + 1, err)) < 0)
            return r;
    }
    return 0;
}

static int apply_opaque(struct unpack *u, const char *parent, struct error *err) {
    /* The marker's directory, found as any entry's directory is (through symlinks). */
    _cleanup_close_ int fd = unpack_open_dir(u, parent, false);
    if (fd == -ENOENT || fd == -ENOTDIR)
        return 0; /* nothing lower to hide */
    if (fd < 0)
        return dir_error(err, fd, "its directory", parent);
    return opaque_clean(u, fd, parent, 0, err);
}

static int apply_node(struct unpack *u, struct archive *a, struct archive_entry *e, int pfd,
                      const char *name, const char *path, bool exists, const char *raw,
                      struct error *err) {
    mode_t type = archive_entry_filetype(e);
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

static int apply_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
                       const char *raw, struct error *err) {
    char path[OCI_PATH_MAX];
    int depth;
    int r = unpack_path_normalize(raw, path, &depth);
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
    const char *name = unpack_path_split(copy, &parent);

    if (str_starts_with(name, WHITEOUT_PREFIX)) {
        if (!strcmp(name, WHITEOUT_OPAQUE))
            return apply_opaque(u, parent, err);
        return apply_whiteout(u, parent, name, err);
    }

    _cleanup_close_ int pfd = unpack_open_dir(u, parent, true);
    if (pfd < 0)
        return dir_error(err, pfd, "its directory", parent);
    struct stat pst;
    if (fstat(pfd, &pst) < 0)
        return error_set(err, -errno, "cannot stat its directory: %s", strerror(errno));

    _cleanup_(link_target_release) struct link_target lt = {.pfd = -1};
    if (hardlink && (r = link_target_open(u, hardlink, &lt, err)) < 0)
        return r;

    /* Whatever is at the name is replaced, never followed; directories merge. */
    struct stat st;
    bool exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    bool is_dir = type == AE_IFDIR && !hardlink;
    if (exists && !(is_dir && S_ISDIR(st.st_mode))) {
        if (hardlink && st.st_dev == lt.st.st_dev && st.st_ino == lt.st.st_ino)
            return 0; /* already that file */
        if ((r = fs_tree_remove_at(pfd, name, 0, err)) < 0)
            return r;
        exists = false;
    }
    if ((r = unpack_mark(u, &pst, name)) < 0)
        return error_set(err, r, "out of memory");

    if (hardlink) {
        if (linkat(lt.pfd, lt.name, pfd, name, 0) < 0)
            return error_set(err, -errno, "cannot link it to '%s': %s", hardlink, strerror(errno));
        return 0;
    }
    return apply_node(u, a, e, pfd, name, path, exists, raw, err);
}

/* Mode and times of the directories the layer named, now that their content is in place. */
static int unpack_finish_dirs(struct unpack *u, struct error *err) {
    for (size_t i = 0; i < u->n_dirs; i++) {
        struct dir_meta *d = &u->dirs[i];
        _cleanup_close_ int pfd = unpack_open_in_root(u->root_fd, d->path, u->inroot, NULL, NULL);
        if (pfd < 0)
            continue; /* removed later in the layer */
        _cleanup_close_ int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != d->dev || st.st_ino != d->ino)
            continue; /* replaced later in the layer: what is there now is not what was named */
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

int unpack_image(const struct oci_image *img, const char *cache_dir, const char *dir,
                 volatile sig_atomic_t *cancel, unsigned inroot, struct error *err) {
    if (img->n_layers > OCI_LAYERS_MAX)
        return error_set(err, -E2BIG, "image has more than %d layers", OCI_LAYERS_MAX);
    _cleanup_(unpack_release) struct unpack u = {
        .root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
        .is_root = geteuid() == 0,
        .inroot = inroot,
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
            return error_oom(err);
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

int oci_unpack(const struct oci_image *img, const char *cache_dir, const char *dir,
               volatile sig_atomic_t *cancel, struct error *err) {
    return unpack_image(img, cache_dir, dir, cancel, 0, err);
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
