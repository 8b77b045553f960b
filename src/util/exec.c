/*
 * Child processes and fault points.
 *
 * exec_start is the one way hearth starts a process (git's run-command,
 * libvirt's virCommand): an argv array, never a shell; descriptors other
 * than 0-2 closed (one more, pass_fd, given as 3); signals at their defaults;
 * optionally pipes to its stdio, a working directory, a parent-death signal,
 * or detached into its own session (double fork + setsid), or a function run
 * in a forked child instead of a program. A program that cannot be run is
 * reported by exec_start itself: the child writes the errno of its failed
 * step on a close-on-exec pipe, which a successful exec closes unwritten.
 * exec_finish reaps; exec_run runs a helper program to its end, its stdout
 * optionally collected and stderr always, so that a failure's message can
 * say what the program said, the child reaped also on timeout.
 *
 * Process identity (pid plus start time, exe, cwd, argv) is in proc.c.
 * user_name_format names the user a process runs as (or owns a file).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define STDERR_KEEP 4096            /* bytes of a child's stderr kept for the error message */
#define EXEC_CLOSE_RANGE_CLOEXEC 4U /* linux/close_range.h CLOSE_RANGE_CLOEXEC */
#define EXEC_FD_SCAN_MAX 4096       /* descriptors walked where close_range is missing */
#define EXEC_PARK_FD 10             /* where the child parks descriptors before placing them */

extern char **environ;

/* What a child tells its starter on the report pipe before it execs (or instead). */
struct exec_report {
    int tag;   /* EXEC_REPORT_* */
    int value; /* a pid or an errno */
};
enum { EXEC_REPORT_PID = 1, EXEC_REPORT_ERRNO = 2 };

/*
 * Closes every descriptor from first on, or (at_exec) marks it close-on-exec,
 * so that descriptors the child still needs until its exec stay usable. The
 * one fallback for kernels without close_range.
 */
static void close_from(int first, bool at_exec) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, at_exec ? EXEC_CLOSE_RANGE_CLOEXEC : 0U) ==
        0)
        return;
    for (int fd = first; fd < EXEC_FD_SCAN_MAX; fd++) {
        if (at_exec)
            (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        else
            close(fd);
    }
}

static void report(int fd, int tag, int value) {
    struct exec_report m = {tag, value};
    ssize_t n = write(fd, &m, sizeof(m));
    (void)n; /* a starter that cannot read it sees the child's exit instead */
}

/* The descriptor the child's fd `which` (0-3) is made from, or -1 to open /dev/null. */
static int child_source(int spec, int which, int pipe_end) {
    if (spec == EXEC_PIPE)
        return pipe_end;
    if (spec == EXEC_INHERIT)
        return which;
    return spec > 0 ? spec : -1;
}

/* In the child, after the fork: only async-signal-safe calls from here on. */
_Noreturn static void child_run(const char *const *argv, const struct exec_opts *o,
                                const int src[4], int rep, pid_t parent) {
    if (o->pdeathsig > 0 && (prctl(PR_SET_PDEATHSIG, o->pdeathsig) < 0 || getppid() != parent))
        _exit(127); /* the parent is gone already */
    if (o->detach) {
        if (setsid() < 0) {
            report(rep, EXEC_REPORT_ERRNO, errno);
            _exit(127);
        }
        pid_t gc = fork();
        if (gc != 0) {
            report(rep, gc > 0 ? EXEC_REPORT_PID : EXEC_REPORT_ERRNO, gc > 0 ? (int)gc : errno);
            _exit(gc > 0 ? 0 : 127);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL);

    /* Each source parked above 3 first, so that placing one cannot clobber another. */
    int parked[4];
    int e = 0;
    for (int i = 0; i < 4 && e == 0; i++) {
        parked[i] = -1;
        int fd = src[i];
        if (fd < 0 && i < 3)
            fd = open(i == 0 && o->stdin_path ? o->stdin_path : "/dev/null",
                      (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0)
            parked[i] = fcntl(fd, F_DUPFD_CLOEXEC, EXEC_PARK_FD);
        if ((i < 3 || src[3] >= 0) && parked[i] < 0)
            e = errno ? errno : EBADF;
    }
    for (int i = 0; i < 4 && e == 0; i++)
        if (parked[i] >= 0 && dup2(parked[i], i) < 0)
            e = errno;
    if (e == 0 && o->cwd && chdir(o->cwd) < 0)
        e = errno;
    if (e == 0 && o->fn) {
        close(rep);
        close_from(src[3] >= 0 ? 4 : 3, false);
        _exit(o->fn(o->fn_arg));
    }
    if (e == 0) {
        /* Everything past 2 (3: pass_fd) goes at the exec, the report pipe too. */
        close_from(src[3] >= 0 ? 4 : 3, true);
        char *const *envp = o->envp ? (char *const *)o->envp : environ;
        const char *file = o->program ? o->program : argv[0];
        if (strchr(file, '/'))
            execve(file, (char *const *)argv, envp);
        else
            execvpe(file, (char *const *)argv, envp);
        e = errno;
    }
    report(rep, EXEC_REPORT_ERRNO, e);
    _exit(127);
}

static void close_pair(int p[2]) {
    closep(&p[0]);
    closep(&p[1]);
}

/* Reads the child's reports until the pipe ends: its pid (detached) and a failure's errno. */
static void read_reports(int rep, pid_t *ret_pid, int *ret_errno) {
    struct exec_report m;
    for (;;) {
        ssize_t n = read(rep, &m, sizeof(m));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(m))
            return;
        if (m.tag == EXEC_REPORT_PID)
            *ret_pid = m.value;
        else if (m.tag == EXEC_REPORT_ERRNO)
            *ret_errno = m.value ? m.value : EIO;
    }
}

static void reap(pid_t pid, int *ret_status) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (ret_status)
        *ret_status = status;
}

