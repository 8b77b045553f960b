/*
 * Tests of the oci module's unpacking side: layers built here with
 * libarchive's write API (pax; plain, gzip and zstd), stored in a temporary
 * blob cache under their sha256 and applied with oci_unpack; hostile layers
 * that each try an escape, with a sentinel directory next to the staging
 * directory that must stay untouched; ext4 builds checked with e2fsck and
 * debugfs; and Debian's kernel identified and extracted.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "oci/oci.h"
#include "oci/unpack_priv.h"
#include "oci_test.h"

static int run(const char *const *argv, struct strbuf *out, struct error *err);
static void write_file_n(const char *path, size_t n, char c);

/* ---- fixture --------------------------------------------------------------- */

struct fx {
    char base[256];     /* the test's temporary directory */
    char cache[300];    /* blob cache */
    char root[300];     /* staging directory */
    char sentinel[300]; /* next to root; must never change */
    char tag[64];       /* basename of base, to make outside names unique */
    unsigned inroot;    /* INROOT_WALK: the user-space walk instead of openat2 */
    struct oci_image img;
};

static int fx_setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->base, sizeof(f->base), "%s/hearth-unpack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->base));
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->base);
    snprintf(f->root, sizeof(f->root), "%s/root", f->base);
    snprintf(f->sentinel, sizeof(f->sentinel), "%s/sentinel", f->base);
    snprintf(f->tag, sizeof(f->tag), "%s", strrchr(f->base, '/') + 1);
    char p[400];
    snprintf(p, sizeof(p), "%s/sha256", f->cache);
    assert_int_equal(mkdir(f->cache, 0755), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->sentinel, 0755), 0);
    snprintf(p, sizeof(p), "%s/keep", f->sentinel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("sentinel", fp);
    fclose(fp);
    *state = f;
    return 0;
}

/* The same fixture, with every lookup done by the user-space walk (kernels without openat2). */
static int fx_setup_walk(void **state) {
    fx_setup(state);
    ((struct fx *)*state)->inroot = INROOT_WALK;
    return 0;
}

static void img_clear(struct oci_image *img) {
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].digest);
        free(img->layers[i].media_type);
    }
    free(img->layers);
    *img = (struct oci_image){0};
}

static int fx_teardown(void **state) {
    struct fx *f = *state;
    struct error err;
    error_init(&err);
    img_clear(&f->img);
    assert_int_equal(fs_tree_remove(f->base, &err), 0);
    free(f);
    return 0;
}

/* ---- building layers --------------------------------------------------------- */

enum filt { F_NONE, F_GZIP, F_ZSTD };

struct layer {
    struct archive *a;
    char tmp[400];
    struct fx *f;
};

static void layer_begin(struct layer *l, struct fx *f, enum filt filt) {
    l->f = f;
    l->a = archive_write_new();
    assert_non_null(l->a);
    assert_int_equal(archive_write_set_format_pax(l->a), ARCHIVE_OK);
    if (filt == F_GZIP)
        assert_int_equal(archive_write_add_filter_gzip(l->a), ARCHIVE_OK);
    else if (filt == F_ZSTD)
        assert_int_equal(archive_write_add_filter_zstd(l->a), ARCHIVE_OK);
    snprintf(l->tmp, sizeof(l->tmp), "%s/layer.tmp", f->cache);
    assert_int_equal(archive_write_open_filename(l->a, l->tmp), ARCHIVE_OK);
}

struct ent {
    mode_t type; /* AE_IFREG, ... */
    const char *path;
    const char *data;   /* file content */
    const char *target; /* symlink target */
    const char *link;   /* hard link target */
    mode_t perm;        /* 0: 0644 / 0755 */
    int64_t uid, gid;
    int64_t mtime; /* 0: 1600000000 */
    const char *xname, *xvalue;
    dev_t rdev;
};

static void layer_add(struct layer *l, const struct ent *e) {
    struct archive_entry *ae = archive_entry_new();
    assert_non_null(ae);
    archive_entry_set_pathname(ae, e->path);
    mode_t type = e->link ? AE_IFREG : e->type ? e->type : AE_IFREG;
    archive_entry_set_filetype(ae, type);
    archive_entry_set_perm(ae, e->perm ? e->perm : type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_uid(ae, e->uid);
    archive_entry_set_gid(ae, e->gid);
    archive_entry_set_mtime(ae, e->mtime ? e->mtime : 1600000000, 0);
    if (e->target)
        archive_entry_set_symlink(ae, e->target);
    if (e->link)
        archive_entry_set_hardlink(ae, e->link);
    if (e->xname)
        archive_entry_xattr_add_entry(ae, e->xname, e->xvalue, strlen(e->xvalue));
    if (type == AE_IFCHR || type == AE_IFBLK)
        archive_entry_set_rdev(ae, e->rdev);
    size_t n = type == AE_IFREG && e->data && !e->link ? strlen(e->data) : 0;
    archive_entry_set_size(ae, (la_int64_t)n);
    assert_int_equal(archive_write_header(l->a, ae), ARCHIVE_OK);
    if (n)
        assert_int_equal(archive_write_data(l->a, e->data, n), (la_ssize_t)n);
    archive_entry_free(ae);
}

static void layer_file(struct layer *l, const char *path, const char *data) {
    layer_add(l, &(struct ent){.path = path, .data = data});
}
static void layer_dir(struct layer *l, const char *path) {
    layer_add(l, &(struct ent){.type = AE_IFDIR, .path = path});
}
static void layer_symlink(struct layer *l, const char *path, const char *target) {
    layer_add(l, &(struct ent){.type = AE_IFLNK, .path = path, .target = target});
}
static void layer_hardlink(struct layer *l, const char *path, const char *target) {
    layer_add(l, &(struct ent){.path = path, .link = target});
}

/* Closes the layer, stores it in the cache under its sha256 and appends it to the image. */
static void layer_end(struct layer *l) {
    assert_int_equal(archive_write_close(l->a), ARCHIVE_OK);
    archive_write_free(l->a);
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    assert_int_equal(strbuf_read_file(&sb, l->tmp, 1u << 30, &err), 0);
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(sb.buf, sb.len, md, &mdlen, EVP_sha256(), NULL), 1);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    char final[500];
    snprintf(final, sizeof(final), "%s/sha256/%s", l->f->cache, hex);
    assert_int_equal(rename(l->tmp, final), 0);
    struct oci_image *img = &l->f->img;
    img->layers = realloc(img->layers, (img->n_layers + 1) * sizeof(*img->layers));
    assert_non_null(img->layers);
    struct oci_layer *ly = &img->layers[img->n_layers++];
    ly->digest = xasprintf("sha256:%s", hex);
    ly->media_type = xstrdup("application/vnd.oci.image.layer.v1.tar");
    ly->size = sb.len;
    img->size += sb.len;
    strbuf_release(&sb);
}

static int unpack(struct fx *f, struct error *err) {
    error_init(err);
    return unpack_image(&f->img, f->cache, f->root, NULL, f->inroot, err);
}

/* ---- checks -------------------------------------------------------------------- */

static char *root_path(struct fx *f, const char *rel) {
    char *p = xasprintf("%s/%s", f->root, rel);
    assert_non_null(p);
    return p;
}

static void assert_content(struct fx *f, const char *rel, const char *want) {
    _cleanup_free_ char *p = root_path(f, rel);
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    int r = strbuf_read_file(&sb, p, 1 << 20, &err);
    if (r < 0)
        fail_msg("%s: %s", rel, err.msg);
    assert_string_equal(sb.buf ? sb.buf : "", want);
    strbuf_release(&sb);
}

