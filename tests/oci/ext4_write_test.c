/*
 * Tests of oci_ext4_write_files: a small ext4 image built with `mke2fs -d`
 * from a tree holding /etc/hosts, a symlink /escape -> /tmp and /root/.ssh
 * -> ../../..; files written, replaced and given parents, read back with
 * debugfs; writes through symlinks refused with nothing written on the host
 * or in the image; bad guest paths refused; a full image gives -ENOSPC;
 * staging only in the caller's work directory (never $TMPDIR), empty after
 * every call; and e2fsck finds every image clean afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "oci/oci.h"
#include "oci_test.h"

struct e4 {
    char base[256];
    char tree[300];
    char img[300];
    char work[300];    /* the caller's work directory, where staging goes */
    char outside[300]; /* a name under the host's /tmp that must never appear */
};

static void put_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static int e4_setup(void **state) {
    struct e4 *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->base, sizeof(f->base), "/tmp/hearth-e4w-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    snprintf(f->tree, sizeof(f->tree), "%s/tree", f->base);
    snprintf(f->img, sizeof(f->img), "%s/img", f->base);
    snprintf(f->work, sizeof(f->work), "%s/work dir", f->base); /* a space: never parsed */
    assert_int_equal(mkdir(f->work, 0700), 0);
    snprintf(f->outside, sizeof(f->outside), "/tmp/%s-outside", f->base + 5);
    char p[400];
    assert_int_equal(mkdir(f->tree, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc", f->tree);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc/hosts", f->tree);
    put_file(p, "old hosts\n", 10);
    snprintf(p, sizeof(p), "%s/escape", f->tree);
    assert_int_equal(symlink("/tmp", p), 0);
    snprintf(p, sizeof(p), "%s/root", f->tree);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/root/.ssh", f->tree);
    assert_int_equal(symlink("../../..", p), 0);
    struct error err;
    error_init(&err);
    const char *mk[] = {"mke2fs", "-q",    "-t",   "ext4", "-b", "4096",
                        "-d",     f->tree, f->img, "16M",  NULL};
    if (exec_run(mk, NULL, &err) < 0)
        fail_msg("mke2fs: %s", err.msg);
    *state = f;
    return 0;
}

static int e4_teardown(void **state) {
    struct e4 *f = *state;
    struct error err;
    error_init(&err);
    assert_int_equal(fs_tree_remove(f->base, &err), 0);
    free(f);
    return 0;
}

static void fsck_clean(const char *img) {
    struct error err;
    error_init(&err);
    const char *argv[] = {"e2fsck", "-fn", img, NULL};
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("e2fsck: %s", err.msg);
}

/* `debugfs -R CMD img` stdout; caller frees. */
static char *dbg(const char *img, const char *cmd) {
    struct strbuf out = STRBUF_INIT;
    struct error err;
    error_init(&err);
    const char *argv[] = {"debugfs", "-R", cmd, img, NULL};
    if (exec_run(argv, &(struct exec_opts){.out = &out}, &err) < 0)
        fail_msg("debugfs: %s", err.msg);
    return strbuf_detach(&out);
}

static char *cat(const char *img, const char *path) {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cat %s", path);
    return dbg(img, cmd);
}

/* The "Mode:", "User:" and "Group:" of path; false if it does not exist. */
static bool stat_of(const char *img, const char *path, unsigned *mode, unsigned *uid, unsigned *gid,
                    char *type, size_t tsize) {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "stat %s", path);
    char *out = dbg(img, cmd);
    const char *t = strstr(out, "Type: "), *m = strstr(out, "Mode: "), *u = strstr(out, "User: "),
               *g = strstr(out, "Group: ");
    bool ok = t && m && u && g;
    if (ok) {
        *mode = (unsigned)strtoul(m + 6, NULL, 8);
        *uid = (unsigned)strtoul(u + 6, NULL, 10);
        *gid = (unsigned)strtoul(g + 7, NULL, 10);
        snprintf(type, tsize, "%.*s", (int)strcspn(t + 6, " "), t + 6);
    }
    free(out);
    return ok;
}

