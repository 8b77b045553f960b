/*
 * engine vm create: a VM's disk through the pool chain and the files in it
 * (docs/architecture.md, "VM create").
 *
 *   Image --snapshot, grown, e2fsck + resize2fs--> Resize  'resize:<bytes>'
 *   Resize --snapshot, modules.tar written-------> Kernel  'kernel:<kernel uid>'
 *   Kernel --snapshot----------------------------> VM      (hostname, hosts, ssh keys, copies)
 *
 * The Resize and Kernel layers are shared and built in vm_layers.c.
 *
 * The VM follows design.md's protocol: intent (the VM row in state
 * Creating with a journal row "vm.create"), act (layers, the VM's device,
 * its files), commit (state Created). Any failure undoes the VM's own part;
 * completed shared layers stay as cache. Fault points
 * vm.create.after-{intent,layers,device,files,commit} and
 * vm.layer.after-{intent,snapshot,build}.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/engine_priv.h"
#include "net/net.h"
#include "pool/pool.h"

/* The kernel Ignite used when a VM names none and none is imported. */
#define VM_DEFAULT_KERNEL "weaveworks/ignite-kernel:5.10.51"
#define VM_NAME_ATTEMPTS 16
#define SSH_KEY_MAX (16 * 1024)

static void stage(const struct engine_vm_create_opts *opts, const char *what) {
    if (opts && opts->stage)
        opts->stage(opts->ud, what);
}

static int claim_set(struct api_oci_claim **claim, const char *ref, struct error *err) {
    if (!*claim) {
        *claim = xcalloc(1, sizeof(**claim));
        if (!*claim)
            return error_oom(err);
    }
    char *type = (*claim)->type ? (*claim)->type : xstrdup("Docker");
    char *copy = xstrdup(ref);
    if (!type || !copy) {
        free(copy);
        return error_oom(err);
    }
    (*claim)->type = type;
    free((*claim)->ref);
    (*claim)->ref = copy;
    return 0;
}

/* ---- ssh key and copied files (checked before the intent) ---------------- */

