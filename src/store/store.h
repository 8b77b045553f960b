/*
 * store: hearth's state in one SQLite file, `<root>/hearth.db`.
 *
 * One table per kind with real columns for what is queried and child tables
 * for lists (labels, annotations, ports, copy files, IP addresses, repo
 * digests); the pool and its devices; IP leases; the operations journal of
 * the consistency protocol (docs/architecture.md). Migrations from
 * `migrations/NNNN_name.sql` are embedded in the binary and applied in order
 * by store_open, each in its own transaction; the database file is copied
 * aside (`hearth.db.pre-NNNN`) before the first migration that changes an
 * existing database, and a database newer than the binary is refused.
 *
 * Connections use WAL, synchronous=FULL, foreign keys and a busy timeout;
 * writes run in short BEGIN IMMEDIATE transactions (store_begin), retried
 * while another process holds the lock, so "database is locked" does not
 * reach a user under ordinary contention.
 *
 * The views `vms`, `images`, `kernels`, `pool_devices`, `operations` are the
 * stable reporting interface (docs/sql.md); tables may change, views stay.
 */
#ifndef HEARTH_STORE_H
#define HEARTH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "util/util.h"

typedef struct store store;

/*
 * Opens (creating if needed) the database at path and migrates it to the
 * latest schema. -EPROTO when the database is newer than this binary (the
 * message names both versions and says to upgrade hearth). -ENOSPC,
 * -EDQUOT, -EROFS, -EACCES or -EPERM when it cannot be written: the
 * filesystem is full or read-only, or the file is not this user's (the
 * system call's errno behind SQLite's error), also when SQLite could open
 * it only for reading.
 */
int store_open(const char *path, store **ret, struct error *err) WUR;
/*
 * Opens the database at path read-only, for a root that cannot be written:
 * nothing is configured or migrated, and every write fails. An -shm file
 * that cannot be written is mapped read-only (SQLite's readonly_shm); with
 * none, the database file alone is read when no WAL is left to apply.
 * -EPROTO when the schema is not this binary's (an older one needs a
 * migration, which needs a root that can be written).
 */
int store_open_read(const char *path, store **ret, struct error *err) WUR;
void store_free(store *s);

/* The schema version this binary migrates to (the highest migration number). */
int store_schema_latest(void);
/* The schema version of the open database (PRAGMA user_version). */
int store_schema_version(store *s);

/*
 * PRAGMA data_version of this connection: changes when another connection
 * commits. Cheap; for the dashboard's refresh.
 */
int store_data_version(store *s, int64_t *ret) WUR;

/* ---- transactions ------------------------------------------------------ */

/* BEGIN IMMEDIATE, waiting (with backoff, bounded) while another writer holds the lock. */
int store_begin(store *s, struct error *err) WUR;
int store_commit(store *s, struct error *err) WUR;
/* Rolls back the open transaction, if any. Never fails. */
void store_rollback(store *s);

/* ---- objects ----------------------------------------------------------- */

/*
 * Inserts or replaces the object with obj->meta.uid (which must be set, as
 * must the name) together with its child rows. Pool is a singleton: put
 * replaces the pool's spec and its device table. -EEXIST when another object
 * of the kind has the name (UNIQUE constraint); the message names it.
 * Runs inside the caller's transaction if one is open, else in its own.
 */
int store_object_put(store *s, const struct api_object *obj, struct error *err) WUR;

/* Loads one object by uid; -ENOENT if none. For API_KIND_POOL uid is ignored. */
int store_object_get(store *s, enum api_kind kind, const char *uid, struct api_object **ret,
                     struct error *err) WUR;

/* Finds the uid of the object of kind named name; -ENOENT if none. ret_uid is ID_LEN+1. */
int store_object_find_name(store *s, enum api_kind kind, const char *name, char *ret_uid,
                           struct error *err) WUR;

/* Deletes an object and its child rows; -ENOENT if none. */
int store_object_delete(store *s, enum api_kind kind, const char *uid, struct error *err) WUR;

