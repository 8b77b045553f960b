/*
 * Writing files into an ext4 image without mounting it (/etc/hostname,
 * /etc/hosts, authorized_keys, --copy-files), so that nothing a guest put in
 * its filesystem can make the host follow a symlink. e2fsprogs' debugfs does
 * the work, run through exec_run (never a shell) on command files in a
 * private directory that each call makes (and removes) inside the work
 * directory its caller owns, two runs per call:
 *
 * 1. read-only: `stats -h` (free blocks and inodes) and `stat` of every
 *    prefix of every guest path. A symlink anywhere on the way is refused,
 *    missing parents are noted, and the space needed is checked up front,
 *    because debugfs reports a failed write only on stderr and in its exit
 *    status not at all.
 * 2. read-write: mkdir of the missing parents, rm of files being replaced,
 *    write of the staged contents, set_inode_field for mode and owner, then
 *    `stat` of every file in the same run, checked against what was asked
 *    (type, mode, owner, size, and the blocks written, which shows a write
 *    that ran out of space).
 *
 * debugfs's stdout echoes each command as "debugfs: CMD", so the output is
 * split into one section per command and each section is matched to the
 * command it answers. Guest paths are restricted to characters debugfs's
 * command parser passes through unchanged; host paths never reach that
 * parser: debugfs runs in the staging directory and is given its files by
 * their short relative names.
 *
 * The staging directory holds what is being written (a VM's hostname, its
 * authorized_keys, copied files), so it is never made in a shared place
 * such as $TMPDIR: the caller passes a work directory it owns (the engine:
 * one under <root>/tmp tied to the operation's journal row), and a process
 * killed mid-write leaves its staging only there, where the caller's
 * recovery removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"

#define BLOCK 4096ull
#define NAME_MAX_EXT4 255
#define DEBUGFS_TIMEOUT_MS (30 * 60 * 1000)
#define ECHO "debugfs: "

/* ---- guest paths ------------------------------------------------------------- */

static bool char_is_safe(unsigned char c) {
    if (c < 0x20 || c == 0x7f)
        return false;
    return c != ' ' && c != '"' && c != '\'' && c != '\\';
}

static int guest_path_check(const char *p, struct error *err) {
    if (!p)
        return error_set(err, -EINVAL, "a guest path is missing");
    size_t n = strnlen(p, OCI_PATH_MAX + 1);
    if (n > OCI_PATH_MAX)
        return error_set(err, -EINVAL, "guest path '%.64s...' is longer than %d bytes", p,
                         OCI_PATH_MAX);
    if (p[0] != '/' || n < 2)
        return error_set(err, -EINVAL, "guest path '%s' must be absolute and name a file", p);
    for (size_t i = 0; i < n; i++)
        if (!char_is_safe((unsigned char)p[i]))
            return error_set(err, -EINVAL,
                             "guest path '%s' holds a control character, whitespace, a quote or "
                             "a backslash, which debugfs cannot take",
                             p);
    const char *c = p + 1;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0)
            return error_set(err, -EINVAL, "guest path '%s' has an empty component", p);
        if (len > NAME_MAX_EXT4)
            return error_set(err, -EINVAL, "guest path '%s' has a component over %d bytes", p,
                             NAME_MAX_EXT4);
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return error_set(err, -EINVAL, "guest path '%s' is not normalised ('.' or '..')", p);
        if (!slash)
            break;
        c = slash + 1;
    }
    return 0;
}

/* ---- staging ------------------------------------------------------------------ */

struct stage {
    char dir[PATH_MAX]; /* "" until made */
};

static void stage_remove(struct stage *s) {
    if (!s->dir[0])
        return;
    struct error e;
    error_init(&e);
    if (fs_tree_remove(s->dir, &e) < 0)
        log_warn("cannot remove '%s': %s", s->dir, e.msg);
    s->dir[0] = '\0';
}

