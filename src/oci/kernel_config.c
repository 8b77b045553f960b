/*
 * Kernels: whether a kernel can mount a hearth VM's root by itself. A VM's
 * root is an ext4 filesystem on a virtio-blk disk that both VMMs attach
 * over virtio-mmio; a kernel that has any of the three as a module needs an
 * initrd to load it, or it panics at boot ("VFS: Unable to mount root fs").
 *
 * What a kernel has built in is read from its build configuration (a
 * .config: CONFIG_EXT4_FS, CONFIG_VIRTIO_BLK, CONFIG_VIRTIO_MMIO, =y built
 * in, =m a module, unset or "is not set" absent), which distributions ship
 * beside the kernel as /boot/config-<version>, or else from a modules
 * directory: modules.builtin lists what is built in (kernel/fs/ext4/ext4.ko,
 * ...), modules.dep what is a module.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"

#define KCONFIG_MAX (4u << 20) /* bytes of a .config, modules.builtin or modules.dep read */

/* The three drivers: their config option and module file name. */
static const struct {
    const char *option;
    const char *module; /* "/ext4.ko" as modules.builtin and modules.dep end their paths */
} kdrivers[3] = {
    {"CONFIG_EXT4_FS", "/ext4.ko"},
    {"CONFIG_VIRTIO_BLK", "/virtio_blk.ko"},
    {"CONFIG_VIRTIO_MMIO", "/virtio_mmio.ko"},
};

const char *oci_kernel_root_driver_name(size_t i) {
    static const char *const names[3] = {"ext4", "virtio_blk", "virtio_mmio"};
    return i < 3 ? names[i] : "";
}

/* Calls fn with each line of text in turn (the text is modified). */
static void for_each_line(char *text, void (*fn)(const char *line, void *ud), void *ud) {
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        fn(line, ud);
        line = nl ? nl + 1 : NULL;
    }
}

static void config_line(const char *line, void *ud) {
    struct oci_kernel_root *r = ud;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(kdrivers[i].option);
        if (strncmp(line, kdrivers[i].option, n) != 0 || line[n] != '=')
            continue;
        if (strcmp(line + n + 1, "y") == 0)
            r->has[i] = OCI_KERNEL_BUILTIN;
        else if (strcmp(line + n + 1, "m") == 0)
            r->has[i] = OCI_KERNEL_MODULE;
    }
}

/* A line of modules.builtin ("kernel/fs/ext4/ext4.ko") or modules.dep ("...ko.xz: deps"). */
struct modules_scan {
    struct oci_kernel_root *r;
    enum oci_kernel_has mark;
};

static void modules_line(const char *line, void *ud) {
    struct modules_scan *s = ud;
    const char *end = strchr(line, ':');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    for (size_t i = 0; i < 3; i++) {
        const char *m = kdrivers[i].module;
        size_t n = strlen(m);
        /* ".ko", or compressed: ".ko.xz", ".ko.zst", ".ko.gz" */
        const char *at = NULL;
        for (const char *p = line; (p = memmem(p, len - (size_t)(p - line), m, n)); p++)
            at = p;
        if (!at)
            continue;
        const char *rest = at + n;
        size_t left = len - (size_t)(rest - line);
        if ((left == 0 || *rest == '.') && s->r->has[i] == OCI_KERNEL_MISSING)
            s->r->has[i] = s->mark;
    }
}

int oci_kernel_root_drivers(const char *config, const char *const *modules_dirs, size_t n_dirs,
                            struct oci_kernel_root *ret, struct error *err) {
    struct oci_kernel_root r = {0};
    for (size_t i = 0; i < 3; i++)
        r.has[i] = OCI_KERNEL_MISSING;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    if (config && access(config, R_OK) == 0) {
        int e = strbuf_read_file(&sb, config, KCONFIG_MAX, err);
        if (e < 0)
            return e;
        for_each_line(sb.buf ? sb.buf : (char[]){""}, config_line, &r);
        snprintf(r.source, sizeof(r.source), "%s", config);
        *ret = r;
        return 0;
    }
    for (size_t d = 0; d < n_dirs; d++) {
        if (!modules_dirs[d])
            continue;
        _cleanup_free_ char *builtin = xasprintf("%s/modules.builtin", modules_dirs[d]);
        _cleanup_free_ char *dep = xasprintf("%s/modules.dep", modules_dirs[d]);
        if (!builtin || !dep)
            return error_oom(err);
        if (access(builtin, R_OK) != 0)
            continue;
        strbuf_release(&sb);
        int e = strbuf_read_file(&sb, builtin, KCONFIG_MAX, err);
        if (e < 0)
            return e;
        struct modules_scan s = {&r, OCI_KERNEL_BUILTIN};
        for_each_line(sb.buf ? sb.buf : (char[]){""}, modules_line, &s);
        /* Not built in: a module when modules.dep lists it (unknown: a module all the same). */
        strbuf_release(&sb);
        bool have_dep = access(dep, R_OK) == 0;
        if (have_dep && (e = strbuf_read_file(&sb, dep, KCONFIG_MAX, err)) < 0)
            return e;
        s.mark = OCI_KERNEL_MODULE;
        if (have_dep)
            for_each_line(sb.buf ? sb.buf : (char[]){""}, modules_line, &s);
        else
            for (size_t i = 0; i < 3; i++)
                if (r.has[i] == OCI_KERNEL_MISSING)
                    r.has[i] = OCI_KERNEL_MODULE;
        snprintf(r.source, sizeof(r.source), "%s", builtin);
        *ret = r;
        return 0;
    }
    return -ENOENT;
}
