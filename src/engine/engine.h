/*
 * engine: the operations on hearth's objects, and the only code that changes
 * state. The CLI and the dashboard are thin front ends over it.
 *
 * An engine is one open root directory (`<root>/hearth.db` and, later, the
 * pool and the VM runtime files under it). Every change runs in one store
 * transaction together with its journal rows, so that an operation either
 * happens completely or not at all.
 *
 * Nothing here prints: failures are reported through `struct error *err`,
 * results through ret_* parameters, and the front end decides how to show them.
 */
#ifndef HEARTH_ENGINE_H
#define HEARTH_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "oci/oci.h"
#include "util/util.h"

typedef struct engine engine;

/*
 * Opens the root directory: creates it (and missing parents) with mode 0700
 * if needed and opens `<root>/hearth.db` with store_open (which migrates it).
 * The engine keeps root made absolute (realpath), so a relative --root works
 * for the processes it starts elsewhere. Caller frees with engine_free.
 */
int engine_open(const char *root, engine **ret, struct error *err) WUR;
/*
 * engine_open for a command that only reads. When the root cannot be
 * written because its filesystem is full or read-only, or because this user
 * may not write it, but the database can be read, opens the database
 * read-only (store_open_read) instead: no migration and no recovery run,
 * VMs are shown as recorded, and every change fails. engine_read_only then
 * says why. When the database cannot be read either, fails with the error of
 * the read-write open; -EPROTO when its schema needs a migration.
 */
int engine_open_reading(const char *root, engine **ret, struct error *err) WUR;
/* Why the engine could open its database only for reading ("its filesystem
 * is full (0 B free)"), or NULL when it can write. Owned by the engine. */
const char *engine_read_only(const engine *e);
void engine_free(engine *e);
static inline void engine_freep(engine **p) {
    engine_free(*p);
}
#define _cleanup_engine_ _cleanup_(engine_freep)

/* The root directory this engine was opened on (owned by the engine). */
const char *engine_root(const engine *e);
/*
 * A new unnamed file under <root>/tmp, open for reading and writing, for
 * data too large to keep in memory for a while: it disappears when closed,
 * also after a crash (O_TMPFILE; where the file system lacks it, a named
 * file removed at once). Returns the descriptor (the caller closes it) or
 * -errno.
 */
int engine_tmpfile(engine *e, struct error *err) WUR;

/*
 * Loads the object ref resolves to: a name or uid, or a prefix of either; an
 * exact name or uid match wins over prefix matches. -ENOENT "no vm matches
 * 'x'" when nothing matches; -EINVAL "'ab' is ambiguous: it matches vm 'abc'
 * (0123...), vm 'abd' (...)" when several do. Caller frees *ret.
 */
int engine_get(engine *e, enum api_kind kind, const char *ref, struct api_object **ret,
               struct error *err) WUR;

/*
 * Every object of kind, by creation time then name. Caller frees with
 * api_objects_free. For API_KIND_POOL: the pool if one is recorded (0 or 1
 * objects).
 */
int engine_list(engine *e, enum api_kind kind, struct api_object ***ret, size_t *ret_n,
                struct error *err) WUR;

/*
 * What `ps` shows and filters on for one VM, without decoding the whole
 * object. Every string belongs to the list (never freed one by one).
 */
struct engine_label {
    const char *key;
    const char *value;
};
struct engine_vm_summary {
    const char *uid;
    const char *name;
    const char *image_ref;    /* spec.image.ociClaim.ref; NULL without a claim */
    const char *kernel_ref;   /* spec.kernel.ociClaim.ref; NULL without a claim */
    const char *cmdline;      /* spec.kernel.cmdLine; NULL when unset */
    const char *network_mode; /* NULL when unset */
    enum api_vm_state state;  /* status.state */
    const char *image_id;     /* status.image.id; NULL when unset */
    const char *kernel_id;    /* status.kernel.id; NULL when unset */
    uint64_t cpus;
    uint64_t memory;
    uint64_t disk_size;
    int64_t created; /* API_TIME_NONE when unset */
    int64_t started; /* unix seconds the running VMM started; 0 when none runs */
    /* spec.network.ports as api_port_format writes each, joined by ", "; "" for none */
    const char *ports;
    /* status.ipAddresses joined by ", "; "" for none */
    const char *ips;
    const struct engine_label *labels; /* metadata.labels in order */
    size_t n_labels;
};
struct engine_vm_summaries {
    struct engine_vm_summary *items; /* by creation time then name */
    size_t n;
};
void engine_vm_summaries_free(struct engine_vm_summaries *l);

/*
 * The summary of every VM, by creation time then name, read in a fixed
 * number of queries, whatever the number of VMs. Caller frees with
 * engine_vm_summaries_free.
 */
int engine_vm_summaries(engine *e, struct engine_vm_summaries **ret, struct error *err) WUR;
/*
 * The summaries of the active VMs only (api_vm_state_is_active: what `ps`
 * without -a shows), read through the state index: the cost follows the
 * number of active VMs, not of all VMs.
 */
int engine_vm_summaries_active(engine *e, struct engine_vm_summaries **ret, struct error *err) WUR;
/*
 * The full objects of the active VMs, by creation time then name, without
 * reading the others: the active summaries say which, then each is read
 * alone. A VM removed in between is left out. Caller frees with
 * api_objects_free.
 */
