/*
 * net netns: network namespaces kept by a bind mount on a file, as
 * `ip netns add` keeps them on /run/netns/NAME, so that one outlives the
 * process that made it and CNI plugins can be given its path.
 *
 * A new namespace is made by a thread of its own: it unshares its network
 * namespace (CLONE_NEWNET moves only the calling thread), binds
 * /proc/self/task/TID/ns/net onto the file, sets lo up inside and ends; no
 * thread of the caller ever changes namespace for it. The bind mount is made
 * in the caller's mount namespace (hearth runs as root in the host's), and a
 * namespace lives as long as the mount (or a process in it) does.
 *
 * A file holds a network namespace when it is on nsfs and the kernel says
 * the namespace behind it is a network one (NS_GET_NSTYPE).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net/net.h"

#define NETNS_UMOUNT_MAX 16 /* bind mounts stacked on one path that delete takes off */

static int path_check(const char *path, struct error *err) {
    if (!path || !path_is_host_clean(path))
        return error_set(err, -EINVAL, "'%s' is not a clean absolute path for a network namespace",
                         path ? path : "");
    return 0;
}

bool net_netns_exists(const char *path) {
    if (!path || !*path)
        return false;
    struct statfs fs;
    if (statfs(path, &fs) < 0 || fs.f_type != NSFS_MAGIC)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    int type = ioctl(fd, NS_GET_NSTYPE);
    close(fd);
    return type == CLONE_NEWNET;
}

/* What the thread that makes the namespace is given and tells back. */
struct netns_job {
    const char *path;
    int err;          /* an errno, 0 when it worked */
    const char *step; /* what failed */
    bool mounted;     /* the bind mount was made */
};

static int lo_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int e = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        e = errno;
    } else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            e = errno;
    }
    close(fd);
    return e;
}

static void *netns_thread(void *arg) {
    struct netns_job *j = arg;
    if (unshare(CLONE_NEWNET) < 0) {
        j->err = errno;
        j->step = "cannot make a network namespace";
        return NULL;
    }
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
    if (mount(self, j->path, "none", MS_BIND, NULL) < 0) {
        j->err = errno;
        j->step = "cannot bind the new network namespace onto it";
        return NULL;
    }
    j->mounted = true;
    j->err = lo_up();
    if (j->err)
        j->step = "cannot set lo up in it";
    return NULL;
}

int net_netns_create(const char *path, struct error *err) {
    int r = path_check(path, err);
    if (r < 0)
        return r;
    if (net_netns_exists(path))
        return error_set(err, -EEXIST, "network namespace '%s' exists already", path);
    _cleanup_free_ char *parent = xstrdup(path);
    if (!parent)
        return error_oom(err);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        r = fs_mkdir_parents(parent, 0755, err);
        if (r < 0)
            return r;
    }
    /* An empty file left by a create that died before its mount is taken as it is. */
    bool made = true;
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        struct stat st;
        struct statfs fs;
        made = false;
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
            (statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC))
            return error_set(err, -EEXIST,
                             "'%s' exists and is no network namespace: remove it, or choose "
                             "another path",
                             path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return error_set(err, -errno, "cannot make '%s': %s", path, strerror(errno));
    close(fd);

    struct netns_job job = {.path = path};
    pthread_t t;
    int e = pthread_create(&t, NULL, netns_thread, &job);
    if (e != 0) {
        job.err = e;
        job.step = "cannot start a thread to make a network namespace";
    } else {
        pthread_join(t, NULL);
    }
    if (job.err == 0)
        return 0;
    if (job.mounted)
        (void)umount2(path, MNT_DETACH);
    if (made)
        (void)unlink(path);
    return error_set(err, -job.err, "network namespace '%s': %s: %s", path, job.step,
                     strerror(job.err));
}

int net_netns_delete(const char *path, struct error *err) {
    int r = path_check(path, err);
    if (r < 0)
        return r;
    /* Every mount on it (one, unless a path was bound twice): EINVAL once none is left. */
    for (int i = 0; i < NETNS_UMOUNT_MAX; i++) {
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            break;
        return error_set(err, -errno, "cannot unmount network namespace '%s': %s", path,
                         strerror(errno));
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return error_set(err, -errno, "cannot remove network namespace '%s': %s", path,
                         strerror(errno));
    return 0;
}

int net_netns_enter(const char *path, int *ret_back, struct error *err) {
    int r = path_check(path, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open network namespace '%s': %s", path,
                         strerror(errno));
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
    _cleanup_close_ int back = open(self, O_RDONLY | O_CLOEXEC);
    if (back < 0)
        return error_set(err, -errno, "cannot open this thread's network namespace: %s",
                         strerror(errno));
    if (setns(fd, CLONE_NEWNET) < 0) {
        if (errno == EINVAL)
            return error_set(err, -EINVAL, "'%s' is not a network namespace", path);
        return error_set(err, -errno, "cannot enter network namespace '%s': %s", path,
                         strerror(errno));
    }
    *ret_back = back;
    back = -1;
    return 0;
}

void net_netns_leave(int back) {
    if (back < 0)
        return;
    if (setns(back, CLONE_NEWNET) < 0) {
        /* Going on would act on the wrong network: the thread cannot be left there. */
        log_msg(LOG_ERROR, "cannot go back to the network namespace left: %s", strerror(errno));
        abort();
    }
    close(back);
}
