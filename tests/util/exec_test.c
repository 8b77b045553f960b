/*
 * Tests of util's process API (exec.c) and liveness check (proc.c): pipes to
 * a child's stdio, its working directory, its stderr and descriptor 3 from
 * this process, every other descriptor closed, a program that cannot be run
 * reported by exec_start, a detached child in its own session, the
 * parent-death signal, a function run in a child, the tail of stderr handed
 * back by exec_run, and a zombie counted dead.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testrun.h"
#include "util/util.h"
#include "util/util_test.h"

#define HANG_MS 20000 /* only to catch a hang: what should happen takes milliseconds */

/* Everything fd has until its end. */
static void read_all(int fd, struct strbuf *sb) {
    char buf[512];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            return;
        assert_int_equal(strbuf_add(sb, buf, (size_t)n), 0);
    }
}

/* Waits (up to HANG_MS) until pid, started at start, no longer runs; false if it still does. */
static bool wait_gone(int pid, uint64_t start) {
    int64_t deadline = time_now_ms() + HANG_MS;
    while (proc_is_alive(pid, start) && time_now_ms() < deadline)
        sleep_ms(10);
    return !proc_is_alive(pid, start);
}

/* No child of this process is left unreaped. */
static void assert_no_children(void) {
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_exec_start_pipes(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    const char *cat[] = {"cat", NULL};
    struct exec_opts o = {.stdin_fd = EXEC_PIPE, .stdout_fd = EXEC_PIPE};
    struct exec_proc p;
    assert_int_equal(exec_start(cat, &o, &p, &err), 0);
    assert_true(p.pid > 0);
    assert_true(p.in >= 0 && p.out >= 0);
    assert_int_equal(p.err, -1);
    assert_false(p.detached);
    assert_int_equal(write(p.in, "through cat", 11), 11);
    closep(&p.in);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    read_all(p.out, &sb);
    assert_string_equal(sb.buf, "through cat");
    int status = -1;
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(p.out, -1);

    /* A child's exit status comes back as it is. */
    const char *three[] = {"sh", "-c", "exit 3", NULL};
    assert_int_equal(exec_start(three, NULL, &p, &err), 0);
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_no_children();
}

static void test_exec_start_cwd_and_fds(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    char dir[] = "/tmp/hearth-util-exec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[64];
    snprintf(log, sizeof(log), "%s/stderr", dir);

    /* The working directory, stderr to a file, descriptor 3 from this process. */
    int errfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(errfd >= 0);
    int three[2];
    assert_int_equal(pipe2(three, O_CLOEXEC), 0);
    /* An open descriptor without O_CLOEXEC: the child must not get it. */
    int stray = open("/dev/null", O_RDONLY);
    assert_true(stray > 3);
    char script[256];
    snprintf(script, sizeof(script),
             "pwd; echo 'to stderr' >&2; echo 'on three' >&3; "
             "if [ -e /proc/self/fd/%d ]; then echo stray open; fi",
             stray);
    const char *argv[] = {"sh", "-c", script, NULL};
    struct exec_opts o = {
        .cwd = dir, .stdout_fd = EXEC_PIPE, .stderr_fd = errfd, .pass_fd = three[1]};
    struct exec_proc p;
    assert_int_equal(exec_start(argv, &o, &p, &err), 0);
    close(three[1]);
    close(errfd);
    close(stray);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf on3 = STRBUF_INIT;
    read_all(p.out, &out);
    read_all(three[0], &on3);
    close(three[0]);
    int status = -1;
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    char want[64];
    snprintf(want, sizeof(want), "%s\n", dir);
    assert_string_equal(out.buf, want); /* no "stray open" */
    assert_string_equal(on3.buf, "on three\n");
    _cleanup_strbuf_ struct strbuf said = STRBUF_INIT;
    assert_int_equal(strbuf_read_file(&said, log, 4096, &err), 0);
    assert_string_equal(said.buf, "to stderr\n");

    /* stdin from a file (stdin_path). */
    char in[64];
    snprintf(in, sizeof(in), "%s/in", dir);
    int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_int_equal(write(fd, "from a file\n", 12), 12);
    close(fd);
    const char *cat[] = {"cat", NULL};
    o = (struct exec_opts){.stdin_path = in, .stdout_fd = EXEC_PIPE};
    assert_int_equal(exec_start(cat, &o, &p, &err), 0);
    strbuf_reset(&out);
    read_all(p.out, &out);
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    assert_string_equal(out.buf, "from a file\n");

    assert_int_equal(unlink(in), 0);
    assert_int_equal(unlink(log), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_no_children();
}

static void test_exec_start_failure_reported(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    struct exec_proc p = {.pid = -7};
    const char *missing[] = {"hearth-no-such-program", NULL};
    assert_int_equal(exec_start(missing, NULL, &p, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "cannot run 'hearth-no-such-program'"));
    assert_int_equal(p.pid, -7); /* ret untouched on failure */

    /* A file that is not executable. */
    char dir[] = "/tmp/hearth-util-exec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/plain", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    const char *plain[] = {path, NULL};
    /* (root too: exec needs an execute bit) */
    assert_int_equal(exec_start(plain, NULL, &p, &err), -EACCES);
    assert_non_null(strstr(err.msg, path));

    /* A working directory that is not there. */
    const char *tru[] = {"true", NULL};
    struct exec_opts o = {.cwd = "/nonexistent/hearth"};
    assert_int_equal(exec_start(tru, &o, &p, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "cannot run 'true'"));

    /* Detached too: the failure of the exec in the grandchild comes back. */
    o = (struct exec_opts){.detach = true};
    assert_int_equal(exec_start(missing, &o, &p, &err), -ENOENT);

    /* A parent-death signal makes no sense for a detached child. */
    o = (struct exec_opts){.detach = true, .pdeathsig = SIGKILL};
    assert_int_equal(exec_start(tru, &o, &p, &err), -EINVAL);
    o = (struct exec_opts){.detach = true};
    assert_int_equal(exec_run(tru, &o, &err), -EINVAL);

    /* exec_run says so too. */
    assert_int_equal(exec_run(plain, NULL, &err), -EACCES);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_no_children();
}

static void test_exec_start_detach(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    int three[2];
    assert_int_equal(pipe2(three, O_CLOEXEC), 0);
    /* It tells its pid and session on descriptor 3, then waits to be killed. */
    const char *argv[] = {"sh", "-c",
                          "echo $$ $(cut -d' ' -f6 /proc/$$/stat) >&3; exec 3>&-; "
                          "exec sleep 600",
                          NULL};
    struct exec_opts o = {.detach = true, .pass_fd = three[1]};
    struct exec_proc p;
    assert_int_equal(exec_start(argv, &o, &p, &err), 0);
    close(three[1]);
    assert_true(p.detached);
    assert_true(p.pid > 0);
    _cleanup_strbuf_ struct strbuf said = STRBUF_INIT;
    read_all(three[0], &said);
    close(three[0]);
    int pid = 0, sid = 0;
    assert_int_equal(sscanf(said.buf, "%d %d", &pid, &sid), 2);
    assert_int_equal(pid, p.pid);  /* the pid exec_start returns is the program's */
    assert_true(sid != getsid(0)); /* its own session */
    assert_int_equal(getsid(p.pid), sid);
    /* Not a child of this process: nothing to reap here, and the first child is reaped. */
    assert_no_children();
    uint64_t start = 0;
    assert_int_equal(proc_start_time(p.pid, &start), 0);
    assert_true(proc_is_alive(p.pid, start));
    int status = -1;
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    assert_int_equal(status, 0);
    assert_true(proc_is_alive(p.pid, start)); /* finishing does not wait for nor end it */
    assert_int_equal(kill(p.pid, SIGKILL), 0);
    assert_true(wait_gone(p.pid, start));
}

/*
 * In a child of the test (which ends at once): starts `sleep 600` with or
 * without a parent-death signal and reports its pid and start time on fd.
 */
static void start_orphan(int fd, bool pdeathsig) {
    const char *argv[] = {"sleep", "600", NULL};
    struct exec_opts o = {.pdeathsig = pdeathsig ? SIGKILL : 0};
    struct exec_proc p;
    struct error err;
    error_init(&err);
    uint64_t start = 0;
    if (exec_start(argv, &o, &p, &err) < 0 || proc_start_time(p.pid, &start) < 0)
        _exit(1);
    char line[64];
    int n = snprintf(line, sizeof(line), "%d %llu", (int)p.pid, (unsigned long long)start);
    _exit(write(fd, line, (size_t)n) == n ? 0 : 1);
}

static void test_exec_start_pdeathsig(void **state) {
    (void)state;
    for (int with = 0; with < 2; with++) {
        int rep[2];
        assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
        pid_t helper = fork();
        assert_true(helper >= 0);
        if (helper == 0)
            start_orphan(rep[1], with);
        close(rep[1]);
        _cleanup_strbuf_ struct strbuf said = STRBUF_INIT;
        read_all(rep[0], &said);
        close(rep[0]);
        int status = -1;
        assert_int_equal(waitpid(helper, &status, 0), helper);
        assert_int_equal(WEXITSTATUS(status), 0);
        int pid = 0;
        unsigned long long start = 0;
        assert_int_equal(sscanf(said.buf, "%d %llu", &pid, &start), 2);
        if (with) {
            /* Its parent ended: the kernel killed it. */
            assert_true(wait_gone(pid, start));
        } else {
            /* Without the signal it outlives its parent (the check above can fail). */
            sleep_ms(100);
            assert_true(proc_is_alive(pid, start));
            assert_int_equal(kill(pid, SIGKILL), 0);
            assert_true(wait_gone(pid, start));
        }
    }
}

static int child_fn(void *arg) {
    const char *word = arg;
    ssize_t n = write(1, word, strlen(word));
    /* Descriptors past 2 are closed in the child as for a program. */
    return n == (ssize_t)strlen(word) && fcntl(3, F_GETFD) < 0 ? 7 : 1;
}

static void test_exec_fn(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    /* Descriptor 3 is open here: this one, or one below it. */
    int keep = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(keep >= 3);
    const char *argv[] = {"a function", NULL};
    struct exec_opts o = {.fn = child_fn, .fn_arg = (void *)"from fn", .stdout_fd = EXEC_PIPE};
    struct exec_proc p;
    assert_int_equal(exec_start(argv, &o, &p, &err), 0);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    read_all(p.out, &out);
    int status = -1;
    assert_int_equal(exec_finish(&p, &status, &err), 0);
    assert_string_equal(out.buf, "from fn");
    assert_int_equal(WEXITSTATUS(status), 7);
    close(keep);

    /* exec_run with a function: its output collected, its exit status told. */
    strbuf_reset(&out);
    o = (struct exec_opts){.fn = child_fn, .fn_arg = (void *)"x", .out = &out};
    assert_int_equal(exec_run(argv, &o, &err), -EIO);
    assert_non_null(strstr(err.msg, "'a function' failed with exit status 7"));
    assert_string_equal(out.buf, "x");
    assert_no_children();
}

/* exec_run hands the tail of stderr to err_out, on success and on failure alike. */
static void test_exec_run_err_out(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT, errs = STRBUF_INIT;
    const char *ok[] = {"sh", "-c", "echo out; echo said >&2", NULL};
    struct exec_opts o = {.out = &out, .err_out = &errs};
    assert_int_equal(exec_run(ok, &o, &err), 0);
    assert_string_equal(out.buf, "out\n");
    assert_string_equal(errs.buf, "said\n");

    /* A failure: stdout, stderr's tail (its last 4 KiB of 5000 bytes) and the message. */
    strbuf_reset(&out);
    strbuf_reset(&errs);
    const char *bad[] = {"sh", "-c",
                         "echo '{}'; head -c 5000 /dev/zero | tr '\\0' x >&2; echo end >&2; exit 3",
                         NULL};
    assert_int_equal(exec_run(bad, &o, &err), -EIO);
    assert_string_equal(out.buf, "{}\n");
    assert_int_equal(errs.len, 4096);
    assert_string_equal(errs.buf + errs.len - 5, "xend\n");
    assert_non_null(strstr(err.msg, "exit status 3"));
    assert_no_children();
}

static void test_proc_zombie_is_dead(void **state) {
    (void)state;
    int go[2];
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char c;
        ssize_t n = read(go[0], &c, 1);
        _exit(n == 1 ? 0 : 1);
    }
    close(go[0]);
    uint64_t start = 0;
    assert_int_equal(proc_start_time(child, &start), 0);
    assert_true(proc_is_alive(child, start));
    assert_int_equal(write(go[1], "x", 1), 1);
    close(go[1]);
    /* Exited and not reaped: a zombie, which runs nothing. */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    assert_int_equal(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
    uint64_t again = 0;
    assert_int_equal(proc_start_time(child, &again), 0); /* its pid still names it */
    assert_true(again == start);
    assert_false(proc_is_alive(child, start));
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_false(proc_is_alive(child, start));
}

const struct CMUnitTest util_exec_tests[] = {
    cmocka_unit_test(test_exec_start_pipes),
    cmocka_unit_test(test_exec_start_cwd_and_fds),
    cmocka_unit_test(test_exec_start_failure_reported),
    cmocka_unit_test(test_exec_start_detach),
    cmocka_unit_test(test_exec_start_pdeathsig),
    cmocka_unit_test(test_exec_fn),
    cmocka_unit_test(test_exec_run_err_out),
    cmocka_unit_test(test_proc_zombie_is_dead),
};
const size_t util_exec_tests_n = ARRAY_SIZE(util_exec_tests);
