/*
 * engine kernel: importing kernels from OCI images or local files into
 * <root>/kernel/<uid>/ (docs/architecture.md, "Image and kernel import"):
 *
 *   vmlinux      the uncompressed ELF kernel (what Firecracker boots);
 *   vmlinuz      the bzImage, when the kernel came as one (QEMU boots either);
 *   initrd       the initial ramdisk, when there is one;
 *   modules.tar  /lib/modules as a tar (members lib/modules/<version>/...):
 *                the Kernel layer of the pool chain, copied into VM disks
 *                by the VM operations.
 *
 * The protocol is the image's: a journal row "kernel.import" naming the new
 * uid (intent); in the staging directory <root>/tmp/kernel-<uid> an image is
 * unpacked into rootfs/ and the files are written to files/, which is renamed
 * to <root>/kernel/<uid> (act); the Kernel row is inserted, with the files it
 * has and their sizes, and the journal row closed (commit). Recovery of a
 * dead import removes the staging directory and the final one. Fault points
 * kernel.import.after-{intent,unpack,files,rename,commit}.
 *
 * A failure of this host (no space, an I/O error, a tool that cannot run)
 * fails the import and undoes it; a warning is only for what the kernel
 * itself lacks (a bzImage without an ELF to extract, drivers that need an
 * initrd).
 *
 * Files from an image are opened with openat2(RESOLVE_IN_ROOT) below the
 * staging directory, so a symlink in the image never reaches the host.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"

#define KERNEL_FILE_MAX (UINT64_C(2) << 30) /* bytes of a kernel or an initrd */
#define COPY_CHUNK (1u << 20)

/* One import's state. */
struct kjob {
    engine *e;
    const struct engine_import_opts *opts;
    const char *name;
    bool restore; /* into the recorded kernel uid, whose files are not here */
    char uid[ID_LEN + 1];
    char *work;  /* <root>/tmp/kernel-<uid>: the staging directory */
    char *out;   /* <work>/files: what becomes <root>/kernel/<uid> */
    char *final; /* <root>/kernel/<uid> */
    uint64_t stored;
    char *version;
    char digest[7 + 64 + 1]; /* sha256 of the kernel file as given */
    char warning[1024];      /* lines */
    char *name_out;          /* a restore: the recorded kernel's name */
};

static void kjob_release(struct kjob *j) {
    free(j->name_out);
    free(j->work);
    free(j->out);
    free(j->final);
    free(j->version);
}

int engine_kernel_files_remove(engine *e, const char *uid, struct error *err) {
    _cleanup_free_ char *staging = engine_tmp_path(e, "kernel", uid);
    /* Where earlier versions staged a kernel's files. */
    _cleanup_free_ char *tmp = xasprintf("%s/kernel/%s.tmp", e->root, uid);
    _cleanup_free_ char *dir = xasprintf("%s/kernel/%s", e->root, uid);
    if (!staging || !tmp || !dir)
        return error_oom(err);
    int r = fs_tree_remove(staging, err);
    if (r == 0)
        r = fs_tree_remove(tmp, err);
    if (r == 0)
        r = fs_tree_remove(dir, err);
    return r;
}

int engine_kernel_file(engine *e, const char *uid, const char *file, char **ret,
                       struct error *err) {
    if (!id_is_valid(uid) || strchr(file, '/'))
        return error_set(err, -EINVAL, "bad kernel file request");
    char *path = xasprintf("%s/kernel/%s/%s", e->root, uid, file);
    if (!path)
        return error_oom(err);
    struct stat st;
    if (stat(path, &st) < 0) {
        int r = error_set(err, -errno, "kernel %s has no %s: %s", uid, file, strerror(errno));
        free(path);
        return r;
    }
    *ret = path;
    return 0;
}

static const char *const kernel_file_names[] = {"vmlinux", "vmlinuz", "initrd", "modules.tar"};

/* The files of dir (a kernel's) that exist, with their sizes. */
static int kernel_files_scan(const char *dir, struct store_kernel_file *ret, size_t *ret_n,
                             struct error *err) {
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(kernel_file_names); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, kernel_file_names[i]);
        if (!path)
            return error_oom(err);
        struct stat st;
        if (lstat(path, &st) < 0) {
            if (errno == ENOENT)
                continue;
            return error_set(err, -errno, "cannot look at '%s': %s", path, strerror(errno));
        }
        if (!S_ISREG(st.st_mode))
            return error_set(err, -EINVAL, "'%s' is not a regular file", path);
        snprintf(ret[n].name, sizeof(ret[n].name), "%s", kernel_file_names[i]);
        ret[n].size = (uint64_t)st.st_size;
        n++;
    }
    *ret_n = n;
    return 0;
}

