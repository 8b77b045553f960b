/*
 * engine vm_proc: is this process a VM's monitor or VMM? The one place that
 * answers it, asked before every signal hearth sends to a VM's processes
 * (stop, kill, rm -f, the refresh every command runs, doctor's stray
 * processes) and whenever a VM's monitor decides whether the VM runs.
 *
 * A recorded pid and start time are not enough: any user can read both of
 * any process from /proc, so a database written by someone else could name
 * a process that is not hearth's. A process is the VM's only when, besides
 * running with that pid and start time (a zombie counts as gone):
 *
 *   monitor: its argv is `<exe> __monitor ROOT UID FD` for this root and
 *            this VM, and its executable is a hearth binary: this process's
 *            own, or the one recorded as the monitor in the VM's launch.json
 *            (a start through another binary);
 *   VMM:     its working directory is the VM's runtime directory (the
 *            monitor runs it there), its argv names the VM (firecracker's
 *            `--id UID`, QEMU's `-name hearth-UID`), and its executable has
 *            the name of the binary recorded in launch.json.
 *
 * A user other than root cannot read another user's exe and cwd: for such a
 * process the argv alone decides (it could not be signalled anyway).
 *
 * The runtime directory, <root>/run/vm/<uid>, is made by hearth 0700 and
 * checked like the root (engine_dir_make), so no other user can have put a
 * process there or written its launch.json.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine_priv.h"
#include "engine/vm_priv.h"

#define VM_PROC_ARGV_MAX 16384 /* bytes of argv looked at; a longer one is not hearth's */

/* This process's executable, read once per engine. */
static const char *self_exe(engine *e) {
    if (!e->self_exe) {
        char buf[PATH_MAX];
        if (proc_exe(0, buf, sizeof(buf)) == 0)
            e->self_exe = xstrdup(buf);
    }
    return e->self_exe;
}

/* Word i of a NUL-separated argv of argc words (i < argc). */
static const char *argv_word(const char *argv, size_t i) {
    while (i-- > 0)
        argv += strlen(argv) + 1;
    return argv;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* What launch.json of uid's runtime directory records; false when it is not there. */
static bool launch_get(engine *e, const char *uid, struct vm_launch *ret) {
    _cleanup_free_ char *dir = vm_run_dir(e, uid);
    _cleanup_free_ char *path = dir ? xasprintf("%s/" VM_LAUNCH_FILE, dir) : NULL;
    return path && vm_launch_read(path, ret, NULL) == 0;
}

/*
 * What a check that could not read a process's exe or cwd concludes. A user
 * other than root may not look at another user's processes (/proc/PID/exe
 * and cwd need ptrace rights), nor signal them: for such a process the
 * argv, which anyone can read, decides whether the VM runs (a VM of root's
 * seen by another user), and a signal would fail anyway. For root nothing
 * is out of reach: what it cannot check, it does not take for the VM's.
 */
static bool out_of_reach(int r) {
    return (r == -EACCES || r == -EPERM) && geteuid() != 0;
}

static bool is_monitor(engine *e, const char *uid, int pid) {
    _cleanup_free_ char *argv = xmalloc(VM_PROC_ARGV_MAX);
    size_t argc = 0;
    if (!argv || proc_cmdline(pid, argv, VM_PROC_ARGV_MAX, &argc) < 0 || argc != 5)
        return false;
    if (strcmp(argv_word(argv, 1), "__monitor") != 0 || strcmp(argv_word(argv, 2), e->root) != 0 ||
        strcmp(argv_word(argv, 3), uid) != 0)
        return false;
    char exe[PATH_MAX];
    int r = proc_exe(pid, exe, sizeof(exe));
    if (r < 0)
        return out_of_reach(r);
    const char *self = self_exe(e);
    if (self && strcmp(exe, self) == 0)
        return true;
    struct vm_launch l;
    if (!launch_get(e, uid, &l))
        return false;
    bool same = l.monitor && strcmp(exe, l.monitor) == 0;
    vm_launch_release(&l);
    return same;
}

static bool is_vmm(engine *e, const char *uid, int pid) {
    _cleanup_free_ char *dir = vm_run_dir(e, uid);
    _cleanup_free_ char *named = xasprintf("hearth-%s", uid);
    _cleanup_free_ char *argv = xmalloc(VM_PROC_ARGV_MAX);
    char cwd[PATH_MAX], exe[PATH_MAX];
    size_t argc = 0;
    if (!dir || !named || !argv || proc_cmdline(pid, argv, VM_PROC_ARGV_MAX, &argc) < 0)
        return false;
    bool names_vm = false;
    const char *w = argv;
    for (size_t i = 0; i < argc && !names_vm; i++, w += strlen(w) + 1)
        names_vm = strcmp(w, uid) == 0 || strcmp(w, named) == 0;
    if (!names_vm)
        return false;
    int r = proc_cwd(pid, cwd, sizeof(cwd));
    if (r == 0)
        r = proc_exe(pid, exe, sizeof(exe));
    if (r < 0)
        return out_of_reach(r);
    if (strcmp(cwd, dir) != 0)
        return false;
    struct vm_launch l;
    if (!launch_get(e, uid, &l))
        return false;
    bool same = strcmp(base_name(exe), base_name(l.binary)) == 0;
    vm_launch_release(&l);
    return same;
}

bool vm_proc_is(engine *e, const char *uid, enum vm_proc_role role, int pid, uint64_t start) {
    if (!uid || !id_is_valid(uid) || !proc_is_alive(pid, start))
        return false;
    bool is = role == VM_PROC_MONITOR ? is_monitor(e, uid, pid) : is_vmm(e, uid, pid);
    if (!is)
        log_debug("vm %s: process %d is not its %s", uid, pid,
                  role == VM_PROC_MONITOR ? "monitor" : "vmm");
    return is;
}

/*
 * Signals the process through a pidfd opened before it is checked, so that
 * what is checked is what gets the signal even if the pid is reused meanwhile.
 * value >= 0 is sent as sigqueue's value (SI_QUEUE), as the monitor reads it.
 */
int vm_proc_signal(engine *e, const char *uid, enum vm_proc_role role, int pid, uint64_t start,
                   int sig, int value) {
    if (pid <= 0)
        return -ESRCH;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0 && errno != ENOSYS)
        return -errno;
    int r = 0;
    if (!vm_proc_is(e, uid, role, pid, start)) {
        r = -ESRCH;
    } else if (pfd >= 0) {
        siginfo_t si = {0};
        si.si_signo = sig;
        si.si_code = value >= 0 ? SI_QUEUE : SI_USER;
        si.si_pid = getpid();
        si.si_uid = getuid();
        si.si_value.sival_int = value >= 0 ? value : 0;
        if (syscall(SYS_pidfd_send_signal, pfd, sig, value >= 0 ? &si : NULL, 0) < 0)
            r = -errno;
    } else if ((value >= 0 ? sigqueue(pid, sig, (union sigval){.sival_int = value})
                           : kill(pid, sig)) < 0) {
        r = -errno;
    }
    if (pfd >= 0)
        close(pfd);
    return r;
}

