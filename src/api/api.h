/*
 * api: hearth's objects, the ignite.weave.works/v1alpha1 kinds Image, Kernel,
 * VM and Pool, field for field as the seed API defines them.
 *
 * This module owns:
 * - the C representation of each kind (struct api_object and its parts);
 * - the defaults (Ignite v0.4's SetDefaults_*) and validation, whose errors
 *   name the field path and the bad value: `spec.memory: "12XB" is not a size`;
 * - the value grammars: sizes, port mappings, names, ids;
 * - encoding to and decoding from JSON (jansson) and YAML (libyaml):
 *   single documents, multi-document YAML streams and `kind: List`.
 *
 * Decoding is strict: an unknown field is an error naming its path, a syntax
 * error names the file, line and column.
 *
 * hearth's additions to the seed, all optional so that every seed document
 * round-trips unchanged:
 * - NetworkMode `bridge`, `user` and `none` beside the seed's `cni`, `docker-bridge`;
 * - VMState `Creating`, `Starting`, `Stopping`, `Removing` (transitional);
 * - PortMapping `protocol` ("tcp" default, omitted) and `bindAddress`
 *   (omitted when unset).
 */
#ifndef HEARTH_API_H
#define HEARTH_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define API_GROUP_VERSION "ignite.weave.works/v1alpha1"

/* Limits on what a document may hold. */
#define API_NAME_MAX 63                 /* DNS-1123 label */
#define API_STRING_MAX 4096             /* any single string field */
#define API_LIST_MAX 1024               /* any list or map inside one object */
#define API_DOCS_MAX 100000             /* documents in one stream or List */
#define API_DEPTH_MAX 32                /* nesting depth of a document */
#define API_INPUT_MAX (256u << 20)      /* bytes of one input file */
#define API_POOL_DEVICES_MAX (1u << 24) /* pool devices: the 24-bit thin id space */

/* "no time" for metadata.created, encoded as JSON null */
#define API_TIME_NONE INT64_MIN

enum api_kind { API_KIND_VM, API_KIND_IMAGE, API_KIND_KERNEL, API_KIND_POOL, API_KIND_COUNT };

/* "VM", "Image", "Kernel", "Pool". */
const char *api_kind_name(enum api_kind kind);
/* The word for a kind in messages and journal rows: "vm", "image", "kernel", "pool"
 * ("object" for anything else). */
const char *api_kind_word(enum api_kind kind);
/* Parses a kind name, case-insensitively, also plurals and lowercase forms
 * ("vm", "vms", "images", "kernel", "pool"). -EINVAL if unknown. */
int api_kind_parse(const char *s, enum api_kind *ret) WUR;

/*
 * A VM's status.state (VMState): the seed's Created, Running, Stopped and
 * hearth's transitional states. The strings exist only where documents and
 * database rows are read and written (api_vm_state_name, api_vm_state_parse).
 */
enum api_vm_state {
    API_VM_STATE_NONE, /* unset: null in a document, "" and NULL in the database */
    API_VM_CREATED,
    API_VM_RUNNING,
    API_VM_STOPPED,
    API_VM_CREATING,
    API_VM_STARTING,
    API_VM_STOPPING,
    API_VM_REMOVING,
};
#define API_VM_STATES_LIST "Created, Running, Stopped, Creating, Starting, Stopping, Removing"
/* "Created", "Running", ...; NULL for API_VM_STATE_NONE. */
const char *api_vm_state_name(enum api_vm_state s);
/* Parses a state's exact name; -EINVAL for anything else (NULL and "" included). */
int api_vm_state_parse(const char *s, enum api_vm_state *ret) WUR;
/* True for the states in which something runs or is under way for a VM (what `ps`
 * without -a shows): Running and the transitional states. */
bool api_vm_state_is_active(enum api_vm_state s);

struct api_kv {
    char *key;
    char *value;
};

