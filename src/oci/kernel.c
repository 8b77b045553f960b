/*
 * Kernels: telling an ELF vmlinux from an x86 bzImage and reading its
 * version, extracting the ELF from a bzImage (Firecracker boots only the
 * ELF), and finding the kernel, initrd and modules in an unpacked image.
 *
 * The version comes from the image itself: a bzImage's setup header points
 * (kernel_version at 0x20E, plus 0x200) at the string the kernel prints,
 * "6.1.0-56-amd64 (debian-kernel@...) #1 SMP ...", and an ELF holds the
 * "Linux version 6.1.0-56-amd64 ..." banner. Extraction does what the
 * kernel's scripts/extract-vmlinux does: look for the magic of each
 * compressor the kernel supports, decompress from there (libarchive's raw
 * format with every filter), and keep the first result that is a complete
 * ELF.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/unpack_priv.h"

#define KERNEL_FILE_MAX (256u << 20) /* bytes of a kernel image we read */
#define VMLINUX_MAX (1024u << 20)    /* bytes of an extracted vmlinux */
#define VERSION_MAX 64               /* bytes of a version string */
#define BANNER "Linux version "

static bool version_char_ok(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '-' || c == '_' || c == '+' || c == '~';
}

/* The first word of s (up to n bytes), if it looks like a kernel release. */
static char *version_from(const char *s, size_t n) {
    size_t len = 0;
    while (len < n && len <= VERSION_MAX && version_char_ok(s[len]))
        len++;
    if (len == 0 || len > VERSION_MAX || s[0] < '0' || s[0] > '9')
        return NULL;
    if (len < n && s[len] != ' ' && s[len] != '\0')
        return NULL;
    return xstrndup(s, len);
}

static int read_full_at(int fd, void *buf, size_t size, off_t off, size_t *ret) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, (char *)buf + got, size - got, off + (off_t)got);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            return e > 0 ? -e : -EIO; /* never 0: *ret is not set */
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    *ret = got;
    return 0;
}

static bool is_bzimage(const unsigned char *h, size_t n) {
    return n >= 0x210 && !memcmp(h + 0x202, "HdrS", 4) && (h[0x206] | h[0x207] << 8) >= 0x200;
}

static bool is_elf(const unsigned char *h, size_t n) {
    return n >= 4 && h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F';
}

/* Finds the "Linux version X" banner in fd, reading it in chunks. */
static int banner_find(int fd, char **ret) {
    enum { CHUNK = 1 << 20, OVERLAP = 128 };
    _cleanup_free_ char *buf = xmalloc(CHUNK + OVERLAP);
    if (!buf)
        return -ENOMEM;
    off_t off = 0;
    size_t keep = 0;
    for (;;) {
        size_t got;
        int r = read_full_at(fd, buf + keep, CHUNK, off, &got);
        if (r < 0)
            return r;
        size_t len = keep + got;
        const char *p = buf;
        while ((p = memmem(p, len - (size_t)(p - buf), BANNER, strlen(BANNER)))) {
            size_t at = (size_t)(p - buf) + strlen(BANNER);
            if (len - at < VERSION_MAX + 2 && got == CHUNK)
                break; /* too close to the end: look again with the next chunk */
            char *v = version_from(buf + at, len - at);
            if (v) {
                *ret = v;
                return 0;
            }
            p++;
        }
        if (got < CHUNK)
            return -ENOENT;
        off += (off_t)got;
        keep = len < OVERLAP ? len : OVERLAP;
        memmove(buf, buf + len - keep, keep);
    }
}

int oci_kernel_identify(const char *path, enum oci_kernel_format *ret_format, char **ret_version,
                        struct error *err) {
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open kernel '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_set(err, -errno, "cannot stat kernel '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return error_set(err, -EINVAL, "kernel '%s' is not a regular file", path);
    unsigned char head[0x400];
    size_t n;
    int r = read_full_at(fd, head, sizeof(head), 0, &n);
    if (r < 0)
        return error_set(err, r, "cannot read kernel '%s': %s", path, strerror(-r));

    enum oci_kernel_format format;
    char *version = NULL;
    if (is_elf(head, n)) {
        format = OCI_KERNEL_ELF;
        r = banner_find(fd, &version);
        if (r == -ENOMEM)
            return error_set(err, r, "out of memory");
        if (r < 0)
            return error_set(err, -EINVAL, "kernel '%s' is an ELF without a Linux version banner",
                             path);
    } else if (is_bzimage(head, n)) {
        format = OCI_KERNEL_BZIMAGE;
        unsigned ptr = head[0x20E] | head[0x20F] << 8;
        char s[VERSION_MAX + 2];
        size_t got = 0;
        if (ptr == 0 || read_full_at(fd, s, sizeof(s), (off_t)ptr + 0x200, &got) < 0 ||
            !(version = version_from(s, got)))
            return error_set(err, -EINVAL, "bzImage '%s' has no readable version string", path);
    } else {
        return error_set(err, -EINVAL, "'%s' is neither an ELF vmlinux nor a bzImage", path);
    }
    if (!version)
        return error_oom(err);
    *ret_format = format;
    *ret_version = version;
    return 0;
}

