/*
 * Tests of the engine against a real SQLite store in a temporary root:
 * apply (create, configure, unchanged, all-or-nothing, uid/name conflicts,
 * generated names, VM state rules), reference resolution by prefix, removal
 * rules, and export -> apply into a fresh root giving the same objects.
 * The pool tests are in pool_test.c, image and kernel import in image_test.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "engine/engine_test.h"

struct fixture {
    char dir[64];
    char root[128];
    engine *eng;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-engine-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    /* A root below a missing directory: engine_open creates both. */
    snprintf(f->root, sizeof(f->root), "%s/sub/root", f->dir);
    struct error err;
    error_init(&err);
    int r = engine_open(f->root, &f->eng, &err);
    if (r < 0)
        fail_msg("engine_open: %s", err.msg);
    struct stat st;
    assert_int_equal(stat(f->root, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    engine_free(f->eng);
    engine_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Parses YAML documents; fails the test on error. */
static struct api_object **parse(const char *yaml, size_t *ret_n) {
    struct api_object **objs = NULL;
    struct error err;
    error_init(&err);
    if (api_docs_parse(yaml, strlen(yaml), "test.yaml", &objs, ret_n, &err) < 0)
        fail_msg("parse: %s", err.msg);
    return objs;
}

/* Applies YAML; returns the engine's result code, results in *ret (may be NULL). */
static int apply_yaml(engine *e, const char *yaml, struct engine_apply_result **ret,
                      size_t *ret_failed, struct error *err) {
    size_t n = 0;
    struct api_object **objs = parse(yaml, &n);
    struct engine_apply_result *res = NULL;
    error_init(err);
    int r = engine_apply(e, objs, n, &res, ret_failed, err);
    api_objects_free(objs, n);
    if (ret)
        *ret = res;
    else
        free(res);
    return r;
}

static void apply_ok(engine *e, const char *yaml, struct engine_apply_result **ret) {
    struct error err;
    int r = apply_yaml(e, yaml, ret, NULL, &err);
    if (r < 0)
        fail_msg("apply: %s", err.msg);
}

static struct api_object *get(engine *e, enum api_kind kind, const char *ref) {
    struct api_object *obj = NULL;
    struct error err;
    error_init(&err);
    if (engine_get(e, kind, ref, &obj, &err) < 0)
        fail_msg("get %s: %s", ref, err.msg);
    return obj;
}

#define VM_DOC(name, extra)                                                                        \
    "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n  name: " name "\n"             \
    "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu\n" extra

static const char *const image_doc =
    "apiVersion: ignite.weave.works/v1alpha1\nkind: Image\nmetadata:\n  name: ubuntu\n"
    "spec:\n  ociClaim:\n    ref: weaveworks/ignite-ubuntu\n";

/* ---- apply ------------------------------------------------------------- */

static void test_apply_created_configured_unchanged(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;

    apply_ok(f->eng, VM_DOC("web", "  cpus: 2\n"), &res);
    assert_int_equal(res[0].action, ENGINE_APPLY_CREATED);
    assert_int_equal(res[0].kind, API_KIND_VM);
    assert_string_equal(res[0].name, "web");
    assert_true(id_is_valid(res[0].uid));
    char uid[ID_LEN + 1];
    memcpy(uid, res[0].uid, sizeof(uid));
    free(res);

    struct api_object *vm = get(f->eng, API_KIND_VM, "web");
    assert_int_equal(vm->u.vm.cpus, 2);
    assert_int_equal(vm->u.vm.memory, API_DEFAULT_MEMORY); /* defaults were set */
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Created");
    assert_true(vm->meta.created != API_TIME_NONE);
    int64_t created = vm->meta.created;
    api_object_free(vm);

    apply_ok(f->eng, VM_DOC("web", "  cpus: 2\n"), &res);
    assert_int_equal(res[0].action, ENGINE_APPLY_UNCHANGED);
    assert_string_equal(res[0].uid, uid);
    free(res);

    apply_ok(f->eng, VM_DOC("web", "  cpus: 4\n"), &res);
    assert_int_equal(res[0].action, ENGINE_APPLY_CONFIGURED);
    assert_string_equal(res[0].uid, uid);
    free(res);

    vm = get(f->eng, API_KIND_VM, "web");
    assert_int_equal(vm->u.vm.cpus, 4);
    assert_int_equal(vm->meta.created, created); /* kept from the existing object */
    api_object_free(vm);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
}

static void test_apply_all_or_nothing(void **state) {
    struct fixture *f = *state;
    struct error err;
    size_t failed = 99;
    /* The second document fails validation. */
    int r =
        apply_yaml(f->eng, VM_DOC("first", "") "---\n" VM_DOC("second", "  networkMode: warp\n"),
                   NULL, &failed, &err);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(failed, 1);
    assert_non_null(strstr(err.msg, "spec.networkMode"));
    assert_non_null(strstr(err.msg, "vm 'second'"));
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 0);

    /* An invalid name in the second document. */
    r = apply_yaml(f->eng, VM_DOC("first", "") "---\n" VM_DOC("Bad_Name", ""), NULL, &failed, &err);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(failed, 1);
    assert_non_null(strstr(err.msg, "metadata.name"));
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 0);

    /* A conflict found while applying the third document undoes the first two. */
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("taken", ""), &res);
    free(res);
    r = apply_yaml(
        f->eng,
        VM_DOC("first", "") "---\n" VM_DOC(
            "second", "") "---\n"
                          "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n"
                          "  name: taken\n  uid: 0123456789abcdef\n"
                          "spec:\n  image:\n    ociClaim:\n      ref: x\n",
        NULL, &failed, &err);
    assert_int_equal(r, -EEXIST);
    assert_int_equal(failed, 2);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
}

