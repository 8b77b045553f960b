/*
 * Child processes and fault points.
 *
 * exec_run is the one way hearth starts a helper program: an argv array,
 * never a shell; descriptors other than 0-2 closed; stdout optionally
 * collected; stderr always collected so that a failure's message can say
 * what the program said; the child always reaped, also on timeout.
 *
 * Process identity (pid plus start time, exe, cwd, argv) is in proc.c.
 * user_name_format names the user a process runs as (or owns a file).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define STDERR_KEEP 4096 /* bytes of a child's stderr kept for the error message */

extern char **environ;

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

int exec_run(const char *const *argv, const struct exec_opts *opts, struct error *err) {
    static const struct exec_opts none = {0};
    if (!opts)
        opts = &none;
    const char *prog = argv[0];

    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        int e = -errno;
        closep(&outp[0]);
        closep(&outp[1]);
        return error_set(err, e, "cannot run '%s': %s", prog, strerror(-e));
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, opts->stdin_path ? opts->stdin_path : "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    if (opts->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &def);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    pid_t pid;
    char *const *envp = opts->envp ? (char *const *)opts->envp : environ;
    int r = strchr(prog, '/') ? posix_spawn(&pid, prog, &fa, &attr, (char *const *)argv, envp)
                              : posix_spawnp(&pid, prog, &fa, &attr, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(outp[1]);
    close(errp[1]);
    if (r != 0) {
        close(outp[0]);
        close(errp[0]);
        return error_set(err, r == ENOENT ? -ENOENT : -r, "cannot run '%s': %s", prog, strerror(r));
    }

    _cleanup_strbuf_ struct strbuf errbuf = STRBUF_INIT;
    bool out_eof = false, err_eof = false, timed_out = false;
    int64_t deadline = opts->timeout_ms ? time_now_ms() + opts->timeout_ms : 0;
    int rr = 0;
    while (!out_eof || !err_eof) {
        struct pollfd pf[2] = {{out_eof ? -1 : outp[0], POLLIN, 0},
                               {err_eof ? -1 : errp[0], POLLIN, 0}};
        int wait = -1;
        if (deadline) {
            int64_t left = deadline - time_now_ms();
            if (left <= 0) {
                timed_out = true;
                kill(pid, SIGKILL);
                break;
            }
            wait = (int)left;
        }
        int n = poll(pf, 2, wait);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (pf[0].revents && rr == 0)
            rr = drain(outp[0], opts->out, EXEC_OUTPUT_MAX, false, &out_eof);
        else if (pf[0].revents)
            (void)drain(outp[0], NULL, 0, false, &out_eof);
        if (pf[1].revents)
            (void)drain(errp[0], &errbuf, STDERR_KEEP, true, &err_eof);
    }
    close(outp[0]);
    close(errp[0]);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return error_set(err, -errno, "cannot wait for '%s': %s", prog, strerror(errno));
    }
    if (timed_out)
        return error_set(err, -ETIMEDOUT, "'%s' did not finish within %d ms", prog,
                         opts->timeout_ms);
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