static bool exists_in_root(struct fx *f, const char *rel) {
    _cleanup_free_ char *p = root_path(f, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static mode_t lmode(struct fx *f, const char *rel) {
    _cleanup_free_ char *p = root_path(f, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode;
}

static bool path_exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Nothing was written next to the staging directory, above it, or at the filesystem root. */
static void assert_nothing_outside(struct fx *f, const char *name) {
    DIR *d = opendir(f->base);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (strcmp(de->d_name, "cache") && strcmp(de->d_name, "root") &&
            strcmp(de->d_name, "sentinel"))
            fail_msg("unexpected '%s' next to the staging directory", de->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 3);
    d = opendir(f->sentinel);
    assert_non_null(d);
    n = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    assert_int_equal(n, 1);
    struct stat st;
    assert_int_equal(lstat(f->sentinel, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    char p[600];
    snprintf(p, sizeof(p), "%s/keep", f->sentinel);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_nlink, 1); /* no hard link to it anywhere */
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    assert_int_equal(strbuf_read_file(&sb, p, 100, &err), 0);
    assert_string_equal(sb.buf, "sentinel");
    strbuf_release(&sb);
    if (name) {
        char dir[300];
        snprintf(dir, sizeof(dir), "%s", f->base);
        snprintf(p, sizeof(p), "%s/%s", dirname(dir), name);
        assert_false(path_exists(p));
        snprintf(p, sizeof(p), "/%s", name);
        assert_false(path_exists(p));
        snprintf(p, sizeof(p), "/tmp/%s", name);
        assert_false(path_exists(p));
    }
}

/* The unpack fails with code, naming the last layer (and in_msg), and nothing outside changed. */
static void assert_refused(struct fx *f, int code, const char *name, const char *in_msg) {
    struct error err;
    int r = unpack(f, &err);
    if (getenv("HEARTH_TEST_VERBOSE"))
        print_message("refused: %s\n", err.msg);
    if (r != code)
        fail_msg("expected %d, got %d: %s", code, r, err.msg);
    assert_int_equal(err.code, code);
    /* The message names the layer and the entry. */
    assert_non_null(strstr(err.msg, f->img.layers[f->img.n_layers - 1].digest));
    if (in_msg && !strstr(err.msg, in_msg))
        fail_msg("message '%s' does not name '%s'", err.msg, in_msg);
    assert_nothing_outside(f, name);
}

static void assert_eperm(struct fx *f, const char *name, const char *in_msg) {
    assert_refused(f, -EPERM, name, in_msg);
}

/* The unpack succeeds, and nothing outside changed (nor /NAME, /tmp/NAME, ../NAME). */
static void assert_unpacks(struct fx *f, const char *name) {
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_nothing_outside(f, name);
}

/* The path inside the root that the absolute path abs names when the root is "/". */
static char *inside(struct fx *f, const char *abs) {
    assert_true(abs[0] == '/');
    return root_path(f, abs + 1);
}

static ino_t ino_of(const char *p) {
    struct stat st;
    if (lstat(p, &st) < 0)
        fail_msg("%s: %s", p, strerror(errno));
    return st.st_ino;
}

/* ---- layering ------------------------------------------------------------------ */

static void test_layers_override(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_GZIP);
    layer_dir(&l, "etc");
    layer_file(&l, "etc/conf", "one");
    layer_file(&l, "etc/other", "stays");
    layer_dir(&l, "p");
    layer_file(&l, "p/q", "inside p");
    layer_file(&l, "f", "a file");
    layer_symlink(&l, "link", f->sentinel); /* absolute, outside: replaced below, never followed */
    layer_dir(&l, "usr");
    layer_dir(&l, "usr/lib");
    layer_symlink(&l, "lib", "usr/lib");
    layer_end(&l);
    layer_begin(&l, f, F_ZSTD);
    layer_file(&l, "./etc/conf", "two");
    layer_file(&l, "p", "now a file"); /* file over directory */
    layer_dir(&l, "f");                /* directory over file */
    layer_file(&l, "f/g", "in f");
    layer_file(&l, "link", "replaced the symlink");
    layer_file(&l, "/abs/path", "absolute lands inside"); /* Docker strips the leading "/" */
    layer_file(&l, "lib/x", "through an inside symlink");
    layer_file(&l, "deep/er/file", "parents made");
    layer_end(&l);
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_content(f, "etc/conf", "two");
    assert_content(f, "etc/other", "stays");
    assert_true(S_ISREG(lmode(f, "p")));
    assert_content(f, "p", "now a file");
    assert_true(S_ISDIR(lmode(f, "f")));
    assert_content(f, "f/g", "in f");
    assert_true(S_ISREG(lmode(f, "link")));
    assert_content(f, "link", "replaced the symlink");
    assert_content(f, "abs/path", "absolute lands inside");
    assert_content(f, "usr/lib/x", "through an inside symlink");
    assert_true(S_ISLNK(lmode(f, "lib")));
    assert_content(f, "deep/er/file", "parents made");
    assert_nothing_outside(f, NULL);
}

static void test_whiteouts(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "a");
    layer_file(&l, "a/f", "gone");
    layer_file(&l, "a/g", "kept");
    layer_dir(&l, "b");
    layer_dir(&l, "b/c");
    layer_file(&l, "b/c/d", "gone too");
    layer_symlink(&l, "s", f->sentinel);
    layer_end(&l);
    layer_begin(&l, f, F_GZIP);
    layer_file(&l, "a/.wh.f", "");
    layer_file(&l, ".wh.b", "");
    layer_file(&l, ".wh.s", ""); /* removes the symlink, not what it points at */
    layer_file(&l, "same", "this layer's");
    layer_file(&l, ".wh.same", ""); /* a whiteout hides lower layers only */
    layer_file(&l, "a/.wh.missing", "");
    layer_file(&l, "nodir/.wh.x", "");
    layer_end(&l);
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_false(exists_in_root(f, "a/f"));
    assert_false(exists_in_root(f, "a/.wh.f"));
    assert_content(f, "a/g", "kept");
    assert_false(exists_in_root(f, "b"));
    assert_false(exists_in_root(f, ".wh.b"));
    assert_false(exists_in_root(f, "s"));
    assert_content(f, "same", "this layer's");
    assert_nothing_outside(f, NULL);
}

static void test_opaque(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "d");
    layer_file(&l, "d/old", "lower");
    layer_dir(&l, "d/sub");
    layer_file(&l, "d/sub/old2", "lower");
    layer_file(&l, "other", "untouched");
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "d");
    layer_file(&l, "d/new1", "before the marker");
    layer_file(&l, "d/.wh..wh..opq", "");
    layer_file(&l, "d/new2", "after the marker");
    layer_end(&l);
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_false(exists_in_root(f, "d/old"));
    assert_false(exists_in_root(f, "d/sub"));
    assert_false(exists_in_root(f, "d/.wh..wh..opq"));
    assert_content(f, "d/new1", "before the marker");
    assert_content(f, "d/new2", "after the marker");
    assert_content(f, "other", "untouched");
}

static void test_links(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_GZIP);
    layer_file(&l, "bin/busybox", "multi-call");
    layer_hardlink(&l, "bin/sh", "bin/busybox");
    layer_hardlink(&l, "/bin/ls", "/bin/busybox");
    layer_symlink(&l, "bin/echo", "busybox");
    layer_symlink(&l, "etc/mtab", "/proc/mounts"); /* absolute targets are kept as they are */
    layer_end(&l);
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *a = root_path(f, "bin/busybox");
    _cleanup_free_ char *b = root_path(f, "bin/sh");
    _cleanup_free_ char *c = root_path(f, "bin/ls");
    struct stat sa, sb, sc;
    assert_int_equal(stat(a, &sa), 0);
    assert_int_equal(stat(b, &sb), 0);
    assert_int_equal(stat(c, &sc), 0);
    assert_int_equal(sa.st_ino, sb.st_ino);
    assert_int_equal(sa.st_ino, sc.st_ino);
    assert_int_equal(sa.st_nlink, 3);
    assert_true(S_ISLNK(lmode(f, "bin/echo")));
    _cleanup_free_ char *m = root_path(f, "etc/mtab");
    char t[100];
    ssize_t n = readlink(m, t, sizeof(t) - 1);
    assert_true(n > 0);
    t[n] = '\0';
    assert_string_equal(t, "/proc/mounts");
}

