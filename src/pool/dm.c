/*
 * dm-thin: every libdevmapper call of the pool module. Each operation is one
 * dm_task; dm_run() runs it and is the one place where a libdevmapper
 * failure becomes a negative errno and a message naming the device. udev is
 * never involved: the library makes and removes /dev/mapper nodes itself,
 * and a missing node is made here from the device's numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <libdevmapper.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pool/pool_priv.h"

#define DM_DIR "/dev/mapper"
#define DM_REMOVE_TRIES 20
#define DM_REMOVE_WAIT_MS 50

static void dm_taskp(struct dm_task **t) {
    if (*t)
        dm_task_destroy(*t);
}
#define _cleanup_dm_task_ _cleanup_(dm_taskp)

__attribute__((format(printf, 5, 6))) static void
dm_log_to_debug(int level, const char *file, int line, int dm_errno, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    (void)file, (void)line, (void)dm_errno;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (level <= 3) /* libdevmapper's _LOG_ERR */
        log_debug("libdevmapper: %s", buf);
}

void dm_setup(void) {
    (void)setenv("DM_DISABLE_UDEV", "1", 1);
    dm_udev_set_sync_support(0);
    dm_udev_set_checking(0);
    dm_log_with_errno_init(dm_log_to_debug);
}

/*
 * Runs t. On failure maps the kernel's errno (or -EIO when the library
 * failed before the ioctl) and sets "cannot WHAT: REASON".
 */
__attribute__((format(printf, 3, 4))) static int dm_run(struct dm_task *t, struct error *err,
                                                        const char *fmt, ...) {
    if (t && dm_task_run(t))
        return 0;
    int e = t ? dm_task_get_errno(t) : ENOMEM;
    int code = e > 0 ? -e : -EIO;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return error_set(err, code, "cannot %s: %s", what,
                     e > 0 ? strerror(e) : "device-mapper refused the request");
}

static struct dm_task *dm_task_named(int type, const char *name) {
    struct dm_task *t = dm_task_create(type);
    if (t && name && !dm_task_set_name(t, name)) {
        dm_task_destroy(t);
        return NULL;
    }
    return t;
}

int dm_dev_info(const char *name, bool *exists, uint32_t *major_, uint32_t *minor_,
                int32_t *open_count, struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_INFO, name);
    int r = dm_run(t, err, "look up device '%s'", name);
    if (r < 0)
        return r;
    struct dm_info info;
    if (!dm_task_get_info(t, &info))
        return error_set(err, -EIO, "cannot look up device '%s'", name);
    *exists = info.exists;
    if (major_)
        *major_ = info.major;
    if (minor_)
        *minor_ = info.minor;
    if (open_count)
        *open_count = info.open_count;
    return 0;
}

/* Makes sure /dev/mapper/<name> is the node of the device, whoever made it. */
int dm_dev_node_ensure(const char *name, struct error *err) {
    bool exists;
    uint32_t maj, min;
    int r = dm_dev_info(name, &exists, &maj, &min, NULL, err);
    if (r < 0)
        return r;
    if (!exists)
        return error_set(err, -ENODEV, "device '%s' vanished after it was made", name);
    _cleanup_free_ char *node = xasprintf(DM_DIR "/%s", name);
    if (!node)
        return error_oom(err);
    struct stat st;
    if (stat(node, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == makedev(maj, min))
        return 0;
    (void)unlink(node);
    if (mknod(node, S_IFBLK | 0600, makedev(maj, min)) < 0)
        return error_set(err, -errno, "cannot make the node '%s': %s", node, strerror(errno));
    return 0;
}

int dm_dev_create(const char *name, uint64_t sectors, const char *type, const char *params,
                  struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_CREATE, name);
    if (t && (!dm_task_add_target(t, 0, sectors, type, params) ||
              !dm_task_set_add_node(t, DM_ADD_NODE_ON_CREATE))) {
        dm_task_destroy(t);
        t = NULL;
    }
    int r = dm_run(t, err, "create device '%s' (%s %s)", name, type, params);
    dm_task_update_nodes();
    if (r < 0)
        return r;
    return dm_dev_node_ensure(name, err);
}

int dm_dev_remove(const char *name, struct error *err) {
    int r = 0;
    for (int i = 0; i < DM_REMOVE_TRIES; i++) {
        _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_REMOVE, name);
        r = dm_run(t, err, "remove device '%s'", name);
        dm_task_update_nodes();
        if (r != -EBUSY)
            break;
        sleep_ms(DM_REMOVE_WAIT_MS);
    }
    if (r == -ENXIO)
        r = 0; /* already gone */
    if (r == -EBUSY)
        error_set(err, -EBUSY, "device '%s' is in use; close what holds it and retry", name);
    if (r == 0) {
        _cleanup_free_ char *node = xasprintf(DM_DIR "/%s", name);
        if (node)
            (void)unlink(node); /* in case the library left it */
    }
    return r;
}

