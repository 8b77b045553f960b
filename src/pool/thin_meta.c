/*
 * dm-thin: a reader for the thin pool's on-disk metadata, enough to list the
 * thin ids. The kernel has no message that lists them, so the driver takes a
 * metadata snapshot (`reserve_metadata_snap`), and this file follows the
 * superblock's held root to the snapshot's device-details btree and collects
 * its keys.
 *
 * Format (persistent-data, all little endian, 4 KiB blocks): the superblock
 * in block 0 carries magic 27022010, held_root at byte 56 and
 * device_details_root at byte 328. A btree node starts with a 32-byte header
 * (csum, flags 1=internal 2=leaf, blocknr, nr_entries, max_entries,
 * value_size), then max_entries le64 keys, then the values; an internal
 * node's values are le64 child block numbers. Checksums are crc32c over the
 * block after the csum field, xor-ed with a per-type constant.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "pool/pool_priv.h"

#define SB_MAGIC UINT64_C(27022010)
#define SB_CSUM_XOR 160774u
#define NODE_CSUM_XOR 121107u
#define SB_OFF_MAGIC 32
#define SB_OFF_HELD_ROOT 56
#define SB_OFF_DETAILS_ROOT 328
#define SB_OFF_NR_BLOCKS 344
#define NODE_HEADER 32
#define NODE_INTERNAL 1u
#define NODE_LEAF 2u
#define BTREE_DEPTH_MAX 16

struct meta_reader {
    int fd;
    uint64_t nr_blocks; /* from the superblock: bounds every block number */
    uint8_t *block;     /* THIN_META_BLOCK bytes, aligned for O_DIRECT */
    uint64_t visited;   /* nodes read: bounds the walk on a corrupt tree */
    int64_t last_key;   /* the last leaf key seen: keys must come in ascending order */
    uint32_t *ids;
    size_t n_ids;
};