/*
 * Loads every object of kind, ordered by creation time then name, in a
 * bounded number of queries (not one per object). Caller frees with
 * api_objects_free. For API_KIND_POOL: the pool if one is recorded (0 or 1
 * objects).
 */
int store_object_list(store *s, enum api_kind kind, struct api_object ***ret, size_t *ret_n,
                      struct error *err) WUR;

/* ---- VM summaries for listings ----------------------------------------- */

/* One label of a summary; both strings live in the summaries' arena. */
struct store_label {
    const char *key;
    const char *value;
};

/*
 * What `ps` shows and filters on for one VM, without decoding the whole
 * object. Every string points into the owning store_vm_summaries (never
 * freed one by one); equal strings of neighbouring rows may share storage.
 */
struct store_vm_summary {
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
    int64_t started; /* unix seconds the running VMM started (vm_runtime); 0 when none runs */
    /* spec.network.ports as api_port_format writes each, joined by ", "; "" for none */
    const char *ports;
    /* status.ipAddresses joined by ", "; "" for none */
    const char *ips;
    const struct store_label *labels; /* metadata.labels in order */
    size_t n_labels;
};

struct store_vm_summaries {
    struct store_vm_summary *items; /* by creation time then name, like store_object_list */
    size_t n;
    struct arena *arena; /* private: every string and label array */
};

/*
 * Loads the summary of every VM in a fixed number of queries (the main rows,
 * ports, IP addresses and labels) inside one read transaction, with all
 * strings in a few large blocks. The fields equal what store_object_list
 * gives for the same VMs. Caller frees with store_vm_summaries_free.
 */
int store_vm_summary_list(store *s, struct store_vm_summaries **ret, struct error *err) WUR;

/* The states in which something runs or is under way for a VM, as an SQL list. */
#define STORE_VM_ACTIVE_STATES "('Running', 'Creating', 'Starting', 'Stopping', 'Removing')"

/*
 * Like store_vm_summary_list, but only the VMs whose state is in
 * STORE_VM_ACTIVE_STATES (what `ps` without -a shows). They are found through
 * the index on state and only their child rows are read, so the cost follows
 * the number of active VMs, not the number of VMs.
 */
int store_vm_summary_list_active(store *s, struct store_vm_summaries **ret, struct error *err) WUR;
void store_vm_summaries_free(struct store_vm_summaries *l);

struct store_match {
    char uid[ID_LEN + 1];
    char *name;
};
void store_matches_free(struct store_match *m, size_t n);

/*
 * The objects of kind whose name or uid starts with prefix (at most max of
 * them). Caller frees with store_matches_free.
 */
int store_object_match(store *s, enum api_kind kind, const char *prefix, size_t max,
                       struct store_match **ret, size_t *ret_n, struct error *err) WUR;
/* The same for uids alone (`docker run`'s id prefixes, which names never shadow). */
int store_object_match_uid(store *s, enum api_kind kind, const char *prefix, size_t max,
                           struct store_match **ret, size_t *ret_n, struct error *err) WUR;

/*
 * The VMs that use the image or kernel (kind API_KIND_IMAGE or
 * API_KIND_KERNEL) with this uid and name: by status internalUID or by
 * spec ociClaim ref. Caller frees with store_matches_free.
 */
int store_object_users(store *s, enum api_kind kind, const char *uid, const char *name,
                       struct store_match **ret, size_t *ret_n, struct error *err) WUR;

/* ---- operations journal ------------------------------------------------ */

/*
 * One row per in-flight or finished operation: what (op, e.g. "vm.create"),
 * on which object (kind, uid), its current step, its owner (pid and the
 * process start time in clock ticks since boot, from /proc/PID/stat), and
 * when it started, last changed and finished, with the error if it failed.
 */
