/*
 * Tests of the engine's pool operations against a real store and a real
 * pool in a temporary root: the file driver on the host, dm-thin when
 * HEARTH_TEST_DM=1 (inside the QEMU guest of tests/guest). Init defaults and
 * refusals; create, snapshot and remove with ids unique and children
 * refused; status and listing; doctor on a clean pool and on each kind of
 * problem, with repair; a crash at every fault point (a child dies there,
 * the next engine_open recovers) leaving database and pool in agreement
 * with nothing lost; processes creating devices at once; a pool deleted
 * behind hearth's back; a full filesystem.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"
#include "pool/pool.h"

#define MiB (UINT64_C(1) << 20)
#define DEV_SIZE (8 * MiB)
#define MARKER_OFF 4096
#define MARKER "hearth marker: this data must survive"

struct pfix {
    char dir[1024];
    char root[1100];
    engine *eng;
    bool dm;
};

static int pool_init_test(struct pfix *f, uint64_t data_size, struct error *err) {
    char data[1200], meta[1200];
    snprintf(data, sizeof(data), "%s/pool/data", f->root);
    snprintf(meta, sizeof(meta), "%s/pool/metadata", f->root);
    struct engine_pool_init_opts o = {
        .driver = f->dm ? "dm-thin" : "file",
        .data_size = data_size,
        .metadata_size = 4 * MiB,
        .allocation_size = 64 * 1024,
        .data_path = data,
        .metadata_path = meta,
    };
    error_init(err);
    return engine_pool_init(f->eng, &o, NULL, 0, err);
}

static int bare_setup(void **state) {
    struct pfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dm = engine_test_dm();
    const char *base = f->dm ? getenv("HEARTH_GUEST_SCRATCH") : NULL;
    snprintf(f->dir, sizeof(f->dir), "%s/hearth-pool-test-XXXXXX", base ? base : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    engine_test_reopen(f->root, &f->eng);
    *state = f;
    return 0;
}

static int pool_setup(void **state) {
    bare_setup(state);
    struct pfix *f = *state;
    struct error err;
    if (pool_init_test(f, 256 * MiB, &err) < 0)
        fail_msg("pool init: %s", err.msg);
    return 0;
}

static int pool_teardown(void **state) {
    struct pfix *f = *state;
    struct error err;
    error_init(&err);
    struct pool *p = NULL;
    if (f->eng && f->dm && engine_pool_get(f->eng, &p, &err) == 0 && pool_disassemble(p, &err) < 0)
        print_message("disassemble: %s\n", err.msg);
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static uint32_t create_ok(struct pfix *f, const char *type) {
    struct error err;
    error_init(&err);
    uint32_t id = 0;
    if (engine_pool_device_create(f->eng, type, DEV_SIZE, API_KIND_COUNT, NULL, &id, &err) < 0)
        fail_msg("create: %s", err.msg);
    return id;
}

static uint32_t snapshot_ok(struct pfix *f, uint32_t parent) {
    struct error err;
    error_init(&err);
    uint32_t id = 0;
    if (engine_pool_device_snapshot(f->eng, "VM", parent, 0, API_KIND_COUNT, NULL, &id, &err) < 0)
        fail_msg("snapshot: %s", err.msg);
    return id;
}

static void marker_io(struct pfix *f, uint32_t id, bool write) {
    struct error err;
    error_init(&err);
    char *path = NULL;
    if (engine_pool_device_activate(f->eng, id, &path, &err) < 0)
        fail_msg("activate %u: %s", id, err.msg);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    char buf[sizeof(MARKER)] = "";
    if (write) {
        assert_int_equal(pwrite(fd, MARKER, sizeof(MARKER), MARKER_OFF), (ssize_t)sizeof(MARKER));
        assert_int_equal(fsync(fd), 0);
    } else {
        assert_int_equal(pread(fd, buf, sizeof(buf), MARKER_OFF), (ssize_t)sizeof(buf));
        assert_memory_equal(buf, MARKER, sizeof(MARKER));
    }
    close(fd);
    free(path);
    if (f->dm) {
        struct pool *p;
        assert_int_equal(engine_pool_get(f->eng, &p, &err), 0);
        if (pool_device_deactivate(p, id, &err) < 0)
            fail_msg("deactivate: %s", err.msg);
    }
}

static size_t doctor_count(struct pfix *f, bool repair, struct engine_doctor_report *keep) {
    struct engine_doctor_report rep = {0};
    struct error err;
    error_init(&err);
    if (engine_doctor(f->eng, repair, &rep, &err) < 0)
        fail_msg("doctor: %s", err.msg);
    size_t n = rep.n;
    for (size_t i = 0; i < rep.n; i++)
        print_message("  doctor: %s %s: %s%s\n", rep.items[i].kind, rep.items[i].object,
                      rep.items[i].message, rep.items[i].repaired ? " (repaired)" : "");
    if (keep)
        *keep = rep;
    else
        engine_doctor_report_release(&rep);
    return n;
}

static bool report_has(const struct engine_doctor_report *rep, const char *kind,
                       const char *object) {
    for (size_t i = 0; i < rep->n; i++)
        if (strcmp(rep->items[i].kind, kind) == 0 &&
            (!object || strcmp(rep->items[i].object, object) == 0))
            return true;
    return false;
}

static size_t rows(struct pfix *f, struct engine_device **ret) {
    struct engine_device *d = NULL;
    size_t n = 0;
    struct error err;
    error_init(&err);
    if (engine_pool_devices(f->eng, &d, &n, &err) < 0)
        fail_msg("devices: %s", err.msg);
    if (ret)
        *ret = d;
    else
        engine_devices_free(d, n);
    return n;
}

static const struct engine_device *row_of(struct engine_device *d, size_t n, uint32_t id) {
    for (size_t i = 0; i < n; i++)
        if (d[i].id == id)
            return &d[i];
    return NULL;
}

/* Asserts: no open journal row, no planned/removing row, doctor clean. */
static void assert_consistent(struct pfix *f) {
    struct store_op *ops = NULL;
    size_t n_ops = 0;
    struct error err;
    error_init(&err);
    assert_int_equal(store_op_list_open(f->eng->store, &ops, &n_ops, &err), 0);
    for (size_t i = 0; i < n_ops; i++)
        print_message("  open op: %s step %s\n", ops[i].op, ops[i].step);
    store_ops_free(ops, n_ops);
    assert_int_equal(n_ops, 0);
    struct engine_device *d = NULL;
    size_t n = rows(f, &d);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(engine_pool_state_name(d[i].state), "active");
    engine_devices_free(d, n);
    assert_int_equal(doctor_count(f, false, NULL), 0);
}

