/*
 * file driver internals shared by its source files and the tests.
 */
#ifndef HEARTH_POOL_FILE_PRIV_H
#define HEARTH_POOL_FILE_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include "pool/pool_priv.h"

/*
 * Makes dst (empty, open for writing) a clone of src's first src_size bytes:
 * a FICLONE reflink when the filesystem can, else a copy that keeps holes.
 * *ret_reflinked says which. A negative errno on failure.
 */
int file_clone(int src, int dst, off_t src_size, bool *ret_reflinked) WUR;

/* The two halves of file_clone: a FICLONE reflink (-EOPNOTSUPP where the
 * filesystem cannot), and the copy that keeps holes. */
int file_reflink(int src, int dst) WUR;
int file_copy(int src, int dst, off_t src_size) WUR;

#endif