/* Decodes one YAML document; fails the test on error. */
static struct api_object *parse_one(const char *yaml) {
    size_t n = 0;
    struct api_object **objs = parse(yaml, &n);
    assert_int_equal(n, 1);
    struct api_object *obj = objs[0];
    free(objs);
    return obj;
}

/*
 * A batch takes its objects one at a time: a bad last one, after 300 good
 * ones and a change to an existing VM, leaves the root as it was; a batch
 * freed without a commit changes nothing; a committed one shows everything
 * at once.
 */
static void test_apply_batch(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("keep", "  cpus: 1\n"), &res);
    free(res);

    struct error err;
    error_init(&err);
    engine_apply_batch *b = NULL;
    assert_int_equal(engine_apply_batch_begin(f->eng, &b, &err), 0);
    struct api_object *obj = parse_one(VM_DOC("keep", "  cpus: 4\n"));
    struct engine_apply_result one;
    assert_int_equal(engine_apply_batch_add(b, obj, &one, &err), 0);
    assert_int_equal(one.action, ENGINE_APPLY_CONFIGURED);
    api_object_free(obj);
    for (int i = 0; i < 300; i++) {
        char doc[512];
        snprintf(doc, sizeof(doc), VM_DOC("vm-%03d", ""), i);
        obj = parse_one(doc);
        if (engine_apply_batch_add(b, obj, &one, &err) < 0)
            fail_msg("add %d: %s", i, err.msg);
        assert_int_equal(one.action, ENGINE_APPLY_CREATED);
        api_object_free(obj);
    }
    obj = parse_one(VM_DOC("bad", "  networkMode: warp\n"));
    assert_int_equal(engine_apply_batch_add(b, obj, &one, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "vm 'bad'"));
    /* A failed batch takes nothing more. */
    assert_int_equal(engine_apply_batch_add(b, obj, &one, &err), -EINVAL);
    assert_int_equal(engine_apply_batch_commit(b, &err), -EINVAL);
    api_object_free(obj);
    engine_apply_batch_free(b);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
    struct api_object *keep = get(f->eng, API_KIND_VM, "keep");
    assert_int_equal(keep->u.vm.cpus, 1);
    api_object_free(keep);
    assert_int_equal(engine_test_open_ops(f->eng), 0);

    /* Freed without a commit: rolled back. */
    assert_int_equal(engine_apply_batch_begin(f->eng, &b, &err), 0);
    obj = parse_one(VM_DOC("gone", ""));
    assert_int_equal(engine_apply_batch_add(b, obj, NULL, &err), 0);
    engine_apply_batch_free(b);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);

    /* Committed: there. */
    assert_int_equal(engine_apply_batch_begin(f->eng, &b, &err), 0);
    assert_int_equal(engine_apply_batch_add(b, obj, &one, &err), 0);
    assert_string_equal(one.name, "gone");
    assert_int_equal(engine_apply_batch_commit(b, &err), 0);
    engine_apply_batch_free(b);
    api_object_free(obj);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 2);
}