int engine_kernel_files_check(engine *e, const char *uid, char *ret_problem, size_t size,
                              struct error *err) {
    struct store_kernel_file rec[STORE_KERNEL_FILES_MAX];
    size_t n = 0;
    int r = store_kernel_files_get(e->store, uid, rec, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *dir = xasprintf("%s/kernel/%s", e->root, uid);
    if (!dir)
        return error_oom(err);
    struct store_kernel_file have[STORE_KERNEL_FILES_MAX];
    size_t nh = 0;
    struct error serr;
    error_init(&serr);
    if (kernel_files_scan(dir, have, &nh, &serr) < 0) {
        snprintf(ret_problem, size, "%s", serr.msg);
        return 0;
    }
    if (n == 0) { /* no record: a kernel file is what can be checked */
        for (size_t i = 0; i < nh; i++)
            if (strcmp(have[i].name, "vmlinux") == 0 || strcmp(have[i].name, "vmlinuz") == 0)
                return 1;
        snprintf(ret_problem, size,
                 "it has no kernel file under %s (it was applied from a document, or its files "
                 "were deleted)",
                 dir);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_kernel_file *found = NULL;
        for (size_t k = 0; k < nh && !found; k++)
            if (strcmp(have[k].name, rec[i].name) == 0)
                found = &have[k];
        char want[32], got[32];
        size_format_human(rec[i].size, want, sizeof(want));
        if (!found) {
            snprintf(ret_problem, size, "its %s (%s when imported) is missing from %s", rec[i].name,
                     want, dir);
            return 0;
        }
        if (found->size != rec[i].size) {
            size_format_human(found->size, got, sizeof(got));
            snprintf(ret_problem, size,
                     "its %s in %s has %s (%" PRIu64 " bytes), not the %s (%" PRIu64
                     " bytes) it had when imported",
                     rec[i].name, dir, got, found->size, want, rec[i].size);
            return 0;
        }
    }
    return 1;
}

/* openat2 with RESOLVE_IN_ROOT: rel resolved as if dirfd were "/". */
static int open_in_root(int dirfd, const char *rel, int flags) {
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/*
 * Copies the regular file open on in to j->out/name (created, 0644), hashing
 * it into digest (64 hex + NUL) when digest is not NULL.
 */
static int copy_in(struct kjob *j, int in, const char *what, const char *name, char *digest,
                   struct error *err) {
    struct stat st;
    if (fstat(in, &st) < 0)
        return error_set(err, -errno, "cannot look at the %s: %s", what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return error_set(err, -EINVAL, "the %s is not a regular file", what);
    if ((uint64_t)st.st_size > KERNEL_FILE_MAX)
        return error_set(err, -EFBIG, "the %s is larger than 2GB", what);
    _cleanup_free_ char *path = xasprintf("%s/%s", j->out, name);
    _cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
    if (!path || !buf)
        return error_oom(err);
    _cleanup_close_ int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return error_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    EVP_MD_CTX *md = digest ? EVP_MD_CTX_new() : NULL;
    if (digest && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)) {
        EVP_MD_CTX_free(md);
        return error_oom(err);
    }
    int r = 0;
    uint64_t total = 0;
    for (;;) {
        if (engine_import_cancelled(j->opts)) {
            r = engine_import_cancel_error(err);
            break;
        }
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = error_set(err, -errno, "cannot read the %s: %s", what, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > KERNEL_FILE_MAX) {
            r = error_set(err, -EFBIG, "the %s is larger than 2GB", what);
            break;
        }
        if (md)
            EVP_DigestUpdate(md, buf, (size_t)n);
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                r = error_set(err, -errno, "cannot write '%s': %s", path, strerror(errno));
                break;
            }
            off += w;
        }
        if (r < 0)
            break;
    }
    if (r == 0 && fsync(out) < 0)
        r = error_set(err, -errno, "cannot write '%s': %s", path, strerror(errno));
    if (r == 0 && md) {
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned int hl = 0;
        EVP_DigestFinal_ex(md, h, &hl);
        for (unsigned int i = 0; i < hl && i < 32; i++)
            snprintf(digest + 2 * i, 3, "%02x", h[i]);
    }
    EVP_MD_CTX_free(md);
    if (r == 0)
        j->stored += total;
    return r;
}