int engine_vm_list_active(engine *e, struct api_object ***ret, size_t *ret_n,
                          struct error *err) WUR;

/*
 * Hands the objects of the given kinds (all kinds when n_kinds is 0) to fn
 * one at a time, in the order Pool, Image, Kernel, VM (so that applying them
 * in order recreates what a VM refers to before the VM), each kind by
 * creation time, loading one kind at a time and freeing each object after fn
 * saw it, so that exporting needs memory for one kind's objects, not for
 * everything and its encoding. fn returning nonzero stops the walk and is returned
 * (fn reports its own failure).
 */
int engine_export_each(engine *e, const enum api_kind *kinds, size_t n_kinds,
                       int (*fn)(void *ud, const struct api_object *obj), void *ud,
                       struct error *err) WUR;

/* ---- apply ------------------------------------------------------------- */

enum engine_apply_action {
    ENGINE_APPLY_CREATED,    /* a new object */
    ENGINE_APPLY_CONFIGURED, /* an existing object changed */
    ENGINE_APPLY_UNCHANGED,  /* an existing object, identical after applying */
};

/* "created", "configured", "unchanged". */
const char *engine_apply_action_name(enum engine_apply_action a);

/*
 * What apply left out of a document because it is the runtime state of the
 * root the document came from (docs/cli.md, "apply"): the bits of
 * engine_apply_result.skipped.
 */
#define ENGINE_APPLY_SKIP_DEVICES (1u << 0)    /* Pool status.devices this root does not have */
#define ENGINE_APPLY_SKIP_POOL_PATHS (1u << 1) /* Pool paths that are another root's defaults */
#define ENGINE_APPLY_SKIP_STATE (1u << 2)      /* VM status.state Running or transitional */
#define ENGINE_APPLY_SKIP_ADDRESSES (1u << 3)  /* VM status.ipAddresses */
#define ENGINE_APPLY_SKIP_SOURCES (1u << 4)    /* VM status.image/kernel naming other objects */

struct engine_apply_result {
    enum api_kind kind;
    char name[API_NAME_MAX + 1]; /* the (possibly generated) name; "" for Pool */
    char uid[ID_LEN + 1];        /* the (possibly generated) uid; "" for Pool */
    enum engine_apply_action action;
    unsigned skipped; /* ENGINE_APPLY_SKIP_* */
};

/*
 * One line for the front end to print once per apply: what was skipped, for
 * the OR of the results' skipped bits over n_docs documents ("" when none).
 */
void engine_apply_skipped_describe(unsigned skipped, size_t n_docs, char *buf, size_t size);

/*
 * Applying documents: a batch creates or updates objects in ONE transaction,
 * so that either all of them apply or none does. begin opens the one write
 * transaction (BEGIN IMMEDIATE, so the caller should have its input ready to
 * read, not wait on a slow producer while holding the lock); add applies one
 * object in it (obj is not modified: the engine works on a copy; *ret, which
 * may be NULL, gets its result) and counts it against API_DOCS_MAX ("more
 * than N documents in one apply"); commit makes all of them visible at once.
 * After a failing add or commit nothing changed and the batch can only be
 * freed; free rolls back what was not committed. A batch is not tried again
 * when the UNIQUE constraint catches a race the name lookup missed: it
 * fails, changing nothing.
 *
 * Per object: defaults are set (api_object_set_defaults with the root), a VM
 * without a name gets a random one, the object is validated, then matched to
 * an existing object by uid if it has one, else by name. A document whose
 * name belongs to an object with another uid is refused. A new object
 * without a uid gets a fresh one; metadata.created is the document's, else
 * the existing object's, else now. VM state: a new VM keeps the document's
 * state if it is Created or Stopped and is recorded Stopped otherwise
 * (nothing runs for it in this root); an existing VM keeps its recorded
 * state (the engine owns status.state). Status that is a root's runtime
 * state is not taken from the document (result.skipped says what was left
 * out): a Pool's status.devices that this root does not have, Pool paths
 * that are another root's defaults (this root's are recorded), a VM's
 * status.ipAddresses (an existing VM keeps its own) and status.image and
 * status.kernel (taken from this root's objects that the claims name; an
 * existing VM with a disk keeps its own). A VM that has a disk refuses a
 * change of spec.image, spec.kernel or spec.diskSize (the disk was built
 * from them), saying how to do it; cpus, memory and the rest take effect at
 * its next start. Each object is journaled as an "<kind>.apply" operation
 * inside the same transaction. A failing add's err names the object when the
 * document has a name ("vm 'x': spec.memory: \"12XB\" is not a size").
 */
typedef struct engine_apply_batch engine_apply_batch;
int engine_apply_batch_begin(engine *e, engine_apply_batch **ret, struct error *err) WUR;
int engine_apply_batch_add(engine_apply_batch *b, const struct api_object *obj,
                           struct engine_apply_result *ret, struct error *err) WUR;
int engine_apply_batch_commit(engine_apply_batch *b, struct error *err) WUR;
void engine_apply_batch_free(engine_apply_batch *b);

/* ---- remove ------------------------------------------------------------ */