static void test_apply_uid_name_conflict(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("web", ""), &res);
    char uid[ID_LEN + 1];
    memcpy(uid, res[0].uid, sizeof(uid));
    free(res);

    struct error err;
    const char *other = "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n"
                        "  name: web\n  uid: 0123456789abcdef\n"
                        "spec:\n  image:\n    ociClaim:\n      ref: x\n";
    int r = apply_yaml(f->eng, other, NULL, NULL, &err);
    assert_int_equal(r, -EEXIST);
    assert_non_null(strstr(err.msg, "vm 'web' already exists with uid"));
    assert_non_null(strstr(err.msg, uid));
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);

    /* Matching by uid renames the object. */
    char doc[512];
    snprintf(doc, sizeof(doc),
             "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata:\n"
             "  name: web2\n  uid: %s\n"
             "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu\n",
             uid);
    apply_ok(f->eng, doc, &res);
    assert_int_equal(res[0].action, ENGINE_APPLY_CONFIGURED);
    free(res);
    struct api_object *vm = get(f->eng, API_KIND_VM, uid);
    assert_string_equal(vm->meta.name, "web2");
    api_object_free(vm);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
}

static void test_apply_generated_names(void **state) {
    struct fixture *f = *state;
    const char *doc = "apiVersion: ignite.weave.works/v1alpha1\nkind: VM\nmetadata: {}\n"
                      "spec:\n  image:\n    ociClaim:\n      ref: weaveworks/ignite-ubuntu\n";
    char names[8][API_NAME_MAX + 1];
    for (int i = 0; i < 8; i++) {
        struct engine_apply_result *res = NULL;
        apply_ok(f->eng, doc, &res);
        assert_int_equal(res[0].action, ENGINE_APPLY_CREATED);
        assert_true(api_name_is_valid(res[0].name));
        assert_non_null(strchr(res[0].name, '-'));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(names[k], res[0].name);
        memcpy(names[i], res[0].name, sizeof(names[i]));
        free(res);
    }
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 8);
}

static void test_apply_vm_state(void **state) {
    struct fixture *f = *state;
    /* A new VM documented as Running is recorded Stopped: nothing runs it here. */
    apply_ok(f->eng, VM_DOC("a", "status:\n  state: Running\n"), NULL);
    apply_ok(f->eng, VM_DOC("b", "status:\n  state: Stopped\n"), NULL);
    struct api_object *vm = get(f->eng, API_KIND_VM, "a");
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Stopped");
    api_object_free(vm);
    vm = get(f->eng, API_KIND_VM, "b");
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Stopped");
    api_object_free(vm);

    /* An existing VM keeps its recorded state whatever the document says. */
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("b", "status:\n  state: Created\n"), &res);
    assert_int_equal(res[0].action, ENGINE_APPLY_UNCHANGED);
    free(res);
    vm = get(f->eng, API_KIND_VM, "b");
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Stopped");
    api_object_free(vm);
}

