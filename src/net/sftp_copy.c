/*
 * net sftp copy: `hearth cp` between this host and an SFTP server, with
 * cp's and docker cp's rules for the destination (net.h, net_sftp_copy).
 *
 * Each file is written under a temporary name in its destination's
 * directory and renamed over the destination once its data, mode and times
 * are there: on the server with posix-rename@openssh.com (RENAME without
 * it), on the host with renameat(2). A failure or a cancel removes the
 * temporary file, so the destination is either the old file or the whole
 * new one.
 *
 * Writing on the host never follows a symlink below the destination the
 * user named: a tree from the server is built with *at() calls relative to
 * open directories (O_NOFOLLOW), so a server that lists "x" first as a
 * symlink and then as a directory cannot make hearth write through the
 * link. Names the server lists are checked (sftp.c): no '/', no NUL, not
 * "." or "..". Directories get their modes and times after their entries
 * are written (an entry changes its directory's time; a read-only mode
 * would refuse them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/sftp_priv.h"

#define CP_DEPTH_MAX 128   /* directories nested in a copied tree */
#define CP_DIR_MAX 1000000 /* entries of one directory */
#define CP_MODE_KEPT 01777 /* permissions and sticky; setuid and setgid are dropped */
#define HOST "host"        /* the host side in messages */

struct cp {
    net_sftp *s;
    const struct net_cp *o;
    const char *what;  /* the server in messages */
    const char *shown; /* the file in progress, for the progress callback */
    uint64_t total;
};

/* ---- paths ---------------------------------------------------------------- */

/* The length of p without trailing slashes (but "/" keeps its one). */
static size_t trimmed_len(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    return n;
}

/* dir/name; a dir ending in '/' gets none added. Caller frees. */
static int path_join(const char *side, const char *dir, const char *name, char **ret,
                     struct error *err) {
    size_t n = trimmed_len(dir);
    bool slash = n > 0 && dir[n - 1] == '/';
    char *p = xasprintf("%.*s%s%s", (int)n, dir, slash || n == 0 ? "" : "/", name);
    if (!p)
        return error_oom(err);
    if (strlen(p) >= PATH_MAX) {
        int r = error_set(err, -ENAMETOOLONG, "%s: %.64s...: the path is too long", side, p);
        free(p);
        return r;
    }
    *ret = p;
    return 0;
}

/* The last component of p (trailing slashes left out) into buf; "" for "/". */
static void path_base(const char *p, char *buf, size_t size) {
    size_t n = trimmed_len(p);
    if (n == 1 && p[0] == '/')
        n = 0;
    size_t start = n;
    while (start > 0 && p[start - 1] != '/')
        start--;
    snprintf(buf, size, "%.*s", (int)(n - start), p + start);
}

/* The directory part of p into buf: "." when it has none. */
static void path_dir(const char *p, char *buf, size_t size) {
    size_t n = trimmed_len(p);
    while (n > 0 && p[n - 1] != '/')
        n--;
    while (n > 1 && p[n - 1] == '/')
        n--;
    if (n == 0)
        snprintf(buf, size, ".");
    else
        snprintf(buf, size, "%.*s", (int)n, p);
}

int sftp_cp_target(const char *side, const char *src, bool src_dir, const char *dst,
                   enum sftp_dst state, char **ret, struct error *err) {
    size_t dn = strlen(dst);
    bool slash = dn > 0 && dst[dn - 1] == '/';
    char base[NAME_MAX + 2];
    path_base(src, base, sizeof(base));
    bool contents = !*base || !strcmp(base, ".") || !strcmp(base, "..");
    if (state == SFTP_DST_MISSING && slash && !src_dir)
        return error_set(err, -ENOENT, "%s: %s: No such file or directory", side, dst);
    if (state == SFTP_DST_OTHER && (slash || src_dir))
        return error_set(err, -ENOTDIR, "%s: %s: %s", side, dst,
                         slash ? strerror(ENOTDIR)
                               : "not a directory, so the directory cannot be copied onto it");
    if (state == SFTP_DST_DIR && !contents)
        return path_join(side, dst, base, ret, err);
    char *p = xasprintf("%.*s", (int)trimmed_len(dst), dst);
    if (!p)
        return error_oom(err);
    *ret = p;
    return 0;
}