static void test_metadata(void **state) {
    struct fx *f = *state;
    bool root = geteuid() == 0;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_add(&l, &(struct ent){.type = AE_IFDIR,
                                .path = "d",
                                .perm = 0750,
                                .uid = 1000,
                                .gid = 1001,
                                .mtime = 1111111111});
    layer_add(&l, &(struct ent){.path = "d/suid",
                                .data = "x",
                                .perm = 04755,
                                .uid = 1000,
                                .gid = 1001,
                                .mtime = 1234567890});
    layer_add(&l, &(struct ent){.path = "d/sgid", .data = "y", .perm = 02711, .mtime = 1});
    layer_add(&l, &(struct ent){.type = AE_IFLNK,
                                .path = "d/l",
                                .target = "suid",
                                .uid = 7,
                                .gid = 8,
                                .mtime = 1222222222});
    layer_add(&l, &(struct ent){.type = AE_IFIFO, .path = "fifo", .perm = 0620});
    layer_add(&l,
              &(struct ent){.type = AE_IFCHR, .path = "null", .perm = 0666, .rdev = makedev(1, 3)});
    layer_end(&l);
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    struct stat st;
    _cleanup_free_ char *d = root_path(f, "d");
    _cleanup_free_ char *s = root_path(f, "d/suid");
    _cleanup_free_ char *g = root_path(f, "d/sgid");
    _cleanup_free_ char *ln = root_path(f, "d/l");
    _cleanup_free_ char *nul = root_path(f, "null");
    assert_int_equal(lstat(s, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(st.st_mtim.tv_sec, 1234567890);
    if (root) {
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1001);
    }
    assert_int_equal(lstat(g, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02711);
    assert_int_equal(st.st_mtim.tv_sec, 1);
    /* Directory times hold although children were created after it. */
    assert_int_equal(lstat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_mtim.tv_sec, 1111111111);
    assert_int_equal(lstat(ln, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_mtim.tv_sec, 1222222222);
    if (root)
        assert_int_equal(st.st_uid, 7);
    assert_true(S_ISFIFO(lmode(f, "fifo")));
    assert_int_equal(lmode(f, "fifo") & 07777, 0620);
    if (root) {
        assert_int_equal(lstat(nul, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(1, 3));
        assert_int_equal(st.st_mode & 07777, 0666);
    } else {
        assert_false(exists_in_root(f, "null"));
    }
}

static void test_xattrs(void **state) {
    struct fx *f = *state;
    char probe[400];
    snprintf(probe, sizeof(probe), "%s/probe", f->base);
    int fd = open(probe, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    int r = fsetxattr(fd, "user.probe", "1", 1, 0);
    close(fd);
    unlink(probe);
    if (r < 0)
        test_skip("the filesystem of '%s' has no user extended attributes", f->base);
    struct layer l;
    layer_begin(&l, f, F_ZSTD);
    layer_add(&l,
              &(struct ent){.path = "f", .data = "x", .xname = "user.hearth", .xvalue = "hello"});
    layer_add(&l, &(struct ent){.type = AE_IFDIR, .path = "d", .xname = "user.dir", .xvalue = "v"});
    layer_end(&l);
    struct error err;
    r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    _cleanup_free_ char *p = root_path(f, "f");
    char v[32] = {0};
    assert_int_equal(getxattr(p, "user.hearth", v, sizeof(v) - 1), 5);
    assert_string_equal(v, "hello");
    _cleanup_free_ char *d = root_path(f, "d");
    memset(v, 0, sizeof(v));
    assert_int_equal(getxattr(d, "user.dir", v, sizeof(v) - 1), 1);
    assert_string_equal(v, "v");
}

static void test_cancel_and_bad_blob(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_GZIP);
    layer_file(&l, "a", "x");
    layer_end(&l);
    volatile sig_atomic_t cancel = 1;
    struct error err;
    error_init(&err);
    assert_int_equal(oci_unpack(&f->img, f->cache, f->root, &cancel, &err), -ECANCELED);
    assert_false(exists_in_root(f, "a"));
    /* A blob that is not an archive. */
    char *p = oci_blob_path(f->cache, f->img.layers[0].digest);
    assert_non_null(p);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("this is not a tar archive, not at all, and it goes on for a while.........", fp);
    fclose(fp);
    free(p);
    assert_true(unpack(f, &err) < 0);
    assert_non_null(strstr(err.msg, f->img.layers[0].digest));
    /* A missing blob. */
    free(f->img.layers[0].digest);
    f->img.layers[0].digest =
        xstrdup("sha256:0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(unpack(f, &err), -ENOENT);
}

/* Stores an existing file as a layer blob (named by its sha256) and appends it to the image. */
static void layer_adopt(struct fx *f, const char *file) {
    struct layer l = {.f = f};
    snprintf(l.tmp, sizeof(l.tmp), "%s", file);
    l.a = archive_write_new(); /* layer_end closes and frees one */
    assert_int_equal(archive_write_set_format_pax(l.a), ARCHIVE_OK);
    char dummy[PATH_MAX + 16];
    snprintf(dummy, sizeof(dummy), "%s.dummy", file);
    assert_int_equal(archive_write_open_filename(l.a, dummy), ARCHIVE_OK);
    assert_int_equal(archive_write_close(l.a), ARCHIVE_OK);
    unlink(dummy);
    layer_end(&l);
}

/* A layer made by GNU tar (GNU format, "./" entries, hard links) unpacks to the same tree. */
static void test_gnu_tar_layer(void **state) {
    struct fx *f = *state;
    char src[400], p[600], tarball[400];
    snprintf(src, sizeof(src), "%s/src", f->cache);
    assert_int_equal(mkdir(src, 0755), 0);
    snprintf(p, sizeof(p), "%s/usr/share/doc/pkg", src);
    for (char *s = p + strlen(src) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/usr/share/doc/pkg/README", src);
    write_file_n(p, 5000, 'r');
    snprintf(p, sizeof(p), "%s/usr/share/doc/pkg/copy", src);
    char t[600];
    snprintf(t, sizeof(t), "%s/usr/share/doc/pkg/README", src);
    assert_int_equal(link(t, p), 0);
    snprintf(
        p, sizeof(p), "%s/usr/share/doc/pkg/a-long-name-%s", src,
        "that-goes-on-and-on-past-the-hundred-bytes-of-an-old-tar-header-to-need-gnu-longname");
    write_file_n(p, 1, 'l');
    snprintf(p, sizeof(p), "%s/usr/link", src);
    assert_int_equal(symlink("share/doc", p), 0);
    snprintf(tarball, sizeof(tarball), "%s/gnu.tar.gz", f->cache);
    const char *argv[] = {"tar", "--format=gnu", "-czf", tarball, "-C", src, ".", NULL};
    struct error err;
    if (run(argv, NULL, &err) < 0)
        fail_msg("tar: %s", err.msg);
    layer_adopt(f, tarball);
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    const char *diff[] = {"diff", "-r", "--no-dereference", src, f->root, NULL};
    if (run(diff, NULL, &err) < 0)
        fail_msg("trees differ: %s", err.msg);
    assert_int_equal(lmode(f, "usr/share/doc/pkg") & 07777, 0700);
    struct stat a, b;
    _cleanup_free_ char *pa = root_path(f, "usr/share/doc/pkg/README");
    _cleanup_free_ char *pb = root_path(f, "usr/share/doc/pkg/copy");
    assert_int_equal(stat(pa, &a), 0);
    assert_int_equal(stat(pb, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
}

/* Every allocation oci_unpack makes may fail: it then says so and leaks nothing. */
static void test_alloc_failures(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "d");
    layer_file(&l, "d/a", "x");
    layer_file(&l, "e/f/g", "implicit parents");
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "d/.wh..wh..opq", "");
    layer_file(&l, ".wh.e", "");
    layer_end(&l);
    struct error err;
    int r = -ENOMEM;
    long n;
    for (n = 1; n < 1000 && r == -ENOMEM; n++) {
        assert_int_equal(fs_tree_remove(f->root, &err), 0);
        assert_int_equal(mkdir(f->root, 0755), 0);
        util_alloc_fail_after(n);
        r = unpack(f, &err);
        util_alloc_fail_after(0);
        if (r < 0 && r != -ENOMEM)
            fail_msg("allocation %ld: %d %s", n, r, err.msg);
    }
    assert_int_equal(r, 0);
    assert_true(n > 5); /* several allocations were really made to fail */
    assert_false(exists_in_root(f, "e"));
    assert_true(exists_in_root(f, "d"));
}

/* ---- paths resolved inside the root, as Docker does ----------------------------- */

/* A layer writes through an absolute symlink of a lower layer: Debian's var/run -> /run. */
static void test_inroot_absolute_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_GZIP);
    layer_dir(&l, "run");
    layer_file(&l, "run/old", "lower");
    layer_dir(&l, "var");
    layer_symlink(&l, "var/run", "/run");
    layer_symlink(&l, "var/lock", "/run/lock"); /* dangling: /run/lock is made on the way */
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "var/run/x", "through /run");
    layer_add(&l, &(struct ent){.type = AE_IFDIR, .path = "var/run/sub/", .perm = 0750});
    layer_file(&l, "var/run/sub/y", "below a directory made through /run");
    layer_file(&l, "var/lock/z", "through a dangling symlink");
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_content(f, "run/x", "through /run");
    assert_content(f, "run/old", "lower");
    assert_true(S_ISDIR(lmode(f, "run/sub")));
    assert_int_equal(lmode(f, "run/sub") & 07777, 0750);
    assert_content(f, "run/sub/y", "below a directory made through /run");
    assert_content(f, "run/lock/z", "through a dangling symlink");
    assert_true(S_ISLNK(lmode(f, "var/run")));
    assert_true(S_ISLNK(lmode(f, "var/lock")));
}

/* Relative symlinks, chained, each followed from its own directory. */
static void test_inroot_relative_chain(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "usr");
    layer_dir(&l, "usr/lib");
    layer_dir(&l, "usr/share");
    layer_symlink(&l, "lib", "usr/lib");
    layer_symlink(&l, "usr/lib/doc", "../share"); /* lib/doc -> usr/share */
    layer_symlink(&l, "a", "b");
    layer_symlink(&l, "b", "c/d");
    layer_dir(&l, "c");
    layer_symlink(&l, "c/d", "./../usr/lib/doc/."); /* a -> b -> c/d -> usr/share */
    layer_end(&l);
    layer_begin(&l, f, F_ZSTD);
    layer_file(&l, "lib/doc/f", "via lib and doc");
    layer_file(&l, "a/g", "via a, b and c/d");
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_content(f, "usr/share/f", "via lib and doc");
    assert_content(f, "usr/share/g", "via a, b and c/d");
    assert_true(S_ISLNK(lmode(f, "a")));
    assert_true(S_ISLNK(lmode(f, "c/d")));
}

/* ".." beyond the root stays at the root: in names, in symlink targets, in hard link targets. */
static void test_inroot_dotdot_clamped(void **state) {
    struct fx *f = *state;
    char e1[128], e2[128], e3[128], e4[128];
    snprintf(e1, sizeof(e1), "../%s-esc", f->tag);
    snprintf(e2, sizeof(e2), "a/../../../%s-mid", f->tag);
    snprintf(e3, sizeof(e3), "up/%s-up", f->tag);
    snprintf(e4, sizeof(e4), "/../../%s-abs", f->tag);
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "etc-file", "in the root"); /* a hard link's target, from a lower layer */
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "a");
    layer_file(&l, e1, "clamped name");
    layer_file(&l, e2, "clamped middle");
    layer_symlink(&l, "up", "../../../..");
    layer_file(&l, e3, "clamped symlink");
    layer_file(&l, e4, "clamped absolute");
    layer_symlink(&l, "deep", "a/../../a/../.."); /* the root too */
    layer_hardlink(&l, "deep/h", "../../a/../../etc-file");
    layer_end(&l);
    char name[128];
    snprintf(name, sizeof(name), "%s-esc", f->tag);
    assert_unpacks(f, name);
    assert_content(f, name, "clamped name");
    snprintf(name, sizeof(name), "%s-mid", f->tag);
    assert_content(f, name, "clamped middle");
    assert_nothing_outside(f, name);
    snprintf(name, sizeof(name), "%s-up", f->tag);
    assert_content(f, name, "clamped symlink");
    assert_nothing_outside(f, name);
    snprintf(name, sizeof(name), "%s-abs", f->tag);
    assert_content(f, name, "clamped absolute");
    assert_nothing_outside(f, name);
    _cleanup_free_ char *h = root_path(f, "h");
    _cleanup_free_ char *t = root_path(f, "etc-file");
    assert_int_equal(ino_of(h), ino_of(t));
}