static int stage_make(struct stage *s, const char *work_dir, struct error *err) {
    if (!work_dir || work_dir[0] != '/')
        return error_set(err, -EINVAL, "a work directory (an absolute path) is needed, not '%s'",
                         work_dir ? work_dir : "");
    if (strlen(work_dir) > PATH_MAX - 64)
        return error_set(err, -ENAMETOOLONG, "work directory '%.64s...' is too long", work_dir);
    snprintf(s->dir, sizeof(s->dir), "%s/ext4-XXXXXX", work_dir);
    if (!mkdtemp(s->dir)) {
        int r = -errno;
        s->dir[0] = '\0';
        return error_set(err, r, "cannot make a staging directory in '%s': %s", work_dir,
                         strerror(-r));
    }
    return 0;
}

/* image as an absolute path (debugfs runs in the staging directory); *ret is NULL when it is. */
static int image_absolute(const char *image, char **ret, struct error *err) {
    *ret = NULL;
    if (image[0] == '/')
        return 0;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return error_set(err, -errno, "cannot resolve '%s': %s", image, strerror(errno));
    *ret = xasprintf("%s/%s", cwd, image);
    return *ret ? 0 : error_oom(err);
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Creates path (O_EXCL) holding data. */
static int stage_write(const char *path, const void *data, size_t len, struct error *err) {
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    int r = write_all(fd, data, len);
    if (r < 0)
        return error_set(err, r, "cannot write '%s': %s", path, strerror(-r));
    return 0;
}

/* Copies the regular host file src to path (O_EXCL); *ret_size is its size. */
static int stage_copy(const char *src, const char *path, uint64_t *ret_size, struct error *err) {
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0)
        return error_set(err, -errno, "cannot open '%s': %s", src, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return error_set(err, -EINVAL, "'%s' is not a regular file", src);
    _cleanup_close_ int out =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return error_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    uint64_t total = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_set(err, -errno, "cannot read '%s': %s", src, strerror(errno));
        }
        if (n == 0)
            break;
        int r = write_all(out, buf, (size_t)n);
        if (r < 0)
            return error_set(err, r, "cannot write '%s': %s", path, strerror(-r));
        total += (uint64_t)n;
    }
    *ret_size = total;
    return 0;
}