int sftp_cp_tmp_name(const char *name, char *buf, size_t size) {
    char id[ID_LEN + 1];
    int r = id_generate(id);
    if (r < 0)
        return r;
    /* ".hearth-", 8 hex digits and '-': 17 characters before the name */
    snprintf(buf, size, ".hearth-%.8s-%.*s", id, NAME_MAX - 17, name);
    return 0;
}

/* ---- attributes ---------------------------------------------------------- */

static uint32_t time32(time_t t) {
    return t < 0 ? 0 : (uint64_t)t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* The mode and times the copy of a file with st gets on the server. */
static struct sftp_attrs attrs_of(const struct stat *st) {
    return (struct sftp_attrs){.flags = SFTP_ATTR_PERMISSIONS | SFTP_ATTR_ACMODTIME,
                               .perm = st->st_mode & CP_MODE_KEPT,
                               .atime = time32(st->st_atime),
                               .mtime = time32(st->st_mtime)};
}

static void times_of(const struct sftp_attrs *a, struct timespec ts[2]) {
    bool has = a->flags & SFTP_ATTR_ACMODTIME;
    ts[0] = (struct timespec){.tv_sec = a->atime, .tv_nsec = has ? 0 : UTIME_OMIT};
    ts[1] = (struct timespec){.tv_sec = a->mtime, .tv_nsec = has ? 0 : UTIME_OMIT};
}

static void progress(struct cp *c, uint64_t done) {
    if (c->o->progress)
        c->o->progress(c->o->ud, c->shown, done, c->total);
}

static void on_progress(void *ud, uint64_t done) {
    progress(ud, done);
}

static int host_error(int e, const char *path, struct error *err) {
    return error_set(err, -e, HOST ": %s: %s", path, strerror(e));
}

/* ---- to the server ------------------------------------------------------- */

/* A temporary path beside the server's path final. */
static int server_tmp(const struct cp *c, const char *final, char **ret, struct error *err) {
    char dir[PATH_MAX], base[NAME_MAX + 2], tmp[NAME_MAX + 1];
    path_dir(final, dir, sizeof(dir));
    path_base(final, base, sizeof(base));
    int r = sftp_cp_tmp_name(base, tmp, sizeof(tmp));
    if (r < 0)
        return error_set(err, r, "cannot make a temporary name: %s", strerror(-r));
    return path_join(c->what, strchr(final, '/') ? dir : "", tmp, ret, err);
}

/* After a failure: the temporary file tmp goes, or a warning says where it stays. */
static void server_tmp_remove(struct cp *c, const char *tmp) {
    struct error e2;
    error_init(&e2);
    if (net_sftp_broken(c->s) || sftp_remove(c->s, tmp, &e2) < 0)
        log_warn("%s: the temporary file '%s' may be left: %s", c->what, tmp,
                 e2.msg[0] ? e2.msg : "the session broke");
}

/* Closes h after a failure; that failure is what gets reported. */
static void close_quietly(struct cp *c, const struct sftp_handle *h) {
    struct error e2;
    error_init(&e2);
    if (!net_sftp_broken(c->s) && sftp_close_handle(c->s, h, &e2) < 0)
        log_debug("%s", e2.msg);
}

/* The host file path (stat st; in a tree: opened without following) to the server's final. */
static int put_file(struct cp *c, const char *path, const struct stat *st, bool in_tree,
                    const char *final, struct error *err) {
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | (in_tree ? O_NOFOLLOW : 0));
    if (fd < 0)
        return host_error(errno, path, err);
    _cleanup_free_ char *tmp = NULL;
    int r = server_tmp(c, final, &tmp, err);
    struct sftp_handle h;
    struct sftp_attrs a0 = {.flags = SFTP_ATTR_PERMISSIONS, .perm = 0600};
    if (r == 0)
        r = sftp_open(c->s, tmp, SFTP_FXF_WRITE | SFTP_FXF_CREAT | SFTP_FXF_EXCL, &a0, final, &h,
                      err);
    if (r < 0)
        return r;
    c->shown = path;
    c->total = (uint64_t)st->st_size;
    progress(c, 0);
    r = sftp_upload(c->s, &h, fd, path, on_progress, c, err);
    struct sftp_attrs a = attrs_of(st);
    if (r == 0)
        r = sftp_fsetstat(c->s, &h, &a, err);
    if (r < 0)
        close_quietly(c, &h);
    else
        r = sftp_close_handle(c->s, &h, err);
    if (r == 0)
        r = sftp_rename(c->s, tmp, final, NULL, err);
    if (r < 0)
        server_tmp_remove(c, tmp);
    return r;
}

