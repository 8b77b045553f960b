/*
 * file driver: cloning one device file into another. A FICLONE reflink where
 * the filesystem shares extents (XFS with reflink, btrfs); else a copy of the
 * data regions only (SEEK_DATA/SEEK_HOLE with copy_file_range, pread/pwrite
 * where that is refused), so the holes of a sparse image stay holes.
 */
#include <errno.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pool/file_priv.h"

#define COPY_CHUNK (1u << 20)

/* Copies [off, end) by hand when copy_file_range cannot. */
static int file_copy_rw(int src, int dst, off_t off, off_t end) {
    _cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
    if (!buf)
        return -ENOMEM;
    while (off < end) {
        size_t want = (size_t)(end - off) < COPY_CHUNK ? (size_t)(end - off) : COPY_CHUNK;
        ssize_t n = pread(src, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(dst, buf + done, (size_t)(n - done), off + done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return w < 0 ? -errno : -EIO;
            done += w;
        }
        off += n;
    }
    return 0;
}

/* Copies the data region [off, end) of src to the same offsets of dst. */
static int file_copy_region(int src, int dst, off_t off, off_t end) {
    while (off < end) {
        loff_t in = off, out = off;
        ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(end - off), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL))
            return file_copy_rw(src, dst, off, end);
        if (n < 0)
            return -errno;
        if (n == 0) /* src shrank under us */
            return -EIO;
        off += n;
    }
    return 0;
}

static int file_copy_sparse(int src, int dst, off_t size) {
    off_t off = 0;
    while (off < size) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return 0; /* only a hole is left */
        if (data < 0)
            return -errno;
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0)
            return -errno;
        if (hole > size)
            hole = size;
        int r = file_copy_region(src, dst, data, hole);
        if (r < 0)
            return r;
        off = hole;
    }
    return 0;
}

int file_reflink(int src, int dst) {
    if (ioctl(dst, FICLONE, src) == 0)
        return 0;
    int e = errno;
    if (e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY || e == ENOSYS)
        return -EOPNOTSUPP;
    return -e;
}

int file_copy(int src, int dst, off_t src_size) {
    return file_copy_sparse(src, dst, src_size);
}

int file_clone(int src, int dst, off_t src_size, bool *ret_reflinked) {
    if (ioctl(dst, FICLONE, src) == 0) {
        *ret_reflinked = true;
        return 0;
    }
    int e = errno;
    if (e != EOPNOTSUPP && e != EXDEV && e != EINVAL && e != ENOTTY && e != ENOSYS)
        return -e;
    *ret_reflinked = false;
    return file_copy_sparse(src, dst, src_size);
}