/* ---- extraction ------------------------------------------------------------ */

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* True if buf holds a whole ELF: its program and section headers and their data are inside. */
static bool elf_complete(const unsigned char *b, size_t n) {
    if (n < 64 || !is_elf(b, n) || b[5] != 1) /* little-endian only (x86) */
        return false;
    bool is64 = b[4] == 2;
    uint64_t phoff = is64 ? le(b + 0x20, 8) : le(b + 0x1C, 4);
    uint64_t shoff = is64 ? le(b + 0x28, 8) : le(b + 0x20, 4);
    uint64_t phentsize = le(b + (is64 ? 0x36 : 0x2A), 2), phnum = le(b + (is64 ? 0x38 : 0x2C), 2);
    uint64_t shentsize = le(b + (is64 ? 0x3A : 0x2E), 2), shnum = le(b + (is64 ? 0x3C : 0x30), 2);
    if (phnum == 0 || phentsize < (is64 ? 56u : 32u) || phoff > n || phnum * phentsize > n - phoff)
        return false;
    if (shnum && (shoff > n || shnum * shentsize > n - shoff))
        return false;
    for (uint64_t i = 0; i < phnum; i++) {
        const unsigned char *ph = b + phoff + i * phentsize;
        uint64_t off = is64 ? le(ph + 0x08, 8) : le(ph + 0x04, 4);
        uint64_t filesz = is64 ? le(ph + 0x20, 8) : le(ph + 0x10, 4);
        if (off > n || filesz > n - off)
            return false;
    }
    return true;
}

static void archive_read_freep(struct archive **a) {
    if (*a)
        archive_read_free(*a);
}

/* Decompresses data (whatever compressor libarchive recognises at its start) into out. */
static int try_decompress(const unsigned char *data, size_t n, struct strbuf *out) {
    _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
    if (!a)
        return -ENOMEM;
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    if (archive_read_open_memory(a, data, n) != ARCHIVE_OK)
        return -EINVAL;
    if (archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE)
        return -EINVAL; /* nothing to decompress: raw would hand the bytes back */
    struct archive_entry *e;
    if (archive_read_next_header(a, &e) != ARCHIVE_OK)
        return -EINVAL;
    char buf[1 << 16];
    for (;;) {
        la_ssize_t got = archive_read_data(a, buf, sizeof(buf));
        if (got == 0)
            break;
        if (got < 0)
            break; /* trailing bytes after the stream: keep what came out */
        if (out->len + (size_t)got > VMLINUX_MAX)
            return -EFBIG;
        int r = strbuf_add(out, buf, (size_t)got);
        if (r < 0)
            return r;
        if (out->len >= 4 && !is_elf((const unsigned char *)out->buf, out->len))
            return -EINVAL; /* decompresses, but not to an ELF: stop early */
    }
    return 0;
}

struct magic {
    const char *name;
    const unsigned char *bytes;
    size_t len;
};

static int write_atomic(const char *out, const void *data, size_t n, struct error *err) {
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", out);
    if (!tmp)
        return error_oom(err);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
    int r = 0;
    const char *p = data;
    size_t left = n;
    while (left > 0 && r == 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno != EINTR)
            r = -errno;
        else if (w > 0) {
            p += w;
            left -= (size_t)w;
        }
    }
    if (r == 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0))
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, out) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return error_set(err, r, "cannot write '%s': %s", out, strerror(-r));
    }
    return 0;
}