/* The 4 KiB blocks of the staged file path that hold anything but zeros. */
static int count_data_blocks(const char *path, uint64_t *ret, struct error *err) {
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    static const char zero[BLOCK];
    char buf[BLOCK];
    uint64_t n = 0;
    for (;;) {
        size_t got = 0;
        while (got < sizeof(buf)) {
            ssize_t r = read(fd, buf + got, sizeof(buf) - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return error_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
            if (r == 0)
                break;
            got += (size_t)r;
        }
        if (got == 0)
            break;
        if (memcmp(buf, zero, got) != 0)
            n++;
        if (got < sizeof(buf))
            break;
    }
    *ret = n;
    return 0;
}

/* ---- running debugfs ----------------------------------------------------------- */

/* One command file and what debugfs printed for each of its commands. */
struct script {
    struct strbuf text; /* the commands, one a line */
    char **cmds;        /* each command, for matching the echo */
    size_t n, alloc;
    struct strbuf out; /* debugfs's stdout */
    char **lines;      /* out split into lines (in place) */
    size_t nlines;
    size_t *first, *end; /* per command: its answer is lines[first, end) */
};

static void script_release(struct script *s) {
    strbuf_release(&s->text);
    for (size_t i = 0; i < s->n; i++)
        free(s->cmds[i]);
    free(s->cmds);
    strbuf_release(&s->out);
    free(s->lines);
    free(s->first);
    free(s->end);
    memset(s, 0, sizeof(*s));
}

static int script_add(struct script *s, struct error *err, const char *fmt, ...) PRINTF(3, 4);
static int script_add(struct script *s, struct error *err, const char *fmt, ...) {
    if (s->n == s->alloc) {
        size_t na = s->alloc ? s->alloc * 2 : 64;
        char **c = xrealloc(s->cmds, na * sizeof(*c));
        if (!c)
            return error_oom(err);
        s->cmds = c;
        s->alloc = na;
    }
    va_list ap;
    va_start(ap, fmt);
    struct strbuf line = STRBUF_INIT;
    int r = strbuf_vaddf(&line, fmt, ap);
    va_end(ap);
    if (r < 0 || strbuf_adds(&s->text, line.buf) < 0 || strbuf_addc(&s->text, '\n') < 0) {
        strbuf_release(&line);
        return error_oom(err);
    }
    s->cmds[s->n++] = strbuf_detach(&line);
    return 0;
}

/* Runs s's commands on image; on success s->lines/first/end describe the answers. */
static int script_run(struct script *s, const struct stage *st, const char *name, const char *image,
                      bool writable, struct error *err) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", st->dir, name);
    int r = stage_write(path, s->text.buf ? s->text.buf : "", s->text.len, err);
    if (r < 0)
        return r;
    const char *argv[6];
    size_t a = 0;
    argv[a++] = "debugfs";
    if (writable)
        argv[a++] = "-w";
    argv[a++] = "-f";
    argv[a++] = name; /* relative: debugfs runs in the staging directory */
    argv[a++] = image;
    argv[a] = NULL;
    r = exec_run(
        argv, &(struct exec_opts){.out = &s->out, .timeout_ms = DEBUGFS_TIMEOUT_MS, .cwd = st->dir},
        err);
    if (r < 0)
        return error_prefix(err, "running debugfs on '%s'", image);

    /* Split into lines, then into one section per echoed command. */
    size_t cap = 1;
    for (size_t i = 0; i < s->out.len; i++)
        cap += s->out.buf[i] == '\n';
    s->lines = xcalloc(cap, sizeof(*s->lines));
    s->first = xcalloc(s->n + 1, sizeof(*s->first));
    s->end = xcalloc(s->n + 1, sizeof(*s->end));
    if (!s->lines || !s->first || !s->end)
        return error_oom(err);
    char *p = s->out.buf;
    while (p && *p && s->nlines < cap) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        s->lines[s->nlines++] = p;
        p = nl ? nl + 1 : NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nlines; i++) {
        if (!str_starts_with(s->lines[i], ECHO))
            continue;
        if (k >= s->n || strcmp(s->lines[i] + strlen(ECHO), s->cmds[k]) != 0)
            return error_set(err, -EIO, "unexpected debugfs output on '%s': '%.200s'", image,
                             s->lines[i]);
        if (k > 0)
            s->end[k - 1] = i;
        s->first[k] = i + 1;
        k++;
    }
    if (k != s->n)
        return error_set(err, -EIO, "debugfs answered %zu of %zu commands on '%s'", k, s->n, image);
    if (k > 0)
        s->end[k - 1] = s->nlines;
    return 0;
}

/* The line of command k's answer that starts with prefix, or NULL. */
static const char *answer_line(const struct script *s, size_t k, const char *prefix) {
    for (size_t i = s->first[k]; i < s->end[k]; i++)
        if (str_starts_with(s->lines[i], prefix))
            return s->lines[i];
    return NULL;
}

/* The number after key in line (base 8 or 10); false if there is none. */
static bool field_u64(const char *line, const char *key, int base, uint64_t *ret) {
    const char *p = line ? strstr(line, key) : NULL;
    if (!p)
        return false;
    p += strlen(key);
    while (*p == ' ')
        p++;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, base);
    if (end == p || errno)
        return false;
    *ret = v;
    return true;
}

enum inode_type { TYPE_NONE, TYPE_REG, TYPE_DIR, TYPE_LNK, TYPE_OTHER };

/* What a `stat` answer says: nothing (no such path), or a type. */
static enum inode_type stat_type(const struct script *s, size_t k) {
    if (s->first[k] >= s->end[k])
        return TYPE_NONE;
    const char *l = s->lines[s->first[k]];
    if (!str_starts_with(l, "Inode:"))
        return TYPE_NONE;
    const char *t = strstr(l, "Type: ");
    if (!t)
        return TYPE_OTHER;
    t += strlen("Type: ");
    if (str_starts_with(t, "regular "))
        return TYPE_REG;
    if (str_starts_with(t, "directory "))
        return TYPE_DIR;
    if (str_starts_with(t, "symlink "))
        return TYPE_LNK;
    return TYPE_OTHER;
}

