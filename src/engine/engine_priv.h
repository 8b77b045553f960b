/*
 * The engine's handle and helpers shared by its source files. Internal to
 * src/engine (and its tests).
 */
#ifndef HEARTH_ENGINE_PRIV_H
#define HEARTH_ENGINE_PRIV_H

#include "api/api.h"
#include "engine/engine.h"
#include "store/store.h"

struct pool;

struct engine {
    char *root;            /* owned */
    store *store;          /* owned */
    struct pool *pool;     /* owned; NULL until opened (engine_pool_get) */
    bool pool_tried;       /* pool_open was attempted */
    struct error pool_err; /* why it failed, when pool is NULL after trying */
    char *read_only; /* owned: why the database is open read-only, NULL when it can be written */
    char *self_exe;  /* owned; this process's executable, read on first use (vm_proc.c) */
};

/*
 * engine_open for a VM's monitor: the same engine, without the recoveries
 * (open hooks). A monitor opens at any time, behind the commands' backs; a
 * recovery it ran could settle, after a listing, what that listing showed,
 * or roll back its own start.
 */
int engine_open_monitor(const char *root, engine **ret, struct error *err) WUR;

/*
 * Opening hook (pool.c): runs the cheap recovery query and, when a pool
 * exists, opens/assembles it. Problems are kept in e->pool_err, never
 * returned, so commands that don't need the pool keep working.
 */
void engine_pool_open_hook(engine *e);
/* Closing hook: releases the pool handle. */
void engine_pool_close_hook(engine *e);

/*
 * Apply of a Pool document (apply.c calls it with the defaulted object):
 * paths that are the defaults of another root (<X>/pool/metadata and
 * <X>/pool/data) become this root's; a spec is recorded only while no pool
 * was created, else it must equal the pool's; obj's status.devices becomes
 * the device rows (devices are hearth's record, never an instruction).
 * *skipped gets ENGINE_APPLY_SKIP_POOL_PATHS / _DEVICES when the document's
 * differed. -EBUSY with a message.
 */
int engine_pool_apply_check(engine *e, struct api_object *obj, unsigned *skipped,
                            struct error *err) WUR;

/*
 * The pool handle, opened (and assembled) on demand; the error that
 * engine_open met opening it is returned again here. Owned by the engine.
 */
struct pool;
int engine_pool_get(engine *e, struct pool **ret, struct error *err) WUR;

/* Recovers one dead pool operation (pool.c); doctor uses it. */
int engine_pool_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;

/* "vm", "image", "kernel", "pool": the lowercase word messages use. */
const char *engine_kind_word(enum api_kind kind);

/* ---- images and kernels (image.c, kernel.c) ---------------------------- */

struct engine_import_opts;
struct engine_import_result;
struct oci_source;
struct oci_image;

/* "<root>/tmp/<prefix>-<uid>": an import's staging directory. Caller frees; NULL on OOM. */
char *engine_tmp_path(engine *e, const char *prefix, const char *uid);
/*
 * mkdir with mode 0700 (root.c); an existing directory is fine when this
 * user may trust it: as root, one that another user owns or may write is
 * refused (-EPERM, saying how to fix it); one of this user's that others
 * may read is made 0700.
 */
int engine_dir_make(const char *path, struct error *err) WUR;
/*
 * The checks of a root (an absolute, resolved path) before its database is
 * opened (root.c): as root, the root, the directories above it, the database
 * files and <root>/run[/vm] are refused (-EPERM, saying which path, its
 * owner and mode, and the fix) when another user owns or may write them;
 * with close, what this user owns that others may read is made private
 * (without it nothing is changed: a root that cannot be written is checked).
 */