/*
 * Removes the VM, image or kernel ref resolves to. *ret_uid (ID_LEN + 1,
 * may be NULL) receives the removed object's uid.
 * - VM: refused (-EBUSY "vm 'x' is running: stop it first or use -f")
 *   while it is Running or in a transitional state, unless force; with
 *   force its VMM and monitor are killed, then its devices,
 *   <root>/vm/<uid>/, its runtime directory and the row go (journal
 *   "vm.remove", state Removing; fault points
 *   vm.remove.after-{intent,stop,devices,commit}; finished by recovery).
 * - Image, kernel: refused (-EBUSY) while VMs use it, naming them and
 *   saying "use -f to remove anyway", unless force. The image's pool
 *   devices and the kernel's files under <root>/kernel/<uid> go too
 *   (journal "image.remove"/"kernel.remove": intent, act, commit; fault
 *   points <kind>.remove.after-intent, -after-act; finished by recovery).
 */
int engine_remove(engine *e, enum api_kind kind, const char *ref, bool force, char *ret_uid,
                  struct error *err) WUR;

/* ---- the storage pool (pool.c) ----------------------------------------- */

/*
 * What `hearth pool init` asks for. Zero sizes and NULL paths take the
 * defaults: those of a spec recorded by apply, else api_object_set_defaults
 * for a Pool under the root (dataSize 100GiB, allocationSize 64KiB, paths
 * <root>/pool/metadata and <root>/pool/data). The file driver's data path is
 * a directory, and its default data size is at most the size of that
 * filesystem.
 */
struct engine_pool_init_opts {
    const char *driver; /* "dm-thin", "file", or NULL: dm-thin where usable, else file */
    uint64_t data_size, metadata_size, allocation_size;
    const char *data_path, *metadata_path;
};

/*
 * Creates the pool: records it, creates its backing storage, assembles it,
 * commits (design.md's protocol, fault points pool.init.after-intent,
 * -after-files, -after-assemble, -after-commit). Refused (-EEXIST) when a
 * pool exists, naming its driver and paths. Sizes that don't fit are
 * -EINVAL naming the size (allocation size a multiple of 64 KiB; data size
 * a multiple of it and at least one allocation). ret_notice (may be NULL)
 * gets a one-line notice when the driver was chosen rather than given:
 * "using the file driver: the kernel has no device-mapper".
 */
int engine_pool_init(engine *e, const struct engine_pool_init_opts *opts, char *ret_notice,
                     size_t notice_size, struct error *err) WUR;

#define ENGINE_DEVICE_TYPES 4 /* Image, Resize, Kernel, VM */
extern const char *const engine_device_types[ENGINE_DEVICE_TYPES];

/*
 * The state of the pool and of each of its devices: planned while the
 * operation that makes it runs, active, removing while the one that removes
 * it runs (the pool is never removing).
 */
enum engine_pool_state { ENGINE_POOL_ACTIVE, ENGINE_POOL_PLANNED, ENGINE_POOL_REMOVING };
/* "active", "planned", "removing". */
const char *engine_pool_state_name(enum engine_pool_state s);

struct engine_pool_status {
    char driver[16];
    char name[17];                /* the pool's short name (dm names are hearth-<name>-<id>) */
    enum engine_pool_state state; /* active, or planned while an init runs */
    uint64_t data_size, metadata_size, allocation_size;
    char *data_path, *metadata_path;        /* owned */
    bool usage_known;                       /* false: usage_error says why */
    uint64_t data_used, data_total;         /* bytes (pool_usage_get) */
    uint64_t metadata_used, metadata_total; /* bytes; 0 for the file driver */
    char *usage_error;                      /* owned; NULL when usage_known */
    size_t n_devices;
    size_t by_type[ENGINE_DEVICE_TYPES]; /* counts in engine_device_types order */
    size_t n_planned, n_removing;
};
void engine_pool_status_release(struct engine_pool_status *s);

/*
 * The pool's driver, spec, usage and device counts. -ENOENT "no pool" when
 * none was created. A pool that cannot be opened still gives its spec and
 * counts, with usage_known false and the reason in usage_error.
 */
int engine_pool_status(engine *e, struct engine_pool_status *ret, struct error *err) WUR;

/* One device of the pool, as recorded. */
#define ENGINE_DEVICE_PARENT_NONE (-1)
struct engine_device {
    uint32_t id;
    char *type;     /* "Image", "Resize", "Kernel", "VM" */
    int64_t parent; /* a device id or ENGINE_DEVICE_PARENT_NONE (the pool) */
    uint64_t size;
    enum engine_pool_state state;
    enum api_kind owner_kind; /* API_KIND_COUNT when it has no owner */
    char *owner_uid;          /* NULL when none */
    char *owner_name;         /* the owner's name, NULL when none or gone */
    char *metadata_path;      /* NULL when unset */
    int64_t created;          /* unix seconds */
    char *layer_key;          /* a shared layer's key ("resize:<bytes>", "kernel:<uid>"), or NULL */
};
void engine_devices_free(struct engine_device *d, size_t n);

/* The devices, by id. Caller frees with engine_devices_free. */
int engine_pool_devices(engine *e, struct engine_device **ret, size_t *ret_n,
                        struct error *err) WUR;

/* ---- images and kernels (image.c, kernel.c) ----------------------------- */

