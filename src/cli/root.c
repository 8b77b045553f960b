/*
 * What the CLI says when the root cannot be used by this user. Every command
 * that changes state writes to it (as does every open that can: it records
 * dead VMs as stopped and finishes interrupted operations), so a root that
 * belongs to someone else fails with SQLite's "unable to open database
 * file" or "attempt to write a readonly database", or mkdir's "Permission
 * denied". cli_root_explain replaces that with who owns what and what to do
 * instead. (Commands that only read open a database they may read
 * read-only instead: engine_open_reading.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_priv.h"

/* Whether this process may write path (its effective ids, as open would). */
static bool writable(const char *path) {
    return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
}

void cli_root_explain(const char *root, struct error *err) {
    /* Only a failure to open or write is explained (not a full disk, nor a
     * schema: engine_open_reading's own errors). */
    if (err->code != -EACCES && err->code != -EPERM && err->code != -EROFS && err->code != -ENOENT)
        return;
    char path[PATH_MAX];
    struct stat st;
    const char *what;
    int e = 0;
    if (snprintf(path, sizeof(path), "%s/hearth.db", root) >= (int)sizeof(path))
        return;
    if (stat(path, &st) == 0 && !writable(path)) {
        e = errno;
        what = "the database";
    } else {
        /* The root, or the nearest directory above it that exists. */
        snprintf(path, sizeof(path), "%s", root);
        what = "the root directory";
        while (stat(path, &st) < 0) {
            char *slash = strrchr(path, '/');
            if (errno != ENOENT || !slash)
                return;
            if (slash == path)
                slash[1] = '\0';
            else
                *slash = '\0';
            what = "the directory";
        }
        if (writable(path))
            return; /* not a matter of rights: keep the error as it is */
        e = errno;
    }
    if (e == EROFS) {
        error_set(err, -EROFS,
                  "cannot write %s '%s': it is on a read-only filesystem; use --root DIR for a "
                  "root on a writable one",
                  what, path);
        return;
    }
    char owner[64], me[64];
    user_name_format(st.st_uid, owner, sizeof(owner));
    user_name_format(geteuid(), me, sizeof(me));
    error_set(err, -EACCES,
              "cannot write %s '%s': it belongs to user '%s' (mode %04o) and hearth runs as user "
              "'%s'; use --root DIR for a root of your own, or run hearth as '%s' (sudo)",
              what, path, owner, (unsigned)(st.st_mode & 07777), me, owner);
}