struct store_op {
    int64_t id;
    char *op;
    enum api_kind kind;
    char *object_uid;
    char *step;
    int owner_pid;
    uint64_t owner_start; /* process start time, clock ticks since boot */
    int64_t started;      /* unix seconds */
    int64_t updated;
    int64_t finished;  /* 0 while in flight */
    char *error;       /* NULL unless it failed */
    int64_t device_id; /* the pool device of a pool operation, -1 for none */
    char *params;      /* a pool operation's parameters (JSON object text), or NULL */
};
void store_ops_free(struct store_op *ops, size_t n);

/* Records a new in-flight operation owned by this process; *ret_id is its id. */
int store_op_begin(store *s, const char *op, enum api_kind kind, const char *uid, const char *step,
                   int64_t *ret_id, struct error *err) WUR;
/* Moves an operation to its next step. */
int store_op_step(store *s, int64_t id, const char *step, struct error *err) WUR;
/* Closes an operation; error NULL means it succeeded. */
int store_op_finish(store *s, int64_t id, const char *error, struct error *err) WUR;
/* The operations still in flight (finished = 0), oldest first. */
int store_op_list_open(store *s, struct store_op **ret, size_t *ret_n, struct error *err) WUR;

/*
 * Like store_op_begin for an operation on pool device device_id (-1: none)
 * with its parameters params (a JSON object as text, or NULL), which
 * recovery reads back.
 */
int store_op_begin_device(store *s, const char *op, enum api_kind kind, const char *step,
                          int64_t device_id, const char *params, int64_t *ret_id,
                          struct error *err) WUR;

/*
 * Takes over an in-flight operation whose owner is dead: in one statement,
 * makes this process its owner if it is still in flight and still owned by
 * (pid, start). -ESRCH when it finished or another process took it over
 * meanwhile (then the caller leaves it alone).
 */
int store_op_adopt(store *s, int64_t id, int pid, uint64_t start, struct error *err) WUR;

/* ---- the pool and its devices ---------------------------------------- */

/*
 * The state of the pool and of each of its devices: planned while the
 * operation that makes it runs, active, removing while the one that removes
 * it runs (the pool is never removing). The names ("active", "planned",
 * "removing") are only in the database's columns. A row zero-filled is active.
 */
enum store_pool_state { STORE_POOL_ACTIVE, STORE_POOL_PLANNED, STORE_POOL_REMOVING };
/* "active", "planned", "removing"; "?" for anything else. */
const char *store_pool_state_name(enum store_pool_state s);

/*
 * The pool row: the seed's Pool spec plus what hearth adds. driver NULL
 * means a spec recorded by apply for a pool not created yet.
 */
struct store_pool {
    char *driver;                /* "dm-thin", "file", or NULL */
    char *name;                  /* 8 lowercase hex; NULL with driver NULL */
    enum store_pool_state state; /* planned while `pool init` runs, else active */
    uint64_t metadata_size, data_size, allocation_size;
    char *metadata_path, *data_path;
};
void store_pool_release(struct store_pool *p);

/* The pool row; -ENOENT when there is none. Caller releases *ret. */
int store_pool_get(store *s, struct store_pool *ret, struct error *err) WUR;
/* Inserts or replaces the pool row (not its devices). In the caller's transaction if open. */
int store_pool_put(store *s, const struct store_pool *p, struct error *err) WUR;
/* Deletes the pool row; refused (-EBUSY) while device rows exist. */
int store_pool_delete(store *s, struct error *err) WUR;

#define STORE_DEVICE_PARENT_NONE (-1)

/* One pool_device row, with its owner's name looked up. */
struct store_pool_device {
    uint32_t id;
    char *type;     /* "Image", "Resize", "Kernel", "VM" */
    int64_t parent; /* a device id or STORE_DEVICE_PARENT_NONE (the pool) */
    uint64_t size;
    enum store_pool_state state;
    enum api_kind owner_kind; /* API_KIND_COUNT when it has no owner */
    char *owner_uid;          /* NULL when none */
    char *owner_name;         /* the owner's name, NULL when none or gone */
    char *metadata_path;      /* NULL when unset */
    int64_t created;          /* unix seconds */
    char *layer_key;          /* a shared layer's key ("resize:<bytes>", "kernel:<uid>"), or NULL */
};
void store_pool_device_release(struct store_pool_device *d);
void store_pool_devices_free(struct store_pool_device *d, size_t n);

