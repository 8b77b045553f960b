/*
 * The SFTP client (net sftp_wire.c, sftp.c, sftp_copy.c): packets byte by
 * byte, the destination rules, malformed answers from a server the test
 * plays itself over pipes, and the requests, transfers and copies against
 * OpenSSH's own sftp-server (Debian's openssh-sftp-server, the server the
 * guests run) started as a child over pipes, on files under a temporary
 * directory that is both "the host" and "the server".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/sftp_priv.h"
#include "net_test.h"
#include "testrun.h"

#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

/* ---- packets ------------------------------------------------------------------ */

static void test_wire_packets(void **state) {
    (void)state;
    unsigned char buf[512];
    struct sftp_out o = {.p = buf, .cap = sizeof(buf)};
    sftp_begin(&o, SFTP_INIT, 0);
    sftp_put_u32(&o, 3);
    assert_true(sftp_end(&o, 0));
    static const unsigned char init[] = {0, 0, 0, 5, 1, 0, 0, 0, 3};
    assert_int_equal(o.len, sizeof(init));
    assert_memory_equal(buf, init, sizeof(init));

    o.len = 0;
    sftp_begin(&o, SFTP_OPEN, 7);
    sftp_put_cstr(&o, "/a b");
    sftp_put_u32(&o, SFTP_FXF_WRITE | SFTP_FXF_CREAT | SFTP_FXF_EXCL);
    sftp_put_attrs(&o, &(struct sftp_attrs){.flags = SFTP_ATTR_PERMISSIONS, .perm = 0600});
    assert_true(sftp_end(&o, 0));
    static const unsigned char open[] = {0,   0,   0, 25, 3, 0,    0, 0, 7, 0, 0, 0, 4, '/', 'a',
                                         ' ', 'b', 0, 0,  0, 0x2a, 0, 0, 0, 4, 0, 0, 1, 0x80};
    assert_int_equal(o.len, sizeof(open));
    assert_memory_equal(buf, open, sizeof(open));

    /* every attribute there is, and back */
    struct sftp_attrs a = {.flags = SFTP_ATTR_SIZE | SFTP_ATTR_UIDGID | SFTP_ATTR_PERMISSIONS |
                                    SFTP_ATTR_ACMODTIME,
                           .size = 0x123456789aULL,
                           .uid = 1000,
                           .gid = 100,
                           .perm = 0100640,
                           .atime = 1700000000,
                           .mtime = 4000000000u};
    o.len = 0;
    sftp_begin(&o, SFTP_ATTRS, 0xdeadbeef);
    sftp_put_attrs(&o, &a);
    assert_true(sftp_end(&o, 0));
    assert_int_equal(o.len, 4 + 1 + 4 + 4 + 8 + 8 + 4 + 8);
    struct sftp_msg m;
    size_t need = 0;
    assert_int_equal(sftp_msg_parse(buf, o.len, &m, &need), 0);
    assert_int_equal(need, o.len);
    assert_int_equal(m.type, SFTP_ATTRS);
    assert_int_equal(m.id, 0xdeadbeef);
    struct sftp_attrs b;
    sftp_get_attrs(&m.body, &b);
    assert_false(m.body.bad);
    assert_int_equal(m.body.len, 0);
    assert_int_equal(b.flags, a.flags);
    assert_int_equal(b.size, a.size);
    assert_int_equal(b.uid, a.uid);
    assert_int_equal(b.gid, a.gid);
    assert_int_equal(b.perm, a.perm);
    assert_int_equal(b.atime, a.atime);
    assert_int_equal(b.mtime, a.mtime);

    /* a packet that does not fit: overflow, nothing kept */
    unsigned char small[16];
    struct sftp_out s = {.p = small, .cap = sizeof(small)};
    sftp_begin(&s, SFTP_STAT, 1);
    sftp_put_cstr(&s, "/a/long/path/name");
    assert_true(s.overflow);
    assert_false(sftp_end(&s, 0));
}