/* Hard links whose target (or whose own directory) is reached through in-root symlinks. */
static void test_inroot_hardlink_through_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "usr/lib/libc.so", "code");
    layer_symlink(&l, "lib", "usr/lib");
    layer_symlink(&l, "abs", "/usr/lib");
    layer_symlink(&l, "bin", "/usr/bin");
    layer_end(&l);
    layer_begin(&l, f, F_GZIP);
    layer_hardlink(&l, "h1", "lib/libc.so");
    layer_hardlink(&l, "h2", "/abs/libc.so");
    layer_hardlink(&l, "bin/h3", "abs/../lib/libc.so");   /* in usr/bin, made on the way */
    layer_hardlink(&l, "usr/lib/libc.so", "lib/libc.so"); /* itself: nothing to do */
    layer_end(&l);
    assert_unpacks(f, NULL);
    _cleanup_free_ char *t = root_path(f, "usr/lib/libc.so");
    _cleanup_free_ char *h1 = root_path(f, "h1");
    _cleanup_free_ char *h2 = root_path(f, "h2");
    _cleanup_free_ char *h3 = root_path(f, "usr/bin/h3");
    assert_int_equal(ino_of(h1), ino_of(t));
    assert_int_equal(ino_of(h2), ino_of(t));
    assert_int_equal(ino_of(h3), ino_of(t));
    struct stat st;
    assert_int_equal(lstat(t, &st), 0);
    assert_int_equal(st.st_nlink, 4);
    assert_content(f, "usr/lib/libc.so", "code");
}

/* Whiteouts and opaque markers whose directory is reached through a symlink. */
static void test_inroot_whiteout_through_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "run/x", "gone");
    layer_file(&l, "run/keep", "kept");
    layer_file(&l, "srv/a/old", "gone too");
    layer_dir(&l, "srv/a/sub");
    layer_file(&l, "srv/a/sub/old2", "and this");
    layer_dir(&l, "var");
    layer_symlink(&l, "var/run", "/run");
    layer_symlink(&l, "data", "srv/a");
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "var/run/.wh.x", "");
    layer_file(&l, "run/new", "this layer's");
    layer_file(&l, "var/run/.wh.new", ""); /* the same place: this layer's, spared */
    layer_file(&l, "data/new", "this layer's too");
    layer_file(&l, "data/.wh..wh..opq", "");
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_false(exists_in_root(f, "run/x"));
    assert_content(f, "run/keep", "kept");
    assert_content(f, "run/new", "this layer's");
    assert_true(S_ISLNK(lmode(f, "var/run")));
    assert_false(exists_in_root(f, "srv/a/old"));
    assert_false(exists_in_root(f, "srv/a/sub"));
    assert_content(f, "srv/a/new", "this layer's too");
    assert_true(S_ISLNK(lmode(f, "data")));
}

/* What a lookup cannot get through is refused, naming the entry. */
static void test_inroot_errors(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "loop1", "loop2");
    layer_symlink(&l, "loop2", "/loop1");
    layer_file(&l, "loop1/x", "never");
    layer_end(&l);
    assert_refused(f, -ELOOP, NULL, "loop1/x");
    assert_false(exists_in_root(f, "x"));

    img_clear(&f->img);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "file", "a file");
    layer_file(&l, "file/x", "below a file");
    layer_end(&l);
    assert_refused(f, -ENOTDIR, NULL, "'file'");

    img_clear(&f->img);
    layer_begin(&l, f, F_NONE);
    layer_hardlink(&l, "h", "missing/target");
    layer_end(&l);
    assert_refused(f, -ENOENT, NULL, "missing/target");
    assert_false(exists_in_root(f, "h"));
}

/* Exactly OCI_LINKS_MAX symlinks are followed (as the kernel's 40); one more is -ELOOP. */
static void test_inroot_link_limit(void **state) {
    struct fx *f = *state;
    for (int n = OCI_LINKS_MAX; n <= OCI_LINKS_MAX + 1; n++) {
        struct error err;
        assert_int_equal(fs_tree_remove(f->root, &err), 0);
        assert_int_equal(mkdir(f->root, 0755), 0);
        img_clear(&f->img);
        struct layer l;
        layer_begin(&l, f, F_NONE);
        layer_dir(&l, "d");
        for (int i = 1; i <= n; i++) {
            char name[32], target[32];
            snprintf(name, sizeof(name), "l%d", i);
            if (i == n)
                snprintf(target, sizeof(target), "/d");
            else
                snprintf(target, sizeof(target), "l%d", i + 1);
            layer_symlink(&l, name, target);
        }
        layer_file(&l, "l1/f", "at the end of the chain");
        layer_end(&l);
        if (n == OCI_LINKS_MAX) {
            assert_unpacks(f, NULL);
            assert_content(f, "d/f", "at the end of the chain");
        } else {
            assert_refused(f, -ELOOP, NULL, "l1/f");
        }
    }
}

static int count_made(void *ud, int dir_fd, const char *name) {
    (void)dir_fd;
    (void)name;
    (*(int *)ud)++;
    return 0;
}

