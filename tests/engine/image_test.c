/*
 * Tests of image and kernel import against a real store, the file pool and
 * the real oci module in a temporary root. OCI layouts are built here with
 * libarchive (uncompressed tar layers, so a layer's digest is its diff id).
 * Import: the Image row (name, ociSource id and size), its pool device (type
 * Image, owned by the image) holding an ext4 with the image's files (read
 * back with debugfs), a second import finding it, removal taking the device.
 * Crashes: a child dies at every fault point of import and removal; the next
 * engine_open leaves no row, no device, no staging directory and doctor
 * clean (or the finished result for the after-commit points). A layer's
 * "../x" imports as /x (Docker clamps ".." at the root); a refused layer
 * and a cancel flag leave nothing. Kernels: from local files
 * (Debian's /boot and /lib/modules; failing when absent) and from an image.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"

#define MiB (UINT64_C(1) << 20)

struct ifix {
    char dir[256];
    char root[300];
    char layout[300];
    engine *eng;
};

/* ---- building OCI layouts ---------------------------------------------- */

struct tfile {
    const char *name;
    const char *content; /* NULL: a directory (or host_path's content) */
    const char *host_path;
};

static la_ssize_t sb_write(struct archive *a, void *ud, const void *buf, size_t len) {
    (void)a;
    return strbuf_add(ud, buf, len) < 0 ? -1 : (la_ssize_t)len;
}

/* Reads a host file whole; caller frees. */
static char *slurp(const char *path, size_t *ret_len) {
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    if (strbuf_read_file(&sb, path, 64 * MiB, &err) < 0)
        fail_msg("read %s: %s", path, err.msg);
    *ret_len = sb.len;
    return strbuf_detach(&sb);
}

/*
 * Writes an OCI layout at dir with one image tagged tag, made of one tar
 * layer holding files. Returns the config digest and the layer size.
 */
static void layout_make(const char *dir, const char *tag, const struct tfile *files, size_t n,
                        char config_digest[72], uint64_t *ret_size) {
    struct strbuf tar = STRBUF_INIT;
    struct archive *a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, &tar, NULL, sb_write, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, files[i].name);
        archive_entry_set_mtime(en, 1700000000, 0);
        char *data = NULL;
        size_t len = 0;
        if (files[i].host_path)
            data = slurp(files[i].host_path, &len);
        else if (files[i].content) {
            data = strdup(files[i].content);
            len = strlen(files[i].content);
        }
        if (data) {
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_perm(en, 0644);
            archive_entry_set_size(en, (la_int64_t)len);
        } else {
            archive_entry_set_filetype(en, AE_IFDIR);
            archive_entry_set_perm(en, 0755);
        }
        assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
        if (data)
            assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
        free(data);
        archive_entry_free(en);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);

    engine_test_layout_write(dir, tag, tar.buf, tar.len, config_digest);
    if (ret_size)
        *ret_size = tar.len;
    strbuf_release(&tar);
}

static const struct tfile busy_files[] = {
    {"bin", NULL, NULL},
    {"bin/marker", "hearth image marker\n", NULL},
    {"etc", NULL, NULL},
    {"etc/hostname", "box\n", NULL},
};

/* ---- fixtures ---------------------------------------------------------- */

static int img_setup(void **state) {
    struct ifix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-image-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->layout, sizeof(f->layout), "%s/busy", f->dir);
    engine_test_reopen(f->root, &f->eng);
    engine_test_pool_init(f->eng, f->root, 512 * MiB, 0, 0);
    *state = f;
    return 0;
}