/* An export of another root: its runtime status is skipped, one line says what. */
static void test_apply_runtime_status(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    struct error err;
    int r = apply_yaml(
        f->eng,
        "apiVersion: ignite.weave.works/v1alpha1\nkind: Pool\nspec:\n  dataSize: 10GB\n"
        "  metadataPath: /elsewhere/root/pool/metadata\n  dataPath: /elsewhere/root/pool/data\n"
        "status:\n  devices:\n  - size: 40MB\n    parent: pool\n    type: Image\n"
        "    metadataPath: ''\n"
        "---\napiVersion: ignite.weave.works/v1alpha1\nkind: Image\nmetadata:\n"
        "  name: weaveworks/ignite-ubuntu:latest\n  uid: '00000000000000aa'\nspec:\n"
        "  ociClaim:\n    ref: weaveworks/ignite-ubuntu:latest\nstatus:\n  ociSource:\n"
        "    id: sha256:1234\n    size: 1MB\n"
        "---\n" VM_DOC("ran", "status:\n  state: Running\n  ipAddresses:\n  - 10.0.0.7\n"
                              "  image:\n    id: sha256:ffff\n    size: 2MB\n"
                              "    internalUID: '0123456789abcdef'\n"),
        &res, NULL, &err);
    if (r < 0)
        fail_msg("apply: %s", err.msg);
    assert_int_equal(res[0].skipped, ENGINE_APPLY_SKIP_DEVICES | ENGINE_APPLY_SKIP_POOL_PATHS);
    assert_int_equal(res[1].skipped, 0);
    assert_int_equal(res[2].skipped, ENGINE_APPLY_SKIP_STATE | ENGINE_APPLY_SKIP_ADDRESSES |
                                         ENGINE_APPLY_SKIP_SOURCES);
    char line[1024];
    engine_apply_skipped_describe(res[0].skipped | res[2].skipped, 2, line, sizeof(line));
    free(res);
    assert_non_null(strstr(line, "2 documents"));
    assert_non_null(strstr(line, "Pool status.devices"));
    assert_non_null(strstr(line, "VM status.ipAddresses"));

    /* The pool records this root's paths and devices (none). */
    struct api_object *pool = NULL;
    error_init(&err);
    assert_int_equal(engine_get(f->eng, API_KIND_POOL, NULL, &pool, &err), 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/pool/data", engine_root(f->eng));
    assert_string_equal(pool->u.pool.data_path, path);
    assert_int_equal(pool->u.pool.n_devices, 0);
    api_object_free(pool);
    /* The VM: Stopped, no addresses, and the status of the image this root has. */
    struct api_object *vm = get(f->eng, API_KIND_VM, "ran");
    assert_string_equal(api_vm_state_name(vm->u.vm.state), "Stopped");
    assert_int_equal(vm->u.vm.n_ip_addresses, 0);
    assert_string_equal(vm->u.vm.status_image.internal_uid, "00000000000000aa");
    assert_string_equal(vm->u.vm.status_image.source.id, "sha256:1234");
    assert_null(vm->u.vm.status_kernel.internal_uid);
    api_object_free(vm);
    engine_apply_skipped_describe(0, 0, line, sizeof(line));
    assert_string_equal(line, "");
}

static void test_apply_same_name_twice_in_one_call(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("dup", "  cpus: 1\n") "---\n" VM_DOC("dup", "  cpus: 3\n"), &res);
    assert_int_equal(res[0].action, ENGINE_APPLY_CREATED);
    assert_int_equal(res[1].action, ENGINE_APPLY_CONFIGURED);
    assert_string_equal(res[0].uid, res[1].uid);
    free(res);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
}

/* ---- resolve ----------------------------------------------------------- */

