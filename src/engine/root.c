/*
 * engine root: who could have written what hearth is about to trust.
 *
 * hearth believes its root: it builds paths from the database's uids, signals
 * the processes it records and runs what launch.json names. So, as sshd's
 * StrictModes does for ~/.ssh, hearth running as root refuses a root that
 * another user could have written to:
 *
 *   - the root directory must be owned by root and not writable by group or
 *     others; so must every directory above it up to '/', except that one
 *     owned by root with the sticky bit (/tmp) may be writable by all, since
 *     nobody else may rename or remove what root made in it;
 *   - what hearth keeps at the top of the root (hearth.db, -wal, -shm,
 *     run, run/vm, vm, kernel, blobs, tmp, pool, pool.lock), when it
 *     exists, and every directory under the root hearth makes or reuses
 *     (engine_dir_make, e.g. a VM's runtime directory), must be owned by
 *     root and not writable by group or others.
 *
 * The error names the path, its owner and mode, and how to fix it. hearth
 * makes everything under the root for its user alone (directories 0700,
 * files 0600, whatever the umask), and closes what it owns that an older
 * version left open: those entries and the directories it reuses become
 * 0700, the database files 0600. The root directory's own mode is the
 * user's (it may be a directory that holds more than hearth's state), but a
 * user other than root whose root others may write gets the write bits
 * taken away, with a warning (as root that root is refused). A root that
 * belongs to someone else is left to the open, which fails for want of
 * rights (cli/root.c explains that).
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_priv.h"

#define OPEN_BITS 077  /* group and others */
#define WRITE_BITS 022 /* group and others may write */

/* The user name of uid, or its number. */
static void user_name(uid_t uid, char *buf, size_t size) {
    struct passwd pw, *found = NULL;
    char scratch[1024];
    if (getpwuid_r(uid, &pw, scratch, sizeof(scratch), &found) == 0 && found)
        snprintf(buf, size, "%s", found->pw_name);
    else
        snprintf(buf, size, "%u", (unsigned)uid);
}

/* The refusal: what (and where), its owner and mode, why it matters, and the fix. */
static int refuse(const char *what, const char *path, const char *where, const struct stat *st,
                  const char *fix, struct error *err) {
    char owner[64];
    user_name(st->st_uid, owner, sizeof(owner));
    bool other = st->st_uid != geteuid();
    char whose[128];
    if (other)
        snprintf(whose, sizeof(whose), "belongs to user '%s'", owner);
    else
        snprintf(whose, sizeof(whose), "is writable by group or others");
    return error_set(err, -EPERM,
                     "%s '%s'%s %s (mode %04o), and hearth runs as root: another user could "
                     "change what hearth trusts there (its database, the processes it signals); "
                     "fix it with '%s', or use --root DIR for a directory only root can write",
                     what, path, where, whose, (unsigned)(st->st_mode & 07777), fix);
}

static bool owned_closed(const struct stat *st) {
    return st->st_uid == geteuid() && (st->st_mode & WRITE_BITS) == 0;
}

/* The directories above root (an absolute, resolved path) up to '/'. */
static int parents_check(const char *root, struct error *err) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", root) >= (int)sizeof(path))
        return error_set(err, -ENAMETOOLONG, "root directory '%.64s...' is too long", root);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash)
            return 0;
        if (slash == path)
            slash[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (stat(path, &st) < 0)
            return error_set(err, -errno, "cannot look at '%s': %s", path, strerror(errno));
        bool sticky_root = st.st_uid == 0 && (st.st_mode & S_ISVTX);
        bool foreign = st.st_uid != 0 && st.st_uid != geteuid();
        if (foreign || ((st.st_mode & WRITE_BITS) && !sticky_root)) {
            char where[PATH_MAX + 32];
            snprintf(where, sizeof(where), " above root directory '%s'", root);
            char fix[2 * PATH_MAX + 64];
            if (foreign)
                snprintf(fix, sizeof(fix), "chown root %s && chmod go-w %s", path, path);
            else
                snprintf(fix, sizeof(fix), "chmod go-w %s", path);
            return refuse("directory", path, where, &st, fix, err);
        }
        if (strcmp(path, "/") == 0)
            return 0;
    }
}

/*
 * A file or directory under the root that exists: as root, refused when
 * another user owns it or may write it; for everyone, made private (mode)
 * when this user owns it and others may read it, if close is set. A missing
 * one is fine.
 */
static int entry_check(const char *what, const char *path, mode_t mode, bool close,
                       struct error *err) {
    struct stat st; /* of what a symlink names, as the open sees it */
    if (stat(path, &st) < 0)
        return errno == ENOENT
                   ? 0
                   : error_set(err, -errno, "cannot look at '%s': %s", path, strerror(errno));
    if (geteuid() == 0 && !owned_closed(&st)) {
        char fix[2 * PATH_MAX + 64];
        snprintf(fix, sizeof(fix), "chown root:root %s && chmod %04o %s", path, (unsigned)mode,
                 path);
        return refuse(what, path, "", &st, fix, err);
    }
    if (close && st.st_uid == geteuid() && (st.st_mode & OPEN_BITS) && chmod(path, mode) < 0)
        return error_set(err, -errno, "cannot make %s '%s' private: %s", what, path,
                         strerror(errno));
    return 0;
}

/* What hearth keeps at the top of its root, checked at every open: what, name, mode. */
static const struct {
    const char *what, *name;
    mode_t mode;
} root_entries[] = {
    {"database file", "hearth.db", 0600},
    {"database file", "hearth.db-wal", 0600},
    {"database file", "hearth.db-shm", 0600},
    {"runtime directory", "run", 0700},
    {"runtime directory", "run/vm", 0700},
    {"directory", "vm", 0700},
    {"directory", "kernel", 0700},
    {"directory", "blobs", 0700},
    {"directory", "tmp", 0700},
    {"directory", "pool", 0700},
    {"file", "pool.lock", 0600},
};

int engine_root_check(const char *root, bool close, struct error *err) {
    struct stat st;
    if (stat(root, &st) < 0)
        return error_set(err, -errno, "cannot use root directory '%s': %s", root, strerror(errno));
    if (geteuid() == 0) {
        if (!owned_closed(&st)) {
            char fix[2 * PATH_MAX + 64];
            snprintf(fix, sizeof(fix), "chown root:root %s && chmod 0700 %s", root, root);
            return refuse("root directory", root, "", &st, fix, err);
        }
        int r = parents_check(root, err);
        if (r < 0)
            return r;
    } else if (close && st.st_uid == geteuid() && (st.st_mode & WRITE_BITS)) {
        /* Another user could replace the database: not any more. Its reading
         * stays as the user made it; what hearth keeps in it is private. */
        mode_t mode = st.st_mode & 07777 & ~(mode_t)WRITE_BITS;
        if (chmod(root, mode) < 0)
            return error_set(err, -errno, "cannot close root directory '%s' to others: %s", root,
                             strerror(errno));
        log_warn("root directory '%s' was writable by group or others (mode %04o): made it %04o",
                 root, (unsigned)(st.st_mode & 07777), (unsigned)mode);
    }
    char path[PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(root_entries); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, root_entries[i].name);
        int r = entry_check(root_entries[i].what, path, root_entries[i].mode, close, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int engine_dir_make(const char *path, struct error *err) {
    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return error_set(err, -errno, "cannot create directory '%s': %s", path, strerror(errno));
    return entry_check("directory", path, 0700, true, err);
}