static bool is_version_dir(const char *dir);

/* Adds a line to the import's warning. */
static void kjob_warn(struct kjob *j, const char *line) {
    size_t len = strlen(j->warning), add = strlen(line);
    if (len + 1 + add >= sizeof(j->warning))
        return; /* cannot happen: each line is bounded */
    if (len)
        j->warning[len++] = '\n';
    memcpy(j->warning + len, line, add + 1);
}

/* "a", "a and b", "a, b and c": the drivers of root whose state is has. */
static void drivers_list(const struct oci_kernel_root *root, enum oci_kernel_has has, char *ret,
                         size_t size) {
    size_t n = 0, total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(root->has); i++)
        total += root->has[i] == has;
    ret[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(root->has); i++) {
        if (root->has[i] != has)
            continue;
        size_t len = strlen(ret);
        snprintf(ret + len, size - len, "%s%s",
                 n == 0           ? ""
                 : n + 1 == total ? " and "
                                  : ", ",
                 oci_kernel_root_driver_name(i));
        n++;
    }
}

/*
 * A kernel imported from files without an initrd has to mount its VMs' root
 * (ext4 on virtio-blk over virtio-mmio) by itself: warns when its
 * configuration (config-<version> beside the kernel file, else the
 * modules.builtin of --modules or of /lib/modules/<version>) says one of
 * those is a module, or absent. Says nothing when it cannot be told: no
 * such file, or one that cannot be read (a warning is about the kernel,
 * never about this host).
 */
static void kjob_check_root(struct kjob *j, const struct engine_kernel_local *files) {
    if (files->initrd || !j->version)
        return;
    _cleanup_free_ char *kcopy = xstrdup(files->vmlinux);
    if (!kcopy)
        return;
    const char *dir = dirname(kcopy);
    _cleanup_free_ char *config = xasprintf("%s/config-%s", dir, j->version);
    _cleanup_free_ char *given = NULL;
    if (files->modules)
        given = is_version_dir(files->modules) ? xstrdup(files->modules)
                                               : xasprintf("%s/%s", files->modules, j->version);
    _cleanup_free_ char *host = xasprintf("/lib/modules/%s", j->version);
    if (!config || !host || (files->modules && !given))
        return;
    const char *const dirs[] = {given, host};
    struct oci_kernel_root root;
    struct error err;
    error_init(&err);
    if (oci_kernel_root_drivers(config, dirs, ARRAY_SIZE(dirs), &root, &err) < 0)
        return;
    char missing[64], modules[64], line[1024];
    drivers_list(&root, OCI_KERNEL_MISSING, missing, sizeof(missing));
    drivers_list(&root, OCI_KERNEL_MODULE, modules, sizeof(modules));
    if (missing[0]) {
        snprintf(line, sizeof(line),
                 "kernel '%.100s' has no %s driver (%.300s): its VMs cannot mount their root "
                 "disk, with or without an initrd",
                 j->name, missing, root.source);
        kjob_warn(j, line);
        return;
    }
    if (!modules[0])
        return;
    _cleanup_free_ char *initrd = xasprintf("%s/initrd.img-%s", dir, j->version);
    bool have = initrd && access(initrd, R_OK) == 0;
    snprintf(line, sizeof(line),
             "kernel '%.100s' has %s as modules (%.300s) and no initrd to load them: its VMs "
             "cannot mount their root disk; import it with --initrd %.300s",
             j->name, modules, root.source, have ? initrd : "INITRD (the kernel's initramfs)");
    kjob_warn(j, line);
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/*
 * Stores the kernel file (open on in): identifies it, keeps an ELF as
 * vmlinux, a bzImage as vmlinuz plus the vmlinux extracted from it. A
 * bzImage without an ELF to extract is a warning (QEMU boots it); a failure
 * to write the vmlinux is an error, never a warning.
 */
static int store_kernel(struct kjob *j, int in, const char *desc, struct error *err) {
    char hex[65] = "";
    int r = copy_in(j, in, "kernel file", "kernel", hex, err);
    if (r < 0)
        return r;
    snprintf(j->digest, sizeof(j->digest), "sha256:%s", hex);
    _cleanup_free_ char *kpath = xasprintf("%s/kernel", j->out);
    _cleanup_free_ char *vmlinux = xasprintf("%s/vmlinux", j->out);
    _cleanup_free_ char *vmlinuz = xasprintf("%s/vmlinuz", j->out);
    if (!kpath || !vmlinux || !vmlinuz)
        return error_oom(err);
    enum oci_kernel_format fmt;
    char *version = NULL;
    struct error ierr;
    error_init(&ierr);
    r = oci_kernel_identify(kpath, &fmt, &version, &ierr);
    if (r < 0) {
        /* name the file as the user knows it, not our copy */
        const char *msg = strstr(ierr.msg, "' is ");
        return error_set(err, r, "%s%s", desc, msg ? msg + 1 : ": not a kernel image");
    }
    free(j->version);
    j->version = version;
    const char *dest = fmt == OCI_KERNEL_ELF ? vmlinux : vmlinuz;
    if (rename(kpath, dest) < 0)
        return error_set(err, -errno, "cannot rename '%s': %s", kpath, strerror(errno));
    if (fmt == OCI_KERNEL_ELF)
        return 0;
    struct error xerr;
    error_init(&xerr);
    r = oci_kernel_extract_vmlinux(vmlinuz, vmlinux, &xerr);
    if (r < 0 && r != -ENOEXEC) /* this host failed (no space, I/O): the import fails */
        return error_set(err, r, "extracting the vmlinux of kernel '%s': %s", j->name, xerr.msg);
    if (r < 0) { /* the kernel has none to extract: it is told, the import goes on */
        if (unlink(vmlinux) < 0 && errno != ENOENT)
            return error_set(err, -errno, "cannot remove '%s': %s", vmlinux, strerror(errno));
        char line[512];
        snprintf(line, sizeof(line),
                 "kernel '%.100s' is a bzImage whose vmlinux could not be extracted (%.200s): "
                 "QEMU can boot it, Firecracker cannot",
                 j->name, xerr.msg);
        kjob_warn(j, line);
        return 0;
    }
    j->stored += file_size(vmlinux);
    return 0;
}

/* The only directory name below dir (a modules root), as a version; NULL otherwise. */
static char *single_subdir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) && count < 2) {
        if (de->d_name[0] == '.' || de->d_type != DT_DIR)
            continue;
        count++;
        free(found);
        found = xstrdup(de->d_name);
    }
    closedir(d);
    if (count != 1) {
        free(found);
        return NULL;
    }
    return found;
}