static void test_resolve(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng,
             VM_DOC("web-1", "") "---\n" VM_DOC("web-10", "") "---\n" VM_DOC(
                 "web-2", "") "---\n" VM_DOC("zeta", ""),
             &res);
    char zeta_uid[ID_LEN + 1];
    memcpy(zeta_uid, res[3].uid, sizeof(zeta_uid));
    char web1_uid[ID_LEN + 1];
    memcpy(web1_uid, res[0].uid, sizeof(web1_uid));
    free(res);

    char uid[ID_LEN + 1];
    struct error err;
    error_init(&err);

    /* Exact name wins over the longer name it prefixes. */
    assert_int_equal(engine_resolve(f->eng, API_KIND_VM, "web-1", uid, &err), 0);
    assert_string_equal(uid, web1_uid);
    /* A unique prefix. */
    assert_int_equal(engine_resolve(f->eng, API_KIND_VM, "ze", uid, &err), 0);
    assert_string_equal(uid, zeta_uid);
    /* A full uid and a uid prefix. */
    assert_int_equal(engine_resolve(f->eng, API_KIND_VM, zeta_uid, uid, &err), 0);
    assert_string_equal(uid, zeta_uid);

    /* Ambiguous: every candidate is named. */
    assert_int_equal(engine_resolve(f->eng, API_KIND_VM, "web", uid, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'web' is ambiguous"));
    assert_non_null(strstr(err.msg, "vm 'web-1'"));
    assert_non_null(strstr(err.msg, "vm 'web-10'"));
    assert_non_null(strstr(err.msg, "vm 'web-2'"));
    assert_non_null(strstr(err.msg, web1_uid));

    /* None. */
    assert_int_equal(engine_resolve(f->eng, API_KIND_VM, "nope", uid, &err), -ENOENT);
    assert_string_equal(err.msg, "no vm matches 'nope'");
    /* Kinds are separate. */
    assert_int_equal(engine_resolve(f->eng, API_KIND_IMAGE, "zeta", uid, &err), -ENOENT);
    assert_string_equal(err.msg, "no image matches 'zeta'");
}

/* ---- remove ------------------------------------------------------------ */

static void test_remove_image_in_use(void **state) {
    struct fixture *f = *state;
    apply_ok(f->eng, image_doc, NULL);
    apply_ok(f->eng, VM_DOC("user-1", "") "---\n" VM_DOC("user-2", ""), NULL);

    struct error err;
    error_init(&err);
    int r = engine_remove(f->eng, API_KIND_IMAGE, "ubuntu", false, NULL, &err);
    assert_int_equal(r, -EBUSY);
    assert_non_null(strstr(err.msg, "vm 'user-1'"));
    assert_non_null(strstr(err.msg, "vm 'user-2'"));
    assert_non_null(strstr(err.msg, "use -f to remove anyway"));
    assert_int_equal(engine_test_count(f->eng, API_KIND_IMAGE), 1);

    char uid[ID_LEN + 1];
    assert_int_equal(engine_remove(f->eng, API_KIND_IMAGE, "ubu", true, uid, &err), 0);
    assert_true(id_is_valid(uid));
    assert_int_equal(engine_test_count(f->eng, API_KIND_IMAGE), 0);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 2);

    /* VMs: removed by prefix; unknown refs are -ENOENT. */
    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "user-1", false, NULL, &err), 0);
    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "user-1", false, NULL, &err), -ENOENT);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
}

static void test_remove_running_vm_refused(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("busy", ""), &res);
    /* Mark it Running behind the engine's back, as a later start would. */
    struct api_object *vm = get(f->eng, API_KIND_VM, res[0].uid);
    free(res);
    vm->u.vm.state = API_VM_RUNNING;
    struct error err;
    error_init(&err);
    assert_int_equal(store_object_put(f->eng->store, vm, &err), 0);
    api_object_free(vm);

    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "busy", false, NULL, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "vm 'busy' is running"));
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "busy", true, NULL, &err), 0);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 0);
}

/*
 * Two removals of one VM: the one that loses names the VM as the user did,
 * never by a uid it never typed. Whether it loses while the other still
 * works (a vm.remove of a live process is open: -EBUSY, -f or not) or after
 * the VM is gone (resolved before, removed since: -ENOENT).
 */
static void test_remove_vm_twice(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, VM_DOC("web", ""), &res);
    char uid[ID_LEN + 1];
    memcpy(uid, res[0].uid, sizeof(uid));
    free(res);
    struct error err;
    error_init(&err);
    /* Another command's removal in flight: the VM Removing, its journal row ours (alive). */
    int64_t op = 0;
    assert_int_equal(store_begin(f->eng->store, &err), 0);
    assert_int_equal(store_vm_state_set(f->eng->store, uid, API_VM_REMOVING, &err), 0);
    assert_int_equal(
        store_vm_op_begin(f->eng->store, "vm.remove", uid, "intent", -1, NULL, &op, &err), 0);
    assert_int_equal(store_commit(f->eng->store, &err), 0);
    for (int force = 0; force < 2; force++) {
        error_init(&err);
        assert_int_equal(engine_remove(f->eng, API_KIND_VM, "web", force, NULL, &err), -EBUSY);
        print_message("  %s\n", err.msg);
        assert_string_equal(err.msg, "vm 'web' is being removed by another command");
    }
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
    /* The other command finishes: the row goes. A removal that resolved 'web' before. */
    assert_int_equal(store_begin(f->eng->store, &err), 0);
    assert_int_equal(store_object_delete(f->eng->store, API_KIND_VM, uid, &err), 0);
    assert_int_equal(store_op_finish(f->eng->store, op, NULL, &err), 0);
    assert_int_equal(store_commit(f->eng->store, &err), 0);
    error_init(&err);
    assert_int_equal(engine_vm_remove(f->eng, uid, "web", false, NULL, &err), -ENOENT);
    print_message("  %s\n", err.msg);
    assert_string_equal(err.msg, "vm 'web' was removed by another command");
    assert_null(strstr(err.msg, uid));
    /* And one that resolves after: nothing matches the name it was given. */
    error_init(&err);
    assert_int_equal(engine_remove(f->eng, API_KIND_VM, "web", false, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "'web'"));
}