/* unpack_open_in_root itself, through openat2 and through the walk: the same answers. */
static void test_open_in_root(void **state) {
    struct fx *f = *state;
    char p[400];
    static const char *const dirs[] = {"a", "a/b", "c"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        snprintf(p, sizeof(p), "%s/%s", f->root, dirs[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    static const char *const links[][2] = {
        {"l", "a"},
        {"abs", "/a"},
        {"up", ".."},
        {"upup", "../../.."},
        {"chain1", "chain2"},
        {"chain2", "abs/b"},
        {"loop1", "loop2"},
        {"loop2", "/loop1"},
        {"dangling", "/missing/dir"},
        {"back", "a/b/../.."},
        {"c/sib", "../a"},
        {"empty-ish", "."},
    };
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        snprintf(p, sizeof(p), "%s/%s", f->root, links[i][0]);
        assert_int_equal(symlink(links[i][1], p), 0);
    }
    snprintf(p, sizeof(p), "%s/file", f->root);
    write_file_n(p, 1, 'x');
    struct {
        const char *path;
        const char *want; /* the directory reached, or NULL */
        int err;
    } cases[] = {
        {"", ".", 0},
        {"a/b", "a/b", 0},
        {"/a/b/", "a/b", 0},
        {"l/b", "a/b", 0},
        {"abs/b", "a/b", 0},
        {"up", ".", 0},
        {"up/up/a", "a", 0},
        {"upup/a/b", "a/b", 0},
        {"chain1", "a/b", 0},
        {"chain1/..", "a", 0},
        {"../../a", "a", 0},
        {"a/b/../../../../c", "c", 0},
        {"back/c", "c", 0},
        {"c/sib/b", "a/b", 0},
        {"empty-ish/./a", "a", 0},
        {"loop1", NULL, -ELOOP},
        {"loop1/x", NULL, -ELOOP},
        {"file", NULL, -ENOTDIR},
        {"file/x", NULL, -ENOTDIR},
        {"missing/x", NULL, -ENOENT},
        {"dangling", NULL, -ENOENT},
    };
    int root = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    for (unsigned flags = 0; flags <= INROOT_WALK; flags += INROOT_WALK) {
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
            int fd = unpack_open_in_root(root, cases[i].path, flags, NULL, NULL);
            if (!cases[i].want) {
                if (fd != cases[i].err)
                    fail_msg("'%s' (flags %u): %d, want %d", cases[i].path, flags, fd,
                             cases[i].err);
                continue;
            }
            if (fd < 0)
                fail_msg("'%s' (flags %u): %s", cases[i].path, flags, strerror(-fd));
            struct stat got, want;
            assert_int_equal(fstat(fd, &got), 0);
            close(fd);
            snprintf(p, sizeof(p), "%s/%s", f->root, cases[i].want);
            assert_int_equal(stat(p, &want), 0);
            if (got.st_ino != want.st_ino)
                fail_msg("'%s' (flags %u) did not reach '%s'", cases[i].path, flags, cases[i].want);
        }
        /* Making what is missing, also below a dangling symlink; each new directory told. */
        int made = 0;
        int fd = unpack_open_in_root(root, "dangling/sub/../sub2", flags | INROOT_CREATE,
                                     count_made, &made);
        if (fd < 0)
            fail_msg("create (flags %u): %s", flags, strerror(-fd));
        close(fd);
        assert_int_equal(made, 4); /* missing, missing/dir, .../sub, .../sub2 */
        assert_true(S_ISDIR(lmode(f, "missing/dir/sub2")));
        struct error err;
        _cleanup_free_ char *m = root_path(f, "missing");
        assert_int_equal(fs_tree_remove(m, &err), 0);
        /* No symlink at all. */
        assert_int_equal(unpack_open_in_root(root, "l/b", flags | INROOT_NO_SYMLINKS, NULL, NULL),
                         -ELOOP);
        fd = unpack_open_in_root(root, "a/b", flags | INROOT_NO_SYMLINKS, NULL, NULL);
        assert_true(fd >= 0);
        close(fd);
    }
    close(root);
    assert_nothing_outside(f, NULL);
}

/* ---- hostile layers: whatever they try, nothing outside the root changes ----------- */

static void test_hostile_dotdot(void **state) {
    struct fx *f = *state;
    struct layer l;
    char name[128];
    snprintf(name, sizeof(name), "../%s-esc", f->tag);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, name, "escape");
    layer_end(&l);
    snprintf(name, sizeof(name), "%s-esc", f->tag);
    assert_unpacks(f, name);
    assert_content(f, name, "escape"); /* landed in the root instead */
}

static void test_hostile_dotdot_middle(void **state) {
    struct fx *f = *state;
    struct layer l;
    char name[128];
    snprintf(name, sizeof(name), "a/../../%s-esc", f->tag);
    layer_begin(&l, f, F_GZIP);
    layer_dir(&l, "a");
    layer_file(&l, name, "escape");
    layer_end(&l);
    snprintf(name, sizeof(name), "%s-esc", f->tag);
    assert_unpacks(f, name);
    assert_content(f, name, "escape");
}

static void test_hostile_symlink_absolute(void **state) {
    struct fx *f = *state;
    char outside[128], entry[200];
    snprintf(outside, sizeof(outside), "/tmp/%s-abs", f->tag);
    snprintf(entry, sizeof(entry), "evil/%s-x", f->tag);
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil", outside);
    layer_file(&l, entry, "through an absolute symlink");
    layer_end(&l);
    char name[128];
    snprintf(name, sizeof(name), "%s-abs", f->tag);
    assert_unpacks(f, name);
    /* Redirected inside: /tmp/TAG-abs of the image, which is ROOT/tmp/TAG-abs. */
    char in[300];
    snprintf(in, sizeof(in), "tmp/%s-abs/%s-x", f->tag, f->tag);
    assert_content(f, in, "through an absolute symlink");
}

static void test_hostile_symlink_dotdot(void **state) {
    struct fx *f = *state;
    char entry[200], name[128];
    snprintf(entry, sizeof(entry), "evil/%s-x", f->tag);
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil", "../..");
    layer_file(&l, entry, "through a climbing symlink");
    layer_end(&l);
    snprintf(name, sizeof(name), "%s-x", f->tag);
    assert_unpacks(f, name);
    assert_content(f, name, "through a climbing symlink");
}

static void test_hostile_symlink_to_sentinel(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil", "../sentinel"); /* on the host this would reach it */
    layer_symlink(&l, "evil2", f->sentinel);  /* and so would this */
    layer_file(&l, "evil/keep", "overwritten?");
    layer_file(&l, "evil2/keep", "overwritten!");
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_content(f, "sentinel/keep", "overwritten?");
    _cleanup_free_ char *k = xasprintf("%s/keep", f->sentinel);
    _cleanup_free_ char *in = inside(f, k);
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    assert_int_equal(strbuf_read_file(&sb, in, 100, &err), 0);
    assert_string_equal(sb.buf, "overwritten!");
    strbuf_release(&sb);
}

static void test_hostile_whiteout_through_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil", "../sentinel");
    layer_symlink(&l, "evil2", f->sentinel);
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "evil/.wh.keep", "");
    layer_file(&l, "evil2/.wh.keep", "");
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_true(S_ISLNK(lmode(f, "evil")));
}

static void test_hostile_opaque_through_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil", f->sentinel);
    layer_symlink(&l, "evil2", "../../sentinel");
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "evil/.wh..wh..opq", "");
    layer_file(&l, "evil2/.wh..wh..opq", "");
    layer_end(&l);
    assert_unpacks(f, NULL);
}

static void test_hostile_hardlink_outside(void **state) {
    struct fx *f = *state;
    struct stat before, after;
    assert_int_equal(stat("/etc/passwd", &before), 0);
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_hardlink(&l, "h", "../../etc/passwd"); /* the image's /etc/passwd: there is none */
    layer_end(&l);
    assert_refused(f, -ENOENT, NULL, "'h'");
    assert_false(exists_in_root(f, "h"));
    /* With one in the image, the link is to that one. */
    img_clear(&f->img);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    layer_hardlink(&l, "h", "../../etc/passwd");
    layer_hardlink(&l, "h2", "/etc/passwd");
    layer_end(&l);
    assert_unpacks(f, NULL);
    _cleanup_free_ char *h = root_path(f, "h");
    _cleanup_free_ char *h2 = root_path(f, "h2");
    _cleanup_free_ char *pw = root_path(f, "etc/passwd");
    assert_int_equal(ino_of(h), ino_of(pw));
    assert_int_equal(ino_of(h2), ino_of(pw));
    assert_int_equal(stat("/etc/passwd", &after), 0);
    assert_int_equal(after.st_nlink, before.st_nlink);
    assert_true(after.st_ino != ino_of(h));
}

/* A hard link to a symlink is a second name of the symlink, which is never followed. */
static void test_hostile_hardlink_to_outside_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "s", "/etc/passwd");
    layer_hardlink(&l, "h", "s");
    layer_symlink(&l, "s2", f->sentinel);
    layer_hardlink(&l, "h2", "s2");
    layer_end(&l);
    assert_unpacks(f, NULL);
    _cleanup_free_ char *s = root_path(f, "s");
    _cleanup_free_ char *h = root_path(f, "h");
    assert_true(S_ISLNK(lmode(f, "h")));
    assert_int_equal(ino_of(h), ino_of(s));
    assert_true(S_ISLNK(lmode(f, "h2")));
}