/* What an import is told: how to reach registries, how to report, when to stop. */
struct engine_import_opts {
    const char *const *insecure; /* registries (host[:port]) allowed over plain http */
    size_t n_insecure;
    const char *registry_config_dir; /* holds config.json; NULL: $DOCKER_CONFIG or ~/.docker */
    const char *ca_file;             /* extra CA bundle (tests); NULL: the system's */
    volatile sig_atomic_t *cancel;   /* set non-zero (a signal handler): stop, undo, -ECANCELED */
    /* Per-blob progress of the pull, passed through from oci_pull; may be NULL. */
    void (*progress)(void *ud, const struct oci_progress *p);
    /* The step that starts: "Unpacking", "Building ext4", "Storing kernel"; may be NULL. */
    void (*stage)(void *ud, const char *stage);
    void *ud;
};

struct engine_import_result {
    char uid[ID_LEN + 1];
    char name[512];     /* a reference: up to 255 characters of name, 128 of tag */
    bool existed;       /* an object of that name existed: nothing was done */
    uint64_t size;      /* status.ociSource.size */
    char notice[512];   /* set when a pool was created on the way (engine_pool_init's notice) */
    char warning[1024]; /* kernels, one line each: when only some VMMs can boot it (a bzImage
                           kept as is); when its VMs cannot mount their root without an initrd */
};

/*
 * Imports an image from source ("busybox", "127.0.0.1:5000/a/b:1",
 * "oci-layout:DIR[:TAG]", "docker-archive:FILE[:REF|:@N]") into the pool as an ext4
 * filesystem (docs/architecture.md, "Image and kernel import"):
 * creates a pool with the defaults when none exists (ret->notice says so),
 * pulls into <root>/blobs (no database state: a content-addressed cache),
 * records intent (journal "image.import" with the new uid), unpacks into
 * <root>/tmp/import-<uid>, creates an Image device of the content's size,
 * builds the ext4 into it, removes the staging directory, and commits the
 * Image object (name and spec.ociClaim.ref the normalised familiar reference,
 * status.ociSource id = config digest, size, repoDigests). An image of that
 * name already there: ret->existed, nothing done. Any failure, and
 * opts->cancel (-ECANCELED), undo everything: no device, no staging, no row.
 * Fault points image.import.after-{intent,unpack,device,build,cleanup,commit}.
 */
int engine_image_import(engine *e, const char *source, const struct engine_import_opts *opts,
                        struct engine_import_result *ret, struct error *err) WUR;

/*
 * Imports a kernel from an OCI image (source as for images): the kernel file
 * (/boot/vmlinux, else the newest /boot/vmlinuz-*), an initrd, /lib/modules.
 * Stored under <root>/kernel/<uid>/: vmlinux (ELF), vmlinuz (when the image
 * held a bzImage; vmlinux is extracted from it when possible, else
 * ret->warning says that only QEMU boots it), initrd, modules.tar (the
 * modules as lib/modules/<version>/..., the Kernel layer that VM disks get).
 * The version is read from the kernel image (oci_kernel_identify). Journal
 * "kernel.import"; files are written to <root>/kernel/<uid>.tmp and renamed.
 * Fault points kernel.import.after-{intent,unpack,files,rename,commit}.
 */
int engine_kernel_import(engine *e, const char *source, const struct engine_import_opts *opts,
                         struct engine_import_result *ret, struct error *err) WUR;

/* Local files for engine_kernel_import_files. */
struct engine_kernel_local {
    const char *vmlinux; /* required: an ELF vmlinux or a bzImage */
    const char *initrd;  /* may be NULL */
    const char *modules; /* may be NULL: /lib/modules/<version> or a directory holding such */
};

/*
 * Imports a kernel from local files under name (an OCI reference, as Ignite's
 * kernel names are), stored as engine_kernel_import does. status.ociSource.id
 * is the sha256 of the kernel file, size the bytes stored.
 */
int engine_kernel_import_files(engine *e, const char *name, const struct engine_kernel_local *files,
                               const struct engine_import_opts *opts,
                               struct engine_import_result *ret, struct error *err) WUR;

/* ---- VMs: create (vm_create.c) ------------------------------------------ */

/*
 * What `hearth create` / `run` asks for, beside the VM document itself.
 * The document comes from flags or from --config (an Ignite v1alpha1 VM).
 */
struct engine_vm_create_opts {
    /* Image and kernel imports when either is missing (as Ignite did); may be NULL. */
    const struct engine_import_opts *import;
    /* The step that starts ("Importing image", "Resizing", "Adding kernel modules",
     * "Writing files"); may be NULL. */
    void (*stage)(void *ud, const char *stage);
    void *ud;
};

struct engine_vm_create_result {
    char uid[ID_LEN + 1];
    char name[API_NAME_MAX + 1];
    uint32_t device_id; /* the VM's own pool device */
    char notice[1024];  /* what happened on the way, one line per item: an image or
                           kernel imported, a pool created, the kernel chosen */
    char ssh_key[4096]; /* --ssh without a key: the private key's path, else "" */
};