static void test_write(void **state) {
    struct e4 *f = *state;
    char host[400];
    snprintf(host, sizeof(host), "%s/keys", f->base);
    put_file(host, "ssh-ed25519 AAAA test\n", 22);
    struct oci_ext4_file files[] = {
        {.guest_path = "/etc/hostname", .data = "vm1\n", .len = 4, .mode = 0644},
        {.guest_path = "/etc/hosts", .data = "127.0.0.1 vm1\n", .len = 14, .mode = 0644},
        {.guest_path = "/root/new/deep/file", .data = "deep", .len = 4, .mode = 0640, .gid = 5},
        {.guest_path = "/home/u/keys", .host_path = host, .mode = 0600, .uid = 1000, .gid = 1000},
        {.guest_path = "/empty", .mode = 04755},
        {.guest_path = "/etc/#odd$name,\xc3\xa9", .data = "odd", .len = 3, .mode = 0644},
    };
    struct error err;
    error_init(&err);
    int r = oci_ext4_write_files(f->img, files, ARRAY_SIZE(files), f->work, &err);
    if (r < 0)
        fail_msg("write: %s", err.msg);

    char *s = cat(f->img, "/etc/hostname");
    assert_string_equal(s, "vm1\n");
    free(s);
    s = cat(f->img, "/etc/hosts");
    assert_string_equal(s, "127.0.0.1 vm1\n");
    free(s);
    s = cat(f->img, "/root/new/deep/file");
    assert_string_equal(s, "deep");
    free(s);
    s = cat(f->img, "/etc/#odd$name,\xc3\xa9");
    assert_string_equal(s, "odd");
    free(s);
    s = cat(f->img, "/home/u/keys");
    assert_string_equal(s, "ssh-ed25519 AAAA test\n");
    free(s);

    unsigned mode, uid, gid;
    char type[32];
    assert_true(stat_of(f->img, "/home/u/keys", &mode, &uid, &gid, type, sizeof(type)));
    assert_string_equal(type, "regular");
    assert_int_equal(mode, 0600);
    assert_int_equal(uid, 1000);
    assert_int_equal(gid, 1000);
    assert_true(stat_of(f->img, "/root/new/deep/file", &mode, &uid, &gid, type, sizeof(type)));
    assert_int_equal(mode, 0640);
    assert_int_equal(uid, 0);
    assert_int_equal(gid, 5);
    assert_true(stat_of(f->img, "/empty", &mode, &uid, &gid, type, sizeof(type)));
    assert_int_equal(mode, 04755);
    /* Parents made: directories, 0755, root's. */
    assert_true(stat_of(f->img, "/root/new/deep", &mode, &uid, &gid, type, sizeof(type)));
    assert_string_equal(type, "directory");
    assert_int_equal(mode, 0755);
    assert_int_equal(uid, 0);
    assert_int_equal(gid, 0);
    assert_true(stat_of(f->img, "/home", &mode, &uid, &gid, type, sizeof(type)));
    assert_string_equal(type, "directory");
    fsck_clean(f->img);

    /* Again, replacing what was written, with a path given twice: the last wins. */
    struct oci_ext4_file again[] = {
        {.guest_path = "/etc/hostname", .data = "first\n", .len = 6, .mode = 0644},
        {.guest_path = "/etc/hostname", .data = "vm2\n", .len = 4, .mode = 0600, .uid = 7},
    };
    r = oci_ext4_write_files(f->img, again, ARRAY_SIZE(again), f->work, &err);
    if (r < 0)
        fail_msg("rewrite: %s", err.msg);
    s = cat(f->img, "/etc/hostname");
    assert_string_equal(s, "vm2\n");
    free(s);
    assert_true(stat_of(f->img, "/etc/hostname", &mode, &uid, &gid, type, sizeof(type)));
    assert_int_equal(mode, 0600);
    assert_int_equal(uid, 7);
    fsck_clean(f->img);

    /* Zero files: nothing to do. */
    assert_int_equal(oci_ext4_write_files(f->img, NULL, 0, f->work, &err), 0);
}

