/*
 * Process identity, read from /proc.
 *
 * A pid alone names nothing for long: pids are reused, and any user can read
 * a process's pid and start time. proc_start_time/proc_is_alive tell a
 * recorded process from a later one with its pid (pid plus the start time in
 * clock ticks since boot), and count a zombie as dead; proc_exe, proc_cwd and proc_cmdline say what
 * a process is (its executable, its working directory, its argv), which the engine checks before it
 * signals a process it believes is its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#define PROC_DELETED " (deleted)" /* what readlink of a replaced executable ends with */

/* "/proc/self/NAME" for pid 0, else "/proc/PID/NAME". */
static void proc_path(int pid, const char *name, char *buf, size_t size) {
    if (pid == 0)
        snprintf(buf, size, "/proc/self/%s", name);
    else
        snprintf(buf, size, "/proc/%d/%s", pid, name);
}

/*
 * Reads /proc/PID/stat: field 3 (the state letter) and field 22 (starttime,
 * clock ticks since boot). The command name (field 2) may hold spaces and
 * parentheses, so fields are counted from the last ')'.
 */
static int proc_stat(int pid, char *ret_state, uint64_t *ret_start) {
    char path[64];
    proc_path(pid, "stat", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -EIO;
    *ret_state = p[2];
    p++;
    /* p is at " S ppid ..." : field 3 onwards; starttime is field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -EIO;
    }
    uint64_t v = 0;
    p++;
    if (*p < '0' || *p > '9')
        return -EIO;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *ret_start = v;
    return 0;
}

int proc_start_time(int pid, uint64_t *ret) {
    char state;
    return proc_stat(pid, &state, ret);
}

bool proc_is_alive(int pid, uint64_t start_time) {
    char state;
    uint64_t t;
    if (pid <= 0 || proc_stat(pid, &state, &t) < 0 || t != start_time)
        return false;
    /* A zombie (Z) or a dead task (X) runs nothing any more. */
    return state != 'Z' && state != 'X';
}

/* readlink of /proc/PID/NAME into buf, without a trailing " (deleted)". */
static int proc_link(int pid, const char *name, char *buf, size_t size) {
    char path[64];
    proc_path(pid, name, path, sizeof(path));
    if (size < 2)
        return -ENAMETOOLONG;
    ssize_t n = readlink(path, buf, size - 1);
    if (n < 0)
        return -errno;
    if ((size_t)n >= size - 1)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    size_t dl = strlen(PROC_DELETED);
    if ((size_t)n > dl && strcmp(buf + n - dl, PROC_DELETED) == 0)
        buf[n - dl] = '\0';
    return 0;
}

int proc_exe(int pid, char *buf, size_t size) {
    return proc_link(pid, "exe", buf, size);
}

int proc_cwd(int pid, char *buf, size_t size) {
    return proc_link(pid, "cwd", buf, size);
}

int proc_cmdline(int pid, char *buf, size_t size, size_t *ret_argc) {
    char path[64];
    proc_path(pid, "cmdline", path, sizeof(path));
    if (size < 2)
        return -E2BIG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* One byte more than fits tells an argv that is too long. */
    size_t len = 0;
    int r = 0;
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (r < 0)
        return r;
    if (len >= size)
        return -E2BIG;
    buf[len] = '\0';
    size_t argc = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            argc++;
    if (len > 0 && buf[len - 1] != '\0')
        argc++; /* a last word without its NUL (a process that rewrote its argv) */
    *ret_argc = argc;
    return 0;
}
