/*
 * pool: the public interface. Checks the configuration and the arguments
 * every driver shares (names, ids, sizes), then hands each call to the
 * driver's operations table. Also the small list helpers of inventories.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "pool/thin_priv.h"

const char *pool_driver_name(enum pool_driver d) {
    return d == POOL_DRIVER_DM_THIN ? "dm-thin" : "file";
}

int pool_driver_parse(const char *s, enum pool_driver *ret) {
    if (s && strcmp(s, "file") == 0)
        *ret = POOL_DRIVER_FILE;
    else if (s && strcmp(s, "dm-thin") == 0)
        *ret = POOL_DRIVER_DM_THIN;
    else
        return -EINVAL;
    return 0;
}

bool pool_driver_usable(enum pool_driver d, char *why, size_t why_size) {
    if (d == POOL_DRIVER_DM_THIN)
        return thin_usable(why, why_size);
    if (why && why_size)
        why[0] = '\0';
    return true;
}

static const struct pool_ops *pool_ops_of(enum pool_driver d) {
    return d == POOL_DRIVER_DM_THIN ? &pool_thin_ops : &pool_file_ops;
}

static bool pool_name_is_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > POOL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    return true;
}

static int pool_path_check(const char *what, const char *path, struct error *err) {
    if (!path || !*path)
        return error_set(err, -EINVAL, "the pool's %s path is empty", what);
    if (strlen(path) >= PATH_MAX - 32)
        return error_set(err, -ENAMETOOLONG, "the pool's %s path is too long", what);
    return 0;
}

static int pool_thin_sizes_check(const struct pool_config *cfg, struct error *err) {
    uint64_t a = cfg->allocation_size;
    if (a < 64 * KiB || a > GiB || a % (64 * KiB) != 0)
        return error_set(err, -EINVAL,
                         "allocation size %" PRIu64 " must be a multiple of 64 KiB "
                         "between 64 KiB and 1 GiB",
                         a);
    if (cfg->data_size % a != 0 || cfg->data_size < a || cfg->data_size < MiB)
        return error_set(err, -EINVAL,
                         "data size %" PRIu64 " must be a multiple of the allocation size "
                         "%" PRIu64 " and at least 1 MiB",
                         cfg->data_size, a);
    if (cfg->metadata_size < 2 * MiB || cfg->metadata_size > 16 * GiB ||
        cfg->metadata_size % THIN_META_BLOCK != 0)
        return error_set(err, -EINVAL,
                         "metadata size %" PRIu64 " must be a multiple of 4 KiB "
                         "between 2 MiB and 16 GiB",
                         cfg->metadata_size);
    if (pool_path_check("metadata", cfg->metadata_path, err) < 0)
        return err->code;
    if (strcmp(cfg->metadata_path, cfg->data_path) == 0)
        return error_set(err, -EINVAL, "the pool's data and metadata paths are the same '%s'",
                         cfg->data_path);
    return 0;
}

/* Checks what every operation relies on; sizes that don't fit are -EINVAL. */
static int pool_config_check(const struct pool_config *cfg, struct error *err) {
    if (cfg->driver != POOL_DRIVER_FILE && cfg->driver != POOL_DRIVER_DM_THIN)
        return error_set(err, -EINVAL, "unknown pool driver %d", (int)cfg->driver);
    if (!pool_name_is_valid(cfg->name))
        return error_set(err, -EINVAL, "pool name '%s' must be 1 to %d of [a-z0-9]",
                         cfg->name ? cfg->name : "", POOL_NAME_MAX);
    if (pool_path_check("data", cfg->data_path, err) < 0)
        return err->code;
    if (cfg->data_size == 0 || cfg->data_size > POOL_DATA_SIZE_MAX)
        return error_set(err, -EINVAL, "data size %" PRIu64 " must be between 1 and 2^60 bytes",
                         cfg->data_size);
    if (cfg->driver == POOL_DRIVER_DM_THIN)
        return pool_thin_sizes_check(cfg, err);
    return 0;
}

int pool_create(const struct pool_config *cfg, struct error *err) {
    int r = pool_config_check(cfg, err);
    if (r < 0)
        return r;
    return pool_ops_of(cfg->driver)->create(cfg, err);
}

int pool_destroy(const struct pool_config *cfg, struct error *err) {
    int r = pool_config_check(cfg, err);
    if (r < 0)
        return r;
    return pool_ops_of(cfg->driver)->destroy(cfg, err);
}

static pool *pool_new(const struct pool_config *cfg) {
    pool *p = xcalloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->driver = cfg->driver;
    p->ops = pool_ops_of(cfg->driver);
    memcpy(p->name, cfg->name, strlen(cfg->name) + 1);
    p->data_size = cfg->data_size;
    p->metadata_size = cfg->metadata_size;
    p->allocation_size = cfg->allocation_size;
    p->file_used = -1;
    p->data_path = xstrdup(cfg->data_path);
    if (cfg->driver == POOL_DRIVER_DM_THIN)
        p->metadata_path = xstrdup(cfg->metadata_path);
    if (!p->data_path || (cfg->driver == POOL_DRIVER_DM_THIN && !p->metadata_path)) {
        pool_free(p);
        return NULL;
    }
    return p;
}