/* The host symlink path as a symlink at the server's final, replacing what is there. */
static int put_link(struct cp *c, const char *path, const struct stat *st, const char *final,
                    struct error *err) {
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return host_error(errno, path, err);
    target[n] = '\0';
    _cleanup_free_ char *tmp = NULL;
    int r = server_tmp(c, final, &tmp, err);
    if (r == 0)
        r = sftp_symlink(c->s, target, tmp, final, err);
    if (r < 0)
        return r;
    if ((r = sftp_rename(c->s, tmp, final, NULL, err)) < 0) {
        server_tmp_remove(c, tmp);
        return r;
    }
    if (!sftp_has_lsetstat(c->s))
        return 0; /* the link's own times need OpenSSH's lsetstat */
    struct sftp_attrs a = attrs_of(st);
    a.flags = SFTP_ATTR_ACMODTIME;
    return sftp_setstat(c->s, final, &a, true, err);
}

/* What the server has at path (not following a symlink unless follow): a dst state. */
static int server_state(struct cp *c, const char *path, bool follow, enum sftp_dst *ret,
                        struct error *err) {
    struct sftp_attrs a;
    int r = sftp_stat(c->s, path, follow, &a, err);
    if (r == -ENOENT) {
        *ret = SFTP_DST_MISSING;
        return 0;
    }
    if (r < 0)
        return r;
    *ret = S_ISDIR(a.perm) ? SFTP_DST_DIR : SFTP_DST_OTHER;
    return 0;
}

static int names_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The names in the host directory path (opened without following when in a tree), sorted. */
static int host_list(const char *path, bool in_tree, char ***ret, size_t *ret_n,
                     struct error *err) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (in_tree ? O_NOFOLLOW : 0));
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return host_error(e, path, err);
    }
    char **v = NULL;
    size_t n = 0;
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            r = errno ? host_error(errno, path, err) : 0;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n >= CP_DIR_MAX) {
            r = error_set(err, -EFBIG, HOST ": %s: more than %d entries", path, CP_DIR_MAX);
            break;
        }
        if (array_grow(&v, n, sizeof(*v)) < 0 || !(v[n] = xstrdup(de->d_name))) {
            r = error_oom(err);
            break;
        }
        n++;
    }
    closedir(d);
    if (r < 0) {
        names_free(v, n);
        return r;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), names_cmp);
    *ret = v;
    *ret_n = n;
    return 0;
}

static int put_tree(struct cp *c, const char *path, const struct stat *st, const char *final,
                    bool exists, int depth, struct error *err);

/* One entry of a host directory, name in path, to the server's final. */
static int put_entry(struct cp *c, const char *path, const char *final, bool merging, int depth,
                     struct error *err) {
    struct stat st;
    if (lstat(path, &st) < 0)
        return host_error(errno, path, err);
    enum sftp_dst there = SFTP_DST_MISSING;
    int r = merging ? server_state(c, final, false, &there, err) : 0;
    if (r < 0)
        return r;
    if (S_ISDIR(st.st_mode)) {
        if (there == SFTP_DST_OTHER)
            return error_set(err, -ENOTDIR,
                             "%s: %s: not a directory, so the directory cannot be copied onto it",
                             c->what, final);
        return put_tree(c, path, &st, final, there == SFTP_DST_DIR, depth + 1, err);
    }
    if (there == SFTP_DST_DIR && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
        return error_set(err, -EISDIR, "%s: %s: a directory, so the file cannot replace it",
                         c->what, final);
    if (S_ISREG(st.st_mode))
        return put_file(c, path, &st, true, final, err);
    if (S_ISLNK(st.st_mode))
        return put_link(c, path, &st, final, err);
    if (c->o->notice) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof(msg), HOST ": %s: skipped: not a file, directory or symlink", path);
        c->o->notice(c->o->ud, msg);
    }
    return 0;
}

