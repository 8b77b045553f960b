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
 *   - the database (hearth.db, -wal, -shm), <root>/run and <root>/run/vm,
 *     when they exist, and every directory under the root hearth makes or
 *     reuses (engine_dir_make, e.g. a VM's runtime directory), must be owned
 *     by root and not writable by group or others.
 *
 * The error names the path, its owner and mode, and how to fix it. hearth
 * makes everything under the root for its user alone (directories 0700,
 * files 0600, whatever the umask), and tightens what it owns that an older
 * version left readable by others: the root directory becomes 0700 (with a
 * warning), the database files 0600. For a user other than root a root
 * directory of its own that is writable by others is tightened too (with a
 * warning); one that belongs to someone else is left to the open, which
 * fails for want of rights (cli/root.c explains that).
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
 * when this user owns it and others may read it. A missing one is fine.
 */
static int entry_check(const char *what, const char *path, mode_t mode, struct error *err) {
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
    if (st.st_uid == geteuid() && (st.st_mode & OPEN_BITS) && chmod(path, mode) < 0)
        return error_set(err, -errno, "cannot make %s '%s' private: %s", what, path,
                         strerror(errno));
    return 0;
}

int engine_root_check(const char *root, struct error *err) {
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
    }
    if (st.st_uid == geteuid() && (st.st_mode & OPEN_BITS)) {
        if (chmod(root, 0700) < 0)
            return error_set(err, -errno, "cannot make root directory '%s' private: %s", root,
                             strerror(errno));
        log_warn("root directory '%s' was open to other users (mode %04o): made it 0700", root,
                 (unsigned)(st.st_mode & 07777));
    }
    static const char *const files[] = {"hearth.db", "hearth.db-wal", "hearth.db-shm"};
    static const char *const dirs[] = {"run", "run/vm"};
    char path[PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, files[i]);
        int r = entry_check("database file", path, 0600, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        int r = entry_check("runtime directory", path, 0700, err);
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
    return entry_check("directory", path, 0700, err);
}