/* ---- the write ------------------------------------------------------------------ */

static bool list_has(char *const *list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* Per file: where its stats start in the check script, its size and whether it exists. */
struct plan {
    size_t stat_first; /* the command index of the stat of its first component */
    size_t ncomp;
    uint64_t size;
    uint64_t data_blocks; /* 4 KiB blocks of it that are not all zeros (debugfs leaves holes) */
    bool exists;
};

static int check_files(const char *image, const struct oci_ext4_file *files, size_t n,
                       struct plan *plans, const struct script *chk, char ***ret_dirs,
                       size_t *ret_ndirs, struct error *err) {
    uint64_t free_blocks, free_inodes;
    if (!field_u64(answer_line(chk, 0, "Free blocks:"), "Free blocks:", 10, &free_blocks) ||
        !field_u64(answer_line(chk, 0, "Free inodes:"), "Free inodes:", 10, &free_inodes))
        return error_set(err, -EIO, "debugfs did not report the free space of '%s'", image);

    char **dirs = xcalloc(1, sizeof(*dirs));
    size_t ndirs = 0, dalloc = 1;
    if (!dirs)
        return error_oom(err);
    *ret_dirs = dirs;
    uint64_t blocks = 0, inodes = 0;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *gp = files[i].guest_path;
        struct plan *pl = &plans[i];
        bool missing = false;
        const char *c = gp;
        for (size_t j = 0; j < pl->ncomp; j++) {
            c = strchr(c + 1, '/');
            size_t plen = c ? (size_t)(c - gp) : strlen(gp);
            bool last = j + 1 == pl->ncomp;
            enum inode_type t = stat_type(chk, pl->stat_first + j);
            if (t == TYPE_NONE)
                missing = true;
            if (missing && !last) {
                /* A parent to make, once. */
                _cleanup_free_ char *d = xstrndup(gp, plen);
                if (!d) {
                    r = error_oom(err);
                    break;
                }
                if (list_has(dirs, ndirs, d))
                    continue;
                if (ndirs == dalloc) {
                    char **nd = xrealloc(dirs, 2 * dalloc * sizeof(*nd));
                    if (!nd) {
                        r = error_oom(err);
                        break;
                    }
                    dirs = *ret_dirs = nd;
                    dalloc *= 2;
                }
                dirs[ndirs++] = steal_ptr(&d);
                *ret_ndirs = ndirs;
                blocks += 2; /* its block, and perhaps one more in its parent */
                inodes++;
                continue;
            }
            if (missing)
                continue;
            if (t == TYPE_LNK) {
                r = error_set(err, -EPERM,
                              "refusing to write '%s' in '%s': '%.*s' is a symlink in the image",
                              gp, image, (int)plen, gp);
                break;
            }
            if (!last && t != TYPE_DIR) {
                r = error_set(err, -ENOTDIR, "cannot write '%s' in '%s': '%.*s' is not a directory",
                              gp, image, (int)plen, gp);
                break;
            }
            if (last && t == TYPE_DIR) {
                r = error_set(err, -EISDIR, "cannot write '%s' in '%s': it is a directory", gp,
                              image);
                break;
            }
            if (last && t != TYPE_REG) {
                r = error_set(err, -EEXIST,
                              "cannot write '%s' in '%s': it exists and is not a regular file", gp,
                              image);
                break;
            }
            if (last)
                pl->exists = true;
        }
        if (r < 0)
            break;
        /* Data, extent tree blocks (generous), one more directory block; one inode. */
        uint64_t b = (pl->size + BLOCK - 1) / BLOCK;
        blocks += b + b / 256 + 2;
        inodes++;
        if (blocks > free_blocks || inodes > free_inodes)
            r = error_set(err, -ENOSPC,
                          "no space for '%s' in '%s': %llu blocks and %llu inodes free, "
                          "%llu and %llu needed",
                          gp, image, (unsigned long long)free_blocks,
                          (unsigned long long)free_inodes, (unsigned long long)blocks,
                          (unsigned long long)inodes);
    }
    return r;
}