/* The host directory path (stat st) to the server's final, made unless it exists. */
static int put_tree(struct cp *c, const char *path, const struct stat *st, const char *final,
                    bool exists, int depth, struct error *err) {
    if (depth > CP_DEPTH_MAX)
        return error_set(err, -ELOOP, HOST ": %s: more than %d directories deep", path,
                         CP_DEPTH_MAX);
    char **names = NULL;
    size_t n = 0;
    int r = host_list(path, depth > 0, &names, &n, err);
    if (r == 0 && !exists)
        r = sftp_mkdir(c->s, final, 0700, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        if (sftp_is_cancelled(c->s))
            r = error_set(err, -ECANCELED, "cancelled");
        else if ((r = path_join(HOST, path, names[i], &from, err)) == 0 &&
                 (r = path_join(c->what, final, names[i], &to, err)) == 0)
            r = put_entry(c, from, to, exists, depth, err);
    }
    names_free(names, n);
    if (r == 0) {
        struct sftp_attrs a = attrs_of(st);
        r = sftp_setstat(c->s, final, &a, false, err);
    }
    return r;
}

/* ---- from the server ------------------------------------------------------ */

/* The server's file path (attributes a) as name in the host directory dirfd. */
static int get_file(struct cp *c, const char *path, const struct sftp_attrs *a, int dirfd,
                    const char *name, const char *shown, struct error *err) {
    struct sftp_handle h;
    int r = sftp_open(c->s, path, SFTP_FXF_READ, NULL, path, &h, err);
    if (r < 0)
        return r;
    char tmp[NAME_MAX + 1];
    if ((r = sftp_cp_tmp_name(name, tmp, sizeof(tmp))) < 0) {
        close_quietly(c, &h);
        return error_set(err, r, "cannot make a temporary name: %s", strerror(-r));
    }
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = host_error(errno, shown, err);
        close_quietly(c, &h);
        return r;
    }
    c->shown = path;
    c->total = a->size;
    progress(c, 0);
    uint64_t size = 0;
    r = sftp_download(c->s, &h, fd, a->size, shown, on_progress, c, &size, err);
    if (r < 0)
        close_quietly(c, &h);
    else
        r = sftp_close_handle(c->s, &h, err);
    struct timespec ts[2];
    times_of(a, ts);
    if (r == 0 &&
        (((a->flags & SFTP_ATTR_PERMISSIONS) && fchmod(fd, (mode_t)(a->perm & CP_MODE_KEPT)) < 0) ||
         futimens(fd, ts) < 0))
        r = host_error(errno, shown, err);
    if (close(fd) < 0 && r == 0)
        r = host_error(errno, shown, err);
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = host_error(errno, shown, err);
    if (r < 0)
        (void)unlinkat(dirfd, tmp, 0);
    return r;
}

/* The server's symlink path as a symlink name in dirfd, replacing what is there. */
static int get_link(struct cp *c, const char *path, const struct sftp_attrs *a, int dirfd,
                    const char *name, const char *shown, struct error *err) {
    _cleanup_free_ char *target = NULL;
    char tmp[NAME_MAX + 1];
    int r = sftp_readlink(c->s, path, &target, err);
    if (r < 0)
        return r;
    if ((r = sftp_cp_tmp_name(name, tmp, sizeof(tmp))) < 0)
        return error_set(err, r, "cannot make a temporary name: %s", strerror(-r));
    if (symlinkat(target, dirfd, tmp) < 0)
        return host_error(errno, shown, err);
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        r = host_error(errno, shown, err);
        (void)unlinkat(dirfd, tmp, 0);
        return r;
    }
    struct timespec ts[2];
    times_of(a, ts);
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return host_error(errno, shown, err);
    return 0;
}

static int get_tree(struct cp *c, const char *path, const struct sftp_attrs *a, int dfd,
                    const char *shown, int depth, struct error *err);