/*
 * The lowest id in 0..2^24-1 that no row has. Must run inside the caller's
 * BEGIN IMMEDIATE transaction (store_begin), which also inserts the row, so
 * two processes never get one id. -EINVAL outside a transaction, -ENOSPC
 * when every id is taken.
 */
int store_pool_device_allocate(store *s, uint32_t *ret_id, struct error *err) WUR;
/* Inserts a row (created = now). -EEXIST when the id has a row. */
int store_pool_device_insert(store *s, const struct store_pool_device *d, struct error *err) WUR;
/* Sets a row's state; -ENOENT when there is no row. */
int store_pool_device_set_state(store *s, uint32_t id, enum store_pool_state state,
                                struct error *err) WUR;
/* Deletes a row; -ENOENT when there is none. */
int store_pool_device_delete(store *s, uint32_t id, struct error *err) WUR;
/* Gives the children of id the parent new_parent (STORE_DEVICE_PARENT_NONE: the pool). */
int store_pool_device_reparent(store *s, uint32_t id, int64_t new_parent, struct error *err) WUR;
/* One row; -ENOENT when there is none. Caller releases *ret. */
int store_pool_device_get(store *s, uint32_t id, struct store_pool_device *ret,
                          struct error *err) WUR;
/*
 * The row of the shared layer keyed key under parent (pool_device.layer_key,
 * unique per parent); -ENOENT when there is none. Caller releases *ret.
 */
int store_pool_device_find_layer(store *s, uint32_t parent, const char *key,
                                 struct store_pool_device *ret, struct error *err) WUR;
/* Every row by id. Caller frees with store_pool_devices_free. */
int store_pool_device_list(store *s, struct store_pool_device **ret, size_t *ret_n,
                           struct error *err) WUR;

/*
 * Replaces doc's devices[] with the rows (sorted by id, as
 * store_pool_device_list gives them): index = id, holes where no row is.
 * 0 or -ENOMEM.
 */
int store_pool_devices_to_api(const struct store_pool_device *rows, size_t n,
                              struct api_pool *doc) WUR;

/* The pool as the API's Pool object: spec from the pool row, status.devices
 * from the device rows. -ENOENT when there is no pool. */
int store_pool_object_get(store *s, struct api_object **ret, struct error *err) WUR;
/*
 * How many rows have id as their parent (*ret_n), and the ids of the first
 * max of them in ret_ids (may be NULL when max is 0).
 */
int store_pool_device_children(store *s, uint32_t id, uint32_t *ret_ids, size_t max, size_t *ret_n,
                               struct error *err) WUR;

/* ---- read-only SQL ----------------------------------------------------- */

enum store_value_type { STORE_NULL, STORE_INTEGER, STORE_REAL, STORE_TEXT, STORE_BLOB };

struct store_sql_sink {
    /* A statement's result starts: its column names. */
    int (*columns)(void *ud, int ncols, const char *const *names);
    /* One row: values as text (NULL for SQL NULL; blobs as hex) and their types. */
    int (*row)(void *ud, int ncols, const char *const *values, const enum store_value_type *types);
    /* The statement is done. */
    int (*end)(void *ud);
    void *ud;
};

/*
 * What one store_sql_query call may use; 0 in a field means no limit. The
 * time counts from the call to its end, output included: a read keeps the
 * WAL from being checkpointed while it runs, and the time limit bounds that.
 */
struct store_sql_limits {
    unsigned timeout_ms; /* the whole call */
    int value_max;       /* bytes of one value (text or blob): SQLITE_LIMIT_LENGTH */
    size_t row_max;      /* bytes of one row as the sink gets it (blobs as hex) */
    int64_t heap_max;    /* bytes SQLite may hold while the statements run */
};
/* The defaults (hearth sql's, docs/sql.md): 30 s, 16 MiB, 64 MiB, 256 MiB. */
#define STORE_SQL_LIMITS_DEFAULT                                                                   \
    ((struct store_sql_limits){30000, 16 << 20, (size_t)64 << 20, (int64_t)256 << 20})