/*
 * Creates a VM from vm (a VM document; not modified): defaults, a name when
 * it has none (as apply), validation; the image (spec.image.ociClaim.ref)
 * and the kernel (spec.kernel.ociClaim.ref; when none, the newest kernel
 * imported, else Ignite's default kernel image) are resolved by name, uid or
 * normalised reference and imported when missing; both claims are recorded
 * with the objects' names. The VM's disk is built through the pool's chain
 * Image -> Resize -> Kernel -> VM (design.md), reusing the Resize and Kernel
 * layers that exist (pool_device.layer_key, unique under the parent, so
 * concurrent creates build a layer once). Into the VM's filesystem, never
 * following a guest symlink: /etc/hostname, /etc/hosts, spec.ssh.publicKey
 * (a key, or the path of a file holding one) as
 * /root/.ssh/authorized_keys (0600, /root/.ssh 0700; an empty spec.ssh
 * generates an ed25519 key pair kept as <root>/vm/<uid>/id_ed25519{,.pub})
 * and spec.copyFiles (host permission bits, owned by root). A disk size
 * below the image's, a key that cannot be read and a missing copy file are
 * refused before anything is recorded. Protocol: intent (row in state
 * Creating, journal "vm.create"), the layers and files, commit (state
 * Created, status.image and status.kernel filled). Any failure undoes the
 * VM's part (completed shared layers stay). Fault points
 * vm.create.after-{intent,layers,device,files,commit} and, while a shared
 * layer is built, vm.layer.after-{intent,snapshot,build}.
 */
int engine_vm_create(engine *e, const struct api_object *vm,
                     const struct engine_vm_create_opts *opts, struct engine_vm_create_result *ret,
                     struct error *err) WUR;

/*
 * Gives the VM ref resolves to a disk when it has none (it was applied, not
 * created): the same chain, fault points and recovery as engine_vm_create,
 * for the recorded VM (its images and kernels found, restored or imported as
 * create does), with the VM's row kept: intent (state Creating, journal
 * "vm.create" with {"from": its state}), layers, device, files, commit (the
 * state it had, claims and status.image/kernel filled); a failure or a
 * dead process's recovery removes the VM's devices and puts the state back.
 * A VM that has a disk: nothing (ret->device_id, ret->notice empty).
 * -EBUSY when it is not Created or Stopped.
 */
int engine_vm_disk_build(engine *e, const char *ref, const struct engine_vm_create_opts *opts,
                         struct engine_vm_create_result *ret, struct error *err) WUR;

/* ---- VMs: run (vm_run.c, monitor.c) -------------------------------------- */

#define ENGINE_STOP_GRACE_MS 20000 /* stop: the guest's time to shut down before a kill */

struct engine_vm_start_opts {
    const char *vmm;             /* "firecracker", "qemu", or NULL: firecracker when it and
                                    KVM are usable, else qemu */
    const char *firecracker_bin; /* NULL: firecracker on PATH */
    const char *qemu_bin;        /* NULL: qemu-system-x86_64 on PATH */
    const char *self_exe;        /* the executable that serves `__monitor`; NULL: /proc/self/exe */
    const char *cni_conf_dir;    /* cni: where the configuration lists are (NULL: /etc/cni/net.d) */
    const char *cni_bin_dir;     /* cni: the plugins' directories, ':'-separated (NULL:
                                    /opt/cni/bin:/usr/lib/cni) */
    /* A VM without a disk gets one first (engine_vm_disk_build) with these; may be NULL. */
    const struct engine_vm_create_opts *create;
};

struct engine_vm_start_result {
    char uid[ID_LEN + 1];
    char name[API_NAME_MAX + 1];
    char vmm[16];         /* "firecracker" or "qemu" */
    char notice[512];     /* "KVM is not usable (<why>): the VM runs under TCG", or "" */
    char net_notice[512]; /* "no CNI configuration in DIR: wrote ...", or "" */
    char built[1024];     /* a disk was built first: what that did, one line per item, else "" */
    int monitor_pid;
    int vmm_pid;
};

/*
 * Starts a Created or Stopped VM; one without a disk (applied, not created)
 * gets one first through engine_vm_disk_build (opts->create), so apply and
 * start is create and start. Then: intent (state Starting, journal
 * "vm.start"), activates its device, launches its monitor (double fork,
 * setsid; the monitor is `<self_exe> __monitor ROOT UID 3`, see
 * engine_monitor_main), which starts the VMM with its full configuration,
 * records both processes in vm_runtime and reports back (waited for up to
 * 60 s); commit (state Running). -EBUSY "vm 'x' is already running" when it
 * runs. A failure (the monitor's message) puts the state back, deactivates
 * the device and closes the journal row with the message. Fault points
 * vm.start.after-{intent,activate,monitor,commit}. Returns once the VMM has
 * its full configuration (not when the guest has booted). The VMM: opts->vmm,
 * else firecracker when found and KVM is usable, else qemu (ret->notice
 * says when KVM is not usable); qemu boots vmlinuz (else vmlinux) with
 * "root=/dev/vda rw" added to a command line without root=, firecracker
 * vmlinux; the kernel's initrd when it has one.
 */
int engine_vm_start(engine *e, const char *ref, const struct engine_vm_start_opts *opts,
                    struct engine_vm_start_result *ret, struct error *err) WUR;

