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

/* ---- what only the engine and its tests call (engine.h has the rest) ---- */

/* At most this many candidates are named in an "ambiguous" error. */
#define ENGINE_MATCH_MAX 10

/* The schema version of the open database. */
int engine_schema_version(engine *e);

/* The uid of the object ref resolves to, as engine_get finds it (engine.h).
 * ret_uid has room for ID_LEN + 1 bytes. */
int engine_resolve(engine *e, enum api_kind kind, const char *ref, char *ret_uid,
                   struct error *err) WUR;
/* engine_resolve, then the object: its uid in ret_uid, the object in *ret (caller frees). */
int engine_resolve_get(engine *e, enum api_kind kind, const char *ref, char *ret_uid,
                       struct api_object **ret, struct error *err) WUR;

/*
 * Applies the n objects in one batch (engine.h, "Applying documents"), tried
 * once more when the UNIQUE constraint catches a race the name lookup did
 * not see. On success *ret_results holds n results in document order
 * (caller frees with free()). On failure nothing changed and, if ret_failed
 * is not NULL, *ret_failed is the index of the document at fault, or n when
 * the failure is not one document's (I/O, locking), so the caller can name
 * the file and document.
 */
int engine_apply(engine *e, struct api_object *const *objs, size_t n,
                 struct engine_apply_result **ret_results, size_t *ret_failed,
                 struct error *err) WUR;

/*
 * The objects of the given kinds in engine_export_each's order, all at once.
 * Caller frees with api_objects_free.
 */
int engine_export(engine *e, const enum api_kind *kinds, size_t n_kinds, struct api_object ***ret,
                  size_t *ret_n, struct error *err) WUR;

/* ---- pool devices (pool.c) --------------------------------------------- */

/*
 * A new zero-filled device of type ("Image", "Resize", "Kernel", "VM") and
 * size bytes (a multiple of 512), owned by (owner_kind, owner_uid) or by
 * nobody (API_KIND_COUNT, NULL). Protocol: intent (row 'planned' with a
 * freshly allocated id, journal row), the pool call, commit (row 'active');
 * fault points pool.create.after-intent, -after-act, -after-commit.
 */
int engine_pool_device_create(engine *e, const char *type, uint64_t size, enum api_kind owner_kind,
                              const char *owner_uid, uint32_t *ret_id, struct error *err) WUR;

/*
 * A snapshot of parent_id as a new device (size at least the parent's; 0
 * means the parent's size). Fault points pool.snapshot.after-intent,
 * -after-act, -after-commit. -ENOENT when the parent has no active row.
 */
int engine_pool_device_snapshot(engine *e, const char *type, uint32_t parent_id, uint64_t size,
                                enum api_kind owner_kind, const char *owner_uid, uint32_t *ret_id,
                                struct error *err) WUR;

/*
 * Removes one device and its row; nothing else (a VM's device releases only
 * that device). -EBUSY "device N has children: ..." while rows name it as
 * their parent; -ENOENT when it has no row. Fault points
 * pool.remove.after-intent, -after-act, -after-commit.
 */
int engine_pool_device_remove(engine *e, uint32_t id, struct error *err) WUR;

/* The active device of type owned by (owner_kind, owner_uid); -ENOENT (err not set) when none. */
int engine_pool_device_owned(engine *e, enum api_kind owner_kind, const char *owner_uid,
                             const char *type, uint32_t *ret_id, struct error *err) WUR;

/* Activates an active device and returns its path (caller frees); see pool_device_activate. */
int engine_pool_device_activate(engine *e, uint32_t id, char **ret_path, struct error *err) WUR;

/*
 * Recovery of the pool operations whose owner is dead (engine_open runs it;
 * doctor --repair again): create/snapshot whose device exists in the pool
 * are rolled forward to 'active' (only the commit was missing), else their
 * row is dropped; remove is finished; init is rolled forward when the pool
 * opens, else rolled back. *ret_n (may be NULL) counts the operations done.
 */
int engine_pool_recover(engine *e, size_t *ret_n, struct error *err) WUR;

/* "Image", "Resize", "Kernel", "VM"; -1 for anything else. */
int engine_device_type_index(const char *type);

/* ---- images and kernels: lookups and recovery (image.c, kernel.c) ----- */

/* The pool device that holds the image's ext4 (-ENOENT when it has none, e.g. only applied). */
int engine_image_device(engine *e, const char *uid, uint32_t *ret_id, struct error *err) WUR;

/*
 * The path of one of a kernel's files ("vmlinux", "vmlinuz", "initrd",
 * "modules.tar") under <root>/kernel/<uid>/; -ENOENT when it has none.
 * Caller frees *ret.
 */
int engine_kernel_file(engine *e, const char *uid, const char *file, char **ret,
                       struct error *err) WUR;