/* The directory name in dirfd, made (0700) unless there, opened without following it. */
static int host_subdir(int dirfd, const char *name, const char *shown, struct error *err) {
    if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
        return host_error(errno, shown, err);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ENOTDIR || errno == ELOOP))
        return error_set(err, -ENOTDIR,
                         HOST ": %s: not a directory, so the directory cannot be copied onto it",
                         shown);
    if (fd < 0)
        return host_error(errno, shown, err);
    return fd;
}

/* One entry e of the server's directory path into the host directory dfd (shown as shown). */
static int get_entry(struct cp *c, const char *path, const struct sftp_entry *e, int dfd,
                     const char *shown, int depth, struct error *err) {
    _cleanup_free_ char *from = NULL, *to = NULL;
    int r = path_join(c->what, path, e->name, &from, err);
    if (r == 0)
        r = path_join(HOST, shown, e->name, &to, err);
    if (r < 0)
        return r;
    struct sftp_attrs a = e->a;
    if (!(a.flags & SFTP_ATTR_PERMISSIONS) && (r = sftp_stat(c->s, from, false, &a, err)) < 0)
        return r;
    if (S_ISDIR(a.perm)) {
        int fd = host_subdir(dfd, e->name, to, err);
        if (fd < 0)
            return fd;
        r = get_tree(c, from, &a, fd, to, depth + 1, err);
        close(fd);
        return r;
    }
    struct stat st;
    if ((S_ISREG(a.perm) || S_ISLNK(a.perm)) &&
        fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        return error_set(err, -EISDIR, HOST ": %s: a directory, so the file cannot replace it", to);
    if (S_ISREG(a.perm))
        return get_file(c, from, &a, dfd, e->name, to, err);
    if (S_ISLNK(a.perm))
        return get_link(c, from, &a, dfd, e->name, to, err);
    if (c->o->notice) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof(msg), "%s: %s: skipped: not a file, directory or symlink", c->what,
                 from);
        c->o->notice(c->o->ud, msg);
    }
    return 0;
}

/* The server's directory path (attributes a) into the open host directory dfd. */
static int get_tree(struct cp *c, const char *path, const struct sftp_attrs *a, int dfd,
                    const char *shown, int depth, struct error *err) {
    if (depth > CP_DEPTH_MAX)
        return error_set(err, -ELOOP, "%s: %s: more than %d directories deep", c->what, path,
                         CP_DEPTH_MAX);
    struct sftp_entry *v = NULL;
    size_t n = 0;
    int r = sftp_list(c->s, path, CP_DIR_MAX, &v, &n, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (sftp_is_cancelled(c->s))
            r = error_set(err, -ECANCELED, "cancelled");
        else
            r = get_entry(c, path, &v[i], dfd, shown, depth, err);
    }
    sftp_entries_free(v, n);
    struct timespec ts[2];
    times_of(a, ts);
    if (r == 0 && (((a->flags & SFTP_ATTR_PERMISSIONS) &&
                    fchmod(dfd, (mode_t)(a->perm & CP_MODE_KEPT)) < 0) ||
                   futimens(dfd, ts) < 0))
        r = host_error(errno, shown, err);
    return r;
}

/* ---- the copy ---------------------------------------------------------------- */

/* The host source of a copy to the server: a file, or with -r a directory. */
static int host_source(const struct net_cp *o, struct stat *st, struct error *err) {
    if (stat(o->host_path, st) < 0)
        return host_error(errno, o->host_path, err);
    if (S_ISDIR(st->st_mode) && !o->recursive)
        return error_set(err, -EISDIR, HOST ": %s: a directory; copy it with -r", o->host_path);
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
        return error_set(err, -EINVAL, HOST ": %s: not a regular file or a directory",
                         o->host_path);
    return 0;
}

int net_cp_check(const struct net_cp *o, struct error *err) {
    struct stat st;
    return o->to_server ? host_source(o, &st, err) : 0;
}