int exec_start(const char *const *argv, const struct exec_opts *opts, struct exec_proc *ret,
               struct error *err) {
    static const struct exec_opts none = {0};
    if (!opts)
        opts = &none;
    if (!argv || !argv[0])
        return error_set(err, -EINVAL, "no program to run");
    const char *prog = argv[0];
    if (opts->detach && opts->pdeathsig > 0)
        return error_set(err, -EINVAL, "'%s': a detached process has no parent to die with", prog);

    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
    if ((opts->stdin_fd == EXEC_PIPE && pipe2(in, O_CLOEXEC) < 0) ||
        (opts->stdout_fd == EXEC_PIPE && pipe2(out, O_CLOEXEC) < 0) ||
        (opts->stderr_fd == EXEC_PIPE && pipe2(errp, O_CLOEXEC) < 0) || pipe2(rep, O_CLOEXEC) < 0) {
        int e = errno;
        close_pair(in);
        close_pair(out);
        close_pair(errp);
        return error_set(err, -e, "cannot make pipes for '%s': %s", prog, strerror(e));
    }
    const int src[4] = {
        child_source(opts->stdin_fd, 0, in[0]), child_source(opts->stdout_fd, 1, out[1]),
        child_source(opts->stderr_fd, 2, errp[1]), opts->pass_fd > 0 ? opts->pass_fd : -1};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_run(argv, opts, src, rep[1], parent);
    int e = pid < 0 ? errno : 0;
    closep(&in[0]);
    closep(&out[1]);
    closep(&errp[1]);
    closep(&rep[1]);
    pid_t run = pid;
    if (pid > 0) {
        if (opts->detach)
            run = -1;
        read_reports(rep[0], &run, &e);
        if (opts->detach)
            reap(pid, NULL); /* the first child, which exited once it forked */
        else if (e != 0)
            reap(pid, NULL);
        if (opts->detach && run <= 0 && e == 0)
            e = ECHILD;
    }
    closep(&rep[0]);
    if (e != 0) {
        close_pair(in);
        close_pair(out);
        close_pair(errp);
        if (pid < 0)
            return error_set(err, -e, "cannot fork for '%s': %s", prog, strerror(e));
        return error_set(err, -e, "cannot run '%s': %s", prog, strerror(e));
    }
    *ret = (struct exec_proc){
        .pid = run, .in = in[1], .out = out[0], .err = errp[0], .detached = opts->detach};
    return 0;
}

int exec_finish(struct exec_proc *p, int *ret_status, struct error *err) {
    int *fds[] = {&p->in, &p->out, &p->err};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        closep(fds[i]);
        *fds[i] = -1;
    }
    int status = 0;
    if (!p->detached && p->pid > 0) {
        while (waitpid(p->pid, &status, 0) < 0) {
            if (errno != EINTR)
                return error_set(err, -errno, "cannot wait for process %d: %s", (int)p->pid,
                                 strerror(errno));
        }
        p->pid = 0;
    }
    if (ret_status)
        *ret_status = status;
    return 0;
}

/* Appends what fd has to sb, keeping at most max bytes (the tail for stderr). */
static int drain(int fd, struct strbuf *sb, size_t max, bool keep_tail, bool *eof) {
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (n == 0) {
        *eof = true;
        return 0;
    }
    if (!sb)
        return 0;
    if (keep_tail && sb->len + (size_t)n > max) {
        size_t drop = sb->len + (size_t)n - max;
        if (drop >= sb->len) {
            strbuf_reset(sb);
        } else {
            memmove(sb->buf, sb->buf + drop, sb->len - drop);
            sb->len -= drop;
            sb->buf[sb->len] = '\0';
        }
    } else if (!keep_tail && sb->len + (size_t)n > max) {
        return -EFBIG;
    }
    return strbuf_add(sb, buf, (size_t)n);
}

/* The last line(s) of stderr, trimmed, for an error message. */
static const char *stderr_tail(struct strbuf *sb) {
    if (!sb->buf)
        return "";
    while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == ' '))
        sb->buf[--sb->len] = '\0';
    for (size_t i = 0; i < sb->len; i++)
        if (sb->buf[i] == '\n')
            sb->buf[i] = ' ';
    return sb->buf;
}

