/*
 * oci: OCI and Docker images from registries, OCI layout directories and
 * `docker save` archives; verified, cached by digest, unpacked safely, and
 * built into ext4. Also kernels: finding, extracting and identifying them.
 *
 * Three steps, each usable alone:
 * 1. oci_pull: resolve a source to one image for the host's platform and make
 *    sure its config and layers are in the blob cache, each checked against
 *    its size and sha256 while it streams. Blobs are shared between images.
 * 2. oci_unpack: apply the layers in order into an empty staging directory
 *    with libarchive, honouring whiteouts and opaque directories, and never
 *    writing outside it.
 * 3. oci_ext4_build: `mke2fs -d` the staging directory into a device or file.
 *
 * This module knows nothing of the database or the pool; the engine records
 * intent, allocates devices and cleans up.
 */
#ifndef HEARTH_OCI_H
#define HEARTH_OCI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/util.h"

/* Limits on what a registry or an archive controls. */
#define OCI_MANIFEST_MAX (4u << 20) /* bytes of a manifest, index or config */
#define OCI_LAYERS_MAX 256          /* layers of one image */
#define OCI_INDEX_MAX 256           /* entries of one index */
#define OCI_BLOB_MAX (64ull << 30)  /* bytes of one blob */
#define OCI_PATH_MAX 4096           /* a path inside a layer */
#define OCI_ENTRIES_MAX 2000000     /* entries of one layer */

/* ---- references ---------------------------------------------------------- */

/*
 * A reference in the distribution grammar with Docker's defaults:
 * "busybox" is docker.io/library/busybox:latest, served by
 * registry-1.docker.io; "localhost:5000/a/b@sha256:..." keeps its digest.
 */
struct oci_ref {
    char *domain; /* "docker.io", "127.0.0.1:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* "latest" (NULL when only a digest is given) */
    char *digest; /* "sha256:<64 hex>" or NULL */
};

int oci_ref_parse(const char *s, struct oci_ref *ret, struct error *err) WUR;
void oci_ref_release(struct oci_ref *r);
/* "docker.io/library/busybox:latest" (digest form when there is a digest). Caller frees. */
char *oci_ref_string(const struct oci_ref *r);
/* The familiar short form users typed: "busybox:latest", "localhost:5000/a/b:1"; it parses
 * back to the same reference ("docker.io/my.org/app:1" keeps docker.io). Caller frees. */
char *oci_ref_familiar(const struct oci_ref *r);
/* The host to contact: "registry-1.docker.io" for docker.io, else the domain. */
const char *oci_ref_registry_host(const struct oci_ref *r);

/* ---- sources ------------------------------------------------------------- */

enum oci_source_kind { OCI_SOURCE_REGISTRY, OCI_SOURCE_LAYOUT, OCI_SOURCE_ARCHIVE };

struct oci_source {
    enum oci_source_kind kind;
    struct oci_ref ref; /* registry */
    char *path;         /* layout directory or archive file */
    /* layout: the image's ref.name annotation; archive: a reference matched against the
     * RepoTags, or "@N" (the Nth image, from 0); NULL for the only one */
    char *tag;
};

/*
 * "oci-layout:DIR[:TAG]", "docker-archive:FILE[:REF|:@N]" (the first ':'
 * after the prefix separates, as skopeo does), else a registry reference.
 */
int oci_source_parse(const char *s, struct oci_source *ret, struct error *err) WUR;
void oci_source_release(struct oci_source *s);

/* ---- pulling ------------------------------------------------------------- */

/* Progress of one blob, for a `docker pull`-like display. */
enum oci_progress_state {
    OCI_PROGRESS_WAITING,
    OCI_PROGRESS_DOWNLOADING,
    OCI_PROGRESS_VERIFYING,
    OCI_PROGRESS_CACHED, /* already in the cache */
    OCI_PROGRESS_DONE,
    OCI_PROGRESS_RETRYING,
};

struct oci_progress {
    const char *digest; /* the blob's digest */
    bool is_layer;
    enum oci_progress_state state;
    uint64_t done, total; /* bytes */
};

struct oci_pull_opts {
    const char *cache_dir;           /* blobs live in <cache_dir>/sha256/<hex> */
    const char *registry_config_dir; /* holds config.json; NULL: $DOCKER_CONFIG or ~/.docker */
    const char *const *insecure;     /* registries (host[:port]) allowed over plain http */
    size_t n_insecure;
    int max_parallel;              /* layers downloaded at once; 0: 3 */
    const char *os, *arch;         /* platform; NULL: linux and the host's (amd64 here) */
    const char *ca_file;           /* extra CA bundle (tests); NULL: the system's */
    int retries;                   /* transient failures retried per request; 0: 4 */
    volatile sig_atomic_t *cancel; /* when set non-zero, the pull stops with -ECANCELED */
    void (*progress)(void *ud, const struct oci_progress *p); /* may be NULL */
    void *progress_ud;
};

struct oci_layer {
    char *digest;     /* "sha256:..." */
    char *media_type; /* tar, tar+gzip or tar+zstd, OCI or Docker names */
    uint64_t size;
};