static uint32_t le32_at(const uint8_t *b, size_t off) {
    return (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 |
           (uint32_t)b[off + 3] << 24;
}

static uint64_t le64_at(const uint8_t *b, size_t off) {
    return (uint64_t)le32_at(b, off) | (uint64_t)le32_at(b, off + 4) << 32;
}

/* crc32c (Castagnoli) without the final inversion, as the kernel's crc32c(). */
static uint32_t crc32c_raw(uint32_t crc, const uint8_t *p, size_t n) {
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

static bool meta_csum_ok(const uint8_t *b, uint32_t xor_value) {
    uint32_t want = crc32c_raw(0xFFFFFFFFu, b + 4, THIN_META_BLOCK - 4) ^ xor_value;
    return le32_at(b, 0) == want;
}

void thin_meta_block_seal(uint8_t block[THIN_META_BLOCK], bool superblock) {
    uint32_t c = crc32c_raw(0xFFFFFFFFu, block + 4, THIN_META_BLOCK - 4) ^
                 (superblock ? SB_CSUM_XOR : NODE_CSUM_XOR);
    for (int i = 0; i < 4; i++)
        block[i] = (uint8_t)(c >> (8 * i));
}

static int meta_read(struct meta_reader *m, uint64_t blocknr, struct error *err) {
    if (m->nr_blocks && blocknr >= m->nr_blocks)
        return error_set(err, -EUCLEAN, "thin metadata points past its end (block %" PRIu64 ")",
                         blocknr);
    off_t off = (off_t)(blocknr * THIN_META_BLOCK);
    for (size_t done = 0; done < THIN_META_BLOCK;) {
        ssize_t n = pread(m->fd, m->block + done, THIN_META_BLOCK - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return error_set(err, n < 0 ? -errno : -EIO,
                             "cannot read thin metadata block %" PRIu64 ": %s", blocknr,
                             n < 0 ? strerror(errno) : "short read");
        done += (size_t)n;
    }
    return 0;
}

/* Reads a superblock (block 0 or a held copy) and checks it. */
static int meta_superblock(struct meta_reader *m, uint64_t blocknr, struct error *err) {
    int r = meta_read(m, blocknr, err);
    if (r < 0)
        return r;
    if (le64_at(m->block, SB_OFF_MAGIC) != SB_MAGIC)
        return error_set(err, -EUCLEAN, "thin metadata block %" PRIu64 " is no superblock",
                         blocknr);
    if (!meta_csum_ok(m->block, SB_CSUM_XOR) || le64_at(m->block, 8) != blocknr)
        return error_set(err, -EUCLEAN, "thin metadata superblock %" PRIu64 " is corrupt", blocknr);
    return 0;
}

static int meta_node_check(const struct meta_reader *m, uint64_t blocknr, struct error *err) {
    const uint8_t *b = m->block;
    uint32_t flags = le32_at(b, 4), nr = le32_at(b, 16), max = le32_at(b, 20),
             vsize = le32_at(b, 24);
    bool shape_ok = (flags == NODE_INTERNAL || flags == NODE_LEAF) && nr <= max && vsize > 0 &&
                    vsize <= THIN_META_BLOCK && (flags == NODE_LEAF || vsize == 8) &&
                    (uint64_t)max * (8 + vsize) <= THIN_META_BLOCK - NODE_HEADER;
    if (!shape_ok || le64_at(b, 8) != blocknr || !meta_csum_ok(b, NODE_CSUM_XOR))
        return error_set(err, -EUCLEAN, "thin metadata btree node %" PRIu64 " is corrupt", blocknr);
    return 0;
}

static int meta_walk(struct meta_reader *m, uint64_t blocknr, int depth, struct error *err);

static int meta_walk_children(struct meta_reader *m, uint64_t blocknr, int depth,
                              struct error *err) {
    uint32_t nr = le32_at(m->block, 16), max = le32_at(m->block, 20);
    _cleanup_free_ uint64_t *children = xcalloc(nr ? nr : 1, sizeof(*children));
    if (!children)
        return error_oom(err);
    for (uint32_t i = 0; i < nr; i++)
        children[i] = le64_at(m->block, NODE_HEADER + 8 * (size_t)max + 8 * (size_t)i);
    for (uint32_t i = 0; i < nr; i++) {
        if (children[i] == blocknr)
            return error_set(err, -EUCLEAN, "thin metadata btree node %" PRIu64 " loops", blocknr);
        int r = meta_walk(m, children[i], depth + 1, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int meta_walk(struct meta_reader *m, uint64_t blocknr, int depth, struct error *err) {
    if (depth > BTREE_DEPTH_MAX || ++m->visited > m->nr_blocks)
        return error_set(err, -EUCLEAN, "thin metadata btree is too deep or loops");
    int r = meta_read(m, blocknr, err);
    if (r < 0 || (r = meta_node_check(m, blocknr, err)) < 0)
        return r;
    if (le32_at(m->block, 4) == NODE_INTERNAL)
        return meta_walk_children(m, blocknr, depth, err);
    uint32_t nr = le32_at(m->block, 16);
    for (uint32_t i = 0; i < nr; i++) {
        uint64_t key = le64_at(m->block, NODE_HEADER + 8 * (size_t)i);
        if (key > POOL_ID_MAX)
            return error_set(err, -EUCLEAN,
                             "thin metadata names device %" PRIu64 ", which is not 24-bit", key);
        /* A btree walked in order gives ascending keys; a repeated or
         * smaller one is a corrupt tree (or one node reached twice). */
        if ((int64_t)key <= m->last_key)
            return error_set(err, -EUCLEAN,
                             "thin metadata btree node %" PRIu64 " has device %" PRIu64
                             " out of order",
                             blocknr, key);
        m->last_key = (int64_t)key;
        if ((r = pool_ids_add(&m->ids, &m->n_ids, (uint32_t)key)) < 0)
            return error_set(err, r, "too many thin devices");
    }
    return 0;
}

/* The device-details root of the held snapshot, or of the live superblock. */
static int meta_details_root(struct meta_reader *m, bool use_held, uint64_t *ret,
                             struct error *err) {
    int r = meta_superblock(m, 0, err);
    if (r < 0)
        return r;
    m->nr_blocks = le64_at(m->block, SB_OFF_NR_BLOCKS);
    if (m->nr_blocks == 0 || m->nr_blocks > (UINT64_C(1) << 32))
        return error_set(err, -EUCLEAN, "thin metadata superblock has a bad size");
    if (use_held) {
        uint64_t held = le64_at(m->block, SB_OFF_HELD_ROOT);
        if (held == 0)
            return error_set(err, -ENOENT, "thin metadata holds no snapshot");
        if ((r = meta_superblock(m, held, err)) < 0)
            return r;
    }
    *ret = le64_at(m->block, SB_OFF_DETAILS_ROOT);
    return 0;
}

int thin_meta_read_ids(int fd, bool use_held, uint32_t **ret, size_t *ret_n, struct error *err) {
    struct meta_reader m = {.fd = fd, .last_key = -1};
    void *block = NULL;
    if (posix_memalign(&block, THIN_META_BLOCK, THIN_META_BLOCK) != 0)
        return error_oom(err);
    m.block = block;
    uint64_t root = 0;
    int r = meta_details_root(&m, use_held, &root, err);
    if (r >= 0)
        r = meta_walk(&m, root, 0, err);
    free(block);
    if (r < 0) {
        free(m.ids);
        return r;
    }
    pool_ids_sort(m.ids, m.n_ids);
    *ret = m.ids;
    *ret_n = m.n_ids;
    return 0;
}