static int img_teardown(void **state) {
    struct ifix *f = *state;
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static size_t devices(struct ifix *f) {
    struct engine_device *d = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (engine_pool_devices(f->eng, &d, &n, &err) < 0)
        fail_msg("devices: %s", err.msg);
    engine_devices_free(d, n);
    return n;
}

/* Nothing of an import is left: no image row, device, staging, open operation; doctor clean. */
static void assert_nothing_left(struct ifix *f) {
    assert_int_equal(engine_test_count(f->eng, API_KIND_IMAGE), 0);
    assert_int_equal(devices(f), 0);
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

static char *source_of(struct ifix *f) {
    char *s = xasprintf("oci-layout:%s:1", f->layout);
    assert_non_null(s);
    return s;
}

static int import(struct ifix *f, const struct engine_import_opts *o,
                  struct engine_import_result *res, struct error *err) {
    char *src = source_of(f);
    error_init(err);
    int r = engine_image_import(f->eng, src, o, res, err);
    free(src);
    return r;
}

/* ---- import ------------------------------------------------------------ */

static void test_image_import(void **state) {
    struct ifix *f = *state;
    char cfg[72];
    uint64_t size = 0;
    layout_make(f->layout, "1", busy_files, ARRAY_SIZE(busy_files), cfg, &size);

    struct engine_import_result res;
    struct error err;
    if (import(f, NULL, &res, &err) < 0)
        fail_msg("import: %s", err.msg);
    assert_false(res.existed);
    assert_true(id_is_valid(res.uid));
    assert_string_equal(res.name, "localhost/busy:1");
    assert_int_equal(res.size, size);
    assert_string_equal(res.notice, ""); /* the pool existed */

    struct api_object *img = NULL;
    assert_int_equal(engine_get(f->eng, API_KIND_IMAGE, res.uid, &img, &err), 0);
    assert_string_equal(img->meta.name, "localhost/busy:1");
    assert_string_equal(img->u.image.claim.type, "Docker");
    assert_string_equal(img->u.image.claim.ref, "localhost/busy:1");
    assert_string_equal(img->u.image.source.id, cfg);
    assert_int_equal(img->u.image.source.size, size);
    assert_int_equal(img->u.image.source.n_repo_digests, 0); /* not from a registry */
    assert_true(img->meta.created != API_TIME_NONE);
    api_object_free(img);

    /* The device: type Image, owned by the image, an ext4 with the files. */
    struct engine_device *d = NULL;
    size_t n = 0;
    assert_int_equal(engine_pool_devices(f->eng, &d, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].type, "Image");
    assert_string_equal(engine_pool_state_name(d[0].state), "active");
    assert_int_equal(d[0].owner_kind, API_KIND_IMAGE);
    assert_string_equal(d[0].owner_uid, res.uid);
    uint32_t id = 0;
    assert_int_equal(engine_image_device(f->eng, res.uid, &id, &err), 0);
    assert_int_equal(id, d[0].id);
    engine_devices_free(d, n);
    char *path = NULL;
    assert_int_equal(engine_pool_device_activate(f->eng, id, &path, &err), 0);
    struct strbuf out = STRBUF_INIT;
    const char *argv[] = {"debugfs", "-R", "cat /bin/marker", path, NULL};
    struct exec_opts eo = {.out = &out};
    if (exec_run(argv, &eo, &err) < 0)
        fail_msg("debugfs: %s", err.msg);
    assert_non_null(out.buf);
    assert_string_equal(out.buf, "hearth image marker\n");
    strbuf_release(&out);
    free(path);

    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);

    /* Again: the existing image, nothing new. */
    struct engine_import_result again;
    assert_int_equal(import(f, NULL, &again, &err), 0);
    assert_true(again.existed);
    assert_string_equal(again.uid, res.uid);
    assert_int_equal(devices(f), 1);

    /* rmi takes the device too. */
    assert_int_equal(engine_remove(f->eng, API_KIND_IMAGE, "localhost/busy:1", false, NULL, &err),
                     0);
    assert_nothing_left(f);
}

static void test_image_import_creates_pool(void **state) {
    struct ifix *f = *state;
    /* A root without a pool: the import makes one and says so. */
    char root2[400];
    snprintf(root2, sizeof(root2), "%s/second", f->dir);
    layout_make(f->layout, "1", busy_files, ARRAY_SIZE(busy_files), NULL, NULL);
    engine *e2 = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(engine_open(root2, &e2, &err), 0);
    struct engine_import_result res;
    char *src = source_of(f);
    if (engine_image_import(e2, src, NULL, &res, &err) < 0)
        fail_msg("import: %s", err.msg);
    free(src);
    assert_non_null(strstr(res.notice, "created the storage pool"));
    struct engine_pool_status s;
    assert_int_equal(engine_pool_status(e2, &s, &err), 0);
    assert_int_equal(s.by_type[0], 1);
    engine_pool_status_release(&s);
    engine_free(e2);
}

/* Sets the cancel flag when the given stage starts. */
struct cancel_at {
    const char *stage;
    volatile sig_atomic_t flag;
};
static void cancel_stage(void *ud, const char *stage) {
    struct cancel_at *c = ud;
    if (strcmp(stage, c->stage) == 0)
        c->flag = 1;
}

static void test_image_import_cancel(void **state) {
    struct ifix *f = *state;
    layout_make(f->layout, "1", busy_files, ARRAY_SIZE(busy_files), NULL, NULL);
    static const char *const stages[] = {"Unpacking", "Building ext4"};
    for (size_t i = 0; i < ARRAY_SIZE(stages); i++) {
        struct cancel_at c = {.stage = stages[i]};
        struct engine_import_opts o = {.cancel = &c.flag, .stage = cancel_stage, .ud = &c};
        struct engine_import_result res;
        struct error err;
        assert_int_equal(import(f, &o, &res, &err), -ECANCELED);
        assert_string_equal(err.msg, "import cancelled");
        assert_nothing_left(f);
    }
    /* Cancelled before it starts: also nothing. */
    struct cancel_at c = {.stage = "none", .flag = 1};
    struct engine_import_opts o = {.cancel = &c.flag};
    struct engine_import_result res;
    struct error err;
    assert_int_equal(import(f, &o, &res, &err), -ECANCELED);
    assert_nothing_left(f);
}

/* `debugfs -R cmd` on the ext4 of the image uid; caller frees. */
static char *image_debugfs(struct ifix *f, const char *uid, const char *cmd) {
    struct error err;
    uint32_t id = 0;
    assert_int_equal(engine_image_device(f->eng, uid, &id, &err), 0);
    char *path = NULL;
    assert_int_equal(engine_pool_device_activate(f->eng, id, &path, &err), 0);
    struct strbuf out = STRBUF_INIT;
    const char *argv[] = {"debugfs", "-R", cmd, path, NULL};
    struct exec_opts eo = {.out = &out};
    if (exec_run(argv, &eo, &err) < 0)
        fail_msg("debugfs: %s", err.msg);
    free(path);
    return out.buf ? strbuf_detach(&out) : strdup("");
}

/* "../escape" stops at the image's root, as Docker has it: it imports, and lands inside. */
static void test_image_import_clamped_layer(void **state) {
    struct ifix *f = *state;
    static const struct tfile clamped[] = {
        {"bin", NULL, NULL},
        {"bin/marker", "x\n", NULL},
        {"../escape", "inside\n", NULL},
    };
    layout_make(f->layout, "1", clamped, ARRAY_SIZE(clamped), NULL, NULL);
    struct engine_import_result res;
    struct error err;
    if (import(f, NULL, &res, &err) < 0)
        fail_msg("import: %s", err.msg);
    _cleanup_free_ char *cat = image_debugfs(f, res.uid, "cat /escape");
    assert_string_equal(cat, "inside\n");
    char outside[400];
    snprintf(outside, sizeof(outside), "%s/tmp/escape", f->root);
    assert_int_equal(access(outside, F_OK), -1);
    snprintf(outside, sizeof(outside), "%s/escape", f->root);
    assert_int_equal(access(outside, F_OK), -1);
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

static void test_image_import_hostile_layer(void **state) {
    struct ifix *f = *state;
    static const struct tfile evil[] = {
        {"bin", NULL, NULL},
        {"bin/marker", "x\n", NULL},
        {"bin/marker/escape", "below a file\n", NULL},
    };
    layout_make(f->layout, "1", evil, ARRAY_SIZE(evil), NULL, NULL);
    struct engine_import_result res;
    struct error err;
    int r = import(f, NULL, &res, &err);
    assert_int_equal(r, -ENOTDIR);
    print_message("  refused: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "bin/marker/escape"));
    assert_nothing_left(f);

    /* A source that does not exist: an error, nothing recorded. */
    error_init(&err);
    r = engine_image_import(f->eng, "oci-layout:/nonexistent/hearth:1", NULL, &res, &err);
    assert_true(r < 0);
    assert_true(err.msg[0] != '\0');
    assert_nothing_left(f);
}

/* ---- crashes ----------------------------------------------------------- */

struct crash_case {
    const char *point;
    bool done; /* the import survives recovery */
};

static const struct crash_case import_crashes[] = {
    {"image.import.after-intent", false}, {"image.import.after-unpack", false},
    {"pool.create.after-intent", false},  {"pool.create.after-act", false},
    {"pool.create.after-commit", false},  {"image.import.after-device", false},
    {"image.import.after-build", false},  {"image.import.after-cleanup", false},
    {"image.import.after-commit", true},
};

/* What the crash tests run in their child (engine_test_crash_child). */
static void do_import(engine *e, void *ud) {
    (void)e;
    struct ifix *f = ud; /* f->eng is e */
    struct engine_import_result res;
    struct error err;
    if (import(f, NULL, &res, &err) < 0)
        print_message("  import: %s\n", err.msg);
}

static void test_image_import_crashes(void **state) {
    struct ifix *f = *state;
    layout_make(f->layout, "1", busy_files, ARRAY_SIZE(busy_files), NULL, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(import_crashes); i++) {
        const struct crash_case *c = &import_crashes[i];
        print_message("  crash at %s\n", c->point);
        engine_test_crash_child(f->root, &f->eng, c->point, do_import, f);
        assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
        assert_int_equal(engine_test_open_ops(f->eng), 0);
        assert_int_equal(engine_test_doctor_count(f->eng), 0);
        if (!c->done) {
            assert_nothing_left(f);
            continue;
        }
        assert_int_equal(engine_test_count(f->eng, API_KIND_IMAGE), 1);
        assert_int_equal(devices(f), 1);
        struct error err;
        error_init(&err);
        assert_int_equal(
            engine_remove(f->eng, API_KIND_IMAGE, "localhost/busy:1", false, NULL, &err), 0);
        assert_nothing_left(f);
    }
}

static void do_remove(engine *e, void *ud) {
    (void)ud;
    struct error err;
    error_init(&err);
    if (engine_remove(e, API_KIND_IMAGE, "localhost/busy:1", false, NULL, &err) < 0)
        print_message("  remove: %s\n", err.msg);
}

static void test_image_remove_crashes(void **state) {
    struct ifix *f = *state;
    layout_make(f->layout, "1", busy_files, ARRAY_SIZE(busy_files), NULL, NULL);
    static const char *const points[] = {"image.remove.after-intent", "pool.remove.after-intent",
                                         "pool.remove.after-act", "image.remove.after-act"};
    for (size_t i = 0; i < ARRAY_SIZE(points); i++) {
        struct engine_import_result res;
        struct error err;
        if (import(f, NULL, &res, &err) < 0)
            fail_msg("import: %s", err.msg);
        print_message("  crash at %s\n", points[i]);
        engine_test_crash_child(f->root, &f->eng, points[i], do_remove, NULL);
        /* Removal is always finished forward. */
        assert_nothing_left(f);
    }
}

/* ---- doctor ------------------------------------------------------------ */

static void test_doctor_import_leftovers(void **state) {
    struct ifix *f = *state;
    char path[512];
    snprintf(path, sizeof(path), "%s/tmp", f->root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/tmp/import-0123456789abcdef", f->root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/tmp/import-0123456789abcdef/file", f->root);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/kernel", f->root);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/kernel/0123456789abcdef.tmp", f->root);
    assert_int_equal(mkdir(path, 0700), 0);

    /* A kernel without files (applied, not imported). */
    struct api_object **objs = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    const char *doc = "apiVersion: ignite.weave.works/v1alpha1\nkind: Kernel\nmetadata:\n"
                      "  name: k\nspec:\n  version: 4.19.47\n  ociClaim:\n    ref: k\n";
    assert_int_equal(api_docs_parse(doc, strlen(doc), "k.yaml", &objs, &n, &err), 0);
    struct engine_apply_result *ar = NULL;
    assert_int_equal(engine_apply(f->eng, objs, n, &ar, NULL, &err), 0);
    free(ar);
    api_objects_free(objs, n);

    struct engine_doctor_report rep = {0};
    assert_int_equal(engine_doctor(f->eng, true, &rep, &err), 0);
    size_t strays = 0, missing = 0;
    for (size_t i = 0; i < rep.n; i++) {
        print_message("  doctor: %s %s: %s\n", rep.items[i].kind, rep.items[i].object,
                      rep.items[i].message);
        if (strcmp(rep.items[i].kind, "stray") == 0) {
            strays++;
            assert_true(rep.items[i].repaired);
        } else if (strcmp(rep.items[i].kind, "missing-kernel-files") == 0) {
            missing++;
            assert_false(rep.items[i].repaired);
        }
    }
    engine_doctor_report_release(&rep);
    assert_int_equal(strays, 2);
    assert_int_equal(missing, 1);
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_entries(f->root, "kernel"), 0);
}

/* ---- kernels ----------------------------------------------------------- */

struct host_kernel {
    char vmlinuz[300], initrd[300], modules[300], version[256];
};

/* Debian's kernel on this machine (linux-image-amd64), or false. */
static bool host_kernel_find(struct host_kernel *k) {
    DIR *d = opendir("/lib/modules");
    if (!d)
        return false;
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d)) && !found) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(k->version, sizeof(k->version), "%s", de->d_name);
        snprintf(k->vmlinuz, sizeof(k->vmlinuz), "/boot/vmlinuz-%s", de->d_name);
        snprintf(k->initrd, sizeof(k->initrd), "/boot/initrd.img-%s", de->d_name);
        snprintf(k->modules, sizeof(k->modules), "/lib/modules/%s", de->d_name);
        found = access(k->vmlinuz, R_OK) == 0 && access(k->initrd, R_OK) == 0;
    }
    closedir(d);
    return found;
}