/* ObjectMeta. Pool has none in the seed; its meta is unused. */
struct api_meta {
    char *name;
    char *uid;       /* 16 lowercase hex, or NULL when not yet assigned */
    int64_t created; /* seconds since the epoch (UTC), or API_TIME_NONE */
    struct api_kv *labels;
    size_t n_labels;
    struct api_kv *annotations;
    size_t n_annotations;
};

/* OCIImageClaim */
struct api_oci_claim {
    char *type; /* "Docker" */
    char *ref;
};

/* OCIImageSource */
struct api_oci_source {
    char *id;
    uint64_t size; /* bytes */
    char **repo_digests;
    size_t n_repo_digests;
};

/* VMImageSource: OCIImageSource inline plus internalUID */
struct api_vm_image_source {
    struct api_oci_source source;
    char *internal_uid;
};

struct api_image {
    struct api_oci_claim claim;   /* spec.ociClaim */
    struct api_oci_source source; /* status.ociSource */
};

struct api_kernel {
    char *version;                /* spec.version */
    struct api_oci_claim claim;   /* spec.ociClaim */
    struct api_oci_source source; /* status.ociSource */
};

/* PortMapping: the seed's hostPort, vmPort; hearth's protocol, bindAddress. */
struct api_port {
    uint64_t host_port;
    uint64_t vm_port;
    char *protocol;     /* "tcp" (also when NULL) or "udp" */
    char *bind_address; /* NULL when unset */
};

/* FileMapping */
struct api_file_mapping {
    char *host_path;
    char *vm_path;
};

struct api_vm {
    /* spec */
    struct api_oci_claim *image_claim;  /* spec.image.ociClaim, NULL encodes as null */
    struct api_oci_claim *kernel_claim; /* spec.kernel.ociClaim, NULL encodes as null */
    char *cmdline;                      /* spec.kernel.cmdLine, omitted when empty */
    uint64_t cpus;
    uint64_t memory;    /* bytes */
    uint64_t disk_size; /* bytes */
    char *network_mode;
    struct api_port *ports;
    size_t n_ports;
    struct api_file_mapping *copy_files;
    size_t n_copy_files;
    bool has_ssh;         /* spec.ssh present (an empty object means "generate a key") */
    char *ssh_public_key; /* spec.ssh.publicKey, omitted when NULL */
    /* status */
    enum api_vm_state state;
    char **ip_addresses;
    size_t n_ip_addresses;
    struct api_vm_image_source status_image;
    struct api_vm_image_source status_kernel;
};

/* PoolDevice; devices[] may have holes (JSON null) where devices were deleted. */
struct api_pool_device {
    bool present; /* false: a hole, encoded as null */
    uint64_t size;
    int64_t parent; /* device id of the parent, or API_POOL_PARENT_NONE ("pool") */
    char *type;     /* "Image", "Resize", "Kernel", "VM" */
    char *metadata_path;
};

#define API_POOL_PARENT_NONE (-1)

struct api_pool {
    uint64_t metadata_size;
    uint64_t data_size;
    uint64_t allocation_size;
    char *metadata_path;
    char *data_path;
    struct api_pool_device *devices;
    size_t n_devices;
};

struct api_object {
    enum api_kind kind;
    struct api_meta meta; /* unused for API_KIND_POOL */
    union {
        struct api_vm vm;
        struct api_image image;
        struct api_kernel kernel;
        struct api_pool pool;
    } u;
};

/* A new, zeroed object of kind (created = API_TIME_NONE). NULL on OOM. */
struct api_object *api_object_new(enum api_kind kind);
void api_object_free(struct api_object *obj);
static inline void api_object_freep(struct api_object **p) {
    api_object_free(*p);
}
#define _cleanup_object_ _cleanup_(api_object_freep)
/* Frees an array of n objects and the array. */
void api_objects_free(struct api_object **objs, size_t n);
/* A deep copy; NULL on OOM. */
struct api_object *api_object_dup(const struct api_object *obj);