static void test_wire_malformed(void **state) {
    (void)state;
    struct sftp_msg m;
    size_t need = 0;
    /* lengths: 0, past the limit, and a packet not all there yet */
    static const unsigned char zero[] = {0, 0, 0, 0, 101};
    assert_int_equal(sftp_msg_parse(zero, sizeof(zero), &m, &need), -EBADMSG);
    static const unsigned char huge[] = {0, 0x10, 0, 0, 101};
    assert_int_equal(sftp_msg_parse(huge, sizeof(huge), &m, &need), -EBADMSG);
    static const unsigned char part[] = {0, 0, 0, 9, 101, 0, 0};
    assert_int_equal(sftp_msg_parse(part, sizeof(part), &m, &need), 1);
    assert_int_equal(need, 13);
    assert_int_equal(sftp_msg_parse(part, 3, &m, &need), 1);
    /* an id cut short */
    static const unsigned char noid[] = {0, 0, 0, 2, 101, 0};
    assert_int_equal(sftp_msg_parse(noid, sizeof(noid), &m, &need), -EBADMSG);

    /* a string longer than what is left */
    static const unsigned char longstr[] = {0, 0, 0, 9, 't', 'o', 'o', 'l', 'o'};
    struct sftp_in in = {.p = longstr, .len = sizeof(longstr)};
    const unsigned char *p;
    size_t n;
    sftp_get_str(&in, &p, &n);
    assert_true(in.bad);
    assert_int_equal(n, 0);
    assert_int_equal(sftp_get_u32(&in), 0); /* bad stays bad */

    /* attributes with more extended pairs than allowed */
    static const unsigned char ext[] = {0x80, 0, 0, 0, 0, 0, 0x10, 0};
    in = (struct sftp_in){.p = ext, .len = sizeof(ext)};
    struct sftp_attrs a;
    sftp_get_attrs(&in, &a);
    assert_true(in.bad);
    /* two pairs, skipped */
    static const unsigned char ext2[] = {0x80, 0,   0, 4, 0, 0, 1, 0xa4, 0, 0, 0,   2, 0, 0, 0,
                                         1,    'x', 0, 0, 0, 0, 0, 0,    0, 1, 'y', 0, 0, 0, 0};
    in = (struct sftp_in){.p = ext2, .len = sizeof(ext2)};
    sftp_get_attrs(&in, &a);
    assert_false(in.bad);
    assert_int_equal(in.len, 0);
    assert_int_equal(a.perm, 0644);
}

static void test_status_text(void **state) {
    (void)state;
    char buf[128];
    sftp_status_text(SFTP_NO_SUCH_FILE, "No such file", buf, sizeof(buf));
    assert_string_equal(buf, "No such file or directory");
    assert_int_equal(sftp_status_errno(SFTP_NO_SUCH_FILE), ENOENT);
    sftp_status_text(SFTP_PERMISSION_DENIED, "", buf, sizeof(buf));
    assert_string_equal(buf, "Permission denied");
    assert_int_equal(sftp_status_errno(SFTP_PERMISSION_DENIED), EACCES);
    sftp_status_text(SFTP_FAILURE, "Failure", buf, sizeof(buf));
    assert_string_equal(buf, "failed");
    sftp_status_text(SFTP_FAILURE, "disk on fire", buf, sizeof(buf));
    assert_string_equal(buf, "failed (disk on fire)");
    sftp_status_text(SFTP_OP_UNSUPPORTED, NULL, buf, sizeof(buf));
    assert_string_equal(buf, strerror(ENOTSUP));
    sftp_status_text(42, "what", buf, sizeof(buf));
    assert_string_equal(buf, "status 42 (what)");
    assert_int_equal(sftp_status_errno(42), EPROTO);
}

/* ---- the destination rules ----------------------------------------------------------- */