int engine_root_check(const char *root, bool close, struct error *err) WUR;
/* Removes a file or a tree (without following symlinks); a missing one is fine. */
int engine_tree_remove(const char *path, struct error *err) WUR;
/* True once the import's cancel flag is set; the error to return then. */
bool engine_import_cancelled(const struct engine_import_opts *opts);
int engine_import_cancel_error(struct error *err);
/* Reports the start of a step to the front end. */
void engine_import_stage(const struct engine_import_opts *opts, const char *stage);
/*
 * The unpack step of an import: makes <root>/tmp and the staging directory,
 * applies img's layers into it (honouring opts->cancel) and records step
 * "unpacked" of journal row op.
 */
int engine_import_unpack(engine *e, const struct engine_import_opts *opts,
                         const struct oci_image *img, const char *cache, const char *tmp,
                         const char *staging, int64_t op, struct error *err) WUR;
/*
 * Parses an import's source and makes the object's name: the familiar
 * normalised reference for a registry; for a layout its ref.name when that
 * is a reference, else localhost/<directory or file name>:<tag|latest>.
 */
int engine_import_source(const char *source, struct oci_source *ret_src, char **ret_name,
                         struct error *err) WUR;
/* Pulls src into <root>/blobs with opts' settings. */
int engine_import_pull(engine *e, const struct oci_source *src,
                       const struct engine_import_opts *opts, struct oci_image *ret,
                       struct error *err) WUR;
/* 1 and *ret filled (existed) when an object of kind is named name, 0 when none, or -errno. */
int engine_import_existing(engine *e, enum api_kind kind, const char *name,
                           struct engine_import_result *ret, struct error *err) WUR;
/* *ret filled (existed) from the object of kind with uid. */
int engine_import_result_fill(engine *e, enum api_kind kind, const char *uid,
                              struct engine_import_result *ret, struct error *err) WUR;
/*
 * The import of src (already parsed; name is the name it makes) into a new
 * image or kernel, or, with restore_uid, into the recorded one whose data is
 * not here (journal "image.restore"/"kernel.restore"; the commit updates
 * its status.ociSource, and the kernel's spec.version). opts as for
 * engine_image_import; *ret must be zeroed.
 */
int engine_image_import_into(engine *e, const struct oci_source *src, const char *name,
                             const struct engine_import_opts *opts, const char *restore_uid,
                             struct engine_import_result *ret, struct error *err) WUR;
int engine_kernel_import_into(engine *e, const struct oci_source *src, const char *name,
                              const struct engine_import_opts *opts, const char *restore_uid,
                              struct engine_import_result *ret, struct error *err) WUR;

/* ---- restore (restore.c) ------------------------------------------------ */

/* *ret: the image has its Image device, the kernel its kernel file here. */
int engine_object_has_data(engine *e, enum api_kind kind, const char *uid, bool *ret,
                           struct error *err) WUR;
/*
 * A restore's intent: the journal row "<kind>.restore" on uid, recorded in
 * one transaction that finds the object without its data and no other
 * restore of it open. Another restore in flight is waited for (polled, up
 * to 10 minutes); a dead one is rolled back first. 1 with *ret_op when the
 * intent is recorded, 0 when the data is there by now.
 */
int engine_restore_begin(engine *e, enum api_kind kind, const char *uid, int64_t *ret_op,
                         struct error *err) WUR;
/*
 * Imports the data of the recorded image or kernel uid again from its
 * spec.ociClaim.ref. A localhost/ reference (a local source) is refused,
 * and a failed pull is reported, naming the object and the command that
 * brings the data back.
 */
int engine_object_restore(engine *e, enum api_kind kind, const char *uid,
                          const struct engine_import_opts *opts, struct engine_import_result *ret,
                          struct error *err) WUR;
/* The command that brings a recorded image's or kernel's data back, as advice. */
int engine_restore_hint(const struct api_object *obj, char *buf, size_t size);
/* True for a reference whose registry is "localhost" itself: how local sources are named. */
bool engine_ref_is_local(const char *ref);
/*
 * An import's source that is a path here: -EINVAL with advice when it is a
 * directory holding an OCI layout ("import it with 'hearth WORD import
 * oci-layout:DIR[:TAG]'") or, when invalid_ref (it is no reference), any
 * directory or file; else 0.
 */