/* What a stop recorded. */
struct engine_vm_stop_result {
    char uid[ID_LEN + 1];
    int exit_status;       /* as recorded; -1 when none */
    char exit_reason[128]; /* as recorded: "exited with status 0", "killed after the 20 s grace" */
    bool killed;           /* a stop that was not forced had to kill: the guest did not end */
};

/*
 * Stops a running VM: graceful (qemu: system_powerdown, firecracker:
 * SendCtrlAltDel), then a kill when grace_ms pass (qemu: QMP quit first),
 * recorded as "killed after the N s grace"; force kills at once. The
 * request is SIGTERM to the monitor, sigqueue'd with grace_ms, so that the
 * stop completes even if this process dies; the VMM is killed here too when
 * the monitor has not ended it 5 s past the grace. grace_ms < 0 means
 * ENGINE_STOP_GRACE_MS. Returns when the VM is recorded Stopped and its
 * monitor is gone (the monitor records it; when the monitor is gone, this
 * does); ret (may be NULL) gets what was recorded. A VM that is not
 * running: -EINVAL "vm 'x' is not running"; starting or stopping: -EBUSY.
 * Fault points vm.stop.after-{intent,signal,commit}.
 */
int engine_vm_stop(engine *e, const char *ref, bool force, int grace_ms,
                   struct engine_vm_stop_result *ret, struct error *err) WUR;

/* Kills the VMM at once (SIGKILL) and waits until the VM is recorded Stopped (a forced stop). */
int engine_vm_kill(engine *e, const char *ref, char *ret_uid, struct error *err) WUR;

/*
 * Checks every VM recorded Running, Starting or Stopping against its
 * processes and records the dead ones Stopped (engine_open runs it, ps
 * relies on it): one indexed query finds them, so stopped VMs cost
 * nothing. First, vm.start/vm.stop/vm.remove operations whose owner is
 * dead are finished: a start whose monitor runs is rolled forward
 * (Running), else back; a stop or a removal is finished. A VM that a live
 * operation works on is left to it. *ret_n (may be NULL) counts the
 * operations finished and the VMs corrected.
 */
int engine_vm_refresh(engine *e, size_t *ret_n, struct error *err) WUR;

/*
 * Writes the console log (console.log.1, the rotated part, first; then
 * console.log) to out_fd; with follow, keeps writing what comes (looking
 * every 150 ms, across rotations) until the VM is recorded not running and
 * the file is drained, or *cancel (may be NULL) is set. tail_lines >= 0
 * limits the output to the last tail_lines lines first.
 */
int engine_vm_logs(engine *e, const char *ref, bool follow, long tail_lines, int out_fd,
                   volatile sig_atomic_t *cancel, struct error *err) WUR;

/*
 * A connection to a VM's console, made before anything is shown so that a
 * VM that does not exist or does not run is only an error.
 * engine_vm_attach_open: -EINVAL "vm 'x' is not running; start it with
 * 'hearth start -i'" when it is not running, resolve's errors for a VM that
 * does not exist. Free with engine_vm_attach_free (NULL is fine).
 */
typedef struct engine_attach engine_attach;
int engine_vm_attach_open(engine *e, const char *ref, engine_attach **ret, struct error *err) WUR;
void engine_vm_attach_free(engine_attach *a);

/* How an attach ended. */
struct engine_vm_attach_result {
    bool detached;         /* ^P^Q; else the VM stopped */
    char exit_reason[128]; /* the VM stopped: how, as recorded ("removed" when it is gone) */
};

/*
 * Connects in_fd/out_fd to the VM's console through its monitor's attach
 * socket (several clients may attach at once; each sees all output; a
 * client that falls behind is not dropped but loses output, which the
 * monitor marks "[hearth: N bytes of output skipped]"). Returns when the
 * user types ^P^Q (ret->detached; a ^P followed by anything else is passed
 * through), or when the VM stopped: the monitor closed the connection and
 * the VM is recorded as stopped (or was removed). A connection closed while
 * the VM still runs is -ECONNRESET "the console connection of vm 'x' closed
 * while the vm runs; attach again". At the end of in_fd the output keeps
 * coming until one of those. The caller puts the terminal in raw mode.
 */
int engine_vm_attach_run(engine_attach *a, int in_fd, int out_fd,
                         struct engine_vm_attach_result *ret, struct error *err) WUR;

/* How to reach a VM over SSH (exec, ssh, cp, the wait for SSH). */
struct engine_vm_ssh_opts {
    const char *identity;     /* the private key; NULL: the pair --ssh generated */
    int timeout_s;            /* how long to wait for SSH to answer (0: 30 s) */
    const char *timeout_flag; /* the flag that sets it, named in the timeout's error */
    bool accept_new_host_key; /* record the host key the guest shows now instead of refusing it */
    /*
     * Called about every half second while SSH does not answer yet: the VM's
     * name, the address tried, the time since the first try and the last
     * attempt's error. NULL: nothing.
     */
    void (*waiting)(void *ud, const char *vm, const char *address, int64_t elapsed_ms,
                    const char *last);
    void (*notice)(void *ud, const char *msg); /* what the connection changed (a new host key) */
    void *ud;
    /* Set non-zero by a signal handler: the wait for SSH ends (-ECANCELED); NULL: never. */
    volatile sig_atomic_t *cancel;
};