static void test_cp_target(void **state) {
    (void)state;
    static const struct {
        const char *src;
        bool dir;
        const char *dst;
        enum sftp_dst st;
        const char *want; /* NULL: an error */
        int code;
    } cases[] = {
        {"f", false, "/tmp/", SFTP_DST_DIR, "/tmp/f", 0},
        {"a/b/f", false, "/tmp", SFTP_DST_DIR, "/tmp/f", 0},
        {"f", false, "/tmp/g", SFTP_DST_MISSING, "/tmp/g", 0},
        {"f", false, "/tmp/g", SFTP_DST_OTHER, "/tmp/g", 0},
        {"f", false, "/tmp/g/", SFTP_DST_MISSING, NULL, -ENOENT},
        {"f", false, "/tmp/g/", SFTP_DST_OTHER, NULL, -ENOTDIR},
        {"d", true, "/tmp/x", SFTP_DST_MISSING, "/tmp/x", 0},
        {"d/", true, "/tmp/x/", SFTP_DST_MISSING, "/tmp/x", 0},
        {"d", true, "/tmp/x", SFTP_DST_DIR, "/tmp/x/d", 0},
        {"/a/d//", true, "/tmp/x//", SFTP_DST_DIR, "/tmp/x/d", 0},
        {"d", true, "/tmp/x", SFTP_DST_OTHER, NULL, -ENOTDIR},
        {"d/.", true, "/tmp/x", SFTP_DST_DIR, "/tmp/x", 0},
        {".", true, "x", SFTP_DST_DIR, "x", 0},
        {"/", true, "/tmp/x", SFTP_DST_MISSING, "/tmp/x", 0},
        {"f", false, "/", SFTP_DST_DIR, "/f", 0},
        {"f", false, ".", SFTP_DST_DIR, "./f", 0},
        {"sp ace", false, "dir", SFTP_DST_DIR, "dir/sp ace", 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *got = NULL;
        struct error err;
        error_init(&err);
        int r = sftp_cp_target("vm 'dev'", cases[i].src, cases[i].dir, cases[i].dst, cases[i].st,
                               &got, &err);
        if (!cases[i].want) {
            if (r != cases[i].code)
                fail_msg("case %zu (%s -> %s): %d, want %d", i, cases[i].src, cases[i].dst, r,
                         cases[i].code);
            char want[128];
            snprintf(want, sizeof(want), "vm 'dev': %s: ", cases[i].dst);
            assert_true(str_starts_with(err.msg, want));
            continue;
        }
        if (r != 0 || strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu (%s -> %s): %d '%s', want '%s'", i, cases[i].src, cases[i].dst, r,
                     r == 0 ? got : err.msg, cases[i].want);
        free(got);
    }
}

static void test_tmp_name(void **state) {
    (void)state;
    char a[NAME_MAX + 1], b[NAME_MAX + 1], name[NAME_MAX + 1];
    assert_int_equal(sftp_cp_tmp_name("file", a, sizeof(a)), 0);
    assert_int_equal(sftp_cp_tmp_name("file", b, sizeof(b)), 0);
    assert_true(str_starts_with(a, ".hearth-"));
    assert_int_equal(strlen(a), 17 + 4);
    assert_string_equal(a + 17, "file");
    assert_string_not_equal(a, b);
    memset(name, 'n', NAME_MAX);
    name[NAME_MAX] = '\0';
    assert_int_equal(sftp_cp_tmp_name(name, a, sizeof(a)), 0);
    assert_int_equal(strlen(a), NAME_MAX);
}

/* ---- a server the test plays: malformed answers ------------------------------------ */

/* Appends a packet (type, id, then n bytes of body) to the pipe fd. */
static void say(int fd, uint8_t type, uint32_t id, const void *body, size_t n) {
    unsigned char buf[1024];
    struct sftp_out o = {.p = buf, .cap = sizeof(buf)};
    sftp_begin(&o, type, id);
    if (type == SFTP_VERSION)
        o.len -= 4; /* VERSION has no id */
    memcpy(buf + o.len, body, n);
    o.len += n;
    assert_true(sftp_end(&o, 0));
    assert_int_equal(write(fd, buf, o.len), (ssize_t)o.len);
}

struct fake {
    int req[2], rep[2]; /* requests from the client, replies to it */
    net_sftp *s;
};

static void fake_open(struct fake *f, const void *ext, size_t ext_n) {
    assert_int_equal(pipe(f->req), 0);
    assert_int_equal(pipe(f->rep), 0);
    unsigned char v[256] = {0, 0, 0, 3};
    if (ext_n)
        memcpy(v + 4, ext, ext_n);
    say(f->rep[1], SFTP_VERSION, 0, v, 4 + ext_n);
    struct error err;
    error_init(&err);
    assert_int_equal(sftp_open_fds(f->req[1], f->rep[0], "vm 'fake'", &f->s, &err), 0);
}

static void fake_close(struct fake *f) {
    net_sftp_close(f->s);
    close(f->req[0]);
    close(f->req[1]);
    close(f->rep[0]);
    close(f->rep[1]);
}

static void test_fake_server(void **state) {
    (void)state;
    struct error err;
    struct sftp_attrs a;

    /* the extensions the VERSION names are noted */
    struct fake f;
    static const unsigned char ext[] = {0,   0,   0,   24,  'p', 'o', 's', 'i', 'x', '-', 'r',
                                        'e', 'n', 'a', 'm', 'e', '@', 'o', 'p', 'e', 'n', 's',
                                        's', 'h', '.', 'c', 'o', 'm', 0,   0,   0,   1,   '1'};
    fake_open(&f, ext, sizeof(ext));
    assert_true(sftp_has_posix_rename(f.s));
    assert_false(sftp_has_lsetstat(f.s));
    /* an answer to another request breaks the session */
    static const unsigned char ok[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    say(f.rep[1], SFTP_STATUS, 99, ok, sizeof(ok));
    error_init(&err);
    assert_int_equal(sftp_stat(f.s, "/x", true, &a, &err), -EPROTO);
    assert_true(net_sftp_broken(f.s));
    assert_non_null(strstr(err.msg, "vm 'fake': the sftp session broke: an answer to request 99"));
    fake_close(&f);

    /* a packet longer than any server may send */
    fake_open(&f, NULL, 0);
    static const unsigned char huge[] = {0x7f, 0xff, 0xff, 0xff, 105};
    assert_int_equal(write(f.rep[1], huge, sizeof(huge)), (ssize_t)sizeof(huge));
    error_init(&err);
    assert_int_equal(sftp_stat(f.s, "/x", true, &a, &err), -EBADMSG);
    assert_true(net_sftp_broken(f.s));
    fake_close(&f);

    /* a status: its code as an errno and the path named */
    fake_open(&f, NULL, 0);
    static const unsigned char nofile[] = {0,   0,   0,   2,   0,   0, 0, 7, 'N', 'o',
                                           ' ', 's', 'u', 'c', 'h', 0, 0, 0, 0};
    say(f.rep[1], SFTP_STATUS, 1, nofile, sizeof(nofile));
    error_init(&err);
    assert_int_equal(sftp_stat(f.s, "/nope/f", true, &a, &err), -ENOENT);
    assert_string_equal(err.msg, "vm 'fake': /nope/f: No such file or directory");
    assert_false(net_sftp_broken(f.s));
    /* a listing with a name that climbs out: refused */
    static const unsigned char handle[] = {0, 0, 0, 1, 'h'};
    say(f.rep[1], SFTP_HANDLE, 2, handle, sizeof(handle));
    static const unsigned char names[] = {0,   0,   0, 1, 0, 0, 0, 4, '.', '.',
                                          '/', 'x', 0, 0, 0, 0, 0, 0, 0,   0};
    say(f.rep[1], SFTP_NAME, 3, names, sizeof(names));
    struct sftp_entry *v = NULL;
    size_t n = 0;
    error_init(&err);
    assert_int_equal(sftp_list(f.s, "/d", 100, &v, &n, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "a bad name in the listing of '/d'"));
    fake_close(&f);

    /* DATA longer than the READ asked for */
    fake_open(&f, NULL, 0);
    struct sftp_handle h = {.h = "h", .len = 1, .shown = "/f"};
    unsigned char data[4 + SFTP_CHUNK + 1];
    memset(data, 'x', sizeof(data));
    data[0] = 0;
    data[1] = 0;
    data[2] = (SFTP_CHUNK + 1) >> 8;
    data[3] = (SFTP_CHUNK + 1) & 0xff;
    unsigned char pkt[sizeof(data) + 16];
    struct sftp_out o = {.p = pkt, .cap = sizeof(pkt)};
    sftp_begin(&o, SFTP_DATA, 1);
    sftp_put_str(&o, data + 4, SFTP_CHUNK + 1);
    assert_true(sftp_end(&o, 0));
    assert_int_equal(write(f.rep[1], pkt, o.len), (ssize_t)o.len);
    char path[] = "/tmp/hearth-sftp-fake-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint64_t size = 0;
    error_init(&err);
    assert_int_equal(sftp_download(f.s, &h, fd, 10, path, NULL, NULL, &size, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "where 32768 were asked"));
    close(fd);
    unlink(path);
    fake_close(&f);
}

/* ---- against OpenSSH's sftp-server ------------------------------------------------ */

struct server {
    struct exec_proc p;
    net_sftp *s;
    char dir[64]; /* the test's directory: host/ and srv/ below it */
    char host[96], srv[96];
};

static int server_setup(void **state) {
    struct server *sv = calloc(1, sizeof(*sv));
    assert_non_null(sv);
    snprintf(sv->dir, sizeof(sv->dir), "/tmp/hearth-sftp-test-XXXXXX");
    assert_non_null(mkdtemp(sv->dir));
    snprintf(sv->host, sizeof(sv->host), "%s/host", sv->dir);
    snprintf(sv->srv, sizeof(sv->srv), "%s/srv", sv->dir);
    assert_int_equal(mkdir(sv->host, 0755), 0);
    assert_int_equal(mkdir(sv->srv, 0755), 0);
    *state = sv;
    return 0;
}

static void server_start(struct server *sv) {
    test_need_program(SFTP_SERVER, "openssh-sftp-server");
    const char *argv[] = {SFTP_SERVER, NULL};
    struct error err;
    error_init(&err);
    struct exec_opts o = {.stdin_fd = EXEC_PIPE, .stdout_fd = EXEC_PIPE, .stderr_fd = EXEC_INHERIT};
    if (exec_start(argv, &o, &sv->p, &err) < 0)
        fail_msg("%s", err.msg);
    if (sftp_open_fds(sv->p.in, sv->p.out, "vm 'test'", &sv->s, &err) < 0)
        fail_msg("%s", err.msg);
}

static int server_teardown(void **state) {
    struct server *sv = *state;
    net_sftp_close(sv->s);
    if (sv->p.pid > 0) {
        int status = -1;
        struct error err;
        assert_int_equal(exec_finish(&sv->p, &status, &err), 0);
        assert_int_equal(status, 0); /* sftp-server ends at the end of its input */
    }
    struct error err;
    assert_int_equal(fs_tree_remove(sv->dir, &err), 0);
    free(sv);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void read_file(const char *path, struct strbuf *sb) {
    struct error err;
    strbuf_reset(sb);
    if (strbuf_read_file(sb, path, 64 << 20, &err) < 0)
        fail_msg("%s", err.msg);
}

static void set_times(const char *path, time_t atime, time_t mtime) {
    struct timespec ts[2] = {{.tv_sec = atime}, {.tv_sec = mtime}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static char *pathf(const char *fmt, ...) PRINTF(1, 2);
static char *pathf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = xvasprintf(fmt, ap);
    va_end(ap);
    assert_non_null(p);
    return p;
}

/* The requests one by one. */
static void test_server_requests(void **state) {
    struct server *sv = *state;
    server_start(sv);
    net_sftp *s = sv->s;
    assert_true(sftp_has_posix_rename(s));
    assert_true(sftp_has_lsetstat(s));
    struct error err;
    error_init(&err);
    struct sftp_attrs a;
    _cleanup_free_ char *d = pathf("%s/d", sv->srv), *f = pathf("%s/d/f", sv->srv),
                        *g = pathf("%s/d/g", sv->srv), *l = pathf("%s/d/l", sv->srv);
    assert_int_equal(sftp_stat(s, d, true, &a, &err), -ENOENT);
    assert_true(strstr(err.msg, "vm 'test': ") == err.msg);
    assert_non_null(strstr(err.msg, "/srv/d: No such file or directory"));
    assert_int_equal(sftp_mkdir(s, d, 0750, &err), 0);
    assert_int_equal(sftp_stat(s, d, true, &a, &err), 0);
    assert_true(S_ISDIR(a.perm));
    assert_int_equal(a.perm & 07777, 0750);
    /* mkdir of what exists: FAILURE, said as such */
    assert_int_equal(sftp_mkdir(s, d, 0750, &err), -EIO);
    assert_non_null(strstr(err.msg, "/srv/d: failed"));

    /* a symlink made with OpenSSH's order of the arguments reads back */
    assert_int_equal(sftp_symlink(s, "f", l, NULL, &err), 0);
    _cleanup_free_ char *target = NULL;
    assert_int_equal(sftp_readlink(s, l, &target, &err), 0);
    assert_string_equal(target, "f");
    assert_int_equal(sftp_stat(s, l, false, &a, &err), 0);
    assert_true(S_ISLNK(a.perm));

    /* a file written through a handle; setstat; rename replaces what is there */
    struct sftp_handle h;
    assert_int_equal(sftp_open(s, f, SFTP_FXF_WRITE | SFTP_FXF_CREAT | SFTP_FXF_EXCL,
                               &(struct sftp_attrs){.flags = SFTP_ATTR_PERMISSIONS, .perm = 0600},
                               NULL, &h, &err),
                     0);
    struct sftp_attrs set = {.flags = SFTP_ATTR_PERMISSIONS | SFTP_ATTR_ACMODTIME,
                             .perm = 0640,
                             .atime = 1600000000,
                             .mtime = 1500000000};
    assert_int_equal(sftp_fsetstat(s, &h, &set, &err), 0);
    assert_int_equal(sftp_close_handle(s, &h, &err), 0);
    struct stat st;
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_mtime, 1500000000);
    assert_int_equal(st.st_atime, 1600000000);
    write_file(g, "old", 3, 0644);
    assert_int_equal(sftp_rename(s, f, g, NULL, &err), 0);
    assert_int_equal(stat(g, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(access(f, F_OK), -1);
    /* OPEN with EXCL of what exists */
    assert_int_equal(
        sftp_open(s, g, SFTP_FXF_WRITE | SFTP_FXF_CREAT | SFTP_FXF_EXCL, NULL, "shown", &h, &err),
        -EIO);
    assert_true(str_starts_with(err.msg, "vm 'test': shown: failed"));

    /* a listing longer than one NAME packet (OpenSSH sends 100 names at most) */
    for (int i = 0; i < 250; i++) {
        _cleanup_free_ char *p = pathf("%s/d/n%03d", sv->srv, i);
        write_file(p, "", 0, 0644);
    }
    struct sftp_entry *v = NULL;
    size_t n = 0;
    assert_int_equal(sftp_list(s, d, 1000, &v, &n, &err), 0);
    assert_int_equal(n, 252); /* n000..n249, g, l */
    int links = 0;
    for (size_t i = 0; i < n; i++)
        links += S_ISLNK(v[i].a.perm);
    assert_int_equal(links, 1);
    sftp_entries_free(v, n);
    assert_int_equal(sftp_list(s, d, 100, &v, &n, &err), -EFBIG);
    /* the session goes on after an error */
    assert_int_equal(sftp_remove(s, g, &err), 0);
    assert_int_equal(sftp_remove(s, g, &err), -ENOENT);
    assert_false(net_sftp_broken(s));
}

struct prog {
    uint64_t last, total, calls;
    bool decreased;
    volatile sig_atomic_t *cancel;
    uint64_t cancel_after; /* bytes done when *cancel is set (0: never) */
};

static void on_prog(void *ud, uint64_t done) {
    struct prog *p = ud;
    if (done < p->last)
        p->decreased = true;
    p->last = done;
    p->calls++;
    if (p->cancel && p->cancel_after && done >= p->cancel_after)
        *p->cancel = 1;
}

static void random_bytes(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rand() >> 7);
}

/* A file of several chunks in flight up and back down. */
static void test_server_transfer(void **state) {
    struct server *sv = *state;
    server_start(sv);
    net_sftp *s = sv->s;
    size_t size = 3 * 1024 * 1024 + 123;
    unsigned char *data = malloc(size);
    assert_non_null(data);
    random_bytes(data, size);
    _cleanup_free_ char *src = pathf("%s/src", sv->host), *dst = pathf("%s/dst", sv->srv),
                        *back = pathf("%s/back", sv->host);
    write_file(src, data, size, 0644);
    struct error err;
    error_init(&err);
    struct sftp_handle h;
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    assert_int_equal(sftp_open(s, dst, SFTP_FXF_WRITE | SFTP_FXF_CREAT, NULL, NULL, &h, &err), 0);
    struct prog p = {0};
    assert_int_equal(sftp_upload(s, &h, fd, src, on_prog, &p, &err), 0);
    close(fd);
    assert_int_equal(sftp_close_handle(s, &h, &err), 0);
    assert_int_equal(p.last, size);
    assert_false(p.decreased);
    assert_true(p.calls >= size / SFTP_CHUNK);
    struct strbuf sb = STRBUF_INIT;
    read_file(dst, &sb);
    assert_int_equal(sb.len, size);
    assert_memory_equal(sb.buf, data, size);

    /* down again; the size given is short (the file grew): it is read to its end all the same */
    fd = open(back, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_int_equal(sftp_open(s, dst, SFTP_FXF_READ, NULL, NULL, &h, &err), 0);
    p = (struct prog){0};
    uint64_t got = 0;
    assert_int_equal(sftp_download(s, &h, fd, size / 2, back, on_prog, &p, &got, &err), 0);
    assert_int_equal(sftp_close_handle(s, &h, &err), 0);
    close(fd);
    assert_int_equal(got, size);
    assert_int_equal(p.last, size);
    read_file(back, &sb);
    assert_int_equal(sb.len, size);
    assert_memory_equal(sb.buf, data, size);

    /* an empty file, into a file that had more */
    write_file(dst, "", 0, 0644);
    fd = open(back, O_RDWR | O_CLOEXEC);
    assert_int_equal(sftp_open(s, dst, SFTP_FXF_READ, NULL, NULL, &h, &err), 0);
    assert_int_equal(sftp_download(s, &h, fd, 0, back, NULL, NULL, &got, &err), 0);
    assert_int_equal(sftp_close_handle(s, &h, &err), 0);
    close(fd);
    assert_int_equal(got, 0);
    struct stat st;
    assert_int_equal(stat(back, &st), 0);
    assert_int_equal(st.st_size, 0);
    strbuf_release(&sb);
    free(data);
}

/* ---- copies ---------------------------------------------------------------------- */

/*
 * A line per entry below dir, sorted: path, type, mode, size, modification
 * time (not for symlinks), a symlink's target, a file's bytes' sum.
 */
static void tree_list(const char *dir, const char *rel, struct strbuf *out) {
    _cleanup_free_ char *path = *rel ? pathf("%s/%s", dir, rel) : pathf("%s", dir);
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            _cleanup_free_ char *r = *rel ? pathf("%s/%s", rel, name) : pathf("%s", name);
            _cleanup_free_ char *full = pathf("%s/%s", dir, r);
            struct stat st;
            assert_int_equal(lstat(full, &st), 0);
            assert_int_equal(
                strbuf_addf(out, "%s %o %lld", r, (unsigned)st.st_mode, (long long)st.st_size), 0);
            if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX] = "";
                assert_true(readlink(full, t, sizeof(t) - 1) > 0);
                assert_int_equal(strbuf_addf(out, " -> %s\n", t), 0);
            } else if (S_ISREG(st.st_mode)) {
                struct strbuf sb = STRBUF_INIT;
                read_file(full, &sb);
                uint64_t sum = 1469598103934665603ULL;
                for (size_t k = 0; k < sb.len; k++)
                    sum = (sum ^ (unsigned char)sb.buf[k]) * 1099511628211ULL;
                assert_int_equal(strbuf_addf(out, " %lld %llx\n", (long long)st.st_mtime,
                                             (unsigned long long)sum),
                                 0);
                strbuf_release(&sb);
            } else {
                assert_int_equal(strbuf_addf(out, " %lld\n", (long long)st.st_mtime), 0);
                if (S_ISDIR(st.st_mode))
                    tree_list(dir, r, out);
            }
        }
        free(names[i]);
    }
    free(names);
}

static int copy(struct server *sv, bool to_server, const char *host, const char *server,
                bool recursive, struct error *err) {
    error_init(err);
    struct net_cp o = {
        .to_server = to_server, .host_path = host, .server_path = server, .recursive = recursive};
    return net_sftp_copy(sv->s, &o, err);
}

/* A tree: nested directories, an empty one, symlinks in and out of it, a space in a name. */
static void make_tree(const char *root) {
    time_t t = time(NULL) - 7200;
    _cleanup_free_ char *a = pathf("%s/a", root), *b = pathf("%s/a/b", root),
                        *e = pathf("%s/empty", root), *f = pathf("%s/a/b/deep file", root),
                        *g = pathf("%s/top", root), *l1 = pathf("%s/a/in", root),
                        *l2 = pathf("%s/out", root);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(a, 0750), 0);
    assert_int_equal(mkdir(b, 0700), 0);
    assert_int_equal(mkdir(e, 0555), 0);
    unsigned char data[100000];
    random_bytes(data, sizeof(data));
    write_file(f, data, sizeof(data), 0640);
    write_file(g, "top\n", 4, 0604);
    assert_int_equal(symlink("b/deep file", l1), 0);
    assert_int_equal(symlink("/etc/hostname", l2), 0);
    set_times(f, t + 10, t + 1);
    set_times(g, t + 10, t + 2);
    set_times(l1, t + 10, t + 3);
    set_times(b, t + 10, t + 4);
    set_times(a, t + 10, t + 5);
    set_times(e, t + 10, t + 6);
    set_times(root, t + 10, t + 7);
}