/*
 * Tars the modules at dir into j->out/modules.tar as lib/modules/...:
 * version_dir says dir is /lib/modules/<version> rather than /lib/modules.
 */
static int store_modules(struct kjob *j, const char *dir, bool version_dir, struct error *err) {
    char a[PATH_MAX], b[PATH_MAX];
    if (strlen(dir) >= sizeof(a))
        return error_set(err, -ENAMETOOLONG, "modules directory '%.64s...' is too long", dir);
    snprintf(a, sizeof(a), "%s", dir);
    snprintf(b, sizeof(b), "%s", dir);
    const char *parent = dirname(a);
    const char *base = basename(b);
    _cleanup_free_ char *out = xasprintf("%s/modules.tar", j->out);
    if (!out)
        return error_oom(err);
    const char *xform = version_dir ? "s,^,lib/modules/,S" : "s,^[^/]*,lib/modules,S";
    const char *argv[] = {"tar",         "--numeric-owner",
                          "--sort=name", "-C",
                          parent,        "--transform",
                          xform,         "-cf",
                          out,           base,
                          NULL};
    int r = exec_run(argv, NULL, err);
    if (r < 0)
        return error_prefix(err, "storing the modules of '%s'", dir);
    j->stored += file_size(out);
    if (!j->version)
        j->version = version_dir ? xstrdup(base) : single_subdir(dir);
    return 0;
}