/*
 * Recovery of image and kernel operations (import, remove) whose owner is
 * dead: engine_open runs it after the pool's recovery; doctor --repair too.
 * An import is rolled back (its devices, staging and files removed; no
 * object was recorded), a removal finished. *ret_n (may be NULL) counts them.
 */
int engine_import_recover(engine *e, size_t *ret_n, struct error *err) WUR;

/* ---- VMs (vm_create.c, vm_run.c, vm_console.c) -------------------------- */

/* The VM's own pool device (type VM, owned by the VM); -ENOENT when it has none. */
int engine_vm_device(engine *e, const char *uid, uint32_t *ret_id, struct error *err) WUR;
/* An engine_op_rows_fn with ud the VM's uid: its row goes (one gone already is fine). */
int engine_vm_row_delete_rows(engine *e, void *ud, struct error *err) WUR;

/*
 * The runtime of a VM as recorded, checked against the processes: a VM
 * recorded Running whose monitor or VMM is gone (pid and start time) is
 * recorded Stopped ("the monitor died") and its device deactivated, before
 * this returns. ret->running tells whether it runs.
 */
struct engine_vm_runtime {
    bool running;
    char vmm[16];
    int monitor_pid, vmm_pid; /* 0 when none */
    int64_t started, stopped; /* unix seconds, 0 when unset */
    int exit_status;          /* -1 when none */
    char exit_reason[128];
    char console_log[4096];   /* <root>/vm/<uid>/console.log */
    char attach_socket[4096]; /* the monitor's attach socket, "" when not running */
};
int engine_vm_runtime_get(engine *e, const char *uid, struct engine_vm_runtime *ret,
                          struct error *err) WUR;

/* engine_vm_attach_open, _run and _free in one call; *ret_detached as ret->detached. */
int engine_vm_attach(engine *e, const char *ref, int in_fd, int out_fd, bool *ret_detached,
                     struct error *err) WUR;

/*
 * engine_open for a VM's monitor: the same engine, without the recoveries
 * (open hooks). A monitor opens at any time, behind the commands' backs; a
 * recovery it ran could settle, after a listing, what that listing showed,
 * or roll back its own start.
 */
int engine_open_monitor(const char *root, engine **ret, struct error *err) WUR;

/*
 * Opening hook (pool.c), after recovery: when a pool exists, opens and
 * assembles it. Problems are kept in e->pool_err, never returned, so
 * commands that don't need the pool keep working.
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

/* Recovers one dead pool operation (pool.c): the table's row "pool.". */
int engine_pool_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;

/* *ret: whether an object of kind with uid has a row (resolve.c). */
int engine_object_exists(engine *e, enum api_kind kind, const char *uid, bool *ret,
                         struct error *err) WUR;

/* ---- operations (ops.c: the table; journal.c: one operation's steps) ---
 *
 * Every change of state is an operation of design.md's protocol, and every
 * operation has one row in the table of ops.c:
 *
 *   1. intent   engine_op_intent: one transaction (store_begin) holds the
 *               caller's rows (the object in a transitional state, the pool
 *               device rows it will make, ...) and the journal row at step
 *               "intent"; committed, or rolled back when a part fails; then
 *               the fault point the caller names.
 *   2. act      the external steps, outside any transaction, each
 *               idempotent; store_op_step records how far it got and a
 *               fault_point marks each boundary.
 *   3. commit   engine_op_commit: one transaction holds the caller's rows
 *               (the stable state) and closes the journal row; then the
 *               fault point the caller names.
 *      or abort engine_op_abort, when the act failed and was undone: one
 *               transaction holds the caller's undo rows and closes the
 *               journal row with the reason.
 *   4. recover  the row's recover function, for each open journal row of
 *               the operation whose owner process is dead: engine_open runs
 *               every row's (engine_ops_recover, in table order), doctor
 *               reports them as interrupted-operation findings described by
 *               the row and with --repair runs the same function.
 *
 * Fault point names are string literals at the call sites of
 * engine_op_intent and engine_op_commit ("image.import.after-intent"):
 * tests/fault_points.py reads them there and checks a crash test kills at
 * each. Adding an operation (docs/architecture.md, "Operations"): a row
 * in the table, its step functions, a crash test per fault point.
 */

/*
 * Finishes one open journal row op of a dead owner: rolled back, or
 * forward when only the commit was missing. It adopts op first
 * (engine_op_adopt) and returns 0 at once when another process did.
 */
typedef int engine_op_recover_fn(engine *e, const struct store_op *op, struct error *err);

/* What an operation works on, as doctor names it: "of <uid>" or "of device <id>". */
enum engine_op_subject {
    ENGINE_OP_OBJECT, /* op->object_uid */
    ENGINE_OP_DEVICE, /* op->device_id */
};

