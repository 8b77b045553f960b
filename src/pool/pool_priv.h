/*
 * pool internals: the handle, the driver operations table, and the helpers
 * the drivers share (libdevmapper calls, loop devices, the thin metadata
 * reader). Tests include it to reach the metadata reader directly.
 */
#ifndef HEARTH_POOL_PRIV_H
#define HEARTH_POOL_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pool/pool.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

#define POOL_DEVICE_SIZE_MAX (64 * TiB)        /* one device */
#define POOL_DATA_SIZE_MAX (UINT64_C(1) << 60) /* the data of one pool */
#define POOL_INVENTORY_MAX (1u << 20)          /* entries of an inventory list */
#define POOL_DM_NAME_MAX 128                   /* "hearth-<name>-<id>" and friends */

struct pool_ops {
    int (*create)(const struct pool_config *cfg, struct error *err);
    int (*destroy)(const struct pool_config *cfg, struct error *err);
    int (*open)(pool *p, struct error *err);
    int (*disassemble)(pool *p, struct error *err);
    int (*device_create)(pool *p, uint32_t id, uint64_t size, struct error *err);
    int (*device_snapshot)(pool *p, uint32_t id, uint32_t origin, uint64_t size, struct error *err);
    int (*device_remove)(pool *p, uint32_t id, struct error *err);
    int (*device_activate)(pool *p, uint32_t id, uint64_t size, char **ret_path, struct error *err);
    int (*device_deactivate)(pool *p, uint32_t id, struct error *err);
    int (*usage_get)(pool *p, struct pool_usage *ret, struct error *err);
    int (*inventory_get)(pool *p, struct pool_inventory *ret, struct error *err);
    int (*stray_remove)(pool *p, const char *stray, struct error *err);
};

extern const struct pool_ops pool_file_ops;
extern const struct pool_ops pool_thin_ops;

struct pool {
    enum pool_driver driver;
    const struct pool_ops *ops;
    char name[POOL_NAME_MAX + 1];
    uint64_t data_size, metadata_size, allocation_size;
    char *data_path;
    char *metadata_path; /* NULL for the file driver */
    /* file driver: bytes the pool's files use (shared extents counted once),
     * measured at most every FILE_USED_TTL_MS and kept up to date by this
     * handle's own operations in between, so that a run of operations does
     * not rescan the directory each time; -1 until measured */
    int64_t file_used;
    int64_t file_used_at; /* CLOCK_MONOTONIC ms of the measurement */
};

/* ---- inventory lists (pool.c) ------------------------------------------ */

/* Makes room for element n of *arr (elem bytes each); -ENOMEM, -E2BIG. */
int pool_array_grow(void **arr, size_t n, size_t elem) WUR;

int pool_ids_add(uint32_t **ids, size_t *n, uint32_t id) WUR;      /* -ENOMEM, -E2BIG */
int pool_strays_add(char ***strays, size_t *n, const char *s) WUR; /* copies s */
/* Sorts ids ascending. */
void pool_ids_sort(uint32_t *ids, size_t n);
/* Parses a canonical decimal id ("0", "12", never "012") up to POOL_ID_MAX. */
bool pool_id_parse(const char *s, size_t len, uint32_t *ret);

/* ---- libdevmapper (dm.c) ----------------------------------------------- */

/* Sets libdevmapper up for work without udev; call before any other dm_ call. */
void dm_setup(void);
/* Whether the kernel lists target (e.g. "thin-pool"); errors mean no. */
bool dm_target_listed(const char *target);
/* Fills info for name; *exists is false when there is no such device. */
int dm_dev_info(const char *name, bool *exists, uint32_t *major, uint32_t *minor,
                int32_t *open_count, struct error *err) WUR;
/* Creates name with one target and makes its /dev/mapper node. */
int dm_dev_create(const char *name, uint64_t sectors, const char *type, const char *params,
                  struct error *err) WUR;
/* Removes name, retrying briefly while it is busy (-EBUSY then). Missing is fine. */
/* Makes /dev/mapper/<name> when the library did not (-ENODEV: no such device). */
int dm_dev_node_ensure(const char *name, struct error *err) WUR;
int dm_dev_remove(const char *name, struct error *err) WUR;
int dm_dev_suspend(const char *name, struct error *err) WUR;
int dm_dev_resume(const char *name, struct error *err) WUR;
/* Sends a target message to sector 0 of name; the kernel's code on failure. */
int dm_dev_message(const char *name, const char *msg, struct error *err) WUR;
/* The status (or table, when table is true) of name's first target; caller frees. */
int dm_dev_params(const char *name, bool table, char **ret_type, char **ret_params,
                  struct error *err) WUR;
/* The devices name depends on (dev_t values); caller frees *ret. */
int dm_dev_deps(const char *name, dev_t **ret, size_t *ret_n, struct error *err) WUR;
/* Names of all dm devices starting with prefix; caller frees each and the array. */
int dm_dev_list(const char *prefix, char ***ret, size_t *ret_n, struct error *err) WUR;
/* Makes /dev/mapper/control when it is missing and /proc/misc lists device-mapper. */
int dm_control_ensure(struct error *err) WUR;

/* ---- loop devices (loop.c) --------------------------------------------- */

/*
 * Attaches path to a free loop device with autoclear: the loop goes away when
 * its last user closes it. Returns an open fd of the loop (keep it open until
 * the loop has a user) and its dev_t.
 */
int loop_attach(const char *path, int *ret_fd, dev_t *ret_dev, struct error *err) WUR;
/* Loop devices ("/dev/loopN") whose backing file is the inode dev/ino. */
int loop_find(dev_t fs_dev, ino_t ino, char ***ret, dev_t **ret_devs, size_t *ret_n,
              struct error *err) WUR;
/* Detaches a loop device ("/dev/loopN"). A detached one is fine. */
int loop_detach(const char *path, struct error *err) WUR;
/* "/dev/<name>" for a block device number, from sysfs; caller frees. */
int blockdev_path(dev_t dev, char **ret, struct error *err) WUR;

/* ---- thin metadata (thin_meta.c) --------------------------------------- */

#define THIN_META_BLOCK 4096

/*
 * Reads the thin ids from the device-details btree of the metadata snapshot
 * held in the superblock (after `reserve_metadata_snap`), or of the current
 * roots when use_held is false (for a metadata device nobody writes). fd is
 * read with pread at 4 KiB block offsets; checksums and block numbers are
 * verified. Caller frees *ret.
 */
int thin_meta_read_ids(int fd, bool use_held, uint32_t **ret, size_t *ret_n, struct error *err) WUR;

/*
 * Writes the checksum a metadata block carries (its first 4 bytes): crc32c
 * of the rest, xor-ed with the superblock's constant when superblock is
 * true, else the btree nodes'. For tests that build or alter metadata.
 */
void thin_meta_block_seal(uint8_t block[THIN_META_BLOCK], bool superblock);

#endif
