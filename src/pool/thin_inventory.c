/*
 * dm-thin driver: what really exists. Usage comes from the pool target's
 * status line; thin ids from a metadata snapshot read by thin_meta.c; active
 * devices and strays from the device-mapper device list, the pool's
 * dependencies and the loop devices attached to the pool's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pool/thin_priv.h"

static void strv_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- usage ---------------------------------------------------------------- */

int thin_usage_get(pool *p, struct pool_usage *ret, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    _cleanup_free_ char *type = NULL;
    _cleanup_free_ char *params = NULL;
    thin_pool_name(p, name);
    int r = dm_dev_params(name, false, &type, &params, err);
    if (r < 0)
        return r;
    uint64_t trans, mu, mt, du, dt;
    if (strcmp(type, "thin-pool") != 0)
        return error_set(err, -EINVAL, "device '%s' is a %s target, not a thin pool", name, type);
    if (str_starts_with(params, "Fail") || str_starts_with(params, "Error"))
        return error_set(err, -EIO, "pool '%s' has failed; check its metadata with thin_check",
                         name);
    if (sscanf(params, "%" SCNu64 " %" SCNu64 "/%" SCNu64 " %" SCNu64 "/%" SCNu64, &trans, &mu, &mt,
               &du, &dt) != 5)
        return error_set(err, -EIO, "cannot read the status of pool '%s' (\"%s\")", name, params);
    *ret = (struct pool_usage){
        .data_used = du * p->allocation_size,
        .data_total = dt * p->allocation_size,
        .metadata_used = mu * THIN_META_BLOCK,
        .metadata_total = mt * THIN_META_BLOCK,
    };
    return 0;
}

/* ---- thin ids ------------------------------------------------------------- */

/* Opens the pool's metadata device (first device of its table) for direct reads. */
static int thin_meta_open(const pool *p, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    _cleanup_free_ char *type = NULL;
    _cleanup_free_ char *params = NULL;
    _cleanup_free_ char *path = NULL;
    unsigned maj, min;
    thin_pool_name(p, name);
    int r = dm_dev_params(name, true, &type, &params, err);
    if (r < 0)
        return r;
    if (sscanf(params, "%u:%u", &maj, &min) != 2)
        return error_set(err, -EIO, "cannot read the table of pool '%s' (\"%s\")", name, params);
    if ((r = blockdev_path(makedev(maj, min), &path, err)) < 0)
        return r;
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open the metadata device '%s' of pool '%s': %s", path,
                         name, strerror(errno));
    return fd;
}

static int thin_meta_reserve(pool *p, struct error *err) {
    int r = thin_message(p, err, "reserve_metadata_snap");
    if (r == -EBUSY) { /* a snapshot left by a crashed run */
        struct error e2;
        if (thin_message(p, &e2, "release_metadata_snap") < 0)
            log_debug("%s", e2.msg);
        r = thin_message(p, err, "reserve_metadata_snap");
    }
    return r;
}