static bool file_is_elf(const char *path) {
    unsigned char m[4] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t n = fread(m, 1, 4, fp);
    fclose(fp);
    return n == 4 && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
}

static void kernel_checks(struct ifix *f, const struct engine_import_result *res,
                          const char *version, bool initrd, bool modules) {
    struct api_object *k = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(engine_get(f->eng, API_KIND_KERNEL, res->uid, &k, &err), 0);
    assert_string_equal(k->u.kernel.version, version);
    assert_string_equal(k->u.kernel.claim.ref, res->name);
    assert_non_null(k->u.kernel.source.id);
    assert_true(str_starts_with(k->u.kernel.source.id, "sha256:"));
    api_object_free(k);
    char *path = NULL;
    assert_int_equal(engine_kernel_file(f->eng, res->uid, "vmlinux", &path, &err), 0);
    assert_true(file_is_elf(path));
    free(path);
    assert_int_equal(engine_kernel_file(f->eng, res->uid, "vmlinuz", &path, &err), 0);
    free(path);
    path = NULL;
    assert_int_equal(engine_kernel_file(f->eng, res->uid, "initrd", &path, &err),
                     initrd ? 0 : -ENOENT);
    free(path);
    path = NULL;
    int r = engine_kernel_file(f->eng, res->uid, "modules.tar", &path, &err);
    assert_int_equal(r, modules ? 0 : -ENOENT);
    if (modules) {
        /* lib/modules/<version>/modules.dep is in the tar */
        struct strbuf out = STRBUF_INIT;
        const char *argv[] = {"tar", "-tf", path, NULL};
        struct exec_opts eo = {.out = &out};
        assert_int_equal(exec_run(argv, &eo, &err), 0);
        char want[300];
        snprintf(want, sizeof(want), "lib/modules/%s/modules.dep\n", version);
        assert_non_null(strstr(out.buf, want));
        strbuf_release(&out);
        free(path);
    }
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
    assert_int_equal(engine_test_doctor_count(f->eng), 0);
}

