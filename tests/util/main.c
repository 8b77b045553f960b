/* Tests for util: errors, strbuf, ids and names, number and time parsing. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testrun.h"
#include "util/util.h"
#include "util/util_test.h"

static void test_error_set_and_prefix(void **state) {
    (void)state;
    struct error err;
    error_init(&err);
    assert_int_equal(error_set(&err, -EEXIST, "vm '%s' already exists", "web"), -EEXIST);
    assert_string_equal(err.msg, "vm 'web' already exists");
    assert_int_equal(error_prefix(&err, "%s", "a.yaml"), -EEXIST);
    assert_string_equal(err.msg, "a.yaml: vm 'web' already exists");
    assert_int_equal(error_set(NULL, -EINVAL, "ignored"), -EINVAL);
    /* -errno after a call that left errno 0 is still a failure. */
    errno = 0;
    assert_int_equal(error_set(&err, -errno, "cannot read '%s'", "x"), -EIO);
    assert_int_equal(err.code, -EIO);
    assert_string_equal(err.msg, "cannot read 'x'");
}

static void test_strbuf(void **state) {
    (void)state;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_adds(&sb, "abc"), 0);
    assert_int_equal(strbuf_addf(&sb, "-%d-", 42), 0);
    assert_int_equal(strbuf_addc(&sb, 'z'), 0);
    assert_string_equal(sb.buf, "abc-42-z");
    assert_int_equal(sb.len, 8);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(strbuf_adds(&sb, "0123456789"), 0);
    assert_int_equal(sb.len, 8 + 100000);
    strbuf_reset(&sb);
    assert_string_equal(sb.buf, "");
    char *s = strbuf_detach(&sb);
    assert_string_equal(s, "");
    free(s);
}

static void test_strbuf_oom(void **state) {
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    util_alloc_fail_after(1);
    assert_int_equal(strbuf_adds(&sb, "x"), -ENOMEM);
    assert_null(sb.buf);
    util_alloc_fail_after(0);
    assert_int_equal(strbuf_adds(&sb, "x"), 0);
    strbuf_release(&sb);
}

