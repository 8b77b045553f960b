/*
 * Validation of a decoded (and defaulted) object. Every check reports the
 * first problem with the field path and the bad value, so that a user can
 * find it in the document: `spec.cpus: 65 is out of range (1-64)`.
 *
 * Ranges are hearth's: cpus 1..64, memory at least 16MB, diskSize at least
 * 1MB, ports 1..65535, pool allocation sizes as dm-thin takes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api/api_priv.h"

#define CPUS_MAX 64
#define MEMORY_MIN (16ull << 20)
#define DISK_MIN (1ull << 20)

static const char *const network_modes[] = {"cni", "docker-bridge", "bridge", "user", "none"};
static const char *const device_types[] = {"Image", "Resize", "Kernel", "VM"};

static bool in_set(const char *s, const char *const *set, size_t n) {
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, set[i]) == 0)
            return true;
    }
    return false;
}

/* Sets err to `PATH: "VALUE" MESSAGE` and returns -EINVAL. */
PRINTF(4, 5)
static int bad(struct error *err, const char *path, const char *value, const char *fmt, ...) {
    char q[API_QUOTE_MAX];
    char msg[ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return error_set(err, -EINVAL, "%s: %s %s", path, api_quote(value, q, sizeof(q)), msg);
}

static int bad_size(struct error *err, const char *path, uint64_t v, const char *fmt, ...)
    PRINTF(4, 5);
static int bad_size(struct error *err, const char *path, uint64_t v, const char *fmt, ...) {
    char sz[32];
    char msg[ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_size_format(v, sz, sizeof(sz));
    return error_set(err, -EINVAL, "%s: \"%s\" %s", path, sz, msg);
}

static int check_string(const char *path, const char *s, bool required, struct error *err) {
    if (!s || !*s) {
        if (required)
            return error_set(err, -EINVAL, "%s: required", path);
        return 0;
    }
    if (strnlen(s, API_STRING_MAX + 1) > API_STRING_MAX)
        return bad(err, path, s, "is longer than %d characters", API_STRING_MAX);
    return 0;
}

#define NAME_RULE                                                                                  \
    "(DNS-1123 label: at most 63 characters of a-z, 0-9 and '-', starting and ending with a "      \
    "letter or digit)"
#define REF_RULE "(expected an OCI image reference such as \"weaveworks/ignite-ubuntu:latest\")"

static int check_kv(const char *what, const struct api_kv *kv, size_t n, bool labels,
                    struct error *err) {
    char path[300];
    if (n > API_LIST_MAX)
        return error_set(err, -EINVAL, "metadata.%s: more than %d entries", what, API_LIST_MAX);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "metadata.%s", what);
        if (!api_label_key_is_valid(kv[i].key))
            return bad(err, path, kv[i].key,
                       "is not a valid key ([prefix/]name: the name at most 63 characters of "
                       "A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or "
                       "digit; the prefix a DNS subdomain)");
        for (size_t j = 0; j < i; j++) {
            if (strcmp(kv[i].key, kv[j].key) == 0)
                return bad(err, path, kv[i].key, "is a duplicate key");
        }
        snprintf(path, sizeof(path), "metadata.%s.%s", what, kv[i].key);
        if (labels) {
            if (!api_label_value_is_valid(kv[i].value))
                return bad(err, path, kv[i].value,
                           "is not a valid label value (at most 63 characters of A-Z, a-z, "
                           "0-9, '-', '_' and '.', starting and ending with a letter or digit)");
        } else {
            int r = check_string(path, kv[i].value, false, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int check_meta(const struct api_object *obj, struct error *err) {
    const struct api_meta *m = &obj->meta;
    if (obj->kind == API_KIND_VM) {
        /* A VM may come without a name: the engine picks one before storing it. */
        if (m->name && !api_name_is_valid(m->name))
            return bad(err, "metadata.name", m->name, "is not a valid name " NAME_RULE);
    } else {
        if (!m->name || !*m->name)
            return error_set(err, -EINVAL, "metadata.name: required");
        if (!api_ref_is_valid(m->name))
            return bad(err, "metadata.name", m->name, "is not a valid %s name " REF_RULE,
                       api_kind_name(obj->kind));
    }
    if (m->uid && *m->uid && !id_is_valid(m->uid))
        return bad(err, "metadata.uid", m->uid, "is not a valid uid (16 lowercase hex characters)");
    int r = check_kv("labels", m->labels, m->n_labels, true, err);
    if (r < 0)
        return r;
    return check_kv("annotations", m->annotations, m->n_annotations, false, err);
}

static int check_claim(const char *path, const struct api_oci_claim *c, struct error *err) {
    char p[128];
    snprintf(p, sizeof(p), "%s.type", path);
    if (!c->type || strcmp(c->type, "Docker") != 0)
        return bad(err, p, c->type, "is not a supported claim type (Docker)");
    snprintf(p, sizeof(p), "%s.ref", path);
    if (!c->ref || !*c->ref)
        return error_set(err, -EINVAL, "%s: required", p);
    if (!api_ref_is_valid(c->ref))
        return bad(err, p, c->ref, "is not a valid reference " REF_RULE);
    return 0;
}

static int check_source(const char *path, const struct api_oci_source *s, struct error *err) {
    char p[128];
    snprintf(p, sizeof(p), "%s.id", path);
    int r = check_string(p, s->id, false, err);
    if (r < 0)
        return r;
    if (s->n_repo_digests > API_LIST_MAX)
        return error_set(err, -EINVAL, "%s.repoDigests: more than %d entries", path, API_LIST_MAX);
    for (size_t i = 0; i < s->n_repo_digests; i++) {
        snprintf(p, sizeof(p), "%s.repoDigests[%zu]", path, i);
        if (!api_ref_is_valid(s->repo_digests[i]) || !strchr(s->repo_digests[i], '@'))
            return bad(err, p, s->repo_digests[i],
                       "is not a valid repo digest (expected NAME@ALGORITHM:HEX)");
    }
    return 0;
}

static int check_vm_source(const char *path, const struct api_vm_image_source *s,
                           struct error *err) {
    int r = check_source(path, &s->source, err);
    if (r < 0)
        return r;
    if (s->internal_uid && *s->internal_uid && !id_is_valid(s->internal_uid)) {
        char p[128];
        snprintf(p, sizeof(p), "%s.internalUID", path);
        return bad(err, p, s->internal_uid, "is not a valid uid (16 lowercase hex characters)");
    }
    return 0;
}

/* A path on the host that hearth makes or removes files at (path_is_host_clean). */
#define HOST_PATH_RULE "is not an absolute path without '.' or '..' components"

static int check_ports(const struct api_vm *vm, struct error *err) {
    char p[64];
    if (vm->n_ports > API_LIST_MAX)
        return error_set(err, -EINVAL, "spec.ports: more than %d entries", API_LIST_MAX);
    for (size_t i = 0; i < vm->n_ports; i++) {
        const struct api_port *port = &vm->ports[i];
        if (port->host_port < 1 || port->host_port > 65535)
            return error_set(err, -EINVAL,
                             "spec.ports[%zu].hostPort: %" PRIu64 " is out of range (1-65535)", i,
                             port->host_port);
        if (port->vm_port < 1 || port->vm_port > 65535)
            return error_set(err, -EINVAL,
                             "spec.ports[%zu].vmPort: %" PRIu64 " is out of range (1-65535)", i,
                             port->vm_port);
        if (port->protocol && strcmp(port->protocol, "tcp") != 0 &&
            strcmp(port->protocol, "udp") != 0) {
            snprintf(p, sizeof(p), "spec.ports[%zu].protocol", i);
            return bad(err, p, port->protocol, "is not a protocol (tcp, udp)");
        }
        if (port->bind_address && !api_ip_is_valid(port->bind_address)) {
            snprintf(p, sizeof(p), "spec.ports[%zu].bindAddress", i);
            return bad(err, p, port->bind_address, "is not an IP address");
        }
        const char *proto = port->protocol ? port->protocol : "tcp";
        for (size_t j = 0; j < i; j++) {
            const char *other = vm->ports[j].protocol ? vm->ports[j].protocol : "tcp";
            if (vm->ports[j].host_port == port->host_port && strcmp(proto, other) == 0)
                return error_set(err, -EINVAL,
                                 "spec.ports[%zu].hostPort: %" PRIu64
                                 "/%s is already mapped by spec.ports[%zu]",
                                 i, port->host_port, proto, j);
        }
    }
    return 0;
}

static int check_vm(const struct api_vm *vm, struct error *err) {
    int r;
    char p[96];
    if (!vm->image_claim)
        return error_set(err, -EINVAL, "spec.image.ociClaim: required (the image to run)");
    if ((r = check_claim("spec.image.ociClaim", vm->image_claim, err)) < 0)
        return r;
    if (vm->kernel_claim && (r = check_claim("spec.kernel.ociClaim", vm->kernel_claim, err)) < 0)
        return r;
    if ((r = check_string("spec.kernel.cmdLine", vm->cmdline, false, err)) < 0)
        return r;
    if (vm->cpus < 1 || vm->cpus > CPUS_MAX)
        return error_set(err, -EINVAL, "spec.cpus: %" PRIu64 " is out of range (1-%d)", vm->cpus,
                         CPUS_MAX);
    if (vm->memory < MEMORY_MIN)
        return bad_size(err, "spec.memory", vm->memory, "is below the minimum of 16MB");
    if (vm->disk_size < DISK_MIN)
        return bad_size(err, "spec.diskSize", vm->disk_size, "is below the minimum of 1MB");
    if (!in_set(vm->network_mode, network_modes, ARRAY_SIZE(network_modes)))
        return bad(err, "spec.networkMode", vm->network_mode,
                   "is not a network mode (cni, docker-bridge, bridge, user, none)");
    if ((r = check_ports(vm, err)) < 0)
        return r;
    if (vm->n_copy_files > API_LIST_MAX)
        return error_set(err, -EINVAL, "spec.copyFiles: more than %d entries", API_LIST_MAX);
    for (size_t i = 0; i < vm->n_copy_files; i++) {
        snprintf(p, sizeof(p), "spec.copyFiles[%zu].hostPath", i);
        if ((r = check_string(p, vm->copy_files[i].host_path, true, err)) < 0)
            return r;
        if (!path_is_host_clean(vm->copy_files[i].host_path))
            return bad(err, p, vm->copy_files[i].host_path, HOST_PATH_RULE);
        snprintf(p, sizeof(p), "spec.copyFiles[%zu].vmPath", i);
        if ((r = check_string(p, vm->copy_files[i].vm_path, true, err)) < 0)
            return r;
        if (!path_is_clean(vm->copy_files[i].vm_path))
            return bad(err, p, vm->copy_files[i].vm_path,
                       "is not an absolute path without '.' or '..' components");
    }
    if ((r = check_string("spec.ssh.publicKey", vm->ssh_public_key, false, err)) < 0)
        return r;
    if (!api_vm_state_name(vm->state))
        return bad(err, "status.state", NULL, "is not a state (" API_VM_STATES_LIST ")");
    if (vm->n_ip_addresses > API_LIST_MAX)
        return error_set(err, -EINVAL, "status.ipAddresses: more than %d entries", API_LIST_MAX);
    for (size_t i = 0; i < vm->n_ip_addresses; i++) {
        if (!api_ip_is_valid(vm->ip_addresses[i])) {
            snprintf(p, sizeof(p), "status.ipAddresses[%zu]", i);
            return bad(err, p, vm->ip_addresses[i], "is not an IP address");
        }
    }
    if ((r = check_vm_source("status.image", &vm->status_image, err)) < 0)
        return r;
    return check_vm_source("status.kernel", &vm->status_kernel, err);
}

static int check_pool(const struct api_pool *pool, struct error *err) {
    uint64_t a = pool->allocation_size;
    if (a < (64ull << 10) || a > (1ull << 30) || a % (64ull << 10) != 0)
        return bad_size(err, "spec.allocationSize", a,
                        "is not a multiple of 64KB between 64KB and 1GB");
    if (pool->data_size < a)
        return bad_size(err, "spec.dataSize", pool->data_size,
                        "is smaller than the allocation size");
    if (pool->metadata_size < (2ull << 20) || pool->metadata_size > (16ull << 30))
        return bad_size(err, "spec.metadataSize", pool->metadata_size,
                        "is out of range (2MB-16GB)");
    if (pool->metadata_path && *pool->metadata_path && !path_is_host_clean(pool->metadata_path))
        return bad(err, "spec.metadataPath", pool->metadata_path, HOST_PATH_RULE);
    if (pool->data_path && *pool->data_path && !path_is_host_clean(pool->data_path))
        return bad(err, "spec.dataPath", pool->data_path, HOST_PATH_RULE);
    if (pool->n_devices > API_POOL_DEVICES_MAX)
        return error_set(err, -EINVAL, "status.devices: more than %u entries",
                         API_POOL_DEVICES_MAX);
    char p[96];
    for (size_t i = 0; i < pool->n_devices; i++) {
        const struct api_pool_device *d = &pool->devices[i];
        if (!d->present)
            continue;
        if (!in_set(d->type, device_types, ARRAY_SIZE(device_types))) {
            snprintf(p, sizeof(p), "status.devices[%zu].type", i);
            return bad(err, p, d->type, "is not a device type (Image, Resize, Kernel, VM)");
        }
        if (d->size == 0)
            return error_set(err, -EINVAL,
                             "status.devices[%zu].size: \"0B\" is not a size a "
                             "device can have",
                             i);
        if (d->parent != API_POOL_PARENT_NONE) {
            if (d->parent < 0 || (uint64_t)d->parent >= pool->n_devices || (size_t)d->parent == i ||
                !pool->devices[d->parent].present)
                return error_set(err, -EINVAL,
                                 "status.devices[%zu].parent: %" PRId64
                                 " is not another device of the pool",
                                 i, d->parent);
        }
        snprintf(p, sizeof(p), "status.devices[%zu].metadataPath", i);
        int r = check_string(p, d->metadata_path, false, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int api_object_validate(const struct api_object *obj, struct error *err) {
    int r;
    if (obj->kind != API_KIND_POOL && (r = check_meta(obj, err)) < 0)
        return r;
    switch (obj->kind) {
    case API_KIND_VM:
        return check_vm(&obj->u.vm, err);
    case API_KIND_IMAGE:
        if ((r = check_claim("spec.ociClaim", &obj->u.image.claim, err)) < 0)
            return r;
        return check_source("status.ociSource", &obj->u.image.source, err);
    case API_KIND_KERNEL:
        if ((r = check_string("spec.version", obj->u.kernel.version, false, err)) < 0)
            return r;
        if ((r = check_claim("spec.ociClaim", &obj->u.kernel.claim, err)) < 0)
            return r;
        return check_source("status.ociSource", &obj->u.kernel.source, err);
    case API_KIND_POOL:
        return check_pool(&obj->u.pool, err);
    case API_KIND_COUNT:
        break;
    }
    return error_set(err, -EINVAL, "kind: unknown kind %d", (int)obj->kind);
}