static void test_kernel_import_files(void **state) {
    struct ifix *f = *state;
    struct host_kernel hk;
    if (!host_kernel_find(&hk))
        fail_msg("no Debian kernel in /boot and /lib/modules: apt-get install "
                 "linux-image-amd64 (scripts/install-deps)");
    struct engine_kernel_local files = {hk.vmlinuz, hk.initrd, hk.modules};
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import_files(f->eng, "debian-kernel:1", &files, NULL, &res, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    assert_false(res.existed);
    assert_string_equal(res.name, "debian-kernel:1");
    assert_string_equal(res.warning, "");
    kernel_checks(f, &res, hk.version, true, true);

    struct engine_import_result again;
    assert_int_equal(
        engine_kernel_import_files(f->eng, "debian-kernel:1", &files, NULL, &again, &err), 0);
    assert_true(again.existed);
    assert_string_equal(again.uid, res.uid);

    /* rmk takes the files. */
    assert_int_equal(engine_remove(f->eng, API_KIND_KERNEL, "debian-kernel:1", false, NULL, &err),
                     0);
    assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 0);
    assert_int_equal(engine_test_entries(f->root, "kernel"), 0);

    /* A file that is no kernel: an error, nothing left. */
    files = (struct engine_kernel_local){.vmlinux = "/etc/hostname"};
    assert_true(engine_kernel_import_files(f->eng, "bad:1", &files, NULL, &res, &err) < 0);
    print_message("  not a kernel: %s\n", err.msg);
    assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 0);
    assert_int_equal(engine_test_entries(f->root, "kernel"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
}

static void do_kernel_import(engine *e, void *ud) {
    const struct engine_kernel_local *files = ud;
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import_files(e, "crash-kernel:1", files, NULL, &res, &err) < 0)
        print_message("  kernel import: %s\n", err.msg);
}