/*
 * Runs one or more SQL statements, split by SQLite itself (not on ';'), on a
 * read-only path: each statement is checked with sqlite3_stmt_readonly before
 * it runs and the connection is query_only while they run, so a statement
 * that would write is refused (-EPERM, naming it) and nothing changes.
 * Results stream to sink, one row at a time. A sink callback returning
 * nonzero stops and is returned. limits NULL means STORE_SQL_LIMITS_DEFAULT; past
 * one of them the call stops with -ETIMEDOUT (time), -EFBIG (a value or a
 * row) or -ENOMEM (memory), the message naming the limit.
 */
int store_sql_query(store *s, const char *sql, const struct store_sql_limits *limits,
                    const struct store_sql_sink *sink, struct error *err) WUR;

/* ---- VM runtime (runtime.c) ---------------------------------------------- */

/*
 * The vm_runtime row of a VM (migrations/0006_vm_runtime.sql): the monitor
 * and VMM processes (pid + start time in clock ticks since boot), when the
 * VMM started and stopped, and how it ended.
 */
struct store_vm_runtime {
    char vmm[16];      /* "firecracker", "qemu" */
    char accel[8];     /* "kvm", "tcg", "" when unknown */
    int64_t device_id; /* -1 when none */
    int monitor_pid;   /* 0 when none */
    uint64_t monitor_start;
    int vmm_pid; /* 0 when none */
    uint64_t vmm_start;
    int64_t started, stopped; /* unix seconds, 0 when unset */
    int exit_status;          /* -1 when none */
    char exit_reason[128];    /* "" when none */
};

/* The row of uid; -ENOENT when the VM never ran. */
int store_vm_runtime_get(store *s, const char *uid, struct store_vm_runtime *ret,
                         struct error *err) WUR;
/* Inserts or replaces the row of uid. In the caller's transaction if open. */
int store_vm_runtime_put(store *s, const char *uid, const struct store_vm_runtime *rt,
                         struct error *err) WUR;
/* Records the end: stopped, exit_status, exit_reason (the row must exist). */
int store_vm_runtime_set_stopped(store *s, const char *uid, int64_t stopped, int exit_status,
                                 const char *reason, struct error *err) WUR;
/*
 * status.state of VM uid into *ret (API_VM_STATE_NONE when unset); -ENOENT
 * when no VM, -EUCLEAN (naming status.state) for a name that is no state.
 */
int store_vm_state_get(store *s, const char *uid, enum api_vm_state *ret, struct error *err) WUR;
/* Sets status.state of VM uid (-EINVAL for API_VM_STATE_NONE); -ENOENT when no VM. */
int store_vm_state_set(store *s, const char *uid, enum api_vm_state state, struct error *err) WUR;
/*
 * The uids of the VMs whose state is one of Running, Starting, Stopping,
 * Removing (one indexed query). Caller frees each and the array.
 */
int store_vm_list_live(store *s, char ***ret, size_t *ret_n, struct error *err) WUR;
/* A VM that may run with its runtime row (have_rt false: none, or a corrupt one). */
struct store_vm_live {
    char uid[ID_LEN + 1];
    bool have_rt;
    struct store_vm_runtime rt;
};
/*
 * store_vm_list_live's VMs, each with its vm_runtime row, in one query (the
 * refresh reads them all at once). Caller frees the array.
 */
int store_vm_live_list(store *s, struct store_vm_live **ret, size_t *ret_n, struct error *err) WUR;
/*
 * Records a new in-flight operation on VM uid (like store_op_begin) with the
 * pool device it uses (-1: none) and its parameters (JSON text or NULL).
 */