/* One resolved image, its blobs in the cache. */
struct oci_image {
    char *manifest_digest; /* of the platform manifest */
    char *config_digest;   /* the image id */
    char *repo_digest;     /* "docker.io/library/busybox@sha256:..." (registry only, else NULL) */
    struct oci_layer *layers;
    size_t n_layers;
    uint64_t size;   /* sum of the layers' sizes */
    char *os, *arch; /* from the config */
};

void oci_image_release(struct oci_image *img);

/*
 * Resolves src to the image for the platform and fetches what the cache
 * lacks. Registry: /v2/ ping, Bearer (anonymous or ~/.docker/config.json
 * credentials) or Basic auth, Accept headers for OCI and Docker manifests
 * and indexes, attestation manifests skipped, blob redirects followed,
 * transient errors retried with backoff and resumed with Range, TLS
 * verified (plain http only for loopback or `insecure`). Every blob's size
 * and sha256 are checked as it streams; a mismatch drops the data and fails
 * with -EBADMSG naming the digest. Nothing partial is left in the cache.
 */
int oci_pull(const struct oci_source *src, const struct oci_pull_opts *opts, struct oci_image *ret,
             struct error *err) WUR;

/* The path of a cached blob ("<cache>/sha256/<hex>"); caller frees. */
char *oci_blob_path(const char *cache_dir, const char *digest);

/* ---- unpacking ------------------------------------------------------------ */

/*
 * Applies the image's layers in order into dir (which must exist and be
 * empty): tar, gzip or zstd; whiteouts (.wh.NAME) and opaque directories
 * (.wh..wh..opq) honoured; owners, modes, times, xattrs, symlinks, hard links
 * and device nodes kept (owners and device nodes need root; without it they
 * are skipped and counted). Every path of a layer is resolved as Docker
 * resolves it, as if dir were "/" (openat2 RESOLVE_IN_ROOT or a walk by the
 * same rules): an absolute symlink from dir, ".." never above dir, so
 * `var/run -> /run` then `var/run/x` writes dir/run/x, and nothing outside
 * dir is ever reached. An entry's own name is replaced, never followed.
 * Errors name the layer and entry: more than 40 symlinks on a path (-ELOOP),
 * a file where a directory is needed (-ENOTDIR), a missing hard link target
 * (-ENOENT), an entry replacing the root or a whiteout of "." or ".."
 * (-EPERM). On error dir may hold a partial tree; the caller removes it.
 */
int oci_unpack(const struct oci_image *img, const char *cache_dir, const char *dir,
               volatile sig_atomic_t *cancel, struct error *err) WUR;

/*
 * Unpacks one tar file (plain or compressed) into dir (which must exist)
 * with the same guards as oci_unpack: nothing is written outside dir.
 * Errors name the file as the layer.
 */
int oci_unpack_tar(const char *tar, const char *dir, volatile sig_atomic_t *cancel,
                   struct error *err) WUR;

/* ---- ext4 ------------------------------------------------------------------ */

/* The bytes an ext4 filesystem needs for dir's content plus headroom. */
int oci_ext4_size_for(const char *dir, uint64_t *ret, struct error *err) WUR;

/*
 * Builds an ext4 filesystem of size bytes from dir into target (a block
 * device or a regular file of that size): `mke2fs -t ext4 -b 4096 -d DIR`.
 */
int oci_ext4_build(const char *dir, const char *target, uint64_t size, const char *label,
                   struct error *err) WUR;

/*
 * Writing files into an ext4 image without mounting it, through e2fsprogs'
 * debugfs, which resolves every path inside the image's own filesystem: a
 * guest symlink can never lead a write onto the host. More than that, a
 * write is refused (-EPERM, naming the path) when any parent component of
 * the guest path or the file itself is a symlink inside the image, so a
 * write never lands outside the directory the caller meant either.
 *
 * For each file: missing parent directories are made (0755, root-owned), an
 * existing regular file is replaced, and the file gets mode, uid and gid.
 * Contents (data, or a copy of host_path, a regular host file; a symlink
 * on the host is followed, as a caller's own path) are staged in a
 * directory the call makes inside work_dir (an existing absolute directory
 * the caller owns; "ext4-XXXXXX", 0700, its files 0600) and removes before
 * it returns. A process killed during the call leaves that directory in
 * work_dir: the caller's recovery removes work_dir. Guest paths must
 * be absolute and normalised ("." and ".." components, empty components and
 * a trailing '/' are refused), at most OCI_PATH_MAX bytes, without control
 * characters, whitespace, quotes or backslashes (debugfs's command parser
 * would split or unquote them): -EINVAL naming the path. -ENOSPC (naming the
 * path) when the image has too few free blocks or inodes, checked before
 * anything is written; -EIO when a file is not what was asked afterwards
 * (each one is checked with `stat`: type, mode, owner, size).
 */
#define OCI_EXT4_FILES_MAX 4096 /* files of one oci_ext4_write_files call */