/* An image another process is removing: a second removal is told, by the name it was given. */
static void test_remove_image_twice(void **state) {
    struct fixture *f = *state;
    struct engine_apply_result *res = NULL;
    apply_ok(f->eng, image_doc, &res);
    char uid[ID_LEN + 1];
    memcpy(uid, res[0].uid, sizeof(uid));
    free(res);
    struct error err;
    error_init(&err);
    int64_t op = 0;
    assert_int_equal(
        store_op_begin(f->eng->store, "image.remove", API_KIND_IMAGE, uid, "intent", &op, &err), 0);
    assert_int_equal(engine_remove(f->eng, API_KIND_IMAGE, "ubuntu", true, NULL, &err), -EBUSY);
    assert_string_equal(err.msg, "image 'ubuntu' is being removed by another command");
    assert_int_equal(engine_test_count(f->eng, API_KIND_IMAGE), 1);
    /* Once it is not running any more (finished without its commit), rmi works. */
    assert_int_equal(store_op_finish(f->eng->store, op, "test", &err), 0);
    assert_int_equal(engine_remove(f->eng, API_KIND_IMAGE, "ubuntu", false, NULL, &err), 0);
    assert_int_equal(engine_test_count(f->eng, API_KIND_IMAGE), 0);
}

/*
 * The active listings (ps without -a) hold exactly the VMs in a state
 * api_vm_state_is_active calls active, by creation time, the summaries
 * and the full objects alike, whatever states the others are in.
 */
static void test_list_active(void **state) {
    struct fixture *f = *state;
    static const enum api_vm_state states[] = {API_VM_CREATED,  API_VM_RUNNING,  API_VM_STOPPED,
                                               API_VM_CREATING, API_VM_STARTING, API_VM_STOPPING,
                                               API_VM_REMOVING};
    struct error err;
    error_init(&err);
    for (size_t i = 0; i < 2 * ARRAY_SIZE(states); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc), VM_DOC("vm-%02zu", "status:\n  state: Stopped\n"), i);
        struct engine_apply_result *res = NULL;
        apply_ok(f->eng, doc, &res);
        assert_int_equal(
            store_vm_state_set(f->eng->store, res[0].uid, states[i % ARRAY_SIZE(states)], &err), 0);
        free(res);
    }

    struct engine_vm_summaries *sum = NULL;
    assert_int_equal(engine_vm_summaries_active(f->eng, &sum, &err), 0);
    struct api_object **vms = NULL;
    size_t n = 0;
    assert_int_equal(engine_vm_list_active(f->eng, &vms, &n, &err), 0);
    assert_int_equal(n, 10);
    assert_int_equal(sum->n, n);
    size_t k = 0;
    for (size_t i = 0; i < 2 * ARRAY_SIZE(states); i++) {
        enum api_vm_state st = states[i % ARRAY_SIZE(states)];
        if (!api_vm_state_is_active(st))
            continue;
        char name[16];
        snprintf(name, sizeof(name), "vm-%02zu", i);
        assert_true(k < n);
        assert_string_equal(vms[k]->meta.name, name);
        assert_string_equal(api_vm_state_name(vms[k]->u.vm.state), api_vm_state_name(st));
        assert_string_equal(sum->items[k].name, name);
        struct api_object *want = get(f->eng, API_KIND_VM, name);
        assert_string_equal(want->meta.uid, vms[k]->meta.uid);
        assert_int_equal(want->u.vm.cpus, vms[k]->u.vm.cpus);
        api_object_free(want);
        k++;
    }
    assert_int_equal(k, n);
    api_objects_free(vms, n);
    engine_vm_summaries_free(sum);
}

