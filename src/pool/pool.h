/*
 * pool: the storage pool's drivers behind one interface.
 *
 * A pool holds numbered devices (24-bit ids, allocated by the engine in the
 * database) that form the chain Image -> Resize -> Kernel -> VM. Two drivers:
 *
 * - dm-thin: a thin-pool target, through libdevmapper (no dmsetup), over
 *   loop devices attached to sparse metadata and data files (or over block
 *   devices when the paths name block devices). Devices are thin volumes,
 *   snapshots are thin snapshots, both created by pool messages; a device is
 *   activated on demand as /dev/mapper/hearth-<name>-<id>. The pool target is
 *   /dev/mapper/hearth-<name>-pool.
 * - file: every device is a sparse file `<dataPath>/<id>.img`; a snapshot is a
 *   FICLONE reflink where the filesystem supports it, else a copy that keeps
 *   the holes. Needs no root and no device-mapper.
 *
 * Every device operation is idempotent: doing it twice, or finding it already
 * done, succeeds, so that the engine can redo a step after a crash. This
 * module knows nothing of the database; the engine decides ids and records
 * intent before calling here.
 */
#ifndef HEARTH_POOL_H
#define HEARTH_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "util/util.h"

#define POOL_ID_MAX ((1u << 24) - 1) /* thin ids are 24-bit */
#define POOL_NAME_MAX 16

enum pool_driver { POOL_DRIVER_FILE, POOL_DRIVER_DM_THIN };

/* "file", "dm-thin". */
const char *pool_driver_name(enum pool_driver d);
/* -EINVAL if s names no driver. */
int pool_driver_parse(const char *s, enum pool_driver *ret) WUR;

/*
 * Whether the driver can run on this machine. dm-thin needs
 * /dev/mapper/control (or the means to create it) and the thin-pool target
 * (listed by the kernel, or loadable). On false, why says why in a short
 * phrase ("the kernel has no device-mapper"). dm-thin may try `modprobe dm-thin-pool`
 * once (10 s at most).
 */
bool pool_driver_usable(enum pool_driver d, char *why, size_t why_size);

struct pool_config {
    enum pool_driver driver;
    const char *name;          /* [a-z0-9]{1,16}, unique per root: names the dm devices */
    uint64_t data_size;        /* bytes */
    uint64_t metadata_size;    /* bytes (dm-thin) */
    uint64_t allocation_size;  /* bytes; dm-thin block size, a multiple of 64 KiB */
    const char *data_path;     /* dm-thin: sparse file or block device; file: directory */
    const char *metadata_path; /* dm-thin: sparse file or block device; file: unused */
};

typedef struct pool pool;

/*
 * Creates the backing storage: the sparse data and metadata files (the
 * metadata's first block zeroed, so the kernel formats it), or the data
 * directory. Refuses sizes that don't fit (-EINVAL), a filesystem without
 * room for them (-ENOSPC), and paths that exist with other content (-EEXIST).
 */
int pool_create(const struct pool_config *cfg, struct error *err) WUR;

/*
 * Opens the pool, assembling it if it is not assembled (after a host reboot
 * nothing is): dm-thin attaches loop devices (LOOP_CTL_GET_FREE +
 * LOOP_CONFIGURE, autoclear) and loads the thin-pool target with
 * error_if_no_space, so a full pool fails I/O instead of hanging it.
 * -ENOENT when the backing storage is gone (the message names the file).
 */
int pool_open(const struct pool_config *cfg, pool **ret, struct error *err) WUR;
/* Releases the handle; the pool stays assembled. Accepts NULL. */
void pool_free(pool *p);

/*
 * Takes the pool apart: deactivates its devices, removes the thin-pool
 * target, detaches its loop devices. Data stays; pool_open assembles again.
 */
int pool_disassemble(pool *p, struct error *err) WUR;
/* Deletes the backing storage of a disassembled pool. Missing files are fine. */
int pool_destroy(const struct pool_config *cfg, struct error *err) WUR;

/* ---- devices ----------------------------------------------------------- */

/* A new, zero-filled device of size bytes (a multiple of 512). */
int pool_device_create(pool *p, uint32_t id, uint64_t size, struct error *err) WUR;

/*
 * A snapshot of origin as device id, of size bytes (at least the origin's
 * size; the extra reads as zeros). dm-thin suspends the origin while the
 * snapshot is taken when the origin is active, as the kernel requires.
 */
int pool_device_snapshot(pool *p, uint32_t id, uint32_t origin, uint64_t size,
                         struct error *err) WUR;

/*
 * Deactivates and deletes the device, and what a create or snapshot of its
 * id that was cut short left (the file driver's <id>.img.tmp). A missing
 * device is not an error.
 */
int pool_device_remove(pool *p, uint32_t id, struct error *err) WUR;

/*
 * Makes the device usable as a disk and returns its path (caller frees):
 * /dev/mapper/hearth-<name>-<id> with its node made without udev, or the
 * device file. size is the device's size in bytes: dm-thin gives the
 * device that size (a snapshot larger than its origin reads zeros past it);
 * the file driver checks that the file has it (-EEXIST otherwise). -ENOENT
 * for a missing device file.
 */
int pool_device_activate(pool *p, uint32_t id, uint64_t size, char **ret_path,
                         struct error *err) WUR;
/* Undoes activate; an inactive device is fine. -EBUSY while it is open. */
int pool_device_deactivate(pool *p, uint32_t id, struct error *err) WUR;

/* ---- inventory --------------------------------------------------------- */

struct pool_usage {
    uint64_t data_used, data_total;         /* bytes */
    uint64_t metadata_used, metadata_total; /* bytes; 0 for the file driver */
};

/* Usage read from the pool's status (dm-thin) or the files' allocated blocks. */
int pool_usage_get(pool *p, struct pool_usage *ret, struct error *err) WUR;

/* What really exists, for recovery and `hearth doctor`. */
struct pool_inventory {
    uint32_t *ids; /* devices in the pool: thin ids in its metadata, or device files */
    size_t n_ids;
    uint32_t *active; /* devices active as /dev/mapper/hearth-<name>-<id> */
    size_t n_active;
    char **strays; /* hearth's leftovers that are no device: loop devices attached to
                      the pool's files but unused, stray files in the data directory
                      ("/dev/loop7", "/var/lib/hearth/pool/data/12.img.tmp") */
    size_t n_strays;
};

int pool_inventory_get(pool *p, struct pool_inventory *ret, struct error *err) WUR;
void pool_inventory_release(struct pool_inventory *inv);
/*
 * Removes one stray named in an inventory (detach the loop, remove the dm
 * device, delete the file). Anything the current inventory would not list
 * as a stray is refused: -ENOENT (dm-thin), -EINVAL (file driver: a device
 * file or a path outside the data directory).
 */
int pool_stray_remove(pool *p, const char *stray, struct error *err) WUR;

#endif