static void test_kernel_import_crashes(void **state) {
    struct ifix *f = *state;
    struct host_kernel hk;
    if (!host_kernel_find(&hk))
        fail_msg("no Debian kernel in /boot: apt-get install linux-image-amd64 "
                 "(scripts/install-deps)");
    struct engine_kernel_local files = {.vmlinux = hk.vmlinuz};
    static const struct crash_case cases[] = {
        {"kernel.import.after-intent", false},
        {"kernel.import.after-files", false},
        {"kernel.import.after-rename", false},
        {"kernel.import.after-commit", true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        print_message("  crash at %s\n", cases[i].point);
        engine_test_crash_child(f->root, &f->eng, cases[i].point, do_kernel_import, &files);
        assert_int_equal(engine_test_open_ops(f->eng), 0);
        assert_int_equal(engine_test_doctor_count(f->eng), 0);
        assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), cases[i].done ? 1 : 0);
        assert_int_equal(engine_test_entries(f->root, "kernel"), cases[i].done ? 1 : 0);
        assert_int_equal(engine_test_entries(f->root, "tmp"), 0); /* its staging */
        if (cases[i].done) {
            struct error err;
            error_init(&err);
            assert_int_equal(
                engine_remove(f->eng, API_KIND_KERNEL, "crash-kernel:1", false, NULL, &err), 0);
            assert_int_equal(engine_test_entries(f->root, "kernel"), 0);
        }
    }
}