int engine_import_path_hint(const char *source, const char *word, bool invalid_ref,
                            struct error *err) WUR;
/* Removes every pool device owned by (kind, uid), through the pool's protocol. */
int engine_owned_devices_remove(engine *e, enum api_kind kind, const char *uid,
                                struct error *err) WUR;
/* The data of an image (its devices) or a kernel (its files); engine_remove's act. */
int engine_object_data_remove(engine *e, enum api_kind kind, const char *uid,
                              struct error *err) WUR;
/*
 * Whether kernel uid has its files (kernel.c): each recorded file (vmlinux,
 * vmlinuz, initrd, modules.tar) present with the size it had when imported,
 * or, for a kernel without a record (applied, or imported by an older
 * hearth), a kernel file. 1 when it has; 0 with the problem described in
 * ret_problem ("its vmlinux (55.4MB when imported) is missing from DIR");
 * -errno when the record cannot be read.
 */
int engine_kernel_files_check(engine *e, const char *uid, char *ret_problem, size_t size,
                              struct error *err) WUR;
/* A kernel's files, its staging directory (and an older version's .tmp) (kernel.c). */
int engine_kernel_files_remove(engine *e, const char *uid, struct error *err) WUR;
/* image.import, image.remove, kernel.import, kernel.remove. */
bool engine_import_op_is(const char *op);
/* Recovers one dead operation of those (adopting it first); doctor uses it. */
int engine_import_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;
/* Opening hook: engine_import_recover, problems logged. Runs after the pool's. */
void engine_import_open_hook(engine *e);

/* ---- staging (staging.c) ------------------------------------------------ */

/*
 * Makes <root>/tmp and the staging directory "<root>/tmp/<prefix>-<key>"
 * (0700) of the operation whose journal row key names: prefix "import" or
 * "kernel" with an image's or kernel's uid, "vm" with a VM's uid, "layer"
 * with a device id. Only after the row's intent is committed. *ret is its
 * path (caller frees).
 */
int engine_staging_make(engine *e, const char *prefix, const char *key, char **ret,
                        struct error *err) WUR;
/*
 * Opening hook, after recovery: removes from <root>/tmp every staging
 * directory (and spool file) that no open operation of a live process owns.
 * One directory read when it is empty; problems are logged.
 */
void engine_staging_open_hook(engine *e);

/*
 * What doctor reports as stray: entries of <root>/tmp that no open
 * operation of a live process owns (names no operation makes included),
 * kernel files of no kernel and older kernel staging (<root>/kernel/<uid>.tmp).
 */
struct engine_leftover {
    char *path;      /* owned */
    const char *why; /* static */
};
int engine_import_leftovers(engine *e, struct engine_leftover **ret, size_t *ret_n,
                            struct error *err) WUR;
void engine_leftovers_free(struct engine_leftover *l, size_t n);

/* ---- a VM's image and kernel (vm_refs.c) ------------------------------ */

struct engine_vm_create_opts;
struct engine_vm_create_result;
/*
 * The image or kernel named ref in this root, by uid, name or normalised
 * reference ("busybox" is "busybox:latest"): 1 with its uid and *ret_name
 * (caller frees), 0 when none.
 */
int engine_object_find(engine *e, enum api_kind kind, const char *ref, char uid[ID_LEN + 1],
                       char **ret_name, struct error *err) WUR;
/*
 * The image or kernel a VM being created names: found here first (as
 * engine_object_find, then by uid prefix), its data imported again when
 * this root has only its record, else pulled (a localhost/ reference never
 * is). Notices go to ret->notice.
 */
int engine_vm_ref_resolve(engine *e, enum api_kind kind, const char *ref,
                          const struct engine_vm_create_opts *opts,
                          struct engine_vm_create_result *ret, char uid[ID_LEN + 1],
                          char **ret_name, struct error *err) WUR;
/* The newest kernel (by creation time): 1 and its uid and *ret_name, or 0 when none. */
int engine_vm_kernel_newest(engine *e, char uid[ID_LEN + 1], char **ret_name,
                            struct error *err) WUR;