/* Checks the answers of the `stat` commands v->cmds[base..base + n), one per file. */
static int verify_files(const char *image, const struct oci_ext4_file *files, size_t n,
                        const struct plan *plans, const struct script *v, size_t base,
                        struct error *err) {
    for (size_t f = 0; f < n; f++) {
        size_t i = base + f; /* the command */
        const char *gp = files[f].guest_path;
        if (stat_type(v, i) != TYPE_REG)
            return error_set(err, -EIO, "writing '%s' in '%s' failed: no regular file there", gp,
                             image);
        /* Only the last write of a path that is given twice counts. */
        bool later = false;
        for (size_t j = f + 1; j < n && !later; j++)
            later = !strcmp(files[j].guest_path, gp);
        if (later)
            continue;
        uint64_t mode, uid, gid, size, sectors;
        const char *user = answer_line(v, i, "User:");
        if (!field_u64(answer_line(v, i, "Links:"), "Blockcount:", 10, &sectors))
            return error_set(err, -EIO, "debugfs did not describe '%s' in '%s'", gp, image);
        /* debugfs records the full size even when it ran out of blocks. */
        if (sectors / (BLOCK / 512) < plans[f].data_blocks)
            return error_set(err, -ENOSPC,
                             "writing '%s' in '%s' stopped short: %llu of %llu blocks written "
                             "(no space left?)",
                             gp, image, (unsigned long long)(sectors / (BLOCK / 512)),
                             (unsigned long long)plans[f].data_blocks);
        if (!field_u64(v->lines[v->first[i]], "Mode:", 8, &mode) ||
            !field_u64(user, "User:", 10, &uid) || !field_u64(user, "Group:", 10, &gid) ||
            !field_u64(user, "Size:", 10, &size))
            return error_set(err, -EIO, "debugfs did not describe '%s' in '%s'", gp, image);
        if (mode != files[f].mode || uid != files[f].uid || gid != files[f].gid ||
            size != plans[f].size)
            return error_set(err, -EIO,
                             "writing '%s' in '%s' failed: it has mode %04llo, owner %llu:%llu, "
                             "%llu bytes; %04o, %u:%u, %llu bytes were asked",
                             gp, image, (unsigned long long)mode, (unsigned long long)uid,
                             (unsigned long long)gid, (unsigned long long)size, files[f].mode,
                             files[f].uid, files[f].gid, (unsigned long long)plans[f].size);
    }
    return 0;
}