/* A modules directory given by the user: /lib/modules/<version> or /lib/modules. */
static bool is_version_dir(const char *dir) {
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof(p), "%s/modules.dep", dir);
    if (stat(p, &st) == 0)
        return true;
    snprintf(p, sizeof(p), "%s/kernel", dir);
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int kernel_object_build(const struct kjob *j, const char *id, uint64_t size,
                               const char *repo_digest, struct api_object **ret,
                               struct error *err) {
    _cleanup_object_ struct api_object *obj = api_object_new(API_KIND_KERNEL);
    if (!obj)
        return error_oom(err);
    struct api_kernel *k = &obj->u.kernel;
    obj->meta.name = xstrdup(j->name);
    obj->meta.uid = xstrdup(j->uid);
    obj->meta.created = (int64_t)time(NULL);
    k->version = xstrdup(j->version);
    k->claim.type = xstrdup("Docker");
    k->claim.ref = xstrdup(j->name);
    k->source.id = xstrdup(id);
    k->source.size = size;
    if (!obj->meta.name || !obj->meta.uid || !k->version || !k->claim.type || !k->claim.ref ||
        !k->source.id)
        return error_oom(err);
    if (repo_digest) {
        k->source.repo_digests = xcalloc(1, sizeof(char *));
        if (!k->source.repo_digests || !(k->source.repo_digests[0] = xstrdup(repo_digest)))
            return error_oom(err);
        k->source.n_repo_digests = 1;
    }
    if (api_object_set_defaults(obj, NULL) < 0)
        return error_oom(err);
    int r = api_object_validate(obj, err);
    if (r < 0)
        return error_prefix(err, "kernel '%s'", j->name);
    *ret = steal_ptr(&obj);
    return 0;
}

/* <root>/kernel, the staging directory (after the intent) and its files/. */
static int kjob_mkdirs(struct kjob *j, struct error *err) {
    _cleanup_free_ char *kdir = xasprintf("%s/kernel", j->e->root);
    _cleanup_free_ char *work = NULL;
    if (!kdir)
        return error_oom(err);
    int r = engine_dir_make(kdir, err);
    if (r == 0)
        r = engine_staging_make(j->e, "kernel", j->uid, &work, err);
    if (r == 0)
        r = engine_dir_make(j->out, err);
    return r;
}

int engine_kernel_has_data(engine *e, const char *uid, bool *ret, struct error *err) {
    /* Incomplete files (one lost, or cut short) are no data either: imported again. */
    struct error e2;
    error_init(&e2);
    char problem[512];
    int r = engine_kernel_files_check(e, uid, problem, sizeof(problem), &e2);
    if (r < 0)
        return error_set(err, r, "%s", e2.msg);
    *ret = r == 1;
    return 0;
}

/* What a restore of a kernel needs (import.c's engine_restore_begin). */
static const struct engine_restore_kind kernel_restore = {
    API_KIND_KERNEL,
    "kernel.restore",
    engine_kernel_has_data,
    engine_kernel_recover_op,
};

/*
 * Intent: the journal row, then the staging directories. A restore (j->restore,
 * j->uid set) waits for another restore of the same kernel and returns 1
 * when that one brought the files meanwhile; what a kernel without its
 * kernel file still had under <root>/kernel goes first.
 */
static int kjob_begin(struct kjob *j, int64_t *ret_op, struct error *err) {
    int r = j->restore ? 0 : id_generate(j->uid);
    if (r < 0)
        return error_set(err, r, "cannot generate an id: %s", strerror(-r));
    j->work = engine_tmp_path(j->e, "kernel", j->uid);
    j->out = xasprintf("%s/tmp/kernel-%s/files", j->e->root, j->uid);
    j->final = xasprintf("%s/kernel/%s", j->e->root, j->uid);
    if (!j->work || !j->out || !j->final)
        return error_oom(err);
    if (j->restore) {
        r = engine_restore_begin(j->e, &kernel_restore, j->uid, ret_op, err);
        if (r <= 0)
            return r < 0 ? r : 1;
    } else {
        struct engine_op op = {
            .name = "kernel.import", .kind = API_KIND_KERNEL, .uid = j->uid, .device_id = -1};
        r = engine_op_intent(j->e, &op, NULL, NULL, NULL, err);
        *ret_op = op.id;
    }
    if (r < 0)
        return r;
    fault_point("kernel.import.after-intent");
    if (j->restore && (r = engine_kernel_files_remove(j->e, j->uid, err)) < 0)
        return r;
    return kjob_mkdirs(j, err);
}

/* A restore's commit: the recorded kernel takes the version and source of built (which it empties).
 */