/* Appends a line to ret->notice. */
void engine_vm_notice_add(struct engine_vm_create_result *ret, const char *line);
/* A VM's status.image or status.kernel from the image or kernel uid; or emptied. */
int engine_vm_source_fill(engine *e, enum api_kind kind, const char *uid,
                          struct api_vm_image_source *dst, struct error *err) WUR;
void engine_vm_source_clear(struct api_vm_image_source *dst);

/* ---- apply of VM documents (vm_apply.c) --------------------------------- */

/*
 * The VM part of apply, inside its transaction, for obj (defaulted and
 * validated; existing is the recorded VM or NULL): the state, status.
 * ipAddresses and status.image/kernel as engine_apply says, and the refusal
 * of a disk change. *skipped gets ENGINE_APPLY_SKIP_* bits.
 */
int engine_vm_apply_prepare(engine *e, struct api_object *obj, const struct api_object *existing,
                            unsigned *skipped, struct error *err) WUR;

/* ---- VM create (vm_create.c) ------------------------------------------- */

/* Gives a VM without a name a random adjective-noun name no VM has (apply.c). */
int engine_vm_name_generate(engine *e, struct api_object *obj, struct error *err) WUR;
/* vm.create and vm.layer: the operations engine_vm_create_recover_op finishes. */
bool engine_vm_create_op_is(const char *op);
/*
 * Recovers one dead vm.create (rolled back: the VM's device, row and
 * directory go; forward when only the commit was missing) or vm.layer (a
 * half-built shared layer: its device and row go). Adopts it first.
 */
int engine_vm_create_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;
/* Opening hook: recovers every dead vm.create and vm.layer; problems logged. */
void engine_vm_create_open_hook(engine *e);
/*
 * The shared layers of a VM's disk (vm_layers.c), found by their key under
 * the parent or built once (concurrent callers wait for the builder, or
 * take over when it died): a Resize layer of image_dev grown to size, and a
 * Kernel layer of resize_dev with the kernel's modules. *ret_id is an
 * active device.
 */
struct engine_vm_create_opts;
int engine_layer_resize(engine *e, uint32_t image_dev, uint64_t size, const char *image_uid,
                        const struct engine_vm_create_opts *opts, uint32_t *ret_id,
                        struct error *err) WUR;
int engine_layer_kernel(engine *e, uint32_t resize_dev, uint64_t size, const char *kernel_uid,
                        const struct engine_vm_create_opts *opts, uint32_t *ret_id,
                        struct error *err) WUR;
/* Rolls back one dead vm.layer (adopting it first): its device, staging and row go. */
int engine_layer_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;
/*
 * Removes the shared layers built from an image or kernel (rmi, rmk), the
 * deepest first: for an image every Resize and Kernel layer below its
 * devices, for a kernel its Kernel layers. VM devices below them are
 * independent copies: they are re-parented to the pool first, so no row is
 * left with a gone parent.
 */
int engine_layers_remove(engine *e, enum api_kind kind, const char *uid, struct error *err) WUR;

/* ---- VMs that run (vm_run.c) ------------------------------------------ */

/* Opening hook: engine_vm_refresh (dead operations finished, dead VMs recorded); logs problems. */
void engine_vm_open_hook(engine *e);
/*
 * engine_remove's VM branch for VM uid, which the user named ref: refused
 * (-EBUSY) while running unless force, and while another process removes
 * it ("vm 'REF' is being removed by another command"); -ENOENT "vm 'REF'
 * was removed by another command" when it is gone since ref was resolved.
 * Else intent (Removing, journal "vm.remove"), the processes killed, the
 * devices and directories removed, the row deleted. Fault points
 * vm.remove.after-{intent,stop,devices,commit}.
 */
int engine_vm_remove(engine *e, const char *uid, const char *ref, bool force, char *ret_uid,
                     struct error *err) WUR;

#endif
