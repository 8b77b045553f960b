/*
 * Internal pieces of the oci module's unpacking side (unpack.c, resolve.c,
 * ext4.c, kernel.c) that are shared between its files and its tests. Not
 * part of the module's contract.
 */
#ifndef HEARTH_OCI_UNPACK_PRIV_H
#define HEARTH_OCI_UNPACK_PRIV_H

#include <stdbool.h>

#include "oci/oci.h"

/* Deepest directory nesting a layer may create (keeps recursive removal bounded in fds). */
#define OCI_DEPTH_MAX 256

/* oci_unpack with extra unpack_open_in_root flags (tests: INROOT_WALK for the walk). */
int unpack_image(const struct oci_image *img, const char *cache_dir, const char *dir,
                 volatile sig_atomic_t *cancel, unsigned inroot, struct error *err) WUR;

/* ---- paths inside the root (resolve.c) ---------------------------------- */

/* Symlinks one lookup follows before it fails with -ELOOP (the kernel's MAXSYMLINKS). */
#define OCI_LINKS_MAX 40

/*
 * Normalises a layer path lexically into out ("a/b/c", "" for the root), as
 * Docker's filepath.Clean does: leading "/" and "./" dropped, "." and empty
 * components dropped, ".." applied, and ".." at the root stays there.
 * -ENAMETOOLONG past OCI_PATH_MAX. *ret_depth is the number of components.
 */
int unpack_path_normalize(const char *in, char out[OCI_PATH_MAX], int *ret_depth) WUR;

/* Splits "a/b/c" into parent "a/b" (in place) and returns "c"; "c" gives parent "". */
const char *unpack_path_split(char *path, const char **ret_parent);

/* Flags of unpack_open_in_root. */
#define INROOT_CREATE 1u      /* make missing directories on the way (0755) */
#define INROOT_WALK 2u        /* the user-space walk even where openat2 works (tests) */
#define INROOT_NO_SYMLINKS 4u /* follow no symlink at all: meeting one is -ELOOP */

/* Told of each directory INROOT_CREATE made (its parent's fd and its name); < 0 stops. */
typedef int (*inroot_made_fn)(void *ud, int dir_fd, const char *name);

/*
 * Opens (O_PATH) the directory at rel ("" is root_fd itself) as if root_fd
 * were "/": symlinks are followed, an absolute one from root_fd, a relative
 * one from its directory; ".." never climbs above root_fd; more than
 * OCI_LINKS_MAX symlinks are -ELOOP; magic links (/proc) are -ELOOP. Nothing
 * outside root_fd is ever reached. openat2(RESOLVE_IN_ROOT) where the kernel
 * has it, else (and with INROOT_WALK or INROOT_CREATE when something is
 * missing) a walk one component at a time by the same rules. made (may be
 * NULL) is called for each directory INROOT_CREATE made. Returns the fd or
 * a negative errno (-ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, ...).
 */
int unpack_open_in_root(int root_fd, const char *rel, unsigned flags, inroot_made_fn made,
                        void *ud) WUR;

#endif
