/*
 * Internal pieces of the oci module's unpacking side (unpack.c, rmtree.c,
 * ext4.c, kernel.c) that are shared between its files and its tests. Not
 * part of the module's contract.
 */
#ifndef HEARTH_OCI_UNPACK_PRIV_H
#define HEARTH_OCI_UNPACK_PRIV_H

#include <stdbool.h>

#include "oci/oci.h"

/* Deepest directory nesting a layer may create (keeps recursive removal bounded in fds). */
#define OCI_DEPTH_MAX 256

/*
 * Removes name (relative to dirfd) and, when it is a directory, everything in
 * it, never following a symlink. Read-only directories are made writable
 * first. A missing name is not an error. depth is the current nesting (0).
 */
int rmtree_at(int dirfd, const char *name, int depth, struct error *err) WUR;

/*
 * Opens the directory at the relative path rel ("" is root_fd itself) below
 * root_fd, never leaving it: symlinks that stay inside are followed,
 * absolute symlinks and ".." that would leave are refused with -EXDEV,
 * magic links with -ELOOP. Uses openat2(RESOLVE_BENEATH); when the kernel
 * lacks it (or force_walk is set, for tests) walks component by component
 * with O_NOFOLLOW and refuses every symlink. Returns the fd or a negative
 * errno (-ENOENT, -ENOTDIR, -EXDEV, ...).
 */
int unpack_open_beneath(int root_fd, const char *rel, bool force_walk);

#endif