int store_vm_op_begin(store *s, const char *op, const char *uid, const char *step,
                      int64_t device_id, const char *params, int64_t *ret_id,
                      struct error *err) WUR;

/* ---- corrupt rows (check.c) ---------------------------------------------- */

/*
 * Every value read from the database is checked before hearth uses it: an
 * object's fields by the rules apply uses (api_object_validate, and a uid of
 * 16 lowercase hex characters), the runtime's pids, the journal's rows, the
 * pool and its devices by hearth's own. A row that fails is corrupt: reading
 * it alone fails with -EUCLEAN (the message names the table, the row's key
 * and the field, and says to run 'hearth doctor'); a listing leaves it out
 * with a warning (store_object_list, store_vm_summary_list*,
 * store_vm_list_live, store_op_list_*); the pool's device rows are read whole
 * or not at all (-EUCLEAN), since what a missing row means cannot be guessed.
 */
struct store_corrupt {
    char table[24]; /* "vm", "image", "kernel", "vm_runtime", "journal", "pool", "pool_device",
                       "kernel_file", "vm_ssh" */
    char key[96];   /* the row's key (uid, id), quoted as in messages */
    char *problem;  /* owned: "FIELD: \"VALUE\" what is wrong with it" */
};
void store_corrupt_free(struct store_corrupt *c, size_t n);
/* Every corrupt row (at most 10,000), in one read transaction. Caller frees. */
int store_corrupt_list(store *s, struct store_corrupt **ret, size_t *ret_n, struct error *err) WUR;

/* ---- kernel files (kernel_files.c) --------------------------------------- */

/*
 * The files a kernel has under <root>/kernel/<uid>/ (migrations/
 * 0007_kernel_files.sql): "vmlinux", "vmlinuz", "initrd", "modules.tar",
 * each with its size in bytes.
 */
#define STORE_KERNEL_FILES_MAX 4
struct store_kernel_file {
    char name[16];
    uint64_t size;
};

/* Replaces the recorded files of kernel uid (which must exist). In the caller's transaction if
 * open; -EINVAL naming a file that is none of the four. */
int store_kernel_files_set(store *s, const char *uid, const struct store_kernel_file *files,
                           size_t n, struct error *err) WUR;
/*
 * The recorded files of kernel uid, by name, into ret (room for
 * STORE_KERNEL_FILES_MAX); *ret_n is 0 for a kernel without a record (one
 * applied from a document, or imported before the record existed).
 */
int store_kernel_files_get(store *s, const char *uid, struct store_kernel_file *ret, size_t *ret_n,
                           struct error *err) WUR;

/* ---- ssh (ssh.c) ---------------------------------------------------------- */

/* "SHA256:" and 43 characters of unpadded base64, as OpenSSH prints a fingerprint. */
#define STORE_SSH_FINGERPRINT_LEN 50
/* What hearth knows to reach a VM with spec.ssh (migrations/0009_vm_ssh.sql). */
struct store_vm_ssh {
    char host_key_fingerprint[STORE_SSH_FINGERPRINT_LEN + 1]; /* of the host key planted */
    unsigned host_port; /* user mode: the 127.0.0.1 port that leads to guest port 22; else 0 */
};
/* Whether fp is a fingerprint as above. */
bool store_ssh_fingerprint_ok(const char *fp);
/* Records the fingerprint of VM uid's host key (the row made, the port kept). In the caller's
 * transaction if open; -EINVAL for a fingerprint of another form. */
int store_vm_ssh_key_set(store *s, const char *uid, const char *fingerprint, struct error *err) WUR;
/* Records VM uid's user-mode ssh port (0: none). Nothing for a VM without a host key row. */
int store_vm_ssh_port_set(store *s, const char *uid, unsigned port, struct error *err) WUR;
/* VM uid's row; -ENOENT when it has none, -EUCLEAN when it is corrupt. */
int store_vm_ssh_get(store *s, const char *uid, struct store_vm_ssh *ret, struct error *err) WUR;