/* How engine_vm_exec runs its command. */
struct engine_vm_exec_opts {
    struct engine_vm_ssh_opts ssh;
    bool tty;                  /* a PTY for the command */
    const char *term;          /* its $TERM (NULL: "xterm") */
    int in_fd, out_fd, err_fd; /* the command's stdin (-1: none), stdout, stderr */
};

/*
 * Runs argv (joined for the remote shell as Ignite joins it; argc 0: root's
 * login shell) as root in the running VM ref over SSH, checking that the
 * server's host key is the one create planted, and waits for it;
 * *ret_status is the command's exit status. Errors before any connection
 * is tried (no such VM, a VM without spec.ssh or not running, no address,
 * no key) leave *ret_status alone; a connection that fails (no answer
 * within the timeout, another host key, the key refused, the connection
 * broken) sets it to 255, as ssh exits.
 */
int engine_vm_exec(engine *e, const char *ref, const char *const *argv, size_t argc,
                   const struct engine_vm_exec_opts *opts, int *ret_status, struct error *err) WUR;

/* What engine_vm_cp copies, and how. */
struct engine_vm_cp_opts {
    struct engine_vm_ssh_opts ssh; /* its cancel stops the copy too; notice hears skipped files */
    bool to_vm;                    /* host_path into the VM as vm_path; else out of it */
    const char *host_path;
    const char *vm_path; /* a relative one is in root's home; "" is the home */
    bool recursive;      /* copy directories */
    /*
     * A file's progress: its source path, the bytes the other side has, its
     * size; called as it starts, as its data goes, and once it is in place.
     */
    void (*progress)(void *ud, const char *path, uint64_t done, uint64_t total);
    void *progress_ud;
};

/*
 * `hearth cp`: copies host_path into the running VM ref at vm_path, or
 * vm_path out of it to host_path, over SFTP as root, with the rules of cp
 * and docker cp for the destination, modes and times kept, and nothing
 * partial left at the destination when a file fails or the copy is
 * cancelled (net_sftp_copy in net.h says all). Errors name the side and the
 * path ("host: ./f: ...", "vm 'dev': /tmp/f: ..."). Errors before any
 * connection is tried (a missing host source, no such VM, a VM without
 * spec.ssh or not running, no address, no key) leave *ret_status alone, as
 * do the file errors once connected; a connection that fails or breaks
 * sets it to 255, as scp exits. ssh.cancel: -ECANCELED.
 */
int engine_vm_cp(engine *e, const char *ref, const struct engine_vm_cp_opts *opts, int *ret_status,
                 struct error *err) WUR;

/*
 * Waits until the running VM ref answers SSH as engine_vm_exec would reach
 * it (connected, host key checked, key accepted), up to opts->timeout_s;
 * -ETIMEDOUT names the address and the last error, and a VM that stops
 * meanwhile ends the wait at once.
 */
int engine_vm_ssh_wait(engine *e, const char *ref, const struct engine_vm_ssh_opts *opts,
                       struct error *err) WUR;

/*
 * The monitor's body (`<self_exe> __monitor ROOT UID READY_FD`, exactly
 * that argv; the CLI's dispatcher calls it when argv[1] is "__monitor"):
 * runs detached, opens its own engine, starts the VMM, records it, reports
 * "ok\n" or "error: <message>\n" on ready_fd, serves attach, writes the
 * console log (<root>/vm/<uid>/console.log, rotated at 1 MiB), and records
 * the VMM's end; SIGTERM asks for a graceful stop. Returns the process
 * exit status.
 */
int engine_monitor_main(const char *root, const char *uid, int ready_fd);

/* ---- networks (network.c) ------------------------------------------------- */

/* A bridged network (docs/architecture.md, "Networking"). */
struct engine_network {
    char name[16];   /* the bridge */
    char subnet[20]; /* "10.61.0.0/16" */
    int64_t created; /* unix seconds */
    size_t leases;   /* VMs holding an address in it */
    bool bridge_up;  /* the bridge exists here */
    int dnsmasq_pid; /* its dnsmasq, 0 when none runs */
};
/*
 * Records network name (NULL: hearth0) with subnet (NULL: a free /16, as a
 * start picks); the bridge is built by the first start of a VM in it. A
 * subnet that a route or an address here overlaps, a name taken by a link
 * or a network: errors naming them.
 */
int engine_network_create(engine *e, const char *name, const char *subnet,
                          struct engine_network *ret, struct error *err) WUR;
/* Every network, by name. Caller frees *ret. */
int engine_network_list(engine *e, struct engine_network **ret, size_t *ret_n,
                        struct error *err) WUR;
/* Stops its dnsmasq, deletes its bridge, forgets it; -EBUSY while VMs hold leases in it. */
int engine_network_remove(engine *e, const char *name, struct error *err) WUR;

/* ---- doctor (doctor.c) -------------------------------------------------- */

struct engine_finding {
    const char *kind;   /* "orphan-device", "missing-device", "active-orphan", "stray",
                           "stuck-device", "interrupted-operation", "pool-unusable",
                           "missing-kernel-files", "stray-process", "filesystem-full",
                           "filesystem-read-only", "corrupt", and the networks' (doctor_net.c):
                           "network-down", "stray-tap", "missing-tap", "stray-port-map",
                           "missing-port-map", "stray-host-file", "missing-host-file",
                           "orphan-lease" (static) */
    char object[64];    /* "device 5", "operation 12", "pool", a stray's path (shortened),
                           "vm \"<uid>\"" (a corrupt row: its table and key) */
    char *message;      /* owned: what is wrong */
    const char *action; /* static: what --repair does, NULL when it cannot */
    bool repaired;
    char *repair_error; /* owned: why the repair failed, or NULL */
};