static int kernel_restore_put(struct kjob *j, struct api_object *built, struct error *err) {
    _cleanup_object_ struct api_object *obj = NULL;
    int r = store_object_get(j->e->store, API_KIND_KERNEL, j->uid, &obj, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "kernel %s was removed while it was imported again", j->uid);
    if (r < 0)
        return r;
    j->name_out = xstrdup(obj->meta.name);
    if (!j->name_out)
        return error_oom(err);
    struct api_kernel *k = &obj->u.kernel, *b = &built->u.kernel;
    free(k->version);
    k->version = steal_ptr(&b->version);
    free(k->source.id);
    k->source.id = steal_ptr(&b->source.id);
    k->source.size = b->source.size;
    for (size_t i = 0; i < k->source.n_repo_digests; i++)
        free(k->source.repo_digests[i]);
    free(k->source.repo_digests);
    k->source.repo_digests = steal_ptr(&b->source.repo_digests);
    k->source.n_repo_digests = b->source.n_repo_digests;
    b->source.n_repo_digests = 0;
    return store_object_put(j->e->store, obj, err);
}

/* The commit's rows: the kernel (new, or the recorded one) and the record of its files. */
struct kernel_commit {
    struct kjob *j;
    struct api_object *obj;
    const struct store_kernel_file *files;
    size_t n_files;
};

static int kernel_commit_rows(engine *e, void *ud, struct error *err) {
    struct kernel_commit *c = ud;
    int r = c->j->restore ? kernel_restore_put(c->j, c->obj, err)
                          : store_object_put(e->store, c->obj, err);
    if (r == 0)
        r = store_kernel_files_set(e->store, c->j->uid, c->files, c->n_files, err);
    return r;
}

/* Act's end and commit: rename into place, insert the row, close the journal row. */
static int kjob_commit(struct kjob *j, int64_t op, const char *id, uint64_t size,
                       const char *repo_digest, struct engine_import_result *ret,
                       struct error *err) {
    if (!j->version)
        return error_set(err, -EINVAL, "cannot tell the version of kernel '%s'", j->name);
    int r = store_op_step(j->e->store, op, "files", err);
    if (r < 0)
        return r;
    fault_point("kernel.import.after-files");
    int dfd = open(j->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    if (rename(j->out, j->final) < 0)
        return error_set(err, -errno, "cannot rename '%s': %s", j->out, strerror(errno));
    fault_point("kernel.import.after-rename");
    r = fs_tree_remove(j->work, err);
    if (r < 0)
        return r;
    /* The record says which files the kernel has: doctor checks them. */
    struct store_kernel_file files[STORE_KERNEL_FILES_MAX];
    size_t nfiles = 0;
    r = kernel_files_scan(j->final, files, &nfiles, err);
    if (r < 0)
        return r;

    _cleanup_object_ struct api_object *obj = NULL;
    r = kernel_object_build(j, id, size, repo_digest, &obj, err);
    if (r < 0)
        return r;
    struct kernel_commit c = {.j = j, .obj = obj, .files = files, .n_files = nfiles};
    r = engine_op_commit(j->e, op, kernel_commit_rows, &c, "kernel.import.after-commit", err);
    if (r < 0)
        return r;
    memcpy(ret->uid, j->uid, sizeof(ret->uid));
    snprintf(ret->name, sizeof(ret->name), "%s", j->name_out ? j->name_out : j->name);
    snprintf(ret->warning, sizeof(ret->warning), "%s", j->warning);
    ret->size = size;
    return 0;
}

/* Undoes a failed import; returns r. */
static int kjob_fail(struct kjob *j, int64_t op, int r, struct error *err) {
    if (engine_import_cancelled(j->opts) || r == -ECANCELED) {
        error_init(err);
        r = engine_import_cancel_error(err);
    }
    if (op <= 0 || !id_is_valid(j->uid))
        return r;
    if (r == -ENOSPC || r == -EDQUOT) { /* the host's failure: say what to do */
        char was[sizeof(err->msg)];
        snprintf(was, sizeof(was), "%s", err->msg);
        error_record(err, r, "%s; nothing was imported: free space under '%s' and import it again",
                     was, j->e->root);
    }
    struct error e2;
    error_init(&e2);
    if (engine_kernel_files_remove(j->e, j->uid, &e2) < 0) {
        log_warn("undoing the import of kernel %s: %s; 'hearth doctor --repair' finishes it",
                 j->uid, e2.msg);
        return r;
    }
    (void)engine_op_abort(j->e, op, err->msg[0] ? err->msg : strerror(-r), NULL, NULL, &e2);
    return r;
}

/*
 * The kernel recorded as name: 1 with its uid in restore_uid when it has no
 * kernel file here (applied from a document: the import goes into it), 1
 * with *ret filled (existed) when it has, 0 when there is none.
 */
static int kernel_existing(engine *e, const char *name, char restore_uid[ID_LEN + 1],
                           struct engine_import_result *ret, struct error *err) {
    restore_uid[0] = '\0';
    int r = engine_import_existing(e, API_KIND_KERNEL, name, ret, err);
    bool have = false;
    if (r == 1)
        r = engine_kernel_has_data(e, ret->uid, &have, err);
    else
        return r;
    if (r < 0)
        return r;
    if (!have) {
        memcpy(restore_uid, ret->uid, ID_LEN + 1);
        memset(ret, 0, sizeof(*ret));
    }
    return 1;
}

int engine_kernel_import(engine *e, const char *source, const struct engine_import_opts *opts,
                         struct engine_import_result *ret, struct error *err) {
    return engine_import_run(e, API_KIND_KERNEL, source, opts, engine_kernel_has_data,
                             engine_kernel_import_into, ret, err);
}

/* The modules directory rel of the image unpacked at staging (open as sfd), stored. */
static int kjob_store_image_modules(struct kjob *j, int sfd, const char *staging, const char *rel,
                                    struct error *err) {
    /* Resolve inside the image, then name the result by its real path. */
    _cleanup_close_ int fd = open_in_root(sfd, rel, O_PATH | O_DIRECTORY);
    char link[64], real[PATH_MAX];
    ssize_t n = -1;
    if (fd >= 0) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, real, sizeof(real) - 1);
    }
    char sreal[PATH_MAX];
    size_t sl = realpath(staging, sreal) ? strlen(sreal) : 0;
    if (n < 0 || sl == 0 || (size_t)n <= sl || strncmp(real, sreal, sl) != 0 || real[sl] != '/')
        return error_set(err, -EPERM, "/%s in image '%s' is not a directory inside the image", rel,
                         j->name);
    real[n] = '\0';
    return store_modules(j, real, false, err);
}