/*
 * The monitor's mark. The lock is a process's own: the kernel drops it when
 * the process exits (before it becomes a zombie), and F_GETLK names the
 * holder's pid. Only a process that can write the runtime directory (0700,
 * checked like the root) can make the file, and the monitor writes its own
 * pid and start time, so a holder with the recorded pid and a file with the
 * recorded start time is the monitor that vm_proc_is checked when it
 * recorded itself, alive now: checking its argv and executable again would
 * say what they said then. The refresh of every command asks this for every
 * running VM; an open, a read and an fcntl cost a few microseconds, where
 * /proc's stat, cmdline and exe cost about 20 (docs/performance.md).
 */
#define VM_MARK_MAX 64

int vm_proc_monitor_mark(void) {
    uint64_t start = 0;
    int r = proc_start_time(0, &start);
    if (r < 0)
        return r;
    int fd = open(VM_MONITOR_LOCK, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char buf[VM_MARK_MAX];
    int n = snprintf(buf, sizeof(buf), "%d %" PRIu64 "\n", (int)getpid(), start);
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (write(fd, buf, (size_t)n) != n || fcntl(fd, F_SETLK, &l) < 0) {
        r = errno ? -errno : -EIO;
        close(fd);
        return r;
    }
    return fd;
}

bool vm_proc_monitor_marked(engine *e, const char *uid, int pid, uint64_t start) {
    if (!uid || !id_is_valid(uid) || pid <= 0)
        return false;
    _cleanup_free_ char *dir = vm_run_dir(e, uid);
    _cleanup_free_ char *path = dir ? xasprintf("%s/" VM_MONITOR_LOCK, dir) : NULL;
    int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (fd < 0)
        return false;
    char buf[VM_MARK_MAX], want[VM_MARK_MAX];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    bool held = n > 0 && fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK && l.l_pid == pid;
    close(fd);
    if (!held)
        return false;
    buf[n] = '\0';
    snprintf(want, sizeof(want), "%d %" PRIu64 "\n", pid, start);
    return strcmp(buf, want) == 0;
}

#define VM_PROC_KILLED_MAX 16 /* monitors of one VM waited for; more are killed, not waited for */

void vm_proc_kill_monitors(engine *e, const char *uid, int wait_ms) {
    if (!uid || !id_is_valid(uid))
        return;
    DIR *dh = opendir("/proc");
    if (!dh)
        return;
    _cleanup_free_ char *argv = xmalloc(VM_PROC_ARGV_MAX);
    int killed[VM_PROC_KILLED_MAX];
    uint64_t killed_start[VM_PROC_KILLED_MAX];
    size_t n = 0;
    struct dirent *de;
    while (argv && (de = readdir(dh))) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        size_t argc = 0;
        uint64_t start = 0;
        if (!end || *end || pid <= 1 || pid == (long)getpid() ||
            proc_cmdline((int)pid, argv, VM_PROC_ARGV_MAX, &argc) < 0 || argc != 5 ||
            strcmp(argv_word(argv, 1), "__monitor") != 0 ||
            strcmp(argv_word(argv, 2), e->root) != 0 || strcmp(argv_word(argv, 3), uid) != 0 ||
            proc_start_time((int)pid, &start) < 0)
            continue;
        if (vm_proc_signal(e, uid, VM_PROC_MONITOR, (int)pid, start, SIGKILL, -1) == 0) {
            log_info("vm %s: killed monitor %ld of a start that was rolled back", uid, pid);
            if (n < VM_PROC_KILLED_MAX) {
                killed[n] = (int)pid;
                killed_start[n++] = start;
            }
        }
    }
    closedir(dh);
    int64_t deadline = time_now_ms() + wait_ms;
    for (size_t i = 0; i < n; i++)
        while (proc_is_alive(killed[i], killed_start[i]) && time_now_ms() < deadline)
            sleep_ms(10);
}