static int thin_ids_read(pool *p, uint32_t **ret, size_t *ret_n, struct error *err) {
    _cleanup_close_ int lock = thin_lock(p, err); /* one metadata snapshot at a time */
    if (lock < 0)
        return lock;
    int r = thin_meta_reserve(p, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = thin_meta_open(p, err);
    r = fd < 0 ? fd : thin_meta_read_ids(fd, true, ret, ret_n, err);
    struct error e2;
    int r2 = thin_message(p, &e2, "release_metadata_snap");
    if (r >= 0 && r2 < 0) {
        free(*ret);
        return error_set(err, r2, "%s", e2.msg);
    }
    return r;
}

/* ---- active devices and dm strays ---------------------------------------- */

/* Whether dm device name is thin device id of the pool maj:min. */
static bool thin_is_ours(const char *name, uint32_t id, uint32_t maj, uint32_t min) {
    _cleanup_free_ char *type = NULL;
    _cleanup_free_ char *params = NULL;
    struct error e;
    unsigned pm, pn;
    uint32_t tid;
    if (dm_dev_params(name, true, &type, &params, &e) < 0 || strcmp(type, "thin") != 0)
        return false;
    return sscanf(params, "%u:%u %" SCNu32, &pm, &pn, &tid) == 3 && pm == maj && pn == min &&
           tid == id;
}

/* Sorts hearth-<name>-* into active thin devices and strays (either may be NULL). */
static int thin_dm_scan(pool *p, struct pool_inventory *active, char ***strays, size_t *n_strays,
                        struct error *err) {
    char prefix[POOL_DM_NAME_MAX];
    char **names = NULL;
    size_t n = 0;
    uint32_t maj, min;
    thin_prefix(p, prefix);
    int r = thin_pool_dev(p, &maj, &min, err);
    if (r < 0 || (r = dm_dev_list(prefix, &names, &n, err)) < 0)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const char *rest = names[i] + strlen(prefix);
        uint32_t id;
        if (strcmp(rest, "pool") == 0)
            continue;
        if (pool_id_parse(rest, strlen(rest), &id) && thin_is_ours(names[i], id, maj, min)) {
            if (active)
                r = pool_ids_add(&active->active, &active->n_active, id);
        } else if (strays) {
            _cleanup_free_ char *path = xasprintf("/dev/mapper/%s", names[i]);
            r = path ? pool_strays_add(strays, n_strays, path) : -ENOMEM;
        }
    }
    strv_free(names, n);
    if (r < 0)
        return error_set(err, r, "cannot list the devices of pool '%s': %s", p->name, strerror(-r));
    return 0;
}

/* ---- loop strays ------------------------------------------------------------ */

static bool dev_in(dev_t d, const dev_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == d)
            return true;
    return false;
}

/* Loops attached to path that the pool target (deps) does not use. */
static int thin_loop_strays(const char *path, const dev_t *deps, size_t n_deps, char ***strays,
                            size_t *n_strays, struct error *err) {
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* a block device has no loop; a missing file shows elsewhere */
    char **loops = NULL;
    _cleanup_free_ dev_t *devs = NULL;
    size_t n = 0;
    int r = loop_find(st.st_dev, st.st_ino, &loops, &devs, &n, err);
    for (size_t i = 0; i < n && r >= 0; i++)
        if (!dev_in(devs[i], deps, n_deps))
            r = pool_strays_add(strays, n_strays, loops[i]);
    strv_free(loops, n);
    if (r < 0)
        return error_set(err, r, "cannot list loop devices: %s", strerror(-r));
    return 0;
}

int thin_strays_collect(pool *p, char ***ret, size_t *ret_n, struct error *err) {
    char name[POOL_DM_NAME_MAX];
    _cleanup_free_ dev_t *deps = NULL;
    size_t n_deps = 0;
    char **strays = NULL;
    size_t n = 0;
    thin_pool_name(p, name);
    int r = dm_dev_deps(name, &deps, &n_deps, err);
    if (r >= 0)
        r = thin_loop_strays(p->metadata_path, deps, n_deps, &strays, &n, err);
    if (r >= 0)
        r = thin_loop_strays(p->data_path, deps, n_deps, &strays, &n, err);
    if (r >= 0)
        r = thin_dm_scan(p, NULL, &strays, &n, err);
    if (r < 0) {
        strv_free(strays, n);
        return r;
    }
    *ret = strays;
    *ret_n = n;
    return 0;
}

int thin_inventory_get(pool *p, struct pool_inventory *ret, struct error *err) {
    int r = thin_ids_read(p, &ret->ids, &ret->n_ids, err);
    if (r < 0)
        return r;
    if ((r = thin_dm_scan(p, ret, NULL, NULL, err)) < 0)
        return r;
    return thin_strays_collect(p, &ret->strays, &ret->n_strays, err);
}

int thin_stray_remove(pool *p, const char *stray, struct error *err) {
    char **strays = NULL;
    size_t n = 0;
    int r = thin_strays_collect(p, &strays, &n, err);
    if (r < 0)
        return r;
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found = found || strcmp(strays[i], stray) == 0;
    strv_free(strays, n);
    if (!found)
        return error_set(err, -ENOENT, "'%s' is no stray of pool '%s'", stray, p->name);
    if (str_starts_with(stray, "/dev/mapper/"))
        return dm_dev_remove(stray + strlen("/dev/mapper/"), err);
    return loop_detach(stray, err);
}