static void test_arena(void **state) {
    (void)state;
    arena_free(NULL); /* harmless */
    arena_clear(NULL);
    struct arena *a = arena_new();
    assert_non_null(a);
    /* Small allocations come from one block, front to back, each aligned. */
    char *s = arena_strndup(a, "hello world", 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    uint64_t *n = arena_alloc(a, 3 * sizeof(*n), _Alignof(uint64_t));
    assert_non_null(n);
    assert_int_equal((uintptr_t)n % _Alignof(uint64_t), 0);
    assert_ptr_equal((char *)n, s + 8); /* "hello\0" padded to 8 */
    char *t = arena_strndup(a, "", 0);
    assert_non_null(t);
    assert_string_equal(t, "");
    assert_ptr_equal(t, (char *)(n + 3));
    void *m = arena_alloc(a, 1, _Alignof(max_align_t));
    assert_non_null(m);
    assert_int_equal((uintptr_t)m % _Alignof(max_align_t), 0);
    /* Once a block is there, filling it allocates nothing more. */
    util_alloc_fail_after(1);
    char *u = NULL;
    for (int i = 0; i < 1000; i++) {
        u = arena_strndup(a, "0123456789", 10);
        assert_non_null(u);
    }
    assert_string_equal(u, "0123456789");
    /* A full block needs a new one; its failure leaves what is there intact. */
    assert_null(arena_alloc(a, 128u << 10, 1));
    util_alloc_fail_after(0);
    assert_string_equal(s, "hello");
    /* More than a block gets a block of its own, and what follows a new one. */
    char *big = arena_alloc(a, 128u << 10, 1);
    assert_non_null(big);
    memset(big, 'x', 128u << 10);
    char *after = arena_strndup(a, "ab", 2);
    assert_non_null(after);
    assert_string_equal(after, "ab");
    assert_true(after < big || after >= big + (128u << 10));
    /* A length no arena can hold fails cleanly. */
    assert_null(arena_alloc(a, SIZE_MAX - 8, 1));
    assert_null(arena_strndup(a, "x", SIZE_MAX));
    /* Cleared, it starts again; freed with everything in it (ASan sees leaks). */
    arena_clear(a);
    s = arena_strndup(a, "again", 5);
    assert_non_null(s);
    assert_string_equal(s, "again");
    arena_free(a);
    util_alloc_fail_after(1);
    assert_null(arena_new());
    util_alloc_fail_after(0);
}

static void test_array_grow(void **state) {
    (void)state;
    int *v = NULL;
    for (size_t n = 0; n < 1000; n++) {
        /* A power of two (and 0) reallocates; anything between does not. */
        util_alloc_fail_after((n & (n - 1)) ? 1 : 0);
        assert_int_equal(array_grow(&v, n, sizeof(*v)), 0);
        util_alloc_fail_after(0);
        v[n] = (int)n;
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v[i], i);
    int *keep = v;
    util_alloc_fail_after(1);
    assert_int_equal(array_grow(&v, 1024, sizeof(*v)), -ENOMEM);
    util_alloc_fail_after(0);
    assert_ptr_equal(v, keep);
    assert_int_equal(v[999], 999);
    assert_int_equal(array_grow(&v, (size_t)1 << 62, 8), -ENOMEM); /* no overflow */
    assert_ptr_equal(v, keep);
    free(v);
}

static void test_paths(void **state) {
    (void)state;
    assert_true(path_is_clean("/"));
    assert_true(path_is_clean("/var/lib/hearth//pool/data"));
    assert_true(path_is_clean("/a/.b/..c/b..")); /* dots inside names are names */
    assert_false(path_is_clean(NULL));
    assert_false(path_is_clean(""));
    assert_false(path_is_clean("relative/path"));
    assert_false(path_is_clean("/a/./b"));
    assert_false(path_is_clean("/a/../b"));
    assert_false(path_is_clean("/a/.."));
    assert_false(path_is_clean("/."));
    assert_true(path_is_host_clean("/srv/pool"));
    assert_false(path_is_host_clean("/srv/po\nol"));
    assert_false(path_is_host_clean("/srv/\x7f"));
    assert_false(path_is_host_clean("/srv/../pool"));
    assert_false(path_is_host_clean(NULL));
    char long_path[PATH_MAX + 2];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[PATH_MAX] = '\0'; /* PATH_MAX characters: one too many */
    assert_true(path_is_clean(long_path));
    assert_false(path_is_host_clean(long_path));
    long_path[PATH_MAX - 1] = '\0';
    assert_true(path_is_host_clean(long_path));
    assert_false(str_has_control(NULL));
    assert_false(str_has_control("plain text ~"));
    assert_true(str_has_control("tab\there"));
}

static void test_read_file_limit(void **state) {
    (void)state;
    char path[] = "/tmp/hearth-util-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789", 10), 10);
    close(fd);
    struct error err;
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_read_file(&sb, path, 10, &err), 0);
    assert_string_equal(sb.buf, "0123456789");
    strbuf_release(&sb);
    assert_int_equal(strbuf_read_file(&sb, path, 9, &err), -EFBIG);
    assert_non_null(strstr(err.msg, path));
    strbuf_release(&sb);
    /* An empty file: an empty string or NULL, never a buffer without its NUL. */
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(strbuf_read_file(&sb, path, 4096, &err), 0);
    assert_int_equal(sb.len, 0);
    assert_true(!sb.buf || (sb.alloc > 0 && sb.buf[0] == '\0'));
    strbuf_release(&sb);
    unlink(path);
    assert_int_equal(strbuf_read_file(&sb, path, 9, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));
    strbuf_release(&sb);
}

