/*
 * Paths inside an image's root, resolved as if the root were "/": the
 * rules Docker applies when it unpacks a layer (it does so chrooted into
 * the rootfs).
 *
 * A layer path is first normalised lexically (unpack_path_normalize): "."
 * and empty components dropped, ".." applied, and a ".." at the root stays
 * at the root. Its directory is then looked up from the root's fd
 * (unpack_open_in_root): a relative symlink is followed from its own
 * directory, an absolute one from the root, ".." in a symlink's target
 * never climbs above the root, and at most OCI_LINKS_MAX symlinks are
 * followed (-ELOOP beyond). The lookup is openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS), where the kernel does exactly this; a user-space
 * walk with the same rules, one component at a time with O_NOFOLLOW, stands
 * in where the kernel lacks openat2 (before 5.6) and where missing
 * directories are to be made on the way. The final name of an entry is
 * never looked up here: the caller creates or replaces it in the directory
 * this returns, without following it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oci/unpack_priv.h"

int unpack_path_normalize(const char *in, char out[OCI_PATH_MAX], int *ret_depth) {
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
                continue; /* "/.." is "/" */
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

const char *unpack_path_split(char *path, const char **ret_parent) {
    char *slash = strrchr(path, '/');
    if (!slash) {
        *ret_parent = "";
        return path;
    }
    *slash = '\0';
    *ret_parent = path;
    return slash + 1;
}

static int dup_fd(int fd) {
    int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return r < 0 ? -errno : r;
}

/* The walk's state: the directory reached and what is left to resolve. */
struct walk {
    int root_fd;
    struct stat root_st;
    unsigned flags;
    inroot_made_fn made;
    void *ud;
    int fd;    /* the directory reached so far (owned) */
    int links; /* symlinks followed */
    /* The rest of the path: rest[pos..len). A symlink's target is put in front of it. */
    char rest[2 * OCI_PATH_MAX];
    size_t pos, len;
};

static void walk_move(struct walk *w, int nfd) {
    close(w->fd);
    w->fd = nfd;
}

/* Replaces the symlink just met (open as lfd) by its target in front of the rest. */
static int walk_follow(struct walk *w, int lfd) {
    if (w->flags & INROOT_NO_SYMLINKS)
        return -ELOOP;
    if (++w->links > OCI_LINKS_MAX)
        return -ELOOP;
    char target[OCI_PATH_MAX];
    ssize_t n = readlinkat(lfd, "", target, sizeof(target));
    if (n < 0)
        return -errno;
    if ((size_t)n >= sizeof(target))
        return -ENAMETOOLONG;
    if (n == 0)
        return -ENOENT; /* as the kernel treats an empty target */
    size_t rl = w->len - w->pos;
    if ((size_t)n + 1 + rl >= sizeof(w->rest))
        return -ENAMETOOLONG;
    memmove(w->rest + n + 1, w->rest + w->pos, rl + 1);
    memcpy(w->rest, target, (size_t)n);
    w->rest[n] = '/';
    w->pos = 0;
    w->len = (size_t)n + 1 + rl;
    if (target[0] == '/') {
        int fd = dup_fd(w->root_fd);
        if (fd < 0)
            return fd;
        walk_move(w, fd);
    }
    return 0;
}

/* Goes up one directory, staying at the root when already there. */
static int walk_up(struct walk *w) {
    struct stat st;
    if (fstat(w->fd, &st) < 0)
        return -errno;
    if (st.st_dev == w->root_st.st_dev && st.st_ino == w->root_st.st_ino)
        return 0;
    int nfd = openat(w->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (nfd < 0)
        return -errno;
    walk_move(w, nfd);
    return 0;
}

/* Steps into name: a directory (made when missing, if asked to) or a symlink (followed). */
static int walk_step(struct walk *w, const char *name) {
    int nfd = openat(w->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0 && errno == ENOENT && (w->flags & INROOT_CREATE)) {
        if (mkdirat(w->fd, name, 0755) < 0) {
            if (errno != EEXIST)
                return -errno;
        } else {
            /* 0755 inside the image whatever the umask (hearth's is 077). */
            if (fchmodat(w->fd, name, 0755, 0) < 0)
                return -errno;
            if (w->made) {
                int r = w->made(w->ud, w->fd, name);
                if (r < 0)
                    return r;
            }
        }
        nfd = openat(w->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (nfd < 0)
        return -errno;
    struct stat st;
    if (fstat(nfd, &st) < 0) {
        int r = -errno;
        close(nfd);
        return r;
    }
    if (S_ISLNK(st.st_mode)) {
        int r = walk_follow(w, nfd);
        close(nfd);
        return r;
    }
    if (!S_ISDIR(st.st_mode)) {
        close(nfd);
        return -ENOTDIR;
    }
    walk_move(w, nfd);
    return 0;
}

static int walk_run(struct walk *w) {
    char name[NAME_MAX + 1];
    for (;;) {
        while (w->pos < w->len && w->rest[w->pos] == '/')
            w->pos++;
        if (w->pos == w->len)
            return 0;
        size_t s = w->pos;
        while (w->pos < w->len && w->rest[w->pos] != '/')
            w->pos++;
        size_t n = w->pos - s;
        if (n > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(name, w->rest + s, n);
        name[n] = '\0';
        int r = 0;
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, ".."))
            r = walk_up(w);
        else
            r = walk_step(w, name);
        if (r < 0)
            return r;
    }
}

static int open_in_root_walk(int root_fd, const char *rel, unsigned flags, inroot_made_fn made,
                             void *ud) {
    size_t len = strnlen(rel, OCI_PATH_MAX);
    if (len >= OCI_PATH_MAX)
        return -ENAMETOOLONG;
    struct walk *w = xmalloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (struct walk){
        .root_fd = root_fd, .flags = flags, .made = made, .ud = ud, .fd = -1, .len = len};
    memcpy(w->rest, rel, len + 1);
    int r = fstat(root_fd, &w->root_st) < 0 ? -errno : 0;
    if (r == 0)
        r = w->fd = dup_fd(root_fd);
    if (r >= 0)
        r = walk_run(w);
    if (r >= 0)
        r = w->fd;
    else if (w->fd >= 0)
        close(w->fd);
    free(w);
    return r;
}

int unpack_open_in_root(int root_fd, const char *rel, unsigned flags, inroot_made_fn made,
                        void *ud) {
    if (!(flags & (INROOT_WALK | INROOT_NO_SYMLINKS))) {
        struct open_how how = {
            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        long fd = -1;
        for (int tries = 0; tries < 8; tries++) {
            fd = syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));
            if (fd >= 0)
                return (int)fd;
            if (errno != EAGAIN && errno != EINTR)
                break;
        }
        /* Missing directories to make: the walk makes them, by the same rules. */
        if (errno != ENOSYS && !(errno == ENOENT && (flags & INROOT_CREATE)))
            return -errno;
    }
    return open_in_root_walk(root_fd, rel, flags, made, ud);
}