/*
 * Reads the child's stdout (into out, when given) and stderr (its tail into
 * errbuf) until both end or timeout_ms passes (then *ret_timed_out). The
 * first error storing stdout is returned; reading goes on regardless.
 */
static int collect(struct exec_proc *p, struct strbuf *out, struct strbuf *errbuf, int timeout_ms,
                   bool *ret_timed_out) {
    bool out_eof = false, err_eof = false;
    int64_t deadline = timeout_ms ? time_now_ms() + timeout_ms : 0;
    int rr = 0;
    *ret_timed_out = false;
    while (!out_eof || !err_eof) {
        struct pollfd pf[2] = {{out_eof ? -1 : p->out, POLLIN, 0},
                               {err_eof ? -1 : p->err, POLLIN, 0}};
        int wait = -1;
        if (deadline) {
            int64_t left = deadline - time_now_ms();
            if (left <= 0) {
                *ret_timed_out = true;
                return rr;
            }
            wait = (int)left;
        }
        int n = poll(pf, 2, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (pf[0].revents && rr == 0)
            rr = drain(p->out, out, EXEC_OUTPUT_MAX, false, &out_eof);
        else if (pf[0].revents)
            (void)drain(p->out, NULL, 0, false, &out_eof);
        if (pf[1].revents)
            (void)drain(p->err, errbuf, STDERR_KEEP, true, &err_eof);
    }
    return rr;
}

int exec_run(const char *const *argv, const struct exec_opts *opts, struct error *err) {
    struct exec_opts o = opts ? *opts : (struct exec_opts){0};
    if (o.detach)
        return error_set(err, -EINVAL, "'%s' cannot be run detached and waited for",
                         argv && argv[0] ? argv[0] : "");
    o.stdout_fd = EXEC_PIPE;
    o.stderr_fd = EXEC_PIPE;
    struct exec_proc p;
    int r = exec_start(argv, &o, &p, err);
    if (r < 0)
        return r;
    const char *prog = argv[0];
    closep(&p.in); /* nothing to write: the child sees the end of its input */
    p.in = -1;

    _cleanup_strbuf_ struct strbuf errbuf = STRBUF_INIT;
    bool timed_out;
    int rr = collect(&p, o.out, &errbuf, o.timeout_ms, &timed_out);
    if (timed_out)
        kill(p.pid, SIGKILL);
    if (o.err_out && errbuf.len && strbuf_add(o.err_out, errbuf.buf, errbuf.len) < 0 && rr == 0)
        rr = -ENOMEM;
    int status;
    r = exec_finish(&p, &status, err);
    if (r < 0)
        return r;
    if (timed_out)
        return error_set(err, -ETIMEDOUT, "'%s' did not finish within %d ms", prog, o.timeout_ms);
    if (WIFSIGNALED(status))
        return error_set(err, -EINTR, "'%s' was killed by signal %d%s%s", prog, WTERMSIG(status),
                         errbuf.len ? ": " : "", stderr_tail(&errbuf));
    if (WEXITSTATUS(status) == 127 && errbuf.len == 0)
        return error_set(err, -ENOENT, "cannot run '%s'", prog);
    if (WEXITSTATUS(status) != 0)
        return error_set(err, -EIO, "'%s' failed with exit status %d%s%s", prog,
                         WEXITSTATUS(status), errbuf.len ? ": " : "", stderr_tail(&errbuf));
    if (rr < 0)
        return error_set(err, rr, "cannot read the output of '%s': %s", prog, strerror(-rr));
    return 0;
}

void fault_point(const char *name) {
    const char *want = getenv("HEARTH_FAULT");
    if (!want || !*want)
        return;
    const char *at = strchr(want, '@');
    size_t len = at ? (size_t)(at - want) : strlen(want);
    if (strlen(name) != len || strncmp(name, want, len) != 0)
        return;
    if (at) {
        /* Count hits in the environment so the count survives nothing but this process. */
        static long hits; /* per-process hit counter for "NAME@N"; test-only */
        uint64_t nth;
        if (parse_u64(at + 1, 1000000, &nth) < 0 || (uint64_t)++hits != nth)
            return;
    }
    /* The suite's proof that a crash test reached this point (tests/fault_points.py). */
    const char *log = getenv("HEARTH_FAULT_LOG");
    if (log && *log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        char line[256];
        int n = snprintf(line, sizeof(line), "%s\n", name);
        if (fd >= 0 && n > 0 && (size_t)n < sizeof(line)) {
            ssize_t w = write(fd, line, (size_t)n);
            (void)w; /* a point missing from the log fails that check, which says so */
        }
        if (fd >= 0)
            close(fd);
    }
    _exit(FAULT_EXIT_STATUS);
}

void user_name_format(unsigned uid, char *buf, size_t size) {
    struct passwd pw, *found = NULL;
    char scratch[1024];
    if (getpwuid_r((uid_t)uid, &pw, scratch, sizeof(scratch), &found) == 0 && found)
        snprintf(buf, size, "%s", found->pw_name);
    else
        snprintf(buf, size, "%u", uid);
}