struct engine_doctor_report {
    struct engine_finding *items;
    size_t n;
};
void engine_doctor_report_release(struct engine_doctor_report *r);

/*
 * Compares the database with what really exists, both ways: device ids in
 * the pool that no row claims; rows whose device is gone; active dm devices
 * of no row; strays (loop devices, leftover files); rows stuck 'planned' or
 * 'removing' and operations whose owner is dead; a pool that cannot be
 * opened; the networks' bridges, taps, port-map elements, dnsmasq, host
 * files and leases against the running VMs. With repair, fixes each
 * (deletes orphan devices, drops rows of gone devices re-parenting their
 * children to the gone device's parent, deactivates, removes strays,
 * finishes recovery, rebuilds a network and what a running VM lacks). Fails only when it cannot
 * look (the database); every finding is in *ret.
 *
 * First of all, every row of the database is checked (store_corrupt_list):
 * each corrupt one is a "corrupt" finding naming its table, key and field,
 * which no repair touches. While there are any, doctor compares nothing
 * else and repairs nothing (one more "corrupt" finding, object "database",
 * says so): what the rows say cannot be trusted, and guessing could remove
 * what is not hearth's.
 */
int engine_doctor(engine *e, bool repair, struct engine_doctor_report *ret, struct error *err) WUR;

/* ---- queries ----------------------------------------------------------- */

/* The type of one value of a result row. */
enum engine_value_type {
    ENGINE_VALUE_NULL,
    ENGINE_VALUE_INTEGER,
    ENGINE_VALUE_REAL,
    ENGINE_VALUE_TEXT,
    ENGINE_VALUE_BLOB
};

/* Where engine_sql's results go, one statement and one row at a time. */
struct engine_sql_sink {
    /* A statement's result starts: its column names. */
    int (*columns)(void *ud, int ncols, const char *const *names);
    /* One row: values as text (NULL for SQL NULL; blobs as hex) and their types. */
    int (*row)(void *ud, int ncols, const char *const *values, const enum engine_value_type *types);
    /* The statement is done. */
    int (*end)(void *ud);
    void *ud;
};

/*
 * What one engine_sql call may use; 0 in a field means no limit. The time
 * counts from the call to its end, output included.
 */
struct engine_sql_limits {
    unsigned timeout_ms; /* the whole call */
    int value_max;       /* bytes of one value (text or blob) */
    size_t row_max;      /* bytes of one row as the sink gets it (blobs as hex) */
    int64_t heap_max;    /* bytes SQLite may hold while the statements run */
};
/* The defaults (hearth sql's, docs/sql.md): 30 s, 16 MiB, 64 MiB, 256 MiB. */
void engine_sql_limits_default(struct engine_sql_limits *ret);

/*
 * Runs one or more SQL statements on a read-only path: a statement that
 * would write is refused (-EPERM, naming it) and nothing changes. Results
 * stream to sink; a sink callback returning nonzero stops and is returned.
 * limits NULL means the defaults; past one of them the call stops with
 * -ETIMEDOUT (time), -EFBIG (a value or a row) or -ENOMEM (memory), the
 * message naming the limit.
 */
int engine_sql(engine *e, const char *sql, const struct engine_sql_limits *limits,
               const struct engine_sql_sink *sink, struct error *err) WUR;

/* Versions of the libraries and the schema, for `hearth version`. */
struct engine_versions {
    const char *sqlite;
    const char *jansson;
    const char *yaml;
    int schema; /* the schema this binary migrates to */
};
void engine_versions_get(struct engine_versions *ret);

/* ---- watching the root (ops.c) ------------------------------------------- */

/*
 * One row of the operations journal: what (op, e.g. "vm.create"), on which
 * object (kind, uid) or pool device, its current step, its owner, and when
 * it started, last changed and finished, with the error if it failed.
 */
struct engine_journal_entry {
    int64_t id;
    char *op;
    enum api_kind kind;
    char *object_uid; /* NULL for a pool operation */
    char *step;
    int owner_pid;
    int64_t started; /* unix seconds */
    int64_t updated;
    int64_t finished;  /* 0 while in flight */
    char *error;       /* NULL unless it failed */
    int64_t device_id; /* the pool device of a pool operation, -1 for none */
    char *params;      /* a pool operation's parameters (JSON object text), or NULL */
};
void engine_journal_entries_free(struct engine_journal_entry *ops, size_t n);

/* The operations in flight and the max_finished most recent finished ones, newest
 * first. Caller frees with engine_journal_entries_free. */
int engine_ops_recent(engine *e, size_t max_finished, struct engine_journal_entry **ret,
                      size_t *ret_n, struct error *err) WUR;

/* PRAGMA data_version of the engine's connection: changes when another connection
 * (another process, or another engine handle) commits. Cheap: one pragma. */
int engine_data_version(engine *e, int64_t *ret, struct error *err) WUR;

#endif