/* One row of the table of operations. */
struct engine_op_row {
    /* The journal name ("image.import"), or a family when it ends in '.' ("pool."). */
    const char *name;
    /* NULL: recovered elsewhere (engine_vm_refresh), neither at open nor by doctor. */
    engine_op_recover_fn *recover;
    enum engine_op_subject subject; /* doctor's description of an interrupted one */
};

/* ops.c: the row of operation name, or NULL when the table has none. */
const struct engine_op_row *engine_op_row_find(const char *name);
/*
 * ops.c: recovers every open operation whose owner is dead, one row of the
 * table after the other (engine_open). *ret_n (may be NULL) counts those
 * finished.
 */
int engine_ops_recover(engine *e, size_t *ret_n, struct error *err) WUR;
/* ops.c: recovers one dead operation by its row's recover function. */
int engine_op_recover(engine *e, const struct store_op *op, struct error *err) WUR;
/* ops.c, doctor's words: "image.import of UID stopped at step 'intent': its process 12 is gone" */
void engine_op_describe(const struct store_op *op, char *buf, size_t size);

/*
 * journal.c: recovers the open operations of dead owners that rows name,
 * row after row. Each failure is logged and the rest go on; the first is
 * returned. *ret_n (may be NULL) counts the operations finished.
 */
int engine_ops_recover_rows(engine *e, const struct engine_op_row *rows, size_t n_rows,
                            size_t *ret_n, struct error *err) WUR;
/* Whether operation name is row's (its name, or one of its family). */
bool engine_op_row_matches(const struct engine_op_row *row, const char *name);
/* "device 12" or the object's uid, as row's subject says. */
void engine_op_subject(const struct engine_op_row *row, const struct store_op *op, char *buf,
                       size_t size);
/* Takes op over from its dead owner: 1 when adopted, 0 when another process finished it. */
int engine_op_adopt(engine *e, const struct store_op *op, struct error *err) WUR;
/*
 * The first open journal row of operation name on object uid (uid NULL: on
 * pool device device_id): 1 and *ret filled (engine_op_release), 0 when
 * there is none, or -errno.
 */
int engine_op_find_open(engine *e, const char *name, const char *uid, int64_t device_id,
                        struct store_op *ret, struct error *err) WUR;
/* Frees what one store_op holds (store_ops_free frees a whole list). */
void engine_op_release(struct store_op *op);

/* What engine_op_intent records in the journal row. */
struct engine_op {
    const char *name;   /* the journal name: a row of the table */
    enum api_kind kind; /* the kind it works on (API_KIND_POOL for the pool and its devices) */
    const char *uid;    /* the object's uid, or NULL */
    int64_t device_id;  /* the pool device it works on, or -1 */
    const char *params; /* JSON object text that recovery reads back, or NULL */
    int64_t id;         /* set by engine_op_intent: the journal row */
};

/*
 * The rows an intent, commit or abort writes in its transaction, with ud
 * the caller's. 0 to go on; a negative errno fails it (rolled back); a
 * positive value in an intent means nothing is to be done: rolled back,
 * no journal row, and the value returned.
 */
typedef int engine_op_rows_fn(engine *e, void *ud, struct error *err);

/*
 * 1. intent: store_begin, rows (may be NULL), the journal row of op at step
 * "intent" (op->id set), store_commit; rolled back on failure. Then the
 * fault point fault (a string literal, or NULL). 0, rows' positive value,
 * or -errno. The journal row is written after rows, so rows may fill in
 * what it names (a device create allocates op->device_id there).
 */
int engine_op_intent(engine *e, struct engine_op *op, engine_op_rows_fn *rows, void *ud,
                     const char *fault, struct error *err) WUR;
/*
 * 3. commit: store_begin, rows (may be NULL), journal row id closed as
 * succeeded, store_commit; rolled back on failure (the journal row stays
 * open for recovery). Then the fault point fault (literal or NULL).
 */
int engine_op_commit(engine *e, int64_t id, engine_op_rows_fn *rows, void *ud, const char *fault,
                     struct error *err) WUR;
/*
 * 3. abort, after the act was undone: store_begin, rows (may be NULL),
 * journal row id closed with why, store_commit; rolled back on failure.
 * A failure is also logged: the row stays open and recovery finishes it
 * once this process is gone, so callers that keep the act's error may
 * ignore it. id 0 (no intent was recorded): nothing but rows.
 */
int engine_op_abort(engine *e, int64_t id, const char *why, engine_op_rows_fn *rows, void *ud,
                    struct error *err);

/* ---- images and kernels (import.c, image.c, kernel.c, remove.c) ------- */