static void do_kernel_remove(engine *e, void *ud) {
    (void)ud;
    struct error err;
    error_init(&err);
    if (engine_remove(e, API_KIND_KERNEL, "crash-kernel:1", false, NULL, &err) < 0)
        print_message("  rmk: %s\n", err.msg);
}

static void test_kernel_remove_crashes(void **state) {
    struct ifix *f = *state;
    struct host_kernel hk;
    if (!host_kernel_find(&hk))
        fail_msg("no Debian kernel in /boot: apt-get install linux-image-amd64 "
                 "(scripts/install-deps)");
    struct engine_kernel_local files = {.vmlinux = hk.vmlinuz};
    static const char *const points[] = {"kernel.remove.after-intent", "kernel.remove.after-act"};
    for (size_t i = 0; i < ARRAY_SIZE(points); i++) {
        struct engine_import_result res;
        struct error err;
        error_init(&err);
        if (engine_kernel_import_files(f->eng, "crash-kernel:1", &files, NULL, &res, &err) < 0)
            fail_msg("kernel import: %s", err.msg);
        assert_int_equal(engine_test_entries(f->root, "kernel"), 1);
        print_message("  crash at %s\n", points[i]);
        engine_test_crash_child(f->root, &f->eng, points[i], do_kernel_remove, NULL);
        /* Removal is always finished forward: no kernel, no files, nothing open. */
        assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 0);
        assert_int_equal(engine_test_entries(f->root, "kernel"), 0);
        assert_int_equal(engine_test_open_ops(f->eng), 0);
        assert_int_equal(engine_test_doctor_count(f->eng), 0);
    }
}

static void do_kernel_image_import(engine *e, void *ud) {
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import(e, ud, NULL, &res, &err) < 0)
        print_message("  kernel import: %s\n", err.msg);
}