/*
 * Fills what is unset with Ignite v0.4's defaults: claim type Docker; VM cpus
 * 1, memory 512MB, diskSize 4GB, networkMode `bridge`, kernel cmdLine
 * API_DEFAULT_CMDLINE, state Created; Pool allocationSize 64KiB, dataSize
 * 100GiB, metadataSize clamp(48 * dataSize / allocationSize, 2MiB, 16GiB),
 * metadataPath and dataPath under root (`<root>/pool/metadata`, `<root>/pool/data`).
 * root may be NULL (paths then stay unset). Returns 0 or -ENOMEM.
 */
int api_object_set_defaults(struct api_object *obj, const char *root) WUR;

#define API_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1 pci=off ip=dhcp"
#define API_DEFAULT_CPUS 1
#define API_DEFAULT_MEMORY (512ull << 20)
#define API_DEFAULT_DISK_SIZE (4ull << 30)
#define API_DEFAULT_NETWORK_MODE "bridge"

/*
 * Checks every field. The first problem is reported with its path and value,
 * e.g. `metadata.name: "My_VM" is not a valid name (DNS-1123 label: ...)`.
 * Meant for a defaulted object (api_object_set_defaults first). A VM needs
 * spec.image.ociClaim; its name may still be NULL (the engine assigns one),
 * but when set must be a DNS-1123 label. Image and Kernel names are required
 * and must be OCI references. Returns 0 or -EINVAL.
 */
int api_object_validate(const struct api_object *obj, struct error *err) WUR;

/* ---- values ------------------------------------------------------------ */

/*
 * Sizes read like Ignite's: a number with an optional fraction, optional
 * space, and an optional binary unit, case-insensitive: B, K/KB/KiB, M/MB/MiB,
 * G/GB/GiB, T/TB/TiB, P/PB/PiB, E/EB/EiB (all powers of 1024). "4.5GB" is
 * 4831838208 bytes. The result must be a whole number of bytes.
 * -EINVAL on anything else, -ERANGE on overflow.
 */
int api_size_parse(const char *s, uint64_t *ret) WUR;
/* The JSON form, as Ignite writes it: the largest unit that divides exactly:
 * "0B", "512MB", "4GB", "4608MB", "64KB" ... buf at least 32 bytes. */
void api_size_format(uint64_t bytes, char *buf, size_t size);
/* The human form of Ignite's tables: "512.0 MB", "4.0 GB", "1.5 KB", "100 B"
 * (size_format_human of util). */
void api_size_format_human(uint64_t bytes, char *buf, size_t size);

/*
 * The time cells that `ps`, `image ls`, `kernel ls` and the dashboard show,
 * so that they all say the same. api_age_format: the CREATED cell, "5m ago"
 * (time_format_ago plus " ago"), "-" for API_TIME_NONE or no time.
 * api_vm_status_format: the STATUS cell of a VM, "Up 5m" for a Running VM
 * whose VMM started at `started` (unix seconds, 0 for none), as Ignite and
 * Docker print it; else the state itself ("-" for none). buf of 48 bytes
 * holds either.
 */
void api_age_format(int64_t t, int64_t now, char *buf, size_t size);
void api_vm_status_format(enum api_vm_state state, int64_t started, int64_t now, char *buf,
                          size_t size);

/*
 * Port mappings: "HOST:VM" (Ignite) and Docker's "[IP:]HOST:VM[/tcp|udp]"
 * (IPv6 addresses in brackets). Ports 1..65535. Fills *ret (caller releases
 * with api_port_release): protocol is NULL for tcp (the default, as decoding
 * gives it) or "udp"; bind_address is NULL when no address was given.
 * -EINVAL with a message in err naming the input.
 */
int api_port_parse(const char *s, struct api_port *ret, struct error *err) WUR;
void api_port_release(struct api_port *p);
/* "0.0.0.0:80->8080/tcp" as Docker and Ignite print it. */
void api_port_format(const struct api_port *p, char *buf, size_t size);

/* Writes s into buf as a double-quoted string for messages: control
 * characters and quotes escaped, cut at 80 characters with "...". NULL
 * gives `""`. buf should hold at least 128 bytes. Returns buf. */
const char *api_quote(const char *s, char *buf, size_t size);
#define API_QUOTE_MAX 400

