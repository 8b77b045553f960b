/*
 * dm-thin driver internals shared by thin.c (the pool and its devices) and
 * thin_inventory.c (usage, inventory, strays).
 */
#ifndef HEARTH_POOL_THIN_PRIV_H
#define HEARTH_POOL_THIN_PRIV_H

#include "pool/pool_priv.h"

/* "hearth-<name>-pool" */
void thin_pool_name(const pool *p, char buf[POOL_DM_NAME_MAX]);
/* "hearth-<name>-<id>" */
void thin_dev_name(const pool *p, uint32_t id, char buf[POOL_DM_NAME_MAX]);
/* "hearth-<name>-": the prefix of every dm device of the pool */
void thin_prefix(const pool *p, char buf[POOL_DM_NAME_MAX]);

/* Sends a formatted message to the pool target; the kernel's code on failure. */
int thin_message(const pool *p, struct error *err, const char *fmt, ...) PRINTF(3, 4) WUR;

/* The pool target's device number (-ENODEV with a message when not assembled). */
int thin_pool_dev(const pool *p, uint32_t *ret_major, uint32_t *ret_minor, struct error *err) WUR;

/* The loop devices and dm devices that are hearth's, for this pool, but in no use. */
int thin_strays_collect(pool *p, char ***ret, size_t *ret_n, struct error *err) WUR;

/*
 * Serialises assembly and metadata snapshots between processes: an exclusive
 * flock on the metadata file. Returns the fd that holds it (close to unlock).
 */
int thin_lock(const pool *p, struct error *err) WUR;

/* pool_driver_usable for dm-thin. */
bool thin_usable(char *why, size_t why_size);

int thin_usage_get(pool *p, struct pool_usage *ret, struct error *err) WUR;
int thin_inventory_get(pool *p, struct pool_inventory *ret, struct error *err) WUR;
int thin_stray_remove(pool *p, const char *stray, struct error *err) WUR;

#endif