static void dirs_free(char **dirs, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

int oci_ext4_write_files(const char *image, const struct oci_ext4_file *files, size_t n,
                         const char *work_dir, struct error *err) {
    if (!image || (n > 0 && !files))
        return error_set(err, -EINVAL, "no image or files to write");
    if (n > OCI_EXT4_FILES_MAX)
        return error_set(err, -E2BIG, "%zu files for '%s', at most %d at once", n, image,
                         OCI_EXT4_FILES_MAX);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int r = guest_path_check(files[i].guest_path, err);
        if (r < 0)
            return r;
        if (files[i].mode > 07777)
            return error_set(err, -EINVAL, "mode %o of '%s' has more than permission bits",
                             files[i].mode, files[i].guest_path);
        if (!files[i].host_path && !files[i].data && files[i].len > 0)
            return error_set(err, -EINVAL, "'%s' has neither a host file nor data",
                             files[i].guest_path);
    }

    _cleanup_free_ char *abs_image = NULL;
    int r = image_absolute(image, &abs_image, err);
    if (r < 0)
        return r;
    if (abs_image)
        image = abs_image;
    _cleanup_(stage_remove) struct stage st = {.dir = ""};
    r = stage_make(&st, work_dir, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct plan *plans = xcalloc(n, sizeof(*plans));
    if (!plans)
        return error_oom(err);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/f%zu", st.dir, i);
        if (files[i].host_path) {
            r = stage_copy(files[i].host_path, path, &plans[i].size, err);
        } else {
            r = stage_write(path, files[i].data ? files[i].data : "", files[i].len, err);
            plans[i].size = files[i].len;
        }
        if (r == 0)
            r = count_data_blocks(path, &plans[i].data_blocks, err);
        if (r < 0)
            return error_prefix(err, "staging '%s'", files[i].guest_path);
    }
    fault_point("ext4.write.after-stage");

    /* 1. What is there, and the free space. */
    _cleanup_(script_release) struct script chk = {0};
    r = script_add(&chk, err, "stats -h");
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *gp = files[i].guest_path;
        plans[i].stat_first = chk.n;
        for (const char *c = gp; c && r == 0; c = strchr(c + 1, '/')) {
            const char *next = strchr(c + 1, '/');
            int plen = next ? (int)(next - gp) : (int)strlen(gp);
            r = script_add(&chk, err, "stat %.*s", plen, gp);
            plans[i].ncomp++;
        }
    }
    if (r < 0)
        return r;
    r = script_run(&chk, &st, "check", image, false, err);
    if (r < 0)
        return r;
    char **dirs = NULL;
    size_t ndirs = 0;
    r = check_files(image, files, n, plans, &chk, &dirs, &ndirs, err);

    /* 2. The write. */
    _cleanup_(script_release) struct script w = {0};
    for (size_t i = 0; i < ndirs && r == 0; i++) {
        r = script_add(&w, err, "mkdir %s", dirs[i]);
        if (r == 0)
            r = script_add(&w, err, "sif %s mode 040755", dirs[i]);
        if (r == 0)
            r = script_add(&w, err, "sif %s uid 0", dirs[i]);
        if (r == 0)
            r = script_add(&w, err, "sif %s gid 0", dirs[i]);
    }
    dirs_free(dirs, ndirs);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *gp = files[i].guest_path;
        bool again = false; /* a path given twice is removed before its second write */
        for (size_t j = 0; j < i && !again; j++)
            again = !strcmp(files[j].guest_path, gp);
        if (plans[i].exists || again)
            r = script_add(&w, err, "rm %s", gp);
        if (r == 0)
            r = script_add(&w, err, "write f%zu %s", i, gp);
        if (r == 0)
            r = script_add(&w, err, "sif %s mode 0%o", gp, 0100000u | files[i].mode);
        if (r == 0)
            r = script_add(&w, err, "sif %s uid %u", gp, files[i].uid);
        if (r == 0)
            r = script_add(&w, err, "sif %s gid %u", gp, files[i].gid);
    }
    /* 3. Each file as the same run left it (one debugfs process less per call). */
    size_t vbase = w.n;
    for (size_t i = 0; i < n && r == 0; i++)
        r = script_add(&w, err, "stat %s", files[i].guest_path);
    if (r < 0)
        return r;
    r = script_run(&w, &st, "write", image, true, err);
    if (r < 0)
        return r;
    return verify_files(image, files, n, plans, &w, vbase, err);
}

/* ---- directories ----------------------------------------------------------------- */