static void test_ids(void **state) {
    (void)state;
    char a[ID_LEN + 1], b[ID_LEN + 1];
    assert_int_equal(id_generate(a), 0);
    assert_int_equal(id_generate(b), 0);
    assert_true(id_is_valid(a));
    assert_true(id_is_valid(b));
    assert_string_not_equal(a, b);
    assert_false(id_is_valid("0123456789ABCDEF"));
    assert_false(id_is_valid("0123456789abcde"));
    assert_false(id_is_valid("0123456789abcdef0"));
    assert_false(id_is_valid(NULL));
}

static void test_names(void **state) {
    (void)state;
    char name[64];
    for (int i = 0; i < 100; i++) {
        assert_int_equal(name_generate(name, sizeof(name)), 0);
        const char *dash = strchr(name, '-');
        assert_non_null(dash);
        assert_true(dash > name && dash[1] != '\0');
        for (const char *p = name; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '-');
    }
    char tiny[4];
    assert_int_equal(name_generate(tiny, sizeof(tiny)), -ENAMETOOLONG);
}

static void test_parse_u64(void **state) {
    (void)state;
    uint64_t v = 7;
    assert_int_equal(parse_u64("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse_u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(parse_u64("11", 10, &v), -ERANGE);
    assert_int_equal(parse_u64("", 10, &v), -EINVAL);
    assert_int_equal(parse_u64("-1", 10, &v), -EINVAL);
    assert_int_equal(parse_u64("1x", 10, &v), -EINVAL);
    assert_int_equal(parse_u64(" 1", 10, &v), -EINVAL);
}

static void test_time(void **state) {
    (void)state;
    char buf[32];
    time_format_rfc3339(1562760000, buf);
    assert_string_equal(buf, "2019-07-10T12:00:00Z");
    int64_t t = 0;
    assert_int_equal(time_parse_rfc3339("2019-07-10T12:00:00Z", &t), 0);
    assert_int_equal(t, 1562760000);
    assert_int_equal(time_parse_rfc3339("2019-07-10T14:00:00.123456+02:00", &t), 0);
    assert_int_equal(t, 1562760000);
    assert_int_equal(time_parse_rfc3339("2019-02-30T00:00:00Z", &t), -EINVAL);
    assert_int_equal(time_parse_rfc3339("2019-07-10", &t), -EINVAL);
    assert_int_equal(time_parse_rfc3339("2019-07-10T12:00:00", &t), -EINVAL);
    assert_int_equal(time_parse_rfc3339("2019-07-10T12:00:00Zjunk", &t), -EINVAL);
    /* years of fewer digits are written with four, and read back (a fuzz find) */
    assert_int_equal(time_parse_rfc3339("0265-01-01T00:00:00Z", &t), 0);
    time_format_rfc3339(t, buf);
    assert_string_equal(buf, "0265-01-01T00:00:00Z");
    assert_int_equal(time_parse_rfc3339("0000-01-01T00:00:00Z", &t), 0);
    time_format_rfc3339(t, buf);
    assert_string_equal(buf, "0000-01-01T00:00:00Z");
    /* an offset that moves the time out of 0000..9999 in UTC */
    assert_int_equal(time_parse_rfc3339("0000-01-01T00:30:00+01:00", &t), -EINVAL);
    assert_int_equal(time_parse_rfc3339("9999-12-31T23:30:00-01:00", &t), -EINVAL);
    assert_int_equal(time_parse_rfc3339("9999-12-31T23:59:59Z", &t), 0);
    time_format_rfc3339(t, buf);
    assert_string_equal(buf, "9999-12-31T23:59:59Z");

    time_format_ago(1000, 1045, buf, sizeof(buf));
    assert_string_equal(buf, "45s");
    time_format_ago(1000, 1000 + 180, buf, sizeof(buf));
    assert_string_equal(buf, "3m");
    time_format_ago(0, 5 * 3600, buf, sizeof(buf));
    assert_string_equal(buf, "5h");
    time_format_ago(0, 4 * 86400, buf, sizeof(buf));
    assert_string_equal(buf, "4d");
    time_format_ago(2000, 1000, buf, sizeof(buf));
    assert_string_equal(buf, "0s");
}

static void test_log_level(void **state) {
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("loud", &l), -EINVAL);
}

static void test_exec_run(void **state) {
    (void)state;
    struct error err;
    struct strbuf out = STRBUF_INIT;
    struct exec_opts o = {.out = &out};
    const char *echo[] = {"sh", "-c", "printf 'a b'; echo oops >&2", NULL};
    assert_int_equal(exec_run(echo, &o, &err), 0);
    assert_string_equal(out.buf, "a b");
    strbuf_release(&out);

    /* In another working directory, where a relative path is looked up. */
    const char *pwd[] = {"sh", "-c", "pwd; test -d ./proc", NULL};
    struct exec_opts w = {.out = &out, .cwd = "/"};
    assert_int_equal(exec_run(pwd, &w, &err), 0);
    assert_string_equal(out.buf, "/\n");
    strbuf_release(&out);

    const char *fail[] = {"sh", "-c", "echo 'mke2fs: no space' >&2; exit 3", NULL};
    assert_int_equal(exec_run(fail, NULL, &err), -EIO);
    assert_non_null(strstr(err.msg, "'sh' failed with exit status 3"));
    assert_non_null(strstr(err.msg, "mke2fs: no space"));

    const char *missing[] = {"hearth-no-such-program", NULL};
    assert_int_equal(exec_run(missing, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "hearth-no-such-program"));

    const char *slow[] = {"sleep", "5", NULL};
    struct exec_opts t = {.timeout_ms = 100};
    assert_int_equal(exec_run(slow, &t, &err), -ETIMEDOUT);

    const char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    assert_int_equal(exec_run(killed, NULL, &err), -EINTR);
    assert_non_null(strstr(err.msg, "signal 9"));
}

static void test_proc_identity(void **state) {
    (void)state;
    uint64_t self = 0, again = 0;
    assert_int_equal(proc_start_time(0, &self), 0);
    assert_int_equal(proc_start_time(getpid(), &again), 0);
    assert_true(self == again);
    assert_true(proc_is_alive(getpid(), self));
    assert_false(proc_is_alive(getpid(), self + 1));
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    int status;
    waitpid(child, &status, 0);
    assert_false(proc_is_alive(child, 0));
}

static void test_fault_point(void **state) {
    (void)state;
    char dir[] = "/tmp/hearth-util-fault-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char log[64];
    snprintf(log, sizeof(log), "%s/fired", dir);
    int status;
    for (int i = 0; i < 2; i++) {
        pid_t child = fork();
        if (child == 0) {
            setenv("HEARTH_FAULT", "x.step@2", 1);
            setenv("HEARTH_FAULT_LOG", log, 1);
            fault_point("x.other");
            fault_point("x.step"); /* first hit: passes */
            fault_point("x.step"); /* second: exits */
            _exit(0);
        }
        waitpid(child, &status, 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), FAULT_EXIT_STATUS);
    }
    /* Each death appended the point's name, and only the point that fired. */
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    assert_int_equal(strbuf_read_file(&sb, log, 4096, &err), 0);
    assert_string_equal(sb.buf, "x.step\nx.step\n");
    strbuf_release(&sb);
    assert_int_equal(unlink(log), 0);
    assert_int_equal(rmdir(dir), 0);
    unsetenv("HEARTH_FAULT");
    fault_point("x.step"); /* unset: nothing happens */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_prefix),
        cmocka_unit_test(test_strbuf),
        cmocka_unit_test(test_strbuf_oom),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_array_grow),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_read_file_limit),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_exec_run),
        cmocka_unit_test(test_proc_identity),
        cmocka_unit_test(test_fault_point),
    };
    int failed = cmocka_run_group_tests_name("util", tests, NULL, NULL);
    failed += _cmocka_run_group_tests("exec", util_exec_tests, util_exec_tests_n, NULL, NULL);
    return test_exit_status(failed);
}