int pool_open(const struct pool_config *cfg, pool **ret, struct error *err) {
    int r = pool_config_check(cfg, err);
    if (r < 0)
        return r;
    pool *p = pool_new(cfg);
    if (!p)
        return error_oom(err);
    r = p->ops->open(p, err);
    if (r < 0) {
        pool_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void pool_free(pool *p) {
    if (!p)
        return;
    free(p->data_path);
    free(p->metadata_path);
    free(p);
}

int pool_disassemble(pool *p, struct error *err) {
    return p->ops->disassemble(p, err);
}

static int pool_id_check(const pool *p, uint32_t id, struct error *err) {
    if (id > POOL_ID_MAX)
        return error_set(err, -EINVAL, "device id %" PRIu32 " of pool '%s' is not 24-bit", id,
                         p->name);
    return 0;
}

static int pool_size_check(const pool *p, uint64_t size, struct error *err) {
    if (size == 0 || size % 512 != 0 || size > POOL_DEVICE_SIZE_MAX)
        return error_set(err, -EINVAL,
                         "device size %" PRIu64 " in pool '%s' must be a non-zero multiple "
                         "of 512 up to 64 TiB",
                         size, p->name);
    return 0;
}

int pool_device_create(pool *p, uint32_t id, uint64_t size, struct error *err) {
    if (pool_id_check(p, id, err) < 0 || pool_size_check(p, size, err) < 0)
        return err->code;
    return p->ops->device_create(p, id, size, err);
}

int pool_device_snapshot(pool *p, uint32_t id, uint32_t origin, uint64_t size, struct error *err) {
    if (pool_id_check(p, id, err) < 0 || pool_id_check(p, origin, err) < 0 ||
        pool_size_check(p, size, err) < 0)
        return err->code;
    if (id == origin)
        return error_set(err, -EINVAL, "device %" PRIu32 " of pool '%s' cannot be its own origin",
                         id, p->name);
    return p->ops->device_snapshot(p, id, origin, size, err);
}

int pool_device_remove(pool *p, uint32_t id, struct error *err) {
    if (pool_id_check(p, id, err) < 0)
        return err->code;
    return p->ops->device_remove(p, id, err);
}

int pool_device_activate(pool *p, uint32_t id, uint64_t size, char **ret_path, struct error *err) {
    if (pool_id_check(p, id, err) < 0 || pool_size_check(p, size, err) < 0)
        return err->code;
    return p->ops->device_activate(p, id, size, ret_path, err);
}

int pool_device_deactivate(pool *p, uint32_t id, struct error *err) {
    if (pool_id_check(p, id, err) < 0)
        return err->code;
    return p->ops->device_deactivate(p, id, err);
}

int pool_usage_get(pool *p, struct pool_usage *ret, struct error *err) {
    return p->ops->usage_get(p, ret, err);
}

int pool_inventory_get(pool *p, struct pool_inventory *ret, struct error *err) {
    struct pool_inventory inv = {0};
    int r = p->ops->inventory_get(p, &inv, err);
    if (r < 0) {
        pool_inventory_release(&inv);
        return r;
    }
    pool_ids_sort(inv.ids, inv.n_ids);
    pool_ids_sort(inv.active, inv.n_active);
    *ret = inv;
    return 0;
}

void pool_inventory_release(struct pool_inventory *inv) {
    if (!inv)
        return;
    free(inv->ids);
    free(inv->active);
    for (size_t i = 0; i < inv->n_strays; i++)
        free(inv->strays[i]);
    free(inv->strays);
    *inv = (struct pool_inventory){0};
}

int pool_stray_remove(pool *p, const char *stray, struct error *err) {
    if (!stray || !*stray || strlen(stray) >= PATH_MAX)
        return error_set(err, -EINVAL, "no stray named");
    return p->ops->stray_remove(p, stray, err);
}

/* ---- list helpers ------------------------------------------------------ */

int pool_array_grow(void **arr, size_t n, size_t elem) {
    if (n >= POOL_INVENTORY_MAX)
        return -E2BIG;
    return array_grow(arr, n, elem);
}

int pool_ids_add(uint32_t **ids, size_t *n, uint32_t id) {
    int r = pool_array_grow((void **)ids, *n, sizeof(**ids));
    if (r < 0)
        return r;
    (*ids)[(*n)++] = id;
    return 0;
}

int pool_strays_add(char ***strays, size_t *n, const char *s) {
    int r = pool_array_grow((void **)strays, *n, sizeof(**strays));
    if (r < 0)
        return r;
    char *c = xstrdup(s);
    if (!c)
        return -ENOMEM;
    (*strays)[(*n)++] = c;
    return 0;
}

static int pool_id_cmp(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void pool_ids_sort(uint32_t *ids, size_t n) {
    if (n > 1)
        qsort(ids, n, sizeof(*ids), pool_id_cmp);
}

bool pool_id_parse(const char *s, size_t len, uint32_t *ret) {
    if (len == 0 || len > 8 || (len > 1 && s[0] == '0'))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > POOL_ID_MAX)
        return false;
    *ret = v;
    return true;
}