struct engine_import_opts;
struct engine_import_result;
struct oci_source;
struct oci_image;

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
/* The familiar normalised form of a reference string, or NULL when it is none (import.c). */
char *engine_ref_familiar(const char *s);
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
typedef int engine_import_into_fn(engine *e, const struct oci_source *src, const char *name,
                                  const struct engine_import_opts *opts, const char *restore_uid,
                                  struct engine_import_result *ret, struct error *err);
/* *ret: the object uid has its data here (engine_image_has_data, engine_kernel_has_data). */
typedef int engine_has_data_fn(engine *e, const char *uid, bool *ret, struct error *err);
/*
 * engine_image_import and engine_kernel_import (import.c), for kind: source
 * parsed and named; an object of that name with its data here is returned
 * (existed), one without it (applied from a document) is imported into by
 * into with its uid, and a new name by into with NULL.
 */
int engine_import_run(engine *e, enum api_kind kind, const char *source,
                      const struct engine_import_opts *opts, engine_has_data_fn *has_data,
                      engine_import_into_fn *into, struct engine_import_result *ret,
                      struct error *err) WUR;

/*
 * What the recovery of an image's or kernel's import or restore (op, kind
 * the object's) does first: adopts op; closes it when it names no
 * object, or when it is an import whose commit happened. 1 when the caller
 * undoes op->object_uid's data and closes op, else 0 or -errno.
 */
int engine_import_recover_start(engine *e, const struct store_op *op, enum api_kind kind,
                                struct error *err) WUR;

/* ---- restore (restore.c, import.c) ------------------------------------ */

/* *ret: the image has its Image device, the kernel its kernel file here (restore.c). */
int engine_object_has_data(engine *e, enum api_kind kind, const char *uid, bool *ret,
                           struct error *err) WUR;
/* *ret: the image has its Image device (image.c), the kernel its files (kernel.c). */
int engine_image_has_data(engine *e, const char *uid, bool *ret, struct error *err) WUR;
int engine_kernel_has_data(engine *e, const char *uid, bool *ret, struct error *err) WUR;
/* What a restore's intent needs of its kind: image.c and kernel.c have one each. */
struct engine_restore_kind {
    enum api_kind kind;
    const char *op; /* its journal name, "image.restore" */
    int (*has_data)(engine *e, const char *uid, bool *ret, struct error *err);
    engine_op_recover_fn *recover; /* rolls a dead restore back */
};
/*
 * A restore's intent (import.c): the journal row k->op on uid, recorded in
 * one transaction that finds the object without its data and no other
 * restore of it open. Another restore in flight is waited for (polled, up
 * to 10 minutes); a dead one is rolled back first. 1 with *ret_op when the
 * intent is recorded, 0 when the data is there by now.
 */
int engine_restore_begin(engine *e, const struct engine_restore_kind *k, const char *uid,
                         int64_t *ret_op, struct error *err) WUR;
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
/* The data of an image (its devices) or a kernel (its files); engine_remove's act (remove.c). */
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
/*
 * Recover one dead image (image.c) or kernel (kernel.c) import or restore,
 * adopting it first: rolled back (its devices, staging or files removed;
 * an import recorded no object), unless an import's commit happened.
 */
int engine_image_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;
int engine_kernel_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;
/* Finishes one dead image.remove or kernel.remove (remove.c), adopting it first. */
int engine_remove_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;

/* ---- staging (staging.c) ------------------------------------------------ */

/* "<root>/tmp/<prefix>-<key>": an operation's staging directory. Caller frees; NULL on OOM. */
char *engine_tmp_path(engine *e, const char *prefix, const char *key);
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
 * Recovers one dead vm.start, vm.stop or vm.remove (adopting it first): a
 * start whose monitor runs is rolled forward (Running), else back to the
 * state it had; a stop or a removal is finished. 0 for other operations.
 */
int engine_vm_run_recover_op(engine *e, const struct store_op *op, struct error *err) WUR;
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

/* ---- doctor's parts (doctor.c, doctor_net.c) ----------------------------- */

/* Adds a finding; returns it, or NULL on OOM or past the bound. */
struct engine_finding *doctor_finding_add(struct engine_doctor_report *rep, const char *kind,
                                          const char *action, const char *object, const char *fmt,
                                          ...) PRINTF(5, 6);
/* Records how the repair of f went: r 0, or its error. */
void doctor_repair_done(struct engine_finding *f, int r, const struct error *err);
/* The networks: bridges, taps, leases, port-map elements, dnsmasq, host files. */
int doctor_check_network(engine *e, bool repair, struct engine_doctor_report *rep,
                         struct error *err) WUR;
/* Whether a live vm.* operation (one in ops) works on VM uid. */
bool doctor_op_busy(const struct store_op *ops, size_t n, const char *uid);
/* The CNI attachments: rows of VMs that do not run, CHECK, namespaces, reservations. */
int doctor_check_cni(engine *e, bool repair, struct engine_doctor_report *rep,
                     struct error *err) WUR;

#endif