/*
 * The act's middle: the kernel, its initrd and its modules that kf found
 * in the image unpacked at staging, stored under j->out.
 */
static int kjob_store_image(struct kjob *j, const char *staging, const struct oci_kernel_files *kf,
                            struct error *err) {
    const char *name = j->name;
    int r = 0;
    engine_import_stage(j->opts, "Storing kernel");
    _cleanup_close_ int sfd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", staging, strerror(errno));
    int fd = open_in_root(sfd, kf->kernel, O_RDONLY);
    if (fd < 0)
        return error_set(err, fd, "cannot open /%s in image '%s': %s", kf->kernel, name,
                         strerror(-fd));
    char desc[640];
    snprintf(desc, sizeof(desc), "'/%.200s' in image '%.300s'", kf->kernel, name);
    r = store_kernel(j, fd, desc, err);
    close(fd);
    fd = -1;
    if (r == 0 && kf->initrd) {
        fd = open_in_root(sfd, kf->initrd, O_RDONLY);
        if (fd < 0)
            r = error_set(err, fd, "cannot open /%s in image '%s': %s", kf->initrd, name,
                          strerror(-fd));
        else
            r = copy_in(j, fd, "initrd", "initrd", NULL, err);
    }
    if (fd >= 0)
        close(fd);
    if (r == 0 && kf->modules)
        r = kjob_store_image_modules(j, sfd, staging, kf->modules, err);
    return r;
}

int engine_kernel_import_into(engine *e, const struct oci_source *src, const char *name,
                              const struct engine_import_opts *opts, const char *restore_uid,
                              struct engine_import_result *ret, struct error *err) {
    struct oci_image img = {0};
    int r = engine_import_pull(e, src, opts, &img, err);
    if (r < 0)
        return r;

    struct kjob j = {.e = e, .opts = opts, .name = name, .restore = restore_uid != NULL};
    if (restore_uid)
        memcpy(j.uid, restore_uid, sizeof(j.uid));
    struct oci_kernel_files kf = {0};
    int64_t op = 0;
    _cleanup_free_ char *cache = xasprintf("%s/blobs", e->root);
    _cleanup_free_ char *staging = NULL;
    if (!cache) {
        r = error_oom(err);
        goto done;
    }
    r = kjob_begin(&j, &op, err);
    if (r == 1) /* restored meanwhile by another process */
        r = engine_import_result_fill(e, API_KIND_KERNEL, j.uid, ret, err);
    if (r != 0 || !op)
        goto done;
    staging = xasprintf("%s/rootfs", j.work);
    if (!staging) {
        r = error_oom(err);
        goto done;
    }
    r = engine_import_unpack(e, opts, &img, cache, j.work, staging, op, err);
    if (r < 0)
        goto done;
    fault_point("kernel.import.after-unpack");

    r = oci_kernel_find(staging, &kf, err);
    if (r == 0 && !kf.kernel)
        r = error_set(err, -ENOENT, "image '%s' holds no kernel (/boot/vmlinux or /boot/vmlinuz-*)",
                      name);
    if (r < 0)
        goto done;
    r = kjob_store_image(&j, staging, &kf, err);
    if (r < 0)
        goto done;
    r = fs_tree_remove(staging, err); /* the rootfs; files/ stays for the commit */
    if (r == 0)
        r = kjob_commit(&j, op, img.config_digest, img.size, img.repo_digest, ret, err);

done:
    if (r < 0)
        r = kjob_fail(&j, op, r, err);
    oci_kernel_files_release(&kf);
    oci_image_release(&img);
    kjob_release(&j);
    return r;
}

