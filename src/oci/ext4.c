/*
 * Building an ext4 filesystem from an unpacked root with `mke2fs -d`, which
 * needs no mount. oci_ext4_size_for estimates what the content needs in
 * 4 KiB blocks (data, directory blocks, inode tables, extent and symlink
 * blocks, the journal mke2fs will add) and puts headroom on top, so that the
 * filesystem always fits and a guest has some room to write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/unpack_priv.h"

#define BLOCK 4096ull
#define INODE_SIZE 256ull
#define MIB (1ull << 20)
#define LABEL_MAX 16 /* bytes of an ext4 volume label */

struct tree_usage {
    uint64_t blocks; /* data, directory, extent and symlink blocks */
    uint64_t inodes;
};

static uint64_t div_up(uint64_t a, uint64_t b) {
    return (a + b - 1) / b;
}

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

/*
 * Blocks the xattrs of name need: none when they fit in the inode's spare
 * space (about 100 bytes of a 256-byte inode), else one.
 */
static uint64_t xattr_blocks(int dfd, const char *name) {
    char proc[64 + NAME_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dfd, name);
    char list[4096];
    ssize_t n = llistxattr(proc, list, sizeof(list));
    if (n == 0 || (n < 0 && errno != ERANGE))
        return 0;
    if (n < 0)
        return 1;
    uint64_t bytes = 0;
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1) {
        ssize_t v = lgetxattr(proc, list + off, NULL, 0);
        bytes += strlen(list + off) + 20 + (v > 0 ? (uint64_t)v : 0);
    }
    return bytes > 96 ? 1 : 0;
}

/* Adds what the directory open as fd holds (the fd is taken over). */
static int tree_measure(int fd, const char *path, int depth, struct tree_usage *u,
                        struct error *err) {
    if (depth > 4 * OCI_DEPTH_MAX) {
        close(fd);
        return error_set(err, -ELOOP, "'%s' is nested too deeply", path);
    }
    _cleanup_(closedirp) DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return error_set(err, r, "cannot read '%s': %s", path, strerror(-r));
    }
    uint64_t dirent_bytes = 24; /* "." and ".." */
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                return error_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        size_t nlen = strlen(de->d_name);
        dirent_bytes += (8 + nlen + 3) & ~3ull;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return error_set(err, -errno, "cannot stat '%s/%s': %s", path, de->d_name,
                             strerror(errno));
        /* Hard-linked files count once per link: an over-estimate, never an under-one. */
        u->inodes++;
        u->blocks += xattr_blocks(dirfd(d), de->d_name);
        if (S_ISREG(st.st_mode)) {
            uint64_t b = div_up((uint64_t)st.st_size, BLOCK);
            /*
             * Four extents fit in the inode; past that, one tree block per
             * ~340 extents. Assume extents of 32 MiB (8192 blocks): generous.
             */
            u->blocks += b + b / 8192;
        } else if (S_ISLNK(st.st_mode)) {
            if (st.st_size >= 60)
                u->blocks++;
        } else if (S_ISDIR(st.st_mode)) {
            int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                return error_set(err, -errno, "cannot open '%s/%s': %s", path, de->d_name,
                                 strerror(errno));
            char child[OCI_PATH_MAX];
            snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
            int r = tree_measure(cfd, child, depth + 1, u, err);
            if (r < 0)
                return r;
        }
    }
    /* Directory blocks, with slack for the hash tree of large directories. */
    u->blocks += div_up(dirent_bytes * 5 / 4, BLOCK);
    return 0;
}

static int tree_usage_get(const char *dir, struct tree_usage *ret, struct error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", dir, strerror(errno));
    struct tree_usage u = {.blocks = 0, .inodes = 1};
    int r = tree_measure(fd, dir, 0, &u, err);
    if (r < 0)
        return r;
    *ret = u;
    return 0;
}

/* The inodes mke2fs is asked for: the content's plus room for the guest. */
static uint64_t inodes_for(const struct tree_usage *u) {
    uint64_t n = u->inodes + u->inodes / 4 + 4096;
    return n;
}