static void assert_same_tree(const char *a, const char *b) {
    struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;
    tree_list(a, "", &x);
    tree_list(b, "", &y);
    assert_true(x.len > 0);
    assert_string_equal(x.buf, y.buf);
    strbuf_release(&x);
    strbuf_release(&y);
}

/* No ".hearth-" file anywhere below dir. */
static void assert_no_tmp(const char *dir) {
    struct strbuf sb = STRBUF_INIT;
    tree_list(dir, "", &sb);
    if (sb.buf && strstr(sb.buf, ".hearth-"))
        fail_msg("a temporary file is left: %s", sb.buf);
    strbuf_release(&sb);
}

static void test_copy_files(void **state) {
    struct server *sv = *state;
    server_start(sv);
    struct error err;
    _cleanup_free_ char *f = pathf("%s/f", sv->host), *srvf = pathf("%s/f", sv->srv),
                        *srvg = pathf("%s/g", sv->srv), *srvdir = pathf("%s/", sv->srv),
                        *back = pathf("%s/back", sv->host);
    write_file(f, "hello\n", 6, 04751); /* setuid: dropped */
    set_times(f, 1600000000, 1500000000);

    /* into a directory (DIR/), to a new name, over an existing file */
    assert_int_equal(copy(sv, true, f, srvdir, false, &err), 0);
    struct stat st;
    assert_int_equal(stat(srvf, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0751);
    assert_int_equal(st.st_mtime, 1500000000);
    assert_int_equal(st.st_atime, 1600000000);
    assert_int_equal(copy(sv, true, f, srvg, false, &err), 0);
    assert_int_equal(stat(srvg, &st), 0);
    write_file(f, "hello again\n", 12, 0600);
    assert_int_equal(copy(sv, true, f, srvg, false, &err), 0);
    struct strbuf sb = STRBUF_INIT;
    read_file(srvg, &sb);
    assert_string_equal(sb.buf, "hello again\n");
    assert_int_equal(stat(srvg, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* and back: to a new name, into a directory */
    set_times(srvf, 1600000000, 1400000000);
    assert_int_equal(copy(sv, false, back, srvf, false, &err), 0);
    assert_int_equal(stat(back, &st), 0); /* before reading it changes the access time */
    assert_int_equal(st.st_mode & 07777, 0751);
    assert_int_equal(st.st_mtime, 1400000000);
    assert_int_equal(st.st_atime, 1600000000);
    assert_int_equal(st.st_uid, getuid());
    read_file(back, &sb);
    assert_string_equal(sb.buf, "hello\n");
    assert_int_equal(copy(sv, false, sv->host, srvg, false, &err), 0);
    _cleanup_free_ char *hg = pathf("%s/g", sv->host);
    read_file(hg, &sb);
    assert_string_equal(sb.buf, "hello again\n");

    /* missing sources, each side named */
    _cleanup_free_ char *nope = pathf("%s/nope", sv->host), *srvnope = pathf("%s/nope", sv->srv);
    assert_int_equal(copy(sv, true, nope, srvdir, false, &err), -ENOENT);
    char want[256];
    snprintf(want, sizeof(want), "host: %s: No such file or directory", nope);
    assert_string_equal(err.msg, want);
    assert_int_equal(copy(sv, false, sv->host, srvnope, false, &err), -ENOENT);
    snprintf(want, sizeof(want), "vm 'test': %s: No such file or directory", srvnope);
    assert_string_equal(err.msg, want);
    /* a directory without -r, each side */
    assert_int_equal(copy(sv, true, sv->host, srvdir, false, &err), -EISDIR);
    snprintf(want, sizeof(want), "host: %s: a directory; copy it with -r", sv->host);
    assert_string_equal(err.msg, want);
    assert_int_equal(copy(sv, false, sv->host, sv->srv, false, &err), -EISDIR);
    snprintf(want, sizeof(want), "vm 'test': %s: a directory; copy it with -r", sv->srv);
    assert_string_equal(err.msg, want);
    /* a destination directory that is not there */
    _cleanup_free_ char *nodir = pathf("%s/nodir/", sv->srv);
    assert_int_equal(copy(sv, true, f, nodir, false, &err), -ENOENT);
    snprintf(want, sizeof(want), "vm 'test': %s: No such file or directory", nodir);
    assert_string_equal(err.msg, want);
    /* a file onto a directory */
    _cleanup_free_ char *sub = pathf("%s/sub", sv->srv), *subf = pathf("%s/sub/f", sv->srv);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(subf, 0755), 0);
    assert_int_equal(copy(sv, true, f, sub, false, &err), -EISDIR);
    assert_non_null(strstr(err.msg, "sub/f: a directory, so the file cannot replace it"));
    assert_no_tmp(sv->srv);
    assert_no_tmp(sv->host);
    strbuf_release(&sb);
}

static void test_copy_trees(void **state) {
    struct server *sv = *state;
    server_start(sv);
    struct error err;
    _cleanup_free_ char *src = pathf("%s/tree", sv->host), *x = pathf("%s/x", sv->srv),
                        *xtree = pathf("%s/x/tree", sv->srv), *y = pathf("%s/y", sv->host),
                        *ytree = pathf("%s/y/tree", sv->host);
    make_tree(src);
    /* missing destination: a copy named x; then x exists: x/tree */
    assert_int_equal(copy(sv, true, src, x, true, &err), 0);
    assert_same_tree(src, x);
    assert_int_equal(copy(sv, true, src, x, true, &err), 0);
    assert_same_tree(src, xtree);
    /* the symlink that points out of the tree is a symlink in the copy, not what it names */
    _cleanup_free_ char *out = pathf("%s/out", x);
    struct stat st;
    assert_int_equal(lstat(out, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    /* and back out, the same two ways */
    assert_int_equal(copy(sv, false, y, x, true, &err), 0);
    assert_same_tree(x, y);
    assert_int_equal(copy(sv, false, y, xtree, true, &err), 0);
    assert_same_tree(src, ytree);
    /* again onto what is there: merged, the same */
    assert_int_equal(copy(sv, false, y, xtree, true, &err), 0);
    assert_same_tree(src, ytree);
    /* a directory onto a file */
    _cleanup_free_ char *top = pathf("%s/top", x);
    assert_int_equal(copy(sv, true, src, top, true, &err), -ENOTDIR);
    assert_non_null(strstr(err.msg, "/x/top: not a directory"));
    assert_no_tmp(sv->srv);
    assert_no_tmp(sv->host);
}

/* A symlink on the host where the server has a directory: the copy stops, nothing goes through. */
static void test_copy_no_follow(void **state) {
    struct server *sv = *state;
    server_start(sv);
    struct error err;
    _cleanup_free_ char *d = pathf("%s/d", sv->srv), *dx = pathf("%s/d/x", sv->srv),
                        *dxf = pathf("%s/d/x/f", sv->srv), *outside = pathf("%s/outside", sv->dir),
                        *hd = pathf("%s/d", sv->host), *hdx = pathf("%s/d/x", sv->host);
    assert_int_equal(mkdir(d, 0755), 0);
    assert_int_equal(mkdir(dx, 0755), 0);
    write_file(dxf, "f", 1, 0644);
    assert_int_equal(mkdir(outside, 0755), 0);
    assert_int_equal(mkdir(hd, 0755), 0);
    assert_int_equal(symlink(outside, hdx), 0);
    assert_int_equal(copy(sv, false, sv->host, d, true, &err), -ENOTDIR);
    assert_non_null(strstr(err.msg, "/host/d/x: not a directory"));
    DIR *dir = opendir(outside);
    int entries = 0;
    while (readdir(dir))
        entries++;
    closedir(dir);
    assert_int_equal(entries, 2); /* . and .. */
}

/* A file's progress that sets the cancel flag once data went. */
static void cancel_on_data(void *ud, const char *path, uint64_t done, uint64_t total) {
    (void)path;
    (void)total;
    volatile sig_atomic_t *cancel = ud;
    if (done > 0)
        *cancel = 1;
}

/* Cancelled in the middle of a file: nothing partial, an existing destination as it was. */
static void test_copy_cancel(void **state) {
    struct server *sv = *state;
    server_start(sv);
    size_t size = 2 * 1024 * 1024;
    unsigned char *data = malloc(size);
    assert_non_null(data);
    random_bytes(data, size);
    _cleanup_free_ char *big = pathf("%s/big", sv->host), *srvbig = pathf("%s/big", sv->srv),
                        *back = pathf("%s/back", sv->host), *srvnew = pathf("%s/new", sv->srv);
    write_file(big, data, size, 0644);
    volatile sig_atomic_t cancel = 0;
    net_sftp_set_cancel(sv->s, &cancel);
    for (int i = 0; i < 3; i++) {
        bool up = i != 1;
        /* up over an existing file, down over one, up to a new name */
        const char *server = i == 2 ? srvnew : srvbig;
        write_file(up ? srvbig : back, "old", 3, 0644);
        if (!up)
            write_file(srvbig, data, size, 0644);
        struct net_cp o = {.to_server = up,
                           .host_path = up ? big : back,
                           .server_path = server,
                           .progress = cancel_on_data,
                           .ud = (void *)&cancel};
        struct error err;
        error_init(&err);
        cancel = 0;
        assert_int_equal(net_sftp_copy(sv->s, &o, &err), -ECANCELED);
        assert_false(net_sftp_broken(sv->s));
        struct strbuf sb = STRBUF_INIT;
        read_file(up ? srvbig : back, &sb);
        assert_string_equal(sb.buf, "old");
        strbuf_release(&sb);
        assert_no_tmp(sv->srv);
        assert_no_tmp(sv->host);
    }
    assert_int_equal(access(srvnew, F_OK), -1);
    /* the session still works */
    cancel = 0;
    struct error err;
    assert_int_equal(copy(sv, true, big, srvnew, false, &err), 0);
    net_sftp_set_cancel(sv->s, NULL);
    free(data);
}

const struct CMUnitTest net_sftp_tests[] = {
    cmocka_unit_test(test_wire_packets),
    cmocka_unit_test(test_wire_malformed),
    cmocka_unit_test(test_status_text),
    cmocka_unit_test(test_cp_target),
    cmocka_unit_test(test_tmp_name),
    cmocka_unit_test(test_fake_server),
    cmocka_unit_test_setup_teardown(test_server_requests, server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(test_server_transfer, server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(test_copy_files, server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(test_copy_trees, server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(test_copy_no_follow, server_setup, server_teardown),
    cmocka_unit_test_setup_teardown(test_copy_cancel, server_setup, server_teardown),
};
const size_t net_sftp_tests_n = ARRAY_SIZE(net_sftp_tests);