int dm_dev_suspend(const char *name, struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_SUSPEND, name);
    return dm_run(t, err, "suspend device '%s'", name);
}

int dm_dev_resume(const char *name, struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_RESUME, name);
    int r = dm_run(t, err, "resume device '%s'", name);
    dm_task_update_nodes();
    return r;
}

int dm_dev_message(const char *name, const char *msg, struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_TARGET_MSG, name);
    if (t && (!dm_task_set_sector(t, 0) || !dm_task_set_message(t, msg))) {
        dm_task_destroy(t);
        t = NULL;
    }
    return dm_run(t, err, "send '%s' to '%s'", msg, name);
}

int dm_dev_params(const char *name, bool table, char **ret_type, char **ret_params,
                  struct error *err) {
    _cleanup_dm_task_ struct dm_task *t =
        dm_task_named(table ? DM_DEVICE_TABLE : DM_DEVICE_STATUS, name);
    int r = dm_run(t, err, "read the %s of '%s'", table ? "table" : "status", name);
    if (r < 0)
        return r;
    uint64_t start, length;
    char *type = NULL, *params = NULL;
    dm_get_next_target(t, NULL, &start, &length, &type, &params);
    if (!type || !params)
        return error_set(err, -ENODATA, "device '%s' has no table", name);
    _cleanup_free_ char *ty = xstrdup(type);
    _cleanup_free_ char *pa = xstrdup(params);
    if (!ty || !pa)
        return error_oom(err);
    *ret_type = steal_ptr(&ty);
    *ret_params = steal_ptr(&pa);
    return 0;
}

int dm_dev_deps(const char *name, dev_t **ret, size_t *ret_n, struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_DEPS, name);
    int r = dm_run(t, err, "read the dependencies of '%s'", name);
    if (r < 0)
        return r;
    struct dm_deps *deps = dm_task_get_deps(t);
    size_t n = deps ? deps->count : 0;
    dev_t *devs = xcalloc(n ? n : 1, sizeof(*devs));
    if (!devs)
        return error_oom(err);
    for (size_t i = 0; i < n; i++)
        devs[i] = (dev_t)deps->device[i];
    *ret = devs;
    *ret_n = n;
    return 0;
}

int dm_dev_list(const char *prefix, char ***ret, size_t *ret_n, struct error *err) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_LIST, NULL);
    int r = dm_run(t, err, "list device-mapper devices");
    if (r < 0)
        return r;
    struct dm_names *names = dm_task_get_names(t);
    char **list = NULL;
    size_t n = 0;
    uint32_t next = 0;
    if (names && names->dev) {
        do {
            if (str_starts_with(names->name, prefix) &&
                (r = pool_strays_add(&list, &n, names->name)) < 0)
                break;
            next = names->next;
            names = (struct dm_names *)((char *)names + next);
        } while (next);
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return error_set(err, r, "cannot list device-mapper devices: %s", strerror(-r));
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

bool dm_target_listed(const char *target) {
    _cleanup_dm_task_ struct dm_task *t = dm_task_named(DM_DEVICE_LIST_VERSIONS, NULL);
    struct error err;
    if (dm_run(t, &err, "list targets") < 0)
        return false;
    struct dm_versions *v = dm_task_get_versions(t);
    uint32_t next = 0;
    if (!v)
        return false;
    do {
        if (strcmp(v->name, target) == 0)
            return true;
        next = v->next;
        v = (struct dm_versions *)((char *)v + next);
    } while (next);
    return false;
}

/* The misc minor of device-mapper from /proc/misc, or -ENODEV. */
static int dm_misc_minor(void) {
    _cleanup_fclose_ FILE *f = fopen("/proc/misc", "re");
    char line[128];
    while (f && fgets(line, sizeof(line), f)) {
        unsigned minor_;
        char name[64];
        if (sscanf(line, "%u %63s", &minor_, name) == 2 && strcmp(name, "device-mapper") == 0)
            return (int)minor_;
    }
    return -ENODEV;
}

int dm_control_ensure(struct error *err) {
    struct stat st;
    if (stat(DM_DIR "/control", &st) == 0 && S_ISCHR(st.st_mode))
        return 0;
    int minor_ = dm_misc_minor();
    if (minor_ < 0)
        return error_set(err, -ENODEV, "the kernel has no device-mapper");
    if (mkdir(DM_DIR, 0755) < 0 && errno != EEXIST)
        return error_set(err, -errno, "cannot make '" DM_DIR "': %s", strerror(errno));
    if (mknod(DM_DIR "/control", S_IFCHR | 0600, makedev(10, (unsigned)minor_)) < 0 &&
        errno != EEXIST)
        return error_set(err, -errno, "cannot make '" DM_DIR "/control': %s", strerror(errno));
    return 0;
}