struct oci_ext4_file {
    const char *guest_path; /* absolute, normalised, no ".." */
    const char *host_path;  /* a regular file to copy, or NULL to write data */
    const void *data;       /* used when host_path is NULL */
    size_t len;             /* bytes of data */
    uint32_t mode;          /* permission bits (07777 at most), e.g. 0644 */
    uint32_t uid, gid;
};

/*
 * Writes n files into the ext4 filesystem in image (a file or block device),
 * staging them in work_dir. Fault point ext4.write.after-stage: the contents
 * are staged, debugfs has not run.
 */
int oci_ext4_write_files(const char *image, const struct oci_ext4_file *files, size_t n,
                         const char *work_dir, struct error *err) WUR;

/*
 * Makes the directory guest_path in image with mode (permission bits), uid
 * and gid; missing parents are made 0755 and root-owned, an existing
 * directory gets mode and owner. Refused as oci_ext4_write_files refuses: a
 * symlink anywhere on the path (-EPERM), a non-directory on it (-ENOTDIR or
 * -EEXIST), a path debugfs cannot take (-EINVAL). Checked afterwards.
 * debugfs's command files go to work_dir as for oci_ext4_write_files.
 */
int oci_ext4_dir_make(const char *image, const char *guest_path, uint32_t mode, uint32_t uid,
                      uint32_t gid, const char *work_dir, struct error *err) WUR;

/*
 * Resolves the symlinks on guest_path inside the image, as openat2's
 * RESOLVE_IN_ROOT would: an absolute target starts again at the image's
 * root, ".." never climbs above it; a missing component ends the walk (the
 * rest is kept as given). For writing below a directory an image may have
 * moved (merged /usr: /lib -> usr/lib). A symlink too long to be stored in
 * its inode is refused (-EPERM), more than 40 hops are -ELOOP. *ret is the
 * resolved absolute path; caller frees. work_dir as for oci_ext4_dir_make.
 */
int oci_ext4_resolve(const char *image, const char *guest_path, const char *work_dir, char **ret,
                     struct error *err) WUR;

/* ---- kernels ---------------------------------------------------------------- */

enum oci_kernel_format { OCI_KERNEL_ELF, OCI_KERNEL_BZIMAGE };

/*
 * Identifies a kernel image: an ELF vmlinux or an x86 bzImage, and its
 * version ("6.1.0-56-amd64", read from the image's "Linux version" banner).
 */
int oci_kernel_identify(const char *path, enum oci_kernel_format *ret_format, char **ret_version,
                        struct error *err) WUR;

/*
 * Extracts the uncompressed ELF vmlinux from a bzImage (whose payload is
 * gzip, xz, lzma, bzip2, lz4 or zstd compressed) into out. Firecracker needs
 * the ELF; QEMU boots either. -ENOEXEC when the file holds no ELF that can
 * be extracted (not a bzImage, or no payload that decompresses to a whole
 * ELF): a property of the kernel. Any other error is this host's (the
 * bzImage cannot be read, out cannot be written: -ENOSPC, -EIO, -EDQUOT...,
 * memory, libarchive), named with the file and the cause; out is then not
 * there (it is written under a temporary name and renamed when complete).
 */
int oci_kernel_extract_vmlinux(const char *bzimage, const char *out, struct error *err) WUR;

/*
 * Finds a kernel in an unpacked image tree: /boot/vmlinux (Ignite's
 * convention), else the newest /boot/vmlinuz-*; an initrd (/boot/initrd.img*,
 * /boot/initrd*) if there is one; /lib/modules. Paths returned relative to
 * dir; absent ones NULL. Caller frees.
 */
struct oci_kernel_files {
    char *kernel;
    char *initrd;
    char *modules; /* "lib/modules" when present */
};
int oci_kernel_find(const char *dir, struct oci_kernel_files *ret, struct error *err) WUR;
void oci_kernel_files_release(struct oci_kernel_files *k);

/* How a kernel has a driver. */
enum oci_kernel_has { OCI_KERNEL_MISSING, OCI_KERNEL_BUILTIN, OCI_KERNEL_MODULE };

/*
 * How a kernel has the three drivers a VM's root needs (kernel_config.c):
 * has[0] ext4, has[1] virtio_blk, has[2] virtio_mmio (oci_kernel_root_driver_name
 * names them); source is the file that told.
 */
struct oci_kernel_root {
    enum oci_kernel_has has[3];
    char source[4096];
};

/* "ext4", "virtio_blk", "virtio_mmio" for 0, 1, 2. */
const char *oci_kernel_root_driver_name(size_t i);

/*
 * Reads how the kernel has the drivers from the first source that exists:
 * config (its .config, e.g. /boot/config-<version>; NULL: none), else the
 * modules.builtin (and modules.dep beside it) of each directory of
 * modules_dirs in turn (/lib/modules/<version>; NULL entries skipped).
 * -ENOENT when none exists: it cannot be told.
 */
int oci_kernel_root_drivers(const char *config, const char *const *modules_dirs, size_t n_dirs,
                            struct oci_kernel_root *ret, struct error *err) WUR;

#endif