int oci_kernel_extract_vmlinux(const char *bzimage, const char *out, struct error *err) {
    static const unsigned char gz[] = {0x1f, 0x8b, 0x08};
    static const unsigned char xz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
    static const unsigned char bz[] = {'B', 'Z', 'h'};
    static const unsigned char lzma[] = {0x5d, 0x00, 0x00, 0x00};
    static const unsigned char lzo[] = {0x89, 'L', 'Z', 'O'};
    static const unsigned char lz4[] = {0x02, 0x21, 0x4c, 0x18};
    static const unsigned char zstd[] = {0x28, 0xb5, 0x2f, 0xfd};
    const struct magic magics[] = {
        {"gzip", gz, sizeof(gz)},     {"xz", xz, sizeof(xz)},    {"bzip2", bz, sizeof(bz)},
        {"lzma", lzma, sizeof(lzma)}, {"lzo", lzo, sizeof(lzo)}, {"lz4", lz4, sizeof(lz4)},
        {"zstd", zstd, sizeof(zstd)},
    };

    _cleanup_strbuf_ struct strbuf img = STRBUF_INIT;
    int r = strbuf_read_file(&img, bzimage, KERNEL_FILE_MAX, err);
    if (r < 0)
        return r;
    const unsigned char *b = (const unsigned char *)img.buf;
    if (!is_bzimage(b, img.len))
        return error_set(err, -ENOEXEC, "'%s' is not a bzImage", bzimage);

    /* Every compressor's magic, in file order, as extract-vmlinux tries them. */
    for (size_t off = 0; off + 4 <= img.len; off++) {
        for (size_t m = 0; m < ARRAY_SIZE(magics); m++) {
            if (off + magics[m].len > img.len || memcmp(b + off, magics[m].bytes, magics[m].len))
                continue;
            _cleanup_strbuf_ struct strbuf elf = STRBUF_INIT;
            r = try_decompress(b + off, img.len - off, &elf);
            if (r == -ENOMEM) /* also when libarchive cannot be loaded */
                return lazylib_archive_error(err);
            if (r < 0 || !elf_complete((const unsigned char *)elf.buf, elf.len))
                continue;
            log_debug("kernel '%s': %s payload at offset %zu, %zu bytes", bzimage, magics[m].name,
                      off, elf.len);
            return write_atomic(out, elf.buf, elf.len, err);
        }
    }
    return error_set(err, -ENOEXEC,
                     "no compressed ELF found in bzImage '%s'; boot it with qemu, which takes the "
                     "bzImage itself",
                     bzimage);
}

/* ---- finding a kernel in an image ---------------------------------------- */

static void closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}

static bool regular_at(int dfd, const char *name) {
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

void oci_kernel_files_release(struct oci_kernel_files *k) {
    if (!k)
        return;
    free(k->kernel);
    free(k->initrd);
    free(k->modules);
    *k = (struct oci_kernel_files){0};
}

/* The newest (by version order) regular file in boot whose name starts with prefix. */
static int newest_with_prefix(int boot_fd, const char *prefix, char **ret) {
    int fd = openat(boot_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    _cleanup_(closedirp) DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -ENOMEM;
    }
    _cleanup_free_ char *best = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!str_starts_with(de->d_name, prefix) || !regular_at(boot_fd, de->d_name))
            continue;
        if (best && strverscmp(de->d_name, best) <= 0)
            continue;
        free(best);
        if (!(best = xstrdup(de->d_name)))
            return -ENOMEM;
    }
    *ret = steal_ptr(&best);
    return 0;
}

int oci_kernel_find(const char *dir, struct oci_kernel_files *ret, struct error *err) {
    _cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return error_set(err, -errno, "cannot open '%s': %s", dir, strerror(errno));
    _cleanup_(oci_kernel_files_release) struct oci_kernel_files k = {0};
    /* Only real directories and files: a symlink could lead the caller out of the tree. */
    _cleanup_close_ int boot = unpack_open_in_root(root, "boot", INROOT_NO_SYMLINKS, NULL, NULL);
    if (boot >= 0) {
        _cleanup_free_ char *kname = NULL, *iname = NULL;
        if (regular_at(boot, "vmlinux")) {
            kname = xstrdup("vmlinux");
            if (!kname)
                return error_oom(err);
        } else if (newest_with_prefix(boot, "vmlinuz-", &kname) < 0) {
            return error_set(err, -ENOMEM, "cannot read '%s/boot'", dir);
        }
        /* The initrd of that kernel's version, else the newest one. */
        if (kname && str_starts_with(kname, "vmlinuz-")) {
            _cleanup_free_ char *match = xasprintf("initrd.img-%s", kname + strlen("vmlinuz-"));
            if (!match)
                return error_oom(err);
            if (regular_at(boot, match))
                iname = steal_ptr(&match);
        }
        if (!iname && newest_with_prefix(boot, "initrd.img", &iname) < 0)
            return error_set(err, -ENOMEM, "cannot read '%s/boot'", dir);
        if (!iname && newest_with_prefix(boot, "initrd", &iname) < 0)
            return error_set(err, -ENOMEM, "cannot read '%s/boot'", dir);
        if (kname && !(k.kernel = xasprintf("boot/%s", kname)))
            return error_oom(err);
        if (iname && !(k.initrd = xasprintf("boot/%s", iname)))
            return error_oom(err);
    }
    static const char *const module_dirs[] = {"lib/modules", "usr/lib/modules"};
    for (size_t i = 0; i < ARRAY_SIZE(module_dirs) && !k.modules; i++) {
        int fd = unpack_open_in_root(root, module_dirs[i], INROOT_NO_SYMLINKS, NULL, NULL);
        if (fd < 0)
            continue;
        close(fd);
        if (!(k.modules = xstrdup(module_dirs[i])))
            return error_oom(err);
    }
    *ret = k;
    k = (struct oci_kernel_files){0};
    return 0;
}