static void test_hostile_hardlink_through_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil", "../sentinel");
    layer_hardlink(&l, "h", "evil/keep");
    layer_end(&l);
    assert_refused(f, -ENOENT, NULL, "evil/keep");
    assert_false(exists_in_root(f, "h"));
    img_clear(&f->img);
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "evil2", f->sentinel);
    layer_hardlink(&l, "h2", "evil2/keep");
    layer_end(&l);
    assert_refused(f, -ENOENT, NULL, "evil2/keep");
    assert_false(exists_in_root(f, "h2"));
}

static void test_hostile_dir_replaced_by_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "d");
    layer_file(&l, "d/a", "inside");
    layer_end(&l);
    layer_begin(&l, f, F_GZIP);
    layer_symlink(&l, "d", f->sentinel);
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "d/x", "through the replaced directory");
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_true(S_ISLNK(lmode(f, "d")));
    _cleanup_free_ char *x = xasprintf("%s/x", f->sentinel);
    _cleanup_free_ char *in = inside(f, x);
    assert_true(path_exists(in));
}

/* The same within one layer: a directory, then a symlink in its place, then an entry below. */
static void test_hostile_swap_in_one_layer(void **state) {
    struct fx *f = *state;
    char e[128], name[128];
    snprintf(e, sizeof(e), "d/%s-x", f->tag);
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_dir(&l, "d");
    layer_file(&l, "d/a", "inside");
    layer_symlink(&l, "d", "../../..");
    layer_file(&l, e, "after the swap");
    layer_symlink(&l, "d", "/tmp"); /* and again */
    layer_file(&l, e, "after the second swap");
    layer_end(&l);
    snprintf(name, sizeof(name), "%s-x", f->tag);
    assert_unpacks(f, name);
    assert_content(f, name, "after the swap");
    char in[200];
    snprintf(in, sizeof(in), "tmp/%s-x", f->tag);
    assert_content(f, in, "after the second swap");
}

/* /proc/self/root and friends are paths inside the image like any other. */
static void test_hostile_proc_links(void **state) {
    struct fx *f = *state;
    static const char *const targets[] = {"/proc/self/root", "/proc/self/cwd", "/proc/1/root/tmp",
                                          "/proc/self/fd/3/.."};
    struct layer l;
    layer_begin(&l, f, F_NONE);
    for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
        char link[32], entry[200];
        snprintf(link, sizeof(link), "p%zu", i);
        snprintf(entry, sizeof(entry), "p%zu/%s-p%zu", i, f->tag, i);
        layer_symlink(&l, link, targets[i]);
        layer_file(&l, entry, "in the image's /proc");
    }
    layer_end(&l);
    assert_unpacks(f, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
        char name[128], in[300];
        snprintf(name, sizeof(name), "%s-p%zu", f->tag, i);
        assert_nothing_outside(f, name);
        snprintf(in, sizeof(in), "%s/%s", targets[i] + 1, name);
        if (i == 3) /* fd/3/.. is fd */
            snprintf(in, sizeof(in), "proc/self/fd/%s", name);
        assert_content(f, in, "in the image's /proc");
    }
}

/* Every kind of entry, put below a symlink to /tmp: all of them land in the image's /tmp. */
static void test_hostile_entries_through_symlink(void **state) {
    struct fx *f = *state;
    char h[128], s[128], p[128], d[128], df[128];
    snprintf(h, sizeof(h), "evil/%s-h", f->tag);
    snprintf(s, sizeof(s), "evil/%s-s", f->tag);
    snprintf(p, sizeof(p), "evil/%s-p", f->tag);
    snprintf(d, sizeof(d), "evil/%s-d", f->tag);
    snprintf(df, sizeof(df), "evil/%s-d/f", f->tag);
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_file(&l, "f", "a file");
    layer_symlink(&l, "evil", "/tmp");
    layer_hardlink(&l, h, "f");
    layer_symlink(&l, s, "x");
    layer_add(&l, &(struct ent){.type = AE_IFIFO, .path = p});
    layer_add(&l, &(struct ent){.type = AE_IFDIR, .path = d, .perm = 0700});
    layer_file(&l, df, "in a directory");
    layer_end(&l);
    static const char *const sfx[] = {"h", "s", "p", "d"};
    for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s-%s", f->tag, sfx[i]);
        if (i == 0)
            assert_unpacks(f, name);
        else
            assert_nothing_outside(f, name);
        char in[200];
        snprintf(in, sizeof(in), "tmp/%s", name);
        assert_true(exists_in_root(f, in));
    }
}

/* A directory entry over a symlink to outside replaces the symlink; the outside keeps its mode. */
static void test_hostile_dir_over_symlink(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_NONE);
    layer_symlink(&l, "d", f->sentinel);
    layer_end(&l);
    layer_begin(&l, f, F_NONE);
    layer_add(&l, &(struct ent){.type = AE_IFDIR, .path = "d", .perm = 0700, .mtime = 1});
    layer_add(&l, &(struct ent){.path = "d/keep", .data = "mine", .perm = 0600});
    layer_end(&l);
    assert_unpacks(f, NULL);
    assert_true(S_ISDIR(lmode(f, "d")));
    assert_int_equal(lmode(f, "d") & 07777, 0700);
    assert_content(f, "d/keep", "mine");
}

static void test_hostile_whiteout_dotdot(void **state) {
    struct fx *f = *state;
    static const char *const names[] = {".wh...", "a/.wh...", "a/.wh..", ".wh."};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        img_clear(&f->img);
        struct layer l;
        layer_begin(&l, f, F_NONE);
        layer_dir(&l, "a");
        layer_file(&l, "a/f", "stays");
        layer_end(&l);
        layer_begin(&l, f, F_NONE);
        layer_file(&l, names[i], "");
        layer_end(&l);
        assert_eperm(f, NULL, NULL);
        assert_content(f, "a/f", "stays");
        assert_true(exists_in_root(f, "."));
    }
}

static void test_rmtree(void **state) {
    struct fx *f = *state;
    char p[400];
    snprintf(p, sizeof(p), "%s/t", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/t/ro", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/t/ro/file", f->root);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(p, sizeof(p), "%s/t/ro", f->root);
    assert_int_equal(chmod(p, 0500), 0);
    snprintf(p, sizeof(p), "%s/t/out", f->root);
    assert_int_equal(symlink(f->sentinel, p), 0);
    snprintf(p, sizeof(p), "%s/t", f->root);
    struct error err;
    error_init(&err);
    assert_int_equal(fs_tree_remove(p, &err), 0);
    assert_false(path_exists(p));
    assert_nothing_outside(f, NULL);
    assert_int_equal(fs_tree_remove(p, &err), 0); /* already gone: fine */
}

/* ---- ext4 -------------------------------------------------------------------- */

static int run(const char *const *argv, struct strbuf *out, struct error *err) {
    error_init(err);
    return exec_run(argv, &(struct exec_opts){.out = out}, err);
}

static void ext4_check(const char *img) {
    struct error err;
    const char *fsck[] = {"e2fsck", "-fn", img, NULL};
    if (run(fsck, NULL, &err) < 0)
        fail_msg("e2fsck: %s", err.msg);
}

/* `debugfs -R CMD img` output. */
static char *debugfs(const char *img, const char *cmd) {
    struct strbuf out = STRBUF_INIT;
    struct error err;
    const char *argv[] = {"debugfs", "-R", cmd, img, NULL};
    if (run(argv, &out, &err) < 0)
        fail_msg("debugfs: %s", err.msg);
    return strbuf_detach(&out);
}