static void test_kernel_import_image(void **state) {
    struct ifix *f = *state;
    struct host_kernel hk;
    if (!host_kernel_find(&hk))
        fail_msg("no Debian kernel in /boot: apt-get install linux-image-amd64 "
                 "(scripts/install-deps)");
    char vmlinuz[300], mdir[300], mdep[320];
    snprintf(vmlinuz, sizeof(vmlinuz), "boot/vmlinuz-%s", hk.version);
    snprintf(mdir, sizeof(mdir), "lib/modules/%s", hk.version);
    snprintf(mdep, sizeof(mdep), "lib/modules/%s/modules.dep", hk.version);
    const struct tfile files[] = {
        {"boot", NULL, NULL},        {vmlinuz, NULL, hk.vmlinuz}, {"lib", NULL, NULL},
        {"lib/modules", NULL, NULL}, {mdir, NULL, NULL},          {mdep, "", NULL},
    };
    char layout[400];
    snprintf(layout, sizeof(layout), "%s/kimage", f->dir);
    char cfg[72];
    layout_make(layout, "example.org/kernels/debian:6", files, ARRAY_SIZE(files), cfg, NULL);
    char *src = xasprintf("oci-layout:%s:example.org/kernels/debian:6", layout);

    /* A crash with the image unpacked and nothing stored: recovery leaves nothing. */
    static const char *const points[] = {"kernel.import.after-intent",
                                         "kernel.import.after-unpack"};
    for (size_t i = 0; i < ARRAY_SIZE(points); i++) {
        print_message("  crash at %s\n", points[i]);
        engine_test_crash_child(f->root, &f->eng, points[i], do_kernel_image_import, src);
        assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 0);
        assert_int_equal(engine_test_entries(f->root, "kernel"), 0);
        assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
        assert_int_equal(engine_test_open_ops(f->eng), 0);
        assert_int_equal(engine_test_doctor_count(f->eng), 0);
    }

    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import(f->eng, src, NULL, &res, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    free(src);
    assert_string_equal(res.name, "example.org/kernels/debian:6");
    kernel_checks(f, &res, hk.version, false, true);
    struct api_object *k = NULL;
    assert_int_equal(engine_get(f->eng, API_KIND_KERNEL, res.uid, &k, &err), 0);
    assert_string_equal(k->u.kernel.source.id, cfg); /* the image's id */
    api_object_free(k);

    /* An image without a kernel: a clear error, nothing left. */
    layout_make(f->layout, "1", busy_files, ARRAY_SIZE(busy_files), NULL, NULL);
    src = source_of(f);
    assert_int_equal(engine_kernel_import(f->eng, src, NULL, &res, &err), -ENOENT);
    free(src);
    assert_non_null(strstr(err.msg, "holds no kernel"));
    assert_int_equal(engine_test_count(f->eng, API_KIND_KERNEL), 1);
    assert_int_equal(engine_test_entries(f->root, "kernel"), 1);
    assert_int_equal(engine_test_entries(f->root, "tmp"), 0);
    assert_int_equal(engine_test_open_ops(f->eng), 0);
}

/* Writes n bytes of data to path (created or truncated). */
static void file_put(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "we");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Imports files->vmlinux as name and returns the warning (caller frees); the kernel removed. */
static char *import_warning(struct ifix *f, const char *name,
                            const struct engine_kernel_local *files) {
    struct engine_import_result res;
    struct error err;
    error_init(&err);
    if (engine_kernel_import_files(f->eng, name, files, NULL, &res, &err) < 0)
        fail_msg("kernel import: %s", err.msg);
    assert_int_equal(engine_remove(f->eng, API_KIND_KERNEL, name, false, NULL, &err), 0);
    return xstrdup(res.warning);
}

/*
 * A kernel imported without an initrd: a warning (one line, saying what to
 * pass) when its configuration says its VMs cannot mount their root, none
 * when the drivers are built in or when it cannot be told.
 */