/* ---- CNI attachments (cni.c) ------------------------------------------------ */

/* A VM's CNI attachment (migrations/0010_vm_cni.sql). Strings owned. */
struct store_vm_cni {
    char uid[ID_LEN + 1];
    char *conf_file; /* the configuration list's file, when it was read */
    char *conf_json; /* the list as read: what DEL runs with */
    char *network;   /* its "name" */
    char *cni_path;  /* the plugins' directories, ':'-separated */
    char *netns;     /* the VM's network namespace (a bind mount) */
    char *result;    /* ADD's result; NULL until it finished */
    int64_t created;
};
void store_vm_cni_release(struct store_vm_cni *c);
/* Records c (result NULL); -EEXIST when uid has a row. In the caller's transaction if open. */
int store_vm_cni_add(store *s, const struct store_vm_cni *c, struct error *err) WUR;
/* Records ADD's result of uid's attachment. */
int store_vm_cni_result_set(store *s, const char *uid, const char *result, struct error *err) WUR;
/* uid's row; -ENOENT when it has none. Release *ret. */
int store_vm_cni_get(store *s, const char *uid, struct store_vm_cni *ret, struct error *err) WUR;
/* uid's row gone (none is fine). */
int store_vm_cni_remove(store *s, const char *uid, struct error *err) WUR;
/* Every row, by uid. Caller releases each and frees *ret. */
int store_vm_cni_list(store *s, struct store_vm_cni **ret, size_t *ret_n, struct error *err) WUR;

/* ---- recent operations (ops_read.c) -------------------------------------- */

/*
 * The operations in flight and the max_finished most recent finished ones
 * (errors included), newest first. Caller frees with store_ops_free.
 */
int store_op_list_recent(store *s, size_t max_finished, struct store_op **ret, size_t *ret_n,
                         struct error *err) WUR;

/* ---- networks and leases (net.c) ----------------------------------------- */

#define STORE_NETWORK_NAME_MAX 16 /* a Linux link name: IFNAMSIZ */
#define STORE_IP_MAX 16

/* A bridged network (migrations/0008_network.sql): a bridge and its subnet. */
struct store_network {
    char name[STORE_NETWORK_NAME_MAX]; /* the bridge */
    char subnet[20];                   /* "10.61.0.0/16" */
    int64_t created;
};
/* Network name, or the first by name when name is NULL; -ENOENT when there is none. */
int store_network_get(store *s, const char *name, struct store_network *ret, struct error *err) WUR;
int store_network_list(store *s, struct store_network **ret, size_t *ret_n, struct error *err) WUR;
/* -EEXIST when the name or the subnet is taken; -EINVAL for a name that is no link name. */
int store_network_add(store *s, const char *name, const char *subnet, struct error *err) WUR;
/* -EBUSY while it has leases, -ENOENT when there is none. */
int store_network_remove(store *s, const char *name, struct error *err) WUR;

/* A VM's address in a network (ip_lease); it goes with the VM (ON DELETE CASCADE). */
struct store_lease {
    char ip[STORE_IP_MAX];
    char network[STORE_NETWORK_NAME_MAX];
    char vm_uid[17];
    char mac[18];
};
/* The lease of VM vm_uid; -ENOENT when it has none. */
int store_lease_get(store *s, const char *vm_uid, struct store_lease *ret, struct error *err) WUR;
/* The leases of network (NULL: of all). Caller frees *ret. */
int store_lease_list(store *s, const char *network, struct store_lease **ret, size_t *ret_n,
                     struct error *err) WUR;
/* In the caller's transaction if open; -EEXIST when l->ip is leased already. */
int store_lease_add(store *s, const struct store_lease *l, struct error *err) WUR;
/* The lease of address ip gone (gone already is fine). */
int store_lease_remove(store *s, const char *ip, struct error *err) WUR;
/* status.ipAddresses of VM uid: [ip], or none when ip is NULL. */
int store_vm_ips_set(store *s, const char *uid, const char *ip, struct error *err) WUR;

#endif