static void test_ext4_build(void **state) {
    struct fx *f = *state;
    struct layer l;
    layer_begin(&l, f, F_GZIP);
    layer_add(
        &l,
        &(struct ent){
            .path = "etc/conf", .data = "hello ext4\n", .perm = 0640, .uid = 1000, .gid = 1001});
    layer_add(&l, &(struct ent){.path = "bin/tool", .data = "#!/bin/sh\n", .perm = 04755});
    layer_hardlink(&l, "bin/tool2", "bin/tool");
    layer_symlink(&l, "bin/sh", "tool");
    layer_end(&l);
    struct error err;
    int r = unpack(f, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    uint64_t size = 0;
    assert_int_equal(oci_ext4_size_for(f->root, &size, &err), 0);
    assert_true(size >= 32u << 20);
    assert_true(size <= 64u << 20); /* modest for a tiny tree */
    char img[400];
    snprintf(img, sizeof(img), "%s/rootfs.ext4", f->base);
    r = oci_ext4_build(f->root, img, size, "hearth-test", &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(stat(img, &st), 0);
    assert_int_equal((uint64_t)st.st_size, size);
    ext4_check(img);
    _cleanup_free_ char *cat = debugfs(img, "cat /etc/conf");
    assert_string_equal(cat, "hello ext4\n");
    _cleanup_free_ char *stc = debugfs(img, "stat /etc/conf");
    if (geteuid() == 0) {
        assert_non_null(strstr(stc, "User:  1000"));
        assert_non_null(strstr(stc, "Group:  1001"));
    }
    assert_non_null(strstr(stc, "Mode:  0640"));
    _cleanup_free_ char *stt = debugfs(img, "stat /bin/tool");
    assert_non_null(strstr(stt, "Mode:  04755"));
    assert_non_null(strstr(stt, "Links: 2"));
    _cleanup_free_ char *sts = debugfs(img, "stat /bin/sh");
    assert_non_null(strstr(sts, "Type: symlink"));
    _cleanup_free_ char *label = debugfs(img, "stats");
    assert_non_null(strstr(label, "hearth-test"));
    unlink(img);

    /* Bad arguments. */
    assert_int_equal(oci_ext4_build(f->root, img, 12345, "x", &err), -EINVAL);
    assert_int_equal(oci_ext4_build(f->root, img, size, "a label far too long", &err), -EINVAL);
    /* mke2fs failing (a size too small for the content) carries its message. */
    char big[400];
    snprintf(big, sizeof(big), "%s/big", f->root);
    int fd = open(big, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char buf[65536];
    memset(buf, 'z', sizeof(buf));
    for (int i = 0; i < 200; i++) /* 12.5 MiB of real data */
        assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);
    r = oci_ext4_build(f->root, img, 8u << 20, "small", &err);
    assert_true(r < 0);
    assert_non_null(strstr(err.msg, "mke2fs"));
    unlink(img);
}

static void write_file_n(const char *path, size_t n, char c) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    char buf[65536];
    memset(buf, c, sizeof(buf));
    while (n > 0) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        assert_int_equal(write(fd, buf, k), (ssize_t)k);
        n -= k;
    }
    close(fd);
}

/* Trees of different shapes: size_for's size always holds them, and stays modest. */
static void test_ext4_size_for(void **state) {
    struct fx *f = *state;
    char img[400], p[600];
    snprintf(img, sizeof(img), "%s/fs.ext4", f->base);
    for (int shape = 0; shape < 5; shape++) {
        char tree[400];
        snprintf(tree, sizeof(tree), "%s/tree%d", f->base, shape);
        assert_int_equal(mkdir(tree, 0755), 0);
        uint64_t content = 0;
        if (shape == 1) { /* many small files in many directories */
            for (int d = 0; d < 40; d++) {
                snprintf(p, sizeof(p), "%s/dir%02d", tree, d);
                assert_int_equal(mkdir(p, 0755), 0);
                for (int i = 0; i < 500; i++) {
                    snprintf(p, sizeof(p), "%s/dir%02d/a-rather-long-file-name-%04d", tree, d, i);
                    write_file_n(p, 100 + (size_t)i, 'a');
                    content += 4096;
                }
            }
        } else if (shape == 2) { /* a few big files */
            for (int i = 0; i < 3; i++) {
                snprintf(p, sizeof(p), "%s/big%d", tree, i);
                write_file_n(p, (20u << 20) + 1, 'b');
                content += (20u << 20) + 4096;
            }
        } else if (shape == 4) { /* xattrs too big for the inode */
            char value[1000];
            memset(value, 'v', sizeof(value));
            for (int i = 0; i < 3000; i++) {
                snprintf(p, sizeof(p), "%s/x%04d", tree, i);
                write_file_n(p, 0, 'x');
                if (setxattr(p, "user.big", value, sizeof(value), 0) < 0)
                    break; /* not supported here: the tree stays as it is */
                content += 4096;
            }
        } else if (shape == 3) { /* deep directories and long symlinks */
            snprintf(p, sizeof(p), "%s", tree);
            for (int d = 0; d < 60; d++) {
                size_t n = strlen(p);
                snprintf(p + n, sizeof(p) - n, "/d%d", d);
                assert_int_equal(mkdir(p, 0755), 0);
                char lk[700], target[200];
                snprintf(lk, sizeof(lk), "%s/link", p);
                memset(target, 'x', 150);
                target[150] = '\0';
                assert_int_equal(symlink(target, lk), 0);
            }
        }
        uint64_t size = 0;
        struct error err;
        error_init(&err);
        assert_int_equal(oci_ext4_size_for(tree, &size, &err), 0);
        assert_int_equal(size % 4096, 0);
        assert_true(size >= content);
        if (size > content * 3 / 2 + (64u << 20))
            fail_msg("shape %d: %llu bytes for %llu of content", shape, (unsigned long long)size,
                     (unsigned long long)content);
        int r = oci_ext4_build(tree, img, size, "t", &err);
        if (r < 0)
            fail_msg("shape %d, size %llu: %s", shape, (unsigned long long)size, err.msg);
        ext4_check(img);
        unlink(img);
        assert_int_equal(fs_tree_remove(tree, &err), 0);
    }
}

/* ---- kernels ---------------------------------------------------------------- */