/* ---- export ------------------------------------------------------------ */

static void test_export_apply_round_trip(void **state) {
    struct fixture *f = *state;
    apply_ok(f->eng, image_doc, NULL);
    apply_ok(f->eng,
             "apiVersion: ignite.weave.works/v1alpha1\nkind: Kernel\nmetadata:\n  name: k419\n"
             "spec:\n  version: 4.19.47\n  ociClaim:\n    ref: weaveworks/ignite-kernel:4.19.47\n",
             NULL);
    apply_ok(
        f->eng,
        VM_DOC(
            "one",
            "  cpus: 3\n  memory: 1GB\n  ports:\n  - hostPort: 8080\n"
            "    vmPort: 80\nstatus:\n  ipAddresses:\n  - 10.0.0.2\n") "---\n" VM_DOC("two",
                                                                                      "  diskSize: "
                                                                                      "6GB\n"),
        NULL);
    apply_ok(f->eng,
             "apiVersion: ignite.weave.works/v1alpha1\nkind: Pool\nspec:\n"
             "  dataSize: 10GB\n",
             NULL);

    struct api_object **a = NULL, **b = NULL;
    size_t na = 0, nb = 0;
    struct error err;
    error_init(&err);
    assert_int_equal(engine_export(f->eng, NULL, 0, &a, &na, &err), 0);
    assert_int_equal(na, 5);
    assert_int_equal(a[0]->kind, API_KIND_POOL);
    assert_int_equal(a[1]->kind, API_KIND_IMAGE);
    assert_int_equal(a[2]->kind, API_KIND_KERNEL);
    assert_int_equal(a[3]->kind, API_KIND_VM);

    /* Only the chosen kinds. */
    enum api_kind only_vm = API_KIND_VM;
    assert_int_equal(engine_export(f->eng, &only_vm, 1, &b, &nb, &err), 0);
    assert_int_equal(nb, 2);
    api_objects_free(b, nb);

    char root2[192];
    snprintf(root2, sizeof(root2), "%s/second", f->dir);
    engine *e2 = NULL;
    assert_int_equal(engine_open(root2, &e2, &err), 0);
    struct engine_apply_result *res = NULL;
    if (engine_apply(e2, a, na, &res, NULL, &err) < 0)
        fail_msg("apply into a fresh root: %s", err.msg);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(res[i].action, ENGINE_APPLY_CREATED);
        /* The Pool's default paths are the first root's: the second records its own. */
        assert_int_equal(res[i].skipped, i == 0 ? ENGINE_APPLY_SKIP_POOL_PATHS : 0);
    }
    free(res);
    assert_int_equal(engine_export(e2, NULL, 0, &b, &nb, &err), 0);
    assert_int_equal(nb, na);
    /* That is the one legitimate difference. */
    char path[300];
    snprintf(path, sizeof(path), "%s/pool/data", engine_root(e2));
    assert_string_equal(b[0]->u.pool.data_path, path);
    free(a[0]->u.pool.data_path);
    a[0]->u.pool.data_path = xstrdup(path);
    snprintf(path, sizeof(path), "%s/pool/metadata", engine_root(e2));
    assert_string_equal(b[0]->u.pool.metadata_path, path);
    free(a[0]->u.pool.metadata_path);
    a[0]->u.pool.metadata_path = xstrdup(path);
    for (size_t i = 0; i < na; i++) {
        json_t *ja = api_object_to_json(a[i]);
        json_t *jb = api_object_to_json(b[i]);
        if (!json_equal(ja, jb)) {
            char *sa = json_dumps(ja, JSON_SORT_KEYS), *sb = json_dumps(jb, JSON_SORT_KEYS);
            fail_msg("object %zu differs:\n%s\n%s", i, sa, sb);
        }
        json_decref(ja);
        json_decref(jb);
    }
    api_objects_free(a, na);
    api_objects_free(b, nb);
    engine_free(e2);
}