static bool looks_like_key(const char *s) {
    static const char *const types[] = {"ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (str_starts_with(s, types[i]))
            return strchr(s, ' ') != NULL;
    return false;
}

/*
 * spec.ssh.publicKey: the key itself ("ssh-ed25519 AAAA... comment"), or
 * the path of a file that holds it (the CLI's --ssh=PUBKEY, as Ignite took
 * it). *ret gets the key text ending in a newline.
 */
static int ssh_key_read(const char *value, char **ret, struct error *err) {
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    if (looks_like_key(value)) {
        if (strbuf_adds(&sb, value) < 0)
            return error_oom(err);
    } else {
        struct stat st;
        if (stat(value, &st) < 0 || !S_ISREG(st.st_mode))
            return error_set(err, -EINVAL,
                             "spec.ssh.publicKey: '%.200s' is neither a public key nor a file "
                             "holding one",
                             value);
        int r = strbuf_read_file(&sb, value, SSH_KEY_MAX, err);
        if (r < 0)
            return error_prefix(err, "spec.ssh.publicKey");
        if (!sb.buf || !looks_like_key(sb.buf))
            return error_set(err, -EINVAL, "spec.ssh.publicKey: '%s' holds no public key", value);
    }
    if (sb.len > SSH_KEY_MAX || memchr(sb.buf, '\0', sb.len))
        return error_set(err, -EINVAL, "spec.ssh.publicKey: not a public key");
    if (sb.buf[sb.len - 1] != '\n' && strbuf_addc(&sb, '\n') < 0)
        return error_oom(err);
    *ret = strbuf_detach(&sb);
    return 0;
}

static int copy_files_check(const struct api_vm *vm, struct error *err) {
    for (size_t i = 0; i < vm->n_copy_files; i++) {
        const char *hp = vm->copy_files[i].host_path;
        struct stat st;
        if (!hp || stat(hp, &st) < 0)
            return error_set(err, -ENOENT, "copy file '%s': %s", hp ? hp : "",
                             hp ? strerror(errno) : "no host path");
        if (!S_ISREG(st.st_mode))
            return error_set(err, -EINVAL, "copy file '%s' is not a regular file", hp);
    }
    return 0;
}

struct vjob {
    engine *e;
    const struct engine_vm_create_opts *opts;
    struct api_object *vm; /* owned: the defaulted document */
    char image_uid[ID_LEN + 1], kernel_uid[ID_LEN + 1];
    char *image_name, *kernel_name;
    char *pubkey;      /* authorized_keys content, or NULL */
    bool generate_key; /* spec.ssh without a key */
    char *vm_dir;      /* <root>/vm/<uid> */
    int64_t op;
    bool have_row;
    /* A disk for a VM that is recorded without one (engine_vm_disk_build): the row stays,
     * and the state it had (Created, Stopped) comes back at the commit or the undo. */
    bool existing;
    enum api_vm_state from;
    char params[64]; /* the journal row's {"from": ...} */
    bool generated;  /* the name is generated (none was given) */
};

static void vjob_release(struct vjob *j) {
    api_object_free(j->vm);
    free(j->image_name);
    free(j->kernel_name);
    free(j->pubkey);
    free(j->vm_dir);
}

/* ---- the VM -------------------------------------------------------------- */

/* Removes <root>/tmp/vm-<uid>, where the VM's files are staged. */
static int vm_staging_remove(engine *e, const char *uid, struct error *err) {
    _cleanup_free_ char *staging = engine_tmp_path(e, "vm", uid);
    return staging ? fs_tree_remove(staging, err) : error_oom(err);
}

/* The rows of an undone create, or of a removal's commit: the VM's row goes (one that is gone
 * already is fine). */
int engine_vm_row_delete_rows(engine *e, void *ud, struct error *err) {
    const char *uid = ud;
    int r = store_object_delete(e->store, API_KIND_VM, uid, err);
    if (r == -ENOENT) {
        error_init(err);
        r = 0;
    }
    return r;
}

/* Undoes the VM's own part: its devices, its directory, its row; closes the journal row. */
static int vm_undo(engine *e, const char *uid, int64_t op, const char *why, struct error *err) {
    int r = engine_owned_devices_remove(e, API_KIND_VM, uid, err);
    _cleanup_free_ char *dir = xasprintf("%s/vm/%s", e->root, uid);
    if (r == 0)
        r = dir ? fs_tree_remove(dir, err) : error_oom(err);
    if (r == 0)
        r = vm_staging_remove(e, uid, err);
    if (r < 0)
        return r; /* the journal row stays open: recovery finishes it */
    return engine_op_abort(e, op, why, engine_vm_row_delete_rows, (void *)uid, err);
}

/* The state a recorded VM goes back to after its disk build was undone. */
struct vm_back {
    const char *uid;
    enum api_vm_state from;
};

static int undo_existing_rows(engine *e, void *ud, struct error *err) {
    const struct vm_back *b = ud;
    enum api_vm_state state;
    int r = store_vm_state_get(e->store, b->uid, &state, err);
    if (r == 0 && state == API_VM_CREATING)
        r = store_vm_state_set(e->store, b->uid, b->from, err);
    if (r == -ENOENT) {
        error_init(err);
        r = 0;
    }
    return r;
}

/*
 * Undoes a disk build for a recorded VM: its devices go, the row stays with
 * the state it had (from); closes the journal row. <root>/vm/<uid> stays
 * (it may hold the VM's logs and keys).
 */
static int vm_undo_existing(engine *e, const char *uid, int64_t op, enum api_vm_state from,
                            const char *why, struct error *err) {
    int r = engine_owned_devices_remove(e, API_KIND_VM, uid, err);
    if (r == 0)
        r = vm_staging_remove(e, uid, err);
    if (r < 0)
        return r; /* the journal row stays open: recovery finishes it */
    struct vm_back b = {uid, from};
    return engine_op_abort(e, op, why, undo_existing_rows, &b, err);
}

/* Prepares the document: defaults, image, kernel, sizes, key, copy files. Nothing recorded. */
static int vm_prepare(struct vjob *j, const struct api_object *doc,
                      struct engine_vm_create_result *ret, uint32_t *ret_image_dev,
                      struct error *err) {
    engine *e = j->e;
    if (!doc || doc->kind != API_KIND_VM)
        return error_set(err, -EINVAL, "not a vm document");
    j->vm = api_object_dup(doc);
    if (!j->vm || api_object_set_defaults(j->vm, e->root) < 0)
        return error_oom(err);
    struct api_vm *vm = &j->vm->u.vm;
    if (!vm->image_claim || !vm->image_claim->ref || !*vm->image_claim->ref)
        return error_set(err, -EINVAL, "spec.image.ociClaim.ref: a vm needs an image");
    /* The document's own mistakes before anything is imported (the name may be unset). */
    int r = api_object_validate(j->vm, err);
    if (r < 0)
        return j->vm->meta.name ? error_prefix(err, "vm '%s'", j->vm->meta.name)
                                : error_prefix(err, "vm");

    r = engine_vm_ref_resolve(e, API_KIND_IMAGE, vm->image_claim->ref, j->opts, ret, j->image_uid,
                              &j->image_name, err);
    if (r < 0)
        return r;
    if (vm->kernel_claim && vm->kernel_claim->ref && *vm->kernel_claim->ref) {
        r = engine_vm_ref_resolve(e, API_KIND_KERNEL, vm->kernel_claim->ref, j->opts, ret,
                                  j->kernel_uid, &j->kernel_name, err);
    } else {
        r = engine_vm_kernel_newest(e, j->kernel_uid, &j->kernel_name, err);
        if (r == 1) {
            char line[400];
            snprintf(line, sizeof(line), "no kernel given: using '%s' (%s), the newest imported",
                     j->kernel_name, j->kernel_uid);
            engine_vm_notice_add(ret, line);
            /* by its uid: its files are imported again when this root has only its record */
            char kuid[ID_LEN + 1];
            memcpy(kuid, j->kernel_uid, sizeof(kuid));
            free(j->kernel_name);
            j->kernel_name = NULL;
            r = engine_vm_ref_resolve(e, API_KIND_KERNEL, kuid, j->opts, ret, j->kernel_uid,
                                      &j->kernel_name, err);
        } else if (r == 0) {
            engine_vm_notice_add(ret,
                                 "no kernel given and none imported: using " VM_DEFAULT_KERNEL);
            r = engine_vm_ref_resolve(e, API_KIND_KERNEL, VM_DEFAULT_KERNEL, j->opts, ret,
                                      j->kernel_uid, &j->kernel_name, err);
        }
    }
    if (r < 0)
        return r;
    r = claim_set(&vm->image_claim, j->image_name, err);
    if (r == 0)
        r = claim_set(&vm->kernel_claim, j->kernel_name, err);
    if (r == 0)
        r = engine_vm_source_fill(e, API_KIND_IMAGE, j->image_uid, &vm->status_image, err);
    if (r == 0)
        r = engine_vm_source_fill(e, API_KIND_KERNEL, j->kernel_uid, &vm->status_kernel, err);
    if (r < 0)
        return r;

    /* The image's device and the disk size. */
    uint32_t dev = 0;
    r = engine_image_device(e, j->image_uid, &dev, err);
    if (r < 0)
        return error_set(err, r, "image '%s' has no pool device; import it again", j->image_name);
    struct store_pool_device d;
    r = store_pool_device_get(e->store, dev, &d, err);
    if (r < 0)
        return r;
    uint64_t image_size = d.size;
    store_pool_device_release(&d);
    char a[32], b[32];
    api_size_format(image_size, a, sizeof(a));
    api_size_format(vm->disk_size, b, sizeof(b));
    if (vm->disk_size < image_size)
        return error_set(err, -EINVAL,
                         "image '%s' needs %s, more than the disk size %s (spec.diskSize)",
                         j->image_name, a, b);
    if (vm->disk_size % 4096 != 0)
        return error_set(err, -EINVAL, "spec.diskSize: %s is not a multiple of 4KB", b);
    *ret_image_dev = dev;

    if (vm->has_ssh && vm->ssh_public_key && *vm->ssh_public_key) {
        r = ssh_key_read(vm->ssh_public_key, &j->pubkey, err);
        if (r < 0)
            return r;
    } else if (vm->has_ssh) {
        j->generate_key = true;
    }
    r = copy_files_check(vm, err);
    if (r < 0)
        return r;
    vm->state = API_VM_CREATING;
    return 0;
}

/* The rows of a create's intent: a unique name, the document checked, the VM row (Creating). */
static int intent_rows(engine *e, void *ud, struct error *err) {
    struct vjob *j = ud;
    struct api_object *obj = j->vm;
    int r = 0;
    if (j->generated) {
        free(obj->meta.name);
        obj->meta.name = NULL;
        r = engine_vm_name_generate(e, obj, err);
    }
    if (r == 0) {
        r = api_object_validate(obj, err);
        if (r < 0)
            error_prefix(err, "vm '%s'", obj->meta.name ? obj->meta.name : "");
    }
    struct api_object *old = NULL;
    if (r == 0) {
        r = store_object_get(e->store, API_KIND_VM, obj->meta.uid, &old, err);
        if (r == 0) {
            r = error_set(err, -EEXIST, "vm %s already exists ('%s')", obj->meta.uid,
                          old->meta.name);
            api_object_free(old);
        } else if (r == -ENOENT) {
            error_init(err);
            r = 0;
        }
    }
    if (r == 0)
        r = store_object_put(e->store, obj, err);
    return r;
}

/* Intent: the VM row (Creating) and the journal row, with a unique name. */
static int vm_intent(struct vjob *j, struct error *err) {
    struct api_object *obj = j->vm;
    j->generated = !obj->meta.name || !*obj->meta.name;
    if (!obj->meta.uid) {
        char uid[ID_LEN + 1];
        int r = id_generate(uid);
        if (r < 0)
            return error_set(err, r, "cannot generate an id: %s", strerror(-r));
        if (!(obj->meta.uid = xstrdup(uid)))
            return error_oom(err);
    }
    if (obj->meta.created == API_TIME_NONE)
        obj->meta.created = (int64_t)time(NULL);
    for (int attempt = 0;; attempt++) {
        struct engine_op op = {
            .name = "vm.create", .kind = API_KIND_VM, .uid = obj->meta.uid, .device_id = -1};
        int r = engine_op_intent(j->e, &op, intent_rows, j, "vm.create.after-intent", err);
        if (r == 0) {
            j->op = op.id;
            j->have_row = true;
            return 0;
        }
        if (r != -EEXIST || !j->generated || attempt + 1 >= VM_NAME_ATTEMPTS ||
            strstr(err->msg, "already exists ('"))
            return r == -EEXIST && !j->generated
                       ? error_set(err, -EEXIST,
                                   "vm '%s' already exists; 'hearth start %s' starts it (and "
                                   "builds its disk first when it was applied without one)",
                                   obj->meta.name, obj->meta.name)
                       : r;
        error_init(err); /* a concurrent create took the generated name: another */
    }
}

/* The rows of a disk build's intent: Created or Stopped becomes Creating; 1 when built meanwhile.
 */
static int intent_existing_rows(engine *e, void *ud, struct error *err) {
    struct vjob *j = ud;
    const char *uid = j->vm->meta.uid, *name = j->vm->meta.name;
    enum api_vm_state state = API_VM_STATE_NONE;
    uint32_t dev;
    struct error e2;
    error_init(&e2);
    int r = store_vm_state_get(e->store, uid, &state, err);
    if (r == 0 && engine_vm_device(e, uid, &dev, &e2) == 0)
        return 1; /* another process built it meanwhile */
    const char *name_of = api_vm_state_name(state);
    if (r == 0 && state != API_VM_CREATED && state != API_VM_STOPPED)
        r = error_set(err, -EBUSY, "vm '%s' is %s; try again when it is done", name,
                      name_of ? name_of : "");
    j->from = state;
    snprintf(j->params, sizeof(j->params), "{\"from\":\"%s\"}", name_of ? name_of : "");
    if (r == 0)
        r = store_vm_state_set(e->store, uid, API_VM_CREATING, err);
    return r;
}

/*
 * Intent of a disk build for a recorded VM: in one transaction, its state
 * (Created or Stopped) becomes Creating and the journal row "vm.create" is
 * opened with {"from": state}. 0 when it has a disk by now (nothing to do),
 * 1 when the intent is recorded.
 */
static int vm_intent_existing(struct vjob *j, struct error *err) {
    struct engine_op op = {.name = "vm.create",
                           .kind = API_KIND_VM,
                           .uid = j->vm->meta.uid,
                           .device_id = -1,
                           .params = j->params};
    int r = engine_op_intent(j->e, &op, intent_existing_rows, j, "vm.create.after-intent", err);
    if (r != 0)
        return r < 0 ? r : 0;
    j->op = op.id;
    j->have_row = true;
    return 1;
}

/*
 * The VM's ed25519 host key pair, made in work/hostkey (work is removed when
 * the create ends: the private key is kept nowhere but in the VM's disk), and
 * its fingerprint recorded before the key is written into the disk. A disk
 * built again gets a new pair and its fingerprint replaces the old one.
 */
static int host_key_make(struct vjob *j, const char *work, char **ret_key, char **ret_pub,
                         struct error *err) {
    _cleanup_free_ char *dir = xasprintf("%s/hostkey", work);
    _cleanup_free_ char *key = xasprintf("%s/hostkey/ssh_host_ed25519_key", work);
    _cleanup_free_ char *pub = xasprintf("%s/hostkey/ssh_host_ed25519_key.pub", work);
    _cleanup_free_ char *comment = xasprintf("root@%s", j->vm->meta.name);
    if (!dir || !key || !pub || !comment)
        return error_oom(err);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return error_set(err, -errno, "cannot make '%s': %s", dir, strerror(errno));
    (void)unlink(key);
    (void)unlink(pub);
    const char *argv[] = {"ssh-keygen", "-t",    "ed25519", "-N", "",  "-q",
                          "-C",         comment, "-f",      key,  NULL};
    int r = exec_run(argv, &(struct exec_opts){.timeout_ms = 60000}, err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ struct strbuf line = STRBUF_INIT;
    char fp[NET_SSH_FINGERPRINT_MAX];
    r = strbuf_read_file(&line, pub, SSH_KEY_MAX, err);
    if (r == 0)
        r = line.buf ? net_ssh_fingerprint(line.buf, fp, err)
                     : error_set(err, -EINVAL, "'%s' is empty", pub);
    if (r == 0)
        r = store_vm_ssh_key_set(j->e->store, j->vm->meta.uid, fp, err);
    if (r < 0)
        return r;
    *ret_key = steal_ptr(&key);
    *ret_pub = steal_ptr(&pub);
    return 0;
}

/* The files of the VM's filesystem at path, staged in work (<root>/tmp/vm-<uid>). */
static int vm_files_write(struct vjob *j, const char *path, const char *work,
                          struct engine_vm_create_result *ret, struct error *err) {
    const struct api_vm *vm = &j->vm->u.vm;
    const char *name = j->vm->meta.name;
    stage(j->opts, "Writing files");
    if (j->generate_key) {
        _cleanup_free_ char *key = xasprintf("%s/id_ed25519", j->vm_dir);
        _cleanup_free_ char *pub = xasprintf("%s/id_ed25519.pub", j->vm_dir);
        _cleanup_free_ char *comment = xasprintf("hearth-%s", name);
        if (!key || !pub || !comment)
            return error_oom(err);
        const char *argv[] = {"ssh-keygen", "-t",    "ed25519", "-N", "",  "-q",
                              "-C",         comment, "-f",      key,  NULL};
        struct stat st;
        /* A recorded VM's new disk keeps the pair it already has. */
        bool have = j->existing && stat(key, &st) == 0 && stat(pub, &st) == 0;
        int r = have ? 0 : exec_run(argv, &(struct exec_opts){.timeout_ms = 60000}, err);
        if (r < 0)
            return r;
        r = ssh_key_read(pub, &j->pubkey, err);
        if (r < 0)
            return r;
        snprintf(ret->ssh_key, sizeof(ret->ssh_key), "%s", key);
    }
    _cleanup_free_ char *hostkey = NULL, *hostkey_pub = NULL;
    if (vm->has_ssh) {
        int r = host_key_make(j, work, &hostkey, &hostkey_pub, err);
        if (r < 0)
            return r;
        r = oci_ext4_dir_make(path, "/etc/ssh", 0755, 0, 0, work, err);
        if (r < 0)
            return r;
    }
    _cleanup_free_ char *hostname = xasprintf("%s\n", name);
    _cleanup_free_ char *hosts =
        xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t%s\n", name);
    size_t n = 0;
    _cleanup_free_ struct oci_ext4_file *files = xcalloc(5 + vm->n_copy_files, sizeof(*files));
    if (!hostname || !hosts || !files)
        return error_oom(err);
    files[n++] =
        (struct oci_ext4_file){"/etc/hostname", NULL, hostname, strlen(hostname), 0644, 0, 0};
    files[n++] = (struct oci_ext4_file){"/etc/hosts", NULL, hosts, strlen(hosts), 0644, 0, 0};
    if (j->pubkey) {
        int r = oci_ext4_dir_make(path, "/root/.ssh", 0700, 0, 0, work, err);
        if (r < 0)
            return r;
        files[n++] = (struct oci_ext4_file){
            "/root/.ssh/authorized_keys", NULL, j->pubkey, strlen(j->pubkey), 0600, 0, 0};
    }
    if (hostkey) {
        files[n++] =
            (struct oci_ext4_file){"/etc/ssh/ssh_host_ed25519_key", hostkey, NULL, 0, 0600, 0, 0};
        files[n++] = (struct oci_ext4_file){
            "/etc/ssh/ssh_host_ed25519_key.pub", hostkey_pub, NULL, 0, 0644, 0, 0};
    }
    for (size_t i = 0; i < vm->n_copy_files; i++) {
        struct stat st;
        const char *hp = vm->copy_files[i].host_path;
        if (stat(hp, &st) < 0)
            return error_set(err, -errno, "copy file '%s': %s", hp, strerror(errno));
        files[n++] =
            (struct oci_ext4_file){vm->copy_files[i].vm_path, hp, NULL, 0, st.st_mode & 0777, 0, 0};
    }
    return oci_ext4_write_files(path, files, n, work, err);
}

/* The rows of a create's commit: a recorded VM must still be Creating; the document stored. */
static int commit_rows(engine *e, void *ud, struct error *err) {
    struct vjob *j = ud;
    int r = 0;
    if (j->existing) {
        enum api_vm_state state = API_VM_STATE_NONE;
        r = store_vm_state_get(e->store, j->vm->meta.uid, &state, err);
        const char *name_of = api_vm_state_name(state);
        if (r == 0 && state != API_VM_CREATING)
            r = error_set(err, -EBUSY, "vm '%s' became %s while its disk was built",
                          j->vm->meta.name, name_of ? name_of : "");
    }
    if (r == 0)
        r = store_object_put(e->store, j->vm, err);
    return r;
}

/*
 * Commit: state Created (a recorded VM: the state it had), the claims and
 * status.image/status.kernel as resolved, the journal row closed. A recorded
 * VM must still be Creating (apply refuses changes meanwhile; rm -f is not).
 */
static int vm_commit(struct vjob *j, struct error *err) {
    j->vm->u.vm.state = j->existing && j->from != API_VM_STATE_NONE ? j->from : API_VM_CREATED;
    return engine_op_commit(j->e, j->op, commit_rows, j, "vm.create.after-commit", err);
}

/* Ctrl-C reaches the engine as the import options' cancel flag. */
static bool cancelled(const struct engine_vm_create_opts *opts) {
    return opts && engine_import_cancelled(opts->import);
}

static int cancel_error(struct error *err) {
    return error_set(err, -ECANCELED, "create cancelled");
}

static int vm_build(struct vjob *j, uint32_t image_dev, struct engine_vm_create_result *ret,
                    struct error *err);

int engine_vm_create(engine *e, const struct api_object *vm,
                     const struct engine_vm_create_opts *opts, struct engine_vm_create_result *ret,
                     struct error *err) {
    memset(ret, 0, sizeof(*ret));
    _cleanup_(vjob_release) struct vjob j = {.e = e, .opts = opts};
    uint32_t image_dev = 0;
    int r = vm_prepare(&j, vm, ret, &image_dev, err);
    if (r == 0 && cancelled(opts))
        r = cancel_error(err);
    if (r < 0)
        return r;

    /* 1. intent */
    r = vm_intent(&j, err);
    if (r < 0)
        return r;
    return vm_build(&j, image_dev, ret, err);
}

/* The chain after the intent: act (layers, the VM's device, its files), commit; undo on failure. */
static int vm_build(struct vjob *j, uint32_t image_dev, struct engine_vm_create_result *ret,
                    struct error *err) {
    engine *e = j->e;
    const struct engine_vm_create_opts *opts = j->opts;
    const char *uid = j->vm->meta.uid;
    const struct api_vm *v = &j->vm->u.vm;

    /* 2. act: layers, the VM's device, its files */
    uint32_t resize = 0, kern = 0, dev = 0;
    _cleanup_free_ char *vmroot = xasprintf("%s/vm", e->root);
    j->vm_dir = xasprintf("%s/vm/%s", e->root, uid);
    _cleanup_free_ char *path = NULL, *work = NULL;
    int r = vmroot && j->vm_dir ? 0 : error_oom(err);
    if (r == 0)
        r = engine_dir_make(vmroot, err);
    if (r == 0)
        r = engine_dir_make(j->vm_dir, err);
    if (r == 0)
        r = engine_layer_resize(e, image_dev, v->disk_size, j->image_uid, opts, &resize, err);
    if (r == 0)
        r = engine_layer_kernel(e, resize, v->disk_size, j->kernel_uid, opts, &kern, err);
    if (r == 0)
        r = store_op_step(e->store, j->op, "layers", err);
    if (r == 0 && cancelled(opts))
        r = cancel_error(err);
    if (r < 0)
        goto fail;
    fault_point("vm.create.after-layers");

    r = engine_pool_device_snapshot(e, "VM", kern, 0, API_KIND_VM, uid, &dev, err);
    if (r == 0)
        r = store_op_step(e->store, j->op, "device", err);
    if (r == 0 && cancelled(opts))
        r = cancel_error(err);
    if (r < 0)
        goto fail;
    fault_point("vm.create.after-device");

    /* The files are staged in <root>/tmp/vm-<uid>, which the journal row owns. */
    r = engine_pool_device_activate(e, dev, &path, err);
    if (r == 0)
        r = engine_staging_make(e, "vm", uid, &work, err);
    if (r == 0)
        r = vm_files_write(j, path, work, ret, err);
    if (r == 0) {
        pool *p;
        r = engine_pool_get(e, &p, err);
        if (r == 0)
            r = pool_device_deactivate(p, dev, err);
    }
    if (r == 0)
        r = fs_tree_remove(work, err);
    if (r == 0)
        r = store_op_step(e->store, j->op, "files", err);
    if (r < 0)
        goto fail;
    fault_point("vm.create.after-files");

    /* 3. commit (a cancel until here undoes everything) */
    r = cancelled(opts) ? cancel_error(err) : vm_commit(j, err);
    if (r < 0)
        goto fail;
    snprintf(ret->uid, sizeof(ret->uid), "%s", uid);
    snprintf(ret->name, sizeof(ret->name), "%s", j->vm->meta.name);
    ret->device_id = dev;
    return 0;

fail:;
    struct error e2;
    error_init(&e2);
    const char *why = err->msg[0] ? err->msg : strerror(-r);
    if ((j->existing ? vm_undo_existing(e, uid, j->op, j->from, why, &e2)
                     : vm_undo(e, uid, j->op, why, &e2)) < 0)
        log_warn("undoing the %s of vm '%s': %s; 'hearth doctor --repair' finishes it",
                 j->existing ? "disk build" : "creation", j->vm->meta.name, e2.msg);
    ret->ssh_key[0] = '\0';
    return r;
}

/* The VM's own device: its active pool device of type VM. */
int engine_vm_device(engine *e, const char *uid, uint32_t *ret_id, struct error *err) {
    int r = engine_pool_device_owned(e, API_KIND_VM, uid, "VM", ret_id, err);
    if (r == -ENOENT)
        return error_set(err, -ENOENT, "vm %s has no disk", uid);
    return r;
}

int engine_vm_disk_build(engine *e, const char *ref, const struct engine_vm_create_opts *opts,
                         struct engine_vm_create_result *ret, struct error *err) {
    memset(ret, 0, sizeof(*ret));
    char uid[ID_LEN + 1];
    _cleanup_object_ struct api_object *vm = NULL;
    int r = engine_resolve_get(e, API_KIND_VM, ref, uid, &vm, err);
    if (r < 0)
        return r;
    memcpy(ret->uid, uid, sizeof(ret->uid));
    snprintf(ret->name, sizeof(ret->name), "%s", vm->meta.name);
    uint32_t dev = 0;
    r = engine_vm_device(e, uid, &dev, err);
    if (r != -ENOENT) {
        ret->device_id = dev;
        return r;
    }
    error_init(err);

    /* What create does, for the recorded VM: its spec is the document. */
    _cleanup_(vjob_release) struct vjob j = {.e = e, .opts = opts, .existing = true};
    uint32_t image_dev = 0;
    r = vm_prepare(&j, vm, ret, &image_dev, err);
    if (r == 0 && cancelled(opts))
        r = cancel_error(err);
    if (r < 0)
        return error_prefix(err, "vm '%s' has no disk yet, and building it failed", vm->meta.name);
    r = vm_intent_existing(&j, err);
    if (r == 0) { /* built meanwhile by another process */
        r = engine_vm_device(e, uid, &dev, err);
        ret->device_id = dev;
        return r;
    }
    if (r < 0)
        return r;
    r = vm_build(&j, image_dev, ret, err);
    if (r < 0 && r != -ECANCELED)
        return error_prefix(err, "vm '%s' has no disk yet, and building it failed", vm->meta.name);
    return r;
}

/* ---- recovery ------------------------------------------------------------ */

/* The "from" state of a disk build for a recorded VM (Created, Stopped), else none. */
static enum api_vm_state op_from(const struct store_op *op) {
    enum api_vm_state s = API_VM_STATE_NONE;
    json_t *j = op->params ? json_loads(op->params, 0, NULL) : NULL;
    const char *from = json_string_value(json_object_get(j, "from"));
    if (!from || api_vm_state_parse(from, &s) < 0 || (s != API_VM_CREATED && s != API_VM_STOPPED))
        s = API_VM_STATE_NONE;
    json_decref(j);
    return s;
}

bool engine_vm_create_op_is(const char *op) {
    return op && (strcmp(op, "vm.create") == 0 || strcmp(op, "vm.layer") == 0);
}

/* The rows of a create whose commit was missing: the VM as recovery found it. */
static int put_rows(engine *e, void *ud, struct error *err) {
    return store_object_put(e->store, ud, err);
}

int engine_vm_create_recover_op(engine *e, const struct store_op *op, struct error *err) {
    if (!engine_vm_create_op_is(op->op))
        return 0;
    if (strcmp(op->op, "vm.layer") == 0)
        return engine_layer_recover_op(e, op, err);
    int r = engine_op_adopt(e, op, err);
    if (r <= 0)
        return r; /* an error, or another process finished it */
    if (!op->object_uid || !id_is_valid(op->object_uid))
        return engine_op_abort(e, op->id, "interrupted; no vm recorded", NULL, NULL, err);
    /* The VM's device may be in a dead pool.snapshot of its own: that first. */
    r = engine_pool_recover(e, NULL, err);
    if (r < 0)
        return r;
    _cleanup_object_ struct api_object *vm = NULL;
    r = store_object_get(e->store, API_KIND_VM, op->object_uid, &vm, err);
    if (r == -ENOENT)
        error_init(err);
    else if (r < 0)
        return r;
    /* A disk build for a recorded VM names the state the VM goes back to. */
    enum api_vm_state from = op_from(op);
    if (from != API_VM_STATE_NONE && strcmp(op->step, "files") != 0)
        return vm_undo_existing(e, op->object_uid, op->id, from, "interrupted; rolled back", err);
    if (vm && strcmp(op->step, "files") == 0) {
        /* Only the commit was missing (the staging went before step files). */
        r = vm_staging_remove(e, op->object_uid, err);
        if (r < 0)
            return r;
        vm->u.vm.state = from != API_VM_STATE_NONE ? from : API_VM_CREATED;
        return engine_op_commit(e, op->id, put_rows, vm, NULL, err);
    }
    return vm_undo(e, op->object_uid, op->id, "interrupted; rolled back", err);
}