static void test_kernel_import_root_warning(void **state) {
    struct ifix *f = *state;
    struct host_kernel hk;
    if (!host_kernel_find(&hk))
        fail_msg(
            "no Debian kernel in /boot: apt-get install linux-image-amd64 (scripts/install-deps)");
    /* Debian's kernel has all three as modules (its /boot/config-<version> says so). */
    struct engine_kernel_local files = {.vmlinux = hk.vmlinuz};
    char *w = import_warning(f, "debian:1", &files);
    print_message("  %s\n", w);
    char want[2048];
    snprintf(want, sizeof(want),
             "kernel 'debian:1' has ext4, virtio_blk and virtio_mmio as modules "
             "(/boot/config-%s) and no initrd to load them: its VMs cannot mount their root "
             "disk; import it with --initrd %s",
             hk.version, hk.initrd);
    assert_string_equal(w, want);
    free(w);
    /* With its initrd: nothing to say. */
    files.initrd = hk.initrd;
    w = import_warning(f, "debian:2", &files);
    assert_string_equal(w, "");
    free(w);

    /* The same kernel beside a config that builds them in: nothing; one without a driver. */
    char dir[400], kernel[700], config[700];
    snprintf(dir, sizeof(dir), "%s/boot", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(kernel, sizeof(kernel), "%s/vmlinuz-%s", dir, hk.version);
    snprintf(config, sizeof(config), "%s/config-%s", dir, hk.version);
    struct strbuf k = STRBUF_INIT;
    struct error err;
    error_init(&err);
    assert_int_equal(strbuf_read_file(&k, hk.vmlinuz, 256u << 20, &err), 0);
    file_put(kernel, k.buf, k.len);
    strbuf_release(&k);
    static const char builtin[] = "CONFIG_EXT4_FS=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_VIRTIO_MMIO=y\n";
    file_put(config, builtin, strlen(builtin));
    files = (struct engine_kernel_local){.vmlinux = kernel};
    w = import_warning(f, "custom:1", &files);
    assert_string_equal(w, "");
    free(w);
    static const char half[] = "CONFIG_EXT4_FS=m\nCONFIG_VIRTIO_BLK=y\n"
                               "# CONFIG_VIRTIO_MMIO is not set\n";
    file_put(config, half, strlen(half));
    w = import_warning(f, "custom:2", &files);
    snprintf(want, sizeof(want),
             "kernel 'custom:2' has no virtio_mmio driver (%s): its VMs cannot mount their root "
             "disk, with or without an initrd",
             config);
    assert_string_equal(w, want);
    free(w);
    static const char one[] = "CONFIG_EXT4_FS=m\nCONFIG_VIRTIO_BLK=y\nCONFIG_VIRTIO_MMIO=y\n";
    file_put(config, one, strlen(one));
    w = import_warning(f, "custom:3", &files);
    snprintf(want, sizeof(want),
             "kernel 'custom:3' has ext4 as modules (%s) and no initrd to load them: its VMs "
             "cannot mount their root disk; import it with --initrd INITRD (the kernel's "
             "initramfs)",
             config);
    assert_string_equal(w, want);
    free(w);

    /* No config: --modules tells (its modules.builtin and modules.dep). */
    assert_int_equal(unlink(config), 0);
    char mods[700], path[800];
    snprintf(mods, sizeof(mods), "%s/modules", f->dir);
    assert_int_equal(mkdir(mods, 0700), 0);
    snprintf(path, sizeof(path), "%s/modules.builtin", mods);
    static const char mb[] = "kernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n";
    file_put(path, mb, strlen(mb));
    snprintf(path, sizeof(path), "%s/modules.dep", mods);
    static const char md[] = "kernel/drivers/virtio/virtio_mmio.ko.xz: kernel/x.ko\n";
    file_put(path, md, strlen(md));
    files.modules = mods;
    w = import_warning(f, "custom:4", &files);
    assert_non_null(strstr(w, "has virtio_mmio as modules ("));
    assert_non_null(strstr(w, "/modules/modules.builtin)"));
    free(w);

    /* A kernel whose version no file describes: it cannot be told, nothing is said about it. */
    unsigned char fake[0x600];
    memset(fake, 0, sizeof(fake));
    memcpy(fake + 0x202, "HdrS", 4);
    fake[0x206] = 0x0f;
    fake[0x207] = 0x02;
    fake[0x20E] = 0x00; /* the version string at 0x300 + 0x200 */
    fake[0x20F] = 0x03;
    static const char ver[] = "9.9.9-hearth-test (nobody@nowhere) #1";
    memcpy(fake + 0x500, ver, sizeof(ver));
    snprintf(kernel, sizeof(kernel), "%s/vmlinuz-9.9.9-hearth-test", dir);
    file_put(kernel, fake, sizeof(fake));
    files = (struct engine_kernel_local){.vmlinux = kernel};
    w = import_warning(f, "unknown:1", &files);
    print_message("  %s\n", w);
    assert_non_null(strstr(w, "could not be extracted")); /* the other warning, alone */
    assert_null(strstr(w, "root disk"));
    assert_null(strchr(w, '\n'));
    free(w);
}

const struct CMUnitTest engine_image_tests[] = {
    cmocka_unit_test_setup_teardown(test_image_import, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_image_import_creates_pool, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_image_import_cancel, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_image_import_clamped_layer, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_image_import_hostile_layer, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_image_import_crashes, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_image_remove_crashes, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_doctor_import_leftovers, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_kernel_import_files, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_kernel_import_crashes, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_kernel_remove_crashes, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_kernel_import_image, img_setup, img_teardown),
    cmocka_unit_test_setup_teardown(test_kernel_import_root_warning, img_setup, img_teardown),
};
const size_t engine_image_tests_n = ARRAY_SIZE(engine_image_tests);