int oci_ext4_dir_make(const char *image, const char *guest_path, uint32_t mode, uint32_t uid,
                      uint32_t gid, const char *work_dir, struct error *err) {
    if (!image)
        return error_set(err, -EINVAL, "no image to write");
    int r = guest_path_check(guest_path, err);
    if (r < 0)
        return r;
    if (mode > 07777)
        return error_set(err, -EINVAL, "mode %o of '%s' has more than permission bits", mode,
                         guest_path);
    _cleanup_free_ char *abs_image = NULL;
    r = image_absolute(image, &abs_image, err);
    if (r < 0)
        return r;
    if (abs_image)
        image = abs_image;
    _cleanup_(stage_remove) struct stage st = {.dir = ""};
    r = stage_make(&st, work_dir, err);
    if (r < 0)
        return r;

    /* 1. What is there: every prefix. */
    _cleanup_(script_release) struct script chk = {0};
    size_t ncomp = 0;
    for (const char *c = guest_path; c && r == 0; c = strchr(c + 1, '/')) {
        const char *next = strchr(c + 1, '/');
        int plen = next ? (int)(next - guest_path) : (int)strlen(guest_path);
        r = script_add(&chk, err, "stat %.*s", plen, guest_path);
        ncomp++;
    }
    if (r < 0)
        return r;
    r = script_run(&chk, &st, "check", image, false, err);
    if (r < 0)
        return r;

    /* 2. mkdir what is missing, then mode and owner of the last. */
    _cleanup_(script_release) struct script w = {0};
    bool missing = false;
    const char *c = guest_path;
    for (size_t j = 0; j < ncomp && r == 0; j++) {
        c = strchr(c + 1, '/');
        int plen = c ? (int)(c - guest_path) : (int)strlen(guest_path);
        bool last = j + 1 == ncomp;
        enum inode_type t = stat_type(&chk, j);
        if (t == TYPE_NONE)
            missing = true;
        if (!missing && t == TYPE_LNK)
            return error_set(err, -EPERM,
                             "refusing to make '%s' in '%s': '%.*s' is a symlink in the image",
                             guest_path, image, plen, guest_path);
        if (!missing && t != TYPE_DIR)
            return error_set(err, last ? -EEXIST : -ENOTDIR,
                             "cannot make '%s' in '%s': '%.*s' is not a directory", guest_path,
                             image, plen, guest_path);
        if (missing) {
            r = script_add(&w, err, "mkdir %.*s", plen, guest_path);
            if (r == 0 && !last)
                r = script_add(&w, err, "sif %.*s mode 040755", plen, guest_path);
            if (r == 0 && !last)
                r = script_add(&w, err, "sif %.*s uid 0", plen, guest_path);
            if (r == 0 && !last)
                r = script_add(&w, err, "sif %.*s gid 0", plen, guest_path);
        }
    }
    if (r == 0)
        r = script_add(&w, err, "sif %s mode 0%o", guest_path, 040000u | mode);
    if (r == 0)
        r = script_add(&w, err, "sif %s uid %u", guest_path, uid);
    if (r == 0)
        r = script_add(&w, err, "sif %s gid %u", guest_path, gid);
    if (r == 0)
        r = script_run(&w, &st, "write", image, true, err);
    if (r < 0)
        return r;

    /* 3. Check it. */
    _cleanup_(script_release) struct script v = {0};
    r = script_add(&v, err, "stat %s", guest_path);
    if (r == 0)
        r = script_run(&v, &st, "verify", image, false, err);
    if (r < 0)
        return r;
    uint64_t got_mode, got_uid, got_gid;
    const char *user = answer_line(&v, 0, "User:");
    if (stat_type(&v, 0) != TYPE_DIR || !field_u64(v.lines[v.first[0]], "Mode:", 8, &got_mode) ||
        !field_u64(user, "User:", 10, &got_uid) || !field_u64(user, "Group:", 10, &got_gid))
        return error_set(err, -EIO, "making '%s' in '%s' failed: no directory there", guest_path,
                         image);
    if (got_mode != mode || got_uid != uid || got_gid != gid)
        return error_set(err, -EIO,
                         "making '%s' in '%s' failed: it has mode %04llo, owner %llu:%llu; "
                         "%04o, %u:%u were asked",
                         guest_path, image, (unsigned long long)got_mode,
                         (unsigned long long)got_uid, (unsigned long long)got_gid, mode, uid, gid);
    return 0;
}

/* ---- resolving symlinks inside the image ---------------------------------------- */

#define RESOLVE_HOPS_MAX 40

/* Appends the components of rel to the normalised absolute path in sb ("" is the root). */
static int path_join(struct strbuf *sb, const char *rel) {
    for (const char *c = rel; *c;) {
        while (*c == '/')
            c++;
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        if (len == 0)
            break;
        if (len == 2 && c[0] == '.' && c[1] == '.') {
            char *slash = sb->len ? strrchr(sb->buf, '/') : NULL;
            if (slash) { /* ".." at the root stays at the root */
                sb->len = (size_t)(slash - sb->buf);
                sb->buf[sb->len] = '\0';
            }
        } else if (!(len == 1 && c[0] == '.')) {
            if (strbuf_addc(sb, '/') < 0 || strbuf_add(sb, c, len) < 0)
                return -ENOMEM;
        }
        c += len;
    }
    return 0;
}