static void test_symlinks(void **state) {
    struct e4 *f = *state;
    struct error err;
    char gp[400];
    /* /escape -> /tmp: the file would be /tmp/<name> if the host were followed. */
    snprintf(gp, sizeof(gp), "/escape/%s", strrchr(f->outside, '/') + 1);
    struct oci_ext4_file esc[] = {
        {.guest_path = "/etc/good", .data = "x", .len = 1, .mode = 0644},
        {.guest_path = gp, .data = "x", .len = 1, .mode = 0644},
    };
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, esc, ARRAY_SIZE(esc), f->work, &err), -EPERM);
    assert_non_null(strstr(err.msg, gp));
    assert_non_null(strstr(err.msg, "'/escape' is a symlink"));
    assert_int_equal(access(f->outside, F_OK), -1);
    /* Refused before anything was written: /etc/good is not there either. */
    unsigned mode, uid, gid;
    char type[32];
    assert_false(stat_of(f->img, "/etc/good", &mode, &uid, &gid, type, sizeof(type)));

    /* /root/.ssh -> ../../..: would land at /authorized_keys inside the image. */
    struct oci_ext4_file ssh = {
        .guest_path = "/root/.ssh/authorized_keys", .data = "k", .len = 1, .mode = 0600};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &ssh, 1, f->work, &err), -EPERM);
    assert_non_null(strstr(err.msg, "/root/.ssh/authorized_keys"));
    assert_false(stat_of(f->img, "/authorized_keys", &mode, &uid, &gid, type, sizeof(type)));

    /* The file itself a symlink: not replaced. */
    struct oci_ext4_file self = {.guest_path = "/escape", .data = "k", .len = 1, .mode = 0644};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &self, 1, f->work, &err), -EPERM);
    assert_true(stat_of(f->img, "/escape", &mode, &uid, &gid, type, sizeof(type)));
    assert_string_equal(type, "symlink");

    /* A directory where the file goes, a file where a parent goes. */
    struct oci_ext4_file dir = {.guest_path = "/etc", .data = "k", .len = 1, .mode = 0644};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &dir, 1, f->work, &err), -EISDIR);
    struct oci_ext4_file notdir = {
        .guest_path = "/etc/hosts/x", .data = "k", .len = 1, .mode = 0644};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &notdir, 1, f->work, &err), -ENOTDIR);
    assert_non_null(strstr(err.msg, "/etc/hosts/x"));
    char *s = cat(f->img, "/etc/hosts");
    assert_string_equal(s, "old hosts\n");
    free(s);
    fsck_clean(f->img);
}

static void test_bad_paths(void **state) {
    struct e4 *f = *state;
    char long_path[OCI_PATH_MAX + 8];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    char long_name[300];
    memset(long_name, 'b', sizeof(long_name) - 1);
    long_name[0] = '/';
    long_name[sizeof(long_name) - 1] = '\0';
    const char *bad[] = {"",      "etc/x",   "/",      "/etc/",   "/etc//x", "/etc/../x",
                         "/./x",  "/etc/..", "/a b",   "/a\"b",   "/a'b",    "/a\nb",
                         "/a\\b", "/a\tb",   "/a\x7f", long_path, long_name};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct oci_ext4_file file = {.guest_path = bad[i], .data = "x", .len = 1, .mode = 0644};
        struct error err;
        error_init(&err);
        int r = oci_ext4_write_files(f->img, &file, 1, f->work, &err);
        if (r != -EINVAL)
            fail_msg("'%s': %d %s", bad[i], r, err.msg);
        if (i >= 1 && i <= 14)
            assert_non_null(strstr(err.msg, bad[i]));
    }
    struct error err;
    struct oci_ext4_file mode = {.guest_path = "/x", .data = "x", .len = 1, .mode = 0100644};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &mode, 1, f->work, &err), -EINVAL);
    struct oci_ext4_file nodata = {.guest_path = "/x", .len = 3, .mode = 0644};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &nodata, 1, f->work, &err), -EINVAL);
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/tree", f->base);
    struct oci_ext4_file hostdir = {.guest_path = "/x", .host_path = dir, .mode = 0644};
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &hostdir, 1, f->work, &err), -EINVAL);
    /* A directory given as the image. */
    struct oci_ext4_file ok = {.guest_path = "/x", .data = "x", .len = 1, .mode = 0644};
    error_init(&err);
    assert_true(oci_ext4_write_files(dir, &ok, 1, f->work, &err) < 0);
    fsck_clean(f->img);
}

static void test_enospc(void **state) {
    struct e4 *f = *state;
    char host[400];
    snprintf(host, sizeof(host), "%s/big", f->base);
    size_t n = 24u << 20;
    char *buf = malloc(n);
    assert_non_null(buf);
    /* Not zeros: debugfs leaves holes for those. */
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(x >> 16);
    }
    put_file(host, buf, n);
    free(buf);
    struct oci_ext4_file files[] = {
        {.guest_path = "/etc/small", .data = "s", .len = 1, .mode = 0644},
        {.guest_path = "/var/big", .host_path = host, .mode = 0644},
    };
    struct error err;
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, files, ARRAY_SIZE(files), f->work, &err),
                     -ENOSPC);
    assert_non_null(strstr(err.msg, "/var/big"));
    unsigned mode, uid, gid;
    char type[32];
    assert_false(stat_of(f->img, "/var", &mode, &uid, &gid, type, sizeof(type)));
    fsck_clean(f->img);
}