static void test_kernel_debian(void **state) {
    struct fx *f = *state;
    glob_t g;
    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
        fail_msg("no /boot/vmlinuz-*: apt-get install linux-image-amd64 (scripts/install-deps)");
    const char *bz = g.gl_pathv[g.gl_pathc - 1];
    const char *want = strrchr(bz, '/') + strlen("/vmlinuz-");
    enum oci_kernel_format fmt;
    char *ver = NULL;
    struct error err;
    error_init(&err);
    int r = oci_kernel_identify(bz, &fmt, &ver, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(fmt, OCI_KERNEL_BZIMAGE);
    assert_string_equal(ver, want);
    char out[400];
    snprintf(out, sizeof(out), "%s/vmlinux", f->base);
    r = oci_kernel_extract_vmlinux(bz, out, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    char *ver2 = NULL;
    r = oci_kernel_identify(out, &fmt, &ver2, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(fmt, OCI_KERNEL_ELF);
    assert_string_equal(ver2, ver);
    struct stat sb, se;
    assert_int_equal(stat(bz, &sb), 0);
    assert_int_equal(stat(out, &se), 0);
    assert_true(se.st_size > sb.st_size); /* really decompressed */
    /* No temporary left next to the output. */
    DIR *d = opendir(f->base);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_null(strstr(de->d_name, ".tmp."));
    closedir(d);
    /* An ELF is not a bzImage to extract from: a property of the file. */
    assert_int_equal(oci_kernel_extract_vmlinux(out, out, &err), -ENOEXEC);
    /* Where the output cannot be written, the host failed: not -ENOEXEC, the file named. */
    char nodir[450];
    snprintf(nodir, sizeof(nodir), "%s/no-such-dir/vmlinux", f->base);
    r = oci_kernel_extract_vmlinux(bz, nodir, &err);
    assert_int_equal(r, -ENOENT);
    assert_non_null(strstr(err.msg, nodir));
    /* A bzImage header with no compressed ELF behind it. */
    char fake[450];
    snprintf(fake, sizeof(fake), "%s/fake-bz", f->base);
    FILE *fp = fopen(fake, "w");
    assert_non_null(fp);
    unsigned char head[0x400] = {0};
    memcpy(head + 0x202, "HdrS", 4);
    head[0x206] = 0x0f;
    head[0x207] = 0x02;
    assert_int_equal(fwrite(head, 1, sizeof(head), fp), sizeof(head));
    for (int i = 0; i < 100000; i++)
        fputc(i % 7, fp);
    fclose(fp);
    assert_int_equal(oci_kernel_extract_vmlinux(fake, out, &err), -ENOEXEC);
    assert_non_null(strstr(err.msg, "no compressed ELF"));
    free(ver);
    free(ver2);
    globfree(&g);
}

/* Writes text to base/name. */
static void put_text(const char *base, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", base, name);
    FILE *fp = fopen(p, "we");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* How a kernel has the root's drivers: from its .config, else modules.builtin and modules.dep. */
static void test_kernel_root_drivers(void **state) {
    struct fx *f = *state;
    char config[400], mods[400], empty[400];
    snprintf(config, sizeof(config), "%s/config-test", f->base);
    snprintf(mods, sizeof(mods), "%s/mods", f->base);
    snprintf(empty, sizeof(empty), "%s/empty", f->base);
    assert_int_equal(mkdir(mods, 0700), 0);
    assert_int_equal(mkdir(empty, 0700), 0);
    const char *dirs[] = {NULL, empty, mods};
    struct oci_kernel_root r;
    struct error err;
    error_init(&err);

    /* Nothing to read: it cannot be told. */
    assert_int_equal(oci_kernel_root_drivers(config, dirs, 3, &r, &err), -ENOENT);
    assert_int_equal(oci_kernel_root_drivers(NULL, NULL, 0, &r, &err), -ENOENT);

    /* modules.builtin alone: what it lists is built in, the rest taken for modules. */
    put_text(mods, "modules.builtin", "kernel/drivers/block/virtio_blk.ko\n");
    assert_int_equal(oci_kernel_root_drivers(config, dirs, 3, &r, &err), 0);
    assert_int_equal(r.has[0], OCI_KERNEL_MODULE);
    assert_int_equal(r.has[1], OCI_KERNEL_BUILTIN);
    assert_int_equal(r.has[2], OCI_KERNEL_MODULE);
    assert_non_null(strstr(r.source, "/mods/modules.builtin"));
    /* With modules.dep: a module (compressed too) or not there at all. */
    put_text(mods, "modules.dep",
             "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz\n"
             "kernel/drivers/virtio/virtio_mmio_extra.ko:\n");
    assert_int_equal(oci_kernel_root_drivers(config, dirs, 3, &r, &err), 0);
    assert_int_equal(r.has[0], OCI_KERNEL_MODULE);
    assert_int_equal(r.has[1], OCI_KERNEL_BUILTIN);
    assert_int_equal(r.has[2], OCI_KERNEL_MISSING);

    /* A .config comes first: =y, =m, "is not set". */
    put_text(f->base, "config-test",
             "#\n# CONFIG_VIRTIO_MMIO is not set\nCONFIG_EXT4_FS=y\nCONFIG_EXT4_FS_POSIX_ACL=m\n"
             "CONFIG_VIRTIO_BLK=m\nCONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n");
    assert_int_equal(oci_kernel_root_drivers(config, dirs, 3, &r, &err), 0);
    assert_int_equal(r.has[0], OCI_KERNEL_BUILTIN);
    assert_int_equal(r.has[1], OCI_KERNEL_MODULE);
    assert_int_equal(r.has[2], OCI_KERNEL_MISSING);
    assert_string_equal(r.source, config);
    assert_string_equal(oci_kernel_root_driver_name(0), "ext4");
    assert_string_equal(oci_kernel_root_driver_name(2), "virtio_mmio");
}

static void test_kernel_identify_fake(void **state) {
    struct fx *f = *state;
    char p[400];
    snprintf(p, sizeof(p), "%s/fake", f->base);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("\x7f"
          "ELF",
          fp);
    for (int i = 0; i < 300000; i++)
        fputc(i % 251, fp);
    fputs("Linux version %s and Linux version 5.10.0-test+ (gcc) #1 SMP", fp);
    fclose(fp);
    enum oci_kernel_format fmt;
    char *ver = NULL;
    struct error err;
    assert_int_equal(oci_kernel_identify(p, &fmt, &ver, &err), 0);
    assert_int_equal(fmt, OCI_KERNEL_ELF);
    assert_string_equal(ver, "5.10.0-test+");
    free(ver);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("MZ not a kernel at all", fp);
    fclose(fp);
    assert_int_equal(oci_kernel_identify(p, &fmt, &ver, &err), -EINVAL);
    assert_int_equal(oci_kernel_extract_vmlinux(p, p, &err), -ENOEXEC);
}

static void touch(const char *base, const char *rel) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
}

static void mkdirs(const char *base, const char *rel) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    for (char *s = p + strlen(base) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    assert_int_equal(mkdir(p, 0755), 0);
}

static void test_kernel_find(void **state) {
    struct fx *f = *state;
    struct oci_kernel_files k;
    struct error err;
    /* Empty tree: nothing. */
    assert_int_equal(oci_kernel_find(f->root, &k, &err), 0);
    assert_null(k.kernel);
    assert_null(k.initrd);
    assert_null(k.modules);
    /* Debian-like: the newest vmlinuz and its initrd; modules. */
    mkdirs(f->root, "boot");
    mkdirs(f->root, "lib/modules/6.1.0-10");
    touch(f->root, "boot/vmlinuz-5.10.0-1");
    touch(f->root, "boot/vmlinuz-6.1.0-9");
    touch(f->root, "boot/vmlinuz-6.1.0-10");
    touch(f->root, "boot/initrd.img-6.1.0-9");
    touch(f->root, "boot/initrd.img-6.1.0-10");
    touch(f->root, "boot/initrd.img-5.10.0-1");
    assert_int_equal(oci_kernel_find(f->root, &k, &err), 0);
    assert_string_equal(k.kernel, "boot/vmlinuz-6.1.0-10");
    assert_string_equal(k.initrd, "boot/initrd.img-6.1.0-10");
    assert_string_equal(k.modules, "lib/modules");
    oci_kernel_files_release(&k);
    /* Ignite's /boot/vmlinux wins. */
    touch(f->root, "boot/vmlinux");
    assert_int_equal(oci_kernel_find(f->root, &k, &err), 0);
    assert_string_equal(k.kernel, "boot/vmlinux");
    assert_non_null(k.initrd);
    oci_kernel_files_release(&k);

    /* A second tree: symlinks are not taken (they could lead out), usrmerge modules. */
    char t2[400], p[600];
    snprintf(t2, sizeof(t2), "%s/t2", f->root);
    assert_int_equal(mkdir(t2, 0755), 0);
    mkdirs(t2, "boot");
    snprintf(p, sizeof(p), "%s/boot/vmlinux", t2);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/boot/initrd", t2);
    assert_int_equal(symlink("/etc/shadow", p), 0);
    mkdirs(t2, "usr/lib/modules");
    snprintf(p, sizeof(p), "%s/lib", t2);
    assert_int_equal(symlink("usr/lib", p), 0);
    assert_int_equal(oci_kernel_find(t2, &k, &err), 0);
    assert_null(k.kernel);
    assert_null(k.initrd);
    assert_string_equal(k.modules, "usr/lib/modules");
    oci_kernel_files_release(&k);
    /* boot itself a symlink out of the tree. */
    snprintf(p, sizeof(p), "%s/boot", t2);
    assert_int_equal(fs_tree_remove(p, &err), 0);
    assert_int_equal(symlink("/boot", p), 0);
    assert_int_equal(oci_kernel_find(t2, &k, &err), 0);
    assert_null(k.kernel);
    oci_kernel_files_release(&k);
}

/* A test run twice: lookups by openat2, then by the user-space walk that stands in for it. */
#define BOTH(t)                                                                                    \
    cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown), {                                   \
#t " (walk)", t, fx_setup_walk, fx_teardown, NULL                                          \
    }

int unpack_tests_run(void) {
    const struct CMUnitTest tests[] = {
        BOTH(test_layers_override),
        BOTH(test_whiteouts),
        BOTH(test_opaque),
        BOTH(test_links),
        cmocka_unit_test_setup_teardown(test_metadata, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_xattrs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_bad_blob, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gnu_tar_layer, fx_setup, fx_teardown),
        BOTH(test_alloc_failures),
        BOTH(test_inroot_absolute_symlink),
        BOTH(test_inroot_relative_chain),
        BOTH(test_inroot_dotdot_clamped),
        BOTH(test_inroot_hardlink_through_symlink),
        BOTH(test_inroot_whiteout_through_symlink),
        BOTH(test_inroot_errors),
        BOTH(test_inroot_link_limit),
        cmocka_unit_test_setup_teardown(test_open_in_root, fx_setup, fx_teardown),
        BOTH(test_hostile_dotdot),
        BOTH(test_hostile_dotdot_middle),
        BOTH(test_hostile_symlink_absolute),
        BOTH(test_hostile_symlink_dotdot),
        BOTH(test_hostile_symlink_to_sentinel),
        BOTH(test_hostile_whiteout_through_symlink),
        BOTH(test_hostile_opaque_through_symlink),
        BOTH(test_hostile_hardlink_outside),
        BOTH(test_hostile_hardlink_to_outside_symlink),
        BOTH(test_hostile_hardlink_through_symlink),
        BOTH(test_hostile_dir_replaced_by_symlink),
        BOTH(test_hostile_swap_in_one_layer),
        BOTH(test_hostile_proc_links),
        BOTH(test_hostile_entries_through_symlink),
        BOTH(test_hostile_dir_over_symlink),
        BOTH(test_hostile_whiteout_dotdot),
        cmocka_unit_test_setup_teardown(test_rmtree, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ext4_build, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ext4_size_for, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_debian, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_identify_fake, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_root_drivers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kernel_find, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("unpack", tests, NULL, NULL);
}