/* ---- init -------------------------------------------------------------- */

static void test_init_refusals(void **state) {
    struct pfix *f = *state;
    struct error err;
    struct engine_pool_init_opts o = {
        .driver = f->dm ? "dm-thin" : "file", .data_size = 64 * MiB, .allocation_size = 100 * 1024};
    error_init(&err);
    assert_int_equal(engine_pool_init(f->eng, &o, NULL, 0, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a multiple of 64KB"));
    o.allocation_size = 128 * 1024;
    o.data_size = 64 * 1024;
    error_init(&err);
    assert_int_equal(engine_pool_init(f->eng, &o, NULL, 0, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "smaller than the allocation size"));
    o.data_size = 1 * MiB + 64 * 1024;
    error_init(&err);
    assert_int_equal(engine_pool_init(f->eng, &o, NULL, 0, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a multiple of the allocation size"));
    o.driver = "zfs";
    error_init(&err);
    assert_int_equal(engine_pool_init(f->eng, &o, NULL, 0, &err), -EINVAL);
    /* Nothing was recorded by the refusals. */
    struct engine_pool_status s;
    error_init(&err);
    assert_int_equal(engine_pool_status(f->eng, &s, &err), -ENOENT);

    assert_int_equal(pool_init_test(f, 64 * MiB, &err), 0);
    assert_int_equal(pool_init_test(f, 64 * MiB, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "a pool already exists (driver"));
}

static void test_init_defaults(void **state) {
    struct pfix *f = *state;
    struct error err;
    error_init(&err);
    struct engine_pool_init_opts o = {0};
    char notice[256];
    assert_int_equal(engine_pool_init(f->eng, &o, notice, sizeof(notice), &err), 0);
    assert_non_null(strstr(notice, "using the file driver: "));
    struct engine_pool_status s;
    assert_int_equal(engine_pool_status(f->eng, &s, &err), 0);
    assert_string_equal(s.driver, "file");
    assert_int_equal(strlen(s.name), 8);
    assert_int_equal(s.allocation_size, 64 * 1024);
    assert_true(s.data_size > 0 && s.data_size <= (UINT64_C(100) << 30));
    char want[1200];
    snprintf(want, sizeof(want), "%s/pool/data", f->root);
    assert_string_equal(s.data_path, want);
    assert_true(s.usage_known);
    assert_int_equal(s.n_devices, 0);
    engine_pool_status_release(&s);
    /* The pool is back after reopening. */
    engine_test_reopen(f->root, &f->eng);
    assert_int_equal(engine_pool_status(f->eng, &s, &err), 0);
    assert_true(s.usage_known);
    engine_pool_status_release(&s);
}

/* ---- devices ----------------------------------------------------------- */

static void test_device_ops(void **state) {
    struct pfix *f = *state;
    struct error err;
    uint32_t a = create_ok(f, "Image");
    uint32_t b = snapshot_ok(f, a);
    uint32_t c = snapshot_ok(f, b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(c, 2);
    marker_io(f, a, true);

    error_init(&err);
    assert_int_equal(engine_pool_device_remove(f->eng, b, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "device 1 has children: 2"));
    error_init(&err);
    uint32_t x;
    assert_int_equal(
        engine_pool_device_snapshot(f->eng, "VM", 77, 0, API_KIND_COUNT, NULL, &x, &err), -ENOENT);
    assert_int_equal(
        engine_pool_device_create(f->eng, "Disk", DEV_SIZE, API_KIND_COUNT, NULL, &x, &err),
        -EINVAL);
    assert_int_equal(
        engine_pool_device_snapshot(f->eng, "VM", a, MiB, API_KIND_COUNT, NULL, &x, &err),
        -EINVAL); /* smaller than its parent */

    /* An owned device; status and listing. */
    uint32_t d = 0;
    error_init(&err);
    assert_int_equal(engine_pool_device_create(f->eng, "Kernel", DEV_SIZE, API_KIND_KERNEL,
                                               "0123456789abcdef", &d, &err),
                     0);
    assert_int_equal(d, 3);
    struct engine_pool_status s;
    assert_int_equal(engine_pool_status(f->eng, &s, &err), 0);
    assert_int_equal(s.n_devices, 4);
    assert_int_equal(s.by_type[0], 1); /* Image */
    assert_int_equal(s.by_type[2], 1); /* Kernel */
    assert_int_equal(s.by_type[3], 2); /* VM */
    assert_true(s.usage_known);
    assert_true(s.data_used > 0);
    engine_pool_status_release(&s);
    struct engine_device *rs = NULL;
    size_t n = rows(f, &rs);
    assert_int_equal(n, 4);
    assert_int_equal(row_of(rs, n, c)->parent, b);
    assert_int_equal(row_of(rs, n, a)->parent, ENGINE_DEVICE_PARENT_NONE);
    assert_int_equal(row_of(rs, n, c)->size, DEV_SIZE);
    assert_int_equal(row_of(rs, n, d)->owner_kind, API_KIND_KERNEL);
    assert_string_equal(row_of(rs, n, d)->owner_uid, "0123456789abcdef");
    engine_devices_free(rs, n);

    /* Removing releases that device only; the freed id is the lowest again. */
    assert_int_equal(engine_pool_device_remove(f->eng, c, &err), 0);
    assert_int_equal(rows(f, NULL), 3);
    assert_int_equal(engine_pool_device_remove(f->eng, b, &err), 0);
    assert_int_equal(engine_pool_device_remove(f->eng, b, &err), -ENOENT);
    assert_int_equal(create_ok(f, "VM"), 1);
    marker_io(f, a, false);

    /* Export shows the rows as the Pool's devices, with a hole for id 2. */
    struct api_object **objs = NULL;
    size_t no = 0;
    enum api_kind k = API_KIND_POOL;
    assert_int_equal(engine_export(f->eng, &k, 1, &objs, &no, &err), 0);
    assert_int_equal(no, 1);
    const struct api_pool *ap = &objs[0]->u.pool;
    assert_int_equal(ap->n_devices, 4);
    assert_true(ap->devices[0].present && ap->devices[1].present && ap->devices[3].present);
    assert_false(ap->devices[2].present);
    assert_string_equal(ap->devices[3].type, "Kernel");

    /* Applying it back into the same root changes nothing; into an empty root its devices
     * (this root's runtime state) are skipped, and so are its paths when they are this
     * root's defaults: the other root records its own. */
    struct engine_apply_result *res = NULL;
    if (engine_apply(f->eng, objs, 1, &res, NULL, &err) < 0)
        fail_msg("apply: %s", err.msg);
    assert_int_equal(res[0].action, ENGINE_APPLY_UNCHANGED);
    assert_int_equal(res[0].skipped, 0);
    free(res);
    char root2[1200];
    snprintf(root2, sizeof(root2), "%s/second", f->dir);
    engine *e2 = NULL;
    assert_int_equal(engine_open(root2, &e2, &err), 0);
    error_init(&err);
    if (engine_apply(e2, objs, 1, &res, NULL, &err) < 0)
        fail_msg("apply into an empty root: %s", err.msg);
    assert_int_equal(res[0].action, ENGINE_APPLY_CREATED);
    assert_true(res[0].skipped & ENGINE_APPLY_SKIP_DEVICES);
    unsigned res_skipped = res[0].skipped;
    free(res);
    struct api_object **objs2 = NULL;
    size_t no2 = 0;
    assert_int_equal(engine_export(e2, &k, 1, &objs2, &no2, &err), 0);
    assert_int_equal(no2, 1);
    assert_int_equal(objs2[0]->u.pool.n_devices, 0);
    assert_int_equal(objs2[0]->u.pool.data_size, ap->data_size);
    /* pool_init_test used the first root's default paths: the second records its own. */
    assert_true(res_skipped & ENGINE_APPLY_SKIP_POOL_PATHS);
    char want[1300];
    snprintf(want, sizeof(want), "%s/pool/data", engine_root(e2));
    assert_string_equal(objs2[0]->u.pool.data_path, want);
    snprintf(want, sizeof(want), "%s/pool/metadata", engine_root(e2));
    assert_string_equal(objs2[0]->u.pool.metadata_path, want);
    api_objects_free(objs2, no2);
    engine_free(e2);
    api_objects_free(objs, no);
    assert_int_equal(rows(f, NULL), 3);
    assert_consistent(f);
}

/* ---- doctor ------------------------------------------------------------ */

static void test_doctor(void **state) {
    struct pfix *f = *state;
    struct error err;
    error_init(&err);
    uint32_t a = create_ok(f, "Image");
    uint32_t b = snapshot_ok(f, a);
    uint32_t c = snapshot_ok(f, b);
    marker_io(f, a, true);
    assert_int_equal(doctor_count(f, false, NULL), 0);

    /* Behind hearth's back: b's device goes, an orphan appears, a stray file. */
    struct pool *p;
    assert_int_equal(engine_pool_get(f->eng, &p, &err), 0);
    if (f->dm) {
        assert_int_equal(pool_device_remove(p, b, &err), 0);
    } else {
        char path[1200];
        snprintf(path, sizeof(path), "%s/pool/data/%u.img", f->root, b);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(pool_device_create(p, 40, DEV_SIZE, &err), 0);
    if (!f->dm) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/pool/data/9.img.tmp", f->root);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
    }

    struct engine_doctor_report rep;
    size_t n = doctor_count(f, false, &rep);
    assert_int_equal(n, f->dm ? 2 : 3);
    assert_true(report_has(&rep, "missing-device", "device 1"));
    assert_true(report_has(&rep, "orphan-device", "device 40"));
    if (!f->dm)
        assert_true(report_has(&rep, "stray", NULL));
    for (size_t i = 0; i < rep.n; i++)
        assert_false(rep.items[i].repaired);
    engine_doctor_report_release(&rep);

    n = doctor_count(f, true, &rep);
    assert_int_equal(n, f->dm ? 2 : 3);
    for (size_t i = 0; i < rep.n; i++)
        assert_true(rep.items[i].repaired);
    engine_doctor_report_release(&rep);
    assert_int_equal(doctor_count(f, false, NULL), 0);

    /* c took b's parent; a and its data are untouched. */
    struct engine_device *rs = NULL;
    size_t nr = rows(f, &rs);
    assert_int_equal(nr, 2);
    assert_non_null(row_of(rs, nr, c));
    assert_int_equal(row_of(rs, nr, c)->parent, a);
    engine_devices_free(rs, nr);
    marker_io(f, a, false);
    assert_consistent(f);
}

/* ---- crashes ----------------------------------------------------------- */

enum crash_op { OP_CREATE, OP_SNAPSHOT, OP_REMOVE, OP_INIT };

struct crash_case {
    enum crash_op op;
    const char *point;
    bool done;      /* the operation's effect survives recovery */
    bool file_only; /* a point of the file driver */
};

static const struct crash_case crash_cases[] = {
    {OP_CREATE, "pool.create.after-intent", false},
    {OP_CREATE, "pool.create.after-act", true},
    {OP_CREATE, "pool.create.after-commit", true},
    {OP_SNAPSHOT, "pool.snapshot.after-intent", false},
    {OP_SNAPSHOT, "pool.snapshot.after-act", true},
    {OP_SNAPSHOT, "pool.snapshot.after-commit", true},
    /* The file driver's <id>.img.tmp written, not yet renamed: the rollback removes it. */
    {OP_CREATE, "pool.file.after-write", false, true},
    {OP_SNAPSHOT, "pool.file.after-write", false, true},
    {OP_REMOVE, "pool.remove.after-intent", true},
    {OP_REMOVE, "pool.remove.after-act", true},
    {OP_REMOVE, "pool.remove.after-commit", true},
    {OP_INIT, "pool.init.after-intent", false},
    {OP_INIT, "pool.init.after-files", false},
    {OP_INIT, "pool.init.after-assemble", true},
    {OP_INIT, "pool.init.after-commit", true},
};

/* What a crash case runs in its child (engine_test_crash_child). */
struct crash_run {
    struct pfix *f;
    enum crash_op op;
    uint32_t target; /* the device snapshotted or removed */
};

static void crash_do(engine *e, void *ud) {
    const struct crash_run *c = ud;
    struct error err;
    error_init(&err);
    uint32_t id;
    int r;
    switch (c->op) {
    case OP_CREATE:
        r = engine_pool_device_create(e, "Image", DEV_SIZE, API_KIND_COUNT, NULL, &id, &err);
        break;
    case OP_SNAPSHOT:
        r = engine_pool_device_snapshot(e, "VM", c->target, 0, API_KIND_COUNT, NULL, &id, &err);
        break;
    case OP_REMOVE:
        r = engine_pool_device_remove(e, c->target, &err);
        break;
    default:
        r = pool_init_test(c->f, 256 * MiB, &err); /* c->f->eng is e */
        break;
    }
    if (r < 0)
        fprintf(stderr, "child: %s\n", err.msg);
}

/* Files in the file driver's data directory whose name ends in ".tmp". */
static size_t data_tmp_files(struct pfix *f) {
    char data[1200];
    snprintf(data, sizeof(data), "%s/pool/data", f->root);
    DIR *d = opendir(data);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
            print_message("  left: %s/%s\n", data, de->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void run_crash_case(const struct crash_case *cc) {
    if (cc->file_only && engine_test_dm())
        return;
    void *state = NULL;
    if (cc->op == OP_INIT)
        bare_setup(&state);
    else
        pool_setup(&state);
    struct pfix *f = state;
    print_message("crash at %s\n", cc->point);

    uint32_t keep = 0, target = 0;
    size_t before = 0;
    if (cc->op != OP_INIT) {
        keep = create_ok(f, "Image"); /* with data that must survive */
        marker_io(f, keep, true);
        target = cc->op == OP_REMOVE ? snapshot_ok(f, keep) : keep;
        before = rows(f, NULL);
    }
    struct crash_run run = {f, cc->op, target};
    engine_test_crash_child(f->root, &f->eng, cc->point, crash_do, &run);

    if (cc->op == OP_INIT) {
        struct engine_pool_status s;
        struct error err;
        error_init(&err);
        int r = engine_pool_status(f->eng, &s, &err);
        if (cc->done) {
            assert_int_equal(r, 0);
            assert_string_equal(engine_pool_state_name(s.state), "active");
            assert_true(s.usage_known);
            engine_pool_status_release(&s);
        } else {
            assert_int_equal(r, -ENOENT);
            /* init works again after the rollback */
            if (pool_init_test(f, 256 * MiB, &err) < 0)
                fail_msg("init after rollback: %s", err.msg);
        }
        keep = create_ok(f, "Image");
        marker_io(f, keep, true);
        assert_consistent(f);
        marker_io(f, keep, false);
        pool_teardown(&state);
        return;
    }

    size_t after = rows(f, NULL);
    switch (cc->op) {
    case OP_CREATE:
    case OP_SNAPSHOT:
        assert_int_equal(after, before + (cc->done ? 1 : 0));
        break;
    default:
        assert_int_equal(after, before - 1);
        break;
    }
    assert_consistent(f);
    if (!f->dm)
        assert_int_equal(data_tmp_files(f), 0);
    marker_io(f, keep, false);
    /* The pool still works, and ids stay unique. */
    uint32_t again = snapshot_ok(f, keep);
    assert_true(again != keep);
    assert_consistent(f);
    pool_teardown(&state);
}

static void test_crashes(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(crash_cases) / sizeof(crash_cases[0]); i++)
        run_crash_case(&crash_cases[i]);
}

/* ---- concurrency ------------------------------------------------------- */

#define WORKERS 4
#define PER_WORKER 6

static void test_concurrent_creates(void **state) {
    struct pfix *f = *state;
    uint32_t base = create_ok(f, "Image");
    engine_free(f->eng);
    f->eng = NULL;
    fflush(NULL);
    pid_t pids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            engine *e = NULL;
            struct error err;
            error_init(&err);
            if (engine_open(f->root, &e, &err) < 0)
                _exit(2);
            for (int i = 0; i < PER_WORKER; i++) {
                uint32_t id;
                int r = i % 2 ? engine_pool_device_snapshot(e, "VM", base, 0, API_KIND_COUNT, NULL,
                                                            &id, &err)
                              : engine_pool_device_create(e, "Image", DEV_SIZE, API_KIND_COUNT,
                                                          NULL, &id, &err);
                if (r < 0) {
                    fprintf(stderr, "worker %d: %s\n", w, err.msg);
                    _exit(1);
                }
            }
            engine_free(e);
            _exit(0);
        }
    }
    for (int w = 0; w < WORKERS; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    engine_test_reopen(f->root, &f->eng);
    struct engine_device *rs = NULL;
    size_t n = rows(f, &rs);
    assert_int_equal(n, 1 + WORKERS * PER_WORKER);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rs[i].id, i); /* dense: lowest free ids, none twice */
        assert_string_equal(engine_pool_state_name(rs[i].state), "active");
    }
    engine_devices_free(rs, n);
    struct pool *p;
    struct error err;
    error_init(&err);
    assert_int_equal(engine_pool_get(f->eng, &p, &err), 0);
    struct pool_inventory inv;
    assert_int_equal(pool_inventory_get(p, &inv, &err), 0);
    assert_int_equal(inv.n_ids, n);
    pool_inventory_release(&inv);
    assert_consistent(f);
}

/* ---- bad input --------------------------------------------------------- */

static void test_pool_deleted(void **state) {
    struct pfix *f = *state;
    struct error err;
    error_init(&err);
    create_ok(f, "Image");
    char path[1200];
    snprintf(path, sizeof(path), "%s/pool/data", f->root);
    if (f->dm) {
        struct pool *p;
        assert_int_equal(engine_pool_get(f->eng, &p, &err), 0);
        if (pool_disassemble(p, &err) < 0)
            fail_msg("disassemble: %s", err.msg);
        assert_int_equal(unlink(path), 0);
    } else {
        engine_test_rmtree(path);
    }
    engine_test_reopen(f->root, &f->eng); /* opening still works */
    struct api_object **objs = NULL;
    size_t n = 0;
    assert_int_equal(engine_list(f->eng, API_KIND_VM, &objs, &n, &err), 0);
    api_objects_free(objs, n);

    struct engine_pool_status s;
    assert_int_equal(engine_pool_status(f->eng, &s, &err), 0);
    assert_false(s.usage_known);
    assert_non_null(strstr(s.usage_error, path));
    engine_pool_status_release(&s);
    uint32_t id;
    error_init(&err);
    assert_int_equal(
        engine_pool_device_create(f->eng, "VM", DEV_SIZE, API_KIND_COUNT, NULL, &id, &err),
        -ENOENT);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(rows(f, NULL), 1);
    struct engine_doctor_report rep;
    assert_int_equal(doctor_count(f, true, &rep), 1);
    assert_true(report_has(&rep, "pool-unusable", "pool"));
    assert_false(rep.items[0].repaired);
    engine_doctor_report_release(&rep);
    assert_int_equal(rows(f, NULL), 1);
}

static void test_full_filesystem(void **state) {
    struct pfix *f = *state;
    char mnt[1200], data[1300];
    snprintf(mnt, sizeof(mnt), "%s/mnt", f->dir);
    engine_test_tmpfs_mount(mnt, "8m");
    snprintf(data, sizeof(data), "%s/data", mnt);
    struct engine_pool_init_opts o = {.driver = "file", .data_size = 8 * MiB, .data_path = data};
    struct error err;
    error_init(&err);
    int r = engine_pool_init(f->eng, &o, NULL, 0, &err);
    if (r < 0)
        print_message("init: %s\n", err.msg);
    assert_int_equal(r, 0);
    uint32_t a = 0, b = 0;
    assert_int_equal(
        engine_pool_device_create(f->eng, "Image", 6 * MiB, API_KIND_COUNT, NULL, &a, &err), 0);
    char *path = NULL;
    assert_int_equal(engine_pool_device_activate(f->eng, a, &path, &err), 0);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    static char buf[1 << 20];
    memset(buf, 0x5a, sizeof(buf));
    for (int i = 0; i < 6; i++)
        assert_int_equal(pwrite(fd, buf, sizeof(buf), (off_t)i << 20), (ssize_t)sizeof(buf));
    close(fd);
    free(path);

    error_init(&err);
    r = engine_pool_device_snapshot(f->eng, "VM", a, 0, API_KIND_COUNT, NULL, &b, &err);
    print_message("snapshot on a full filesystem: %s\n", err.msg);
    assert_int_equal(r, -ENOSPC);
    assert_non_null(strstr(err.msg, "space"));
    assert_int_equal(rows(f, NULL), 1);
    struct pool *p;
    assert_int_equal(engine_pool_get(f->eng, &p, &err), 0);
    struct pool_inventory inv;
    assert_int_equal(pool_inventory_get(p, &inv, &err), 0);
    assert_int_equal(inv.n_ids, 1);
    assert_int_equal(inv.n_strays, 0);
    pool_inventory_release(&inv);
    assert_consistent(f);
    engine_free(f->eng);
    f->eng = NULL;
    engine_test_umount(mnt);
}

const struct CMUnitTest engine_pool_tests[] = {
    cmocka_unit_test_setup_teardown(test_init_refusals, bare_setup, pool_teardown),
    cmocka_unit_test_setup_teardown(test_device_ops, pool_setup, pool_teardown),
    cmocka_unit_test_setup_teardown(test_doctor, pool_setup, pool_teardown),
    cmocka_unit_test(test_crashes),
    cmocka_unit_test_setup_teardown(test_concurrent_creates, pool_setup, pool_teardown),
    cmocka_unit_test_setup_teardown(test_pool_deleted, pool_setup, pool_teardown),
};
const size_t engine_pool_tests_n = sizeof(engine_pool_tests) / sizeof(engine_pool_tests[0]);

/*
 * Host runs only (the file driver): the defaults (a 100GB dm-thin pool would
 * not fit the guest's scratch disk) and a full filesystem.
 */
const struct CMUnitTest engine_pool_host_tests[] = {
    cmocka_unit_test_setup_teardown(test_init_defaults, bare_setup, pool_teardown),
    cmocka_unit_test_setup_teardown(test_full_filesystem, bare_setup, pool_teardown),
};
const size_t engine_pool_host_tests_n = ARRAY_SIZE(engine_pool_host_tests);