/* True if s is a DNS-1123 label: 1..63 of [a-z0-9-], alnum at both ends. */
bool api_name_is_valid(const char *s);
/*
 * True if s is an OCI image reference by the distribution grammar:
 * [domain[:port]/]path[:tag][@algorithm:hex], path components of
 * [a-z0-9] joined by `.`, `_`, `__` or dashes, the name at most 255
 * characters, a tag of at most 128 ("weaveworks/ignite-ubuntu:latest",
 * "registry:5000/a/b@sha256:..."). Image and Kernel names are references.
 */
bool api_ref_is_valid(const char *s);

/* ---- documents --------------------------------------------------------- */

enum api_format { API_FORMAT_JSON, API_FORMAT_YAML };

/* Object <-> jansson tree, with the seed's field names. NULL on OOM. */
json_t *api_object_to_json(const struct api_object *obj);
/*
 * Decodes one document (kind, apiVersion, metadata, spec, status). Unknown
 * fields and wrong types are errors naming the path ("spec.cpus: expected a
 * number, got \"two\""). Does not apply defaults or validate.
 */
int api_object_from_json(const json_t *doc, struct api_object **ret, struct error *err) WUR;

/*
 * Parses a file's contents: JSON (one document, or an array or `kind: List`
 * of them) or YAML (one or more documents separated by ---, each a document
 * or a List). The format is detected from the content. name is what errors
 * call the input ("vm.yaml", "<stdin>"); syntax errors say
 * "vm.yaml:3:7: ...". On success *ret_objs holds *ret_n objects (caller frees
 * with api_objects_free); an empty stream yields 0 objects. Objects are
 * decoded only: the caller applies defaults and validates. Decoding errors
 * say "vm.yaml: document 2: spec.cpus: ..." (List items: "items[3].spec...").
 */
int api_docs_parse(const char *data, size_t len, const char *name, struct api_object ***ret_objs,
                   size_t *ret_n, struct error *err) WUR;

/*
 * The documents of a file read one object at a time, for inputs too large to
 * hold: the file descriptor is read in blocks as the parser needs bytes
 * (never more than a block past the document being read), so memory does
 * not grow with the number of documents. Formats, limits (API_DOCS_MAX
 * objects, API_INPUT_MAX bytes), decoding and messages are api_docs_parse's.
 * fd stays the caller's; name is copied. Caller frees with
 * api_doc_reader_free.
 */
typedef struct api_doc_reader api_doc_reader;
int api_doc_reader_new(int fd, const char *name, api_doc_reader **ret, struct error *err) WUR;
/*
 * The next object: 0 and *ret (caller frees), or 0 and *ret NULL at the
 * end. On failure err names the input and, past a syntax error, the
 * document; the reader then only reports the end.
 */
int api_doc_reader_next(api_doc_reader *r, struct api_object **ret, struct error *err) WUR;
/* The number of the document (from 1, as messages count them, empty YAML
 * documents included) the last object came from; a List's items share it. */
size_t api_doc_reader_document(const api_doc_reader *r);
void api_doc_reader_free(api_doc_reader *r);

/*
 * Writes objects. JSON: one object alone, several as a `kind: List` with
 * `items` (as kubectl and Ignite do); always_list forces the List form.
 * YAML: one document per object, separated by "---". Output ends with a
 * newline. Returns 0 or -ENOMEM.
 */
int api_docs_write(struct api_object *const *objs, size_t n, enum api_format format,
                   bool always_list, struct strbuf *out) WUR;

/* YAML <-> jansson, used by the document functions and by `hearth sql -o yaml`. */
/* Parses a YAML stream into an array of documents (a json_t array).
 * Scalars are typed as YAML 1.2 core schema does (null, bool, int, float,
 * string; quoted scalars are strings). */
int api_yaml_load(const char *data, size_t len, const char *name, json_t **ret_docs,
                  struct error *err) WUR;
/* Emits one value as a YAML document (block style), appending to out. */
int api_yaml_dump(const json_t *doc, struct strbuf *out) WUR;

#endif
