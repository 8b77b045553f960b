/*
 * Fuzz target: the dm-thin metadata reader (src/pool/thin_meta.c), which
 * walks a pool's metadata device (or its held snapshot) to list the thin
 * ids. The input is a metadata image, 4 KiB blocks from block 0; before it
 * is read, every whole block gets the checksum it needs (a superblock's
 * when it carries the superblock magic, else a btree node's), so that the
 * fuzzer reaches what lies behind the checksums; the checksum check itself
 * is tested in tests/pool. The image is read from a memfd, live roots and
 * held snapshot both. The ids read are distinct, sorted, and 24-bit.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "pool/pool_priv.h"

#define SB_MAGIC UINT64_C(27022010)

static uint64_t le64(const uint8_t *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void read_ids(int fd, bool use_held) {
    uint32_t *ids = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    int r = thin_meta_read_ids(fd, use_held, &ids, &n, &err);
    fuzz_check(r == 0 || err.msg[0], "thin_meta_read_ids returned %d without a message", r);
    if (r < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        fuzz_check(ids[i] <= POOL_ID_MAX, "id %u", ids[i]);
        fuzz_check(i == 0 || ids[i - 1] < ids[i], "ids %u, %u out of order", ids[i - 1], ids[i]);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *image = malloc(size ? size : 1);
    fuzz_check(image, "out of memory");
    memcpy(image, data, size);
    for (size_t off = 0; off + THIN_META_BLOCK <= size; off += THIN_META_BLOCK)
        thin_meta_block_seal(image + off, le64(image + off + 32) == SB_MAGIC);
    int fd = memfd_create("thin-meta", MFD_CLOEXEC);
    fuzz_check(fd >= 0, "memfd");
    fuzz_check(size == 0 || write(fd, image, size) == (ssize_t)size, "write");
    read_ids(fd, false);
    read_ids(fd, true);
    close(fd);
    free(image);
    return 0;
}