/* Entries of dir but "." and ".."; -1 when it cannot be read. */
static int entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            print_message("  left in '%s': %s\n", dir, de->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/*
 * Staging goes to the caller's work directory (whose name debugfs never
 * parses: it has a space) and nowhere else, also not $TMPDIR; it is gone
 * after each call, failed ones too; an image given by a relative path works.
 */
static void test_staging(void **state) {
    struct e4 *f = *state;
    char tmpdir[400], host[400];
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmpdir", f->base);
    assert_int_equal(mkdir(tmpdir, 0700), 0);
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmpdir, 1);
    snprintf(host, sizeof(host), "%s/secret", f->base);
    put_file(host, "private\n", 8);
    struct oci_ext4_file files[] = {
        {.guest_path = "/etc/hostname", .data = "vm2\n", .len = 4, .mode = 0644},
        {.guest_path = "/root/key", .host_path = host, .mode = 0600},
    };
    struct error err;
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, files, ARRAY_SIZE(files), f->work, &err), 0);
    char *s = cat(f->img, "/root/key");
    assert_string_equal(s, "private\n");
    free(s);
    assert_int_equal(oci_ext4_dir_make(f->img, "/srv/data", 0750, 0, 0, f->work, &err), 0);
    char *resolved = NULL;
    assert_int_equal(oci_ext4_resolve(f->img, "/escape/x", f->work, &resolved, &err), 0);
    assert_string_equal(resolved, "/tmp/x");
    free(resolved);
    /* A failing call cleans up too. */
    struct oci_ext4_file bad = {.guest_path = "/escape/y", .data = "y", .len = 1, .mode = 0644};
    assert_int_equal(oci_ext4_write_files(f->img, &bad, 1, f->work, &err), -EPERM);
    assert_int_equal(entries(f->work), 0);
    assert_int_equal(entries(tmpdir), 0);

    /* The image by a relative path: debugfs runs elsewhere, so it is made absolute. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->base), 0);
    struct oci_ext4_file rel = {.guest_path = "/etc/rel", .data = "r", .len = 1, .mode = 0644};
    int r = oci_ext4_write_files("img", &rel, 1, f->work, &err);
    assert_int_equal(chdir(cwd), 0);
    if (r < 0)
        fail_msg("relative image: %s", err.msg);
    s = cat(f->img, "/etc/rel");
    assert_string_equal(s, "r");
    free(s);

    /* No work directory, or a relative one: refused before anything is made. */
    error_init(&err);
    assert_int_equal(oci_ext4_write_files(f->img, &rel, 1, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "work directory"));
    assert_int_equal(oci_ext4_write_files(f->img, &rel, 1, "work", &err), -EINVAL);
    assert_int_equal(oci_ext4_dir_make(f->img, "/srv", 0755, 0, 0, NULL, &err), -EINVAL);
    assert_int_equal(entries(f->work), 0);
    assert_int_equal(entries(tmpdir), 0);
    if (old)
        setenv("TMPDIR", old, 1);
    else
        unsetenv("TMPDIR");
    free(old);
    fsck_clean(f->img);
}

static bool tool_present(const char *name) {
    struct error err;
    error_init(&err);
    const char *argv[] = {name, "-V", NULL};
    return exec_run(argv, NULL, &err) != -ENOENT;
}

int ext4_write_tests_run(void) {
    if (!tool_present("debugfs") || !tool_present("mke2fs") || !tool_present("e2fsck")) {
        fprintf(stderr, "FAIL: ext4_write: debugfs, mke2fs or e2fsck is not installed: "
                        "apt-get install e2fsprogs (scripts/install-deps installs it)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write, e4_setup, e4_teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, e4_setup, e4_teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, e4_setup, e4_teardown),
        cmocka_unit_test_setup_teardown(test_enospc, e4_setup, e4_teardown),
        cmocka_unit_test_setup_teardown(test_staging, e4_setup, e4_teardown),
    };
    return cmocka_run_group_tests_name("ext4_write", tests, NULL, NULL);
}