static int sink_columns(void *ud, int ncols, const char *const *names) {
    (void)names;
    *(int *)ud += ncols;
    return 0;
}
static int sink_row(void *ud, int ncols, const char *const *values,
                    const enum engine_value_type *types) {
    (void)ncols;
    (void)types;
    if (values[0] && strcmp(values[0], "1") == 0)
        *(int *)ud += 100;
    return 0;
}
static int sink_end(void *ud) {
    (void)ud;
    return 0;
}

static void test_sql_read_only(void **state) {
    struct fixture *f = *state;
    apply_ok(f->eng, VM_DOC("one", ""), NULL);
    struct error err;
    error_init(&err);
    int seen = 0;
    struct engine_sql_sink sink = {sink_columns, sink_row, sink_end, &seen};
    int r = engine_sql(f->eng, "DELETE FROM vm", NULL, &sink, &err);
    assert_int_equal(r, -EPERM);
    assert_int_equal(engine_test_count(f->eng, API_KIND_VM), 1);
    assert_int_equal(engine_sql(f->eng, "SELECT count(*) FROM vms", NULL, &sink, &err), 0);
    assert_int_equal(seen, 101);
}

int main(int argc, char **argv) {
    /* The VM tests start monitors as `test_engine __monitor ROOT UID FD`, as the CLI does. */
    if (argc == 5 && strcmp(argv[1], "__monitor") == 0) {
        uint64_t fd = 0;
        if (parse_u64(argv[4], 1024, &fd) < 0)
            return 2;
        return engine_monitor_main(argv[2], argv[3], (int)fd);
    }
    /* The VMs started here (as root: bridged) build their network in a namespace of their own. */
    if (test_netns_enter() < 0)
        return 1;
    /* HEARTH_TEST_FILTER=PATTERN runs only the tests whose name matches (cmocka's '*', '?'). */
    const char *filter = getenv("HEARTH_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    /*
     * In the dm-thin guest (HEARTH_TEST_DM=1) the pool and VM tests run, on
     * dm-thin; HEARTH_TEST_DM_VM=0 leaves the VM tests out (the sanitizer
     * build's guest: they run on dm-thin in the release build's, and under
     * the sanitizers on the host's file pool).
     */
    int failed =
        _cmocka_run_group_tests("pool", engine_pool_tests, engine_pool_tests_n, NULL, NULL);
    const char *dm_vm = getenv("HEARTH_TEST_DM_VM");
    if (engine_test_dm() && dm_vm && strcmp(dm_vm, "0") == 0)
        return test_exit_status(failed);
    if (engine_test_dm()) {
        failed += _cmocka_run_group_tests("vm_create", engine_vm_create_tests,
                                          engine_vm_create_tests_n, NULL, NULL);
        failed += _cmocka_run_group_tests("vm_run", engine_vm_run_tests, engine_vm_run_tests_n,
                                          NULL, NULL);
        return test_exit_status(failed);
    }
    failed += _cmocka_run_group_tests("pool_host", engine_pool_host_tests, engine_pool_host_tests_n,
                                      NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_created_configured_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_uid_name_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_generated_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_vm_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_same_name_twice_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_runtime_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_image_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_running_vm_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_vm_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_image_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_apply_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_read_only, setup, teardown),
    };
    failed +=
        _cmocka_run_group_tests("image", engine_image_tests, engine_image_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("kernel_files", engine_kernel_files_tests,
                                      engine_kernel_files_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("ops", engine_ops_tests, engine_ops_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("staging", engine_staging_tests, engine_staging_tests_n, NULL,
                                      NULL);
    failed += _cmocka_run_group_tests("vm_create", engine_vm_create_tests, engine_vm_create_tests_n,
                                      NULL, NULL);
    failed +=
        _cmocka_run_group_tests("vm_run", engine_vm_run_tests, engine_vm_run_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("vm_run_host", engine_vm_run_host_tests,
                                      engine_vm_run_host_tests_n, NULL, NULL);
    failed += _cmocka_run_group_tests("vm_restore", engine_vm_restore_tests,
                                      engine_vm_restore_tests_n, NULL, NULL);
    failed += cmocka_run_group_tests(tests, NULL, NULL);
    return test_exit_status(failed);
}