int oci_ext4_resolve(const char *image, const char *guest_path, const char *work_dir, char **ret,
                     struct error *err) {
    if (!image)
        return error_set(err, -EINVAL, "no image to read");
    int r = guest_path_check(guest_path, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *abs_image = NULL;
    r = image_absolute(image, &abs_image, err);
    if (r < 0)
        return r;
    if (abs_image)
        image = abs_image;
    _cleanup_(stage_remove) struct stage st = {.dir = ""};
    r = stage_make(&st, work_dir, err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ struct strbuf cur = STRBUF_INIT;
    if (strbuf_adds(&cur, guest_path) < 0)
        return error_oom(err);
    for (int hop = 0;; hop++) {
        if (hop > RESOLVE_HOPS_MAX)
            return error_set(err, -ELOOP, "'%s' in '%s': too many symlinks", guest_path, image);
        r = cur.len ? guest_path_check(cur.buf, err) : 0;
        if (r < 0)
            return error_prefix(err, "resolving '%s' in '%s'", guest_path, image);
        if (!cur.len)
            break;
        _cleanup_(script_release) struct script s = {0};
        size_t ncomp = 0;
        for (const char *c = cur.buf; c && r == 0; c = strchr(c + 1, '/')) {
            const char *next = strchr(c + 1, '/');
            int plen = next ? (int)(next - cur.buf) : (int)strlen(cur.buf);
            r = script_add(&s, err, "stat %.*s", plen, cur.buf);
            ncomp++;
        }
        char sname[32];
        snprintf(sname, sizeof(sname), "resolve%d", hop);
        if (r == 0)
            r = script_run(&s, &st, sname, image, false, err);
        if (r < 0)
            return r;
        size_t j = 0, plen = 0;
        enum inode_type t = TYPE_NONE;
        const char *c = cur.buf;
        for (; j < ncomp; j++) {
            c = strchr(c + 1, '/');
            plen = c ? (size_t)(c - cur.buf) : cur.len;
            t = stat_type(&s, j);
            if (t == TYPE_NONE || t == TYPE_LNK)
                break;
        }
        if (j == ncomp || t == TYPE_NONE)
            break; /* no symlink on the way (a missing part stays as it is) */
        const char *dest = answer_line(&s, j, "Fast link dest: \"");
        const char *q = dest ? strrchr(dest, '"') : NULL;
        dest = dest ? dest + strlen("Fast link dest: \"") : NULL;
        if (!dest || !q || q < dest)
            return error_set(err, -EPERM,
                             "refusing to resolve '%s' in '%s': '%.*s' is a long symlink",
                             guest_path, image, (int)plen, cur.buf);
        _cleanup_free_ char *target = xstrndup(dest, (size_t)(q - dest));
        _cleanup_free_ char *rest = xstrdup(cur.buf + plen);
        _cleanup_strbuf_ struct strbuf next = STRBUF_INIT;
        if (!target || !rest)
            return error_oom(err);
        if (target[0] != '/') { /* relative to the symlink's directory */
            const char *slash = cur.buf;
            for (const char *p = cur.buf; p < cur.buf + plen; p++)
                if (*p == '/')
                    slash = p;
            if (strbuf_add(&next, cur.buf, (size_t)(slash - cur.buf)) < 0)
                return error_oom(err);
        }
        if (path_join(&next, target) < 0 || path_join(&next, rest) < 0)
            return error_oom(err);
        strbuf_release(&cur);
        cur = next;
        next = (struct strbuf)STRBUF_INIT;
    }
    *ret = cur.len ? strbuf_detach(&cur) : xstrdup("/");
    return *ret ? 0 : error_oom(err);
}