static int copy_to_server(struct cp *c, struct error *err) {
    const char *src = c->o->host_path, *dst = *c->o->server_path ? c->o->server_path : ".";
    struct stat st;
    int r = host_source(c->o, &st, err);
    if (r < 0)
        return r;
    bool dir = S_ISDIR(st.st_mode);
    enum sftp_dst state;
    _cleanup_free_ char *target = NULL;
    r = server_state(c, dst, true, &state, err);
    if (r == 0)
        r = sftp_cp_target(c->what, src, dir, dst, state, &target, err);
    if (r < 0)
        return r;
    enum sftp_dst there = state;
    if (strcmp(target, dst) != 0 && state == SFTP_DST_DIR &&
        (r = server_state(c, target, false, &there, err)) < 0)
        return r;
    if (dir && there == SFTP_DST_OTHER)
        return error_set(err, -ENOTDIR,
                         "%s: %s: not a directory, so the directory cannot be copied onto it",
                         c->what, target);
    if (dir)
        return put_tree(c, src, &st, target, there == SFTP_DST_DIR, 0, err);
    if (there == SFTP_DST_DIR)
        return error_set(err, -EISDIR, "%s: %s: a directory, so the file cannot replace it",
                         c->what, target);
    return put_file(c, src, &st, false, target, err);
}

/* What the host has at path (following a symlink when follow): a dst state. */
static int host_state(const char *path, bool follow, enum sftp_dst *ret, struct error *err) {
    struct stat st;
    if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
        if (errno != ENOENT)
            return host_error(errno, path, err);
        *ret = SFTP_DST_MISSING;
        return 0;
    }
    *ret = S_ISDIR(st.st_mode) ? SFTP_DST_DIR : SFTP_DST_OTHER;
    return 0;
}

static int copy_from_server(struct cp *c, struct error *err) {
    const char *src = *c->o->server_path ? c->o->server_path : ".", *dst = c->o->host_path;
    struct sftp_attrs a;
    int r = sftp_stat(c->s, src, true, &a, err);
    if (r < 0)
        return r;
    bool dir = S_ISDIR(a.perm);
    if (dir && !c->o->recursive)
        return error_set(err, -EISDIR, "%s: %s: a directory; copy it with -r", c->what, src);
    if (!dir && !S_ISREG(a.perm))
        return error_set(err, -EINVAL, "%s: %s: not a regular file or a directory", c->what, src);
    enum sftp_dst state, there;
    _cleanup_free_ char *target = NULL;
    if ((r = host_state(dst, true, &state, err)) < 0 ||
        (r = sftp_cp_target(HOST, src, dir, dst, state, &target, err)) < 0)
        return r;
    there = state;
    if (strcmp(target, dst) != 0 && state == SFTP_DST_DIR &&
        (r = host_state(target, false, &there, err)) < 0)
        return r;
    if (dir && there == SFTP_DST_OTHER)
        return error_set(err, -ENOTDIR,
                         HOST ": %s: not a directory, so the directory cannot be copied onto it",
                         target);
    if (!dir && there == SFTP_DST_DIR)
        return error_set(err, -EISDIR, HOST ": %s: a directory, so the file cannot replace it",
                         target);
    /* The directory the user named, or the one the target goes in, is followed; below, nothing. */
    char parent[PATH_MAX], name[NAME_MAX + 2];
    path_dir(target, parent, sizeof(parent));
    path_base(target, name, sizeof(name));
    bool whole = dir && there == SFTP_DST_DIR; /* into the directory target itself */
    _cleanup_close_ int pfd = open(whole ? target : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return host_error(errno, whole ? target : parent, err);
    if (!dir)
        return get_file(c, src, &a, pfd, name, target, err);
    if (whole)
        return get_tree(c, src, &a, pfd, target, 0, err);
    int fd = host_subdir(pfd, name, target, err);
    if (fd < 0)
        return fd;
    r = get_tree(c, src, &a, fd, target, 0, err);
    close(fd);
    return r;
}

int net_sftp_copy(net_sftp *s, const struct net_cp *o, struct error *err) {
    struct cp c = {.s = s, .o = o, .what = sftp_what(s)};
    int r = o->to_server ? copy_to_server(&c, err) : copy_from_server(&c, err);
    if (r < 0 && sftp_is_cancelled(s))
        return error_set(err, -ECANCELED, "cancelled");
    return r;
}