/* The journal mke2fs puts on a filesystem of this many blocks (ext2fs_default_journal_size). */
static uint64_t journal_blocks(uint64_t blocks) {
    if (blocks < 2048)
        return 0;
    if (blocks < 32768)
        return 1024;
    if (blocks < 256 * 1024)
        return 4096;
    if (blocks < 512 * 1024)
        return 8192;
    if (blocks < 4096 * 1024)
        return 16384;
    if (blocks < 8192 * 1024)
        return 32768;
    if (blocks < 16384 * 1024)
        return 65536;
    if (blocks < 32768 * 1024)
        return 131072;
    return 262144;
}

int oci_ext4_size_for(const char *dir, uint64_t *ret, struct error *err) {
    struct tree_usage u;
    int r = tree_usage_get(dir, &u, err);
    if (r < 0)
        return r;
    uint64_t content = u.blocks * BLOCK + inodes_for(&u) * INODE_SIZE;
    /* Group descriptors, bitmaps, reserved GDT blocks and the 5% reserved: about 10%. */
    uint64_t size = content + content / 5 + 32 * MIB;
    /* The journal is sized from the total, so add it for the size it will see. */
    size += journal_blocks(div_up(size, BLOCK) * 2) * BLOCK;
    size = div_up(size, MIB) * MIB;
    *ret = size;
    return 0;
}

static bool label_is_valid(const char *label) {
    size_t n = strlen(label);
    if (n == 0 || n > LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
            return false;
    return true;
}

int oci_ext4_build(const char *dir, const char *target, uint64_t size, const char *label,
                   struct error *err) {
    if (size < 8 * MIB || size % BLOCK)
        return error_set(err, -EINVAL,
                         "ext4 size %llu is not a multiple of 4 KiB of at least 8 MiB",
                         (unsigned long long)size);
    if (label && !label_is_valid(label))
        return error_set(err, -EINVAL, "ext4 label '%s' must be 1 to %d printable bytes", label,
                         LABEL_MAX);
    struct tree_usage u;
    int r = tree_usage_get(dir, &u, err);
    if (r < 0)
        return r;

    /* A block device must be big enough; a regular file is made exactly size bytes. */
    {
        _cleanup_close_ int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            return error_set(err, -errno, "cannot open '%s': %s", target, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
            uint64_t bytes = 0;
            if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
                return error_set(err, -errno, "cannot size '%s': %s", target, strerror(errno));
            if (bytes < size)
                return error_set(err, -ENOSPC, "device '%s' holds %llu bytes, %llu needed", target,
                                 (unsigned long long)bytes, (unsigned long long)size);
        } else if (S_ISREG(st.st_mode)) {
            if ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) < 0)
                return error_set(err, -errno, "cannot size '%s': %s", target, strerror(errno));
        } else {
            return error_set(err, -EINVAL, "'%s' is neither a block device nor a file", target);
        }
    }

    char blocks[32], inodes[32];
    snprintf(blocks, sizeof(blocks), "%llu", (unsigned long long)(size / BLOCK));
    uint64_t want = inodes_for(&u);
    uint64_t floor = size / 16384; /* mke2fs's usual ratio, so a guest keeps room for files */
    snprintf(inodes, sizeof(inodes), "%llu", (unsigned long long)(want > floor ? want : floor));
    const char *argv[] = {"mke2fs",
                          "-F",
                          "-q",
                          "-t",
                          "ext4",
                          "-b",
                          "4096",
                          "-L",
                          label ? label : "hearth",
                          "-N",
                          inodes,
                          "-E",
                          "root_owner=0:0",
                          "-d",
                          dir,
                          target,
                          blocks,
                          NULL};
    r = exec_run(argv, &(struct exec_opts){.timeout_ms = 30 * 60 * 1000}, err);
    if (r < 0) {
        error_prefix(err, "building ext4 '%s' from '%s'", target, dir);
        return r;
    }
    return 0;
}