int engine_kernel_import_files(engine *e, const char *name, const struct engine_kernel_local *files,
                               const struct engine_import_opts *opts,
                               struct engine_import_result *ret, struct error *err) {
    memset(ret, 0, sizeof(*ret));
    if (!files || !files->vmlinux)
        return error_set(err, -EINVAL, "a kernel import from files needs the kernel file");
    if (!name || !api_ref_is_valid(name))
        return error_set(err, -EINVAL,
                         "'%s' is not a valid kernel name (a reference such as my-kernel:6.1)",
                         name ? name : "");
    struct oci_ref ref;
    int r = oci_ref_parse(name, &ref, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *familiar = oci_ref_familiar(&ref);
    oci_ref_release(&ref);
    if (!familiar)
        return error_oom(err);
    char restore[ID_LEN + 1];
    r = kernel_existing(e, familiar, restore, ret, err);
    if (r < 0 || (r == 1 && !restore[0]))
        return r < 0 ? r : 0;

    /* The inputs are the user's own files: check them before recording anything. */
    _cleanup_close_ int kfd = open(files->vmlinux, O_RDONLY | O_CLOEXEC);
    if (kfd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", files->vmlinux, strerror(errno));
    _cleanup_close_ int ifd = -1;
    if (files->initrd && (ifd = open(files->initrd, O_RDONLY | O_CLOEXEC)) < 0)
        return error_set(err, -errno, "cannot open '%s': %s", files->initrd, strerror(errno));
    struct stat st;
    if (files->modules && (stat(files->modules, &st) < 0 || !S_ISDIR(st.st_mode)))
        return error_set(err, -ENOTDIR, "modules '%s' is not a directory", files->modules);

    struct kjob j = {.e = e, .opts = opts, .name = familiar, .restore = restore[0] != '\0'};
    memcpy(j.uid, restore, sizeof(j.uid));
    int64_t op = 0;
    char kdesc[PATH_MAX + 8];
    snprintf(kdesc, sizeof(kdesc), "'%.4000s'", files->vmlinux);
    r = kjob_begin(&j, &op, err);
    if (r == 1) { /* restored meanwhile by another process */
        r = engine_import_result_fill(e, API_KIND_KERNEL, j.uid, ret, err);
        kjob_release(&j);
        return r;
    }
    if (r == 0)
        engine_import_stage(opts, "Storing kernel");
    if (r == 0)
        r = store_kernel(&j, kfd, kdesc, err);
    if (r == 0 && ifd >= 0)
        r = copy_in(&j, ifd, "initrd", "initrd", NULL, err);
    if (r == 0 && files->modules)
        r = store_modules(&j, files->modules, is_version_dir(files->modules), err);
    if (r == 0)
        kjob_check_root(&j, files);
    if (r == 0)
        r = kjob_commit(&j, op, j.digest, j.stored, NULL, ret, err);
    if (r < 0)
        r = kjob_fail(&j, op, r, err);
    kjob_release(&j);
    return r;
}

/* ---- recovery ---------------------------------------------------------- */

int engine_kernel_recover_op(engine *e, const struct store_op *op, struct error *err) {
    int r = engine_import_recover_start(e, op, API_KIND_KERNEL, err);
    if (r <= 0)
        return r;
    /* An import's or a restore's files (and staging) go. */
    r = engine_kernel_files_remove(e, op->object_uid, err);
    if (r < 0)
        return r;
    return store_op_finish(e->store, op->id, "interrupted; rolled back", err);
}
